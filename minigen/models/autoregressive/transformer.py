r"""Causal transformer over the pixel sequence (a small GPT), with a key/value-cached sampler.

The example is read as a sequence in the model's ordering :math:`\sigma`:
:math:`s_0 = e_{\text{start}}`, :math:`s_t = E[x_{\sigma_{t-1}}]` (value embedding,
:math:`t \ge 1`), plus a learned position embedding :math:`P_t`. ``n_layers`` pre-norm
blocks

.. math::

    z \leftarrow z + \mathrm{Attn}(\mathrm{LN}(z)), \qquad
    z \leftarrow z + W_2\, \mathrm{GELU}(W_1 \mathrm{LN}(z)),

with causal multi-head self-attention (step :math:`t` attends to steps :math:`\le t`) and
a final ``LN`` + linear head give the logits of :math:`x_{\sigma_t}` at step :math:`t`,
which therefore depend only on :math:`x_{\sigma_0}, \dots, x_{\sigma_{t-1}}`.

Teacher forcing (training, ``score_samples``) is one parallel pass. Sampling with
``use_cache=True`` feeds one token per step and keeps every layer's keys and values
(:class:`minigen.autograd.nn.CausalSelfAttention` with a ``cache`` dict), so drawing
a whole example costs one pass's worth of work, :math:`O(D^2 d)` for the attention,
instead of :math:`D` full passes (:math:`O(D^3 d)`); ``use_cache=False`` recomputes
the full teacher-forced pass at each step. Both consume the same uniforms, so they
return identical samples for the same seed.

The value embedding is applied as ``onehot(x) @ E``, the same numbers as a table lookup
(the cached sampler uses the lookup), which keeps the input differentiable for the
autoregressive-property test.

References: Vaswani et al., "Attention is all you need" (2017); Radford et al., "Language
models are unsupervised multitask learners" (GPT-2, 2019); Chen et al., "Generative
pretraining from pixels" (2020).
"""

from __future__ import annotations

from ..._validation import check_positive_int
from ...autograd import F, Tensor, nn, no_grad
from ...backend import get_backend
from ...base import register_model
from ...params import Param, optional, positive_int
from .base import DTYPE, N_CATEGORIES, ORDERING, AutoregressiveModel, CachedSampling

__all__ = ["PixelTransformer", "TransformerNetwork"]


class _Block(nn.Module):
    def __init__(self, d, n_heads, d_ff, dtype, rng):
        super().__init__()
        self.ln1 = nn.LayerNorm(d, dtype=dtype)
        self.attn = nn.CausalSelfAttention(d, n_heads, dtype=dtype, random_state=rng)
        self.ln2 = nn.LayerNorm(d, dtype=dtype)
        self.fc1 = nn.Linear(d, d_ff, dtype=dtype, random_state=rng)
        self.fc2 = nn.Linear(d_ff, d, dtype=dtype, random_state=rng)

    def forward(self, z, cache=None):
        z = z + self.attn(self.ln1(z), cache=cache)
        n, t, d = z.shape
        y = self.fc2(F.gelu(self.fc1(F.reshape(self.ln2(z), (n * t, d)))))
        return z + F.reshape(y, (n, t, d))


