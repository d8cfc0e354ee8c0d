r"""The samplers as functions: a transition (:mod:`.transitions`) run by :func:`run_chains`.

Every function takes the energy :math:`E` of the target :math:`\propto e^{-E}` (and its
gradient where the transition needs it), initial states ``x0`` (one chain per row), and the
runner's arguments: ``n_samples``, ``burn_in``, ``thin``, ``random_state``, ``block_size``,
``executor``, ``verbose`` (documented once, in :func:`run_chains`). The user's ``energy``
(``(n, D) -> (n,)``), ``grad`` (like ``x``) and ``hessian`` (``(n, D, D)``) outputs are
checked at their first call; the energy must be finite at ``x0``.
"""

from __future__ import annotations

from .runner import run_chains
from .transitions import HMC, MALA, ULA, PreconditionedMALA, RandomWalk

__all__ = ["random_walk_metropolis", "ula", "mala", "preconditioned_langevin", "langevin",
           "hmc"]


def random_walk_metropolis(energy, x0, n_samples: int, *, step_size: float = 0.5,
                           proposal_cov=None, burn_in: int = 500, **run):
    """Gaussian random-walk Metropolis (:class:`~.transitions.RandomWalk`): proposal scale
    ``step_size``, optional ``proposal_cov`` (D, D) shaping the noise."""
    return run_chains(RandomWalk(energy, step_size, proposal_cov), x0, n_samples,
                      burn_in=burn_in, **run)


def ula(grad, x0, n_samples: int, *, step_size: float = 0.1, burn_in: int = 500, **run):
    """Unadjusted Langevin (:class:`~.transitions.ULA`): no accept step, bias
    :math:`O(\\epsilon)`."""
    return run_chains(ULA(grad, step_size), x0, n_samples, burn_in=burn_in, **run)


def mala(energy, grad, x0, n_samples: int, *, step_size: float = 0.1, burn_in: int = 500,
         **run):
    """Metropolis-adjusted Langevin (:class:`~.transitions.MALA`): exact."""
    return run_chains(MALA(energy, grad, step_size), x0, n_samples, burn_in=burn_in, **run)


def preconditioned_langevin(energy, grad, hessian, x0, n_samples: int, *,
                            step_size: float = 0.1, min_eig: float = 1e-3,
                            max_eig: float = 1e6, burn_in: int = 500, **run):
    """MALA preconditioned by the eigenvalue-clipped inverse Hessian
    (:class:`~.transitions.PreconditionedMALA`): exact."""
    return run_chains(PreconditionedMALA(energy, grad, hessian, step_size, min_eig, max_eig),
                      x0, n_samples, burn_in=burn_in, **run)


def langevin(energy, grad, x0, n_samples: int, *, method: str = "mala", hessian=None,
             **kw):
    """:func:`ula`, :func:`mala` or :func:`preconditioned_langevin` by ``method``
    (``"ula"``, ``"mala"``, ``"precond"``)."""
    if method == "ula":
        return ula(grad, x0, n_samples, **kw)
    if method == "mala":
        return mala(energy, grad, x0, n_samples, **kw)
    if method == "precond":
        return preconditioned_langevin(energy, grad, hessian, x0, n_samples, **kw)
    raise ValueError(f"unknown method {method!r}; choose 'ula', 'mala' or 'precond'")


def hmc(energy, grad, x0, n_samples: int, *, step_size: float = 0.1, n_leapfrog: int = 10,
        jitter: bool = True, burn_in: int = 200, **run):
    """Hamiltonian Monte Carlo (:class:`~.transitions.HMC`): ``n_leapfrog`` leapfrog steps
    of ``step_size`` (a number from ``1..n_leapfrog`` with ``jitter``)."""
    return run_chains(HMC(energy, grad, step_size, n_leapfrog, jitter), x0, n_samples,
                      burn_in=burn_in, **run)
