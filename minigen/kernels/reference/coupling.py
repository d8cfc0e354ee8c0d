r"""NumPy reference for the coupling-layer kernels: the specification.

Every array here is already validated by :mod:`minigen.kernels.coupling`:
``x2``, ``s``, ``t`` (and ``gy``) share one shape ``(N, D)`` (the wrapper
flattens ``(N, ...)`` to rows) and one float dtype; ``glogdet`` is ``(N,)``
float64. Functions use ``xp = xp_of(...)`` so they also run on CuPy arrays.

Affine coupling (RealNVP), row ``n``:

.. math::

    \text{forward:}\quad y = x \odot e^{s} + t, \qquad
        \log|\det J| = \textstyle\sum_j s_j

    \text{inverse:}\quad x = (y - t) \odot e^{-s}, \qquad
        \log|\det J| = -\textstyle\sum_j s_j

Log-determinants are accumulated and returned in float64 whatever the input
dtype. Additive coupling (NICE) is the case ``s = 0``.

References: Dinh, Krueger, Bengio (2015) NICE; Dinh, Sohl-Dickstein, Bengio
(2017) RealNVP; Kingma, Dhariwal (2018) Glow.
"""

from __future__ import annotations

from ...backend import xp_of


def _rowsum64(a):
    xp = xp_of(a)
    return a.sum(axis=tuple(range(1, a.ndim)), dtype=xp.float64)


def affine_coupling(x2, s, t, inverse=False):
    """``(y2, logdet)``: ``y2 = x2*exp(s) + t`` (or its inverse) and the per-row log-det."""
    xp = xp_of(x2, s, t)
    if inverse:
        y2 = (x2 - t) * xp.exp(-s)
        return y2, -_rowsum64(s)
    return x2 * xp.exp(s) + t, _rowsum64(s)


def affine_coupling_backward(x2, s, t, gy, glogdet, inverse=False):
    r"""Gradients ``(gx2, gs, gt)`` of ``<gy, y2> + <glogdet, logdet>``.

    Forward: ``gx2 = gy e^s``, ``gs = gy x2 e^s + glogdet``, ``gt = gy``.
    Inverse (``y = (x2 - t) e^{-s}``): ``gx2 = gy e^{-s}``,
    ``gs = -gy (x2 - t) e^{-s} - glogdet``, ``gt = -gy e^{-s}``.
    """
    xp = xp_of(x2, s, t, gy)
    gl = glogdet.astype(x2.dtype, copy=False)[:, None]
    if inverse:
        e = xp.exp(-s)
        gx2 = gy * e
        gs = -(gx2 * (x2 - t)) - gl
        return gx2, gs, -gx2
    e = xp.exp(s)
    gx2 = gy * e
    gs = gx2 * x2 + gl
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
    if inverse:
        y = x * xp.exp(-ls) - loc[None, :, None]
        return y, xp.full((n,), -total, dtype=xp.float64)
    y = (x + loc[None, :, None]) * xp.exp(ls)
    return y, xp.full((n,), total, dtype=xp.float64)


def actnorm_backward(x, loc, log_scale, gy, glogdet, inverse=False):
    """``(gx, gloc, glog_scale)`` for :func:`actnorm` (``x``, ``gy`` are ``(N, C, L)``)."""
    xp = xp_of(x, loc, log_scale, gy)
    spatial = x.shape[2]
    gl_total = float(glogdet.sum(dtype=xp.float64)) * spatial
    ls = log_scale[None, :, None]
    if inverse:
        e = xp.exp(-ls)
        gx = gy * e
        gloc = -gy.sum(axis=(0, 2))
        glog = -(gx * x).sum(axis=(0, 2)) - gl_total
        return gx, gloc, glog.astype(x.dtype, copy=False)
    e = xp.exp(ls)
    gx = gy * e
    gloc = gx.sum(axis=(0, 2))
    glog = (gx * (x + loc[None, :, None])).sum(axis=(0, 2)) + gl_total
    return gx, gloc, glog.astype(x.dtype, copy=False)


def lu_logabsdet(u_diag):
    """``sum(log|diag U|)``: ``log|det W|`` from the diagonal of ``U`` in ``W = P L U``."""
    xp = xp_of(u_diag)
    return float(xp.log(xp.abs(u_diag.astype(xp.float64))).sum())


__all__ = [
    "affine_coupling",
    "affine_coupling_backward",
    "additive_coupling",
    "additive_coupling_backward",
    "actnorm",
    "actnorm_backward",
    "lu_logabsdet",
]
