r"""Discretized logistic mixture for 8-bit pixels (PixelCNN++).

A pixel value :math:`x \in \{0, \dots, 255\}` is mapped to :math:`y = 2x/255 - 1 \in [-1, 1]`;
its bin is :math:`[y - \delta, y + \delta]` with :math:`\delta = 1/255`, except that the
edge bins extend to :math:`-\infty` (:math:`x = 0`) and :math:`+\infty` (:math:`x = 255`),
so the 256 probabilities sum to exactly one. With component weights :math:`\pi_k`,
means :math:`\mu_k`, log-scales :math:`\log s_k` and :math:`\sigma` the logistic sigmoid:

.. math::
    P(x) = \sum_k \pi_k \big[\sigma(\tfrac{y + \delta - \mu_k}{s_k})
                           - \sigma(\tfrac{y - \delta - \mu_k}{s_k})\big].

Numerics: for an interior bin, with :math:`a = (y+\delta-\mu)/s > b = (y-\delta-\mu)/s`,
we use the exact identity :math:`\sigma(a) - \sigma(b) = \sigma(a)\,\sigma(-b)\,(1 - e^{b-a})`,
so :math:`\log P = \log\sigma(a) + \log\sigma(-b) + \log(-\mathrm{expm1}(b - a))`,
stable for any :math:`\mu, s` (no cancellation, no ``1e-5`` switch to the density);
edges: :math:`\log\sigma(a)` at 0 and :math:`\log\sigma(-b)` at 255.

Sampling: a component by thresholding, :math:`y = \mu + s(\log u - \log(1-u))`, clipped to
[-1, 1] and rounded to the nearest bin, which is an exact draw from :math:`P`.

References: Salimans et al., *PixelCNN++* (ICLR 2017).
"""

from __future__ import annotations

import numpy as np

from .._math import log_sigmoid, log_softmax, logsumexp
from .._validation import check_array, check_positive_int
from ..backend import xp_of
from ..random import check_random_state, uniforms
from ._sampling import threshold
from ._util import sample_shape_of


class DiscretizedLogisticMixture:
    """Per-pixel mixture of ``K`` discretized logistics over ``n_bins`` values (default 256).

    Parameters
    ----------
    logit_weights, means, log_scales : arrays of shape (..., K)
        Mixture logits, means on the [-1, 1] scale, log-scales (all finite).
    n_bins : int >= 2
    """

    def __init__(self, logit_weights, means, log_scales, n_bins: int = 256):
        lw = check_array(logit_weights, "logit_weights", ndim=tuple(range(1, 33))).astype(float)
        mu = check_array(means, "means").astype(np.float64)
        ls = check_array(log_scales, "log_scales").astype(np.float64)
        if not (lw.shape == mu.shape == ls.shape):
            raise ValueError(
                "logit_weights, means and log_scales must have the same shape, got "
                f"{lw.shape}, {mu.shape}, {ls.shape}"
            )
        self.n_bins = check_positive_int(n_bins, "n_bins")
        if self.n_bins < 2:
            raise ValueError(f"n_bins must be >= 2, got {n_bins}")
        self.log_weights = log_softmax(lw)
        self.means, self.log_scales = mu, ls

    @property
    def batch_shape(self) -> tuple:
        return self.means.shape[:-1]

    def _component_log_prob(self, x):
        """``(..., K)`` log-probabilities of integer pixel values ``x`` (shape ``(...)``)."""
        xp = xp_of(self.means)
        top = self.n_bins - 1
        half = 1.0 / top
        y = (2.0 * x / top - 1.0)[..., None]
        inv_s = xp.exp(-self.log_scales)
        a = (y + half - self.means) * inv_s
        b = (y - half - self.means) * inv_s
        with np.errstate(divide="ignore"):
            interior = log_sigmoid(a) + log_sigmoid(-b) + xp.log(-xp.expm1(b - a))
        xe = x[..., None]
        return xp.where(xe == 0, log_sigmoid(a), xp.where(xe == top, log_sigmoid(-b), interior))

    def log_prob(self, x):
        """Exact log-probability of integer values ``x`` in 0..n_bins-1, shape ``(...)``."""
        x = check_array(x, "x")
        xp = xp_of(x)
        if x.dtype.kind == "f" and x.size and bool((x != xp.round(x)).any()):
            raise ValueError("x must hold integer pixel values")
        if x.size and (bool((x < 0).any()) or bool((x > self.n_bins - 1).any())):
            raise ValueError(f"x has values outside the support 0..{self.n_bins - 1}")
        nb = len(self.batch_shape)
        if nb and tuple(x.shape[x.ndim - nb:]) != self.batch_shape:
            raise ValueError(f"x must end with batch shape {self.batch_shape}, got {x.shape}")
        x = x.astype(np.float64)
        return logsumexp(self.log_weights + self._component_log_prob(x), axis=-1)

    def probs_table(self):
        """``(n_bins, *batch_shape)`` probabilities of every value (sums to 1 on axis 0)."""
        xp = xp_of(self.means)
        v = xp.arange(self.n_bins, dtype=np.float64).reshape((-1,) + (1,) * len(self.batch_shape))
        v = xp.broadcast_to(v, (self.n_bins,) + self.batch_shape)
        return xp.exp(self.log_prob(v))

    def entropy(self):
        """Exact entropy in nats by enumerating the ``n_bins`` values, shape ``batch_shape``."""
        xp = xp_of(self.means)
        p = self.probs_table()
        with np.errstate(divide="ignore", invalid="ignore"):
            return -xp.where(p > 0, p * xp.log(p), 0.0).sum(axis=0)

    def sample(self, n=1, random_state=None):
        """Exact draws, int64 in 0..n_bins-1, shape ``(*n, *batch_shape)``."""
        shape = sample_shape_of(n) + self.batch_shape
        rng = check_random_state(random_state)
        xp = xp_of(self.means)
        K = self.means.shape[-1]
        m = int(np.prod(shape)) if shape else 1
        w = xp.broadcast_to(xp.exp(self.log_weights), shape + (K,)).reshape(m, K)
        k = threshold(xp.ascontiguousarray(w), uniforms(rng, (m,), np.float64))
        mu = xp.broadcast_to(self.means, shape + (K,)).reshape(m, K)
        ls = xp.broadcast_to(self.log_scales, shape + (K,)).reshape(m, K)
        rows = xp.arange(m)
        u = uniforms(rng, (m,), np.float64)
        u = xp.clip(u, 1e-12, 1.0 - 1e-12)
        y = mu[rows, k] + xp.exp(ls[rows, k]) * (xp.log(u) - xp.log1p(-u))
        top = self.n_bins - 1
        x = xp.rint((xp.clip(y, -1.0, 1.0) + 1.0) * top / 2.0)
        return xp.clip(x, 0, top).astype(np.int64).reshape(shape)
