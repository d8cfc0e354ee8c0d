r"""Masked autoregressive transforms: a MADE conditioner and an element-wise bijection.

.. math::

    z_i = \tau\big(x_i;\ \theta_i(x_{<i})\big), \qquad
    \log\Big|\det \frac{\partial z}{\partial x}\Big| = \sum_i \log \tau'(x_i; \theta_i),

with ``<`` the layer's ordering. :math:`\theta = \mathrm{MADE}(x)`: one masked MLP
(:class:`~minigen.models.autoregressive.made.MADENetwork`) gives every
:math:`\theta_i` at once and sees only :math:`x_{<i}`, so the Jacobian is triangular and
its log-det is the sum of the diagonal terms.

* ``forward`` (x -> z) is **one pass**: all of :math:`x` is known, so one MADE call gives
  every :math:`\theta_i`.
* ``inverse`` (z -> x) is **sequential**: :math:`\theta_i` needs :math:`x_{<i}`, which is
  being computed. Pass ``k`` evaluates MADE on the current ``x`` and inverts ``tau``
  element-wise; after pass ``k`` the first ``k`` coordinates in the ordering are exact, so
  ``D`` passes give ``x`` exactly (and the last pass's parameters are the right ones for
  the log-det). The passes are differentiable, so gradients flow through an inverse.

With :class:`~.univariate.AffineUnivariate` this is a layer of MAF (an autoregressive
model with Gaussian conditionals, :math:`x_i = \mu_i + \sigma_i z_i`, read as a flow);
:class:`~.base.Inverse` of it is a layer of IAF (sampling in one pass, density
sequential); with :class:`~.univariate.SplineUnivariate` it is the autoregressive neural
spline flow.

Masks: degrees as MADE's (:func:`~minigen.models.autoregressive.made.made_degrees`), the
hidden degrees drawn from a generator seeded by ``(D, layer index)`` only, so a checkpoint
rebuilds the same masks whatever ``random_state`` built the model.

References: Germain et al. (2015) MADE; Papamakarios, Pavlakou, Murray (2017) "Masked
Autoregressive Flow for Density Estimation"; Kingma et al. (2016) "Improved Variational
Inference with Inverse Autoregressive Flow".
"""

from __future__ import annotations

import numpy as np

from ...autograd import Tensor
from ...backend import get_backend
from ...random import check_random_state
from ..autoregressive.made import MADENetwork, made_degrees, made_masks
from .base import Transform, as_input

__all__ = ["MaskedAutoregressive", "layer_ordering"]


def layer_ordering(d: int, index: int, kind: str = "alternate") -> np.ndarray:
    """Ordering of layer ``index``: ``"alternate"`` (natural, reversed, natural, ...) or
    ``"random"`` (a fixed permutation, a function of ``(d, index)`` only)."""
    if kind == "alternate":
        order = np.arange(d)
        return order if index % 2 == 0 else order[::-1].copy()
    if kind == "random":
        return np.random.default_rng([d, index, 1]).permutation(d)
    raise ValueError(f"ordering must be 'alternate' or 'random', got {kind!r}")


class MaskedAutoregressive(Transform):
    """One autoregressive layer (module docstring).

    Parameters
    ----------
    n_dims : int
        ``D``.
    univariate : AffineUnivariate or SplineUnivariate
        The element-wise bijection; MADE outputs its ``P`` raw parameters per coordinate.
    hidden_sizes : sequence of int
        MADE's hidden widths.
    ordering : array (D,)
        ``ordering[k]`` is the coordinate at step ``k``.
    activation : str
    dtype : float dtype
    random_state : None, int or Generator
        Initial weights.
    index : int
        The layer's index (seeds its hidden degrees, see the module docstring).
    """

    def __init__(self, n_dims, univariate, hidden_sizes=(64, 64), ordering=None,
                 activation="relu", dtype=np.float32, random_state=None, index=0):
        super().__init__()
        d = self.n_dims = int(n_dims)
        self.univariate = univariate
        order = np.arange(d) if ordering is None else np.asarray(ordering)
        if sorted(order.tolist()) != list(range(d)):
            raise ValueError(f"ordering must be a permutation of 0..{d - 1}, got {order}")
        self.ordering = order
        rank = np.empty(d, dtype=np.int64)
        rank[order] = np.arange(d)
        rng = check_random_state(random_state)
        p = univariate.n_params
        self.made = MADENetwork(d, 1, p, list(hidden_sizes), activation, dtype, rng)
        degrees = made_degrees(rank, list(hidden_sizes), np.random.default_rng([d, index]))
        self.made.set_masks(made_masks(degrees, 1, p))
        last = self.made.layers[len(self.made.layers) - 1]
        last.weight.data[...] = 0  # starts as the identity
        last.bias.data[...] = get_backend().asarray(np.tile(univariate.identity_params(), d),
                                                    dtype=last.bias.dtype)

    def _check(self, x, name):
        x = as_input(x, name, ndim=2)
        if x.shape[1] != self.n_dims:
            raise ValueError(f"{name} must have shape (N, {self.n_dims}), got {tuple(x.shape)}")
        return x

    def params(self, x):
        """Raw parameters ``(N, D, P)``; entry ``i`` depends on ``x_j`` only for ``j``
        before ``i`` in the ordering."""
        return self.made(x)

    def forward(self, x):
        x = self._check(x, "x")
        return self.univariate(x, self.params(x), inverse=False)

    def inverse(self, z):
        z = self._check(z, "z")
        x = Tensor(z.xp.zeros(z.shape, dtype=z.dtype))
        for _ in range(self.n_dims):
            x, logdet = self.univariate(z, self.params(x), inverse=True)
        return x, logdet

    def extra_repr(self) -> str:
        return f"{self.n_dims}, {self.univariate!r}, ordering={self.ordering.tolist()}"


