"""The kernel figures of the README: public functions beside their kernel, NumPy and peers.

Run: ``python bench/kernels_table.py [--repeat 9] [--threads 2] [--cases ...]``

For each kernel, in one process and in alternation (each row in turn, one untimed call
then 3 timed ones: ``minigen.bench_cli.time_round_robin``), medians of ``--repeat`` runs
of: the public function as users call
it (``minigen.kernels.<name>`` on the ``numba`` backend, validation included), the kernel
alone (the wrapper's cost: public / kernel is timed a second time with those rows in
alternation with each other only, since on this VM whichever row follows another
library's runs slower for a few calls), the NumPy expression a user would write, the named peer
(torch CPU with ``--threads`` threads, scikit-learn ``BernoulliRBM.gibbs``) and a floor
where the issue names one (``weights.sum()``, the two matrix products, a copy of the same
bytes). float32 unless noted. Prints one table with the ratios the kernels issue asks
for, of the medians and, beside them, of the minima (on a machine shared with other
processes, the run each row was least disturbed in); nothing here is imported by the
library.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np


def _torch(threads):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def _sklearn_rbm(W, b, c):
    try:
        from sklearn.neural_network import BernoulliRBM
    except ImportError:
        return None
    m = BernoulliRBM(n_components=W.shape[1])
    m.components_, m.intercept_hidden_, m.intercept_visible_ = W.T.copy(), c, b
    m.random_state_ = np.random.RandomState(0)
    return m


def _cases(torch):
    """``{name: (setup() -> {row: call}, ratios)}``; ``ratios`` = [(label, a, b, target)]
    printed as ``time(a) / time(b)`` (``target``: the issue's bound, for reference)."""
    from minigen import bench_cli
    from minigen.backend import probe

    numba = probe("numba")

    def base(name, size):
        c = bench_cli.CASES[name][0](size, numba)
        return {"public": c.public, "kernel": c.kernel, "NumPy expression": c.numpy_expression}

    def multinomial():
        rows = base("multinomial_threshold", (100_000, 256))
        rows["public seed="] = base("multinomial_threshold_seed", (100_000, 256))["public"]
        w = np.random.default_rng(0).random((100_000, 256), dtype=np.float32)
        from minigen.kernels.reference.multinomial import multinomial_threshold as ref

        u = np.random.default_rng(0).random(100_000)
        rows["NumPy reference"] = lambda: ref(w, u)
        rows["weights.sum()"] = w.sum
        if torch is not None:
            p = torch.from_numpy(w)
            rows["torch.multinomial"] = lambda: torch.multinomial(p, 1)
        return rows

    def logits():
        rows = base("categorical_from_logits", (100_000, 256))
        if torch is not None:
            x = torch.from_numpy(np.random.default_rng(0).standard_normal(
                (100_000, 256), dtype=np.float32))
            rows["torch softmax+multinomial"] = lambda: torch.multinomial(
                torch.softmax(x, dim=1), 1)
        return rows

    def langevin():
        rows = base("langevin_step", (10_000_000,))
        if torch is not None:
            rng = np.random.default_rng(0)
            x, g = (torch.from_numpy(rng.standard_normal(10_000_000, dtype=np.float32))
                    for _ in range(2))
            rows["torch randn"] = lambda: x - 0.005 * g + 0.1 * torch.randn_like(x)
        return rows

    def affine(name):
        def setup():
            rows = base(name, (4096, 1024))
            rng = np.random.default_rng(0)
            a = [rng.standard_normal((4096, 1024), dtype=np.float32) for _ in range(4)]
            rows["copy (memory floor)"] = a[0].copy
            if torch is not None:
                x2, s, t, gy = (torch.from_numpy(v) for v in a)
                gl = torch.from_numpy(rng.standard_normal(4096).astype(np.float32))
                if name == "affine_coupling":
                    rows["torch"] = lambda: (x2 * torch.exp(s) + t, s.sum(1, dtype=torch.float64))
                else:
                    def bwd():
                        gx2 = gy * torch.exp(s)
                        return gx2, gx2 * x2 + gl[:, None], gy.clone()
                    rows["torch"] = bwd
            return rows
        return setup

    def rbm():
        rows = base("rbm_gibbs", (784, 500, 1000))
        v, W, b, c = bench_cli._rbm_arrays((784, 500, 1000))
        h = (np.random.default_rng(2).random((1000, 500)) < 0.5).astype(np.float32)
        rows["two matrix products"] = lambda: (v @ W, h @ W.T)
        m = _sklearn_rbm(W, b, c)
        if m is not None:
            rows["sklearn BernoulliRBM.gibbs"] = lambda: m.gibbs(v)
        if torch is not None:
            tv, tW, tb, tc = (torch.from_numpy(a) for a in (v, W, b, c))

            def step():
                ph = torch.sigmoid(tv @ tW + tc)
                hh = (torch.rand_like(ph) < ph).float()
                pv = torch.sigmoid(hh @ tW.T + tb)
                return (torch.rand_like(pv) < pv).float()
            rows["torch"] = step
        return rows

    def simple(name, size):
        return lambda: base(name, size)

    return {
        "multinomial_threshold 100,000 x 256 (explicit u; seed=)": (multinomial, [
            ("public / kernel", "public", "kernel", "<= 1.15"),
            ("public seed= / kernel", "public seed=", "kernel", "<= 1.15"),
            ("NumPy reference / public", "NumPy reference", "public", ">= 8"),
            ("NumPy reference / public seed=", "NumPy reference", "public seed=", ">= 8"),
            ("NumPy expression / public", "NumPy expression", "public", "-"),
            ("torch.multinomial / public", "torch.multinomial", "public", ">= 30"),
            ("torch.multinomial / public seed=", "torch.multinomial", "public seed=", ">= 30"),
            ("public / weights.sum()", "public", "weights.sum()", "<= 2"),
            ("public seed= / weights.sum()", "public seed=", "weights.sum()", "<= 2")]),
        "categorical_from_logits 100,000 x 256 (seed=)": (logits, [
            ("public / kernel", "public", "kernel", "<= 1.15"),
            ("NumPy expression / public", "NumPy expression", "public", "-"),
            ("torch softmax+multinomial / public", "torch softmax+multinomial", "public",
             ">= 10")]),
        "langevin_step 10^7 (seed=, check_finite=True)": (langevin, [
            ("public / kernel", "public", "kernel", "<= 1.15"),
            ("NumPy expression / public", "NumPy expression", "public", ">= 3"),
            ("torch randn / public", "torch randn", "public", ">= 2")]),
        "affine_coupling 4096 x 1024": (affine("affine_coupling"), [
            ("public / kernel", "public", "kernel", "<= 1.15"),
            ("NumPy expression / public", "NumPy expression", "public", ">= 1.5"),
            ("torch / public", "torch", "public", ">= 1.2"),
            ("public / copy", "public", "copy (memory floor)", "-")]),
        "affine_coupling_backward 4096 x 1024": (affine("affine_coupling_backward"), [
            ("public / kernel", "public", "kernel", "<= 1.15"),
            ("NumPy expression / public", "NumPy expression", "public", "-"),
            ("torch / public", "torch", "public", ">= 2")]),
        "rbm_gibbs k=1 784 x 500, B = 1000 (seed=)": (rbm, [
            ("public / kernel", "public", "kernel", "<= 1.15"),
            ("public / two matrix products", "public", "two matrix products", "<= 1.6"),
            ("sklearn / public", "sklearn BernoulliRBM.gibbs", "public", ">= 2"),
            ("torch / public", "torch", "public", "-"),
            ("NumPy expression / public", "NumPy expression", "public", "-")]),
        "bm_gibbs_sweep 64 units, 1000 chains, float64": (
            simple("bm_gibbs_sweep", (64, 1000)),
            [("public / kernel", "public", "kernel", "<= 1.15"),
             ("NumPy expression / public", "NumPy expression", "public", "-")]),
        "mala_step 200,000 x 16, float64": (simple("mala_step", (200_000, 16)), [
            ("public / kernel", "public", "kernel", "<= 1.15"),
            ("NumPy expression / public", "NumPy expression", "public", "-")]),
        "langevin_run_gmm 100 steps, 10^5 chains": (
            simple("langevin_run_gmm", (100_000, 100)),
            [("public / kernel", "public", "kernel", "<= 1.15"),
             ("NumPy expression / public", "NumPy expression", "public", "-")]),
        "additive_coupling 4096 x 1024": (simple("additive_coupling", (4096, 1024)), [
            ("public / kernel", "public", "kernel", "<= 1.15"),
            ("NumPy expression / public", "NumPy expression", "public", "-")]),
        "actnorm 256 x 16 x 32 x 32": (simple("actnorm", (256, 16, 32, 32)), [
            ("public / kernel", "public", "kernel", "<= 1.15"),
            ("NumPy expression / public", "NumPy expression", "public", "-")]),
        "philox_normals 4,000,000": (simple("philox_normals", (4_000_000,)), [
            ("public / kernel", "public", "kernel", "<= 1.15"),
            ("NumPy expression / public", "NumPy expression", "public", "-")]),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=9)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cases", nargs="*", help="substrings of the case names to run")
    args = p.parse_args(argv)
    from minigen import bench_cli

    torch = _torch(args.threads)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d %H:%M')}, "
          f"python {sys.version.split()[0]}, numpy {np.__version__}"
          + (f", torch {torch.__version__} ({args.threads} threads)" if torch else "")
          + f"; medians (and minima) of {args.repeat}, rows in alternation; ratios: "
          "median, min")
    for name, (setup, ratios) in _cases(torch).items():
        if args.cases and not any(c in name for c in args.cases):
            continue
        rows = {k: v for k, v in setup().items() if v is not None}
        stat = lambda v: (statistics.median(v), min(v))  # noqa: E731
        both = bench_cli.time_round_robin(rows, args.repeat, stat=stat)
        # the wrapper's cost: the public function(s) and the kernel in alternation with
        # each other only (after another library's row, the first calls run slower on
        # this VM whichever row comes next; that is not the wrapper's cost)
        own = {k: f for k, f in rows.items() if k == "kernel" or k.startswith("public")}
        pair = bench_cli.time_round_robin(own, args.repeat, stat=stat) if len(own) > 1 else {}
        med = {k: v[0] for k, v in both.items()}
        low = {k: v[1] for k, v in both.items()}
        print(f"\n## {name}   (load {os.getloadavg()[0]:.1f} after it)")
        print(f"  {'':<34} {'median':>10}    {'min':>10}")
        for k in med:
            print(f"  {k:<34} {med[k] * 1e3:10.2f} ms {low[k] * 1e3:10.2f} ms")
        for k, (m, lo) in pair.items():
            print(f"  {k + ' (beside each other)':<34} {m * 1e3:10.2f} ms {lo * 1e3:10.2f} ms")
        for label, a, b, target in ratios:
            t = pair if b == "kernel" and pair else both
            if a in t and b in t:
                print(f"  {label:<44} {t[a][0] / t[b][0]:7.2f} {t[a][1] / t[b][1]:7.2f}   "
                      f"target {target}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
