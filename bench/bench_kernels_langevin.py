"""Langevin kernels: the public functions beside their kernel, NumPy and torch.

Run: ``python -m pytest bench/bench_kernels_langevin.py --benchmark-enable -q``; the
README's ratios come from ``python bench/kernels_table.py``.

* ``langevin_step`` on 10^7 float32 with normals drawn in-kernel (Philox), as users call
  it (``check_finite=True``, the default; validation included), beside the Numba kernel
  alone, the NumPy expression with ``Generator.standard_normal`` and torch CPU with
  ``randn_like`` (2 threads). Acceptance: >= 3x NumPy, >= 2x torch, within 1.15x of the
  kernel.
* 100 fused ULA steps on an 8-component 2D Gaussian mixture for 10^5 chains against the
  NumPy loop (the reference implementation's vectorized step).
* ``mala_step`` (200,000 chains x 16, float64) against the NumPy expression.
"""

import numpy as np
import pytest

from minigen.backend import use_backend
from minigen.kernels import langevin_run_gmm, langevin_step, mala_step
from minigen.kernels.reference.langevin import gmm_grad

N = 10**7
STEP = 0.01
GROUP = "langevin_step 1e7 f32"


@pytest.fixture(scope="module")
def xg():
    rng = np.random.default_rng(0)
    return rng.normal(size=N).astype(np.float32), rng.normal(size=N).astype(np.float32)


@pytest.mark.benchmark(group=GROUP)
def test_numpy_expression(benchmark, xg):
    x, g = xg
    rng = np.random.default_rng(1)
    half, sq = np.float32(STEP / 2), np.float32(np.sqrt(STEP))
    benchmark(lambda: x - half * g + sq * rng.standard_normal(N, dtype=np.float32))


@pytest.mark.benchmark(group=GROUP)
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_public_step(benchmark, xg, backend):
    x, g = xg
    out = np.empty_like(x)
    with use_backend(backend):
        langevin_step(x, g, STEP, seed=1, out=out)
        benchmark(lambda: langevin_step(x, g, STEP, seed=1, out=out))


@pytest.mark.benchmark(group=GROUP)
def test_kernel_only_numba(benchmark, xg):
    from minigen.kernels.cpu.langevin import langevin_step_philox

    x, g = xg
    out = np.empty_like(x)
    benchmark(lambda: langevin_step_philox(x, g, STEP, 1, 0, out))


@pytest.mark.benchmark(group=GROUP)
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
def test_gmm_public_numba(benchmark):
    x0, w, means, s = _gmm()
    with use_backend("numba"):
        langevin_run_gmm(x0, 100, 0.01, w, means, s, seed=1)
        benchmark.pedantic(lambda: langevin_run_gmm(x0, 100, 0.01, w, means, s, seed=1),
                           rounds=5, iterations=1)


MGROUP = "mala_step 200000x16 f64"


def _mala_data():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((200_000, 16))
    y = x + 0.1 * rng.standard_normal(x.shape)
    return x, y, (x**2).sum(1) / 2, (y**2).sum(1) / 2


@pytest.mark.benchmark(group=MGROUP)
def test_mala_public_numba(benchmark):
    x, y, ex, ey = _mala_data()
    with use_backend("numba"):
        mala_step(x, y, x, y, ex, ey, STEP, seed=2)
        benchmark(lambda: mala_step(x, y, x, y, ex, ey, STEP, seed=2))


@pytest.mark.benchmark(group=MGROUP)
def test_mala_numpy_expression(benchmark):
    x, y, ex, ey = _mala_data()
    rng = np.random.default_rng(5)

    def run():
        fwd = y - x + STEP / 2 * x
        bwd = x - y + STEP / 2 * y
        la = ex - ey + ((fwd**2).sum(1) - (bwd**2).sum(1)) / (2 * STEP)
        acc = np.log(rng.random(len(x))) < la
        return np.where(acc[:, None], y, x), acc

    benchmark(run)
