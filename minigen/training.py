r"""The training loop: one for every iteratively trained family.

:func:`train` drives the training contract of :mod:`minigen.base` the same way for the
autoregressive models, the flows, the RBMs, the Boltzmann machine and the neural EBM:

* ``model.trainable_arrays()``: the live parameter arrays, which an optimizer from
  :mod:`minigen.optim` updates in place;
* ``model.loss_and_grads(batch, rng) -> (loss, grads)``: the mean training loss of a
  batch (nats per example for a likelihood; ``None`` when the model does not compute
  it, as for a CD gradient) and its gradients;
* ``model.fused_epoch(X, perm, batch_size, rng, optimizer)`` (optional): a whole epoch
  in one kernel call (the RBM's Numba epoch) instead of one call per batch; it draws
  from ``rng`` in the order the batch loop would;
* ``model.extra_state()`` / ``model.load_extra_state(d)``: further state (chains, ...).

Its settings are the model's own hyper-parameters (:data:`minigen.params.TRAINING_PARAMS`:
``max_epochs``, ``batch_size``, ``learning_rate``, ``lr_schedule``, ``optimizer``,
``momentum``, ``weight_decay``, ``clip_norm``, ``early_stopping``, ``validation_fraction``,
``patience``, ``random_state``, ``verbose``), so ``model.fit(X)`` and
``train(model, X)`` are the same run, and a checkpoint records exactly what was used.

Randomness: one Generator, made from ``random_state`` once, draws (in order) the
validation split, the parameter initialisation (``model.build_parameters``), the data-dependent
initialisation, and then, every epoch, a permutation of the training rows followed by
whatever the model draws per batch. Its state is saved in every checkpoint, so a run
resumed with ``resume_from=`` in a new process reproduces the uninterrupted run bit for bit.

**Divergence** (one rule for every family). The run stops with :class:`TrainingDiverged`
when

1. a batch's loss or gradient is NaN or infinite (checked before the step is applied),
2. a batch's loss exceeds :math:`L_0 + 10^4 (1 + |L_0|)`, :math:`L_0` the run's first
   batch loss (a likelihood that healthy training only lowers has blown up), or
3. after an epoch, a parameter is non-finite or exceeds ``model.max_abs_param`` in
   magnitude (``1e6``: far beyond any useful value, reached long before overflow), or a
   flow's map stopped being invertible.

The model then holds the parameters, optimizer state and extra state of the last epoch
that passed these checks (the initial ones if the first epoch failed) — the same state as
the last checkpoint written — and the exception names that checkpoint.

Checkpoint layout: :class:`minigen.io.Checkpoint`.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ._progress import progress
from ._threads import cpu_policy
from ._validation import check_array, check_positive_int
from .backend import get_backend, to_numpy, use_backend, xp_of
from .base import RESERVED_METADATA_KEYS, GenerativeModel, _jsonable
from .exceptions import NonFiniteError, NonInvertibleError, TrainingDiverged
from .io import Checkpoint, CheckpointError
from .optim import clip_grad_norm, make_optimizer, make_schedule
from .parallel import map_ordered
from .random import check_random_state, generator_from_state, generator_state

__all__ = [
    "train",
    "cross_validate",
    "History",
    "IterativeModel",
    "TrainingDiverged",
    "is_gradient_trained",
]

CHECKPOINT_NAME = "checkpoint.npz"
#: rule 2 above: a batch loss above L0 + LOSS_BLOWUP * (1 + |L0|) is divergence
LOSS_BLOWUP = 1e4
#: settings a resumed run may change (the run's length and its progress bar)
RESUME_MAY_CHANGE = frozenset({"max_epochs", "verbose"})
#: the names train() took before the settings became hyper-parameters
_RENAMED = {
    "epochs": "max_epochs",
    "lr": "learning_rate",
    "l2": "weight_decay",
    "early_stopping_patience": "patience (with early_stopping=True)",
    "optimizer_kwargs": "momentum / weight_decay",
}


@dataclass
class History:
    """Per-epoch record of a run.

    Attributes
    ----------
    train_loss : list of float
        Mean training loss per example (nats) over the epoch's batches (NaN when the
        model reports none, e.g. an RBM's CD epoch).
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


