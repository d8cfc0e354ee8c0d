"""``minigen bench``: time each kernel on every available backend against the NumPy reference.

Prints one row per (kernel, size, backend): the median wall time over ``--repeat`` runs
and the ratio ``reference median / backend median`` (> 1 means faster than NumPy). The
pytest-benchmark suites in ``bench/`` hold the peers (torch, scikit-learn); this command
needs only minigen. Kernel families register cases in :data:`CASES` via :func:`case`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from .backend import _probe
from .cli_args import HelpFormatter, positive_int
from .kernels import _dispatch

# kernel name -> (setup(size, backend), {"small": size, "default": size})
CASES: dict[str, tuple[Callable, dict]] = {}
SIZES = {"small": 0, "default": 1}


def case(name: str, **sizes):
    """Register ``setup(size, backend) -> (family, function, positional args)`` for ``name``.

    The arguments are passed straight to each backend's implementation (validated input).
    """

    def deco(setup):
        CASES[name] = (setup, sizes)
        return setup

    return deco


@case("multinomial_threshold", small=(10_000, 64), default=(100_000, 256))
def _multinomial(size, backend):
    n, c = size
    rng = np.random.default_rng(0)
    w = backend.asarray(rng.random((n, c), dtype=np.float32))
    u = backend.asarray(rng.random(n))
    return "multinomial", "multinomial_threshold", (w, u, None, 0)


@case("categorical_from_logits", small=(10_000, 64), default=(100_000, 256))
def _logits(size, backend):
    n, c = size
    rng = np.random.default_rng(0)
    x = backend.asarray(rng.standard_normal((n, c), dtype=np.float32))
    return "multinomial", "categorical_from_logits", (x, None, 1, 0, 1.0)


@case("philox_normals", small=(100_000,), default=(4_000_000,))
def _philox(size, backend):
    return "philox", "philox_normals", (size, 7, 0, np.float32)


@case("rbm_gibbs", small=(784, 100, 100), default=(784, 500, 1000))
def _rbm_gibbs(size, backend):
    # k = 1 block-Gibbs step, uniforms drawn in-kernel (Philox), as bench/bench_kernels_gibbs.py
    n_visible, n_hidden, batch = size
    rng = np.random.default_rng(0)
    W = (rng.normal(size=(n_visible, n_hidden)) * 0.01).astype(np.float32)
    b = (rng.normal(size=n_visible) * 0.1).astype(np.float32)
    c = (rng.normal(size=n_hidden) * 0.1).astype(np.float32)
    v = (rng.random((batch, n_visible)) < 0.3).astype(np.float32)
    return "gibbs", "rbm_gibbs_philox", (*map(backend.asarray, (v, W, b, c)), 1, 1, 0, False)


@case("bm_gibbs_sweep", small=(16, 100), default=(64, 1000))
def _bm_gibbs_sweep(size, backend):
    # one sequential sweep of a fully connected Boltzmann machine per chain, float64
    n, chains = size
    rng = np.random.default_rng(1)
    J = rng.normal(size=(n, n)) * 0.1
    J = (J + J.T) / 2
    np.fill_diagonal(J, 0)
    x = (rng.random((chains, n)) < 0.5).astype(np.float64)
    return "gibbs", "bm_gibbs_sweep_philox", (*map(backend.asarray, (x, J, np.zeros(n))), 1,
                                              backend.asarray(np.arange(n)), 1, 0)


@case("langevin_step", small=(100_000,), default=(10_000_000,))
def _langevin_step(size, backend):
    # x - step/2 * grad + sqrt(step) * z, z drawn in-kernel (Philox + Box-Muller)
    rng = np.random.default_rng(0)
    x, g = (backend.asarray(rng.standard_normal(size, dtype=np.float32)) for _ in range(2))
    return "langevin", "langevin_step_philox", (x, g, 0.01, 1, 0, backend.xp.empty_like(x))


@case("langevin_run_gmm", small=(1_000, 10), default=(100_000, 100))
def _langevin_run_gmm(size, backend):
    # n_steps fused ULA steps on the 8-Gaussian ring (radius 4, scale 0.5), 2-D chains
    chains, n_steps = size
    angle = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    means = np.stack([4 * np.cos(angle), 4 * np.sin(angle)], 1).astype(np.float32)
    x = np.random.default_rng(2).normal(size=(chains, 2)).astype(np.float32)
    weights, scales = np.full(8, 1 / 8, np.float32), np.full(8, 0.5, np.float32)
    return "langevin", "langevin_run_gmm_philox", (
        backend.asarray(x), n_steps, 0.01, *map(backend.asarray, (weights, means, scales)), 1, 0)


def _coupling_inputs(size, backend):
    rng = np.random.default_rng(0)
    return [backend.asarray(rng.standard_normal(size, dtype=np.float32)) for _ in range(4)]


@case("affine_coupling", small=(512, 256), default=(4096, 1024))
def _affine_coupling(size, backend):
    # y = x * exp(s) + t and the per-row log-det sum(s) (float64)
    x2, s, t, _ = _coupling_inputs(size, backend)
    return "coupling", "affine_coupling", (x2, s, t, False)


@case("affine_coupling_backward", small=(512, 256), default=(4096, 1024))
def _affine_coupling_backward(size, backend):
    x2, s, t, gy = _coupling_inputs(size, backend)
    glogdet = backend.asarray(np.random.default_rng(1).standard_normal(size[0]))
    return "coupling", "affine_coupling_backward", (x2, s, t, gy, glogdet, False)


def _spline_inputs(size, backend):
    n, d, n_bins = size
    rng = np.random.default_rng(0)
    x = rng.uniform(-3.3, 3.3, (n, d)).astype(np.float32)
    w, h = (rng.standard_normal((n, d, n_bins), dtype=np.float32) for _ in range(2))
    dr = rng.standard_normal((n, d, n_bins - 1), dtype=np.float32)
    gy = rng.standard_normal((n, d), dtype=np.float32)
    return [backend.asarray(a) for a in (x, w, h, dr, gy, rng.standard_normal(n))]


@case("spline_coupling", small=(512, 64, 8), default=(4096, 1024, 8))
def _spline_coupling(size, backend):
    # rational-quadratic spline per element (K bins, tail bound 3) and the row log-dets
    x, w, h, dr, _, _ = _spline_inputs(size, backend)
    return "spline", "spline_coupling", (x, w, h, dr, False, 3.0)


@case("spline_coupling_backward", small=(512, 64, 8), default=(4096, 1024, 8))
def _spline_coupling_backward(size, backend):
    x, w, h, dr, gy, gl = _spline_inputs(size, backend)
    return "spline", "spline_coupling_backward", (x, w, h, dr, gy, gl, False, 3.0)


def _time(fn, repeat: int, backend) -> float:
    fn()  # compile / warm up outside the timing
    backend.synchronize()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        backend.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(args) -> int:
    """Run the benchmarks selected by ``args`` (see :func:`build_parser`) and print a table."""
    names = args.kernels or list(CASES)
    unknown = [k for k in names if k not in CASES]
    if unknown:
        raise SystemExit(f"unknown kernel(s) {unknown}; choose from {sorted(CASES)}")
    rows = []
    for name in names:
        setup, sizes = CASES[name]
        size = sizes[args.size]
        ref_time = None
        for bname in args.backends:
            backend = _probe(bname)
            if not backend.available:
                rows.append((name, str(size), bname, "unavailable", "-"))
                continue
            family, fname, a = setup(size, backend)
            try:
                fn = _dispatch.implementation(family, fname, backend)
            except (ImportError, NotImplementedError) as exc:
                rows.append((name, str(size), bname, f"n/a ({exc})", "-"))
                continue
            med = _time(lambda fn=fn, a=a: fn(*a), args.repeat, backend)
            if bname == "numpy":
                ref_time = med
            ratio = f"{ref_time / med:.1f}x" if ref_time else "-"
            rows.append((name, str(size), bname, f"{med * 1e3:.2f} ms", ratio))
    header = ("kernel", "size", "backend", "median", "vs numpy")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(5)]
    for r in [header, tuple("-" * w for w in widths)] + rows:
        print("  ".join(x.ljust(w) for x, w in zip(r, widths, strict=True)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="minigen bench", description=__doc__.split("\n\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("kernels", nargs="*", help=f"kernels to time (default all: {', '.join(CASES)})")
    p.add_argument("--size", choices=list(SIZES), default="default",
                   help="problem size of every kernel")
    # >= 1: the median of no timings was a StatisticsError traceback
    p.add_argument("--repeat", type=positive_int, default=5,
                   help="timed runs per backend (median)")
    p.add_argument("--backends", nargs="+", default=["numpy", "numba", "cupy"],
                   choices=["numpy", "numba", "cupy"], help="backends to time")
    return p


def main(argv=None) -> int:
    """Entry point of ``minigen bench``."""
    return run(build_parser().parse_args(argv))
