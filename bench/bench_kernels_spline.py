"""Rational-quadratic spline kernel (Neural Spline Flows): forward + log-det and the fused
backward, 4096 x 1024 elements, K = 8 bins, float32 and float64.

Rows (each group side by side in one process, so quote ratios):

* ``public numba``: ``minigen.kernels.spline_coupling`` / ``spline_coupling_backward`` on
  the ``numba`` backend, the way users and models call them (validation included);
* ``numpy``: the same transform as a plain vectorized NumPy expression a user would write
  (softmax/softplus, cumsum knots, a batched searchsorted by comparison, gathers, formula);
* ``numba kernel``: the backend function behind it (an extra row: the wrapper's cost);
* ``reference``: minigen's NumPy reference (the specification, explicit value checks);
* ``torch autograd``: the same formula in torch (CPU, ``N_THREADS`` threads); for the
  backward only ``.backward()`` is timed, the graph is recorded outside the timing
  (our backward recomputes its forward inside), and ``torch fwd+bwd`` is a second row.

Run: ``python -m pytest bench/bench_kernels_spline.py --benchmark-enable -q`` or, for the
ratio table of the issue's acceptance, ``python bench/bench_kernels_spline.py``.
Acceptance (issue 22): forward >= 3x the NumPy expression; backward >= 2x torch autograd.
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np
import pytest

N, D, N_BINS, B = 4096, 1024, 8, 3.0
N_THREADS = 2
DTYPES = {"float32": np.float32, "float64": np.float64}


def _data(dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.1 * B, 1.1 * B, (N, D)).astype(dtype)
    w, h = (rng.standard_normal((N, D, N_BINS)).astype(dtype) for _ in range(2))
    d = rng.standard_normal((N, D, N_BINS - 1)).astype(dtype)
    return x, w, h, d, rng.standard_normal((N, D)).astype(dtype), rng.standard_normal(N)


def numpy_spline(x, widths, heights, derivatives, bound=B, min_size=1e-3):
    """The forward a user writes in NumPy, vectorized over all elements."""
    n_bins = widths.shape[-1]

    def knots(raw):
        e = np.exp(raw - raw.max(-1, keepdims=True))
        w = min_size + (1 - min_size * n_bins) * e / e.sum(-1, keepdims=True)
        c = 2 * bound * np.cumsum(w, -1) - bound
        return np.concatenate([np.full_like(c[..., :1], -bound), c[..., :-1],
                               np.full_like(c[..., :1], bound)], -1)

    X, Y = knots(widths), knots(heights)
    ones = np.ones_like(derivatives[..., :1])
    dd = np.concatenate([ones, min_size + np.logaddexp(0, derivatives), ones], -1)
    v = np.clip(x, -bound, bound)
    k = (X[..., 1:-1] <= v[..., None]).sum(-1, keepdims=True)

    def pick(a, o=0):
        return np.take_along_axis(a, k + o, -1)[..., 0]

    x0, y0, d0, d1 = pick(X), pick(Y), pick(dd), pick(dd, 1)
    dx, dy = pick(X, 1) - x0, pick(Y, 1) - y0
    s = dy / dx
    t = (v - x0) / dx
    u = t * (1 - t)
    den = s + (d0 + d1 - 2 * s) * u
    y = y0 + dy * (s * t * t + d0 * u) / den
    ld = np.log(s * s * (d1 * t * t + 2 * s * u + d0 * (1 - t) ** 2)) - 2 * np.log(den)
    inside = np.abs(x) <= bound
    return np.where(inside, y, x), np.where(inside, ld, 0).sum(1, dtype=np.float64)


def torch_spline(torch, x, widths, heights, derivatives, bound=B, min_size=1e-3):
    """The same formula in torch (differentiable in x and the three parameter sets)."""
    import torch.nn.functional as tF

    n_bins = widths.shape[-1]

    def knots(raw):
        c = 2 * bound * torch.cumsum(min_size + (1 - min_size * n_bins)
                                     * torch.softmax(raw, -1), -1) - bound
        return torch.cat([torch.full_like(c[..., :1], -bound), c[..., :-1],
                          torch.full_like(c[..., :1], bound)], -1)

    X, Y = knots(widths), knots(heights)
    ones = torch.ones_like(derivatives[..., :1])
    dd = torch.cat([ones, min_size + tF.softplus(derivatives), ones], -1)
    v = x.clamp(-bound, bound)
    k = (X[..., 1:-1] <= v[..., None]).sum(-1, keepdim=True)

    def pick(a, o=0):
        return a.gather(-1, k + o)[..., 0]

    x0, y0, d0, d1 = pick(X), pick(Y), pick(dd), pick(dd, 1)
    dx, dy = pick(X, 1) - x0, pick(Y, 1) - y0
    s = dy / dx
    t = (v - x0) / dx
    u = t * (1 - t)
    den = s + (d0 + d1 - 2 * s) * u
    y = y0 + dy * (s * t * t + d0 * u) / den
    ld = torch.log(s * s * (d1 * t * t + 2 * s * u + d0 * (1 - t) ** 2)) - 2 * torch.log(den)
    inside = x.abs() <= bound
    return torch.where(inside, y, x), torch.where(inside, ld, 0).sum(1, dtype=torch.float64)


def _numba(fn):
    import minigen

    def run(*args):
        with minigen.use_backend("numba"):
            return fn(*args)

    return run


def _torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(N_THREADS)
    return torch


def cases(dtype_name: str) -> dict:
    """``{(group, row): (setup, run)}``: ``setup()`` returns the arguments (untimed),
    ``run(*args)`` is timed."""
    from minigen.kernels import spline_coupling, spline_coupling_backward
    from minigen.kernels.reference.spline import spline_coupling as reference

    x, w, h, d, gy, gl = _data(DTYPES[dtype_name])
    fwd, bwd = f"fwd {dtype_name}", f"bwd {dtype_name}"
    from minigen.kernels.cpu import spline as cpu

    out = {
        (fwd, "public numba"): (lambda: (x, w, h, d), _numba(spline_coupling)),
        (fwd, "numba kernel"): (lambda: (x, w, h, d), cpu.spline_coupling),
        (fwd, "numpy"): (lambda: (x, w, h, d), numpy_spline),
        (fwd, "reference"): (lambda: (x, w, h, d), reference),
        (bwd, "public numba"): (lambda: (x, w, h, d, gy, gl), _numba(spline_coupling_backward)),
        (bwd, "numba kernel"): (lambda: (x, w, h, d, gy, gl), cpu.spline_coupling_backward),
    }
    torch = _torch()
    if torch is not None:
        tx, tw, th, td = (torch.from_numpy(a) for a in (x, w, h, d))
        tgy, tgl = torch.from_numpy(gy), torch.from_numpy(gl)

        def graph():
            leaves = [a.detach().requires_grad_(True) for a in (tx, tw, th, td)]
            return torch_spline(torch, *leaves)

        def forward_no_grad():
            with torch.no_grad():
                return torch_spline(torch, tx, tw, th, td)

        def fwd_bwd():
            torch.autograd.backward(graph(), [tgy, tgl])

        out[(fwd, "torch")] = (lambda: (), forward_no_grad)
        out[(bwd, "torch autograd")] = (
            lambda: graph(), lambda y, ld: torch.autograd.backward([y, ld], [tgy, tgl]))
        out[(bwd, "torch fwd+bwd")] = (lambda: (), fwd_bwd)
    return out


# ----------------------------------------------------------------- pytest-benchmark rows

ROWS = [(dt, key) for dt in DTYPES for key in ("fwd public numba", "fwd numba kernel",
                                               "fwd numpy", "fwd reference", "fwd torch",
                                               "bwd public numba", "bwd numba kernel",
                                               "bwd torch autograd", "bwd torch fwd+bwd")]


@pytest.mark.parametrize("dtype_name,key", ROWS, ids=[f"{d}-{k}" for d, k in ROWS])
def test_spline(benchmark, dtype_name, key):
    direction, row = key.split(" ", 1)
    table = cases(dtype_name)
    group = f"{direction} {dtype_name}"
    if (group, row) not in table:
        pytest.skip("torch not installed")
    setup, run = table[(group, row)]
    benchmark.group = f"spline {group} {N}x{D} K={N_BINS}"
    run(*setup())  # compile / load Numba's cache outside the timing
    benchmark.pedantic(run, setup=lambda: (setup(), {}), rounds=3, iterations=1)


# ---------------------------------------------------------------------- ratio table script


def _median_time(setup, run, rounds):
    run(*setup())
    times = []
    for _ in range(rounds):
        args = setup()
        t0 = time.perf_counter()
        run(*args)
        times.append(time.perf_counter() - t0)
        del args
    return statistics.median(times)


def main(rounds: int = 3) -> None:
    print(f"spline kernel {N}x{D}, K={N_BINS}, medians of {rounds}, torch threads {N_THREADS}")
    for dtype_name in DTYPES:
        table = cases(dtype_name)
        times = {key: _median_time(*fns, rounds) for key, fns in table.items()}
        for (group, row), t in times.items():
            print(f"  {group:12s} {row:16s} {t * 1e3:9.1f} ms")
        fwd, bwd = f"fwd {dtype_name}", f"bwd {dtype_name}"
        ours_f, ours_b = times[(fwd, "public numba")], times[(bwd, "public numba")]
        print(f"  {dtype_name}: public / kernel time: forward "
              f"{ours_f / times[(fwd, 'numba kernel')]:.2f}, backward "
              f"{ours_b / times[(bwd, 'numba kernel')]:.2f}")
        print(f"  {dtype_name}: forward {times[(fwd, 'numpy')] / ours_f:.1f}x the NumPy "
              f"expression (target >= 3x), {times[(fwd, 'reference')] / ours_f:.1f}x the "
              f"reference", end="")
        if (bwd, "torch autograd") in times:
            print(f"; backward {times[(bwd, 'torch autograd')] / ours_b:.1f}x torch autograd's "
                  f".backward() (target >= 2x), {times[(bwd, 'torch fwd+bwd')] / ours_b:.1f}x "
                  f"its forward+backward; forward {times[(fwd, 'torch')] / ours_f:.1f}x torch")
        else:
            print(" (torch not installed)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
