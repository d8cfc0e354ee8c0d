"""``minigen bench``: time the public kernel functions, as users call them, on each backend.

For every kernel it times, side by side and in alternation (each row in turn, one untimed
call then up to 3 timed ones, so that a busy machine slows every row alike), medians of
``--repeat`` runs:

* ``NumPy expression``: what a user would write in NumPy for the same result;
* ``public <backend>``: ``minigen.kernels.<name>(...)`` under ``use_backend``, validation
  included (the figure to quote);
* ``kernel <backend>``: the backend's kernel alone, without the wrapper (an extra row:
  what the wrapper costs).

The ratio column is ``NumPy expression / row`` (> 1: faster than NumPy); the last column
is ``public / kernel`` for the same backend. Only minigen and NumPy are needed: the
peers (torch, scikit-learn) are in ``bench/`` (``python bench/kernels_table.py``).
Kernel cases are registered in :data:`CASES` via :func:`case`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import kernels
from .backend import probe, use_backend
from .cli_args import HelpFormatter, positive_int
from .kernels.reference import spline as reference_spline
from .kernels.reference.langevin import gmm_grad

SIZES = {"small": 0, "default": 1}


@dataclass
class Case:
    """The three calls of one kernel case (each a zero-argument callable)."""

    public: Callable
    kernel: Callable | None
    numpy_expression: Callable | None


# kernel name -> (setup(size, backend) -> Case, {"small": size, "default": size})
CASES: dict[str, tuple[Callable, dict]] = {}


def case(name: str, **sizes):
    """Register ``setup(size, backend) -> Case`` for kernel ``name``."""

    def deco(setup):
        CASES[name] = (setup, sizes)
        return setup

    return deco


def _impl(backend, family, name):
    return kernels.implementation(family, name, backend)


def _public(backend, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` as a user calls it on ``backend``."""
    def call():
        with use_backend(backend.name):
            return fn(*args, **kwargs)

    return call


def _arrays(backend, *arrays):
    return [backend.asarray(a) for a in arrays]


@case("multinomial_threshold", small=(10_000, 64), default=(100_000, 256))
def _multinomial(size, backend):
    # explicit u, float32 weights (the NumPy expression: cumsum and a count per row)

    n, c = size
    rng = np.random.default_rng(0)
    w_np, u_np = rng.random((n, c), dtype=np.float32), rng.random(n)
    w, u = _arrays(backend, w_np, u_np)

    def numpy_expression():
        cs = w_np.cumsum(axis=1)
        return (cs <= u_np[:, None] * cs[:, -1:]).sum(axis=1)

    return Case(_public(backend, kernels.multinomial_threshold, w, u),
                lambda: _impl(backend, "multinomial", "multinomial_threshold")(w, u, None, 0),
                numpy_expression)


@case("multinomial_threshold_seed", small=(10_000, 64), default=(100_000, 256))
def _multinomial_seed(size, backend):
    # uniforms drawn in-kernel (Philox); NumPy draws them with Generator.random

    n, c = size
    w_np = np.random.default_rng(0).random((n, c), dtype=np.float32)
    (w,) = _arrays(backend, w_np)
    rng = np.random.default_rng(1)

    def numpy_expression():
        cs = w_np.cumsum(axis=1)
        return (cs <= rng.random(n)[:, None] * cs[:, -1:]).sum(axis=1)

    return Case(_public(backend, kernels.multinomial_threshold, w, seed=1),
                lambda: _impl(backend, "multinomial", "multinomial_threshold")(w, None, 1, 0),
                numpy_expression)


@case("categorical_from_logits", small=(10_000, 64), default=(100_000, 256))
def _logits(size, backend):

    n, c = size
    x_np = np.random.default_rng(0).standard_normal((n, c), dtype=np.float32)
    (x,) = _arrays(backend, x_np)
    rng = np.random.default_rng(1)

    def numpy_expression():
        p = np.exp(x_np - x_np.max(axis=1, keepdims=True)).cumsum(axis=1)
        return (p <= rng.random(n)[:, None] * p[:, -1:]).sum(axis=1)

    return Case(_public(backend, kernels.categorical_from_logits, x, seed=1),
                lambda: _impl(backend, "multinomial", "categorical_from_logits")(
                    x, None, 1, 0, 1.0),
                numpy_expression)


