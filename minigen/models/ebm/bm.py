r"""Fully visible Boltzmann machine, trained by exact maximum likelihood.

.. math:: E(x) = -\tfrac12 x^\top J x - h^\top x, \qquad p(x) = e^{-E(x)} / Z,

with ``J`` symmetric and zero on the diagonal, :math:`x \in \{0,1\}^n`. The
log-likelihood gradient is *data moments minus model moments*,

.. math:: \partial_{J_{ij}} \bar\ell = \langle x_i x_j\rangle_{data} - \langle x_i x_j\rangle_p,
          \qquad \partial_{h_i} \bar\ell = \langle x_i\rangle_{data} - \langle x_i\rangle_p,

where the model moments come from exact enumeration (:mod:`.boltzmann`, so
``n <= 24``; training is practical up to ~16 units). Sampling is sequential
single-site Gibbs (:func:`minigen.mcmc.gibbs_boltzmann`).

References: Ackley, Hinton & Sejnowski, Cognitive Science 9 (1985).
"""

from __future__ import annotations

import numpy as np

from ..._validation import check_binary, check_positive_float, check_positive_int
from ...backend import get_backend
from ...base import GenerativeModel, register_model
from ...random import check_random_state
from . import boltzmann as bz


@register_model("bm")
class BoltzmannMachine(GenerativeModel):
    """Fully visible binary Boltzmann machine (exact MLE for small ``n``).

    Parameters
    ----------
    n_iter : int
        Full-batch gradient-ascent steps in :meth:`fit`.
    learning_rate : float
        Step size of :meth:`fit` (plain gradient ascent on the mean log-likelihood).
    l2 : float
        L2 penalty on ``J``.
    random_state : None, int or Generator

    Attributes
    ----------
    coupling_ : (n, n) symmetric, zero-diagonal ``J``.
    bias_ : (n,) ``h``.
    """

    def __init__(self, n_iter: int = 200, learning_rate: float = 0.5, l2: float = 0.0,
                 random_state=None):
        self.n_iter = n_iter
        self.learning_rate = learning_rate
        self.l2 = l2
        self.random_state = random_state

    # ------------------------------------------------------------ parameters
    def _build(self, n_features, rng=None):
        n = int(n_features)
        if n > bz.MAX_ENUM_UNITS:
            raise ValueError(f"BoltzmannMachine supports at most {bz.MAX_ENUM_UNITS} units "
                             f"(exact enumeration), got {n}")
        xp = get_backend().xp
        self.n_features_in_ = n
        self.coupling_ = xp.zeros((n, n))
        self.bias_ = xp.zeros(n)

    @classmethod
    def from_parameters(cls, J, h):
        """A fitted machine with the given couplings (asymmetric ``J`` raises)."""
        J, h = bz.check_coupling(J, h)
        m = cls()
        m._build(J.shape[0])
        m.coupling_[...] = J
        m.bias_[...] = h
        m.fitted_ = True
        return m

    def trainable_arrays(self) -> dict:
        return {"J": self.coupling_, "h": self.bias_}

    def _check_X(self, X, *, check_width=True):
        X = check_binary(X, "X")
        if X.ndim != 2:
            raise ValueError(f"X must have shape (n_samples, n_features), got {X.shape}")
        # fit skips the width check: a fresh fit rebuilds J and h for the new width
        if check_width and hasattr(self, "coupling_") and X.shape[1] != self.bias_.shape[0]:
            raise ValueError(f"X must have {self.bias_.shape[0]} features, got {X.shape[1]}")
        return get_backend().xp.asarray(X, dtype=np.float64)

    # ------------------------------------------------------------ likelihood
    def energy(self, X):
        """:math:`E(x)` of each row -> (m,)."""
        self._check_fitted()
        return bz.quadratic_energy(self._check_X(X), self.coupling_, self.bias_)

    def log_partition(self, method: str = "exact") -> float:
        if method != "exact":
            raise ValueError("BoltzmannMachine.log_partition supports method='exact' only")
        self._check_fitted()
        return bz.log_partition(self.coupling_, self.bias_)

    def score_samples(self, X):
        """Exact :math:`\\log p(x)` (nats) by enumeration of :math:`Z`."""
        self._check_fitted()
        return bz.exact_log_likelihood(self._check_X(X), self.coupling_, self.bias_)

    def loss_and_grads(self, batch, rng=None):
        """Mean NLL of ``batch`` and its exact gradient (model minus data moments)."""
        X = self._check_X(batch)
        xp = get_backend().xp
        m1, m2 = bz.exact_moments(self.coupling_, self.bias_)
        d1 = X.mean(axis=0)
        d2 = X.T @ X / X.shape[0]
        # partial derivative per array entry: J_ij and J_ji each carry half the pair term
        gJ = 0.5 * (m2 - d2) + self.l2 * self.coupling_
        gJ = gJ - xp.diag(xp.diagonal(gJ))
        logz = bz.log_partition(self.coupling_, self.bias_)
        loss = float(bz.quadratic_energy(X, self.coupling_, self.bias_).mean() + logz)
        return loss, {"J": gJ, "h": m1 - d1}

    def fit(self, X, y=None):
        """Full-batch exact gradient descent on the mean NLL."""
        X = self._check_X(X, check_width=False)
        if X.shape[0] == 0 or X.shape[1] == 0:  # the data moments would be NaN
            raise ValueError(f"X must have at least one sample and one feature, "
                             f"got shape {tuple(X.shape)}")
        n_iter = check_positive_int(self.n_iter, "n_iter")
        lr = check_positive_float(self.learning_rate, "learning_rate")
        check_positive_float(self.l2, "l2", allow_zero=True)
        self._build(X.shape[1], check_random_state(self.random_state))
        self.loss_curve_ = []
        limit, last_good = None, None
        for it in range(n_iter):
            loss, g = self.loss_and_grads(X)
            # The mean NLL is convex in (J, h) and >= 0, and each step is exact full-batch
            # gradient descent: with a workable learning rate it only decreases. A loss
            # above twice the first one (+1 nat) means the steps overshoot and diverge
            # (learning_rate=1e6 took it from 4.2 to 4.6e5 in one step).
            limit = 2 * loss + 1 if limit is None else limit
            if not (np.isfinite(loss) and loss <= limit):
                self._diverged(it, loss, last_good)
            last_good = (self.coupling_.copy(), self.bias_.copy())
            self.coupling_ -= lr * g["J"]
            self.bias_ -= lr * g["h"]
            self.loss_curve_.append(loss)
        self.fitted_ = True
        return self

    def _diverged(self, it: int, loss: float, last_good) -> None:
        """Put back the parameters from before the step that overshot; raise."""
        from ...training import TrainingDiverged

        if last_good is not None:
            self.coupling_, self.bias_ = last_good
            self.fitted_ = True
        raise TrainingDiverged(
            f"BoltzmannMachine training diverged at iteration {it}: mean NLL {loss:.4g} "
            f"(started at {self.loss_curve_[0] if self.loss_curve_ else loss:.4g}); the "
            f"parameters were restored to their last good values. Lower learning_rate "
            f"(now {self.learning_rate:g})", it, it)

    def sample(self, n_samples: int, random_state=None, *, n_sweeps: int = 200):
        """``n_samples`` independent chains, each after ``n_sweeps`` sequential Gibbs sweeps."""
        from ...mcmc import gibbs_boltzmann

        self._check_fitted()
        n_samples = check_positive_int(n_samples, "n_samples")
        # checked here: gibbs_boltzmann would name its own argument (burn_in = n_sweeps - 1)
        n_sweeps = check_positive_int(n_sweeps, "n_sweeps")
        res = gibbs_boltzmann(self.coupling_, self.bias_, 1, n_chains=n_samples,
                              burn_in=n_sweeps - 1, random_state=random_state)
        return res.samples[:, 0, :]
