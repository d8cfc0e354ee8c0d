"""Numba kernels for the Gibbs family (see :mod:`minigen.kernels.reference.gibbs`).

The matrix products go through NumPy's BLAS (the same call as the reference, so the
pre-activations are bit-identical); sigmoid and the Bernoulli threshold are fused in
one SIMD-vectorized pass (``vexp``; Philox blocks computed four at a time).

The RBM element-wise kernels are deliberately *not* ``parallel``: BLAS worker threads
keep spinning for a while after each matrix product, and a Numba thread pool started
right after them fights them for the same cores (measured 3-5x slower than serial on
2 cores). Serial and vectorized, the pass costs ~20-40% of the two products.
``bm_gibbs_sweep`` (no BLAS) runs ``prange`` over chains.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._vexp import vexp
from .philox import philox_block, philox_uniform_f32, philox_uniform_f64


@njit(cache=True)
def _sigmoid_bernoulli(a, bias, u, p, s):
    """In place: ``p = sigmoid(a + bias)``, ``s = (u < p)``; rows in parallel."""
    one = a.dtype.type(1.0)
    zero = a.dtype.type(0.0)
    for r in prange(a.shape[0]):
        for j in range(a.shape[1]):
            pj = one / (one + vexp(-(a[r, j] + bias[j])))
            p[r, j] = pj
            s[r, j] = one if u[r, j] < pj else zero


@njit(cache=True)
def _sigmoid(a, bias, p):
    one = a.dtype.type(1.0)
    for r in prange(a.shape[0]):
        for j in range(a.shape[1]):
            p[r, j] = one / (one + vexp(-(a[r, j] + bias[j])))


def _sb(a, bias, u):
    p = np.empty(a.shape, a.dtype)
    s = np.empty(a.shape, a.dtype)
    _sigmoid_bernoulli(a, bias, u, p, s)
    return p, s


def rbm_gibbs(v, W, b, c, k, uniforms, compute_ph=True):
    H = W.shape[1]
    v = v.astype(W.dtype, copy=False)
    ph0, h0 = _sb(v @ W, c, uniforms[0, :, :H])
    h, ph = h0, ph0
    pv = None
    for t in range(k):
        pv, v = _sb(h @ W.T, b, uniforms[t, :, H:])
        if t < k - 1:
            ph, h = _sb(v @ W, c, uniforms[t + 1, :, :H])
        elif compute_ph:
            ph = np.empty(ph0.shape, W.dtype)
            _sigmoid(v @ W, c, ph)
        else:
            ph = None
    return v, h, pv, ph, ph0, h0


@njit(cache=True, parallel=True)
def bm_gibbs_sweep_kernel(x, J, h, n_sweeps, uniforms, order):
    one = J.dtype.type(1.0)
    zero = J.dtype.type(0.0)
    n = x.shape[1]
    for ch in prange(x.shape[0]):
        for s in range(n_sweeps):
            for oi in range(order.shape[0]):
                i = order[oi]
                f = h[i]
                for j in range(n):
                    f += J[i, j] * x[ch, j]
                p = one / (one + np.exp(-f))
                x[ch, i] = one if uniforms[s, ch, i] < p else zero


def bm_gibbs_sweep(state, J, h, n_sweeps, uniforms, order):
    x = np.ascontiguousarray(state, dtype=J.dtype).copy()
    bm_gibbs_sweep_kernel(x, J, h, n_sweeps, uniforms, order.astype(np.int64))
    return x


# --------------------------------------------------------------- in-kernel Philox variants


@njit(cache=True, inline="always")
def _packed_u(seed, offset, i, f32):
    """Packed uniform number ``i`` (see ``reference.gibbs.packed_uniforms``), as float64."""
    if f32:
        x = philox_block(seed, np.uint64(offset + (i >> 2)))
        return np.float64(np.float32(x[i & 3] >> np.uint64(8)) * np.float32(2.0**-24))
    x = philox_block(seed, np.uint64(offset + (i >> 1)))
    m = 2 * (i & 1)
    return np.float64((x[m] >> np.uint64(5)) * np.uint64(1 << 26) + (x[m + 1] >> np.uint64(6))
                      ) * 2.0**-53


@njit(cache=True)
def _sigmoid_bernoulli_packed(a, bias, p, s, seed, offset, base, row_stride, col0, f32):
    """As :func:`_sigmoid_bernoulli` with ``u[r, j]`` = packed uniform number
    ``base + r*row_stride + col0 + j``: one Philox block serves 4 (float32) or 2 (float64)
    consecutive elements; whole blocks in a vectorizable loop, row ends element-wise."""
    one = a.dtype.type(1.0)
    zero = a.dtype.type(0.0)
    cols = a.shape[1]
    per = 4 if f32 else 2
    sc = np.float32(2.0**-24)
    s8 = np.uint64(8)
    for r in prange(a.shape[0]):
        i0 = base + r * row_stride + col0
        head = min((per - i0 % per) % per, cols)
        nblk = (cols - head) // per
        for j in range(head):
            pj = one / (one + vexp(-(a[r, j] + bias[j])))
            p[r, j] = pj
            s[r, j] = one if _packed_u(seed, offset, i0 + j, f32) < pj else zero
        blk0 = (i0 + head) // per
        if f32:
            wb = np.empty(4 * nblk, np.float32)
            for q in range(nblk):  # Philox blocks -> uniforms (vectorized)
                x0, x1, x2, x3 = philox_block(seed, np.uint64(offset + blk0 + q))
                wb[4 * q] = np.float32(x0 >> s8) * sc
                wb[4 * q + 1] = np.float32(x1 >> s8) * sc
                wb[4 * q + 2] = np.float32(x2 >> s8) * sc
                wb[4 * q + 3] = np.float32(x3 >> s8) * sc
            for m in range(4 * nblk):  # fused sigmoid + threshold (vectorized)
                j = head + m
                pj = one / (one + vexp(-(a[r, j] + bias[j])))
                p[r, j] = pj
                s[r, j] = one if wb[m] < pj else zero
        else:
            for q in range(nblk):
                j = head + 2 * q
                for w in range(2):
                    pj = one / (one + vexp(-(a[r, j + w] + bias[j + w])))
                    p[r, j + w] = pj
                    s[r, j + w] = one if _packed_u(seed, offset, i0 + j + w, False) < pj else zero
        for j in range(head + per * nblk, cols):
            pj = one / (one + vexp(-(a[r, j] + bias[j])))
            p[r, j] = pj
            s[r, j] = one if _packed_u(seed, offset, i0 + j, f32) < pj else zero


def _sbp(a, bias, seed, offset, base, row_stride, col0):
    p = np.empty(a.shape, a.dtype)
    s = np.empty(a.shape, a.dtype)
    _sigmoid_bernoulli_packed(a, bias, p, s, np.uint64(seed), offset, base, row_stride, col0,
                              a.dtype == np.float32)
    return p, s


def rbm_gibbs_philox(v, W, b, c, k, seed, offset, compute_ph=True):
    B, (V, H) = v.shape[0], W.shape
    v = v.astype(W.dtype, copy=False)
    step = B * (H + V)
    ph0, h0 = _sbp(v @ W, c, seed, offset, 0, H + V, 0)
    h, ph, pv = h0, ph0, None
    for t in range(k):
        pv, v = _sbp(h @ W.T, b, seed, offset, t * step, H + V, H)
        if t < k - 1:
            ph, h = _sbp(v @ W, c, seed, offset, (t + 1) * step, H + V, 0)
        elif compute_ph:
            ph = np.empty(ph0.shape, W.dtype)
            _sigmoid(v @ W, c, ph)
        else:
            ph = None
    return v, h, pv, ph, ph0, h0


@njit(cache=True, parallel=True)
def _bm_sweep_philox_kernel(x, J, h, n_sweeps, order, seed, offset, f32):
    one = J.dtype.type(1.0)
    zero = J.dtype.type(0.0)
    chains, n = x.shape
    for ch in prange(chains):
        for s in range(n_sweeps):
            base = np.uint64(offset + (s * chains + ch) * n)
            for oi in range(order.shape[0]):
                i = order[oi]
                f = h[i]
                for j in range(n):
                    f += J[i, j] * x[ch, j]
                p = one / (one + np.exp(-f))
                pos = base + np.uint64(i)
                if f32:
                    u = philox_uniform_f32(seed, pos)
                else:
                    u = philox_uniform_f64(seed, pos)
                x[ch, i] = one if u < p else zero


def bm_gibbs_sweep_philox(state, J, h, n_sweeps, order, seed, offset):
    x = np.ascontiguousarray(state, dtype=J.dtype).copy()
    _bm_sweep_philox_kernel(x, J, h, n_sweeps, order.astype(np.int64), np.uint64(seed), offset,
                            J.dtype == np.float32)
    return x
