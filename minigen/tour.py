"""``minigen tour``: train one representative of every registered family and report.

Every number in the report is measured by the run that writes it: nothing is read
from a stored file. A family that raises is listed as *failed* with its error, and the
tour goes on.

Per model the tour records the test NLL (nats per example and bits per dimension),
the KL divergence to the truth where the truth is known, training time, sampling
throughput (samples/s) and the parameter count:

* 2-D toys (``ring8``): :math:`\\mathrm{KL}(p\\,\\|\\,q) = \\mathbb{E}_p[\\log p(x) - \\log q(x)]`,
  estimated on the test points with the exact :math:`\\log p` of the toy (the test NLL
  minus the entropy, paired on the same points so the Monte Carlo error shrinks).
* bars-and-stripes 4x4: exact,
  :math:`\\mathrm{KL} = -\\log 30 - \\frac{1}{30}\\sum_{x} \\log q(x)` over the 30 patterns.

Every trained model is saved to ``models/<key>.npz`` and summarized in ``metrics.json``
(test NLL in nats and bits/dim, the dataset and its protocol string, training time,
samples/s, checkpoint path); the protocol string also appears next to the numbers in
the reports. ``minigen tour`` exits with status 1 when an entry or experiment failed.

Then three experiments: Gibbs burn-in on a small Boltzmann machine (exact TV distance to
the enumerated distribution vs sweeps), scheduled sampling vs teacher forcing (Row LSTM),
and the "seed claims" checked with timings (autoregressive sampling time grows linearly
in D; flows sample fastest; EBMs need MCMC).
"""

from __future__ import annotations

import inspect
import math
import platform
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__
from ._progress import progress
from .backend import get_backend, set_backend, to_numpy, use_backend
from .datasets import bars_and_stripes, get_toy, load_dataset
from .distributions.boltzmann import empirical_distribution, exact_probabilities, tv_distance
from .divergences import nats_to_bits_per_dim
from .kernels import bm_gibbs_sweep, warm_up
from .models import MADE, FactorizedBernoulli, get_model_class, load
from .parallel import connect, map_ordered
from .plot import density_2d, new_figure, sample_grid, training_curves
from .random import uniforms
from .tour_claims import check, power_law_exponent
from .tour_report import write_reports
from .training import train

__all__ = ["ModelSpec", "SPECS", "run_tour", "main"]


@dataclass
class ModelSpec:
    """One tour entry: a registered model, its data and its budget per mode."""

    key: str
    family: str
    model: str
    data: str
    quick: dict
    full: dict
    train: dict = field(default_factory=dict)  # mode -> train() kwargs, "fit" for model.fit
    note: str = ""
    smoke: dict | None = None  # hyper-parameters of the tests' tiny mode (default: quick)


def _tr(epochs, batch_size=64, lr=1e-3, patience=None):
    """``train()`` budget; with ``patience``, early stopping on the validation NLL restores
    the best parameters (the full tour's larger models would otherwise over-fit)."""
    kw = {"max_epochs": epochs, "batch_size": batch_size, "learning_rate": lr}
    if patience is not None:
        kw.update(early_stopping=True, patience=patience)
    return kw


def _full(epochs, batch_size=64, lr=1e-3):
    """Full-tour budget: larger, with early stopping (patience 5)."""
    return _tr(epochs, batch_size, lr, patience=5)


