r"""Transform contract of the flow layers, the composition, and the error type.

A :class:`Transform` is an autograd :class:`~minigen.autograd.nn.Module` with

* ``forward(x) -> (z, logabsdet)``: :math:`z = f(x)`,
  :math:`\log|\det \partial f / \partial x|` per example;
* ``inverse(z) -> (x, logabsdet)``: :math:`x = f^{-1}(z)` and
  :math:`\log|\det \partial f^{-1} / \partial z| = -\log|\det \partial f/\partial x|`.

``x`` is ``(N, D)`` (vector flows) or ``(N, C, H, W)`` (image flows); Tensors or
arrays are accepted. ``logabsdet`` is always a float64 Tensor of shape ``(N,)``
(log-dets are accumulated in float64 whatever the data dtype).

``invert(z) -> x`` is the sampling fast path: the inverse on plain arrays, no autograd
tape and no log-det (the built-in layers override it with direct array code; the
default goes through ``inverse`` under ``no_grad``). Tested equal to ``inverse``.

References: Papamakarios et al. (2021) "Normalizing flows for probabilistic modeling
and inference"; nflows / zuko (transform API).
"""

from __future__ import annotations

import numpy as np

from ...autograd import F, Tensor, as_tensor, no_grad
from ...autograd.nn import Module, ModuleList
from ...backend import xp_of
from ...exceptions import NonInvertibleError  # noqa: F401  (re-exported)

__all__ = ["Transform", "Compose", "NonInvertibleError", "zero_logdet", "as_input"]


def as_input(x, name: str = "x", ndim=None) -> Tensor:
    """``x`` as a floating Tensor, with a clear error for a wrong number of dimensions."""
    t = as_tensor(x)
    if t.dtype.kind != "f":
        t = F.astype(t, np.float64)
    if ndim is not None and t.ndim not in ((ndim,) if isinstance(ndim, int) else ndim):
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(t.shape)}")
    return t


def zero_logdet(x: Tensor) -> Tensor:
    """A constant float64 ``(N,)`` zero log-det for volume-preserving maps."""
    return Tensor(xp_of(x.data).zeros(x.shape[0], dtype=np.float64))


def to64(t: Tensor) -> Tensor:
    return t if t.dtype == np.float64 else F.astype(t, np.float64)


class Transform(Module):
    """Base class of invertible maps; subclasses implement ``forward`` and ``inverse``."""

    def forward(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def inverse(self, z):  # pragma: no cover - abstract
        raise NotImplementedError

    def invert(self, z):
        """``f^{-1}(z)`` as a plain array (no tape, no log-det); ``z`` an array."""
        with no_grad():
            return self.inverse(Tensor(z))[0].data


class Compose(Transform):
    r"""``f = f_K o ... o f_1``; log-dets add: :math:`\sum_k \log|\det J_{f_k}|` (float64).

    ``inverse`` applies the inverses in reverse order.
    """

    def __init__(self, transforms):
        super().__init__()
        self.transforms = ModuleList(transforms)
        for i, t in enumerate(self.transforms):
            if not isinstance(t, Transform):
                raise TypeError(f"Compose item {i} is a {type(t).__name__}, not a Transform")

    def forward(self, x):
        x = as_input(x)
        total = zero_logdet(x)
        for t in self.transforms:
            x, ld = t.forward(x)
            total = total + to64(ld)
        return x, total

    def inverse(self, z):
        z = as_input(z)
        total = zero_logdet(z)
        for t in reversed(list(self.transforms)):
            z, ld = t.inverse(z)
            total = total + to64(ld)
        return z, total

    def invert(self, z):
        for t in reversed(list(self.transforms)):
            z = t.invert(z)
        return z

    def __len__(self) -> int:
        return len(self.transforms)
