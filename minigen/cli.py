"""Command line: ``minigen info | train | sample | eval | bench | tour``.

Models come from the registry in :mod:`minigen.base` (``get_model_class``), datasets
from :func:`minigen.datasets.load_dataset`; a family that registers a model is
trainable from here with no change to this file. Data reach the model as flat
``(n, D)`` rows unless the model class sets ``accepts_images = True`` (then as
``(n, H, W[, C])``). Gradient-trained models are driven by
:func:`minigen.training.train`, closed-form ones by ``model.fit``. A ``train --out``
directory belongs to one run (:mod:`minigen.rundir`). Exit status: 0 success, 1 the
command ran and failed, 2 usage (:data:`EXIT_HELP`); errors are one line on stderr.

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
import textwrap
import time
from pathlib import Path

from . import __version__

__all__ = ["main", "build_parser"]


#: exit statuses (README, "Training, checkpoints, command line"; ``minigen --help``)
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_HELP = """exit status: 0 success; 1 the command ran and failed (a checkpoint that cannot be
read, training diverged, --out in use by another run, disk full, out of memory); 2 usage
(a bad option or --param, an unknown model or dataset, a missing input file, flags that
disagree with the run being resumed, an --out that holds a run without --resume or
--force). Errors are one line on stderr, never a traceback."""


class CLIError(Exception):
    """A user error reported as one line, exit status 2."""


# ------------------------------------------------------------------ helpers
def positive_int(text) -> int:
    """argparse ``type=``: an integer >= 1 (``--epochs``, ``--batch-size``, ``-n``, ...)."""
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` shows each option's default as ``(default: ...)``; not for required
    options and flags, nor for ``None`` (the help line then says what unset means)."""

    def _get_help_string(self, action):
        if action.required or action.default is None or action.default is False \
                or not action.option_strings:
            return action.help
        return super()._get_help_string(action)


class RawEpilogHelpFormatter(argparse.RawDescriptionHelpFormatter, HelpFormatter):
    """:class:`HelpFormatter`, with the epilog printed as written (wrapped beforehand, so
    that model names keep their hyphens whole)."""


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


def _data_options(args) -> dict:
    """How ``--data`` is read: the value options given (recorded with a run, so that
    ``eval`` and ``sample`` can read the same data again)."""
    opts = {"binarize": getattr(args, "binarize", None),
            "dequantize": bool(getattr(args, "dequantize", False)),
            "key": getattr(args, "data_key", None)}
    return {k: v for k, v in opts.items() if v not in (None, False)}


def _load_split(name, split, seed, options=None):
    from .datasets import load_dataset

    try:
        return load_dataset(name, split, seed=seed, return_info=True, **(options or {}))
    except FileNotFoundError as exc:  # a missing file or IDX folder: one line, exit 2
        raise CLIError(str(exc)) from None


def _model_input(model, X):
    """``X`` as the model takes it: flat ``(n, D)`` rows unless the model's class sets
    ``accepts_images = True`` (then as loaded, ``(n, H, W[, C])``). ``model`` may be
    the class or an instance; ``train`` and ``eval`` feed data through this."""
    cls = model if isinstance(model, type) else type(model)
    return X if getattr(cls, "accepts_images", False) else X.reshape(len(X), -1)


def _draw_samples(model, n, seed):
    from .backend import to_numpy

    return to_numpy(model.sample(n, random_state=seed))


def _write_samples_png(model, path, S, is_2d=False, nrow=None) -> Path:
    """Picture of samples ``S``: 2-D points as a scatter on the model's density
    (``density_2d``), anything else as an image grid (``sample_grid``). Used by
    ``train`` (samples.png) and ``sample``, so both draw the same picture."""
    from .plot import density_2d, sample_grid

    if is_2d or (S.ndim == 2 and S.shape[1] == 2):
        lo, hi = S.min(axis=0) - 0.5, S.max(axis=0) + 0.5
        extent = (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))
        density_2d(model.score_samples, path, extent=extent, samples=S)
    else:
        sample_grid(S, path, nrow=nrow)
    return Path(path)


_IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".pdf", ".svg")  # without matplotlib to ask


def _image_extensions() -> list[str]:
    """File extensions matplotlib can write (a fixed common list without matplotlib)."""
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        return list(_IMAGE_EXTS)
    return sorted("." + k for k in FigureCanvasBase.get_supported_filetypes())


