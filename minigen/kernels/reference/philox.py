r"""Philox4x32-10 in NumPy: the specification of minigen's counter-based random stream.

Philox4x32-10 (Salmon et al., 2011) maps a 128-bit counter ``(c0, c1, c2, c3)`` and a
64-bit key ``(k0, k1)`` to four 32-bit words by ten rounds of

.. math::

    (hi_0, lo_0) = M_0 c_0,\quad (hi_1, lo_1) = M_1 c_2,\quad
    c \leftarrow (hi_1 \oplus c_1 \oplus k_0,\ lo_1,\ hi_0 \oplus c_3 \oplus k_1,\ lo_0),

with the key bumped by the Weyl constants ``(W0, W1)`` between rounds.

Stream convention (shared by every minigen kernel, see ``kernels/README.md``):
``key = (seed & 0xffffffff, seed >> 32)``; position ``p = offset + i`` of a stream
is the Philox block with counter ``(p & 0xffffffff, p >> 32, 0, 0)``, whose words are
``x0..x3``.

* uniform float32: ``(x0 >> 8) * 2**-24``                          in [0, 1)
* uniform float64: ``((x0 >> 5) * 2**26 + (x1 >> 6)) * 2**-53``      in [0, 1)
* normal float32: Box-Muller in float64, ``u1 = ((x0 >> 8) + 1) * 2**-24`` in (0, 1],
  ``u2 = (x1 >> 8) * 2**-24``, ``z = sqrt(-2 log u1) cos(2 pi u2)``, rounded to float32
* normal float64: same with 53-bit ``u1 = (((x0 >> 5) * 2**26 + (x1 >> 6)) + 1) * 2**-53``
  and ``u2 = ((x2 >> 5) * 2**26 + (x3 >> 6)) * 2**-53``

References: J. K. Salmon, M. A. Moraes, R. O. Dror, D. E. Shaw, "Parallel random
numbers: as easy as 1, 2, 3", SC'11; Random123 ``kat_vectors``.
"""

from __future__ import annotations

import numpy as np

M0, M1 = 0xD2511F53, 0xCD9E8D57
W0, W1 = 0x9E3779B9, 0xBB67AE85
MASK32 = 0xFFFFFFFF
ROUNDS = 10


def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Vectorized Philox4x32-10: uint32-valued arrays in, tuple of four uint32 arrays out."""
    m = np.uint64(MASK32)
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint64) & m for c in (c0, c1, c2, c3))
    k0 = np.asarray(k0, dtype=np.uint64) & m
    k1 = np.asarray(k1, dtype=np.uint64) & m
    s32 = np.uint64(32)
    for r in range(ROUNDS):
        if r:
            k0 = (k0 + np.uint64(W0)) & m
            k1 = (k1 + np.uint64(W1)) & m
        p0 = np.uint64(M0) * c0
        p1 = np.uint64(M1) * c2
        c0, c1, c2, c3 = (p1 >> s32) ^ c1 ^ k0, p1 & m, (p0 >> s32) ^ c3 ^ k1, p0 & m
    return tuple(np.asarray(c, dtype=np.uint32) for c in (c0, c1, c2, c3))


def seed_key(seed: int) -> tuple[int, int]:
    """The Philox key ``(seed & 0xffffffff, seed >> 32)`` of a 64-bit ``seed``."""
    seed = int(seed)
    return seed & MASK32, (seed >> 32) & MASK32


def philox_raw(n_blocks: int, key=(0, 0), counter_start=0) -> np.ndarray:
    """Blocks ``counter_start + j`` (128-bit, wrapping), ``j < n_blocks``: uint32 ``(n_blocks, 4)``.

    ``key`` is a pair ``(k0, k1)``; ``counter_start`` an int (128-bit) or four words.
    """
    if not isinstance(counter_start, (int, np.integer)):
        w = [int(x) & MASK32 for x in counter_start]
        counter_start = w[0] | (w[1] << 32) | (w[2] << 64) | (w[3] << 96)
    start = int(counter_start) % (1 << 128)
    lo0, hi0 = start & ((1 << 64) - 1), start >> 64
    j = np.arange(n_blocks, dtype=np.uint64)
    lo = j + np.uint64(lo0)  # wraps modulo 2**64
    hi = np.uint64(hi0) + (lo < np.uint64(lo0)).astype(np.uint64)  # carry
    s32, m = np.uint64(32), np.uint64(MASK32)
    out = philox4x32_10(lo & m, lo >> s32, hi & m, hi >> s32, key[0], key[1])
    return np.stack(out, axis=-1).reshape(n_blocks, 4)


def _blocks(n: int, seed: int, offset: int):
    k0, k1 = seed_key(seed)
    p = np.arange(n, dtype=np.uint64) + np.uint64(offset)
    s32, m = np.uint64(32), np.uint64(MASK32)
    z = np.zeros(n, dtype=np.uint64)
    return [x.astype(np.uint64) for x in philox4x32_10(p & m, p >> s32, z, z, k0, k1)]


def _u53(a, b):
    return (a >> np.uint64(5)) * np.uint64(1 << 26) + (b >> np.uint64(6))


def philox_uniforms(shape, seed: int, offset: int = 0, dtype=np.float32) -> np.ndarray:
    """Uniforms in [0, 1): element ``i`` (C order) is stream position ``offset + i``."""
    n = int(np.prod(shape, dtype=np.int64))
    x0, x1, _, _ = _blocks(n, seed, offset)
    if np.dtype(dtype) == np.float32:
        out = ((x0 >> np.uint64(8)).astype(np.float32) * np.float32(2.0**-24))
    else:
        out = _u53(x0, x1).astype(np.float64) * 2.0**-53
    return out.reshape(shape)


def philox_normals(shape, seed: int, offset: int = 0, dtype=np.float32) -> np.ndarray:
    """Standard normals by Box-Muller; element ``i`` is stream position ``offset + i``."""
    n = int(np.prod(shape, dtype=np.int64))
    x0, x1, x2, x3 = _blocks(n, seed, offset)
    if np.dtype(dtype) == np.float32:
        u1 = ((x0 >> np.uint64(8)) + np.uint64(1)).astype(np.float64) * 2.0**-24
        u2 = (x1 >> np.uint64(8)).astype(np.float64) * 2.0**-24
    else:
        u1 = (_u53(x0, x1) + np.uint64(1)).astype(np.float64) * 2.0**-53
        u2 = _u53(x2, x3).astype(np.float64) * 2.0**-53
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return z.astype(dtype).reshape(shape)
