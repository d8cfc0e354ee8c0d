"""Numba kernels for the Gibbs family (see :mod:`minigen.kernels.reference.gibbs`).

The matrix products go through NumPy's BLAS (the same call as the reference, so the
pre-activations are bit-identical); sigmoid and the Bernoulli threshold are fused in
one SIMD-vectorized pass (``vexp``; Philox blocks computed four at a time).

The RBM element-wise kernels are deliberately *not* ``parallel``: BLAS worker threads
keep spinning for a while after each matrix product, and a Numba thread pool started
right after them fights them for the same cores (measured 3-5x slower than serial on
2 cores). Serial and vectorized, the pass costs ~20-40% of the two products. The element
passes use ``error_model="numpy"``: under Numba's default ("python") every float division
carries a ZeroDivisionError branch that keeps LLVM from vectorizing the loop (measured
2-2.6x slower for the 1000 x 784 float32 sigmoid + Philox + threshold pass); the divisor
``1 + e^{-a}`` is never 0, so nothing else changes.
``bm_gibbs_sweep`` (no BLAS) runs ``prange`` over chains.

Value checks ride on these passes (the ``*_checked`` functions return ``(result,
count)``): each element pass counts pre-activations that are not finite (a NaN or inf
in ``W`` or a bias always makes one: BLAS multiplies every entry of ``W``, and ``0 *
inf`` is NaN) and uniforms outside [0, 1); the first pass also counts entries of ``v``
outside [0, 1], row by row next to the hidden units of that row; the Boltzmann sweep
checks that the states it copies are 0/1 and the uniforms it reads. The wrapper looks
at the inputs only when the count is not 0.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._checks import not_finite
from ._vexp import vexp
from .philox import _u53, philox_block, philox_uniform_f32, philox_uniform_f64


@njit(cache=True, inline="always")
def _bad_u(u):
    """1 if the uniform ``u`` is outside [0, 1) (NaN included), else 0."""
    return 0 if u >= 0 and u < 1 else 1


@njit(cache=True, inline="always")
def _bad_v_row(v0, r):
    """How many entries of row ``r`` of ``v0`` lie outside [0, 1] (NaN included); ``v0``
    has 0 columns in the passes that do not check it."""
    n = 0
    for i in range(v0.shape[1]):
        x = v0[r, i]
        n += 0 if x >= 0 and x <= 1 else 1
    return n


@njit(cache=True, error_model="numpy")
def _sigmoid_bernoulli(a, bias, u, p, s, v0):
    """In place: ``p = sigmoid(a + bias)``, ``s = (u < p)``; returns the number of bad
    values met (non-finite pre-activations, uniforms outside [0, 1), entries of ``v0``
    outside [0, 1])."""
    one = a.dtype.type(1.0)
    zero = a.dtype.type(0.0)
    big = a.dtype.type(np.finfo(a.dtype).max)
    nbad = 0
    for r in range(a.shape[0]):
        for j in range(a.shape[1]):
            z = a[r, j] + bias[j]
            pj = one / (one + vexp(-z))
            p[r, j] = pj
            uj = u[r, j]
            s[r, j] = one if uj < pj else zero
            nbad += not_finite(z, big) + _bad_u(uj)
        nbad += _bad_v_row(v0, r)
    return nbad


@njit(cache=True, error_model="numpy")
def _sigmoid(a, bias, p):
    one = a.dtype.type(1.0)
    big = a.dtype.type(np.finfo(a.dtype).max)
    nbad = 0
    for r in range(a.shape[0]):
        for j in range(a.shape[1]):
            z = a[r, j] + bias[j]
            p[r, j] = one / (one + vexp(-z))
            nbad += not_finite(z, big)
    return nbad


def _no_v(dtype):
    return np.empty((0, 0), dtype)


def _draw_layer(a, bias, u, v0):
    p = np.empty(a.shape, a.dtype)
    s = np.empty(a.shape, a.dtype)
    return p, s, _sigmoid_bernoulli(a, bias, u, p, s, v0)


def rbm_gibbs_checked(v, W, b, c, k, uniforms, compute_ph=True):
    """``((v, h, pv, ph, ph0, h0), number of bad values met)``."""
    with np.errstate(over="ignore", invalid="ignore"):  # the passes count them
        return _rbm_gibbs_checked(v, W, b, c, k, uniforms, compute_ph)


def _gibbs_chain(v, W, b, c, k, compute_ph, half_step):
    """``k`` block-Gibbs steps from ``v``; ``half_step(a, bias, t, visible, v0) -> (p, s,
    bad)`` draws layer ``s ~ Bernoulli(sigmoid(a + bias))`` with the uniforms of step ``t``
    (the visible or the hidden columns). Returns ``((v, h, pv, ph, ph0, h0), bad)``."""
    v = v.astype(W.dtype, copy=False)
    ph0, h0, nbad = half_step(v @ W, c, 0, False, v)
    h, ph, pv = h0, ph0, None
    for t in range(k):
        pv, v, n = half_step(h @ W.T, b, t, True, _no_v(W.dtype))
        nbad += n
        if t < k - 1:
            ph, h, n = half_step(v @ W, c, t + 1, False, _no_v(W.dtype))
            nbad += n
        elif compute_ph:
            ph = np.empty(ph0.shape, W.dtype)
            nbad += _sigmoid(v @ W, c, ph)
        else:
            ph = None
    return (v, h, pv, ph, ph0, h0), int(nbad)


def _rbm_gibbs_checked(v, W, b, c, k, uniforms, compute_ph):
    H = W.shape[1]

    def half_step(a, bias, t, visible, v0):
        return _draw_layer(a, bias, uniforms[t, :, H:] if visible else uniforms[t, :, :H], v0)

    return _gibbs_chain(v, W, b, c, k, compute_ph, half_step)


def rbm_gibbs(v, W, b, c, k, uniforms, compute_ph=True):
    return rbm_gibbs_checked(v, W, b, c, k, uniforms, compute_ph)[0]


@njit(cache=True, inline="always")
def _copy_binary_row(state, x, ch):
    """``x[ch] = state[ch]``; the number of its entries that are not 0 or 1."""
    n = 0
    for j in range(x.shape[1]):
        v = state[ch, j]
        x[ch, j] = v
        n += 0 if v == 0 or v == 1 else 1
    return n


@njit(cache=True, inline="always")
def _site_probability(J, h, x, ch, i):
    r""":math:`P(x_i = 1 \mid x_{-i}) = \sigma(h_i + \sum_j J_{ij} x_j)` for chain ``ch``."""
    f = h[i]
    for j in range(x.shape[1]):
        f += J[i, j] * x[ch, j]
    one = J.dtype.type(1.0)
    return one / (one + np.exp(-f))


@njit(cache=True, parallel=True)
def bm_gibbs_sweep_kernel(state, x, J, h, n_sweeps, uniforms, order):
    """Copies ``state`` into ``x`` and sweeps ``x`` in place; returns the number of bad
    values met (states that are not 0/1, uniforms outside [0, 1))."""
    one = J.dtype.type(1.0)
    zero = J.dtype.type(0.0)
    nbad = 0
    for ch in prange(x.shape[0]):
        nb = _copy_binary_row(state, x, ch)
        for s in range(n_sweeps):
            for oi in range(order.shape[0]):
                i = order[oi]
                p = _site_probability(J, h, x, ch, i)
                u = uniforms[s, ch, i]
                x[ch, i] = one if u < p else zero
                nb += _bad_u(u)
        nbad += nb
    return nbad


def bm_gibbs_sweep_checked(state, J, h, n_sweeps, uniforms, order):
    """``(new states, number of bad values met)``; ``state`` in ``J``'s dtype."""
    x = np.empty(state.shape, J.dtype)
    nbad = bm_gibbs_sweep_kernel(state, x, J, h, n_sweeps, uniforms, order.astype(np.int64))
    return x, int(nbad)


