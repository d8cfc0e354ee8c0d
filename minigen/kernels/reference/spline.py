r"""NumPy reference for the rational-quadratic spline kernel: the specification.

Shapes (the public wrapper :mod:`minigen.kernels.spline` flattens to these): ``x (N, D)``,
unnormalized ``widths, heights (N, D, K)``, unnormalized interior ``derivatives
(N, D, K-1)``, one float dtype; ``gy (N, D)`` and float64 ``glogdet (N,)`` for the backward.
Every function uses ``xp = xp_of(...)`` so it also runs on CuPy arrays. This module checks
values explicitly (NaN/inf raise ``ValueError`` naming the argument); the Numba and CUDA
kernels make the same checks inside their loop and report them through a status.

Parameterization (Durkan et al. 2019, as nflows' ``unconstrained_rational_quadratic_spline``
with linear tails), per element, tail bound :math:`B`, :math:`K` bins:

.. math::

    p &= \mathrm{softmax}(\text{widths}), \quad w_k = m_w + (1 - K m_w)\, p_k, \quad
    X_0 = -B,\ X_j = -B + 2B \textstyle\sum_{l<j} w_l,\ X_K = B \\
    q &= \mathrm{softmax}(\text{heights}), \quad h_k = m_h + (1 - K m_h)\, q_k, \quad
    Y_0 = -B,\ Y_j = -B + 2B \textstyle\sum_{l<j} h_l,\ Y_K = B \\
    \delta_0 &= \delta_K = 1, \quad
    \delta_j = m_\delta + \mathrm{softplus}(\text{derivatives}_{j-1}),\ 1 \le j \le K-1

so the boundary slopes equal the slope 1 of the identity tails outside :math:`[-B, B]`
(value and derivative continuous). In bin :math:`k` (:math:`X_k \le x < X_{k+1}`, or
:math:`x = B` in the last bin), with :math:`\Delta x = X_{k+1} - X_k`,
:math:`\Delta y = Y_{k+1} - Y_k`, :math:`s = \Delta y / \Delta x`,
:math:`\theta = (x - X_k)/\Delta x`, :math:`u = \theta(1-\theta)`:

.. math::

    y &= Y_k + \Delta y\, \frac{s\theta^2 + \delta_k u}{s + (\delta_k + \delta_{k+1} - 2s)u}
        \\
    \frac{dy}{dx} &= \frac{s^2\,[\delta_{k+1}\theta^2 + 2su + \delta_k(1-\theta)^2]}
        {[s + (\delta_k + \delta_{k+1} - 2s)u]^2}

Outside :math:`[-B, B]` the map is the identity with log-derivative 0. The inverse finds
the bin on the :math:`Y` knots and solves the quadratic
:math:`a\theta^2 + b\theta + c = 0` with :math:`\xi = y - Y_k`,
:math:`a = \Delta y(s - \delta_k) + \xi(\delta_k + \delta_{k+1} - 2s)`,
:math:`b = \Delta y\,\delta_k - \xi(\delta_k + \delta_{k+1} - 2s)`, :math:`c = -s\xi`,
taking the root in :math:`[0, 1]` without cancellation: :math:`2c / (-b - \sqrt{b^2-4ac})`
when :math:`b \ge 0`, else :math:`(-b + \sqrt{b^2-4ac}) / (2a)` (there :math:`a > s\Delta y
> 0`). The log-det of a row is the float64 sum of the per-element
:math:`\log dy/dx` (negated for the inverse).

References: Durkan, Bekasov, Murray, Papamakarios (2019) Neural Spline Flows;
Gregory & Delbourgo (1982) Piecewise rational quadratic interpolation to monotonic data.
"""

from __future__ import annotations

from ..._validation import NonFiniteError
from ...backend import xp_of

#: argument names in the order of the status codes the Numba/CUDA kernels report
STATUS_ARGS = ("x", "widths", "heights", "derivatives", "gy", "glogdet")


def bad_value_error(arg: int, row: int, column: int) -> NonFiniteError:
    """The error every backend raises for a NaN/inf: argument ``STATUS_ARGS[arg]``, first at
    ``row`` (and ``column`` of the row flattened to ``(N, D)``). A ``ValueError``; its
    subclass ``NonFiniteError``, as ``check_array``'s, so a NaN reaching the kernel inside a
    training step counts as divergence (``minigen.training``)."""
    name = STATUS_ARGS[arg]
    where = f"row {row}" if name == "glogdet" else f"row {row}, column {column}"
    return NonFiniteError(f"{name} contains NaN or infinite values (first at {where})")


