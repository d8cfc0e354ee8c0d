"""Exposure bias, measured with an oracle: teacher forcing vs scheduled sampling vs REINFORCE.

Protocol (Yu et al. 2017, SeqGAN's synthetic-oracle experiment, on images):

* the **oracle** is a fixed random Row LSTM on 6x6 binary images (16 channels, 16 LSTM
  units, default initialisation from seed 1234, every weight then multiplied by 4 so the
  conditionals are far from fair coins); its samples are the data: 500 for training,
  2000 held out;
* **learners**: Row LSTMs of the same size, from 3 seeds each, trained by
  - teacher forcing (TF): 30 epochs, batch 64, Adam lr 3e-3;
  - scheduled sampling (SS): the same, ``scheduled_sampling=0.25`` ramped over 15 epochs;
  - TF followed by REINFORCE with reward = the oracle's log-likelihood
    (:func:`minigen.objectives.train_reinforce`: 64 samples per step, moving-average
    baseline, Adam lr 2e-4), evaluated after 25 and after 100 steps;
* **metrics** (nats per image): the oracle NLL of 2000 samples of the learner,
  ``-mean log p_oracle(x)``, x ~ learner (lower = samples the oracle finds likely; the
  oracle's own samples score its entropy), and the learner's NLL on the 2000 held-out
  oracle images (lower = closer to the oracle in KL(oracle || learner)); mean over seeds
  with the standard error ``sd / sqrt(n_seeds)``.

Run (prints a markdown table, writes JSON)::

    OPENBLAS_NUM_THREADS=1 python bench/exposure_bias.py [--quick] [--out FILE]
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import platform
import time

import numpy as np

import minigen
from minigen.backend import to_numpy
from minigen.models.autoregressive import RowLSTM
from minigen.objectives import train_reinforce
from minigen.training import train

SHAPE = (6, 6)
NET = {"n_channels": 16, "hidden_size": 16, "n_categories": 2}


def make_oracle(seed=1234, weight_scale=4.0):
    """A Row LSTM with random weights (default init times ``weight_scale``), not trained."""
    oracle = RowLSTM(**NET)
    oracle.build_parameters(list(SHAPE), np.random.default_rng(seed))  # no data: parameters only
    oracle.fitted_ = True
    for p in oracle.trainable_arrays().values():
        p *= weight_scale
    return oracle


def _mean_se(v):
    v = np.asarray(v, dtype=np.float64)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0


def evaluate(model, oracle, X_test, n_samples, seed):
    S = model.sample(n_samples, random_state=seed)
    return {"oracle_nll": float(-np.mean(to_numpy(oracle.score_samples(S)))),
            "heldout_nll": float(-np.mean(to_numpy(model.score_samples(X_test))))}


def run(seeds=(0, 1, 2), quick=False):
    epochs, rl_steps = (4, (3, 6)) if quick else (30, (25, 100))
    n_train, n_test, n_eval = (200, 300, 300) if quick else (500, 2000, 2000)
    oracle = make_oracle()
    X = oracle.sample(n_train + n_test, random_state=1)
    X_train, X_test = X[:n_train], X[n_train:]
    own = to_numpy(oracle.score_samples(oracle.sample(n_eval, random_state=2)))
    entropy = (float(-own.mean()), float(own.std(ddof=1) / np.sqrt(len(own))))
    tf_kw = dict(max_epochs=epochs, batch_size=64, learning_rate=3e-3)
    rows = {}

    def add(name, seed, model, dt):
        r = evaluate(model, oracle, X_test, n_eval, seed=100 + seed)
        r["train_s"] = dt
        rows.setdefault(name, []).append(r)
        print(json.dumps({"method": name, "seed": seed, **r}), flush=True)

    for seed in seeds:
        t0 = time.perf_counter()
        tf = RowLSTM(**NET)
        train(tf, X_train, random_state=seed, **tf_kw)
        t_tf = time.perf_counter() - t0
        add("teacher forcing", seed, tf, t_tf)
        t0 = time.perf_counter()
        ss = RowLSTM(**NET, scheduled_sampling=0.25, scheduled_sampling_epochs=epochs // 2)
        train(ss, X_train, random_state=seed, **tf_kw)
        add("scheduled sampling (p_max 0.25)", seed, ss, time.perf_counter() - t0)
        rl, done, t_rl = copy.deepcopy(tf), 0, t_tf
        for steps in rl_steps:
            t0 = time.perf_counter()
            train_reinforce(rl, oracle.score_samples, n_steps=steps - done, n_samples=64,
                            learning_rate=2e-4, baseline="moving-average",
                            random_state=np.random.default_rng([seed, steps]))
            t_rl += time.perf_counter() - t0
            done = steps
            add(f"TF + REINFORCE ({steps} steps)", seed, rl, t_rl)
    table = []
    for name, rs in rows.items():
        o, oe = _mean_se([r["oracle_nll"] for r in rs])
        h, he = _mean_se([r["heldout_nll"] for r in rs])
        t, _ = _mean_se([r["train_s"] for r in rs])
        table.append({"method": name, "oracle_nll": o, "oracle_nll_se": oe, "heldout_nll": h,
                      "heldout_nll_se": he, "train_s": t, "n_seeds": len(rs)})
    return {"entropy": entropy, "table": table, "rows": rows, "quick": quick,
            "protocol": {"shape": SHAPE, "net": NET, "oracle_seed": 1234, "weight_scale": 4.0,
                         "n_train": n_train, "n_test": n_test, "n_eval": n_eval,
                         "epochs": epochs, "rl_steps": list(rl_steps), "seeds": list(seeds)}}


def markdown(res) -> str:
    h, he = res["entropy"]
    lines = ["| method | oracle NLL of samples (nats) | held-out NLL (nats) | train time (s) |",
             "| --- | --- | --- | --- |",
             f"| oracle itself (its entropy) | {h:.2f} ± {he:.2f} | {h:.2f} ± {he:.2f} | - |"]
    for r in res["table"]:
        lines.append(f"| {r['method']} | {r['oracle_nll']:.2f} ± {r['oracle_nll_se']:.2f} | "
                     f"{r['heldout_nll']:.2f} ± {r['heldout_nll_se']:.2f} | {r['train_s']:.0f} |")
    return "\n".join(lines)


def _machine() -> str:
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    return f"{name}, {os.cpu_count()} logical CPUs, {platform.system()}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny budgets (a smoke run)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    with minigen.use_backend("numpy"):
        res = run(seeds=tuple(range(args.seeds)), quick=args.quick)
    res["wall_s"] = time.perf_counter() - t0
    res["machine"] = _machine()
    res["date"] = datetime.date.today().isoformat()
    print(markdown(res))
    print(f"wall {res['wall_s']:.0f} s, {res['machine']}, {res['date']}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)
    return res


if __name__ == "__main__":
    main()
