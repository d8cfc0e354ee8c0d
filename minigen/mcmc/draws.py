"""Where a transition's random numbers come from: a Generator, or addressed by position.

A transition asks for what one step needs (``draws.normal(width)``, ``draws.uniform()``,
``draws.shared_integer(1, L)``) and never owns a stream, so the same transition runs

* on a run's Generator (:class:`GeneratorDraws`: sequential draws, e.g. the Langevin
  negatives inside :class:`minigen.models.NeuralEBM`'s training), or
* on chains ``c0..c1-1`` of a seeded run (:class:`ChainDraws`: the numbers of chain ``c`` at
  step ``t`` depend on (seed, t, slot, c) only), which is what lets
  :func:`minigen.mcmc.run_chains` split chains across workers and get the same bits.
"""

from __future__ import annotations

import numpy as np

from ..backend import get_backend
from ..parallel import chain_normals, chain_uniforms

__all__ = ["GeneratorDraws", "ChainDraws"]

#: streams a step may use (normal noise, accept test, a shared integer, ...)
SLOTS = 8


class GeneratorDraws:
    """Draws from a Generator, in the order asked, for ``n`` chains."""

    def __init__(self, rng: np.random.Generator, n: int):
        self.rng, self.n = rng, int(n)

    def next_step(self) -> None:
        pass

    def normal(self, width: int):
        be = get_backend()
        return be.asarray(self.rng.standard_normal((self.n, width)))

    def uniform(self, width: int | None = None):
        be = get_backend()
        return be.asarray(self.rng.random(self.n if width is None else (self.n, width)))

    def shared_integer(self, low: int, high: int) -> int:
        """One integer in ``[low, high]`` for every chain."""
        return int(self.rng.integers(low, high + 1))


class ChainDraws:
    """The numbers of chains ``c0..c1-1`` at the current step, addressed by position
    (:func:`minigen.parallel.chain_uniforms`): step ``t`` uses streams
    ``t * SLOTS + slot`` (the k-th call of a step takes slot k)."""

    def __init__(self, seed: int, c0: int, c1: int):
        self.seed, self.c0, self.c1 = int(seed), int(c0), int(c1)
        self.step, self.slot = -1, 0

    def next_step(self) -> None:
        self.step += 1
        self.slot = 0

    def _stream(self) -> int:
        if self.slot >= SLOTS:
            raise RuntimeError(f"a transition step asked for more than {SLOTS} draws")
        s = self.step * SLOTS + self.slot
        self.slot += 1
        return s

    def normal(self, width: int):

        return get_backend().asarray(
            chain_normals(self.seed, self._stream(), self.c0, self.c1, width))

    def uniform(self, width: int | None = None):

        u = chain_uniforms(self.seed, self._stream(), self.c0, self.c1, width or 1)
        return get_backend().asarray(u[:, 0] if width is None else u)

    def shared_integer(self, low: int, high: int) -> int:
        """One integer in ``[low, high]`` for every chain of the run: addressed by the step
        alone (chain 0's uniform), so every block of chains draws the same one."""

        u = float(chain_uniforms(self.seed, self._stream(), 0, 1, 1)[0, 0])
        return int(low + np.floor(u * (high - low + 1)))
