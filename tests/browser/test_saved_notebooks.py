"""Notebooks that keep their pictures, in a real browser.

- saved with JupyterLab's defaults (no widget state) and reopened, or rendered by ``jupyter
  nbconvert --to html``: each card's image, prompt and status are there (the snapshot output);
- saved with widget state and reopened: the Studio says it is a snapshot and how to revive it;
- after a kernel restart: the old kernel's cards say so instead of looking alive.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import harness
import pytest
from harness import open_notebook

CELLS = [
    """
import os
os.environ["MJ_SIM_SPEED"] = "40"
import mjwidgets as mjw
studio = mjw.Studio()
studio
""",
    """
grid = studio.imagine("a lighthouse at dusk --ar 3:2")
grid.wait(120)
single = grid.press("U2")
single.wait(120)
ids = [grid.task.id, single.task.id]
""",
]


@pytest.fixture(scope="module")
def lab_defaults(tmp_path_factory, jupyter_extra_env) -> Iterator[harness.JupyterServer]:
    """A JupyterLab that saves notebooks as it does out of the box: without widget state."""
    server = harness.start_jupyter(
        "lab",
        tmp_path_factory.mktemp("jupyter-lab-defaults"),
        jupyter_extra_env,
        settings={"@jupyter-widgets/jupyterlab-manager:plugin": {"saveState": False}},
    )
    try:
        yield server
    finally:
        server.stop()


def _painted(page, task_id: str) -> None:
    page.wait_for_function(
        "id => document.querySelector(`.mjw-task[data-task-id='${id}']`)?.dataset.painted === id",
        arg=task_id,
        timeout=180_000,  # a hang catcher: a loaded machine paints late, not never
    )


def _snapshot_has(page, ids: list[str]) -> None:
    """Until the (hidden) snapshot output holds a picture of every card."""
    page.wait_for_function(
        """ids => ids.every(id => document.querySelector(
              `.mjw-snapshot .mjw-snapshot-card[data-task-id='${id}'] img`))""",
        arg=ids,
        timeout=180_000,  # snapshots are spaced by size (snapshot.SECONDS_PER_MB) and slow here
    )


def test_a_notebook_saved_without_widget_state_keeps_its_pictures(lab_defaults, browser):
    nb = open_notebook(lab_defaults, browser, "keeps_pictures", CELLS, timeout=180)
    page = nb.page
    ids = nb.eval("ids")
    for task_id in ids:
        _painted(page, task_id)
    _snapshot_has(page, ids)
    assert not page.locator(".mjw-snapshot").first.is_visible(), "hidden while the Studio lives"
    shown_as = page.evaluate(
        """() => [...document.querySelectorAll('.mjw-snapshot')]
              .map((s) => getComputedStyle(s.closest('.jp-OutputArea-child')).display)"""
    )
    assert shown_as and set(shown_as) == {"none"}, "its whole output (prompt, margins) hidden too"
    path = nb.save()
    saved = json.loads(path.read_text())
    assert "widgets" not in saved["metadata"], "JupyterLab's default saves no widget state"
    html_outputs = [
        out["data"]["text/html"]
        for cell in saved["cells"]
        for out in cell.get("outputs", [])
        if "text/html" in out.get("data", {})
    ]
    snapshot = "".join("".join(h) if isinstance(h, list) else h for h in html_outputs)
    for task_id in ids:
        assert f'data-task-id="{task_id}"' in snapshot
    assert snapshot.count('src="data:image/jpeg;base64,') == 2

    converted = subprocess.run(
        [sys.executable, "-m", "nbconvert", "--to", "html", "--stdout", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    for task_id in ids:
        assert f'data-task-id="{task_id}"' in converted, "nbconvert's HTML lacks a card"
    assert converted.count('src="data:image/jpeg;base64,') == 2, "nbconvert's HTML lacks images"
    assert "a lighthouse at dusk --ar 3:2" in converted and "success" in converted

    nb.close()  # the kernel too: the reopened notebook starts a new, empty one
    again = open_notebook(lab_defaults, browser, "keeps_pictures", None, run=False, timeout=120)
    page = again.page
    shown = page.locator(".mjw-snapshot")
    shown.wait_for(timeout=120_000)
    page.wait_for_function(
        """() => [...document.querySelectorAll('.mjw-snapshot img')]
              .filter(i => i.naturalWidth > 0 && i.getBoundingClientRect().height > 50)
              .length === 2""",
        timeout=120_000,
    )
    assert "run the cell again" in shown.inner_text()
    error_line = page.get_by_text("Error displaying widget")
    assert error_line.count() == 0 or not error_line.first.is_visible(), "a dead widget's error"
    # the line JupyterLab shows for the dead widget above the snapshot ("Loading widget..."):
    # the snapshot's own rule finds it and hides it
    found = page.evaluate(
        """() => [...document.querySelectorAll('.mjw-snapshot')].map((snapshot) => {
              const rule = snapshot.parentElement.querySelector('style').textContent;
              const lines = [...document.querySelectorAll(rule.slice(0, rule.indexOf('{')))];
              return lines.map((line) => [line.textContent.trim(), getComputedStyle(line).display]);
            })"""
    )
    assert found and all(len(lines) == 1 for lines in found), "the rule finds the widget's line"
    assert all(shown == "none" for lines in found for _, shown in lines), found
    shown.scroll_into_view_if_needed()
    again.screenshot("notebook-reopened-without-widget-state", docs=True)
    assert not again.page_errors(), again.console


def test_a_reopened_studio_with_widget_state_says_it_is_a_snapshot(jupyter_lab, browser):
    nb = open_notebook(jupyter_lab, browser, "saved_state", CELLS, timeout=180)
    ids = nb.eval("ids")
    for task_id in ids:
        _painted(nb.page, task_id)
    nb.save()
    nb.close()
    again = open_notebook(jupyter_lab, browser, "saved_state", None, run=False, timeout=120)
    page = again.page
    for task_id in ids:
        page.locator(f".mjw-task[data-task-id='{task_id}'] img.mjw-image").wait_for(timeout=120_000)
    banner = page.locator(".mjw-studio-bar .mjw-offline")
    banner.wait_for(timeout=30_000)
    assert "Saved snapshot" in banner.inner_text() and "Run the cell again" in banner.inner_text()
    card_banner = page.locator(f".mjw-task[data-task-id='{ids[0]}'] .mjw-offline")
    assert card_banner.is_visible() and "Saved snapshot" in card_banner.inner_text()
    page.locator("textarea.mjw-prompt").fill("a fox")
    page.locator("textarea.mjw-prompt").press("Enter")
    assert page.locator(".mjw-imagine").inner_text() == "Imagine", "nothing waits for a kernel"
    again.screenshot("studio-saved-snapshot", docs=True)
    assert not again.page_errors(), again.console


def test_cards_of_a_restarted_kernel_say_so(jupyter_lab, browser):
    nb = open_notebook(jupyter_lab, browser, "restarted", CELLS, timeout=180)
    page = nb.page
    ids = nb.eval("ids")
    for task_id in ids:
        _painted(page, task_id)
    card = page.locator(f".mjw-task[data-task-id='{ids[0]}']")
    assert not card.locator(".mjw-offline").is_visible()
    page.evaluate("() => { window.jupyterapp.commands.execute('kernelmenu:restart'); }")
    page.locator(".jp-Dialog .jp-mod-accept").click(timeout=30_000)
    card.locator(".mjw-offline", has_text="restarted").wait_for(timeout=120_000)
    assert "Run the cell again" in card.locator(".mjw-offline").inner_text()
    bar = page.locator(".mjw-studio-bar .mjw-offline")
    assert bar.is_visible() and "restarted" in bar.inner_text()
    v1 = card.locator("button.mjw-button", has_text="V1")
    assert v1.evaluate("b => getComputedStyle(b).pointerEvents") == "none", "looks clickable"
    assert page.locator(".mjw-cards > *").first.evaluate(
        "n => n.classList.contains('mjw-taskview')"
    ), "the grid's first cell is a card (no icon taking a cell)"
    card.scroll_into_view_if_needed()
    nb.screenshot("studio-kernel-restarted", docs=True)
    assert not nb.page_errors(), nb.console
