"""Gibbs kernels: backend parity, Philox variant, exact-distribution convergence, bad input."""

import itertools

import numpy as np
import pytest

from minigen.backend import backend_info, use_backend
from minigen.kernels import bm_gibbs_sweep, rbm_gibbs
from minigen.kernels.reference.gibbs import packed_uniforms
from minigen.kernels.reference.philox import philox_uniforms

AVAILABLE = [r["name"] for r in backend_info() if r["available"]]
OTHERS = [b for b in ("numba",) if b in AVAILABLE]
TOL = {np.float32: 1e-5, np.float64: 1e-12}


def _rbm(rng, B, V, H, dt, scale=1.0):
    W = (rng.normal(size=(V, H)) * scale).astype(dt)
    b = rng.normal(size=V).astype(dt)
    c = rng.normal(size=H).astype(dt)
    v = (rng.random((B, V)) < 0.5).astype(dt)
    return v, W, b, c


def _check_same(ref, out, dt):
    for f in ref._fields:
        a, b = getattr(ref, f), getattr(out, f)
        if a is None:
            assert b is None
        elif f in ("v", "h", "h0"):
            np.testing.assert_array_equal(a, b, err_msg=f)
        else:
            np.testing.assert_allclose(a, b, rtol=TOL[dt], atol=TOL[dt], err_msg=f)


CASES = [(5, 7, 3, 1), (1, 4, 6, 3), (0, 5, 2, 2), (8, 1, 1, 2), (16, 20, 9, 4)]


@pytest.mark.parametrize("backend", OTHERS)
@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("B,V,H,k", CASES)
def test_rbm_gibbs_parity_explicit_and_philox(backend, dt, B, V, H, k):
    rng = np.random.default_rng(B * 100 + V * 10 + H + k)
    v, W, b, c = _rbm(rng, B, V, H, dt)
    u = rng.random((k, B, H + V)).astype(dt)
    with use_backend("numpy"):
        ref = rbm_gibbs(v, W, b, c, k, uniforms=u)
        ref_p = rbm_gibbs(v, W, b, c, k, seed=11, offset=7)
        ref_p2 = rbm_gibbs(v, W, b, c, k, uniforms=packed_uniforms(u.shape, 11, 7, dt))
    _check_same(ref_p, ref_p2, dt)  # the Philox variant is the explicit one on the stream
    with use_backend(backend):
        _check_same(ref, rbm_gibbs(v, W, b, c, k, uniforms=u), dt)
        _check_same(ref_p, rbm_gibbs(v, W, b, c, k, seed=11, offset=7), dt)
        r = rbm_gibbs(v, W, b, c, k, seed=11, offset=7, compute_ph=False)
    assert r.ph is None
    assert ref.v.dtype == dt and ref.v.shape == (B, V) and ref.ph.shape == (B, H)


def test_rbm_gibbs_conditionals_match_definition(rng):
    v, W, b, c = _rbm(rng, 3, 5, 4, np.float64)
    r = rbm_gibbs(v, W, b, c, 1, seed=3)
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    np.testing.assert_allclose(r.ph0, sig(v @ W + c), rtol=1e-12)
    np.testing.assert_allclose(r.pv, sig(r.h0 @ W.T + b), rtol=1e-12)
    np.testing.assert_allclose(r.ph, sig(r.v @ W + c), rtol=1e-12)


def test_rbm_gibbs_bernoulli_frequencies(rng):
    # p(h_j = 1 | v) estimated over many identical rows: within 5 standard errors.
    v, W, b, c = _rbm(rng, 1, 6, 3, np.float64)
    n = 20000
    r = rbm_gibbs(np.repeat(v, n, 0), W, b, c, 1, seed=5)
    p = r.ph0[0]
    se = np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(r.h0.mean(0) - p) < 5 * se + 1e-12)


