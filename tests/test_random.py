import numpy as np
import pytest

from minigen.random import (
    check_random_state,
    generator_from_state,
    generator_state,
    normals,
    uniforms,
)


def test_check_random_state_kinds():
    g = np.random.default_rng(1)
    assert check_random_state(g) is g
    a, b = check_random_state(7), check_random_state(7)
    assert a.random() == b.random()
    assert isinstance(check_random_state(None), np.random.Generator)


@pytest.mark.parametrize("bad,exc", [(-1, ValueError), ("3", TypeError), (1.5, TypeError),
                                     (True, TypeError)])
def test_check_random_state_rejects(bad, exc):
    with pytest.raises(exc, match="random_state"):
        check_random_state(bad)


def test_uniforms_and_normals_dtype_and_range():
    rng = np.random.default_rng(0)
    u = uniforms(rng, (1000,), np.float32)
    assert u.dtype == np.float32 and u.min() >= 0 and u.max() < 1
    z = normals(rng, (2, 3), np.float64)
    assert z.dtype == np.float64 and z.shape == (2, 3)


def test_generator_state_roundtrip_bitwise():
    g = np.random.default_rng(3)
    g.random(10)
    h = generator_from_state(generator_state(g))
    assert np.array_equal(g.random(5), h.random(5))
