"""bench/exposure_bias.py (the docs' oracle table) runs, and its quick mode already shows
REINFORCE lowering the oracle NLL of the samples, paired against the same teacher-forced
model and the same sampling uniforms."""

from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def test_quick_run_reports_the_table_and_reinforce_moves_toward_the_oracle(bench_script):
    bench = bench_script("exposure_bias")
    res = bench.run(seeds=(1,), quick=True)
    names = [r["method"] for r in res["table"]]
    assert names == ["teacher forcing", "scheduled sampling (p_max 0.25)",
                     "TF + REINFORCE (3 steps)", "TF + REINFORCE (6 steps)"]
    tf, _, rl3, rl6 = (res["rows"][n][0] for n in names)
    assert rl6["oracle_nll"] < rl3["oracle_nll"] < tf["oracle_nll"]
    h, h_se = res["entropy"]
    assert 5 < h < 25 and h_se > 0  # 36 binary pixels: between a few nats and 36 log 2
    md = bench.markdown(res).splitlines()
    assert len(md) == 3 + len(names) and all(np.isfinite(r["heldout_nll"]) for r in res["table"])


def test_the_docs_table_is_the_bench_output():
    import json
    import re

    res = json.loads((ROOT / "bench" / "exposure_bias_results.json").read_text())
    assert not res["quick"] and len(res["protocol"]["seeds"]) == 3
    page = (ROOT / "docs" / "exposure_bias.md").read_text()
    for r in res["table"]:
        row = re.search(re.escape(f"| {r['method']} |") + r"([^\n]*)", page)
        assert row, f"docs/exposure_bias.md lacks the row {r['method']!r}"
        nums = [float(v) for v in re.findall(r"-?\d+\.\d+", row.group(1))]
        assert nums == [round(r["oracle_nll"], 2), round(r["oracle_nll_se"], 2),
                        round(r["heldout_nll"], 2), round(r["heldout_nll_se"], 2)]
    h, h_se = res["entropy"]
    assert f"| {h:.2f} ± {h_se:.2f} | {h:.2f} ± {h_se:.2f} |" in page
