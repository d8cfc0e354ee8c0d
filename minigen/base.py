"""The model contract every minigen model follows.

Public surface (scikit-learn conventions, so users of ``BernoulliRBM`` or
``GaussianMixture`` feel at home):

* ``__init__`` stores hyper-parameters only (keyword arguments, no work);
* ``fit(X) -> self``; learned state ends in ``_``;
* ``score_samples(X) -> (n,)`` log-likelihood in nats per example (each model's
  docstring says whether it is exact, a bound, or unnormalized);
* ``sample(n_samples, random_state=None)``;
* ``save(path)`` / ``GenerativeModel.load(path)`` through :mod:`minigen.io`.

Training contract (what :mod:`minigen.training` drives; it does not care
whether gradients come from autograd or a closed form, so RBMs use it too):

* ``trainable_arrays() -> dict[str, array]``: the live parameter arrays, which
  the optimizer updates *in place*;
* ``loss_and_grads(batch, rng) -> (loss, grads)``: a scalar training loss
  (usually the mean NLL in nats per example) and a dict of gradients with the
  same keys and shapes as ``trainable_arrays()``;
* ``extra_state() -> dict[str, array]`` / ``load_extra_state(d)``: any further
  state a resumed run needs (persistent chains, replay buffers, init flags).

Checkpoints hold ``trainable_arrays()`` under ``param/<name>``,
``extra_state()`` under ``extra/<name>``, and ``get_params()`` in the metadata.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np

from . import __version__
from .backend import get_backend
from .io import CheckpointError, load_checkpoint, save_checkpoint

MODEL_REGISTRY: dict[str, type] = {}

# Metadata keys minigen writes and reads itself; ``save(**extra)`` may not use them.
RESERVED_METADATA_KEYS = frozenset(
    {"format_version", "model", "params", "minigen_version", "backend", "n_features", "training"}
)


def register_model(name: str):
    """Class decorator: make a model known to ``load`` and to the CLI as ``name``."""

    def deco(cls):
        if name in MODEL_REGISTRY and MODEL_REGISTRY[name] is not cls:
            raise ValueError(f"model name {name!r} is already registered")
        MODEL_REGISTRY[name] = cls
        cls._registry_name = name
        return cls

    return deco


def get_model_class(name: str) -> type:
    """Look a registered model up by name; the error lists the known names."""
    from . import models  # noqa: F401  (importing registers every model)

    if name not in MODEL_REGISTRY:
        raise ValueError(
            f"unknown model {name!r}; known models: {', '.join(sorted(MODEL_REGISTRY))}"
        )
    return MODEL_REGISTRY[name]


class GenerativeModel:
    """Base class: hyper-parameter handling, NLL helpers, checkpoints."""

    _registry_name: str | None = None

    # ------------------------------------------------------------ hyper-parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self) -> dict:
        """Hyper-parameters as given to ``__init__``."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        valid = set(self._param_names())
        for k, v in params.items():
            if k not in valid:
                raise ValueError(f"invalid parameter {k!r} for {type(self).__name__}")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------ likelihood
    def score_samples(self, X):  # pragma: no cover - abstract
        raise NotImplementedError

    def score(self, X) -> float:
        """Mean log-likelihood per example, in nats."""
        return float(np.mean(get_backend().to_numpy(self.score_samples(X))))

    def check_scorable(self) -> None:
        """Raise ``ValueError`` if these hyper-parameters give a model whose likelihood
        cannot be computed once fitted (so a run can refuse it before training). Most
        models can always be scored; a model with such a limit overrides this."""

    def nll(self, X, unit: str = "nats") -> float:
        """Mean negative log-likelihood per example: ``"nats"`` or ``"bits/dim"``."""
        from .divergences import nats_to_bits_per_dim

        nats = -self.score(X)
        if unit == "nats":
            return nats
        if unit == "bits/dim":
            n_dims = int(np.prod(np.shape(X)[1:]))
            return nats_to_bits_per_dim(nats, n_dims)
        raise ValueError(f"unknown unit {unit!r}; choose 'nats' or 'bits/dim'")

    # ------------------------------------------------------------ training contract
    def trainable_arrays(self) -> dict:
        raise NotImplementedError(f"{type(self).__name__} is not trained by gradient steps")

    def loss_and_grads(self, batch, rng: np.random.Generator):
        raise NotImplementedError(f"{type(self).__name__} is not trained by gradient steps")

    def extra_state(self) -> dict:
        return {}

    def load_extra_state(self, state: dict) -> None:
        if state:
            raise CheckpointError(
                f"{type(self).__name__} has no extra state, got {sorted(state)}"
            )

    def _check_fitted(self):
        if not getattr(self, "fitted_", False):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet; call fit(X) first")

    def _build(self, n_features: int, rng: np.random.Generator) -> None:
        """Allocate parameters for data with ``n_features`` (used by ``load``)."""
        raise NotImplementedError

    # ------------------------------------------------------------ checkpoints
    def checkpoint_metadata(self) -> dict:
        return {
            "model": self._registry_name or type(self).__name__,
            "params": self.get_params(),
            "minigen_version": __version__,
            "backend": get_backend().name,
            "n_features": getattr(self, "n_features_in_", None),
        }

    def save(self, path, **extra_metadata) -> Path:
        """Write the fitted model to ``path`` (``.npz``, atomic, no pickle).

        ``extra_metadata`` (JSON-able) is stored beside the model's own metadata; its
        keys may not be any of :data:`RESERVED_METADATA_KEYS`.
        """
        # a user key named "params" or "model" would silently replace ours and make the
        # file load as something else (or not at all), so collisions are refused
        clash = sorted(set(extra_metadata) & RESERVED_METADATA_KEYS)
        if clash:
            raise ValueError(
                f"metadata keys {clash} are reserved by minigen; "
                f"reserved: {sorted(RESERVED_METADATA_KEYS)}"
            )
        return self._save(path, extra_metadata)

    def _save(self, path, extra_metadata: dict) -> Path:
        """:meth:`save` without the reserved-key check (``training`` uses the key itself)."""
        self._check_fitted()
        arrays = {f"param/{k}": v for k, v in self.trainable_arrays().items()}
        arrays.update({f"extra/{k}": v for k, v in self.extra_state().items()})
        return save_checkpoint(path, arrays, {**self.checkpoint_metadata(), **extra_metadata})

    @classmethod
    def load(cls, path):
        """Rebuild a model saved with :meth:`save` (any registered class if called on the base).

        Raises :class:`CheckpointError` (naming the file) for a corrupt file, malformed
        metadata, or parameters that are missing, mis-shaped, of the wrong kind or not finite.
        """
        arrays, meta = load_checkpoint(path)
        name, params, n_features = _check_model_metadata(path, meta)
        if cls is GenerativeModel:
            try:
                target = get_model_class(name)
            except ValueError as exc:
                raise CheckpointError(f"checkpoint {str(path)!r}: {exc}") from None
        else:
            target = cls
            if cls._registry_name not in (None, name):
                raise CheckpointError(
                    f"checkpoint {str(path)!r} holds a {name!r} model, "
                    f"not {cls._registry_name!r}"
                )
        # hyper-parameters come from the file: a bad one is the file's fault, so say so
        try:
            model = target(**params)
            model._build(n_features, np.random.default_rng(0))
        except (TypeError, ValueError) as exc:
            raise CheckpointError(
                f"checkpoint {str(path)!r} has hyper-parameters or n_features that "
                f"{target.__name__} rejects: {exc}"
            ) from exc
        try:
            model._load_arrays(arrays)
        except CheckpointError as exc:
            raise CheckpointError(f"checkpoint {str(path)!r}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:  # from a model's load_extra_state
            raise CheckpointError(
                f"checkpoint {str(path)!r} has extra state {type(model).__name__} cannot "
                f"load ({type(exc).__name__}: {exc})"
            ) from exc
        return model

    def _load_arrays(self, arrays: dict) -> None:
        backend = get_backend()
        live = self.trainable_arrays()
        unknown = sorted(
            k[len("param/"):] for k in arrays if k.startswith("param/")
            and k[len("param/"):] not in live
        )
        if unknown:  # parameters of some other model: refuse rather than drop them
            raise CheckpointError(f"checkpoint has parameters {unknown} the model does not have")
        for k, dst in live.items():
            key = f"param/{k}"
            if key not in arrays:
                raise CheckpointError(f"checkpoint lacks parameter {k!r}")
            src = arrays[key]
            if src.shape != dst.shape:
                raise CheckpointError(
                    f"parameter {k!r} has shape {src.shape} in the checkpoint, "
                    f"the model expects {dst.shape}"
                )
            # same_kind allows float64 -> float32 but not complex -> float (drops the
            # imaginary part) nor str/float -> int (garbage or an error deep in numpy)
            dst_dtype = np.dtype(dst.dtype)
            if not np.can_cast(src.dtype, dst_dtype, casting="same_kind"):
                raise CheckpointError(
                    f"parameter {k!r} has dtype {src.dtype} in the checkpoint, "
                    f"the model expects {dst_dtype}"
                )
            # a NaN/inf parameter would load fine and turn every score into NaN
            if src.dtype.kind in "fc" and not np.isfinite(src).all():
                raise CheckpointError(
                    f"parameter {k!r} has {int((~np.isfinite(src)).sum())} "
                    "non-finite (NaN or inf) values"
                )
            dst[...] = backend.asarray(src, dtype=dst.dtype)
        self.load_extra_state(
            {k[len("extra/"):]: v for k, v in arrays.items() if k.startswith("extra/")}
        )
        self.fitted_ = True


def _is_count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _check_model_metadata(path, meta: dict):
    """``(model name, params, n_features)`` from checkpoint metadata, or CheckpointError."""
    where = f"checkpoint {str(path)!r}"
    for key in ("model", "params", "n_features"):
        if key not in meta:
            raise CheckpointError(f"{where} metadata lacks the required key {key!r}")
    name, params, n_features = meta["model"], meta["params"], meta["n_features"]
    if not isinstance(name, str) or not name:
        raise CheckpointError(f"{where} metadata 'model' must be a model name, got {name!r}")
    if not isinstance(params, dict):
        raise CheckpointError(
            f"{where} metadata 'params' must be a JSON object, got {type(params).__name__}"
        )
    # an int for flat rows, a list of ints for image-shaped examples (see training._n_features)
    if not (
        _is_count(n_features)
        or (isinstance(n_features, list) and n_features and all(map(_is_count, n_features)))
    ):
        raise CheckpointError(
            f"{where} metadata 'n_features' must be a positive int or a list of them, "
            f"got {n_features!r}"
        )
    return name, params, n_features
