"""Card details in a real browser: ❤️ says it worked, Escape closes the Custom Zoom box, every
card copies its prompt, and Compare of three fits the cell without scrolling sideways."""

from __future__ import annotations

import json
import time

import harness
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
grid = studio.imagine("a paper boat on a pond --v 7")  # V7: Custom Zoom and ❤️
grid.wait(120)
single = grid.press("U3")
single.wait(120)
""",
]


def _painted(page, task_id: str) -> None:
    page.wait_for_function(
        "id => document.querySelector(`.mjw-task[data-task-id='${id}']`)?.dataset.painted === id",
        arg=task_id,
        timeout=120_000,
    )


def test_heart_feedback_escape_and_copy_prompt(jupyter_lab, browser):
    nb = open_notebook(jupyter_lab, browser, "card_details", CELLS, timeout=180)
    page = nb.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=jupyter_lab.url)
    single_id = nb.eval("single.task.id")
    _painted(page, single_id)
    card = page.locator(f".mjw-task[data-task-id='{single_id}']")
    heart = card.locator("button.mjw-button", has_text="❤️")
    heart.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    before = card.bounding_box()

    heart.click()
    notice = card.locator(".mjw-notice")
    notice.wait_for(timeout=30_000)
    assert "done" in notice.inner_text()
    assert card.bounding_box() == before, "the confirmation moves nothing"

    card.locator("button.mjw-button", has_text="Custom Zoom").click()
    box = card.locator("textarea.mjw-modal-prompt")
    box.wait_for(timeout=30_000)
    box.press("Escape")
    card.locator(".mjw-modal").wait_for(state="hidden", timeout=30_000)
    nb.wait_until(f"studio.cards[{single_id!r}].card.modal == {{}}", timeout=30)

    card.locator(".mjw-copy-prompt").click()
    page.wait_for_function(
        "text => navigator.clipboard.readText().then(t => t === text)",
        arg="a paper boat on a pond --v 7",
        timeout=30_000,
    )
    copies = page.locator(".mjw-task .mjw-copy-prompt")
    assert copies.count() == page.locator(".mjw-task").count() == 2, "every card copies"
    assert not nb.page_errors(), nb.console


def test_compare_of_three_fits_the_cell(jupyter_lab, browser):
    cells = [
        CELLS[0],
        """
tasks = [studio.tracker.imagine(p) for p in
         ("a red fox --ar 3:2", "a grey wolf --ar 3:2", "a white hare --ar 3:2")]
