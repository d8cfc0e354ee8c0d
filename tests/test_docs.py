"""docs/: every code reference exists and every snippet prints what the page shows."""

import ast
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))
#: reference pages (an index, tables of results and features) are not topic pages
REFERENCE = {"README.md", "benchmarks.md", "features.md"}
TOPICS = [p for p in DOCS if p.name not in REFERENCE]
REF = re.compile(r"(?<![\w/])((?:minigen|kernels)/[\w/]+\.(?:py|cu|md))(?:::(\w+))?")
SNIPPET = re.compile(r"```python\n(.*?)```\s*```text\n(.*?)```", re.S)
NUM = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


def _defined_names(path: Path) -> set:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_six_topic_pages():
    assert {p.stem for p in TOPICS} >= {"sampling", "likelihood", "autoregressive", "ebm_mcmc",
                                         "flows", "kernels_backends"}


@pytest.mark.parametrize("page", [p for p in DOCS if p.name != "README.md"],
                         ids=lambda p: p.stem)
def test_code_references_exist(page):
    refs = REF.findall(page.read_text())
    if page.name not in REFERENCE:
        assert any(name for _, name in refs), f"{page.name} names no function"
    for path, name in refs:
        f = ROOT / path
        assert f.is_file(), f"{page.name}: {path} does not exist"
        if name:
            assert name in _defined_names(f), f"{page.name}: {name} is not defined in {path}"


def _same(expected: str, got: str) -> bool:
    """Equal text, numbers within a small tolerance (BLAS summation order may differ)."""
    e_lines = [x.rstrip() for x in expected.strip().splitlines()]
    g_lines = [x.rstrip() for x in got.strip().splitlines()]
    if len(e_lines) != len(g_lines):
        return False
    for e, g in zip(e_lines, g_lines, strict=True):
        if NUM.sub("#", e) != NUM.sub("#", g):
            return False
        for a, b in zip(NUM.findall(e), NUM.findall(g), strict=True):
            if not math.isclose(float(a), float(b), rel_tol=5e-3, abs_tol=0.011):
                return False
    return True


@pytest.mark.parametrize("page", TOPICS, ids=lambda p: p.stem)
def test_snippet_output_matches_the_page(page):
    snippets = SNIPPET.findall(page.read_text())
    assert snippets, f"{page.name} has no ```python block followed by a ```text block"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for code, expected in snippets:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              cwd=ROOT, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert _same(expected, proc.stdout), (
            f"{page.name}: printed\n{proc.stdout}\nbut the page shows\n{expected}")


def test_the_comparison_catches_a_wrong_number():
    assert _same("KL=0.0499", "KL=0.0500")
    assert not _same("KL=0.0499", "KL=0.0899")
    assert not _same("[0 2]", "[0 1]")
