import numpy as np
import pytest

from minigen import distributions as D
from minigen.kernels.reference.multinomial import _threshold


def _chi2_crit(dof, alpha=1e-6):
    """Upper ``alpha`` quantile of chi2(dof): scipy if present, else Wilson-Hilferty + margin."""
    try:
        from scipy.stats import chi2 as _chi2

        return float(_chi2.isf(alpha, dof))
    except ImportError:  # pragma: no cover
        z = 4.75
        return dof * (1 - 2 / (9 * dof) + z * np.sqrt(2 / (9 * dof))) ** 3 + 10


def _chi2_ok(counts, probs):
    """Pearson chi-square below the 1e-6 upper quantile of chi2(dof) (cells with p > 0)."""
    n = counts.sum()
    m = probs > 0
    assert counts[~m].sum() == 0, "a zero-probability outcome was drawn"
    e = n * probs[m]
    chi2 = ((counts[m] - e) ** 2 / e).sum()
    dof = m.sum() - 1
    return chi2 < _chi2_crit(dof), chi2


# ------------------------------------------------------------------- thresholding
def test_threshold_definition_and_edges():
    w = np.array([[1.0, 0.0, 3.0], [0.0, 2.0, 0.0], [1.0, 1.0, 0.0]])
    np.testing.assert_array_equal(_threshold(w, np.array([0.0, 0.0, 0.0])), [0, 1, 0])
    np.testing.assert_array_equal(_threshold(w, np.array([0.25, 0.999, 0.5])), [2, 1, 1])
    # u rounding to 1.0 must never give a zero-weight (trailing) category
    np.testing.assert_array_equal(_threshold(w, np.full(3, np.nextafter(1.0, 0))), [2, 1, 1])
    np.testing.assert_array_equal(_threshold(w, np.ones(3)), [2, 1, 1])
    u = np.random.default_rng(0).random(7)
    np.testing.assert_array_equal(D.threshold(np.tile(w[:1], (7, 1)), u),
                                  _threshold(np.tile(w[:1], (7, 1)), u))


# -------------------------------------------------------------------- categorical
def test_categorical_sampling_chi_square_and_log_prob():
    p = np.array([0.1, 0.0, 0.25, 0.65])
    cat = D.Categorical(probs=p * 3)  # unnormalized weights allowed
    x = cat.sample(40_000, random_state=0)
    assert x.dtype == np.int64
    ok, chi2 = _chi2_ok(np.bincount(x, minlength=4), p)
    assert ok, chi2
    np.testing.assert_allclose(cat.log_prob(np.array([0, 2, 3])), np.log(p[[0, 2, 3]]))
    assert cat.log_prob(np.array([1]))[0] == -np.inf
    assert cat.entropy() == pytest.approx(-(p[p > 0] * np.log(p[p > 0])).sum())


def test_categorical_logits_batch_and_shapes(rng):
    logits = rng.standard_normal((3, 5))
    c1, c2 = D.Categorical(logits=logits), D.Categorical(probs=np.exp(logits))
    np.testing.assert_allclose(c1.probs, c2.probs)
    np.testing.assert_allclose(c1.probs.sum(-1), 1)
    x = c1.sample((4, 2), random_state=1)
    assert x.shape == (4, 2, 3)
    assert c1.log_prob(x).shape == (4, 2, 3)
    np.testing.assert_allclose(c1.entropy(), c2.entropy())
    big = D.Categorical(logits=np.array([1000.0, 0.0, -np.inf]))
    np.testing.assert_allclose(big.probs, [1, 0, 0])
    assert big.entropy() == pytest.approx(0.0, abs=1e-12)


def test_categorical_same_seed_same_draws():
    c = D.Categorical(probs=[0.3, 0.7])
    np.testing.assert_array_equal(c.sample(50, 3), c.sample(50, 3))


