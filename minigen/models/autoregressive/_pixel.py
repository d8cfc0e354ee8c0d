r"""Shared pieces of the convolutional / recurrent pixel models (PixelCNN, PixelRNN).

* :class:`CausalConv`: a convolution whose kernel covers rows ``r - up .. r`` and columns
  ``c - left .. c + right`` of output pixel ``(r, c)`` (zero padding above and on the
  sides, none below), so its output never reads rows below. ``mask`` ``"A"``/``"B"``
  restricts the current (last) kernel row to the columns left of the centre plus the
  centre by the colour-group rule (A: input groups ``< g``, B: ``<= g``; one group:
  A hides the centre, B shows it); ``None`` keeps the whole kernel (the vertical stack
  of the gated PixelCNN, whose output is shifted down a row before use). A ``k x k``
  PixelCNN mask is ``CausalConv(up=k//2, left=k//2, right=k//2, mask=...)``: the rows
  below the centre, entirely masked, are simply not stored. Taps the mask removes are
  skipped in the im2col product.
  For cached sampling it can evaluate one output pixel (:meth:`CausalConv.at`) or one
  output row (:meth:`CausalConv.row`) from a padded activation buffer.
* :func:`logistic_logits`: the discretized logistic mixture head as ``K`` exact log-
  probabilities (usable as categorical logits: they are already normalized).
* :class:`PixelModel`: an :class:`AutoregressiveModel` over 2-D images (raster order,
  optional colour channels ``(H, W, G)``), with the output-head choice.

References: van den Oord et al., "Pixel recurrent neural networks" (2016); Salimans et al.,
"PixelCNN++" (2017).
"""

from __future__ import annotations

import math

import numpy as np

from ..._validation import check_choice, check_positive_int
from ...autograd import F, Tensor, nn
from ...autograd.conv import conv2d, conv2d_forward
from ...backend import get_backend
from ...base import reserve
from ...params import Param, one_of, positive_int
from .base import AutoregressiveModel

HEAD = Param("auto", "output distribution per pixel: 'auto' (Bernoulli for K = 2, else "
             "K-way softmax), 'categorical', or 'logistic' (a mixture of n_mix discretized "
             "logistics, for 8-bit data)", one_of("auto", "categorical", "logistic"))
N_MIX = Param(5, "logistic mixture components (head='logistic')", positive_int)

__all__ = ["CausalConv", "PixelModel", "logistic_logits", "gate"]


def gate(z: Tensor) -> Tensor:
    """Gated activation ``tanh(a) * sigmoid(b)`` of the two channel halves of ``z`` (axis 1)."""
    c = z.shape[1] // 2
    return F.tanh(z[:, :c]) * F.sigmoid(z[:, c:])


