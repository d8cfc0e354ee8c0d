"""Gibbs kernels: the public rbm_gibbs k=1, 784 visible x 500 hidden, batch 1000, float32.

Run: ``python -m pytest bench/bench_kernels_gibbs.py --benchmark-enable -q``; the
README's ratios come from ``python bench/kernels_table.py``. Rows: the public function
``minigen.kernels.rbm_gibbs`` (uniforms drawn in-kernel by Philox, validation included)
on the numba and numpy backends, the Numba kernel alone (an extra row), the NumPy
expression a user would write, the two matrix products alone, scikit-learn's
``BernoulliRBM.gibbs`` and the same step in torch CPU (2 threads). ``compute_ph=False``
so every entry does exactly the two products.
Acceptance (the kernels issues): <= 1.6x the two products, >= 2x scikit-learn.
"""

import numpy as np
import pytest

from minigen.backend import use_backend
from minigen.kernels import bm_gibbs_sweep, rbm_gibbs

V, H, B = 784, 500, 1000
GROUP = f"rbm_gibbs k=1 {V}x{H} B={B} f32"


@pytest.fixture(scope="module")
def rbm():
    rng = np.random.default_rng(0)
    W = (rng.normal(size=(V, H)) * 0.01).astype(np.float32)
    b = (rng.normal(size=V) * 0.1).astype(np.float32)
    c = (rng.normal(size=H) * 0.1).astype(np.float32)
    v = (rng.random((B, V)) < 0.3).astype(np.float32)
    h = (rng.random((B, H)) < 0.5).astype(np.float32)
    return v, W, b, c, h


@pytest.mark.benchmark(group=GROUP)
def test_two_matmuls_only(benchmark, rbm):
    v, W, b, c, h = rbm
    benchmark(lambda: (v @ W, h @ W.T))


@pytest.mark.benchmark(group=GROUP)
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_public(benchmark, rbm, backend):
    v, W, b, c, _ = rbm
    with use_backend(backend):
        rbm_gibbs(v, W, b, c, 1, seed=1, compute_ph=False)
        benchmark(lambda: rbm_gibbs(v, W, b, c, 1, seed=1, compute_ph=False))


@pytest.mark.benchmark(group=GROUP)
def test_kernel_only_numba(benchmark, rbm):
    from minigen.kernels.cpu.gibbs import rbm_gibbs_philox

    v, W, b, c, _ = rbm
    benchmark(lambda: rbm_gibbs_philox(v, W, b, c, 1, 1, 0, False))


@pytest.mark.benchmark(group=GROUP)
def test_numpy_expression(benchmark, rbm):
    v, W, b, c, _ = rbm
    rng = np.random.default_rng(1)

    def step():
        ph = 1 / (1 + np.exp(-(v @ W + c)))
        h = (rng.random(ph.shape, dtype=np.float32) < ph).astype(np.float32)
        pv = 1 / (1 + np.exp(-(h @ W.T + b)))
        return (rng.random(pv.shape, dtype=np.float32) < pv).astype(np.float32)

    benchmark(step)


@pytest.mark.benchmark(group=GROUP)
def test_sklearn_bernoullirbm_gibbs(benchmark, rbm):
    sk = pytest.importorskip("sklearn.neural_network")
    v, W, b, c, _ = rbm
    m = sk.BernoulliRBM(n_components=H)
    m.components_, m.intercept_hidden_, m.intercept_visible_ = W.T.copy(), c, b
    m.random_state_ = np.random.RandomState(0)
    benchmark(lambda: m.gibbs(v))


@pytest.mark.benchmark(group=GROUP)
def test_torch_cpu(benchmark, rbm):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(2)
    v, W, b, c, _ = (torch.from_numpy(a) for a in rbm)

    def step():
        ph = torch.sigmoid(v @ W + c)
        h = (torch.rand_like(ph) < ph).float()
        pv = torch.sigmoid(h @ W.T + b)
        return (torch.rand_like(pv) < pv).float()

    with torch.no_grad():
        benchmark(step)


@pytest.mark.benchmark(group="bm_gibbs_sweep n=64 chains=1000 f64")
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_bm_sweep_public(benchmark, backend):
    rng = np.random.default_rng(1)
    n = 64
    J = rng.normal(size=(n, n)) * 0.1
    J = (J + J.T) / 2
    np.fill_diagonal(J, 0)
    x = (rng.random((1000, n)) < 0.5).astype(np.float64)
    with use_backend(backend):
        bm_gibbs_sweep(x, J, np.zeros(n), seed=1)
        benchmark(lambda: bm_gibbs_sweep(x, J, np.zeros(n), seed=1))
