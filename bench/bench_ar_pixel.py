"""PixelCNN / gated PixelCNN sampling on 8x8 images: cached vs uncached (samples/second).

The cached sampler evaluates each layer at the current pixel only, from cached padded
activations (the gated vertical stack one row at a time); the uncached one recomputes the
full teacher-forced pass for each of the D = 64 pixels. Same uniforms, same samples.
Models are untrained (sampling cost does not depend on the weights), 17 levels as digits17.

    python -m pytest bench/bench_ar_pixel.py --benchmark-enable -q
    python bench/bench_ar_pixel.py          # prints samples/second and the speed-up
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from minigen.backend import use_backend
from minigen.models.autoregressive import GatedPixelCNN, PixelCNN

N = 32  # samples per call


def _model(cls, k=17):
    m = cls(n_channels=32, n_layers=5, n_categories=k)
    m._build((8, 8), np.random.default_rng(0))
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
            print(f"{name:15s} cached {rates[True]:8.1f} samples/s, uncached "
                  f"{rates[False]:7.1f} samples/s, speed-up x{rates[True] / rates[False]:.1f} "
                  f"(identical samples: {same})")


if __name__ == "__main__":
    main()
