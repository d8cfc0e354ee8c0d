"""Model-level effect of a kernel change: two checkouts timed in alternation, one machine.

Run: ``python bench/kernels_model_effect.py OLD_CHECKOUT NEW_CHECKOUT [--rounds 5]
[--repeat 3] [--repeat-epoch 1]`` (a RealNVP epoch takes about a minute on 2 cores)

Each round starts one process per checkout (``PYTHONPATH=<checkout>``, alternating
order, its own Numba cache folder), which times, on the ``numba`` backend after one
untimed warm-up call each: a RealNVP training epoch on the 17-level digits (default
settings, batch 64), sampling 1,000 digits from a MADE on the binarized digits (fitted
for one epoch, not timed) and an RBM PCD epoch on the binarized digits (64 hidden units,
its default batch of 20). Prints the median over rounds of each process's median, and
the ratio old / new.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, statistics, sys, time
import numpy as np
import minigen
from minigen.datasets import load_dataset

minigen.set_backend("numba")
X17 = load_dataset("digits17")  # int levels 0..16, (n, 8, 8); the flow dequantizes
Xb = load_dataset("digits")  # binarized, float (n, 8, 8)
Xb_rows = Xb.reshape(len(Xb), -1)
rep, rep_epoch = int(sys.argv[1]), int(sys.argv[2])


def timed(fn, warm, n=rep):
    warm()  # compile / load the Numba cache on a small call
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


from minigen.models.flows.realnvp import RealNVP
from minigen.models.autoregressive.made import MADE
from minigen.models.ebm.rbm import BernoulliRBM

one_epoch = dict(max_epochs=1, random_state=0, verbose=False)
out = {}
out["RealNVP epoch (digits)"] = timed(
    lambda: RealNVP(batch_size=64, **one_epoch).fit(X17),
    lambda: RealNVP(batch_size=64, **one_epoch).fit(X17[:128]), rep_epoch)
made = MADE(batch_size=64, **one_epoch).fit(Xb)
out["MADE sample 1,000 digits"] = timed(lambda: made.sample(1000, random_state=1),
                                        lambda: made.sample(10, random_state=1))
rbm = lambda: BernoulliRBM(n_components=64, method="pcd", **one_epoch)  # noqa: E731
out["RBM PCD epoch (digits)"] = timed(lambda: rbm().fit(Xb_rows),
                                      lambda: rbm().fit(Xb_rows[:40]))
print(json.dumps({"file": minigen.__file__, **out}))
"""


def run_child(checkout: str, cache: str, rep: int, rep_epoch: int) -> dict:
    env = {**os.environ, "PYTHONPATH": checkout, "NUMBA_CACHE_DIR": cache,
           "PYTHONDONTWRITEBYTECODE": "1"}
    res = subprocess.run([sys.executable, "-c", CHILD, str(rep), str(rep_epoch)], env=env,
                         cwd=tempfile.gettempdir(), capture_output=True, text=True,
                         timeout=1800)
    if res.returncode:
        raise SystemExit(f"{checkout}: {res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--repeat", type=int, default=3, help="timed calls per process (median)")
    p.add_argument("--repeat-epoch", type=int, default=1,
                   help="timed RealNVP epochs per process (one takes about a minute)")
    args = p.parse_args(argv)
    caches = {k: tempfile.mkdtemp(prefix=f"numba-{k}-") for k in ("old", "new")}
    results = {"old": [], "new": []}
    for r in range(args.rounds):
        order = ("old", "new") if r % 2 == 0 else ("new", "old")
        for k in order:
            results[k].append(run_child(getattr(args, k), caches[k], args.repeat,
                                        args.repeat_epoch))
            print(f"round {r} {k}: {results[k][-1]}", file=sys.stderr, flush=True)
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}, load {os.getloadavg()[0]:.1f}, "
          f"{args.rounds} rounds x {args.repeat} calls ({args.repeat_epoch} for the RealNVP "
          f"epoch), medians; old = {args.old}, new = {args.new}")
    for name in [k for k in results["old"][0] if k != "file"]:
        old = statistics.median(d[name] for d in results["old"])
        new = statistics.median(d[name] for d in results["new"])
        print(f"{name:<28} old {old * 1e3:9.1f} ms   new {new * 1e3:9.1f} ms   "
              f"old/new {old / new:5.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
