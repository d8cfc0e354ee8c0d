r"""NumPy reference for the coupling-layer kernels: the specification.

The wrapper (:mod:`minigen.kernels.coupling`) has checked the shapes:
``x2``, ``s``, ``t`` (and ``gy``) share one shape ``(N, D)`` (the wrapper
flattens ``(N, ...)`` to rows) and one float dtype; ``glogdet`` is ``(N,)``
float64. The values are checked by the ``*_checked`` functions below. Functions use
``xp = xp_of(...)`` so they also run on CuPy arrays.

Affine coupling (RealNVP), row ``n``:

.. math::

    \text{forward:}\quad y = x \odot e^{s} + t, \qquad
        \log|\det J| = \textstyle\sum_j s_j

    \text{inverse:}\quad x = (y - t) \odot e^{-s}, \qquad
        \log|\det J| = -\textstyle\sum_j s_j

Log-determinants are accumulated and returned in float64 whatever the input
dtype. Additive coupling (NICE) is the case ``s = 0``.

Products with an exact zero factor are zero even when the other factor overflowed to
``inf`` (``0 * e^{1e300} = 0``, not NaN): ``affine_coupling(x2=0, s=1e300)`` is ``t``.
Otherwise an overflow is IEEE's (``inf``). The ``*_checked`` functions return
``(result, first row with a NaN or inf input, or -1)``: the explicit form of the checks
the Numba and CUDA kernels make on the values they read.

References: Dinh, Krueger, Bengio (2015) NICE; Dinh, Sohl-Dickstein, Bengio
(2017) RealNVP; Kingma, Dhariwal (2018) Glow.
"""

from __future__ import annotations

import numpy as np

from ...backend import xp_of


def _rowsum64(a):
    xp = xp_of(a)
    return a.sum(axis=tuple(range(1, a.ndim)), dtype=xp.float64)


def mul0(a, b):
    """``a * b``, and exactly 0 where ``a`` or ``b`` is 0 (``0 * inf = 0``)."""
    xp = xp_of(a, b)
    with np.errstate(over="ignore", invalid="ignore"):
        p = a * b
        if bool(xp.isfinite(p).all()):
            return p
        return xp.where((a == 0) | (b == 0), xp.zeros((), p.dtype), p)


def _exp(a):
    with np.errstate(over="ignore"):
        return xp_of(a).exp(a)


def affine_coupling(x2, s, t, inverse=False):
    """``(y2, logdet)``: ``y2 = x2*exp(s) + t`` (or its inverse) and the per-row log-det."""
    if inverse:
        y2 = mul0(x2 - t, _exp(-s))
        return y2, -_rowsum64(s)
    with np.errstate(invalid="ignore"):
        return mul0(x2, _exp(s)) + t, _rowsum64(s)


def affine_coupling_backward(x2, s, t, gy, glogdet, inverse=False):
    r"""Gradients ``(gx2, gs, gt)`` of ``<gy, y2> + <glogdet, logdet>``.

    Forward: ``gx2 = gy e^s``, ``gs = gy x2 e^s + glogdet``, ``gt = gy``.
    Inverse (``y = (x2 - t) e^{-s}``): ``gx2 = gy e^{-s}``,
    ``gs = -gy (x2 - t) e^{-s} - glogdet``, ``gt = -gy e^{-s}``.
    """
    gl = glogdet.astype(x2.dtype, copy=False)[:, None]
    with np.errstate(invalid="ignore", over="ignore"):
        if inverse:
            gx2 = mul0(gy, _exp(-s))
            gs = -mul0(gx2, x2 - t) - gl
            return gx2, gs, -gx2
        gx2 = mul0(gy, _exp(s))
        gs = mul0(gx2, x2) + gl
        return gx2, gs, gy.copy()


def additive_coupling(x2, t, inverse=False):
    """NICE coupling ``y2 = x2 + t`` (inverse ``x2 = y2 - t``); its log-det is 0."""
    return x2 - t if inverse else x2 + t


def additive_coupling_backward(gy, inverse=False):
    """``(gx2, gt)`` for :func:`additive_coupling`."""
    return gy.copy(), (-gy if inverse else gy.copy())


