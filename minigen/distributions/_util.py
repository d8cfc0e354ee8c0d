"""Small numerically stable helpers shared by the distributions (xp-generic)."""

from __future__ import annotations

import numpy as np

from ..backend import xp_of


def softplus(x):
    """``log(1 + exp(x))`` without overflow."""
    return xp_of(x).logaddexp(0.0, x)


def log_sigmoid(x):
    """``log(sigmoid(x)) = -softplus(-x)``."""
    return -softplus(-x)


def logsumexp(a, axis: int = -1):
    """``log(sum(exp(a), axis))``, stable, ``-inf`` for all ``-inf`` slices."""
    xp = xp_of(a)
    m = xp.max(a, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return xp.squeeze(m, axis=axis) + xp.log(xp.sum(xp.exp(a - m), axis=axis))


def log_softmax(a, axis: int = -1):
    return a - xp_of(a).expand_dims(logsumexp(a, axis=axis), axis)


def sample_shape_of(n) -> tuple:
    """``n`` (int) or a shape tuple -> tuple; the leading shape of a sample."""
    if isinstance(n, (int, np.integer)) and not isinstance(n, bool):
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        return (int(n),)
    if isinstance(n, tuple) and all(isinstance(s, (int, np.integer)) and s >= 0 for s in n):
        return tuple(int(s) for s in n)
    raise TypeError(f"n must be an int or a tuple of non-negative ints, got {n!r}")
