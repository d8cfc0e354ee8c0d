"""Langevin kernels: backend parity, Philox variant, Gaussian statistics, bad input."""

import numpy as np
import pytest

from minigen.backend import backend_info, use_backend
from minigen.kernels import (
    langevin_run_gmm,
    langevin_run_quadratic,
    langevin_step,
    mala_step,
    preconditioned_langevin_step,
)
from minigen.kernels.reference.philox import philox_normals, philox_uniforms

AVAILABLE = [r["name"] for r in backend_info() if r["available"]]
OTHERS = [b for b in ("numba",) if b in AVAILABLE]
TOL = {np.float32: 1e-5, np.float64: 1e-12}


def _close(a, b, dt, scale=1.0):
    np.testing.assert_allclose(a, b, rtol=TOL[dt] * scale, atol=TOL[dt] * scale)


def _all_kernels(x, g, z, rng, dt, explicit, xa=lambda a: a):
    """Every kernel on one input set; returns a list of outputs (``xa`` moves arrays)."""
    N, D = x.shape
    kw = (lambda a: {"noise": xa(a)}) if explicit else (lambda a: {"seed": 5, "offset": 3})
    m = (rng.random(D) + 0.5).astype(dt)
    L = np.tril(rng.normal(size=(D, D)) * 0.3).astype(dt)
    np.fill_diagonal(L, 1.0)
    y = x + 0.3 * z
    e_x, e_y = (x**2).sum(1) / 2, (y**2).sum(1) / 2
    ukw = {"uniforms": xa(rng.random(N).astype(dt))} if explicit else {"seed": 8, "offset": 1}
    w, mu, s = np.array([0.2, 0.5, 0.3]), rng.normal(size=(3, D)) * 2, np.array([0.5, 1, 0.7])
    A = rng.normal(size=(D, D))
    A = A @ A.T / D + np.eye(D)
    T = 4
    zz = rng.normal(size=(T, N, D)).astype(dt)
    m, L, w, mu, s, A = (xa(a) for a in (m, L, w, mu, s, A))
    out = [
        langevin_step(x, g, 0.1, **kw(z)),
        preconditioned_langevin_step(x, g, 0.1, precond_diag=m, **kw(z)),
        preconditioned_langevin_step(x, g, 0.1, precond_chol=L, **kw(z)),
        *mala_step(x, y, g, y, e_x, e_y, 0.09, **ukw),
        langevin_run_gmm(x, T, 0.05, w, mu, s, **kw(zz)),
        langevin_run_quadratic(x, T, 0.05, A, xa(np.ones(D)), **kw(zz)),
    ]
    return out


@pytest.mark.parametrize("backend", OTHERS)
@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("N,D", [(20, 3), (1, 1), (0, 2), (7, 5)])
@pytest.mark.parametrize("explicit", [True, False])
def test_parity(backend, dt, N, D, explicit):
    seed = N * 10 + D + explicit
    mk = lambda: np.random.default_rng(seed)  # noqa: E731
    r0 = mk()
    x, g, z = (r0.normal(size=(N, D)).astype(dt) for _ in range(3))
    with use_backend("numpy"):
        ref = _all_kernels(x, g, z, mk(), dt, explicit)
    with use_backend(backend):
        out = _all_kernels(x, g, z, mk(), dt, explicit)
    for i, (a, b) in enumerate(zip(ref, out, strict=True)):
        if a.dtype == bool:
            np.testing.assert_array_equal(a, b, err_msg=str(i))
        else:
            assert a.dtype == dt and a.shape == b.shape, i
            _close(a, b, dt, 10 if i >= 8 else 1)  # runners: a few steps of rounding


@use_backend("numpy")
def test_philox_variant_is_explicit_on_stream():
    rng = np.random.default_rng(1)
    x, g = rng.normal(size=(2, 6, 4))
    z = philox_normals(x.shape, 9, 100, np.float64)
    np.testing.assert_array_equal(langevin_step(x, g, 0.2, seed=9, offset=100),
                                  langevin_step(x, g, 0.2, noise=z))
    u = philox_uniforms((6,), 9, 100, np.float64)
    a = mala_step(x, x + 0.1, g, g, x.sum(1), x.sum(1) + 0.1, 0.2, seed=9, offset=100)
    b = mala_step(x, x + 0.1, g, g, x.sum(1), x.sum(1) + 0.1, 0.2, uniforms=u)
    np.testing.assert_array_equal(a.accepted, b.accepted)