def bm_gibbs_sweep(state, J, h, n_sweeps, uniforms, order):
    return bm_gibbs_sweep_checked(np.ascontiguousarray(state, dtype=J.dtype), J, h, n_sweeps,
                                  uniforms, order)[0]


# --------------------------------------------------------------- in-kernel Philox variants


@njit(cache=True, inline="always")
def _packed_u(seed, offset, i, f32):
    """Packed uniform number ``i`` (see ``reference.gibbs.packed_uniforms``), as float64."""
    if f32:
        x = philox_block(seed, offset + np.uint64(i >> 2))
        return np.float64(np.float32(x[i & 3] >> np.uint64(8)) * np.float32(2.0**-24))
    x = philox_block(seed, offset + np.uint64(i >> 1))
    m = 2 * (i & 1)
    return np.float64((x[m] >> np.uint64(5)) * np.uint64(1 << 26) + (x[m + 1] >> np.uint64(6))
                      ) * 2.0**-53


@njit(cache=True, error_model="numpy")
def _sigmoid_bernoulli_packed(a, bias, p, s, seed, offset, base, row_stride, col0, f32, v0):
    """As :func:`_sigmoid_bernoulli` with ``u[r, j]`` = packed uniform number
    ``base + r*row_stride + col0 + j``: one Philox block serves 4 (float32) or 2 (float64)
    consecutive elements. Per row: the whole blocks' uniforms in a vectorizable loop, the
    partial blocks at the row ends element-wise, all into ``wb[j]``; then one fused,
    vectorized sigmoid + threshold loop over ``j in range(cols)`` (an offset index
    ``j = head + m`` there kept it ~1.8x slower: 3.1 vs 1.7 ms for 1000 x 784 float32).
    float64: each block yields its 2 uniforms once, and the 53-bit integers convert
    through int64 (unsigned 64-bit to float has no SIMD conversion)."""
    one = a.dtype.type(1.0)
    zero = a.dtype.type(0.0)
    big = a.dtype.type(np.finfo(a.dtype).max)
    nbad = 0
    cols = a.shape[1]
    per = 4 if f32 else 2
    sc32 = np.float32(2.0**-24)
    sc64 = 2.0**-53
    s8 = np.uint64(8)
    wb = np.empty(cols, a.dtype)  # one row's uniforms, allocated once
    for r in range(a.shape[0]):
        i0 = base + r * row_stride + col0
        head = min((per - i0 % per) % per, cols)
        nblk = (cols - head) // per
        for j in range(head):
            wb[j] = _packed_u(seed, offset, i0 + j, f32)
        blk0 = (i0 + head) // per
        w = wb[head:]
        # Philox blocks -> uniforms in stream order (one loop per dtype: a branch inside
        # the loop keeps it scalar)
        if f32:
            for q in range(nblk):
                x0, x1, x2, x3 = philox_block(seed, offset + np.uint64(blk0 + q))
                w[4 * q] = np.float32(x0 >> s8) * sc32
                w[4 * q + 1] = np.float32(x1 >> s8) * sc32
                w[4 * q + 2] = np.float32(x2 >> s8) * sc32
                w[4 * q + 3] = np.float32(x3 >> s8) * sc32
        else:
            for q in range(nblk):
                x0, x1, x2, x3 = philox_block(seed, offset + np.uint64(blk0 + q))
                w[2 * q] = np.float64(np.int64(_u53(x0, x1))) * sc64
                w[2 * q + 1] = np.float64(np.int64(_u53(x2, x3))) * sc64
        for j in range(head + per * nblk, cols):
            wb[j] = _packed_u(seed, offset, i0 + j, f32)
        for j in range(cols):  # fused sigmoid + threshold (vectorized)
            z = a[r, j] + bias[j]
            pj = one / (one + vexp(-z))
            p[r, j] = pj
            s[r, j] = one if wb[j] < pj else zero
            nbad += not_finite(z, big)
        nbad += _bad_v_row(v0, r)
    return nbad


