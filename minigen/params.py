r"""Hyper-parameters declared once, as a table: what ``__init__`` takes, how each value is
checked, what it means (docstrings, ``minigen models``, the README table and the CLI's
``--param`` errors all read the same table).

A model class declares its own hyper-parameters::

    class MADE(AutoregressiveModel):
        hyperparameters = {
            "hidden_sizes": Param((256, 256), "widths of the hidden layers", sizes),
            ...
        }

and :class:`minigen.base.GenerativeModel` builds ``__init__(self, ...)`` from the merged
table of the class and its bases, with a real signature (so ``help()``,
:func:`inspect.signature` and scikit-learn's ``clone`` see every parameter). ``__init__``
stores values only (scikit-learn's rule); :meth:`GenerativeModel.validate_params` runs
every check at one moment, at the start of ``fit``.

Every iteratively trained model also takes the training settings of
:data:`TRAINING_PARAMS`, one vocabulary for every family (scikit-learn's
``MLPClassifier``/``BernoulliRBM`` names where they exist); a family changes only their
defaults (``training_defaults``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

__all__ = [
    "Param",
    "TRAINING_PARAMS",
    "positive_int",
    "non_negative_int",
    "positive_float",
    "non_negative_float",
    "optional",
    "one_of",
    "int_sizes",
    "boolean",
    "unit_interval",
    "dtype_name",
    "parameters_doc",
    "with_defaults",
]


@dataclass(frozen=True)
class Param:
    """One hyper-parameter: its default, what it means, and its check.

    ``check(value, name)`` returns the (possibly normalized) value or raises
    ``TypeError``/``ValueError`` naming the parameter; ``kind`` is the short type
    description shown in errors and tables (taken from the check when omitted).
    """

    default: Any
    doc: str
    check: Callable | None = None
    kind: str | None = None

    @property
    def type_text(self) -> str:
        return self.kind or getattr(self.check, "kind", "any")


def _kind(text: str):
    def deco(fn):
        fn.kind = text
        return fn

    return deco


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _number_check(kind: str, is_type, type_text: str, in_range, range_text: str, convert):
    """A check: ``TypeError`` unless ``is_type(v)``, ``ValueError`` unless ``in_range(v)``."""

    @_kind(kind)
    def check(v, name):
        if not is_type(v):
            raise TypeError(f"{name} must be {type_text}, got {v!r} ({type(v).__name__})")
        if not in_range(v):
            raise ValueError(f"{name} must be {range_text}, got {v}")
        return convert(v)

    return check


positive_int = _number_check("int >= 1", _is_int, "an int >= 1", lambda v: v >= 1,
                             "an int >= 1", int)
non_negative_int = _number_check("int >= 0", _is_int, "an int >= 0", lambda v: v >= 0,
                                 "an int >= 0", int)
positive_float = _number_check("float > 0", _is_real, "a real number > 0",
                               lambda v: math.isfinite(v) and v > 0,
                               "a finite real number > 0", float)
non_negative_float = _number_check("float >= 0", _is_real, "a real number >= 0",
                                   lambda v: math.isfinite(v) and v >= 0,
                                   "a finite real number >= 0", float)
unit_interval = _number_check("float in [0, 1)", _is_real, "a real number in [0, 1)",
                              lambda v: 0 <= v < 1, "in [0, 1)", float)


@_kind("bool")
def boolean(v, name):
    if not isinstance(v, (bool, numbers.Integral)) or v not in (0, 1):
        raise TypeError(f"{name} must be True or False, got {v!r}")
    return bool(v)


@_kind("tuple of int >= 1")
def int_sizes(v, name):
    if _is_int(v) or isinstance(v, (str, bytes)) or not hasattr(v, "__iter__"):
        raise TypeError(
            f"{name} must be a sequence of ints >= 1, e.g. [64, 64] (one per layer), got {v!r}"
        )
    out = tuple(v)
    if not out or not all(_is_int(s) and s >= 1 for s in out):
        raise ValueError(f"{name} must be a non-empty sequence of ints >= 1, got {list(out)!r}")
    return tuple(int(s) for s in out)


@_kind("'float32' or 'float64'")
def dtype_name(v, name):
    import numpy as np

    try:
        dt = np.dtype(v)
    except TypeError:
        raise TypeError(f"{name} must be 'float32' or 'float64', got {v!r}") from None
    if dt not in (np.float32, np.float64):
        raise ValueError(f"{name} must be 'float32' or 'float64', got {v!r}")
    return dt.name


def one_of(*choices):
    """A check accepting exactly ``choices`` (the error lists them)."""

    @_kind(" | ".join(repr(c) for c in choices))
    def check(v, name):
        if not any(v == c and type(v) is type(c) for c in choices):
            raise ValueError(
                f"{name} must be one of {', '.join(map(repr, choices))}; got {v!r}"
            )
        return v

    return check


def optional(check):
    """``None`` or whatever ``check`` accepts."""

    def inner(v, name):
        return None if v is None else check(v, name)

    inner.kind = f"{check.kind} or None"
    return inner


def _lr_schedule(v, name):
    if v is None:  # as in train(lr_schedule=None) before the settings became parameters
        return "constant"
    if isinstance(v, str):
        return one_of("constant", "cosine")(v, name)
    if callable(v):  # a schedule object (step, base_lr) -> lr, e.g. minigen.optim.CosineLR
        return v
    raise TypeError(f"{name} must be 'constant', 'cosine' or a callable (step, base_lr) -> lr, "
                    f"got {v!r}")


_lr_schedule.kind = "'constant' | 'cosine' | callable"

#: The training settings of every iteratively trained model (one vocabulary). A family
#: changes defaults through its ``training_defaults``, never the meaning.
TRAINING_PARAMS: dict[str, Param] = {
    "max_epochs": Param(
        10, "passes over the training data (fewer when early stopping ends the run)",
        positive_int),
    "batch_size": Param(
        64, "rows per gradient step (None: the whole training set, full-batch descent)",
        optional(positive_int)),
    "learning_rate": Param(
        1e-3, "base step size of the optimizer (0 leaves the parameters unchanged)",
        non_negative_float),
    "lr_schedule": Param(
        "constant", "'constant', 'cosine' (decay to 0 over the run) or a callable "
        "(step, base_lr) -> lr", _lr_schedule),
    "optimizer": Param("adam", "'adam', 'adamw' or 'sgd'", one_of("adam", "adamw", "sgd")),
    "momentum": Param(
        0.9, "SGD's momentum, or Adam's beta_1 (the decay of its running mean gradient)",
        unit_interval),
    "weight_decay": Param(
        0.0, "L2 penalty weight_decay/2 ||theta||^2 added to the objective "
        "(decoupled decay for 'adamw')", non_negative_float),
    "clip_norm": Param(
        None, "clip the joint gradient norm to this value (None: no clipping)",
        optional(positive_float)),
    "early_stopping": Param(
        False, "hold out validation_fraction of the training rows (unless X_valid is given "
        "to fit) and stop after `patience` epochs without a lower validation NLL, restoring "
        "the best parameters", boolean),
    "validation_fraction": Param(
        0.1, "share of the training rows held out for early stopping", unit_interval),
    "patience": Param(
        5, "epochs without improvement of the validation NLL before early stopping",
        positive_int),
    "random_state": Param(
        None, "seed of the run: None, an int, or a numpy Generator / RandomState / "
        "SeedSequence / BitGenerator (initialisation, split, batches, model noise)",
        kind="None | int | Generator | RandomState | SeedSequence | BitGenerator"),
    "verbose": Param(True, "progress bar (tqdm.auto: terminal or notebook)", boolean),
}


def parameters_doc(table: dict[str, Param]) -> str:
    """A numpydoc ``Parameters`` section for ``table`` (appended to model docstrings)."""
    import textwrap

    lines = ["Parameters", "----------"]
    for name, p in table.items():
        lines.append(f"{name} : {p.type_text}, default={p.default!r}")
        lines.extend(textwrap.wrap(p.doc, 84, initial_indent="    ", subsequent_indent="    "))
    return "\n".join(lines)


def with_defaults(table: dict[str, Param], **defaults) -> dict[str, Param]:
    """``table`` with new defaults for some entries (a family's training defaults)."""
    unknown = sorted(set(defaults) - set(table))
    if unknown:
        raise KeyError(f"no such hyper-parameters to re-default: {unknown}")
    return {k: replace(p, default=defaults[k]) if k in defaults else p for k, p in table.items()}
