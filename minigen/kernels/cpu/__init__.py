"""Numba CPU kernels, one module per family (imported lazily by ``_dispatch``).

Importing this package sets ``OMP_WAIT_POLICY=PASSIVE`` unless the user set it (as the
``numba`` backend probe does): spinning OpenMP workers make every ``prange`` launch cost
milliseconds on a shared machine.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
