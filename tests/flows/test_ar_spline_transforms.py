"""The transforms of MAF, IAF and NSF (masked autoregressive and spline couplings), the
pre-processing transforms and ``Inverse``: round trip to 1e-10 (float64), log-det ==
slogdet of the numerical Jacobian, gradients against central differences, identity
start, the autoregressive property by gradients, bad input."""

import numpy as np
import pytest
from autoregressive.ar_property import check_autoregressive, dependency_matrix

from minigen.autograd import F, Tensor, check_grads, no_grad
from minigen.models.flows import (
    AffineUnivariate,
    Compose,
    Coupling,
    Inverse,
    Layout,
    Logit,
    MaskedAutoregressive,
    Rescale,
    SplineUnivariate,
    UniformDequantization,
)
from minigen.models.flows.autoregressive import layer_ordering
from minigen.models.flows.base import merge_columns, take_columns

from .helpers import check_logdet, param_fn, randomize, roundtrip_error

F64 = np.float64
D = 4


def _cases(dt=F64):
    """name -> (transform, input factory rng -> x)."""
    wide = lambda rng: rng.standard_normal((5, D)) * 2.5  # noqa: E731  (reaches the tails)
    return {
        "coupling_spline": (Coupling(np.array([1, 0, 1, 0]), SplineUnivariate(5, 3.0), 8, 2,
                                     "tanh", dt, 0), wide),
        "coupling_spline_marginal": (Coupling(np.array([0, 1, 1, 0]), SplineUnivariate(4, 3.0),
                                              8, 2, "tanh", dt, 9, marginal=True), wide),
        "coupling_affine_marginal_2d": (Coupling(np.array([1, 0]), AffineUnivariate(), 8, 1,
                                                 "tanh", dt, 10, marginal=True),
                                        lambda rng: rng.standard_normal((5, 2)) * 2),
        "coupling_spline_2d_k1": (Coupling(np.array([0, 1]), SplineUnivariate(1, 2.0), 8, 1,
                                           "relu", dt, 1),
                                  lambda rng: rng.standard_normal((5, 2)) * 2),
        "coupling_affine": (Coupling(np.array([1, 1, 0, 0]), AffineUnivariate(1.5), 8, 2,
                                     "tanh", dt, 2), wide),
        "made_affine_random_order": (MaskedAutoregressive(
            D, AffineUnivariate(), (8, 8), [2, 0, 3, 1], "tanh", dt, 3), wide),
        "made_spline": (MaskedAutoregressive(D, SplineUnivariate(6, 3.0), (9,), None, "tanh",
                                             dt, 4, index=1), wide),
        "iaf_layer": (Inverse(MaskedAutoregressive(D, AffineUnivariate(), (8,), [3, 2, 1, 0],
                                                   "tanh", dt, 5)), wide),
        "compose": (Compose([MaskedAutoregressive(D, SplineUnivariate(4, 3.0), (8,), None,
                                                  "tanh", dt, 6),
                             Coupling(np.array([0, 1, 0, 1]), SplineUnivariate(3, 3.0), 6, 1,
                                      "tanh", dt, 7),
                             Inverse(MaskedAutoregressive(D, AffineUnivariate(), (8,),
                                                          [1, 3, 0, 2], "tanh", dt, 8))]),
                    wide),
        "rescale": (Rescale(-0.3, 0.7), wide),
        "logit": (Logit(), lambda rng: rng.uniform(0.02, 0.98, (5, D))),
        "dequantization_logit": (UniformDequantization(5, 0.05),
                                 lambda rng: rng.uniform(0, 5, (5, D))),
        "dequantization_linear": (UniformDequantization(3), lambda rng: rng.uniform(0, 3, (5, D))),
        "layout_channels_last": (Layout((2, 2, 1), (1, 2, 2)),
                                 lambda rng: rng.standard_normal((5, 2, 2, 1))),
    }


NAMES = list(_cases())
LEARNED = [n for n in NAMES if n.split("_")[0] in ("coupling", "made", "iaf", "compose")]


