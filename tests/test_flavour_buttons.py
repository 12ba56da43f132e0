"""On each simulator flavour, no visible button leads to a server refusal (no browser; the real
simulator over HTTP, a real SQLite history).

Each flavour's Studio makes a V8.1 grid (the default) and a V7 grid, and every card reached from
them is explored: every enabled button a card shows is pressed as a click would press it, and
the cards it makes (upscales, zooms, pans, variations, videos and their clips) are explored in
turn, once per set of buttons. A dialog is sent (Custom Zoom with a valid factor, Vary (Region)
with a drawn mask). Nothing may come back refused (``unknown_action``, HTTP 400, "未知的 Action
类型", "not supported"): the card shows no error, the client learns no refusal, and every job
it made ends SUCCESS. Every button shown disabled says why.
"""

from __future__ import annotations

import time
from collections import deque
from contextlib import contextmanager

import pytest

from mjwidgets import Studio, TaskView, sim
from mjwidgets.capabilities import button_family
from mjwidgets.client import Client
from mjwidgets.masks import Rect
from mjwidgets.models import Status
from mjwidgets.store import HistoryStore
from mjwidgets.tracking import Tracker

pytestmark = pytest.mark.timeout(300)

KEY = "sk-flavour-buttons-7070"
RIGHT_AUTH = {"plus": "raw", "trueai": "raw", "newapi": "bearer", "oss": "mj-api-secret"}
PROMPTS = ("a red fox in snow", "a red fox in snow --v 7")  # V8.1 (the default) and V7
# What each flavour shows disabled (by button family; mj-2026 §3): trueai's whitelist has no ❤️,
# new-api's billing map has no Animate and no video U. Animate is pressable there all the same:
# the card makes the video through /submit/video (widgets/videocard.py).
REFUSED = {
    "plus": set(),
    "trueai": {"MJ::BOOKMARK"},
    "newapi": {
        "MJ::BOOKMARK",
        "MJ::JOB::video_virtual_upscale",  # so no clip card, and no Extend, is reached here
    },
}


def _until(predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"{what} not reached")


@contextmanager
def studio_on(flavor, tmp_path):
    options = dict(speed=300.0, flavor=flavor, secret=KEY, concurrency=60, queue_size=200)
    with sim.start(**options) as server:
        client = Client(server.url, KEY, auth=RIGHT_AUTH[flavor])  # the flavour is learnt
        tracker = Tracker(client, store=HistoryStore(tmp_path / "history.sqlite3"))
        try:
            yield server, Studio(client, tracker=tracker)
        finally:
            tracker.close()


def _finished(view):
    _until(lambda: view.task.is_done, what=f"{view.card.lineage or view.task.id} finished")
    assert view.task.status is Status.SUCCESS, (view.card.lineage, view.task)
    _until(lambda: view.card.status == "SUCCESS", what=f"{view.task.id} shown SUCCESS")
    return view


