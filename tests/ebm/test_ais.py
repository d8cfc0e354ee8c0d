import numpy as np
import pytest

from minigen.backend import use_backend
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
        r = BernoulliRBM(n_components=20, n_iter=5, batch_size=20, learning_rate=0.05,
                         momentum=0.5, method="cd", random_state=0).fit(X)
    return r, X, Xt


def test_ais_matches_exact_log_partition(digits_rbm):
    r, X, _ = digits_rbm
    exact = r.log_partition("exact")
    res = ais_log_partition(r, n_chains=100, n_betas=1000, data=X, random_state=1)
    err = abs(res.log_z - exact)
    assert err <= 0.1, (res.log_z, exact)
    # the reported standard error covers the error (3 SE, with a floor for tiny SEs)
    assert err <= 3 * res.stderr + 0.02, (err, res.stderr)
    assert np.isfinite(res.log_weights).all()


def test_reverse_ais_and_sandwich(digits_rbm):
    r, X, Xt = digits_rbm
    exact = r.log_partition("exact")
    rev = reverse_ais_log_partition(r, X[:100], n_betas=1000, random_state=2)
    assert abs(rev.log_z - exact) < 0.5
    b = ais_log_likelihood_bounds(r, Xt, n_chains=100, n_betas=1000, data=X, random_state=3)
    ll = float(r.score_samples(Xt).mean())
    assert b["lower"] - 0.1 <= ll <= b["upper"] + 0.1


def test_beta_schedule_and_errors():
    for kind in ("linear", "geometric"):
        b = beta_schedule(50, kind)
        assert b[0] == 0 and b[-1] == 1 and (np.diff(b) > 0).all()
    with pytest.raises(ValueError, match="schedule"):
        beta_schedule(10, "cosine")
    with pytest.raises(ValueError, match="n_betas"):
        beta_schedule(1)
