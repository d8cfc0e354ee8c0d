r"""Hamiltonian Monte Carlo with the leapfrog integrator, many chains at once.

Hamiltonian :math:`H(x, p) = E(x) + \tfrac12 p^\top M^{-1} p` with identity mass
:math:`M = I`. One transition draws :math:`p \sim N(0, I)`, runs ``n_leapfrog``
leapfrog steps of size :math:`\epsilon`

.. math:: p \leftarrow p - \tfrac{\epsilon}{2}\nabla E(x),\quad
          x \leftarrow x + \epsilon p,\quad p \leftarrow p - \tfrac{\epsilon}{2}\nabla E(x),

and accepts with probability :math:`\min(1, e^{H(x,p) - H(x',p')})`.
The number of leapfrog steps can be jittered (uniform in ``[1, n_leapfrog]``) to
avoid periodic orbits.

References: Duane et al., Phys. Lett. B 195 (1987); Neal, "MCMC using
Hamiltonian dynamics" (2011).
"""

from __future__ import annotations

import numpy as np

from .._validation import check_positive_float, check_positive_int
from ..backend import get_backend
from ..random import normals, uniforms
from ._base import (
    MCMCResult,
    as_rng,
    check_finite,
    check_schedule,
    check_x0,
    initial_energy,
    initial_grad,
    run_chain,
)


def hmc(energy, grad, x0, n_samples: int, *, step_size: float = 0.1, n_leapfrog: int = 10,
        jitter: bool = True, burn_in: int = 200, thin: int = 1,
        random_state=None, verbose: bool = True) -> MCMCResult:
    r"""HMC sampling of :math:`e^{-E}`.

    Parameters
    ----------
    energy : callable ``(n, D) -> (n,)``
        May return +inf (or NaN) at proposals (zero density: rejected), but must be
        finite at ``x0``; the output shapes are checked at the first call.
    grad : callable ``(n, D) -> (n, D)``
    x0 : array (n_chains, D) or (D,)
        Initial states (float64); one chain per row.
    n_samples : int >= 1
        Draws kept per chain.
    step_size : float > 0
        Leapfrog step :math:`\epsilon`.
    n_leapfrog : int >= 1
        Leapfrog steps per transition (the maximum when ``jitter``).
    jitter : bool
        Draw the number of leapfrog steps of each transition uniformly from
        ``1..n_leapfrog`` (one draw shared by all chains) instead of always ``n_leapfrog``.
    burn_in : int >= 0
        Transitions run and discarded before the first kept draw (default 200).
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
        phase, ``final_state`` (n_chains, D) and ``info`` (``step_size``, ``n_leapfrog``).
    """
    xp = get_backend().xp
    eps = check_positive_float(step_size, "step_size")
    n_leapfrog = check_positive_int(n_leapfrog, "n_leapfrog")
    n_samples, burn_in, thin = check_schedule(n_samples, burn_in, thin)
    x = check_x0(x0)
    rng = as_rng(random_state)
    n, d = x.shape
    e = initial_energy(energy, x)
    g = initial_grad(grad, x)

    def step(x0_, it):
        nonlocal e, g
        p = normals(rng, (n, d), dtype=np.float64)
        h0 = e + 0.5 * (p * p).sum(axis=1)
        L = int(rng.integers(1, n_leapfrog + 1)) if jitter else n_leapfrog
        x, gx = x0_, g
        p = p - 0.5 * eps * gx
        for i in range(L):
            x = x + eps * p
            gx = grad(x)
            check_finite(gx, "energy gradient", it)
            p = p - (eps if i < L - 1 else 0.5 * eps) * gx
        en = energy(x)
        h1 = en + 0.5 * (p * p).sum(axis=1)
        log_a = xp.where(xp.isfinite(h1), h0 - h1, -xp.inf)
        u = uniforms(rng, (n,), dtype=np.float64)
        accept = xp.log(u) < log_a
        xn = xp.where(accept[:, None], x, x0_)
        g = xp.where(accept[:, None], gx, g)
        e = xp.where(accept, en, e)
        return xn, accept

    samples, rate, x = run_chain(step, x, n_samples, burn_in, thin, verbose, "HMC")
    return MCMCResult(samples, rate, x, {"step_size": eps, "n_leapfrog": n_leapfrog})