SPECS: list[ModelSpec] = [
    ModelSpec("baseline", "baseline (factorized)", "baseline", "digits", {}, {},
              {"quick": "fit", "full": "fit", "smoke": "fit"}, "closed-form MLE"),
    ModelSpec("fvsbn", "autoregressive", "fvsbn", "digits", {}, {},
              {"smoke": _tr(1, 128, 1e-2), "quick": _tr(30, 64, 1e-2),
               "full": _full(60, 64, 5e-3)}),
    ModelSpec("made", "autoregressive", "made", "digits",
              {"hidden_sizes": [128]}, {"hidden_sizes": [256, 256]},
              {"smoke": _tr(1, 128), "quick": _tr(40, 64, 3e-3), "full": _full(40, 64, 1e-3)},
              smoke={"hidden_sizes": [64]}),
    ModelSpec("pixelcnn", "autoregressive", "pixelcnn", "digits",
              {"n_channels": 16, "n_layers": 3}, {"n_channels": 32, "n_layers": 4},
              {"smoke": _tr(1, 128), "quick": _tr(20, 64, 3e-3), "full": _full(40, 64, 2e-3)},
              smoke={"n_channels": 8, "n_layers": 2}),
    ModelSpec("row-lstm", "autoregressive (PixelRNN)", "row-lstm", "digits",
              {"n_channels": 16, "hidden_size": 16}, {"n_channels": 32, "hidden_size": 32},
              {"smoke": _tr(1, 128), "quick": _tr(20, 64, 3e-3), "full": _full(30, 64, 2e-3)},
              smoke={"n_channels": 8, "hidden_size": 8}),
    ModelSpec("transformer", "autoregressive", "transformer", "digits",
              {"d_model": 32, "n_heads": 2, "n_layers": 1}, {"d_model": 32, "n_layers": 2},
              {"smoke": _tr(1, 128), "quick": _tr(20, 64, 3e-3), "full": _full(30, 64, 2e-3)},
              smoke={"d_model": 16, "n_heads": 2, "n_layers": 1}),
    ModelSpec("rbm", "energy-based", "rbm", "digits",
              {"n_components": 16, "max_epochs": 10}, {"n_components": 20, "max_epochs": 30},
              {"quick": "fit", "full": "fit", "smoke": "fit"}, "exact log Z (2^H hidden states)",
              {"n_components": 16, "max_epochs": 3}),
    ModelSpec("bm-bas", "energy-based", "bm", "bars-stripes4",
              {"max_epochs": 15}, {"max_epochs": 100},
              {"quick": "fit", "full": "fit", "smoke": "fit"}, "exact log Z (2^16 states)",
              {"max_epochs": 1}),
    ModelSpec("nice", "flow", "nice", "digits",
              {"n_couplings": 4, "hidden": 32}, {"n_couplings": 4, "hidden": 128},
              {"smoke": _tr(1, 128), "quick": _tr(50, 64, 1e-3), "full": _full(100, 64, 1e-3)},
              "dequantized: NLL is an upper bound"),
    ModelSpec("realnvp", "flow", "realnvp", "digits",
              {"n_couplings": 4, "hidden": 32, "mode": "vector"},
              {"n_couplings": 6, "hidden": 128, "mode": "vector"},
              {"smoke": _tr(1, 128), "quick": _tr(50, 64, 1e-3), "full": _full(100, 64, 1e-3)},
              "dequantized: NLL is an upper bound"),
    ModelSpec("glow", "flow", "glow", "digits",
              {"n_steps": 2, "hidden": 16, "n_scales": 1}, {"n_steps": 3, "hidden": 32},
              {"smoke": _tr(1, 128), "quick": _tr(30, 64, 1e-3), "full": _full(60, 64, 1e-3)},
              "dequantized: NLL is an upper bound"),
    ModelSpec("made-ring8", "autoregressive (continuous)", "made-continuous", "ring8",
              {"hidden_sizes": [32, 32]}, {"hidden_sizes": [64, 64]},
              {"smoke": _tr(1, 256, 3e-3), "quick": _tr(40, 128, 3e-3),
               "full": _full(80, 128, 1e-3)},
              "mixture-of-Gaussians conditionals"),
    ModelSpec("ebm-ring8", "energy-based", "ebm", "ring8",
              {"hidden": [32, 32], "max_epochs": 31, "n_steps": 15, "grid_size": 100},
              {"hidden": [64, 64], "max_epochs": 25, "n_steps": 20},
              {"quick": "fit", "full": "fit", "smoke": "fit"},
              "Langevin negatives; Z on a grid",
              {"hidden": [32, 32], "max_epochs": 75, "n_steps": 15, "grid_size": 100}),
    ModelSpec("realnvp-ring8", "flow", "realnvp", "ring8",
              {"n_couplings": 4, "hidden": 32}, {"n_couplings": 6, "hidden": 32},
              {"smoke": _tr(1, 256, 3e-3), "quick": _tr(50, 128, 3e-3),
               "full": _full(100, 128, 2e-3)}),
]
_FULL_ONLY = [
    ModelSpec("nice-ring8", "flow", "nice", "ring8", {}, {"n_couplings": 6, "hidden": 32},
              {"full": _full(60, 128, 2e-3)}),
    ModelSpec("glow-ring8", "flow", "glow", "ring8", {}, {"n_steps": 6, "hidden": 32},
              {"full": _full(60, 128, 2e-3)}),
    ModelSpec("gated-pixelcnn", "autoregressive", "gated-pixelcnn", "digits", {},
              {"n_channels": 32, "n_layers": 4}, {"full": _full(40, 64, 2e-3)}),
    ModelSpec("diagonal-bilstm", "autoregressive (PixelRNN)", "diagonal-bilstm", "digits", {},
              {"n_channels": 16, "hidden_size": 16}, {"full": _full(30, 64, 2e-3)}),
]

