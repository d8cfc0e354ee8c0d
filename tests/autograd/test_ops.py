"""Every op: float64 finite-difference checks (check_grads) and torch parity."""

import numpy as np
import pytest

from minigen.autograd import F, Tensor, check_grads

RNG = np.random.default_rng(0)


def rnd(*shape):
    return RNG.standard_normal(shape)


def pos(*shape):
    return RNG.uniform(0.5, 2.0, shape)


BINARY_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((1,), (2, 3)), ((), (3,))]


@pytest.mark.parametrize("op", [F.add, F.sub, F.mul, F.div, F.maximum, F.minimum])
@pytest.mark.parametrize("sa,sb", BINARY_SHAPES)
def test_binary_ops(op, sa, sb):
    a, b = rnd(*sa), rnd(*sb)
    if op is F.div:
        b = pos(*sb)
    check_grads(op, a, b)


@pytest.mark.parametrize("sa,sb", BINARY_SHAPES)
def test_pow(sa, sb):
    check_grads(F.pow, pos(*sa), rnd(*sb))
    check_grads(lambda x: x**3.0, rnd(*sa))
    check_grads(lambda x: 2.0**x, rnd(*sa))


def test_operators_with_scalars_on_both_sides():
    x = rnd(3, 2)
    check_grads(lambda t: (2.0 - t) * 3.0 / (1.5 + t * t) + (-t) - 1.0, x)
    check_grads(lambda t: 1.0 / (2.0 + t * t), x)


UNARY = {
    "exp": (F.exp, rnd),
    "log": (F.log, pos),
    "log1p": (F.log1p, pos),
    "sqrt": (F.sqrt, pos),
    "abs": (F.abs, pos),
    "tanh": (F.tanh, rnd),
    "sigmoid": (F.sigmoid, rnd),
    "softplus": (F.softplus, rnd),
    "log_sigmoid": (F.log_sigmoid, rnd),
    "relu": (F.relu, rnd),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), rnd),
    "elu": (lambda x: F.elu(x, 1.3), rnd),
    "gelu": (F.gelu, rnd),
    "neg": (F.neg, rnd),
    "clip": (lambda x: F.clip(x, -0.5, 0.7), rnd),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("shape", [(5,), (2, 3), (1, 4, 1), ()])
def test_unary_ops(name, shape):
    fn, gen = UNARY[name]
    x = gen(*shape)
    if name in ("relu", "leaky_relu", "elu", "clip"):  # keep away from kinks
        x = np.where(np.abs(x) < 0.05, 0.3, x)
        if name == "clip":
            x = np.where(np.abs(x + 0.5) < 0.05, 0.1, x)
            x = np.where(np.abs(x - 0.7) < 0.05, 0.1, x)
    check_grads(fn, x)


def test_softplus_and_log_sigmoid_are_stable():
    x = Tensor(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_allclose(F.softplus(x).data, [0.0, np.log(2), 1000.0])
    np.testing.assert_allclose(F.log_sigmoid(x).data, [-1000.0, -np.log(2), 0.0])
    assert np.all(np.isfinite(F.sigmoid(x).data))


@pytest.mark.parametrize(
    "sa,sb",
    [((3, 4), (4, 5)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)),
     ((2, 3, 4), (2, 4, 5)), ((1, 3, 4), (2, 4, 2)), ((5, 1, 3, 4), (2, 4, 2)),
     ((3, 4), (2, 4, 5))],
)  # fmt: skip
def test_matmul(sa, sb):
    check_grads(F.matmul, rnd(*sa), rnd(*sb))


def test_matmul_shape_errors_name_shapes():
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(5, 2\)"):
        F.matmul(Tensor(rnd(3, 4)), Tensor(rnd(5, 2)))
    with pytest.raises(ValueError, match="batch"):
        F.matmul(Tensor(rnd(2, 3, 4)), Tensor(rnd(3, 4, 5)))


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("op", [F.sum, F.mean, F.max, F.min, F.logsumexp, F.var])
def test_reductions(op, axis, keepdims):
    x = rnd(2, 3, 4)
    check_grads(lambda t: op(t, axis=axis, keepdims=keepdims), x)


def test_max_splits_ties():
    x = Tensor(np.array([1.0, 3.0, 3.0]), requires_grad=True)
    F.max(x).backward()
    np.testing.assert_allclose(x.grad, [0.0, 0.5, 0.5])


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("op", [F.softmax, F.log_softmax])
def test_softmax_family(op, axis):
    check_grads(lambda t: op(t, axis=axis), rnd(3, 4, 2))


