"""Numba kernels for one LSTM step (forward gates and backward), used by
:mod:`minigen.autograd.recurrent` when the active backend is ``numba``.

Each kernel fuses all the elementwise gate work of one time step into a single pass
(the NumPy path needs ~15 array calls per step); the matrix products stay in BLAS.
Imported lazily: ``import minigen`` never imports numba.
"""

from __future__ import annotations

import math

from numba import njit


@njit(cache=True)
def lstm_step_forward(z, rec, c_prev, c_out, tc_out, h_out):  # pragma: no cover - jitted
    """``z += rec``; gates in place (i, f, o sigmoid, g tanh); new c, tanh(c), h."""
    n, h4 = z.shape
    hid = h4 // 4
    for a in range(n):
        for j in range(hid):
            zi = z[a, j] + rec[a, j]
            zf = z[a, hid + j] + rec[a, hid + j]
            zg = z[a, 2 * hid + j] + rec[a, 2 * hid + j]
            zo = z[a, 3 * hid + j] + rec[a, 3 * hid + j]
            i = 1.0 / (1.0 + math.exp(-zi))
            f = 1.0 / (1.0 + math.exp(-zf))
            g = math.tanh(zg)
            o = 1.0 / (1.0 + math.exp(-zo))
            z[a, j] = i
            z[a, hid + j] = f
            z[a, 2 * hid + j] = g
            z[a, 3 * hid + j] = o
            c = f * c_prev[a, j] + i * g
            tc = math.tanh(c)
            c_out[a, j] = c
            tc_out[a, j] = tc
            h_out[a, j] = o * tc


@njit(cache=True)
def lstm_step_backward(z, tc, c_prev, dh, g_seq, dc, dz):  # pragma: no cover - jitted
    """Gate pre-activation grads ``dz`` for one step; ``dc`` becomes the grad of c_prev."""
    n, h4 = z.shape
    hid = h4 // 4
    for a in range(n):
        for j in range(hid):
            i = z[a, j]
            f = z[a, hid + j]
            g = z[a, 2 * hid + j]
            o = z[a, 3 * hid + j]
            t = tc[a, j]
            dhv = dh[a, j] + g_seq[a, j]
            dcv = dc[a, j] + dhv * o * (1.0 - t * t)
            dz[a, j] = dcv * g * i * (1.0 - i)
            dz[a, hid + j] = dcv * c_prev[a, j] * f * (1.0 - f)
            dz[a, 2 * hid + j] = dcv * i * (1.0 - g * g)
            dz[a, 3 * hid + j] = dhv * t * o * (1.0 - o)
            dc[a, j] = dcv * f
