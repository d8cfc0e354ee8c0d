r"""Shared machinery of the flow models: data handling, dequantization, likelihood,
sampling, interpolation, training contract and checkpoints.

A flow model is a transform plus a base distribution (nflows' ``Flow``, zuko's
``Flow(transform, base)``): ``transform_`` (a :class:`~.base.Transform`) maps data to the
latent, ``Compose([Layout, *pre-processing, flow_])``, and ``base_`` is the standard normal
:class:`minigen.distributions.Normal`, so by the change of variables

.. math:: \log p(v) = \log \mathcal N(f(v); 0, I) + \log|\det \partial f/\partial v| ,

three lines in :meth:`FlowModel._log_prob_tensor`. Sampling runs the same transform's
``inverse`` (its only inverse path) on draws of ``base_``. ``flow_`` is the learned part
(what the subclasses build); the pre-processing transforms have no parameters
(:mod:`~.preprocess`).

**Continuous data** (``n_bins=None``, e.g. the 2-D toys): :math:`y = x`, the
likelihood is exact.

**Discrete data** (``n_bins=K``: integer levels ``0..K-1``, e.g. binary digits
``K=2`` or raw digits ``K=17``): uniform dequantization :math:`v = x + u`,
:math:`u \sim U[0,1)^D`, rescaled to :math:`y = v/K - 1/2 \in [-1/2, 1/2)^D` for the
flow, so :math:`\log p_V(v) = \log p_Y(v/K - 1/2) - D \log K`. Since
:math:`P(x) = \int_{[0,1)^D} p_V(x + u)\,du`, Jensen gives the bound reported by
:meth:`FlowModel.score_samples` (and minimised in training):

.. math:: \log P(x) \ge \mathbb E_u[\log p_Y((x + u)/K - 1/2)] - D \log K ,

estimated with ``n_dequant`` draws of :math:`u` from a fixed seed (so it is
reproducible). Bits/dim is this bound divided by :math:`D \log 2`. Levels outside
``0..K-1`` or non-integer values are rejected. ``n_bins="auto"`` infers it at fit
time: integer-valued non-negative data gives ``K = max(2, max(X) + 1)``, anything
else is continuous.

**Logit pre-processing** (models with a ``logit`` hyper-parameter, discrete data only;
RealNVP paper, section 4.1): with ``logit=alpha`` the flow sees
:math:`y = \operatorname{logit}(\alpha + (1 - 2\alpha) v/K)` instead of
:math:`v/K - 1/2`, which maps the bounded cube :math:`[0, K)^D` onto all of
:math:`\mathbb R^D`, so the flow need not squeeze a Gaussian into sharp-edged boxes
(the background pixels of digits sit in :math:`[0, 1)`); the log-det
:math:`\sum_j \log\frac{1 - 2\alpha}{K\, p_j (1 - p_j)}`,
:math:`p_j = \alpha + (1 - 2\alpha) v_j/K`, enters every likelihood, so the bound
above is unchanged in meaning. Samples map back with the sigmoid (values outside
:math:`[0, K)`, possible when :math:`\alpha > 0`, are clipped to the end levels).

References: Theis, van den Oord, Bethge (2016) "A note on the evaluation of generative
models"; Dinh et al. (2017); Kingma & Dhariwal (2018); Ho et al. (2019) Flow++.
"""

from __future__ import annotations

import math

import numpy as np

from ..._threads import cpu_policy
from ..._validation import check_array, check_choice, check_positive_float, check_positive_int
from ...autograd import F, Tensor, no_grad
from ...backend import get_backend, to_numpy
from ...distributions import Normal
from ...exceptions import NotFittedError
from ...io import CheckpointError
from ...params import Param, dtype_name, one_of, positive_float, positive_int
from ...random import check_random_state
from ...training import IterativeModel
from .actnorm import ActNorm
from .base import Compose
from .drawn import drawn_state, load_drawn_state
from .preprocess import Layout, UniformDequantization

__all__ = ["ChoosesMode", "FlowModel", "vector_size"]

