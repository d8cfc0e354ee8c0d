r"""MAF and IAF: an autoregressive model read as a flow, and its inverse.

**MADE -> MAF.** An autoregressive model with Gaussian conditionals,
:math:`p(x_i \mid x_{<i}) = \mathcal N(\mu_i(x_{<i}), \sigma_i(x_{<i})^2)`, with
:math:`(\mu_i, \log\sigma_i)` from one MADE, *is* a flow: :math:`z_i = (x_i - \mu_i)/\sigma_i`
is standard normal, and the change of variables gives back the chain rule,

.. math::

    \log p(x) = \sum_i \log \mathcal N(z_i; 0, 1) - \sum_i \log \sigma_i .

Density (x -> z) is one MADE pass; sampling (z -> x) is the autoregressive model's
ancestral sampling, ``D`` sequential passes. Stacking layers (orderings alternate,
``ordering="alternate"``, or fixed random ones) makes the conditionals non-Gaussian.
Here each layer is :math:`z = x e^{s} + t`, :math:`s = b \tanh(\tilde s / b)`: the same
map with :math:`\sigma = e^{-s}` bounded (``scale_bound`` ``b``), as the other affine flows.

**MAF -> IAF.** Use the same layer the other way round: the *sampling* map
:math:`x = \varepsilon e^{s(\varepsilon)} + t(\varepsilon)` with the parameters a
function of the noise :math:`\varepsilon` (known in full), so sampling is one pass, and
the density needs the sequential inverse. In code ``IAF`` is ``Inverse`` of each MAF layer
(:class:`~.base.Inverse`); nothing else changes. Kingma et al. use IAF as a fast
posterior (sampled, and scored only on its own samples, which is one pass too:
:meth:`~.model.FlowModel.sample` with ``return_log_prob=True``); trained by maximum
likelihood it pays ``D`` passes per density.

References: Germain et al. (2015) MADE; Papamakarios, Pavlakou, Murray (2017) "Masked
Autoregressive Flow for Density Estimation"; Kingma, Salimans, Jozefowicz, Chen,
Sutskever, Welling (2016) "Improved Variational Inference with Inverse Autoregressive
Flow".
"""

from __future__ import annotations

from ..._validation import check_choice, check_positive_int
from ...base import register_model
from ...params import Param, one_of, positive_int
from ...random import check_random_state
from .autoregressive import MaskedAutoregressive, layer_ordering
from .base import Compose, Inverse
from .model import ACTIVATION, FLOW_DTYPE, HIDDEN, N_BINS, N_HIDDEN, SCALE_BOUND, FlowModel
from .univariate import AffineUnivariate

__all__ = ["MAF", "IAF", "N_LAYERS", "AR_ORDERING"]

N_LAYERS = Param(5, "flow layers (each with its own conditioner)", positive_int)
AR_ORDERING = Param("alternate", "autoregressive orderings of the layers: 'alternate' "
                    "(natural, reversed, ...) or 'random' (fixed, seeded by the layer)",
                    one_of("alternate", "random"))


class _AutoregressiveFlow(FlowModel):
    """Shared by MAF and IAF: ``n_layers`` masked autoregressive affine layers."""

    data_kind = "continuous, or integer levels (dequantized)"
    supports_images = False

    hyperparameters = {
        "n_layers": N_LAYERS,
        "hidden": HIDDEN,
        "n_hidden": N_HIDDEN,
        "scale_bound": SCALE_BOUND,
        "ordering": AR_ORDERING,
        "activation": ACTIVATION,
        "n_bins": N_BINS,
        "dtype": FLOW_DTYPE,
    }

    def _layer(self, d, i, rng):
        hidden = [check_positive_int(self.hidden, "hidden")] * check_positive_int(
            self.n_hidden, "n_hidden")
        return MaskedAutoregressive(d, AffineUnivariate(self.scale_bound), hidden,
                                    layer_ordering(d, i, self.ordering), self.activation,
                                    self.dtype_, rng, index=i)

    def _make_flow(self, event_shape, rng):
        rng = check_random_state(rng)
        check_choice(self.ordering, "ordering", ("alternate", "random"))
        (d,) = event_shape
        k = check_positive_int(self.n_layers, "n_layers")
        return Compose([self._wrap(self._layer(d, i, rng)) for i in range(k)])

    def _wrap(self, layer):
        return layer


@register_model("maf")
class MAF(_AutoregressiveFlow):
    r"""Masked autoregressive flow (module docstring): density in one pass per layer,
    sampling ``D`` sequential passes per layer.

    """


@register_model("iaf")
class IAF(_AutoregressiveFlow):
    r"""Inverse autoregressive flow (module docstring): sampling in one pass per layer,
    density ``D`` sequential passes per layer.

    """

    def _wrap(self, layer):
        return Inverse(layer)
