"""Layers as :class:`Module` s with :class:`Parameter` s (``from minigen.autograd import nn``)."""

from __future__ import annotations

from .conv import Conv1d, Conv2d, MaskedConv2d, RowConv1d
from .layers import LSTM, CausalSelfAttention, Embedding, LayerNorm, LSTMCell
from .linear import Linear, MaskedLinear
from .module import (
    ELU,
    GELU,
    Dropout,
    Identity,
    LeakyReLU,
    Module,
    ModuleList,
    Parameter,
    ReLU,
    Sequential,
    Sigmoid,
    Softplus,
    Tanh,
)

__all__ = [
    "Module",
    "Parameter",
    "Sequential",
    "ModuleList",
    "Linear",
    "MaskedLinear",
    "Identity",
    "ReLU",
    "Tanh",
    "Sigmoid",
    "Softplus",
    "GELU",
    "LeakyReLU",
    "ELU",
    "Dropout",
    "Conv1d",
    "Conv2d",
    "MaskedConv2d",
    "RowConv1d",
    "LSTMCell",
    "LSTM",
    "CausalSelfAttention",
    "LayerNorm",
    "Embedding",
]
