"""Fused Numba optimizer updates (used by :mod:`minigen.optim` on the ``numba`` backend).

One pass over memory per parameter instead of a dozen NumPy ufunc passes; every
element is independent, so ``prange`` keeps the result deterministic. The
arithmetic is the NumPy path's, in float64 registers (so float32 results can
differ from the NumPy path in the last bit, never more than float rounding).
Imported lazily: importing :mod:`minigen.optim` never imports Numba.
"""

from __future__ import annotations

import math

from numba import njit, prange


@njit(cache=True, parallel=True)
def adam_update(p, g, m, v, b1, b2, inv_c, eps, k, l2, decay):  # pragma: no cover - jitted
    """Flat arrays, in place: ``p <- decay*p - m / ((sqrt(v) inv_c + eps) k)`` after the moments."""
    for i in prange(p.size):
        pi = p[i]
        gi = g[i] + l2 * pi
        mi = b1 * m[i] + (1.0 - b1) * gi
        vi = b2 * v[i] + (1.0 - b2) * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] = decay * pi - mi / ((math.sqrt(vi) * inv_c + eps) * k)


@njit(cache=True, parallel=True)
def sgd_momentum_update(p, g, b, mu, lr, wd, first, nesterov):  # pragma: no cover - jitted
    """Flat arrays, in place: heavy-ball or Nesterov momentum with L2 ``wd``."""
    for i in prange(p.size):
        gi = g[i] + wd * p[i]
        bi = gi if first else mu * b[i] + gi
        b[i] = bi
        if nesterov:
            p[i] = p[i] - lr * (gi + mu * bi)
        else:
            p[i] = p[i] - lr * bi
