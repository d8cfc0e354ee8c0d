import itertools

import numpy as np
import pytest

from minigen.exceptions import NotFittedError
from minigen.models import get_model_class
from minigen.models.ebm import BernoulliRBM, GaussianBernoulliRBM


def make_rbm(V=8, H=5, seed=0, scale=0.7, cls=BernoulliRBM, **kw):
    r = cls(n_components=H, **kw)
    rng = np.random.default_rng(seed)
    r.build_parameters(V, rng)
    r.W_[...] = rng.normal(0, scale, (V, H))
    r.b_[...] = rng.normal(0, 0.5, V)
    r.c_[...] = rng.normal(0, 0.5, H)
    r.fitted_ = True
    return r


def brute_logz(r):
    V = r.W_.shape[0]
    S = np.array(list(itertools.product([0, 1], repeat=V)), float)
    f = -r.free_energy(S)
    m = f.max()
    return m + np.log(np.exp(f - m).sum())


@pytest.mark.parametrize("V,H", [(8, 5), (5, 8)])
def test_exact_log_partition_both_ways(V, H):
    r = make_rbm(V, H)
    assert np.isclose(r._exact_log_partition(), brute_logz(r))
    S = np.array(list(itertools.product([0, 1], repeat=V)), float)
    assert np.isclose(np.exp(r.score_samples(S)).sum(), 1.0)


def test_free_energy_matches_joint_energy_sum():
    r = make_rbm(4, 3)
    v = np.array([[1, 0, 1, 1.0]])
    Hs = np.array(list(itertools.product([0, 1], repeat=3)), float)
    direct = -np.log(np.exp(-r.energy(np.repeat(v, 8, 0), Hs)).sum())
    assert np.isclose(r.free_energy(v)[0], direct)


def test_pcd_gradient_matches_exact_gradient():
    X = np.random.default_rng(3).integers(0, 2, (40, 6)).astype(float)
    r = make_rbm(6, 3, scale=0.4, method="pcd", k=30, n_persistent=20000)
    _, g = r.loss_and_grads(X, np.random.default_rng(0))

    def nll():
        r._logz_cache = None
        return -r.score(X)

    base, eps = nll(), 1e-6
    for name, idx in [("W", (0, 0)), ("W", (5, 2)), ("b", (2,)), ("c", (1,))]:
        arr = r.trainable_arrays()[name]
        arr[idx] += eps
        fd = (nll() - base) / eps
        arr[idx] -= eps
        # Monte Carlo error of the model term: an average of 20000 chain values in [0, 1]
        # (sd <= 0.5), so SE <= 0.5 / sqrt(20000) = 0.0035 per entry. k = 4 on the worst-case
        # sd (normal odds < 1e-4 per entry, less as the true sd < 0.5); the finite-difference
        # error O(eps) = 1e-6 is negligible.
        assert abs(fd - g[name][idx]) < 4 * 0.5 / np.sqrt(20000), (name, idx, fd, g[name][idx])


def test_pseudo_likelihood_exact_small():
    r = make_rbm(5, 3)
    S = np.array(list(itertools.product([0, 1], repeat=5)), float)
    lp = r.score_samples(S)
    x = S[[7, 20]]
    pl = r.pseudo_likelihood(x)
    idx = {tuple(s): i for i, s in enumerate(S)}
    want = []
    for row in x:
        tot = 0.0
        for i in range(5):
            f = row.copy()
            f[i] = 1 - f[i]
            a, b = lp[idx[tuple(row)]], lp[idx[tuple(f)]]
            tot += a - np.logaddexp(a, b)
        want.append(tot)
    np.testing.assert_allclose(pl, want)


def test_fit_bars_and_stripes_improves_and_sklearn_surface():
    from minigen.datasets import bars_and_stripes

    X = bars_and_stripes(4).reshape(30, -1)
    r = BernoulliRBM(n_components=16, max_epochs=300, batch_size=10, learning_rate=0.1,
                     momentum=0.9, method="cd", random_state=0).fit(X)
    nll = -r.score(X)
    assert nll < 9.0  # uniform over 2^16 is 11.09 nats
    assert r.components_.shape == (16, 16)
    assert r.intercept_hidden_.shape == (16,) and r.intercept_visible_.shape == (16,)
    assert r.transform(X).shape == (30, 16)
    s = r.sample(7, random_state=0, n_steps=5)
    assert s.shape == (7, 16) and set(np.unique(s)) <= {0.0, 1.0}
    g = r.gibbs(X, random_state=1)
    assert g.shape == X.shape
    assert get_model_class("rbm") is BernoulliRBM


