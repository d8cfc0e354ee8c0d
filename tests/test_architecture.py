"""The layering rules of ARCHITECTURE.md, checked on the code as it is.

* no import circle among ``minigen``'s modules (a walk of the import graph);
* the layer contract in ``pyproject.toml`` holds (``lint-imports``);
* no function in ``minigen/`` is longer than 80 lines, except the kernel loops listed in
  ARCHITECTURE.md.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 80
# kernel loops that read best whole (ARCHITECTURE.md says why)
LONG_FUNCTIONS_ALLOWED = {("minigen/kernels/cpu/gibbs.py", "rbm_sgd_epoch")}


def import_cycles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    adj = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    index, low, on_stack, stack, cycles = {}, {}, set(), [], []
    counter = 0
    for root in sorted(adj):
        if root in index:
            continue
        work = [(root, iter(adj[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(adj[w])))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    cycles.append(sorted(comp))
    return cycles


class _Graph:
    """A stand-in for grimp's graph (the test of the walk itself)."""

    def __init__(self, edges):
        self.edges = edges
        self.modules = set(edges) | {w for ws in edges.values() for w in ws}

    def find_modules_directly_imported_by(self, m):
        return set(self.edges.get(m, ()))


def test_cycle_walk_finds_a_circle_and_nothing_else():
    assert import_cycles(_Graph({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]})) == [
        ["a", "b", "c"]]
    assert import_cycles(_Graph({"a": ["b"], "b": ["c"], "d": ["a", "c"]})) == []


def test_no_import_circle_among_minigen_modules():
    grimp = pytest.importorskip("grimp", reason="pip install import-linter (brings grimp)")
    graph = grimp.build_graph("minigen", include_external_packages=False)
    assert import_cycles(graph) == []


def test_layer_contract_holds():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("lint-imports not installed: pip install import-linter")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    r = subprocess.run([exe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]


def long_functions(root: Path) -> list[tuple[str, str, int]]:
    out = []
    for path in sorted((root / "minigen").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES and (rel, node.name) not in LONG_FUNCTIONS_ALLOWED:
                    out.append((rel, node.name, n))
    return out


def test_no_function_over_80_lines():
    assert long_functions(ROOT) == []
