"""One poller per Client: every pending task tracked with one batched request per tick.

Why a thread: a notebook user runs other cells while jobs run; an asyncio task on the kernel's
loop would stall behind any blocking cell, a thread keeps progress live (jupyter-notes). The thread
starts with the first tracked task and sleeps on a Condition (no CPU) while nothing is pending.

Why adaptive: Midjourney reports progress only every few seconds and resellers refresh every 15 s,
so polling on a fixed clock either wastes requests or shows results late. The tracker learns when
this server's updates arrive, polls just after the next one is due (tighter near the end, slower
while queued), and covers every task with one ``list-by-condition`` request per tick.

Everything observed goes to the history store (so a crash loses nothing) and finished images go
to the image cache (so they outlive their URLs).
"""

from __future__ import annotations

import hmac
import json
import logging
import random
import secrets
import statistics
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from .client import _redact
from .errors import (
    AuthError,
    MJError,
    NotFoundError,
    RateLimitError,
    TaskFailed,
    TaskTimeout,
    ValidationError,
)
from .imagecache import FINAL, PREVIEW, ImageCache
from .models import Status, Task
from .store import HistoryStore, SubmitRecorder

if TYPE_CHECKING:
    from .client import Client

__all__ = ["Tracker"]

log = logging.getLogger("mjwidgets.tracking")

Callback = Callable[[Task], Any]

DEFAULT_DEADLINE_S = 15 * 60
RELAX_DEADLINE_S = 60 * 60
_FINAL_STEP_PROGRESS = 93  # Midjourney's last progress step; the next change is the result
_NEAR_END_PROGRESS = 78
_IDLE_EXIT_S = 60.0  # an idle poller thread ends after this; the next track() starts a new one
_MIN_TICK_GAP_S = 0.03
_BATCH_SIZE = 200  # some resellers cap list-by-condition at 500 ids
_MAX_BACKOFF_S = 30.0
_PREFETCH_MODES = ("none", "final", "watched", "all")


# ------------------------------------------------------------------------------------------
# Cadence: what the server's updates look like, and when a task next deserves a look


def _median(values: Iterable[float]) -> float | None:
    items = list(values)
    return statistics.median(items) if items else None


class ServerRhythm:
    """The update cadence of one server, learned from every task tracked on it.

    Step intervals are kept per action (upscales run faster than grids); the final gap (93 % →
    result) and the first gap (0 % → first step) are kept as ratios of the step interval.
    """

    def __init__(self) -> None:
        self._by_action: dict[str, deque[float]] = {}
        self._all: deque[float] = deque(maxlen=64)
        self._rough: deque[float] = deque(maxlen=64)
        self._final_ratios: deque[float] = deque(maxlen=32)

    def learn_interval(self, action: str, seconds: float) -> None:
        self._by_action.setdefault(action, deque(maxlen=32)).append(seconds)
        self._all.append(seconds)

    def learn_rough(self, seconds: float) -> None:
        """A coarse guess (the middle of a wide bracket): used only until precise ones exist.
        Many concurrent tasks seen at different phases make their median a fair first guess."""
        if seconds > 0:
            self._rough.append(seconds)

    def learn_final_ratio(self, ratio: float) -> None:
        if 0.2 <= ratio <= 5.0:
            self._final_ratios.append(ratio)

    def interval(self, action: str) -> float | None:
        """Typical seconds between two progress steps of a task of this action."""
        own = self._by_action.get(action)
        if own and len(own) >= 2:
            return _median(own)
        if len(self._all) >= 2:
            return _median(self._all)
        return _median(self._rough) if len(self._rough) >= 3 else None

    def final_ratio_known(self) -> bool:
        return len(self._final_ratios) >= 3

    def spread(self) -> float:
        """Relative uncertainty of a predicted step time (interquartile range / median)."""
        if len(self._all) < 4:
            return 0.2
        quartiles = statistics.quantiles(self._all, n=4)
        middle = statistics.median(self._all)
        return min(0.5, max(0.08, (quartiles[2] - quartiles[0]) / middle if middle else 0.2))

    def final_ratio(self) -> float:
        """Gap before the result as a multiple of the step interval (~8 s after 6–7 s steps)."""
        return _median(self._final_ratios) or 1.3


def _rank(task: Task) -> float:
    """Order of states in a task's life; an older state must never overwrite a newer one."""
    if task.is_done:
        return 4.0
    return {
        Status.NOT_START: 0.0,
        Status.MODAL: 0.5,
        Status.SUBMITTED: 1.0,
        Status.IN_PROGRESS: 2.0 + task.progress / 100,
    }.get(task.status, 0.0)


def _fingerprint(task: Task) -> tuple:
    """What a subscriber sees change: status, progress, image/preview, buttons, failure."""
    return (
        task.status,
        task.status_raw,
        task.progress,
        task.image_url,
        tuple(button.custom_id for button in task.buttons),
        task.fail_reason,
    )


