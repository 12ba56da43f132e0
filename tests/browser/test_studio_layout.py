"""The Studio's grid in a real browser: it reflows with the width, a result appears next to its
parent without moving the clicked card, and placeholders hold the final image's shape."""

from __future__ import annotations

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
prompts = ["a red fox in snow --ar 3:2", "a lighthouse at dusk", "a paper boat --ar 2:3",
           "a castle in fog --ar 16:9", "a teapot", "a kite over dunes --ar 4:3"]
views = [studio.imagine(p) for p in reversed(prompts)]  # the first prompt ends up first
for v in views:
    v.wait(120)
""",
]


def _painted(page, task_id: str) -> None:
    page.wait_for_function(
        "id => document.querySelector(`.mjw-task[data-task-id='${id}']`)?.dataset.painted === id",
        arg=task_id,
        timeout=120_000,
    )


def _box(page, task_id: str) -> dict:
    return page.locator(f".mjw-task[data-task-id='{task_id}']").bounding_box()


def _columns(page) -> int:
    """How many different left edges the first cards have: the grid's columns."""
    return page.evaluate(
        """() => new Set([...document.querySelectorAll('.mjw-cards > *')].slice(0, 6)
              .map(n => Math.round(n.getBoundingClientRect().left))).size"""
    )


def test_a_result_appears_next_to_its_parent_and_the_clicked_card_stays(jupyter_lab, browser):
    nb = open_notebook(jupyter_lab, browser, "studio_layout", CELLS, timeout=180)
    page = nb.page
    ids = nb.eval("[v.task.id for v in studio.order.in_screen_order()]")
    for task_id in ids:
        _painted(page, task_id)
    assert _columns(page) >= 2, "a 1,400 px window shows several columns"

    parent_id = ids[1]  # the second card: the first row's middle
    parent = page.locator(f".mjw-task[data-task-id='{parent_id}']")
    parent.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    before = _box(page, parent_id)
    # mark every card's DOM: a result placed mid-grid must not re-create the others' views
    page.evaluate("() => document.querySelectorAll('.mjw-task').forEach(t => { t.__mjwOld = 1; })")
    parent.locator("button.mjw-button", has_text="U2").click()
    child = page.locator(f".mjw-task:has(.mjw-lineage[data-parent-id='{parent_id}'])")
    child.wait_for(timeout=30_000)
    child_id = child.get_attribute("data-task-id")
    _painted(page, child_id)
    after = _box(page, parent_id)
    assert after == before, f"the clicked card moved: {before} → {after}"
    fresh = page.evaluate(
        "() => [...document.querySelectorAll('.mjw-task')].filter(t => !t.__mjwOld)"
        ".map(t => t.dataset.taskId)"
    )
    assert fresh == [child_id], f"views re-created besides the new card: {fresh}"
    shown = nb.eval("[v.task.id for v in studio.order.in_screen_order()]")
    assert shown.index(child_id) == shown.index(parent_id) + 1, "right after its parent"
    child_box = _box(page, child_id)
    viewport = page.viewport_size
    assert child_box["y"] >= 0 and child_box["y"] + 80 <= viewport["height"], (
        f"the result is not on screen: {child_box}"
    )
    # the result's placeholder already had the image's shape: the painted card is a 1:1 single
    figure = child.locator(".mjw-figure").bounding_box()
    assert abs(figure["width"] / figure["height"] - 1.0) < 0.02, figure
    nb.screenshot("studio-result-next-to-parent")

    page.set_viewport_size({"width": 800, "height": 900})
    page.wait_for_function(
        """() => new Set([...document.querySelectorAll('.mjw-cards > *')].slice(0, 6)
              .map(n => Math.round(n.getBoundingClientRect().left))).size === 1""",
        timeout=30_000,
    )
    assert not nb.page_errors(), nb.console


def test_placeholders_hold_the_shape_of_the_image_to_come(jupyter_lab, browser):
    cells = [
        CELLS[0],
        "mjw.sim.embedded().configure(speed=2)\ntall = studio.imagine('a tall tower --ar 2:3')",
    ]
    nb = open_notebook(jupyter_lab, browser, "studio_placeholder", cells)
    page = nb.page
    task_id = nb.eval("tall.task.id")
    card = page.locator(f".mjw-task[data-task-id='{task_id}']")
    card.wait_for(timeout=30_000)
    figure = card.locator(".mjw-figure")
    waiting = figure.bounding_box()
    assert abs(waiting["width"] / waiting["height"] - 2 / 3) < 0.02, waiting
    nb.execute("mjw.sim.embedded().configure(speed=40)")
    _painted(page, task_id)
    painted = figure.bounding_box()
    assert abs(painted["height"] - waiting["height"]) < 1.5, (waiting, painted)
    assert not nb.page_errors(), nb.console
