r"""Multinomial thresholding: sample one category per row of weights or logits.

``multinomial_threshold(weights, u)`` returns, per row, the smallest ``k`` whose partial
sum of weights exceeds ``u * rowsum`` (rows need not be normalized), so
:math:`P(k) = w_k / \sum_j w_j`. ``categorical_from_logits`` fuses a stable softmax
with the same search. Randomness is explicit: either uniforms ``u`` (one per row) or a
Philox ``seed`` (row ``i`` uses stream position ``offset + i``, i.e. exactly
``philox_uniforms(N, seed, offset, dtype)[i]``). The exact summation order every backend
follows is in :mod:`minigen.kernels.reference.multinomial`.

References: L. Devroye, *Non-Uniform Random Variate Generation*, ch. III.2 (inversion by
sequential search).
"""

from __future__ import annotations

import numbers

import numpy as np

from .._validation import check_array
from ..backend import get_backend, to_numpy, xp_of
from ._dispatch import implementation
from .philox import check_offset, check_seed

__all__ = ["multinomial_threshold", "categorical_from_logits"]


def _check_matrix(x, name: str):
    x = check_array(x, name, ndim=2, finite=False)
    if x.dtype not in (np.float32, np.float64):
        if x.dtype.kind in "biu":
            x = x.astype(np.float64)
        else:
            raise TypeError(f"{name} must be float32 or float64, got dtype {x.dtype}")
    if x.shape[1] == 0:
        raise ValueError(f"{name} must have at least one category (shape[1] >= 1)")
    backend = get_backend()
    if xp_of(x) is not backend.xp:
        raise TypeError(
            f"{name} is a {xp_of(x).__name__} array but the active backend is "
            f"{backend.name!r}; move it with backend.asarray"
        )
    return xp_of(x).ascontiguousarray(x)


def _randomness(n: int, dtype, u, seed, offset):
    if (u is None) == (seed is None):
        raise ValueError(
            "give exactly one of u (uniforms, one per row) or seed (in-kernel Philox draws)"
        )
    if u is None:
        return None, check_seed(seed), check_offset(offset, n)
    u = check_array(u, "u", ndim=1, shape=(n,))
    if u.dtype not in (np.float32, np.float64):
        raise TypeError(f"u must be float32 or float64, got dtype {u.dtype}")
    if n and bool(((u < 0) | (u >= 1)).any()):
        raise ValueError("u must lie in [0, 1)")
    if xp_of(u) is not get_backend().xp:
        raise TypeError(f"u is a {xp_of(u).__name__} array on backend {get_backend().name!r}")
    return xp_of(u).ascontiguousarray(u, dtype=np.float64), None, 0


def multinomial_threshold(weights, u=None, *, seed=None, offset: int = 0):
    r"""Smallest ``k`` with :math:`\sum_{j\le k} w_{ij} > u_i \sum_j w_{ij}`, per row.

    Parameters
    ----------
    weights : array (N, C), float32 or float64
        Non-negative, finite, each row with a positive sum (need not sum to 1).
    u : array (N,), optional
        Uniforms in [0, 1), one per row. Exactly one of ``u`` and ``seed``.
    seed : int in [0, 2**64), optional
        Draw ``u`` in-kernel: row ``i`` uses Philox stream position ``offset + i``.
    offset : int
        Start position in the Philox stream (advance by ``N`` between calls).

    Returns
    -------
    int64 array (N,) on the active backend. A zero-weight category is never returned.
    """
    w = _check_matrix(weights, "weights")
    xp = xp_of(w)
    if w.size:
        # Two passes over the weights (row min and row sum) and one host transfer, instead
        # of one pass per condition: validation used to cost 3x the kernel on a GPU.
        # min propagates NaN; a sum of non-negative finite entries is 0 only for an
        # all-zero row, and inf (or huge) when an entry is inf or the row overflows.
        with np.errstate(over="ignore", invalid="ignore"):
            row_min, row_sum = w.min(axis=1), w.sum(axis=1)
            flags = xp.stack([(xp.isnan(row_min) | xp.isinf(row_min)).any(), (row_min < 0).any(),
                              ~(row_sum <= np.finfo(w.dtype).max / 4).all(),
                              (row_sum == 0).any()])
        nan, negative, too_big, zero_row = (bool(f) for f in to_numpy(flags))
        if nan or (too_big and bool(xp.isinf(w).any())):
            raise ValueError("weights contains NaN or infinite values")
        if negative:
            raise ValueError("weights has negative entries")
        if too_big:
            raise ValueError(f"weights has a row whose sum overflows {w.dtype}; rescale it")
        if zero_row:
            raise ValueError("weights has a row that sums to zero")
    u, seed, offset = _randomness(w.shape[0], w.dtype, u, seed, offset)
    return implementation("multinomial", "multinomial_threshold")(w, u, seed, offset)


def categorical_from_logits(logits, u=None, *, seed=None, offset: int = 0, temperature=1.0):
    r"""Sample :math:`k \sim \mathrm{softmax}(l_i / \tau)` per row, fused (no softmax array).

    Computes :math:`p_j = \exp((l_j - \max_j l_j) / \tau)` on the fly and thresholds it as
    :func:`multinomial_threshold` does. ``-inf`` logits (masked categories) are allowed;
    NaN, ``+inf`` and all-``-inf`` rows are not.

    Parameters
    ----------
    logits : array (N, C), float32 or float64
    u, seed, offset : see :func:`multinomial_threshold`
    temperature : float > 0

    Returns
    -------
    int64 array (N,) on the active backend.
    """
    x = _check_matrix(logits, "logits")
    xp = xp_of(x)
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise TypeError(f"temperature must be a real number, got {type(temperature).__name__}")
    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be > 0 and finite, got {temperature}")
    if x.size:
        # one pass: a row max is NaN if the row has a NaN, +inf if it has a +inf and -inf
        # only when every entry is -inf
        row_max = x.max(axis=1)
        bad_value, all_masked = (bool(f) for f in to_numpy(xp.stack(
            [(xp.isnan(row_max) | (row_max == np.inf)).any(), (row_max == -np.inf).any()])))
        if bad_value:
            raise ValueError("logits contains NaN or +inf values")
        if all_masked:
            raise ValueError("logits has a row where every entry is -inf")
    u, seed, offset = _randomness(x.shape[0], x.dtype, u, seed, offset)
    return implementation("multinomial", "categorical_from_logits")(
        x, u, seed, offset, float(temperature)
    )
