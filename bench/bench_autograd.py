"""Autograd benchmarks: minigen vs torch CPU (same thread count, float32) vs hand-written NumPy.

Run: ``python -m pytest bench/bench_autograd.py --benchmark-enable -q``
(threads: ``MINIGEN_BENCH_THREADS``, default 2; NumPy's BLAS is pinned with threadpoolctl
and torch with ``torch.set_num_threads``, both to that number, for the whole module).

Sections (acceptance targets: minigen median / torch median, compared within one run)
--------
1. MLP (MADE size): 784-1024-1024-784 MaskedLinear + ReLU, Bernoulli cross-entropy with
   logits, float32, batch 128; one forward + backward + Adam step per round. Target <= 1x.
2. PixelCNN-style stack: 5 masked 3x3 convolutions, 64 channels, input (32, 1, 28, 28):
   first layer 1 -> 64 mask A, then 64 -> 64 mask B; forward + backward. Target <= 2x.
3. LSTM: 256 units over 64 steps, batch 32, input size 256; forward + backward. Target <= 2x.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from minigen.autograd import F, Tensor, nn
from minigen.autograd.nn.conv import MaskedConv2d
from minigen.autograd.nn.layers import LSTM
from minigen.optim import Adam

N_THREADS = int(os.environ.get("MINIGEN_BENCH_THREADS", "2"))


def _pin_threads(n=N_THREADS):
    """Pin torch (if installed) and every BLAS/OpenMP pool threadpoolctl sees to ``n``.

    Returns the threadpoolctl limiter (``restore_original_limits()`` undoes it) or None
    when threadpoolctl is not installed (then set ``OPENBLAS_NUM_THREADS`` by hand).
    """
    try:
        import torch
    except ImportError:
        pass
    else:
        torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=n)


def _torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(N_THREADS)
    return torch


@pytest.fixture(scope="module", autouse=True)
def _same_threads():
    limiter = _pin_threads()
    yield
    if limiter is not None:
        limiter.restore_original_limits()
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


# ======================================================================== 2. masked conv stack


def _conv_layers():
    return [MaskedConv2d(1 if i == 0 else 64, 64, 3, mask_type="A" if i == 0 else "B",
                         random_state=i) for i in range(5)]


def _conv_input():
    return np.random.default_rng(0).random((32, 1, 28, 28), dtype=np.float32)


def minigen_conv_step():
    layers, x = _conv_layers(), Tensor(_conv_input())

    def step():
        for m in layers:
            m.zero_grad()
        h = x
        for m in layers:
            h = m(h)
        h.backward(np.ones(h.shape, np.float32))

    return step


def torch_conv_step():
    torch = _torch()
    layers = _conv_layers()
    ws = [torch.tensor(m.weight.data, requires_grad=True) for m in layers]
    bs = [torch.tensor(m.bias.data, requires_grad=True) for m in layers]
    ms = [torch.tensor(m.mask) for m in layers]
    x = torch.tensor(_conv_input())

    def step():
        for p in ws + bs:
            p.grad = None
        h = x
        for w, b, mk in zip(ws, bs, ms, strict=True):
            h = torch.nn.functional.conv2d(h, w * mk, b, padding=1)
        h.sum().backward()

    return step


@pytest.mark.benchmark(group="masked-conv-5x64-28x28-b32")
def test_masked_conv_minigen(benchmark):
    step = minigen_conv_step()
    step()
    benchmark(step)


@pytest.mark.benchmark(group="masked-conv-5x64-28x28-b32")
def test_masked_conv_torch(benchmark):
    step = torch_conv_step()
    step()
    benchmark(step)


# =============================================================================== 3. LSTM


def _lstm_input():
    return np.random.default_rng(1).standard_normal((32, 64, 256)).astype(np.float32)


def minigen_lstm_step():
    m, x = LSTM(256, 256, random_state=0), Tensor(_lstm_input())

    def step():
        m.zero_grad()
        hs, _ = m(x)
        hs.backward(np.ones(hs.shape, np.float32))

    return step


def torch_lstm_step():
    torch = _torch()
    ref = LSTM(256, 256, random_state=0)
    m = torch.nn.LSTM(256, 256, batch_first=True)
    with torch.no_grad():
        m.weight_ih_l0.copy_(torch.tensor(ref.weight_ih.data))
        m.weight_hh_l0.copy_(torch.tensor(ref.weight_hh.data))
        m.bias_ih_l0.copy_(torch.tensor(ref.bias.data))
        m.bias_hh_l0.zero_()
    x = torch.tensor(_lstm_input())

    def step():
        m.zero_grad(set_to_none=True)
        hs, _ = m(x)
        hs.sum().backward()

    return step


@pytest.mark.benchmark(group="lstm-256-T64-b32")
def test_lstm_minigen(benchmark):
    step = minigen_lstm_step()
    step()
    benchmark(step)


@pytest.mark.benchmark(group="lstm-256-T64-b32")
def test_lstm_torch(benchmark):
    step = torch_lstm_step()
    step()
    benchmark(step)
