"""Local copies of task images, so results outlive their URLs (Discord links die after ~24 h).

Files are content-addressed (``images/<sha256>.<format>``): the name comes from the bytes and the
format Pillow detected, never from a server string, so a hostile URL or id cannot pick a path.
Downloads go through ``client.download`` (http(s) only, size-capped, the key only to the API's own
origin); every file is decoded once with Pillow's decompression-bomb guard before it is kept.
The index (which task has which file) lives in the history store.

The tracker prefetches final images the moment a task succeeds (and the latest preview of tasks
someone watches) on a small pool of download threads, so polling never waits for a download.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from PIL import Image

from . import media
from .errors import MJError, NotFoundError, ValidationError
from .models import ButtonKind, Status, Task
from .store import HistoryStore

if TYPE_CHECKING:
    from .client import Client

__all__ = ["ImageCache"]

log = logging.getLogger("mjwidgets.imagecache")

FINAL = "final"
PREVIEW = "preview"
_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}
# Results that are one image, not a 2×2 grid.
_SINGLE_ACTIONS = {"UPSCALE", "UPSCALE_HD", "VIDEO", "DESCRIBE", "SHORTEN", "UPLOAD"}
_SINGLE_KINDS = {ButtonKind.UPSAMPLE, ButtonKind.UPSCALE_HD, ButtonKind.ANIMATE}
_PARAMETER = re.compile(r"--([a-zA-Z][\w-]*)(?:\s+(?!--)([^\s]+(?:\s+(?!--)[^\s]+)*))?")


def _server_of(task: Task) -> str:
    client = getattr(task, "_client", None)
    return str(getattr(client, "base_url", "") or "")


def _client_of(task: Task) -> Client | None:
    return getattr(task, "_client", None)


def _safe_name(text: str) -> str:
    """A file-name stem from a server string: letters, digits, - and _ only."""
    cleaned = re.sub(r"[^0-9A-Za-z_-]", "", text)[:40]
    return cleaned or hashlib.sha256(text.encode()).hexdigest()[:16]


def _without_query(url: str | None) -> str:
    if not url:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def parameters(prompt: str) -> dict[str, str | bool]:
    """Midjourney ``--name value`` parameters of a prompt (``--tile`` → True)."""
    found: dict[str, str | bool] = {}
    for name, value in _PARAMETER.findall(prompt or ""):
        found[name.lower()] = value if value else True
    return found


def is_grid(task: Task) -> bool:
    """True when the task's image is a 2×2 grid of four candidates."""
    if any(b.kind is ButtonKind.UPSAMPLE and b.index in (1, 2, 3, 4) for b in task.buttons):
        return True
    if task.origin_button is not None and task.origin_button.kind in _SINGLE_KINDS:
        return False
    if task.buttons:  # buttons but no U1-U4: an upscaled or otherwise single image
        return False
    return task.action.upper() not in _SINGLE_ACTIONS


