r"""Continuous MADE: masked MLP with mixture-of-Gaussians or mixture-of-logistics conditionals.

For real-valued :math:`x \in \mathbb R^D` (standardized per dimension,
:math:`z = (x - \mu) / s`), each conditional is a ``C``-component mixture whose
parameters come from one MADE pass (:class:`~.made.MADENetwork`, ``3 C`` outputs per
position: mixture logits :math:`\alpha`, locations :math:`m`, log-scales :math:`\ell`):

.. math::

    \log p(x) = \sum_d \log \sum_c \mathrm{softmax}(\alpha_d)_c\,
        f\big(z_d;\, m_{dc}, e^{\ell_{dc}}\big) \;-\; \sum_d \log s_d,

with :math:`f` the Gaussian or the logistic density
(:math:`\log f = -u - 2\,\mathrm{softplus}(-u) - \ell`, :math:`u = (z - m) e^{-\ell}`).
The density is exact and normalized; ``n_components=1`` with ``"gaussian"`` is the plain
Gaussian MADE (unimodal conditionals, which cannot fit e.g. the 8-Gaussian ring).

Sampling is ancestral along the ordering: per step, the component is drawn with
:func:`minigen.kernels.categorical_from_logits` from an explicit uniform, then the value
from an explicit normal (Gaussian) or uniform (logistic, :math:`m + s \log(u / (1 - u))`).

References: Germain et al., "MADE" (2015); Uria, Murray, Larochelle, "RNADE" (2013);
Papamakarios et al., "Masked autoregressive flow" (2017).
"""

from __future__ import annotations

import numpy as np

from ..._math import normal_log_density
from ..._validation import check_array, check_choice, check_positive_int
from ...autograd import F, Tensor, no_grad
from ...backend import get_backend, to_numpy
from ...base import register_model
from ...io import CheckpointError, state_array
from ...kernels import categorical_from_logits
from ...params import Param, dtype_name, int_sizes, one_of, positive_int
from ...random import check_random_state
from ...training import IterativeModel
from .base import DTYPE, ORDERING, resolve_ordering
from .made import MADENetwork, made_degrees, made_masks

__all__ = ["ContinuousMADE", "GaussianMADE"]

_LOG_SCALE_MIN, _LOG_SCALE_MAX = -9.0, 5.0


