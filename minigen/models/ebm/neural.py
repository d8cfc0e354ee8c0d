r"""Neural energy-based model: an MLP energy trained by maximum likelihood with Langevin.

:math:`p_\theta(x) = e^{-E_\theta(x)} / Z_\theta` with :math:`E_\theta` an MLP
(autograd :mod:`minigen.autograd`). The NLL gradient is
:math:`\nabla_\theta \mathrm{NLL} = \langle\nabla_\theta E\rangle_{data} -
\langle\nabla_\theta E\rangle_{p_\theta}`; the model term uses negative samples from
``n_steps`` Langevin (ULA) steps :math:`x \leftarrow x - \tfrac\epsilon2 \nabla_x E + \sqrt\epsilon z`
(:func:`minigen.kernels.langevin.langevin_step`; :math:`\nabla_x E` via autograd), started
from a persistent replay buffer (re-initialized to uniform noise with probability
``reinit_prob``; Du & Mordatch 2019) or, with ``init="data"``, from the data
(short-run chains). The training loss is
:math:`\bar E_{data} - \bar E_{neg} + \alpha(\overline{E^2_{data}} + \overline{E^2_{neg}})`.

For 2-D data ``score_samples`` normalizes numerically on a grid (``grid_size``
points per axis over the data box plus a margin): exact up to quadrature error.
The replay buffer is part of ``extra_state`` (checkpointed).

References: Du & Mordatch, NeurIPS 2019; Nijkamp et al., NeurIPS 2019.
"""  # noqa: E501

from __future__ import annotations

import contextlib

import numpy as np

from ..._math import sigmoid
from ..._threads import ThreadPolicy, cpu_policy
from ..._validation import check_array, check_positive_int
from ...autograd import F, Tensor, nn
from ...backend import get_backend
from ...base import register_model
from ...io import CheckpointError, state_array
from ...mcmc import ULA, GeneratorDraws
from ...params import (
    Param,
    int_sizes,
    non_negative_float,
    one_of,
    positive_float,
    positive_int,
    unit_interval,
)
from ...random import check_random_state, uniforms
from ...training import IterativeModel


def _mlp(n_in, hidden, rng):

    layers, d = [], n_in
    for h in hidden:
        layers.append(nn.Linear(d, h, dtype=np.float64, random_state=rng))
        d = h
    layers.append(nn.Linear(d, 1, dtype=np.float64, random_state=rng))

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            for i, layer in enumerate(layers):
                setattr(self, f"l{i}", layer)
            self.n = len(layers)

        def forward(self, x):

            for i in range(self.n - 1):
                x = getattr(self, f"l{i}")(x)
                x = F.mul(x, F.sigmoid(x))  # SiLU: smooth, so Langevin gradients are too
            return getattr(self, f"l{self.n - 1}")(x)

    return MLP()


