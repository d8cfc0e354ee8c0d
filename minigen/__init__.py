"""minigen: deep generative models from scratch, NumPy first, with Numba and CUDA kernels.

Importing minigen needs only NumPy; Numba, CuPy, SciPy and matplotlib are
imported lazily, when a backend or a feature that needs them is used.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .backend import (  # noqa: E402
    Backend,
    backend_info,
    get_backend,
    set_backend,
    to_numpy,
    use_backend,
)
from .exceptions import CheckpointError, NotFittedError, TrainingDiverged  # noqa: E402
from .random import check_random_state  # noqa: E402

__all__ = [
    "__version__",
    "Backend",
    "backend_info",
    "get_backend",
    "set_backend",
    "use_backend",
    "to_numpy",
    "check_random_state",
    "NotFittedError",
    "TrainingDiverged",
    "CheckpointError",
]
