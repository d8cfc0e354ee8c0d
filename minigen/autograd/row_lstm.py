r"""The Row LSTM recurrence (van den Oord et al. 2016) as one fused op, with BPTT.

Row :math:`r` of an image is one step. Its gate pre-activations are the input-to-state
part ``g_is[:, :, r]`` (computed for the whole map beforehand by a masked convolution)
plus an unmasked ``1 x 3`` convolution of the previous row's hidden state:

.. math::

    z_r[w] = g^{is}_r[w] + \sum_{j=0}^{2} W^{ss}_{:, :, j}\, h_{r-1}[w - 1 + j], \qquad
    (i, f, o, g) = (\sigma, \sigma, \sigma, \tanh)(z_r), \\
    c_r = f \odot c_{r-1} + i \odot g, \qquad h_r = o \odot \tanh(c_r),

with :math:`h_{-1} = c_{-1} = 0` and zero padding at the row's ends.

Why one op: written with autograd ops, a row costs ~15 graph nodes (a ``conv1d``, its
transposes, slices and the gate arithmetic), each allocating its output and, in the
backward, its gradients; at 28 x 28 with 64 images that graph was most of a training
step. Here the whole image is one node. The ``1 x 3`` state-to-state convolution is one
GEMM per row on a ``(N W, 3H)`` window buffer of the previous row (im2col of three
shifted copies); the windows of all rows are kept, so the backward forms the weight
gradient with one GEMM over every row, and folds ``dz @ W^T`` back onto the previous
row's three neighbours. The gate arithmetic is :mod:`.recurrent`'s (one ``tanh`` for all
four gates; the fused Numba backward step on the ``numba`` backend).
"""

from __future__ import annotations

from ..backend import xp_of
from .custom import custom_op
from .recurrent import _numba_kernels, gate_backward_step, gate_forward_step
from .tensor import Tensor, is_grad_enabled

__all__ = ["row_lstm"]


def _check(g_is, w_ss):
    if g_is.ndim != 4:
        raise ValueError(f"row_lstm: g_is must have shape (N, 4H, rows, W), got shape "
                         f"{tuple(g_is.shape)}")
    if w_ss.ndim != 3 or w_ss.shape[2] != 3 or w_ss.shape[0] != 4 * w_ss.shape[1]:
        raise ValueError(f"row_lstm: w_ss must have shape (4H, H, 3), got shape "
                         f"{tuple(w_ss.shape)}")
    if g_is.shape[1] != w_ss.shape[0]:
        raise ValueError(f"row_lstm: g_is has {g_is.shape[1]} gate channels but w_ss "
                         f"{tuple(w_ss.shape)} needs 4H = {w_ss.shape[0]}")


def _windows(xp, h, out):
    """``out (N, W, 3H)`` = the previous row's ``h (N, W, H)`` at ``w - 1, w, w + 1``."""
    hid = h.shape[2]
    out[:, :, hid:2 * hid] = h
    out[:, 0, :hid] = 0
    out[:, 1:, :hid] = h[:, :-1]
    out[:, -1, 2 * hid:] = 0
    out[:, :-1, 2 * hid:] = h[:, 1:]


def row_lstm_forward(g_is, w_ss, keep=True):
    """Plain arrays: ``g_is (N, 4H, rows, W)``, ``w_ss (4H, H, 3)`` -> ``hs (N, H, rows, W)``
    and the cache for :func:`row_lstm_backward` (``None`` with ``keep=False``: then only
    one row of gates, windows and cells is held at a time, for scoring large batches)."""
    _check(g_is, w_ss)
    xp = xp_of(g_is, w_ss)
    n, h4, rows, width = g_is.shape
    hid = h4 // 4
    dt = g_is.dtype
    # w2[j H + ci, o] = w_ss[o, ci, j]: the 1 x 3 conv as a (3H, 4H) matrix on the windows
    w2 = xp.ascontiguousarray(w_ss.transpose(2, 1, 0).reshape(3 * hid, h4))
    w2_half = w2.copy()
    w2_half[:, :3 * hid] *= 0.5  # sigmoid(z) = (1 + tanh(z / 2)) / 2
    held = rows if keep else 1
    if keep:  # a copy: the halving below must not write into the caller's g_is
        gates = g_is.transpose(2, 0, 3, 1).copy()  # (rows, N, W, 4H)
        gates[..., :3 * hid] *= 0.5
    else:
        gates = xp.empty((1, n, width, h4), dtype=dt)
    wins = xp.empty((max(held - 1, 1), n, width, 3 * hid), dtype=dt)
    cs = xp.zeros((held + 1, n, width, hid), dtype=dt)
    tcs = xp.empty((held, n, width, hid), dtype=dt)
    hs = xp.empty((rows, n, width, hid), dtype=dt)
    rec = xp.empty((n * width, h4), dtype=dt)
    tmp = xp.empty((n, width, hid), dtype=dt)
    for r in range(rows):
        k = r if keep else 0
        if not keep:
            gates[0] = g_is[:, :, r].transpose(0, 2, 1)
            gates[0, ..., :3 * hid] *= 0.5
        if r > 0:
            win = wins[r - 1 if keep else 0]
            _windows(xp, hs[r - 1], win)
            xp.matmul(win.reshape(n * width, 3 * hid), w2_half, out=rec)
            gates[k] += rec.reshape(n, width, h4)
        c_prev, c = (cs[r], cs[r + 1]) if keep else (cs[r % 2], cs[(r + 1) % 2])
        gate_forward_step(xp, gates[k], c_prev, c, tcs[k], hs[r], tmp)
    out = xp.ascontiguousarray(hs.transpose(1, 3, 0, 2))
    return out, ((gates, cs, tcs, wins[:rows - 1], w2) if keep else None)