@pytest.mark.parametrize(
    "kwargs, match",
    [({"probs": [0.5, -0.1, 0.6]}, "probs has negative"),
     ({"probs": [np.nan, 0.5]}, "probs contains NaN"),
     ({"probs": [[0.0, 0.0], [0.5, 0.5]]}, "sums to zero"),
     ({"probs": 0.5}, "probs must have"),
     ({"logits": [np.nan, 0.0]}, "NaN"),
     ({"logits": [-np.inf, -np.inf]}, "all -inf"),
     ({}, "exactly one"),
     ({"probs": [1.0], "logits": [0.0]}, "exactly one")],
)
def test_categorical_bad_params(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        D.Categorical(**kwargs)


def test_categorical_bad_values():
    c = D.Categorical(probs=np.ones((2, 3)))
    with pytest.raises(ValueError, match="outside the support"):
        c.log_prob(np.array([0, 3]))
    with pytest.raises(ValueError, match="integer"):
        c.log_prob(np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="batch shape"):
        c.log_prob(np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="n must be"):
        c.sample(2.5)


# ---------------------------------------------------------------------- bernoulli
def test_bernoulli():
    p = np.array([0.0, 0.2, 0.5, 1.0])
    b = D.Bernoulli(probs=p)
    n = 20_000
    x = b.sample(n, random_state=0)
    se = np.sqrt(p * (1 - p) / n) + 1e-12
    assert (np.abs(x.mean(0) - p) <= 5 * se).all()
    lp = b.log_prob(np.array([[0, 1, 1, 1], [1, 0, 0, 0]]))
    np.testing.assert_allclose(lp[0], [0, np.log(0.2), np.log(0.5), 0])
    assert lp[1, 0] == -np.inf and lp[1, 3] == -np.inf
    np.testing.assert_allclose(b.entropy(), [0, -(0.2 * np.log(0.2) + 0.8 * np.log(0.8)),
                                             np.log(2), 0])
    bl = D.Bernoulli(logits=np.array([-800.0, 0.0, 800.0]))
    np.testing.assert_allclose(bl.log_prob(np.array([1.0, 1.0, 0.0])), [-800, -np.log(2), -800])
    np.testing.assert_allclose(bl.entropy(), [0, np.log(2), 0], atol=1e-12)
    with pytest.raises(ValueError, match="probs must lie"):
        D.Bernoulli(probs=[1.2])
    with pytest.raises(ValueError, match="binary"):
        b.log_prob(np.full(4, 0.5))
    with pytest.raises(ValueError, match="NaN"):
        D.Bernoulli(logits=[np.nan])
    # x must end with the batch shape (was a numpy broadcasting error)
    with pytest.raises(ValueError, match=r"batch shape \(4,\)"):
        b.log_prob(np.zeros(3))
    with pytest.raises(ValueError, match="batch shape"):
        b.log_prob(np.zeros((4, 1)))
    assert b.log_prob(np.zeros((5, 4))).shape == (5, 4)
    assert D.Bernoulli(probs=0.3).log_prob(np.ones(6)) == pytest.approx(np.full(6, np.log(0.3)))


# ------------------------------------------------------------------------- normal
def test_normal_against_scipy_and_moments():
    stats = pytest.importorskip("scipy.stats")
    loc, scale = np.array([0.5, -1.0]), np.array([2.0, 0.3])
    nrm = D.Normal(loc, scale)
    x = nrm.sample(30_000, random_state=0)
    assert x.shape == (30_000, 2)
    assert (np.abs(x.mean(0) - loc) < 5 * scale / np.sqrt(30_000)).all()
    np.testing.assert_allclose(nrm.log_prob(x[:10]),
                               stats.norm(loc, scale).logpdf(x[:10]).sum(-1))
    assert nrm.entropy() == pytest.approx(stats.norm(loc, scale).entropy().sum())
    with pytest.raises(ValueError, match="scale must be > 0"):
        D.Normal([0.0], [0.0])
    with pytest.raises(ValueError, match="last axis"):
        nrm.log_prob(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="broadcast"):
        D.Normal(np.zeros(2), np.ones(3))


# ---------------------------------------------------------------- gaussian mixture
def test_gaussian_mixture_log_prob_scipy_and_entropy_mc():
    stats = pytest.importorskip("scipy.stats")
    covs = np.array([[[1.0, 0.5], [0.5, 2.0]], [[0.3, 0.0], [0.0, 0.2]]])
    gm = D.GaussianMixture([0.3, 0.7], [[0.0, 0.0], [3.0, -1.0]], covs=covs)
    x = gm.sample(2000, random_state=0)
    ref = np.log(0.3 * stats.multivariate_normal([0, 0], covs[0]).pdf(x)
                 + 0.7 * stats.multivariate_normal([3, -1], covs[1]).pdf(x))
    np.testing.assert_allclose(gm.log_prob(x), ref, rtol=1e-10)
    # component frequencies (chi-square via nearest mean is ambiguous; use the covariance mean)
    assert abs(x[:, 0].mean() - 0.7 * 3.0) < 5 * x[:, 0].std() / np.sqrt(2000)
    # well-separated mixture: entropy = H(weights) + sum_k w_k H(N_k) (to ~1e-6)
    far = D.GaussianMixture([0.3, 0.7], [[0.0, 0.0], [60.0, 0.0]], covs=covs)
    exact = -(0.3 * np.log(0.3) + 0.7 * np.log(0.7)) + sum(
        w * stats.multivariate_normal(np.zeros(2), c).entropy()
        for w, c in zip([0.3, 0.7], covs, strict=True)
    )
    n = 20_000
    h, se = far.entropy(n, random_state=1)
    assert abs(h - exact) < 4 * se
    # the reported se against the analytic one: -log p(x) = a_K + E with a_k = -log w_k
    # + log(2 pi) + log|S_k| / 2 and E = chi2_2 / 2 ~ Exp(1) independent of K, so
    # Var = w1 w2 d^2 + 1 (d = a_1 - a_2); a sample sd has relative sd sqrt((kurt - 1) / (4n)),
    # kurt = 3 + (w1 w2 (1 - 6 w1 w2) d^4 + 6) / Var^2 (fourth cumulants: two-point + Exp(1)).
    w1w2 = 0.3 * 0.7
    d = np.log(0.7 / 0.3) + 0.5 * (np.linalg.slogdet(covs[0])[1] - np.linalg.slogdet(covs[1])[1])
    var = w1w2 * d**2 + 1
    kurt = 3 + (w1w2 * (1 - 6 * w1w2) * d**4 + 6) / var**2
    se_exact = np.sqrt(var / n)
    assert abs(se / se_exact - 1) < 5 * np.sqrt((kurt - 1) / (4 * n)), (se, se_exact)  # 5 sigma
    iso = D.GaussianMixture([1.0], [[1.0, 2.0]], scales=[0.5])
    np.testing.assert_allclose(iso.log_prob(np.array([[1.0, 2.0]])),
                               D.Normal([1.0, 2.0], 0.5).log_prob(np.array([[1.0, 2.0]])))


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(weights=[1.0, -1.0], means=np.zeros((2, 2)), scales=[1.0, 1.0]), "negative"),
     (dict(weights=[1.0], means=np.zeros((2, 2)), scales=[1.0, 1.0]), "components"),
     (dict(weights=[1.0], means=np.zeros((1, 2)), covs=-np.eye(2)[None]), "positive definite"),
     (dict(weights=[1.0], means=np.zeros((1, 2)), covs=np.eye(3)[None]), "covs must have shape"),
     (dict(weights=[1.0], means=np.zeros((1, 2)), covs=np.array([[[1, 0.5], [0, 1]]])),
      "symmetric"),
     (dict(weights=[1.0], means=np.zeros((1, 2))), "exactly one"),
     (dict(weights=[1.0], means=np.zeros((1, 2)), scales=[0.0]), "scales must be > 0")],
)
def test_gaussian_mixture_bad_params(kwargs, match):
    with pytest.raises(ValueError, match=match):
        D.GaussianMixture(**kwargs)


