r"""Shared machinery of the discrete autoregressive models (FVSBN, MADE, transformer, PixelCNN...).

An autoregressive model factorizes the joint distribution of a discrete example
:math:`x \in \{0, \dots, K-1\}^D` along an ordering :math:`\sigma` (a permutation of the
``D`` flattened positions):

.. math::

    \log p(x) = \sum_{t=0}^{D-1} \log p\big(x_{\sigma_t} \mid x_{\sigma_0}, \dots,
    x_{\sigma_{t-1}}\big),

each conditional a Bernoulli (``K = 2``, one logit per position) or a ``K``-way
categorical (``K`` logits per position). The likelihood is exact and normalized.

What a subclass implements
--------------------------
Data reach the network through ``_encode``; examples are flattened in C order
(``(n, H, W[, C]) -> (n, D)``, ``D = H W C``: raster order, channels last).

``_make_network(self, rng)`` (required)
    Build the autograd network(s) as ``self.net_`` (an ``nn.Module``; its
    ``param_arrays()`` are the trainable arrays) from ``self.n_dims_`` (D),
    ``self.n_categories_`` (K), ``self.image_shape_``, ``self.ordering_`` (int64
    permutation of ``range(D)``; ``ordering_[t]`` is the position generated at step ``t``)
    and ``self.dtype_``. Draw every initial weight from ``rng``.
``_logits(self, h)`` (required)
    Teacher-forced conditionals in ONE parallel pass: ``h`` is a float Tensor
    ``(n, D, C_in)`` (the encoded input, see ``_encode``); return a Tensor of logits
    ``(n, D)`` (Bernoulli, ``K == 2``: logit of ``p(x_d = 1 | x_<d)``) or ``(n, D, K)``
    (categorical), in the natural (unpermuted) position layout. Output ``d`` must depend
    only on inputs at positions earlier in the ordering (checked by
    ``tests/autoregressive/ar_property.py::check_autoregressive_model``).
``_encode(self, x)`` (optional)
    Integer array ``(n, D)`` -> float array ``(n, D, C_in)``. Default: the value itself
    (``C_in = 1``) when ``K == 2``, one-hot (``C_in = K``) otherwise. Override to feed e.g.
    scaled intensities. ``self._n_input_channels()`` must agree.
``supported_orderings`` (class attribute, optional)
    ``("natural", "random", "custom")`` by default; convolutional models that only
    implement raster order set ``("natural",)`` and get a clear error otherwise.
``_sampler_start(self, n)`` / ``_sampler_logits(self, x, t, state)`` (optional)
    Incremental sampler. ``_sampler_logits`` returns the logits ``(n,)`` or ``(n, K)`` of
    position ``ordering_[t]`` given the partially filled integer array ``x (n, D)``
    (positions ``ordering_[:t]`` hold values). The default recomputes the full teacher-
    forced pass (``D`` network evaluations per sample batch); e.g. the transformer keeps
    a key/value cache in ``state``.
``_log_prob(self, x)`` (optional)
    Exact ``log p(x)`` for integer ``x (n, D)`` without gradients (MADE overrides it to
    average over its mask ensemble).
``_before_batch(self, rng)`` (optional)
    Called before each training batch (MADE resamples its masks here).
``_extra_arrays()`` / ``_load_extra_arrays(state)`` (optional)
    Further state to checkpoint (masks, degrees); orderings, ``K`` and the image shape
    are saved by the base.

What the base provides
----------------------
``fit(X)`` (through :func:`minigen.training.train`), the training contract
(``trainable_arrays``, ``loss_and_grads``: mean NLL in nats per example and its
gradients by autograd), ``score_samples`` (exact, nats), ``nll(X, "bits/dim")``,
``sample(n, random_state, temperature)`` (sequential, one conditional at a time, drawn
with :func:`minigen.kernels.categorical_from_logits` from explicit uniforms ``u (n, D)``
taken from the Generator, so a seed reproduces exactly whichever sampler is used),
``complete`` (in-painting), ``anomaly_scores``/``flag_anomalies``, input validation,
orderings and checkpoints. All array code is written against the active backend's
``xp`` (NumPy or CuPy).

References: Larochelle & Murray, "The neural autoregressive distribution estimator"
(2011); Germain et al., "MADE" (2015); van den Oord et al., "Pixel recurrent neural
networks" (2016).
"""

from __future__ import annotations

import numpy as np

