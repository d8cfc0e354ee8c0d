"""Normalizing flows: transforms (coupling, ActNorm, 1x1 conv, squeeze, permutations,
multi-scale, masked autoregressive, spline; pre-processing), and the models ``nice``,
``realnvp``, ``glow``, ``maf``, ``iaf``, ``nsf`` and ``diag-gaussian``: each a transform
plus a base distribution (:class:`FlowModel`)."""

from __future__ import annotations

from .actnorm import ActNorm, DiagonalScaling
from .autoregressive import MaskedAutoregressive
from .base import Compose, Inverse, NonInvertibleError, Transform
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
from .maf import IAF, MAF  # noqa: E402
from .model import FlowModel  # noqa: E402
from .neural_coupling import Coupling
from .nice import NICE  # noqa: E402
from .nsf import NSF  # noqa: E402
from .permutation import Permutation, RandomPermutation, ReversePermutation
from .preprocess import Layout, Logit, Rescale, UniformDequantization
from .realnvp import RealNVP  # noqa: E402
from .squeeze import MultiScale, Squeeze, Unsqueeze
from .univariate import AffineUnivariate, SplineUnivariate

__all__ = [
    "Transform", "Compose", "Inverse", "NonInvertibleError",
    "Coupling", "MaskedAutoregressive", "AffineUnivariate", "SplineUnivariate",
    "Layout", "Rescale", "Logit", "UniformDequantization",
    "AdditiveCoupling", "AffineCoupling", "MLPConditioner", "ConvConditioner",
    "alternating_mask", "half_mask", "random_half_mask", "checkerboard_mask", "channel_mask",
    "ActNorm", "DiagonalScaling", "InvertibleConv1x1", "lu_factor",
    "Permutation", "ReversePermutation", "RandomPermutation",
    "Squeeze", "Unsqueeze", "MultiScale",
    "FlowModel", "NICE", "RealNVP", "Glow", "MAF", "IAF", "NSF", "DiagonalGaussian",
]  # fmt: skip
