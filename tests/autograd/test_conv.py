"""conv2d / conv1d ops and Conv2d, MaskedConv2d, Conv1d, RowConv1d modules."""

import numpy as np
import pytest

from minigen.autograd import Tensor, check_grads
from minigen.autograd.conv import conv1d, conv2d
from minigen.autograd.nn.conv import Conv1d, Conv2d, MaskedConv2d, RowConv1d, pixelcnn_mask

CASES = [
    # x shape, w shape, stride, padding, dilation
    ((2, 3, 5, 6), (4, 3, 3, 3), 1, 0, 1),
    ((1, 1, 4, 4), (1, 1, 1, 1), 1, 0, 1),
    ((2, 2, 7, 5), (3, 2, 3, 2), 2, 1, 1),
    ((1, 3, 6, 6), (2, 3, 3, 3), 1, 2, 2),
    ((2, 2, 6, 7), (2, 2, 2, 3), (2, 1), (0, 1), (1, 2)),
    ((3, 1, 1, 5), (2, 1, 1, 3), 1, (0, 1), 1),
    # stride 1 with little padding waste: the flat (padded-grid) layout
    ((2, 3, 10, 10), (4, 3, 3, 3), 1, 1, 1),
    ((2, 2, 16, 16), (3, 2, 3, 3), 1, (1, 2), (1, 2)),
    # flat, output narrower than the input: tap products forward, transposed gx backward
    ((2, 5, 10, 10), (2, 5, 3, 3), 1, 1, 1),
    ((2, 4, 14, 14), (3, 4, 3, 3), 1, (1, 2), (1, 2)),
    ((2, 6, 7, 7), (2, 6, 3, 3), 1, 1, 1),  # 1.65x padded grid, flat only when narrowing
    # 1x1: one product each way
    ((2, 3, 5, 4), (4, 3, 1, 1), 1, 0, 1),
    ((2, 4, 5, 4), (2, 4, 1, 1), 1, 0, 1),
]


@pytest.mark.parametrize("xs, ws, s, p, d, flat", [
    ((2, 3, 10, 10), (4, 3, 3, 3), 1, 1, 1, True),
    ((2, 2, 16, 16), (3, 2, 3, 3), 1, (1, 2), (1, 2), True),
    ((3, 1, 1, 5), (2, 1, 1, 3), 1, (0, 1), 1, True),
    ((2, 2, 7, 5), (3, 2, 3, 2), 2, 1, 1, False),  # stride 2
    ((1, 3, 6, 6), (2, 3, 3, 3), 1, 2, 2, False),  # padding ring > half the output
    ((2, 3, 5, 4), (4, 3, 1, 1), 1, 0, 1, "pointwise"),  # 1x1: one product
    ((2, 6, 7, 7), (2, 6, 3, 3), 1, 1, 1, True),  # narrowing: up to 2x padded grid
    ((2, 2, 7, 7), (6, 2, 3, 3), 1, 1, 1, False),  # widening: at most 1.5x
])  # fmt: skip
def test_conv2d_layout_choice(xs, ws, s, p, d, flat):
    """Stride 1 with at most 1.5x padded-grid columns uses the flat layout; 1x1 convs
    without padding are one product."""
    from minigen.autograd.conv import conv2d_forward

    x, w = np.ones(xs), np.ones(ws)
    _, cache = conv2d_forward(x, w, None, s, p, d)
    if isinstance(flat, str):
        assert cache[0] == flat
    else:
        assert (cache[0] == "flat") is flat