def _check_finite(**arrays) -> None:
    for name, a in arrays.items():
        xp = xp_of(a)
        if a.size and not bool(xp.isfinite(a).all()):
            first = [int(v) for v in xp.argwhere(~xp.isfinite(a))[0]]
            raise bad_value_error(STATUS_ARGS.index(name), first[0], (first + [0])[1])


def _knots(raw, bound, min_size):
    """Knots ``(N, D, K+1)`` from ``-B`` to ``B`` and the softmax ``p (N, D, K)``."""
    xp = xp_of(raw)
    dt = raw.dtype.type
    n_bins = raw.shape[-1]
    e = xp.exp(raw - raw.max(axis=-1, keepdims=True))
    p = e / e.sum(axis=-1, keepdims=True)  # softmax
    w = dt(min_size) + dt(1.0 - min_size * n_bins) * p  # w_k >= min_size, sum_k w_k = 1
    knots = xp.empty(raw.shape[:-1] + (n_bins + 1,), dtype=raw.dtype)
    knots[..., 1:] = dt(2.0 * bound) * xp.cumsum(w, axis=-1) + dt(-bound)  # X_j = -B + 2B sum
    knots[..., 0] = -bound  # X_0 = -B, X_K = B exactly
    knots[..., -1] = bound
    return knots, p


def _knot_derivatives(raw, min_derivative):
    """``delta (N, D, K+1)``: 1 at both ends, ``m + softplus(raw)`` inside."""
    xp = xp_of(raw)
    dt = raw.dtype.type
    d = xp.ones(raw.shape[:-1] + (raw.shape[-1] + 2,), dtype=raw.dtype)
    d[..., 1:-1] = dt(min_derivative) + xp.logaddexp(dt(0), raw)  # softplus(r) = log(1 + e^r)
    return d


def _pick(a, k):
    xp = xp_of(a)
    return xp.take_along_axis(a, k[..., None], axis=-1)[..., 0]


def _bin(v, knots):
    """Bin index in ``0..K-1``: the number of interior knots ``<= v``."""
    return (knots[..., 1:-1] <= v[..., None]).sum(axis=-1)


def _inverse_theta(xi, dy, s, d0, d1):
    r"""Root in [0, 1] of :math:`a\theta^2 + b\theta + c = 0` (the inverse's quadratic)."""
    xp = xp_of(xi)
    c1 = d0 + d1 - 2 * s
    a = dy * (s - d0) + xi * c1
    b = dy * d0 - xi * c1
    c = -s * xi
    sq = xp.sqrt(xp.maximum(b * b - 4 * a * c, 0))
    pos = b >= 0
    # b >= 0: 2c / (-b - sqrt(disc)); b < 0: (-b + sqrt(disc)) / (2a): no cancellation
    theta = xp.where(pos, 2 * c, sq - b) / xp.where(pos, -b - sq, 2 * a)
    return xp.clip(theta, 0, 1)


def _spline_parts(x, widths, heights, derivatives, inverse, bound, mins):
    """Everything per element: inside mask, bin quantities, theta and the softmaxes."""
    xp = xp_of(x)
    X, p = _knots(widths, bound, mins[0])
    Y, q = _knots(heights, bound, mins[1])
    d = _knot_derivatives(derivatives, mins[2])
    inside = (x >= -bound) & (x <= bound)
    v = xp.clip(x, -bound, bound)  # tails are masked out below; clipping avoids overflow
    k = _bin(v, Y if inverse else X)
    x0, x1, y0, y1 = _pick(X, k), _pick(X, k + 1), _pick(Y, k), _pick(Y, k + 1)
    d0, d1 = _pick(d, k), _pick(d, k + 1)
    dx, dy = x1 - x0, y1 - y0
    s = dy / dx  # bin slope
    theta = _inverse_theta(v - y0, dy, s, d0, d1) if inverse else (v - x0) / dx
    return dict(inside=inside, v=v, k=k, x0=x0, y0=y0, dx=dx, dy=dy, s=s, d0=d0, d1=d1,
                theta=theta, p=p, q=q, n_bins=widths.shape[-1])


