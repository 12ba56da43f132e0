"""Replays: run a lineage again — on another server, another account, another model version —
and keep the old and new results side by side.

``mjw.replay(task, client=other, version="8.1")`` makes each step of the task's lineage
(``steps``) again through the target tracker's submit methods (budgets, journal and tracking
apply), waits for each, and presses buttons by meaning on the *new* tasks. Where the target
cannot do a step — a server without buttons (OSS), a model version without Zoom (V8), a refused
submit, a budget reached — it stops and says which step and why; what was made so far stays in
the history. ``replay.pairs`` are (old, new) tasks; ``replay.compare()`` shows them in Compare.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PIL import Image

from . import inputs, steps
from .costs import Estimate
from .errors import MJError, NotFoundError, ValidationError
from .models import Task
from .prompt import Prompt
from .recipes import load_steps
from .steps import Step
from .store import HistoryStore, default_home
from .tracking import Tracker

if TYPE_CHECKING:
    from .client import Client

__all__ = ["Replay", "ReplayStep", "continue_from", "replay", "with_version"]


def with_version(prompt: str, version: str | None) -> str:
    """``prompt`` for another model version: ``"8.1"`` sets ``--v 8.1``, ``"niji 6"`` sets
    ``--niji 6`` (the other family's parameter is removed); None leaves it as it is."""
    if not version:
        return prompt
    text = " ".join(str(version).replace("--", " ").split()).lower()
    if text.startswith("niji"):
        number = text[4:].strip()
        return str(Prompt(prompt).with_params(niji=number or True, v=None))
    number = text[1:].strip() if text.startswith("v") else text
    return str(Prompt(prompt).with_params(v=number, niji=None))


@dataclass
class ReplayStep:
    """One step of a replay: the original task (``old``, when the history has it), the new one,
    and why it could not be made (``error``)."""

    step: Step
    old: Task | None = None
    new: Task | None = None
    error: str = ""


class Replay:
    """A lineage made again on a target tracker (see the module docstring)."""

    def __init__(
        self,
        found: list[Step],
        tracker: Tracker,
        *,
        version: str | None = None,
        budget: Any = None,
        history: HistoryStore | None = None,
        server: str = "",
        source_path: str | None = None,
        timeout: float = 900,
    ) -> None:
        self.tracker = tracker
        self.version = version
        self.budget = budget
        self.timeout = timeout
        self.source_path = source_path
        self.items = [
            ReplayStep(step, history.get(step.task_id, server) if history else None)
            for step in found
        ]
        self.stopped_at: int | None = None  # index of the step that could not be made
        self._listeners: list[Callable[[Replay], None]] = []
        self._thread: threading.Thread | None = None
        self._done = threading.Event()

    # -- what it will cost, what it made ------------------------------------------------------

    @property
    def steps(self) -> list[Step]:
        return [item.step for item in self.items]

    def estimate(self) -> Estimate:
        """What the replay costs (``costs``' table), before it runs."""
        return steps.cost_of(self.steps, self.tracker.client.mode if self.tracker.client else None)

    @property
    def pairs(self) -> list[tuple[Task | None, Task]]:
        """(old, new) for every step made again (old None when the history lacks it)."""
        return [(item.old, item.new) for item in self.items if item.new is not None]

    @property
    def reason(self) -> str:
        """Why the replay stopped ('' when every step was made)."""
        return self.items[self.stopped_at].error if self.stopped_at is not None else ""

    @property
    def ok(self) -> bool:
        return self._done.is_set() and self.stopped_at is None

    def summary(self) -> str:
        made = sum(item.new is not None for item in self.items)
        head = f"replay: {made} of {len(self.items)} steps made on {self.tracker.base_url}"
        return f"{head}; stopped: {self.reason}" if self.stopped_at is not None else head

    def __repr__(self) -> str:
        return f"<Replay {self.summary()}>"

    def on_change(self, callback: Callable[[Replay], None]) -> None:
        """Call ``callback(replay)`` after each step (on the replay's thread when started)."""
        self._listeners.append(callback)

    def compare(self, *, all_steps: bool = False) -> Any:
        """Compare the original and the new result side by side (every step's pair with
        ``all_steps``)."""
        from .widgets import Compare  # widgets only when someone looks

        shown: list[Any] = []
        pairs = self.pairs if all_steps else self.pairs[-1:]
        for old, new in pairs:
            if old is not None and old.image_url:
                shown.append(old)
            elif self.source_path and not all_steps:
                shown.append(self.source_path)
            shown.append(new)
        return Compare(shown, tracker=self.tracker, title=self.summary())

    # -- running --------------------------------------------------------------------------------

    def run(self) -> Replay:
        """Make every step, in order, waiting for each; returns the replay (blocking)."""
        try:
            previous: Task | None = None
            for index, item in enumerate(self.items):
                try:
                    item.new = self._make(item.step, previous)
                except (MJError, ValueError) as exc:
                    item.error = f"step {index + 1} ({item.step.describe()}): {exc}"
                    self.stopped_at = index
                    break
                finally:
                    self._notify()
                previous = item.new
        finally:
            self._done.set()
            self._notify()
        return self

    def start(self) -> Replay:
        """Run on a background thread; returns at once (``wait()`` for the end)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.run, name="mjw-replay", daemon=True)
            self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> Replay:
        if not self._done.wait(timeout):
            raise TimeoutError(f"replay not finished after {timeout} s: {self.summary()}")
        return self

    def _notify(self) -> None:
        for callback in list(self._listeners):
            try:
                callback(self)
            except Exception:  # a broken view must not stop the replay
                pass

    def _image(self, digest: str) -> bytes:
        folders = [default_home() / inputs.FOLDER_NAME, self.tracker.store.folder / "inputs"]
        return inputs.load(digest, folders=folders)

    def _make(self, step: Step, previous: Task | None) -> Task:
        tracker, wait = self.tracker, self.timeout
        if step.submit == "imagine":
            images = [self._image(digest) for digest in step.images] or None
            prompt = with_version(step.prompt, self.version)
            task = tracker.imagine(prompt, images=images, bot=step.bot, budget=self.budget)
            return task.wait(timeout=wait)
        if step.submit == "blend":
            images = [self._image(digest) for digest in step.images]
            task = tracker.blend(images, dimensions=step.dimensions or "SQUARE", budget=self.budget)
            return task.wait(timeout=wait)
        if step.submit == "press" and step.button and previous is not None:
            button = previous.button_for(**step.button)
            task = tracker.action(previous, button, budget=self.budget).wait(timeout=wait)
            if not step.dialog:
                return task
            mask = self._mask(step.mask, task.parent_image_size) if step.mask else None
            said = step.dialog_prompt
            if said and Prompt(said).version is not None:
                said = with_version(said, self.version)
            return tracker.modal(task, prompt=said, mask=mask, budget=self.budget).wait(
                timeout=wait
            )
        if step.submit == "video" and step.video is not None and hasattr(tracker, "video"):
            return self._video(step, previous).wait(timeout=wait)
        if step.submit == "unknown" and previous is None:
            client = tracker.client
            if client is None or not _same_server(step, self.items, tracker):
                raise ValidationError(
                    f"task {step.task_id} was made outside the history, so there is nothing to "
                    "make it from on this server",
                    advice="replay a lineage that starts with an /imagine mjwidgets sent",
                )
            return tracker.track(client.fetch(step.task_id)).wait(timeout=wait)
        raise ValidationError(
            f"replays cannot make a {step.submit} step yet",
            advice="make this step by hand, then replay from the task it made",
        )

    def _video(self, step: Step, previous: Task | None) -> Task:
        """A /submit/video step: a new video from the previous step's image (or the frames it
        was sent with), or an Extend of the previous step's video."""
        body, tracker = step.video or {}, self.tracker
        options: dict[str, Any] = {
            name: body[key]
            for key, name in (("motion", "motion"), ("batchSize", "batch_size"))
            if body.get(key) is not None
        }
        if str(body.get("action") or "").lower() == "extend" and previous is not None:
            return tracker.extend(
                previous, index=body.get("index"), prompt=step.prompt, budget=self.budget,
                **options,
            )  # fmt: skip
        frames: dict[str, Any] = {}
        for key, name in (("image", "image"), ("endImage", "end_image")):
            value = body.get(key)
            if isinstance(value, str) and value.startswith("sha256:"):
                frames[name] = self._image(value)
            elif key == "image" and previous is not None:
                frames[name] = previous
            elif isinstance(value, str) and value:
                frames[name] = value
        hd = str(body.get("videoType") or "").endswith("720")
        return tracker.video(
            step.prompt, loop=bool(body.get("loop")), hd=hd, budget=self.budget,
            **frames, **options,
        )  # fmt: skip

    def _mask(self, digest: str, size: tuple[int, int] | None) -> bytes:
        """The step's mask, scaled to the new image's size when that differs (another model
        version or server may upscale to another size)."""
        data = self._image(digest)
        if size is None:
            return data
        with Image.open(io.BytesIO(data)) as opened:
            if opened.size == tuple(size):
                return data
            scaled = opened.convert("L").resize(tuple(size), Image.Resampling.NEAREST)
        out = io.BytesIO()
        scaled.save(out, "PNG")
        return out.getvalue()