def _check_sample_out(path) -> Path:
    """``sample --out``: ``.npy`` (the raw array) or an image format, else a CLIError."""
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix == ".npy":
        return out
    exts = _image_extensions()
    if suffix not in exts:
        what = f"extension {out.suffix!r}" if out.suffix else "no file extension"
        raise CLIError(
            f"--out {str(out)!r} has {what}; use .npy (the raw samples) or an image: "
            + ", ".join(exts)
        )
    return out


def _check_input_file(path) -> None:
    """A checkpoint (or run folder) named on the command line exists (else usage, exit 2;
    one that exists but cannot be read is a CheckpointError, exit 1)."""
    if not Path(path).exists():
        raise CLIError(f"checkpoint {str(path)!r} does not exist")


def _nll(model, X, n_dims) -> dict:
    from .backend import get_backend
    from .divergences import nats_to_bits_per_dim

    nats = -model.score(get_backend().asarray(X))
    return {"nats": nats, "bits_per_dim": nats_to_bits_per_dim(nats, n_dims)}


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
        except RuntimeError as exc:  # numba unavailable: say why, not a failure of `info`
            print(f"kernel warm-up skipped: {exc}")
            return 0
        print(f"kernel warm-up: done in {time.perf_counter() - t0:.1f} s")
    return 0


def _training_flags(args, model) -> dict:
    """The training flags given on the command line, as the model's hyper-parameters (a
    flag left out keeps the model's default; a model fitted in closed form takes none)."""
    from .training import is_gradient_trained

    flags = {"max_epochs": args.epochs, "batch_size": args.batch_size,
             "learning_rate": args.lr, "lr_schedule": args.lr_schedule,
             "optimizer": args.optimizer, "random_state": args.seed,
             "verbose": False if args.quiet else None}
    if args.patience is not None:
        flags.update(early_stopping=True, patience=args.patience)
    given = {k: v for k, v in flags.items() if v is not None}
    if not is_gradient_trained(model):
        ignored = sorted(f for f in ("epochs", "batch_size", "lr", "lr_schedule", "optimizer",
                                     "patience") if getattr(args, f) is not None)
        if ignored:
            raise CLIError(f"model {args.model!r} is fitted in closed form (no training "
                           f"loop): --{', --'.join(s.replace('_', '-') for s in ignored)} "
                           "would be ignored; leave them out")
        return {}
    return given


def cmd_train(args) -> int:
    from .models import get_model_class
    from .rundir import RunLock
    from .training import is_gradient_trained

    backend = _set_backend(args.backend)
    cls = get_model_class(args.model)
    try:
        model = cls(**_parse_params(args.param))
    except TypeError as exc:
        raise CLIError(f"bad --param for model {args.model!r}: {exc}") from None
    try:
        model.set_params(**_training_flags(args, model))
        model.validate_params()
    except (TypeError, ValueError) as exc:
        raise CLIError(f"model {args.model!r}: {exc}") from None
    gradient = is_gradient_trained(model)
    if args.resume and args.force:
        raise CLIError("--resume continues the run in --out and --force replaces it: "
                       "give one of them")
    if args.resume and not gradient:
        raise CLIError(f"model {args.model!r} is fitted in closed form (one pass over the "
                       "data, no epochs or checkpoint): there is nothing to resume; run "
                       "it again without --resume")
    try:  # before any work: a model that could not be scored afterwards would lose the run
        model.check_scorable()
    except ValueError as exc:
        raise CLIError(f"model {args.model!r}: {exc}; set it with --param NAME=VALUE") from None
    from .datasets.files import is_path

    if is_path(args.data):  # recorded absolute, so eval/sample work from any folder
        args.data = str(Path(args.data).resolve())
    data_opts = _data_options(args)
    Xtr, info = _load_split(args.data, "train", args.data_seed, data_opts)
    Xva, _ = _load_split(args.data, "valid", args.data_seed, data_opts)
    Xte, _ = _load_split(args.data, "test", args.data_seed, data_opts)
    Xtr, Xva, Xte = (_model_input(cls, X) for X in (Xtr, Xva, Xte))
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # e.g. --out names an existing file: one line, not a traceback
        raise CLIError(f"--out {str(out)!r} cannot be used as the output directory: "
                       f"{exc.strerror or exc}") from None
    with RunLock(out):  # one run per directory, released on exit or death
        resume_from = _claim_run_dir(out, args, model, data_opts)
        run_meta = {"dataset": args.data, "data_options": data_opts,
                    "data_seed": args.data_seed, "protocol": info.protocol}
        history = _train(model, Xtr, Xva, out if gradient else None, resume_from, run_meta)
        _write_run(out, args, model, backend, info, history, gradient, (Xtr, Xva, Xte),
                   data_opts)
    return 0


