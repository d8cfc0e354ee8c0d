"""Command line: ``minigen info | train | sample | eval | bench | tour``.

Models come from the registry in :mod:`minigen.base` (``get_model_class``), datasets
from :func:`minigen.datasets.load_dataset`; a family that registers a model is
trainable from here with no change to this file. Data reach the model as flat
``(n, D)`` rows unless the model class sets ``accepts_images = True`` (then as
``(n, H, W[, C])``). Gradient-trained models are driven by
:func:`minigen.training.train`, closed-form ones by ``model.fit``.

Examples::

    minigen info
    minigen train baseline --data digits --out runs/baseline
    minigen sample runs/baseline/model.npz -n 64 --out samples.png --seed 0
    minigen eval runs/baseline/model.npz --data digits --split test
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import __version__

__all__ = ["main", "build_parser"]


class CLIError(Exception):
    """A user error reported as one line, exit status 2."""


# ------------------------------------------------------------------ helpers
def _parse_params(items) -> dict:
    out = {}
    for item in items or ():
        if "=" not in item:
            raise CLIError(f"--param expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def _set_backend(name):
    from .backend import get_backend, set_backend

    return set_backend(name) if name else get_backend()


def _load_split(name, split, seed):
    from .datasets import load_dataset

    return load_dataset(name, split, seed=seed, return_info=True)


def _nll(model, X, n_dims) -> dict:
    from .backend import get_backend
    from .divergences import nats_to_bits_per_dim

    nats = -model.score(get_backend().asarray(X))
    return {"nats": nats, "bits_per_dim": nats_to_bits_per_dim(nats, n_dims)}


def _write_samples_png(model, path, n, seed, is_2d) -> Path | None:
    from .backend import to_numpy
    from .plot import density_2d, sample_grid

    try:
        S = to_numpy(model.sample(n, random_state=seed))
    except NotImplementedError:
        return None
    if is_2d or (S.ndim == 2 and S.shape[1] == 2):
        lo, hi = S.min(axis=0) - 0.5, S.max(axis=0) + 0.5
        extent = (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))
        return density_2d(model.score_samples, path, extent=extent, samples=S)
    return sample_grid(S, path)


# ------------------------------------------------------------------ commands
def cmd_info(args) -> int:
    from .backend import backend_info, get_backend

    print(f"minigen {__version__}")
    rows = backend_info()
    print(f"{'backend':<8} {'status':<12} {'version':<10} details")
    for r in rows:
        status = ("active" if r["active"] else "available") if r["available"] else "unavailable"
        details = ", ".join(f"{k}={v}" for k, v in r["details"].items())
        text = details if r["available"] else r["reason"]
        print(f"{r['name']:<8} {status:<12} {r['version'] or '-':<10} {text}")
    numba_row = next(r for r in rows if r["name"] == "numba")
    threads = numba_row["details"].get("threads")
    print(f"numba threads: {threads if threads is not None else 'n/a (numba unavailable)'}")
    # the table never raises; a bad MINIGEN_BACKEND (unknown or unavailable) is an error
    # here too, with the same message the first model would raise (exit status 2)
    get_backend()
    if args.warm:
        try:
            from .kernels import warm_up  # provided by the kernels package when it exists
        except ImportError:
            print("kernel warm-up: not available yet")
            return 0
        print("kernel warm-up (Numba compile or cache load):")
        t0 = time.perf_counter()
        try:
            warm_up(verbose=True)
            _warm_optim()
        except RuntimeError as exc:  # numba unavailable: say why, not a failure of `info`
            print(f"kernel warm-up skipped: {exc}")
            return 0
        print(f"kernel warm-up: done in {time.perf_counter() - t0:.1f} s")
    return 0


def _warm_optim() -> None:
    import numpy as np

    from . import _optim_numba as k

    t0 = time.perf_counter()
    for dt in (np.float32, np.float64):
        a = [np.zeros(4, dt) for _ in range(4)]
        f = np.dtype(dt).type
        k.adam_update(*a, *(f(x) for x in (0.9, 0.1, 0.999, 0.001, 1.0, 1e-8, 1.0, 0.0, 1.0)))
        k.sgd_momentum_update(*a[:3], f(0.9), f(0.1), f(0.0), True, False)
    print(f"  optim: {time.perf_counter() - t0:.2f} s")


def cmd_train(args) -> int:
    from .base import get_model_class
    from .training import is_gradient_trained, train

    backend = _set_backend(args.backend)
    cls = get_model_class(args.model)
    try:
        model = cls(**_parse_params(args.param))
    except TypeError as exc:
        raise CLIError(f"bad --param for model {args.model!r}: {exc}") from None
    Xtr, info = _load_split(args.data, "train", args.data_seed)
    Xva, _ = _load_split(args.data, "valid", args.data_seed)
    Xte, _ = _load_split(args.data, "test", args.data_seed)
    if not getattr(cls, "accepts_images", False):  # flat (n, D) rows unless the model opts in
        Xtr, Xva, Xte = (X.reshape(len(X), -1) for X in (Xtr, Xva, Xte))
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # e.g. --out names an existing file: one line, not a traceback
        raise CLIError(f"--out {str(out)!r} cannot be used as the output directory: "
                       f"{exc.strerror or exc}") from None
    gradient = is_gradient_trained(model) and not args.model_fit
    t0 = time.perf_counter()
    if args.model_fit:  # the model's own fit(X) with its own hyper-parameters
        model.fit(Xtr)
        history = None
    else:
        history = train(
            model,
            Xtr,
            X_valid=Xva,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            lr_schedule=args.lr_schedule,
            optimizer=args.optimizer,
            early_stopping_patience=args.patience,
            checkpoint_dir=out if gradient else None,
            resume_from=(out / "checkpoint.npz") if args.resume else None,
            random_state=args.seed,
            verbose=not args.quiet,
        )
    train_time = time.perf_counter() - t0
    model_path = model.save(out / "model.npz", dataset=args.data, protocol=info.protocol,
                            seed=args.seed)
    metrics = {
        "model": args.model,
        "params": model.get_params(),
        "dataset": args.data,
        "protocol": info.protocol,
        "n_dims": info.n_dims,
        "seed": args.seed,
        "data_seed": args.data_seed,
        "backend": backend.name,
        "minigen_version": __version__,
        "training": "model.fit" if args.model_fit else ("gradient" if gradient else "closed form"),
        "train_time_s": train_time,
        "nll": {s: _nll(model, X, info.n_dims)
                for s, X in (("train", Xtr), ("valid", Xva), ("test", Xte))},
        "history": history.to_dict() if history is not None else None,
    }
    png = None
    if not args.no_samples:
        try:
            png = _write_samples_png(model, out / "samples.png", 64, args.seed,
                                     tuple(info.shape) == (2,))
        except ImportError as exc:
            print(f"note: samples.png skipped ({exc})", file=sys.stderr)
    metrics["samples_png"] = str(png) if png else None
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n")
    t = metrics["nll"]["test"]
    print(f"{args.model} on {args.data}: test NLL {t['nats']:.4f} nats "
          f"({t['bits_per_dim']:.4f} bits/dim), trained in {train_time:.1f} s [{backend.name}]")
    print(f"wrote {model_path}, {out / 'metrics.json'}" + (f", {png}" if png else ""))
    return 0


def cmd_sample(args) -> int:
    import numpy as np

    from .backend import to_numpy
    from .base import GenerativeModel
    from .plot import sample_grid

    _set_backend(args.backend)
    model = GenerativeModel.load(args.checkpoint)
    S = to_numpy(model.sample(args.n, random_state=args.seed))
    out = Path(args.out)
    if out.suffix == ".npy":
        out.parent.mkdir(parents=True, exist_ok=True)
        np.save(out, S)
    else:
        sample_grid(S, out, nrow=args.nrow)
    print(f"wrote {args.n} samples to {out}")
    return 0


def cmd_eval(args) -> int:
    from .base import GenerativeModel

    backend = _set_backend(args.backend)
    model = GenerativeModel.load(args.checkpoint)
    X, info = _load_split(args.data, args.split, args.data_seed)
    res = {"checkpoint": str(args.checkpoint), "dataset": args.data, "split": args.split,
           "protocol": info.protocol, "backend": backend.name, "n": int(len(X)),
           **{f"nll_{k}": v for k, v in _nll(model, X, info.n_dims).items()}}
    print(json.dumps(res, indent=2))
    return 0


def cmd_bench(args) -> int:
    try:
        from . import bench_cli
    except ImportError:
        print("minigen bench: not available yet (minigen.bench_cli is missing)")
        return 1
    return int(bench_cli.main(args.bench_args) or 0)


# ------------------------------------------------------------------ parser
def _add_bench_parser(subparsers) -> None:
    """``minigen bench [ARGS...]``: the rest of the line goes to ``minigen.bench_cli.main``."""
    p = subparsers.add_parser("bench", help="kernel benchmarks (see `minigen bench --help`)",
                              add_help=False)
    p.add_argument("bench_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_bench)


def _add_tour_parser(subparsers) -> None:
    """``minigen tour``: one model per family, report.html + report.md (``minigen.tour``)."""
    p = subparsers.add_parser("tour", help="train one model per family and write a report")
    p.add_argument("--quick", action="store_true", help="tiny budgets (< 5 min on 2 cores)")
    p.add_argument("--smoke", action="store_true", help="even tinier (for the tests)")
    p.add_argument("--backend", choices=["numpy", "numba", "cupy", "auto"], default=None)
    p.add_argument("--out", default="runs/tour", help="output folder (default runs/tour)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=lambda args: __import__("minigen.tour", fromlist=["main"]).main(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minigen", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"minigen {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("info", help="version, backends and why one is unavailable")
    p.add_argument("--warm", action="store_true", help="compile/warm the kernels up")
    p.set_defaults(func=cmd_info)

    def common(p):
        p.add_argument("--backend", choices=["numpy", "numba", "cupy", "auto"], default=None)
        p.add_argument("--data-seed", type=int, default=0,
                       help="seed of the dataset protocol (synthetic draws, binarization)")

    p = sub.add_parser("train", help="train a registered model on a dataset")
    p.add_argument("model", help="registered model name, e.g. baseline")
    p.add_argument("--data", required=True, help="dataset name, e.g. digits")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-schedule", choices=["constant", "cosine"], default="constant",
                   help="constant, or cosine decay to 0 over all epochs")
    p.add_argument("--optimizer", default="adam", help="adam | adamw | sgd")
    p.add_argument("--patience", type=int, default=None, help="early-stopping patience")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="model hyper-parameter (JSON value), repeatable")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
    p.add_argument("--model-fit", action="store_true",
                   help="call the model's own fit(X) (its hyper-parameters, e.g. an RBM's "
                   "learning_rate / n_iter via --param) instead of minigen.training.train")
    p.add_argument("--no-samples", action="store_true", help="skip samples.png")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    common(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="draw samples from a checkpoint into a PNG (or .npy)")
    p.add_argument("checkpoint")
    p.add_argument("-n", type=int, default=64)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--nrow", type=int, default=None)
    common(p)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("eval", help="NLL of a checkpoint on a dataset split")
    p.add_argument("checkpoint")
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="test", choices=["train", "valid", "test"])
    common(p)
    p.set_defaults(func=cmd_eval)

    _add_bench_parser(sub)
    _add_tour_parser(sub)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``minigen`` console script; returns the exit status."""
    from .io import CheckpointError

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # argparse's REMAINDER drops a leading "--option"; pass all on
        return cmd_bench(argparse.Namespace(bench_args=argv[1:]))
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # e.g. `minigen info | head`
        return 0
    except (CLIError, CheckpointError, ValueError, RuntimeError, ImportError, TypeError,
            FileNotFoundError) as exc:
        print(f"minigen {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