@dataclass
class TaskRhythm:
    """One task's observed changes, and the window in which its next poll is useful.

    Every change is known only to lie between the last look that showed the old state and the
    first look that showed the new one. Intersecting those brackets over consecutive steps pins
    the step interval down even from coarse looks, as long as the steps are regular; when they
    are not, the intersection empties and starts again from the latest pair.
    """

    action: str
    relaxed: bool
    observed_at: float  # monotonic time of the latest observation (poll or push)
    status: Status = Status.UNKNOWN
    progress: int = 0
    change_low: float = 0.0  # the latest change happened after this …
    change_high: float = 0.0  # … and no later than this
    status_since: float = 0.0
    interval_low: float | None = None  # the step interval lies in [interval_low, interval_high]
    interval_high: float | None = None
    progress_steps: deque[int] = field(default_factory=lambda: deque(maxlen=8))
    poll_now: bool = False
    first_seen: float = 0.0  # when tracking (re)started
    seed: float | None = None  # a first guess of the step interval: the wait for the first step
    # (step number, seen after, seen by) of each observed progress step, to anchor the next one
    steps: deque[tuple[int, float, float]] = field(default_factory=lambda: deque(maxlen=8))
    _memo: tuple[tuple, tuple[float, float] | None] | None = field(default=None, repr=False)

    @classmethod
    def start(cls, task: Task, now: float, relaxed: bool, poll_now: bool = False) -> TaskRhythm:
        return cls(
            action=task.action.upper(),
            relaxed=relaxed,
            observed_at=now,
            status=task.status,
            progress=task.progress,
            change_low=now,
            change_high=now,
            status_since=now,
            poll_now=poll_now,
            first_seen=now,
        )

    @property
    def change_mid(self) -> float:
        return (self.change_low + self.change_high) / 2

    @property
    def change_width(self) -> float:
        return self.change_high - self.change_low

    def observe(
        self,
        task: Task,
        now: float,
        changed: bool,
        server: ServerRhythm,
        seen_unchanged_at: float | None = None,
    ) -> None:
        """Learn from one observation. A change happened after the last time the old state was
        seen (``seen_unchanged_at``, default the previous observation) and before ``now``."""
        self.poll_now = False
        if not changed:
            self.observed_at = now
            return
        low = self.observed_at if seen_unchanged_at is None else seen_unchanged_at
        if _is_running_status(self.status) or self.status is Status.NOT_START:
            advance = task.progress - self.progress
            if task.status is Status.IN_PROGRESS and advance > 0 and self.progress > 0:
                # a step missed between two looks shows as a double jump: count the steps
                self.progress_steps.append(advance)
                steps = max(1, round(advance / (_median(self.progress_steps) or advance)))
                self._narrow((low - self.change_high) / steps, (now - self.change_low) / steps)
                interval = self._own_interval()
                if interval is not None:
                    server.learn_interval(self.action, interval)
                else:
                    rough_low = (low - self.change_high) / steps
                    rough_high = (now - self.change_low) / steps
                    middle = (rough_low + rough_high) / 2
                    if middle > 0 and rough_high - rough_low <= 1.2 * middle:
                        server.learn_rough(middle)
                number = (self.steps[-1][0] if self.steps else 0) + steps
                self.steps.append((number, low, now))
            elif task.status is Status.IN_PROGRESS and advance > 0:
                # the first step: the wait since the start seeds the step interval
                start = self.change_mid if self.status_since > self.first_seen else self.first_seen
                middle = (low + now) / 2 - start
                if middle > 0:
                    self.seed = middle
                    if now - low <= 1.2 * middle:
                        server.learn_rough(middle)
                self.steps.clear()
                self.steps.append((0, low, now))
            elif task.is_done and self.progress >= _FINAL_STEP_PROGRESS:
                interval = self.interval(server)
                gap_low, gap_high = low - self.change_high, now - self.change_low
                if interval and gap_high - gap_low <= 0.3 * interval:
                    server.learn_final_ratio((gap_low + gap_high) / 2 / interval)
        if task.status is not self.status:
            self.status_since = now
        self.status, self.progress = task.status, task.progress
        self.change_low, self.change_high = low, now
        self.observed_at = now

    def _narrow(self, low: float, high: float) -> None:
        low = max(0.0, low)
        if self.interval_low is None or self.interval_high is None:
            self.interval_low, self.interval_high = low, high
            return
        merged_low, merged_high = max(low, self.interval_low), min(high, self.interval_high)
        if merged_low > merged_high:  # irregular steps: start again from this pair
            self.interval_low, self.interval_high = low, high
        else:
            self.interval_low, self.interval_high = merged_low, merged_high

    def _own_interval(self, precision: float = 0.5) -> float | None:
        if self.interval_low is None or self.interval_high is None:
            return None
        middle = (self.interval_low + self.interval_high) / 2
        if middle <= 0 or self.interval_high - self.interval_low > precision * middle:
            return None
        return middle

    def interval(self, server: ServerRhythm) -> float | None:
        """Seconds between this task's progress steps: its own if known, else the server's."""
        return self._own_interval() or server.interval(self.action) or self.seed

    def expected_earliest(self, server: ServerRhythm) -> float | None:
        """The earliest time the next change can plausibly happen (None: no rhythm known)."""
        interval = self.interval(server)
        if interval is None or not _is_running_status(self.status):
            return None
        ratio = server.final_ratio() if self.progress >= _FINAL_STEP_PROGRESS else 1.0
        spread = server.spread() * ratio * interval
        return self.change_mid + ratio * interval - spread - self.change_width / 2

    def predict(self, server: ServerRhythm) -> tuple[float, float] | None:
        """(earliest, latest) time of the next change, anchored on every observed step.

        Steps come one interval apart, so each step seen within [after, by] also pins the latest
        step's time; intersecting them over the plausible intervals narrows a bracket far below
        the gap between two looks. None while fewer facts are known.
        """
        if self.status is not Status.IN_PROGRESS or not self.steps:
            return None
        final = self.progress >= _FINAL_STEP_PROGRESS
        key = (
            self.steps[-1],
            len(self.steps),
            server.interval(self.action),
            final,
            server.final_ratio() if final else 1.0,
            server.spread(),
        )
        if self._memo is not None and self._memo[0] == key:
            return self._memo[1]
        result = self._predict(server, final)
        self._memo = (key, result)
        return result

    def _predict(self, server: ServerRhythm, final: bool) -> tuple[float, float] | None:
        steps = list(self.steps)
        known = server.interval(self.action)
        low, high = (0.05, 1e9) if known is None else (known * 0.5, known * 1.6)
        if len(steps) == 1:
            if known is None:
                return None
            margin = max(0.1, server.spread())
            low, high = known * (1 - margin), known * (1 + margin)
        else:
            for attempt in range(2):
                low_i, high_i = low, high
                for a in range(len(steps)):
                    for b in range(a + 1, len(steps)):
                        count = steps[b][0] - steps[a][0]
                        low_i = max(low_i, (steps[b][1] - steps[a][2]) / count)
                        high_i = min(high_i, (steps[b][2] - steps[a][1]) / count)
                if low_i <= high_i:
                    low, high = low_i, high_i
                    break
                steps = steps[-2:]  # irregular: keep only the latest pair
                if attempt or len(self.steps) == 2:
                    return None
        if high >= 1e9:
            return None
        ratio = server.final_ratio() if final else 1.0
        slack = (0.03 if server.final_ratio_known() else 0.06) if final else 0.0
        last = steps[-1][0]
        earliest, latest = float("inf"), float("-inf")
        for i in range(13):
            interval = low + (high - low) * i / 12
            at_low = max(after + (last - n) * interval for n, after, _ in steps)
            at_high = min(by + (last - n) * interval for n, _, by in steps)
            if at_low > at_high + 1e-6:
                continue
            earliest = min(earliest, at_low + (ratio - slack) * interval)
            latest = max(latest, at_high + (ratio + slack) * interval)
        if earliest > latest:
            return None
        return earliest, latest

    def window(self, now: float, server: ServerRhythm, pushed: bool) -> tuple[float, float]:
        """(earliest, latest) monotonic times for the next poll of this task.

        Polling before ``earliest`` is wasted on this task; after ``latest`` the lag we accept for
        its next change is exceeded. The planner polls at the earliest ``latest`` of all tasks.
        """
        last = self.observed_at
        if self.poll_now:
            return (now, now)
        interval = self.interval(server)
        if pushed:  # the server pushes to us: polling is only the safety net for a lost push
            safety = min(15.0, max(2.0, 3 * (interval or 2.0)))
            return (last + safety / 2, last + safety)
        waiting = not _is_running_status(self.status) or self.progress == 0
        if waiting and (interval is None or self.status is not Status.SUBMITTED):
            # queued, or started on a server whose rhythm is unknown: one early look, then slow
            cap = 10.0 if self.relaxed else 5.0
            age = max(last - self.first_seen, 0.25 * (now - self.first_seen))
            gap = min(cap, max(0.2, 2 * age))  # probes at 0.2, 0.6, 1.8, 5.4 … then 5 s
            if interval is not None:  # a fast server starts and ends jobs fast, too
                gap = min(gap, max(4 * interval, 0.1))
            return (last + gap / 2, last + gap)
        if waiting:  # started, rhythm known: the first step is about one interval away
            gap = max(_lag_budget(0, interval), 0.1)
            return (last + gap / 2, last + gap)
        predicted = self.predict(server)
        if predicted is not None and interval is not None:
            step = _lag_budget(self.progress, interval)
            earliest, latest = predicted
            if last < earliest:  # the next change cannot have happened yet: look just after it
                return (earliest, earliest + step)
            if now <= latest + step:
                return (last + step / 2, last + step)
            overdue = max(0.0, last - latest)  # from the last look, so the wake never recedes
            gap = min(max(step, 5.0), step * (1 + overdue / interval))
            return (last + gap / 2, last + gap)
        expected = self.expected_earliest(server)
        if interval is None or expected is None:  # rhythm unknown: a look every few seconds
            gap = min(5.0, max(2.5, 0.5 * (now - self.change_mid)))
            return (last + gap / 2, last + gap)
        step = _lag_budget(self.progress, interval)
        if last < expected:  # the next change cannot have happened yet: look just after it
            return (expected, expected + step)
        overdue = max(0.0, last - expected)  # late (a stuck task?): back off slowly, up to 5 s
        gap = min(max(step, 5.0), step * (1 + overdue / interval))
        return (last + gap / 2, last + gap)