@case("philox_normals", small=(100_000,), default=(4_000_000,))
def _philox(size, backend):

    rng = np.random.default_rng(7)
    return Case(_public(backend, kernels.philox_normals, size, 7, 0, np.float32),
                lambda: _impl(backend, "philox", "philox_normals")(size, 7, 0, np.float32),
                lambda: rng.standard_normal(size, dtype=np.float32))


def _rbm_arrays(size):
    n_visible, n_hidden, batch = size
    rng = np.random.default_rng(0)
    W = (rng.normal(size=(n_visible, n_hidden)) * 0.01).astype(np.float32)
    b = (rng.normal(size=n_visible) * 0.1).astype(np.float32)
    c = (rng.normal(size=n_hidden) * 0.1).astype(np.float32)
    v = (rng.random((batch, n_visible)) < 0.3).astype(np.float32)
    return v, W, b, c


@case("rbm_gibbs", small=(784, 100, 100), default=(784, 500, 1000))
def _rbm_gibbs(size, backend):
    # k = 1 block-Gibbs step, uniforms in-kernel (Philox), no final p(h | v_k)

    v_np, W_np, b_np, c_np = _rbm_arrays(size)
    v, W, b, c = _arrays(backend, v_np, W_np, b_np, c_np)
    rng = np.random.default_rng(1)

    def numpy_expression():
        ph = 1 / (1 + np.exp(-(v_np @ W_np + c_np)))
        h = (rng.random(ph.shape, dtype=np.float32) < ph).astype(np.float32)
        pv = 1 / (1 + np.exp(-(h @ W_np.T + b_np)))
        return (rng.random(pv.shape, dtype=np.float32) < pv).astype(np.float32)

    return Case(_public(backend, kernels.rbm_gibbs, v, W, b, c, 1, seed=1, compute_ph=False),
                lambda: _impl(backend, "gibbs", "rbm_gibbs_philox")(v, W, b, c, 1, 1, 0, False),
                numpy_expression)


@case("bm_gibbs_sweep", small=(16, 100), default=(64, 1000))
def _bm_gibbs_sweep(size, backend):
    # one sequential sweep of a fully connected Boltzmann machine per chain, float64

    n, chains = size
    rng = np.random.default_rng(1)
    J_np = rng.normal(size=(n, n)) * 0.1
    J_np = (J_np + J_np.T) / 2
    np.fill_diagonal(J_np, 0)
    x_np = (rng.random((chains, n)) < 0.5).astype(np.float64)
    x, J, h, order = _arrays(backend, x_np, J_np, np.zeros(n), np.arange(n))

    def numpy_expression():
        s = x_np.copy()
        u = rng.random(s.shape)
        for i in range(n):
            s[:, i] = u[:, i] < 1 / (1 + np.exp(-(s @ J_np[i])))
        return s

    return Case(_public(backend, kernels.bm_gibbs_sweep, x, J, h, seed=1),
                lambda: _impl(backend, "gibbs", "bm_gibbs_sweep_philox")(x, J, h, 1, order, 1, 0),
                numpy_expression)


@case("langevin_step", small=(100_000,), default=(10_000_000,))
def _langevin_step(size, backend):
    # x - step/2 * grad + sqrt(step) * z, z in-kernel (Philox + Box-Muller), check_finite on

    rng = np.random.default_rng(0)
    x_np, g_np = (rng.standard_normal(size, dtype=np.float32) for _ in range(2))
    x, g = _arrays(backend, x_np, g_np)
    out = backend.xp.empty_like(x)
    half, sq = np.float32(0.005), np.float32(0.1)
    return Case(_public(backend, kernels.langevin_step, x, g, 0.01, seed=1, out=out),
                lambda: _impl(backend, "langevin", "langevin_step_philox")(x, g, 0.01, 1, 0, out),
                lambda: x_np - half * g_np + sq * rng.standard_normal(size, dtype=np.float32))


