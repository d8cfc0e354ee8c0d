"""Data in, samples and NLL out: the steps ``minigen train``, ``sample`` and ``eval`` share.

Data reach a model as flat ``(n, D)`` rows unless its class sets
``accepts_images = True`` (then as loaded, ``(n, H, W[, C])``); ``train`` records how
``--data`` was read, so that ``eval`` and ``sample`` read the same data again.
"""

from __future__ import annotations

from pathlib import Path

from .backend import get_backend, set_backend, to_numpy
from .cli_args import CLIError
from .datasets import load_dataset
from .divergences import nats_to_bits_per_dim
from .plot import density_2d, sample_grid

__all__ = ["select_backend", "data_options", "load_split", "model_input", "draw_samples",
           "write_samples_png", "nll"]


def select_backend(name):
    """``--backend``: set it for the process when given, else the active one."""
    return set_backend(name) if name else get_backend()


def data_options(args) -> dict:
    """How ``--data`` is read: the value options given (recorded with a run, so that
    ``eval`` and ``sample`` can read the same data again)."""
    options = {"binarize": getattr(args, "binarize", None),
               "dequantize": bool(getattr(args, "dequantize", False)),
               "key": getattr(args, "data_key", None)}
    return {k: v for k, v in options.items() if v not in (None, False)}


def load_split(name, split, seed, options=None):
    """``(X, info)`` of one split; a missing file or IDX folder is a one-line usage error."""
    try:
        return load_dataset(name, split, seed=seed, return_info=True, **(options or {}))
    except FileNotFoundError as exc:
        raise CLIError(str(exc)) from None


def model_input(model, X):
    """``X`` as the model takes it: flat ``(n, D)`` rows unless the model's class sets
    ``accepts_images = True`` (then as loaded, ``(n, H, W[, C])``). ``model`` may be
    the class or an instance; ``train`` and ``eval`` feed data through this."""
    cls = model if isinstance(model, type) else type(model)
    return X if getattr(cls, "accepts_images", False) else X.reshape(len(X), -1)


def draw_samples(model, n, seed):
    """``n`` samples of ``model`` as a host array."""
    return to_numpy(model.sample(n, random_state=seed))


def write_samples_png(model, path, samples, is_2d=False, nrow=None) -> Path:
    """Picture of ``samples``: 2-D points as a scatter on the model's density
    (``density_2d``), anything else as an image grid (``sample_grid``). Used by
    ``train`` (samples.png) and ``sample``, so both draw the same picture."""
    if is_2d or (samples.ndim == 2 and samples.shape[1] == 2):
        lo, hi = samples.min(axis=0) - 0.5, samples.max(axis=0) + 0.5
        extent = (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))
        density_2d(model.score_samples, path, extent=extent, samples=samples)
    else:
        sample_grid(samples, path, nrow=nrow)
    return Path(path)


def nll(model, X, n_dims) -> dict:
    """Mean negative log-likelihood of ``X``, in nats and in bits per dimension."""
    nats = -model.score(get_backend().asarray(X))
    return {"nats": nats, "bits_per_dim": nats_to_bits_per_dim(nats, n_dims)}
