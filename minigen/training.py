r"""The fit loop: mini-batches, validation, early stopping, checkpoints, resume, history.

:func:`train` drives the training contract of :mod:`minigen.base`:

* ``model.trainable_arrays()`` gives the live parameter arrays; an optimizer from
  :mod:`minigen.optim` updates them in place;
* ``model.loss_and_grads(batch, rng) -> (loss, grads)`` gives the mean training
  loss of a batch (nats per example) and its gradients;
* ``model.extra_state()`` / ``model.load_extra_state(d)`` carry any further state.

Models fitted in closed form (no ``loss_and_grads``) are fitted with
``model.fit(X)`` and get a one-epoch :class:`History`, so the CLI and
:func:`cross_validate` treat every model the same way.

Randomness: one Generator, made from ``random_state`` once, draws (in order) the
validation split, the parameter initialisation (``model._build``), and then, every
epoch, a permutation of the training rows followed by whatever the model draws in
``loss_and_grads``. Its state is saved in every checkpoint, so a run resumed with
``resume_from=`` in a new process reproduces the uninterrupted run bit for bit.

Checkpoint layout (``<checkpoint_dir>/checkpoint.npz``, written atomically by
:func:`minigen.io.save_checkpoint`; readable by ``GenerativeModel.load`` too)::

    param/<name>      model.trainable_arrays(): the model GenerativeModel.load returns
    extra/<name>      model.extra_state()
    optim/<key>       optimizer.state_dict()  ("m/W", "v/W", "t", "lr", ...)
    best/<name>       parameters at the best validation NLL (early stopping only)
    last/<name>       final checkpoint of an early-stopping run only: the last epoch's
                      parameters, which ``resume_from=`` continues from (``param/``
                      then holds the restored best parameters, i.e. the returned model)
    split/valid_idx   rows held out by validation_fraction (when used)
    metadata          model.checkpoint_metadata() + {"training": {epoch, step,
                      rng_state, history, optimizer, base_lr, lr_schedule (the
                      name, or None for a schedule object), best_valid_nll,
                      best_epoch, bad_epochs, ...}}
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ._validation import check_array, check_positive_float, check_positive_int
from .backend import get_backend, to_numpy, xp_of
from .base import GenerativeModel
from .io import CheckpointError, _json_default, load_checkpoint, save_checkpoint
from .optim import clip_grad_norm, make_optimizer, make_schedule
from .random import check_random_state, generator_from_state, generator_state

__all__ = ["train", "cross_validate", "History", "TrainingDiverged", "is_gradient_trained"]

CHECKPOINT_NAME = "checkpoint.npz"


class TrainingDiverged(RuntimeError):
    """The loss or a gradient became NaN or infinite.

    Attributes: ``epoch`` and ``step`` (0-based, where it happened) and
    ``checkpoint`` (path of the last good checkpoint, or ``None``). The model's
    parameters are left at their last finite values (the bad step is not applied).
    """

    def __init__(self, message, epoch, step, checkpoint=None):
        super().__init__(message)
        self.epoch, self.step, self.checkpoint = epoch, step, checkpoint


@dataclass
class History:
    """Per-epoch record of a run.

    Attributes
    ----------
    train_loss : list of float
        Mean training loss per example (nats) over the epoch's batches.
    valid_nll : list of float
        ``-mean(model.score_samples(X_valid))`` after the epoch (NaN without validation).
    epoch_time : list of float
        Wall-clock seconds per epoch.
    lr : list of float
        Learning rate at the end of the epoch.
    best_epoch : int or None
        Epoch (0-based) with the lowest validation NLL.
    stopped_early : bool
    """

    train_loss: list = field(default_factory=list)
    valid_nll: list = field(default_factory=list)
    epoch_time: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def to_dict(self) -> dict:
        """JSON-ready dict (NaN/inf become ``None``)."""

        def clean(v):
            if isinstance(v, list):
                return [clean(x) for x in v]
            if isinstance(v, float) and not math.isfinite(v):
                return None
            return v

        return {k: clean(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> History:
        def unclean(v):
            return [float("nan") if x is None else x for x in v]

        return cls(
            train_loss=unclean(d.get("train_loss", [])),
            valid_nll=unclean(d.get("valid_nll", [])),
            epoch_time=list(d.get("epoch_time", [])),
            lr=list(d.get("lr", [])),
            best_epoch=d.get("best_epoch"),
            stopped_early=bool(d.get("stopped_early", False)),
        )


def is_gradient_trained(model) -> bool:
    """Whether ``model`` implements ``loss_and_grads`` (else it is fitted in closed form)."""
    return type(model).loss_and_grads is not GenerativeModel.loss_and_grads


def _n_features(X):
    return int(X.shape[1]) if X.ndim == 2 else [int(s) for s in X.shape[1:]]


def _valid_nll(model, Xv) -> float:
    if Xv is None:
        return float("nan")
    return float(-np.mean(to_numpy(model.score_samples(Xv))))


def _sq_norm(grads) -> float:
    total = 0.0
    for g in grads.values():
        if g.size:
            total += float(xp_of(g).vdot(g.ravel(), g.ravel()).real)
    return total


def _scheduled_lr(schedule, step: int, base_lr: float) -> float:
    """The schedule's lr for ``step``, checked: a negative one would ascend the loss."""
    value = schedule(step, base_lr)
    if type(value) is float and 0.0 <= value < math.inf:  # the common case, per step: fast
        return value
    try:
        return check_positive_float(value, "lr", allow_zero=True)
    except (TypeError, ValueError) as exc:
        raise type(exc)(
            f"lr_schedule returned {value!r} at step {step}; it must return a finite "
            "float >= 0"
        ) from None


