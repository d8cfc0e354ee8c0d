"""MNIST from files on disk (no network): IDX files and binarized ``.amat`` files.

* :func:`read_idx` reads one IDX file (optionally ``.gz``): a big-endian header
  ``0x00 0x00 <type> <ndim>`` followed by ``ndim`` big-endian uint32 sizes.
  Only type ``0x08`` (unsigned byte, as in MNIST) is accepted.
* :func:`load_mnist_idx` reads the four standard files
  (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
  ``t10k-labels-idx1-ubyte``, each optionally ``.gz``) from a folder.
* :func:`load_binarized_mnist_amat` reads Larochelle & Murray's fixed binarization
  ``binarized_mnist_{train,valid,test}.amat`` (one image of 784 space-separated 0/1 per line).

References: LeCun et al., *The MNIST database*; Larochelle & Murray, *The Neural
Autoregressive Distribution Estimator* (AISTATS 2011).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from .._validation import check_choice

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
AMAT_SPLITS = ("train", "valid", "test")


class IDXFormatError(ValueError):
    """An IDX file has a bad magic number or a size that does not match its header."""


def _find(folder: Path, stem: str) -> Path:
    for cand in (folder / stem, folder / (stem + ".gz")):
        if cand.is_file():
            return cand
    raise FileNotFoundError(
        f"MNIST file {stem!r} (or {stem + '.gz'!r}) not found in {str(folder)!r}; expected "
        + ", ".join(s for pair in IDX_FILES.values() for s in pair)
        + " (optionally .gz). minigen never downloads: place the files there."
    )


def read_idx(path) -> np.ndarray:
    """Read one IDX file of unsigned bytes (plain or gzip) into a uint8 array."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {str(path)!r}")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise IDXFormatError(f"{path.name}: bad IDX magic number {data[:4].hex() or '(empty)'}")
    if data[2] != 0x08:
        raise IDXFormatError(
            f"{path.name}: IDX type code 0x{data[2]:02x} is not 0x08 (unsigned byte)"
        )
    ndim = data[3]
    if ndim < 1 or len(data) < 4 + 4 * ndim:
        raise IDXFormatError(f"{path.name}: truncated IDX header (ndim={ndim})")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise IDXFormatError(
            f"{path.name}: header says shape {shape} ({int(np.prod(shape))} bytes) "
            f"but the file holds {body.size} data bytes"
        )
    return body.reshape(shape).copy()


def load_mnist_idx(path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, 28, 28)`` uint8 (0..255) and labels ``(n,)`` uint8 from a folder.

    Parameters
    ----------
    path : str or Path
        Folder holding the IDX files (see module docstring).
    split : {"train", "test"}
    """
    check_choice(split, "split", tuple(IDX_FILES))
    folder = Path(path)
    img_stem, lab_stem = IDX_FILES[split]
    images = read_idx(_find(folder, img_stem))
    labels = read_idx(_find(folder, lab_stem))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise IDXFormatError(
            f"MNIST {split}: images {images.shape} and labels {labels.shape} do not match"
        )
    return images, labels


def load_binarized_mnist_amat(path, split: str = "train") -> np.ndarray:
    """Fixed-binarization MNIST, ``(n, 28, 28)`` float64 of 0/1, from ``.amat`` files.

    ``path`` is a folder holding ``binarized_mnist_{split}.amat`` or the file itself.
    """
    check_choice(split, "split", AMAT_SPLITS)
    p = Path(path)
    file = p if p.is_file() else p / f"binarized_mnist_{split}.amat"
    if not file.is_file():
        raise FileNotFoundError(
            f"binarized MNIST file not found: {str(file)!r}; expected "
            + ", ".join(f"binarized_mnist_{s}.amat" for s in AMAT_SPLITS)
            + " in that folder. minigen never downloads: place the files there."
        )
    x = np.loadtxt(file, dtype=np.float64, ndmin=2)
    if x.shape[1] != 784:
        raise ValueError(f"{file.name}: expected 784 values per line, got {x.shape[1]}")
    if not ((x == 0) | (x == 1)).all():
        raise ValueError(f"{file.name}: values must be 0 or 1")
    return x.reshape(-1, 28, 28)
