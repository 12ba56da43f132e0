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
    page.locator(".mjw-mask-editor").evaluate("e => e.scrollIntoView({block: 'center'})")
    page.wait_for_timeout(300)
    nb.screenshot("region-editor", docs=True)
    nb.set_theme("dark")
    page.wait_for_timeout(1000)  # the theme's transition
    nb.screenshot("region-editor-dark", docs=True)
    page.locator(".mjw-mask-submit").click()
    page.locator(".mjw-mask-submit", has_text="Sending").or_(
        page.locator(f".mjw-task .mjw-lineage[data-parent-id='{single_id}']")
    ).first.wait_for()  # Submit says it is sending, until the result's card shows

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


def test_the_editor_fits_an_800_pixel_window_and_covers_the_whole_image(jupyter_lab, browser):
    nb = open_notebook(
        jupyter_lab,
        browser,
        "region_narrow",
        [SETUP, "grid = studio.imagine('a desert road --ar 3:2')\ngrid.wait(120)"],
    )
    page = nb.page
    page.set_viewport_size({"width": 800, "height": 900})
    grid_id = nb.eval("grid.task.id")
    _painted(page, grid_id)
    page.locator(f".mjw-task[data-task-id='{grid_id}'] button.mjw-button", has_text="U1").click()
    single = page.locator(f".mjw-task:has(.mjw-lineage[data-parent-id='{grid_id}'])")
    single.wait_for(timeout=30_000)
    single_id = single.get_attribute("data-task-id")
    _painted(page, single_id)
    single.locator("button.mjw-button", has_text="Vary (Region)").click()
    canvas = page.locator(".mjw-mask-editor canvas").first
    canvas.wait_for(timeout=30_000)
    page.wait_for_function(  # the image is drawn (the canvas reports ready, then gets it)
        """() => { const c = document.querySelector('.mjw-mask-editor canvas');
                   const d = c && c.getContext('2d').getImageData(c.width / 2, c.height / 2, 1, 1);
                   return d && d.data[3] > 0; }""",
        timeout=30_000,
    )
    canvas.evaluate("c => c.scrollIntoView({block: 'center'})")
    box = canvas.bounding_box()
    editor = page.locator(".mjw-mask-editor").first.bounding_box()
    width, height = nb.eval(f"list(studio.cards[{single_id!r}].editor.image_size)")
    assert (
        box["x"] >= editor["x"] - 1 and box["x"] + box["width"] <= editor["x"] + editor["width"] + 1
    )
    assert abs(box["width"] / box["height"] - width / height) < 0.02, "the image's own shape"
    assert box["y"] >= 0 and box["y"] + box["height"] <= page.viewport_size["height"]
    mouse = page.mouse
    mouse.move(box["x"] + 1, box["y"] + 1)
    mouse.down()
    mouse.move(box["x"] + box["width"] - 1, box["y"] + box["height"] - 1, steps=10)
    mouse.up()
    nb.wait_until(f"len(studio.cards[{single_id!r}].editor.ops) == 1", timeout=20)
    covered = nb.eval(
        f"float((__import__('numpy').asarray(studio.cards[{single_id!r}].editor.mask) > 0).mean())"
    )
    assert covered > 0.97, f"the drag from corner to corner selected only {covered:.1%}"
    nb.screenshot("region-editor-800", docs=True)
    assert not nb.page_errors(), nb.console
