"""Summarize a ``bench_gpu.py`` run: medians, effective bandwidth, % of the copy, ratios.

Usage: ``python bench/gpu_summary.py gpu.json`` (the file written by ``--benchmark-json``).
Bandwidth = the fewest bytes a kernel must move (``extra_info["bytes"]``) / median time;
"% copy" compares it with the device-to-device copy measured in the same run. Within each
group, "x first" is the median over the group's first row (the reference or ceiling).
"""

from __future__ import annotations

import json
import sys


def summarize(path: str) -> str:
    data = json.load(open(path))
    rows = data["benchmarks"]
    copy = [r for r in rows if r["name"].startswith("test_device_copy")]
    copy_bw = copy[0]["extra_info"]["bytes"] / copy[0]["stats"]["median"] if copy else None
    machine = data.get("machine_info", {})
    cpu = machine.get("cpu", {}).get("brand_raw", "?")
    lines = [f"machine: {machine.get('node', '?')} cpu: {cpu}"]
    if copy_bw:
        lines.append(f"device-to-device copy: {copy_bw / 1e9:.0f} GB/s (bytes read + written)")
    groups: dict[str, list] = {}
    for r in rows:
        groups.setdefault(r["group"] or "", []).append(r)
    for group, rs in groups.items():
        lines.append(f"\n{group}")
        first = rs[0]["stats"]["median"]
        for r in rs:
            med = r["stats"]["median"]
            nbytes = r["extra_info"].get("bytes", 0)
            bw = f"{nbytes / med / 1e9:7.0f} GB/s" if nbytes else " " * 12
            pct = f"{100 * nbytes / med / copy_bw:5.0f}% copy" if nbytes and copy_bw else " " * 10
            lines.append(f"  {r['name']:<48} {med * 1e3:9.3f} ms  {bw}  {pct}  "
                         f"{med / first:6.2f}x first")
            notes = {k: v for k, v in r["extra_info"].items() if k != "bytes"}
            if notes:
                lines.append("    " + ", ".join(f"{k}={v:.4g}" for k, v in notes.items()))
    return "\n".join(lines)


if __name__ == "__main__":
    print(summarize(sys.argv[1] if len(sys.argv) > 1 else "gpu.json"))
