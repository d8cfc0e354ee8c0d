r"""Glow (Kingma & Dhariwal 2018): steps of ActNorm -> invertible 1x1 conv -> affine coupling.

**Image mode** (multi-scale): per scale a squeeze ``(C, H, W) -> (4C, H/2, W/2)``,
``n_steps`` flow steps, then half the channels are factored out (not after the last
scale). For 8x8 digits with ``n_scales=2``: 8x8x1 -> 4x4x4 (K steps, factor out 2) ->
2x2x8 (K steps). Each step:

* ActNorm (data-dependent init on the first batch, flag kept in checkpoints);
* LU-parametrized invertible 1x1 convolution, :math:`\log|\det W| = \sum \log|s|`;
* affine coupling on the channel halves, :math:`s = b\tanh(\tilde s/b)`.

**Vector mode** (the "Glow-style 2-D flow" for toys): the same steps on ``(N, D)``,
the 1x1 convolution becoming a learned LU-parametrized ``D x D`` linear map.

**Initial linear maps** (``linear_init``): ``"rotation"`` (the paper's random
rotation) or ``"identity"``. The coupling masks alternate halves, so with identity maps
consecutive couplings split along perpendicular axes, as in RealNVP; with random
rotations in 2-D the axes of consecutive couplings make random angles, and the learned
maps move little from their start (condition numbers <= 1.22 after 7,840 steps on the
8-Gaussian ring). Measured on ring8 (12 steps, 40 epochs), the start made no reliable
difference: test gap +0.121 / +0.104 (rotation, seeds 0 / 1) vs +0.094 / +0.108
(identity); README, "Flows".

The latent is a standard Gaussian (no learned prior for the factored-out parts).

References: Kingma & Dhariwal (2018) "Glow: Generative Flow with Invertible 1x1
Convolutions", NeurIPS.
"""

from __future__ import annotations

import numpy as np

from ..._validation import check_choice, check_positive_int
from ...base import register_model
from ...params import Param, one_of, positive_int
from ...random import check_random_state
from .actnorm import ActNorm
from .base import Compose
from .coupling import AffineCoupling, ConvConditioner, MLPConditioner, channel_mask, half_mask
from .invconv import InvertibleConv1x1
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

__all__ = ["Glow"]


@register_model("glow")
class Glow(ChoosesMode, FlowModel):
    """Glow flow for images or vectors (see the module docstring and :class:`FlowModel`).

    """

    hyperparameters = {
        "n_steps": Param(4, "flow steps per scale (K), or in total for vectors", positive_int),
        "hidden": HIDDEN,
        "n_hidden": N_HIDDEN,
        "n_scales": N_SCALES,
        "scale_bound": SCALE_BOUND,
        "mode": MODE,
        "linear_init": Param("rotation", "initial value of every LU linear map / 1x1 "
                             "convolution (module docstring)", one_of("rotation", "identity")),
        "activation": ACTIVATION,
        "n_bins": N_BINS,
        "dtype": FLOW_DTYPE,
    }

    def _step(self, c, spatial, h, i, rng):
        if spatial is None:
            mask = half_mask(c, i % 2 == 0)
            net = MLPConditioner(c, h, self.n_hidden, 2, self.activation, self.dtype_, rng)
        else:
            mask = channel_mask(c, *spatial, first=i % 2 == 0)
            net = ConvConditioner(c, h, self.n_hidden, 2, self.activation, self.dtype_, rng)
        linear = InvertibleConv1x1(c, self.dtype_, rng)  # draws its rotation either way
        if self.linear_init == "identity":
            linear.set_weight(np.eye(c))
        return [ActNorm(c, self.dtype_), linear, AffineCoupling(mask, net, self.scale_bound)]

    def _make_flow(self, event_shape, rng):
        rng = check_random_state(rng)
        check_choice(self.linear_init, "linear_init", ("rotation", "identity"))
        k = check_positive_int(self.n_steps, "n_steps")
        h = check_positive_int(self.hidden, "hidden")
        if len(event_shape) == 1:
            d = vector_size(event_shape)
            return Compose([t for i in range(k) for t in self._step(d, None, h, i, rng)])
        n_scales = check_positive_int(self.n_scales, "n_scales")
        c, hh, ww = event_shape
        levels = []
        for s in range(n_scales):
            if hh % 2 or ww % 2:
                raise ValueError(
                    f"n_scales={n_scales} needs height and width divisible by 2**{n_scales}; "
                    f"got {event_shape[1:]} at scale {s}")
            c, hh, ww = 4 * c, hh // 2, ww // 2
            layers = [Squeeze()]
            layers += [t for i in range(k) for t in self._step(c, (hh, ww), h, i, rng)]
            levels.append(Compose(layers))
            c = c // 2
        return MultiScale(levels, event_shape)
