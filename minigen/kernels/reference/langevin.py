r"""NumPy reference for the Langevin kernels (the specification).

Unadjusted Langevin (ULA) for a density :math:`p(x) \propto e^{-E(x)}`:

.. math:: x' = x - \tfrac{\epsilon}{2} \nabla E(x) + \sqrt{\epsilon}\, z, \quad z \sim N(0, I).

Preconditioned: :math:`x' = x - \tfrac{\epsilon}{2} M \nabla E(x) + \sqrt{\epsilon} M^{1/2} z`
with ``M = diag(m)`` or ``M = L L^T`` (``M^{1/2} z := L z``).

MALA accepts a proposal :math:`x'` with probability :math:`\min(1, \alpha)`,

.. math:: \log\alpha = E(x) - E(x') + \log q(x \mid x') - \log q(x' \mid x), \quad
   \log q(y \mid x) = -\frac{\lVert y - x + \tfrac{\epsilon}{2}\nabla E(x)\rVert^2}{2\epsilon}.

Rows are chains; all arrays are ``(N, D)``. The kernels assume valid input; the
``*_checked`` functions are the specification of the value checks the Numba and CUDA
kernels make as they go, written out explicitly: each returns ``(result, status)``.
"""

from __future__ import annotations

import numpy as np

from ...backend import xp_of
from .philox import philox_normals, philox_uniforms


def langevin_step(x, grad, step, noise, out):
    dt = x.dtype.type
    np.add(x - dt(step / 2) * grad, dt(np.sqrt(step)) * noise, out=out)
    return out


def preconditioned_langevin_step(x, grad, step, noise, precond_diag, precond_chol, out):
    dt = x.dtype.type
    if precond_diag is not None:
        m = precond_diag
        np.add(x - dt(step / 2) * (m * grad), dt(np.sqrt(step)) * (np.sqrt(m) * noise), out=out)
    else:
        L = precond_chol
        # M g = L (L^T g); rows: g M = (g L) L^T, and (L z)^T = z^T L^T.
        t = dt(-step / 2) * (grad @ L) + dt(np.sqrt(step)) * noise
        np.add(x, t @ L.T, out=out)
    return out


def mala_log_alpha(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step):
    r"""Per-chain log acceptance ratio (float64 accumulation, returned in ``x.dtype``).

    With :math:`a = x' - x + \tfrac{\epsilon}{2} g(x)` and :math:`c = x - x' +
    \tfrac{\epsilon}{2} g(x')`, :math:`\log q(x \mid x') - \log q(x' \mid x) =
    (\lVert a\rVert^2 - \lVert c\rVert^2) / (2\epsilon) = \sum_d (a_d - c_d)(a_d + c_d) /
    (2\epsilon)`, with :math:`a - c = 2(x' - x) + \tfrac{\epsilon}{2}(g(x) - g(x'))` and
    :math:`a + c = \tfrac{\epsilon}{2}(g(x) + g(x'))`: the product form has no
    ``inf - inf`` when :math:`|x|` is huge (the two squared norms both overflow), and a
    row whose sum still overflows with mixed signs is summed again scaled by the largest
    factors, so the sign of a ratio beyond float64 survives as ``+-inf``. ``E(x') = +inf``
    gives ``-inf`` (always rejected).
    """
    x64, y64 = x.astype(np.float64), x_prop.astype(np.float64)
    gx, gy = grad_x.astype(np.float64), grad_prop.astype(np.float64)
    half = step / 2
    with np.errstate(over="ignore", invalid="ignore"):
        amc = 2 * (y64 - x64) + half * (gx - gy)
        apc = half * (gx + gy)
        q = (amc * apc).sum(axis=1)
        redo = ~np.isfinite(q)
        if redo.any():  # rare: rescale the overflowed rows
            s1 = np.abs(amc[redo]).max(axis=1, keepdims=True)
            s2 = np.abs(apc[redo]).max(axis=1, keepdims=True)
            qs = ((amc[redo] / s1) * (apc[redo] / s2)).sum(axis=1)
            q[redo] = np.where(qs == 0, 0.0, qs * s1[:, 0] * s2[:, 0])
        ey = energy_prop.astype(np.float64)
        la = np.where(ey == np.inf, -np.inf, energy_x.astype(np.float64) - ey + q / (2 * step))
    return la.astype(x.dtype)