def test_rbm_gibbs_bad_input(rng):
    v, W, b, c = _rbm(rng, 2, 4, 3, np.float64)
    with pytest.raises(ValueError, match="v must have shape"):
        rbm_gibbs(v[:, :3], W, b, c, 1, seed=0)
    with pytest.raises(ValueError, match="b must have shape"):
        rbm_gibbs(v, W, c, c, 1, seed=0)
    with pytest.raises(ValueError, match="k must be > 0"):
        rbm_gibbs(v, W, b, c, 0, seed=0)
    with pytest.raises(ValueError, match="uniforms must have shape"):
        rbm_gibbs(v, W, b, c, 1, uniforms=rng.random((1, 2, 6)))
    with pytest.raises(ValueError, match="uniforms must lie"):
        rbm_gibbs(v, W, b, c, 1, uniforms=np.ones((1, 2, 7)))
    with pytest.raises(ValueError, match="either uniforms or seed"):
        rbm_gibbs(v, W, b, c, 1, uniforms=rng.random((1, 2, 7)), seed=1)
    with pytest.raises(ValueError, match="v must lie"):
        rbm_gibbs(v + 2, W, b, c, 1, seed=0)
    with pytest.raises(ValueError, match="W contains NaN"):
        rbm_gibbs(v, W * np.nan, b, c, 1, seed=0)


def _bm(rng, n, dt, scale=0.8):
    J = rng.normal(size=(n, n)) * scale
    J = ((J + J.T) / 2).astype(dt)
    np.fill_diagonal(J, 0)
    return J, (rng.normal(size=n) * 0.5).astype(dt)


@pytest.mark.parametrize("backend", OTHERS)
@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("chains,n,sweeps", [(7, 6, 3), (1, 1, 2), (0, 4, 1), (5, 9, 0)])
def test_bm_gibbs_parity(backend, dt, chains, n, sweeps):
    rng = np.random.default_rng(chains * 31 + n * 7 + sweeps)
    J, h = _bm(rng, n, dt)
    x = (rng.random((chains, n)) < 0.5).astype(np.int8)
    u = rng.random((sweeps, chains, n)).astype(dt)
    order = rng.permutation(n)
    with use_backend("numpy"):
        ref = bm_gibbs_sweep(x, J, h, n_sweeps=sweeps, uniforms=u, order=order)
        ref_p = bm_gibbs_sweep(x, J, h, n_sweeps=sweeps, order=order, seed=3, offset=2)
        np.testing.assert_array_equal(ref_p, bm_gibbs_sweep(
            x, J, h, n_sweeps=sweeps, order=order,
            uniforms=philox_uniforms(u.shape, 3, 2, dt)))
    with use_backend(backend):
        np.testing.assert_array_equal(
            ref, bm_gibbs_sweep(x, J, h, n_sweeps=sweeps, uniforms=u, order=order))
        np.testing.assert_array_equal(
            ref_p, bm_gibbs_sweep(x, J, h, n_sweeps=sweeps, order=order, seed=3, offset=2))
    assert ref.shape == (chains, n) and ref.dtype == dt


@pytest.mark.parametrize("backend", ["numpy"] + OTHERS)
def test_bm_gibbs_converges_to_exact_distribution(backend):
    # 6-unit BM: 2000 chains x 40 sweeps (burn-in 10, keep every 3rd) against enumeration.
    rng = np.random.default_rng(2024)
    n = 6
    J, h = _bm(rng, n, np.float64)
    states = np.array(list(itertools.product([0, 1], repeat=n)), dtype=np.float64)
    logp = 0.5 * np.einsum("si,ij,sj->s", states, J, states) + states @ h
    p = np.exp(logp - logp.max())
    p /= p.sum()
    chains = 2000
    x = np.zeros((chains, n))
    counts = np.zeros(2**n)
    weights = 2 ** np.arange(n - 1, -1, -1)
    with use_backend(backend):
        x = bm_gibbs_sweep(x, J, h, n_sweeps=10, seed=1)
        off = 10 * chains * n
        for _ in range(10):
            x = bm_gibbs_sweep(x, J, h, n_sweeps=3, seed=1, offset=off)
            off += 3 * chains * n
            counts += np.bincount((x @ weights).astype(int), minlength=2**n)
    q = counts / counts.sum()
    tv = 0.5 * np.abs(p - q).sum()
    # E[TV] <= 0.5 * sum sqrt(p(1-p)/m) for m independent draws. 20000 draws; kept sweeps
    # of one chain are 3 sweeps apart (mildly correlated): m = 20000 / 2, and a factor 2
    # margin (the observed TV is ~0.02, the bound ~0.07, a wrong J gives > 0.1).
    m = counts.sum() / 2
    bound = 2 * 0.5 * np.sqrt(p * (1 - p) / m).sum()
    assert tv < bound, (tv, bound)


