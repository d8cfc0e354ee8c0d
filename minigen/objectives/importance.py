r"""Estimates of :math:`\log Z` from a tractable :math:`q` and an unnormalized :math:`\tilde p`.

With :math:`x_i \sim q` and log-weights :math:`\ell_i = \log\tilde p(x_i) - \log q(x_i)`:

* the **ELBO** :math:`\frac1n\sum_i \ell_i`, a lower bound: :math:`\mathbb E_q[\ell] =
  \log Z - \mathrm{KL}(q\|p) \le \log Z` (the negative reverse-KL loss);
* the **importance-weighted** estimate :math:`\hat Z = \frac1n \sum_i w_i`,
  :math:`w_i = e^{\ell_i}`, unbiased for :math:`Z`; its standard error
  :math:`\mathrm{sd}(w)/\sqrt n`, reported for :math:`\log\hat Z` by the delta method
  (:math:`\mathrm{se}/\hat Z`); :math:`\log\hat Z` itself is biased low by about
  :math:`\mathrm{se}^2/2`;
* the **effective sample size** :math:`(\sum_i w_i)^2 / \sum_i w_i^2` (Kish).

All sums run on :math:`w_i e^{-\max_j \ell_j}`, so no weight overflows. A :math:`q` that
misses modes of :math:`p` (mode seeking) gives a :math:`\hat Z` that is low by the
missing mass with a small reported standard error and a healthy ESS: both are computed
from the samples, which never visit the missed modes.

References: Kish (1965) "Survey Sampling"; Owen (2013) "Monte Carlo theory, methods and
examples", ch. 9; Burda, Grosse, Salakhutdinov (2016) "Importance weighted autoencoders".
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .._math import logmeanexp_stderr
from .._validation import check_array, check_positive_int
from ..autograd import no_grad
from ..backend import to_numpy
from ..random import check_random_state
from .log_density import as_log_density

__all__ = ["LogZEstimate", "effective_sample_size", "importance_log_z", "estimate_log_z"]


@dataclass
class LogZEstimate:
    """``elbo`` (+ ``elbo_stderr``), importance-weighted ``log_z`` (+ ``log_z_stderr``),
    ``ess`` (Kish effective sample size), ``n`` draws from ``q``."""

    elbo: float
    elbo_stderr: float
    log_z: float
    log_z_stderr: float
    ess: float
    n: int

    def to_dict(self) -> dict:
        return asdict(self)


def _log_weights(log_w) -> np.ndarray:
    lw = np.asarray(to_numpy(check_array(log_w, "log_weights", ndim=1, finite=False,
                                         allow_empty=False)), dtype=np.float64)
    if np.isnan(lw).any() or np.isposinf(lw).any():
        raise ValueError("log_weights contain NaN or +inf (log p~ or log q is not finite)")
    if not np.isfinite(lw).any():
        raise ValueError("every log-weight is -inf: q puts all its samples where p~ = 0")
    return lw


def effective_sample_size(log_weights) -> float:
    r"""Kish's :math:`(\sum w)^2/\sum w^2` from log-weights ``(n,)`` (``-inf`` allowed)."""
    lw = _log_weights(log_weights)
    w = np.exp(lw - lw.max())
    return float(w.sum() ** 2 / (w * w).sum())


def importance_log_z(log_p_values, log_q_values) -> LogZEstimate:
    r""":class:`LogZEstimate` from :math:`\log\tilde p(x_i)` and :math:`\log q(x_i)`,
    :math:`x_i \sim q` (arrays ``(n,)``, ``n >= 2``)."""
    lp = np.asarray(to_numpy(check_array(log_p_values, "log_p_values", ndim=1, finite=False)),
                    dtype=np.float64)
    lq = np.asarray(to_numpy(check_array(log_q_values, "log_q_values", ndim=1)),
                    dtype=np.float64)
    if lp.shape != lq.shape:
        raise ValueError(f"log_p_values {lp.shape} and log_q_values {lq.shape} differ in shape")
    n = len(lp)
    if n < 2:
        raise ValueError(f"need at least 2 draws for a standard error, got {n}")
    lw = _log_weights(lp - lq)
    log_z, log_z_se = logmeanexp_stderr(lw)  # log mean w and its delta-method s.e.
    w = np.exp(lw - lw.max())
    finite = np.isfinite(lw)
    elbo = float(lw.mean()) if finite.all() else -math.inf
    elbo_se = float(lw.std(ddof=1) / math.sqrt(n)) if finite.all() else math.inf
    return LogZEstimate(elbo=elbo, elbo_stderr=elbo_se, log_z=log_z, log_z_stderr=log_z_se,
                        ess=float(w.sum() ** 2 / (w * w).sum()), n=n)


def estimate_log_z(model, log_p_unnormalized, n_samples: int = 10_000, random_state=None, *,
                   grad_log_p=None, batch_size: int = 4096) -> LogZEstimate:
    r"""ELBO, importance-weighted :math:`\log Z` and ESS with ``n_samples`` draws from ``model``.

    ``model`` : anything with ``sample_and_log_prob(n, random_state) -> (x, log_q)``
    (the flows, :class:`~minigen.models.flows.DiagonalGaussian`); run without a graph.
    ``log_p_unnormalized``, ``grad_log_p`` : the target, as in
    :mod:`minigen.objectives.log_density` (no gradient is taken here).
    """
    n = check_positive_int(n_samples, "n_samples")
    bs = check_positive_int(batch_size, "batch_size")
    if not hasattr(model, "sample_and_log_prob"):
        raise TypeError(f"{type(model).__name__} has no sample_and_log_prob(n, random_state)")
    target = as_log_density(log_p_unnormalized, grad_log_p)
    rng = check_random_state(random_state)
    lps, lqs = [], []
    with no_grad():
        for i in range(0, n, bs):
            x, lq = model.sample_and_log_prob(min(bs, n - i), random_state=rng)
            lps.append(target.values(x.data))
            lqs.append(np.asarray(to_numpy(lq.data), dtype=np.float64))
    return importance_log_z(np.concatenate(lps), np.concatenate(lqs))
