"""Plots: every function returns a Figure, draws into ax=, writes only when given a path,
and never changes the matplotlib backend the user chose (notebooks); bad input and a
missing matplotlib give clear errors."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402

from minigen import plot  # noqa: E402
from minigen.training import History  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[1]


def _is_png(p):
    return Path(p).read_bytes()[:8] == PNG


def _logp(x):
    return -0.5 * (x**2).sum(axis=1) - np.log(2 * np.pi)


def test_sample_grid_shapes(tmp_path):
    rng = np.random.default_rng(0)
    for i, x in enumerate((rng.random((10, 8, 8)), rng.random((4, 16)),
                           rng.random((3, 5, 5, 3)), np.zeros((2, 4, 4)))):
        fig = plot.sample_grid(x, tmp_path / "sub" / f"{i}.png", nrow=4 if i == 0 else None)
        assert isinstance(fig, Figure) and _is_png(tmp_path / "sub" / f"{i}.png")
    with pytest.raises(ValueError, match="non-square"):
        plot.sample_grid(rng.random((4, 15)))
    with pytest.raises(ValueError, match="nrow"):
        plot.sample_grid(rng.random((4, 2, 2)), nrow=0)
    with pytest.raises(ValueError, match="images must not be empty"):
        plot.sample_grid(np.zeros((0, 2, 2)))


def test_sample_grid_is_readable_with_separators_no_image_contains(tmp_path):
    import matplotlib.pyplot as plt

    x = np.ones((4, 8, 8))  # all-white digits: 1-pixel white separators used to vanish
    x[0] = 0.0
    plot.sample_grid(x, tmp_path / "g.png", nrow=2)
    img = plt.imread(tmp_path / "g.png")[..., :3]
    h, w = img.shape[:2]
    cell = (h - 2) // 2 - 2
    assert cell >= plot.MIN_CELL_PIXELS  # 8x8 images blown up to a readable size
    sep = np.isclose(img, plot.SEPARATOR_RGB, atol=0.01).all(axis=-1)
    assert sep[:, :2].all() and sep[:2, :].all() and sep[cell + 2: cell + 4, :].all()
    gray = np.isclose(img[..., 0], img[..., 1]) & np.isclose(img[..., 1], img[..., 2])
    assert (sep ^ gray).all()  # every pixel is either a separator or gray image content


def test_sample_grid_channel_counts(tmp_path):
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    x = rng.random((4, 8, 8, 1))
    # one channel is drawn as gray, exactly like the (n, H, W) images
    plot.sample_grid(x, tmp_path / "a.png")
    plot.sample_grid(x[..., 0], tmp_path / "b.png")
    np.testing.assert_array_equal(plt.imread(tmp_path / "a.png"), plt.imread(tmp_path / "b.png"))
    plot.sample_grid(rng.random((2, 4, 4, 4)), tmp_path / "rgba.png")
    assert _is_png(tmp_path / "rgba.png")
    for c in (2, 5):
        with pytest.raises(ValueError, match=f"C={c} channels cannot be shown"):
            plot.sample_grid(rng.random((4, 8, 8, c)))


def test_training_curves(tmp_path):
    h = History(train_loss=[3.0, 2.0, 1.5], valid_nll=[3.1, 2.5, float("nan")])
    assert isinstance(plot.training_curves(h, tmp_path / "h.png"), Figure)
    assert _is_png(tmp_path / "h.png")
    plot.training_curves(h.to_dict(), tmp_path / "h2.png")
    assert _is_png(tmp_path / "h2.png")
    with pytest.raises(ValueError, match="train_loss"):
        plot.training_curves({})


def test_density_2d(tmp_path):
    s = np.random.default_rng(0).standard_normal((100, 2))
    fig = plot.density_2d(_logp, tmp_path / "d.png", samples=s, resolution=50)
    assert _is_png(tmp_path / "d.png")
    # a colour bar (a second axes) and a legend naming the samples
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "density p(x)"
    assert fig.axes[0].get_legend().get_texts()[0].get_text() == "100 samples"
    with pytest.raises(ValueError, match="extent"):
        plot.density_2d(_logp, extent=(1, 0, 0, 1))
    with pytest.raises(TypeError, match="log_prob_fn"):
        plot.density_2d(3)
    # a callable returning the wrong number of values: named, not a reshape error
    with pytest.raises(ValueError, match=r"log_prob_fn must return .* shape \(101,\)"):
        plot.density_2d(lambda p: np.zeros(len(p) + 1), resolution=10)
    with pytest.raises(ValueError, match=r"returned shape \(100, 1\)"):
        plot.density_2d(lambda p: _logp(p)[:, None], resolution=10)
    with pytest.raises(TypeError, match="log_prob_fn's output"):
        plot.density_2d(lambda p: ["a"] * len(p), resolution=10)
    # -inf log-densities (zero mass) are fine
    plot.density_2d(lambda p: np.where(p[:, 0] > 0, -np.inf, _logp(p)), tmp_path / "i.png")
    assert _is_png(tmp_path / "i.png")


def test_functions_draw_into_a_given_axes_and_write_nothing_without_a_path(tmp_path):
    fig = Figure()
    axes = fig.subplots(1, 3)
    h = History(train_loss=[2.0, 1.0])
    assert plot.sample_grid(np.zeros((4, 8, 8)), ax=axes[0]) is fig
    assert plot.training_curves(h, ax=axes[1]) is fig
    assert plot.density_2d(_logp, ax=axes[2], resolution=20, colorbar=False) is fig
    assert axes[0].images and axes[1].lines and axes[2].images
    assert list(tmp_path.iterdir()) == []


def test_plots_never_change_the_users_backend():
    code = """
import matplotlib
matplotlib.use("svg")
import numpy as np
import minigen.plot as p
from minigen.training import History
figs = [p.sample_grid(np.zeros((4, 8, 8))), p.training_curves(History(train_loss=[1.0])),
        p.density_2d(lambda x: -(x ** 2).sum(1), resolution=10)]
print(matplotlib.get_backend(), all(type(f).__name__ == "Figure" for f in figs))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["svg", "True"]


def test_missing_matplotlib_hint(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install 'minigen\[plot\]'"):
        plot.sample_grid(np.zeros((1, 2, 2)), tmp_path / "x.png")
