"""PCD-1 training epoch of a 784 x 500 Bernoulli RBM (batch 100): minigen vs scikit-learn.

One process, one BLAS / Numba thread, the sides run round-robin (one epoch each per round)
so that a shared machine's load hits them alike; medians over the rounds and ratios.

* ``minigen float64`` / ``minigen float32``: ``BernoulliRBM(n_components=500, method="pcd",
  k=1, batch_size=100, learning_rate=0.05, momentum=0.0, dtype=...)``, ``fit(X,
  max_epochs=1)``, the epoch as the training loop times it (``history_.epoch_time``).
* ``minigen <label>`` (``--baseline DIR``): the same on another checkout's package
  (``DIR/minigen``, imported under another name), e.g. the commit before a change.
* ``sklearn``: ``sklearn.neural_network.BernoulliRBM`` on float32 data, its per-batch
  ``_fit(batch, rng)`` over its own even slices (what its ``fit`` loop does).
* ``floor``: the five float32 products of a PCD-1 step alone, NumPy (data hiddens, chain
  visibles, chain hiddens, the two gradient products), with no element-wise work.

Data: binarized Fashion-MNIST (pixel > 127), the first ``--n`` training images, or random
binary rows when the IDX files are missing.

    python bench/rbm_pcd_epoch.py [--n 10000] [--rounds 5] [--baseline DIR --label main]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
             "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

V, H, B, LR = 784, 500, 100, 0.05


def load_data(n):
    try:
        from minigen.datasets import load_dataset

        X = load_dataset("fashion-mnist", "train", binarize=0.5)
        return np.asarray(X, np.float64).reshape(len(X), -1)[:n], "fashion-mnist binarized"
    except Exception as exc:  # noqa: BLE001 - the files are optional
        print(f"(fashion-mnist not loaded: {exc}; random binary rows)")
        return (np.random.default_rng(0).random((n, V)) < 0.3).astype(np.float64), "random"


def import_package(path: Path, name: str):
    """``path/minigen`` imported as the package ``name`` (its imports are relative)."""
    spec = importlib.util.spec_from_file_location(
        name, path / "minigen" / "__init__.py", submodule_search_locations=[str(path / "minigen")])
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def minigen_side(pkg, X, **kw):
    from importlib import import_module

    cls = import_module(pkg.__name__ + ".models").BernoulliRBM
    seeds = iter(range(1_000_000))

    def epoch():
        m = cls(n_components=H, method="pcd", k=1, batch_size=B, learning_rate=LR,
                momentum=0.0, max_epochs=1, verbose=False, random_state=next(seeds), **kw)
        m.fit(X)
        return m.history_.epoch_time[0]

    return epoch


def sklearn_side(X):
    from sklearn.neural_network import BernoulliRBM
    from sklearn.utils import gen_even_slices

    X = np.ascontiguousarray(X, dtype=np.float32)
    rbm = BernoulliRBM(n_components=H, learning_rate=LR, batch_size=B, n_iter=1,
                       random_state=0)
    rng = np.random.RandomState(0)
    # what BernoulliRBM.fit does before its epoch loop
    rbm.components_ = np.asarray(rng.normal(0, 0.01, (H, V)), order="F", dtype=X.dtype)
    rbm.intercept_hidden_ = np.zeros(H, dtype=X.dtype)
    rbm.intercept_visible_ = np.zeros(V, dtype=X.dtype)
    rbm.h_samples_ = np.zeros((B, H), dtype=X.dtype)
    n_batches = int(np.ceil(len(X) / B))
    slices = list(gen_even_slices(n_batches * B, n_batches, n_samples=len(X)))

    def epoch():
        t0 = time.perf_counter()
        for sl in slices:
            rbm._fit(X[sl], rng)
        return time.perf_counter() - t0

    return epoch


def floor_side(X):
    rng = np.random.default_rng(0)
    X = np.ascontiguousarray(X, dtype=np.float32)
    W = rng.normal(0, 0.01, (V, H)).astype(np.float32)
    h = (rng.random((B, H)) < 0.5).astype(np.float32)
    p = rng.random((B, H)).astype(np.float32)

    def epoch():
        t0 = time.perf_counter()
        for s in range(0, len(X), B):
            v0 = X[s:s + B]
            a0 = v0 @ W
            vk = h @ W.T
            ak = vk @ W
            v0.T @ a0
            vk.T @ p
        del ak
        return time.perf_counter() - t0

    return epoch


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="training rows")
    ap.add_argument("--rounds", type=int, default=5, help="epochs per side (median)")
    ap.add_argument("--baseline", type=Path, help="another checkout to time as well")
    ap.add_argument("--label", default="baseline", help="name of --baseline in the table")
    args = ap.parse_args(argv)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    import minigen

    X, what = load_data(args.n)
    sides = {}
    if args.baseline is not None:
        sides[f"minigen {args.label} (float64)"] = minigen_side(
            import_package(args.baseline.resolve(), "minigen_baseline"), X)
    sides["minigen float64"] = minigen_side(minigen, X, dtype="float64")
    sides["minigen float32"] = minigen_side(minigen, X, dtype="float32")
    try:
        sides["sklearn float32"] = sklearn_side(X)
    except ImportError:
        print("(scikit-learn not installed)")
    sides["floor: 5 float32 products"] = floor_side(X)
    for f in sides.values():  # compile, warm caches
        f()
    times = {k: [] for k in sides}
    for _ in range(args.rounds):
        for k, f in sides.items():
            times[k].append(f())
    print(f"PCD-1 epoch, {len(X)} rows ({what}), {V} x {H}, batch {B}, 1 thread, "
          f"{args.rounds} rounds, load average {os.getloadavg()[0]:.2f}")
    ref = float(np.median(times.get("sklearn float32", times["minigen float64"])))
    print(f"{'side':38s} {'median s':>9s} {'min s':>7s} {'vs sklearn':>10s}")
    for k, ts in times.items():
        med = float(np.median(ts))
        print(f"{k:38s} {med:9.3f} {min(ts):7.3f} {med / ref:9.2f}x")
    return times


if __name__ == "__main__":
    main()