@pytest.mark.parametrize("xs, ws, taps", [
    ((3, 6, 9, 9), (2, 6, 3, 3), ((0, 0), (0, 1), (0, 2), (1, 0), (1, 1))),  # O < C
    ((3, 2, 9, 9), (6, 2, 3, 3), ((0, 0), (0, 1), (0, 2), (1, 0))),  # C < O
])  # fmt: skip
def test_conv2d_narrow_side_paths_with_taps_match_torch(xs, ws, taps):
    """Masked kernels (taps) through the narrow-output / narrow-input variants, the
    input not requiring a gradient as well: the same numbers as torch on the masked
    kernel."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    mask = np.zeros(ws[2:])
    for i, j in taps:
        mask[i, j] = 1
    w *= mask
    for x_grad in (True, False):
        tx, tw, tb = Tensor(x, requires_grad=x_grad), Tensor(w, requires_grad=True), \
            Tensor(b, requires_grad=True)
        y = conv2d(tx, tw, tb, 1, 1, 1, taps=taps)
        g = rng.standard_normal(y.shape)
        y.backward(g)
        qx, qw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
        qy = torch.nn.functional.conv2d(qx, qw, torch.tensor(b), 1, 1)
        qy.backward(torch.tensor(g))
        np.testing.assert_allclose(y.data, qy.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(tw.grad, qw.grad.numpy() * mask, atol=1e-12)
        if x_grad:
            np.testing.assert_allclose(tx.grad, qx.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize("xs, ws, s, p, d", CASES)
def test_conv2d_grads(xs, ws, s, p, d):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    check_grads(lambda x, w, b: conv2d(x, w, b, s, p, d), x, w, b)
    check_grads(lambda x, w: conv2d(x, w, None, s, p, d), x, w)


@pytest.mark.parametrize("xs, ws, s, p, d", CASES)
def test_conv2d_matches_torch(xs, ws, s, p, d):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    tx, tw, tb = (Tensor(a, requires_grad=True) for a in (x, w, b))
    y = conv2d(tx, tw, tb, s, p, d)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    qx, qw, qb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    qy = torch.nn.functional.conv2d(qx, qw, qb, s, p, d)
    qy.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, qy.detach().numpy(), atol=1e-12)
    for ours, theirs in ((tx, qx), (tw, qw), (tb, qb)):
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), atol=1e-12)


def test_conv1d_grads_and_torch():
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((2, 3, 7)), rng.standard_normal((4, 3, 3)), rng.standard_normal(4)
    check_grads(lambda x, w, b: conv1d(x, w, b, 2, 1, 2), x, w, b)
    torch = pytest.importorskip("torch")
    ref = torch.nn.functional.conv1d(torch.tensor(x), torch.tensor(w), torch.tensor(b), 2, 1, 2)
    np.testing.assert_allclose(conv1d(x, w, b, 2, 1, 2).data, ref.numpy(), atol=1e-12)


_HALF = ((0, 0), (0, 1), (0, 2), (1, 0), (1, 1))


@pytest.mark.parametrize("xs, ws, taps", [
    ((2, 16, 90, 90), (8, 16, 3, 3), None),  # narrow output: tap products, transposed gx
    ((2, 16, 120, 120), (8, 16, 3, 3), _HALF),
    ((2, 2, 180, 180), (16, 2, 3, 3), None),  # narrow input: the weight gradient's columns
    ((2, 2, 250, 250), (16, 2, 3, 3), _HALF),
    ((2, 64, 30, 30), (128, 64, 3, 3), None),  # wider output: input columns
])  # fmt: skip
def test_conv2d_flat_blocks_match_torch(xs, ws, taps):
    """Enough columns for several blocks (the last one partial) on every path, float64."""
    torch = pytest.importorskip("torch")
    from minigen.autograd.conv import _chunk

    rng = np.random.default_rng(13)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    if taps is not None:
        mask = np.zeros((3, 3))
        mask[tuple(zip(*taps, strict=True))] = 1
        w = w * mask
    n, c, h, wd = xs
    span = n * (h + 2) * (wd + 2) - 2 * (wd + 2) - 2
    nt = 9 if taps is None else len(taps)
    assert span > _chunk(min(c, ws[0]) * nt, span)
    tx, tw, tb = (Tensor(a, requires_grad=True) for a in (x, w, b))
    y = conv2d(tx, tw, tb, 1, 1, taps=taps)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    qx, qw, qb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    qy = torch.nn.functional.conv2d(qx, qw, qb, padding=1)
    qy.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, qy.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(tx.grad, qx.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(tb.grad, qb.grad.numpy(), atol=1e-10)
    gw = qw.grad.numpy()
    if taps is not None:
        gw = gw * mask
    np.testing.assert_allclose(tw.grad, gw, atol=1e-10)


CASES_1D = [  # x shape, w shape, stride, padding, dilation
    ((2, 3, 7), (4, 3, 3), 2, 1, 2),
    ((2, 3, 9), (4, 3, 3), 1, 1, 1),
    ((1, 2, 6), (3, 2, 5), 1, 2, 1),
    ((3, 1, 5), (2, 1, 1), 1, 0, 1),
]


@pytest.mark.parametrize("xs, ws, s, p, d", CASES_1D)
@pytest.mark.parametrize("bias", [True, False])
def test_conv1d_gradients_match_torch(xs, ws, s, p, d, bias):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    layer = Conv1d(xs[1], ws[0], ws[2], s, p, d, bias=bias, dtype=np.float64)
    layer.weight.data[...] = w
    if bias:
        layer.bias.data[...] = b
    tx = Tensor(x, requires_grad=True)
    y = layer(tx)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    qx, qw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    qb = torch.tensor(b, requires_grad=True) if bias else None
    qy = torch.nn.functional.conv1d(qx, qw, qb, s, p, d)
    qy.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, qy.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(tx.grad, qx.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, qw.grad.numpy(), atol=1e-12)
    if bias:
        np.testing.assert_allclose(layer.bias.grad, qb.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize("mask_type, groups", [(None, 1), ("A", 1), ("B", 1), ("A", 3),
                                               ("B", 3)])
@pytest.mark.parametrize("k", [3, 5])
def test_row_conv_gradients_match_torch(mask_type, groups, k):
    """RowConv1d against torch's conv1d with ``weight * mask`` (mask multiplied in torch)."""
    torch = pytest.importorskip("torch")
    layer = RowConv1d(3, 6, k, mask_type=mask_type, n_groups=groups, dtype=np.float64,
                      random_state=9)
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 3, 8))
    tx = Tensor(x, requires_grad=True)
    y = layer(tx)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    qx = torch.tensor(x, requires_grad=True)
    qw = torch.tensor(layer.weight.data, requires_grad=True)
    qb = torch.tensor(layer.bias.data, requires_grad=True)
    qw_eff = qw if mask_type is None else qw * torch.tensor(layer.mask)
    qy = torch.nn.functional.conv1d(qx, qw_eff, qb, padding=k // 2)
    qy.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, qy.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(tx.grad, qx.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, qw.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, qb.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_masked_conv_flat_layout_matches_torch(mask_type):
    """3x3 masked conv on 12x12 (the flat layout with skipped taps), float64."""
    torch = pytest.importorskip("torch")
    layer = MaskedConv2d(4, 5, 3, mask_type=mask_type, dtype=np.float64, random_state=11)
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 4, 12, 12))
    tx = Tensor(x, requires_grad=True)
    y = layer(tx)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    qx = torch.tensor(x, requires_grad=True)
    qw = torch.tensor(layer.weight.data, requires_grad=True)
    qb = torch.tensor(layer.bias.data, requires_grad=True)
    qy = torch.nn.functional.conv2d(qx, qw * torch.tensor(layer.mask), qb, padding=1)
    qy.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, qy.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(tx.grad, qx.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, qw.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, qb.grad.numpy(), atol=1e-12)


