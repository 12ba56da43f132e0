"""The gallery's ticked results as inputs, kernel side: "Blend N" below the gallery or in the
Studio, "Use as ▸" into the Studio's reference slots, and refusals that send nothing."""

from __future__ import annotations

import time

import pytest

from mjwidgets import Budget, Client, Studio, sim
from mjwidgets.store import HistoryStore
from mjwidgets.tracking import Tracker
from mjwidgets.widgets.historyview import HistoryView

pytestmark = pytest.mark.timeout(300)


def _until(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    store = HistoryStore(home / "history.sqlite3")
    server = sim.start(speed=200)
    client = Client(server.url)
    tracker = Tracker(client, store)
    red = tracker.wait(tracker.imagine("a red barn in a field"), timeout=30)
    blue = tracker.wait(tracker.imagine("a blue lake under snow"), timeout=30)
    assert tracker.cache.drain(timeout=30)
    yield {"server": server, "tracker": tracker, "red": red, "blue": blue}
    tracker.cache.drain(timeout=30)
    tracker.close()
    server.stop()
    store.close()


def _click(view: HistoryView, content: dict) -> None:
    """What the page sends for a click, then the kernel's answer (``inputs_done``)."""
    answers: list[dict] = []
    original = view.gallery.send
    view.gallery.send = lambda msg, buffers=None: answers.append(msg)  # type: ignore[method-assign]
    try:
        view._on_message(None, content, [])
        _until(lambda: any(a.get("type") == "inputs_done" for a in answers))
    finally:
        view.gallery.send = original  # type: ignore[method-assign]


def _blends(server) -> int:
    return sum(t.get("action") == "BLEND" for t in server.tasks())


def test_blend_two_ticked_shows_a_card_below_the_gallery_and_bills_once(made):
    view = HistoryView(tracker=made["tracker"])
    before = _blends(made["server"])
    view.selected = [made["red"].id]
    _click(view, {"type": "blend_ticked", "dimensions": "LANDSCAPE"})
    assert "2 to 5" in view.gallery.error and _blends(made["server"]) == before  # nothing sent

    view.selected = [made["red"].id, made["blue"].id]
    # a double click (or a page sending twice) while the first is running: one blend, one bill
    view._on_message(None, {"type": "blend_ticked", "dimensions": "LANDSCAPE"}, [])
    _click(view, {"type": "blend_ticked", "dimensions": "LANDSCAPE"})
    _until(lambda: not view.inputs._busy)
    assert view.gallery.error == "", view.gallery.error
    assert _blends(made["server"]) == before + 1
    (card,) = view.inputs.box.children
    assert view.inputs.box in view.children
    task = made["tracker"].wait(card.task, timeout=60)
    assert task.action == "BLEND" and task.is_grid
    width, height = made["tracker"].image(task).size
    assert width > height, "landscape"
    view.close()


def test_use_as_puts_the_ticked_results_into_the_studios_slots(made):
    studio = Studio(made["tracker"].client, tracker=made["tracker"])
    view = HistoryView(studio=studio)
    assert view.gallery.has_studio
    red, blue = made["red"], made["blue"]
    view.selected = [red.id]
    _click(view, {"type": "use_as", "slot": "sref"})
    assert studio.slots.options() == {"sref": [view._find(red.id)]}
    (shown,) = studio.bar.references
    assert shown["slot"] == "sref" and shown["thumb"].startswith("data:image/jpeg;base64,")
    studio.slots.set_text("a lighthouse")
    assert f"--sref {red.image_url}" in studio.bar.planned_prompt

    view.selected = [red.id, blue.id]
    _click(view, {"type": "use_as", "slot": "oref"})
    assert "one image" in view.gallery.error
    assert "oref" not in studio.slots.options()

    before = _blends(made["server"])
    _click(view, {"type": "blend_ticked", "dimensions": "SQUARE"})
    assert _blends(made["server"]) == before + 1
    blended = [v for v in studio.cards.values() if v.task.action == "BLEND"]
    assert len(blended) == 1 and not view.inputs.box.children, "the card is in the Studio"
    assert made["tracker"].wait(blended[0].task, timeout=60).is_grid
    view.close()
    studio.close()


def test_a_blend_through_the_studio_keeps_to_the_studios_budget(made):
    studio = Studio(
        made["tracker"].client, tracker=made["tracker"], budget=Budget(jobs=0, name="studio budget")
    )
    view = HistoryView(studio=studio)
    before = _blends(made["server"])
    view.selected = [made["red"].id, made["blue"].id]
    _click(view, {"type": "blend_ticked", "dimensions": "PORTRAIT"})
    assert "studio budget" in view.gallery.error, view.gallery.error
    assert _blends(made["server"]) == before and not studio.cards
    view.close()
    studio.close()