def _train(model, Xtr, Xva, checkpoint_dir, resume_from, run_meta):
    import numpy as np

    from .training import train

    # the divergence guard reports a blow-up in one line; numpy's overflow warnings on
    # the way there would only bury it
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return train(model, Xtr, X_valid=Xva, checkpoint_dir=checkpoint_dir,
                     resume_from=resume_from, metadata=run_meta)


#: training flags as the model's hyper-parameters, for resume mismatch messages
_FLAG_OF = {"max_epochs": "--epochs", "batch_size": "--batch-size", "learning_rate": "--lr",
            "lr_schedule": "--lr-schedule", "optimizer": "--optimizer",
            "random_state": "--seed", "patience": "--patience",
            "early_stopping": "--patience"}


def _claim_run_dir(out: Path, args, model, data_opts: dict):
    """Under the lock: what this run may do with ``out``. Returns the checkpoint to resume
    from, or None (a fresh run). A fresh run refuses a directory holding a run unless
    ``--force`` (which clears it); ``--resume`` checks the flags against the checkpoint."""
    from .io import Checkpoint
    from .rundir import clear_run, run_files

    present = run_files(out)
    ckpt_path = out / "checkpoint.npz"
    if args.resume:
        if ckpt_path.exists():
            _check_resume_flags(ckpt_path, Checkpoint.load(ckpt_path), args, model,
                                data_opts)
            return ckpt_path
        if present:
            raise CLIError(f"--out {str(out)!r} holds {', '.join(present)} but no "
                           "checkpoint.npz to resume; use --force to replace that run")
        print(f"note: no checkpoint in {str(out)!r} yet: starting a fresh run",
              file=sys.stderr)
        return None
    if present and not args.force:
        raise CLIError(f"--out {str(out)!r} already holds a run ({', '.join(present)}); "
                       "use --resume to continue it or --force to replace it")
    clear_run(out)
    return None


def _check_resume_flags(path, ckpt, args, model, data_opts: dict) -> None:
    """``--resume`` continues the same run: the data (and how it is read), its seed and
    every setting but ``--epochs`` and ``--quiet`` must be those the checkpoint records."""
    from .training import RESUME_MAY_CHANGE

    meta = ckpt.metadata
    diffs = []
    for key, flag, mine in (("dataset", "--data", args.data),
                            ("data_options", "--binarize/--dequantize/--data-key", data_opts),
                            ("data_seed", "--data-seed", args.data_seed)):
        if meta.get(key, "(not recorded)") != mine:
            diffs.append(f"{flag} {meta.get(key, '(not recorded)')} (now {mine})")
    saved, own = meta.get("params"), model.checkpoint_metadata()["params"]
    if not isinstance(saved, dict):
        saved = {}
    for key in sorted(set(saved) | set(own)):
        if key not in RESUME_MAY_CHANGE and saved.get(key) != own.get(key):
            flag = _FLAG_OF.get(key, f"--param {key}=")
            sep = "" if flag.endswith("=") else " "
            diffs.append(f"{flag}{sep}{saved.get(key)!r} (now {own.get(key)!r})")
    if diffs:
        raise CLIError(f"cannot resume {str(path)!r}: the run used " + ", ".join(diffs)
                       + "; give the same flags (only --epochs and --quiet may change) or "
                       "use --force to start over")


