r"""LSTM as one fused op over a whole sequence, with backpropagation through time.

For input :math:`x_t` (size D) and state :math:`(h_{t-1}, c_{t-1})` (size H), with gate
order ``i, f, g, o`` (as torch.nn.LSTM):

.. math::

    z_t &= W_{ih} x_t + W_{hh} h_{t-1} + b \in \mathbb{R}^{4H}, \qquad
    (i, f, g, o) = (\sigma(z^i), \sigma(z^f), \tanh(z^g), \sigma(z^o)) \\
    c_t &= f \odot c_{t-1} + i \odot g, \qquad h_t = o \odot \tanh(c_t).

Speed: the input projections of all steps are one GEMM; each step is one small GEMM plus
fused elementwise work into preallocated time-major buffers; the backward accumulates
the gate-preactivation gradients of all steps and then forms ``dW_hh``, ``dW_ih`` and
``dx`` with one GEMM each.

References: Hochreiter & Schmidhuber, "Long short-term memory" (1997);
Graves, "Generating sequences with recurrent neural networks" (2013).
"""

from __future__ import annotations

import contextlib
import functools
import os

from ..backend import get_backend, xp_of
from .tensor import Tensor, custom_op

__all__ = ["lstm", "lstm_cell", "lstm_forward", "lstm_backward"]


@functools.lru_cache(maxsize=1)
def _blas_controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # optional: only a speed-up
        return None
    return ThreadpoolController().select(user_api="blas")


def _serial_blas(xp):
    """Context: one BLAS thread for the small per-step products when the CPUs are busy.

    A (32 x 256) @ (256 x 1024) product gains ~1.5x from a second thread on an idle
    machine, but with OpenBLAS's spinning workers it gets several times *slower* once
    other processes compete for the cores. So the step loop runs serial BLAS only while
    the 1-minute load average exceeds the CPU count (NumPy, with ``threadpoolctl``
    installed; otherwise this does nothing). Results are identical either way.
    """
    if xp.__name__ != "numpy" or not _oversubscribed():
        return contextlib.nullcontext()
    ctl = _blas_controller()
    return contextlib.nullcontext() if ctl is None else ctl.limit(limits=1)


def _oversubscribed() -> bool:
    try:
        return os.getloadavg()[0] > (os.cpu_count() or 1)
    except (AttributeError, OSError):  # e.g. Windows
        return False


def _numba_kernels(xp):
    """The fused Numba backward step kernel when the active backend is ``numba`` (else None)."""
    if xp.__name__ != "numpy" or get_backend().name != "numba":
        return None
    from . import _lstm_numba

    return _lstm_numba


def _sigmoid_(xp, a):
    """In-place logistic sigmoid via tanh (stable for all inputs)."""
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


def lstm_forward(x, h0, c0, w_ih, w_hh, b=None):
    """Plain-array forward. Returns ``(hs (N, T, H), h_T (N, H), c_T (N, H)), cache``."""
    xp = xp_of(x, h0, c0, w_ih, w_hh, b)
    n, hid = _check_lstm(x, h0, c0, w_ih, w_hh, b)
    t_len = x.shape[1]
    dt = x.dtype
    xt = xp.ascontiguousarray(x.transpose(1, 0, 2))  # (T, N, D)
    gates = (xt.reshape(t_len * n, -1) @ w_ih.T).reshape(t_len, n, 4 * hid)
    if b is not None:
        gates += b
    hs = xp.empty((t_len + 1, n, hid), dtype=dt)
    cs = xp.empty((t_len + 1, n, hid), dtype=dt)
    tcs = xp.empty((t_len, n, hid), dtype=dt)
    hs[0] = 0 if h0 is None else h0
    cs[0] = 0 if c0 is None else c0
    whh_t = w_hh.T
    rec = xp.empty((n, 4 * hid), dtype=dt)
    tmp = xp.empty((n, hid), dtype=dt)
    # The forward keeps NumPy's vectorized (SIMD) tanh even on the numba backend: a scalar
    # math.exp/tanh loop measured ~2x slower here. The backward has no transcendentals.
    with _serial_blas(xp):
        _forward_loop(xp, gates, hs, cs, tcs, whh_t, rec, tmp, hid)
    out = xp.ascontiguousarray(hs[1:].transpose(1, 0, 2))
    cache = (xt, gates, hs, cs, tcs)
    return (out, hs[t_len].copy(), cs[t_len].copy()), cache


