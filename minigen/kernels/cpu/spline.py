r"""Numba kernels for the rational-quadratic spline (see ``reference/spline.py`` for the math).

The ``N * D`` elements are processed in blocks of ``BLOCK`` consecutive elements (a block
may span rows, so that narrow rows cost no per-row overhead). Per block, in a transposed
scratch layout (bin index first), every pass is a contiguous SIMD loop across the block's
elements: for the widths and the heights the max of each element's ``K`` raw values (and
the finiteness check), ``e = exp(raw - max)``, the softmax and the knots
``X_0 = -B, .., X_K = B`` by a running sum; then the bin (the count of interior knots
``<= x``), the softplus of the two knot derivatives the bin needs, ``theta`` (the stable
quadratic root for the inverse), the RQ map and ``log dy/dx``. Only the gathers of a bin's
knots and the writes to the rows are scalar; the log-dets are summed per row in float64.
``exp``, ``log`` and ``log1p`` are :func:`._vexp.vexp`, :func:`._vlog.vlog`,
:func:`._vlog.vlog1p`: libm's scalar calls would block vectorization. The backward
recomputes the same and writes the four gradients in the same pass. ``prange`` over
chunks of whole rows.

Values are checked in the loops that read them: ``v - v`` is 0 for a finite ``v`` and NaN
otherwise, summed per block over ``x``, widths, heights, derivatives (and ``gy``,
``glogdet``); only a block whose sum is not 0 is scanned again to find its first bad
element. ``status[i]`` is -1 for a clean row, else ``8 * j + a`` for the first bad element
``j`` of row ``i`` and argument ``a`` (an index into ``reference.spline.STATUS_ARGS``);
:func:`raise_on_status` turns it into the ``ValueError`` every backend raises. Arithmetic
runs in the input dtype (typed constants are passed in: a Python literal would promote
float32 to float64); ``error_model="numpy"``, so a division by zero on a bad element gives
inf/NaN that is discarded, never an exception; no ``fastmath``.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit, prange

from ..reference.spline import bad_value_error
from ._chunks import run_rows
from ._vexp import vexp
from ._vlog import vlog, vlog1p

#: Below this many elements the kernels run on one thread (a parallel launch costs more).
PARALLEL_MIN_SIZE = 1 << 14
#: Elements per block: the scratch vectors (five of ``BLOCK * (K + 1)``) stay in L1.
BLOCK = 64
_JIT = dict(cache=True, error_model="numpy")


# The block passes are separate small functions: LLVM inlines them and vectorizes each
# loop, where one function holding all the loops left most of them scalar.
@njit(**_JIT)
def _gather_block(raw, e0, nb, probs):
    for k in range(raw.shape[1]):
        for t in range(nb):
            probs[k, t] = raw[e0 + t, k]


@njit(**_JIT)
def _max_block(probs, m, chk, nb):
    for t in range(nb):
        m[t] = probs[0, t]
        chk[t] = m[t] - m[t]
    for k in range(probs.shape[0]):
        for t in range(nb):
            v = probs[k, t]
            chk[t] += v - v  # 0 if finite, NaN otherwise
            mt = m[t]
            m[t] = v if v > mt else mt


@njit(**_JIT)
def _exp_block(probs, m, total, nb):
    for k in range(probs.shape[0]):
        for t in range(nb):
            probs[k, t] = vexp(probs[k, t] - m[t])
    for t in range(nb):
        total[t] = probs[0, t]
    for k in range(1, probs.shape[0]):
        for t in range(nb):
            total[t] += probs[k, t]


@njit(**_JIT)
def _knots_block(probs, total, acc, knots, nb, lo, span, min_size, coef):
    n_bins = probs.shape[0]
    for t in range(nb):
        acc[t] = lo - lo
        knots[0, t] = lo
    for k in range(n_bins):
        for t in range(nb):
            p = probs[k, t] / total[t]  # p = softmax(raw)
            probs[k, t] = p
            acc[t] += min_size + coef * p  # w_k = m + (1 - K m) p_k
            knots[k + 1, t] = span * acc[t] + lo  # X_{k+1} = -B + 2B sum_{l<=k} w_l
    for t in range(nb):
        knots[n_bins, t] = -lo  # X_K = B exactly


@njit(**_JIT)
def _block_knots(raw, e0, nb, lo, span, min_size, coef, m, chk, total, acc, probs, knots):
    """Softmax ``probs[:, t]`` and knots ``knots[:, t]`` of elements ``e0 + t``, ``t < nb``.

    Returns the sum of ``v - v`` over the raw values read: 0 if all are finite."""
    _gather_block(raw, e0, nb, probs)
    _max_block(probs, m, chk, nb)
    _exp_block(probs, m, total, nb)
    _knots_block(probs, total, acc, knots, nb, lo, span, min_size, coef)
    bad = lo - lo
    for t in range(nb):
        bad += chk[t]
    return bad


@njit(**_JIT)
def _check_block(x, derivs, gy, e0, nb):
    """Sum of ``v - v`` over the block's ``x``, derivatives and ``gy`` (``gy`` may be empty)."""
    chk = x[e0] - x[e0]
    for t in range(nb):
        v = x[e0 + t]
        chk += v - v
    for t in range(nb):
        for k in range(derivs.shape[1]):
            r = derivs[e0 + t, k]
            chk += r - r
    if gy.shape[0]:
        for t in range(nb):
            g = gy[e0 + t]
            chk += g - g
    return chk


