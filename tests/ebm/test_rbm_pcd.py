"""The RBM's ``dtype`` and its PCD step (persistent hidden probabilities, 2k + 1 products
with ``W`` per batch)."""

import tracemalloc

import numpy as np
import pytest

from minigen.backend import use_backend
from minigen.models.ebm import BernoulliRBM, GaussianBernoulliRBM


def _binary(n, V, seed=0, p=0.4):
    return (np.random.default_rng(seed).random((n, V)) < p).astype(np.float64)


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


BACKENDS = ["numpy", "numba"]


def _backend(name):
    if name == "numba":
        pytest.importorskip("numba")
    return use_backend(name)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cls", [BernoulliRBM, GaussianBernoulliRBM])
def test_float32_is_kept_through_fit_partial_fit_and_save_load(backend, cls, tmp_path):
    X = _binary(50, 10, seed=3)
    with _backend(backend):
        m = cls(n_components=4, dtype="float32", max_epochs=2, batch_size=10, momentum=0.5,
                random_state=7, verbose=False).fit(X)
        arrays = {"W_": m.W_, "b_": m.b_, "c_": m.c_, "chains_": m.chains_}
        if cls is BernoulliRBM:
            arrays["chains hidden"] = m._chain_hidden_probs(compute=False)
        for name, a in arrays.items():
            assert a is not None and a.dtype == np.float32, name
        _, g = m.loss_and_grads(X[:10], np.random.default_rng(0))
        assert {k: v.dtype for k, v in g.items()} == dict.fromkeys("Wbc", np.float32)
        assert m.transform(X).dtype == np.float32
        m.partial_fit(X[:10])
        assert m.W_.dtype == np.float32 and m.chains_.dtype == np.float32
        # likelihoods are float64 whatever the dtype
        assert m.free_energy(X).dtype == np.float64
        m.save(tmp_path / "m.npz")
        r = cls.load(tmp_path / "m.npz")
        assert r.dtype == "float32"
        for name in ("W_", "b_", "c_", "chains_"):
            assert getattr(r, name).dtype == np.float32, name
            np.testing.assert_array_equal(getattr(r, name), getattr(m, name))
        np.testing.assert_array_equal(r.score_samples(X), m.score_samples(X))
        assert r.sample(3, random_state=1, n_steps=2).dtype == np.float32


def test_default_dtype_is_float64():
    m = BernoulliRBM(n_components=3, max_epochs=1, verbose=False).fit(_binary(20, 5))
    assert m.dtype == "float64" and m.W_.dtype == np.float64
    with pytest.raises(ValueError, match="dtype"):
        BernoulliRBM(dtype="float16").fit(_binary(20, 5))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kw", [dict(method="pcd", k=2, momentum=0.5),
                                dict(method="cd", k=1, momentum=0.0)])
def test_float32_and_float64_fits_agree(backend, kw):
    """Same seed, same float32 uniforms: the two dtypes draw the same samples (a uniform
    within float32 rounding of its probability is rare at this size) and their parameters
    agree to float32 precision. (numba: the float64 fit is the fused kernel epoch.)"""
    X = _binary(60, 12, seed=1)
    fits = {}
    with _backend(backend):
        for dt in ("float64", "float32"):
            fits[dt] = BernoulliRBM(n_components=6, max_epochs=3, batch_size=20,
                                    learning_rate=0.1, random_state=5, dtype=dt,
                                    verbose=False, **kw).fit(X)
    a, b = fits["float64"], fits["float32"]
    for name in ("W_", "b_", "c_"):
        np.testing.assert_allclose(getattr(b, name), getattr(a, name), rtol=0, atol=2e-5,
                                   err_msg=name)
    if kw["method"] == "pcd":
        np.testing.assert_array_equal(b.chains_, a.chains_)
    assert np.abs(a.W_ - np.asarray(a.W_, np.float32)).max() > 0  # float64 is float64


def test_pcd_batches_match_a_numpy_reference():
    """Three PCD-2 batches with SGD steps between them against the algorithm written out:
    the chains' hidden probabilities come from the previous batch's gradient (computed with
    the previous W), each step draws h then v with the batch's (k, n, H + V) float32
    uniforms, and the gradient is the CD formula."""
    V, H, n, k, lr = 9, 5, 7, 2, 0.3
    X = _binary(3 * 8, V, seed=2)
    m = BernoulliRBM(n_components=H, method="pcd", k=k, n_persistent=n, random_state=0)
    rng0 = np.random.default_rng(4)
    m.build_parameters(V, rng0)
    m.W_[...] = rng0.normal(0, 0.8, (V, H))
    m.b_[...] = rng0.normal(0, 0.5, V)
    m.c_[...] = rng0.normal(0, 0.5, H)
    m.fitted_ = True
    W, b, c = m.W_.copy(), m.b_.copy(), m.c_.copy()
    rng, ref_rng = np.random.default_rng(11), np.random.default_rng(11)
    chains = ph_chain = None
    for s in range(3):
        v0 = X[8 * s:8 * s + 8]
        _, g = m.loss_and_grads(v0, rng)
        # the reference
        if chains is None:
            chains = (ref_rng.random((n, V), dtype=np.float32) < _sigmoid(b)).astype(float)
            ph_chain = _sigmoid(chains @ W + c)
        u = ref_rng.random((k, n, H + V), dtype=np.float32)
        ph = ph_chain
        for t in range(k):
            h = (u[t, :, :H] < ph).astype(float)
            v = (u[t, :, H:] < _sigmoid(h @ W.T + b)).astype(float)
            ph = _sigmoid(v @ W + c)
        chains, ph_chain = v, ph
        ph0 = _sigmoid(v0 @ W + c)
        want = {"W": v.T @ ph / n - v0.T @ ph0 / len(v0),
                "b": v.mean(0) - v0.mean(0), "c": ph.mean(0) - ph0.mean(0)}
        np.testing.assert_array_equal(m.chains_, chains)
        np.testing.assert_allclose(m._chain_hidden_probs(compute=False), ph_chain,
                                   rtol=1e-12)
        for name in "Wbc":
            np.testing.assert_allclose(g[name], want[name], rtol=1e-10, atol=1e-13,
                                       err_msg=f"batch {s}: {name}")
        for p, name, ref in ((m.W_, "W", W), (m.b_, "b", b), (m.c_, "c", c)):
            p -= lr * g[name]
            ref -= lr * want[name]


