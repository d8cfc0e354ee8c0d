import re

import numpy as np
import pytest

from minigen.models import get_model_class
from minigen.models.ebm.neural import NeuralEBM


@pytest.fixture(scope="module")
def ring():
    from minigen.datasets import get_toy

    toy = get_toy("ring8")
    return toy.sample(2000, random_state=0), toy.sample(500, random_state=1)


def small(**kw):
    p = dict(hidden=(32, 32), max_epochs=2, n_steps=10, step_size=0.005, batch_size=64,
             learning_rate=2e-3, buffer_size=500, grid_size=80, random_state=0)
    p.update(kw)
    return NeuralEBM(**p)


def test_input_gradient_matches_finite_differences():
    m = small()
    m.build_parameters(2, np.random.default_rng(0))
    x = np.random.default_rng(1).normal(size=(5, 2))
    e, g = m.energy_grad(x)
    eps = 1e-6
    for j in range(2):
        xp = x.copy()
        xp[:, j] += eps
        np.testing.assert_allclose((m.energy(xp) - e) / eps, g[:, j], atol=1e-4)
    # parameter gradients are untouched by the input-gradient pass
    assert all(p.grad is None for p in m.net_.parameters())


def test_training_improves_likelihood_and_checkpoint(ring, tmp_path):
    X, Xt = ring
    m0 = small(max_epochs=1, batch_size=len(X)).fit(X)  # one update
    m = small().fit(X)
    assert -m.score(Xt) < -m0.score(Xt)
    assert m.buffer_.shape == (500, 2) and np.isfinite(m.buffer_).all()
    m.save(tmp_path / "ebm.npz")
    m2 = NeuralEBM.load(tmp_path / "ebm.npz")
    np.testing.assert_array_equal(m2.buffer_, m.buffer_)
    np.testing.assert_allclose(m2.score_samples(Xt[:10]), m.score_samples(Xt[:10]))
    assert get_model_class("ebm") is NeuralEBM


def test_short_run_from_data_and_errors(ring):
    X, _ = ring
    m = small(init="data", max_epochs=5).fit(X)
    assert m.buffer_ is None
    s = m.sample(20, random_state=0, n_steps=5)
    assert s.shape == (20, 2) and np.isfinite(s).all()
    with pytest.raises(ValueError, match="init"):
        small(init="x").fit(X)
    m3 = small(max_epochs=1).fit(np.random.default_rng(0).normal(size=(50, 3)))
    with pytest.raises(ValueError, match="2-D"):
        m3.score_samples(np.zeros((2, 3)))


