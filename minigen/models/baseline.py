r"""The honest default: fully factorized models fitted in closed form.

Every pixel is independent, so the maximum-likelihood fit is a table of
per-dimension frequencies. With Laplace (add-``alpha``) smoothing,

.. math::

    \hat p_{d,k} = \frac{N_{d,k} + \alpha}{N + K \alpha},
    \qquad \log p(x) = \sum_d \log \hat p_{d, x_d},

where :math:`N_{d,k}` counts training rows with :math:`x_d = k`. The
likelihood is exact (normalized). A Bernoulli is the case :math:`K = 2`
(``p_d = \hat p_{d,1}``). Any deep model should beat these numbers; reporting them
next to the deep models keeps the comparison honest.

Sampling draws one uniform per dimension and thresholds the cumulative
probabilities (the multinomial-threshold kernel; ``u < p`` for a Bernoulli).

Registered names: ``"baseline"`` (:class:`FactorizedCategorical` with the number of
levels inferred from the data, so binary data gives the Bernoulli model) and
``"baseline-bernoulli"`` (:class:`FactorizedBernoulli`).
"""

from __future__ import annotations

import numpy as np

from .._validation import (
    check_array,
    check_binary,
    check_positive_int,
    infer_n_categories,
)
from ..backend import get_backend, to_numpy
from ..base import GenerativeModel, register_model, reserve
from ..kernels import multinomial_threshold
from ..params import Param, non_negative_float, optional, positive_int
from ..random import check_random_state

__all__ = ["FactorizedBernoulli", "FactorizedCategorical"]


class _Factorized(GenerativeModel):
    accepts_images = True  # any (n, ...) shape; samples come back in it
    nonnegative_input = True  # binary data, category levels

    def _flatten(self, X, name="X"):
        X = check_array(X, name, allow_empty=False)
        if X.ndim < 2:
            raise ValueError(f"{name} must have shape (n_samples, n_features, ...), got {X.shape}")
        return X.reshape(X.shape[0], -1), tuple(int(s) for s in X.shape[1:])

    def _check_width(self, Xf, shape):
        self._check_fitted()
        if Xf.shape[1] != self.n_features_in_:
            raise self._width_error(Xf.shape[1], detail=f" (examples of shape {shape})")

    @staticmethod
    def _width(n_features) -> int:
        """D for ``_build``'s argument (an int, or an image shape to flatten)."""
        return int(np.prod(n_features, dtype=np.int64))

    def load_extra_state(self, state):
        if "input_shape" in state:  # files written before event_shape_ was in the metadata
            self.set_event_shape(to_numpy(state["input_shape"]))


@register_model("baseline-bernoulli")
class FactorizedBernoulli(_Factorized):
    r"""Independent Bernoulli per dimension, ``p_d = (N_d + alpha) / (N + 2 alpha)``.

    Attributes
    ----------
    p_ : array, shape (D,)
        Probability that each dimension is 1.
    event_shape_ : tuple
        Shape of one example (samples come back in it).
    """

    data_kind = "binary"

    hyperparameters = {
        "alpha": Param(1.0, "Laplace smoothing (pseudo-count per outcome); 0 is the plain MLE",
                       non_negative_float),
    }

    def build_parameters(self, n_features, rng=None):
        self.set_event_shape(np.atleast_1d(n_features))
        self.p_ = get_backend().xp.full(self._width(n_features), 0.5)

    def fit(self, X, y=None):
        """Closed-form smoothed MLE. ``X``: binary array of shape (n, ...)."""
        alpha = self.validate_params()["alpha"]
        Xf, shape = self._flatten(X)
        check_binary(Xf, "X")
        xp = get_backend().xp
        Xf = get_backend().asarray(Xf, dtype=np.float64)
        self.build_parameters(Xf.shape[1])
        self.set_event_shape(shape)
        self.p_ = (Xf.sum(axis=0) + alpha) / (Xf.shape[0] + 2 * alpha)
        self.p_ = xp.asarray(self.p_, dtype=np.float64)
        self.fitted_ = True
        return self

    def trainable_arrays(self):
        return {"p": self.p_}

    def score_samples(self, X):
        """Exact log-likelihood per row (nats), shape (n,); -inf where a p is 0 or 1."""
        Xf, shape = self._flatten(X)
        self._check_width(Xf, shape)
        check_binary(Xf, "X")
        xp = get_backend().xp
        Xf = get_backend().asarray(Xf, dtype=np.float64)
        with np.errstate(divide="ignore"):
            lp1, lp0 = xp.log(self.p_), xp.log1p(-self.p_)
        # x*log p + (1-x)*log(1-p) without 0 * -inf = nan
        out = xp.where(Xf > 0, lp1, lp0).sum(axis=1)
        return out

    def sample(self, n_samples: int, random_state=None):
        """``n_samples`` draws, shape (n_samples, *event_shape_), float64 0/1 values."""
        self._check_fitted()
        n = check_positive_int(n_samples, "n_samples")
        rng = check_random_state(random_state)
        u = get_backend().asarray(rng.random((n, self.n_features_in_)))
        x = (u < self.p_[None, :]).astype(np.float64)
        return x.reshape((n, *self.event_shape_))


