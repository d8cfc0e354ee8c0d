r"""Fully visible sigmoid belief network (FVSBN): logistic-regression conditionals.

For binary data and ordering :math:`\sigma` (rank :math:`r(d)` of position :math:`d`),

.. math::

    p(x_i = 1 \mid x_{<i}) = \mathrm{sigmoid}\Big(a_i + \sum_{j:\, r(j) < r(i)} W_{ij} x_j\Big),

i.e. one linear layer whose weight matrix is masked to be strictly lower triangular in
the ordering. With ``K > 2`` values the same construction on one-hot inputs gives a
fully visible softmax network: logits :math:`\ell_{i,k} = a_{ik} + \sum_{r(j) < r(i),\,c}
W_{ik,jc} [x_j = c]`. ``D(D-1)/2`` weights for ``K = 2``.

References: Frey, "Graphical models for machine learning and digital communication"
(1998); Neal, "Connectionist learning of belief networks" (1992).
"""

from __future__ import annotations

import numpy as np

from ...autograd import F, nn
from ...base import register_model
from .base import DTYPE, N_CATEGORIES, ORDERING, AutoregressiveModel

__all__ = ["FVSBN"]


@register_model("fvsbn")
class FVSBN(AutoregressiveModel):
    """Fully visible sigmoid (K = 2) / softmax (K > 2) belief network.

    Attributes
    ----------
    net_ : nn.MaskedLinear, ``(D * C_in) -> (D * K_out)`` with ``K_out = 1`` for K = 2.
    """

    hyperparameters = {"n_categories": N_CATEGORIES, "ordering": ORDERING, "dtype": DTYPE}

    def _k_out(self) -> int:
        return 1 if self.n_categories_ == 2 else self.n_categories_

    def _mask(self) -> np.ndarray:
        c_in, k_out = self._n_input_channels(), self._k_out()
        strict = self.rank_[None, :] < self.rank_[:, None]  # (out i, in j)
        return np.kron(strict, np.ones((k_out, c_in))).astype(self.dtype_)

    def _make_network(self, rng) -> None:
        d = self.n_dims_
        c_in, k_out = self._n_input_channels(), self._k_out()
        self.net_ = nn.MaskedLinear(d * c_in, d * k_out, mask=self._mask(), dtype=self.dtype_,
                                    random_state=rng)
        self.net_.weight.data[...] *= 0.1  # start near the factorized model

    def _set_ordering(self, order) -> None:
        super()._set_ordering(order)
        if getattr(self, "net_", None) is not None:
            self.net_.set_mask(self._mask())

    def _logits(self, h):
        n = h.shape[0]
        out = self.net_(F.reshape(h, (n, -1)))
        if self.n_categories_ == 2:
            return out
        return F.reshape(out, (n, self.n_dims_, self.n_categories_))

    # ------------------------------------------------------------ sampler
    def _sampler_start(self, n: int):
        r"""Sampler state: the masked weights, made once. Step :math:`t` then computes only
        the logits of position :math:`\sigma_t`, one ``K_out`` row block of the layer
        (:math:`O(D)` per example), instead of all ``D`` conditionals (the recomputing
        default: :math:`O(D^2)` per step)."""
        return {"w": self.net_.weight.data * self.net_.mask, "b": self.net_.bias.data}

    def _sampler_logits(self, x, t: int, state):
        if state is None:  # the recomputing default
            return super()._sampler_logits(x, t, state)
        k = self._k_out()
        pos = int(self.ordering_[t])
        rows = slice(pos * k, (pos + 1) * k)
        enc = self._encode(x).reshape(x.shape[0], -1)
        out = enc @ state["w"][rows].T + state["b"][rows]
        return out[:, 0] if self.n_categories_ == 2 else out
