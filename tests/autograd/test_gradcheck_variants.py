"""Float64 finite-difference checks (``check_grads``) of argument variants that take their
own backward code path and were not yet checked elsewhere: scalar / constant operands of
binary ops, one-sided ``clip``, 1-D ``matmul`` against batches, ``var(ddof=1)``, shape-op
argument forms, ``getitem`` with Tensor and non-adjacent fancy indices, joins with
constant members, ``linear`` / ``masked_linear`` input ranks and the output buffer,
``cross_entropy`` / ``nll_loss`` on a non-last class axis, ``mse_loss`` reductions, convs
with a constant input (``need_x=False``) and masked taps on both layouts, LSTM variants
(constant input, partial initial state, all outputs at once) on NumPy and Numba,
attention with one bias, ``layer_norm`` with one affine parameter, ``invconv1x1`` on
Numba, a multi-output ``custom_op``, and every ``nn`` layer's ``forward`` with its
parameters differentiated."""

from __future__ import annotations

import numpy as np
import pytest

import minigen
from minigen.autograd import F, Tensor, check_grads, custom_op, nn
from minigen.autograd import coupling_ops as C
from minigen.autograd.attention import causal_self_attention
from minigen.autograd.conv import conv1d, conv2d
from minigen.autograd.nn.conv import pixelcnn_mask
from minigen.autograd.norm import layer_norm
from minigen.autograd.recurrent import lstm, lstm_cell