def test_bm_gibbs_bad_input(rng):
    J, h = _bm(rng, 4, np.float64)
    x = np.zeros((3, 4))
    A = J.copy()
    A[0, 1] += 0.5
    with pytest.raises(ValueError, match="J must be symmetric"):
        bm_gibbs_sweep(x, A, h, seed=0)
    D = J.copy()
    D[2, 2] = 1.0
    with pytest.raises(ValueError, match="zero diagonal"):
        bm_gibbs_sweep(x, D, h, seed=0)
    with pytest.raises(ValueError, match="state must be binary"):
        bm_gibbs_sweep(x + 0.5, J, h, seed=0)
    with pytest.raises(ValueError, match="state must have shape"):
        bm_gibbs_sweep(np.zeros((3, 5)), J, h, seed=0)
    with pytest.raises(ValueError, match="h must have shape"):
        bm_gibbs_sweep(x, J, h[:3], seed=0)
    with pytest.raises(ValueError, match="order must be a permutation"):
        bm_gibbs_sweep(x, J, h, order=[0, 0, 1, 2], seed=0)
    with pytest.raises(ValueError, match="uniforms must have shape"):
        bm_gibbs_sweep(x, J, h, uniforms=np.zeros((1, 3, 3)))
    with pytest.raises(ValueError, match="J must be square"):
        bm_gibbs_sweep(x, J[:3], h, seed=0)


@pytest.mark.gpu
@pytest.mark.parametrize("mode", ["fused", "cublas", "cupy"])
def test_gpu_parity(mode, monkeypatch):
    import cupy as cp

    from minigen.kernels.gpu import gibbs as gpu_gibbs

    monkeypatch.setattr(gpu_gibbs, "FUSED_PRODUCTS", mode == "fused")
    monkeypatch.setattr(gpu_gibbs, "USE_DIRECT_CUBLAS", mode == "cublas")

    rng = np.random.default_rng(7)
    for dt in (np.float32, np.float64):
        v, W, b, c = _rbm(rng, 9, 13, 5, dt)
        u = rng.random((2, 9, 18)).astype(dt)
        with use_backend("numpy"):
            ref = rbm_gibbs(v, W, b, c, 2, uniforms=u)
            ref_p = rbm_gibbs(v, W, b, c, 2, seed=4, offset=1)
        with use_backend("cupy"):
            args = [cp.asarray(a) for a in (v, W, b, c)]
            out = rbm_gibbs(*args, 2, uniforms=cp.asarray(u))
            out_p = rbm_gibbs(*args, 2, seed=4, offset=1)
        _check_same(ref, type(ref)(*[cp.asnumpy(a) for a in out]), dt)
        _check_same(ref_p, type(ref)(*[cp.asnumpy(a) for a in out_p]), dt)
        J, h = _bm(rng, 7, dt)
        x = (rng.random((11, 7)) < 0.5).astype(dt)
        u = rng.random((3, 11, 7)).astype(dt)
        with use_backend("numpy"):
            ref = bm_gibbs_sweep(x, J, h, n_sweeps=3, uniforms=u)
            ref_p = bm_gibbs_sweep(x, J, h, n_sweeps=3, seed=2)
        with use_backend("cupy"):
            a = [cp.asarray(t) for t in (x, J, h)]
            np.testing.assert_array_equal(ref, cp.asnumpy(
                bm_gibbs_sweep(*a, n_sweeps=3, uniforms=cp.asarray(u))))
            np.testing.assert_array_equal(ref_p, cp.asnumpy(bm_gibbs_sweep(*a, n_sweeps=3, seed=2)))


