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

from .._validation import NonFiniteError, check_array
from ..backend import get_backend, to_numpy, xp_of
from ._checks import array_arg, as_kernel_array
from ._dispatch import implementation
from .philox import check_offset, check_seed
from .reference.multinomial import row_totals

__all__ = ["multinomial_threshold", "categorical_from_logits"]


def _check_matrix(x, name: str):
    """O(1) checks; ``x`` as the kernel reads it: C-contiguous float32/float64, copied once
    only if it is strided or of another dtype (integers become float64)."""
    x = array_arg(x, name, ndim=2)
    if x.dtype not in (np.float32, np.float64):
        if x.dtype.kind not in "biu":
            raise TypeError(f"{name} must be float32 or float64, got dtype {x.dtype}")
    if x.shape[1] == 0:
        raise ValueError(f"{name} must have at least one category (shape[1] >= 1)")
    backend = get_backend()
    if xp_of(x) is not backend.xp:
        raise TypeError(
            f"{name} is a {xp_of(x).__name__} array but the active backend is "
            f"{backend.name!r}; move it with backend.asarray"
        )
    return as_kernel_array(x, x.dtype if x.dtype.kind == "f" else np.dtype(np.float64))


def _randomness(n: int, u, seed, offset):
    if (u is None) == (seed is None):
        raise ValueError(
            "give exactly one of u (uniforms, one per row) or seed (in-kernel Philox draws)"
        )
    if u is None:
        return None, check_seed(seed), check_offset(offset, n)
    u = check_array(u, "u", ndim=1, shape=(n,), finite=False)
    if u.dtype not in (np.float32, np.float64):
        raise TypeError(f"u must be float32 or float64, got dtype {u.dtype}")
    if xp_of(u) is not get_backend().xp:
        raise TypeError(f"u is a {xp_of(u).__name__} array on backend {get_backend().name!r}")
    return as_kernel_array(u, u.dtype), None, 0  # range checked in the kernel


def _row(a, i):
    return to_numpy(a[i])


def _weights_error(w, u, i: int) -> ValueError:
    """The error for row ``i``, which the kernel found invalid (its one row is examined)."""

    row = _row(w, i)
    where = f" (row {i})"
    if not np.isfinite(row).all():
        return NonFiniteError("weights contains NaN or infinite values" + where)
    if (row < 0).any():
        return ValueError("weights has negative entries" + where)
    total = row_totals(row[None])[0]
    if not total < np.inf:
        return ValueError(f"weights has a row whose sum overflows {w.dtype}; rescale it" + where)
    if not total > 0:
        return ValueError("weights has a row that sums to zero" + where)
    return _uniform_error(u, i)


def _logits_error(x, u, i: int) -> ValueError:
    row = _row(x, i)
    where = f" (row {i})"
    if np.isnan(row).any() or (row == np.inf).any():
        return NonFiniteError("logits contains NaN or +inf values" + where)
    if (row == -np.inf).all():
        return ValueError("logits has a row where every entry is -inf" + where)
    return _uniform_error(u, i)


def _uniform_error(u, i: int) -> ValueError:
    if u is not None and not 0 <= float(_row(u, i)) < 1:
        return ValueError(f"u must lie in [0, 1) (u[{i}] = {float(_row(u, i))!r})")
    return RuntimeError(f"kernel status names row {i}, but its input is valid")  # a bug


def multinomial_threshold(weights, u=None, *, seed=None, offset: int = 0):
    r"""Smallest ``k`` with :math:`\sum_{j\le k} w_{ij} > u_i \sum_j w_{ij}`, per row.

    Parameters
    ----------
    weights : array (N, C), float32 or float64
        Non-negative, finite, each row with a positive sum (need not sum to 1) that does
        not overflow the dtype. Read in place when C-contiguous; a strided or integer
        array is copied once.
    u : array (N,), optional
        Uniforms in [0, 1), one per row. Exactly one of ``u`` and ``seed``.
    seed : int in [0, 2**64), optional
        Draw ``u`` in-kernel: row ``i`` uses Philox stream position ``offset + i``.
    offset : int
        Start position in the Philox stream (advance by ``N`` between calls).

    Returns
    -------
    int64 array (N,) on the active backend. A zero-weight category is never returned.

    Raises
    ------
    ValueError
        Naming ``weights`` or ``u`` and the first invalid row. The values are checked by
        the kernel in the pass that sums each row, not by a separate pass.
    """
    w = _check_matrix(weights, "weights")
    u, seed, offset = _randomness(w.shape[0], u, seed, offset)
    k, bad = implementation("multinomial", "multinomial_threshold_checked")(w, u, seed, offset)
    if bad >= 0:
        raise _weights_error(w, u, bad)
    return k


def _temperature(temperature, dtype) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise TypeError(f"temperature must be a real number, got {type(temperature).__name__}")
    try:
        t = float(temperature)
    except OverflowError:  # an int beyond float64
        t = np.inf
    if not (np.isfinite(t) and t > 0):
        raise ValueError(f"temperature must be > 0 and finite, got {temperature!r}")
    with np.errstate(over="ignore", under="ignore"):
        in_dtype = np.dtype(dtype).type(t)
    if not (np.isfinite(in_dtype) and in_dtype > 0):
        raise ValueError(f"temperature {t!r} rounds to {in_dtype} in {np.dtype(dtype).name}, "
                         "the logits' dtype; use a temperature it can represent")
    return t


def categorical_from_logits(logits, u=None, *, seed=None, offset: int = 0, temperature=1.0):
    r"""Sample :math:`k \sim \mathrm{softmax}(l_i / \tau)` per row, fused (no softmax array).

    Computes :math:`p_j = \exp((l_j - \max_j l_j) / \tau)` on the fly and thresholds it as
    :func:`multinomial_threshold` does. ``-inf`` logits (masked categories) are allowed;
    NaN, ``+inf`` and all-``-inf`` rows are not (checked by the kernel as it reads them).

    Parameters
    ----------
    logits : array (N, C), float32 or float64 (copied once only if strided or integer)
    u, seed, offset : see :func:`multinomial_threshold`
    temperature : float > 0, representable in the logits' dtype

    Returns
    -------
    int64 array (N,) on the active backend.
    """
    x = _check_matrix(logits, "logits")
    t = _temperature(temperature, x.dtype)
    u, seed, offset = _randomness(x.shape[0], u, seed, offset)
    k, bad = implementation("multinomial", "categorical_from_logits_checked")(
        x, u, seed, offset, t)
    if bad >= 0:
        raise _logits_error(x, u, bad)
    return k
