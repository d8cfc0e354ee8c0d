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
    from .backend import _probe
    from .kernels import _dispatch

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
    p = argparse.ArgumentParser(prog="minigen bench", description=__doc__.split("\n\n")[0])
    p.add_argument("kernels", nargs="*", help=f"kernels to time (default all: {', '.join(CASES)})")
    p.add_argument("--size", choices=list(SIZES), default="default")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per backend (median)")
    p.add_argument("--backends", nargs="+", default=["numpy", "numba", "cupy"],
                   choices=["numpy", "numba", "cupy"])
    return p


def main(argv=None) -> int:
    """Entry point of ``minigen bench``."""
    return run(build_parser().parse_args(argv))
