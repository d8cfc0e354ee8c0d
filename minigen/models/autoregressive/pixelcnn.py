r"""PixelCNN and gated PixelCNN, with cached (incremental) sampling.

**PixelCNN** (``"pixelcnn"``). A ``k_0 x k_0`` mask-A convolution (pixel :math:`(r, c)`
sees rows above and the pixels left of it, not itself), then ``n_layers`` residual blocks

.. math::

    h \leftarrow h + W_{1\times1} * \mathrm{ReLU}\big(W^{B}_{k\times k} * \mathrm{ReLU}(h)\big)

with mask-B ``k x k`` convolutions (the centre visible: features at :math:`(r, c)` already
depend only on pixels before :math:`(r, c)`), and a ``1 x 1`` head
``ReLU -> 1x1 -> ReLU -> 1x1``. Each layer grows the receptive field by ``k // 2`` rows
up and columns to either side, but never to the upper right beyond the diagonal cone:
the *blind spot* (a mask-B ``3 x 3`` stack at ``(r, c)`` never sees ``(r - 1, c + 2)``).
Colour images ``(H, W, G)`` use ``G`` channel groups in every mask (group ``g`` sees the
groups ``< g`` of the current pixel), so channel ``g`` of a pixel is conditioned on
channels ``< g`` of the same pixel (raster order with channels last).

**Gated PixelCNN** (``"gated-pixelcnn"``). Two stacks remove the blind spot: a vertical
stack :math:`v_{l+1} = \tanh(a) \odot \sigma(b)`, :math:`(a, b) = W_v * v_l` with a
``(k//2 + 1) x k`` kernel over the current and ``k // 2`` rows above (all columns of the
window), and a horizontal stack over the current row, ``1 x (k//2 + 1)`` (mask A on the
first layer, B after), which receives the vertical pre-activations *shifted down by one
row* through a ``1 x 1`` link, is gated the same way and is residual:

.. math::

    h_{l+1} = h_l + W_{1\times1} \big[\tanh(a_h)\odot\sigma(b_h)\big], \quad
    (a_h, b_h) = W_h * h_l + W_{link} * \mathrm{down}(W_v * v_l).

Output :math:`(r, c)` therefore sees the whole cone of rows above (no blind spot) and
everything to its left in the current row. Grey-level images only.

**Cached sampling.** Every feature at :math:`(r, c)` depends on pixels before
:math:`(r, c)` only, so once computed it never changes. The sampler keeps zero-padded
buffers of every layer's input and, at step :math:`t`, writes the pixel sampled at
:math:`t - 1` and evaluates each layer at the current pixel only, from the cached
``k x k`` window of its input (the gated model's vertical stack is evaluated one full
row at the start of each row, when the row above is complete). A whole sample thus costs
about one forward pass of work instead of :math:`D`; ``sample(..., use_cache=False)``
recomputes the full teacher-forced pass at each step. Both consume the same uniforms,
so they give the same samples for the same seed (up to float rounding at a threshold).

References: van den Oord, Kalchbrenner, Kavukcuoglu, "Pixel recurrent neural networks"
(ICML 2016); van den Oord et al., "Conditional image generation with PixelCNN decoders"
(NeurIPS 2016); Ramachandran et al., "Fast generation for convolutional autoregressive
models" (2017).
"""

from __future__ import annotations

from ..._validation import check_positive_int
from ...autograd import F, Tensor, nn, no_grad
from ...backend import get_backend
from ...base import DRAW_CALL_COST, register_model, reserve
from ...params import Param, positive_int
from ._pixel import HEAD, N_MIX, CausalConv, PixelModel, gate
from .base import DTYPE, N_CATEGORIES, CachedSampling

__all__ = ["PixelCNN", "GatedPixelCNN"]


def _odd(k, name):
    k = check_positive_int(k, name)
    if k % 2 == 0:
        raise ValueError(f"{name} must be odd, got {k}")
    return k


def _relu(a):
    return get_backend().xp.maximum(a, 0)


class _Head(nn.Module):
    def __init__(self, c, k_out, g, dtype, rng):
        super().__init__()
        self.fc1 = CausalConv(c, c, mask="B", n_groups=g, dtype=dtype, rng=rng)
        self.fc2 = CausalConv(c, k_out, mask="B", n_groups=g, dtype=dtype, rng=rng)

    def forward(self, h):
        return self.fc2(F.relu(self.fc1(F.relu(h))))

    def point(self, h):
        return self.fc2.point(_relu(self.fc1.point(_relu(h))))


