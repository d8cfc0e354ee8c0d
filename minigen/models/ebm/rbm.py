r"""Restricted Boltzmann machines with closed-form (autodiff-free) CD / PCD gradients.

Bernoulli RBM, visible :math:`v \in \{0,1\}^V`, hidden :math:`h \in \{0,1\}^H`:

.. math::
    E(v, h) = -v^\top W h - b^\top v - c^\top h, \qquad
    F(v) = -b^\top v - \sum_j \operatorname{softplus}(c_j + v^\top W_{:,j}),

:math:`p(v) = e^{-F(v)}/Z`. The mean-NLL gradient is
:math:`\partial_\theta \mathrm{NLL} = \langle \partial_\theta F\rangle_{data}
- \langle \partial_\theta F\rangle_{model}`; the model term is estimated from
``k`` block-Gibbs steps started at the data (CD-k) or at persistent chains
(PCD, Tieleman 2008). Gibbs steps run on :func:`minigen.kernels.gibbs.rbm_gibbs`.
``method="exact"`` computes the model term by enumerating all :math:`2^V`
visible states (V <= 20): the exact maximum-likelihood gradient.

Log-likelihood (``score_samples``) is **exact** when ``min(V, H) <= exact_max_units``
(log Z by summing the analytic marginal over :math:`2^{\min(V,H)}` states);
otherwise log Z comes from AIS (:func:`.ais.ais_log_partition`), so the score is
an estimate (a stochastic upper bound on log p in expectation).

The Gaussian-Bernoulli RBM (unit-variance visibles, real data) has
:math:`E(v,h) = \tfrac12\lVert v - b\rVert^2 - v^\top W h - c^\top h`,
:math:`p(v \mid h) = N(b + W h, I)`.

References: Hinton, Neural Computation 14 (2002); Tieleman, ICML 2008;
Hinton, "A practical guide to training RBMs" (2010).
"""

from __future__ import annotations

import hashlib
import numbers
import warnings

import numpy as np

from ..._math import HALF_LOG_2PI, sigmoid, softplus
from ..._validation import (
    check_array,
    check_binary,
    check_choice,
    check_positive_int,
    flatten_rows,
)
from ...backend import get_backend, to_numpy
from ...base import register_model
from ...distributions import boltzmann
from ...exceptions import EstimateWarning, TrainingDiverged
from ...io import state_array
from ...kernels import multinomial_threshold, rbm_gibbs
from ...params import Param, dtype_name, non_negative_float, one_of, optional, positive_int
from ...random import check_random_state, normals, uniforms
from ...training import IterativeModel
from .ais import ais_log_partition


def _sparsity_target(v, name):
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0 < v < 1:
        raise ValueError(f"{name} must be None or a number in (0, 1), got {v!r}")
    return float(v)


_sparsity_target.kind = "float in (0, 1) or None"


