"""The wheel installs with plain pip and carries the front end and the notebooks."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_carries_front_end_and_notebooks(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        check=True,
    )
    wheel = next((tmp_path / "dist").glob("mjwidgets-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for source in (ROOT / "js").iterdir():
        assert f"mjwidgets/static/{source.name}" in names
    assert "mjwidgets/notebooks/quickstart.ipynb" in names
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import mjwidgets.widgets.plumbing as t, mjwidgets.widgets.taskview, mjwidgets.demo as d;"
        "assert t.STATIC.name == 'static' and (t.STATIC / 'taskview.js').exists(), t.STATIC;"
        "assert d.notebooks_source().parent.name == 'mjwidgets';"
        "print(t.STATIC)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(target)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert str(target) in out.stdout
