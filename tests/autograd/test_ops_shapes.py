"""Finite-difference checks (float64) of the reduction, softmax, shape, indexing, joining,
padding, embedding, dropout and Bernoulli cross-entropy ops over several shapes: a plain
3-D shape, size-1 axes, and inputs that reach the op through broadcasting (so the VJP's
``unbroadcast`` of a reduced or indexed gradient is exercised too)."""

import numpy as np
import pytest

from minigen.autograd import F, check_grads
from minigen.autograd.norm import embedding

SHAPES = [(2, 3, 4), (1, 3, 1), (2, 1, 4)]
AXES = [None, 0, 1, -1, (0, 2)]


def rnd(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _bcast_pair(shape):
    """``(a, b)`` with ``a + b`` of shape ``shape``: ``b`` broadcasts along every size>1 axis
    but the last (or is a scalar-like ``(1,)`` when only one axis is larger than 1)."""
    b_shape = tuple(1 if i < len(shape) - 1 else s for i, s in enumerate(shape))
    return rnd(shape, 1), rnd(b_shape, 2)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("op", [F.sum, F.mean, F.max, F.logsumexp])
def test_reductions_over_shapes(op, shape, axis, keepdims):
    check_grads(lambda t: op(t, axis=axis, keepdims=keepdims), rnd(shape))
    a, b = _bcast_pair(shape)
    check_grads(lambda s, t: op(s + t, axis=axis, keepdims=keepdims), a, b)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("op", [F.softmax, F.log_softmax])
def test_softmax_family_over_shapes(op, shape, axis):
    w = rnd(shape, 3)  # a weighted sum, so the VJP sees a non-constant gradient
    check_grads(lambda t: op(t, axis=axis) * w, rnd(shape))
    a, b = _bcast_pair(shape)
    check_grads(lambda s, t: op(s * t, axis=axis) * w, a, b)


@pytest.mark.parametrize("shape", SHAPES)
def test_shape_ops_over_shapes(shape):
    x = rnd(shape)
    n = x.size
    check_grads(lambda t: t.reshape(n), x)
    check_grads(lambda t: F.reshape(t, (shape[2], -1)), x)
    check_grads(lambda t: t.reshape(1, n, 1), x)
    check_grads(lambda t: t.transpose(), x)
    check_grads(lambda t: F.transpose(t, (0, 2, 1)), x)
    for perm in [(1, 2, 0), (2, 0, 1), (0, 1, 2)]:
        check_grads(lambda t, perm=perm: F.permute(t, perm), x)
    a, b = _bcast_pair(shape)
    check_grads(lambda s, t: F.permute(s + t, (2, 0, 1)).reshape(-1), a, b)


INDICES = [
    0, -1, (slice(None), 0), (Ellipsis, slice(0, 1)), (slice(None, None, -1), None),
    np.array([0, 0]), (slice(None), slice(None), np.array([0, 0, -1])),
    (Ellipsis, np.array([[0], [0]])),
]  # fmt: skip


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("index", INDICES)
def test_indexing_over_shapes(shape, index):
    check_grads(lambda t: t[index], rnd(shape))
    a, b = _bcast_pair(shape)
    check_grads(lambda s, t: (s + t)[index], a, b)


def test_boolean_indexing_over_shapes():
    for shape in SHAPES:
        x = rnd(shape)
        mask = rnd(shape, 5) > 0
        check_grads(lambda t, mask=mask: t[mask], x)
        check_grads(lambda t, shape=shape: t[np.ones(shape[0], bool)], x)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_concatenate_and_stack_over_shapes(shape, axis):
    a, b = rnd(shape, 1), rnd(shape, 2)
    other = list(shape)
    other[axis] = 2  # a different length along the joined axis
    c = rnd(tuple(other), 3)
    check_grads(lambda x, y, z: F.concatenate([x, y, z], axis=axis), a, b, c)
    check_grads(lambda x, y: F.stack([x, y, x], axis=axis), a, b)
    # inputs that got their shape by broadcasting
    p, q = _bcast_pair(shape)
    check_grads(lambda x, y: F.concatenate([x + y, x * y], axis=axis), p, q)
    check_grads(lambda x, y: F.stack([x + y, y + 0 * x], axis=axis), p, q)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("pad_width", [1, ((0, 1), (2, 0), (1, 1)), ((0, 0), (0, 0), (0, 3))])
def test_pad_over_shapes(shape, pad_width):
    check_grads(lambda t: F.pad(t, pad_width, value=0.5), rnd(shape))
    a, b = _bcast_pair(shape)
    check_grads(lambda s, t: F.pad(s * t, pad_width), a, b)


@pytest.mark.parametrize("idx_shape", [(5,), (2, 3), (1, 4), (3, 1), (1,)])
@pytest.mark.parametrize("dim", [1, 4])
def test_embedding_over_shapes(idx_shape, dim):
    idx = np.random.default_rng(4).integers(0, 3, size=idx_shape)  # repeated rows
    check_grads(lambda w: embedding(idx, w), rnd((3, dim)))
    bias = rnd((1, dim), 5)  # a broadcast row added to the table before the lookup
    check_grads(lambda w, b: embedding(idx, w + b), rnd((3, dim)), bias)


@pytest.mark.parametrize("shape", SHAPES + [(5,), (1,)])
@pytest.mark.parametrize("p", [0.2, 0.6])
def test_dropout_over_shapes(shape, p):
    check_grads(lambda t: F.dropout(t, p, training=True, random_state=7), rnd(shape))
    a, b = _bcast_pair(shape) if len(shape) == 3 else (rnd(shape), rnd((1,)))
    check_grads(lambda s, t: F.dropout(s + t, p, training=True, random_state=7), a, b)


@pytest.mark.parametrize("shape", SHAPES + [(5,), (1,)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bernoulli_cross_entropy_over_shapes(shape, reduction):
    y = np.random.default_rng(6).random(shape)
    check_grads(
        lambda z: F.binary_cross_entropy_with_logits(z, y, reduction=reduction), rnd(shape)
    )
    a, b = _bcast_pair(shape) if len(shape) == 3 else (rnd(shape), rnd((1,)))
    check_grads(
        lambda s, t: F.binary_cross_entropy_with_logits(s + t, y, reduction=reduction), a, b
    )
    # hard 0/1 targets
    y01 = (y > 0.5).astype(float)
    check_grads(
        lambda z: F.binary_cross_entropy_with_logits(z, y01, reduction=reduction), rnd(shape)
    )
