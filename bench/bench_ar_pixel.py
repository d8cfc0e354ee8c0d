"""Pixel-model sampling on 8x8 images (samples/second): PixelCNN / gated PixelCNN cached vs
uncached, PixelRNN Row LSTM / Diagonal BiLSTM uncached.

The cached sampler evaluates each layer at the current pixel only, from cached padded
activations (the gated vertical stack one row at a time); the uncached one recomputes the
full teacher-forced pass for each of the D = 64 pixels. Same uniforms, same samples.
The PixelRNNs have no cached sampler (a row's LSTM state would have to be carried pixel by
pixel): each of the D pixels costs one full forward pass, so only the uncached row exists.
Models are untrained (sampling cost does not depend on the weights), 17 levels as digits17;
the RNNs use the digits-table sizes (32 channels, 32 hidden, one layer; Row LSTM k = 5).

    python -m pytest bench/bench_ar_pixel.py --benchmark-enable -q
    python bench/bench_ar_pixel.py          # prints samples/second and the speed-up
    python bench/bench_ar_pixel.py digits   # the README rows (test NLL on binarized digits)
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from minigen.backend import use_backend
from minigen.models.autoregressive import DiagonalBiLSTM, GatedPixelCNN, PixelCNN, RowLSTM

N = 32  # samples per call


RNNS = {"row-lstm": lambda k: RowLSTM(n_channels=32, hidden_size=32, kernel_size=5,
                                     n_categories=k),
        "diagonal-bilstm": lambda k: DiagonalBiLSTM(n_channels=32, hidden_size=32,
                                                    n_categories=k)}


def _model(cls, k=17):
    m = RNNS[cls](k) if isinstance(cls, str) else cls(n_channels=32, n_layers=5, n_categories=k)
    m.build_parameters((8, 8), np.random.default_rng(0))
    m.fitted_ = True
    return m


@pytest.mark.benchmark(group="ar-pixel-sampling")
@pytest.mark.parametrize("name,cls", [("pixelcnn", PixelCNN), ("gated-pixelcnn", GatedPixelCNN)])
@pytest.mark.parametrize("use_cache", [True, False])
def test_sampling(benchmark, name, cls, use_cache):
    with use_backend("numpy"):
        m = _model(cls)
        out = benchmark.pedantic(m.sample, args=(N,), kwargs=dict(random_state=0,
                                 use_cache=use_cache), rounds=3, iterations=1)
    assert out.shape == (N, 8, 8)


@pytest.mark.benchmark(group="ar-pixel-sampling")
@pytest.mark.parametrize("name", list(RNNS))
def test_sampling_rnn(benchmark, name):
    """Row LSTM / Diagonal BiLSTM: uncached only (no cached sampler exists)."""
    with use_backend("numpy"):
        m = _model(name)
        out = benchmark.pedantic(m.sample, args=(N,), kwargs=dict(random_state=0),
                                 rounds=3, iterations=1)
    assert out.shape == (N, 8, 8)


DIGITS = {  # name: (factory, training keywords); README "Autoregressive models on digits"
    "PixelCNN (32 ch, 5 res. blocks, 5x5 mask A)": (
        lambda: PixelCNN(n_channels=32, n_layers=5, first_kernel_size=5), dict(lr=3e-3)),
    "gated PixelCNN (32 ch, 5 layers)": (
        lambda: GatedPixelCNN(n_channels=32, n_layers=5), dict(lr=3e-3)),
    "Row LSTM (32 ch, 32 hidden, k=5)": (
        lambda: RowLSTM(n_channels=32, hidden_size=32, kernel_size=5), dict(lr=3e-3)),
    "Diagonal BiLSTM (32 ch, 32 hidden)": (
        lambda: DiagonalBiLSTM(n_channels=32, hidden_size=32), dict(lr=3e-3)),
    "Row LSTM + scheduled sampling (p 0 -> 0.25 over 20 epochs)": (
        lambda: RowLSTM(n_channels=32, hidden_size=32, kernel_size=5, scheduled_sampling=0.25,
                        scheduled_sampling_epochs=20), dict(lr=3e-3)),
}


def digits_table(epochs=60, names=None, seed=0) -> None:
    """Same protocol as ``bench/ar_digits_table.py`` (early stopping on valid, patience 15,
    batch 64, NumPy, exact test NLL); prints README rows."""
    from minigen.datasets import load_dataset

    X, Xv, Xt = (load_dataset("digits", s) for s in ("train", "valid", "test"))
    with use_backend("numpy"):
        for name, (make, kw) in DIGITS.items():
            if names and not any(n in name for n in names):
                continue
            m = make()
            t0 = time.perf_counter()
            m.set_params(
                early_stopping=True,
                patience=15,
                random_state=seed,
                max_epochs=epochs,
                batch_size=64,
                **kw,
            ).fit(X, X_valid=Xv)
            dt = time.perf_counter() - t0
            print(
                f"| {name} | {m.nll(Xt):.2f} | {m.nll(Xt, 'bits/dim'):.4f} | {dt:.0f} | "
                f"{m.history_.epochs} |",
                flush=True,
            )


def main() -> None:
    with use_backend("numpy"):
        for name, cls in (("pixelcnn", PixelCNN), ("gated-pixelcnn", GatedPixelCNN)):
            m = _model(cls)
            rates = {}
            for cache in (True, False):
                best = np.inf
                for _ in range(3):
                    t0 = time.perf_counter()
                    s = m.sample(N, random_state=0, use_cache=cache)
                    best = min(best, time.perf_counter() - t0)
                rates[cache] = N / best
            same = np.array_equal(s, m.sample(N, random_state=0, use_cache=True))
            print(
                f"{name:15s} cached {rates[True]:8.1f} samples/s, uncached "
                f"{rates[False]:7.1f} samples/s, speed-up x{rates[True] / rates[False]:.1f} "
                f"(identical samples: {same})"
            )
        for name in RNNS:
            m = _model(name)
            best = np.inf
            for _ in range(3):
                t0 = time.perf_counter()
                m.sample(N, random_state=0)
                best = min(best, time.perf_counter() - t0)
            print(f"{name:15s} uncached {N / best:7.1f} samples/s (no cached sampler)")


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 1 and sys.argv[1] == "digits":  # python bench/bench_ar_pixel.py digits [E]
        digits_table(int(sys.argv[2]) if len(sys.argv) > 2 else 60, sys.argv[3:] or None)
    else:
        main()
