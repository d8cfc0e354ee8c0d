"""All differentiable ops as functions (``import minigen.autograd.functional as F``).

This module also attaches the operators (``+ - * / ** @``, unary ``-``,
indexing, comparisons returning plain arrays) and the natural methods
(``sum``, ``mean``, ``max``, ``reshape``, ``transpose``, ``exp``, ...) to
:class:`~minigen.autograd.tensor.Tensor`.
"""

from __future__ import annotations

from .custom import custom_op
from .losses import binary_cross_entropy_with_logits, cross_entropy, mse_loss, nll_loss
from .ops_elementwise import (
    abs,
    add,
    astype,
    clip,
    div,
    elu,
    exp,
    gelu,
    leaky_relu,
    log,
    log1p,
    log_sigmoid,
    matmul,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    relu,
    sigmoid,
    softplus,
    sqrt,
    sub,
    tanh,
    where,
)
from .ops_nn import dropout, linear, masked_linear
from .ops_reduce import log_softmax, logsumexp, max, mean, min, softmax, sum, var
from .ops_shape import (
    broadcast_to,
    cat,
    concatenate,
    expand_dims,
    flatten,
    getitem,
    pad,
    permute,
    reshape,
    squeeze,
    stack,
    swapaxes,
    transpose,
)
from .tensor import Tensor, as_tensor, no_grad, unbroadcast

__all__ = [
    "Tensor", "as_tensor", "custom_op", "no_grad", "unbroadcast",
    "abs", "add", "astype", "clip", "div", "elu", "exp", "gelu", "leaky_relu", "log", "log1p",
    "log_sigmoid", "matmul", "maximum", "minimum", "mul", "neg", "pow", "relu", "sigmoid",
    "softplus", "sqrt", "sub", "tanh", "where",
    "logsumexp", "log_softmax", "max", "mean", "min", "softmax", "sum", "var",
    "broadcast_to", "cat", "concatenate", "expand_dims", "flatten", "getitem", "pad", "permute",
    "reshape", "squeeze", "stack", "swapaxes", "transpose",
    "dropout", "linear", "masked_linear",
    "binary_cross_entropy_with_logits", "cross_entropy", "mse_loss", "nll_loss",
]  # fmt: skip


def _data(x):
    return x.data if isinstance(x, Tensor) else x


def _attach() -> None:
    """The arithmetic operators of :class:`Tensor`, each with its reflected twin
    (``b.__radd__(a)`` is ``add(a, b)``)."""
    T = Tensor
    for name, op in (("add", add), ("sub", sub), ("mul", mul), ("truediv", div), ("pow", pow),
                     ("matmul", matmul)):
        setattr(T, f"__{name}__", op)
        setattr(T, f"__r{name}__", lambda self, other, op=op: op(other, self))
    T.__neg__ = neg
    T.__pos__ = lambda self: self
    T.__abs__ = abs
    T.__getitem__ = getitem
    # comparisons give plain arrays (no gradient flows through them)
    T.__lt__ = lambda self, other: self.data < _data(other)
    T.__le__ = lambda self, other: self.data <= _data(other)
    T.__gt__ = lambda self, other: self.data > _data(other)
    T.__ge__ = lambda self, other: self.data >= _data(other)
    T.__eq__ = lambda self, other: self.data == _data(other)
    T.__ne__ = lambda self, other: self.data != _data(other)
    T.__hash__ = object.__hash__
    for name, fn in {
        "sum": sum, "mean": mean, "max": max, "min": min, "var": var,
        "logsumexp": logsumexp, "softmax": softmax, "log_softmax": log_softmax,
        "reshape": reshape, "flatten": flatten, "transpose": transpose, "permute": permute,
        "swapaxes": swapaxes, "squeeze": squeeze, "expand_dims": expand_dims,
        "broadcast_to": broadcast_to,
        "exp": exp, "log": log, "log1p": log1p, "sqrt": sqrt, "tanh": tanh, "sigmoid": sigmoid,
        "relu": relu, "softplus": softplus, "log_sigmoid": log_sigmoid, "abs": abs,
        "clip": clip, "matmul": matmul, "astype": astype,
    }.items():  # fmt: skip
        setattr(T, name, fn)
    T.T = property(lambda self: transpose(self))


_attach()
