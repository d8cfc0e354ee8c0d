"""``minigen train MODEL --data DATA --out OUT``: one run, owned by its output folder.

Gradient-trained models are driven by :func:`minigen.training.train` (checkpoints in
``OUT``, ``--resume`` continues them), closed-form ones by ``model.fit``. ``OUT`` holds
one run at a time (:mod:`minigen.rundir`): a lock while it trains, and ``--force`` to
replace a finished one. The run ends with ``model.npz``, ``metrics.json`` and
``samples.png``, each written atomically.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np

from . import __version__
from .cli_args import (
    EXIT_HELP,
    CLIError,
    RawEpilogHelpFormatter,
    add_backend_option,
    add_data_reading_options,
    add_data_seed_option,
    positive_int,
)
from .cli_data import (
    data_options,
    draw_samples,
    load_split,
    model_input,
    nll,
    select_backend,
    write_samples_png,
)
from .datasets import DATASET_NAMES
from .datasets.files import is_path
from .io import Checkpoint
from .models import get_model_class
from .registry import MODEL_REGISTRY
from .rundir import RunLock, clear_run, run_files, write_atomic
from .training import RESUME_MAY_CHANGE, is_gradient_trained, train

__all__ = ["cmd_train", "add_train_parser", "parse_params"]

#: training flags as the model's hyper-parameters, for resume mismatch messages
_FLAG_OF_PARAM = {"max_epochs": "--epochs", "batch_size": "--batch-size",
                  "learning_rate": "--lr", "lr_schedule": "--lr-schedule",
                  "optimizer": "--optimizer", "random_state": "--seed",
                  "patience": "--patience", "early_stopping": "--patience"}


def parse_params(items) -> dict:
    """``--param KEY=VALUE`` items as ``{key: value}``; a value is JSON when it parses,
    else the string as given."""
    params = {}
    for item in items or ():
        if "=" not in item:
            raise CLIError(f"--param expects KEY=VALUE, got {item!r}")
        key, text = item.split("=", 1)
        try:
            params[key] = json.loads(text)
        except json.JSONDecodeError:
            params[key] = text
    return params


def _training_flags(args, model) -> dict:
    """The training flags given on the command line, as the model's hyper-parameters (a
    flag left out keeps the model's default; a model fitted in closed form takes none)."""
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


def _configured_model(args):
    """The model named on the command line with its ``--param`` values and training
    flags, checked before any data is read."""
    cls = get_model_class(args.model)
    try:
        model = cls(**parse_params(args.param))
    except TypeError as exc:
        raise CLIError(f"bad --param for model {args.model!r}: {exc}") from None
    try:
        model.set_params(**_training_flags(args, model))
        model.validate_params()
    except (TypeError, ValueError) as exc:
        raise CLIError(f"model {args.model!r}: {exc}") from None
    if args.resume and args.force:
        raise CLIError("--resume continues the run in --out and --force replaces it: "
                       "give one of them")
    if args.resume and not is_gradient_trained(model):
        raise CLIError(f"model {args.model!r} is fitted in closed form (one pass over the "
                       "data, no epochs or checkpoint): there is nothing to resume; run "
                       "it again without --resume")
    try:  # before any work: a model that could not be scored afterwards would lose the run
        model.check_scorable()
    except ValueError as exc:
        raise CLIError(f"model {args.model!r}: {exc}; set it with --param NAME=VALUE") from None
    return model


def _output_dir(path) -> Path:
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # e.g. --out names an existing file: one line, not a traceback
        raise CLIError(f"--out {str(out)!r} cannot be used as the output directory: "
                       f"{exc.strerror or exc}") from None
    return out


