r"""Causal multi-head self-attention as one fused op, plus a key/value cache for decoding.

For ``x`` of shape ``(N, T, D)``, ``h`` heads of size ``d = D / h``:

.. math::

    [Q, K, V] = x W_{qkv} + b_{qkv}, \qquad
    A_h = \mathrm{softmax}\!\Big(\frac{Q_h K_h^\top}{\sqrt d} + M\Big) V_h, \qquad
    y = [A_1, \dots, A_h]\, W_o + b_o,

with the causal mask :math:`M_{ij} = -\infty` for :math:`j > i`. Weights are stored
"input-major": ``W_qkv`` is ``(D, 3D)`` (columns ``[q | k | v]``, heads contiguous inside
each) and ``W_o`` is ``(D, D)``. The backward is written by hand (softmax VJP
:math:`g_s = p \odot (g_p - \sum_j g_p p)`).

References: Vaswani et al., "Attention is all you need" (2017).
"""

from __future__ import annotations

import math

from ..backend import xp_of
from .custom import custom_op

__all__ = ["causal_self_attention", "attention_forward", "attention_decode"]


def _check(x, w_qkv, b_qkv, w_o, b_o, n_heads):
    if x.ndim != 3:
        raise ValueError(f"attention: x must have shape (N, T, D), got shape {tuple(x.shape)}")
    d = x.shape[2]
    if n_heads < 1 or d % n_heads:
        raise ValueError(f"attention: d_model={d} is not divisible by n_heads={n_heads}")
    if tuple(w_qkv.shape) != (d, 3 * d):
        raise ValueError(
            f"attention: w_qkv must have shape ({d}, {3 * d}) for x of shape "
            f"{tuple(x.shape)}, got {tuple(w_qkv.shape)}"
        )
    if tuple(w_o.shape) != (d, d):
        raise ValueError(f"attention: w_o must have shape ({d}, {d}), got {tuple(w_o.shape)}")
    if b_qkv is not None and tuple(b_qkv.shape) != (3 * d,):
        raise ValueError(f"attention: b_qkv must have shape ({3 * d},), got {tuple(b_qkv.shape)}")
    if b_o is not None and tuple(b_o.shape) != (d,):
        raise ValueError(f"attention: b_o must have shape ({d},), got {tuple(b_o.shape)}")