class CausalConv(nn.Module):
    """``(N, C_in, H, W) -> (N, C_out, H, W)`` causal (masked) convolution (module docstring)."""

    def __init__(self, cin, cout, up=0, left=0, right=0, mask="B", n_groups=1,
                 dtype=np.float32, rng=None):
        super().__init__()
        self.cin, self.cout, self.up, self.left, self.right = cin, cout, up, left, right
        self.mask_type = mask
        kh, kw = up + 1, left + right + 1
        reserve(rng, 2 * cout * cin * kh * kw)  # the mask, before the weights are drawn
        m = np.ones((cout, cin, kh, kw))
        if mask is not None:
            if cin % n_groups or cout % n_groups:
                raise ValueError(
                    f"channels ({cin} in, {cout} out) must be divisible by the {n_groups} "
                    "colour groups"
                )
            gin = np.arange(cin) // (cin // n_groups)
            gout = np.arange(cout) // (cout // n_groups)
            m[:, :, up, left + 1:] = 0
            centre = gin[None, :] < gout[:, None] if mask == "A" else gin[None] <= gout[:, None]
            m[:, :, up, left] = centre
        keep = m.any(axis=(0, 1))
        self._taps = tuple((i, j) for i in range(kh) for j in range(kw) if keep[i, j])
        fan_in = max(1.0, m.sum() / cout)
        k = 1.0 / math.sqrt(fan_in)
        be = get_backend()
        self.weight = nn.Parameter(be.asarray((rng.uniform(-k, k, (cout, cin, kh, kw)) * m)
                                              .astype(dtype)))
        self.bias = nn.Parameter(be.asarray(rng.uniform(-k, k, cout).astype(dtype)))
        self.register_buffer("mask", be.asarray(m.astype(dtype)))
        self._full = bool(m.all())

    def masked_weight(self):
        return self.weight if self._full else self.weight * self.mask

    def forward(self, x: Tensor) -> Tensor:
        if self.up or self.left or self.right:
            x = F.pad(x, ((0, 0), (0, 0), (self.up, 0), (self.left, self.right)))
        return conv2d(x, self.masked_weight(), self.bias, taps=self._taps)

    # ---------------------------------------------------------------- incremental (no grad)
    def freeze(self) -> None:
        """Cache the masked weight as a ``(C_out, C_in T)`` matrix for :meth:`at`."""
        xp = get_backend().xp
        w = self.weight.data * self.mask
        ti = xp.asarray([t[0] for t in self._taps])
        tj = xp.asarray([t[1] for t in self._taps])
        self._ti, self._tj = ti, tj
        self._wm = w
        self._w2t = xp.ascontiguousarray(w[:, :, ti, tj].reshape(self.cout, -1).T)

    def point(self, v):
        """A ``1 x 1`` conv applied to one pixel's features ``v (N, C_in) -> (N, C_out)``."""
        return v @ self._w2t + self.bias.data

    def at(self, buf, r: int, c: int, pad):
        """Output at pixel ``(r, c)``, ``(N, C_out)``, from a padded buffer
        ``(N, C_in, H + pt, W + pl + pr)`` whose pixel ``(r, c)`` sits at
        ``[r + pt, c + pl]`` (``pad = (pt, pl)``)."""
        pt, pl = pad
        win = buf[:, :, r + pt - self.up:r + pt + 1, c + pl - self.left:c + pl + self.right + 1]
        return win[:, :, self._ti, self._tj].reshape(buf.shape[0], -1) @ self._w2t + self.bias.data

    def row(self, buf, r: int, width: int, pad):
        """Output row ``r`` ``(N, C_out, W)`` from a padded buffer (see :meth:`at`)."""
        pt, pl = pad
        win = buf[:, :, r + pt - self.up:r + pt + 1, pl - self.left:pl + width + self.right]
        y, _ = conv2d_forward(win, self._wm, self.bias.data, taps=self._taps)
        return y[:, :, 0, :]


def logistic_logits(params: Tensor, n_bins: int) -> Tensor:
    r"""Log-probabilities ``(..., n_bins)`` of every value under a discretized logistic mixture.

    ``params (..., 3 M)``: mixture logits, means (on the ``[-1, 1]`` scale) and log-scales
    (clipped to ``[-7, 4]``). Bin ``k`` is ``[y_k - 1/(K-1), y_k + 1/(K-1)]`` around
    :math:`y_k = 2k/(K-1) - 1`, the edge bins open to :math:`\pm\infty` (see
    :class:`minigen.distributions.DiscretizedLogisticMixture`); interior bins use
    :math:`\log(\sigma(a) - \sigma(b)) = \log\sigma(a) + \log\sigma(-b) + \log(1 - e^{b-a})`.
    The result sums to one over the last axis, so it serves directly as categorical logits.
    """
    xp = get_backend().xp
    m = params.shape[-1] // 3
    lw = F.log_softmax(params[..., :m], axis=-1)
    mu = params[..., m:2 * m]
    ls = F.clip(params[..., 2 * m:], -7.0, 4.0)
    half = 1.0 / (n_bins - 1)
    y = xp.asarray(2.0 * np.arange(n_bins) / (n_bins - 1) - 1.0, dtype=params.dtype)
    y = y.reshape((1,) * (params.ndim - 1) + (n_bins, 1))
    inv_s = F.expand_dims(F.exp(-ls), -2)  # (..., 1, M)
    mu = F.expand_dims(mu, -2)
    a = (y + half - mu) * inv_s
    b = (y - half - mu) * inv_s
    width = F.log(1.0 - F.exp(-2.0 * half * inv_s))  # log(1 - e^{b - a}) > -inf
    interior = F.log_sigmoid(a) + F.log_sigmoid(-b) + width
    k = xp.arange(n_bins).reshape((1,) * (params.ndim - 1) + (n_bins, 1))
    comp = F.where(k == 0, F.log_sigmoid(a), F.where(k == n_bins - 1, F.log_sigmoid(-b), interior))
    return F.logsumexp(comp + F.expand_dims(lw, -2), axis=-1)


