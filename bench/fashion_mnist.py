r"""Fashion-MNIST at 28x28: one minigen model beside its peer, trained the same way.

Usage::

    python bench/fashion_mnist.py --model NAME [--budget-minutes M] [--epochs E]
        [--n-train N] [--out DIR]
    python bench/fashion_mnist.py --table DIR      # the markdown table of DIR/*.json

Protocol
--------
* **Data**: Fashion-MNIST from its four IDX files (Debian's ``dataset-fashion-mnist``,
  ``/usr/share/datasets/fashion-mnist``; ``--data-dir`` or ``MINIGEN_DATA_DIR`` elsewhere),
  read by ``minigen.datasets.load_dataset("fashion-mnist", split)``: train = the first
  55,000 training images (``--n-train N`` keeps the first N of them), valid = the last
  5,000 (``--n-valid``), test = the 10,000 test images (``--n-test``).
* **Binarized** models (baseline, FVSBN, MADE, PixelCNN, Row LSTM, transformer, RBM):
  pixel > 127 (``binarize=0.5``); test NLL is exact (the RBM's is an AIS estimate).
* **8-bit** models (NICE, RealNVP, Glow): levels 0..255 dequantized ``(x + u)/256``,
  ``u ~ U[0, 1)`` drawn afresh for every training batch and from a fixed seed (one draw)
  for validation and test; the reported NLL is the dequantization bound
  :math:`-\log p((x + u)/256) + 784 \log 256`, so bits/dim is an upper bound.
* **Training**: both sides get the same optimizer (Adam, betas (0.9, 0.999), eps 1e-8;
  the RBM: plain SGD as scikit-learn's), learning rate, batch size, gradient clipping,
  maximum epochs and seed (minigen ``random_state=seed``; the peer ``torch.manual_seed(seed)``
  and ``numpy.random.default_rng(seed)`` for its batch order). Early stopping on the
  validation NLL: stop after ``patience`` epochs without a lower one, restore the best
  epoch's parameters (the RBM trains a fixed number of epochs: its likelihood needs AIS).
  A wall-clock budget (``--budget-minutes``, training and validation of both sides) ends
  both sides after the same number of epochs.
* **Timing**: the two sides run in two processes (so each one's peak resident memory is
  its own) that take turns epoch by epoch, alternating which goes first, so the noise of a
  shared machine falls on both; ``s/epoch`` is the median training time of an epoch
  (validation excluded); ratio = minigen / peer (below 1: minigen is faster). BLAS, OpenMP,
  Numba and torch get ``--threads`` threads (default 2).
* **Reported**: test NLL in nats and bits/dim with the standard error over test images,
  s/epoch, sampling time for 100 images (minigen; PixelCNN and transformer also with the
  recomputing sampler on ``--n-uncached`` images, MADE with its recomputing sampler), peak
  resident memory of each process, a sample grid PNG (``DIR/img/NAME.png``) and each side's
  optimizer ``steps``: a few dozen steps in, one seed's NLL says more about the seed than
  about the implementation (PixelCNN after 32 steps: -16% to +12% vs its twin across seeds
  0-2, with the two identical step for step: ``bench/fashion_twin_check.py``).
* **RBM**: minigen ``BernoulliRBM`` (500 hidden, PCD-1) and scikit-learn's
  ``BernoulliRBM`` (PCD-1, the same learning rate, batch size and epochs), both scored by
  minigen's AIS on their parameters: forward AIS (the estimate; log Z from below, so the
  log-likelihood from above; base rates from the training images) and RAISE, one reverse
  chain per test image on the first ``--ais-chains`` test images (a stochastic lower bound
  on the annealing model's log-likelihood; Burda et al. 2015).

Peers (``bench/fashion_peers.py``): the same architectures written plainly in torch CPU;
scikit-learn's ``BernoulliRBM``; zuko's ``RealNVP`` (``--model realnvp`` adds it as a
second peer). Results go to ``DIR/NAME.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import resource
import sys
import threading
import time
import traceback
from pathlib import Path

import numpy as np

D = 784
SHAPE = (28, 28)

#: per model: data kind, minigen class and settings, peer, training settings
MODELS = {
    "baseline": {
        "kind": "binary", "cls": "FactorizedBernoulli", "params": {"alpha": 1.0},
        "peers": [], "train": None,
        "what": "factorized Bernoulli (closed form, Laplace 1)",
    },
    "fvsbn": {
        "kind": "binary", "cls": "FVSBN", "params": {}, "peers": ["torch"],
        "train": {"learning_rate": 1e-3, "batch_size": 100, "max_epochs": 20, "patience": 3},
        "what": "FVSBN (masked 784 x 784 logistic layer)",
    },
    "made-500": {
        "kind": "binary", "cls": "MADE", "params": {"hidden_sizes": (500,)},
        "peers": ["torch"],
        "train": {"learning_rate": 1e-3, "batch_size": 100, "max_epochs": 20, "patience": 3},
        "what": "MADE, 1 hidden layer of 500",
    },
    "made-2x1000": {
        "kind": "binary", "cls": "MADE", "params": {"hidden_sizes": (1000, 1000)},
        "peers": ["torch"],
        "train": {"learning_rate": 1e-3, "batch_size": 100, "max_epochs": 20, "patience": 3},
        "what": "MADE, 2 hidden layers of 1000",
    },
    "pixelcnn": {
        "kind": "binary", "cls": "PixelCNN",
        "params": {"n_channels": 64, "n_layers": 5, "kernel_size": 3, "first_kernel_size": 7},
        "peers": ["torch"],
        "train": {"learning_rate": 1e-3, "batch_size": 64, "max_epochs": 20, "patience": 3},
        "what": "PixelCNN, 6 masked layers of 64 channels (7x7 A, 5 residual 3x3 B + 1x1)",
    },
    "row-lstm": {
        "kind": "binary", "cls": "RowLSTM",
        "params": {"n_channels": 32, "hidden_size": 32, "n_layers": 2, "kernel_size": 3,
                   "first_kernel_size": 7},
        "peers": ["torch"],
        "train": {"learning_rate": 1e-3, "batch_size": 64, "max_epochs": 20, "patience": 3},
        "what": "Row LSTM, 2 layers, 32 channels, 32 hidden, 7x7 mask-A input",
    },
    "transformer": {
        "kind": "binary", "cls": "PixelTransformer",
        "params": {"d_model": 64, "n_heads": 4, "n_layers": 2, "d_ff": 256},
        "peers": ["torch"],
        "train": {"learning_rate": 1e-3, "batch_size": 32, "max_epochs": 20, "patience": 3},
        "what": "transformer over the 784 pixels, d_model 64, 4 heads, 2 blocks",
    },
    "rbm": {
        "kind": "binary", "cls": "BernoulliRBM",
        "params": {"n_components": 500, "method": "pcd", "k": 1, "dtype": "float32"},
        "peers": ["sklearn"],
        "train": {"learning_rate": 0.05, "batch_size": 100, "max_epochs": 10,
                  "optimizer": "sgd", "momentum": 0.0, "early_stopping": False},
        "what": "RBM, 500 hidden, PCD-1, SGD",
    },
    "nice": {
        "kind": "8bit", "cls": "NICE",
        "params": {"n_couplings": 4, "hidden": 1000, "n_hidden": 2, "n_bins": 256},
        "peers": ["torch"],
        "train": {"learning_rate": 1e-3, "batch_size": 100, "max_epochs": 20, "patience": 3},
        "what": "NICE, 4 additive couplings, MLP 2 x 1000",
    },
    "realnvp": {
        "kind": "8bit", "cls": "RealNVP",
        "params": {"n_couplings": 6, "hidden": 1000, "n_hidden": 2, "n_bins": 256,
                   "mode": "vector", "logit": 0.05, "scale_bound": 2.0},
        "peers": ["torch", "zuko"],
        "train": {"learning_rate": 1e-4, "batch_size": 100, "max_epochs": 20, "patience": 3},
        "what": "RealNVP (vector), 6 affine couplings, MLP 2 x 1000, logit 0.05",
    },
    "glow": {
        "kind": "8bit", "cls": "Glow",
        "params": {"n_steps": 8, "n_scales": 2, "hidden": 64, "n_hidden": 2, "n_bins": 256,
                   "mode": "image", "scale_bound": 2.0},
        "peers": ["torch"],
        "train": {"learning_rate": 1e-3, "batch_size": 64, "max_epochs": 20, "patience": 3},
        "what": "Glow, 2 scales x 8 steps, conv conditioners of 64 channels",
    },
}

#: ``--tiny`` (the CI test): the same code paths with small networks, fast on 256 images
TINY = {
    "made-500": {"hidden_sizes": (50,)},
    "made-2x1000": {"hidden_sizes": (40, 40)},
    "pixelcnn": {"n_channels": 8, "n_layers": 1},
    "row-lstm": {"n_channels": 8, "hidden_size": 8, "n_layers": 1},
    "transformer": {"d_model": 8, "n_heads": 2, "n_layers": 1, "d_ff": 16},
    "rbm": {"n_components": 20},
    "nice": {"hidden": 32, "n_couplings": 2},
    "realnvp": {"hidden": 32, "n_couplings": 2},
    "glow": {"n_steps": 2, "hidden": 8},
}

CACHED_SAMPLERS = ("pixelcnn", "transformer", "row-lstm")


def model_config(name: str, tiny: bool = False) -> dict:
    """The model's entry of :data:`MODELS`, with the :data:`TINY` sizes when asked."""
    cfg = dict(MODELS[name])
    if tiny:
        cfg["params"] = {**cfg["params"], **TINY.get(name, {})}
    return cfg