@pytest.mark.gpu
@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("B,V,H", [(1000, 784, 500), (65, 130, 67), (1, 1, 1), (3, 17, 64)])
def test_gpu_fused_products_at_tile_edges(dt, B, V, H):
    """The fused product + sigmoid + Bernoulli kernel against the reference at sizes that
    are and are not multiples of its 64 x 64 x 16 tiles. The product's summation order
    differs from NumPy's, so p agrees to a tolerance and a sample may differ only where
    its uniform is that close to p."""
    import cupy as cp

    rng = np.random.default_rng(B + V + H)
    v, W, b, c = _rbm(rng, B, V, H, dt, scale=0.1)
    u = rng.random((2, B, H + V)).astype(dt)
    with use_backend("numpy"):
        ref = rbm_gibbs(v, W, b, c, 2, uniforms=u)
    with use_backend("cupy"):
        out = rbm_gibbs(*(cp.asarray(a) for a in (v, W, b, c)), 2, uniforms=cp.asarray(u))
    out = type(ref)(*[cp.asnumpy(a) for a in out])
    tol = 1e-5 if dt == np.float32 else 1e-12
    np.testing.assert_allclose(out.ph0, ref.ph0, rtol=tol, atol=tol)
    close = np.abs(u[0, :, :H] - ref.ph0) < 10 * tol
    assert np.array_equal(out.h0[~close], ref.h0[~close])
    if B * (V + H) < 10_000 and not close.any():  # then the whole chain must agree
        _check_same(ref, out, dt)


@pytest.mark.gpu
@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(37, 19, 23), (1000, 784, 500), (0, 5, 3), (4, 0, 3)])
def test_gpu_direct_cublas_products(dt, shape):
    """The row-major -> column-major operand swap of the direct cuBLAS calls."""
    import cupy as cp

    from minigen.kernels.gpu.gibbs import _matmul

    m, k, n = shape
    rng = np.random.default_rng(3)
    a, w, wt = (rng.standard_normal(s).astype(dt) for s in ((m, k), (k, n), (n, k)))
    tol = dict(rtol=1e-4, atol=1e-4) if dt == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cp.asnumpy(_matmul(cp.asarray(a), cp.asarray(w))), a @ w, **tol)
    np.testing.assert_allclose(
        cp.asnumpy(_matmul(cp.asarray(a), cp.asarray(wt), transpose_w=True)), a @ wt.T, **tol)


def test_min_max_one_pass_validation_helper():
    """``min_max``: per-array min and max as host floats; empty arrays give 0, a NaN gives
    NaN (so every range check fails on it), bool and int arrays work."""
    from minigen.kernels.gibbs import min_max

    lo, hi = min_max((np.array([3.0, -1.0]), np.zeros((0, 4)), np.array([1.0, np.nan]),
                      np.array([True, False]), np.arange(5)))
    np.testing.assert_array_equal(lo[[0, 1, 3, 4]], [-1.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(hi[[0, 1, 3, 4]], [3.0, 0.0, 1.0, 4.0])
    assert np.isnan(lo[2]) and np.isnan(hi[2])


def test_rbm_gibbs_bad_bias_and_uniform_values(rng):
    v, W, b, c = _rbm(rng, 2, 4, 3, np.float32)
    with pytest.raises(ValueError, match="b contains NaN"):
        rbm_gibbs(v, W, b * np.nan, c, 1, seed=0)
    with pytest.raises(ValueError, match="c contains NaN"):
        rbm_gibbs(v, W, b, c * np.inf, 1, seed=0)
    u = rng.random((1, 2, 7))
    u[0, 1, 3] = np.nan
    with pytest.raises(ValueError, match="uniforms must lie"):
        rbm_gibbs(v, W, b, c, 1, uniforms=u)
