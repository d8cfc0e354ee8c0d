import numpy as np
import pytest

from minigen import divergences as dv


def test_finite_support_identities(rng):
    p = rng.dirichlet(np.ones(6), size=4)
    q = rng.dirichlet(np.ones(6), size=4)
    kl = dv.kl_divergence(p, q)
    np.testing.assert_allclose(kl, (p * np.log(p / q)).sum(-1))
    np.testing.assert_allclose(kl, dv.cross_entropy(p, q) - dv.entropy(p))
    assert (kl > 0).all() and dv.kl_divergence(p[0], p[0]) == pytest.approx(0.0, abs=1e-15)
    assert dv.entropy(np.full(8, 1 / 8)) == pytest.approx(np.log(8))


def test_kl_zero_conventions():
    assert dv.kl_divergence([0.5, 0.5, 0.0], [0.25, 0.25, 0.5]) == pytest.approx(np.log(2))
    assert dv.kl_divergence([0.5, 0.5], [1.0, 0.0]) == np.inf
    assert dv.entropy([1.0, 0.0]) == 0.0


def test_scipy_oracle():
    stats = pytest.importorskip("scipy.stats")
    p, q = np.array([0.1, 0.2, 0.7]), np.array([0.3, 0.3, 0.4])
    assert dv.kl_divergence(p, q) == pytest.approx(stats.entropy(p, q))
    assert dv.entropy(p) == pytest.approx(stats.entropy(p))


def test_closed_forms_against_quadrature_and_definition():
    # Normal: numerical integral of p (log p - log q) on a fine grid
    x = np.linspace(-20, 20, 400_001)
    lp = -0.5 * ((x - 0.3) / 0.7) ** 2 - np.log(0.7 * np.sqrt(2 * np.pi))
    lq = -0.5 * ((x + 1.0) / 1.9) ** 2 - np.log(1.9 * np.sqrt(2 * np.pi))
    num = np.sum(np.exp(lp) * (lp - lq)) * (x[1] - x[0])
    assert dv.kl_normal(0.3, 0.7, -1.0, 1.9) == pytest.approx(num, rel=1e-6)
    np.testing.assert_allclose(dv.kl_normal(np.zeros(3), np.ones(3), np.zeros(3), np.ones(3)), 0)
    p, q = 0.2, 0.6
    assert dv.kl_bernoulli(p, q) == pytest.approx(dv.kl_divergence([1 - p, p], [1 - q, q]))
    assert dv.kl_bernoulli(0.0, 0.5) == pytest.approx(np.log(2))
    assert dv.kl_bernoulli(1.0, 0.0) == np.inf


def test_kl_monte_carlo_converges_with_root_n_stderr():
    mu1, s1, mu2, s2 = 0.0, 1.0, 1.0, 2.0
    exact = dv.kl_normal(mu1, s1, mu2, s2)

    def sample(n, rng):
        return mu1 + s1 * rng.standard_normal(n)

    def logn(mu, s):
        return lambda x: -0.5 * ((x - mu) / s) ** 2 - np.log(s * np.sqrt(2 * np.pi))

    ests = {n: dv.kl_monte_carlo(sample, logn(mu1, s1), logn(mu2, s2), n, 7)
            for n in (1_000, 16_000, 256_000)}
    for est, se in ests.values():
        assert abs(est - exact) < 4 * se
    # The summand is Y = log p(x) - log q(x) = -3/8 (x + 1/3)^2 + const with x ~ N(0, 1):
    # (3/8) x a noncentral chi2(k=1, lam=1/9), cumulants c_r = 2^(r-1) (r-1)! (k + r lam).
    # Var Y = (3/8)^2 * 2 (1 + 2/9) = 22/64; kurtosis = 3 + 48 (1 + 4/9) / (2 (1 + 2/9))^2.
    var_y = 22 / 64
    kurt = 3 + 48 * (1 + 4 / 9) / (2 * (1 + 2 / 9)) ** 2  # 14.6
    k = 5  # 5 sigma: false-failure odds < 1e-6 per check (normal approximation)
    # se_n = s_n / sqrt(n), so ratio = 4 s_a / s_b and sd(log s_n) = sqrt((kurt - 1) / (4 n))
    for a, b in [(1_000, 16_000), (16_000, 256_000)]:
        ratio = ests[a][1] / ests[b][1]
        sd_log = np.sqrt((kurt - 1) / 4 * (1 / a + 1 / b))
        lo, hi = 4 * np.exp(-k * sd_log), 4 * np.exp(k * sd_log)  # sqrt(16) = 4
        assert lo < ratio < hi, (a, b, ratio, lo, hi)
    # analytic standard error (independent of the estimator's own se): 5 sqrt(Var Y / n)
    assert abs(ests[256_000][0] - exact) < k * np.sqrt(var_y / 256_000)


