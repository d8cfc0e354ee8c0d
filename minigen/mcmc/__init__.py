"""Markov chain Monte Carlo for arbitrary energies and binary Boltzmann machines.

Every sampler takes an energy :math:`E` (target :math:`\\propto e^{-E}`), runs
many chains at once (one per row of ``x0``), applies ``burn_in`` and ``thin``,
and returns an :class:`MCMCResult` with ``samples`` ``(n_chains, n_draws, D)``
and per-chain ``acceptance_rate``.

The shapes returned by the user's ``energy`` (``(n_chains,)``) and ``grad`` (like ``x``)
are checked at their first call, so a scalar energy fails with a clear error instead of
broadcasting into wrong samples. Proposals with energy +inf or NaN are rejected (zero
density), but the energy at ``x0`` must be finite: a NaN start would freeze the chain.
"""

from ._base import MCMCResult
from .diagnostics import effective_sample_size, mcse_mean, split_rhat
from .gibbs import gibbs_boltzmann
from .hmc import hmc
from .langevin import langevin, mala, preconditioned_langevin, ula
from .metropolis import random_walk_metropolis

__all__ = [
    "MCMCResult",
    "effective_sample_size",
    "gibbs_boltzmann",
    "hmc",
    "langevin",
    "mala",
    "mcse_mean",
    "preconditioned_langevin",
    "random_walk_metropolis",
    "split_rhat",
    "ula",
]
