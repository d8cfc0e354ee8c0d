"""Layers as :class:`Module` s with :class:`Parameter` s (``from minigen.autograd import nn``)."""

from __future__ import annotations

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
]