# ----------------------------------------------------- discretized logistic mixture
def _dlm(rng, batch=(4,), K=3):
    return D.DiscretizedLogisticMixture(
        rng.standard_normal(batch + (K,)), rng.uniform(-1.3, 1.3, batch + (K,)),
        rng.uniform(-9, 1, batch + (K,)))


def test_dlm_sums_to_one_over_256_values_including_extremes(rng):
    d = _dlm(rng, (6,))
    np.testing.assert_allclose(d.probs_table().sum(0), 1.0, atol=1e-12)
    # extreme parameters: tiny scales, means far outside [-1, 1]
    ext = D.DiscretizedLogisticMixture(np.zeros((4, 1)), np.array([[-5.0], [5.0], [0.0], [1.0]]),
                                       np.array([[-15.0], [-15.0], [-15.0], [3.0]]))
    t = ext.probs_table()
    np.testing.assert_allclose(t.sum(0), 1.0, atol=1e-9)
    assert t[0, 0] == pytest.approx(1.0) and t[255, 1] == pytest.approx(1.0)
    lp = ext.log_prob(np.array([128, 0, 255, 7]))
    assert np.isfinite(lp[[0, 3]]).all()  # no NaN anywhere
    assert not np.isnan(ext.log_prob(np.array([255, 255, 0, 0]))).any()


