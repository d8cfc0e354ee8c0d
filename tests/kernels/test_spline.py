"""Rational-quadratic spline kernel: every backend against the NumPy reference (random
cases, bin edges, knots, tails, one bin, x = +-B), flow properties (round trip, log-det =
slogdet of the numerical Jacobian, monotonicity), the stable inverse root, the backward
against finite differences and torch autograd, and clear errors on bad input."""

from __future__ import annotations

from decimal import Decimal, getcontext

import numpy as np
import pytest

import minigen
from minigen.kernels import spline as K
from minigen.kernels.reference import spline as R

CPU_BACKENDS = ["numpy", "numba"]
B = 3.0


def _case(rng, n, d, n_bins, dtype=np.float64, scale=1.0, spread=1.3):
    """x in [-spread B, spread B] (tails included) and raw parameters of size ``scale``."""
    x = rng.uniform(-spread * B, spread * B, (n, d))
    w, h = (scale * rng.standard_normal((n, d, n_bins)) for _ in range(2))
    dr = scale * rng.standard_normal((n, d, n_bins - 1))
    return tuple(a.astype(dtype) for a in (x, w, h, dr))


def _grads_in(rng, x, dtype=np.float64):
    return rng.standard_normal(x.shape).astype(dtype), rng.standard_normal(x.shape[0])


def _knots(raw, min_size=1e-3):
    return R._knots(raw.astype(np.float64), B, min_size)[0]


def _both(backend, fn, *args, **kw):
    with minigen.use_backend(backend):
        return fn(*args, **kw)


def _assert_parity(got, ref, rtol=1e-12):
    """Normwise: max |got - ref| <= rtol * max |ref| for each output array."""
    for g, r in zip(got, ref, strict=True):
        assert g.shape == r.shape and g.dtype == r.dtype
        if r.size:
            scale = max(float(np.abs(r).max()), 1e-300)
            assert float(np.abs(g - r).max()) <= rtol * scale, (float(np.abs(g - r).max()), scale)


def _assert_float32_parity(got, args32, fn, **kw):
    """float32: the backend is no less accurate than the float32 reference, both measured
    against the float64 reference on the same (float32-rounded) inputs."""
    ref32 = fn(*args32, **kw)
    truth = fn(*(a.astype(np.float64) for a in args32), **kw)
    for g, r, t in zip(got, ref32, truth, strict=True):
        assert g.dtype == r.dtype
        if t.size:
            err_ref = float(np.abs(r.astype(np.float64) - t).max())
            err = float(np.abs(g.astype(np.float64) - t).max())
            assert err <= 2 * err_ref + 1e-5 * float(np.abs(t).max()), (err, err_ref)


# ------------------------------------------------------------------ parity with the reference


@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("shape", [(7, 5, 8), (3, 4, 1), (2, 3, 2), (40, 33, 5), (1, 1, 16)])
def test_numba_matches_reference_float64(shape, inverse):
    rng = np.random.default_rng(sum(shape) + 11 * inverse)
    for scale in (0.3, 1.0, 3.0):
        x, w, h, d = _case(rng, *shape, scale=scale)
        gy, gl = _grads_in(rng, x)
        ref = R.spline_coupling(x, w, h, d, inverse=inverse)
        _assert_parity(_both("numba", K.spline_coupling, x, w, h, d, inverse=inverse), ref)
        ref_g = R.spline_coupling_backward(x, w, h, d, gy, gl, inverse=inverse)
        got_g = _both("numba", K.spline_coupling_backward, x, w, h, d, gy, gl, inverse=inverse)
        _assert_parity(got_g, ref_g, rtol=1e-11)


