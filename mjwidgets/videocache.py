"""Local copies of video clips and their posters, so videos outlive their URLs like images do.

One home with the image cache: the same folder, the same content-addressed writer
(``imagecache.write_content_addressed``: ``<sha256>.mp4``, ``<sha256>.jpg``) and the same index
(the history store's ``images`` table, keyed (server, task id, kind)) with one kind per clip:
``video:<i>`` for clip *i* of ``task.video_urls`` and ``poster:<i>`` for its first frame. The first
poster is also the task's ``final`` image, so ``task.image()``, a card, the history gallery and the
contact sheet show a video as its first frame without knowing about videos.

Downloads go through the task's client (``transport.download``: http(s) only, the key only to the
API's own origin, never to a CDN host), capped at ``clips.MAX_CLIP_BYTES`` per clip, and each clip
is checked with PyAV (``clips.probe``) before it is kept; its poster is the first frame decoded
from the kept bytes, never the CDN's thumbnail. Once kept, a clip is never downloaded again, so it
is served after its URL expired.

What a saved notebook may carry (``card_media``): posters always; the clips themselves only while
all of a card's clips together weigh at most ``CARD_CLIP_BUDGET`` bytes (docs/video.md says why).
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from . import clips, records, renditions, steps
from .errors import MJError, NotFoundError
from .imagecache import FINAL, Downloader, wait_for_jobs, write_content_addressed
from .models import Status, Task

if TYPE_CHECKING:
    from .imagecache import ImageCache

__all__ = [
    "VideoCache",
    "CardClip",
    "CopiedClips",
    "CARD_CLIP_BUDGET",
    "clip_kind",
    "poster_kind",
]

log = logging.getLogger("mjwidgets.videocache")

# The most clip bytes one card carries into a saved notebook (all of its clips, or none).
CARD_CLIP_BUDGET = 1_000_000


def clip_kind(index: int) -> str:
    return f"video:{index}"


def poster_kind(index: int) -> str:
    return f"poster:{index}"


@dataclass(frozen=True)
class CardClip:
    """What a video card shows of one clip before it plays, and what it may carry.

    ``poster``: a display-sized JPEG of the first frame (``poster_size`` px); ``size`` and
    ``duration``: the clip's own; ``nbytes``: the clip's size; ``data``: the mp4 itself when the
    card's clips fit ``CARD_CLIP_BUDGET`` (else None: play it from the kernel's cache);
    ``mime``: "video/mp4" (or "video/webm")."""

    index: int
    poster: bytes
    poster_size: tuple[int, int]
    size: tuple[int, int]
    duration: float | None
    nbytes: int
    mime: str
    data: bytes | None


@dataclass
class CopiedClips:
    """Where ``VideoCache.copy_files`` put a task's files (relative paths, in clip order), the
    digests of the served clips and of the posters, the duration and the clips' size."""

    videos: list[str]
    posters: list[str]
    sha256: list[str]
    poster_sha256: list[str]
    duration: float | None
    size: tuple[int, int]