def _send_dialog(view, entry):
    """Send the dialog a press opened, as a person would; returns the result's card."""
    if view.editor is not None:  # Vary (Region): a drawn rectangle
        width, height = view.editor.image_size
        view.editor.add_op(Rect(width // 4, height // 4, width // 2, height // 2))
        return view.send_modal("a red fox in snow, a blue scarf")
    if view.card.modal.get("kind") == "custom_zoom":
        prompt = view.card.modal["prompt"]
        assert prompt.endswith("--zoom 1.5"), view.card.modal
        return view.send_modal(prompt)
    raise AssertionError(f"{entry['label']} opened an unexpected dialog: {view.card.modal}")


class Explorer:
    """Presses every enabled button of every card it is given and of the cards they make."""

    def __init__(self, studio) -> None:
        self.studio = studio
        self.explored: set[tuple[object, ...]] = set()
        self.pressed: set[str] = set()  # button families pressed
        self.disabled: dict[str, str] = {}  # button family → the reason shown
        self.cards: list = []  # every card reached

    def explore(self, *views) -> None:
        queue = deque(views)
        made = []
        while queue:
            view = _finished(queue.popleft())
            self.cards.append(view)
            entries = view.card.buttons
            families = sorted({button_family(e["custom_id"]) for e in entries})
            shape = ("--v 7" in (view.task.prompt or ""), *families)  # a grid's version matters
            if shape in self.explored:
                continue  # a card like this one (same version, same buttons) was explored
            self.explored.add(shape)
            for entry in entries:
                child = self._press(view, entry)
                if child is not None and child.task.id != view.task.id:
                    made.append(child)
                    queue.append(child)
        for child in made:
            _finished(child)
            assert child.card.error == "", (child.card.lineage, child.card.error)
        refused = self.studio.tracker.client.capabilities.export()["refused"]
        assert refused == {}, f"the server refused {refused}"

    def _press(self, view, entry):
        family = button_family(entry["custom_id"])
        if not entry["enabled"]:
            assert entry["reason"], f"{entry['label']} is disabled without a reason"
            self.disabled[family] = entry["reason"]
            return None
        if entry["existing_task_id"]:
            return None  # a used upscale opens its result: nothing is sent (tested elsewhere)
        child = view.press(entry["custom_id"])
        what = f"{entry['label'] or entry['emoji']} on {view.card.lineage or 'the grid'}"
        assert view.card.error == "", (what, view.card.error)
        if child is None and (view.card.modal or view.editor is not None):
            child = _send_dialog(view, entry)
            assert view.card.error == "", (what, view.card.error)
            assert child is not None, what
        self.pressed.add(family)
        return child


@pytest.mark.parametrize("flavor", ["plus", "trueai", "newapi", "oss"])
def test_no_visible_button_leads_to_a_refusal(flavor, tmp_path):
    with studio_on(flavor, tmp_path) as (server, studio):
        explorer = Explorer(studio)
        explorer.explore(*(studio.imagine(prompt) for prompt in PROMPTS))
        caps = studio.tracker.client.capabilities
        assert caps.flavor == flavor, caps
        if flavor == "oss":  # no /submit/action: no buttons, and the card says why
            assert explorer.pressed == set() and explorer.disabled == {}
            assert server.stats()["requests"].get("POST /mj/submit/action", 0) == 0
            for view in explorer.cards:
                assert "no /submit/action" in view.card.buttons_note, view.card.buttons_note
            return
        # a video made through /submit/video (how a new-api relay makes them), and its clips
        upscale = next(v.task for v in explorer.cards if v.task.action == "UPSCALE")
        video = studio.tracker.video("the fox runs", image=upscale)
        explorer.explore(TaskView(video, tracker=studio.tracker))
        pressed, disabled = explorer.pressed, explorer.disabled
        assert set(disabled) == REFUSED[flavor], disabled
        if flavor == "newapi":  # the clips' U: each clip offers Extend instead
            assert "client.extend" in disabled["MJ::JOB::video_virtual_upscale"]
        # the flow reached every kind of card: grids, upscales (V8.1 and V7), dialogs, videos
        expected = {
            "MJ::JOB::upsample",
            "MJ::JOB::variation",
            "MJ::JOB::reroll",
            "MJ::JOB::low_variation",
            "MJ::JOB::high_variation",
            "MJ::Inpaint",
            "MJ::CustomZoom",
            "MJ::Outpaint",
            "MJ::JOB::pan_left",
            "MJ::JOB::upsample_v7_2x_subtle",
            "MJ::JOB::animate_high",  # on new-api through /submit/video
            "MJ::JOB::animate_low",
        }
        if flavor != "newapi":
            expected |= {
                "MJ::JOB::video_virtual_upscale",
                "MJ::JOB::animate_high_extend",
                "MJ::JOB::animate_low_extend",
            }
        assert expected <= pressed, sorted(expected - pressed)
        assert ("MJ::BOOKMARK" in pressed) == (flavor == "plus")


def test_a_new_dialog_replaces_the_open_one(tmp_path):
    """Custom Zoom pressed while the Vary (Region) editor is open: the editor closes and Send
    sends the zoom (before, the zoom went out through the editor, without its --zoom)."""
    with studio_on("plus", tmp_path) as (server, studio):
        grid = _finished(studio.imagine("a red fox in snow --v 7"))
        single = _finished(grid.press("U1"))
        assert single.press("Vary (Region)") is None and single.editor is not None
        assert single.press("Custom Zoom") is None
        assert single.editor is None and single.card.modal["kind"] == "custom_zoom"
        zoomed = _finished(single.send_modal(single.card.modal["prompt"]))
        assert single.card.error == "" and zoomed.card.lineage.startswith("Custom Zoom of")
        assert zoomed.task.prompt.endswith("--zoom 1.5")


def test_time_spent_in_a_dialog_is_not_shown_as_queueing(tmp_path):
    """The card's "queued … s" starts when the dialog is sent, not when it was opened (issue
    14 §12): a person who types for a while does not see a long queue."""
    with studio_on("plus", tmp_path) as (server, studio):
        grid = _finished(studio.imagine("a red fox in snow --v 7"))
        single = _finished(grid.press("U1"))
        assert single.press("Custom Zoom") is None
        typing = 2.0
        time.sleep(typing)  # the person types (setup, not a measurement)
        zoomed = _finished(single.send_modal(single.card.modal["prompt"]))
        _until(lambda: zoomed.card.timings.get("queued") is not None, what="queued time")
        assert zoomed.card.timings["queued"] < typing, zoomed.card.timings
