"""Vary (Region) in a real browser: draw a rectangle and a lasso on the canvas, submit, and check
that the result changed exactly the drawn region."""

from __future__ import annotations

from harness import DEFAULT_TIMEOUT, open_notebook

SETUP = """
import os
os.environ["MJ_SIM_SPEED"] = "20"
import mjwidgets as mjw
studio = mjw.Studio()
studio
"""
CHECK = """
import numpy as np
from PIL import Image
import io
from mjwidgets import sim

def region_check(parent_id, result_id):
    engine = sim.embedded().engine
    mask = np.asarray(Image.open(io.BytesIO(engine.tasks[result_id].mask_png)).convert("L")) > 127
    parent = np.asarray(studio.cards[parent_id].task.image().convert("RGB"))
    tiles = [np.asarray(t.convert("RGB")) for t in studio.cards[result_id].task.tiles()]
    kept = all(np.array_equal(t[~mask], parent[~mask]) for t in tiles)
    changed = all((t[mask] != parent[mask]).any(axis=1).all() for t in tiles)
    return {"kept": kept, "changed": changed, "selected": float(mask.mean()),
            "shape": list(mask.shape)}
"""


def _painted(page, task_id: str) -> None:
    page.wait_for_function(
        "id => document.querySelector(`.mjw-task[data-task-id='${id}']`)?.dataset.painted === id",
        arg=task_id,
        timeout=DEFAULT_TIMEOUT * 1000,
    )


def test_vary_region_mask_drawn_in_the_browser(jupyter_lab, browser):
    nb = open_notebook(
        jupyter_lab,
        browser,
        "region_flow",
        [SETUP, CHECK, "grid = studio.imagine('a lighthouse at dusk')"],
    )
    page = nb.page
    grid_id = nb.eval("grid.task.id")
    _painted(page, grid_id)
    page.locator(f".mjw-task[data-task-id='{grid_id}'] button.mjw-button", has_text="U2").click()
    upscaled = page.locator(
        f".mjw-task:has(.mjw-lineage[title='Show task {grid_id}']"
        ":text-is('U2 of “a lighthouse at dusk”'))"
    )
    upscaled.wait_for()
    single_id = upscaled.get_attribute("data-task-id")
    _painted(page, single_id)
    upscaled.locator("button.mjw-button", has_text="Vary (Region)").click()

    canvas = page.locator(".mjw-mask-editor canvas").first
    canvas.wait_for()
    # The canvas draws the image once it reports ready: wait until the user sees it (the middle
    # pixel is painted), and for the rest of the editor, so nothing moves the canvas afterwards.
    page.wait_for_function(
        """() => {
          const c = document.querySelector('.mjw-mask-editor canvas');
          if (!c || !c.width || !c.height) return false;
          const px = c.getContext('2d').getImageData(c.width >> 1, c.height >> 1, 1, 1).data;
          return px[3] > 0;
        }"""
    )
    page.locator(".mjw-mask-submit").wait_for()
    page.locator(".mjw-mask-prompt textarea").wait_for()
    canvas.evaluate("c => c.scrollIntoView({block: 'center'})")
    box = canvas.bounding_box()
    assert box["height"] <= page.viewport_size["height"], box
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    mouse = page.mouse
    mouse.move(x + 0.15 * w, y + 0.15 * h)  # rectangle (the default tool)
    mouse.down()
    mouse.move(x + 0.45 * w, y + 0.40 * h, steps=12)
    mouse.up()
    page.locator(".mjw-mask-editor button", has_text="Lasso").click()
    lasso = [(0.60, 0.55), (0.85, 0.60), (0.80, 0.85), (0.62, 0.80)]
    mouse.move(x + lasso[0][0] * w, y + lasso[0][1] * h)
    mouse.down()
    for px, py in lasso[1:] + lasso[:1]:
        mouse.move(x + px * w, y + py * h, steps=8)
    mouse.up()
    nb.wait_until(f"len(studio.cards[{single_id!r}].editor.ops) == 2")
    prompt = page.locator(".mjw-mask-prompt textarea")
    prompt.fill("a dragon circling the lamp")
    nb.screenshot("region-editor")
    page.locator(".mjw-mask-submit").click()

    result = page.locator(
        f".mjw-task:has(.mjw-lineage[title='Show task {single_id}']"
        ":text-is('Vary (Region) of “a lighthouse at dusk”'))"
    )
    result.wait_for()
    result_id = result.get_attribute("data-task-id")
    _painted(page, result_id)
    page.locator(".mjw-mask-editor").wait_for(state="detached")  # the editor closes on submit
    check = nb.eval(f"region_check({single_id!r}, {result_id!r})")
    assert check["kept"], "pixels outside the drawn region changed"
    assert check["changed"], "pixels inside the drawn region were not repainted"
    assert 0.05 < check["selected"] < 0.5, check
    assert nb.eval(f"studio.cards[{result_id!r}].task.prompt") == "a dragon circling the lamp"
    nb.screenshot("region-result")
    assert not nb.page_errors(), nb.console