class IterativeModel(GenerativeModel):
    """A model trained by :func:`train`: ``fit(X)`` runs the loop with the model's own
    training settings (see :data:`minigen.params.TRAINING_PARAMS`)."""

    #: rule 3 of the divergence guard (module docstring)
    max_abs_param = 1e6
    #: score ``X_valid`` after every epoch (models whose score needs e.g. AIS say False:
    #: then only early stopping scores it)
    validate_every_epoch = True
    #: appended to the TrainingDiverged advice (e.g. " or standardize X")
    divergence_hint = ""

    def fit(self, X, y=None, *, X_valid=None):
        """Train from scratch on ``X`` (``y`` is ignored); returns self.

        ``X_valid`` (optional) is scored after every epoch (``history_.valid_nll``) and,
        with ``early_stopping=True``, used for it instead of a held-out share of ``X``.
        """
        self._forget_build()
        self.history_ = train(self, X, X_valid=X_valid)
        return self

    def fused_epoch(self, X, perm, batch_size, rng, optimizer):
        """One whole epoch in a single kernel call, or ``NotImplemented`` (the default:
        :func:`train` then calls ``loss_and_grads`` per batch). Returns the epoch's mean
        loss, or ``None`` when the kernel does not compute it."""
        return NotImplemented

    def decayed_arrays(self):
        """Names of the arrays ``weight_decay`` applies to (default: all trainable)."""
        return tuple(self.trainable_arrays())

    def training_context(self):
        """A context manager the loop runs inside (e.g. a BLAS thread limit)."""
        return contextlib.nullcontext()

    @property
    def loss_curve_(self) -> list:
        """Mean training loss per epoch of the last fit (``history_.train_loss``)."""
        self._check_fitted()
        return self.history_.train_loss



# ---------------------------------------------------------------------- set-up helpers
def _apply_settings(model, settings: dict) -> None:
    """``train(model, X, max_epochs=5, ...)`` sets those hyper-parameters on the model
    first, so that the model (and its checkpoint) records what the run used."""
    for old, new in _RENAMED.items():
        if old in settings:
            raise TypeError(f"train() setting {old!r} is now the model hyper-parameter {new}")
    if settings:
        try:
            model.set_params(**settings)
        except ValueError as exc:
            raise TypeError(f"train() got an unknown setting: {exc}") from None


def _check_data(model, X, X_valid):
    """Arrays with one example per row; flattened to ``(n, D)`` for a model that does not
    take image-shaped examples (``accepts_images``)."""
    X = check_array(X, "X", allow_empty=False)
    if X.ndim < 2:
        raise ValueError(f"X must have shape (n_samples, n_features, ...), got {X.shape}")
    if X.ndim > 2 and not model.accepts_images:
        X = X.reshape(X.shape[0], -1)
    if X_valid is not None:
        X_valid = check_array(X_valid, "X_valid", allow_empty=False)
        if X_valid.ndim > 2 and not model.accepts_images:
            X_valid = X_valid.reshape(X_valid.shape[0], -1)
        if X_valid.shape[1:] != X.shape[1:]:
            raise ValueError(
                f"X_valid rows have shape {X_valid.shape[1:]}, X rows have {X.shape[1:]}"
            )
    return X, X_valid


def _valid_nll(model, Xv) -> float:
    if Xv is None:
        return float("nan")
    return float(-np.mean(to_numpy(model.score_samples(Xv))))


def _sq_norm(arrays) -> float:
    total = 0.0
    for g in arrays.values():
        if g.size:
            total += float(xp_of(g).vdot(g.ravel(), g.ravel()).real)
    return total


def _max_abs(arrays) -> float:
    """Largest magnitude over all arrays (NaN if any value is NaN)."""
    out = 0.0
    for a in arrays.values():
        if a.size:
            m = float(xp_of(a).abs(a).max())
            if not m <= out:
                out = m
    return out


def _scheduled_lr(schedule, step: int, base_lr: float) -> float:
    """The schedule's lr for ``step``, checked: a negative one would ascend the loss."""
    value = schedule(step, base_lr)
    if type(value) is float and 0.0 <= value < math.inf:  # the common case, per step: fast
        return value
    numeric = isinstance(value, (int, float, np.floating, np.integer)) \
        and not isinstance(value, bool)
    if numeric and 0 <= value < math.inf:
        return float(value)
    raise (ValueError if numeric else TypeError)(
        f"lr_schedule returned {value!r} at step {step}; it must return a finite float >= 0")


