"""Widgets on the kernel side (no browser): cards follow the tracker, clicks submit, no secrets."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import comm
import pytest
from ipywidgets import Widget

from mjwidgets import Client, HistoryView, Studio, TaskView, Tracker, sim
from mjwidgets.errors import ValidationError
from mjwidgets.imagecache import PREVIEW
from mjwidgets.store import HistoryStore
from mjwidgets.sweep import Sweep
from mjwidgets.widgets.cardmodel import CardModel
from mjwidgets.widgets.plumbing import (
    IMAGER,
    PREVIEW_THREADS,
    PREVIEWER,
    BurstWork,
    CoalescingJob,
    module_source,
)
from mjwidgets.widgets.sweepview import SweepView

KEY = "sk-widget-SECRET-777"


@pytest.fixture
def studio(tmp_path):
    with sim.start(speed=200, secret=KEY) as server:
        client = Client(server.url, api_key=KEY, auth="mj-api-secret")  # Plus reads this header
        store = HistoryStore(tmp_path / "history.sqlite3")
        tracker = Tracker(client, store=store)
        yield Studio(client, tracker=tracker)
        tracker.close()


def _until(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached")


def test_a_card_follows_its_task_to_a_display_sized_image(studio):
    view = studio.imagine("a red fox in snow")
    card = view.card
    seen: set[int] = set()
    _until(lambda: seen.add(card.progress) or card.status == "SUCCESS")
    _until(lambda: len(card.image) > 0 and not card.is_preview)
    assert len(card.image) <= 250_000, "a grid travels as a display-sized image"
    assert card.image_size == [2048, 2048]
    assert [b["label"] or b["emoji"] for b in card.buttons][:5] == ["U1", "U2", "U3", "U4", "🔄"]
    assert card.timings["total"] is not None


def test_a_result_shows_while_every_preview_thread_is_stuck(studio):
    # two running jobs' previews hang on a slow image host: a finished job's picture must not
    # wait behind them (it has threads of its own)
    release = threading.Event()
    stuck = [PREVIEWER.submit(release.wait, 60) for _ in range(PREVIEW_THREADS)]
    try:
        view = studio.imagine("a lighthouse at dusk")
        _until(lambda: view.card.status == "SUCCESS")
        _until(lambda: len(view.card.image) > 0 and not view.card.is_preview)
        assert not any(job.done() for job in stuck), "the previews were still stuck"
        assert view.card.image_size == [2048, 2048]
    finally:
        release.set()


def test_a_job_refused_half_way_keeps_no_preview_and_says_why(tmp_path):
    # a moderator stopping a job at 60 %: the blurred preview drawn on the way is no result,
    # and under its reason it looked like one (the web app shows no picture for a failed job)
    with sim.start(speed=12) as server:
        tracker = Tracker(Client(server.url), store=HistoryStore(tmp_path / "history.sqlite3"))
        try:
            studio = Studio(tracker=tracker)
            server.configure(fail_rate=1.0, fail_at=60, fail_reason="Banned prompt: no")
            view = studio.imagine("a scene the moderator refuses")
            card = view.card
            _until(lambda: card.is_preview and len(card.image) > 0 or card.status == "FAILURE")
            assert card.is_preview and card.image, "a preview showed while it ran"
            running = dataclasses.replace(view.task)  # as it was: the tracker updates its own
            _until(lambda: card.status == "FAILURE")
            _until(lambda: not card.image)
            assert "Banned prompt" in card.fail_reason
            # nor does the history's gallery show it, though the cache has it
            assert tracker.cache.fetch(running, PREVIEW)
            assert tracker.cache.path(view.task, PREVIEW), "the preview is in the cache"
            history = HistoryView(tracker=tracker)
            (item,) = [i for i in history.gallery.items if i["task_id"] == view.task.id]
            assert item["thumb"] is None and item["status"] == "FAILURE"
            history.close()
            studio.close()
        finally:
            tracker.close()


def test_asks_while_a_card_job_runs_make_one_more_run_not_one_each():
    pool = ThreadPoolExecutor(1)
    started, go, runs = threading.Event(), threading.Event(), []

    def work():
        runs.append(len(runs))
        started.set()
        go.wait(10)

    job = CoalescingJob(pool, work)
    job.ask()
    assert started.wait(10)
    for _ in range(5):  # five updates while the first picture is on its way
        job.ask()
    go.set()
    pool.shutdown(wait=True)
    assert runs == [0, 1], "the latest state is shown once more, not five times"

    closed = False
    pool = ThreadPoolExecutor(1)
    started.clear()
    go.clear()
    runs.clear()
    job = CoalescingJob(pool, work, lambda: closed)
    job.ask()
    assert started.wait(10)
    job.ask()
    closed = True  # the card closed meanwhile: no more work for it
    go.set()
    pool.shutdown(wait=True)
    assert runs == [0]


def test_a_burst_of_asks_runs_its_work_at_once_and_once_more_when_it_ends():
    runs: list[int] = []
    burst = BurstWork(lambda: runs.append(len(runs)), window=2.0)  # no loop here outlasts it
    burst.ask()
    assert runs == [0], "the first ask is not held back"
    for _ in range(50):  # a cell adding 50 cards: their counts
        burst.ask()
    assert runs == [0]
    _until(lambda: len(runs) > 1)
    assert runs == [0, 1], "the 50 asks of the window: one run when it ends"


def test_pressing_a_button_adds_a_child_card_with_its_lineage(studio):
    parent = studio.imagine("a paper boat")
    _until(lambda: parent.card.status == "SUCCESS")
    child = parent.press("U2")
    assert child is not None and studio.cards[child.task.id] is child
    assert studio.cards_box.children[-1] is child, "the widget list only grows"
    later = studio.imagine("a second boat")
    shown = studio.order.in_screen_order()
    assert shown == [later, parent, child], "newest prompt first, a result right after its parent"
    keys = [int(view.layout.order) for view in shown]
    assert keys == sorted(keys), "the CSS order the grid shows follows the screen order"
    assert child.card.lineage == "U2 of “a paper boat”"  # the button and the prompt, in words
    assert child.card.parent_id == parent.task.id
    assert parent.card.children[0]["task_id"] == child.task.id
    assert parent.card.used_buttons == [parent.task.button("U2").custom_id]
    _until(lambda: child.card.status == "SUCCESS" and len(child.card.image) > 0)


def test_a_clicks_new_card_goes_to_the_page_before_its_parent_changes(studio):
    """In a big Studio the page lays out the whole grid again for each message that changes a
    card: the parent's own news (its button used, its link to the result, the button no longer
    pending) waits until the new card is on its way, and its button stays pending until then."""
    parent = studio.imagine("a paper boat")
    _until(lambda: parent.card.status == "SUCCESS")
    sent: list[tuple[str, dict]] = []

    def spy(name, comm):
        send = comm.send

        def spying(data=None, metadata=None, buffers=None):
            sent.append((name, dict((data or {}).get("state", {}))))
            return send(data=data, metadata=metadata, buffers=buffers)

        comm.send = spying

    spy("grid", studio.cards_box.comm)
    spy("parent", parent.card.comm)
    u2 = parent.task.button("U2").custom_id
    child = parent.press("U2")
    assert child is not None
    placed = next(
        i for i, (name, state) in enumerate(sent)
        if name == "grid" and f"IPY_MODEL_{child.model_id}" in state.get("children", [])
    )  # fmt: skip
    before = [state for name, state in sent[:placed] if name == "parent"]
    assert before == [{"pending_buttons": [u2]}], "only the click's own pending went first"
    after = {key for name, state in sent[placed:] if name == "parent" for key in state}
    assert {"used_buttons", "children", "pending_buttons"} <= after
    assert parent.card.used_buttons == [u2] and parent.card.pending_buttons == []


def test_a_cell_adding_many_cards_sends_the_page_a_few_messages_and_loses_none(studio):
    """Adding 20 finished tasks in one cell: the page gets the first card at once (a click's
    card is never held back), the others together, and the last message names every card."""
    tracker = studio.tracker
    tasks = []
    for i in range(20):  # one at a time: the simulated account's queue is short
        tasks.append(tracker.wait(tracker.imagine(f"a harbour {i}"), timeout=120))
    box = studio.cards_box
    sent: list[list[str]] = []
    send = box.comm.send

    def spy(data=None, metadata=None, buffers=None):
        if data and "children" in data.get("state", {}):
            sent.append(data["state"]["children"])
        return send(data=data, metadata=metadata, buffers=buffers)

    box.comm.send = spy
    studio._cards_sync.window = 2.0  # a window no loop of 20 adds outlasts on a loaded machine
    studio.add(tasks[0])
    assert len(sent) == 1, "the first card goes to the page at once"
    for task in tasks[1:]:
        studio.add(task)
    _until(lambda: sent and len(sent[-1]) == 20)
    assert len(sent) < 20, f"{len(sent)} messages for 20 cards"
    assert sent[-1] == [f"IPY_MODEL_{view.model_id}" for view in box.children]
    assert [view.task.id for view in box.children] == [task.id for task in tasks]


def test_a_finished_card_added_to_a_studio_reaches_the_page_whole_in_its_opening_messages(
    studio, monkeypatch
):
    """Each message costs a big Studio's page a pass over its grid: a finished task's card
    opens with all it shows — the task's state, its cached image, its marks, its place in the
    grid, its prompts' Edit — and no update of its own follows."""
    tracker = studio.tracker
    earlier, task = (tracker.wait(tracker.imagine(p), timeout=120) for p in ("a quay", "a buoy"))
    assert tracker.cache.drain(60)
    studio.add(earlier)  # the new card goes before it: a CSS order of its own, not 0
    sent: list[tuple[str, str, dict]] = []

    def publish(comm, msg_type, data=None, metadata=None, buffers=None, **keys):
        sent.append((comm.comm_id, msg_type, dict(data or {})))

    # what the kernel hands to the page: every widget message ends in its comm's publish_msg
    monkeypatch.setattr(comm.DummyComm, "publish_msg", publish)
    view = studio.add(task)
    IMAGER.submit(lambda: None).result(timeout=30)  # a marks or image thread would have run …
    time.sleep(0.5)  # … and sent by now: none was asked for
    mine = {view.model_id, view.card.model_id, view.layout.model_id}
    to_the_card = [(cid, kind) for cid, kind, _ in sent if cid in mine]
    assert sorted(to_the_card) == sorted((cid, "comm_open") for cid in mine), (
        "three opening messages, no update after them"
    )
    opened = {cid: data for cid, kind, data in sent if kind == "comm_open"}
    card = opened[view.card.model_id]["state"]
    assert card["status"] == "SUCCESS" and card["task_id"] == task.id
    assert card["prompt"] == "a buoy" and card["buttons"] and card["can_use_prompt"] is True
    assert card["marks"] == {"favourite": False, "rating": 0, "tags": []}
    assert ["image"] in opened[view.card.model_id]["buffer_paths"], "the cached image with it"
    assert card["image_size"] == [2048, 2048] and card["is_preview"] is False
    assert opened[view.layout.model_id]["state"]["order"] == view.layout.order
    assert int(view.layout.order) < int(studio.cards[earlier.id].layout.order)
    assert view.card.image and view.picture().jpeg, "the saved snapshot has its picture too"