def _sbp(a, bias, seed, offset, base, row_stride, col0, v0):
    p = np.empty(a.shape, a.dtype)
    s = np.empty(a.shape, a.dtype)
    n = _sigmoid_bernoulli_packed(a, bias, p, s, np.uint64(seed), np.uint64(offset), base,
                                  row_stride, col0, a.dtype == np.float32, v0)
    return p, s, n


def rbm_gibbs_philox_checked(v, W, b, c, k, seed, offset, compute_ph=True):
    """``((v, h, pv, ph, ph0, h0), number of bad values met)``."""
    with np.errstate(over="ignore", invalid="ignore"):  # the passes count them
        return _rbm_gibbs_philox_checked(v, W, b, c, k, seed, offset, compute_ph)


def _rbm_gibbs_philox_checked(v, W, b, c, k, seed, offset, compute_ph):
    B, (V, H) = v.shape[0], W.shape

    def half_step(a, bias, t, visible, v0):
        return _sbp(a, bias, seed, offset, t * B * (H + V), H + V, H if visible else 0, v0)

    return _gibbs_chain(v, W, b, c, k, compute_ph, half_step)


def rbm_gibbs_philox(v, W, b, c, k, seed, offset, compute_ph=True):
    return rbm_gibbs_philox_checked(v, W, b, c, k, seed, offset, compute_ph)[0]