def test_pcd_resume_is_bitwise(tmp_path):
    from minigen.training import train

    X = np.random.default_rng(0).integers(0, 2, (60, 12)).astype(float)
    kw = dict(batch_size=20, optimizer="sgd", learning_rate=0.05, random_state=3)

    def model():
        return BernoulliRBM(n_components=6, method="pcd", k=2)

    full = model()
    train(full, X, max_epochs=4, **kw)
    part = model()
    train(part, X, max_epochs=2, checkpoint_dir=tmp_path, **kw)
    resumed = model()
    train(resumed, X, max_epochs=4, resume_from=tmp_path / "checkpoint.npz", **kw)
    np.testing.assert_array_equal(resumed.W_, full.W_)
    np.testing.assert_array_equal(resumed.chains_, full.chains_)


def test_save_load_roundtrip(tmp_path):
    r = make_rbm(6, 4, method="pcd")
    r.chains_ = np.ones((3, 6))
    r.save(tmp_path / "r.npz")
    r2 = BernoulliRBM.load(tmp_path / "r.npz")
    np.testing.assert_array_equal(r2.W_, r.W_)
    np.testing.assert_array_equal(r2.chains_, r.chains_)


def test_errors():
    with pytest.raises(ValueError, match="binary"):
        BernoulliRBM(max_epochs=1).fit(np.full((4, 3), 0.5))
    with pytest.raises(ValueError, match="method"):
        BernoulliRBM(method="xx").fit(np.zeros((4, 3)))
    with pytest.raises(NotFittedError, match="not fitted"):
        BernoulliRBM().score_samples(np.zeros((2, 3)))
    r = make_rbm(4, 2)
    with pytest.raises(ValueError, match="features"):
        r.score_samples(np.zeros((2, 5)))


def test_gaussian_rbm_normalized_and_trains():
    r = make_rbm(1, 3, cls=GaussianBernoulliRBM, scale=0.8)
    grid = np.linspace(-12, 12, 20001)[:, None]
    dens = np.exp(r.score_samples(grid))
    assert np.isclose(dens.sum() * (grid[1, 0] - grid[0, 0]), 1.0, atol=1e-6)
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(-1.5, 0.5, (200, 2)), rng.normal(1.5, 0.5, (200, 2))])
    g = GaussianBernoulliRBM(n_components=4, max_epochs=30, learning_rate=0.01, method="cd",
                             k=1, random_state=0)
    before = g.set_params(max_epochs=1).fit(X).score(X)
    after = g.set_params(max_epochs=30).fit(X).score(X)
    assert after > before


@pytest.mark.slow
def test_bars_and_stripes_exact_nll_near_optimum():
    """4x4 bars-and-stripes (30 patterns): exact NLL within 0.1 nats of log 30."""
    from minigen.datasets import bars_and_stripes
    from minigen.training import train

    X = bars_and_stripes(4).reshape(30, -1)
    r = BernoulliRBM(n_components=16, method="exact")
    r.build_parameters(16, np.random.default_rng(0))
    r.W_[...] = np.random.default_rng(0).normal(0, 0.1, r.W_.shape)
    r.init_from_data(X)
    train(r, X, max_epochs=300, batch_size=30, optimizer="adam", momentum=0.9,
          learning_rate=0.05, random_state=0)
    r._logz_cache = None
    nll = -r.score(X)  # exact: V = 16
    assert nll <= np.log(30) + 0.1, nll


@pytest.mark.parametrize("kw", [
    dict(method="cd", k=1, momentum=0.0),
    dict(method="pcd", k=2, momentum=0.5),
    dict(method="cd", k=3, weight_decay=1e-3, sparsity_target=0.1, sparsity_cost=0.5),
    dict(method="pcd", k=1, n_persistent=7, momentum=0.9),
])
@pytest.mark.parametrize("chunk", [None, 500])
def test_fused_numba_epoch_matches_numpy_per_batch_fit(kw, chunk, monkeypatch):
    """The numba backend runs each epoch in one kernel call (rbm_sgd_epoch) on the same
    random stream as the NumPy per-batch path: identical chains, parameters to rounding.
    ``chunk`` forces several kernel calls per epoch (uniforms drawn chunk by chunk)."""
    pytest.importorskip("numba")
    from minigen.backend import use_backend

    if chunk is not None:
        monkeypatch.setattr(BernoulliRBM, "_FUSED_MAX_UNIFORMS", chunk)
    X = (np.random.default_rng(0).random((97, 13)) < 0.4).astype(float)  # last batch: 7 rows
    fits = {}
    for be in ("numpy", "numba"):
        with use_backend(be):
            m = BernoulliRBM(n_components=5, max_epochs=3, batch_size=10, random_state=1, **kw)
            if be == "numba":
                assert m._fused_epoch_kernel() is not None
            fits[be] = m.fit(X)
    ref, out = fits["numpy"], fits["numba"]
    for name in ("W_", "b_", "c_"):
        np.testing.assert_allclose(getattr(out, name), getattr(ref, name), rtol=1e-12,
                                   atol=1e-14, err_msg=name)
    if kw["method"] == "pcd":
        np.testing.assert_array_equal(out.chains_, ref.chains_)
        assert out.chains_.shape == (kw.get("n_persistent", 10), 13)


