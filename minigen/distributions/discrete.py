r"""Categorical and Bernoulli distributions (batched, xp-generic).

:math:`\mathrm{Cat}(x = k) = \pi_k`, :math:`H = -\sum_k \pi_k \log \pi_k`;
:math:`\mathrm{Ber}(x) = p^x (1-p)^{1-x}`,
:math:`\log \mathrm{Ber}(x) = x \ell - \mathrm{softplus}(\ell)`
with logit :math:`\ell`, :math:`H = \mathrm{softplus}(\ell) - p\,\ell`.

Parameters have a batch shape; ``sample(n)`` returns ``(n, *batch_shape)`` (or
``(*n, *batch_shape)`` for a tuple ``n``).
"""

from __future__ import annotations

import numpy as np

from .._math import log_sigmoid, log_softmax, softplus
from .._validation import check_array, check_weights
from ..backend import xp_of
from ..random import check_random_state, uniforms
from ._sampling import threshold
from ._util import sample_shape_of


def _one_of(probs, logits):
    if (probs is None) == (logits is None):
        raise ValueError("give exactly one of probs or logits")


class Categorical:
    """Categorical distribution over ``{0, ..., K-1}`` along the last axis.

    Parameters
    ----------
    probs : array (..., K), optional
        Non-negative weights; each row must have a positive sum (rows are normalized).
    logits : array (..., K), optional
        Unnormalized log-probabilities (finite or ``-inf``; not all ``-inf``).
    """

    def __init__(self, probs=None, logits=None):
        _one_of(probs, logits)
        if probs is not None:
            w = check_weights(check_array(probs, "probs", ndim=tuple(range(1, 33))), "probs")
            w = w.astype(np.float64)
            self.probs = w / w.sum(axis=-1, keepdims=True)
            with np.errstate(divide="ignore"):
                self.logits = xp_of(w).log(self.probs)
        else:
            lg = check_array(logits, "logits", ndim=tuple(range(1, 33)), finite=False)
            xp = xp_of(lg)
            lg = lg.astype(np.float64)
            if lg.shape[-1] == 0:
                raise ValueError("logits has no categories (last axis has size 0)")
            if bool(xp.isnan(lg).any()) or bool(xp.isposinf(lg).any()):
                raise ValueError("logits contains NaN or +inf")
            if bool(xp.isneginf(lg).all(axis=-1).any()):
                raise ValueError("logits has a row that is all -inf (sums to zero)")
            self.logits = log_softmax(lg)
            self.probs = xp.exp(self.logits)

    @property
    def n_categories(self) -> int:
        return self.probs.shape[-1]

    @property
    def batch_shape(self) -> tuple:
        return self.probs.shape[:-1]

    def sample(self, n=1, random_state=None):
        """Draws by multinomial thresholding; int64 of shape ``(*n, *batch_shape)``."""
        shape = sample_shape_of(n)
        rng = check_random_state(random_state)
        xp = xp_of(self.probs)
        K = self.n_categories
        w = xp.broadcast_to(self.probs, shape + self.probs.shape).reshape(-1, K)
        u = uniforms(rng, (w.shape[0],), np.float64)
        return threshold(xp.ascontiguousarray(w), u).reshape(shape + self.batch_shape)

    def log_prob(self, x):
        """``log pi[x]``; ``x`` int of shape ``(..., *batch_shape)`` with values in 0..K-1."""
        x = check_array(x, "x")
        xp = xp_of(x)
        if x.dtype.kind == "f":
            if bool((x != xp.round(x)).any()):
                raise ValueError("x must hold integer category indices")
        x = x.astype(np.int64)
        if x.size and (bool((x < 0).any()) or bool((x >= self.n_categories).any())):
            raise ValueError(f"x has values outside the support 0..{self.n_categories - 1}")
        nb = len(self.batch_shape)
        if nb and tuple(x.shape[x.ndim - nb:]) != self.batch_shape:
            raise ValueError(f"x must end with batch shape {self.batch_shape}, got {x.shape}")
        lg = xp.broadcast_to(self.logits, x.shape + (self.n_categories,))
        return xp.take_along_axis(lg, x[..., None], axis=-1)[..., 0]

    def entropy(self):
        r"""Exact :math:`-\sum_k \pi_k \log \pi_k`, shape ``batch_shape``."""
        xp = xp_of(self.probs)
        safe = xp.where(self.probs > 0, self.logits, 0.0)
        return -(self.probs * safe).sum(axis=-1)


class Bernoulli:
    """Independent Bernoulli variables (any batch shape, including scalars).

    Parameters
    ----------
    probs : array, optional
        Values in [0, 1].
    logits : array, optional
        Finite real logits, ``probs = sigmoid(logits)``.
    """

    def __init__(self, probs=None, logits=None):
        _one_of(probs, logits)
        if probs is not None:
            p = check_array(probs, "probs").astype(np.float64)
            xp = xp_of(p)
            if p.size and bool(((p < 0) | (p > 1)).any()):
                raise ValueError("probs must lie in [0, 1]")
            self.probs = p
            with np.errstate(divide="ignore"):
                self.logits = xp.log(p) - xp.log1p(-p)
        else:
            lg = check_array(logits, "logits").astype(np.float64)
            self.logits = lg
            self.probs = xp_of(lg).exp(log_sigmoid(lg))

    @property
    def batch_shape(self) -> tuple:
        return self.probs.shape

    def sample(self, n=1, random_state=None):
        """0/1 float64 draws ``u < p`` of shape ``(*n, *batch_shape)``."""
        shape = sample_shape_of(n) + self.batch_shape
        u = uniforms(check_random_state(random_state), shape, np.float64)
        return (u < self.probs).astype(np.float64)

    def log_prob(self, x):
        r"""Elementwise :math:`x \log p + (1 - x)\log(1 - p)` (stable via logits);
        ``x`` of shape ``(..., *batch_shape)``, as :meth:`Categorical.log_prob`."""
        x = check_array(x, "x")
        xp = xp_of(x)
        if x.size and not bool(((x == 0) | (x == 1)).all()):
            raise ValueError("x must be binary (only 0 and 1): values outside the support")
        nb = len(self.batch_shape)
        if nb and tuple(x.shape[x.ndim - nb:]) != self.batch_shape:
            raise ValueError(f"x must end with batch shape {self.batch_shape}, got {x.shape}")
        x = x.astype(np.float64)
        lg = self.logits
        finite = xp.isfinite(lg)
        safe = xp.where(finite, lg, 0.0)
        stable = x * log_sigmoid(safe) + (1 - x) * log_sigmoid(-safe)
        with np.errstate(divide="ignore"):
            edge = xp.where(x == 1, xp.log(self.probs), xp.log1p(-self.probs))
        return xp.where(finite, stable, edge)

    def entropy(self):
        r"""Exact :math:`-p\log p - (1-p)\log(1-p)`, elementwise (0 at p in {0, 1})."""
        xp = xp_of(self.probs)
        p = self.probs
        lg = xp.where(xp.isfinite(self.logits), self.logits, 0.0)
        h = softplus(lg) - p * lg
        return xp.where((p == 0) | (p == 1), 0.0, h)
