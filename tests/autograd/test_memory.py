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


def _setup():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 8)).astype(np.float32)
    y = (rng.random((16, 8)) < 0.5).astype(np.float32)
    mask = np.tril(np.ones((32, 8)))
    net = nn.Sequential(nn.MaskedLinear(8, 32, mask, random_state=0), nn.ReLU(),
                        nn.Linear(32, 8, random_state=1), nn.Tanh())  # fmt: skip
    opt = Adam(net.param_arrays(), lr=1e-3)
    opt.fused = False  # NumPy update: this tests the autograd graph, not the Numba kernel
    return net, opt, x, y


def _live_tensors() -> int:
    gc.collect()
    return sum(type(o) is Tensor for o in gc.get_objects())


def test_thousand_steps_do_not_grow_live_tensors():
    # the losses are kept (as a training loop keeping a history might): after backward
    # each holds only its value, not its graph, so exactly one Tensor per step survives
    net, opt, x, y = _setup()
    for _ in range(20):
        _step(net, opt, x, y)
    before = _live_tensors()
    history = [_step(net, opt, x, y) for _ in range(1000)]
    assert _live_tensors() == before + len(history)
    assert all(loss._parents == () for loss in history)


def test_training_steps_do_not_grow_traced_memory():
    net, opt, x, y = _setup()
    for _ in range(50):  # warm-up: optimizer buffers, caches
        _step(net, opt, x, y)
    gc.collect()
    tracemalloc.start()
    for _ in range(50):
        _step(net, opt, x, y)
    gc.collect()
    base, _ = tracemalloc.get_traced_memory()
    history = [_step(net, opt, x, y) for _ in range(300)]
    gc.collect()
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # kept losses cost ~0.2 KB each; one step's graph and buffers are ~20 KB, so 300 leaked
    # graphs would be megabytes
    assert len(history) == 300
    assert after - base < 300 * 1024, f"memory grew by {after - base} bytes over 300 steps"


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
