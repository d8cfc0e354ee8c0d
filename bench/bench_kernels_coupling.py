"""Affine coupling kernel (RealNVP): forward + log-det, and the fused backward.

4096 x 1024 float32 (log-det accumulated in float64): NumPy reference vs Numba
(``@njit(parallel=True)``, vectorizable exp) vs torch CPU (same thread count, 2).

Run: ``python -m pytest bench/bench_kernels_coupling.py --benchmark-enable -q``
Acceptance (the "Kernels" issue): Numba >= 1.5x faster than NumPy, no slower than torch.
"""

from __future__ import annotations

import numpy as np
import pytest

N, D = 4096, 1024
N_THREADS = 2


def _data(dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    x2, s, t, gy = (rng.standard_normal((N, D)).astype(dtype) for _ in range(4))
    return x2, s, t, gy, rng.standard_normal(N)


def _torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(N_THREADS)
    return torch


# ------------------------------------------------------------------------------ forward


@pytest.mark.benchmark(group="affine_coupling fwd 4096x1024 f32")
def test_forward_numpy_reference(benchmark):
    from minigen.kernels.reference.coupling import affine_coupling

    x2, s, t, _, _ = _data()
    y, ld = benchmark(affine_coupling, x2, s, t)
    assert ld.dtype == np.float64


@pytest.mark.benchmark(group="affine_coupling fwd 4096x1024 f32")
def test_forward_numba(benchmark):
    from minigen.kernels.cpu.coupling import affine_coupling

    x2, s, t, _, _ = _data()
    affine_coupling(x2, s, t)  # compile / load the cache outside the timing
    y, ld = benchmark(affine_coupling, x2, s, t)
    np.testing.assert_allclose(y, x2 * np.exp(s) + t, rtol=1e-5, atol=1e-5)


@pytest.mark.benchmark(group="affine_coupling fwd 4096x1024 f32")
def test_forward_public_wrapper_numba(benchmark):
    # Includes validation (finite check, shape/dtype checks): the cost a user pays.
    import minigen
    from minigen.kernels import affine_coupling

    x2, s, t, _, _ = _data()
    with minigen.use_backend("numba"):
        affine_coupling(x2, s, t)
        benchmark(affine_coupling, x2, s, t)


@pytest.mark.benchmark(group="affine_coupling fwd 4096x1024 f32")
def test_forward_torch_cpu(benchmark):
    torch = _torch()
    x2, s, t = (torch.from_numpy(a) for a in _data()[:3])

    def run():
        return x2 * torch.exp(s) + t, s.sum(1)

    benchmark(run)


# ----------------------------------------------------------------------------- backward


@pytest.mark.benchmark(group="affine_coupling bwd 4096x1024 f32")
def test_backward_numpy_reference(benchmark):
    from minigen.kernels.reference.coupling import affine_coupling_backward

    x2, s, t, gy, gl = _data()
    benchmark(affine_coupling_backward, x2, s, t, gy, gl)


@pytest.mark.benchmark(group="affine_coupling bwd 4096x1024 f32")
def test_backward_numba(benchmark):
    from minigen.kernels.cpu.coupling import affine_coupling_backward

    x2, s, t, gy, gl = _data()
    affine_coupling_backward(x2, s, t, gy, gl)
    benchmark(affine_coupling_backward, x2, s, t, gy, gl)


@pytest.mark.benchmark(group="affine_coupling bwd 4096x1024 f32")
def test_backward_torch_cpu(benchmark):
    # The same three gradients written as torch tensor expressions (what autograd computes).
    torch = _torch()
    x2, s, t, gy = (torch.from_numpy(a) for a in _data()[:4])
    gl = torch.from_numpy(_data()[4].astype(np.float32))

    def run():
        gx2 = gy * torch.exp(s)
        return gx2, gx2 * x2 + gl[:, None], gy.clone()

    benchmark(run)
