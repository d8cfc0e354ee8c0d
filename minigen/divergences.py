r"""Divergences, entropies and unit conversions.

Finite supports (arrays of probabilities along the last axis, summing to 1):

.. math::
    H(p) = -\sum_k p_k \log p_k, \qquad
    H(p, q) = -\sum_k p_k \log q_k, \qquad
    \mathrm{KL}(p \,\|\, q) = \sum_k p_k (\log p_k - \log q_k) = H(p, q) - H(p),

with :math:`0 \log 0 = 0` and :math:`\mathrm{KL} = +\infty` when some :math:`p_k > 0 = q_k`.

Closed forms:

.. math::
    \mathrm{KL}(\mathcal N(\mu_1, s_1^2) \,\|\, \mathcal N(\mu_2, s_2^2))
      = \log\frac{s_2}{s_1} + \frac{s_1^2 + (\mu_1 - \mu_2)^2}{2 s_2^2} - \frac12,
    \qquad
    \mathrm{KL}(\mathrm{Ber}(p) \,\|\, \mathrm{Ber}(q))
      = p \log\frac pq + (1 - p)\log\frac{1 - p}{1 - q}.

Monte Carlo: :math:`\mathrm{KL}(p\|q) = \mathbb E_{x \sim p}[\log p(x) - \log q(x)]`,
estimated by the sample mean of :math:`d_i = \log p(x_i) - \log q(x_i)` with standard
error :math:`\mathrm{sd}(d)/\sqrt n`.

Units: an NLL of :math:`L` nats over :math:`D` dimensions is :math:`L / (D \log 2)` bits/dim.

All results are in nats. References: Cover & Thomas, *Elements of Information Theory*, ch. 2.
"""

from __future__ import annotations

import math

import numpy as np

from ._validation import check_array, check_positive_int, check_probabilities
from .backend import to_numpy
from .distributions import Bernoulli, Categorical, Normal
from .random import check_random_state

_LOG2 = math.log(2.0)


