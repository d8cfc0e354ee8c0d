r"""Reverse-KL training: fit a sampler to an unnormalized density, without data.

Given :math:`\tilde p = Z p` (known up to :math:`Z`) and a model :math:`q_\theta` with
reparameterized samples :math:`x = g_\theta(z)`, :math:`z \sim \mathcal N(0, I)` (a flow's
inverse pass), minimize

.. math::

    \mathcal L(\theta) = \mathbb E_{q_\theta}\big[\log q_\theta(x) - \log\tilde p(x)\big]
    = \mathrm{KL}(q_\theta \| p) - \log Z \;\ge\; -\log Z ,

by the reparameterization gradient :math:`\nabla_\theta \mathcal L =
\mathbb E_z\big[\nabla_\theta\big(\log q_\theta(g_\theta(z)) - \log\tilde p(g_\theta(z))\big)\big]`
(autograd through the inverse; the sample mean over ``n_samples`` fresh draws per step).
Its minimum :math:`-\log Z` is reached at :math:`q = p`, so :math:`-\mathcal L` is a lower
bound on :math:`\log Z` (the ELBO), and importance weighting :math:`\tilde p/q` of the
trained :math:`q` gives an unbiased estimate of :math:`Z` (:mod:`.importance`).

Maximum likelihood minimizes the other direction, :math:`\mathrm{KL}(p\|q)`: a :math:`q`
that misses part of :math:`p` pays :math:`\log(p/q) \to \infty` there, so :math:`q` spreads
over every mode (mode covering). Reverse KL weighs :math:`\log(q/p)` by :math:`q`: mass
where :math:`p` is small is expensive, missing a mode costs nothing, so :math:`q` settles
on one mode or a few (mode seeking). ``docs/kl_direction.md`` measures both on the ring.

References: Rezende & Mohamed (2015) "Variational inference with normalizing flows";
Papamakarios et al. (2021) "Normalizing flows for probabilistic modeling and inference",
section 2.3.3; Noe et al. (2019) "Boltzmann generators".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._validation import check_positive_int
from ..autograd import F
from ..random import check_random_state
from ._loop import autograd_module, run_steps
from .importance import LogZEstimate, estimate_log_z
from .log_density import as_log_density

__all__ = ["ReverseKLResult", "reverse_kl_loss_and_grads", "fit_reverse_kl"]

_CONTRACT = ("reverse KL needs sample_and_log_prob(n, random_state) -> (x, log_q) Tensors "
             "whose graph reaches the model's parameters")


@dataclass
class ReverseKLResult:
    """``loss`` per step (nats; :math:`\\ge -\\log Z`), the final :class:`LogZEstimate`
    ``log_z`` from ``n_eval`` fresh draws, and the trained ``model``."""

    model: object
    loss: list = field(default_factory=list)
    log_z: LogZEstimate | None = None


def reverse_kl_loss_and_grads(model, log_p_unnormalized, n_samples: int = 256,
                              random_state=None, *, grad_log_p=None):
    r"""One Monte Carlo estimate of :math:`\mathcal L` and its reparameterization gradient.

    Parameters
    ----------
    model : a built model with ``sample_and_log_prob`` (flows, ``DiagonalGaussian``)
    log_p_unnormalized : callable
        :math:`\log\tilde p`; see :mod:`minigen.objectives.log_density` for the two modes
        (Tensor ops, or arrays with ``grad_log_p``).
    n_samples : int
        Draws :math:`z_i` averaged in this estimate.
    random_state : None, int or Generator
        The same seed gives the same :math:`z_i`, so the estimate is a deterministic,
        differentiable function of the parameters (what the finite-difference test uses).

    Returns
    -------
    (loss, grads) : float (nats), dict like ``model.trainable_arrays()`` (zeros, with no
        backward pass, when the loss is not finite).
    """
    n = check_positive_int(n_samples, "n_samples")
    if not hasattr(model, "sample_and_log_prob"):
        raise TypeError(f"{type(model).__name__} has no sample_and_log_prob; {_CONTRACT}")
    module = autograd_module(model, _CONTRACT)
    target = as_log_density(log_p_unnormalized, grad_log_p)
    module.zero_grad()
    x, log_q = model.sample_and_log_prob(n, random_state=random_state)
    log_p = target.tensor(x)
    loss = F.mean(log_q - F.astype(log_p, log_q.dtype))  # E_q[log q - log p~]
    if not np.isfinite(float(loss.data)):  # no backward through NaN; the caller reports it
        return float(loss.data), module.grad_arrays()
    loss.backward()
    return float(loss.data), module.grad_arrays()


def fit_reverse_kl(model, log_p_unnormalized, n_samples: int = 256, *, n_steps: int = 1000,
                   learning_rate: float = 1e-3, optimizer: str = "adam", optimizer_kwargs=None,
                   clip_norm=None, grad_log_p=None, n_features=None, n_eval: int = 10_000,
                   random_state=None, verbose: bool = False) -> ReverseKLResult:
    r"""Train ``model`` to minimize :math:`\mathrm{KL}(q\|p)` against :math:`\tilde p`.

    Parameters
    ----------
    model : flow model (``nice``, ``realnvp``, ``glow``, ``DiagonalGaussian``) or any model
        with ``sample_and_log_prob`` and an autograd network; fitted already (training
        continues from its parameters) or not (then ``n_features`` is required and the
        model is built from ``random_state``; flows must be continuous, ``n_bins=None``).
    log_p_unnormalized : callable
        :math:`\log\tilde p(x)` for ``x`` of shape ``(n, *n_features)``.
    n_samples : int
        Draws per gradient step.
    n_steps, learning_rate, optimizer, optimizer_kwargs, clip_norm
        ``n_steps`` steps of a :mod:`minigen.optim` optimizer (``"adam"``, ``"adamw"``,
        ``"sgd"``), optional joint gradient-norm clipping.
    grad_log_p : None, callable or ``"finite-difference"``
        How :math:`\nabla_x\log\tilde p` is obtained (:mod:`.log_density`).
    n_features : int or tuple, optional
        Event shape for an unfitted model (``2`` for the 2-D toys).
    n_eval : int
        Draws for the final :class:`LogZEstimate` (0 skips it).
    random_state : None, int or Generator
        One Generator draws the initialisation, then every step's :math:`z`.
    verbose : bool
        tqdm progress bar.

    Returns
    -------
    ReverseKLResult
        ``model`` is fitted in place (``fitted_ = True``) and returned in it.

    Raises
    ------
    minigen.training.TrainingDiverged
        On a non-finite loss or gradient; the parameters keep their last finite values.
    """
    n = check_positive_int(n_samples, "n_samples")
    n_eval = check_positive_int(n_eval, "n_eval", allow_zero=True)
    if not hasattr(model, "sample_and_log_prob"):
        raise TypeError(f"{type(model).__name__} has no sample_and_log_prob; {_CONTRACT}")
    rng = check_random_state(random_state)
    if not getattr(model, "fitted_", False):
        if n_features is None:
            raise ValueError(f"{type(model).__name__} is not fitted: pass n_features= (the "
                             "shape of one x, e.g. 2 for the 2-D toys) to build it")
        if getattr(model, "n_bins", None) not in (None, "auto"):
            raise ValueError(f"reverse KL needs a continuous model; got n_bins={model.n_bins!r}"
                             " (use n_bins=None)")
        model.build_parameters(n_features, rng)
    target = as_log_density(log_p_unnormalized, grad_log_p)
    params = model.trainable_arrays()

    def step(t):
        return reverse_kl_loss_and_grads(model, target, n, rng)

    result = ReverseKLResult(model=model)
    result.loss = run_steps(params, step, n_steps, optimizer=optimizer, learning_rate=learning_rate,
                            optimizer_kwargs=optimizer_kwargs, clip_norm=clip_norm,
                            verbose=verbose, desc="reverse KL")
    model.fitted_ = True
    if n_eval >= 2:
        result.log_z = estimate_log_z(model, target, n_eval, rng)
    return result
