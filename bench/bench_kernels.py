"""Multinomial thresholding and Philox: the public functions beside their kernel, NumPy, peers.

multinomial_threshold on N = 100,000 rows x C = 256 categories, float32: the public
function ``minigen.kernels.multinomial_threshold`` on the numba backend (validation
included: the figure to quote) with explicit ``u`` and with ``seed=``; the Numba kernel
alone (an extra row: what the wrapper costs); the NumPy reference (the public function
on the numpy backend); the NumPy expression a user would write (cumsum and a count);
``torch.multinomial`` (CPU, 1 sample, 2 threads); ``weights.sum()`` (one streaming pass
over the same memory, the floor for any exact sampler). CuPy rows are ``gpu``-marked.

Run: ``python -m pytest bench/bench_kernels.py --benchmark-enable -q``; the ratios of the
README come from ``python bench/kernels_table.py`` (every row in alternation, one run).
Acceptance (the kernels issues): public >= 8x the reference, >= 30x torch.multinomial,
within 2x of weights.sum(), within 1.15x of its kernel.
"""

from __future__ import annotations

import numpy as np
import pytest

from minigen.backend import use_backend

N, C = 100_000, 256
N_THREADS = 2
GROUP = f"multinomial_threshold {N}x{C} f32"


def _data():
    rng = np.random.default_rng(0)
    return rng.random((N, C), dtype=np.float32), rng.random(N)


@pytest.mark.benchmark(group=GROUP)
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_threshold_public_explicit_u(benchmark, backend):
    from minigen.kernels import multinomial_threshold
    from minigen.kernels.reference.multinomial import multinomial_threshold as ref

    w, u = _data()
    with use_backend(backend):
        k = benchmark(multinomial_threshold, w, u)
    np.testing.assert_array_equal(k[:2000], ref(w[:2000], u[:2000]))


@pytest.mark.benchmark(group=GROUP)
def test_threshold_public_seed_numba(benchmark):
    from minigen.kernels import multinomial_threshold

    w, _ = _data()
    with use_backend("numba"):
        k = benchmark(multinomial_threshold, w, seed=1234)
    assert k.min() >= 0 and k.max() < C


@pytest.mark.benchmark(group=GROUP)
def test_threshold_kernel_only_numba(benchmark):
    from minigen.kernels.cpu.multinomial import multinomial_threshold

    w, u = _data()
    benchmark(multinomial_threshold, w, u)


@pytest.mark.benchmark(group=GROUP)
def test_threshold_numpy_expression(benchmark):
    w, u = _data()

    def run():
        cs = w.cumsum(axis=1)
        return (cs <= u[:, None] * cs[:, -1:]).sum(axis=1)

    benchmark(run)


@pytest.mark.benchmark(group=GROUP)
def test_threshold_torch_multinomial(benchmark):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(N_THREADS)
    w, _ = _data()
    probs = torch.from_numpy(w)
    torch.manual_seed(0)
    k = benchmark(torch.multinomial, probs, 1)
    assert k.shape == (N, 1)


@pytest.mark.benchmark(group=GROUP)
def test_threshold_floor_weights_sum(benchmark):
    w, _ = _data()
    benchmark(w.sum)


LGROUP = f"categorical_from_logits {N}x{C} f32"


def _logits():
    return np.random.default_rng(1).standard_normal((N, C), dtype=np.float32)


@pytest.mark.benchmark(group=LGROUP)
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_logits_public(benchmark, backend):
    from minigen.kernels import categorical_from_logits

    x = _logits()
    with use_backend(backend):
        benchmark(categorical_from_logits, x, seed=5)


@pytest.mark.benchmark(group=LGROUP)
def test_logits_kernel_only_numba(benchmark):
    from minigen.kernels.cpu.multinomial import categorical_from_logits

    benchmark(categorical_from_logits, _logits(), None, 5, 0)


@pytest.mark.benchmark(group=LGROUP)
def test_logits_numpy_expression(benchmark):
    x = _logits()
    rng = np.random.default_rng(2)

    def run():
        p = np.exp(x - x.max(axis=1, keepdims=True)).cumsum(axis=1)
        return (p <= rng.random(N)[:, None] * p[:, -1:]).sum(axis=1)

    benchmark(run)


@pytest.mark.benchmark(group=LGROUP)
def test_logits_torch_softmax_multinomial(benchmark):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(N_THREADS)
    x = torch.from_numpy(_logits())
    benchmark(lambda: torch.multinomial(torch.softmax(x, dim=1), 1))


PGROUP = "philox uniforms 4,000,000 f32"


@pytest.mark.benchmark(group=PGROUP)
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_philox_public(benchmark, backend):
    from minigen.kernels import philox_uniforms

    with use_backend(backend):
        benchmark(philox_uniforms, 4_000_000, 7)


@pytest.mark.benchmark(group=PGROUP)
def test_philox_numpy_pcg64_peer(benchmark):
    rng = np.random.default_rng(7)
    benchmark(rng.random, 4_000_000, np.float32)


@pytest.mark.gpu
@pytest.mark.benchmark(group=GROUP + " (GPU)")
def test_threshold_cupy(benchmark):
    cupy = pytest.importorskip("cupy")
    if not cupy.cuda.is_available():
        pytest.skip("no CUDA device")

    from minigen.kernels import multinomial_threshold

    w, u = _data()
    w, u = cupy.asarray(w), cupy.asarray(u)

    def run():
        with use_backend("cupy"):
            k = multinomial_threshold(w, u)
        cupy.cuda.Stream.null.synchronize()
        return k

    run()
    benchmark(run)
