"""CuPy wrappers around ``kernels/gibbs.cu`` (see the reference for the math).

Each RBM half-step ``p = sigmoid(a W + bias)``, ``s = u < p`` is one launch of
``gemm_sigmoid_bernoulli<T, trans>``: the matrix product with the bias, the sigmoid and
the Bernoulli threshold fused into its epilogue. ``bm_gibbs_sweep<T>`` runs one thread
per chain. Arrays are checked for dtype and made C-contiguous (RawKernel ignores strides).

At the RBM sizes people train (784 x 500, batch 1000) a k=1 step is a few tens of
microseconds of GPU work, so launches and the Python cost of each call matter as much as
the arithmetic: a cuBLAS product followed by a separate ``sigmoid_bernoulli`` launch made
the step 2x the time of the two products alone on an H200 (cuBLAS also picks tiles too
large to fill the device at this size). ``FUSED_PRODUCTS = False`` switches to that path
(cuBLAS ``sgemm``/``dgemm`` called directly, or ``cupy.matmul`` with
``USE_DIRECT_CUBLAS = False``); the gpu tests check all three. Kernel handles are cached
per (name, dtype, device), and no array is copied that is already of the right dtype and
layout. The kernels flag bad values (see the .cu) in one status word per call, read once
after the last launch; with ``FUSED_PRODUCTS = False`` the range of ``v``, which only
cuBLAS reads there, is checked by a separate reduction.
"""

from __future__ import annotations

import numpy as np

from ._module import grid_1d, load_module
from ._status import first_bad, new_status

_CTYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
_NAMES = ("sigmoid_bernoulli", "bm_gibbs_sweep")
# every template instance the wrapper asks NVRTC for (tests compile these without a GPU)
NAME_EXPRESSIONS = tuple(f"{k}<{c}>" for k in _NAMES for c in ("float", "double")) + tuple(
    f"gemm_sigmoid_bernoulli<{c}, {t}>" for c in ("float", "double") for t in ("false", "true"))
FUSED_PRODUCTS = True
_MAX_BLOCKS = 65535
_SB_PER_THREAD = 4
USE_DIRECT_CUBLAS = True
_FUNCTIONS: dict = {}
# host scalars for cuBLAS (pointer mode host): alpha = 1, beta = 0 per dtype
_ONE_ZERO = {np.dtype(t): (np.ones(1, t), np.zeros(1, t)) for t in (np.float32, np.float64)}


def _kernel(name, dtype, extra=""):
    import cupy

    key = (name, np.dtype(dtype), extra, cupy.cuda.Device().id)
    fn = _FUNCTIONS.get(key)
    if fn is None:
        fn = _FUNCTIONS[key] = load_module("gibbs", name_expressions=NAME_EXPRESSIONS) \
            .get_function(f"{name}<{_CTYPE[np.dtype(dtype)]}{extra}>")
    return fn


def _matmul(a, w, transpose_w: bool = False):
    r"""``a @ w`` (or ``a @ w.T``) for C-contiguous matrices of one float dtype.

    Row-major ``C = A B`` is column-major ``C^T = B^T A^T``, so cuBLAS gets the operands
    swapped: ``gemm(N, N, n, m, k, B, A)``; for ``A W^T`` the stored ``W`` (n x k,
    row-major) is used transposed: ``gemm(T, N, n, m, k, W, A)``.
    """
    import cupy

    if not USE_DIRECT_CUBLAS:
        return a @ (w.T if transpose_w else w)
    from cupy_backends.cuda.libs import cublas

    m, k = a.shape
    n = w.shape[0] if transpose_w else w.shape[1]
    out = cupy.empty((m, n), dtype=a.dtype)
    if k == 0 or out.size == 0:  # cuBLAS rejects zero sizes; an empty sum is 0
        out.fill(0)
        return out
    one, zero = _ONE_ZERO[a.dtype]
    gemm = cublas.sgemm if a.dtype == np.float32 else cublas.dgemm
    gemm(cupy.cuda.device.get_cublas_handle(), 1 if transpose_w else 0, 0, n, m, k,
         one.ctypes.data, w.data.ptr, k if transpose_w else n, a.data.ptr, k,
         zero.ctypes.data, out.data.ptr, n)
    return out


def _prep(*arrays):
    import cupy

    dtype = arrays[0].dtype
    if dtype not in _CTYPE:
        raise TypeError(f"cupy gibbs kernels need float32 or float64, got {dtype}")
    return [a if a.dtype == dtype and a.flags.c_contiguous
            else cupy.ascontiguousarray(a, dtype=dtype) for a in arrays]


