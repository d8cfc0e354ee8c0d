"""Value checks fused into the kernels: bad values anywhere in a large input are found.

The public wrappers make no pass over the data of their own; each kernel checks the
values it reads and reports the first bad row / chain / element, and the wrapper turns
that into the error naming the argument. These tests put a bad value at the first, a
middle and the last position of inputs large enough for the parallel (``prange``) paths,
on the NumPy reference (explicit checks, the specification) and on Numba, and check that
both raise the same error. They also check that valid C-contiguous input reaches the
kernel uncopied, and that strided input is handled.
"""

from __future__ import annotations

import numpy as np
import pytest

from minigen.backend import backend_info, use_backend
from minigen.kernels import categorical_from_logits, multinomial_threshold

AVAILABLE = [r["name"] for r in backend_info() if r["available"]]
BACKENDS = ["numpy"] + [b for b in ("numba",) if b in AVAILABLE]


def positions(shape):
    """First, a middle and the last index of an array of ``shape``."""
    return [tuple(0 for _ in shape), tuple(s // 2 for s in shape), tuple(s - 1 for s in shape)]


def raised(backend, call):
    """The (type, message) ``call()`` raises on ``backend`` (fails if it returns)."""
    with use_backend(backend):
        with pytest.raises((ValueError, FloatingPointError)) as info:
            call()
    return type(info.value), str(info.value)


def same_error_everywhere(call, match):
    """``call()`` raises the same error, matching ``match``, on every backend."""
    errors = {b: raised(b, call) for b in BACKENDS}
    first = errors[BACKENDS[0]]
    assert all(e == first for e in errors.values()), errors
    assert issubclass(first[0], ValueError)
    assert pytest.importorskip("re").search(match, first[1]), first
    return first[1]


def spy(monkeypatch, module):
    """Record the arrays the wrapper in ``module`` passes to the backend implementation."""
    seen = []
    real = module.implementation

    def implementation(family, name, backend=None):
        fn = real(family, name, backend)

        def wrapped(*args, **kwargs):
            seen.append(args)
            return fn(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(module, "implementation", implementation)
    return seen


# ------------------------------------------------------------------------------- multinomial

N, C = 1500, 301  # 451,500 elements: the prange kernels, several row chunks, a tail block


@pytest.fixture(scope="module")
def weights():
    rng = np.random.default_rng(1)
    return rng.random((N, C)).astype(np.float32), rng.random(N)


@pytest.mark.parametrize("value,match", [(np.nan, "weights contains NaN or infinite"),
                                         (np.inf, "weights contains NaN or infinite"),
                                         (-0.5, "weights has negative entries")])
def test_multinomial_bad_weight_anywhere(weights, value, match):
    w0, u = weights
    for pos in positions(w0.shape):
        w = w0.copy()
        w[pos] = value
        for kw in ({"u": u}, {"seed": 3}):
            msg = same_error_everywhere(lambda w=w, kw=kw: multinomial_threshold(w, **kw), match)
            assert f"(row {pos[0]})" in msg


def test_multinomial_bad_rows_anywhere(weights):
    w0, u = weights
    for row in (0, N // 2, N - 1):
        w = w0.copy()
        w[row] = 0
        same_error_everywhere(lambda w=w: multinomial_threshold(w, u), "sums to zero")
        w = w0.astype(np.float64)
        w[row, :3] = 1e308  # finite entries whose (blocked) sum overflows
        same_error_everywhere(lambda w=w: multinomial_threshold(w, u), "overflows float64")


@pytest.mark.parametrize("value", [np.nan, -0.25, 1.0, np.inf])
def test_multinomial_bad_uniform_anywhere(weights, value):
    w, u0 = weights
    for i in (0, N // 2, N - 1):
        u = u0.copy()
        u[i] = value
        msg = same_error_everywhere(lambda u=u: multinomial_threshold(w, u), r"u must lie in")
        assert f"u[{i}]" in msg
        msg = same_error_everywhere(lambda u=u: categorical_from_logits(w, u), r"u must lie in")


def test_multinomial_minus_zero_is_a_valid_weight(weights):
    w, u = weights
    w = w.copy()
    w[5, :7] = -0.0
    for b in BACKENDS:
        with use_backend(b):
            k = multinomial_threshold(w, u)
        assert (w[np.arange(N), k] > 0).all()


@pytest.mark.parametrize("value,match", [(np.nan, "logits contains NaN or \\+inf"),
                                         (np.inf, "logits contains NaN or \\+inf")])
def test_logits_bad_value_anywhere(weights, value, match):
    x0 = np.log(weights[0])
    for pos in positions(x0.shape):
        x = x0.copy()
        x[pos] = value
        same_error_everywhere(lambda x=x: categorical_from_logits(x, seed=1), match)
    for row in (0, N // 2, N - 1):
        x = x0.copy()
        x[row] = -np.inf
        same_error_everywhere(lambda x=x: categorical_from_logits(x, seed=1), "every entry is -inf")


def test_logits_with_masked_entries_and_huge_temperature(weights):
    x = np.log(weights[0]).astype(np.float64)
    x[:, ::3] = -np.inf
    for b in BACKENDS:
        with use_backend(b):
            k = categorical_from_logits(x, seed=2, temperature=10**30)  # was a numpy TypeError
        assert (k % 3 != 0).all()  # masked categories never drawn, even at huge temperature
    with pytest.raises(ValueError, match="temperature must be > 0 and finite"):
        categorical_from_logits(x, seed=2, temperature=10**400)
    with pytest.raises(ValueError, match="rounds to inf in float32"):
        categorical_from_logits(x.astype(np.float32), seed=2, temperature=1e300)
    with pytest.raises(ValueError, match="rounds to 0.0 in float32"):
        categorical_from_logits(x.astype(np.float32), seed=2, temperature=1e-300)


def test_multinomial_reads_contiguous_input_in_place(weights, monkeypatch):
    from minigen.kernels import multinomial as M

    w, u = weights
    u32 = u.astype(np.float32)
    seen = spy(monkeypatch, M)
    with use_backend(BACKENDS[-1]):
        multinomial_threshold(w, u)
        multinomial_threshold(w, u32)
        categorical_from_logits(w, u, temperature=2.0)
    assert [(a[0] is w, a[1] is v) for a, v in zip(seen, (u, u32, u), strict=True)] == [
        (True, True)] * 3


def test_multinomial_strided_input(weights):
    w, u = weights
    big = np.zeros((N, 2 * C), np.float32)
    big[:, ::2] = w
    want = multinomial_threshold(w, u)
    for b in BACKENDS:
        with use_backend(b):
            np.testing.assert_array_equal(multinomial_threshold(big[:, ::2], u), want)
            np.testing.assert_array_equal(multinomial_threshold(w, np.repeat(u, 2)[::2]), want)


# --------------------------------------------------------------------------------- langevin

from minigen.kernels import (  # noqa: E402
    langevin_run_gmm,
    langevin_run_quadratic,
    langevin_step,
    mala_step,
    preconditioned_langevin_step,
)

NL, DL = 4001, 50  # 200,050 elements: the prange step kernels, several chain chunks


@pytest.fixture(scope="module")
def chains():
    rng = np.random.default_rng(2)
    x, g, z = (rng.normal(size=(NL, DL)).astype(np.float32) for _ in range(3))
    return x, g, z


def _step_calls(x, g, z):
    m, L = np.full(DL, 0.5, np.float32), np.eye(DL, dtype=np.float32) * 0.5
    return {
        "step": lambda: langevin_step(x, g, 0.1, noise=z),
        "step seed": lambda: langevin_step(x, g, 0.1, seed=1),
        "step in place": lambda: (lambda xc: langevin_step(xc, g, 0.1, noise=z, out=xc))(
            x.copy()),
        "diag": lambda: preconditioned_langevin_step(x, g, 0.1, precond_diag=m, noise=z),
        "diag seed": lambda: preconditioned_langevin_step(x, g, 0.1, precond_diag=m, seed=2),
        "chol": lambda: preconditioned_langevin_step(x, g, 0.1, precond_chol=L, noise=z),
    }


@pytest.mark.parametrize("which", ["x", "grad", "noise"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_langevin_steps_bad_value_anywhere(chains, which, value):
    for pos in positions(chains[0].shape):
        x, g, z = (a.copy() for a in chains)
        {"x": x, "grad": g, "noise": z}[which][pos] = value
        for name, call in _step_calls(x, g, z).items():
            if which == "noise" and "seed" in name:
                continue
            same_error_everywhere(call, f"^{which} contains NaN or infinite values")


def test_langevin_step_in_place_error_names_the_argument(chains):
    for which in ("x", "grad", "noise"):
        for b in BACKENDS:
            x, g, z = (a.copy() for a in chains)
            {"x": x, "grad": g, "noise": z}[which][NL // 2, 7] = np.nan
            with use_backend(b), pytest.raises(ValueError, match=f"^{which} contains"):
                langevin_step(x, g, 0.1, noise=z, out=x)


def test_langevin_overflow_is_an_error_unless_check_finite_is_off(chains):
    x, g, z = (a.copy() for a in chains)
    x[-1, -1], g[-1, -1] = 3e38, -2e38  # x - step/2 * grad = 3e38 + 1e38 overflows float32
    for b in BACKENDS:
        with use_backend(b):
            with pytest.raises(FloatingPointError, match="overflows float32"):
                langevin_step(x, g, 1.0, noise=z)
            y = langevin_step(x, g, 1.0, noise=z, check_finite=False)
            assert np.isinf(y[-1, -1]) and np.isfinite(y[:-1]).all()
            g[0, 0] = np.nan  # check_finite=False: NaN goes through, as NumPy would
            assert np.isnan(langevin_step(x, g, 1.0, noise=z, check_finite=False)[0, 0])
            g[0, 0] = 0


@pytest.mark.parametrize("shift", [1, -1, DL, -3 * DL])
def test_langevin_out_partially_overlapping_the_input(chains, shift):
    """``out`` a shifted view of ``x``'s buffer: the result is as if every input were
    read first (it was wrong by up to 2.5 on numba: chunks read overwritten values)."""
    x0, g, z = chains
    m = np.linspace(0.5, 2, DL).astype(np.float32)
    n = x0.size
    for b in BACKENDS:
        with use_backend(b):
            want = langevin_step(x0, g, 0.1, noise=z)
            want_d = preconditioned_langevin_step(x0, g, 0.1, precond_diag=m, noise=z)
            for fn, ref in ((lambda x, out: langevin_step(x, g, 0.1, noise=z, out=out), want),
                            (lambda x, out: preconditioned_langevin_step(
                                x, g, 0.1, precond_diag=m, noise=z, out=out), want_d)):
                buf = np.zeros(n + abs(shift), np.float32)
                lo = max(shift, 0)
                x = buf[lo:lo + n].reshape(x0.shape)
                x[...] = x0
                out = buf[lo - shift:lo - shift + n].reshape(x0.shape)
                assert np.shares_memory(x, out) and x.ctypes.data != out.ctypes.data
                np.testing.assert_array_equal(fn(x, out), ref, err_msg=f"{b} shift {shift}")
            gb = g.copy()  # grad partially overlapping an in-place x: copied first
            buf = np.concatenate([x0.ravel(), gb.ravel()])
            xv = buf[:n].reshape(x0.shape)
            gv = buf[DL:DL + n].reshape(x0.shape)
            want_g = langevin_step(xv.copy(), gv.copy(), 0.1, noise=z)
            np.testing.assert_array_equal(langevin_step(xv, gv, 0.1, noise=z, out=xv), want_g)


def _mala_inputs(chains):
    x, g, z = (a.astype(np.float64) for a in chains)
    y = x + 0.1 * z
    e_x, e_y = (x**2).sum(1) / 2, (y**2).sum(1) / 2
    u = np.random.default_rng(3).random(NL)
    return {"x": x, "x_prop": y, "grad_x": x.copy(), "grad_prop": y.copy(), "energy_x": e_x,
            "energy_prop": e_y, "uniforms": u}


def _mala(a, **kw):
    return mala_step(a["x"], a["x_prop"], a["grad_x"], a["grad_prop"], a["energy_x"],
                     a["energy_prop"], 0.01, uniforms=a["uniforms"], **kw)


def test_mala_bad_values_anywhere(chains):
    cases = [(k, np.nan, f"^{k} contains NaN or infinite") for k in
             ("x", "x_prop", "grad_x", "grad_prop")]
    cases += [("energy_x", np.inf, "^energy_x contains NaN or infinite"),
              ("energy_prop", np.nan, "^energy_prop contains NaN or -inf"),
              ("energy_prop", -np.inf, "^energy_prop contains NaN or -inf"),
              ("uniforms", 1.0, r"^uniforms must lie in \[0, 1\)"),
              ("uniforms", np.nan, r"^uniforms must lie in \[0, 1\)")]
    for key, value, match in cases:
        for i in (0, NL // 2, NL - 1):
            a = _mala_inputs(chains)
            if a[key].ndim == 2:
                a[key][i, DL // 2] = value
            else:
                a[key][i] = value
            msg = same_error_everywhere(lambda a=a: _mala(a), match)
            assert f"(chain {i})" in msg


def test_mala_huge_states_give_a_signed_ratio_not_nan():
    # |x| ~ 1e300: both squared proposal norms overflow; the old |a|^2 - |c|^2 was
    # inf - inf = NaN (and a NaN ratio silently rejects). The sign survives as +-inf.
    x = np.full((3, 2), 1e300)
    y = x.copy()
    y[0] += [2e297, 2e297]  # both terms of the sum positive: +inf, accepted
    y[1] -= [2e297, 2e297]  # both negative: -inf, rejected
    y[2] += [2e297, -1e297]  # +inf and -inf terms: the rescaled sum is positive
    e = np.zeros(3)
    for b in BACKENDS:
        with use_backend(b):
            r = mala_step(x, y, x, y, e, e, 0.1, uniforms=np.full(3, 0.5))
        np.testing.assert_array_equal(r.log_alpha, [np.inf, -np.inf, np.inf])
        np.testing.assert_array_equal(r.accepted, [True, False, True])


def test_mala_energy_prop_plus_inf_is_rejected(chains):
    a = _mala_inputs(chains)
    a["energy_prop"][[0, NL - 1]] = np.inf
    a["uniforms"][[0, NL - 1]] = 0.0
    for b in BACKENDS:
        with use_backend(b):
            r = _mala(a)
        assert not r.accepted[0] and not r.accepted[-1] and r.log_alpha[0] == -np.inf


@pytest.mark.parametrize("runner", ["gmm", "quadratic"])
def test_runners_bad_start_or_noise_anywhere(chains, runner):
    x0 = chains[0][:, :2].astype(np.float64)
    T = 2
    z0 = np.random.default_rng(4).normal(size=(T, NL, 2))
    w, mu, s = np.array([1.0, 2.0]), np.array([[0.0, 0.0], [3.0, 1.0]]), np.array([1.0, 0.5])

    def call(x, z):
        if runner == "gmm":
            return langevin_run_gmm(x, T, 0.05, w, mu, s, noise=z)
        return langevin_run_quadratic(x, T, 0.05, np.eye(2), np.zeros(2), noise=z)

    for i in (0, NL // 2, NL - 1):
        x, z = x0.copy(), z0.copy()
        x[i, 1] = np.nan
        assert f"(chain {i})" in same_error_everywhere(lambda x=x: call(x, z0), "^x contains")
        z[T - 1, i, 0] = np.inf
        assert f"(chain {i})" in same_error_everywhere(lambda z=z: call(x0, z),
                                                      "^noise contains")
    for b in BACKENDS:  # a step far too large for the curvature diverges: a clear error
        with use_backend(b), pytest.raises(FloatingPointError, match="diverged"):
            langevin_run_quadratic(x0, 400, 1.0, np.eye(2) * 1e3, np.zeros(2), seed=1)


@pytest.mark.parametrize("dt,tiny", [(np.float64, 1e-160), (np.float32, 1e-19),
                                     (np.float32, 1e-30)])
def test_gmm_runner_with_a_vanishing_scale_is_finite(dt, tiny):
    """One scale so small that 1/s^2 overflows: its responsibility is 0 away from its mean,
    and so is its gradient term (it was 0 * inf = NaN on every chain)."""
    x = np.random.default_rng(5).normal(size=(300, 2)).astype(dt)
    w, mu = np.array([0.5, 0.5]), np.array([[0.0, 0.0], [2.0, 2.0]])
    want = langevin_run_gmm(x, 3, 0.01, w[:1], mu[:1], np.array([1.0]), seed=7)
    for b in BACKENDS:
        with use_backend(b):
            got = langevin_run_gmm(x, 3, 0.01, w, mu, np.array([1.0, tiny]), seed=7)
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, want, rtol=1e-5 if dt == np.float32 else 1e-12,
                                   atol=1e-5 if dt == np.float32 else 1e-12)


# --------------------------------------------------------------------------------- coupling

from minigen.kernels import (  # noqa: E402
    actnorm,
    actnorm_backward,
    additive_coupling,
    additive_coupling_backward,
    affine_coupling,
    affine_coupling_backward,
)

NC, DC = 300, 515  # 154,500 elements: the prange kernels, several row chunks


@pytest.fixture(scope="module")
def coupling_inputs():
    rng = np.random.default_rng(6)
    return {k: rng.normal(size=(NC, DC)).astype(np.float32) for k in ("x2", "s", "t", "gy")}


def _coupling_calls(a, gl, inverse):
    xa, loc, ls = a["x2"].reshape(NC, 5, 103), np.zeros(5, np.float32), np.zeros(5, np.float32)
    return {
        ("x2", "s", "t"): lambda: affine_coupling(a["x2"], a["s"], a["t"], inverse),
        ("x2", "s", "gy", "glogdet") + (("t",) if inverse else ()): lambda:
            affine_coupling_backward(a["x2"], a["s"], a["t"], a["gy"], gl, inverse),
        ("x2", "t"): lambda: additive_coupling(a["x2"], a["t"], inverse),
        ("gy",): lambda: additive_coupling_backward(a["gy"], inverse),
        ("x2:x",): lambda: actnorm(xa, loc, ls, inverse),
        ("x2:x", "gy", "glogdet"): lambda: actnorm_backward(
            xa, loc, ls, a["gy"].reshape(xa.shape), gl, inverse),
    }


@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_coupling_bad_value_anywhere(coupling_inputs, value, inverse):
    gl0 = np.linspace(-1, 1, NC)
    for which in ("x2", "s", "t", "gy", "glogdet"):
        for pos in positions((NC, DC)):
            a = {k: v.copy() for k, v in coupling_inputs.items()}
            gl = gl0.copy()
            if which == "glogdet":
                gl[pos[0]] = value
            else:
                a[which][pos] = value
            for reads, call in _coupling_calls(a, gl, inverse).items():
                names = {r.split(":")[0]: r.split(":")[-1] for r in reads}
                if which not in names:
                    continue
                msg = same_error_everywhere(call, f"^{names[which]} contains NaN or infinite")
                assert f"(row {pos[0]})" in msg or names[which] == "glogdet"


def test_coupling_backward_ignores_t_in_the_forward_direction(coupling_inputs):
    a = {k: v.copy() for k, v in coupling_inputs.items()}
    a["t"][NC // 2, 3] = np.nan  # the forward's gradients do not depend on t
    for b in BACKENDS:
        with use_backend(b):
            g = affine_coupling_backward(a["x2"], a["s"], a["t"], a["gy"], None)
        assert all(np.isfinite(x).all() for x in g)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_zero_times_an_overflowed_exp_is_zero(dt):
    """x2 = 0 with s = 1e300 was NaN (0 * inf); the exact product is 0, so y2 = t. Other
    overflows stay IEEE's inf; the log-det is the float64 sum of s."""
    big = dt(1e300) if dt == np.float64 else dt(1e38)
    x2 = np.array([[0, 1, -2, 0], [0.5, 0, 0, 1]], dt)
    s = np.array([[big, big, big, -big], [1, 2, 3, 4]], dt)
    t = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], dt)
    for b in BACKENDS:
        with use_backend(b), np.errstate(over="ignore"):
            y, ld = affine_coupling(x2, s, t)
            np.testing.assert_array_equal(y[0], [1, np.inf, -np.inf, 4])
            np.testing.assert_allclose(y[1], x2[1] * np.exp(s[1]) + t[1], rtol=1e-6)
            np.testing.assert_allclose(ld, s.astype(np.float64).sum(1), rtol=1e-12)
            yi, _ = affine_coupling(t, -s, t, inverse=True)  # (t - t) * e^{+big}: 0
            assert yi[0, 0] == 0 and yi[1, 0] == 0
            gx2, gs, gt = affine_coupling_backward(x2, s, t, np.zeros_like(x2), np.zeros(2))
            assert np.isfinite(gx2[0]).all() and (gx2[0] == 0).all() and (gs[0] == 0).all()
            y, _ = actnorm(np.zeros((2, 2, 3), dt), np.zeros(2, dt), np.array([big, 0], dt))
            assert (y == 0).all()


def test_coupling_reads_contiguous_input_in_place(coupling_inputs, monkeypatch):
    from minigen.kernels import coupling as KC

    a = coupling_inputs
    seen = spy(monkeypatch, KC)
    with use_backend(BACKENDS[-1]):
        affine_coupling(a["x2"], a["s"], a["t"])
        affine_coupling_backward(a["x2"], a["s"], a["t"], a["gy"], np.ones(NC))
        additive_coupling(a["x2"], a["t"])
        actnorm(a["x2"].reshape(NC, 5, 103), np.zeros(5, np.float32), np.zeros(5, np.float32))
    for args in seen:
        for arr in args:
            if isinstance(arr, np.ndarray) and arr.ndim >= 2:
                assert any(arr.ctypes.data == v.ctypes.data for v in a.values()), "copied"


def test_coupling_strided_input(coupling_inputs):
    a = coupling_inputs
    want = affine_coupling(a["x2"], a["s"], a["t"])
    wide = np.zeros((NC, 2 * DC), np.float32)
    wide[:, 1::2] = a["x2"]
    for b in BACKENDS:
        with use_backend(b):
            y, ld = affine_coupling(wide[:, 1::2], a["s"], a["t"].astype(np.float64))
            assert y.dtype == np.float64  # the result type of the inputs, as before
            np.testing.assert_allclose(y, want[0], rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(ld, want[1], rtol=1e-12)


# ----------------------------------------------------------------------------------- gibbs

from minigen.kernels import bm_gibbs_sweep, rbm_gibbs  # noqa: E402

BR, VR, HR, KR = 301, 97, 61, 2


@pytest.fixture(scope="module")
def rbm_inputs():
    rng = np.random.default_rng(7)
    return {"v": (rng.random((BR, VR)) < 0.4).astype(np.float32),
            "W": (rng.normal(size=(VR, HR)) * 0.1).astype(np.float32),
            "b": (rng.normal(size=VR) * 0.1).astype(np.float32),
            "c": (rng.normal(size=HR) * 0.1).astype(np.float32),
            "uniforms": rng.random((KR, BR, HR + VR)).astype(np.float32)}


def _rbm(a, explicit, compute_ph=True):
    kw = {"uniforms": a["uniforms"]} if explicit else {"seed": 5}
    return rbm_gibbs(a["v"], a["W"], a["b"], a["c"], KR, compute_ph=compute_ph, **kw)


@pytest.mark.parametrize("explicit", [True, False])
def test_rbm_bad_values_anywhere(rbm_inputs, explicit):
    cases = [("W", np.nan, "^W contains NaN"), ("W", -np.inf, "^W contains NaN"),
             ("b", np.inf, "^b contains NaN"), ("c", np.nan, "^c contains NaN"),
             ("v", 1.5, r"^v must lie in \[0, 1\]"), ("v", -0.25, r"^v must lie in \[0, 1\]"),
             ("v", np.nan, r"^v must lie in \[0, 1\]")]
    if explicit:
        cases += [("uniforms", 1.0, r"^uniforms must lie in \[0, 1\) in float32"),
                  ("uniforms", np.nan, r"^uniforms must lie in \[0, 1\) in float32"),
                  ("uniforms", -1e-3, r"^uniforms must lie in \[0, 1\) in float32")]
    for key, value, match in cases:
        shape = rbm_inputs[key].shape
        spots = positions(shape)
        if key == "uniforms":  # in the hidden and the visible part of every step
            spots += [(KR - 1, 0, HR - 1), (0, BR // 2, HR), (KR - 1, BR - 1, HR + 1)]
        for pos in spots:
            a = {k: v.copy() for k, v in rbm_inputs.items()}
            a[key][pos] = value
            for compute_ph in (True, False):
                same_error_everywhere(lambda a=a, cp=compute_ph: _rbm(a, explicit, cp), match)


def test_rbm_huge_but_finite_weights_are_not_an_error(rbm_inputs):
    """Pre-activations that overflow to +-inf give probabilities of exactly 0 or 1 (the
    kernel sees them, the wrapper finds every input finite and returns the result)."""
    a = {k: v.copy() for k, v in rbm_inputs.items()}
    a["W"][:, 0] = 3e38
    a["v"][:, :2] = 1
    for b in BACKENDS:
        with use_backend(b), np.errstate(over="ignore"):
            r = _rbm(a, True)
        assert (r.ph0[:, 0] == 1).all() and (r.h0[:, 0] == 1).all()


def test_bm_bad_values_anywhere():
    rng = np.random.default_rng(8)
    n, chains, sweeps = 12, 2001, 2
    J = rng.normal(size=(n, n)) * 0.3
    J = (J + J.T) / 2
    np.fill_diagonal(J, 0)
    h = rng.normal(size=n)
    x0 = (rng.random((chains, n)) < 0.5).astype(np.float64)
    u0 = rng.random((sweeps, chains, n))
    for pos in positions(x0.shape):
        for value, match in ((0.5, "^state must be binary"), (2.0, "^state must be binary"),
                             (np.nan, "^state contains NaN")):
            x = x0.copy()
            x[pos] = value
            for kw in ({"uniforms": u0}, {"seed": 1}, {"seed": 1, "n_sweeps": 0}):
                kw = {"n_sweeps": sweeps, **kw}
                same_error_everywhere(lambda x=x, kw=kw: bm_gibbs_sweep(x, J, h, **kw), match)
    for pos in positions(u0.shape):
        for value, match in ((1.0, r"^uniforms must lie in \[0, 1\)"),
                             (np.nan, "^uniforms contains NaN")):
            u = u0.copy()
            u[pos] = value
            same_error_everywhere(
                lambda u=u: bm_gibbs_sweep(x0, J, h, n_sweeps=sweeps, uniforms=u), match)


def test_gibbs_reads_contiguous_input_in_place(rbm_inputs, monkeypatch):
    from minigen.kernels import gibbs as KG

    a = rbm_inputs
    seen = spy(monkeypatch, KG)
    with use_backend(BACKENDS[-1]):
        _rbm(a, True)
    assert all(x is y for x, y in zip(seen[0][:4], (a["v"], a["W"], a["b"], a["c"]),
                                      strict=True))
    assert seen[0][5] is a["uniforms"]


# ------------------------------------------------------------------------ cupy (gpu marker)


@pytest.mark.gpu
def test_gpu_bad_values_anywhere_match_the_reference(weights, chains, coupling_inputs,
                                                     rbm_inputs):
    """The CUDA kernels' status words: the same errors as the NumPy reference, wherever the
    bad value sits (not yet run on a device by the session that wrote it)."""
    import cupy

    def both(call, arrays, match):
        with use_backend("numpy"), pytest.raises(ValueError, match=match) as ref:
            call(*arrays)
        with use_backend("cupy"), pytest.raises(ValueError, match=match) as got:
            call(*(cupy.asarray(a) for a in arrays))
        assert str(got.value) == str(ref.value)

    w, u = weights
    x, g, z = chains
    a = coupling_inputs
    for pos in positions(w.shape):
        wb = w.copy()
        wb[pos] = np.nan
        both(lambda w_, u_: multinomial_threshold(w_, u_), (wb, u), "weights contains")
        wb[pos] = -1
        both(lambda w_, u_: multinomial_threshold(w_, u_), (wb, u), "negative")
    for pos in positions(x.shape):
        gb = g.copy()
        gb[pos] = np.inf
        both(lambda x_, g_, z_: langevin_step(x_, g_, 0.1, noise=z_), (x, gb, z), "^grad")
    for pos in positions((NC, DC)):
        sb = a["s"].copy()
        sb[pos] = np.nan
        both(lambda x_, s_, t_: affine_coupling(x_, s_, t_), (a["x2"], sb, a["t"]), "^s ")
        both(lambda x_, s_, t_, g_: affine_coupling_backward(x_, s_, t_, g_),
             (a["x2"], sb, a["t"], a["gy"]), "^s ")
    r = rbm_inputs
    for pos in positions(r["W"].shape):
        Wb = r["W"].copy()
        Wb[pos] = np.nan
        both(lambda v_, W_, b_, c_: rbm_gibbs(v_, W_, b_, c_, 1, seed=1),
             (r["v"], Wb, r["b"], r["c"]), "^W contains")