def _schedule_name(lr_schedule) -> str | None:
    """The name recorded for ``lr_schedule``: ``None`` is ``"constant"``; a schedule
    object or callable has no name (``None``: a resume cannot compare it)."""
    if lr_schedule is None:
        return "constant"
    return lr_schedule if isinstance(lr_schedule, str) else None


def _check_resume_metadata(path, meta: dict, model, optimizer, lr_schedule=None) -> None:
    """Refuse to resume a run of another model, hyper-parameters, optimizer or lr schedule
    (the schedule is compared when both runs name it, e.g. ``"constant"`` / ``"cosine"``)."""
    where = f"cannot resume from {str(path)!r}"
    tr = meta.get("training")
    if not isinstance(tr, dict) or "rng_state" not in tr:
        raise CheckpointError(f"{path!s} is not a training checkpoint (no training state)")
    for key, kind in (("epoch", int), ("step", int), ("history", dict), ("rng_state", dict)):
        if not isinstance(tr.get(key), kind) or isinstance(tr.get(key), bool):
            raise CheckpointError(
                f"{where}: training.{key} is {tr.get(key)!r}, not {kind.__name__}"
            )
    own = model.checkpoint_metadata()
    if meta.get("model") != own["model"]:
        raise CheckpointError(
            f"{where}: it holds a {meta.get('model')!r} model, this is a {own['model']!r}"
        )
    # compare as JSON (tuples become lists in the file); a changed hyper-parameter of the
    # same shape would otherwise resume silently as a different model
    mine = json.loads(json.dumps(own["params"], default=_json_default, sort_keys=True))
    if meta.get("params") != mine:
        raise CheckpointError(
            f"{where}: its hyper-parameters {meta.get('params')!r} differ from the model's {mine!r}"
        )
    saved_opt = tr.get("optimizer")
    if str(saved_opt).lower() != str(optimizer).lower():
        raise CheckpointError(
            f"{where}: it was trained with optimizer {saved_opt!r}, not {optimizer!r}"
        )
    saved_sched, sched = tr.get("lr_schedule"), _schedule_name(lr_schedule)
    if isinstance(saved_sched, str) and isinstance(sched, str) and saved_sched != sched:
        raise CheckpointError(
            f"{where}: it was trained with lr_schedule {saved_sched!r}, not {sched!r}"
        )


def _check_valid_idx(path, idx, n_rows: int, n_val: int):
    """The saved validation rows, if they can index this ``X``; else a CheckpointError.

    A different ``X`` (or ``validation_fraction``) would make the saved indices point
    past the end (an IndexError) or at other rows than the run held out.
    """
    idx = np.asarray(idx)
    ok = (
        idx.ndim == 1
        and idx.dtype.kind in "iu"
        and len(idx) == n_val
        and (len(idx) == 0 or (idx.min() >= 0 and idx.max() < n_rows))
        and len(np.unique(idx)) == len(idx)
    )
    if not ok:
        raise CheckpointError(
            f"cannot resume from {str(path)!r}: its validation split ({idx.size} rows, "
            f"indices up to {idx.max() if idx.size else None}) does not fit X with {n_rows} "
            f"rows and {n_val} held out; resume with the same X and validation_fraction"
        )
    return idx.astype(np.int64)


