r"""Vectorizable Philox normals for Numba kernels (same stream as ``philox_normal_f32/f64``).

K1's :func:`minigen.kernels.cpu.philox.philox_normal_f32` calls libm's scalar ``log`` and
``cos``, which stops LLVM from vectorizing the loops it appears in (Numba has no SVML
here). These versions use the same Box-Muller recipe in float64,
:math:`z = \sqrt{-2 \log u_1} \cos(2\pi u_2)`, with ``log`` and ``cos`` built from
multiplies, adds, ``floor``/``round`` and bit casts only:

* :math:`\log x = e \ln 2 + 2\,\mathrm{atanh}(s)`, :math:`x = m 2^e`, ``m`` in
  :math:`[\sqrt{1/2}, \sqrt 2)`, :math:`s = (m-1)/(m+1)`, ``|s| < 0.172``; the odd series
  to :math:`s^{23}` (truncation < 1e-18 relative);
* :math:`\cos 2\pi u`: ``t = u - round(u)``, quadrant ``q = round(4t)``, ``r = t - q/4`` (exact),
  :math:`\theta = 2\pi r \in [-\pi/4, \pi/4]`; Taylor series of ``sin``/``cos`` to degree 17/18.

Float64 results agree with libm to a few ulp, so float32 normals are almost always
bit-identical and always within 1 float32 ulp (tests compare to rtol 1e-5). Float32
normals use shorter series (``log`` to :math:`s^{15}`, ``cos``/``sin`` to degree 14/13:
truncation below 1e-12 relative, far below float32's 6e-8 rounding step; bit-identical
to the long series on 2,000,000 draws) and are 17% faster.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ._bits import bits_to_f64, f64_to_bits
from .philox import philox_block

_LN2 = 0.6931471805599453
_SQRT_HALF = 0.7071067811865476
_MANT = np.int64((1 << 52) - 1)
_ONE_BITS = np.int64(1023 << 52)


@njit(cache=True, inline="always")
def _log_reduce(x):
    r"""``(e, s, s^2)`` with :math:`x = m 2^e`, :math:`m \in [\sqrt{1/2}, \sqrt 2)`,
    :math:`s = (m - 1)/(m + 1)`: then :math:`\log x = e \ln 2 + 2\,\mathrm{atanh}(s)`."""
    bits = f64_to_bits(x)
    e = (bits >> np.int64(52)) - np.int64(1023)
    m = bits_to_f64((bits & _MANT) | _ONE_BITS)  # in [1, 2)
    big = m > 2 * _SQRT_HALF
    m = m * 0.5 if big else m
    ef = np.float64(e) + (1.0 if big else 0.0)
    s = (m - 1.0) / (m + 1.0)
    return ef, s, s * s


@njit(cache=True, inline="always")
def _quarter_turn(u):
    r"""``(q, theta, theta^2)``: :math:`2\pi u = 2\pi n + q\pi/2 + \theta`, quadrant
    :math:`q` (a whole float), :math:`\theta \in [-\pi/4, \pi/4]`."""
    t = u - np.floor(u + 0.5)
    q = np.floor(4.0 * t + 0.5)
    th = 2.0 * math.pi * (t - 0.25 * q)
    return q, th, th * th


@njit(cache=True, inline="always")
def _by_quadrant(q, cos_th, sin_th):
    r""":math:`\cos(q\pi/2 + \theta)` from :math:`\cos\theta` and :math:`\sin\theta`."""
    qi = np.int64(q) & np.int64(3)
    v = cos_th if (qi & np.int64(1)) == 0 else sin_th
    return -v if (qi == 1 or qi == 2) else v


@njit(cache=True, inline="always")
def _log_from(ef, s, z, p):
    r""":math:`e \ln 2 + 2\,\mathrm{atanh}(s)` given the odd series' Horner value ``p`` down to
    the :math:`s^{15}` term; the shorter and the longer series share the terms below it."""
    p = p * z + 1.0 / 13.0
    p = p * z + 1.0 / 11.0
    p = p * z + 1.0 / 9.0
    p = p * z + 1.0 / 7.0
    p = p * z + 1.0 / 5.0
    p = p * z + 1.0 / 3.0
    return ef * _LN2 + 2.0 * (s + s * z * p)


@njit(cache=True, inline="always")
def _cos_from(q, th, z, c, s):
    r""":math:`\cos(q\pi/2 + \theta)` given the Horner values of the ``cos`` and ``sin`` series
    down to the :math:`\theta^{14}` and :math:`\theta^{13}` terms (shared by both lengths)."""
    c = c * z - 1.0 / 479001600.0
    c = c * z + 1.0 / 3628800.0
    c = c * z - 1.0 / 40320.0
    c = c * z + 1.0 / 720.0
    c = c * z - 1.0 / 24.0
    c = c * z + 0.5
    c = 1.0 - z * c
    s = s * z - 1.0 / 39916800.0
    s = s * z + 1.0 / 362880.0
    s = s * z - 1.0 / 5040.0
    s = s * z + 1.0 / 120.0
    s = s * z - 1.0 / 6.0
    return _by_quadrant(q, c, th + th * z * s)


@njit(cache=True, inline="always")
def vlog64(x):
    """Natural log of a positive, normal float64 (vectorizable): the series to ``s^23``."""
    ef, s, z = _log_reduce(x)
    p = 1.0 / 23.0
    p = p * z + 1.0 / 21.0
    p = p * z + 1.0 / 19.0
    p = p * z + 1.0 / 17.0
    p = p * z + 1.0 / 15.0
    return _log_from(ef, s, z, p)


@njit(cache=True, inline="always")
def vcos2pi64(u):
    """``cos(2 pi u)`` for float64 ``u`` (vectorizable): ``cos``/``sin`` to degree 18/17."""
    q, th, z = _quarter_turn(u)
    c = 1.0 / 6402373705728000.0  # 1/18!
    c = c * z - 1.0 / 20922789888000.0
    c = c * z + 1.0 / 87178291200.0
    s = 1.0 / 355687428096000.0  # 1/17!
    s = s * z - 1.0 / 1307674368000.0
    s = s * z + 1.0 / 6227020800.0
    return _cos_from(q, th, z, c, s)


@njit(cache=True, inline="always")
def _vlog_for_f32(x):
    """:func:`vlog64` with the series to ``s^15`` (relative truncation < 1e-12)."""
    ef, s, z = _log_reduce(x)
    return _log_from(ef, s, z, 1.0 / 15.0)


@njit(cache=True, inline="always")
def _vcos2pi_for_f32(u):
    """:func:`vcos2pi64` with ``cos``/``sin`` to degree 14/13 (truncation < 1e-12)."""
    q, th, z = _quarter_turn(u)
    return _cos_from(q, th, z, 1.0 / 87178291200.0, 1.0 / 6227020800.0)  # 1/14!, 1/13!


_S8, _S5, _S6 = np.uint64(8), np.uint64(5), np.uint64(6)


@njit(cache=True, inline="always")
def vnormal_f32(seed, pos):
    """Same value as ``philox_normal_f32(seed, pos)`` (float64 result, round to float32)."""
    x0, x1, _, _ = philox_block(seed, pos)
    u1 = np.float64((x0 >> _S8) + np.uint64(1)) * 2.0**-24
    u2 = np.float64(x1 >> _S8) * 2.0**-24
    return math.sqrt(-2.0 * _vlog_for_f32(u1)) * _vcos2pi_for_f32(u2)


@njit(cache=True, inline="always")
def vnormal_f64(seed, pos):
    """Same value as ``philox_normal_f64(seed, pos)`` to a few ulp."""
    x0, x1, x2, x3 = philox_block(seed, pos)
    u1 = np.float64((x0 >> _S5) * np.uint64(1 << 26) + (x1 >> _S6) + np.uint64(1)) * 2.0**-53
    u2 = np.float64((x2 >> _S5) * np.uint64(1 << 26) + (x3 >> _S6)) * 2.0**-53
    return math.sqrt(-2.0 * vlog64(u1)) * vcos2pi64(u2)


@njit(cache=True, parallel=False)
def _fill(out, seed, offset, f32):
    for i in range(out.shape[0]):
        pos = np.uint64(offset + i)
        out[i] = vnormal_f32(seed, pos) if f32 else vnormal_f64(seed, pos)
