import numpy as np
import pytest

from minigen.backend import use_backend
from minigen.exceptions import NotFittedError
from minigen.models.ebm import BernoulliRBM
from minigen.models.ebm.ais import (
    ais_log_likelihood_bounds,
    ais_log_partition,
    beta_schedule,
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
    # reverse AIS from 100 data points: within 5 of its own standard errors (as above;
    # assumes the data points stand in for model samples - the observed error is ~1 SE)
    assert abs(rev.log_z - exact) < 5 * rev.stderr, (rev.log_z, exact, rev.stderr)
    b = ais_log_likelihood_bounds(r, Xt, n_chains=100, n_betas=1000, data=X, random_state=3)
    ll = float(r.score_samples(Xt).mean())
    # stochastic sandwich: each side is a log Z estimate, so its error is 5 of its SEs
    assert b["lower"] - 5 * b["stderr_reverse"] <= ll <= b["upper"] + 5 * b["stderr_forward"], (
        b, ll)


def test_beta_schedule_and_errors():
    for kind in ("linear", "geometric"):
        b = beta_schedule(50, kind)
        assert b[0] == 0 and b[-1] == 1 and (np.diff(b) > 0).all()
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
