"""GPU kernel benchmarks (CuPy backend): each CUDA kernel beside a device-to-device copy,
cuBLAS and torch CUDA where installed. Every test is ``gpu``-marked (skipped without a device).

Run on a machine with a CUDA device::

    python -m pytest bench/bench_gpu.py --benchmark-enable -q --benchmark-json gpu.json
    python bench/gpu_summary.py gpu.json        # GB/s and % of the copy's bandwidth

Each timed call ends with a device synchronization, so the time is what a Python caller
waits for (launch overhead included). Sizes fill the chip (about 1 GB moved per call),
except ``rbm_gibbs`` at the size the Kernels issue names. ``extra_info["bytes"]`` is the
fewest bytes a kernel must move (each input read once, each output written once):
``bytes / median`` is its effective bandwidth, compared by ``gpu_summary.py`` with the
copy's (bytes read + bytes written) measured in the same run.

Acceptance (the Kernels issue, H100/H200 class): every memory-bound kernel reaches >= 60%
of the copy's bandwidth; ``rbm_gibbs`` k=1 <= 1.3x the time of its two cuBLAS products.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.gpu

N_ROWS, N_CAT = 1_000_000, 256  # multinomial: 1 GB of float32 weights
N_ELEM = 100_000_000  # Langevin step: 10^8 float32
CPL_N, CPL_D = 65_536, 1024  # affine coupling rows x features
RBM_V, RBM_H, RBM_B = 784, 500, 1000


@pytest.fixture(scope="module")
def cp():
    cupy = pytest.importorskip("cupy")
    if not cupy.cuda.is_available():
        pytest.skip("no CUDA device")
    return cupy


def _timed(benchmark, cp, fn, nbytes, rounds=30, sync=None):
    """Benchmark ``fn`` with a synchronize after each call (CuPy's null stream, or ``sync``,
    e.g. ``torch.cuda.synchronize`` for a peer); record the bytes it must move."""
    sync = sync or cp.cuda.Stream.null.synchronize

    def run():
        out = fn()
        sync()
        return out

    run()  # compile / load the module and allocate outside the timing
    benchmark.extra_info["bytes"] = int(nbytes)
    return benchmark.pedantic(run, rounds=rounds, iterations=1, warmup_rounds=2)


def _torch_cuda():
    """torch with a CUDA device, or skip (the torch peers)."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA")
    return torch


# ---- the ceiling: a plain device-to-device copy ---------------------------------------------

@pytest.mark.benchmark(group="gpu copy (ceiling)")
def test_device_copy_1gb(benchmark, cp):
    src = cp.random.random(2**28, dtype=cp.float32)  # 1 GiB
    dst = cp.empty_like(src)
    _timed(benchmark, cp, lambda: cp.copyto(dst, src), 2 * src.nbytes)


# ---- multinomial thresholding ---------------------------------------------------------------

def _weights(cp, dtype=np.float32):
    w = cp.random.random((N_ROWS, N_CAT), dtype=dtype)
    u = cp.random.random(N_ROWS, dtype=cp.float64)
    return w, u


MN = f"gpu multinomial {N_ROWS}x{N_CAT} f32"


@pytest.mark.benchmark(group=MN)
def test_multinomial_explicit_u(benchmark, cp):
    from minigen.kernels.gpu.multinomial import multinomial_threshold
    from minigen.kernels.reference.multinomial import multinomial_threshold as ref

    w, u = _weights(cp)
    k = _timed(benchmark, cp, lambda: multinomial_threshold(w, u),
               w.nbytes + u.nbytes + 8 * N_ROWS)
    np.testing.assert_array_equal(cp.asnumpy(k[:4096]),
                                  ref(cp.asnumpy(w[:4096]), cp.asnumpy(u[:4096])))


@pytest.mark.benchmark(group=MN)
def test_multinomial_philox(benchmark, cp):
    from minigen.kernels.gpu.multinomial import multinomial_threshold

    w, _ = _weights(cp)
    _timed(benchmark, cp, lambda: multinomial_threshold(w, None, 7, 0), w.nbytes + 8 * N_ROWS)


@pytest.mark.benchmark(group=MN)
def test_multinomial_public_wrapper(benchmark, cp):
    """The public ``minigen.kernels`` call: validation (finite, >= 0, no zero row) included."""
    import minigen
    from minigen.kernels import multinomial_threshold

    w, _ = _weights(cp)
    with minigen.use_backend("cupy"):
        _timed(benchmark, cp, lambda: multinomial_threshold(w, seed=7), w.nbytes + 8 * N_ROWS)


