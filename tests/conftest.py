"""Shared fixtures and markers: ``gpu`` tests skip cleanly without a CUDA device."""

import numpy as np
import pytest

from minigen.backend import backend_info


def _cupy_available() -> tuple[bool, str]:
    row = next(r for r in backend_info() if r["name"] == "cupy")
    return row["available"], row["reason"]


def pytest_collection_modifyitems(config, items):
    ok, reason = _cupy_available()
    if ok:
        return
    skip = pytest.mark.skip(reason=f"gpu test skipped: {reason}")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