def _xlogy(x, y):
    """``x * log(y)`` with ``0 * log(0) = 0`` (and ``0 * log(anything) = 0``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = x * np.log(y)
    return np.where(x == 0, 0.0, out)


def _pair(p, q):
    p = np.asarray(to_numpy(check_probabilities(p, "p")), dtype=np.float64)
    q = np.asarray(to_numpy(check_probabilities(q, "q")), dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same shape, got {p.shape} and {q.shape}")
    return p, q


def entropy(p, axis: int = -1):
    r"""Shannon entropy :math:`-\sum_k p_k \log p_k` in nats, over ``axis`` of ``p``."""
    # Validate along the axis that is summed, not the default last one.
    p = np.asarray(to_numpy(check_probabilities(p, "p", axis=axis)), dtype=np.float64)
    return -_xlogy(p, p).sum(axis=axis)


def cross_entropy(p, q):
    r"""Cross-entropy :math:`H(p, q) = -\sum_k p_k \log q_k` in nats (last axis)."""
    p, q = _pair(p, q)
    return -_xlogy(p, q).sum(axis=-1)


def _kl_objects(p, q):
    """KL between two distribution objects of the same family, or ``None``."""

    if isinstance(p, Categorical) and isinstance(q, Categorical):
        return kl_divergence(to_numpy(p.probs), to_numpy(q.probs))
    if isinstance(p, Bernoulli) and isinstance(q, Bernoulli):
        return kl_bernoulli(to_numpy(p.probs), to_numpy(q.probs))
    if isinstance(p, Normal) and isinstance(q, Normal):
        args = (to_numpy(a) for a in (p.loc, p.scale, q.loc, q.scale))
        out = np.sum(kl_normal(*args), axis=-1)
        return float(out) if np.ndim(out) == 0 else out
    raise TypeError(
        f"no exact KL between {type(p).__name__} and {type(q).__name__}; "
        "use kl_monte_carlo(sample_p, log_p, log_q, n)"
    )


def kl_divergence(p, q):
    r"""Exact :math:`\mathrm{KL}(p\|q) = \sum_k p_k(\log p_k - \log q_k)` for finite supports.

    Parameters
    ----------
    p, q : array of shape (..., K), or two distribution objects of one family
        Probability vectors along the last axis (non-negative, summing to 1); or two
        :class:`~minigen.distributions.Categorical` (same formula), two ``Bernoulli``
        (:func:`kl_bernoulli`, elementwise) or two diagonal ``Normal``
        (:func:`kl_normal` summed over the event axis).

    Returns
    -------
    float or array of shape (...): ``+inf`` where ``p`` puts mass where ``q`` has none.
    """
    if hasattr(p, "log_prob") or hasattr(q, "log_prob"):
        return _kl_objects(p, q)
    p, q = _pair(p, q)
    # KL(p||q) = H(p, q) - H(p), cross-entropy minus entropy, summed term by term:
    # p_k log p_k - p_k log q_k, with 0 log 0 = 0 (and +inf where p_k > 0 = q_k)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    out = terms.sum(axis=-1)
    return float(out) if out.ndim == 0 else out


def kl_normal(mu1, s1, mu2, s2):
    r"""Closed-form KL between univariate (or diagonal, elementwise) Gaussians.

    :math:`\log(s_2/s_1) + (s_1^2 + (\mu_1-\mu_2)^2)/(2 s_2^2) - 1/2`, elementwise with
    broadcasting; sum over the last axis for a diagonal multivariate Gaussian.
    ``s1``, ``s2`` are standard deviations (> 0).
    """
    mu1, mu2 = (np.asarray(to_numpy(check_array(a, n)), float)
                for a, n in ((mu1, "mu1"), (mu2, "mu2")))
    s1, s2 = (np.asarray(to_numpy(check_array(a, n)), float)
              for a, n in ((s1, "s1"), (s2, "s2")))
    for s, n in ((s1, "s1"), (s2, "s2")):
        if (s <= 0).any():
            raise ValueError(f"{n} (standard deviation) must be > 0")
    out = np.log(s2 / s1) + (s1**2 + (mu1 - mu2) ** 2) / (2.0 * s2**2) - 0.5
    return float(out) if out.ndim == 0 else out


def kl_bernoulli(p, q):
    r"""Closed-form :math:`p\log(p/q) + (1-p)\log((1-p)/(1-q))`, elementwise, in nats."""
    p = np.asarray(to_numpy(check_array(p, "p")), float)
    q = np.asarray(to_numpy(check_array(q, "q")), float)
    for a, n in ((p, "p"), (q, "q")):
        if ((a < 0) | (a > 1)).any():
            raise ValueError(f"{n} must lie in [0, 1]")
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
        t0 = np.where(p < 1, (1 - p) * (np.log1p(-p) - np.log1p(-q)), 0.0)
    out = t1 + t0
    return float(out) if out.ndim == 0 else out


def kl_monte_carlo(sample_p, log_p, log_q, n: int, random_state=None) -> tuple[float, float]:
    r"""MC :math:`\mathrm{KL}(p\|q) = \mathbb E_p[\log p - \log q]`, with standard error.

    Parameters
    ----------
    sample_p : callable ``(n, rng) -> (n, ...)`` array
        Draws from ``p``.
    log_p, log_q : callable ``x -> (n,)`` array
        Log-densities (or log-probabilities) of ``p`` and ``q``.
    n : int >= 2
    random_state : None, int or Generator

    Returns
    -------
    (estimate, stderr) : floats; stderr = sd(log p - log q) / sqrt(n).
    """
    n = check_positive_int(n, "n")
    if n < 2:
        raise ValueError(f"n must be >= 2 for a standard error, got {n}")
    for f, name in ((sample_p, "sample_p"), (log_p, "log_p"), (log_q, "log_q")):
        if not callable(f):
            raise TypeError(f"{name} must be callable")
    rng = check_random_state(random_state)
    x = sample_p(n, rng)
    d = np.asarray(to_numpy(log_p(x)), np.float64) - np.asarray(to_numpy(log_q(x)), np.float64)
    if d.shape != (n,):
        raise ValueError(f"log_p(x) - log_q(x) must have shape ({n},), got {d.shape}")
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(n))


def nats_to_bits_per_dim(nats, n_dims: int):
    """Convert a per-example NLL in nats to bits per dimension: ``nats / (n_dims * log 2)``."""
    n_dims = check_positive_int(n_dims, "n_dims")
    if isinstance(nats, (int, float)):
        return float(nats) / (n_dims * _LOG2)
    return np.asarray(to_numpy(nats), dtype=np.float64) / (n_dims * _LOG2)


def bits_per_dim(log_prob, n_dims: int) -> float:
    """Mean NLL in bits/dim from per-example log-likelihoods ``log_prob`` (nats, shape (n,))."""
    lp = np.asarray(to_numpy(check_array(log_prob, "log_prob", ndim=1, finite=False)),
                    np.float64)
    if lp.size == 0:
        raise ValueError("log_prob must not be empty")
    if np.isnan(lp).any():
        raise ValueError("log_prob contains NaN")
    return nats_to_bits_per_dim(float(-lp.mean()), n_dims)
