import contextlib
import functools
import itertools

import numpy as np
import pytest

from minigen.backend import use_backend
from minigen.exceptions import NotFittedError
from minigen.models.ebm import BernoulliRBM
from minigen.models.ebm.ais import (
    ais_log_likelihood_bounds,
    ais_log_partition,
    beta_schedule,
    raise_log_likelihood,
    reverse_ais_log_partition,
)


@pytest.fixture(scope="module")
def digits_rbm():
    from minigen.datasets import load_digits

    X = np.asarray(load_digits(kind="binary", split="train"), float).reshape(-1, 64)
    Xt = np.asarray(load_digits(kind="binary", split="test"), float).reshape(-1, 64)
    with use_backend("numpy"):
        r = BernoulliRBM(n_components=20, max_epochs=5, batch_size=20, learning_rate=0.05,
                         momentum=0.5, method="cd", random_state=0).fit(X)
    return r, X, Xt


def test_ais_matches_exact_log_partition(digits_rbm):
    r, X, _ = digits_rbm
    exact = r.log_partition("exact")
    res = ais_log_partition(r, n_chains=100, n_betas=1000, data=X, random_state=1)
    err = abs(res.log_z - exact)
    # 100 independent AIS chains: the reported delta-method standard error of log(mean w)
    # (~0.017 here) covers the error within k = 5 SE (normal odds < 1e-6); the downward
    # bias of log(mean w), ~Var(log w) / (2 n_chains) ~ 1e-4, is far below one SE.
    assert err <= 5 * res.stderr, (res.log_z, exact, res.stderr)
    assert np.isfinite(res.log_weights).all()


def test_reverse_ais_and_sandwich(digits_rbm):
    r, X, Xt = digits_rbm
    exact = r.log_partition("exact")
    rev = reverse_ais_log_partition(r, X[:100], n_betas=1000, random_state=2)
    # reverse AIS from 100 training points: within 5 of its own standard errors here (the
    # observed error is ~1 SE; from data it is an estimate, not a bound)
    assert abs(rev.log_z - exact) < 5 * rev.stderr, (rev.log_z, exact, rev.stderr)
    b = ais_log_likelihood_bounds(r, Xt, n_chains=100, n_betas=1000, data=X, random_state=3)
    ll = r.score_samples(Xt)
    assert b["n_points"] == 100
    # RAISE on the first 100 test rows is a stochastic lower bound on their mean; forward
    # AIS's log Z estimate is below log Z in expectation: 5 SEs on either side
    assert b["lower"] <= float(ll[:100].mean()) + 5 * b["lower_stderr"], (b, ll[:100].mean())
    assert float(ll.mean()) <= b["upper"] + 5 * b["stderr_forward"], (b, ll.mean())
    assert b["upper_subset"] == pytest.approx(float(ll[:100].mean()) + exact - b["log_z_forward"])


def test_beta_schedule_and_errors():
    for kind in ("linear", "geometric", "piecewise"):
        for n in (2, 3, 4, 5, 50, 14501):
            b = beta_schedule(n, kind)
            assert len(b) == n and b[0] == 0 and b[-1] == 1 and (np.diff(b) > 0).all()
    # Salakhutdinov & Murray's pieces: 500, 4,000, 10,000 of 14,500 steps, and the default
    b = beta_schedule(14501)
    steps = np.diff(b)
    assert [int((steps[b[:-1] < 0.5]).size), int(((b[:-1] >= 0.5) & (b[:-1] < 0.9)).sum()),
            int((b[:-1] >= 0.9).sum())] == [500, 4000, 10000]
    assert np.allclose(b[[500, 4500]], [0.5, 0.9])
    with pytest.raises(ValueError, match="schedule"):
        beta_schedule(10, "cosine")
    with pytest.raises(ValueError, match="n_betas"):
        beta_schedule(1)


# ------------------------------------------------------------ audit 2: validation
def _small_rbm(V=6):
    X = (np.random.default_rng(0).random((40, V)) < 0.5).astype(float)
    return BernoulliRBM(n_components=4, max_epochs=2, batch_size=10, random_state=0).fit(X), X


def test_ais_refuses_a_gaussian_bernoulli_rbm():
    """The Bernoulli-visible annealing path gave 7.18 for a GB-RBM whose exact log Z is 8.33."""
    from minigen.models.ebm import GaussianBernoulliRBM

    g = GaussianBernoulliRBM(n_components=4, max_epochs=2, batch_size=10, random_state=0)
    g.fit(np.random.default_rng(0).normal(size=(40, 6)))
    X = np.zeros((3, 6))
    for call in (lambda: ais_log_partition(g, n_chains=5, n_betas=10),
                 lambda: reverse_ais_log_partition(g, X, n_betas=10),
                 lambda: ais_log_likelihood_bounds(g, X, n_chains=5, n_betas=10)):
        with pytest.raises(TypeError, match="BernoulliRBM only, got GaussianBernoulliRBM"):
            call()


