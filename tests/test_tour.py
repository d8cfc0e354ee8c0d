"""``minigen tour``: the tests' tiny variant (``--smoke``) writes a complete report,
a checkpoint per model and ``metrics.json``.

The README's ``--quick`` tour has the same code path with larger budgets (about
2-4 minutes on 2 cores), too long for the suite; ``--smoke`` shrinks the budgets only.
"""

import argparse
import base64
import html
import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import minigen.tour as tour_mod
from minigen.backend import to_numpy
from minigen.base import MODEL_REGISTRY, GenerativeModel
from minigen.cli import build_parser
from minigen.tour import SPECS, _data, run_tour

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tour(tmp_path_factory):
    out = tmp_path_factory.mktemp("tour")
    res = run_tour(out, mode="smoke", seed=0, verbose=False)
    return out, res


def _md_rows(text: str) -> list[list[str]]:
    """Cells of every Markdown table row (header separators excluded)."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not set(line) <= set("|- "):
            cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
            rows.append([c.strip() for c in cells])
    return rows


def test_every_registered_family_ran_and_none_failed(tour):
    _, res = tour
    by_key = {r["key"]: r for r in res["results"]}
    for spec in SPECS:
        r = by_key[spec.key]
        assert r["status"] == "ok", f"{spec.key} failed: {r.get('error')}"
    for name, extra in res["extras"].items():
        assert "error" not in extra, f"{name}: {extra.get('error')}"


def test_report_files_and_filled_tables(tour):
    out, res = tour
    md = (out / "report.md").read_text()
    page = (out / "report.html").read_text()
    rows = _md_rows(md)
    assert len(rows) > len(SPECS)
    for row in rows:
        assert all(c for c in row), f"empty cell in {row}"
    # every model of the summary table appears with finite numbers
    for r in res["results"]:
        if r["status"] == "ok":
            line = next(x for x in rows if x[0] == r["key"])
            assert float(line[4]) == pytest.approx(r["nll_nats"], abs=1e-3)
            assert r["train_time_s"] >= 0 and r["samples_per_s"] > 0 and r["n_params"] > 0
    assert "<td></td>" not in page
    assert "Gibbs burn-in" in md and "Claims checked" in md


def test_kl_columns_are_measured(tour):
    _, res = tour
    by_key = {r["key"]: r for r in res["results"] if r["status"] == "ok"}
    for key, r in by_key.items():
        if r["data"] in ("ring8", "bars-stripes4"):
            assert r["kl"] is not None and r["kl"] > -0.05, key  # KL >= 0 up to MC noise
        else:
            assert r["kl"] is None
    g = res["extras"]["gibbs"]
    # burn-in: the chains approach the exact distribution
    assert g["tv"][-1] < g["tv"][0] and g["tv"][-1] < 3 * g["tv_floor"] + 0.02


def test_html_is_self_contained(tour):
    out, _ = tour
    page = (out / "report.html").read_text()
    srcs = re.findall(r"<img src='([^']*)'", page)
    assert srcs, "no images in the report"
    for s in srcs:
        assert s.startswith("data:image/png;base64,")
        assert base64.b64decode(s.split(",", 1)[1])[:8] == PNG_MAGIC
    for link in re.findall(r"!\[[^\]]*\]\(([^)]*)\)", (out / "report.md").read_text()):
        assert (out / link).read_bytes()[:8] == PNG_MAGIC


def test_checkpoints_exist_load_and_reproduce_the_test_nll(tour):
    out, res = tour
    ok = [r for r in res["results"] if r["status"] == "ok"]
    assert ok
    for r in ok:
        path = Path(r["checkpoint"])
        assert path == out / "models" / f"{r['key']}.npz" and path.is_file(), r["key"]
        model = GenerativeModel.load(path)  # any registered class, from the metadata
        cls = MODEL_REGISTRY[r["model"]]
        assert type(model) is cls
        assert type(cls.load(path)) is cls
        _, _, Xte, _ = _data(r["data"], "smoke")
        if not getattr(cls, "accepts_images", False):
            Xte = Xte.reshape(len(Xte), -1)
        nll = float(-np.mean(to_numpy(model.score_samples(Xte))))
        # the reloaded model is the trained one: same test NLL as reported
        assert nll == pytest.approx(r["nll_nats"], rel=1e-9, abs=1e-9), r["key"]


def test_metrics_json_has_finite_nll_and_protocol(tour):
    out, res = tour
    m = json.loads((out / "metrics.json").read_text())
    assert m["meta"]["mode"] == "smoke"
    by_key = {r["key"]: r for r in res["results"]}
    assert set(m["models"]) == set(by_key)
    for key, e in m["models"].items():
        r = by_key[key]
        assert e["dataset"] == r["data"] and e["status"] == r["status"]
        if r["status"] != "ok":
            continue
        assert math.isfinite(e["nll"]["nats"]) and math.isfinite(e["nll"]["bits_per_dim"])
        assert e["nll"]["nats"] == pytest.approx(r["nll_nats"])
        assert e["nll"]["bits_per_dim"] > 0 and e["split"] == "test"
        assert e["train_time_s"] >= 0 and e["samples_per_s"] > 0
        assert Path(e["checkpoint"]).is_file()
        assert e["protocol"] == r["protocol"] and "tour sizes" in e["protocol"]


def test_protocol_is_printed_next_to_the_numbers(tour):
    out, res = tour
    md = (out / "report.md").read_text()
    page = (out / "report.html").read_text()
    protocols = {r["data"]: r["protocol"] for r in res["results"] if r["status"] == "ok"}
    assert "digits" in protocols and "binary: pixel >= 8" in protocols["digits"]
    for data, proto in protocols.items():
        assert f"| {data} | {proto} |" in md
        assert html.escape(proto) in page


def _fake_result(statuses, extras=None):
    results = [{"key": f"m{i}", "family": "f", "model": "m", "data": "digits", "status": s,
                "error": "boom" if s != "ok" else ""} for i, s in enumerate(statuses)]
    return {"meta": {"total_time_s": 1.0}, "results": results, "extras": extras or {},
            "paths": {"md": "r.md", "html": "r.html", "json": "r.json", "metrics": "m.json"}}


@pytest.mark.parametrize("statuses, extras, code", [
    (["ok", "ok"], {}, 0),
    (["ok", "failed", "ok"], {}, 1),
    (["ok"], {"gibbs": {"error": "ValueError: x"}}, 1),
    (["ok"], {"scheduled_sampling": {"available": False, "note": "n/a"}}, 0),
])
def test_main_exit_status(monkeypatch, capsys, statuses, extras, code):
    monkeypatch.setattr(tour_mod, "run_tour", lambda *a, **k: _fake_result(statuses, extras))
    args = argparse.Namespace(smoke=True, quick=False, out="x", seed=0, backend=None, quiet=True)
    assert tour_mod.main(args) == code
    cap = capsys.readouterr()
    if code:
        failed = "m1" if "failed" in statuses else "gibbs"
        assert f"failed ({failed})" in cap.err
    else:
        assert "error" not in cap.err


def test_cli_parses_tour():
    args = build_parser().parse_args(["tour", "--quick", "--out", "x", "--seed", "3",
                                      "--backend", "numpy"])
    assert (args.command, args.quick, args.out, args.seed, args.backend) == (
        "tour", True, "x", 3, "numpy")


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        run_tour(tmp_path, mode="fast")
    with pytest.raises(ValueError, match="seed"):
        run_tour(tmp_path, mode="smoke", seed=-1)
    with pytest.raises(ValueError, match="unknown tour entries"):
        run_tour(tmp_path, mode="smoke", only=["nope"])


_CHECK_JS = """<script>
window.addEventListener('load', function () {
  var bad = 0, imgs = document.images;
  for (var i = 0; i < imgs.length; i++) {
    if (!imgs[i].complete || imgs[i].naturalWidth === 0) bad++;
  }
  var empty = 0, cells = document.querySelectorAll('td');
  for (var j = 0; j < cells.length; j++) { if (cells[j].textContent.trim() === '') empty++; }
  var p = document.createElement('pre');
  p.id = 'tour-check';
  p.textContent = 'IMAGES=' + imgs.length + ' BROKEN=' + bad + ' CELLS=' + cells.length +
                  ' EMPTY=' + empty;
  document.body.appendChild(p);
});
</script>"""


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_html_in_headless_browser(tour, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium not on PATH (CI installs the Debian chromium package); "
                    "headless image check skipped")
    out, _ = tour
    page = (out / "report.html").read_text().replace("</body>", _CHECK_JS + "</body>")
    probe = tmp_path / "probe.html"
    probe.write_text(page)
    proc = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=120)
    m = re.search(r"IMAGES=(\d+) BROKEN=(\d+) CELLS=(\d+) EMPTY=(\d+)", proc.stdout)
    assert m, f"check script did not run; stderr: {proc.stderr[-2000:]}"
    n_img, broken, n_cells, empty = map(int, m.groups())
    assert n_img > 0 and broken == 0, m.group(0)
    assert n_cells > 0 and empty == 0, m.group(0)


# ------------------------------------------------------------ claims can fail
def test_a_claim_fails_on_a_fake_measurement_and_the_report_says_so():
    from minigen.tour_claims import check, power_law_exponent
    from minigen.tour_report import claims_table

    dims = [64, 256, 576, 1024]
    linear = [d * 1e-4 for d in dims]
    quadratic = [d * d * 1e-6 for d in dims]
    assert abs(power_law_exponent(dims, linear) - 1) < 1e-12
    assert abs(power_law_exponent(dims, quadratic) - 2) < 1e-12
    ok = check("linear", power_law_exponent(dims, linear), "<=", 1.3, "fake")
    bad = check("linear", power_law_exponent(dims, quadratic), "<=", 1.3, "fake")
    assert ok["holds"] and not bad["holds"]
    rows = claims_table([ok, bad])
    assert rows[0][3] == "holds" and rows[1][3] == "does not hold"
    assert rows[1][1:3] == ["2", "<= 1.3"]  # the measured value and the threshold are shown


def test_claims_in_the_report_state_threshold_and_verdict(tour):
    out, res = tour
    checks = [c for v in res["extras"]["claims"].values() if isinstance(v, dict)
              for c in v.get("checks", [])]
    assert len(checks) >= 4
    md = (out / "report.md").read_text()
    for c in checks:
        verdict = "holds" if c["holds"] else "does not hold"
        assert f"| {c['op']} {c['threshold']:.3g} | {verdict} |" in md


def test_models_trailing_the_baseline_are_marked_under_trained():
    from minigen.tour import _mark_under_trained

    rows = [{"status": "ok", "model": "baseline", "data": "digits", "nll_nats": 25.0,
             "note": ""},
            {"status": "ok", "model": "made", "data": "digits", "nll_nats": 30.0, "note": ""},
            {"status": "ok", "model": "fvsbn", "data": "digits", "nll_nats": 20.0, "note": ""},
            {"status": "ok", "model": "realnvp", "data": "ring8", "nll_nats": 9.0, "note": ""}]
    _mark_under_trained(rows)
    assert "under-trained" in rows[1]["note"] and "30.00 vs 25.00" in rows[1]["note"]
    assert rows[2]["note"] == "" and rows[3]["note"] == "" and rows[0]["note"] == ""
