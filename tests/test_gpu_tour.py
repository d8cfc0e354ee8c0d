"""Every model family trains, scores and samples under the cupy backend (skipped without a GPU).

The tour's tiny ``smoke`` mode runs each registered family end to end (training, test NLL,
samples, checkpoints) once under ``numpy`` and once under ``cupy`` with the same seed. Model
initialization, data splits and explicit randomness come from the same seeded generators,
so the two runs see the same numbers up to float rounding: their test NLLs must agree
closely (a family that silently fell back to the host, or computed something else on the
device, would fail here or be caught by the ``backend`` check).
"""

import math

import pytest

import minigen
from minigen.tour import run_tour

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = {}
    for name in ("numpy", "cupy"):
        with minigen.use_backend(name):
            out[name] = run_tour(tmp_path_factory.mktemp(f"tour_{name}"), mode="smoke", seed=0,
                                 verbose=False)
    return out


def test_every_family_runs_under_cupy(runs):
    res = runs["cupy"]
    assert res["meta"]["backend"] == "cupy"
    failed = {r["key"]: r.get("traceback", r.get("error")) for r in res["results"]
              if r["status"] == "failed"}
    assert not failed, "\n\n".join(f"{k}:\n{tb}" for k, tb in failed.items())
    errors = {k: v["error"] for k, v in res["extras"].items() if "error" in v}
    assert not errors, errors


def test_cupy_nll_matches_numpy(runs):
    ref = {r["key"]: r for r in runs["numpy"]["results"] if r["status"] == "ok"}
    for r in runs["cupy"]["results"]:
        if r["status"] != "ok" or r["key"] not in ref:
            continue
        a, b = r["nll_nats"], ref[r["key"]]["nll_nats"]
        assert math.isfinite(a), r["key"]
        # float32 models after one smoke epoch: rounding differences stay far below 1%
        assert abs(a - b) <= 0.01 * abs(b) + 0.01, f"{r['key']}: cupy {a} vs numpy {b}"
