"""Multinomial thresholding on the GPU: CuPy wrappers around ``kernels/multinomial.cu``."""

from __future__ import annotations

import numpy as np

from ._module import load_module

_ROWS_PER_BLOCK = 8
_MAX_BLOCKS = 1 << 20
_T = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
NAME_EXPRESSIONS = tuple(
    f"{k}<{t}>"
    for k in ("multinomial_threshold_kernel", "categorical_from_logits_kernel")
    for t in ("float", "double")
)


def _launch(kernel_name, x, u, seed, offset, extra=()):
    import cupy

    n, c = x.shape
    out = cupy.empty(n, dtype=cupy.int64)
    if n:
        fn = load_module("multinomial", NAME_EXPRESSIONS).get_function(
            f"{kernel_name}<{_T[x.dtype]}>")
        use_seed = u is None
        u_arr = cupy.zeros(1, dtype=cupy.float64) if use_seed else u
        # one warp (32 threads) per row, 8 rows per block of 256, grid-stride beyond
        grid = (min((n + _ROWS_PER_BLOCK - 1) // _ROWS_PER_BLOCK, _MAX_BLOCKS),)
        block = (32 * _ROWS_PER_BLOCK,)
        fn(grid, block, (x, u_arr, np.int64(n), np.int64(c), np.int32(use_seed),
                         np.uint64(seed or 0), np.uint64(offset), *extra, out))
    return out


def multinomial_threshold(weights, u=None, seed=None, offset=0):
    """See :func:`minigen.kernels.reference.multinomial.multinomial_threshold`."""
    return _launch("multinomial_threshold_kernel", weights, u, seed, offset)


def categorical_from_logits(logits, u=None, seed=None, offset=0, temperature=1.0):
    """See :func:`minigen.kernels.reference.multinomial.categorical_from_logits`."""
    return _launch("categorical_from_logits_kernel", logits, u, seed, offset,
                   (np.float64(temperature),))
