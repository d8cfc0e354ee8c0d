"""CuPy wrappers around ``kernels/langevin.cu`` (see the reference for the math).

Element-wise steps use a 1-D grid-stride launch over the flattened arrays; the MALA
test and the fused runners use one thread per chain (the runners keep the state in
registers: D <= 32, K <= 64). The full-matrix preconditioner uses cuBLAS products.
Each kernel writes the first bad index it meets (see the .cu) to a device status word,
read once after the launch. Untested on a device in the session that wrote it (no GPU
there): see the gpu tests.
"""

from __future__ import annotations

import numpy as np

from ._module import grid_1d, load_module
from ._status import first_bad, new_status

_CTYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
_NAMES = ("ula_step", "mala_accept", "run_gmm", "run_quadratic")
# every template instance the wrapper asks NVRTC for (tests compile these without a GPU)
NAME_EXPRESSIONS = tuple(f"{k}<{c}>" for k in _NAMES for c in ("float", "double"))
_MAX_BLOCKS = 65535
MAX_D, MAX_K = 32, 64


def _kernel(name, dtype):
    return load_module("langevin", name_expressions=NAME_EXPRESSIONS).get_function(
        f"{name}<{_CTYPE[np.dtype(dtype)]}>")


def _prep(dtype, *arrays):
    import cupy

    if np.dtype(dtype) not in _CTYPE:
        raise TypeError(f"cupy langevin kernels need float32 or float64, got {dtype}")
    return [cupy.ascontiguousarray(a, dtype=dtype) for a in arrays]


def _ula(x, grad, step, noise, m, seed, offset, out, coefs=None):
    """``(out, 1 if a result is not finite else 0)``: ``out = x - half g + sq z`` with
    ``(half, sq) = coefs or (step / 2, sqrt(step))``."""
    dt = x.dtype.type
    half, sq = coefs or (step / 2, np.sqrt(step))
    x, grad = _prep(x.dtype, x, grad)
    z = x if noise is None else _prep(x.dtype, noise)[0]
    mm = x if m is None else _prep(x.dtype, m)[0]
    n = x.size
    status = new_status()
    if n:
        grid, block = grid_1d(n)
        _kernel("ula_step", x.dtype)(
            (min(grid[0], _MAX_BLOCKS),), block,
            (x, grad, z, mm, dt(half), dt(sq), out, np.int64(n),
             np.int64(x.shape[-1] if x.ndim else 1), np.int32(m is not None),
             np.int32(seed is not None), np.uint64(seed or 0), np.uint64(offset), status))
    return out, int(first_bad(status) >= 0)


def langevin_step_checked(x, grad, step, noise, out, raw=False):
    return _ula(x, grad, step, noise, None, None, 0, out)


def langevin_step_philox_checked(x, grad, step, seed, offset, out, raw=False):
    return _ula(x, grad, step, None, None, seed, offset, out)


def langevin_step(x, grad, step, noise, out):
    return langevin_step_checked(x, grad, step, noise, out)[0]


def langevin_step_philox(x, grad, step, seed, offset, out):
    return langevin_step_philox_checked(x, grad, step, seed, offset, out)[0]


def preconditioned_langevin_step_checked(x, grad, step, noise, precond_diag, precond_chol,
                                         out, raw=False):
    if precond_diag is not None:
        return _ula(x, grad, step, noise, precond_diag, None, 0, out)
    dt = x.dtype.type
    t = dt(-step / 2) * (grad @ precond_chol) + dt(np.sqrt(step)) * noise
    t = t @ precond_chol.T
    # the last add with its finiteness check: ula_step's x - half g + sq z with g = t,
    # half = -1, sq = 0 (z = x: 0 * x adds nothing to a finite x)
    return _ula(x, t, step, None, None, None, 0, out, coefs=(-1.0, 0.0))


def preconditioned_langevin_step_philox_checked(x, grad, step, precond_diag, precond_chol,
                                                seed, offset, out, raw=False):
    if precond_diag is not None:
        return _ula(x, grad, step, None, precond_diag, seed, offset, out)
    from .philox import philox_normals

    z = philox_normals(x.shape, seed, offset, x.dtype)
    return preconditioned_langevin_step_checked(x, grad, step, z, None, precond_chol, out)


def preconditioned_langevin_step(x, grad, step, noise, precond_diag, precond_chol, out):
    return preconditioned_langevin_step_checked(x, grad, step, noise, precond_diag,
                                                precond_chol, out)[0]


def preconditioned_langevin_step_philox(x, grad, step, precond_diag, precond_chol, seed,
                                        offset, out):
    return preconditioned_langevin_step_philox_checked(x, grad, step, precond_diag,
                                                       precond_chol, seed, offset, out)[0]


