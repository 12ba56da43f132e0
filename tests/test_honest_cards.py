"""Cards that are honest about their server (no browser; the real simulator over HTTP, a real
SQLite history): buttons a flavour refuses are shown disabled with the reason and never refused
when pressed, a used upscale opens its result for free, Cancel where the server can, stuck jobs,
closed dialogs, words for people, and the backend badge."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import pytest

from mjwidgets import Studio, TaskView, sim
from mjwidgets.client import Client
from mjwidgets.errors import AuthError, ServerError, TransportError, ValidationError
from mjwidgets.models import Status
from mjwidgets.store import HistoryStore
from mjwidgets.tracking import Tracker
from mjwidgets.wording import stuck_words

pytestmark = pytest.mark.timeout(300)  # catches a hang; a loaded machine is slow, not hung

KEY = "sk-cards-SECRET-5151"
RIGHT_AUTH = {"plus": "raw", "trueai": "raw", "newapi": "bearer", "oss": "mj-api-secret"}
ACTION = "POST /mj/submit/action"
IMAGINE = "POST /mj/submit/imagine"


def _until(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"{what} not reached")


def _count(server, key):
    return server.stats()["requests"].get(key, 0)


@contextmanager
def studio_on(flavor, tmp_path, *, speed=200.0, **options):
    with sim.start(speed=speed, flavor=flavor, secret=KEY, **options) as server:
        client = Client(server.url, KEY, auth=RIGHT_AUTH[flavor])
        tracker = Tracker(client, store=HistoryStore(tmp_path / "history.sqlite3"))
        try:
            yield server, Studio(client, tracker=tracker)
        finally:
            tracker.close()


def _done(view):
    _until(lambda: view.card.status == "SUCCESS", what=f"{view.task.id} SUCCESS")
    assert view.card.error == "", view.card.error
    return view


def _label(entry):
    return entry["label"] or entry["emoji"]


# What each flavour refuses on a V7 upscale (mj-2026 §3: trueai's whitelist, new-api's billing
# map); the open-source proxy shows no buttons at all.
REFUSED_ON_UPSCALE = {
    "plus": set(),
    "trueai": {"❤️"},
    "newapi": {"❤️"},  # Animate: made through /submit/video instead (widgets/videocard.py)
}


@pytest.mark.parametrize("flavor", ["plus", "trueai", "newapi", "oss"])
def test_no_visible_enabled_button_is_refused(flavor, tmp_path):
    with studio_on(flavor, tmp_path, concurrency=40, queue_size=100) as (server, studio):
        grid = _done(studio.imagine("a red fox in snow --v 7"))
        if flavor == "oss":  # no /submit/action: the server sends no buttons, the card shows none
            assert grid.card.buttons == [] and grid.task.buttons == []
            return
        entries = grid.card.buttons
        assert [e["group"] for e in entries] == ["upscale"] * 4 + ["vary"] * 5
        assert all(e["enabled"] and e["reason"] == "" for e in entries)
        assert entries[0]["title"].startswith("Upscale tile 1:")
        single = _done(grid.press("U1"))
        entries = single.card.buttons
        refused = {_label(e): e["reason"] for e in entries if not e["enabled"]}
        assert set(refused) == REFUSED_ON_UPSCALE[flavor]
        assert all(reason for reason in refused.values())  # each says why
        if flavor == "newapi":
            animate = next(e for e in entries if e["label"] == "Animate (High motion)")
            assert animate["enabled"] and "/submit/video" in animate["title"]
        titles = {_label(e): e["title"] for e in entries}
        assert titles["⬅️"].startswith("Pan left:")
        assert titles["Vary (Region)"] == "Vary (Region): repaint a part you select"
        children = []
        for entry in entries:
            if not entry["enabled"]:
                continue
            child = single.press(entry["custom_id"])
            assert single.card.error == "", (_label(entry), single.card.error)
            single._close_modal()  # Vary (Region), Custom Zoom: the dialog is not sent
            if child is not None:
                children.append(child)
        assert single.tracker.client.capabilities.export()["refused"] == {}  # nothing refused
        for child in children:  # and nothing failed later at the server either
            _until(lambda c=child: c.task.is_done, what=f"{child.card.lineage} done")
            assert child.task.status is Status.SUCCESS, (child.card.lineage, child.task)


def test_a_used_upscale_opens_its_result_and_never_pays_twice(tmp_path):
    with studio_on("plus", tmp_path) as (server, studio):
        grid = _done(studio.imagine("a paper boat"))
        first = grid.press("U2")
        presses = _count(server, ACTION)
        entry = next(e for e in grid.card.buttons if e["label"] == "U2")
        assert entry["existing_task_id"] == first.task.id and entry["enabled"]
        assert "open its result" in entry["title"]
        assert grid.press("U2") is first  # the same card, no new job
        # the click from the front end takes the same path
        grid.card._handle_custom_msg({"type": "click", "custom_id": entry["custom_id"]}, [])
        # a double click on another tile: one press
        both = [threading.Thread(target=grid.press, args=("U3",)) for _ in range(2)]
        for thread in both:
            thread.start()
        for thread in both:
            thread.join()
        _until(lambda: _count(server, ACTION) == presses + 1, what="one press of U3")
        # another card of the same grid, and a new kernel on the same history, open it too
        assert TaskView(grid.task, tracker=studio.tracker).press("U2").task.id == first.task.id
        client = Client(server.url, KEY, auth="raw")
        with Tracker(client, store=HistoryStore(tmp_path / "history.sqlite3")) as later:
            again = TaskView(grid.task.id, tracker=later)
            used = next(e for e in again.card.buttons if e["label"] == "U2")
            assert used["existing_task_id"] == first.task.id
            assert again.press("U2").task.id == first.task.id
        time.sleep(0.5)  # let the front-end click's worker finish
        assert _count(server, ACTION) == presses + 1  # only U3, once
        grid.press("V1")  # vary stays pressable
        assert _count(server, ACTION) == presses + 2


@pytest.mark.parametrize(
    ("flavor", "ends"),
    [("plus", "CANCEL"), ("trueai", "FAILURE"), ("newapi", None), ("oss", None)],
)
def test_cancel_where_the_server_can(flavor, ends, tmp_path):
    with studio_on(flavor, tmp_path, speed=2.0) as (server, studio):
        view = studio.imagine("a slow fox")
        caps = studio.tracker.client.capabilities
        _until(lambda: caps.flavor == flavor, what="the flavour learnt")
        if ends is None:  # no cancel route: no Cancel on the card, and none sent from code
            assert view.card.controls == []
            count = sum(server.stats()["requests"].values())
            assert view.cancel() is None and "cancel" in view.card.error
            assert sum(server.stats()["requests"].values()) == count
            return
        _until(lambda: [c["id"] for c in view.card.controls] == ["cancel"], what="Cancel shown")
        assert view.card.controls[0]["enabled"]
        view._on_message(None, {"type": "control", "id": "cancel"}, [])  # as a click sends it
        _until(lambda: view.card.status == ends, what=f"card {ends}")
        assert view.card.controls == []
        if flavor == "trueai":  # trueai marks it FAILURE "取消任务"; the card says cancelled
            assert view.card.status_text.startswith("failed: cancelled")
            assert "取消任务" in view.card.status_text
        else:
            assert view.card.status_text == "cancelled"


def test_a_stuck_job_says_so_and_is_submitted_again_only_on_a_click(tmp_path):
    # no server-side timeout: at speed 200 its 5 minutes would end the stuck job in 1.5 s
    with studio_on("plus", tmp_path, task_timeout=None) as (server, studio):
        _done(studio.imagine("a warm-up fox"))  # the tracker learns this server's rhythm
        server.configure(stuck_rate=1.0)
        view = studio.imagine("a stuck fox")
        tracker = studio.tracker
        _until(
            lambda: view.card.stuck != "",
            what=f"the card says stuck ({view.card.status_text}, {view.card.error})",
        )
        assert "may be stuck" in view.card.stuck and "no change for" in view.card.stuck
        assert view.card.status_text.endswith("· may be stuck")
        assert tracker.overdue(view.task) is not None
        assert [c["id"] for c in view.card.controls] == ["cancel", "resubmit"]
        assert all(c["enabled"] for c in view.card.controls)
        ticks = tracker.stats()["ticks"]
        _until(lambda: tracker.stats()["ticks"] >= ticks + 2, what="more polls", timeout=60)
        assert _count(server, IMAGINE) == 2  # never submitted again on its own
        view._on_message(None, {"type": "control", "id": "resubmit"}, [])
        _until(lambda: _count(server, IMAGINE) == 3, what="the new submit")
        _until(lambda: len(view.card.children) == 1, what="the new card")
        fresh = studio.cards[view.card.children[0]["task_id"]]
        assert fresh.task.id != view.task.id and fresh.task.prompt == "a stuck fox"
        assert len(server.stats()["submits_by_state"]) == 3  # a new state token
        view.cancel()
        _until(lambda: view.card.status == "CANCEL", what="cancelled")
        assert view.card.stuck == "" and view.card.controls == []


def test_a_closed_dialog_leaves_no_job_in_the_history(tmp_path):
    with studio_on("plus", tmp_path) as (server, studio):
        grid = _done(studio.imagine("a desert road --v 7"))
        single = _done(grid.press("U1"))
        assert single.press("Custom Zoom") is None and single.card.modal
        single._on_message(None, {"type": "modal_cancel"}, [])  # closed without sending
        assert single.press("Vary (Region)") is None and single.editor is not None
        single.editor.cancel()
        assert single.editor is None and single.card.modal == {}
        store = studio.tracker.store
        assert [t.id for t in store.history()] == [single.task.id, grid.task.id]
        dialogs = store.history(dialogs=True)
        assert len(dialogs) == 4 and {t.status for t in dialogs[:2]} == {Status.MODAL}
        assert len(store.history(status="MODAL")) == 2


def test_newapi_shows_queued_before_its_first_refresh(tmp_path):
    with sim.start(speed=1.0, flavor="newapi", secret=KEY) as server:
        client = Client(server.url, KEY)
        task = client.imagine("a red fox")
        with Tracker(client, store=HistoryStore(tmp_path / "h.sqlite3")) as tracker:
            view = TaskView(task.id, tracker=tracker)  # read from the relay: status ""
            assert view.task.status_raw == "" and view.task.status is Status.UNKNOWN
            assert view.card.status == "NOT_START" and view.card.status_text == "queued"


def test_newapi_rewritten_modal_still_opens_its_dialog(tmp_path):
    with studio_on("newapi", tmp_path, remix=True) as (server, studio):
        grid = _done(studio.imagine("a red fox"))
        assert grid.press("V1") is None  # code 21 rewritten to 1: the description tells
        assert grid.card.modal["kind"] == "remix" and grid.card.modal["prompt"]
        varied = grid.send_modal("a red fox, watercolour")
        _done(varied)
        assert varied.card.lineage == "V1 of “a red fox”"


def test_the_backend_badge_and_the_status_line(tmp_path):
    with sim.start(speed=200.0, flavor="trueai", secret=KEY) as server:
        wrong = Client(server.url, KEY, auth="bearer")
        with Tracker(wrong, store=HistoryStore(tmp_path / "a.sqlite3")) as tracker:
            studio = Studio(wrong, tracker=tracker)
            assert studio.bar.backend_state["ok"] is None
            with pytest.raises(AuthError):
                studio.imagine("a fox")
            state = studio.bar.backend_state
            assert state["ok"] is False and state["label"] == "key refused"
            assert "MJ_AUTH=raw" in state["reason"] and "MJ_AUTH=raw" in studio.bar.error
        right = Client(server.url, KEY, auth="raw")
        with Tracker(right, store=HistoryStore(tmp_path / "b.sqlite3")) as tracker:
            studio = Studio(right, tracker=tracker)
            view = studio.imagine("a fox")
            assert studio.bar.backend_state["ok"] is True
            assert studio.bar.status_text == "submitted “a fox”"
            with pytest.raises(ValidationError):
                studio.imagine("   ")
            assert studio.bar.status_text == "" and view.task.id not in studio.bar.error
            server.configure(error_rate=1.0, error_after_commit=0.0, paths=["/mj/submit/"])
            with pytest.raises(ServerError):
                studio.imagine("another fox")
            assert studio.bar.backend_state["label"] == "server trouble"
            assert studio.bar.status_text == ""
            server.configure(error_rate=0.0)
            _done(studio.imagine("a third fox"))
            assert studio.bar.backend_state["ok"] is True
            server.stop()
            with pytest.raises(TransportError):
                studio.imagine("a fox with no server")
            state = studio.bar.backend_state
            assert state["ok"] is False and state["label"] == "server unreachable"


@pytest.mark.parametrize(
    "quiet_s, expected_s, words",
    [
        (2.0, 0.3, "no change for 2 s (this server usually moves every 0.3 s): it may be stuck"),
        (180, 7, "no change for 3 min (this server usually moves every 7 s): it may be stuck"),
        (45, 12, "no change for 45 s (this server usually moves every 12 s): it may be stuck"),
    ],
)
def test_the_stuck_line_never_says_every_0_s(quiet_s, expected_s, words):
    assert stuck_words(quiet_s, expected_s) == words
