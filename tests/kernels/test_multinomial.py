"""Multinomial thresholding: every backend equals the NumPy reference; samples follow weights."""

import numpy as np
import pytest

from minigen.backend import use_backend
from minigen.kernels import multinomial as M
from minigen.kernels.philox import philox_uniforms
from minigen.kernels.reference import multinomial as R

ONE_MINUS = {np.float32: np.nextafter(np.float32(1), np.float32(0)),
             np.float64: np.nextafter(1.0, 0.0)}


def _case(rng, i):
    """Case ``i``: (weights, u) with the edge cases cycled through deterministically."""
    dtype = np.float32 if i % 2 else np.float64
    n = [0, 1, 3, 17][i % 4] if i % 5 == 0 else int(rng.integers(1, 40))
    c = [1, 2, 7, 8, 9, 16, 33, 256][i % 8] if i % 3 else int(rng.integers(1, 70))
    w = rng.random((n, c))
    kind = i % 6
    if kind == 1:  # many zeros, incl. leading and trailing
        w[rng.random((n, c)) < 0.6] = 0
        w[:, -1] = 0 if c > 1 else w[:, -1]
    elif kind == 2:  # huge / tiny magnitudes
        w = w * 10.0 ** rng.integers(-30, 30, size=(n, 1)) * 10.0 ** rng.integers(-5, 5, (n, c))
    elif kind == 3:  # a single positive entry
        w = np.zeros((n, c))
        if n:
            w[np.arange(n), rng.integers(0, c, n)] = rng.random(n) + 0.1
    elif kind == 4:  # integer-valued, unnormalized, ties
        w = rng.integers(0, 4, size=(n, c)).astype(float)
    w = w.astype(dtype)
    if n:  # every row needs a positive weight
        dead = w.max(axis=1) <= 0
        w[dead, rng.integers(0, c)] = dtype(1)
    u = rng.random(n).astype(dtype)
    if n and i % 4 == 1:
        u[0] = 0
    if n and i % 4 == 3:
        u[-1] = ONE_MINUS[dtype]
    return w, u


