r"""Langevin samplers: ULA, MALA and Hessian-preconditioned MALA.

The (overdamped) Langevin proposal with step :math:`\epsilon` and
preconditioner :math:`A` (default :math:`I`) is

.. math::  x' = x - \tfrac{\epsilon}{2} A \nabla E(x) + \sqrt{\epsilon}\, A^{1/2} z,
           \qquad z \sim N(0, I).

*ULA* accepts every proposal (biased by :math:`O(\epsilon)`); *MALA* adds the
Metropolis-Hastings test with the Gaussian proposal density
:math:`q(x' \mid x) = N(x'; x - \tfrac{\epsilon}{2} A(x)\nabla E(x), \epsilon A(x))`,
which makes the chain exact. The *preconditioned* variant uses
:math:`A(x) = H(x)^{-1}` from the Hessian of the energy, made positive definite
by clipping its eigenvalues to ``[min_eig, max_eig]`` (simplified manifold MALA;
the position dependence of :math:`A` enters the acceptance ratio through
:math:`q`, so the chain stays exact).

A non-finite energy gradient raises :class:`FloatingPointError` instead of
silently producing NaN samples.

References: Roberts & Tweedie, Bernoulli 2 (1996); Girolami & Calderhead,
JRSS-B 73 (2011).
"""

from __future__ import annotations

import numpy as np

from .._validation import check_array, check_positive_float
from ..backend import get_backend
from ..random import normals, uniforms
from ._base import (
    MCMCResult,
    as_rng,
    check_finite,
    check_output,
    check_schedule,
    check_x0,
    initial_energy,
    initial_grad,
    run_chain,
)


def _log_q(xp, x_to, x_from, g_from, eps, A_from=None, Ainv_from=None, logdet_from=None):
    """log N(x_to; x_from - eps/2 A grad, eps A) up to constants shared by both directions."""
    if A_from is None:
        r = x_to - x_from + 0.5 * eps * g_from
        return -(r * r).sum(axis=1) / (2 * eps)
    mean = x_from - 0.5 * eps * xp.einsum("nij,nj->ni", A_from, g_from)
    r = x_to - mean
    quad = xp.einsum("ni,nij,nj->n", r, Ainv_from, r)
    return -quad / (2 * eps) - 0.5 * logdet_from


def clipped_inverse(H, min_eig: float = 1e-3, max_eig: float = 1e6):
    r"""For Hessians ``H`` (n, D, D): :math:`A = H^{-1}`, :math:`A^{1/2}`, :math:`A^{-1}`
    and :math:`\log\det A`, after clipping the eigenvalues of ``H`` to
    ``[min_eig, max_eig]`` (a positive-definite approximation)."""
    xp = get_backend().xp
    Hs = 0.5 * (H + xp.swapaxes(H, -1, -2))
    lam, V = xp.linalg.eigh(Hs)
    lam = xp.clip(lam, min_eig, max_eig)
    Vt = xp.swapaxes(V, -1, -2)
    A = (V / lam[:, None, :]) @ Vt
    A_half = (V / xp.sqrt(lam)[:, None, :]) @ Vt
    A_inv = (V * lam[:, None, :]) @ Vt
    logdet = -xp.log(lam).sum(axis=1)
    return A, A_half, A_inv, logdet


