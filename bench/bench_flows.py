"""Sampling a batch of 8x8 digits: flows (one parallel pass through the inverse) vs
autoregressive models (D = 64 sequential network passes).

Models are fitted for one short epoch on ``digits17`` (sampling cost does not depend on
the fit); the AR peer is PixelCNN when ``minigen.models.autoregressive`` provides it,
else MADE (both sample one pixel at a time).

Run: ``python -m pytest bench/bench_flows.py --benchmark-enable -q``
"""

from __future__ import annotations

import numpy as np
import pytest

from minigen.datasets import load_dataset
from minigen.training import train

N_SAMPLES = 256


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits17", "train")[:256]


def _fit(model, X):
    train(model, X, epochs=1, batch_size=128, lr=1e-3, random_state=0)
    return model


def _flow(name, X):
    from minigen.models.flows import NICE, Glow, RealNVP

    make = {"nice": lambda: NICE(n_couplings=4, hidden=256),
            "realnvp": lambda: RealNVP(n_couplings=2, hidden=32),
            "glow": lambda: Glow(n_steps=4, hidden=32)}[name]
    return _fit(make(), X)


@pytest.mark.benchmark(group=f"sample {N_SAMPLES} digits 8x8")
@pytest.mark.parametrize("name", ["nice", "realnvp", "glow"])
def test_sample_flow(benchmark, digits, name):
    model = _flow(name, digits)
    S = benchmark(model.sample, N_SAMPLES, random_state=0)
    assert S.shape == (N_SAMPLES, 8, 8)


@pytest.mark.benchmark(group=f"sample {N_SAMPLES} digits 8x8")
@pytest.mark.parametrize("name", ["pixelcnn", "made"])
def test_sample_autoregressive(benchmark, digits, name):
    from minigen.base import get_model_class

    try:
        cls = get_model_class(name)
    except ValueError:
        pytest.skip(f"{name} is not registered in this checkout")
    kw = {"pixelcnn": dict(n_channels=32, n_layers=3), "made": dict(hidden_sizes=(256, 256))}
    model = _fit(cls(**kw[name]), digits)
    S = benchmark(model.sample, N_SAMPLES, random_state=0)
    assert np.asarray(S).shape[0] == N_SAMPLES
