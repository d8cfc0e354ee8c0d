r"""Langevin kernels: ULA steps, MALA accept test, preconditioned steps, fused multi-step runs.

For a density :math:`p(x) \propto e^{-E(x)}` with step :math:`\epsilon`:

* ULA: :math:`x' = x - \tfrac{\epsilon}{2}\nabla E(x) + \sqrt{\epsilon}\,z`, :math:`z \sim N(0, I)`;
* preconditioned: :math:`x' = x - \tfrac{\epsilon}{2} M \nabla E + \sqrt{\epsilon}\,M^{1/2} z`;
* MALA: propose with ULA, accept with probability :math:`\min(1, \alpha)`,
  :math:`\log\alpha = E(x) - E(x') + \log q(x \mid x') - \log q(x' \mid x)`,
  :math:`\log q(y \mid x) = -\lVert y - x + \tfrac{\epsilon}{2}\nabla E(x)\rVert^2 / (2\epsilon)`.

Every function takes explicit randomness (``noise=`` standard normals, ``uniforms=``) or a
Philox stream ``(seed, offset)``: element ``i`` (C order) of the explicit array is
stream position ``offset + i`` (``philox_normals`` / ``philox_uniforms``).

References: G. O. Roberts, R. L. Tweedie, "Exponential convergence of Langevin
distributions and their discrete approximations", Bernoulli 1996.
"""

from __future__ import annotations

from typing import NamedTuple

from .._validation import check_array, check_positive_float, check_positive_int
from ..backend import check_on_backend, xp_of
from ._dispatch import implementation
from ._stream import check_unit_interval, float_dtype, resolve_stream


def _same(a, name, like, xp, check_finite=True):
    a = check_array(a, name, finite=check_finite)
    if a.shape != like.shape:
        raise ValueError(f"{name} must have shape {like.shape} (like x), got {a.shape}")
    check_on_backend(a, name)
    return xp.ascontiguousarray(a, dtype=like.dtype)


def _x(x, ndim=None):
    x = check_array(x, "x", ndim=ndim)
    xp = xp_of(x)
    check_on_backend(x, "x")
    return xp.ascontiguousarray(x, dtype=float_dtype(x)), xp


def _out(out, x, xp):
    if out is None:
        return xp.empty_like(x)
    if out is x:
        return out
    if getattr(out, "shape", None) != x.shape or getattr(out, "dtype", None) != x.dtype:
        raise ValueError(f"out must have shape {x.shape} and dtype {x.dtype}")
    check_on_backend(out, "out")
    if not out.flags.c_contiguous:
        raise ValueError("out must be C-contiguous")
    return out


def langevin_step(x, grad, step: float, *, noise=None, seed=None, offset: int = 0, out=None,
                  check_finite: bool = True):
    r"""One ULA step :math:`x - \tfrac{\epsilon}{2}\,\mathrm{grad} + \sqrt{\epsilon}\,z`, fused.

    Parameters
    ----------
    x : float array, any shape (float32 or float64; other -> float64)
    grad : array of x's shape, :math:`\nabla E(x)` (finite)
    step : float > 0, :math:`\epsilon`
    noise : array of x's shape, optional, standard normals ``z``
    seed, offset : int, optional
        Philox stream instead of ``noise`` (``z.flat[i]`` = position ``offset + i``; the next
        independent call should use ``offset + x.size``).
    out : array, optional
        Where to write (``out=x`` updates in place; must be C-contiguous with x's dtype).
        To update in place pass a C-contiguous array of float32/float64 as ``x``.
    check_finite : bool
        Check ``grad`` (and ``x``, ``noise``) for NaN/inf (one extra pass over memory).

    Returns
    -------
    The updated array (``out`` if given).
    """
    if out is not None and out is x:
        xin = x
        x, xp = _x(x)
        if x is not xin:
            raise ValueError("in-place update (out=x) needs a C-contiguous float32/float64 x")
    else:
        x = check_array(x, "x", finite=check_finite)
        check_on_backend(x, "x")
        xp = xp_of(x)
        x = xp.ascontiguousarray(x, dtype=float_dtype(x))
    step = check_positive_float(step, "step")
    grad = _same(grad, "grad", x, xp, check_finite)
    out = _out(out, x, xp)
    seed, offset = resolve_stream(noise, "noise", seed, offset, x.size)
    if seed is None:
        noise = _same(noise, "noise", x, xp, check_finite)
        return implementation("langevin", "langevin_step")(x, grad, step, noise, out)
    return implementation("langevin", "langevin_step_philox")(x, grad, step, seed, offset, out)


