"""The tracker on the simulator: one batched request per tick, fallbacks, subscribers, deadlines."""

from __future__ import annotations

import statistics
import threading
import time

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from mjwidgets import sim
from mjwidgets.client import Client
from mjwidgets.errors import TaskTimeout
from mjwidgets.models import Status, Task
from mjwidgets.store import HistoryStore
from mjwidgets.tracking import ServerRhythm, TaskRhythm, Tracker

pytestmark = pytest.mark.timeout(300)  # catches a hang; a loaded machine is slow, not hung

LIST = "POST /mj/task/list-by-condition"
FETCH = "GET /mj/task/{id}/fetch"


@pytest.fixture
def store(tmp_path):
    with HistoryStore(tmp_path / "history.sqlite3") as opened:
        yield opened


def test_100_concurrent_tasks_with_one_batched_request_per_tick(store):
    with sim.start(speed=20.0, concurrency=100, queue_size=1000) as server:
        client = Client(server.url)
        with Tracker(client, store, prefetch="none") as tracker:
            tasks = [tracker.imagine(f"fox number {i}") for i in range(100)]
            done = [tracker.wait(task, timeout=40) for task in tasks]
            stats = tracker.stats()
        requests_seen = server.stats()["requests"]
    assert {task.status for task in done} == {Status.SUCCESS}
    assert all(task.buttons for task in tasks)  # the objects the user holds were updated
    assert requests_seen[LIST] == stats["ticks"] == stats["batch_requests"]
    assert requests_seen.get(FETCH, 0) == 0  # no re-read after a submit: its answer suffices
    assert stats["task_fetches"] == 0
    assert stats["ticks"] < 150  # 100 tasks × 9 updates each: far fewer polls than updates
    assert len(store.unfinished(client.base_url)) == 0


class _NoBatchProxy:
    """Forwards to the simulator but answers 404 to list-by-condition, like a server without it."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.list_calls = 0
        self.http = requests.Session()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @Request.application
    def _app(self, request: Request) -> Response:
        if request.path.endswith("/task/list-by-condition"):
            self.list_calls += 1
            return Response("", 404)
        upstream = self.http.request(
            request.method,
            self.target + request.full_path.rstrip("?"),
            data=request.get_data(),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        return Response(
            upstream.content,
            upstream.status_code,
            content_type=upstream.headers.get("Content-Type"),
        )

    def close(self) -> None:
        self._server.shutdown()


def test_a_server_without_list_by_condition_gets_per_task_fetches(store):
    with sim.start(speed=40.0, concurrency=10) as server:
        proxy = _NoBatchProxy(server.url)
        try:
            client = Client(proxy.url)
            with Tracker(client, store, prefetch="none") as tracker:
                tasks = [tracker.imagine(f"owl {i}") for i in range(5)]
                assert {tracker.wait(t, timeout=30).status for t in tasks} == {Status.SUCCESS}
                stats = tracker.stats()
        finally:
            proxy.close()
        fetches = server.stats()["requests"][FETCH]
    assert proxy.list_calls == 1 and stats["batch"] is False  # learnt once, not retried
    assert stats["task_fetches"] >= 5 and fetches == stats["task_fetches"]  # no re-reads


def test_progress_keeps_flowing_while_the_main_thread_is_busy(store):
    seen: list[tuple[Status, int]] = []
    # steps 1.4 s apart: a loaded machine may merge two looks, never most of the six steps
    with sim.start(speed=5.0) as server:
        with Tracker(Client(server.url), store) as tracker:
            task = tracker.imagine("a lighthouse in a storm")
            tracker.subscribe(task, lambda t: seen.append((t.status, t.progress)))
            busy_until = time.monotonic() + 60  # bounds a hang; ends once SUCCESS is seen
            total = 0
            while time.monotonic() < busy_until and (Status.SUCCESS, 100) not in seen:
                total += sum(i * i for i in range(20_000))  # a cell computing, holding the GIL
            during_busy = list(seen)
            tracker.wait(task, timeout=30)
    progress = [p for status, p in during_busy if status is Status.IN_PROGRESS]
    assert len(set(progress)) >= 3 and during_busy[-1][0] is Status.SUCCESS
    assert progress == sorted(progress)  # never goes backwards


def test_a_raising_subscriber_does_not_stop_the_others(store, caplog):
    good: list[int] = []

    def broken(task: Task) -> None:
        raise RuntimeError("a bug in a widget")

    with sim.start(speed=40.0) as server:
        with Tracker(Client(server.url), store, prefetch="none") as tracker:
            first = tracker.imagine("a cat")
            tracker.subscribe(first, broken)
            tracker.subscribe(first, lambda t: good.append(t.progress))
            tracker.wait(first, timeout=20)
            second = tracker.wait(tracker.imagine("a dog"), timeout=20)  # the poller lives on
    assert good[-1] == 100 and second.status is Status.SUCCESS
    assert "a bug in a widget" in caplog.text


def test_a_reshow_from_another_thread_waits_for_the_change_being_told(store):
    """A card re-shown because something else changed (what the server accepts) must not write
    the task's old status over the news: the re-show runs in order with the changes."""
    telling, release = threading.Event(), threading.Event()
    reshown: list[Status] = []

    def slow_subscriber(task: Task) -> None:
        if task.status is Status.SUCCESS and not telling.is_set():
            telling.set()
            release.wait(60)  # bounds a hang

    with sim.start(speed=40.0) as server:
        with Tracker(Client(server.url), store, prefetch="none") as tracker:
            task = tracker.imagine("a quiet harbour")
            tracker.subscribe(task, slow_subscriber)
            assert telling.wait(60), "the tracker never told the subscriber the task finished"
            other = threading.Thread(
                target=tracker.replay, args=(task, lambda t: reshown.append(t.status))
            )
            other.start()
            other.join(0.5)
            waited = not reshown  # still waiting while the change is being told
            release.set()
            other.join(60)
    assert waited, "the re-show ran in the middle of telling a change"
    assert reshown == [Status.SUCCESS]


