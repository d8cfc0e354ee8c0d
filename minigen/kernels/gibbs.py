r"""Gibbs kernels: block Gibbs for Bernoulli RBMs and single-site sweeps for Boltzmann machines.

RBM energy :math:`E(v, h) = -v^T W h - b^T v - c^T h`:
:math:`p(h_j{=}1 \mid v) = \sigma(c_j + v^T W_{:,j})`,
:math:`p(v_i{=}1 \mid h) = \sigma(b_i + W_{i,:} h)`.

Fully visible Boltzmann machine :math:`E(x) = -\tfrac12 x^T J x - h^T x`:
:math:`p(x_i{=}1 \mid x_{-i}) = \sigma(h_i + \sum_j J_{ij} x_j)`.

The wrapper makes O(1) checks (shapes, dtypes, backend; and the small ``J``, ``h``,
``order`` of a Boltzmann machine); the values of ``v``, ``W``, ``b``, ``c``, the states
and the uniforms are checked by the active backend's kernel as it reads them
(:func:`minigen.kernels._dispatch.implementation`), which returns how many were bad;
only then does the wrapper look at the inputs, to raise the error naming one.

References: G. Hinton, "Training products of experts by minimizing contrastive
divergence", 2002; T. Tieleman, "Training RBMs using approximations to the likelihood
gradient" (PCD), ICML 2008.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._validation import NonFiniteError, check_array, check_binary, check_positive_int
from ..backend import check_on_backend, xp_of
from ._checks import as_kernel_array
from ._dispatch import implementation
from ._stream import check_unit_interval, float_dtype, resolve_stream


class RBMGibbsResult(NamedTuple):
    """Output of :func:`rbm_gibbs` (arrays in the dtype of ``W``).

    v : (B, V) final visible sample v_k.
    h : (B, H) last hidden sample h_{k-1} (the one v_k was drawn from).
    pv : (B, V) p(v=1 | h_{k-1}) (the mean of v_k).
    ph : (B, H) p(h=1 | v_k) (negative-phase statistics), None if ``compute_ph=False``.
    ph0 : (B, H) p(h=1 | v_0) (positive-phase statistics).
    h0 : (B, H) hidden sample drawn from v_0.
    """

    v: object
    h: object
    pv: object
    ph: object
    ph0: object
    h0: object


def min_max(arrays):
    """Host float64 arrays ``(lo, hi)``: the minimum and maximum of each array (0 for an
    empty one; NaN if it holds a NaN), with one device-to-host transfer for all the
    device arrays among them (host arrays are reduced on the host)."""
    lo, hi = np.zeros(len(arrays)), np.zeros(len(arrays))
    on_device = []
    for i, a in enumerate(arrays):
        if not a.size:
            continue
        if isinstance(a, np.ndarray):
            lo[i], hi[i] = a.min(), a.max()
        else:
            on_device.append(i)
    if on_device:
        xp = xp_of(arrays[on_device[0]])
        parts = [xp.stack([arrays[i].min().astype(xp.float64),
                           arrays[i].max().astype(xp.float64)]) for i in on_device]
        both = xp.asnumpy(xp.stack(parts))  # (n, 2): the one synchronization
        lo[on_device], hi[on_device] = both[:, 0], both[:, 1]
    return lo, hi


def rbm_gibbs(v, W, b, c, k: int = 1, *, uniforms=None, seed=None, offset: int = 0,
              compute_ph: bool = True) -> RBMGibbsResult:
    r"""Run ``k`` block-Gibbs steps ``v -> h -> v`` of a Bernoulli RBM, for a batch of chains.

    Step ``t`` (``t = 0..k-1``): :math:`h_t \sim p(h \mid v_t)`, :math:`v_{t+1} \sim p(v \mid h_t)`;
    a Bernoulli draw is ``u < p``. CD-k uses ``v0^T ph0 - v_k^T ph`` (and ``ph0 - ph``,
    ``v0 - v``); PCD keeps ``v`` as the persistent chains.

    Parameters
    ----------
    v : (B, V) array in [0, 1]
        Initial visible states (data may be real-valued in [0, 1]).
    W : (V, H) float array; b : (V,) visible bias; c : (H,) hidden bias.
        Everything is computed in ``W``'s dtype (float32 or float64; other -> float64).
    k : int >= 1
        Number of Gibbs steps.
    uniforms : (k, B, H + V) array in [0, 1), optional
        Explicit randomness: ``uniforms[t, :, :H]`` draws h_t, ``uniforms[t, :, H:]`` draws v_{t+1}.
    seed, offset : int, optional
        Philox stream used instead of ``uniforms`` (in-kernel): the uniforms above are stream
        positions ``offset .. offset + k*B*(H+V) - 1`` in C order, so the next independent
        call should pass ``offset + k*B*(H+V)``. ``seed=None`` and no ``uniforms``: fresh seed.
    compute_ph : bool
        Compute ``ph = p(h | v_k)`` (one more matrix product); ``False`` leaves it ``None``.

    Returns
    -------
    RBMGibbsResult
        Named tuple ``(v, h, pv, ph, ph0, h0)``, see :class:`RBMGibbsResult`.
    """
    W = check_array(W, "W", ndim=2, finite=False)
    dt = np.dtype(float_dtype(W))
    V, H = W.shape
    v = check_array(v, "v", ndim=2, finite=False)
    if v.shape[1] != V:
        raise ValueError(f"v must have shape (B, {V}) to match W {W.shape}, got {v.shape}")
    b = check_array(b, "b", shape=(V,), finite=False)
    c = check_array(c, "c", shape=(H,), finite=False)
    k = check_positive_int(k, "k")
    for name, a in (("v", v), ("W", W), ("b", b), ("c", c)):
        check_on_backend(a, name)
    seed, offset = resolve_stream(uniforms, "uniforms", seed, offset, k * v.shape[0] * (H + V))
    if seed is None:
        uniforms = check_array(uniforms, "uniforms", shape=(k, v.shape[0], H + V), finite=False)
        check_on_backend(uniforms, "uniforms")
        # cast before the range check (in the kernel): a float64 u just below 1 rounds to
        # 1.0 in float32, where a unit with p = 1 would draw 0 (u < p fails)
        uniforms = as_kernel_array(uniforms, dt)
    v, W, b, c = (as_kernel_array(a, dt) for a in (v, W, b, c))
    if seed is None:
        out, nbad = implementation("gibbs", "rbm_gibbs_checked")(v, W, b, c, k, uniforms,
                                                                 compute_ph)
    else:
        out, nbad = implementation("gibbs", "rbm_gibbs_philox_checked")(
            v, W, b, c, k, seed, offset, compute_ph)
    if nbad:
        _raise_rbm_error(v, W, b, c, uniforms if seed is None else None, out)
    return RBMGibbsResult(*out)


def _raise_rbm_error(v, W, b, c, uniforms, out):
    """The kernel counted bad values: name the input (``ValueError``), or, for valid
    inputs whose products overflowed into NaN probabilities, ``FloatingPointError``
    (an overflow to +-inf alone gives probabilities of exactly 0 or 1: no error)."""
    # min/max reductions (NaN propagates through both) with, on a GPU, one transfer
    checked = (W, v, b, c) if uniforms is None else (W, v, b, c, uniforms)
    lo, hi = min_max(checked)
    if not (np.isfinite(lo[0]) and np.isfinite(hi[0])):
        raise NonFiniteError("W contains NaN or infinite values")
    if not (lo[1] >= 0 and hi[1] <= 1):
        raise ValueError("v must lie in [0, 1] (and be finite)")
    for i, name in ((2, "b"), (3, "c")):
        if not (np.isfinite(lo[i]) and np.isfinite(hi[i])):
            raise NonFiniteError(f"{name} contains NaN or infinite values")
    if uniforms is not None and not (lo[4] >= 0 and hi[4] < 1):
        raise ValueError(f"uniforms must lie in [0, 1) in {np.dtype(uniforms.dtype).name}")
    if out is not None and any(bool(xp_of(a).isnan(a).any()) for a in out if a is not None):
        raise FloatingPointError(
            "rbm_gibbs: the pre-activations v W + c or h W^T + b overflow "
            f"{np.dtype(W.dtype).name} into NaN probabilities (|W| too large)")


def _check_J(J, name="J"):
    xp = xp_of(J)
    if J.shape[0] != J.shape[1]:
        raise ValueError(f"{name} must be square, got shape {J.shape}")
    if J.size and bool((xp.diagonal(J) != 0).any()):
        raise ValueError(f"{name} must have a zero diagonal")
    tol = (1e-6 if J.dtype == np.float32 else 1e-12) * (float(xp.abs(J).max()) if J.size else 0)
    if J.size and float(xp.abs(J - J.T).max()) > tol:
        raise ValueError(f"{name} must be symmetric (max |J - J^T| = "
                         f"{float(xp.abs(J - J.T).max()):.3g})")
    return J


def bm_gibbs_sweep(state, J, h, *, n_sweeps: int = 1, uniforms=None, order=None, seed=None,
                   offset: int = 0):
    r"""Sequential single-site Gibbs sweeps of a fully visible Boltzmann machine, many chains.

    In sweep ``s`` sites are visited in ``order``; site ``i`` of chain ``c`` becomes
    ``u[s, c, i] < sigmoid(h_i + sum_j J_ij x_j)`` using the *current* states (true
    sequential Gibbs, so the chain leaves :math:`p(x) \propto e^{-E(x)}` invariant).

    Parameters
    ----------
    state : (chains, n) array of 0/1
    J : (n, n) symmetric float array with zero diagonal; h : (n,) field.
    n_sweeps : int >= 0
    uniforms : (n_sweeps, chains, n) array in [0, 1), optional
        Indexed by site (not by position in ``order``).
    order : (n,) permutation of ``range(n)``, optional (default ``0..n-1``).
    seed, offset : int, optional
        Philox stream replacing ``uniforms`` (positions ``offset + (s*chains + c)*n + i``;
        the next call should pass ``offset + n_sweeps*chains*n``).

    Returns
    -------
    (chains, n) array in ``J``'s float dtype, the new states (input not modified).
    """
    # J (n x n), h and order are the model, not the data: checked here, explicitly
    J = check_array(J, "J", ndim=2)
    xp = xp_of(J)
    dt = np.dtype(float_dtype(J))
    J = _check_J(as_kernel_array(J, dt))
    n = J.shape[0]
    state = check_array(state, "state", ndim=2, finite=False)
    if state.shape[1] != n:
        raise ValueError(f"state must have shape (chains, {n}) to match J, got {state.shape}")
    h = as_kernel_array(check_array(h, "h", shape=(n,)), dt)
    n_sweeps = check_positive_int(n_sweeps, "n_sweeps", allow_zero=True)
    if order is None:
        order = xp.arange(n, dtype=np.int64)
    else:
        order = check_array(order, "order", ndim=1)
        if order.dtype.kind not in "iu" or order.shape != (n,) or not bool(
            (xp.sort(order) == xp.arange(n)).all()
        ):
            raise ValueError(f"order must be a permutation of range({n})")
        order = as_kernel_array(order, np.dtype(np.int64))
    for name, a in (("state", state), ("J", J), ("h", h)):
        check_on_backend(a, name)
    seed, offset = resolve_stream(uniforms, "uniforms", seed, offset, n_sweeps * state.size)
    state = as_kernel_array(state, dt)  # the kernel copies it into the result, checking 0/1
    if seed is None:
        uniforms = check_array(uniforms, "uniforms", shape=(n_sweeps,) + state.shape,
                               finite=False)
        check_on_backend(uniforms, "uniforms")
        uniforms = as_kernel_array(uniforms, dt)
        x, nbad = implementation("gibbs", "bm_gibbs_sweep_checked")(state, J, h, n_sweeps,
                                                                    uniforms, order)
    else:
        x, nbad = implementation("gibbs", "bm_gibbs_sweep_philox_checked")(
            state, J, h, n_sweeps, order, seed, offset)
    if nbad:  # name the bad input (the old explicit checks, now on the error path only)
        check_binary(check_array(state, "state"), "state")
        if seed is None:
            check_unit_interval(check_array(uniforms, "uniforms"), "uniforms")
        raise RuntimeError(f"bm_gibbs_sweep: the kernel counted {nbad} bad values in valid "
                           "input")  # a bug
    return x