@pytest.mark.benchmark(group=MN)
def test_categorical_from_logits_philox(benchmark, cp):
    from minigen.kernels.gpu.multinomial import categorical_from_logits

    w, _ = _weights(cp)
    _timed(benchmark, cp, lambda: categorical_from_logits(w, None, 7, 0), w.nbytes + 8 * N_ROWS)


@pytest.mark.benchmark(group=MN)
def test_multinomial_torch_cuda_peer(benchmark, cp):
    torch = _torch_cuda()
    w = torch.rand((N_ROWS, N_CAT), device="cuda")
    _timed(benchmark, cp, lambda: torch.multinomial(w, 1), w.numel() * 4 + 8 * N_ROWS,
           sync=torch.cuda.synchronize)


@pytest.mark.benchmark(group=MN)
def test_weights_sum_one_pass(benchmark, cp):
    w, _ = _weights(cp)
    _timed(benchmark, cp, lambda: w.sum(axis=1), w.nbytes + 4 * N_ROWS)


# ---- Philox ----------------------------------------------------------------------------------

@pytest.mark.benchmark(group="gpu philox 2^28 uniforms f32")
def test_philox_uniforms(benchmark, cp):
    from minigen.kernels.gpu.philox import philox_uniforms

    _timed(benchmark, cp, lambda: philox_uniforms(2**28, 7), 4 * 2**28)


@pytest.mark.benchmark(group="gpu philox 2^28 uniforms f32")
def test_cupy_random_peer(benchmark, cp):
    _timed(benchmark, cp, lambda: cp.random.random(2**28, dtype=cp.float32), 4 * 2**28)


# ---- Langevin --------------------------------------------------------------------------------

LG = "gpu langevin_step 10^8 f32"


@pytest.fixture(scope="module")
def xg(cp):
    x = cp.random.standard_normal(N_ELEM, dtype=cp.float32)
    g = cp.random.standard_normal(N_ELEM, dtype=cp.float32)
    return x, g


@pytest.mark.benchmark(group=LG)
def test_langevin_philox_in_place(benchmark, cp, xg):
    from minigen.kernels.gpu.langevin import langevin_step_philox

    x, g = xg
    _timed(benchmark, cp, lambda: langevin_step_philox(x, g, 1e-3, 7, 0, x), 3 * x.nbytes)


@pytest.mark.benchmark(group=LG)
def test_langevin_explicit_noise(benchmark, cp, xg):
    from minigen.kernels.gpu.langevin import langevin_step

    x, g = xg
    z = cp.random.standard_normal(N_ELEM, dtype=cp.float32)
    _timed(benchmark, cp, lambda: langevin_step(x, g, 1e-3, z, x), 4 * x.nbytes)


@pytest.mark.benchmark(group=LG)
def test_langevin_cupy_expression_peer(benchmark, cp, xg):
    x, g = xg

    def run():
        return x - 5e-4 * g + np.float32(np.sqrt(1e-3)) * cp.random.standard_normal(
            N_ELEM, dtype=cp.float32)

    _timed(benchmark, cp, run, 3 * x.nbytes)


@pytest.mark.benchmark(group="gpu langevin_run_gmm 100 steps 8-comp 2D, 10^6 chains")
@pytest.mark.parametrize("impl", ["fused", "cupy_loop"])
def test_langevin_run_gmm(benchmark, cp, impl):
    from minigen.kernels.gpu.langevin import langevin_run_gmm_philox

    n, K, steps, eps = 1_000_000, 8, 100, 0.01
    ang = np.arange(K) * 2 * np.pi / K
    means = cp.asarray(np.stack([2 * np.cos(ang), 2 * np.sin(ang)], 1), dtype=cp.float32)
    weights = cp.full(K, 1 / K, dtype=cp.float32)
    scales = cp.full(K, 0.2, dtype=cp.float32)
    x0 = cp.random.standard_normal((n, 2), dtype=cp.float32)

    def loop():
        x = x0.copy()
        inv = 1 / scales**2
        for _ in range(steps):
            d = x[:, None, :] - means[None]  # (n, K, 2)
            logr = cp.log(weights) - 0.5 * (d * d).sum(-1) * inv  # responsibilities (unnorm.)
            r = cp.exp(logr - logr.max(1, keepdims=True))
            r /= r.sum(1, keepdims=True)
            grad = (r[..., None] * d * inv[None, :, None]).sum(1)
            x = x - eps / 2 * grad + np.float32(np.sqrt(eps)) * cp.random.standard_normal(
                x.shape, dtype=cp.float32)
        return x

    fn = (lambda: langevin_run_gmm_philox(x0, steps, eps, weights, means, scales, 7, 0)) \
        if impl == "fused" else loop
    _timed(benchmark, cp, fn, 2 * x0.nbytes, rounds=3 if impl == "cupy_loop" else 20)


