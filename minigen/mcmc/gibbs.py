r"""Gibbs sampling of fully connected binary Boltzmann machines, many chains at once.

For :math:`E(x) = -\tfrac12 x^\top J x - h^\top x` (symmetric, zero-diagonal
``J``) the single-site conditional is
:math:`p(x_i = 1 \mid x_{-i}) = \sigma(h_i + \sum_j J_{ij} x_j)`.

* ``method="single-site"``: a sweep updates the units one at a time in
  ``order`` (default ``0..n-1``); every chain is a row. Runs on the
  :func:`minigen.kernels.gibbs.bm_gibbs_sweep` kernel of the active backend.
* ``method="block"``: the units are split into blocks of ``block_size``; each
  block is drawn *jointly* from its exact conditional by enumerating its
  :math:`2^b` configurations,
  :math:`\log p(x_B \mid x_{-B}) = \tfrac12 x_B^\top J_{BB} x_B
  + x_B^\top (h_B + J_{B,-B} x_{-B}) + c`.

Randomness is explicit (uniform draws from the generator), so runs are
reproducible bit for bit from ``random_state``.

References: Geman & Geman, IEEE PAMI 6 (1984).
"""

from __future__ import annotations

import numpy as np

from .._progress import progress
from .._validation import check_positive_int
from ..backend import get_backend
from ..random import uniforms
from ._base import MCMCResult, as_rng, check_schedule


def block_sweep(x, J, h, u, blocks):
    """One sweep over ``blocks`` (list of index arrays), each block drawn jointly; in place."""
    xp = get_backend().xp
    for k, B in enumerate(blocks):
        b = len(B)
        Bx = xp.asarray(B)
        cfg = ((xp.arange(2**b)[:, None] >> xp.arange(b)[None, :]) & 1).astype(x.dtype)
        JBB = J[Bx][:, Bx]
        quad = 0.5 * ((cfg @ JBB) * cfg).sum(axis=1)  # (2^b,)
        field = x @ J[:, Bx] - x[:, Bx] @ JBB + h[Bx]  # excludes the block's own units
        logits = field @ cfg.T + quad[None, :]  # (chains, 2^b)
        logits = logits - logits.max(axis=1, keepdims=True)
        p = xp.exp(logits)
        cdf = xp.cumsum(p, axis=1)
        thresh = u[:, k:k + 1] * cdf[:, -1:]
        idx = xp.minimum((cdf <= thresh).sum(axis=1), 2**b - 1)
        x[:, Bx] = cfg[idx]
    return x


def gibbs_boltzmann(J, h, n_samples: int, *, n_chains: int = 100, method: str = "single-site",
                    block_size: int = 2, order=None, x0=None, burn_in: int = 100, thin: int = 1,
                    random_state=None, verbose: bool = True) -> MCMCResult:
    """Sample a binary Boltzmann machine ``(J, h)`` by Gibbs sweeps.

    Returns an :class:`MCMCResult` whose ``samples`` are ``(n_chains, n_samples, n)``
    in {0, 1}; one kept draw per ``thin`` sweeps after ``burn_in`` sweeps; ``verbose``
    shows a progress bar when the run takes more than a second.
    """
    from ..kernels.gibbs import bm_gibbs_sweep
    from ..models.ebm.boltzmann import check_coupling

    xp = get_backend().xp
    J, h = check_coupling(J, h)
    J = xp.asarray(J, dtype=xp.float64)
    h = xp.asarray(h, dtype=xp.float64)
    n_chains = check_positive_int(n_chains, "n_chains")
    n_samples, burn_in, thin = check_schedule(n_samples, burn_in, thin)
    if method not in ("single-site", "block"):
        raise ValueError(f"unknown method {method!r}; choose 'single-site' or 'block'")
    n = J.shape[0]
    rng = as_rng(random_state)
    if x0 is None:
        x = (uniforms(rng, (n_chains, n), dtype=np.float64) < 0.5).astype(xp.float64)
    else:
        x = xp.array(x0, dtype=xp.float64)
        if x.shape != (n_chains, n):
            raise ValueError(f"x0 must have shape ({n_chains}, {n}), got {x.shape}")
    if method == "block":
        block_size = check_positive_int(block_size, "block_size")
        blocks = [list(range(s, min(n, s + block_size))) for s in range(0, n, block_size)]
    out = xp.empty((n_chains, n_samples, n), dtype=xp.float64)
    total = burn_in + n_samples * thin
    bar = progress(total, "Gibbs", verbose, unit="sweep")  # shows after a second
    for it in range(total):
        bar.update(1)
        if method == "single-site":
            u = uniforms(rng, (1, n_chains, n), dtype=np.float64)
            x = bm_gibbs_sweep(x, J, h, n_sweeps=1, uniforms=u, order=order)
        else:
            block_sweep(x, J, h, uniforms(rng, (n_chains, len(blocks)), dtype=np.float64), blocks)
        j = it - burn_in
        if j >= 0 and (j + 1) % thin == 0:
            out[:, j // thin] = x
    bar.close()
    return MCMCResult(out, xp.ones(n_chains), x, {"method": method})