@pytest.mark.parametrize("backend", ["numba"])
def test_backend_equals_reference_on_1000_cases(backend):
    rng = np.random.default_rng(20260101)
    for i in range(1000):
        w, u = _case(rng, i)
        ref = R.multinomial_threshold(w, u.astype(np.float64))
        with use_backend(backend):
            got = M.multinomial_threshold(w, u)
            got_seed = M.multinomial_threshold(w, seed=i, offset=3 * i)
            logits = np.log(w, where=w > 0, out=np.full_like(w, -np.inf)) if i % 7 == 0 else w
            got_l = M.categorical_from_logits(logits, u, temperature=1.0 + (i % 3) / 2)
        np.testing.assert_array_equal(got, ref, err_msg=f"case {i}")
        assert got.dtype == np.int64 and got.shape == (w.shape[0],)
        if w.shape[0]:
            assert (w[np.arange(w.shape[0]), got] > 0).all(), f"zero-weight category, case {i}"
        np.testing.assert_array_equal(
            got_seed, R.multinomial_threshold(w, seed=i, offset=3 * i), err_msg=f"case {i}")
        ref_l = R.categorical_from_logits(logits, u.astype(np.float64), 0, 0,
                                          1.0 + (i % 3) / 2)
        np.testing.assert_array_equal(got_l, ref_l, err_msg=f"logits case {i}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parallel_kernel_equals_reference(dtype):
    rng = np.random.default_rng(5)
    w = rng.random((20_000, 13)).astype(dtype)  # above the serial cut-off: prange path
    w[w < 0.4] = 0
    w[:, 5] += dtype(1e-3)
    u = rng.random(20_000)
    with use_backend("numba"):
        got = M.multinomial_threshold(w, u)
        got_l = M.categorical_from_logits(w * 3, seed=9, offset=1)
    np.testing.assert_array_equal(got, R.multinomial_threshold(w, u))
    np.testing.assert_array_equal(got_l, R.categorical_from_logits(w * 3, None, 9, 1))


def _log_tiny_edge(dtype):
    """Rows whose first logit sits at log(tiny) (flushed), one ulp above (kept) and one
    below (flushed), then 0: with u = 0 the first category is drawn only if it is kept."""
    cut = R.log_tiny(dtype)
    assert cut == np.log(np.float64(np.finfo(dtype).tiny)).astype(dtype)
    firsts = [cut, np.nextafter(cut, dtype(0)), np.nextafter(cut, dtype(-np.inf))]
    return np.array([[f, 0] for f in firsts], dtype), np.zeros(3, dtype), [1, 0, 1]


def _wide_logits(dtype):
    """Logits spread over hundreds (float32) or thousands (float64) of nats: many weights
    in and around exp's subnormal range, where the flush applies; every 7th u is 0."""
    rng = np.random.default_rng(8)
    scale = 40.0 if dtype == np.float32 else 300.0
    logits = (rng.standard_normal((3000, 67)) * scale).astype(dtype)
    u = rng.random(3000).astype(dtype)
    u[::7] = 0
    return logits, u


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logits_at_or_below_log_tiny_count_as_zero(dtype):
    logits, u, want = _log_tiny_edge(dtype)
    for backend in ("numpy", "numba"):
        with use_backend(backend):
            np.testing.assert_array_equal(M.categorical_from_logits(logits, u), want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_wide_logits_equal_reference(dtype):
    logits, u = _wide_logits(dtype)
    with use_backend("numba"):
        got = M.categorical_from_logits(logits, u, temperature=1.5)
        got_seed = M.categorical_from_logits(logits, seed=4)
    np.testing.assert_array_equal(got, R.categorical_from_logits(logits, u, 0, 0, 1.5))
    np.testing.assert_array_equal(got_seed, R.categorical_from_logits(logits, None, 4, 0))


def test_reference_rule_by_hand():
    w = np.array([[0, 1, 0, 2, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 3.0], [2, 0, 0, 1, 0]])
    u = np.array([0.0, 0.4, ONE_MINUS[np.float64], ONE_MINUS[np.float64]])
    np.testing.assert_array_equal(M.multinomial_threshold(w, u), [1, 0, 4, 3])
    # u exactly on a boundary: cumsum 1/3 is not > 1/3, so the next positive category
    np.testing.assert_array_equal(M.multinomial_threshold(w[:1], np.array([1 / 3])), [3])


def test_top_end_rounding_clamps_to_last_positive():
    # float32 block [1, 0, 2^-24, 2^-24]: the tree sum is 1 + 2^-23 but every left-to-right
    # partial sum rounds to 1, so for u * T > 1 none exceeds t: the kernel must fall back to
    # the last positive weight of the block (index 3), never to a zero weight.
    a = np.float32(2.0**-24)
    w = np.array([[1, 0, a, a], [1, 0, a, a]], dtype=np.float32)
    w2 = np.concatenate([w, np.zeros((2, 3), np.float32)], axis=1)  # trailing zeros
    u = np.array([1 - 2.0**-30, 0.5])
    for backend in ("numpy", "numba"):
        with use_backend(backend):
            np.testing.assert_array_equal(M.multinomial_threshold(w, u), [3, 0])
            np.testing.assert_array_equal(M.multinomial_threshold(w2, u), [3, 0])


def test_seed_equals_explicit_philox_uniforms():
    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        w = rng.random((64, 10)).astype(dtype)
        u = philox_uniforms(64, 11, 5, dtype)
        for backend in ("numpy", "numba"):
            with use_backend(backend):
                np.testing.assert_array_equal(M.multinomial_threshold(w, seed=11, offset=5),
                                              M.multinomial_threshold(w, u))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fn", ["weights", "logits"])
def test_samples_follow_weights_chi_square(dtype, fn):
    n, p = 100_000, np.array([0.3, 0.0, 0.05, 0.25, 0.1, 0.0, 0.2, 0.07, 0.03])
    w = np.tile(p * 7.5, (n, 1)).astype(dtype)  # unnormalized
    with use_backend("numba"):
        if fn == "weights":
            k = M.multinomial_threshold(w, seed=2024)
        else:
            logits = np.log(w, where=w > 0, out=np.full_like(w, -np.inf))
            k = M.categorical_from_logits(logits * 2, seed=2024, temperature=2.0)
    counts = np.bincount(k, minlength=p.size)
    assert counts[p == 0].sum() == 0
    e = n * p[p > 0]
    chi2 = ((counts[p > 0] - e) ** 2 / e).sum()
    df = (p > 0).sum() - 1
    assert chi2 < df + 6 * np.sqrt(2 * df)  # chi2(df) mean df, sd sqrt(2 df): 6-sigma bound


def test_empty_batch_and_single_category():
    for backend in ("numpy", "numba"):
        with use_backend(backend):
            out = M.multinomial_threshold(np.zeros((0, 4)), np.zeros(0))
            assert out.shape == (0,) and out.dtype == np.int64
            assert M.categorical_from_logits(np.zeros((0, 3)), seed=1).shape == (0,)
            np.testing.assert_array_equal(M.multinomial_threshold(np.ones((3, 1)), seed=1), 0)


def test_non_contiguous_and_integer_input():
    w = np.asfortranarray(np.random.default_rng(0).random((20, 6)))
    u = np.linspace(0, 0.99, 20)
    ref = R.multinomial_threshold(np.ascontiguousarray(w), u)
    with use_backend("numba"):
        np.testing.assert_array_equal(M.multinomial_threshold(w, u), ref)
        np.testing.assert_array_equal(M.multinomial_threshold(w[:, ::-1] * 0 + 1, u * 0), 0)
    assert M.multinomial_threshold(np.array([[0, 3, 1]]), np.array([0.9]))[0] == 2


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(weights=np.ones(3), u=np.zeros(1)), ValueError, "weights"),
        (dict(weights=np.ones((2, 0)), u=np.zeros(2)), ValueError, "weights"),
        (dict(weights=-np.ones((2, 2)), u=np.zeros(2)), ValueError, "weights"),
        (dict(weights=np.zeros((2, 2)), u=np.zeros(2)), ValueError, "sums to zero"),
        (dict(weights=np.array([[1, np.nan]]), u=np.zeros(1)), ValueError, "weights"),
        (dict(weights=np.full((1, 3), 1e308), u=np.zeros(1)), ValueError, "overflows"),
        (dict(weights=np.ones((2, 2)), u=np.zeros(3)), ValueError, "u"),
        (dict(weights=np.ones((2, 2)), u=np.array([0.1, 1.0])), ValueError, "u"),
        (dict(weights=np.ones((2, 2))), ValueError, "exactly one"),
        (dict(weights=np.ones((2, 2)), u=np.zeros(2), seed=1), ValueError, "exactly one"),
        (dict(weights=np.ones((2, 2)), seed=-1), ValueError, "seed"),
        (dict(weights=np.ones((2, 2)), seed=1, offset=-1), ValueError, "offset"),
        (dict(weights=np.ones((2, 2), dtype=np.complex64), seed=1), TypeError, "weights"),
    ],
)
def test_bad_input_names_argument(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        M.multinomial_threshold(**kwargs)


def test_bad_logits_and_temperature():
    with pytest.raises(ValueError, match="temperature"):
        M.categorical_from_logits(np.zeros((2, 3)), seed=1, temperature=0)
    with pytest.raises(ValueError, match="logits"):
        M.categorical_from_logits(np.full((1, 2), -np.inf), seed=1)
    with pytest.raises(ValueError, match="logits"):
        M.categorical_from_logits(np.array([[0.0, np.inf]]), seed=1)


@pytest.fixture(params=[False, True], ids=["warp_per_row", "thread_per_row"])
def rows_kernel(request, monkeypatch):
    """Run a gpu test with and without the one-thread-per-row kernel for C <= 256."""
    from minigen.kernels.gpu import multinomial as G

    monkeypatch.setattr(G, "_ROWS_KERNEL_MAX_C", 256 if request.param else 0)
    return request.param


@pytest.mark.gpu
def test_gpu_equals_reference(rows_kernel):
    import cupy

    rng = np.random.default_rng(7)
    for i in range(300):
        w, u = _case(rng, i)
        ref = R.multinomial_threshold(w, u.astype(np.float64))
        with use_backend("cupy"):
            got = M.multinomial_threshold(cupy.asarray(w), cupy.asarray(u)).get()
            got_seed = M.multinomial_threshold(cupy.asarray(w), seed=i, offset=i).get()
            got_l = M.categorical_from_logits(cupy.asarray(w), cupy.asarray(u)).get()
        np.testing.assert_array_equal(got, ref, err_msg=f"case {i}")
        np.testing.assert_array_equal(got_seed, R.multinomial_threshold(w, seed=i, offset=i))
        np.testing.assert_array_equal(got_l, R.categorical_from_logits(w, u.astype(np.float64)))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_logits_flush_at_log_tiny(dtype, rows_kernel):
    import cupy

    logits, u, want = _log_tiny_edge(dtype)
    wide, wu = _wide_logits(dtype)
    with use_backend("cupy"):
        got = M.categorical_from_logits(cupy.asarray(logits), cupy.asarray(u)).get()
        got_wide = M.categorical_from_logits(cupy.asarray(wide), cupy.asarray(wu),
                                             temperature=1.5).get()
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got_wide, R.categorical_from_logits(wide, wu, 0, 0, 1.5))


