"""The Studio's main flow on each simulator flavour, in JupyterLab: imagine → U1 → Vary (Region)
with a mask drawn on the canvas → Custom Zoom → Animate, where the flavour allows it.

What a flavour cannot do shows on the card as unavailable with its reason (never a hang, never a
raw error): the open-source proxy has no buttons at all, so its grid says so; a new-api relay
does not relay Animate, so the button is disabled and says to use /mj/submit/video (unless the
video card's Animate → /submit/video equivalent is present, then Animate makes a video there
too). The client is not told the flavour: it learns it from the server's answers, as it would
at a real server. One notebook per flavour; a picture of each Studio at the end of its flow
(docs/screenshots/flavour-<name>.png with MJW_UPDATE_DOCS=1).
"""

from __future__ import annotations

import pytest
from harness import DEFAULT_TIMEOUT, VIEWPORT, open_notebook

KEY = "sk-flavour-flow-3131"
AUTH = {"plus": "raw", "trueai": "raw", "newapi": "bearer", "oss": "mj-api-secret"}
PROMPT = "a red fox in snow --v 7"  # V7: its upscale has Custom Zoom and Animate
WORDS = "a red fox in snow"  # how a card's lineage names the prompt
TASK = ".mjw-task"
JOB_MS = int(DEFAULT_TIMEOUT * 1000)


def _setup(flavor: str) -> str:
    return f"""
from mjwidgets import Client, Studio, sim
server = sim.start(speed=20, flavor={flavor!r}, secret={KEY!r})
client = Client(server.url, {KEY!r}, auth={AUTH[flavor]!r})  # the flavour is learnt, not told
studio = Studio(client)
studio
"""


def _painted(page, task_id: str) -> None:
    """Until the card shows its final image (not a preview)."""
    page.wait_for_function(
        "id => document.querySelector(`.mjw-task[data-task-id='${id}']`)?.dataset.painted === id",
        arg=task_id,
        timeout=JOB_MS,
    )


def _result(page, parent_id: str, button: str):
    """The card a button of ``parent_id`` made, found by its lineage as a person reads it."""
    card = page.locator(
        f"{TASK}:has(.mjw-lineage[data-parent-id='{parent_id}']:text-is('{button} of “{WORDS}”'))"
    )
    card.wait_for(timeout=JOB_MS)
    return card, card.get_attribute("data-task-id")


def _no_errors(nb) -> None:
    """No card shows an error line, and the page threw nothing."""
    shown = nb.page.locator(f"{TASK} .mjw-error:visible").all_inner_texts()
    assert not [text for text in shown if text.strip()], shown
    assert not nb.page_errors(), nb.console


def _draw_mask(nb, single_id: str) -> None:
    """Vary (Region): drag a rectangle over the middle of the image, on the canvas."""
    page = nb.page
    canvas = page.locator(".mjw-mask-editor canvas").first
    canvas.wait_for()
    page.wait_for_function(  # the image is drawn: the middle pixel is painted
        """() => { const c = document.querySelector('.mjw-mask-editor canvas');
                   const d = c && c.width && c.getContext('2d').getImageData(
                     c.width >> 1, c.height >> 1, 1, 1);
                   return !!d && d.data[3] > 0; }""",
        timeout=JOB_MS,
    )
    page.locator(".mjw-mask-submit").wait_for()
    canvas.evaluate("c => c.scrollIntoView({block: 'center'})")
    box = canvas.bounding_box()
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x + 0.3 * w, y + 0.3 * h)
    page.mouse.down()
    page.mouse.move(x + 0.7 * w, y + 0.6 * h, steps=10)
    page.mouse.up()
    nb.wait_until(f"len(studio.cards[{single_id!r}].editor.ops) == 1")
    assert "draw over the part to repaint" in page.locator(".mjw-editor-help").inner_text()
    page.locator(".mjw-mask-prompt textarea").fill("a red fox in snow, a blue scarf")
    page.locator(".mjw-mask-submit").click()


def _picture(nb, flavor: str, hover=None) -> None:
    """The whole Studio in one picture: the window is made as tall as the Studio (the notebook
    scrolls inside the page, so a taller element would be cut), with the mouse on ``hover``."""
    page = nb.page
    studio = page.locator(".mjw-studio").first
    height = studio.bounding_box()["height"]
    page.set_viewport_size({"width": VIEWPORT["width"], "height": int(min(4000, height + 250))})
    studio.evaluate("e => e.scrollIntoView({block: 'start'})")
    if hover is not None:  # the reason shows, as it does for a person pointing at the button
        hover.hover()
        page.locator(".mjw-reason:not(.mjw-buttons-note):visible").wait_for()
    nb.screenshot(f"flavour-{flavor}", selector=".mjw-studio", docs=True)
    page.set_viewport_size(VIEWPORT)


