r"""Pre-processing as transforms: the layout of an example, rescaling, the logit map, and
uniform dequantization of integer levels.

A flow model's transform runs from the data, in the units the user gives, to the latent:
``Compose([Layout, *pre-processing, flow])``; every piece has a log-det, so the
likelihood is the change-of-variables formula with nothing added by hand.

* :class:`Layout`: one example's shape as given ``(H, W[, C])`` or ``(D,)`` <-> the flow's
  ``(C, H, W)`` or ``(D,)`` (a permutation of coordinates, :math:`\log|\det| = 0`).
* :class:`Rescale`: :math:`y = a x + b` element-wise (fixed :math:`a \ne 0, b`),
  :math:`\log|\det| = D \log|a|` for ``D`` elements per example.
* :class:`Logit`: :math:`y = \log p - \log(1 - p)` on :math:`(0, 1)`,
  :math:`\log|\det| = -\sum_j [\log p_j + \log(1 - p_j)]`; the inverse is the sigmoid.
* :class:`UniformDequantization`: integer levels :math:`x \in \{0..K-1\}^D` become
  continuous :math:`v = x + u`, :math:`u \sim U[0,1)^D` (:meth:`~UniformDequantization.dequantize`,
  the one random step), and the transform maps :math:`v \in [0, K)^D` to the flow's input:
  :math:`y = v/K - 1/2` (``alpha=None``), or with the RealNVP paper's logit
  pre-processing :math:`y = \operatorname{logit}(\alpha + (1 - 2\alpha) v/K)`, i.e.
  ``Compose([Rescale((1 - 2 alpha)/K, alpha), Logit()])``. Samples go back to levels
  with :meth:`~UniformDequantization.quantize` (floor, clipped to ``0..K-1``).

References: Theis, van den Oord, Bethge (2016) "A note on the evaluation of generative
models"; Dinh, Sohl-Dickstein, Bengio (2017) RealNVP, section 4.1.
"""

from __future__ import annotations

import math

import numpy as np

from ...autograd import F, Tensor
from ...backend import get_backend, to_numpy, xp_of
from .base import Compose, Transform, as_input, to64, zero_logdet

__all__ = ["Layout", "Rescale", "Logit", "UniformDequantization"]