def preconditioned_langevin_step(x, grad, step: float, *, precond_diag=None, precond_chol=None,
                                 noise=None, seed=None, offset: int = 0, out=None):
    r"""Preconditioned ULA step :math:`x - \tfrac{\epsilon}{2} M g + \sqrt{\epsilon} M^{1/2} z`.

    Parameters
    ----------
    x, grad : (N, D) arrays (rows are chains)
    step : float > 0
    precond_diag : (D,) positive array, ``M = diag(m)`` (fused element-wise), or
    precond_chol : (D, D) lower-triangular ``L`` with positive diagonal, ``M = L L^T``,
        ``M^{1/2} z := L z`` (two matrix products). Exactly one of the two.
    noise / seed, offset / out : as in :func:`langevin_step` (noise shape (N, D)).
    """
    x, xp = _x(x, ndim=2)
    step = check_positive_float(step, "step")
    grad = _same(grad, "grad", x, xp)
    D = x.shape[1]
    if (precond_diag is None) == (precond_chol is None):
        raise ValueError("pass exactly one of precond_diag and precond_chol")
    if precond_diag is not None:
        precond_diag = check_array(precond_diag, "precond_diag", shape=(D,))
        if D and not bool((precond_diag > 0).all()):
            raise ValueError("precond_diag must be positive")
        precond_diag = xp.ascontiguousarray(precond_diag, dtype=x.dtype)
    else:
        L = check_array(precond_chol, "precond_chol", shape=(D, D))
        if D and (bool((xp.triu(L, 1) != 0).any()) or not bool((xp.diagonal(L) > 0).all())):
            raise ValueError("precond_chol must be lower-triangular with a positive diagonal")
        precond_chol = xp.ascontiguousarray(L, dtype=x.dtype)
    out = _out(out, x, xp)
    seed, offset = resolve_stream(noise, "noise", seed, offset, x.size)
    if seed is None:
        noise = _same(noise, "noise", x, xp)
        return implementation("langevin", "preconditioned_langevin_step")(
            x, grad, step, noise, precond_diag, precond_chol, out)
    return implementation("langevin", "preconditioned_langevin_step_philox")(
        x, grad, step, precond_diag, precond_chol, seed, offset, out)


class MALAResult(NamedTuple):
    """Output of :func:`mala_step`: per chain, the proposal where accepted, else the old value.

    x : (N, D) new states; grad : (N, D) their gradients; energy : (N,) their energies;
    accepted : (N,) bool; log_alpha : (N,) log acceptance ratios.
    """

    x: object
    grad: object
    energy: object
    accepted: object
    log_alpha: object


def mala_step(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step: float, *,
              uniforms=None, seed=None, offset: int = 0) -> MALAResult:
    r"""Metropolis-adjusted Langevin accept test, per chain (row).

    Usage: ``x_prop = langevin_step(x, grad_x, step, ...)``; evaluate ``E`` and ``grad E`` at
    ``x_prop``; then ``mala_step(...)`` keeps ``x_prop`` where ``log u < log_alpha``.
    ``log_alpha`` is accumulated in float64 (see module docstring for the formula).

    Parameters
    ----------
    x, x_prop, grad_x, grad_prop : (N, D) arrays
    energy_x, energy_prop : (N,) energies :math:`E = -\log p + \mathrm{const}`
    step : float > 0, the step used for the proposal
    uniforms : (N,) in [0, 1), optional; or ``seed``/``offset`` (position ``offset + n``).
    """
    x, xp = _x(x, ndim=2)
    step = check_positive_float(step, "step")
    x_prop = _same(x_prop, "x_prop", x, xp)
    grad_x = _same(grad_x, "grad_x", x, xp)
    grad_prop = _same(grad_prop, "grad_prop", x, xp)
    N = x.shape[0]
    e = []
    for name, a in (("energy_x", energy_x), ("energy_prop", energy_prop)):
        a = check_array(a, name, shape=(N,), finite=(name == "energy_x"))
        if name == "energy_prop" and a.size and bool(xp.isnan(a).any()):
            raise ValueError("energy_prop contains NaN (+inf is allowed: always rejected)")
        check_on_backend(a, name)
        e.append(xp.ascontiguousarray(a, dtype=x.dtype))
    seed, offset = resolve_stream(uniforms, "uniforms", seed, offset, N)
    if seed is None:
        u = check_array(uniforms, "uniforms", shape=(N,))
        check_on_backend(u, "uniforms")
        u = check_unit_interval(xp.ascontiguousarray(u, dtype=x.dtype), "uniforms")
        r = implementation("langevin", "mala_step")(x, x_prop, grad_x, grad_prop, *e, step, u)
    else:
        r = implementation("langevin", "mala_step_philox")(x, x_prop, grad_x, grad_prop, *e,
                                                          step, seed, offset)
    return MALAResult(*r)


