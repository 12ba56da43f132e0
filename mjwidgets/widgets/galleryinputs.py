"""The gallery's ticked results as inputs: "Blend N" and "Use as ▸ … reference".

Blend takes 2–5 ticked results and a shape; with a Studio attached the blend goes through the
Studio (its capability check, its card grid), otherwise through the tracker (the same paid-submit
path: budgets, journal) and its card appears below the gallery. "Use as" puts the ticked results
into the attached Studio's reference slots (``Studio.add_reference``), where the prompt preview
shows their URLs. Each click is sent on ``SUBMITTER``; the page keeps the button disabled until
the kernel answers ``inputs_done``, so one click is one submit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets

from .. import wording
from ..errors import MJError, UnsupportedError, ValidationError
from ..models import Status, Task
from ..references import SLOT_NAMES, SLOTS
from ..tracking import Tracker
from .plumbing import SUBMITTER
from .taskview import TaskView

log = logging.getLogger("mjwidgets.widgets")

SHAPES = ("SQUARE", "PORTRAIT", "LANDSCAPE")
MESSAGES = ("blend_ticked", "use_as")


class GalleryInputs:
    """Blend / Use as for one gallery (``model``: its synced ``selected``, ``message``,
    ``error``); ``find`` turns a task id into its stored Task; ``studio`` may be None."""

    def __init__(
        self, model: Any, tracker: Tracker, studio: Any, find: Callable[[str], Task]
    ) -> None:
        self.model = model
        self.tracker = tracker
        self.studio = studio
        self._find = find
        #: blend cards made without a Studio, newest last (shown below the gallery)
        self.box = ipywidgets.VBox()
        self.box.add_class("mjw-history-blends")
        self.views: list[TaskView] = []
        self._busy = False  # a click in flight: another message from the page is dropped
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ public
    def blend(self, tasks: Sequence[Task | str] | None = None, dimensions: str = "SQUARE") -> Task:
        """Blend the ticked results (or ``tasks``); returns the blend task, shown as a card."""
        found = self._tasks(tasks)
        if not 2 <= len(found) <= 5:
            raise ValidationError(
                f"blend takes 2 to 5 images, {len(found)} ticked", advice="tick 2 to 5 results"
            )
        shape = str(dimensions).upper()
        if shape not in SHAPES:
            raise ValidationError(f"unknown shape {dimensions!r}", advice=f"use one of {SHAPES}")
        images = [self._image(task) for task in found]  # from the cache: links expire
        if self.studio is not None:
            return self.studio.blend(images, dimensions=shape).task
        client = self.tracker.client
        if client is None:
            raise MJError("the gallery's client is closed", advice="create a new HistoryView")
        client.capabilities.check_route("blend")
        task = self.tracker.blend(images, dimensions=shape)
        view = TaskView(task, tracker=self.tracker)
        self.views.append(view)
        self.box.children = (*self.box.children, view)
        return task

    def use_as(self, slot: str, tasks: Sequence[Task | str] | None = None) -> list[str]:
        """Put the ticked results (or ``tasks``) into the Studio's ``slot`` ("images", "sref",
        "oref" or "cref"); returns the slots' ids."""
        if self.studio is None:
            raise ValidationError(
                "this gallery has no Studio to put references into",
                advice="create it with mjw.HistoryView(studio=studio)",
            )
        if slot not in SLOTS:
            raise ValidationError(f"unknown reference slot {slot!r}", advice=f"use one of {SLOTS}")
        found = self._tasks(tasks)
        if not found:
            raise ValidationError("no result is ticked", advice="tick the boxes on the thumbnails")
        if slot == "oref" and len(found) > 1:
            raise ValidationError(
                f"an omni reference is one image, {len(found)} ticked",
                advice="tick one result (or use them as style references)",
            )
        return [self.studio.add_reference(slot, task) for task in found]

    # ------------------------------------------------------------------ messages
    def on_message(self, content: dict) -> None:
        """A click from the page: run it off the message loop, then answer ``inputs_done``. While
        one runs, another is dropped (a double click, a page re-sending): one click, one bill."""
        with self._lock:
            if self._busy:
                log.info("gallery %s dropped: the previous click is still running", content)
                return
            self._busy = True
        try:
            SUBMITTER.submit(self._run, dict(content), list(self.model.selected))
        except BaseException:
            self._busy = False
            raise

    def _run(self, content: dict, ticked: list[str]) -> None:
        kind = content.get("type")
        model = self.model
        try:
            model.error = ""
            if kind == "blend_ticked":
                self.blend(ticked, str(content.get("dimensions") or "SQUARE"))
                where = "in the Studio" if self.studio is not None else "below"
                model.message = f"blend of {len(ticked)} submitted: its card is {where}"
            elif kind == "use_as":
                slot = str(content.get("slot", ""))
                added = self.use_as(slot, ticked)
                name = SLOT_NAMES.get(slot, slot)
                model.message = f"{len(added)} image(s) put into the Studio's {name} slot"
        except MJError as exc:
            what = "Not available here" if isinstance(exc, UnsupportedError) else "Not sent"
            model.error = f"{what}: {wording.error_words(exc)}"
        except Exception as exc:  # a worker must answer the page whatever happens
            log.exception("gallery %s failed", kind)
            model.error = wording.error_words(exc)
        finally:
            with self._lock:
                self._busy = False
        model.send({"type": "inputs_done", "what": kind})

    def _tasks(self, tasks: Sequence[Task | str] | None) -> list[Task]:
        wanted = list(tasks) if tasks is not None else list(self.model.selected)
        return [t if isinstance(t, Task) else self._find(t) for t in wanted]

    def _image(self, task: Task) -> Any:
        if task.is_video or task.status is not Status.SUCCESS:
            raise ValidationError(
                f"task {task.id} has no finished image", task_id=task.id,
                advice="tick finished image results",
            )  # fmt: skip
        return self.tracker.image(task)
