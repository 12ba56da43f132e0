"""The history store: journaled submits, searchable history, lineage, no secrets on disk."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from mjwidgets import sim
from mjwidgets.client import Client
from mjwidgets.errors import TransportError
from mjwidgets.models import Button, Status, Task
from mjwidgets.schema import SCHEMA_VERSION
from mjwidgets.store import HistoryStore, default_home
from mjwidgets.tracking import Tracker

pytestmark = pytest.mark.timeout(300)  # catches a hang; a loaded machine is slow, not hung


def _task(task_id: str, prompt: str, status: str = "SUCCESS", action: str = "IMAGINE", **extra):
    data = {"id": task_id, "action": action, "status": status, "prompt": prompt}
    data.update(extra)
    return Task.from_json(data)


@pytest.fixture
def store(tmp_path):
    with HistoryStore(tmp_path / "history.sqlite3") as opened:
        yield opened


def test_default_location_follows_mj_home_then_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("MJ_HOME", str(tmp_path / "mj"))
    assert default_home() == tmp_path / "mj"
    monkeypatch.delenv("MJ_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_home() == tmp_path / "xdg" / "mjwidgets"


def test_schema_is_versioned_and_in_wal_mode(store):
    assert store.schema_version == SCHEMA_VERSION >= 3  # the library's tables, the server facts
    with sqlite3.connect(store.path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # reopening migrates nothing
    assert HistoryStore(store.path).schema_version == SCHEMA_VERSION


def test_history_searches_prompt_status_action_and_dates(store):
    day = datetime(2025, 3, 1, tzinfo=timezone.utc)
    rows = [
        _task("1", "a red fox in snow", submitTime=int(day.timestamp() * 1000)),
        _task(
            "2", "a blue whale", "FAILURE", submitTime=int((day + timedelta(1)).timestamp() * 1e3)
        ),
        _task(
            "3",
            "red sails at dawn",
            action="UPSCALE",
            submitTime=int((day + timedelta(2)).timestamp() * 1000),
        ),
    ]
    store.record_many(rows, server="http://mj")
    assert [t.id for t in store.history("RED")] == ["3", "1"]  # newest first, any case
    assert [t.id for t in store.history(status="FAILURE")] == ["2"]
    assert [t.id for t in store.history(action="upscale")] == ["3"]
    assert [t.id for t in store.history(since=day + timedelta(hours=12))] == ["3", "2"]
    assert [t.id for t in store.history(until=day + timedelta(hours=12))] == ["1"]
    assert [t.id for t in store.history(limit=1)] == ["3"]
    assert store.history("100%_literal") == []  # LIKE wildcards in the text are literal


def test_every_status_change_is_an_event_and_the_last_raw_json_is_kept(store):
    task = _task("9", "a fox", "SUBMITTED")
    for status, progress in (
        ("SUBMITTED", 0),
        ("IN_PROGRESS", 15),
        ("IN_PROGRESS", 15),
        ("IN_PROGRESS", 46),
        ("SUCCESS", 100),
    ):
        task.update_from(_task("9", "a fox", status, progress=f"{progress}%"))
        store.record(task, "http://mj")
    events = store.events("9")
    assert [(e["status"], e["progress"]) for e in events] == [
        ("SUBMITTED", 0),
        ("IN_PROGRESS", 15),
        ("IN_PROGRESS", 46),
        ("SUCCESS", 100),
    ]
    assert store.get("9").raw["status"] == "SUCCESS"


def test_lineage_tree_has_ancestors_and_descendants(store):
    grid = _task("1", "a fox")
    up = _task("2", "a fox", action="UPSCALE")
    up.parent_id, up.origin_button = "1", Button("MJ::JOB::upsample::2::h", label="U2")
    vary = _task("3", "an owl", action="INPAINT")
    vary.parent_id, vary.origin_button = "2", Button("MJ::Inpaint::1::h::SOLO", "Vary (Region)")
    sibling = _task("4", "a fox", action="VARIATION")
    sibling.parent_id, sibling.origin_button = "1", Button("MJ::JOB::variation::1::h", "V1")
    store.record_many([grid, up, vary, sibling], server="http://mj")

    tree = store.lineage("2")
    assert tree.task.id == "1" and [c.task.id for c in tree.children] == ["2"]  # path only
    assert tree.children[0].via.label == "U2"
    assert tree.children[0].children[0].via.label == "Vary (Region)"
    assert "U2 → 2 UPSCALE SUCCESS" in str(tree)
    assert [t.id for t in store.ancestors("3")] == ["1", "2"]
    assert [n.task.id for n in store.lineage("1").walk()] == ["1", "2", "3", "4"]


def test_unfinished_lists_what_a_new_kernel_must_track(store):
    store.record_many(
        [
            _task("1", "done"),
            _task("2", "running", "IN_PROGRESS"),
            _task("3", "queued", "NOT_START"),
            _task("4", "waits for a mask", "MODAL"),
        ],
        server="http://a",
    )
    store.record(_task("5", "other server", "IN_PROGRESS"), server="http://b")
    timed_out = _task("6", "gave up", "IN_PROGRESS")
    store.mark_timed_out(timed_out, "http://a")
    assert sorted(t.id for t in store.unfinished("http://a")) == ["2", "3"]
    assert store.get("6").id == "6"  # a timed-out task stays queryable


def test_lost_submit_reply_is_kept_as_outcome_unknown_and_never_resent(store):
    faults = {"reset_rate": 1.0, "error_after_commit": 1.0, "paths": ["/mj/submit/"]}
    with sim.start(speed=200.0, faults=faults) as server:
        client = Client(server.url, journal=store.journal_for(server.url))
        with pytest.raises(TransportError) as caught:
            client.imagine("a red fox")
        assert caught.value.maybe_submitted
        [intent] = store.intents("unknown")
        assert intent.endpoint == "/mj/submit/imagine" and intent.body["prompt"] == "a red fox"
        assert server.stats()["submits_by_state"] == {intent.state: 1}  # sent exactly once
    # the intent was committed: another connection sees it
    with sqlite3.connect(store.path) as other:
        assert other.execute("SELECT outcome FROM intents").fetchall() == [("unknown",)]


def test_lost_presses_are_looked_up_without_reading_the_whole_journal(store):
    # every card asks for its lost presses as it is made: on a history of thousands of submits
    # a scan of the journal per card made adding cards slower the longer mjwidgets was used
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    store.intents("unknown", server="http://a")
    store._db.set_trace_callback(None)
    [query] = [s for s in statements if "FROM intents" in s]
    plan = " ".join(row[-1] for row in store.read(f"EXPLAIN QUERY PLAN {query}"))
    assert "USING INDEX intents_outcome" in plan and "SCAN intents" not in plan


def test_a_status_update_does_not_wait_for_the_disk_but_a_submit_does(store):
    """Statuses are the server's to tell again; a submit's record is what stops a resend."""
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    store.record_many([_task("t1", "a red fox", "IN_PROGRESS")], "http://mj")
    store.before_submit("/mj/submit/imagine", {"prompt": "a fox"}, "state-1")
    store._db.set_trace_callback(None)
    mode, written = "FULL", {}
    for statement in statements:
        if statement.startswith("PRAGMA synchronous="):
            mode = statement.split("=", 1)[1]
        elif statement.startswith("INSERT"):
            table = statement.split(" INTO ", 1)[1].split()[0]
            written.setdefault(table, set()).add(mode)
    assert written["tasks"] == {"NORMAL"} and written["intents"] == {"FULL"}
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL again


def test_the_api_key_never_reaches_the_store(tmp_path):
    secret = "sk-SECRET-123"
    with sim.start(speed=200.0, secret=secret) as server:
        client = Client(server.url, api_key=secret, auth="mj-api-secret")  # Plus reads this header
        store = HistoryStore(tmp_path / "history.sqlite3")
        with Tracker(client, store) as tracker:
            grid = tracker.wait(tracker.imagine("a fox in the snow"), timeout=30)
            tracker.wait(tracker.action(grid, "U1"), timeout=30)
            tracker.cache.drain(timeout=30)
        store.close()
    blob = b"".join(p.read_bytes() for p in tmp_path.glob("history.sqlite3*"))
    assert len(blob) > 10_000 and secret.encode() not in blob
    reopened = HistoryStore(tmp_path / "history.sqlite3")
    assert {t.status for t in reopened.history()} == {Status.SUCCESS}