def test_ais_on_unfitted_rbm_says_not_fitted():
    with pytest.raises(NotFittedError, match="not fitted"):
        ais_log_partition(BernoulliRBM(), n_chains=5, n_betas=10)
    with pytest.raises(NotFittedError, match="not fitted"):
        reverse_ais_log_partition(BernoulliRBM(), np.zeros((2, 6)), n_betas=10)


@pytest.mark.parametrize("data,msg", [
    (np.full((3, 6), np.nan), "data contains NaN"),
    (np.zeros((3, 7)), r"data must have shape \(n >= 1, 6\).*got \(3, 7\)"),
    (np.zeros((0, 6)), r"data must have shape \(n >= 1, 6\)"),
    (np.full((3, 6), 2.0), r"values in \[0, 1\]"),
])
def test_ais_bad_data_is_a_clear_error(data, msg):
    r, _ = _small_rbm()
    with pytest.raises(ValueError, match=msg):
        ais_log_partition(r, n_chains=5, n_betas=10, data=data)
    with pytest.raises(ValueError, match=msg.replace("data", "base_data")):
        reverse_ais_log_partition(r, np.zeros((2, 6)), n_betas=10, base_data=data)


def test_ais_base_data_may_hold_probabilities():
    r, X = _small_rbm()
    res = ais_log_partition(r, n_chains=5, n_betas=10, data=np.full((3, 6), 0.3))
    assert np.isfinite(res.log_z)


@pytest.mark.parametrize("data,msg", [
    (np.zeros((3, 7)), "X has 7 features, but BernoulliRBM is expecting 6"),
    (np.full((3, 6), np.nan), "NaN"),
    (np.zeros((0, 6)), "at least one row"),
])
def test_reverse_ais_bad_start_states_are_a_clear_error(data, msg):
    r, _ = _small_rbm()
    with pytest.raises(ValueError, match=msg):
        reverse_ais_log_partition(r, data, n_betas=10)
    if data.shape[0]:
        with pytest.raises(ValueError, match=msg):
            ais_log_likelihood_bounds(r, data, n_chains=5, n_betas=10)


# ------------------------------------------------ RAISE against exact densities
# A 10x6 RBM with N(0, 1) weights and biases: entropy 4.4 nats of the 6.9 of 2^10 states,
# so the distribution is far from uniform and from a point mass. Every density below is
# exact by enumerating the 2^10 visible states, the annealing model included.
# Thresholds: k = 4 standard errors, one-sided (normal tail 3e-5); the per-point values
# are bounded and n = 300, so their mean is normal to that precision.
K_SE = 4.0


def _states(n):
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


@pytest.fixture(scope="module")
def tiny_rbm():
    rng = np.random.default_rng(0)
    V, H = 10, 6
    r = BernoulliRBM(n_components=H, max_epochs=1, batch_size=10, random_state=0,
                     verbose=False).fit((rng.random((20, V)) < 0.5).astype(float))
    r.W_, r.b_, r.c_ = rng.normal(size=(V, H)), rng.normal(size=V), rng.normal(size=H)
    S = _states(V)
    log_p = -r.free_energy(S) - r.log_partition("exact")
    model = S[rng.choice(len(S), 300, p=np.exp(log_p))]  # exact draws of the RBM
    noise = (rng.random((300, V)) < 0.6).astype(float)  # biased coin flips: off the model
    return r, S, log_p, {"model": model, "noise": noise}


def _index(X):
    return (X @ (2.0 ** np.arange(X.shape[1] - 1, -1, -1))).astype(int)  # row of _states


def _one_blas_thread():
    try:  # 2 BLAS threads on tiny products of a loaded 2-core machine: 30x slower
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1)


TINY = "geometric"


@pytest.fixture(scope="module")
def log_p_ann(tiny_rbm):
    """``log_p_ann(n_betas)``: log of the exact annealing model of the RBM, (2^V,), on
    the geometric schedule (``TINY``): at 20 temperatures it is far from the RBM, so the
    tests below can tell the annealing model from the RBM (the piecewise default is
    already close to it there)."""
    r = tiny_rbm[0]

    @functools.cache
    def f(n_betas):
        with _one_blas_thread():
            return np.log(_annealing_model(r, beta_schedule(n_betas, TINY), r.b_))

    return f


