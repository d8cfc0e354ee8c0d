r"""Multinomial thresholding, naive joint sampling and chain-rule sampling.

Thresholding: for non-negative weights :math:`w_{1..C}` (not necessarily normalized) and
:math:`u \sim U[0, 1)`, return the smallest :math:`k` with
:math:`\sum_{j \le k} w_j > u \sum_j w_j`; then :math:`P(k) = w_k / \sum_j w_j`.

*Naive* joint sampling of :math:`D` variables with :math:`C` values each enumerates all
:math:`C^D` outcomes and thresholds one weight vector of that length: exact but exponential
in :math:`D`. The *chain rule* :math:`p(x) = \prod_d p(x_d \mid x_{<d})` samples the same
distribution with :math:`D` thresholdings of length :math:`C` — why autoregressive models
factorize.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_array, check_positive_int, check_weights
from ..kernels.multinomial import multinomial_threshold
from ..random import check_random_state, uniforms

MAX_JOINT_OUTCOMES = 2**20


def threshold(weights, u):
    """Category per row by thresholding the CDF, on the active backend: every sampler here
    calls :func:`minigen.kernels.multinomial_threshold` (``weights (N, C) >= 0``, ``u (N,)``
    in [0, 1) -> int64 (N,), never a zero-weight category)."""
    return multinomial_threshold(weights, u)


def _check_sizes(D, C, n) -> tuple[int, int, int]:
    """``D`` variables (>= 1) of ``C`` values (>= 1), ``n`` draws (>= 0)."""
    return (check_positive_int(D, "D"), check_positive_int(C, "C"),
            check_positive_int(n, "n", allow_zero=True))


def _all_outcomes(D: int, C: int) -> np.ndarray:
    """``(C**D, D)`` int64: row ``i`` is ``i`` written in base ``C``, most significant first."""
    idx = np.arange(C**D)
    return (idx[:, None] // C ** np.arange(D - 1, -1, -1)[None, :]) % C


def naive_joint_sample(log_prob_or_table, D: int, C: int, n: int, random_state=None):
    r"""Sample ``n`` vectors in :math:`\{0..C-1\}^D` by enumerating all :math:`C^D` outcomes.

    Parameters
    ----------
    log_prob_or_table : callable or array
        Either ``log_prob(X) -> (C**D,)`` (unnormalized log-probabilities) of the
        ``(C**D, D)`` outcome table, or a joint table of non-negative weights of shape
        ``(C,) * D`` or ``(C**D,)`` (C-order, most significant dimension first).
    D, C : int
        Number of variables and of values per variable; ``C**D`` must be
        ``<= MAX_JOINT_OUTCOMES`` (2**20), else ``ValueError``.
    n : int
    random_state : None, int or Generator

    Returns
    -------
    (n, D) int64 array.
    """
    D, C, n = _check_sizes(D, C, n)
    if C**D > MAX_JOINT_OUTCOMES:
        raise ValueError(
            f"naive joint sampling enumerates C**D = {C}**{D} = {C**D} outcomes, above the "
            f"limit {MAX_JOINT_OUTCOMES}; use a factorized (chain-rule) sampler"
        )
    outcomes = _all_outcomes(D, C)
    if callable(log_prob_or_table):
        lp = np.asarray(log_prob_or_table(outcomes), np.float64)
        if lp.shape != (C**D,):
            raise ValueError(f"log_prob must return shape ({C**D},), got {lp.shape}")
        if np.isnan(lp).any() or np.isposinf(lp).any():
            raise ValueError("log_prob returned NaN or +inf")
        w = np.exp(lp - lp.max())
    else:
        w = np.asarray(check_array(log_prob_or_table, "table"), np.float64)
        if w.shape not in ((C,) * D, (C**D,)):
            raise ValueError(f"table must have shape {(C,) * D} or ({C**D},), got {w.shape}")
        w = w.reshape(-1)
    w = check_weights(w[None, :], "table")[0]
    rng = check_random_state(random_state)
    u = np.asarray(uniforms(rng, (n,), np.float64))
    # one weight vector shared by all n draws: thresholding by binary search on its cumsum
    # (smallest k with c[k] > u * c[-1]), clamped to the last positive outcome
    c = np.cumsum(w)
    k = np.searchsorted(c, u * c[-1], side="right")
    k = np.minimum(k, len(w) - 1 - int(np.argmax(w[::-1] > 0)))
    return outcomes[k]


def chain_rule_sample(conditional, D: int, C: int, n: int, random_state=None):
    r"""Sample by the chain rule :math:`x_d \sim p(x_d \mid x_{<d})`, :math:`d = 0..D-1`.

    Parameters
    ----------
    conditional : callable ``(x_prefix (n, d) int64, d) -> (n, C)`` non-negative weights
    D, C, n : int
    random_state : None, int or Generator

    Returns
    -------
    (n, D) int64 array.
    """
    D, C, n = _check_sizes(D, C, n)
    rng = check_random_state(random_state)
    x = np.zeros((n, D), np.int64)
    for d in range(D):
        w = check_weights(np.asarray(conditional(x[:, :d], d), np.float64), "conditional")
        if w.shape != (n, C):
            raise ValueError(f"conditional must return shape ({n}, {C}), got {w.shape}")
        x[:, d] = np.asarray(threshold(w, uniforms(rng, (n,), np.float64)))
    return x