@njit(cache=True, parallel=True)
def _bm_sweep_philox_kernel(state, x, J, h, n_sweeps, order, seed, offset, f32):
    one = J.dtype.type(1.0)
    zero = J.dtype.type(0.0)
    chains, n = x.shape
    nbad = 0
    for ch in prange(chains):
        nbad += _copy_binary_row(state, x, ch)
        for s in range(n_sweeps):
            base = offset + np.uint64((s * chains + ch) * n)
            for oi in range(order.shape[0]):
                i = order[oi]
                p = _site_probability(J, h, x, ch, i)
                pos = base + np.uint64(i)
                if f32:
                    u = philox_uniform_f32(seed, pos)
                else:
                    u = philox_uniform_f64(seed, pos)
                x[ch, i] = one if u < p else zero
    return nbad


def bm_gibbs_sweep_philox_checked(state, J, h, n_sweeps, order, seed, offset):
    """``(new states, number of states that are not 0/1)``; ``state`` in ``J``'s dtype."""
    x = np.empty(state.shape, J.dtype)
    nbad = _bm_sweep_philox_kernel(state, x, J, h, n_sweeps, order.astype(np.int64),
                                   np.uint64(seed), np.uint64(offset), J.dtype == np.float32)
    return x, int(nbad)


def bm_gibbs_sweep_philox(state, J, h, n_sweeps, order, seed, offset):
    return bm_gibbs_sweep_philox_checked(np.ascontiguousarray(state, dtype=J.dtype), J, h,
                                         n_sweeps, order, seed, offset)[0]


# --------------------------------------------------------------- fused RBM training epoch
# Small products (batch 20, H 20, V 64 on digits) as register-blocked loops: 8 scalar
# accumulators per output block, summed in index order (LLVM turns them into two SIMD
# registers; a plain ``out[r, j] += x * M[i, j]`` loop over 20 columns spends its time in
# loop set-up and alias checks). No reassociation, so no fastmath is needed.


