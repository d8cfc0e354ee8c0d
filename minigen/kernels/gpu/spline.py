"""CuPy wrappers around ``kernels/spline.cu`` (see the reference for the math).

Checks dtype (float32/float64) and C-contiguity (a RawKernel ignores strides), then picks
grid and block sizes: one block per row for the forward (row-wise log-det reduction), a
1-D grid-stride launch for the elementwise backward. Each launch reports non-finite input
in a one-word status (the smallest ``8 * (row * D + column) + argument``), read back once
per call to raise the same ``ValueError`` as the other backends.
"""

from __future__ import annotations

import numpy as np

from ..reference.spline import bad_value_error
from ._module import grid_1d, load_module

_CTYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
# every template instance the wrapper asks NVRTC for (tests compile these without a GPU)
NAME_EXPRESSIONS = tuple(f"{k}<{c}>" for k in ("spline_fwd", "spline_bwd")
                         for c in ("float", "double"))
_MAX_GRID = 65535 * 16
_CLEAN = np.uint64(np.iinfo(np.uint64).max)


def _kernel(name: str, dtype):
    return load_module("spline", name_expressions=NAME_EXPRESSIONS).get_function(
        f"{name}<{_CTYPE[np.dtype(dtype)]}>")


def _check(arrays: dict):
    import cupy

    dtype = arrays["x"].dtype
    if dtype not in _CTYPE:
        raise TypeError(f"x must be float32 or float64 for the cupy backend, got {dtype}")
    out = []
    for name, a in arrays.items():
        if not isinstance(a, cupy.ndarray):
            raise TypeError(f"{name} must be a CuPy array on the cupy backend")
        if a.dtype != dtype:
            raise TypeError(f"{name} has dtype {a.dtype}, expected {dtype}")
        out.append(cupy.ascontiguousarray(a))
    return out


def _scalars(dtype, n_bins, tail_bound, min_bin_width, min_bin_height, min_derivative):
    """``(B, 2B, m_w, 1 - K m_w, m_h, 1 - K m_h, m_delta)`` rounded to ``dtype`` on the host."""
    t = np.dtype(dtype).type
    return (t(tail_bound), t(2.0 * tail_bound), t(min_bin_width), t(1.0 - min_bin_width * n_bins),
            t(min_bin_height), t(1.0 - min_bin_height * n_bins), t(min_derivative))


def _raise_on_status(status, d: int) -> None:
    code = int(status.get()[0])  # the one device-to-host read of the call
    if code != int(_CLEAN):
        idx, arg = divmod(code, 8)
        raise bad_value_error(arg, idx // d, idx % d)


def _block_for(d: int) -> int:
    b = 32
    while b < min(d, 256):
        b *= 2
    return b


def spline_coupling(x, widths, heights, derivatives, inverse=False, tail_bound=3.0,
                    min_bin_width=1e-3, min_bin_height=1e-3, min_derivative=1e-3):
    import cupy

    x, widths, heights, derivatives = _check(
        dict(x=x, widths=widths, heights=heights, derivatives=derivatives))
    n, d = x.shape
    n_bins = widths.shape[2]
    y = cupy.empty_like(x)
    logdet = cupy.zeros(n, dtype=cupy.float64)
    if n * d == 0:
        return y, logdet
    status = cupy.full(1, _CLEAN, dtype=cupy.uint64)
    _kernel("spline_fwd", x.dtype)(
        (min(n, _MAX_GRID),), (_block_for(d),),
        (x, widths, heights, derivatives, y, logdet, status, np.int64(n), np.int64(d),
         np.int32(n_bins), np.int32(bool(inverse)),
         *_scalars(x.dtype, n_bins, tail_bound, min_bin_width, min_bin_height, min_derivative)))
    _raise_on_status(status, d)
    return y, logdet


def spline_coupling_backward(x, widths, heights, derivatives, gy, glogdet, inverse=False,
                             tail_bound=3.0, min_bin_width=1e-3, min_bin_height=1e-3,
                             min_derivative=1e-3):
    import cupy

    x, widths, heights, derivatives, gy = _check(
        dict(x=x, widths=widths, heights=heights, derivatives=derivatives, gy=gy))
    glogdet = cupy.ascontiguousarray(glogdet, dtype=cupy.float64)
    n, d = x.shape
    n_bins = widths.shape[2]
    grads = tuple(cupy.empty_like(a) for a in (x, widths, heights, derivatives))
    if n * d == 0:
        return grads
    status = cupy.full(1, _CLEAN, dtype=cupy.uint64)
    grid, block = grid_1d(min(n * d, _MAX_GRID * 256))
    _kernel("spline_bwd", x.dtype)(
        grid, block,
        (x, widths, heights, derivatives, gy, glogdet, *grads, status, np.int64(n),
         np.int64(d), np.int32(n_bins), np.int32(bool(inverse)),
         *_scalars(x.dtype, n_bins, tail_bound, min_bin_width, min_bin_height, min_derivative)))
    _raise_on_status(status, d)
    return grads


__all__ = ["spline_coupling", "spline_coupling_backward", "NAME_EXPRESSIONS"]
