"""The gallery's library, kernel side: marks from the gallery's clicks land in the history file,
the library's filters find them, a new gallery shows them, the ticked images become one zip whose
images carry their records, and "Copy as code" answers with the recipe (card and gallery)."""

from __future__ import annotations

import io
import json
import time
import zipfile

import pytest

import mjwidgets as mjw
from mjwidgets import Client, sim
from mjwidgets.store import HistoryStore
from mjwidgets.tracking import Tracker
from mjwidgets.widgets.historyview import HistoryView
from mjwidgets.widgets.taskview import TaskView

pytestmark = pytest.mark.timeout(120)


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
    tracker = Tracker(Client(server.url), store)
    wide = tracker.wait(tracker.imagine("a lighthouse on a basalt cliff --ar 3:2 --v 7"), 20)
    single = tracker.wait(tracker.action(wide, "U2"), 20)
    boat = tracker.wait(tracker.imagine("a paper boat on a pond"), 20)
    assert tracker.cache.drain(timeout=20)
    yield {"tracker": tracker, "store": store, "wide": wide, "single": single, "boat": boat}
    tracker.close()
    server.stop()
    store.close()


class _Sent:
    """What the gallery (or a card) sends to the page: messages and their buffers."""

    def __init__(self, widget):
        self.messages: list[tuple[dict, list]] = []
        widget.send = lambda content, buffers=None: self.messages.append((content, buffers or []))

    def of(self, kind):
        return [(c, b) for c, b in self.messages if c.get("type") == kind]


def _timeless(code):
    """A recipe without its "# From the history of …, <minute>" line."""
    return [line for line in code.splitlines() if not line.startswith("# From the history")]


def _click(view, content):
    view._on_message(view.gallery, content, [])


def test_marks_from_the_gallery_filter_and_survive_a_new_gallery(made):
    view = HistoryView(tracker=made["tracker"])
    single, boat = made["single"].id, made["boat"].id
    try:
        items = view.gallery.items
        _click(view, {"type": "rate", "task_id": single, "stars": 4})
        assert view.gallery.items is items  # a mark re-sends the marks, not the thumbnails
        _click(view, {"type": "favourite", "task_id": single, "on": True})
        _click(view, {"type": "tag", "task_id": single, "tag": "  Keeper "})
        _click(view, {"type": "tag", "task_id": boat, "tag": "water"})
        assert view.gallery.error == ""
        assert view.gallery.marks[single] == {"favourite": True, "rating": 4, "tags": ["keeper"]}
        assert {"keeper", "water"} <= set(view.gallery.facets["tags"])
        assert "7" in view.gallery.facets["versions"]
        assert {"3:2", "1:1"} <= set(view.gallery.facets["aspects"])

        view.gallery.tag = "keeper"  # as the page's select sets it
        assert [t.id for t in view.tasks] == [single]
        view.gallery.tag = ""
        view.gallery.min_rating = 3
        assert [t.id for t in view.tasks] == [single]
        view.gallery.min_rating = 0
        view.gallery.favourite = True
        assert [t.id for t in view.tasks] == [single]
        assert [t.id for t in view.search(aspect="3:2")] == [made["single"].id, made["wide"].id]
        assert [t.id for t in view.search(version="7")] == [single, made["wide"].id]
        assert [t.id for t in view.search(kind="video")] == []
        assert boat in [t.id for t in view.search(kind="image")]

        _click(view, {"type": "tag", "task_ids": [single, boat], "tag": "sea"})  # the ticked
        assert view.gallery.marks[boat]["tags"] == ["sea", "water"]
        assert view.gallery.message == "2 images: tagged “sea”"
        _click(view, {"type": "untag", "task_ids": [single, boat], "tag": "sea"})
        _click(view, {"type": "rate", "task_id": single, "stars": 0})  # a second click clears
        _click(view, {"type": "untag", "task_id": boat, "tag": "water"})
        assert made["store"].library.marks(single).rating is None
        assert made["store"].library.marks(boat).tags == ()
        _click(view, {"type": "rate", "task_id": single, "stars": 5})
    finally:
        view.close()
    fresh = HistoryView(tracker=made["tracker"])  # a new widget reading the same store
    try:
        fresh.search(min_rating=5)
        assert [t.id for t in fresh.tasks] == [single]
        assert fresh.gallery.marks[single]["tags"] == ["keeper"]
    finally:
        fresh.close()


