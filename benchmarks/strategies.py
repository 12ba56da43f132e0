"""The tracking strategies compared by the polling benchmark, all driving ``mjwidgets.Client``.

Every strategy uses the same HTTP client, so the comparison is of strategies, not of libraries.
Peer intervals are given in *unscaled* seconds (as the peers use them against a real server) and
divided by the simulator's ``speed``, so each peer behaves at speed s as it would at speed 1, only
s times faster. mjwidgets' Tracker is not told the speed: it runs on the wall clock and learns
the server's rhythm, exactly as it would in a notebook.

A strategy is used once: ``prepare`` (before the submits; may return a notifyHook URL), ``start``
(after the submits), then ``stop``. It reports the first time it saw each task terminal to an
``Observations``.
"""

from __future__ import annotations

import heapq
import inspect
import json
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from mjwidgets import Client, MJError, Task
from mjwidgets.relayphase import RelayPhase


class Observations:
    """Thread-safe record of when each task was first seen finished (wall clock)."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = list(ids)
        self.done_at: dict[str, float] = {}
        self._lock = threading.Lock()
        self._all_done = threading.Event()

    def observe(self, task: Task, at: float | None = None) -> None:
        when = time.time() if at is None else at
        if not task.is_done:
            return
        with self._lock:
            if task.id in self.done_at or task.id not in self.ids:
                return
            self.done_at[task.id] = when
            if len(self.done_at) == len(self.ids):
                self._all_done.set()

    def pending(self) -> list[str]:
        with self._lock:
            return [task_id for task_id in self.ids if task_id not in self.done_at]

    def wait(self, timeout: float) -> bool:
        return self._all_done.wait(timeout)


class Strategy:
    """Base class: a name, an optional flavour restriction and the three life-cycle calls."""

    name = "strategy"
    description = ""
    flavors: tuple[str, ...] | None = None  # None: every flavour

    def prepare(self, url: str, client: Client) -> str | None:
        """Before the submits; returns the notifyHook URL to submit with, if any."""
        self.url = url
        self.client = client
        return None

    def warm_up(self, n: int, timeout: float) -> None:
        """Before the measured submits: a strategy that learns may track a first batch."""

    def start(self, tasks: list[Task], submitted: dict[str, float], seen: Observations) -> None:
        """Begin tracking ``tasks`` (``submitted``: monotonic submit time per id)."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop every thread and server this strategy started."""

    def extra(self) -> dict[str, Any]:
        """Strategy-specific counters for the report."""
        return {}


def _loop_until(stop: threading.Event, interval: float, body: Callable[[], bool]) -> None:
    """Call ``body`` every ``interval`` seconds (sleeping after each call) until it returns False
    or ``stop`` is set: the timer loop of a browser UI or a ``wait()`` helper."""
    while not stop.wait(interval):
        if not body():
            return


class PerTaskPolling(Strategy):
    """Each task fetched on its own, ``interval`` after its submit and then after each answer
    (replicate's ``wait()``, Dooy's per-card timer). A small worker pool stands in for the
    browser's concurrent timers; each worker has its own Client (its own keep-alive session)."""

    def __init__(self, name: str, interval: float, description: str, workers: int = 8) -> None:
        self.name = name
        self.interval = interval
        self.description = description
        self.workers = workers
        self._heap: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        self._stop = False
        self._threads: list[threading.Thread] = []
        self.errors = 0

    def start(self, tasks: list[Task], submitted: dict[str, float], seen: Observations) -> None:
        self._seen = seen
        with self._cond:
            for task in tasks:
                heapq.heappush(self._heap, (submitted[task.id] + self.interval, task.id))
        for index in range(min(self.workers, len(tasks))):
            thread = threading.Thread(
                target=self._work, name=f"bench-{self.name}-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _next(self) -> str | None:
        with self._cond:
            while not self._stop:
                if self._heap:
                    due, task_id = self._heap[0]
                    delay = due - time.monotonic()
                    if delay <= 0:
                        heapq.heappop(self._heap)
                        return task_id
                    self._cond.wait(delay)
                else:
                    self._cond.wait(0.5)
            return None

    def _work(self) -> None:
        client = Client(self.url)
        try:
            while (task_id := self._next()) is not None:
                try:
                    task = client.fetch(task_id)
                except MJError:
                    self.errors += 1
                    task = None
                if task is not None and task.is_done:
                    self._seen.observe(task)
                    continue
                with self._cond:
                    heapq.heappush(self._heap, (time.monotonic() + self.interval, task_id))
                    self._cond.notify()
        finally:
            client.close()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=10)

    def extra(self) -> dict[str, Any]:
        return {"errors": self.errors}


