"""Your own data in, and MNIST-style IDX datasets: Python and the command line."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from minigen.cli import main
from minigen.datasets import files, load_dataset

FASHION = Path("/usr/share/datasets/fashion-mnist")


def _idx_bytes(a: np.ndarray) -> bytes:
    head = bytes([0, 0, 0x08, a.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in a.shape)
    return head + a.astype(np.uint8).tobytes()


@pytest.fixture
def idx_folder(tmp_path):
    """A small fake MNIST folder (gzipped IDX): 5,010 train images, 7 test."""
    rng = np.random.default_rng(0)
    tr, te = rng.integers(0, 256, (5010, 4, 4)), rng.integers(0, 256, (7, 4, 4))
    for stem, a in (("train-images-idx3-ubyte", tr), ("train-labels-idx1-ubyte", tr[:, 0, 0]),
                    ("t10k-images-idx3-ubyte", te), ("t10k-labels-idx1-ubyte", te[:, 0, 0])):
        (tmp_path / (stem + ".gz")).write_bytes(gzip.compress(_idx_bytes(a)))
    return tmp_path, tr, te


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".csv", ".txt"])
def test_own_file_in_every_format_splits_80_10_10_and_reproduces(tmp_path, suffix):
    X = np.random.default_rng(1).integers(0, 3, (50, 4)).astype(float)
    path = tmp_path / f"mine{suffix}"
    if suffix == ".npy":
        np.save(path, X)
    elif suffix == ".npz":
        np.savez(path, X=X, other=np.zeros(3))
    else:
        np.savetxt(path, X, delimiter="," if suffix == ".csv" else " ",
                   header="a,b,c,d" if suffix == ".csv" else "", comments="")
    parts = {s: load_dataset(str(path), s, seed=3) for s in ("train", "valid", "test")}
    assert [len(parts[s]) for s in ("train", "valid", "test")] == [40, 5, 5]
    rows = np.concatenate(list(parts.values()))
    assert sorted(map(tuple, rows)) == sorted(map(tuple, X))  # a partition of the rows
    np.testing.assert_array_equal(load_dataset(str(path), "test", seed=3), parts["test"])
    assert not np.array_equal(load_dataset(str(path), "test", seed=4), parts["test"])
    np.testing.assert_array_equal(load_dataset(path, "all"), X)
    X_, info = load_dataset(str(path), "train", seed=3, return_info=True)
    assert info.n_categories == 3 and str(path) in info.protocol and "80%" in info.protocol


def test_npz_key_idx_and_amat_sources(tmp_path, idx_folder):
    np.savez(tmp_path / "two.npz", a=np.zeros((10, 2)), b=np.ones((10, 2)))
    with pytest.raises(ValueError, match=r"arrays \['a', 'b'\]; say which with key="):
        load_dataset(str(tmp_path / "two.npz"))
    assert load_dataset(str(tmp_path / "two.npz"), "all", key="b").sum() == 20
    folder, tr, te = idx_folder
    np.testing.assert_array_equal(load_dataset(str(folder), "test"), te)  # its own split
    np.testing.assert_array_equal(load_dataset(str(folder), "valid"), tr[-5000:])
    one = folder / "t10k-images-idx3-ubyte.gz"
    np.testing.assert_array_equal(load_dataset(str(one), "all"), te)
    amat = tmp_path / "binarized_mnist_train.amat"
    np.savetxt(amat, np.eye(784)[:20], fmt="%d")
    assert load_dataset(str(amat), "all").shape == (20, 784)


def test_binarize_and_dequantize(idx_folder):
    folder, tr, _ = idx_folder
    Xb = load_dataset("mnist", "train", data_dir=folder, binarize=0.5)
    np.testing.assert_array_equal(Xb, (tr[:-5000] > 127).astype(float))  # x/255 > 0.5
    Xd, info = load_dataset("mnist", "train", data_dir=folder, dequantize=True, seed=2,
                            return_info=True)
    assert info.n_categories is None and 0 <= Xd.min() and Xd.max() < 1
    np.testing.assert_array_equal(np.floor(Xd * 256), tr[:-5000])
    with pytest.raises(ValueError, match="exclude each other"):
        load_dataset("mnist", data_dir=folder, binarize=0.5, dequantize=True)
    with pytest.raises(ValueError, match=r"binarize must be a threshold in \[0, 1\)"):
        load_dataset("mnist", data_dir=folder, binarize=127)


def test_idx_dataset_folders_and_the_pointer_when_missing(idx_folder, monkeypatch, tmp_path):
    folder, tr, _ = idx_folder
    monkeypatch.setenv("MINIGEN_DATA_DIR", str(folder.parent))
    (folder.parent / "mnist").mkdir(exist_ok=True)
    with pytest.raises(FileNotFoundError, match="minigen never downloads"):
        load_dataset("mnist")  # $MINIGEN_DATA_DIR/mnist is empty, $MINIGEN_DATA_DIR too
    monkeypatch.setenv("MINIGEN_DATA_DIR", str(folder))
    assert load_dataset("mnist", "train").shape == (10, 4, 4)
    monkeypatch.delenv("MINIGEN_DATA_DIR")
    monkeypatch.setitem(files.MNIST_FOLDERS, "fashion-mnist", (str(tmp_path / "none"),))
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist")


def test_unknown_name_lists_names_and_file_kinds():
    with pytest.raises(ValueError, match="'fashion-mnist' or give a path to your own data"):
        load_dataset("fashionmnist")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset("no/such/file.npy")


def test_cli_trains_on_a_users_own_uint8_array(tmp_path, capsys):
    X = (np.random.default_rng(0).random((300, 16)) < 0.3).astype(np.uint8)
    np.save(tmp_path / "my.npy", X)
    out = tmp_path / "r"
    argv = ["train", "made", "--data", str(tmp_path / "my.npy"), "--out", str(out),
            "--epochs", "2", "--quiet", "--no-samples", "--backend", "numpy"]
    assert main(argv) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["dataset"] == str((tmp_path / "my.npy").resolve()) and m["n_dims"] == 16
    capsys.readouterr()
    # eval and sample take the run folder; eval reads the run's data the same way
    assert main(["eval", str(out)]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n"] == 30 and res["nll_nats"] == pytest.approx(m["nll"]["test"]["nats"])
    assert main(["sample", str(out), "-n", "3", "--out", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (3, 16)


def test_cli_missing_fashion_mnist_is_a_one_line_pointer(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(files.MNIST_FOLDERS, "fashion-mnist", (str(tmp_path / "none"),))
    monkeypatch.delenv("MINIGEN_DATA_DIR", raising=False)
    assert main(["train", "made", "--data", "fashion-mnist", "--binarize", "0.5",
                 "--epochs", "1", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "dataset-fashion-mnist" in err


@pytest.mark.skipif(not (FASHION / "train-images-idx3-ubyte.gz").is_file(),
                    reason="Debian's dataset-fashion-mnist is not installed (CI installs it)")
def test_fashion_mnist_from_the_debian_package(tmp_path):
    X, info = load_dataset("fashion-mnist", "test", return_info=True)
    assert X.shape == (10000, 28, 28) and X.dtype == np.uint8 and info.n_categories == 256
    out = tmp_path / "r"
    # the command, on a small model so that the test stays short
    assert main(["train", "made", "--data", "fashion-mnist", "--binarize", "0.5", "--epochs",
                 "1", "--out", str(out), "--param", "hidden_sizes=[32]", "--batch-size",
                 "256", "--quiet", "--no-samples", "--backend", "numpy"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_dims"] == 784 and m["nll"]["test"]["nats"] < 784 * np.log(2)