def row_lstm_backward(g_out, cache, need_g_is=True):
    """Gradients ``(g_is, w_ss)`` of :func:`row_lstm_forward` given ``g_out (N, H, rows, W)``."""
    gates, cs, tcs, wins, w2 = cache
    xp = xp_of(g_out, w2)
    rows, n, width, h4 = gates.shape
    hid = h4 // 4
    m = n * width
    g_seq = xp.ascontiguousarray(g_out.transpose(2, 0, 3, 1)).reshape(rows, m, hid)
    gz = xp.empty((rows, m, h4), dtype=gates.dtype)
    dh = xp.zeros((m, hid), dtype=gates.dtype)
    dc = xp.zeros((m, hid), dtype=gates.dtype)
    dwin = xp.empty((m, 3 * hid), dtype=gates.dtype)
    tmp, tmp3 = xp.empty_like(dh), xp.empty((m, 3 * hid), dtype=gates.dtype)
    kern = _numba_kernels(xp)
    w2t = xp.ascontiguousarray(w2.T)
    for r in range(rows - 1, -1, -1):
        gate_backward_step(xp, kern, gates[r].reshape(m, h4), tcs[r].reshape(m, hid),
                           cs[r].reshape(m, hid), dh, g_seq[r], dc, gz[r], tmp, tmp3)
        if r == 0:
            break
        # the windows' gradient, folded onto the previous row's w - 1, w, w + 1
        xp.matmul(gz[r], w2t, out=dwin)
        d3 = dwin.reshape(n, width, 3 * hid)
        d = dh.reshape(n, width, hid)
        d[:] = d3[:, :, hid:2 * hid]
        d[:, :-1] += d3[:, 1:, :hid]
        d[:, 1:] += d3[:, :-1, 2 * hid:]
    gw2 = wins.reshape(-1, 3 * hid).T @ gz[1:].reshape(-1, h4) if rows > 1 else \
        xp.zeros_like(w2)
    g_w = xp.ascontiguousarray(gw2.reshape(3, hid, h4).transpose(2, 1, 0))
    g_g = None
    if need_g_is:
        g_g = xp.ascontiguousarray(gz.reshape(rows, n, width, h4).transpose(1, 3, 0, 2))
    return g_g, g_w


@custom_op
def _row_lstm_op(g_is, w_ss, *, need_g_is=True, keep=True):
    out, cache = row_lstm_forward(g_is, w_ss, keep)

    def backward(g_out):
        if cache is None:
            raise RuntimeError("row_lstm: this call kept no cache (no input needed a "
                               "gradient when it ran), so it cannot be differentiated")
        return row_lstm_backward(g_out, cache, need_g_is)

    return out, backward


def row_lstm(g_is, w_ss):
    """Differentiable Row LSTM recurrence.

    Parameters
    ----------
    g_is : Tensor, shape (N, 4H, rows, W)
        Input-to-state gate pre-activations, gate blocks ``i, f, o, g``.
    w_ss : Tensor, shape (4H, H, 3)
        The ``1 x 3`` state-to-state kernel (``conv1d`` layout, padding 1).

    Returns
    -------
    Tensor, shape (N, H, rows, W): the hidden states of every row.
    """
    need = isinstance(g_is, Tensor) and g_is.requires_grad
    # without a backward to come (no_grad, e.g. scoring), hold one row at a time
    keep = is_grad_enabled() and (need or (isinstance(w_ss, Tensor) and w_ss.requires_grad))
    return _row_lstm_op(g_is, w_ss, need_g_is=need, keep=keep)