# ---- affine coupling -------------------------------------------------------------------------

CP = f"gpu affine_coupling {CPL_N}x{CPL_D} f32"


@pytest.fixture(scope="module")
def cpl(cp):
    shape = (CPL_N, CPL_D)
    x2 = cp.random.standard_normal(shape, dtype=cp.float32)
    s = 0.1 * cp.random.standard_normal(shape, dtype=cp.float32)
    t = cp.random.standard_normal(shape, dtype=cp.float32)
    gy = cp.random.standard_normal(shape, dtype=cp.float32)
    return x2, s, t, gy


@pytest.mark.benchmark(group=CP + " forward")
def test_coupling_forward(benchmark, cp, cpl):
    from minigen.kernels.gpu.coupling import affine_coupling

    x2, s, t, _ = cpl
    _timed(benchmark, cp, lambda: affine_coupling(x2, s, t), 4 * x2.nbytes + 8 * CPL_N)


@pytest.mark.benchmark(group=CP + " forward")
def test_coupling_forward_cupy_expression_peer(benchmark, cp, cpl):
    x2, s, t, _ = cpl
    _timed(benchmark, cp, lambda: (x2 * cp.exp(s) + t, s.sum(1, dtype=cp.float64)),
           4 * x2.nbytes + 8 * CPL_N)


@pytest.mark.benchmark(group=CP + " forward")
def test_coupling_forward_torch_cuda_peer(benchmark, cp, cpl):
    torch = _torch_cuda()
    x2, s, t = (torch.from_dlpack(a) for a in cpl[:3])
    _timed(benchmark, cp, lambda: (x2 * torch.exp(s) + t, s.sum(1, dtype=torch.float64)),
           4 * x2.numel() * 4 + 8 * CPL_N, sync=torch.cuda.synchronize)


@pytest.mark.benchmark(group=CP + " backward")
def test_coupling_backward(benchmark, cp, cpl):
    from minigen.kernels.gpu.coupling import affine_coupling_backward

    x2, s, t, gy = cpl
    gl = cp.ones(CPL_N, dtype=cp.float64)
    _timed(benchmark, cp, lambda: affine_coupling_backward(x2, s, t, gy, gl),
           7 * x2.nbytes + 8 * CPL_N)


@pytest.mark.benchmark(group="gpu actnorm 256x64x64x64 f32")
def test_actnorm(benchmark, cp):
    from minigen.kernels.gpu.coupling import actnorm

    x = cp.random.standard_normal((256, 64, 64 * 64), dtype=cp.float32)  # (N, C, spatial)
    loc = cp.random.standard_normal(64, dtype=cp.float32)
    ls = 0.1 * cp.random.standard_normal(64, dtype=cp.float32)
    _timed(benchmark, cp, lambda: actnorm(x, loc, ls), 2 * x.nbytes)


# ---- Gibbs -----------------------------------------------------------------------------------

RB = f"gpu rbm_gibbs k=1 {RBM_V}x{RBM_H} B={RBM_B} f32"


@pytest.fixture(scope="module")
def rbm(cp):
    rng = np.random.default_rng(0)
    W = cp.asarray(rng.normal(size=(RBM_V, RBM_H)) * 0.01, dtype=cp.float32)
    b = cp.asarray(rng.normal(size=RBM_V) * 0.1, dtype=cp.float32)
    c = cp.asarray(rng.normal(size=RBM_H) * 0.1, dtype=cp.float32)
    v = cp.asarray(rng.random((RBM_B, RBM_V)) < 0.3, dtype=cp.float32)
    h = cp.asarray(rng.random((RBM_B, RBM_H)) < 0.5, dtype=cp.float32)
    return v, W, b, c, h


@pytest.mark.benchmark(group=RB)
def test_rbm_two_cublas_products(benchmark, cp, rbm):
    v, W, _, _, h = rbm
    _timed(benchmark, cp, lambda: (v @ W, h @ W.T), 0, rounds=200)