def actnorm(x, loc, log_scale, inverse=False):
    r"""ActNorm (Glow) on ``x (N, C, L)``: ``y = (x + loc) e^{log_scale}`` per channel.

    ``logdet = L * sum(log_scale)`` for every row (``-`` that for the inverse,
    ``x = y e^{-log_scale} - loc``). ``x`` has been reshaped to ``(N, C, L)``.
    """
    xp = xp_of(x, loc, log_scale)
    n, _, spatial = x.shape
    ls = log_scale[None, :, None]
    total = float(spatial) * float(log_scale.sum(dtype=xp.float64))
    with np.errstate(invalid="ignore", over="ignore"):
        if inverse:
            y = mul0(x, _exp(-ls)) - loc[None, :, None]
            return y, xp.full((n,), -total, dtype=xp.float64)
        y = mul0(x + loc[None, :, None], _exp(ls))
    return y, xp.full((n,), total, dtype=xp.float64)


def actnorm_backward(x, loc, log_scale, gy, glogdet, inverse=False):
    """``(gx, gloc, glog_scale)`` for :func:`actnorm` (``x``, ``gy`` are ``(N, C, L)``)."""
    xp = xp_of(x, loc, log_scale, gy)
    spatial = x.shape[2]
    gl_total = float(glogdet.sum(dtype=xp.float64)) * spatial
    ls = log_scale[None, :, None]
    with np.errstate(invalid="ignore", over="ignore"):
        if inverse:
            gx = mul0(gy, _exp(-ls))
            gloc = -gy.sum(axis=(0, 2))
            glog = -mul0(gx, x).sum(axis=(0, 2)) - gl_total
            return gx, gloc, glog.astype(x.dtype, copy=False)
        gx = mul0(gy, _exp(ls))
        gloc = gx.sum(axis=(0, 2))
        glog = mul0(gx, x + loc[None, :, None]).sum(axis=(0, 2)) + gl_total
    return gx, gloc, glog.astype(x.dtype, copy=False)


# ------------------------------------------------------------------- value checks (spec)


def first_nonfinite_row(*arrays) -> int:
    """First row ``n`` where one of the ``(N, ...)`` arrays holds a NaN or inf, or -1."""
    xp = xp_of(*arrays)
    bad = None
    for a in arrays:
        if a.ndim == 0 or a.size == 0:
            continue
        b = ~xp.isfinite(a.reshape(a.shape[0], -1)).all(axis=1)
        bad = b if bad is None else bad | b
    if bad is None:
        return -1
    idx = xp.flatnonzero(bad)
    return int(idx[0]) if idx.size else -1


def affine_coupling_checked(x2, s, t, inverse=False):
    bad = first_nonfinite_row(x2, s, t)
    return (None if bad >= 0 else affine_coupling(x2, s, t, inverse)), bad


def affine_coupling_backward_checked(x2, s, t, gy, glogdet, inverse=False):
    bad = first_nonfinite_row(x2, s, gy, glogdet, *((t,) if inverse else ()))
    return (None if bad >= 0 else affine_coupling_backward(x2, s, t, gy, glogdet, inverse)), bad


def additive_coupling_checked(x2, t, inverse=False):
    bad = first_nonfinite_row(x2, t)
    return (None if bad >= 0 else additive_coupling(x2, t, inverse)), bad


def additive_coupling_backward_checked(gy, inverse=False):
    bad = first_nonfinite_row(gy)
    return (None if bad >= 0 else additive_coupling_backward(gy, inverse)), bad


def actnorm_checked(x, loc, log_scale, inverse=False):
    bad = first_nonfinite_row(x)
    return (None if bad >= 0 else actnorm(x, loc, log_scale, inverse)), bad


def actnorm_backward_checked(x, loc, log_scale, gy, glogdet, inverse=False):
    bad = first_nonfinite_row(x, gy, glogdet)
    return (None if bad >= 0 else actnorm_backward(x, loc, log_scale, gy, glogdet, inverse)), bad


def lu_logabsdet(u_diag):
    """``sum(log|diag U|)``: ``log|det W|`` from the diagonal of ``U`` in ``W = P L U``."""
    xp = xp_of(u_diag)
    return float(xp.log(xp.abs(u_diag.astype(xp.float64))).sum())


__all__ = [
    "mul0",
    "first_nonfinite_row",
    "affine_coupling",
    "affine_coupling_backward",
    "additive_coupling",
    "additive_coupling_backward",
    "actnorm",
    "actnorm_backward",
    "lu_logabsdet",
]