class ImageCache:
    """Content-addressed image files under ``folder`` (default: the store's ``images/``).

    Also the image provider behind ``task.image()``, ``task.tiles()`` and ``task.save()``.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str] | None = None,
        *,
        store: HistoryStore | None = None,
        max_bytes: int = 50_000_000,
        workers: int = 3,
    ) -> None:
        self.store = store if store is not None else HistoryStore()
        self.folder = Path(folder).expanduser() if folder else self.store.folder / "images"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        # prefetch coalescing: the latest wanted URL per (server, task, kind) and the job for it
        self._wanted: dict[tuple[str, str, str], tuple[Task, str]] = {}
        self._jobs: set[Future] = set()
        # the last few images decoded while caching them, by file: a card asks for the image
        # right after the tracker cached it, and a 2048² PNG costs ~50 ms to decode again
        self._decoded: OrderedDict[Path, Image.Image] = OrderedDict()
        self._fetching: dict[tuple[str, str, str], threading.Lock] = {}
        # the full URL of each task's cached preview: proxies change only the query between
        # previews (new-api's ?rand=…, the simulator's ?progress=…), so the stored source (query
        # stripped: it may hold signatures) cannot tell two previews apart
        self._preview_urls: dict[tuple[str, str], str] = {}

    def __repr__(self) -> str:
        return f"<ImageCache {self.folder}>"

    # -- lookup --------------------------------------------------------------------------------

    def _file(self, record: dict[str, Any]) -> Path:
        return self.folder / f"{record['sha256']}.{record['format']}"

    def _record(self, task: Task, kind: str) -> dict[str, Any] | None:
        record = self.store.image_record(_server_of(task), task.id, kind)
        if record is not None and not self._file(record).exists():
            return None
        return record

    def path(self, task: Task, kind: str = FINAL) -> Path | None:
        """The cached file of the task's final image (or ``kind="preview"``), or None."""
        record = self._record(task, kind)
        return self._file(record) if record else None

    def has(self, task: Task, kind: str = FINAL) -> bool:
        return self._record(task, kind) is not None

    # -- downloading ---------------------------------------------------------------------------

    def fetch(self, task: Task, kind: str | None = None, client: Client | None = None) -> Path:
        """Download and keep the task's current image; returns the cached file.

        ``kind`` defaults to "final" for a SUCCESS task and "preview" otherwise. A final image
        already cached is never downloaded again; a preview is refreshed when its URL changed.
        """
        kind = kind or (FINAL if task.status is Status.SUCCESS else PREVIEW)
        # one download per image at a time: the prefetcher and a card often ask together
        with self._lock:
            gate = self._fetching.setdefault((_server_of(task), task.id, kind), threading.Lock())
        with gate:
            return self._fetch_once(task, kind, client)

    def _fetch_once(self, task: Task, kind: str, client: Client | None) -> Path:
        url = task.image_url
        record = self._record(task, kind)
        if record is not None and (
            kind == FINAL or self._preview_urls.get((_server_of(task), task.id)) == url
        ):
            return self._file(record)
        client = client or _client_of(task)
        if not url:
            raise NotFoundError(
                f"task {task.id} has no image yet ({task.status.value} {task.progress}%)",
                task_id=task.id,
                advice="wait for the task to finish (or to show a preview)",
            )
        if client is None:
            raise MJError(
                f"task {task.id}'s image is not cached and the task is bound to no client",
                advice="pass a task from client.fetch / history(client=client)",
            )
        data = client.download(url, max_bytes=self.max_bytes)
        return self._keep(task, kind, url, data)

    def _keep(self, task: Task, kind: str, url: str, data: bytes) -> Path:
        image = media.decode_image(data)  # refuses non-images and decompression bombs
        fmt = _FORMATS.get((image.format or "").upper())
        if fmt is None:  # keep what we can show: re-encode other formats as PNG
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            data, fmt = buffer.getvalue(), "png"
        digest = hashlib.sha256(data).hexdigest()
        target = self.folder / f"{digest}.{fmt}"
        if not target.exists():
            handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".part-")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        self.store.put_image_record(
            _server_of(task),
            task.id,
            kind,
            sha256=digest,
            fmt=fmt,
            size=image.size,
            nbytes=len(data),
            source=_without_query(url),
        )
        if kind == PREVIEW:
            self._preview_urls[(_server_of(task), task.id)] = url
        with self._lock:
            self._decoded[target] = image
            self._decoded.move_to_end(target)
            while len(self._decoded) > 8:
                self._decoded.popitem(last=False)
        return target

    def prefetch(self, task: Task, kind: str | None = None) -> None:
        """Download in the background; several calls for one task keep only the latest URL."""
        kind = kind or (FINAL if task.status is Status.SUCCESS else PREVIEW)
        if not task.image_url or (kind == FINAL and self.has(task, FINAL)):
            return
        key = (_server_of(task), task.id, kind)
        snapshot = Task(id=task.id)
        snapshot.update_from(task)
        snapshot._bind(_client_of(task))
        with self._lock:
            queued = key in self._wanted
            self._wanted[key] = (snapshot, task.image_url)
            if queued:
                return  # the queued job will pick up the latest URL
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="mjw-images")
            job = self._pool.submit(self._prefetch_job, key)
            self._jobs.add(job)
        job.add_done_callback(self._forget_job)

    def _forget_job(self, job: Future) -> None:
        with self._lock:
            self._jobs.discard(job)

    def _prefetch_job(self, key: tuple[str, str, str]) -> None:
        with self._lock:
            snapshot, _ = self._wanted.pop(key)
        try:
            self.fetch(snapshot, key[2])
        except MJError as exc:
            log.warning("could not cache the %s image of %s: %s", key[2], key[1], exc)
        except Exception:  # a download thread must never die silently on a bug
            log.exception("caching the %s image of %s failed", key[2], key[1])

    def drain(self, timeout: float | None = None) -> bool:
        """Wait for queued prefetches (tests, shutdown); True when none is left."""
        limit = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                jobs = [job for job in self._jobs if not job.done()]
            if not jobs:
                return True
            remaining = None if limit is None else limit - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            wait(jobs, timeout=remaining)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    # -- the image provider behind Task.image() / tiles() / save() -----------------------------

    def image(self, task: Task) -> Image.Image:
        """The final image (the latest preview while running), from disk when cached."""
        path = self.fetch(task, FINAL if task.status is Status.SUCCESS else PREVIEW)
        with self._lock:
            recent = self._decoded.get(path)
        if recent is not None:  # decoded moments ago while caching it: skip a second decode
            return recent.copy()
        with Image.open(path) as opened:
            opened.load()
            return opened.copy()

    def tiles(self, task: Task) -> list[Image.Image]:
        """The four candidates of a grid (top-left, top-right, bottom-left, bottom-right), or
        ``[image]`` for a single image."""
        image = self.image(task)
        if not is_grid(task):
            return [image]
        width, height = image.size
        half_w, half_h = width // 2, height // 2
        boxes = [(0, 0), (half_w, 0), (0, half_h), (half_w, half_h)]
        return [image.crop((x, y, x + half_w, y + half_h)) for x, y in boxes]

    def save(self, task: Task, folder: str | os.PathLike[str]) -> Path:
        """Copy the final image to ``folder`` with a JSON sidecar (prompt, parameters, lineage,
        timings); returns the image's path. Names come from the task id, sanitised."""
        if task.status is not Status.SUCCESS:
            raise ValidationError(
                f"task {task.id} is {task.status.value}, not SUCCESS",
                task_id=task.id,
                advice="save a finished task (wait for it first)",
            )
        source = self.fetch(task, FINAL)
        out = Path(folder).expanduser()
        out.mkdir(parents=True, exist_ok=True)
        stem = f"mj-{_safe_name(task.id)}"
        target = out / f"{stem}{source.suffix}"
        target.write_bytes(source.read_bytes())
        sidecar = out / f"{stem}.json"
        sidecar.write_text(
            json.dumps(self._sidecar(task, source), indent=2, ensure_ascii=False), "utf-8"
        )
        return target

    def _sidecar(self, task: Task, source: Path) -> dict[str, Any]:
        server = _server_of(task)
        prompt = task.prompt or task.prompt_en
        ancestors = self.store.ancestors(task.id, server)

        def stamp(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        def seconds(start: datetime | None, end: datetime | None) -> float | None:
            return round((end - start).total_seconds(), 3) if start and end else None

        return {
            "task_id": task.id,
            "action": task.action,
            "prompt": prompt,
            "final_prompt": task.properties.get("finalPrompt") or prompt,
            "parameters": parameters(str(task.properties.get("finalPrompt") or prompt)),
            "lineage": [
                {
                    "task_id": ancestor.id,
                    "action": ancestor.action,
                    "button": ancestor.origin_button.display if ancestor.origin_button else None,
                    "prompt": ancestor.prompt,
                }
                for ancestor in ancestors
            ]
            + [
                {
                    "task_id": task.id,
                    "action": task.action,
                    "button": task.origin_button.display if task.origin_button else None,
                    "prompt": prompt,
                }
            ],
            "timings": {
                "submitted": stamp(task.submit_time),
                "started": stamp(task.start_time),
                "finished": stamp(task.finish_time),
                "queued_s": seconds(task.submit_time, task.start_time),
                "ran_s": seconds(task.start_time, task.finish_time),
                "total_s": seconds(task.submit_time, task.finish_time),
            },
            "image": {
                "file": source.name,
                "sha256": source.stem,
                "source_url": _without_query(task.image_url),
                "grid": is_grid(task),
            },
            "buttons": [button.display for button in task.buttons],
            "server": _without_query(server),
        }
