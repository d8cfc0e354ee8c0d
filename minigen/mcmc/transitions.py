r"""Markov transitions: each a short class whose ``step`` moves every chain once.

A transition leaves the target :math:`\pi(x) \propto e^{-E(x)}` invariant (ULA only
approximately). ``start(x) -> state`` evaluates what the step needs at the initial states
(and checks the user's callables there); ``step(state, draws) -> (state, accepted)``
moves the chains, taking its random numbers from ``draws`` (:mod:`.draws`). The runner,
:func:`minigen.mcmc.run_chains`, owns burn-in, thinning, many chains and diagnostics.

* :class:`RandomWalk`: :math:`x' = x + \sigma L z`, accepted with probability
  :math:`\min(1, e^{E(x) - E(x')})` (symmetric proposal).
* :class:`ULA`: :math:`x' = x - \tfrac\epsilon2 \nabla E(x) + \sqrt\epsilon z`, always
  accepted (bias :math:`O(\epsilon)`); the fused kernel :func:`minigen.kernels.langevin_step`.
* :class:`MALA`: the ULA proposal plus the Metropolis-Hastings test with
  :math:`q(x'\mid x) = N(x - \tfrac\epsilon2\nabla E(x), \epsilon I)`: exact; the accept
  test is the kernel :func:`minigen.kernels.mala_step`.
* :class:`PreconditionedMALA`: proposal and test with :math:`A(x) = H(x)^{-1}`, the
  eigenvalue-clipped inverse Hessian (simplified manifold MALA; exact).
* :class:`HMC`: a momentum :math:`p \sim N(0, I)`, ``L`` leapfrog steps, accepted with
  :math:`\min(1, e^{H_0 - H_1})`, :math:`H = E(x) + \tfrac12\lVert p\rVert^2`.

Proposals with energy NaN or :math:`\pm\infty` are rejected (zero density, or a point a
chain would never leave); a non-finite gradient raises ``FloatingPointError`` instead of
returning NaN samples.

References: Roberts & Tweedie, Bernoulli 2 (1996); Girolami & Calderhead, JRSS-B 73
(2011); Neal, "MCMC using Hamiltonian dynamics" (2011).
"""

from __future__ import annotations

import numpy as np

from .._validation import check_array, check_positive_float, check_positive_int
from ..backend import get_backend
from ..kernels.langevin import langevin_step, mala_step
from ._base import check_finite, check_output, initial_energy, initial_grad

__all__ = ["Transition", "RandomWalk", "ULA", "MALA", "PreconditionedMALA", "HMC",
           "clipped_inverse"]


def _finite_or_inf(xp, e):
    """Energies of proposals: NaN and -inf become +inf (rejected)."""
    return xp.where(xp.isfinite(e), e, xp.inf)


class Transition:
    """Base class: ``start(x) -> state`` and ``step(state, draws) -> (state, accepted)``.

    ``state`` is a dict holding at least ``"x"`` (n_chains, D); ``accepted`` is a boolean
    (n_chains,) array (all True for a transition without an accept test).
    """

    name = "MCMC"

    def start(self, x) -> dict:
        return {"x": x}

    def step(self, state: dict, draws):  # pragma: no cover - abstract
        raise NotImplementedError

    def info(self) -> dict:
        """What the result records about this transition (step size, ...)."""
        return {}


class RandomWalk(Transition):
    r"""Gaussian random walk Metropolis: :math:`x' = x + \sigma L z`, ``L`` the Cholesky
    factor of ``proposal_cov`` (identity when ``None``)."""

    name = "Metropolis"

    def __init__(self, energy, step_size: float = 0.5, proposal_cov=None):
        self.energy = energy
        self.step_size = check_positive_float(step_size, "step_size")
        self.proposal_cov = proposal_cov

    def start(self, x):
        d = x.shape[1]
        L = None
        if self.proposal_cov is not None:
            C = check_array(self.proposal_cov, "proposal_cov", shape=(d, d))
            L = get_backend().xp.asarray(
                np.linalg.cholesky(get_backend().to_numpy(C).astype(np.float64)))
        return {"x": x, "e": initial_energy(self.energy, x), "L": L}

    def step(self, s, draws):
        xp = get_backend().xp
        x, d = s["x"], s["x"].shape[1]
        z = draws.normal(d)
        if s["L"] is not None:
            z = z @ s["L"].T
        xn = x + self.step_size * z
        en = _finite_or_inf(xp, self.energy(xn))
        accept = xp.log(draws.uniform()) < (s["e"] - en)  # log u < E(x) - E(x')
        s["x"] = xp.where(accept[:, None], xn, x)
        s["e"] = xp.where(accept, en, s["e"])
        return s, accept

    def info(self):
        return {"step_size": self.step_size}


