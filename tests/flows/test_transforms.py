"""Every flow transform: inverse(forward(x)) == x, log-det == slogdet of the numerical
Jacobian (float64), parameter gradients against central differences, bad input."""

import numpy as np
import pytest

from minigen.autograd import Tensor, check_grads, no_grad
from minigen.models.flows import (
    ActNorm,
    AdditiveCoupling,
    AffineCoupling,
    Compose,
    ConvConditioner,
    DiagonalScaling,
    InvertibleConv1x1,
    MLPConditioner,
    MultiScale,
    NonInvertibleError,
    RandomPermutation,
    ReversePermutation,
    Squeeze,
    Unsqueeze,
    alternating_mask,
    channel_mask,
    checkerboard_mask,
    half_mask,
    lu_factor,
)
from minigen.models.flows.coupling import random_half_mask

from .helpers import check_logdet, param_fn, randomize, roundtrip_error

F64 = np.float64


def _vec_transforms(dt, rng):
    d = 4
    return {
        "additive": AdditiveCoupling(alternating_mask(d),
                                     MLPConditioner(d, 8, 1, 1, "tanh", dt, 0)),
        "affine": AffineCoupling(alternating_mask(d, 1), MLPConditioner(d, 8, 1, 2, "tanh", dt, 1)),
        # other masks and depths: the index-set ``invert`` path (first/last layer sliced)
        "affine_random_2hidden": AffineCoupling(random_half_mask(d, 1),
                                                MLPConditioner(d, 8, 2, 2, "relu", dt, 4)),
        "additive_half_0hidden": AdditiveCoupling(half_mask(d, False),
                                                  MLPConditioner(d, 8, 0, 1, "tanh", dt, 5)),
        "affine_half_0hidden": AffineCoupling(half_mask(d),
                                              MLPConditioner(d, 8, 0, 2, "tanh", dt, 6)),
        "actnorm": ActNorm(d, dt),
        "diagonal": DiagonalScaling(d, dt),
        "linear_lu": InvertibleConv1x1(d, dt, 2),
        "reverse": ReversePermutation(d),
        "random_perm": RandomPermutation(d, 3),
    }


def _img_transforms(dt, rng):
    return {
        "affine_checkerboard": AffineCoupling(
            checkerboard_mask(2, 4, 4, 0), ConvConditioner(2, 4, 1, 2, "tanh", dt, 0)),
        "affine_channel": AffineCoupling(
            channel_mask(2, 4, 4), ConvConditioner(2, 4, 1, 2, "tanh", dt, 1)),
        "additive_checkerboard": AdditiveCoupling(
            checkerboard_mask(2, 4, 4, 1), ConvConditioner(2, 4, 1, 1, "tanh", dt, 2)),
        "actnorm": ActNorm(2, dt),
        "invconv": InvertibleConv1x1(2, dt, 3),
        "squeeze": Squeeze(),
        "unsqueeze_of_squeeze": Compose([Squeeze(), Unsqueeze()]),
        "reverse_channels": ReversePermutation(2),
        "multiscale": MultiScale(
            [Compose([Squeeze(), ActNorm(8, dt), InvertibleConv1x1(8, dt, 4),
                      AffineCoupling(channel_mask(8, 2, 2),
                                     ConvConditioner(8, 4, 1, 2, "tanh", dt, 5))]),
             Compose([Squeeze(), AffineCoupling(channel_mask(16, 1, 1),
                                                ConvConditioner(16, 4, 1, 2, "tanh", dt, 6))])],
            (2, 4, 4)),
    }


def _cases(dt, rng):
    out = [(f"vec/{k}", t, (5, 4)) for k, t in _vec_transforms(dt, rng).items()]
    out += [(f"img/{k}", t, (3, 2, 4, 4)) for k, t in _img_transforms(dt, rng).items()]
    out.append(("vec/compose", Compose(list(_vec_transforms(dt, rng).values())), (5, 4)))
    return out


NAMES = [c[0] for c in _cases(F64, np.random.default_rng(0))]


def _get(name, dt, seed=0):
    rng = np.random.default_rng(seed)
    for n, t, shape in _cases(dt, rng):
        if n == name:
            randomize(t, rng)
            for m in t.modules():
                if isinstance(m, ActNorm):
                    m.initialized = True
            x = rng.standard_normal(shape).astype(dt)
            return t, x
    raise KeyError(name)


@pytest.mark.parametrize("name", NAMES)
def test_roundtrip_float64(name):
    t, x = _get(name, F64)
    err, lderr = roundtrip_error(t, x)
    assert err <= 1e-10 and lderr <= 1e-10


@pytest.mark.parametrize("name", NAMES)
def test_roundtrip_float32(name):
    t, x = _get(name, np.float32)
    err, lderr = roundtrip_error(t, x)
    assert err <= 1e-5 and lderr <= 1e-4


@pytest.mark.parametrize("dt", [F64, np.float32])
@pytest.mark.parametrize("name", NAMES)
def test_invert_fast_path_matches_inverse(name, dt):
    """``invert`` (plain arrays, no tape, no log-det: the sampling path) == ``inverse``."""
    t, x = _get(name, dt)
    with no_grad():
        z = t.forward(Tensor(x))[0].data
        ref = t.inverse(Tensor(z))[0].data
    got = t.inverse_array(z)
    assert got.dtype == ref.dtype and got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=1e-12 if dt == F64 else 1e-5)


def test_vector_couplings_invert_on_index_sets():
    """Vector couplings with MLP conditioners take the index-set ``invert`` path (covered
    by the fast-path test above); conv couplings keep the masked one."""
    for name, t in _vec_transforms(F64, None).items():
        if isinstance(t, (AffineCoupling, AdditiveCoupling)):
            assert t._sub is not None, name
    assert all(t._sub is None for t in _img_transforms(F64, None).values()
               if isinstance(t, (AffineCoupling, AdditiveCoupling)))


