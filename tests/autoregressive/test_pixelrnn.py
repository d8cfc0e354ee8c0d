"""PixelRNN (Row LSTM, Diagonal BiLSTM): AR property, step counts, scheduled sampling, fits."""

import numpy as np
import pytest

from minigen.autograd import Tensor, no_grad
from minigen.backend import to_numpy
from minigen.base import GenerativeModel
from minigen.datasets import bars_and_stripes, load_dataset
from minigen.models.autoregressive import DiagonalBiLSTM, RowLSTM

from .ar_property import check_autoregressive_model, numpy_backend_fixture

_np = pytest.fixture(autouse=True, scope="module")(numpy_backend_fixture)


def _built(cls, shape=(4, 5), k=2, **kw):
    kw.setdefault("n_channels", 16)
    kw.setdefault("hidden_size", 8)
    m = cls(n_categories=k, dtype="float64", **kw)
    m.build_parameters(shape, np.random.default_rng(0))
    m.fitted_ = True
    return m


@pytest.mark.parametrize("cls,kw", [
    (RowLSTM, dict()), (RowLSTM, dict(k=3, n_layers=2, kernel_size=5, first_kernel_size=3)),
    (DiagonalBiLSTM, dict()), (DiagonalBiLSTM, dict(k=3, n_layers=2, shape=(5, 3))),
    (DiagonalBiLSTM, dict(k=5, head="logistic", n_mix=2)),
])
def test_autoregressive_property(cls, kw):
    check_autoregressive_model(_built(cls, **kw))


@pytest.mark.parametrize("d", [3, 5])
def test_diagonal_bilstm_takes_2d_minus_1_steps(d):
    m = _built(DiagonalBiLSTM, shape=(d, d), n_layers=2)
    m.score_samples(np.zeros((2, d, d), dtype=int))
    assert m.recurrent_steps_ == [2 * d - 1, 2 * d - 1]
    r = _built(RowLSTM, shape=(d, d + 1))
    r.score_samples(np.zeros((2, d, d + 1), dtype=int))
    assert r.recurrent_steps_ == [d]  # one step per row


def test_diagonal_bilstm_sees_the_row_above_to_the_right():
    """The shifted right-to-left direction: output (2, 0) depends on input (1, 3)."""
    from .ar_property import dependency_matrix

    m = _built(DiagonalBiLSTM, shape=(4, 5), first_kernel_size=3)
    x = np.random.default_rng(0).integers(0, 2, (16, 20))
    J = dependency_matrix(m._logits, m._encode(x), positions=[10])
    assert J[0, 1 * 5 + 3] > 0


def test_scheduled_sampling_schedule_and_training():
    X = load_dataset("bars-stripes4", "train", n_samples=200)
    m = RowLSTM(n_channels=8, hidden_size=8, scheduled_sampling=0.5,
                scheduled_sampling_epochs=2)
    assert m._ss_prob(0.0) == 0.0 and m._ss_prob(1.0) == 0.25 and m._ss_prob(5.0) == 0.5
    m.set_params(max_epochs=3, batch_size=50, random_state=0, validation_fraction=0.0).fit(X)
    assert m.examples_seen_ == 600
    assert m.scheduled_p_ == 0.5  # the ramp is over after 2 epochs
    assert np.isfinite(m.history_.train_loss).all()
    # teacher forcing by default; a bad schedule is refused
    assert RowLSTM()._ss_prob(3.0) == 0.0
    with pytest.raises(ValueError, match="scheduled_sampling"):
        RowLSTM(scheduled_sampling=1.5).set_params(max_epochs=1).fit(X)
    with pytest.raises(ValueError, match="scheduled_sampling"):
        RowLSTM(scheduled_sampling=lambda e: 2.0).set_params(max_epochs=1).fit(X)


def _bernoulli_nll(logits, x):
    """``-log p(x)`` per example from Bernoulli logits ``(n, D)``: softplus(-l) or softplus(l)."""
    return np.logaddexp(0.0, np.where(x == 1, -logits, logits)).sum(axis=1)


