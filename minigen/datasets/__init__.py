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
==================  ========================================================  ===========

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
from .mnist import IDXFormatError, load_binarized_mnist_amat, load_mnist_idx, read_idx
from .toy2d import TOYS, Checkerboard, Ring8, TwoMoons, get_toy

DATASET_NAMES = ("digits", "digits17", "bars-stripes4", "ring8", "moons", "checkerboard")
SYNTHETIC_SIZES = {"train": 10_000, "valid": 2_000, "test": 2_000}
_BARS_SIZES = {"train": 1_000, "valid": 300, "test": 300}


def load_dataset(
    name: str,
    split: str = "train",
    *,
    n_samples: int | None = None,
    seed: int = 0,
    return_info: bool = False,
    **kwargs,
):
    """Load a named dataset split (see the module docstring for the names).

    Parameters
    ----------
    name : str
        One of ``DATASET_NAMES``; anything else raises ``ValueError`` listing them.
    split : {"train", "valid", "test"}
    n_samples : int, optional
        Size of a synthetic split (ignored for digits).
    seed : int
        Seed of synthetic draws / stochastic binarization.
    return_info : bool
        Also return a :class:`DatasetInfo` with the protocol string.
    **kwargs
        Passed to :func:`load_digits` (``binarize``, ``threshold``) or to the toy's constructor.

    Returns
    -------
    X : ndarray, or ``(X, info)`` if ``return_info``.
    """
    if name not in DATASET_NAMES:
        raise ValueError(
            f"unknown dataset {name!r}; choose one of {', '.join(map(repr, DATASET_NAMES))}"
        )
    check_choice(split, "split", SPLITS)
    if name in ("digits", "digits17"):
        kind = "categorical17" if name == "digits17" else "binary"
        out = load_digits(kind, split, seed=seed, return_info=True, **kwargs)
        return out if return_info else out[0]
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
    return (X, info) if return_info else X


__all__ = [
    "DATASET_NAMES",
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
