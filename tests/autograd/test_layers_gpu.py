"""The layer ops under CuPy: same values and gradients as on NumPy (skipped without a GPU)."""

import numpy as np
import pytest

import minigen
from minigen.autograd import Tensor
from minigen.autograd.attention import causal_self_attention
from minigen.autograd.conv import conv2d
from minigen.autograd.norm import embedding, layer_norm
from minigen.autograd.recurrent import lstm

pytestmark = pytest.mark.gpu


def _run(fn, arrays, xp):
    ts = [Tensor(xp.asarray(a), requires_grad=a.dtype.kind == "f") for a in arrays]
    y = fn(*ts)
    y.backward(xp.ones(y.shape, dtype=y.dtype))
    return [minigen.to_numpy(y.data)] + [
        minigen.to_numpy(t.grad) for t in ts if t.requires_grad
    ]


CASES = {
    "conv": (lambda x, w, b: conv2d(x, w, b, 2, 1, 1), [(2, 3, 7, 6), (4, 3, 3, 3), (4,)]),
    "lstm": (lambda x, wi, wh, b: lstm(x, wi, wh, b)[0], [(2, 5, 3), (16, 3), (16, 4), (16,)]),
    "attention": (lambda x, wq, bq, wo, bo: causal_self_attention(x, wq, bq, wo, bo, 2),
                  [(2, 4, 6), (6, 18), (18,), (6, 6), (6,)]),
    "layer_norm": (lambda x, g, b: layer_norm(x, g, b), [(3, 5), (5,), (5,)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_cupy_matches_numpy(name):
    cp = pytest.importorskip("cupy")
    fn, shapes = CASES[name]
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in shapes]
    ref = _run(fn, arrays, np)
    with minigen.use_backend("cupy"):
        got = _run(fn, arrays, cp)
    for a, b in zip(got, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def test_cupy_embedding():
    cp = pytest.importorskip("cupy")
    w = np.random.default_rng(1).standard_normal((5, 3))
    idx = np.array([0, 4, 4, 1])
    tw = Tensor(cp.asarray(w), requires_grad=True)
    y = embedding(cp.asarray(idx), tw)
    y.backward(cp.ones(y.shape))
    expect = np.zeros_like(w)
    np.add.at(expect, idx, 1.0)
    np.testing.assert_allclose(cp.asnumpy(tw.grad), expect)
