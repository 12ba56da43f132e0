"""HistoryView and Compare, kernel side: search, filters, lineage, reuse, compare, restarts."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest
from PIL import Image

from mjwidgets import Client, Studio, sim
from mjwidgets.errors import TaskFailed, ValidationError
from mjwidgets.store import HistoryStore
from mjwidgets.tracking import Tracker
from mjwidgets.widgets.compare import Compare
from mjwidgets.widgets.historyview import HistoryView

pytestmark = pytest.mark.timeout(300)  # catches a hang; a loaded machine is slow, not hung


def _until(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A grid and its U1, another prompt, and a failed task, in one store."""
    home = tmp_path_factory.mktemp("home")
    store = HistoryStore(home / "history.sqlite3")
    server = sim.start(speed=200)
    client = Client(server.url)
    tracker = Tracker(client, store)
    grid = tracker.wait(tracker.imagine("a lighthouse on a basalt cliff --ar 3:2"), timeout=20)
    single = tracker.wait(tracker.action(grid, "U1"), timeout=20)
    boat = tracker.wait(tracker.imagine("a paper boat on a pond --s 750"), timeout=20)
    server.configure(fail_rate=1.0, fail_at=20)
    failed = tracker.imagine("a doomed lighthouse")
    with pytest.raises(TaskFailed):
        tracker.wait(failed, timeout=20)
    server.configure(fail_rate=0.0)
    assert tracker.cache.drain(timeout=20)
    yield {
        "server": server,
        "client": client,
        "tracker": tracker,
        "store": store,
        "grid": grid,
        "single": single,
        "boat": boat,
        "failed": failed,
    }
    tracker.close()
    server.stop()
    store.close()


@pytest.fixture
def view(made):
    history = HistoryView(tracker=made["tracker"])
    yield history
    history.close()


def _ids(tasks):
    return [t.id for t in tasks]


def test_gallery_lists_newest_first_with_small_webp_thumbnails(made, view):
    items = view.gallery.items
    mine = {made[k].id for k in ("failed", "boat", "single", "grid")}
    ids = [i["task_id"] for i in items if i["task_id"] in mine]
    assert ids == [made[k].id for k in ("failed", "boat", "single", "grid")]
    thumbs = {i["task_id"]: i["thumb"] for i in items}
    for key in ("grid", "single", "boat"):
        data = thumbs[made[key].id]
        assert data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) <= 20_000
    assert thumbs[made["failed"].id] is None  # no image: a status tile instead
    by_id = {i["task_id"]: i for i in items}
    assert by_id[made["single"].id]["via"] == "U1"
    assert by_id[made["failed"].id]["status"] == "FAILURE"
    assert view.gallery.total == len(items) >= 4 and "UPSCALE" in view.gallery.actions


def test_search_and_filters(made, view):
    assert {made["single"].id, made["grid"].id} <= set(_ids(view.search("BASALT")))
    assert made["boat"].id not in _ids(view.search("BASALT"))
    assert _ids(view.search("lighthouse", status="FAILURE")) == [made["failed"].id]
    assert made["single"].id in _ids(view.search(action="upscale"))
    assert {t.action for t in view.search(action="upscale")} == {"UPSCALE"}
    today = date.today()
    assert len(view.search(since=today, until=today)) >= 4
    assert view.search(since=today + timedelta(days=1)) == []
    assert view.search(until=(today - timedelta(days=1)).isoformat()) == []
    assert view.search("no such words anywhere") == [] and view.gallery.items == []
    # the front end sets the traits; the kernel queries again
    view.search()
    view.gallery.query = "paper boat"
    assert [i["task_id"] for i in view.gallery.items] == [made["boat"].id]
    view.gallery.query = ""
    view.gallery.since = "not a date"
    assert "not a date" in view.gallery.error


def test_a_click_shows_the_card_and_the_lineage_tree(made, view):
    view._on_message(None, {"type": "select", "task_id": made["grid"].id}, [])
    card = view.card
    assert card is not None and view.card_box.children == (card,)
    assert card.card.task_id == made["grid"].id and card.card.status == "SUCCESS"
    assert [b["label"] for b in card.card.buttons][:4] == ["U1", "U2", "U3", "U4"]
    _until(lambda: len(card.card.image) > 0)
    tree = view.gallery.lineage
    assert tree["task_id"] == made["grid"].id and tree["current"] is True
    assert [(c["task_id"], c["via"]) for c in tree["children"]] == [(made["single"].id, "U1")]
    # the child's tree is the same tree, with the child marked
    view.show(made["single"].id)
    tree = view.gallery.lineage
    assert tree["task_id"] == made["grid"].id and tree["current"] is False
    assert tree["children"][0]["current"] is True
    assert card.card.comm is None or card._closed  # the previous card was closed
    # its buttons still work: U2 on the grid makes a child card
    view.show(made["grid"].id)
    child = view.card.press("U2")
    assert child is not None and child in view.card.children
    _until(lambda: child.card.status == "SUCCESS")