def test_closing_a_studio_closes_its_cards_and_they_stop_following_their_tasks(studio):
    parent = studio.imagine("a paper lantern")
    _until(lambda: parent.card.status == "SUCCESS")
    child = parent.press("U1")
    views = [parent, child]
    tracker = studio.tracker

    def followers(only_cards=False):
        found = [
            callback
            for view in views
            if view.task.id in tracker._tracked
            for callback in tracker._tracked[view.task.id].subscribers
        ]
        return [c for c in found if getattr(c, "__self__", None) in views] if only_cards else found

    assert len(followers(only_cards=True)) == 2
    studio.close()
    assert all(v.comm is None and v.card.comm is None for v in views), "no card's model lives on"
    assert studio.cards_box.comm is None and studio.bar.comm is None
    assert followers(only_cards=True) == [], "a closed card no longer follows its task"
    # the parent's watch of its press's answer (a late MODAL) ends with the job
    tracker.wait(child.task.id, timeout=60)
    _until(lambda: followers() == [])


def test_cards_carry_their_front_end_once_not_each(studio):
    # anywidget sends a widget's module with every instance (a card's is ~58 kB): the page and a
    # saved notebook get it once, in one model every card names
    first, second = studio.imagine("a kite"), studio.imagine("a kite at dusk")
    holder = Widget.widgets[first.card._source_model]
    assert second.card._source_model == holder.model_id and holder.comm is not None
    assert holder.source == module_source(CardModel._esm)
    assert "export default { render };" in holder.source and len(holder.source) > 20_000
    state = json.dumps(second.card.get_state(), default=str)
    assert len(state) < 8_000 and "adoptStyles(" not in state, "a card's state is small"
    # anywidget adds its traits to each instance, and traitlets made a class for each: cards of
    # one kind share one (made once), and each still carries the module and anywidget's id
    assert type(first.card) is type(second.card) and type(first.card).__mro__[1] is CardModel
    for card in (first.card, second.card):
        sent = card.get_state()
        assert sent["_esm"] == CardModel._esm and sent["_anywidget_id"].endswith(".CardModel")
    closed = holder.model_id
    holder.close()  # e.g. Widget.close_all(): the next card brings a new one
    third = studio.imagine("a kite at night")
    assert third.card._source_model != closed
    assert Widget.widgets[third.card._source_model].source == holder.source