class _CountingW(np.ndarray):
    """``W`` that counts the matrix products it takes part in."""

    count = 0

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if ufunc is np.matmul:
            type(self).count += 1
        inputs = tuple(x.view(np.ndarray) if isinstance(x, _CountingW) else x for x in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)


@pytest.mark.parametrize("method,k,want", [("pcd", 1, 3), ("pcd", 3, 7), ("cd", 1, 3)])
def test_a_batch_takes_2k_plus_1_products_with_W(method, k, want):
    """Data hiddens, then per Gibbs step the chains' visibles and hiddens (the loss reuses
    both pre-activations; PCD keeps p(h | chains) from the previous batch); the gradient is
    one more product, of the samples and probabilities only."""
    X = _binary(40, 8)
    m = BernoulliRBM(n_components=4, method=method, k=k, random_state=0)
    m.build_parameters(8, np.random.default_rng(0))
    m.fitted_ = True
    rng = np.random.default_rng(0)
    m.loss_and_grads(X[:10], rng)  # PCD: starts the chains (one product for their p(h|v))
    m.W_ = m.W_.view(_CountingW)
    _CountingW.count = 0
    loss, _ = m.loss_and_grads(X[10:20], rng)
    assert _CountingW.count == want and np.isfinite(loss)


def test_chains_set_by_hand_get_their_own_hidden_probabilities():
    m = BernoulliRBM(n_components=3, method="pcd", max_epochs=1, batch_size=5,
                     verbose=False).fit(_binary(20, 6))
    m.chains_ = np.ones((4, 6))
    np.testing.assert_allclose(m._chain_hidden_probs(), _sigmoid(m.chains_ @ m.W_ + m.c_))
    # a checkpoint without them (written before they were kept) recomputes them too
    m.load_extra_state({"chains": np.zeros((2, 6))})
    np.testing.assert_allclose(m._chain_hidden_probs(), _sigmoid(m.c_) * np.ones((2, 1)))


def _peak_bytes(f):
    tracemalloc.start()
    try:
        f()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_float32_batches_make_no_float64_temporaries():
    """A float32 PCD batch allocates about half of what a float64 one does: no product or
    B x H / V x H temporary is upcast (the float32 uniforms are the same in both)."""
    V, H, B = 300, 200, 50
    X = _binary(B, V)
    peaks = {}
    for dt in ("float64", "float32"):
        m = BernoulliRBM(n_components=H, dtype=dt, n_persistent=B, random_state=0)
        m.build_parameters(V, np.random.default_rng(0))
        m.fitted_ = True
        m.loss_and_grads(X, np.random.default_rng(0))  # chains started
        peaks[dt] = _peak_bytes(lambda m=m: m.loss_and_grads(X, np.random.default_rng(1)))
    # the float64 gradient alone is V*H*8 = 480 kB
    assert peaks["float64"] > V * H * 8
    assert peaks["float32"] < 0.6 * peaks["float64"], peaks


def test_ais_of_a_float32_rbm_runs_in_float64():
    """AIS (forward, reverse and the bounds) of a float32 RBM gives bit for bit what the
    same parameters give in a float64 RBM: its log weights are differences of free
    energies in the hundreds, which float32 would round."""
    from minigen.models.ebm.ais import ais_log_likelihood_bounds, ais_log_partition

    X = _binary(30, 40, seed=4)
    m32 = BernoulliRBM(n_components=30, dtype="float32", max_epochs=2, batch_size=10,
                       random_state=2, verbose=False).fit(X)
    m64 = BernoulliRBM(n_components=30, random_state=2)
    m64.build_parameters(40, np.random.default_rng(0))
    for name in ("W_", "b_", "c_"):
        getattr(m64, name)[...] = getattr(m32, name)
    m64.fitted_ = True
    kw = dict(n_chains=8, n_betas=50, random_state=3, verbose=False)
    a, b = ais_log_partition(m32, **kw), ais_log_partition(m64, **kw)
    assert a.log_z == b.log_z and a.log_z_base == b.log_z_base
    assert ais_log_partition(m32, data=X, **kw).log_z == ais_log_partition(m64, data=X,
                                                                            **kw).log_z
    assert ais_log_likelihood_bounds(m32, X, **kw) == ais_log_likelihood_bounds(m64, X, **kw)