def test_reuse_prompt_fills_the_text_field_or_the_studio(made, view):
    view.show(made["boat"].id)
    view._on_message(None, {"type": "reuse", "task_id": made["boat"].id}, [])
    assert view.prompt_box.value == "a paper boat on a pond --s 750"
    assert view.prompt_box.layout.display is None  # visible now
    studio = Studio(made["client"], tracker=made["tracker"])
    sent = []
    studio.bar.send = sent.append
    with_studio = HistoryView(studio=studio)
    try:
        assert with_studio.tracker is made["tracker"] and with_studio.gallery.has_studio
        assert with_studio.reuse(made["grid"].id) == "a lighthouse on a basalt cliff --ar 3:2"
        assert sent == [{"type": "set_prompt", "prompt": "a lighthouse on a basalt cliff --ar 3:2"}]
        with pytest.raises(ValidationError):
            with_studio.reuse()  # nothing shown yet
    finally:
        with_studio.close()


def test_ticked_thumbnails_open_a_compare_view(made, view):
    view._on_message(None, {"type": "compare"}, [])
    assert "two or more" in view.gallery.error and view.compare_view is None
    view.gallery.selected = [made["grid"].id, made["boat"].id]
    view._on_message(None, {"type": "compare"}, [])
    compare = view.compare_view
    assert compare is not None and view.compare_box.children == (compare,)
    assert [i["task_id"] for i in compare.items] == [made["grid"].id, made["boat"].id]
    ops = {(op, token) for op, token in compare.items[1]["diff"]}
    assert {("removed", "lighthouse"), ("added", "boat"), ("added", "--s 750")} <= ops
    assert {p["name"]: p["values"] for p in compare.params} == {
        "ar": ["3:2", None],
        "stylize": [None, "750"],
    }


def test_new_tasks_appear_without_a_refresh(made, view):
    task = made["tracker"].imagine("a glass greenhouse at night")
    made["tracker"].wait(task, timeout=20)
    _until(lambda: any(i["task_id"] == task.id and i["thumb"] for i in view.gallery.items))


def test_after_a_restart_the_old_servers_tasks_are_still_there(made):
    """A new kernel: a new embedded simulator (another URL), the same history file."""
    with sim.start(speed=200) as other:
        client = Client(other.url)
        with Tracker(client, made["store"], cache=None) as tracker:
            history = HistoryView(tracker=tracker)
            try:
                found = history.search("basalt")  # earlier tests may have added a U2
                assert {made["single"].id, made["grid"].id} <= set(_ids(found))
                # they know their old server, and no live client answers for them
                assert all(t.server == made["grid"].server and t.backend is None for t in found)
                assert all(i["thumb"] and i["other_server"] for i in history.gallery.items)
                card = history.show(made["grid"].id)
                assert card is not None and "another server" in history.gallery.current_note
                _until(lambda: len(card.card.image) > 0)
                assert history.gallery.lineage["children"][0]["via"] == "U1"
                only_here = HistoryView(tracker=tracker, all_servers=False)
                assert only_here.tasks == []
                only_here.close()
            finally:
                history.close()


def test_compare_shows_images_at_one_width_and_needs_two(made, tmp_path):
    red = Image.new("RGB", (400, 300), "red")
    blue = Image.new("RGB", (200, 300), "blue")
    path = tmp_path / "blue.png"
    blue.save(path)
    compare = Compare([(red, "a red square --ar 4:3"), (str(path), "a blue square --ar 2:3")])
    assert compare.image_width == 440
    assert [i["size"] for i in compare.items] == [[400, 300], [200, 300]]
    assert compare.items[0]["diff"][0] == ["same", "a"]
    assert ["removed", "red"] in compare.items[1]["diff"]
    assert Compare([red, blue, red], width=300).image_width == 300
    with pytest.raises(ValidationError):
        Compare([red])
    by_id = Compare([made["grid"].id, made["single"].id], tracker=made["tracker"])
    assert [i["label"] for i in by_id.items] == [
        f"#{made['grid'].id} · imagine",
        f"#{made['single'].id} · upscale · U1",
    ]
    assert compare.params == [{"name": "ar", "values": ["4:3", "2:3"]}]