@pytest.mark.parametrize("c,hidden,n_hidden,act,hw", [
    (1, 8, 2, "relu", (8, 8)),   # first conv C <= O (im2col), last C > O (tap sums)
    (4, 3, 1, "tanh", (4, 5)),   # last conv C < O
    (8, 16, 2, "relu", (2, 2)),
    (6, 16, 1, "relu", (1, 3)),  # a single row: vertical taps fall off the image
    (2, 8, 3, "tanh", (3, 1)),
])
def test_conv_conditioner_infer_matches_autograd(c, hidden, n_hidden, act, hw):
    rng = np.random.default_rng(0)
    net = randomize(ConvConditioner(c, hidden, n_hidden, 2, act, F64, rng), rng, scale=0.5)
    x = rng.standard_normal((3, c, *hw))
    np.testing.assert_allclose(net.forward_array(x), net(Tensor(x)).data, atol=1e-12)
    mlp = randomize(MLPConditioner(c + 1, hidden, n_hidden, 2, act, F64, rng), rng, 0.5)
    v = rng.standard_normal((3, c + 1))
    np.testing.assert_allclose(mlp.forward_array(v), mlp(Tensor(v)).data, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_logdet_matches_numerical_jacobian(name):
    t, x = _get(name, F64)
    check_logdet(t, x)


@pytest.mark.parametrize("name", [n for n in NAMES if "perm" not in n and "squeeze" not in n
                                  and n != "img/reverse_channels" and n != "vec/reverse"])
def test_parameter_gradients(name):
    t, x = _get(name, F64, seed=1)
    fn, params = param_fn(t, x)
    check_grads(fn, *params, rtol=1e-5, atol=1e-6)


def test_logdet_is_float64_for_float32_data():
    t, x = _get("vec/compose", np.float32)
    z, ld = t.forward(Tensor(x))
    assert z.dtype == np.float32 and ld.dtype == np.float64 and ld.shape == (5,)


def test_affine_scale_is_bounded():
    rng = np.random.default_rng(0)
    t = AffineCoupling(alternating_mask(4), MLPConditioner(4, 8, 1, 2, "relu", F64, 0),
                       scale_bound=1.5)
    randomize(t, rng, scale=50.0)  # a wild conditioner
    x = rng.standard_normal((100, 4)) * 10
    with no_grad():
        _, ld = t.forward(x)
    assert np.all(np.abs(ld.data) <= 2 * 1.5)  # two transformed coordinates, each |s| <= 1.5
    assert np.all(np.isfinite(ld.data))


def test_actnorm_data_dependent_init():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 5.0, size=(400, 3, 2, 2))
    a = ActNorm(3, F64)
    assert not a.initialized
    with no_grad():
        y, _ = a.forward(x)
    assert a.initialized
    np.testing.assert_allclose(y.data.mean(axis=(0, 2, 3)), 0, atol=1e-10)
    np.testing.assert_allclose(y.data.std(axis=(0, 2, 3)), 1, atol=1e-5)
    before = a.loc.data.copy()
    with no_grad():
        a.forward(x + 100)  # second call must not re-initialise
    np.testing.assert_array_equal(a.loc.data, before)


def test_invconv_logdet_is_sum_log_s_and_matches_slogdet():
    t = InvertibleConv1x1(5, F64, random_state=0)
    randomize(t, np.random.default_rng(1))
    W = t.weight().data
    assert abs(float(t.logabsdet_weight().data) - np.linalg.slogdet(W)[1]) < 1e-10


def test_lu_factor_reconstructs():
    W = np.random.default_rng(0).standard_normal((6, 6))
    P, L, U = lu_factor(W)
    np.testing.assert_allclose(P @ L @ U, W, atol=1e-12)
    t = InvertibleConv1x1(6, F64)
    t.set_weight(W)
    np.testing.assert_allclose(t.weight().data, W, atol=1e-12)


# ------------------------------------------------------------------ bad input / states
def test_singular_1x1_weight_rejected():
    t = InvertibleConv1x1(3, F64)
    W = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 1.0]])
    with pytest.raises(NonInvertibleError, match="singular"):
        t.set_weight(W)
    t.log_s.data[0] = -np.inf  # a collapsed LU diagonal
    with pytest.raises(NonInvertibleError, match="not invertible"):
        t.forward(np.ones((2, 3)))


def test_zero_actnorm_scale_rejected():
    a = ActNorm(2, F64)
    a.initialized = True
    a.log_scale.data[1] = -np.inf
    with pytest.raises(NonInvertibleError, match="zero or non-finite"):
        a.forward(np.ones((2, 2)))
    with pytest.raises(NonInvertibleError):
        a.inverse(np.ones((2, 2)))


def test_wrong_shapes_rejected():
    c = AffineCoupling(alternating_mask(4), MLPConditioner(4, 8, 1, 2, "relu", F64, 0))
    with pytest.raises(ValueError, match="shape"):
        c.forward(np.ones((2, 5)))
    with pytest.raises(ValueError, match="channels"):
        ActNorm(3, F64).forward(np.ones((2, 4)))
    with pytest.raises(ValueError, match="even"):
        Squeeze().forward(np.ones((1, 1, 3, 4)))
    with pytest.raises(ValueError, match="dimensions"):
        Squeeze().forward(np.ones((2, 4)))
    with pytest.raises(ValueError, match="mask"):
        AffineCoupling(np.ones(4), MLPConditioner(4, 8))
    with pytest.raises(ValueError, match="permutation"):
        from minigen.models.flows import Permutation

        Permutation([0, 0, 1])
