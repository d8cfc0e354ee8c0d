r"""Neural-network ops: fused affine map and dropout."""

from __future__ import annotations

from ..backend import xp_of
from ..random import check_random_state
from .ops_elementwise import _operand
from .tensor import Tensor, _shape_str, make_tensor, unbroadcast


def _check_linear(xd, wd) -> None:
    if wd.ndim != 2 or xd.ndim < 1 or xd.shape[-1] != wd.shape[1]:
        raise ValueError(
            f"linear: input of shape {_shape_str(xd.shape)} does not match weight of shape "
            f"{_shape_str(wd.shape)} (expected (..., {wd.shape[1] if wd.ndim == 2 else '?'}))"
        )


def _affine(x, weight, wd, bias, mask=None) -> Tensor:
    """Shared forward/VJP of :func:`linear` and :func:`masked_linear` (``wd`` = effective W)."""
    xd = x.data
    xp_of(xd, wd, None if bias is None else bias.data)
    _check_linear(xd, wd)
    x2 = xd.reshape(-1, xd.shape[-1]) if xd.ndim != 2 else xd
    out = x2 @ wd.T
    if bias is not None:
        out += bias.data
    if xd.ndim != 2:
        out = out.reshape(xd.shape[:-1] + (wd.shape[0],))
    rx, rw = x.requires_grad, weight.requires_grad
    rb = bias is not None and bias.requires_grad

    def backward(g):
        g2 = g.reshape(-1, g.shape[-1]) if g.ndim != 2 else g
        gx = (g2 @ wd).reshape(xd.shape) if rx else None
        gw = None
        if rw:
            gw = g2.T @ x2
            if mask is not None:
                gw *= mask
        if bias is None:
            return gx, gw
        gb = unbroadcast(g2.sum(axis=0), bias.shape) if rb else None
        return gx, gw, gb

    parents = (x, weight) if bias is None else (x, weight, bias)
    return make_tensor(out, parents, backward)


def linear(x, weight, bias=None) -> Tensor:
    r"""Affine map :math:`y = x W^\top + b` (torch's convention, ``W`` of shape (out, in)).

    Parameters
    ----------
    x : Tensor, shape (..., in)
    weight : Tensor, shape (out, in)
    bias : Tensor of shape (out,), optional

    VJP: :math:`\bar x = \bar y W`, :math:`\bar W = \bar y^\top x`, :math:`\bar b = \sum \bar y`
    (leading dims of ``x`` are flattened for one BLAS call each; no transposed copies).
    """
    x, weight = _operand(x), _operand(weight)
    bias = None if bias is None else _operand(bias)
    return _affine(x, weight, weight.data, bias)


def masked_linear(x, weight, mask, bias=None, out_weight=None) -> Tensor:
    r"""Affine map with a fixed mask on the weights: :math:`y = x (M \odot W)^\top + b`.

    ``mask`` (shape (out, in), a constant array) is multiplied into ``weight`` once per call
    and the product reused by the backward pass; the weight gradient is
    :math:`M \odot (\bar y^\top x)` (masked in place), so masked weights get exactly zero.
    ``out_weight``, if given, is a buffer of ``weight``'s shape and dtype that receives
    :math:`M \odot W`; it must stay untouched until this graph's backward has run.
    """
    mask = mask.data if isinstance(mask, Tensor) else mask
    x, weight = _operand(x), _operand(weight)
    bias = None if bias is None else _operand(bias)
    if mask.shape != weight.shape:
        raise ValueError(
            f"mask of shape {_shape_str(mask.shape)} does not match weight of shape "
            f"{_shape_str(weight.shape)}"
        )
    if out_weight is None:
        w_eff = weight.data * mask
    else:
        w_eff = xp_of(weight.data).multiply(weight.data, mask, out=out_weight)
    return _affine(x, weight, w_eff, bias, mask)


def dropout(x, p: float = 0.5, training: bool = True, random_state=None) -> Tensor:
    r"""Inverted dropout: zero each entry with probability ``p``, scale survivors by ``1/(1-p)``.

    Identity when ``training`` is False or ``p == 0``. The mask is drawn on the host from
    ``random_state`` (None, int seed or Generator) so every backend sees the same draws.
    """
    x = _operand(x)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability p must be in [0, 1), got {p}")
    if not training or p == 0.0:
        return x
    rng = check_random_state(random_state)
    xp = xp_of(x.data)
    keep = rng.random(x.shape) >= p
    scale = xp.asarray(keep, dtype=x.dtype) * (1.0 / (1.0 - p))
    return make_tensor(x.data * scale, (x,), lambda g: (g * scale,))
