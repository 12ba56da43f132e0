"""Local copies of task images, so results outlive their URLs (Discord links die after ~24 h).

Files are content-addressed (``images/<sha256>.<format>``): the name comes from the bytes and the
format Pillow detected, never from a server string, so a hostile URL or id cannot pick a path.
Downloads go through the task's client (``download``: http(s) only, size-capped, the key only
to the API's own origin); every file is decoded once with Pillow's decompression-bomb guard
before it is kept. The index (which task of which server has which file) lives in the history
store, keyed by ``task.server``, so images of an earlier kernel's tasks are found without any
client at all.

The tracker prefetches final images the moment a task succeeds (and the latest preview of tasks
someone watches) on a small pool of download threads, so polling never waits for a download.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from PIL import Image

from . import media, records, renditions, steps
from .errors import MJError, NotFoundError
from .models import Status, Task
from .store import HistoryStore

if TYPE_CHECKING:
    from .videocache import VideoCache

__all__ = ["Display", "ImageCache", "FINAL", "PREVIEW", "write_content_addressed"]

log = logging.getLogger("mjwidgets.imagecache")

FINAL = "final"
PREVIEW = "preview"
# decoded previews kept for the cards that ask right after caching: at most three 2048² grids’
# worth (one per download thread); more would make a big Studio's kernel heavy for nothing
_DECODED_PIXELS = 3 * 2048 * 2048
DISPLAY_FOLDER = "display"  # images/display/<sha256 of the image>.jpg: each card's JPEG


class Display(NamedTuple):
    """A card's picture of an image: its display JPEG, and the image's own (width, height)."""

    jpeg: bytes
    size: tuple[int, int]


def write_content_addressed(folder: Path, data: bytes, extension: str) -> tuple[str, Path]:
    """Keep ``data`` as ``folder/<sha256>.<extension>`` (written once, atomically, fsynced);
    returns (digest, path). The one writer of the cache's files, images and clips alike: the
    name comes from the bytes and a format we detected, never from a server string."""
    digest = hashlib.sha256(data).hexdigest()
    target = folder / f"{digest}.{extension}"
    if not target.exists():
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".part-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    return digest, target


class Downloader(Protocol):
    """What the cache needs to fetch an image: a Client (or anything that downloads like one)."""

    @property
    def base_url(self) -> str: ...

    def download(self, url: str, *, max_bytes: int = ...) -> bytes: ...


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
        self._closed = False  # close() was called and no prefetch has reopened the cache since
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
        self._videos: VideoCache | None = None  # made on first use (``videos``)

    def __repr__(self) -> str:
        return f"<ImageCache {self.folder}>"

    @property
    def videos(self) -> VideoCache:
        """The clips and posters of video tasks: same folder, same index (``videocache``)."""
        with self._lock:
            if self._videos is None:
                from .videocache import VideoCache

                self._videos = VideoCache(self)
            return self._videos

    @staticmethod
    def _is_clip_task(task: Task) -> bool:
        """A finished video: its ``image_url`` is an mp4, its image is the first clip's poster."""
        return task.is_video and bool(task.video_urls) and task.status is Status.SUCCESS

    # -- lookup --------------------------------------------------------------------------------

    def _file(self, record: dict[str, Any]) -> Path:
        return self.folder / f"{record['sha256']}.{record['format']}"

    def _record(self, task: Task, kind: str) -> dict[str, Any] | None:
        record = self.store.image_record(task.server, task.id, kind)
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

    def fetch(self, task: Task, kind: str | None = None, client: Downloader | None = None) -> Path:
        """Download and keep the task's current image; returns the cached file.

        ``kind`` defaults to "final" for a SUCCESS task and "preview" otherwise. A final image
        already cached is never downloaded again; a preview is refreshed when its URL changed.
        """
        kind = kind or (FINAL if task.status is Status.SUCCESS else PREVIEW)
        if kind == FINAL and self._is_clip_task(task):
            return self.videos.poster(task, 0, client)
        if client is None and task.backend is not None and task.backend.base_url == task.server:
            client = task.backend
        # one download per image at a time: the prefetcher and a card often ask together
        with self._lock:
            gate = self._fetching.setdefault((task.server, task.id, kind), threading.Lock())
        with gate:
            return self._fetch_once(task, kind, client)

    def _fetch_once(self, task: Task, kind: str, client: Downloader | None) -> Path:
        url = task.image_url
        record = self._record(task, kind)
        if record is not None and (
            kind == FINAL or self._preview_urls.get((task.server, task.id)) == url
        ):
            return self._file(record)
        if not url:
            raise NotFoundError(
                f"task {task.id} has no image yet ({task.status.value} {task.progress}%)",
                task_id=task.id,
                advice="wait for the task to finish (or to show a preview)",
            )
        if client is None:
            where = records.without_query(task.server) or "an unknown server"
            raise NotFoundError(
                f"the image of task {task.id} (made on {where}) was never cached",
                task_id=task.id,
                advice="images are kept when a task finishes while mjwidgets tracks it; fetch "
                "the task with a Client of its server to download it again",
            )
        data = client.download(url, max_bytes=self.max_bytes)
        return self._keep(task, kind, url, data)

    def _keep(self, task: Task, kind: str, url: str, data: bytes) -> Path:
        image = media.decode_image(data)  # refuses non-images and decompression bombs
        fmt = media.file_extension(image)
        if fmt == "png" and (image.format or "").upper() != "PNG":  # keep what we can show
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            data, fmt = buffer.getvalue(), "png"
        digest, target = write_content_addressed(self.folder, data, fmt)
        self.store.put_image_record(
            task.server,
            task.id,
            kind,
            sha256=digest,
            fmt=fmt,
            size=image.size,
            nbytes=len(data),
            source=records.without_query(url),
        )
        if kind == PREVIEW:
            self._preview_urls[(task.server, task.id)] = url
        if kind == FINAL:  # previews come every few seconds: their card makes its own …
            self._keep_display(target, image)
            return target
        with self._lock:  # … from this copy, asked for right after (a final one's card reads
            self._decoded[target] = image  # the display JPEG: no copy kept for it)
            self._decoded.move_to_end(target)
            while len(self._decoded) > 1 and (
                len(self._decoded) > 8
                or sum(i.width * i.height for i in self._decoded.values()) > _DECODED_PIXELS
            ):
                self._decoded.popitem(last=False)
        return target

    # -- the display rendition kept beside each image -------------------------------------------

    def _display_file(self, original: Path) -> Path:
        return self.folder / DISPLAY_FOLDER / f"{original.stem}.jpg"

    def _keep_display(self, original: Path, image: Image.Image) -> bytes:
        """Write the card's display JPEG beside the image, from the copy decoded to keep it:
        made here, on the download thread, a card only reads it (no decode, no encode)."""
        data = renditions.display_jpeg(image)
        target = self._display_file(original)
        target.parent.mkdir(exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:  # no fsync: a rendition is made again from its image whenever it is missing
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return data

    def display(self, task: Task, client: Downloader | None = None) -> Display:
        """What a card shows of the task's image (the final one, else the latest preview): the
        display JPEG kept beside the cached file (``renditions.display_jpeg``; made again if
        missing, e.g. for images cached by an older version) and the image's own size."""
        path = self.fetch(task, FINAL if task.status is Status.SUCCESS else PREVIEW, client)
        kept = self._display_file(path)
        try:
            data = kept.read_bytes()
        except FileNotFoundError:
            with self._lock:
                recent = self._decoded.get(path)
            if recent is None:
                with Image.open(path) as opened:
                    opened.load()
                    recent = opened.copy()
            data = self._keep_display(path, recent)
        record = self.store.image_record(
            task.server, task.id, FINAL if task.status is Status.SUCCESS else PREVIEW
        )
        size = (int(record["width"]), int(record["height"])) if record else (0, 0)
        return Display(data, size)

    def cached_display(self, task: Task) -> Display | None:
        """The final image's display JPEG and size when both are kept already, else None;
        never downloads nor encodes (a new card shows a cached image at once with this, and
        leaves anything slower to a worker thread: ``display``)."""
        record = self._record(task, FINAL)
        if record is None:
            return None
        try:
            data = self._display_file(self._file(record)).read_bytes()
        except FileNotFoundError:
            return None
        return Display(data, (int(record["width"]), int(record["height"])))

    def prefetch(self, task: Task, kind: str | None = None) -> None:
        """Download in the background; several calls for one task keep only the latest URL."""
        kind = kind or (FINAL if task.status is Status.SUCCESS else PREVIEW)
        if kind == FINAL and self._is_clip_task(task):
            self.videos.prefetch(task)  # every clip, and the posters made from them
            return
        if not task.image_url or (kind == FINAL and self.has(task, FINAL)):
            return
        key = (task.server, task.id, kind)
        snapshot = Task(id=task.id, server=task.server)
        snapshot.update_from(task)
        snapshot.backend = task.backend
        with self._lock:
            queued = key in self._wanted
            self._wanted[key] = (snapshot, task.image_url)
            if queued:
                return  # the queued job will pick up the latest URL
            if self._pool is None:  # first use, or reused after close() (a new tracker)
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="mjw-images")
                self._closed = False
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
            if self._closed:  # closed meanwhile (its history too, perhaps): nothing to keep
                log.debug("caching the %s image of %s stopped: the cache closed", *key[2:0:-1])
                return
            log.exception("caching the %s image of %s failed", key[2], key[1])

    def drain(self, timeout: float | None = None) -> bool:
        """Wait for queued prefetches (tests, shutdown); True when none is left."""
        limit = None if timeout is None else time.monotonic() + timeout
        if self._videos is not None and not self._videos.drain(timeout):
            return False
        remaining = None if limit is None else max(0.0, limit - time.monotonic())
        return wait_for_jobs(self._lock, self._jobs, remaining)

    def close(self) -> None:
        """Stop prefetching: queued downloads are dropped, running ones end without keeping."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if self._videos is not None:
            self._videos.close()

    # -- what Task.image() / tiles() / save() of a tracked task use ------------------------------

    def image(self, task: Task, client: Downloader | None = None) -> Image.Image:
        """The final image (the latest preview while running), from disk when cached (else
        downloaded through ``client`` or the task's own backend)."""
        path = self.fetch(task, FINAL if task.status is Status.SUCCESS else PREVIEW, client)
        with self._lock:
            recent = self._decoded.get(path)
        if recent is not None:  # decoded moments ago while caching it: skip a second decode
            return recent.copy()
        with Image.open(path) as opened:
            opened.load()
            return opened.copy()

    def tiles(self, task: Task) -> list[Image.Image]:
        """The four candidates of a grid (top-left, top-right, bottom-left, bottom-right),
        ``[image]`` for a single image, one poster per clip for a video."""
        if self._is_clip_task(task):
            return [self.videos.poster_image(task, i) for i in range(len(task.video_urls))]
        image = self.image(task)
        return renditions.split_grid(image) if task.is_grid else [image]

    def tile_file(self, task: Task, index: int, client: Downloader | None = None) -> Path | None:
        """The server's own full-size file of candidate ``index`` (1–4) of a grid, cached like
        the grid, when the task lists one (trueai's ``imageUrls`` with its official-CDN option);
        None when it does not (then the candidate is the grid's quadrant: ``tiles``)."""
        urls = task.raw.get("imageUrls") if isinstance(task.raw, dict) else None
        if not task.is_grid or not isinstance(urls, list) or not 1 <= index <= len(urls):
            return None
        item = urls[index - 1]
        url = item.get("url") if isinstance(item, dict) else item
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return None
        kind = f"tile{index}"
        record = self._record(task, kind)
        if record is not None:
            return self._file(record)
        if client is None and task.backend is not None and task.backend.base_url == task.server:
            client = task.backend
        if client is None:
            return None
        with self._lock:
            gate = self._fetching.setdefault((task.server, task.id, kind), threading.Lock())
        with gate:
            record = self._record(task, kind)
            if record is not None:
                return self._file(record)
            return self._keep(task, kind, url, client.download(url, max_bytes=self.max_bytes))

    def save(self, task: Task, folder: str | os.PathLike[str]) -> Path:
        """Copy the final image to ``folder`` with its JSON record (prompt, parameters, lineage,
        timings); returns the image's path. Names come from the task id, sanitised. A video's
        clips and posters are written instead (``VideoCache.save``)."""
        records.require_saveable(task)
        if self._is_clip_task(task):
            return self.videos.save(task, folder)
        source = self.fetch(task, FINAL)
        with Image.open(source) as opened:
            opened.load()
            image = opened.copy()
            image.format = opened.format
        lineage, masks = steps.story(self.store, task)
        return records.save(
            task,
            source.read_bytes(),
            image,
            folder,
            ancestors=self.store.ancestors(task.id, task.server),
            sha256=source.stem,
            steps=lineage,
            inputs=masks,
        )


def wait_for_jobs(lock: threading.Lock, jobs: set[Future], timeout: float | None) -> bool:
    """Wait until every job in ``jobs`` (guarded by ``lock``, which may gain jobs meanwhile) is
    done; True when none is left within ``timeout`` seconds (None: no limit)."""
    limit = None if timeout is None else time.monotonic() + timeout
    while True:
        with lock:
            pending = [job for job in jobs if not job.done()]
        if not pending:
            return True
        remaining = None if limit is None else limit - time.monotonic()
        if remaining is not None and remaining <= 0:
            return False
        wait(pending, timeout=remaining)
