"""Describe and shorten cards in a real browser: their prompts as text, each with "Imagine this"
and a copy control; imagining one makes a card with exactly that prompt."""

from __future__ import annotations

from harness import open_notebook

CELLS = [
    """
import os
os.environ["MJ_SIM_SPEED"] = "40"
import mjwidgets as mjw
from PIL import Image, ImageDraw
from mjwidgets.prompt import numbered_prompts
studio = mjw.Studio()
studio
""",
    """
picture = Image.new("RGB", (640, 448), (30, 60, 120))
ImageDraw.Draw(picture).ellipse((200, 100, 440, 340), fill=(250, 200, 60))
described = studio.add(studio.client.describe(picture))
described.wait(120)
proposals = numbered_prompts(described.task.properties["finalPrompt"])
shortened = studio.add(studio.client.shorten(  # (no "basalt": the history test searches it)
    "a very detailed oil painting of an old windmill on a chalk hill at dusk, stormy sky"))
shortened.wait(120)
""",
]


def test_describe_and_shorten_cards_offer_their_prompts(jupyter_lab, browser):
    nb = open_notebook(jupyter_lab, browser, "describe_cards", CELLS, timeout=180)
    page = nb.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=jupyter_lab.url)
    described_id = nb.eval("described.task.id")
    proposals = nb.eval("proposals")
    assert len(proposals) == 4
    card = page.locator(f".mjw-task[data-task-id='{described_id}']")
    texts = card.locator(".mjw-proposal-text")
    texts.nth(3).wait_for(timeout=30_000)
    assert texts.all_inner_texts() == proposals

    card.locator(".mjw-proposal[data-index='1'] .mjw-proposal-copy").click()
    page.wait_for_function(
        "text => navigator.clipboard.readText().then(t => t === text)",
        arg=proposals[0],
        timeout=30_000,
    )
    card.locator(".mjw-proposal[data-index='2'] .mjw-proposal-imagine").click()
    child = page.locator(f".mjw-task:has(.mjw-lineage[data-parent-id='{described_id}'])")
    child.wait_for(timeout=120_000)
    child_id = child.get_attribute("data-task-id")
    nb.wait_until(f"studio.cards[{child_id!r}].task.status.value == 'SUCCESS'", timeout=120)
    assert nb.eval(f"studio.cards[{child_id!r}].task.prompt") == proposals[1]
    page.wait_for_function(
        "id => document.querySelector(`.mjw-task[data-task-id='${id}']`)?.dataset.painted === id",
        arg=child_id,
        timeout=120_000,
    )
    card.scroll_into_view_if_needed()
    nb.screenshot("describe-card", docs=True)

    shortened_id = nb.eval("shortened.task.id")
    short_card = page.locator(f".mjw-task[data-task-id='{shortened_id}']")
    short_card.locator(".mjw-proposal").first.wait_for(timeout=30_000)
    shorts = nb.eval("numbered_prompts(shortened.task.properties['finalPrompt'])")
    assert short_card.locator(".mjw-proposal-text").all_inner_texts() == shorts
    assert short_card.locator(".mjw-figure").is_hidden(), "a shorten has no image: no empty frame"
    short_card.locator(".mjw-proposal[data-index='1'] .mjw-proposal-edit").click()
    page.wait_for_function(
        "v => document.querySelector('textarea.mjw-prompt').value === v",
        arg=shorts[0],
        timeout=30_000,
    )
    assert not nb.page_errors(), nb.console
