"""Autograd engine benchmarks: minigen vs torch CPU (same thread count) vs hand-written NumPy.

Run: ``python -m pytest bench/bench_autograd.py --benchmark-enable -q``

Sections
--------
1. MLP (MADE size): 784-1024-1024-784 MaskedLinear + ReLU, Bernoulli cross-entropy with
   logits, float32, batch 128; one forward + backward + Adam step per round.
2. Convolution / LSTM: reserved for the layers (AG-layers) benchmarks, at the end of this file.
"""

from __future__ import annotations

import numpy as np
import pytest

from minigen.autograd import F, Tensor, nn
from minigen.optim import Adam

N_THREADS = 2
SIZES = (784, 1024, 1024, 784)
BATCH = 128


# =============================================================================== 1. MLP (MADE)


def made_masks(sizes=SIZES, seed=0):
    """MADE masks (Germain et al., 2015) for natural order; shapes (out, in) per layer."""
    rng = np.random.default_rng(seed)
    d = sizes[0]
    degrees = [np.arange(1, d + 1)]
    for h in sizes[1:-1]:
        degrees.append(rng.integers(degrees[-1].min(), d, size=h))
    masks = [(degrees[i + 1][:, None] >= degrees[i][None, :]) for i in range(len(sizes) - 2)]
    masks.append(np.arange(1, d + 1)[:, None] > degrees[-1][None, :])
    return [m.astype(np.float32) for m in masks]


def _data(seed=1):
    rng = np.random.default_rng(seed)
    x = (rng.random((BATCH, SIZES[0])) < 0.3).astype(np.float32)
    return x


def _minigen_net():
    masks = made_masks()
    layers = []
    for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=True)):
        layers.append(nn.MaskedLinear(a, b, mask=masks[i], random_state=i))
        if i < len(SIZES) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def minigen_step_fn():
    net = _minigen_net()
    opt = Adam(net.param_arrays(), lr=1e-3)
    x = _data()
    xt = Tensor(x)

    def step():
        net.zero_grad()
        loss = F.binary_cross_entropy_with_logits(net(xt), x)
        loss.backward()
        opt.step(net.grad_arrays())
        return loss.item()

    return step, net


def torch_step_fn(net_np=None):
    import torch

    torch.set_num_threads(N_THREADS)
    net_np = net_np or _minigen_net()
    ws, bs, ms = [], [], []
    for m in net_np:
        if isinstance(m, nn.MaskedLinear):
            ws.append(torch.tensor(m.weight.data.copy(), requires_grad=True))
            bs.append(torch.tensor(m.bias.data.copy(), requires_grad=True))
            ms.append(torch.tensor(m.mask))
    opt = torch.optim.Adam(ws + bs, lr=1e-3)
    x = torch.tensor(_data())

    def step():
        opt.zero_grad(set_to_none=True)
        h = x
        for i, (w, b, mk) in enumerate(zip(ws, bs, ms, strict=True)):
            h = torch.nn.functional.linear(h, w * mk, b)
            if i < len(ws) - 1:
                h = torch.relu(h)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(h, x)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def numpy_step_fn():
    """Hand-written NumPy forward/backward (the floor the engine is measured against)."""
    net = _minigen_net()
    Ws = [m.weight.data for m in net if isinstance(m, nn.MaskedLinear)]
    bs = [m.bias.data for m in net if isinstance(m, nn.MaskedLinear)]
    Ms = [m.mask for m in net if isinstance(m, nn.MaskedLinear)]
    params = {f"W{i}": w for i, w in enumerate(Ws)} | {f"b{i}": b for i, b in enumerate(bs)}
    opt = Adam(params, lr=1e-3)
    x = _data()

    def step():
        We = [w * m for w, m in zip(Ws, Ms, strict=True)]
        hs = [x]
        for i, (w, b) in enumerate(zip(We, bs, strict=True)):
            z = hs[-1] @ w.T + b
            hs.append(np.maximum(z, 0) if i < len(We) - 1 else z)
        logits = hs[-1]
        g = (0.5 * (1 + np.tanh(0.5 * logits)) - x) * (1.0 / logits.size)
        grads = {}
        for i in reversed(range(len(We))):
            grads[f"W{i}"] = (g.T @ hs[i]) * Ms[i]
            grads[f"b{i}"] = g.sum(0)
            if i:
                g = (g @ We[i]) * (hs[i] > 0)
        opt.step(grads)

    return step


@pytest.mark.benchmark(group="mlp-made-784-1024-1024-784-b128")
def test_mlp_minigen(benchmark):
    step, _ = minigen_step_fn()
    step()
    benchmark(step)


@pytest.mark.benchmark(group="mlp-made-784-1024-1024-784-b128")
def test_mlp_torch(benchmark):
    pytest.importorskip("torch")
    step = torch_step_fn()
    step()
    benchmark(step)


@pytest.mark.benchmark(group="mlp-made-784-1024-1024-784-b128")
def test_mlp_numpy_handwritten(benchmark):
    step = numpy_step_fn()
    step()
    benchmark(step)


# =============================================================================== 2. conv / LSTM
# (AG-layers: add convolution and LSTM benchmarks below this line.)