def test_conv_shape_errors_name_shapes():
    x, w = np.zeros((2, 3, 5, 5)), np.zeros((4, 2, 3, 3))
    with pytest.raises(ValueError, match=r"\(2, 3, 5, 5\).*\(4, 2, 3, 3\)"):
        conv2d(x, w)
    with pytest.raises(ValueError, match="x must have shape"):
        conv2d(np.zeros((3, 5, 5)), w)
    with pytest.raises(ValueError, match="bias must have shape"):
        conv2d(x, np.zeros((4, 3, 3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv2d(np.zeros((1, 3, 2, 2)), np.zeros((4, 3, 3, 3)))
    with pytest.raises(ValueError, match="stride"):
        conv2d(x, np.zeros((4, 3, 3, 3)), stride=0)
    with pytest.raises(ValueError, match="input channels"):
        conv1d(np.zeros((2, 3, 5)), np.zeros((4, 2, 3)))


def test_mask_errors():
    with pytest.raises(ValueError, match="mask_type must be 'A' or 'B'"):
        MaskedConv2d(3, 6, 3, mask_type="C")
    with pytest.raises(ValueError, match="odd kernel_size"):
        MaskedConv2d(3, 6, 2)
    with pytest.raises(ValueError, match="not divisible by n_groups"):
        MaskedConv2d(3, 5, 3, n_groups=3)
    with pytest.raises(ValueError, match="mask_type must be 'A' or 'B'"):
        RowConv1d(3, 3, 3, mask_type="a")


def test_module_init_and_forward():
    m = Conv2d(3, 5, 3, padding=1, random_state=0)
    assert m.weight.dtype == np.float32 and m.weight.shape == (5, 3, 3, 3)
    bound = 1 / np.sqrt(27)
    assert np.abs(m.weight.data).max() <= bound and np.abs(m.weight.data).max() > 0.8 * bound
    np.testing.assert_array_equal(Conv2d(3, 5, 3, random_state=0).weight.data, m.weight.data)
    y = m(Tensor(np.zeros((2, 3, 8, 8), np.float32)))
    assert y.shape == (2, 5, 8, 8) and y.dtype == np.float32
    assert Conv1d(2, 4, 3, padding=1)(np.zeros((1, 2, 6), np.float32)).shape == (1, 4, 6)


def _jacobian_dependency(layer, shape):
    """dep[o_pix, i_pix, co, ci]: does output (co, pixel) depend on input (ci, pixel)?"""
    n, c, h, w = shape
    rng = np.random.default_rng(3)
    x = Tensor(rng.standard_normal(shape), requires_grad=True)
    y = layer(x)
    co = y.shape[1]
    dep = np.zeros((h * w, co, h * w, c), bool)
    for p in range(h * w):
        for o in range(co):
            x.grad = None
            g = np.zeros(y.shape)
            g[0, o, p // w, p % w] = 1.0
            y2 = layer(x)
            y2.backward(g)
            dep[p, o] = (x.grad[0] != 0).reshape(c, h * w).T
    return dep


@pytest.mark.parametrize("mask_type", ["A", "B"])
@pytest.mark.parametrize("groups", [1, 3])
def test_masked_conv_autoregressive(mask_type, groups):
    c, o = (3, 6) if groups == 3 else (2, 2)
    layer = MaskedConv2d(c, o, 3, mask_type=mask_type, n_groups=groups, dtype=np.float64,
                         random_state=0)
    h, w = 4, 4
    dep = _jacobian_dependency(layer, (1, c, h, w))
    gin = np.arange(c) // (c // groups)
    gout = np.arange(o) // (o // groups)
    for p in range(h * w):
        for q in range(h * w):
            for oc in range(o):
                for ic in range(c):
                    if q < p:
                        continue  # earlier pixels: allowed (may or may not be non-zero)
                    if q > p:
                        assert not dep[p, oc, q, ic], (p, q, oc, ic)
                    else:
                        allowed = gin[ic] < gout[oc] if mask_type == "A" else gin[ic] <= gout[oc]
                        assert dep[p, oc, q, ic] == allowed, (p, oc, ic, mask_type)
    # interior pixel sees its full causal neighbourhood above
    p = 1 * w + 1
    assert dep[p, :, 0, :].all() and dep[p, :, p - 1, :].all()


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_masked_conv_matches_torch(mask_type):
    torch = pytest.importorskip("torch")
    layer = MaskedConv2d(3, 6, 5, mask_type=mask_type, n_groups=3, dtype=np.float64,
                         random_state=4)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 6, 7))
    tx = Tensor(x, requires_grad=True)
    y = layer(tx)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    mask = torch.tensor(pixelcnn_mask(6, 3, 5, 5, mask_type, 3))
    qx = torch.tensor(x, requires_grad=True)
    qw = torch.tensor(layer.weight.data, requires_grad=True)
    qb = torch.tensor(layer.bias.data, requires_grad=True)
    qy = torch.nn.functional.conv2d(qx, qw * mask, qb, padding=2)
    qy.backward(torch.tensor(g))
    np.testing.assert_allclose(y.data, qy.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(tx.grad, qx.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, qw.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, qb.grad.numpy(), atol=1e-12)


def test_masked_conv_grads():
    layer = MaskedConv2d(3, 3, 3, mask_type="A", n_groups=3, dtype=np.float64, random_state=0)
    x = np.random.default_rng(6).standard_normal((2, 3, 4, 5))
    check_grads(lambda x, w, b: conv2d(x, w * layer.mask, b, 1, 1, taps=layer._taps),
                x, layer.weight.data, layer.bias.data)


@pytest.mark.parametrize("mask_type", [None, "A", "B"])
def test_row_conv(mask_type):
    layer = RowConv1d(3, 6, 3, mask_type=mask_type, n_groups=3 if mask_type else 1,
                      dtype=np.float64, random_state=0)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 5))
    check_grads(lambda x, w, b: conv1d(x, w if mask_type is None else w * layer.mask, b, 1, 1,
                                       taps=layer._taps), x, layer.weight.data, layer.bias.data)
    assert layer(x).shape == (2, 6, 5)
    if mask_type is None:
        return
    tx = Tensor(x, requires_grad=True)
    y = layer(tx)
    g = np.zeros(y.shape)
    g[0, :, 2] = 1  # output position 2
    y.backward(g)
    assert np.all(tx.grad[0, :, 3:] == 0) and np.all(tx.grad[0, :, 1] != 0)
    assert np.all(tx.grad[0, :, 0] == 0)  # outside the kernel
    centre_in = tx.grad[0, :, 2] != 0
    # output channels of all groups touched: centre sees groups < 2 (A) or <= 2 (B)
    assert centre_in.tolist() == ([True, True, False] if mask_type == "A" else [True] * 3)
