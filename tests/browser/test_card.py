"""A task card, its buttons and the mask editor in JupyterLab: the front-end path of every runtime
dependency (anywidget and ipywidgets in the card, ipycanvas in the editor; Pillow, NumPy, requests,
urllib3 and werkzeug behind them, in the kernel).

CI's lower-bounds job (``.ci/lower-bounds``) runs this test with every runtime dependency at the
lowest version ``pyproject.toml`` allows. With anywidget 0.10 (which passes no ``signal`` to
``render``) the card stayed blank: this test failed there.
"""

from __future__ import annotations

from harness import DEFAULT_TIMEOUT, open_notebook

CELLS = [
    """
import os
os.environ["MJ_SIM_SPEED"] = "40"
import mjwidgets as mjw
studio = mjw.Studio()
grid = studio.imagine("a red fox in snow, golden hour")
studio
""",
]
JOB_MS = int(DEFAULT_TIMEOUT * 1000)


def _painted(page, task_id: str) -> None:
    page.wait_for_function(
        "id => document.querySelector(`.mjw-task[data-task-id='${id}']`)?.dataset.painted === id",
        arg=task_id,
        timeout=JOB_MS,
    )


def test_task_card_renders_answers_a_click_and_opens_the_mask_editor(jupyter_lab, browser):
    nb = open_notebook(jupyter_lab, browser, "card_floor", CELLS)
    page = nb.page
    grid_id = nb.eval("grid.task.id")
    card = page.locator(f".mjw-task[data-task-id='{grid_id}']")
    card.wait_for()  # blank with anywidget < 0.11: render() threw on the missing signal
    _painted(page, grid_id)
    assert card.get_attribute("data-status") == "SUCCESS"
    labels = card.locator("button.mjw-button").all_inner_texts()
    assert labels[:4] == ["U1", "U2", "U3", "U4"], labels

    card.locator("button.mjw-button", has_text="U2").click()  # a message to the kernel
    child = page.locator(f".mjw-task:has(.mjw-lineage:text('U2 of {grid_id}'))")
    child.wait_for()
    child_id = child.get_attribute("data-task-id")
    _painted(page, child_id)
    assert nb.eval(f"studio.cards[{child_id!r}].task.parent_id") == grid_id

    child.locator("button.mjw-button", has_text="Vary (Region)").click()
    canvas = page.locator(".mjw-mask-editor canvas").first
    canvas.wait_for()
    page.wait_for_function(  # the image is drawn on the canvas (ipycanvas front end)
        """() => {
          const c = document.querySelector('.mjw-mask-editor canvas');
          if (!c || !c.width || !c.height) return false;
          const px = c.getContext('2d').getImageData(c.width >> 1, c.height >> 1, 1, 1).data;
          return px[3] > 0;
        }"""
    )
    page.locator(".mjw-mask-submit").wait_for()
    canvas.evaluate("c => c.scrollIntoView({block: 'center'})")
    box = canvas.bounding_box()
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x + 0.2 * w, y + 0.2 * h)  # a rectangle: mouse events reach Python
    page.mouse.down()
    page.mouse.move(x + 0.6 * w, y + 0.5 * h, steps=8)
    page.mouse.up()
    nb.wait_until(f"len(studio.cards[{child_id!r}].editor.ops) == 1")
    mask = f"studio.cards[{child_id!r}].editor.mask"
    selected = nb.eval(f"float(__import__('numpy').asarray({mask}).mean() / 255)")
    assert 0.05 < selected < 0.3, selected  # the rectangle's share of the image
    nb.screenshot("card-floor")
    assert not nb.page_errors(), nb.console
