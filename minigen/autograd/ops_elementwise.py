r"""Element-wise ops (with broadcasting) and matrix products, each with its VJP beside it.

Python numbers in binary ops stay Python numbers (NumPy treats them as "weak"
scalars), so ``x * 2.0`` keeps a float32 ``x`` in float32. NumPy scalar
objects (``np.float64(2.0)``) are turned into Python numbers for the same
reason. Arrays are wrapped as constant Tensors.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import _math
from ..backend import xp_of
from .tensor import Tensor, _shape_str, make_tensor, unbroadcast

_GELU_C = float(np.sqrt(2.0 / np.pi))


def _operand(x):
    """A Tensor, or a Python number kept weak (no dtype promotion)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, numbers.Number) and not isinstance(x, bool):
        return x.item() if isinstance(x, np.generic) else x
    return Tensor(x)


def _binop(a, b, forward, grad_a, grad_b):
    """Shared plumbing of binary ops: ``forward(xa, xb) -> out``; ``grad_*(g, xa, xb, out)``.

    The returned gradients are reduced with :func:`unbroadcast`; grads are computed only
    for Tensor operands that require them.
    """
    a, b = _operand(a), _operand(b)
    ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)
    xa = a.data if ta else a
    xb = b.data if tb else b
    if ta and tb:
        xp_of(xa, xb)  # clear error on NumPy/CuPy mixing
    out = forward(xa, xb)
    ra = ta and a.requires_grad
    rb = tb and b.requires_grad

    def backward(g):
        res = []
        if ta:
            res.append(unbroadcast(grad_a(g, xa, xb, out), a.shape) if ra else None)
        if tb:
            res.append(unbroadcast(grad_b(g, xa, xb, out), b.shape) if rb else None)
        return res

    parents = (a, b) if ta and tb else ((a,) if ta else (b,))
    return make_tensor(out, parents, backward)


def add(a, b) -> Tensor:
    """a + b (broadcasting)."""
    return _binop(a, b, lambda x, y: x + y, lambda g, x, y, o: g, lambda g, x, y, o: g)


def sub(a, b) -> Tensor:
    """a - b (broadcasting)."""
    return _binop(a, b, lambda x, y: x - y, lambda g, x, y, o: g, lambda g, x, y, o: -g)


def mul(a, b) -> Tensor:
    """a * b (broadcasting)."""
    return _binop(a, b, lambda x, y: x * y, lambda g, x, y, o: g * y, lambda g, x, y, o: g * x)


def div(a, b) -> Tensor:
    """a / b (broadcasting); d/db = -a / b^2 = -out / b."""
    return _binop(a, b, lambda x, y: x / y, lambda g, x, y, o: g / y, lambda g, x, y, o: -g * o / y)


def pow(a, b) -> Tensor:  # noqa: A001 - the natural name
    r"""a ** b; :math:`\partial_a = b a^{b-1}`, :math:`\partial_b = a^b \log a`."""
    xp = xp_of(getattr(a, "data", a), getattr(b, "data", b))
    return _binop(
        a,
        b,
        lambda x, y: x**y,
        lambda g, x, y, o: g * (y * x ** (y - 1)),
        lambda g, x, y, o: g * o * xp.log(x),
    )


def maximum(a, b) -> Tensor:
    """Element-wise maximum; ties send the gradient to ``a``."""
    xp = xp_of(getattr(a, "data", a), getattr(b, "data", b))
    return _binop(
        a,
        b,
        lambda x, y: xp.maximum(x, y),
        lambda g, x, y, o: g * (x >= y),
        lambda g, x, y, o: g * (x < y),
    )


def minimum(a, b) -> Tensor:
    """Element-wise minimum; ties send the gradient to ``a``."""
    xp = xp_of(getattr(a, "data", a), getattr(b, "data", b))
    return _binop(
        a,
        b,
        lambda x, y: xp.minimum(x, y),
        lambda g, x, y, o: g * (x <= y),
        lambda g, x, y, o: g * (x > y),
    )


