"""Reference slots in a real browser: a file set into the --sref slot's file input is checked
by the kernel, shown as a thumbnail, planned into the prompt, uploaded with the Imagine, and the
result wears its palette."""

from __future__ import annotations

import io

from harness import DEFAULT_TIMEOUT, open_notebook
from PIL import Image, ImageDraw

SETUP = """
import os
os.environ["MJ_SIM_SPEED"] = "40"
os.environ["MJ_HOME"] = __import__("tempfile").mkdtemp(prefix="mjw-")  # a history of its own
import mjwidgets as mjw
studio = mjw.Studio()
studio
"""
JOB_MS = int(DEFAULT_TIMEOUT * 1000)

# The share of a painted card image whose red channel clearly leads (computed in the page).
RED_SHARE = """
id => {
  const img = document.querySelector(`.mjw-task[data-task-id='${id}'] img`);
  if (!img || !img.naturalWidth) return null;
  const c = document.createElement('canvas');
  c.width = 64; c.height = 64;
  const g = c.getContext('2d');
  g.drawImage(img, 0, 0, 64, 64);
  const px = g.getImageData(0, 0, 64, 64).data;
  let red = 0;
  for (let i = 0; i < px.length; i += 4) {
    if (px[i] > px[i + 1] + 60 && px[i] > px[i + 2] + 60) red++;
  }
  return red / (64 * 64);
}
"""


def red_picture(path) -> bytes:
    image = Image.new("RGB", (900, 600), (200, 20, 30))
    ImageDraw.Draw(image).ellipse((300, 150, 600, 450), fill=(250, 90, 60))
    grain = Image.effect_noise((900, 600), 40).convert("RGB")  # a photo's grain: a real size
    image = Image.blend(image, grain, 0.15)
    out = io.BytesIO()
    image.save(out, "PNG")
    path.write_bytes(out.getvalue())
    return out.getvalue()


def test_sref_file_input_uploads_and_the_result_wears_its_palette(jupyter_lab, browser, tmp_path):
    nb = open_notebook(jupyter_lab, browser, "references_sref", [SETUP], timeout=180)
    page = nb.page
    picture = tmp_path / "red-style.png"
    size = len(red_picture(picture))
    page.locator("textarea.mjw-prompt").wait_for()
    page.locator(".mjw-ref-input[data-slot='sref']").set_input_files(str(picture))
    thumb = page.locator(".mjw-ref-slot[data-slot='sref'] img.mjw-ref-thumb")
    thumb.wait_for(timeout=120_000)
    shown = thumb.evaluate("img => atob(img.src.split(',')[1]).length")
    assert shown * 20 < size, f"a thumbnail ({shown} B) goes to the browser, not the image"

    box = page.locator("textarea.mjw-prompt")
    box.click()
    box.fill("a lighthouse on a cliff --sw 400")
    planned = page.locator(".mjw-planned-text")
    page.wait_for_function(
        "() => document.querySelector('.mjw-planned-text')?.textContent"
        ".startsWith('a lighthouse on a cliff --sw 400 --sref https://(upload)/')",
        timeout=30_000,
    )
    nb.screenshot("references-sref-slot", selector=".mjw-studio-bar")
    box.press("Enter")
    card = page.locator(".mjw-task").first
    card.wait_for(timeout=120_000)
    task_id = card.get_attribute("data-task-id")
    sent = nb.eval(f"studio.cards[{task_id!r}].task.prompt")
    upload = sent.split("--sref ", 1)[1].split()[0]
    assert "/mj/attachments/" in upload, sent
    assert (
        nb.eval(
            "len(studio.tracker.client.uploads.get_upload("
            "studio.tracker.base_url, studio.slots._checked()[0].digest).url)"
        )
        > 0
    )
    page.wait_for_function(
        "id => document.querySelector(`.mjw-task[data-task-id='${id}']`)?.dataset.painted === id",
        arg=task_id,
        timeout=JOB_MS,
    )
    share = page.evaluate(RED_SHARE, task_id)
    assert share is not None and share > 0.5, f"the style's red should dominate, got {share}"
    assert planned.inner_text().endswith(upload), "once uploaded, the plan shows the real URL"
    card.scroll_into_view_if_needed()
    nb.screenshot("references-sref-result")

    page.locator(".mjw-ref-slot[data-slot='sref'] .mjw-ref-remove").click()
    thumb.wait_for(state="detached", timeout=30_000)
    assert nb.eval("studio.slots.options()") == {}


