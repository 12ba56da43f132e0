"""The poller: the background thread that keeps every tracked task fresh.

One thread per tracker, started by the first tracked task and asleep on a Condition (no CPU)
while nothing is pending. Each tick asks the timing model (``cadence``) when the next useful look
is, fetches every pending task in one ``list-by-condition`` request (falling back to per-task
fetches on servers without it), merges what changed (never letting an older state overwrite a
newer one), records it in the history store, queues images for the cache and tells subscribers.

Why a thread: a notebook user runs other cells while jobs run; an asyncio task on the kernel's
loop would stall behind any blocking cell, a thread keeps progress live (jupyter-notes).
``Poller`` is the base of ``Tracker``, which adds what people call (track, wait, subscribe).
"""

from __future__ import annotations

import random
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from .cadence import ServerRhythm, TaskRhythm, next_poll, results_from, watched_since
from .errors import (
    AuthError,
    MJError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
)
from .imagecache import FINAL, PREVIEW, ImageCache
from .keys import redacting_logger
from .models import Status, Task
from .store import HistoryStore
from .wording import backend_state

if TYPE_CHECKING:
    from .client import Client
    from .notify import PushReceiver
    from .serverfacts import ServerFacts

__all__ = ["Poller", "Callback", "Overdue"]

log = redacting_logger("mjwidgets.tracking")

Callback = Callable[[Task], Any]

_IDLE_EXIT_S = 60.0  # an idle poller thread ends after this; the next track() starts a new one
_MIN_TICK_GAP_S = 0.03
_BATCH_SIZE = 200  # some resellers cap list-by-condition at 500 ids
_MAX_BACKOFF_S = 30.0
# Errors that say something about the backend itself (the badge), not about one request.
_BACKEND_ERRORS = (AuthError, TransportError, ServerError, RateLimitError)


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


def _finishes_on_this_clock(tasks: Iterable[Task]) -> list[float]:
    """The server's own finish times of ``tasks`` read on the monotonic clock the tracker keeps
    (a relay's refresh showed each after it finished: ``ServerRhythm.observe_poll``)."""
    offset = time.time() - time.monotonic()
    return [t.finish_time.timestamp() - offset for t in tasks if t.finish_time is not None]


class Overdue(NamedTuple):
    """A task silent for much longer than its server's rhythm predicts (it may be stuck)."""

    quiet_s: float  # seconds since its last change
    expected_s: float  # seconds its server usually takes between changes


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
    overdue: bool = False  # silent for much longer than the server's rhythm predicts
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


