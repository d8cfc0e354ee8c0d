"""NICE, RealNVP and Glow on dequantized 8x8 digits (17 levels): bits/dim, training
time, sampling throughput, and a grid of samples.

bits/dim is the dequantization bound ``-(E_u[log p_Y((x+u)/K - 1/2)] - D log K) / (D log 2)``
on the test split (``n_dequant=8`` draws of ``u``), an upper bound on the discrete NLL.

    python examples/flows_digits.py --models glow --epochs 10 --out runs/flows_digits
    python examples/flows_digits.py --smoke --out /tmp/fd   # tiny sizes (tests), seconds
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from minigen.datasets import load_dataset
from minigen.models.flows import NICE, Glow, RealNVP
from minigen.optim import CosineLR
from minigen.plot import sample_grid
from minigen.training import train

MODELS = {
    "nice": lambda **kw: NICE(**{"n_couplings": 4, "hidden": 256, **kw}),
    "realnvp": lambda **kw: RealNVP(**{"n_couplings": 2, "hidden": 32, **kw}),
    "glow": lambda **kw: Glow(**{"n_steps": 4, "hidden": 32, **kw}),
}
# --smoke: tiny networks, 1 epoch on 200 images, 100 samples, 2 dequantization draws
SMOKE_KW = {"nice": {"hidden": 32}, "realnvp": {"n_couplings": 1, "hidden": 8},
            "glow": {"n_steps": 1, "hidden": 8}}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--models", default="nice,realnvp,glow")
    ap.add_argument("--out", default="runs/flows_digits")
    ap.add_argument("--kw", default="{}", help="JSON hyper-parameters for every model")
    ap.add_argument("--cosine", action="store_true", help="cosine learning-rate decay")
    ap.add_argument("--tag", default="")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (tests), a few seconds")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    Xtr, Xva, Xte = (load_dataset("digits17", s) for s in ("train", "valid", "test"))
    n_samples, n_dequant = 1000, 8
    if args.smoke:
        Xtr, Xva, Xte = Xtr[:200], Xva[:100], Xte[:100]
        args.epochs, n_samples, n_dequant = 1, 100, 2
    results = {}
    for name in args.models.split(","):
        kw = {**(SMOKE_KW[name] if args.smoke else {}), **json.loads(args.kw)}
        model = MODELS[name](**kw)
        steps = args.epochs * math.ceil(len(Xtr) / args.batch_size)
        sched = CosineLR(steps, min_lr=0.02 * args.lr) if args.cosine else None

        def cb(epoch, hist, model, name=name):
            print(f"  {name} epoch {epoch}: train {hist.train_loss[-1]:.2f} valid "
                  f"{hist.valid_nll[-1]:.2f} nats ({hist.epoch_time[-1]:.1f} s)", flush=True)

        t0 = time.perf_counter()
        train(
            model,
            Xtr,
            X_valid=Xva,
            max_epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.lr,
            lr_schedule=sched,
            clip_norm=50.0,
            random_state=0,
            callbacks=[cb],
        )
        dt = time.perf_counter() - t0
        nats = -float(np.mean(model.score_samples(Xte, n_dequant=n_dequant)))
        t1 = time.perf_counter()
        S = model.sample(n_samples, random_state=1)
        ts = time.perf_counter() - t1
        sample_grid(np.asarray(S)[:64], out / f"flows_digits_{name}{args.tag}.png")
        results[name] = {
            "params": model.get_params(),
            "epochs": args.epochs,
            "test_nats": nats,
            "test_bits_per_dim": nats / (64 * math.log(2)),
            "train_time_s": dt,
            "samples_per_s": n_samples / ts,
            "n_parameters": model.flow_.num_parameters(),
            "smoke": args.smoke,
            "n_dequant": n_dequant,
        }
        print(
            f"{name}: {results[name]['test_bits_per_dim']:.4f} bits/dim, trained {dt:.1f} s, "
            f"{n_samples / ts:.0f} samples/s",
            flush=True,
        )
        (out / f"flows_digits_{name}{args.tag}.json").write_text(
            json.dumps(results[name], indent=2, default=str)
        )


if __name__ == "__main__":
    main()