def test_shape_ops():
    x = rnd(2, 3, 4)
    check_grads(lambda t: t.reshape(4, 6), x)
    check_grads(lambda t: F.reshape(t, (-1,)), x)
    check_grads(lambda t: t.transpose(), x)
    check_grads(lambda t: F.permute(t, (1, 2, 0)), x)
    check_grads(lambda t: F.swapaxes(t, 0, 2), x)
    check_grads(lambda t: F.expand_dims(t, 1), x)
    check_grads(lambda t: F.squeeze(t[:, :1], 1), x)
    check_grads(lambda t: F.broadcast_to(t[:1], (5, 3, 4)), x)
    check_grads(lambda t: F.flatten(t, 1), x)


@pytest.mark.parametrize(
    "index",
    [1, (slice(None), 1), (Ellipsis, slice(1, 3)), (slice(None, None, -1), None),
     np.array([0, 1, 1]), (np.array([0, 1, 1]), np.array([2, 0, 2])),
     (slice(None), np.array([[0, 2], [2, 2]])), np.array([True, False])],
)  # fmt: skip
def test_indexing(index):
    check_grads(lambda t: t[index], rnd(2, 3, 4))


def test_indexing_repeated_indices_accumulate():
    x = Tensor(np.zeros(3), requires_grad=True)
    x[np.array([0, 0, 2])].sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 0.0, 1.0])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_and_stack(axis):
    a, b, c = rnd(2, 3), rnd(2, 3), rnd(2, 3)
    check_grads(lambda x, y, z: F.concatenate([x, y, z], axis=axis), a, b, c)
    check_grads(lambda x, y: F.stack([x, y, x], axis=axis), a, b)
    with pytest.raises(ValueError, match=r"\(2, 3\), \(3,\)"):
        F.stack([Tensor(a), Tensor(rnd(3))])


def test_pad_and_where():
    x = rnd(2, 3)
    check_grads(lambda t: F.pad(t, ((1, 2), (0, 1)), value=1.5), x)
    check_grads(lambda t: F.pad(t, 1), x)
    cond = rnd(2, 3) > 0
    check_grads(lambda a, b: F.where(cond, a, b), x, rnd(3))
    check_grads(lambda a: F.where(cond, a, 0.0), x)


def test_losses():
    logits = rnd(5, 4)
    t = np.array([0, 3, 1, 1, 2])
    for red in ("mean", "sum", "none"):
        check_grads(lambda z, red=red: F.cross_entropy(z, t, reduction=red), logits)
        check_grads(lambda z, red=red: F.nll_loss(F.log_softmax(z), t, reduction=red), logits)
        y = RNG.random((5, 4))
        check_grads(
            lambda z, red=red, y=y: F.binary_cross_entropy_with_logits(z, y, reduction=red),
            logits,
        )
    check_grads(lambda z: F.cross_entropy(z, t.reshape(5, 1) % 3), rnd(5, 1, 3))
    check_grads(lambda z: F.cross_entropy(z, t[:2] % 3, axis=1), rnd(2, 3, 4)[:, :, 0])
    check_grads(lambda a, b: F.mse_loss(a, b), rnd(3, 2), rnd(3, 2))


def test_loss_errors():
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 4\)"):
        F.cross_entropy(Tensor(rnd(2, 4)), np.array([0, 4]))
    with pytest.raises(TypeError, match="integer"):
        F.cross_entropy(Tensor(rnd(2, 4)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"\(3,\)"):
        F.cross_entropy(Tensor(rnd(2, 4)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="do not match"):
        F.binary_cross_entropy_with_logits(Tensor(rnd(2, 4)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="reduction"):
        F.binary_cross_entropy_with_logits(Tensor(rnd(2, 4)), np.zeros((2, 4)), reduction="x")


def test_loss_target_and_shape_errors():
    lp = Tensor(np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])))
    # nll_loss: -1 was read as the last class; 3 and float targets failed deep inside
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 3\), got values in \[-1, 2\]"):
        F.nll_loss(lp, np.array([-1, 2]))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        F.nll_loss(lp, np.array([3, 2]))
    with pytest.raises(TypeError, match="integer class indices"):
        F.nll_loss(lp, np.array([0.0, 2.0]))
    with pytest.raises(ValueError, match=r"expected \(2,\)"):
        F.nll_loss(lp, np.array([[0], [2]]))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        F.cross_entropy(lp, np.array([-1, 2]))
    # an out-of-range class axis used to wrap around to another axis
    for loss in (F.cross_entropy, F.nll_loss):
        with pytest.raises(ValueError, match="axis 2 is out of range"):
            loss(Tensor(np.eye(3)), np.array([0, 1, 2]), axis=2)
        with pytest.raises(ValueError, match="axis -3 is out of range"):
            loss(Tensor(np.eye(3)), np.array([0, 1, 2]), axis=-3)
    np.testing.assert_allclose(
        F.nll_loss(lp, np.array([2, 0]), reduction="none", axis=1).data,
        -lp.data[[0, 1], [2, 0]],
    )
    # mse_loss: (3,) against (3, 1) broadcast to a (3, 3) grid
    p = Tensor(np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match=r"target of shape \(3, 1\) does not match pred"):
        F.mse_loss(p, np.array([[1.0], [2.0], [3.0]]))
    assert float(F.mse_loss(p, np.array([1.0, 2.0, 3.0])).data) == 0.0
    # binary cross-entropy: soft targets in [0, 1] only
    z = Tensor(np.zeros(3))
    for bad in ([2.0, 2.0, 2.0], [np.nan, 0.0, 1.0], [-0.5, 0.0, 1.0]):
        with pytest.raises(ValueError, match=r"targets must lie in \[0, 1\]"):
            F.binary_cross_entropy_with_logits(z, np.array(bad))
    soft = F.binary_cross_entropy_with_logits(z, np.array([0.0, 0.25, 1.0]))
    np.testing.assert_allclose(soft.data, np.log(2.0))


