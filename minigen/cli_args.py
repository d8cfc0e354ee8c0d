"""The command line's conventions, shared by ``minigen`` and ``minigen bench``.

Exit statuses (0 success, 1 the command ran and failed, 2 usage), the one-line usage
error :class:`CLIError`, option types and the help formatter that shows defaults. It
imports nothing of minigen, so every command module can build on it.
"""

from __future__ import annotations

import argparse

__all__ = ["EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_INTERRUPTED", "EXIT_HELP",
           "CLIError", "positive_int", "HelpFormatter", "RawEpilogHelpFormatter",
           "BACKEND_CHOICES", "add_backend_option", "add_data_seed_option",
           "add_data_reading_options"]

#: exit statuses (README, "Training, checkpoints, command line"; ``minigen --help``)
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # the shell's status for a process ended by Ctrl-C (128 + SIGINT)
EXIT_HELP = """exit status: 0 success; 1 the command ran and failed (a checkpoint that cannot be
read, training diverged, --out in use by another run, disk full, out of memory); 2 usage
(a bad option or --param, an unknown model or dataset, a missing input file, flags that
disagree with the run being resumed, an --out that holds a run without --resume or
--force). Errors are one line on stderr, never a traceback."""

BACKEND_CHOICES = ("numpy", "numba", "cupy", "auto")


class CLIError(Exception):
    """A user error reported as one line, exit status 2."""


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


def add_backend_option(parser) -> None:
    """``--backend``: the array backend of the command (unset: the session's choice)."""
    parser.add_argument("--backend", choices=BACKEND_CHOICES, default=None,
                        help="array backend (default: $MINIGEN_BACKEND when set, else auto)")


def add_data_seed_option(parser, default=0) -> None:
    """``--data-seed``; ``default=None`` means the seed the run recorded (``eval``)."""
    parser.add_argument("--data-seed", type=int, default=default,
                        help="seed of the dataset protocol (synthetic draws, stochastic "
                        "binarization, the split of your own file, dequantization noise)"
                        + ("; default: the run's" if default is None else ""))


def add_data_reading_options(parser) -> None:
    """How ``--data`` is read (recorded with a run, so ``eval`` reads the same data)."""
    group = parser.add_argument_group("reading --data")
    group.add_argument("--binarize", type=float, default=None, metavar="T",
                       help="keep x / x_max > T (0.5 on 8-bit images: pixel > 127); IDX "
                       "datasets and your own files")
    group.add_argument("--dequantize", action="store_true",
                       help="integer levels to (x + u) / 256, u ~ U[0, 1) (continuous data)")
    group.add_argument("--data-key", default=None, metavar="KEY",
                       help="the array of an .npz file (default: 'X', or its only array)")
