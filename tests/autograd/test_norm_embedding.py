"""layer_norm / embedding ops and the LayerNorm, Embedding, Dropout modules."""

import numpy as np
import pytest

from minigen.autograd import Tensor, check_grads
from minigen.autograd.nn.layers import Dropout, Embedding, LayerNorm
from minigen.autograd.norm import embedding, layer_norm


@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 4), (1, 1), (4, 1)])
def test_layer_norm_grads(shape):
    rng = np.random.default_rng(0)
    d = shape[-1]
    x, g, b = rng.standard_normal(shape), rng.standard_normal(d), rng.standard_normal(d)
    check_grads(lambda x, g, b: layer_norm(x, g, b), x, g, b)
    check_grads(lambda x: layer_norm(x), x)


def test_layer_norm_matches_torch():
    torch = pytest.importorskip("torch")
    m = LayerNorm(6, dtype=np.float64)
    rng = np.random.default_rng(1)
    m.weight.data[:] = rng.standard_normal(6)
    m.bias.data[:] = rng.standard_normal(6)
    x = rng.standard_normal((2, 3, 6))
    tx = Tensor(x, requires_grad=True)
    y = m(tx)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    qx = torch.tensor(x, requires_grad=True)
    qw = torch.tensor(m.weight.data, requires_grad=True)
    qb = torch.tensor(m.bias.data, requires_grad=True)
    qy = torch.nn.functional.layer_norm(qx, (6,), qw, qb, 1e-5)
    qy.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, qy.detach().numpy(), atol=1e-12)
    for ours, theirs in ((tx, qx), (m.weight, qw), (m.bias, qb)):
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), atol=1e-12)


def test_embedding_grads_and_torch():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((5, 3))
    idx = np.array([[0, 4, 4], [1, 0, 2]])
    check_grads(lambda w: embedding(idx, w), w)
    torch = pytest.importorskip("torch")
    tw = Tensor(w, requires_grad=True)
    y = embedding(idx, tw)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    qw = torch.tensor(w, requires_grad=True)
    qy = torch.nn.functional.embedding(torch.tensor(idx), qw)
    qy.backward(torch.tensor(g))
    np.testing.assert_array_equal(y.data, qy.detach().numpy())
    np.testing.assert_allclose(tw.grad, qw.grad.numpy(), atol=1e-12)


def test_modules_init_and_errors():
    e = Embedding(10, 4, random_state=0)
    assert e.weight.dtype == np.float32 and e(np.array([1, 2])).shape == (2, 4)
    np.testing.assert_array_equal(Embedding(10, 4, random_state=0).weight.data, e.weight.data)
    with pytest.raises(IndexError, match=r"\[0, 10\).*max 10"):
        e(np.array([10]))
    with pytest.raises(TypeError, match="integers"):
        e(np.array([1.0]))
    ln = LayerNorm(4)
    assert ln(np.ones((2, 4), np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match=r"gamma must have shape \(5,\)"):
        layer_norm(np.zeros((2, 5)), np.ones(4))
    d = Dropout(0.5, random_state=0)
    x = np.ones((200, 50))
    y = d(Tensor(x)).data
    kept = (y != 0).mean()
    assert abs(kept - 0.5) < 4 * np.sqrt(0.25 / x.size) and np.allclose(y[y != 0], 2.0)
    assert np.array_equal(d.eval()(Tensor(x)).data, x)
