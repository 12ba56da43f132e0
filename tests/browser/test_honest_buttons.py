"""Honest cards in the browser: a relay's refused button is shown disabled with its reason (on
hover, focus and click, and nothing is sent), a used upscale opens its result, and Cancel turns a
running card CANCEL. Pictures at 800 and 1400 px, light and dark."""

from __future__ import annotations

from harness import VIEWPORT, open_notebook

RELAY = """
from mjwidgets import Client, Studio, sim
relay = sim.start(speed=20, flavor="newapi", secret="sk-relay-browser-1")
relay_client = Client(relay.url, "sk-relay-browser-1", flavor="newapi")
relay_studio = Studio(relay_client)
relay_studio
"""
GRID = 'grid = relay_studio.imagine("a red fox in snow --v 7")'
SHOP = """
shop = sim.start(speed=1, flavor="plus", secret="sk-shop-browser-2")
shop_studio = Studio(Client(shop.url, "sk-shop-browser-2", auth="raw"))
shop_studio
"""
TASK = ".mjw-task"


def _actions(nb) -> int:
    return nb.eval("relay.stats()['requests'].get('POST /mj/submit/action', 0)")


def _pictures(nb, name: str, selector: str, hover: str | None = None) -> None:
    """The element at 1400 and 800 px wide, light and dark (the theme is left light), with the
    mouse on ``hover`` (inside it) when given."""
    page = nb.page
    for theme in ("light", "dark"):
        nb.set_theme(theme)
        for width in (1400, 800):
            page.set_viewport_size({"width": width, "height": VIEWPORT["height"]})
            page.wait_for_timeout(800)  # only for the picture: let transitions settle
            page.locator(selector).first.scroll_into_view_if_needed()
            if hover:
                page.locator(selector).first.locator(hover).first.hover(force=True)
            nb.screenshot(f"{name}-{width}-{theme}", selector=selector)
    page.set_viewport_size(VIEWPORT)
    nb.set_theme("light")


def test_refused_button_says_why_and_cancel_stops_a_running_card(jupyter_lab, browser):
    nb = open_notebook(jupyter_lab, browser, "honest_buttons", [RELAY, GRID, SHOP])
    page = nb.page
    grid_id = nb.eval("grid.task.id")
    grid = page.locator(f"{TASK}[data-task-id='{grid_id}'][data-status='SUCCESS']")
    grid.wait_for()
    grid.locator("button.mjw-button", has_text="U1").click()
    child_id = nb.wait_until("grid.card.children and grid.card.children[0]['task_id']")
    card = page.locator(f"{TASK}[data-task-id='{child_id}'][data-status='SUCCESS']")
    card.wait_for()
    card.locator("img.mjw-image").wait_for()
    assert page.locator(f"{TASK}[data-task-id='{child_id}'] .mjw-lineage").inner_text() == (
        "U1 of “a red fox in snow”"
    )

    # Animate is made through /submit/video on this relay (widgets/videocard.py): pressable
    animate = card.locator("button.mjw-button", has_text="Animate (High motion)")
    assert animate.get_attribute("aria-disabled") is None
    assert "/submit/video" in animate.get_attribute("title")
    heart = card.locator("button.mjw-button", has_text="❤️")
    assert heart.get_attribute("aria-disabled") == "true"
    reason = heart.get_attribute("data-reason")
    assert "not available at a new-api relay" in reason and "midjourney.com" in reason
    assert "midjourney.com" in heart.get_attribute("title")
    presses = _actions(nb)
    heart.hover()
    shown = card.locator(".mjw-reason")
    shown.wait_for(state="visible")
    assert "midjourney.com" in shown.inner_text()
    card.locator(".mjw-prompt-text").hover()  # away: the reason goes …
    shown.wait_for(state="hidden")
    # … and a click (aria-disabled, still clickable) brings it back in the same handler that
    # would have sent the press: seeing it means nothing was sent
    heart.click(force=True)
    shown.wait_for(state="visible")
    assert _actions(nb) == presses
    assert card.locator("button.mjw-button[aria-disabled='true']").count() == 1  # ❤️
    vary = card.locator("button.mjw-button", has_text="Vary (Subtle)")
    assert vary.get_attribute("aria-disabled") is None
    assert vary.get_attribute("title").startswith("Vary (Subtle):")
    _pictures(
        nb,
        "honest-refused-button",
        f"{TASK}[data-task-id='{child_id}']",
        hover="button.mjw-unavailable",
    )

    used = grid.locator("button.mjw-button.mjw-open-result")
    used.wait_for()
    assert used.inner_text() == "U1 ↗" and used.get_attribute("data-existing-task-id") == child_id
    used.click()  # the result is on the page: it scrolls there and flashes, nothing is submitted
    page.locator(f"{TASK}.mjw-flash[data-task-id='{child_id}']").wait_for()
    assert _actions(nb) == presses

    nb.execute('slow = shop_studio.imagine("a slow lighthouse")')
    slow_id = nb.eval("slow.task.id")
    running = page.locator(f"{TASK}[data-task-id='{slow_id}']")
    cancel = running.locator("button.mjw-control[data-control='cancel']")
    cancel.wait_for()
    assert cancel.get_attribute("aria-disabled") is None
    assert running.get_attribute("data-status") in ("NOT_START", "SUBMITTED", "IN_PROGRESS")
    _pictures(nb, "honest-cancel-running", f"{TASK}[data-task-id='{slow_id}']")
    cancel.click()
    page.locator(f"{TASK}[data-task-id='{slow_id}'][data-status='CANCEL']").wait_for()
    assert running.locator("button.mjw-control").count() == 0
    assert running.locator(".mjw-status").inner_text().lower() == "cancelled"
    _pictures(nb, "honest-cancelled", f"{TASK}[data-task-id='{slow_id}']")
    assert not nb.page_errors(), nb.console