@register_model("made-continuous")
class ContinuousMADE(IterativeModel):

    """MADE density estimator for continuous data (see module docstring).

    Attributes
    ----------
    ordering_ : int64 (D,);  degrees_ : list of int64 hidden degrees;
    shift_, scale_ : float64 (D,) standardization;  net_ : MADENetwork
    """

    data_kind = "continuous"

    hyperparameters = {
        "hidden_sizes": Param((64, 64), "hidden layer widths", int_sizes),
        "n_components": Param(8, "mixture components C per conditional", positive_int),
        "distribution": Param("gaussian", "conditional family: mixtures of Gaussians or of "
                              "logistics", one_of("gaussian", "logistic")),
        "ordering": ORDERING,
        "activation": Param("relu", "hidden activation", one_of("relu", "tanh", "elu", "gelu")),
        "dtype": Param("float64", DTYPE.doc, dtype_name),
    }

    # ------------------------------------------------------------ building
    def build_parameters(self, n_features, rng=None) -> None:
        rng = check_random_state(rng)
        if isinstance(n_features, (list, tuple)):
            raise ValueError("ContinuousMADE takes flat rows X of shape (n, D)")
        d = int(n_features)
        self.set_event_shape((d,))
        check_choice(self.distribution, "distribution", ("gaussian", "logistic"))
        c = check_positive_int(self.n_components, "n_components")
        hidden = [check_positive_int(h, "hidden_sizes") for h in self.hidden_sizes]
        self.ordering_ = resolve_ordering(self.ordering, d, rng)
        rank = np.empty_like(self.ordering_)
        rank[self.ordering_] = np.arange(d)
        self.degrees_ = made_degrees(rank, hidden, rng)[1:]
        self.net_ = MADENetwork(d, 1, 3 * c, hidden, self.activation, np.dtype(self.dtype), rng)
        self._apply_masks()
        # start every conditional as a broad mixture with locations spread over [-2, 2]
        # (standardized units): breaks the symmetry between components from step one
        out = self.net_.layers[len(self.net_.layers) - 1]
        out.weight.data[...] *= 0.1
        b = np.zeros((d, 3, c))
        b[:, 1] = np.linspace(-2.0, 2.0, c) if c > 1 else 0.0
        b[:, 2] = np.log(0.5)
        out.bias.data[...] = get_backend().asarray(b.reshape(-1), dtype=out.bias.dtype)
        self.shift_ = np.zeros(d)
        self.scale_ = np.ones(d)

    def _apply_masks(self):
        rank = np.empty_like(self.ordering_)
        rank[self.ordering_] = np.arange(self.ordering_.size)
        self.net_.set_masks(made_masks([rank + 1, *self.degrees_], 1,
                                       3 * int(self.n_components)))

    def init_from_data(self, X, rng=None) -> None:
        X = to_numpy(X).astype(np.float64)
        if len(X) < 2:  # the standardization needs a spread
            raise ValueError(f"{type(self).__name__} needs at least 2 samples to standardize "
                             f"the data, got n_samples={len(X)}")
        # A constant column has no density (all its mass sits on one point): any scale
        # floor (1e-8 before) only picks how extreme the made-up log-densities get
        # (about -1e10 at an unseen value), so refuse it here, as NeuralEBM does.
        # (max == min, not std == 0: the std of a constant 0.1 column is 1.4e-17)
        const = np.flatnonzero(X.max(axis=0) == X.min(axis=0))
        if const.size:
            raise ValueError(f"X has constant column(s) {const.tolist()} (zero variance: no "
                             "density to fit); drop them or add noise")
        self.shift_ = X.mean(axis=0)
        self.scale_ = X.std(axis=0)

    # ------------------------------------------------------------ density
    def _check_X(self, X, name="X"):
        self._check_fitted()
        X = check_array(X, name, ndim=2, allow_empty=False)
        if X.shape[1] != self.n_features_in_:
            raise self._width_error(X.shape[1], name)
        return get_backend().asarray(X, dtype=np.dtype(self.dtype))

    def _standardize(self, x):
        be = get_backend()
        return (x - be.asarray(self.shift_, dtype=x.dtype)) / be.asarray(self.scale_,
                                                                          dtype=x.dtype)

    def _params(self, z: Tensor):
        """Mixture parameters ``(log_weights, loc, log_scale)``, each Tensor (n, D, C)."""
        n, d = z.shape
        c = int(self.n_components)
        out = F.reshape(self.net_(F.reshape(z, (n, d, 1))), (n, d, 3, c))
        logw = F.log_softmax(out[:, :, 0], axis=-1)
        loc = out[:, :, 1]
        log_scale = F.clip(out[:, :, 2], _LOG_SCALE_MIN, _LOG_SCALE_MAX)
        return logw, loc, log_scale

    def _log_prob_tensor(self, z: Tensor) -> Tensor:
        logw, loc, log_scale = self._params(z)
        n, d = z.shape
        zz = F.reshape(z, (n, d, 1))
        u = (zz - loc) * F.exp(-log_scale)
        if self.distribution == "gaussian":
            comp = normal_log_density(u, log_scale)
        else:
            comp = -u - 2.0 * F.softplus(-u) - log_scale
        lp = F.sum(F.logsumexp(logw + comp, axis=-1), axis=1)
        return lp - float(np.log(self.scale_).sum())

    def score_samples(self, X):
        """Exact log-density per row (nats), shape (n,)."""
        z = self._standardize(self._check_X(X))
        with no_grad():
            return self._log_prob_tensor(Tensor(z)).data.astype(np.float64)

    # ------------------------------------------------------------ training contract
    def trainable_arrays(self) -> dict:
        return self.net_.param_arrays()

    def loss_and_grads(self, batch, rng):
        z = self._standardize(self._check_X(batch, "batch"))
        self.net_.zero_grad()
        loss = -F.mean(self._log_prob_tensor(Tensor(z)))
        loss.backward()
        return float(loss.data), self.net_.grad_arrays()

    def extra_state(self) -> dict:
        out = {"ordering": self.ordering_.copy(), "shift": np.asarray(self.shift_),
               "scale": np.asarray(self.scale_)}
        out.update({f"degrees_{i}": d.copy() for i, d in enumerate(self.degrees_)})
        return out

    def load_extra_state(self, state: dict) -> None:
        state = {k: to_numpy(v) for k, v in state.items()}
        self.ordering_ = resolve_ordering(state["ordering"], self.n_features_in_, None)
        d = self.n_features_in_
        shift = state_array(state["shift"], "shift", ndim=1, width=d)
        scale = state_array(state["scale"], "scale", ndim=1, width=d)
        if not (scale > 0).all():
            raise CheckpointError("extra state 'scale' must be > 0 (a standard deviation)")
        self.shift_, self.scale_ = shift, scale
        self.degrees_ = [state[f"degrees_{i}"].astype(np.int64)
                         for i in range(len(self.degrees_))]
        self._apply_masks()

    # ------------------------------------------------------------ sampling
    def sample(self, n_samples: int, random_state=None):
        """``n_samples`` rows (n, D), ancestral along ``ordering_`` with explicit randomness."""

        self._check_fitted()
        n = check_positive_int(n_samples, "n_samples")
        rng = check_random_state(random_state)
        be = get_backend()
        xp = be.xp
        d = self.n_features_in_
        u_comp = be.asarray(rng.random((n, d)))
        if self.distribution == "gaussian":
            noise = be.asarray(rng.standard_normal((n, d)))
        else:
            noise = be.asarray(rng.uniform(1e-12, 1.0 - 1e-12, size=(n, d)))
        z = xp.zeros((n, d), dtype=np.dtype(self.dtype))
        rows = xp.arange(n)
        for t in range(d):
            pos = int(self.ordering_[t])
            with no_grad():
                logw, loc, log_scale = (p.data[:, pos] for p in self._params(Tensor(z)))
            k = categorical_from_logits(xp.ascontiguousarray(logw, dtype=np.float64),
                                        u_comp[:, t])
            m, s = loc[rows, k], xp.exp(log_scale[rows, k])
            e = noise[:, t]
            z[:, pos] = m + s * (e if self.distribution == "gaussian" else xp.log(e / (1 - e)))
        return z * be.asarray(self.scale_, dtype=z.dtype) + be.asarray(self.shift_, dtype=z.dtype)


@register_model("made-gaussian")
class GaussianMADE(ContinuousMADE):
    """:class:`ContinuousMADE` with mixture-of-Gaussians conditionals (the default)."""
