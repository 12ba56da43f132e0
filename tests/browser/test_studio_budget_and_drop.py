"""The Studio's library pieces in a real browser.

(a) A sweep's estimate and then its budget's refusal in the status bar.
(b) A picture that carries its record, dropped on the Studio, offers to continue from it; the
card comes back with its buttons. A picture without a record is named in a note.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

from harness import open_notebook
from PIL import Image

BUDGET_CELLS = [
    """
import os
os.environ["MJ_SIM_SPEED"] = "20"
os.environ["MJ_HOME"] = __import__("tempfile").mkdtemp(prefix="mjw-")  # a history of its own
import mjwidgets as mjw
studio = mjw.Studio(budget=mjw.Budget(jobs=2, name="studio budget"))
studio
""",
    """
sweep = studio.sweep("a copper kettle on a stove", stylize=[50, 250, 750])
""",
]


def test_the_status_bar_shows_the_estimate_then_the_budgets_refusal(jupyter_lab, browser):
    nb = open_notebook(jupyter_lab, browser, "studio_budget", BUDGET_CELLS)
    page = nb.page
    status = page.locator(".mjw-studio .mjw-studio-status")
    # the estimate was set before the sweep started; the refusal replaces it when reached
    nb.wait_until("sweep.stopped != ''", timeout=120)
    page.wait_for_function(
        "() => document.querySelector('.mjw-studio-status')?.textContent"
        ".startsWith('Budget: studio budget reached')"
    )
    text = status.inner_text()
    assert "raise the studio budget's limit_jobs (now 2)" in text
    assert nb.eval("studio.tracker.budgets == [] and len(sweep.tasks)") == 2
    nb.execute("sweep.wait(120)")
    nb.screenshot("studio-budget-reached", selector=".mjw-studio-bar")
    assert not nb.page_errors(), nb.console


DROP_CELLS = [
    """
import os
os.environ["MJ_SIM_SPEED"] = "20"
os.environ["MJ_HOME"] = __import__("tempfile").mkdtemp(prefix="mjw-")  # a history of its own
import mjwidgets as mjw
tracker = mjw.Tracker.for_client(mjw.Client())
grid = tracker.wait(tracker.imagine("a teal kite over dunes --ar 3:2"), 60)
single = tracker.wait(tracker.action(grid, "U4"), 60)
saved = single.save(os.path.join(os.environ["MJ_HOME"], "saved-kite"))
picture = next(str(p) for p in saved.parent.iterdir() if p.suffix in (".png", ".jpg", ".jpeg"))
""",
    """
studio = mjw.Studio(tracker=tracker)
studio
""",
]

_DROP_JS = """
([name, type, data]) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type }));
  const target = document.querySelector('.mjw-studio .mjw-cards');
  for (const kind of ['dragenter', 'dragover', 'drop']) {
    const init = { dataTransfer: transfer, bubbles: true, cancelable: true };
    target.dispatchEvent(new DragEvent(kind, init));
  }
}
"""


def _drop(page, name, mime, data):
    page.evaluate(_DROP_JS, [name, mime, base64.b64encode(data).decode("ascii")])


def test_a_dropped_picture_offers_to_continue_from_it(jupyter_lab, browser):
    nb = open_notebook(jupyter_lab, browser, "studio_drop", DROP_CELLS)
    page = nb.page
    single_id = nb.eval("single.id")
    picture = Path(nb.eval("picture"))
    page.locator(".mjw-drop-offer[data-ready='true']").wait_for(state="attached")

    plain = io.BytesIO()
    Image.new("RGB", (16, 16), "white").save(plain, "PNG")
    _drop(page, "plain.png", "image/png", plain.getvalue())
    note = page.locator(".mjw-drop-offer .mjw-drop-note")
    note.wait_for()
    assert note.inner_text().startswith("plain.png carries no mjwidgets record")

    mime = "image/png" if picture.suffix == ".png" else "image/jpeg"
    _drop(page, "kite" + picture.suffix, mime, picture.read_bytes())
    offer = page.locator(".mjw-drop-offer")
    go = offer.locator("button.mjw-drop-continue")
    go.wait_for()
    assert note.count() == 0  # the earlier drop's note is gone
    assert offer.locator(".mjw-drop-file").inner_text() == "kite" + picture.suffix
    assert offer.locator(".mjw-drop-prompt").inner_text() == "a teal kite over dunes --ar 3:2"
    assert go.is_enabled()
    assert offer.locator(".mjw-drop-estimate").inner_text().startswith("≈ 1.0 Fast GPU minutes")
    nb.screenshot("studio-drop-offer", selector=".mjw-studio")
    nb.set_theme("dark")
    page.wait_for_timeout(800)  # only for the picture: let the theme transition settle
    nb.screenshot("studio-drop-offer-dark", selector=".mjw-studio")
    go.click()
    card = page.locator(f".mjw-studio .mjw-task[data-task-id='{single_id}']")
    card.wait_for()
    card.locator("button.mjw-button", has_text="Vary (Subtle)").wait_for()
    note.wait_for()
    assert single_id in note.inner_text()
    assert not nb.page_errors(), nb.console