@njit(cache=True, inline="always")
def _mm_row(x, xo, xs, S, M, bias, out, orow):
    """``out[orow, q] = (sum_s x[xo + s*xs] * M[s, q]) + bias[q]`` for every column q
    (s in increasing order): blocks of 16, then 4, columns in scalar accumulators."""
    Q = M.shape[1]
    q0 = 0
    while q0 + 16 <= Q:
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
        a8 = a9 = a10 = a11 = a12 = a13 = a14 = a15 = 0.0
        for s in range(S):
            xv = x[xo + s * xs]
            a0 += xv * M[s, q0 + 0]
            a1 += xv * M[s, q0 + 1]
            a2 += xv * M[s, q0 + 2]
            a3 += xv * M[s, q0 + 3]
            a4 += xv * M[s, q0 + 4]
            a5 += xv * M[s, q0 + 5]
            a6 += xv * M[s, q0 + 6]
            a7 += xv * M[s, q0 + 7]
            a8 += xv * M[s, q0 + 8]
            a9 += xv * M[s, q0 + 9]
            a10 += xv * M[s, q0 + 10]
            a11 += xv * M[s, q0 + 11]
            a12 += xv * M[s, q0 + 12]
            a13 += xv * M[s, q0 + 13]
            a14 += xv * M[s, q0 + 14]
            a15 += xv * M[s, q0 + 15]
        out[orow, q0 + 0] = a0 + bias[q0 + 0]
        out[orow, q0 + 1] = a1 + bias[q0 + 1]
        out[orow, q0 + 2] = a2 + bias[q0 + 2]
        out[orow, q0 + 3] = a3 + bias[q0 + 3]
        out[orow, q0 + 4] = a4 + bias[q0 + 4]
        out[orow, q0 + 5] = a5 + bias[q0 + 5]
        out[orow, q0 + 6] = a6 + bias[q0 + 6]
        out[orow, q0 + 7] = a7 + bias[q0 + 7]
        out[orow, q0 + 8] = a8 + bias[q0 + 8]
        out[orow, q0 + 9] = a9 + bias[q0 + 9]
        out[orow, q0 + 10] = a10 + bias[q0 + 10]
        out[orow, q0 + 11] = a11 + bias[q0 + 11]
        out[orow, q0 + 12] = a12 + bias[q0 + 12]
        out[orow, q0 + 13] = a13 + bias[q0 + 13]
        out[orow, q0 + 14] = a14 + bias[q0 + 14]
        out[orow, q0 + 15] = a15 + bias[q0 + 15]
        q0 += 16
    while q0 + 4 <= Q:
        a0 = a1 = a2 = a3 = 0.0
        for s in range(S):
            xv = x[xo + s * xs]
            a0 += xv * M[s, q0]
            a1 += xv * M[s, q0 + 1]
            a2 += xv * M[s, q0 + 2]
            a3 += xv * M[s, q0 + 3]
        out[orow, q0] = a0 + bias[q0]
        out[orow, q0 + 1] = a1 + bias[q0 + 1]
        out[orow, q0 + 2] = a2 + bias[q0 + 2]
        out[orow, q0 + 3] = a3 + bias[q0 + 3]
        q0 += 4
    for q in range(q0, Q):
        a0 = 0.0
        for s in range(S):
            a0 += x[xo + s * xs] * M[s, q]
        out[orow, q] = a0 + bias[q]


@njit(cache=True)
def _matmul(X, n, M, bias, out):
    """``out[:n] = X[:n] @ M + bias`` (C-contiguous X (>= n, S), M (S, Q))."""
    xf = X.reshape(-1)
    S = M.shape[0]
    for p in range(n):
        _mm_row(xf, p * S, 1, S, M, bias, out, p)


@njit(cache=True)
def _matmul_tn(X, n, M, zero, out):
    """``out = X[:n].T @ M[:n]`` (X (>= n, P), M (>= n, Q), C-contiguous; ``zero``: (Q,) 0)."""
    xf = X.reshape(-1)
    P = X.shape[1]
    for p in range(P):
        _mm_row(xf, p, P, n, M, zero, out, p)


@njit(cache=True, error_model="numpy")
def _sigmoid_flat(a, n):
    """``a.flat[:n] = sigmoid(a.flat[:n])`` in place, one SIMD loop (``error_model="numpy"``:
    no ZeroDivisionError branch, which would block vectorization; 1 + e^-x >= 1 anyway)."""
    f = a.reshape(-1)
    for i in range(n):
        f[i] = 1.0 / (1.0 + vexp(-f[i]))


