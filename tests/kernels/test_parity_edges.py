"""Backend parity on 1,000 small random cases per kernel, with the acceptance edge cases.

Every non-NumPy CPU backend must equal the NumPy reference on the *same* explicit
randomness and on the same ``(seed, offset)`` Philox stream: exactly for discrete outputs
(indices, samples, accept flags, Philox words and uniforms), to the tolerance the other
kernel tests use for continuous ones. The case generators cycle deterministically
through the edge cases: one row / chain, an empty batch (0 rows), float32 and float64,
``u = 0`` and ``u`` just below 1 (``np.nextafter(1, 0)`` in the dtype), one category and
zero weights (multinomial), ``k > 1`` (RBM), ``n_sweeps = 0`` (BM), ``n_steps = 0``
(Langevin runners) and ``inverse=True`` (couplings).
"""

# The loops build `lambda: kernel(...)` calls that _both() runs at once, before the loop
# variables change, so late binding (B023) is harmless here.
# ruff: noqa: B023

from __future__ import annotations

import numpy as np
import pytest

from minigen.backend import backend_info, use_backend
from minigen.kernels import (
    actnorm,
    actnorm_backward,
    additive_coupling,
    additive_coupling_backward,
    affine_coupling,
    affine_coupling_backward,
    bm_gibbs_sweep,
    categorical_from_logits,
    invconv1x1,
    langevin_run_gmm,
    langevin_run_quadratic,
    langevin_step,
    mala_step,
    multinomial_threshold,
    philox_normals,
    philox_raw,
    philox_uniforms,
    preconditioned_langevin_step,
    rbm_gibbs,
)

AVAILABLE = [r["name"] for r in backend_info() if r["available"]]
OTHERS = [b for b in ("numba",) if b in AVAILABLE]
DTYPES = (np.float32, np.float64)
TOL = {np.float32: 1e-5, np.float64: 1e-12}
N_CASES = 1000


def one_minus(dt):
    """The largest uniform below 1 in dtype ``dt``."""
    return np.nextafter(dt(1), dt(0))


def _dtype(i):
    return DTYPES[i % 2]


