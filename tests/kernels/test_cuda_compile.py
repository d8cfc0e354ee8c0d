"""Every ``kernels/*.cu`` compiles to PTX with nvcc (skipped when nvcc is not on PATH)."""

import shutil
import subprocess
from pathlib import Path

import pytest

KERNELS = Path(__file__).resolve().parents[2] / "kernels"
SOURCES = sorted(KERNELS.glob("*.cu"))


def test_sources_exist():
    assert (KERNELS / "philox.cuh").exists()
    assert SOURCES, f"no .cu files in {KERNELS}"


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on PATH")
@pytest.mark.parametrize("source", SOURCES, ids=[p.name for p in SOURCES])
def test_compiles_to_ptx(source, tmp_path):
    cmd = ["nvcc", "-ptx", "-std=c++17", "-I", str(KERNELS), str(source),
           "-o", str(tmp_path / (source.stem + ".ptx"))]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"{' '.join(cmd)} failed:\n{res.stderr}"
