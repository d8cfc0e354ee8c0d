r"""Diagonal Normal and full-covariance Gaussian mixtures.

Normal (diagonal, event = last axis of ``loc``):

.. math:: \log \mathcal N(x; \mu, \mathrm{diag}(\sigma^2))
          = -\sum_j \Big[\tfrac12 \big(\tfrac{x_j-\mu_j}{\sigma_j}\big)^2 + \log\sigma_j
          + \tfrac12\log 2\pi\Big], \qquad H = \sum_j \big(\tfrac12 + \tfrac12\log 2\pi
          + \log\sigma_j\big).

Gaussian mixture: :math:`p(x) = \sum_k w_k \mathcal N(x; m_k, \Sigma_k)`, log-density by
log-sum-exp over components with Cholesky factors; its entropy has no closed form and
:meth:`GaussianMixture.entropy` returns the Monte Carlo estimate
:math:`-\frac1n \sum_i \log p(x_i)`, :math:`x_i \sim p`, with standard error.
"""

from __future__ import annotations

import math

import numpy as np

from .._math import HALF_LOG_2PI, logsumexp, normal_log_density
from .._validation import check_array, check_positive_int, check_weights
from ..autograd import F, Tensor
from ..backend import get_backend, to_numpy, xp_of
from ..random import check_random_state, normals, uniforms
from ._sampling import threshold
from ._util import sample_shape_of


class Normal:
    """Diagonal Gaussian; the last axis of ``loc`` is the event (a scalar is promoted to (1,)).

    Parameters
    ----------
    loc : array (..., D)
    scale : array broadcastable to ``loc``, > 0 (standard deviations)
    """

    def __init__(self, loc, scale):
        loc = check_array(loc, "loc").astype(np.float64)
        scale = check_array(scale, "scale").astype(np.float64)
        xp = xp_of(loc)
        if loc.ndim == 0:
            loc = loc.reshape(1)
        if scale.size and bool((scale <= 0).any()):
            raise ValueError("scale must be > 0")
        try:
            scale = xp.broadcast_to(scale, loc.shape)
        except ValueError:
            raise ValueError(
                f"scale shape {scale.shape} does not broadcast to loc shape {loc.shape}"
            ) from None
        self.loc, self.scale = loc, scale
        self._log_norm = self._standard = None

    @property
    def event_dim(self) -> int:
        return self.loc.shape[-1]

    def sample(self, n=1, random_state=None):
        """``loc + scale * z``, shape ``(*n, *loc.shape)``."""
        shape = sample_shape_of(n) + self.loc.shape
        return self.loc + self.scale * normals(check_random_state(random_state), shape, np.float64)

    @classmethod
    def standard(cls, d: int, backend=None) -> Normal:
        """The standard normal N(0, I_d) (the base distribution of the flows)."""
        d = check_positive_int(d, "d")
        xp = (backend or get_backend()).xp
        return cls(xp.zeros(d), xp.ones(d))

    def log_prob(self, x):
        """Log-density summed over the event axis; ``x`` of shape ``(..., D)``.

        ``x`` may be an autograd :class:`~minigen.autograd.Tensor`: the result is then a
        float64 Tensor, differentiable in ``x`` (``loc`` and ``scale`` are constants), as a
        flow's likelihood needs.
        """
        if isinstance(x, Tensor):
            return self._log_prob_tensor(x)
        x = check_array(x, "x").astype(np.float64)
        if x.ndim == 0 or x.shape[-1] != self.event_dim:
            raise ValueError(f"x must have last axis of size {self.event_dim}, got {x.shape}")
        xp = xp_of(x)
        z = (x - self.loc) / self.scale
        return normal_log_density(z, xp.log(self.scale)).sum(axis=-1)

    def _log_prob_tensor(self, x: Tensor) -> Tensor:
        if x.ndim == 0 or x.shape[-1] != self.event_dim:
            raise ValueError(f"x must have last axis of size {self.event_dim}, got {x.shape}")
        if self._log_norm is None:  # sum_j (log sigma_j + log(2 pi)/2), once
            xp = xp_of(self.scale)
            self._standard = bool(xp.all(self.loc == 0) and xp.all(self.scale == 1))
            self._log_norm = (xp.log(self.scale) + HALF_LOG_2PI).sum(axis=-1)
        z = x if x.dtype == np.float64 else F.astype(x, np.float64)
        if not self._standard:
            z = (z - self.loc) / self.scale
        return -0.5 * F.sum(z * z, axis=-1) - self._log_norm

    def entropy(self):
        """Exact differential entropy in nats, shape ``loc.shape[:-1]``."""
        xp = xp_of(self.scale)
        return (0.5 + HALF_LOG_2PI + xp.log(self.scale)).sum(axis=-1)


