r"""Losses with fused, numerically stable forward and backward passes."""

from __future__ import annotations

import numbers

import numpy as np

from .. import _math
from ..backend import xp_of
from .ops_elementwise import _operand, mul, sub
from .ops_shape import getitem
from .tensor import Tensor, _shape_str, make_tensor

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss, reduction: str, xp):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; choose one of {_REDUCTIONS}")
    if reduction == "mean":
        return loss.mean(), 1.0 / max(loss.size, 1)
    if reduction == "sum":
        return loss.sum(), 1.0
    return loss, None


def _operands(inputs, targets):
    """``(x, t, xp)``: the input Tensor, the targets as a constant array on its device, and its
    array module."""
    x = _operand(inputs)
    t = targets.data if isinstance(targets, Tensor) else targets
    xp = xp_of(x.data, t)
    return x, xp.asarray(t), xp


def _class_axis(axis, ndim: int) -> int:
    """``axis`` normalised to ``[0, ndim)``; out of range is an error, not a silent wrap."""
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"axis must be an int, got {type(axis).__name__}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for inputs with {ndim} dimension(s)")
    return int(axis) % ndim


def _check_class_targets(t, shape, ax: int, what: str) -> None:
    """Integer ``t`` of ``shape`` without axis ``ax``, values in ``[0, shape[ax])``.

    A negative index would otherwise pick a class from the end and a float one
    fail deep in the indexing; the range check costs a min and a max.
    """
    if t.dtype.kind not in "iu":
        raise TypeError(f"targets must hold integer class indices, got dtype {t.dtype}")
    want = shape[:ax] + shape[ax + 1 :]
    if t.shape != want:
        raise ValueError(
            f"targets of shape {_shape_str(t.shape)} do not match {what} of shape "
            f"{_shape_str(shape)} (expected {_shape_str(want)})"
        )
    C = shape[ax]
    if t.size:
        lo, hi = t.min(), t.max()
        if not bool((lo >= 0) & (hi < C)):  # one host sync on GPU
            raise ValueError(f"targets must lie in [0, {C}), got values in [{int(lo)}, {int(hi)}]")


def binary_cross_entropy_with_logits(logits, targets, reduction: str = "mean") -> Tensor:
    r"""Bernoulli negative log-likelihood from logits, stable for any :math:`x`:

    :math:`\ell(x, y) = \max(x, 0) - x y + \log(1 + e^{-|x|})`, with fused VJP
    :math:`\bar x = g\,(\sigma(x) - y)`.

    Parameters
    ----------
    logits : Tensor, any shape
    targets : array or Tensor of the same shape (values in [0, 1], soft targets allowed;
        treated as constants)
    reduction : "mean" | "sum" | "none"
    """
    x, y, xp = _operands(logits, targets)
    xd = x.data
    if y.shape != xd.shape:
        raise ValueError(
            f"targets of shape {_shape_str(y.shape)} do not match logits of shape "
            f"{_shape_str(xd.shape)}"
        )
    # outside [0, 1] the loss is unbounded below and meaningless. min/max propagate NaN,
    # which then fails both tests; no temporaries, and one host sync on GPU
    if y.size and not bool((y.min() >= 0) & (y.max() <= 1)):
        raise ValueError(
            f"targets must lie in [0, 1] (NaN not allowed), got values in "
            f"[{float(y.min()):g}, {float(y.max()):g}]"
        )
    if y.dtype != xd.dtype:
        y = y.astype(xd.dtype)
    loss = _math.softplus(xd) - xd * y  # -[y log s(x) + (1-y) log(1-s(x))]
    out, scale = _reduce(loss, reduction, xp)

    def backward(g):
        d = _math.sigmoid(xd) - y
        if scale is None:
            d *= g
        else:
            d *= g * scale
        return (d,)

    return make_tensor(out, (x,), backward)


def cross_entropy(logits, targets, reduction: str = "mean", axis: int = -1) -> Tensor:
    r"""Categorical negative log-likelihood from logits and integer class targets.

    :math:`\ell = -\log\mathrm{softmax}(x)_y = \mathrm{logsumexp}(x) - x_y` along the class
    axis (last by default), stable via log-softmax; fused VJP :math:`g(\mathrm{softmax}(x) -
    \mathrm{onehot}(y))`.

    Parameters
    ----------
    logits : Tensor, shape (N, C) or (N, ..., C) (classes on ``axis``)
    targets : integer array, the shape of ``logits`` without the class axis, values in [0, C)
    reduction : "mean" | "sum" | "none"
    """
    x, t, xp = _operands(logits, targets)
    xd = x.data
    ax = _class_axis(axis, xd.ndim)
    _check_class_targets(t, xd.shape, ax, "logits")
    z = xd - xd.max(axis=ax, keepdims=True)
    logp = z - xp.log(xp.exp(z).sum(axis=ax, keepdims=True))
    ti = xp.expand_dims(t, ax)
    loss = -xp.take_along_axis(logp, ti, axis=ax).squeeze(ax)
    out, scale = _reduce(loss, reduction, xp)

    def backward(g):
        d = xp.exp(logp)
        xp.put_along_axis(d, ti, xp.take_along_axis(d, ti, axis=ax) - 1, axis=ax)
        gg = g if scale is None else g * scale
        if scale is None:
            gg = xp.expand_dims(gg, ax)
        d *= gg
        return (d,)

    return make_tensor(out, (x,), backward)


def nll_loss(log_probs, targets, reduction: str = "mean", axis: int = -1) -> Tensor:
    """Negative log-likelihood of integer ``targets`` under ``log_probs`` (class axis ``axis``).

    ``targets`` has the shape of ``log_probs`` without the class axis and values in
    ``[0, C)``, as in :func:`cross_entropy`.
    """

    x = _operand(log_probs)
    xp = xp_of(x.data)
    t = xp.asarray(targets.data if isinstance(targets, Tensor) else targets)
    ax = _class_axis(axis, x.ndim)
    _check_class_targets(t, x.shape, ax, "log_probs")
    idx = tuple(
        xp.arange(n).reshape([-1 if j == i else 1 for j in range(t.ndim)])
        for i, n in enumerate(t.shape)
    )
    full = idx[:ax] + (t,) + idx[ax:]
    picked = -getitem(x, full)
    if reduction == "mean":
        return picked.mean()
    if reduction == "sum":
        return picked.sum()
    _reduce(picked.data, reduction, xp)
    return picked


def _shape_of(x) -> tuple:
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def mse_loss(pred, target, reduction: str = "mean") -> Tensor:
    """Squared error ``(pred - target)^2``, reduced; ``pred`` and ``target`` of one shape."""

    # no broadcasting: (3,) against (3, 1) would silently average a (3, 3) grid
    ps, ts = _shape_of(pred), _shape_of(target)
    if ps != ts:
        raise ValueError(
            f"target of shape {_shape_str(ts)} does not match pred of shape {_shape_str(ps)}"
        )
    d = sub(pred, target)
    sq = mul(d, d)
    if reduction == "mean":
        return sq.mean()
    if reduction == "sum":
        return sq.sum()
    _reduce(sq.data, reduction, xp_of(sq.data))
    return sq