class VideoCache:
    """Clips and posters of video tasks, kept beside the image cache's files (``images.folder``)
    and indexed in its store. Made by ``ImageCache.videos``; not usually built directly."""

    def __init__(
        self, images: ImageCache, *, max_bytes: int = clips.MAX_CLIP_BYTES, workers: int = 2
    ) -> None:
        self.images = images
        self.store = images.store
        self.folder = images.folder
        self.max_bytes = max_bytes
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._gates: dict[tuple[str, str, str], threading.Lock] = {}
        self._queued: set[tuple[str, str]] = set()
        self._jobs: set[Future] = set()
        self._closed = False

    def __repr__(self) -> str:
        return f"<VideoCache {self.folder}>"

    # -- lookup --------------------------------------------------------------------------------

    def _path(self, task: Task, kind: str) -> Path | None:
        record = self.store.image_record(task.server, task.id, kind)
        if record is None:
            return None
        path = self.folder / f"{record['sha256']}.{record['format']}"
        return path if path.exists() else None

    def clip_path(self, task: Task, index: int = 0) -> Path | None:
        """The cached file of clip ``index`` (0-based, as ``task.video_urls``), or None."""
        return self._path(task, clip_kind(index))

    def poster_path(self, task: Task, index: int = 0) -> Path | None:
        """The cached first frame (JPEG, the clip's size) of clip ``index``, or None."""
        return self._path(task, poster_kind(index))

    def has(self, task: Task) -> bool:
        """Every clip of the task and its poster are cached."""
        count = len(task.video_urls)
        return count > 0 and all(
            self.clip_path(task, i) is not None and self.poster_path(task, i) is not None
            for i in range(count)
        )

    # -- downloading ---------------------------------------------------------------------------

    def _client(self, task: Task, client: Downloader | None) -> Downloader | None:
        if client is None and task.backend is not None and task.backend.base_url == task.server:
            return task.backend
        return client

    def _gate(self, task: Task, kind: str) -> threading.Lock:
        with self._lock:
            return self._gates.setdefault((task.server, task.id, kind), threading.Lock())

    def clip(self, task: Task, index: int = 0, client: Downloader | None = None) -> Path:
        """Clip ``index`` from the cache, downloaded (and its poster made) on first use."""
        with self._gate(task, clip_kind(index)):
            found = self.clip_path(task, index)
            if found is not None:
                return found
            url = clips.clip_url(task, index)
            downloader = self._client(task, client)
            if downloader is None:
                where = records.without_query(task.server) or "an unknown server"
                raise NotFoundError(
                    f"clip {index} of task {task.id} (made on {where}) was never cached",
                    task_id=task.id,
                    advice="clips are kept when a video finishes while mjwidgets tracks it; "
                    "fetch the task with a Client of its server to download it again",
                )
            data = downloader.download(url, max_bytes=self.max_bytes)
            info = clips.probe(data)  # refuses anything that is not a playable clip
            digest, path = write_content_addressed(self.folder, data, info.format)
            source = records.without_query(url)
            self.store.put_image_record(
                task.server, task.id, clip_kind(index), sha256=digest, fmt=info.format,
                size=info.size, nbytes=len(data), source=source,
            )  # fmt: skip
            self._keep_poster(task, index, info, source)
            return path

    def _keep_poster(self, task: Task, index: int, info: clips.ClipInfo, source: str) -> Path:
        data = renditions.poster_jpeg(info.first_frame, max_side=None, quality=92)
        digest, path = write_content_addressed(self.folder, data, "jpg")
        kinds = [poster_kind(index)] + ([FINAL] if index == 0 else [])
        for kind in kinds:  # the first clip's poster is the task's final image
            self.store.put_image_record(
                task.server, task.id, kind, sha256=digest, fmt="jpg", size=info.size,
                nbytes=len(data), source=source,
            )  # fmt: skip
        return path

    def poster(self, task: Task, index: int = 0, client: Downloader | None = None) -> Path:
        """The first frame of clip ``index`` (JPEG at the clip's size), made from the cached
        clip (downloading it first if needed)."""
        found = self.poster_path(task, index)
        if found is not None:
            return found
        clip = self.clip(task, index, client)
        with self._gate(task, poster_kind(index)):
            found = self.poster_path(task, index)
            if found is not None:
                return found
            record = self.store.image_record(task.server, task.id, clip_kind(index))
            source = record["source"] if record else ""
            return self._keep_poster(task, index, clips.probe(clip), source)

    def poster_image(self, task: Task, index: int = 0, client: Downloader | None = None):
        """The poster of clip ``index`` as a PIL image."""
        with Image.open(self.poster(task, index, client)) as opened:
            opened.load()
            return opened.copy()

    def fetch_all(self, task: Task, client: Downloader | None = None) -> list[Path]:
        """Every clip of the task (and so every poster), downloaded now if not cached."""
        return [self.clip(task, i, client) for i in range(len(task.video_urls))]

    def info(self, task: Task, index: int = 0, client: Downloader | None = None) -> clips.ClipInfo:
        """Format, codec, size, duration and first frame of cached clip ``index``."""
        return clips.probe(self.clip(task, index, client))

    # -- background ------------------------------------------------------------------------------

    def prefetch(self, task: Task) -> None:
        """Download every clip of a finished video (and make the posters) in the background."""
        if task.status is not Status.SUCCESS or not task.video_urls or self.has(task):
            return
        key = (task.server, task.id)
        snapshot = Task(id=task.id, server=task.server)
        snapshot.update_from(task)
        snapshot.backend = task.backend
        with self._lock:
            if key in self._queued:
                return
            self._queued.add(key)
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="mjw-videos")
            job = self._pool.submit(self._prefetch_job, snapshot)
            self._jobs.add(job)
        job.add_done_callback(self._forget_job)

    def _prefetch_job(self, task: Task) -> None:
        try:
            self.fetch_all(task)
        except MJError as exc:
            if not self._closed:  # after close() the server may be gone on purpose
                log.warning("could not cache the clips of %s: %s", task.id, exc)
        except Exception:  # a download thread must never die silently on a bug
            log.exception("caching the clips of %s failed", task.id)
        finally:
            with self._lock:
                self._queued.discard((task.server, task.id))

    def _forget_job(self, job: Future) -> None:
        with self._lock:
            self._jobs.discard(job)

    def drain(self, timeout: float | None = None) -> bool:
        """Wait for queued prefetches; True when none is left."""
        return wait_for_jobs(self._lock, self._jobs, timeout)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    # -- what people keep: save, and what a card shows ----------------------------------------

    def save(self, task: Task, folder: str | os.PathLike[str]) -> Path:
        """Write the task's clips, their posters and its record to ``folder`` (``records``);
        returns the first clip's path."""
        records.require_saveable(task)
        paths = self.fetch_all(task)
        lineage, masks = steps.story(self.store, task)
        return records.save_video(
            task,
            [(path.read_bytes(), clips.probe(path)) for path in paths],
            folder,
            ancestors=self.store.ancestors(task.id, task.server),
            sha256=[path.stem for path in paths],
            steps=lineage,
            inputs=masks,
        )

    def copy_files(
        self, task: Task, root: Path, *, client: Downloader | None = None
    ) -> CopiedClips:
        """Copy the task's clips to ``root/videos/`` and their first frames to ``root/images/``
        as ``mj-<id>-<n>.<ext>`` (an export's layout); paths in the result are relative to
        ``root``."""
        sources = self.fetch_all(task, client)
        posters = [self.poster(task, i, client) for i in range(len(sources))]
        stem = records.file_stem(task.id)
        copied = CopiedClips([], [], [], [], task.video_duration, (0, 0))
        for folder in ("videos", "images"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        for number, (clip, poster) in enumerate(zip(sources, posters, strict=True), 1):
            for folder, source, names in (
                ("videos", clip, copied.videos),
                ("images", poster, copied.posters),
            ):
                relative = f"{folder}/{stem}-{number}{source.suffix}"
                (root / relative).write_bytes(source.read_bytes())
                names.append(relative)
            copied.sha256.append(clip.stem)
            copied.poster_sha256.append(poster.stem)
        info = clips.probe(sources[0])
        copied.duration = copied.duration or info.duration
        copied.size = info.size
        return copied

    def card_media(
        self,
        task: Task,
        *,
        poster_side: int = renditions.POSTER_MAX,
        budget: int = CARD_CLIP_BUDGET,
        client: Downloader | None = None,
    ) -> list[CardClip]:
        """What a video card sends the browser, clip by clip: a display-sized poster always, and
        the clip bytes only when all of the task's clips together fit ``budget`` (so a saved
        notebook plays them without a kernel; otherwise it shows the posters and the card plays
        a clip by asking the kernel for it)."""
        paths = self.fetch_all(task, client)
        total = sum(path.stat().st_size for path in paths)
        carry = total <= budget
        result = []
        for index, path in enumerate(paths):
            with Image.open(self.poster(task, index, client)) as opened:
                opened.load()
                frame = opened.copy()
            shown = renditions.shrink(frame, poster_side)
            record = self.store.image_record(task.server, task.id, clip_kind(index)) or {}
            duration = task.video_duration
            if duration is None:
                duration = clips.probe(path).duration
            fmt = str(record.get("format") or path.suffix.lstrip("."))
            result.append(
                CardClip(
                    index=index,
                    poster=renditions.poster_jpeg(shown, max_side=poster_side),
                    poster_size=shown.size,
                    size=(int(record.get("width") or frame.width),
                          int(record.get("height") or frame.height)),
                    duration=duration,
                    nbytes=path.stat().st_size,
                    mime=clips.MIME_TYPES.get(fmt, "video/mp4"),
                    data=path.read_bytes() if carry else None,
                )
            )  # fmt: skip
        return result
