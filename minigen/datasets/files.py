r"""A user's own data, and MNIST / Fashion-MNIST from the standard IDX files on disk.

Never downloads. What each source gives, and how it is split into train/valid/test:

* **Your own file** (``load_dataset("my.npy")``): ``.npy``; ``.npz`` (the array under
  ``key``, by default ``"X"``, or the file's only array); ``.csv`` (comma-separated) or
  ``.txt`` (whitespace), numbers only, an optional header line; one IDX file
  (``*-ubyte[.gz]``); a folder of the four standard MNIST IDX files; Larochelle's binarized
  MNIST ``.amat`` (a file, or a folder with the three split files). Rows are examples. A
  single array is split by a seeded permutation (``seed``) into 80% train, 10% valid, 10%
  test (``split="all"``: every row, in file order); sources that come split (IDX train/test,
  the ``.amat`` files) keep their own splits.
* **``mnist`` / ``fashion-mnist``**: the four IDX files from a folder: ``data_dir``, else
  ``$MINIGEN_DATA_DIR/<name>``, else ``$MINIGEN_DATA_DIR``; Fashion-MNIST also from the
  Debian package's folder ``/usr/share/datasets/fashion-mnist``
  (``apt-get install dataset-fashion-mnist``). Split: the first 55,000 training images are
  ``train``, the last 5,000 ``valid``, the 10,000 test images ``test``.

Values: as stored (``uint8`` 0..255 for IDX), unless ``binarize=t`` (``x / x_max > t``, so
``t = 0.5`` on 8-bit images is ``pixel > 127``) or ``dequantize=True`` (8-bit:
:math:`(x + u) / 256`, :math:`u \sim U[0, 1)` from ``seed``; continuous values in [0, 1)).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._validation import check_choice
from .digits import DatasetInfo
from .mnist import IDX_FILES, load_binarized_mnist_amat, load_mnist_idx, read_idx

__all__ = ["load_file", "load_idx_dataset", "MNIST_FOLDERS", "USER_SPLIT", "is_path"]

SPLITS_ALL = ("train", "valid", "test", "all")
#: shares of a single user array given to train / valid / test (seeded permutation)
USER_SPLIT = (0.8, 0.1, 0.1)
#: registered names read from IDX files, and the system folders tried for each
MNIST_FOLDERS = {"mnist": (), "fashion-mnist": ("/usr/share/datasets/fashion-mnist",)}
_N_VALID_IDX = 5_000


def is_path(source) -> bool:
    """Whether ``source`` names a file or folder rather than a registered dataset."""
    return isinstance(source, Path) or (
        isinstance(source, str) and (os.sep in source or "." in Path(source).name
                                     or Path(source).exists()))


# ------------------------------------------------------------------ value transforms
def _levels(X, binarize, dequantize, seed, split):
    """``(X, n_categories, note)`` after the optional binarization / dequantization."""
    if binarize is not None and dequantize:
        raise ValueError("binarize and dequantize exclude each other: pick one")
    top = float(X.max()) if X.size else 1.0
    integer = X.dtype.kind in "iub" or (X.size and np.all(X == np.round(X)))
    if binarize is not None:
        t = float(binarize)
        if not 0 <= t < 1:
            raise ValueError(f"binarize must be a threshold in [0, 1) of the value range, "
                             f"got {binarize!r}")
        scale = top if top > 0 else 1.0
        return (X / scale > t).astype(np.float64), 2, f"binarized x/{scale:g} > {t:g}"
    if dequantize:
        if not integer or X.min() < 0:
            raise ValueError("dequantize needs integer levels >= 0 (e.g. 8-bit pixels)")
        k = 256 if top <= 255 else int(top) + 1
        rng = np.random.default_rng([int(seed), SPLITS_ALL.index(split), 7])
        u = rng.random(X.shape)
        return (X + u) / k, None, f"dequantized (x + u)/{k}, u ~ U[0,1) from seed {seed}"
    k = int(top) + 1 if integer and X.size and X.min() >= 0 else None
    return X, k, "raw values"


def _info(name, X, protocol, n_categories, split):
    shape = tuple(int(s) for s in X.shape[1:])
    return DatasetInfo(name, protocol, shape, n_categories, int(np.prod(shape)),
                       {"split": split, "n": int(len(X))})


# ------------------------------------------------------------------ MNIST-style IDX
def _idx_folder(name, data_dir):
    env = os.environ.get("MINIGEN_DATA_DIR")
    tried = []
    cands = [Path(data_dir)] if data_dir is not None else []
    if env:
        cands += [Path(env) / name, Path(env)]
    cands += [Path(p) for p in MNIST_FOLDERS[name]]
    stem = IDX_FILES["train"][0]
    for c in cands:
        tried.append(str(c))
        if (c / stem).is_file() or (c / (stem + ".gz")).is_file():
            return c
    hint = (" install Debian's package (apt-get install dataset-fashion-mnist) or"
            if name == "fashion-mnist" else "")
    raise FileNotFoundError(
        f"{name}: the IDX files ({stem}[.gz] and the other three) were not found in "
        f"{', '.join(tried) or 'any folder'};{hint} set MINIGEN_DATA_DIR to a folder holding "
        "them (minigen never downloads)")


def load_idx_dataset(name, split="train", *, data_dir=None, binarize=None, dequantize=False,
                     seed=0, return_info=False):
    """MNIST / Fashion-MNIST ``split`` from the IDX files (see the module docstring)."""
    check_choice(split, "split", SPLITS_ALL)
    folder = _idx_folder(name, data_dir)
    X = _idx_split(folder, split)
    X, k, note = _levels(X, binarize, dequantize, seed, split)
    if not return_info:
        return X
    protocol = (f"{name} IDX files from {folder}; train = first 55,000 training images, "
                f"valid = last {_N_VALID_IDX:,}, test = the 10,000 test images; {note}; "
                f"split={split}")
    return X, _info(name, X, protocol, k, split)


def _idx_split(folder, split):
    if split == "test":
        return load_mnist_idx(folder, "test")[0]
    train = load_mnist_idx(folder, "train")[0]
    if split == "all":
        return np.concatenate([train, load_mnist_idx(folder, "test")[0]])
    return train[:-_N_VALID_IDX] if split == "train" else train[-_N_VALID_IDX:]


# ------------------------------------------------------------------ user files
def _read_text(path, delimiter):
    try:
        X = np.loadtxt(path, delimiter=delimiter, ndmin=2)
    except ValueError:
        X = np.loadtxt(path, delimiter=delimiter, ndmin=2, skiprows=1)  # a header line
    return X


def _read_array(path: Path, key):
    """``(X, how)`` from one file, or ``(dict of split -> X, how)`` for pre-split sources."""
    name = path.name.lower()
    if path.is_dir():
        if any((path / f"binarized_mnist_{s}.amat").is_file() for s in ("train", "test")):
            return {s: load_binarized_mnist_amat(path, s) for s in ("train", "valid", "test")
                    }, "binarized MNIST .amat files"
        stem = IDX_FILES["train"][0]
        if (path / stem).is_file() or (path / (stem + ".gz")).is_file():
            train = load_mnist_idx(path, "train")[0]
            return {"train": train[:-_N_VALID_IDX], "valid": train[-_N_VALID_IDX:],
                    "test": load_mnist_idx(path, "test")[0]}, "IDX folder"
        raise ValueError(f"{str(path)!r} is a folder without MNIST IDX or .amat files; pass "
                         "a file (.npy, .npz, .csv, .txt, IDX, .amat)")
    if not path.is_file():
        raise FileNotFoundError(f"data file {str(path)!r} does not exist")
    if name.endswith(".npy"):
        return np.load(path, allow_pickle=False), ".npy"
    if name.endswith(".npz"):
        with np.load(path, allow_pickle=False) as z:
            files = list(z.files)
            if key is None:
                key = "X" if "X" in files else (files[0] if len(files) == 1 else None)
            if key not in files:
                raise ValueError(f"{path.name} holds arrays {files}; say which with key= "
                                 "(--data-key on the command line); the default is 'X'")
            return z[key], f".npz key {key!r}"
    if name.endswith(".csv"):
        return _read_text(path, ","), ".csv"
    if name.endswith(".txt"):
        return _read_text(path, None), ".txt"
    if name.endswith(".amat"):
        return np.loadtxt(path, dtype=np.float64, ndmin=2), ".amat"
    if "ubyte" in name or name.endswith((".idx", ".idx.gz")):
        return read_idx(path), "IDX file"
    raise ValueError(f"unsupported data file {path.name!r}: use .npy, .npz, .csv, .txt, an "
                     "IDX file or folder, or .amat")


def load_file(path, split="train", *, key=None, binarize=None, dequantize=False, seed=0,
              return_info=False):
    """Load a user's data file or folder and take ``split`` (see the module docstring)."""
    check_choice(split, "split", SPLITS_ALL)
    path = Path(path)
    data, how = _read_array(path, key)
    if isinstance(data, dict):
        X = np.concatenate(list(data.values())) if split == "all" else data[split]
        where = "its own train/valid/test split"
    else:
        X = np.asarray(data)
        if X.dtype.kind not in "biuf":
            raise TypeError(f"{path.name} holds dtype {X.dtype}; minigen needs numbers")
        if X.ndim < 2:
            raise ValueError(f"{path.name} holds shape {X.shape}: rows must be examples "
                             "(n_samples, n_features, ...)")
        if split != "all":
            perm = np.random.default_rng([int(seed), 2024]).permutation(len(X))
            cut = np.cumsum([int(round(f * len(X))) for f in USER_SPLIT[:2]])
            part = dict(zip(("train", "valid", "test"), np.split(perm, cut), strict=True))
            X = X[np.sort(part[split])]
        where = (f"rows split {USER_SPLIT[0]:.0%}/{USER_SPLIT[1]:.0%}/{USER_SPLIT[2]:.0%} "
                 f"by default_rng([{seed}, 2024]).permutation")
    if X.shape[0] == 0:
        raise ValueError(f"{path.name}: its {split} split is empty (too few rows to split)")
    X, k, note = _levels(X, binarize, dequantize, seed, split)
    if not return_info:
        return X
    protocol = f"{path} ({how}); {where}; {note}; split={split}"
    return X, _info(path.name, X, protocol, k, split)