@pytest.mark.parametrize("backend", ["numpy"] + OTHERS)
def test_in_place_and_out(backend):
    rng = np.random.default_rng(3)
    x, g, z = (rng.normal(size=(5, 3)).astype(np.float32) for _ in range(3))
    with use_backend(backend):
        want = langevin_step(x, g, 0.1, noise=z)
        out = np.empty_like(x)
        assert langevin_step(x, g, 0.1, noise=z, out=out) is out
        xi = x.copy()
        assert langevin_step(xi, g, 0.1, noise=z, out=xi) is xi
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(xi, want)
    np.testing.assert_allclose(want, x - 0.05 * g + np.sqrt(0.1) * z, rtol=1e-6)


@pytest.mark.parametrize("backend", ["numpy"] + OTHERS)
def test_ula_gaussian_moments(backend):
    # ULA on E = (x - mu)^2 / (2 s^2) with step eps has the exact stationary law
    # N(mu, s^2 / (1 - eps / (4 s^2))); 20000 chains x 300 steps from x = 0.
    mu, s2, eps, N, T = 1.5, 0.8, 0.05, 20000, 300
    A = np.array([[1 / s2]])
    with use_backend(backend):
        x = langevin_run_quadratic(np.zeros((N, 1)), T, eps, A, np.array([mu]), seed=4)
    var = s2 / (1 - eps / (4 * s2))
    k = 5
    assert abs(x.mean() - mu) < k * np.sqrt(var / N)
    assert abs(x.var() - var) < k * var * np.sqrt(2 / (N - 1))


