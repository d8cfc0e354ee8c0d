r"""Shape ops: reshape, transpose, indexing, concatenate, stack, pad, broadcast_to."""

from __future__ import annotations

import numpy as np

from ..backend import xp_of
from .ops_elementwise import _operand
from .tensor import Tensor, _shape_str, make_tensor, unbroadcast


def reshape(x, *shape) -> Tensor:
    """Reshape (a view when possible); VJP reshapes ``g`` back."""
    x = _operand(x)
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        out = x.data.reshape(shape)
    except ValueError:
        raise ValueError(
            f"cannot reshape a Tensor of shape {_shape_str(x.shape)} into {tuple(shape)}"
        ) from None
    src = x.shape
    return make_tensor(out, (x,), lambda g: (g.reshape(src),))


def flatten(x, start_dim: int = 0) -> Tensor:
    """Merge dimensions ``start_dim..`` into one."""
    x = _operand(x)
    return reshape(x, x.shape[:start_dim] + (-1,))


def transpose(x, *axes) -> Tensor:
    """Permute axes (reverse them when none are given); VJP applies the inverse permutation."""
    x = _operand(x)
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    if not axes:
        axes = tuple(range(x.ndim))[::-1]
    if sorted(a % x.ndim for a in axes) != list(range(x.ndim)):
        raise ValueError(f"axes {axes} are not a permutation of the {x.ndim} dimension(s)")
    xp = xp_of(x.data)
    axes = tuple(a % x.ndim for a in axes)
    inv = tuple(sorted(range(len(axes)), key=axes.__getitem__))
    return make_tensor(xp.transpose(x.data, axes), (x,), lambda g: (xp.transpose(g, inv),))


permute = transpose


def swapaxes(x, a: int, b: int) -> Tensor:
    x = _operand(x)
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, tuple(axes))


def expand_dims(x, axis: int) -> Tensor:
    x = _operand(x)
    xp = xp_of(x.data)
    return reshape(x, xp.expand_dims(x.data, axis).shape)


def squeeze(x, axis=None) -> Tensor:
    x = _operand(x)
    xp = xp_of(x.data)
    return reshape(x, xp.squeeze(x.data, axis=axis).shape)


def broadcast_to(x, shape) -> Tensor:
    """Broadcast to ``shape`` (a read-only view); VJP sums back with ``unbroadcast``."""
    x = _operand(x)
    xp = xp_of(x.data)
    src = x.shape
    return make_tensor(xp.broadcast_to(x.data, shape), (x,), lambda g: (unbroadcast(g, src),))


def _is_advanced(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return any(not (i is None or i is Ellipsis or isinstance(i, (int, slice))) for i in items)


def getitem(x, index) -> Tensor:
    """``x[index]``: basic slicing and integer/boolean array indexing.

    VJP: zeros of ``x``'s shape with ``g`` written at ``index``; with array indices a
    scatter-add (``xp.add.at``), so repeated indices accumulate.
    """
    x = _operand(x)
    if isinstance(index, Tensor):
        index = index.data
    if isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    xp = xp_of(x.data)
    out = x.data[index]
    advanced = _is_advanced(index)
    shape, dtype = x.shape, x.dtype

    def backward(g):
        z = xp.zeros(shape, dtype=dtype)
        if advanced:
            if hasattr(xp.add, "at"):
                xp.add.at(z, index, g)
            else:  # pragma: no cover - older CuPy
                import cupyx

                cupyx.scatter_add(z, index, g)
        else:
            z[index] = g
        return (z,)

    return make_tensor(out, (x,), backward)


def concatenate(tensors, axis: int = 0) -> Tensor:
    """Join along an existing axis; VJP splits ``g`` back."""
    ts = [_operand(t) for t in tensors]
    if not ts:
        raise ValueError("concatenate needs at least one Tensor")
    xp = xp_of(*[t.data for t in ts])
    try:
        out = xp.concatenate([t.data for t in ts], axis=axis)
    except ValueError as exc:
        shapes = ", ".join(_shape_str(t.shape) for t in ts)
        raise ValueError(
            f"concatenate along axis {axis} failed for shapes {shapes}: {exc}"
        ) from None
    ax = axis % out.ndim
    bounds, acc = [], 0
    for t in ts:
        bounds.append((acc, acc + t.shape[ax]))
        acc += t.shape[ax]

    def backward(g):
        res = []
        for t, (lo, hi) in zip(ts, bounds, strict=False):
            if t.requires_grad:
                sl = [slice(None)] * g.ndim
                sl[ax] = slice(lo, hi)
                res.append(g[tuple(sl)])
            else:
                res.append(None)
        return res

    return make_tensor(out, tuple(ts), backward)


cat = concatenate


def stack(tensors, axis: int = 0) -> Tensor:
    """Join along a new axis; VJP takes the slices of ``g``."""
    ts = [_operand(t) for t in tensors]
    if not ts:
        raise ValueError("stack needs at least one Tensor")
    shapes = {t.shape for t in ts}
    if len(shapes) > 1:
        raise ValueError(
            "stack needs Tensors of one shape, got " + ", ".join(_shape_str(t.shape) for t in ts)
        )
    xp = xp_of(*[t.data for t in ts])
    out = xp.stack([t.data for t in ts], axis=axis)
    ax = axis % out.ndim

    def backward(g):
        return [xp.take(g, i, axis=ax) if t.requires_grad else None for i, t in enumerate(ts)]

    return make_tensor(out, tuple(ts), backward)


def pad(x, pad_width, value: float = 0.0) -> Tensor:
    """Constant padding (``np.pad`` ``pad_width`` conventions); VJP slices the interior."""
    x = _operand(x)
    xp = xp_of(x.data)
    width = [(int(a), int(b)) for a, b in np.broadcast_to(np.asarray(pad_width), (x.ndim, 2))]
    out = xp.pad(x.data, width, mode="constant", constant_values=value)
    sl = tuple(slice(a, a + n) for (a, _), n in zip(width, x.shape, strict=False))
    return make_tensor(out, (x,), lambda g: (g[sl],))