@pytest.mark.benchmark(group=RB)
def test_rbm_two_direct_cublas_products(benchmark, cp, rbm):
    """The floor: the same two products as one direct cuBLAS call each."""
    from minigen.kernels.gpu.gibbs import _matmul

    v, W, _, _, h = rbm
    _timed(benchmark, cp, lambda: (_matmul(v, W), _matmul(h, W, transpose_w=True)), 0,
           rounds=200)


@pytest.mark.benchmark(group=RB)
@pytest.mark.parametrize("products", ["fused", "cublas"])
def test_rbm_gibbs_philox(benchmark, cp, rbm, products, monkeypatch):
    """``fused``: two launches of the product + sigmoid + Bernoulli kernel; ``cublas``: each
    product by a direct cuBLAS call, then a sigmoid_bernoulli launch."""
    from minigen.kernels.gpu import gibbs as gpu_gibbs

    monkeypatch.setattr(gpu_gibbs, "FUSED_PRODUCTS", products == "fused")
    v, W, b, c, _ = rbm
    _timed(benchmark, cp,
           lambda: gpu_gibbs.rbm_gibbs_philox(v, W, b, c, 1, 7, 0, compute_ph=False), 0,
           rounds=200)


@pytest.mark.benchmark(group=RB)
def test_rbm_gibbs_public_wrapper(benchmark, cp, rbm):
    """``minigen.kernels.rbm_gibbs`` under the cupy backend: validation included."""
    import minigen
    from minigen.kernels import rbm_gibbs

    v, W, b, c, _ = rbm
    with minigen.use_backend("cupy"):
        _timed(benchmark, cp, lambda: rbm_gibbs(v, W, b, c, 1, seed=7, compute_ph=False), 0,
               rounds=200)


@pytest.mark.benchmark(group=RB + " (GPU time, CUDA events)")
def test_rbm_gpu_time_breakdown(benchmark, cp, rbm):
    """Device time alone (cupyx.profiler.benchmark), to separate kernels from Python cost."""
    from cupyx.profiler import benchmark as cupy_bench

    from minigen.kernels.gpu.gibbs import rbm_gibbs_philox

    v, W, b, c, h = rbm
    runs = {
        "two_products": lambda: (v @ W, h @ W.T),
        "rbm_gibbs_k1": lambda: rbm_gibbs_philox(v, W, b, c, 1, 7, 0, compute_ph=False),
    }
    for name, fn in runs.items():
        r = cupy_bench(fn, n_repeat=200, n_warmup=10)
        benchmark.extra_info[f"{name}_gpu_ms"] = float(np.median(r.gpu_times)) * 1e3
        benchmark.extra_info[f"{name}_cpu_ms"] = float(np.median(r.cpu_times)) * 1e3
    benchmark.extra_info["gpu_ratio"] = (benchmark.extra_info["rbm_gibbs_k1_gpu_ms"]
                                         / benchmark.extra_info["two_products_gpu_ms"])
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)


@pytest.mark.benchmark(group=RB)
def test_rbm_gibbs_torch_cuda_peer(benchmark, cp, rbm):
    torch = _torch_cuda()
    v, W, b, c, _ = (torch.from_dlpack(a) for a in rbm)

    def step():
        ph = torch.sigmoid(v @ W + c)
        hs = (torch.rand_like(ph) < ph).float()
        pv = torch.sigmoid(hs @ W.T + b)
        return (torch.rand_like(pv) < pv).float()

    _timed(benchmark, cp, step, 0, rounds=200, sync=torch.cuda.synchronize)


@pytest.mark.benchmark(group="gpu bm_gibbs_sweep n=64 chains=100000 f32")
def test_bm_gibbs_sweep(benchmark, cp):
    from minigen.kernels.gpu.gibbs import bm_gibbs_sweep_philox

    rng = np.random.default_rng(1)
    n, chains = 64, 100_000
    J = rng.normal(size=(n, n)) * 0.1
    J = (J + J.T) / 2
    np.fill_diagonal(J, 0)
    J = cp.asarray(J, dtype=cp.float32)
    x = cp.asarray(rng.random((chains, n)) < 0.5, dtype=cp.float32)
    order = cp.arange(n)
    _timed(benchmark, cp, lambda: bm_gibbs_sweep_philox(x, J, cp.zeros(n, cp.float32), 1, order,
                                                        7, 0), 2 * x.nbytes)