def _rows(i, rng, hi=6):
    """Batch size for case ``i``: 0 and 1 in every fifth pair of cases each, else random."""
    kind = (i // 2) % 5
    return 0 if kind == 0 else 1 if kind == 1 else int(rng.integers(2, hi + 1))


def _edge_uniforms(rng, shape, dt, i):
    """Uniforms in [0, 1) of ``dt`` with entries forced to 0 and to just below 1."""
    u = rng.random(shape).astype(dt)
    if u.size:
        mode = i % 4
        if mode == 1:
            u.flat[0] = 0
        elif mode == 2:
            u.flat[-1] = one_minus(dt)
        elif mode == 3:  # a whole mix of both ends
            pick = rng.random(shape)
            u[pick < 0.3] = 0
            u[pick > 0.7] = one_minus(dt)
    return u


def _both(backend, call):
    """``call()`` on the NumPy reference and on ``backend``."""
    with use_backend("numpy"):
        ref = call()
    with use_backend(backend):
        got = call()
    return ref, got


def _close(ref, got, dt, scale=1.0, msg=""):
    ref, got = np.asarray(ref), np.asarray(got)
    assert ref.shape == got.shape and ref.dtype == got.dtype, msg
    np.testing.assert_allclose(got, ref, rtol=TOL[dt] * scale, atol=TOL[dt] * scale,
                               err_msg=msg)


def _equal(ref, got, msg=""):
    ref, got = np.asarray(ref), np.asarray(got)
    assert ref.shape == got.shape and ref.dtype == got.dtype, msg
    np.testing.assert_array_equal(got, ref, err_msg=msg)


# ------------------------------------------------------------------------------ philox


@pytest.mark.parametrize("backend", OTHERS)
def test_philox_parity_1000_cases(backend):
    rng = np.random.default_rng(101)
    for i in range(N_CASES):
        dt = _dtype(i)
        shape = [(0,), (1,), (0, 3), (1, 1), (int(rng.integers(2, 9)), int(rng.integers(1, 5)))][
            (i // 2) % 5]
        size = int(np.prod(shape))
        seed = int(rng.integers(0, 2**64, dtype=np.uint64)) if i % 3 else int(i % 7)
        offset = [0, int(rng.integers(0, 2**40)), 2**64 - max(size, 1)][i % 3]
        msg = f"case {i}: {shape} {dt.__name__} seed={seed} offset={offset}"
        _equal(*_both(backend, lambda: philox_uniforms(shape, seed, offset, dt)), msg)
        ref, got = _both(backend, lambda: philox_normals(shape, seed, offset, dt))
        assert ref.dtype == got.dtype == dt, msg
        # Box-Muller: NumPy's SIMD log/cos and libm may differ in the last ulp
        np.testing.assert_allclose(got, ref, rtol=1e-12 if dt == np.float64 else 1e-6,
                                   atol=1e-12, err_msg=msg)
        n_blocks = [0, 1, int(rng.integers(2, 6))][i % 3]
        key = (int(rng.integers(0, 2**32)), int(rng.integers(0, 2**32)))
        counter = int(rng.integers(0, 2**63)) * (1 << int(rng.integers(0, 66)))
        _equal(*_both(backend, lambda: philox_raw(n_blocks, key, counter)), msg)


# ------------------------------------------------------------------------- multinomial


def _multinomial_case(rng, i):
    """(weights, u) of case ``i``: C = 1, zero weights at both ends, ties, boundaries."""
    dt = _dtype(i)
    n = _rows(i, rng, 5)
    c = [1, 1, 2, 3, 8, 9, int(rng.integers(1, 20))][(i // 3) % 7]
    kind = i % 5
    w = rng.random((n, c))
    if kind == 1:  # zeros everywhere, including the first and the last category
        w[rng.random((n, c)) < 0.6] = 0
        w[:, 0] = 0 if c > 1 else w[:, 0]
        w[:, -1] = 0 if c > 2 else w[:, -1]
    elif kind == 2:  # one positive weight per row
        w = np.zeros((n, c))
        if n:
            w[np.arange(n), rng.integers(0, c, n)] = rng.random(n) + 0.1
    elif kind == 3:  # equal weights, u on the partial-sum boundaries j / c
        w = np.ones((n, c))
    elif kind == 4:  # magnitudes far apart within a row
        w = w * 10.0 ** rng.integers(-20, 20, (n, c))
    w = w.astype(dt)
    if n:
        dead = w.max(axis=1) <= 0
        w[dead, c - 1] = 1
    u = _edge_uniforms(rng, n, dt, i)
    if kind == 3 and n:
        u = (rng.integers(0, c, n) / c).astype(dt)
        u[0] = 0
    return w, u


@pytest.mark.parametrize("backend", OTHERS)
def test_multinomial_and_logits_parity_1000_cases(backend):
    rng = np.random.default_rng(202)
    for i in range(N_CASES):
        w, u = _multinomial_case(rng, i)
        dt = w.dtype.type
        seed, offset = int(rng.integers(0, 2**63)), int(rng.integers(0, 2**32))
        tau = [1.0, 0.5, 3.0][i % 3]
        msg = f"case {i}: {w.shape} {dt.__name__} u={u[:4]}"
        with np.errstate(divide="ignore"):
            logits = np.log(w)  # zero weights -> masked (-inf) categories
        calls = {
            "u": lambda: multinomial_threshold(w, u),
            "u64": lambda: multinomial_threshold(w, u.astype(np.float64)),
            "seed": lambda: multinomial_threshold(w, seed=seed, offset=offset),
            "logits u": lambda: categorical_from_logits(logits, u, temperature=tau),
            "logits seed": lambda: categorical_from_logits(logits, seed=seed, offset=offset,
                                                           temperature=tau),
        }
        for name, call in calls.items():
            ref, got = _both(backend, call)
            _equal(ref, got, f"{name}, {msg}")
            assert got.dtype == np.int64 and got.shape == (w.shape[0],)
            if name in ("u", "u64", "seed") and w.shape[0]:
                assert (w[np.arange(w.shape[0]), got] > 0).all(), f"zero weight: {name} {msg}"


@pytest.mark.parametrize("backend", OTHERS)
@pytest.mark.parametrize("dt", DTYPES)
def test_multinomial_edges_by_hand(backend, dt):
    """u = 0 picks the first positive weight, u just below 1 the last one, whatever the
    zeros around them; C = 1 always gives 0; an empty batch gives an empty int64 array."""
    top = one_minus(dt)
    w = np.array([[0, 0, 2, 0, 1, 0], [3, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 5],
                  [1, 1, 1, 1, 1, 1]], dt)
    for u, want in ((np.zeros(4, dt), [2, 0, 5, 0]), (np.full(4, top), [4, 0, 5, 5])):
        ref, got = _both(backend, lambda u=u: multinomial_threshold(w, u))
        _equal(ref, got)
        np.testing.assert_array_equal(got, want)
        lg = np.log(w, where=w > 0, out=np.full_like(w, -np.inf))
        ref, got = _both(backend, lambda u=u: categorical_from_logits(lg, u))
        _equal(ref, got)
        np.testing.assert_array_equal(got, want)
    one = np.full((3, 1), 0.5, dt)
    for kw in ({"u": np.array([0, 0.5, top], dt)}, {"seed": 3, "offset": 2**64 - 3}):
        for fn in (multinomial_threshold, categorical_from_logits):
            ref, got = _both(backend, lambda fn=fn, kw=kw: fn(one, **kw))
            _equal(ref, got)
            np.testing.assert_array_equal(got, 0)
    for kw in ({"u": np.zeros(0, dt)}, {"seed": 1}):
        for fn in (multinomial_threshold, categorical_from_logits):
            ref, got = _both(backend, lambda fn=fn, kw=kw: fn(np.ones((0, 4), dt), **kw))
            _equal(ref, got)
            assert got.shape == (0,) and got.dtype == np.int64


# ------------------------------------------------------------------------------- gibbs


def _check_rbm(ref, got, dt, msg):
    for f in ref._fields:
        a, b = getattr(ref, f), getattr(got, f)
        if a is None:
            assert b is None, f"{f}: {msg}"
        elif f in ("v", "h", "h0"):
            _equal(a, b, f"{f}: {msg}")
        else:
            _close(a, b, dt, msg=f"{f}: {msg}")


@pytest.mark.parametrize("backend", OTHERS)
def test_rbm_gibbs_parity_1000_cases(backend):
    rng = np.random.default_rng(303)
    for i in range(N_CASES):
        dt = _dtype(i)
        B = _rows(i, rng, 5)
        V, H = int(rng.integers(1, 7)), int(rng.integers(1, 7))
        k = [1, 2, 3][(i // 3) % 3]
        scale = [0.5, 2.0, 30.0][(i // 9) % 3]  # 30: saturated sigmoids (p = 0 or 1)
        W = (rng.normal(size=(V, H)) * scale).astype(dt)
        b, c = (rng.normal(size=V) * scale).astype(dt), (rng.normal(size=H) * scale).astype(dt)
        v = rng.random((B, V)).astype(dt)
        if i % 5:  # binary chains; else real-valued data in [0, 1] (incl. both ends)
            v = (v < 0.5).astype(dt)
        elif v.size:
            v.flat[0], v.flat[-1] = 0, 1
        u = _edge_uniforms(rng, (k, B, H + V), dt, i)
        compute_ph = bool(i % 7)
        seed, offset = int(rng.integers(0, 2**64, dtype=np.uint64)), int(rng.integers(0, 2**40))
        msg = f"case {i}: B={B} V={V} H={H} k={k} {dt.__name__} scale={scale}"
        _check_rbm(*_both(backend, lambda: rbm_gibbs(v, W, b, c, k, uniforms=u,
                                                     compute_ph=compute_ph)), dt, msg)
        _check_rbm(*_both(backend, lambda: rbm_gibbs(v, W, b, c, k, seed=seed, offset=offset,
                                                     compute_ph=compute_ph)), dt,
                   "philox " + msg)


@pytest.mark.parametrize("backend", OTHERS)
@pytest.mark.parametrize("dt", DTYPES)
def test_rbm_gibbs_uniform_ends(backend, dt):
    """u = 0 draws 1 unless p == 0; u just below 1 draws 1 only where p rounds to 1."""
    W = np.array([[1000.0, -1000.0], [0.0, 0.0]], dt)  # exp overflows: p is exactly 0 or 1
    b, c = np.array([1000.0, -1000.0], dt), np.zeros(2, dt)
    v = np.array([[1, 0], [1, 1]], dt)
    for u0, want_h in ((0, [[1, 0], [1, 0]]), (one_minus(dt), [[1, 0], [1, 0]])):
        u = np.full((3, 2, 4), u0, dt)
        ref, got = _both(backend, lambda u=u: rbm_gibbs(v, W, b, c, 3, uniforms=u))
        _check_rbm(ref, got, dt, f"u={u0}")
        np.testing.assert_array_equal(got.h0, want_h)
        np.testing.assert_array_equal(got.v, [[1, 0], [1, 0]])
    half = np.full((1, 2, 4), 0.5, dt)  # p = 1/2 exactly at zero weights: u = 1/2 is not < p
    z = np.zeros((2, 2), dt)
    ref, got = _both(backend, lambda: rbm_gibbs(v, z, b * 0, c, 1, uniforms=half))
    _check_rbm(ref, got, dt, "zero weights")
    np.testing.assert_array_equal(got.h0, 0)
    np.testing.assert_array_equal(got.ph0, 0.5)


def _bm_case(rng, i):
    dt = _dtype(i)
    chains = _rows(i, rng, 5)
    n = int(rng.integers(1, 7))
    sweeps = [0, 1, 2, 3][(i // 3) % 4]
    scale = [0.5, 2.0, 30.0][(i // 12) % 3]
    J = rng.normal(size=(n, n)) * scale
    J = ((J + J.T) / 2).astype(dt)
    np.fill_diagonal(J, 0)
    h = (rng.normal(size=n) * scale).astype(dt)
    state = (rng.random((chains, n)) < 0.5).astype([np.int8, dt, np.float64][i % 3])
    order = None if i % 4 == 0 else rng.permutation(n)
    u = _edge_uniforms(rng, (sweeps, chains, n), dt, i)
    return state, J, h, sweeps, order, u


@pytest.mark.parametrize("backend", OTHERS)
def test_bm_gibbs_sweep_parity_1000_cases(backend):
    rng = np.random.default_rng(404)
    for i in range(N_CASES):
        x, J, h, sweeps, order, u = _bm_case(rng, i)
        seed, offset = int(rng.integers(0, 2**64, dtype=np.uint64)), int(rng.integers(0, 2**40))
        msg = f"case {i}: {x.shape} sweeps={sweeps} {J.dtype} order={order}"
        ref, got = _both(backend, lambda: bm_gibbs_sweep(x, J, h, n_sweeps=sweeps, uniforms=u,
                                                         order=order))
        _equal(ref, got, msg)
        assert got.dtype == J.dtype and got.shape == x.shape
        if sweeps == 0:
            np.testing.assert_array_equal(got, x, err_msg=msg)
        ref, got = _both(backend, lambda: bm_gibbs_sweep(x, J, h, n_sweeps=sweeps, order=order,
                                                         seed=seed, offset=offset))
        _equal(ref, got, "philox " + msg)


@pytest.mark.parametrize("backend", OTHERS)
@pytest.mark.parametrize("dt", DTYPES)
def test_bm_gibbs_sweep_uniform_ends(backend, dt):
    """Zero couplings and a saturated field: u = 0 sets every site with p > 0 (field 0:
    p = 1/2) and clears the ones with p == 0; u just below 1 sets only p == 1."""
    J = np.zeros((3, 3), dt)
    h = np.array([1000.0, 0.0, -1000.0], dt)  # p = 1, 1/2, 0 exactly
    x = np.array([[0, 1, 1], [1, 0, 0]], np.int8)
    for u0, want in ((0, [1, 1, 0]), (one_minus(dt), [1, 0, 0])):
        u = np.full((2, 2, 3), u0, dt)
        ref, got = _both(backend, lambda u=u: bm_gibbs_sweep(x, J, h, n_sweeps=2, uniforms=u))
        _equal(ref, got, f"u={u0}")
        np.testing.assert_array_equal(got, [want, want])


# ---------------------------------------------------------------------------- langevin


def _langevin_calls(rng, i):
    """``{name: call}`` of every Langevin kernel on case ``i`` (explicit and Philox)."""
    dt = _dtype(i)
    N, D = _rows(i, rng, 5), int(rng.integers(1, 5))
    T = [0, 1, 2, 3][(i // 3) % 4]
    step = float(rng.choice([0.01, 0.1, 0.5]))
    x, g, z = (rng.normal(size=(N, D)).astype(dt) for _ in range(3))
    zz = rng.normal(size=(T, N, D)).astype(dt)
    m = (rng.random(D) + 0.5).astype(dt)
    L = np.tril(rng.normal(size=(D, D)) * 0.3).astype(dt)
    np.fill_diagonal(L, rng.random(D) + 0.5)
    y = (x + 0.3 * rng.normal(size=(N, D))).astype(dt)
    gy = rng.normal(size=(N, D)).astype(dt)
    e_x = rng.normal(size=N).astype(dt)
    e_y = (e_x + rng.normal(size=N)).astype(dt)
    u = _edge_uniforms(rng, N, dt, i)
    if N and i % 3 == 0:  # log alpha = 0 exactly: u just below 1 still accepts
        y[0], gy[0], e_y[0], u[0] = x[0], g[0], e_x[0], one_minus(dt)
    if N > 1 and i % 4 == 0:  # +inf energy: log alpha = -inf, rejected even with u = 0
        e_y[-1], u[-1] = np.inf, 0
    K = int(rng.integers(1, 4))
    w, mu = rng.random(K) + 0.1, rng.normal(size=(K, D)) * 2
    s = rng.random(K) + 0.5
    A = rng.normal(size=(D, D))
    A = (A @ A.T / D + np.eye(D)).astype(dt)
    c = rng.normal(size=D).astype(dt)
    seed, off = int(rng.integers(0, 2**64, dtype=np.uint64)), int(rng.integers(0, 2**40))
    ph = {"seed": seed, "offset": off}
    return dt, (N, D, T), {
        "ula": lambda: langevin_step(x, g, step, noise=z),
        "ula philox": lambda: langevin_step(x, g, step, **ph),
        "diag": lambda: preconditioned_langevin_step(x, g, step, precond_diag=m, noise=z),
        "diag philox": lambda: preconditioned_langevin_step(x, g, step, precond_diag=m, **ph),
        "chol": lambda: preconditioned_langevin_step(x, g, step, precond_chol=L, noise=z),
        "chol philox": lambda: preconditioned_langevin_step(x, g, step, precond_chol=L, **ph),
        "mala": lambda: mala_step(x, y, g, gy, e_x, e_y, step, uniforms=u),
        "mala philox": lambda: mala_step(x, y, g, gy, e_x, e_y, step, **ph),
        "gmm": lambda: langevin_run_gmm(x, T, 0.05, w, mu, s, noise=zz),
        "gmm philox": lambda: langevin_run_gmm(x, T, 0.05, w, mu, s, **ph),
        "quadratic": lambda: langevin_run_quadratic(x, T, 0.05, A, c, noise=zz),
        "quadratic philox": lambda: langevin_run_quadratic(x, T, 0.05, A, c, **ph),
    }, x


@pytest.mark.parametrize("backend", OTHERS)
def test_langevin_parity_1000_cases(backend):
    rng = np.random.default_rng(505)
    for i in range(N_CASES):
        dt, (N, D, T), calls, x = _langevin_calls(rng, i)
        for name, call in calls.items():
            msg = f"{name}, case {i}: N={N} D={D} n_steps={T} {dt.__name__}"
            ref, got = _both(backend, call)
            if name.startswith("mala"):
                _equal(ref.accepted, got.accepted, msg)
                for f in ("x", "grad", "energy"):  # selected, not computed: exact
                    _equal(getattr(ref, f), getattr(got, f), f"{f}: {msg}")
                _close(ref.log_alpha, got.log_alpha, dt, 10, msg)
                if name == "mala" and N and i % 3 == 0:
                    assert got.accepted[0] and got.log_alpha[0] == 0, msg
                if name == "mala" and N > 1 and i % 4 == 0:
                    assert not got.accepted[-1] and got.log_alpha[-1] == -np.inf, msg
            else:
                _close(ref, got, dt, 10 if name[0] in "gq" else 1, msg)
                if T == 0 and name[0] in "gq":
                    np.testing.assert_array_equal(got, x, err_msg=msg)


# ---------------------------------------------------------------------------- coupling


def _close_scaled(ref, got, scale, rtol, msg):
    """|ref - got| <= rtol * scale elementwise (scale: sum of |terms|); inf must agree."""
    ref, got = np.asarray(ref), np.asarray(got)
    assert ref.shape == got.shape and ref.dtype == got.dtype, msg
    a, b = ref.astype(np.float64), got.astype(np.float64)
    fin = np.isfinite(a)
    np.testing.assert_array_equal(np.isfinite(b), fin, err_msg=msg)
    np.testing.assert_array_equal(b[~fin], a[~fin], err_msg=msg)
    tiny = 1e-37 if rtol > 1e-8 else 1e-300
    bad = np.abs(a - b)[fin] > rtol * np.broadcast_to(scale, a.shape)[fin] + tiny
    assert not bad.any(), f"{msg}: max |diff| {np.abs(a - b)[fin].max()}"


@pytest.mark.parametrize("backend", OTHERS)
def test_coupling_parity_1000_cases(backend):
    rng = np.random.default_rng(606)
    for i in range(N_CASES):
        dt = _dtype(i)
        rtol = TOL[dt]
        n = _rows(i, rng, 6)
        tail = [(1,), (3,), (2, 3), (int(rng.integers(1, 9)),)][(i // 2) % 4]
        shape = (n,) + tail
        amp = [0.1, 1.0, 5.0][i % 3]
        x2, t, gy = (rng.normal(size=shape).astype(dt) for _ in range(3))
        s = (amp * rng.normal(size=shape)).astype(dt)
        if i % 5 == 0:
            s[...] = 0  # zero log-scale: the identity scale, log-det 0
        gl = rng.normal(size=n)
        inverse = bool((i // 2) % 2)
        msg = f"case {i}: {shape} {dt.__name__} inverse={inverse}"
        e = np.exp((-1 if inverse else 1) * s.astype(np.float64))
        ax, at, ag = (np.abs(a).astype(np.float64) for a in (x2, t, gy))
        (y_r, ld_r), (y, ld) = _both(backend, lambda: affine_coupling(x2, s, t, inverse))
        _close_scaled(y_r, y, ((ax + at) * e if inverse else ax * e + at) + 1e-30, rtol, msg)
        row = int(np.prod(tail))
        sabs = np.abs(s.astype(np.float64)).reshape(n, row).sum(1)
        _close_scaled(ld_r, ld, sabs, 1e-12, "logdet " + msg)
        g_r, g = _both(backend, lambda: affine_coupling_backward(x2, s, t, gy, gl, inverse))
        gexp = ag * e
        gl_abs = np.abs(gl).reshape((-1,) + (1,) * len(tail))
        scales = (gexp, gexp * (ax + (at if inverse else 0)) + gl_abs, gexp if inverse else ag)
        for k, (a, b, sc) in enumerate(zip(g_r, g, scales, strict=True)):
            _close_scaled(a, b, sc + 1e-30, rtol, f"grad {k} {msg}")
        _equal(*_both(backend, lambda: additive_coupling(x2, t, inverse)), "additive " + msg)
        for a, b in zip(*_both(backend, lambda: additive_coupling_backward(gy, inverse)),
                        strict=True):
            _equal(a, b, "additive backward " + msg)
        # actnorm on (n, C, *spatial) with C = the first tail axis
        C = tail[0]
        xa = x2.reshape((n, C, row // C))
        loc, ls = rng.normal(size=C).astype(dt), (amp * rng.normal(size=C)).astype(dt)
        if i % 5 == 0:
            ls[...] = 0
        (ya_r, lda_r), (ya, lda) = _both(backend, lambda: actnorm(xa, loc, ls, inverse))
        el = np.exp((-1 if inverse else 1) * ls.astype(np.float64))[None, :, None]
        axa, aloc = np.abs(xa).astype(np.float64), np.abs(loc).astype(np.float64)[None, :, None]
        sc = axa * el + aloc if inverse else (axa + aloc) * el
        _close_scaled(ya_r, ya, sc + 1e-30, rtol, "actnorm " + msg)
        _close_scaled(lda_r, lda, np.abs(ls.astype(np.float64)).sum() * xa.shape[2] + 1e-300,
                      1e-12, "actnorm logdet " + msg)
        gya = gy.reshape(xa.shape)
        for a, b in zip(*_both(backend, lambda: actnorm_backward(xa, loc, ls, gya, gl, inverse)),
                        strict=True):
            _close(a, b, dt, 10, "actnorm backward " + msg)


@pytest.mark.parametrize("backend", OTHERS)
@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("n", [0, 1, 3])
def test_invconv1x1_parity(backend, dt, n):
    rng = np.random.default_rng(7 + n)
    x = rng.normal(size=(n, 3, 2, 2)).astype(dt)
    W = (rng.normal(size=(3, 3)) + 2 * np.eye(3)).astype(dt)
    for inverse in (False, True):
        (y_r, ld_r), (y, ld) = _both(backend, lambda inverse=inverse: invconv1x1(x, W, inverse))
        _close(y_r, y, dt, 10, f"inverse={inverse}")
        np.testing.assert_allclose(ld, ld_r, rtol=1e-12)
        assert ld.shape == (n,) and ld.dtype == np.float64


# ---------------------------------------------------------------- wrapper edges


# rbm_gibbs casts uniforms to W's dtype before checking u < 1 (it once checked first:
# float64 nextafter(1, 0) rounded to 1.0 in float32 and a p = 1 unit drew 0)
@pytest.mark.parametrize("backend", ["numpy"] + OTHERS)
def test_rbm_gibbs_float64_uniform_below_one_with_float32_weights(backend):
    W, b, c = (np.full(s, 50, np.float32) for s in ((1, 1), 1, 1))
    u = np.full((1, 1, 2), np.nextafter(1.0, 0.0))
    with use_backend(backend):
        # 1.0 in float32, outside [0, 1): refused, as bm_gibbs_sweep and mala_step do
        with pytest.raises(ValueError, match=r"uniforms must lie in \[0, 1\) in float32"):
            rbm_gibbs(np.ones((1, 1), np.float32), W, b, c, 1, uniforms=u)
        u32 = np.full((1, 1, 2), np.nextafter(np.float32(1), np.float32(0)))
        r = rbm_gibbs(np.ones((1, 1), np.float32), W, b, c, 1, uniforms=u32)
    assert r.ph0[0, 0] == 1 and r.h0[0, 0] == 1  # u < 1 = p must draw 1


def _empty_draws():
    """``(name, call(offset))``: each kernel with a Philox stream, drawing nothing."""
    x, e = np.zeros((0, 2)), np.zeros(0)
    x2 = np.zeros((2, 2))
    return [
        ("philox_uniforms", lambda o: philox_uniforms(0, 1, o)),
        ("philox_normals", lambda o: philox_normals((0, 3), 1, o)),
        ("multinomial", lambda o: multinomial_threshold(np.ones((0, 3)), seed=1, offset=o)),
        ("logits", lambda o: categorical_from_logits(np.ones((0, 3)), seed=1, offset=o)),
        ("langevin_step", lambda o: langevin_step(x, x, 0.1, seed=1, offset=o)),
        ("mala", lambda o: mala_step(x, x, x, x, e, e, 0.1, seed=1, offset=o).x),
        ("gmm", lambda o: langevin_run_gmm(x2, 0, 0.1, np.ones(1), np.zeros((1, 2)),
                                           np.ones(1), seed=1, offset=o)),
        ("quadratic", lambda o: langevin_run_quadratic(x2, 0, 0.1, np.eye(2), np.zeros(2),
                                                       seed=1, offset=o)),
        ("rbm_gibbs", lambda o: rbm_gibbs(np.zeros((0, 2)), np.zeros((2, 2)), np.zeros(2),
                                          np.zeros(2), 1, seed=1, offset=o).v),
        ("bm_gibbs_sweep", lambda o: bm_gibbs_sweep(x2, np.zeros((2, 2)), np.zeros(2),
                                                    n_sweeps=0, seed=1, offset=o)),
    ]


# offset == 2**64 is refused even when a call draws nothing (it was accepted, then
# np.uint64(2**64) raised OverflowError inside the backends)
@pytest.mark.parametrize("backend", ["numpy"] + OTHERS)
def test_empty_draw_at_the_end_of_the_stream(backend):
    with use_backend(backend):
        for name, call in _empty_draws():
            with pytest.raises(ValueError, match=r"offset must be in \[0, 2\*\*64\)"):
                call(2**64)
                pytest.fail(name)
        for _name, call in _empty_draws():  # the last valid position works everywhere
            call(2**64 - 1)
