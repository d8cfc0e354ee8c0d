r"""Rational-quadratic spline transforms (Neural Spline Flows), the fifth kernel family.

:func:`spline_coupling` maps every element of ``x`` through its own monotonic
rational-quadratic spline on ``[-B, B]`` with ``K`` bins (identity outside, with slope 1
at both ends so the tails join smoothly) and returns ``(y, logdet)``;
:func:`spline_coupling_backward` gives the gradients with respect to ``x`` and the three
*unnormalized* parameter sets, through the softmax and the softplus, in one fused pass.

Parameterization (Durkan et al. 2019; as nflows' linear-tail
``unconstrained_rational_quadratic_spline``), per element:

.. math::

    w &= m_w + (1 - K m_w)\,\mathrm{softmax}(\text{widths}),\quad
    X_j = -B + 2B\textstyle\sum_{l<j} w_l \quad (X_0 = -B,\ X_K = B) \\
    h &= m_h + (1 - K m_h)\,\mathrm{softmax}(\text{heights}),\quad
    Y_j = -B + 2B\textstyle\sum_{l<j} h_l \\
    \delta_0 &= \delta_K = 1,\quad \delta_j = m_\delta + \mathrm{softplus}(\text{derivatives}_{j-1})

and in bin :math:`k` with :math:`\theta = (x - X_k)/\Delta x`, :math:`s = \Delta y/\Delta x`:

.. math::

    y = Y_k + \Delta y\,\frac{s\theta^2 + \delta_k\theta(1-\theta)}
        {s + (\delta_k + \delta_{k+1} - 2s)\theta(1-\theta)}

The inverse solves the quadratic in :math:`\theta` with the cancellation-free root; see
:mod:`minigen.kernels.reference.spline` for every equation (the specification).

Public wrappers make O(1) checks (shapes, dtypes, scalars); the Numba and CUDA kernels
check every value (NaN/inf) in the loop that reads it and the wrapper raises
``ValueError`` naming the argument and the first bad row and column.

References: Durkan, Bekasov, Murray, Papamakarios (2019) Neural Spline Flows;
nflows ``transforms/splines/rational_quadratic.py``; zuko ``MonotonicRQSTransform``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._validation import check_array
from ..backend import check_on_backend, get_backend, xp_of
from ._dispatch import implementation

_FAMILY = "spline"

#: defaults, as nflows: minimum bin width and height (fractions of 2B) and minimum slope
MIN_BIN_WIDTH = 1e-3
MIN_BIN_HEIGHT = 1e-3
MIN_DERIVATIVE = 1e-3
TAIL_BOUND = 3.0


def _float_dtype(*arrays):
    dt = np.result_type(*(a.dtype for a in arrays))
    if dt.kind != "f":
        return np.dtype(np.float64)
    return np.dtype(np.float32) if dt.itemsize < 4 else dt


def _positive(value, name: str) -> float:
    if type(value) is not float:  # the common case skips the abstract-class check
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
        value = float(value)
    if not (value > 0 and value < np.inf):
        raise ValueError(f"{name} must be > 0 and finite, got {value}")
    return value


def _options(inverse, tail_bound, min_bin_width, min_bin_height, min_derivative, n_bins):
    if not isinstance(inverse, (bool, np.bool_)):
        raise TypeError(f"inverse must be a bool, got {type(inverse).__name__}")
    opts = dict(
        inverse=bool(inverse),
        tail_bound=_positive(tail_bound, "tail_bound"),
        min_bin_width=_positive(min_bin_width, "min_bin_width"),
        min_bin_height=_positive(min_bin_height, "min_bin_height"),
        min_derivative=_positive(min_derivative, "min_derivative"),
    )
    for name in ("min_bin_width", "min_bin_height"):
        if opts[name] * n_bins > 1.0:
            raise ValueError(
                f"{name} * K must be <= 1 (K = {n_bins} bins), got {opts[name]} * {n_bins}")
    return opts


def _checked(arrays: dict) -> dict:
    """Arrays of the active backend (O(1) checks; values are checked by the kernel)."""
    on_gpu = get_backend().is_gpu
    out = {}
    for name, a in arrays.items():
        if type(a) is np.ndarray and not on_gpu and a.dtype.kind in "biuf":
            out[name] = a  # the common case, without the general conversion
        else:
            out[name] = check_array(a, name, finite=False)
            check_on_backend(out[name], name)
    return out


def _arrays(arrays: dict):
    """Shape checks; returns ``x (N, D)``, params ``(N, D, K)``/``(N, D, K-1)``, rest, shape."""
    checked = _checked(arrays)
    x, widths = checked["x"], checked["widths"]
    if x.ndim < 1:
        raise ValueError("x must have at least 1 dimension (N, ...), got a scalar")
    shape = tuple(x.shape)
    if widths.ndim != x.ndim + 1 or tuple(widths.shape[:-1]) != shape:
        raise ValueError(f"widths must have shape {shape + ('K',)} for x of shape {shape}, "
                         f"got {tuple(widths.shape)}")
    n_bins = widths.shape[-1]
    if n_bins < 1:
        raise ValueError("widths must have at least one bin (K >= 1), got K = 0")
    want = {"heights": shape + (n_bins,), "derivatives": shape + (n_bins - 1,), "gy": shape}
    for name, a in checked.items():
        if name in want and tuple(a.shape) != want[name]:
            raise ValueError(f"{name} must have shape {want[name]} (x {shape}, K = {n_bins}), "
                             f"got {tuple(a.shape)}")
    dtype = _float_dtype(*checked.values())
    xp = xp_of(x)
    n = shape[0]
    d = math.prod(shape[1:])
    rows = {}
    for name, a in checked.items():
        tail = (a.shape[-1],) if name in ("widths", "heights", "derivatives") else ()
        rows[name] = xp.ascontiguousarray(a, dtype=dtype).reshape((n, d) + tail)
    return rows, shape, n_bins


def spline_coupling(x, widths, heights, derivatives, inverse: bool = False,
                    tail_bound: float = TAIL_BOUND, *, min_bin_width: float = MIN_BIN_WIDTH,
                    min_bin_height: float = MIN_BIN_HEIGHT,
                    min_derivative: float = MIN_DERIVATIVE):
    r"""Elementwise rational-quadratic spline and its log-determinant.

    Parameters
    ----------
    x : array (N, ...)
        Inputs (``y`` when ``inverse=True``); each element has its own spline.
    widths, heights : arrays (N, ..., K)
        Unnormalized bin widths and heights (softmax inside), ``K >= 1`` bins.
    derivatives : array (N, ..., K - 1)
        Unnormalized derivatives at the ``K - 1`` interior knots (softplus inside); the
        two boundary derivatives are 1.
    inverse : bool
        ``True`` applies the inverse spline (closed-form quadratic root).
    tail_bound : float
        ``B``: the spline acts on ``[-B, B]``, the identity outside.
    min_bin_width, min_bin_height, min_derivative : float
        Lower bounds (``min_bin_* * K <= 1``), keyword-only; nflows' defaults ``1e-3``.

    Returns
    -------
    y : array, shape and float dtype of ``x``
    logdet : float64 array (N,)
        ``sum log|dy/dx|`` over each row (the inverse's: minus the forward's at ``y``).

    Raises
    ------
    ValueError
        Wrong shapes, bad scalars, or a NaN/inf value (naming the argument, row, column).
    """
    rows, shape, n_bins = _arrays(dict(x=x, widths=widths, heights=heights,
                                       derivatives=derivatives))
    opts = _options(inverse, tail_bound, min_bin_width, min_bin_height, min_derivative, n_bins)
    y, logdet = implementation(_FAMILY, "spline_coupling")(
        rows["x"], rows["widths"], rows["heights"], rows["derivatives"], **opts)
    return y.reshape(shape), logdet


def spline_coupling_backward(x, widths, heights, derivatives, gy, glogdet=None,
                             inverse: bool = False, tail_bound: float = TAIL_BOUND, *,
                             min_bin_width: float = MIN_BIN_WIDTH,
                             min_bin_height: float = MIN_BIN_HEIGHT,
                             min_derivative: float = MIN_DERIVATIVE):
    r"""Fused gradients of ``<gy, y> + <glogdet, logdet>`` for :func:`spline_coupling`.

    ``x, widths, heights, derivatives`` and the options are those of the forward call;
    ``gy`` has the shape of ``x``, ``glogdet`` is ``(N,)`` (``None``: zeros).

    Returns
    -------
    gx, gwidths, gheights, gderivatives : arrays
        Shapes of ``x``, ``widths``, ``heights``, ``derivatives``; gradients with respect to
        the *unnormalized* parameters (through the softmax and the softplus).
    """
    rows, shape, n_bins = _arrays(dict(x=x, widths=widths, heights=heights,
                                       derivatives=derivatives, gy=gy))
    opts = _options(inverse, tail_bound, min_bin_width, min_bin_height, min_derivative, n_bins)
    xp = xp_of(rows["x"])
    n = shape[0]
    if glogdet is None:
        gl = xp.zeros(n, dtype=xp.float64)
    else:
        gl = check_array(glogdet, "glogdet", ndim=1, shape=(n,), finite=False)
        check_on_backend(gl, "glogdet")
        gl = xp.ascontiguousarray(gl, dtype=xp.float64)
    gx, gw, gh, gd = implementation(_FAMILY, "spline_coupling_backward")(
        rows["x"], rows["widths"], rows["heights"], rows["derivatives"], rows["gy"], gl, **opts)
    return (gx.reshape(shape), gw.reshape(shape + (n_bins,)), gh.reshape(shape + (n_bins,)),
            gd.reshape(shape + (n_bins - 1,)))


__all__ = ["spline_coupling", "spline_coupling_backward"]
