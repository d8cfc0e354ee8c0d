"""Multinomial thresholding in Numba: a pass of block sums for the total, then a block scan.

Follows :mod:`minigen.kernels.reference.multinomial` bit for bit (see its docstring for the
blocked summation order); ``prange`` over rows, no ``(N, C)`` temporaries: the logits
kernel recomputes ``exp`` where it needs a value again.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .philox import philox_uniform_f32, philox_uniform_f64


@njit(cache=True, inline="always")
def _val(row, j, c, m, tau, logits):
    """Weight ``j`` of the row (0 past the end); for logits ``exp((l_j - m) / tau)``."""
    if j >= c:
        return m - m
    if logits:
        return np.exp((row[j] - m) / tau)
    return row[j]


@njit(cache=True, inline="always")
def _bsum(row, j, c, m, tau, logits):
    """Tree sum of the block starting at ``j``."""
    if j + 8 <= c and not logits:
        return ((row[j] + row[j + 1]) + (row[j + 2] + row[j + 3])) + (
            (row[j + 4] + row[j + 5]) + (row[j + 6] + row[j + 7])
        )
    v0, v1 = _val(row, j, c, m, tau, logits), _val(row, j + 1, c, m, tau, logits)
    v2, v3 = _val(row, j + 2, c, m, tau, logits), _val(row, j + 3, c, m, tau, logits)
    v4, v5 = _val(row, j + 4, c, m, tau, logits), _val(row, j + 5, c, m, tau, logits)
    v6, v7 = _val(row, j + 6, c, m, tau, logits), _val(row, j + 7, c, m, tau, logits)
    return ((v0 + v1) + (v2 + v3)) + ((v4 + v5) + (v6 + v7))


@njit(cache=True, inline="always")
def _last_positive(row, lo, hi, c, m, tau, logits):
    for j in range(min(hi, c) - 1, lo - 1, -1):
        if _val(row, j, c, m, tau, logits) > 0:
            return j
    return lo


@njit(cache=True, inline="always")
def _row(row, u_i, m, tau, logits):
    c = row.shape[0]
    total = m - m
    for j in range(0, c, 8):
        total += _bsum(row, j, c, m, tau, logits)
    t = u_i * np.float64(total)
    cum = m - m
    for j in range(0, c, 8):
        nxt = cum + _bsum(row, j, c, m, tau, logits)
        if np.float64(nxt) > t:
            s = cum
            for k in range(j, min(j + 8, c)):
                s += _val(row, k, c, m, tau, logits)
                if np.float64(s) > t:
                    return k
            return _last_positive(row, j, j + 8, c, m, tau, logits)
        cum = nxt
    return _last_positive(row, 0, c, c, m, tau, logits)


@njit(cache=True, inline="always")
def _row_uniform(u, use_seed, seed, offset, i, is32):
    if not use_seed:
        return np.float64(u[i])
    pos = np.uint64(offset) + np.uint64(i)
    if is32:
        return np.float64(philox_uniform_f32(np.uint64(seed), pos))
    return philox_uniform_f64(np.uint64(seed), pos)


@njit(cache=True, parallel=True)
def _threshold(w, u, use_seed, seed, offset, is32, out):
    for i in prange(w.shape[0]):
        row = w[i]
        u_i = _row_uniform(u, use_seed, seed, offset, i, is32)
        out[i] = _row(row, u_i, row[0] - row[0], row[0] - row[0] + 1, False)


@njit(cache=True, parallel=True)
def _logits(x, u, use_seed, seed, offset, is32, temperature, out):
    for i in prange(x.shape[0]):
        row = x[i]
        m = row[0]
        for j in range(1, row.shape[0]):
            if row[j] > m:
                m = row[j]
        tau = m - m + temperature  # temperature in the logits' dtype
        u_i = _row_uniform(u, use_seed, seed, offset, i, is32)
        out[i] = _row(row, u_i, m, tau, True)


def _args(dtype, u, seed, offset):
    is32 = dtype == np.float32
    if u is None:
        return np.zeros(1, dtype=np.float64), True, np.uint64(seed), np.uint64(offset), is32
    return u, False, np.uint64(0), np.uint64(0), is32


def multinomial_threshold(weights, u=None, seed=None, offset=0):
    """See :func:`minigen.kernels.reference.multinomial.multinomial_threshold`."""
    out = np.empty(weights.shape[0], dtype=np.int64)
    if weights.shape[0]:
        _threshold(weights, *_args(weights.dtype, u, seed, offset), out)
    return out


def categorical_from_logits(logits, u=None, seed=None, offset=0, temperature=1.0):
    """See :func:`minigen.kernels.reference.multinomial.categorical_from_logits`."""
    out = np.empty(logits.shape[0], dtype=np.int64)
    if logits.shape[0]:
        _logits(logits, *_args(logits.dtype, u, seed, offset), float(temperature), out)
    return out




def warm_up() -> None:
    """Compile (or load from cache) every kernel of this module on tiny inputs."""
    for dtype in (np.float32, np.float64):
        w = np.ones((2, 3), dtype=dtype)
        u = np.zeros(2)
        multinomial_threshold(w, u)
        multinomial_threshold(w, None, 1, 0)
        categorical_from_logits(w, u)
        categorical_from_logits(w, None, 1, 0)