def mala_step(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step, uniforms):
    """Accept test; returns ``(x_new, grad_new, energy_new, accepted, log_alpha)``."""
    la = mala_log_alpha(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step)
    with np.errstate(divide="ignore"):
        acc = np.log(uniforms.astype(np.float64)) < la.astype(np.float64)
    col = acc[:, None]
    return (
        np.where(col, x_prop, x),
        np.where(col, grad_prop, grad_x),
        np.where(acc, energy_prop, energy_x),
        acc,
        la,
    )


def gmm_constants(weights, scales, D):
    r"""``(log w_k - D log s_k, 1 / s_k^2)`` in the scales' dtype, with ``1 / s_k^2``
    capped at the dtype's largest float: a scale below ~1e-154 (float64; ~1e-19 float32)
    would make it ``inf``, and ``0 * inf`` a NaN gradient on every chain, where the true
    contribution of a component with responsibility 0 is 0."""

    xp = xp_of(scales)  # also used by the cupy wrapper
    with np.errstate(over="ignore", divide="ignore"):
        inv_var = xp.minimum(1 / (scales * scales), np.finfo(scales.dtype).max)
    return xp.log(weights) - D * xp.log(scales), inv_var.astype(scales.dtype)


def gmm_grad(x, weights, means, scales):
    r"""Gradient of :math:`E(x) = -\log \sum_k w_k N(x; \mu_k, s_k^2 I)` for rows of ``x``.

    :math:`\nabla E = \sum_k r_k(x) (x - \mu_k) / s_k^2` with responsibilities ``r``.
    """
    D = x.shape[1]
    diff = x[:, None, :] - means[None, :, :]  # (N, K, D)
    sq = (diff * diff).sum(axis=2)
    logw, inv_var = gmm_constants(weights, scales, D)
    with np.errstate(over="ignore"):
        logits = logw - 0.5 * sq * inv_var
    logits = logits - logits.max(axis=1, keepdims=True)
    r = np.exp(logits)
    r = r / r.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkd->nd", r * inv_var, diff).astype(x.dtype, copy=False)


def langevin_run_gmm(x, n_steps, step, weights, means, scales, noise):
    """``n_steps`` ULA steps on an isotropic Gaussian mixture; ``noise`` is ``(n_steps, N, D)``."""
    x = x.copy()
    for t in range(n_steps):
        g = gmm_grad(x, weights, means, scales)
        langevin_step(x, g, step, noise[t], x)
    return x


def langevin_run_quadratic(x, n_steps, step, A, mu, noise):
    r"""``n_steps`` ULA steps on :math:`E(x) = \tfrac12 (x-\mu)^T A (x-\mu)` (``A`` symmetric)."""
    x = x.copy()
    for t in range(n_steps):
        g = (x - mu) @ A
        langevin_step(x, g, step, noise[t], x)
    return x


# --------------------------------------------------------------- in-kernel Philox variants
# Each is the explicit variant fed with philox_normals / philox_uniforms of the
# explicit array's shape (element i, C order, is stream position offset + i).


def _normals(shape, dtype, seed, offset):

    return philox_normals(shape, seed, offset, dtype)


def langevin_step_philox(x, grad, step, seed, offset, out):
    return langevin_step(x, grad, step, _normals(x.shape, x.dtype, seed, offset), out)


def preconditioned_langevin_step_philox(x, grad, step, precond_diag, precond_chol, seed,
                                        offset, out):
    z = _normals(x.shape, x.dtype, seed, offset)
    return preconditioned_langevin_step(x, grad, step, z, precond_diag, precond_chol, out)


def mala_step_philox(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step, seed, offset):

    u = philox_uniforms((x.shape[0],), seed, offset, x.dtype)
    return mala_step(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step, u)


def langevin_run_gmm_philox(x, n_steps, step, weights, means, scales, seed, offset):
    z = _normals((n_steps,) + x.shape, x.dtype, seed, offset)
    return langevin_run_gmm(x, n_steps, step, weights, means, scales, z)


def langevin_run_quadratic_philox(x, n_steps, step, A, mu, seed, offset):
    z = _normals((n_steps,) + x.shape, x.dtype, seed, offset)
    return langevin_run_quadratic(x, n_steps, step, A, mu, z)


