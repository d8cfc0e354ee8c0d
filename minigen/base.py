"""The model contract every minigen model follows.

Public surface (scikit-learn conventions, so users of ``BernoulliRBM`` or
``GaussianMixture`` feel at home):

* ``__init__`` stores hyper-parameters only (keyword arguments, no work);
* ``fit(X) -> self``; learned state ends in ``_``;
* ``score_samples(X) -> (n,)`` log-likelihood in nats per example (each model's
  docstring says whether it is exact, a bound, or unnormalized);
* ``sample(n_samples, random_state=None)``;
* ``save(path)`` / ``GenerativeModel.load(path)`` through :mod:`minigen.io`
  (:func:`minigen.models.load` for a file of any class).

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
import json
import math
import re
import textwrap
from pathlib import Path

import numpy as np

from . import __version__
from .backend import get_backend
from .divergences import nats_to_bits_per_dim
from .exceptions import NotFittedError
from .io import CheckpointError, _json_default, open_checkpoint, save_checkpoint
from .params import TRAINING_PARAMS, parameters_doc, with_defaults
from .params import TRAINING_PARAMS as training
from .registry import MODEL_REGISTRY, register_model  # noqa: F401  (models register here)

# Metadata keys minigen writes and reads itself; ``save(**extra)`` may not use them.
RESERVED_METADATA_KEYS = frozenset(
    {"format_version", "model", "params", "minigen_version", "backend", "n_features", "training"}
)


class GenerativeModel:
    """Base class: the estimator contract, NLL helpers, checkpoints.

    Hyper-parameters are declared in the class attribute ``hyperparameters`` (a dict
    name -> :class:`~minigen.params.Param`); ``__init__`` is built from the merged table
    of the class and its bases (see :mod:`minigen.params`). Iteratively trained models
    (those that implement ``loss_and_grads``) also take the training settings of
    :data:`~minigen.params.TRAINING_PARAMS`, with the family's ``training_defaults``.
    """

    _registry_name: str | None = None
    hyperparameters: dict = {}
    training_defaults: dict = {}
    #: the merged table (own + bases + training settings); built by __init_subclass__
    _param_table: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} defines __init__; declare its hyper-parameters in the class "
                "attribute `hyperparameters` instead (minigen.params)"
            )
        # the class's own entries first (and winning), then its bases', nearest first
        table, train_defaults = {}, {}
        for base in cls.__mro__:
            for k, v in base.__dict__.get("hyperparameters", {}).items():
                table.setdefault(k, v)
            for k, v in base.__dict__.get("training_defaults", {}).items():
                train_defaults.setdefault(k, v)

        if cls.loss_and_grads is not GenerativeModel.loss_and_grads:  # iteratively trained
            training = with_defaults(TRAINING_PARAMS, **train_defaults)
            clash = sorted(set(table) & set(training))
            if clash:
                raise TypeError(f"{cls.__name__} redeclares training settings {clash}; "
                                "change their defaults in `training_defaults`")
            table = {**table, **training}
        cls._param_table = table
        cls.__init__ = _make_init(cls, table)
        doc = cls.__dict__.get("__doc__")
        if doc and not re.search(r"\n\s*Parameters\n\s*-+\n", doc):
            # the table is the one place parameters are documented; indent it as the rest
            body = [ln for ln in doc.splitlines()[1:] if ln.strip()]
            pad = min((len(ln) - len(ln.lstrip()) for ln in body), default=0)
            cls.__doc__ = doc.rstrip() + "\n\n" + textwrap.indent(parameters_doc(table),
                                                                   " " * pad) + "\n"

    # ------------------------------------------------------------ hyper-parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        return list(cls._param_table)

    @classmethod
    def param_table(cls) -> dict:
        """Every hyper-parameter: name -> :class:`~minigen.params.Param` (default, doc, check)."""
        return dict(cls._param_table)

    def get_params(self, deep: bool = True) -> dict:
        """Hyper-parameters as given to ``__init__`` (scikit-learn's contract: with
        ``deep=True`` a parameter that is itself an estimator adds its own as ``name__key``)."""
        out = {}
        for name in self._param_names():
            value = getattr(self, name)
            out[name] = value
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{name}__{k}", v) for k, v in value.get_params().items())
        return out

    def set_params(self, **params):
        """Set hyper-parameters (``name__key`` reaches a nested estimator); returns self."""
        valid = self._param_names()
        nested: dict = {}
        for key, value in params.items():
            name, sep, sub = key.partition("__")
            if name not in valid:
                raise ValueError(
                    f"invalid parameter {name!r} for {type(self).__name__}; valid "
                    f"parameters: {', '.join(valid)}"
                )
            if sep:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub in nested.items():
            getattr(self, name).set_params(**sub)
        return self

    def validate_params(self) -> dict:
        """Check every hyper-parameter (the one moment they are checked: the start of
        ``fit``); returns the normalized values, leaving the attributes as given."""
        out = {}
        for name, p in self._param_table.items():
            value = getattr(self, name)
            out[name] = p.check(value, name) if p.check is not None else value
        return out

    def __repr__(self) -> str:
        # scikit-learn style: only what differs from the defaults
        args = []
        for name, p in self._param_table.items():
            value = getattr(self, name, p.default)
            try:
                same = bool(value == p.default) and type(value) is type(p.default)
            except (TypeError, ValueError):
                same = False
            if not same:
                args.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(args)})"

    def __sklearn_tags__(self):
        """Tags for scikit-learn's tools (only called by scikit-learn, which is then
        imported): an unsupervised density estimator on 2-D numeric input."""
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(estimator_type="density_estimator",
                    target_tags=TargetTags(required=False),
                    transformer_tags=TransformerTags() if hasattr(self, "transform") else None,
                    input_tags=InputTags(two_d_array=True, three_d_array=self.accepts_images,
                                         positive_only=self.nonnegative_input))

    def __sklearn_is_fitted__(self) -> bool:
        return bool(getattr(self, "fitted_", False))

    def _more_tags(self):  # scikit-learn < 1.6
        return {"requires_y": False, "X_types": ["2darray"]}

    #: whether the model takes image-shaped examples (n, H, W[, C]) as they are
    accepts_images = False
    #: whether every input value must be >= 0 (binary data, category levels)
    nonnegative_input = False
    #: what the model takes and what its score_samples is (for minigen.catalog)
    data_kind = "continuous"
    likelihood_kind = "exact"

    # ------------------------------------------------------------ likelihood
    def score_samples(self, X):  # pragma: no cover - abstract
        raise NotImplementedError

    def score(self, X, y=None) -> float:
        """Mean log-likelihood per example, in nats (``y`` is ignored; scikit-learn's
        model selection maximizes this, as for ``GaussianMixture.score``)."""
        return float(np.mean(get_backend().to_numpy(self.score_samples(X))))

    def check_scorable(self) -> None:
        """Raise ``ValueError`` if these hyper-parameters give a model whose likelihood
        cannot be computed once fitted (so a run can refuse it before training). Most
        models can always be scored; a model with such a limit overrides this."""

    def nll(self, X, unit: str = "nats") -> float:
        """Mean negative log-likelihood per example: ``"nats"`` or ``"bits/dim"``."""

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
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call fit(X) first"
            )

    def build_parameters(self, n_features, rng: np.random.Generator) -> None:
        """Allocate parameters for examples of ``n_features`` (an int for flat rows, a
        list of ints for an image-shaped example; see :meth:`build_argument`)."""
        raise NotImplementedError

    def _complete_build(self, extra: dict, index: dict, rng: np.random.Generator) -> None:
        """At ``load``, after :meth:`build_parameters`: finish a build whose shapes depend on the
        file (an autoregressive model's K read from ``extra``, a table's width from the
        ``index`` of array headers). Allocate with ``rng`` (or call :func:`reserve`), which
        bounds the build by the file's size. Default: nothing to do."""

    # ------------------------------------------------------------ shapes
    def is_built(self) -> bool:
        """Whether parameters exist (after ``fit``, ``load`` or a training run)."""
        return getattr(self, "event_shape_", None) is not None

    @staticmethod
    def build_argument(event_shape):
        """What :meth:`build_parameters` takes for examples of ``event_shape``: an int for flat
        rows, a list of ints for images (saved as ``n_features`` in checkpoints)."""
        shape = [int(s) for s in event_shape]
        return shape[0] if len(shape) == 1 else shape

    def set_event_shape(self, event_shape) -> None:
        """``event_shape_`` (one example's shape) and ``n_features_in_`` (its size)."""
        self.event_shape_ = tuple(int(s) for s in event_shape)
        self.n_features_in_ = int(np.prod(self.event_shape_, dtype=np.int64))

    def _width_error(self, got, name: str = "X", detail: str = "") -> ValueError:
        """The error for examples of the wrong size, in scikit-learn's words (its tools
        and users look for them)."""
        return ValueError(f"{name} has {got} features, but {type(self).__name__} is "
                          f"expecting {self.n_features_in_} features as input{detail}")

    def _forget_build(self) -> None:
        """Make the next training run build fresh parameters (``fit`` starts over)."""
        self.event_shape_ = None
        self.fitted_ = False

    # ------------------------------------------------------------ checkpoints
    def checkpoint_metadata(self) -> dict:
        return {
            "model": self._registry_name or type(self).__name__,
            "params": {k: _jsonable(v) for k, v in self.get_params(deep=False).items()},
            "minigen_version": __version__,
            "backend": get_backend().name,
            "n_features": (self.build_argument(self.event_shape_) if self.is_built()
                           else None),
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
        """Rebuild a model saved with :meth:`save` (any registered class if called on the base;
        :func:`minigen.models.load` first imports every family, so it knows them all).

        Raises :class:`CheckpointError` (naming the file) for a corrupt file, malformed
        metadata, or parameters that are missing, mis-shaped, of the wrong kind or not
        finite. Sizes are checked before anything is allocated (:mod:`minigen.io`), and
        the model the metadata describes is built only as far as the file's own arrays
        allow (:func:`_build_for_load`): a small file cannot make ``load`` allocate much.
        """
        with open_checkpoint(path) as ckpt:
            name, params, n_features = _check_model_metadata(path, ckpt.metadata)
            if cls is GenerativeModel:
                target = MODEL_REGISTRY.get(name)
                if target is None:
                    raise CheckpointError(
                        f"checkpoint {str(path)!r}: unknown model {name!r} (registered in "
                        f"this process: {', '.join(MODEL_REGISTRY) or 'none'}; "
                        "minigen.models.load(path) knows every model minigen ships)")
            else:
                target = cls
                if cls._registry_name not in (None, name):
                    raise CheckpointError(
                        f"checkpoint {str(path)!r} holds a {name!r} model, "
                        f"not {cls._registry_name!r}"
                    )
            where = f"checkpoint {str(path)!r}"
            extra = {k[len("extra/"):]: ckpt.read(k) for k in ckpt.names()
                     if k.startswith("extra/")}
            model = _build_for_load(where, target, params, n_features, ckpt.index, extra)
            _check_param_headers(where, model, ckpt.index)
            arrays = {k: ckpt.read(k) for k in ckpt.names() if k.startswith("param/")}
            arrays.update({f"extra/{k}": v for k, v in extra.items()})
        try:
            model.load_arrays(arrays)
        except CheckpointError as exc:
            raise CheckpointError(f"checkpoint {str(path)!r}: {exc}") from None
        except (KeyError, TypeError, ValueError, IndexError) as exc:  # a load_extra_state
            raise CheckpointError(
                f"checkpoint {str(path)!r} has extra state {type(model).__name__} cannot "
                f"load ({type(exc).__name__}: {exc})"
            ) from exc
        return model

    def load_arrays(self, arrays: dict) -> None:
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


def _jsonable(value):
    """A hyper-parameter as stored in checkpoint metadata: itself when JSON can hold it,
    else its ``repr`` (a schedule object, a Generator)."""
    try:
        return json.loads(json.dumps(value, default=_json_default, sort_keys=True))
    except (TypeError, ValueError):
        return repr(value)


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


#: numbers a build may draw at load: BUILD_DRAWS_PER_STORED per number of the file's
#: param/ and extra/ arrays, plus BUILD_DRAWS_FREE (so a load takes at most a few times
#: the file's own arrays, plus about 32 MB)
BUILD_DRAWS_PER_STORED = 4
BUILD_DRAWS_FREE = 2**22
#: what one draw call costs on top of its numbers: a layer's Python objects (so a file
#: declaring n_layers=10**6 tiny layers is refused too)
DRAW_CALL_COST = 512


class _BuildBudget(np.random.Generator):
    """The Generator ``load`` builds a model with: it draws what ``default_rng(0)`` draws,
    but refuses (CheckpointError) a draw that takes the build past ``budget`` numbers.

    A model's build draws its weights (and orderings, degrees, rotations) from the
    Generator, so this bounds what hyper-parameters read from a file can make the build
    allocate: a checkpoint of a few kB declaring ``hidden_sizes=[10**7, 10**7]`` is
    refused at its first large draw, before the allocation. A build that allocates
    before it draws says so with :func:`reserve`.
    """

    def __init__(self, budget: int, where: str):
        super().__init__(np.random.PCG64(0))
        self.left, self.budget, self.where = int(budget), int(budget), where

    def _take(self, size, call_cost: int = 0) -> None:
        n = 1 if size is None else (int(np.prod([int(s) for s in np.atleast_1d(size)],
                                                 dtype=object)))
        self.left -= n + call_cost
        if self.left < 0:
            raise CheckpointError(
                f"{self.where} describes a model larger than the file's arrays allow (its "
                f"build draws more than {self.budget} numbers): its hyper-parameters or "
                "n_features do not match its arrays")

    def random(self, size=None, *args, **kwargs):
        self._take(size, DRAW_CALL_COST)
        return super().random(size, *args, **kwargs)

    def standard_normal(self, size=None, *args, **kwargs):
        self._take(size, DRAW_CALL_COST)
        return super().standard_normal(size, *args, **kwargs)

    def normal(self, loc=0.0, scale=1.0, size=None):
        self._take(size, DRAW_CALL_COST)
        return super().normal(loc, scale, size)

    def uniform(self, low=0.0, high=1.0, size=None):
        self._take(size, DRAW_CALL_COST)
        return super().uniform(low, high, size)

    def integers(self, low, high=None, size=None, *args, **kwargs):
        self._take(size, DRAW_CALL_COST)
        return super().integers(low, high, size, *args, **kwargs)

    def permutation(self, x, *args, **kwargs):
        self._take(x if isinstance(x, (int, np.integer)) else np.shape(x)[0], DRAW_CALL_COST)
        return super().permutation(x, *args, **kwargs)

    def choice(self, a, size=None, *args, **kwargs):
        self._take(a if isinstance(a, (int, np.integer)) else np.shape(a)[0], DRAW_CALL_COST)
        self._take(size)
        return super().choice(a, size, *args, **kwargs)



def reserve(rng, n_numbers: int) -> None:
    """Tell a load's build budget (:class:`_BuildBudget`) about ``n_numbers`` a ``build_parameters``
    allocates without drawing them (a table filled with a constant); no-op otherwise."""
    take = getattr(rng, "_take", None)
    if take is not None:
        take(n_numbers)


def _build_for_load(where, target, params: dict, n_features, index: dict, extra: dict):
    """``target(**params)`` built for ``n_features``, refusing what the file's own arrays
    (``index``: their headers) cannot back: architecture hyper-parameters that fail their
    checks, an example larger than the numbers stored, a build that would draw more than
    :data:`BUILD_DRAWS_PER_STORED` times that (:class:`_BuildBudget`)."""

    # what the model is made of (not the metadata, nor a run's optimizer state)
    stored = sum(info.size for k, info in index.items() if k.startswith(("param/", "extra/")))
    dims = [n_features] if isinstance(n_features, int) else list(n_features)
    if not any(k.startswith("param/") for k in index):
        raise CheckpointError(f"{where} lacks parameter arrays (param/*): not a saved model")
    if math.prod(dims) > stored:
        raise CheckpointError(
            f"{where} declares examples of shape {tuple(dims)} ({math.prod(dims)} values) "
            f"but stores only {stored} numbers: its n_features does not match its arrays")
    # hyper-parameters come from the file: a bad one is the file's fault, so say so
    try:
        model = target(**params)
        # architecture only: training settings may be saved as a repr (a schedule object)
        for name, p in model._param_table.items():
            if name not in TRAINING_PARAMS and p.check is not None:
                p.check(getattr(model, name), name)
        rng = _BuildBudget(BUILD_DRAWS_PER_STORED * stored + BUILD_DRAWS_FREE, where)
        model.build_parameters(n_features, rng)
        model.set_event_shape(dims)
        model._complete_build(extra, index, rng)
    except CheckpointError as exc:
        if where in str(exc):
            raise
        raise CheckpointError(f"{where}: {exc}") from None
    except MemoryError:
        raise CheckpointError(f"{where} describes a model too large for this machine's "
                              "memory") from None
    except (TypeError, ValueError, OverflowError, KeyError, IndexError) as exc:
        raise CheckpointError(
            f"{where} has hyper-parameters, n_features or extra state that "
            f"{target.__name__} rejects: {exc}"
        ) from exc
    return model


def _check_param_headers(where, model, index: dict) -> None:
    """Every parameter of the built model is in the file with its shape (from the
    headers, before any array is read), and so is every extra array the build made
    (orderings, masks, flags: their shapes follow from the hyper-parameters too)."""
    for k, dst in model.extra_state().items():
        info = index.get(f"extra/{k}")
        if info is not None and info.shape != tuple(np.shape(dst)):
            raise CheckpointError(
                f"{where}: extra state {k!r} has shape {info.shape} in the checkpoint, the "
                f"model's hyper-parameters give {tuple(np.shape(dst))}")
    live = model.trainable_arrays()
    stored = {k[len("param/"):]: v for k, v in index.items() if k.startswith("param/")}
    unknown = sorted(set(stored) - set(live))
    if unknown:  # parameters of some other model: refuse rather than drop them
        raise CheckpointError(f"{where} has parameters {unknown} the model does not have")
    for k, dst in live.items():
        if k not in stored:
            raise CheckpointError(f"{where} lacks parameter {k!r}")
        if stored[k].shape != tuple(dst.shape):
            raise CheckpointError(
                f"{where}: parameter {k!r} has shape {stored[k].shape} in the checkpoint, "
                f"the model expects {tuple(dst.shape)}")


def _make_init(cls, table: dict):
    """``__init__`` for ``cls`` from its hyper-parameter table, with a real signature.

    The class's own (architecture) parameters may be passed by position, in table order;
    the training settings are keyword-only. Values are stored as given (scikit-learn's
    rule: ``__init__`` does no work and no checks; :meth:`validate_params` does them).
    """

    positional = [k for k in table if k not in training]
    P = inspect.Parameter
    sig = inspect.Signature(
        [P("self", P.POSITIONAL_OR_KEYWORD)]
        + [P(k, P.POSITIONAL_OR_KEYWORD, default=table[k].default) for k in positional]
        + [P(k, P.KEYWORD_ONLY, default=table[k].default) for k in table if k in training]
    )

    def __init__(self, *args, **kwargs):
        if len(args) > len(positional):
            raise TypeError(f"{cls.__name__}() takes at most {len(positional)} positional "
                            f"arguments ({', '.join(positional)}), got {len(args)}")
        for name, value in zip(positional, args, strict=False):
            if name in kwargs:
                raise TypeError(f"{cls.__name__}() got multiple values for {name!r}")
            kwargs[name] = value
        unknown = sorted(set(kwargs) - set(table))
        if unknown:
            raise TypeError(
                f"{cls.__name__}() got unknown hyper-parameter(s) {', '.join(unknown)}; "
                "valid: " + ", ".join(f"{k} ({p.type_text})" for k, p in table.items())
            )
        for name, p in table.items():
            setattr(self, name, kwargs.get(name, p.default))

    __init__.__signature__ = sig
    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    __init__.__doc__ = f"Store the hyper-parameters of {cls.__name__} (see the class docstring)."
    return __init__
