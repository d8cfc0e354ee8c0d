"""The gradient loop shared by the data-free objectives (reverse KL, REINFORCE).

One step: ``loss, grads = step_fn(t)``; refuse a non-finite loss or gradient
(:class:`~minigen.training.TrainingDiverged`, parameters left at their last finite
values, the bad step not applied), optionally clip, take one optimizer step, and
undo it if it left a parameter non-finite. Progress through ``tqdm.auto``.
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_positive_float, check_positive_int
from ..backend import xp_of
from ..optim import clip_grad_norm, make_optimizer
from ..training import TrainingDiverged

__all__ = ["autograd_module", "run_steps"]


def autograd_module(model, contract: str):
    """The autograd ``Module`` whose Parameters hold ``model``'s trainable arrays:
    ``model.flow_`` (flows), ``model.net_`` (autoregressive models) or ``model`` itself."""
    for name in ("flow_", "net_"):
        mod = getattr(model, name, None)
        if mod is not None and hasattr(mod, "grad_arrays"):
            return mod
    if hasattr(model, "grad_arrays") and hasattr(model, "param_arrays"):
        return model
    raise TypeError(
        f"{type(model).__name__} has no autograd network (flow_, net_, or a Module); "
        f"{contract}"
    )


def _all_finite(arrays: dict) -> bool:
    ok = True
    for a in arrays.values():
        if a.size:
            ok = ok & xp_of(a).isfinite(a).all()
    return bool(ok)


def run_steps(
    params: dict,
    step_fn,
    n_steps: int,
    *,
    optimizer: str = "adam",
    learning_rate: float = 1e-3,
    optimizer_kwargs=None,
    clip_norm=None,
    verbose: bool = False,
    desc: str = "",
    on_step=None,
) -> list[float]:
    """Run ``n_steps`` optimizer steps on ``params`` (live arrays, updated in place).

    ``step_fn(t) -> (loss, grads)``; ``on_step(t, loss)`` after each applied step.
    Returns the losses. Raises ``TrainingDiverged`` (step ``t``) on a non-finite loss,
    gradient or updated parameter, leaving ``params`` at their last finite values.
    """
    from tqdm.auto import tqdm

    n_steps = check_positive_int(n_steps, "n_steps")
    learning_rate = check_positive_float(learning_rate, "learning_rate", allow_zero=True)
    if clip_norm is not None:
        clip_norm = check_positive_float(clip_norm, "clip_norm")
    opt = make_optimizer(optimizer, params, learning_rate, **(optimizer_kwargs or {}))
    opt.check_finite = False  # checked here, with a TrainingDiverged naming the step
    losses = []
    bar = tqdm(total=n_steps, desc=desc or None, disable=not verbose, leave=False)
    try:
        for t in range(n_steps):
            loss, grads = step_fn(t)
            loss = float(loss)
            if not math.isfinite(loss) or not _all_finite(grads):
                what = "loss" if not math.isfinite(loss) else "gradient"
                raise TrainingDiverged(
                    f"{desc or 'training'} diverged at step {t}: non-finite {what} "
                    f"(loss {loss}); parameters are left at their last finite values",
                    0,
                    t,
                )
            if clip_norm is not None:
                clip_grad_norm(grads, clip_norm)
            before = {k: p.copy() for k, p in params.items()}
            with np.errstate(over="ignore", invalid="ignore"):  # overflow is checked below
                opt.step(grads)
            if not _all_finite(params):
                for k, p in params.items():
                    p[...] = before[k]
                raise TrainingDiverged(
                    f"{desc or 'training'} diverged at step {t}: the update made a parameter "
                    "non-finite (learning rate too large?); it was undone",
                    0,
                    t,
                )
            losses.append(loss)
            if on_step is not None:
                on_step(t, loss)
            bar.update(1)
            if verbose:
                bar.set_postfix(loss=f"{loss:.4g}")
    finally:
        bar.close()
    return losses
