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

import numpy as np

from .._validation import NonFiniteError, check_array, check_positive_float, check_positive_int
from ..backend import check_on_backend, to_numpy, xp_of
from ._checks import array_arg, as_kernel_array, unalias
from ._dispatch import implementation
from ._stream import float_dtype, resolve_stream


def _same(a, name, like):
    """O(1) checks of an array that must match ``like`` (shape, backend); ``a`` in
    ``like``'s dtype, C-contiguous (copied once only if strided or of another dtype)."""
    a = array_arg(a, name)
    if a.shape != like.shape:
        raise ValueError(f"{name} must have shape {like.shape} (like x), got {a.shape}")
    check_on_backend(a, name)
    return as_kernel_array(a, like.dtype)


def _x(x, ndim=None):
    x = array_arg(x, "x", ndim=ndim)
    check_on_backend(x, "x")
    return as_kernel_array(x, np.dtype(float_dtype(x))), xp_of(x)


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


def _first_nonfinite(arrays: dict):
    """The name of the first array holding a NaN or inf, or None (the error path only)."""
    for name, a in arrays.items():
        if a is not None and a.size and not bool(xp_of(a).isfinite(a).all()):
            return name
    return None


def _step_error(fn: str, x, grad, noise, inplace: bool) -> Exception:
    """The error after the kernel counted non-finite results (the error path only)."""
    dtype = np.dtype(x.dtype).name
    if inplace:  # x now holds the results: look at the untouched inputs first
        name = _first_nonfinite({"grad": grad, "noise": noise, "x": x})
        if name == "x":
            return NonFiniteError(f"x contains NaN or infinite values, or the step overflows "
                              f"{dtype} (in place: x now holds the non-finite results)")
    else:
        name = _first_nonfinite({"x": x, "grad": grad, "noise": noise})
    if name is not None:
        return NonFiniteError(f"{name} contains NaN or infinite values")
    return FloatingPointError(
        f"{fn}: the result overflows {dtype} (finite inputs); lower step or check the scale "
        "of x and grad")


