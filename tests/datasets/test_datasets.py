import gzip

import numpy as np
import pytest

from minigen import datasets as ds


# ----------------------------------------------------------------------------- digits
def test_digits_splits_shapes_disjoint_protocol():
    pytest.importorskip("sklearn")
    out = ds.load_digits_splits()
    assert [out[s].shape for s in ("train", "valid", "test")] == [(1297, 8, 8), (250, 8, 8),
                                                                  (250, 8, 8)]
    assert "pixel >= 8" in out["info"].protocol and "1297/250/250" in out["info"].protocol
    # binary threshold is exactly v >= 8 of the raw values, same split order
    raw = ds.load_digits("categorical17", "valid")
    assert raw.dtype == np.int64 and raw.min() >= 0 and raw.max() == 16
    np.testing.assert_array_equal(ds.load_digits("binary", "valid"), (raw >= 8).astype(float))
    # splits are disjoint: the concatenation holds 1797 images from the full set
    from sklearn.datasets import load_digits as sk

    full = sk().images.reshape(1797, -1)
    allx = np.concatenate([ds.load_digits("categorical17", s).reshape(-1, 64)
                           for s in ("train", "valid", "test")])
    np.testing.assert_array_equal(np.sort(allx.view([("", allx.dtype)] * 64), axis=0),
                                  np.sort(full.astype(np.int64).view([("", np.int64)] * 64),
                                          axis=0))