def test_bce_with_logits_is_stable():
    z = Tensor(np.array([-800.0, 800.0]), requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(z, np.array([1.0, 0.0]), reduction="sum")
    np.testing.assert_allclose(loss.data, 1600.0)
    loss.backward()
    np.testing.assert_allclose(z.grad, [-1.0, 1.0])


def test_linear_ops():
    x, w, b = rnd(5, 3), rnd(4, 3), rnd(4)
    check_grads(F.linear, x, w, b)
    check_grads(lambda x, w: F.linear(x, w), rnd(2, 5, 3), w)
    mask = (RNG.random((4, 3)) > 0.5).astype(float)
    check_grads(lambda x, w, b: F.masked_linear(x, w, mask, b), x, w, b)
    with pytest.raises(ValueError, match=r"\(5, 3\).*\(4, 2\)"):
        F.linear(Tensor(x), Tensor(rnd(4, 2)))


def test_dropout():
    x = Tensor(np.ones((200, 50)), requires_grad=True)
    y = F.dropout(x, p=0.3, training=True, random_state=0)
    kept = y.data != 0
    np.testing.assert_allclose(y.data[kept], 1 / 0.7)
    # the kept fraction is within 5 standard errors of 0.7
    n = kept.size
    assert abs(kept.mean() - 0.7) < 5 * np.sqrt(0.7 * 0.3 / n)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, y.data)
    assert F.dropout(x, 0.3, training=False) is x
    with pytest.raises(ValueError, match="p must be"):
        F.dropout(x, 1.0)
    a = F.dropout(x, 0.5, random_state=3).data
    np.testing.assert_array_equal(a, F.dropout(x, 0.5, random_state=3).data)


