r"""ActNorm (Glow) and NICE's diagonal scaling: per-channel affine maps.

ActNorm: :math:`y = (x + \mu) \odot e^{\ell}` per channel of ``(N, C)`` or
``(N, C, H, W)`` input, :math:`\log|\det| = H W \sum_c \ell_c`.
Data-dependent initialisation: the first ``forward`` on an uninitialised layer
sets :math:`\mu = -\mathrm{mean}(x)`, :math:`\ell = -\log(\mathrm{std}(x) + \epsilon)`
per channel (so its output has zero mean and unit variance on that batch) and sets
``initialized``; models save that flag in ``extra_state`` so a resumed or loaded
model does not re-initialise. A scale :math:`e^{\ell}` that is zero or non-finite
(e.g. ``log_scale = -inf``) makes the map non-invertible and raises
:class:`~minigen.models.flows.base.NonInvertibleError`.

:class:`DiagonalScaling` (NICE's last layer) is ActNorm without the shift and
without data-dependent init: :math:`y = x \odot e^{s}`, :math:`\log|\det| = \sum s`.

Both run through the fused ``actnorm`` kernel op (:mod:`minigen.autograd.coupling_ops`).

References: Kingma & Dhariwal (2018) Glow; Dinh et al. (2015) NICE.
"""

from __future__ import annotations

import numpy as np

from ...autograd import no_grad
from ...autograd.coupling_ops import actnorm
from ...autograd.nn import Parameter
from ...backend import get_backend, xp_of
from .base import NonInvertibleError, Transform, as_input

__all__ = ["ActNorm", "DiagonalScaling", "check_log_scale"]


def check_log_scale(log_scale, what: str) -> None:
    """Raise NonInvertibleError unless every ``exp(log_scale)`` is finite and > 0."""
    xp = xp_of(log_scale)
    with np.errstate(over="ignore", under="ignore"):
        scale = xp.exp(log_scale)
    if not bool(xp.all(xp.isfinite(scale) & (scale > 0))):
        raise NonInvertibleError(
            f"{what}: a scale exp(log_scale) is zero or non-finite "
            f"(log_scale range [{float(log_scale.min())}, {float(log_scale.max())}]); "
            "the map is not invertible"
        )


class _ChannelAffine(Transform):
    """What ActNorm and DiagonalScaling share: ``y = (x + loc) e^{log_scale}`` per channel on
    axis 1, by the fused :func:`~minigen.autograd.coupling_ops.actnorm` op."""

    def _check(self, x, name):
        x = as_input(x, name, ndim=(2, 4))
        if x.shape[1] != self.n_channels:
            raise ValueError(
                f"{name} must have {self.n_channels} channels on axis 1, got shape {tuple(x.shape)}"
            )
        return x

    def _affine(self, v, inverse: bool):
        check_log_scale(self.log_scale.data, type(self).__name__)
        return actnorm(v, self.loc, self.log_scale, inverse=inverse)

    def forward(self, x):
        return self._affine(self._check(x, "x"), False)

    def inverse(self, z):
        return self._affine(self._check(z, "z"), True)


class ActNorm(_ChannelAffine):
    """Per-channel affine map with data-dependent initialisation (see the module docstring).

    Parameters
    ----------
    n_channels : int
    dtype : float dtype of the parameters
    eps : float
        Added to the batch std at initialisation.
    """

    def __init__(self, n_channels: int, dtype=np.float32, eps: float = 1e-6):
        super().__init__()
        xp = get_backend().xp
        self.n_channels = int(n_channels)
        self.loc = Parameter(xp.zeros(self.n_channels, dtype=dtype))
        self.log_scale = Parameter(xp.zeros(self.n_channels, dtype=dtype))
        self.eps = float(eps)
        self.initialized = False

    def initialize(self, x) -> None:
        """Set ``loc``/``log_scale`` from a data batch ``x`` (in place) and mark initialised."""
        x = self._check(x, "x").data
        xp = xp_of(x)
        axes = (0,) if x.ndim == 2 else (0, 2, 3)
        xd = x.astype(np.float64)
        mean, std = xd.mean(axis=axes), xd.std(axis=axes)
        with no_grad():
            self.loc.data[...] = -mean
            self.log_scale.data[...] = -xp.log(std + self.eps)
        self.initialized = True

    def forward(self, x):
        x = self._check(x, "x")
        if not self.initialized:
            self.initialize(x)
        return self._affine(x, False)

    def extra_repr(self) -> str:
        return f"{self.n_channels}, initialized={self.initialized}"


class DiagonalScaling(_ChannelAffine):
    r"""NICE's final scaling :math:`y = x \odot e^{s}`, :math:`\log|\det| = \sum_j s_j`."""

    def __init__(self, n_channels: int, dtype=np.float32):
        super().__init__()
        xp = get_backend().xp
        self.n_channels = int(n_channels)
        self.log_scale = Parameter(xp.zeros(self.n_channels, dtype=dtype))
        self.register_buffer("loc", xp.zeros(self.n_channels, dtype=dtype))
