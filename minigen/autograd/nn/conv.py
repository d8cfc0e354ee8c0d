r"""Convolution modules: ``Conv2d``, ``MaskedConv2d`` (PixelCNN masks A/B with colour groups),
``Conv1d`` and ``RowConv1d`` (masked 1-D convolution along an image row, PixelRNN).

PixelCNN masks (van den Oord et al., 2016): for a ``kh x kw`` kernel with centre
``(kh // 2, kw // 2)``, rows above the centre and pixels left of the centre in the centre
row are visible; pixels after the centre are not. At the centre itself channels are split
into ``n_groups`` contiguous colour groups (3 for RGB): an output channel of group ``g``
sees input groups ``< g`` (mask ``'A'``) or ``<= g`` (mask ``'B'``). With one group, mask A
hides the centre and mask B shows it.

References: van den Oord, Kalchbrenner, Kavukcuoglu, "Pixel recurrent neural networks"
(2016).
"""

from __future__ import annotations

import math

import numpy as np

from ..._validation import check_positive_int
from ...backend import get_backend
from ...random import check_random_state
from ..conv import _pair, conv1d, conv2d
from .module import Module, Parameter

__all__ = ["Conv2d", "MaskedConv2d", "Conv1d", "RowConv1d", "pixelcnn_mask"]


def _init_params(module, shape, fan_in, bias, dtype, random_state):
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a floating dtype, got {dtype}")
    rng = check_random_state(random_state)
    k = 1.0 / math.sqrt(fan_in)
    backend = get_backend()
    module.weight = Parameter(backend.asarray(rng.uniform(-k, k, size=shape).astype(dtype)))
    module.bias = (
        Parameter(backend.asarray(rng.uniform(-k, k, size=shape[0]).astype(dtype)))
        if bias else None
    )


def _group_of(n_channels: int, n_groups: int, name: str) -> np.ndarray:
    if n_channels % n_groups:
        raise ValueError(
            f"{name}={n_channels} is not divisible by n_groups={n_groups} (colour groups)"
        )
    return np.arange(n_channels) // (n_channels // n_groups)


def pixelcnn_mask(out_channels, in_channels, kh, kw, mask_type, n_groups=1) -> np.ndarray:
    """0/1 mask of shape ``(out_channels, in_channels, kh, kw)`` for a PixelCNN layer."""
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    n_groups = check_positive_int(n_groups, "n_groups")
    gin = _group_of(in_channels, n_groups, "in_channels")
    gout = _group_of(out_channels, n_groups, "out_channels")
    ci, cj = kh // 2, kw // 2
    m = np.zeros((out_channels, in_channels, kh, kw))
    m[:, :, :ci, :] = 1
    m[:, :, ci, :cj] = 1
    if mask_type == "A":
        m[:, :, ci, cj] = gin[None, :] < gout[:, None]
    else:
        m[:, :, ci, cj] = gin[None, :] <= gout[:, None]
    return m


class _Conv(Module):
    """What 1-D and 2-D convolutions share: the channel counts and the repr."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = check_positive_int(out_channels, "out_channels")

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class Conv2d(_Conv):
    r"""2-D convolution ``(N, C_in, H, W) -> (N, C_out, H_o, W_o)``.

    ``H_o = (H + 2 padding - dilation (k - 1) - 1) // stride + 1``. Weight ``(C_out, C_in,
    kh, kw)`` and bias ``(C_out,)`` start from :math:`U(-1/\sqrt{C_{in} k_h k_w}, +)`
    (torch's default kaiming-uniform).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, bias=True, dtype=np.float32, random_state=None):
        super().__init__(in_channels, out_channels)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        if min(self.kernel_size) < 1:
            raise ValueError(f"kernel_size must be >= 1, got {kernel_size!r}")
        self.stride, self.padding = _pair(stride, "stride"), _pair(padding, "padding")
        self.dilation = _pair(dilation, "dilation")
        kh, kw = self.kernel_size
        _init_params(self, (out_channels, in_channels, kh, kw), in_channels * kh * kw,
                     bias, dtype, random_state)

    def _weight(self):
        return self.weight, None

    def forward(self, x):
        w, taps = self._weight()
        return conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, taps=taps)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", dilation={self.dilation}"


