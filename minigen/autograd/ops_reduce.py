r"""Reductions (sum, mean, max, logsumexp) and softmax / log-softmax, with their VJPs."""

from __future__ import annotations

import builtins

from ..backend import xp_of
from .ops_elementwise import _operand, mul, neg, sub
from .tensor import Tensor, make_tensor


def _norm_axes(axis, ndim: int) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a Tensor with {ndim} dimension(s)")
        out.append(a % ndim if ndim else 0)
    return tuple(out)


def _keep_shape(shape: tuple, axes: tuple) -> tuple:
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def sum(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (int, tuple or None = all); VJP broadcasts ``g`` back."""
    x = _operand(x)
    xp = xp_of(x.data)
    axes = _norm_axes(axis, x.ndim)
    out = x.data.sum(axis=axes, keepdims=keepdims)
    shape, kshape = x.shape, _keep_shape(x.shape, axes)
    return make_tensor(out, (x,), lambda g: (xp.broadcast_to(g.reshape(kshape), shape),))


def mean(x, axis=None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis``; VJP is ``g / n`` broadcast back."""
    x = _operand(x)
    xp = xp_of(x.data)
    axes = _norm_axes(axis, x.ndim)
    n = 1
    for a in axes:
        n *= x.shape[a]
    out = x.data.mean(axis=axes, keepdims=keepdims)
    shape, kshape = x.shape, _keep_shape(x.shape, axes)
    inv = 1.0 / builtins.max(n, 1)
    return make_tensor(out, (x,), lambda g: (xp.broadcast_to(g.reshape(kshape) * inv, shape),))


def max(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Maximum over ``axis``; the gradient is split evenly among tied maxima."""
    x = _operand(x)
    axes = _norm_axes(axis, x.ndim)
    xd = x.data
    mk = xd.max(axis=axes, keepdims=True)
    out = mk if keepdims else mk.reshape([s for i, s in enumerate(x.shape) if i not in axes])
    kshape = mk.shape

    def backward(g):
        mask = xd == mk
        return (
            (mask * (g.reshape(kshape) / mask.sum(axis=axes, keepdims=True))).astype(
                xd.dtype, copy=False
            ),
        )

    return make_tensor(out, (x,), backward)


def min(x, axis=None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Minimum over ``axis`` (as ``-max(-x)``)."""

    return neg(max(neg(x), axis=axis, keepdims=keepdims))


def logsumexp(x, axis=-1, keepdims: bool = False) -> Tensor:
    r""":math:`\log\sum_i e^{x_i}`, computed as :math:`m + \log\sum e^{x - m}`.

    VJP :math:`g\,e^{x - out}`.
    """
    x = _operand(x)
    xp = xp_of(x.data)
    axes = _norm_axes(axis, x.ndim)
    xd = x.data
    m = xd.max(axis=axes, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)
    lse = xp.log(xp.exp(xd - m).sum(axis=axes, keepdims=True)) + m
    out = lse if keepdims else lse.reshape([s for i, s in enumerate(x.shape) if i not in axes])
    kshape = lse.shape
    return make_tensor(out, (x,), lambda g: (g.reshape(kshape) * xp.exp(xd - lse),))


def softmax(x, axis: int = -1) -> Tensor:
    r"""Softmax along ``axis``; VJP :math:`s \odot (g - \langle g, s\rangle)`."""
    x = _operand(x)
    xp = xp_of(x.data)
    xd = x.data
    e = xp.exp(xd - xd.max(axis=axis, keepdims=True))
    s = e / e.sum(axis=axis, keepdims=True)
    return make_tensor(s, (x,), lambda g: (s * (g - (g * s).sum(axis=axis, keepdims=True)),))


def log_softmax(x, axis: int = -1) -> Tensor:
    r""":math:`x - \mathrm{logsumexp}(x)` along ``axis``; VJP :math:`g - e^{out}\sum g`."""
    x = _operand(x)
    xp = xp_of(x.data)
    xd = x.data
    z = xd - xd.max(axis=axis, keepdims=True)
    out = z - xp.log(xp.exp(z).sum(axis=axis, keepdims=True))
    return make_tensor(out, (x,), lambda g: (g - xp.exp(out) * g.sum(axis=axis, keepdims=True),))


def var(x, axis=None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """Variance over ``axis`` (composed from differentiable ops)."""

    x = _operand(x)
    axes = _norm_axes(axis, x.ndim)
    n = 1
    for a in axes:
        n *= x.shape[a]
    d = sub(x, mean(x, axis=axes, keepdims=True))
    return mul(sum(mul(d, d), axis=axes, keepdims=keepdims), 1.0 / (n - ddof))
