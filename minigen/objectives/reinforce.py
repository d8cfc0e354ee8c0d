r"""REINFORCE: sequence-level rewards for autoregressive models.

Teacher forcing trains every conditional on data prefixes, but the trained model
generates from its own prefixes, which it never saw in training: errors compound
(*exposure bias*). Sequence-level training scores whole samples of the model itself with
a reward :math:`R(x)` and maximizes :math:`J(\theta) = \mathbb E_{x\sim p_\theta}[R(x)]`
by the score-function (likelihood-ratio) gradient

.. math::

    \nabla_\theta J = \mathbb E_{p_\theta}\big[(R(x) - b)\,\nabla_\theta \log p_\theta(x)\big]
    \approx \frac1n \sum_{i=1}^n (R(x_i) - b_i)\,\nabla_\theta \log p_\theta(x_i),

unbiased for any baseline :math:`b_i` that does not depend on :math:`x_i`
(:math:`\mathbb E[\nabla\log p] = 0`); a good one cuts the variance. Baselines here:

* ``"moving-average"``: :math:`b_t = \lambda b_{t-1} + (1-\lambda)\bar R_{t-1}` over past
  steps (the first step uses leave-one-out);
* ``"leave-one-out"``: :math:`b_i = \frac1{n-1}\sum_{j\ne i} R_j` (Kool et al. 2019);
* ``"self-critical"``: :math:`b = R(\hat x)`, :math:`\hat x` the model's greedy decode
  (argmax of every conditional, Rennie et al. 2017);
* a float (constant), ``None`` (0), or a callable ``rewards (n,) -> b (n,)``.

The samples come from the model's own ``sample`` (its cached sampler where it has one),
without a graph; the gradient comes from one teacher-forced pass over them,
``model.log_prob_tensor(x)``, and autograd on the surrogate
:math:`-\frac1n\sum_i (R_i - b_i)\log p_\theta(x_i)`, whose gradient is the estimate of
:math:`-\nabla J` (the optimizer minimizes :math:`-J`).

References: Williams (1992) "Simple statistical gradient-following algorithms for
connectionist reinforcement learning"; Ranzato et al. (2016) "Sequence level training with
recurrent neural networks"; Yu et al. (2017) SeqGAN (the oracle experiment);
Rennie et al. (2017) "Self-critical sequence training"; Kool, van Hoof, Welling (2019)
"Buy 4 REINFORCE samples, get a baseline for free!".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._validation import check_positive_float, check_positive_int
from ..autograd import F, Tensor
from ..backend import get_backend, to_numpy
from ..random import check_random_state
from ._loop import autograd_module, run_steps

__all__ = ["ReinforceHistory", "reinforce_loss_and_grads", "train_reinforce", "greedy_decode"]

_CONTRACT = ("REINFORCE needs sample(n, random_state) and log_prob_tensor(X) -> Tensor (n,) "
             "(every autoregressive model has both)")
_GREEDY_T = 1e-6  # sampling at this temperature draws the argmax of every conditional


@dataclass
class ReinforceHistory:
    """Per step: ``mean_reward`` of the batch and the ``baseline`` used (its mean)."""

    mean_reward: list = field(default_factory=list)
    baseline: list = field(default_factory=list)


def _check_model(model):
    for attr in ("sample", "log_prob_tensor"):
        if not hasattr(model, attr):
            raise TypeError(f"{type(model).__name__} has no {attr}; {_CONTRACT}")
    if not getattr(model, "fitted_", False):
        raise ValueError(f"{type(model).__name__} is not fitted; REINFORCE fine-tunes a fitted "
                         "model (fit it by teacher forcing first)")
    return autograd_module(model, _CONTRACT)


def _rewards(reward, x) -> np.ndarray:
    r = np.asarray(to_numpy(reward(x)), dtype=np.float64)
    if r.shape != (len(x),):
        raise ValueError(f"reward(x) must return shape ({len(x)},), got {r.shape}")
    if not np.isfinite(r).all():
        raise ValueError(f"reward returned {int((~np.isfinite(r)).sum())} non-finite values")
    return r


def greedy_decode(model):
    """The model's greedy sequence (argmax of each conditional in order), shape
    ``(1, *example_shape)``."""
    return model.sample(1, random_state=0, temperature=_GREEDY_T)


def _baseline_values(baseline, r, model, reward) -> np.ndarray:
    n = len(r)
    if baseline is None:
        return np.zeros(n)
    if isinstance(baseline, str):
        if baseline == "leave-one-out":
            if n < 2:
                raise ValueError("baseline='leave-one-out' needs n_samples >= 2")
            return (r.sum() - r) / (n - 1)
        if baseline == "self-critical":
            return np.full(n, _rewards(reward, greedy_decode(model))[0])
        raise ValueError(f"baseline must be None, a float, 'leave-one-out', 'self-critical', "
                         f"'moving-average' (train_reinforce) or a callable; got {baseline!r}")
    if callable(baseline):
        b = np.asarray(to_numpy(baseline(r)), dtype=np.float64)
        if b.shape not in ((), (n,)) or not np.isfinite(b).all():
            raise ValueError(f"baseline(rewards) must return a finite scalar or shape ({n},)")
        return np.broadcast_to(b, (n,)).copy()
    b = float(baseline)
    if not np.isfinite(b):
        raise ValueError(f"baseline must be finite, got {baseline!r}")
    return np.full(n, b)


def reinforce_loss_and_grads(model, reward, n_samples: int = 64, random_state=None, *,
                             baseline="leave-one-out", temperature: float = 1.0):
    r"""One REINFORCE estimate: draw ``n_samples`` from ``model``, score them, backprop.

    Parameters
    ----------
    model : autoregressive model (``sample``, ``log_prob_tensor``, an autograd ``net_``)
    reward : callable ``x (n, *example_shape) int -> (n,)`` finite floats
    n_samples : int
    random_state : None, int or Generator
    baseline : None, float, "leave-one-out", "self-critical" or callable (module docstring)
    temperature : float
        Sampling temperature (1 = the model's distribution, what the gradient is for).

    Returns
    -------
    (loss, grads, rewards, b) : ``loss = -mean(R)``; ``grads`` (dict like
        ``model.trainable_arrays()``) estimates :math:`-\nabla_\theta \mathbb E[R]`;
        the rewards ``(n,)`` and baselines ``(n,)`` used.
    """
    n = check_positive_int(n_samples, "n_samples")
    temperature = check_positive_float(temperature, "temperature")
    module = _check_model(model)
    if not callable(reward):
        raise TypeError(f"reward must be callable, got {type(reward).__name__}")
    rng = check_random_state(random_state)
    x = model.sample(n, random_state=rng, temperature=temperature)
    r = _rewards(reward, x)
    b = _baseline_values(baseline, r, model, reward)
    module.zero_grad()
    lp = model.log_prob_tensor(x)
    adv = Tensor(get_backend().asarray((r - b).astype(lp.dtype)))
    surrogate = -F.mean(adv * lp)  # its gradient: -(1/n) sum (R_i - b_i) grad log p(x_i)
    surrogate.backward()
    return -float(r.mean()), module.grad_arrays(), r, b


def train_reinforce(
    model,
    reward,
    n_steps: int = 200,
    n_samples: int = 64,
    *,
    baseline="moving-average",
    baseline_decay: float = 0.9,
    learning_rate: float = 1e-3,
    optimizer: str = "adam",
    optimizer_kwargs=None,
    clip_norm=None,
    random_state=None,
    verbose: bool = False,
) -> ReinforceHistory:
    r"""Maximize :math:`\mathbb E_{p_\theta}[R(x)]` by ``n_steps`` REINFORCE steps.

    Parameters
    ----------
    model : a fitted autoregressive model (e.g. after teacher forcing); updated in place.
    reward : callable ``x -> (n,)``
        E.g. an oracle's log-likelihood, ``oracle.score_samples``.
    n_steps, n_samples : int
        Steps, and samples per step (drawn with the model's own sampler).
    baseline : "moving-average" (default), "leave-one-out", "self-critical", None, float
        or callable; see the module docstring.
    baseline_decay : float in [0, 1)
        :math:`\lambda` of the moving average.
    learning_rate, optimizer, optimizer_kwargs, clip_norm
        A :mod:`minigen.optim` optimizer and optional gradient-norm clipping.
    random_state : None, int or Generator
    verbose : bool
        tqdm progress bar.

    Returns
    -------
    ReinforceHistory

    Raises
    ------
    minigen.training.TrainingDiverged
        On a non-finite gradient (parameters keep their last finite values).
    """
    _check_model(model)
    decay = float(baseline_decay)
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"baseline_decay must be in [0, 1), got {baseline_decay!r}")
    n = check_positive_int(n_samples, "n_samples")
    rng = check_random_state(random_state)
    hist = ReinforceHistory()
    state = {"avg": None}

    def step(t):
        b = baseline
        if baseline == "moving-average":
            b = "leave-one-out" if state["avg"] is None else state["avg"]
        loss, grads, r, bv = reinforce_loss_and_grads(model, reward, n, rng, baseline=b)
        state["r"], state["b"] = float(r.mean()), float(bv.mean())
        return loss, grads

    def on_step(t, loss):
        avg = state["avg"]
        state["avg"] = state["r"] if avg is None else decay * avg + (1 - decay) * state["r"]
        hist.mean_reward.append(state["r"])
        hist.baseline.append(state["b"])

    params = model.trainable_arrays()
    run_steps(params, step, n_steps, optimizer=optimizer, learning_rate=learning_rate,
              optimizer_kwargs=optimizer_kwargs, clip_norm=clip_norm, verbose=verbose,
              desc="REINFORCE", on_step=on_step)
    return hist
