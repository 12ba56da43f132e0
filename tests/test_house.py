"""One path per action, and the defects a newcomer found — each as the person would notice it.

A click costs one `track` and at most two store transactions; waiting on a tracked task costs no
request of its own; searching the history finds prompt words only; a key a server echoes never
reaches a card or the history file; a script gets its image without a tracker; importing the
package does not start the simulator's machinery.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from mjwidgets import sim
from mjwidgets.client import Client
from mjwidgets.errors import TaskFailed
from mjwidgets.export import export_tasks
from mjwidgets.models import Status
from mjwidgets.store import HistoryStore
from mjwidgets.tracking import Tracker
from mjwidgets.widgets import TaskView

pytestmark = pytest.mark.timeout(300)  # catches a hang; a loaded machine is slow, not hung

FETCH = "GET /mj/task/{id}/fetch"
KEY = "sk-house-0123456789abcdef"


def _until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


class _Transactions:
    """Counts the store's write transactions made by one thread (the poller runs beside it)."""

    def __init__(self, store: HistoryStore) -> None:
        self.thread = threading.get_ident()
        self.count = 0
        self._open = False
        store._db.set_trace_callback(self._seen)

    def _seen(self, statement: str) -> None:
        if threading.get_ident() != self.thread:
            return
        word = statement.lstrip().split(None, 1)[0].upper()
        if word == "BEGIN":
            self._open = True
            self.count += 1
        elif word in ("COMMIT", "ROLLBACK"):
            self._open = False
        elif word in ("INSERT", "UPDATE", "DELETE") and not self._open:
            self.count += 1  # an autocommit write is a transaction of its own


@pytest.fixture
def tracked(tmp_path):
    with sim.start(speed=200) as server:
        store = HistoryStore(tmp_path / "history.sqlite3")
        with Tracker(Client(server.url), store, prefetch="final") as tracker:
            yield server, tracker, store
        store.close()


def test_one_click_costs_one_track_and_two_store_transactions(tracked):
    _, tracker, store = tracked
    grid = tracker.wait(tracker.imagine("a red fox in snow"), timeout=30)
    view = TaskView(grid, tracker=tracker)
    tracks = tracker.stats()["tracks"]
    transactions = _Transactions(store)
    child = view.press("U2")  # what a click does, on this thread
    assert child is not None and child.task.id != grid.id
    assert tracker.stats()["tracks"] - tracks == 1
    assert transactions.count <= 2  # the intent before the POST, the task with the answer
    assert child.task is tracker.get(child.task.id)  # the card holds the tracked task itself
    stored = store.get(child.task.id)
    assert stored is not None and stored.parent_id == grid.id
    assert stored.origin_button is not None and stored.origin_button.label == "U2"


def test_waiting_on_a_tracked_task_makes_no_request_of_its_own(tracked):
    server, tracker, _ = tracked
    task = tracker.imagine("a lighthouse at dusk")
    before = server.stats()["requests"].get(FETCH, 0)
    assert task.wait(timeout=30).status is Status.SUCCESS  # the task's own wait()
    assert server.stats()["requests"].get(FETCH, 0) == before == 0
    assert tracker.stats()["task_fetches"] == 0


def test_history_search_finds_prompt_words_not_field_names(tracked):
    _, tracker, store = tracked
    fox = tracker.wait(tracker.imagine("a red fox in snow"), timeout=30)
    assert '"MID_JOURNEY"' in store._rows("SELECT raw FROM tasks WHERE id=?", (fox.id,))[0][0]
    assert store.history(text="journey") == []  # botType MID_JOURNEY is not a prompt word
    assert store.history(text="imageUrl") == [] and store.history(text="http") == []
    assert [t.id for t in store.history(text="FOX")] == [fox.id]


def test_a_key_the_server_echoes_reaches_no_card_and_no_history_file(tmp_path):
    with sim.start(speed=200, secret=KEY) as server:
        store = HistoryStore(tmp_path / "history.sqlite3")
        client = Client(server.url, KEY, auth="mj-api-secret")
        with Tracker(client, store) as tracker:
            server.configure(fail_rate=1.0, fail_at=20, fail_reason=f"token {KEY} rejected")
            task = tracker.imagine("a doomed prompt")
            view = TaskView(task, tracker=tracker)
            with pytest.raises(TaskFailed):
                task.wait(timeout=30)
            _until(lambda: view.card.status == "FAILURE")
            assert (
                "token *** rejected" in view.card.fail_reason and KEY not in view.card.fail_reason
            )
            assert KEY not in task.fail_reason and KEY not in str(task.raw)
        store.close()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path.name


def test_a_script_gets_its_image_without_a_tracker(tmp_path):
    with sim.start(speed=200) as server:
        client = Client(server.url)
        task = client.imagine("a red fox in snow")
        fetched = client.fetch(task.id).wait(timeout=30, interval=0.05)
        assert fetched.image().size[0] > 0
        assert len(fetched.tiles()) == 4
        saved = fetched.save(tmp_path)
        assert saved.exists() and saved.with_suffix(".json").exists()


def test_import_is_light_and_a_client_prints_nothing():
    code = (
        "import sys, mjwidgets\n"
        "print('sim' if 'mjwidgets.sim' in sys.modules else 'no sim',"
        " 'widgets' if 'anywidget' in sys.modules else 'no widgets')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["no", "sim", "no", "widgets"]
    client_code = "import mjwidgets\nmjwidgets.Client()\n"
    env_out = subprocess.run(
        [sys.executable, "-c", client_code],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "MJ_BASE_URL": "", "MJ_SIM_SPEED": "200"},
    )
    assert env_out.stdout == ""


def test_one_prompt_one_reading_in_the_sidecar_the_manifest_and_custom_zoom(tracked, tmp_path):
    # "—" is how a phone or a word processor types "--": every rule reads it the same way
    server, tracker, store = tracked
    task = tracker.imagine("a fox —ar 3:2 --s 250 --v 7").wait(60)  # V7 has Custom Zoom
    sidecar = json.loads(task.save(tmp_path / "saved").with_suffix(".json").read_text("utf-8"))
    folder = export_tasks([task], tmp_path / "export", store=store)
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    (row,) = [r for r in manifest["tasks"] if r["id"] == task.id]
    assert sidecar["parameters"] == row["parameters"]
    assert sidecar["parameters"] == {"ar": "3:2", "stylize": "250", "v": "7"}

    pending = tracker.action(tracker.action(task, "U1").wait(60), "Custom Zoom")
    assert pending.status is Status.MODAL
    zoomed = tracker.modal(pending, prompt="a fox —zoom 1.5").wait(60)  # accepted, not refused
    assert zoomed.status is Status.SUCCESS
