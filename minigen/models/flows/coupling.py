r"""Coupling layers (NICE additive, RealNVP affine), masks and conditioner networks.

With a binary mask :math:`m` (1 = conditioning, passed through unchanged):

* additive (NICE): :math:`y = x + (1 - m) \odot t(m \odot x)`, :math:`\log|\det| = 0`;
* affine (RealNVP): :math:`y = x \odot e^{s} + t` with
  :math:`s = (1-m) \odot b \tanh(\tilde s / b)`, :math:`t = (1-m) \odot \tilde t`,
  :math:`(\tilde s, \tilde t) = \mathrm{net}(m \odot x)`,
  :math:`\log|\det| = \sum_j s_j`.

The scale is bounded, :math:`|s_j| < b` (``scale_bound``), so no single layer can
overflow ``exp`` or collapse a dimension; near 0 it is the identity, :math:`s \approx \tilde s`.
The inverse recomputes ``(s, t)`` from :math:`m \odot y = m \odot x`.

Masks: :func:`alternating_mask` / :func:`half_mask` / :func:`random_half_mask` for
vectors ``(D,)``;
:func:`checkerboard_mask` and :func:`channel_mask` for images ``(C, H, W)``. The
element-wise work runs in the fused kernels of :mod:`minigen.autograd.coupling_ops`
(NumPy reference, Numba or CUDA by backend). Conditioners end in a zero-initialised
layer, so every coupling starts as the identity.

Inference without the tape: under :func:`~minigen.autograd.no_grad` (sampling,
``score_samples``) the conditioners run as plain array code (:meth:`ConvConditioner.forward_array`,
:meth:`MLPConditioner.forward_array`): convolutions keep a channel-major ``(C, N, H, W)`` layout
between layers (a 1x1 convolution is one matrix product), and a 3x3 convolution with
fewer output than input channels (the last, zero-initialised layer) multiplies first and
adds the 9 shifted ``(O, N, H, W)`` tap products, instead of copying its input 9 times
(im2col). Vector couplings with an MLP conditioner then work on index sets instead of
masks: the first layer reads only the conditioning columns (its weight's matching
columns), the last computes only the rows for the transformed columns, and the fused
kernel touches only those (about half the work of the masked form,
:meth:`MLPConditioner.forward_subset`). Either way ``forward`` and ``inverse`` are each one
method, and the element-wise update is the same kernel; the two ways of evaluating the
conditioner agree to float rounding (tested).

References: Dinh, Krueger, Bengio (2015) NICE; Dinh, Sohl-Dickstein, Bengio (2017)
RealNVP.
"""

from __future__ import annotations

import numpy as np

from ...autograd import F, Tensor, is_grad_enabled
from ...autograd.coupling_ops import additive_coupling, affine_coupling
from ...autograd.nn import Conv2d, Linear, Module, ReLU, Sequential, Tanh
from ...backend import get_backend, xp_of
from ...random import check_random_state
from .base import Transform, as_input, zero_logdet

__all__ = [
    "alternating_mask", "half_mask", "random_half_mask", "checkerboard_mask", "channel_mask",
    "MLPConditioner", "ConvConditioner", "AdditiveCoupling", "AffineCoupling",
]  # fmt: skip


def alternating_mask(d: int, parity: int = 0) -> np.ndarray:
    """``(d,)`` mask with 1 on even (``parity=0``) or odd indices."""
    return ((np.arange(d) + parity) % 2 == 0).astype(np.float64)


