r"""Element-wise bijections whose parameters come from a conditioner network.

A coupling or autoregressive layer is two ideas: *who sees what* (the conditioner: a
masked MLP, :class:`~.autoregressive.MaskedAutoregressive`, or an MLP on half the
coordinates, :class:`~.neural_coupling.Coupling`) and *how each coordinate moves* given
its parameters: one of these monotonic maps :math:`\tau(x_i; \theta_i)`, applied to
every element with its own raw parameters ``raw (N, D, P)``:

* :class:`AffineUnivariate`, ``P = 2``: :math:`\tau(x) = x e^{s} + t` with a bounded
  log-scale :math:`s = b \tanh(\tilde s / b)`, :math:`\log \tau' = s` (MAF, IAF);
* :class:`SplineUnivariate`, ``P = 3K - 1``: the rational-quadratic spline with ``K``
  bins on :math:`[-B, B]` (identity outside), widths and heights by softmax, interior
  derivatives by softplus (Neural Spline Flows), through the fused spline kernel.

Both return ``(y, logabsdet)`` per row (float64) in one fused kernel call and invert in
closed form (``inverse=True``). :meth:`identity_params` are the raw parameters of the
identity map; conditioners end in a zero-weight layer with these as biases, so every
layer starts as the identity.

References: Papamakarios, Pavlakou, Murray (2017) MAF; Kingma et al. (2016) IAF;
Durkan, Bekasov, Murray, Papamakarios (2019) Neural Spline Flows.
"""

from __future__ import annotations

import math

import numpy as np

from ...autograd import F, custom_op
from ...autograd.coupling_ops import affine_coupling
from ...autograd.spline_ops import spline_coupling
from ...backend import xp_of
from ...kernels import spline as _spline_kernel

__all__ = ["AffineUnivariate", "SplineUnivariate", "split_params"]


@custom_op
def _split_params(raw, sizes):
    xp = xp_of(raw)
    bounds = np.cumsum((0, *sizes))
    parts = tuple(xp.ascontiguousarray(raw[..., a:b]) for a, b in zip(bounds[:-1], bounds[1:],
                                                                       strict=True))
    return parts, lambda *gs: (xp.concatenate(gs, axis=-1), None)


def split_params(raw, sizes):
    """``raw (..., sum(sizes))`` -> contiguous pieces along the last axis (one op; its VJP
    concatenates the pieces' gradients)."""
    return _split_params(raw, tuple(int(s) for s in sizes))


class AffineUnivariate:
    r"""``y = x e^{s} + t``, :math:`s = b\tanh(\tilde s/b)`; raw parameters
    :math:`(\tilde s, t)` per element (``P = 2``), :math:`\log|\det| = \sum_j s_j`."""

    def __init__(self, scale_bound: float = 2.0):
        if not (scale_bound > 0 and math.isfinite(scale_bound)):
            raise ValueError(f"scale_bound must be > 0 and finite, got {scale_bound}")
        self.scale_bound = float(scale_bound)

    n_params = 2

    def identity_params(self) -> np.ndarray:
        return np.zeros(2)

    def __call__(self, x, raw, inverse: bool = False):
        """``x (N, D)``, ``raw (N, D, 2)`` -> ``(y (N, D), logabsdet (N,))``."""
        raw_s, t = split_params(raw, (1, 1))
        n, d = x.shape
        b = self.scale_bound
        s = F.tanh(F.reshape(raw_s, (n, d)) * (1.0 / b)) * b
        return affine_coupling(x, s, F.reshape(t, (n, d)), inverse=inverse)

    def __repr__(self) -> str:
        return f"AffineUnivariate(scale_bound={self.scale_bound})"


class SplineUnivariate:
    r"""Rational-quadratic spline with ``K`` bins on :math:`[-B, B]`; raw parameters
    (widths ``K``, heights ``K``, interior derivatives ``K - 1``) per element, see
    :func:`minigen.kernels.spline_coupling` for the parameterization."""

    def __init__(self, n_bins: int = 8, tail_bound: float = 5.0,
                 min_derivative: float = _spline_kernel.MIN_DERIVATIVE):
        if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
            raise ValueError(f"n_bins must be an int >= 1, got {n_bins!r}")
        if not (tail_bound > 0 and math.isfinite(tail_bound)):
            raise ValueError(f"tail_bound must be > 0 and finite, got {tail_bound}")
        self.n_bins, self.tail_bound = int(n_bins), float(tail_bound)
        self.min_derivative = float(min_derivative)
        self.n_params = 3 * self.n_bins - 1

    def identity_params(self) -> np.ndarray:
        """Equal widths and heights, every interior derivative 1:
        ``softplus(d) + m = 1`` at ``d = log(expm1(1 - m))``."""
        k = self.n_bins
        d = math.log(math.expm1(1.0 - self.min_derivative))
        return np.concatenate([np.zeros(2 * k), np.full(k - 1, d)])

    def __call__(self, x, raw, inverse: bool = False):
        """``x (N, D)``, ``raw (N, D, 3K - 1)`` -> ``(y (N, D), logabsdet (N,))``."""
        k = self.n_bins
        w, h, d = split_params(raw, (k, k, k - 1))
        return spline_coupling(x, w, h, d, inverse=inverse, tail_bound=self.tail_bound,
                               min_derivative=self.min_derivative)

    def __repr__(self) -> str:
        return f"SplineUnivariate(n_bins={self.n_bins}, tail_bound={self.tail_bound})"
