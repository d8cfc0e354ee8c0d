"""Tensor core: construction, backward, accumulation, no_grad, custom_op, errors."""

import sys

import numpy as np
import pytest

from minigen.autograd import F, Tensor, custom_op, is_grad_enabled, no_grad, unbroadcast


def test_construction_keeps_array_and_dtype():
    a = np.ones((2, 3), dtype=np.float32)
    t = Tensor(a)
    assert t.data is a
    assert t.dtype == np.float32 and t.shape == (2, 3) and t.ndim == 2
    assert Tensor([1.0, 2.0]).dtype == np.float64
    assert t.grad is None and not t.requires_grad


def test_integer_tensor_cannot_require_grad():
    with pytest.raises(TypeError, match="floating"):
        Tensor(np.arange(3), requires_grad=True)


def test_python_scalars_do_not_upcast_float32():
    x = Tensor(np.ones(3, np.float32), requires_grad=True)
    y = (2.0 * x + 1.5) / 3.0 - 0.5
    y = y**2.0
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_backward_accumulates_and_matches_closed_form():
    x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, 4 * x.data)


def test_shared_subexpression_gradients_add_up():
    x = Tensor(np.array([0.5, 1.5]), requires_grad=True)
    y = x * 3.0
    z = (y * y + y).sum()
    z.backward()
    np.testing.assert_allclose(x.grad, 3 * (2 * 3 * x.data + 1))


def test_backward_needs_scalar_or_grad():
    x = Tensor(np.ones((2, 2)), requires_grad=True)
    y = x * 2.0
    with pytest.raises(RuntimeError, match=r"\(2, 2\)"):
        y.backward()
    with pytest.raises(ValueError, match="shape"):
        y.backward(np.ones(3))
    y.backward(np.full((2, 2), 0.5))
    np.testing.assert_allclose(x.grad, np.ones((2, 2)))


def test_backward_on_constant_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor(np.ones(2)).sum().backward()


def test_no_grad_records_nothing_and_nests():
    x = Tensor(np.ones(2), requires_grad=True)
    assert is_grad_enabled()
    with no_grad():
        assert not is_grad_enabled()
        with no_grad():
            y = x * 2.0
        z = x + 1.0
    assert is_grad_enabled()
    assert not y.requires_grad and not z.requires_grad


def test_deep_graph_has_no_recursion_limit():
    x = Tensor(np.array([1.0]), requires_grad=True)
    y = x
    n = max(sys.getrecursionlimit() * 2, 10_000)
    for _ in range(n):
        y = y + 1e-3
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0])


def test_graph_released_after_backward():
    x = Tensor(np.ones(3), requires_grad=True)
    y = x * 2.0
    z = (y * y).sum()
    z.backward()
    assert z._parents == () and z._backward is None
    assert y._parents == () and y._backward is None


def test_retain_graph_allows_second_backward():
    x = Tensor(np.ones(3), requires_grad=True)
    z = (x * x).sum()
    z.backward(retain_graph=True)
    z.backward()
    np.testing.assert_allclose(x.grad, 4 * np.ones(3))


def test_detach_item_numpy_and_comparisons():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    d = x.detach()
    assert d.data is x.data and not d.requires_grad
    assert Tensor(np.array([[3.0]])).item() == 3.0
    with pytest.raises(ValueError, match="one-element"):
        x.item()
    assert isinstance(x.numpy(), np.ndarray)
    assert isinstance(x > 1.5, np.ndarray)
    np.testing.assert_array_equal(x > 1.5, [False, True])


def test_ndarray_on_the_left_defers_to_tensor():
    x = Tensor(np.ones(2), requires_grad=True)
    y = np.array([2.0, 3.0]) * x
    assert isinstance(y, Tensor)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 3.0])


def test_unbroadcast():
    g = np.ones((4, 2, 3))
    assert unbroadcast(g, (2, 3)).shape == (2, 3)
    np.testing.assert_allclose(unbroadcast(g, (1, 3)), np.full((1, 3), 8.0))
    np.testing.assert_allclose(unbroadcast(g, ()), 24.0)
    np.testing.assert_allclose(unbroadcast(g, (4, 1, 1)), np.full((4, 1, 1), 6.0))


def test_custom_op_single_and_multi_output():
    @custom_op
    def scale_and_copy(a, b):
        def backward(g_prod, g_copy):
            return g_prod * b + g_copy, g_prod * a

        return (a * b, a.copy()), backward

    a = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = Tensor(np.array([4.0, 5.0, 6.0]), requires_grad=True)
    prod, copy = scale_and_copy(a, b)
    (prod.sum() + (copy * 3.0).sum()).backward()
    np.testing.assert_allclose(a.grad, b.data + 3.0)
    np.testing.assert_allclose(b.grad, a.data)

    # an unused output gets a zero gradient
    a.grad = b.grad = None
    prod, _ = scale_and_copy(a, b)
    prod.sum().backward()
    np.testing.assert_allclose(a.grad, b.data)

    @custom_op
    def square(x):
        return x * x, lambda g: 2 * x * g

    x = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    square(x).sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, -4.0])


def test_custom_op_with_constant_inputs_and_wrong_grad_shape():
    @custom_op
    def addc(x, c):
        return x + c, lambda g: (g, None)

    x = Tensor(np.ones(2), requires_grad=True)
    addc(x, np.ones(2)).sum().backward()
    np.testing.assert_allclose(x.grad, [1.0, 1.0])
    with no_grad():
        assert not addc(x, np.ones(2)).requires_grad

    @custom_op
    def bad(x):
        return x * 2, lambda g: np.ones(5)

    with pytest.raises(ValueError, match="bad"):
        bad(x).sum().backward()

    @custom_op
    def wrong_count(x):
        return x * 2, lambda g: (g, g)

    with pytest.raises(ValueError, match="2 gradient"):
        wrong_count(x).sum().backward()


def test_functional_alias_and_methods():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = F.exp(x).sum(axis=1).mean()
    y.backward()
    np.testing.assert_allclose(x.grad, np.exp(x.data) / 2)
    assert x.T.shape == (3, 2)


def test_leaf_grads_never_share_memory():
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    b = Tensor(np.ones((2, 3)), requires_grad=True)
    c = Tensor(np.ones(6), requires_grad=True)
    (a + b + c.reshape(2, 3)).sum().backward()
    a.grad *= 10.0  # e.g. in-place gradient clipping must not touch b.grad or c.grad
    np.testing.assert_array_equal(b.grad, np.ones((2, 3)))
    np.testing.assert_array_equal(c.grad, np.ones(6))
    x = Tensor(np.ones(3), requires_grad=True)
    g = np.full(3, 2.0)
    (x + 0.0).backward(g)
    x.grad += 1.0
    np.testing.assert_array_equal(g, 2.0)  # the caller's grad array is not aliased
