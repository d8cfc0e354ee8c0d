"""Optimizer step alone: Adam on the MLP 784-1024-1024-784 parameter set (2.4 M float32),
minigen (in-place NumPy ufuncs with one scratch buffer per parameter, the NumPy backend; and the
fused one-pass Numba update, the default on the numba backend) vs torch.optim.Adam (foreach and
single-tensor, CPU, same thread count).

Run: ``python -m pytest bench/bench_optim.py --benchmark-enable -q``
"""

from __future__ import annotations

import numpy as np
import pytest

from minigen.backend import use_backend
from minigen.optim import SGD, Adam

SHAPES = {"W0": (1024, 784), "b0": (1024,), "W1": (1024, 1024), "b1": (1024,),
          "W2": (784, 1024), "b2": (784,)}
N_THREADS = 2


def _arrays(seed):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s, dtype=np.float32) * 0.01 for k, s in SHAPES.items()}


@pytest.mark.benchmark(group="adam-step-2.4M-f32")
@pytest.mark.parametrize("path", ["fused-numba", "numpy-ufuncs"])
def test_adam_minigen(benchmark, path):
    if path == "fused-numba":
        pytest.importorskip("numba")
    params, grads = _arrays(0), _arrays(1)
    with use_backend("numba" if path == "fused-numba" else "numpy"):
        opt = Adam(params, lr=1e-3)
        opt.fused = path == "fused-numba"
        opt.step(grads)  # compiles once
    benchmark(opt.step, grads)


@pytest.mark.benchmark(group="adam-step-2.4M-f32")
@pytest.mark.parametrize("foreach", [True, False])
def test_adam_torch(benchmark, foreach):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(N_THREADS)
    ps = [torch.tensor(v, requires_grad=True) for v in _arrays(0).values()]
    for p, g in zip(ps, _arrays(1).values(), strict=True):
        p.grad = torch.tensor(g)
    opt = torch.optim.Adam(ps, lr=1e-3, foreach=foreach)
    opt.step()
    benchmark(opt.step)


@pytest.mark.benchmark(group="sgd-momentum-step-2.4M-f32")
@pytest.mark.parametrize("path", ["fused-numba", "numpy-ufuncs"])
def test_sgd_minigen(benchmark, path):
    if path == "fused-numba":
        pytest.importorskip("numba")
    params, grads = _arrays(0), _arrays(1)
    with use_backend("numba" if path == "fused-numba" else "numpy"):
        opt = SGD(params, lr=1e-3, momentum=0.9)
        opt.fused = path == "fused-numba"
        opt.step(grads)
    benchmark(opt.step, grads)


@pytest.mark.benchmark(group="sgd-momentum-step-2.4M-f32")
def test_sgd_torch(benchmark):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(N_THREADS)
    ps = [torch.tensor(v, requires_grad=True) for v in _arrays(0).values()]
    for p, g in zip(ps, _arrays(1).values(), strict=True):
        p.grad = torch.tensor(g)
    opt = torch.optim.SGD(ps, lr=1e-3, momentum=0.9)
    opt.step()
    benchmark(opt.step)