def test_a_bad_mark_is_said_in_the_gallery(made):
    view = HistoryView(tracker=made["tracker"])
    try:
        _click(view, {"type": "rate", "task_id": made["boat"].id, "stars": 9})
        assert "1 to 5" in view.gallery.error
        _click(view, {"type": "tag", "task_id": made["boat"].id, "tag": " "})
        assert "tag" in view.gallery.error
    finally:
        view.close()


def test_ticked_images_download_as_a_zip_with_their_records(made, tmp_path):
    view = HistoryView(tracker=made["tracker"])
    sent = _Sent(view.gallery)
    try:
        view.selected = [made["single"].id, made["boat"].id]
        _click(view, {"type": "download"})
        _until(lambda: sent.of("zip"))
        content, buffers = sent.of("zip")[0]
        assert content["filename"].endswith(".zip") and len(buffers) == 1
        archive = zipfile.ZipFile(io.BytesIO(buffers[0]))
        images = [n for n in archive.namelist() if "/images/" in n]
        assert len(images) == 2
        for name in images:
            path = tmp_path / name.rsplit("/", 1)[-1]
            path.write_bytes(archive.read(name))
            record = mjw.provenance(path)
            assert record["id"] in (made["single"].id, made["boat"].id)
            assert record["prompt"]
        manifest = json.loads(archive.read(next(n for n in archive.namelist()
                                                if n.endswith("manifest.json"))))  # fmt: skip
        assert {t["id"] for t in manifest["tasks"]} == {made["single"].id, made["boat"].id}
    finally:
        view.close()


def test_copy_as_code_answers_with_the_recipe(made):
    view = HistoryView(tracker=made["tracker"])
    sent = _Sent(view.gallery)
    try:
        _click(view, {"type": "recipe", "task_id": made["single"].id})
        _until(lambda: sent.of("recipe"))
        code = sent.of("recipe")[0][0]["code"]
        assert "ButtonKind.UPSAMPLE, index=2" in code
        assert "a lighthouse on a basalt cliff --ar 3:2 --v 7" in code
    finally:
        view.close()
    card = TaskView(made["single"], tracker=made["tracker"])
    card_sent = _Sent(card.card)
    try:
        card._on_message(card.card, {"type": "recipe"}, [])
        _until(lambda: card_sent.of("recipe"))
        answer = card_sent.of("recipe")[0][0]
        assert answer["task_id"] == made["single"].id
        assert _timeless(answer["code"]) == _timeless(mjw.recipe(made["single"]))
    finally:
        card.close()


def test_a_card_rates_and_hearts_its_task_and_a_new_card_shows_it(made):
    boat = made["boat"]
    card = TaskView(boat, tracker=made["tracker"])
    try:
        card._on_message(card.card, {"type": "rate", "task_id": boat.id, "stars": 3}, [])
        card._on_message(card.card, {"type": "favourite", "task_id": boat.id, "on": True}, [])
        _until(lambda: card.card.marks.get("rating") == 3 and card.card.marks.get("favourite"))
        assert made["store"].library.marks(boat.id).rating == 3
    finally:
        card.close()
    again = TaskView(boat, tracker=made["tracker"])
    try:
        _until(lambda: again.card.marks.get("rating") == 3)
        assert again.card.marks["favourite"] is True
    finally:
        again.close()
    made["store"].library.rate(boat.id, None)
    made["store"].library.favourite(boat.id, False)
