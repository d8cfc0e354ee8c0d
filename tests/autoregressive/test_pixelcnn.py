"""PixelCNN / gated PixelCNN: AR property, blind spot, cached sampling, heads, fits, errors."""

import numpy as np
import pytest

from minigen.autograd import Tensor, no_grad
from minigen.base import GenerativeModel
from minigen.datasets import bars_and_stripes, load_dataset
from minigen.models.autoregressive import GatedPixelCNN, PixelCNN

from .ar_property import check_autoregressive_model, dependency_matrix, numpy_backend_fixture

_np = pytest.fixture(autouse=True, scope="module")(numpy_backend_fixture)


def _built(cls, shape=(4, 5), k=2, **kw):
    kw.setdefault("n_channels", 16)
    kw.setdefault("n_layers", 3)
    m = cls(n_categories=k, dtype="float64", **kw)
    m.build_parameters(shape, np.random.default_rng(0))
    m.fitted_ = True
    return m


@pytest.mark.parametrize("cls,kw", [
    (PixelCNN, dict()), (PixelCNN, dict(k=3, first_kernel_size=3)),
    (PixelCNN, dict(k=4, head="logistic", n_mix=2)),
    (PixelCNN, dict(shape=(3, 3, 3), k=3, n_channels=24)),  # colour groups
    (GatedPixelCNN, dict()), (GatedPixelCNN, dict(k=3, kernel_size=5)),
])
def test_autoregressive_property(cls, kw):
    check_autoregressive_model(_built(cls, **kw))


def test_gated_has_no_blind_spot_plain_has_one():
    """Output (r, c) of a 3x3 PixelCNN stack never sees (r - 1, c + 2); the gated one does,
    and with enough layers it sees every earlier pixel of a 4 x 5 image."""
    kw = dict(shape=(4, 5), n_layers=5, kernel_size=3)
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2, (16, 20))
    plain = _built(PixelCNN, first_kernel_size=3, **kw)
    gated = _built(GatedPixelCNN, **kw)
    jp = dependency_matrix(plain._logits, plain._encode(x))
    jg = dependency_matrix(gated._logits, gated._encode(x))
    i, j = 2 * 5 + 0, 1 * 5 + 2  # output (2, 0) and input (1, 2), up and two to the right
    assert jp[i, j] == 0.0 and jg[i, j] > 0.0
    blind = [(a, b) for a in range(20) for b in range(a) if jp[a, b] == 0.0]
    assert len(blind) > 10
    for a in range(1, 20):
        assert (jg[a, :a] > 0).all(), f"gated output {a} misses {np.flatnonzero(jg[a, :a] == 0)}"


@pytest.mark.parametrize("cls,kw", [
    (PixelCNN, dict(k=2)), (PixelCNN, dict(k=5, first_kernel_size=3)),
    (PixelCNN, dict(k=6, head="logistic", n_mix=3)),
    (PixelCNN, dict(shape=(3, 2, 3), k=2, n_channels=12)),
    (GatedPixelCNN, dict(k=2)), (GatedPixelCNN, dict(k=4, kernel_size=5)),
])
def test_cached_sampler_matches_uncached(cls, kw):
    m = _built(cls, **kw)
    a = m.sample(12, random_state=3)
    b = m.sample(12, random_state=3, use_cache=False)
    np.testing.assert_array_equal(a, b)
    # and every cached step's logits equal the teacher-forced ones at that position
    x = a.reshape(12, -1)
    with no_grad():
        full = m._logits(Tensor(m._encode(x))).data
    state = m._sampler_start(12)
    for t in range(m.n_dims_):
        np.testing.assert_allclose(m._sampler_logits(x, t, state), full[:, t], rtol=1e-9,
                                   atol=1e-9)


@pytest.mark.parametrize("cls", [PixelCNN, GatedPixelCNN])
def test_normalized(cls):
    m = _built(cls, shape=(2, 3), k=2)
    X = ((np.arange(64)[:, None] >> np.arange(6)) & 1).reshape(64, 2, 3)
    np.testing.assert_allclose(np.exp(m.score_samples(X)).sum(), 1.0, rtol=1e-9)


def test_logistic_head_is_normalized_over_the_alphabet():
    m = _built(PixelCNN, shape=(1, 2), k=7, head="logistic", n_mix=2)
    X = np.stack(np.meshgrid(np.arange(7), np.arange(7), indexing="ij"), -1).reshape(49, 1, 2)
    np.testing.assert_allclose(np.exp(m.score_samples(X)).sum(), 1.0, rtol=1e-9)