class _SamplerMixin(CachedSampling):
    """What the cached pixel samplers share: the frozen network, pixel positions, buffers."""

    def _frozen_net(self):
        """``net_`` with its causal convolutions frozen for the cached sampler; None when
        ``sample(use_cache=False)`` asked for full passes."""
        if not self._caching():
            return None
        for m in self.net_.modules():
            if isinstance(m, CausalConv):
                m.freeze()
        return self.net_

    def _pixel_of(self, t):
        _, w, g = self._image_dims()
        r, c = divmod(t // g, w)
        return r, c, t % g

    def _write_prev(self, x, t, buf, pad):
        """Write the encoded pixel of step ``t - 1`` into the padded input buffer."""
        if t == 0:
            return
        _, _, g = self._image_dims()
        r, c, _ = self._pixel_of(t - 1)
        p = (t - 1) // g
        enc = self._encode(x[:, p * g:(p + 1) * g])
        buf[:, :, r + pad[0], c + pad[1]] = enc.reshape(x.shape[0], -1)

    def _buffer(self, n, c):
        h, w, _ = self._image_dims()
        p = self._pad
        return get_backend().xp.zeros((n, c, h + p, w + 2 * p), dtype=self.dtype_)


class _PixelCNNNet(nn.Module):
    def __init__(self, cin, c, k_out, g, n_layers, k, k0, dtype, rng):
        super().__init__()
        self.inp = CausalConv(cin, c, k0 // 2, k0 // 2, k0 // 2, "A", g, dtype, rng)
        self.convs = nn.ModuleList(CausalConv(c, c, k // 2, k // 2, k // 2, "B", g, dtype, rng)
                                   for _ in range(n_layers))
        self.mix = nn.ModuleList(CausalConv(c, c, 0, 0, 0, "B", g, dtype, rng)
                                 for _ in range(n_layers))
        self.head = _Head(c, k_out, g, dtype, rng)

    def forward(self, x):
        h = self.inp(x)
        for conv, mix in zip(self.convs, self.mix, strict=True):
            h = h + mix(F.relu(conv(F.relu(h))))
        return self.head(h)


@register_model("pixelcnn")
class PixelCNN(_SamplerMixin, PixelModel):
    """PixelCNN with masked convolutions and residual blocks (see module docstring).

    Sampling: ``sample(n, random_state, temperature, use_cache=True)`` (cached, see module
    docstring).
    """

    supports_colour = True

    hyperparameters = {
        "n_channels": Param(32, "feature channels (divisible by the number of colour "
                            "channels G)", positive_int),
        "n_layers": Param(5, "residual blocks (each one mask-B k x k and one 1 x 1 "
                          "convolution)", positive_int),
        "kernel_size": Param(3, "odd k of the mask-B layers", positive_int),
        "first_kernel_size": Param(5, "odd k_0 of the first (mask-A) layer", positive_int),
        "head": HEAD,
        "n_mix": N_MIX,
        "n_categories": N_CATEGORIES,
        "dtype": DTYPE,
    }

    def _make_network(self, rng) -> None:
        _, _, g = self._image_dims()
        c = check_positive_int(self.n_channels, "n_channels")
        n_layers = check_positive_int(self.n_layers, "n_layers")
        k = _odd(self.kernel_size, "kernel_size")
        k0 = _odd(self.first_kernel_size, "first_kernel_size")
        if c % g:
            raise ValueError(f"n_channels={c} must be divisible by the {g} colour channels")
        self._pad = max(k, k0) // 2
        self.net_ = _PixelCNNNet(g * self._n_input_channels(), c, g * self._k_out(), g,
                                 n_layers, k, k0, self.dtype_, rng)

    # ------------------------------------------------------------ cached sampler
    def _sampler_start(self, n):
        net = self._frozen_net()
        if net is None:
            return None
        return {"x": self._buffer(n, net.inp.cin),
                "h": [self._buffer(n, conv.cin) for conv in net.convs]}

    def _sampler_logits(self, x, t, state):
        if state is None:
            return super()._sampler_logits(x, t, state)
        net, pad = self.net_, (self._pad, self._pad)
        self._write_prev(x, t, state["x"], pad)
        r, c, g = self._pixel_of(t)
        with no_grad():
            h = net.inp.at(state["x"], r, c, pad)
            for conv, mix, buf in zip(net.convs, net.mix, state["h"], strict=True):
                buf[:, :, r + pad[0], c + pad[1]] = _relu(h)
                h = h + mix.point(_relu(conv.at(buf, r, c, pad)))
            return self._pixel_logits(net.head.point(h), g)


class _GatedNet(nn.Module):
    def __init__(self, cin, c, k_out, n_layers, k, dtype, rng):
        super().__init__()
        p = k // 2
        reserve(rng, 4 * n_layers * DRAW_CALL_COST)  # the layer list, before any draw
        ins = [cin] + [c] * (n_layers - 1)
        self.v = nn.ModuleList(CausalConv(i, 2 * c, p, p, p, None, 1, dtype, rng) for i in ins)
        self.link = nn.ModuleList(CausalConv(2 * c, 2 * c, 0, 0, 0, None, 1, dtype, rng)
                                  for _ in ins)
        self.h = nn.ModuleList(CausalConv(i, 2 * c, 0, p, 0, "A" if li == 0 else "B", 1,
                                          dtype, rng) for li, i in enumerate(ins))
        self.hout = nn.ModuleList(CausalConv(c, c, 0, 0, 0, None, 1, dtype, rng) for _ in ins)
        self.head = _Head(c, k_out, 1, dtype, rng)

    def forward(self, x):
        v = hs = x
        height = x.shape[2]
        for li in range(len(self.v)):
            vp = self.v[li](v)
            down = F.pad(vp, ((0, 0), (0, 0), (1, 0), (0, 0)))[:, :, :height]
            hp = self.h[li](hs) + self.link[li](down)
            hn = self.hout[li](gate(hp))
            hs = hn if li == 0 else hs + hn
            v = gate(vp)
        return self.head(hs)


@register_model("gated-pixelcnn")
class GatedPixelCNN(_SamplerMixin, PixelModel):
    """Gated PixelCNN: vertical + horizontal stacks, no blind spot (see module docstring).

    """

    hyperparameters = {
        "n_channels": Param(32, "channels of each stack (the gates use 2 n_channels)",
                            positive_int),
        "n_layers": Param(5, "gated layers (the first takes the image)", positive_int),
        "kernel_size": Param(3, "odd k: vertical (k//2 + 1) x k, horizontal 1 x (k//2 + 1) "
                             "kernels", positive_int),
        "head": HEAD,
        "n_mix": N_MIX,
        "n_categories": N_CATEGORIES,
        "dtype": DTYPE,
    }

    def _make_network(self, rng) -> None:
        self._image_dims()
        c = check_positive_int(self.n_channels, "n_channels")
        n_layers = check_positive_int(self.n_layers, "n_layers")
        k = _odd(self.kernel_size, "kernel_size")
        self._pad = k // 2
        self.net_ = _GatedNet(self._n_input_channels(), c, self._k_out(), n_layers, k,
                              self.dtype_, rng)

    # ------------------------------------------------------------ cached sampler
    def _sampler_start(self, n):
        net = self._frozen_net()
        if net is None:
            return None
        c = net.hout[0].cout
        bufs = [self._buffer(n, net.v[0].cin)] + [self._buffer(n, c) for _ in net.v[1:]]
        return {"x": bufs[0], "v": bufs, "h": [bufs[0]] + [self._buffer(n, c) for _ in net.v[1:]],
                "links": [None] * len(net.v)}

    def _row_links(self, state, r):
        """Vertical stack at row ``r - 1`` (complete) -> the ``1 x 1`` links of row ``r``."""
        xp = get_backend().xp
        net, pad, (_, w, _) = self.net_, (self._pad, self._pad), self._image_dims()
        n = state["x"].shape[0]
        for li in range(len(net.v)):
            if r == 0:
                vp = xp.zeros((n, net.v[li].cout, w), dtype=self.dtype_)
            else:
                vp = net.v[li].row(state["v"][li], r - 1, w, pad)
                if li + 1 < len(net.v):
                    state["v"][li + 1][:, :, r - 1 + pad[0], pad[1]:pad[1] + w] = \
                        gate(Tensor(vp)).data
            state["links"][li] = net.link[li].point(vp.transpose(0, 2, 1))  # (n, W, 2C)

    def _sampler_logits(self, x, t, state):
        if state is None:
            return super()._sampler_logits(x, t, state)
        net, pad = self.net_, (self._pad, self._pad)
        self._write_prev(x, t, state["x"], pad)
        r, c, _ = self._pixel_of(t)
        with no_grad():
            if c == 0:
                self._row_links(state, r)
            h = None
            for li in range(len(net.v)):
                if li:
                    state["h"][li][:, :, r + pad[0], c + pad[1]] = h
                hp = net.h[li].at(state["h"][li], r, c, pad) + state["links"][li][:, c]
                hn = net.hout[li].point(gate(Tensor(hp)).data)
                h = hn if li == 0 else h + hn
            return self._pixel_logits(net.head.point(h), 0)

