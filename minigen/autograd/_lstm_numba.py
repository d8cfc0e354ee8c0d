"""Numba kernel for the backward of one LSTM step, used by
:mod:`minigen.autograd.recurrent` when the active backend is ``numba``.

It fuses all the elementwise gate work of one step into a single pass (the NumPy path
needs ~20 array calls per step); the matrix products stay in BLAS. (A fused forward
was slower than NumPy's SIMD ``tanh``, so the forward stays on NumPy.)
Gate blocks are in the internal order ``i, f, o, g`` (see ``recurrent.lstm_forward``).
Imported lazily: ``import minigen`` never imports numba.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def lstm_step_backward(z, tc, c_prev, dh, g_seq, dc, dz):  # pragma: no cover - jitted
    """Gate pre-activation grads ``dz`` for one step; ``dc`` becomes the grad of c_prev."""
    n, h4 = z.shape
    hid = h4 // 4
    for a in range(n):
        for j in range(hid):
            i = z[a, j]
            f = z[a, hid + j]
            o = z[a, 2 * hid + j]
            g = z[a, 3 * hid + j]
            t = tc[a, j]
            dhv = dh[a, j] + g_seq[a, j]
            dcv = dc[a, j] + dhv * o * (1.0 - t * t)
            dz[a, j] = dcv * g * i * (1.0 - i)
            dz[a, hid + j] = dcv * c_prev[a, j] * f * (1.0 - f)
            dz[a, 2 * hid + j] = dhv * t * o * (1.0 - o)
            dz[a, 3 * hid + j] = dcv * i * (1.0 - g * g)
            dc[a, j] = dcv * f


def warm_up() -> None:
    """Compile (or load from cache) :func:`lstm_step_backward` on tiny inputs: float32 and
    float64, with the upstream gradient ``g_seq`` as the strided ``g_out[:, t]`` view that
    ``recurrent.lstm_backward`` passes for sequences of length > 1, and contiguous."""
    import numpy as np

    for dtype in (np.float32, np.float64):
        n, hid = 2, 1
        z, a = np.zeros((n, 4 * hid), dtype), np.zeros((n, hid), dtype)
        for g_seq in (np.zeros((n, 2, hid), dtype)[:, 0], a):
            lstm_step_backward(z, a, a, a.copy(), g_seq, a.copy(), np.empty_like(z))