class ULA(Transition):
    r"""Unadjusted Langevin: :math:`x' = x - \tfrac\epsilon2\nabla E(x) + \sqrt\epsilon z`.

    ``bounds``: optional ``(lo, hi)`` arrays; each step is clipped to the box (a projected
    chain, as :class:`minigen.models.NeuralEBM` uses on its support). ``check=False`` skips
    the gradient's finiteness check (a caller that checks the samples itself).
    """

    name = "ULA"

    def __init__(self, grad, step_size: float = 0.1, bounds=None, check: bool = True):
        self.grad = grad
        self.step_size = check_positive_float(step_size, "step_size")
        self.bounds, self.check = bounds, check

    def start(self, x):
        g = initial_grad(self.grad, x) if self.check else self.grad(x)
        return {"x": x, "g": g}

    def step(self, s, draws):

        xp = get_backend().xp
        xn = langevin_step(s["x"], s["g"], self.step_size, noise=draws.normal(s["x"].shape[1]),
                           check_finite=False)
        if self.bounds is not None:
            xn = xp.clip(xn, self.bounds[0], self.bounds[1], out=xn)
        g = self.grad(xn)
        if self.check:
            check_finite(g, "energy gradient", 0)
        s["x"], s["g"] = xn, g
        return s, xp.ones(xn.shape[0], dtype=bool)

    def info(self):
        return {"step_size": self.step_size, "method": "ula"}


class MALA(Transition):
    r"""Metropolis-adjusted Langevin: the :class:`ULA` proposal, accepted with probability
    :math:`\min(1, \frac{\pi(x') q(x \mid x')}{\pi(x) q(x' \mid x)})` by the fused kernel
    :func:`minigen.kernels.mala_step` (``log_alpha`` in float64)."""

    name = "MALA"

    def __init__(self, energy, grad, step_size: float = 0.1):
        self.energy, self.grad = energy, grad
        self.step_size = check_positive_float(step_size, "step_size")

    def start(self, x):
        return {"x": x, "e": initial_energy(self.energy, x), "g": initial_grad(self.grad, x)}

    def step(self, s, draws):

        xp = get_backend().xp
        x, g, e = s["x"], s["g"], s["e"]
        xn = langevin_step(x, g, self.step_size, noise=draws.normal(x.shape[1]),
                           check_finite=False)
        gn = self.grad(xn)
        check_finite(gn, "energy gradient", 0)
        en = _finite_or_inf(xp, self.energy(xn))
        r = mala_step(x, xn, g, gn, e, en, self.step_size, uniforms=draws.uniform())
        s["x"], s["g"], s["e"] = r.x, r.grad, r.energy
        return s, r.accepted

    def info(self):
        return {"step_size": self.step_size, "method": "mala"}


def clipped_inverse(H, min_eig: float = 1e-3, max_eig: float = 1e6):
    """``(A, A^{1/2}, A^{-1}, log det A)`` for ``A = H^{-1}`` with the eigenvalues of the
    symmetrized ``H`` (n, D, D) clipped to ``[min_eig, max_eig]`` (positive definite)."""
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


def _log_q(xp, x_to, x_from, g_from, eps, P):
    r""":math:`\log N(x_{to}; x_{from} - \tfrac\epsilon2 A g, \epsilon A)` up to a constant
    shared by both directions; ``P`` is :func:`clipped_inverse` at ``x_from``."""
    A, _, A_inv, logdet = P
    m = x_from - 0.5 * eps * xp.einsum("nij,nj->ni", A, g_from)
    r = x_to - m
    return -0.5 * logdet - 0.5 / eps * xp.einsum("ni,nij,nj->n", r, A_inv, r)


