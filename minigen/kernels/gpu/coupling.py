"""CuPy wrappers around ``kernels/coupling.cu`` (see the reference for the math).

Checks dtype (float32/float64) and C-contiguity, because a RawKernel ignores
strides, then picks grid and block sizes: one block per row for the fused
forward (row-wise log-det reduction), a 1-D grid-stride launch for the
elementwise backward, additive coupling and ActNorm. Each kernel flags the first row
with a non-finite output in a device status word, read once after the launch; the
``*_checked`` functions return ``(result, row or -1)``.
"""

from __future__ import annotations

import numpy as np

from ..reference.coupling import (  # xp-generic: run on CuPy as is
    actnorm_backward,
    lu_logabsdet,
)
from ._module import grid_1d, load_module
from ._status import first_bad, new_status

_CTYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
_NAMES = ("affine_coupling_fwd", "affine_coupling_bwd", "additive_coupling_fwd",
          "additive_coupling_bwd", "actnorm_fwd")
# every template instance the wrapper asks NVRTC for (tests compile these without a GPU)
NAME_EXPRESSIONS = tuple(f"{k}<{c}>" for k in _NAMES for c in ("float", "double"))
_MAX_GRID = 65535 * 16
_ACTNORM_UNROLL = 4  # ACTNORM_UNROLL in coupling.cu


def _kernel(name: str, dtype):
    return load_module("coupling", name_expressions=NAME_EXPRESSIONS).get_function(
        f"{name}<{_CTYPE[np.dtype(dtype)]}>"
    )


def _check(*arrays, names):
    import cupy

    dtype = arrays[0].dtype
    if dtype not in _CTYPE:
        raise TypeError(f"{names[0]} must be float32 or float64 for the cupy backend, got {dtype}")
    out = []
    for a, name in zip(arrays, names, strict=True):
        if not isinstance(a, cupy.ndarray):
            raise TypeError(f"{name} must be a CuPy array on the cupy backend")
        if a.dtype != dtype:
            raise TypeError(f"{name} has dtype {a.dtype}, expected {dtype}")
        out.append(cupy.ascontiguousarray(a))
    return out


def _block_for(d: int) -> int:
    b = 32
    while b < min(d, 256):
        b *= 2
    return b


def affine_coupling_checked(x2, s, t, inverse=False):
    import cupy

    x2, s, t = _check(x2, s, t, names=("x2", "s", "t"))
    n, d = x2.shape
    y2 = cupy.empty_like(x2)
    logdet = cupy.zeros(n, dtype=cupy.float64)
    status = new_status()
    if n == 0:
        return (y2, logdet), -1
    block = _block_for(d)
    _kernel("affine_coupling_fwd", x2.dtype)(
        (min(n, _MAX_GRID),),
        (block,),
        (x2, s, t, y2, logdet, np.int64(n), np.int64(d), np.int32(bool(inverse)), status),
    )
    return (y2, logdet), first_bad(status)


def affine_coupling_backward_checked(x2, s, t, gy, glogdet, inverse=False):
    import cupy

    x2, s, t, gy = _check(x2, s, t, gy, names=("x2", "s", "t", "gy"))
    glogdet = cupy.ascontiguousarray(glogdet, dtype=cupy.float64)
    n, d = x2.shape
    gx2, gs, gt = (cupy.empty_like(x2) for _ in range(3))
    status = new_status()
    if n * d == 0:
        return (gx2, gs, gt), -1
    grid, block = grid_1d(min(n * d, _MAX_GRID * 256))
    _kernel("affine_coupling_bwd", x2.dtype)(
        grid,
        block,
        (x2, s, t, gy, glogdet, gx2, gs, gt, np.int64(n), np.int64(d), np.int32(bool(inverse)),
         status),
    )
    return (gx2, gs, gt), first_bad(status)


