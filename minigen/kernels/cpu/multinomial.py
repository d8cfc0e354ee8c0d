"""Multinomial thresholding in Numba: running block sums into scratch, then a branch-free search.

Inputs under ``_SERIAL_BELOW`` elements run a serial twin of each kernel: waking the
thread pool costs more than the work there.

Follows :mod:`minigen.kernels.reference.multinomial` (see its docstring for the blocked
summation order); ``prange`` over rows, no ``(N, C)`` temporaries. The logits kernel
writes one row's weights ``exp(z)`` into a row buffer (L1-resident) with a SIMD loop
(:func:`._vexp.vexp`, within a few ulp of NumPy's ``exp``; libm's scalar ``exp`` kept the
loop scalar: 2.7x slower), then runs the weights kernel's row search on it; the indices
equal the reference's except when ``u * T`` falls within a few ulp of a partial sum.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._checks import first_bad
from ._vexp import vexp
from .philox import philox_uniform_f32, philox_uniform_f64


@njit(cache=True, inline="always")
def _tree(row, j):
    """Tree sum of the full block of 8 starting at ``j``."""
    v0, v1, v2, v3 = row[j], row[j + 1], row[j + 2], row[j + 3]
    v4, v5, v6, v7 = row[j + 4], row[j + 5], row[j + 6], row[j + 7]
    return ((v0 + v1) + (v2 + v3)) + ((v4 + v5) + (v6 + v7))


@njit(cache=True, inline="always")
def _has_negative(row):
    """Whether ``row`` has a negative entry: one SIMD loop over the row pass 1 just
    brought into the L1 cache (a compare inside pass 1's block trees broke their
    vectorization: 1.6x slower). NaN and inf need no test: they make the total NaN/inf."""
    neg = False
    for j in range(row.shape[0]):
        neg |= row[j] < 0
    return neg


@njit(cache=True, inline="always")
def _tail_tree(row, j, c):
    """Tree sum of the last, partial block ``row[j:c]`` padded with zeros."""
    z = row[0] - row[0]
    v = [z, z, z, z, z, z, z, z]
    for k in range(j, c):
        v[k - j] = row[k]
    return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]))


@njit(cache=True, inline="always")
def _last_positive(row, lo, hi):
    for j in range(hi - 1, lo - 1, -1):
        if row[j] > 0:
            return j
    return lo


@njit(cache=True, inline="always")
def _row(row, u_i, B):
    """Index for one row of weights, or -1 when the row is invalid (a negative, NaN or
    infinite weight, a zero or overflowing total, ``u`` outside [0, 1)): checked on the
    values pass 1 reads anyway. ``B`` is scratch for the running block sums (>= C / 8)."""
    c = row.shape[0]
    nfull = c // 8
    nb = (c + 7) // 8
    cum = row[0] - row[0]
    for b in range(nfull):  # pass 1: B_b = running sum of block tree sums
        cum += _tree(row, 8 * b)
        B[b] = cum
    if nb > nfull:
        cum += _tail_tree(row, 8 * nfull, c)
        B[nfull] = cum
    # a NaN total fails both tests; an inf weight or an overflowing sum makes it inf
    if not (cum > 0 and cum < np.inf) or not (u_i >= 0 and u_i < 1) or _has_negative(row):
        return -1
    t = u_i * np.float64(cum)
    b = 0  # first block with B_b > t: B is non-decreasing, so count the others (no branches)
    for q in range(nb):
        b += np.float64(B[q]) <= t
    if b == nb:  # u * T rounded up to T: the last positive weight
        return _last_positive(row, 0, c)
    s = B[b - 1] if b > 0 else cum - cum
    hi = min(8 * b + 8, c)
    for k in range(8 * b, hi):
        s += row[k]
        if np.float64(s) > t:
            return k
    return _last_positive(row, 8 * b, hi)


@njit(cache=True, inline="always")
def _row_uniform(u, use_seed, seed, offset, i, is32):
    if not use_seed:
        return np.float64(u[i])
    pos = np.uint64(offset) + np.uint64(i)
    if is32:
        return np.float64(philox_uniform_f32(np.uint64(seed), pos))
    return philox_uniform_f64(np.uint64(seed), pos)


_CHUNK = 256  # rows per parallel task (one scratch buffer each)
_SERIAL_BELOW = 1 << 17  # N * C under which the serial kernels run (no thread wake-up)


@njit(cache=True, inline="always")
def _threshold_rows(w, u, use_seed, seed, offset, is32, lo, hi, out):
    """Rows ``lo:hi`` into ``out``; returns the first invalid row (its search is skipped
    and the rest of the range too: the call raises), or -1."""
    B = np.empty((w.shape[1] + 7) // 8, dtype=w.dtype)
    for i in range(lo, hi):
        row = w[i]
        u_i = _row_uniform(u, use_seed, seed, offset, i, is32)
        k = _row(row, u_i, B)
        if k < 0:
            return i
        out[i] = k
    return -1


@njit(cache=True, inline="always")
def _logit_weights(row, tau, log_tiny, buf):
    """``buf[j] = exp(z_j)``, ``z_j = (l_j - max l) / tau``, and 0 where ``z_j <= log(tiny)``
    (``reference.multinomial.log_tiny``: no subnormals in the sums); ``+ (z - z)`` keeps a
    NaN ``z`` (a NaN or +inf logit, a row of -inf) NaN, so the total is NaN: that is the
    logits kernel's value check."""
    m = row[0]
    for j in range(1, row.shape[0]):
        m = max(m, row[j])
    zero = row.dtype.type(0)
    for j in range(row.shape[0]):
        z = (row[j] - m) / tau
        e = vexp(z) + (z - z)
        buf[j] = zero if z <= log_tiny else e