def _steps_noise(noise, n_steps, x, xp, seed, offset):
    seed, offset = resolve_stream(noise, "noise", seed, offset, n_steps * x.size)
    if seed is None:
        noise = check_array(noise, "noise", shape=(n_steps,) + x.shape)
        check_on_backend(noise, "noise")
        noise = xp.ascontiguousarray(noise, dtype=x.dtype)
    return noise, seed, offset


def langevin_run_gmm(x, n_steps: int, step: float, weights, means, scales, *, noise=None,
                     seed=None, offset: int = 0):
    r"""``n_steps`` fused ULA steps on an isotropic Gaussian mixture, state kept per chain.

    :math:`p(x) = \sum_k w_k N(x; \mu_k, s_k^2 I)`; the gradient
    :math:`\nabla E = \sum_k r_k(x)(x - \mu_k)/s_k^2` (responsibilities ``r``) is computed
    in-kernel with a stable log-sum-exp.

    Parameters
    ----------
    x : (N, D) start states; n_steps : int >= 0; step : float > 0
    weights : (K,) positive (normalized here); means : (K, D); scales : (K,) positive
    noise : (n_steps, N, D) normals, optional; or ``seed``/``offset`` (position
        ``offset + (t*N + n)*D + d``; next call: ``offset + n_steps*N*D``).

    Returns
    -------
    (N, D) final states (a new array).
    """
    x, xp = _x(x, ndim=2)
    n_steps = check_positive_int(n_steps, "n_steps", allow_zero=True)
    step = check_positive_float(step, "step")
    means = check_array(means, "means", ndim=2)
    K = means.shape[0]
    if means.shape[1] != x.shape[1] or K == 0:
        raise ValueError(f"means must have shape (K >= 1, {x.shape[1]}), got {means.shape}")
    weights = check_array(weights, "weights", shape=(K,))
    scales = check_array(scales, "scales", shape=(K,))
    if not bool((weights > 0).all()):
        raise ValueError("weights must be positive")
    if not bool((scales > 0).all()):
        raise ValueError("scales must be positive")
    weights = weights / weights.sum()
    weights, means, scales = (xp.ascontiguousarray(a, dtype=x.dtype)
                              for a in (weights, means, scales))
    noise, seed, offset = _steps_noise(noise, n_steps, x, xp, seed, offset)
    if seed is None:
        return implementation("langevin", "langevin_run_gmm")(x, n_steps, step, weights, means,
                                                              scales, noise)
    return implementation("langevin", "langevin_run_gmm_philox")(x, n_steps, step, weights,
                                                                 means, scales, seed, offset)


def langevin_run_quadratic(x, n_steps: int, step: float, A, mu, *, noise=None, seed=None,
                           offset: int = 0):
    r"""``n_steps`` fused ULA steps on :math:`E(x) = \tfrac12 (x-\mu)^T A (x-\mu)`.

    Parameters
    ----------
    x : (N, D); n_steps : int >= 0; step : float > 0
    A : (D, D) symmetric; mu : (D,)
    noise / seed, offset : as in :func:`langevin_run_gmm`.

    Returns
    -------
    (N, D) final states (a new array).
    """
    x, xp = _x(x, ndim=2)
    n_steps = check_positive_int(n_steps, "n_steps", allow_zero=True)
    step = check_positive_float(step, "step")
    D = x.shape[1]
    A = check_array(A, "A", shape=(D, D))
    mu = check_array(mu, "mu", shape=(D,))
    if D and float(xp.abs(A - A.T).max()) > 1e-6 * max(float(xp.abs(A).max()), 1e-30):
        raise ValueError("A must be symmetric")
    A, mu = (xp.ascontiguousarray(a, dtype=x.dtype) for a in (A, mu))
    noise, seed, offset = _steps_noise(noise, n_steps, x, xp, seed, offset)
    if seed is None:
        return implementation("langevin", "langevin_run_quadratic")(x, n_steps, step, A, mu,
                                                                    noise)
    return implementation("langevin", "langevin_run_quadratic_philox")(x, n_steps, step, A, mu,
                                                                       seed, offset)