class BatchedPolling(Strategy):
    """One ``list-by-condition`` for every pending task, ``interval`` after each answer (the
    trueai Draw page; new-api's relay does the same every 15 s)."""

    def __init__(self, name: str, interval: float, description: str) -> None:
        self.name = name
        self.interval = interval
        self.description = description
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0

    def start(self, tasks: list[Task], submitted: dict[str, float], seen: Observations) -> None:
        self._seen = seen
        self._thread = threading.Thread(target=self._run, name=f"bench-{self.name}", daemon=True)
        self._thread.start()

    def _poll(self) -> bool:
        pending = self._seen.pending()
        if not pending:
            return False
        try:
            for task in self.client.fetch_many(pending):
                self._seen.observe(task)
        except MJError:
            self.errors += 1
        return True

    def _run(self) -> None:
        _loop_until(self._stop, self.interval, self._poll)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def extra(self) -> dict[str, Any]:
        return {"errors": self.errors}


class SteppedPolling(BatchedPolling):
    """The schedule a maintainer would write first, knowing roughly how long a job takes: one
    ``list-by-condition`` every ``fast`` seconds for the first ``opening`` seconds after the
    submits (a refused or queued job shows at once), every ``slow`` seconds in between, and
    every ``fast`` seconds again from ``closing`` seconds on, when results are due. The times are
    tuned to the simulator's fast imagine (53 s, ±10 %) — knowledge the Tracker has to learn."""

    def __init__(
        self,
        name: str,
        description: str,
        *,
        fast: float,
        slow: float,
        opening: float,
        closing: float,
    ) -> None:
        super().__init__(name, fast, description)
        self.fast, self.slow, self.opening, self.closing = fast, slow, opening, closing

    def _run(self) -> None:
        began = time.monotonic()
        while True:
            elapsed = time.monotonic() - began
            if self.opening <= elapsed < self.closing:
                wait = min(self.slow, self.closing - elapsed)
            else:
                wait = self.fast
            if self._stop.wait(wait) or not self._poll():
                return


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        return


class HookReceiver:
    """A local werkzeug endpoint for the proxy's ``notifyHook`` POSTs."""

    def __init__(self, on_task: Callable[[Task, float], None]) -> None:
        self.on_task = on_task
        self.posts = 0
        self._lock = threading.Lock()
        self._server = make_server(
            "127.0.0.1", 0, self._app, threaded=True, request_handler=_QuietHandler
        )
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="bench-hook",
            daemon=True,
        )
        self._thread.start()

    def _app(self, environ: dict, start_response: Callable) -> Any:
        request = Request(environ)
        when = time.time()
        with self._lock:
            self.posts += 1
        try:
            data = json.loads(request.get_data())
            self.on_task(Task.from_json(data), when)
            response = Response("ok")
        except ValueError:
            response = Response("bad json", 400)
        return response(environ, start_response)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class PushWithSafetyPoll(Strategy):
    """notifyHook pushes to a local receiver, plus a slow batched safety poll for lost hooks
    (client-anchors §4.4: the proxy never retries a hook)."""

    flavors = ("plus", "trueai")  # new-api resellers drop notifyHook

    def __init__(self, name: str, safety_interval: float, description: str) -> None:
        self.name = name
        self.description = description
        self._poller = BatchedPolling(f"{name}-safety", safety_interval, "")
        self._receiver: HookReceiver | None = None
        self._seen: Observations | None = None

    def _on_task(self, task: Task, when: float) -> None:
        if self._seen is not None:
            self._seen.observe(task, when)

    def prepare(self, url: str, client: Client) -> str | None:
        super().prepare(url, client)
        self._poller.prepare(url, client)
        self._receiver = HookReceiver(self._on_task)
        return self._receiver.url

    def start(self, tasks: list[Task], submitted: dict[str, float], seen: Observations) -> None:
        self._seen = seen
        self._poller.start(tasks, submitted, seen)

    def stop(self) -> None:
        self._poller.stop()
        if self._receiver is not None:
            self._receiver.close()

    def extra(self) -> dict[str, Any]:
        posts = self._receiver.posts if self._receiver else 0
        return {"hook_posts": posts, "errors": self._poller.errors}


