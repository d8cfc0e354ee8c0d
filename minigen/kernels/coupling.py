r"""Coupling-layer kernels for normalizing flows: affine (RealNVP), additive (NICE),
ActNorm and invertible 1x1 convolution (Glow), each returning ``(output, logdet)``.

Public wrappers: validate once (errors name the argument), flatten ``(N, ...)``
inputs to rows ``(N, D)``, dispatch to the active backend (NumPy reference,
Numba, CUDA) and restore the input shape.

Affine coupling, per row ``n`` with ``D`` = number of elements per row:

.. math::

    y = x \odot e^{s} + t,\quad \log|\det \partial y/\partial x| = \textstyle\sum_j s_j;
    \qquad x = (y - t) \odot e^{-s},\quad \log|\det| = -\textstyle\sum_j s_j .

Log-determinants are accumulated in float64 and returned as float64 ``(N,)``
whatever the input dtype. The kernels are exact (no clamp): ``|s|`` beyond
about 88 (float32) / 709 (float64) overflows ``exp`` to ``inf``; bound the
scale at the model level instead (e.g. ``s = scale * tanh(raw)``).

References: Dinh et al. (2015) NICE; Dinh et al. (2017) RealNVP;
Kingma & Dhariwal (2018) Glow.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_array
from ..backend import check_on_backend, xp_of
from ._dispatch import implementation

_FAMILY = "coupling"


def _float_dtype(*arrays):
    dt = np.result_type(*(a.dtype for a in arrays))
    if dt.kind != "f":
        return np.dtype(np.float64)
    return np.dtype(np.float32) if dt.itemsize < 4 else dt


def _check_inverse(inverse) -> bool:
    if not isinstance(inverse, (bool, np.bool_)):
        raise TypeError(f"inverse must be a bool, got {type(inverse).__name__}")
    return bool(inverse)


def _rows(arrays: dict, ref: str = "x2"):
    """Validate same-shape arrays ``(N, ...)``; return them as C-contiguous ``(N, D)`` rows."""
    checked = {name: check_array(a, name) for name, a in arrays.items()}
    for name, a in checked.items():
        check_on_backend(a, name)
    first = checked[ref]
    if first.ndim < 1:
        raise ValueError(f"{ref} must have at least 1 dimension (N, ...), got a scalar")
    for name, a in checked.items():
        if a.shape != first.shape:
            raise ValueError(
                f"{name} must have the same shape as {ref} {tuple(first.shape)}, "
                f"got {tuple(a.shape)}"
            )
    dtype = _float_dtype(*checked.values())
    xp = xp_of(*checked.values())
    n = first.shape[0]
    d = int(np.prod(first.shape[1:], dtype=np.int64)) if first.ndim > 1 else 1
    rows = [xp.ascontiguousarray(a, dtype=dtype).reshape(n, d) for a in checked.values()]
    return rows, first.shape


def _glogdet(glogdet, n, xp):
    if glogdet is None:
        return xp.zeros(n, dtype=xp.float64)
    g = check_array(glogdet, "glogdet", ndim=1, shape=(n,))
    check_on_backend(g, "glogdet")
    return xp.ascontiguousarray(g, dtype=xp.float64)


def affine_coupling(x2, s, t, inverse: bool = False):
    r"""Fused affine coupling and its log-determinant.

    Parameters
    ----------
    x2 : array (N, ...)
        The transformed half (``y2`` when ``inverse=True``).
    s, t : array, same shape as ``x2``
        Log-scale and shift (outputs of the conditioner on the other half).
    inverse : bool
        ``False``: ``y2 = x2 * exp(s) + t``; ``True``: ``x2 = (y2 - t) * exp(-s)``.

    Returns
    -------
    y2 : array, shape and float dtype of the inputs
    logdet : float64 array (N,)
        ``sum(s)`` per row (``-sum(s)`` for the inverse).
    """
    inverse = _check_inverse(inverse)
    (x2, s, t), shape = _rows({"x2": x2, "s": s, "t": t})
    y2, logdet = implementation(_FAMILY, "affine_coupling")(x2, s, t, inverse)
    return y2.reshape(shape), logdet


def affine_coupling_backward(x2, s, t, gy, glogdet=None, inverse: bool = False):
    r"""Fused gradients ``(gx2, gs, gt)`` of ``<gy, y2> + <glogdet, logdet>``.

    Forward: ``gx2 = gy e^s``, ``gs = gy x2 e^s + glogdet[:, None]``, ``gt = gy``.
    Inverse: ``gx2 = gy e^{-s}``, ``gs = -gy (x2 - t) e^{-s} - glogdet[:, None]``,
    ``gt = -gy e^{-s}``. ``x2, s, t`` are the inputs of :func:`affine_coupling`,
    ``gy`` has their shape, ``glogdet`` is ``(N,)`` (``None``: zeros). Each gradient
    has the shape and float dtype of ``x2``.
    """
    inverse = _check_inverse(inverse)
    (x2, s, t, gy), shape = _rows({"x2": x2, "s": s, "t": t, "gy": gy})
    gl = _glogdet(glogdet, x2.shape[0], xp_of(x2))
    grads = implementation(_FAMILY, "affine_coupling_backward")(x2, s, t, gy, gl, inverse)
    return tuple(g.reshape(shape) for g in grads)


def additive_coupling(x2, t, inverse: bool = False):
    """NICE coupling ``y2 = x2 + t`` (inverse ``y2 - t``); its log-det is 0."""
    inverse = _check_inverse(inverse)
    (x2, t), shape = _rows({"x2": x2, "t": t})
    return implementation(_FAMILY, "additive_coupling")(x2, t, inverse).reshape(shape)


def additive_coupling_backward(gy, inverse: bool = False):
    """``(gx2, gt)`` for :func:`additive_coupling`: ``(gy, gy)`` (``(gy, -gy)`` inverse)."""
    inverse = _check_inverse(inverse)
    (gy,), shape = _rows({"gy": gy}, ref="gy")
    return tuple(
        g.reshape(shape) for g in implementation(_FAMILY, "additive_coupling_backward")(gy, inverse)
    )


def _actnorm_args(x, loc, log_scale):
    x = check_array(x, "x", ndim=tuple(range(2, 33)))
    check_on_backend(x, "x")
    c = x.shape[1]
    loc = check_array(loc, "loc", ndim=1, shape=(c,))
    log_scale = check_array(log_scale, "log_scale", ndim=1, shape=(c,))
    check_on_backend(loc, "loc")
    check_on_backend(log_scale, "log_scale")
    dtype = _float_dtype(x, loc, log_scale)
    xp = xp_of(x, loc, log_scale)
    n = x.shape[0]
    spatial = int(np.prod(x.shape[2:], dtype=np.int64))
    x3 = xp.ascontiguousarray(x, dtype=dtype).reshape(n, c, spatial)
    return x3, xp.ascontiguousarray(loc, dtype=dtype), xp.ascontiguousarray(log_scale, dtype=dtype)


def actnorm(x, loc, log_scale, inverse: bool = False):
    r"""ActNorm (Glow): per-channel affine map and its log-determinant.

    Parameters
    ----------
    x : array (N, C) or (N, C, *spatial)
    loc, log_scale : arrays (C,)
    inverse : bool

    Returns
    -------
    y : array, shape of ``x``
        ``(x + loc) * exp(log_scale)`` (inverse: ``x * exp(-log_scale) - loc``), per channel.
    logdet : float64 (N,)
        ``prod(spatial) * sum(log_scale)`` for every row (negated for the inverse).
    """
    inverse = _check_inverse(inverse)
    shape = np.shape(x) if not hasattr(x, "shape") else x.shape
    x3, loc, log_scale = _actnorm_args(x, loc, log_scale)
    y, logdet = implementation(_FAMILY, "actnorm")(x3, loc, log_scale, inverse)
    return y.reshape(shape), logdet


def actnorm_backward(x, loc, log_scale, gy, glogdet=None, inverse: bool = False):
    r"""``(gx, gloc, glog_scale)`` of ``<gy, y> + <glogdet, logdet>`` for :func:`actnorm`.

    Forward: ``gx = gy e^{ls}``, ``gloc = sum_{n,l} gy e^{ls}``,
    ``glog_scale = sum_{n,l} gy (x + loc) e^{ls} + L sum_n glogdet``.
    """
    inverse = _check_inverse(inverse)
    shape = x.shape if hasattr(x, "shape") else np.shape(x)
    x3, loc, log_scale = _actnorm_args(x, loc, log_scale)
    gy = check_array(gy, "gy", shape=tuple(shape))
    check_on_backend(gy, "gy")
    gy3 = xp_of(gy).ascontiguousarray(gy, dtype=x3.dtype).reshape(x3.shape)
    gl = _glogdet(glogdet, x3.shape[0], xp_of(x3))
    gx, gloc, glog = implementation(_FAMILY, "actnorm_backward")(
        x3, loc, log_scale, gy3, gl, inverse
    )
    return gx.reshape(shape), gloc, glog


def invconv_logdet(W=None, *, u_diag=None) -> float:
    r"""``log|det W|`` of a 1x1-convolution weight, from LU factors.

    Pass either ``W (C, C)`` (factored ``W = P L U`` by LAPACK ``getrf`` inside
    ``slogdet``) or ``u_diag (C,)``, the diagonal of ``U`` of an LU-parametrized
    weight (Glow): the result is ``sum_i log|U_ii|``. A singular ``W`` gives ``-inf``.
    """
    if (W is None) == (u_diag is None):
        raise ValueError("pass exactly one of W or u_diag")
    if u_diag is not None:
        u = check_array(u_diag, "u_diag", ndim=1, allow_empty=False)
        return implementation(_FAMILY, "lu_logabsdet")(u)
    W = check_array(W, "W", ndim=2, allow_empty=False)
    if W.shape[0] != W.shape[1]:
        raise ValueError(f"W must be square (C, C), got shape {tuple(W.shape)}")
    xp = xp_of(W)
    return float(xp.linalg.slogdet(W.astype(xp.float64))[1])


def invconv1x1(x, W, inverse: bool = False):
    r"""Invertible 1x1 convolution (Glow): ``y[n, :, h, w] = W @ x[n, :, h, w]``.

    Parameters
    ----------
    x : array (N, C, H, W)
    W : array (C, C), invertible
    inverse : bool
        ``True`` applies ``W^{-1}``.

    Returns
    -------
    y : array (N, C, H, W)
    logdet : float64 (N,)
        ``H * W * log|det W|`` per row (negated for the inverse).
    """
    inverse = _check_inverse(inverse)
    x = check_array(x, "x", ndim=4)
    W = check_array(W, "W", ndim=2, shape=(x.shape[1], x.shape[1]))
    check_on_backend(x, "x")
    check_on_backend(W, "W")
    xp = xp_of(x, W)
    dtype = _float_dtype(x, W)
    x, W = x.astype(dtype, copy=False), W.astype(dtype, copy=False)
    ld = invconv_logdet(W) * x.shape[2] * x.shape[3]
    if inverse:
        W, ld = xp.linalg.inv(W), -ld
    y = xp.einsum("oc,nchw->nohw", W, x)
    return y, xp.full((x.shape[0],), ld, dtype=xp.float64)


__all__ = [
    "affine_coupling",
    "affine_coupling_backward",
    "additive_coupling",
    "additive_coupling_backward",
    "actnorm",
    "actnorm_backward",
    "invconv_logdet",
    "invconv1x1",
]
