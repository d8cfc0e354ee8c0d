"""The notebooks in git carry no outputs (pytest --nbmake executes them; see pyproject)."""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_one_notebook_per_topic():
    stems = [p.stem for p in NOTEBOOKS]
    for topic in ("thresholding", "kl", "autoregressive", "mcmc", "flows"):
        assert any(topic in s for s in stems), (topic, stems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_are_stripped(path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None, path.name
