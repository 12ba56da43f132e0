"""The history gallery's ticked results as inputs, in a real browser: two grids ticked → "Blend 2"
→ a blend grid in the attached Studio that succeeds; one ticked → "Use as ▸ Style reference" →
the Studio's style slot shows its thumbnail and the planned prompt carries its URL. Picture:
test-artifacts/screens/gallery-inputs-1400-light.png (two ticked, the new buttons), and
gallery-inputs-800-dark.png."""

from __future__ import annotations

from harness import DEFAULT_TIMEOUT, open_notebook
from playwright.sync_api import Error as PlaywrightError

SETUP = """
import os
os.environ["MJ_SIM_SPEED"] = "40"
os.environ["MJ_HOME"] = __import__("tempfile").mkdtemp(prefix="mjw-")  # a history of its own
import mjwidgets as mjw
studio = mjw.Studio()
barn = studio.imagine("a red barn in a wheat field").task
lake = studio.imagine("a blue lake under fresh snow").task
barn = studio.tracker.wait(barn, 120)
lake = studio.tracker.wait(lake, 120)
assert studio.tracker.cache.drain(60)
studio
"""
GALLERY = """
h = mjw.HistoryView(studio=studio)
h
"""
JOB_MS = int(DEFAULT_TIMEOUT * 1000)


def _tick(gallery, task_id: str) -> None:
    """Tick a thumbnail. The gallery re-renders as new results arrive (a blend's own task), so a
    box can be replaced under the pointer: a detached box is looked up again."""
    box = gallery.locator(f".mjw-thumb[data-task-id='{task_id}'] input.mjw-thumb-check")
    for attempt in range(5):
        try:
            box.check(timeout=120_000)
            return
        except PlaywrightError:
            if attempt == 4:
                raise


def test_ticked_results_blend_and_become_a_style_reference(jupyter_lab, browser):
    nb = open_notebook(jupyter_lab, browser, "gallery_inputs", [SETUP, GALLERY], timeout=240)
    page = nb.page
    barn, lake = nb.eval("barn.id"), nb.eval("lake.id")
    gallery = page.locator(".mjw-history").first
    for task_id in (barn, lake):
        gallery.locator(f".mjw-thumb[data-task-id='{task_id}'] img.mjw-thumb-img").wait_for(
            timeout=120_000
        )
    _tick(gallery, barn)
    _tick(gallery, lake)
    nb.wait_until("len(h.selected) == 2")
    blend = gallery.locator("button.mjw-history-blend")
    assert blend.inner_text() == "Blend 2" and blend.is_enabled()
    gallery.locator("select.mjw-history-blend-shape").select_option("LANDSCAPE")
    gallery.locator("button.mjw-history-use-as").click()
    menu = gallery.locator(".mjw-history-use-menu")
    menu.wait_for()
    assert menu.locator("button[data-slot='oref']").is_disabled(), "--oref is one image"
    gallery.locator(".mjw-history-selbar").scroll_into_view_if_needed()
    nb.screenshot("gallery-inputs-1400-light", selector=".mjw-history")

    blend.click()
    nb.wait_until("any(v.task.action == 'BLEND' for v in studio.cards.values())", timeout=120)
    blended = nb.eval("[i for i, v in studio.cards.items() if v.task.action == 'BLEND'][-1]")
    assert nb.eval("len([v for v in studio.cards.values() if v.task.action == 'BLEND'])") == 1
    page.wait_for_function(
        "id => document.querySelector(`.mjw-task[data-task-id='${id}']`)?.dataset.painted === id",
        arg=blended,
        timeout=JOB_MS,
    )
    assert nb.eval(f"studio.cards[{blended!r}].task.status.value") == "SUCCESS"
    assert nb.eval(f"studio.cards[{blended!r}].task.is_grid")
    page.wait_for_function(
        "() => !document.querySelector('.mjw-history button.mjw-history-blend').disabled"
    )
    assert "blend of 2 submitted" in gallery.locator(".mjw-history-message").inner_text()

    gallery.locator(".mjw-history-clear").click()
    nb.wait_until("h.selected == []")
    _tick(gallery, barn)
    nb.wait_until(f"h.selected == [{barn!r}]")
    gallery.locator("button.mjw-history-use-as").click()
    menu.locator("button[data-slot='sref']").click()
    thumb = page.locator(".mjw-ref-slot[data-slot='sref'] img.mjw-ref-thumb")
    thumb.wait_for(timeout=120_000)
    assert thumb.evaluate("img => img.naturalWidth > 0 && img.src.startsWith('data:image/')")
    url = nb.eval("barn.image_url")
    page.wait_for_function(
        "url => document.querySelector('.mjw-planned-text')?.textContent.includes('--sref ' + url)",
        arg=url,
        timeout=30_000,
    )
    assert nb.eval("studio.slots.options()['sref'][0].id") == barn

    _tick(gallery, lake)  # the same controls, dark and narrow
    nb.wait_until("len(h.selected) == 2")
    gallery.locator("button.mjw-history-use-as").click()
    menu.wait_for()
    nb.set_theme("dark")
    page.set_viewport_size({"width": 800, "height": 1000})
    page.wait_for_timeout(1000)  # theme and reflow transitions
    gallery.locator(".mjw-history-selbar").scroll_into_view_if_needed()
    nb.screenshot("gallery-inputs-800-dark", selector=".mjw-history")
    assert not nb.page_errors(), nb.console
