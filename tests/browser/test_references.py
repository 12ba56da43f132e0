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
    thumb.wait_for(timeout=60_000)
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
    card.wait_for(timeout=60_000)
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
