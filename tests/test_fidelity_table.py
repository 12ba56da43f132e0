"""docs/simulator-fidelity.md keeps its promise: at least 60 behaviours, each with the real
server's source and a test that pins it — and every test a row names exists. Also the tests of
the rows that had none (123, 124: extend of a job that is not a video, Extend under Remix)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from simhelpers import Api

from mjwidgets import sim

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "docs" / "simulator-fidelity.md"
REF = re.compile(r"^(?P<file>tests/[\w/]+\.py)?(?:::(?P<name>\w+))?(?:\[[^\]]*\])?$")


def _cells(line: str) -> list[str]:
    """A Markdown table row's cells; a ``|`` inside backticks belongs to its cell."""
    cells, current, quoted = [], "", False
    for char in line.strip().strip("|"):
        if char == "`":
            quoted = not quoted
        if char == "|" and not quoted:
            cells.append(current.strip())
            current = ""
        else:
            current += char
    return [*cells, current.strip()]


def _rows() -> list[list[str]]:
    table = TABLE.read_text().split("## Conformance table", 1)[1].split("\n## ", 1)[0]
    return [_cells(line) for line in table.splitlines() if re.match(r"^\|\s*\d+\s*\|", line)]


def _named_tests(cell: str) -> list[tuple[str, str]]:
    """(file, test name) for each test a Test cell names; ``::name`` and ``[param]`` continue
    the file (and test) named before them in the cell."""
    found: list[tuple[str, str]] = []
    file = name = ""
    for ref in re.findall(r"`([^`]+)`", cell):
        match = REF.match(ref.strip())
        if match is None:
            continue
        file = match["file"] or file
        name = match["name"] or name
        if file and name:
            found.append((file, name))
    return found


def test_every_row_has_a_source_and_names_a_test_that_exists():
    rows = _rows()
    assert len(rows) >= 60, len(rows)
    numbers = [int(row[0]) for row in rows]
    assert len(set(numbers)) == len(numbers), "a row number is used twice"
    sources: dict[Path, str] = {}
    problems = []
    for row in rows:
        assert len(row) == 5, row
        number, _behaviour, flavours, source, test = row
        if not flavours or not source:
            problems.append(f"row {number}: no flavour or no source")
        named = _named_tests(test)
        if not named:
            problems.append(f"row {number}: names no test ({test})")
        for file, name in named:
            path = ROOT / file
            if not path.exists():
                problems.append(f"row {number}: {file} does not exist")
                continue
            text = sources.setdefault(path, path.read_text())
            if not re.search(rf"^def {name}\(", text, re.MULTILINE):
                problems.append(f"row {number}: {file} has no test {name}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("flavor", ["trueai", "plus"])
def test_extend_of_a_job_that_is_not_a_video_is_accepted_then_fails(flavor):
    """Row 123: /submit/video extends only a video; an image's job is accepted and then fails.
    A video's customId pressed on an image's job fails too (before, the simulator crashed on
    every fetch of that task with HTTP 500)."""
    with sim.start(speed=200.0, flavor=flavor) as server:
        api = Api(server.url)
        single = api.wait(api.press(api.wait(api.imagine("a red fox --v 7")), "U1")["result"])
        body = {"prompt": "keep going", "action": "extend", "taskId": single["id"]}
        accepted = api.submit("video", body)
        assert accepted["code"] == 1, accepted
        failed = api.wait(accepted["result"], timeout=60)
        assert failed["status"] == "FAILURE"
        assert failed["failReason"] == "invalid_request, the job to extend is not a video"
        job = single["buttons"][0]["customId"].split("::")[-2]  # the image's job hash
        for custom_id in (
            f"MJ::JOB::animate_high_extend::1::{job}",
            f"MJ::JOB::video_virtual_upscale::1::{job}",
        ):
            pressed = api.submit("action", {"taskId": single["id"], "customId": custom_id})
            assert pressed["code"] == 1, pressed
            assert api.wait(pressed["result"], timeout=60)["status"] == "FAILURE"


@pytest.mark.parametrize(
    ("flavor", "words"), [("trueai", "Waiting for window confirm"), ("plus", "窗口等待")]
)
def test_extend_under_remix_asks_for_a_prompt(flavor, words):
    """Row 124: with Remix on, Extend answers code 21 and a MODAL VIDEO task, as Animate does."""
    with sim.start(speed=200.0, flavor=flavor) as server:
        api = Api(server.url)
        single = api.wait(api.press(api.wait(api.imagine("a red fox --v 7")), "U1")["result"])
        grid = api.wait(api.press(single, "Animate (High motion)")["result"], timeout=60)
        clip = api.wait(api.press(grid, "U1")["result"], timeout=60)
        server.configure(remix=True)
        for parent, label in ((clip, "Extend (High motion)"), (single, "Animate (Low motion)")):
            answer = api.press(parent, label)
            assert (answer["code"], answer["description"]) == (21, words), (label, answer)
            modal = api.fetch(answer["result"])
            assert (modal["status"], modal["action"]) == ("MODAL", "VIDEO"), (label, modal)