def rnd(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def away_from(x, *kinks, gap=0.05):
    """``x`` with entries within ``gap`` of a kink moved to 0.3 away from all of them."""
    for k in kinks:
        x = np.where(np.abs(x - k) < gap, k + 0.3, x)
    return x


def _has_numba():
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


BACKENDS = ["numpy"] + (["numba"] if _has_numba() else [])


# ----------------------------------------------------------------------------- elementwise


@pytest.mark.parametrize("op", [F.maximum, F.minimum])
def test_maximum_minimum_with_python_scalars(op):
    x = away_from(rnd((3, 4)), 0.3)
    check_grads(lambda t: op(t, 0.3), x)  # only the left operand is a Tensor
    check_grads(lambda t: op(0.3, t), x)  # only the right operand is a Tensor


@pytest.mark.parametrize("op", [F.add, F.sub, F.mul, F.div, F.pow, F.maximum, F.minimum])
def test_binary_ops_with_a_constant_tensor_operand(op):
    a = np.random.default_rng(1).uniform(0.5, 2.0, (2, 3))
    c = Tensor(np.random.default_rng(2).uniform(0.5, 2.0, (3,)))  # requires_grad=False
    check_grads(lambda t: op(t, c), a)
    check_grads(lambda t: op(c, t), a)


def test_where_scalar_branches_and_broadcast_condition():
    cond = np.array([True, False, True])  # broadcast against (2, 3)
    a, b = rnd((2, 3), 1), rnd((2, 1), 2)
    check_grads(lambda s, t: F.where(cond, s, t), a, b)
    check_grads(lambda t: F.where(cond, 0.5, t), b)  # only the "else" branch is a Tensor
    check_grads(lambda t: F.where(Tensor(cond), t, -1.0), a)  # Tensor condition


def test_clip_with_one_bound_and_activation_defaults():
    x = away_from(rnd((4, 3)), -0.5, 0.7, 0.0)
    check_grads(lambda t: F.clip(t, -0.5), x)
    check_grads(lambda t: F.clip(t, hi=0.7), x)
    check_grads(lambda t: t.clip(-0.5, 0.7), x)
    check_grads(F.leaky_relu, x)
    check_grads(F.elu, x)


@pytest.mark.parametrize(
    "sa,sb",
    [((4,), (2, 4, 5)), ((2, 3, 4), (4,)), ((4,), (3, 2, 4, 1)), ((2, 1, 3), (1, 3, 2))],
)
def test_matmul_vector_against_batches(sa, sb):
    check_grads(F.matmul, rnd(sa, 1), rnd(sb, 2))
    w = Tensor(rnd(sb, 3))  # constant right operand: only the left gradient is formed
    check_grads(lambda a: F.matmul(a, w), rnd(sa, 4))


def test_tensor_operators_and_methods():
    x, m = rnd((3, 4), 1), rnd((2, 3), 2)
    check_grads(lambda t: abs(t) + (+t), away_from(x, 0.0))
    check_grads(lambda t: m @ t, x)  # ndarray on the left: Tensor.__rmatmul__
    check_grads(lambda t: t.T @ t, x)
    check_grads(lambda t: t.var(axis=0) + t.logsumexp(axis=1).sum(), x)
    check_grads(lambda t: t.swapaxes(0, 1).expand_dims(0).squeeze().broadcast_to((2, 4, 3)), x)


def test_astype_round_trip_through_float32():
    # the VJP casts the gradient back to the source dtype; float32 rounding needs a wide step
    check_grads(
        lambda t: F.astype(F.astype(t, np.float32) * 3.0, np.float64),
        rnd((3, 2)),
        eps=1e-2,
        rtol=1e-4,
        atol=1e-5,
    )


# ----------------------------------------------------------------------------- reductions


@pytest.mark.parametrize("axis", [None, 1, (0, -1), (-1, 0)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_var_ddof_and_negative_axis_tuples(axis, keepdims):
    x = rnd((2, 3, 4))
    check_grads(lambda t: F.var(t, axis=axis, keepdims=keepdims, ddof=1), x)
    for op in (F.sum, F.mean, F.max, F.min, F.logsumexp):
        check_grads(lambda t, op=op: op(t, axis=axis, keepdims=keepdims), x)


# ----------------------------------------------------------------------------- shape ops


def test_shape_op_argument_forms():
    x = rnd((2, 1, 3, 1))
    check_grads(lambda t: F.squeeze(t), x)  # axis=None: every size-1 axis
    check_grads(lambda t: F.squeeze(t, (1, 3)), x)
    check_grads(lambda t: F.expand_dims(t, -1), x)
    check_grads(lambda t: F.flatten(t), x)
    check_grads(lambda t: t.reshape(3, -1), x)  # varargs with -1
    check_grads(lambda t: t.transpose(3, 0, 2, 1), x)  # varargs
    check_grads(lambda t: F.transpose(t, (-1, 0, -2, 1)), x)  # negative axes
    check_grads(lambda t: F.swapaxes(t, -1, 0), x)
    check_grads(lambda t: F.broadcast_to(t[0, 0, :, 0], (2, 4, 3)), x)  # new leading axes
    check_grads(lambda t: F.pad(t[:, 0, :, 0], (1, 2), value=-1.0), x)  # one pair, all axes


@pytest.mark.parametrize(
    "index",
    [
        (np.array([0, 2, 2]), slice(None), np.array([1, 0, 1])),  # non-adjacent advanced
        (Ellipsis, None, np.array([[3, 0], [-1, 3]])),  # negative and repeated, with None
        (1, np.array([False, True]), slice(1, None)),  # int, boolean, slice
        np.ones((3, 2), bool) & np.array([True, False]),  # 2-D boolean mask
        np.array([], dtype=int),  # empty selection: zero gradient
    ],
)
def test_getitem_fancy_forms(index):
    check_grads(lambda t: t[index], rnd((3, 2, 4)))


def test_getitem_with_tensor_indices():
    idx = Tensor(np.array([2, 0, 2]))
    check_grads(lambda t: t[idx], rnd((3, 2)))
    check_grads(lambda t: t[(slice(None), idx)], rnd((2, 3)))
    check_grads(lambda t: F.getitem(t, (idx, Tensor(np.array([1, 1, 0])))), rnd((3, 2)))


@pytest.mark.parametrize("axis", [0, -1])
def test_joins_with_a_constant_member(axis):
    c = Tensor(rnd((2, 3), 3))
    a, b = rnd((2, 3), 1), rnd((2, 3), 2)
    check_grads(lambda x, y: F.cat([x, c, y], axis=axis), a, b)
    check_grads(lambda x: F.stack([c, x, c], axis=axis), a)
    check_grads(lambda x: F.concatenate([c, 2.0 * x], axis=axis), a)


# ----------------------------------------------------------------------------- nn ops


def test_linear_input_ranks_and_constant_parameters():
    w, b = rnd((4, 3), 1), rnd((4,), 2)
    check_grads(F.linear, rnd((3,), 3), w, b)  # 1-D input
    check_grads(F.linear, rnd((2, 2, 3), 4), w, b)  # 3-D input with bias
    check_grads(lambda x: F.linear(x, Tensor(w), Tensor(b)), rnd((5, 3), 5))  # only dx
    check_grads(lambda w_: F.linear(Tensor(rnd((5, 3), 5)), w_), w)  # only dW, no bias


def test_masked_linear_variants():
    w, b = rnd((4, 3), 1), rnd((4,), 2)
    mask = np.array([[1, 0, 1], [0, 0, 1], [1, 1, 1], [0, 1, 0]], float)
    check_grads(lambda x, w_: F.masked_linear(x, w_, mask), rnd((5, 3), 3), w)  # no bias
    check_grads(lambda x, w_, b_: F.masked_linear(x, w_, mask, b_), rnd((2, 2, 3), 4), w, b)
    buf = np.empty((4, 3))  # the out_weight buffer a MaskedLinear module passes
    check_grads(
        lambda x, w_, b_: F.masked_linear(x, w_, Tensor(mask), b_, out_weight=buf),
        rnd((5, 3), 5), w, b,
    )  # fmt: skip


def test_dropout_identity_paths():
    check_grads(lambda t: F.dropout(t, 0.5, training=False) * 2.0, rnd((3,)))
    check_grads(lambda t: F.dropout(t, 0.0) * 2.0, rnd((3,)))


# ----------------------------------------------------------------------------- losses


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("axis", [1, -2])
def test_cross_entropy_and_nll_on_a_non_last_class_axis(reduction, axis):
    z = rnd((2, 4, 3))  # (N, C, L): classes on axis 1
    t = np.random.default_rng(7).integers(0, 4, size=(2, 3))
    check_grads(lambda a: F.cross_entropy(a, t, reduction=reduction, axis=axis), z)
    check_grads(
        lambda a: F.nll_loss(F.log_softmax(a, axis=1), t, reduction=reduction, axis=axis), z
    )
    check_grads(lambda a: F.nll_loss(a, Tensor(t), reduction=reduction, axis=axis), z)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_reductions(reduction):
    a, b = rnd((3, 2), 1), rnd((3, 2), 2)
    check_grads(lambda p, q: F.mse_loss(p, q, reduction=reduction), a, b)
    check_grads(lambda p: F.mse_loss(p, b, reduction=reduction), a)  # array target


# ----------------------------------------------------------------------------- conv


@pytest.mark.parametrize(
    "xs, ws, s, p, d",
    [((2, 2, 10, 10), (3, 2, 3, 3), 1, 1, 1), ((2, 2, 7, 5), (3, 2, 3, 2), 2, 1, 1)],
)  # flat layout, im2col layout
def test_conv2d_with_constant_input(xs, ws, s, p, d):
    x = Tensor(rnd(xs, 1))  # need_x=False: no input gradient is formed
    check_grads(lambda w, b: conv2d(x, w, b, s, p, d), rnd(ws, 2), rnd(ws[:1], 3))
    check_grads(lambda w: conv2d(x, w, None, s, p, d), rnd(ws, 2))


@pytest.mark.parametrize("mask_type", ["A", "B"])
@pytest.mark.parametrize("hw", [(4, 5), (10, 10)])  # im2col layout, flat layout
def test_masked_taps_conv2d(mask_type, hw):
    mask = pixelcnn_mask(3, 3, 3, 3, mask_type, 3)
    keep = mask.any(axis=(0, 1))
    taps = [(i, j) for i in range(3) for j in range(3) if keep[i, j]]
    x, w, b = rnd((2, 3) + hw, 1), rnd((3, 3, 3, 3), 2), rnd((3,), 3)
    check_grads(lambda x_, w_, b_: conv2d(x_, w_ * mask, b_, 1, 1, taps=taps), x, w, b)
    check_grads(lambda x_, w_: conv2d(x_, w_ * mask, None, 1, 1, taps=taps), x, w)


@pytest.mark.parametrize("s, p, d", [(1, 0, 1), (1, 1, 1), (3, 2, 1), (1, 0, 2)])
def test_conv1d_variants(s, p, d):
    x, w, b = rnd((2, 3, 9), 1), rnd((4, 3, 3), 2), rnd((4,), 3)
    check_grads(lambda x_, w_, b_: conv1d(x_, w_, b_, s, p, d), x, w, b)
    check_grads(lambda x_, w_: conv1d(x_, w_, None, s, p, d), x, w)
    xc = Tensor(x)
    check_grads(lambda w_: conv1d(xc, w_, None, s, p, d), w)  # need_x=False
    check_grads(lambda x_, w_: conv1d(x_, w_, None, s, p, d, taps=(0, 2)), x, w)


# ----------------------------------------------------------------------------- LSTM


@pytest.fixture(params=BACKENDS)
def backend(request):
    """NumPy reference backward and (when installed) the fused Numba step kernel."""
    with minigen.use_backend(request.param):
        yield request.param


def _lstm_args(n=2, t=3, d=2, h=3, seed=0):
    shapes = ((n, t, d), (4 * h, d), (4 * h, h), (4 * h,), (n, h), (n, h))
    return [rnd(s, seed + k) for k, s in enumerate(shapes)]


def _joined(*outs):
    n = outs[0].shape[0]
    return F.concatenate([F.reshape(o, (n, -1)) for o in outs], axis=1)


def test_lstm_all_outputs_at_once(backend):
    x, wi, wh, b, h0, c0 = _lstm_args()
    check_grads(lambda *a: _joined(*lstm(*a)), x, wi, wh, b, h0, c0)


def test_lstm_constant_input_and_partial_state(backend):
    x, wi, wh, b, h0, c0 = _lstm_args(seed=10)
    xc = Tensor(x)  # need_x=False: no input gradient is formed
    check_grads(lambda *a: _joined(*lstm(xc, *a)), wi, wh, b, h0, c0)
    check_grads(lambda x_, wi_, wh_, h: _joined(*lstm(x_, wi_, wh_, None, h0=h)), x, wi, wh, h0)
    check_grads(lambda x_, wi_, wh_, c: _joined(*lstm(x_, wi_, wh_, None, c0=c)), x, wi, wh, c0)


def test_lstm_cell_variants(backend):
    x, wi, wh, b, h, c = _lstm_args(seed=20)
    x = x[:, 0]
    check_grads(lambda *a: _joined(*lstm_cell(*a)), x, h, c, wi, wh, b)
    check_grads(lambda *a: _joined(*lstm_cell(*a)), x, h, c, wi, wh)  # no bias
    check_grads(
        lambda x_, w_: _joined(*lstm_cell(x_, Tensor(h), Tensor(c), w_, Tensor(wh))), x, wi
    )  # constant state


# ----------------------------------------------------------------------------- attention


def test_attention_with_one_bias_and_constant_input():
    n, t, d, h = 2, 3, 4, 2
    x, wq, bq, wo, bo = (
        rnd(s, k) for k, s in enumerate(((n, t, d), (d, 3 * d), (3 * d,), (d, d), (d,)))
    )
    check_grads(lambda x_, a, b, c: causal_self_attention(x_, a, b, c, None, h), x, wq, bq, wo)
    check_grads(lambda x_, a, c, e: causal_self_attention(x_, a, None, c, e, h), x, wq, wo, bo)
    xc = Tensor(x)
    check_grads(lambda a, b, c, e: causal_self_attention(xc, a, b, c, e, h), wq, bq, wo, bo)


# ----------------------------------------------------------------------------- layer norm


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4)])
def test_layer_norm_one_affine_parameter(shape):
    x, g, b = rnd(shape, 1), rnd(shape[-1:], 2), rnd(shape[-1:], 3)
    check_grads(lambda x_, g_: layer_norm(x_, g_), x, g)
    check_grads(lambda x_, b_: layer_norm(x_, None, b_), x, b)
    check_grads(lambda x_, g_, b_: layer_norm(x_, g_, b_, eps=0.5), x, g, b)