def test_float32_stays_float32_through_all_ops():
    x = Tensor(RNG.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    w = Tensor(RNG.standard_normal((2, 3)).astype(np.float32), requires_grad=True)
    h = F.gelu(F.linear(x, w)) + F.softplus(x[:, :2]) * 0.5 + F.sigmoid(x[:, 1:]) ** 2
    h = F.log_softmax(F.tanh(h) / 3.0) + F.elu(h) - F.leaky_relu(h) + F.log_sigmoid(h)
    loss = F.cross_entropy(h, np.array([0, 1, 1, 0])) + F.logsumexp(h).mean()
    assert loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32


def test_check_grads_catches_a_wrong_gradient():
    from minigen.autograd import make_tensor

    def wrong_square(t):
        return make_tensor(t.data**2, (t,), lambda g: (g * t.data,))  # missing factor 2

    with pytest.raises(AssertionError, match="gradient check failed"):
        check_grads(wrong_square, rnd(3))


# ------------------------------------------------------------------------------ torch parity

TORCH_UNARY = {
    "exp": "exp", "tanh": "tanh", "sigmoid": "sigmoid", "relu": "relu",
    "softplus": "nn.functional.softplus", "log_sigmoid": "nn.functional.logsigmoid",
    "elu": "nn.functional.elu", "leaky_relu": "nn.functional.leaky_relu",
}  # fmt: skip


def _torch_fn(torch, path):
    obj = torch
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("name", sorted(TORCH_UNARY))
def test_unary_ops_match_torch(name):
    torch = pytest.importorskip("torch")
    x = rnd(4, 5)
    t = torch.tensor(x, requires_grad=True)
    g = rnd(4, 5)
    ref = _torch_fn(torch, TORCH_UNARY[name])(t)
    ref.backward(torch.tensor(g))
    xt = Tensor(x, requires_grad=True)
    out = getattr(F, name)(xt)
    out.backward(g)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xt.grad, t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_gelu_matches_torch_tanh_approximation():
    torch = pytest.importorskip("torch")
    x = rnd(50)
    t = torch.tensor(x, requires_grad=True)
    ref = torch.nn.functional.gelu(t, approximate="tanh")
    ref.sum().backward()
    xt = Tensor(x, requires_grad=True)
    out = F.gelu(xt)
    out.sum().backward()
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xt.grad, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_losses_match_torch():
    torch = pytest.importorskip("torch")
    z, y, t = rnd(6, 5), RNG.random((6, 5)), np.array([0, 4, 2, 2, 1, 3])
    for name, ours, theirs in [
        ("bce", lambda a: F.binary_cross_entropy_with_logits(a, y),
         lambda a: torch.nn.functional.binary_cross_entropy_with_logits(a, torch.tensor(y))),
        ("ce", lambda a: F.cross_entropy(a, t),
         lambda a: torch.nn.functional.cross_entropy(a, torch.tensor(t))),
        ("lse", lambda a: F.logsumexp(a, axis=1).sum(), lambda a: torch.logsumexp(a, 1).sum()),
        ("softmax", lambda a: (F.softmax(a) * y).sum(),
         lambda a: (a.softmax(-1) * torch.tensor(y)).sum()),
    ]:  # fmt: skip
        tz = torch.tensor(z, requires_grad=True)
        ref = theirs(tz)
        ref.backward()
        mz = Tensor(z, requires_grad=True)
        out = ours(mz)
        out.backward()
        np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(mz.grad, tz.grad.numpy(), rtol=1e-10, atol=1e-14, err_msg=name)


def test_batched_matmul_matches_torch():
    torch = pytest.importorskip("torch")
    a, b, g = rnd(2, 1, 3, 4), rnd(5, 4, 2), rnd(2, 5, 3, 2)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (ta @ tb).backward(torch.tensor(g))
    ma, mb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    (ma @ mb).backward(g)
    np.testing.assert_allclose(ma.grad, ta.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(mb.grad, tb.grad.numpy(), rtol=1e-12)


@pytest.mark.gpu
def test_ops_run_under_cupy_and_match_numpy():
    cupy = pytest.importorskip("cupy")

    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((6, 5)), rng.standard_normal((4, 5)), rng.standard_normal(4)
    t = np.array([0, 3, 1, 1, 2, 0])

    def run(xp):
        ts = [Tensor(xp.asarray(a), requires_grad=True) for a in (x, w, b)]
        h = F.gelu(F.linear(ts[0], ts[1], ts[2])) + F.softplus(ts[0][:, 1:]) ** 2
        h = F.concatenate([h, F.tanh(h[:, :1])], axis=1)
        loss = F.cross_entropy(h, xp.asarray(t)) + F.logsumexp(h, axis=0).mean()
        loss.backward()
        return [float(loss.item())] + [cupy.asnumpy(a.grad) if xp is cupy else a.grad for a in ts]

    ref, dev = run(np), run(cupy)
    np.testing.assert_allclose(dev[0], ref[0], rtol=1e-10)
    for a, c in zip(ref[1:], dev[1:], strict=True):
        np.testing.assert_allclose(c, a, rtol=1e-9, atol=1e-12)
    with pytest.raises(TypeError, match="mix NumPy"):
        F.add(Tensor(np.ones(2)), Tensor(cupy.ones(2)))


def test_dropout_and_astype_gradients():
    check_grads(lambda t: F.dropout(t, 0.4, training=True, random_state=7), rnd(4, 5))
    check_grads(lambda t: F.astype(t, np.float64) * 2.0, rnd(3))


def test_tensor_methods_match_functions():
    x = Tensor(rnd(2, 3, 4))
    for name in ("sum", "mean", "max", "min", "logsumexp", "softmax", "log_softmax"):
        np.testing.assert_array_equal(
            getattr(x, name)(axis=1).data, getattr(F, name)(x, axis=1).data
        )
    for name in ("exp", "tanh", "sigmoid", "relu", "softplus", "log_sigmoid", "abs"):
        np.testing.assert_array_equal(getattr(x, name)().data, getattr(F, name)(x).data)
    assert x.reshape(6, 4).shape == (6, 4) and x.permute(2, 0, 1).shape == (4, 2, 3)
    assert x.T.shape == (4, 3, 2) and (x @ Tensor(rnd(4, 2))).shape == (2, 3, 2)