def _file(path, colour, size=(640, 448), disc=True) -> str:
    image = Image.new("RGB", size, colour)
    if disc:
        ImageDraw.Draw(image).ellipse((200, 100, 440, 340), fill=(250, 200, 60))
    image = Image.blend(image, Image.effect_noise(size, 40).convert("RGB"), 0.1)
    image.save(path)
    return str(path)


def _painted(page, task_id: str) -> None:
    page.wait_for_function(
        "id => document.querySelector(`.mjw-task[data-task-id='${id}']`)?.dataset.painted === id",
        arg=task_id,
        timeout=JOB_MS,
    )


def _card_of(nb, action: str):
    """The newest card of ``action`` once the kernel has it; its id."""
    nb.wait_until(f"any(v.task.action == {action!r} for v in studio.cards.values())", timeout=120)
    return nb.eval(f"[i for i, v in studio.cards.items() if v.task.action == {action!r}][-1]")


def test_describe_then_imagine_this_then_blend_two_images(jupyter_lab, browser, tmp_path):
    nb = open_notebook(jupyter_lab, browser, "references_tools", [SETUP], timeout=180)
    page = nb.page
    page.locator("textarea.mjw-prompt").wait_for()
    blue = _file(tmp_path / "blue.png", (30, 60, 200))
    page.locator(".mjw-ref-input[data-tool='tool_describe']").set_input_files(blue)
    described = _card_of(nb, "DESCRIBE")
    card = page.locator(f".mjw-task[data-task-id='{described}']")
    texts = card.locator(".mjw-proposal-text")
    texts.nth(3).wait_for(timeout=JOB_MS)
    assert texts.count() == 4 and all(t.strip() for t in texts.all_inner_texts())
    chosen = texts.nth(1).inner_text()
    card.locator(".mjw-proposal[data-index='2'] .mjw-proposal-imagine").click()
    child = page.locator(f".mjw-task:has(.mjw-lineage[data-parent-id='{described}'])")
    child.wait_for(timeout=120_000)
    child_id = child.get_attribute("data-task-id")
    _painted(page, child_id)
    assert nb.eval(f"studio.cards[{child_id!r}].task.prompt") == chosen
    assert nb.eval(f"studio.cards[{child_id!r}].task.is_grid")

    red = _file(tmp_path / "red.png", (210, 30, 30), disc=False)
    blue = _file(tmp_path / "plain-blue.png", (30, 40, 210), disc=False)
    blend = page.locator(".mjw-tool-blend")
    assert blend.is_disabled(), "Blend needs 2-5 images in the Image slot"
    page.locator(".mjw-ref-input[data-slot='images']").set_input_files([red, blue])
    page.locator(".mjw-ref-slot[data-slot='images'] img.mjw-ref-thumb").nth(1).wait_for()
    page.locator(".mjw-blend-shape").select_option("LANDSCAPE")
    blend.click()
    blended = _card_of(nb, "BLEND")
    _painted(page, blended)
    halves = nb.eval(
        "(lambda a: [int(a[:, : a.shape[1] // 4, 0].mean() - a[:, : a.shape[1] // 4, 2].mean()),"
        " int(a[:, a.shape[1] // 4 : a.shape[1] // 2, 2].mean()"
        " - a[:, a.shape[1] // 4 : a.shape[1] // 2, 0].mean())])"
        f"(__import__('numpy').asarray(studio.tracker.image(studio.cards[{blended!r}].task)"
        ".convert('RGB'), dtype=float)[: 10 ** 9 // 2])"
    )
    assert halves[0] > 40 and halves[1] > 40, f"red left half, blue right half: {halves}"
    page.locator(f".mjw-task[data-task-id='{blended}']").scroll_into_view_if_needed()
    nb.screenshot("references-tools")
    assert not nb.page_errors(), nb.console