# ----------------------------------------------------------------------------- coupling


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("inverse", [False, True])
def test_invconv1x1_grads_on_each_backend(backend_name, inverse):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 2, 2))
    W = np.linalg.qr(rng.standard_normal((3, 3)))[0] + 0.3 * rng.standard_normal((3, 3))
    with minigen.use_backend(backend_name):
        check_grads(
            lambda a, b: _joined(*C.invconv1x1(a, b, inverse=inverse)), x, W, rtol=1e-6, atol=1e-8
        )
        xc = Tensor(x)
        check_grads(
            lambda b: _joined(*C.invconv1x1(xc, b, inverse=inverse)), W, rtol=1e-6, atol=1e-8
        )


@pytest.mark.parametrize("inverse", [False, True])
def test_coupling_ops_with_constant_members(inverse):
    x2, s, t = rnd((3, 4), 1), rnd((3, 4), 2), rnd((3, 4), 3)
    sc, x2c = Tensor(s), Tensor(x2)
    check_grads(lambda a, c: _joined(*C.affine_coupling(a, sc, c, inverse=inverse)), x2, t)
    check_grads(lambda b, c: _joined(*C.affine_coupling(x2c, b, c, inverse=inverse)), s, t)
    check_grads(lambda c: C.additive_coupling(x2c, c, inverse=inverse), t)


