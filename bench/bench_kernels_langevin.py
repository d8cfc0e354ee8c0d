"""Langevin kernel benchmarks.

Run: ``python -m pytest bench/bench_kernels_langevin.py --benchmark-enable -q``.

* ``langevin_step`` on 10^7 float32 with normals drawn in-kernel (Philox) against the
  NumPy expression with ``Generator.standard_normal`` and torch CPU (2 threads).
* 100 fused ULA steps on an 8-component 2D Gaussian mixture for 10^5 chains against the
  NumPy loop (the reference implementation's vectorized step).
"""

import numpy as np
import pytest

from minigen.backend import use_backend
from minigen.kernels import langevin_run_gmm, langevin_step
from minigen.kernels.reference.langevin import gmm_grad

N = 10**7
STEP = 0.01


@pytest.fixture(scope="module")
def xg():
    rng = np.random.default_rng(0)
    return rng.normal(size=N).astype(np.float32), rng.normal(size=N).astype(np.float32)


@pytest.mark.benchmark(group="langevin_step 1e7 f32")
def test_numpy_expression(benchmark, xg):
    x, g = xg
    rng = np.random.default_rng(1)
    half, sq = np.float32(STEP / 2), np.float32(np.sqrt(STEP))
    benchmark(lambda: x - half * g + sq * rng.standard_normal(N, dtype=np.float32))


@pytest.mark.benchmark(group="langevin_step 1e7 f32")
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_minigen_step(benchmark, xg, backend):
    x, g = xg
    out = np.empty_like(x)
    with use_backend(backend):
        langevin_step(x, g, STEP, seed=1, out=out)
        benchmark(lambda: langevin_step(x, g, STEP, seed=1, out=out))


@pytest.mark.benchmark(group="langevin_step 1e7 f32")
def test_torch_cpu(benchmark, xg):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    x, g = (torch.from_numpy(a) for a in xg)
    sq = float(np.sqrt(STEP))
    benchmark(lambda: x - STEP / 2 * g + sq * torch.randn_like(x))


def _gmm():
    rng = np.random.default_rng(2)
    ang = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    means = np.stack([4 * np.cos(ang), 4 * np.sin(ang)], 1).astype(np.float32)
    w = np.full(8, 1 / 8, np.float32)
    s = np.full(8, 0.5, np.float32)
    x = rng.normal(size=(10**5, 2)).astype(np.float32)
    return x, w, means, s


@pytest.mark.benchmark(group="ULA 100 steps GMM8 2D 1e5 chains f32")
def test_gmm_numpy_loop(benchmark):
    x0, w, means, s = _gmm()
    rng = np.random.default_rng(3)

    def run():
        x = x0.copy()
        for _ in range(100):
            x = x - 0.005 * gmm_grad(x, w, means, s) + np.float32(0.1) * rng.standard_normal(
                x.shape, dtype=np.float32)
        return x

    benchmark.pedantic(run, rounds=3, iterations=1)


@pytest.mark.benchmark(group="ULA 100 steps GMM8 2D 1e5 chains f32")
def test_gmm_numba_fused(benchmark):
    x0, w, means, s = _gmm()
    with use_backend("numba"):
        langevin_run_gmm(x0, 100, 0.01, w, means, s, seed=1)
        benchmark.pedantic(lambda: langevin_run_gmm(x0, 100, 0.01, w, means, s, seed=1),
                           rounds=5, iterations=1)
