r"""PixelRNN: Row LSTM and Diagonal BiLSTM, with optional scheduled sampling.

Both start with a mask-A ``k_0 x k_0`` convolution (features at :math:`(r, c)` see only
pixels before :math:`(r, c)`), stack ``n_layers`` residual recurrent layers and end with
the mask-B ``1 x 1`` head ``ReLU -> 1x1 -> ReLU -> 1x1`` (as :mod:`.pixelcnn`). An LSTM
layer maps gates :math:`(i, f, o, g)` to

.. math::

    c = \sigma(f) \odot c_{prev} + \sigma(i) \odot \tanh(g), \qquad h = \sigma(o) \odot \tanh(c)

and its output is added back through a ``1 x 1`` convolution (residual).

**Row LSTM** (``"row-lstm"``): one step per image row. Gates of row :math:`r` =
a mask-B ``1 x (k//2 + 1)`` input-to-state convolution of the row's features (columns
:math:`c - k//2 .. c`, computed for the whole map at once) + an unmasked ``1 x 3``
state-to-state convolution of the previous row's hidden state. Pixel :math:`(r, c)` sees
a triangle above it (widening by one column per row up) and its left neighbours.

**Diagonal BiLSTM** (``"diagonal-bilstm"``): the map is *skewed* (row :math:`r` shifted
right by :math:`r`) so each column of the skewed ``H x (W + H - 1)`` map is one diagonal;
the LSTM runs over those ``W + H - 1`` columns (``2d - 1`` steps for a ``d x d`` image).
Input-to-state is a ``1 x 1`` convolution; state-to-state is a ``2 x 1`` convolution of the
previous column's state (rows :math:`r - 1` and :math:`r` of the skewed map, i.e. the
pixel above and the pixel to the left), so :math:`(r, c)` sees the whole quadrant above
and to the left. The right-to-left direction runs on the mirrored map; unskewed and
mirrored back, it is shifted *down by one row* before being added, so no pixel sees its
own row to the right (its future). Both directions share the step loop, whose count is
kept in ``recurrent_steps_``.

**Scheduled sampling** (``scheduled_sampling=p_max``; ``None``/0 = teacher forcing):
with probability :math:`p(e) = p_{max} \min(1, e / E)` after :math:`e` epochs
(``E = scheduled_sampling_epochs``; fractional epochs counted from the examples seen),
each input pixel of a training batch is replaced by a draw from the model's own
(detached) teacher-forced conditional, while the targets stay the data. This exposes the
model to its own mistakes (exposure bias). A callable ``epoch -> p`` is also accepted
(but cannot be written to a checkpoint; use the float form to save). ``examples_seen_`` is
checkpointed, so a resumed run continues the ramp.

References: van den Oord, Kalchbrenner, Kavukcuoglu, "Pixel recurrent neural networks"
(ICML 2016); Bengio et al., "Scheduled sampling for sequence prediction with recurrent
neural networks" (NeurIPS 2015).
"""

from __future__ import annotations

import math

import numpy as np

from ..._validation import check_positive_int
from ...autograd import F, Tensor, nn, no_grad
from ...autograd.conv import conv2d_forward
from ...autograd.row_lstm import row_lstm
from ...backend import get_backend, to_numpy
from ...base import register_model
from ...params import Param, positive_int
from ._pixel import HEAD, N_MIX, CausalConv, PixelModel
from .base import DTYPE, N_CATEGORIES
from .pixelcnn import _Head, _odd, _SamplerMixin

__all__ = ["RowLSTM", "DiagonalBiLSTM"]


def _lstm_update(z, c_prev, hid):
    """Gates ``z (..., 4H)`` split on the last axis (or axis 1 for maps) -> ``(h, c)``."""
    i, f, o, g = (z[..., k * hid:(k + 1) * hid] for k in range(4))
    c = F.sigmoid(i) * F.tanh(g) if c_prev is None else (
        F.sigmoid(f) * c_prev + F.sigmoid(i) * F.tanh(g))
    return F.sigmoid(o) * F.tanh(c), c


def _param(rng, k, shape, dtype):
    return nn.Parameter(get_backend().asarray(rng.uniform(-k, k, shape).astype(dtype)))