def test_kl_between_distribution_objects():
    from minigen import distributions as D

    p, q = np.array([0.2, 0.3, 0.5]), np.array([0.4, 0.4, 0.2])
    assert dv.kl_divergence(D.Categorical(probs=p), D.Categorical(logits=np.log(q))) == (
        pytest.approx(dv.kl_divergence(p, q)))
    np.testing.assert_allclose(dv.kl_divergence(D.Bernoulli(probs=[0.2, 0.9]),
                                                D.Bernoulli(logits=[0.0, 0.0])),
                               dv.kl_bernoulli(np.array([0.2, 0.9]), 0.5))
    kl = dv.kl_divergence(D.Normal([0.0, 1.0], [1.0, 2.0]), D.Normal([1.0, 1.0], [2.0, 2.0]))
    assert kl == pytest.approx(dv.kl_normal(0.0, 1.0, 1.0, 2.0))
    with pytest.raises(TypeError, match="kl_monte_carlo"):
        dv.kl_divergence(D.Normal([0.0], [1.0]), D.Categorical(probs=[1.0]))


def test_units():
    assert dv.nats_to_bits_per_dim(np.log(2) * 64, 64) == pytest.approx(1.0)
    np.testing.assert_allclose(dv.nats_to_bits_per_dim(np.array([0.0, np.log(4)]), 2), [0, 1])
    assert dv.bits_per_dim(np.full(5, -np.log(2) * 10), 10) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: dv.kl_divergence([-0.1, 1.1], [0.5, 0.5]), "p has negative"),
        (lambda: dv.kl_divergence([0.5, 0.5], [np.nan, 0.5]), "q contains NaN"),
        (lambda: dv.kl_divergence([0.5, 0.4], [0.5, 0.5]), "p rows must sum to 1"),
        (lambda: dv.kl_divergence([0.5, 0.5], [0.2, 0.3, 0.5]), "same shape"),
        (lambda: dv.entropy([0.0, 0.0]), "sum to 1"),
        (lambda: dv.kl_normal(0, -1, 0, 1), "s1"),
        (lambda: dv.kl_bernoulli(1.5, 0.5), "p must lie"),
        (lambda: dv.kl_monte_carlo(None, None, None, 10), "sample_p"),
        (lambda: dv.kl_monte_carlo(lambda n, r: r.random(n), np.log, np.log, 1), "n must be"),
        (lambda: dv.nats_to_bits_per_dim(1.0, 0), "n_dims"),
        (lambda: dv.bits_per_dim(np.array([np.nan]), 3), "NaN"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_entropy_validates_along_the_summed_axis():
    # columns are probability vectors, rows are not: axis=0 is valid, the default is not
    P = np.array([[0.2, 0.5, 1.0], [0.8, 0.5, 0.0]])
    expected = [-(0.2 * np.log(0.2) + 0.8 * np.log(0.8)), np.log(2.0), 0.0]
    np.testing.assert_allclose(dv.entropy(P, axis=0), expected)
    np.testing.assert_allclose(dv.entropy(P.T), expected)
    with pytest.raises(ValueError, match="sum to 1 along axis -1"):
        dv.entropy(P)
    with pytest.raises(ValueError, match="sum to 1 along axis 0"):
        dv.entropy(P.T, axis=0)