@register_model("ebm")
class NeuralEBM(IterativeModel):
    r"""MLP energy trained by contrastive maximum likelihood with Langevin negatives.

    Trained by :func:`minigen.training.train` (``fit``): Adam with ``momentum`` (its
    beta_1) 0, cosine learning-rate decay, gradient-norm clipping at 10 and 75 epochs of
    batches of 256 by default (3,000 updates on the 10,000 ``ring8`` training points).
    ``random_state`` seeds the network's initial weights, the replay buffer / chain
    starts, the mini-batches and the Langevin noise (:meth:`sample` takes its own).
    Divergence (non-finite negatives make the loss NaN) stops it with
    :class:`~minigen.exceptions.TrainingDiverged` and restores the last good epoch,
    replay buffer included.

    The defaults are tuned on ``ring8`` (modes of std 0.1 on a radius-2 circle); ULA with
    step 0.005 inflates a std-0.1 mode's variance by ~14%, so the learned modes come out
    slightly sharp (a ~0.01 nat NLL cost); smaller steps mix more slowly.
    """

    data_kind = "continuous, 2-D"
    likelihood_kind = "grid-normalized (quadrature error only)"

    hyperparameters = {
        "hidden": Param((128, 128), "widths of the MLP's hidden layers (SiLU)", int_sizes),
        "n_steps": Param(60, "Langevin (ULA) steps per negative sample", positive_int),
        "step_size": Param(0.005, "ULA step epsilon", positive_float),
        "init": Param("replay", "'replay' (persistent replay buffer) or 'data' (short-run "
                      "chains started at the data)", one_of("replay", "data")),
        "buffer_size": Param(5000, "replay buffer size", positive_int),
        "reinit_prob": Param(0.05, "probability a buffer chain restarts from uniform noise",
                             unit_interval),
        "alpha": Param(0.1, "energy-magnitude regularization weight alpha in the loss "
                       "mean E_data - mean E_neg + alpha (mean E_data^2 + mean E_neg^2)",
                       non_negative_float),
        "grid_size": Param(200, "cells per axis of the midpoint-rule normalization grid over "
                           "box_ (2-D score_samples; see grid_log_partition)", positive_int),
        "input_scale": Param(4.0, "the MLP sees input_scale * x (sharper features at init: "
                             "modes of width ~0.1 are learned several times faster)",
                             positive_float),
    }
    training_defaults = {"max_epochs": 75, "batch_size": 256, "learning_rate": 3e-3,
                         "lr_schedule": "cosine", "momentum": 0.0, "clip_norm": 10.0}

    def training_context(self):
        """One BLAS thread on the numpy backend, busy cores or not: the Langevin loop's
        small products run ~10-40x faster without contending BLAS threads."""
        if get_backend().name != "numpy":
            return contextlib.nullcontext()
        return cpu_policy(ThreadPolicy(serial_blas=True, copy_threads=1))

    def build_parameters(self, n_features, rng=None):
        rng = check_random_state(0 if rng is None else rng)
        d = int(n_features)
        self.set_event_shape((d,))
        self.net_ = _mlp(d, int_sizes(self.hidden, "hidden"), rng)
        xp = get_backend().xp
        self.box_ = xp.asarray([[-4.0] * d, [4.0] * d])
        self.buffer_ = None

    def trainable_arrays(self) -> dict:
        return self.net_.param_arrays()

    def extra_state(self) -> dict:
        out = {"box": self.box_}
        if self.buffer_ is not None:
            out["buffer"] = self.buffer_
        return out

    def load_extra_state(self, state: dict) -> None:
        be, d = get_backend(), self.n_features_in_
        self.buffer_ = (be.asarray(state_array(state["buffer"], "buffer", ndim=2, width=d))
                        if "buffer" in state else None)
        if "box" in state:
            box = state_array(state["box"], "box", ndim=2, width=d)
            if box.shape[0] != 2 or not (box[0] < box[1]).all():
                raise CheckpointError(f"extra state 'box' must be (2, {d}) lower < upper "
                                      f"bounds, got shape {box.shape}")
            self.box_ = be.asarray(box)

    def _check_X(self, X, reset=False):
        """``X`` (n, D) as float64; unless ``reset`` (``fit``), D must match the built model,
        so a wrong width fails here instead of in a matmul deep inside."""
        X = check_array(X, "X", ndim=2)
        d = self.n_features_in_ if self.is_built() else None
        if not reset and d is not None and X.shape[1] != d:
            raise self._width_error(X.shape[1], detail=f" (got shape {tuple(X.shape)})")
        return get_backend().xp.asarray(X, dtype=np.float64)

    # ------------------------------------------------------------ energy
    def energy(self, X):
        """:math:`E_\\theta(x)` per row, (n,) (array forward pass, chunks of 8192 rows)."""
        xp = get_backend().xp
        X = self._check_X(X)
        layers = self._layers()
        out = []
        for i in range(0, X.shape[0], 8192):
            h = X[i:i + 8192] * self.input_scale
            for W, b in layers[:-1]:
                a = h @ W.T + b
                h = a * sigmoid(a)  # SiLU
            W, b = layers[-1]
            out.append((h @ W.T + b)[:, 0])
        return xp.concatenate(out) if out else xp.zeros(0)

    def _layers(self):
        return [(getattr(self.net_, f"l{i}").weight.data, getattr(self.net_, f"l{i}").bias.data)
                for i in range(self.net_.n)]

    def energy_grad(self, X):
        """:math:`(E(x), \\nabla_x E(x))`, (n,) and (n, D); parameter grads are untouched.

        Hand-written forward and input backward of the SiLU MLP in array code (the
        Langevin inner loop; ~10x faster than the autograd graph on small batches,
        checked against finite differences and autograd in the tests):
        :math:`h_{l} = \\mathrm{silu}(a_l)`, :math:`a_l = h_{l-1}W_l^\\top + b_l`,
        :math:`\\partial h/\\partial a = \\sigma(a)(1 + a(1-\\sigma(a)))`.
        """
        xp = get_backend().xp
        layers = self._layers()
        h, dacts = X * self.input_scale, []
        for W, b in layers[:-1]:
            a = h @ W.T + b
            s = sigmoid(a)
            h = a * s
            dacts.append(s * (1.0 + a * (1.0 - s)))
        W, b = layers[-1]
        e = (h @ W.T + b)[:, 0]
        g = xp.broadcast_to(W, (X.shape[0], W.shape[1]))
        for (W, _), d in zip(reversed(layers[:-1]), reversed(dacts), strict=True):
            g = (g * d) @ W
        return e, g * self.input_scale

    def _noise(self, n, rng):
        lo, hi = self.box_[0], self.box_[1]
        return lo + (hi - lo) * uniforms(rng, (n, self.n_features_in_), dtype=np.float64)

    def langevin(self, x, n_steps, rng):
        """``n_steps`` ULA steps from ``x`` (n, D), each clipped to the box ``box_``.

        The model is :math:`p(x) \\propto e^{-E(x)}\\,1[x \\in \\mathrm{box}]`, so chains stay in
        the box (the support the grid normalizes over); raises on non-finite samples.
        """
        x = self._langevin_chain(x, n_steps, rng)
        if not bool(get_backend().xp.isfinite(x).all()):
            raise FloatingPointError("Langevin produced non-finite samples; lower step_size "
                                     "or learning_rate")
        return x

    def _langevin_chain(self, x, n_steps, rng):
        """The steps of :meth:`langevin`: the :class:`minigen.mcmc.ULA` transition projected
        on the box, its noise drawn from ``rng``; no finiteness check (the callers check)."""

        ula = ULA(lambda v: self.energy_grad(v)[1], self.step_size, bounds=self.box_,
                  check=False)
        state, draws = ula.start(x), GeneratorDraws(rng, x.shape[0])
        for _ in range(n_steps):
            state, _ = ula.step(state, draws)
        return state["x"]

    def _negatives(self, data, rng):
        xp = get_backend().xp
        n = data.shape[0]
        if self.init == "data":
            return self._langevin_chain(data.copy(), self.n_steps, rng), None
        if self.buffer_ is None:
            self.buffer_ = self._noise(self.buffer_size, rng)
        idx = xp.asarray(rng.integers(0, self.buffer_.shape[0], n))
        x0 = self.buffer_[idx]
        reset = uniforms(rng, (n,), dtype=np.float64) < self.reinit_prob
        x0 = xp.where(reset[:, None], self._noise(n, rng), x0)
        return self._langevin_chain(x0, self.n_steps, rng), idx

    def loss_and_grads(self, batch, rng):
        """Contrastive loss and parameter gradients (autograd) for ``batch`` (B, D).

        When the Langevin negatives come out non-finite (the parameters or ``step_size``
        have blown up) the loss and gradients are NaN and the replay buffer is left as it
        was, so :func:`minigen.training.train` stops with its ``TrainingDiverged``."""
        return self._contrastive(batch, rng)[:2]

    def _contrastive(self, batch, rng):
        """``(loss, grads, undo, finite_negatives)`` for ``batch``: ``undo`` is ``(idx, old
        rows)`` of the replay-buffer write (``None`` when nothing was written), which
        :meth:`fit` puts back when this iteration diverges (an O(B D) copy)."""

        xp = get_backend().xp
        data = self._check_X(batch)
        neg, idx = self._negatives(data, rng)
        if not bool(xp.isfinite(neg).all()):
            nan = float("nan")
            return nan, {k: xp.full_like(p, nan) for k, p in self.trainable_arrays().items()}, \
                None, False
        undo = None
        if idx is not None:
            undo = (idx, self.buffer_[idx].copy())
            self.buffer_[idx] = neg
        self.net_.zero_grad()
        e_pos = self.net_(Tensor(data * self.input_scale))
        e_neg = self.net_(Tensor(neg * self.input_scale))
        loss = F.sub(e_pos.mean(), e_neg.mean())
        if self.alpha:
            reg = F.add(F.mul(e_pos, e_pos).mean(), F.mul(e_neg, e_neg).mean())
            loss = F.add(loss, F.mul(reg, self.alpha))
        loss.backward()
        return float(loss.data), self.net_.grad_arrays(), undo, True

    def init_from_data(self, X, rng=None) -> None:
        """Data-dependent set-up: the sampling/normalization box ``box_`` = the data's
        bounding box plus 25% of its width on each side. Called by :meth:`fit` and by
        :func:`minigen.training.train` (so ``minigen train ebm`` gets the same box instead
        of the [-4, 4] placeholder of ``build_parameters``); draws nothing from ``rng``."""
        xp = get_backend().xp
        X = self._check_X(X)
        lo, hi = X.min(axis=0), X.max(axis=0)
        # a constant column gives a zero-width box: the grid normalizer would be log(0)
        # and every log-density +inf (the data have no density in that direction)
        const = np.flatnonzero(get_backend().to_numpy(hi == lo))
        if const.size:
            raise ValueError(f"X has constant column(s) {const.tolist()} (zero-width data "
                             "box: no density to fit); drop them or add noise")
        pad = 0.25 * (hi - lo)
        self.box_ = xp.stack([lo - pad, hi + pad])

    # ------------------------------------------------------------ likelihood, sampling
    def grid_log_partition(self):
        """:math:`\\log Z` by the midpoint rule over the box ``box_`` = [lo, hi] (2-D).

        The box (the support ``score_samples`` uses) is cut into ``g x g`` cells
        (``g = grid_size``) of widths :math:`h_k = (hi_k - lo_k)/g`, and each cell is
        represented by its centre :math:`x_{ij} = (lo_0 + (i + \\tfrac12)h_0,\\ lo_1 + (j +
        \\tfrac12)h_1)`, :math:`i, j = 0..g-1`:

        .. math:: \\log Z \\approx \\log \\textstyle\\sum_{ij} h_0 h_1\\, e^{-E(x_{ij})}

        (log-sum-exp). The cells tile the box exactly, so a constant energy gives
        :math:`\\log Z = \\log\\,\\mathrm{area}` exactly; the error is :math:`O(h^2)` for a
        smooth energy. One energy evaluation on the ``g^2`` centres.
        """
        xp = get_backend().xp
        if self.n_features_in_ != 2:
            raise ValueError("numerical normalization is implemented for 2-D data only")
        g = check_positive_int(self.grid_size, "grid_size")
        lo = [float(self.box_[0, i]) for i in range(2)]
        h = [(float(self.box_[1, i]) - lo[i]) / g for i in range(2)]
        # cell centres lo + (i + 1/2) h, i = 0..g-1: each node owns one whole h0 x h1 cell of
        # the box (an edge-inclusive linspace with full-cell weights would overrun the box)
        ax = [lo[i] + (xp.arange(g, dtype=np.float64) + 0.5) * h[i] for i in range(2)]
        gx, gy = xp.meshgrid(ax[0], ax[1], indexing="ij")
        pts = xp.stack([gx.ravel(), gy.ravel()], axis=1)
        le = -self.energy(pts)
        m = float(le.max())
        return m + float(np.log(float(xp.exp(le - m).sum()) * h[0] * h[1]))

    def score_samples(self, X):
        """:math:`\\log p(x)` with Z from the grid (2-D; quadrature error only); ``-inf``
        outside the box ``box_``, where the model :math:`e^{-E}\\,1[x \\in \\mathrm{box}]/Z`
        has no mass."""
        self._check_fitted()
        xp = get_backend().xp
        X = self._check_X(X)
        inside = ((X >= self.box_[0]) & (X <= self.box_[1])).all(axis=1)
        return xp.where(inside, -self.energy(X) - self.grid_log_partition(), -xp.inf)

    def sample(self, n_samples: int, random_state=None, *, n_steps: int = 500):
        """Langevin chains from uniform noise over the data box."""
        self._check_fitted()
        rng = check_random_state(random_state)
        x0 = self._noise(check_positive_int(n_samples, "n_samples"), rng)
        with self.training_context():  # the Langevin loop's thread policy
            return self.langevin(x0, n_steps, rng)