def additive_coupling_checked(x2, t, inverse=False):
    import cupy

    x2, t = _check(x2, t, names=("x2", "t"))
    n, d = x2.shape
    y2 = cupy.empty_like(x2)
    status = new_status()
    if x2.size:
        grid, block = grid_1d(min(n * d, _MAX_GRID * 256))
        _kernel("additive_coupling_fwd", x2.dtype)(
            grid, block, (x2, t, y2, np.int64(n), np.int64(d),
                          x2.dtype.type(-1 if inverse else 1), status))
    return y2, first_bad(status)


def additive_coupling_backward_checked(gy, inverse=False):
    import cupy

    (gy,) = _check(gy, names=("gy",))
    n, d = gy.shape
    gx2, gt = cupy.empty_like(gy), cupy.empty_like(gy)
    status = new_status()
    if gy.size:
        grid, block = grid_1d(min(n * d, _MAX_GRID * 256))
        _kernel("additive_coupling_bwd", gy.dtype)(
            grid, block, (gy, gx2, gt, np.int64(n), np.int64(d),
                          gy.dtype.type(-1 if inverse else 1), status))
    return (gx2, gt), first_bad(status)


def actnorm_backward_checked(x, loc, log_scale, gy, glogdet, inverse=False):
    """The reference's xp code; the check is on its (C,) sums, which are not finite
    exactly when a term is (a NaN or inf in ``x``, ``gy`` or ``glogdet``): one small
    read, no pass over the data."""
    import cupy

    gx, gloc, glog = actnorm_backward(x, loc, log_scale, gy, glogdet, inverse)
    ok = bool(cupy.isfinite(gloc).all() & cupy.isfinite(glog).all())
    return (gx, gloc, glog), (-1 if ok else 0)


def affine_coupling(x2, s, t, inverse=False):
    return affine_coupling_checked(x2, s, t, inverse)[0]


def affine_coupling_backward(x2, s, t, gy, glogdet, inverse=False):
    return affine_coupling_backward_checked(x2, s, t, gy, glogdet, inverse)[0]


def additive_coupling(x2, t, inverse=False):
    return additive_coupling_checked(x2, t, inverse)[0]


def additive_coupling_backward(gy, inverse=False):
    return additive_coupling_backward_checked(gy, inverse)[0]


def actnorm_checked(x, loc, log_scale, inverse=False):
    import cupy

    x, loc, log_scale = _check(x, loc, log_scale, names=("x", "loc", "log_scale"))
    n, c, spatial = x.shape
    y = cupy.empty_like(x)
    status = new_status()
    if x.size:
        vec = x.data.ptr % 16 == 0 and (spatial * x.itemsize) % 16 == 0
        per_thread = _ACTNORM_UNROLL * (16 // x.itemsize) if vec else 8
        # >= 8 elements per thread along a row (16-byte vectors, ACTNORM_UNROLL of them in
        # flight, where rows are aligned), so that the per-row work (channel index, exp of
        # the scale) is amortized; one thread per element made the kernel
        # instruction-bound at 25% of a device copy on an H200
        block = min(256, max(32, 1 << (-(-spatial // per_thread) - 1).bit_length()))
        grid = (max(1, min(-(-spatial // (per_thread * block)), 1024)), min(n * c, 65535))
        _kernel("actnorm_fwd", x.dtype)(
            grid,
            (block,),
            (x, loc, log_scale, y, np.int64(n), np.int64(c), np.int64(spatial),
             np.int32(bool(inverse)), np.int32(vec), status),
        )
    # logdet = +-L * sum(log_scale) in float64, on the device and after the launch above,
    # so that these small kernels overlap with the big one before the status read below
    # (computed first, this host work left the H200 idle for ~0.1 ms of a 0.26 ms call
    # whose kernel takes 0.15 ms)
    total = log_scale.sum(dtype=cupy.float64) * (-float(spatial) if inverse else float(spatial))
    logdet = cupy.empty((n,), dtype=cupy.float64)
    logdet[...] = total
    return (y, logdet), first_bad(status)


def actnorm(x, loc, log_scale, inverse=False):
    return actnorm_checked(x, loc, log_scale, inverse)[0]


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
