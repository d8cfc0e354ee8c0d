r"""MADE: masked autoencoder for distribution estimation.

A multilayer perceptron whose weight matrices are multiplied by 0/1 masks so that
output :math:`d` only sees inputs earlier in the ordering. Each unit gets a degree
:math:`m`: input (and output) units of position :math:`d` have :math:`m = r(d) + 1`
(rank in the ordering, 1-based); hidden units get degrees in :math:`[\min m_{l-1}, D - 1]`,
each value used equally often (up to one), randomly arranged. Connections are kept when

.. math::

    M^{(l)}_{kj} = [\, m_l(k) \ge m_{l-1}(j) \,] \ \text{(hidden)}, \qquad
    M^{out}_{dk} = [\, m_{out}(d) > m_L(k) \,] \ \text{(output, strict)},

so output :math:`d` depends on input :math:`j` only through paths with strictly
increasing-or-equal degrees ending in :math:`m(j) < m(d)`: the autoregressive property.

Connectivity-agnostic training (``n_masks > 1``): a fixed set of ``n_masks`` degree
assignments (and, with ``ordering="random"``, also orderings) is drawn at build time;
each mini-batch uses one drawn at random. At test time the ensemble averages the
probabilities, :math:`\log p(x) = \log \frac1M \sum_m p_m(x)` (a log-mean-exp of the
per-mask log-likelihoods), still an exact normalized density (a uniform mixture);
``sample`` draws a mask per example, then ancestrally from it (exact mixture sampling).

References: Germain, Gregor, Murray, Larochelle, "MADE: Masked autoencoder for
distribution estimation" (ICML 2015).
"""

from __future__ import annotations

import numpy as np

from ..._validation import check_choice, check_positive_int
from ...autograd import F, Tensor, nn, no_grad
from ...backend import get_backend, to_numpy
from ...base import register_model, reserve
from ...io import CheckpointError
from ...params import Param, int_sizes, one_of, positive_int
from .base import DTYPE, N_CATEGORIES, ORDERING, AutoregressiveModel, resolve_ordering

__all__ = ["MADE", "MADENetwork", "made_degrees", "made_masks"]

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "gelu": nn.GELU}


def made_degrees(rank, hidden_sizes, rng) -> list:
    """Degrees ``[m_in (D,), m_1 (H_1,), ..., m_L (H_L,)]`` for positions of rank ``rank``."""
    rank = np.asarray(rank)
    d = rank.size
    reserve(rng, 2 * sum(int(h) for h in hidden_sizes))  # the cycles, before the draws
    degs = [rank + 1]
    for h in hidden_sizes:
        lo = min(int(degs[-1].min()), d - 1)
        if d == 1:
            degs.append(np.zeros(h, dtype=np.int64))  # no hidden unit may see anything
        else:
            # every degree in [lo, D-1] used about equally often (so no output is cut off
            # when h >= D - 1), in a random arrangement (a different mask per draw)
            cycle = np.arange(h) % (d - lo) + lo
            degs.append(rng.permutation(cycle).astype(np.int64))
    return degs


def made_masks(degrees, in_channels: int, out_channels: int) -> list:
    """Masks ``(out, in)`` for each layer from :func:`made_degrees` (inputs/outputs repeated
    ``in_channels``/``out_channels`` times per position, position-major)."""
    m_in = np.repeat(degrees[0], in_channels)
    masks, prev = [], m_in
    for m in degrees[1:]:
        masks.append((m[:, None] >= prev[None, :]).astype(np.float64))
        prev = m
    m_out = np.repeat(degrees[0], out_channels)
    masks.append((m_out[:, None] > prev[None, :]).astype(np.float64))
    return masks