@njit(cache=True, inline="always")
def _logits_rows(x, u, use_seed, seed, offset, is32, temperature, lo, hi, out):
    c = x.shape[1]
    B = np.empty((c + 7) // 8, dtype=x.dtype)
    buf = np.empty(c, dtype=x.dtype)
    log_tiny = x.dtype.type(np.log(np.float64(np.finfo(x.dtype).tiny)))
    for i in range(lo, hi):
        _logit_weights(x[i], temperature, log_tiny, buf)
        u_i = _row_uniform(u, use_seed, seed, offset, i, is32)
        k = _row(buf, u_i, B)
        if k < 0:
            return i
        out[i] = k
    return -1


@njit(cache=True, parallel=True)
def _threshold(w, u, use_seed, seed, offset, is32, out):
    n = w.shape[0]
    bad = np.empty((n + _CHUNK - 1) // _CHUNK, np.int64)
    for ch in prange(bad.shape[0]):
        lo = ch * _CHUNK
        bad[ch] = _threshold_rows(w, u, use_seed, seed, offset, is32, lo, min(n, lo + _CHUNK),
                                  out)
    return first_bad(bad)


@njit(cache=True)
def _threshold_serial(w, u, use_seed, seed, offset, is32, out):
    return _threshold_rows(w, u, use_seed, seed, offset, is32, 0, w.shape[0], out)


@njit(cache=True, parallel=True)
def _logits(x, u, use_seed, seed, offset, is32, temperature, out):
    n = x.shape[0]
    bad = np.empty((n + _CHUNK - 1) // _CHUNK, np.int64)
    for ch in prange(bad.shape[0]):
        lo = ch * _CHUNK
        bad[ch] = _logits_rows(x, u, use_seed, seed, offset, is32, temperature, lo,
                               min(n, lo + _CHUNK), out)
    return first_bad(bad)


@njit(cache=True)
def _logits_serial(x, u, use_seed, seed, offset, is32, temperature, out):
    return _logits_rows(x, u, use_seed, seed, offset, is32, temperature, 0, x.shape[0], out)


_NO_U = np.zeros(1, dtype=np.float64)


def _args(dtype, u, seed, offset):
    is32 = dtype == np.float32
    if u is None:
        return _NO_U, True, np.uint64(seed), np.uint64(offset), is32
    return u, False, np.uint64(0), np.uint64(0), is32


def multinomial_threshold_checked(weights, u=None, seed=None, offset=0):
    """``(k, bad)``: the indices and the first invalid row (-1 if none); ``u`` float32 or
    float64 (read as is), ``weights`` C-contiguous. Rows from ``bad`` on are not filled."""
    out = np.empty(weights.shape[0], dtype=np.int64)
    bad = -1
    if weights.shape[0]:
        kernel = _threshold_serial if weights.size < _SERIAL_BELOW else _threshold
        bad = kernel(weights, *_args(weights.dtype, u, seed, offset), out)
    return out, int(bad)


def categorical_from_logits_checked(logits, u=None, seed=None, offset=0, temperature=1.0):
    """``(k, bad)``, as :func:`multinomial_threshold_checked`, for logits."""
    out = np.empty(logits.shape[0], dtype=np.int64)
    bad = -1
    if logits.shape[0]:
        kernel = _logits_serial if logits.size < _SERIAL_BELOW else _logits
        bad = kernel(logits, *_args(logits.dtype, u, seed, offset),
                     logits.dtype.type(temperature), out)
    return out, int(bad)


def multinomial_threshold(weights, u=None, seed=None, offset=0):
    """See :func:`minigen.kernels.reference.multinomial.multinomial_threshold` (valid
    input assumed: an invalid row's index is left unset)."""
    return multinomial_threshold_checked(weights, u, seed, offset)[0]


def categorical_from_logits(logits, u=None, seed=None, offset=0, temperature=1.0):
    """See :func:`minigen.kernels.reference.multinomial.categorical_from_logits`."""
    return categorical_from_logits_checked(logits, u, seed, offset, temperature)[0]


def warm_up() -> None:
    """Compile (or load from cache) every kernel of this module on tiny inputs: float32
    and float64 weights, with float32 or float64 uniforms or in-kernel Philox."""
    out = np.empty(2, dtype=np.int64)
    for dtype in (np.float32, np.float64):
        w = np.ones((2, 3), dtype=dtype)
        for u in (np.zeros(2), np.zeros(2, np.float32), None):
            args = _args(w.dtype, u, 1, 0)
            for kernel in (_threshold, _threshold_serial):
                kernel(w, *args, out)
            for kernel in (_logits, _logits_serial):
                kernel(w, *args, dtype(1.0), out)
