"""Fused Row LSTM recurrence: finite differences, and the per-row autograd graph it replaces."""

import numpy as np
import pytest

import minigen
from minigen.autograd import Tensor, check_grads
from minigen.autograd.row_lstm import row_lstm


def _backends():
    try:
        import numba  # noqa: F401
    except ImportError:
        return ["numpy"]
    return ["numpy", "numba"]


@pytest.fixture(params=_backends())
def backend(request):
    with minigen.use_backend(request.param):
        yield request.param


@pytest.mark.parametrize("n, hid, rows, width", [(2, 3, 4, 5), (1, 1, 1, 1), (3, 2, 3, 1),
                                                 (1, 2, 1, 4)])
def test_row_lstm_grads(n, hid, rows, width, backend):
    rng = np.random.default_rng(0)
    g_is = rng.standard_normal((n, 4 * hid, rows, width))
    w_ss = rng.standard_normal((4 * hid, hid, 3)) * 0.5
    check_grads(row_lstm, g_is, w_ss)
    before = g_is.copy()
    row_lstm(g_is, w_ss)  # the inputs are the caller's: never written
    np.testing.assert_array_equal(g_is, before)


def _per_row_graph(layer, feat):
    """The Row LSTM layer as separate autograd ops per row (what the fused op replaced)."""
    from minigen.autograd import F
    from minigen.autograd.conv import conv1d
    from minigen.models.autoregressive.pixelrnn import _lstm_update

    g_is = F.transpose(layer.is_conv(feat), (0, 2, 3, 1))  # (n, H, W, 4h)
    h = c = None
    rows = []
    for r in range(feat.shape[2]):
        z = g_is[:, r]
        if h is not None:  # 1 x 3 state-to-state conv of the previous row
            z = z + F.transpose(conv1d(h, layer.ss, None, padding=1), (0, 2, 1))
        hr, c = _lstm_update(z, c, layer.hid)
        h = F.transpose(hr, (0, 2, 1))  # (n, h, W)
        rows.append(h)
    return feat + layer.out(F.stack(rows, axis=2))


def test_row_lstm_is_the_per_row_graph(backend):
    """Forward and every parameter gradient equal the unfused layer's (float64)."""
    from minigen.models.autoregressive.pixelrnn import _RowLSTMLayer

    rng = np.random.default_rng(1)
    layer = _RowLSTMLayer(4, 3, 3, np.float64, rng)
    x = rng.standard_normal((2, 4, 5, 6))
    g = rng.standard_normal((2, 4, 5, 6))
    outs, grads = [], []
    for fwd in (layer.forward, lambda t: _per_row_graph(layer, t)):
        layer.zero_grad()
        t = Tensor(x, requires_grad=True)
        y = fwd(t)
        y.backward(g)
        outs.append(y.data)
        grads.append([t.grad] + [p.grad.copy() for p in layer.parameters()])
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-12, atol=1e-12)
    for a, b in zip(*grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_row_lstm_bad_shapes():
    with pytest.raises(ValueError, match="g_is must have shape"):
        row_lstm(np.zeros((2, 8, 3)), np.zeros((8, 2, 3)))
    with pytest.raises(ValueError, match="w_ss must have shape"):
        row_lstm(np.zeros((2, 8, 3, 3)), np.zeros((8, 2, 2)))
    with pytest.raises(ValueError, match="gate channels"):
        row_lstm(np.zeros((2, 12, 3, 3)), np.zeros((8, 2, 3)))


def test_row_lstm_without_grad_holds_one_row_and_gives_the_same_states(backend):
    """Scoring (no_grad) takes the one-row path: the same hidden states bit for bit, and
    its peak memory stays near the output's size instead of ~6x it."""
    import tracemalloc

    from minigen.autograd import no_grad
    from minigen.autograd.row_lstm import row_lstm_forward

    rng = np.random.default_rng(3)
    g_is = rng.standard_normal((8, 4 * 6, 12, 10)).astype(np.float32)
    w_ss = rng.standard_normal((4 * 6, 6, 3)).astype(np.float32)
    peaks = []
    for keep in (True, False):
        tracemalloc.start()
        out, cache = row_lstm_forward(g_is, w_ss, keep)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert (cache is None) == (not keep)
        if keep:
            full = out
    np.testing.assert_array_equal(out, full)
    assert peaks[1] < 0.4 * peaks[0], peaks
    tracemalloc.start()
    with no_grad():  # the public op picks the one-row path by itself
        y = row_lstm(Tensor(g_is, requires_grad=True), Tensor(w_ss, requires_grad=True))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_array_equal(y.data, full)
    assert peak < 0.4 * peaks[0], (peak, peaks)
