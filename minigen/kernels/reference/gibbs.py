r"""NumPy reference for the Gibbs kernels (the specification).

Bernoulli RBM with energy :math:`E(v, h) = -v^T W h - b^T v - c^T h`:

.. math::
    p(h_j = 1 \mid v) = \sigma(c_j + v^T W_{:, j}), \qquad
    p(v_i = 1 \mid h) = \sigma(b_i + W_{i, :} h).

Fully visible Boltzmann machine with :math:`E(x) = -\tfrac12 x^T J x - h^T x`
(``J`` symmetric, zero diagonal): :math:`p(x_i = 1 \mid x_{-i}) = \sigma(h_i + J_{i,:} x)`.

A Bernoulli draw is ``s = (u < p)`` for a uniform ``u`` in [0, 1).
The kernels assume valid input; the ``*_checked`` functions return ``(result, count)``,
the number of bad values (the explicit form of what the Numba and CUDA kernels count as
they go: a NaN or inf in ``W``, ``b``, ``c`` or ``J``'s sweep inputs, ``v`` outside
[0, 1], states that are not 0/1, uniforms outside [0, 1)), plus NaN probabilities, which
only an overflow of finite inputs can give.
"""

from __future__ import annotations

import numpy as np

from .philox import philox_raw, philox_uniforms, seed_key


def sigmoid(a):
    """Logistic function ``1 / (1 + exp(-a))`` in the dtype of ``a`` (overflow-safe)."""
    with np.errstate(over="ignore"):
        return (1 / (1 + np.exp(-a))).astype(a.dtype, copy=False)


def sigmoid_bernoulli(a, bias, u):
    """``p = sigmoid(a + bias)`` and ``s = (u < p)`` (as ``p``'s dtype), rows of ``a``."""
    p = sigmoid(a + bias)
    return p, (u < p).astype(a.dtype)


def rbm_gibbs(v, W, b, c, k, uniforms, compute_ph=True):
    """``k`` block-Gibbs steps ``v -> h -> v``; see :func:`minigen.kernels.gibbs.rbm_gibbs`.

    ``uniforms`` has shape ``(k, B, H + V)``: step ``t`` samples ``h`` with
    ``uniforms[t, :, :H]`` and then ``v`` with ``uniforms[t, :, H:]``.
    Returns ``(v_k, h_{k-1}, pv_k, ph_k, ph0, h0)`` (``ph_k`` is ``None`` unless
    ``compute_ph``).
    """
    H = W.shape[1]
    v = v.astype(W.dtype, copy=False)
    ph0, h0 = sigmoid_bernoulli(v @ W, c, uniforms[0, :, :H])
    h, ph, pv = h0, ph0, None
    for t in range(k):
        pv, v = sigmoid_bernoulli(h @ W.T, b, uniforms[t, :, H:])
        if t < k - 1:
            ph, h = sigmoid_bernoulli(v @ W, c, uniforms[t + 1, :, :H])
        else:
            ph = sigmoid(v @ W + c) if compute_ph else None
    return v, h, pv, ph, ph0, h0


def bm_gibbs_sweep(state, J, h, n_sweeps, uniforms, order):
    """Sequential single-site Gibbs sweeps, vectorized over chains.

    ``uniforms`` has shape ``(n_sweeps, chains, n)``; site ``i`` in sweep ``s`` of
    chain ``c`` uses ``uniforms[s, c, i]`` (indexed by site, not by position in ``order``).
    Returns the new state (a copy, dtype of ``J``).
    """
    x = state.astype(J.dtype, copy=True)
    for s in range(n_sweeps):
        for i in order:
            p = sigmoid(x @ J[i] + h[i])
            x[:, i] = (uniforms[s, :, i] < p).astype(J.dtype)
    return x


# --------------------------------------------------------------- in-kernel Philox variants
# The (seed, offset) variant is *defined* as the explicit variant fed with a Philox
# stream in the explicit layout. rbm_gibbs uses every word of each Philox block
# ("packed" uniforms, 4 per block in float32, 2 in float64: see packed_uniforms);
# bm_gibbs_sweep uses the one-uniform-per-position stream philox_uniforms.