@pytest.mark.parametrize("backend", ["numpy"] + OTHERS)
def test_gmm_runner_matches_stepwise_ula(backend):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(50, 2))
    w, mu, s = np.array([1.0, 3.0]), np.array([[-2.0, 0], [2, 1]]), np.array([0.5, 1.0])
    z = rng.normal(size=(3, 50, 2))
    from minigen.kernels.reference.langevin import gmm_grad

    want = x.copy()
    for t in range(3):
        want = want - 0.01 * gmm_grad(want, w / w.sum(), mu, s) + np.sqrt(0.02) * z[t]
    with use_backend(backend):
        got = langevin_run_gmm(x, 3, 0.02, w, mu, s, noise=z)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    # gradient check of the mixture energy by central differences
    E = lambda y: -np.log(sum(w[k] / w.sum() * np.exp(-((y - mu[k]) ** 2).sum(1)  # noqa: E731
                                                       / (2 * s[k] ** 2)) / s[k] ** 2
                              for k in range(2)))
    h = 1e-6
    fd = np.stack([(E(x + h * e) - E(x - h * e)) / (2 * h) for e in np.eye(2)], 1)
    np.testing.assert_allclose(gmm_grad(x, w / w.sum(), mu, s), fd, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("backend", OTHERS)
@pytest.mark.parametrize("dt,L", [(np.float32, 14.0), (np.float64, 40.0)])
def test_gmm_runner_with_vanishing_responsibilities(backend, dt, L):
    # Two unit-variance components L apart; a chain at distance a from the first has
    # log-responsibility ratio -(L^2 - 2aL)/2 for the far one, here swept from -L^2/2
    # to 0: through the subnormal range of exp (float32: -87..-104, float64: -708..-745)
    # and the band the Numba runner flushes to zero. The result must not move.
    from minigen.kernels.reference.langevin import langevin_run_gmm as reference

    rng = np.random.default_rng(6)
    N = 400
    x = np.stack([np.linspace(0, L / 2, N), 0.1 * rng.normal(size=N)], 1).astype(dt)
    w, s = np.array([0.5, 0.5], dt), np.ones(2, dt)
    mu = np.array([[0.0, 0.0], [L, 0.0]], dt)
    z = rng.normal(size=(3, N, 2)).astype(dt)
    want = reference(x, 3, 0.01, w, mu, s, z)
    with use_backend(backend):
        got = langevin_run_gmm(x, 3, 0.01, w, mu, s, noise=z)
    np.testing.assert_allclose(got, want, rtol=TOL[dt], atol=TOL[dt])


def test_mala_rejects_inf_energy_and_accepts_downhill():
    x = np.zeros((3, 2))
    r = mala_step(x, x + 1, x, x, np.zeros(3), np.array([np.inf, -50.0, 1.0]), 1.0,
                  uniforms=np.full(3, 0.5))
    np.testing.assert_array_equal(r.accepted, [False, True, False])
    np.testing.assert_array_equal(r.x[1], [1, 1])
    np.testing.assert_array_equal(r.x[0], [0, 0])


def test_bad_input():
    x = np.zeros((4, 2))
    g = np.ones((4, 2))
    with pytest.raises(ValueError, match="grad contains NaN"):
        langevin_step(x, g * np.nan, 0.1, seed=0)
    with pytest.raises(ValueError, match="grad must have shape"):
        langevin_step(x, g[:3], 0.1, seed=0)
    with pytest.raises(ValueError, match="step must be > 0"):
        langevin_step(x, g, 0.0, seed=0)
    with pytest.raises(ValueError, match="noise must have shape"):
        langevin_step(x, g, 0.1, noise=np.zeros(3))
    with pytest.raises(ValueError, match="either noise or seed"):
        langevin_step(x, g, 0.1, noise=g, seed=1)
    with pytest.raises(ValueError, match="out must have shape"):
        langevin_step(x, g, 0.1, seed=1, out=np.empty((4, 3)))
    with pytest.raises(ValueError, match="exactly one of precond_diag"):
        preconditioned_langevin_step(x, g, 0.1, seed=0)
    with pytest.raises(ValueError, match="precond_diag must be positive"):
        preconditioned_langevin_step(x, g, 0.1, precond_diag=np.array([1.0, -1]), seed=0)
    with pytest.raises(ValueError, match="lower-triangular"):
        preconditioned_langevin_step(x, g, 0.1, precond_chol=np.ones((2, 2)), seed=0)
    with pytest.raises(ValueError, match="energy_prop must have shape"):
        mala_step(x, x, g, g, np.zeros(4), np.zeros(3), 0.1, seed=0)
    with pytest.raises(ValueError, match="uniforms must lie"):
        mala_step(x, x, g, g, np.zeros(4), np.zeros(4), 0.1, uniforms=np.ones(4))
    with pytest.raises(ValueError, match="scales must be positive"):
        langevin_run_gmm(x, 2, 0.1, np.ones(2), np.zeros((2, 2)), np.zeros(2), seed=0)
    with pytest.raises(ValueError, match="means must have shape"):
        langevin_run_gmm(x, 2, 0.1, np.ones(2), np.zeros((2, 3)), np.ones(2), seed=0)
    with pytest.raises(ValueError, match="A must be symmetric"):
        langevin_run_quadratic(x, 2, 0.1, np.array([[1.0, 2], [0, 1]]), np.zeros(2), seed=0)
    with pytest.raises(ValueError, match="noise must have shape"):
        langevin_run_quadratic(x, 2, 0.1, np.eye(2), np.zeros(2), noise=np.zeros((1, 4, 2)))


@pytest.mark.gpu
def test_gpu_parity():
    import cupy as cp

    for dt in (np.float32, np.float64):
        for explicit in (True, False):
            rng = np.random.default_rng(1)
            x, g, z = (rng.normal(size=(33, 3)).astype(dt) for _ in range(3))
            with use_backend("numpy"):
                ref = _all_kernels(x, g, z, np.random.default_rng(2), dt, explicit)
            with use_backend("cupy"):
                out = _all_kernels(cp.asarray(x), cp.asarray(g), cp.asarray(z),
                                   np.random.default_rng(2), dt, explicit, cp.asarray)
            for i, (a, b) in enumerate(zip(ref, out, strict=True)):
                b = cp.asnumpy(b)
                if a.dtype == bool:
                    np.testing.assert_array_equal(a, b)
                else:
                    _close(a, b, dt, 10 if i >= 8 else 1)


def test_vectorized_philox_normals_match_stream():
    pytest.importorskip("numba")
    from minigen.kernels.cpu._vnormal import _fill

    n = 200_000
    for dt in (np.float32, np.float64):
        got = np.empty(n)
        _fill(got, np.uint64(123), 2**33 + 5, dt == np.float32)
        want = philox_normals((n,), 123, 2**33 + 5, dt)
        if dt == np.float32:  # float64 Box-Muller rounded to float32: at most 1 ulp apart
            d = np.abs(got.astype(np.float32).view(np.int32) - want.view(np.int32))
            assert d.max() <= 1
        else:
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)
