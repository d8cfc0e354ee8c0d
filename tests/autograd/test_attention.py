"""Causal multi-head self-attention op, its KV cache and the CausalSelfAttention module."""

import numpy as np
import pytest

from minigen.autograd import Tensor, check_grads, no_grad
from minigen.autograd.attention import causal_self_attention
from minigen.autograd.nn.layers import CausalSelfAttention


@pytest.mark.parametrize("n, t, d, h", [(2, 4, 6, 2), (1, 1, 2, 1), (2, 3, 4, 4)])
def test_attention_grads(n, t, d, h):
    rng = np.random.default_rng(0)
    args = [rng.standard_normal(s) for s in ((n, t, d), (d, 3 * d), (3 * d,), (d, d), (d,))]
    check_grads(lambda *a: causal_self_attention(*a, h), *args)
    check_grads(lambda x, wq, wo: causal_self_attention(x, wq, None, wo, None, h),
                args[0], args[1], args[3])


def test_attention_matches_torch_sdpa():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    m = CausalSelfAttention(8, 2, dtype=np.float64, random_state=1)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 5, 8))
    tx = Tensor(x, requires_grad=True)
    y = m(tx)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    params = [torch.tensor(p.data, requires_grad=True) for p in (m.w_qkv, m.b_qkv, m.w_o, m.b_o)]
    qx = torch.tensor(x, requires_grad=True)
    qkv = (qx @ params[0] + params[1]).reshape(3, 5, 3, 2, 4).permute(2, 0, 3, 1, 4)
    a = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], is_causal=True)
    qy = a.transpose(1, 2).reshape(3, 5, 8) @ params[2] + params[3]
    qy.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, qy.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(tx.grad, qx.grad.numpy(), atol=1e-12)
    for p, q in zip((m.w_qkv, m.b_qkv, m.w_o, m.b_o), params, strict=True):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), atol=1e-12)


def test_causality():
    m = CausalSelfAttention(4, 2, dtype=np.float64, random_state=3)
    x = Tensor(np.random.default_rng(4).standard_normal((1, 5, 4)), requires_grad=True)
    for i in range(5):
        x.grad = None
        y = m(x)
        g = np.zeros(y.shape)
        g[0, i] = 1.0
        y.backward(g)
        assert np.all(x.grad[0, i + 1:] == 0) and np.all(x.grad[0, : i + 1] != 0)


def test_kv_cache_matches_full_pass():
    m = CausalSelfAttention(6, 3, random_state=5)
    x = np.random.default_rng(6).standard_normal((2, 7, 6)).astype(np.float32)
    with no_grad():
        full = m(x).data
    cache = {}
    steps = [m(x[:, :3], cache=cache).data]  # a prompt of 3 tokens, then one at a time
    steps += [m(x[:, t:t + 1], cache=cache).data for t in range(3, 7)]
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, rtol=1e-5, atol=1e-6)
    assert cache["k"].shape == (2, 3, 7, 2)


def test_kv_cache_grows_without_copying_every_step():
    """Past the initial room (a prompt of 5, then 45 single tokens: the buffer is
    reallocated twice) the steps still equal the full pass, and a step with room left
    writes into the same buffer (no copy of the cache)."""
    m = CausalSelfAttention(8, 2, random_state=1)
    x = np.random.default_rng(2).standard_normal((3, 50, 8)).astype(np.float32)
    with no_grad():
        full = m(x).data
    cache = {}
    steps = [m(x[:, :5], cache=cache).data]
    buffers = []
    for t in range(5, 50):
        steps.append(m(x[:, t:t + 1], cache=cache).data)
        buffers.append(cache["_k_buffer"])
        assert np.shares_memory(cache["k"], cache["_k_buffer"])
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, rtol=1e-5, atol=1e-6)
    assert cache["k"].shape == cache["v"].shape == (3, 2, 50, 4)
    assert len({id(b) for b in buffers}) == 3  # room 16 -> 32 -> 64: two reallocations


def test_attention_errors():
    with pytest.raises(ValueError, match="not divisible by n_heads"):
        CausalSelfAttention(6, 4)
    m = CausalSelfAttention(6, 3)
    with pytest.raises(ValueError, match=r"w_qkv must have shape \(9, 27\)"):
        m(np.zeros((1, 2, 9), np.float32))
    cache = {}
    m(np.zeros((2, 1, 6), np.float32), cache=cache)
    with pytest.raises(ValueError, match="cache holds batch 2"):
        m(np.zeros((3, 1, 6), np.float32), cache=cache)