# ----------------------------------------------------------------------------- custom_op


def test_custom_op_multi_output_with_constant_and_keyword_arguments():
    @custom_op
    def scaled_pair(a, c, b, *, k):
        def backward(g1, g2):
            return g1 * k * c * b + 2 * g2 * a, None, g1 * k * c * a

        return (k * c * a * b, a * a), backward

    c = np.array([1.5, -0.5, 2.0])
    check_grads(lambda a, b: _joined(*scaled_pair(a, c, b, k=3.0)), rnd((2, 3), 1), rnd((2, 3), 2))
    check_grads(lambda a, b: scaled_pair(a, c, b, k=3.0)[1], rnd((2, 3), 1), rnd((2, 3), 2))


# ----------------------------------------------------------------------------- nn layers


def _module_fn(module, names):
    """``fn(x, *params)`` calling ``module(x)`` with its parameters ``names`` replaced by
    the given Tensors (restored afterwards), so check_grads differentiates them too."""

    def fn(x, *params):
        saved = {n: module.__dict__[n] for n in names}
        try:
            for n, p in zip(names, params, strict=True):
                object.__setattr__(module, n, p)
            out = module(x)
        finally:
            for n, p in saved.items():
                object.__setattr__(module, n, p)
        if isinstance(out, tuple):  # LSTM: (hs, (h, c)); LSTMCell: (h, c)
            flat = [out[0], *out[1]] if isinstance(out[1], tuple) else list(out)
            return _joined(*flat)
        return out

    return fn


