"""Numba kernels for the Langevin family (see :mod:`minigen.kernels.reference.langevin`).

Element-wise steps run one fused ``prange`` pass over the flattened arrays; the MALA
test and the multi-step runners run a ``prange`` over chains (rows), keeping each
chain's state in a small local array across steps.

Value checks ride on those passes (the ``*_checked`` functions return ``(result,
status)``): a step counts its non-finite results (a NaN or inf in ``x``, ``grad`` or the
noise always makes the result non-finite), and the wrapper looks at the inputs only when
that count is not 0; the MALA test and the runners report the first chain whose inputs,
log acceptance ratio or final state are not finite. The results are written as computed
(``raw`` is accepted for the reference's signature): keeping ``x`` where a result is not
finite, by a select or a masked store, made the Philox step 30% slower.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..reference.langevin import gmm_constants
from ._checks import first_bad, not_finite
from ._vexp import vexp
from ._vnormal import vnormal_f32, vnormal_f64
from .philox import philox_normals, philox_uniforms


@njit(cache=True, inline="always")
def _put(out, i, o, big):
    """``out[i] = o``; 1 if ``o`` is not finite (NaN fails the comparison), else 0."""
    out[i] = o
    return not_finite(o, big)


#: Below this many elements a step runs the serial twin of its kernel: waking the thread
#: pool costs 10 us on a quiet machine and up to milliseconds on a busy one.
SERIAL_BELOW = 1 << 15


@njit(cache=True, inline="always")
def _ula_at(x, g, z, half, sq, out, i, big):
    return _put(out, i, (x[i] - half * g[i]) + sq * z[i], big)


@njit(cache=True, inline="always")
def _ula_diag_at(x, g, z, m, half, sq, out, i, big):
    mi = m[i % m.shape[0]]
    return _put(out, i, (x[i] - half * (mi * g[i])) + sq * (math.sqrt(mi) * z[i]), big)


@njit(cache=True, parallel=True)
def _ula_flat(x, g, z, half, sq, out):
    big = x.dtype.type(np.finfo(x.dtype).max)
    nbad = 0
    for i in prange(x.shape[0]):
        nbad += _ula_at(x, g, z, half, sq, out, i, big)
    return nbad


@njit(cache=True)
def _ula_flat_serial(x, g, z, half, sq, out):
    big = x.dtype.type(np.finfo(x.dtype).max)
    nbad = 0
    for i in range(x.shape[0]):
        nbad += _ula_at(x, g, z, half, sq, out, i, big)
    return nbad


@njit(cache=True, parallel=True)
def _ula_diag_flat(x, g, z, m, half, sq, out):
    big = x.dtype.type(np.finfo(x.dtype).max)
    nbad = 0
    for i in prange(x.shape[0]):
        nbad += _ula_diag_at(x, g, z, m, half, sq, out, i, big)
    return nbad


@njit(cache=True)
def _ula_diag_flat_serial(x, g, z, m, half, sq, out):
    big = x.dtype.type(np.finfo(x.dtype).max)
    nbad = 0
    for i in range(x.shape[0]):
        nbad += _ula_diag_at(x, g, z, m, half, sq, out, i, big)
    return nbad


@njit(cache=True, parallel=True)
def _add_flat(x, t, out):
    """``out = x + t``, counting non-finite results (the full preconditioner's last step)."""
    big = x.dtype.type(np.finfo(x.dtype).max)
    nbad = 0
    for i in prange(x.shape[0]):
        nbad += _put(out, i, x[i] + t[i], big)
    return nbad


def _pick(parallel, serial, n):
    return serial if n < SERIAL_BELOW else parallel


def langevin_step_checked(x, grad, step, noise, out, raw=False):
    """``(out, number of non-finite results)``."""
    dt = x.dtype.type
    kernel = _pick(_ula_flat, _ula_flat_serial, x.size)
    n = kernel(x.reshape(-1), grad.reshape(-1), noise.reshape(-1), dt(step / 2),
               dt(np.sqrt(step)), out.reshape(-1))
    return out, int(n)


def langevin_step(x, grad, step, noise, out):
    return langevin_step_checked(x, grad, step, noise, out, True)[0]


def preconditioned_langevin_step_checked(x, grad, step, noise, precond_diag, precond_chol,
                                         out, raw=False):
    dt = x.dtype.type
    if precond_diag is not None:
        kernel = _pick(_ula_diag_flat, _ula_diag_flat_serial, x.size)
        n = kernel(x.reshape(-1), grad.reshape(-1), noise.reshape(-1), precond_diag,
                   dt(step / 2), dt(np.sqrt(step)), out.reshape(-1))
        return out, int(n)
    with np.errstate(over="ignore", invalid="ignore"):  # counted by _add_flat
        t = dt(-step / 2) * (grad @ precond_chol) + dt(np.sqrt(step)) * noise
        t = t @ precond_chol.T
    n = _add_flat(x.reshape(-1), t.reshape(-1), out.reshape(-1))
    return out, int(n)


def preconditioned_langevin_step(x, grad, step, noise, precond_diag, precond_chol, out):
    return preconditioned_langevin_step_checked(x, grad, step, noise, precond_diag,
                                                precond_chol, out, True)[0]


@njit(cache=True, inline="always")
def _mala_quadratic(x, y, gx, gy, n, half):
    r"""``sum_d (a_d - c_d)(a_d + c_d) = |a|^2 - |c|^2`` in float64 (``reference.
    langevin.mala_log_alpha``), and whether chain ``n``'s inputs are all finite.
    The sum is scaled when it overflows: its sign (and so the decision) survives."""
    D = x.shape[1]
    q = 0.0
    for d in range(D):
        xd, yd = np.float64(x[n, d]), np.float64(y[n, d])
        gxd, gyd = np.float64(gx[n, d]), np.float64(gy[n, d])
        q += (2 * (yd - xd) + half * (gxd - gyd)) * (half * (gxd + gyd))
    if np.isfinite(q):
        return q, True
    s1 = 0.0  # rare path: max |a - c| and max |a + c|, inputs checked on the way
    s2 = 0.0
    finite = True
    for d in range(D):
        xd, yd = np.float64(x[n, d]), np.float64(y[n, d])
        gxd, gyd = np.float64(gx[n, d]), np.float64(gy[n, d])
        finite &= np.isfinite(xd) and np.isfinite(yd) and np.isfinite(gxd) and np.isfinite(gyd)
        s1 = max(s1, abs(2 * (yd - xd) + half * (gxd - gyd)))
        s2 = max(s2, abs(half * (gxd + gyd)))
    if not finite:
        return q, False
    q = 0.0
    for d in range(D):
        xd, yd = np.float64(x[n, d]), np.float64(y[n, d])
        gxd, gyd = np.float64(gx[n, d]), np.float64(gy[n, d])
        q += ((2 * (yd - xd) + half * (gxd - gyd)) / s1) * ((half * (gxd + gyd)) / s2)
    return (0.0 if q == 0 else q * s1 * s2), True


_BLOCK = 256  # chains per parallel task


@njit(cache=True, inline="always")
def _mala_select(x, y, gx, gy, ex, ey, ok, n, x_new, g_new, e_new, acc):
    """Chain ``n``: the proposal where accepted, else the current state."""
    acc[n] = ok
    src, gsrc = (y, gy) if ok else (x, gx)
    e_new[n] = ey[n] if ok else ex[n]
    for d in range(x.shape[1]):
        x_new[n, d] = src[n, d]
        g_new[n, d] = gsrc[n, d]


@njit(cache=True, inline="always")
def _mala_rows(x, y, gx, gy, ex, ey, step, u, x_new, g_new, e_new, acc, la, lo, hi):
    """The accept test for chains ``lo:hi``; returns the first invalid one (non-finite
    input, an energy_x that is not finite, an energy_prop that is NaN or -inf, a uniform
    outside [0, 1), or a NaN log acceptance ratio), or -1."""
    half = step / 2
    first = -1
    for n in range(lo, hi):
        q, finite = _mala_quadratic(x, y, gx, gy, n, half)
        exn, eyn, un = np.float64(ex[n]), np.float64(ey[n]), np.float64(u[n])
        # E(x') = +inf: zero density, always rejected (also when q is +inf)
        la[n] = -np.inf if eyn == np.inf else exn - eyn + q / (2 * step)
        lan = np.float64(la[n])
        valid = (finite and np.isfinite(exn) and eyn > -np.inf and un >= 0 and un < 1
                 and not np.isnan(lan))
        if not valid and first < 0:
            first = n
        _mala_select(x, y, gx, gy, ex, ey, np.log(un) < lan, n, x_new, g_new, e_new, acc)
    return first


@njit(cache=True, parallel=True)
def _mala(x, y, gx, gy, ex, ey, step, u, x_new, g_new, e_new, acc, la):
    N = x.shape[0]
    bad = np.empty((N + _BLOCK - 1) // _BLOCK, np.int64)
    for ch in prange(bad.shape[0]):
        bad[ch] = _mala_rows(x, y, gx, gy, ex, ey, step, u, x_new, g_new, e_new, acc, la,
                             ch * _BLOCK, min(N, (ch + 1) * _BLOCK))
    return first_bad(bad)


@njit(cache=True)
def _mala_serial(x, y, gx, gy, ex, ey, step, u, x_new, g_new, e_new, acc, la):
    return _mala_rows(x, y, gx, gy, ex, ey, step, u, x_new, g_new, e_new, acc, la, 0,
                      x.shape[0])


def mala_step_checked(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step, uniforms):
    """``((x_new, g_new, e_new, acc, la), first invalid chain or -1)``."""
    N = x.shape[0]
    x_new, g_new = np.empty_like(x), np.empty_like(x)
    e_new = np.empty_like(energy_x)
    acc = np.empty(N, np.bool_)
    la = np.empty(N, x.dtype)
    kernel = _pick(_mala, _mala_serial, x.size)
    bad = kernel(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, float(step), uniforms,
                 x_new, g_new, e_new, acc, la)
    return (x_new, g_new, e_new, acc, la), int(bad)


def mala_step(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step, uniforms):
    return mala_step_checked(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step,
                             uniforms)[0]


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
    bad = np.full((N + _BLOCK - 1) // _BLOCK, -1, np.int64)
    for bi in prange(bad.shape[0]):
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
        bad[bi] = _first_nonfinite_row(x, n0, n0 + nb)
    return first_bad(bad)


@njit(cache=True, inline="always")
def _first_nonfinite_row(x, lo, hi):
    """First row of ``x[lo:hi]`` with a NaN or inf (a diverged chain), or -1."""
    for n in range(lo, hi):
        for d in range(x.shape[1]):
            if not np.isfinite(x[n, d]):
                return n
    return -1


def _subnormal_cut(dtype):
    """Exponent below which a responsibility is flushed to 0: ``0.75 * log(tiny)``
    (-65.5 for float32, -531 for float64), so that neither the term nor its products
    with ``1/sum`` (>= 1/K), ``1/s^2`` and ``x - mu`` come near the subnormal range."""
    return dtype.type(0.75 * np.log(np.finfo(dtype).tiny))


def _gmm_consts(weights, means, scales, D):
    """``log w_k - D log s_k`` and ``1 / s_k^2`` (``reference.langevin.gmm_constants``)."""

    logw, inv_var = gmm_constants(weights, scales, D)
    return logw.astype(means.dtype), inv_var.astype(means.dtype)


def _gmm_run(x, n_steps, step, weights, means, scales, noise, use_philox, seed, offset):
    """``(final states, first chain whose final state is not finite, or -1)``."""
    dt = x.dtype.type
    x = x.copy()
    logw, inv_var = _gmm_consts(weights, means, scales, x.shape[1])
    bad = _run_gmm_blocked(x, n_steps, dt(step / 2), dt(np.sqrt(step)), logw, means, inv_var,
                           noise, use_philox, np.uint64(seed), np.uint64(offset),
                           x.dtype == np.float32, _subnormal_cut(x.dtype))
    return x, int(bad)


def langevin_run_gmm_checked(x, n_steps, step, weights, means, scales, noise):
    """``(final states, first chain whose final state is not finite, or -1)``."""
    return _gmm_run(x, n_steps, step, weights, means, scales, noise, False, 0, 0)


def langevin_run_gmm(x, n_steps, step, weights, means, scales, noise):
    return langevin_run_gmm_checked(x, n_steps, step, weights, means, scales, noise)[0]


@njit(cache=True, inline="always")
def _centre(xr, mu, r):
    """``r = x - mu`` for one chain."""
    for d in range(r.shape[0]):
        r[d] = xr[d] - mu[d]


@njit(cache=True, inline="always")
def _quadratic_grad(r, A, d):
    r""":math:`\partial_d E = (A^\top (x - \mu))_d` of :math:`E = \tfrac12 (x-\mu)^\top A (x-\mu)`
    (``A`` symmetric), from ``r = x - mu``."""
    gd = r.dtype.type(0.0)
    for e in range(r.shape[0]):
        gd += r[e] * A[e, d]
    return gd


@njit(cache=True, parallel=True)
def _run_quadratic(x, n_steps, half, sq, A, mu, noise):
    N, D = x.shape
    bad = np.full((N + _BLOCK - 1) // _BLOCK, -1, np.int64)
    for ch in prange(bad.shape[0]):
        r = np.empty(D, x.dtype)
        for n in range(ch * _BLOCK, min(N, (ch + 1) * _BLOCK)):
            xr = x[n]
            for t in range(n_steps):
                _centre(xr, mu, r)
                for d in range(D):
                    xr[d] = (xr[d] - half * _quadratic_grad(r, A, d)) + sq * noise[t, n, d]
        bad[ch] = _first_nonfinite_row(x, ch * _BLOCK, min(N, (ch + 1) * _BLOCK))
    return first_bad(bad)


def langevin_run_quadratic_checked(x, n_steps, step, A, mu, noise):
    """``(final states, first chain whose final state is not finite, or -1)``."""
    dt = x.dtype.type
    x = x.copy()
    bad = _run_quadratic(x, n_steps, dt(step / 2), dt(np.sqrt(step)), A, mu, noise)
    return x, int(bad)


def langevin_run_quadratic(x, n_steps, step, A, mu, noise):
    return langevin_run_quadratic_checked(x, n_steps, step, A, mu, noise)[0]


# --------------------------------------------------------------- in-kernel Philox variants


@njit(cache=True, inline="always")
def _normal(seed, pos, f32):
    """Philox normal at ``pos`` (float64); vectorizable, see :mod:`._vnormal`."""
    if f32:
        return vnormal_f32(seed, pos)
    return vnormal_f64(seed, pos)


@njit(cache=True, inline="always")
def _ula_philox_at(x, g, half, sq, seed, offset, f32, out, i, big):
    z = x.dtype.type(_normal(seed, offset + np.uint64(i), f32))
    return _put(out, i, (x[i] - half * g[i]) + sq * z, big)


@njit(cache=True, inline="always")
def _ula_diag_philox_at(x, g, m, half, sq, seed, offset, f32, out, i, big):
    z = x.dtype.type(_normal(seed, offset + np.uint64(i), f32))
    mi = m[i % m.shape[0]]
    return _put(out, i, (x[i] - half * (mi * g[i])) + sq * (math.sqrt(mi) * z), big)


@njit(cache=True, parallel=True)
def _ula_flat_philox(x, g, half, sq, seed, offset, f32, out):
    big = x.dtype.type(np.finfo(x.dtype).max)
    nbad = 0
    for i in prange(x.shape[0]):
        nbad += _ula_philox_at(x, g, half, sq, seed, offset, f32, out, i, big)
    return nbad


@njit(cache=True)
def _ula_flat_philox_serial(x, g, half, sq, seed, offset, f32, out):
    big = x.dtype.type(np.finfo(x.dtype).max)
    nbad = 0
    for i in range(x.shape[0]):
        nbad += _ula_philox_at(x, g, half, sq, seed, offset, f32, out, i, big)
    return nbad


@njit(cache=True, parallel=True)
def _ula_diag_flat_philox(x, g, m, half, sq, seed, offset, f32, out):
    big = x.dtype.type(np.finfo(x.dtype).max)
    nbad = 0
    for i in prange(x.shape[0]):
        nbad += _ula_diag_philox_at(x, g, m, half, sq, seed, offset, f32, out, i, big)
    return nbad


@njit(cache=True)
def _ula_diag_flat_philox_serial(x, g, m, half, sq, seed, offset, f32, out):
    big = x.dtype.type(np.finfo(x.dtype).max)
    nbad = 0
    for i in range(x.shape[0]):
        nbad += _ula_diag_philox_at(x, g, m, half, sq, seed, offset, f32, out, i, big)
    return nbad


def langevin_step_philox_checked(x, grad, step, seed, offset, out, raw=False):
    dt = x.dtype.type
    kernel = _pick(_ula_flat_philox, _ula_flat_philox_serial, x.size)
    n = kernel(x.reshape(-1), grad.reshape(-1), dt(step / 2), dt(np.sqrt(step)),
               np.uint64(seed), np.uint64(offset), x.dtype == np.float32, out.reshape(-1))
    return out, int(n)


def langevin_step_philox(x, grad, step, seed, offset, out):
    return langevin_step_philox_checked(x, grad, step, seed, offset, out, True)[0]


def preconditioned_langevin_step_philox_checked(x, grad, step, precond_diag, precond_chol,
                                                seed, offset, out, raw=False):
    if precond_diag is not None:
        dt = x.dtype.type
        kernel = _pick(_ula_diag_flat_philox, _ula_diag_flat_philox_serial, x.size)
        n = kernel(x.reshape(-1), grad.reshape(-1), precond_diag, dt(step / 2),
                   dt(np.sqrt(step)), np.uint64(seed), np.uint64(offset),
                   x.dtype == np.float32, out.reshape(-1))
        return out, int(n)
    z = philox_normals(x.shape, seed, offset, x.dtype)
    return preconditioned_langevin_step_checked(x, grad, step, z, None, precond_chol, out, raw)


def preconditioned_langevin_step_philox(x, grad, step, precond_diag, precond_chol, seed,
                                        offset, out):
    return preconditioned_langevin_step_philox_checked(x, grad, step, precond_diag,
                                                       precond_chol, seed, offset, out, True)[0]


def mala_step_philox_checked(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step, seed,
                             offset):
    u = philox_uniforms((x.shape[0],), seed, offset, x.dtype)
    return mala_step_checked(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step, u)


def mala_step_philox(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step, seed, offset):
    return mala_step_philox_checked(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step,
                                    seed, offset)[0]


def langevin_run_gmm_philox_checked(x, n_steps, step, weights, means, scales, seed, offset):
    return _gmm_run(x, n_steps, step, weights, means, scales, np.empty((1, 1, 1), x.dtype), True,
                    seed, offset)


def langevin_run_gmm_philox(x, n_steps, step, weights, means, scales, seed, offset):
    return langevin_run_gmm_philox_checked(x, n_steps, step, weights, means, scales, seed,
                                           offset)[0]


@njit(cache=True, parallel=True)
def _run_quadratic_philox(x, n_steps, half, sq, A, mu, seed, offset, f32):
    N, D = x.shape
    bad = np.full((N + _BLOCK - 1) // _BLOCK, -1, np.int64)
    for ch in prange(bad.shape[0]):
        r = np.empty(D, x.dtype)
        for n in range(ch * _BLOCK, min(N, (ch + 1) * _BLOCK)):
            xr = x[n]
            for t in range(n_steps):
                _centre(xr, mu, r)
                base = offset + np.uint64((t * N + n) * D)
                for d in range(D):
                    z = x.dtype.type(_normal(seed, base + np.uint64(d), f32))
                    xr[d] = (xr[d] - half * _quadratic_grad(r, A, d)) + sq * z
        bad[ch] = _first_nonfinite_row(x, ch * _BLOCK, min(N, (ch + 1) * _BLOCK))
    return first_bad(bad)


def langevin_run_quadratic_philox_checked(x, n_steps, step, A, mu, seed, offset):
    dt = x.dtype.type
    x = x.copy()
    bad = _run_quadratic_philox(x, n_steps, dt(step / 2), dt(np.sqrt(step)), A, mu,
                                np.uint64(seed), np.uint64(offset), x.dtype == np.float32)
    return x, int(bad)


def langevin_run_quadratic_philox(x, n_steps, step, A, mu, seed, offset):
    return langevin_run_quadratic_philox_checked(x, n_steps, step, A, mu, seed, offset)[0]


def warm_up() -> None:
    """Compile (or load from cache) every kernel of this module on tiny inputs: float32
    and float64, explicit noise/uniforms and the in-kernel Philox stream (``uint64``
    seed/offset), each step, the MALA test and both multi-step runners."""
    for dtype in (np.float32, np.float64):
        x = np.zeros((2, 2), dtype)
        g, z, out = np.zeros_like(x), np.zeros_like(x), np.empty_like(x)
        m, e, u = np.ones(2, dtype), np.zeros(2, dtype), np.full(2, 0.5, dtype)
        f, h, s, one = x.reshape(-1), dtype(0.1), dtype(0.3), np.uint64(1)
        for par in (_ula_flat, _ula_flat_serial):  # the serial twins run below SERIAL_BELOW
            par(f, f, f, h, s, out.reshape(-1))
        for par in (_ula_diag_flat, _ula_diag_flat_serial):
            par(f, f, f, m, h, s, out.reshape(-1))
        for par in (_ula_flat_philox, _ula_flat_philox_serial):
            par(f, f, h, s, one, one, dtype == np.float32, out.reshape(-1))
        for par in (_ula_diag_flat_philox, _ula_diag_flat_philox_serial):
            par(f, f, m, h, s, one, one, dtype == np.float32, out.reshape(-1))
        for par in (_mala, _mala_serial):
            par(x, x, g, g, e, e, 0.1, u, np.empty_like(x), np.empty_like(x), np.empty_like(e),
                np.empty(2, np.bool_), np.empty(2, dtype))
        langevin_step(x, g, 0.1, z, out)
        langevin_step_philox(x, g, 0.1, 1, 0, out)
        preconditioned_langevin_step(x, g, 0.1, z, m, None, out)
        preconditioned_langevin_step(x, g, 0.1, z, None, np.eye(2, dtype=dtype), out)
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
