r"""Numba kernels for the coupling-layer family (see ``reference/coupling.py``).

A ``prange`` over chunks of rows (serial below ``PARALLEL_MIN_SIZE`` elements); each
row is a single fused pass computing the output and the float64 log-det (or, for the
backward, all three gradients). Each kernel also counts, in the same pass, the outputs
that are not finite (a NaN or inf input always makes one so, except an infinite ``s``
in the backward, which is compared too) and returns the first such row: the
``*_checked`` functions return ``(result, row or -1)``, and the wrapper looks at the
inputs only then (a NaN input is an error; an overflow of finite inputs is recomputed by
the reference, whose products with a zero factor are exactly zero).

No ``fastmath``: ``exp`` is :func:`._vexp.vexp`, a SIMD-vectorizable exp within a few ulp
of NumPy's whose overflow to ``inf`` and underflow to 0 match NumPy (libm's scalar ``exp``
would block vectorization). The log-det sum
uses four float64 partial sums so the additions do not form one long dependency chain
(the order differs from NumPy's pairwise sum by a few float64 ulps, far inside the 1e-12
parity tolerance).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..reference.coupling import lu_logabsdet  # tiny: NumPy is fine
from ._checks import first_bad, not_finite
from ._chunks import n_chunks, run_rows
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
    """Rows ``lo:hi``; returns the first row whose output or log-det is not finite, or -1
    (a NaN or inf in ``x2``, ``s`` or ``t`` always makes one of them non-finite)."""
    d = x2.shape[1]
    big = x2.dtype.type(np.finfo(x2.dtype).max)
    first = -1
    for i in range(lo, hi):
        nbad = 0
        if inverse:
            for j in range(d):
                y = (x2[i, j] - t[i, j]) * vexp(-s[i, j])
                y2[i, j] = y
                nbad += not_finite(y, big)
            logdet[i] = -_rowsum(s, i)
        else:
            for j in range(d):
                y = x2[i, j] * vexp(s[i, j]) + t[i, j]
                y2[i, j] = y
                nbad += not_finite(y, big)
            logdet[i] = _rowsum(s, i)
        if first < 0 and (nbad or not np.isfinite(logdet[i])):
            first = i
    return first


@njit(cache=True)
def _affine_bwd_rows(x2, s, t, gy, glogdet, gx2, gs, gt, inverse, lo, hi):
    """Rows ``lo:hi``; returns the first row with a non-finite gradient or ``s`` (an
    infinite ``s`` can leave every gradient finite: ``e^{-inf} = 0``), or -1."""
    d = x2.shape[1]
    big = x2.dtype.type(np.finfo(x2.dtype).max)
    first = -1
    for i in range(lo, hi):
        gl = glogdet[i]
        nbad = 0
        if inverse:
            for j in range(d):
                g = gy[i, j] * vexp(-s[i, j])
                gx2[i, j] = g
                o = -(g * (x2[i, j] - t[i, j])) - gl
                gs[i, j] = o
                gt[i, j] = -g
                nbad += not_finite(o, big) + not_finite(s[i, j], big)  # g is part of o
        else:
            for j in range(d):
                g = gy[i, j] * vexp(s[i, j])
                gx2[i, j] = g
                o = g * x2[i, j] + gl
                gs[i, j] = o
                gt[i, j] = gy[i, j]
                nbad += not_finite(o, big) + not_finite(s[i, j], big)  # g is part of o
        if first < 0 and nbad:
            first = i
    return first


@njit(cache=True, parallel=True)
def _affine_par(x2, s, t, y2, logdet, inverse, n_chunks):
    n = x2.shape[0]
    bad = np.empty(n_chunks, np.int64)
    for c in prange(n_chunks):
        bad[c] = _affine_rows(x2, s, t, y2, logdet, inverse, c * n // n_chunks,
                              (c + 1) * n // n_chunks)
    return first_bad(bad)


@njit(cache=True, parallel=True)
def _affine_bwd_par(x2, s, t, gy, glogdet, gx2, gs, gt, inverse, n_chunks):
    n = x2.shape[0]
    bad = np.empty(n_chunks, np.int64)
    for c in prange(n_chunks):
        lo, hi = c * n // n_chunks, (c + 1) * n // n_chunks
        bad[c] = _affine_bwd_rows(x2, s, t, gy, glogdet, gx2, gs, gt, inverse, lo, hi)
    return first_bad(bad)


def affine_coupling_checked(x2, s, t, inverse=False):
    """``((y2, logdet), first row with a non-finite output or log-det, or -1)``."""
    y2 = np.empty_like(x2)
    logdet = np.empty(x2.shape[0], dtype=np.float64)
    bad = run_rows(_affine_rows, _affine_par, x2, PARALLEL_MIN_SIZE,
                   x2, s, t, y2, logdet, bool(inverse))
    return (y2, logdet), int(bad)


def affine_coupling(x2, s, t, inverse=False):
    return affine_coupling_checked(x2, s, t, inverse)[0]


def affine_coupling_backward_checked(x2, s, t, gy, glogdet, inverse=False):
    """``((gx2, gs, gt), first row with a non-finite gradient or s, or -1)``."""
    gx2 = np.empty_like(x2)
    gs = np.empty_like(x2)
    gt = np.empty_like(x2)
    gl = glogdet.astype(x2.dtype)
    bad = run_rows(_affine_bwd_rows, _affine_bwd_par, x2, PARALLEL_MIN_SIZE,
                   x2, s, t, gy, gl, gx2, gs, gt, bool(inverse))
    return (gx2, gs, gt), int(bad)


def affine_coupling_backward(x2, s, t, gy, glogdet, inverse=False):
    return affine_coupling_backward_checked(x2, s, t, gy, glogdet, inverse)[0]


@njit(cache=True)
def _actnorm_rows(x, loc, log_scale, y, inverse, lo, hi):
    """Rows ``lo:hi`` of ``x (N, C, L)``; returns the first with a non-finite output."""
    c, spatial = x.shape[1], x.shape[2]
    big = x.dtype.type(np.finfo(x.dtype).max)
    first = -1
    for i in range(lo, hi):
        nbad = 0
        for k in range(c):
            m = loc[k]
            if inverse:
                e = vexp(-log_scale[k])
                for j in range(spatial):
                    v = x[i, k, j] * e - m
                    y[i, k, j] = v
                    nbad += not_finite(v, big)
            else:
                e = vexp(log_scale[k])
                for j in range(spatial):
                    v = (x[i, k, j] + m) * e
                    y[i, k, j] = v
                    nbad += not_finite(v, big)
        if first < 0 and nbad:
            first = i
    return first


@njit(cache=True, parallel=True)
def _actnorm_par(x, loc, log_scale, y, inverse, n_chunks):
    n = x.shape[0]
    bad = np.empty(n_chunks, np.int64)
    for c in prange(n_chunks):
        bad[c] = _actnorm_rows(x, loc, log_scale, y, inverse, c * n // n_chunks,
                               (c + 1) * n // n_chunks)
    return first_bad(bad)


def actnorm_checked(x, loc, log_scale, inverse=False):
    """``((y, logdet), first row with a non-finite output, or -1)``."""
    y = np.empty_like(x)
    bad = run_rows(_actnorm_rows, _actnorm_par, x, PARALLEL_MIN_SIZE,
                   x, loc, log_scale, y, bool(inverse))
    total = float(x.shape[2]) * float(log_scale.sum(dtype=np.float64))
    return (y, np.full(x.shape[0], -total if inverse else total, dtype=np.float64)), int(bad)


def actnorm(x, loc, log_scale, inverse=False):
    return actnorm_checked(x, loc, log_scale, inverse)[0]


@njit(cache=True)
def _actnorm_bwd_rows(x, loc, log_scale, gy, inverse, gx, sum_loc, sum_log, lo, hi):
    """Rows ``lo:hi``: ``gx = gy e^{+-ls}`` and this chunk's per-channel float64 sums
    for ``gloc`` and ``glog_scale``; returns the first row with a non-finite ``gx`` or
    sum term, or -1."""
    c, spatial = x.shape[1], x.shape[2]
    big = 1.7976931348623157e308  # the sums are float64
    first = -1
    for i in range(lo, hi):
        nbad = 0
        for k in range(c):
            m = loc[k]
            e = vexp(-log_scale[k]) if inverse else vexp(log_scale[k])
            a_loc = 0.0
            a_log = 0.0
            for j in range(spatial):
                g = gy[i, k, j] * e
                gx[i, k, j] = g
                if inverse:
                    a_loc += gy[i, k, j]
                    a_log += g * x[i, k, j]
                else:
                    a_loc += g
                    a_log += g * (x[i, k, j] + m)
            nbad += not_finite(a_log, big) + not_finite(a_loc, big)
            sum_loc[k] += a_loc
            sum_log[k] += a_log
        if first < 0 and nbad:
            first = i
    return first


@njit(cache=True, parallel=True)
def _actnorm_bwd_par(x, loc, log_scale, gy, inverse, gx, sum_loc, sum_log, n_chunks):
    n = x.shape[0]
    bad = np.empty(n_chunks, np.int64)
    for ch in prange(n_chunks):
        bad[ch] = _actnorm_bwd_rows(x, loc, log_scale, gy, inverse, gx, sum_loc[ch],
                                    sum_log[ch], ch * n // n_chunks, (ch + 1) * n // n_chunks)
    return first_bad(bad)


def actnorm_backward_checked(x, loc, log_scale, gy, glogdet, inverse=False):
    """``((gx, gloc, glog_scale), first row with a non-finite gradient term, or -1)``;
    ``gloc``/``glog_scale`` summed in float64 per chunk of rows, then over chunks."""
    n, c, spatial = x.shape
    gx = np.empty_like(x)
    chunks = n_chunks(x, PARALLEL_MIN_SIZE) or 1
    sum_loc, sum_log = np.zeros((chunks, c)), np.zeros((chunks, c))
    if chunks > 1:
        bad = _actnorm_bwd_par(x, loc, log_scale, gy, bool(inverse), gx, sum_loc, sum_log,
                               chunks)
    else:
        bad = _actnorm_bwd_rows(x, loc, log_scale, gy, bool(inverse), gx, sum_loc[0],
                                sum_log[0], 0, n)
    gl_total = float(glogdet.sum(dtype=np.float64)) * spatial
    gloc, glog = sum_loc.sum(axis=0), sum_log.sum(axis=0)
    if inverse:
        gloc, glog = -gloc, -glog - gl_total
    else:
        glog = glog + gl_total
    if bad < 0 and not np.isfinite(gl_total):
        bad = int(np.flatnonzero(~np.isfinite(glogdet))[0]) if n else -1
    return (gx, gloc.astype(x.dtype), glog.astype(x.dtype)), int(bad)


def actnorm_backward(x, loc, log_scale, gy, glogdet, inverse=False):
    return actnorm_backward_checked(x, loc, log_scale, gy, glogdet, inverse)[0]


@njit(cache=True)
def _additive_rows(x2, t, y2, sign, lo, hi):
    """``y2 = x2 + sign * t`` on rows ``lo:hi``; the first row with a non-finite output."""
    big = x2.dtype.type(np.finfo(x2.dtype).max)
    first = -1
    for i in range(lo, hi):
        nbad = 0
        for j in range(x2.shape[1]):
            v = x2[i, j] + sign * t[i, j]
            y2[i, j] = v
            nbad += not_finite(v, big)
        if first < 0 and nbad:
            first = i
    return first


@njit(cache=True, parallel=True)
def _additive_par(x2, t, y2, sign, n_chunks):
    n = x2.shape[0]
    bad = np.empty(n_chunks, np.int64)
    for c in prange(n_chunks):
        bad[c] = _additive_rows(x2, t, y2, sign, c * n // n_chunks, (c + 1) * n // n_chunks)
    return first_bad(bad)


@njit(cache=True)
def _copy2_rows(gy, a, b, sign, lo, hi):
    """``a = gy``, ``b = sign * gy`` on rows ``lo:hi``; the first row with a NaN or inf."""
    big = gy.dtype.type(np.finfo(gy.dtype).max)
    first = -1
    for i in range(lo, hi):
        nbad = 0
        for j in range(gy.shape[1]):
            v = gy[i, j]
            a[i, j] = v
            b[i, j] = sign * v
            nbad += not_finite(v, big)
        if first < 0 and nbad:
            first = i
    return first


@njit(cache=True, parallel=True)
def _copy2_par(gy, a, b, sign, n_chunks):
    n = gy.shape[0]
    bad = np.empty(n_chunks, np.int64)
    for c in prange(n_chunks):
        bad[c] = _copy2_rows(gy, a, b, sign, c * n // n_chunks, (c + 1) * n // n_chunks)
    return first_bad(bad)


def additive_coupling_checked(x2, t, inverse=False):
    """``(y2, first row with a non-finite output, or -1)``."""
    y2 = np.empty_like(x2)
    sign = x2.dtype.type(-1 if inverse else 1)
    bad = run_rows(_additive_rows, _additive_par, x2, PARALLEL_MIN_SIZE, x2, t, y2, sign)
    return y2, int(bad)


def additive_coupling(x2, t, inverse=False):
    return additive_coupling_checked(x2, t, inverse)[0]


def additive_coupling_backward_checked(gy, inverse=False):
    """``((gx2, gt), first row of gy with a NaN or inf, or -1)``."""
    gx2, gt = np.empty_like(gy), np.empty_like(gy)
    sign = gy.dtype.type(-1 if inverse else 1)
    bad = run_rows(_copy2_rows, _copy2_par, gy, PARALLEL_MIN_SIZE, gy, gx2, gt, sign)
    return (gx2, gt), int(bad)


def additive_coupling_backward(gy, inverse=False):
    return additive_coupling_backward_checked(gy, inverse)[0]


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
        actnorm_backward(x3, loc, loc, x3, gl)
        _actnorm_bwd_par(x3, loc, loc, x3, False, np.empty_like(x3), np.zeros((1, 2)),
                         np.zeros((1, 2)), 1)
        additive_coupling(a, a)
        additive_coupling_backward(a)
        _additive_par(a, a, np.empty_like(a), dtype(1), 1)
        _copy2_par(a, np.empty_like(a), np.empty_like(a), dtype(1), 1)


__all__ = [
    "affine_coupling_checked",
    "affine_coupling_backward_checked",
    "additive_coupling_checked",
    "additive_coupling_backward_checked",
    "actnorm_checked",
    "actnorm_backward_checked",
    "affine_coupling",
    "affine_coupling_backward",
    "additive_coupling",
    "additive_coupling_backward",
    "actnorm",
    "actnorm_backward",
    "lu_logabsdet",
]