def test_a_new_kernel_times_its_first_jobs_with_what_the_last_one_learnt(tmp_path):
    """How long the server's jobs take is kept in the history file: a new kernel's first
    batch is timed like a later one, not probed from nothing."""
    path = tmp_path / "history.sqlite3"
    with sim.start(speed=20.0) as server:
        with HistoryStore(path) as store, Tracker(Client(server.url), store) as first:
            tasks = [first.imagine(f"a heron at dawn {i}") for i in range(3)]
            for task in tasks:
                first.wait(task, timeout=60)
            learnt = first.rhythm.shortest_length("IMAGINE", False)
            assert learnt is not None and learnt > 0
        with HistoryStore(path) as store, Tracker(Client(server.url), store) as second:
            assert second.rhythm.shortest_length("IMAGINE", False) == pytest.approx(learnt)
            assert second.rhythm.interval("IMAGINE") is not None
        with sim.start(speed=20.0) as other, HistoryStore(path) as store:
            with Tracker(Client(other.url), store) as elsewhere:  # another server: its own
                assert elsewhere.rhythm.shortest_length("IMAGINE", False) is None


def test_a_remembered_rhythm_that_makes_no_sense_is_ignored():
    rhythm = ServerRhythm()
    rhythm.restore({"intervals": {"IMAGINE": ["x", -3, 7.0, 7.0]}, "lengths": [["IMAGINE"]],
                    "final_ratios": "nope"})  # fmt: skip
    rhythm.restore("not a dict")
    assert rhythm.interval("IMAGINE") == 7.0 and rhythm.shortest_length("IMAGINE", False) is None


def test_push_updates_arrive_through_the_notify_hook(store):
    with sim.start(speed=20.0) as server:
        with Tracker(Client(server.url), store, notify=True, prefetch="none") as tracker:
            assert tracker.notify_url.startswith("http://127.0.0.1:")
            task = tracker.wait(tracker.imagine("a heron"), timeout=20)
            stats = tracker.stats()
            assert (
                requests.post(tracker.notify_url.rsplit("/", 1)[0] + "/x", json={}).status_code
                == 404
            )  # only the secret path is accepted
    assert task.status is Status.SUCCESS and stats["pushes"] >= 5
    assert stats["ticks"] <= 4  # polling is only the safety net


def test_transient_errors_and_rate_limits_never_kill_the_poller(store):
    faults = {
        "error_rate": 0.4,
        "rate_limit_rate": 0.3,
        "retry_after": 0.2,
        "paths": ["/mj/task/list-by-condition"],
    }
    with sim.start(speed=40.0, concurrency=10, faults=faults) as server:
        with Tracker(Client(server.url), store, prefetch="none") as tracker:
            tasks = [tracker.imagine(f"storm {i}") for i in range(5)]
            assert {tracker.wait(t, timeout=40).status for t in tasks} == {Status.SUCCESS}