def test_array_energy_and_gradient_match_autograd():
    from minigen.autograd import Tensor

    m = small(hidden=(16, 8, 4))
    m.build_parameters(2, np.random.default_rng(0))
    x = np.random.default_rng(2).normal(size=(7, 2)) * 3
    s = m.input_scale  # E(x) = net(s x), so grad_x E = s * grad net
    xt = Tensor(x * s, requires_grad=True)
    e = m.net_(xt)
    e.sum().backward()
    ea, ga = m.energy_grad(x)
    np.testing.assert_allclose(ea, e.data[:, 0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(m.energy(x), e.data[:, 0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ga, s * xt.grad, rtol=1e-10, atol=1e-12)


def test_langevin_chains_stay_in_the_box(ring):
    X, _ = ring
    m = small(max_epochs=3).fit(X)
    s = m.sample(200, random_state=0, n_steps=20)
    assert (s >= m.box_[0]).all() and (s <= m.box_[1]).all()


@pytest.mark.parametrize("init", ["replay", "data"])
def test_train_resume_is_bitwise(ring, tmp_path, init):
    """Through minigen.training.train: init_from_data sets the data box, and a run resumed
    from a checkpoint (parameters, Adam state, replay buffer, box, rng) continues bit for
    bit as the uninterrupted run."""
    from minigen.training import train

    X = ring[0][:96]
    kw = dict(batch_size=32, learning_rate=2e-3, clip_norm=10.0, random_state=5,
              lr_schedule="constant")

    def model():
        return small(hidden=(8, 8), n_steps=3, buffer_size=50, init=init)

    full = model()
    train(full, X, max_epochs=3, **kw)
    lo, hi = X.min(axis=0), X.max(axis=0)
    np.testing.assert_allclose(full.box_, [lo - 0.25 * (hi - lo), hi + 0.25 * (hi - lo)])
    train(model(), X, max_epochs=2, checkpoint_dir=tmp_path, **kw)
    resumed = model()
    train(resumed, X, max_epochs=3, resume_from=tmp_path / "checkpoint.npz", **kw)
    for k, v in full.trainable_arrays().items():
        np.testing.assert_array_equal(resumed.trainable_arrays()[k], v, err_msg=k)
    np.testing.assert_array_equal(resumed.box_, full.box_)
    if init == "replay":
        assert full.buffer_.shape == (50, 2)
        np.testing.assert_array_equal(resumed.buffer_, full.buffer_)
    else:
        assert full.buffer_ is None and resumed.buffer_ is None


def test_score_is_minus_inf_outside_the_box(ring):
    # p(x) = exp(-E(x)) 1[x in box] / Z: no mass outside the box Z is computed over
    X, Xt = ring
    m = small(max_epochs=2).fit(X)
    lo, hi = m.box_
    out = np.array([[hi[0] + 0.1, 0.0], [0.0, lo[1] - 0.1], [hi[0] + 1.0, hi[1] + 1.0]])
    edge = np.array([[lo[0], hi[1]], [hi[0], lo[1]]])  # the box is closed
    s = m.score_samples(np.vstack([out, edge, Xt[:5]]))
    assert (s[:3] == -np.inf).all()
    assert np.isfinite(s[3:]).all()


def test_constant_column_is_rejected_at_fit(ring):
    # a zero-width box made the grid normalizer log(0) and every log-density +inf
    X = ring[0].copy()
    X[:, 1] = 0.5
    with pytest.raises(ValueError, match=r"constant column\(s\) \[1\]"):
        small(max_epochs=2).fit(X)
    from minigen.training import train

    with pytest.raises(ValueError, match="constant column"):
        train(small(), X, max_epochs=1, batch_size=64)


def test_wrong_number_of_columns_is_rejected(ring):
    X, _ = ring
    m = small(max_epochs=2).fit(X)
    for method in (m.score_samples, m.energy, m.score):
        with pytest.raises(ValueError, match=r"X has 3 features, but NeuralEBM is expecting "
                           r"2.*got shape \(4, 3\)"):
            method(np.zeros((4, 3)))
    # refitting on data of another width is allowed
    m.set_params(max_epochs=1).fit(np.random.default_rng(0).normal(size=(50, 3)))
    assert m.energy(np.zeros((4, 3))).shape == (4,)


def test_constant_network_energy_normalizes_to_the_box_area(ring):
    # zero the output weights: E = bias is constant, so p = 1/area on the box and
    # log Z = log(area) - bias exactly (midpoint cells tile the box; an edge-inclusive grid
    # with full cells overran it by a factor (g / (g - 1))^2)
    X, _ = ring
    m = small(max_epochs=2).fit(X)
    last = getattr(m.net_, f"l{m.net_.n - 1}")
    last.weight.data[...] = 0.0
    last.bias.data[...] = 0.7
    lo, hi = np.asarray(m.box_)
    area = float(np.prod(hi - lo))
    assert abs(m.grid_log_partition() - (np.log(area) - 0.7)) < 1e-12
    np.testing.assert_allclose(np.exp(m.score_samples(np.array([lo, hi]))) * area, 1.0, rtol=1e-12)


def test_trained_density_integrates_to_one_over_the_box(ring):
    # exp(score_samples) of a lightly trained model (energy far from flat, not small at the
    # box edges), integrated over box_ by a fine trapezoid rule (601^2 nodes, including the
    # edges): the midpoint rule's error is O(h^2) (measured ~0.17 / g^2 here); the old
    # edge-inclusive grid was off by 2 log(g / (g - 1)) ~ 2 / g (0.1 at g = 20)
    X, _ = ring
    m = small().fit(X)
    lo, hi = np.asarray(m.box_)
    n = 601
    ax = [np.linspace(lo[k], hi[k], n) for k in range(2)]
    w = []
    for k in range(2):
        wk = np.full(n, (hi[k] - lo[k]) / (n - 1))
        wk[[0, -1]] /= 2
        w.append(wk)
    pts = np.stack(np.meshgrid(*ax, indexing="ij"), -1).reshape(-1, 2)
    wts = np.outer(*w).ravel()
    for g in (20, 80):
        m.grid_size = g
        log_integral = np.log((np.exp(m.score_samples(pts)) * wts).sum())
        assert abs(log_integral) < 1.0 / g**2, (g, log_integral)


# ------------------------------------------------------------ divergence
def _record_steps(monkeypatch):
    """Patch Adam.step to record (parameters, replay buffer) just before every update."""
    from minigen import optim

    seen, step = [], optim.Adam.step

    def recording(self, grads):
        m = recording.model
        seen.append(
            (
                {k: p.copy() for k, p in m.trainable_arrays().items()},
                None if m.buffer_ is None else m.buffer_.copy(),
            )
        )
        return step(self, grads)

    monkeypatch.setattr(optim.Adam, "step", recording)
    return seen, recording


def _tiny(**kw):
    return small(
        **{**dict(hidden=(8, 8), n_steps=3, buffer_size=50, batch_size=32, max_epochs=4), **kw}
    )


@pytest.mark.parametrize("init", ["replay", "data"])
@pytest.mark.parametrize(
    "lr, what",
    [
        (100.0, "loss .* blew up"),  # finite, but 1e15 nats from a first loss of 0.5
        (1e6, "loss .* blew up"),
        (1e300, "non-finite loss"),
    ],
)
def test_fit_divergence_raises_and_keeps_the_last_good_state(ring, monkeypatch, init, lr, what):
    """A huge learning rate used to leave finite garbage (max |W| 1e7, loss 1e21 at 1e6) or
    end in a raw FloatingPointError (1e300); now the training loop's guard stops it at the
    second batch (the first update blew the loss up) and puts back the state its first
    loss was computed at: the initial parameters, no replay buffer yet."""
    from minigen.training import TrainingDiverged

    seen, recording = _record_steps(monkeypatch)
    m = recording.model = _tiny(learning_rate=lr, init=init)
    with np.errstate(all="ignore"):
        with pytest.raises(
            TrainingDiverged,
            match=f"at epoch 0, step 1: {what}.*after 0 "
            "epochs.*" + re.escape(f"learning_rate (now {lr:g})"),
        ) as info:
            m.fit(ring[0][:200])
    assert info.value.epoch == 0 and info.value.step == 1
    for k, v in m.trainable_arrays().items():
        np.testing.assert_array_equal(v, seen[0][0][k], err_msg=k)
    assert m.buffer_ is None and m.history_.epochs == 0


def test_fit_stops_on_non_finite_langevin_negatives(ring, monkeypatch):
    """Non-finite negatives (here in epoch 1, the 10th batch: 7 batches per epoch) make the
    loss NaN and stop fit; the model goes back to the state entering epoch 1 (checked by
    that epoch's first loss): the parameters and replay buffer after 7 updates."""
    from minigen.training import TrainingDiverged

    seen, recording = _record_steps(monkeypatch)
    chain, calls = NeuralEBM._langevin_chain, []

    def bad_tenth(self, x, n_steps, rng):
        calls.append(1)
        out = chain(self, x, n_steps, rng)
        return out * np.nan if len(calls) == 10 else out

    monkeypatch.setattr(NeuralEBM, "_langevin_chain", bad_tenth)
    m = recording.model = _tiny()
    with pytest.raises(TrainingDiverged, match="epoch 1, step 9: non-finite loss.*after 1 epoch "):
        m.fit(ring[0][:200])
    params, buf = seen[7][0], seen[6][1]  # batch 8 had written to the buffer
    for k, v in m.trainable_arrays().items():
        np.testing.assert_array_equal(v, params[k], err_msg=k)
    np.testing.assert_array_equal(m.buffer_, buf)
    assert m.fitted_ and len(m.loss_curve_) == 1


def test_loss_and_grads_reports_non_finite_negatives_as_nan(ring):
    """loss_and_grads (what train() calls) returns a NaN loss and leaves the buffer alone
    instead of raising a raw FloatingPointError, so train() stops with TrainingDiverged."""
    from minigen.random import check_random_state
    from minigen.training import TrainingDiverged, train

    X = ring[0][:64]
    m = _tiny(max_epochs=2).fit(X)
    m.trainable_arrays()["l0.weight"][0, 0] = np.nan
    before = m.buffer_.copy()
    with np.errstate(all="ignore"):
        loss, g = m.loss_and_grads(X[:8], check_random_state(0))
    assert np.isnan(loss) and all(np.isnan(v).all() for v in g.values())
    np.testing.assert_array_equal(m.buffer_, before)

    with (
        pytest.raises(TrainingDiverged, match="epoch 0, step 1: non-finite loss"),
        np.errstate(all="ignore"),
    ):
        train(_tiny(), X, max_epochs=1, learning_rate=1e300, batch_size=32, random_state=0)


def test_healthy_fit_does_not_trip_the_divergence_checks(ring):
    m = _tiny(learning_rate=0.1, max_epochs=6).fit(ring[0][:200])
    assert m.fitted_ and len(m.loss_curve_) == 6
