r"""Convergence diagnostics: effective sample size and split R-hat.

Both take draws shaped ``(n_chains, n_draws)`` or ``(n_chains, n_draws, D)``
(one value per dimension is returned), in the conventions of Vehtari et al.
(2021) and Stan:

* :func:`split_rhat`: every chain is split in half; with :math:`W` the mean
  within-chain variance and :math:`B/n` the variance of the chain means,
  :math:`\hat R = \sqrt{((n-1)/n\, W + B/n) / W}`.
* :func:`effective_sample_size`: the multi-chain autocorrelation
  :math:`\hat\rho_t = 1 - (W - \bar\gamma_t) / \widehat{\mathrm{var}}^+`
  summed with Geyer's initial monotone sequence estimator over pairs
  :math:`\Gamma_k = \hat\rho_{2k} + \hat\rho_{2k+1}` (truncated at the first
  negative pair, then made non-increasing);
  :math:`\mathrm{ESS} = MN / (-1 + 2\sum_k \Gamma_k)`.
* :func:`mcse_mean`: Monte Carlo standard error of the mean, :math:`s/\sqrt{\mathrm{ESS}}`.

References: Geyer, Statistical Science 7 (1992); Gelman & Rubin (1992);
Vehtari, Gelman, Simpson, Carpenter & Bürkner, Bayesian Analysis 16 (2021).
"""

from __future__ import annotations

import numpy as np

from ..backend import to_numpy


def _as3d(draws, name="draws"):
    a = np.asarray(to_numpy(draws), dtype=np.float64)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3:
        raise ValueError(f"{name} must have shape (n_chains, n_draws[, D]), got {a.shape}")
    if a.shape[1] < 4:
        raise ValueError(f"{name} needs at least 4 draws per chain, got {a.shape[1]}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def _split(a):
    n = a.shape[1] // 2
    return np.concatenate([a[:, :n], a[:, a.shape[1] - n:]], axis=0)


def _squeeze(x, draws):
    return x[0] if np.ndim(to_numpy(draws)) == 2 else x


def split_rhat(draws):
    """Split :math:`\\hat R` per dimension (1.0 for perfectly mixed chains)."""
    a = _split(_as3d(draws))
    m, n, _ = a.shape
    means = a.mean(axis=1)
    W = a.var(axis=1, ddof=1).mean(axis=0)
    B = n * means.var(axis=0, ddof=1)
    var_plus = (n - 1) / n * W + B / n
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.sqrt(var_plus / W)
    r = np.where(W > 0, r, 1.0)
    return _squeeze(r, draws)


def _autocov(a):
    """Autocovariance per chain via FFT: (m, n, D) -> (m, n, D)."""
    m, n, d = a.shape
    x = a - a.mean(axis=1, keepdims=True)
    size = 1 << int(np.ceil(np.log2(2 * n)))
    f = np.fft.rfft(x, n=size, axis=1)
    ac = np.fft.irfft(f * np.conj(f), n=size, axis=1)[:, :n]
    return ac / n


def effective_sample_size(draws):
    """Multi-chain ESS per dimension (split chains, Geyer initial monotone sequence)."""
    a = _split(_as3d(draws))
    m, n, d = a.shape
    acov = _autocov(a)
    chain_var = acov[:, 0, :] * n / (n - 1)
    W = chain_var.mean(axis=0)
    means = a.mean(axis=1)
    B = n * means.var(axis=0, ddof=1) if m > 1 else np.zeros(d)
    var_plus = (n - 1) / n * W + B / n
    out = np.empty(d)
    for k in range(d):
        if var_plus[k] <= 0:
            out[k] = m * n
            continue
        rho = 1.0 - (W[k] - acov[:, :, k].mean(axis=0)) / var_plus[k]
        rho[0] = 1.0
        n_pairs = n // 2
        gam = rho[0:2 * n_pairs:2] + rho[1:2 * n_pairs:2]
        # initial positive sequence
        neg = np.nonzero(gam < 0)[0]
        stop = neg[0] if neg.size else n_pairs
        gam = np.minimum.accumulate(gam[:stop]) if stop > 0 else gam[:1]
        tau = -1.0 + 2.0 * gam.sum()
        tau = max(tau, 1.0 / np.log10(m * n))  # Stan's cap against antithetic blow-up
        out[k] = m * n / tau
    return _squeeze(out, draws)


def mcse_mean(draws):
    """Monte Carlo standard error of the mean per dimension: ``sd / sqrt(ESS)``."""
    a = _as3d(draws)
    sd = a.reshape(-1, a.shape[2]).std(axis=0, ddof=1)
    return _squeeze(sd / np.sqrt(effective_sample_size(a)), draws)