def test_edit_a_dropped_image_repaints_inside_the_drawn_mask_only(jupyter_lab, browser, tmp_path):
    nb = open_notebook(jupyter_lab, browser, "references_edit", [SETUP], timeout=180)
    page = nb.page
    page.locator("textarea.mjw-prompt").wait_for()
    garden = _file(tmp_path / "garden.png", (40, 150, 60))
    page.locator(".mjw-ref-input[data-tool='tool_edit']").set_input_files(garden)
    canvas = page.locator(".mjw-image-editor canvas").first
    canvas.wait_for(timeout=120_000)
    page.wait_for_function(
        """() => {
          const c = document.querySelector('.mjw-image-editor canvas');
          if (!c || !c.width || !c.height) return false;
          const px = c.getContext('2d').getImageData(c.width >> 1, c.height >> 1, 1, 1).data;
          return px[3] > 0;
        }"""
    )
    canvas.evaluate("c => c.scrollIntoView({block: 'center'})")
    box = canvas.bounding_box()
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x + 0.25 * w, y + 0.25 * h)
    page.mouse.down()
    page.mouse.move(x + 0.6 * w, y + 0.7 * h, steps=8)
    page.mouse.up()
    editor = "[w for w in studio.cards_box.children if type(w).__name__ == 'ImageEditor'][-1]"
    nb.wait_until(f"len({editor}.mask_editor.ops) == 1")
    page.locator(".mjw-image-editor .mjw-editor-prompt").fill("a red balloon")
    nb.screenshot("references-editor")
    page.locator(".mjw-image-editor .mjw-mask-submit").click()
    edited = _card_of(nb, "EDIT")
    _painted(page, edited)
    inside, outside = nb.eval(
        "(lambda np, e, t: (lambda m, tile, src: ("
        "float((np.abs(tile[m] - src[m]).sum(axis=1) > 0).mean()),"
        " int((tile[~m] != src[~m]).any(axis=1).sum())))("
        "np.asarray(e.mask_editor.mask) > 0,"
        " np.asarray(studio.tracker.tiles(t)[0].convert('RGB'), dtype=int),"
        " np.asarray(e.image.convert('RGB'), dtype=int)))"
        f"(__import__('numpy'), {editor}, studio.cards[{edited!r}].task)"
    )
    assert inside > 0.9, f"inside the mask the edit repaints ({inside:.2f} of pixels changed)"
    assert outside == 0, f"{outside} pixels changed outside the mask"
    page.locator(f".mjw-task[data-task-id='{edited}']").scroll_into_view_if_needed()
    nb.screenshot("references-edit-result")
    assert not nb.page_errors(), nb.console


PICTURES = """
from PIL import Image, ImageDraw

def picture(colour):
    image = Image.new("RGB", (640, 448), colour)
    ImageDraw.Draw(image).ellipse((200, 100, 440, 340), fill=(250, 200, 60))
    return image

studio.add_reference("images", picture((30, 60, 200)))
studio.add_reference("sref", picture((200, 30, 40)))
studio.add_reference("cref", picture((40, 140, 60)))
first = studio.imagine("a lighthouse on a cliff --sw 400", **studio.slots.options())
first.wait(120)
"""


def test_reference_slots_pictures(jupyter_lab, browser):
    """The bar with three references, its planned prompt and a result: 1,400 and 800 px, light
    and dark (docs/screenshots/references-*.png with MJW_UPDATE_DOCS=1)."""
    nb = open_notebook(jupyter_lab, browser, "references_pictures", [SETUP, PICTURES])
    page = nb.page
    first = nb.eval("first.task.id")
    _painted(page, first)
    page.locator(".mjw-ref-slot[data-slot='cref'] img.mjw-ref-thumb").wait_for()
    box = page.locator("textarea.mjw-prompt")
    box.click()
    box.fill("a paper boat on a pond --sw 400 --cw 80")
    page.wait_for_function(
        "() => document.querySelector('.mjw-planned-text')?.textContent"
        ".includes('a paper boat on a pond')",
        timeout=30_000,
    )
    for theme in ("light", "dark"):
        if theme == "dark":
            nb.set_theme("dark")
        for width in (1400, 800):
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(1000)  # theme and reflow transitions
            bar = page.locator(".mjw-studio-bar").bounding_box()
            rights = page.evaluate(
                "() => [...document.querySelectorAll('.mjw-ref-slot, .mjw-tool, .mjw-planned')]"
                ".map(e => e.getBoundingClientRect().right)"
            )
            assert max(rights) <= bar["x"] + bar["width"] + 1, "nothing sticks out of the bar"
            page.locator(".mjw-studio-bar").scroll_into_view_if_needed()
            nb.screenshot(f"references-{width}-{theme}", docs=True)
    assert not nb.page_errors(), nb.console