def _dtype(name):
    dt = np.dtype(name)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {name!r}")
    return dt


#: hyper-parameters shared by the flows (each lists those it takes)
N_BINS = Param("auto", "dequantization levels K: 'auto' (integer data 0..K-1 gives K = "
               "max(X) + 1, anything else is continuous), None (continuous data) or an int "
               ">= 2", kind="'auto' | None | int >= 2")
HIDDEN = Param(64, "conditioner width (MLP units, or conv channels in image mode)",
               positive_int)
N_HIDDEN = Param(2, "hidden layers per conditioner", positive_int)
ACTIVATION = Param("relu", "conditioner activation", one_of("relu", "tanh"))
SCALE_BOUND = Param(2.0, "every log-scale lies in (-scale_bound, scale_bound)", positive_float)
MODE = Param("auto", "'auto' (image mode for (n, H, W[, C]) input, vector mode for (n, D)), "
             "'vector' or 'image'", one_of("auto", "vector", "image"))
N_SCALES = Param(2, "image mode: number of scales (squeeze levels)", positive_int)
FLOW_DTYPE = Param("float32", "float dtype of the flow (log-dets are accumulated in "
                   "float64)", dtype_name)


def vector_size(event_shape) -> int:
    """``D`` of a vector-mode event shape ``(D,)`` (a coupling needs ``D >= 2``)."""
    (d,) = event_shape
    if d < 2:
        raise ValueError(f"flows need at least 2 dimensions, got n_features={d}")
    return d


class ChoosesMode:
    """Mixin (before :class:`FlowModel` in the bases) of the flows with the ``mode``
    hyper-parameter (:data:`MODE`): image or vector mode by choice, or by the input's rank."""

    def _image_mode(self, input_shape) -> bool:
        check_choice(self.mode, "mode", ("auto", "vector", "image"))
        if self.mode == "image" and len(input_shape) < 2:
            raise ValueError(f"mode='image' needs (n, H, W[, C]) input, got rows of {input_shape}")
        return self.mode == "image" or (self.mode == "auto" and len(input_shape) >= 2)


