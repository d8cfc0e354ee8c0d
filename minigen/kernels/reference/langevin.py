r"""NumPy reference for the Langevin kernels (the specification).

Unadjusted Langevin (ULA) for a density :math:`p(x) \propto e^{-E(x)}`:

.. math:: x' = x - \tfrac{\epsilon}{2} \nabla E(x) + \sqrt{\epsilon}\, z, \quad z \sim N(0, I).

Preconditioned: :math:`x' = x - \tfrac{\epsilon}{2} M \nabla E(x) + \sqrt{\epsilon} M^{1/2} z`
with ``M = diag(m)`` or ``M = L L^T`` (``M^{1/2} z := L z``).

MALA accepts a proposal :math:`x'` with probability :math:`\min(1, \alpha)`,

.. math:: \log\alpha = E(x) - E(x') + \log q(x \mid x') - \log q(x' \mid x), \quad
   \log q(y \mid x) = -\frac{\lVert y - x + \tfrac{\epsilon}{2}\nabla E(x)\rVert^2}{2\epsilon}.

Rows are chains; all arrays are ``(N, D)``. Inputs are assumed valid.
"""

from __future__ import annotations

import numpy as np


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
    """Per-chain log acceptance ratio (float64 accumulation, returned in ``x.dtype``)."""
    x64, y64 = x.astype(np.float64), x_prop.astype(np.float64)
    fwd = y64 - x64 + step / 2 * grad_x.astype(np.float64)
    bwd = x64 - y64 + step / 2 * grad_prop.astype(np.float64)
    log_q_fwd = -(fwd * fwd).sum(axis=1) / (2 * step)
    log_q_bwd = -(bwd * bwd).sum(axis=1) / (2 * step)
    la = energy_x.astype(np.float64) - energy_prop.astype(np.float64) + log_q_bwd - log_q_fwd
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


def gmm_grad(x, weights, means, scales):
    r"""Gradient of :math:`E(x) = -\log \sum_k w_k N(x; \mu_k, s_k^2 I)` for rows of ``x``.

    :math:`\nabla E = \sum_k r_k(x) (x - \mu_k) / s_k^2` with responsibilities ``r``.
    """
    D = x.shape[1]
    diff = x[:, None, :] - means[None, :, :]  # (N, K, D)
    sq = (diff * diff).sum(axis=2)
    inv_var = 1 / (scales * scales)
    logits = np.log(weights) - D * np.log(scales) - 0.5 * sq * inv_var
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
    from .philox import philox_normals

    return philox_normals(shape, seed, offset, dtype)


def langevin_step_philox(x, grad, step, seed, offset, out):
    return langevin_step(x, grad, step, _normals(x.shape, x.dtype, seed, offset), out)


def preconditioned_langevin_step_philox(x, grad, step, precond_diag, precond_chol, seed,
                                        offset, out):
    z = _normals(x.shape, x.dtype, seed, offset)
    return preconditioned_langevin_step(x, grad, step, z, precond_diag, precond_chol, out)


def mala_step_philox(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step, seed, offset):
    from .philox import philox_uniforms

    u = philox_uniforms((x.shape[0],), seed, offset, x.dtype)
    return mala_step(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step, u)


def langevin_run_gmm_philox(x, n_steps, step, weights, means, scales, seed, offset):
    z = _normals((n_steps,) + x.shape, x.dtype, seed, offset)
    return langevin_run_gmm(x, n_steps, step, weights, means, scales, z)


def langevin_run_quadratic_philox(x, n_steps, step, A, mu, seed, offset):
    z = _normals((n_steps,) + x.shape, x.dtype, seed, offset)
    return langevin_run_quadratic(x, n_steps, step, A, mu, z)
