r"""LSTM as one fused op over a whole sequence, with backpropagation through time.

For input :math:`x_t` (size D) and state :math:`(h_{t-1}, c_{t-1})` (size H), with gate
order ``i, f, g, o`` (as torch.nn.LSTM):

.. math::

    z_t &= W_{ih} x_t + W_{hh} h_{t-1} + b \in \mathbb{R}^{4H}, \qquad
    (i, f, g, o) = (\sigma(z^i), \sigma(z^f), \tanh(z^g), \sigma(z^o)) \\
    c_t &= f \odot c_{t-1} + i \odot g, \qquad h_t = o \odot \tanh(c_t).

Speed: the input projections of all steps are one GEMM; each step is one small GEMM plus
elementwise work into preallocated time-major buffers, with the gate rows reordered to
``i, f, o, g`` and the sigmoid rows pre-scaled by 1/2 so that one ``tanh`` call gives all
four gates; inputs and previous states share one ``(T, N, D + H)`` buffer, so the
backward accumulates the gate-preactivation gradients of all steps and then forms
``[dW_ih | dW_hh]`` with one GEMM and ``dx`` with another.

References: Hochreiter & Schmidhuber, "Long short-term memory" (1997);
Graves, "Generating sequences with recurrent neural networks" (2013).
"""

from __future__ import annotations

from ..backend import get_backend, xp_of
from .custom import custom_op
from .tensor import Tensor

__all__ = ["lstm", "lstm_cell", "lstm_forward", "lstm_backward", "gate_forward_step",
           "gate_backward_step"]


def _numba_kernels(xp):
    """The fused Numba backward step kernel when the active backend is ``numba`` (else None)."""
    if xp.__name__ != "numpy" or get_backend().name != "numba":
        return None
    from . import _lstm_numba

    return _lstm_numba


def _sigmoid_(xp, a):
    """:func:`minigen._math.sigmoid` in place (no temporaries inside the LSTM step)."""
    a *= 0.5
    xp.tanh(a, out=a)
    a += 1.0
    a *= 0.5
    return a


def _check_lstm(x, h0, c0, w_ih, w_hh, b):
    if x.ndim != 3:
        raise ValueError(f"lstm: x must have shape (N, T, D), got shape {tuple(x.shape)}")
    n, _, d = x.shape
    if w_hh.ndim != 2 or w_hh.shape[0] != 4 * w_hh.shape[1]:
        raise ValueError(f"lstm: w_hh must have shape (4H, H), got shape {tuple(w_hh.shape)}")
    hid = w_hh.shape[1]
    if tuple(w_ih.shape) != (4 * hid, d):
        raise ValueError(
            f"lstm: w_ih must have shape (4H, D) = ({4 * hid}, {d}) for x of shape "
            f"{tuple(x.shape)} and w_hh of shape {tuple(w_hh.shape)}, got {tuple(w_ih.shape)}"
        )
    if b is not None and tuple(b.shape) != (4 * hid,):
        raise ValueError(f"lstm: bias must have shape ({4 * hid},), got {tuple(b.shape)}")
    for name, s in (("h0", h0), ("c0", c0)):
        if s is not None and tuple(s.shape) != (n, hid):
            raise ValueError(
                f"lstm: {name} must have shape (N, H) = ({n}, {hid}), got {tuple(s.shape)}"
            )
    return n, hid


def _gate_order(xp, hid):
    """Row permutation ``i, f, g, o -> i, f, o, g`` (the three sigmoid gates contiguous)."""
    return xp.concatenate([xp.arange(2 * hid), xp.arange(3 * hid, 4 * hid),
                           xp.arange(2 * hid, 3 * hid)])