class TrackerStrategy(Strategy):
    """mjwidgets' own ``Tracker`` with a throw-away history store, no image prefetch (image
    delivery is measured separately), optionally with its notifyHook receiver."""

    def __init__(
        self,
        name: str,
        description: str,
        notify: bool = False,
        warm: bool = False,
        new_kernel: bool = False,
    ) -> None:
        self.name = name
        self.description = description
        self.notify = notify
        self.warm = warm or new_kernel
        self.new_kernel = new_kernel
        if notify:
            self.flavors = ("plus", "trueai")
        self._tracker: Any = None
        self._home: tempfile.TemporaryDirectory[str] | None = None

    def prepare(self, url: str, client: Client) -> str | None:
        super().prepare(url, client)
        from mjwidgets.store import HistoryStore

        self._home = tempfile.TemporaryDirectory(prefix="mjw-bench-")
        self._store = HistoryStore(Path(self._home.name) / "history.sqlite3")
        self._client = client
        self._tracker = self._open_tracker()
        return self._tracker.notify_url if self.notify else None

    def _open_tracker(self) -> Any:
        """A Tracker on the strategy's history store: what an earlier one kept there of the
        server (its facts, its rhythm) it takes up, as a new kernel does."""
        from mjwidgets.imagecache import ImageCache
        from mjwidgets.tracking import Tracker

        assert self._home is not None
        cache = ImageCache(Path(self._home.name) / "images", store=self._store)
        wanted = {
            "store": self._store,
            "cache": cache,
            "notify": self.notify,
            "resume": False,
            "prefetch": "none",
        }
        accepted = inspect.signature(Tracker).parameters
        return Tracker(self._client, **{k: v for k, v in wanted.items() if k in accepted})

    def warm_up(self, n: int, timeout: float) -> None:
        """The same Tracker tracks a first batch of ``n`` on the same server, unmeasured, as
        in a notebook session: what it learnt (the server's rhythm, a refresh grid) carries
        over to the measured batch. A new kernel's: an earlier session of two such batches
        (a relay's cycle is seldom learnt by the end of a first batch, which finds its grid
        only from its fourth refresh on), then a new Tracker on the same history."""
        if not self.warm:
            return
        for batch in range(2 if self.new_kernel else 1):
            tasks = [
                self._tracker.imagine(f"warm-up {batch} lighthouse {i} --ar 1:1") for i in range(n)
            ]
            for task in tasks:
                self._tracker.wait(task, timeout=timeout)
        if self.new_kernel:  # that kernel ends; the next one's Tracker opens the same history
            self._tracker.close()
            self._tracker = self._open_tracker()

    def start(self, tasks: list[Task], submitted: dict[str, float], seen: Observations) -> None:
        for task in tasks:
            self._tracker.subscribe(task, seen.observe)

    def stop(self) -> None:
        if self._tracker is not None:
            self._tracker.close()
            self._store.close()
        if self._home is not None:
            self._home.cleanup()
            self._home = None

    def extra(self) -> dict[str, Any]:
        stats = dict(self._tracker.stats()) if self._tracker is not None else {}
        extra: dict[str, Any] = {
            key: stats[key]
            for key in ("ticks", "batch_requests", "task_fetches", "pushes", "errors")
            if key in stats
        }
        grid = self._tracker.rhythm.grid() if self._tracker is not None else None
        # what the looks at a refresh grid were aimed by, at the end: a grid's period, or a
        # relay's gap (followed refresh by refresh), and how precisely the last refresh was known
        if isinstance(grid, RelayPhase):
            extra["grid gap s"] = f"{grid.gap_low:.3f}–{grid.gap_high:.3f}"
            extra["grid refresh ms"] = round(1000 * (grid.first_high - grid.first_low))
        elif grid is not None:
            extra["grid period s"] = f"{grid.period_low:.3f}–{grid.period_high:.3f}"
            extra["grid refresh ms"] = round(1000 * (grid.anchor_high - grid.anchor_low))
        return extra