@njit(**_JIT)
def _report_first_bad(x, widths, heights, derivs, gy, e0, nb, d, status):
    """Slow path, after a NaN in the block: ``status[row] = 8 * column + argument`` for the
    first non-finite value of each row that has none recorded yet."""
    for e in range(e0, e0 + nb):
        a = -1
        if not np.isfinite(x[e]):
            a = 0
        elif not np.all(np.isfinite(widths[e])):
            a = 1
        elif not np.all(np.isfinite(heights[e])):
            a = 2
        elif not np.all(np.isfinite(derivs[e])):
            a = 3
        elif gy.shape[0] and not np.isfinite(gy[e]):
            a = 4
        if a >= 0 and status[e // d] < 0:
            status[e // d] = 8 * (e % d) + a


@njit(inline="always", **_JIT)
def _softplus(r):
    """``log(1 + e^r) = max(r, 0) + log1p(e^{-|r|})``."""
    return max(r, r - r) + vlog1p(vexp(-abs(r)))


@njit(inline="always", **_JIT)
def _sigmoid(r, one):
    e = vexp(-abs(r))
    return one / (one + e) if r >= 0 else e / (one + e)


@njit(inline="always", **_JIT)
def _inverse_theta(xi, dy, s, d0, d1, one):
    """Root in [0, 1] of ``a t^2 + b t + c = 0`` without cancellation (see the reference)."""
    two = one + one
    c1 = d0 + d1 - two * s
    a = dy * (s - d0) + xi * c1
    b = dy * d0 - xi * c1
    c = -s * xi
    sq = np.sqrt(max(b * b - (two + two) * a * c, one - one))
    theta = (two * c) / (-b - sq) if b >= 0 else (sq - b) / (two * a)  # no cancellation
    return min(max(theta, one - one), one)


@njit(**_JIT)
def _locate_block(x, derivs, X, Y, e0, nb, inverse, bound, k, v, x0, dx, y0, dy, r0, r1):
    """Per element ``t``: clipped input ``v``, bin ``k`` (the number of interior knots
    ``<= v``), its knots and the raw derivatives ``r0``, ``r1`` at its two ends."""
    n_bins = X.shape[0] - 1
    for t in range(nb):
        v[t] = min(max(x[e0 + t], -bound), bound)
        k[t] = 0
    for l in range(1, n_bins):
        if inverse:
            for t in range(nb):
                k[t] += 1 if Y[l, t] <= v[t] else 0
        else:
            for t in range(nb):
                k[t] += 1 if X[l, t] <= v[t] else 0
    zero = bound - bound
    for t in range(nb):  # gathers
        kt = k[t]
        x0[t], y0[t] = X[kt, t], Y[kt, t]
        dx[t], dy[t] = X[kt + 1, t] - x0[t], Y[kt + 1, t] - y0[t]
        r0[t] = derivs[e0 + t, kt - 1] if kt > 0 else zero
        r1[t] = derivs[e0 + t, kt] if kt + 1 < n_bins else zero


@njit(**_JIT)
def _theta_block(k, v, x0, dx, y0, dy, r0, r1, d0, d1, s, theta, nb, n_bins, inverse, one,
                 min_d):
    """Knot derivatives ``d0 = delta_k``, ``d1 = delta_{k+1}``, slope ``s`` and ``theta``."""
    for t in range(nb):
        sp0 = min_d + _softplus(r0[t])
        sp1 = min_d + _softplus(r1[t])
        d0[t] = one if k[t] == 0 else sp0  # delta_0 = delta_K = 1
        d1[t] = one if k[t] == n_bins - 1 else sp1
        s[t] = dy[t] / dx[t]  # bin slope
    if inverse:
        for t in range(nb):
            theta[t] = _inverse_theta(v[t] - y0[t], dy[t], s[t], d0[t], d1[t], one)
    else:
        for t in range(nb):
            theta[t] = (v[t] - x0[t]) / dx[t]


@njit(**_JIT)
def _map_block(x0, dx, y0, dy, d0, d1, s, theta, out, ld, nb, inverse, one):
    """The RQ map (or ``x = X_k + theta dx``) and ``log dy/dx`` per element."""
    two = one + one
    for t in range(nb):
        th, sl, a0, a1 = theta[t], s[t], d0[t], d1[t]
        u = th * (one - th)
        den = sl + (a0 + a1 - two * sl) * u
        fwd = y0[t] + dy[t] * (sl * th * th + a0 * u) / den  # y = Y_k + dy R(theta)
        out[t] = x0[t] + th * dx[t] if inverse else fwd
        mm = a1 * th * th + two * sl * u + a0 * (one - th) * (one - th)
        r = sl / den
        lj = vlog(mm * r * r)  # log dy/dx = log(m (s / den)^2), r <= 2
        ld[t] = -lj if inverse else lj


@njit(cache=True, inline="always")
def _setup_block(x, widths, heights, derivs, gy, e0, nb, d, status, inverse, c, work, P_w, P_h,
                 X, Y, k):
    """What the forward and the backward pass do first on a block of ``nb`` elements: the
    knots ``X``, ``Y`` (bin probabilities into ``P_w``, ``P_h``), the value checks (the first
    bad element reported in ``status``), each element's bin and ``theta`` (into ``work``)."""
    one, bound, span, min_w, coef_w, min_h, coef_h, min_d = c
    m, chk, total, acc = work[0], work[1], work[2], work[3]
    v, x0, dx, y0, dy, r0, r1 = work[4], work[5], work[6], work[7], work[8], work[9], work[10]
    d0, d1, s, theta = work[11], work[12], work[13], work[14]
    bad = _block_knots(widths, e0, nb, -bound, span, min_w, coef_w, m, chk, total, acc, P_w, X)
    bad += _block_knots(heights, e0, nb, -bound, span, min_h, coef_h, m, chk, total, acc, P_h,
                        Y)
    if bad + _check_block(x, derivs, gy, e0, nb) != 0:
        _report_first_bad(x, widths, heights, derivs, gy, e0, nb, d, status)
    _locate_block(x, derivs, X, Y, e0, nb, inverse, bound, k, v, x0, dx, y0, dy, r0, r1)
    _theta_block(k, v, x0, dx, y0, dy, r0, r1, d0, d1, s, theta, nb, widths.shape[1], inverse,
                 one, min_d)


@njit(**_JIT)
def _forward_rows(x, widths, heights, derivs, y, logdet, status, d, inverse, c, lo, hi):
    """Rows ``lo..hi`` of the ``(N * D,)`` flat ``x``, ``(N * D, K)`` parameters."""
    one, bound, span, min_w, coef_w, min_h, coef_h, min_d = c
    n_bins = widths.shape[1]
    work = np.empty((16, BLOCK), x.dtype)  # rows as in _setup_block; out, ld after it
    x0, dx, y0, dy = work[5], work[6], work[7], work[8]
    d0, d1, s, theta, out, ld = work[11], work[12], work[13], work[14], work[15], work[0]
    k = np.empty(BLOCK, np.int64)
    P = np.empty((n_bins, BLOCK), x.dtype)
    X = np.empty((n_bins + 1, BLOCK), x.dtype)
    Y = np.empty((n_bins + 1, BLOCK), x.dtype)
    no_gy = np.empty(0, x.dtype)
    for i in range(lo, hi):
        logdet[i] = 0.0
        status[i] = -1
    for e0 in range(lo * d, hi * d, BLOCK):
        nb = min(BLOCK, hi * d - e0)
        _setup_block(x, widths, heights, derivs, no_gy, e0, nb, d, status, inverse, c, work,
                     P, P, X, Y, k)
        _map_block(x0, dx, y0, dy, d0, d1, s, theta, out, ld, nb, inverse, one)
        for t in range(nb):
            e = e0 + t
            xe = x[e]
            if xe >= -bound and xe <= bound:
                y[e] = out[t]
                logdet[e // d] += ld[t]
            else:
                y[e] = xe  # identity tails


@njit(inline="always", **_JIT)
def _softmax_backward(g, e, g_lo, g_hi, k, probs, t, coef):
    """``g[e, l] = p_l (g_p,l - sum_m p_m g_p,m)`` with ``g_p,l = coef (g_lo [l < k] +
    g_hi [l <= k])``: the knots ``X_k``, ``X_{k+1}`` through the running sum and softmax."""
    n_bins = probs.shape[0]
    zero = g_lo - g_lo
    a = g_lo * coef if k > 0 else zero  # X_0 = -B is a constant
    b = g_hi * coef if k + 1 < n_bins else zero  # so is X_K = B
    below = zero  # P_{<k}
    for l in range(k):
        below += probs[l, t]
    total = a * below + b * (below + probs[k, t])  # sum_l p_l g_p,l
    for l in range(n_bins):
        gp = (a if l < k else zero) + (b if l <= k else zero)
        g[e, l] = probs[l, t] * (gp - total)


@njit(**_JIT)
def _grad_block(g, gl, r0, r1, dx, dy, d0, d1, s, theta, gx, gxw, gdx, gyh, gdy, gd0, gd1, nb,
                inverse, one):
    """Per element: ``gx`` and the gradients on the knots ``X_k`` (``gxw``), ``X_{k+1}``
    (``gdx``), ``Y_k`` (``gyh``), ``Y_{k+1}`` (``gdy``) and on the raw derivatives at the
    bin's two ends (``gd0``, ``gd1``); equations in the reference's backward."""
    two = one + one
    for t in range(nb):
        th, sl, a0, a1, wx, wy, gt, glt = theta[t], s[t], d0[t], d1[t], dx[t], dy[t], g[t], gl[t]
        # partials of R = num / den (y = Y_k + dy R) and of l = log dy/dx
        u = th * (one - th)
        c1 = a0 + a1 - two * sl
        den = sl + c1 * u
        num = sl * th * th + a0 * u
        mm = a1 * th * th + two * sl * u + a0 * (one - th) * (one - th)
        den2 = den * den
        R = num / den
        R_th = sl * mm / den2
        R_s = (th * th * den - num * (one - two * u)) / den2
        R_d0 = u * (den - num) / den2
        R_d1 = -u * num / den2
        l_th = (two * a1 * th + two * sl * (one - two * th)
                - two * a0 * (one - th)) / mm - two * c1 * (one - two * th) / den
        l_s = two / sl + two * u / mm - two * (one - two * u) / den
        l_d0 = (one - th) * (one - th) / mm - two * u / den
        l_d1 = th * th / mm - two * u / den
        lam = (gt * wx - glt * l_th) / (wy * R_th)  # inverse: dL/dtheta / (dF/dtheta)
        g_th = gt * wy * R_th + glt * l_th  # forward: dL/dtheta
        alpha = -lam if inverse else gt
        beta = -glt if inverse else glt
        gx[t] = lam if inverse else g_th / wx
        g_x0 = gt if inverse else -g_th / wx  # x = X_k + theta dx | theta = (x - X_k) / dx
        g_dx = gt * th if inverse else -g_th * th / wx
        g_s = alpha * wy * R_s + beta * l_s
        g_dy = alpha * R + g_s / wx  # s = dy / dx
        g_dx = g_dx - g_s * sl / wx
        gxw[t] = g_x0 - g_dx
        gdx[t] = g_dx
        gyh[t] = alpha - g_dy
        gdy[t] = g_dy
        # delta = m + softplus(r): d delta / dr = sigmoid(r)
        gd0[t] = (alpha * wy * R_d0 + beta * l_d0) * _sigmoid(r0[t], one)
        gd1[t] = (alpha * wy * R_d1 + beta * l_d1) * _sigmoid(r1[t], one)


@njit(**_JIT)
def _backward_rows(x, widths, heights, derivs, gy, glogdet, gx, gw, gh, gd, status, d, inverse,
                   c, lo, hi):
    one, bound, span, min_w, coef_w, min_h, coef_h, min_d = c
    cw, ch = span * coef_w, span * coef_h  # dX_j / dp_l = 2B (1 - K m) [l < j]
    n_bins = widths.shape[1]
    work = np.empty((24, BLOCK), x.dtype)  # rows as in _setup_block; gradients after it
    dx, dy, r0, r1 = work[6], work[8], work[9], work[10]
    d0, d1, s, theta, g, gl = work[11], work[12], work[13], work[14], work[15], work[16]
    gxt, gxw, gdx, gyh, gdy, gd0, gd1 = (work[17], work[18], work[19], work[20], work[21],
                                         work[22], work[23])
    k = np.empty(BLOCK, np.int64)
    P = np.empty((n_bins, BLOCK), x.dtype)
    Q = np.empty((n_bins, BLOCK), x.dtype)
    X = np.empty((n_bins + 1, BLOCK), x.dtype)
    Y = np.empty((n_bins + 1, BLOCK), x.dtype)
    for i in range(lo, hi):
        status[i] = -1 if glogdet[i] - glogdet[i] == 0 else 5
    for e0 in range(lo * d, hi * d, BLOCK):
        nb = min(BLOCK, hi * d - e0)
        _setup_block(x, widths, heights, derivs, gy, e0, nb, d, status, inverse, c, work,
                     P, Q, X, Y, k)
        for t in range(nb):
            g[t] = gy[e0 + t]
            gl[t] = glogdet[(e0 + t) // d]
        _grad_block(g, gl, r0, r1, dx, dy, d0, d1, s, theta, gxt, gxw, gdx, gyh, gdy, gd0, gd1,
                    nb, inverse, one)
        for t in range(nb):  # scatter into the rows of the outputs
            e = e0 + t
            xe = x[e]
            kt = k[t]
            for l in range(n_bins - 1):
                gd[e, l] = 0
            if not (xe >= -bound and xe <= bound):
                gx[e] = g[t]  # identity tails
                for l in range(n_bins):
                    gw[e, l] = 0
                    gh[e, l] = 0
                continue
            gx[e] = gxt[t]
            _softmax_backward(gw, e, gxw[t], gdx[t], kt, P, t, cw)
            _softmax_backward(gh, e, gyh[t], gdy[t], kt, Q, t, ch)
            if kt > 0:
                gd[e, kt - 1] = gd0[t]
            if kt + 1 < n_bins:
                gd[e, kt] = gd1[t]


@njit(parallel=True, **_JIT)
def _forward_par(x, widths, heights, derivs, y, logdet, status, d, inverse, c, n_chunks):
    n = logdet.shape[0]
    for t in prange(n_chunks):
        _forward_rows(x, widths, heights, derivs, y, logdet, status, d, inverse, c,
                      t * n // n_chunks, (t + 1) * n // n_chunks)


@njit(parallel=True, **_JIT)
def _backward_par(x, widths, heights, derivs, gy, glogdet, gx, gw, gh, gd, status, d, inverse,
                  c, n_chunks):
    n = glogdet.shape[0]
    for t in prange(n_chunks):
        _backward_rows(x, widths, heights, derivs, gy, glogdet, gx, gw, gh, gd, status, d,
                       inverse, c, t * n // n_chunks, (t + 1) * n // n_chunks)


@functools.lru_cache(maxsize=64)
def _constants(dtype, n_bins, tail_bound, min_bin_width, min_bin_height, min_derivative):
    """``(1, B, 2B, m_w, 1 - K m_w, m_h, 1 - K m_h, m_delta)`` in ``dtype``."""
    t = np.dtype(dtype).type
    return (t(1), t(tail_bound), t(2.0 * tail_bound), t(min_bin_width),
            t(1.0 - min_bin_width * n_bins), t(min_bin_height),
            t(1.0 - min_bin_height * n_bins), t(min_derivative))


def raise_on_status(status) -> None:
    """The ``ValueError`` of :func:`bad_value_error` for the first bad row, if any."""
    if status.size and status.max() >= 0:
        i = int(np.flatnonzero(status >= 0)[0])
        j, a = divmod(int(status[i]), 8)
        raise bad_value_error(a, i, j)


def _flat(x, *params):
    """``x (N, D)`` -> ``(N * D,)`` and parameters ``(N, D, K)`` -> ``(N * D, K)`` (views)."""
    n, d = x.shape
    return (x.reshape(n * d),) + tuple(p.reshape(n * d, p.shape[2]) for p in params)


def spline_coupling(x, widths, heights, derivatives, inverse=False, tail_bound=3.0,
                    min_bin_width=1e-3, min_bin_height=1e-3, min_derivative=1e-3):
    c = _constants(x.dtype, widths.shape[2], tail_bound, min_bin_width, min_bin_height,
                   min_derivative)
    n, d = x.shape
    y = np.empty_like(x)
    logdet = np.empty(n, dtype=np.float64)
    status = np.empty(n, dtype=np.int64)
    args = (*_flat(x, widths, heights, derivatives), y.reshape(n * d), logdet, status, d,
            bool(inverse), c)
    run_rows(_forward_rows, _forward_par, x, PARALLEL_MIN_SIZE, *args)
    raise_on_status(status)
    return y, logdet


def spline_coupling_backward(x, widths, heights, derivatives, gy, glogdet, inverse=False,
                             tail_bound=3.0, min_bin_width=1e-3, min_bin_height=1e-3,
                             min_derivative=1e-3):
    c = _constants(x.dtype, widths.shape[2], tail_bound, min_bin_width, min_bin_height,
                   min_derivative)
    n, d = x.shape
    grads = tuple(np.empty_like(a) for a in (x, widths, heights, derivatives))
    status = np.empty(n, dtype=np.int64)
    args = (*_flat(x, widths, heights, derivatives), gy.reshape(n * d),
            glogdet.astype(x.dtype), *_flat(*grads), status, d, bool(inverse), c)
    run_rows(_backward_rows, _backward_par, x, PARALLEL_MIN_SIZE, *args)
    raise_on_status(status)
    return grads


def warm_up() -> None:
    """Compile (or load from cache) the serial and ``prange`` kernels, forward and backward,
    for float32 and float64 (``inverse`` is a run-time flag: one compile serves both)."""
    for dtype in (np.float32, np.float64):
        x = np.zeros(4, dtype)
        w = np.zeros((4, 3), dtype)
        d = np.zeros((4, 2), dtype)
        c = _constants(dtype, 3, 3.0, 1e-3, 1e-3, 1e-3)
        ld, st = np.empty(2), np.empty(2, np.int64)
        gl = np.zeros(2, dtype)
        grads = (np.empty_like(x), np.empty_like(w), np.empty_like(w), np.empty_like(d))
        _forward_rows(x, w, w, d, np.empty_like(x), ld, st, 2, False, c, 0, 2)
        _forward_par(x, w, w, d, np.empty_like(x), ld, st, 2, False, c, 1)
        _backward_rows(x, w, w, d, x, gl, *grads, st, 2, False, c, 0, 2)
        _backward_par(x, w, w, d, x, gl, *grads, st, 2, False, c, 1)


__all__ = ["spline_coupling", "spline_coupling_backward", "raise_on_status"]
