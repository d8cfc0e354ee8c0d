"""Layer benchmarks: minigen fused ops vs torch CPU (same thread count), float32.

Run: ``python -m pytest bench/bench_autograd_layers.py --benchmark-enable -q``

1. PixelCNN-style stack: 5 masked 3x3 convolutions, 64 channels, input (32, 1, 28, 28):
   first layer 1 -> 64 mask A, then 64 -> 64 mask B; forward + backward (sum of outputs).
2. LSTM: 256 units over 64 steps, batch 32, input size 256; forward + backward.

Acceptance target: minigen median <= 2x torch median, compared within one run.
"""

from __future__ import annotations

import numpy as np
import pytest

from minigen.autograd import Tensor
from minigen.autograd.nn.conv import MaskedConv2d
from minigen.autograd.nn.layers import LSTM

N_THREADS = 2


def _torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(N_THREADS)
    return torch


# ============================================================== 1. masked conv stack


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


# ============================================================== 2. LSTM


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