def _make_optimizer(model, hp, params):
    """The optimizer the settings name: ``momentum`` is SGD's momentum or Adam's beta_1;
    ``weight_decay`` is AdamW's decoupled decay (the loop adds the L2 term otherwise)."""
    name, m = hp["optimizer"], hp["momentum"]
    kwargs = {"momentum": m} if name == "sgd" else {"betas": (m, 0.999)}
    if name == "adamw":
        kwargs["weight_decay"] = hp["weight_decay"]
    opt = make_optimizer(name, params, hp["learning_rate"], **kwargs)
    opt.check_finite = False  # the loop's divergence guard checks the gradients itself
    return opt


# ---------------------------------------------------------------------- the run
class _Run:
    """One call of :func:`train` for an iteratively trained model (state + steps)."""

    def __init__(self, model, hp, X, X_valid, checkpoint_dir, checkpoint_every, resume_from,
                 callbacks, metadata=None):
        self.model, self.hp, self.callbacks = model, hp, list(callbacks or ())
        self.metadata = dict(metadata or {})
        self.ckpt_path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir else None
        self.every = (check_positive_int(checkpoint_every, "checkpoint_every")
                      if checkpoint_every is not None else 1)
        self.resume = Checkpoint.load(resume_from) if resume_from is not None else None
        self.last_good = Path(resume_from) if resume_from is not None else None
        if self.resume is not None:  # before any work
            _check_resume(resume_from, self.resume, model)
        self.rng = check_random_state(hp["random_state"])
        self.history = History()
        self.valid_idx = None
        self._split(X, X_valid)
        self._build()
        self.params = model.trainable_arrays()
        self.opt = _make_optimizer(model, hp, self.params)
        n = len(self.X)
        self.batch = hp["batch_size"] or n
        steps = hp["max_epochs"] * -(-n // self.batch)
        self.schedule = make_schedule(hp["lr_schedule"], total_steps=steps)
        self.decayed = () if hp["optimizer"] == "adamw" or not hp["weight_decay"] \
            else tuple(model.decayed_arrays())
        self.start_epoch, self.step = 0, 0
        self.best_nll, self.best_epoch, self.bad_epochs = math.inf, None, 0
        self.best_params = None
        self.loss_ref = None
        self.finished = False
        self.good = self.entering = None
        self.entering_checked = False
        if self.resume is not None:
            self._restore_from(self.resume, resume_from)

    # ------------------------------------------------------------ set-up
    def _split(self, X, X_valid):
        hp = self.hp
        if X_valid is None and hp["early_stopping"]:
            n_val = max(1, int(round(hp["validation_fraction"] * len(X))))
            if hp["validation_fraction"] == 0 or n_val >= len(X):
                raise ValueError(
                    "early_stopping needs validation rows: set validation_fraction in (0, 1) "
                    f"leaving training rows (got {hp['validation_fraction']} of {len(X)} "
                    "rows), or pass X_valid to fit")
            saved = self.resume.valid_idx if self.resume is not None else None
            if saved is not None:
                self.valid_idx = _check_valid_idx(self.last_good, saved, len(X), n_val)
            else:
                self.valid_idx = np.sort(self.rng.permutation(len(X))[:n_val])
            mask = np.ones(len(X), dtype=bool)
            mask[self.valid_idx] = False
            Xh = to_numpy(X)
            X, X_valid = Xh[mask], Xh[self.valid_idx]
        backend = get_backend()
        self.X = backend.asarray(X)
        self.Xv = backend.asarray(X_valid) if X_valid is not None else None

    def _build(self):
        model = self.model
        if not model.is_built():
            model.build_parameters(model.build_argument(self.X.shape[1:]), self.rng)
            model.set_event_shape(self.X.shape[1:])
            init = getattr(model, "init_from_data", None)
            if init is not None:  # optional data-dependent initialisation (visible biases...)
                init(to_numpy(self.X), self.rng)

    def _restore_from(self, ckpt, path):
        tr = ckpt.training
        arrays = ckpt.arrays()
        try:
            if ckpt.last:  # an early-stopped run: continue from its last epoch, not the best
                arrays.update({f"param/{k}": v for k, v in ckpt.last.items()})
            self.model.load_arrays(arrays)
            self.opt.load_state_dict(dict(ckpt.optimizer))
            self.rng = generator_from_state(tr["rng_state"])
            self.history = History.from_dict(tr["history"])
        except (KeyError, TypeError, ValueError) as exc:
            why = str(exc) if isinstance(exc, CheckpointError) else f"{type(exc).__name__}: {exc}"
            raise CheckpointError(f"cannot resume from {str(path)!r}: {why}") from exc
        self.start_epoch, self.step = tr["epoch"], tr["step"]
        self.best_nll = math.inf if tr.get("best_valid_nll") is None else tr["best_valid_nll"]
        self.best_epoch, self.bad_epochs = tr.get("best_epoch"), int(tr.get("bad_epochs", 0))
        self.loss_ref = tr.get("loss_ref")
        if ckpt.best:
            missing = [k for k in self.params if k not in ckpt.best]
            if missing:
                raise CheckpointError(
                    f"cannot resume from {str(path)!r}: best/ parameters lack {missing}")
            self.best_params = {k: ckpt.best[k].copy() for k in self.params}
        # a finished run (complete, or early-stopped) is not trained further
        self.finished = bool(tr.get("finished")) and self.start_epoch >= self._target_epochs(tr)

    def _target_epochs(self, tr) -> int:
        return tr["epoch"] if self.history.stopped_early else self.hp["max_epochs"]

    # ------------------------------------------------------------ the loop
    def execute(self) -> History:
        model = self.model
        model.fitted_ = True  # built: scoring works (and loss_and_grads checks batches)
        if self.finished:
            self._restore_final()
            return self.history
        bar = _progress(self.hp["verbose"], self.hp["max_epochs"], self.start_epoch,
                        type(model).__name__)
        # the model's own context first: a policy it enters wins over the machine's
        with model.training_context(), cpu_policy():
            self._loop(bar)
        self._finish()
        return self.history

    def _loop(self, bar):
        try:
            for epoch in range(self.start_epoch, self.hp["max_epochs"]):
                # the state entering the epoch; it is "good" once a loss was computed at it
                # (the epoch's first batch) or, for a model reporting none, at once
                self.entering = self._state(epoch)
                self.entering_checked = False
                if self.good is None:  # nothing earlier to fall back to: the initial state
                    self.good = self.entering
                t0 = time.perf_counter()
                loss = self._epoch(epoch)
                self._accept_entering(epoch)  # a fused epoch (no losses) or an empty one
                self._guard_epoch(epoch)
                stop = self._record(epoch, loss, time.perf_counter() - t0)
                post = {k: f"{v[-1]:.4g}" for k, v in (("loss", self.history.train_loss),
                                                       ("valid", self.history.valid_nll))
                        if math.isfinite(v[-1])}
                bar.set_postfix(post, refresh=False)  # refresh would show it before DELAY
                bar.update(1)
                if stop:
                    break
        finally:
            bar.close()

    def _accept_entering(self, epoch):
        """The state entering ``epoch`` passed the guard: it becomes the one a divergence
        rolls back to, and it is the checkpoint due at the end of the previous epoch."""
        if self.entering_checked:
            return
        self.entering_checked = True
        self.good = self.entering
        due = epoch > self.start_epoch and epoch % self.every == 0
        if self.ckpt_path is not None and due:
            self.last_good = self.good.save(self.ckpt_path)

    def _epoch(self, epoch) -> float:
        """One pass over the training rows; the mean batch loss (NaN if not reported)."""
        model, X = self.model, self.X
        n = len(X)
        perm = self.rng.permutation(n)
        # a fused epoch steps with a constant rate and no clipping (its kernel's SGD)
        fused = model.fused_epoch(X, perm, self.batch, self.rng, self.opt) \
            if self.hp["lr_schedule"] == "constant" and self.hp["clip_norm"] is None \
            else NotImplemented
        if fused is not NotImplemented:
            self.step += -(-n // self.batch)
            return float("nan") if fused is None else float(fused)
        backend = get_backend()
        total, reported = 0.0, True
        for i in range(0, n, self.batch):
            idx = perm[i:i + self.batch]
            batch = X[backend.asarray(idx) if backend.is_gpu else idx]
            loss, grads = self._loss_and_grads(batch, epoch)
            self._guard_step(loss, grads, epoch)
            self._accept_entering(epoch)
            for k in self.decayed:  # L2: d/dtheta (wd/2 ||theta||^2) = wd * theta
                grads[k] = grads[k] + self.hp["weight_decay"] * self.params[k]
            if self.hp["clip_norm"] is not None:
                clip_grad_norm(grads, self.hp["clip_norm"])
            self.opt.lr = _scheduled_lr(self.schedule, self.step, self.hp["learning_rate"])
            self.opt.step(grads)
            self.step += 1
            if loss is None:
                reported = False
            else:
                total += loss * len(idx)
        return total / n if reported else float("nan")

    def _loss_and_grads(self, batch, epoch):
        try:
            loss, grads = self.model.loss_and_grads(batch, self.rng)
        except (NonInvertibleError, NonFiniteError, FloatingPointError) as exc:
            self._diverged(epoch, f"{type(exc).__name__}: {exc}")
        return (None if loss is None else float(loss)), grads

    # ------------------------------------------------------------ divergence guard
    def _guard_step(self, loss, grads, epoch):
        """Rules 1 and 2 of the module docstring, before the step is applied."""
        if loss is not None:
            if not math.isfinite(loss):
                self._diverged(epoch, f"non-finite loss ({loss})")
            if self.loss_ref is None:
                self.loss_ref = loss
            limit = self.loss_ref + LOSS_BLOWUP * (1.0 + abs(self.loss_ref))
            if loss > limit:
                self._diverged(epoch, f"loss {loss:.4g} blew up (first batch: "
                               f"{self.loss_ref:.4g}; limit {limit:.4g})")
        if not math.isfinite(_sq_norm(grads)):
            self._diverged(epoch, "non-finite gradient")

    def _guard_epoch(self, epoch):
        """Rule 3: parameters finite and below ``model.max_abs_param`` after the epoch."""
        big = _max_abs(self.params)
        if not big <= self.model.max_abs_param:  # also NaN
            what = ("non-finite parameters" if not math.isfinite(big) else
                    f"max |parameter| = {big:.4g} > {self.model.max_abs_param:g}")
            self._diverged(epoch, what + " after the epoch")

    def _diverged(self, epoch, what):
        """Put back the last good state (parameters, optimizer, extra state, history) and
        raise :class:`TrainingDiverged`."""
        good = self.good
        for k, dst in self.params.items():  # in place: the optimizer holds these arrays
            dst[...] = good.params[k]
        self.opt.load_state_dict(good.optimizer)
        self.model.load_extra_state(good.extra)
        self.model.history_ = History.from_dict(good.training["history"])
        n_good = good.training["epoch"]
        self.model.fitted_ = n_good > 0  # the initial parameters are not a fitted model
        where = self.last_good if self.last_good is not None else "none written"
        raise TrainingDiverged(
            f"{type(self.model).__name__} training diverged at epoch {epoch}, step "
            f"{self.step}: {what}. The model holds the last good state, after {n_good} "
            f"epoch{'s' * (n_good != 1)} (last good checkpoint: {where}); lower "
            f"learning_rate (now {self.hp['learning_rate']:g}) or set clip_norm"
            f"{self.model.divergence_hint}", epoch, self.step, self.last_good)

    # ------------------------------------------------------------ bookkeeping
    def _record(self, epoch, loss, seconds) -> bool:
        """History, validation, early stopping and callbacks; True to stop."""
        h = self.history
        h.train_loss.append(loss)
        scored = self.hp["early_stopping"] or self.model.validate_every_epoch
        vnll = _valid_nll(self.model, self.Xv if scored else None)
        h.valid_nll.append(vnll)
        h.epoch_time.append(seconds)
        h.lr.append(float(self.opt.lr))
        stop = False
        if self.Xv is None or not scored:
            pass
        elif vnll < self.best_nll:
            self.best_nll, self.best_epoch, self.bad_epochs = vnll, epoch, 0
            if self.hp["early_stopping"]:
                self.best_params = {k: to_numpy(v).copy() for k, v in self.params.items()}
        else:
            self.bad_epochs += 1
            if self.hp["early_stopping"] and self.bad_epochs >= self.hp["patience"]:
                stop = h.stopped_early = True
        h.best_epoch = self.best_epoch
        for cb in self.callbacks:
            if cb(epoch, h, self.model):
                stop = True
        return stop

    def _finish(self):
        """Restore the best parameters (early stopping) and write the final checkpoint,
        which agrees with the returned model: ``param/`` holds it; an early-stopped run
        keeps its last epoch under ``last/`` so that a resume with more epochs continues
        from the state the run was in (best parameters with the last epoch's optimizer
        moments would be a state no run ever was in)."""
        last_params = None
        if self.hp["early_stopping"] and self.best_params is not None:
            last_params = {k: to_numpy(v).copy() for k, v in self.params.items()}
            self._restore_best()
        if self.ckpt_path is not None:
            final = self._state(self.history.epochs, last_params, finished=True)
            self.last_good = final.save(self.ckpt_path)

    def _restore_best(self):
        backend = get_backend()
        for k, dst in self.params.items():
            dst[...] = backend.asarray(self.best_params[k], dtype=dst.dtype)

    def _restore_final(self):
        """Resuming a finished run: the model as the run returned it, no training."""
        backend = get_backend()
        for k, dst in self.params.items():
            dst[...] = backend.asarray(self.resume.params[k], dtype=dst.dtype)
        self.model.fitted_ = True

    def _state(self, epochs_done: int, last_params=None, finished: bool = False) -> Checkpoint:
        """The run's state as a :class:`~minigen.io.Checkpoint` of copies (what a
        divergence rolls back to, and what is written to disk)."""
        training = {
            "epoch": epochs_done,
            "step": self.step,
            "rng_state": generator_state(self.rng),
            "history": self.history.to_dict(),
            "best_valid_nll": self.best_nll if math.isfinite(self.best_nll) else None,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "loss_ref": self.loss_ref,
            "finished": finished,
            "settings": {k: _jsonable(v) for k, v in self.hp.items()},
        }
        return Checkpoint(
            metadata={**self.model.checkpoint_metadata(), **self.metadata,
                      "training": training},
            params={k: v.copy() for k, v in self.params.items()},
            extra={k: v.copy() for k, v in self.model.extra_state().items()},
            optimizer=self.opt.state_dict(),
            best=dict(self.best_params or {}),
            last=dict(last_params or {}),
            valid_idx=self.valid_idx,
        )


def _progress(verbose, total, initial, desc):
    return progress(total, desc, verbose, initial=initial, unit="epoch")


def _check_resume(path, ckpt: Checkpoint, model) -> None:
    """Refuse to resume a run of another model or other settings (only ``max_epochs``
    and ``verbose`` may change)."""
    where = f"cannot resume from {str(path)!r}"
    tr = ckpt.training
    if not isinstance(tr, dict) or "rng_state" not in tr:
        raise CheckpointError(f"{path!s} is not a training checkpoint (no training state)")
    for key, kind in (("epoch", int), ("step", int), ("history", dict), ("rng_state", dict)):
        if not isinstance(tr.get(key), kind) or isinstance(tr.get(key), bool):
            raise CheckpointError(f"{where}: training.{key} is {tr.get(key)!r}, not "
                                  f"{kind.__name__}")
    _check_run_state(where, tr)
    own = model.checkpoint_metadata()
    if ckpt.metadata.get("model") != own["model"]:
        raise CheckpointError(
            f"{where}: it holds a {ckpt.metadata.get('model')!r} model, this is a "
            f"{own['model']!r}")
    saved = ckpt.metadata.get("params")
    if not isinstance(saved, dict):
        raise CheckpointError(f"{where}: its metadata has no hyper-parameters")
    free = set(RESUME_MAY_CHANGE)
    if own["params"].get("lr_schedule") == "cosine":
        free.discard("max_epochs")  # the cosine decay spans the run's max_epochs
    changed = sorted(k for k in set(saved) | set(own["params"])
                     if k not in free and saved.get(k) != own["params"].get(k))
    if changed:
        diff = ", ".join(f"{k}: {saved.get(k)!r} -> {own['params'].get(k)!r}" for k in changed)
        raise CheckpointError(f"{where}: the run used other settings ({diff}); only "
                              f"{', '.join(sorted(RESUME_MAY_CHANGE))} may change on resume")


def _check_run_state(where: str, tr: dict) -> None:
    """The counters of a run's state are consistent: non-negative, one history entry per
    epoch done, the best epoch among them (else a CheckpointError: a negative epoch or a
    truncated history would resume as some other run)."""
    def fail(what):
        raise CheckpointError(f"{where}: training.{what}")

    epoch, step, hist = tr["epoch"], tr["step"], tr["history"]
    if epoch < 0 or step < 0:
        fail(f"epoch/step are {epoch}/{step}; they count up from 0")
    for key in ("train_loss", "valid_nll", "epoch_time", "lr"):
        values = hist.get(key, [])
        if not isinstance(values, list) or len(values) != epoch or not all(
                v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                for v in values):
            fail(f"history.{key} must be a list of {epoch} numbers (one per epoch done)")
    best = tr.get("best_epoch")
    if best is not None and (not isinstance(best, int) or isinstance(best, bool)
                             or not 0 <= best < max(epoch, 1)):
        fail(f"best_epoch is {best!r}, not an epoch done (0..{epoch - 1})")
    bad = tr.get("bad_epochs", 0)
    if not isinstance(bad, int) or isinstance(bad, bool) or not 0 <= bad <= epoch:
        fail(f"bad_epochs is {bad!r}, not in 0..{epoch}")
    for key in ("loss_ref", "best_valid_nll"):
        v = tr.get(key)
        if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool)
                                  and math.isfinite(v)):
            fail(f"{key} is {v!r}, not a finite number")
    if not isinstance(tr.get("finished", False), bool):
        fail(f"finished is {tr.get('finished')!r}, not true or false")