tasks = [studio.tracker.wait(t, timeout=120) for t in tasks]
mjw.Compare(tasks)
""",
    ]
    nb = open_notebook(jupyter_lab, browser, "compare_three", cells, timeout=180)
    page = nb.page
    view = page.locator(".mjw-compare-view")
    view.wait_for(timeout=30_000)
    for width in (1400, 800):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_function(
            """() => [...document.querySelectorAll('.mjw-compare-view img.mjw-compare-img')]
                  .filter(i => i.naturalWidth > 0).length === 3""",
            timeout=30_000,
        )
        sizes = view.evaluate("v => [v.scrollWidth, v.clientWidth]")
        assert sizes[0] <= sizes[1], f"scrolls sideways at {width} px: {sizes}"
        widths = {
            round(img.bounding_box()["width"]) for img in view.locator("img.mjw-compare-img").all()
        }
        assert len(widths) == 1, f"not the same scale at {width} px: {widths}"
        nb.screenshot(f"compare-three-{width}", selector=".mjw-compare-view")
    assert not nb.page_errors(), nb.console


def test_a_click_keeps_the_keyboard_on_the_card_and_bills_once(jupyter_lab, browser):
    """A pressed button shows its job is on its way without letting go of the keyboard: when
    its row is rebuilt (U1 becomes a used upscale) and when ♥ redraws the marks, focus is on the
    new button, not dropped to the page, where JupyterLab would bounce the next click through
    the notebook and the cell first. A double click is one job."""
    nb = open_notebook(jupyter_lab, browser, "card_focus", CELLS, timeout=180)
    page = nb.page
    grid_id = nb.eval("grid.task.id")
    _painted(page, grid_id)
    card = page.locator(f".mjw-task[data-task-id='{grid_id}']")
    u1 = card.locator("button.mjw-button", has_text="U1")
    u1.evaluate("b => { b.dataset.testOld = '1'; }")  # the rebuilt row has a new element
    before = nb.eval("mjw.sim.embedded().stats()['requests'].get('POST /mj/submit/action', 0)")
    u1.dblclick()
    nb.wait_until("len(studio.cards) == 3", timeout=120)
    page.wait_for_function(
        # U1's own new button: the card's U3 (pressed in the setup cell) is a used one too,
        # and a row rebuilt while U1 was still pending has a new U3 ↗ but not yet U1 ↗; nor has
        # the row rebuilt when U1 is marked used, before its result is known ("U1", then "U1 ↗")
        "id => document.querySelector(`.mjw-task[data-task-id='${id}'] button.mjw-open-result`"
        " + `[data-custom-id*='upsample::1::']:not([data-test-old])`)",
        arg=grid_id,
        timeout=60_000,
    )
    focused = page.evaluate(
        "() => ({text: document.activeElement.textContent, old: 'testOld' in"
        " document.activeElement.dataset, card: document.activeElement.closest('.mjw-task')"
        "?.dataset.taskId})"
    )
    assert focused == {"text": "U1 ↗", "old": False, "card": grid_id}, focused  # opens its result
    after = nb.eval("mjw.sim.embedded().stats()['requests'].get('POST /mj/submit/action', 0)")
    assert after - before == 1, "a double click is one job"

    heart = card.locator(".mjw-marks .mjw-fav")
    heart.click()
    page.wait_for_function(
        "id => document.querySelector(`.mjw-task[data-task-id='${id}'] .mjw-fav.mjw-on`)",
        arg=grid_id,
        timeout=60_000,
    )
    assert page.evaluate("() => document.activeElement.matches('.mjw-fav.mjw-on')"), (
        "the redrawn ♥ keeps the focus"
    )
    assert not nb.page_errors(), nb.console


def test_a_double_click_heard_after_its_job_was_sent_is_still_one_job(jupyter_lab, browser):
    """On a loaded machine the second click of a double click can reach the page after the
    first click's job was submitted and its button is pressable again: it is still the person's
    one click. V1 is clicked, its new card appears, then the page hears the second click (the
    browser counts it: detail 2) — no second click leaves the page, no second job is billed."""
    context = browser.new_context(viewport=harness.VIEWPORT)
    try:
        page = context.new_page()
        sent: list[bytes] = []  # every frame the page sends to the kernel, in order
        page.on(
            "websocket",
            lambda ws: ws.on(
                "framesent", lambda p: sent.append(p if isinstance(p, bytes) else p.encode())
            ),
        )
        nb = open_notebook(jupyter_lab, page, "card_late_double_click", CELLS, timeout=180)
        grid_id = nb.eval("grid.task.id")
        _painted(page, grid_id)
        v1_id = nb.eval("next(b.custom_id for b in grid.task.buttons if b.label == 'V1')")

        def clicks_of_v1() -> int:
            return sum(b'"click"' in f and json.dumps(v1_id).encode() in f for f in sent)

        before = nb.eval("mjw.sim.embedded().stats()['requests'].get('POST /mj/submit/action', 0)")
        v1 = page.locator(f".mjw-task[data-task-id='{grid_id}'] button.mjw-button", has_text="V1")
        box = v1.bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        nb.wait_until("len(studio.cards) == 3", timeout=120)  # V1's card: its job was sent
        page.wait_for_function(  # and its button is pressable again
            "([card, id]) => document.querySelector(`.mjw-task[data-task-id='${card}']"
            " button.mjw-button[data-custom-id='${CSS.escape(id)}']:not(.mjw-pending)`)",
            arg=[grid_id, v1_id],
            timeout=60_000,
        )
        assert clicks_of_v1() == 1
        page.mouse.down(click_count=2)  # the double click's second click, heard late
        page.mouse.up(click_count=2)
        # a fence: the ♥ after it goes down the same socket, so what the second click sent (if
        # anything) is in `sent` once the ♥'s message is
        hearts_before = sum(b'"favourite"' in f for f in sent)
        page.locator(f".mjw-task[data-task-id='{grid_id}'] .mjw-marks .mjw-fav").click()
        deadline = time.monotonic() + 60
        while sum(b'"favourite"' in f for f in sent) == hearts_before:
            assert time.monotonic() < deadline, "the ♥'s message never left the page"
            page.wait_for_timeout(100)
        assert clicks_of_v1() == 1, "the second click of a double click sent a second job"
        nb.wait_until(f"studio.cards[{grid_id!r}].card.marks.get('favourite')", timeout=60)
        after = nb.eval("mjw.sim.embedded().stats()['requests'].get('POST /mj/submit/action', 0)")
        assert after - before == 1, "billed once"
        assert nb.eval("len(studio.cards)") == 3
        assert not nb.page_errors(), nb.console
    finally:
        context.close()
