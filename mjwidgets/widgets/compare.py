"""Compare: two or more images side by side at the same display width, each with its prompt's
differences from the first prompt highlighted, and a table of the parameters that differ."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import anywidget
import traitlets
from PIL import Image

from .. import media, renditions
from ..errors import MJError, ValidationError
from ..models import Task
from ..promptdiff import diff_params, diff_prompts
from ..tracking import Tracker
from .plumbing import STATIC, tracker_for

COMPARE_MAX_SIDE = 900  # px on the long side of each image sent to the browser


def _width_for(count: int) -> int:
    """The shared display width (CSS px) of each image: two fill a notebook, more scroll."""
    return {1: 560, 2: 440, 3: 320}.get(count, 260)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return "(flag)" if value is True else str(value)


class Compare(anywidget.AnyWidget):
    """Images side by side at one display width, prompts diffed against the first one.

    ``items``: Tasks (their final image; a grid shows whole), TaskViews, task ids (looked up in
    the history), PIL images, image files or bytes, or ``(image_or_task, prompt)`` pairs. Prompt
    differences appear as ``<ins class="mjw-diff-added">`` / ``<del class="mjw-diff-removed">``;
    parameters count as whole ``--name value`` units. ``width`` overrides the shared width.
    """

    _esm = STATIC / "compare.js"
    _css = (STATIC / "mjwidgets.css").read_text() + (STATIC / "compare.css").read_text()

    items = traitlets.List[Any]().tag(sync=True)
    params = traitlets.List[Any]().tag(sync=True)
    image_width = traitlets.Int(440).tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        items: Iterable[Any],
        *,
        tracker: Tracker | None = None,
        width: int | None = None,
        title: str = "",
    ) -> None:
        self.tracker = tracker
        entries = [self._load(item) for item in items]
        if len(entries) < 2:
            raise ValidationError(
                "Compare needs two or more images",
                advice="pass a list of tasks or images, e.g. [task_a, task_b]",
            )
        prompts = [entry["prompt"] for entry in entries]
        first = prompts[0]
        for index, entry in enumerate(entries):
            entry["index"] = index
            # the first prompt against itself: the same token order as the others' diffs
            entry["diff"] = [[op, token] for op, token in diff_prompts(first, entry["prompt"])]
        differing = diff_params(prompts)
        self.differing_params = differing
        super().__init__(
            items=entries,
            params=[
                {"name": name, "values": [_text(v) for v in values]}
                for name, values in differing.items()
            ],
            image_width=int(width or _width_for(len(entries))),
            title=title,
        )
        self.add_class("mjw-compare-widget")

    @property
    def prompts(self) -> list[str]:
        return [item["prompt"] for item in self.items]

    # ------------------------------------------------------------------ loading
    def _load(self, item: Any) -> dict[str, Any]:
        prompt: str | None = None
        if isinstance(item, tuple) and len(item) == 2:
            item, prompt = item
        item = getattr(item, "task", item)  # a TaskView
        if isinstance(item, str) and not os.path.exists(item):
            item = self._lookup(item)
        label, task_id, action = "", "", ""
        if isinstance(item, Task):
            task_id, action = item.id, item.action or ""
            origin = item.origin_button.display if item.origin_button else ""
            label = " · ".join(x for x in (f"#{item.id}", action.lower(), origin) if x)
            image = self._task_image(item)
            if prompt is None:
                prompt = item.prompt or item.prompt_en or ""
        else:
            image = media.load_image(item)  # refused with the package's typed errors
        data = renditions.display_jpeg(image, max_side=COMPARE_MAX_SIDE)
        fmt = "webp" if data[:4] == b"RIFF" else "png" if data[:4] == b"\x89PNG" else "jpeg"
        return {
            "task_id": task_id,
            "action": action,
            "label": label,
            "prompt": prompt or "",
            "image": data,
            "format": fmt,
            "size": list(image.size),
        }

    def _tracker(self, task: Task | None = None) -> Tracker:
        if self.tracker is None:
            self.tracker = tracker_for(task=task)
        return self.tracker

    def _lookup(self, task_id: str) -> Task:
        tracker = self._tracker()
        task = tracker.store.get(task_id, client=tracker.client)
        if task is None:
            raise ValidationError(
                f"task {task_id} is not in the history",
                advice="pass a Task, or the id of a stored task",
            )
        return task

    def _task_image(self, task: Task) -> Image.Image:
        try:
            if task.backend is not None:
                return task.image()
            tracker = self._tracker(task)  # a task straight from mjw.history(): from the cache
            if not task.server:
                task.server = tracker.store.server_of(task.id) or ""
            live = tracker.client if task.server == tracker.base_url else None
            return tracker.cache.image(task, live)
        except MJError as exc:
            other = self.tracker is not None and task.server != self.tracker.base_url
            where = " (a task of another server)" if other else ""
            raise ValidationError(
                f"no image for task {task.id}{where}: {exc}", task_id=task.id
            ) from exc
