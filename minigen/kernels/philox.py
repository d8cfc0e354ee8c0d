"""Public Philox4x32-10 stream: seeded, counter-based, identical on every backend.

``philox_uniforms(shape, seed, offset)`` and ``philox_normals`` give element ``i``
(C order) from stream position ``offset + i``, so a kernel that draws in-kernel from
``(seed, offset)`` sees exactly the numbers these functions return. The convention is
in :mod:`minigen.kernels.reference.philox` and ``kernels/README.md``.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._dispatch import implementation

__all__ = ["philox_raw", "philox_uniforms", "philox_normals", "check_seed", "check_offset"]

_U64 = 1 << 64


def check_seed(seed, name: str = "seed") -> int:
    """A Philox seed: an int in [0, 2**64)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be an int in [0, 2**64), got {type(seed).__name__}")
    if not 0 <= int(seed) < _U64:
        raise ValueError(f"{name} must be in [0, 2**64), got {seed}")
    return int(seed)


def check_offset(offset, n: int = 0, name: str = "offset") -> int:
    """A stream offset: an int >= 0 with ``offset + n <= 2**64``."""
    if isinstance(offset, bool) or not isinstance(offset, numbers.Integral):
        raise TypeError(f"{name} must be a non-negative int, got {type(offset).__name__}")
    # a stream position is a uint64: 2**64 itself is no position, even for an empty draw
    if offset < 0 or offset >= _U64 or int(offset) + n > _U64:
        raise ValueError(
            f"{name} must be in [0, 2**64) with {name} + size <= 2**64, got {offset}")
    return int(offset)


def _shape(shape) -> tuple[int, ...]:
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
    if any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 0 for s in shape):
        raise ValueError(f"shape must be non-negative ints, got {shape}")
    return tuple(int(s) for s in shape)


def _dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def philox_uniforms(shape, seed: int, offset: int = 0, dtype=np.float32):
    r"""Uniforms in :math:`[0, 1)` from stream ``seed``; element ``i`` is position ``offset + i``.

    float32: ``(x0 >> 8) 2^{-24}``; float64: ``((x0 >> 5) 2^{26} + (x1 >> 6)) 2^{-53}``,
    where ``x0, x1`` are the first words of the Philox4x32-10 block at that position.

    Returns
    -------
    array of ``shape`` and ``dtype`` on the active backend.
    """
    shape, dtype = _shape(shape), _dtype(dtype)
    seed = check_seed(seed)
    offset = check_offset(offset, int(np.prod(shape, dtype=np.int64)))
    return implementation("philox", "philox_uniforms")(shape, seed, offset, dtype)


def philox_normals(shape, seed: int, offset: int = 0, dtype=np.float32):
    r"""Standard normals by Box-Muller.

    :math:`z = \sqrt{-2\log u_1}\cos(2\pi u_2)` with :math:`u_1 \in (0, 1]`.
    Element ``i`` uses the Philox block at position ``offset + i`` (one block per normal).
    """
    shape, dtype = _shape(shape), _dtype(dtype)
    seed = check_seed(seed)
    offset = check_offset(offset, int(np.prod(shape, dtype=np.int64)))
    return implementation("philox", "philox_normals")(shape, seed, offset, dtype)


def philox_raw(n_blocks: int, key=(0, 0), counter_start=0):
    """Raw Philox4x32-10 blocks: uint32 ``(n_blocks, 4)``; block ``j`` at ``counter_start + j``.

    Parameters
    ----------
    n_blocks : int
    key : pair of int
        ``(k0, k1)``, each < 2**32.
    counter_start : int or four ints
        128-bit start counter (an int, or words ``(c0, c1, c2, c3)``, ``c0`` lowest);
        the counter wraps modulo 2**128.
    """
    if isinstance(n_blocks, bool) or not isinstance(n_blocks, numbers.Integral) or n_blocks < 0:
        raise ValueError(f"n_blocks must be a non-negative int, got {n_blocks!r}")
    key = tuple(key)
    if len(key) != 2 or any(not 0 <= int(k) < 1 << 32 for k in key):
        raise ValueError(f"key must be two ints in [0, 2**32), got {key}")
    if not isinstance(counter_start, numbers.Integral):
        counter_start = tuple(int(c) for c in counter_start)
        if len(counter_start) != 4 or any(not 0 <= c < 1 << 32 for c in counter_start):
            raise ValueError("counter_start must be an int or four ints in [0, 2**32)")
    elif counter_start < 0:
        raise ValueError(f"counter_start must be >= 0, got {counter_start}")
    return implementation("philox", "philox_raw")(int(n_blocks), key, counter_start)