def _draw_layer(a, bias, u, u_stride, sample, seed, offset, base, status):
    """(p, s) with ``p = sigmoid(a + bias)`` and ``s = u < p`` (``s`` None if not sample)."""
    import cupy

    rows, cols = a.shape
    p = cupy.empty_like(a)
    s = cupy.empty_like(a) if sample else p
    if rows * cols:
        # one thread per _SB_PER_THREAD consecutive columns (SB_PER_THREAD in gibbs.cu)
        grid, block = grid_1d(rows * -(-cols // _SB_PER_THREAD))
        grid = (min(grid[0], _MAX_BLOCKS),)
        use_philox = seed is not None
        uu = a if u is None else u
        _kernel("sigmoid_bernoulli", a.dtype)(
            grid, block,
            (a, bias, uu, p, s, np.int64(rows), np.int64(cols), np.int64(u_stride),
             np.int32(sample), np.int32(use_philox), np.uint64(seed or 0), np.uint64(offset),
             np.uint64(base), status))
    return p, (s if sample else None)


_GB_TILE = 64  # GB_BM = GB_BN in gibbs.cu


def _fused(a, W, transpose_w, bias, u, u_stride, sample, seed, offset, base, status,
           check_a=False):
    """(p, s): ``p = sigmoid(a @ W + bias)`` (``a @ W.T`` if ``transpose_w``), ``s = u < p``
    (``s`` None if not ``sample``), in one launch of ``gemm_sigmoid_bernoulli``; with
    ``check_a`` it also flags entries of ``a`` outside [0, 1]."""
    import cupy

    m, kdim = a.shape
    n = W.shape[0] if transpose_w else W.shape[1]
    p = cupy.empty((m, n), dtype=a.dtype)
    s = cupy.empty((m, n), dtype=a.dtype) if sample else p
    if m and n:
        _kernel("gemm_sigmoid_bernoulli", a.dtype, ", true" if transpose_w else ", false")(
            (-(-n // _GB_TILE), -(-m // _GB_TILE)), (256,),
            (a, W, bias, a if u is None else u, p, s, np.int64(m), np.int64(n), np.int64(kdim),
             np.int64(u_stride), np.int32(sample), np.int32(seed is not None),
             np.uint64(seed or 0), np.uint64(offset), np.uint64(base), np.int32(check_a),
             status))
    return p, (s if sample else None)


def _rbm(v, W, b, c, k, uniforms, seed, offset, compute_ph):
    """``((v, h, pv, ph, ph0, h0), 1 if a bad value was flagged else 0)``."""
    import cupy

    v, W, b, c = _prep(v.astype(W.dtype, copy=False), W, b, c)
    B, (V, H) = v.shape[0], W.shape
    stride = H + V
    status = new_status()

    def u_at(t, col0):
        if seed is not None:
            return None, t * B * stride + col0
        return cupy.ascontiguousarray(uniforms[t])[:, col0:], 0

    if FUSED_PRODUCTS:
        def step(a, transpose_w, bias, t, col0, sample=True, check_a=False):
            u, base = u_at(t, col0) if sample else (None, 0)
            return _fused(a, W, transpose_w, bias, u, stride, sample,
                          seed if sample else None, offset, base, status, check_a)
    else:
        def step(a, transpose_w, bias, t, col0, sample=True, check_a=False):
            if check_a and a.size and bool(((a < 0) | (a > 1) | cupy.isnan(a)).any()):
                status.fill(0)  # cuBLAS reads v here: checked by a reduction
            u, base = u_at(t, col0) if sample else (None, 0)
            return _draw_layer(_matmul(a, W, transpose_w=transpose_w), bias, u, stride, sample,
                       seed if sample else None, offset, base, status)

    ph0, h0 = step(v, False, c, 0, 0, check_a=True)
    h, ph, pv = h0, ph0, None
    for t in range(k):
        pv, v = step(h, True, b, t, H)
        if t < k - 1:
            ph, h = step(v, False, c, t + 1, 0)
        elif compute_ph:
            ph, _ = step(v, False, c, None, 0, sample=False)
        else:
            ph = None
    return (v, h, pv, ph, ph0, h0), int(first_bad(status) >= 0)


def rbm_gibbs_checked(v, W, b, c, k, uniforms, compute_ph=True):
    (uniforms,) = _prep(uniforms.astype(W.dtype, copy=False))
    return _rbm(v, W, b, c, k, uniforms, None, 0, compute_ph)


def rbm_gibbs_philox_checked(v, W, b, c, k, seed, offset, compute_ph=True):
    return _rbm(v, W, b, c, k, None, seed, offset, compute_ph)


def rbm_gibbs(v, W, b, c, k, uniforms, compute_ph=True):
    return rbm_gibbs_checked(v, W, b, c, k, uniforms, compute_ph)[0]


def rbm_gibbs_philox(v, W, b, c, k, seed, offset, compute_ph=True):
    return rbm_gibbs_philox_checked(v, W, b, c, k, seed, offset, compute_ph)[0]


def _bm(state, J, h, n_sweeps, uniforms, order, seed, offset):
    """``(new states, 1 if a state is not 0/1 or a uniform outside [0, 1), else 0)``."""
    import cupy

    x = cupy.array(state, dtype=J.dtype, order="C", copy=True)  # the result
    J, h = _prep(J, h)
    chains, n = x.shape
    status = new_status()
    if chains and n:  # n_sweeps = 0 too: the kernel checks the states it starts from
        order = cupy.ascontiguousarray(order, dtype=cupy.int64)
        u = x if uniforms is None else _prep(uniforms.astype(J.dtype, copy=False))[0]
        grid, block = grid_1d(chains, 128)
        _kernel("bm_gibbs_sweep", J.dtype)(
            grid, block,
            (x, J, h, order, u, np.int64(chains), np.int64(n), np.int32(n_sweeps),
             np.int32(seed is not None), np.uint64(seed or 0), np.uint64(offset), status))
    return x, int(first_bad(status) >= 0)


def bm_gibbs_sweep_checked(state, J, h, n_sweeps, uniforms, order):
    return _bm(state, J, h, n_sweeps, uniforms, order, None, 0)


def bm_gibbs_sweep_philox_checked(state, J, h, n_sweeps, order, seed, offset):
    return _bm(state, J, h, n_sweeps, None, order, seed, offset)


def bm_gibbs_sweep(state, J, h, n_sweeps, uniforms, order):
    return bm_gibbs_sweep_checked(state, J, h, n_sweeps, uniforms, order)[0]


def bm_gibbs_sweep_philox(state, J, h, n_sweeps, order, seed, offset):
    return bm_gibbs_sweep_philox_checked(state, J, h, n_sweeps, order, seed, offset)[0]
