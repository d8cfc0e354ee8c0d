r"""Forward KL (maximum likelihood) with the same step budget as :func:`fit_reverse_kl`.

.. math::

    \mathrm{KL}(p\|q_\theta) = \mathbb E_p[\log p(x) - \log q_\theta(x)]
    = -H(p) - \mathbb E_p[\log q_\theta(x)],

so minimizing it over :math:`\theta` is maximizing the likelihood of samples from
:math:`p` (the entropy :math:`H(p)` does not depend on :math:`\theta`). This is what
:func:`minigen.training.train` does epoch by epoch; :func:`fit_forward_kl` does it with
``n_steps`` mini-batches of ``batch_size`` rows drawn with replacement, the optimizer
settings of :func:`~minigen.objectives.fit_reverse_kl`, so the two directions can be
compared step for step. It drives the model's public training contract
(``trainable_arrays``, ``loss_and_grads``; :mod:`minigen.base`).
"""

from __future__ import annotations

import numpy as np

from .._validation import check_array, check_positive_int
from ..backend import get_backend, to_numpy
from ..random import check_random_state
from ._loop import run_steps

__all__ = ["fit_forward_kl"]


def fit_forward_kl(
    model,
    X,
    *,
    n_steps: int = 1000,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    optimizer: str = "adam",
    optimizer_kwargs=None,
    clip_norm=None,
    random_state=None,
    verbose: bool = False,
) -> list:
    """Fit ``model`` to samples ``X`` of :math:`p` by ``n_steps`` maximum-likelihood steps.

    Parameters
    ----------
    model : a gradient-trained model (``trainable_arrays``, ``loss_and_grads``); built here
        from ``X``'s shape and ``random_state`` unless already fitted.
    X : array (n, ...)
    n_steps, batch_size, learning_rate, optimizer, optimizer_kwargs, clip_norm, random_state,
    verbose
        As :func:`~minigen.objectives.fit_reverse_kl` (``batch_size`` rows per step, drawn
        with replacement).

    Returns
    -------
    list of float
        The mean NLL (nats) of each step's batch; ``model`` is fitted in place.

    Raises
    ------
    minigen.training.TrainingDiverged
        On a non-finite loss or gradient (parameters keep their last finite values).
    """
    X = check_array(X, "X", allow_empty=False)
    if X.ndim < 2:
        raise ValueError(f"X must have shape (n_samples, n_features, ...), got {X.shape}")
    bs = check_positive_int(batch_size, "batch_size")
    rng = check_random_state(random_state)
    if not getattr(model, "fitted_", False):
        shape = tuple(int(s) for s in X.shape[1:])
        model.build_parameters(shape[0] if len(shape) == 1 else list(shape), rng)
        init = getattr(model, "init_from_data", None)
        if init is not None:  # data-dependent initialisation (ActNorm, visible biases)
            init(to_numpy(X), rng)
    Xb = get_backend().asarray(X)
    params = model.trainable_arrays()

    def step(t):
        idx = rng.integers(0, len(Xb), size=bs)
        return model.loss_and_grads(
            Xb[get_backend().asarray(idx) if get_backend().is_gpu else np.asarray(idx)], rng
        )

    losses = run_steps(params, step, n_steps, optimizer=optimizer, learning_rate=learning_rate,
                       optimizer_kwargs=optimizer_kwargs, clip_norm=clip_norm, verbose=verbose,
                       desc="forward KL")
    model.fitted_ = True
    return losses
