"""Render the results of :func:`minigen.tour.run_tour` as Markdown and self-contained HTML.

The HTML embeds every PNG as a ``data:image/png;base64,...`` URI, so the one file can be
mailed or opened anywhere; the Markdown links the PNG files next to it.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
from pathlib import Path

__all__ = ["write_reports", "main_table", "metrics", "dataset_protocols", "claims_table"]

COLUMNS = ["model", "family", "data", "status", "test NLL (nats)", "bits/dim", "KL to truth",
           "train time (s)", "samples/s", "parameters", "note"]


def _f(v, fmt="{:.3f}"):
    return "n/a" if v is None else fmt.format(v)


def main_table(results) -> list[list[str]]:
    """One row of strings per tour entry; no cell is empty."""
    rows = []
    for r in results:
        if r["status"] != "ok":
            msg = r.get("error", "")
            rows.append([r["key"], r["family"], r["data"], r["status"]] + ["-"] * 6
                        + [msg or r["status"]])
            continue
        kl = "n/a (truth unknown)" if r["kl"] is None else f"{r['kl']:.3f} ({r['kl_method']})"
        rows.append([r["key"], r["family"], r["data"], "ok", _f(r["nll_nats"]),
                     _f(r["bits_per_dim"], "{:.4f}"), kl, _f(r["train_time_s"], "{:.3f}"),
                     _f(r["samples_per_s"], "{:,.0f}"),
                     f"{r['n_params']:,}" if r["n_params"] >= 0 else "n/a",
                     r["note"] or "-"])
    return rows


def claims_table(checks) -> list[list[str]]:
    """One row per checked claim: statement, measured value, threshold, verdict, how."""
    return [[c["statement"], f"{c['measured']:.3g}", f"{c['op']} {c['threshold']:.3g}",
             "holds" if c["holds"] else "does not hold", c["how"]] for c in checks]


def dataset_protocols(results) -> dict[str, str]:
    """``{dataset: protocol}`` over the entries that ran (first protocol seen per dataset)."""
    out: dict[str, str] = {}
    for r in results:
        if r.get("protocol"):
            out.setdefault(r["data"], r["protocol"])
    return out


def metrics(res: dict) -> dict:
    """The ``metrics.json`` payload: per model, test NLL, protocol, timings, checkpoint."""
    models = {}
    for r in res["results"]:
        if r["status"] != "ok":
            models[r["key"]] = {"model": r["model"], "dataset": r["data"], "status": r["status"],
                                "error": r.get("error", "")}
            continue
        models[r["key"]] = {
            "model": r["model"], "family": r["family"], "dataset": r["data"],
            "protocol": r["protocol"], "status": "ok", "split": "test",
            "nll": {"nats": r["nll_nats"], "bits_per_dim": r["bits_per_dim"]},
            "kl": r["kl"], "kl_method": r["kl_method"], "train_time_s": r["train_time_s"],
            "samples_per_s": r["samples_per_s"], "n_params": r["n_params"],
            "checkpoint": r["checkpoint"], "note": r["note"], "params": r.get("params")}
    return {"meta": res["meta"], "models": models}


def _md_table(header, rows) -> str:
    esc = [[str(c).replace("|", "\\|").replace("\n", " ") for c in row] for row in rows]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in esc]
    return "\n".join(lines)


def _sections(res) -> list[tuple[str, list]]:
    """Report as (title, blocks).

    A block is ``("p", text)``, ``("h3", title)``, ``("pre", text)``, ``("table", header, rows)`` or
    ``("img", path, alt)``.
    """
    parts = (_summary_section,
             _failed_section,
             _samples_section,
             _gibbs_section,
             _scheduled_sampling_section,
             _fashion_section,
             _claims_section)
    return [sec for part in parts for sec in part(res)]


def _summary_section(res) -> list[tuple[str, list]]:
    """Summary: the run, the main table and the datasets' protocols."""
    meta, results = res["meta"], res["results"]
    secs = []
    ok = sum(r["status"] == "ok" for r in results)
    intro = (f"Mode `{meta['mode']}`, seed {meta['seed']}, backend `{meta['backend']}`, "
             f"minigen {meta['minigen_version']}, Python {meta['python']} on "
             f"{meta['processor']}, {meta['date_utc']} UTC; total {meta['total_time_s']:.1f} s. "
             f"{ok} of {len(results)} models trained. Every number below was measured by "
             "this run; timings come after a warm-up that compiled every Numba kernel "
             f"({meta.get('warm_up_s', 0.0):.1f} s, not counted) and, for sampling, after a "
             "first call. NLL is per example (nats) on the test split; flows on binary digits "
             "use uniform dequantization, so their NLL is an upper bound on the discrete NLL. "
             "A model that trails the factorized baseline is marked under-trained: this "
             "mode's budget says nothing about its family.")
    summary = [("p", intro), ("table", COLUMNS, main_table(results))]
    protocols = dataset_protocols(results)
    if protocols:
        summary += [("p", "Dataset protocols (binarization, split, draws) behind every number "
                          "in the table, as returned by `load_dataset(..., return_info=True)`"
                          " for the test split, with the split sizes this run used:"),
                    ("table", ["data", "protocol"], [[d, p] for d, p in protocols.items()])]
    summary.append(("p", "Checkpoints: `models/<key>.npz` (load with "
                         "`minigen.models.load(path)`); per-model numbers with "
                         "their protocol: `metrics.json`."))
    secs.append(("Summary", summary))
    return secs


