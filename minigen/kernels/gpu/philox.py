"""Philox4x32-10 on the GPU: CuPy wrappers around ``kernels/philox.cu``."""

from __future__ import annotations

import numpy as np

from ._module import grid_1d, load_module

NAME_EXPRESSIONS = ("philox_fill<float>", "philox_fill<double>")


def _module():
    return load_module("philox", NAME_EXPRESSIONS)


def philox_raw(n_blocks: int, key=(0, 0), counter_start=0):
    """See :func:`minigen.kernels.reference.philox.philox_raw` (returns a CuPy array)."""
    import cupy

    if not isinstance(counter_start, (int, np.integer)):
        w = [int(x) & 0xFFFFFFFF for x in counter_start]
        counter_start = w[0] | (w[1] << 32) | (w[2] << 64) | (w[3] << 96)
    start = int(counter_start) % (1 << 128)
    out = cupy.empty((n_blocks, 4), dtype=cupy.uint32)
    if n_blocks:
        kernel = _module().get_function("philox_raw_kernel")
        grid, block = grid_1d(n_blocks)
        kernel(grid, block, (out, np.int64(n_blocks), np.uint32(key[0]), np.uint32(key[1]),
                             np.uint64(start & ((1 << 64) - 1)), np.uint64(start >> 64)))
    return out


def _draw(shape, seed, offset, dtype, normal):
    import cupy

    dtype = np.dtype(dtype)
    out = cupy.empty(shape, dtype=dtype)
    if out.size:
        name = NAME_EXPRESSIONS[0] if dtype == np.float32 else NAME_EXPRESSIONS[1]
        kernel = _module().get_function(name)
        grid, block = grid_1d(out.size)
        kernel(grid, block, (out, np.int64(out.size), np.uint64(seed), np.uint64(offset),
                             np.int32(normal)))
    return out


def philox_uniforms(shape, seed: int, offset: int = 0, dtype=np.float32):
    """See :func:`minigen.kernels.reference.philox.philox_uniforms`."""
    return _draw(shape, seed, offset, dtype, 0)


def philox_normals(shape, seed: int, offset: int = 0, dtype=np.float32):
    """See :func:`minigen.kernels.reference.philox.philox_normals`."""
    return _draw(shape, seed, offset, dtype, 1)