class TransformerNetwork(nn.Module):
    """Start token, value and position embeddings, blocks, head: ``(n, T, K) -> (n, T, K_out)``.

    ``forward(onehot)`` takes the one-hot *sequence in generation order* and returns
    the logits of step ``t`` from inputs ``< t`` (shifted by the start token).
    """

    def __init__(self, n_steps, n_values, n_out, d_model, n_heads, n_layers, d_ff, dtype, rng):
        super().__init__()
        be = get_backend()
        self.n_values, self.d_model = n_values, d_model
        self.tok = nn.Parameter(be.asarray((0.1 * rng.standard_normal((n_values, d_model)))
                                           .astype(dtype)))
        self.start = nn.Parameter(be.asarray((0.1 * rng.standard_normal((1, 1, d_model)))
                                             .astype(dtype)))
        self.pos = nn.Parameter(be.asarray((0.1 * rng.standard_normal((n_steps, d_model)))
                                           .astype(dtype)))
        self.blocks = nn.ModuleList(_Block(d_model, n_heads, d_ff, dtype, rng)
                                    for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model, dtype=dtype)
        self.head = nn.Linear(d_model, n_out, dtype=dtype, random_state=rng)

    def _head(self, z):
        n, t, d = z.shape
        out = self.head(F.reshape(self.ln_f(z), (n * t, d)))
        return F.reshape(out, (n, t, -1))

    def forward(self, onehot_seq):
        n, t, k = onehot_seq.shape
        emb = F.reshape(F.reshape(onehot_seq, (n * t, k)) @ self.tok, (n, t, self.d_model))
        start = F.broadcast_to(self.start, (n, 1, self.d_model))
        z = F.concatenate([start, emb[:, : t - 1]], axis=1) + self.pos
        for block in self.blocks:
            z = block(z)
        return self._head(z)

    def step(self, values, t, caches):
        """No-grad incremental step ``t``: ``values`` (n,) int of step ``t - 1`` (ignored at 0)."""
        n = caches["n"]
        if t == 0:
            z = get_backend().xp.broadcast_to(self.start.data, (n, 1, self.d_model))
        else:
            z = self.tok.data[values][:, None, :]
        z = Tensor(z + self.pos.data[t])
        for block, cache in zip(self.blocks, caches["layers"], strict=True):
            z = block(z, cache=cache)
        return self._head(z).data[:, 0]


@register_model("transformer")
class PixelTransformer(CachedSampling, AutoregressiveModel):
    """Decoder-only causal transformer over the flattened pixels (see module docstring).

    """

    hyperparameters = {
        "d_model": Param(64, "width of the token embeddings and blocks", positive_int),
        "n_heads": Param(4, "attention heads (dividing d_model)", positive_int),
        "n_layers": Param(2, "transformer blocks", positive_int),
        "d_ff": Param(None, "MLP width (None: 4 d_model)", optional(positive_int)),
        "n_categories": N_CATEGORIES,
        "ordering": ORDERING,
        "dtype": DTYPE,
    }

    #: most attention scores one scoring pass may hold per layer (2**25: 128 MB in float32)
    score_max_attention = 2 ** 25

    def _score_batch(self) -> int:
        r"""Images per scoring pass: ``score_batch_size``, capped so that a layer's
        attention scores, :math:`B \cdot h \cdot D^2` numbers, stay within
        ``score_max_attention`` (2,048 images of 28x28 with 4 heads would need 20 GB)."""
        bs = super()._score_batch()
        per_image = check_positive_int(self.n_heads, "n_heads") * self.n_dims_ ** 2
        return max(1, min(bs, self.score_max_attention // per_image))

    def _n_input_channels(self) -> int:
        return self.n_categories_  # always one-hot: the value embedding is onehot @ E

    def _encode(self, x):
        xp = get_backend().xp
        return (x[..., None] == xp.arange(self.n_categories_)).astype(self.dtype_)

    def _make_network(self, rng) -> None:
        d = check_positive_int(self.d_model, "d_model")
        h = check_positive_int(self.n_heads, "n_heads")
        if d % h:
            raise ValueError(f"d_model={d} must be divisible by n_heads={h}")
        n_layers = check_positive_int(self.n_layers, "n_layers")
        d_ff = 4 * d if self.d_ff is None else check_positive_int(self.d_ff, "d_ff")
        k_out = 1 if self.n_categories_ == 2 else self.n_categories_
        self.net_ = TransformerNetwork(self.n_dims_, self.n_categories_, k_out, d, h, n_layers,
                                       d_ff, self.dtype_, rng)

    def _logits(self, h):
        be = get_backend()
        seq = h[:, be.asarray(self.ordering_)]  # generation order
        out = self.net_(seq)[:, be.asarray(self.rank_)]  # back to the natural layout
        if self.n_categories_ == 2:
            return F.reshape(out, (out.shape[0], self.n_dims_))
        return out

    # ------------------------------------------------------------ cached sampler
    def _sampler_start(self, n):
        if not self._caching():
            return None
        return {"n": n, "layers": [{} for _ in range(len(self.net_.blocks))]}

    def _sampler_logits(self, x, t, state):
        if state is None:
            return super()._sampler_logits(x, t, state)
        prev = x[:, self.ordering_[t - 1]] if t > 0 else None
        with no_grad():
            out = self.net_.step(prev, t, state)
        return out[:, 0] if self.n_categories_ == 2 else out