def _failed_section(res) -> list[tuple[str, list]]:
    """Each failed entry with its error and traceback."""
    results = res["results"]
    secs = []
    failed = [r for r in results if r["status"] == "failed"]
    notes = []
    for r in failed:
        notes.append(("p", f"FAILED {r['key']}: {r['error']}"))
        notes.append(("pre", r.get("traceback", "")))
    if notes:
        secs.append(("Failed entries", notes))
    return secs


def _samples_section(res) -> list[tuple[str, list]]:
    """Each trained model's pictures."""
    results = res["results"]
    secs = []
    blocks = []
    for r in results:
        if r["status"] != "ok":
            continue
        blocks.append(("h3", f"{r['key']}: {r['model']} on {r['data']}"))
        for kind, path in r["images"].items():
            blocks.append(("img", path, f"{r['key']} {kind}"))
    secs.append(("Samples, densities and training curves", blocks))
    return secs


def _gibbs_section(res) -> list[tuple[str, list]]:
    """Gibbs burn-in: TV to the exact distribution vs sweeps."""
    extras = res["extras"]
    secs = []
    g = extras.get("gibbs", {})
    if "error" in g:
        secs.append(("Gibbs burn-in", [("p", f"FAILED: {g['error']}")]))
    elif g:
        rows = [[str(s), f"{t:.4f}"] for s, t in zip(g["sweeps"], g["tv"], strict=True)]
        secs.append(("Gibbs burn-in", [
            ("p", f"A {g['n_units']}-unit Boltzmann machine (random couplings), exact "
                  f"distribution by enumeration (`minigen.distributions.boltzmann`). "
                  f"{g['n_chains']} chains start in the all-zero state; after each number "
                  "of single-site sweeps the total-variation distance between the chains' "
                  f"empirical distribution and the exact one is shown. Floor: {g['n_chains']} "
                  f"exact draws have TV {g['tv_floor']:.4f}."),
            ("table", ["sweeps", "TV to exact"], rows), ("img", g["image"], "Gibbs burn-in")]))
    return secs


def _scheduled_sampling_section(res) -> list[tuple[str, list]]:
    """Scheduled sampling vs teacher forcing (Row LSTM)."""
    extras = res["extras"]
    secs = []
    ss = extras.get("scheduled_sampling", {})
    if "error" in ss:
        secs.append(("Scheduled sampling vs teacher forcing", [("p", f"FAILED: {ss['error']}")]))
    elif ss and not ss.get("available"):
        secs.append(("Scheduled sampling vs teacher forcing", [("p", ss["note"])]))
    elif ss:
        rows = [[r["method"], f"{r['test_nll']:.3f}", f"{r['sample_nll']:.3f}",
                 f"{r['train_time_s']:.2f}"] for r in ss["rows"]]
        blocks = [("p", f"Row LSTM on digits ({ss.get('protocol', 'digits')}), same seed and "
                        f"architecture, {ss['epochs']} epoch(s). "
                        "Scheduled sampling feeds the model's own draws as inputs with a "
                        "ramped probability; 'sample NLL' is the model's NLL of its own "
                        "free-running samples."),
                  ("table", ["training", "test NLL (nats)", "sample NLL (nats)",
                             "train time (s)"], rows)]
        blocks += [("img", r["image"], r["method"]) for r in ss["rows"]]
        secs.append(("Scheduled sampling vs teacher forcing", blocks))
    return secs


def _fashion_section(res) -> list[tuple[str, list]]:
    """28x28 samples of a MADE on Fashion-MNIST."""
    extras = res["extras"]
    secs = []
    fm = extras.get("fashion", {})
    if "error" in fm:
        secs.append(("28x28: Fashion-MNIST", [("p", f"FAILED: {fm['error']}")]))
    elif fm.get("available"):
        secs.append(("28x28: Fashion-MNIST", [
            ("p", f"A MADE (one hidden layer of 256) trained {fm['epochs']} epochs on "
                  f"{fm['n_train']:,} binarized Fashion-MNIST images in "
                  f"{fm['train_time_s']:.1f} s: test NLL {fm['made_nll']:.1f} nats vs "
                  f"{fm['baseline_nll']:.1f} for the factorized baseline ({fm['protocol']})."),
            ("img", fm["image"], "MADE samples, 28x28")]))
    elif fm:
        secs.append(("28x28: Fashion-MNIST", [("p", f"Not run: {fm['note']}")]))
    return secs


