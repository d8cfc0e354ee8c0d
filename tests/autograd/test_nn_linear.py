"""nn: Module registration, state dicts, Linear/MaskedLinear (grad checks and torch parity)."""

import weakref

import numpy as np
import pytest

from minigen.autograd import F, Tensor, check_grads, nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 4, random_state=0), nn.Tanh())
        self.head = nn.Linear(4, 2, bias=False, random_state=1)
        self.scale = nn.Parameter(np.ones(2))
        self.not_a_param = np.zeros(3)

    def forward(self, x):
        return self.head(self.body(x)) * self.scale


def test_registration_and_dotted_names():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "body.0.weight", "body.0.bias", "head.weight"]
    assert len(net.parameters()) == 4
    assert net.num_parameters() == 2 + 12 + 4 + 8
    arrays = net.param_arrays()
    assert arrays["body.0.weight"] is net.body[0].weight.data  # live, not a copy


def test_train_eval_and_zero_grad():
    net = Net()
    assert net.training and net.body[1].training
    net.eval()
    assert not net.training and not net.body[0].training
    net.train()
    assert net.head.training
    out = net(Tensor(np.ones((5, 3), np.float32)))
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    grads = net.grad_arrays()
    assert set(grads) == set(net.param_arrays())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    assert all(not g.any() for g in net.grad_arrays().values())


def test_state_dict_roundtrip_and_errors():
    a, b = Net(), Net()
    b.body[0].weight.data[...] = 7.0
    live = a.body[0].weight.data
    a.load_state_dict({k: v.copy() for k, v in b.state_dict().items()})
    assert a.body[0].weight.data is live  # copied in place
    np.testing.assert_array_equal(live, 7.0)
    sd = b.state_dict()
    sd["head.weight"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"'head.weight' has shape \(3, 3\)"):
        a.load_state_dict(sd)
    sd = b.state_dict()
    del sd["scale"]
    with pytest.raises(KeyError, match="scale"):
        a.load_state_dict(sd)
    a.load_state_dict(sd, strict=False)


def test_module_without_super_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.ones(2))

    with pytest.raises(AttributeError, match="super"):
        Bad()


def test_linear_init_and_dtype():
    lin = nn.Linear(100, 50, random_state=0)
    assert lin.weight.dtype == np.float32 and lin.weight.shape == (50, 100)
    k = 1 / np.sqrt(100)
    assert np.abs(lin.weight.data).max() <= k
    # uniform on [-k, k]: variance k^2/3; the sample variance is within 5 standard errors
    var = lin.weight.data.var()
    n = lin.weight.size
    assert abs(var - k * k / 3) < 5 * np.sqrt(4 / 45 * k**4 / n)
    assert nn.Linear(3, 2, dtype=np.float64).weight.dtype == np.float64
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(0, 2)
    with pytest.raises(TypeError, match="dtype"):
        nn.Linear(2, 2, dtype=np.int32)
    np.testing.assert_array_equal(
        nn.Linear(4, 3, random_state=5).weight.data, nn.Linear(4, 3, random_state=5).weight.data
    )


def test_masked_linear_masks_gradients_exactly():
    mask = np.tril(np.ones((4, 5)))
    lin = nn.MaskedLinear(5, 4, mask=mask, dtype=np.float64, random_state=0)
    x = Tensor(np.random.default_rng(0).standard_normal((6, 5)), requires_grad=True)
    out = lin(x)
    np.testing.assert_allclose(out.data, x.data @ (lin.weight.data * mask).T + lin.bias.data)
    out.sum().backward()
    assert np.all(lin.weight.grad[mask == 0] == 0.0)
    assert np.all(lin.weight.grad[mask == 1] != 0.0)
    check_grads(
        lambda x, w, b: F.masked_linear(x, w, mask, b), x.data, lin.weight.data, lin.bias.data
    )
    assert "mask" in lin.state_dict()
    with pytest.raises(ValueError, match=r"\(4, 5\)"):
        lin.set_mask(np.ones((5, 4)))


