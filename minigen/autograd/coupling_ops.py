r"""Flow layers' kernels as autograd ops: forward and backward both call the fused
kernels of :mod:`minigen.kernels.coupling` (NumPy, Numba or CUDA by backend).

Every op returns ``(output, logdet)`` as Tensors; ``logdet`` is float64 ``(N,)``.
Gradients flow to every Tensor input (``x2``, ``s``, ``t``; ``x``, ``loc``,
``log_scale``; ``x``, ``W``), so a flow trains by back-propagating
``-(log p(z) + sum of logdets)``.

* :func:`affine_coupling` ``y = x e^{s} + t`` / inverse ``(y - t) e^{-s}``,
  log-det ``±sum_j s_j``.
* :func:`additive_coupling` ``y = x + t`` (log-det 0, returns ``y`` only).
* :func:`actnorm` ``(x + loc) e^{log s}`` per channel, log-det ``L sum(log s)``.
* :func:`invconv1x1` ``y = W x`` per pixel, log-det ``H W log|det W|``,
  with :math:`\partial \log|\det W| / \partial W = W^{-T}`.

The kernels are exact (no clamp on ``s``): bound the scale in the model, e.g.
``s = scale * tanh(raw)``.

References: Dinh et al. (2017) RealNVP; Kingma & Dhariwal (2018) Glow.
"""

from __future__ import annotations

from ..backend import xp_of
from ..kernels import coupling as K
from .custom import custom_op

__all__ = ["affine_coupling", "additive_coupling", "actnorm", "invconv1x1"]


def _cast(g, like):
    return None if g is None else g.astype(like.dtype, copy=False)


def _fused_op(forward, backward):
    """The op ``(*inputs, inverse) -> (y, logdet)`` of a kernel pair: ``forward`` gives the
    outputs, ``backward(*inputs, gy, glogdet, inverse)`` one gradient per input."""

    @custom_op
    def op(*inputs, inverse=False):
        def grads(gy, glogdet):
            gs = backward(*inputs, gy, glogdet, inverse=inverse)
            return tuple(_cast(g, x) for g, x in zip(gs, inputs, strict=True))

        return forward(*inputs, inverse=inverse), grads

    return op


_affine_op = _fused_op(K.affine_coupling, K.affine_coupling_backward)
_actnorm_op = _fused_op(K.actnorm, K.actnorm_backward)


def affine_coupling(x2, s, t, inverse: bool = False):
    r"""Affine coupling on Tensors: ``(y2, logdet)``; see :func:`minigen.kernels.affine_coupling`.

    ``x2, s, t``: Tensors or arrays of one shape ``(N, ...)``. Returns ``y2`` (same
    shape) and ``logdet`` (float64 ``(N,)``: ``sum(s)`` per row, ``-sum(s)`` inverse).
    """
    return _affine_op(x2, s, t, inverse=inverse)


@custom_op
def _additive_op(x2, t, inverse=False):
    y2 = K.additive_coupling(x2, t, inverse=inverse)

    def backward(gy):
        gx2, gt = K.additive_coupling_backward(gy, inverse=inverse)
        return _cast(gx2, x2), _cast(gt, t)

    return y2, backward


def additive_coupling(x2, t, inverse: bool = False):
    """NICE coupling on Tensors: ``y2 = x2 + t`` (inverse ``x2 - t``); the log-det is 0."""
    return _additive_op(x2, t, inverse=inverse)


def actnorm(x, loc, log_scale, inverse: bool = False):
    r"""ActNorm on Tensors: ``x (N, C, ...)``, ``loc, log_scale (C,)`` -> ``(y, logdet)``.

    ``y = (x + loc) e^{log_scale}`` per channel (inverse ``x e^{-log_scale} - loc``),
    ``logdet = prod(spatial) * sum(log_scale)`` per row (negated for the inverse).
    """
    return _actnorm_op(x, loc, log_scale, inverse=inverse)


@custom_op
def _invconv_op(x, W, inverse=False):
    y, logdet = K.invconv1x1(x, W, inverse=inverse)

    def backward(gy, glogdet):
        xp = xp_of(x, W)
        hw = x.shape[2] * x.shape[3]
        w_inv = xp.linalg.inv(W.astype(xp.float64))
        gl = float(glogdet.sum()) * hw
        if inverse:
            # y = V x, V = W^{-1}: gx = V^T gy; dV = -V dW V gives
            # gW = -V^T G V^T with G = sum_pixels gy x^T, i.e. -V^T (sum_pixels gy y^T).
            gx = xp.einsum("co,nchw->nohw", w_inv, gy)
            gW = -w_inv.T @ xp.einsum("nohw,nchw->oc", gy, y) - gl * w_inv.T
        else:
            gx = xp.einsum("oc,nohw->nchw", W, gy)
            gW = xp.einsum("nohw,nchw->oc", gy, x) + gl * w_inv.T
        return _cast(gx, x), _cast(gW, W)

    return (y, logdet), backward


def invconv1x1(x, W, inverse: bool = False):
    r"""Invertible 1x1 convolution on Tensors: ``x (N, C, H, W)``, ``W (C, C)`` -> ``(y, logdet)``.

    ``y = W x`` per pixel (inverse ``W^{-1} x``), ``logdet = H W log|det W|`` per row
    (negated for the inverse); ``d log|det W| / dW = W^{-T}``.
    """
    return _invconv_op(x, W, inverse=inverse)
