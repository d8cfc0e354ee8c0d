r"""Random-walk Metropolis-Hastings for a differentiable-or-not energy.

Target :math:`\pi(x) \propto e^{-E(x)}`; proposal
:math:`x' = x + \sigma L z`, :math:`z \sim N(0, I)` (symmetric), accepted with
probability :math:`\min(1, e^{E(x) - E(x')})`. Many chains run in parallel.

References: Metropolis et al. (1953); Hastings (1970).
"""

from __future__ import annotations

import numpy as np

from .._validation import check_array, check_positive_float
from ..backend import get_backend
from ..random import normals, uniforms
from ._base import MCMCResult, as_rng, check_schedule, check_x0, initial_energy, run_chain


def random_walk_metropolis(energy, x0, n_samples: int, *, step_size: float = 0.5,
                           proposal_cov=None, burn_in: int = 500, thin: int = 1,
                           random_state=None, verbose: bool = True) -> MCMCResult:
    """Sample :math:`e^{-E}` with Gaussian random-walk proposals.

    Parameters
    ----------
    energy : callable
        ``energy(x (n_chains, D)) -> (n_chains,)``. May return +inf (or NaN) at
        proposals (zero density: rejected), but must be finite at ``x0``; the output
        shape is checked at the first call.
    x0 : array, shape (n_chains, D) or (D,)
        Initial states; one chain per row.
    n_samples : int
        Draws kept per chain (after ``burn_in`` steps, every ``thin``-th step).
    step_size : float
        Proposal scale :math:`\\sigma`.
    proposal_cov : array (D, D), optional
        Proposal covariance shape (its Cholesky factor multiplies the noise).
    burn_in : int >= 0
        Transitions run and discarded before the first kept draw (default 500).
    thin : int >= 1
        Keep every ``thin``-th transition after ``burn_in``: ``burn_in + n_samples * thin``
        transitions in all.
    random_state : None, int or numpy.random.Generator
        Source of every random draw (noise, accept tests; see
        :func:`minigen.random.check_random_state`).
    verbose : bool
        Progress bar over the steps when the run takes more than a second.

    Returns
    -------
    MCMCResult
        ``samples`` (n_chains, n_samples, D), per-chain ``acceptance_rate`` over the kept
        phase, ``final_state`` (n_chains, D) and ``info`` (``step_size``).
    """
    xp = get_backend().xp
    step_size = check_positive_float(step_size, "step_size")
    n_samples, burn_in, thin = check_schedule(n_samples, burn_in, thin)
    x = check_x0(x0)
    rng = as_rng(random_state)
    n, d = x.shape
    L = None
    if proposal_cov is not None:
        C = check_array(proposal_cov, "proposal_cov", shape=(d, d))
        L = xp.asarray(np.linalg.cholesky(get_backend().to_numpy(C).astype(np.float64)))
    e = initial_energy(energy, x)

    def step(x, it):
        nonlocal e
        z = normals(rng, (n, d), dtype=np.float64)
        if L is not None:
            z = z @ L.T
        xn = x + step_size * z
        en = energy(xn)
        # NaN or -inf energy: reject, as in MALA and HMC (a -inf state would trap the chain)
        en = xp.where(xp.isfinite(en), en, xp.inf)
        u = uniforms(rng, (n,), dtype=np.float64)
        accept = xp.log(u) < (e - en)
        x = xp.where(accept[:, None], xn, x)
        e = xp.where(accept, en, e)
        return x, accept

    samples, rate, x = run_chain(step, x, n_samples, burn_in, thin, verbose, "Metropolis")
    return MCMCResult(samples, rate, x, {"step_size": step_size})