def _forward_loop(xp, gates, hs, cs, tcs, whh_t, rec, tmp, hid):
    h2, h3 = 2 * hid, 3 * hid
    for t in range(gates.shape[0]):
        z = gates[t]
        xp.matmul(hs[t], whh_t, out=rec)
        z += rec
        _sigmoid_(xp, z[:, :h2])
        xp.tanh(z[:, h2:h3], out=z[:, h2:h3])
        _sigmoid_(xp, z[:, h3:])
        c = cs[t + 1]
        xp.multiply(z[:, hid:h2], cs[t], out=c)
        xp.multiply(z[:, :hid], z[:, h2:h3], out=tmp)
        c += tmp
        xp.tanh(c, out=tcs[t])
        xp.multiply(z[:, h3:], tcs[t], out=hs[t + 1])


def lstm_backward(g_out, g_hT, g_cT, w_ih, w_hh, cache, has_bias=True, need_x=True):
    """Gradients ``(gx, gh0, gc0, gw_ih, gw_hh, gb)`` by backpropagation through time."""
    xt, gates, hs, cs, tcs = cache
    xp = xp_of(g_out, w_ih)
    t_len, n, hid = tcs.shape
    gz = xp.empty_like(gates)
    g_seq = g_out.transpose(1, 0, 2)  # (T, N, H) view
    dh = xp.array(g_hT, dtype=gates.dtype, copy=True)
    dc = xp.array(g_cT, dtype=gates.dtype, copy=True)
    tmp = xp.empty((n, hid), dtype=gates.dtype)
    with _serial_blas(xp):
        _backward_loop(xp, _numba_kernels(xp), gates, tcs, cs, dh, dc, g_seq, gz, w_hh, tmp)
    gz2 = gz.reshape(t_len * n, 4 * hid)
    gw_hh = gz2.T @ hs[:-1].reshape(t_len * n, hid)
    gw_ih = gz2.T @ xt.reshape(t_len * n, -1)
    gb = gz2.sum(axis=0) if has_bias else None
    gx = None
    if need_x:
        gx = (gz2 @ w_ih).reshape(t_len, n, -1).transpose(1, 0, 2)
        gx = xp.ascontiguousarray(gx)
    return gx, dh, dc, gw_ih, gw_hh, gb


def _backward_loop(xp, kern, gates, tcs, cs, dh, dc, g_seq, gz, w_hh, tmp):
    hid = tcs.shape[2]
    h2, h3 = 2 * hid, 3 * hid
    for t in range(gates.shape[0] - 1, -1, -1):
        if kern is not None:
            kern.lstm_step_backward(gates[t], tcs[t], cs[t], dh, g_seq[t], dc, gz[t])
            xp.matmul(gz[t], w_hh, out=dh)
            continue
        dh += g_seq[t]
        z = gates[t]
        i, f, g, o = z[:, :hid], z[:, hid:h2], z[:, h2:h3], z[:, h3:]
        tc = tcs[t]
        dz = gz[t]
        # do -> sigma'(o): dh * tanh(c) * o * (1 - o)
        xp.multiply(dh, tc, out=dz[:, h3:])
        dz[:, h3:] *= o
        dz[:, h3:] *= 1 - o
        # dc += dh * o * (1 - tanh(c)^2)
        xp.multiply(tc, tc, out=tmp)
        xp.subtract(1, tmp, out=tmp)
        tmp *= o
        tmp *= dh
        dc += tmp
        # di = dc * g * i (1 - i);  dg = dc * i * (1 - g^2);  df = dc * c_prev * f (1 - f)
        xp.multiply(dc, g, out=dz[:, :hid])
        dz[:, :hid] *= i
        dz[:, :hid] *= 1 - i
        xp.multiply(g, g, out=dz[:, h2:h3])
        xp.subtract(1, dz[:, h2:h3], out=dz[:, h2:h3])
        dz[:, h2:h3] *= i
        dz[:, h2:h3] *= dc
        xp.multiply(dc, cs[t], out=dz[:, hid:h2])
        dz[:, hid:h2] *= f
        dz[:, hid:h2] *= 1 - f
        dc *= f
        xp.matmul(dz, w_hh, out=dh)


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