def _qkv(x, w_qkv, b_qkv, n_heads):
    n, t, d = x.shape
    qkv = x.reshape(n * t, d) @ w_qkv
    if b_qkv is not None:
        qkv += b_qkv
    qkv = qkv.reshape(n, t, 3, n_heads, d // n_heads).transpose(2, 0, 3, 1, 4)
    return qkv[0], qkv[1], qkv[2]  # each (N, h, T, d)


def _softmax_masked(xp, s, offset):
    """Row softmax of scores ``(N, h, Tq, Tk)`` where query i may see keys j <= i + offset."""
    tq, tk = s.shape[-2:]
    mask = xp.arange(tk)[None, :] > (xp.arange(tq)[:, None] + offset)
    s = xp.where(mask, -xp.inf, s)
    s = s - s.max(axis=-1, keepdims=True)
    p = xp.exp(s)
    p /= p.sum(axis=-1, keepdims=True)
    return p


def attention_forward(x, w_qkv, b_qkv, w_o, b_o, n_heads):
    """Plain-array forward; returns ``y (N, T, D)`` and the cache for the backward."""
    xp = xp_of(x, w_qkv, b_qkv, w_o, b_o)
    _check(x, w_qkv, b_qkv, w_o, b_o, n_heads)
    n, t, d = x.shape
    q, k, v = _qkv(x, w_qkv, b_qkv, n_heads)
    scale = 1.0 / math.sqrt(d // n_heads)
    p = _softmax_masked(xp, (q @ k.transpose(0, 1, 3, 2)) * scale, 0)
    a = (p @ v).transpose(0, 2, 1, 3).reshape(n * t, d)
    y = a @ w_o
    if b_o is not None:
        y += b_o
    return y.reshape(n, t, d), (q, k, v, p, a, scale)


def attention_backward(gy, x, w_qkv, w_o, cache, n_heads, has_bq=True, has_bo=True):
    """Gradients ``(gx, gw_qkv, gb_qkv, gw_o, gb_o)``."""
    xp = xp_of(gy, x)
    q, k, v, p, a, scale = cache
    n, t, d = x.shape
    gy2 = gy.reshape(n * t, d)
    gw_o = a.T @ gy2
    gb_o = gy2.sum(axis=0) if has_bo else None
    ga = (gy2 @ w_o.T).reshape(n, t, n_heads, d // n_heads).transpose(0, 2, 1, 3)
    gp = ga @ v.transpose(0, 1, 3, 2)
    gv = p.transpose(0, 1, 3, 2) @ ga
    gs = p * (gp - (gp * p).sum(axis=-1, keepdims=True))
    gs *= scale
    gq = gs @ k
    gk = gs.transpose(0, 1, 3, 2) @ q
    gqkv = xp.stack([gq, gk, gv])  # (3, N, h, T, d)
    gqkv = gqkv.transpose(1, 3, 0, 2, 4).reshape(n * t, 3 * d)
    gw_qkv = x.reshape(n * t, d).T @ gqkv
    gb_qkv = gqkv.sum(axis=0) if has_bq else None
    gx = (gqkv @ w_qkv.T).reshape(n, t, d)
    return gx, gw_qkv, gb_qkv, gw_o, gb_o


@custom_op
def _attention_op(x, w_qkv, b_qkv, w_o, b_o, *, n_heads):
    y, cache = attention_forward(x, w_qkv, b_qkv, w_o, b_o, n_heads)

    def backward(gy):
        return attention_backward(
            gy, x, w_qkv, w_o, cache, n_heads, b_qkv is not None, b_o is not None
        )

    return y, backward


def causal_self_attention(x, w_qkv, b_qkv, w_o, b_o, n_heads: int):
    """Differentiable causal multi-head self-attention (see module docstring).

    Parameters
    ----------
    x : Tensor (N, T, D);  w_qkv : Tensor (D, 3D);  b_qkv : Tensor (3D,) or None
    w_o : Tensor (D, D);  b_o : Tensor (D,) or None;  n_heads : int dividing D

    Returns
    -------
    Tensor (N, T, D)
    """
    return _attention_op(x, w_qkv, b_qkv, w_o, b_o, n_heads=int(n_heads))


def attention_decode(x, w_qkv, b_qkv, w_o, b_o, n_heads: int, cache: dict):
    """Incremental (no-grad) attention for new tokens ``x (N, t, D)`` using a KV cache.

    ``cache`` is a dict, empty at the start of a sequence; its ``"k"`` and ``"v"`` entries
    (``(N, h, T_past, d)``) grow with every call. They are views of buffers with room to
    spare (capacity doubled when full), so a step writes only its own keys and values
    instead of copying the whole cache (which made decoding ``T`` tokens cost
    :math:`O(T^2)` copies). New token ``i`` attends to all cached positions and to new
    positions ``<= i``, so feeding a sequence token by token gives the same outputs as
    one full causal pass. Returns the raw array ``y (N, t, D)``.
    """
    xp = xp_of(x, w_qkv, b_qkv, w_o, b_o)
    _check(x, w_qkv, b_qkv, w_o, b_o, n_heads)
    n, t, d = x.shape
    q, k, v = _qkv(x, w_qkv, b_qkv, n_heads)
    if cache.get("k") is not None and cache["k"].shape[0] != n:
        raise ValueError(
            f"attention: cache holds batch {cache['k'].shape[0]} but x has shape "
            f"{tuple(x.shape)}"
        )
    past = 0 if cache.get("k") is None else cache["k"].shape[2]
    k, v = (_append(xp, cache, name, new, past) for name, new in (("k", k), ("v", v)))
    cache["k"], cache["v"] = k, v
    offset = k.shape[2] - t
    scale = 1.0 / math.sqrt(d // n_heads)
    # (N, h, T, d) @ (N, h, d, t): a matrix-vector product per head for one new token
    scores = (k @ q.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    p = _softmax_masked(xp, scores * scale, offset)
    a = (p @ v).transpose(0, 2, 1, 3).reshape(n * t, d)
    y = a @ w_o
    if b_o is not None:
        y += b_o
    return y.reshape(n, t, d)


def _append(xp, cache, name, new, past):
    """``cache[name]`` extended by ``new`` ``(N, h, t, d)`` along axis 2, as a view of a
    buffer kept in the cache (reallocated with twice the room when full)."""
    buf = cache.get(f"_{name}_buffer")
    t = new.shape[2]
    if buf is None or past + t > buf.shape[2] or buf.dtype != new.dtype:
        room = max(16, past + t, 2 * (0 if buf is None else buf.shape[2]))
        grown = xp.empty(new.shape[:2] + (room,) + new.shape[3:], dtype=new.dtype)
        if past:
            grown[:, :, :past] = cache[name]
        buf = cache[f"_{name}_buffer"] = grown
    buf[:, :, past:past + t] = new
    return buf[:, :, :past + t]