MODES = ("smoke", "quick", "full")
_SIZES = {"smoke": dict(n_sample=16, toy_n=(1500, 500), sub=300),
          "quick": dict(n_sample=64, toy_n=(4000, 1000), sub=None),
          "full": dict(n_sample=256, toy_n=(10000, 2000), sub=None)}


# ------------------------------------------------------------------ helpers
def _data(name, mode, data_seed=0):
    """Train/valid/test arrays and the *test* split's info (the reported numbers are on it)."""
    sz = _SIZES[mode]
    if name == "ring8":
        ntr, nte = sz["toy_n"]
        Xtr = load_dataset(name, "train", n_samples=ntr, seed=data_seed)
        Xva = load_dataset(name, "valid", n_samples=nte // 2, seed=data_seed)
        Xte, info = load_dataset(name, "test", n_samples=nte, seed=data_seed, return_info=True)
    else:
        Xtr = load_dataset(name, "train", seed=data_seed)
        Xva = load_dataset(name, "valid", seed=data_seed)
        Xte, info = load_dataset(name, "test", seed=data_seed, return_info=True)
    if sz["sub"] and len(Xtr) > sz["sub"]:
        Xtr = Xtr[: sz["sub"]]
    return Xtr, Xva, Xte, info


def _protocol(info, Xtr, Xva, Xte) -> str:
    """The loader's protocol string (test split) plus the split sizes this run used."""
    return (f"{info.protocol}; tour sizes train/valid/test = "
            f"{len(Xtr)}/{len(Xva)}/{len(Xte)}")


def _n_params(model) -> int:
    try:
        return int(sum(int(np.size(a)) for a in model.trainable_arrays().values()))
    except Exception:  # noqa: BLE001 - a count is best effort
        return -1


def _kl(model, data, Xte, nll_nats):
    """KL(p || q) to the truth where it is known, else ``None`` (with the method)."""
    if data == "ring8":
        lp = get_toy("ring8").log_prob(np.asarray(Xte, dtype=np.float64))
        return float(lp.mean()) + nll_nats, "E_test[log p - log q]"
    if data == "bars-stripes4":
        P = bars_and_stripes(4).reshape(-1, 16).astype(np.float64)
        lq = to_numpy(model.score_samples(P)).astype(np.float64)
        return float(-math.log(len(P)) - lq.mean()), "exact over the 30 patterns"
    return None, "truth unknown"


def _time_sampling(model, n, seed):
    to_numpy(model.sample(2, random_state=seed))  # warm-up: compile / cache loads
    t0 = time.perf_counter()
    S = to_numpy(model.sample(n, random_state=seed))
    dt = time.perf_counter() - t0
    return S, n / max(dt, 1e-9), dt


def _best_seconds(fn, repeats: int = 7) -> float:
    """Fastest wall time of ``fn()`` over ``repeats`` calls, after one warm-up call (the
    least disturbed by other load on a shared machine)."""
    fn()
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return float(np.min(runs))


def _fig(path, draw):
    fig, ax = new_figure(figsize=(5, 3.5))
    draw(ax)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    return path


def _run_one(spec: ModelSpec, mode: str, out: Path, seed: int, verbose: bool) -> dict:
    cls = get_model_class(spec.model)
    params = dict(spec.full if mode == "full" else
                  spec.smoke if (mode == "smoke" and spec.smoke is not None) else spec.quick)
    if "random_state" in inspect.signature(cls.__init__).parameters:
        params["random_state"] = seed
    model = cls(**params)
    Xtr, Xva, Xte, info = _data(spec.data, mode)
    if not getattr(cls, "accepts_images", False):
        Xtr, Xva, Xte = (X.reshape(len(X), -1) for X in (Xtr, Xva, Xte))
    protocol = _protocol(info, Xtr, Xva, Xte)
    how = spec.train.get(mode, spec.train.get("quick"))
    xp_asarray = get_backend().asarray
    t0 = time.perf_counter()
    history = None
    if how == "fit":
        model.fit(xp_asarray(Xtr))
    else:
        history = train(model, xp_asarray(Xtr), X_valid=xp_asarray(Xva), random_state=seed,
                        verbose=verbose, **how)
    train_time = time.perf_counter() - t0
    nll = float(-np.mean(to_numpy(model.score_samples(xp_asarray(Xte)))))
    kl, kl_how = _kl(model, spec.data, Xte, nll)
    n = _SIZES[mode]["n_sample"]
    S, rate, _ = _time_sampling(model, n, seed)
    ckpt = model.save(out / "models" / f"{spec.key}.npz", dataset=spec.data,
                      protocol=protocol, seed=seed, tour_mode=mode, tour_key=spec.key)
    row = {"key": spec.key, "family": spec.family, "model": spec.model, "data": spec.data,
           "protocol": protocol, "checkpoint": str(ckpt), "status": "ok", "nll_nats": nll,
           "bits_per_dim": float(nats_to_bits_per_dim(nll, info.n_dims)),
           "kl": kl, "kl_method": kl_how, "train_time_s": train_time,
           "samples_per_s": rate, "n_params": _n_params(model), "note": spec.note,
           "params": model.checkpoint_metadata()["params"],  # the settings actually used
           "images": {}, "history": history.to_dict() if history is not None else None}
    img = out / "img"
    if spec.data == "ring8":
        S2 = S.reshape(len(S), 2)
        row["images"]["density"] = str(img / f"{spec.key}_density.png")
        density_2d(model.score_samples, img / f"{spec.key}_density.png",
                   extent=(-3, 3, -3, 3), samples=S2, resolution=80)
    else:
        side = int(round(math.sqrt(S[0].size)))
        row["images"]["samples"] = str(img / f"{spec.key}_samples.png")
        sample_grid(S.reshape(len(S), side, side), img / f"{spec.key}_samples.png")
    if history is not None and len(history.train_loss) > 0:
        row["images"]["curve"] = str(img / f"{spec.key}_curve.png")
        training_curves(history, img / f"{spec.key}_curve.png")
    elif getattr(model, "loss_curve_", None):
        lc = [float(v) for v in model.loss_curve_]
        row["images"]["curve"] = str(_fig(img / f"{spec.key}_curve.png", lambda ax: (
            ax.plot(lc), ax.set_xlabel("iteration"), ax.set_ylabel("contrastive loss"))))
    return row


# ------------------------------------------------------------------ experiments
def _run_entry(spec, mode, out, seed, verbose, backend) -> dict:
    """One table row (a task: the family's training in whatever process runs it); a family
    that raises becomes a failed row, the tour goes on."""
    try:
        with use_backend(backend):
            return _run_one(spec, mode, Path(out), seed, verbose=verbose)
    except Exception as exc:  # noqa: BLE001 - one family failing is reported, not fatal
        return {"key": spec.key, "family": spec.family, "model": spec.model, "data": spec.data,
                "status": "failed", "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=6)}


def _mark_under_trained(results) -> None:
    """Flag models that trail the factorized baseline on the same data: their budget in
    this mode was too small to say anything about the family."""
    base = {r["data"]: r["nll_nats"] for r in results
            if r["status"] == "ok" and r["model"].startswith("baseline")}
    for r in results:
        b = base.get(r["data"])
        if r["status"] == "ok" and b is not None and not r["model"].startswith("baseline") \
                and r["nll_nats"] > b:
            flag = (f"under-trained in this mode: trails the factorized baseline "
                    f"({r['nll_nats']:.2f} vs {b:.2f} nats)")
            r["note"] = f"{r['note']}; {flag}" if r["note"] else flag
            r["under_trained"] = True


def fashion_samples(out: Path, mode: str, seed: int, verbose: bool) -> dict:
    """28x28 samples: a MADE on binarized Fashion-MNIST, when its IDX files are on disk."""
    if mode == "smoke":
        return {"available": False, "note": "not in smoke mode"}
    try:
        X = load_dataset("fashion-mnist", "train", binarize=0.5)
        Xte, info = load_dataset("fashion-mnist", "test", binarize=0.5, return_info=True)
    except FileNotFoundError as exc:
        return {"available": False, "note": str(exc)}
    n, epochs = (5000, 3) if mode == "quick" else (20000, 10)
    X, Xte = X[:n], Xte[:2000]
    t0 = time.perf_counter()
    made = MADE(hidden_sizes=(256,), max_epochs=epochs, learning_rate=3e-3, batch_size=128,
                random_state=seed, verbose=verbose).fit(X)
    dt = time.perf_counter() - t0
    base = FactorizedBernoulli().fit(X)
    img = out / "img" / "fashion_made_samples.png"
    sample_grid_28(made.sample(36, random_state=seed), img)
    return {"available": True, "n_train": n, "epochs": epochs, "train_time_s": dt,
            "made_nll": made.nll(Xte), "baseline_nll": base.nll(Xte), "image": str(img),
            "protocol": info.protocol + f"; first {n} training and 2,000 test images"}


def sample_grid_28(S, path):
    sample_grid(S.reshape(len(S), 28, 28), path, nrow=6)


def gibbs_burn_in(out: Path, mode: str, seed: int) -> dict:
    """Exact TV distance between the chains' state distribution and p, vs sweeps."""
    n_units = 8
    rng = np.random.default_rng(seed)
    J = rng.normal(0, 0.6, (n_units, n_units))
    J = np.triu(J, 1)
    J = J + J.T
    h = rng.normal(0, 0.3, n_units)
    with use_backend("numpy"):  # the enumerated ground truth lives on the host
        p = np.asarray(exact_probabilities(J, h))
    n_chains = 2000 if mode == "smoke" else 5000
    sweeps = [0, 1, 2, 3, 5, 8, 12, 20]
    be = get_backend()  # the chains run on the active backend's Gibbs kernel
    Jd, hd = be.asarray(J), be.asarray(h)
    x = be.asarray(np.zeros((n_chains, n_units)))  # every chain starts in the all-zero state
    tvs, floor = [], []
    done = 0
    for s in sweeps:
        if s > done:
            u = be.asarray(uniforms(rng, (s - done, n_chains, n_units), dtype=np.float64))
            x = bm_gibbs_sweep(x, Jd, hd, n_sweeps=s - done, uniforms=u)
            done = s
        tvs.append(float(tv_distance(empirical_distribution(to_numpy(x), n_units), p)))
    # the TV of n_chains exact draws from p: the noise floor of the estimate
    idx = rng.choice(p.size, size=n_chains, p=p / p.sum())
    floor = float(0.5 * np.abs(np.bincount(idx, minlength=p.size) / n_chains - p).sum())
    path = _fig(out / "img" / "gibbs_burn_in.png", lambda ax: (
        ax.plot(sweeps, tvs, "o-", label="Gibbs chains"),
        ax.axhline(floor, color="gray", ls="--", label=f"{n_chains} exact draws"),
        ax.set_xlabel("single-site sweeps"), ax.set_ylabel("TV distance to exact p"),
        ax.set_yscale("log"), ax.legend()))
    return {"n_units": n_units, "n_chains": n_chains, "sweeps": sweeps, "tv": tvs,
            "tv_floor": floor, "image": str(path)}


def scheduled_sampling(out: Path, mode: str, seed: int, verbose: bool) -> dict:
    """Row LSTM trained with teacher forcing and with scheduled sampling, same seed."""
    cls = get_model_class("row-lstm")
    Xtr, Xva, Xte, info = _data("digits", mode)
    epochs = {"smoke": 1, "quick": 2, "full": 10}[mode]
    rows = []
    for label, ss in (("teacher forcing", None), ("scheduled sampling (p_max=0.5)", 0.5)):
        m = cls(n_channels=8, hidden_size=8, scheduled_sampling=ss,
                scheduled_sampling_epochs=max(1, epochs // 2))
        t0 = time.perf_counter()
        train(m, Xtr, X_valid=Xva, max_epochs=epochs, batch_size=64, learning_rate=3e-3,
              random_state=seed,
              verbose=verbose)
        dt = time.perf_counter() - t0
        nll = float(-np.mean(to_numpy(m.score_samples(Xte))))
        S = to_numpy(m.sample(16, random_state=seed))
        # how "data-like" the free-running samples are: their mean NLL under the model
        s_nll = float(-np.mean(to_numpy(m.score_samples(S))))
        name = "tf" if ss is None else "ss"
        img = out / "img" / f"ss_{name}_samples.png"
        sample_grid(S.reshape(len(S), 8, 8), img)
        rows.append({"method": label, "test_nll": nll, "sample_nll": s_nll,
                     "train_time_s": dt, "image": str(img)})
    return {"available": True, "epochs": epochs, "rows": rows,
            "protocol": _protocol(info, Xtr, Xva, Xte)}


def seed_claims(out: Path, mode: str, seed: int, results: list[dict]) -> dict:
    """Check the claims with timings measured now."""
    claims = {"ar_linear": _claim_ar_linear(out, mode, seed)}
    flows = _claim_flows_fastest(results)
    if flows is not None:
        claims["flows_fastest"] = flows
    claims["ebm_mcmc"] = _claim_ebm_mcmc(out, mode, seed, results)
    return claims


def _made_sampling_seconds(dims, n, seed) -> tuple[list, list]:
    """Seconds for ``n`` samples of a one-layer MADE per ``D`` in ``dims``: the
    incremental sampler (the first layer's pre-activations updated one position at a
    time) and the recomputing one (a full network pass per position: quadratic in D)."""
    rng = np.random.default_rng(seed)
    inc, full = [], []
    for d in dims:
        X = (rng.random((128, d)) < 0.3).astype(np.float64)
        m = MADE(hidden_sizes=[128], max_epochs=1, batch_size=128, random_state=seed,
                 verbose=False).fit(X)
        inc.append(_best_seconds(lambda m=m: m.sample(n, random_state=seed)))
        full.append(_best_seconds(lambda m=m: m.sample(n, random_state=seed, use_cache=False)))
    return inc, full


def _claim_ar_linear(out: Path, mode: str, seed: int) -> dict:
    """Autoregressive sampling time grows linearly in D (MADE's incremental sampler)."""
    dims = [64, 256, 576, 1024] if mode != "smoke" else [16, 64, 144]
    n = 64
    inc, full = _made_sampling_seconds(dims, n, seed)
    e_inc, e_full = power_law_exponent(dims, inc), power_law_exponent(dims, full)
    path = _fig(out / "img" / "ar_sampling_vs_D.png", lambda ax: (
        ax.loglog(dims, inc, "o-", label=f"incremental (slope {e_inc:.2f})"),
        ax.loglog(dims, full, "s-", label=f"recomputing (slope {e_full:.2f})"),
        ax.loglog(dims, [inc[-1] * d / dims[-1] for d in dims], "--", color="gray",
                  label="linear in D"),
        ax.set_xlabel("dimensions D"), ax.set_ylabel(f"seconds for {n} samples"),
        ax.legend()))
    how = (f"MADE (one hidden layer of 128), {n} samples, fastest of 7 after a warm-up, "
           f"D = {dims}; least-squares slope of log time on log D")
    return {
        "dims": dims, "incremental_s": inc, "recomputing_s": full, "image": str(path),
        "checks": [
            check("Autoregressive sampling time grows linearly in D (incremental "
                  "sampler): slope at least 0.7", e_inc, ">=", 0.7, how),
            check("... and at most 1.3", e_inc, "<=", 1.3, how),
            check(f"Updating the first layer incrementally beats recomputing the network "
                  f"at every step (D = {dims[-1]})", full[-1] / inc[-1], ">=", 2.0,
                  f"recomputing over incremental sampler time at D = {dims[-1]}; its "
                  "FLOPs grow as D^2, but per-step overhead dominates at these sizes "
                  f"(log-log slope {e_full:.2f})")]}


def _digits_rows(results, family) -> list[dict]:
    """The table's trained digits models whose family starts with ``family``."""
    return [r for r in results if r["status"] == "ok" and r["data"] == "digits"
            and r["family"].startswith(family)]


def _claim_flows_fastest(results) -> dict | None:
    """Flows sample fastest (the digits models of this run); None without a flow and an
    autoregressive model in the table."""
    flows, ar = _digits_rows(results, "flow"), _digits_rows(results, "autoregressive")
    if not (flows and ar):
        return None

    def rate(r):
        return r["samples_per_s"]

    bf, ba = max(flows, key=rate), max(ar, key=rate)
    return {
        "best_flow": bf["key"], "flow_rate": bf["samples_per_s"],
        "best_ar": ba["key"], "ar_rate": ba["samples_per_s"],
        "slowest_flow_rate": min(r["samples_per_s"] for r in flows),
        "checks": [check(
            "Flows sample faster than autoregressive models (one inverse pass instead of "
            "D sequential ones)", bf["samples_per_s"] / ba["samples_per_s"], ">", 1.0,
            f"samples/s of the fastest flow ({bf['key']}) over the fastest autoregressive "
            f"model ({ba['key']}) in the table above, after a warm-up")]}


def _tour_rbm(results, Xtr, seed):
    """The RBM of the table (reloaded from its checkpoint), else a 3-epoch one."""
    row = next((r for r in results if r["key"] == "rbm" and r["status"] == "ok"), None)
    if row is not None:
        return load(row["checkpoint"]), "the table's rbm"
    m = get_model_class("rbm")(n_components=16, max_epochs=3, random_state=seed,
                              verbose=False).fit(Xtr.reshape(len(Xtr), -1))
    return m, "a 3-epoch RBM (the table's did not run)"


def _mean_log_q(m, S) -> float:
    return float(np.mean(to_numpy(m.score_samples(S))))


def _claim_ebm_mcmc(out: Path, mode: str, seed: int, results) -> dict:
    """EBMs need MCMC: the RBM's Gibbs samples approach exact samples' mean log q."""
    Xtr, Xva, Xte, info = _data("digits", mode)
    m, which = _tour_rbm(results, Xtr, seed)
    steps = [1, 10, 100, 1000]
    ll, secs = [], []
    for k in steps:
        t0 = time.perf_counter()
        S = to_numpy(m.sample(64, random_state=seed, n_steps=k))
        secs.append(time.perf_counter() - t0)
        ll.append(_mean_log_q(m, S))
    data_ll = _mean_log_q(m, Xte.reshape(len(Xte), -1))
    # a chain's target is E_q[log q] = -H(q) of exact samples (test data sit lower, by
    # KL(p || q)): with 16 hidden units q(h) is enumerable, so draw and score exact ones
    exact_ll = _mean_log_q(m, m.sample(1024, random_state=seed, method="exact"))
    path = _fig(out / "img" / "rbm_steps.png", lambda ax: (
        ax.semilogx(steps, ll, "o-", label="Gibbs samples"),
        ax.axhline(exact_ll, color="black", ls="-", label="exact samples"),
        ax.axhline(data_ll, color="gray", ls="--", label="test data"),
        ax.set_xlabel("Gibbs steps from random start"),
        ax.set_ylabel("mean log q(x) (nats)"), ax.legend()))
    gap0, gap1 = abs(ll[0] - exact_ll), abs(ll[-1] - exact_ll)
    return {
        "steps": steps, "log_q": ll, "seconds": secs, "data_log_q": data_ll,
        "exact_log_q": exact_ll, "image": str(path), "rbm": which,
        "protocol": _protocol(info, Xtr, Xva, Xte),
        "ebm_rates": {r["key"]: r["samples_per_s"] for r in results
                      if r["status"] == "ok" and r["data"] == "digits"
                      and r["family"] == "energy-based"},
        "checks": [check(
            "An RBM's samples need MCMC: 1000 Gibbs steps close at least half of the "
            "1-step gap to exact samples' mean log q", gap1 / max(gap0, 1e-12), "<=", 0.5,
            f"|mean log q(samples) - mean log q(exact samples)| after {steps[-1]} steps, "
            f"over the same after {steps[0]}")]}


# ------------------------------------------------------------------ driver
def run_tour(out="runs/tour", mode: str = "quick", seed: int = 0, backend=None,
             verbose: bool = True, only=None, executor=None) -> dict:
    """Run the tour and write its outputs into ``out``; return the results.

    Writes ``report.md`` (+ PNGs in ``img/``), ``report.html`` (self-contained),
    ``results.json`` (everything), ``metrics.json`` (per model: test NLL in nats and
    bits/dim, dataset and protocol, training time, samples/s, checkpoint) and one
    checkpoint per trained model, ``models/<key>.npz`` (load with
    ``minigen.models.load(path)``).

    Parameters
    ----------
    out : path
    mode : {"smoke", "quick", "full"}
        ``smoke`` is the tests' tiny variant; ``quick`` < 5 minutes on 2 cores.
    seed : int
    backend : str, optional
        ``numpy`` | ``numba`` | ``cupy`` | ``auto``.
    only : list of str, optional
        Keys of :data:`SPECS` to run (default all).
    executor : concurrent.futures.Executor, optional
        Trains the families on it, one task each (:mod:`minigen.parallel`; e.g. a Dask
        cluster's executor); ``out`` must be a folder the workers can write. The table's
        numbers other than timings are bit-identical to the serial run.
    """
    specs = _selected_specs(mode, seed, only)
    be = set_backend(backend) if backend else get_backend()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    warm = 0.0
    if be.name == "numba":  # compile every kernel now, so that no timing below includes it
        warm_up()
        warm = time.perf_counter() - t_start
    results = _train_families(specs, mode, out, seed, verbose, be.name, executor)
    _mark_under_trained(results)
    extras = _experiments(out, mode, seed, verbose, results, only)
    meta = {"mode": mode, "seed": seed, "backend": be.name, "minigen_version": __version__,
            "python": platform.python_version(), "machine": platform.machine(),
            "processor": platform.processor() or platform.machine(),
            "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
            "warm_up_s": warm, "total_time_s": time.perf_counter() - t_start}
    res = {"meta": meta, "results": results, "extras": extras}
    res["paths"] = write_reports(res, out)
    return res


def _selected_specs(mode, seed, only) -> list[ModelSpec]:
    """The entries of ``mode`` (``only``: those keys), after checking the arguments."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    specs = list(SPECS) + (list(_FULL_ONLY) if mode == "full" else [])
    if only:
        unknown = set(only) - {s.key for s in specs}
        if unknown:
            raise ValueError(f"unknown tour entries {sorted(unknown)}; "
                             f"choose from {[s.key for s in specs]}")
        specs = [s for s in specs if s.key in only]
    return specs


def _train_families(specs, mode, out, seed, verbose, backend, executor) -> list[dict]:
    """One table row per entry, in table order, serially or one task each on ``executor``
    (the same rows either way)."""
    if executor is not None:
        return map_ordered(executor, _run_entry,
                           [(spec, mode, out, seed, False, backend) for spec in specs])
    results = []
    bar = progress(len(specs), f"tour ({mode})", verbose, unit="model")
    for spec in specs:
        bar.set_postfix(model=spec.key)
        results.append(_run_entry(spec, mode, out, seed, verbose, backend))
        bar.update()
    bar.close()
    return results


def _experiments(out, mode, seed, verbose, results, only) -> dict:
    """The experiments after the table (only Gibbs burn-in with ``only``); one that
    raises is reported with its error and the tour goes on."""
    extras = {}
    for name, fn in (("gibbs", lambda: gibbs_burn_in(out, mode, seed)),
                     ("fashion", lambda: fashion_samples(out, mode, seed, verbose)),
                     ("scheduled_sampling", lambda: scheduled_sampling(out, mode, seed, verbose)),
                     ("claims", lambda: seed_claims(out, mode, seed, results))):
        if only and name != "gibbs":
            continue
        try:
            extras[name] = fn()
        except Exception as exc:  # noqa: BLE001
            extras[name] = {"error": f"{type(exc).__name__}: {exc}",
                            "traceback": traceback.format_exc(limit=6)}
    return extras


def main(args) -> int:
    """CLI entry: ``minigen tour [--quick | --smoke] [--backend B] [--out DIR] [--seed S]``."""
    mode = "smoke" if args.smoke else ("quick" if args.quick else "full")
    client, executor = None, None
    if getattr(args, "workers", None) or getattr(args, "scheduler", None):
        client, executor = connect(workers=args.workers, scheduler=args.scheduler)
    try:
        res = run_tour(args.out, mode=mode, seed=args.seed, backend=args.backend,
                       verbose=not args.quiet, executor=executor)
    finally:
        if client is not None:
            client.close()
    bad = [r for r in res["results"] if r["status"] == "failed"]
    print(f"tour ({mode}) done in {res['meta']['total_time_s']:.1f} s: "
          f"{len(res['results']) - len(bad)} ok, {len(bad)} failed")
    for r in bad:
        print(f"  failed {r['key']}: {r['error']}")
    bad_extras = [k for k, v in res["extras"].items() if isinstance(v, dict) and "error" in v]
    for k in bad_extras:
        print(f"  failed experiment {k}: {res['extras'][k]['error']}")
    print(f"wrote {res['paths']['md']}, {res['paths']['html']}, {res['paths']['metrics']} "
          f"and checkpoints in {Path(args.out) / 'models'}")
    if bad or bad_extras:
        names = [r["key"] for r in bad] + bad_extras
        print(f"minigen tour: error: {len(names)} failed ({', '.join(names)})",
              file=sys.stderr)
        return 1
    return 0