def _check_module(module, x):
    names = [n for n, _ in module.named_parameters()]
    assert names and all("." not in n for n in names)
    params = [getattr(module, n).data for n in names]
    check_grads(_module_fn(module, names), x, *params)


F64 = {"dtype": np.float64, "random_state": 0}
MODULES = {
    "Linear": (lambda: nn.Linear(3, 4, **F64), (2, 3)),
    "Linear-nobias": (lambda: nn.Linear(3, 4, bias=False, **F64), (2, 2, 3)),
    "MaskedLinear": (lambda: nn.MaskedLinear(3, 4, mask=np.tril(np.ones((4, 3))), **F64), (5, 3)),
    "Conv2d": (lambda: nn.Conv2d(2, 3, 3, stride=2, padding=1, dilation=1, **F64), (2, 2, 5, 6)),
    "Conv2d-dilated": (
        lambda: nn.Conv2d(2, 3, (2, 3), padding=(1, 2), dilation=2, **F64),
        (1, 2, 6, 6),
    ),
    "MaskedConv2d-A": (lambda: nn.MaskedConv2d(3, 3, 3, "A", n_groups=3, **F64), (2, 3, 4, 5)),
    "MaskedConv2d-B": (lambda: nn.MaskedConv2d(3, 6, 3, "B", n_groups=3, **F64), (1, 3, 10, 10)),
    "Conv1d": (lambda: nn.Conv1d(2, 3, 3, stride=2, padding=1, **F64), (2, 2, 7)),
    "RowConv1d": (lambda: nn.RowConv1d(3, 6, 3, **F64), (2, 3, 5)),
    "RowConv1d-A": (lambda: nn.RowConv1d(3, 6, 3, mask_type="A", n_groups=3, **F64), (2, 3, 5)),
    "RowConv1d-B": (lambda: nn.RowConv1d(3, 6, 3, mask_type="B", n_groups=3, **F64), (2, 3, 5)),
    "LSTM": (lambda: nn.LSTM(2, 3, **F64), (2, 3, 2)),
    "LSTMCell": (lambda: nn.LSTMCell(2, 3, **F64), (2, 2)),
    "CausalSelfAttention": (lambda: nn.CausalSelfAttention(4, 2, **F64), (2, 3, 4)),
    "LayerNorm": (lambda: nn.LayerNorm(4, dtype=np.float64), (2, 3, 4)),
}


