"""Sampling throughput of the autoregressive models (8x8 binary images, D = 64 steps).

Each sampler draws one conditional per step; the transformer's KV-cached sampler feeds one
token per step (keys/values of earlier steps kept), the uncached one recomputes the full
teacher-forced pass at every step (D full passes). Both consume the same uniforms and
return identical samples. Untrained networks: the cost does not depend on the weights.

    python -m pytest bench/bench_ar_sampling.py --benchmark-enable -q
    python bench/bench_ar_sampling.py        # samples/second table + cached/uncached ratio
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from minigen.backend import use_backend
from minigen.models.autoregressive import FVSBN, MADE, PixelTransformer

N = 64  # samples per call
SHAPE = (8, 8)


def _built(make):
    m = make()
    m.build_parameters(SHAPE, np.random.default_rng(0))
    m.fitted_ = True
    return m


MAKERS = {
    "fvsbn": lambda: FVSBN(n_categories=2),
    "made": lambda: MADE(hidden_sizes=(500,), n_categories=2),
    "transformer": lambda: PixelTransformer(d_model=64, n_heads=4, n_layers=2, n_categories=2),
}
CASES = [("fvsbn", {}), ("made", {}), ("transformer", {"use_cache": True}),
         ("transformer", {"use_cache": False})]
IDS = ["fvsbn", "made", "transformer-kv-cache", "transformer-recompute"]


@pytest.mark.benchmark(group="ar-sampling-8x8")
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_sample(benchmark, case):
    name, kw = case
    with use_backend("numpy"):
        m = _built(MAKERS[name])
        out = benchmark(m.sample, N, 0, **kw)
    assert out.shape == (N, *SHAPE)


def main(repeats: int = 3):
    rows = {}
    with use_backend("numpy"):
        for case, label in zip(CASES, IDS, strict=True):
            name, kw = case
            m = _built(MAKERS[name])
            m.sample(N, 0, **kw)  # warm-up
            times = []
            for r in range(repeats):
                t0 = time.perf_counter()
                m.sample(N, r, **kw)
                times.append(time.perf_counter() - t0)
            rows[label] = float(np.median(times))
            print(f"{label:<24} {N / rows[label]:10.1f} samples/s  (median {rows[label]:.3f} s"
                  f" per {N})")
    print(f"KV cache speed-up: {rows['transformer-recompute'] / rows['transformer-kv-cache']:.1f}x")
    return rows


if __name__ == "__main__":
    main()