def test_digits_stochastic_binarization_seeded_and_mean():
    pytest.importorskip("sklearn")
    a = ds.load_digits(split="train", binarize="stochastic", seed=3)
    b = ds.load_digits(split="train", binarize="stochastic", seed=3)
    c = ds.load_digits(split="train", binarize="stochastic", seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    raw = ds.load_digits("categorical17", "train") / 16.0
    n = raw.size
    se = np.sqrt((raw * (1 - raw)).sum()) / n
    assert abs(a.mean() - raw.mean()) < 5 * se
    _, info = ds.load_digits(binarize="stochastic", seed=3, return_info=True)
    assert "stochastic" in info.protocol and "3" in info.protocol


@pytest.mark.parametrize(
    "kwargs, match",
    [({"kind": "ternary"}, "kind"), ({"split": "dev"}, "split"),
     ({"binarize": "otsu"}, "binarize"), ({"threshold": 0}, "threshold"),
     ({"threshold": 2.5}, "threshold"), ({"seed": -1}, "seed")],
)
def test_digits_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ds.load_digits(**kwargs)


# ------------------------------------------------------------------------ registry
def test_load_dataset_registry():
    pytest.importorskip("sklearn")
    X, info = ds.load_dataset("digits", "test", return_info=True)
    assert X.shape == (250, 8, 8) and info.n_dims == 64 and info.n_categories == 2
    assert ds.load_dataset("digits17").dtype == np.int64
    b = ds.load_dataset("bars-stripes4", "valid")
    assert b.shape == (300, 4, 4) and np.isfinite(ds.bars_and_stripes_log_prob(b)).all()
    for name in ("ring8", "moons", "checkerboard"):
        X, info = ds.load_dataset(name, "train", n_samples=100, seed=1, return_info=True)
        assert X.shape == (100, 2) and info.shape == (2,)
        np.testing.assert_array_equal(X, ds.load_dataset(name, "train", n_samples=100, seed=1))
        assert not np.array_equal(X, ds.load_dataset(name, "valid", n_samples=100, seed=1))


def test_load_dataset_unknown_name_lists_valid():
    with pytest.raises(ValueError, match="unknown dataset 'cifar'.*'digits'.*'checkerboard'"):
        ds.load_dataset("cifar")
    with pytest.raises(ValueError, match="split"):
        ds.load_dataset("ring8", "dev")
    with pytest.raises(ValueError, match="unknown toy"):
        ds.get_toy("spiral")


# ------------------------------------------------------------------- bars & stripes
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_bars_and_stripes_count_distinct_and_normalized(n):
    P = ds.bars_and_stripes(n)
    K = 2 ** (n + 1) - 2
    assert P.shape == (K, n, n) and ds.n_bars_and_stripes(n) == K
    assert len(np.unique(P.reshape(K, -1), axis=0)) == K
    lp = ds.bars_and_stripes_log_prob(P, n)
    np.testing.assert_allclose(np.exp(lp).sum(), 1.0)
    # every other binary image has probability zero (enumerate all 2^(n*n) for n <= 3)
    if n <= 3:
        codes = np.arange(2 ** (n * n))
        allx = ((codes[:, None] >> np.arange(n * n)) & 1).astype(float)
        assert np.exp(ds.bars_and_stripes_log_prob(allx, n)).sum() == pytest.approx(1.0)
        assert np.isfinite(ds.bars_and_stripes_log_prob(allx, n)).sum() == K


def test_bars_and_stripes_entropy_and_sampler_chi_square():
    assert ds.bars_and_stripes_entropy(4) == pytest.approx(np.log(30)) == pytest.approx(3.4012,
                                                                                        abs=1e-4)
    n = 30_000
    X = ds.sample_bars_and_stripes(4, n, random_state=0)
    P = ds.bars_and_stripes(4).reshape(30, -1)
    idx = (X.reshape(n, 1, -1) == P[None]).all(-1).argmax(1)
    counts = np.bincount(idx, minlength=30)
    chi2 = ((counts - n / 30) ** 2 / (n / 30)).sum()
    assert chi2 < 29 + 5 * np.sqrt(2 * 29)  # mean + 5 sd of chi2(29)


def test_bars_and_stripes_bad_input():
    with pytest.raises(ValueError, match="binary"):
        ds.bars_and_stripes_log_prob(np.full((1, 4, 4), 0.5))
    with pytest.raises(ValueError, match="shape"):
        ds.bars_and_stripes_log_prob(np.zeros((1, 3, 3)), 4)
    with pytest.raises(ValueError, match="n"):
        ds.bars_and_stripes(0)
    with pytest.raises(TypeError, match="n_samples"):
        ds.sample_bars_and_stripes(4, 2.0)


# ---------------------------------------------------------------------------- toys
def _grid_mass(toy, lim, m=300):
    g = np.linspace(-lim, lim, m)
    h = g[1] - g[0]
    xx, yy = np.meshgrid(g, g)
    return np.exp(toy.log_prob(np.stack([xx.ravel(), yy.ravel()], 1))).sum() * h * h


@pytest.mark.parametrize("toy, lim", [(ds.Ring8(), 3.0), (ds.TwoMoons(n_quad=512), 2.6)])
def test_toy_density_integrates_to_one(toy, lim):
    assert _grid_mass(toy, lim) == pytest.approx(1.0, abs=2e-3)


def test_checkerboard_exact():
    cb = ds.Checkerboard()
    assert cb.exact_entropy == pytest.approx(np.log(32.0))
    lp = cb.log_prob(np.array([[-3.0, -3.0], [-1.0, -3.0], [5.0, 0.0], [0.5, 0.5]]))
    np.testing.assert_allclose(lp, [-np.log(32), -np.inf, -np.inf, -np.log(32)])
    x = cb.sample(5000, 0)
    assert np.isfinite(cb.log_prob(x)).all()
    h, se = cb.entropy(1000, 0)
    assert h == pytest.approx(np.log(32.0)) and se < 1e-12


def test_ring8_entropy_mc_matches_well_separated_limit():
    ring = ds.Ring8(radius=2.0, scale=0.1)
    exact = np.log(8) + 1 + np.log(2 * np.pi) + 2 * np.log(0.1)  # modes do not overlap
    h, se = ring.entropy(20_000, random_state=0)
    assert 0 < se < 0.02 and abs(h - exact) < 4 * se


def test_moons_sample_matches_log_prob_and_sklearn_curve():
    moons = ds.TwoMoons(noise=0.1)
    x = moons.sample(4000, 1)
    # samples lie where the density is high: mean log p of samples beats that of shifted points
    assert moons.log_prob(x).mean() > moons.log_prob(x + 0.5).mean() + 1.0
    h, se = moons.entropy(3000, 2)
    h2, se2 = moons.entropy(3000, 3)
    assert abs(h - h2) < 4 * np.hypot(se, se2)
    assert np.abs(x.mean(0) - [0.5, 0.25]).max() < 0.05
    # quadrature converged: the default 2048 angles vs 8192 agree to the documented 1e-4
    np.testing.assert_allclose(moons.log_prob(x[:200]),
                               ds.TwoMoons(n_quad=8192).log_prob(x[:200]), atol=1e-4)


def test_toy_bad_input():
    with pytest.raises(ValueError, match="x must have shape"):
        ds.Ring8().log_prob(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        ds.TwoMoons().log_prob(np.array([[np.nan, 0.0]]))
    with pytest.raises(ValueError, match="scale"):
        ds.Ring8(scale=-1.0)
    with pytest.raises(ValueError, match="n_mc"):
        ds.Ring8().entropy(1)


# --------------------------------------------------------------------------- MNIST
def _write_idx(path, arr, magic_type=0x08, gz=False):
    header = bytes([0, 0, magic_type, arr.ndim]) + np.array(arr.shape, ">u4").tobytes()
    data = header + arr.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_idx_roundtrip(tmp_path, gz):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (5, 28, 28)).astype(np.uint8)
    labs = rng.integers(0, 10, 5).astype(np.uint8)
    sfx = ".gz" if gz else ""
    _write_idx(tmp_path / f"t10k-images-idx3-ubyte{sfx}", imgs, gz=gz)
    _write_idx(tmp_path / f"t10k-labels-idx1-ubyte{sfx}", labs, gz=gz)
    X, y = ds.load_mnist_idx(tmp_path, "test")
    np.testing.assert_array_equal(X, imgs)
    np.testing.assert_array_equal(y, labs)


def test_load_mnist_idx_missing_and_corrupt(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        ds.load_mnist_idx(tmp_path, "train")
    bad = tmp_path / "train-images-idx3-ubyte"
    bad.write_bytes(b"\x12\x34\x08\x03" + b"\x00" * 20)
    with pytest.raises(ds.IDXFormatError, match="magic"):
        ds.read_idx(bad)
    _write_idx(bad, np.zeros((2, 2, 2)), magic_type=0x0D)
    with pytest.raises(ds.IDXFormatError, match="type code"):
        ds.read_idx(bad)
    bad.write_bytes(bytes([0, 0, 8, 1]) + np.array([10], ">u4").tobytes() + b"\x00" * 3)
    with pytest.raises(ds.IDXFormatError, match="holds 3 data bytes"):
        ds.read_idx(bad)
    with pytest.raises(ValueError, match="split"):
        ds.load_mnist_idx(tmp_path, "valid")


def test_load_binarized_mnist_amat(tmp_path):
    x = (np.random.default_rng(0).random((3, 784)) < 0.3).astype(int)
    np.savetxt(tmp_path / "binarized_mnist_valid.amat", x, fmt="%d")
    X = ds.load_binarized_mnist_amat(tmp_path, "valid")
    assert X.shape == (3, 28, 28)
    np.testing.assert_array_equal(X.reshape(3, -1), x)
    with pytest.raises(FileNotFoundError, match="binarized_mnist_train.amat"):
        ds.load_binarized_mnist_amat(tmp_path, "train")
    np.savetxt(tmp_path / "binarized_mnist_test.amat", x[:, :10], fmt="%d")
    with pytest.raises(ValueError, match="784"):
        ds.load_binarized_mnist_amat(tmp_path, "test")
