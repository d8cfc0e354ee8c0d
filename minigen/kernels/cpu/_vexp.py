r"""A vectorizable ``exp`` for Numba kernels (float32 and float64).

Numba without Intel SVML calls libm's scalar ``exp`` per element, which blocks
SIMD vectorization of every loop it appears in. This ``exp`` uses only
multiplies, adds, ``floor``, integer shifts and a bit cast, all of which LLVM
vectorizes without ``fastmath``:

.. math::

    e^x = 2^k e^r, \quad k = \lfloor x \log_2 e + 1/2 \rfloor,\quad
    r = x - k \ln 2 \in [-\tfrac{\ln 2}{2}, \tfrac{\ln 2}{2}]

with ``ln 2`` split in two parts (Cody-Waite) so ``r`` is exact, ``e^r`` a
polynomial (Cephes ``expf`` minimax, degree 7, for float32; Taylor to degree 13 for
float64: truncation below 2e-16 relative) and ``2^k`` built from exponent bits
as two factors ``2^{k_1} 2^{k_2}`` so that overflow to ``inf`` and gradual
underflow to subnormals and 0 round once, as in libm. Measured error against
``np.exp``: at most a few ulp (see ``tests/kernels/test_coupling.py``).
The input is clamped to a range whose ends already give ``inf`` / 0, so
``exp(1e30) == inf`` and ``exp(-1e30) == 0``. The result for a NaN input is
unspecified: a kernel that must see a NaN through ``exp`` adds ``x - x``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from ._bits import bits_to_f32, bits_to_f64

_F32 = np.float32
_LOG2E_32 = _F32(1.44269504088896341)
_C1_32 = _F32(0.693359375)
_C2_32 = _F32(-2.12194440e-4)
_P0_32 = _F32(1.9875691500e-4)
_P1_32 = _F32(1.3981999507e-3)
_P2_32 = _F32(8.3334519073e-3)
_P3_32 = _F32(4.1665795894e-2)
_P4_32 = _F32(1.6666665459e-1)
_P5_32 = _F32(5.0000001201e-1)
_HALF_32 = _F32(0.5)
_ONE_32 = _F32(1.0)
_HI_32 = _F32(89.0)  # e^89 > float32 max: gives inf
_LO_32 = _F32(-104.0)  # e^-104 < half the smallest subnormal: gives 0


@njit(cache=True, inline="always")
def exp32(x):
    """``exp`` of a float32 scalar in float32 arithmetic (vectorizable)."""
    x = min(max(x, _LO_32), _HI_32)
    k = np.floor(x * _LOG2E_32 + _HALF_32)
    r = x - k * _C1_32
    r = r - k * _C2_32
    z = r * r
    p = (((((_P0_32 * r + _P1_32) * r + _P2_32) * r + _P3_32) * r + _P4_32) * r + _P5_32) * z
    p = p + r + _ONE_32
    ki = np.int32(k)
    k1 = ki >> np.int32(1)
    k2 = ki - k1
    s1 = bits_to_f32((k1 + np.int32(127)) << np.int32(23))
    s2 = bits_to_f32((k2 + np.int32(127)) << np.int32(23))
    return (p * s1) * s2


_LN2_HI = 6.93147180369123816490e-01  # fdlibm split: k * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_INV_FACT = tuple(1.0 / float(np.prod(np.arange(1, n + 1, dtype=np.float64))) for n in range(14))
(_T0, _T1, _T2, _T3, _T4, _T5, _T6, _T7, _T8, _T9, _T10, _T11, _T12, _T13) = _INV_FACT


@njit(cache=True, inline="always")
def exp64(x):
    """``exp`` of a float64 scalar (vectorizable)."""
    x = min(max(x, -760.0), 710.0)
    k = np.floor(x * 1.4426950408889634 + 0.5)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    p = _T13
    p = p * r + _T12
    p = p * r + _T11
    p = p * r + _T10
    p = p * r + _T9
    p = p * r + _T8
    p = p * r + _T7
    p = p * r + _T6
    p = p * r + _T5
    p = p * r + _T4
    p = p * r + _T3
    p = p * r + _T2
    p = p * r + _T1
    p = p * r + _T0
    ki = np.int64(k)
    k1 = ki >> np.int64(1)
    k2 = ki - k1
    s1 = bits_to_f64((k1 + np.int64(1023)) << np.int64(52))
    s2 = bits_to_f64((k2 + np.int64(1023)) << np.int64(52))
    return (p * s1) * s2


def vexp(x):  # pragma: no cover - replaced by the overload inside jitted code
    """Type-generic vectorizable ``exp`` (float32 -> float32, float64 -> float64)."""
    return np.exp(x)


@overload(vexp, inline="always")
def _vexp_overload(x):
    if x == types.float32:
        return lambda x: exp32(x)
    if x == types.float64:
        return lambda x: exp64(x)
    return None


@njit(cache=True)
def vexp_array(x):
    """Elementwise :func:`vexp` of a 1-D array (used by the accuracy tests)."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = vexp(x[i])
    return out
