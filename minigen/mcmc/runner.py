"""The one chain runner: burn-in, thinning, many chains, blocks of chains on an executor.

:func:`run_chains` drives any :class:`~minigen.mcmc.transitions.Transition`. Chains run in
blocks of ``block_size``; a block's random numbers are addressed by (seed, step, chain)
(:class:`~minigen.mcmc.draws.ChainDraws`) and its shape depends on ``block_size`` only,
so with ``executor=`` (any ``concurrent.futures.Executor``, e.g. a Dask cluster's; see
:mod:`minigen.parallel`) the samples are bit-identical to ``executor=None``.
"""

from __future__ import annotations

from .._progress import progress
from .._validation import check_positive_int
from ..backend import get_backend, use_backend
from ..parallel import fixed_blocks, map_ordered, seed_from
from ._base import MCMCResult, check_x0
from .draws import ChainDraws

__all__ = ["run_chains"]


def _run_block(transition, x0, seed, c0, n_samples, burn_in, thin, backend, verbose):
    """One block of chains (a task): ``(samples, acceptance rate, final state)``."""
    with use_backend(backend) as be:
        xp = be.xp
        x = be.asarray(x0)
        n, d = x.shape
        state = transition.start(x)
        draws = ChainDraws(seed, c0, c0 + n)
        out = xp.empty((n, n_samples, d), dtype=x.dtype)
        acc = xp.zeros(n, dtype=xp.float64)
        total = burn_in + n_samples * thin
        bar = progress(total, transition.name, verbose, unit="step")
        for t in range(total):
            draws.next_step()
            try:
                state, accepted = transition.step(state, draws)
            except FloatingPointError as exc:
                raise FloatingPointError(f"{exc} (at iteration {t})") from None
            bar.update(1)
            if t >= burn_in:
                acc += accepted
                j = t - burn_in
                if (j + 1) % thin == 0:
                    out[:, j // thin, :] = state["x"]
        bar.close()
        return out, acc / max(1, total - burn_in), state["x"]


def run_chains(transition, x0, n_samples: int, *, burn_in: int = 0, thin: int = 1,
               random_state=None, block_size: int = 256, executor=None,
               verbose: bool = True) -> MCMCResult:
    """Run one chain per row of ``x0`` with ``transition``; keep ``n_samples`` draws each.

    Parameters
    ----------
    transition : Transition
        What one step does (:mod:`minigen.mcmc.transitions`).
    x0 : array (n_chains, D) or (D,)
        Initial states (float64), one chain per row.
    n_samples : int >= 1
        Draws kept per chain.
    burn_in : int >= 0
        Transitions run and discarded before the first kept draw.
    thin : int >= 1
        Keep every ``thin``-th transition after ``burn_in``: ``burn_in + n_samples * thin``
        transitions in all.
    random_state : None, int, Generator, ...
        The run's seed (an int is used as is; anything else gives one draw): every random
        number of chain ``c`` at step ``t`` is addressed by (seed, t, c).
    block_size : int >= 1
        Chains per block (a task with an executor). Blocks fix the shapes the user's
        energy and gradient see, so they are part of the run's definition.
    executor : concurrent.futures.Executor, optional
        Runs the blocks on it; the result is bit-identical to ``executor=None``. The
        transition (with the user's callables) is pickled to the workers.
    verbose : bool
        Progress bar over the steps when the run takes more than a second.

    Returns
    -------
    MCMCResult
        ``samples`` (n_chains, n_samples, D), per-chain ``acceptance_rate`` over the kept
        phase (1 without an accept test), ``final_state``, ``info`` (the transition's
        settings, ``seed``, ``block_size``); ``effective_sample_size()`` and
        ``split_rhat()`` give the diagnostics.
    """

    n_samples = check_positive_int(n_samples, "n_samples")
    burn_in = check_positive_int(burn_in, "burn_in", allow_zero=True)
    thin = check_positive_int(thin, "thin")
    block_size = check_positive_int(block_size, "block_size")
    x = check_x0(x0)
    be = get_backend()
    if executor is not None and be.is_gpu:
        raise ValueError("executor= fans chains out to CPU workers; on the cupy backend run "
                         "them on the device (executor=None)")
    seed = seed_from(random_state)
    blocks = fixed_blocks(x.shape[0], block_size)
    host = be.to_numpy(x) if executor is not None else x
    show = verbose and executor is None and len(blocks) == 1
    parts = map_ordered(executor, _run_block, [
        (transition, host[c0:c1], seed, c0, n_samples, burn_in, thin, be.name, show)
        for c0, c1 in blocks])
    xp = be.xp
    samples, acc, final = (xp.concatenate([be.asarray(p[i]) for p in parts])
                           for i in range(3))
    return MCMCResult(samples, acc, final, {**transition.info(), "seed": seed,
                                            "block_size": block_size})


