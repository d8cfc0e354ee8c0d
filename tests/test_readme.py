"""README and CI stay in sync: CI runs the README's test command verbatim; the
README's first command is a valid ``minigen`` invocation; ``minigen info`` prints the table."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minigen.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_ci_runs_the_readme_test_command_verbatim():
    blocks = _bash_blocks()
    assert len(blocks) >= 2, "README must have the set-up and the test bash blocks"
    test_cmd = blocks[1]
    assert "\n" not in test_cmd and "pytest" in test_cmd
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_cmd in ci_lines


def test_readme_first_command_is_a_valid_minigen_call():
    first = _bash_blocks()[0]
    assert "pip install" in first
    last = first.split("&&")[-1].strip()
    argv = shlex.split(last)
    assert argv[0] == "minigen"
    args = build_parser().parse_args(argv[1:])
    assert args.command == "tour" and args.quick and args.out == "runs/tour"


def test_minigen_info_prints_backend_table(capsys):
    assert main(["info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("backend"))
    names = [line.split()[0] for line in lines[header + 1: header + 4]]
    assert names == ["numpy", "numba", "cupy"]
    for line in lines[header + 1: header + 4]:
        status = line.split()[1]
        assert status in ("active", "available", "unavailable")
        if status == "unavailable":  # the reason is printed
            assert f"{line.split()[0]}:" in line


def test_digits_protocol_snippet_runs_and_prints_the_quoted_string():
    pytest.importorskip("sklearn")
    from minigen.datasets import load_dataset

    text = (ROOT / "docs" / "benchmarks.md").read_text()
    m = re.search(r"Protocol \(`(load_dataset\([^`]*\)\[1\]\.protocol)`", text)
    assert m, "the benchmarks page's digits protocol snippet not found"
    value = eval(m.group(1), {"load_dataset": load_dataset})  # the README's own expression
    quoted = re.search(r'"(sklearn 8x8 digits[^"]*)"', text[m.end():])
    assert quoted and " ".join(quoted.group(1).split()) == value


def test_autograd_nn_is_an_attribute_after_importing_the_package():
    # the README documents ``nn.Module`` under ``minigen.autograd`` (fresh interpreter:
    # other tests may have imported the submodule already)
    code = "import minigen.autograd as ag; print(ag.nn.Module.__name__, 'nn' in ag.__all__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.split()
    assert out == ["Module", "True"]


def test_readme_is_short_and_has_no_benchmark_tables():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    assert "ms vs" not in text and "| kernel |" not in text  # the tables live in docs/


def test_quick_start_runs_and_the_saved_model_reloads_identical(tmp_path, monkeypatch):
    """The README's quick start, run as written (in a scratch folder): it trains, writes
    the sample grid and ``made.npz``, and the reloaded model scores like the trained one."""
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start\n+```python\n(.*?)```", text, flags=re.S).group(1)
    assert "minigen.models.load(" in block and ".save(" in block
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(block, "README quick start", "exec"), ns)
    assert (tmp_path / "made_samples.png").stat().st_size > 0
    X_test = ns["X_test"]
    np.testing.assert_array_equal(ns["same"].score_samples(X_test),
                                  ns["model"].score_samples(X_test))
    np.testing.assert_array_equal(ns["same"].sample(4, random_state=3),
                                  ns["model"].sample(4, random_state=3))