def _write_run(out: Path, args, model, backend, info, history, gradient, data,
               data_opts) -> None:
    """model.npz, metrics.json and samples.png, each written atomically."""
    from .rundir import write_atomic

    Xtr, Xva, Xte = data
    # seconds in training epochs over every session of the run: a finished run resumed
    # (no training) writes the same metrics.json as the run that finished it
    train_time = float(sum(history.epoch_time))
    model_path = model.save(out / "model.npz", dataset=args.data, data_options=data_opts,
                            data_seed=args.data_seed, protocol=info.protocol,
                            seed=args.seed)
    metrics = {
        "model": args.model,
        "params": model.get_params(),
        "dataset": args.data,
        "data_options": data_opts,
        "protocol": info.protocol,
        "n_dims": info.n_dims,
        "seed": args.seed,
        "data_seed": args.data_seed,
        "backend": backend.name,
        "minigen_version": __version__,
        "training": "iterative" if gradient else "closed form",
        "train_time_s": train_time,
        "nll": {s: _nll(model, X, info.n_dims)
                for s, X in (("train", Xtr), ("valid", Xva), ("test", Xte))},
        "history": history.to_dict(),
    }
    png = None
    if not args.no_samples:
        try:
            S = _draw_samples(model, 64, args.seed)
        except NotImplementedError:  # a model without sampling: no picture
            S = None
        try:
            if S is not None:
                png = write_atomic(out / "samples.png", lambda p: _write_samples_png(
                    model, p, S, tuple(info.shape) == (2,)))
        except ImportError as exc:
            print(f"note: samples.png skipped ({exc})", file=sys.stderr)
    metrics["samples_png"] = str(png) if png else None
    text = json.dumps(metrics, indent=2, default=str) + "\n"
    write_atomic(out / "metrics.json", lambda p: p.write_text(text))
    t = metrics["nll"]["test"]
    print(f"{args.model} on {args.data}: test NLL {t['nats']:.4f} nats "
          f"({t['bits_per_dim']:.4f} bits/dim), trained in {train_time:.1f} s [{backend.name}]")
    print(f"wrote {model_path}, {out / 'metrics.json'}" + (f", {png}" if png else ""))


def _model_file(path) -> Path:
    """A checkpoint file, or a run folder written by ``minigen train`` (its model.npz)."""
    p = Path(path)
    if p.is_dir():
        if (p / "model.npz").is_file():
            return p / "model.npz"
        raise CLIError(f"{str(p)!r} is a folder without model.npz: pass a model file or the "
                       "--out folder of a finished `minigen train` run")
    return p


def _recorded_data(path) -> tuple:
    """``(dataset, options, data seed)`` a run recorded in its model file (or Nones)."""
    from .io import load_checkpoint

    _, meta = load_checkpoint(path)
    return meta.get("dataset"), meta.get("data_options") or {}, meta.get("data_seed")


def cmd_sample(args) -> int:
    import numpy as np

    from .models import load

    out = _check_sample_out(args.out)  # before any work
    _check_input_file(args.checkpoint)
    _set_backend(args.backend)
    model = load(_model_file(args.checkpoint))
    S = _draw_samples(model, args.n, args.seed)
    if out.suffix.lower() == ".npy":
        out.parent.mkdir(parents=True, exist_ok=True)
        np.save(out, S)
    else:  # the picture `train` writes: image grid, or 2-D points on the density
        _write_samples_png(model, out, S, nrow=args.nrow)
    print(f"wrote {args.n} samples to {out}")
    return 0


def cmd_eval(args) -> int:
    from .models import load

    _check_input_file(args.checkpoint)
    backend = _set_backend(args.backend)
    path = _model_file(args.checkpoint)
    model = load(path)
    data, options, seed = args.data, _data_options(args), args.data_seed
    if data is None:  # the run's own data, read the way it was read for training
        data, options, recorded_seed = _recorded_data(path)
        if data is None:
            raise CLIError(f"{str(path)!r} records no dataset (not written by `minigen "
                           "train`): pass --data")
        seed = recorded_seed if seed is None else seed
    X, info = _load_split(data, args.split, 0 if seed is None else seed, options)
    X = _model_input(model, X)
    res = {"checkpoint": str(path), "dataset": data, "split": args.split,
           "protocol": info.protocol, "backend": backend.name, "n": int(len(X)),
           **{f"nll_{k}": v for k, v in _nll(model, X, info.n_dims).items()}}
    print(json.dumps(res, indent=2))
    return 0


def _names() -> tuple[str, str]:
    """The registered model and dataset names, for help texts."""
    from . import models  # noqa: F401  (registers every model)
    from .datasets import DATASET_NAMES
    from .registry import MODEL_REGISTRY

    return ", ".join(MODEL_REGISTRY), ", ".join(DATASET_NAMES)


def cmd_models(args) -> int:
    from . import catalog
    from .models import get_model_class

    rows = catalog.models()
    if args.name is None:
        w = max(len(r["name"]) for r in rows)
        print(f"{'model':<{w}}  {'family':<14}  {'data':<44}  likelihood")
        for r in rows:
            print(f"{r['name']:<{w}}  {r['family']:<14}  {r['data']:<44}  {r['likelihood']}")
        print("\n`minigen models NAME` lists a model's parameters; `minigen train NAME --param "
              "KEY=VALUE` sets one (JSON value).")
        return 0
    cls = get_model_class(args.name)  # unknown: ValueError listing the names (exit 2)
    row = next(r for r in rows if r["name"] == args.name)
    print(f"{args.name}: {row['cls']} ({row['family']}); data: {row['data']}; likelihood: "
          f"{row['likelihood']}")
    for k, p in cls.param_table().items():
        print(f"  {k} = {p.default!r}  [{p.type_text}]\n      {p.doc}")
    return 0