def test_a_task_past_its_deadline_times_out_and_stays_queryable(store):
    with sim.start(speed=40.0, faults={"stuck_rate": 1.0}, task_timeout=None) as server:
        client = Client(server.url)
        with Tracker(client, store, deadline=0.5, prefetch="none") as tracker:
            task = tracker.imagine("a stuck job")
            with pytest.raises(TaskTimeout):
                tracker.wait(task, timeout=20)
            assert tracker.is_timed_out(task) and not tracker.pending
        assert store.get(task.id).status is Status.IN_PROGRESS
        assert store.events(task.id)[-1]["note"] == "TaskTimeout"
        assert store.unfinished(client.base_url) == []
        assert client.fetch(task.id).status is Status.IN_PROGRESS


def test_one_tracker_per_client(monkeypatch, tmp_path):
    monkeypatch.setenv("MJ_HOME", str(tmp_path))  # the default store goes there
    with sim.start(speed=40.0) as server:
        client = Client(server.url)
        tracker = Tracker.for_client(client, resume=False, prefetch="none")
        try:
            assert Tracker.for_client(client) is tracker
            assert client.journal is not None
            task = tracker.imagine("a fox")  # a tracked task answers to the tracker
            assert task.backend is tracker and task.server == client.base_url
        finally:
            tracker.close()


def test_cadence_learns_the_step_interval_and_polls_just_after_the_result_is_due():
    server = ServerRhythm()
    task = Task(id="1", action="IMAGINE", status=Status.SUBMITTED)
    rhythm = TaskRhythm.start(task, 0.0, relaxed=False)
    steps = {2.0: 15, 9.0: 31, 16.0: 46, 23.0: 62, 30.0: 78, 37.0: 93}  # a step every 7 s
    current = 0
    for now in [x * 0.1 for x in range(1, 380)]:  # the poller looks every 0.1 s
        reached = [p for at, p in steps.items() if at <= now]
        changed = bool(reached) and reached[-1] != current
        if changed:
            current = reached[-1]
            task.status, task.progress = Status.IN_PROGRESS, current
        rhythm.observe(task, now, changed, server)
    assert server.interval("IMAGINE") == pytest.approx(7.0, abs=0.15)
    earliest, latest = rhythm.window(38.0, server, pushed=False)
    assert 37.0 + 7.0 <= latest <= 37.0 + 1.3 * 7.0 + 0.6  # result expected ~1.3 steps later
    assert latest - earliest <= 0.5  # and looked for closely
    queued = TaskRhythm.start(Task(id="2", status=Status.NOT_START), 0.0, relaxed=False)
    assert queued.window(60.0, ServerRhythm(), pushed=False)[1] == pytest.approx(5.0)


def test_a_planned_look_goes_out_without_planning_it_again(store, monkeypatch):
    """The poller works out every pending task's window, sleeps until the earliest is due and
    then looks. Planning again on waking (a few ms with 100 pending) sent every look late by that
    much; only a change while asleep (a new task, a push, a finished job) calls for a new plan."""
    import mjwidgets.poller as poller

    windows, plans_per_look = [0], []
    window, tick = poller.TaskRhythm.window, poller.Poller._tick

    def counting_window(self, *args, **kwargs):
        windows[0] += 1
        return window(self, *args, **kwargs)

    def counting_tick(self, batch):
        plans_per_look.append(windows[0] / len(batch))  # windows worked out since the last look
        windows[0] = 0
        return tick(self, batch)

    monkeypatch.setattr(poller.TaskRhythm, "window", counting_window)
    monkeypatch.setattr(poller.Poller, "_tick", counting_tick)
    with sim.start(speed=20.0, concurrency=10) as server:
        with Tracker(Client(server.url), store, prefetch="none") as tracker:
            tasks = [tracker.imagine(f"heron {i}") for i in range(10)]
            done = [tracker.wait(task, timeout=60) for task in tasks]
    assert {task.status for task in done} == {Status.SUCCESS}
    # most looks planned once (a look after a submit or a finished job is planned again)
    assert statistics.median(plans_per_look) == 1, plans_per_look
