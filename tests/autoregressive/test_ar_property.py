"""AR-property sweep over every discrete AR model, ordering and alphabet; CLI smoke run."""

import json

import numpy as np
import pytest

from minigen.backend import to_numpy
from minigen.base import GenerativeModel
from minigen.cli import main
from minigen.datasets import load_dataset
from minigen.models.autoregressive import FVSBN, MADE, PixelTransformer
from minigen.models.baseline import FactorizedBernoulli

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
    m.build_parameters((2, 4), np.random.default_rng(7))
    m.fitted_ = True
    for mask in range(getattr(m, "orderings_", np.zeros((1,))).shape[0]):
        if hasattr(m, "_activate"):
            m._activate(mask)
        J = check_autoregressive_model(m)
        assert J.shape == (8, 8)


# Enough to beat the factorized baseline clearly (1 epoch at the default lr 1e-3 leaves
# every model ~12-16 nats per image worse than it); 0.3-2.5 s per model.
CLI_BUDGET = ["--epochs", "5", "--lr", "1e-2"]


def nll_gap_to_factorized_baseline(model_path):
    """Per-test-example NLL of the checkpoint minus that of a factorized Bernoulli fitted
    on the same train split of digits (nats, shape (n_test,)); also the model's NLLs."""
    model = GenerativeModel.load(model_path)
    Xtr = load_dataset("digits", "train", seed=0)
    Xte = load_dataset("digits", "test", seed=0)
    nll = -np.asarray(to_numpy(model.score_samples(Xte)), dtype=np.float64)
    base = -np.asarray(to_numpy(FactorizedBernoulli().fit(Xtr).score_samples(Xte)))
    return nll - base, nll


def assert_beats_factorized_baseline(gap):
    """A trained AR model must be better than independent pixels on the test split: the
    mean per-example gap plus 3 standard errors (paired over test images) is below 0."""
    se = gap.std(ddof=1) / np.sqrt(gap.size)
    assert gap.mean() + 3 * se < 0, (
        f"test NLL is {gap.mean():+.3f} +- {se:.3f} nats vs the factorized baseline")


@pytest.mark.parametrize("name", ["fvsbn", "made", "transformer"])
def test_cli_train_tiny(name, tmp_path, capsys):
    out = tmp_path / name
    params = ["--param", "d_model=16", "--param", "n_layers=1"] if name == "transformer" else []
    rc = main(["train", name, "--data", "digits", *CLI_BUDGET, "--out", str(out),
               "--quiet", "--no-samples", "--backend", "numpy", *params])
    assert rc == 0
    metrics = json.loads((out / "metrics.json").read_text())
    test_nll = metrics["nll"]["test"]["nats"]
    gap, nll = nll_gap_to_factorized_baseline(out / "model.npz")
    assert test_nll > 0
    np.testing.assert_allclose(test_nll, nll.mean(), rtol=1e-6)  # metrics.json = checkpoint
    assert_beats_factorized_baseline(gap)
    rc = main(["sample", str(out / "model.npz"), "-n", "4", "--out", str(tmp_path / "s.npy"),
               "--backend", "numpy"])
    assert rc == 0
    s = np.load(tmp_path / "s.npy")
    assert s.shape == (4, 8, 8) and set(np.unique(s)) <= {0, 1}
