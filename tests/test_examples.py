"""examples/: every script runs with --smoke in a subprocess and prints sane numbers."""

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ["probability_basics", "autoregressive", "ebm_mcmc", "flows", "kernels_backends",
           "flows_digits", "flows_toy2d"]
_WITH_OUT = ("autoregressive", "flows", "flows_digits", "flows_toy2d")


def _run(name: str, tmp_path) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               MPLBACKEND="Agg")
    argv = [sys.executable, str(ROOT / "examples" / f"{name}.py"), "--smoke"]
    if name in _WITH_OUT:
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
    elif name == "flows_digits":
        bpd = {m: float(v) for m, v in re.findall(r"^(\w+): ([\d.]+) bits/dim", out, re.M)}
        assert set(bpd) == {"nice", "realnvp", "glow"}
        for m, v in bpd.items():
            res = json.loads((tmp_path / f"flows_digits_{m}.json").read_text())
            assert res["smoke"] and res["test_bits_per_dim"] == pytest.approx(v, abs=1e-4)
            # a sanity range, not a learning check: untrained, these tiny flows score about
            # 5.5 (NICE, RealNVP) and 4.6 (Glow) bits/dim, and one smoke epoch barely moves them
            assert 0 < v < 6.5, (m, v)
            assert (tmp_path / f"flows_digits_{m}.png").read_bytes()[:4] == b"\x89PNG"
    elif name == "flows_toy2d":
        res = json.loads((tmp_path / "flows_ring8_realnvp_glow_nice.json").read_text())
        assert set(res["models"]) == {"realnvp", "glow", "nice"}
        for m, r in res["models"].items():
            # KL(p||q) >= 0: the test NLL is not below the true entropy (1,000 test
            # points; the paired Monte Carlo error is far below 0.1 nats)
            assert r["smoke"] and math.isfinite(r["test_nll"]) and r["gap_nats"] > -0.1, m
            assert (tmp_path / f"flows_ring8_{m}.png").read_bytes()[:4] == b"\x89PNG"
    elif name == "kernels_backends":
        assert "numpy  multinomial" in out and "False" not in out
        assert "[2. 4. 6.]" in out
