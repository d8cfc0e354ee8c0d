"""Markov chain Monte Carlo: transitions, one chain runner, diagnostics.

A sampler is a :class:`~minigen.mcmc.transitions.Transition` (random walk, ULA, MALA,
preconditioned MALA, HMC, Boltzmann Gibbs) driven by :func:`run_chains`, which owns
burn-in, thinning, many chains (one per row of ``x0``) and, with ``executor=``, blocks of
chains on other processes (bit-identical results). The functions (:func:`mala`,
:func:`hmc`, ...) build the transition and run it. Each returns an :class:`MCMCResult` with
``samples`` ``(n_chains, n_draws, D)`` and per-chain ``acceptance_rate``.

The shapes returned by the user's ``energy`` (``(n_chains,)``) and ``grad`` (like ``x``)
are checked at their first call, so a scalar energy fails with a clear error instead of
broadcasting into wrong samples. Proposals with energy NaN or +-inf are rejected (zero
density), but the energy at ``x0`` must be finite: a NaN start would freeze the chain.
"""

from ._base import MCMCResult
from .diagnostics import effective_sample_size, mcse_mean, split_rhat
from .draws import ChainDraws, GeneratorDraws
from .gibbs import BoltzmannGibbs, gibbs_boltzmann
from .runner import run_chains
from .samplers import hmc, langevin, mala, preconditioned_langevin, random_walk_metropolis, ula
from .transitions import HMC, MALA, ULA, PreconditionedMALA, RandomWalk, Transition

__all__ = [
    "MCMCResult", "run_chains", "Transition", "RandomWalk", "ULA", "MALA",
    "PreconditionedMALA", "HMC", "BoltzmannGibbs", "GeneratorDraws", "ChainDraws",
    "effective_sample_size", "mcse_mean", "split_rhat", "gibbs_boltzmann", "hmc", "langevin",
    "mala", "preconditioned_langevin", "random_walk_metropolis", "ula",
]
