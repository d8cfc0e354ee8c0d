"""One tiny, fast configuration and matching data for every registered model.

Used by the tests that must cover *every* family (scikit-learn's tools, divergence,
reproducibility, save/load in a fresh process): a model registered without an entry here
fails ``test_every_registered_model_has_a_tiny_config``.
"""

from __future__ import annotations

import numpy as np

import minigen.models  # noqa: F401  (registers every model)
from minigen.base import MODEL_REGISTRY
from minigen.datasets import load_dataset


def _digits(n=120):
    return load_dataset("digits", "train")[:n].astype(np.float64)  # (n, 8, 8) binary


def _ring(n=256):
    return load_dataset("ring8", "train")[:n]


def _bars(n=60):
    return load_dataset("bars-stripes4", "train", n_samples=n).reshape(n, -1)


_QUIET = {"verbose": False}
#: registry name -> (hyper-parameters, data factory)
TINY = {
    "baseline-bernoulli": ({}, _digits),
    "baseline": ({}, _digits),
    "bm": ({"max_epochs": 3, **_QUIET}, _bars),
    "ebm": ({"hidden": (8, 8), "n_steps": 3, "buffer_size": 64, "grid_size": 30,
             "max_epochs": 2, "batch_size": 64, **_QUIET}, _ring),
    "rbm": ({"n_components": 8, "max_epochs": 2, **_QUIET}, _digits),
    "gbrbm": ({"n_components": 4, "max_epochs": 2, **_QUIET}, _ring),
    "made": ({"hidden_sizes": (32,), "max_epochs": 2, **_QUIET}, _digits),
    "made-continuous": ({"hidden_sizes": (16,), "n_components": 2, "max_epochs": 2,
                         **_QUIET}, _ring),
    "made-gaussian": ({"hidden_sizes": (16,), "n_components": 2, "max_epochs": 2,
                       **_QUIET}, _ring),
    "fvsbn": ({"max_epochs": 2, **_QUIET}, _digits),
    "pixelcnn": ({"n_channels": 4, "n_layers": 1, "max_epochs": 1, **_QUIET}, _digits),
    "gated-pixelcnn": ({"n_channels": 4, "n_layers": 1, "max_epochs": 1, **_QUIET}, _digits),
    "row-lstm": ({"n_channels": 4, "hidden_size": 4, "max_epochs": 1, **_QUIET}, _digits),
    "diagonal-bilstm": ({"n_channels": 4, "hidden_size": 4, "max_epochs": 1, **_QUIET},
                        _digits),
    "transformer": ({"d_model": 8, "n_heads": 2, "n_layers": 1, "max_epochs": 1, **_QUIET},
                    _digits),
    "nice": ({"n_couplings": 2, "hidden": 8, "max_epochs": 2, **_QUIET}, _digits),
    "realnvp": ({"n_couplings": 2, "hidden": 8, "n_scales": 1, "max_epochs": 2, **_QUIET},
                _digits),
    "glow": ({"n_steps": 1, "hidden": 8, "n_scales": 1, "max_epochs": 2, **_QUIET}, _digits),
    "diag-gaussian": ({"n_bins": None, "max_epochs": 2, **_QUIET}, _ring),
    "maf": ({"n_layers": 2, "hidden": 8, "max_epochs": 2, **_QUIET}, _ring),
    "iaf": ({"n_layers": 2, "hidden": 8, "max_epochs": 2, **_QUIET}, _ring),
    "nsf": ({"n_layers": 2, "hidden": 8, "spline_bins": 4, "max_epochs": 2, **_QUIET}, _ring),
}


def make(name, **overrides):
    """``(model, X)``: a fresh tiny model of registry ``name`` and data it takes."""
    params, data = TINY[name]
    model = MODEL_REGISTRY[name](**{**params, **overrides})
    return model, data()


def iterative_names():
    from minigen.training import is_gradient_trained

    return [n for n in TINY if is_gradient_trained(MODEL_REGISTRY[n]())]