def _mala(x, y, gx, gy, ex, ey, step, u, seed, offset):
    import cupy

    x, y, gx, gy, ex, ey = _prep(x.dtype, x, y, gx, gy, ex, ey)
    N, D = x.shape
    x_new, g_new, e_new = cupy.empty_like(x), cupy.empty_like(x), cupy.empty_like(ex)
    acc = cupy.empty(N, dtype=cupy.bool_)
    la = cupy.empty(N, dtype=x.dtype)
    uu = ex if u is None else _prep(x.dtype, u)[0]
    status = new_status()
    if N:
        grid, block = grid_1d(N, 128)
        _kernel("mala_accept", x.dtype)(
            grid, block,
            (x, y, gx, gy, ex, ey, np.float64(step), uu, x_new, g_new, e_new, acc, la,
             np.int64(N), np.int64(D), np.int32(seed is not None), np.uint64(seed or 0),
             np.uint64(offset), status))
    return (x_new, g_new, e_new, acc, la), first_bad(status)


def mala_step_checked(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step, uniforms):
    return _mala(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step, uniforms, None, 0)


def mala_step_philox_checked(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step, seed,
                             offset):
    return _mala(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step, None, seed, offset)


def mala_step(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step, uniforms):
    return mala_step_checked(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step,
                             uniforms)[0]


def mala_step_philox(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step, seed, offset):
    return mala_step_philox_checked(x, x_prop, grad_x, grad_prop, energy_x, energy_prop, step,
                                    seed, offset)[0]


def _check_dims(D, K=1):
    if D > MAX_D or K > MAX_K:
        raise ValueError(f"the cupy fused Langevin runners support D <= {MAX_D} and K <= "
                         f"{MAX_K} (got D={D}, K={K}); loop langevin_step instead")


def _gmm(x, n_steps, step, weights, means, scales, noise, seed, offset):
    """``(final states, first chain whose final state is not finite, or -1)``; the kernel
    runs even for ``n_steps = 0``, to check the start states."""
    from ..reference.langevin import gmm_constants

    dt = x.dtype.type
    N, D = x.shape
    K = means.shape[0]
    _check_dims(D, K)
    x = _prep(x.dtype, x)[0].copy()
    logw, inv_var = gmm_constants(weights, scales, D)  # 1/s^2 capped at the dtype's max
    logw, means, inv_var = _prep(x.dtype, logw, means, inv_var)
    z = x if noise is None else _prep(x.dtype, noise)[0]
    status = new_status()
    if N:
        grid, block = grid_1d(N, 128)
        _kernel("run_gmm", x.dtype)(
            grid, block,
            (x, np.int64(N), np.int32(D), np.int32(K), np.int32(n_steps), dt(step / 2),
             dt(np.sqrt(step)), logw, means, inv_var, z, np.int32(seed is not None),
             np.uint64(seed or 0), np.uint64(offset), status))
    return x, first_bad(status)


def langevin_run_gmm_checked(x, n_steps, step, weights, means, scales, noise):
    return _gmm(x, n_steps, step, weights, means, scales, noise, None, 0)


def langevin_run_gmm_philox_checked(x, n_steps, step, weights, means, scales, seed, offset):
    return _gmm(x, n_steps, step, weights, means, scales, None, seed, offset)


def langevin_run_gmm(x, n_steps, step, weights, means, scales, noise):
    return langevin_run_gmm_checked(x, n_steps, step, weights, means, scales, noise)[0]


def langevin_run_gmm_philox(x, n_steps, step, weights, means, scales, seed, offset):
    return langevin_run_gmm_philox_checked(x, n_steps, step, weights, means, scales, seed,
                                           offset)[0]


def _quad(x, n_steps, step, A, mu, noise, seed, offset):
    dt = x.dtype.type
    N, D = x.shape
    _check_dims(D)
    x = _prep(x.dtype, x)[0].copy()
    A, mu = _prep(x.dtype, A, mu)
    z = x if noise is None else _prep(x.dtype, noise)[0]
    status = new_status()
    if N:
        grid, block = grid_1d(N, 128)
        _kernel("run_quadratic", x.dtype)(
            grid, block,
            (x, np.int64(N), np.int32(D), np.int32(n_steps), dt(step / 2), dt(np.sqrt(step)),
             A, mu, z, np.int32(seed is not None), np.uint64(seed or 0), np.uint64(offset),
             status))
    return x, first_bad(status)


def langevin_run_quadratic_checked(x, n_steps, step, A, mu, noise):
    return _quad(x, n_steps, step, A, mu, noise, None, 0)


def langevin_run_quadratic_philox_checked(x, n_steps, step, A, mu, seed, offset):
    return _quad(x, n_steps, step, A, mu, None, seed, offset)


def langevin_run_quadratic(x, n_steps, step, A, mu, noise):
    return langevin_run_quadratic_checked(x, n_steps, step, A, mu, noise)[0]


def langevin_run_quadratic_philox(x, n_steps, step, A, mu, seed, offset):
    return langevin_run_quadratic_philox_checked(x, n_steps, step, A, mu, seed, offset)[0]
