"""Fused Numba optimizer updates, opt-in with ``opt.fused = True`` (see :mod:`minigen.optim`).

One pass over memory per parameter instead of a dozen NumPy ufunc passes, in the
parameters' dtype (scalars are cast to it); results agree with the NumPy path to
float rounding. Not the default: on the benchmark machine it measured slower
(Adam, 2.4 M float32: 5.5 ms vs 3.7 ms for the NumPy ufuncs, serial or ``prange``;
the scalar float32 sqrt/divide loop does not vectorize), and ``prange`` launches
stalled for whole scheduler time slices when the machine was busy. Imported
lazily: importing :mod:`minigen.optim` never imports Numba.
"""

from __future__ import annotations

import math

from numba import njit


@njit(cache=True)
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


@njit(cache=True)
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
