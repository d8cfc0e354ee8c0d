"""CuPy backend: the AR models give the NumPy backend's likelihoods and samples."""

import numpy as np
import pytest

import minigen
from minigen.backend import to_numpy
from minigen.models.autoregressive import FVSBN, MADE, ContinuousMADE, PixelTransformer

pytestmark = pytest.mark.gpu

MAKERS = [
    lambda: FVSBN(n_categories=3, ordering="random", dtype="float64"),
    lambda: MADE(hidden_sizes=(16,), n_categories=2, n_masks=2, ordering="random",
                 dtype="float64"),
    lambda: PixelTransformer(d_model=8, n_heads=2, n_categories=3, dtype="float64"),
]


@pytest.mark.parametrize("make", MAKERS)
def test_cupy_matches_numpy(make):
    X = np.random.default_rng(0).integers(0, 2, size=(20, 2, 3))
    out = {}
    for name in ("numpy", "cupy"):
        with minigen.use_backend(name):
            m = make()
            m.build_parameters((2, 3), np.random.default_rng(0))
            m.fitted_ = True
            out[name] = (to_numpy(m.score_samples(X)), to_numpy(m.sample(8, random_state=1)),
                         to_numpy(m.loss_and_grads(X, np.random.default_rng(2))[0]))
    np.testing.assert_allclose(out["cupy"][0], out["numpy"][0], rtol=1e-9)
    np.testing.assert_array_equal(out["cupy"][1], out["numpy"][1])
    np.testing.assert_allclose(out["cupy"][2], out["numpy"][2], rtol=1e-9)


def test_continuous_made_on_cupy():
    X = np.random.default_rng(0).standard_normal((30, 2))
    res = {}
    for name in ("numpy", "cupy"):
        with minigen.use_backend(name):
            m = ContinuousMADE(hidden_sizes=(8,), n_components=2)
            m.build_parameters(2, np.random.default_rng(0))
            m.init_from_data(X)
            m.fitted_ = True
            res[name] = (to_numpy(m.score_samples(X)), to_numpy(m.sample(5, random_state=0)))
    np.testing.assert_allclose(res["cupy"][0], res["numpy"][0], rtol=1e-9)
    np.testing.assert_allclose(res["cupy"][1], res["numpy"][1], rtol=1e-9)
