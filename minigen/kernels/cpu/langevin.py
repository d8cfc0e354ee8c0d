"""Numba kernels for the Langevin family (see :mod:`minigen.kernels.reference.langevin`).

Element-wise steps run one fused ``prange`` pass over the flattened arrays; the MALA
test and the multi-step runners run a ``prange`` over chains (rows), keeping each
chain's state in a small local array across steps.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._vnormal import vnormal_f32, vnormal_f64
from .philox import philox_normals, philox_uniforms


@njit(cache=True, parallel=True)
def _ula_flat(x, g, z, half, sq, out):
    for i in prange(x.shape[0]):
        out[i] = (x[i] - half * g[i]) + sq * z[i]


@njit(cache=True, parallel=True)
def _ula_diag_flat(x, g, z, m, half, sq, out):
    D = m.shape[0]
    for i in prange(x.shape[0]):
        mi = m[i % D]
        out[i] = (x[i] - half * (mi * g[i])) + sq * (math.sqrt(mi) * z[i])


def langevin_step(x, grad, step, noise, out):
    dt = x.dtype.type
    _ula_flat(x.reshape(-1), grad.reshape(-1), noise.reshape(-1), dt(step / 2),
              dt(np.sqrt(step)), out.reshape(-1))
    return out


def preconditioned_langevin_step(x, grad, step, noise, precond_diag, precond_chol, out):
    dt = x.dtype.type
    if precond_diag is not None:
        _ula_diag_flat(x.reshape(-1), grad.reshape(-1), noise.reshape(-1), precond_diag,
                       dt(step / 2), dt(np.sqrt(step)), out.reshape(-1))
        return out
    t = dt(-step / 2) * (grad @ precond_chol) + dt(np.sqrt(step)) * noise
    np.add(x, t @ precond_chol.T, out=out)
    return out


@njit(cache=True, parallel=True)
def _mala(x, y, gx, gy, ex, ey, step, u, x_new, g_new, e_new, acc, la):
    N, D = x.shape
    half = step / 2
    for n in prange(N):
        f = 0.0
        bk = 0.0
        for d in range(D):
            xd = np.float64(x[n, d])
            yd = np.float64(y[n, d])
            a = yd - xd + half * np.float64(gx[n, d])
            c = xd - yd + half * np.float64(gy[n, d])
            f += a * a
            bk += c * c
        lan = np.float64(ex[n]) - np.float64(ey[n]) + (f - bk) / (2 * step)
        la[n] = lan
        ok = np.log(np.float64(u[n])) < np.float64(la[n])
        acc[n] = ok
        if ok:
            e_new[n] = ey[n]
            for d in range(D):
                x_new[n, d] = y[n, d]
                g_new[n, d] = gy[n, d]
        else:
            e_new[n] = ex[n]
            for d in range(D):
                x_new[n, d] = x[n, d]
                g_new[n, d] = gx[n, d]


def mala_step(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step, uniforms):
    N = x.shape[0]
    x_new, g_new = np.empty_like(x), np.empty_like(x)
    e_new = np.empty_like(energy_x)
    acc = np.empty(N, np.bool_)
    la = np.empty(N, x.dtype)
    _mala(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, float(step), uniforms,
          x_new, g_new, e_new, acc, la)
    return x_new, g_new, e_new, acc, la


@njit(cache=True)
def _gmm_grad_row(xr, logw, means, inv_var, logits, g):
    K, D = means.shape
    mx = -np.inf
    for k in range(K):
        sq = 0.0
        for d in range(D):
            t = xr[d] - means[k, d]
            sq += t * t
        lk = logw[k] - 0.5 * sq * inv_var[k]
        logits[k] = lk
        if lk > mx:
            mx = lk
    tot = 0.0
    for k in range(K):
        logits[k] = math.exp(logits[k] - mx)
        tot += logits[k]
    for d in range(D):
        g[d] = 0.0
    for k in range(K):
        r = logits[k] / tot * inv_var[k]
        for d in range(D):
            g[d] += r * (xr[d] - means[k, d])


@njit(cache=True, parallel=True)
def _run_gmm(x, n_steps, half, sq, logw, means, inv_var, noise):
    N, D = x.shape
    K = means.shape[0]
    for n in prange(N):
        xr = x[n].copy()
        g = np.empty(D, x.dtype)
        logits = np.empty(K, x.dtype)
        for t in range(n_steps):
            _gmm_grad_row(xr, logw, means, inv_var, logits, g)
            for d in range(D):
                xr[d] = (xr[d] - half * g[d]) + sq * noise[t, n, d]
        x[n] = xr


def _gmm_consts(weights, means, scales, D):
    logw = (np.log(weights) - D * np.log(scales)).astype(means.dtype)
    inv_var = (1 / (scales * scales)).astype(means.dtype)
    return logw, inv_var


def langevin_run_gmm(x, n_steps, step, weights, means, scales, noise):
    dt = x.dtype.type
    x = np.ascontiguousarray(x).copy()
    logw, inv_var = _gmm_consts(weights, means, scales, x.shape[1])
    _run_gmm(x, n_steps, dt(step / 2), dt(np.sqrt(step)), logw, means, inv_var, noise)
    return x


@njit(cache=True, parallel=True)
def _run_quadratic(x, n_steps, half, sq, A, mu, noise):
    N, D = x.shape
    for n in prange(N):
        xr = x[n].copy()
        r = np.empty(D, x.dtype)
        for t in range(n_steps):
            for d in range(D):
                r[d] = xr[d] - mu[d]
            for d in range(D):
                gd = x.dtype.type(0.0)
                for e in range(D):
                    gd += r[e] * A[e, d]
                xr[d] = (xr[d] - half * gd) + sq * noise[t, n, d]
        x[n] = xr


def langevin_run_quadratic(x, n_steps, step, A, mu, noise):
    dt = x.dtype.type
    x = np.ascontiguousarray(x).copy()
    _run_quadratic(x, n_steps, dt(step / 2), dt(np.sqrt(step)), A, mu, noise)
    return x


# --------------------------------------------------------------- in-kernel Philox variants


@njit(cache=True, inline="always")
def _normal(seed, pos, f32):
    """Philox normal at ``pos`` (float64); vectorizable, see :mod:`._vnormal`."""
    if f32:
        return vnormal_f32(seed, pos)
    return vnormal_f64(seed, pos)


@njit(cache=True, parallel=True)
def _ula_flat_philox(x, g, half, sq, seed, offset, f32, out):
    for i in prange(x.shape[0]):
        z = x.dtype.type(_normal(seed, np.uint64(offset + i), f32))
        out[i] = (x[i] - half * g[i]) + sq * z


@njit(cache=True, parallel=True)
def _ula_diag_flat_philox(x, g, m, half, sq, seed, offset, f32, out):
    D = m.shape[0]
    for i in prange(x.shape[0]):
        z = x.dtype.type(_normal(seed, np.uint64(offset + i), f32))
        mi = m[i % D]
        out[i] = (x[i] - half * (mi * g[i])) + sq * (math.sqrt(mi) * z)


def langevin_step_philox(x, grad, step, seed, offset, out):
    dt = x.dtype.type
    _ula_flat_philox(x.reshape(-1), grad.reshape(-1), dt(step / 2), dt(np.sqrt(step)),
                     np.uint64(seed), offset, x.dtype == np.float32, out.reshape(-1))
    return out


def preconditioned_langevin_step_philox(x, grad, step, precond_diag, precond_chol, seed,
                                        offset, out):
    if precond_diag is not None:
        dt = x.dtype.type
        _ula_diag_flat_philox(x.reshape(-1), grad.reshape(-1), precond_diag, dt(step / 2),
                              dt(np.sqrt(step)), np.uint64(seed), offset,
                              x.dtype == np.float32, out.reshape(-1))
        return out
    z = philox_normals(x.shape, seed, offset, x.dtype)
    return preconditioned_langevin_step(x, grad, step, z, None, precond_chol, out)


def mala_step_philox(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step, seed, offset):
    u = philox_uniforms((x.shape[0],), seed, offset, x.dtype)
    return mala_step(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step, u)


@njit(cache=True, parallel=True)
def _run_gmm_philox(x, n_steps, half, sq, logw, means, inv_var, seed, offset, f32):
    N, D = x.shape
    K = means.shape[0]
    for n in prange(N):
        xr = x[n].copy()
        g = np.empty(D, x.dtype)
        logits = np.empty(K, x.dtype)
        for t in range(n_steps):
            _gmm_grad_row(xr, logw, means, inv_var, logits, g)
            base = np.uint64(offset + (t * N + n) * D)
            for d in range(D):
                z = x.dtype.type(_normal(seed, base + np.uint64(d), f32))
                xr[d] = (xr[d] - half * g[d]) + sq * z
        x[n] = xr


def langevin_run_gmm_philox(x, n_steps, step, weights, means, scales, seed, offset):
    dt = x.dtype.type
    x = np.ascontiguousarray(x).copy()
    logw, inv_var = _gmm_consts(weights, means, scales, x.shape[1])
    _run_gmm_philox(x, n_steps, dt(step / 2), dt(np.sqrt(step)), logw, means, inv_var,
                    np.uint64(seed), offset, x.dtype == np.float32)
    return x


@njit(cache=True, parallel=True)
def _run_quadratic_philox(x, n_steps, half, sq, A, mu, seed, offset, f32):
    N, D = x.shape
    for n in prange(N):
        xr = x[n].copy()
        r = np.empty(D, x.dtype)
        for t in range(n_steps):
            for d in range(D):
                r[d] = xr[d] - mu[d]
            base = np.uint64(offset + (t * N + n) * D)
            for d in range(D):
                gd = x.dtype.type(0.0)
                for e in range(D):
                    gd += r[e] * A[e, d]
                z = x.dtype.type(_normal(seed, base + np.uint64(d), f32))
                xr[d] = (xr[d] - half * gd) + sq * z
        x[n] = xr


def langevin_run_quadratic_philox(x, n_steps, step, A, mu, seed, offset):
    dt = x.dtype.type
    x = np.ascontiguousarray(x).copy()
    _run_quadratic_philox(x, n_steps, dt(step / 2), dt(np.sqrt(step)), A, mu,
                          np.uint64(seed), offset, x.dtype == np.float32)
    return x
