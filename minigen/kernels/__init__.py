"""The four kernel families behind the backend switch.

Each public function validates its input once, then dispatches to the NumPy
reference (``numpy`` backend), the Numba kernels (``numba``) or the CUDA kernels
(``cupy``). See ``kernels/README.md`` for each kernel's contract.
"""

from __future__ import annotations

import importlib
import time

from .coupling import (  # noqa: E402, F401  (re-exported)
    actnorm,
    actnorm_backward,
    additive_coupling,
    additive_coupling_backward,
    affine_coupling,
    affine_coupling_backward,
    invconv1x1,
    invconv_logdet,
)
from .gibbs import RBMGibbsResult, bm_gibbs_sweep, rbm_gibbs  # noqa: E402, F401
from .langevin import (  # noqa: E402, F401
    MALAResult,
    langevin_run_gmm,
    langevin_run_quadratic,
    langevin_step,
    mala_step,
    preconditioned_langevin_step,
)
from .multinomial import categorical_from_logits, multinomial_threshold  # noqa: F401
from .philox import philox_normals, philox_raw, philox_uniforms  # noqa: F401

FAMILIES = ("philox", "multinomial", "gibbs", "langevin", "coupling")


def warm_up(verbose: bool = False) -> dict[str, float]:
    """Compile (or load from Numba's cache) every CPU kernel family that exists.

    Calls ``minigen.kernels.cpu.<family>.warm_up()`` for each family that defines it
    (each family's module runs its kernels once on tiny inputs there). Returns the
    seconds spent per family. Raises the reason when Numba is not installed.
    """
    from ..backend import _resolve

    _resolve("numba")  # raises with the reason and install hint if numba is unavailable
    spent = {}
    for family in FAMILIES:
        try:
            module = importlib.import_module(f"minigen.kernels.cpu.{family}")
        except ModuleNotFoundError as exc:
            if exc.name == f"minigen.kernels.cpu.{family}":
                continue
            raise
        if hasattr(module, "warm_up"):
            t0 = time.perf_counter()
            module.warm_up()
            spent[family] = time.perf_counter() - t0
            if verbose:
                print(f"  {family}: {spent[family]:.2f} s")
    return spent
