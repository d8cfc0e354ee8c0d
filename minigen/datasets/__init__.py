"""Datasets: no network at run time.

Registry used by the CLI: :func:`load_dataset` with names

==================  ========================================================  ===========
name                what                                                      dtype/shape
==================  ========================================================  ===========
``digits``          sklearn 8x8 digits, binarized (threshold 8 of 0..16)      float (n,8,8)
``digits17``        sklearn 8x8 digits, raw 17 levels 0..16                   int64 (n,8,8)
``bars-stripes4``   uniform draws over the 30 4x4 bars-and-stripes patterns   float (n,4,4)
``ring8``           8-Gaussian ring (exact log-density)                       float (n,2)
``moons``           two moons with Gaussian noise (quadrature log-density)    float (n,2)
``checkerboard``    uniform on a 4x4 checkerboard's black cells (exact)       float (n,2)
``mnist``           MNIST from its IDX files on disk (see :mod:`.files`)      uint8 (n,28,28)
``fashion-mnist``   Fashion-MNIST, IDX files (Debian: dataset-fashion-mnist)  uint8 (n,28,28)
==================  ========================================================  ===========

Anything else that names a file or folder is a user's own data (:mod:`.files`: ``.npy``,
``.npz``, ``.csv``, ``.txt``, IDX, ``.amat``), split 80/10/10 by a seeded permutation.
``binarize=t`` (``x / x_max > t``) and ``dequantize=True`` (``(x + u) / 256``) apply to the
IDX datasets and user files.

Synthetic sets are drawn with ``default_rng([seed, split_index])`` (train 0,
valid 1, test 2) and default sizes ``SYNTHETIC_SIZES`` unless ``n_samples`` is given.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_choice, check_positive_int
from .bars_stripes import (
    bars_and_stripes,
    bars_and_stripes_entropy,
    bars_and_stripes_log_prob,
    n_bars_and_stripes,
    sample_bars_and_stripes,
)
from .digits import SPLITS, DatasetInfo, digits_protocol, load_digits, load_digits_splits
from .files import MNIST_FOLDERS, is_path, load_file, load_idx_dataset
from .mnist import IDXFormatError, load_binarized_mnist_amat, load_mnist_idx, read_idx
from .toy2d import TOYS, Checkerboard, Ring8, TwoMoons, get_toy

DATASET_NAMES = ("digits", "digits17", "bars-stripes4", "ring8", "moons", "checkerboard",
                 "mnist", "fashion-mnist")
#: the file kinds a path may name (error messages and help text)
FILE_KINDS = ".npy, .npz, .csv, .txt, an IDX file or folder, .amat"
SYNTHETIC_SIZES = {"train": 10_000, "valid": 2_000, "test": 2_000}
_BARS_SIZES = {"train": 1_000, "valid": 300, "test": 300}


def load_dataset(
    name,
    split: str = "train",
    *,
    n_samples: int | None = None,
    seed: int = 0,
    return_info: bool = False,
    binarize=None,
    dequantize: bool = False,
    key: str | None = None,
    data_dir=None,
    **kwargs,
):
    """Load a split of a registered dataset or of your own data file.

    Parameters
    ----------
    name : str or path
        One of ``DATASET_NAMES``, or a file / folder (see :mod:`minigen.datasets.files`).
    split : {"train", "valid", "test"}
        (``"all"`` too for IDX datasets and files: every row.)
    n_samples : int, optional
        Size of a synthetic split.
    seed : int
        Seed of synthetic draws, of stochastic binarization, of a file's split, of
        dequantization noise.
    return_info : bool
        Also return a :class:`DatasetInfo` with the protocol string.
    binarize : float in [0, 1) or str, optional
        IDX datasets and files: keep ``x / x_max > binarize``. Digits: the method,
        ``"threshold"`` or ``"stochastic"``.
    dequantize : bool
        IDX datasets and files of integer levels: ``(x + u) / 256``, ``u ~ U[0, 1)``.
    key : str, optional
        The array of an ``.npz`` file (default ``"X"``, or its only array).
    data_dir : path, optional
        Folder of the IDX files of ``mnist`` / ``fashion-mnist`` (see
        :mod:`minigen.datasets.files` for the folders tried otherwise).
    **kwargs
        Passed to :func:`load_digits` (``threshold``) or to the toy's constructor.

    Returns
    -------
    X : ndarray, or ``(X, info)`` if ``return_info``.
    """
    if isinstance(name, str) and name in MNIST_FOLDERS:
        return load_idx_dataset(name, split, data_dir=data_dir, binarize=binarize,
                                dequantize=dequantize, seed=seed, return_info=return_info)
    if not (isinstance(name, str) and name in DATASET_NAMES):
        if is_path(name):
            return load_file(name, split, key=key, binarize=binarize, dequantize=dequantize,
                             seed=seed, return_info=return_info)
        raise ValueError(
            f"unknown dataset {name!r}; choose one of {', '.join(map(repr, DATASET_NAMES))} "
            f"or give a path to your own data ({FILE_KINDS})"
        )
    check_choice(split, "split", SPLITS)
    if name in ("digits", "digits17") and binarize is not None:
        if not isinstance(binarize, str):
            raise ValueError("for the digits, binarize is the method ('threshold' or "
                             "'stochastic'; threshold= sets the level 1..16)")
        kwargs["binarize"] = binarize
    elif binarize is not None or dequantize:
        raise ValueError(f"binarize/dequantize apply to the IDX datasets and your own files, "
                         f"not to {name!r}")
    if name in ("digits", "digits17"):
        kind = "categorical17" if name == "digits17" else "binary"
        out = load_digits(kind, split, seed=seed, return_info=True, **kwargs)
        return out if return_info else out[0]
    X, info = _synthetic(name, split, n_samples, seed, **kwargs)
    return (X, info) if return_info else X


def _synthetic(name, split, n_samples, seed, **kwargs):
    """A split of a synthetic dataset: ``n`` draws from ``default_rng([seed, split index])``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    rng = np.random.default_rng([int(seed), SPLITS.index(split)])
    if name == "bars-stripes4":
        n = _BARS_SIZES[split] if n_samples is None else check_positive_int(n_samples, "n_samples")
        X = sample_bars_and_stripes(4, n, rng)
        info = DatasetInfo(
            name, f"uniform over the 30 distinct 4x4 bars-and-stripes patterns, {n} draws, "
            f"default_rng([{seed}, {SPLITS.index(split)}]); exact entropy log 30 = 3.4012 nats",
            (4, 4), 2, 16, {"split": split, "exact_entropy": bars_and_stripes_entropy(4)},
        )
    else:
        n = SYNTHETIC_SIZES[split] if n_samples is None else check_positive_int(
            n_samples, "n_samples")
        toy = get_toy(name, **kwargs)
        X = toy.sample(n, rng)
        info = DatasetInfo(
            name, f"{toy!r}, {n} draws, default_rng([{seed}, {SPLITS.index(split)}])",
            (2,), None, 2,
            {"split": split, "toy": repr(toy),
             "log_density": f"minigen.datasets.get_toy({name!r}).log_prob"},
        )
    return X, info


__all__ = [
    "DATASET_NAMES",
    "FILE_KINDS",
    "load_file",
    "load_idx_dataset",
    "SYNTHETIC_SIZES",
    "DatasetInfo",
    "IDXFormatError",
    "TOYS",
    "Checkerboard",
    "Ring8",
    "TwoMoons",
    "bars_and_stripes",
    "bars_and_stripes_entropy",
    "bars_and_stripes_log_prob",
    "digits_protocol",
    "get_toy",
    "load_binarized_mnist_amat",
    "load_dataset",
    "load_digits",
    "load_digits_splits",
    "load_mnist_idx",
    "n_bars_and_stripes",
    "read_idx",
    "sample_bars_and_stripes",
]