class _RBMBase(IterativeModel):
    r"""Shared machinery: parameters, CD/PCD gradients, the fused epoch, sklearn surface.

    Trained by :func:`minigen.training.train` (``fit``) with SGD and momentum by default
    (``learning_rate=0.05``, ``momentum=0.5``, ``batch_size=20``, ``max_epochs=10``, as
    Hinton's guide suggests); ``weight_decay`` is an L2 penalty on ``W`` only. On the
    ``numba`` backend a float64 epoch of a small layer is one fused kernel call (same
    random stream and updates as the per-batch path; constant ``lr_schedule`` and no
    ``clip_norm``).

    ``dtype`` is the dtype of the parameters, the chains, the momentum buffers and every
    per-batch array; ``"float32"`` (what scikit-learn's ``BernoulliRBM`` keeps for float32
    data) halves the memory traffic of the matrix products. Likelihoods (free energy, exact
    log Z, AIS, pseudo-likelihood) are computed in float64 whatever the dtype.

    A PCD step keeps the chains' hidden probabilities :math:`p(h \mid v_{chain})` from the
    previous gradient (as scikit-learn keeps ``h_samples_``): per batch the products are
    :math:`v_0 W` (data), :math:`h W^\top` (chains' visibles), :math:`v_k W` (chains'
    hiddens) and the two of the gradient; the free energies of the reported loss reuse the
    first and third.
    """

    accepts_images = False  # images are flattened to rows
    hyperparameters = {
        "n_components": Param(64, "hidden units H", positive_int),
        "method": Param("pcd", "'cd' (chains start at the data), 'pcd' (persistent chains) or "
                        "'exact' (model term by enumerating all 2^V visible states, V <= 20)",
                        one_of("cd", "pcd", "exact")),
        "k": Param(1, "Gibbs steps per gradient estimate", positive_int),
        "sparsity_target": Param(None, "mean hidden activation the sparsity penalty pulls "
                                 "towards (None: no penalty)", _sparsity_target),
        "sparsity_cost": Param(0.0, "weight of the sparsity penalty", non_negative_float),
        "n_persistent": Param(None, "persistent chains (PCD; None: batch_size)",
                              optional(positive_int)),
        "exact_max_units": Param(20, "largest min(V, H) for which log Z is exact "
                                 "(enumeration); above it, AIS", positive_int),
        "ais_chains": Param(200, "AIS chains when log Z is not exact", positive_int),
        "ais_betas": Param(2000, "AIS temperatures when log Z is not exact", positive_int),
        "dtype": Param("float64", "float dtype of the parameters, chains and training "
                       "arithmetic (likelihoods are computed in float64)", dtype_name),
    }
    training_defaults = {"max_epochs": 10, "batch_size": 20, "learning_rate": 0.05,
                         "optimizer": "sgd", "momentum": 0.5}

    # ------------------------------------------------------------ parameters
    def build_parameters(self, n_features, rng=None):
        rng = check_random_state(0 if rng is None else rng)
        H = check_positive_int(self.n_components, "n_components")
        V = int(n_features)
        xp = get_backend().xp
        self.set_event_shape((V,))
        dt = self._dtype()
        self.W_ = xp.asarray(rng.normal(0.0, 0.01, (V, H)), dtype=dt)  # same draws per dtype
        self.b_ = xp.zeros(V, dtype=dt)
        self.c_ = xp.zeros(H, dtype=dt)
        self.chains_ = None
        self._chains_hidden = None

    def _dtype(self) -> np.dtype:
        """The training dtype (``dtype``; float64 for a model built before it existed)."""
        return np.dtype(getattr(self, "dtype", None) or "float64")

    def _float64_params(self):
        """``(W, b, c)`` in float64: likelihoods are sums of hundreds of terms."""
        return tuple(a.astype(np.float64, copy=False) for a in (self.W_, self.b_, self.c_))

    components_ = property(lambda self: self.W_.T, doc="(H, V) weights (scikit-learn layout).")
    intercept_hidden_ = property(lambda self: self.c_, doc="(H,) hidden biases c.")
    intercept_visible_ = property(lambda self: self.b_, doc="(V,) visible biases b.")

    def trainable_arrays(self) -> dict:
        return {"W": self.W_, "b": self.b_, "c": self.c_}

    def extra_state(self) -> dict:
        if self.chains_ is None:
            return {}
        out = {"chains": self.chains_}
        ph = self._chain_hidden_probs(compute=False)
        if ph is not None:
            out["chains_hidden"] = ph
        return out

    def load_extra_state(self, state: dict) -> None:
        self.chains_ = None
        self._chains_hidden = None
        if "chains" in state:
            chains = state_array(state["chains"], "chains", ndim=2, width=self.W_.shape[0])
            self.chains_ = get_backend().asarray(chains).astype(self.W_.dtype)
            if "chains_hidden" in state:  # else recomputed from the chains when needed
                ph = state_array(state["chains_hidden"], "chains_hidden", ndim=2,
                                 width=self.W_.shape[1])
                if ph.shape[0] != self.chains_.shape[0]:
                    raise ValueError(f"chains_hidden has {ph.shape[0]} rows, chains "
                                     f"{self.chains_.shape[0]}")
                self._set_chains(self.chains_,
                                 get_backend().asarray(ph).astype(self.W_.dtype))

    def _set_chains(self, v, ph):
        """Persistent chains ``v`` and their hidden probabilities ``ph`` (kept together:
        a ``chains_`` set by hand gets its own recomputed)."""
        self.chains_ = v
        self._chains_hidden = (v, ph)

    def _chain_hidden_probs(self, compute=True):
        r""":math:`p(h \mid v_{chain})` kept from the last gradient, or (``compute``)
        from the current parameters when ``chains_`` has no kept ones."""
        kept = getattr(self, "_chains_hidden", None)
        if kept is not None and kept[0] is self.chains_:
            return kept[1]
        if not compute:
            return None
        ph = sigmoid(self.chains_ @ self.W_ + self.c_)
        self._set_chains(self.chains_, ph)
        return ph

    def decayed_arrays(self):
        return ("W",)

    @property
    def validate_every_epoch(self) -> bool:
        """Only when log Z is exact (AIS costs seconds per call)."""
        return min(self.W_.shape) <= self.exact_max_units

    # ------------------------------------------------------------ gradients
    def _negative_phase(self, v0, ph0, rng):
        r"""Return ``(vk, ak, phk)``: the negative visibles, their hidden pre-activations
        :math:`v_k W + c` and :math:`p(h \mid v_k)`, given the data ``v0`` and its ``ph0`` =
        :math:`p(h \mid v_0)`."""
        raise NotImplementedError

    def _free_energy_from(self, v, a):
        """:math:`F(v)` per row given the hidden pre-activations ``a`` = :math:`vW + c`."""
        raise NotImplementedError

    def loss_and_grads(self, batch, rng):
        r"""CD-k / PCD gradients of the mean NLL (closed form) for ``batch`` (B, V).

        The returned loss is the CD objective
        :math:`\langle F(v)\rangle_{data} - \langle F(v_k)\rangle_{chains}`
        (its gradient is the CD gradient); exact NLL is :meth:`score_samples`.
        """
        return self._loss_and_grads(self._check_X(batch), rng, with_loss=True)

    def _loss_and_grads(self, v0, rng, with_loss: bool):
        """Unchecked fast path (``v0`` already validated); loss is NaN unless ``with_loss``."""
        xp = get_backend().xp
        B = v0.shape[0]
        a0 = v0 @ self.W_ + self.c_
        ph0 = sigmoid(a0)
        if self.method == "exact":
            vk, phk, wk = self._exact_model_states()
            mk, wph = wk @ vk, phk * wk[:, None]
        else:
            vk, ak, phk = self._negative_phase(v0, ph0, rng)
            wph = phk * (1.0 / vk.shape[0])  # a Python scalar keeps float32 float32
            mk = vk.mean(axis=0)
        # the CD gradient of the NLL: <dF/dtheta>_data - <dF/dtheta>_chains (dF/dW = -v ph^T),
        # one product of the stacked rows: [v_k; v_0]^T [w_k * ph_k; -ph_0 / B]
        gW = xp.concatenate([vk, v0]).T @ xp.concatenate([wph, ph0 * (-1.0 / B)])
        gb = mk - v0.mean(axis=0)
        gc = wph.sum(axis=0) - ph0.mean(axis=0)
        if self.sparsity_target is not None and self.sparsity_cost:
            d = self.sparsity_cost * (ph0.mean(axis=0) - self.sparsity_target)
            gc = gc + d
            gW = gW + v0.mean(axis=0)[:, None] * d[None, :]
        loss = float("nan")
        if with_loss:
            f0 = self._free_energy_from(v0, a0).mean()
            fk = wk @ self.free_energy(vk) if self.method == "exact" else \
                self._free_energy_from(vk, ak).mean()
            loss = float(f0 - fk)
        return loss, {"W": gW, "b": gb, "c": gc}

    def _exact_model_states(self):
        """All visible states (V <= 20), their hidden probabilities and exact p(v)."""
        xp = get_backend().xp
        V = self.W_.shape[0]
        if V > 20:
            raise ValueError(f"method='exact' enumerates 2^V visible states; V={V} > 20")
        S = boltzmann.all_states(V, xp=xp)
        lp = -self.free_energy(S)
        w = xp.exp(lp - lp.max())
        dt = self.W_.dtype
        return S.astype(dt), sigmoid(S.astype(dt) @ self.W_ + self.c_), (w / w.sum()).astype(dt)

    # ------------------------------------------------------------ fit
    def init_from_data(self, X, rng=None):
        """Visible biases from the data means (Hinton's guide); called by the training
        loop after ``_build``, draws nothing."""
        xp = get_backend().xp
        X = xp.asarray(self._check_fit_X(X), dtype=np.float64)  # the same b_ for either dtype
        p = xp.clip(X.mean(axis=0), 1e-3, 1 - 1e-3)
        self.b_[...] = xp.log(p) - xp.log1p(-p)

    def _check_fit_X(self, X, *, check_width=True):
        """``_check_X`` plus what training needs: at least one row and one feature."""
        X = self._check_X(X, check_width=check_width)
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(f"X must have at least one sample and one feature, "
                             f"got shape {tuple(X.shape)}")
        return X

    def fused_epoch(self, X, perm, batch_size, rng, optimizer):
        """The whole epoch in one kernel call where there is one (see
        :meth:`_fused_epoch_kernel`); the CD loss is not computed (``None``)."""
        kernel = self._fused_epoch_kernel()
        if kernel is None:
            return NotImplemented
        self._fused_epoch(kernel, self._check_fit_X(X), perm, batch_size, rng, optimizer)
        return None

    def _fused_epoch_kernel(self):
        """The fused one-call-per-epoch training kernel, or ``None`` (per-batch path)."""
        return None

    #: most uniforms drawn at once by the fused path (float32: 16 MiB); an epoch that needs
    #: more runs as several kernel calls, each over whole batches
    _FUSED_MAX_UNIFORMS = 1 << 22

    def _fused_epoch(self, kernel, X, perm, bs, rng, opt):
        """One epoch through ``kernel`` (:func:`~minigen.kernels.cpu.gibbs.rbm_sgd_epoch`):
        the same random stream, drawn in the order the per-batch path draws it (PCD chain
        init, then each batch's ``(k, B_chains, H + V)`` uniforms), the same gradients and
        SGD update; parameters agree with the per-batch path to float rounding
        (summation order), samples exactly."""
        V, H = self.W_.shape
        k = self.k
        n = X.shape[0]
        persistent = self.method == "pcd"
        if persistent and self.chains_ is None:
            self._start_chains(self.n_persistent or bs, rng)
        if persistent:
            ph = np.ascontiguousarray(self._chain_hidden_probs(), dtype=np.float64)
            self._set_chains(np.ascontiguousarray(self.chains_, dtype=np.float64), ph)
            chains = self.chains_
        else:
            chains, ph = np.zeros((0, V)), np.zeros((0, H))
        mom = opt._buffers.get("momentum")
        bufs = [mom[name] if mom else np.zeros_like(p)
                for name, p in self.trainable_arrays().items()]
        sp = self.sparsity_target is not None and self.sparsity_cost
        Xc = np.ascontiguousarray(X, dtype=np.float64)
        s0 = 0
        while s0 < n:  # chunks of whole batches, each with one host draw of its uniforms
            s1, total = s0, 0
            while s1 < n:
                per = k * (chains.shape[0] if persistent else min(bs, n - s1)) * (H + V)
                if s1 > s0 and total + per > self._FUSED_MAX_UNIFORMS:
                    break
                total, s1 = total + per, s1 + bs
            u = rng.random(total, dtype=np.float32)
            opt.t = kernel(Xc, perm, s0, min(s1, n), bs, self.W_, self.b_, self.c_, *bufs,
                           opt.t, chains, ph, u, k, persistent, float(opt.lr),
                           float(self.momentum), float(self.weight_decay),
                           float(self.sparsity_target or 0.0),
                           float(self.sparsity_cost) if sp else 0.0)
            s0 = s1

    def partial_fit(self, X, y=None):
        """One plain gradient step (``learning_rate``, no momentum) on ``X``; builds the
        model on the first call. Unlike :meth:`fit`, a fitted model keeps its width.

        A step that leaves a non-finite parameter or one above ``max_abs_param`` is undone
        and raises :class:`~minigen.exceptions.TrainingDiverged`."""
        hp = self.validate_params()  # the same hyper-parameter rules as fit
        X = self._check_fit_X(X, check_width=getattr(self, "fitted_", False))
        if not getattr(self, "fitted_", False):
            self._rng = check_random_state(hp["random_state"])
            self.build_parameters(X.shape[1], self._rng)
            self.set_event_shape((X.shape[1],))
            self.init_from_data(X)
        params = self.trainable_arrays()
        good = {name: p.copy() for name, p in params.items()}
        good_chains = (self.chains_, getattr(self, "_chains_hidden", None))  # replaced, not
        # modified, by a step
        if getattr(self, "_rng", None) is None:  # fitted by fit(): a stream of its own
            self._rng = check_random_state(hp["random_state"])
        _, g = self._loss_and_grads(X, self._rng, with_loss=False)  # X validated above
        g["W"] = g["W"] + hp["weight_decay"] * self.W_
        for name, p in params.items():
            p -= hp["learning_rate"] * g[name]
        xp = get_backend().xp
        big = max(float(xp.abs(p).max()) for p in params.values())
        if not big <= self.max_abs_param:  # also NaN
            for name, p in params.items():
                p[...] = good[name]
            self.chains_, self._chains_hidden = good_chains
            raise TrainingDiverged(
                f"{type(self).__name__}.partial_fit diverged: max |parameter| = {big:.4g}; "
                f"the step was undone. Lower learning_rate (now {hp['learning_rate']:g})",
                0, 0)
        self.fitted_ = True
        return self

    # ------------------------------------------------------------ likelihood
    def _param_hash(self) -> str:
        h = hashlib.sha1()
        for a in (self.W_, self.b_, self.c_):
            h.update(np.ascontiguousarray(to_numpy(a)).tobytes())
        return h.hexdigest()

    def log_partition(self, method: str = "auto", random_state=0, return_stderr=False):
        """:math:`\\log Z`: ``"exact"`` (min(V, H) <= 24), ``"ais"``, or ``"auto"``.

        ``"auto"`` is exact when ``min(V, H) <= exact_max_units``, else AIS with
        ``ais_chains`` chains and ``ais_betas`` temperatures. The result is cached per
        parameters (and, for AIS, per ``ais_chains``, ``ais_betas`` and an integer
        ``random_state``; a ``None`` or Generator seed gives a fresh estimate every call).
        With ``return_stderr`` returns ``(log Z, stderr)`` (0 for exact).
        """
        self._check_fitted()
        check_choice(method, "method", ("auto", "exact", "ais"))
        method_asked = method
        if method == "auto":
            exact = min(self.W_.shape) <= self.exact_max_units
            method = "exact" if exact else "ais"
        key = (method, self._param_hash())
        cacheable = True
        if method == "ais":
            # the AIS estimate depends on its seed and settings: a re-seeded call must not
            # get the first estimate back
            seeded = isinstance(random_state, numbers.Integral) and not isinstance(
                random_state, bool)
            cacheable = seeded
            key += (int(random_state) if seeded else None, self.ais_chains, self.ais_betas)
        cache = getattr(self, "_logz_cache", None)
        if not cacheable or cache is None or cache[0] != key:
            if method == "exact":
                val = (self._exact_log_partition(), 0.0)
            else:
                if method_asked == "auto":  # the caller may think log p is exact: say so
                    warnings.warn(
                        f"{type(self).__name__}: log Z of this {self.W_.shape[0]}x"
                        f"{self.W_.shape[1]} RBM is an AIS estimate (min(V, H) > "
                        f"exact_max_units={self.exact_max_units}), so score_samples is an "
                        f"estimate too ({self.ais_chains} chains, {self.ais_betas} "
                        "temperatures; see log_partition(return_stderr=True))",
                        EstimateWarning, stacklevel=3)
                r = ais_log_partition(self, n_chains=self.ais_chains, n_betas=self.ais_betas,
                                      random_state=random_state, verbose=self.verbose)
                val = (r.log_z, r.stderr)
            self._logz_cache = (key, val)
        val = self._logz_cache[1]
        return val if return_stderr else val[0]

    def score_samples(self, X):
        """:math:`\\log p(v) = -F(v) - \\log Z` per row (nats).

        Exact when ``min(V, H) <= exact_max_units``; otherwise log Z is an AIS
        estimate (see :meth:`log_partition`) and so is the score.
        """
        self._check_fitted()
        return -self.free_energy(X) - self.log_partition()

    def fit_transform(self, X, y=None):
        """``fit(X)`` then :meth:`transform` (scikit-learn's transformer contract)."""
        return self.fit(X).transform(X)

    def transform(self, X):
        """Hidden activation probabilities :math:`p(h=1 \\mid v)`, (n, H)."""
        self._check_fitted()
        return sigmoid(self._check_X(X).astype(self.W_.dtype, copy=False) @ self.W_ + self.c_)

    def sample(self, n_samples: int, random_state=None, *, n_steps: int = 1000):
        """``n_samples`` visible samples after ``n_steps`` block-Gibbs steps from noise."""
        self._check_fitted()
        n_samples = check_positive_int(n_samples, "n_samples")
        rng = check_random_state(random_state)
        v = self._init_chains(n_samples, rng)
        for _ in range(check_positive_int(n_steps, "n_steps")):
            v = self.gibbs(v, random_state=rng)
        return v


