r"""NICE (Dinh, Krueger, Bengio 2015): additive couplings and a final diagonal scaling.

.. math::

    z = e^{s} \odot (g_K \circ \dots \circ g_1)(y), \qquad
    g_k(y) = y + (1 - m_k) \odot t_k(m_k \odot y),

with alternating masks :math:`m_k` (even/odd coordinates). The couplings are
volume preserving, so :math:`\log|\det| = \sum_j s_j` comes from the scaling alone.
Vector model: images are flattened (``(n, H, W)`` in, samples back in that shape).

References: Dinh, Krueger, Bengio (2015) "NICE: Non-linear Independent Components
Estimation", arXiv:1410.8516.
"""

from __future__ import annotations

from ..._validation import check_positive_int
from ...base import register_model
from ...params import Param, positive_int
from ...random import check_random_state
from .actnorm import DiagonalScaling
from .base import Compose
from .coupling import AdditiveCoupling, MLPConditioner, alternating_mask, half_mask
from .model import ACTIVATION, FLOW_DTYPE, HIDDEN, N_BINS, N_HIDDEN, FlowModel, vector_size

__all__ = ["NICE"]


@register_model("nice")
class NICE(FlowModel):
    r"""NICE flow for vectors (see the module docstring and :class:`FlowModel`).

    """

    supports_images = False

    hyperparameters = {
        "n_couplings": Param(4, "additive coupling layers (masks alternate)", positive_int),
        "hidden": HIDDEN,
        "n_hidden": N_HIDDEN,
        "activation": ACTIVATION,
        "n_bins": N_BINS,
        "dtype": FLOW_DTYPE,
    }

    def _make_flow(self, event_shape, rng):
        rng = check_random_state(rng)
        d = vector_size(event_shape)
        k = check_positive_int(self.n_couplings, "n_couplings")
        h = check_positive_int(self.hidden, "hidden")
        layers = []
        for i in range(k):
            mask = alternating_mask(d, i % 2) if d > 2 else half_mask(d, i % 2 == 0)
            net = MLPConditioner(d, h, self.n_hidden, 1, self.activation, self.dtype_, rng)
            layers.append(AdditiveCoupling(mask, net))
        layers.append(DiagonalScaling(d, self.dtype_))
        return Compose(layers)