def langevin(energy, grad, x0, n_samples: int, *, step_size: float = 0.1,
             method: str = "mala", hessian=None, min_eig: float = 1e-3,
             max_eig: float = 1e6, burn_in: int = 500, thin: int = 1,
             random_state=None, verbose: bool = True) -> MCMCResult:
    r"""Langevin sampling of :math:`e^{-E}` with many chains.

    Parameters
    ----------
    energy : callable or None
        ``energy(x (n, D)) -> (n,)``; needed for ``"mala"`` and ``"precond"``. May
        return +inf (or NaN) at proposals (zero density: rejected), but must be finite
        at ``x0``. The shapes returned by ``energy``, ``grad`` and ``hessian`` are
        checked at their first call.
    grad : callable
        ``grad(x (n, D)) -> (n, D)``, the gradient of the energy.
    x0 : array (n_chains, D) or (D,)
    method : {"ula", "mala", "precond"}
        ``"precond"`` is MALA preconditioned by the clipped inverse Hessian.
    n_samples : int >= 1
        Draws kept per chain.
    step_size : float > 0
        :math:`\epsilon` in the proposal
        :math:`x' = x - \tfrac{\epsilon}{2} A \nabla E(x) + \sqrt{\epsilon} A^{1/2} z`,
        :math:`z \sim N(0, I)`, with :math:`A = I` (``"ula"``, ``"mala"``) or the clipped
        inverse Hessian (``"precond"``).
    method : {"ula", "mala", "precond"}
        ``"ula"`` accepts every proposal (bias :math:`O(\epsilon)`); ``"mala"`` adds the
        Metropolis-Hastings test (exact); ``"precond"`` is MALA preconditioned by the
        clipped inverse Hessian.
    hessian : callable, optional
        ``hessian(x (n, D)) -> (n, D, D)`` or a constant ``(D, D)`` array
        (required for ``"precond"``).
    min_eig, max_eig : float
        ``"precond"`` only: the Hessian's eigenvalues are clipped to ``[min_eig, max_eig]``
        before inverting (:func:`clipped_inverse`), so :math:`A` is positive definite.
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
        phase (1 for ``"ula"``), ``final_state`` (n_chains, D) and ``info``
        (``step_size``, ``method``).
    """
    from ..kernels.langevin import langevin_step

    xp = get_backend().xp
    if method not in ("ula", "mala", "precond"):
        raise ValueError(f"unknown method {method!r}; choose 'ula', 'mala' or 'precond'")
    eps = check_positive_float(step_size, "step_size")
    n_samples, burn_in, thin = check_schedule(n_samples, burn_in, thin)
    if method != "ula" and energy is None:
        raise ValueError(f"method {method!r} needs the energy function")
    if method == "precond" and hessian is None:
        raise ValueError("method 'precond' needs hessian (a callable or a (D, D) array)")
    x = check_x0(x0)
    rng = as_rng(random_state)
    n, d = x.shape
    sq = float(np.sqrt(eps))

    if method == "precond" and not callable(hessian):
        hessian = check_array(hessian, "hessian", shape=(d, d))

    def precond(x, first=False):
        H = hessian(x) if callable(hessian) else xp.broadcast_to(xp.asarray(hessian), (n, d, d))
        if first:
            H = check_output(H, "hessian", (n, d, d), x)
        check_finite(H, "energy Hessian", 0)
        return clipped_inverse(H, min_eig, max_eig)

    g = initial_grad(grad, x)
    e = initial_energy(energy, x) if energy is not None else None
    P = precond(x, first=True) if method == "precond" else None

    def step(x, it):
        nonlocal g, e, P
        z = normals(rng, (n, d), dtype=np.float64)
        if method == "precond":
            A, A_half, A_inv, logdet = P
            xn = x - 0.5 * eps * xp.einsum("nij,nj->ni", A, g) + sq * xp.einsum(
                "nij,nj->ni", A_half, z)
        else:  # fused ULA proposal kernel of the active backend
            xn = langevin_step(x, g, eps, noise=z, check_finite=False)
        gn = grad(xn)
        check_finite(gn, "energy gradient", it + 1)
        if method == "ula":
            g = gn
            return xn, xp.ones(n, dtype=bool)
        en = energy(xn)
        en = xp.where(xp.isnan(en), xp.inf, en)
        if method == "mala":
            log_fwd = _log_q(xp, xn, x, g, eps)
            log_bwd = _log_q(xp, x, xn, gn, eps)
        else:
            Pn = precond(xn)
            log_fwd = _log_q(xp, xn, x, g, eps, P[0], P[2], P[3])
            log_bwd = _log_q(xp, x, xn, gn, eps, Pn[0], Pn[2], Pn[3])
        log_a = e - en + log_bwd - log_fwd
        u = uniforms(rng, (n,), dtype=np.float64)
        accept = xp.log(u) < xp.where(xp.isfinite(en), log_a, -xp.inf)
        x = xp.where(accept[:, None], xn, x)
        g = xp.where(accept[:, None], gn, g)
        e = xp.where(accept, en, e)
        if method == "precond":
            a3 = accept[:, None, None]
            P = tuple(xp.where(a3, pn, po) for pn, po in zip(Pn[:3], P[:3], strict=True)) + (
                xp.where(accept, Pn[3], P[3]),)
        return x, accept

    samples, rate, x = run_chain(step, x, n_samples, burn_in, thin, verbose, method)
    return MCMCResult(samples, rate, x, {"step_size": eps, "method": method})


def ula(grad, x0, n_samples, **kw) -> MCMCResult:
    """Unadjusted Langevin algorithm (no accept step; bias :math:`O(\\epsilon)`)."""
    return langevin(None, grad, x0, n_samples, method="ula", **kw)


def mala(energy, grad, x0, n_samples, **kw) -> MCMCResult:
    """Metropolis-adjusted Langevin algorithm (exact)."""
    return langevin(energy, grad, x0, n_samples, method="mala", **kw)


def preconditioned_langevin(energy, grad, hessian, x0, n_samples, **kw) -> MCMCResult:
    """MALA preconditioned by the eigenvalue-clipped inverse Hessian (exact)."""
    return langevin(energy, grad, x0, n_samples, method="precond", hessian=hessian, **kw)