def _log_derivative(theta, s, d0, d1):
    r""":math:`\log dy/dx = \log(M r^2)`, :math:`M = \delta_1\theta^2 + 2su + \delta_0(1-\theta)^2`,
    :math:`r = s / \mathrm{den} \le 2` (so neither factor overflows)."""
    xp = xp_of(theta)
    u = theta * (1 - theta)
    den = s + (d0 + d1 - 2 * s) * u
    m = d1 * theta * theta + 2 * s * u + d0 * (1 - theta) * (1 - theta)
    r = s / den
    return xp.log(m * r * r)


def spline_coupling(x, widths, heights, derivatives, inverse=False, tail_bound=3.0,
                    min_bin_width=1e-3, min_bin_height=1e-3, min_derivative=1e-3):
    """``(y (N, D), logdet float64 (N,))`` of the spline (or its inverse), per element."""
    _check_finite(x=x, widths=widths, heights=heights, derivatives=derivatives)
    xp = xp_of(x)
    mins = (min_bin_width, min_bin_height, min_derivative)
    P = _spline_parts(x, widths, heights, derivatives, inverse, tail_bound, mins)
    theta, s, d0, d1 = P["theta"], P["s"], P["d0"], P["d1"]
    if inverse:
        out = P["x0"] + theta * P["dx"]  # x = X_k + theta dx
    else:
        u = theta * (1 - theta)
        out = P["y0"] + P["dy"] * (s * theta * theta + d0 * u) / (s + (d0 + d1 - 2 * s) * u)
    ld = _log_derivative(theta, s, d0, d1)
    y = xp.where(P["inside"], out, x)
    ld = xp.where(P["inside"], -ld if inverse else ld, 0)
    return y, ld.sum(axis=1, dtype=xp.float64)


def _partials(theta, s, d0, d1):
    r"""Partial derivatives of :math:`R = (s\theta^2 + \delta_0 u)/\mathrm{den}` (so that
    :math:`y = Y_k + \Delta y R`) and of :math:`\ell = \log dy/dx` with respect to
    :math:`\theta, s, \delta_0, \delta_1`; also :math:`R`."""
    u = theta * (1 - theta)
    c1 = d0 + d1 - 2 * s
    den = s + c1 * u  # den_theta = c1 (1 - 2 theta), den_s = 1 - 2u, den_d0 = den_d1 = u
    num = s * theta * theta + d0 * u  # num_theta = 2 s theta + d0 (1 - 2 theta)
    m = d1 * theta * theta + 2 * s * u + d0 * (1 - theta) * (1 - theta)
    den2 = den * den
    R = num / den
    R_th = s * m / den2  # = (num_theta den - num den_theta) / den^2
    R_s = (theta * theta * den - num * (1 - 2 * u)) / den2
    R_d0 = u * (den - num) / den2
    R_d1 = -u * num / den2
    # l = 2 log s + log m - 2 log den
    l_th = (2 * d1 * theta + 2 * s * (1 - 2 * theta) - 2 * d0 * (1 - theta)) / m \
        - 2 * c1 * (1 - 2 * theta) / den
    l_s = 2 / s + 2 * u / m - 2 * (1 - 2 * u) / den
    l_d0 = (1 - theta) * (1 - theta) / m - 2 * u / den
    l_d1 = theta * theta / m - 2 * u / den
    return R, (R_th, R_s, R_d0, R_d1), (l_th, l_s, l_d0, l_d1)


def _softmax_knots_backward(g_lo, g_hi, k, p, bound, min_size):
    r"""Gradient on the raw sizes from the gradients on knots :math:`X_k` and
    :math:`X_{k+1}` (the end knots :math:`\pm B` are constants).

    :math:`\partial X_j / \partial p_l = 2B(1 - K m)[l < j]`, then softmax:
    :math:`g_{\text{raw},l} = p_l (g_{p,l} - \sum_m p_m g_{p,m})`.
    """
    xp = xp_of(p)
    n_bins = p.shape[-1]
    coef = 2.0 * bound * (1.0 - min_size * n_bins)
    a = xp.where(k > 0, g_lo, 0) * coef  # knot k is free for k >= 1
    c = xp.where(k + 1 < n_bins, g_hi, 0) * coef  # knot k+1 is free for k+1 <= K-1
    ll = xp.arange(n_bins)
    gp = a[..., None] * (ll < k[..., None]) + c[..., None] * (ll <= k[..., None])
    return p * (gp - (p * gp).sum(axis=-1, keepdims=True))


