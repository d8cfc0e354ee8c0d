"""Factorized baselines: closed-form MLE, exact normalization, sampling frequencies, save/load."""

import itertools

import numpy as np
import pytest

from minigen.base import GenerativeModel
from minigen.exceptions import NotFittedError
from minigen.models import get_model_class
from minigen.models.baseline import FactorizedBernoulli, FactorizedCategorical


def test_registry_names():
    assert get_model_class("baseline") is FactorizedCategorical
    assert get_model_class("baseline-bernoulli") is FactorizedBernoulli


def test_bernoulli_mle_with_laplace():
    X = np.array([[1, 0, 1], [1, 0, 0], [1, 1, 0], [0, 0, 0]], dtype=float)
    m = FactorizedBernoulli(alpha=1.0).fit(X)
    np.testing.assert_allclose(m.p_, [(3 + 1) / 6, (1 + 1) / 6, (1 + 1) / 6])
    m0 = FactorizedBernoulli(alpha=0.0).fit(X)
    np.testing.assert_allclose(m0.p_, X.mean(axis=0))
    m1 = FactorizedBernoulli(alpha=0.0).fit(np.array([[1.0, 0.0], [1.0, 1.0]]))
    assert m1.score_samples(np.array([[0.0, 1.0]]))[0] == -np.inf


@pytest.mark.parametrize("cls", [FactorizedBernoulli, FactorizedCategorical])
def test_normalized_exactly(cls):
    rng = np.random.default_rng(0)
    X = (rng.random((50, 4)) < [0.2, 0.5, 0.7, 0.9]).astype(float)
    m = cls().fit(X)
    allx = np.array(list(itertools.product([0, 1], repeat=4)), dtype=float)
    assert np.exp(m.score_samples(allx)).sum() == pytest.approx(1.0, abs=1e-12)


def test_categorical_equals_bernoulli_on_binary():
    rng = np.random.default_rng(1)
    X = (rng.random((80, 5, 2)) < 0.3).astype(float)
    a, b = FactorizedBernoulli(alpha=0.5).fit(X), FactorizedCategorical(alpha=0.5).fit(X)
    np.testing.assert_allclose(a.score_samples(X), b.score_samples(X), rtol=1e-12)


def test_categorical_normalized_and_sampling_frequencies():
    rng = np.random.default_rng(2)
    p = np.array([0.1, 0.6, 0.0, 0.3])
    X = rng.choice(4, size=(400, 3), p=p)
    m = FactorizedCategorical(n_categories=4, alpha=0.0).fit(X)
    allx = np.array(list(itertools.product(range(4), repeat=3)))
    assert np.exp(m.score_samples(allx)).sum() == pytest.approx(1.0, abs=1e-12)
    n = 20_000
    S = m.sample(n, random_state=3)
    assert S.shape == (n, 3) and S.dtype == np.int64
    assert not (S == 2).any()  # zero-probability level never drawn
    freq = np.stack([(S == k).mean(axis=0) for k in range(4)], axis=1)
    se = np.sqrt(m.probs_ * (1 - m.probs_) / n)
    assert np.all(np.abs(freq - m.probs_) <= 5 * se + 1e-12)


def test_bernoulli_sampling_frequencies_and_shape():
    X = np.zeros((10, 2, 3))
    X[:7, 0, 0] = 1
    m = FactorizedBernoulli(alpha=0.0).fit(X)
    n = 10_000
    S = m.sample(n, random_state=0)
    assert S.shape == (n, 2, 3)
    assert abs(S[:, 0, 0].mean() - 0.7) < 5 * np.sqrt(0.21 / n)
    assert S[:, 1].sum() == 0
    np.testing.assert_array_equal(S, m.sample(n, random_state=0))


@pytest.mark.parametrize("cls", [FactorizedBernoulli, FactorizedCategorical])
def test_save_load_roundtrip(tmp_path, cls):
    rng = np.random.default_rng(4)
    X = (rng.random((30, 4, 4)) < 0.4).astype(float)
    m = cls(alpha=0.3).fit(X)
    path = m.save(tmp_path / "m.npz")
    m2 = GenerativeModel.load(path)
    assert type(m2) is cls and m2.alpha == 0.3 and m2.event_shape_ == (4, 4)
    np.testing.assert_array_equal(m.score_samples(X), m2.score_samples(X))
    assert m2.sample(2, random_state=0).shape == (2, 4, 4)


def test_digits17_categorical_levels():
    X = np.random.default_rng(5).integers(0, 17, size=(60, 8))
    m = FactorizedCategorical().fit(X)
    assert m.n_categories_ == 17 and m.probs_.shape == (8, 17)


def test_bad_input():
    with pytest.raises(ValueError, match="binary"):
        FactorizedBernoulli().fit(np.array([[0.0, 2.0]]))
    with pytest.raises(ValueError, match="alpha"):
        FactorizedBernoulli(alpha=-1).fit(np.array([[0.0, 1.0]]))
    with pytest.raises(ValueError, match="integer levels"):
        FactorizedCategorical().fit(np.array([[0.5, 1.0]]))
    with pytest.raises(ValueError, match="n_categories is 2"):
        FactorizedCategorical(n_categories=2).fit(np.array([[0, 3]]))
    with pytest.raises(NotFittedError, match="not fitted"):
        FactorizedBernoulli().sample(3)
    m = FactorizedBernoulli().fit(np.array([[0.0, 1.0]]))
    with pytest.raises(ValueError, match="X has 3 features, but FactorizedBernoulli is "
                       "expecting 2"):
        m.score_samples(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="n_samples"):
        m.sample(0)
    with pytest.raises(ValueError, match="X must have shape"):
        m.score_samples(np.zeros(2))


@pytest.mark.parametrize("bad", [10.0**12, 1e30, 65536.0])
def test_categorical_refuses_huge_inferred_level_count(bad):
    # K = max(X) + 1 would allocate a (D, K) table; 1e30 used to wrap in the int64 cast
    X = np.array([[0.0, 1.0], [2.0, bad]])
    with pytest.raises(ValueError, match="pass n_categories explicitly"):
        FactorizedCategorical().fit(X)


def test_categorical_inference_limit_and_explicit_k():
    X = np.array([[0, 65535]])
    assert FactorizedCategorical().fit(X).n_categories_ == 65536  # at the limit: fine
    with pytest.raises(ValueError, match="n_categories is 3"):
        FactorizedCategorical(n_categories=3).fit(np.array([[0.0, 1e12]]))


@pytest.mark.parametrize("bad", [-1.0, 0.5])
def test_categorical_rejects_negative_and_fractional_levels(bad):
    with pytest.raises(ValueError, match="integer"):
        FactorizedCategorical().fit(np.array([[0.0, bad]]))
    with pytest.raises(ValueError, match="integer"):
        FactorizedCategorical(n_categories=3).fit(np.array([[0.0, bad]]))