class _RowLSTMLayer(nn.Module):
    def __init__(self, c, hid, k, dtype, rng):
        super().__init__()
        self.hid = hid
        self.is_conv = CausalConv(c, 4 * hid, 0, k // 2, 0, "B", 1, dtype, rng)
        self.ss = _param(rng, 1.0 / math.sqrt(3 * hid), (4 * hid, hid, 3), dtype)
        self.out = CausalConv(hid, c, 0, 0, 0, None, 1, dtype, rng)

    def forward(self, feat):
        # one fused op for the whole recurrence (row r: gates = is_conv + 1 x 3 conv of
        # h_{r-1}); tests/autograd/test_row_lstm.py keeps the per-row graph it replaces
        hs = row_lstm(self.is_conv(feat), self.ss)  # (n, hid, H, W)
        self.steps = feat.shape[2]
        return feat + self.out(hs)


def _skew(x):
    """``(n, C, H, W) -> (n, C, H, W + H - 1)``: row ``r`` shifted right by ``r``."""
    hh = x.shape[2]
    return F.stack([F.pad(x[:, :, r], ((0, 0), (0, 0), (r, hh - 1 - r))) for r in range(hh)],
                   axis=2)


def _unskew(y, width):
    return F.stack([y[:, :, r, r:r + width] for r in range(y.shape[2])], axis=2)


class _DiagBiLSTMLayer(nn.Module):
    def __init__(self, c, hid, dtype, rng):
        super().__init__()
        self.hid = hid
        k = 1.0 / math.sqrt(2 * hid)
        self.is_l = CausalConv(c, 4 * hid, 0, 0, 0, "B", 1, dtype, rng)
        self.is_r = CausalConv(c, 4 * hid, 0, 0, 0, "B", 1, dtype, rng)
        # state-to-state 2 x 1 kernels as (2h, 4h): rows [state above; state at the same row]
        self.ss_l = _param(rng, k, (2 * hid, 4 * hid), dtype)
        self.ss_r = _param(rng, k, (2 * hid, 4 * hid), dtype)
        self.out = CausalConv(hid, c, 0, 0, 0, None, 1, dtype, rng)

    def forward(self, feat):
        hh, ww = feat.shape[2], feat.shape[3]
        mirrored = feat[:, :, :, ::-1]
        seqs = [F.transpose(_skew(conv(x)), (0, 3, 2, 1))  # (n, T, H, 4h)
                for conv, x in ((self.is_l, feat), (self.is_r, mirrored))]
        weights = (self.ss_l, self.ss_r)
        states = [(None, None), (None, None)]
        outs = ([], [])
        self.steps = 0
        for j in range(ww + hh - 1):  # one diagonal per step
            for d in range(2):
                h, c = states[d]
                z = seqs[d][:, j]  # (n, H, 4h)
                if h is not None:
                    above = F.pad(h, ((0, 0), (1, 0), (0, 0)))[:, :hh]
                    z = z + F.concatenate([above, h], axis=-1) @ weights[d]
                states[d] = _lstm_update(z, c, self.hid)
                outs[d].append(states[d][0])
            self.steps += 1
        maps = [_unskew(F.transpose(F.stack(o, axis=1), (0, 3, 2, 1)), ww) for o in outs]
        right = maps[1][:, :, :, ::-1]
        right = F.pad(right, ((0, 0), (0, 0), (1, 0), (0, 0)))[:, :, :hh]  # shift down a row
        return feat + self.out(maps[0] + right)


class _RNNNet(nn.Module):
    def __init__(self, cin, c, hid, k_out, n_layers, k0, layer, dtype, rng):
        super().__init__()
        self.inp = CausalConv(cin, c, k0 // 2, k0 // 2, k0 // 2, "A", 1, dtype, rng)
        self.layers = nn.ModuleList(layer() for _ in range(n_layers))
        self.head = _Head(c, k_out, 1, dtype, rng)

    def forward(self, x):
        h = self.inp(x)
        for layer in self.layers:
            h = layer(h)
        return self.head(h)


class _PixelRNN(PixelModel):
    """Shared hyper-parameters, network plumbing and scheduled sampling."""

    hyperparameters = {
        "n_channels": Param(32, "feature channels between layers", positive_int),
        "hidden_size": Param(32, "LSTM state size", positive_int),
        "n_layers": Param(1, "recurrent layers (residual)", positive_int),
        "first_kernel_size": Param(5, "odd k of the mask-A input convolution", positive_int),
        "head": HEAD,
        "n_mix": N_MIX,
        "scheduled_sampling": Param(
            None, "None (teacher forcing), a maximum probability p in [0, 1] of feeding the "
            "model's own samples (ramped linearly over scheduled_sampling_epochs), or a "
            "callable epoch -> p", kind="None | float in [0, 1] | callable"),
        "scheduled_sampling_epochs": Param(10, "epochs of the linear ramp to "
                                           "scheduled_sampling", positive_int),
        "n_categories": N_CATEGORIES,
        "dtype": DTYPE,
    }

    def _layer_factory(self, c, hid, rng):  # pragma: no cover - abstract
        raise NotImplementedError

    def _make_network(self, rng) -> None:
        self._image_dims()
        c = check_positive_int(self.n_channels, "n_channels")
        hid = check_positive_int(self.hidden_size, "hidden_size")
        n_layers = check_positive_int(self.n_layers, "n_layers")
        k0 = _odd(self.first_kernel_size, "first_kernel_size")
        self._ss_prob(0.0)  # validate the schedule early
        self.net_ = _RNNNet(self._n_input_channels(), c, hid, self._k_out(), n_layers, k0,
                            self._layer_factory(c, hid, rng), self.dtype_, rng)
        self.examples_seen_ = 0

    def _logits(self, h):
        out = super()._logits(h)
        self.recurrent_steps_ = [layer.steps for layer in self.net_.layers]
        return out

    # ------------------------------------------------------------ scheduled sampling
    def _ss_prob(self, epoch: float) -> float:
        """Probability of feeding the model's own sample after ``epoch`` (fractional) epochs."""
        spec = self.scheduled_sampling
        if spec is None:
            return 0.0
        if callable(spec):
            p = float(spec(epoch))
        else:
            p_max = float(spec)
            if not 0.0 <= p_max <= 1.0:
                raise ValueError(f"scheduled_sampling must be in [0, 1], got {spec!r}")
            ramp = check_positive_int(self.scheduled_sampling_epochs,
                                      "scheduled_sampling_epochs")
            p = p_max * min(1.0, epoch / ramp)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"scheduled_sampling gave probability {p} outside [0, 1]")
        return p

    def init_from_data(self, X, rng) -> None:
        super().init_from_data(X, rng)
        self.n_train_ = len(X)

    def current_scheduled_probability(self) -> float:
        n_train = getattr(self, "n_train_", 0) or 0
        epoch = self.examples_seen_ / n_train if n_train else 0.0
        return self._ss_prob(epoch)

    def loss_and_grads(self, batch, rng):
        p = self.current_scheduled_probability()
        self.scheduled_p_ = p
        if p <= 0.0:
            out = super().loss_and_grads(batch, rng)
            self.examples_seen_ += len(batch)
            return out
        return self._scheduled_loss_and_grads(batch, rng, p)

    def _scheduled_loss_and_grads(self, batch, rng, p):
        x = self._check_X(batch, "batch")
        self._before_batch(rng)
        be = get_backend()
        with no_grad():  # the model's own teacher-forced draws (detached)
            logits = self._logits(Tensor(self._encode(x))).data
        flat = logits.reshape(-1) if logits.ndim == 2 else logits.reshape(-1, logits.shape[-1])
        u = be.asarray(rng.random(flat.shape[0]))
        own = self._draw(flat, u, 1.0).reshape(x.shape)
        replace = be.asarray(rng.random(x.shape) < p)
        x_in = be.xp.where(replace, own, x)
        self.net_.zero_grad()
        loss = -F.mean(self._log_prob_from_logits(self._logits(Tensor(self._encode(x_in))), x))
        loss.backward()
        self.examples_seen_ += len(batch)
        return float(loss.data), self.net_.grad_arrays()

    def _extra_arrays(self) -> dict:
        return {"examples_seen": np.asarray(getattr(self, "examples_seen_", 0), dtype=np.int64),
                "n_train": np.asarray(getattr(self, "n_train_", 0), dtype=np.int64)}

    def _load_extra_arrays(self, state: dict) -> None:
        if "examples_seen" in state:
            self.examples_seen_ = int(to_numpy(state["examples_seen"]))
            self.n_train_ = int(to_numpy(state["n_train"]))


def _sigmoid(xp, a):
    return 0.5 * (1 + xp.tanh(0.5 * a))  # as F.sigmoid, so cached draws match the pass


@register_model("row-lstm")
class RowLSTM(_SamplerMixin, _PixelRNN):
    """PixelRNN Row LSTM (see module docstring).

    Sampling: ``sample(n, random_state, temperature, use_cache=True)``. The cached
    sampler evaluates each layer at the current pixel only: the mask-A input convolution
    and the row-causal input-to-state convolution from buffers of their inputs, the
    state-to-state term of a whole row once, when the row above is complete, and one
    LSTM cell update; a sample costs about one forward pass of work instead of ``D``
    (``use_cache=False``). Both draw the same samples for a seed.
    """

    hyperparameters = {
        "kernel_size": Param(3, "odd k of the masked 1 x (k//2 + 1) input-to-state "
                             "convolution", positive_int),
    }

    def _layer_factory(self, c, hid, rng):
        k = _odd(self.kernel_size, "kernel_size")
        return lambda: _RowLSTMLayer(c, hid, k, self.dtype_, rng)

    # ------------------------------------------------------------ cached sampler
    @property
    def _pad(self) -> int:
        return self.net_.inp.up  # the input convolution's reach: k_0 // 2

    def _sampler_start(self, n):
        net = self._frozen_net()
        if net is None:
            return None
        xp = get_backend().xp
        h, w, _ = self._image_dims()
        layers = []
        for layer in net.layers:
            shape = (n, layer.hid, w)
            # the layer's input (a row-causal window reads it); the LSTM state of one row,
            # column c holding row r - 1's until step (r, c) overwrites it
            layers.append({
                "feat": xp.zeros((n, layer.is_conv.cin, h, w + layer.is_conv.left),
                                 dtype=self.dtype_),
                "h": xp.zeros(shape, dtype=self.dtype_), "c": xp.zeros(shape, dtype=self.dtype_),
                "ss": None})
        return {"x": self._buffer(n, net.inp.cin), "layers": layers}

    def _sampler_logits(self, x, t, state):
        if state is None:
            return super()._sampler_logits(x, t, state)
        xp, net, p = get_backend().xp, self.net_, self._pad
        self._write_prev(x, t, state["x"], (p, p))
        r, c, _ = self._pixel_of(t)
        with no_grad():
            f = net.inp.at(state["x"], r, c, (p, p))  # (n, C)
            for layer, st in zip(net.layers, state["layers"], strict=True):
                hid, left = layer.hid, layer.is_conv.left
                if c == 0 and r > 0:  # row r - 1 is complete: its state-to-state term
                    ss, _ = conv2d_forward(st["h"][:, :, None, :], layer.ss.data[:, :, None, :],
                                           None, padding=(0, 1))
                    st["ss"] = ss[:, :, 0, :]  # (n, 4h, W)
                st["feat"][:, :, r, c + left] = f
                z = layer.is_conv.at(st["feat"], r, c, (0, left))  # (n, 4h)
                if r > 0:
                    z = z + st["ss"][:, :, c]
                i, fg, o, g = (z[:, k * hid:(k + 1) * hid] for k in range(4))
                cell = _sigmoid(xp, i) * xp.tanh(g)
                if r > 0:
                    cell = _sigmoid(xp, fg) * st["c"][:, :, c] + cell
                hh = _sigmoid(xp, o) * xp.tanh(cell)
                st["c"][:, :, c], st["h"][:, :, c] = cell, hh
                f = f + layer.out.point(hh)
            return self._pixel_logits(net.head.point(f), 0)


@register_model("diagonal-bilstm")
class DiagonalBiLSTM(_PixelRNN):
    """PixelRNN Diagonal BiLSTM (see module docstring).
    ``recurrent_steps_`` (after a forward pass): the steps each
    layer took, ``H + W - 1`` (``2d - 1`` for ``d x d`` images)."""

    def _layer_factory(self, c, hid, rng):
        return lambda: _DiagBiLSTMLayer(c, hid, self.dtype_, rng)