class Poller:
    """The polling half of a Tracker (its state is set up by ``Tracker.__init__``)."""

    base_url: str
    store: HistoryStore
    cache: ImageCache
    prefetch: str
    rhythm: ServerRhythm
    _client: Client | None
    _receiver: PushReceiver | None
    _lock: threading.RLock
    _cond: threading.Condition
    _dispatch_lock: threading.RLock
    _tracked: dict[str, _Tracked]
    _pending: dict[str, _Tracked]
    _everything: list[Callback]
    _thread: threading.Thread | None
    _closed: bool
    _batch_supported: bool
    _not_before: float
    _last_tick: float
    _trouble_listeners: list[Callable[[str], None]]
    _trouble: str
    _failures: int
    _stats: dict[str, int]
    _health_listeners: list[Callable[[], None]]
    _last_answer: float | None  # monotonic time the server last answered a poll or submit
    _last_error: MJError | None  # what went wrong since, if anything
    _last_look: tuple[float, float] = (0.0, 0.0)  # the last batched look: (sent, answered)
    _facts: ServerFacts  # what is remembered of the server across kernels
    _facts_due: bool = False  # learnt on the poller's thread, not yet written

    @property
    def client(self) -> Client | None:
        """The client polled for (None once closed)."""
        return self._client

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

    def overdue(self, task_id: str | Task) -> Overdue | None:
        """How long a pending task has been silent, when that is much longer than its server's
        rhythm predicts (``cadence.TaskRhythm.overdue``); None otherwise. Subscribers are called
        when a task becomes overdue, so a card can say it may be stuck."""
        key = task_id.id if isinstance(task_id, Task) else str(task_id)
        with self._lock:
            tracked = self._tracked.get(key)
            if tracked is None or tracked.done or not tracked.task.is_pending:
                return None
            found = tracked.rhythm.overdue(time.monotonic(), self.rhythm)
        return Overdue(*found) if found is not None else None

    def _keep_facts(self) -> None:
        """Remember what was learnt about the server (on a change of what it can do, and when
        a batch of jobs has ended) for the next kernel. Learnt on the poller's own thread (from
        a look's answer), it is written after that answer has reached the cards: a write to the
        history file waits on the disk, or for up to 10 s on another kernel's transaction."""
        if threading.current_thread() is self._thread:
            self._facts_due = True
            return
        self._write_facts()

    def _write_facts(self) -> None:
        self._facts_due = False
        client = self._client
        if client is None:
            return
        with self._lock:
            rhythm = self.rhythm.export()
        self._facts.put(self.base_url, {**client.capabilities.export(), "rhythm": rhythm})

    def health(self) -> dict[str, Any]:
        """The backend badge: ``{ok, label, reason}`` — ok when the server answered (a poll or
        a submit) and nothing failed since; False with the reason when the key was refused,
        the server could not be reached or failed; None before anything was asked."""
        answered = None if self._last_answer is None else time.monotonic() - self._last_answer
        host = self.base_url.split("://", 1)[-1]
        return backend_state(self._last_error, answered, host)

    def on_health(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` when ``health()`` changes; returns an unsubscribe function."""
        with self._lock:
            self._health_listeners.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._health_listeners:
                    self._health_listeners.remove(callback)

        return unsubscribe

    @contextmanager
    def _asking(self) -> Iterator[None]:
        """Around a request a person made: its outcome tells the backend badge."""
        try:
            yield
        except _BACKEND_ERRORS as exc:
            self._note_error(exc)
            raise
        except MJError as exc:
            if exc.http_status is not None:  # the server answered (it refused this request)
                self._note_answer()
            raise
        self._note_answer()

    def _note_answer(self) -> None:
        """The server answered: the backend is fine (tell listeners when that is news)."""
        news = self._last_error is not None or self._last_answer is None
        self._last_answer, self._last_error = time.monotonic(), None
        if news:
            self._tell_health()

    def _note_error(self, exc: MJError) -> None:
        news = type(exc) is not type(self._last_error)
        self._last_error = exc
        if news:
            self._tell_health()

    def _tell_health(self) -> None:
        with self._lock:
            listeners = list(self._health_listeners)
        for listener in listeners:
            try:
                listener()
            except Exception:  # a broken badge must not stop the poller
                log.exception("health listener failed")

    def _relaxed(self, task: Task) -> bool:
        client = self.client
        mode = str(task.raw.get("mode") or "").upper() if task.raw else ""
        return (
            mode == "RELAX"
            or "--relax" in (task.prompt or "")
            or (client is not None and client.mode == "relax")
        )

    @staticmethod
    def _since_submit(task: Task) -> float | None:
        """Seconds since the job's submit (its submit time: ours, or the server's once read)."""
        if task.submit_time is None:
            return None
        return max(0.0, time.time() - task.submit_time.timestamp())

    def _seconds_left(self, task: Task, deadline_s: float) -> float:
        """The deadline counts from the submit; a resumed old task still gets one look."""
        elapsed = self._since_submit(task)
        return deadline_s if elapsed is None else max(1.0, deadline_s - elapsed)

    def _rhythm(self, task: Task, now: float, poll_now: bool) -> TaskRhythm:
        """A task's timing from the moment tracking (re)starts, anchored on its submit."""
        relaxed = self._relaxed(task)
        since = self._since_submit(task)
        return TaskRhythm.start(task, now, relaxed, poll_now, since, server=self.rhythm)

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
                if self._facts_due:
                    self._write_facts()
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
            client = self._client
            self.rhythm.expect_refresh_grid(
                client is not None and client.capabilities.flavor == "newapi"
            )
            since = watched_since(
                self._last_look[1], (t.rhythm.first_seen for t in self._pending.values())
            )
            wake_at = next_poll(
                windows.values(),
                self.rhythm,
                now,
                self._last_tick,
                since,
                results_from((t.rhythm for t in self._pending.values()), self.rhythm),
                fresh=since > self._last_look[1],  # every pending task is new since that look
            )
            wake_at = max(wake_at, self._not_before, self._last_tick + _MIN_TICK_GAP_S)
            next_deadline = min(
                t.deadline if now < t.deadline else t.deadline + 60 for t in self._pending.values()
            )
            wake_at = min(wake_at, next_deadline)
            if wake_at > now:
                # from the clock as it is now, not as it was before the planning (which takes
                # a few ms with 100 tasks pending): slept from ``now``, every look went out late
                notified = self._cond.wait(max(0.0, wake_at - time.monotonic()))
                if not notified and wake_at < next_deadline and self._batch_supported:
                    # nothing changed while asleep (every change notifies): the look planned is
                    # the look to send; planning it again first sent it late by as long again
                    return list(self._pending.values()), []
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
        sent = self._last_tick = time.monotonic()
        with self._lock:
            self._stats["ticks"] += 1
            whole = self._batch_supported and len(batch) == len(self._pending)
            running = sum(1 for t in batch if t.task.status is Status.IN_PROGRESS)
            since = max((t.rhythm.first_seen for t in batch), default=sent)
            # status and progress only: new-api gives every in-progress preview a fresh ?rand=
            stages = [(t.task.status, t.task.progress) for t in batch]
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
        self._note_answer()
        self._apply(fresh, batch, observed_at)
        # a look at every pending task, each of them seen by the look before too: evidence of
        # the server's refresh grid (a task submitted in between moves on its own time)
        if whole and since < self._last_look[0]:
            previous = self._last_look
            with self._lock:
                movers = [
                    stage
                    for t, stage in zip(batch, stages, strict=True)
                    if (t.task.status, t.task.progress) != stage
                ]
                running_moved = sum(1 for status, _ in movers if status is Status.IN_PROGRESS)
                finishes = _finishes_on_this_clock(
                    t.task
                    for t, stage in zip(batch, stages, strict=True)
                    if stage[0] is not Status.SUCCESS and t.task.status is Status.SUCCESS
                )
                self.rhythm.observe_poll(
                    previous,
                    (sent, observed_at),
                    len(movers),
                    running,
                    len(batch),
                    running_moved,
                    (min(finishes), max(finishes)) if finishes else None,
                )
        elif whole:  # the first look at tasks submitted since: those that moved tell the grid
            with self._lock:
                moved_submits = [
                    t.rhythm.fresh_submit
                    for t, stage in zip(batch, stages, strict=True)
                    if (t.task.status, t.task.progress) != stage
                ]
            self.rhythm.observe_first_look(moved_submits, (sent, observed_at), len(batch))
        if whole:
            self._last_look = (sent, observed_at)

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
            self._note_error(exc)
            self._tell_trouble(f"retrying in {delay:.1f} s: {type(exc).__name__}")

    # -- applying what was seen ----------------------------------------------------------------

    def _apply(self, fresh: dict[str, Task], batch: list[_Tracked], observed_at: float) -> int:
        """Merge what a look saw; returns how many tasks moved."""
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
            self._check_overdue(batch, observed_at)
        self._settle(changed)
        with self._lock:
            ended = bool(changed) and not self._pending
        if ended:  # the last job of a batch ended: what its jobs taught is kept for later
            self._keep_facts()
        return len(changed)

    def _check_overdue(self, batch: list[_Tracked], now: float) -> None:
        """Tell subscribers when a task starts (or stops) being overdue: nothing else changes
        for a stuck task, so without this its card would never say so."""
        flipped: list[_Tracked] = []
        with self._lock:
            for tracked in batch:
                if tracked.done:
                    continue
                overdue = tracked.rhythm.overdue(now, self.rhythm) is not None
                if overdue != tracked.overdue:
                    tracked.overdue = overdue
                    flipped.append(tracked)
        if flipped:
            self._emit([self._emission(tracked) for tracked in flipped])

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
                    update.bind(client)
                changed = self._merge(tracked, update, now, now - 0.01)
                self._cond.notify_all()  # a pushed task is polled only as a safety net: re-plan
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
        tracked.overdue = False  # it moved
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
        """Queue images, tell subscribers, then record the changes in the history.

        Why subscribers before the history: a look's answer reaches the cards without waiting
        on the disk. The write is the history's copy of a state the server keeps and tells
        again (not a submit's journal, which is written before the money is spent); it took
        1–7 ms for an answer of 100 rows and, when SQLite checkpointed its log, 150 ms, all
        of it added to every result's lag when it came first. ``wait()`` still returns only
        once the end is recorded too (``_settle`` runs after this)."""
        if not changed:
            return
        for tracked in changed:
            task = tracked.task
            if task.status is Status.SUCCESS:
                self._prefetch(tracked, FINAL)
            elif task.image_url and task.is_pending:
                self._prefetch(tracked, PREVIEW)
        self._emit([self._emission(tracked) for tracked in changed])
        try:
            self.store.record_many([tracked.task for tracked in changed], self.base_url)
        except Exception:  # the poller goes on; the next change is recorded again
            log.exception("recording %d task changes failed", len(changed))

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