@case("mala_step", small=(10_000, 8), default=(200_000, 16))
def _mala_step(size, backend):
    # the accept test for a Gaussian target (E = |x|^2 / 2), uniforms in-kernel

    n, d = size
    rng = np.random.default_rng(3)
    x_np = rng.standard_normal((n, d))
    y_np = x_np + 0.1 * rng.standard_normal((n, d))
    ex_np, ey_np = (x_np**2).sum(1) / 2, (y_np**2).sum(1) / 2
    x, y, ex, ey = _arrays(backend, x_np, y_np, ex_np, ey_np)
    step = 0.01

    def numpy_expression():
        fwd = y_np - x_np + step / 2 * x_np
        bwd = x_np - y_np + step / 2 * y_np
        la = ex_np - ey_np + ((fwd**2).sum(1) - (bwd**2).sum(1)) / (2 * step)
        acc = np.log(rng.random(n)) < la
        return np.where(acc[:, None], y_np, x_np), acc

    return Case(_public(backend, kernels.mala_step, x, y, x, y, ex, ey, step, seed=2),
                lambda: _impl(backend, "langevin", "mala_step_philox")(
                    x, y, x, y, ex, ey, step, 2, 0),
                numpy_expression)


def _ring8(chains):
    angle = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    means = np.stack([4 * np.cos(angle), 4 * np.sin(angle)], 1).astype(np.float32)
    x = np.random.default_rng(2).normal(size=(chains, 2)).astype(np.float32)
    return x, np.full(8, 1 / 8, np.float32), means, np.full(8, 0.5, np.float32)


@case("langevin_run_gmm", small=(1_000, 10), default=(100_000, 100))
def _langevin_run_gmm(size, backend):
    # n_steps fused ULA steps on the 8-Gaussian ring (radius 4, scale 0.5), 2-D chains

    chains, n_steps = size
    x_np, w_np, mu_np, s_np = _ring8(chains)
    x, w, mu, s = _arrays(backend, x_np, w_np, mu_np, s_np)
    rng = np.random.default_rng(3)

    def numpy_expression():
        y = x_np
        for _ in range(n_steps):
            y = y - 0.005 * gmm_grad(y, w_np, mu_np, s_np) + np.float32(0.1) * (
                rng.standard_normal(y.shape, dtype=np.float32))
        return y

    return Case(_public(backend, kernels.langevin_run_gmm, x, n_steps, 0.01, w, mu, s, seed=1),
                lambda: _impl(backend, "langevin", "langevin_run_gmm_philox")(
                    x, n_steps, 0.01, w, mu, s, 1, 0),
                numpy_expression)


def _coupling_arrays(size, k=4):
    rng = np.random.default_rng(0)
    return [rng.standard_normal(size, dtype=np.float32) for _ in range(k)]


@case("affine_coupling", small=(512, 256), default=(4096, 1024))
def _affine_coupling(size, backend):
    # y = x * exp(s) + t and the per-row log-det sum(s) (float64)

    x2_np, s_np, t_np = _coupling_arrays(size, 3)
    x2, s, t = _arrays(backend, x2_np, s_np, t_np)
    return Case(_public(backend, kernels.affine_coupling, x2, s, t),
                lambda: _impl(backend, "coupling", "affine_coupling")(x2, s, t, False),
                lambda: (x2_np * np.exp(s_np) + t_np, s_np.sum(axis=1, dtype=np.float64)))


@case("affine_coupling_backward", small=(512, 256), default=(4096, 1024))
def _affine_coupling_backward(size, backend):

    x2_np, s_np, t_np, gy_np = _coupling_arrays(size)
    gl_np = np.random.default_rng(1).standard_normal(size[0])
    x2, s, t, gy, gl = _arrays(backend, x2_np, s_np, t_np, gy_np, gl_np)
    gl32 = gl_np.astype(np.float32)[:, None]

    def numpy_expression():
        gx2 = gy_np * np.exp(s_np)
        return gx2, gx2 * x2_np + gl32, gy_np.copy()

    return Case(_public(backend, kernels.affine_coupling_backward, x2, s, t, gy, gl),
                lambda: _impl(backend, "coupling", "affine_coupling_backward")(
                    x2, s, t, gy, gl, False),
                numpy_expression)