from ..._threads import cpu_policy
from ..._validation import (
    check_array,
    check_positive_float,
    check_positive_int,
    infer_n_categories,
)
from ...autograd import F, Tensor, no_grad
from ...backend import get_backend, to_numpy
from ...base import reserve
from ...exceptions import NotFittedError
from ...io import CheckpointError, state_array
from ...kernels import categorical_from_logits
from ...params import Param, dtype_name, optional, positive_int
from ...random import check_random_state
from ...training import IterativeModel

__all__ = ["AutoregressiveModel", "CachedSampling", "resolve_ordering"]


def resolve_ordering(ordering, n_dims: int, rng, name: str = "ordering") -> np.ndarray:
    """Turn ``"natural"``, ``"random"`` or an explicit sequence into an int64 permutation.

    Raises ``ValueError`` naming ``name`` when a sequence is not a permutation of
    ``range(n_dims)``.
    """
    if ordering is None or (isinstance(ordering, str) and ordering == "natural"):
        return np.arange(n_dims, dtype=np.int64)
    if isinstance(ordering, str):
        if ordering == "random":
            return rng.permutation(n_dims).astype(np.int64)
        raise ValueError(
            f"{name} must be 'natural', 'random' or a permutation of 0..{n_dims - 1}, "
            f"got {ordering!r}"
        )
    arr = np.asarray(to_numpy(ordering) if hasattr(ordering, "shape") else ordering)
    if (
        arr.ndim != 1
        or arr.size != n_dims
        or arr.dtype.kind not in "iu"
        and not (arr.dtype.kind == "f" and np.all(arr == np.round(arr)))
        or not np.array_equal(np.sort(arr.astype(np.int64)), np.arange(n_dims))
    ):
        raise ValueError(
            f"{name} must be a permutation of 0..{n_dims - 1} (each position exactly "
            f"once), got {arr.tolist()!r}"
        )
    return arr.astype(np.int64)


#: hyper-parameters shared by the discrete autoregressive models (each lists those it takes)
N_CATEGORIES = Param(
    None, "alphabet size K (values 0..K-1); None infers max(X) + 1 (at least 2, at most "
    "65536)", optional(positive_int))
ORDERING = Param(
    "natural", "generation order: 'natural' (raster), 'random' (drawn from random_state) or "
    "a permutation of 0..D-1", kind="'natural' | 'random' | permutation")
DTYPE = Param("float32", "float dtype of the network", dtype_name)


