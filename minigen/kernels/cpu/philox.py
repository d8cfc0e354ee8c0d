"""Philox4x32-10 in Numba: scalar device-style functions usable inside other ``@njit`` kernels.

Bit for bit equal to :mod:`minigen.kernels.reference.philox` (the stream convention is
documented there and in ``kernels/README.md``). Every integer is held as ``uint64``
(values < 2**32 for words) because Numba promotes mixed ``uint64``/``int64`` to float.

Helpers for other kernels (``seed`` and ``pos`` are ``np.uint64``; ``pos = offset + i``)::

    philox4x32_10(c0, c1, c2, c3, k0, k1) -> (x0, x1, x2, x3)   # uint32 words (as uint64)
    philox_block(seed, pos)                -> (x0, x1, x2, x3)
    philox_uniform_f32(seed, pos) / philox_uniform_f64(seed, pos)
    philox_normal_f32(seed, pos)  / philox_normal_f64(seed, pos)
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
_MASK = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)


@njit(cache=True, inline="always")
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """One Philox4x32-10 block; inputs and outputs are ``uint64`` holding 32-bit words."""
    c0, c1, c2, c3 = np.uint64(c0), np.uint64(c1), np.uint64(c2), np.uint64(c3)
    k0, k1 = np.uint64(k0), np.uint64(k1)
    for r in range(10):
        if r > 0:
            k0 = (k0 + _W0) & _MASK
            k1 = (k1 + _W1) & _MASK
        p0 = _M0 * c0
        p1 = _M1 * c2
        c0, c1, c2, c3 = (p1 >> _S32) ^ c1 ^ k0, p1 & _MASK, (p0 >> _S32) ^ c3 ^ k1, p0 & _MASK
    return c0, c1, c2, c3


@njit(cache=True, inline="always")
def philox_block(seed, pos):
    """Block at stream position ``pos`` of stream ``seed`` (counter ``(pos lo, pos hi, 0, 0)``)."""
    seed, pos = np.uint64(seed), np.uint64(pos)
    z = np.uint64(0)
    return philox4x32_10(pos & _MASK, pos >> _S32, z, z, seed & _MASK, seed >> _S32)


@njit(cache=True, inline="always")
def _u53(a, b):
    return (a >> np.uint64(5)) * np.uint64(1 << 26) + (b >> np.uint64(6))


@njit(cache=True, inline="always")
def philox_uniform_f32(seed, pos):
    """float32 uniform in [0, 1): ``(x0 >> 8) * 2**-24``."""
    x0, _, _, _ = philox_block(seed, pos)
    return np.float32(x0 >> np.uint64(8)) * np.float32(2.0**-24)


@njit(cache=True, inline="always")
def philox_uniform_f64(seed, pos):
    """float64 uniform in [0, 1): ``((x0 >> 5) * 2**26 + (x1 >> 6)) * 2**-53``."""
    x0, x1, _, _ = philox_block(seed, pos)
    return np.float64(_u53(x0, x1)) * 2.0**-53


@njit(cache=True, inline="always")
def philox_normal_f64(seed, pos):
    """float64 standard normal (Box-Muller with 53-bit ``u1`` in (0, 1])."""
    x0, x1, x2, x3 = philox_block(seed, pos)
    u1 = np.float64(_u53(x0, x1) + np.uint64(1)) * 2.0**-53
    u2 = np.float64(_u53(x2, x3)) * 2.0**-53
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@njit(cache=True, inline="always")
def philox_normal_f32(seed, pos):
    """float32 standard normal (Box-Muller in float64 from 24-bit uniforms, then rounded)."""
    x0, x1, _, _ = philox_block(seed, pos)
    u1 = np.float64((x0 >> np.uint64(8)) + np.uint64(1)) * 2.0**-24
    u2 = np.float64(x1 >> np.uint64(8)) * 2.0**-24
    return np.float32(math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2))


@njit(cache=True, parallel=True)
def _raw(n_blocks, k0, k1, lo0, hi0):
    out = np.empty((n_blocks, 4), dtype=np.uint32)
    for j in prange(n_blocks):
        lo = np.uint64(lo0) + np.uint64(j)
        hi = np.uint64(hi0) + (np.uint64(1) if lo < np.uint64(lo0) else np.uint64(0))
        x = philox4x32_10(lo & _MASK, lo >> _S32, hi & _MASK, hi >> _S32, k0, k1)
        for w in range(4):
            out[j, w] = np.uint32(x[w])
    return out


@njit(cache=True, parallel=True)
def _fill_u32(out, seed, offset):
    for i in prange(out.size):
        out[i] = philox_uniform_f32(seed, offset + np.uint64(i))


@njit(cache=True, parallel=True)
def _fill_u64(out, seed, offset):
    for i in prange(out.size):
        out[i] = philox_uniform_f64(seed, offset + np.uint64(i))


@njit(cache=True, parallel=True)
def _fill_n32(out, seed, offset):
    for i in prange(out.size):
        out[i] = philox_normal_f32(seed, offset + np.uint64(i))


@njit(cache=True, parallel=True)
def _fill_n64(out, seed, offset):
    for i in prange(out.size):
        out[i] = philox_normal_f64(seed, offset + np.uint64(i))


def philox_raw(n_blocks: int, key=(0, 0), counter_start=0) -> np.ndarray:
    """See :func:`minigen.kernels.reference.philox.philox_raw`."""
    if not isinstance(counter_start, (int, np.integer)):
        w = [int(x) & 0xFFFFFFFF for x in counter_start]
        counter_start = w[0] | (w[1] << 32) | (w[2] << 64) | (w[3] << 96)
    start = int(counter_start) % (1 << 128)
    lo0, hi0 = start & ((1 << 64) - 1), start >> 64
    return _raw(n_blocks, np.uint64(key[0]), np.uint64(key[1]), np.uint64(lo0), np.uint64(hi0))


def _draw(shape, seed, offset, dtype, normal):
    dtype = np.dtype(dtype)
    out = np.empty(shape, dtype=dtype)
    fill = ((_fill_u32, _fill_u64), (_fill_n32, _fill_n64))[normal][dtype == np.float64]
    fill(out.reshape(-1), np.uint64(seed), np.uint64(offset))
    return out


def philox_uniforms(shape, seed: int, offset: int = 0, dtype=np.float32) -> np.ndarray:
    """See :func:`minigen.kernels.reference.philox.philox_uniforms`."""
    return _draw(shape, seed, offset, dtype, False)


def philox_normals(shape, seed: int, offset: int = 0, dtype=np.float32) -> np.ndarray:
    """See :func:`minigen.kernels.reference.philox.philox_normals`."""
    return _draw(shape, seed, offset, dtype, True)


def warm_up() -> None:
    """Compile (or load from cache) every kernel of this module on tiny inputs."""
    philox_raw(2, (1, 2), 3)
    for dtype in (np.float32, np.float64):
        philox_uniforms(3, 1, 0, dtype)
        philox_normals(3, 1, 0, dtype)
