"""The Studio in a real browser: prompt, progress, grid, U2, Custom Zoom, failure, XSS, saving."""

from __future__ import annotations

import json
import re
import time

import pytest
from harness import DEFAULT_TIMEOUT, WAIT_TIMEOUT_MS, open_notebook
from PIL import Image

SETUP = """
import os
os.environ["MJ_SIM_SPEED"] = "10"   # a ~55 s job takes ~5.5 s: progress stays visible
import mjwidgets as mjw
studio = mjw.Studio()
studio
"""

TASK = ".mjw-task"
JOB_MS = int(DEFAULT_TIMEOUT * 1000)  # bound of a wait for a job's end (submit → final image)


def _card(page, status: str | None = None, nth: int = 0):
    selector = f"{TASK}[data-status='{status}']" if status else TASK
    return page.locator(selector).nth(nth)


def _type_prompt(page, text: str) -> None:
    box = page.locator("textarea.mjw-prompt")
    box.click()
    box.fill(text)
    box.press("Enter")


def _wait_painted(page, task_id: str, timeout_ms: int = JOB_MS) -> None:
    """Until the card shows its final image (not a preview) in the page."""
    page.wait_for_function(
        "id => document.querySelector(`.mjw-task[data-task-id='${id}']`)?.dataset.painted === id",
        arg=task_id,
        timeout=timeout_ms,
    )


def _progress_values(page, task_id: str, timeout_s: float = DEFAULT_TIMEOUT) -> list[int]:
    """Watch one card's progress bar until it is done, collecting the values it showed."""
    seen: list[int] = []
    card = page.locator(f"{TASK}[data-task-id='{task_id}']")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = card.get_attribute("data-status")
        value = card.locator(".mjw-progress").get_attribute("data-progress")
        if value is not None and (not seen or seen[-1] != int(value)):
            seen.append(int(value))
        if status in ("SUCCESS", "FAILURE"):
            break
        page.wait_for_timeout(100)
    return seen


@pytest.mark.parametrize("server_fixture", ["jupyter_lab", "jupyter_notebook7"])
def test_studio_workflow(server_fixture, request, browser):
    """The whole flow, in JupyterLab and in Notebook 7."""
    server = request.getfixturevalue(server_fixture)
    suffix = "" if server_fixture == "jupyter_lab" else "-nb7"
    nb = open_notebook(server, browser, f"studio_flow{suffix}", [SETUP])
    page = nb.page
    page.locator("textarea.mjw-prompt").wait_for()
    assert page.locator(".mjw-badge").inner_text() == "simulator"
    nb.screenshot(f"studio-empty{suffix}")

    _type_prompt(page, "a red fox in snow, golden hour --v 7")  # V7: it has Custom Zoom
    first = _card(page)
    first.wait_for()
    task_id = first.get_attribute("data-task-id")
    assert re.fullmatch(r"\d{16}", task_id)
    page.locator(f"{TASK}[data-task-id='{task_id}'][data-status='IN_PROGRESS']").wait_for()
    nb.screenshot(f"studio-progress{suffix}")
    values = _progress_values(page, task_id)
    assert len([v for v in values if 0 < v < 100]) >= 2, f"progress never advanced: {values}"
    grid = page.locator(f"{TASK}[data-task-id='{task_id}'][data-status='SUCCESS']")
    grid.wait_for(timeout=JOB_MS)
    grid.locator("img.mjw-image").wait_for()
    _wait_painted(page, task_id)
    labels = grid.locator("button.mjw-button").all_inner_texts()
    assert labels[:4] == ["U1", "U2", "U3", "U4"] and "🔄" in labels and "V4" in labels
    nb.screenshot(f"studio-grid{suffix}")

    grid.locator("button.mjw-button", has_text="U2").click()
    child = page.locator(
        f"{TASK}:has(.mjw-lineage[title='Show task {task_id}']"
        ":text-is('U2 of “a red fox in snow, golden hour”'))"
    )
    child.wait_for()
    child_id = child.get_attribute("data-task-id")
    _wait_painted(page, child_id)
    grid.locator("button.mjw-button.mjw-used", has_text="U2").wait_for()
    assert grid.locator("button.mjw-button.mjw-used").count() == 1
    assert nb.eval(f"studio.cards['{child_id}'].task.parent_id") == task_id
    with page.expect_download(timeout=WAIT_TIMEOUT_MS) as download:
        page.locator(f"{TASK}[data-task-id='{child_id}'] button.mjw-download").click()
    full = download.value.path()
    assert Image.open(full).size == (1024, 1024), "Download gives the full-resolution image"
    nb.screenshot(f"studio-upscaled{suffix}")

    upscaled = page.locator(f"{TASK}[data-task-id='{child_id}']")
    upscaled.locator("button.mjw-button", has_text="Custom Zoom").click()
    modal_prompt = upscaled.locator("textarea.mjw-modal-prompt")
    modal_prompt.wait_for()
    assert modal_prompt.input_value().endswith("--zoom 1.5")
    modal_prompt.fill("a red fox in snow, golden hour --v 7 --zoom 3")
    upscaled.locator("button.mjw-modal-send").click()
    upscaled.locator(".mjw-modal-hint.mjw-modal-invalid").wait_for()
    nb.screenshot(f"studio-custom-zoom-invalid{suffix}")
    modal_prompt.fill("a red fox in snow, golden hour --v 7 --zoom 1.8")
    upscaled.locator("button.mjw-modal-send").click()
    zoomed = page.locator(
        f"{TASK}:has(.mjw-lineage[title='Show task {child_id}']"
        ":text-is('Custom Zoom of “a red fox in snow, golden hour”'))"
    )
    zoomed.wait_for()
    zoomed_id = zoomed.get_attribute("data-task-id")
    _wait_painted(page, zoomed_id)
    assert nb.eval(f"studio.cards['{zoomed_id}'].task.prompt").endswith("--zoom 1.8")
    nb.screenshot(f"studio-zoomed{suffix}", full_page=True)
    assert not nb.page_errors(), nb.console


