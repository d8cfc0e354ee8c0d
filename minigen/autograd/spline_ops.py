r"""The rational-quadratic spline kernel as an autograd op: forward and backward both call
the fused kernels of :mod:`minigen.kernels.spline` (NumPy, Numba or CUDA by backend).

:func:`spline_coupling` returns ``(y, logdet)`` as Tensors (``logdet`` float64 ``(N,)``);
gradients flow to ``x`` and to the three *unnormalized* parameter sets (``widths``,
``heights``, ``derivatives``, typically a conditioner network's outputs), through the
softmax and the softplus, so a neural spline flow trains by back-propagating
``-(log p(z) + sum of logdets)``.

References: Durkan, Bekasov, Murray, Papamakarios (2019) Neural Spline Flows.
"""

from __future__ import annotations

from ..kernels import spline as K
from .custom import custom_op

__all__ = ["spline_coupling"]


def _cast(g, like):
    return None if g is None else g.astype(like.dtype, copy=False)


@custom_op
def _spline_op(x, widths, heights, derivatives, **options):
    y, logdet = K.spline_coupling(x, widths, heights, derivatives, **options)

    def backward(gy, glogdet):
        grads = K.spline_coupling_backward(x, widths, heights, derivatives, gy, glogdet,
                                           **options)
        return tuple(_cast(g, a) for g, a in zip(grads, (x, widths, heights, derivatives),
                                                  strict=True))

    return (y, logdet), backward


def spline_coupling(x, widths, heights, derivatives, inverse: bool = False,
                    tail_bound: float = K.TAIL_BOUND, *, min_bin_width: float = K.MIN_BIN_WIDTH,
                    min_bin_height: float = K.MIN_BIN_HEIGHT,
                    min_derivative: float = K.MIN_DERIVATIVE):
    r"""Rational-quadratic spline on Tensors: ``(y, logdet)``; see
    :func:`minigen.kernels.spline_coupling` for the parameterization.

    ``x`` is ``(N, ...)``; ``widths``, ``heights`` are ``(N, ..., K)`` and ``derivatives``
    ``(N, ..., K - 1)`` (Tensors or arrays). Returns ``y`` (shape of ``x``) and ``logdet``
    (float64 ``(N,)``: ``sum log dy/dx`` per row, minus that for the inverse).
    """
    return _spline_op(x, widths, heights, derivatives, inverse=inverse, tail_bound=tail_bound,
                      min_bin_width=min_bin_width, min_bin_height=min_bin_height,
                      min_derivative=min_derivative)