def test_dlm_matches_naive_cdf_difference_and_sampler(rng):
    d = D.DiscretizedLogisticMixture(np.array([0.2, -0.4]), np.array([-0.3, 0.4]),
                                     np.array([-2.0, -3.0]))

    def sig(z):
        return 1 / (1 + np.exp(-z))

    x = np.arange(256)
    y = 2 * x / 255 - 1
    w = np.exp([0.2, -0.4]) / np.exp([0.2, -0.4]).sum()
    P = 0
    for k, (m, ls) in enumerate(zip([-0.3, 0.4], [-2.0, -3.0], strict=True)):
        hi = np.where(x == 255, 1.0, sig((y + 1 / 255 - m) / np.exp(ls)))
        lo = np.where(x == 0, 0.0, sig((y - 1 / 255 - m) / np.exp(ls)))
        P = P + w[k] * (hi - lo)
    np.testing.assert_allclose(np.exp(d.log_prob(x)), P, rtol=1e-9, atol=1e-15)
    assert d.entropy() == pytest.approx(-(P[P > 0] * np.log(P[P > 0])).sum())
    n = 60_000
    s = d.sample(n, random_state=2)
    assert s.dtype == np.int64 and s.min() >= 0 and s.max() <= 255
    # chi-square on 16 coarse bins (cells of 16 values) to keep expected counts large
    counts = np.bincount(s // 16, minlength=16)
    ok, chi2 = _chi2_ok(counts, P.reshape(16, 16).sum(1))
    assert ok, chi2


def test_dlm_normalized_for_random_parameters_property():
    hyp = pytest.importorskip("hypothesis")
    st = pytest.importorskip("hypothesis.strategies")

    @hyp.settings(max_examples=60, deadline=None, derandomize=True)
    @hyp.given(mu=st.floats(-3, 3), ls=st.floats(-14, 4), lw=st.floats(-20, 20))
    def check(mu, ls, lw):
        d = D.DiscretizedLogisticMixture(np.array([lw, 0.0]), np.array([mu, -mu / 2]),
                                         np.array([ls, ls / 2]))
        lp = d.log_prob(np.arange(256))
        assert not np.isnan(lp).any() and (lp <= 1e-12).all()
        assert np.exp(lp).sum() == pytest.approx(1.0, abs=1e-9)

    check()


def test_dlm_bad_input(rng):
    d = _dlm(rng, (2,))
    with pytest.raises(ValueError, match="outside the support"):
        d.log_prob(np.array([0, 256]))
    with pytest.raises(ValueError, match="integer"):
        d.log_prob(np.array([0.5, 1]))
    with pytest.raises(ValueError, match="same shape"):
        D.DiscretizedLogisticMixture(np.zeros(3), np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        D.DiscretizedLogisticMixture(np.zeros(2), np.array([np.nan, 0]), np.zeros(2))
    with pytest.raises(ValueError, match="n_bins"):
        D.DiscretizedLogisticMixture(np.zeros(2), np.zeros(2), np.zeros(2), n_bins=1)


# ------------------------------------------------------- naive joint vs chain rule
def test_naive_joint_and_chain_rule_agree_in_distribution():
    rng = np.random.default_rng(5)
    Dd, C = 3, 3
    table = rng.dirichlet(np.ones(C**Dd)).reshape((C,) * Dd)
    table[0, 1, 2] = 0.0
    table /= table.sum()
    n = 60_000

    def conditional(prefix, d):
        # p(x_d | x_<d) from the table's marginals
        marg = table.sum(axis=tuple(range(d + 1, Dd))) if d + 1 < Dd else table
        return marg[tuple(prefix.T)] if d else np.broadcast_to(marg, (len(prefix), C))

    xs_naive = D.naive_joint_sample(table, Dd, C, n, random_state=0)
    xs_chain = D.chain_rule_sample(conditional, Dd, C, n, random_state=1)
    with np.errstate(divide="ignore"):
        xs_lp = D.naive_joint_sample(lambda X: np.log(table[tuple(X.T)]), Dd, C, n, 2)
    flat = table.reshape(-1)
    for xs in (xs_naive, xs_chain, xs_lp):
        codes = xs @ (C ** np.arange(Dd - 1, -1, -1))
        ok, chi2 = _chi2_ok(np.bincount(codes, minlength=C**Dd), flat)
        assert ok, chi2
    # two-sample comparison naive vs chain rule (homogeneity chi-square)
    a = np.bincount(xs_naive @ (C ** np.arange(Dd - 1, -1, -1)), minlength=27)
    b = np.bincount(xs_chain @ (C ** np.arange(Dd - 1, -1, -1)), minlength=27)
    m = (a + b) > 0
    chi2 = (((a - b) ** 2)[m] / (a + b)[m]).sum()
    assert chi2 < _chi2_crit(m.sum() - 1), chi2


def test_naive_joint_never_draws_zero_weight_outcomes():
    table = np.array([0.0, 1.0, 3.0, 0.0])  # outcomes (0,0) (0,1) (1,0) (1,1)
    x = D.naive_joint_sample(table, 2, 2, 20_000, random_state=0)
    codes = x[:, 0] * 2 + x[:, 1]
    ok, chi2 = _chi2_ok(np.bincount(codes, minlength=4), table / 4)
    assert ok, chi2


def test_naive_joint_refuses_large_and_bad_tables():
    with pytest.raises(ValueError, match="outcomes, above the limit"):
        D.naive_joint_sample(np.ones(2), 30, 2, 10)
    with pytest.raises(ValueError, match="table must have shape"):
        D.naive_joint_sample(np.ones(5), 2, 2, 10)
    with pytest.raises(ValueError, match="negative"):
        D.naive_joint_sample(np.array([0.5, -0.5, 0.5, 0.5]), 2, 2, 10)
    with pytest.raises(ValueError, match="sums to zero"):
        D.naive_joint_sample(np.zeros(4), 2, 2, 10)
    with pytest.raises(ValueError, match="NaN"):
        D.naive_joint_sample(lambda X: np.full(len(X), np.nan), 2, 2, 10)
    with pytest.raises(ValueError, match="conditional must return shape"):
        D.chain_rule_sample(lambda p, d: np.ones((len(p), 3)), 2, 2, 10)


# ----------------------------------------------------------------- CuPy (gpu marker)
@pytest.mark.gpu
def test_distributions_on_cupy_match_numpy():
    import cupy as cp

    from minigen import use_backend

    rng = np.random.default_rng(3)
    probs = rng.random((5, 7))
    lw, mu, ls = rng.standard_normal((3, 4, 2)), rng.uniform(-1, 1, (4, 2)), rng.uniform(
        -5, 0, (4, 2))
    with use_backend("numpy"):
        cat = D.Categorical(probs=probs)
        ref_x = cat.sample(100, random_state=0)
        ref_lp = cat.log_prob(ref_x)
        ref_dlm = D.DiscretizedLogisticMixture(lw[0], mu, ls).probs_table()
        ref_b = D.Bernoulli(probs=probs / 2).sample(3, random_state=1)
    with use_backend("cupy"):
        catg = D.Categorical(probs=cp.asarray(probs))
        x = catg.sample(100, random_state=0)
        assert isinstance(x, cp.ndarray)
        np.testing.assert_array_equal(cp.asnumpy(x), ref_x)
        np.testing.assert_allclose(cp.asnumpy(catg.log_prob(x)), ref_lp, rtol=1e-12)
        dlm = D.DiscretizedLogisticMixture(cp.asarray(lw[0]), cp.asarray(mu), cp.asarray(ls))
        np.testing.assert_allclose(cp.asnumpy(dlm.probs_table()), ref_dlm, rtol=1e-10,
                                   atol=1e-15)
        s = dlm.sample(10, random_state=2)
        assert s.shape == (10, 4) and int(s.min()) >= 0 and int(s.max()) <= 255
        b = D.Bernoulli(probs=cp.asarray(probs / 2)).sample(3, random_state=1)
        np.testing.assert_array_equal(cp.asnumpy(b), ref_b)