def _same_server(step: Step, items: list[ReplayStep], tracker: Tracker) -> bool:
    old = next((item.old for item in items if item.step is step), None)
    return old is not None and old.server == tracker.base_url


def replay(
    source: Task | str | os.PathLike[str] | dict[str, Any],
    *,
    client: Client | None = None,
    tracker: Tracker | None = None,
    version: str | None = None,
    budget: Any = None,
    store: HistoryStore | None = None,
    background: bool = False,
    timeout: float = 900,
) -> Replay:
    """Run ``source``'s lineage again (a Task, a task id, a saved file or its record) on
    ``client``'s server (or ``tracker``'s; default: the kernel's default tracker), with
    ``version`` (e.g. "8.1", "niji 6") replacing the model version of its /imagine. Blocks until
    done unless ``background``; never raises for a step the target cannot make: the Replay says
    which one and why (``replay.reason``)."""
    if tracker is None:
        tracker = Tracker.for_client(client) if client is not None else Tracker.default()
    found, origin = load_steps(source, store)
    history = origin.get("store") or store
    is_file = isinstance(source, (str, os.PathLike)) and os.path.isfile(source)
    path = str(source) if is_file else None
    run = Replay(
        found,
        tracker,
        version=version,
        budget=budget,
        history=history if isinstance(history, HistoryStore) else tracker.store,
        server=str(origin.get("server") or ""),
        source_path=path,
        timeout=timeout,
    )
    return run.start() if background else run.run()


def continue_from(
    source: Task | str | os.PathLike[str] | dict[str, Any], *, tracker: Tracker | None = None
) -> Task:
    """The task a saved picture (or its record, or a task id) came from, tracked again so its
    buttons can be pressed — what dropping a file into the Studio offers. Works while the
    tracker talks to the task's server and the server still knows the task; otherwise
    NotFoundError says to replay it instead."""
    tracker = tracker if tracker is not None else Tracker.default()
    if isinstance(source, Task):
        record: dict[str, Any] = {"id": source.id, "server": source.server}
    elif isinstance(source, dict):
        record = source
    elif os.path.isfile(source):
        from .provenance import provenance

        record = provenance(source)
    else:
        record = {"id": str(source), "server": tracker.base_url}
    task_id, server = str(record.get("id") or ""), str(record.get("server") or "")
    client = tracker.client
    if not task_id or client is None or (server and server != tracker.base_url):
        raise NotFoundError(
            f"task {task_id or '?'} was made on {server or 'an unknown server'}, not on "
            f"{tracker.base_url}",
            task_id=task_id or None,
            advice="mjw.replay(path, client=…) makes it again here",
        )
    live = tracker.get(task_id)
    return live if live is not None else tracker.track(client.fetch(task_id))
