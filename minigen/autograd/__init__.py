"""Reverse-mode autograd: :class:`Tensor`, ops (:mod:`.functional`, alias ``F``), ``nn``.

>>> from minigen.autograd import Tensor, F, no_grad
>>> x = Tensor([[1.0, 2.0]], requires_grad=True)
>>> F.sum(F.tanh(x) * 2.0).backward(); x.grad.shape
(1, 2)

``minigen.autograd.nn`` (layers as modules) is imported with the package, so
``import minigen.autograd as ag; ag.nn.Linear`` works as ``from minigen.autograd import nn``.
"""

from __future__ import annotations

from . import functional, nn
from . import functional as F
from .check import check_grads
from .custom import custom_op
from .tensor import (
    Tensor,
    as_tensor,
    enable_grad,
    is_grad_enabled,
    make_tensor,
    no_grad,
    unbroadcast,
)

__all__ = [
    "Tensor",
    "as_tensor",
    "custom_op",
    "enable_grad",
    "is_grad_enabled",
    "make_tensor",
    "no_grad",
    "unbroadcast",
    "functional",
    "F",
    "nn",
    "check_grads",
]