@pytest.mark.parametrize("flavor", ["plus", "trueai", "newapi", "oss"])
def test_the_main_flow_on_each_flavour(flavor, jupyter_lab, browser):
    nb = open_notebook(jupyter_lab, browser, f"flavour_{flavor}", [_setup(flavor)])
    page = nb.page
    box = page.locator("textarea.mjw-prompt")
    box.click()
    box.fill(PROMPT)
    box.press("Enter")
    grid = page.locator(TASK).first
    grid.wait_for()
    grid_id = grid.get_attribute("data-task-id")
    page.locator(f"{TASK}[data-task-id='{grid_id}'][data-status='SUCCESS']").wait_for(
        timeout=JOB_MS
    )
    _painted(page, grid_id)
    assert nb.eval("client.capabilities.flavor") == flavor

    if flavor == "oss":  # no /submit/action: no buttons, and the card says so and why
        assert grid.locator("button.mjw-button").count() == 0
        note = grid.locator(".mjw-buttons-note")
        note.wait_for(state="visible")
        text = note.inner_text()
        assert text.startswith("Upscale, Vary, Zoom and Animate are unavailable:")
        assert "open-source midjourney-proxy" in text and "no /submit/action" in text
        _no_errors(nb)
        _picture(nb, flavor)
        return

    # U1: the upscale appears, with its own image
    grid.locator("button.mjw-button", has_text="U1").click()
    single, single_id = _result(page, grid_id, "U1")
    _painted(page, single_id)
    _no_errors(nb)

    # Vary (Region) with a mask drawn on the canvas
    single.locator("button.mjw-button", has_text="Vary (Region)").click()
    _draw_mask(nb, single_id)
    region, region_id = _result(page, single_id, "Vary (Region)")
    page.locator(f"{TASK}[data-task-id='{region_id}'][data-status='SUCCESS']").wait_for(
        timeout=JOB_MS
    )
    _painted(page, region_id)
    page.locator(".mjw-mask-editor").wait_for(state="detached")
    _no_errors(nb)

    # Custom Zoom: the box offers --zoom 1.5; Send
    single.locator("button.mjw-button", has_text="Custom Zoom").click()
    zoom_prompt = single.locator("textarea.mjw-modal-prompt")
    zoom_prompt.wait_for()
    assert zoom_prompt.input_value().endswith("--zoom 1.5")
    single.locator("button.mjw-modal-send").click()
    zoomed, zoomed_id = _result(page, single_id, "Custom Zoom")
    page.locator(f"{TASK}[data-task-id='{zoomed_id}'][data-status='SUCCESS']").wait_for(
        timeout=JOB_MS
    )
    _painted(page, zoomed_id)
    if flavor != "newapi":  # new-api's fetch reads the action's row: the parent's prompt
        assert nb.eval(f"studio.cards[{zoomed_id!r}].task.prompt").endswith("--zoom 1.5")
    _no_errors(nb)

    # Animate: a video where the flavour relays it; unavailable with its reason where not
    animate = single.locator("button.mjw-button", has_text="Animate (High motion)")
    hover = None
    if animate.get_attribute("aria-disabled") == "true":
        # only a new-api relay refuses Animate (relay-mj.go's billing map has no animate);
        # the video card's Animate → /submit/video equivalent makes it pressable there
        assert flavor == "newapi", f"Animate is unavailable on {flavor}"
        reason = animate.get_attribute("data-reason")
        assert "not available at a new-api relay" in reason and "/mj/submit/video" in reason
        before = nb.eval("server.stats()['requests'].get('POST /mj/submit/action', 0)")
        animate.click(force=True)  # a click says why, and sends nothing
        shown = single.locator(".mjw-reason:not(.mjw-buttons-note)")
        shown.wait_for(state="visible")
        assert "/mj/submit/video" in shown.inner_text()
        assert nb.eval("server.stats()['requests'].get('POST /mj/submit/action', 0)") == before
        hover = animate
    else:
        animate.click()
        # the third card made from the upscale (on a relay, through the /submit/video
        # equivalent, whose card may name itself differently)
        children = f"studio.cards[{single_id!r}].card.children"
        video_id = nb.wait_until(f"len({children}) == 3 and {children}[2]['task_id']")
        page.locator(f"{TASK}[data-task-id='{video_id}'][data-status='SUCCESS']").wait_for(
            timeout=JOB_MS
        )
        if flavor != "newapi":
            lineage = page.locator(f"{TASK}[data-task-id='{video_id}'] .mjw-lineage")
            assert lineage.inner_text() == f"Animate (High motion) of “{WORDS}”"
        assert nb.eval(f"studio.cards[{video_id!r}].task.action") == "VIDEO"
        assert nb.eval(f"len(studio.cards[{video_id!r}].task.video_urls)") >= 1
    _no_errors(nb)

    cards = page.locator(f"{TASK}[data-status='SUCCESS']").count()
    assert cards == (4 if hover is not None else 5), cards
    _picture(nb, flavor, hover)
