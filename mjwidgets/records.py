"""A task as one JSON record: the format of ``task.save()``'s sidecar and of every export manifest.

One writer, so a saved image's sidecar and an export's ``manifest.json``/``.csv`` say the same
thing in the same words: the prompt, its parameters (parsed by ``Prompt``, canonical names), the
lineage, timings, the image file and the server. Times are ISO 8601 in UTC; durations seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import provenance, renditions
from .errors import ValidationError
from .media import file_extension
from .models import Status, Task
from .prompt import Prompt

if TYPE_CHECKING:
    from PIL import Image

    from .clips import ClipInfo

__all__ = [
    "task_record",
    "parameters",
    "save",
    "save_video",
    "require_saveable",
    "file_stem",
    "safe_id",
    "without_query",
]


def without_query(url: str | None) -> str:
    """A URL without its query and fragment (signed links carry secrets there)."""
    if not url:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def safe_id(task_id: str) -> str:
    """A server's task id reduced to letters, digits, - and _ (for file names and anchors)."""
    cleaned = re.sub(r"[^0-9A-Za-z_-]", "", task_id)[:40]
    return cleaned or hashlib.sha256(task_id.encode()).hexdigest()[:16]


def file_stem(task_id: str) -> str:
    """``mj-<id>``: the file-name stem of a task's image and record."""
    return f"mj-{safe_id(task_id)}"


def parameters(task: Task) -> dict[str, Any]:
    """The Midjourney parameters the task ran with (from the server's final prompt when known)."""
    prompt = task.prompt or task.prompt_en or ""
    final = str((task.properties or {}).get("finalPrompt") or prompt)
    return dict(Prompt(final).params)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat()


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 3) if start and end else None


def _step(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "action": task.action,
        "button": task.origin_button.display if task.origin_button else None,
        "prompt": task.prompt or task.prompt_en or "",
    }


def task_record(
    task: Task,
    *,
    ancestors: list[Task] | None = None,
    image: str | None = None,
    image_size: tuple[int, int] | None = None,
    image_sha256: str | None = None,
    image_error: str | None = None,
    button: str | None = None,
    depth: int = 0,
    labels: dict[str, Any] | None = None,
    steps: list[dict[str, Any]] | None = None,
    inputs: dict[str, str] | None = None,
    video: list[str] | None = None,
    video_sha256: list[str] | None = None,
    video_duration: float | None = None,
    posters: list[str] | None = None,
) -> dict[str, Any]:
    """The record of ``task``: ``ancestors`` (oldest first) give its lineage, ``image`` the file
    written beside the record (relative path), ``button`` how it was made when the caller knows
    better than the task (an export's lineage tree), ``labels`` a sweep's parameter labels,
    ``steps`` the lineage by meaning (``steps.Step.to_json``: what ``mjw.recipe`` and
    ``mjw.replay`` make again) and ``inputs`` small masks it needs (digest → base64).

    A video's record also lists its clips (``video``: the mp4 files, in ``task.video_urls``
    order, with the digests of the clips as the server sent them, ``video_sha256``), their first
    frames (``posters``; ``image`` is the first poster) and ``video_duration`` in seconds (the
    server's, else measured from the file). For an image these are None."""
    prompt = task.prompt or task.prompt_en or ""
    final = str((task.properties or {}).get("finalPrompt") or prompt)
    if button is None and task.origin_button is not None:
        button = task.origin_button.display
    record: dict[str, Any] = {
        "id": task.id,
        "action": task.action,
        "status": task.status_raw or task.status.value,
        "prompt": prompt,
        "parameters": parameters(task),
        "parent_id": task.parent_id,
        "button": button,
        "depth": depth,
        "lineage": [_step(ancestor) for ancestor in ancestors or []] + [_step(task)],
        "submit_time": _iso(task.submit_time),
        "start_time": _iso(task.start_time),
        "finish_time": _iso(task.finish_time),
        "queued_s": _seconds(task.submit_time, task.start_time),
        "ran_s": _seconds(task.start_time, task.finish_time),
        "total_s": _seconds(task.submit_time, task.finish_time),
        "image": image,
        "image_width": image_size[0] if image_size else None,
        "image_height": image_size[1] if image_size else None,
        "image_sha256": image_sha256,
        "source_url": without_query(task.image_url) or None,
        "grid": task.is_grid if image else None,
        "buttons": [b.display for b in task.buttons],
        "fail_reason": task.fail_reason or "",
        "image_error": image_error,
        "video": video,
        "video_sha256": video_sha256,
        "video_duration": video_duration if video_duration is not None else task.video_duration,
        "posters": posters,
        "video_sources": [without_query(clip.url) for clip in task.video_urls] or None,
        "server": without_query(task.server),
        "seed": _seed(task),
        "generator": _generator(),
    }
    if final != prompt:
        record["final_prompt"] = final
    if labels:
        record["labels"] = dict(labels)
    if steps:
        record["steps"] = steps
    if inputs:
        record["images"] = dict(inputs)
    return record