def _check_valid_idx(path, idx, n_rows: int, n_val: int):
    """The saved validation rows, if they can index this ``X``; else a CheckpointError."""
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


def _fit_closed_form(model, X, X_valid, checkpoint_dir, metadata=None) -> History:
    """A model fitted in one pass (no epochs): ``model.fit`` and a one-epoch History."""
    backend = get_backend()
    Xb = backend.asarray(X)
    Xv = backend.asarray(X_valid) if X_valid is not None else None
    history = History()
    t0 = time.perf_counter()
    model.fit(Xb)
    history.train_loss.append(float(-np.mean(to_numpy(model.score_samples(Xb)))))
    history.valid_nll.append(_valid_nll(model, Xv))
    history.epoch_time.append(time.perf_counter() - t0)
    history.lr.append(float("nan"))
    history.best_epoch = 0
    if checkpoint_dir is not None:
        # _save: "training" is a key reserved for minigen, refused by the public save()
        model._save(Path(checkpoint_dir) / CHECKPOINT_NAME,
                    {**(metadata or {}),
                     "training": {"history": history.to_dict(), "finished": True}})
    return history


# ---------------------------------------------------------------------- public API
def train(model, X, *, X_valid=None, checkpoint_dir=None, checkpoint_every=None,
          resume_from=None, callbacks=(), metadata=None, **settings) -> History:
    r"""Fit ``model`` to ``X`` with its own training settings (or in closed form).

    Parameters
    ----------
    model : GenerativeModel
        Built or not: an unbuilt model is built for the data's example shape with the
        run's Generator (``model.build_parameters``), then ``model.init_from_data(X, rng)`` runs
        when the model defines it. A built model continues from its parameters.
    X : array, shape (n, ...)
        Training data (NumPy or of the active backend).
    X_valid : array, optional
        Scored after every epoch; with ``early_stopping`` it replaces the held-out share.
    checkpoint_dir : path, optional
        Write ``checkpoint.npz`` (:class:`minigen.io.Checkpoint`) there every
        ``checkpoint_every`` epochs (default 1) and at the end; the final one agrees with
        the returned model.
    resume_from : path, optional
        A checkpoint of an earlier run of the same model with the same settings (only
        ``max_epochs`` and ``verbose`` may differ: anything else is a
        :class:`~minigen.io.CheckpointError`); a finished run is restored, not trained.
    callbacks : sequence of callables ``cb(epoch, history, model) -> bool``
        Called after every epoch; returning ``True`` stops training.
    metadata : dict, optional
        JSON-able entries written into every checkpoint's metadata beside minigen's own
        (whose keys, :data:`minigen.base.RESERVED_METADATA_KEYS`, it may not use), e.g.
        the dataset a command-line run trains on, so that a resume can check it.
    **settings
        Training hyper-parameters to set on the model first (``max_epochs``,
        ``learning_rate``, ``batch_size``, ... see :data:`minigen.params.TRAINING_PARAMS`):
        ``train(m, X, max_epochs=5)`` is ``m.set_params(max_epochs=5)`` then the run.

    Returns
    -------
    History

    Raises
    ------
    TrainingDiverged
        See the module docstring for the rule and the state the model is left in.
    """
    if not isinstance(model, GenerativeModel):
        raise TypeError(f"model must be a minigen GenerativeModel, got {type(model).__name__}")
    _apply_settings(model, settings)
    hp = model.validate_params()
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
        clash = sorted(set(metadata) & RESERVED_METADATA_KEYS)
        if clash:
            raise ValueError(f"metadata keys {clash} are reserved by minigen")
    if checkpoint_dir is not None and Path(checkpoint_dir).exists() \
            and not Path(checkpoint_dir).is_dir():  # before any work, not at the first save
        raise ValueError(f"checkpoint_dir {str(checkpoint_dir)!r} is a file, not a folder")
    X, X_valid = _check_data(model, X, X_valid)
    if not is_gradient_trained(model):
        return _fit_closed_form(model, X, X_valid, checkpoint_dir, metadata)
    run = _Run(model, hp, X, X_valid, checkpoint_dir, checkpoint_every, resume_from,
               callbacks, metadata)
    model.history_ = run.execute()
    return model.history_


