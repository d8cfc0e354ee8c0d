"""REINFORCE: the estimator's expectation is the exact gradient of the expected reward."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from minigen.autograd import F
from minigen.models.autoregressive import FVSBN, PixelTransformer
from minigen.objectives import greedy_decode, reinforce_loss_and_grads, train_reinforce
from minigen.training import TrainingDiverged, train

ALL = np.array(list(itertools.product([0, 1], repeat=3)))  # the 8 sequences


def reward(x):
    x = np.asarray(x).reshape(len(x), -1).astype(float)
    return x @ [1.0, -2.0, 3.0] + 0.5 * x[:, 0] * x[:, 2]


def _model(seed=0):
    """A 3-step binary sequence model (FVSBN) with random, non-trivial conditionals."""
    rng = np.random.default_rng(seed)
    X = (rng.random((64, 3)) < 0.5).astype(np.int64)
    m = FVSBN(n_categories=2, dtype="float64")
    train(m, X, max_epochs=1, batch_size=64, learning_rate=1e-3, random_state=seed)
    for p in m.trainable_arrays().values():
        p[...] = rng.normal(0.0, 1.5, p.shape)
    return m


def _exact(m):
    """grad of -E[R] = -sum_x p(x) R(x) over all 8 sequences, and E[R]."""
    m.net_.zero_grad()
    lp = m.log_prob_tensor(ALL)
    J = F.sum(F.exp(lp) * reward(ALL))
    J.backward()
    return {k: -g.copy() for k, g in m.net_.grad_arrays().items()}, float(J.data)


def _flat(d):
    return np.concatenate([np.ravel(v) for v in d.values()])


def _estimates(m, baseline, n=16, batches=400, seed=0):
    rng = np.random.default_rng(seed)
    G = [_flat(reinforce_loss_and_grads(m, reward, n, rng, baseline=baseline)[1])
         for _ in range(batches)]
    G = np.array(G)
    return G.mean(0), G.std(0, ddof=1) / np.sqrt(len(G))


def _within(mean, se, exact, k=3.0):
    """Each coordinate within k standard errors; coordinates with no variance (masked
    weights) exactly equal."""
    fixed = se == 0
    return bool(np.all(np.abs(mean - exact)[~fixed] <= k * se[~fixed])
                and np.all(mean[fixed] == exact[fixed]))


@pytest.mark.parametrize("baseline", [None, 1.5, "leave-one-out", "self-critical"],
                         ids=["none", "constant", "leave-one-out", "self-critical"])
def test_expectation_matches_the_exact_gradient(baseline):
    m = _model(seed=1)
    exact, _ = _exact(m)
    mean, se = _estimates(m, baseline)
    ex = _flat(exact)
    assert np.count_nonzero(se) == 6 and np.abs(ex).max() > 10 * se.max()  # a real signal
    assert _within(mean, se, ex), np.round((mean - ex) / np.where(se > 0, se, 1), 2)


def test_a_baseline_that_sees_its_own_reward_is_caught():
    # b_i = mean(R) including R_i shrinks the gradient by (1 - 1/n): 25% at n = 4
    m = _model(seed=1)
    exact, _ = _exact(m)
    mean, se = _estimates(m, lambda r: np.full_like(r, r.mean()), n=4, batches=1600)
    assert not _within(mean, se, _flat(exact))
    unbiased, se2 = _estimates(m, "leave-one-out", n=4, batches=1600)
    assert _within(unbiased, se2, _flat(exact))


def test_a_baseline_removes_the_variance_of_a_reward_offset():
    # R + 10 has the same gradient; without a baseline the offset multiplies the noise of
    # grad log p, leave-one-out subtracts it (its estimate is shift-invariant)
    m = _model(seed=1)
    rng = [np.random.default_rng(4) for _ in range(4)]
    se = {}
    for i, (b, off) in enumerate([(None, 0), (None, 10), ("leave-one-out", 0),
                                  ("leave-one-out", 10)]):
        G = np.array([_flat(reinforce_loss_and_grads(
            m, lambda x, o=off: reward(x) + o, 16, rng[i], baseline=b)[1])
            for _ in range(100)])
        se[b, off] = G.std(0, ddof=1).max()
    assert se[None, 10] > 3 * se[None, 0]
    assert se["leave-one-out", 10] == pytest.approx(se["leave-one-out", 0], rel=1e-6)
    assert se["leave-one-out", 10] < 0.3 * se[None, 10]


def test_train_reinforce_raises_the_expected_reward():
    m = _model(seed=2)
    _, before = _exact(m)
    hist = train_reinforce(m, reward, n_steps=40, n_samples=32, learning_rate=0.05, random_state=3)
    _, after = _exact(m)
    assert after > before + 0.5 and after <= 4.0  # max_x R(x) = R(1, 0, 1) = 4.5 - 0.5
    assert len(hist.mean_reward) == 40
    # moving average: step 0 uses leave-one-out (mean equals the batch mean), then the EMA
    assert hist.baseline[0] == pytest.approx(hist.mean_reward[0])
    avg = hist.mean_reward[0]
    for t in range(1, 40):
        assert hist.baseline[t] == pytest.approx(avg)
        avg = 0.9 * avg + 0.1 * hist.mean_reward[t]


def test_samples_come_from_the_models_own_cached_sampler():
    X = (np.random.default_rng(0).random((32, 2, 2)) < 0.5).astype(np.int64)
    m = PixelTransformer(d_model=8, n_heads=2, n_layers=1, n_categories=2)
    train(m, X, max_epochs=1, batch_size=32, random_state=0)
    seen = []

    def spy(x):
        seen.append(np.asarray(x).copy())
        return np.asarray(x).reshape(len(x), -1).sum(1).astype(float)

    loss, grads, r, b = reinforce_loss_and_grads(m, spy, 8, random_state=5)
    np.testing.assert_array_equal(seen[0], m.sample(8, random_state=5))
    assert set(grads) == set(m.trainable_arrays()) and loss == -r.mean()
    assert greedy_decode(m).shape == (1, 2, 2)


def test_divergence_and_bad_input():
    m = _model(seed=3)
    snap = {k: v.copy() for k, v in m.trainable_arrays().items()}
    with pytest.raises(TrainingDiverged, match="non-finite"):
        train_reinforce(m, lambda x: 1e300 * reward(x), n_steps=3, n_samples=8,
                        optimizer="sgd", learning_rate=1e300, baseline=None, random_state=0)
    for k, v in m.trainable_arrays().items():
        np.testing.assert_array_equal(v, snap[k])
    with pytest.raises(ValueError, match="non-finite"):
        reinforce_loss_and_grads(m, lambda x: np.full(len(x), np.nan), 4)
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        reinforce_loss_and_grads(m, lambda x: np.zeros(3), 4)
    with pytest.raises(ValueError, match="baseline"):
        reinforce_loss_and_grads(m, reward, 4, baseline="average")
    with pytest.raises(ValueError, match="baseline_decay"):
        train_reinforce(m, reward, n_steps=1, baseline_decay=1.0)
    with pytest.raises(ValueError, match="not fitted"):
        train_reinforce(FVSBN(), reward, n_steps=1)
    with pytest.raises(TypeError, match="log_prob_tensor"):
        train_reinforce(object(), reward, n_steps=1)
    with pytest.raises(TypeError, match="reward"):
        reinforce_loss_and_grads(m, "oracle", 4)