def _step_inputs(x, grad, noise, out, inplace):
    """Copy any input that partially overlaps ``out`` (the kernels write ``out[i]`` after
    reading element ``i`` in parallel chunks: exact aliasing is safe, a shift is not)."""
    if inplace:
        grad, noise = unalias(out, grad, noise)
        return x, grad, noise
    return unalias(out, x, grad, noise)


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
        To update in place pass a C-contiguous array of float32/float64 as ``x``. An input
        that partially overlaps ``out`` (a shifted view of the same buffer) is copied
        first, so the result is as if every input had been read before ``out`` is written.
    check_finite : bool
        Raise ``ValueError`` naming ``x``, ``grad`` or ``noise`` when one holds a NaN or
        inf, and ``FloatingPointError`` when finite inputs overflow. The kernel checks its
        results as it writes them, so this costs no extra pass over memory; on an error,
        ``out`` holds the results (non-finite ones included), so in place the inputs
        ``grad`` and ``noise`` are examined first. ``False`` skips the error (the results
        are the same).

    Inputs that are C-contiguous in x's dtype are read in place; others are copied once.

    Returns
    -------
    The updated array (``out`` if given).
    """
    inplace = out is not None and out is x
    xin = x
    x, xp = _x(x)
    if inplace and x is not xin:
        raise ValueError("in-place update (out=x) needs a C-contiguous float32/float64 x")
    step = check_positive_float(step, "step")
    grad = _same(grad, "grad", x)
    out = _out(out, x, xp)
    seed, offset = resolve_stream(noise, "noise", seed, offset, x.size)
    if seed is None:
        noise = _same(noise, "noise", x)
    x, grad, noise = _step_inputs(x, grad, noise, out, inplace)
    raw = not check_finite
    if seed is None:
        out, bad = implementation("langevin", "langevin_step_checked")(
            x, grad, step, noise, out, raw)
    else:
        out, bad = implementation("langevin", "langevin_step_philox_checked")(
            x, grad, step, seed, offset, out, raw)
    if bad and not raw:
        raise _step_error("langevin_step", x, grad, noise, inplace)
    return out


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
    noise / seed, offset / out : as in :func:`langevin_step` (noise shape (N, D)); values
        are checked as in :func:`langevin_step` with ``check_finite=True``.
    """
    inplace = out is not None and out is x
    x, xp = _x(x, ndim=2)
    step = check_positive_float(step, "step")
    grad = _same(grad, "grad", x)
    D = x.shape[1]
    if (precond_diag is None) == (precond_chol is None):
        raise ValueError("pass exactly one of precond_diag and precond_chol")
    # the preconditioner has D (or D^2) entries, not the data's N*D: checked here
    if precond_diag is not None:
        precond_diag = check_array(precond_diag, "precond_diag", shape=(D,))
        if D and not bool((precond_diag > 0).all()):
            raise ValueError("precond_diag must be positive")
        precond_diag = as_kernel_array(precond_diag, x.dtype)
    else:
        L = check_array(precond_chol, "precond_chol", shape=(D, D))
        if D and (bool((xp.triu(L, 1) != 0).any()) or not bool((xp.diagonal(L) > 0).all())):
            raise ValueError("precond_chol must be lower-triangular with a positive diagonal")
        precond_chol = as_kernel_array(L, x.dtype)
    out = _out(out, x, xp)
    inplace = inplace and out is x
    seed, offset = resolve_stream(noise, "noise", seed, offset, x.size)
    if seed is None:
        noise = _same(noise, "noise", x)
    x, grad, noise = _step_inputs(x, grad, noise, out, inplace)
    if seed is None:
        out, bad = implementation("langevin", "preconditioned_langevin_step_checked")(
            x, grad, step, noise, precond_diag, precond_chol, out)
    else:
        out, bad = implementation("langevin", "preconditioned_langevin_step_philox_checked")(
            x, grad, step, precond_diag, precond_chol, seed, offset, out)
    if bad:
        raise _step_error("preconditioned_langevin_step", x, grad, noise, inplace)
    return out


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
    ``log_alpha`` is accumulated in float64 (see module docstring for the formula; a
    ratio beyond float64, from a huge ``|x|``, is ``+-inf`` with its sign, never NaN).

    Parameters
    ----------
    x, x_prop, grad_x, grad_prop : (N, D) finite arrays
    energy_x, energy_prop : (N,) energies :math:`E = -\log p + \mathrm{const}`;
        ``energy_x`` finite, ``energy_prop`` finite or ``+inf`` (zero density: rejected)
    step : float > 0, the step used for the proposal
    uniforms : (N,) in [0, 1), optional; or ``seed``/``offset`` (position ``offset + n``).

    The kernel checks the values as it reads them and reports the first bad chain;
    ``ValueError`` names the argument (``FloatingPointError`` if the inputs are valid
    but the ratio still comes out NaN).
    """
    x, xp = _x(x, ndim=2)
    step = check_positive_float(step, "step")
    x_prop = _same(x_prop, "x_prop", x)
    grad_x = _same(grad_x, "grad_x", x)
    grad_prop = _same(grad_prop, "grad_prop", x)
    N = x.shape[0]
    e = []
    for name, a in (("energy_x", energy_x), ("energy_prop", energy_prop)):
        a = check_array(a, name, shape=(N,), finite=False)
        check_on_backend(a, name)
        e.append(as_kernel_array(a, x.dtype))
    seed, offset = resolve_stream(uniforms, "uniforms", seed, offset, N)
    arrays = {"x": x, "x_prop": x_prop, "grad_x": grad_x, "grad_prop": grad_prop}
    if seed is None:
        u = check_array(uniforms, "uniforms", shape=(N,), finite=False)
        check_on_backend(u, "uniforms")
        # cast before the range check: a float64 u just below 1 may round to 1 in float32
        u = as_kernel_array(u, x.dtype)
        r, bad = implementation("langevin", "mala_step_checked")(
            x, x_prop, grad_x, grad_prop, *e, step, u)
    else:
        u = None
        r, bad = implementation("langevin", "mala_step_philox_checked")(
            x, x_prop, grad_x, grad_prop, *e, step, seed, offset)
    if bad >= 0:
        raise _mala_error(bad, arrays, *e, u, r[4])
    return MALAResult(*r)


def _mala_error(i: int, arrays: dict, energy_x, energy_prop, u, log_alpha) -> Exception:
    """The error for chain ``i``, which the kernel reported (only its row is examined)."""
    where = f" (chain {i})"
    for name, a in arrays.items():
        if not np.isfinite(to_numpy(a[i])).all():
            return NonFiniteError(f"{name} contains NaN or infinite values" + where)
    if not np.isfinite(float(energy_x[i])):
        return NonFiniteError("energy_x contains NaN or infinite values" + where)
    ep = float(energy_prop[i])
    if np.isnan(ep) or ep == -np.inf:
        return NonFiniteError("energy_prop contains NaN or -inf (+inf is allowed: always rejected)"
                          + where)
    if u is not None and not 0 <= float(u[i]) < 1:
        return ValueError(f"uniforms must lie in [0, 1) in {np.dtype(u.dtype).name}" + where)
    return FloatingPointError(
        f"mala_step: the log acceptance ratio of chain {i} is NaN although its inputs are "
        f"finite (log_alpha = {float(log_alpha[i])}): E(x) - E(x') overflows float64")


def _steps_noise(noise, n_steps, x, seed, offset):
    seed, offset = resolve_stream(noise, "noise", seed, offset, n_steps * x.size)
    if seed is None:
        noise = check_array(noise, "noise", shape=(n_steps,) + x.shape, finite=False)
        check_on_backend(noise, "noise")
        noise = as_kernel_array(noise, x.dtype)
    return noise, seed, offset


def _runner_error(fn: str, i: int, x, noise, n_steps: int) -> Exception:
    """The error for chain ``i``, whose final state the kernel found not finite."""
    if not np.isfinite(to_numpy(x[i])).all():
        return NonFiniteError(f"x contains NaN or infinite values (chain {i})")
    if noise is not None and not np.isfinite(to_numpy(noise[:, i])).all():
        return NonFiniteError(f"noise contains NaN or infinite values (chain {i})")
    return FloatingPointError(
        f"{fn} diverged: chain {i} is not finite after {n_steps} steps (finite inputs); "
        "lower step")


def langevin_run_gmm(x, n_steps: int, step: float, weights, means, scales, *, noise=None,
                     seed=None, offset: int = 0):
    r"""``n_steps`` fused ULA steps on an isotropic Gaussian mixture, state kept per chain.

    :math:`p(x) = \sum_k w_k N(x; \mu_k, s_k^2 I)`; the gradient
    :math:`\nabla E = \sum_k r_k(x)(x - \mu_k)/s_k^2` (responsibilities ``r``) is computed
    in-kernel with a stable log-sum-exp. A component far narrower than the distances
    involved (``1/s^2`` beyond the dtype) contributes 0 where its responsibility is 0.

    Parameters
    ----------
    x : (N, D) start states; n_steps : int >= 0; step : float > 0
    weights : (K,) positive (normalized here); means : (K, D); scales : (K,) positive
    noise : (n_steps, N, D) normals, optional; or ``seed``/``offset`` (position
        ``offset + (t*N + n)*D + d``; next call: ``offset + n_steps*N*D``).

    Returns
    -------
    (N, D) final states (a new array). A chain whose final state is not finite raises
    ``ValueError`` naming ``x`` or ``noise`` if they were, else ``FloatingPointError``
    (the step diverged): checked by the kernel on the states it writes.
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
    weights, means, scales = (as_kernel_array(a, x.dtype) for a in (weights, means, scales))
    noise, seed, offset = _steps_noise(noise, n_steps, x, seed, offset)
    if seed is None:
        out, bad = implementation("langevin", "langevin_run_gmm_checked")(
            x, n_steps, step, weights, means, scales, noise)
    else:
        out, bad = implementation("langevin", "langevin_run_gmm_philox_checked")(
            x, n_steps, step, weights, means, scales, seed, offset)
    if bad >= 0:
        raise _runner_error("langevin_run_gmm", bad, x, noise, n_steps)
    return out


def langevin_run_quadratic(x, n_steps: int, step: float, A, mu, *, noise=None, seed=None,
                           offset: int = 0):
    r"""``n_steps`` fused ULA steps on :math:`E(x) = \tfrac12 (x-\mu)^T A (x-\mu)`.

    Parameters
    ----------
    x : (N, D); n_steps : int >= 0; step : float > 0
    A : (D, D) symmetric; mu : (D,)
    noise / seed, offset : as in :func:`langevin_run_gmm` (and the same checks).

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
    A, mu = (as_kernel_array(a, x.dtype) for a in (A, mu))
    noise, seed, offset = _steps_noise(noise, n_steps, x, seed, offset)
    if seed is None:
        out, bad = implementation("langevin", "langevin_run_quadratic_checked")(
            x, n_steps, step, A, mu, noise)
    else:
        out, bad = implementation("langevin", "langevin_run_quadratic_philox_checked")(
            x, n_steps, step, A, mu, seed, offset)
    if bad >= 0:
        raise _runner_error("langevin_run_quadratic", bad, x, noise, n_steps)
    return out
