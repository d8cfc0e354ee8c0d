r"""RealNVP (Dinh, Sohl-Dickstein, Bengio 2017): affine couplings with bounded scales.

**Vector mode** (2-D toys, flattened images): ``n_couplings`` affine couplings with
MLP conditioners. Masks (``mask``): ``"alternating"`` (even/odd coordinates, the
paper's choice; on a flattened 8x8 image that is even/odd *columns*, the same two
halves for every coupling), or ``"random"``: coupling ``2i`` conditions on a random half
of the coordinates and coupling ``2i + 1`` on the complement, a fresh half for each
pair, so that over the stack most pairs of coordinates meet on opposite sides of some
coupling. The random halves are a fixed function of ``(D, i)`` (seeded, independent of
``random_state``), so a checkpoint rebuilds the same masks.

**Image mode** (``(n, H, W)`` or ``(n, H, W, C)`` input, multi-scale): per scale,
``n_couplings`` checkerboard couplings (alternating parity), a squeeze
``(C, H, W) -> (4C, H/2, W/2)``, ``n_couplings`` channel couplings (alternating
halves), then half the channels are factored out; the last scale has checkerboard
couplings only. For 8x8 digits with ``n_scales=2``: 8x8x1 -> 4x4x4 -> factor out 2 ->
4x4x2 (checkerboard). Each coupling: :math:`y = x e^s + t`,
:math:`s = (1 - m)\, b \tanh(\tilde s / b)` (``scale_bound`` ``b``).

References: Dinh, Sohl-Dickstein, Bengio (2017) "Density estimation using Real NVP",
ICLR.
"""

from __future__ import annotations

from ..._validation import check_choice, check_positive_int
from ...base import register_model
from ...params import Param, one_of, positive_int
from ...random import check_random_state
from .base import Compose
from .coupling import (
    AffineCoupling,
    ConvConditioner,
    MLPConditioner,
    alternating_mask,
    channel_mask,
    checkerboard_mask,
    half_mask,
    random_half_mask,
)
from .model import (
    ACTIVATION,
    FLOW_DTYPE,
    HIDDEN,
    MODE,
    N_BINS,
    N_HIDDEN,
    N_SCALES,
    SCALE_BOUND,
    ChoosesMode,
    FlowModel,
    vector_size,
)
from .squeeze import MultiScale, Squeeze

__all__ = ["RealNVP"]


@register_model("realnvp")
class RealNVP(ChoosesMode, FlowModel):
    """RealNVP flow for vectors or images (see the module docstring and :class:`FlowModel`).

    """

    hyperparameters = {
        "n_couplings": Param(6, "coupling layers (vector mode), or per block (image mode)",
                             positive_int),
        "hidden": HIDDEN,
        "n_hidden": N_HIDDEN,
        "scale_bound": SCALE_BOUND,
        "mode": MODE,
        "n_scales": N_SCALES,
        "mask": Param("alternating", "vector mode: coupling masks (see the module docstring); "
                      "ignored in image mode", one_of("alternating", "random")),
        "logit": Param(None, "discrete data only: None feeds the flow y = v/K - 1/2; a float "
                       "alpha in [0, 0.5) feeds it y = logit(alpha + (1 - 2 alpha) v/K) (the "
                       "RealNVP paper's pre-processing, its log-det in every likelihood)",
                       kind="None | float in [0, 0.5)"),
        "activation": ACTIVATION,
        "n_bins": N_BINS,
        "dtype": FLOW_DTYPE,
    }

    def _make_flow(self, event_shape, rng):
        rng = check_random_state(rng)
        k = check_positive_int(self.n_couplings, "n_couplings")
        h = check_positive_int(self.hidden, "hidden")
        if len(event_shape) == 1:
            d = vector_size(event_shape)
            check_choice(self.mask, "mask", ("alternating", "random"))
            layers = []
            for i in range(k):
                if d == 2:
                    mask = half_mask(d, i % 2 == 0)
                elif self.mask == "random":
                    mask = random_half_mask(d, i // 2)
                    mask = mask if i % 2 == 0 else 1.0 - mask
                else:
                    mask = alternating_mask(d, i % 2)
                net = MLPConditioner(d, h, self.n_hidden, 2, self.activation, self.dtype_, rng)
                layers.append(AffineCoupling(mask, net, self.scale_bound))
            return Compose(layers)
        return MultiScale(self._image_levels(event_shape, k, h, rng), event_shape)

    def _coupling(self, mask, c, h, rng):
        net = ConvConditioner(c, h, self.n_hidden, 2, self.activation, self.dtype_, rng)
        return AffineCoupling(mask, net, self.scale_bound)

    def _image_levels(self, shape, k, h, rng):
        n_scales = check_positive_int(self.n_scales, "n_scales")
        c, hh, ww = shape
        levels = []
        for s in range(n_scales):
            last = s == n_scales - 1
            layers = [self._coupling(checkerboard_mask(c, hh, ww, i % 2), c, h, rng)
                      for i in range(k)]
            if not last:
                if hh % 2 or ww % 2:
                    raise ValueError(
                        f"n_scales={n_scales} needs height and width divisible by "
                        f"2**{n_scales - 1}; got {shape[1:]} at scale {s}")
                layers.append(Squeeze())
                c, hh, ww = 4 * c, hh // 2, ww // 2
                layers += [self._coupling(channel_mask(c, hh, ww, i % 2 == 0), c, h, rng)
                           for i in range(k)]
                c = c // 2
            levels.append(Compose(layers))
        return levels
