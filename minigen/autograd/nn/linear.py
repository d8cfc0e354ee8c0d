r"""Fully connected layers: ``Linear`` and ``MaskedLinear`` (MADE-style masks)."""

from __future__ import annotations

import math
import sys

import numpy as np

from ..._validation import check_positive_int
from ...backend import get_backend, xp_of
from ...random import check_random_state
from .. import functional as F
from ..tensor import _shape_str
from .module import Module, Parameter


class Linear(Module):
    r"""Affine layer :math:`y = x W^\top + b`, ``W`` of shape (out_features, in_features).

    Initialization (torch's default): :math:`W_{ij}, b_i \sim U(-k, k)`, :math:`k =
    1/\sqrt{\text{in\_features}}`. Arrays are drawn on the host from ``random_state``
    and moved to the active backend.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
    dtype : float dtype (default float32)
    random_state : None, int or numpy.random.Generator
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        dtype=np.float32,
        random_state=None,
    ):
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features")
        self.out_features = check_positive_int(out_features, "out_features")
        rng = check_random_state(random_state)
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"dtype must be a floating dtype, got {dtype}")
        k = 1.0 / math.sqrt(in_features)
        backend = get_backend()
        w = rng.uniform(-k, k, size=(out_features, in_features)).astype(dtype)
        self.weight = Parameter(backend.asarray(w))
        if bias:
            self.bias = Parameter(
                backend.asarray(rng.uniform(-k, k, size=out_features).astype(dtype))
            )
        else:
            self.bias = None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class MaskedLinear(Linear):
    r"""Linear layer with a fixed 0/1 mask on its weights: :math:`y = x(M\odot W)^\top + b`.

    The mask (shape (out_features, in_features), a buffer in ``state_dict``) is applied
    once per forward; gradients of masked weights are exactly zero, so the mask keeps
    holding after optimizer steps (MADE: Germain et al., 2015).

    Parameters
    ----------
    in_features, out_features : int
    mask : array of shape (out_features, in_features)
    bias, dtype, random_state : as for :class:`Linear`.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        mask=None,
        bias: bool = True,
        dtype=np.float32,
        random_state=None,
    ):
        super().__init__(in_features, out_features, bias, dtype, random_state)
        if mask is None:
            mask = np.ones((out_features, in_features))
        self.set_mask(mask)

    def set_mask(self, mask) -> None:
        """Replace the mask (shape (out_features, in_features)); stored in the weight dtype."""
        shape = (self.out_features, self.in_features)
        if tuple(np.shape(mask)) != shape:
            raise ValueError(
                f"mask must have shape {_shape_str(shape)} (out_features, in_features), "
                f"got {_shape_str(np.shape(mask))}"
            )
        self.register_buffer("mask", get_backend().asarray(mask, dtype=self.weight.dtype))

    def _weight_buffer(self):
        r"""A buffer for :math:`M \odot W`, reused once no graph holds the previous one.

        Reuse is decided by reference count: while a recorded graph (not yet
        back-propagated, or kept with ``retain_graph``) references the previous buffer,
        a fresh one is allocated, so reuse never changes results. It saves one
        weight-sized allocation per forward pass.
        """
        buf = self.__dict__.get("_w_eff")
        w = self.weight.data
        # references when free: the instance dict, ``buf`` here, getrefcount's argument
        if buf is None or sys.getrefcount(buf) > 3 or buf.shape != w.shape or buf.dtype != w.dtype:
            buf = xp_of(w).empty_like(w)
            object.__setattr__(self, "_w_eff", buf)
        return buf

    def forward(self, x):
        buf = self._weight_buffer()
        return F.masked_linear(x, self.weight, self.mask, self.bias, out_weight=buf)
