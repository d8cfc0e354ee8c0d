"""The four kernel families behind the backend switch.

Each public function validates its input once, then dispatches to the NumPy
reference (``numpy`` backend), the Numba kernels (``numba``) or the CUDA kernels
(``cupy``). See ``kernels/README.md`` for each kernel's contract.
"""

from __future__ import annotations

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