@register_model("rbm")
class BernoulliRBM(_RBMBase):
    """Bernoulli-Bernoulli RBM (binary data), trained by CD-k or PCD.

    ``random_state`` seeds the weight initialisation, the mini-batch order and every
    Gibbs uniform. Divergence stops ``fit`` with
    :class:`~minigen.exceptions.TrainingDiverged` (the rule of
    :mod:`minigen.training`) and puts back the last good parameters.

    Attributes
    ----------
    components_ (H, V), intercept_hidden_ (H,), intercept_visible_ (V,), W_ (V, H),
    chains_ (persistent chains, PCD).
    """

    data_kind = "binary"
    likelihood_kind = "exact if min(V, H) <= exact_max_units, else AIS"

    nonnegative_input = True  # binary visibles

    def _check_X(self, X, *, check_width=True):
        X = flatten_rows(check_array(X, "X", ndim=(2, 3, 4)))  # images are flattened
        check_binary(X, "X")
        if check_width and hasattr(self, "W_") and X.shape[1] != self.W_.shape[0]:
            raise self._width_error(X.shape[1])
        return get_backend().xp.asarray(X, dtype=self._dtype())

    def free_energy(self, X):
        r""":math:`F(v) = -b^\top v - \sum_j \mathrm{softplus}(c_j + v^\top W_{:,j})`, (n,),
        in float64."""
        X = self._check_X(X).astype(np.float64, copy=False)
        W, b, c = self._float64_params()
        return -X @ b - softplus(X @ W + c).sum(axis=1)

    def _free_energy_from(self, v, a):
        return -(v @ self.b_) - softplus(a).sum(axis=1)

    def energy(self, v, h):
        """Joint energy :math:`E(v, h)` per row (float64)."""
        W, b, c = self._float64_params()
        return -((v @ W) * h).sum(axis=1) - v @ b - h @ c

    def sample(self, n_samples: int, random_state=None, *, n_steps: int = 1000,
               method: str = "gibbs"):
        r"""``n_samples`` visible samples.

        ``method="gibbs"``: ``n_steps`` block-Gibbs steps from noise (approximate; the
        chains' burn-in decides how close). ``method="exact"`` (at most 24 hidden units):
        the hidden marginal is enumerable,

        .. math:: q(h) \propto \exp\big(c^\top h + \textstyle\sum_i
            \mathrm{softplus}(b_i + W_{i,:} h)\big)

        over the :math:`2^H` states, so ``h`` is drawn from it by thresholding its CDF
        (:func:`minigen.kernels.multinomial_threshold`), then
        :math:`v \mid h \sim \mathrm{Bernoulli}(\sigma(b + W h))`: independent exact
        draws, no burn-in (``n_steps`` is not used).
        """
        if check_choice(method, "method", ("gibbs", "exact")) == "gibbs":
            return super().sample(n_samples, random_state, n_steps=n_steps)
        self._check_fitted()
        n = check_positive_int(n_samples, "n_samples")
        H = self.W_.shape[1]
        if H > boltzmann.MAX_ENUM_UNITS:
            raise ValueError(f"method='exact' enumerates 2^H hidden states; H={H} > "
                             f"{boltzmann.MAX_ENUM_UNITS}")
        rng = check_random_state(random_state)
        xp = get_backend().xp
        hs = boltzmann.all_states(H, xp=xp)  # (2^H, H)
        W, b, c = self._float64_params()
        log_q = hs @ c + softplus(hs @ W.T + b).sum(axis=1)
        q = xp.exp(log_q - log_q.max())
        u = uniforms(rng, n, np.float64)
        # the kernel takes one row of weights per draw: rows in blocks of ~4M weights
        rows = max(1, (1 << 22) >> H)
        idx = xp.concatenate([
            multinomial_threshold(xp.ascontiguousarray(xp.broadcast_to(q, (len(ub), len(q)))),
                                  ub)
            for ub in (u[i:i + rows] for i in range(0, n, rows))])
        pv = sigmoid(hs[idx] @ W.T + b)
        return (uniforms(rng, pv.shape, np.float64) < pv).astype(self.W_.dtype)

    def _exact_log_partition(self) -> float:
        V, H = self.W_.shape
        if min(V, H) > boltzmann.MAX_ENUM_UNITS:
            raise ValueError(f"exact log Z needs min(V, H) <= {boltzmann.MAX_ENUM_UNITS}, "
                             f"got {V}x{H}")
        W, b, c = self._float64_params()
        if H <= V:
            # sum over h: log Z = logsumexp_h [c.h + sum_i softplus(b_i + (W h)_i)]
            return boltzmann.logsumexp_over_states(
                lambda S: S @ c + softplus(S @ W.T + b).sum(axis=1), H, chunk_size=1 << 14)
        return boltzmann.logsumexp_over_states(
            lambda S: S @ b + softplus(S @ W + c).sum(axis=1), V, chunk_size=1 << 14)

    def pseudo_likelihood(self, X):
        r"""Exact log pseudo-likelihood :math:`\sum_i \log p(v_i \mid v_{-i})` per row.

        :math:`\log p(v_i \mid v_{-i}) = -\mathrm{softplus}(F(v) - F(v^{(i)}))`
        with :math:`v^{(i)}` = ``v`` with bit ``i`` flipped.
        """
        self._check_fitted()
        xp = get_backend().xp
        X = self._check_X(X).astype(np.float64, copy=False)
        f0 = self.free_energy(X)
        out = xp.zeros(X.shape[0])
        for i in range(X.shape[1]):
            Xi = X.copy()
            Xi[:, i] = 1 - Xi[:, i]
            out -= softplus(f0 - self.free_energy(Xi))
        return out

    #: largest V * H for the fused epoch: its products are scalar row sums over the binary
    #: states, which lose to the per-batch path's BLAS products on big layers (5,000 images,
    #: batch 20, float64: 784 x 128 even, 0.33 s; 784 x 64: fused 1.3x faster)
    _FUSED_MAX_WEIGHTS = 1 << 17

    def _fused_epoch_kernel(self):
        """On the ``numba`` backend, CD-k / PCD epochs of layers up to
        ``_FUSED_MAX_WEIGHTS`` weights run in one kernel call
        (:func:`minigen.kernels.cpu.gibbs.rbm_sgd_epoch`): Python is entered once per epoch
        instead of once per mini-batch. ``method="exact"`` (which reports
        the CD loss), larger layers and ``dtype="float32"`` (the kernel is float64) keep the
        per-batch path."""
        if get_backend().name != "numba" or self.method == "exact" or \
                self._dtype() != np.float64:
            return None
        W = getattr(self, "W_", None)
        if W is not None and W.size > self._FUSED_MAX_WEIGHTS:
            return None
        from ...kernels.cpu.gibbs import rbm_sgd_epoch  # numba-only module: numba is optional

        return rbm_sgd_epoch

    def _gibbs_k(self, v, k, rng):
        """k block-Gibbs steps through the public kernel :func:`minigen.kernels.rbm_gibbs`
        (its value checks run inside the kernel pass), on uniforms drawn from ``rng``."""
        V, H = self.W_.shape
        u = uniforms(rng, (k, v.shape[0], H + V), dtype=self.W_.dtype)
        return rbm_gibbs(v, self.W_, self.b_, self.c_, k, uniforms=u)

    def _init_chains(self, n, rng):
        # float32 draws for either dtype: float32 and float64 fits see the same chains
        p = sigmoid(self.b_)
        return (uniforms(rng, (n, self.W_.shape[0]), dtype=np.float32) < p).astype(
            self.W_.dtype)

    def _negative_phase(self, v0, ph0, rng):
        r"""``k`` block-Gibbs steps :math:`h_t \sim p(h \mid \cdot)`,
        :math:`v_{t+1} \sim p(v \mid h_t)`, started from hidden probabilities: ``ph0`` of
        the data (CD) or the chains' kept :math:`p(h \mid v_{chain})` (PCD). The uniforms
        are laid out as :func:`~minigen.kernels.rbm_gibbs`'s, ``(k, B, H + V)`` (columns
        ``:H`` draw :math:`h_t`, ``H:`` draw :math:`v_{t+1}`), drawn in float32 for either
        dtype. Returns ``(v_k, v_k W + c, p(h | v_k))``."""
        k = check_positive_int(self.k, "k")
        if self.method == "cd":
            ph = ph0
        else:
            if self.chains_ is None:
                n = self.n_persistent or self.batch_size or v0.shape[0]
                self._start_chains(check_positive_int(n, "n_persistent"), rng)
            ph = self._chain_hidden_probs()
        W, b, c = self.W_, self.b_, self.c_
        dt = W.dtype
        V, H = W.shape
        u = uniforms(rng, (k, ph.shape[0], H + V), dtype=np.float32)
        for t in range(k):
            h = (u[t, :, :H] < ph).astype(dt)
            v = (u[t, :, H:] < sigmoid(h @ W.T + b)).astype(dt)
            a = v @ W + c
            ph = sigmoid(a)
        if self.method == "pcd":
            self._set_chains(v, ph)
        return v, a, ph

    def _start_chains(self, n, rng):
        self.chains_ = self._init_chains(n, rng)
        self._chains_hidden = None

    def gibbs(self, v, random_state=None):
        """One block-Gibbs step v -> h -> v; returns the new visible sample (n, V)."""
        self._check_fitted()
        v = self._check_X(v)
        return self._gibbs_k(v, 1, check_random_state(random_state)).v


