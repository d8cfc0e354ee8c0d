"""Coupling kernels (RealNVP / NICE / Glow): the public functions beside their kernel.

4096 x 1024 float32 (log-det accumulated in float64): the public functions on the numba
backend (validation included: the figure to quote) and the numpy backend (the
reference), the Numba kernel alone (an extra row), the NumPy expression a user would
write, torch CPU (same thread count, 2) and a copy of the same bytes (the memory floor).

Run: ``python -m pytest bench/bench_kernels_coupling.py --benchmark-enable -q``; the
README's ratios come from ``python bench/kernels_table.py``.
Acceptance (the kernels issues): forward >= 1.5x the NumPy expression and >= 1.2x torch,
backward >= 2x torch, each within 1.15x of its kernel.
"""

from __future__ import annotations

import numpy as np
import pytest

from minigen.backend import use_backend

N, D = 4096, 1024
N_THREADS = 2
FWD, BWD = f"affine_coupling fwd {N}x{D} f32", f"affine_coupling bwd {N}x{D} f32"


def _data(dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    x2, s, t, gy = (rng.standard_normal((N, D)).astype(dtype) for _ in range(4))
    return x2, s, t, gy, rng.standard_normal(N)


def _torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(N_THREADS)
    return torch


# ------------------------------------------------------------------------------ forward


@pytest.mark.benchmark(group=FWD)
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_forward_public(benchmark, backend):
    from minigen.kernels import affine_coupling

    x2, s, t, _, _ = _data()
    with use_backend(backend):
        affine_coupling(x2, s, t)  # compile / load the cache outside the timing
        y, ld = benchmark(affine_coupling, x2, s, t)
    np.testing.assert_allclose(y, x2 * np.exp(s) + t, rtol=1e-5, atol=1e-5)
    assert ld.dtype == np.float64


@pytest.mark.benchmark(group=FWD)
def test_forward_kernel_only_numba(benchmark):
    from minigen.kernels.cpu.coupling import affine_coupling

    x2, s, t, _, _ = _data()
    affine_coupling(x2, s, t)
    benchmark(affine_coupling, x2, s, t)


@pytest.mark.benchmark(group=FWD)
def test_forward_numpy_expression(benchmark):
    x2, s, t, _, _ = _data()
    benchmark(lambda: (x2 * np.exp(s) + t, s.sum(axis=1, dtype=np.float64)))


@pytest.mark.benchmark(group=FWD)
def test_forward_torch_cpu(benchmark):
    torch = _torch()
    x2, s, t = (torch.from_numpy(a) for a in _data()[:3])
    benchmark(lambda: (x2 * torch.exp(s) + t, s.sum(1, dtype=torch.float64)))


@pytest.mark.benchmark(group=FWD)
def test_forward_memory_floor_copy(benchmark):
    benchmark(_data()[0].copy)


# ----------------------------------------------------------------------------- backward


@pytest.mark.benchmark(group=BWD)
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_backward_public(benchmark, backend):
    from minigen.kernels import affine_coupling_backward

    x2, s, t, gy, gl = _data()
    with use_backend(backend):
        affine_coupling_backward(x2, s, t, gy, gl)
        benchmark(affine_coupling_backward, x2, s, t, gy, gl)


@pytest.mark.benchmark(group=BWD)
def test_backward_kernel_only_numba(benchmark):
    from minigen.kernels.cpu.coupling import affine_coupling_backward

    x2, s, t, gy, gl = _data()
    affine_coupling_backward(x2, s, t, gy, gl)
    benchmark(affine_coupling_backward, x2, s, t, gy, gl)


@pytest.mark.benchmark(group=BWD)
def test_backward_numpy_expression(benchmark):
    x2, s, t, gy, gl = _data()
    gl32 = gl.astype(np.float32)[:, None]

    def run():
        gx2 = gy * np.exp(s)
        return gx2, gx2 * x2 + gl32, gy.copy()

    benchmark(run)


@pytest.mark.benchmark(group=BWD)
def test_backward_torch_cpu(benchmark):
    # The same three gradients written as torch tensor expressions (what autograd computes).
    torch = _torch()
    x2, s, t, gy = (torch.from_numpy(a) for a in _data()[:4])
    gl = torch.from_numpy(_data()[4].astype(np.float32))

    def run():
        gx2 = gy * torch.exp(s)
        return gx2, gx2 * x2 + gl[:, None], gy.clone()

    benchmark(run)


# ----------------------------------------------------------------- additive and actnorm


@pytest.mark.benchmark(group=f"additive_coupling {N}x{D} f32")
@pytest.mark.parametrize("which", ["public numba", "numpy expression", "torch"])
def test_additive(benchmark, which):
    from minigen.kernels import additive_coupling

    x2, _, t, _, _ = _data()
    if which == "torch":
        torch = _torch()
        a, b = torch.from_numpy(x2), torch.from_numpy(t)
        benchmark(lambda: a + b)
    elif which == "numpy expression":
        benchmark(lambda: x2 + t)
    else:
        with use_backend("numba"):
            benchmark(additive_coupling, x2, t)


@pytest.mark.benchmark(group="actnorm 256x16x32x32 f32")
@pytest.mark.parametrize("which", ["public numba", "numpy expression"])
def test_actnorm(benchmark, which):
    from minigen.kernels import actnorm

    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 16, 32, 32), dtype=np.float32)
    loc, ls = (rng.standard_normal(16).astype(np.float32) for _ in range(2))
    if which == "numpy expression":
        benchmark(lambda: (x + loc[None, :, None, None]) * np.exp(ls)[None, :, None, None])
    else:
        with use_backend("numba"):
            benchmark(actnorm, x, loc, ls)