def _annealing_model(r, betas, bA):
    r"""Exact :math:`p_{ann}`: :math:`p_A` pushed through the block-Gibbs kernels at
    ``betas[1:-1]`` (the state forward AIS weighs at beta = 1), as (2^V,) probabilities."""
    V, H = r.W_.shape
    S, Hs = _states(V), _states(H)
    p = np.exp(S @ bA - np.logaddexp(0, bA).sum())
    for bk in betas[1:-1]:
        ph = 1 / (1 + np.exp(-bk * (S @ r.W_ + r.c_)))
        p_h_given_v = np.exp(np.log(ph) @ Hs.T + np.log1p(-ph) @ (1 - Hs).T)
        pv = 1 / (1 + np.exp(-((1 - bk) * bA + bk * (r.b_ + Hs @ r.W_.T))))
        p_v_given_h = np.exp(np.log(pv) @ S.T + np.log1p(-pv) @ (1 - S).T)
        p = (p @ p_h_given_v) @ p_v_given_h
    return p


def test_raise_is_unbiased_for_the_annealing_model(tiny_rbm, log_p_ann):
    """E p_hat(v) = p_ann(v), per point: checks the weight's index alignment. 20 betas
    make p_ann far from the RBM (p_B differs by 50+ standard errors at these points), so
    a weight that estimated p_B, or dropped / shifted one temperature's term, fails."""
    r, S, log_p, _ = tiny_rbm
    n_betas, m = 20, 2000
    p_ann = np.exp(log_p_ann(n_betas))
    idx = [0, 1023, int(np.argmax(log_p)), 300]
    res = raise_log_likelihood(r, S[idx], n_chains_per_point=m, n_betas=n_betas, schedule=TINY,
                               random_state=3, verbose=False)
    assert res.log_weights.shape == (4, m)
    p_hat = np.exp(-r.free_energy(S[idx])[:, None] - res.log_z_base + res.log_weights)
    se = p_hat.std(axis=1, ddof=1) / np.sqrt(m)
    # two-sided, 4 points: 4.5 SE (normal odds 3e-5 in all); sd(log w) ~ 0.6, so the
    # weights are light-tailed and the mean of 2000 normal
    assert (abs(p_hat.mean(axis=1) - p_ann[idx]) < 4.5 * se).all(), (
        p_hat.mean(axis=1), p_ann[idx], se)
    assert (abs(np.exp(log_p[idx]) - p_ann[idx]) > 20 * se).all()  # the test can tell
    # the per-point estimate is log mean_r p_hat_r
    np.testing.assert_allclose(res.log_likelihoods, np.log(p_hat.mean(axis=1)), rtol=1e-12)


@pytest.mark.parametrize("data", ["model", "noise"])
def test_raise_bounds_the_annealing_model_from_below(tiny_rbm, log_p_ann, data):
    """mean log p_hat <= mean log p_ann (Jensen), paired per point, for exact model draws
    and for data far from the model. 20 betas, so p_ann / p_B varies across the points
    (sd 0.7-1 nats): the pooled reverse-AIS formula, -F(v) - (log Z_A - logmeanexp of all
    chains' weights), then lands 5-7 of its standard errors above (+0.28 / +0.40 nats)."""
    r, S, _, sets = tiny_rbm
    X = sets[data]
    n_betas = 20
    log_ann = log_p_ann(n_betas)[_index(X)]
    res = raise_log_likelihood(r, X, n_betas=n_betas, schedule=TINY, random_state=1, verbose=False)
    d = res.log_likelihoods - log_ann  # same points: only the chains' noise is left
    assert d.mean() <= K_SE * d.std(ddof=1) / np.sqrt(len(d)), (d.mean(), d.std())


def test_raise_from_model_draws_is_close_to_exact(tiny_rbm, log_p_ann):
    """From exact model draws and 1000 betas, RAISE is within k SE plus its two known gaps
    of the exact mean: the annealing gap mean(log p_B - log p_ann) (exact, 0.0003 nats
    here) and the Jensen gap E log p_hat - log p_ann ~ -Var(log p_hat)/2 (estimated by the
    spread of log p_hat - log p_ann over the points)."""
    r, S, log_p, sets = tiny_rbm
    X = sets["model"]
    n_betas = 1000
    log_ann = log_p_ann(n_betas)[_index(X)]
    res = raise_log_likelihood(r, X, n_betas=n_betas, schedule=TINY, random_state=4, verbose=False)
    exact = log_p[_index(X)]
    d = res.log_likelihoods - log_ann
    tol = (K_SE * d.std(ddof=1) / np.sqrt(len(d)) + d.var(ddof=1) / 2
           + abs((exact - log_ann).mean()))
    assert abs(res.mean - exact.mean()) <= tol, (res.mean, exact.mean(), tol)
    assert tol < 0.1  # 0.04 here: RAISE's unpaired s.e. alone is 0.09


