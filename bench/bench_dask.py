"""Scaling out on one machine: a 2-worker Dask LocalCluster against the serial run.

Times, in one process and in alternation (serial, cluster, serial, cluster, ...):

* AIS with 200 chains on a 784x500 Bernoulli RBM (one epoch of PCD on 5,000 binarized
  Fashion-MNIST images when the Debian package's files are there, else random weights),
  blocks of 25 chains;
* a 5-fold ``cross_validate`` of MADE on the digits: the library's defaults (``MADE()``:
  two hidden layers of 256, 10 epochs), and trained 5x longer (50 epochs).

Five folds on two workers cannot beat 5/3 = 1.67x (one worker trains three folds); 8 AIS
blocks on two, 2x. The table prints that ceiling beside each speed-up.

Both sides run single-threaded kernels and BLAS (the serial process is pinned to one
thread with threadpoolctl and numba.set_num_threads; the workers by minigen.parallel's
environment), so the ratio measures the workers, not thread oversubscription. The results
are checked bit-identical. Run: ``python bench/bench_dask.py [--repeats 3] [--betas 2000]``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np


def _pin_serial_threads():
    from threadpoolctl import threadpool_limits

    try:
        import numba

        numba.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
    return threadpool_limits(1)


def _rbm():
    from minigen.datasets import load_dataset
    from minigen.models import BernoulliRBM

    rbm = BernoulliRBM(n_components=500, max_epochs=1, batch_size=100, random_state=0,
                       verbose=False)
    try:
        X = load_dataset("fashion-mnist", "train", binarize=0.5)[:5000].reshape(5000, -1)
        return rbm.fit(X), "PCD, 1 epoch on 5,000 binarized Fashion-MNIST images"
    except FileNotFoundError:
        rng = np.random.default_rng(0)
        rbm.fit((rng.random((200, 784)) < 0.2).astype(float))
        return rbm, "random data (Fashion-MNIST not installed)"


def main(argv=None) -> None:
    from minigen.datasets import load_dataset
    from minigen.models import MADE
    from minigen.models.ebm.ais import ais_log_partition
    from minigen.parallel import local_cluster
    from minigen.training import cross_validate

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--betas", type=int, default=2000)
    ap.add_argument("--only", help="run the jobs whose name contains this string")
    args = ap.parse_args(argv)

    ais_name = "AIS, 200 chains, 784x500 RBM"
    rbm, how = (None, "not run") if args.only and args.only not in ais_name else _rbm()
    X = load_dataset("digits", "train")
    made, made50 = MADE(verbose=False), MADE(max_epochs=50, verbose=False)
    jobs = {  # name: (job, ceiling on 2 workers)
        ais_name: (lambda ex: ais_log_partition(
            rbm, n_chains=200, n_betas=args.betas, random_state=0, executor=ex,
            block_size=25, verbose=False).log_z, 8 / 4),
        "cross_validate, MADE() defaults, 5 folds, digits": (lambda ex: cross_validate(
            made, X, k=5, random_state=0, executor=ex)["fold_nll"], 5 / 3),
        "cross_validate, MADE(max_epochs=50), 5 folds, digits": (lambda ex: cross_validate(
            made50, X, k=5, random_state=0, executor=ex)["fold_nll"], 5 / 3),
    }
    client, ex = local_cluster(2)
    try:
        for name, (job, ceiling) in jobs.items():
            if args.only and args.only not in name:
                continue
            job(ex)  # warm the workers (imports, Numba caches)
            times = {"serial": [], "2 workers": []}
            results = {}
            for _ in range(args.repeats):
                with _pin_serial_threads():
                    t0 = time.perf_counter()
                    results["serial"] = job(None)
                    times["serial"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                results["2 workers"] = job(ex)
                times["2 workers"].append(time.perf_counter() - t0)
            s, p = (statistics.median(times[k]) for k in ("serial", "2 workers"))
            same = results["serial"] == results["2 workers"]
            print(f"{name}: serial {s:.2f} s, 2 workers {p:.2f} s, speed-up {s / p:.2f}x "
                  f"(ceiling {ceiling:.2f}x; medians of {args.repeats}, alternating; "
                  f"bit-identical: {same})", flush=True)
    finally:
        client.close()
    print(f"RBM: {how}. {platform.processor() or platform.machine()}, "
          f"{time.strftime('%Y-%m-%d')}")


if __name__ == "__main__":
    main()