@pytest.mark.gpu
@pytest.mark.parametrize("c", [255, 257, 600, 2048, 2049, 5000])
def test_gpu_long_rows(c, rows_kernel):
    """Rows of several warp chunks (up to 4 in registers) and the serial path beyond."""
    import cupy

    rng = np.random.default_rng(c)
    for dt in (np.float32, np.float64):
        w = rng.random((64, c)).astype(dt)
        w[rng.random(w.shape) < 0.5] = 0
        w[:, 0] += dt(1e-3)
        u = rng.random(64)
        u[:2] = (0.0, np.nextafter(1.0, 0.0))
        with use_backend("cupy"):
            got = M.multinomial_threshold(cupy.asarray(w), cupy.asarray(u)).get()
            got_l = M.categorical_from_logits(cupy.asarray(np.log(w + dt(1e-3))),
                                              cupy.asarray(u)).get()
        np.testing.assert_array_equal(got, R.multinomial_threshold(w, u))
        np.testing.assert_array_equal(got_l, R.categorical_from_logits(np.log(w + dt(1e-3)), u))


@pytest.mark.gpu
@pytest.mark.parametrize("c", [1, 10, 256, 300, 1023])
def test_gpu_many_rows_per_warp(c, rows_kernel):
    """The persistent grids: every warp walks many rows (one thread per row up to C = 256,
    else a warp per row that prefetches the next row and takes uniforms 32 rows at a time),
    with rows that start on 16-byte boundaries (vector loads) and rows that do not."""
    import cupy

    rng = np.random.default_rng(100 + c)
    n = 150_001 if c <= 300 else 20_001  # > 32 rows per warp on an H200 for the short rows
    for dt in (np.float32, np.float64):
        w = rng.random((n, c)).astype(dt)
        w[rng.random(w.shape) < 0.3] = 0
        w[:, 0] += dt(1e-3)
        u = rng.random(n)
        logits = np.log(w + dt(1e-3))
        # the same rows at a 16-byte aligned address and one element past it
        for shift in (0, 1):
            flat = cupy.zeros(n * c + shift, dtype=dt)
            flat[shift:] = cupy.asarray(w.ravel())
            wg = flat[shift:].reshape(n, c)
            flat_l = cupy.zeros(n * c + shift, dtype=dt)
            flat_l[shift:] = cupy.asarray(logits.ravel())
            lg = flat_l[shift:].reshape(n, c)
            with use_backend("cupy"):
                got = M.multinomial_threshold(wg, cupy.asarray(u)).get()
                got_seed = M.multinomial_threshold(wg, seed=5, offset=3).get()
                got_l = M.categorical_from_logits(lg, cupy.asarray(u)).get()
            np.testing.assert_array_equal(got, R.multinomial_threshold(w, u), err_msg=f"{shift}")
            np.testing.assert_array_equal(got_seed, R.multinomial_threshold(w, seed=5, offset=3))
            np.testing.assert_array_equal(got_l, R.categorical_from_logits(logits, u))


@pytest.mark.gpu
def test_gpu_bad_input():
    import cupy

    with use_backend("cupy"):
        for bad, match in (([[1.0, np.nan]], "NaN"), ([[1.0, np.inf]], "infinite"),
                           ([[1.0, -1.0]], "negative"), ([[0.0, 0.0], [1.0, 0.0]], "zero")):
            with pytest.raises(ValueError, match=match):
                M.multinomial_threshold(cupy.asarray(bad), seed=0)
        with pytest.raises(ValueError, match="-inf"):
            M.categorical_from_logits(cupy.full((1, 2), -np.inf), seed=1)
        with pytest.raises(ValueError, match="NaN"):
            M.categorical_from_logits(cupy.asarray([[0.0, np.nan]]), seed=1)