def test_failed_task_and_hostile_text_show_as_text(jupyter_lab, browser):
    cells = [
        SETUP,
        """
from mjwidgets import sim
server = sim.embedded()
server.configure(fail_rate=1.0, fail_at=31,
                 fail_reason='<img src=x onerror="window.__xssReason=1">moderated')
""",
    ]
    nb = open_notebook(jupyter_lab, browser, "studio_failure", cells)
    page = nb.page
    page.locator("textarea.mjw-prompt").wait_for()
    hostile = '<img src=x onerror="window.__xssPrompt=1"> a cat'
    _type_prompt(page, hostile)
    failed = _card(page, "FAILURE")
    failed.wait_for(timeout=JOB_MS)
    assert failed.locator(".mjw-prompt-text").inner_text() == hostile
    reason = failed.locator(".mjw-fail").inner_text()
    assert reason == 'Failed: <img src=x onerror="window.__xssReason=1">moderated'
    assert failed.locator("img[src='x']").count() == 0
    assert page.evaluate("[window.__xssPrompt, window.__xssReason]") == [None, None]
    nb.screenshot("studio-failure")


def test_saved_notebook_holds_images_but_not_the_key(jupyter_lab, browser, tmp_path):
    key = "sk-live-DO-NOT-LEAK-4242"
    key_file = tmp_path / "key.txt"  # a key comes from outside the notebook, never from a cell
    key_file.write_text(key)
    cells = [
        f"""
import pathlib
from mjwidgets import sim, Client
import mjwidgets as mjw
key = pathlib.Path({str(key_file)!r}).read_text()
server = sim.start(speed=20, secret=key)
client = Client(server.url, api_key=key, auth="raw")  # Plus reads the raw header
studio = mjw.Studio(client)
studio
""",
        "card = studio.imagine('a lighthouse at dusk')",
    ]
    nb = open_notebook(jupyter_lab, browser, "studio_saved", cells)
    page = nb.page
    page.locator(f"{TASK}[data-status='SUCCESS'] img.mjw-image").wait_for(timeout=JOB_MS)
    nb.wait_until(
        "len(studio.cards[card.task.id].card.image) > 0 and "
        "studio.cards[card.task.id].card.status == 'SUCCESS'"
    )
    path = nb.save()
    text = path.read_text()
    assert key not in text
    notebook = json.loads(text)
    state = notebook["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    cards = [m for m in state.values() if m["state"].get("task_id")]
    assert cards, "no card state saved"
    saved = next(m for m in cards if m["state"].get("status") == "SUCCESS")
    buffers = {b["path"][0]: b for b in saved.get("buffers", [])}
    assert "image" in buffers and len(buffers["image"]["data"]) > 10_000


# The last cell keeps the kernel busy until the test releases it (a file), not for a fixed time:
# however slow the machine, the job runs to its end while the kernel is busy.
BUSY_CELL = """
import pathlib, time
release = pathlib.Path("release-studio_busy")
give_up = time.monotonic() + 240  # only if the test never releases it
while not release.exists() and time.monotonic() < give_up:
    time.sleep(0.05)
print("released" if release.exists() else "gave up")
"""


def test_progress_keeps_moving_while_another_cell_runs(jupyter_lab, browser):
    cells = [SETUP, "card = studio.imagine('a fox while the kernel is busy')", BUSY_CELL]
    release = jupyter_lab.root / "release-studio_busy"
    release.unlink(missing_ok=True)
    nb = open_notebook(jupyter_lab, browser, "studio_busy", cells, run=False)
    try:
        page = nb.page
        # not awaited: the command's promise resolves only when every cell has run
        nb.page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        card = _card(page)
        card.wait_for()
        # The kernel stays busy in the last cell until released: the card must move to its end.
        done = page.locator(".jp-OutputArea-output", has_text=re.compile("released|gave up"))
        seen: list[tuple[str, str]] = []
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while time.monotonic() < deadline:
            value = (
                card.get_attribute("data-status"),
                card.locator(".mjw-progress").get_attribute("data-progress"),
            )
            if not seen or seen[-1] != value:
                seen.append(value)
            if value[0] in ("SUCCESS", "FAILURE"):
                break
            page.wait_for_timeout(50)
        busy = nb.kernel_state()
        assert done.count() == 0, "the busy cell ended before the test released it"
        assert busy.split("|")[1] == "busy", busy
        assert seen and seen[-1][0] == "SUCCESS", f"not finished while the kernel was busy: {seen}"
        assert len({v for v in seen if v[0] == "IN_PROGRESS"}) >= 2, seen
    finally:
        release.write_text("go")  # the busy cell ends now (and never waits on a failed test)
    page.locator(".jp-OutputArea-output", has_text="released").wait_for()
    nb.wait_idle()