@register_model("baseline")
class FactorizedCategorical(_Factorized):
    r"""Independent categorical per dimension, ``p_{d,k} = (N_{d,k} + alpha) / (N + K alpha)``.

    Attributes
    ----------
    probs_ : array, shape (D, K)
    n_categories_ : int
    event_shape_ : tuple
    """

    data_kind = "integer levels 0..K-1"

    hyperparameters = {
        "n_categories": Param(
            None, "number of levels K (values 0..K-1); None infers max(X) + 1 (at least 2, "
            "at most 65536: pass it explicitly for more)", optional(positive_int)),
        "alpha": Param(1.0, "Laplace smoothing (pseudo-count per level); 0 is the plain MLE",
                       non_negative_float),
    }

    def build_parameters(self, n_features, rng=None):
        k = 2 if self.n_categories is None else check_positive_int(
            self.n_categories, "n_categories")
        self.n_categories_ = k
        self.set_event_shape(np.atleast_1d(n_features))
        reserve(rng, self._width(n_features) * k)  # a load's size check, before the fill
        self.probs_ = get_backend().xp.full((self._width(n_features), k), 1.0 / k)

    def _check_levels(self, Xf, name, k=None):
        Xh = to_numpy(Xf)
        if Xh.size and not (np.all(Xh == np.round(Xh)) and Xh.min() >= 0):
            raise ValueError(f"{name} must hold integer levels 0, 1, 2, ...")
        if k is not None and Xh.size and Xh.max() >= k:
            raise ValueError(f"{name} has level {int(Xh.max())} but n_categories is {k}")
        return Xh.astype(np.int64)

    def fit(self, X, y=None):
        """Closed-form smoothed MLE from integer-valued ``X`` of shape (n, ...)."""
        hp = self.validate_params()
        alpha, k = hp["alpha"], hp["n_categories"]
        Xf, shape = self._flatten(X)
        if k is None:  # before the int64 cast in _check_levels, which wraps huge values
            k = infer_n_categories(to_numpy(Xf), "X")
        Xi = self._check_levels(Xf, "X", k)
        n, d = Xi.shape
        counts = np.zeros((d, k))
        for level in range(k):
            counts[:, level] = (Xi == level).sum(axis=0)
        probs = (counts + alpha) / (n + k * alpha)
        self.n_categories_ = k
        self.set_event_shape(shape)
        self.probs_ = get_backend().asarray(probs)
        self.fitted_ = True
        return self

    def _complete_build(self, extra, index, rng):
        # The table's width K is only known from the checkpoint (its header: the array
        # present backs the size, and zeros are not touched before it is read over them).
        probs = index.get("param/probs")
        if probs is not None and len(probs.shape) == 2 and self.n_categories is None:
            self.n_categories_ = int(probs.shape[1])
            self.probs_ = get_backend().xp.zeros(probs.shape)

    def load_arrays(self, arrays):
        probs = arrays.get("param/probs")
        if probs is not None and probs.ndim == 2 and self.n_categories is None:
            self.n_categories_ = int(probs.shape[1])
            self.probs_ = get_backend().xp.zeros(probs.shape)
        super().load_arrays(arrays)

    def trainable_arrays(self):
        return {"probs": self.probs_}

    def score_samples(self, X):
        """Exact log-likelihood per row (nats), shape (n,)."""
        Xf, shape = self._flatten(X)
        self._check_width(Xf, shape)
        Xi = get_backend().asarray(self._check_levels(Xf, "X", self.n_categories_))
        xp = get_backend().xp
        with np.errstate(divide="ignore"):
            logp = xp.log(self.probs_)
        cols = xp.arange(self.n_features_in_)
        return logp[cols[None, :], Xi].sum(axis=1)

    def sample(self, n_samples: int, random_state=None):
        """``n_samples`` draws, shape (n_samples, *event_shape_), int64 levels."""

        self._check_fitted()
        n = check_positive_int(n_samples, "n_samples")
        rng = check_random_state(random_state)
        xp = get_backend().xp
        d = self.n_features_in_
        u = get_backend().asarray(rng.random(n * d))
        w = xp.broadcast_to(self.probs_[None], (n, d, self.n_categories_)).reshape(n * d, -1)
        k = multinomial_threshold(xp.ascontiguousarray(w), u)
        return xp.asarray(k, dtype=np.int64).reshape((n, *self.event_shape_))
