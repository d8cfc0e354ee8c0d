r"""The 8x8 handwritten digits bundled with scikit-learn (UCI optdigits test set).

1797 images with pixel intensities in ``0..16``. minigen fixes one split and two
discretizations so that every reported number can state its protocol:

* **split**: a permutation of ``0..1796`` drawn by ``numpy.random.default_rng(0)``;
  the first 1297 indices are ``train``, the next 250 ``valid``, the last 250 ``test``
  (independent of the ``seed`` argument, which only drives stochastic binarization).
* **kind="binary", binarize="threshold"**: :math:`x_{ij} = 1[v_{ij} \ge t]`
  with the fixed threshold :math:`t = 8` (of 0..16) by default.
* **kind="binary", binarize="stochastic"**: :math:`x_{ij} \sim \mathrm{Bernoulli}(v_{ij}/16)`,
  drawn once per split from ``default_rng([seed, split_index])`` (train 0, valid 1, test 2).
* **kind="categorical17"**: the raw values ``0..16`` (17 categories), int64.

scikit-learn is the optional ``data`` extra: ``pip install 'minigen[data]'``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._validation import check_choice

SPLITS = ("train", "valid", "test")
SPLIT_SIZES = {"train": 1297, "valid": 250, "test": 250}
SPLIT_SEED = 0
KINDS = ("binary", "categorical17")
BINARIZE = ("threshold", "stochastic")


@dataclass(frozen=True)
class DatasetInfo:
    """What a loaded array is, so that reported numbers can state the protocol.

    Attributes
    ----------
    name : str
        Registry name (``"digits"``, ``"ring8"``, ...).
    protocol : str
        One line describing split, discretization and seeds.
    shape : tuple
        Shape of one example.
    n_categories : int or None
        Values per dimension for discrete data (2 for binary), ``None`` for continuous.
    n_dims : int
        Number of dimensions of one example (for bits/dim).
    extra : dict
        Anything else (e.g. split sizes).
    """

    name: str
    protocol: str
    shape: tuple
    n_categories: int | None
    n_dims: int
    extra: dict = field(default_factory=dict)


def _sklearn_digits_images() -> np.ndarray:
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the digits dataset needs scikit-learn (bundled 8x8 digits); "
            "install it with: pip install 'minigen[data]'"
        ) from exc
    return np.asarray(_sk_load_digits().images, dtype=np.int64)  # (1797, 8, 8), 0..16


def _split_indices(n_total: int) -> dict:
    perm = np.random.default_rng(SPLIT_SEED).permutation(n_total)
    a = SPLIT_SIZES["train"]
    b = a + SPLIT_SIZES["valid"]
    return {"train": perm[:a], "valid": perm[a:b], "test": perm[b:]}


def digits_protocol(kind="binary", binarize="threshold", threshold=8, seed=0) -> str:
    """The protocol string of :func:`load_digits` with these arguments."""
    head = (
        "sklearn 8x8 digits (1797), split train/valid/test = 1297/250/250 "
        f"by default_rng({SPLIT_SEED}).permutation"
    )
    if kind == "categorical17":
        return head + "; raw values 0..16 (17 categories)"
    if binarize == "threshold":
        return head + f"; binary: pixel >= {threshold} (of 0..16)"
    return head + f"; binary: stochastic Bernoulli(v/16), default_rng([{seed}, split_index])"


def load_digits(
    kind: str = "binary",
    split: str = "train",
    binarize: str = "threshold",
    threshold: int = 8,
    seed: int = 0,
    return_info: bool = False,
):
    """Load one split of the 8x8 digits, discretized by the documented protocol.

    Parameters
    ----------
    kind : {"binary", "categorical17"}
    split : {"train", "valid", "test"}
    binarize : {"threshold", "stochastic"}
        Only for ``kind="binary"``.
    threshold : int in 1..16
        Pixel ``v`` becomes 1 iff ``v >= threshold`` (``binarize="threshold"``).
    seed : int
        Seed of stochastic binarization.
    return_info : bool
        Also return a :class:`DatasetInfo` whose ``protocol`` states all of the above.

    Returns
    -------
    X : ndarray of shape (n, 8, 8)
        float64 0/1 for ``"binary"``; int64 0..16 for ``"categorical17"``.
    info : DatasetInfo, only if ``return_info``.
    """
    check_choice(kind, "kind", KINDS)
    check_choice(split, "split", SPLITS)
    check_choice(binarize, "binarize", BINARIZE)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, np.integer)):
        raise TypeError(f"threshold must be an int in 1..16, got {threshold!r}")
    if not 1 <= threshold <= 16:
        raise ValueError(f"threshold must be in 1..16, got {threshold}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    images = _sklearn_digits_images()
    v = images[_split_indices(len(images))[split]]
    if kind == "categorical17":
        X = v.astype(np.int64)
    elif binarize == "threshold":
        X = (v >= threshold).astype(np.float64)
    else:
        rng = np.random.default_rng([int(seed), SPLITS.index(split)])
        X = (rng.random(v.shape) < v / 16.0).astype(np.float64)
    if not return_info:
        return X
    info = DatasetInfo(
        name="digits17" if kind == "categorical17" else "digits",
        protocol=digits_protocol(kind, binarize, threshold, seed) + f"; split={split}",
        shape=(8, 8),
        n_categories=17 if kind == "categorical17" else 2,
        n_dims=64,
        extra={"split": split, "n": len(X), "split_sizes": dict(SPLIT_SIZES)},
    )
    return X, info


def load_digits_splits(kind="binary", binarize="threshold", threshold=8, seed=0) -> dict:
    """All three splits: ``{"train": X, "valid": X, "test": X, "info": DatasetInfo}``."""
    out = {}
    for split in SPLITS:
        out[split], info = load_digits(kind, split, binarize, threshold, seed, return_info=True)
    out["info"] = DatasetInfo(
        info.name, info.protocol.rsplit("; split=", 1)[0], info.shape, info.n_categories,
        info.n_dims, {"split_sizes": dict(SPLIT_SIZES)},
    )
    return out
