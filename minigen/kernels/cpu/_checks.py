"""Value checks the Numba kernels fuse into their passes (counted, then raised by the wrapper)."""

from __future__ import annotations

from numba import njit


@njit(cache=True, inline="always")
def not_finite(v, big):
    """1 if ``v`` is NaN or infinite (NaN fails the comparison; ``big`` = the dtype's max)."""
    return 0 if abs(v) <= big else 1


@njit(cache=True, inline="always")
def first_bad(bad):
    """First entry >= 0 of per-chunk statuses (chunks in row or chain order), or -1."""
    for b in bad:
        if b >= 0:
            return b
    return -1