@njit(cache=True)
def _threshold(p, n, s, u, urow, ustride):
    """``s[r, j] = (u[urow + r*ustride + j] < p[r, j])`` for rows ``r < n``."""
    Q = p.shape[1]
    for r in range(n):
        o = urow + r * ustride
        for j in range(Q):
            s[r, j] = 1.0 if u[o + j] < p[r, j] else 0.0


@njit(cache=True, inline="always")
def _sum_rows(idx, m, M, bias, out, orow):
    """``out[orow, q] = (sum_{t < m} M[idx[t], q]) + bias[q]``: a binary row times ``M``
    by adding the rows of ``M`` where it is 1 (in increasing order; 0 * M adds nothing)."""
    Q = M.shape[1]
    q0 = 0
    while q0 + 16 <= Q:
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
        a8 = a9 = a10 = a11 = a12 = a13 = a14 = a15 = 0.0
        for t in range(m):
            s = idx[t]
            a0 += M[s, q0 + 0]
            a1 += M[s, q0 + 1]
            a2 += M[s, q0 + 2]
            a3 += M[s, q0 + 3]
            a4 += M[s, q0 + 4]
            a5 += M[s, q0 + 5]
            a6 += M[s, q0 + 6]
            a7 += M[s, q0 + 7]
            a8 += M[s, q0 + 8]
            a9 += M[s, q0 + 9]
            a10 += M[s, q0 + 10]
            a11 += M[s, q0 + 11]
            a12 += M[s, q0 + 12]
            a13 += M[s, q0 + 13]
            a14 += M[s, q0 + 14]
            a15 += M[s, q0 + 15]
        out[orow, q0 + 0] = a0 + bias[q0 + 0]
        out[orow, q0 + 1] = a1 + bias[q0 + 1]
        out[orow, q0 + 2] = a2 + bias[q0 + 2]
        out[orow, q0 + 3] = a3 + bias[q0 + 3]
        out[orow, q0 + 4] = a4 + bias[q0 + 4]
        out[orow, q0 + 5] = a5 + bias[q0 + 5]
        out[orow, q0 + 6] = a6 + bias[q0 + 6]
        out[orow, q0 + 7] = a7 + bias[q0 + 7]
        out[orow, q0 + 8] = a8 + bias[q0 + 8]
        out[orow, q0 + 9] = a9 + bias[q0 + 9]
        out[orow, q0 + 10] = a10 + bias[q0 + 10]
        out[orow, q0 + 11] = a11 + bias[q0 + 11]
        out[orow, q0 + 12] = a12 + bias[q0 + 12]
        out[orow, q0 + 13] = a13 + bias[q0 + 13]
        out[orow, q0 + 14] = a14 + bias[q0 + 14]
        out[orow, q0 + 15] = a15 + bias[q0 + 15]
        q0 += 16
    for q in range(q0, Q):
        a0 = 0.0
        for t in range(m):
            a0 += M[idx[t], q]
        out[orow, q] = a0 + bias[q]


@njit(cache=True, inline="always")
def _ones(x, r, idx):
    """Indices of the nonzeros of binary row ``x[r]`` into ``idx`` (branch-free); count."""
    m = 0
    for i in range(x.shape[1]):
        idx[m] = i
        m += 1 if x[r, i] != 0.0 else 0
    return m


@njit(cache=True)
def _binary_matmul(X, n, M, bias, out, idx):
    """``out[:n] = X[:n] @ M + bias`` for binary ``X``."""
    for r in range(n):
        _sum_rows(idx, _ones(X, r, idx), M, bias, out, r)


@njit(cache=True)
def _binary_tn_acc(X, n, P, out, idx):
    """``out += X[:n].T @ P[:n]`` for binary ``X`` (rows r in increasing order)."""
    Q = P.shape[1]
    for r in range(n):
        m = _ones(X, r, idx)
        for t in range(m):
            i = idx[t]
            for q in range(Q):
                out[i, q] += P[r, q]


