"""Tracker: one per Client, the one place that starts tracking a task, and what a tracked task
answers to.

``tracker.imagine/action/modal/video/extend`` submit through the client and track the result; a
card takes the tracked task (``tracker.get``) and subscribes to its changes; ``task.wait()`` of a
tracked task waits on the poller (no requests of its own), ``task.image()`` reads the image cache.
The background loop itself is ``poller.Poller`` (the base class), its timing model ``cadence``.
Everything observed goes to the history store (so a crash loses nothing) and finished images and
clips to the image cache (so they outlive their URLs).
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import budget as budgets
from . import costs
from .cadence import ServerRhythm, TaskRhythm
from .client import Client
from .errors import (
    MJError,
    TaskFailed,
    TaskTimeout,
    ValidationError,
)
from .imagecache import FINAL, ImageCache
from .imagejobs import ImageJobs
from .journal import JournalTee
from .keys import redact, redacting_logger
from .lineage import lost_presses
from .models import Button, ButtonKind, Status, Task
from .poller import Callback, Overdue, Poller, _fingerprint, _rank, _Tracked
from .references import RememberedUploads
from .serverfacts import ServerFacts
from .store import HistoryStore, SubmitRecorder
from .uploads import StoredUploads
from .wording import button_name

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["Tracker", "Overdue", "ServerRhythm", "TaskRhythm"]

log = redacting_logger("mjwidgets.tracking")

DEFAULT_DEADLINE_S = 15 * 60
RELAX_DEADLINE_S = 60 * 60
_PREFETCH_MODES = ("none", "final", "watched", "all")


_trackers: weakref.WeakKeyDictionary[Any, Tracker] = weakref.WeakKeyDictionary()
_trackers_lock = threading.RLock()
_default_tracker: Tracker | None = None


# ------------------------------------------------------------------------------------------


class Tracker(ImageJobs, Poller):
    """Tracks every pending task of one Client with a background poller.

    ``store`` (default: the history file under ``$MJ_HOME``) journals submits and records every
    change; ``cache`` (default: ``images/`` beside the store) keeps images. ``notify=True`` starts
    a local receiver for ``notifyHook`` pushes (use ``tracker.imagine/action/modal/video``).
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
        self.budgets: list[budgets.Budget] = []  # limits for every submit of this tracker
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
        self._health_listeners: list[Callable[[], None]] = []
        self._last_answer: float | None = None
        self._last_error: MJError | None = None
        self._failures = 0
        self._stats = {
            "ticks": 0,
            "batch_requests": 0,
            "task_fetches": 0,
            "errors": 0,
            "pushes": 0,
            "changes": 0,
            "tracks": 0,
        }
        with _trackers_lock:
            other = _trackers.get(client)
            if other is not None and not other._closed:
                raise ValidationError(
                    "this client already has a tracker",
                    advice="use Tracker.for_client(client), or close the other tracker first",
                )
            _trackers[client] = self
        self._receiver = None
        if notify:  # werkzeug's server: imported only by a tracker that listens
            from .notify import PushReceiver

            self._receiver = PushReceiver(self._on_push)
        self._uploads: StoredUploads | None = None
        self._attach(client)
        self._facts = ServerFacts(self.store.path)
        self._remember_capabilities(client)
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
            client.journal = JournalTee(current, recorder)
        if isinstance(getattr(client, "uploads", None), RememberedUploads):
            self._uploads = StoredUploads(self.store.path)  # uploads outlive the kernel
            client.uploads = self._uploads

    def _remember_capabilities(self, client: Client) -> None:
        """What an earlier kernel learnt about this server (what it can do, how long its jobs
        take) is known at once; what this one learns is kept for the next."""
        capabilities = client.capabilities
        known = self._facts.get(client.base_url)
        capabilities.restore(known)
        self.rhythm.restore((known or {}).get("rhythm"))
        self._forget_facts = capabilities.on_change(lambda _facts: self._keep_facts())

    def _resume(self, client: Client) -> None:
        for task in self.store.unfinished(client.base_url, client):
            self.track(task, poll_now=True, record=False)
        if self.prefetch != "none":
            for task in self.store.missing_images(client.base_url):
                self.cache.prefetch(task.bind(client), FINAL)

    # -- public API --------------------------------------------------------------------------

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
        self._require_client()
        if task.server and task.server != self.base_url:
            raise ValidationError(
                f"task {task.id} lives on {task.server}, not on {self.base_url}",
                task_id=task.id,
                advice="track it with the tracker of a Client for its own server",
            )
        task.bind(self)  # task.wait()/image()/reload() now answer through this tracker
        if record:
            self.store.record(task, self.base_url)
        now = time.monotonic()
        with self._cond:
            self._stats["tracks"] += 1
            tracked = self._tracked.get(task.id)
            if tracked is None:
                tracked = _Tracked(
                    task=task,
                    rhythm=self._rhythm(task, now, poll_now),
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
                tracked.rhythm = self._rhythm(tracked.task, now, poll_now)
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

    def subscribe(
        self, task_id: str | Task, callback: Callback, *, replay: bool = False
    ) -> Callable[[], None]:
        """Call ``callback(task)`` on every change of the task; returns an unsubscribe function.

        Callbacks run on the poller's thread, one at a time, in order; one that raises is logged
        and the others still run. Keep them short and never block in them. ``replay=True`` also
        calls it at once with the task as it is, in order with the changes: no change can fall
        between a first look and the subscription, nor be half-applied when it is read.
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
        with self._dispatch_lock:  # no merge runs meanwhile: the task is read whole
            with self._lock:
                tracked = self._tracked[key]
                tracked.subscribers.append(callback)
            if replay:
                callback(tracked.task)

        def unsubscribe() -> None:
            with self._lock:
                if callback in tracked.subscribers:
                    tracked.subscribers.remove(callback)

        return unsubscribe

    def replay(self, task_id: str | Task, callback: Callback) -> None:
        """Call ``callback(task)`` once with the tracked task as it is, in order with its changes.

        For a re-show prompted by something other than the task (what the server accepts, say):
        called from another thread it could otherwise read the task just before a change and
        write its old status over the new one."""
        key = task_id.id if isinstance(task_id, Task) else str(task_id)
        with self._dispatch_lock:
            with self._lock:
                tracked = self._tracked.get(key)
            if tracked is not None:
                callback(tracked.task)

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

    def wait(
        self, task_id: str | Task, timeout: float | None = None, interval: float | None = None
    ) -> Task:
        """Block until the task is finished or MODAL; returns it. No request of its own: the
        poller's ticks (or a push) wake it (``interval`` is accepted for ``task.wait()``'s sake
        and ignored).

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
            raise TaskFailed(task, redact(task.fail_reason))  # as client.wait: no key echoed
        return task

    def get(self, task_id: str | Task) -> Task | None:
        """The tracked object of a task (the one every card and ``wait`` share), or None."""
        key = task_id.id if isinstance(task_id, Task) else str(task_id)
        with self._lock:
            tracked = self._tracked.get(key)
            return tracked.task if tracked is not None else None

    # -- what a tracked task asks of its backend (models.TaskBackend) --------------------------

    def reload(self, task: Task) -> Task:
        """Fetch the task now and apply what changed (recorded and announced like a poll)."""
        fresh = self._require_client().fetch(task.id)
        self._apply_one(task, fresh)
        return self.get(task) or fresh.bind(self)

    def cancel(self, task: Task) -> Task:
        """Ask the server to cancel the task; the answer is applied like a poll (Plus: CANCEL,
        trueai: FAILURE "取消任务"). UnsupportedError where the server has no cancel."""
        with self._asking():
            fresh = self._require_client().cancel(task)
        self._apply_one(task, fresh)
        return self.get(task) or fresh.bind(self)

    def _apply_one(self, task: Task, fresh: Task) -> None:
        with self._lock:
            tracked = self._tracked.get(task.id)
        if tracked is not None:
            self._apply({fresh.id: fresh}, [tracked], time.monotonic())

    def download(self, url: str, *, max_bytes: int = 50_000_000) -> bytes:
        return self._require_client().download(url, max_bytes=max_bytes)

    def image(self, task: Task) -> Image.Image:
        """The task's image from the cache (downloaded once, served after its URL expires)."""
        return self.cache.image(task)

    def tiles(self, task: Task) -> list[Image.Image]:
        return self.cache.tiles(task)

    def clip(self, task: Task, index: int = 0) -> bytes:
        """Clip ``index`` of a video task from the cache (downloaded once, served after its URL
        expires)."""
        return self.cache.videos.clip(task, index).read_bytes()

    def save(self, task: Task, folder: str | os.PathLike[str]) -> Path:
        return self.cache.save(task, folder)

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

    def imagine(self, prompt: str, *, budget: Any = None, **options: Any) -> Task:
        """``client.imagine`` with this tracker's notify hook; the task is tracked. ``budget``
        (a Budget or several) is checked with the kernel's and the tracker's own first."""
        client = self._require_client()
        options.setdefault("notify_hook", self.notify_url)
        priced = prompt
        if isinstance(prompt, str) and options.get("oref") is not None:  # --oref doubles it
            priced = f"{prompt} --oref image"
        cost = costs.imagine_cost(priced, client.mode) if isinstance(priced, str) else None
        return self._paid(cost, "this /imagine", budget, lambda: client.imagine(prompt, **options))

    def action(
        self,
        task: Task | str,
        button: Any,
        *,
        budget: Any = None,
        again: bool = False,
        **options: Any,
    ) -> Task:
        """``client.action`` (press a button) with the notify hook; the new task is tracked.
        Budgets are checked first (a dialog's job is priced when the dialog is sent).

        An upscale (U1–U4) already made from this grid is returned instead of paying for it
        again (Midjourney does not upscale a tile twice; the history knows the result); an
        earlier press whose answer was lost is refused (it may exist on the server). Vary,
        reroll and the others always submit. ``again=True`` submits a new press anyway.
        """
        client = self._require_client()
        options.setdefault("notify_hook", self.notify_url)
        parent = task if isinstance(task, Task) else self.get(task) or client.fetch(str(task))
        cost, what = None, "this press"
        if parent.status is Status.SUCCESS:  # else the client says why nothing can be pressed
            chosen = parent.button(button)
            existing = None if again else self.existing_result(parent, chosen)
            if existing is not None:
                return existing
            if not again and self.lost_press(parent, chosen):
                raise ValidationError(
                    f"an earlier press of {button_name(chosen)} on task {parent.id} may have "
                    "reached the server (its answer was lost)",
                    task_id=parent.id,
                    advice="look for it in the server's task list, or press it again with "
                    "again=True if it is not there",
                )
            cost = costs.press_cost(chosen, parent.prompt, client.mode)
            what = f"pressing {chosen.display}"
        return self._paid(cost, what, budget, lambda: client.action(parent, button, **options))

    def modal(
        self, task: Task | str, *, prompt: str | None = None, mask: Any = None, budget: Any = None
    ) -> Task:
        """``client.modal`` (finish a MODAL task); the task is tracked again. Budgets are checked
        first: sending Vary (Region) or Custom Zoom starts the job."""
        client = self._require_client()
        pending = task if isinstance(task, Task) else self.get(task) or client.fetch(str(task))
        cost = costs.modal_cost(pending.modal_kind, prompt or pending.prompt, client.mode)
        return self._paid(
            cost,
            "this dialog",
            budget,
            lambda: client.modal(pending, prompt=prompt, mask=mask, notify_hook=self.notify_url),
        )

    def existing_result(self, parent: Task, button: Button) -> Task | None:
        """The task an earlier press of this upscale button made, when it did not fail; None for
        other buttons (vary, reroll, … may be pressed as often as one likes)."""
        if button.kind is not ButtonKind.UPSAMPLE:
            return None
        return self.upscale_results(parent).get(button.custom_id)

    def upscale_results(self, parent: Task) -> dict[str, Task]:
        """The results of the upscale buttons already pressed on ``parent`` (by customId; failed
        and cancelled ones left out), as the history knows them."""
        found: dict[str, Task] = {}
        for child in self.store.children(parent, self.base_url):
            origin = child.origin_button
            if (
                origin is None
                or origin.kind is not ButtonKind.UPSAMPLE
                or child.ended_without_result
            ):
                continue
            found.setdefault(origin.custom_id, self.get(child) or child.bind(self))
        return found

    def lost_press(self, parent: Task, button: Button) -> bool:
        """True when an earlier press of this upscale button may have reached the server but
        its answer was lost (journaled "outcome unknown"): pressing again could pay twice."""
        return button.kind is ButtonKind.UPSAMPLE and button.custom_id in self.lost_presses(parent)

    def lost_presses(self, parent: Task) -> set[str]:
        """customIds pressed on ``parent`` whose answer was lost (they may exist)."""
        return lost_presses(self.store, parent, self.base_url)

    def video(self, prompt: str, *, budget: Any = None, **options: Any) -> Task:
        """``client.video`` (a new video job) with the notify hook; budgets checked first; the
        task is tracked, and its clips and posters are cached the moment it succeeds."""
        client = self._require_client()
        options.setdefault("notify_hook", self.notify_url)
        cost = costs.video_cost(
            batch_size=options.get("batch_size"), hd=bool(options.get("hd")), mode=client.mode,
            prompt=prompt if isinstance(prompt, str) else None,
        )  # fmt: skip
        return self._paid(cost, "this video", budget, lambda: client.video(prompt, **options))

    def extend(self, task: Task | str, *, budget: Any = None, **options: Any) -> Task:
        """``client.extend`` (4 s more of a finished video) with the notify hook; budgets
        checked first; the new task is tracked."""
        client = self._require_client()
        options.setdefault("notify_hook", self.notify_url)
        parent = task if isinstance(task, Task) else self.get(task) or client.fetch(str(task))
        hd = str(parent.raw.get("videoType") or "").endswith("720")
        cost = costs.video_cost(
            batch_size=options.get("batch_size"), hd=hd, extend=True, mode=client.mode
        )
        return self._paid(cost, "this extend", budget, lambda: client.extend(parent, **options))

    def _paid(
        self, cost: costs.Estimate | None, what: str, budget: Any, submit: Callable[[], Task]
    ) -> Task:
        """Every paid submit of the tracker: the budgets that apply (the kernel's, this
        tracker's, the caller's) are asked first and nothing is sent if one refuses; a submit
        the server refused is given back to them; the task is tracked."""
        wanted = [budgets.kernel_budget(), *self.budgets, *budgets.as_budgets(budget)]
        claim = budgets.reserve(wanted, cost or costs.Estimate(), what)
        try:
            with self._asking():  # its outcome tells the backend badge
                task = submit()
        except MJError as exc:
            if not exc.maybe_submitted:  # refused before anything was made: costs nothing
                claim.release()
            raise
        claim.bind(task)
        return self._track_submitted(task)

    def _track_submitted(self, task: Task) -> Task:
        """Track what a submit returned. This tracker's store journaled it (the row was written
        with the answer), so it is not recorded a second time."""
        client = self._client
        journaled = client is not None and isinstance(client.journal, (SubmitRecorder, JournalTee))
        return self.track(task, record=not journaled)

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
        self._forget_facts()
        self._facts.close()
        if self._uploads is not None:
            self._uploads.close()
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
