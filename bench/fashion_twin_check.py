r"""Is a Fashion-MNIST NLL gap between minigen's PixelCNN and its torch twin a difference of
the two implementations, or of their seeds? Two controlled runs on the first N training
images (binarized as in ``bench/fashion_mnist.py``), Adam 1e-3, batch 64, one thread:

* ``--mode same``: minigen's ``train`` with the benchmark's settings, its initial
  parameters and every batch it draws recorded; the twin starts from those parameters
  (``PixelCNN.load_minigen``) and steps torch's Adam on the same batches. Prints both
  loss trajectories and both validation NLLs at the end: equal up to float32 rounding
  when the two sides compute and step the same.
* ``--mode seeds``: each side as the benchmark runs it (its own initialisation and batch
  order from ``--seeds``), the validation NLL after 32, 100, 200, ... steps: the spread
  across seeds that a one-seed comparison must be measured against.

Usage::

    python bench/fashion_twin_check.py --mode same --steps 200
    python bench/fashion_twin_check.py --mode seeds --steps 200 --seeds 0,1,2 --side torch

(``--side`` runs one side per process, so two processes can share two cores.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
PIXELCNN = {"n_channels": 64, "n_layers": 5, "kernel_size": 3, "first_kernel_size": 7}
TRAIN = {"optimizer": "adam", "momentum": 0.9, "learning_rate": 1e-3, "batch_size": 64,
         "max_epochs": 1, "early_stopping": True, "patience": 3, "verbose": False}
SHAPE = (28, 28)
MARKS = (32, 100, 200, 400, 800)


def _data(n_train, n_valid):
    from fashion_mnist import load_split

    X, _ = load_split("binary", "train", n_train)
    Xv, _ = load_split("binary", "valid", n_valid)
    return X, Xv


def _minigen(seed, spy=None, losses=None):
    """minigen's model; ``spy(m, batch)`` sees every batch before its step is taken and
    ``losses`` gets every batch's loss."""
    from minigen.models import PixelCNN

    m = PixelCNN(**PIXELCNN)
    m.set_params(**TRAIN, random_state=seed)
    if spy is not None:
        inner = m.loss_and_grads

        def recorded(batch, rng):
            spy(m, batch)
            loss, grads = inner(batch, rng)
            if losses is not None:
                losses.append(loss)
            return loss, grads

        m.loss_and_grads = recorded
    return m


def _twin():
    import fashion_peers as P

    p = PIXELCNN
    return P.PixelCNN(SHAPE, p["n_channels"], p["n_layers"], p["kernel_size"],
                      p["first_kernel_size"])


def _tensor(X):
    import torch

    return torch.as_tensor(np.asarray(X, dtype=np.float32)).reshape(len(X), 1, *SHAPE)


def _torch_valid(net, Xv):
    import torch

    with torch.no_grad():
        return float(net.nll(_tensor(Xv)).mean())


def same(args):
    """Same initial parameters, same batches: the two trajectories."""
    import torch

    from minigen.training import train

    X, Xv = _data(64 * args.steps, args.n_valid)
    rec = {"init": None, "batches": []}

    def spy(m, batch):
        if rec["init"] is None:
            rec["init"] = {k: np.array(v) for k, v in m.trainable_arrays().items()}
        rec["batches"].append(np.array(batch))

    mine = []
    m = _minigen(args.seed, spy, mine)
    train(m, X, X_valid=Xv)
    net = _twin()
    net.load_minigen(rec["init"])
    opt = torch.optim.Adam(net.parameters(), lr=TRAIN["learning_rate"], betas=(0.9, 0.999),
                           eps=1e-8)
    losses = []
    for b in rec["batches"]:
        loss = net.nll(_tensor(b)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    mine, theirs = np.array(mine), np.array(losses)
    rel = np.abs(mine - theirs) / theirs
    out = {"steps": len(losses), "minigen_loss": mine.tolist(), "torch_loss": losses,
           "max_step_rel": float(rel.max()),
           "minigen_valid": float(-m.score_samples(Xv).mean()),
           "torch_valid": _torch_valid(net, Xv)}
    out["valid_rel"] = (out["minigen_valid"] - out["torch_valid"]) / out["torch_valid"]
    for i in sorted({*range(0, len(mine), max(1, len(mine) // 10)), len(mine) - 1}):
        print(f"step {i:5d}  batch loss minigen {mine[i]:9.3f}  twin {theirs[i]:9.3f}  "
              f"({100 * (mine[i] - theirs[i]) / theirs[i]:+.3f}%)")
    print(f"largest per-step difference {100 * out['max_step_rel']:.3f}%")
    print(f"valid NLL after {out['steps']} steps: minigen {out['minigen_valid']:.3f}, twin "
          f"{out['torch_valid']:.3f} ({100 * out['valid_rel']:+.3f}%)")
    return out


def seeds(args):
    """Each side its own initialisation and batch order (as the benchmark): valid NLLs."""
    import torch

    from minigen.training import train

    X, Xv = _data(64 * args.steps, args.n_valid)
    out = {}
    for seed in args.seeds:
        row = {}
        if args.side in ("both", "minigen"):
            marks = {}

            def spy(m, batch, marks=marks):
                step = len(marks.setdefault("n", []))
                marks["n"].append(1)
                if step in MARKS:
                    marks[step] = float(-m.score_samples(Xv).mean())

            m = _minigen(seed, spy)
            train(m, X, X_valid=Xv)
            marks.pop("n")
            marks[args.steps] = float(-m.score_samples(Xv).mean())
            row["minigen"] = marks
        if args.side in ("both", "torch"):  # as TorchSide.run of bench/fashion_mnist.py
            torch.manual_seed(seed)
            rng = np.random.default_rng(seed)
            net = _twin()
            opt = torch.optim.Adam(net.parameters(), lr=TRAIN["learning_rate"],
                                   betas=(0.9, 0.999), eps=1e-8)
            Xt = _tensor(X)
            perm = torch.as_tensor(rng.permutation(len(Xt)))
            marks = {}
            for step, i in enumerate(range(0, len(Xt), TRAIN["batch_size"])):
                if step in MARKS:
                    marks[step] = _torch_valid(net, Xv)
                loss = net.nll(Xt[perm[i:i + TRAIN["batch_size"]]]).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            marks[args.steps] = _torch_valid(net, Xv)
            row["torch"] = marks
        out[seed] = row
        print(f"seed {seed}: " + "; ".join(
            f"{side} " + ", ".join(f"{k} steps {v:.2f}" for k, v in sorted(r.items()))
            for side, r in row.items()), flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=("same", "seeds"), default="same")
    ap.add_argument("--steps", type=int, default=200, help="Adam steps (64 images each)")
    ap.add_argument("--n-valid", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0, help="--mode same")
    ap.add_argument("--seeds", default="0,1,2", help="--mode seeds")
    ap.add_argument("--side", choices=("both", "minigen", "torch"), default="both")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)
    args.seeds = [int(s) for s in args.seeds.split(",")]
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        out = same(args) if args.mode == "same" else seeds(args)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
