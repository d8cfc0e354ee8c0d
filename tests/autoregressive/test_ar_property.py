"""AR-property sweep over every discrete AR model, ordering and alphabet; CLI smoke run."""

import json

import numpy as np
import pytest

from minigen.cli import main
from minigen.models.autoregressive import FVSBN, MADE, PixelTransformer

from .ar_property import check_autoregressive_model, numpy_backend_fixture

_np = pytest.fixture(autouse=True, scope="module")(numpy_backend_fixture)

MODELS = {
    "fvsbn": lambda **kw: FVSBN(**kw),
    "made": lambda **kw: MADE(hidden_sizes=(24, 24), activation="elu", **kw),
    "made-ensemble": lambda **kw: MADE(hidden_sizes=(24,), n_masks=2, **kw),
    "transformer": lambda **kw: PixelTransformer(d_model=8, n_heads=2, n_layers=2, **kw),
}
ORDERINGS = {"natural": "natural", "random": "random",
             "custom": [5, 0, 4, 1, 3, 2, 7, 6]}


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("order", sorted(ORDERINGS))
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_and_ordering_is_autoregressive(name, order, k):
    m = MODELS[name](n_categories=k, ordering=ORDERINGS[order])
    m._build((2, 4), np.random.default_rng(7))
    m.fitted_ = True
    for mask in range(getattr(m, "orderings_", np.zeros((1,))).shape[0]):
        if hasattr(m, "_activate"):
            m._activate(mask)
        J = check_autoregressive_model(m)
        assert J.shape == (8, 8)


@pytest.mark.parametrize("name", ["fvsbn", "made", "transformer"])
def test_cli_train_tiny(name, tmp_path, capsys):
    out = tmp_path / name
    params = ["--param", "d_model=16", "--param", "n_layers=1"] if name == "transformer" else []
    rc = main(["train", name, "--data", "digits", "--epochs", "1", "--out", str(out),
               "--quiet", "--no-samples", "--backend", "numpy", *params])
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    test_nll = metrics["nll"]["test"]["nats"]
    assert 0 < test_nll < 64 * np.log(2)  # better than uniform over 2^64 images
    rc = main(["sample", str(out / "model.npz"), "-n", "4", "--out", str(tmp_path / "s.npy"),
               "--backend", "numpy"])
    assert rc == 0
    s = np.load(tmp_path / "s.npy")
    assert s.shape == (4, 8, 8) and set(np.unique(s)) <= {0, 1}
