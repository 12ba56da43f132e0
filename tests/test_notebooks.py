"""Every notebook in notebooks/ runs top to bottom, headless, on the embedded simulator."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


# A kernel start and a few dozen simulated jobs: seconds on an idle machine, minutes on a loaded
# one. The deadlines only catch a hang; how fast a notebook runs is not what this test checks.
@pytest.mark.timeout(900)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    for name in ("MJ_BASE_URL", "MJ_API_KEY", "MJ_AUTH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MJ_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MJ_SIM_SPEED", "40")
    book = nbformat.read(path, as_version=4)
    NotebookClient(
        book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    errors = [
        o
        for c in book.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors
    assert os.environ.get("MJ_API_KEY") is None


def test_notebooks_carry_no_outputs_and_a_kernelspec():
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        assert book.metadata["kernelspec"]["name"] == "python3", path.name
        assert all(not c.get("outputs") for c in book.cells if c.cell_type == "code"), path.name