class GaussianMixture:
    """Mixture of ``K`` Gaussians in ``D`` dimensions.

    Parameters
    ----------
    weights : (K,) non-negative (normalized internally)
    means : (K, D)
    covs : (K, D, D) symmetric positive definite, optional
    scales : (K,) isotropic or (K, D) diagonal standard deviations, optional
        Exactly one of ``covs`` / ``scales``.
    """

    def __init__(self, weights, means, covs=None, scales=None):
        w = check_weights(check_array(weights, "weights", ndim=1), "weights").astype(np.float64)
        means = check_array(means, "means", ndim=2).astype(np.float64)
        K, D = means.shape
        if w.shape[0] != K:
            raise ValueError(f"weights has {w.shape[0]} components but means has {K}")
        xp = xp_of(means)
        if (covs is None) == (scales is None):
            raise ValueError("give exactly one of covs or scales")
        if covs is not None:
            covs = check_array(covs, "covs", shape=(K, D, D)).astype(np.float64)
            if not bool(xp.allclose(covs, covs.transpose(0, 2, 1))):
                raise ValueError("covs must be symmetric")
            try:
                chol = xp.linalg.cholesky(covs)
            except Exception:  # numpy LinAlgError / cupy
                raise ValueError("covs must be positive definite") from None
            if not bool(xp.isfinite(chol).all()):  # cupy returns NaN instead of raising
                raise ValueError("covs must be positive definite")
        else:
            s = check_array(scales, "scales", ndim=(1, 2)).astype(np.float64)
            if s.shape not in ((K,), (K, D)):
                raise ValueError(f"scales must have shape ({K},) or ({K}, {D}), got {s.shape}")
            if bool((s <= 0).any()):
                raise ValueError("scales must be > 0")
            s = xp.broadcast_to(s[:, None] if s.ndim == 1 else s, (K, D))
            chol = xp.eye(D)[None] * s[:, :, None]
        self.weights = w / w.sum()
        self.means = means
        self.chol = chol  # (K, D, D) lower Cholesky factors
        self.covs = chol @ chol.transpose(0, 2, 1)

    @property
    def n_components(self) -> int:
        return self.means.shape[0]

    def sample(self, n, random_state=None):
        """``(n, D)`` draws: component by thresholding, then ``m_k + L_k z``."""
        (n,) = sample_shape_of(n)
        rng = check_random_state(random_state)
        xp = xp_of(self.means)
        w = xp.broadcast_to(self.weights, (n, self.n_components))
        k = threshold(xp.ascontiguousarray(w), uniforms(rng, (n,), np.float64))
        z = normals(rng, (n, self.means.shape[1]), np.float64)
        return self.means[k] + (self.chol[k] @ z[:, :, None])[:, :, 0]

    def component_log_prob(self, x):
        """``(n, K)`` log N(x; m_k, Sigma_k)."""
        x = check_array(x, "x", ndim=2, shape=(None, self.means.shape[1])).astype(np.float64)
        xp = xp_of(x)
        D = self.means.shape[1]
        diff = x[:, None, :] - self.means[None]  # (n, K, D)
        out = []
        for k in range(self.n_components):  # K small; triangular solve per component
            z = xp.linalg.solve(self.chol[k], diff[:, k, :].T)  # (D, n)
            logdet = xp.log(xp.abs(xp.diagonal(self.chol[k]))).sum()
            out.append(-0.5 * (z * z).sum(axis=0) - logdet - D * HALF_LOG_2PI)
        return xp.stack(out, axis=1)

    def log_prob(self, x):
        """Exact log-density ``log sum_k w_k N(x; m_k, Sigma_k)``, shape (n,)."""
        xp = xp_of(self.weights)
        with np.errstate(divide="ignore"):
            lw = xp.log(self.weights)
        return logsumexp(self.component_log_prob(x) + lw[None], axis=1)

    def entropy(self, n_mc: int = 100_000, random_state=None) -> tuple[float, float]:
        """Monte Carlo entropy (no closed form): ``(estimate, stderr)`` in nats."""
        n_mc = check_positive_int(n_mc, "n_mc")
        if n_mc < 2:
            raise ValueError(f"n_mc must be >= 2 for a standard error, got {n_mc}")
        lp = to_numpy(self.log_prob(self.sample(n_mc, random_state)))
        return float(-lp.mean()), float(lp.std(ddof=1) / math.sqrt(n_mc))
