import numpy as np
import pytest

from minigen.distributions import boltzmann as bz
from minigen.exceptions import NotFittedError
from minigen.models import get_model_class
from minigen.models.ebm import BoltzmannMachine


def target_data(n=8, m=400, seed=0):
    r = np.random.default_rng(seed)
    J = np.triu(r.normal(0, 0.8, (n, n)), 1)
    J = J + J.T
    h = r.normal(0, 0.5, n)
    p = bz.exact_probabilities(J, h)
    idx = r.choice(2**n, size=m, p=p)
    return bz.all_states(n)[idx], J, h


def test_exact_gradient_matches_finite_differences():
    X, J, h = target_data(6, 50)
    bm = BoltzmannMachine.from_parameters(0.3 * J, 0.5 * h)
    loss, g = bm.loss_and_grads(X)
    eps = 1e-6
    for (i, j) in [(0, 1), (2, 5)]:
        Jp = bm.coupling_.copy()
        Jp[i, j] += eps
        Jp[j, i] += eps
        lp = BoltzmannMachine.from_parameters(Jp, bm.bias_).loss_and_grads(X)[0]
        # symmetric perturbation moves both entries: derivative = g_ij + g_ji
        assert np.isclose((lp - loss) / eps, 2 * g["J"][i, j], atol=1e-4)
    assert np.isclose(loss, -bm.score_samples(X).mean())


def test_mle_reaches_data_moments():
    X, J, h = target_data(8, 2000, seed=1)
    bm = BoltzmannMachine(max_epochs=300, learning_rate=2.0).fit(X)
    m1, m2 = bz.exact_moments(bm.coupling_, bm.bias_)
    np.testing.assert_allclose(m1, X.mean(0), atol=2e-3)
    off = ~np.eye(8, dtype=bool)
    np.testing.assert_allclose(m2[off], (X.T @ X / len(X))[off], atol=2e-3)
    assert bm.loss_curve_[-1] < bm.loss_curve_[0]
    np.testing.assert_allclose(bm.coupling_, bm.coupling_.T)
    assert (np.diag(bm.coupling_) == 0).all()


def test_sampling_and_registry(tmp_path):
    _, J, h = target_data(6)
    bm = BoltzmannMachine.from_parameters(J, h)
    n = 20000
    S = bm.sample(n, random_state=0, n_sweeps=20)  # n independent chains (iid draws, assuming
    p = bz.exact_probabilities(J, h)                # 20 sweeps reach stationarity)
    tv = bz.tv_distance(p, bz.empirical_distribution(S, 6))
    # E[TV] <= 0.5 sum_x sqrt(p(1-p)/n) (Jensen; 0.025) and, TV having bounded differences 1/n,
    # McDiarmid: P(TV > E[TV] + t) <= exp(-2 n t^2) = 1e-6 at t = sqrt(ln(1e6) / (2n)) (0.019)
    bound = 0.5 * np.sqrt(p * (1 - p) / n).sum() + np.sqrt(np.log(1e6) / (2 * n))
    assert tv < bound, (tv, bound)
    assert get_model_class("bm") is BoltzmannMachine
    bm.save(tmp_path / "bm.npz")
    bm2 = BoltzmannMachine.load(tmp_path / "bm.npz")
    np.testing.assert_array_equal(bm2.coupling_, J)


def test_errors():
    with pytest.raises(ValueError, match="symmetric"):
        BoltzmannMachine.from_parameters(np.array([[0, 1.0], [2.0, 0]]), np.zeros(2))
    with pytest.raises(ValueError, match="binary"):
        BoltzmannMachine(max_epochs=2).fit(np.full((3, 2), 0.5))
    with pytest.raises(NotFittedError, match="not fitted"):
        BoltzmannMachine().score_samples(np.zeros((1, 2)))


# ------------------------------------------------------------ audit 2: validation
def _fitted_bm():
    X = (np.random.default_rng(0).random((40, 6)) < 0.5).astype(float)
    return BoltzmannMachine(max_epochs=3).fit(X)


@pytest.mark.parametrize("method", ["energy", "score_samples"])
def test_wrong_width_is_a_clear_error(method):
    with pytest.raises(
        ValueError, match="X has 5 features, but BoltzmannMachine is expecting 6 features"
    ):
        getattr(_fitted_bm(), method)(np.zeros((2, 5)))


def test_unfitted_energy_and_log_partition_say_not_fitted():
    with pytest.raises(NotFittedError, match="not fitted"):
        BoltzmannMachine().energy(np.zeros((2, 5)))
    with pytest.raises(NotFittedError, match="not fitted"):
        BoltzmannMachine().log_partition()


@pytest.mark.parametrize("shape", [(0, 4), (3, 0)])
def test_fit_on_empty_data_is_a_clear_error(shape):
    with pytest.raises(ValueError, match="X must not be empty"):
        BoltzmannMachine(max_epochs=3).fit(np.zeros(shape))


def test_refit_on_new_width_rebuilds():
    bm = _fitted_bm()
    bm.fit(np.ones((5, 4)))
    assert bm.coupling_.shape == (4, 4)


@pytest.mark.parametrize("n_sweeps,exc", [(0, ValueError), (-3, ValueError), (1.5, TypeError)])
def test_sample_n_sweeps_is_named_in_the_error(n_sweeps, exc):
    with pytest.raises(exc, match="n_sweeps"):
        _fitted_bm().sample(2, n_sweeps=n_sweeps)
    assert _fitted_bm().sample(2, n_sweeps=1).shape == (2, 6)


def test_divergence_stops_with_the_last_good_parameters():
    from minigen.training import TrainingDiverged

    X = (np.random.default_rng(0).random((200, 6)) < 0.3).astype(float)
    m = BoltzmannMachine(learning_rate=1e6, max_epochs=50, random_state=0)
    with pytest.raises(TrainingDiverged, match="learning_rate") as info:
        m.fit(X)
    assert info.value.epoch == 1  # the first step overshoots; its loss shows in epoch 1
    # restored: the parameters the first (finite, small) loss was computed at, the initial
    # zeros (uniform over 2^6 states), so the model is not fitted
    first = BoltzmannMachine(learning_rate=1e6, max_epochs=1, random_state=0).fit(X)
    assert abs(first.loss_curve_[0] - 6 * np.log(2)) < 1e-9
    assert not m.fitted_ and not m.coupling_.any() and not m.bias_.any()
    assert m.history_.epochs == 0
    # a workable rate still trains: the convex NLL decreases
    ok = BoltzmannMachine(learning_rate=1.0, max_epochs=50, random_state=0).fit(X)
    assert ok.loss_curve_[-1] < ok.loss_curve_[0]
