r"""Losses with fused, numerically stable forward and backward passes."""

from __future__ import annotations

from ..backend import xp_of
from .ops_elementwise import _operand
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


def binary_cross_entropy_with_logits(logits, targets, reduction: str = "mean") -> Tensor:
    r"""Bernoulli negative log-likelihood from logits, stable for any :math:`x`:

    :math:`\ell(x, y) = \max(x, 0) - x y + \log(1 + e^{-|x|})`, with fused VJP
    :math:`\bar x = g\,(\sigma(x) - y)`.

    Parameters
    ----------
    logits : Tensor, any shape
    targets : array or Tensor of the same shape (values in [0, 1]; treated as constants)
    reduction : "mean" | "sum" | "none"
    """
    x = _operand(logits)
    y = targets.data if isinstance(targets, Tensor) else targets
    xd = x.data
    xp = xp_of(xd, y)
    y = xp.asarray(y)
    if y.shape != xd.shape:
        raise ValueError(
            f"targets of shape {_shape_str(y.shape)} do not match logits of shape "
            f"{_shape_str(xd.shape)}"
        )
    if y.dtype != xd.dtype:
        y = y.astype(xd.dtype)
    loss = xp.maximum(xd, 0) - xd * y + xp.log1p(xp.exp(-xp.abs(xd)))
    out, scale = _reduce(loss, reduction, xp)

    def backward(g):
        d = 0.5 * (1 + xp.tanh(0.5 * xd))  # sigmoid, overflow-free
        d -= y
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
    x = _operand(logits)
    t = targets.data if isinstance(targets, Tensor) else targets
    xd = x.data
    xp = xp_of(xd, t)
    t = xp.asarray(t)
    if t.dtype.kind not in "iu":
        raise TypeError(f"targets must hold integer class indices, got dtype {t.dtype}")
    ax = axis % xd.ndim
    want = xd.shape[:ax] + xd.shape[ax + 1 :]
    if t.shape != want:
        raise ValueError(
            f"targets of shape {_shape_str(t.shape)} do not match logits of shape "
            f"{_shape_str(xd.shape)} (expected {_shape_str(want)})"
        )
    C = xd.shape[ax]
    if t.size and (int(t.min()) < 0 or int(t.max()) >= C):
        raise ValueError(
            f"targets must lie in [0, {C}), got values in [{int(t.min())}, {int(t.max())}]"
        )
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
    """Negative log-likelihood of integer ``targets`` under ``log_probs`` (class axis ``axis``)."""
    from .ops_shape import getitem

    x = _operand(log_probs)
    xp = xp_of(x.data)
    t = xp.asarray(targets.data if isinstance(targets, Tensor) else targets)
    ax = axis % x.ndim
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


def mse_loss(pred, target, reduction: str = "mean") -> Tensor:
    """Squared error ``(pred - target)^2``, reduced."""
    from .ops_elementwise import mul, sub

    d = sub(pred, target)
    sq = mul(d, d)
    if reduction == "mean":
        return sq.mean()
    if reduction == "sum":
        return sq.sum()
    _reduce(sq.data, reduction, xp_of(sq.data))
    return sq
