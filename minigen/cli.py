"""Command line: ``minigen info | train | sample | eval | models | bench | tour``.

Models come from the registry (:func:`minigen.models.get_model_class`), datasets from
:func:`minigen.datasets.load_dataset`; a family that registers a model is trainable
from here with no change to this file. ``train`` lives in :mod:`minigen.cli_train`, the
steps it shares with ``sample`` and ``eval`` in :mod:`minigen.cli_data`, ``bench`` in
:mod:`minigen.bench_cli`, ``tour`` in :mod:`minigen.tour`, and the conventions of every
command (exit statuses, option types, help format) in :mod:`minigen.cli_args`. Exit
status: 0 success, 1 the command ran and failed, 2 usage (:data:`EXIT_HELP`); errors
are one line on stderr.

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

import numpy as np

from . import __version__, bench_cli, catalog, tour
from .backend import backend_info, get_backend
from .cli_args import (
    EXIT_FAILED,
    EXIT_HELP,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CLIError,
    HelpFormatter,
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
from .cli_train import add_train_parser
from .exceptions import TrainingDiverged
from .io import CheckpointError, load_checkpoint
from .kernels import warm_up
from .models import get_model_class, load
from .rundir import RunDirBusy

__all__ = ["main", "build_parser"]

#: what ``sample --out`` accepts as an image when matplotlib is not there to ask
_IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".pdf", ".svg")


# ------------------------------------------------------------------ checkpoints and files
def _image_extensions() -> list[str]:
    """File extensions matplotlib can write (a fixed common list without matplotlib)."""
    try:  # matplotlib is optional
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
    _, meta = load_checkpoint(path)
    return meta.get("dataset"), meta.get("data_options") or {}, meta.get("data_seed")


# ------------------------------------------------------------------ commands
def cmd_info(args) -> int:
    print(f"minigen {__version__}")
    rows = backend_info()
    print(f"{'backend':<8} {'status':<12} {'version':<10} details")
    for row in rows:
        available = row["available"]
        status = ("active" if row["active"] else "available") if available else "unavailable"
        details = ", ".join(f"{k}={v}" for k, v in row["details"].items())
        print(f"{row['name']:<8} {status:<12} {row['version'] or '-':<10} "
              f"{details if available else row['reason']}")
    threads = next(r for r in rows if r["name"] == "numba")["details"].get("threads")
    print(f"numba threads: {threads if threads is not None else 'n/a (numba unavailable)'}")
    # the table never raises; a bad MINIGEN_BACKEND (unknown or unavailable) is an error
    # here too, with the same message the first model would raise (exit status 2)
    get_backend()
    if args.warm:
        print("kernel warm-up (Numba compile or cache load):")
        t0 = time.perf_counter()
        try:
            warm_up(verbose=True)
        except RuntimeError as exc:  # numba unavailable: say why, not a failure of `info`
            print(f"kernel warm-up skipped: {exc}")
            return EXIT_OK
        print(f"kernel warm-up: done in {time.perf_counter() - t0:.1f} s")
    return EXIT_OK


def cmd_sample(args) -> int:
    out = _check_sample_out(args.out)  # before any work
    _check_input_file(args.checkpoint)
    select_backend(args.backend)
    model = load(_model_file(args.checkpoint))
    samples = draw_samples(model, args.n, args.seed)
    if out.suffix.lower() == ".npy":
        out.parent.mkdir(parents=True, exist_ok=True)
        np.save(out, samples)
    else:  # the picture `train` writes: image grid, or 2-D points on the density
        write_samples_png(model, out, samples, nrow=args.nrow)
    print(f"wrote {args.n} samples to {out}")
    return EXIT_OK


def cmd_eval(args) -> int:
    _check_input_file(args.checkpoint)
    backend = select_backend(args.backend)
    path = _model_file(args.checkpoint)
    model = load(path)
    data, options, seed = args.data, data_options(args), args.data_seed
    if data is None:  # the run's own data, read the way it was read for training
        data, options, recorded_seed = _recorded_data(path)
        if data is None:
            raise CLIError(f"{str(path)!r} records no dataset (not written by `minigen "
                           "train`): pass --data")
        seed = recorded_seed if seed is None else seed
    X, info = load_split(data, args.split, 0 if seed is None else seed, options)
    X = model_input(model, X)
    result = {"checkpoint": str(path), "dataset": data, "split": args.split,
              "protocol": info.protocol, "backend": backend.name, "n": int(len(X)),
              **{f"nll_{k}": v for k, v in nll(model, X, info.n_dims).items()}}
    print(json.dumps(result, indent=2))
    return EXIT_OK


def cmd_models(args) -> int:
    rows = catalog.models()
    if args.name is None:
        width = max(len(row["name"]) for row in rows)
        print(f"{'model':<{width}}  {'family':<14}  {'data':<44}  likelihood")
        for row in rows:
            print(f"{row['name']:<{width}}  {row['family']:<14}  {row['data']:<44}  "
                  f"{row['likelihood']}")
        print("\n`minigen models NAME` lists a model's parameters; `minigen train NAME --param "
              "KEY=VALUE` sets one (JSON value).")
        return EXIT_OK
    cls = get_model_class(args.name)  # unknown: ValueError listing the names (exit 2)
    row = next(r for r in rows if r["name"] == args.name)
    print(f"{args.name}: {row['cls']} ({row['family']}); data: {row['data']}; likelihood: "
          f"{row['likelihood']}")
    for name, param in cls.param_table().items():
        print(f"  {name} = {param.default!r}  [{param.type_text}]\n      {param.doc}")
    return EXIT_OK


def cmd_bench(args) -> int:
    return int(bench_cli.main(args.bench_args) or 0)


# ------------------------------------------------------------------ parser
def _add_info_parser(subparsers) -> None:
    p = subparsers.add_parser("info", help="version, backends and why one is unavailable",
                              formatter_class=HelpFormatter)
    p.add_argument("--warm", action="store_true",
                   help="compile (or load from Numba's cache) every Numba kernel: the five "
                   "kernel families, the LSTM backward step and the fused optimizer updates")
    p.set_defaults(func=cmd_info)


def _add_sample_parser(subparsers) -> None:
    p = subparsers.add_parser("sample", help="draw samples from a checkpoint into a PNG (or "
                              ".npy)", formatter_class=HelpFormatter)
    p.add_argument("checkpoint", help="model.npz, or the --out folder of a `minigen train` run")
    p.add_argument("-n", type=positive_int, default=64, help="number of samples")
    p.add_argument("--out", required=True,
                   help="output file: .npy (raw samples) or an image (.png, .pdf, .svg, ...); "
                   "2-D data are drawn as points on the model's density")
    p.add_argument("--seed", type=int, default=0, help="random seed of the sampler")
    p.add_argument("--nrow", type=positive_int, default=None,
                   help="images per row of the grid (default: about sqrt(n))")
    add_backend_option(p)
    add_data_seed_option(p)
    p.set_defaults(func=cmd_sample)


def _add_eval_parser(subparsers) -> None:
    p = subparsers.add_parser("eval", help="NLL of a checkpoint on a dataset split",
                              formatter_class=HelpFormatter)
    p.add_argument("checkpoint", help="model.npz, or the --out folder of a `minigen train` run")
    p.add_argument("--data", default=None,
                   help="a dataset name or a path (default: the data the run trained on, read "
                   "the same way)")
    p.add_argument("--split", default="test", choices=["train", "valid", "test"],
                   help="dataset split to score")
    add_backend_option(p)
    add_data_seed_option(p, default=None)
    add_data_reading_options(p)
    p.set_defaults(func=cmd_eval)


def _add_models_parser(subparsers) -> None:
    p = subparsers.add_parser("models", help="every registered model: family, data, "
                              "likelihood, parameters", formatter_class=HelpFormatter)
    p.add_argument("name", nargs="?", default=None,
                   help="one model: its parameters with types, defaults and meaning")
    p.set_defaults(func=cmd_models)


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
    add_backend_option(p)
    p.add_argument("--out", default="runs/tour", help="output folder")
    p.add_argument("--seed", type=int, default=0, help="random seed of every run")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    cluster = p.add_mutually_exclusive_group()
    cluster.add_argument("--workers", type=positive_int, default=None,
                         help="train the families on a Dask LocalCluster of this many worker "
                         "processes (pip install 'minigen[dask]')")
    cluster.add_argument("--scheduler", default=None, metavar="ADDRESS",
                         help="train the families on this Dask scheduler, e.g. "
                         "tcp://host:8786 (--out must be a folder the workers can write)")
    p.set_defaults(func=tour.main)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minigen", description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter, epilog=EXIT_HELP)
    parser.add_argument("--version", action="version", version=f"minigen {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add in (_add_info_parser, add_train_parser, _add_sample_parser, _add_eval_parser,
                _add_models_parser, _add_bench_parser, _add_tour_parser):
        add(subparsers)
    return parser


def _exit_status(exc) -> int | None:
    """The exit status of an error the user can act on (module docstring), or None for
    a bug (then the traceback is shown)."""
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
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - sorted by _exit_status; bugs re-raised
        status = _exit_status(exc)
        if status is None:
            raise
        what = "out of memory" if isinstance(exc, MemoryError) else str(exc)
        print(f"minigen {args.command}: error: {' '.join(what.split())}", file=sys.stderr)
        return status


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