def _get(name, seed=0, dt=F64, scale=0.5):
    rng = np.random.default_rng(seed)
    t, make_x = _cases(dt)[name]
    randomize(t, rng, scale)
    return t, make_x(rng).astype(dt)


@pytest.mark.parametrize("name", NAMES)
def test_roundtrip_float64(name):
    t, x = _get(name)
    err, lderr = roundtrip_error(t, x)
    assert err <= 1e-10 and lderr <= 1e-10, (err, lderr)


@pytest.mark.parametrize("name", LEARNED)
def test_roundtrip_float32(name):
    t, x = _get(name, dt=np.float32)
    err, lderr = roundtrip_error(t, x)
    assert err <= 1e-4 and lderr <= 1e-3, (err, lderr)


@pytest.mark.parametrize("name", NAMES)
def test_logdet_matches_numerical_jacobian(name):
    t, x = _get(name)
    check_logdet(t, x, atol=1e-6)


@pytest.mark.parametrize("name", LEARNED)
def test_parameter_gradients(name):
    t, x = _get(name, seed=1)
    fn, params = param_fn(t, x)
    check_grads(fn, *params, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["coupling_spline", "made_spline", "iaf_layer", "logit",
                                  "dequantization_logit"])
def test_input_gradients_forward_and_inverse(name):
    t, x = _get(name, seed=2)
    with no_grad():
        z = t.forward(Tensor(x))[0].data

    def fwd(a):
        y, ld = t.forward(a)
        return F.concatenate([F.reshape(y, (y.shape[0], -1)), F.reshape(ld, (-1, 1))], axis=1)

    def inv(a):
        y, ld = t.inverse(a)
        return F.concatenate([F.reshape(y, (y.shape[0], -1)), F.reshape(ld, (-1, 1))], axis=1)

    check_grads(fwd, x, rtol=1e-5, atol=1e-6)
    check_grads(inv, z, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", LEARNED)
def test_invert_is_inverse_without_the_tape(name):
    t, x = _get(name)
    with no_grad():
        z = t.forward(Tensor(x))[0].data
        ref = t.inverse(Tensor(z))[0].data
    np.testing.assert_array_equal(t.inverse_array(z), ref)


@pytest.mark.parametrize("name", LEARNED)
def test_fresh_layers_are_the_identity(name):
    t, make_x = _cases()[name]
    x = make_x(np.random.default_rng(0))
    with no_grad():
        z, ld = t.forward(Tensor(x))
    np.testing.assert_allclose(z.data, x, atol=1e-12)
    np.testing.assert_allclose(ld.data, 0, atol=1e-12)


@pytest.mark.parametrize("univariate", [AffineUnivariate(), SplineUnivariate(4, 3.0)],
                         ids=["affine", "spline"])
@pytest.mark.parametrize("order", [[0, 1, 2, 3, 4], [3, 0, 4, 2, 1]])
def test_made_conditioner_is_autoregressive(univariate, order):
    """Raw parameters of coordinate i depend exactly on the coordinates before it."""
    t = randomize(MaskedAutoregressive(5, univariate, (16, 16), order, "tanh", F64, 0),
                  np.random.default_rng(0))
    h = np.random.default_rng(1).standard_normal((6, 5, 1))
    check_autoregressive(lambda a: t.params(F.reshape(a, (a.shape[0], 5))), h, order)


def test_autoregressive_check_catches_a_mask_bug():
    """The same check fails once the output mask is not strict (i sees x_i)."""
    t = randomize(MaskedAutoregressive(5, AffineUnivariate(), (16,), None, "relu", F64, 0),
                  np.random.default_rng(0))
    last = t.made.layers[1]
    last.set_mask(np.ones_like(last.mask))
    h = np.random.default_rng(1).standard_normal((6, 5, 1))
    with pytest.raises(AssertionError, match="depends on inputs"):
        check_autoregressive(lambda a: t.params(F.reshape(a, (a.shape[0], 5))), h,
                             np.arange(5))


@pytest.mark.parametrize("inverse_layer", [False, True], ids=["maf", "iaf"])
def test_jacobians_are_triangular_in_the_ordering(inverse_layer):
    """MAF's z_i and IAF's (sequential) z_i depend on x_j only for j at or before i."""
    order = [2, 4, 0, 1, 3]
    t = MaskedAutoregressive(5, SplineUnivariate(4, 3.0), (16, 16), order, "tanh", F64, 0)
    t = randomize(Inverse(t) if inverse_layer else t, np.random.default_rng(0))
    rank = np.empty(5, int)
    rank[order] = np.arange(5)
    x = np.random.default_rng(1).standard_normal((6, 5, 1))
    J = dependency_matrix(lambda a: t.forward(F.reshape(a, (a.shape[0], 5)))[0], x)
    later = rank[None, :] > rank[:, None]
    assert (J[later] == 0).all()
    assert (J[~later] != 0).all()


def test_orderings_alternate_or_are_fixed_random():
    np.testing.assert_array_equal(layer_ordering(4, 1), [3, 2, 1, 0])
    np.testing.assert_array_equal(layer_ordering(6, 3, "random"), layer_ordering(6, 3, "random"))
    assert sorted(layer_ordering(6, 3, "random")) == list(range(6))
    with pytest.raises(ValueError, match="ordering"):
        layer_ordering(3, 0, "reverse")


def test_column_ops_gradients():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5))
    a, b = np.array([4, 0]), np.array([1, 3, 2])
    check_grads(lambda t: take_columns(t, b) * 2.0, x)
    check_grads(lambda t: merge_columns(take_columns(t, a) * 3.0, take_columns(t, b), a, b), x)
    np.testing.assert_array_equal(
        merge_columns(take_columns(Tensor(x), a), take_columns(Tensor(x), b), a, b).data, x)


