r"""Neural spline flow: rational-quadratic spline layers with coupling or MADE conditioners.

Each layer moves every transformed coordinate through its own monotonic
rational-quadratic spline with ``K`` bins (``spline_bins``) on :math:`[-B, B]`
(``tail_bound``), the identity outside; bin widths and heights come from a softmax and
the interior knot derivatives from a softplus of the conditioner's outputs
(:class:`~.univariate.SplineUnivariate`, the fused kernel of
:mod:`minigen.kernels.spline`). A spline can bend a coordinate into several modes where an
affine layer can only shift and scale it, which is what multi-modal data need.

``structure="coupling"`` (default): :class:`~.neural_coupling.Coupling` layers, half the
coordinates (alternating halves, as RealNVP's masks) condition splines on the other half,
and move through splines of their own with learned unconditional parameters
(``marginal=True``, as zuko's couplings); density and sampling are one pass each.
``structure="autoregressive"``: every coordinate gets a spline conditioned on the earlier
ones through a MADE (:class:`~.autoregressive.MaskedAutoregressive`, orderings as
``ordering``); density in one pass, sampling ``D`` passes (zuko's ``NSF`` default). Every
layer starts as the identity.

References: Durkan, Bekasov, Murray, Papamakarios (2019) "Neural Spline Flows",
NeurIPS; Gregory & Delbourgo (1982).
"""

from __future__ import annotations

from ..._validation import check_choice, check_positive_int
from ...base import register_model
from ...params import Param, one_of, positive_float, positive_int
from ...random import check_random_state
from .autoregressive import MaskedAutoregressive, layer_ordering
from .base import Compose
from .coupling import alternating_mask, half_mask
from .maf import AR_ORDERING, N_LAYERS
from .model import ACTIVATION, FLOW_DTYPE, HIDDEN, N_BINS, N_HIDDEN, FlowModel
from .neural_coupling import Coupling
from .univariate import SplineUnivariate

__all__ = ["NSF"]


@register_model("nsf")
class NSF(FlowModel):
    """Neural spline flow for vectors (module docstring and :class:`FlowModel`).

    """

    supports_images = False

    hyperparameters = {
        "n_layers": N_LAYERS,
        "structure": Param("coupling", "'coupling' (half the coordinates condition the "
                           "others; sampling in one pass) or 'autoregressive' (MADE; "
                           "sampling in D passes)", one_of("coupling", "autoregressive")),
        "spline_bins": Param(8, "K, bins of every spline", positive_int),
        "tail_bound": Param(5.0, "B: the splines act on [-B, B], the identity outside",
                            positive_float),
        "hidden": HIDDEN,
        "n_hidden": N_HIDDEN,
        "ordering": Param(AR_ORDERING.default, AR_ORDERING.doc + " (structure="
                          "'autoregressive' only)", AR_ORDERING.check),
        "activation": ACTIVATION,
        "n_bins": N_BINS,
        "dtype": FLOW_DTYPE,
    }

    def _make_flow(self, event_shape, rng):
        rng = check_random_state(rng)
        check_choice(self.structure, "structure", ("coupling", "autoregressive"))
        check_choice(self.ordering, "ordering", ("alternate", "random"))
        (d,) = event_shape
        k = check_positive_int(self.n_layers, "n_layers")
        h = check_positive_int(self.hidden, "hidden")
        n_hidden = check_positive_int(self.n_hidden, "n_hidden")
        spline = SplineUnivariate(check_positive_int(self.spline_bins, "spline_bins"),
                                  self.tail_bound)
        layers = []
        for i in range(k):
            if self.structure == "autoregressive":
                layers.append(MaskedAutoregressive(d, spline, [h] * n_hidden,
                                                   layer_ordering(d, i, self.ordering),
                                                   self.activation, self.dtype_, rng, index=i))
                continue
            if d < 2:
                raise ValueError(f"coupling layers need at least 2 dimensions, got "
                                 f"n_features={d}; use structure='autoregressive'")
            mask = half_mask(d, i % 2 == 0) if d == 2 else alternating_mask(d, i % 2)
            layers.append(Coupling(mask, spline, h, n_hidden, self.activation, self.dtype_,
                                   rng, marginal=True))
        return Compose(layers)