# ---------------------------------------------------------------------- data
_CACHE: dict = {}


def load_split(kind: str, split: str, n: int | None, data_dir=None):
    """``(X, protocol)``: uint8 images (n, 28, 28), binarized (0/1: pixel > 127, what
    ``load_dataset(..., binarize=0.5)`` keeps, as uint8 instead of float64) or levels."""
    from minigen.datasets import load_dataset

    key = (split, data_dir)
    if key not in _CACHE:  # one read per split and process
        _CACHE[key] = load_dataset("fashion-mnist", split, data_dir=data_dir,
                                   return_info=True)
    X, info = _CACHE[key]
    X = X if n is None else X[:n]
    if kind == "binary":
        return (X > 127).astype(np.uint8), info.protocol + "; binarized x > 127"
    return X.astype(np.uint8), info.protocol


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _summary(nll):
    nll = np.asarray(nll, dtype=np.float64)
    se = float(nll.std(ddof=1) / math.sqrt(len(nll))) if len(nll) > 1 else float("nan")
    return {"nll": float(nll.mean()), "se": se, "bpd": float(nll.mean() / (D * math.log(2))),
            "bpd_se": se / (D * math.log(2))}


# ---------------------------------------------------------------------- the sides
class Side:
    """One process's model: ``start`` (build), ``epoch`` reports, ``finish`` results."""

    def __init__(self, name, cfg, args):
        self.name, self.cfg, self.args = name, cfg, args
        n = args.n_train
        self.Xtr, self.protocol = load_split(cfg["kind"], "train", n, args.data_dir)
        self.Xva, _ = load_split(cfg["kind"], "valid", args.n_valid, args.data_dir)
        self.Xte, _ = load_split(cfg["kind"], "test", args.n_test, args.data_dir)
        tr = cfg["train"] or {}
        self.settings = dict(tr)
        if args.epochs is not None:
            self.settings["max_epochs"] = args.epochs


