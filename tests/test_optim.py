"""Optimizers: torch.optim parity, a hand-computed step, bitwise state round-trip, errors."""

import math

import numpy as np
import pytest

from minigen.backend import use_backend
from minigen.optim import (
    SGD,
    Adam,
    AdamW,
    ConstantLR,
    CosineLR,
    StepLR,
    clip_grad_norm,
    make_optimizer,
    make_schedule,
)


def _problem(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    params = {
        "W": rng.standard_normal((5, 3)).astype(dtype),
        "b": rng.standard_normal(3).astype(dtype),
    }
    grads_seq = [
        {k: rng.standard_normal(v.shape).astype(dtype) for k, v in params.items()} for _ in range(7)
    ]
    return params, grads_seq


CASES = [
    ("sgd", dict(lr=0.1), dict(lr=0.1)),
    ("sgd", dict(lr=0.1, momentum=0.9), dict(lr=0.1, momentum=0.9)),
    ("sgd", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
     dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("adam", dict(lr=0.01), dict(lr=0.01)),
    ("adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
     dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("adamw", dict(lr=0.01, weight_decay=0.1), dict(lr=0.01, weight_decay=0.1)),
]


def _backend(name):
    if name == "numba":
        pytest.importorskip("numba")
    return use_backend(name)


@pytest.mark.parametrize("name,kw,tkw", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_matches_torch(name, kw, tkw, dtype, backend):
    torch = pytest.importorskip("torch")
    params, grads_seq = _problem(dtype=dtype)
    tparams = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    tcls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]
    topt = tcls(list(tparams.values()), **tkw)
    opt = make_optimizer(name, params, **kw)
    opt.fused = backend == "numba"  # "numba": the fused one-pass kernels
    with _backend(backend):
        for grads in grads_seq:
            opt.step({k: g.copy() for k, g in grads.items()})
    assert (opt._numba_kernels() is not None) == (backend == "numba")
    for grads in grads_seq:
        for k, p in tparams.items():
            p.grad = torch.tensor(grads[k].copy())
        topt.step()
    tol = 1e-12 if dtype == np.float64 else 2e-6
    for k in params:
        np.testing.assert_allclose(params[k], tparams[k].detach().numpy(), rtol=tol, atol=tol)
        assert params[k].dtype == dtype


def test_adam_hand_computed_first_step():
    # At t = 1 bias correction makes the step lr * g / (|g| + eps') = lr * sign(g) (eps -> 0).
    p = {"x": np.array([1.0, -2.0, 0.5])}
    g = {"x": np.array([0.3, -4.0, 2.0])}
    opt = Adam(p, lr=0.1, eps=1e-300)  # eps must be > 0; this one is negligible
    opt.step(g)
    np.testing.assert_allclose(p["x"], [0.9, -1.9, 0.4], rtol=0, atol=1e-15)
    # second step by hand
    g2 = np.array([1.0, 1.0, -1.0])
    m = 0.9 * 0.1 * g["x"] + 0.1 * g2
    v = 0.999 * 0.001 * g["x"] ** 2 + 0.001 * g2**2
    mhat, vhat = m / (1 - 0.9**2), v / (1 - 0.999**2)
    want = p["x"] - 0.1 * mhat / np.sqrt(vhat)
    opt.step({"x": g2})
    np.testing.assert_allclose(p["x"], want, rtol=1e-13)


def test_sgd_hand_computed_momentum():
    p = {"x": np.array([1.0])}
    opt = SGD(p, lr=0.5, momentum=0.5)
    opt.step({"x": np.array([2.0])})  # b = 2, x = 1 - 1 = 0
    opt.step({"x": np.array([2.0])})  # b = 3, x = 0 - 1.5
    assert p["x"][0] == -1.5
    assert opt.t == 2


def test_updates_in_place_and_grads_untouched():
    params, grads_seq = _problem()
    ref = params["W"]
    g = {k: v.copy() for k, v in grads_seq[0].items()}
    Adam(params, lr=0.1, weight_decay=0.1).step(g)
    assert params["W"] is ref
    for k in g:
        np.testing.assert_array_equal(g[k], grads_seq[0][k])


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_state_dict_roundtrip_bitwise(name):
    kw = {"momentum": 0.9} if name == "sgd" else {}
    pa, grads_seq = _problem(dtype=np.float32)
    opt_a = make_optimizer(name, pa, lr=0.01, **kw)
    for g in grads_seq[:3]:
        opt_a.step(g)
    state = opt_a.state_dict()
    assert "t" in state and state["t"] == 3
    if name != "sgd":
        assert {"m/W", "v/W", "m/b", "v/b"} <= set(state)
    pb = {k: v.copy() for k, v in pa.items()}
    opt_b = make_optimizer(name, pb, lr=0.5, **kw)
    opt_b.load_state_dict({k: v.copy() for k, v in state.items()})
    assert opt_b.lr == 0.01
    for g in grads_seq[3:]:
        opt_a.step(g)
        opt_b.step(g)
    for k in pa:
        assert pa[k].tobytes() == pb[k].tobytes()


def test_load_state_dict_errors():
    params, _ = _problem()
    opt = Adam(params)
    state = opt.state_dict()
    with pytest.raises(KeyError, match="m/W"):
        opt.load_state_dict({k: v for k, v in state.items() if k != "m/W"})
    bad = dict(state)
    bad["v/b"] = np.zeros(4)
    with pytest.raises(ValueError, match="v/b"):
        opt.load_state_dict(bad)


def test_bad_input():
    params, grads = _problem()
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        make_optimizer("rmsprop", params, lr=0.1)
    with pytest.raises(TypeError, match="params"):
        Adam({})
    with pytest.raises(TypeError, match="params\\['x'\\]"):
        Adam({"x": np.arange(3)})
    with pytest.raises(ValueError, match="lr"):
        Adam(params, lr=-1.0)
    with pytest.raises(ValueError, match="betas"):
        Adam(params, betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="momentum"):
        SGD(params, lr=0.1, momentum=1.5)
    with pytest.raises(ValueError, match="nesterov"):
        SGD(params, lr=0.1, nesterov=True)
    opt = SGD(params, lr=0.1)
    with pytest.raises(KeyError, match="missing"):
        opt.step({"W": grads[0]["W"]})
    with pytest.raises(ValueError, match="shape"):
        opt.step({"W": grads[0]["W"], "b": np.zeros(4)})


def test_bad_hyper_parameters():
    params, _ = _problem()
    with pytest.raises(TypeError, match=r"betas must be a pair .* got float 0.9"):
        Adam(params, betas=0.9)
    with pytest.raises(ValueError, match="betas must be a pair .* got 3 values"):
        Adam(params, betas=(0.9, 0.99, 0.1))
    with pytest.raises(ValueError, match=r"betas\[1\]"):
        AdamW(params, betas=(0.9, -0.1))
    with pytest.raises(TypeError, match=r"betas\[0\]"):
        Adam(params, betas=("a", 0.9))
    with pytest.raises(ValueError, match="eps must be > 0"):
        Adam(params, eps=0.0)  # a zero gradient's first step would be 0 / 0
    with pytest.raises(ValueError, match="lr"):
        SGD(params, lr=float("nan"))
    with pytest.raises(ValueError, match="weight_decay"):
        AdamW(params, weight_decay=-0.1)
    with pytest.raises(ValueError, match="momentum"):
        SGD(params, lr=0.1, momentum=1.0)
    Adam(params, lr=0.0, betas=np.array([0.5, 0.5]))  # lr 0 (a no-op step) is allowed


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_gradient_refused_before_any_update(name, bad):
    params, grads_seq = _problem()
    opt = make_optimizer(name, params, lr=0.1)
    before = {k: v.copy() for k, v in params.items()}
    grads = {k: g.copy() for k, g in grads_seq[0].items()}
    grads["b"][1] = bad  # "W" comes first: it must not have been updated either
    with pytest.raises(FloatingPointError, match=r"grads\['b'\] contains NaN or infinite"):
        opt.step(grads)
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])
    assert opt.t == 0


def test_malformed_gradients():
    opt = Adam({"w": np.ones(3)}, lr=0.1)
    with pytest.raises(TypeError, match=r"grads\['w'\] must be an array, got list"):
        opt.step({"w": [1.0, 2.0, 3.0]})
    with pytest.raises(TypeError, match=r"grads\['w'\] must be a real array, got dtype complex"):
        opt.step({"w": np.ones(3) * 1j})
    opt.step({"w": np.ones(3, dtype=np.float32)})  # another float dtype is fine
    assert opt.t == 1


def test_lr_is_settable():
    p = {"x": np.array([0.0])}
    opt = SGD(p, lr=1.0)
    opt.lr = 0.25
    opt.step({"x": np.array([1.0])})
    assert p["x"][0] == -0.25


def test_clip_grad_norm_matches_torch_rule():
    g = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    total = clip_grad_norm(g, 1.0)
    assert total == 5.0
    scaled = math.sqrt(float((g["a"] ** 2).sum() + (g["b"] ** 2).sum()))
    assert abs(scaled - 5.0 / (5.0 + 1e-6)) < 1e-12
    g2 = {"a": np.array([0.1])}
    assert clip_grad_norm(g2, 1.0) == pytest.approx(0.1)
    assert g2["a"][0] == 0.1  # below the threshold: untouched
    g3 = {"a": np.array([np.nan, 1.0])}
    assert math.isnan(clip_grad_norm(g3, 1.0))
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm(g2, 0.0)


def test_schedules():
    assert ConstantLR()(10, 0.3) == 0.3
    s = StepLR(step_size=10, gamma=0.5)
    assert [s(i, 1.0) for i in (0, 9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]
    c = CosineLR(total_steps=100, min_lr=0.1)
    assert c(0, 1.0) == pytest.approx(1.0)
    assert c(50, 1.0) == pytest.approx(0.55)
    assert c(100, 1.0) == pytest.approx(0.1) and c(500, 1.0) == pytest.approx(0.1)
    assert isinstance(make_schedule(None), ConstantLR)
    assert make_schedule(c) is c
    with pytest.raises(ValueError, match="unknown lr schedule"):
        make_schedule("exp")
    with pytest.raises(ValueError, match="step_size"):
        StepLR(0)
    with pytest.raises(TypeError, match="lr_schedule"):
        make_schedule(3)


def test_adamw_differs_from_adam_l2():
    pa, grads = _problem()
    pb = {k: v.copy() for k, v in pa.items()}
    Adam(pa, lr=0.1, weight_decay=0.5).step(grads[0])
    AdamW(pb, lr=0.1, weight_decay=0.5).step(grads[0])
    assert not np.allclose(pa["W"], pb["W"])


@pytest.mark.parametrize("name,kw", [("adam", {"weight_decay": 0.1}), ("adamw", {}),
                                     ("sgd", {"momentum": 0.9, "nesterov": True,
                                              "weight_decay": 0.1})])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_numba_path_matches_numpy_path(name, kw, dtype):
    pytest.importorskip("numba")
    pa, grads_seq = _problem(dtype=dtype)
    pb = {k: v.copy() for k, v in pa.items()}
    with use_backend("numba"):
        a = make_optimizer(name, pa, lr=0.01, **kw)
        b = make_optimizer(name, pb, lr=0.01, **kw)
        a.fused, b.fused = True, False
        for g in grads_seq:
            a.step(g)
            b.step(g)
    assert a._numba_kernels() is not None and b._numba_kernels() is None
    tol = 1e-13 if dtype == np.float64 else 1e-5
    for k in pa:
        np.testing.assert_allclose(pa[k], pb[k], rtol=tol, atol=tol)
    sa, sb = a.state_dict(), b.state_dict()
    for k in sa:
        np.testing.assert_allclose(sa[k], sb[k], rtol=tol, atol=tol)


def test_fused_is_automatic_on_the_numba_backend():
    """fused=None (the default): the one-pass kernels exactly when the numba backend is on
    and every parameter is C-contiguous NumPy; otherwise the ufuncs, silently."""
    pytest.importorskip("numba")
    assert Adam({"x": np.zeros(3)}).fused is None
    for backend, params, want in (("numba", {"x": np.zeros((4, 4))}, True),
                                  ("numpy", {"x": np.zeros((4, 4))}, False),
                                  ("numba", {"x": np.zeros((4, 4))[:, ::2]}, False)):
        opt = Adam(params)
        with use_backend(backend):
            opt.step({"x": np.ones(params["x"].shape)})
            assert (opt._numba_kernels() is not None) == want, backend
        assert np.allclose(params["x"], -1e-3)  # one Adam step of lr: -lr * sign(g)


def test_fused_needs_numpy_contiguous():
    p = {"x": np.zeros((4, 4))[:, ::2]}
    opt = Adam(p)
    opt.fused = True
    with pytest.raises(RuntimeError, match="C-contiguous"):
        opt.step({"x": np.ones((4, 2))})