def _seed(task: Task) -> str | None:
    """The job's seed when the server or the prompt says (trueai sends ``seed``)."""
    for value in (task.raw.get("seed"), Prompt(task.prompt or "").params.get("seed")):
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None


def _generator() -> str:
    from . import __version__  # the package is imported by the time a record is written

    return f"mjwidgets {__version__}"


def require_saveable(task: Task) -> None:
    """Only a finished task has a final image to save."""
    if task.status is not Status.SUCCESS:
        raise ValidationError(
            f"task {task.id} is {task.status.value}, not SUCCESS",
            task_id=task.id,
            advice="save a finished task (wait for it first)",
        )


def save(
    task: Task,
    data: bytes,
    image: Image.Image,
    folder: str | os.PathLike[str],
    *,
    ancestors: list[Task] | None = None,
    sha256: str | None = None,
    steps: list[dict[str, Any]] | None = None,
    inputs: dict[str, str] | None = None,
) -> Path:
    """Write ``data`` (the task's image file) and its record as ``mj-<id>.<ext>`` + ``.json`` in
    ``folder``; returns the image's path. The image carries the record too (``provenance``:
    PNG text chunks and XMP, JPEG XMP and comment), so it tells its story without the JSON."""
    require_saveable(task)
    out = Path(folder).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    stem = file_stem(task.id)
    target = out / f"{stem}.{file_extension(image)}"
    record = task_record(
        task,
        ancestors=ancestors,
        image=target.name,
        image_size=image.size,
        image_sha256=sha256,
        steps=steps,
        inputs=inputs,
    )
    target.write_bytes(provenance.embed(data, record))
    (out / f"{stem}.json").write_text(json.dumps(record, indent=2, ensure_ascii=False), "utf-8")
    return target


def save_video(
    task: Task,
    clips: list[tuple[bytes, ClipInfo]],
    folder: str | os.PathLike[str],
    *,
    ancestors: list[Task] | None = None,
    sha256: list[str] | None = None,
    steps: list[dict[str, Any]] | None = None,
    inputs: dict[str, str] | None = None,
) -> Path:
    """Write a video task's clips (``mj-<id>-<n>.mp4``, n from 1, as Midjourney numbers them),
    each clip's first frame (``mj-<id>-<n>.jpg``) and the record (``mj-<id>.json``) to
    ``folder``; returns the first clip's path. Every clip and poster carries the record too
    (``provenance``: MP4 tags, remuxed without re-encoding; JPEG XMP and comment)."""
    require_saveable(task)
    if not clips:
        raise ValidationError(f"task {task.id} has no clips to save", task_id=task.id)
    out = Path(folder).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    stem = file_stem(task.id)
    names = [
        (f"{stem}-{n}.{info.format}", f"{stem}-{n}.jpg") for n, (_, info) in enumerate(clips, 1)
    ]
    first = clips[0][1]
    record = task_record(
        task,
        ancestors=ancestors,
        image=names[0][1],
        image_size=first.size,
        steps=steps,
        inputs=inputs,
        video=[clip for clip, _ in names],
        video_sha256=sha256 or [hashlib.sha256(data).hexdigest() for data, _ in clips],
        video_duration=task.video_duration or first.duration,
        posters=[poster for _, poster in names],
    )
    for (data, info), (clip_name, poster_name) in zip(clips, names, strict=True):
        (out / clip_name).write_bytes(provenance.embed(data, record))
        poster = renditions.poster_jpeg(info.first_frame, max_side=None, quality=92)
        (out / poster_name).write_bytes(provenance.embed(poster, record))
    (out / f"{stem}.json").write_text(json.dumps(record, indent=2, ensure_ascii=False), "utf-8")
    return out / names[0][0]
