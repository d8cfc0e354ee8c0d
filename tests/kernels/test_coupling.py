"""Coupling-layer kernels: every backend against the NumPy reference, flow properties
(inverse, log-det = slogdet of the numerical Jacobian), backward = finite differences,
and clear errors on bad input."""

from __future__ import annotations

import numpy as np
import pytest

import minigen
from minigen.kernels import coupling as K
from minigen.kernels.reference import coupling as R

RTOL = {np.float32: 1e-5, np.float64: 1e-12}
CPU_BACKENDS = ["numpy", "numba"]


def _rows(a):
    return a.reshape(a.shape[0], int(np.prod(a.shape[1:])))


def _random_case(rng, dtype):
    n = int(rng.choice([0, 1, 2, 3, 7, 16, 33]))
    tail = [(1,), (2,), (5,), (17,), (64,), (3, 4), (2, 3, 2), ()][rng.integers(8)]
    shape = (n,) + tail
    scale = float(rng.choice([0.1, 1.0, 5.0]))
    x2, t = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    s = (scale * rng.standard_normal(shape)).astype(dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    gl = rng.standard_normal(n)
    return x2, s, t, gy, gl


def _close(a, b, scale, rtol):
    """|a - b| <= rtol * scale elementwise (scale = sum of |terms|), inf/0 must agree."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape
    fin = np.isfinite(b)
    assert np.array_equal(np.isfinite(a), fin)
    np.testing.assert_array_equal(a[~fin], b[~fin])
    tiny = 1e-37 if rtol > 1e-8 else 1e-300
    assert np.all(np.abs(a - b)[fin] <= rtol * np.asarray(scale)[fin] + tiny)


def _compare_affine(x2, s, t, gy, gl, backend):
    rtol = RTOL[x2.dtype.type]
    ax, as_, at, ag = (np.abs(a).astype(np.float64) for a in (x2, s, t, gy))
    ld_scale = _rows(as_).sum(1) if x2.ndim > 1 else as_
    with minigen.use_backend(backend):
        for inverse in (False, True):
            y_ref, ld_ref = R.affine_coupling(*(_rows(a) for a in (x2, s, t)), inverse=inverse)
            y, ld = K.affine_coupling(x2, s, t, inverse=inverse)
            assert y.dtype == x2.dtype and y.shape == x2.shape and ld.dtype == np.float64
            e = np.exp((-1 if inverse else 1) * s.astype(np.float64))
            scale = (ax + at) * e if inverse else ax * e + at
            _close(y, y_ref.reshape(x2.shape), scale + 1e-30, rtol)
            _close(ld, ld_ref, ld_scale, 1e-12)
            g_ref = R.affine_coupling_backward(
                *(_rows(a) for a in (x2, s, t, gy)), gl, inverse=inverse
            )
            g = K.affine_coupling_backward(x2, s, t, gy, gl, inverse=inverse)
            gexp = ag * e
            gl_abs = np.abs(gl).reshape((-1,) + (1,) * (x2.ndim - 1))
            scales = (gexp, gexp * (ax + (at if inverse else 0)) + gl_abs, gexp if inverse else ag)
            for gi, gr, sc in zip(g, g_ref, scales, strict=True):
                assert gi.shape == x2.shape and gi.dtype == x2.dtype
                _close(gi, gr.reshape(x2.shape), sc + 1e-30, rtol)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_affine_matches_reference_random(backend, dtype):
    rng = np.random.default_rng(7 if dtype is np.float32 else 8)
    for _ in range(250):  # 4 x 250 = 1,000 random cases, forward + inverse + backward each
        _compare_affine(*_random_case(rng, dtype), backend)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numba_parallel_path_matches_reference(dtype):
    # Above PARALLEL_MIN_SIZE elements the Numba kernels run prange over row chunks.
    from minigen.kernels.cpu.coupling import PARALLEL_MIN_SIZE

    rng = np.random.default_rng(13)
    n = 2 * PARALLEL_MIN_SIZE // 96 + 1
    x2, s, t, gy = (rng.standard_normal((n, 96)).astype(dtype) for _ in range(4))
    _compare_affine(x2, s, t, gy, rng.standard_normal(n), "numba")
    x = rng.standard_normal((n, 3, 32)).astype(dtype)
    loc, ls = rng.standard_normal(3).astype(dtype), rng.standard_normal(3).astype(dtype)
    with minigen.use_backend("numba"):
        for inverse in (False, True):
            y, _ = K.actnorm(x, loc, ls, inverse=inverse)
            y_ref, _ = R.actnorm(x, loc, ls, inverse=inverse)
            np.testing.assert_allclose(y, y_ref, rtol=RTOL[dtype] * 10, atol=RTOL[dtype] * 10)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_affine_extreme_scales_overflow_like_numpy(backend, dtype):
    # The kernel does not clamp: exp overflows to inf / underflows to 0 exactly as NumPy.
    big = 200.0 if dtype is np.float32 else 800.0
    s = np.array([[big, -big, 80.0, -80.0, 0.0, -100.0]], dtype)
    x2 = np.ones_like(s)
    t = np.zeros_like(s)
    with np.errstate(over="ignore"), minigen.use_backend(backend):
        y, ld = K.affine_coupling(x2, s, t)
        y_ref = x2 * np.exp(s) + t
    assert np.isinf(y[0, 0]) and y[0, 1] == 0.0
    np.testing.assert_allclose(y[0, 2:5], y_ref[0, 2:5], rtol=RTOL[dtype])
    assert abs(float(y[0, 5]) - float(y_ref[0, 5])) <= 8 * np.finfo(dtype).smallest_subnormal
    np.testing.assert_allclose(ld, [s.astype(np.float64).sum()], rtol=1e-12)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_float32_logdet_accumulates_in_float64(backend):
    s = np.full((2, 100_000), 0.1, np.float32)
    with minigen.use_backend(backend):
        _, ld = K.affine_coupling(np.zeros_like(s), s, np.zeros_like(s))
    exact = 100_000 * float(np.float32(0.1))
    np.testing.assert_allclose(ld, [exact, exact], rtol=1e-12)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_empty_batch_and_views(backend):
    rng = np.random.default_rng(0)
    with minigen.use_backend(backend):
        y, ld = K.affine_coupling(*(np.zeros((0, 4)),) * 3)
        assert y.shape == (0, 4) and ld.shape == (0,)
        base = rng.standard_normal((6, 8))
        tall = rng.standard_normal((16, 6))
        x2, s, t = base.T, tall[::2], base.T[:, ::-1]  # non-contiguous views, (8, 6)
        y, ld = K.affine_coupling(x2, s, t)
        np.testing.assert_allclose(y, x2 * np.exp(s) + t, rtol=1e-12)
        np.testing.assert_allclose(ld, s.sum(1), rtol=1e-12)
        y, _ = K.affine_coupling(np.ones((2, 3), int), np.zeros((2, 3), int), np.ones((2, 3)))
        assert y.dtype == np.float64 and np.all(y == 2.0)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_inverse_of_forward_is_identity(backend):
    rng = np.random.default_rng(1)
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        x2, s, t = (rng.standard_normal((9, 3, 5)).astype(dtype) for _ in range(3))
        with minigen.use_backend(backend):
            y, ld = K.affine_coupling(x2, s, t)
            back, ld_inv = K.affine_coupling(y, s, t, inverse=True)
        np.testing.assert_allclose(back, x2, rtol=tol, atol=tol * 10)
        np.testing.assert_allclose(ld + ld_inv, 0.0, atol=1e-12)


def _num_jacobian(f, x, eps=1e-6):
    cols = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = eps
        cols.append((f(x + e) - f(x - e)).ravel() / (2 * eps))
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("inverse", [False, True])
def test_coupling_layer_logdet_is_slogdet_of_jacobian(backend, inverse):
    # A full RealNVP layer on R^5: x1 = x[:2] conditions s, t for x2 = x[2:].
    rng = np.random.default_rng(2)
    A, B = rng.standard_normal((2, 3, 2))

    def layer(x):
        x1, x2 = x[:2], x[2:]
        s, t = np.tanh(A @ x1), B @ x1
        y2, ld = K.affine_coupling(x2[None], s[None], t[None], inverse=inverse)
        return np.concatenate([x1, y2[0]]), ld[0]

    with minigen.use_backend(backend):
        for _ in range(5):
            x = rng.standard_normal(5)
            J = _num_jacobian(lambda z: layer(z)[0], x)
            sign, logabs = np.linalg.slogdet(J)
            assert sign != 0
            np.testing.assert_allclose(layer(x)[1], logabs, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("inverse", [False, True])
def test_affine_backward_matches_finite_differences(backend, inverse):
    rng = np.random.default_rng(3)
    x2, s, t, gy = (rng.standard_normal((3, 4)) for _ in range(4))
    gl = rng.standard_normal(3)

    def loss(x2, s, t):
        y, ld = K.affine_coupling(x2, s, t, inverse=inverse)
        return float((gy * y).sum() + (gl * ld).sum())

    with minigen.use_backend(backend):
        grads = K.affine_coupling_backward(x2, s, t, gy, gl, inverse=inverse)
        args = [x2, s, t]
        for k in range(3):
            for _ in range(3):
                v = rng.standard_normal(x2.shape)
                plus = [a + 1e-6 * v if i == k else a for i, a in enumerate(args)]
                minus = [a - 1e-6 * v if i == k else a for i, a in enumerate(args)]
                fd = (loss(*plus) - loss(*minus)) / 2e-6
                np.testing.assert_allclose((grads[k] * v).sum(), fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_additive_coupling(backend):
    rng = np.random.default_rng(4)
    x2, t, gy = (rng.standard_normal((4, 2, 3)) for _ in range(3))
    with minigen.use_backend(backend):
        y = K.additive_coupling(x2, t)
        np.testing.assert_array_equal(y, x2 + t)
        np.testing.assert_allclose(K.additive_coupling(y, t, inverse=True), x2, atol=1e-15)
        gx, gt = K.additive_coupling_backward(gy)
        np.testing.assert_array_equal(gx, gy)
        np.testing.assert_array_equal(gt, gy)
        np.testing.assert_array_equal(K.additive_coupling_backward(gy, inverse=True)[1], -gy)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 2, 5), (0, 2, 4), (3, 2, 0, 5), (2, 0), (1, 1)])
def test_actnorm_matches_reference_and_inverts(backend, dtype, shape):
    rng = np.random.default_rng(5)
    c = shape[1]
    x = rng.standard_normal(shape).astype(dtype)
    loc, ls = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    gy, gl = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape[0])
    spatial = int(np.prod(shape[2:]))
    x3 = x.reshape(shape[0], c, spatial)
    rtol = RTOL[dtype]
    with minigen.use_backend(backend):
        for inverse in (False, True):
            y, ld = K.actnorm(x, loc, ls, inverse=inverse)
            y_ref, ld_ref = R.actnorm(x3, loc, ls, inverse=inverse)
            np.testing.assert_allclose(y, y_ref.reshape(shape), rtol=rtol, atol=rtol * 10)
            sign = -1 if inverse else 1
            expect = sign * spatial * ls.astype(np.float64).sum()
            np.testing.assert_allclose(ld, np.full(shape[0], expect), rtol=1e-12)
            g = K.actnorm_backward(x, loc, ls, gy, gl, inverse=inverse)
            g_ref = R.actnorm_backward(x3, loc, ls, gy.reshape(x3.shape), gl, inverse=inverse)
            for gi, gr in zip(g, g_ref, strict=True):
                np.testing.assert_allclose(gi.reshape(gr.shape), gr, rtol=rtol * 10, atol=rtol * 10)
        y, _ = K.actnorm(x, loc, ls)
        back, _ = K.actnorm(y, loc, ls, inverse=True)
        np.testing.assert_allclose(back, x, rtol=rtol * 10, atol=rtol * 10)


@pytest.mark.parametrize("inverse", [False, True])
def test_actnorm_logdet_and_backward_vs_numerics(inverse):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 2, 3))
    loc, ls = rng.standard_normal(2), rng.standard_normal(2)
    J = _num_jacobian(lambda z: K.actnorm(z, loc, ls, inverse=inverse)[0], x)
    np.testing.assert_allclose(
        K.actnorm(x, loc, ls, inverse=inverse)[1][0], np.linalg.slogdet(J)[1], rtol=1e-8
    )
    gy, gl = rng.standard_normal(x.shape), rng.standard_normal(1)

    def loss(loc, ls):
        y, ld = K.actnorm(x, loc, ls, inverse=inverse)
        return float((gy * y).sum() + (gl * ld).sum())

    _, gloc, gls = K.actnorm_backward(x, loc, ls, gy, gl, inverse=inverse)
    for k, g in ((0, gloc), (1, gls)):
        for i in range(2):
            e = np.zeros(2)
            e[i] = 1e-6
            args_p = [loc + e, ls] if k == 0 else [loc, ls + e]
            args_m = [loc - e, ls] if k == 0 else [loc, ls - e]
            fd = (loss(*args_p) - loss(*args_m)) / 2e-6
            np.testing.assert_allclose(g[i], fd, rtol=1e-6, atol=1e-8)


def test_invconv_logdet_and_1x1_conv():
    rng = np.random.default_rng(9)
    W = rng.standard_normal((3, 3))
    expect = np.linalg.slogdet(W)[1]
    np.testing.assert_allclose(K.invconv_logdet(W), expect, rtol=1e-12)
    # From LU factors: W = P L U, log|det W| = sum log|diag U|.
    import scipy.linalg

    _, _, U = scipy.linalg.lu(W)
    np.testing.assert_allclose(K.invconv_logdet(u_diag=np.diag(U)), expect, rtol=1e-12)
    x = rng.standard_normal((2, 3, 2, 2))
    y, ld = K.invconv1x1(x, W)
    np.testing.assert_allclose(y, np.einsum("oc,nchw->nohw", W, x), rtol=1e-12)
    J = _num_jacobian(lambda z: K.invconv1x1(z, W)[0], x[:1])
    np.testing.assert_allclose(ld, [np.linalg.slogdet(J)[1]] * 2, rtol=1e-8)
    back, ld_inv = K.invconv1x1(y, W, inverse=True)
    np.testing.assert_allclose(back, x, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ld_inv, -ld, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vectorized_exp_accuracy(dtype):
    from minigen.kernels.cpu._vexp import vexp_array

    lo, hi = (-110.0, 95.0) if dtype is np.float32 else (-760.0, 715.0)
    x = np.concatenate([np.linspace(lo, hi, 200_001), [0.0, 1e30, -1e30]]).astype(dtype)
    with np.errstate(over="ignore"):
        ref = np.exp(x)
    got = vexp_array(x)
    normal = np.isfinite(ref) & (ref >= np.finfo(dtype).tiny)
    rel = np.abs(got[normal] - ref[normal]) / ref[normal]
    assert rel.max() <= 4 * np.finfo(dtype).eps
    assert np.array_equal(np.isinf(got), np.isinf(ref))
    sub = ~normal & np.isfinite(ref)
    assert np.all(np.abs(got[sub] - ref[sub]) <= 4 * np.finfo(dtype).smallest_subnormal)


def test_bad_input_errors_name_the_argument():
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match="^s must have the same shape as x2"):
        K.affine_coupling(x, np.zeros((3, 5)), x)
    with pytest.raises(ValueError, match="^t contains NaN"):
        K.affine_coupling(x, x, np.full((3, 4), np.nan))
    with pytest.raises(ValueError, match="^s contains NaN or infinite"):
        K.affine_coupling(x, np.full((3, 4), np.inf), x)
    with pytest.raises(TypeError, match="^x2 must be a real numeric array"):
        K.affine_coupling(x.astype(complex), x, x)
    with pytest.raises(TypeError, match="^t could not be converted|^t must be a"):
        K.affine_coupling(x, x, np.array([["a"] * 4] * 3))
    with pytest.raises(TypeError, match="^inverse must be a bool"):
        K.affine_coupling(x, x, x, inverse="yes")
    with pytest.raises(ValueError, match="^x2 must have at least 1 dimension"):
        K.affine_coupling(1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="^glogdet must have shape"):
        K.affine_coupling_backward(x, x, x, x, np.zeros(4))
    with pytest.raises(ValueError, match="^gy must have the same shape"):
        K.affine_coupling_backward(x, x, x, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="^t must have the same shape as x2"):
        K.additive_coupling(x, np.zeros(4))
    with pytest.raises(ValueError, match="^loc must have shape"):
        K.actnorm(x, np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="^x must have"):
        K.actnorm(np.zeros(4), np.zeros(4), np.zeros(4))
    with pytest.raises(ValueError, match="^W must be square"):
        K.invconv_logdet(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="exactly one of W or u_diag"):
        K.invconv_logdet()
    with pytest.raises(ValueError, match="^W must have shape"):
        K.invconv1x1(np.zeros((1, 3, 2, 2)), np.eye(2))


# ------------------------------------------------------------------ CUDA parity (gpu marker)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cupy_affine_matches_reference(dtype):
    cupy = pytest.importorskip("cupy")
    rng = np.random.default_rng(11)
    for _ in range(200):
        x2, s, t, gy, gl = _random_case(rng, dtype)
        rtol = RTOL[dtype]
        with minigen.use_backend("cupy"):
            for inverse in (False, True):
                y, ld = K.affine_coupling(*map(cupy.asarray, (x2, s, t)), inverse=inverse)
                y_ref, ld_ref = R.affine_coupling(*(_rows(a) for a in (x2, s, t)), inverse=inverse)
                e = np.exp((-1 if inverse else 1) * s.astype(np.float64))
                ax, at = np.abs(x2), np.abs(t)
                scale = (ax + at) * e if inverse else ax * e + at
                _close(y.get(), y_ref.reshape(x2.shape), scale + 1e-30, rtol)
                _close(ld.get(), ld_ref, _rows(np.abs(s)).sum(1), 1e-12)
                g = K.affine_coupling_backward(
                    *map(cupy.asarray, (x2, s, t, gy, gl)), inverse=inverse
                )
                g_ref = R.affine_coupling_backward(
                    *(_rows(a) for a in (x2, s, t, gy)), gl, inverse=inverse
                )
                for gi, gr in zip(g, g_ref, strict=True):
                    np.testing.assert_allclose(
                        gi.get(), gr.reshape(x2.shape), rtol=rtol * 10, atol=rtol * 10 * 50
                    )


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cupy_actnorm_matches_reference(dtype):
    cupy = pytest.importorskip("cupy")
    rng = np.random.default_rng(12)
    x = rng.standard_normal((6, 3, 4, 5)).astype(dtype)
    loc, ls = rng.standard_normal(3).astype(dtype), rng.standard_normal(3).astype(dtype)
    with minigen.use_backend("cupy"):
        for inverse in (False, True):
            y, ld = K.actnorm(cupy.asarray(x), cupy.asarray(loc), cupy.asarray(ls), inverse)
            y_ref, ld_ref = R.actnorm(x.reshape(6, 3, 20), loc, ls, inverse)
            np.testing.assert_allclose(
                y.get(), y_ref.reshape(x.shape), rtol=RTOL[dtype] * 10, atol=RTOL[dtype] * 10
            )
            np.testing.assert_allclose(ld.get(), ld_ref, rtol=1e-12)


def test_actnorm_plain_path_takes_only_the_common_call():
    """The few-attribute path of the ActNorm wrapper: C-contiguous host arrays of one float
    dtype; anything else (strided, mixed or integer dtypes, lists, a wrong loc) goes
    through the full checks."""
    from minigen.kernels.coupling import _plain_actnorm_args

    x = np.zeros((2, 3, 4, 5), np.float32)
    loc = np.zeros(3, np.float32)
    x3, _, _ = _plain_actnorm_args(x, loc, loc)
    assert x3.shape == (2, 3, 20) and np.shares_memory(x3, x)
    for args in ((x[:, :, ::2], loc, loc), (x, loc.astype(np.float64), loc),
                 (x.astype(np.int32), loc, loc), (x.tolist(), loc, loc),
                 (x, np.zeros(4, np.float32), loc), (x, loc, np.zeros(6, np.float32)[::2]),
                 (x.astype(np.float16), loc.astype(np.float16), loc.astype(np.float16))):
        assert _plain_actnorm_args(*args) is None
    with pytest.raises(ValueError, match="loc"):
        K.actnorm(x, np.zeros(4, np.float32), loc)
