"""Compare: two or more images side by side at the same display width, each with its prompt's
differences from the first prompt highlighted, and a table of the parameters that differ.

A video (a Task whose result is clips, or ``(video_task, clip_index)``) is compared by one of its
clips: its poster shows at once, and the clip plays over it — each on a click, or all of them
together from their first frame with "Play side by side". Clip bytes come from the kernel only
when played (one message buffer each), as in the video card."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import traitlets
from PIL import Image

from .. import media, renditions
from ..errors import MJError, ValidationError
from ..models import Task
from ..promptdiff import diff_params, diff_prompts
from ..tracking import Tracker
from .plumbing import IMAGER, FrontEndWidget, front_end, tracker_for
from .videocard import clip_payload

COMPARE_MAX_SIDE = 900  # px on the long side of each image sent to the browser


def _width_for(count: int) -> int:
    """The shared display width (CSS px) of each image: two fill a notebook, more scroll."""
    return {1: 560, 2: 440, 3: 320}.get(count, 260)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return "(flag)" if value is True else str(value)


class Compare(FrontEndWidget):
    """Images side by side at one display width, prompts diffed against the first one.

    ``items``: Tasks (their final image; a grid shows whole; a video its first clip), TaskViews,
    task ids (looked up in the history), PIL images, image files or bytes, ``(image_or_task,
    prompt)`` pairs, or ``(video_task, clip_index)`` for one clip of a video (0-based). Prompt
    differences appear as ``<ins class="mjw-diff-added">`` / ``<del class="mjw-diff-removed">``;
    parameters count as whole ``--name value`` units. ``width`` overrides the shared width.
    """

    _esm = front_end("common.js", "compare.js", styles=("mjwidgets.css", "compare.css"))

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
        self._clips: dict[int, tuple[Task, int]] = {}  # item index → (video task, clip index)
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
            clip = entry.pop("_clip", None)
            if clip is not None:
                self._clips[index] = clip
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
        self.on_msg(self._on_message)

    def _on_message(self, _widget: Any, content: dict, _buffers: Any) -> None:
        if content.get("type") == "clip":
            IMAGER.submit(self._send_clip, content.get("item"))

    def _send_clip(self, item: Any) -> None:
        """The clip of item ``item`` (a video's), to play (one message buffer)."""
        found = self._clips.get(item) if isinstance(item, int) else None
        if found is None:
            self.send({"type": "clip", "item": item, "error": "this item is not a video"})
            return
        task, index = found
        try:
            content, data = clip_payload(self._tracker(task), task, index, "play")
        except (MJError, OSError) as exc:
            self.send({"type": "clip", "item": item, "error": str(exc)})
            return
        self.send({**content, "item": item}, [data])

    @property
    def prompts(self) -> list[str]:
        return [item["prompt"] for item in self.items]

    # ------------------------------------------------------------------ loading
    def _load(self, item: Any) -> dict[str, Any]:
        prompt: str | None = None
        clip: int | None = None
        if isinstance(item, tuple) and len(item) == 2:
            if isinstance(item[1], int) and not isinstance(item[1], bool):
                item, clip = item  # (a video, the clip to compare)
            else:
                item, prompt = item
        item = getattr(item, "task", item)  # a TaskView
        if isinstance(item, str) and not os.path.exists(item):
            item = self._lookup(item)
        label, task_id, action = "", "", ""
        if isinstance(item, Task):
            task_id, action = item.id, item.action or ""
            origin = item.origin_button.display if item.origin_button else ""
            label = " · ".join(x for x in (f"#{item.id}", action.lower(), origin) if x)
            if item.is_video:
                clip = self._check_clip(item, clip or 0)
                label += f" · clip {clip + 1}" if len(item.video_urls) > 1 else ""
                image = self._clip_poster(item, clip)
            else:
                image = self._task_image(item)
            if prompt is None:
                prompt = item.prompt or item.prompt_en or ""
        elif clip is not None:
            raise ValidationError(
                "a clip number goes with a video task only",
                advice="pass (video_task, clip_index), or the image alone",
            )
        else:
            image = media.load_image(item)  # refused with the package's typed errors
        data = renditions.display_jpeg(image, max_side=COMPARE_MAX_SIDE)
        fmt = "webp" if data[:4] == b"RIFF" else "png" if data[:4] == b"\x89PNG" else "jpeg"
        entry: dict[str, Any] = {
            "task_id": task_id,
            "action": action,
            "label": label,
            "prompt": prompt or "",
            "image": data,
            "format": fmt,
            "size": list(image.size),
            "clip": None,
        }
        if isinstance(item, Task) and clip is not None:
            entry["clip"] = {"index": clip, "duration": item.video_duration}
            entry["_clip"] = (item, clip)
        return entry

    def _check_clip(self, task: Task, clip: int) -> int:
        count = len(task.video_urls)
        if not 0 <= clip < count:
            raise ValidationError(
                f"task {task.id} has no clip {clip}: its clips are 0 to {count - 1}",
                task_id=task.id,
                advice="clips are numbered from 0, as task.video_urls",
            )
        return clip

    def _clip_poster(self, task: Task, clip: int) -> Image.Image:
        """The first frame of the clip (cached with the clip; downloaded if it is not yet)."""
        tracker = self._tracker(task)
        try:
            return tracker.cache.videos.poster_image(task, clip)
        except MJError as exc:
            raise ValidationError(
                f"no poster for clip {clip} of task {task.id}: {exc}", task_id=task.id
            ) from exc

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