def test_autoregressive_property_of_masked_stack():
    # output i may depend only on inputs j < i
    d = 5
    m1 = (np.arange(1, d + 1)[:, None] >= np.arange(1, d + 1)[None, :]).astype(float)
    m2 = (np.arange(1, d + 1)[:, None] > np.arange(1, d + 1)[None, :]).astype(float)
    net = nn.Sequential(
        nn.MaskedLinear(d, d, m1, dtype=np.float64, random_state=0),
        nn.ReLU(),
        nn.MaskedLinear(d, d, m2, dtype=np.float64, random_state=1),
    )
    for i in range(d):
        x = Tensor(np.random.default_rng(i).standard_normal((1, d)), requires_grad=True)
        net(x)[0, i].backward()
        assert np.all(x.grad[0, i:] == 0.0)


def test_activation_modules_and_dropout_module():
    x = Tensor(np.linspace(-2, 2, 9))
    for mod, fn in [(nn.ReLU(), F.relu), (nn.Tanh(), F.tanh), (nn.Sigmoid(), F.sigmoid),
                    (nn.Softplus(), F.softplus), (nn.GELU(), F.gelu), (nn.Identity(), lambda t: t),
                    (nn.LeakyReLU(0.1), lambda t: F.leaky_relu(t, 0.1)),
                    (nn.ELU(0.5), lambda t: F.elu(t, 0.5))]:  # fmt: skip
        np.testing.assert_array_equal(mod(x).data, fn(x).data)
    drop = nn.Dropout(0.5, random_state=0)
    assert (drop(Tensor(np.ones(1000))).data == 0).any()
    drop.eval()
    np.testing.assert_array_equal(drop(Tensor(np.ones(10))).data, np.ones(10))


def test_linear_and_masked_linear_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    mask = (rng.random((3, 4)) > 0.4).astype(np.float32)
    for lin in (nn.Linear(4, 3, random_state=0), nn.MaskedLinear(4, 3, mask, random_state=0)):
        x = rng.standard_normal((5, 4)).astype(np.float32)
        g = rng.standard_normal((5, 3)).astype(np.float32)
        w = torch.tensor(lin.weight.data.copy(), requires_grad=True)
        b = torch.tensor(lin.bias.data.copy(), requires_grad=True)
        tx = torch.tensor(x, requires_grad=True)
        weff = w * torch.tensor(mask) if isinstance(lin, nn.MaskedLinear) else w
        ref = torch.nn.functional.linear(tx, weff, b)
        ref.backward(torch.tensor(g))
        mx = Tensor(x, requires_grad=True)
        out = lin(mx)
        out.backward(g)
        np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(mx.grad, tx.grad.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(lin.weight.grad, w.grad.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(lin.bias.grad, b.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_training_with_adam_reduces_loss():
    from minigen.optim import Adam

    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3)).astype(np.float32)
    y = (X @ np.array([1.0, -2.0, 0.5]) > 0).astype(np.int64)
    net = nn.Sequential(nn.Linear(3, 8, random_state=0), nn.ReLU(), nn.Linear(8, 2, random_state=1))
    opt = Adam(net.param_arrays(), lr=0.05)
    losses = []
    for _ in range(60):
        net.zero_grad()
        loss = F.cross_entropy(net(Tensor(X)), y)
        loss.backward()
        opt.step(net.grad_arrays())
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]


def test_masked_linear_weight_buffer_is_reused_only_when_free():
    rng = np.random.default_rng(0)
    mask = (rng.random((3, 4)) > 0.3).astype(np.float64)
    lin = nn.MaskedLinear(4, 3, mask, dtype=np.float64, random_state=0)
    x1 = Tensor(rng.standard_normal((2, 4)), requires_grad=True)
    x2 = Tensor(rng.standard_normal((2, 4)), requires_grad=True)
    w_old = lin.weight.data * mask
    y1 = lin(x1)
    lin.weight.data[...] += 1.0  # e.g. an optimizer step while y1's graph is alive
    y2 = lin(x2)
    (y1.sum() + y2.sum()).backward()
    np.testing.assert_allclose(x1.grad, np.ones((2, 3)) @ w_old)
    np.testing.assert_allclose(x2.grad, np.ones((2, 3)) @ (lin.weight.data * mask))
    buf = weakref.ref(lin._w_eff)
    lin(x1).sum().backward()  # no graph holds the buffer any more: reused
    assert lin._w_eff is buf()