def test_scheduled_sampling_feeds_model_samples():
    """p = 0 is teacher forcing exactly; with p = 1 every input pixel is the model's own draw
    from its teacher-forced conditional, while the targets stay the data."""
    X = load_dataset("bars-stripes4", "train", n_samples=64).reshape(64, 4, 4)
    x = X.reshape(64, -1).astype(np.int64)
    a = _built(RowLSTM, shape=(4, 4))
    la, ga = a.loss_and_grads(X, np.random.default_rng(0))
    assert a.scheduled_p_ == 0.0
    np.testing.assert_allclose(la, -np.mean(to_numpy(a.score_samples(X))), rtol=1e-12)
    # the mixing path itself, at p = 0, replaces nothing: same loss and gradients
    l0, g0 = a._scheduled_loss_and_grads(X, np.random.default_rng(0), 0.0)
    np.testing.assert_allclose(l0, la, rtol=1e-12)
    for k in ga:
        np.testing.assert_allclose(to_numpy(g0[k]), to_numpy(ga[k]), rtol=1e-10, atol=1e-14)

    b = _built(RowLSTM, shape=(4, 4), scheduled_sampling=lambda e: 1.0)
    lb, _ = b.loss_and_grads(X, np.random.default_rng(0))
    assert b.scheduled_p_ == 1.0
    # replay the same stream: one uniform per pixel for the draws, then the replace mask
    rng = np.random.default_rng(0)
    u = rng.random(x.size).reshape(x.shape)
    rng.random(x.shape)  # the replace mask: all True at p = 1
    with no_grad():
        tf = to_numpy(b._logits(Tensor(b._encode(x))).data).astype(np.float64)
    own = (u >= 1.0 / (1.0 + np.exp(tf))).astype(np.int64)  # 1 with probability sigmoid(l)
    assert (own != x).any()
    with no_grad():
        fed = to_numpy(b._logits(Tensor(b._encode(own))).data).astype(np.float64)
    expected = _bernoulli_nll(fed, x).mean()  # inputs: own draws; targets: the data
    np.testing.assert_allclose(lb, expected, rtol=1e-12)
    assert abs(lb - la) > 1e-3  # and it is not the teacher-forced loss
    assert abs(_bernoulli_nll(fed, own).mean() - lb) > 1e-3  # nor a loss on its own draws


@pytest.mark.parametrize("cls,kw,epochs,lr", [
    (RowLSTM, dict(n_channels=32, hidden_size=16, kernel_size=5), 15, 2e-2),
    pytest.param(DiagonalBiLSTM, dict(n_channels=16, hidden_size=16), 15, 1e-2,
                 marks=pytest.mark.slow),
])
def test_fits_bars_and_stripes_exactly(cls, kw, epochs, lr, tmp_path):
    X = load_dataset("bars-stripes4", "train", n_samples=3000)
    P = bars_and_stripes(4)
    m = (
        cls(first_kernel_size=7, **kw)
        .set_params(max_epochs=epochs, learning_rate=lr, batch_size=100, random_state=0)
        .fit(X)
    )
    assert abs(m.nll(P) - np.log(30)) < 0.05
    m2 = GenerativeModel.load(m.save(tmp_path / "m.npz"))
    np.testing.assert_allclose(m2.score_samples(P), m.score_samples(P), rtol=1e-6)


@pytest.mark.parametrize("cls", [RowLSTM, DiagonalBiLSTM])
def test_bad_input(cls):
    X = np.random.default_rng(0).integers(0, 3, (20, 4, 4))
    m = (
        cls(n_channels=8, hidden_size=4)
        .set_params(max_epochs=1, batch_size=10, random_state=0)
        .fit(X)
    )
    with pytest.raises(ValueError, match="shape"):
        m.score_samples(np.zeros((3, 4, 5)))
    with pytest.raises(ValueError, match="alphabet"):
        m.score_samples(np.full((3, 4, 4), 3))
    with pytest.raises(ValueError, match="hidden_size"):
        cls(hidden_size=0).set_params(max_epochs=1).fit(X)


@pytest.mark.gpu
def test_trains_a_step_on_cupy():
    import minigen

    X = np.random.default_rng(0).integers(0, 2, (16, 4, 4))
    with minigen.use_backend("cupy"):
        m = (
            DiagonalBiLSTM(n_channels=8, hidden_size=4)
            .set_params(max_epochs=1, batch_size=8, random_state=0)
            .fit(X)
        )
        assert np.isfinite(float(m.nll(X)))


@pytest.mark.parametrize("kw", [
    dict(), dict(k=3, n_layers=2, kernel_size=5, first_kernel_size=3),
    dict(k=5, head="logistic", n_mix=2, shape=(3, 6)),
])  # fmt: skip
def test_row_lstm_cached_sampler_matches_uncached(kw):
    """The Row LSTM evaluated one pixel at a time (row state-to-state terms once per row)
    draws what the full pass per pixel draws, and its step logits are the teacher-forced
    ones."""
    m = _built(RowLSTM, **kw)
    a = m.sample(12, random_state=3)
    b = m.sample(12, random_state=3, use_cache=False)
    np.testing.assert_array_equal(a, b)
    x = a.reshape(12, -1)
    with no_grad():
        full = m._logits(Tensor(m._encode(x))).data
    state = m._sampler_start(12)
    for t in range(m.n_dims_):
        np.testing.assert_allclose(m._sampler_logits(x, t, state), full[:, t], rtol=1e-9,
                                   atol=1e-9)
