"""The status word every CUDA kernel of minigen reports bad values in (``status.cuh``).

A launch starts from :func:`new_status` (no bad value yet); a kernel that meets one writes the
smallest flagged index with ``atomicMin``; :func:`first_bad` is the call's one
device-to-host read.
"""

from __future__ import annotations

NO_BAD = 2**64 - 1  # MINIGEN_NO_BAD in status.cuh


def new_status():
    """A one-word ``uint64`` device array holding :data:`NO_BAD`."""
    import cupy

    return cupy.full(1, NO_BAD, dtype=cupy.uint64)


def first_bad(status) -> int:
    """The status word after the launch (the call's one device-to-host read), or -1."""
    b = int(status.get()[0])
    return -1 if b == NO_BAD else b
