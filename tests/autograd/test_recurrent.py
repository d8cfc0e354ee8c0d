"""Fused LSTM op (BPTT), LSTMCell and LSTM modules."""

import numpy as np
import pytest

import minigen
from minigen.autograd import Tensor, check_grads
from minigen.autograd.nn.layers import LSTM, LSTMCell
from minigen.autograd.recurrent import lstm, lstm_cell


def _backends():
    return ["numpy"] + (["numba"] if _has_numba() else [])


def _has_numba():
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(params=_backends())
def backend(request):
    """Run under the NumPy reference path and (when installed) the fused Numba kernels."""
    with minigen.use_backend(request.param):
        yield request.param


@pytest.mark.parametrize("n, t, d, h", [(2, 3, 4, 5), (1, 1, 1, 1), (3, 4, 1, 2)])
def test_lstm_grads(n, t, d, h, backend):
    rng = np.random.default_rng(0)
    args = [rng.standard_normal(s) for s in ((n, t, d), (4 * h, d), (4 * h, h), (4 * h,),
                                             (n, h), (n, h))]
    check_grads(lambda *a: lstm(*a)[0], *args)
    check_grads(lambda *a: lstm(*a)[1], *args)
    check_grads(lambda *a: lstm(*a)[2], *args)
    check_grads(lambda x, wi, wh: lstm(x, wi, wh)[0], *args[:3])


def test_lstm_cell_grads(backend):
    rng = np.random.default_rng(1)
    args = [rng.standard_normal(s) for s in ((2, 3), (2, 4), (2, 4), (16, 3), (16, 4), (16,))]
    check_grads(lambda *a: lstm_cell(*a)[0], *args)
    check_grads(lambda *a: lstm_cell(*a)[1], *args)


def test_lstm_matches_torch(backend):
    torch = pytest.importorskip("torch")
    m = LSTM(3, 5, dtype=np.float64, random_state=0)
    ref = torch.nn.LSTM(3, 5, batch_first=True).double()
    with torch.no_grad():
        ref.weight_ih_l0.copy_(torch.tensor(m.weight_ih.data))
        ref.weight_hh_l0.copy_(torch.tensor(m.weight_hh.data))
        ref.bias_ih_l0.copy_(torch.tensor(m.bias.data))
        ref.bias_hh_l0.zero_()
    rng = np.random.default_rng(2)
    x, h0, c0 = (rng.standard_normal(s) for s in ((2, 6, 3), (2, 5), (2, 5)))
    tx, th, tc = (Tensor(a, requires_grad=True) for a in (x, h0, c0))
    hs, (h_t, c_t) = m(tx, (th, tc))
    g = rng.standard_normal(hs.shape)
    gc = rng.standard_normal(c_t.shape)
    hs.backward(g, retain_graph=True)
    c_t.backward(gc)
    qx, qh, qc = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    qhs, (qh_t, qc_t) = ref(qx, (qh[None], qc[None]))
    ((qhs * torch.tensor(g)).sum() + (qc_t[0] * torch.tensor(gc)).sum()).backward()
    np.testing.assert_allclose(hs.data, qhs.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(h_t.data, qh_t[0].detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(c_t.data, qc_t[0].detach().numpy(), atol=1e-12)
    for ours, theirs in ((tx, qx), (th, qh), (tc, qc), (m.weight_ih, ref.weight_ih_l0),
                         (m.weight_hh, ref.weight_hh_l0), (m.bias, ref.bias_hh_l0)):
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), atol=1e-12)


def test_cell_unrolled_equals_sequence(backend):
    m = LSTM(3, 4, dtype=np.float64, random_state=3)
    cell = LSTMCell(3, 4, dtype=np.float64, random_state=3)
    x = np.random.default_rng(4).standard_normal((2, 5, 3))
    hs, (h_t, c_t) = m(x)
    state = None
    for t in range(5):
        state = cell(x[:, t], state)
        np.testing.assert_allclose(state[0].data, hs.data[:, t], atol=1e-13)
    np.testing.assert_allclose(state[1].data, c_t.data, atol=1e-13)


def test_lstm_init_and_errors():
    m = LSTM(3, 4, random_state=0)
    assert m.weight_ih.shape == (16, 3) and m.weight_hh.shape == (16, 4)
    assert m.weight_ih.dtype == np.float32 and np.abs(m.weight_hh.data).max() <= 0.5
    hs, (h, c) = m(np.zeros((2, 7, 3), np.float32))
    assert hs.shape == (2, 7, 4) and h.shape == (2, 4) and hs.dtype == np.float32
    with pytest.raises(ValueError, match=r"w_ih must have shape \(4H, D\) = \(16, 5\)"):
        m(np.zeros((2, 7, 5), np.float32))
    with pytest.raises(ValueError, match=r"h0 must have shape \(N, H\) = \(2, 4\)"):
        m(np.zeros((2, 7, 3), np.float32), (np.zeros((3, 4), np.float32),) * 2)
    with pytest.raises(ValueError, match="x must have shape"):
        m(np.zeros((7, 3), np.float32))
