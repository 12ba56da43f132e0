"""The Studio with 30 cards, as a person sees it: 1,400 and 800 px wide, light and dark.

The pictures (docs/screenshots/studio-30-cards-*.png with MJW_UPDATE_DOCS=1) are for looking at;
the assertions check what a picture would show wrong: the columns, cards overlapping, buttons
below the fold of a portrait card, anything wider than its cell.
"""

from __future__ import annotations

from harness import open_notebook

CELLS = [
    """
import os
os.environ["MJ_SIM_SPEED"] = "40"
import mjwidgets as mjw
server = mjw.sim.embedded()
server.configure(concurrency=60, queue_size=200)
studio = mjw.Studio()
studio
""",
    """
subjects = ["a red fox in snow", "a lighthouse at dusk", "a paper boat on a pond",
            "a castle in fog", "a teapot with steam", "a kite over dunes", "a koi pond",
            "an old tram in Lisbon", "a glass whale", "a fern in morning dew", "a desert road",
            "a neon noodle bar", "a snowy owl", "a brutalist library", "a bonsai on a rock",
            "a hot air balloon", "a jellyfish lamp", "a mountain hut", "a copper robot",
            "a field of lavender"]
shapes = ["", " --ar 3:2", " --ar 2:3", " --ar 16:9", " --ar 4:5", " --ar 1:1"]
views = [studio.imagine(s + shapes[i % len(shapes)]) for i, s in enumerate(subjects)]
for v in views:
    v.wait(180)
for v, label in ((views[-1], "U1"), (views[-3], "U2"), (views[-6], "V3"), (views[-8], "U4"),
                 (views[-2], "🔄"), (views[-10], "V1"), (views[-4], "U3")):
    v.press(label)
server.configure(fail_rate=1.0, fail_at=31, fail_reason="Banned prompt: the moderator said no")
failed = studio.imagine("a scene the moderator refuses")
""",
    """
import time
deadline = time.monotonic() + 120
while failed.task.status.value != "FAILURE" and time.monotonic() < deadline:
    time.sleep(0.2)
server.configure(fail_rate=0.0, speed=0.5, concurrency=1)  # one runs, one waits its turn
running = [studio.imagine(p) for p in ("a slow sunrise over the sea --ar 3:2", "a quiet harbour")]
""",
]


def _settled(nb) -> None:
    """Every finished card's final image painted, the two slow ones showing progress."""
    page = nb.page
    nb.wait_until(
        "sum(v.card.status in ('SUCCESS', 'FAILURE') for v in studio.cards.values()) >= 28",
        timeout=240,
    )
    done = nb.eval("[v.task.id for v in studio.cards.values() if v.card.status == 'SUCCESS']")
    page.wait_for_function(
        "ids => ids.every(id => document.querySelector(`.mjw-task[data-task-id='${id}']`)"
        "?.dataset.painted === id)",
        arg=done,
        timeout=240_000,
    )


def _layout(page) -> dict:
    return page.evaluate(
        """() => {
          const cards = [...document.querySelectorAll('.mjw-cards > .mjw-taskview')];
          const boxes = cards.map(c => c.getBoundingClientRect());
          const lefts = new Set(boxes.map(b => Math.round(b.left)));
          let overlaps = 0;
          for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
            const a = boxes[i], b = boxes[j];
            if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1
                && b.top < a.bottom - 1) overlaps++;
          }
          const grid = document.querySelector('.mjw-cards').getBoundingClientRect();
          const wide = boxes.filter(b => b.right > grid.right + 1).length;
          const figures = [...document.querySelectorAll('.mjw-cards .mjw-figure')]
            .map(f => f.getBoundingClientRect().height);
          return {cards: cards.length, columns: lefts.size, overlaps, wide,
                  tallest: Math.max(...figures), viewport: window.innerHeight};
        }"""
    )


def test_a_studio_of_30_cards_at_two_widths_in_light_and_dark(jupyter_lab, browser):
    nb = open_notebook(jupyter_lab, browser, "studio_30_cards", CELLS, timeout=400)
    page = nb.page
    _settled(nb)
    assert nb.eval("len(studio.cards)") == 30
    # the refused job: its reason in one line, and no picture (not the preview it drew first)
    refused = f".mjw-task[data-task-id='{nb.eval('failed.task.id')}']"
    page.wait_for_function(
        "sel => { const card = document.querySelector(sel); return card.dataset.hasImage"
        " === 'false' && card.querySelector('.mjw-figure').hidden; }",
        arg=refused,
        timeout=60_000,
    )
    assert "the moderator said no" in page.locator(f"{refused} .mjw-fail").inner_text()
    # the summary says what the cards say: a job the server has not started yet is queued
    page.wait_for_function(
        """() => {
          const cards = [...document.querySelectorAll('.mjw-cards > .mjw-taskview .mjw-task')];
          const count = states => cards.filter(c => states.includes(c.dataset.status)).length;
          const said = [[cards.length, 'cards'], [count(['IN_PROGRESS']), 'running'],
                        [count(['NOT_START', 'SUBMITTED', '']), 'queued'],
                        [count(['FAILURE']), 'failed']].filter(([n]) => n).map(p => p.join(' '));
          const waiting = cards.filter(c => ['NOT_START', 'SUBMITTED'].includes(c.dataset.status));
          const badges = waiting.every(c => c.querySelector('.mjw-status').textContent
                                           .startsWith('queued'));  // "… · may be stuck" too
          return badges
            && document.querySelector('.mjw-studio-counts').textContent === said.join(' · ');
        }""",
        timeout=60_000,
    )
    for theme in ("light", "dark"):
        if theme == "dark":
            nb.set_theme("dark")
        for width in (1400, 800):
            page.set_viewport_size({"width": width, "height": 1000})
            page.locator(".mjw-studio-bar").evaluate("b => b.scrollIntoView({block: 'start'})")
            page.wait_for_timeout(1200)  # theme and reflow transitions
            shape = _layout(page)
            assert shape["cards"] == 30 and shape["overlaps"] == 0 and shape["wide"] == 0, shape
            assert shape["columns"] == (1 if width == 800 else 3), shape
            assert shape["tallest"] <= 0.62 * shape["viewport"], "a portrait hides its buttons"
            nb.screenshot(f"studio-30-cards-{width}-{theme}", docs=True)
    assert not nb.page_errors(), nb.console