class MinigenSide(Side):
    label = "minigen"

    def run(self, conn):
        import minigen  # noqa: F401
        from minigen import models
        from minigen.training import train

        cls = getattr(models, self.cfg["cls"])
        self.model = cls(**self.cfg["params"])
        if self.name == "rbm":  # what load_dataset(binarize=0.5) gives: float64 0/1
            self.Xtr, self.Xte = self.Xtr.astype(np.float64), self.Xte.astype(np.float64)
        if self.cfg["train"] is None:  # closed form: no epochs
            cmd = conn.recv()
            t0 = time.perf_counter()
            self.model.fit(self.Xtr)
            self.fit_s = time.perf_counter() - t0
            return cmd
        s = dict(self.settings)
        early = s.pop("early_stopping", True)
        patience = s.pop("patience", 5)
        hp = {"optimizer": "adam", "momentum": 0.9, **s, "early_stopping": early,
              "random_state": self.args.seed, "verbose": False}
        if early:
            hp["patience"] = patience
        self.model.set_params(**hp)
        cmd = conn.recv()
        if cmd != "epoch":
            return cmd
        last = {"cmd": None}
        self.epoch_cpu = []
        clock = {"t": time.process_time(), "scoring": 0.0}
        score = self.model.score_samples

        def timed_score(X, *a, **kw):  # validation's CPU time, taken out of the epoch's
            c0 = time.process_time()
            try:
                return score(X, *a, **kw)
            finally:
                clock["scoring"] += time.process_time() - c0

        self.model.score_samples = timed_score

        def callback(epoch, history, model):
            now = time.process_time()
            self.epoch_cpu.append(now - clock["t"] - clock["scoring"])
            done = history.stopped_early or epoch + 1 >= hp["max_epochs"]
            conn.send({"epoch": epoch, "train_s": history.epoch_time[-1],
                       "cpu_s": self.epoch_cpu[-1],
                       "valid_nll": _nan_none(history.valid_nll[-1]),
                       "train_loss": _nan_none(history.train_loss[-1]), "done": done})
            if done:
                return False
            last["cmd"] = conn.recv()
            clock["t"], clock["scoring"] = time.process_time(), 0.0
            return last["cmd"] != "epoch"

        valid = None if self.name == "rbm" else self.Xva  # AIS per epoch: too slow
        try:
            train(self.model, self.Xtr, X_valid=valid, callbacks=[callback])
        finally:
            del self.model.score_samples
        self.history = self.model.history_
        return conn.recv() if last["cmd"] in (None, "epoch") else last["cmd"]

    def finish(self):
        from minigen.backend import to_numpy

        m, out = self.model, {"side": "minigen", "class": type(self.model).__name__}
        out["params_count"] = int(sum(np.size(a) for a in _arrays(m).values()))
        h = getattr(self, "history", None)
        if h is not None:
            out["epochs"] = h.epochs
            out["epoch_s"] = [float(t) for t in h.epoch_time]
            out["epoch_cpu_s"] = self.epoch_cpu
            out["valid_nll"] = [_nan_none(v) for v in h.valid_nll]
            out["best_epoch"] = h.best_epoch
            out["stopped_early"] = h.stopped_early
        else:
            out["epochs"], out["epoch_s"] = 0, [getattr(self, "fit_s", 0.0)]
        t0 = time.perf_counter()
        if self.name == "rbm":
            out.update(score_rbm(m, self.Xtr, self.Xte, self.args))
        else:
            lp = to_numpy(m.score_samples(self.Xte))
            out["test"] = _summary(-lp)
        out["score_s"] = time.perf_counter() - t0
        out.update(self.sampling())
        out["peak_rss_mb"] = peak_rss_mb()
        return out

    def sampling(self):
        from minigen.backend import to_numpy

        m, seed, n = self.model, self.args.seed, self.args.n_sample
        kw = {"n_steps": self.args.rbm_gibbs_steps} if self.name == "rbm" else {}
        m.sample(2, random_state=seed, **kw)  # warm-up (Numba compilation, caches)
        t0 = time.perf_counter()
        S = to_numpy(m.sample(n, random_state=seed, **kw))
        out = {"sample_s": time.perf_counter() - t0, "n_sample": n}
        img = Path(self.args.img_dir or Path(self.args.out) / "img") / f"{self.name}.png"
        S = S.reshape(n, *SHAPE).astype(np.float64)
        from minigen.plot import sample_grid

        fig = sample_grid(S, img, nrow=int(math.ceil(math.sqrt(n))))
        _close(fig)
        out["grid"] = str(img)
        if self.name in CACHED_SAMPLERS and self.args.n_uncached:
            k = self.args.n_uncached
            t0 = time.perf_counter()
            a = to_numpy(m.sample(k, random_state=seed))
            cached = time.perf_counter() - t0
            t0 = time.perf_counter()
            b = to_numpy(m.sample(k, random_state=seed, use_cache=False))
            full = time.perf_counter() - t0
            out["uncached"] = {"n": k, "cached_s": cached, "recomputing_s": full,
                               "speedup": full / cached, "same_samples": bool((a == b).all())}
        if self.name.startswith("made") and self.args.n_uncached:
            out["made_sampler"] = made_sampler_profile(m, n, seed)
        return out


