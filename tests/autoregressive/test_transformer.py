"""Causal transformer: AR property, KV-cached sampling == recompute, exact fit of bars."""

import numpy as np
import pytest

from minigen.base import GenerativeModel
from minigen.datasets import bars_and_stripes, load_dataset
from minigen.models.autoregressive.transformer import PixelTransformer

from .ar_property import check_autoregressive_model, numpy_backend_fixture

_np = pytest.fixture(autouse=True, scope="module")(numpy_backend_fixture)


def _built(shape=(3, 3), k=2, **kw):
    m = PixelTransformer(n_categories=k, d_model=16, n_heads=2, **kw)
    m.build_parameters(shape, np.random.default_rng(0))
    m.fitted_ = True
    return m


@pytest.mark.parametrize("kw", [dict(), dict(ordering="random", k=3),
                                dict(ordering=[4, 3, 5, 2, 6, 1, 7, 0, 8], n_layers=3)])
def test_autoregressive_property(kw):
    check_autoregressive_model(_built(**kw))


@pytest.mark.parametrize("k", [2, 4])
def test_cached_sampler_matches_recompute(k):
    m = _built(shape=(2, 5), k=k, ordering="random")
    a = m.sample(9, random_state=3)
    b = m.sample(9, random_state=3, use_cache=False)
    np.testing.assert_array_equal(a, b)
    # and the cached step logits equal the teacher-forced ones
    x = m.sample(4, random_state=1).reshape(4, -1)
    from minigen.autograd import Tensor, no_grad

    with no_grad():
        full = m._logits(Tensor(m._encode(x))).data
    state = m._sampler_start(4)
    for t in range(m.n_dims_):
        step = m._sampler_logits(x, t, state)
        np.testing.assert_allclose(step, full[:, m.ordering_[t]], rtol=1e-4, atol=1e-5)


def test_normalized():
    m = _built(shape=(2, 4))
    X = ((np.arange(256)[:, None] >> np.arange(8)) & 1).reshape(256, 2, 4)
    np.testing.assert_allclose(np.exp(m.score_samples(X)).sum(), 1.0, rtol=1e-5)


def test_fits_bars_and_stripes_exactly(tmp_path):
    X = load_dataset("bars-stripes4", "train", n_samples=3000)
    P = bars_and_stripes(4)
    m = (
        PixelTransformer(d_model=32, n_heads=4, n_layers=2)
        .set_params(max_epochs=12, learning_rate=3e-3, batch_size=100, random_state=0)
        .fit(X)
    )
    assert abs(m.nll(P) - np.log(30)) < 0.05
    m2 = GenerativeModel.load(m.save(tmp_path / "t.npz"))
    np.testing.assert_allclose(m2.score_samples(P), m.score_samples(P), rtol=1e-6)
    np.testing.assert_array_equal(m2.sample(10, random_state=0), m.sample(10, random_state=0))


def test_bad_hyperparameters():
    X = np.zeros((10, 4), dtype=np.int64)
    with pytest.raises(ValueError, match="divisible"):
        PixelTransformer(d_model=10, n_heads=3).set_params(max_epochs=1).fit(X)
    with pytest.raises(ValueError, match="n_layers"):
        PixelTransformer(n_layers=0).set_params(max_epochs=1).fit(X)


def test_scoring_passes_cap_the_attention_memory():
    """score_samples splits the images so that a layer's B x heads x D x D attention scores
    stay within ``score_max_attention`` (28x28, 4 heads: 2,048 images would need 20 GB)."""
    m = _built(shape=(3, 4), k=2)  # D = 12, 2 heads: 288 scores per image
    X = np.random.default_rng(5).integers(0, 2, (50, 3, 4))
    ref = m.score_samples(X)  # one pass: 50 images x 288 under the default cap
    seen = []
    inner = m._log_prob
    m._log_prob = lambda x: (seen.append(len(x)), inner(x))[1]
    m.score_max_attention = 7 * 2 * 12 ** 2 + 5  # room for 7 images per pass
    np.testing.assert_allclose(m.score_samples(X), ref, rtol=1e-6)
    assert seen == [7] * 7 + [1]
    m.score_batch_size = 3  # the user's smaller batch still wins
    seen.clear()
    m.score_samples(X[:7])
    assert seen == [3, 3, 1]
    m.score_max_attention = 1  # below one image: one image per pass
    seen.clear()
    m.score_samples(X[:2])
    assert seen == [1, 1]
