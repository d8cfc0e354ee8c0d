"""bench/fashion_mnist.py on 256 Fashion-MNIST images for one epoch, every model (small
networks, ``--tiny``): both sides train, score, sample and write their JSON and grid.

Skipped when the IDX files are absent (Debian's ``dataset-fashion-mnist``; the benchmark
itself is not run in CI: ``bash bench/fashion_mnist_all.sh`` takes hours)."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _have_fashion() -> bool:
    from minigen.datasets.files import _idx_folder

    try:
        _idx_folder("fashion-mnist", None)
    except FileNotFoundError:
        return False
    return True


pytestmark = pytest.mark.skipif(
    not _have_fashion(), reason="Fashion-MNIST IDX files not found (apt-get install "
    "dataset-fashion-mnist, or set MINIGEN_DATA_DIR)")


@pytest.fixture(scope="module")
def bench(bench_script):
    return bench_script("fashion_mnist")


QUICK = ["--tiny", "--n-train", "256", "--n-valid", "64", "--n-test", "64", "--epochs", "1",
         "--n-sample", "16", "--n-uncached", "2", "--ais-chains", "8", "--ais-betas", "40",
         "--rbm-gibbs-steps", "20", "--quiet"]
#: the transformer attends over all 784 positions (a 784 x 784 matrix per head and image:
#: ~0.1 s per image and side here even with d_model 8), so it trains on 64 images; its
#: recomputing sampler (784 full passes) and the Row LSTM's are compared with the cached
#: ones in tests/autoregressive instead
EXCEPT = {"transformer": ["--n-train", "64", "--n-uncached", "0"],
          "row-lstm": ["--n-uncached", "0"]}
LOG2 = math.log(2.0)


@pytest.mark.parametrize("name", ["baseline", "fvsbn", "made-500", "made-2x1000", "pixelcnn",
                                  "row-lstm", "transformer", "rbm", "nice", "realnvp", "glow"])
def test_every_model_runs_on_256_images(bench, name, tmp_path):
    bench.main(["--model", name, "--inline", "--out", str(tmp_path), *QUICK,
                *EXCEPT.get(name, [])])
    out = json.loads((tmp_path / f"{name}.json").read_text())
    assert out["n_train"] == (64 if name == "transformer" else 256) and out["tiny"]
    sides = out["sides"]
    expected = {"minigen", *[p for p in bench.MODELS[name]["peers"]
                             if bench._importable(bench.PEER_PACKAGES[p])]}
    assert set(sides) == expected
    for side, r in sides.items():
        t = r["test"]
        assert math.isfinite(t["nll"]) and 0 < t["se"] < t["nll"], (side, t)
        assert t["bpd"] == pytest.approx(t["nll"] / (784 * LOG2))
        assert r["peak_rss_mb"] > 0 and r["params_count"] > 0
        if bench.MODELS[name]["train"] is not None:  # one epoch of batches
            assert r["steps"] == -(-out["n_train"] // bench.MODELS[name]["train"]["batch_size"])
        if bench.MODELS[name]["kind"] == "binary":
            # near a fair coin per pixel (784 log 2 = 543.4 nats) or better, a few steps in
            assert 100 < t["nll"] < 784, (side, t)
        else:  # 8-bit: the dequantization bound; an untrained flow is at ~9.3 bits/dim
            assert 1 < t["bpd"] < 12, (side, t)
        if side != "minigen":
            assert r["epochs"] == 1 and r["ratio"] > 0
        if side in ("torch", "zuko"):
            # the same network trained the same way: a scoring bug on either side shows
            # (the transformer, 2 steps in, still moves fast from its initialisation)
            assert abs(r["nll_rel"]) < (0.3 if name == "transformer" else 0.1), side
    mg = sides["minigen"]
    grid = Path(mg["grid"])
    assert grid.is_file() and grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert mg["n_sample"] == 16 and mg["sample_s"] > 0
    if name in bench.CACHED_SAMPLERS and "--n-uncached" not in EXCEPT.get(name, []):
        assert mg["uncached"]["same_samples"] and mg["uncached"]["speedup"] > 1
    if name.startswith("made"):
        assert mg["made_sampler"]["same_samples"]
    if name == "rbm":  # both AIS directions ran (a one-epoch RBM is no test of the bounds)
        for r in sides.values():
            ais, low = r["ais"], r["test_raise"]
            assert math.isfinite(ais["log_z_forward"]) and math.isfinite(low["nll"])
            assert low["n_points"] == 8 and low["se"] > 0 and math.isfinite(low["nll_forward"])
            assert r["ais_betas"] == 40 and r["ais_chains"] == 8
            assert r["ais_schedule"] == "piecewise" and low["gap_se"] > 0
            assert low["gap"] == pytest.approx(low["nll"] - low["nll_forward"])
    table = bench.table(tmp_path)
    assert f"| {name} |" in table


def test_binarization_is_load_datasets(bench):
    """The bench keeps pixel > 127 as uint8: the same 0/1 images as
    load_dataset("fashion-mnist", binarize=0.5)."""
    from minigen.datasets import load_dataset

    X, _ = bench.load_split("binary", "test", 500)
    ref = load_dataset("fashion-mnist", "test", binarize=0.5)[:500]
    assert X.dtype == np.uint8
    np.testing.assert_array_equal(X, ref)


def test_script_runs_its_two_processes(tmp_path):
    """The script as a user runs it: the sides in two processes taking turns."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fashion_mnist.py"), "--model", "made-500",
         "--out", str(tmp_path), *QUICK], capture_output=True, text=True, timeout=300,
        cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads((tmp_path / "made-500.json").read_text())
    assert not out["inline"] and out["sides"]["minigen"]["epochs"] == 1
    assert "| made-500 |" in proc.stdout