# ------------------------------------------------------------------- value checks (spec)
# Each *_checked function returns (result, status). Steps: status = the number of
# non-finite results (a NaN or inf in x, grad or noise makes the result non-finite); with
# raw=False the inputs are checked first and nothing is written when one is bad. MALA:
# the first chain with a non-finite x, x_prop, grad_x, grad_prop or energy_x, an
# energy_prop that is NaN or -inf, a uniform outside [0, 1) or a NaN log acceptance
# ratio. Runners: the first chain whose final state is not finite.


def _all_finite(*arrays):
    return all(a is None or bool(np.isfinite(a).all()) for a in arrays)


def _step_checked(step_fn, x, grad, noise, out, raw):
    if not raw and not _all_finite(x, grad, noise):
        return out, 1
    with np.errstate(over="ignore", invalid="ignore"):
        step_fn(noise)
    return out, int((~np.isfinite(out)).sum())


def langevin_step_checked(x, grad, step, noise, out, raw=False):
    return _step_checked(lambda z: langevin_step(x, grad, step, z, out), x, grad, noise, out,
                         raw)


def langevin_step_philox_checked(x, grad, step, seed, offset, out, raw=False):
    return langevin_step_checked(x, grad, step, _normals(x.shape, x.dtype, seed, offset), out,
                                 raw)


def preconditioned_langevin_step_checked(x, grad, step, noise, precond_diag, precond_chol,
                                         out, raw=False):
    return _step_checked(lambda z: preconditioned_langevin_step(
        x, grad, step, z, precond_diag, precond_chol, out), x, grad, noise, out, raw)


def preconditioned_langevin_step_philox_checked(x, grad, step, precond_diag, precond_chol,
                                                seed, offset, out, raw=False):
    z = _normals(x.shape, x.dtype, seed, offset)
    return preconditioned_langevin_step_checked(x, grad, step, z, precond_diag, precond_chol,
                                                out, raw)


def invalid_mala_chains(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, uniforms,
                        log_alpha) -> np.ndarray:
    """Boolean ``(N,)``: the chains :func:`mala_step_checked` reports."""
    finite = np.ones(x.shape[0], bool)
    for a in (x, x_prop, grad_x, grad_prop):
        finite &= np.isfinite(a).all(axis=1)
    return ~(finite & np.isfinite(energy_x) & ~np.isnan(energy_prop)
             & (energy_prop > -np.inf) & (uniforms >= 0) & (uniforms < 1)
             & ~np.isnan(log_alpha))


def _first(bad) -> int:
    idx = np.flatnonzero(bad)
    return int(idx[0]) if idx.size else -1


def mala_step_checked(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step, uniforms):
    with np.errstate(over="ignore", invalid="ignore"):
        r = mala_step(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step, uniforms)
    return r, _first(invalid_mala_chains(x, x_prop, grad_x, grad_prop, energy_x, energy_prop,
                                         uniforms, r[4]))


def mala_step_philox_checked(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step, seed,
                             offset):

    u = philox_uniforms((x.shape[0],), seed, offset, x.dtype)
    return mala_step_checked(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step, u)


def _runner_checked(final):
    return final, _first(~np.isfinite(final).all(axis=1))


def langevin_run_gmm_checked(x, n_steps, step, weights, means, scales, noise):
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _runner_checked(langevin_run_gmm(x, n_steps, step, weights, means, scales,
                                                noise))


def langevin_run_gmm_philox_checked(x, n_steps, step, weights, means, scales, seed, offset):
    z = _normals((n_steps,) + x.shape, x.dtype, seed, offset)
    return langevin_run_gmm_checked(x, n_steps, step, weights, means, scales, z)


def langevin_run_quadratic_checked(x, n_steps, step, A, mu, noise):
    with np.errstate(over="ignore", invalid="ignore"):
        return _runner_checked(langevin_run_quadratic(x, n_steps, step, A, mu, noise))


def langevin_run_quadratic_philox_checked(x, n_steps, step, A, mu, seed, offset):
    z = _normals((n_steps,) + x.shape, x.dtype, seed, offset)
    return langevin_run_quadratic_checked(x, n_steps, step, A, mu, z)
