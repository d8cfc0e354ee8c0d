"""The five kernel families behind the backend switch.

Each public function makes O(1) checks (shapes, dtypes, contiguity, backend, scalar
arguments), then dispatches to the NumPy reference (``numpy`` backend), the Numba kernels
(``numba``) or the CUDA kernels (``cupy``). The values (NaN/inf, negative weights, zero or
overflowing rows, uniforms outside [0, 1)) are checked by the kernel in the loop that
reads them, which reports the first bad row / chain / element; only then does the wrapper
look at the data again, to raise the error naming the argument. See ``kernels/README.md``
for each kernel's contract.
"""

from __future__ import annotations

import importlib
import time

from ..backend import _resolve
from ._dispatch import implementation  # noqa: F401  (a backend's kernel without its wrapper)
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
from .spline import spline_coupling, spline_coupling_backward  # noqa: F401

FAMILIES = ("philox", "multinomial", "gibbs", "langevin", "coupling", "spline")

#: Numba kernels outside the six families, warmed up after them: the fused LSTM
#: backward step (autograd, ``numba`` backend) and the opt-in fused optimizer updates.
EXTRA_WARM_UP = {"lstm": "minigen.autograd._lstm_numba", "optim": "minigen._optim_numba"}


def warm_up(verbose: bool = False) -> dict[str, float]:
    """Compile (or load from Numba's cache) every Numba kernel of the library.

    Calls ``minigen.kernels.cpu.<family>.warm_up()`` for each family in :data:`FAMILIES`
    that defines it, then the ``warm_up()`` of each module in :data:`EXTRA_WARM_UP`
    (``lstm``, ``optim``). Each runs its kernels once on tiny inputs, in every dtype and
    argument type the library's hot paths pass, so later calls neither compile nor load.
    Returns the seconds spent per name (printed as it goes with ``verbose``). Raises the
    reason when Numba is not installed.
    """

    _resolve("numba")  # raises with the reason and install hint if numba is unavailable
    modules = {family: f"minigen.kernels.cpu.{family}" for family in FAMILIES}
    modules.update(EXTRA_WARM_UP)
    spent = {}
    for name, path in modules.items():
        try:
            module = importlib.import_module(path)
        except ModuleNotFoundError as exc:
            if exc.name == path:
                continue
            raise
        if hasattr(module, "warm_up"):
            t0 = time.perf_counter()
            module.warm_up()
            spent[name] = time.perf_counter() - t0
            if verbose:
                print(f"  {name}: {spent[name]:.2f} s")
    return spent