def neg(x) -> Tensor:
    """-x."""
    x = _operand(x)
    return make_tensor(-x.data, (x,), lambda g: (-g,))


def astype(x, dtype) -> Tensor:
    """Cast to ``dtype``; the gradient is cast back to the input's dtype."""
    x = _operand(x)
    src = x.dtype
    return make_tensor(x.data.astype(dtype, copy=False), (x,), lambda g: (g.astype(src),))


# ----------------------------------------------------------------------------- matmul


def matmul(a, b) -> Tensor:
    r"""Matrix product with NumPy's ``matmul`` semantics (batch dims broadcast, 1-D promoted).

    VJP: :math:`\bar A = \bar C B^\top`, :math:`\bar B = A^\top \bar C`, summed over
    broadcast batch dimensions. For 2-D operands the transposes are views (BLAS reads
    them in place; no copies).
    """
    a, b = _operand(a), _operand(b)
    if not isinstance(a, Tensor) or not isinstance(b, Tensor) or a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul needs two arrays of at least one dimension (use * for scalars)")
    xa, xb = a.data, b.data
    xp = xp_of(xa, xb)
    ka = xa.shape[-1]
    kb = xb.shape[-2] if xb.ndim > 1 else xb.shape[0]
    batch_ok = True
    try:
        np.broadcast_shapes(xa.shape[:-2], xb.shape[:-2])
    except ValueError:
        batch_ok = False
    if ka != kb or not batch_ok:
        raise ValueError(
            f"matmul: shapes {_shape_str(xa.shape)} and {_shape_str(xb.shape)} are not aligned "
            f"(inner dimensions {ka} vs {kb}"
            + ("" if batch_ok else ", batch dimensions do not broadcast")
            + ")"
        )
    out = xp.matmul(xa, xb)
    ra, rb = a.requires_grad, b.requires_grad

    def backward(g):
        if xa.ndim == 2 and xb.ndim == 2:
            return (g @ xb.T if ra else None, xa.T @ g if rb else None)
        A = xa if xa.ndim > 1 else xa[None, :]
        B = xb if xb.ndim > 1 else xb[:, None]
        G = g if xb.ndim > 1 else g[..., None]
        G = G if xa.ndim > 1 else G[..., None, :]
        ga = gb = None
        if ra:
            ga = xp.matmul(G, xp.swapaxes(B, -1, -2))
            if xa.ndim == 1:
                ga = ga[..., 0, :]
            ga = unbroadcast(ga, xa.shape)
        if rb:
            gb = xp.matmul(xp.swapaxes(A, -1, -2), G)
            if xb.ndim == 1:
                gb = gb[..., 0]
            gb = unbroadcast(gb, xb.shape)
        return ga, gb

    return make_tensor(out, (a, b), backward)


# ----------------------------------------------------------------------------- unary


def _unary(x, out, grad):
    """Record ``out = f(x)`` with VJP ``g -> grad(g)``."""
    return make_tensor(out, (x,), lambda g: (grad(g),))


def exp(x) -> Tensor:
    x = _operand(x)
    out = xp_of(x.data).exp(x.data)
    return _unary(x, out, lambda g: g * out)


def log(x) -> Tensor:
    x = _operand(x)
    xd = x.data
    return _unary(x, xp_of(xd).log(xd), lambda g: g / xd)


def log1p(x) -> Tensor:
    x = _operand(x)
    xd = x.data
    return _unary(x, xp_of(xd).log1p(xd), lambda g: g / (1 + xd))


def sqrt(x) -> Tensor:
    x = _operand(x)
    out = xp_of(x.data).sqrt(x.data)
    return _unary(x, out, lambda g: g / (2 * out))


def abs(x) -> Tensor:  # noqa: A001
    """|x|; the gradient at 0 is 0 (sign(0) = 0)."""
    x = _operand(x)
    xp = xp_of(x.data)
    xd = x.data
    return _unary(x, xp.abs(xd), lambda g: g * xp.sign(xd))


def tanh(x) -> Tensor:
    x = _operand(x)
    out = xp_of(x.data).tanh(x.data)
    return _unary(x, out, lambda g: g * (1 - out * out))