class MADENetwork(nn.Module):
    """Masked MLP ``(n, D, C_in) -> (n, D, C_out)`` (masks set with :meth:`set_masks`)."""

    def __init__(self, n_dims, in_channels, out_channels, hidden_sizes, activation="relu",
                 dtype=np.float32, random_state=None):
        super().__init__()
        self.n_dims, self.in_channels, self.out_channels = n_dims, in_channels, out_channels
        sizes = [n_dims * in_channels, *hidden_sizes, n_dims * out_channels]
        self.layers = nn.ModuleList(
            nn.MaskedLinear(a, b, dtype=dtype, random_state=random_state)
            for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.act = _ACTIVATIONS[activation]()

    def set_masks(self, masks) -> None:
        for layer, m in zip(self.layers, masks, strict=True):
            layer.set_mask(m)

    def forward(self, h):
        n = h.shape[0]
        z = F.reshape(h, (n, -1))
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            z = layer(z)
            if i < last:
                z = self.act(z)
        return F.reshape(z, (n, self.n_dims, self.out_channels))


@register_model("made")
class MADE(AutoregressiveModel):
    """MADE for binary (Bernoulli outputs) or K-valued (categorical outputs) data.

    Attributes
    ----------
    orderings_ : int64 (n_masks, D); degrees_ : list of int64 (n_masks, H_l) per layer;
    active_mask_ : int, the mask in use by ``_logits`` (``ordering_`` is its ordering).
    """

    hyperparameters = {
        "hidden_sizes": Param((256, 256), "hidden layer widths (each should be >= D - 1 for "
                              "full connectivity)", int_sizes),
        "n_categories": N_CATEGORIES,
        "ordering": Param(ORDERING.default, ORDERING.doc + "; with 'random' and n_masks > 1 "
                          "every mask has its own ordering (order-agnostic training)",
                          kind=ORDERING.kind),
        "n_masks": Param(1, "masks in the fixed set; > 1 resamples one per mini-batch and "
                         "ensembles all of them in score_samples", positive_int),
        "activation": Param("relu", "hidden activation",
                            one_of("relu", "tanh", "elu", "gelu")),
        "dtype": DTYPE,
    }

    def _k_out(self) -> int:
        return 1 if self.n_categories_ == 2 else self.n_categories_

    def _make_network(self, rng) -> None:
        hidden = [check_positive_int(h, "hidden_sizes") for h in self.hidden_sizes]
        n_masks = check_positive_int(self.n_masks, "n_masks")
        check_choice(self.activation, "activation", tuple(_ACTIVATIONS))
        # orderings and degree cycles are built before any draw: a load's size check first
        reserve(rng, n_masks * (self.n_dims_ + 2 * sum(hidden)))
        orders = [self.ordering_]
        for _ in range(1, n_masks):
            orders.append(resolve_ordering(self.ordering, self.n_dims_, rng))
        self.orderings_ = np.stack(orders)
        self.degrees_ = [np.zeros((n_masks, h), dtype=np.int64) for h in hidden]
        for k, order in enumerate(orders):
            rank = np.empty_like(order)
            rank[order] = np.arange(self.n_dims_)
            for layer, deg in enumerate(made_degrees(rank, hidden, rng)[1:]):
                self.degrees_[layer][k] = deg
        self.net_ = MADENetwork(self.n_dims_, self._n_input_channels(), self._k_out(), hidden,
                                self.activation, self.dtype_, rng)
        self._activate(0)

    def _activate(self, k: int) -> None:
        """Use mask ``k`` (its ordering and hidden degrees)."""
        self.active_mask_ = int(k)
        self._set_ordering(self.orderings_[k])
        degs = [self.rank_ + 1] + [d[k] for d in self.degrees_]
        self.net_.set_masks(made_masks(degs, self._n_input_channels(), self._k_out()))

    def _logits(self, h):
        out = self.net_(h)
        if self.n_categories_ == 2:
            return F.reshape(out, (out.shape[0], self.n_dims_))
        return out

    def _before_batch(self, rng) -> None:
        if self.orderings_.shape[0] > 1:
            self._activate(int(rng.integers(self.orderings_.shape[0])))

    def _log_prob(self, x):
        n_masks = self.orderings_.shape[0]
        if n_masks == 1:
            return super()._log_prob(x)
        xp = get_backend().xp
        keep = self.active_mask_
        lps = []
        for k in range(n_masks):
            self._activate(k)
            lps.append(super()._log_prob(x))
        self._activate(keep)
        lp = xp.stack(lps)
        mx = lp.max(axis=0)
        return mx + xp.log(xp.exp(lp - mx).mean(axis=0))

    # ------------------------------------------------------------ incremental sampler
    def sample(self, n_samples: int, random_state=None, temperature: float = 1.0,
               use_cache: bool = True):
        """As :meth:`AutoregressiveModel.sample`; ``use_cache=False`` recomputes the network
        at every position (quadratic in D) instead of updating the first layer's
        pre-activations (linear in D). Both draw the same samples for a seed."""
        self._use_cache = bool(use_cache)
        try:
            return super().sample(n_samples, random_state, temperature)
        finally:
            self._use_cache = True

    def _sampler_start(self, n: int):
        r"""State of the incremental sampler: the first layer's pre-activations
        :math:`a_1 = b_1 + \sum_{s < t} W_1[:, \sigma_s] x_{\sigma_s}`, updated by one column
        per drawn position, and the masked weights. A step then costs
        :math:`O(H_1 C_{in} + \sum_l H_l H_{l+1} + H_L K)`, independent of D, so drawing a
        sample is linear in D (recomputing the network, the base class's sampler, costs
        O(D) per step: quadratic). None with ``use_cache=False``: the recomputing sampler."""
        if not getattr(self, "_use_cache", True):
            return None
        xp = get_backend().xp
        layers = list(self.net_.layers)
        masked = [(layer.weight.data * layer.mask, layer.bias.data) for layer in layers]
        a1 = xp.broadcast_to(masked[0][1], (n, masked[0][1].shape[0])).copy()
        return {"a1": a1, "masked": masked, "added": 0}

    def _sampler_logits(self, x, t: int, state):

        if state is None:  # not ours: the recomputing default
            return super()._sampler_logits(x, t, state)
        c_in, k_out = self._n_input_channels(), self._k_out()
        (W1, _), *rest = state["masked"]
        for s in range(state["added"], t):  # the positions drawn since the last call
            p = int(self.ordering_[s])
            enc = self._encode(x[:, p:p + 1])[:, 0, :]  # (n, C_in)
            state["a1"] += enc @ W1[:, p * c_in:(p + 1) * c_in].T
        state["added"] = t
        with no_grad():
            h = self.net_.act(Tensor(state["a1"])).data
            for W, b in rest[:-1]:
                h = self.net_.act(Tensor(h @ W.T + b)).data
        WL, bL = rest[-1]
        pos = int(self.ordering_[t])
        rows = slice(pos * k_out, (pos + 1) * k_out)
        out = h @ WL[rows].T + bL[rows]
        return out[:, 0] if self.n_categories_ == 2 else out

    # sampling from the ensemble: one mask per example (a uniform mixture)
    def _uniforms(self, rng, n):
        self._row_masks = rng.integers(self.orderings_.shape[0], size=n)
        return super()._uniforms(rng, n)

    def _run_sampler(self, x, u, temperature, observed=None):
        if self.orderings_.shape[0] == 1:
            return super()._run_sampler(x, u, temperature, observed)
        keep = self.active_mask_
        for k in np.unique(self._row_masks):
            rows = np.flatnonzero(self._row_masks == k)
            ridx = get_backend().asarray(rows)
            self._activate(int(k))
            obs = None if observed is None else observed[ridx]
            x[ridx] = super()._run_sampler(x[ridx], u[ridx], temperature, obs)
        self._activate(keep)
        return x

    # checkpoints: orderings and degrees of every mask
    def _extra_arrays(self) -> dict:
        out = {"orderings": self.orderings_.copy()}
        out.update({f"degrees_{i}": d.copy() for i, d in enumerate(self.degrees_)})
        return out

    def _load_extra_arrays(self, state: dict) -> None:
        if "orderings" in state:
            orders = np.asarray(to_numpy(state["orderings"]))
            if orders.ndim != 2:
                raise CheckpointError(f"extra state 'orderings' has shape {orders.shape}, "
                                      "expected (n_masks, D)")
            self.orderings_ = np.stack([resolve_ordering(o, self.n_dims_, None, "orderings")
                                        for o in orders])
            self.degrees_ = [np.asarray(to_numpy(state[f"degrees_{i}"]), dtype=np.int64)
                             for i in range(len(self.degrees_))]
            self._activate(0)
