"""The Fashion-MNIST RBM (minigen's side, trained as bench/fashion_mnist.py trains it)
scored by forward AIS and RAISE with more temperatures; blocks of chains run on 2
processes (bit-identical to the serial run).

Run: ``python bench/fashion_rbm_more_betas.py BETAS [SCHEDULE]`` (SCHEDULE: piecewise,
the default, linear or geometric; see ``beta_schedule``). Prints one JSON line: the forward
NLL on all test images and on the first 100, RAISE on those 100, and their paired gap
(RAISE NLL - forward NLL, per image, averaged: a sandwich needs it >= 0; negative means
the two estimates cross).
"""

from __future__ import annotations

import os

for _k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_k, "1")  # before NumPy: each process one BLAS thread

import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402


def main(betas: int, schedule: str = "piecewise") -> dict:
    from minigen.datasets import load_dataset
    from minigen.models import BernoulliRBM
    from minigen.models.ebm.ais import ais_log_partition, raise_log_likelihood

    Xtr = (load_dataset("fashion-mnist", "train")[:55000] > 127).reshape(55000, -1)
    Xtr = Xtr.astype(np.float64)
    Xte = (load_dataset("fashion-mnist", "test") > 127).reshape(10000, -1).astype(np.float64)
    m = BernoulliRBM(n_components=500, method="pcd", k=1, dtype="float32", random_state=0,
                     learning_rate=0.05, batch_size=100, max_epochs=10, optimizer="sgd",
                     momentum=0.0, verbose=False).fit(Xtr)
    nf = -m.free_energy(Xte[:100]).astype(np.float64)
    out = {"betas": betas, "schedule": schedule}
    with ProcessPoolExecutor(2) as ex:
        t = time.perf_counter()
        fwd = ais_log_partition(m, n_chains=100, n_betas=betas, schedule=schedule, data=Xtr,
                                random_state=0, verbose=False, executor=ex)
        out["fwd_s"] = time.perf_counter() - t
        t = time.perf_counter()
        r = raise_log_likelihood(m, Xte[:100], n_betas=betas, schedule=schedule, base_data=Xtr,
                                 random_state=0, verbose=False, executor=ex)
        out["raise_s"] = time.perf_counter() - t
    gap = (nf - fwd.log_z) - r.log_likelihoods  # forward log-lik - RAISE log-lik, per image
    out.update(log_z=fwd.log_z, log_z_se=fwd.stderr,
               nll_forward_100=float(fwd.log_z - nf.mean()),
               nll_forward_all=float(fwd.log_z + m.free_energy(Xte).astype(np.float64).mean()),
               nll_raise_100=float(-r.mean), raise_se=r.stderr,
               paired_gap=float(gap.mean()),
               paired_gap_se=float(gap.std(ddof=1) / math.sqrt(len(gap))))
    return out


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), *sys.argv[2:3])))
