r"""Coupling with any element-wise bijection: half the coordinates condition the other half.

With a binary mask :math:`m` (1 = conditioning), index sets
:math:`c = \{j : m_j = 1\}` and :math:`t = \{j : m_j = 0\}`:

.. math::

    y_c = x_c, \qquad y_t = \tau\big(x_t;\ \theta(x_c)\big), \qquad
    \log|\det| = \sum_{j \in t} \log \tau'(x_j; \theta_j),

:math:`\theta` an MLP from the :math:`|c|` conditioning coordinates to :math:`P` raw
parameters for each of the :math:`|t|` transformed ones (no masked-out weights: every
parameter is used). The inverse recomputes :math:`\theta(y_c) = \theta(x_c)` and inverts
:math:`\tau` in closed form: one pass either way, so a coupling flow samples as fast as it
evaluates densities.

With ``marginal=True`` the conditioning coordinates are not left as they are but move
through the same bijection with learned *unconditional* parameters,
:math:`y_c = \tau(x_c; \phi)` (:math:`P` numbers per coordinate), while the conditioner
still reads :math:`x_c` (the inverse recovers it first). That is zuko's coupling (a MADE
with two passes: the first half's parameters are its output biases); in two dimensions
it is exactly the autoregressive layer, and without it half of every layer's coordinates
do not move at all. With :class:`~.univariate.SplineUnivariate` this is the coupling
layer of Neural Spline Flows (RealNVP's affine coupling is
:class:`~.coupling.AffineCoupling`).

References: Dinh et al. (2017) RealNVP; Durkan, Bekasov, Murray, Papamakarios (2019)
Neural Spline Flows.
"""

from __future__ import annotations

import numpy as np

from ...autograd import F
from ...autograd.nn import Linear, Parameter
from ...backend import get_backend
from ...random import check_random_state
from .base import Transform, as_input, merge_columns, take_columns
from .coupling import layer_stack

__all__ = ["Coupling"]


class Coupling(Transform):
    """Coupling layer on index sets (module docstring).

    Parameters
    ----------
    mask : array (D,) of 0/1
        1 marks the conditioning coordinates (both kinds must occur).
    univariate : AffineUnivariate or SplineUnivariate
    hidden : int
        Width of the conditioner's hidden layers.
    n_hidden : int
        Number of hidden layers.
    activation : "relu" or "tanh"
    dtype : float dtype
    random_state : None, int or Generator
    marginal : bool
        Also move the conditioning coordinates with learned unconditional parameters
        (module docstring).
    """

    def __init__(self, mask, univariate, hidden=64, n_hidden=2, activation="relu",
                 dtype=np.float32, random_state=None, marginal=False):
        super().__init__()
        mask = np.asarray(mask, dtype=np.float64)
        if mask.ndim != 1 or not np.all((mask == 0) | (mask == 1)):
            raise ValueError("mask must be a 1-D array of 0s and 1s")
        if mask.all() or not mask.any():
            raise ValueError("mask must have both 0s (transformed) and 1s (conditioning)")
        self.univariate = univariate
        self.n_dims = mask.size
        be = get_backend()
        self.register_buffer("cond_idx", be.asarray(np.flatnonzero(mask)))
        self.register_buffer("trans_idx", be.asarray(np.flatnonzero(mask == 0)))
        rng = check_random_state(random_state)
        n_c, n_t, p = int(mask.sum()), int((mask == 0).sum()), univariate.n_params
        self.conditioner = layer_stack(
            lambda i, w_in, w_out: Linear(w_in, w_out, dtype=dtype, random_state=rng),
            n_c, hidden, n_hidden, n_t * p, activation)
        last = self.conditioner[-1]
        last.bias.data[...] = be.asarray(np.tile(univariate.identity_params(), n_t),
                                         dtype=last.bias.dtype)  # starts as the identity
        self.marginal = None
        if marginal:  # starts as the identity too
            self.marginal = Parameter(be.asarray(np.tile(univariate.identity_params(),
                                                         (n_c, 1)), dtype=last.bias.dtype))

    def _couple(self, x, inverse, name):
        x = as_input(x, name, ndim=2)
        if x.shape[1] != self.n_dims:
            raise ValueError(f"{name} must have shape (N, {self.n_dims}), got {tuple(x.shape)}")
        y_c = x_c = take_columns(x, self.cond_idx)
        x_t = take_columns(x, self.trans_idx)
        logdet_c = None
        if self.marginal is not None:
            phi = F.broadcast_to(self.marginal, (x.shape[0], *self.marginal.shape))
            if inverse:  # the conditioner reads the layer's input x_c: recover it first
                x_c, logdet_c = self.univariate(y_c, phi, inverse=True)
            else:
                y_c, logdet_c = self.univariate(x_c, phi)
        raw = F.reshape(self.conditioner(x_c), (x.shape[0], x_t.shape[1], -1))
        y_t, logdet = self.univariate(x_t, raw, inverse=inverse)
        out_c = x_c if inverse else y_c
        logdet = logdet if logdet_c is None else logdet + logdet_c
        return merge_columns(out_c, y_t, self.cond_idx, self.trans_idx), logdet

    def forward(self, x):
        return self._couple(x, False, "x")

    def inverse(self, z):
        return self._couple(z, True, "z")

    def extra_repr(self) -> str:
        return f"{self.n_dims}, {self.univariate!r}, marginal={self.marginal is not None}"
