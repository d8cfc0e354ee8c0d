"""FVSBN: strictly triangular mask, AR property, beats the factorized baseline."""

import numpy as np
import pytest

from minigen.datasets import bars_and_stripes, load_dataset
from minigen.models.autoregressive import FVSBN
from minigen.models.baseline import FactorizedBernoulli

from .ar_property import check_autoregressive_model, numpy_backend_fixture

_np = pytest.fixture(autouse=True, scope="module")(numpy_backend_fixture)


@pytest.mark.parametrize("kw", [dict(), dict(ordering="random"), dict(n_categories=3),
                                dict(ordering=[3, 1, 0, 2, 5, 4], n_categories=4)])
def test_autoregressive_property(kw):
    m = FVSBN(**kw)
    m.build_parameters((2, 3), np.random.default_rng(0))
    if m.net_ is None:
        m.init_from_data(np.zeros((1, 6)), np.random.default_rng(0))
    m.fitted_ = True
    check_autoregressive_model(m)


def test_mask_is_strictly_lower_triangular_in_the_ordering():
    m = FVSBN(n_categories=2, ordering=[2, 0, 1])
    m.build_parameters(3, np.random.default_rng(0))
    # p(x_2) first, then x_0 | x_2, then x_1 | x_2, x_0
    np.testing.assert_array_equal(m.net_.mask, [[0, 0, 1], [1, 0, 1], [0, 0, 0]])
    assert m.net_.mask.sum() == 3  # D (D - 1) / 2 weights


def test_beats_factorized_baseline_on_bars():
    X = load_dataset("bars-stripes4", "train", n_samples=3000)
    P = bars_and_stripes(4)
    base = FactorizedBernoulli().fit(X)
    m = FVSBN().set_params(max_epochs=30, learning_rate=1e-2, batch_size=100, random_state=0).fit(X)
    # the factorized model is ~16 log 2 = 11.1 nats; FVSBN captures most of the structure
    assert base.nll(P) > 10.0
    assert m.nll(P) < base.nll(P) - 5.0
    assert m.nll(P) >= np.log(30) - 0.01  # cannot beat the entropy (exact likelihood)


@pytest.mark.parametrize("bad", [10.0**12, 1e30, 70000.0])
def test_refuses_huge_inferred_alphabet(bad):
    # K = max(X) + 1 sizes a (D K)^2 weight: a stray value must not end in a MemoryError
    X = np.array([[0.0, 1.0], [1.0, bad]])
    with pytest.raises(ValueError, match="pass n_categories explicitly"):
        FVSBN().set_params(max_epochs=1, batch_size=2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="alphabet"):
        FVSBN(n_categories=2).set_params(max_epochs=1, batch_size=2, random_state=0).fit(X)


@pytest.mark.parametrize("bad", [-1.0, 0.5])
def test_rejects_negative_and_fractional_values(bad):
    X = np.array([[0.0, 1.0], [1.0, bad]])
    with pytest.raises(ValueError, match="integer"):
        FVSBN().set_params(max_epochs=1, batch_size=2, random_state=0).fit(X)


@pytest.mark.parametrize("kw", [dict(dtype="float64"), dict(ordering="random", dtype="float64"),
                                dict(dtype="float32")])
def test_row_sampler_draws_what_recomputing_draws(kw):
    """Only the current position's row of the layer at each step gives the conditionals
    of the full pass: the same samples, binary and K = 17."""
    for data in ("digits", "digits17"):
        X = load_dataset(data, "train")[:200]
        m = FVSBN(max_epochs=2, random_state=0, verbose=False, **kw).fit(X)
        a = m.sample(40, random_state=3)
        m._sampler_start = lambda n: None  # the recomputing default of the base class
        b = m.sample(40, random_state=3)
        np.testing.assert_array_equal(a, b)
        assert len(np.unique(a)) > 1
