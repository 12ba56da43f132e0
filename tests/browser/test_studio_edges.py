"""The Studio at its edges, in JupyterLab: a key the server refuses turns the backend badge red
and says what to change (the prompt stays in the box); a dialog closed without sending leaves no
job in the history; a job that stopped changing says it may be stuck, with Cancel and "Submit
again" — and nothing is submitted again until the person clicks."""

from __future__ import annotations

from harness import DEFAULT_TIMEOUT, open_notebook

KEY = "sk-edges-browser-8080"
TASK = ".mjw-task"
JOB_MS = int(DEFAULT_TIMEOUT * 1000)

WRONG_KEY_STYLE = f"""
from mjwidgets import Client, Studio, sim
server = sim.start(speed=50, flavor="trueai", secret={KEY!r})
studio = Studio(Client(server.url, {KEY!r}, auth="bearer"))  # trueai reads the raw header
studio
"""

STUCK = f"""
import os, tempfile
os.environ["MJ_HOME"] = tempfile.mkdtemp(prefix="mjw-")  # a history of its own
from mjwidgets import Client, Studio, sim
server = sim.start(speed=200, flavor="plus", secret={KEY!r}, task_timeout=None)
studio = Studio(Client(server.url, {KEY!r}, auth="raw"))
studio
"""


def _imagines(nb) -> int:
    return nb.eval("server.stats()['requests'].get('POST /mj/submit/imagine', 0)")


def _type(page, text: str) -> None:
    box = page.locator("textarea.mjw-prompt")
    box.click()
    box.fill(text)
    box.press("Enter")


def test_a_refused_key_turns_the_badge_red_and_the_prompt_stays(jupyter_lab, browser):
    nb = open_notebook(jupyter_lab, browser, "edges_key", [WRONG_KEY_STYLE])
    page = nb.page
    _type(page, "a fox in the snow")
    badge = page.locator(".mjw-badge[data-ok='no']")
    badge.wait_for()
    assert "key refused" in badge.inner_text()
    assert "MJ_AUTH=raw" in badge.get_attribute("title")
    error = page.locator(".mjw-studio-error")
    error.wait_for(state="visible")
    assert "MJ_AUTH=raw" in error.inner_text()
    assert page.locator("textarea.mjw-prompt").input_value() == "a fox in the snow"
    assert page.locator(TASK).count() == 0
    nb.screenshot("studio-key-refused", selector=".mjw-studio")
    assert not nb.page_errors(), nb.console


def test_closed_dialogs_leave_no_job_and_a_stuck_job_waits_for_a_click(jupyter_lab, browser):
    nb = open_notebook(jupyter_lab, browser, "edges_stuck", [STUCK])
    page = nb.page
    _type(page, "a desert road --v 7")
    grid = page.locator(f"{TASK}[data-status='SUCCESS']").first
    grid.wait_for(timeout=JOB_MS)
    grid_id = grid.get_attribute("data-task-id")
    assert page.locator(".mjw-badge[data-ok='yes']").count() == 1
    grid.locator("button.mjw-button", has_text="U1").click()
    single = page.locator(f"{TASK}:has(.mjw-lineage[data-parent-id='{grid_id}'])")
    single.wait_for()
    single_id = single.get_attribute("data-task-id")
    page.locator(f"{TASK}[data-task-id='{single_id}'][data-status='SUCCESS']").wait_for(
        timeout=JOB_MS
    )

    # Custom Zoom opened, then closed with Escape: nothing in the history looks like a job
    single.locator("button.mjw-button", has_text="Custom Zoom").click()
    single.locator("textarea.mjw-modal-prompt").wait_for()
    single.locator("textarea.mjw-modal-prompt").press("Escape")
    single.locator(".mjw-modal").wait_for(state="hidden")
    assert nb.eval("[t.id for t in studio.tracker.store.history()]") == [single_id, grid_id]
    assert page.locator(TASK).count() == 2

    # a job that stops changing: it says so, and offers Cancel and Submit again
    nb.execute("server.configure(stuck_rate=1.0)")
    _type(page, "a stuck lighthouse")
    stuck = page.locator(f"{TASK}:has(.mjw-stuck-text)")
    stuck.wait_for(timeout=JOB_MS)
    stuck_id = stuck.get_attribute("data-task-id")
    assert "may be stuck" in stuck.locator(".mjw-stuck-text").inner_text()
    resubmit = stuck.locator("button.mjw-control[data-control='resubmit']")
    cancel = stuck.locator("button.mjw-control[data-control='cancel']")
    assert resubmit.get_attribute("aria-disabled") is None
    assert cancel.get_attribute("aria-disabled") is None
    assert _imagines(nb) == 2  # the grid and the stuck job: never submitted again on its own
    nb.execute("server.configure(stuck_rate=0.0)")
    stuck.scroll_into_view_if_needed()
    nb.screenshot("studio-stuck-card", selector=f"{TASK}[data-task-id='{stuck_id}']")
    resubmit.click()
    nb.wait_until(f"len(studio.cards[{stuck_id!r}].card.children) == 1")
    again_id = nb.eval(f"studio.cards[{stuck_id!r}].card.children[0]['task_id']")
    page.locator(f"{TASK}[data-task-id='{again_id}'][data-status='SUCCESS']").wait_for(
        timeout=JOB_MS
    )
    assert _imagines(nb) == 3
    assert nb.eval(f"studio.cards[{again_id!r}].task.prompt") == "a stuck lighthouse"
    cancel.click()
    page.locator(f"{TASK}[data-task-id='{stuck_id}'][data-status='CANCEL']").wait_for()
    assert page.locator(f"{TASK}[data-task-id='{stuck_id}'] .mjw-stuck-text").count() == 0
    assert not nb.page_errors(), nb.console
