import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import minigen
from minigen import backend as B


def test_default_is_auto_cpu():
    b = minigen.get_backend()
    assert b.name in ("numpy", "numba")
    assert b.xp is np


def test_use_backend_nests_and_restores():
    outer = minigen.get_backend().name
    with minigen.use_backend("numpy") as b:
        assert b.name == "numpy" and minigen.get_backend().name == "numpy"
        with minigen.use_backend("numba"):
            assert minigen.get_backend().name == "numba"
        assert minigen.get_backend().name == "numpy"
    assert minigen.get_backend().name == outer


def test_use_backend_is_per_thread():
    seen = {}

    def worker():
        seen["thread"] = minigen.get_backend().name

    with minigen.use_backend("numpy"):
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert minigen.get_backend().name == "numpy"
    # a new thread starts from the context default, not from this thread's override
    assert seen["thread"] == minigen.get_backend().name


def test_set_backend_global():
    try:
        assert minigen.set_backend("numpy").name == "numpy"
        assert minigen.get_backend().name == "numpy"
    finally:
        B._global_choice = None


@pytest.mark.parametrize("bad", ["nonsense", "", "torch", 3])
def test_unknown_backend_lists_valid_names(bad):
    with pytest.raises(ValueError, match="valid names are 'numpy', 'numba', 'cupy', 'auto'"):
        minigen.set_backend(bad)
    with pytest.raises(ValueError, match="unknown backend"):
        with minigen.use_backend(bad):
            pass


def test_unavailable_cupy_raises_reason():
    row = next(r for r in minigen.backend_info() if r["name"] == "cupy")
    if row["available"]:
        pytest.skip("a CUDA device is present")
    assert row["reason"].startswith("cupy:")
    with pytest.raises(RuntimeError, match="unavailable: cupy"):
        minigen.set_backend("cupy")


def test_backend_info_rows():
    rows = minigen.backend_info()
    assert [r["name"] for r in rows] == ["numpy", "numba", "cupy"]
    assert rows[0]["available"] and rows[0]["reason"] == ""
    for r in rows:
        assert r["available"] or r["reason"]
    assert sum(r["active"] for r in rows) == 1


def test_env_var_errors_at_first_use_not_import():
    env = dict(os.environ, MINIGEN_BACKEND="nonsense")
    ok = subprocess.run([sys.executable, "-c", "import minigen"], env=env, capture_output=True)
    assert ok.returncode == 0
    bad = subprocess.run(
        [sys.executable, "-c", "import minigen; minigen.get_backend()"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0
    assert "unknown backend 'nonsense' (from MINIGEN_BACKEND)" in bad.stderr


def test_env_var_selects_backend():
    env = dict(os.environ, MINIGEN_BACKEND="numpy")
    out = subprocess.run(
        [sys.executable, "-c", "import minigen; print(minigen.get_backend().name)"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip() == "numpy"


def test_import_is_light_and_fast():
    """``import minigen`` alone (NumPy already imported) takes < 0.5 s and pulls in no
    optional heavy package; NumPy's own import time is not minigen's to spend."""
    code = (
        "import sys, time; import numpy; t=time.perf_counter(); import minigen; "
        "dt=time.perf_counter()-t;"
        "heavy=[m for m in ('numba','cupy','scipy','matplotlib','sklearn','torch')"
        " if m in sys.modules];"
        "print(dt, heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    dt, heavy = out.stdout.split(" ", 1)
    assert heavy.strip() == "[]"
    assert float(dt) < 0.5


def test_info_reports_a_bad_env_backend():
    env = dict(os.environ, MINIGEN_BACKEND="nonsense")
    out = subprocess.run([sys.executable, "-m", "minigen", "info"], env=env,
                         capture_output=True, text=True)
    assert out.returncode != 0
    assert "unknown backend 'nonsense' (from MINIGEN_BACKEND)" in out.stderr
    assert "valid names are 'numpy', 'numba', 'cupy', 'auto'" in out.stderr
    assert "numpy" in out.stdout  # the backend table is still shown


class _FakeCupyArray:
    __module__ = "cupy._core.core"


def test_mixing_host_and_device_arrays_is_an_error():
    with pytest.raises(TypeError, match="mix NumPy"):
        B.xp_of(np.zeros(2), _FakeCupyArray())
    with pytest.raises(TypeError, match="CuPy .device. array but the active backend"):
        B.check_on_backend(_FakeCupyArray(), "x", minigen.get_backend())


def test_xp_of_defaults_and_scalars():
    assert B.xp_of() is np
    assert B.xp_of(np.ones(1), 2.0, None) is np