def cmd_bench(args) -> int:
    try:
        from . import bench_cli
    except ImportError:
        print("minigen bench: not available yet (minigen.bench_cli is missing)")
        return 1
    return int(bench_cli.main(args.bench_args) or 0)


# ------------------------------------------------------------------ parser
_BACKEND_HELP = "array backend (default: $MINIGEN_BACKEND when set, else auto)"


def _add_bench_parser(subparsers) -> None:
    """``minigen bench [ARGS...]``: the rest of the line goes to ``minigen.bench_cli``."""
    p = subparsers.add_parser("bench", help="kernel benchmarks (see `minigen bench --help`)",
                              add_help=False)
    p.add_argument("bench_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_bench)


def _add_tour_parser(subparsers) -> None:
    """``minigen tour``: one model per family, report.html + report.md (``minigen.tour``)."""
    p = subparsers.add_parser("tour", help="train one model per family and write a report",
                              formatter_class=HelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny budgets (< 5 min on 2 cores)")
    p.add_argument("--smoke", action="store_true", help="even tinier (for the tests)")
    p.add_argument("--backend", choices=["numpy", "numba", "cupy", "auto"], default=None,
                   help=_BACKEND_HELP)
    p.add_argument("--out", default="runs/tour", help="output folder")
    p.add_argument("--seed", type=int, default=0, help="random seed of every run")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--workers", type=positive_int, default=None,
                   help="train the families on a Dask LocalCluster of this many worker "
                   "processes (pip install 'minigen[dask]')")
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="train the families on this Dask scheduler, e.g. tcp://host:8786 "
                   "(--out must be a folder the workers can write)")
    p.set_defaults(func=lambda args: __import__("minigen.tour", fromlist=["main"]).main(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minigen", description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter, epilog=EXIT_HELP)
    parser.add_argument("--version", action="version", version=f"minigen {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name, **kw):
        return sub.add_parser(name, formatter_class=HelpFormatter, **kw)

    p = add("info", help="version, backends and why one is unavailable")
    p.add_argument("--warm", action="store_true",
                   help="compile (or load from Numba's cache) every Numba kernel: the five "
                   "kernel families, the LSTM backward step and the fused optimizer updates")
    p.set_defaults(func=cmd_info)

    def common(p, data_seed=0):
        p.add_argument("--backend", choices=["numpy", "numba", "cupy", "auto"], default=None,
                       help=_BACKEND_HELP)
        p.add_argument("--data-seed", type=int, default=data_seed,
                       help="seed of the dataset protocol (synthetic draws, stochastic "
                       "binarization, the split of your own file, dequantization noise)"
                       + ("; default: the run's" if data_seed is None else ""))

    def data_options(p):
        g = p.add_argument_group("reading --data")
        g.add_argument("--binarize", type=float, default=None, metavar="T",
                       help="keep x / x_max > T (0.5 on 8-bit images: pixel > 127); IDX "
                       "datasets and your own files")
        g.add_argument("--dequantize", action="store_true",
                       help="integer levels to (x + u) / 256, u ~ U[0, 1) (continuous data)")
        g.add_argument("--data-key", default=None, metavar="KEY",
                       help="the array of an .npz file (default: 'X', or its only array)")

    models_list, datasets_list = _names()
    epilog = textwrap.fill(
        f"models: {models_list}. datasets: {datasets_list}, or a path to your own data "
        "(.npy, .npz, .csv, .txt, an IDX file or folder, .amat). `minigen models` lists "
        "every model's parameters. OUT is owned by one run at a time (a lock released on "
        "exit or death).", 79, break_on_hyphens=False) + "\n\n" + textwrap.fill(
        " ".join(EXIT_HELP.split()), 79, break_on_hyphens=False)
    p = sub.add_parser("train", help="train a registered model on a dataset or your own file",
                       epilog=epilog, formatter_class=RawEpilogHelpFormatter)
    p.add_argument("model", help="registered model name (see `minigen models`)")
    p.add_argument("--data", required=True,
                   help="a dataset name or a path to your own data (see below)")
    p.add_argument("--epochs", type=positive_int, default=None,
                   help="max_epochs: passes over the training data (total, also with "
                   "--resume; default: the model's)")
    p.add_argument("--batch-size", type=positive_int, default=None,
                   help="batch_size: rows per gradient step (default: the model's)")
    p.add_argument("--lr", type=float, default=None,
                   help="learning_rate: base step size (default: the model's)")
    p.add_argument("--lr-schedule", choices=["constant", "cosine"], default=None,
                   help="lr_schedule: constant, or cosine decay to 0 over all epochs "
                   "(default: the model's)")
    p.add_argument("--optimizer", choices=["adam", "adamw", "sgd"], default=None,
                   help="optimizer (default: the model's)")
    p.add_argument("--patience", type=positive_int, default=None,
                   help="early stopping on the validation split with this patience in epochs "
                   "(default: no early stopping)")
    p.add_argument("--seed", type=int, default=0,
                   help="random_state of the run (initialisation, batches, samples)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="model hyper-parameter (JSON value), repeatable")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in OUT from OUT/checkpoint.npz (same flags; only "
                   "--epochs and --quiet may change); a finished run is written again "
                   "without training; without a checkpoint yet, start a fresh run")
    p.add_argument("--force", action="store_true",
                   help="replace a run already in OUT (without it, such an OUT is refused)")

    p.add_argument("--no-samples", action="store_true", help="skip samples.png")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    common(p)
    data_options(p)
    p.set_defaults(func=cmd_train)

    p = add("sample", help="draw samples from a checkpoint into a PNG (or .npy)")
    p.add_argument("checkpoint", help="model.npz, or the --out folder of a `minigen train` run")
    p.add_argument("-n", type=positive_int, default=64, help="number of samples")
    p.add_argument("--out", required=True,
                   help="output file: .npy (raw samples) or an image (.png, .pdf, .svg, ...); "
                   "2-D data are drawn as points on the model's density")
    p.add_argument("--seed", type=int, default=0, help="random seed of the sampler")
    p.add_argument("--nrow", type=positive_int, default=None,
                   help="images per row of the grid (default: about sqrt(n))")
    common(p)
    p.set_defaults(func=cmd_sample)

    p = add("eval", help="NLL of a checkpoint on a dataset split")
    p.add_argument("checkpoint", help="model.npz, or the --out folder of a `minigen train` run")
    p.add_argument("--data", default=None,
                   help="a dataset name or a path (default: the data the run trained on, read "
                   "the same way)")
    p.add_argument("--split", default="test", choices=["train", "valid", "test"],
                   help="dataset split to score")
    common(p, data_seed=None)
    data_options(p)
    p.set_defaults(func=cmd_eval)

    p = add("models", help="every registered model: family, data, likelihood, parameters")
    p.add_argument("name", nargs="?", default=None,
                   help="one model: its parameters with types, defaults and meaning")
    p.set_defaults(func=cmd_models)

    _add_bench_parser(sub)
    _add_tour_parser(sub)
    return parser


def _exit_status(exc) -> int | None:
    """The exit status of an error the user can act on (module docstring), or None for
    a bug (then the traceback is shown)."""
    from .exceptions import TrainingDiverged
    from .io import CheckpointError
    from .rundir import RunDirBusy

    if isinstance(exc, CLIError):
        return EXIT_USAGE
    if isinstance(exc, (CheckpointError, TrainingDiverged, RunDirBusy, MemoryError)):
        return EXIT_FAILED
    if isinstance(exc, (FileNotFoundError, NotADirectoryError, IsADirectoryError)):
        return EXIT_USAGE  # a path given on the command line
    if isinstance(exc, OSError):
        return EXIT_FAILED  # disk full, permission denied, ...
    if isinstance(exc, (ValueError, TypeError, ImportError, RuntimeError)):
        return EXIT_USAGE  # argument checks of the library (unknown dataset, backend, ...)
    return None


def main(argv=None) -> int:
    """Entry point of the ``minigen`` console script; returns the exit status (0 success,
    1 the command failed, 2 usage: see ``EXIT_HELP``)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # argparse's REMAINDER drops a leading "--option"; pass all on
        return cmd_bench(argparse.Namespace(bench_args=argv[1:]))
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # e.g. `minigen info | head`
        return EXIT_OK
    except KeyboardInterrupt:
        print(f"minigen {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - sorted by _exit_status; bugs re-raised
        status = _exit_status(exc)
        if status is None:
            raise
        what = "out of memory" if isinstance(exc, MemoryError) else str(exc)
        print(f"minigen {args.command}: error: {' '.join(what.split())}", file=sys.stderr)
        return status


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
