"""Run these model-level tests on the NumPy backend: the small arrays here are dominated
by thread start-up of parallel Numba kernels on a busy machine (kernel parity is tested
in tests/kernels)."""

import pytest

from minigen.backend import use_backend


@pytest.fixture(autouse=True)
def _numpy_backend():
    with use_backend("numpy"):
        yield
