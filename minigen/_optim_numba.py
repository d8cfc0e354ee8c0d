"""Fused Numba optimizer updates (see :mod:`minigen.optim`: on by default on the ``numba``
backend, ``opt.fused``).

One pass over memory per parameter instead of a dozen NumPy ufunc passes, in the
parameters' dtype (scalars are cast to it); results agree with the NumPy path to
float rounding. ``error_model="numpy"`` is what makes it fast: with Numba's default
("python") every ``/`` carries a zero-division check, which keeps the loop from
vectorizing; Adam on 10.3 M float32 took 39.9 ms that way, 6.0 ms with the numpy error
model, against 31.2 ms for the NumPy ufuncs (``python bench/adam_step.py``, 2026-12-08,
one thread; bench/README.md).
The divisor here is never 0 (``eps > 0``, ``k > 0``). Serial, not ``prange``: launches
stalled for whole scheduler time slices when the machine was busy. Imported lazily:
importing :mod:`minigen.optim` never imports Numba.
"""

from __future__ import annotations

import math

from numba import njit


@njit(cache=True, error_model="numpy")
def adam_update(p, g, m, v, b1, omb1, b2, omb2, inv_c, eps, k, l2, decay):  # pragma: no cover
    """Flat arrays, in place. Scalars come in the arrays' dtype (float32 stays float32,
    so the loop vectorizes); ``omb1 = 1 - b1``, ``omb2 = 1 - b2``::

        g' = g + l2 p;  m <- b1 m + omb1 g';  v <- b2 v + omb2 g'^2
        p <- decay p - m / ((sqrt(v) inv_c + eps) k)
    """
    for i in range(p.size):
        pi = p[i]
        gi = g[i] + l2 * pi
        mi = b1 * m[i] + omb1 * gi
        vi = b2 * v[i] + omb2 * (gi * gi)
        m[i] = mi
        v[i] = vi
        p[i] = decay * pi - mi / ((math.sqrt(vi) * inv_c + eps) * k)


@njit(cache=True, error_model="numpy")
def sgd_momentum_update(p, g, b, mu, lr, wd, first, nesterov):  # pragma: no cover - jitted
    """Flat arrays, in place: heavy-ball or Nesterov momentum with L2 ``wd``."""
    for i in range(p.size):
        gi = g[i] + wd * p[i]
        bi = gi if first else mu * b[i] + gi
        b[i] = bi
        if nesterov:
            p[i] = p[i] - (lr * gi + (mu * lr) * bi)
        else:
            p[i] = p[i] - lr * bi


def warm_up() -> None:
    """Compile (or load from cache) both updates for float32 and float64 parameters, with
    the argument types :mod:`minigen.optim` passes (scalars in the arrays' dtype)."""
    import numpy as np

    for dt in (np.float32, np.float64):
        a = [np.zeros(4, dt) for _ in range(4)]
        f = np.dtype(dt).type
        adam_update(*a, *(f(x) for x in (0.9, 0.1, 0.999, 0.001, 1.0, 1e-8, 1.0, 0.0, 1.0)))
        sgd_momentum_update(*a[:3], f(0.9), f(0.1), f(0.0), True, False)