def made_sampler_profile(m, n, seed):
    """MADE's incremental sampler: time per half of the D steps (equal halves = linear in
    D) and the recomputing sampler (a full network pass per step) on the same draws."""
    from minigen.backend import to_numpy

    marks = []
    inner = m._sampler_logits

    def timed(x, t, state):
        out = inner(x, t, state)
        marks.append(time.perf_counter())
        return out

    m._sampler_logits = timed
    try:
        t0 = time.perf_counter()
        a = to_numpy(m.sample(n, random_state=seed))
        total = time.perf_counter() - t0
    finally:
        del m._sampler_logits
    half = len(marks) // 2
    first, second = marks[half - 1] - t0, marks[-1] - marks[half - 1]
    start = m._sampler_start
    m._sampler_start = lambda n_: None  # the recomputing default of AutoregressiveModel
    try:
        t0 = time.perf_counter()
        b = to_numpy(m.sample(n, random_state=seed))
        full = time.perf_counter() - t0
    finally:
        del m._sampler_start
    assert m._sampler_start == start
    return {"incremental_s": total, "first_half_s": first, "second_half_s": second,
            "half_ratio": second / first, "recomputing_s": full, "speedup": full / total,
            "same_samples": bool((a == b).all())}


def score_rbm(rbm, Xtr, Xte, args):
    """Forward AIS (the estimate) and RAISE (its lower side), both minigen's AIS."""
    from minigen.backend import to_numpy
    from minigen.models.ebm.ais import ais_log_likelihood_bounds

    t0 = time.perf_counter()
    b = ais_log_likelihood_bounds(rbm, Xte, n_chains=args.ais_chains, n_betas=args.ais_betas,
                                  schedule=args.ais_schedule, data=Xtr,
                                  random_state=args.seed, verbose=False)
    nf = to_numpy(rbm.free_energy(Xte))  # per image: NLL = F(v) + log Z
    out = {"test": _summary(nf + b["log_z_forward"]),
           "ais": {k: float(v) for k, v in b.items()}, "ais_s": time.perf_counter() - t0,
           "ais_chains": args.ais_chains, "ais_betas": args.ais_betas,
           "ais_schedule": args.ais_schedule}
    # RAISE NLL (a stochastic upper bound on the annealing model's NLL) on the first
    # n_points test images, its s.e. over them, and forward AIS's NLL on the same images;
    # gap = RAISE NLL - forward NLL paired per image: a sandwich needs it >= 0
    out["test_raise"] = {"nll": -b["lower"], "se": b["lower_stderr"],
                         "n_points": int(b["n_points"]), "nll_forward": -b["upper_subset"],
                         "gap": b["gap"], "gap_se": b["gap_stderr"]}
    return out


