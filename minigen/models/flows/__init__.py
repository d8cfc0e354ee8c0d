"""Normalizing flows: transforms (coupling, ActNorm, 1x1 conv, squeeze, permutations,
multi-scale) and the models ``nice``, ``realnvp`` and ``glow``."""

from __future__ import annotations

from .actnorm import ActNorm, DiagonalScaling
from .base import Compose, NonInvertibleError, Transform
from .coupling import (
    AdditiveCoupling,
    AffineCoupling,
    ConvConditioner,
    MLPConditioner,
    alternating_mask,
    channel_mask,
    checkerboard_mask,
    half_mask,
    random_half_mask,
)
from .gaussian import DiagonalGaussian  # noqa: E402
from .glow import Glow  # noqa: E402
from .invconv import InvertibleConv1x1, lu_factor
from .model import FlowModel  # noqa: E402
from .nice import NICE  # noqa: E402
from .permutation import Permutation, RandomPermutation, ReversePermutation
from .realnvp import RealNVP  # noqa: E402
from .squeeze import MultiScale, Squeeze, Unsqueeze

__all__ = [
    "Transform", "Compose", "NonInvertibleError",
    "AdditiveCoupling", "AffineCoupling", "MLPConditioner", "ConvConditioner",
    "alternating_mask", "half_mask", "random_half_mask", "checkerboard_mask", "channel_mask",
    "ActNorm", "DiagonalScaling", "InvertibleConv1x1", "lu_factor",
    "Permutation", "ReversePermutation", "RandomPermutation",
    "Squeeze", "Unsqueeze", "MultiScale",
    "FlowModel", "NICE", "RealNVP", "Glow", "DiagonalGaussian",
]  # fmt: skip