def lstm_forward(x, h0, c0, w_ih, w_hh, b=None):
    r"""Plain-array forward. Returns ``(hs (N, T, H), h_T (N, H), c_T (N, H)), cache``.

    Internally the gate rows are reordered to ``i, f, o, g`` and the sigmoid rows of the
    weights and bias are scaled by 1/2 (exact in floating point), so one ``tanh`` over
    all ``4H`` pre-activations gives every gate: :math:`\sigma(z) = (1 + \tanh(z/2))/2`.
    The inputs and previous states sit side by side in one time-major buffer
    ``xh (T, N, D + H)``, so the backward forms ``[dW_ih | dW_hh]`` with one GEMM.
    """
    xp = xp_of(x, h0, c0, w_ih, w_hh, b)
    n, hid = _check_lstm(x, h0, c0, w_ih, w_hh, b)
    t_len, d = x.shape[1], x.shape[2]
    dt = x.dtype
    h3 = 3 * hid
    perm = _gate_order(xp, hid)
    w_cat = xp.concatenate([w_ih, w_hh], axis=1)[perm]  # (4H, D + H), rows i, f, o, g
    w_half = w_cat.copy()
    w_half[:h3] *= 0.5
    xh = xp.empty((t_len, n, d + hid), dtype=dt)
    xh[:, :, :d] = x.transpose(1, 0, 2)
    gates = (xh[:, :, :d].reshape(t_len * n, d) @ w_half[:, :d].T).reshape(t_len, n, 4 * hid)
    if b is not None:
        b_half = b[perm]
        b_half[:h3] *= 0.5
        gates += b_half
    h_last = xp.empty((n, hid), dtype=dt)
    cs = xp.empty((t_len + 1, n, hid), dtype=dt)
    tcs = xp.empty((t_len, n, hid), dtype=dt)
    xh[0, :, d:] = 0 if h0 is None else h0
    cs[0] = 0 if c0 is None else c0
    # The forward keeps NumPy's vectorized (SIMD) tanh even on the numba backend: a scalar
    # math.exp/tanh loop measured ~2x slower here. The backward has no transcendentals.
    _forward_loop(xp, gates, xh, h_last, cs, tcs, w_half[:, d:].T, hid, d)
    out = xp.empty((n, t_len, hid), dtype=dt)
    out[:, :-1] = xh[1:, :, d:].transpose(1, 0, 2)
    out[:, -1] = h_last
    cache = (xh, gates, cs, tcs, w_cat, perm, d)
    return (out, h_last, cs[t_len].copy()), cache


def _forward_loop(xp, gates, xh, h_last, cs, tcs, whh_t, hid, d):
    t_len = gates.shape[0]
    rec = xp.empty(gates.shape[1:], dtype=gates.dtype)
    tmp = xp.empty(cs.shape[1:], dtype=gates.dtype)
    for t in range(t_len):
        xp.matmul(xh[t, :, d:], whh_t, out=rec)
        gates[t] += rec
        gate_forward_step(xp, gates[t], cs[t], cs[t + 1], tcs[t],
                          xh[t + 1, :, d:] if t + 1 < t_len else h_last, tmp)


def gate_forward_step(xp, z, c_prev, c, tc, h, tmp):
    """One LSTM step's elementwise part, in place on preallocated arrays (last axis: gates).

    ``z (..., 4H)``: pre-activations in the order ``i, f, o, g`` with the three sigmoid
    blocks already halved; becomes the activations. Writes ``c = f c_prev + i g``,
    ``tc = tanh(c)`` and ``h = o tc``; ``tmp`` is scratch of ``c``'s shape.
    """
    hid = z.shape[-1] // 4
    h2, h3 = 2 * hid, 3 * hid
    xp.tanh(z, out=z)
    s = z[..., :h3]  # tanh(z/2) -> sigmoid(z)
    s *= 0.5
    s += 0.5
    xp.multiply(z[..., hid:h2], c_prev, out=c)
    xp.multiply(z[..., :hid], z[..., h3:], out=tmp)
    c += tmp
    xp.tanh(c, out=tc)
    xp.multiply(z[..., h2:h3], tc, out=h)


def lstm_backward(g_out, g_hT, g_cT, w_ih, w_hh, cache, has_bias=True, need_x=True):
    """Gradients ``(gx, gh0, gc0, gw_ih, gw_hh, gb)`` by backpropagation through time."""
    xh, gates, cs, tcs, w_cat, perm, d = cache
    xp = xp_of(g_out, w_ih)
    t_len, n, hid = tcs.shape
    gz = xp.empty_like(gates)
    g_seq = g_out.transpose(1, 0, 2)  # (T, N, H) view
    dh = xp.array(g_hT, dtype=gates.dtype, copy=True)
    dc = xp.array(g_cT, dtype=gates.dtype, copy=True)
    w_hh_p = w_cat[:, d:]  # (4H, H), rows i, f, o, g
    _backward_loop(xp, _numba_kernels(xp), gates, tcs, cs, dh, dc, g_seq, gz, w_hh_p)
    gz2 = gz.reshape(t_len * n, 4 * hid)
    inv = xp.argsort(perm)
    gw = (gz2.T @ xh.reshape(t_len * n, -1))[inv]  # [dW_ih | dW_hh], one GEMM
    gb = gz2.sum(axis=0)[inv] if has_bias else None
    gx = None
    if need_x:
        gx = (gz2 @ w_cat[:, :d]).reshape(t_len, n, d).transpose(1, 0, 2)
        gx = xp.ascontiguousarray(gx)
    return gx, dh, dc, gw[:, :d], gw[:, d:], gb