def cmd_train(args) -> int:
    backend = select_backend(args.backend)
    model = _configured_model(args)
    gradient = is_gradient_trained(model)
    if is_path(args.data):  # recorded absolute, so eval/sample work from any folder
        args.data = str(Path(args.data).resolve())
    data_opts = data_options(args)
    X_train, info = load_split(args.data, "train", args.data_seed, data_opts)
    X_valid, _ = load_split(args.data, "valid", args.data_seed, data_opts)
    X_test, _ = load_split(args.data, "test", args.data_seed, data_opts)
    splits = tuple(model_input(model, X) for X in (X_train, X_valid, X_test))
    out = _output_dir(args.out)
    with RunLock(out):  # one run per directory, released on exit or death
        resume_from = _claim_run_dir(out, args, model, data_opts)
        run_meta = {"dataset": args.data, "data_options": data_opts,
                    "data_seed": args.data_seed, "protocol": info.protocol}
        # the divergence guard reports a blow-up in one line; numpy's overflow warnings
        # on the way there would only bury it
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            history = train(model, splits[0], X_valid=splits[1],
                            checkpoint_dir=out if gradient else None,
                            resume_from=resume_from, metadata=run_meta)
        _write_run(out, args, model, backend, info, history, splits, data_opts)
    return 0


def _claim_run_dir(out: Path, args, model, data_opts: dict):
    """Under the lock: what this run may do with ``out``. Returns the checkpoint to resume
    from, or None (a fresh run). A fresh run refuses a directory holding a run unless
    ``--force`` (which clears it); ``--resume`` checks the flags against the checkpoint."""
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
            flag = _FLAG_OF_PARAM.get(key, f"--param {key}=")
            sep = "" if flag.endswith("=") else " "
            diffs.append(f"{flag}{sep}{saved.get(key)!r} (now {own.get(key)!r})")
    if diffs:
        raise CLIError(f"cannot resume {str(path)!r}: the run used " + ", ".join(diffs)
                       + "; give the same flags (only --epochs and --quiet may change) or "
                       "use --force to start over")


def _write_run(out: Path, args, model, backend, info, history, splits, data_opts) -> None:
    """model.npz, metrics.json and samples.png, each written atomically."""
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
        "training": "iterative" if is_gradient_trained(model) else "closed form",
        "train_time_s": train_time,
        "nll": {name: nll(model, X, info.n_dims)
                for name, X in zip(("train", "valid", "test"), splits, strict=True)},
        "history": history.to_dict(),
    }
    png = None if args.no_samples else _write_samples(out, args, model, info)
    metrics["samples_png"] = str(png) if png else None
    text = json.dumps(metrics, indent=2, default=str) + "\n"
    write_atomic(out / "metrics.json", lambda p: p.write_text(text))
    test = metrics["nll"]["test"]
    print(f"{args.model} on {args.data}: test NLL {test['nats']:.4f} nats "
          f"({test['bits_per_dim']:.4f} bits/dim), trained in {train_time:.1f} s "
          f"[{backend.name}]")
    print(f"wrote {model_path}, {out / 'metrics.json'}" + (f", {png}" if png else ""))


def _write_samples(out: Path, args, model, info) -> Path | None:
    """``samples.png`` of 64 samples, or None for a model that cannot sample (or no
    matplotlib: then a note on stderr)."""
    try:
        samples = draw_samples(model, 64, args.seed)
    except NotImplementedError:
        return None
    try:
        return write_atomic(out / "samples.png", lambda p: write_samples_png(
            model, p, samples, tuple(info.shape) == (2,)))
    except ImportError as exc:
        print(f"note: samples.png skipped ({exc})", file=sys.stderr)
        return None


def _train_epilog() -> str:
    """The registered models and datasets, and the exit statuses, wrapped so that names
    keep their hyphens whole."""
    return textwrap.fill(
        f"models: {', '.join(MODEL_REGISTRY)}. datasets: {', '.join(DATASET_NAMES)}, or a "
        "path to your own data (.npy, .npz, .csv, .txt, an IDX file or folder, .amat). "
        "`minigen models` lists every model's parameters. OUT is owned by one run at a "
        "time (a lock released on exit or death).", 79, break_on_hyphens=False
    ) + "\n\n" + textwrap.fill(" ".join(EXIT_HELP.split()), 79, break_on_hyphens=False)


def add_train_parser(subparsers) -> None:
    """``minigen train``: its options, and the models and datasets in the epilog."""
    p = subparsers.add_parser("train", help="train a registered model on a dataset or your "
                              "own file", epilog=_train_epilog(),
                              formatter_class=RawEpilogHelpFormatter)
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
    add_backend_option(p)
    add_data_seed_option(p)
    add_data_reading_options(p)
    p.set_defaults(func=cmd_train)
