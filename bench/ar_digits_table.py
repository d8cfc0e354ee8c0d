"""Autoregressive models on binarized 8x8 digits: the README table.

Protocol: ``load_dataset("digits", split)`` (the DatasetInfo protocol string is printed),
train on the train split, early stopping on the valid split (best parameters restored),
test NLL in nats per image and bits/dim; wall-clock training time on this machine
(NumPy backend, one BLAS thread). Run::

    OPENBLAS_NUM_THREADS=1 python bench/ar_digits_table.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import time

import minigen
from minigen.datasets import load_dataset
from minigen.models.autoregressive import FVSBN, MADE, PixelTransformer
from minigen.models.baseline import FactorizedBernoulli

CONFIGS = {
    "baseline (factorized Bernoulli)": (lambda: FactorizedBernoulli(alpha=1.0), {}),
    "FVSBN": (lambda: FVSBN(), dict(epochs=200, lr=3e-3, batch_size=64, l2=1e-4)),
    "MADE (1 mask)": (lambda: MADE(hidden_sizes=(500,)),
                      dict(epochs=200, lr=1e-3, batch_size=64)),
    "MADE (8 masks, order-agnostic)": (
        lambda: MADE(hidden_sizes=(500,), n_masks=8, ordering="random"),
        dict(epochs=300, lr=1e-3, batch_size=64)),
    "transformer": (lambda: PixelTransformer(d_model=64, n_heads=4, n_layers=2),
                    dict(epochs=60, lr=1e-3, batch_size=64)),
}


def run(names=None, quick=False, seed=0):
    X = load_dataset("digits", "train")
    Xv = load_dataset("digits", "valid")
    Xt, info = load_dataset("digits", "test", return_info=True)
    rows = []
    with minigen.use_backend("numpy"):
        for name, (make, kw) in CONFIGS.items():
            if names and name not in names:
                continue
            kw = dict(kw)
            if quick and "epochs" in kw:
                kw["epochs"] = 2
            model = make()
            t0 = time.perf_counter()
            if kw:
                model.set_params(early_stopping=True, patience=15, random_state=seed, **kw).fit(
                    X, X_valid=Xv
                )
            else:
                model.fit(X)
            dt = time.perf_counter() - t0
            nats = model.nll(Xt)
            rows.append(
                {
                    "model": name,
                    "test_nats": nats,
                    "bits_per_dim": model.nll(Xt, "bits/dim"),
                    "train_s": dt,
                    "valid_nats": model.nll(Xv),
                    "epochs": getattr(getattr(model, "history_", None), "epochs", 1),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    print("protocol:", info.protocol)
    print("| model | test NLL (nats) | bits/dim | train time (s) | epochs |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['test_nats']:.2f} | {r['bits_per_dim']:.4f} | "
            f"{r['train_s']:.0f} | {r['epochs']} |"
        )
    return rows


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", action="append")
    a = p.parse_args()
    run(a.only, a.quick)
