"""Model families. Importing this package registers every model with the CLI.

Each family module registers its classes with :func:`minigen.base.register_model`;
add one import line here per family. The order is the registry's order (what
``minigen info`` and the tour list), so it is kept by hand, not sorted.
"""

# isort: off
from . import baseline  # noqa: E402,F401
from . import ebm  # noqa: E402,F401
from . import autoregressive  # noqa: E402,F401
from . import flows  # noqa: E402,F401
# isort: on
