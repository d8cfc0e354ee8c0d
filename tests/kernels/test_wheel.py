"""The wheel ships the CUDA sources (minigen/_cuda) and the loader finds them there."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_contains_cuda_sources_and_loader_finds_them(tmp_path):
    pytest.importorskip("hatchling")
    src = tmp_path / "src"  # build from a copy: never write into the shared checkout
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", "__pycache__", "*.pyc", ".pytest_cache", "runs", "*.egg-info", "build", "dist",
        ".venv", ".benchmarks"))
    out = tmp_path / "dist"
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
           "-q", "-w", str(out), str(src)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr
    (wheel,) = out.glob("minigen-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    cu = {p.name for p in (ROOT / "kernels").glob("*.cu*")}
    assert {"philox.cuh", "philox.cu", "multinomial.cu"} <= cu
    missing = {f"minigen/_cuda/{n}" for n in cu} - names
    assert not missing, f"not in the wheel: {sorted(missing)}"

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = ("from minigen.kernels.gpu import _module as m; d = m.kernel_source_dir(); "
             "print(d); print(m.read_source('multinomial').splitlines()[0])")
    res = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60, env={"PYTHONPATH": str(site), "PATH": ""})
    assert res.returncode == 0, res.stderr
    found, line = res.stdout.splitlines()
    assert Path(found) == site / "minigen" / "_cuda"
    assert line.startswith("#line 1") and "multinomial.cu" in line
