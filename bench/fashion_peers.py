r"""The peers of ``bench/fashion_mnist.py``: minigen's architectures written plainly in torch
(CPU), scikit-learn's ``BernoulliRBM`` and zuko's ``RealNVP``.

Each twin is the same network as minigen's model of the same name (layer sizes, masks,
activations, output head, the flows' bounded log-scales and pre-processing), written the
way a torch user would write it: ``nn.Linear`` / ``nn.Conv2d`` with weight masks, a Python
loop over rows for the Row LSTM, a materialized causal attention matrix for the
transformer. ``nll(x)`` returns the per-example negative log-likelihood in nats (exact for
the autoregressive twins; for the flows the dequantization bound
:math:`-\log p_Y((x + u)/K - 1/2) + D \log K`, the number minigen reports).

Nothing here is imported by the library (torch is a benchmark peer only).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LOG2PI = math.log(2.0 * math.pi)


def _uniform(t, k):
    with torch.no_grad():
        t.uniform_(-k, k)


# ---------------------------------------------------------------------- autoregressive
class MaskedLinear(nn.Linear):
    """``y = x (M * W)^T + b`` with a fixed 0/1 mask ``M`` (out, in)."""

    def __init__(self, n_in, n_out, mask):
        super().__init__(n_in, n_out)
        self.register_buffer("mask", torch.as_tensor(np.asarray(mask), dtype=torch.float32))

    def forward(self, x):
        return F.linear(x, self.weight * self.mask, self.bias)


class FVSBN(nn.Module):
    """Logistic conditionals: one strictly lower-triangular masked linear layer."""

    def __init__(self, d):
        super().__init__()
        self.net = MaskedLinear(d, d, np.tril(np.ones((d, d)), -1))
        with torch.no_grad():
            self.net.weight.mul_(0.1)  # as minigen: start near the factorized model

    def logits(self, x):
        return self.net(x.flatten(1))

    def nll(self, x):
        x = x.flatten(1)
        return F.binary_cross_entropy_with_logits(self.logits(x), x, reduction="none").sum(1)

    @torch.no_grad()
    def sample(self, n, gen):
        d = self.net.in_features
        x = torch.zeros(n, d)
        for t in range(d):  # the recomputing sampler a plain implementation has
            p = torch.sigmoid(self.logits(x)[:, t])
            x[:, t] = (torch.rand(n, generator=gen) < p).float()
        return x


def made_masks(d, hidden, rng):
    """MADE masks for the natural order (minigen's construction: input degree ``i + 1``,
    hidden degrees cycling through ``[min, D - 1]`` in a random arrangement)."""
    degs = [np.arange(1, d + 1)]
    for h in hidden:
        lo = min(int(degs[-1].min()), d - 1)
        degs.append(rng.permutation(np.arange(h) % (d - lo) + lo))
    masks = [(m[:, None] >= p[None, :]).astype(np.float32)
             for p, m in zip(degs, degs[1:], strict=False)]
    masks.append((degs[0][:, None] > degs[-1][None, :]).astype(np.float32))
    return masks


class MADE(nn.Module):
    def __init__(self, d, hidden, rng):
        super().__init__()
        sizes = [d, *hidden, d]
        masks = made_masks(d, hidden, rng)
        self.layers = nn.ModuleList(MaskedLinear(a, b, m)
                                    for a, b, m in zip(sizes[:-1], sizes[1:], masks, strict=True))

    def logits(self, x):
        h = x.flatten(1)
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = F.relu(h)
        return h

    def nll(self, x):
        x = x.flatten(1)
        return F.binary_cross_entropy_with_logits(self.logits(x), x, reduction="none").sum(1)


def _pixel_mask(cout, cin, k, kind):
    """``k x k`` PixelCNN mask (one colour group): rows below the centre and the pixels
    right of it hidden; ``A`` also hides the centre."""
    m = np.ones((cout, cin, k, k), dtype=np.float32)
    c = k // 2
    m[:, :, c, c + (kind == "B"):] = 0
    m[:, :, c + 1:] = 0
    return torch.as_tensor(m)


class MaskedConv2d(nn.Conv2d):
    def __init__(self, cin, cout, k, kind):
        super().__init__(cin, cout, k, padding=k // 2)
        self.register_buffer("mask", _pixel_mask(cout, cin, k, kind))
        bound = 1.0 / math.sqrt(max(1.0, float(self.mask.sum()) / cout))  # minigen's fan-in
        _uniform(self.weight, bound)
        _uniform(self.bias, bound)

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


def _conv1x1(cin, cout):
    conv = nn.Conv2d(cin, cout, 1)
    _uniform(conv.weight, 1.0 / math.sqrt(cin))
    _uniform(conv.bias, 1.0 / math.sqrt(cin))
    return conv


class _PixelHead(nn.Module):
    def __init__(self, c, k_out):
        super().__init__()
        self.fc1, self.fc2 = _conv1x1(c, c), _conv1x1(c, k_out)

    def forward(self, h):
        return self.fc2(F.relu(self.fc1(F.relu(h))))


class _BinaryImageModel(nn.Module):
    """Bernoulli pixels, raster order: ``logits(x (N, 1, H, W)) -> (N, 1, H, W)``."""

    def nll(self, x):
        x = x.reshape(len(x), 1, *self.shape)
        lg = self.logits(x)
        return F.binary_cross_entropy_with_logits(lg, x, reduction="none").flatten(1).sum(1)

    def params_by_minigen_name(self):
        """``{minigen array name: parameter}`` for arrays stored the same way (no crop)."""
        return {}

    @torch.no_grad()
    def load_minigen(self, arrays):
        """Take minigen's ``trainable_arrays()``: its masked kernels store only the rows
        up to the centre (``k // 2 + 1``; the rows below are masked whole), which fill
        the top of this twin's ``k x k`` kernels; the rows below stay 0 (masked here)."""
        for name, conv in self.convs_by_minigen_name().items():
            w = torch.as_tensor(np.asarray(arrays[name + ".weight"]))
            conv.weight.zero_()
            conv.weight[:, :, :w.shape[2]] = w
            conv.bias.copy_(torch.as_tensor(np.asarray(arrays[name + ".bias"])))
        for name, p in self.params_by_minigen_name().items():
            p.copy_(torch.as_tensor(np.asarray(arrays[name])))

    def grads_as_minigen(self):
        """The gradients in minigen's layout (the stored rows of each kernel)."""
        out = {}
        for name, conv in self.convs_by_minigen_name().items():
            kh = conv.weight.shape[2] // 2 + 1
            out[name + ".weight"] = conv.weight.grad[:, :, :kh].numpy()
            out[name + ".bias"] = conv.bias.grad.numpy()
        for name, p in self.params_by_minigen_name().items():
            out[name] = p.grad.numpy()
        return out


class PixelCNN(_BinaryImageModel):
    """Mask-A ``k0 x k0`` conv, residual blocks ``h + 1x1(ReLU(kxk_B(ReLU(h))))``, head."""

    def __init__(self, shape, c, n_layers, k, k0):
        super().__init__()
        self.shape = shape
        self.inp = MaskedConv2d(1, c, k0, "A")
        self.convs = nn.ModuleList(MaskedConv2d(c, c, k, "B") for _ in range(n_layers))
        self.mix = nn.ModuleList(_conv1x1(c, c) for _ in range(n_layers))
        self.head = _PixelHead(c, 1)

    def logits(self, x):
        h = self.inp(x)
        for conv, mix in zip(self.convs, self.mix, strict=True):
            h = h + mix(F.relu(conv(F.relu(h))))
        return self.head(h)

    def convs_by_minigen_name(self):
        """``{minigen parameter prefix: conv}``, in the order of minigen's ``net_``."""
        out = {"inp": self.inp}
        for i, (conv, mix) in enumerate(zip(self.convs, self.mix, strict=True)):
            out[f"convs.{i}"], out[f"mix.{i}"] = conv, mix
        out["head.fc1"], out["head.fc2"] = self.head.fc1, self.head.fc2
        return out


class _RowLSTMLayer(nn.Module):
    def __init__(self, c, hid, k):
        super().__init__()
        self.hid, self.left = hid, k // 2
        self.is_conv = nn.Conv2d(c, 4 * hid, (1, k // 2 + 1))  # row-causal, centre visible
        self.ss = nn.Conv1d(hid, 4 * hid, 3, padding=1, bias=False)
        self.out = _conv1x1(hid, c)
        kin = 1.0 / math.sqrt(c * (k // 2 + 1))
        _uniform(self.is_conv.weight, kin)
        _uniform(self.is_conv.bias, kin)
        _uniform(self.ss.weight, 1.0 / math.sqrt(3 * hid))

    def forward(self, feat):
        gis = self.is_conv(F.pad(feat, (self.left, 0, 0, 0)))  # (N, 4h, H, W)
        h = c = None
        rows = []
        for r in range(feat.shape[2]):
            z = gis[:, :, r]
            if h is not None:
                z = z + self.ss(h)
            i, f, o, g = z.chunk(4, dim=1)
            c = torch.sigmoid(i) * torch.tanh(g) if c is None else (
                torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g))
            h = torch.sigmoid(o) * torch.tanh(c)
            rows.append(h)
        return feat + self.out(torch.stack(rows, dim=2))


class RowLSTM(_BinaryImageModel):
    def __init__(self, shape, c, hid, n_layers, k, k0):
        super().__init__()
        self.shape = shape
        self.inp = MaskedConv2d(1, c, k0, "A")
        self.layers = nn.ModuleList(_RowLSTMLayer(c, hid, k) for _ in range(n_layers))
        self.head = _PixelHead(c, 1)

    def logits(self, x):
        h = self.inp(x)
        for layer in self.layers:
            h = layer(h)
        return self.head(h)

    def convs_by_minigen_name(self):
        out = {"inp": self.inp}
        for i, layer in enumerate(self.layers):
            out[f"layers.{i}.is_conv"], out[f"layers.{i}.out"] = layer.is_conv, layer.out
        out["head.fc1"], out["head.fc2"] = self.head.fc1, self.head.fc2
        return out

    def params_by_minigen_name(self):
        return {f"layers.{i}.ss": layer.ss.weight for i, layer in enumerate(self.layers)}


class _Block(nn.Module):
    def __init__(self, d, n_heads, d_ff):
        super().__init__()
        self.n_heads = n_heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, d_ff), nn.Linear(d_ff, d)

    def attn(self, x):
        n, t, d = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.n_heads, d // self.n_heads).permute(
            2, 0, 3, 1, 4)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(d // self.n_heads)
        causal = torch.ones(t, t, dtype=torch.bool).triu(1)
        p = torch.softmax(s.masked_fill(causal, float("-inf")), dim=-1)
        return self.proj((p @ v).transpose(1, 2).reshape(n, t, d))

    def forward(self, z):
        z = z + self.attn(self.ln1(z))
        return z + self.fc2(F.gelu(self.fc1(self.ln2(z)), approximate="tanh"))


class Transformer(nn.Module):
    """Start token + value and position embeddings, pre-norm blocks, LN + linear head."""

    def __init__(self, d_steps, d_model, n_heads, n_layers, d_ff):
        super().__init__()
        self.tok = nn.Parameter(0.1 * torch.randn(2, d_model))
        self.start = nn.Parameter(0.1 * torch.randn(1, 1, d_model))
        self.pos = nn.Parameter(0.1 * torch.randn(d_steps, d_model))
        self.blocks = nn.ModuleList(_Block(d_model, n_heads, d_ff) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, 1)

    def logits(self, x):
        x = x.flatten(1).long()
        emb = self.tok[x[:, :-1]]
        z = torch.cat([self.start.expand(len(x), 1, -1), emb], dim=1) + self.pos
        for block in self.blocks:
            z = block(z)
        return self.head(self.ln_f(z))[..., 0]

    def nll(self, x):
        x = x.flatten(1)
        return F.binary_cross_entropy_with_logits(self.logits(x), x, reduction="none").sum(1)


# ---------------------------------------------------------------------- flows
def _mlp(d_in, hidden, n_hidden, d_out):
    layers, width = [], d_in
    for _ in range(n_hidden):
        lin = nn.Linear(width, hidden)
        layers += [lin, nn.ReLU()]
        width = hidden
    last = nn.Linear(width, d_out)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)  # every coupling starts as the identity
    return nn.Sequential(*layers, last)


class _Flow(nn.Module):
    """``nll(x)`` of integer levels ``x`` (0..K-1) as the dequantization bound (nats)."""

    n_bins = 256
    logit = None

    def to_flow(self, v):
        """Data units ``v = x + u`` -> flow input and the log-det of that map (per row)."""
        d = v[0].numel()
        const = -d * math.log(self.n_bins)
        if self.logit is None:
            return v / self.n_bins - 0.5, torch.full((len(v),), const, dtype=torch.float64)
        a = self.logit
        p = a + (1 - 2 * a) * v / self.n_bins
        ld = const + d * math.log(1 - 2 * a) - (torch.log(p) + torch.log1p(-p)).flatten(
            1).double().sum(1)
        return torch.log(p) - torch.log1p(-p), ld

    def nll(self, x, gen=None):
        u = torch.rand(x.shape, generator=gen)
        y, ld0 = self.to_flow(x + u)
        z, ld = self.forward(y)
        z = z.flatten(1).double()
        log_pz = -0.5 * (z * z).sum(1) - 0.5 * z.shape[1] * LOG2PI
        return -(log_pz + ld + ld0)


class NICE(_Flow):
    def __init__(self, d, n_couplings, hidden, n_hidden):
        super().__init__()
        self.masks = [torch.as_tensor((np.arange(d) + i) % 2 == 0, dtype=torch.float32)
                      for i in range(n_couplings)]
        self.nets = nn.ModuleList(_mlp(d, hidden, n_hidden, d) for _ in range(n_couplings))
        self.log_scale = nn.Parameter(torch.zeros(d))

    def forward(self, y):
        y = y.flatten(1)
        for m, net in zip(self.masks, self.nets, strict=True):
            y = y + (1 - m) * net(y * m)
        ld = self.log_scale.double().sum().expand(len(y))
        return y * torch.exp(self.log_scale), ld


class RealNVPVector(_Flow):
    def __init__(self, d, n_couplings, hidden, n_hidden, scale_bound, logit):
        super().__init__()
        self.logit, self.b = logit, scale_bound
        self.masks = [torch.as_tensor((np.arange(d) + i) % 2 == 0, dtype=torch.float32)
                      for i in range(n_couplings)]
        self.nets = nn.ModuleList(_mlp(d, hidden, n_hidden, 2 * d) for _ in range(n_couplings))

    def forward(self, y):
        y = y.flatten(1)
        ld = torch.zeros(len(y), dtype=torch.float64)
        for m, net in zip(self.masks, self.nets, strict=True):
            raw, t = net(y * m).chunk(2, dim=1)
            s = (1 - m) * self.b * torch.tanh(raw / self.b)
            y = y * torch.exp(s) + t * (1 - m)
            ld = ld + s.double().sum(1)
        return y, ld


class ActNorm(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.initialized = False

    def forward(self, x):
        if not self.initialized:  # data-dependent init on the first batch
            with torch.no_grad():
                xd = x.double()
                self.loc.copy_(-xd.mean((0, 2, 3), keepdim=True))
                self.log_scale.copy_(-torch.log(xd.std((0, 2, 3), keepdim=True,
                                                       unbiased=False) + 1e-6))
            self.initialized = True
        hw = x.shape[2] * x.shape[3]
        return (x + self.loc) * torch.exp(self.log_scale), hw * self.log_scale.double().sum()


class InvConv1x1(nn.Module):
    """LU-parametrized ``W = P L (U + diag(sign e^{log|s|}))`` from a random rotation."""

    def __init__(self, c, rng):
        super().__init__()
        q, _ = np.linalg.qr(rng.standard_normal((c, c)))
        import scipy.linalg

        p, lo, up = scipy.linalg.lu(q)
        s = np.diag(up)
        self.register_buffer("P", torch.as_tensor(p, dtype=torch.float32))
        self.register_buffer("sign", torch.as_tensor(np.sign(s), dtype=torch.float32))
        self.register_buffer("lmask", torch.tril(torch.ones(c, c), -1))
        self.lower = nn.Parameter(torch.as_tensor(np.tril(lo, -1), dtype=torch.float32))
        self.upper = nn.Parameter(torch.as_tensor(np.triu(up, 1), dtype=torch.float32))
        self.log_s = nn.Parameter(torch.as_tensor(np.log(np.abs(s)), dtype=torch.float32))

    def forward(self, x):
        c = x.shape[1]
        eye = torch.eye(c)
        w = self.P @ (self.lower * self.lmask + eye) @ (
            self.upper * self.lmask.T + torch.diag(self.sign * torch.exp(self.log_s)))
        hw = x.shape[2] * x.shape[3]
        return F.conv2d(x, w.view(c, c, 1, 1)), hw * self.log_s.double().sum()


class ConvConditioner(nn.Module):
    """3x3 conv -> ReLU -> (1x1 conv -> ReLU)* -> zero-initialised 3x3 conv."""

    def __init__(self, c, hidden, n_hidden, out):
        super().__init__()
        layers, width = [], c
        for i in range(n_hidden):
            k = 3 if i == 0 else 1
            layers += [nn.Conv2d(width, hidden, k, padding=k // 2), nn.ReLU()]
            width = hidden
        last = nn.Conv2d(width, out, 3, padding=1)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(*layers, last)

    def forward(self, x):
        return self.net(x)


class AffineCouplingImage(nn.Module):
    def __init__(self, c, first, hidden, n_hidden, scale_bound):
        super().__init__()
        m = torch.zeros(1, c, 1, 1)
        m[:, : c // 2] = 1.0
        self.register_buffer("m", m if first else 1 - m)
        self.net = ConvConditioner(c, hidden, n_hidden, 2 * c)
        self.b = scale_bound

    def forward(self, x):
        raw, t = self.net(x * self.m).chunk(2, dim=1)
        s = (1 - self.m) * self.b * torch.tanh(raw / self.b)
        return x * torch.exp(s) + t * (1 - self.m), s.double().flatten(1).sum(1)


def squeeze(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(
        n, 4 * c, h // 2, w // 2)


class Glow(_Flow):
    """Multi-scale: per scale a squeeze, ``n_steps`` x (ActNorm, 1x1 conv, coupling), then
    half the channels factored out (not after the last scale)."""

    def __init__(self, shape, n_steps, n_scales, hidden, n_hidden, scale_bound, rng):
        super().__init__()
        c, h, w = 1, *shape
        self.shape = shape
        self.levels = nn.ModuleList()
        for _ in range(n_scales):
            c, h, w = 4 * c, h // 2, w // 2
            steps = nn.ModuleList()
            for i in range(n_steps):
                steps.append(nn.ModuleList([ActNorm(c), InvConv1x1(c, rng),
                                            AffineCouplingImage(c, i % 2 == 0, hidden,
                                                                n_hidden, scale_bound)]))
            self.levels.append(steps)
            c //= 2

    def forward(self, y):
        x = y.reshape(len(y), 1, *self.shape)
        ld = torch.zeros(len(y), dtype=torch.float64)
        outs = []
        for k, steps in enumerate(self.levels):
            x = squeeze(x)
            for step in steps:
                for layer in step:
                    x, d = layer(x)
                    ld = ld + d
            if k < len(self.levels) - 1:
                c = x.shape[1]
                outs.append(x[:, c // 2:].flatten(1))
                x = x[:, : c // 2]
        outs.append(x.flatten(1))
        return torch.cat(outs, dim=1), ld


class ZukoRealNVP(_Flow):
    """zuko's RealNVP (affine couplings whose conditioner reads only the conditioning
    half), on the same pre-processing; zuko's own flow object, trained by its log_prob."""

    def __init__(self, d, n_couplings, hidden, n_hidden, logit):
        super().__init__()
        import zuko

        self.logit = logit
        self.flow = zuko.flows.RealNVP(d, transforms=n_couplings,
                                       hidden_features=[hidden] * n_hidden)

    def nll(self, x, gen=None):
        u = torch.rand(x.shape, generator=gen)
        y, ld0 = self.to_flow(x + u)
        return -(self.flow().log_prob(y.flatten(1)).double() + ld0)
