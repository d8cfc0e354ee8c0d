r"""A diagonal Gaussian as the smallest flow: one per-coordinate affine map.

.. math::

    z = (x - \mu) \oslash \sigma \sim \mathcal N(0, I), \qquad
    \log q(x) = \sum_j \log\mathcal N(x_j; \mu_j, \sigma_j^2),

an :class:`~.actnorm.ActNorm` layer (``loc = -mu``, ``log_scale = -log sigma``), so the
model has everything a flow has: maximum likelihood (forward KL) through ``fit`` /
:func:`minigen.training.train`, and reparameterized sampling
(:meth:`~.model.FlowModel.sample_and_log_prob`) for reverse KL
(:func:`minigen.objectives.fit_reverse_kl`). ActNorm's data-dependent initialisation sets
``mu`` and ``sigma`` to the mean and standard deviation of the first batch, which is this
model's maximum-likelihood estimate on that batch; gradient steps finish the job on all
the data. It is the model of the worked comparison of the two KL directions
(``docs/kl_direction.md``).
"""

from __future__ import annotations

import numpy as np

from ...backend import to_numpy
from ...base import register_model
from ...params import Param
from .actnorm import ActNorm
from .base import Compose
from .model import FLOW_DTYPE, N_BINS, FlowModel

__all__ = ["DiagonalGaussian"]


@register_model("diag-gaussian")
class DiagonalGaussian(FlowModel):
    """Diagonal Gaussian :math:`\\mathcal N(\\mu, \\mathrm{diag}(\\sigma^2))` as a one-layer flow.

    Attributes
    ----------
    mean_, std_ : (D,) arrays, the fitted :math:`\\mu` and :math:`\\sigma` (flow space).
    """

    data_kind = "continuous"
    likelihood_kind = "exact"

    supports_images = False

    hyperparameters = {
        "n_bins": Param(N_BINS.default, N_BINS.doc + "; reverse KL needs continuous data "
                        "(None)", kind=N_BINS.kind),
        "dtype": FLOW_DTYPE,
    }

    def _make_flow(self, event_shape, rng):
        return Compose([ActNorm(event_shape[0], self.dtype_)])

    @property
    def mean_(self):
        return -to_numpy(self._actnorms()[0].loc.data).astype(np.float64)

    @property
    def std_(self):
        return np.exp(-to_numpy(self._actnorms()[0].log_scale.data).astype(np.float64))
