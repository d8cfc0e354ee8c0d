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

from .._validation import check_choice, check_positive_int
from ..backend import get_backend
from ..distributions.boltzmann import all_states, check_coupling
from ..kernels import multinomial_threshold
from ..kernels.gibbs import bm_gibbs_sweep
from ..parallel import chain_uniforms, seed_from
from .runner import run_chains
from .transitions import Transition

__all__ = ["BoltzmannGibbs", "gibbs_boltzmann", "block_sweep"]


def block_sweep(x, J, h, u, blocks):
    """One sweep over ``blocks`` (list of index arrays), each block drawn jointly by
    thresholding its enumerated conditional (:func:`minigen.kernels.multinomial_threshold`
    with the uniforms ``u[:, k]``); in place."""
    xp = get_backend().xp
    for k, B in enumerate(blocks):
        b = len(B)
        Bx = xp.asarray(B)
        cfg = all_states(b, dtype=x.dtype, xp=xp)
        JBB = J[Bx][:, Bx]
        quad = 0.5 * ((cfg @ JBB) * cfg).sum(axis=1)  # (2^b,)
        field = x @ J[:, Bx] - x[:, Bx] @ JBB + h[Bx]  # excludes the block's own units
        logits = field @ cfg.T + quad[None, :]  # (chains, 2^b)
        p = xp.exp(logits - logits.max(axis=1, keepdims=True))
        x[:, Bx] = cfg[multinomial_threshold(xp.ascontiguousarray(p), u[:, k].copy())]
    return x


class BoltzmannGibbs(Transition):
    """One Gibbs sweep of the machine ``(J, h)``: single-site (``bm_gibbs_sweep`` kernel,
    units in ``order``) or blocks of ``block_size`` units drawn jointly."""

    name = "Gibbs"

    def __init__(self, J, h, method: str = "single-site", block_size: int = 2, order=None):
        xp = get_backend().xp
        J, h = check_coupling(J, h)
        self.J, self.h = xp.asarray(J, dtype=xp.float64), xp.asarray(h, dtype=xp.float64)
        self.method = check_choice(method, "method", ("single-site", "block"))
        self.order = order
        n = self.J.shape[0]
        bs = check_positive_int(block_size, "block_size")
        self.blocks = [list(range(s, min(n, s + bs))) for s in range(0, n, bs)]

    def step(self, s, draws):

        x = s["x"]
        if self.method == "single-site":
            u = draws.uniform(x.shape[1])[None]  # (1 sweep, chains, units)
            s["x"] = bm_gibbs_sweep(x, self.J, self.h, n_sweeps=1, uniforms=u, order=self.order)
        else:
            s["x"] = block_sweep(x, self.J, self.h, draws.uniform(len(self.blocks)),
                                 self.blocks)
        return s, get_backend().xp.ones(x.shape[0], dtype=bool)

    def info(self):
        return {"method": self.method}


def gibbs_boltzmann(J, h, n_samples: int, *, n_chains: int = 100, method: str = "single-site",
                    block_size: int = 2, order=None, x0=None, burn_in: int = 100, **run):
    """Sample a binary Boltzmann machine ``(J, h)`` by Gibbs sweeps.

    ``n_chains`` chains start at ``x0`` (n_chains, n), or at uniform random states drawn
    from the run's seed; the runner's arguments (``thin``, ``random_state``, ``executor``,
    ...) are those of :func:`minigen.mcmc.run_chains`. Returns an :class:`MCMCResult` whose
    ``samples`` are ``(n_chains, n_samples, n)`` in {0, 1}.
    """

    xp = get_backend().xp
    t = BoltzmannGibbs(J, h, method, block_size, order)
    n_chains = check_positive_int(n_chains, "n_chains")
    n = t.J.shape[0]
    seed = seed_from(run.pop("random_state", None))
    if x0 is None:  # addressed like every other draw: a stream before step 0's
        x0 = (chain_uniforms(seed, 2**62, 0, n_chains, n) < 0.5).astype(np.float64)
    x0 = xp.asarray(x0, dtype=xp.float64)
    if x0.shape != (n_chains, n):
        raise ValueError(f"x0 must have shape ({n_chains}, {n}), got {x0.shape}")
    return run_chains(t, x0, n_samples, burn_in=burn_in, random_state=seed, **run)