@pytest.mark.parametrize("data", ["model", "noise"])
def test_likelihood_bounds_sandwich_the_exact_log_likelihood(tiny_rbm, log_p_ann, data):
    """ais_log_likelihood_bounds with 1000 betas, where p_ann is within 0.08 nats of the
    RBM on both sets (exact; 100 betas leave it +0.53 nats above the RBM on the noise,
    where a bound on p_ann is no bound on p_B): lower <= exact + k SE, upper >= exact - k SE.
    The pooled formula passes here too: pooling costs only when p_ann / p_B varies."""
    r, S, log_p, sets = tiny_rbm
    X = sets[data]
    exact = float(log_p[_index(X)].mean())
    b = ais_log_likelihood_bounds(r, X, n_chains=300, n_betas=1000, schedule=TINY,
                                  random_state=5, verbose=False)
    assert b["n_points"] == 300 and b["upper_subset"] == pytest.approx(b["upper"])
    assert b["lower"] <= exact + K_SE * b["lower_stderr"], (b, exact)
    assert b["upper"] >= exact - K_SE * b["stderr_forward"], (b, exact)
    assert abs(log_p_ann(1000)[_index(X)].mean() - exact) < 0.08  # the premise


def test_raise_bad_input_is_a_clear_error(tiny_rbm):
    r, S, _, _ = tiny_rbm
    with pytest.raises(ValueError, match="n_chains_per_point"):
        raise_log_likelihood(r, S[:2], n_chains_per_point=0, n_betas=10)
    with pytest.raises(ValueError, match="at least one row"):
        raise_log_likelihood(r, S[:0], n_betas=10)
    with pytest.raises(ValueError, match="binary"):
        raise_log_likelihood(r, S[:2] * 0.5, n_betas=10)
    with pytest.raises(ValueError, match=r"base_data must have shape"):
        raise_log_likelihood(r, S[:2], n_betas=10, base_data=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="n_points"):
        ais_log_likelihood_bounds(r, S[:2], n_chains=2, n_betas=10, n_points=0)
    with pytest.raises(ValueError, match="n_points must be <= the 2 rows of X, got 3"):
        ais_log_likelihood_bounds(r, S[:2], n_chains=2, n_betas=10, n_points=3)
    with pytest.raises(ValueError, match="schedule"):
        ais_log_likelihood_bounds(r, S[:2], n_chains=2, n_betas=10, schedule="cosine")


@pytest.fixture(scope="module")
def sharp_digits_rbm():
    """An RBM trained long with PCD (sharp conditionals), whose geometric-schedule
    annealing model is likelier than the RBM on test digits."""
    from minigen.datasets import load_digits

    X = np.asarray(load_digits(kind="binary", split="train"), float).reshape(-1, 64)
    Xt = np.asarray(load_digits(kind="binary", split="test"), float).reshape(-1, 64)
    with use_backend("numpy"):
        r = BernoulliRBM(n_components=20, max_epochs=100, batch_size=20, learning_rate=0.05,
                         method="pcd", random_state=0, verbose=False).fit(X)
    return r, X, Xt


def test_default_schedule_sandwiches_where_geometric_crosses(sharp_digits_rbm):
    """The bounds' paired gap (forward log p - RAISE log p per test digit) must not be
    negative beyond noise. With the geometric ramp (~1% of temperatures above 0.9) it is:
    -0.3 nats at 1,000 temperatures, ~7 of its standard errors on 500 digits, and RAISE
    comes out above the exact log-likelihood; the piecewise default puts 69% of them
    above 0.9."""
    r, X, Xt = sharp_digits_rbm
    exact = (-r.free_energy(Xt) - r.log_partition("exact")).mean()
    kw = dict(n_chains=100, n_betas=1000, n_points=len(Xt), data=X, random_state=0,
              verbose=False)
    b = ais_log_likelihood_bounds(r, Xt, **kw)
    assert b["gap"] >= -3 * b["gap_stderr"], b
    assert abs(b["upper"] - exact) < 5 * b["stderr_forward"], (b, exact)
    g = ais_log_likelihood_bounds(r, Xt, schedule="geometric", **kw)
    assert g["gap"] < -3 * g["gap_stderr"], g
    assert b["gap"] - g["gap"] > 3 * np.hypot(b["gap_stderr"], g["gap_stderr"]), (b, g)
    # the schedule reaches both runs: the forward log Z is the standalone run's
    fwd = ais_log_partition(r, n_chains=100, n_betas=1000, schedule="geometric", data=X,
                            random_state=0, verbose=False)
    assert g["log_z_forward"] == fwd.log_z