def _is_running_status(status: Status) -> bool:
    return status in (Status.SUBMITTED, Status.IN_PROGRESS)


def _lag_budget(progress: int, interval: float) -> float:
    """How late we may see the next change: little for the result, more for mid-way steps."""
    if progress >= _FINAL_STEP_PROGRESS:  # the result: what the goals are about
        return min(0.5, max(0.03, 0.07 * interval))
    if progress >= _NEAR_END_PROGRESS:  # the last step anchors the result's window
        return min(4.0, max(0.1, 0.6 * interval))
    return min(8.0, max(0.1, 1.0 * interval))  # progress may show a few seconds late


# ------------------------------------------------------------------------------------------
# Per-task bookkeeping


@dataclass
class _Tracked:
    task: Task  # the canonical object (strong while pending)
    rhythm: TaskRhythm
    deadline: float  # monotonic
    deadline_s: float
    fingerprint: tuple
    mirrors: list[weakref.ref[Task]] = field(default_factory=list)
    subscribers: list[Callback] = field(default_factory=list)
    pushed: bool = False
    timed_out: bool = False
    error: MJError | None = None
    missing: int = 0
    done: bool = False  # no longer polled
    settled: bool = False  # and its final state is recorded and announced: wait() returns

    def copies(self) -> list[Task]:
        alive = [ref() for ref in self.mirrors]
        self.mirrors = [ref for ref, task in zip(self.mirrors, alive, strict=True) if task]
        return [task for task in alive if task is not None and task is not self.task]