LSTM_MODULES = ("LSTM", "LSTMCell")


@pytest.mark.parametrize("name", sorted(set(MODULES) - set(LSTM_MODULES)))
def test_module_forward_grads(name):
    make, shape = MODULES[name]
    module = make()
    if name == "LayerNorm":  # move off the identity init (weight 1, bias 0)
        module.weight.data = rnd((4,), 8)
        module.bias.data = rnd((4,), 9)
    _check_module(module, rnd(shape, 5))


@pytest.mark.parametrize("name", LSTM_MODULES)
def test_lstm_module_forward_grads(name, backend):
    make, shape = MODULES[name]
    _check_module(make(), rnd(shape, 5))


def test_embedding_and_elementwise_modules_forward_grads():
    emb = nn.Embedding(4, 3, **F64)
    idx = np.array([[0, 3], [3, 1]])
    check_grads(lambda w: _module_fn(emb, ["weight"])(idx, w), emb.weight.data)
    x = away_from(rnd((3, 4)), 0.0)
    layers = [
        nn.ReLU(),
        nn.Tanh(),
        nn.Sigmoid(),
        nn.Softplus(),
        nn.GELU(),
        nn.LeakyReLU(0.1),
        nn.ELU(0.7),
        nn.Identity(),
    ]
    for layer in layers:
        check_grads(layer, x)
    drop = nn.Dropout(0.3)
    drop.eval()
    check_grads(lambda t: drop(t) * 1.0, x)
    seq = nn.Sequential(nn.Linear(4, 5, **F64), nn.Tanh(), nn.Linear(5, 2, **F64))
    check_grads(seq, x)
