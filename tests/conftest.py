"""Shared fixtures and markers: ``gpu`` tests skip cleanly without a CUDA device."""

import importlib.util
from pathlib import Path

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


@pytest.fixture(scope="session")
def bench_script():
    """``load(name)``: the script ``bench/<name>.py`` as a module (bench/ is no package)."""
    def load(name):
        path = Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    return load
