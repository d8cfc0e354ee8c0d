"""Shared AR base: validation, orderings, sampling reproducibility, completion, anomalies."""

import numpy as np
import pytest

from minigen.base import GenerativeModel
from minigen.datasets import load_dataset
from minigen.exceptions import NotFittedError
from minigen.models.autoregressive import FVSBN, resolve_ordering

from .ar_property import check_autoregressive_model


@pytest.fixture(scope="module")
def bars():
    return load_dataset("bars-stripes4", "train")


@pytest.fixture(scope="module")
def fitted(bars):
    return FVSBN().set_params(max_epochs=20, learning_rate=0.05, random_state=0).fit(bars)


def test_resolve_ordering():
    assert resolve_ordering("natural", 4, None).tolist() == [0, 1, 2, 3]
    r = resolve_ordering("random", 5, np.random.default_rng(0))
    assert sorted(r.tolist()) == list(range(5))
    assert resolve_ordering([2, 0, 1], 3, None).tolist() == [2, 0, 1]
    for bad in ([0, 0, 1], [0, 1], [0, 1, 3], [[0, 1, 2]], [0.5, 1, 2]):
        with pytest.raises(ValueError, match="ordering must be a permutation"):
            resolve_ordering(bad, 3, None)
    with pytest.raises(ValueError, match="ordering"):
        resolve_ordering("zigzag", 3, None)


def test_bad_ordering_in_model(bars):
    with pytest.raises(ValueError, match="ordering must be a permutation"):
        FVSBN(ordering=[0] * 16).set_params(max_epochs=1).fit(bars)


def test_bad_inputs(fitted, bars):
    with pytest.raises(ValueError, match="X has examples of shape \\(5, 5\\)"):
        fitted.score_samples(np.zeros((3, 5, 5)))
    with pytest.raises(ValueError, match="outside the model's alphabet 0..1"):
        fitted.score_samples(np.full((3, 4, 4), 2.0))
    with pytest.raises(ValueError, match="integer values"):
        fitted.score_samples(np.full((3, 4, 4), 0.5))
    with pytest.raises(ValueError, match="n_samples"):
        fitted.sample(0)
    with pytest.raises(ValueError, match="temperature"):
        fitted.sample(2, temperature=0.0)
    with pytest.raises(ValueError, match="observed_mask"):
        fitted.complete(bars[:2], np.ones((2, 16), bool))
    with pytest.raises(NotFittedError, match="not fitted"):
        FVSBN().sample(2)
    # flat rows of the right width are accepted
    np.testing.assert_allclose(fitted.score_samples(bars[:5].reshape(5, -1)),
                               fitted.score_samples(bars[:5]))


def test_sampling_reproducible_and_temperature(fitted):
    a = fitted.sample(50, random_state=3)
    b = fitted.sample(50, random_state=3)
    assert a.shape == (50, 4, 4) and a.dtype == np.int64
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, fitted.sample(50, random_state=4))
    # low temperature concentrates mass: the mean log-likelihood of samples goes up
    cold = fitted.score_samples(fitted.sample(400, random_state=5, temperature=0.3)).mean()
    warm = fitted.score_samples(fitted.sample(400, random_state=5, temperature=1.0)).mean()
    hot = fitted.score_samples(fitted.sample(400, random_state=5, temperature=3.0)).mean()
    assert cold > warm > hot


def test_complete_keeps_observed(fitted, bars):
    X = bars[:20]
    M = np.zeros(X.shape, bool)
    M[:, :2, :] = True  # top half observed
    Y = fitted.complete(np.where(M, X, 7), M, random_state=0)  # junk in the holes is ignored
    np.testing.assert_array_equal(Y[M], X[M])
    assert Y.shape == X.shape and set(np.unique(Y)) <= {0, 1}
    np.testing.assert_array_equal(Y, fitted.complete(X, M, random_state=0))


def test_anomalies(fitted, bars):
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 2, size=(200, 4, 4))
    scores = fitted.anomaly_scores(noise)
    assert scores.shape == (200,)
    flags = fitted.flag_anomalies(noise, bars[:300], quantile=0.99)
    normal = fitted.flag_anomalies(bars[300:600], bars[:300], quantile=0.99)
    assert flags.mean() > 0.5 and normal.mean() < 0.05
    with pytest.raises(ValueError, match="quantile"):
        fitted.flag_anomalies(noise, bars, quantile=1.5)
    with pytest.raises(ValueError, match=r"X_valid has examples of shape \(5,\)"):
        fitted.flag_anomalies(noise, np.zeros((3, 5)))


@pytest.mark.parametrize("bad, err", [(0, ValueError), (-1, ValueError), (2.5, TypeError)])
def test_score_batch_size_validated(bars, bad, err):
    model = FVSBN().set_params(max_epochs=1, random_state=0).fit(bars[:32])
    ref = model.score_samples(bars[:8])
    model.score_batch_size = bad
    with pytest.raises(err, match="score_batch_size"):
        model.score_samples(bars[:4])
    model.score_batch_size = 3  # batching does not change the scores
    np.testing.assert_allclose(model.score_samples(bars[:8]), ref, rtol=1e-12)


def test_save_load_roundtrip(fitted, bars, tmp_path):
    path = fitted.save(tmp_path / "m.npz")
    m2 = GenerativeModel.load(path)
    assert isinstance(m2, FVSBN)
    np.testing.assert_allclose(m2.score_samples(bars[:50]), fitted.score_samples(bars[:50]))
    np.testing.assert_array_equal(m2.sample(5, random_state=1), fitted.sample(5, random_state=1))


def test_categorical_inferred_k_and_random_order(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 5, size=(200, 3, 2))
    m = FVSBN(ordering="random").set_params(max_epochs=2, random_state=0).fit(X)
    assert m.n_categories_ == 5 and m.image_shape_ == (3, 2)
    assert not np.array_equal(m.ordering_, np.arange(6))
    check_autoregressive_model(m)
    m2 = GenerativeModel.load(m.save(tmp_path / "c.npz"))
    np.testing.assert_array_equal(m2.ordering_, m.ordering_)
    np.testing.assert_allclose(m2.score_samples(X), m.score_samples(X), rtol=1e-6)
    # exact normalization: probabilities of all 5^... too many; check per-conditional sums
    with pytest.raises(ValueError, match="alphabet 0..4"):
        m.score_samples(np.full((1, 3, 2), 5))