def sigmoid(x) -> Tensor:
    r"""Logistic :math:`\sigma(x) = (1 + \tanh(x/2))/2` (overflow-free).

    VJP :math:`g\sigma(1-\sigma)`.
    """
    x = _operand(x)
    out = _math.sigmoid(x.data)
    return _unary(x, out, lambda g: g * out * (1 - out))


def softplus(x) -> Tensor:
    r"""Stable :math:`\log(1 + e^x)`; VJP :math:`g\sigma(x)`."""
    x = _operand(x)
    xd = x.data
    return _unary(x, _math.softplus(xd), lambda g: g * _math.sigmoid(xd))


def log_sigmoid(x) -> Tensor:
    r"""Stable :math:`\log\sigma(x) = -\mathrm{softplus}(-x)`; VJP :math:`g\sigma(-x)`."""
    x = _operand(x)
    xd = x.data
    return _unary(x, _math.log_sigmoid(xd), lambda g: g * _math.sigmoid(-xd))


def relu(x) -> Tensor:
    """max(x, 0); the gradient at 0 is 0 (as in torch)."""
    x = _operand(x)
    xd = x.data
    out = xp_of(xd).maximum(xd, 0)
    return _unary(x, out, lambda g: g * (xd > 0))


def leaky_relu(x, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, ``negative_slope * x`` otherwise."""
    x = _operand(x)
    xp = xp_of(x.data)
    xd = x.data
    pos = xd > 0
    out = xp.where(pos, xd, negative_slope * xd)
    return _unary(x, out, lambda g: xp.where(pos, g, negative_slope * g))


def elu(x, alpha: float = 1.0) -> Tensor:
    r"""x for x > 0, :math:`\alpha(e^x - 1)` otherwise; VJP uses :math:`out + \alpha` on x <= 0."""
    x = _operand(x)
    xp = xp_of(x.data)
    xd = x.data
    pos = xd > 0
    out = xp.where(pos, xd, alpha * xp.expm1(xp.minimum(xd, 0)))
    return _unary(x, out, lambda g: xp.where(pos, g, g * (out + alpha)))


def gelu(x) -> Tensor:
    r"""GELU, tanh approximation (torch's ``gelu(approximate="tanh")``):

    :math:`\tfrac12 x (1 + \tanh u)`, :math:`u = \sqrt{2/\pi}(x + 0.044715 x^3)`.
    Within ~1e-3 of the exact erf form; chosen because NumPy has no ``erf``.
    """
    x = _operand(x)
    xp = xp_of(x.data)
    xd = x.data
    t = xp.tanh(_GELU_C * (xd + 0.044715 * xd * xd * xd))
    out = 0.5 * xd * (1 + t)

    def grad(g):
        du = _GELU_C * (1 + 3 * 0.044715 * xd * xd)
        return g * (0.5 * (1 + t) + 0.5 * xd * (1 - t * t) * du)

    return _unary(x, out, grad)


def where(cond, a, b) -> Tensor:
    """``a`` where ``cond`` (a plain boolean array, or Tensor used as a constant), else ``b``."""
    cond = cond.data if isinstance(cond, Tensor) else cond
    a, b = _operand(a), _operand(b)
    xp = xp_of(cond, getattr(a, "data", None), getattr(b, "data", None))
    cond = xp.asarray(cond, dtype=bool)
    return _binop(
        a,
        b,
        lambda x, y: xp.where(cond, x, y),
        lambda g, x, y, o: xp.where(cond, g, 0),
        lambda g, x, y, o: xp.where(cond, 0, g),
    )


def clip(x, lo=None, hi=None) -> Tensor:
    """Clip to ``[lo, hi]``; zero gradient where clipped."""
    x = _operand(x)
    xp = xp_of(x.data)
    xd = x.data
    out = xp.clip(xd, lo, hi)
    inside = xp.ones(xd.shape, dtype=bool)
    if lo is not None:
        inside &= xd >= lo
    if hi is not None:
        inside &= xd <= hi
    return _unary(x, out, lambda g: g * inside)
