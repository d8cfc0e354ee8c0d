"""MADE: masks, orderings, ensembles, exact fit of bars-and-stripes."""

import numpy as np
import pytest

from minigen.base import GenerativeModel
from minigen.datasets import bars_and_stripes, load_dataset
from minigen.models.autoregressive import AutoregressiveModel
from minigen.models.autoregressive.made import MADE, made_degrees, made_masks

from .ar_property import check_autoregressive_model, numpy_backend_fixture

_np = pytest.fixture(autouse=True, scope="module")(numpy_backend_fixture)
LOG30 = float(np.log(30))


def _all_binary(d):
    return ((np.arange(2**d)[:, None] >> np.arange(d)) & 1).astype(np.int64)


def _built(**kw):
    shape = kw.pop("shape", (3, 3))
    k = kw.pop("k", 2)
    m = MADE(n_categories=k, **kw)
    m.build_parameters(shape, np.random.default_rng(1))
    m.fitted_ = True
    return m


@pytest.mark.parametrize(
    "kw",
    [
        dict(hidden_sizes=(20, 20)),
        dict(hidden_sizes=(20,), ordering="random"),
        dict(hidden_sizes=(16, 16, 16), ordering=[8, 0, 7, 1, 6, 2, 5, 3, 4], activation="elu"),
        dict(hidden_sizes=(30, 30), k=4, ordering="random"),
        dict(hidden_sizes=(20, 20), n_masks=3, ordering="random"),
        dict(hidden_sizes=(20, 20), n_masks=3, activation="tanh"),
    ],
)
def test_autoregressive_property_every_mask(kw):
    m = _built(**kw)
    for k in range(m.orderings_.shape[0]):
        m._activate(k)
        check_autoregressive_model(m)


def test_masks_from_degrees():
    rank = np.array([2, 0, 1])
    degs = made_degrees(rank, [5], np.random.default_rng(0))
    assert degs[0].tolist() == [3, 1, 2] and degs[1].min() >= 1 and degs[1].max() <= 2
    m1, m2 = made_masks(degs, 1, 1)
    assert m1.shape == (5, 3) and m2.shape == (3, 5)
    # the position generated first (input 1, degree 1) has an all-zero output row
    assert m2[1].sum() == 0


def test_ensemble_is_normalized_and_orders_differ():
    m = _built(shape=(2, 4), hidden_sizes=(12,), n_masks=3, ordering="random")
    assert len({tuple(o) for o in m.orderings_}) > 1
    logp = m.score_samples(_all_binary(8))
    np.testing.assert_allclose(np.exp(logp).sum(), 1.0, rtol=1e-5)
    # categorical too
    m = _built(shape=(3,), k=3, hidden_sizes=(8,), n_masks=2)
    X = np.stack(np.meshgrid(*[np.arange(3)] * 3, indexing="ij"), -1).reshape(-1, 3)
    np.testing.assert_allclose(np.exp(m.score_samples(X)).sum(), 1.0, rtol=1e-5)


def test_fits_bars_and_stripes_exactly():
    X = load_dataset("bars-stripes4", "train", n_samples=3000)
    P = bars_and_stripes(4)  # the 30 equally likely patterns: mean NLL over them is exact
    m = (
        MADE(hidden_sizes=(128, 128))
        .set_params(max_epochs=40, learning_rate=3e-3, batch_size=100, random_state=0)
        .fit(X)
    )
    assert abs(m.nll(P) - LOG30) < 0.05
    s = m.sample(500, random_state=0)
    valid = (s.reshape(500, 1, 16) == P.reshape(1, 30, 16)).all(-1).any(-1)
    assert valid.mean() > 0.9


def test_order_agnostic_ensemble_fits_and_roundtrips(tmp_path):
    X = load_dataset("bars-stripes4", "train", n_samples=3000)
    P = bars_and_stripes(4)
    m = (
        MADE(hidden_sizes=(128, 128), ordering="random", n_masks=4)
        .set_params(max_epochs=60, learning_rate=3e-3, batch_size=100, random_state=0)
        .fit(X)
    )
    assert abs(m.nll(P) - LOG30) < 0.05
    # the ensemble beats (or ties) its average member
    members = []
    for k in range(4):
        m._activate(k)
        members.append(-np.mean(AutoregressiveModel._log_prob(m, m._check_X(P))))
    m._activate(0)
    assert m.nll(P) <= np.mean(members) + 1e-9
    m2 = GenerativeModel.load(m.save(tmp_path / "made.npz"))
    np.testing.assert_array_equal(m2.orderings_, m.orderings_)
    np.testing.assert_allclose(m2.score_samples(P), m.score_samples(P), rtol=1e-6)
    np.testing.assert_array_equal(m2.sample(20, random_state=2), m.sample(20, random_state=2))
    Y = m.sample(300, random_state=1)
    valid = (Y.reshape(300, 1, 16) == P.reshape(1, 30, 16)).all(-1).any(-1)
    assert valid.mean() > 0.85


def test_bad_hyperparameters():
    X = np.zeros((10, 4), dtype=np.int64)
    with pytest.raises(ValueError, match="hidden_sizes"):
        MADE(hidden_sizes=(0,)).set_params(max_epochs=1).fit(X)
    with pytest.raises(ValueError, match="n_masks"):
        MADE(n_masks=0).set_params(max_epochs=1).fit(X)
    with pytest.raises(ValueError, match="activation"):
        MADE(activation="swish").set_params(max_epochs=1).fit(X)
    with pytest.raises(ValueError, match="ordering must be a permutation"):
        MADE(ordering=[0, 1, 2, 2]).set_params(max_epochs=1).fit(X)


@pytest.mark.parametrize("kw", [dict(dtype="float64"), dict(dtype="float32"),
                                dict(n_masks=3, ordering="random", dtype="float64")])
def test_incremental_sampler_draws_what_recomputing_draws(kw):
    """The first layer's pre-activations updated one position at a time give the same
    conditionals as a full pass per position: the same samples, binary and K = 17."""
    from minigen.datasets import load_dataset

    for data in ("digits", "digits17"):
        X = load_dataset(data, "train")[:200]
        m = MADE(hidden_sizes=(32, 16), max_epochs=1, random_state=0, verbose=False,
                 **kw).fit(X)
        passes = []
        m._logits = lambda *a, full=m._logits, seen=passes: seen.append(1) or full(*a)
        a = m.sample(40, random_state=3)
        assert passes == []  # cached: no full network pass
        b = m.sample(40, random_state=3, use_cache=False)
        assert len(passes) == m.n_dims_ * len(m.orderings_)  # one pass per position and mask
        np.testing.assert_array_equal(a, b)
        del passes[:]
        m.sample(2, random_state=3)
        assert passes == []  # the cached sampler is the default again
