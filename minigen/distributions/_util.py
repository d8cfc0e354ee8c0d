"""What the distributions share besides the formulas of :mod:`minigen._math`."""

from __future__ import annotations

import numpy as np


def sample_shape_of(n) -> tuple:
    """``n`` (int) or a shape tuple -> tuple; the leading shape of a sample."""
    if isinstance(n, (int, np.integer)) and not isinstance(n, bool):
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        return (int(n),)
    if isinstance(n, tuple) and all(isinstance(s, (int, np.integer)) and s >= 0 for s in n):
        return tuple(int(s) for s in n)
    raise TypeError(f"n must be an int or a tuple of non-negative ints, got {n!r}")
