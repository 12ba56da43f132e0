"""The task model: what a Midjourney-proxy server says about a job, parsed defensively.

Servers differ (OSS, Plus, trueai, new-api resellers): ids may be numbers, fields may be missing or
null, statuses may be new. Parsing never fails on such payloads; the JSON as received stays in
``Task.raw`` so nothing is lost.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .buttons import MEANING_FIELDS, RESULT_ACTIONS, Button, ButtonKind, int_field
from .errors import MJError, ValidationError

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "Status",
    "ButtonKind",
    "Button",
    "RESULT_ACTIONS",
    "Task",
    "TaskBackend",
    "VideoClip",
]


class Status(str, Enum):
    """Task status; values a server invents later map to UNKNOWN (the raw string is kept)."""

    NOT_START = "NOT_START"
    SUBMITTED = "SUBMITTED"
    MODAL = "MODAL"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    CANCEL = "CANCEL"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, value: Any) -> Status:
        text = str(value or "").strip().upper()
        try:
            return cls(text)
        except ValueError:
            return cls.UNKNOWN


_PENDING = frozenset({Status.NOT_START, Status.SUBMITTED, Status.IN_PROGRESS})
_QUEUED = frozenset({Status.NOT_START, Status.SUBMITTED})
_ENDED_WITHOUT_RESULT = frozenset({Status.FAILURE, Status.CANCEL})
# Statuses we have never seen but that clearly mean "not finished yet" (other APIs' vocabulary).
_PENDING_LOOKING = frozenset({"", "PENDING", "QUEUED", "IN_QUEUE", "WAITING", "RUNNING", "STARTED"})


# Client-side knowledge a server's copy of the task does not carry (update_from keeps it).
_LINEAGE = frozenset(
    {"server", "backend", "parent_id", "origin_button", "parent_image_size", "modal_submitted"}
)


def _parse_progress(value: Any, status: Status) -> int:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        match = re.search(r"\d+(?:\.\d+)?", str(value or ""))
        if not match:
            return 100 if status is Status.SUCCESS else 0
        number = float(match.group())
    return max(0, min(100, int(number)))


def _parse_time(value: Any) -> datetime | None:
    """Epoch milliseconds (number or digit string) → aware UTC datetime; 0/missing → None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if not text.lstrip("-").isdigit():
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                return None
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
        value = int(text)
    if not isinstance(value, (int, float)) or value <= 0:
        return None
    seconds = value / 1000 if value > 1e11 else value  # tolerate epoch seconds too
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _id_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _text(value)


def _url_text(value: Any) -> str | None:
    """A URL field: a non-blank string, else None (a number or object is no URL to fetch)."""
    return value.strip() or None if isinstance(value, str) else None