def packed_uniforms(shape, seed, offset=0, dtype=np.float32):
    r"""Uniforms in [0, 1) using all four words of each Philox block.

    float32: ``u.flat[i] = (x_{i mod 4} >> 8) 2^{-24}`` of block ``offset + i // 4``;
    float64: ``u.flat[i] = ((x_{2m} >> 5) 2^{26} + (x_{2m+1} >> 6)) 2^{-53}``, ``m = i mod 2``,
    of block ``offset + i // 2``. Blocks are those of the minigen stream (counter
    ``(pos lo, pos hi, 0, 0)``, key from ``seed``); ``ceil(n / 4)`` (``ceil(n / 2)``)
    positions are consumed.
    """

    n = int(np.prod(shape, dtype=np.int64))
    per = 4 if np.dtype(dtype) == np.float32 else 2
    first, last = offset, offset + (n + per - 1) // per
    words = philox_raw(last - first, seed_key(seed), first).astype(np.uint64)
    if per == 4:
        u = (words.reshape(-1)[:n] >> np.uint64(8)).astype(np.float32) * np.float32(2.0**-24)
    else:
        w = words.reshape(-1, 2)[:n]
        u = ((w[:, 0] >> np.uint64(5)) * np.uint64(1 << 26) + (w[:, 1] >> np.uint64(6))).astype(
            np.float64) * 2.0**-53
    return u.reshape(shape)


def rbm_gibbs_philox(v, W, b, c, k, seed, offset, compute_ph=True):
    u = packed_uniforms((k, v.shape[0], W.shape[1] + W.shape[0]), seed, offset, W.dtype)
    return rbm_gibbs(v, W, b, c, k, u, compute_ph)


def bm_gibbs_sweep_philox(state, J, h, n_sweeps, order, seed, offset):

    u = philox_uniforms((n_sweeps,) + state.shape, seed, offset, J.dtype)
    return bm_gibbs_sweep(state, J, h, n_sweeps, u, order)


# ------------------------------------------------------------------- value checks (spec)


def _count(mask) -> int:
    return int(np.count_nonzero(mask))


def _rbm_input_count(v, W, b, c, uniforms):
    n = sum(_count(~np.isfinite(a)) for a in (W, b, c))
    n += _count(~((v >= 0) & (v <= 1)))
    if uniforms is not None:
        n += _count(~((uniforms >= 0) & (uniforms < 1)))
    return n


def _nan_count(out):
    return sum(_count(np.isnan(a)) for a in out if a is not None)


def rbm_gibbs_checked(v, W, b, c, k, uniforms, compute_ph=True):
    bad = _rbm_input_count(v, W, b, c, uniforms)
    if bad:
        return None, bad
    with np.errstate(over="ignore", invalid="ignore"):
        out = rbm_gibbs(v, W, b, c, k, uniforms, compute_ph)
    return out, _nan_count(out)


def rbm_gibbs_philox_checked(v, W, b, c, k, seed, offset, compute_ph=True):
    bad = _rbm_input_count(v, W, b, c, None)
    if bad:
        return None, bad
    with np.errstate(over="ignore", invalid="ignore"):
        out = rbm_gibbs_philox(v, W, b, c, k, seed, offset, compute_ph)
    return out, _nan_count(out)


def _bm_input_count(state, uniforms):
    n = _count((state != 0) & (state != 1))
    if uniforms is not None:
        n += _count(~((uniforms >= 0) & (uniforms < 1)))
    return n


def bm_gibbs_sweep_checked(state, J, h, n_sweeps, uniforms, order):
    bad = _bm_input_count(state, uniforms)
    return (None if bad else bm_gibbs_sweep(state, J, h, n_sweeps, uniforms, order)), bad


def bm_gibbs_sweep_philox_checked(state, J, h, n_sweeps, order, seed, offset):
    bad = _bm_input_count(state, None)
    return (None if bad else bm_gibbs_sweep_philox(state, J, h, n_sweeps, order, seed,
                                                   offset)), bad
