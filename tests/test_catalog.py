"""The model tables in README.md and docs/models.md are generated from the registry and
current; every Python block of the README runs as written."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from minigen import catalog

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path, body", [
    ("README.md", catalog.model_table_markdown),
    ("docs/models.md", catalog.parameters_markdown),
])
def test_generated_tables_are_current(path, body):
    text = (ROOT / path).read_text()
    assert catalog.replace_generated(text, body()) == text, (
        f"{path} is stale: run `python -m minigen.catalog` from the checkout")


def test_every_model_and_parameter_is_in_the_tables():
    readme = (ROOT / "README.md").read_text()
    docs = (ROOT / "docs" / "models.md").read_text()
    for row in catalog.models():
        assert f"| `{row['name']}` | `{row['cls']}` |" in readme
        for k in row["params"]:
            assert f"`{k}`" in docs


def test_a_new_parameter_would_make_the_tables_stale(monkeypatch):
    from minigen.models import MADE
    from minigen.params import Param

    monkeypatch.setitem(MADE._param_table, "width_mult", Param(2, "a new knob"))
    text = (ROOT / "README.md").read_text()
    assert catalog.replace_generated(text, catalog.model_table_markdown()) != text


def _python_blocks(text):
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize("i", range(len(_python_blocks((ROOT / "README.md").read_text()))))
def test_readme_python_blocks_run(i, tmp_path):
    code = _python_blocks((ROOT / "README.md").read_text())[i]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300, env={**__import__("os").environ,
                                                         "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    # a "# -> value" comment after a print states what it prints
    for line, expected in re.findall(r"^(print\(.*\))\s*#\s*->\s*(.+)$", code, flags=re.M):
        assert expected.strip() in out.stdout, (line, expected, out.stdout)
