r"""A vectorizable ``log`` and ``log1p`` for Numba kernels (float32 and float64).

libm's scalar ``log`` blocks SIMD vectorization of every loop it appears in (Numba without
Intel SVML); this one uses only multiplies, adds, one division (float64), integer masks
and bit casts. With :math:`x = 2^e m`, :math:`m \in [\sqrt{1/2}, \sqrt 2)`, :math:`z = m - 1`:

.. math::

    \log x = e \ln 2 + z - z^2/2 + z^3 P(z)

with Cephes' coefficients (``logf``: a degree-8 polynomial; ``log``: the rational
:math:`P_5(z)/Q_5(z)`) and :math:`\ln 2` split in two parts (fdlibm's for float64, Cephes'
for float32) so that :math:`e \ln 2` adds no rounding. Subnormal inputs are scaled by
:math:`2^{54}` (float64) or :math:`2^{24}` (float32) first. Measured error against
``np.log``: at most a few ulp (``tests/kernels/test_vlog.py``). Inputs must be positive and
finite (kernels pass validated values): 0, negatives, inf and NaN are not supported.

:func:`vlog1p` is ``log1p`` for ``x >= 0`` by Goldberg's trick
:math:`\log(1 + x) = \log(u) \, x / (u - 1)`, :math:`u = 1 + x` (and ``x`` when ``u == 1``),
accurate to a few ulp where ``log(1 + x)`` would lose the digits of a small ``x``.

References: Moshier, Cephes Math Library (``log.c``, ``logf.c``); Goldberg (1991) What every
computer scientist should know about floating-point arithmetic, Theorem 4.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from ._bits import bits_to_f32, bits_to_f64, f32_to_bits, f64_to_bits

_F32 = np.float32
_SQRTH_32 = _F32(0.707106781186547524)
_P32 = tuple(_F32(v) for v in (7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1,
                               -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
                               2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1))
_P32_0, _P32_1, _P32_2, _P32_3, _P32_4, _P32_5, _P32_6, _P32_7, _P32_8 = _P32
_LN2_HI_32 = _F32(0.693359375)
_LN2_LO_32 = _F32(-2.12194440e-4)
_HALF_32 = _F32(0.5)
_ONE_32 = _F32(1.0)
_TINY_32 = _F32(1.1754943508222875e-38)  # smallest normal float32
_SCALE_32 = _F32(2.0 ** 24)


@njit(cache=True, inline="always", error_model="numpy")
def log32(x):
    """``log`` of a positive finite float32 scalar in float32 arithmetic (vectorizable)."""
    sub = x < _TINY_32
    x = x * _SCALE_32 if sub else x
    bits = f32_to_bits(x)
    e = ((bits >> np.int32(23)) & np.int32(0xFF)) - np.int32(126)
    e = e - np.int32(24) if sub else e
    m = bits_to_f32((bits & np.int32(0x007FFFFF)) | np.int32(0x3F000000))  # [0.5, 1)
    small = m < _SQRTH_32
    e = e - np.int32(1) if small else e
    z = (m + m - _ONE_32) if small else (m - _ONE_32)
    fe = _F32(e)
    z2 = z * z
    p = _P32_0 * z + _P32_1
    p = p * z + _P32_2
    p = p * z + _P32_3
    p = p * z + _P32_4
    p = p * z + _P32_5
    p = p * z + _P32_6
    p = p * z + _P32_7
    p = p * z + _P32_8
    y = p * z * z2 + fe * _LN2_LO_32 - _HALF_32 * z2
    return (z + y) + fe * _LN2_HI_32


_SQRTH_64 = 0.70710678118654752440
_LP0, _LP1, _LP2, _LP3, _LP4, _LP5 = (1.01875663804580931796e-4, 4.97494994976747001425e-1,
                                      4.70579119878881725854e0, 1.44989225341610930846e1,
                                      1.79368678507819816313e1, 7.70838733755885391666e0)
_LQ1, _LQ2, _LQ3, _LQ4, _LQ5 = (1.12873587189167450590e1, 4.52279145837532221105e1,
                                8.29875266912776603211e1, 7.11544750618563894466e1,
                                2.31251620126765340583e1)
_LN2_HI = 6.93147180369123816490e-01  # fdlibm split: e * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_TINY_64 = 2.2250738585072014e-308  # smallest normal float64


@njit(cache=True, inline="always", error_model="numpy")
def log64(x):
    """``log`` of a positive finite float64 scalar (vectorizable)."""
    sub = x < _TINY_64
    x = x * 18014398509481984.0 if sub else x  # 2^54
    bits = f64_to_bits(x)
    e = ((bits >> np.int64(52)) & np.int64(0x7FF)) - np.int64(1022)
    e = e - np.int64(54) if sub else e
    m = bits_to_f64((bits & np.int64(0x000FFFFFFFFFFFFF)) | np.int64(0x3FE0000000000000))
    small = m < _SQRTH_64
    e = e - np.int64(1) if small else e
    z = (m + m - 1.0) if small else (m - 1.0)
    fe = float(e)
    z2 = z * z
    p = ((((_LP0 * z + _LP1) * z + _LP2) * z + _LP3) * z + _LP4) * z + _LP5
    q = ((((z + _LQ1) * z + _LQ2) * z + _LQ3) * z + _LQ4) * z + _LQ5
    y = z * (z2 * p / q) + fe * _LN2_LO - 0.5 * z2
    return (z + y) + fe * _LN2_HI


def vlog(x):  # pragma: no cover - replaced by the overload inside jitted code
    """Type-generic vectorizable ``log`` (float32 -> float32, float64 -> float64)."""
    return np.log(x)


@overload(vlog, inline="always")
def _vlog_overload(x):
    if x == types.float32:
        return lambda x: log32(x)
    if x == types.float64:
        return lambda x: log64(x)
    return None


def vlog1p(x):  # pragma: no cover - replaced by the overload inside jitted code
    """Type-generic vectorizable ``log1p`` for ``x >= 0``."""
    return np.log1p(x)


@overload(vlog1p)
def _vlog1p_overload(x):
    if x in (types.float32, types.float64):
        one = np.float32(1.0) if x == types.float32 else 1.0

        def impl(x):
            u = x + one
            return x if u == one else vlog(u) * (x / (u - one))  # Goldberg

        return impl
    return None


@njit(cache=True, error_model="numpy")
def vlog_array(x):
    """Elementwise :func:`vlog` of a 1-D array (used by the accuracy tests)."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = vlog(x[i])
    return out


@njit(cache=True, error_model="numpy")
def vlog1p_array(x):
    """Elementwise :func:`vlog1p` of a 1-D array (used by the accuracy tests)."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = vlog1p(x[i])
    return out
