"""Plots: PNGs are written headless; bad input and a missing matplotlib give clear errors."""

import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")
from minigen import plot  # noqa: E402
from minigen.training import History  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def _is_png(p):
    return p.read_bytes()[:8] == PNG


def test_sample_grid_shapes(tmp_path):
    rng = np.random.default_rng(0)
    assert _is_png(plot.sample_grid(rng.random((10, 8, 8)), tmp_path / "a.png", nrow=4))
    assert _is_png(plot.sample_grid(rng.random((4, 16)), tmp_path / "b.png"))
    assert _is_png(plot.sample_grid(rng.random((3, 5, 5, 3)), tmp_path / "c.png"))
    assert _is_png(plot.sample_grid(np.zeros((2, 4, 4)), tmp_path / "sub" / "d.png"))
    with pytest.raises(ValueError, match="non-square"):
        plot.sample_grid(rng.random((4, 15)), tmp_path / "e.png")
    with pytest.raises(ValueError, match="nrow"):
        plot.sample_grid(rng.random((4, 2, 2)), tmp_path / "e.png", nrow=0)
    with pytest.raises(ValueError, match="images must not be empty"):
        plot.sample_grid(np.zeros((0, 2, 2)), tmp_path / "e.png")


def test_sample_grid_channel_counts(tmp_path):
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    x = rng.random((4, 8, 8, 1))
    # one channel is drawn as gray, exactly like the (n, H, W) images
    a = plt.imread(plot.sample_grid(x, tmp_path / "a.png"))
    b = plt.imread(plot.sample_grid(x[..., 0], tmp_path / "b.png"))
    np.testing.assert_array_equal(a, b)
    assert _is_png(plot.sample_grid(rng.random((2, 4, 4, 4)), tmp_path / "rgba.png"))
    for c in (2, 5):
        with pytest.raises(ValueError, match=f"C={c} channels cannot be shown"):
            plot.sample_grid(rng.random((4, 8, 8, c)), tmp_path / "c.png")


def test_training_curves(tmp_path):
    h = History(train_loss=[3.0, 2.0, 1.5], valid_nll=[3.1, 2.5, float("nan")])
    assert _is_png(plot.training_curves(h, tmp_path / "h.png"))
    assert _is_png(plot.training_curves(h.to_dict(), tmp_path / "h2.png"))
    with pytest.raises(ValueError, match="train_loss"):
        plot.training_curves({}, tmp_path / "x.png")


def test_density_2d(tmp_path):
    def logp(x):
        return -0.5 * (x**2).sum(axis=1) - np.log(2 * np.pi)

    s = np.random.default_rng(0).standard_normal((100, 2))
    assert _is_png(plot.density_2d(logp, tmp_path / "d.png", samples=s, resolution=50))
    with pytest.raises(ValueError, match="extent"):
        plot.density_2d(logp, tmp_path / "d.png", extent=(1, 0, 0, 1))
    with pytest.raises(TypeError, match="log_prob_fn"):
        plot.density_2d(3, tmp_path / "d.png")
    # a callable returning the wrong number of values: named, not a reshape error
    with pytest.raises(ValueError, match=r"log_prob_fn must return .* shape \(101,\)"):
        plot.density_2d(lambda p: np.zeros(len(p) + 1), tmp_path / "d.png", resolution=10)
    with pytest.raises(ValueError, match=r"returned shape \(100, 1\)"):
        plot.density_2d(lambda p: logp(p)[:, None], tmp_path / "d.png", resolution=10)
    with pytest.raises(TypeError, match="log_prob_fn's output"):
        plot.density_2d(lambda p: ["a"] * len(p), tmp_path / "d.png", resolution=10)
    # -inf log-densities (zero mass) are fine
    inf = plot.density_2d(lambda p: np.where(p[:, 0] > 0, -np.inf, logp(p)), tmp_path / "i.png")
    assert _is_png(inf)


def test_missing_matplotlib_hint(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install 'minigen\[plot\]'"):
        plot.sample_grid(np.zeros((1, 2, 2)), tmp_path / "x.png")