def _claims_section(res) -> list[tuple[str, list]]:
    """The claims, each with its measured number, threshold and verdict."""
    extras = res["extras"]
    secs = []
    c = extras.get("claims", {})
    blocks = []
    if "error" in c:
        blocks.append(("p", f"FAILED: {c['error']}"))
    checks = [k for v in c.values() if isinstance(v, dict) for k in v.get("checks", [])]
    if checks:
        blocks += [("p", "Each claim is checked by a number this run measured against the "
                         "threshold shown; a claim that fails says so."),
                   ("table", ["claim", "measured", "threshold", "verdict", "how"],
                    claims_table(checks))]
    if "ar_linear" in c:
        a = c["ar_linear"]
        rows = [[str(d), f"{ti * 1e3:.1f}", f"{tf * 1e3:.1f}"] for d, ti, tf in
                zip(a["dims"], a["incremental_s"], a["recomputing_s"], strict=True)]
        blocks += [("table", ["D", "incremental sampler (ms)", "recomputing sampler (ms)"],
                    rows), ("img", a["image"], "AR sampling time vs D")]
    if "flows_fastest" in c:
        f = c["flows_fastest"]
        blocks.append(("p", f"Fastest flow `{f['best_flow']}` {f['flow_rate']:,.0f} samples/s, "
                            f"fastest autoregressive model `{f['best_ar']}` "
                            f"{f['ar_rate']:,.0f}/s; the slowest flow ran at "
                            f"{f['slowest_flow_rate']:,.0f}/s (multi-scale image flows pay "
                            "per-layer overhead at these tiny sizes)."))
    if "ebm_mcmc" in c:
        e = c["ebm_mcmc"]
        rows = [[str(k), f"{v:.2f}", f"{s * 1e3:.1f}"]
                for k, v, s in zip(e["steps"], e["log_q"], e["seconds"], strict=True)]
        blocks += [("p", f"RBM samples ({e.get('rbm', 'the table')}) vs Gibbs steps from a "
                         "random start: mean log-likelihood of 64 samples under the exactly "
                         "normalized RBM, against exact samples from the same RBM, "
                         f"{e['exact_log_q']:.2f} nats (1,024 drawn by enumerating its hidden "
                         "states: E_q[log q] = -H(q)); test data: "
                         f"{e['data_log_q']:.2f} nats (a different quantity: E_data[log q] = "
                         "-H(data) - KL(data || model); digits: "
                         f"{e.get('protocol', 'digits')})."),
                   ("table", ["Gibbs steps", "mean log q(samples)", "ms"], rows),
                   ("img", e["image"], "RBM samples vs Gibbs steps")]
    if blocks:
        secs.append(("Claims checked with measured numbers", blocks))
    return secs


def _render_md(secs, out: Path) -> str:
    parts = ["# minigen tour report", ""]
    for title, blocks in secs:
        parts += [f"## {title}", ""]
        for b in blocks:
            if b[0] == "p":
                parts += [b[1], ""]
            elif b[0] == "h3":
                parts += [f"### {b[1]}", ""]
            elif b[0] == "pre":
                parts += ["```text", b[1].rstrip(), "```", ""]
            elif b[0] == "table":
                parts += [_md_table(b[1], b[2]), ""]
            elif b[0] == "img":
                parts += [f"![{b[2]}]({os.path.relpath(b[1], out)})", ""]
    return "\n".join(parts)


def _data_uri(path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


_CSS = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #aaa;"
        "padding:3px 6px;font-size:13px}th{background:#eee}img{max-width:420px;margin:4px}"
        "figure{display:inline-block;margin:4px}figcaption{font-size:12px;text-align:center}"
        "pre{background:#f6f6f6;padding:6px;overflow:auto}")


def _render_html(secs) -> str:
    def inline(t):
        t = html.escape(t)
        t = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", t)
        return re.sub(r"`(.+?)`", r"<code>\1</code>", t)

    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>minigen tour</title>",
             f"<style>{_CSS}</style></head><body><h1>minigen tour report</h1>"]
    for title, blocks in secs:
        parts.append(f"<h2>{html.escape(title)}</h2>")
        for b in blocks:
            if b[0] == "p":
                parts.append(f"<p>{inline(b[1])}</p>")
            elif b[0] == "h3":
                parts.append(f"<h3>{html.escape(b[1])}</h3>")
            elif b[0] == "pre":
                parts.append(f"<pre>{html.escape(b[1])}</pre>")
            elif b[0] == "table":
                head = "".join(f"<th>{html.escape(h)}</th>" for h in b[1])
                body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row)
                               + "</tr>" for row in b[2])
                parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif b[0] == "img":
                parts.append(f"<figure><img src='{_data_uri(b[1])}' alt='{html.escape(b[2])}'>"
                             f"<figcaption>{html.escape(b[2])}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_reports(res: dict, out) -> dict:
    """Write ``report.md``, ``report.html``, ``results.json`` and ``metrics.json``; return paths."""
    out = Path(out)
    secs = _sections(res)
    md, page, js = out / "report.md", out / "report.html", out / "results.json"
    mj = out / "metrics.json"
    mj.write_text(json.dumps(metrics(res), indent=1, default=str) + "\n")
    md.write_text(_render_md(secs, out) + "\n")
    page.write_text(_render_html(secs))
    js.write_text(json.dumps({k: v for k, v in res.items() if k != "paths"}, indent=1,
                             default=str) + "\n")
    return {"md": str(md), "html": str(page), "json": str(js), "metrics": str(mj)}