def test_bad_input_is_a_clear_error():
    t = Coupling(np.array([1, 0, 1]), SplineUnivariate(3), 4, 1)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 3\)"):
        t.forward(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="z must have 2 dimensions"):
        t.inverse(np.zeros(3))
    with pytest.raises(ValueError, match="both 0s"):
        Coupling(np.ones(3), SplineUnivariate(3))
    with pytest.raises(ValueError, match="permutation"):
        MaskedAutoregressive(3, AffineUnivariate(), (4,), [0, 0, 1])
    with pytest.raises(ValueError, match="n_bins"):
        SplineUnivariate(0)
    with pytest.raises(ValueError, match="tail_bound"):
        SplineUnivariate(4, float("inf"))
    with pytest.raises(ValueError, match="scale_bound"):
        AffineUnivariate(0.0)
    with pytest.raises(TypeError, match="Inverse needs a Transform"):
        Inverse(np.eye(2))
    with pytest.raises(ValueError, match="non-zero scale"):
        Rescale(0.0)
    m = MaskedAutoregressive(3, AffineUnivariate(), (4,))
    with pytest.raises(ValueError, match=r"z must have shape \(N, 3\)"):
        m.inverse(np.zeros((2, 2)))


@pytest.mark.parametrize("kind", ["affine", "additive"])
@pytest.mark.parametrize("mask", [[1, 0, 1, 0], [0, 0, 1, 1], [1, 0, 0, 0]])
def test_vector_coupling_without_tape_equals_the_masked_form(kind, mask):
    """RealNVP/NICE couplings: under no_grad they run on index sets, with the tape on in
    the masked form; forward and inverse (values and log-dets) agree."""
    from minigen.models.flows import AdditiveCoupling, AffineCoupling, MLPConditioner

    rng = np.random.default_rng(3)
    cls, mult = (AffineCoupling, 2) if kind == "affine" else (AdditiveCoupling, 1)
    t = randomize(cls(np.array(mask), MLPConditioner(4, 8, 2, mult, "tanh", F64, 0)), rng, 0.5)
    x = rng.standard_normal((6, 4))
    for method in (t.forward, t.inverse):
        taped = method(Tensor(x))
        with no_grad():
            fast = method(Tensor(x))
        np.testing.assert_allclose(fast[0].data, taped[0].data, atol=1e-13)
        np.testing.assert_allclose(fast[1].data, taped[1].data, atol=1e-13)
