"""Flow models: invertibility and log-dets end to end, sample/log_prob agreement,
training reduces NLL, dequantization accounting, checkpoints, CLI, bad input."""

import json
import math
import warnings

import numpy as np
import pytest

from minigen.base import GenerativeModel
from minigen.datasets import load_dataset
from minigen.exceptions import NotFittedError
from minigen.models.flows import NICE, ActNorm, Glow, NonInvertibleError, RealNVP
from minigen.training import train

from .helpers import check_logdet, jacobian_logdet, randomize

SMALL = {
    "nice-vec": lambda: NICE(n_couplings=3, hidden=8, activation="tanh", dtype="float64"),
    "realnvp-vec": lambda: RealNVP(n_couplings=3, hidden=8, activation="tanh", dtype="float64"),
    "realnvp-vec-random": lambda: RealNVP(n_couplings=4, hidden=8, mask="random",
                                          activation="tanh", dtype="float64"),
    "glow-vec": lambda: Glow(n_steps=2, hidden=8, activation="tanh", dtype="float64"),
    "realnvp-img": lambda: RealNVP(n_couplings=1, hidden=4, activation="tanh", dtype="float64"),
    "glow-img": lambda: Glow(n_steps=1, hidden=4, activation="tanh", dtype="float64"),
    "nice-img": lambda: NICE(n_couplings=2, hidden=8, activation="tanh", dtype="float64"),
}
SHAPES = {"vec": (3,), "img": (4, 4)}


def _built(name, seed=0, n_bins=None):
    model = SMALL[name]()
    model.n_bins = n_bins
    rng = np.random.default_rng(seed)
    model.build_parameters(list(SHAPES[name.split("-")[1]]), rng)
    randomize(model.flow_, rng, scale=0.2)
    for m in model.flow_.modules():
        if isinstance(m, ActNorm):
            m.initialized = True
    model.fitted_ = True
    return model, rng


@pytest.mark.parametrize("name", list(SMALL))
def test_model_roundtrip_and_logdet(name):
    model, rng = _built(name)
    X = rng.standard_normal((4, *model.event_shape_))
    Z, ld = model.forward(X)
    Xr, ld_inv = model.inverse(Z)
    assert np.abs(Xr - X).max() <= 1e-10
    np.testing.assert_allclose(ld + ld_inv, 0, atol=1e-10)
    check_logdet(model.flow_, model._to_event(X))


@pytest.mark.parametrize("name", list(SMALL))
def test_model_roundtrip_float32(name):
    model = SMALL[name]()
    model.dtype = "float32"
    model.n_bins = None
    rng = np.random.default_rng(0)
    model.build_parameters(list(SHAPES[name.split("-")[1]]), rng)
    randomize(model.flow_, rng, scale=0.2)
    model.fitted_ = True
    X = rng.standard_normal((6, *model.event_shape_)).astype(np.float32)
    Z, ld = model.forward(X)
    assert Z.dtype == np.float32
    Xr, ld_inv = model.inverse(Z)
    assert Xr.dtype == np.float32
    assert np.abs(Xr - X).max() <= 1e-5
    np.testing.assert_allclose(ld + ld_inv, 0, atol=1e-4)


@pytest.mark.parametrize("name", list(SMALL))
def test_sample_fast_path_equals_inverse_of_same_latents(name):
    """``sample`` without log-probs takes the tape-free ``invert`` path: same values as
    ``inverse`` of the same latents, and the same as the ``return_log_prob`` path."""
    model, _ = _built(name)
    S = model.sample(7, random_state=3)
    Z = np.random.default_rng(3).standard_normal((7, model.n_dims_))
    X, _ = model.inverse(Z)
    np.testing.assert_allclose(S, X, atol=1e-12)
    S2, _ = model.sample(7, random_state=3, return_log_prob=True)
    np.testing.assert_allclose(S, S2, atol=1e-12)