class PreconditionedMALA(Transition):
    r"""MALA with the position-dependent preconditioner :math:`A(x) = H(x)^{-1}` (the
    energy's Hessian, eigenvalues clipped to ``[min_eig, max_eig]``):
    :math:`x' = x - \tfrac\epsilon2 A(x)\nabla E(x) + \sqrt\epsilon A(x)^{1/2} z`, and the
    Metropolis-Hastings test with :math:`q(x'\mid x) = N(\cdot, \epsilon A(x))` (the
    dependence of :math:`A` on :math:`x` enters through both directions: exact).
    ``hessian``: a callable ``(n, D) -> (n, D, D)`` or a constant ``(D, D)`` array."""

    name = "preconditioned MALA"

    def __init__(self, energy, grad, hessian, step_size: float = 0.1, min_eig: float = 1e-3,
                 max_eig: float = 1e6):
        if hessian is None:
            raise ValueError("the preconditioned sampler needs hessian (a callable or a "
                             "(D, D) array)")
        self.energy, self.grad, self.hessian = energy, grad, hessian
        self.step_size = check_positive_float(step_size, "step_size")
        self.min_eig, self.max_eig = min_eig, max_eig

    def _precond(self, x, first=False):
        xp = get_backend().xp
        n, d = x.shape
        if callable(self.hessian):
            H = self.hessian(x)
        else:
            H = xp.broadcast_to(xp.asarray(check_array(self.hessian, "hessian", shape=(d, d))),
                                (n, d, d))
        if first:
            H = check_output(H, "hessian", (n, d, d), x)
        check_finite(H, "energy Hessian", 0)
        return clipped_inverse(H, self.min_eig, self.max_eig)

    def start(self, x):
        return {"x": x, "e": initial_energy(self.energy, x), "g": initial_grad(self.grad, x),
                "P": self._precond(x, first=True)}

    def step(self, s, draws):
        xp = get_backend().xp
        x, g, e, P = s["x"], s["g"], s["e"], s["P"]
        eps = self.step_size
        z = draws.normal(x.shape[1])
        xn = x - 0.5 * eps * xp.einsum("nij,nj->ni", P[0], g) + np.sqrt(eps) * xp.einsum(
            "nij,nj->ni", P[1], z)
        gn = self.grad(xn)
        check_finite(gn, "energy gradient", 0)
        en = _finite_or_inf(xp, self.energy(xn))
        Pn = self._precond(xn)
        log_a = e - en + _log_q(xp, x, xn, gn, eps, Pn) - _log_q(xp, xn, x, g, eps, P)
        accept = xp.log(draws.uniform()) < xp.where(xp.isfinite(en), log_a, -xp.inf)
        a1, a2, a3 = accept, accept[:, None], accept[:, None, None]
        s["x"], s["g"], s["e"] = xp.where(a2, xn, x), xp.where(a2, gn, g), xp.where(a1, en, e)
        s["P"] = tuple(xp.where(a3, pn, po) for pn, po in zip(Pn[:3], P[:3], strict=True)) + (
            xp.where(a1, Pn[3], P[3]),)
        return s, accept

    def info(self):
        return {"step_size": self.step_size, "method": "precond"}


class HMC(Transition):
    r"""Hamiltonian Monte Carlo with a unit mass matrix: ``n_leapfrog`` leapfrog steps of
    size :math:`\epsilon` (with ``jitter``, a number drawn from ``1..n_leapfrog`` each
    transition, shared by all chains), accepted with :math:`\min(1, e^{H_0 - H_1})`."""

    name = "HMC"

    def __init__(self, energy, grad, step_size: float = 0.1, n_leapfrog: int = 10,
                 jitter: bool = True):
        self.energy, self.grad = energy, grad
        self.step_size = check_positive_float(step_size, "step_size")
        self.n_leapfrog = check_positive_int(n_leapfrog, "n_leapfrog")
        self.jitter = bool(jitter)

    def start(self, x):
        return {"x": x, "e": initial_energy(self.energy, x), "g": initial_grad(self.grad, x)}

    def step(self, s, draws):
        xp = get_backend().xp
        eps, x0, g0 = self.step_size, s["x"], s["g"]
        p = draws.normal(x0.shape[1])
        h0 = s["e"] + 0.5 * (p * p).sum(axis=1)
        L = draws.shared_integer(1, self.n_leapfrog) if self.jitter else self.n_leapfrog
        x, gx = x0, g0
        p = p - 0.5 * eps * gx  # half step of momentum, then L position steps
        for i in range(L):
            x = x + eps * p
            gx = self.grad(x)
            check_finite(gx, "energy gradient", 0)
            p = p - (eps if i < L - 1 else 0.5 * eps) * gx
        en = self.energy(x)
        h1 = en + 0.5 * (p * p).sum(axis=1)
        log_a = xp.where(xp.isfinite(h1), h0 - h1, -xp.inf)
        accept = xp.log(draws.uniform()) < log_a
        s["x"] = xp.where(accept[:, None], x, x0)
        s["g"] = xp.where(accept[:, None], gx, g0)
        s["e"] = xp.where(accept, en, s["e"])
        return s, accept

    def info(self):
        return {"step_size": self.step_size, "n_leapfrog": self.n_leapfrog}
