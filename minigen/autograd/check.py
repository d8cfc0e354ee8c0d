r"""Gradient checking: reverse mode against central differences (HIPS-autograd style).

For ``f`` with inputs :math:`x_1..x_k` and a fixed random output weighting :math:`w`,
the scalar :math:`L(x) = \langle w, f(x)\rangle` is differentiated in reverse mode and
compared, along random directions :math:`v`, with

.. math:: \frac{L(x + \epsilon v) - L(x - \epsilon v)}{2\epsilon}
          \approx \sum_i \langle \nabla_{x_i} L, v_i\rangle,

all in float64.
"""

from __future__ import annotations

import numpy as np

from ..backend import xp_of
from ..random import check_random_state
from .tensor import Tensor, enable_grad


def check_grads(
    fn,
    *inputs,
    eps: float = 1e-6,
    n_directions: int = 3,
    rtol: float = 1e-5,
    atol: float = 1e-7,
    random_state=0,
) -> None:
    """Assert that reverse-mode gradients of ``fn`` match central differences.

    Parameters
    ----------
    fn : callable
        ``fn(*tensors) -> Tensor`` (any output shape).
    *inputs : arrays or Tensors
        Floating inputs are cast to float64 and differentiated; integer/boolean inputs
        are passed through as constants.
    eps : float
        Finite-difference step.
    n_directions : int
        Number of random directions tested.
    rtol, atol : float
        Tolerances on ``|fd - ad| <= atol + rtol * |fd|``.
    random_state : None, int or Generator

    Raises
    ------
    AssertionError
        Naming the direction, both directional derivatives and the discrepancy.
    """
    rng = check_random_state(random_state)
    arrays = [x.data if isinstance(x, Tensor) else x for x in inputs]
    xp = xp_of(*[a for a in arrays if hasattr(a, "shape")])
    arrays = [xp.asarray(a) for a in arrays]
    diff = [a.dtype.kind == "f" for a in arrays]
    arrays = [a.astype(np.float64) if d else a for a, d in zip(arrays, diff, strict=False)]
    if not any(diff):
        raise ValueError("check_grads needs at least one floating-point input")

    def value(arrs, requires_grad=False):
        ts = [
            Tensor(a, requires_grad=requires_grad and d) for a, d in zip(arrs, diff, strict=False)
        ]
        with enable_grad():
            out = fn(*ts)
        if not isinstance(out, Tensor):
            raise TypeError(f"fn must return a Tensor, got {type(out).__name__}")
        return ts, out

    _, out0 = value(arrays)
    w = xp.asarray(rng.standard_normal(out0.shape))
    ts, out = value(arrays, requires_grad=True)
    if not out.requires_grad:
        raise AssertionError("fn's output does not depend on any input (requires_grad is False)")
    out.backward(w)
    grads = [
        (t.grad if t.grad is not None else xp.zeros_like(t.data)) if d else None
        for t, d in zip(ts, diff, strict=False)
    ]
    for k in range(n_directions):
        vs = [
            xp.asarray(rng.standard_normal(a.shape)) if d else None
            for a, d in zip(arrays, diff, strict=False)
        ]
        plus = [a + eps * v if d else a for a, v, d in zip(arrays, vs, diff, strict=False)]
        minus = [a - eps * v if d else a for a, v, d in zip(arrays, vs, diff, strict=False)]
        lp = float((value(plus)[1].data * w).sum())
        lm = float((value(minus)[1].data * w).sum())
        fd = (lp - lm) / (2 * eps)
        ad = float(sum(float((g * v).sum()) for g, v, d in zip(grads, vs, diff, strict=False) if d))
        if not abs(fd - ad) <= atol + rtol * abs(fd):
            raise AssertionError(
                f"gradient check failed along direction {k}: reverse mode gives {ad!r}, "
                f"central differences give {fd!r} (|difference| = {abs(fd - ad):.3e}, "
                f"rtol={rtol}, atol={atol})"
            )
