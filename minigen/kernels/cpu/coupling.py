r"""Numba kernels for the coupling-layer family (see ``reference/coupling.py``).

A ``prange`` over chunks of rows (serial below ``PARALLEL_MIN_SIZE`` elements); each
row is a single fused pass computing the output and the float64 log-det (or, for the
backward, all three gradients). No ``fastmath``: ``exp`` is :func:`._vexp.vexp`, a
SIMD-vectorizable exp within a few ulp of NumPy's whose overflow to ``inf`` and underflow
to 0 match NumPy (libm's scalar ``exp`` would block vectorization). The log-det sum
uses four float64 partial sums so the additions do not form one long dependency chain
(the order differs from NumPy's pairwise sum by a few float64 ulps, far inside the 1e-12
parity tolerance).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..reference.coupling import (  # elementwise-trivial or tiny: NumPy is fine
    actnorm_backward,
    additive_coupling,
    additive_coupling_backward,
    lu_logabsdet,
)
from ._vexp import vexp

#: Below this many elements the kernels run on one thread: a parallel launch costs more
#: than it saves, and far more when the machine is oversubscribed.
PARALLEL_MIN_SIZE = 1 << 16


@njit(cache=True, inline="always")
def _rowsum(s, i):
    d = s.shape[1]
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    j = 0
    while j + 4 <= d:
        a0 += s[i, j]
        a1 += s[i, j + 1]
        a2 += s[i, j + 2]
        a3 += s[i, j + 3]
        j += 4
    while j < d:
        a0 += s[i, j]
        j += 1
    return (a0 + a1) + (a2 + a3)


@njit(cache=True)
def _affine_rows(x2, s, t, y2, logdet, inverse, lo, hi):
    d = x2.shape[1]
    for i in range(lo, hi):
        if inverse:
            for j in range(d):
                y2[i, j] = (x2[i, j] - t[i, j]) * vexp(-s[i, j])
            logdet[i] = -_rowsum(s, i)
        else:
            for j in range(d):
                y2[i, j] = x2[i, j] * vexp(s[i, j]) + t[i, j]
            logdet[i] = _rowsum(s, i)


@njit(cache=True)
def _affine_bwd_rows(x2, s, t, gy, glogdet, gx2, gs, gt, inverse, lo, hi):
    d = x2.shape[1]
    for i in range(lo, hi):
        gl = glogdet[i]
        if inverse:
            for j in range(d):
                g = gy[i, j] * vexp(-s[i, j])
                gx2[i, j] = g
                gs[i, j] = -(g * (x2[i, j] - t[i, j])) - gl
                gt[i, j] = -g
        else:
            for j in range(d):
                g = gy[i, j] * vexp(s[i, j])
                gx2[i, j] = g
                gs[i, j] = g * x2[i, j] + gl
                gt[i, j] = gy[i, j]


@njit(cache=True, parallel=True)
def _affine_par(x2, s, t, y2, logdet, inverse, n_chunks):
    n = x2.shape[0]
    for c in prange(n_chunks):
        _affine_rows(x2, s, t, y2, logdet, inverse, c * n // n_chunks, (c + 1) * n // n_chunks)


@njit(cache=True, parallel=True)
def _affine_bwd_par(x2, s, t, gy, glogdet, gx2, gs, gt, inverse, n_chunks):
    n = x2.shape[0]
    for c in prange(n_chunks):
        lo, hi = c * n // n_chunks, (c + 1) * n // n_chunks
        _affine_bwd_rows(x2, s, t, gy, glogdet, gx2, gs, gt, inverse, lo, hi)


def _n_chunks(x) -> int:
    """0 (run serially) below ``PARALLEL_MIN_SIZE`` elements, else row chunks for prange."""
    if x.size < PARALLEL_MIN_SIZE or x.shape[0] < 2:
        return 0
    return min(x.shape[0], 64)


def affine_coupling(x2, s, t, inverse=False):
    y2 = np.empty_like(x2)
    logdet = np.empty(x2.shape[0], dtype=np.float64)
    chunks = _n_chunks(x2)
    if chunks:
        _affine_par(x2, s, t, y2, logdet, bool(inverse), chunks)
    else:
        _affine_rows(x2, s, t, y2, logdet, bool(inverse), 0, x2.shape[0])
    return y2, logdet


def affine_coupling_backward(x2, s, t, gy, glogdet, inverse=False):
    gx2 = np.empty_like(x2)
    gs = np.empty_like(x2)
    gt = np.empty_like(x2)
    gl = glogdet.astype(x2.dtype)
    chunks = _n_chunks(x2)
    if chunks:
        _affine_bwd_par(x2, s, t, gy, gl, gx2, gs, gt, bool(inverse), chunks)
    else:
        _affine_bwd_rows(x2, s, t, gy, gl, gx2, gs, gt, bool(inverse), 0, x2.shape[0])
    return gx2, gs, gt


@njit(cache=True)
def _actnorm_rows(x, loc, log_scale, y, inverse, lo, hi):
    c, spatial = x.shape[1], x.shape[2]
    for i in range(lo, hi):
        for k in range(c):
            m = loc[k]
            if inverse:
                e = vexp(-log_scale[k])
                for j in range(spatial):
                    y[i, k, j] = x[i, k, j] * e - m
            else:
                e = vexp(log_scale[k])
                for j in range(spatial):
                    y[i, k, j] = (x[i, k, j] + m) * e


@njit(cache=True, parallel=True)
def _actnorm_par(x, loc, log_scale, y, inverse, n_chunks):
    n = x.shape[0]
    for c in prange(n_chunks):
        _actnorm_rows(x, loc, log_scale, y, inverse, c * n // n_chunks, (c + 1) * n // n_chunks)


def actnorm(x, loc, log_scale, inverse=False):
    y = np.empty_like(x)
    chunks = _n_chunks(x)
    if chunks:
        _actnorm_par(x, loc, log_scale, y, bool(inverse), chunks)
    else:
        _actnorm_rows(x, loc, log_scale, y, bool(inverse), 0, x.shape[0])
    total = float(x.shape[2]) * float(log_scale.sum(dtype=np.float64))
    return y, np.full(x.shape[0], -total if inverse else total, dtype=np.float64)


def warm_up() -> None:
    """Compile (or load from cache) every kernel of this module on tiny inputs: float32
    and float64, the serial row kernels and their ``prange`` versions (used from
    ``PARALLEL_MIN_SIZE`` elements on), affine coupling forward/backward and actnorm."""
    for dtype in (np.float32, np.float64):
        a, gl = np.zeros((2, 2), dtype), np.zeros(2)
        affine_coupling(a, a, a)
        affine_coupling_backward(a, a, a, a, gl)
        _affine_par(a, a, a, np.empty_like(a), np.empty(2), False, 1)
        _affine_bwd_par(a, a, a, a, gl.astype(dtype), np.empty_like(a), np.empty_like(a),
                        np.empty_like(a), False, 1)
        x3, loc = np.zeros((2, 2, 2), dtype), np.zeros(2, dtype)
        actnorm(x3, loc, loc)
        _actnorm_par(x3, loc, loc, np.empty_like(x3), False, 1)


__all__ = [
    "affine_coupling",
    "affine_coupling_backward",
    "additive_coupling",
    "additive_coupling_backward",
    "actnorm",
    "actnorm_backward",
    "lu_logabsdet",
]