# Unscaled intervals (seconds against a real server), client-anchors §4.2.
DOOY_S = 5.0
TRUEAI_S = 2.0
REPLICATE_S = 0.5
PUSH_SAFETY_S = 30.0
# Baselines (issue 18): what a maintainer would try before an adaptive cadence. The stepped
# schedule knows the simulator's fast imagine: 53 s ± 10 %, so results from ~47.7 s on.
STEPPED_FAST_S = 0.5
STEPPED_SLOW_S = 5.0
STEPPED_OPENING_S = 3.0
STEPPED_CLOSING_S = 46.0


def all_strategies(speed: float) -> list[Strategy]:
    """Fresh instances of every strategy, peer intervals divided by ``speed``."""
    return [
        TrackerStrategy("mjwidgets", "Tracker: adaptive cadence, one list-by-condition per tick"),
        TrackerStrategy(
            "mjwidgets-warm",
            "Tracker, second batch on the same server (the first one tracked unmeasured)",
            warm=True,
        ),
        TrackerStrategy(
            "mjwidgets-new-kernel",
            "Tracker in a new kernel: what an earlier kernel's Tracker kept of the server (two "
            "batches tracked unmeasured) taken up from the history store: job lengths and step "
            "intervals; at a relay, its cycle (its refreshes' phase is found again)",
            new_kernel=True,
        ),
        TrackerStrategy(
            "mjwidgets+push", "Tracker(notify=True): hooks + its safety poll", notify=True
        ),
        PerTaskPolling("dooy-5s", DOOY_S / speed, "per-task fetch every 5 s (Dooy web UI)"),
        BatchedPolling(
            "trueai-2s", TRUEAI_S / speed, "one list-by-condition every 2 s (trueai Draw page)"
        ),
        PerTaskPolling(
            "replicate-0.5s",
            REPLICATE_S / speed,
            "per-task fetch every 0.5 s (replicate-python wait())",
        ),
        PushWithSafetyPoll(
            "push",
            PUSH_SAFETY_S / speed,
            "notifyHook receiver + list-by-condition safety poll every 30 s",
        ),
        BatchedPolling("batched-0.5s", 0.5 / speed, "baseline: one list-by-condition every 0.5 s"),
        BatchedPolling("batched-1s", 1.0 / speed, "baseline: one list-by-condition every 1 s"),
        SteppedPolling(
            "stepped",
            f"baseline: list-by-condition every {STEPPED_FAST_S:g} s for the first "
            f"{STEPPED_OPENING_S:g} s and from {STEPPED_CLOSING_S:g} s on (results due at "
            f"47.7–58.3 s), every {STEPPED_SLOW_S:g} s in between",
            fast=STEPPED_FAST_S / speed,
            slow=STEPPED_SLOW_S / speed,
            opening=STEPPED_OPENING_S / speed,
            closing=STEPPED_CLOSING_S / speed,
        ),
    ]


STRATEGY_NAMES = (
    "mjwidgets",
    "mjwidgets-warm",
    "mjwidgets-new-kernel",
    "mjwidgets+push",
    "dooy-5s",
    "trueai-2s",
    "replicate-0.5s",
    "push",
    "batched-0.5s",
    "batched-1s",
    "stepped",
)
POLLING_PEERS = ("dooy-5s", "trueai-2s", "replicate-0.5s")
PEERS = (*POLLING_PEERS, "push")
BASELINES = ("batched-0.5s", "batched-1s", "stepped")