def _backward_loop(xp, kern, gates, tcs, cs, dh, dc, g_seq, gz, w_hh):
    tmp = xp.empty_like(dh)
    tmp3 = xp.empty((dh.shape[0], 3 * tcs.shape[2]), dtype=dh.dtype)
    for t in range(gates.shape[0] - 1, -1, -1):
        gate_backward_step(xp, kern, gates[t], tcs[t], cs[t], dh, g_seq[t], dc, gz[t],
                           tmp, tmp3)
        xp.matmul(gz[t], w_hh, out=dh)


def gate_backward_step(xp, kern, z, tc, c_prev, dh, g, dc, dz, tmp, tmp3):
    """Backward of :func:`gate_forward_step` for 2-D ``(rows, 4H)`` activations ``z``.

    ``dh`` (the state's gradient from the next step) gets the output gradient ``g`` added;
    ``dc`` enters as the next step's cell gradient and leaves as ``c_prev``'s; ``dz``
    receives the gradient of the (unhalved) pre-activations. ``kern``: the fused Numba
    kernel, or None for NumPy; ``tmp``/``tmp3`` are scratch of shapes ``(rows, H)`` and
    ``(rows, 3H)``.
    """
    if kern is not None:
        kern.lstm_step_backward(z, tc, c_prev, dh, g, dc, dz)
        return
    hid = tc.shape[-1]
    h2, h3 = 2 * hid, 3 * hid
    dh += g
    f, o, gg = z[:, hid:h2], z[:, h2:h3], z[:, h3:]
    # dc += dh * o * (1 - tanh(c)^2)
    xp.multiply(tc, tc, out=tmp)
    xp.subtract(1, tmp, out=tmp)
    tmp *= o
    tmp *= dh
    dc += tmp
    # dg = dc * i * (1 - g^2)
    xp.multiply(gg, gg, out=dz[:, h3:])
    xp.subtract(1, dz[:, h3:], out=dz[:, h3:])
    dz[:, h3:] *= z[:, :hid]
    dz[:, h3:] *= dc
    # (di, df, do) = (dc * g, dc * c_prev, dh * tanh(c)) * s (1 - s) for s = (i, f, o)
    xp.multiply(dc, gg, out=dz[:, :hid])
    xp.multiply(dc, c_prev, out=dz[:, hid:h2])
    xp.multiply(dh, tc, out=dz[:, h2:h3])
    dz[:, :h3] *= z[:, :h3]
    xp.subtract(1, z[:, :h3], out=tmp3)
    dz[:, :h3] *= tmp3
    dc *= f


@custom_op
def _lstm_op(x, h0, c0, w_ih, w_hh, b, *, need_x=True):
    (out, h_t, c_t), cache = lstm_forward(x, h0, c0, w_ih, w_hh, b)

    def backward(g_out, g_h, g_c):
        gx, gh0, gc0, gw_ih, gw_hh, gb = lstm_backward(
            g_out, g_h, g_c, w_ih, w_hh, cache, has_bias=b is not None, need_x=need_x
        )
        return gx, gh0, gc0, gw_ih, gw_hh, gb

    return (out, h_t, c_t), backward


def lstm(x, w_ih, w_hh, b=None, h0=None, c0=None):
    """Differentiable LSTM over a sequence.

    Parameters
    ----------
    x : Tensor, shape (N, T, D)
    w_ih : Tensor, shape (4H, D);  w_hh : Tensor, shape (4H, H);  b : Tensor (4H,) or None
        Gate blocks in the order ``i, f, g, o``.
    h0, c0 : Tensor of shape (N, H), optional (zeros)

    Returns
    -------
    (hs, h_T, c_T) : Tensors of shapes (N, T, H), (N, H), (N, H)
    """
    need_x = isinstance(x, Tensor) and x.requires_grad
    return _lstm_op(x, h0, c0, w_ih, w_hh, b, need_x=need_x)


@custom_op
def _lstm_cell_op(x, h, c, w_ih, w_hh, b):
    if x.ndim != 2:
        raise ValueError(f"lstm_cell: x must have shape (N, D), got shape {tuple(x.shape)}")
    (_, h_t, c_t), cache = lstm_forward(x[:, None, :], h, c, w_ih, w_hh, b)

    def backward(g_h, g_c):
        xp = xp_of(g_h)
        gx, gh0, gc0, gw_ih, gw_hh, gb = lstm_backward(
            xp.zeros((g_h.shape[0], 1, g_h.shape[1]), dtype=g_h.dtype), g_h, g_c,
            w_ih, w_hh, cache, has_bias=b is not None,
        )
        return gx[:, 0, :], gh0, gc0, gw_ih, gw_hh, gb

    return (h_t, c_t), backward


def lstm_cell(x, h, c, w_ih, w_hh, b=None):
    """One differentiable LSTM step: ``x (N, D), h (N, H), c (N, H) -> (h', c')``."""
    return _lstm_cell_op(x, h, c, w_ih, w_hh, b)