def test_custom_zoom_opens_an_inline_prompt_and_checks_the_zoom(studio):
    grid = studio.imagine("a desert road --v 7")  # V8.1 (the default) has no zoom buttons
    _until(lambda: grid.card.status == "SUCCESS")
    single = grid.press("U1")
    _until(lambda: single.card.status == "SUCCESS")
    assert single.press("Custom Zoom") is None
    modal = single.card.modal
    assert modal["kind"] == "custom_zoom" and modal["prompt"] == "a desert road --v 7 --zoom 1.5"
    assert single.send_modal("a desert road --v 7 --zoom 5") is None
    assert single.card.modal["invalid"] is True
    zoomed = single.send_modal("a desert road --v 7 --zoom 1.2")
    assert zoomed is not None and single.card.modal == {}
    _until(lambda: zoomed.card.status == "SUCCESS")
    assert zoomed.card.lineage == "Custom Zoom of “a desert road”"


def test_a_dialogs_typing_time_is_not_counted_as_queued(studio):
    grid = studio.imagine("a desert road --v 7")  # V7 has Custom Zoom
    _until(lambda: grid.card.status == "SUCCESS")
    single = grid.press("U1")
    _until(lambda: single.card.status == "SUCCESS")
    assert single.press("Custom Zoom") is None
    time.sleep(1.5)  # the person types in the dialog
    zoomed = single.send_modal("a desert road --v 7 --zoom 1.2")
    _until(lambda: zoomed.card.status == "SUCCESS")
    task = zoomed.task
    waited = (task.start_time - task.submit_time).total_seconds()
    assert waited >= 1.4, f"the server counts from the press ({waited:.2f} s)"
    assert zoomed.card.timings["queued"] < 1.0, zoomed.card.timings
    assert zoomed.card.timings["total"] < waited + 1.0


