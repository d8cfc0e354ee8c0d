"""Continuous MADE on 2-D toys: AR property, normalization, exact-entropy fit of ring8."""

import numpy as np
import pytest

from minigen.autograd import F
from minigen.base import GenerativeModel
from minigen.datasets import Ring8, load_dataset
from minigen.models.autoregressive.continuous import ContinuousMADE, GaussianMADE
from minigen.optim import CosineLR

from .ar_property import check_autoregressive, numpy_backend_fixture

_np = pytest.fixture(autouse=True, scope="module")(numpy_backend_fixture)


def _built(d=4, **kw):
    m = ContinuousMADE(**kw)
    m.build_parameters(d, np.random.default_rng(0))
    m.fitted_ = True
    return m


@pytest.mark.parametrize("kw", [dict(), dict(ordering="random", n_components=3),
                                dict(ordering=[2, 3, 0, 1], distribution="logistic",
                                     activation="tanh")])
def test_autoregressive_property(kw):
    m = _built(**kw)
    h = np.random.default_rng(1).standard_normal((16, 4, 1))

    def params(z):
        logw, loc, log_scale = m._params(F.reshape(z, (z.shape[0], 4)))
        return F.concatenate([logw, loc, log_scale], axis=2)

    check_autoregressive(params, h, m.ordering_)


@pytest.mark.parametrize("dist", ["gaussian", "logistic"])
def test_density_integrates_to_one(dist):
    m = _built(d=2, distribution=dist, n_components=3)
    m.init_from_data(np.random.default_rng(0).standard_normal((100, 2)) * 0.5)
    g = np.linspace(-8, 8, 401)
    xx, yy = np.meshgrid(g, g)
    p = np.exp(m.score_samples(np.stack([xx.ravel(), yy.ravel()], 1)))
    assert abs(p.sum() * (g[1] - g[0]) ** 2 - 1.0) < 1e-2


@pytest.fixture(scope="module")
def ring():
    X = load_dataset("ring8", "train")
    Xt = load_dataset("ring8", "test")
    H, se = Ring8().entropy(n_mc=100_000, random_state=0)
    return X, Xt, H, se


@pytest.mark.parametrize("cls,kw", [(GaussianMADE, {}),
                                    (ContinuousMADE, dict(distribution="logistic"))])
def test_fits_ring8_to_its_entropy(ring, cls, kw, tmp_path):
    X, Xt, H, se = ring
    m = (
        cls(hidden_sizes=(64, 64), **kw)
        .set_params(
            max_epochs=20,
            learning_rate=5e-3,
            batch_size=100,
            random_state=0,
            lr_schedule=CosineLR(2000),
        )
        .fit(X)
    )
    # test NLL within 0.1 nats of the true entropy (MC s.e. ~0.003; test-set s.e. ~0.02)
    assert abs(m.nll(Xt) - H) < 0.1
    s = m.sample(2000, random_state=0)
    np.testing.assert_array_equal(s, m.sample(2000, random_state=0))
    # samples lie on the ring: their true mean log-density is close to -H
    assert np.mean(Ring8().log_prob(s)) > -H - 0.3
    m2 = GenerativeModel.load(m.save(tmp_path / "cm.npz"))
    np.testing.assert_allclose(m2.score_samples(Xt[:50]), m.score_samples(Xt[:50]))
    np.testing.assert_allclose(m2.sample(5, random_state=1), m.sample(5, random_state=1))


def test_single_gaussian_cannot_fit_the_ring(ring):
    X, Xt, H, _ = ring
    m = (
        GaussianMADE(n_components=1)
        .set_params(max_epochs=5, learning_rate=5e-3, batch_size=200, random_state=0)
        .fit(X)
    )
    assert m.nll(Xt) > H + 0.5  # unimodal conditionals: a multimodal marginal is out of reach


def test_bad_input():
    m = _built(d=2)
    with pytest.raises(ValueError, match="X has 3 features"):
        m.score_samples(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="NaN"):
        m.score_samples(np.full((4, 2), np.nan))
    with pytest.raises(ValueError, match="distribution"):
        ContinuousMADE(distribution="cauchy").set_params(max_epochs=1).fit(np.zeros((10, 2)))
    with pytest.raises(ValueError, match="ordering must be a permutation"):
        ContinuousMADE(ordering=[1, 1]).set_params(max_epochs=1).fit(np.zeros((10, 2)))


@pytest.mark.parametrize("value", [5.0, 0.1])  # std of a constant 0.1 column is not 0
def test_constant_column_refused_at_fit(value):
    """A constant column has no density: it used to get scale 1e-8 and scores near -1e10."""
    X = np.random.default_rng(0).normal(size=(64, 3))
    X[:, 2] = value
    with pytest.raises(ValueError, match=r"constant column\(s\) \[2\]"):
        GaussianMADE(hidden_sizes=(8,), n_components=2).set_params(
            max_epochs=1, random_state=0
        ).fit(X)
