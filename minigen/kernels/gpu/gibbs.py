"""CuPy wrappers around ``kernels/gibbs.cu`` (see the reference for the math).

Matrix products run in cuBLAS (``cupy.matmul``, the same association as the
reference); sigmoid + Bernoulli threshold run fused in ``sigmoid_bernoulli<T>``
(1-D grid-stride launch); ``bm_gibbs_sweep<T>`` runs one thread per chain.
Arrays are checked for dtype and made C-contiguous (RawKernel ignores strides).
Untested on a device in the session that wrote it (no GPU there): see the gpu tests.
"""

from __future__ import annotations

import numpy as np

from ._module import grid_1d, load_module

_CTYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
_NAMES = ("sigmoid_bernoulli", "bm_gibbs_sweep")
_MAX_BLOCKS = 65535


def _kernel(name, dtype):
    exprs = tuple(f"{k}<{c}>" for k in _NAMES for c in ("float", "double"))
    return load_module("gibbs", name_expressions=exprs).get_function(
        f"{name}<{_CTYPE[np.dtype(dtype)]}>")


def _prep(*arrays):
    import cupy

    dtype = arrays[0].dtype
    if dtype not in _CTYPE:
        raise TypeError(f"cupy gibbs kernels need float32 or float64, got {dtype}")
    return [cupy.ascontiguousarray(a, dtype=dtype) for a in arrays]


def _sb(a, bias, u, u_stride, sample, seed, offset, base):
    """(p, s) with ``p = sigmoid(a + bias)`` and ``s = u < p`` (``s`` None if not sample)."""
    import cupy

    rows, cols = a.shape
    p = cupy.empty_like(a)
    s = cupy.empty_like(a) if sample else p
    n = rows * cols
    if n:
        grid, block = grid_1d(n)
        grid = (min(grid[0], _MAX_BLOCKS),)
        use_philox = seed is not None
        uu = a if u is None else u
        _kernel("sigmoid_bernoulli", a.dtype)(
            grid, block,
            (a, bias, uu, p, s, np.int64(rows), np.int64(cols), np.int64(u_stride),
             np.int32(sample), np.int32(use_philox), np.uint64(seed or 0), np.uint64(offset),
             np.uint64(base)))
    return p, (s if sample else None)


def _rbm(v, W, b, c, k, uniforms, seed, offset, compute_ph):
    import cupy

    v, W, b, c = _prep(v.astype(W.dtype), W, b, c)
    B, (V, H) = v.shape[0], W.shape
    stride = H + V

    def u_at(t, col0):
        if seed is not None:
            return None, t * B * stride + col0
        return cupy.ascontiguousarray(uniforms[t])[:, col0:], 0

    def sb(a, bias, t, col0):
        u, base = u_at(t, col0)
        return _sb(cupy.ascontiguousarray(a), bias, u, stride, True, seed, offset, base)

    ph0, h0 = sb(v @ W, c, 0, 0)
    h, ph, pv = h0, ph0, None
    for t in range(k):
        pv, v = sb(h @ W.T, b, t, H)
        if t < k - 1:
            ph, h = sb(v @ W, c, t + 1, 0)
        elif compute_ph:
            ph, _ = _sb(cupy.ascontiguousarray(v @ W), c, None, stride, False, None, 0, 0)
        else:
            ph = None
    return v, h, pv, ph, ph0, h0


def rbm_gibbs(v, W, b, c, k, uniforms, compute_ph=True):
    (uniforms,) = _prep(uniforms.astype(W.dtype))
    return _rbm(v, W, b, c, k, uniforms, None, 0, compute_ph)


def rbm_gibbs_philox(v, W, b, c, k, seed, offset, compute_ph=True):
    return _rbm(v, W, b, c, k, None, seed, offset, compute_ph)


def _bm(state, J, h, n_sweeps, uniforms, order, seed, offset):
    import cupy

    x, J, h = _prep(state.astype(J.dtype), J, h)
    x = x.copy()
    chains, n = x.shape
    if chains and n and n_sweeps:
        order = cupy.ascontiguousarray(order, dtype=cupy.int64)
        u = x if uniforms is None else _prep(uniforms.astype(J.dtype))[0]
        grid, block = grid_1d(chains, 128)
        _kernel("bm_gibbs_sweep", J.dtype)(
            grid, block,
            (x, J, h, order, u, np.int64(chains), np.int64(n), np.int32(n_sweeps),
             np.int32(seed is not None), np.uint64(seed or 0), np.uint64(offset)))
    return x


def bm_gibbs_sweep(state, J, h, n_sweeps, uniforms, order):
    return _bm(state, J, h, n_sweeps, uniforms, order, None, 0)


def bm_gibbs_sweep_philox(state, J, h, n_sweeps, order, seed, offset):
    return _bm(state, J, h, n_sweeps, None, order, seed, offset)