def half_mask(d: int, first: bool = True) -> np.ndarray:
    """``(d,)`` mask with 1 on the first ``ceil(d/2)`` entries (the rest when ``first=False``)."""
    m = (np.arange(d) < (d + 1) // 2).astype(np.float64)
    return m if first else 1.0 - m


def random_half_mask(d: int, index: int = 0) -> np.ndarray:
    """``(d,)`` mask with 1 on a random ``ceil(d/2)`` of the entries: the ``index``-th of a
    fixed seeded sequence (the same for every call with the same ``(d, index)``)."""
    perm = np.random.default_rng([d, index]).permutation(d)
    m = np.zeros(d)
    m[perm[: (d + 1) // 2]] = 1.0
    return m


def checkerboard_mask(c: int, h: int, w: int, parity: int = 0) -> np.ndarray:
    """``(c, h, w)`` mask with 1 where ``(i + j + parity)`` is even."""
    ij = np.add.outer(np.arange(h), np.arange(w)) + parity
    return np.broadcast_to((ij % 2 == 0).astype(np.float64), (c, h, w)).copy()


def channel_mask(c: int, h: int, w: int, first: bool = True) -> np.ndarray:
    """``(c, h, w)`` mask with 1 on the first ``c // 2`` channels (the others if not ``first``)."""
    if c < 2:
        raise ValueError(f"a channel mask needs at least 2 channels, got {c}")
    m = np.zeros((c, h, w))
    m[: c // 2] = 1.0
    return m if first else 1.0 - m


def _activation(name: str) -> Module:
    if name == "relu":
        return ReLU()
    if name == "tanh":
        return Tanh()
    raise ValueError(f"activation must be 'relu' or 'tanh', got {name!r}")


def _act_inplace(xp, a, name: str):
    if name == "relu":
        return xp.maximum(a, 0, out=a)
    return xp.tanh(a, out=a)


def _conv_same_cm(xp, x, w, b):
    """Stride-1 "same" convolution on a channel-major ``x`` ``(C, N, H, W)`` (contiguous)
    with weight ``(O, C, k, k)`` (odd ``k``); returns a contiguous ``(O, N, H, W)``.

    ``C <= O``: im2col on the small input (``k^2 C`` rows) and one product. ``C > O``:
    one product gives all ``k^2`` tap outputs ``P_t = W_t x``; tap ``(i, j)`` then adds
    ``P_t`` shifted by the flat offset ``(i - p) W + (j - p)`` within each image (long
    contiguous runs), after zeroing the column that a horizontal shift would wrap into
    the neighbouring row.
    """
    o, c, k, _ = w.shape
    _, n, h, wd = x.shape
    p = k // 2
    if k == 1:
        y = (w.reshape(o, c) @ x.reshape(c, -1)).reshape(o, n, h, wd)
    elif c <= o:
        xpad = xp.zeros((c, n, h + 2 * p, wd + 2 * p), dtype=x.dtype)
        xpad[:, :, p:p + h, p:p + wd] = x
        cols = xp.empty((c, k * k, n, h, wd), dtype=x.dtype)
        for i in range(k):
            for j in range(k):
                cols[:, i * k + j] = xpad[:, :, i:i + h, j:j + wd]
        y = (w.reshape(o, c * k * k) @ cols.reshape(c * k * k, -1)).reshape(o, n, h, wd)
    else:
        hw = h * wd
        taps = (xp.ascontiguousarray(w.transpose(2, 3, 0, 1)).reshape(k * k * o, c)
                @ x.reshape(c, -1)).reshape(k, k, o, n, h, wd)
        y = taps[p, p].copy()
        yf = y.reshape(o, n, hw)
        for i in range(k):
            for j in range(k):
                di, dj = i - p, j - p
                if (di == 0 and dj == 0) or abs(di) >= h or abs(dj) >= wd:
                    continue
                src = taps[i, j]
                if dj > 0:
                    src[..., :dj] = 0
                elif dj < 0:
                    src[..., wd + dj:] = 0
                off = di * wd + dj
                sf = src.reshape(o, n, hw)
                yf[:, :, max(0, -off):hw - max(0, off)] += sf[:, :, max(0, off):hw - max(0, -off)]
    if b is not None:
        y += b.reshape(o, 1, 1, 1)
    return y


def layer_stack(make_layer, width, hidden, n_hidden, out_width, activation) -> Sequential:
    """``n_hidden`` blocks (``make_layer(i, width_in, hidden)``, activation) and a last layer
    ``make_layer(n_hidden, hidden, out_width)`` initialised to zero, so that a coupling starts
    as the identity."""
    layers = []
    for i in range(n_hidden):
        layers += [make_layer(i, width, hidden), _activation(activation)]
        width = hidden
    last = make_layer(n_hidden, width, out_width)
    last.weight.data[...] = 0
    if last.bias is not None:
        last.bias.data[...] = 0
    return Sequential(*layers, last)


class MLPConditioner(Module):
    """``(N, D) -> (N, out_mult * D)``: Linear-act blocks, zero-initialised last layer."""

    def __init__(self, d, hidden=64, n_hidden=2, out_mult=2, activation="relu",
                 dtype=np.float32, random_state=None):
        super().__init__()
        rng = check_random_state(random_state)
        self.net = layer_stack(
            lambda i, w_in, w_out: Linear(w_in, w_out, dtype=dtype, random_state=rng),
            d, hidden, n_hidden, out_mult * d, activation)
        self.activation = activation

    def forward(self, x):
        return self.net(x)

    def forward_array(self, x):
        """Plain-array forward (no autograd tape): ``(N, D)`` array -> ``(N, out_mult D)``."""
        xp = xp_of(x)
        layers = list(self.net)
        h = x
        for lin in layers[::2]:
            h = h @ lin.weight.data.T
            if lin.bias is not None:
                h += lin.bias.data
            if lin is not layers[-1]:
                _act_inplace(xp, h, self.activation)
        return h

    def forward_subset(self, x_in, in_idx, out_idx):
        """``forward_array`` restricted to index sets: ``x_in = x[:, in_idx]`` (all other inputs
        are zero) -> the ``out_idx`` columns of the output, ``(N, len(out_idx))``. Only the
        matching columns of the first weight and rows of the last are used."""
        xp = xp_of(x_in)
        layers = list(self.net)[::2]
        h = x_in
        for i, lin in enumerate(layers):
            w, b = lin.weight.data, lin.bias.data if lin.bias is not None else None
            if i == 0:
                w = w[:, in_idx]
            if i == len(layers) - 1:
                w = w[out_idx]
                b = None if b is None else b[out_idx]
            h = h @ w.T
            if b is not None:
                h += b
            if i < len(layers) - 1:
                _act_inplace(xp, h, self.activation)
        return h


class ConvConditioner(Module):
    """``(N, C, H, W) -> (N, out_mult * C, H, W)``: 3x3 conv, 1x1 conv, 3x3 zero-init conv."""

    def __init__(self, c, hidden=32, n_hidden=2, out_mult=2, activation="relu",
                 dtype=np.float32, random_state=None):
        super().__init__()
        rng = check_random_state(random_state)

        def conv(i, w_in, w_out):  # 3x3 first and last, 1x1 between
            k = 3 if i in (0, n_hidden) else 1
            return Conv2d(w_in, w_out, k, padding=k // 2, dtype=dtype, random_state=rng)

        self.net = layer_stack(conv, c, hidden, n_hidden, out_mult * c, activation)
        self.activation = activation

    def forward(self, x):
        return self.net(x)

    def forward_array(self, x):
        """Plain-array forward (no autograd tape, channel-major inside; see the module
        docstring): ``(N, C, H, W)`` array -> ``(N, out_mult C, H, W)`` (a transposed view)."""
        xp = xp_of(x)
        layers = list(self.net)
        h = xp.ascontiguousarray(x.transpose(1, 0, 2, 3))
        for conv in layers[::2]:
            h = _conv_same_cm(xp, h, conv.weight.data,
                              None if conv.bias is None else conv.bias.data)
            if conv is not layers[-1]:
                _act_inplace(xp, h, self.activation)
        return h.transpose(1, 0, 2, 3)


class _MaskedCoupling(Transform):
    def __init__(self, mask, conditioner: Module):
        super().__init__()
        mask = np.asarray(mask, dtype=np.float64)
        if not np.all((mask == 0) | (mask == 1)):
            raise ValueError("mask must hold only 0 and 1")
        if mask.all() or not mask.any():
            raise ValueError("mask must have both 0s (transformed) and 1s (conditioning)")
        self.conditioner = conditioner
        be = get_backend()
        self.register_buffer("mask", be.asarray(mask))
        self.register_buffer("inv_mask", be.asarray(1.0 - mask))
        # index sets for the tape-free inverse of vector couplings with an MLP conditioner
        self._sub = None
        if mask.ndim == 1 and isinstance(conditioner, MLPConditioner):
            c_idx, t_idx = np.flatnonzero(mask), np.flatnonzero(mask == 0)
            self._sub = tuple(be.asarray(i) for i in (
                c_idx, t_idx, np.concatenate([t_idx + k * mask.size for k in range(2)])))

    def _check(self, x, name):
        x = as_input(x, name)
        if tuple(x.shape[1:]) != tuple(self.mask.shape):
            raise ValueError(
                f"{name} must have examples of shape {tuple(self.mask.shape)}, "
                f"got array of shape {tuple(x.shape)}"
            )
        return x

    def _masks(self, x):
        return self.mask.astype(x.dtype, copy=False), self.inv_mask.astype(x.dtype, copy=False)

    def _condition(self, x):
        """``conditioner(x)``; the tape-free :meth:`forward_array` path when no gradient is
        recorded."""
        forward_array = getattr(self.conditioner, "forward_array", None)
        if forward_array is None or is_grad_enabled():
            return self.conditioner(x)
        return Tensor(forward_array(x.data))

    def _split(self, h, n_chunks=2):
        c = h.shape[1] // n_chunks
        return [h[:, i * c:(i + 1) * c] for i in range(n_chunks)]


class AdditiveCoupling(_MaskedCoupling):
    r"""NICE coupling :math:`y = x + (1-m) \odot t(m \odot x)` (volume preserving).

    ``conditioner`` maps ``(N, *event)`` to ``(N, *event)`` (use ``out_mult=1``).
    """

    def _shift(self, x):
        m, im = self._masks(x)
        return self._condition(x * m) * im

    def _couple(self, x, inverse):
        if self._sub is not None and not is_grad_enabled():
            c_idx, t_idx, _ = self._sub
            xd = x.data
            t = self.conditioner.forward_subset(xd[:, c_idx], c_idx, t_idx)
            y = xd.copy()
            y[:, t_idx] = additive_coupling(xd[:, t_idx], t, inverse=inverse).data
            return Tensor(y), zero_logdet(x)
        return additive_coupling(x, self._shift(x), inverse=inverse), zero_logdet(x)

    def forward(self, x):
        return self._couple(self._check(x, "x"), False)

    def inverse(self, z):
        return self._couple(self._check(z, "z"), True)


class AffineCoupling(_MaskedCoupling):
    r"""RealNVP coupling :math:`y = x e^{s} + t`, :math:`s = (1-m)\, b \tanh(\tilde s/b)`.

    Parameters
    ----------
    mask : array, the event shape ``(D,)`` or ``(C, H, W)``; 1 marks conditioning entries.
    conditioner : Module
        ``(N, *event) -> (N, 2 * first_dim, ...)``: raw log-scale then shift, split in
        half along axis 1.
    scale_bound : float
        ``b`` above: every ``|s_j| < b``.
    """

    def __init__(self, mask, conditioner: Module, scale_bound: float = 2.0):
        super().__init__(mask, conditioner)
        if not scale_bound > 0:
            raise ValueError(f"scale_bound must be > 0, got {scale_bound}")
        self.scale_bound = float(scale_bound)

    def _scale_shift(self, x):
        m, im = self._masks(x)
        raw, t = self._split(self._condition(x * m))
        b = self.scale_bound
        s = F.tanh(raw * (1.0 / b)) * (b * im)
        return s, t * im

    def _couple(self, x, inverse):
        if self._sub is not None and not is_grad_enabled():
            c_idx, t_idx, out_idx = self._sub
            xd = x.data
            raw, t = self._split(self.conditioner.forward_subset(xd[:, c_idx], c_idx, out_idx))
            b = self.scale_bound
            s = xp_of(raw).tanh(raw * (1.0 / b))
            s *= b
            y2, logdet = affine_coupling(xd[:, t_idx], s, t, inverse=inverse)
            y = xd.copy()
            y[:, t_idx] = y2.data
            return Tensor(y), logdet
        s, t = self._scale_shift(x)
        return affine_coupling(x, s, t, inverse=inverse)

    def forward(self, x):
        return self._couple(self._check(x, "x"), False)

    def inverse(self, z):
        return self._couple(self._check(z, "z"), True)

    def extra_repr(self) -> str:
        return f"scale_bound={self.scale_bound}"