def test_large_layers_take_the_per_batch_path():
    """Above _FUSED_MAX_WEIGHTS the numba backend trains batch by batch (BLAS products):
    the same fit as the NumPy backend's."""
    pytest.importorskip("numba")
    from minigen.backend import use_backend

    X = (np.random.default_rng(0).random((40, 30)) < 0.4).astype(float)
    fits = {}
    for be in ("numpy", "numba"):
        with use_backend(be):
            m = BernoulliRBM(n_components=20, max_epochs=2, batch_size=10, random_state=1)
            m._FUSED_MAX_WEIGHTS = 30 * 20 - 1
            fits[be] = m.fit(X)
            if be == "numba":
                assert m._fused_epoch_kernel() is None
                m._FUSED_MAX_WEIGHTS = 30 * 20
                assert m._fused_epoch_kernel() is not None
    np.testing.assert_allclose(fits["numba"].W_, fits["numpy"].W_, rtol=1e-12, atol=1e-14)
    # the per-batch path reports the CD loss; the fused kernel does not
    assert np.isfinite(fits["numba"].history_.train_loss).all()


# ------------------------------------------------------------ audit 2: validation, divergence
def _binary(n=40, V=6, seed=0):
    return (np.random.default_rng(seed).random((n, V)) < 0.5).astype(float)


def _diverging_gbrbm(max_epochs=60):
    """Unstandardized data (scale 100) and a huge step: the weights used to reach ~1e128."""
    X = 100 * np.random.default_rng(0).normal(size=(40, 6))
    m = GaussianBernoulliRBM(n_components=4, max_epochs=max_epochs, batch_size=10,
                             learning_rate=1.0, random_state=0)
    return m, X


def test_fit_divergence_raises_and_restores_last_good_parameters():
    from minigen.training import TrainingDiverged

    m, X = _diverging_gbrbm()
    with pytest.raises(TrainingDiverged,
                       match="diverged at epoch .*learning_rate.*standardize") as info:
        m.fit(X)
    good_epochs = info.value.epoch  # the loss blew up within epoch 2 (its third batch)
    assert good_epochs == 2 and m.history_.epochs == 2
    assert np.isfinite(m.W_).all() and np.abs(m.W_).max() <= 1e6
    # the restored parameters are exactly those after the last good epoch
    ref = _diverging_gbrbm(max_epochs=good_epochs)[0].fit(X)
    for name in ("W_", "b_", "c_", "chains_"):
        np.testing.assert_array_equal(getattr(m, name), getattr(ref, name), err_msg=name)
    assert m.fitted_
    assert np.isfinite(m.score_samples(X[:2])).all()


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_bernoulli_fit_divergence_on_both_paths(backend):
    """The fused Numba epoch and the per-batch path both end in the same check."""
    from minigen.backend import use_backend
    from minigen.training import TrainingDiverged

    if backend == "numba":
        pytest.importorskip("numba")
    with use_backend(backend):
        r = BernoulliRBM(n_components=4, max_epochs=3, batch_size=10, learning_rate=1e300,
                         random_state=0)
        with pytest.raises(TrainingDiverged, match="epoch 0"):
            r.fit(_binary())
    assert np.isfinite(r.W_).all() and np.abs(r.W_).max() < 1.0  # the initial weights
    assert not r.fitted_


def test_partial_fit_divergence_keeps_previous_parameters():
    from minigen.training import TrainingDiverged

    r = BernoulliRBM(n_components=4, random_state=0).partial_fit(_binary())
    before = r.W_.copy()
    r.learning_rate = 1e300
    with pytest.raises(TrainingDiverged, match="partial_fit"):
        r.partial_fit(_binary(seed=1))
    np.testing.assert_array_equal(r.W_, before)