@pytest.mark.parametrize("name", list(SMALL))
def test_sample_log_prob_agrees_with_log_prob(name):
    model, _ = _built(name)
    S, lp = model.sample(20, random_state=3, return_log_prob=True)
    assert S.shape == (20, *model.event_shape_)
    np.testing.assert_allclose(lp, model.log_prob(S), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(lp, model.score_samples(S), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", ["realnvp-img", "glow-img", "nice-vec"])
def test_discrete_dequantization_accounting(name):
    model, rng = _built(name, n_bins=4)
    V, lp = model.sample(10, random_state=0, return_log_prob=True)
    np.testing.assert_allclose(lp, model.log_prob(V), atol=1e-9)
    # log p_V(v) = log p_Y(v/K - 1/2) - D log K
    Y, const = model._to_flow_space(V)
    assert const == pytest.approx(-model.n_dims_ * math.log(4))
    levels = model.sample(10, random_state=0)
    assert set(np.unique(levels)) <= {0.0, 1.0, 2.0, 3.0}
    X = rng.integers(0, 4, size=(7, *model.event_shape_)).astype(float)
    s = model.score_samples(X, n_dequant=3)
    assert s.shape == (7,) and np.all(np.isfinite(s))
    bpd = model.nll(X, "bits/dim")
    assert bpd == pytest.approx(-s.mean() / model.n_dims_ / math.log(2), rel=0.2)


def _logit_model(alpha=0.05, mode="vector"):
    model = RealNVP(n_couplings=3, hidden=8, mode=mode, logit=alpha, activation="tanh",
                    dtype="float64", n_bins=5)
    rng = np.random.default_rng(1)
    model.build_parameters([4, 4], rng)
    randomize(model.flow_, rng, scale=0.2)
    model.fitted_ = True
    return model, rng


@pytest.mark.parametrize("mode", ["vector", "image"])
def test_logit_preprocessing_roundtrip_and_logdet(mode):
    """``logit=alpha``: data units ``v`` -> ``z`` is still a bijection whose log-det (the
    logit's included) matches slogdet of the numerical Jacobian of ``v -> z``."""
    model, rng = _logit_model(0.05, mode)
    V = rng.uniform(0, 5, size=(3, 4, 4))
    Z, ld = model.forward(V)
    Vr, ld_inv = model.inverse(Z)
    assert np.abs(Vr - V).max() <= 1e-9
    np.testing.assert_allclose(ld + ld_inv, 0, atol=1e-9)
    for i in range(2):
        ref = jacobian_logdet(lambda X: model.forward(X)[0], V[i])
        assert ld[i] == pytest.approx(ref, abs=1e-6)
    # the pre-processing term on its own: d/dv logit(a + (1 - 2a) v/K), per coordinate
    p = 0.05 + 0.9 * V.reshape(3, -1) / 5
    own = (np.log(0.9 / 5) - np.log(p) - np.log1p(-p)).sum(axis=1)
    Y, ld_pre = model._to_flow_space(V)
    np.testing.assert_allclose(ld_pre, own, atol=1e-9)
    np.testing.assert_allclose(Y.reshape(3, -1), np.log(p / (1 - p)), atol=1e-12)


def test_logit_preprocessing_sampling_and_likelihood():
    model, rng = _logit_model(0.01)
    S = model.sample(9, random_state=2)
    Vr, _ = model.inverse(np.random.default_rng(2).standard_normal((9, 16)))
    np.testing.assert_array_equal(S, np.clip(np.floor(Vr), 0, 4))
    assert set(np.unique(S)) <= set(range(5))
    V, lp = model.sample(20, random_state=3, return_log_prob=True)
    np.testing.assert_allclose(lp, model.log_prob(V), rtol=1e-9, atol=1e-9)
    X = rng.integers(0, 5, size=(6, 4, 4)).astype(float)
    s = model.score_samples(X, n_dequant=2)
    assert s.shape == (6,) and np.all(np.isfinite(s))


def test_logit_preprocessing_rejects_bad_alpha_and_continuous_data():
    with pytest.raises(ValueError, match="logit"):
        _logit_model(0.5)[0].score_samples(np.zeros((2, 4, 4)))
    model = RealNVP(n_couplings=2, hidden=4, logit=0.05, n_bins=None)
    with pytest.raises(ValueError, match="discrete"):
        model.set_params(max_epochs=1).fit(np.random.default_rng(0).standard_normal((16, 3)))


def test_random_masks_are_fixed_complementary_halves(tmp_path):
    """``mask="random"``: couplings 2i and 2i+1 split the coordinates into complementary
    random halves, the same for every build (so checkpoints rebuild the same flow)."""
    from minigen.models.flows.coupling import AffineCoupling, random_half_mask

    np.testing.assert_array_equal(random_half_mask(64, 3), random_half_mask(64, 3))
    assert random_half_mask(64, 0).sum() == 32 and random_half_mask(7, 1).sum() == 4
    assert not np.array_equal(random_half_mask(64, 0), random_half_mask(64, 1))
    X = load_dataset("digits17", "train")[:64]
    model = RealNVP(n_couplings=4, hidden=8, mode="vector", mask="random", logit=0.01)
    train(model, X, max_epochs=1, batch_size=32, random_state=5)
    masks = [m.mask for m in model.flow_.modules() if isinstance(m, AffineCoupling)]
    np.testing.assert_array_equal(masks[0], 1 - masks[1])
    np.testing.assert_array_equal(masks[2], 1 - masks[3])
    assert not np.array_equal(masks[0], masks[2])
    loaded = GenerativeModel.load(model.save(tmp_path / "rnvp.npz"))
    np.testing.assert_allclose(loaded.score_samples(X[:8]), model.score_samples(X[:8]),
                               rtol=1e-6)


def test_data_outside_dequantization_range_rejected():
    model, _ = _built("realnvp-img", n_bins=4)
    X = np.zeros((2, 4, 4))
    X[0, 0, 0] = 4
    with pytest.raises(ValueError, match="dequantization range"):
        model.score_samples(X)
    X[0, 0, 0] = 1.5
    with pytest.raises(ValueError, match="dequantization range"):
        model.score_samples(X)
    X[0, 0, 0] = -1
    with pytest.raises(ValueError, match="dequantization range"):
        model.loss_and_grads(X, np.random.default_rng(0))


def test_wrong_shapes_rejected():
    model, _ = _built("realnvp-img")
    with pytest.raises(ValueError, match="shape"):
        model.score_samples(np.zeros((2, 5, 4)))
    with pytest.raises(ValueError, match="Z must have shape"):
        model.inverse(np.zeros((2, 15)))
    with pytest.raises(ValueError, match="n_samples"):
        model.sample(0)
    with pytest.raises(ValueError, match="temperature"):
        model.sample(2, temperature=0)
    with pytest.raises(ValueError, match="mode"):
        RealNVP(mode="pixels").set_params(max_epochs=1).fit(np.zeros((4, 4, 4)))
    with pytest.raises(NotFittedError, match="not fitted"):
        Glow().sample(2)


def test_temperature_accepts_numpy_reals_and_refuses_inf_nan_bool():
    model, _ = _built("realnvp-vec")
    a = model.sample(4, random_state=0, temperature=np.float32(0.5))
    np.testing.assert_array_equal(a, model.sample(4, random_state=0, temperature=0.5))
    assert model.sample(2, random_state=0, temperature=np.int64(2)).shape == (2, 3)
    for bad in (float("inf"), float("nan"), -1.0, 0.0):
        with pytest.raises(ValueError, match="temperature must be > 0 and finite"):
            model.sample(2, temperature=bad)
    with pytest.raises(TypeError, match="temperature must be a real number"):
        model.sample(2, temperature=True)


@pytest.mark.parametrize("bad, err", [(0, ValueError), (-1, ValueError), (2.5, TypeError)])
def test_batch_size_validated(bad, err):
    model, rng = _built("realnvp-vec")
    X = rng.standard_normal((5, 3))
    with pytest.raises(err, match="batch_size"):
        model.log_prob(X, batch_size=bad)
    with pytest.raises(err, match="batch_size"):
        model.score_samples(X, batch_size=bad)
    np.testing.assert_allclose(model.log_prob(X, batch_size=2), model.log_prob(X))


def test_n_dequant_validated_for_continuous_models_too():
    model, rng = _built("realnvp-vec")
    with pytest.raises(ValueError, match="n_dequant"):
        model.score_samples(rng.standard_normal((2, 3)), n_dequant=0)


def test_interpolate_unfitted_and_endpoint_shapes():
    with pytest.raises(NotFittedError, match="not fitted"):
        NICE(n_couplings=2, hidden=8).interpolate(np.zeros(2), np.zeros(2))
    model, _ = _built("realnvp-vec")
    with pytest.raises(ValueError, match=r"x_b must be one example of shape \(3,\)"):
        model.interpolate(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="x_a must be one example"):
        model.interpolate(np.zeros((1, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="x_a contains NaN"):
        model.interpolate(np.full(3, np.nan), np.zeros(3))


def test_logit_log_prob_outside_domain_is_a_clear_error():
    model, rng = _logit_model(0.05)  # K = 5: domain (-5/18, 5 + 5/18) in data units
    X = rng.uniform(0, 5, size=(2, 16))
    for v in (6.0, -1.0):
        X[0, 0] = v
        with warnings.catch_warnings():  # refused before any log of a negative number
            warnings.simplefilter("error")
            with pytest.raises(ValueError, match=rf"X holds {v}, outside the domain"):
                model.log_prob(X)
        with pytest.raises(ValueError, match="outside the domain"):
            model.forward(X)
    # just outside [0, K) but inside the logit map's domain: the model's density is defined
    X[0, 0] = 5.1
    assert np.isfinite(model.log_prob(X)).all()


def test_singular_state_in_model_raises():
    model, _ = _built("glow-vec")
    inv = [m for m in model.flow_.modules() if type(m).__name__ == "InvertibleConv1x1"][0]
    inv.log_s.data[0] = -np.inf
    with pytest.raises(NonInvertibleError):
        model.sample(3, random_state=0)


def test_temperature_shrinks_latent():
    model, _ = _built("realnvp-vec")
    S1 = model.sample(2000, random_state=0, temperature=1.0)
    S0 = model.sample(2000, random_state=0, temperature=0.3)
    assert S0.std() < S1.std()


def test_interpolation_endpoints():
    model, rng = _built("glow-img")
    a, b = rng.standard_normal((2, 4, 4))
    path = model.interpolate(a, b, n_steps=5)
    assert path.shape == (5, 4, 4)
    np.testing.assert_allclose(path[0], a, atol=1e-9)
    np.testing.assert_allclose(path[-1], b, atol=1e-9)
    sph = model.interpolate(a, b, n_steps=3, spherical=True)
    np.testing.assert_allclose(sph[-1], b, atol=1e-9)


# ------------------------------------------------------------------ training
@pytest.mark.parametrize("cls", [RealNVP, Glow, NICE])
def test_training_reduces_ring8_nll(cls):
    X = load_dataset("ring8", "train", n_samples=2000)
    Xte = load_dataset("ring8", "test", n_samples=1000)
    kw = {RealNVP: dict(n_couplings=4, hidden=32), Glow: dict(n_steps=3, hidden=32),
          NICE: dict(n_couplings=4, hidden=32)}[cls]
    model = cls(**kw)
    train(model, X, max_epochs=1, batch_size=200, learning_rate=1e-9, random_state=0)
    before = -model.score(Xte)
    model = cls(**kw)
    train(model, X, max_epochs=6, batch_size=100, learning_rate=3e-3, random_state=0)
    after = -model.score(Xte)
    # the data have NLL ~0.31 nats; an untrained flow (identity, or ActNorm-whitened) ~2.9+
    assert after < before - (0.3 if cls is NICE else 0.8), (before, after)


def test_digits_dequantized_training_and_checkpoint(tmp_path):
    X = load_dataset("digits17", "train")[:256]
    model = Glow(n_steps=1, hidden=8)
    h = train(model, X, max_epochs=2, batch_size=64, learning_rate=2e-3, random_state=0,
              checkpoint_dir=tmp_path)
    assert model.n_bins_ == 17
    assert h.train_loss[-1] < h.train_loss[0]
    assert all(m.initialized for m in model._actnorms())
    bpd = model.nll(X[:64], "bits/dim")
    assert 0 < bpd < math.log2(17) + 1
    path = model.save(tmp_path / "glow.npz")
    loaded = GenerativeModel.load(path)
    assert isinstance(loaded, Glow) and loaded.n_bins_ == 17
    assert all(m.initialized for m in loaded._actnorms())
    np.testing.assert_allclose(loaded.score_samples(X[:32]), model.score_samples(X[:32]),
                               rtol=1e-6)
    # a resumed run continues from the checkpoint without re-initialising ActNorm
    resumed = Glow(n_steps=1, hidden=8)
    train(resumed, X, max_epochs=3, batch_size=64, learning_rate=2e-3, random_state=0,
          resume_from=tmp_path / "checkpoint.npz")
    full = Glow(n_steps=1, hidden=8)
    train(full, X, max_epochs=3, batch_size=64, learning_rate=2e-3, random_state=0)
    np.testing.assert_allclose(resumed.score_samples(X[:16]), full.score_samples(X[:16]),
                               rtol=1e-5)


def test_cli_train_flow(tmp_path):
    from minigen.cli import main

    out = tmp_path / "run"
    rc = main(["train", "realnvp", "--data", "ring8", "--epochs", "1", "--out", str(out),
               "--quiet", "--no-samples", "--param", "n_couplings=2", "--param", "hidden=16"])
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "realnvp" and math.isfinite(metrics["nll"]["test"]["nats"])
    model = GenerativeModel.load(out / "model.npz")
    assert model.sample(4, random_state=0).shape == (4, 2)


def test_numba_backend_matches_numpy_reference():
    import minigen

    info = {r["name"]: r for r in minigen.backend_info()}
    if not info["numba"]["available"]:
        pytest.skip(info["numba"]["reason"])
    X = load_dataset("digits17", "train")[:32]
    with minigen.use_backend("numpy"):
        model = RealNVP(n_couplings=1, hidden=8, dtype="float64")
        train(model, X, max_epochs=1, batch_size=16, learning_rate=1e-3, random_state=0)
        ref = model.score_samples(X)
        S_ref = model.sample(8, random_state=0, dequantized=True)
        loss_ref, g_ref = model.loss_and_grads(X[:16], np.random.default_rng(1))
    with minigen.use_backend("numba"):
        np.testing.assert_allclose(model.score_samples(X), ref, rtol=1e-12)
        np.testing.assert_allclose(model.sample(8, random_state=0, dequantized=True), S_ref,
                                   rtol=1e-12, atol=1e-12)
        loss, g = model.loss_and_grads(X[:16], np.random.default_rng(1))
    assert loss == pytest.approx(loss_ref, rel=1e-12)
    for k in g_ref:
        np.testing.assert_allclose(g[k], g_ref[k], rtol=1e-9, atol=1e-12)


@pytest.mark.gpu
def test_cupy_backend_roundtrip_and_parity():
    import minigen

    X = load_dataset("digits17", "train")[:32]
    with minigen.use_backend("numpy"):
        model = Glow(n_steps=1, hidden=8, dtype="float64")
        train(model, X, max_epochs=1, batch_size=16, learning_rate=1e-3, random_state=0)
        ref = model.score_samples(X)
        params = {k: v.copy() for k, v in model.trainable_arrays().items()}
    with minigen.use_backend("cupy") as be:
        gpu = Glow.load(model.save(__import__("tempfile").mkdtemp() + "/g.npz"))
        for k, v in gpu.trainable_arrays().items():
            np.testing.assert_allclose(be.to_numpy(v), params[k])
        np.testing.assert_allclose(be.to_numpy(gpu.score_samples(X)), ref, rtol=1e-9)
        Z, _ = gpu.forward(be.asarray(X + 0.5))
        V, _ = gpu.inverse(Z)
        assert float(abs(V - be.asarray(X + 0.5)).max()) < 1e-9


def test_glow_linear_init_identity():
    """``linear_init="identity"``: every LU map starts as the identity (then the masks'
    alternation gives perpendicular coupling axes, as in RealNVP); the default is a
    random rotation; anything else is rejected."""
    from minigen.models.flows import InvertibleConv1x1

    X = load_dataset("ring8", "train")[:64]
    for init in ("identity", "rotation"):
        model = Glow(n_steps=3, hidden=8, linear_init=init)
        model.build_parameters(2, np.random.default_rng(0))
        Ws = [m.weight().data for m in model.flow_.modules()
              if isinstance(m, InvertibleConv1x1)]
        assert len(Ws) == 3
        for W in Ws:
            np.testing.assert_allclose(W @ W.T, np.eye(2), atol=1e-6)  # orthogonal
            assert np.allclose(W, np.eye(2)) == (init == "identity")
    train(model, X, max_epochs=1, batch_size=32, random_state=0)
    with pytest.raises(ValueError, match="linear_init"):
        Glow(linear_init="random").set_params(max_epochs=1).fit(X)
