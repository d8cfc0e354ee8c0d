r"""Transform contract of the flow layers, the composition, inversion, and the error type.

A :class:`Transform` is an autograd :class:`~minigen.autograd.nn.Module` with

* ``forward(x) -> (z, logabsdet)``: :math:`z = f(x)`,
  :math:`\log|\det \partial f / \partial x|` per example;
* ``inverse(z) -> (x, logabsdet)``: :math:`x = f^{-1}(z)` and
  :math:`\log|\det \partial f^{-1} / \partial z| = -\log|\det \partial f/\partial x|`.

``x`` is ``(N, D)`` (vector flows) or ``(N, C, H, W)`` (image flows); Tensors or
arrays are accepted. ``logabsdet`` is always a float64 Tensor of shape ``(N,)``
(log-dets are accumulated in float64 whatever the data dtype).

``inverse`` is the only inverse path: training through an inverse (reverse KL, IAF),
``sample`` and ``inverse_array`` all run it. Under :func:`~minigen.autograd.no_grad` the layers
skip the tape (conditioners run as plain array code), so sampling costs no more than
a hand-written inverse would; the element-wise work runs in the fused kernels either way.

Transforms compose (:class:`Compose`: log-dets add) and invert (:class:`Inverse`:
forward and inverse swap), which is how an inverse autoregressive flow is a masked
autoregressive flow read backwards.

References: Papamakarios et al. (2021) "Normalizing flows for probabilistic modeling
and inference"; nflows / zuko (transform API).
"""

from __future__ import annotations

import numpy as np

from ...autograd import F, Tensor, as_tensor, custom_op, no_grad
from ...autograd.nn import Module, ModuleList
from ...backend import xp_of
from ...exceptions import NonInvertibleError  # noqa: F401  (re-exported)

__all__ = ["Transform", "Compose", "Inverse", "NonInvertibleError", "zero_logdet", "as_input",
           "take_columns", "merge_columns"]


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


@custom_op
def _take_columns(x, idx):
    def backward(g):
        gx = xp_of(g).zeros(x.shape, dtype=x.dtype)
        gx[:, idx] = g
        return gx, None

    return x[:, idx], backward


def take_columns(x, idx) -> Tensor:
    """``x[:, idx]`` for an index set ``idx`` without repeats (its VJP is a plain
    assignment, not a scatter-add)."""
    return _take_columns(x, idx)


@custom_op
def _merge_columns(a, b, idx_a, idx_b):
    out = xp_of(a).empty((a.shape[0], a.shape[1] + b.shape[1]), dtype=np.result_type(a, b))
    out[:, idx_a] = a
    out[:, idx_b] = b
    return out, lambda g: (g[:, idx_a], g[:, idx_b], None, None)


def merge_columns(a, b, idx_a, idx_b) -> Tensor:
    """The ``(N, D)`` Tensor with columns ``idx_a`` from ``a`` and ``idx_b`` from ``b``
    (complementary index sets): the inverse of two :func:`take_columns`."""
    return _merge_columns(a, b, idx_a, idx_b)


class Transform(Module):
    """Base class of invertible maps; subclasses implement ``forward`` and ``inverse``."""

    def forward(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def inverse(self, z):  # pragma: no cover - abstract
        raise NotImplementedError

    def inverse_array(self, z):
        """``f^{-1}(z)`` as a plain array: :meth:`inverse` without the tape."""
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

    def __len__(self) -> int:
        return len(self.transforms)


class Inverse(Transform):
    r""":math:`f^{-1}` as a transform: ``forward`` is ``transform.inverse`` and ``inverse``
    is ``transform.forward`` (log-dets follow, since
    :math:`\log|\det J_{f^{-1}}(z)| = -\log|\det J_f(f^{-1}(z))|`)."""

    def __init__(self, transform: Transform):
        super().__init__()
        if not isinstance(transform, Transform):
            raise TypeError(f"Inverse needs a Transform, got a {type(transform).__name__}")
        self.transform = transform

    def forward(self, x):
        return self.transform.inverse(x)

    def inverse(self, z):
        return self.transform.forward(z)