@njit(cache=True)
def _hidden_pass(v, n, W, c, ph, h, u, urow, ustride, sample, idx):
    """``ph[:n] = sigmoid(v[:n] @ W + c)`` (binary v); with ``sample`` also
    ``h[r, j] = (u[urow + r*ustride + j] < ph[r, j])``."""
    _binary_matmul(v, n, W, c, ph, idx)
    _sigmoid_flat(ph, n * ph.shape[1])
    if sample:
        _threshold(ph, n, h, u, urow, ustride)


@njit(cache=True)
def _visible_pass(h, n, WT, b, pv, v, u, urow, ustride, idx):
    """``pv[:n] = sigmoid(h[:n] @ W.T + b)``, ``v[r, i] = (u[urow + r*ustride + i] < pv[r, i])``."""
    _binary_matmul(h, n, WT, b, pv, idx)
    _sigmoid_flat(pv, n * pv.shape[1])
    _threshold(pv, n, v, u, urow, ustride)


@njit(cache=True)
def rbm_sgd_epoch(X, perm, start, stop, bs, W, b, c, mW, mb, mc, t, chains, chain_ph, u, k,
                  persistent, lr, mom, wd, sp_target, sp_cost):
    """CD-k / PCD-k mini-batch SGD over batches ``perm[s:s+bs]``, ``s`` in
    ``range(start, stop, bs)``, updating ``W, b, c`` (and momentum ``mW, mb, mc``, the
    PCD ``chains`` and their hidden probabilities ``chain_ph``) in place; returns the new
    step count ``t``.

    The per-batch path of :class:`minigen.models.ebm.BernoulliRBM.fit` (NumPy backend)
    for binary float64 data, given the same uniforms: batch after batch, ``u`` holds the
    ``(k, B_chains, H + V)`` uniforms that path draws (columns ``:H`` sample h, ``H:``
    sample v at each step), so one host draw per epoch replays its stream. Step 0 draws h
    from ``ph0`` of the data (CD) or from ``chain_ph``, the chains' p(h | v) kept from the
    previous batch (PCD): no product for it. Gradients are
    closed form (``<v ph>_chains - <v ph>_data`` etc.), then weight decay, the sparsity
    penalty (``sp_cost > 0``) and heavy-ball momentum (``m = g`` at step 1, else
    ``m = mom*m + g``; ``p -= lr*m``). Summation order differs from BLAS, so parameters
    agree with the per-batch path to rounding and samples exactly (barring a uniform
    within rounding of its probability).
    """
    V, H = W.shape
    nch_p = chains.shape[0]
    nmax = max(bs, nch_p)
    v0 = np.empty((bs, V))
    ph0 = np.empty((bs, H))
    vk = np.empty((nmax, V))
    hk = np.empty((nmax, H))
    phk = np.empty((nmax, H))
    pv = np.empty((nmax, V))
    WT = np.empty((H, V))
    gW = np.empty((V, H))
    pW = np.empty((V, H))
    gb = np.empty(V)
    gc = np.empty(H)
    mv0 = np.empty(V)
    mph0 = np.empty(H)
    idx = np.empty(max(V, H), np.int64)
    stride = H + V
    pos = 0
    for s in range(start, stop, bs):
        B = min(bs, perm.shape[0] - s)
        for r in range(B):
            for i in range(V):
                v0[r, i] = X[perm[s + r], i]
        nk = nch_p if persistent else B
        # positive phase (CD: also samples h0 from step 0's uniforms, as rbm_gibbs does)
        _hidden_pass(v0, B, W, c, ph0, hk, u, pos, stride, not persistent, idx)
        for j in range(H):
            for i in range(V):
                WT[j, i] = W[i, j]
        for t_ in range(k):
            base = pos + t_ * nk * stride
            if persistent and t_ == 0:
                _threshold(chain_ph, nk, hk, u, base, stride)
            elif t_ > 0:
                _hidden_pass(vk, nk, W, c, phk, hk, u, base, stride, True, idx)
            _visible_pass(hk, nk, WT, b, pv, vk, u, base + H, stride, idx)
        pos += k * nk * stride
        _hidden_pass(vk, nk, W, c, phk, hk, u, 0, 0, False, idx)
        if persistent:
            chains[:, :] = vk[:nk]
            chain_ph[:, :] = phk[:nk]
        # gradients of the mean NLL (as _RBMBase._loss_and_grads)
        wk = 1.0 / nk
        gW[:, :] = 0.0
        pW[:, :] = 0.0
        _binary_tn_acc(vk, nk, phk, gW, idx)
        _binary_tn_acc(v0, B, ph0, pW, idx)
        for i in range(V):
            a = 0.0
            m0 = 0.0
            for r in range(nk):
                a += vk[r, i]
            for r in range(B):
                m0 += v0[r, i]
            mv0[i] = m0 / B
            gb[i] = a * wk - mv0[i]
            for j in range(H):
                gW[i, j] = gW[i, j] * wk - pW[i, j] / B
        for j in range(H):
            a = 0.0
            m0 = 0.0
            for r in range(nk):
                a += phk[r, j]
            for r in range(B):
                m0 += ph0[r, j]
            mph0[j] = m0 / B
            gc[j] = a * wk - mph0[j]
        if wd != 0.0:
            for i in range(V):
                for j in range(H):
                    gW[i, j] += wd * W[i, j]
        if sp_cost != 0.0:
            for j in range(H):
                d = sp_cost * (mph0[j] - sp_target)
                gc[j] += d
                for i in range(V):
                    gW[i, j] += mv0[i] * d
        # SGD, heavy-ball momentum (minigen.optim.SGD)
        t += 1
        _sgd(W.reshape(-1), gW.reshape(-1), mW.reshape(-1), lr, mom, t)
        _sgd(b, gb, mb, lr, mom, t)
        _sgd(c, gc, mc, lr, mom, t)
    return t