def test_logistic_head_on_8bit_images():
    """K = 256: scaled-intensity input, mixture-of-logistics head, cached sampler agrees."""
    X = np.random.default_rng(0).integers(0, 256, (40, 3, 3))
    X[:, 0, 0] = 255
    m = (
        PixelCNN(n_channels=8, n_layers=2, head="logistic", n_mix=3, dtype="float64")
        .set_params(max_epochs=2, batch_size=20, learning_rate=1e-2)
        .fit(X)
    )
    assert m.n_categories_ == 256 and m._n_input_channels() == 1
    nll = m.nll(X)
    assert np.isfinite(nll) and nll < 1.2 * 9 * np.log(256)  # near uniform noise (random X)
    a = m.sample(4, random_state=0)
    np.testing.assert_array_equal(a, m.sample(4, random_state=0, use_cache=False))
    assert a.min() >= 0 and a.max() <= 255


@pytest.mark.parametrize(
    "cls,kw",
    [
        (PixelCNN, dict(n_channels=16, n_layers=4, first_kernel_size=7)),
        (GatedPixelCNN, dict(n_channels=16, n_layers=4)),
    ],
)
def test_fits_bars_and_stripes_exactly(cls, kw, tmp_path):
    X = load_dataset("bars-stripes4", "train", n_samples=3000)
    P = bars_and_stripes(4)
    m = (
        cls(**kw)
        .set_params(max_epochs=10, learning_rate=1e-2, batch_size=100, random_state=0)
        .fit(X)
    )
    assert abs(m.nll(P) - np.log(30)) < 0.05
    m2 = GenerativeModel.load(m.save(tmp_path / "m.npz"))
    np.testing.assert_allclose(m2.score_samples(P), m.score_samples(P), rtol=1e-6)
    np.testing.assert_array_equal(m2.sample(5, random_state=0), m.sample(5, random_state=0))


@pytest.mark.parametrize("cls", [PixelCNN, GatedPixelCNN])
def test_bad_input(cls):
    X = np.random.default_rng(0).integers(0, 2, (20, 4, 4))
    m = cls(n_channels=8, n_layers=1).set_params(max_epochs=1, batch_size=10).fit(X)
    with pytest.raises(ValueError, match="shape"):
        m.score_samples(np.zeros((3, 5, 4)))
    with pytest.raises(ValueError, match="alphabet"):
        m.score_samples(np.full((3, 4, 4), 2))
    with pytest.raises(ValueError, match="integer"):
        m.score_samples(np.full((3, 4, 4), 0.5))
    with pytest.raises(ValueError, match="kernel_size"):
        cls(kernel_size=4).set_params(max_epochs=1).fit(X)
    with pytest.raises(ValueError, match="head"):
        cls(head="gaussian").set_params(max_epochs=1).fit(X)


def test_gated_rejects_colour_images():
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        GatedPixelCNN().set_params(max_epochs=1).fit(np.zeros((4, 3, 3, 3), dtype=int))


@pytest.mark.gpu
def test_trains_a_step_on_cupy():
    import minigen

    X = np.random.default_rng(0).integers(0, 2, (16, 4, 4))
    with minigen.use_backend("cupy"):
        m = PixelCNN(n_channels=8, n_layers=1).set_params(max_epochs=1, batch_size=8).fit(X)
        assert np.isfinite(float(m.nll(X)))
        assert m.sample(2, random_state=0).shape == (2, 4, 4)


@pytest.mark.parametrize("name", ["pixelcnn", "gated-pixelcnn", "row-lstm", "diagonal-bilstm"])
def test_cli_train_one_epoch(name, tmp_path, capsys):
    import json

    pytest.importorskip("sklearn")  # digits come from scikit-learn
    from minigen.cli import main

    out = tmp_path / name
    argv = [
        "train",
        name,
        "--data",
        "digits",
        "--epochs",
        "1",
        "--out",
        str(out),
        "--quiet",
        "--no-samples",
        "--backend",
        "numpy",
        "--lr",
        "0.01",
        "--param",
        "n_channels=8",
        "--param",
        "n_layers=1",
    ]
    assert main(argv) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["model"] == name and np.isfinite(m["nll"]["test"]["nats"])
    assert m["nll"]["test"]["nats"] < 64 * np.log(2)  # better than a coin per pixel
    npy = tmp_path / "s.npy"
    assert main(["sample", str(out / "model.npz"), "-n", "3", "--out", str(npy)]) == 0
    assert np.load(npy).shape == (3, 8, 8)
    capsys.readouterr()