class PixelModel(AutoregressiveModel):
    """Base of the pixel models: images ``(H, W)`` or ``(H, W, G)``, raster order only.

    ``head``: ``"auto"`` (Bernoulli logit for K = 2, K-way softmax otherwise),
    ``"categorical"`` (K logits even for K = 2) or ``"logistic"`` (a mixture of
    ``n_mix`` discretized logistics over the K values, for 8-bit data). Inputs are the
    value (K = 2), one-hot (K <= 32) or the scaled intensity ``2x/(K-1) - 1`` (K > 32).
    """

    supported_orderings = ("natural",)
    supports_colour = False

    def _image_dims(self):
        s = self.image_shape_
        if len(s) == 1:
            return 1, s[0], 1
        if len(s) == 2:
            return s[0], s[1], 1
        if len(s) == 3 and self.supports_colour:
            return s
        raise ValueError(
            f"{type(self).__name__} needs images of shape (H, W)"
            + (" or (H, W, G)" if self.supports_colour else "")
            + f", got examples of shape {s}"
        )

    def _head_kind(self) -> str:
        head = check_choice(getattr(self, "head", "auto"), "head",
                            ("auto", "categorical", "logistic"))
        if head == "auto":
            return "bernoulli" if self.n_categories_ == 2 else "categorical"
        return head

    def _k_out(self) -> int:
        kind = self._head_kind()
        if kind == "logistic":
            return 3 * check_positive_int(getattr(self, "n_mix", 5), "n_mix")
        return 1 if kind == "bernoulli" else self.n_categories_

    def _n_input_channels(self) -> int:
        k = self.n_categories_
        return 1 if (k == 2 or k > 32) else k

    def _encode(self, x):
        xp = get_backend().xp
        k = self.n_categories_
        if k == 2:
            return x.astype(self.dtype_)[..., None]
        if k > 32:
            return (2.0 * x / (k - 1) - 1.0).astype(self.dtype_)[..., None]
        return (x[..., None] == xp.arange(k)).astype(self.dtype_)

    # (n, D, C) <-> (n, G C, H, W)
    def _to_image(self, h: Tensor) -> Tensor:
        hh, ww, g = self._image_dims()
        n, c = h.shape[0], h.shape[2]
        return F.transpose(F.reshape(h, (n, hh, ww, g * c)), (0, 3, 1, 2))

    def _logits(self, h):
        return self._from_image(self.net_(self._to_image(h)))

    def _from_image(self, z: Tensor) -> Tensor:
        hh, ww, g = self._image_dims()
        n = z.shape[0]
        out = F.reshape(F.transpose(z, (0, 2, 3, 1)), (n, hh * ww * g, -1))
        return self._finish(out)

    def _finish(self, out: Tensor) -> Tensor:
        """Head parameters ``(n, D', K_out)`` -> logits ``(n, D')`` or ``(n, D', K)``."""
        kind = self._head_kind()
        if kind == "bernoulli":
            return F.reshape(out, out.shape[:2])
        if kind == "logistic":
            return logistic_logits(out, self.n_categories_)
        return out

    def _pixel_logits(self, out, g: int):
        """Sampler: head output of one pixel ``(n, G K_out)`` -> logits of channel ``g``."""
        n = out.shape[0]
        kout = out.shape[1] // self._image_dims()[2]
        o = Tensor(out[:, g * kout:(g + 1) * kout].reshape(n, 1, kout))
        return self._finish(o).data[:, 0]
