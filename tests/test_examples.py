"""examples/: every script runs with --smoke in a subprocess and prints sane numbers."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ["probability_basics", "autoregressive", "ebm_mcmc", "flows", "kernels_backends"]


def _run(name: str, tmp_path) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               MPLBACKEND="Agg")
    argv = [sys.executable, str(ROOT / "examples" / f"{name}.py"), "--smoke"]
    if name in ("autoregressive", "flows"):
        argv += ["--out", str(tmp_path)]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_smoke(name, tmp_path):
    out = _run(name, tmp_path)
    if name == "probability_basics":
        freqs = [float(v) for v in re.search(r"frequencies \[([^\]]*)\]", out).group(1).split()]
        # 10,000 draws: 4 standard errors of a frequency are <= 4 * 0.5 / 100 = 0.02
        assert all(abs(f - t) < 0.02 for f, t in zip(freqs, (0.1, 0.2, 0.7), strict=True))
        assert "KL(p||q)=0.0499" in out
        assert float(re.search(r"test NLL ([\d.]+) nats", out).group(1)) < 30
    elif name == "autoregressive":
        assert len(re.findall(r"test NLL\s+[\d.]+ nats", out)) == 3
        assert len(list(tmp_path.glob("*_samples.png"))) == 3
    elif name == "ebm_mcmc":
        tv = [float(v) for v in re.findall(r"TV to exact p = ([\d.]+)", out)]
        assert tv[-1] < tv[0]  # chains forget the all-zero start
        mean = [float(v) for v in re.search(r"ULA mean \[([^\]]*)\]", out).group(1).split()]
        assert abs(mean[0] - 1.0) < 0.3 and abs(mean[1] + 2.0) < 0.3
    elif name == "flows":
        err = float(re.search(r"round-trip error ([\d.e+-]+)", out).group(1))
        assert err < 1e-4
        assert (tmp_path / "realnvp_ring8.png").exists()
    elif name == "kernels_backends":
        assert "numpy  multinomial" in out and "False" not in out
        assert "[2. 4. 6.]" in out
