"""The model contract: registry, hyper-parameters, NLL units, save/load and its errors."""

import numpy as np
import pytest

from minigen.base import MODEL_REGISTRY, GenerativeModel, register_model
from minigen.exceptions import NotFittedError
from minigen.io import CheckpointError, load_checkpoint, save_checkpoint
from minigen.models import get_model_class, load
from minigen.models.baseline import FactorizedBernoulli, FactorizedCategorical


def _X(n=40, shape=(3, 2), seed=0):
    return (np.random.default_rng(seed).random((n, *shape)) < 0.4).astype(float)


def test_registry(monkeypatch):

    # the test registers a model: the registry goes back as it was afterwards
    monkeypatch.setattr("minigen.base.MODEL_REGISTRY", dict(MODEL_REGISTRY))
    assert get_model_class("baseline") is FactorizedCategorical
    with pytest.raises(ValueError, match="unknown model 'nope'; known models: .*baseline"):
        get_model_class("nope")

    @register_model("_tmp-test-model")
    class A(GenerativeModel):
        pass

    try:
        assert get_model_class("_tmp-test-model") is A and A._registry_name == "_tmp-test-model"
        register_model("_tmp-test-model")(A)  # re-registering the same class is fine
        with pytest.raises(ValueError, match="already registered"):

            @register_model("_tmp-test-model")
            class B(GenerativeModel):
                pass
    finally:  # later tests in this process (the catalog's tables) see the real registry
        MODEL_REGISTRY.pop("_tmp-test-model", None)


def test_params_and_repr():
    m = FactorizedCategorical(n_categories=3, alpha=0.5)
    assert m.get_params() == {"n_categories": 3, "alpha": 0.5}
    assert repr(m) == "FactorizedCategorical(n_categories=3, alpha=0.5)"
    m.set_params(alpha=2.0)
    assert m.alpha == 2.0
    with pytest.raises(ValueError, match="invalid parameter 'beta'"):
        m.set_params(beta=1)


def test_score_and_nll_units():
    X = _X()
    m = FactorizedBernoulli().fit(X)
    assert m.score(X) == pytest.approx(m.score_samples(X).mean())
    assert m.nll(X) == pytest.approx(-m.score(X))
    assert m.nll(X, unit="bits/dim") == pytest.approx(-m.score(X) / (6 * np.log(2)))
    with pytest.raises(ValueError, match="unknown unit"):
        m.nll(X, unit="bits")


def test_unfitted_and_not_gradient_trained():
    m = FactorizedBernoulli()
    with pytest.raises(NotFittedError, match="not fitted"):
        m.save("x.npz")
    with pytest.raises(NotImplementedError, match="not trained by gradient"):
        GenerativeModel().loss_and_grads(None, None)
    with pytest.raises(CheckpointError, match="no extra state"):
        GenerativeModel().load_extra_state({"a": np.zeros(1)})


def test_save_load_via_base_and_class(tmp_path):
    X = _X()
    m = FactorizedBernoulli(alpha=0.25).fit(X)
    p = m.save(tmp_path / "m.npz", note="hello")
    arrays, meta = load_checkpoint(p)
    assert set(arrays) == {"param/p"}  # the example shape is n_features in the metadata
    assert meta["model"] == "baseline-bernoulli" and meta["params"] == {"alpha": 0.25}
    assert meta["note"] == "hello" and meta["n_features"] == [3, 2]  # the example shape
    for loader in (GenerativeModel.load, FactorizedBernoulli.load):
        m2 = loader(p)
        np.testing.assert_array_equal(m2.p_, m.p_)
    with pytest.raises(CheckpointError, match="holds a 'baseline-bernoulli' model, not 'baseline'"):
        FactorizedCategorical.load(p)


def _tampered(tmp_path, **params):
    """The checkpoint of a fitted FactorizedBernoulli with parameters edited: a value
    replaces the saved array, a callable maps it, ``None`` removes it. Returns its path."""
    arrays, meta = load_checkpoint(FactorizedBernoulli().fit(_X()).save(tmp_path / "m.npz"))
    for name, new in params.items():
        key = f"param/{name}"
        if new is None:
            del arrays[key]
        else:
            arrays[key] = new(arrays[key]) if callable(new) else new
    return save_checkpoint(tmp_path / "tampered.npz", arrays, meta)


def test_shape_mismatched_checkpoint(tmp_path):
    path = _tampered(tmp_path, p=np.zeros(7))
    with pytest.raises(CheckpointError, match=r"parameter 'p' has shape \(7,\).*expects \(6,\)"):
        GenerativeModel.load(path)


