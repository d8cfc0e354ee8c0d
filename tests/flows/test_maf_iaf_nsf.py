"""The models maf, iaf and nsf: change of variables end to end, IAF's log_prob of its own
samples == sample(return_log_prob=True), one-pass vs sequential sampling and density
(counted MADE passes), training, checkpoints, discrete data, backends, bad input."""

import numpy as np
import pytest

from minigen.autograd import Tensor
from minigen.base import GenerativeModel
from minigen.datasets import load_dataset
from minigen.models import IAF, MAF, NSF
from minigen.models.autoregressive.made import MADENetwork

from .helpers import check_logdet, randomize

SMALL = {
    "maf": lambda: MAF(n_layers=3, hidden=8, activation="tanh", dtype="float64"),
    "maf-random": lambda: MAF(n_layers=3, hidden=8, ordering="random", dtype="float64"),
    "iaf": lambda: IAF(n_layers=3, hidden=8, activation="tanh", dtype="float64"),
    "nsf": lambda: NSF(n_layers=3, hidden=8, spline_bins=5, tail_bound=3.0, dtype="float64"),
    "nsf-ar": lambda: NSF(n_layers=2, hidden=8, structure="autoregressive", spline_bins=4,
                          tail_bound=3.0, activation="tanh", dtype="float64"),
}


def _built(name, d=4, seed=0, n_bins=None):
    model = SMALL[name]()
    model.n_bins = n_bins
    rng = np.random.default_rng(seed)
    model.build_parameters(d, rng)
    randomize(model.flow_, rng, scale=0.4)
    model.fitted_ = True
    return model, rng


@pytest.mark.parametrize("name", list(SMALL))
def test_roundtrip_logdet_and_change_of_variables(name):
    model, rng = _built(name)
    X = rng.standard_normal((6, 4)) * 2
    Z, ld = model.forward(X)
    Xr, ld_inv = model.inverse(Z)
    assert np.abs(Xr - X).max() <= 1e-10
    np.testing.assert_allclose(ld + ld_inv, 0, atol=1e-10)
    check_logdet(model.flow_, X)
    # log p(x) = log N(f(x); 0, I) + log|det df/dx|
    gauss = -0.5 * (Z**2).sum(axis=1) - 2 * np.log(2 * np.pi)
    np.testing.assert_allclose(model.log_prob(X), gauss + ld, rtol=1e-12)