@njit(cache=True)
def _sgd(p, g, m, lr, mom, t):
    if mom == 0.0:
        for i in range(p.shape[0]):
            p[i] -= g[i] * lr
        return
    for i in range(p.shape[0]):
        m[i] = g[i] if t == 1 else m[i] * mom + g[i]
        p[i] -= m[i] * lr


def warm_up() -> None:
    """Compile (or load from cache) every kernel of this module on tiny inputs.

    The signatures the hot paths use: float32 and float64; explicit uniforms and the
    in-kernel Philox stream (``uint64`` seed/offset); one chain (its uniform slices are
    C-contiguous) and several (strided slices); the fused float64 CD/PCD epoch of
    :class:`~minigen.models.ebm.BernoulliRBM` (numba backend)."""
    V, H = 3, 2
    for dtype in (np.float32, np.float64):
        W = np.zeros((V, H), dtype)
        b, c = np.zeros(V, dtype), np.zeros(H, dtype)
        for B in (1, 2):
            v = np.zeros((B, V), dtype)
            rbm_gibbs(v, W, b, c, 2, np.full((2, B, H + V), 0.5, dtype), True)
            rbm_gibbs_philox(v, W, b, c, 2, 1, 0, True)
        J, order, x = np.zeros((V, V), dtype), np.arange(V, dtype=np.int64), np.zeros((2, V), dtype)
        bm_gibbs_sweep(x, J, b, 1, np.full((1, 2, V), 0.5, dtype), order)
        bm_gibbs_sweep_philox(x, J, b, 1, order, 1, 0)
    # BernoulliRBM._fused_epoch: float64, float32 uniforms, int64 permutation, Python
    # ints/floats/bools
    X, W = np.zeros((2, V)), np.zeros((V, H))
    b, c = np.zeros(V), np.zeros(H)
    rbm_sgd_epoch(X, np.arange(2, dtype=np.int64), 0, 2, 2, W, b, c, np.zeros_like(W),
                  np.zeros_like(b), np.zeros_like(c), 0, np.zeros((0, V)), np.zeros((0, H)),
                  np.full(2 * (H + V), 0.5, np.float32), 1, False, 0.1, 0.5, 0.0, 0.0, 0.0)