def _seconds_field(value: Any) -> float | None:
    """A duration in seconds: a positive number or numeric text, else None."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


@dataclass(frozen=True)
class VideoClip:
    """One clip of a video task: its mp4 ``url`` and, where the server names one, the CDN's
    ``thumbnail`` (trueai ``videoUrls[{url, thumbnail}]``; new-api sends ``url`` only)."""

    url: str
    thumbnail: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "thumbnail": self.thumbnail}


def _clip_list(value: Any) -> list[VideoClip]:
    """``videoUrls`` as sent: objects with ``url`` (and ``thumbnail``), or bare URL strings."""
    clips: list[VideoClip] = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict):
            url = _url_text(item.get("url"))
            thumbnail = _url_text(item.get("thumbnail"))
        else:
            url, thumbnail = _url_text(item), None
        if url and all(clip.url != url for clip in clips):
            clips.append(VideoClip(url, thumbnail))
    return clips


def _own_clips(data: dict[str, Any], image_url: str | None, content_type: str) -> list[VideoClip]:
    """The clips that are this task's own. A VIDEO task lists its clips in ``videoUrls`` (and the
    first as ``videoUrl``); a video U (action UPSCALE) carries its grid's ``videoUrls``, no
    ``videoUrl``, and its own clip as ``imageUrl`` (trueai ``TaskService.cs:1588-1599``)."""
    listed = _clip_list(data.get("videoUrls"))
    video_url = _url_text(data.get("videoUrl"))
    if video_url is None and image_url and any(clip.url == image_url for clip in listed):
        return [clip for clip in listed if clip.url == image_url]
    if listed:
        return listed
    if video_url:
        return [VideoClip(video_url)]
    if content_type.lower().startswith("video/") and image_url:
        return [VideoClip(image_url)]
    return []


class TaskBackend(Protocol):
    """What a Task asks of the live side that answers for it: the ``Client`` that made it, or the
    ``Tracker`` that tracks it (which then answers ``wait`` without a poll of its own and serves
    images from its cache). ``base_url`` names the server."""

    @property
    def base_url(self) -> str: ...

    def reload(self, task: Task) -> Task: ...

    def wait(
        self, task: Task, *, timeout: float | None = ..., interval: float | None = ...
    ) -> Task: ...

    def cancel(self, task: Task) -> Task: ...

    def download(self, url: str, *, max_bytes: int = ...) -> bytes: ...

    def image(self, task: Task) -> Image.Image: ...

    def clip(self, task: Task, index: int = ...) -> bytes: ...

    def tiles(self, task: Task) -> list[Image.Image]: ...

    def save(self, task: Task, folder: str | os.PathLike[str]) -> Path: ...


# Results that are one image, not a 2×2 grid.
_SINGLE_ACTIONS = frozenset({"UPSCALE", "UPSCALE_HD", "VIDEO", "DESCRIBE", "SHORTEN", "UPLOAD"})
_SINGLE_KINDS = frozenset({ButtonKind.UPSAMPLE, ButtonKind.UPSCALE_HD, ButtonKind.ANIMATE})


@dataclass(eq=True)
class Task:
    """One Midjourney job as reported by the server, plus client-side lineage.

    ``server`` is the API root the task lives on (set by the client that fetched it, or by the
    history store); ``backend`` the live object that answers for it (``reload``, ``wait``,
    ``cancel``, images), None for a task built by hand or stored by another server's client.
    ``parent_id``/``origin_button`` record which task and button produced this one (set by
    ``client.action``), ``parent_image_size`` the (width, height) of the parent image when known
    (the size a Vary (Region) mask must have), ``modal_submitted`` that ``client.modal`` was
    accepted for it — a lagging reseller may still report MODAL for a while, which is then read as
    SUBMITTED so nobody sends the modal twice.

    Video: ``video_urls`` are the task's own clips (a video grid's 1, 2 or 4; a video U's one),
    ``video_duration`` their length in seconds when the server says (trueai, Plus; new-api does
    not), ``content_type`` what the server says the result is ("video/mp4"), ``is_video`` whether
    it is a video job at all (also while it runs).
    """

    id: str
    action: str = ""
    status: Status = Status.UNKNOWN
    status_raw: str = ""
    progress: int = 0
    prompt: str = ""
    prompt_en: str = ""
    description: str = ""
    image_url: str | None = None
    fail_reason: str = ""
    buttons: list[Button] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    state: str = ""
    submit_time: datetime | None = None
    start_time: datetime | None = None
    finish_time: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    parent_id: str | None = None
    origin_button: Button | None = None
    parent_image_size: tuple[int, int] | None = None
    modal_submitted: bool = False
    video_urls: list[VideoClip] = field(default_factory=list)
    video_duration: float | None = None
    content_type: str = ""
    server: str = field(default="", compare=False)
    backend: TaskBackend | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Task:
        """Build a Task from fetch/list/notify JSON; tolerates missing, null and numeric fields."""
        data = dict(data or {})
        status_raw = _text(data.get("status")).strip()
        status = Status.parse(status_raw)
        buttons = [
            Button.from_json(item)
            for item in (data.get("buttons") or [])
            if isinstance(item, dict)
            and (item.get("customId") or item.get("custom_id"))
            and int_field(item.get("style"), 2) != 5
        ]
        properties = data.get("properties")
        parent = data.get("parentId")
        image_url = _url_text(data.get("imageUrl"))
        content_type = _text(data.get("contentType")).strip()
        return cls(
            id=_id_text(data.get("id")),
            action=_text(data.get("action")),
            status=status,
            status_raw=status_raw,
            progress=_parse_progress(data.get("progress"), status),
            prompt=_text(data.get("prompt")),
            prompt_en=_text(data.get("promptEn")),
            description=_text(data.get("description")),
            image_url=image_url,
            fail_reason=_text(data.get("failReason")),
            buttons=buttons,
            properties=properties if isinstance(properties, dict) else {},
            state=_text(data.get("state")),
            submit_time=_parse_time(data.get("submitTime")),
            start_time=_parse_time(data.get("startTime")),
            finish_time=_parse_time(data.get("finishTime")),
            raw=data,
            parent_id=_id_text(parent) or None,
            video_urls=_own_clips(data, image_url, content_type),
            video_duration=_seconds_field(data.get("videoDuration")),
            content_type=content_type,
        )

    # -- state -------------------------------------------------------------------------------

    @property
    def is_pending(self) -> bool:
        """The server is still working on it (queued or running)."""
        if self.status is Status.UNKNOWN:
            return self.status_raw.upper() in _PENDING_LOOKING
        return self.status in _PENDING

    @property
    def is_queued(self) -> bool:
        """Not started yet: waiting for a slot at the proxy (NOT_START), or taken and not yet
        started by Midjourney (SUBMITTED — also what a submit's code 1 says of the first job
        that waits); a status we do not know that looks pending too (new-api's "" until its
        first refresh)."""
        if self.status is Status.UNKNOWN:
            return self.is_pending
        return self.status in _QUEUED

    @property
    def is_done(self) -> bool:
        """Terminal: SUCCESS, FAILURE, CANCEL, or a status we do not know that is not pending."""
        return not self.is_pending and self.status is not Status.MODAL

    @property
    def ended_without_result(self) -> bool:
        """It failed or was cancelled: no result is coming, and whatever preview it showed on
        the way is not one (a moderator may stop a job at 30 %)."""
        return self.status in _ENDED_WITHOUT_RESULT

    @property
    def needs_modal(self) -> bool:
        """The task waits for ``client.modal(task, …)`` (mask and/or prompt)."""
        return self.status is Status.MODAL

    @property
    def image_size(self) -> tuple[int, int] | None:
        """(width, height) of the result image when the server reports it (trueai, DeerAPI)."""
        for w_key, h_key in (("imageWidth", "imageHeight"), ("width", "height")):
            width, height = int_field(self.raw.get(w_key)), int_field(self.raw.get(h_key))
            if width > 0 and height > 0:
                return (width, height)
        return None

    def button(self, label_or_id: str | Button) -> Button:
        """Find a button by customId, label (case-insensitive), emoji or display text."""
        if isinstance(label_or_id, Button):
            label_or_id = label_or_id.custom_id
        wanted = str(label_or_id).strip()
        folded = wanted.casefold()
        matchers = (
            lambda b: b.custom_id == wanted,
            lambda b: bool(b.label) and b.label.strip().casefold() == folded,
            lambda b: bool(b.emoji) and b.emoji == wanted,
            lambda b: b.display.strip().casefold() == folded,
        )
        for matches in matchers:
            for candidate in self.buttons:
                if matches(candidate):
                    return candidate
        raise ValidationError(
            f"task {self.id} has no button {wanted!r}; {self._buttons_note()}",
            task_id=self.id,
            advice="pick one of the available buttons",
        )

    def button_for(self, kind: ButtonKind | str, **meaning: Any) -> Button:
        """Find a button by what it does, not by its customId (which names one job and goes
        stale): ``task.button_for(ButtonKind.UPSAMPLE, index=2)`` is U2 on any grid, any
        server, any model version. ``meaning`` holds the fields of ``Button.meaning``
        (``index``, ``direction``, ``zoom``, ``factor``, ``variant``, ``motion``, ``extends``;
        ``label`` for buttons of no known kind); None or a missing field matches anything."""
        try:
            wanted = ButtonKind(kind.value if isinstance(kind, ButtonKind) else str(kind))
        except ValueError:
            raise ValidationError(
                f"unknown button kind {kind!r}",
                advice=f"use a ButtonKind: {', '.join(k.value for k in ButtonKind)}",
            ) from None
        unknown = set(meaning) - set(MEANING_FIELDS) - {"kind", "label"}
        if unknown:
            raise ValidationError(
                f"button_for() got unknown fields {sorted(unknown)}",
                advice=f"use {', '.join(MEANING_FIELDS)} or label",
            )
        meaning.pop("kind", None)
        label = meaning.pop("label", None)
        for candidate in self.buttons:
            if candidate.kind is not wanted:
                continue
            if (
                label is not None
                and candidate.display.strip().casefold() != str(label).strip().casefold()
            ):
                continue
            if all(
                value is None or getattr(candidate, name) == value
                for name, value in meaning.items()
            ):
                return candidate
        said = ", ".join(f"{k}={v!r}" for k, v in meaning.items() if v is not None)
        what = f"{wanted.value}{f' ({said})' if said else ''}{f' {label!r}' if label else ''}"
        raise ValidationError(
            f"task {self.id} has no {what} button; {self._buttons_note()}",
            task_id=self.id,
            advice="pick one of the available buttons (model versions and servers differ)",
        )

    def _buttons_note(self) -> str:
        """The buttons a task has, or why it has none: for messages about a missing button."""
        available = ", ".join(b.display for b in self.buttons) or "none"
        if self.buttons:
            status_note = ""
        elif self.status is Status.SUCCESS:
            status_note = (
                " (this server reports no buttons; the open-source midjourney-proxy has no "
                "/submit/action)"
            )
        else:
            status_note = f" (buttons appear only at SUCCESS; the task is {self.status.value})"
        return f"available: {available}{status_note}"

    @property
    def modal_kind(self) -> ButtonKind | None:
        """Which button made this MODAL task: from our lineage, new-api's action, or trueai's
        properties (None when nothing says)."""
        if self.origin_button is not None:
            return self.origin_button.kind
        action = self.action.upper()
        if action == "INPAINT":
            return ButtonKind.INPAINT
        if action == "CUSTOM_ZOOM":
            return ButtonKind.CUSTOM_ZOOM
        for source in (self.properties, self.raw):
            for key in ("custom_id", "customId", "remix_custom_id"):
                value = source.get(key)
                if isinstance(value, str) and value:
                    kind = Button(custom_id=value).kind
                    if kind is not ButtonKind.OTHER:
                        return kind
        return None

    @property
    def is_video(self) -> bool:
        """A video job or one of its clips: clips listed, a video content type, action VIDEO, or
        made by an Animate / Extend / video U button."""
        if self.video_urls or self.content_type.lower().startswith("video/"):
            return True
        if self.action.upper() == "VIDEO":
            return True
        button = self.origin_button
        return button is not None and (
            button.kind is ButtonKind.ANIMATE or "video_virtual_upscale" in button.custom_id
        )

    @property
    def is_grid(self) -> bool:
        """True when the task's image is a 2×2 grid of four candidates (never for a video: its
        U1–U4 pick clips, and its ``image_url`` is an mp4)."""
        if self.is_video:
            return False
        if any(b.kind is ButtonKind.UPSAMPLE and b.index in (1, 2, 3, 4) for b in self.buttons):
            return True
        if self.origin_button is not None and self.origin_button.kind in _SINGLE_KINDS:
            return False
        if self.buttons:  # buttons but no U1-U4: an upscaled or otherwise single image
            return False
        return self.action.upper() not in _SINGLE_ACTIONS

    # -- the live side that answers for it --------------------------------------------------

    def bind(self, backend: TaskBackend | None) -> Task:
        """Let ``backend`` (a Client or a Tracker) answer for this task; returns the task."""
        self.backend = backend
        if backend is not None and not self.server:
            self.server = backend.base_url
        return self

    def _require_backend(self) -> TaskBackend:
        if self.backend is None:
            where = f" (made on {self.server})" if self.server else ""
            raise MJError(
                f"task {self.id}{where} is not bound to a client",
                advice="get it from client.fetch(task_id), or from history(client=client)",
            )
        return self.backend

    def image(self) -> Image.Image:
        """The final image as a PIL image (from the local cache when a tracker tracks it)."""
        return self._require_backend().image(self)

    def tiles(self) -> list[Image.Image]:
        """The four images of a grid (a single image → a list of one)."""
        return self._require_backend().tiles(self)

    def clip(self, index: int = 0) -> bytes:
        """Clip ``index`` (0-based, as ``video_urls``) of a finished video: the mp4's bytes (from
        the local cache when a tracker tracks it)."""
        return self._require_backend().clip(self, index)

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write the image and a JSON sidecar (prompt, parameters, lineage, timings) to `folder`
        (a video: its mp4s, their first frames as JPEGs, and the sidecar)."""
        return self._require_backend().save(self, folder)

    def update_from(self, other: Task) -> Task:
        """Copy server fields from a fresh Task; keep lineage the server does not know about."""
        for name in self.__dataclass_fields__:
            if name in _LINEAGE:
                continue
            setattr(self, name, getattr(other, name))
        self.server = other.server or self.server
        self.parent_id = other.parent_id or self.parent_id
        self.origin_button = other.origin_button or self.origin_button
        self.parent_image_size = other.parent_image_size or self.parent_image_size
        self.modal_submitted = other.modal_submitted or self.modal_submitted
        self._settle_modal()
        return self

    def _settle_modal(self) -> None:
        if self.modal_submitted and self.status is Status.MODAL:  # the server has not caught up
            self.status, self.status_raw = Status.SUBMITTED, Status.SUBMITTED.value

    def reload(self) -> Task:
        """Fetch the latest state from the server and update this object in place."""
        return self.update_from(self._require_backend().reload(self))

    def wait(self, timeout: float | None = 900, interval: float | None = None) -> Task:
        """Block until SUCCESS/MODAL, updating self — raises TaskFailed / TaskTimeout. A tracked
        task waits on its tracker's poller (no requests of its own)."""
        return self.update_from(
            self._require_backend().wait(self, timeout=timeout, interval=interval)
        )

    def cancel(self) -> Task:
        """Ask the server to cancel this task, then reload it."""
        return self.update_from(self._require_backend().cancel(self))

    def __repr__(self) -> str:
        prompt = self.prompt or self.prompt_en
        short = prompt if len(prompt) <= 30 else prompt[:29] + "…"
        parts = [self.id or "?", self.action or "?", self.status.value]
        if self.status is Status.UNKNOWN and self.status_raw:
            parts[-1] = f"UNKNOWN({self.status_raw})"
        parts.append(f"{self.progress}%")
        if short:
            parts.append(repr(short))
        return f"<Task {' '.join(parts)}>"
