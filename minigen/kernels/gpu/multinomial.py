"""Multinomial thresholding on the GPU: CuPy wrappers around ``kernels/multinomial.cu``.

The kernels check the values they read (see the .cu) and write the first invalid row to
a device status word, read once after the launch: one synchronization per call, which
the returned indices need anyway before they are used on the host.
"""

from __future__ import annotations

import numpy as np

from ._module import load_module
from ._status import first_bad, new_status

_ROWS_PER_BLOCK = 8  # warps per block of 256 threads (MN_WARPS_PER_BLOCK in the .cu)
_RESIDENT: dict = {}  # (kernel name, dtype, device) -> blocks that fit on the device at once
_T = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
NAME_EXPRESSIONS = tuple(
    f"{k}<{t}>"
    for k in ("multinomial_threshold_kernel", "categorical_from_logits_kernel",
              "multinomial_threshold_rows_kernel")
    for t in ("float", "double")
)
# Rows of at most this many categories take one thread each
# (multinomial_threshold_rows_kernel). 0 = off: that kernel compiles (NVRTC test) but has
# not yet run on a device; the gpu tests run it with this set to 256, and the next session
# with a GPU should turn it on once they pass (see kernels/README.md, "Multinomial").
_ROWS_KERNEL_MAX_C = 0
_ROWS_KERNEL_BLOCK = 128  # 32 * MN_ROW_WARPS


def _kernel_and_grid(kernel_name, dtype, block=256):
    """The compiled kernel and the number of its ``block``-thread blocks resident at once.

    The kernels are persistent (each warp walks rows, or groups of 32 rows, with a grid
    stride), so the grid is what fits on the device in one wave: blocks per SM from the
    register count (a warp's registers are allocated in units of 8 per thread) and the
    static shared memory, times the SMs.
    """
    import cupy

    key = (kernel_name, dtype, cupy.cuda.Device().id)
    hit = _RESIDENT.get(key)
    if hit is None:
        fn = load_module("multinomial", NAME_EXPRESSIONS).get_function(
            f"{kernel_name}<{_T[dtype]}>")
        attrs = cupy.cuda.Device().attributes
        try:
            regs, smem = max(1, int(fn.num_regs)), int(fn.shared_size_bytes)
        except Exception:  # an older CuPy without kernel attributes: assume 64, none
            regs, smem = 64, 0
        per_sm = min(2048 // block, 65536 // (block * (-(-regs // 8) * 8)))
        if smem:
            per_sm = min(per_sm, attrs.get("MaxSharedMemoryPerMultiprocessor", 65536) // smem)
        per_sm = max(1, per_sm)
        sms = attrs["MultiProcessorCount"]
        hit = _RESIDENT[key] = (fn, per_sm * sms)
    return hit


def _launch(kernel_name, x, u, seed, offset, extra=()):
    """``(indices, first invalid row or -1)``."""
    import cupy

    n, c = x.shape
    out = cupy.empty(n, dtype=cupy.int64)
    status = new_status()
    if n:
        use_seed = u is None
        # the kernels read double uniforms: a float32 u is converted (N values, once)
        u_arr = cupy.zeros(1, dtype=cupy.float64) if use_seed else cupy.ascontiguousarray(
            u, dtype=cupy.float64)
        if kernel_name == "multinomial_threshold_kernel" and c <= _ROWS_KERNEL_MAX_C:
            # one thread per row, 32 rows per warp (see multinomial.cu)
            fn, resident = _kernel_and_grid("multinomial_threshold_rows_kernel", x.dtype,
                                            _ROWS_KERNEL_BLOCK)
            grid = (max(1, min(-(-n // _ROWS_KERNEL_BLOCK), resident)),)
            fn(grid, (_ROWS_KERNEL_BLOCK,), (x, u_arr, np.int64(n), np.int64(c),
                                            np.int32(use_seed), np.uint64(seed or 0),
                                            np.uint64(offset), out, status))
            return out, first_bad(status)
        fn, resident = _kernel_and_grid(kernel_name, x.dtype)
        # whole 16-byte vector loads need every row to start on a 16-byte boundary
        vec = x.data.ptr % 16 == 0 and (c * x.itemsize) % 16 == 0
        # one warp (32 threads) per row, 8 rows per block of 256, grid-stride beyond
        grid = (max(1, min(-(-n // _ROWS_PER_BLOCK), resident)),)
        block = (32 * _ROWS_PER_BLOCK,)
        fn(grid, block, (x, u_arr, np.int64(n), np.int64(c), np.int32(use_seed),
                         np.uint64(seed or 0), np.uint64(offset), np.int32(vec), *extra, out,
                         status))
    return out, first_bad(status)


def multinomial_threshold_checked(weights, u=None, seed=None, offset=0):
    """``(k, first invalid row or -1)``; see the reference's ``multinomial_threshold``."""
    return _launch("multinomial_threshold_kernel", weights, u, seed, offset)


def categorical_from_logits_checked(logits, u=None, seed=None, offset=0, temperature=1.0):
    """``(k, first invalid row or -1)``; see the reference's ``categorical_from_logits``."""
    return _launch("categorical_from_logits_kernel", logits, u, seed, offset,
                   (np.float64(temperature),))


def multinomial_threshold(weights, u=None, seed=None, offset=0):
    """See :func:`minigen.kernels.reference.multinomial.multinomial_threshold`."""
    return multinomial_threshold_checked(weights, u, seed, offset)[0]


def categorical_from_logits(logits, u=None, seed=None, offset=0, temperature=1.0):
    """See :func:`minigen.kernels.reference.multinomial.categorical_from_logits`."""
    return categorical_from_logits_checked(logits, u, seed, offset, temperature)[0]
