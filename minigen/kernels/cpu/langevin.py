"""Numba kernels for the Langevin family (see :mod:`minigen.kernels.reference.langevin`).

Element-wise steps run one fused ``prange`` pass over the flattened arrays; the MALA
test and the multi-step runners run a ``prange`` over chains (rows), keeping each
chain's state in a small local array across steps.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._vexp import vexp
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


_BLOCK = 256


@njit(cache=True, parallel=True)
def _run_gmm_blocked(x, n_steps, half, sq, logw, means, inv_var, noise, use_philox, seed,
                     offset, f32, cut):
    r"""ULA on the mixture, chains in blocks of ``_BLOCK`` laid out (D, block) so that the
    innermost loops run over chains (SIMD across chains); the state stays in the block.

    Responsibilities :math:`r_k = e^{\ell_k - \max_j \ell_j} / \sum_j e^{\ell_j - \max_j \ell_j}`
    whose exponent is below ``cut`` (:func:`_subnormal_cut`) are set to 0 instead of being
    computed as subnormal floats: Intel cores take a microcode assist (~100 cycles) for
    every multiply or divide that reads or writes a subnormal. On the 8-Gaussian ring
    (radius 4, scale 0.5) a chain at its component is ~7.4 from the components three
    places round, where the float32 term is e^{-2 * 7.4^2} ~ 1e-48 and its neighbours
    land in the subnormal range (measured: 100 steps on 10^5 chains 521 ms with them,
    52 ms without, explicit noise). The dropped terms are below ``tiny**0.75`` while the
    largest term is 1, so the sum is unchanged to rounding."""
    N, D = x.shape
    K = means.shape[0]
    dt = x.dtype.type
    zero, hf = dt(0.0), dt(0.5)
    for bi in prange((N + _BLOCK - 1) // _BLOCK):
        n0 = bi * _BLOCK
        nb = min(_BLOCK, N - n0)
        X = np.empty((D, nb), x.dtype)
        G = np.empty((D, nb), x.dtype)
        Lg = np.empty((K, nb), x.dtype)
        mx = np.empty(nb, x.dtype)
        tot = np.empty(nb, x.dtype)
        for d in range(D):
            for c in range(nb):
                X[d, c] = x[n0 + c, d]
        for t in range(n_steps):
            for c in range(nb):
                mx[c] = dt(-np.inf)
                tot[c] = zero
            for k in range(K):
                for c in range(nb):
                    Lg[k, c] = zero
                for d in range(D):
                    m = means[k, d]
                    for c in range(nb):
                        e = X[d, c] - m
                        Lg[k, c] += e * e
                lw, iv = logw[k], inv_var[k]
                for c in range(nb):
                    lk = lw - hf * Lg[k, c] * iv
                    Lg[k, c] = lk
                    mx[c] = max(mx[c], lk)
            for k in range(K):
                for c in range(nb):
                    a = Lg[k, c] - mx[c]  # <= 0
                    e = vexp(a) if a > cut else zero  # no subnormals (see docstring)
                    Lg[k, c] = e
                    tot[c] += e
            for d in range(D):
                for c in range(nb):
                    G[d, c] = zero
            for k in range(K):
                iv = inv_var[k]
                for c in range(nb):
                    Lg[k, c] = Lg[k, c] / tot[c] * iv
                for d in range(D):
                    m = means[k, d]
                    for c in range(nb):
                        G[d, c] += Lg[k, c] * (X[d, c] - m)
            base = offset + np.uint64((t * N + n0) * D)
            for d in range(D):
                if use_philox:
                    for c in range(nb):
                        z = dt(_normal(seed, base + np.uint64(c * D + d), f32))
                        X[d, c] = (X[d, c] - half * G[d, c]) + sq * z
                else:
                    for c in range(nb):
                        X[d, c] = (X[d, c] - half * G[d, c]) + sq * noise[t, n0 + c, d]
        for d in range(D):
            for c in range(nb):
                x[n0 + c, d] = X[d, c]


def _subnormal_cut(dtype):
    """Exponent below which a responsibility is flushed to 0: ``0.75 * log(tiny)``
    (-65.5 for float32, -531 for float64), so that neither the term nor its products
    with ``1/sum`` (>= 1/K), ``1/s^2`` and ``x - mu`` come near the subnormal range."""
    return dtype.type(0.75 * np.log(np.finfo(dtype).tiny))


def _gmm_consts(weights, means, scales, D):
    logw = (np.log(weights) - D * np.log(scales)).astype(means.dtype)
    inv_var = (1 / (scales * scales)).astype(means.dtype)
    return logw, inv_var


def langevin_run_gmm(x, n_steps, step, weights, means, scales, noise):
    dt = x.dtype.type
    x = np.ascontiguousarray(x).copy()
    logw, inv_var = _gmm_consts(weights, means, scales, x.shape[1])
    _run_gmm_blocked(x, n_steps, dt(step / 2), dt(np.sqrt(step)), logw, means, inv_var, noise,
                     False, np.uint64(0), np.uint64(0), x.dtype == np.float32,
                     _subnormal_cut(x.dtype))
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
        z = x.dtype.type(_normal(seed, offset + np.uint64(i), f32))
        out[i] = (x[i] - half * g[i]) + sq * z


@njit(cache=True, parallel=True)
def _ula_diag_flat_philox(x, g, m, half, sq, seed, offset, f32, out):
    D = m.shape[0]
    for i in prange(x.shape[0]):
        z = x.dtype.type(_normal(seed, offset + np.uint64(i), f32))
        mi = m[i % D]
        out[i] = (x[i] - half * (mi * g[i])) + sq * (math.sqrt(mi) * z)


def langevin_step_philox(x, grad, step, seed, offset, out):
    dt = x.dtype.type
    _ula_flat_philox(x.reshape(-1), grad.reshape(-1), dt(step / 2), dt(np.sqrt(step)),
                     np.uint64(seed), np.uint64(offset), x.dtype == np.float32,
                     out.reshape(-1))
    return out


def preconditioned_langevin_step_philox(x, grad, step, precond_diag, precond_chol, seed,
                                        offset, out):
    if precond_diag is not None:
        dt = x.dtype.type
        _ula_diag_flat_philox(x.reshape(-1), grad.reshape(-1), precond_diag, dt(step / 2),
                              dt(np.sqrt(step)), np.uint64(seed), np.uint64(offset),
                              x.dtype == np.float32, out.reshape(-1))
        return out
    z = philox_normals(x.shape, seed, offset, x.dtype)
    return preconditioned_langevin_step(x, grad, step, z, None, precond_chol, out)


def mala_step_philox(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step, seed, offset):
    u = philox_uniforms((x.shape[0],), seed, offset, x.dtype)
    return mala_step(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step, u)


def langevin_run_gmm_philox(x, n_steps, step, weights, means, scales, seed, offset):
    dt = x.dtype.type
    x = np.ascontiguousarray(x).copy()
    logw, inv_var = _gmm_consts(weights, means, scales, x.shape[1])
    _run_gmm_blocked(x, n_steps, dt(step / 2), dt(np.sqrt(step)), logw, means, inv_var,
                     np.empty((1, 1, 1), x.dtype), True, np.uint64(seed), np.uint64(offset),
                     x.dtype == np.float32, _subnormal_cut(x.dtype))
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
            base = offset + np.uint64((t * N + n) * D)
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
                          np.uint64(seed), np.uint64(offset), x.dtype == np.float32)
    return x


def warm_up() -> None:
    """Compile (or load from cache) every kernel of this module on tiny inputs: float32
    and float64, explicit noise/uniforms and the in-kernel Philox stream (``uint64``
    seed/offset), each step, the MALA test and both multi-step runners."""
    for dtype in (np.float32, np.float64):
        x = np.zeros((2, 2), dtype)
        g, z, out = np.zeros_like(x), np.zeros_like(x), np.empty_like(x)
        m, e, u = np.ones(2, dtype), np.zeros(2, dtype), np.full(2, 0.5, dtype)
        langevin_step(x, g, 0.1, z, out)
        langevin_step_philox(x, g, 0.1, 1, 0, out)
        preconditioned_langevin_step(x, g, 0.1, z, m, None, out)
        preconditioned_langevin_step_philox(x, g, 0.1, m, None, 1, 0, out)
        mala_step(x, x, g, g, e, e, 0.1, u)
        mala_step_philox(x, x, g, g, e, e, 0.1, 1, 0)
        w, mu, s = np.ones(1, dtype), np.zeros((1, 2), dtype), np.ones(1, dtype)
        noise = np.zeros((1, 2, 2), dtype)
        langevin_run_gmm(x, 1, 0.1, w, mu, s, noise)
        langevin_run_gmm_philox(x, 1, 0.1, w, mu, s, 1, 0)
        A, mu1 = np.eye(2, dtype=dtype), np.zeros(2, dtype)
        langevin_run_quadratic(x, 1, 0.1, A, mu1, noise)
        langevin_run_quadratic_philox(x, 1, 0.1, A, mu1, 1, 0)