def _spline_arrays(size):
    n, d, n_bins = size
    rng = np.random.default_rng(0)
    x = rng.uniform(-3.3, 3.3, (n, d)).astype(np.float32)
    w, h = (rng.standard_normal((n, d, n_bins), dtype=np.float32) for _ in range(2))
    dr = rng.standard_normal((n, d, n_bins - 1), dtype=np.float32)
    gy = rng.standard_normal((n, d), dtype=np.float32)
    return x, w, h, dr, gy, rng.standard_normal(n)


@case("spline_coupling", small=(512, 64, 8), default=(4096, 1024, 8))
def _spline_coupling(size, backend):
    # rational-quadratic spline per element (K bins, tail bound 3) and the row log-dets

    arrays = _spline_arrays(size)[:4]
    x, w, h, dr = _arrays(backend, *arrays)
    # no one-line NumPy expression exists: the vectorized NumPy reference stands in for it
    return Case(_public(backend, kernels.spline_coupling, x, w, h, dr, False, 3.0),
                lambda: _impl(backend, "spline", "spline_coupling")(x, w, h, dr, False, 3.0),
                lambda: reference_spline.spline_coupling(*arrays, False, 3.0))


@case("spline_coupling_backward", small=(512, 64, 8), default=(4096, 1024, 8))
def _spline_coupling_backward(size, backend):

    arrays = _spline_arrays(size)
    x, w, h, dr, gy, gl = _arrays(backend, *arrays)
    return Case(_public(backend, kernels.spline_coupling_backward, x, w, h, dr, gy, gl, False, 3.0),
                lambda: _impl(backend, "spline", "spline_coupling_backward")(
                    x, w, h, dr, gy, gl, False, 3.0),
                lambda: reference_spline.spline_coupling_backward(*arrays, False, 3.0))


@case("additive_coupling", small=(512, 256), default=(4096, 1024))
def _additive_coupling(size, backend):

    x2_np, t_np = _coupling_arrays(size, 2)
    x2, t = _arrays(backend, x2_np, t_np)
    return Case(_public(backend, kernels.additive_coupling, x2, t),
                lambda: _impl(backend, "coupling", "additive_coupling")(x2, t, False),
                lambda: x2_np + t_np)


@case("actnorm", small=(16, 8, 16, 16), default=(256, 16, 32, 32))
def _actnorm(size, backend):

    x_np = _coupling_arrays(size, 1)[0]
    rng = np.random.default_rng(1)
    loc_np, ls_np = (rng.standard_normal(size[1]).astype(np.float32) for _ in range(2))
    x, loc, ls = _arrays(backend, x_np, loc_np, ls_np)
    n, c = size[:2]
    shape = (1, c) + (1,) * (len(size) - 2)

    def numpy_expression():
        y = (x_np + loc_np.reshape(shape)) * np.exp(ls_np).reshape(shape)
        return y, np.full(n, np.prod(size[2:]) * ls_np.sum(dtype=np.float64))

    return Case(_public(backend, kernels.actnorm, x, loc, ls),
                lambda: _impl(backend, "coupling", "actnorm")(
                    x.reshape(n, c, -1), loc, ls, False),
                numpy_expression)