def test_partial_fit_validates_hyper_parameters_like_fit():
    with pytest.raises(ValueError, match="learning_rate must be a finite real number >= 0"):
        BernoulliRBM(n_components=4, learning_rate=-1.0).partial_fit(_binary())
    with pytest.raises(ValueError, match="method must be one of"):
        BernoulliRBM(n_components=4, method="bogus").partial_fit(_binary())


def test_refit_on_new_width_rebuilds_but_partial_fit_keeps_checking():
    r = BernoulliRBM(n_components=4, max_epochs=2, batch_size=10, random_state=0).fit(_binary())
    r.fit(_binary(V=8))
    assert r.W_.shape == (8, 4) and r.n_features_in_ == 8
    assert r.transform(_binary(V=8)).shape == (40, 4)
    with pytest.raises(ValueError, match="X has 6 features, but BernoulliRBM is expecting 8"):
        r.partial_fit(_binary())
    g = GaussianBernoulliRBM(n_components=3, max_epochs=1, random_state=0)
    rng = np.random.default_rng(0)
    g.fit(rng.normal(size=(20, 5))).fit(rng.normal(size=(20, 7)))
    assert g.W_.shape == (7, 3)


@pytest.mark.parametrize("cls", [BernoulliRBM, GaussianBernoulliRBM])
@pytest.mark.parametrize("shape", [(0, 6), (0, 2, 3), (5, 0)])
def test_fit_on_empty_data_is_a_clear_error(cls, shape):
    for method in ("fit", "partial_fit"):
        with pytest.raises(ValueError, match="must not be empty|at least one sample and one "
                           "feature"):
            getattr(cls(n_components=4, max_epochs=1), method)(np.zeros(shape))


def test_ais_log_partition_cache_is_keyed_on_seed_and_settings():
    r = BernoulliRBM(n_components=4, max_epochs=2, batch_size=10, random_state=0, ais_chains=20,
                     ais_betas=50).fit(_binary())
    a = r.log_partition("ais", random_state=1)
    b = r.log_partition("ais", random_state=2)
    assert a != b  # the second seed gets its own estimate, not the cached first one
    assert r.log_partition("ais", random_state=1) == a
    r._logz_cache = None
    assert r.log_partition("ais", random_state=2) == b
    r.set_params(ais_chains=30)
    assert r.log_partition("ais", random_state=2) != b
    # an unseeded or Generator call is never served from the cache
    g1 = r.log_partition("ais", random_state=np.random.default_rng(5))
    g2 = r.log_partition("ais", random_state=np.random.default_rng(6))
    assert g1 != g2


def test_check_scorable_only_limits_the_gaussian_bernoulli_rbm():
    from minigen.models.ebm import BernoulliRBM, GaussianBernoulliRBM

    BernoulliRBM(n_components=64).check_scorable()  # AIS covers large H
    GaussianBernoulliRBM(n_components=24).check_scorable()
    with pytest.raises(ValueError, match=r"n_components=25 cannot be scored.*<= 24"):
        GaussianBernoulliRBM(n_components=25).check_scorable()


@pytest.mark.parametrize("H, n", [(3, 20_000), (12, 6_000)])  # H=12: two blocks of rows
def test_exact_sampling_matches_the_enumerated_distribution(H, n):
    """``sample(method="exact")`` against exact p(v) over all 2^V states: the total
    variation of the empirical distribution must stay under a bound derived from n
    (E TV <= sum_v sqrt(p(1-p)/n) / 2, taken 3x); dropping the softplus term of the
    hidden marginal, or a wrong visible conditional, fails it."""
    from minigen.distributions import boltzmann as bz

    V = 4
    r = make_rbm(V, H, seed=3, scale=0.9)
    S = bz.all_states(V)
    p = np.exp(r.score_samples(S))
    X = r.sample(n, random_state=5, method="exact")
    emp = bz.empirical_distribution(X, V)
    bound = 3 * 0.5 * np.sqrt(p * (1 - p) / n).sum()
    assert bz.tv_distance(emp, p) < bound
    # independent exact draws: another seed differs, the same seed repeats bitwise
    assert np.array_equal(X, r.sample(n, random_state=5, method="exact"))
    assert not np.array_equal(X, r.sample(n, random_state=6, method="exact"))


def test_exact_sampling_refuses_too_many_hidden_units():
    r = make_rbm(4, 25)
    with pytest.raises(ValueError, match="2\\^H hidden states; H=25 > 24"):
        r.sample(3, method="exact")
    with pytest.raises(ValueError, match="method"):
        r.sample(3, method="exactly")