@pytest.mark.parametrize("inverse", [False, True])
def test_numba_matches_reference_float32(inverse):
    rng = np.random.default_rng(5 + inverse)
    x, w, h, d = _case(rng, 64, 300, 8, dtype=np.float32)  # prange path (>= 2**14 elements)
    gy, gl = _grads_in(rng, x, np.float32)
    got = _both("numba", K.spline_coupling, x, w, h, d, inverse=inverse)
    _assert_float32_parity(got, (x, w, h, d), R.spline_coupling, inverse=inverse)
    got_g = _both("numba", K.spline_coupling_backward, x, w, h, d, gy, gl, inverse=inverse)
    grads = [a.astype(np.float64) for a in got_g]
    ref32 = R.spline_coupling_backward(x, w, h, d, gy, gl, inverse=inverse)
    truth = R.spline_coupling_backward(*(a.astype(np.float64) for a in (x, w, h, d, gy)), gl,
                                       inverse=inverse)
    for g, r, t in zip(grads, ref32, truth, strict=True):
        err_ref, err = np.abs(r - t).max(), np.abs(g - t).max()
        assert err <= 2 * err_ref + 1e-5 * np.abs(t).max(), (err, err_ref)


def test_public_wrapper_flattens_trailing_dims():
    rng = np.random.default_rng(2)
    x, w, h, d = _case(rng, 3, 12, 4)
    gy, gl = _grads_in(rng, x)
    shaped = (x.reshape(3, 3, 4), w.reshape(3, 3, 4, 4), h.reshape(3, 3, 4, 4),
              d.reshape(3, 3, 4, 3))
    for backend in CPU_BACKENDS:
        with minigen.use_backend(backend):
            y, ld = K.spline_coupling(*shaped)
            y2, ld2 = K.spline_coupling(x, w, h, d)
            np.testing.assert_array_equal(y.reshape(3, 12), y2)
            np.testing.assert_array_equal(ld, ld2)
            grads = K.spline_coupling_backward(*shaped, gy.reshape(3, 3, 4), gl)
            for g, g2, a in zip(grads, K.spline_coupling_backward(x, w, h, d, gy, gl),
                                shaped, strict=True):
                assert g.shape == a.shape
                np.testing.assert_array_equal(g.reshape(g2.shape), g2)
        y1, ld1 = _both(backend, K.spline_coupling, x[:, 0], w[:, 0], h[:, 0], d[:, 0])  # (N,)
        assert y1.shape == (3,) and ld1.shape == (3,)


# --------------------------------------------------------------------- edge cases, values


def _edge_points(w, h, inverse):
    """Per element: every knot, the neighbours of each knot, +-B, just outside, 0, far out."""
    knots = _knots(h if inverse else w)[0, 0]
    pts = [knots, np.nextafter(knots, -np.inf), np.nextafter(knots, np.inf),
           [-B, B, np.nextafter(-B, -np.inf), np.nextafter(B, np.inf), 0.0, -1e6, 1e6, 5.0]]
    return np.concatenate(pts)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("n_bins", [1, 2, 8])