@pytest.mark.parametrize("name", list(SMALL))
def test_log_prob_of_own_samples_equals_sample_return_log_prob(name):
    model, _ = _built(name)
    S, lp = model.sample(50, random_state=7, return_log_prob=True)
    np.testing.assert_allclose(lp, model.log_prob(S), rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(S, model.sample(50, random_state=7))


def test_iaf_log_prob_of_own_samples_after_training_float32():
    """The issue's IAF check on a fitted float32 model (the default dtype)."""
    X = load_dataset("ring8", "train", n_samples=1000)
    model = IAF(n_layers=4, hidden=16, max_epochs=3, batch_size=100, learning_rate=3e-3,
                random_state=1, verbose=False).fit(X)
    S, lp = model.sample(500, random_state=2, return_log_prob=True)
    assert S.dtype == np.float32
    # float32 flow: both sides agree to float32 rounding of a few layers
    np.testing.assert_allclose(lp, model.log_prob(S), rtol=1e-4, atol=1e-4)


def _made_calls(monkeypatch):
    calls = []
    forward = MADENetwork.forward

    def counting(self, h):
        calls.append(h.shape[1])
        return forward(self, h)

    monkeypatch.setattr(MADENetwork, "forward", counting)
    return calls


@pytest.mark.parametrize("d", [2, 7])
def test_iaf_samples_in_one_pass_maf_in_d(monkeypatch, d):
    """IAF: one MADE pass per layer to sample, D to score; MAF the reverse."""
    calls = _made_calls(monkeypatch)
    for name, sample_passes, density_passes in (("iaf", 1, d), ("maf", d, 1)):
        model, rng = _built(name, d=d)
        calls.clear()
        model.sample(5, random_state=0)
        assert len(calls) == 3 * sample_passes, name
        calls.clear()
        model.log_prob(rng.standard_normal((5, d)))
        assert len(calls) == 3 * density_passes, name
        calls.clear()
        model.sample(5, random_state=0, return_log_prob=True)
        assert len(calls) == 3 * sample_passes, name


@pytest.mark.parametrize("name", ["maf", "iaf", "nsf", "nsf-ar"])
def test_sample_and_log_prob_is_differentiable_and_exact(name):
    """The reverse-KL path: reparameterized draws, their exact log-density, gradients."""
    model, _ = _built(name)
    x, log_q = model.sample_and_log_prob(9, random_state=4)
    np.testing.assert_allclose(log_q.data, model.log_prob(x.data), rtol=1e-9)
    model.flow_.zero_grad()
    (log_q.sum() + (x * x).sum()).backward()
    grads = model.flow_.grad_arrays()
    assert all(np.isfinite(g).all() for g in grads.values())
    assert sum(float(np.abs(g).sum()) for g in grads.values()) > 0


@pytest.mark.parametrize("cls, kw", [(MAF, dict(n_layers=4)), (IAF, dict(n_layers=4)),
                                     (NSF, dict(n_layers=4)),
                                     (NSF, dict(n_layers=3, structure="autoregressive"))])
def test_training_reduces_ring8_nll(cls, kw):
    X = load_dataset("ring8", "train", n_samples=2000)
    Xte = load_dataset("ring8", "test", n_samples=1000)
    model = cls(hidden=32, **kw, max_epochs=1, learning_rate=1e-9, random_state=0, verbose=False)
    before = -model.fit(X).score(Xte)
    model.set_params(max_epochs=6, batch_size=100, learning_rate=3e-3).fit(X)
    after = -model.score(Xte)
    # an identity start scores the standard normal (~3.3 nats); the data's entropy is ~0.3
    assert after < before - 1.0, (before, after)


@pytest.mark.parametrize("name", ["maf-random", "iaf", "nsf", "nsf-ar"])
def test_checkpoint_rebuilds_the_same_flow(tmp_path, name):
    model, rng = _built(name, d=5)
    model.set_params(n_bins=None)
    X = rng.standard_normal((8, 5))
    loaded = GenerativeModel.load(model.save(tmp_path / f"{name}.npz"))
    assert type(loaded) is type(model)
    np.testing.assert_allclose(loaded.score_samples(X), model.score_samples(X), rtol=1e-12)
    np.testing.assert_allclose(loaded.sample(4, random_state=1), model.sample(4, random_state=1))


@pytest.mark.parametrize("cls", [MAF, IAF, NSF])
def test_dequantized_digits(cls):
    """Integer levels: dequantization is part of the transform; samples are levels."""
    X = load_dataset("digits17", "train")[:64]
    model = cls(n_layers=2, hidden=16, max_epochs=1, batch_size=32, random_state=0,
                verbose=False).fit(X)
    assert model.n_bins_ == 17
    S = model.sample(5, random_state=0)
    assert S.shape == (5, 8, 8) and set(np.unique(S)) <= set(range(17))
    V, lp = model.sample(5, random_state=0, return_log_prob=True)
    np.testing.assert_allclose(lp, model.log_prob(V), rtol=1e-4)
    assert np.isfinite(model.score_samples(X[:4])).all()


def test_numba_backend_matches_numpy_reference():
    import minigen

    info = {r["name"]: r for r in minigen.backend_info()}
    if not info["numba"]["available"]:
        pytest.skip(info["numba"]["reason"])
    X = load_dataset("ring8", "train", n_samples=64)
    for name in ("nsf", "nsf-ar", "maf"):
        with minigen.use_backend("numpy"):
            model, _ = _built(name, d=2)
            ref = model.score_samples(X)
            S_ref = model.sample(8, random_state=0)
            loss_ref, g_ref = model.loss_and_grads(X, np.random.default_rng(1))
        with minigen.use_backend("numba"):
            np.testing.assert_allclose(model.score_samples(X), ref, rtol=1e-12)
            np.testing.assert_allclose(model.sample(8, random_state=0), S_ref, atol=1e-12)
            loss, g = model.loss_and_grads(X, np.random.default_rng(1))
        assert loss == pytest.approx(loss_ref, rel=1e-12)
        for k in g_ref:
            np.testing.assert_allclose(g[k], g_ref[k], rtol=1e-9, atol=1e-12)


def test_bad_hyper_parameters_are_clear_errors():
    X = load_dataset("ring8", "train", n_samples=32)
    with pytest.raises(ValueError, match="structure"):
        NSF(structure="mixed", max_epochs=1, verbose=False).fit(X)
    with pytest.raises(ValueError, match="ordering"):
        MAF(ordering="reversed", max_epochs=1, verbose=False).fit(X)
    with pytest.raises(ValueError, match="spline_bins"):
        NSF(spline_bins=0, max_epochs=1, verbose=False).fit(X)
    with pytest.raises(ValueError, match="tail_bound"):
        NSF(tail_bound=-1.0, max_epochs=1, verbose=False).fit(X)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        NSF(max_epochs=1, verbose=False).fit(X[:, :1])
    # one coordinate is fine for an autoregressive layer (its parameters are constants)
    one = NSF(structure="autoregressive", n_layers=1, max_epochs=1, verbose=False).fit(X[:, :1])
    assert one.sample(3, random_state=0).shape == (3, 1)


def test_base_distribution_and_transform_make_the_model():
    """log_prob is base.log_prob(z) + log|det| of the model's own transform_ (what the
    module says), and sample is transform_.inverse of base draws."""
    model, rng = _built("nsf")
    X = rng.standard_normal((5, 4))
    z, ladj = model.transform_(Tensor(X))
    np.testing.assert_allclose(model.log_prob(X), model.base_.log_prob(z.data) + ladj.data)
    Z = model.base_.sample(5, np.random.default_rng(3))
    np.testing.assert_allclose(model.sample(5, random_state=3), model.transform_.inverse_array(Z))
