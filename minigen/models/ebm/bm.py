r"""Fully visible Boltzmann machine, trained by exact maximum likelihood.

.. math:: E(x) = -\tfrac12 x^\top J x - h^\top x, \qquad p(x) = e^{-E(x)} / Z,

with ``J`` symmetric and zero on the diagonal, :math:`x \in \{0,1\}^n`. The
log-likelihood gradient is *data moments minus model moments*,

.. math:: \partial_{J_{ij}} \bar\ell = \langle x_i x_j\rangle_{data} - \langle x_i x_j\rangle_p,
          \qquad \partial_{h_i} \bar\ell = \langle x_i\rangle_{data} - \langle x_i\rangle_p,

where the model moments come from exact enumeration (:mod:`minigen.distributions.boltzmann`, so
``n <= 24``; training is practical up to ~16 units). Sampling is sequential
single-site Gibbs (:func:`minigen.mcmc.gibbs_boltzmann`).

References: Ackley, Hinton & Sejnowski, Cognitive Science 9 (1985).
"""

from __future__ import annotations

import numpy as np

from ..._validation import check_binary, check_positive_int
from ...backend import get_backend
from ...base import register_model
from ...distributions import boltzmann
from ...mcmc import gibbs_boltzmann
from ...training import IterativeModel


@register_model("bm")
class BoltzmannMachine(IterativeModel):
    """Fully visible binary Boltzmann machine (exact MLE for small ``n``).

    Trained by :func:`minigen.training.train` (``fit``): by default full-batch gradient
    descent on the exact mean NLL (``batch_size=None``, plain SGD, ``learning_rate=0.5``,
    ``max_epochs=200``); ``weight_decay`` is an L2 penalty on ``J`` only.

    Attributes
    ----------
    coupling_ : (n, n) symmetric, zero-diagonal ``J``.
    bias_ : (n,) ``h``.
    history_ : :class:`minigen.training.History` of the last fit.
    """

    data_kind = "binary, at most 24 units"
    likelihood_kind = "exact (enumeration)"

    hyperparameters: dict = {}
    nonnegative_input = True  # binary states
    training_defaults = {"max_epochs": 200, "batch_size": None, "learning_rate": 0.5,
                         "optimizer": "sgd", "momentum": 0.0}

    # ------------------------------------------------------------ parameters
    def build_parameters(self, n_features, rng=None):
        n = int(n_features)
        if n > boltzmann.MAX_ENUM_UNITS:
            raise ValueError(f"BoltzmannMachine supports at most {boltzmann.MAX_ENUM_UNITS} units "
                             f"(exact enumeration), got {n}")
        xp = get_backend().xp
        self.set_event_shape((n,))
        self.coupling_ = xp.zeros((n, n))
        self.bias_ = xp.zeros(n)

    @classmethod
    def from_parameters(cls, J, h):
        """A fitted machine with the given couplings (asymmetric ``J`` raises)."""
        J, h = boltzmann.check_coupling(J, h)
        m = cls()
        m.build_parameters(J.shape[0])
        m.set_event_shape((J.shape[0],))
        m.coupling_[...] = J
        m.bias_[...] = h
        m.fitted_ = True
        return m

    def trainable_arrays(self) -> dict:
        return {"J": self.coupling_, "h": self.bias_}

    def decayed_arrays(self):
        return ("J",)

    def _check_X(self, X, *, check_width=True):
        X = check_binary(X, "X")
        if X.ndim != 2:
            raise ValueError(f"X must have shape (n_samples, n_features), got {X.shape}")
        if check_width and self.is_built() and X.shape[1] != self.bias_.shape[0]:
            raise self._width_error(X.shape[1])
        return get_backend().xp.asarray(X, dtype=np.float64)

    # ------------------------------------------------------------ likelihood
    def energy(self, X):
        """:math:`E(x)` of each row -> (m,)."""
        self._check_fitted()
        return boltzmann.quadratic_energy(self._check_X(X), self.coupling_, self.bias_)

    def log_partition(self, method: str = "exact") -> float:
        if method != "exact":
            raise ValueError("BoltzmannMachine.log_partition supports method='exact' only")
        self._check_fitted()
        return boltzmann.log_partition(self.coupling_, self.bias_)

    def score_samples(self, X):
        """Exact :math:`\\log p(x)` (nats) by enumeration of :math:`Z`."""
        self._check_fitted()
        return boltzmann.exact_log_likelihood(self._check_X(X), self.coupling_, self.bias_)

    def loss_and_grads(self, batch, rng=None):
        r"""Mean NLL of ``batch`` and its exact gradient, *model minus data moments*:
        :math:`\partial_J \mathrm{NLL} = \tfrac12(\langle xx^\top\rangle_p
        - \langle xx^\top\rangle_{data})` per entry (``J_ij`` and ``J_ji`` each carry
        half of the pair term), :math:`\partial_h \mathrm{NLL} = \langle x\rangle_p
        - \langle x\rangle_{data}`."""
        X = self._check_X(batch)
        xp = get_backend().xp
        m1, m2 = boltzmann.exact_moments(self.coupling_, self.bias_)
        d1 = X.mean(axis=0)
        d2 = X.T @ X / X.shape[0]
        gJ = 0.5 * (m2 - d2)
        gJ = gJ - xp.diag(xp.diagonal(gJ))
        logz = boltzmann.log_partition(self.coupling_, self.bias_)
        loss = float(boltzmann.quadratic_energy(X, self.coupling_, self.bias_).mean() + logz)
        return loss, {"J": gJ, "h": m1 - d1}

    def sample(self, n_samples: int, random_state=None, *, n_sweeps: int = 200):
        """``n_samples`` independent chains, each after ``n_sweeps`` sequential Gibbs sweeps."""

        self._check_fitted()
        n_samples = check_positive_int(n_samples, "n_samples")
        # checked here: gibbs_boltzmann would name its own argument (burn_in = n_sweeps - 1)
        n_sweeps = check_positive_int(n_sweeps, "n_sweeps")
        res = gibbs_boltzmann(self.coupling_, self.bias_, 1, n_chains=n_samples,
                              burn_in=n_sweeps - 1, random_state=random_state)
        return res.samples[:, 0, :]