def test_edges_knots_tails_match_reference(backend, inverse, n_bins):
    rng = np.random.default_rng(n_bins + 3 * inverse)
    w, h = (2 * rng.standard_normal((1, 1, n_bins)) for _ in range(2))
    d = 2 * rng.standard_normal((1, 1, n_bins - 1))
    pts = _edge_points(w, h, inverse)
    n = pts.size
    x = pts[:, None]
    w, h, d = (np.repeat(a, n, axis=0) for a in (w, h, d))
    y, ld = _both(backend, K.spline_coupling, x, w, h, d, inverse=inverse)
    y_ref, ld_ref = R.spline_coupling(x, w, h, d, inverse=inverse)
    np.testing.assert_allclose(y, y_ref, rtol=1e-13, atol=1e-13)
    # next to a knot the backends may pick neighbouring bins (their knots differ by an ulp):
    # y and log dy/dx are continuous there, but d(log dy/dx)/dx can be ~1e3 in a narrow bin
    np.testing.assert_allclose(ld, ld_ref, rtol=1e-10, atol=1e-10)
    outside = np.abs(x[:, 0]) > B
    np.testing.assert_array_equal(y[outside], x[outside])  # identity tails, exactly
    np.testing.assert_array_equal(ld[outside], 0.0)
    at_bound = np.abs(x[:, 0]) == B  # the spline ends at (+-B, +-B) with slope 1
    np.testing.assert_allclose(y[at_bound], x[at_bound], rtol=0, atol=1e-14)
    np.testing.assert_allclose(ld[at_bound], 0.0, atol=1e-12)
    # at the input knots the output is the other side's knot
    src, dst = (_knots(h), _knots(w)) if inverse else (_knots(w), _knots(h))
    np.testing.assert_allclose(y[: n_bins + 1, 0], dst[0, 0], rtol=0, atol=1e-14)
    assert np.array_equal(x[: n_bins + 1, 0], src[0, 0])


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_one_bin_is_the_identity(backend):
    rng = np.random.default_rng(4)
    x, w, h, d = _case(rng, 5, 6, 1, scale=3.0)
    assert d.shape == (5, 6, 0)
    y, ld = _both(backend, K.spline_coupling, x, w, h, d)
    np.testing.assert_allclose(y, x, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(ld, 0.0, atol=1e-14)
    gx, gw, gh, gd = _both(backend, K.spline_coupling_backward, x, w, h, d, np.ones_like(x),
                           np.ones(5))
    np.testing.assert_allclose(gx, 1.0, rtol=1e-14)
    assert np.all(gw == 0) and np.all(gh == 0) and gd.shape == (5, 6, 0)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_empty_batch(backend):
    x, w, h, d = np.zeros((0, 3)), np.zeros((0, 3, 4)), np.zeros((0, 3, 4)), np.zeros((0, 3, 3))
    y, ld = _both(backend, K.spline_coupling, x, w, h, d)
    assert y.shape == (0, 3) and ld.shape == (0,)
    grads = _both(backend, K.spline_coupling_backward, x, w, h, d, x)
    assert [g.shape for g in grads] == [(0, 3), (0, 3, 4), (0, 3, 4), (0, 3, 3)]


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_known_values_two_equal_bins(backend):
    # widths = heights = equal bins, interior derivative 1: the spline is the identity
    d = np.full((1, 3, 1), np.log(np.expm1(1.0 - 1e-3)))  # 1e-3 + softplus(d) = 1
    w = np.zeros((1, 3, 2))
    x = np.array([[-2.0, 0.5, 2.9]])
    y, ld = _both(backend, K.spline_coupling, x, w, w, d)
    np.testing.assert_allclose(y, x, rtol=1e-14)
    np.testing.assert_allclose(ld, 0.0, atol=1e-13)
    # heights shifted: bin 0 is half as tall, so y(0) = -B + 2B * h_0
    h = np.array([[[0.0, np.log(3.0)]] * 3])  # softmax = (1/4, 3/4)
    y, _ = _both(backend, K.spline_coupling, np.zeros((1, 3)), w, h, d)
    h0 = 1e-3 + (1 - 2e-3) * 0.25
    np.testing.assert_allclose(y, -B + 2 * B * h0, rtol=1e-14)


# ------------------------------------------------------------------------- flow properties


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("scale", [0.5, 2.0, 5.0])
def test_round_trip_float64(backend, scale):
    rng = np.random.default_rng(int(10 * scale))
    x, w, h, d = _case(rng, 50, 20, 8, scale=scale)
    with minigen.use_backend(backend):
        y, ld = K.spline_coupling(x, w, h, d)
        x2, ld_inv = K.spline_coupling(y, w, h, d, inverse=True)
    # the error allowed scales with dx/dy (an almost flat bin makes x ill-determined by y)
    jac = _element_derivative(x, w, h, d)
    np.testing.assert_array_less(np.abs(x2 - x), 1e-10 * np.maximum(1.0, 1.0 / jac))
    assert np.abs(x2 - x)[jac > 1e-3].max() <= 1e-10
    np.testing.assert_allclose(ld_inv, -ld, rtol=1e-10, atol=1e-10)
    with minigen.use_backend(backend):  # the other way round
        x3, _ = K.spline_coupling(x, w, h, d, inverse=True)
        y3, _ = K.spline_coupling(x3, w, h, d)
    np.testing.assert_array_less(np.abs(y3 - x),
                                 1e-10 * np.maximum(1.0, _element_derivative(x3, w, h, d)))


def _element_derivative(x, w, h, d, eps=1e-6):
    """dy/dx per element by central differences (each element is its own 1-D map)."""
    yp, _ = R.spline_coupling(x + eps, w, h, d)
    ym, _ = R.spline_coupling(x - eps, w, h, d)
    return (yp - ym) / (2 * eps)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("inverse", [False, True])
def test_logdet_is_slogdet_of_numerical_jacobian(backend, inverse):
    rng = np.random.default_rng(21 + inverse)
    x, w, h, d = _case(rng, 6, 5, 6)
    eps = 1e-6
    with minigen.use_backend(backend):
        _, ld = K.spline_coupling(x, w, h, d, inverse=inverse)
        for i in range(x.shape[0]):
            jac = np.empty((5, 5))
            for j in range(5):  # column j of the row's Jacobian, by central differences
                e = np.zeros_like(x)
                e[i, j] = eps
                yp, _ = K.spline_coupling(x + e, w, h, d, inverse=inverse)
                ym, _ = K.spline_coupling(x - e, w, h, d, inverse=inverse)
                jac[:, j] = (yp[i] - ym[i]) / (2 * eps)
            sign, logabsdet = np.linalg.slogdet(jac)
            assert sign == 1.0
            np.testing.assert_allclose(ld[i], logabsdet, rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("inverse", [False, True])
def test_monotone_and_continuous(backend, inverse):
    rng = np.random.default_rng(8 + inverse)
    n = 20001
    grid = np.linspace(-1.5 * B, 1.5 * B, n)
    for scale in (1.0, 4.0):
        w, h = (scale * rng.standard_normal((1, 1, 8)) for _ in range(2))
        d = scale * rng.standard_normal((1, 1, 7))

        def run(v, params=(w, h, d)):
            args = [np.broadcast_to(a, (v.size, 1, a.shape[-1])).copy() for a in params]
            return _both(backend, K.spline_coupling, v[:, None], *args, inverse=inverse)

        y, _ = run(grid)
        assert np.all(np.diff(y[:, 0]) > 0), "not strictly increasing"
        # continuous at every knot (and at +-B): the values 1e-9 either side differ by no
        # more than the slope there allows
        knots = _knots(h if inverse else w)[0, 0]
        gap = 1e-9
        y_lo, ld_lo = run(knots - gap)
        y_hi, ld_hi = run(knots + gap)
        slope = np.maximum(np.exp(ld_lo), np.exp(ld_hi))
        assert np.all(y_hi[:, 0] - y_lo[:, 0] <= 1.01 * slope * 2 * gap + 1e-14)
        assert np.all(y_hi[:, 0] > y_lo[:, 0])


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_many_bins_and_extreme_parameters(backend):
    # bins pinned at the minimum width/height and derivatives from 1e-3 to 1e3
    rng = np.random.default_rng(13)
    x, w, h, d = _case(rng, 20, 30, 32, scale=20.0)
    ref = R.spline_coupling(x, w, h, d)
    got = _both(backend, K.spline_coupling, x, w, h, d)
    _assert_parity(got, ref, rtol=1e-11)
    assert np.all(np.isfinite(got[0])) and np.all(np.isfinite(got[1]))


# ------------------------------------------------------------------ the stable inverse root


def _root_truth(xi, dy, s, d0, d1):
    getcontext().prec = 60
    xi, dy, s, d0, d1 = (Decimal(float(v)) for v in (xi, dy, s, d0, d1))
    c1 = d0 + d1 - 2 * s
    a, b, c = dy * (s - d0) + xi * c1, dy * d0 - xi * c1, -s * xi
    return float(2 * c / (-b - (b * b - 4 * a * c).sqrt()))


def test_inverse_root_is_accurate_where_b_is_negative():
    """Near the top of a flat bin whose upper knot is steep (b < 0, delta_{k+1}/s > 1e4),
    the textbook root 2c / (-b - sqrt(b^2 - 4ac)) cancels (relative errors to 3e-11 on these
    cases); the root used by every backend stays within a few ulps of a 60-digit solution."""
    from minigen.kernels.cpu.spline import _inverse_theta as numba_theta

    rng = np.random.default_rng(1)
    cases = []
    while len(cases) < 200:
        dy, s = 10 ** rng.uniform(-3, 0), 10 ** rng.uniform(-3, 1)
        d0, d1 = 10 ** rng.uniform(-3, 3), 10 ** rng.uniform(-3, 3)
        xi = dy * (1 - 10 ** rng.uniform(-7, 0))
        if dy * d0 - xi * (d0 + d1 - 2 * s) < 0 and d1 / s > 1e4:
            cases.append((xi, dy, s, d0, d1))
    cases = np.array(cases)
    truth = np.array([_root_truth(*c) for c in cases])
    ref = R._inverse_theta(*cases.T)
    got = np.array([numba_theta(*c, 1.0) for c in cases])
    naive = np.array([
        2 * (-s * xi) / (-(dy * d0 - xi * (d0 + d1 - 2 * s)) - np.sqrt(
            (dy * d0 - xi * (d0 + d1 - 2 * s)) ** 2
            + 4 * (dy * (s - d0) + xi * (d0 + d1 - 2 * s)) * s * xi))
        for xi, dy, s, d0, d1 in cases])
    assert np.max(np.abs(naive - truth) / truth) > 1e-12  # the check can fail
    assert np.max(np.abs(ref - truth) / truth) < 1e-13
    assert np.max(np.abs(got - truth) / truth) < 1e-13


# ------------------------------------------------------------------------------- backward


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("inverse", [False, True])
def test_backward_matches_finite_differences(backend, inverse):
    rng = np.random.default_rng(30 + inverse)
    x, w, h, d = _case(rng, 4, 6, 5)
    gy, gl = _grads_in(rng, x)
    grads = _both(backend, K.spline_coupling_backward, x, w, h, d, gy, gl, inverse=inverse)

    def loss(*args):
        y, ld = R.spline_coupling(*args, inverse=inverse)
        return float((y * gy).sum() + (ld * gl).sum())

    eps = 1e-6
    args = [x, w, h, d]
    for k in range(4):
        for _ in range(3):
            v = rng.standard_normal(args[k].shape)
            plus, minus = list(args), list(args)
            plus[k], minus[k] = args[k] + eps * v, args[k] - eps * v
            fd = (loss(*plus) - loss(*minus)) / (2 * eps)
            ad = float((grads[k] * v).sum())
            assert abs(fd - ad) <= 1e-6 * (1 + abs(fd)), (k, fd, ad)


@pytest.mark.parametrize("inverse", [False, True])
def test_backward_matches_torch_autograd(inverse):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as tF

    rng = np.random.default_rng(40 + inverse)
    x, w, h, d = _case(rng, 5, 7, 6, scale=1.5)
    gy, gl = _grads_in(rng, x)
    tx, tw, th, td = (torch.tensor(a, requires_grad=True) for a in (x, w, h, d))
    n_bins = w.shape[-1]

    def knots(raw):
        c = tF.pad(torch.cumsum(1e-3 + (1 - 1e-3 * n_bins) * torch.softmax(raw, -1), -1), (1, 0))
        c = 2 * B * c - B
        return torch.cat([torch.full_like(c[..., :1], -B), c[..., 1:-1],
                          torch.full_like(c[..., :1], B)], -1)

    X, Y = knots(tw), knots(th)
    ones = torch.ones_like(td[..., :1])
    dd = torch.cat([ones, 1e-3 + tF.softplus(td), ones], -1)
    inside = tx.abs() <= B
    v = tx.clamp(-B, B)
    k = ((Y if inverse else X)[..., 1:-1] <= v[..., None]).sum(-1, keepdim=True)

    def g(a, o=0):
        return a.gather(-1, k + o)[..., 0]

    x0, y0, dx, dy = g(X), g(Y), g(X, 1) - g(X), g(Y, 1) - g(Y)
    d0, d1 = g(dd), g(dd, 1)
    s = dy / dx
    if inverse:
        xi = v - y0
        c1 = d0 + d1 - 2 * s
        a, b, c = dy * (s - d0) + xi * c1, dy * d0 - xi * c1, -s * xi
        sq = torch.sqrt(b * b - 4 * a * c)
        t = torch.where(b >= 0, 2 * c / (-b - sq), (sq - b) / (2 * a))
        out = x0 + t * dx
    else:
        t = (v - x0) / dx
        u = t * (1 - t)
        out = y0 + dy * (s * t * t + d0 * u) / (s + (d0 + d1 - 2 * s) * u)
    u = t * (1 - t)
    den = s + (d0 + d1 - 2 * s) * u
    lj = torch.log(s * s * (d1 * t * t + 2 * s * u + d0 * (1 - t) ** 2)) - 2 * torch.log(den)
    y = torch.where(inside, out, tx)
    ld = torch.where(inside, -lj if inverse else lj, torch.zeros_like(lj)).sum(1)
    ((y * torch.tensor(gy)).sum() + (ld * torch.tensor(gl)).sum()).backward()
    y_ref, ld_ref = R.spline_coupling(x, w, h, d, inverse=inverse)
    np.testing.assert_allclose(y.detach().numpy(), y_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ld.detach().numpy(), ld_ref, rtol=1e-12, atol=1e-12)
    for backend in CPU_BACKENDS:
        grads = _both(backend, K.spline_coupling_backward, x, w, h, d, gy, gl, inverse=inverse)
        for ours, t_ in zip(grads, (tx, tw, th, td), strict=True):
            np.testing.assert_allclose(ours, t_.grad.numpy(), rtol=1e-9, atol=1e-10)


# ------------------------------------------------------------------------------ bad input


_ARGS = ("x", "widths", "heights", "derivatives")


def _bad_input_case():
    rng = np.random.default_rng(9)
    x, w, h, d = _case(rng, 4, 5, 3)
    gy, gl = _grads_in(rng, x)
    return dict(x=x, widths=w, heights=h, derivatives=d), gy, gl


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("name", _ARGS + ("gy", "glogdet"))
@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nonfinite_input_names_the_argument(backend, name, where, value):
    args, gy, gl = _bad_input_case()
    arrays = dict(args, gy=gy, glogdet=gl)
    a = arrays[name]
    flat = {"first": 0, "middle": a.size // 2, "last": a.size - 1}[where]
    idx = np.unravel_index(flat, a.shape)
    a[idx] = value
    row = idx[0]
    col = 0 if name == "glogdet" else idx[1]
    where_msg = f"row {row}" if name == "glogdet" else f"row {row}, column {col}"
    msg = rf"{name} contains NaN or infinite values \(first at {where_msg}\)"
    with minigen.use_backend(backend):
        if name in _ARGS:
            with pytest.raises(ValueError, match=msg):
                K.spline_coupling(**args)
            with pytest.raises(ValueError, match=msg):
                K.spline_coupling(**args, inverse=True)
        with pytest.raises(ValueError, match=msg):
            K.spline_coupling_backward(**args, gy=arrays["gy"], glogdet=arrays["glogdet"])


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_nonfinite_input_in_the_parallel_path(backend):
    rng = np.random.default_rng(10)
    x, w, h, d = _case(rng, 100, 200, 4, dtype=np.float32)  # prange chunks on numba
    h[77, 150, 2] = np.nan
    with minigen.use_backend(backend), pytest.raises(
            ValueError, match=r"heights contains NaN .*row 77, column 150"):
        K.spline_coupling(x, w, h, d)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_wrong_shapes_and_options_raise(backend):
    args, gy, gl = _bad_input_case()
    x, w, h, d = (args[n] for n in _ARGS)
    bad = [
        (dict(widths=w[..., :0], heights=h[..., :0], derivatives=d[..., :0]), "at least one bin"),
        (dict(heights=h[..., :2]), "heights must have shape"),
        (dict(derivatives=d[..., :1]), "derivatives must have shape"),
        (dict(derivatives=d[..., None]), "derivatives must have shape"),
        (dict(x=x[:, :3]), "widths must have shape"),
        (dict(x=x[:3]), "widths must have shape"),
        (dict(widths=w[:, :, None]), "widths must have shape"),
        (dict(x=np.float64(1.0)), "at least 1 dimension"),
        (dict(tail_bound=0.0), "tail_bound must be > 0"),
        (dict(tail_bound=np.inf), "tail_bound must be > 0"),
        (dict(min_bin_width=0.4), r"min_bin_width \* K must be <= 1"),
        (dict(min_bin_height=-1e-3), "min_bin_height must be > 0"),
        (dict(min_derivative=0.0), "min_derivative must be > 0"),
    ]
    with minigen.use_backend(backend):
        for change, msg in bad:
            with pytest.raises(ValueError, match=msg):
                K.spline_coupling(**dict(args, **change))
        with pytest.raises(TypeError, match="inverse must be a bool"):
            K.spline_coupling(**args, inverse=1)
        with pytest.raises(TypeError, match="tail_bound must be a real number"):
            K.spline_coupling(**args, tail_bound="3")
        with pytest.raises(TypeError, match="x must be a real numeric array"):
            K.spline_coupling(**dict(args, x=x.astype(complex)))
        with pytest.raises(ValueError, match="gy must have shape"):
            K.spline_coupling_backward(**args, gy=gy[:, :2], glogdet=gl)
        with pytest.raises(ValueError, match="glogdet must have shape"):
            K.spline_coupling_backward(**args, gy=gy, glogdet=gl[:2])


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_dtypes(backend):
    args, gy, gl = _bad_input_case()
    with minigen.use_backend(backend):
        y, ld = K.spline_coupling(**{n: a.astype(np.float32) for n, a in args.items()})
        assert y.dtype == np.float32 and ld.dtype == np.float64
        mixed = dict(args, widths=args["widths"].astype(np.float32))
        y, _ = K.spline_coupling(**mixed)
        assert y.dtype == np.float64
        ints = dict(args, x=np.arange(20).reshape(4, 5) - 10)
        y, _ = K.spline_coupling(**ints)
        assert y.dtype == np.float64
        grads = K.spline_coupling_backward(**{n: a.astype(np.float32) for n, a in args.items()},
                                           gy=gy.astype(np.float32), glogdet=gl)
        assert all(g.dtype == np.float32 for g in grads)


# ---------------------------------------------------------------- CUDA parity (gpu marker)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("inverse", [False, True])
def test_cupy_matches_reference(dtype, inverse):
    cupy = pytest.importorskip("cupy")
    rng = np.random.default_rng(50 + inverse)
    for n, d, n_bins in ((64, 300, 8), (3, 5, 1), (2, 7, 2), (5, 1000, 16)):
        x, w, h, dr = _case(rng, n, d, n_bins, dtype=dtype)
        gy, gl = _grads_in(rng, x, dtype)
        with minigen.use_backend("cupy"):
            dev = [cupy.asarray(a) for a in (x, w, h, dr, gy, gl)]
            got = [cupy.asnumpy(a) for a in K.spline_coupling(*dev[:4], inverse=inverse)]
            got_g = [cupy.asnumpy(a) for a in K.spline_coupling_backward(*dev, inverse=inverse)]
        if dtype is np.float64:
            _assert_parity(got, R.spline_coupling(x, w, h, dr, inverse=inverse))
            _assert_parity(got_g, R.spline_coupling_backward(x, w, h, dr, gy, gl,
                                                             inverse=inverse), rtol=1e-11)
        else:
            _assert_float32_parity(got, (x, w, h, dr), R.spline_coupling, inverse=inverse)


@pytest.mark.gpu
def test_cupy_nonfinite_input_names_the_argument():
    cupy = pytest.importorskip("cupy")
    args, gy, gl = _bad_input_case()
    args["derivatives"][2, 3, 1] = np.nan
    with minigen.use_backend("cupy"), pytest.raises(
            ValueError, match=r"derivatives contains NaN .*row 2, column 3"):
        K.spline_coupling(**{n: cupy.asarray(a) for n, a in args.items()})