def test_checkpoint_missing_parameter(tmp_path):
    path = _tampered(tmp_path, p=None)  # its only parameter
    with pytest.raises(CheckpointError, match=r"tampered\.npz' lacks parameter arrays"):
        GenerativeModel.load(path)


def test_checkpoint_unknown_model(tmp_path):
    m = FactorizedBernoulli().fit(_X())
    arrays, meta = load_checkpoint(m.save(tmp_path / "m.npz"))
    meta["model"] = "no-such-model"
    save_checkpoint(tmp_path / "bad.npz", arrays, meta)
    with pytest.raises(CheckpointError, match="unknown model 'no-such-model'"):
        GenerativeModel.load(tmp_path / "bad.npz")
    with pytest.raises(CheckpointError, match="minigen.models.load"):
        load(tmp_path / "bad.npz")


def test_load_any_model_in_a_fresh_process(tmp_path):
    """``minigen.models.load`` needs no import of the model's module by the caller."""
    import subprocess
    import sys

    path = FactorizedBernoulli().fit(_X()).save(tmp_path / "m.npz")
    code = f"import minigen.models as m; print(type(m.load({str(path)!r})).__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "FactorizedBernoulli"


def test_truncated_model_checkpoint(tmp_path):
    p = FactorizedBernoulli().fit(_X()).save(tmp_path / "m.npz")
    p.write_bytes(p.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        GenerativeModel.load(p)


@pytest.mark.parametrize(
    "key", ["model", "params", "n_features", "format_version", "training", "backend"]
)
def test_save_rejects_reserved_metadata_keys(tmp_path, key):
    m = FactorizedBernoulli().fit(_X())
    with pytest.raises(ValueError, match=rf"\['{key}'\] are reserved"):
        m.save(tmp_path / "m.npz", **{key: "mine"})
    assert not list(tmp_path.iterdir())


_DROP = object()  # marks a metadata key to delete


def _edit_metadata(meta, edit):
    key, value = edit
    if value is _DROP:
        del meta[key]
    else:
        meta[key] = value
    return meta


@pytest.mark.parametrize(
    "edit,msg",
    [
        (("model", _DROP), "lacks the required key 'model'"),
        (("params", _DROP), "lacks the required key 'params'"),
        (("n_features", _DROP), "lacks the required key 'n_features'"),
        (("model", 3), "'model' must be a model name"),
        (("params", [0.5]), "'params' must be a JSON object"),
        (("params", {"beta": 1}),
         "hyper-parameters, n_features or extra state that FactorizedBernoulli"),
        (("n_features", "6"), "'n_features' must be a positive int"),
        (("n_features", 0), "'n_features' must be a positive int"),
        (("n_features", True), "'n_features' must be a positive int"),
        (("n_features", [6, -1]), "'n_features' must be a positive int"),
        (("model", "no-such-model"), "unknown model 'no-such-model'"),
    ],
)
def test_malformed_model_metadata(tmp_path, edit, msg):
    m = FactorizedBernoulli().fit(_X())
    arrays, meta = load_checkpoint(m.save(tmp_path / "m.npz"))
    save_checkpoint(tmp_path / "bad.npz", arrays, _edit_metadata(meta, edit))
    with pytest.raises(CheckpointError, match=msg) as info:
        GenerativeModel.load(tmp_path / "bad.npz")
    assert "bad.npz" in str(info.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_parameters_refused(tmp_path, bad):
    path = _tampered(tmp_path, p=lambda p: np.where(np.arange(p.size) == 2, bad, p))
    for loader in (GenerativeModel.load, FactorizedBernoulli.load):
        with pytest.raises(CheckpointError, match=r"tampered\.npz.*'p' has 1 non-finite"):
            loader(path)


@pytest.mark.parametrize("value", [np.full(6, "0.5"), np.full(6, 0.5 + 1j)])
def test_wrong_dtype_parameter_refused(tmp_path, value):
    path = _tampered(tmp_path, p=value)
    with pytest.raises(CheckpointError, match=r"'p' has dtype .* expects float64"):
        GenerativeModel.load(path)


def test_foreign_parameter_refused(tmp_path):
    path = _tampered(tmp_path, W=np.zeros((6, 6)))
    with pytest.raises(CheckpointError, match=r"parameters \['W'\] the model does not have"):
        GenerativeModel.load(path)


def test_float32_parameters_still_load(tmp_path):
    m = FactorizedBernoulli().fit(_X())
    path = _tampered(tmp_path, p=lambda p: p.astype(np.float32))
    np.testing.assert_allclose(GenerativeModel.load(path).p_, m.p_, rtol=1e-7)
