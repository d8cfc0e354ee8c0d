"""The graph is released after backward: 1,000 training steps do not grow memory."""

import gc
import tracemalloc
import weakref

import numpy as np

from minigen.autograd import F, Tensor, nn
from minigen.optim import Adam


def _step(net, opt, x, y):
    net.zero_grad()
    loss = F.binary_cross_entropy_with_logits(net(Tensor(x)), y)
    loss.backward()
    opt.step(net.grad_arrays())
    return loss


def test_thousand_steps_do_not_grow_memory():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 8)).astype(np.float32)
    y = (rng.random((16, 8)) < 0.5).astype(np.float32)
    mask = np.tril(np.ones((8, 8)), -1)
    net = nn.Sequential(nn.MaskedLinear(8, 32, np.ones((32, 8)), random_state=0), nn.ReLU(),
                        nn.Linear(32, 8, random_state=1), nn.Tanh())  # fmt: skip
    net[0].set_mask(np.ones((32, 8)) * (mask.sum() > 0))
    opt = Adam(net.param_arrays(), lr=1e-3)
    for _ in range(50):  # warm-up: optimizer buffers, caches
        _step(net, opt, x, y)
    gc.collect()
    tracemalloc.start()
    for _ in range(100):
        _step(net, opt, x, y)
    gc.collect()
    base, _ = tracemalloc.get_traced_memory()
    for _ in range(1000):
        _step(net, opt, x, y)
    gc.collect()
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # one step's graph is ~20 KB; 1,000 leaked steps would be megabytes
    assert after - base < 64 * 1024, f"memory grew by {after - base} bytes over 1,000 steps"


def test_intermediate_tensors_are_freed_after_backward():
    x = Tensor(np.ones(4), requires_grad=True)
    y = x * 2.0
    z = F.exp(y)
    loss = z.sum()
    refs = [weakref.ref(y), weakref.ref(z)]
    del y, z
    loss.backward()
    gc.collect()
    assert all(r() is None for r in refs)
    assert x.grad is not None
