"""The library: favourites, ratings and tags on history items, filters by them and by version,
aspect ratio and kind, a zip of a selection with its records, Compare choices — and learning
from picks ("you kept 2 of 2 at --stylize 250")."""

from __future__ import annotations

import json
import sqlite3
import zipfile

import pytest
from PIL import Image

import mjwidgets as mjw
from mjwidgets import sim
from mjwidgets.client import Client
from mjwidgets.errors import ValidationError
from mjwidgets.library import Marks
from mjwidgets.models import Status
from mjwidgets.schema import _SCHEMA_V1, SCHEMA_VERSION
from mjwidgets.store import HistoryStore
from mjwidgets.sweep import Sweep
from mjwidgets.tracking import Tracker

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def studio(tmp_path):
    with sim.start(speed=200) as server:
        store = HistoryStore(tmp_path / "history.sqlite3")
        with Tracker(Client(server.url), store, prefetch="final") as tracker:
            yield server, tracker, store
            tracker.cache.drain(30)
        store.close()


def test_marks_and_tags_filter_the_history_with_version_aspect_and_kind(studio):
    _, tracker, store = studio
    fox = tracker.imagine("a red fox --v 6.1 --ar 3:2").wait(timeout=60)
    owl = tracker.imagine("an owl --niji 6").wait(timeout=60)
    cat = tracker.imagine("a cat --v 7").wait(timeout=60)
    single = tracker.action(cat, "U1").wait(timeout=60)
    video = tracker.action(single, "Animate (High motion)").wait(timeout=120)
    library = store.library  # what a card's star or a gallery's tag box calls, in one line
    library.favourite(fox)
    library.rate(fox, 5)
    library.rate(owl.id, 2)
    library.tag(fox, "Foxes", "keep")
    library.tag(owl, "keep")
    assert library.marks(fox) == Marks(True, 5, ("foxes", "keep"), "")

    def ids(**filters):
        return {task.id for task in store.history(**filters)}

    assert ids(favourite=True) == {fox.id}
    assert ids(min_rating=2) == {fox.id, owl.id} and ids(min_rating=4) == {fox.id}
    assert ids(tag="keep") == {fox.id, owl.id} and ids(tag=["keep", "foxes"]) == {fox.id}
    assert ids(version="6.1") == ids(version="--v 6.1") == {fox.id}
    assert ids(version="niji 6") == {owl.id}
    assert ids(version="7") == {cat.id, single.id, video.id}  # children share the prompt
    assert ids(aspect="3:2") == {fox.id} and owl.id in ids(aspect="1:1")
    assert ids(kind="video") == {video.id} and video.id not in ids(kind="image")
    assert ids(text="fox", favourite=True, min_rating=5) == {fox.id}
    facets = library.facets()
    assert {"6.1", "niji 6", "7"} <= set(facets["versions"]) and "3:2" in facets["aspects"]
    assert facets["kinds"] == ["image", "video"] and facets["tags"] == ["keep", "foxes"]
    library.untag(fox, "keep")
    library.favourite(fox, on=False)
    library.rate(fox, None)
    assert library.marks(fox) == Marks(False, None, ("foxes",), "")
    with pytest.raises(ValidationError, match="1 to 5 stars"):
        library.rate(fox, 6)


def test_an_older_history_file_gains_the_library_and_keeps_its_tasks(tmp_path):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:  # a file written before the library existed
        old.executescript(_SCHEMA_V1)
        old.execute(
            "INSERT INTO tasks (server, id, prompt, status, first_seen, updated_at)"
            " VALUES ('http://s', '1', 'a fox --ar 16:9', 'SUCCESS', 1, 1)"
        )
        old.execute("PRAGMA user_version=1")
    store = HistoryStore(path)
    assert store.schema_version == SCHEMA_VERSION
    store.library.tag("1", "old")
    assert [t.id for t in store.history(tag="old", aspect="16:9")] == ["1"]
    store.close()


def test_a_selection_downloads_as_one_zip_with_its_records(studio, tmp_path):
    _, tracker, store = studio
    fox = tracker.imagine("a red fox").wait(timeout=60)
    single = tracker.action(fox, "U2").wait(timeout=60)
    tracker.cache.drain(30)
    path = mjw.export_zip([fox.id, single.id], tmp_path / "downloads", store=store)
    assert path == tmp_path / "downloads" / "selection.zip"
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        assert {"selection/manifest.json", "selection/contact-sheet.html"} <= names
        picture = f"selection/images/mj-{single.id}.png"
        with archive.open(picture) as member, Image.open(member) as opened:
            record = json.loads(opened.info["mjwidgets"])
        manifest = json.loads(archive.read("selection/manifest.json"))
    assert record["steps"][-1]["button"] == {"kind": "upsample", "index": 2}
    assert [row["id"] for row in manifest["tasks"]] == [fox.id, single.id]


def test_learning_from_picks_ranks_a_sweep_and_says_what_was_preferred(studio):
    _, tracker, store = studio
    sweep = Sweep("a red fox", {"stylize": [50, 250], "ar": ["1:1", "3:2"]}, tracker)
    sweep.start().wait(timeout=120)
    by_values = {(i.values["stylize"], i.values["ar"]): i.task for i in sweep.items}
    assert all(task.status is Status.SUCCESS for task in by_values.values())
    keep_a = by_values[(250, "1:1")]
    keep_b = by_values[(250, "3:2")]
    for task, button in ((keep_a, "U1"), (keep_a, "U3"), (keep_b, "U2")):
        tracker.action(task, button).wait(timeout=60)
    store.library.rate(by_values[(50, "3:2")], 2)
    store.library.rate(keep_b, 5)
    store.library.record_choice(keep_b, [keep_a, by_values[(50, "1:1")]], context="compare")
    prefs = mjw.preferences(sweep, store=store)
    assert prefs.picks[0].task.id == keep_b.id  # kept one, 5 stars, won in Compare
    assert prefs.picks[1].task.id == keep_a.id and prefs.picks[1].images_kept == 2
    assert prefs.best("stylize") == 250 and prefs.best("ar") == "3:2"
    said = prefs.sentences()
    assert said[0] == "you kept 2 of 2 at --stylize 250 (0 of 2 at --stylize 50)"
    assert "you rated --stylize 250 highest (5 ★ on average over 1 rating(s))" in said
    assert "in Compare you chose --stylize 250 1 time(s) out of 1" in said  # not vs itself
    assert "in Compare you chose --ar 3:2 2 time(s) out of 2" in said
    again = mjw.preferences(sweep.tasks, store=store)  # from the prompts alone, same story
    assert again.sentences()[0] == "you kept 2 of 2 at --stylize 250 (0 of 2 at --stylize 50)"