def _arrays(m):
    fn = getattr(m, "trainable_arrays", None)
    if fn is not None and type(m).__name__ != "FactorizedBernoulli":
        return fn()
    return {k: v for k, v in vars(m).items() if k.endswith("_") and hasattr(v, "shape")
            and k not in ("n_features_in_",)}


def _nan_none(v):
    v = float(v)
    return None if not math.isfinite(v) else v


def _close(fig):
    try:
        import matplotlib.pyplot as plt

        plt.close(fig)
    except Exception:  # noqa: BLE001 - the Figure was built without pyplot
        pass


class TorchSide(Side):
    """A torch twin (or zuko's flow): Adam, the same settings, early stopping on valid."""

    label = "torch"

    def __init__(self, name, cfg, args, flavour="torch"):
        super().__init__(name, cfg, args)
        self.flavour = flavour
        self.label = flavour

    def build(self):
        import fashion_peers as P
        import torch

        torch.manual_seed(self.args.seed)
        rng = np.random.default_rng(self.args.seed)
        p = self.cfg["params"]
        name = self.name
        if self.flavour == "zuko":
            return P.ZukoRealNVP(D, p["n_couplings"], p["hidden"], p["n_hidden"], p["logit"])
        if name == "fvsbn":
            return P.FVSBN(D)
        if name.startswith("made"):
            return P.MADE(D, list(p["hidden_sizes"]), rng)
        if name == "pixelcnn":
            return P.PixelCNN(SHAPE, p["n_channels"], p["n_layers"], p["kernel_size"],
                              p["first_kernel_size"])
        if name == "row-lstm":
            return P.RowLSTM(SHAPE, p["n_channels"], p["hidden_size"], p["n_layers"],
                             p["kernel_size"], p["first_kernel_size"])
        if name == "transformer":
            return P.Transformer(D, p["d_model"], p["n_heads"], p["n_layers"], p["d_ff"])
        if name == "nice":
            return P.NICE(D, p["n_couplings"], p["hidden"], p["n_hidden"])
        if name == "realnvp":
            return P.RealNVPVector(D, p["n_couplings"], p["hidden"], p["n_hidden"],
                                   p["scale_bound"], p["logit"])
        if name == "glow":
            return P.Glow(SHAPE, p["n_steps"], p["n_scales"], p["hidden"], p["n_hidden"],
                          p["scale_bound"], rng)
        raise ValueError(f"no torch twin for {name!r}")

    def _tensor(self, X):
        import torch

        return torch.as_tensor(np.asarray(X, dtype=np.float32)).reshape(len(X), 1, *SHAPE)

    def run(self, conn):
        import torch

        torch.set_num_threads(self.args.threads)
        s = self.settings
        self.net = self.build()
        self.flow = self.cfg["kind"] == "8bit"
        Xtr = self._tensor(self.Xtr)
        if self.flow and self.flavour == "torch":  # ActNorm's data-dependent init
            idx = np.random.default_rng(self.args.seed).permutation(len(Xtr))[:512]
            with torch.no_grad():
                self.net.nll(Xtr[idx])
        opt = torch.optim.Adam(self.net.parameters(), lr=s["learning_rate"],
                               betas=(0.9, 0.999), eps=1e-8)
        rng = np.random.default_rng(self.args.seed)
        bs, patience = s["batch_size"], s.get("patience", 5)
        best, bad, self.best_state = math.inf, 0, None
        self.history = {"epoch_s": [], "epoch_cpu_s": [], "valid_nll": [], "train_loss": []}
        for epoch in range(s["max_epochs"]):
            cmd = conn.recv()
            if cmd != "epoch":
                break
            perm = torch.as_tensor(rng.permutation(len(Xtr)))
            self.net.train()
            t0, c0 = time.perf_counter(), time.process_time()
            total = 0.0
            for i in range(0, len(Xtr), bs):
                xb = Xtr[perm[i:i + bs]]
                loss = self.net.nll(xb).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if s.get("clip_norm"):
                    torch.nn.utils.clip_grad_norm_(self.net.parameters(), s["clip_norm"])
                opt.step()
                total += float(loss.detach()) * len(xb)
            dt, cpu = time.perf_counter() - t0, time.process_time() - c0
            vnll = float(self.score(self.Xva).mean())
            h = self.history
            h["epoch_s"].append(dt)
            h["epoch_cpu_s"].append(cpu)
            h["valid_nll"].append(vnll)
            h["train_loss"].append(total / len(Xtr))
            if vnll < best:
                best, bad, self.best_epoch = vnll, 0, epoch
                self.best_state = {k: v.detach().clone() for k, v in
                                   self.net.state_dict().items()}
            else:
                bad += 1
            done = bad >= patience or epoch + 1 >= s["max_epochs"]
            conn.send({"epoch": epoch, "train_s": dt, "cpu_s": cpu, "valid_nll": vnll,
                       "train_loss": total / len(Xtr), "done": done})
            if done:
                self.stopped_early = bad >= patience
                break
        if self.best_state is not None:
            self.net.load_state_dict(self.best_state)
        return conn.recv()

    def score(self, X, batch=500):
        import torch

        self.net.eval()
        gen = torch.Generator().manual_seed(0)  # the fixed dequantization draw
        out = []
        with torch.no_grad():
            for i in range(0, len(X), batch):
                xb = self._tensor(X[i:i + batch])
                out.append(self.net.nll(xb, gen) if self.flow else self.net.nll(xb))
        return torch.cat(out).double().numpy()

    def finish(self):
        out = {"side": self.flavour, "class": type(self.net).__name__}
        out["params_count"] = int(sum(p.numel() for p in self.net.parameters()))
        h = self.history
        out["epochs"] = len(h["epoch_s"])
        out["epoch_s"], out["valid_nll"] = h["epoch_s"], h["valid_nll"]
        out["epoch_cpu_s"] = h["epoch_cpu_s"]
        out["best_epoch"] = getattr(self, "best_epoch", None)
        out["stopped_early"] = getattr(self, "stopped_early", False)
        t0 = time.perf_counter()
        out["test"] = _summary(self.score(self.Xte))
        out["score_s"] = time.perf_counter() - t0
        out["peak_rss_mb"] = peak_rss_mb()
        return out