def test_a_prompt_is_checked_before_it_is_sent(studio):
    for bad, reason in (
        ("tea --v 9", "--v 9 is not a Midjourney version"),
        ("--ar 3:2", "the prompt is empty"),
        ("a fox --niji 7 --v 7", "cannot be used together"),
    ):
        with pytest.raises(ValidationError, match=reason):
            studio.imagine(bad)
        assert reason in studio.bar.error
    assert studio.cards == {} and studio.tracker.store.history() == [], "nothing was sent"


def test_errors_show_in_the_studio_and_the_kernel_carries_on(studio):
    with pytest.raises(ValidationError):  # from code it raises, as studio.sweep does …
        studio.imagine("   ")
    assert "prompt" in studio.bar.error  # … and the bar shows it
    studio.bar.error = ""
    sent: list[dict] = []
    studio.bar.send = sent.append  # what the box hears back
    enter = {"type": "imagine", "seq": 7, "prompt": "   "}
    studio._on_message(studio.bar, enter, [])  # Enter: shown under the box, nothing raised
    (reply,) = sent
    assert reply["type"] == "refused" and reply["prompt"] == "   " and reply["seq"] == 7
    assert "blank" in reply["problems"][0]
    assert studio.imagine("fine again") is not None and studio.bar.error == ""


def test_no_trait_ever_holds_the_key(studio):
    view = studio.imagine("a lighthouse")
    _until(lambda: view.card.status == "SUCCESS")
    for widget in (studio.bar, view.card):
        state = widget.get_state()
        text = json.dumps({k: v for k, v in state.items() if not isinstance(v, bytes)})
        assert KEY not in text
        assert all(KEY.encode() not in v for v in state.values() if isinstance(v, bytes))


def test_standalone_task_view_shows_children_below_itself(studio):
    task = studio.tracker.imagine("a kite")
    view = TaskView(task, tracker=studio.tracker)
    _until(lambda: view.card.status == "SUCCESS")
    child = view.press("V1")
    assert child in view.children


def test_the_studio_counts_a_job_the_server_has_not_started_as_queued_not_running(tmp_path):
    """The Studio's summary says what its cards say: a job waiting for a free slot is queued."""
    with sim.start(speed=2, concurrency=1) as server:  # a job ~26 s: the second waits
        client = Client(server.url)
        tracker = Tracker(client, store=HistoryStore(tmp_path / "h.sqlite3"))
        try:
            studio = Studio(client, tracker=tracker)
            first = studio.imagine("a red fox in snow")
            second = studio.imagine("a lighthouse at dusk")
            _until(lambda: first.card.status == "IN_PROGRESS")
            assert second.card.status in ("NOT_START", "SUBMITTED"), "one slot: it waits"
            assert second.card.status_text == "queued", "the card says so too"
            _until(lambda: studio.bar.counts.get("running") == 1)
            assert studio.bar.counts == {"cards": 2, "running": 1, "queued": 1, "failed": 0}
        finally:
            tracker.close()