class FlowModel(IterativeModel):
    """Base class of ``nice``, ``realnvp`` and ``glow`` (see the module docstring).

    Subclasses implement ``_make_flow(event_shape, rng) -> Transform`` where
    ``event_shape`` is ``(D,)`` (vector mode) or ``(C, H, W)`` (image mode).
    """

    data_kind = "continuous, or integer levels (dequantized)"
    likelihood_kind = "exact (continuous); a bound (dequantized levels)"

    accepts_images = True
    supports_images = True

    # ------------------------------------------------------------ shapes
    def _make_flow(self, event_shape, rng):  # pragma: no cover - abstract
        raise NotImplementedError

    def _image_mode(self, input_shape) -> bool:
        return len(input_shape) >= 2 and self.supports_images

    def build_parameters(self, n_features, rng=None) -> None:
        rng = check_random_state(rng)
        if np.ndim(n_features) == 0:
            shape = (int(n_features),)
        else:
            shape = tuple(int(s) for s in n_features)
        if len(shape) > 3:
            raise ValueError(f"examples must be vectors or images (H, W[, C]), got shape {shape}")
        self.set_event_shape(shape)
        self.n_dims_ = int(np.prod(shape))
        self.dtype_ = _dtype(self.dtype)
        if self._image_mode(shape):
            self.flow_shape_ = (1, *shape) if len(shape) == 2 else (shape[2], shape[0], shape[1])
        else:
            self.flow_shape_ = (self.n_dims_,)
        self.n_bins_ = None if self.n_bins in (None, "auto") else check_positive_int(
            self.n_bins, "n_bins")
        self.flow_ = self._make_flow(self.flow_shape_, rng)
        self.base_ = Normal.standard(self.n_dims_)

    # ------------------------------------------------------------ data checks
    def _resolve_bins(self, X) -> None:
        if self.n_bins == "auto":
            Xh = to_numpy(X)
            if Xh.size and np.all(Xh == np.round(Xh)) and Xh.min() >= 0:
                self.n_bins_ = max(2, int(Xh.max()) + 1)
            else:
                self.n_bins_ = None
        elif self.n_bins is None:
            self.n_bins_ = None
        else:
            self.n_bins_ = check_positive_int(self.n_bins, "n_bins")
            if self.n_bins_ < 2:
                raise ValueError(f"n_bins must be >= 2, got {self.n_bins}")

    def _check_X(self, X, name="X", discrete=True):
        """Validate shape (and levels for discrete data); returns an xp float array."""
        X = check_array(X, name, allow_empty=False)
        shape = tuple(int(s) for s in X.shape[1:])
        if X.ndim < 2 or (shape != self.event_shape_ and shape != (self.n_dims_,)):
            raise self._width_error(
                int(np.prod(shape)) if X.ndim >= 2 else "no", name,
                f": {name} must have examples of shape {self.event_shape_} (or flat "
                f"({self.n_dims_},)), got array of shape {tuple(X.shape)}")
        X = X.reshape(X.shape[0], *self.event_shape_)
        if not np.all(np.isfinite(to_numpy(X))):
            raise ValueError(f"{name} contains NaN or infinite values")
        if discrete and self.n_bins_ is not None:
            Xh = to_numpy(X)
            bad = (Xh != np.round(Xh)) | (Xh < 0) | (Xh > self.n_bins_ - 1)
            if bad.any():
                raise ValueError(
                    f"{name} holds {Xh[bad].ravel()[0]!r}, outside the dequantization range: "
                    f"this model dequantizes integer levels 0..{self.n_bins_ - 1} "
                    f"(n_bins={self.n_bins_})"
                )
        return get_backend().asarray(X, dtype=self.dtype_)

    def _dequantizer(self):
        """The :class:`~.preprocess.UniformDequantization` of a discrete model, else None."""
        if self.n_bins_ is None:
            self._logit_alpha()  # a continuous model with a logit setting is an error
            return None
        key = (self.n_bins_, self._logit_alpha())
        cached = getattr(self, "_dequantizer_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, UniformDequantization(*key))
            self._dequantizer_cache = cached
        return cached[1]

    def _preprocess(self) -> Compose:
        """Data units -> the flow's input: the layout, then (discrete data) dequantization."""
        deq = self._dequantizer()
        layout = Layout(self.event_shape_, self.flow_shape_)
        return Compose([layout] if deq is None else [layout, deq])

    @property
    def transform_(self) -> Compose:
        """The whole bijection, data units -> latent: ``Compose([pre-processing, flow_])``."""
        pre = self._preprocess()
        return Compose([*pre.transforms, self.flow_])

    def _dequantize(self, X, rng):
        """``v = x + u`` (discrete) or ``x``; returns the xp array in data units."""
        deq = self._dequantizer()
        return X if deq is None else deq.dequantize(X, rng)

    def _logit_alpha(self):
        """``alpha`` of the logit pre-processing, or None (linear rescaling)."""
        a = getattr(self, "logit", None)
        if a is None or a is False:
            return None
        a = float(a)
        if not 0.0 <= a < 0.5:
            raise ValueError(f"logit must be None or an alpha in [0, 0.5), got {self.logit!r}")
        if self.n_bins_ is None:
            raise ValueError("logit pre-processing needs discrete data (n_bins), "
                             "got continuous data")
        return a

    def _check_logit_domain(self, V, name="X"):
        """Refuse values where the logit pre-processing is undefined (see
        :meth:`~.preprocess.UniformDequantization.check_domain`)."""
        deq = self._dequantizer()
        if deq is not None:
            deq.check_domain(V, name)

    def _to_event(self, X):
        """``(n, *event_shape_)`` array -> the flow's layout ``(n, *flow_shape_)``."""
        with no_grad():
            return Layout(self.event_shape_, self.flow_shape_).forward(Tensor(X))[0].data

    def _to_flow_space(self, V):
        """Data units -> the flow's input ``y`` (an array in the flow's layout) and the
        log-det of that map per example ``(n,)``."""
        with no_grad():
            y, ld = self._preprocess().forward(Tensor(V))
        return y.data, ld.data

    # ------------------------------------------------------------ density
    def _log_prob_tensor(self, V):
        """``log p_V(v)`` as a float64 Tensor (n,) (differentiable): change of variables."""
        z, ladj = self.transform_(Tensor(V))
        return self.base_.log_prob(z) + ladj

    def forward(self, X):
        """``(z (n, D), logabsdet (n,))`` of the flow on data-space values ``X``.

        For a discrete model ``X`` is taken in data units (levels plus dequantization
        noise, ``[0, K)``) and the log-det includes the ``-D log K`` rescaling.
        """
        self._check_fitted()
        V = self._check_X(X, discrete=False)
        self._check_logit_domain(V)
        with no_grad():
            z, ld = self.transform_(Tensor(V))
        return z.data.reshape(len(V), -1), ld.data

    def inverse(self, Z):
        """``(x, logabsdet)``: data-space values of latents ``Z (n, D)``, inverse log-det."""
        self._check_fitted()
        Z = check_array(Z, "Z", ndim=2)
        if Z.shape[1] != self.n_dims_:
            raise ValueError(f"Z must have shape (n, {self.n_dims_}), got {tuple(Z.shape)}")
        Z = get_backend().asarray(Z, dtype=self.dtype_)
        with no_grad():
            x, ld = self.transform_.inverse(Tensor(Z))
        return x.data, ld.data

    def log_prob(self, X, batch_size: int = 512):
        """Log-density (nats) of continuous data-space values ``X``, shape (n,).

        For discrete models ``X`` are dequantized values in ``[0, K)``: this is the
        density :math:`p_V` of :meth:`sample` with ``dequantized=True``. With the logit
        pre-processing, values outside the open interval on which the logit map is
        defined (slightly wider than ``[0, K)`` when ``alpha > 0``) have no density under
        the model and raise ``ValueError``.
        """
        self._check_fitted()
        batch_size = check_positive_int(batch_size, "batch_size")
        V = self._check_X(X, discrete=False)
        self._check_logit_domain(V)
        return self._log_prob_batched(V, batch_size)

    def _log_prob_batched(self, V, batch_size: int):
        """``log p_V`` of checked values ``V``, ``batch_size`` rows at a time (no grad)."""
        out = []
        with no_grad(), cpu_policy():
            for i in range(0, len(V), batch_size):
                out.append(self._log_prob_tensor(V[i:i + batch_size]).data)
        return get_backend().xp.concatenate(out)

    def score_samples(self, X, n_dequant: int = 1, random_state=0, batch_size: int = 512):
        r"""Log-likelihood per example (nats), shape (n,).

        Continuous data: exact :math:`\log p(x)`. Discrete data: the dequantization
        lower bound :math:`\mathbb E_u[\log p_V(x + u)] \le \log P(x)`, averaged over
        ``n_dequant`` draws of ``u`` from ``random_state`` (fixed by default).
        """
        self._check_fitted()
        batch_size = check_positive_int(batch_size, "batch_size")
        # checked for continuous models too, where it is unused: a bad value is still a bug
        n_dequant = check_positive_int(n_dequant, "n_dequant")
        X = self._check_X(X)
        if self.n_bins_ is None:
            return self._log_prob_batched(X, batch_size)
        rng = check_random_state(random_state)
        total = 0.0
        for _ in range(n_dequant):
            # X was checked above; x + u lies in [0, K) (no second check, whose strict
            # logit-domain test a float32-rounded u = 1 could trip at logit=0)
            total = total + self._log_prob_batched(self._dequantize(X, rng), batch_size)
        return total / n_dequant

    # ------------------------------------------------------------ sampling
    def sample(self, n_samples: int, random_state=None, temperature: float = 1.0,
               return_log_prob: bool = False, dequantized: bool = False):
        r"""Draw ``z ~ N(0, T^2 I)`` and return ``x = f^{-1}(z)``, shape (n, *input_shape).

        Parameters
        ----------
        n_samples : int
        random_state : None, int or Generator
        temperature : float > 0, finite
            Latent standard deviation ``T`` (``T < 1`` trades diversity for quality).
        return_log_prob : bool
            Also return the model's log-density of each returned sample (at ``T = 1``;
            for discrete models the density of the dequantized value, as
            :meth:`log_prob`), computed in the same pass through the inverse:
            :math:`\log q(x) = \log \mathcal N(z) - \log|\det \partial f^{-1}/\partial z|`.
        dequantized : bool
            Discrete models: return continuous values ``v`` in data units instead of
            the levels ``floor(v)`` clipped to ``0..K-1``. With ``return_log_prob`` the
            returned values are always the dequantized ones.
        """
        self._check_fitted()
        n = check_positive_int(n_samples, "n_samples")
        # any finite real > 0, NumPy scalars included; inf would give all-NaN samples
        temperature = check_positive_float(temperature, "temperature")
        # a latent of T * N(0, 1) must be representable: beyond, every sample is inf/NaN
        t_max = float(np.finfo(self.dtype_).max) / 64.0
        if temperature > t_max:
            raise ValueError(f"temperature={temperature:g} overflows this model's dtype "
                             f"{self.dtype_.name}: it must be <= {t_max:.3g}")
        rng = check_random_state(random_state)
        Z = (self.base_.sample(n, rng) * temperature).astype(self.dtype_, copy=False)
        with no_grad(), cpu_policy():
            V, ladj_inv = self.transform_.inverse(Tensor(Z))
        self._check_samples_finite(V.data, temperature)
        if return_log_prob:
            return V.data, self.base_.log_prob(Z) - ladj_inv.data
        deq = self._dequantizer()
        return V.data if deq is None or dequantized else deq.quantize(V.data)

    def _check_samples_finite(self, V, temperature) -> None:
        """Samples that overflowed the dtype in the inverse are an error, never returned."""
        if not bool(get_backend().xp.isfinite(V).all()):
            raise ValueError(f"sampling at temperature={temperature:g} overflowed "
                             f"{self.dtype_.name} in the flow's inverse (non-finite samples); "
                             "use a smaller temperature")

    def sample_and_log_prob(self, n_samples: int, random_state=None):
        r"""Reparameterized draws and their log-density, as autograd Tensors.

        :math:`z \sim \mathcal N(0, I)` (a constant), :math:`x = f^{-1}(z)` through the
        flow's differentiable ``inverse``, and
        :math:`\log q(x) = \log\mathcal N(z; 0, I) - \log|\det \partial f^{-1}/\partial z|`:
        gradients of any function of ``(x, log q)`` reach the flow's parameters (reverse
        KL, :func:`minigen.objectives.fit_reverse_kl`). Needs a built, continuous model
        (``n_bins=None``, or ``"auto"`` resolved to continuous); works before ``fit``, and
        marks every ActNorm initialized so a later forward pass keeps what this path trained.

        Returns ``(x, log_q)``: Tensors ``(n, *input_shape)`` and ``(n,)`` float64.
        """
        if getattr(self, "flow_", None) is None:
            raise RuntimeError(f"{type(self).__name__} has no flow yet; build or fit it first")
        if self.n_bins_ is not None:
            raise ValueError("sample_and_log_prob needs a continuous model (n_bins=None); "
                             f"this one dequantizes n_bins={self.n_bins_} levels")
        n = check_positive_int(n_samples, "n_samples")
        z = self.base_.sample(n, check_random_state(random_state))
        for m in self._actnorms():
            m.initialized = True
        x, ladj_inv = self.transform_.inverse(Tensor(z.astype(self.dtype_, copy=False)))
        return x, Tensor(self.base_.log_prob(z)) - ladj_inv

    def interpolate(self, x_a, x_b, n_steps: int = 8, spherical: bool = False):
        """Decode ``n_steps`` latents on the segment (or great circle) from f(x_a) to f(x_b).

        ``x_a``, ``x_b``: single examples (shape ``input_shape``); discrete inputs are
        encoded at their bin centres ``x + 1/2``. Returns ``(n_steps, *input_shape)``
        continuous data-space values.
        """
        self._check_fitted()
        n_steps = check_positive_int(n_steps, "n_steps")
        # each endpoint checked on its own, so a bad one is named (and stacking cannot fail)
        pair = []
        for x, name in ((x_a, "x_a"), (x_b, "x_b")):
            x = check_array(x, name)
            if tuple(x.shape) not in (self.event_shape_, (self.n_dims_,)):
                raise ValueError(
                    f"{name} must be one example of shape {self.event_shape_} (or flat "
                    f"({self.n_dims_},)), got shape {tuple(x.shape)}"
                )
            pair.append(self._check_X(x[None], name))
        X = get_backend().xp.concatenate(pair)
        if self.n_bins_ is not None:
            X = X + 0.5
        Z, _ = self.forward(X)
        xp = get_backend().xp
        a, b = Z[0], Z[1]
        t = xp.linspace(0.0, 1.0, n_steps, dtype=self.dtype_)[:, None]
        if spherical:
            cos = float((a * b).sum() / (xp.linalg.norm(a) * xp.linalg.norm(b) + 1e-12))
            om = math.acos(max(-1.0, min(1.0, cos)))
            if om < 1e-6:
                Zt = (1 - t) * a + t * b
            else:
                Zt = (xp.sin((1 - t) * om) * a + xp.sin(t * om) * b) / math.sin(om)
        else:
            Zt = (1 - t) * a + t * b
        V, _ = self.inverse(Zt.astype(self.dtype_))
        return V

    # ------------------------------------------------------------ training contract

    def init_from_data(self, X, rng) -> None:
        """Resolve ``n_bins`` and run ActNorm's data-dependent initialisation on a batch."""
        self._resolve_bins(X)
        X = self._check_X(X)
        idx = rng.permutation(len(X))[: min(len(X), 512)]
        V = self._dequantize(X[get_backend().asarray(idx) if get_backend().is_gpu else idx], rng)
        with no_grad():
            self.transform_(Tensor(V))

    def trainable_arrays(self) -> dict:
        if getattr(self, "flow_", None) is None:
            raise NotFittedError(f"{type(self).__name__} has no flow yet; call fit(X) first")
        return self.flow_.param_arrays()

    def loss_and_grads(self, batch, rng):
        """Mean NLL (nats per example; the dequantization bound for discrete data)."""
        X = self._check_X(batch, "batch")
        V = self._dequantize(X, rng)
        self.flow_.zero_grad()
        loss = -F.mean(self._log_prob_tensor(V))
        loss.backward()
        return float(loss.data), self.flow_.grad_arrays()

    # ------------------------------------------------------------ checkpoints
    def _actnorms(self):
        return [m for m in self.flow_.modules() if isinstance(m, ActNorm)]

    def extra_state(self) -> dict:
        return {
            "n_bins": np.asarray(0 if self.n_bins_ is None else self.n_bins_, dtype=np.int64),
            "actnorm_initialized": np.asarray(
                [m.initialized for m in self._actnorms()], dtype=np.int64),
            **drawn_state(self.flow_),
        }

    def load_extra_state(self, state: dict) -> None:
        state = {k: to_numpy(v) for k, v in state.items()}
        if "n_bins" in state:
            k = int(state["n_bins"])
            self.n_bins_ = None if k == 0 else k
        if "actnorm_initialized" in state:
            flags = state["actnorm_initialized"].ravel()
            acts = self._actnorms()
            if len(flags) != len(acts):
                raise CheckpointError(
                    f"checkpoint has {len(flags)} ActNorm flags, the model has {len(acts)} ActNorms"
                )
            for m, f in zip(acts, flags, strict=True):
                m.initialized = bool(f)
        load_drawn_state(self.flow_, state)