def time_round_robin(calls: dict, repeat: int, sync=lambda: None, block: int = 3,
                     stat=statistics.median) -> dict:
    """``stat`` (default: the median) of the seconds of ``repeat`` timed runs of each
    zero-argument call, in alternation.

    The calls are visited in turn (a machine that slows down mid-run slows every row
    alike); each visit makes one untimed call, then up to ``block`` timed ones: the first
    call after another library's runs pays for that library's idle threads still spinning
    on the cores (OpenMP, OpenBLAS), which is not the cost of either. The order changes
    from round to round (rotated every other round, reversed every other one), so that
    no row always comes right after the same one: on a VM the first calls after other
    work (or idling) run slow for more than one call (a kernel 1.5x slower after a 7.5 ms
    sleep, back to speed after ~6 calls); a fixed order charged that to whichever row
    followed the slowest one."""
    times = {k: [] for k in calls}
    keys = list(calls)
    rounds = 0
    while any(len(v) < repeat for v in times.values()):
        start = (rounds // 2) % len(keys)
        order = keys[start:] + keys[:start]
        rounds += 1
        for k in order if rounds % 2 else order[::-1]:
            fn = calls[k]
            fn()
            sync()
            for _ in range(min(block, repeat - len(times[k]))):
                t0 = time.perf_counter()
                fn()
                sync()
                times[k].append(time.perf_counter() - t0)
    return {k: stat(v) for k, v in times.items()}


def _rows_of(name, size, backends, repeat, numpy_expression):
    calls, kernels, notes = {}, {}, []
    base = None
    for bname in backends:
        backend = probe(bname)
        if not backend.available:
            notes.append((f"public {bname}", "unavailable", "-", "-"))
            continue
        c = CASES[name][0](size, backend)
        calls[f"public {bname}"] = c.public
        if bname != "numpy" and c.kernel is not None:
            kernels[bname] = c.kernel
            calls[f"kernel {bname}"] = c.kernel
        base = c
    if numpy_expression and base is not None and base.numpy_expression is not None:
        calls = {"NumPy expression": base.numpy_expression, **calls}
    sync = _synchronizer(backends)
    med = time_round_robin(calls, repeat, sync) if calls else {}
    ref = med.get("NumPy expression")
    rows = []
    for label, t in med.items():
        ratio = f"{ref / t:.1f}x" if ref else "-"
        tail = "-"
        if label.startswith("public ") and label.split()[1] in kernels:
            tail = f"{t / med['kernel ' + label.split()[1]]:.2f}"
        rows.append((name, "x".join(map(str, size)), label, f"{t * 1e3:.2f} ms", ratio, tail))
    return rows + [(name, "x".join(map(str, size)), *n) for n in notes]


def _synchronizer(backends):
    if "cupy" not in backends:
        return lambda: None
    backend = probe("cupy")
    return backend.synchronize if backend.available else (lambda: None)


def run(args) -> int:
    """Run the benchmarks selected by ``args`` (see :func:`build_parser`) and print a table."""
    names = args.kernels or list(CASES)
    unknown = [k for k in names if k not in CASES]
    if unknown:
        raise SystemExit(f"unknown kernel(s) {unknown}; choose from {sorted(CASES)}")
    rows = []
    for name in names:
        size = CASES[name][1][args.size]
        rows += _rows_of(name, size, args.backends, args.repeat, not args.no_numpy_expression)
    header = ("kernel", "size", "timing", "median", "vs NumPy expr", "public/kernel")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    for r in [header, tuple("-" * w for w in widths)] + rows:
        print("  ".join(x.ljust(w) for x, w in zip(r, widths, strict=True)).rstrip())
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="minigen bench", description=__doc__.split("\n\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("kernels", nargs="*", help=f"kernels to time (default all: {', '.join(CASES)})")
    p.add_argument("--size", choices=list(SIZES), default="default",
                   help="problem size of every kernel")
    # >= 1: a median needs at least one timing
    p.add_argument("--repeat", type=positive_int, default=5,
                   help="timed runs of each row (median), in alternation")
    p.add_argument("--backends", nargs="+", default=["numpy", "numba", "cupy"],
                   choices=["numpy", "numba", "cupy"], help="backends to time")
    p.add_argument("--no-numpy-expression", action="store_true",
                   help="skip the NumPy expression rows (the ratio column shows '-')")
    return p


def main(argv=None) -> int:
    """Entry point of ``minigen bench``."""
    return run(build_parser().parse_args(argv))