def spline_coupling_backward(x, widths, heights, derivatives, gy, glogdet, inverse=False,
                             tail_bound=3.0, min_bin_width=1e-3, min_bin_height=1e-3,
                             min_derivative=1e-3):
    r"""Gradients ``(gx, gwidths, gheights, gderivatives)`` of
    ``<gy, y> + <glogdet, logdet>`` for :func:`spline_coupling` (same arguments).

    Forward: with :math:`\alpha = g_y`, :math:`\beta = g_{\log\det}`,
    :math:`g_\theta = \alpha\Delta y R_\theta + \beta\ell_\theta`, :math:`g_x = g_\theta/\Delta x`.
    Inverse (:math:`\theta` implicit in :math:`Y_k + \Delta y R(\theta) = y`):
    :math:`\lambda = (g_x\Delta x - g_{\log\det}\ell_\theta)/(\Delta y R_\theta)` is the input
    gradient, and :math:`\alpha = -\lambda`, :math:`\beta = -g_{\log\det}`. Then for both
    :math:`g_s = \alpha\Delta y R_s + \beta\ell_s`, :math:`g_{\delta_i} = \alpha\Delta y
    R_{\delta_i} + \beta\ell_{\delta_i}`, :math:`g_{\Delta y} = \alpha R + g_s/\Delta x`,
    :math:`g_{Y_k} = \alpha - g_{\Delta y}`, :math:`g_{Y_{k+1}} = g_{\Delta y}`, and on the
    :math:`X` knots through :math:`\theta`, :math:`\Delta x` and :math:`s = \Delta y/\Delta x`.
    """
    _check_finite(x=x, widths=widths, heights=heights, derivatives=derivatives, gy=gy,
                  glogdet=glogdet)
    xp = xp_of(x)
    mins = (min_bin_width, min_bin_height, min_derivative)
    P = _spline_parts(x, widths, heights, derivatives, inverse, tail_bound, mins)
    theta, s, d0, d1, dx, dy, k = (P[n] for n in ("theta", "s", "d0", "d1", "dx", "dy", "k"))
    R, (R_th, R_s, R_d0, R_d1), (l_th, l_s, l_d0, l_d1) = _partials(theta, s, d0, d1)
    inside = P["inside"]
    gy_in = xp.where(inside, gy, 0)
    gl = xp.where(inside, glogdet.astype(x.dtype)[:, None], 0)
    if inverse:
        lam = (gy_in * dx - gl * l_th) / (dy * R_th)  # dL/dtheta / (dF/dtheta)
        gx = xp.where(inside, lam, gy)
        alpha, beta = -lam, -gl
        g_x0, g_dx = gy_in, gy_in * theta  # x = X_k + theta dx
    else:
        g_th = gy_in * dy * R_th + gl * l_th
        gx = xp.where(inside, g_th / dx, gy)
        alpha, beta = gy_in, gl
        g_x0, g_dx = -g_th / dx, -g_th * theta / dx  # theta = (x - X_k) / dx
    g_s = alpha * dy * R_s + beta * l_s
    g_d0 = alpha * dy * R_d0 + beta * l_d0
    g_d1 = alpha * dy * R_d1 + beta * l_d1
    g_dy = alpha * R + g_s / dx  # s = dy / dx
    g_dx = g_dx - g_s * s / dx
    n_bins = P["n_bins"]
    gw = _softmax_knots_backward(g_x0 - g_dx, g_dx, k, P["p"], tail_bound, min_bin_width)
    gh = _softmax_knots_backward(alpha - g_dy, g_dy, k, P["q"], tail_bound, min_bin_height)
    # delta_j = m + softplus(r_{j-1}) for 1 <= j <= K-1; softplus' = sigmoid
    jj = xp.arange(1, n_bins)
    g_delta = g_d0[..., None] * (jj == k[..., None]) + g_d1[..., None] * (jj == k[..., None] + 1)
    gd = g_delta * xp.exp(-xp.logaddexp(0, -derivatives))  # sigmoid, no overflow
    return gx, gw, gh, gd


__all__ = ["spline_coupling", "spline_coupling_backward", "STATUS_ARGS", "bad_value_error"]
