"""Multinomial thresholding and Philox: NumPy reference vs Numba vs peers.

multinomial_threshold on N = 100,000 rows x C = 256 categories, float32: the NumPy
reference, Numba with explicit ``u`` and with in-kernel Philox draws, ``torch.multinomial``
(CPU, 1 sample, 2 threads) and ``weights.sum()`` (one streaming pass over the same memory,
the floor for any exact sampler). CuPy rows are ``gpu``-marked.

Run: ``python -m pytest bench/bench_kernels.py --benchmark-enable -q``
Acceptance (the "Kernels" issue): Numba >= 8x faster than the reference, >= 30x faster
than torch.multinomial, within 2x of weights.sum().
"""

from __future__ import annotations

import numpy as np
import pytest

N, C = 100_000, 256
N_THREADS = 2
GROUP = f"multinomial_threshold {N}x{C} f32"


def _data():
    rng = np.random.default_rng(0)
    return rng.random((N, C), dtype=np.float32), rng.random(N)


@pytest.mark.benchmark(group=GROUP)
def test_threshold_numpy_reference(benchmark):
    from minigen.kernels.reference.multinomial import multinomial_threshold

    w, u = _data()
    k = benchmark(multinomial_threshold, w, u)
    assert k.shape == (N,)


@pytest.mark.benchmark(group=GROUP)
def test_threshold_numba_explicit_u(benchmark):
    from minigen.kernels.cpu.multinomial import multinomial_threshold
    from minigen.kernels.reference.multinomial import multinomial_threshold as ref

    w, u = _data()
    k = benchmark(multinomial_threshold, w, u)
    np.testing.assert_array_equal(k[:2000], ref(w[:2000], u[:2000]))


@pytest.mark.benchmark(group=GROUP)
def test_threshold_numba_philox(benchmark):
    from minigen.kernels.cpu.multinomial import multinomial_threshold

    w, _ = _data()
    k = benchmark(multinomial_threshold, w, None, 1234, 0)
    assert k.min() >= 0 and k.max() < C


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
def test_logits_numpy_reference(benchmark):
    from minigen.kernels.reference.multinomial import categorical_from_logits

    benchmark(categorical_from_logits, _logits(), None, 5, 0)


@pytest.mark.benchmark(group=LGROUP)
def test_logits_numba(benchmark):
    from minigen.kernels.cpu.multinomial import categorical_from_logits

    benchmark(categorical_from_logits, _logits(), None, 5, 0)


@pytest.mark.benchmark(group=LGROUP)
def test_logits_torch_softmax_multinomial(benchmark):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(N_THREADS)
    x = torch.from_numpy(_logits())
    benchmark(lambda: torch.multinomial(torch.softmax(x, dim=1), 1))


PGROUP = "philox uniforms 4,000,000 f32"


@pytest.mark.benchmark(group=PGROUP)
def test_philox_numpy_reference(benchmark):
    from minigen.kernels.reference.philox import philox_uniforms

    benchmark(philox_uniforms, 4_000_000, 7)


@pytest.mark.benchmark(group=PGROUP)
def test_philox_numba(benchmark):
    from minigen.kernels.cpu.philox import philox_uniforms

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

    from minigen.kernels.gpu.multinomial import multinomial_threshold

    w, u = _data()
    w, u = cupy.asarray(w), cupy.asarray(u)

    def run():
        k = multinomial_threshold(w, u)
        cupy.cuda.Stream.null.synchronize()
        return k

    run()
    benchmark(run)