class AutoregressiveModel(IterativeModel):
    """Base class of discrete autoregressive models (see the module docstring).

    Common hyper-parameters: ``n_categories`` (K; ``None`` infers ``max(X) + 1``, at least
    2), ``ordering`` (``"natural"``, ``"random"`` or a permutation), ``dtype`` (network
    float dtype); training settings: :data:`minigen.params.TRAINING_PARAMS`.

    Attributes (after fit)
    ----------------------
    image_shape_ : tuple, shape of one example
    n_dims_ : int, D
    n_categories_ : int, K
    ordering_ : int64 array (D,), generation order
    net_ : nn.Module
    """

    data_kind = "binary or integer levels"

    accepts_images = True
    nonnegative_input = True  # category levels 0..K-1
    supported_orderings = ("natural", "random", "custom")
    score_batch_size = 2048

    # ------------------------------------------------------------ subclass hooks
    def _make_network(self, rng) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _logits(self, h: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _n_input_channels(self) -> int:
        return 1 if self.n_categories_ == 2 else self.n_categories_

    def _encode(self, x):
        """Integer ``x (n, D)`` -> float ``(n, D, C_in)``: the value (K=2) or one-hot."""
        xp = get_backend().xp
        if self.n_categories_ == 2:
            return x.astype(self.dtype_)[..., None]
        return (x[..., None] == xp.arange(self.n_categories_)).astype(self.dtype_)

    def _before_batch(self, rng) -> None:
        pass

    def _extra_arrays(self) -> dict:
        return {}

    def _load_extra_arrays(self, state: dict) -> None:
        pass

    # ------------------------------------------------------------ building
    @property
    def dtype_(self):
        return np.dtype(getattr(self, "dtype", "float32") or "float32")

    def build_parameters(self, n_features, rng=None) -> None:
        rng = check_random_state(rng)
        if isinstance(n_features, (list, tuple)):
            shape = tuple(int(s) for s in n_features)
        else:
            shape = (int(n_features),)
        self.set_event_shape(shape)
        self.image_shape_ = shape
        self.n_dims_ = int(np.prod(shape))
        self._set_ordering(self._resolve_ordering(rng))
        self.net_ = None
        if getattr(self, "n_categories", None) is not None:
            self.n_categories_ = self._check_k(self.n_categories)
            self._network(rng)

    def _network(self, rng) -> None:
        """:meth:`_make_network`, after telling a load's size check about the ``D x K``
        tables (one-hot inputs, logits) a network of this K sets up before its draws."""
        reserve(rng, self.n_dims_ * self.n_categories_)
        self._make_network(rng)

    def _resolve_ordering(self, rng):
        ordering = getattr(self, "ordering", "natural")
        kind = ordering if isinstance(ordering, str) else "custom"
        kind = "natural" if ordering is None else kind
        if kind in ("natural", "random", "custom") and kind not in self.supported_orderings:
            raise ValueError(
                f"{type(self).__name__} supports ordering "
                f"{' or '.join(map(repr, self.supported_orderings))}, got {ordering!r}"
            )
        return resolve_ordering(ordering, self.n_dims_, rng)

    def _set_ordering(self, order) -> None:
        self.ordering_ = np.asarray(order, dtype=np.int64)
        rank = np.empty_like(self.ordering_)
        rank[self.ordering_] = np.arange(self.ordering_.size)
        self.rank_ = rank  # rank_[d] = step at which position d is generated

    @staticmethod
    def _check_k(k) -> int:
        k = check_positive_int(k, "n_categories")
        if k < 2:
            raise ValueError(f"n_categories must be >= 2, got {k}")
        return k

    def init_from_data(self, X, rng) -> None:
        """Infer K from the data when ``n_categories`` is None, then build the network."""
        Xf = to_numpy(X).reshape(len(X), -1)  # host copy: K is inferred on the CPU
        if self.net_ is None:
            # K = max(X) + 1, capped: one stray huge value (an ID, 1e12) would otherwise size
            # the network by it and die of a MemoryError deep inside. It also refuses
            # negative and fractional values, before any int64 cast (1e30 would wrap).
            self.n_categories_ = infer_n_categories(Xf, "X")
            self._network(check_random_state(rng))
        else:
            self._check_values(Xf, "X", self.n_categories_)

    # ------------------------------------------------------------ validation
    def _check_values(self, Xf, name, k):
        """Integer values in ``0..k-1`` (any ``k`` if None) -> int64 array on Xf's backend."""
        xp = get_backend().xp if not isinstance(Xf, np.ndarray) else np
        bad = (Xf != xp.round(Xf)) | (Xf < 0)
        if Xf.size and bool(bad.any()):
            v = to_numpy(Xf[bad]).ravel()[0]
            raise ValueError(
                f"{name} must hold integer values 0..K-1 (the model's alphabet); found {v}"
            )
        if k is not None and Xf.size and bool((Xf >= k).any()):
            raise ValueError(
                f"{name} has value {float(Xf.max()):g} outside the model's alphabet "
                f"0..{k - 1} (n_categories={k})"
            )
        return Xf.astype(np.int64)

    def _check_X(self, X, name: str = "X"):
        """Validate ``X`` (image shape or flat ``D``, values in the alphabet) -> int xp (n, D)."""
        self._check_fitted()
        X = check_array(X, name, allow_empty=False)
        shape = tuple(int(s) for s in X.shape[1:])
        if X.ndim < 2 or shape not in (self.image_shape_, (self.n_dims_,)):
            raise ValueError(
                f"{name} has examples of shape {shape}, the model was fitted on examples of "
                f"shape {self.image_shape_} (or flat ({self.n_dims_},)); got array of shape "
                f"{tuple(X.shape)}"
            )
        return get_backend().asarray(
            self._check_values(X.reshape(X.shape[0], -1), name, self.n_categories_))

    # ------------------------------------------------------------ likelihood
    def _log_prob_from_logits(self, logits: Tensor, x) -> Tensor:
        """``log p(x)`` per example (Tensor (n,)) from teacher-forced logits and integer x."""
        if logits.ndim == 2:  # Bernoulli
            nll = F.binary_cross_entropy_with_logits(logits, x.astype(logits.dtype), "none")
        else:
            nll = F.cross_entropy(logits, x, reduction="none")
        return -F.sum(nll, axis=1)

    def _log_prob(self, x):
        """Exact ``log p(x)`` (xp float64 (n,)) for integer ``x (n, D)``, no gradients."""
        with no_grad():
            lp = self._log_prob_from_logits(self._logits(Tensor(self._encode(x))), x)
        return lp.data.astype(np.float64)

    def log_prob_tensor(self, X) -> Tensor:
        """Exact ``log p(x)`` per example as a Tensor ``(n,)`` on the autograd tape, so
        gradients reach ``net_``'s parameters (REINFORCE: :mod:`minigen.objectives.reinforce`)."""
        x = self._check_X(X)
        return self._log_prob_from_logits(self._logits(Tensor(self._encode(x))), x)

    def score_samples(self, X):
        """Exact log-likelihood ``log p(x)`` per example in nats, shape (n,)."""
        x = self._check_X(X)
        xp = get_backend().xp
        bs = self._score_batch()
        with cpu_policy():
            return xp.concatenate([self._log_prob(x[i:i + bs]) for i in range(0, len(x), bs)])

    def _score_batch(self) -> int:
        """Examples per scoring pass (a subclass caps it where a pass's memory grows)."""
        # a class attribute users may set; 0, < 0 or 2.5 would fail inside range()
        return check_positive_int(self.score_batch_size, "score_batch_size")

    # ------------------------------------------------------------ training contract
    def trainable_arrays(self) -> dict:
        if getattr(self, "net_", None) is None:
            raise NotFittedError(f"{type(self).__name__} has no network yet; call fit(X) first")
        return self.net_.param_arrays()

    def loss_and_grads(self, batch, rng):
        x = self._check_X(batch, "batch")
        self._before_batch(rng)
        self.net_.zero_grad()
        loss = -F.mean(self._log_prob_from_logits(self._logits(Tensor(self._encode(x))), x))
        loss.backward()
        return float(loss.data), self.net_.grad_arrays()

    # ------------------------------------------------------------ checkpoints
    def extra_state(self) -> dict:
        out = {
            "ordering": self.ordering_.copy(),
            "n_categories": np.asarray(self.n_categories_, dtype=np.int64),
            "image_shape": np.asarray(self.image_shape_, dtype=np.int64),
        }
        out.update(self._extra_arrays())
        return out

    def load_extra_state(self, state: dict) -> None:
        state = {k: to_numpy(v) for k, v in state.items()}
        if "image_shape" in state:
            shape = tuple(int(s) for s in state_array(state["image_shape"], "image_shape",
                                                      ndim=1))
            if shape != tuple(self.event_shape_):
                raise CheckpointError(f"extra image_shape {shape} disagrees with the "
                                      f"model's n_features {self.event_shape_}")
            self.image_shape_ = shape
        if "ordering" in state:
            self._set_ordering(resolve_ordering(state["ordering"], self.n_dims_, None))
        self._load_extra_arrays(state)

    def _complete_build(self, extra: dict, index: dict, rng) -> None:
        """The network's size depends on K, which a checkpoint holds in its extra state."""
        if "n_categories" not in extra:
            raise CheckpointError("checkpoint lacks extra/n_categories")
        k = self._check_k(int(to_numpy(extra["n_categories"])))
        if getattr(self, "n_categories", None) is not None and k != self.n_categories:
            raise CheckpointError(f"extra n_categories={k} disagrees with the hyper-parameter "
                                  f"n_categories={self.n_categories}")
        if self.net_ is None or k != self.n_categories_:
            self.n_categories_ = k
            if "ordering" in extra:
                self._set_ordering(resolve_ordering(extra["ordering"], self.n_dims_, None))
            self._network(rng)

    def load_arrays(self, arrays: dict) -> None:
        extra = {k[len("extra/"):]: v for k, v in arrays.items() if k.startswith("extra/")}
        self._complete_build(extra, {}, np.random.default_rng(0))
        super().load_arrays(arrays)

    # ------------------------------------------------------------ sampling
    def _sampler_start(self, n: int):
        return None

    def _sampler_logits(self, x, t: int, state):
        with no_grad():
            logits = self._logits(Tensor(self._encode(x))).data
        return logits[:, self.ordering_[t]]

    def _draw(self, logits, u, temperature):
        """One categorical draw per row from logits ``(n,)`` (Bernoulli) or ``(n, K)``."""

        xp = get_backend().xp
        logits = logits.astype(np.float64)
        if logits.ndim == 1:
            logits = xp.stack([xp.zeros_like(logits), logits], axis=1)
        return categorical_from_logits(xp.ascontiguousarray(logits), u, temperature=temperature)

    def _run_sampler(self, x, u, temperature, observed=None):
        state = self._sampler_start(x.shape[0])
        for t in range(self.n_dims_):
            pos = int(self.ordering_[t])
            if observed is not None and bool(observed[:, pos].all()):
                if state is not None:  # keep the incremental state in step
                    self._sampler_logits(x, t, state)
                continue
            draw = self._draw(self._sampler_logits(x, t, state), u[:, t], temperature)
            if observed is None:
                x[:, pos] = draw
            else:
                x[:, pos] = get_backend().xp.where(observed[:, pos], x[:, pos], draw)
        return x

    def _uniforms(self, rng, n):
        return get_backend().asarray(rng.random((n, self.n_dims_)))

    def sample(self, n_samples: int, random_state=None, temperature: float = 1.0):
        """Draw ``n_samples`` examples, shape ``(n_samples, *image_shape_)``, int64 values.

        Sequential ancestral sampling along ``ordering_``: step ``t`` draws
        ``x[ordering_[t]] ~ softmax(logits / temperature)`` with the uniform ``u[:, t]``
        (``u (n, D)`` drawn from the Generator up front, so the same seed gives the same
        samples with the cached and the uncached sampler). ``temperature < 1`` sharpens.
        """
        self._check_fitted()
        n = check_positive_int(n_samples, "n_samples")
        temperature = check_positive_float(temperature, "temperature")
        rng = check_random_state(random_state)
        u = self._uniforms(rng, n)
        x = get_backend().xp.zeros((n, self.n_dims_), dtype=np.int64)
        with cpu_policy():
            x = self._run_sampler(x, u, temperature)
        return x.reshape((n, *self.image_shape_))

    def complete(self, X_partial, observed_mask, random_state=None, temperature: float = 1.0):
        """Fill the unobserved entries of ``X_partial`` by sampling (in-painting).

        Observed entries (``observed_mask`` True, same shape as ``X_partial``) are kept;
        the others are drawn in the model's order from
        ``p(x_t | x_{<t})``. This is the exact conditional when every observed position
        precedes every missing one in ``ordering_`` (e.g. observing the top rows under the
        raster order and completing the bottom); otherwise later observed values are
        kept but not conditioned on when earlier gaps are drawn.

        Returns int64 array of ``X_partial``'s shape. Unobserved input values are ignored
        (any value, even outside the alphabet, is accepted there).
        """
        self._check_fitted()
        temperature = check_positive_float(temperature, "temperature")
        Xp = check_array(X_partial, "X_partial", allow_empty=False)
        M = np.asarray(to_numpy(observed_mask))
        if M.shape != tuple(Xp.shape):
            raise ValueError(
                f"observed_mask must have the shape of X_partial {tuple(Xp.shape)}, "
                f"got {M.shape}"
            )
        if M.dtype != bool:
            raise TypeError(f"observed_mask must be a boolean array, got dtype {M.dtype}")
        Xh = np.where(M, to_numpy(Xp), 0)
        x = self._check_X(Xh, "X_partial")
        n = x.shape[0]
        obs = get_backend().asarray(M.reshape(n, -1))
        rng = check_random_state(random_state)
        u = self._uniforms(rng, n)
        x = self._run_sampler(x, u, temperature, observed=obs)
        return x.reshape(tuple(Xp.shape))

    # ------------------------------------------------------------ anomalies
    def anomaly_scores(self, X):
        """Negative log-likelihood per example (nats), shape (n,): higher = more anomalous."""
        return -self.score_samples(X)

    def flag_anomalies(self, X, X_valid, quantile: float = 0.99):
        """Boolean (n,): ``NLL(x) >`` the ``quantile`` of the NLLs of ``X_valid``.

        The threshold is kept as ``anomaly_threshold_`` (nats).
        """
        quantile = float(quantile)
        if not 0.0 < quantile < 1.0:
            raise ValueError(f"quantile must be in (0, 1), got {quantile}")
        # checked under its own name first: score_samples would call it "X"
        X_valid = self._check_X(X_valid, "X_valid")
        ref = to_numpy(self.anomaly_scores(X_valid))
        self.anomaly_threshold_ = float(np.quantile(ref, quantile))
        return self.anomaly_scores(X) > self.anomaly_threshold_


class CachedSampling:
    """Mixin (before :class:`AutoregressiveModel` in the bases) of the models whose
    ``_sampler_start`` keeps an incremental state: ``sample(..., use_cache=False)`` asks for
    full passes instead (the same samples for a seed)."""

    def sample(self, n_samples: int, random_state=None, temperature: float = 1.0,
               use_cache: bool = True):
        """As :meth:`AutoregressiveModel.sample`; ``use_cache=False`` recomputes full passes."""
        self._use_cache = bool(use_cache)
        try:
            return super().sample(n_samples, random_state, temperature)
        finally:
            self._use_cache = True

    def _caching(self) -> bool:
        """Whether the sampler running now keeps its incremental state."""
        return getattr(self, "_use_cache", True)
