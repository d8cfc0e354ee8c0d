"""Sequence and normalization modules: ``LSTMCell``, ``LSTM``, ``CausalSelfAttention``,
``LayerNorm``, ``Embedding`` (and ``Dropout``, re-exported from :mod:`.module`)."""

from __future__ import annotations

import math

import numpy as np

from ..._validation import check_positive_int
from ...backend import get_backend
from ...random import check_random_state
from ..attention import attention_decode, causal_self_attention
from ..norm import embedding, layer_norm
from ..recurrent import lstm, lstm_cell
from ..tensor import Tensor
from .module import Dropout, Module, Parameter

__all__ = ["LSTMCell", "LSTM", "CausalSelfAttention", "LayerNorm", "Embedding", "Dropout"]


def _float_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a floating dtype, got {dtype}")
    return dtype


def _uniform(rng, k, shape, dtype):
    return Parameter(get_backend().asarray(rng.uniform(-k, k, size=shape).astype(dtype)))


class _LSTMBase(Module):
    def __init__(self, input_size, hidden_size, bias, dtype, random_state):
        super().__init__()
        self.input_size = check_positive_int(input_size, "input_size")
        self.hidden_size = h = check_positive_int(hidden_size, "hidden_size")
        dtype = _float_dtype(dtype)
        rng = check_random_state(random_state)
        k = 1.0 / math.sqrt(h)
        self.weight_ih = _uniform(rng, k, (4 * h, input_size), dtype)
        self.weight_hh = _uniform(rng, k, (4 * h, h), dtype)
        self.bias = _uniform(rng, k, (4 * h,), dtype) if bias else None

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias is not None}"


class LSTMCell(_LSTMBase):
    """One LSTM step ``x (N, D), (h, c) (N, H) each -> (h', c')``.

    Parameters ``weight_ih (4H, D)``, ``weight_hh (4H, H)``, ``bias (4H,)`` (torch's
    ``bias_ih + bias_hh`` in one), gate order ``i, f, g, o``, init :math:`U(-1/\\sqrt H, +)`.
    ``state=None`` means zeros.
    """

    def __init__(self, input_size, hidden_size, bias=True, dtype=np.float32, random_state=None):
        super().__init__(input_size, hidden_size, bias, dtype, random_state)

    def forward(self, x, state=None):
        if state is None:
            xp = get_backend().xp
            raw = x.data if isinstance(x, Tensor) else x
            z = xp.zeros((raw.shape[0], self.hidden_size), dtype=self.weight_hh.dtype)
            state = (z, z)
        h, c = state
        return lstm_cell(x, h, c, self.weight_ih, self.weight_hh, self.bias)


class LSTM(_LSTMBase):
    """Single-layer LSTM over a batch-first sequence ``(N, T, D) -> (N, T, H)``.

    ``forward(x, state=None)`` returns ``(hs, (h_T, c_T))``; parameters as in
    :class:`LSTMCell`. The whole sequence is one fused op (backprop through time inside).
    """

    def __init__(self, input_size, hidden_size, bias=True, dtype=np.float32, random_state=None):
        super().__init__(input_size, hidden_size, bias, dtype, random_state)

    def forward(self, x, state=None):
        h0, c0 = (None, None) if state is None else state
        hs, h_t, c_t = lstm(x, self.weight_ih, self.weight_hh, self.bias, h0, c0)
        return hs, (h_t, c_t)


class CausalSelfAttention(Module):
    """Causal multi-head self-attention ``(N, T, d_model) -> (N, T, d_model)``.

    Parameters ``w_qkv (d_model, 3 d_model)``, ``b_qkv``, ``w_o (d_model, d_model)``,
    ``b_o`` (input-major: ``y = x W + b``), init :math:`U(-1/\\sqrt{d_{model}}, +)`.
    ``forward(x, cache=None)``: with a dict ``cache`` (empty at the start of a sequence)
    the call runs without gradients, appends this call's keys/values to the cache, and
    the new positions attend to all earlier ones (incremental decoding).
    """

    def __init__(self, d_model, n_heads, bias=True, dtype=np.float32, random_state=None):
        super().__init__()
        self.d_model = d = check_positive_int(d_model, "d_model")
        self.n_heads = check_positive_int(n_heads, "n_heads")
        if d % self.n_heads:
            raise ValueError(f"d_model={d} is not divisible by n_heads={n_heads}")
        dtype = _float_dtype(dtype)
        rng = check_random_state(random_state)
        k = 1.0 / math.sqrt(d)
        self.w_qkv = _uniform(rng, k, (d, 3 * d), dtype)
        self.b_qkv = _uniform(rng, k, (3 * d,), dtype) if bias else None
        self.w_o = _uniform(rng, k, (d, d), dtype)
        self.b_o = _uniform(rng, k, (d,), dtype) if bias else None

    def forward(self, x, cache=None):
        if cache is None:
            return causal_self_attention(x, self.w_qkv, self.b_qkv, self.w_o, self.b_o,
                                         self.n_heads)
        raw = [None if p is None else p.data for p in (self.w_qkv, self.b_qkv, self.w_o, self.b_o)]
        xr = x.data if isinstance(x, Tensor) else x
        return Tensor(attention_decode(xr, *raw, self.n_heads, cache))

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, n_heads={self.n_heads}"


class LayerNorm(Module):
    """Layer normalization over the last axis ``(..., D) -> (..., D)``; weight 1, bias 0."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, dtype=np.float32):
        super().__init__()
        self.normalized_shape = d = check_positive_int(normalized_shape, "normalized_shape")
        self.eps = float(eps)
        dtype = _float_dtype(dtype)
        xp = get_backend().xp
        self.weight = Parameter(xp.ones(d, dtype=dtype)) if elementwise_affine else None
        self.bias = Parameter(xp.zeros(d, dtype=dtype)) if elementwise_affine else None

    def forward(self, x):
        return layer_norm(x, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"


class Embedding(Module):
    """Lookup table: integer indices of any shape ``S`` -> ``S + (embedding_dim,)``.

    Weight ``(num_embeddings, embedding_dim)`` starts from :math:`N(0, 1)` (torch's default).
    """

    def __init__(self, num_embeddings, embedding_dim, dtype=np.float32, random_state=None):
        super().__init__()
        self.num_embeddings = check_positive_int(num_embeddings, "num_embeddings")
        self.embedding_dim = check_positive_int(embedding_dim, "embedding_dim")
        dtype = _float_dtype(dtype)
        rng = check_random_state(random_state)
        w = rng.standard_normal((num_embeddings, embedding_dim)).astype(dtype)
        self.weight = Parameter(get_backend().asarray(w))

    def forward(self, idx):
        return embedding(idx, self.weight)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"
