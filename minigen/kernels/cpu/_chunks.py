"""Serial or ``prange`` over row chunks: how the Numba row kernels are launched."""

from __future__ import annotations


def n_chunks(x, min_size: int) -> int:
    """0 (run serially) below ``min_size`` elements or with one row, else the number of row
    chunks for ``prange`` (at most 64)."""
    if x.size < min_size or x.shape[0] < 2:
        return 0
    return min(x.shape[0], 64)


def run_rows(rows, par, x, min_size: int, *args):
    """``rows(*args, 0, n)`` serially, or ``par(*args, chunks)`` over :func:`n_chunks` row
    chunks of ``x``; returns what the kernel returns."""
    chunks = n_chunks(x, min_size)
    return par(*args, chunks) if chunks else rows(*args, 0, x.shape[0])
