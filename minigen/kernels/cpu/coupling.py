r"""Numba kernels for the coupling-layer family (see ``reference/coupling.py``).

One ``prange`` over rows; each row is a single fused pass computing the output,
and the float64 log-det (or, for the backward, all three gradients). No
``fastmath``: ``exp`` is :func:`._vexp.vexp`, a vectorizable exp within a few ulp of
NumPy's whose overflow to ``inf`` and underflow to 0 match NumPy. The
log-det sum uses four float64 partial sums so the additions do not form one
long dependency chain (the order differs from NumPy's pairwise sum by a few
float64 ulps, far inside the 1e-12 parity tolerance).
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


@njit(cache=True, parallel=True)
def _affine_fwd(x2, s, t, y2, logdet):
    n, d = x2.shape
    for i in prange(n):
        for j in range(d):
            y2[i, j] = x2[i, j] * vexp(s[i, j]) + t[i, j]
        logdet[i] = _rowsum(s, i)


@njit(cache=True, parallel=True)
def _affine_inv(x2, s, t, y2, logdet):
    n, d = x2.shape
    for i in prange(n):
        for j in range(d):
            y2[i, j] = (x2[i, j] - t[i, j]) * vexp(-s[i, j])
        logdet[i] = -_rowsum(s, i)


@njit(cache=True, parallel=True)
def _affine_bwd(x2, s, t, gy, glogdet, gx2, gs, gt, inverse):
    n, d = x2.shape
    for i in prange(n):
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


def affine_coupling(x2, s, t, inverse=False):
    y2 = np.empty_like(x2)
    logdet = np.empty(x2.shape[0], dtype=np.float64)
    (_affine_inv if inverse else _affine_fwd)(x2, s, t, y2, logdet)
    return y2, logdet


def affine_coupling_backward(x2, s, t, gy, glogdet, inverse=False):
    gx2 = np.empty_like(x2)
    gs = np.empty_like(x2)
    gt = np.empty_like(x2)
    gl = glogdet.astype(x2.dtype)
    _affine_bwd(x2, s, t, gy, gl, gx2, gs, gt, bool(inverse))
    return gx2, gs, gt


@njit(cache=True, parallel=True)
def _actnorm(x, loc, log_scale, y, inverse):
    n, c, spatial = x.shape
    for i in prange(n):
        for k in range(c):
            if inverse:
                e = vexp(-log_scale[k])
                m = loc[k]
                for j in range(spatial):
                    y[i, k, j] = x[i, k, j] * e - m
            else:
                e = vexp(log_scale[k])
                m = loc[k]
                for j in range(spatial):
                    y[i, k, j] = (x[i, k, j] + m) * e


def actnorm(x, loc, log_scale, inverse=False):
    y = np.empty_like(x)
    _actnorm(x, loc, log_scale, y, bool(inverse))
    total = float(x.shape[2]) * float(log_scale.sum(dtype=np.float64))
    return y, np.full(x.shape[0], -total if inverse else total, dtype=np.float64)


__all__ = [
    "affine_coupling",
    "affine_coupling_backward",
    "additive_coupling",
    "additive_coupling_backward",
    "actnorm",
    "actnorm_backward",
    "lu_logabsdet",
]