class SklearnRBMSide(Side):
    """scikit-learn's BernoulliRBM, its own ``fit`` loop run one epoch at a time."""

    label = "sklearn"

    def run(self, conn):
        from sklearn.neural_network import BernoulliRBM
        from sklearn.utils import gen_even_slices

        s, p = self.settings, self.cfg["params"]
        rbm = self.rbm = BernoulliRBM(n_components=p["n_components"],
                                      learning_rate=s["learning_rate"],
                                      batch_size=s["batch_size"], n_iter=1,
                                      random_state=self.args.seed)
        X = np.ascontiguousarray(self.Xtr.reshape(len(self.Xtr), -1), dtype=np.float32)
        rng = np.random.RandomState(self.args.seed)  # what fit's check_random_state gives
        # exactly what BernoulliRBM.fit does before its epoch loop
        rbm.components_ = np.asarray(rng.normal(0, 0.01, (rbm.n_components, X.shape[1])),
                                     order="F", dtype=X.dtype)
        rbm._n_features_out = rbm.n_components
        rbm.intercept_hidden_ = np.zeros(rbm.n_components, dtype=X.dtype)
        rbm.intercept_visible_ = np.zeros(X.shape[1], dtype=X.dtype)
        rbm.h_samples_ = np.zeros((rbm.batch_size, rbm.n_components), dtype=X.dtype)
        rbm.n_features_in_ = X.shape[1]
        n_batches = int(np.ceil(len(X) / rbm.batch_size))
        slices = list(gen_even_slices(n_batches * rbm.batch_size, n_batches,
                                      n_samples=len(X)))
        self.epoch_s, self.epoch_cpu_s = [], []
        for epoch in range(s["max_epochs"]):
            cmd = conn.recv()
            if cmd != "epoch":
                return cmd
            t0, c0 = time.perf_counter(), time.process_time()
            for sl in slices:
                rbm._fit(X[sl], rng)
            dt = time.perf_counter() - t0
            self.epoch_s.append(dt)
            self.epoch_cpu_s.append(time.process_time() - c0)
            done = epoch + 1 >= s["max_epochs"]
            conn.send({"epoch": epoch, "train_s": dt, "cpu_s": self.epoch_cpu_s[-1],
                       "valid_nll": None, "train_loss": None,
                       "done": done})
            if done:
                break
        return conn.recv()

    def finish(self):
        from minigen.models import BernoulliRBM

        r = self.rbm
        m = BernoulliRBM(n_components=r.n_components)  # minigen's, holding sklearn's weights
        m.build_parameters(D)
        m.W_[...] = r.components_.T
        m.b_[...] = r.intercept_visible_
        m.c_[...] = r.intercept_hidden_
        m.fitted_ = True
        out = {"side": "sklearn", "class": "sklearn.neural_network.BernoulliRBM",
               "params_count": int(r.components_.size + r.intercept_visible_.size
                                   + r.intercept_hidden_.size),
               "epochs": len(self.epoch_s), "epoch_s": self.epoch_s,
               "epoch_cpu_s": self.epoch_cpu_s}
        out.update(score_rbm(m, self.Xtr, self.Xte, self.args))
        out["peak_rss_mb"] = peak_rss_mb()
        return out


SIDES = {"minigen": MinigenSide, "torch": TorchSide, "zuko": TorchSide,
         "sklearn": SklearnRBMSide}


def _worker(side, name, args, conn):
    """One side in its own process: build, train epoch by epoch on command, finish."""
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        _limit_threads(args.threads)
        cfg = model_config(name, args.tiny)
        obj = SIDES[side](name, cfg, args) if side not in ("torch", "zuko") else \
            TorchSide(name, cfg, args, side)
        conn.send({"ready": True, "protocol": obj.protocol})
        cmd = obj.run(conn)
        if cmd != "finish":
            cmd = conn.recv()
        conn.send({"result": obj.finish()})
    except Exception:  # noqa: BLE001 - reported to the parent, which raises
        conn.send({"error": traceback.format_exc()})
    finally:
        conn.close()