@register_model("gbrbm")
class GaussianBernoulliRBM(_RBMBase):
    """Gaussian-Bernoulli RBM for real-valued data (unit visible variance;
    standardize the data first). Same hyper-parameters as :class:`BernoulliRBM`, except
    ``n_components`` defaults to 16: log Z is exact only (``2^H`` hidden states), so
    ``H <= 24`` is required for scoring."""

    data_kind = "continuous (standardized)"
    likelihood_kind = "exact (2^H hidden states, H <= 24)"

    hyperparameters = {
        "n_components": Param(16, "hidden units H (at most 24: exact log Z only)",
                              positive_int),
    }
    divergence_hint = " or standardize X"

    def _check_X(self, X, *, check_width=True):
        X = flatten_rows(check_array(X, "X", ndim=(2, 3, 4)))  # images are flattened
        if check_width and hasattr(self, "W_") and X.shape[1] != self.W_.shape[0]:
            raise self._width_error(X.shape[1])
        return get_backend().xp.asarray(X, dtype=self._dtype())

    def init_from_data(self, X, rng=None):
        xp = get_backend().xp
        self.b_[...] = xp.asarray(self._check_fit_X(X), dtype=np.float64).mean(axis=0)

    def check_scorable(self) -> None:
        """Its log Z is exact only (enumerating the ``2^H`` hidden states, no AIS
        fallback), so ``n_components`` above ``MAX_ENUM_UNITS`` (24) cannot be scored:
        the shared default, 64, would train and then fail at scoring."""
        H = self.n_components
        if isinstance(H, int) and H > boltzmann.MAX_ENUM_UNITS:
            raise ValueError(
                f"{type(self).__name__} with n_components={H} cannot be scored: its exact "
                f"log Z enumerates 2^n_components hidden states, at most "
                f"{boltzmann.MAX_ENUM_UNITS} units (no AIS fallback); use n_components <= "
                f"{boltzmann.MAX_ENUM_UNITS} (e.g. 16)"
            )

    def free_energy(self, X):
        r""":math:`F(v) = \tfrac12\lVert v-b\rVert^2 - \sum_j \mathrm{softplus}(c_j + v^\top W_{:,j})`."""  # noqa: E501
        X = self._check_X(X).astype(np.float64, copy=False)
        W, b, c = self._float64_params()
        return 0.5 * ((X - b) ** 2).sum(axis=1) - softplus(X @ W + c).sum(axis=1)

    def _free_energy_from(self, v, a):
        return 0.5 * ((v - self.b_) ** 2).sum(axis=1) - softplus(a).sum(axis=1)

    def _exact_log_partition(self) -> float:
        r""":math:`\log Z = \tfrac V2 \log 2\pi + \log\sum_h
        \exp(c^\top h + b^\top W h + \tfrac12 \lVert W h\rVert^2)`."""
        V, H = self.W_.shape
        if H > boltzmann.MAX_ENUM_UNITS:
            raise ValueError(f"exact log Z needs H <= {boltzmann.MAX_ENUM_UNITS}, got {H}")
        W, b, c = self._float64_params()

        def lw(S):
            m = S @ W.T
            return S @ c + m @ b + 0.5 * (m * m).sum(axis=1)

        return V * HALF_LOG_2PI + boltzmann.logsumexp_over_states(lw, H)

    def log_partition(self, method: str = "auto", random_state=0, return_stderr=False):
        if method == "ais":
            raise ValueError("AIS is implemented for BernoulliRBM only")
        return super().log_partition("exact", random_state, return_stderr)

    def _step(self, v, rng):
        ph = sigmoid(v @ self.W_ + self.c_)
        h = (uniforms(rng, ph.shape, dtype=np.float64) < ph).astype(v.dtype)

        mean = self.b_ + h @ self.W_.T
        return ph, h, mean + normals(rng, mean.shape, dtype=np.float64).astype(v.dtype)

    def _init_chains(self, n, rng):
        return self.b_ + normals(rng, (n, self.W_.shape[0]), dtype=np.float64).astype(
            self.W_.dtype)

    def _negative_phase(self, v0, ph0, rng):
        """``k`` Gibbs steps v -> h -> v from the data (CD) or the persistent chains."""
        k = check_positive_int(self.k, "k")
        if self.method == "cd":
            v = v0
        else:
            if self.chains_ is None:
                n = self.n_persistent or self.batch_size or v0.shape[0]
                self.chains_ = self._init_chains(check_positive_int(n, "n_persistent"), rng)
            v = self.chains_
        for _ in range(k):
            _, _, v = self._step(v, rng)
        if self.method == "pcd":
            self.chains_ = v
        a = v @ self.W_ + self.c_
        return v, a, sigmoid(a)

    def gibbs(self, v, random_state=None):
        """One block-Gibbs step v -> h -> v (Gaussian visibles)."""
        self._check_fitted()
        return self._step(self._check_X(v).astype(self.W_.dtype, copy=False),
                          check_random_state(random_state))[2]
