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
    assert first[0] is ValueError
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