@dataclass
class _Emission:
    task: Task
    callbacks: list[Callback]


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        return


class _NotifyReceiver:
    """A tiny local HTTP endpoint the server can POST task JSON to (``notifyHook``).

    The path carries a random token, so only a server we gave the URL to can push; bodies are
    size-capped and must be a task object. It listens on 127.0.0.1 only.
    """

    _MAX_BODY = 2_000_000

    def __init__(self, on_push: Callable[[dict[str, Any]], None]) -> None:
        self._on_push = on_push
        self._path = f"/mjw-notify/{secrets.token_urlsafe(18)}"
        self._server = make_server(
            "127.0.0.1", 0, self._app, threaded=True, request_handler=_QuietHandler
        )
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{self._path}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.5},
            name="mjw-notify",
            daemon=True,
        )
        self._thread.start()

    def _app(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        if request.method != "POST" or not hmac.compare_digest(request.path, self._path):
            response = Response("not found", 404)
        elif (request.content_length or 0) > self._MAX_BODY:
            response = Response("too large", 413)
        else:
            response = self._accept(request.get_data(cache=False)[: self._MAX_BODY + 1])
        return response(environ, start_response)

    def _accept(self, body: bytes) -> Response:
        try:
            data = json.loads(body)
        except ValueError:
            return Response("bad json", 400)
        if not isinstance(data, dict) or not data.get("id"):
            return Response("not a task", 400)
        try:
            self._on_push(data)
        except Exception:  # the server only logs failures; we must log ours
            log.exception("applying a pushed task update failed")
            return Response("error", 500)
        return Response("ok", 200)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _JournalTee:
    """Keeps a journal the user had installed working next to the store's."""

    def __init__(self, *journals: Any) -> None:
        self.journals = journals

    def before_submit(self, endpoint: str, body: dict, state: str) -> None:
        for journal in self.journals:
            journal.before_submit(endpoint, body, state)

    def after_submit(
        self, state: str, task_id: str | None, outcome: str, error: Exception | None
    ) -> None:
        for journal in self.journals:
            try:
                journal.after_submit(state, task_id, outcome, error)
            except Exception:  # one journal's failure must not hide the others
                log.exception("journal %r failed after a submit", journal)


_trackers: weakref.WeakKeyDictionary[Any, Tracker] = weakref.WeakKeyDictionary()
_trackers_lock = threading.RLock()
_default_tracker: Tracker | None = None


# ------------------------------------------------------------------------------------------


class Tracker:
    """Tracks every pending task of one Client with a background poller.

    ``store`` (default: the history file under ``$MJ_HOME``) journals submits and records every
    change; ``cache`` (default: ``images/`` beside the store) keeps images. ``notify=True`` starts
    a local receiver for ``notifyHook`` pushes (use ``tracker.imagine/action/modal``).
    ``prefetch``: which images to download as soon as they exist — "final" (every result),
    "watched" (results, plus previews of tasks that have subscribers; the default), "all"
    (results and every preview) or "none". ``resume`` tracks the store's unfinished tasks of this
    server again. ``deadline`` (relax mode: ``relax_deadline``) is measured from the submit.
    """

    def __init__(
        self,
        client: Client,
        store: HistoryStore | None = None,
        cache: ImageCache | None = None,
        *,
        notify: bool = False,
        resume: bool = True,
        prefetch: str = "watched",
        deadline: float = DEFAULT_DEADLINE_S,
        relax_deadline: float = RELAX_DEADLINE_S,
    ) -> None:
        if prefetch not in _PREFETCH_MODES:
            raise ValidationError(
                f"unknown prefetch mode {prefetch!r}", advice=f"use one of {_PREFETCH_MODES}"
            )
        self._client: Client | None = client
        self.base_url = client.base_url
        self.store = store if store is not None else HistoryStore()
        self.cache = cache if cache is not None else ImageCache(store=self.store)
        self.prefetch = prefetch
        self.deadline = deadline
        self.relax_deadline = relax_deadline
        self.rhythm = ServerRhythm()
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._dispatch_lock = threading.RLock()
        self._tracked: dict[str, _Tracked] = {}
        self._pending: dict[str, _Tracked] = {}
        self._everything: list[Callback] = []
        self._thread: threading.Thread | None = None
        self._closed = False
        self._batch_supported = True
        self._not_before = 0.0
        self._last_tick = 0.0
        self._trouble_listeners: list[Callable[[str], None]] = []
        self._trouble = ""
        self._failures = 0
        self._stats = {
            "ticks": 0,
            "batch_requests": 0,
            "task_fetches": 0,
            "errors": 0,
            "pushes": 0,
            "changes": 0,
        }
        with _trackers_lock:
            other = _trackers.get(client)
            if other is not None and not other._closed:
                raise ValidationError(
                    "this client already has a tracker",
                    advice="use Tracker.for_client(client), or close the other tracker first",
                )
            _trackers[client] = self
        self._receiver = _NotifyReceiver(self._on_push) if notify else None
        self._attach(client)
        if resume:
            self._resume(client)

    @classmethod
    def default(cls) -> Tracker:
        """The process-wide tracker of the default Client (MJ_BASE_URL/MJ_API_KEY, or the embedded
        simulator): a Studio, a HistoryView and a Compare made without arguments share it, so one
        poller serves them all and their cards update together."""
        global _default_tracker
        with _trackers_lock:  # re-entrant: Tracker() takes it too
            if _default_tracker is None or _default_tracker._closed:
                from .client import Client as _Client

                _default_tracker = cls.for_client(_Client())
            return _default_tracker

    @classmethod
    def for_client(cls, client: Client, **options: Any) -> Tracker:
        """The tracker of ``client``, created on first use (one per Client)."""
        with _trackers_lock:
            existing = _trackers.get(client)
            if existing is not None and not existing._closed:
                return existing
            return cls(client, **options)

    def _attach(self, client: Client) -> None:
        recorder = self.store.journal_for(client.base_url)
        current = getattr(client, "journal", None)
        if current is None or isinstance(current, SubmitRecorder):
            client.journal = recorder
        else:
            client.journal = _JournalTee(current, recorder)
        client.image_provider = self.cache  # type: ignore[attr-defined]

    def _resume(self, client: Client) -> None:
        for task in self.store.unfinished(client.base_url, client):
            self.track(task, poll_now=True, record=False)
        if self.prefetch != "none":
            for task in self.store.missing_images(client.base_url):
                self.cache.prefetch(task._bind(client), FINAL)

    # -- public API --------------------------------------------------------------------------

    @property
    def client(self) -> Client | None:
        """The client polled for (None once closed)."""
        return self._client

    @property
    def notify_url(self) -> str | None:
        """The URL to pass as ``notifyHook`` (None without ``notify=True``)."""
        return self._receiver.url if self._receiver else None

    @property
    def pending(self) -> list[Task]:
        """Tasks still queued or running, oldest first."""
        with self._lock:
            return [tracked.task for tracked in self._pending.values()]

    def stats(self) -> dict[str, Any]:
        """Counters: ticks, batch_requests, task_fetches, errors, pushes, changes, and whether
        the server answers list-by-condition (``batch``)."""
        with self._lock:
            return {**self._stats, "batch": self._batch_supported, "pending": len(self._pending)}

    def track(self, task: Task, *, poll_now: bool = False, record: bool = True) -> Task:
        """Track a task until it is finished (or MODAL); returns the tracked object.

        Tracking a task already tracked (e.g. a MODAL task after ``modal()``) resumes it; both
        objects then update in place.
        """
        client = self.client
        if client is None:
            raise MJError("the tracker's client is gone", advice="create a new Client")
        if getattr(task, "_client", None) is None:
            task._bind(client)
        if record:
            self.store.record(task, self.base_url)
        now = time.monotonic()
        with self._cond:
            tracked = self._tracked.get(task.id)
            if tracked is None:
                tracked = _Tracked(
                    task=task,
                    rhythm=TaskRhythm.start(task, now, self._relaxed(task), poll_now),
                    deadline=0.0,
                    deadline_s=0.0,
                    fingerprint=_fingerprint(task),
                )
                tracked.mirrors.append(weakref.ref(task))
                self._tracked[task.id] = tracked
            else:
                if tracked.task is not task:
                    if all(ref() is not task for ref in tracked.mirrors):
                        tracked.mirrors.append(weakref.ref(task))
                    if _rank(task) >= _rank(tracked.task) or tracked.done:
                        tracked.task.update_from(task)
                tracked.rhythm = TaskRhythm.start(tracked.task, now, self._relaxed(task), poll_now)
                tracked.fingerprint = _fingerprint(tracked.task)
            tracked.deadline_s = self.relax_deadline if self._relaxed(task) else self.deadline
            tracked.deadline = now + self._seconds_left(task, tracked.deadline_s)
            tracked.timed_out, tracked.error, tracked.missing = False, None, 0
            if tracked.task.is_done or tracked.task.needs_modal:
                tracked.done = tracked.settled = True
                self._pending.pop(task.id, None)
                self._cond.notify_all()
            else:
                tracked.done = tracked.settled = False
                self._pending[task.id] = tracked
                self._ensure_thread()
                self._cond.notify_all()
            canonical = tracked.task
        if canonical.status is Status.SUCCESS:
            self._prefetch(tracked, FINAL)
        return canonical

    def subscribe(self, task_id: str | Task, callback: Callback) -> Callable[[], None]:
        """Call ``callback(task)`` on every change of the task; returns an unsubscribe function.

        Callbacks run on the poller's thread, one at a time, in order; one that raises is logged
        and the others still run. Keep them short and never block in them.
        """
        key = task_id.id if isinstance(task_id, Task) else str(task_id)
        with self._lock:
            known = key in self._tracked
        if not known:
            if not isinstance(task_id, Task):
                raise ValidationError(
                    f"task {key} is not tracked", advice="call tracker.track(task) first"
                )
            self.track(task_id)
        with self._lock:
            tracked = self._tracked[key]
            tracked.subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in tracked.subscribers:
                    tracked.subscribers.remove(callback)

        return unsubscribe

    def subscribe_all(self, callback: Callback) -> Callable[[], None]:
        """Call ``callback(task)`` on every change of every tracked task (a gallery, a log)."""
        with self._lock:
            self._everything.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._everything:
                    self._everything.remove(callback)

        return unsubscribe

    def on_trouble(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call ``callback(message)`` when polling starts failing ("retrying in 2 s: …") and
        ``callback("")`` once it works again, so a card can say "retrying…"; returns an
        unsubscribe function."""
        with self._lock:
            self._trouble_listeners.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._trouble_listeners:
                    self._trouble_listeners.remove(callback)

        return unsubscribe

    def _tell_trouble(self, message: str) -> None:
        if message == self._trouble:
            return
        self._trouble = message
        with self._lock:
            listeners = list(self._trouble_listeners)
        for listener in listeners:
            try:
                listener(message)
            except Exception:  # a broken card must not stop the poller
                log.exception("trouble listener failed")

    def wait(self, task_id: str | Task, timeout: float | None = None) -> Task:
        """Block until the task is finished or MODAL; returns it.

        Raises TaskFailed on FAILURE, TaskTimeout when ``timeout`` passes (the task stays
        tracked) or the tracker's deadline expired. Never call it from a subscriber callback.
        """
        key = task_id.id if isinstance(task_id, Task) else str(task_id)
        with self._lock:
            tracked = self._tracked.get(key)
        if tracked is None:
            client = self.client
            if isinstance(task_id, Task):
                self.track(task_id)
            elif client is not None:
                self.track(client.fetch(key))
            with self._lock:
                tracked = self._tracked[key]
        limit = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not tracked.settled:
                remaining = None if limit is None else limit - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TaskTimeout(tracked.task, timeout or 0.0)
                self._cond.wait(remaining)
        task = tracked.task
        if tracked.error is not None:
            raise tracked.error
        if tracked.timed_out:
            raise TaskTimeout(task, tracked.deadline_s)
        if task.status is Status.FAILURE:
            raise TaskFailed(task, _redact(task.fail_reason))  # as client.wait: no key echoed
        return task

    def is_timed_out(self, task_id: str | Task) -> bool:
        """True when the tracker gave up on the task at its deadline."""
        key = task_id.id if isinstance(task_id, Task) else str(task_id)
        with self._lock:
            tracked = self._tracked.get(key)
            return bool(tracked and tracked.timed_out)

    # -- submit wrappers that pass the notify hook and track the result ------------------------

    def _require_client(self) -> Client:
        client = self.client
        if client is None:
            raise MJError("the tracker's client is gone", advice="create a new Client")
        return client

    def imagine(self, prompt: str, **options: Any) -> Task:
        """``client.imagine`` with this tracker's notify hook; the task is tracked."""
        options.setdefault("notify_hook", self.notify_url)
        return self.track(self._require_client().imagine(prompt, **options))

    def action(self, task: Task | str, button: Any, **options: Any) -> Task:
        """``client.action`` (press a button) with the notify hook; the new task is tracked."""
        options.setdefault("notify_hook", self.notify_url)
        return self.track(self._require_client().action(task, button, **options))

    def modal(self, task: Task | str, *, prompt: str | None = None, mask: Any = None) -> Task:
        """``client.modal`` (finish a MODAL task); the task is tracked again."""
        client = self._require_client()
        return self.track(client.modal(task, prompt=prompt, mask=mask, notify_hook=self.notify_url))

    # -- life cycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop polling and the notify receiver (pending tasks stay in the store to resume)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        if self._receiver is not None:
            self._receiver.close()
            self._receiver = None
        self.cache.close()
        with _trackers_lock:
            client = self.client
            if client is not None and _trackers.get(client) is self:
                del _trackers[client]
        self._client = None  # a tracker and its client live together until close()

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<Tracker {self.base_url} pending={len(self._pending)} "
            f"batch={'yes' if self._batch_supported else 'no'}>"
        )

    # -- the poller ----------------------------------------------------------------------------

    def _relaxed(self, task: Task) -> bool:
        client = self.client
        mode = str(task.raw.get("mode") or "").upper() if task.raw else ""
        return (
            mode == "RELAX"
            or "--relax" in (task.prompt or "")
            or (client is not None and client.mode == "relax")
        )

    @staticmethod
    def _seconds_left(task: Task, deadline_s: float) -> float:
        """The deadline counts from the submit; a resumed old task still gets one look."""
        if task.submit_time is None:
            return deadline_s
        elapsed = time.time() - task.submit_time.timestamp()
        return max(1.0, deadline_s - max(0.0, elapsed))

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="mjw-tracker", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                plan = self._next_tick()
                if plan is None:
                    return
            due, expired = plan
            try:
                if expired:
                    self._record_expired(expired)
                if due:
                    self._tick(due)
            except Exception:  # the poller must survive anything; back off and go on
                log.exception("tracker tick failed")
                self._back_off(None)

    def _next_tick(self) -> tuple[list[_Tracked], list[_Tracked]] | None:
        """Under the lock: sleep until the next useful poll. Returns (tasks to fetch, tasks whose
        deadline passed), or None when the thread should end (closed, or idle for a while)."""
        while True:
            if self._closed:
                self._thread = None
                return None
            if not self._pending:
                if not self._cond.wait(_IDLE_EXIT_S) and not self._pending:
                    self._thread = None
                    return None
                continue
            now = time.monotonic()
            expired = []
            for tracked in self._pending.values():
                if now < tracked.deadline:
                    continue
                if tracked.rhythm.observed_at >= tracked.deadline or now >= tracked.deadline + 60:
                    expired.append(tracked)
                else:  # one last look before giving up (unless the server stays unreachable)
                    tracked.rhythm.poll_now = True
            if expired:
                for tracked in expired:
                    tracked.timed_out = tracked.done = True
                    self._pending.pop(tracked.task.id, None)
                    log.warning(
                        "task %s: no result after %g s; stopped tracking it (it may still finish)",
                        tracked.task.id,
                        tracked.deadline_s,
                    )
                self._cond.notify_all()
                return [], expired
            windows = {
                key: tracked.rhythm.window(now, self.rhythm, tracked.pushed)
                for key, tracked in self._pending.items()
            }
            wake_at = min(latest for _, latest in windows.values())
            wake_at = max(wake_at, self._not_before, self._last_tick + _MIN_TICK_GAP_S)
            next_deadline = min(
                t.deadline if now < t.deadline else t.deadline + 60 for t in self._pending.values()
            )
            wake_at = min(wake_at, next_deadline)
            if wake_at > now:
                self._cond.wait(wake_at - now)
                continue
            if self._batch_supported:
                return list(self._pending.values()), []
            return [self._pending[key] for key, (early, _) in windows.items() if early <= now], []

    def _record_expired(self, expired: list[_Tracked]) -> None:
        with self._dispatch_lock:
            for tracked in expired:
                try:
                    self.store.mark_timed_out(tracked.task, self.base_url)
                except Exception:
                    log.exception("recording the timeout of %s failed", tracked.task.id)
            self._emit([self._emission(tracked) for tracked in expired])
        self._settle(expired)

    def _tick(self, batch: list[_Tracked]) -> None:
        client = self.client
        if client is None:
            with self._cond:
                self._closed = True
            return
        self._last_tick = time.monotonic()
        with self._lock:
            self._stats["ticks"] += 1
        fresh: dict[str, Task] = {}
        try:
            if self._batch_supported:
                fresh = self._fetch_batch(client, batch)
            if not self._batch_supported:
                fresh = self._fetch_each(client, batch, fresh)
        except MJError as exc:
            self._back_off(exc)
            return
        observed_at = time.monotonic()
        missing = [tracked for tracked in batch if tracked.task.id not in fresh]
        if missing and self._batch_supported:
            fresh.update(self._fetch_each(client, missing[:10], {}))
        self._failures = 0
        self._not_before = 0.0
        self._tell_trouble("")
        self._apply(fresh, batch, observed_at)

    def _fetch_batch(self, client: Client, batch: list[_Tracked]) -> dict[str, Task]:
        fresh: dict[str, Task] = {}
        ids = [tracked.task.id for tracked in batch]
        for start in range(0, len(ids), _BATCH_SIZE):
            with self._lock:
                self._stats["batch_requests"] += 1
            try:
                found = client.fetch_many(ids[start : start + _BATCH_SIZE])
            except MJError as exc:
                if isinstance(exc, NotFoundError) or exc.http_status in (404, 405):
                    log.info(
                        "%s has no list-by-condition (%s); fetching tasks one by one from now on",
                        self.base_url,
                        type(exc).__name__,
                    )
                    with self._lock:
                        self._batch_supported = False
                    return fresh
                raise
            fresh.update((task.id, task) for task in found)
        return fresh

    def _fetch_each(
        self, client: Client, batch: list[_Tracked], fresh: dict[str, Task]
    ) -> dict[str, Task]:
        for tracked in batch:
            with self._lock:
                self._stats["task_fetches"] += 1
            try:
                fresh[tracked.task.id] = client.fetch(tracked.task.id)
                tracked.missing = 0
            except NotFoundError as exc:
                tracked.missing += 1
                if tracked.missing >= 3:
                    self._give_up(tracked, exc)
        return fresh

    def _give_up(self, tracked: _Tracked, exc: MJError) -> None:
        log.warning("task %s: the server no longer knows it (%s)", tracked.task.id, exc)
        with self._cond:
            tracked.error = exc
            tracked.done = tracked.settled = True
            self._pending.pop(tracked.task.id, None)
            self._cond.notify_all()
        self.store.mark_timed_out(tracked.task, self.base_url, note="unknown to the server")

    def _back_off(self, exc: MJError | None) -> None:
        """Transient trouble: wait longer each time (jittered), at least what Retry-After asks."""
        self._failures += 1
        delay = min(_MAX_BACKOFF_S, 0.5 * 2 ** (self._failures - 1)) * random.uniform(0.8, 1.2)
        if isinstance(exc, RateLimitError) and exc.retry_after:
            delay = max(delay, exc.retry_after)
        if isinstance(exc, AuthError):
            delay = _MAX_BACKOFF_S
        with self._lock:
            self._stats["errors"] += 1
        self._not_before = time.monotonic() + delay
        if exc is not None:
            log.warning("polling %s failed (%s); retrying in %.1f s", self.base_url, exc, delay)
            self._tell_trouble(f"retrying in {delay:.1f} s: {type(exc).__name__}")

    # -- applying what was seen ----------------------------------------------------------------

    def _apply(self, fresh: dict[str, Task], batch: list[_Tracked], observed_at: float) -> None:
        with self._dispatch_lock:
            changed: list[_Tracked] = []
            with self._cond:
                for tracked in batch:
                    update = fresh.get(tracked.task.id)
                    if update is None or tracked.done:
                        continue
                    if self._merge(tracked, update, observed_at, None):
                        changed.append(tracked)
            self._after_changes(changed)
        self._settle(changed)

    def _on_push(self, data: dict[str, Any]) -> None:
        update = Task.from_json(data)
        now = time.monotonic()
        with self._dispatch_lock:
            with self._cond:
                tracked = self._tracked.get(update.id)
                if tracked is None or tracked.done:
                    return
                self._stats["pushes"] += 1
                tracked.pushed = True
                client = self.client
                if client is not None:
                    update._bind(client)
                changed = self._merge(tracked, update, now, now - 0.01)
            self._after_changes([tracked] if changed else [])
        if changed:
            self._settle([tracked])

    def _merge(
        self, tracked: _Tracked, update: Task, now: float, seen_unchanged_at: float | None
    ) -> bool:
        """Under the lock: apply an update unless it is older than what we have."""
        if _rank(update) < _rank(tracked.task):
            tracked.rhythm.observe(tracked.task, now, False, self.rhythm)
            return False
        fingerprint = _fingerprint(update)
        changed = fingerprint != tracked.fingerprint
        tracked.task.update_from(update)
        if not changed:
            tracked.rhythm.observe(tracked.task, now, False, self.rhythm)
            return False
        for copy in tracked.copies():
            copy.update_from(update)
        tracked.fingerprint = fingerprint
        tracked.rhythm.observe(tracked.task, now, True, self.rhythm, seen_unchanged_at)
        self._stats["changes"] += 1
        if tracked.task.is_done or tracked.task.needs_modal:
            tracked.done = True
            self._pending.pop(tracked.task.id, None)
        return True

    def _settle(self, tracked_tasks: list[_Tracked]) -> None:
        """Wake wait() for finished tasks once their end is recorded and announced."""
        finished = [tracked for tracked in tracked_tasks if tracked.done]
        if finished:
            with self._cond:
                for tracked in finished:
                    tracked.settled = True
                self._cond.notify_all()

    def _emission(self, tracked: _Tracked) -> _Emission:
        with self._lock:
            return _Emission(tracked.task, list(tracked.subscribers) + list(self._everything))

    def _after_changes(self, changed: list[_Tracked]) -> None:
        """Record, prefetch images, then tell subscribers (in the order things happened)."""
        if not changed:
            return
        try:
            self.store.record_many([tracked.task for tracked in changed], self.base_url)
        except Exception:  # the poller goes on; the next change is recorded again
            log.exception("recording %d task changes failed", len(changed))
        for tracked in changed:
            task = tracked.task
            if task.status is Status.SUCCESS:
                self._prefetch(tracked, FINAL)
            elif task.image_url and task.is_pending:
                self._prefetch(tracked, PREVIEW)
        self._emit([self._emission(tracked) for tracked in changed])

    def _prefetch(self, tracked: _Tracked, kind: str) -> None:
        if self.prefetch == "none":
            return
        if kind == PREVIEW and not (
            self.prefetch == "all" or (self.prefetch == "watched" and tracked.subscribers)
        ):
            return
        try:
            self.cache.prefetch(tracked.task, kind)
        except Exception:
            log.exception("could not queue the image of %s", tracked.task.id)

    def _emit(self, emissions: list[_Emission]) -> None:
        with self._dispatch_lock:
            for emission in emissions:
                for callback in emission.callbacks:
                    try:
                        callback(emission.task)
                    except Exception:  # a subscriber's bug must not stop the poller or others
                        log.exception("subscriber %r of task %s raised", callback, emission.task.id)