def train(
    model,
    X,
    *,
    X_valid=None,
    validation_fraction: float = 0.0,
    epochs: int = 10,
    batch_size: int = 64,
    optimizer: str = "adam",
    optimizer_kwargs: dict | None = None,
    lr: float = 1e-3,
    lr_schedule=None,
    l2: float = 0.0,
    clip_norm: float | None = None,
    early_stopping_patience: int | None = None,
    checkpoint_dir=None,
    checkpoint_every: int | None = None,
    resume_from=None,
    random_state=None,
    verbose: bool = False,
    callbacks=(),
) -> History:
    r"""Fit ``model`` to ``X`` by mini-batch gradient steps (or closed form).

    Parameters
    ----------
    model : GenerativeModel
        Built or not: if ``model.n_features_in_`` is unset, ``model._build`` is
        called with the data's feature count (``int`` for 2-D ``X``, else the tuple
        of the example's shape) and the run's Generator, followed by
        ``model._init_from_data(X, rng)`` when the model defines it.
    X : array, shape (n, ...)
        Training data (NumPy or of the active backend).
    X_valid : array, optional
        Validation data; else ``validation_fraction`` of ``X`` is held out.
    epochs, batch_size : int
        ``epochs`` is the total count (a resumed run continues up to it).
    optimizer : {"adam", "adamw", "sgd"}
    optimizer_kwargs : dict, optional
        Extra arguments for the optimizer (``momentum``, ``betas``, ...).
    lr : float
        Base learning rate, >= 0; ``lr_schedule`` (a callable ``(step, base_lr) -> lr``
        such as :class:`minigen.optim.CosineLR`, or ``"constant"`` / ``"cosine"``: cosine
        decay to 0 over all ``epochs``) may vary it per step, and must return a finite
        float >= 0. ``lr=0`` is allowed: every step leaves the parameters unchanged
        (the run only records the losses; optimizer state such as Adam's moments still
        advances).
    l2 : float
        L2 penalty ``l2/2 * ||theta||^2`` added to the objective (``l2 * theta`` to
        the gradient; the reported loss excludes it).
    clip_norm : float, optional
        Clip the joint gradient norm to this value.
    early_stopping_patience : int, optional
        Stop after this many epochs without a lower validation NLL and restore
        the best parameters. Needs validation data.
    checkpoint_dir : path, optional
        Write ``checkpoint.npz`` there every ``checkpoint_every`` epochs (default 1)
        and at the end. The final one agrees with the returned model: with early
        stopping it is written after the best parameters are restored (``param/`` =
        best, ``last/`` = the last epoch's parameters, for ``resume_from``).
    resume_from : path, optional
        A checkpoint written by a previous run with the same data and settings
        (another model, hyper-parameters, optimizer or named ``lr_schedule`` is refused
        with a :class:`~minigen.io.CheckpointError`).
    random_state : None, int or Generator
    verbose : bool
        tqdm progress bar (only when stderr is a terminal).
    callbacks : sequence of callables ``cb(epoch, history, model) -> bool``
        Called after every epoch; returning ``True`` stops training.

    Returns
    -------
    History

    Raises
    ------
    TrainingDiverged
        When a loss or gradient is NaN or infinite (the bad step is not applied
        and no checkpoint is written from that state).
    """
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    lr = check_positive_float(lr, "lr", allow_zero=True)
    l2 = check_positive_float(l2, "l2", allow_zero=True)
    if clip_norm is not None:
        clip_norm = check_positive_float(clip_norm, "clip_norm")
    if early_stopping_patience is not None:
        early_stopping_patience = check_positive_int(
            early_stopping_patience, "early_stopping_patience"
        )
    if checkpoint_every is not None:
        checkpoint_every = check_positive_int(checkpoint_every, "checkpoint_every")
    validation_fraction = check_positive_float(
        validation_fraction, "validation_fraction", allow_zero=True
    )
    if validation_fraction >= 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    if not isinstance(model, GenerativeModel):
        raise TypeError(f"model must be a minigen GenerativeModel, got {type(model).__name__}")
    X = check_array(X, "X", allow_empty=False)
    if X.ndim < 2:
        raise ValueError(f"X must have shape (n_samples, n_features, ...), got {X.shape}")
    if X_valid is not None:
        X_valid = check_array(X_valid, "X_valid", allow_empty=False)
        if X_valid.shape[1:] != X.shape[1:]:
            raise ValueError(
                f"X_valid rows have shape {X_valid.shape[1:]}, X rows have {X.shape[1:]}"
            )
    callbacks = list(callbacks or ())

    rng = check_random_state(random_state)
    resume = None
    if resume_from is not None:
        resume = load_checkpoint(resume_from)
        # before any work: a checkpoint of another model or optimizer would otherwise
        # fail deep inside (or, worse, load and continue a different run)
        _check_resume_metadata(resume_from, resume[1], model, optimizer, lr_schedule)

    # ---------------------------------------------------------------- validation split
    valid_idx = None
    if X_valid is None and validation_fraction > 0:
        n_val = max(1, int(round(validation_fraction * len(X))))
        if n_val >= len(X):
            raise ValueError("validation_fraction leaves no training rows")
        if resume is not None and "split/valid_idx" in resume[0]:
            valid_idx = _check_valid_idx(resume_from, resume[0]["split/valid_idx"], len(X), n_val)
        else:
            valid_idx = np.sort(rng.permutation(len(X))[:n_val])
        mask = np.ones(len(X), dtype=bool)
        mask[valid_idx] = False
        Xh = to_numpy(X)
        X, X_valid = Xh[mask], Xh[valid_idx]
    if early_stopping_patience is not None and X_valid is None:
        raise ValueError(
            "early_stopping_patience needs validation data: pass X_valid or validation_fraction"
        )

    backend = get_backend()
    Xb = backend.asarray(X)
    Xv = backend.asarray(X_valid) if X_valid is not None else None
    history = History()

    # ---------------------------------------------------------------- closed-form models
    if not is_gradient_trained(model):
        t0 = time.perf_counter()
        model.fit(Xb)
        history.train_loss.append(float(-np.mean(to_numpy(model.score_samples(Xb)))))
        history.valid_nll.append(_valid_nll(model, Xv))
        history.epoch_time.append(time.perf_counter() - t0)
        history.lr.append(float("nan"))
        history.best_epoch = 0
        if checkpoint_dir is not None:
            # _save: "training" is a key reserved for minigen, refused by the public save()
            model._save(
                Path(checkpoint_dir) / CHECKPOINT_NAME, {"training": {"history": history.to_dict()}}
            )
        return history

    # ---------------------------------------------------------------- set-up
    if getattr(model, "n_features_in_", None) is None:
        model._build(_n_features(X), rng)
        if getattr(model, "n_features_in_", None) is None:
            model.n_features_in_ = _n_features(X)
        init = getattr(model, "_init_from_data", None)
        if init is not None:  # optional data-dependent initialisation (e.g. visible biases)
            init(to_numpy(X), rng)
    model.fitted_ = True
    params = model.trainable_arrays()
    opt_name = optimizer
    opt = make_optimizer(optimizer, params, lr, **(optimizer_kwargs or {}))
    # the loop below checks the gradients' norm before every step: skip step's own check
    opt.check_finite = False
    # "cosine" by name decays over every step of the run (``epochs`` full passes)
    schedule = make_schedule(lr_schedule, total_steps=epochs * -(-len(Xb) // batch_size))

    start_epoch, step = 0, 0
    best_nll, best_epoch, bad_epochs = math.inf, None, 0
    best_params = None
    if resume is not None:
        arrays, meta = resume
        tr = meta["training"]
        try:  # the model's and optimizer's own checks, reported against the file
            if any(k.startswith("last/") for k in arrays):
                # the final checkpoint of an early-stopping run: param/ is the restored
                # best model, last/ the state the run stopped in (see write_checkpoint)
                model._load_arrays(
                    {
                        **{k: v for k, v in arrays.items() if not k.startswith("param/")},
                        **{
                            f"param/{k[len('last/'):]}": v
                            for k, v in arrays.items()
                            if k.startswith("last/")
                        },
                    }
                )
            else:
                model._load_arrays(arrays)
            opt.load_state_dict(
                {k[len("optim/"):]: v for k, v in arrays.items() if k.startswith("optim/")}
            )
            rng = generator_from_state(tr["rng_state"])
            history = History.from_dict(tr["history"])
        except (KeyError, TypeError, ValueError) as exc:
            why = str(exc) if isinstance(exc, CheckpointError) else f"{type(exc).__name__}: {exc}"
            raise CheckpointError(f"cannot resume from {str(resume_from)!r}: {why}") from exc
        start_epoch, step = tr["epoch"], tr["step"]
        best_nll = math.inf if tr.get("best_valid_nll") is None else tr["best_valid_nll"]
        best_epoch, bad_epochs = tr.get("best_epoch"), int(tr.get("bad_epochs", 0))
        if any(k.startswith("best/") for k in arrays):
            missing = [k for k in params if f"best/{k}" not in arrays]
            if missing:
                raise CheckpointError(
                    f"cannot resume from {str(resume_from)!r}: best/ parameters lack {missing}"
                )
            best_params = {k: arrays[f"best/{k}"].copy() for k in params}

    ckpt_path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    last_good = Path(resume_from) if resume_from is not None else None
    every = checkpoint_every or 1

    def write_checkpoint(epoch_done: int, last_params=None):
        arrays = {f"param/{k}": v for k, v in params.items()}
        if last_params is not None:
            arrays.update({f"last/{k}": v for k, v in last_params.items()})
        arrays.update({f"extra/{k}": v for k, v in model.extra_state().items()})
        arrays.update({f"optim/{k}": v for k, v in opt.state_dict().items()})
        if best_params is not None:
            arrays.update({f"best/{k}": v for k, v in best_params.items()})
        if valid_idx is not None:
            arrays["split/valid_idx"] = valid_idx
        training = {
            "epoch": epoch_done,
            "step": step,
            "rng_state": generator_state(rng),
            "history": history.to_dict(),
            "optimizer": opt_name,
            "base_lr": lr,
            "lr_schedule": _schedule_name(lr_schedule),
            "best_valid_nll": best_nll if math.isfinite(best_nll) else None,
            "best_epoch": best_epoch,
            "bad_epochs": bad_epochs,
            "batch_size": batch_size,
            "epochs": epochs,
        }
        meta = {**model.checkpoint_metadata(), "training": training}
        return save_checkpoint(ckpt_path, arrays, meta)

    # ---------------------------------------------------------------- loop
    n = len(Xb)
    final_pending = None  # epochs done, when the final checkpoint waits for the restore
    bar = None
    if verbose and sys.stderr.isatty():
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, initial=start_epoch, desc=type(model).__name__, unit="epoch")
    try:
        for epoch in range(start_epoch, epochs):
            t0 = time.perf_counter()
            perm = rng.permutation(n)
            total = 0.0
            for i in range(0, n, batch_size):
                idx = perm[i : i + batch_size]
                batch = Xb[backend.asarray(idx) if backend.is_gpu else idx]
                loss, grads = model.loss_and_grads(batch, rng)
                loss = float(loss)
                if not math.isfinite(loss) or not math.isfinite(_sq_norm(grads)):
                    what = "loss" if not math.isfinite(loss) else "gradient"
                    raise TrainingDiverged(
                        f"training diverged: non-finite {what} at epoch {epoch}, step {step} "
                        f"(loss={loss}); the bad step was not applied; last good checkpoint: "
                        f"{last_good if last_good is not None else 'none written'}",
                        epoch,
                        step,
                        last_good,
                    )
                if l2:
                    grads = {k: g + l2 * params[k] for k, g in grads.items()}
                if clip_norm is not None:
                    clip_grad_norm(grads, clip_norm)
                opt.lr = _scheduled_lr(schedule, step, lr)
                opt.step(grads)
                step += 1
                total += loss * len(idx)
            if not math.isfinite(_sq_norm(params)):  # e.g. overflow from a huge step
                raise TrainingDiverged(
                    f"training diverged: non-finite parameters after epoch {epoch} "
                    f"(step {step}); last good checkpoint: "
                    f"{last_good if last_good is not None else 'none written'}",
                    epoch,
                    step,
                    last_good,
                )
            history.train_loss.append(total / n)
            vnll = _valid_nll(model, Xv)
            history.valid_nll.append(vnll)
            history.epoch_time.append(time.perf_counter() - t0)
            history.lr.append(float(opt.lr))
            stop = False
            if Xv is not None and vnll < best_nll:
                best_nll, best_epoch, bad_epochs = vnll, epoch, 0
                if early_stopping_patience is not None:
                    best_params = {k: to_numpy(v).copy() for k, v in params.items()}
            elif Xv is not None:
                bad_epochs += 1
                if early_stopping_patience is not None and bad_epochs >= early_stopping_patience:
                    stop = True
                    history.stopped_early = True
            history.best_epoch = best_epoch
            for cb in callbacks:
                if cb(epoch, history, model):
                    stop = True
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{history.train_loss[-1]:.4g}", valid=f"{vnll:.4g}")
            last_epoch = epoch == epochs - 1 or stop
            if ckpt_path is not None and ((epoch + 1) % every == 0 or last_epoch):
                if last_epoch and early_stopping_patience is not None and best_params is not None:
                    final_pending = epoch + 1  # written below, after the restore
                else:
                    last_good = write_checkpoint(epoch + 1)
            if stop:
                break
    finally:
        if bar is not None:
            bar.close()

    if early_stopping_patience is not None and best_params is not None:
        last_params = None
        if final_pending is not None:
            last_params = {k: to_numpy(v).copy() for k, v in params.items()}
        for k, dst in params.items():
            dst[...] = backend.asarray(best_params[k], dtype=dst.dtype)
        if final_pending is not None:
            # The final checkpoint must agree with the returned model: GenerativeModel.load
            # (and ``minigen eval``) read param/, so param/ holds the restored best
            # parameters. Everything else in the file (optimizer moments, rng state,
            # history, bad_epochs, extra/) is the state after the last epoch, so resume
            # continues from the last epoch's parameters, kept under last/: a run resumed
            # with more epochs then reproduces the uninterrupted longer run bit for bit
            # (best parameters with the last epoch's Adam moments would be a state no
            # run ever was in). One atomic write (save_checkpoint) replaces the file.
            write_checkpoint(final_pending, last_params=last_params)
    return history


def cross_validate(make_model, X, k: int = 5, random_state=None, **train_kw) -> dict:
    r"""K-fold cross-validated NLL (nats per example).

    The rows are split at random into ``k`` disjoint folds :math:`F_1, \dots, F_k`
    that cover ``X``. For each fold a fresh model :math:`\hat\theta_{-i}` is trained on
    the other folds only, and the estimate is

    .. math::

        \mathrm{CV} = \frac{1}{k} \sum_{i=1}^{k} \Bigl(-\frac{1}{|F_i|}
        \sum_{x \in F_i} \log p_{\hat\theta_{-i}}(x)\Bigr).

    The scored fold :math:`F_i` plays no part in training or model selection: it is
    never passed to :func:`train` (not even as ``X_valid``), and is scored once, after
    training. Early stopping (``early_stopping_patience``) and the validation NLL in
    the history use an inner split of the training folds instead (``validation_fraction``,
    default 0.1 with early stopping, none without). Choosing the epoch on :math:`F_i`
    itself would report :math:`\min_t` of its NLL over epochs, an optimistic estimate.

    Parameters
    ----------
    make_model : callable () -> GenerativeModel
        Builds a fresh, unfitted model for each fold.
    X : array, shape (n, ...)
    k : int
        Number of folds (>= 2, <= n).
    random_state : None, int or Generator
        One Generator, made from it once, draws the fold assignment
        (``np.array_split(rng.permutation(n), k)``) and is then passed to
        :func:`train` for every fold in turn (inner split, initialisation, batches).
    **train_kw
        Passed to :func:`train` (``epochs``, ``lr``, ``validation_fraction``,
        ``early_stopping_patience``, ...); ``X_valid`` and ``random_state`` are set here.

    Returns
    -------
    dict with ``fold_nll`` (list of k floats), ``mean`` and ``std`` (ddof=1).
    """
    k = check_positive_int(k, "k")
    X = to_numpy(check_array(X, "X", allow_empty=False))
    if k < 2 or k > len(X):
        raise ValueError(f"k must be between 2 and the number of rows ({len(X)}), got {k}")
    if not callable(make_model):
        raise TypeError("make_model must be a callable returning a fresh model")
    for bad in ("X_valid", "random_state"):
        if bad in train_kw:
            raise TypeError(
                f"cross_validate sets {bad} itself (the held-out fold is never validation "
                "data; pass validation_fraction for an inner split of the training folds)"
            )
    if train_kw.get("early_stopping_patience") is not None and not train_kw.get(
        "validation_fraction"
    ):
        train_kw["validation_fraction"] = 0.1
    rng = check_random_state(random_state)
    folds = np.array_split(rng.permutation(len(X)), k)
    scores = []
    for i in range(k):
        mask = np.ones(len(X), dtype=bool)
        mask[folds[i]] = False
        model = make_model()
        train(model, X[mask], random_state=rng, **train_kw)
        scores.append(_valid_nll(model, get_backend().asarray(X[folds[i]])))
    return {
        "fold_nll": scores,
        "mean": float(np.mean(scores)),
        "std": float(np.std(scores, ddof=1)),
    }