class MaskedConv2d(Conv2d):
    """PixelCNN masked convolution (mask ``'A'`` or ``'B'``), "same" padding ``k // 2``.

    The mask (a buffer) multiplies the weight once per forward; kernel positions the mask
    removes entirely are skipped in the im2col product. Odd kernel sizes only.
    """

    def __init__(self, in_channels, out_channels, kernel_size, mask_type="B", n_groups=1,
                 bias=True, dtype=np.float32, random_state=None):
        kh, kw = _pair(kernel_size, "kernel_size")
        if kh % 2 == 0 or kw % 2 == 0:
            raise ValueError(f"MaskedConv2d needs an odd kernel_size, got {(kh, kw)}")
        mask = pixelcnn_mask(out_channels, in_channels, kh, kw, mask_type, n_groups)
        super().__init__(in_channels, out_channels, (kh, kw), 1, (kh // 2, kw // 2), 1,
                         bias, dtype, random_state)
        self.mask_type, self.n_groups = mask_type, int(n_groups)
        self.register_buffer("mask", get_backend().asarray(mask, dtype=self.weight.dtype))
        keep = mask.any(axis=(0, 1))
        self._taps = tuple((i, j) for i in range(kh) for j in range(kw) if keep[i, j])

    def _weight(self):
        return self.weight * self.mask, self._taps

    def extra_repr(self) -> str:
        return super().extra_repr() + f", mask_type={self.mask_type!r}, n_groups={self.n_groups}"


class Conv1d(_Conv):
    """1-D convolution over sequences ``(N, C_in, W) -> (N, C_out, W_o)``."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, bias=True, dtype=np.float32, random_state=None):
        super().__init__(in_channels, out_channels)
        self.kernel_size = check_positive_int(kernel_size, "kernel_size")
        self.stride, self.padding, self.dilation = int(stride), int(padding), int(dilation)
        _init_params(self, (out_channels, in_channels, self.kernel_size),
                     in_channels * self.kernel_size, bias, dtype, random_state)

    def forward(self, x):
        return conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)


class RowConv1d(Conv1d):
    """Width-preserving ``1 x k`` convolution along a row ``(N, C, W) -> (N, C_out, W)``.

    With ``mask_type`` ``'A'``/``'B'`` position ``j`` sees only positions ``< j`` (plus
    the centre by the colour-group rule): PixelRNN's masked input-to-state convolution.
    With ``mask_type=None`` it is the unmasked state-to-state convolution of the previous
    row's state. Odd ``kernel_size`` only.
    """

    def __init__(self, in_channels, out_channels, kernel_size=3, mask_type=None, n_groups=1,
                 bias=True, dtype=np.float32, random_state=None):
        k = check_positive_int(kernel_size, "kernel_size")
        if k % 2 == 0:
            raise ValueError(f"RowConv1d needs an odd kernel_size, got {k}")
        super().__init__(in_channels, out_channels, k, 1, k // 2, 1, bias, dtype, random_state)
        self.mask_type, self.n_groups = mask_type, int(n_groups)
        self._taps = None
        if mask_type is not None:
            # the centre row of a 1 x k PixelCNN mask
            mask = pixelcnn_mask(out_channels, in_channels, 1, k, mask_type, n_groups)[:, :, 0]
            self.register_buffer("mask", get_backend().asarray(mask, dtype=self.weight.dtype))
            keep = mask.any(axis=(0, 1))
            self._taps = tuple(j for j in range(k) if keep[j])

    def forward(self, x):
        w = self.weight if self.mask_type is None else self.weight * self.mask
        return conv1d(x, w, self.bias, 1, self.padding, 1, taps=self._taps)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", mask_type={self.mask_type!r}"