def _size(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


class Layout(Transform):
    """Examples of ``data_shape`` <-> ``flow_shape`` (same size; log-det 0).

    An image ``(H, W, C)`` goes channels-first ``(C, H, W)``; ``(H, W)`` gains a channel
    axis; anything else is reshaped (e.g. flattened for vector flows).
    """

    def __init__(self, data_shape, flow_shape):
        super().__init__()
        self.data_shape = tuple(int(s) for s in data_shape)
        self.flow_shape = tuple(int(s) for s in flow_shape)
        if _size(self.data_shape) != _size(self.flow_shape):
            raise ValueError(f"Layout: {self.data_shape} and {self.flow_shape} differ in size")
        self.channels_last = len(self.data_shape) == 3 and len(self.flow_shape) == 3

    def _relayout(self, v, name, src_shape, dst_shape, axes):
        v = as_input(v, name)
        n = v.shape[0]
        if self.channels_last:
            v = F.transpose(F.reshape(v, (n, *src_shape)), axes)
        return F.reshape(v, (n, *dst_shape)), zero_logdet(v)

    def forward(self, x):
        return self._relayout(x, "x", self.data_shape, self.flow_shape, (0, 3, 1, 2))

    def inverse(self, z):
        return self._relayout(z, "z", self.flow_shape, self.data_shape, (0, 2, 3, 1))

    def extra_repr(self) -> str:
        return f"{self.data_shape} -> {self.flow_shape}"


class Rescale(Transform):
    r"""Fixed element-wise affine map :math:`y = a x + b`, :math:`\log|\det| = D\log|a|`."""

    def __init__(self, scale: float, shift: float = 0.0):
        super().__init__()
        self.scale, self.shift = float(scale), float(shift)
        if not (self.scale != 0 and math.isfinite(self.scale) and math.isfinite(self.shift)):
            raise ValueError(f"Rescale needs a finite non-zero scale and a finite shift, "
                             f"got {scale}, {shift}")

    def _logdet(self, x, sign):
        d = _size(x.shape[1:])
        return Tensor(xp_of(x.data).full(x.shape[0], sign * d * math.log(abs(self.scale))))

    def forward(self, x):
        x = as_input(x, "x")
        return x * self.scale + self.shift, self._logdet(x, 1.0)

    def inverse(self, z):
        z = as_input(z, "z")
        return (z - self.shift) / self.scale, self._logdet(z, -1.0)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, shift={self.shift}"


def _rowsum64(t: Tensor) -> Tensor:
    return F.sum(F.reshape(to64(t), (t.shape[0], -1)), axis=1)


class Logit(Transform):
    r""":math:`y = \log p - \log(1-p)` for :math:`p \in (0, 1)`;
    :math:`\log|\det| = -\sum_j[\log p_j + \log(1 - p_j)]`. Inverse: the sigmoid,
    computed as :math:`\tfrac12(1 + \tanh(y/2))` (no overflow)."""

    def forward(self, p):
        p = as_input(p, "p")
        lp, l1p = F.log(p), F.log1p(-p)
        return lp - l1p, -_rowsum64(lp + l1p)

    def inverse(self, y):
        y = as_input(y, "y")
        p = (F.tanh(y * 0.5) + 1.0) * 0.5
        return p, _rowsum64(F.log(p) + F.log1p(-p))


class UniformDequantization(Compose):
    r"""Integer levels ``0..K-1`` -> the flow's continuous input (module docstring).

    Parameters
    ----------
    n_bins : int >= 2
        ``K``, the number of levels.
    alpha : None or float in [0, 0.5)
        None: :math:`y = v/K - 1/2`; a float: :math:`y = \mathrm{logit}(\alpha +
        (1 - 2\alpha) v/K)`.
    """

    def __init__(self, n_bins: int, alpha=None):
        k = int(n_bins)
        if alpha is None:
            parts = [Rescale(1.0 / k, -0.5)]
        else:
            parts = [Rescale((1.0 - 2.0 * alpha) / k, alpha), Logit()]
        super().__init__(parts)
        self.n_bins, self.alpha = k, alpha

    def dequantize(self, x, rng):
        """``v = x + u``, ``u ~ U[0, 1)`` of ``x``'s shape and dtype (data units)."""
        return x + get_backend().asarray(rng.random(x.shape), dtype=x.dtype)

    def quantize(self, v):
        """Levels ``clip(floor(v), 0, K - 1)`` of data-unit values ``v`` (an array)."""
        xp = xp_of(v)
        return xp.clip(xp.floor(v), 0, self.n_bins - 1)

    def check_domain(self, v, name: str = "X") -> None:
        """Refuse data-unit values outside the open interval where the logit map is
        defined (``0 < alpha + (1 - 2 alpha) v / K < 1``): the model puts no mass there,
        and the log of a non-positive number would be a NaN deep in the flow."""
        a, k = self.alpha, self.n_bins
        if a is None:
            return
        vh = to_numpy(v)
        p = a + (1.0 - 2.0 * a) * vh.astype(np.float64) / k
        bad = (p <= 0.0) | (p >= 1.0)
        if bad.any():
            lo, hi = -a * k / (1.0 - 2.0 * a), k * (1.0 - a) / (1.0 - 2.0 * a)
            raise ValueError(
                f"{name} holds {float(vh[bad].ravel()[0])!r}, outside the domain "
                f"({lo:.6g}, {hi:.6g}) of this logit model (logit={a}, n_bins={k}); "
                f"dequantized data lie in [0, {k})"
            )

    def extra_repr(self) -> str:
        return f"n_bins={self.n_bins}, alpha={self.alpha}"