def _limit_threads(n):
    """``n`` threads for BLAS and OpenMP (also when already loaded) and Numba."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(n)
    try:
        import numba

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    except ImportError:
        pass


# ---------------------------------------------------------------------- the run
def run(args) -> dict:
    cfg = model_config(args.model, args.tiny)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    if "numba" not in sys.modules:  # else Numba's next compilation raises (pool launched)
        os.environ["NUMBA_NUM_THREADS"] = str(args.threads)
    wanted = [] if args.no_peer else [p for p in cfg["peers"] if p in args.peers]
    peers = [p for p in wanted if _importable(PEER_PACKAGES[p])]
    skipped = sorted(set(wanted) - set(peers))
    if skipped and args.verbose:
        print(f"[{args.model}] peers not installed, skipped: {', '.join(skipped)}")
    ctx = mp.get_context("spawn")
    sides = []
    for side in ["minigen", *peers]:
        parent, child = ctx.Pipe()
        if args.inline:
            proc = threading.Thread(target=_worker, args=(side, args.model, args, child),
                                    daemon=True)
        else:
            proc = ctx.Process(target=_worker, args=(side, args.model, args, child),
                               daemon=True)
        proc.start()
        if not args.inline:
            child.close()
        sides.append({"name": side, "conn": parent, "proc": proc, "reports": []})
    protocol = None
    for s in sides:
        msg = _recv(s)
        protocol = msg["protocol"]
    t_start = time.perf_counter()
    budget = args.budget_minutes * 60.0
    active = [s for s in sides] if cfg["train"] is not None else []
    epoch = 0
    while active:
        order = active if epoch % 2 == 0 else active[::-1]
        for s in list(order):
            s["conn"].send("epoch")
            rep = _recv(s)
            s["reports"].append(rep)
            if args.verbose:
                print(f"[{args.model}] {s['name']:8s} epoch {rep['epoch']:3d} "
                      f"{rep['train_s']:8.2f} s (CPU {rep.get('cpu_s', 0):8.2f} s)  "
                      f"valid {rep['valid_nll']}", flush=True)
            if rep["done"]:
                active.remove(s)
        epoch += 1
        if active and time.perf_counter() - t_start > budget:
            for s in active:
                s["conn"].send("stop")
            if args.verbose:
                print(f"[{args.model}] budget of {args.budget_minutes} min reached after "
                      f"{epoch} epochs", flush=True)
            active = []
    train_wall = time.perf_counter() - t_start
    results = {}
    for s in sides:  # one at a time: scoring and sampling are timed too
        s["conn"].send("finish")
        results[s["name"]] = _recv(s)["result"]
        s["proc"].join(timeout=60)
        s["conn"].close()
    out = {"model": args.model, "what": cfg["what"], "kind": cfg["kind"],
           "minigen_params": {k: list(v) if isinstance(v, tuple) else v
                              for k, v in cfg["params"].items()},
           "train_settings": cfg["train"], "protocol": protocol, "seed": args.seed,
           "n_train": args.n_train or 55000, "n_valid": args.n_valid or 5000,
           "n_test": args.n_test or 10000, "epochs_cap": args.epochs,
           "budget_minutes": args.budget_minutes, "threads": args.threads,
           "inline": args.inline, "tiny": args.tiny, "peers_skipped": skipped,
           "train_wall_s": train_wall, "date": time.strftime("%Y-%m-%d %H:%M"),
           "load_average": os.getloadavg(), "sides": results}
    n_rows = min(args.n_train or 55000, 55000)
    for r in results.values():
        if cfg["train"] is not None:  # how far training got: one seed's early NLL is noisy
            r["steps"] = r["epochs"] * -(-n_rows // cfg["train"]["batch_size"])
        if r.get("epoch_s"):
            r["median_epoch_s"] = float(np.median(r["epoch_s"]))
        if r.get("epoch_cpu_s"):
            r["median_epoch_cpu_s"] = float(np.median(r["epoch_cpu_s"]))
    mg = results["minigen"]
    for name, r in results.items():
        if name != "minigen" and r.get("median_epoch_s"):
            r["ratio"] = mg["median_epoch_s"] / r["median_epoch_s"]
            if r.get("median_epoch_cpu_s") and mg.get("median_epoch_cpu_s"):
                r["ratio_cpu"] = mg["median_epoch_cpu_s"] / r["median_epoch_cpu_s"]
            r["nll_rel"] = (mg["test"]["nll"] - r["test"]["nll"]) / abs(r["test"]["nll"])
    path = Path(args.out) / f"{args.model}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    print(markdown_rows([out]))
    return out


#: what each peer needs installed (the torch twins need torch, zuko's flow also zuko)
PEER_PACKAGES = {"torch": ("torch",), "zuko": ("torch", "zuko"), "sklearn": ("sklearn",)}


def _importable(names) -> bool:
    import importlib.util

    return all(importlib.util.find_spec(n) is not None for n in names)


def _recv(s):
    msg = s["conn"].recv()
    if "error" in msg:
        raise RuntimeError(f"the {s['name']} side failed:\n{msg['error']}")
    return msg


# ---------------------------------------------------------------------- the table
def _fmt_nll(t):
    return f"{t['nll']:.2f} ± {t['se']:.2f} ({t['bpd']:.4f})"


def _secs(r, key="median_epoch_s", cpu="median_epoch_cpu_s"):
    if not r or not r.get(key):
        return "-"
    return f"{r[key]:.2f}" + (f" ({r[cpu]:.2f})" if r.get(cpu) else "")


def markdown_rows(results) -> str:
    """The results table: one row per (model, peer); s/epoch wall-clock (CPU) medians."""
    head = ("| model | train images | params (minigen / peer) | minigen test NLL ± s.e. "
            "(bits/dim) | peer | peer test NLL ± s.e. (bits/dim) | NLL vs peer | epochs "
            "(minigen / peer) | minigen s/epoch (CPU) | peer s/epoch (CPU) | ratio (CPU) | "
            "sampling 100 (s) | peak RSS MB (minigen / peer) |")
    lines = [head, "|" + " --- |" * 13]
    for r in results:
        mg = r["sides"]["minigen"]
        peers = [(k, v) for k, v in r["sides"].items() if k != "minigen"] or [(None, None)]
        for i, (pname, p) in enumerate(peers):
            name = r["model"] if i == 0 else f"{r['model']} (2nd peer)"
            ratio = "-"
            if p and p.get("ratio"):
                ratio = f"{p['ratio']:.2f}x" + (f" ({p['ratio_cpu']:.2f}x)"
                                                 if p.get("ratio_cpu") else "")
            cells = [name, f"{r['n_train']:,}",
                     f"{mg['params_count']:,} / " + (f"{p['params_count']:,}" if p else "-"),
                     _fmt_nll(mg["test"]), pname or "-", _fmt_nll(p["test"]) if p else "-",
                     f"{100 * p['nll_rel']:+.2f}%" if p and "nll_rel" in p else "-",
                     f"{mg['epochs']} / {p['epochs']}" if p else str(mg["epochs"]),
                     _secs(mg), _secs(p), ratio, f"{mg['sample_s']:.2f}",
                     f"{mg['peak_rss_mb']:.0f} / {p['peak_rss_mb']:.0f}" if p else
                     f"{mg['peak_rss_mb']:.0f}"]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table(folder) -> str:
    order = list(MODELS)
    found = {p.stem: json.loads(p.read_text()) for p in Path(folder).glob("*.json")}
    return markdown_rows([found[k] for k in order if k in found])


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=list(MODELS))
    ap.add_argument("--table", metavar="DIR", help="print the markdown table of DIR/*.json")
    ap.add_argument("--budget-minutes", type=float, default=20.0,
                    help="wall-clock cap on training + validation of both sides (default 20)")
    ap.add_argument("--epochs", type=int, default=None, help="cap on epochs (both sides)")
    ap.add_argument("--n-train", type=int, default=None, help="first N training images")
    ap.add_argument("--n-valid", type=int, default=None)
    ap.add_argument("--n-test", type=int, default=None)
    ap.add_argument("--n-sample", type=int, default=100)
    ap.add_argument("--n-uncached", type=int, default=10,
                    help="images for the recomputing-sampler comparison (0: skip it)")
    ap.add_argument("--ais-chains", type=int, default=100)
    ap.add_argument("--ais-betas", type=int, default=10000)
    ap.add_argument("--ais-schedule", default="piecewise",
                    choices=("piecewise", "linear", "geometric"),
                    help="AIS / RAISE temperatures (minigen.models.ebm.ais.beta_schedule)")
    ap.add_argument("--rbm-gibbs-steps", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="threads for BLAS, OpenMP, Numba and torch, each side (default 1)")
    ap.add_argument("--inline", action="store_true",
                    help="run the sides as threads of this process (tests: no start-up "
                    "cost; the peak RSS is then the process's, shared)")
    ap.add_argument("--peers", default="torch,sklearn,zuko",
                    help="comma-separated peers to run where the model has them")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default="bench/results/fashion")
    ap.add_argument("--img-dir", default=None, help="sample grids (default OUT/img)")
    ap.add_argument("--tiny", action="store_true",
                    help="small networks (the CI test: every code path, in seconds)")
    ap.add_argument("--quiet", dest="verbose", action="store_false")
    args = ap.parse_args(argv)
    if args.table is None and args.model is None:
        ap.error("give --model NAME (or --table DIR)")
    args.peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.table is not None:
        print(table(args.table))
        return
    run(args)


if __name__ == "__main__":
    main()