def test_a_sweep_submits_the_product_a_few_at_a_time(tmp_path):
    with sim.start(speed=100, concurrency=2, queue_size=1) as server:
        client = Client(server.url)
        tracker = Tracker(client, store=HistoryStore(tmp_path / "h.sqlite3"))
        studio = Studio(client, tracker=tracker)
        sweep = studio.sweep(
            "a red fox in snow", ar=["1:1", "3:2"], stylize=[50, 250, 750], max_in_flight=3
        )
        items = sweep.wait(timeout=60)
        assert len(items) == 6 and all(i.task.status.value == "SUCCESS" for i in items)
        prompts = sorted(i.task.prompt for i in items)
        assert "a red fox in snow --ar 3:2 --stylize 750" in prompts
        assert sweep.labels[items[0].task.id] == {"ar": "1:1", "stylize": 50}
        assert max(server.stats()["submits_by_state"].values()) == 1, "no duplicate submits"
        view = studio.sweeps[0]
        assert len(view.views) == 6 and studio.bar.sweep_text.startswith("sweep 6/6 done")
        wide = next(v for v in view.views.values() if "--ar 3:2" in v.task.prompt)
        _until(lambda: len(wide.card.image_size) == 2)
        assert wide.card.image_size[0] > wide.card.image_size[1], "--ar 3:2 gives a wide grid"
        tracker.close()


def test_a_sweep_view_making_a_card_while_the_tracker_tells_a_change_does_not_deadlock(tmp_path):
    """The sweep's thread makes a card for its newest task (the card subscribes to the tracker)
    while the tracker's thread, telling a change, refreshes the same sweep view: both must go
    on (the card used to be made under the view's lock, which the tracker's call waited for
    while the card waited for the tracker: the sweep stalled with jobs "running" forever)."""
    with sim.start(speed=200) as server:
        tracker = Tracker(Client(server.url), store=HistoryStore(tmp_path / "h.sqlite3"))
        sweep = Sweep("a red fox in snow", {"ar": ["1:1", "3:2"]}, tracker)
        view = SweepView(sweep)
        sweep.items[0].task = tracker.imagine(sweep.items[0].prompt)  # as the sweep submits
        done: list[str] = []

        def tracker_telling_a_change() -> None:
            with tracker._dispatch_lock:  # as the poller holds it while it calls subscribers
                sweep_thread.start()
                time.sleep(0.5)  # the sweep's thread is making the card by now
                view._refresh(sweep)  # what the sweep's subscription does on this thread
            done.append("tracker")

        def sweep_making_its_card() -> None:
            view._refresh(sweep)
            done.append("sweep")

        sweep_thread = threading.Thread(target=sweep_making_its_card, daemon=True)
        teller = threading.Thread(target=tracker_telling_a_change, daemon=True)
        teller.start()
        teller.join(60)
        sweep_thread.join(60)
        assert sorted(done) == ["sweep", "tracker"], f"stalled: only {done} went on"
        assert list(view.views) == [sweep.items[0].task.id], "one card for the task, not two"
        tracker.close()


def test_remix_opens_a_prefilled_prompt_in_the_card(tmp_path):
    with sim.start(speed=200, remix=True) as server:
        client = Client(server.url)
        tracker = Tracker(client, store=HistoryStore(tmp_path / "h.sqlite3"))
        view = TaskView(tracker.imagine("a teapot"), tracker=tracker)
        view.wait(timeout=30)
        assert view.press("V2") is None
        assert view.card.modal["kind"] == "remix" and view.card.modal["prompt"] == "a teapot"
        child = view.send_modal("a golden teapot")
        assert child.wait(timeout=30).prompt == "a golden teapot"
        tracker.close()


def test_a_card_says_retrying_while_the_server_fails_and_recovers(tmp_path):
    with sim.start(speed=100) as server:
        client = Client(server.url, timeout=(2, 2))
        tracker = Tracker(client, store=HistoryStore(tmp_path / "h.sqlite3"))
        view = TaskView(tracker.imagine("a stormy sea"), tracker=tracker)
        server.configure(error_rate=1.0, paths=["/mj/task/"])
        _until(lambda: "retrying" in view.card.retrying, timeout=30)
        server.configure(error_rate=0.0)
        _until(lambda: view.card.status == "SUCCESS" and view.card.retrying == "", timeout=60)
        tracker.close()