def _cv_fold(spec, X_train, X_test, settings, seed, backend):
    """One fold (a task: picklable arguments): train a fresh model on ``X_train``, return
    its NLL on ``X_test``."""

    with use_backend(backend) as be:
        m = spec[0](**spec[1]) if isinstance(spec, tuple) else spec()
        if not isinstance(m, GenerativeModel):
            raise TypeError("model must be a minigen model or a callable returning a fresh "
                            f"one, got {type(m).__name__}")
        seeded = {"random_state": seed} if "random_state" in m.param_table() else {}
        train(m, X_train, **seeded, **settings)
        return _valid_nll(m, be.asarray(X_test))


def cross_validate(model, X, k: int = 5, random_state=None, executor=None,
                   **settings) -> dict:
    r"""K-fold cross-validated NLL (nats per example).

    The rows are split at random into ``k`` disjoint folds :math:`F_1, \dots, F_k`
    that cover ``X``. For each fold a fresh model :math:`\hat\theta_{-i}` is trained on
    the other folds only, and the estimate is

    .. math::

        \mathrm{CV} = \frac{1}{k} \sum_{i=1}^{k} \Bigl(-\frac{1}{|F_i|}
        \sum_{x \in F_i} \log p_{\hat\theta_{-i}}(x)\Bigr).

    The scored fold :math:`F_i` plays no part in training or model selection: it is
    never passed to :func:`train` (not even as ``X_valid``), and is scored once, after
    training. Early stopping uses an inner split of the training folds
    (``validation_fraction``). Choosing the epoch on :math:`F_i` itself would report
    :math:`\min_t` of its NLL over epochs, an optimistic estimate.

    Parameters
    ----------
    model : GenerativeModel or callable () -> GenerativeModel
        An estimator (each fold trains a fresh copy of its hyper-parameters) or a
        factory of fresh, unfitted models.
    X : array, shape (n, ...)
    k : int
        Number of folds (>= 2, <= n).
    random_state : None, int, Generator, ...
        One Generator, made from it once, draws the fold assignment
        (``np.array_split(rng.permutation(n), k)``), then one integer that seeds a
        :class:`numpy.random.SeedSequence` whose ``k`` children are the folds'
        ``random_state`` (inner split, initialisation, batches): each fold is then a task of
        its own.
    executor : concurrent.futures.Executor, optional
        Trains the folds on it (:mod:`minigen.parallel`; a process executor pickles the
        model, or the factory); the scores are bit-identical to ``executor=None``.
    **settings
        Training settings for every fold (``max_epochs``, ``learning_rate``, ...).

    Returns
    -------
    dict with ``fold_nll`` (list of k floats), ``mean`` and ``std`` (ddof=1).
    """

    k = check_positive_int(k, "k")
    X = to_numpy(check_array(X, "X", allow_empty=False))
    if k < 2 or k > len(X):
        raise ValueError(f"k must be between 2 and the number of rows ({len(X)}), got {k}")
    for bad in ("X_valid", "random_state"):
        if bad in settings:
            raise TypeError(
                f"cross_validate sets {bad} itself (the held-out fold is never validation "
                "data; set early_stopping=True for an inner split of the training folds)"
            )
    if not (isinstance(model, GenerativeModel) or callable(model)):
        raise TypeError("model must be a minigen model or a callable returning a fresh one")
    spec = (type(model), model.get_params(deep=False)) if isinstance(
        model, GenerativeModel) else model
    rng = check_random_state(random_state)
    folds = np.array_split(rng.permutation(len(X)), k)
    seeds = np.random.SeedSequence(int(rng.integers(2**63))).spawn(k)
    backend = get_backend().name
    tasks = []
    for i in range(k):
        mask = np.ones(len(X), dtype=bool)
        mask[folds[i]] = False
        tasks.append((spec, X[mask], X[folds[i]], settings, seeds[i], backend))
    scores = map_ordered(executor, _cv_fold, tasks)
    return {
        "fold_nll": scores,
        "mean": float(np.mean(scores)),
        "std": float(np.std(scores, ddof=1)),
    }
