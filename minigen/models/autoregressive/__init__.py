"""Autoregressive models: exact likelihoods by the chain rule along an ordering.

Registered names: ``"fvsbn"``, ``"made"``, ``"transformer"``, ``"made-gaussian"`` /
``"made-continuous"`` (continuous MADE), ``"pixelcnn"``, ``"gated-pixelcnn"``,
``"row-lstm"``, ``"diagonal-bilstm"``. The shared machinery for discrete data is
:class:`~minigen.models.autoregressive.base.AutoregressiveModel`.
"""

from .base import AutoregressiveModel, resolve_ordering
from .continuous import ContinuousMADE, GaussianMADE
from .fvsbn import FVSBN
from .made import MADE, MADENetwork, made_degrees, made_masks
from .pixelcnn import GatedPixelCNN, PixelCNN
from .pixelrnn import DiagonalBiLSTM, RowLSTM
from .transformer import PixelTransformer, TransformerNetwork

__all__ = [
    "AutoregressiveModel", "resolve_ordering", "FVSBN", "MADE", "MADENetwork", "made_degrees",
    "made_masks", "PixelTransformer", "TransformerNetwork", "ContinuousMADE", "GaussianMADE",
    "PixelCNN", "GatedPixelCNN", "RowLSTM", "DiagonalBiLSTM",
]
