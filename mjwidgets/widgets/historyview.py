"""HistoryView: the stored tasks as a searchable gallery of thumbnails, newest first.

Search by prompt text, filter by status, action and date; click a thumbnail for its card (with its
buttons, usable while the server still knows the task) and its lineage as a tree; "reuse prompt"
puts the prompt into the Studio; tick two or more thumbnails and "compare" shows them side by side.
Favourites, stars and tags are set on the thumbnails and kept in the history file; the library's
filters find them again (``gallerylibrary``); ticked thumbnails download as one zip whose images
carry their records; "Copy as code" copies the shown task's recipe (``recipecopy``). Ticked
results are inputs too: "Blend N" and, with a Studio, "Use as ▸ … reference" (``galleryinputs``).

The history survives kernel restarts (it is the SQLite store under ``$MJ_HOME``), so the gallery
shows the tasks of every server by default — including the embedded simulator of an earlier
kernel, whose images are read from the cache.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import ipywidgets
import traitlets

from .. import renditions
from ..client import Client
from ..errors import MJError, ValidationError
from ..imagecache import FINAL, PREVIEW
from ..models import Status, Task
from ..store import LineageNode
from ..tracking import Tracker
from . import gallerylibrary
from .compare import Compare
from .galleryinputs import MESSAGES as INPUT_MESSAGES
from .galleryinputs import GalleryInputs
from .plumbing import IMAGER, SUBMITTER, FrontEndWidget, front_end, tracker_for
from .recipecopy import recipe_message
from .taskview import TaskView

log = logging.getLogger("mjwidgets.widgets")

THUMB_SIDE = 240  # px, long side (shown at ~120 CSS px: sharp on HiDPI screens)
SYNC_THUMBS = 24  # thumbnails made before the gallery first shows; the rest in the background
STATUSES = ["SUCCESS", "IN_PROGRESS", "SUBMITTED", "NOT_START", "MODAL", "FAILURE", "CANCEL"]
_THUMBS: dict[str, bytes] = {}  # source file stem (its sha256) → thumbnail bytes
_THUMBS_LOCK = threading.Lock()
_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mjw-thumbs")


def thumbnail_bytes(path: Path, folder: Path | None = None, side: int = THUMB_SIDE) -> bytes:
    """A small WebP (a few KB) of an image file, kept in memory and in ``folder``."""
    key = f"{path.stem}-{side}"
    with _THUMBS_LOCK:
        if key in _THUMBS:
            return _THUMBS[key]
    stored = folder / f"{key}.webp" if folder is not None else None
    if stored is not None and stored.exists():
        data = stored.read_bytes()
    else:
        data = renditions.thumbnail_webp(path, side, quality=72)
        if stored is not None:
            try:
                stored.parent.mkdir(parents=True, exist_ok=True)
                partial = stored.with_suffix(".part")
                partial.write_bytes(data)
                partial.replace(stored)
            except OSError as exc:  # a read-only MJ_HOME still shows thumbnails
                log.debug("could not keep thumbnail %s: %s", stored, exc)
    with _THUMBS_LOCK:
        _THUMBS[key] = data
    return data


def _day(text: str, *, end: bool = False) -> datetime | None:
    """A local date "YYYY-MM-DD" as an aware datetime: its start, or the end of the day."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise ValidationError(f"{text!r} is not a date", advice="use YYYY-MM-DD") from None
    moment = datetime.combine(day, time.min).astimezone()
    return moment + timedelta(days=1) - timedelta(microseconds=1) if end else moment


def _as_date_text(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        return value.astimezone().date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


class _Gallery(FrontEndWidget):
    """The front-end half of a HistoryView (js/historyview.js)."""

    _esm = front_end(
        "common.js",
        "copycode.js",
        "gallerylibrary.js",
        "galleryinputs.js",
        "historyview.js",
        styles=("mjwidgets.css", "historyview.css"),
    )

    items = traitlets.List[Any]().tag(sync=True)
    total = traitlets.Int(0).tag(sync=True)
    limit = traitlets.Int(200).tag(sync=True)
    query = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    action = traitlets.Unicode("").tag(sync=True)
    since = traitlets.Unicode("").tag(sync=True)
    until = traitlets.Unicode("").tag(sync=True)
    statuses = traitlets.List[Any]().tag(sync=True)
    actions = traitlets.List[Any]().tag(sync=True)
    selected = traitlets.List[Any]().tag(sync=True)
    current = traitlets.Unicode("").tag(sync=True)
    current_prompt = traitlets.Unicode("").tag(sync=True)
    current_note = traitlets.Unicode("").tag(sync=True)
    lineage = traitlets.Dict().tag(sync=True)
    has_studio = traitlets.Bool(False).tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    # the library's filters (gallerylibrary.FILTERS) and the values they offer
    favourite = traitlets.Bool(False).tag(sync=True)
    min_rating = traitlets.Int(0).tag(sync=True)
    tag = traitlets.Unicode("").tag(sync=True)
    version = traitlets.Unicode("").tag(sync=True)
    aspect = traitlets.Unicode("").tag(sync=True)
    kind = traitlets.Unicode("").tag(sync=True)
    facets = traitlets.Dict().tag(sync=True)
    # task id → {favourite, rating, tags} of the shown tasks: a click re-sends these, not items
    marks = traitlets.Dict().tag(sync=True)


def video_facts(task: Task) -> dict[str, Any] | None:
    """What a gallery tile or a lineage node says of a video: its clips and their length
    (its picture is the first clip's poster, the task's final image in the cache)."""
    if not task.is_video:
        return None
    return {"clips": len(task.video_urls), "duration": task.video_duration}


def _tree_json(node: LineageNode, current: str) -> dict[str, Any]:
    task = node.task
    return {
        "video": video_facts(task),
        "task_id": task.id,
        "via": node.via.display if node.via is not None else "",
        "action": task.action or "",
        "status": task.status_raw or task.status.value,
        "prompt": (task.prompt or task.prompt_en or "")[:160],
        "current": task.id == current,
        "children": [_tree_json(child, current) for child in node.children],
    }


class HistoryView(ipywidgets.VBox):
    """The history as thumbnails: search, filters, a card and lineage per task, reuse, compare.

    ``studio``: "reuse prompt" fills its prompt box (without one, a text field below the gallery).
    ``limit``: at most this many tasks are shown (newest first). ``all_servers`` (default True)
    also lists tasks of servers other than the client's, e.g. an earlier kernel's simulator.
    """

    def __init__(
        self,
        client: Client | None = None,
        *,
        tracker: Tracker | None = None,
        studio: Any = None,
        limit: int = 200,
        all_servers: bool = True,
    ) -> None:
        if tracker is None:
            tracker = studio.tracker if studio is not None else tracker_for(client)
        self.tracker = tracker
        self.client = tracker.client
        self.store = tracker.store
        self.cache = tracker.cache
        self.studio = studio
        self.limit = int(limit)
        self.all_servers = all_servers
        self.thumbs_folder = self.store.folder / "thumbs"
        self.gallery = _Gallery(limit=self.limit, has_studio=studio is not None, statuses=STATUSES)
        self.prompt_box = ipywidgets.Textarea(
            description="Prompt",
            layout=ipywidgets.Layout(width="100%", max_width="760px", display="none"),
        )
        self.prompt_box.add_class("mjw-history-reused")
        self.card_box = ipywidgets.VBox()
        self.card_box.add_class("mjw-history-card")
        self.compare_box = ipywidgets.VBox()
        self.compare_box.add_class("mjw-history-compare")
        #: "Blend N" / "Use as ▸" on the ticked results (``inputs.blend``, ``inputs.use_as``)
        self.inputs = GalleryInputs(self.gallery, tracker, studio, self._find)
        super().__init__(
            [self.gallery, self.prompt_box, self.compare_box, self.inputs.box, self.card_box]
        )
        self.add_class("mjw-historyview")
        self.tasks: list[Task] = []
        self.card: TaskView | None = None
        self.compare_view: Compare | None = None
        self._lock = threading.RLock()
        self._generation = 0
        self._quiet = False
        self._timer: threading.Timer | None = None
        self._statuses_seen: dict[str, str] = {}
        self._closed = False
        self.gallery.on_msg(self._on_message)
        self.gallery.observe(
            self._on_filter,
            names=["query", "status", "action", "since", "until", *gallerylibrary.FILTERS],
        )
        self._unsubscribe = tracker.subscribe_all(self._on_task_change)
        self.refresh()

    # ------------------------------------------------------------------ public
    def search(
        self,
        text: str | None = None,
        *,
        status: str | Status | None = None,
        action: str | None = None,
        since: datetime | date | str | None = None,
        until: datetime | date | str | None = None,
        favourite: bool = False,
        min_rating: int | None = None,
        tag: str | None = None,
        version: str | None = None,
        aspect: str | None = None,
        kind: str | None = None,
    ) -> list[Task]:
        """Set the search text and filters (dates: the local day, inclusive; the library's:
        favourites only, at least ``min_rating`` stars, a tag, a model version, an aspect ratio,
        "image" or "video"); returns the tasks shown. ``None`` clears a filter."""
        gallery = self.gallery
        self._quiet = True
        try:
            gallery.favourite = bool(favourite)
            gallery.min_rating = int(min_rating or 0)
            gallery.tag = str(tag or "")
            gallery.version = str(version or "")
            gallery.aspect = str(aspect or "")
            gallery.kind = str(kind or "")
            gallery.query = text or ""
            gallery.status = (
                status.value if isinstance(status, Status) else str(status or "")
            ).upper()
            gallery.action = str(action or "").upper()
            gallery.since = _as_date_text(since)
            gallery.until = _as_date_text(until)
        finally:
            self._quiet = False
        return self.refresh(options=False)

    def refresh(self, *, wait: bool = False, options: bool = True) -> list[Task]:
        """Query the store again (new tasks, changed filters); returns the tasks shown. Missing
        thumbnails beyond the first few are made in the background (``wait=True``: now).
        ``options``: also update the action filter's choices from the whole history."""
        gallery = self.gallery
        with self._lock:
            try:
                tasks = self.store.history(
                    gallery.query.strip() or None,
                    gallery.status or None,
                    gallery.action or None,
                    _day(gallery.since),
                    _day(gallery.until, end=True),
                    self.limit,
                    server=None if self.all_servers else self.tracker.base_url,
                    bind=self.client,  # its own server's tasks come back bound to it
                    **gallerylibrary.filters_of(gallery),
                )
            except MJError as exc:
                gallery.error = str(exc)
                return self.tasks
            gallery.error = ""
            self.tasks = tasks
            self._generation += 1
            generation = self._generation
            missing = self._push_items(budget=None if wait else SYNC_THUMBS)
            if options or not gallery.actions:
                self._update_actions()
            if options or not gallery.facets:
                gallery.facets = self.store.library.facets(
                    None if self.all_servers else self.tracker.base_url
                )
            shown = {t.id for t in self.tasks}
            gallery.selected = [i for i in gallery.selected if i in shown]
        if missing:
            _WORKER.submit(self._fill_thumbs, generation)
        return list(self.tasks)

    def show(self, task: Task | str) -> TaskView | None:
        """Show a task's card below the gallery, and its lineage as a tree."""
        found = self._find(task)
        gallery = self.gallery
        with self._lock:
            if self.card is not None:
                self.card.close()
                self.card = None
            foreign = found.server != self.tracker.base_url
            tree = self.store.lineage(found.id, found.server)
            with gallery.hold_sync():
                gallery.current = found.id
                gallery.current_prompt = found.prompt or found.prompt_en or ""
                gallery.current_note = (
                    "Made on another server (an earlier session, e.g. a restarted kernel's "
                    "simulator): its buttons may no longer work here."
                    if foreign
                    else ""
                )
                gallery.lineage = _tree_json(tree, found.id) if tree is not None else {}
            if foreign and found.is_pending:
                note = ipywidgets.HTML()
                note.value = (
                    "<div class='mjw-history-note'>This task was still running when "
                    "it was last seen, on a server this kernel is not connected to."
                    "</div>"
                )
                self.card_box.children = (note,)
                return None
            try:
                view = TaskView(found, tracker=self.tracker)
            except MJError as exc:
                gallery.error = str(exc)
                return None
            self.card = view
            self.card_box.children = (view,)
            gallery.message = ""
            return view

    def reuse(self, task: Task | str | None = None) -> str:
        """Put a task's prompt (default: the shown one) into the Studio, or the text field."""
        if task is None:
            if not self.gallery.current:
                raise ValidationError("no task is shown", advice="click a thumbnail first")
            task = self.gallery.current
        found = self._find(task)
        prompt = found.prompt or found.prompt_en or ""
        if self.studio is not None:
            self.studio.set_prompt(prompt)
            self.gallery.message = "prompt put into the Studio's prompt box"
        else:
            self.prompt_box.value = prompt
            self.prompt_box.layout.display = None
            self.gallery.message = "prompt copied into the field below"
        return prompt

    def compare(self, tasks: list[Task | str] | None = None) -> Compare:
        """Compare the ticked thumbnails (or ``tasks``) side by side below the gallery."""
        wanted = list(tasks) if tasks is not None else list(self.gallery.selected)
        if len(wanted) < 2:
            raise ValidationError(
                "tick two or more images to compare", advice="tick the boxes on the thumbnails"
            )
        found = [self._find(t) for t in wanted]
        view = Compare(found, tracker=self.tracker, title=f"Comparing {len(found)} images")
        if self.compare_view is not None:
            self.compare_view.close()
        self.compare_view = view
        self.compare_box.children = (view,)
        return view

    @property
    def selected(self) -> list[str]:
        return list(self.gallery.selected)

    @selected.setter
    def selected(self, ids: list[str]) -> None:
        self.gallery.selected = list(ids)

    def close(self) -> None:
        self._closed = True
        self._unsubscribe()
        if self._timer is not None:
            self._timer.cancel()
        if self.card is not None:
            self.card.close()
        super().close()

    # ------------------------------------------------------------------ tasks
    def _find(self, task: Task | str) -> Task:
        task_id = task.id if isinstance(task, Task) else str(task)
        for known in self.tasks:
            if known.id == task_id:
                return known
        if isinstance(task, Task) and task.server:
            return task
        stored = self.store.get(task_id, client=self.client)
        if stored is None:
            raise ValidationError(f"task {task_id} is not in the history", task_id=task_id)
        return stored

    def _image_path(self, task: Task) -> Path | None:
        try:
            path = self.cache.path(task, FINAL)
            # a running job's latest preview; a failed one's is no result (its card shows none)
            if path is None and task.status is not Status.SUCCESS and not task.ended_without_result:
                path = self.cache.path(task, PREVIEW)
        except MJError:
            return None
        return path

    def _item(self, task: Task, thumbs: dict[str, bytes | None]) -> dict[str, Any]:
        when = task.submit_time or task.finish_time
        return {
            "task_id": task.id,
            "prompt": task.prompt or task.prompt_en or "",
            "status": task.status_raw or task.status.value,
            "action": task.action or "",
            "via": task.origin_button.display if task.origin_button else "",
            "parent_id": task.parent_id or "",
            "when": when.isoformat() if when else "",
            "thumb": thumbs.get(task.id),
            "video": video_facts(task),
            "other_server": task.server != self.tracker.base_url,
        }

    def _push_items(self, budget: int | None) -> int:
        """Send the items with the thumbnails at hand (making up to ``budget`` new ones);
        returns how many are still missing."""
        thumbs: dict[str, bytes | None] = {}
        missing = 0
        made = 0
        for task in self.tasks:
            path = self._image_path(task)
            if path is None:
                thumbs[task.id] = None
                continue
            key = f"{path.stem}-{THUMB_SIDE}"
            with _THUMBS_LOCK:
                cached = _THUMBS.get(key)
            on_disk = (self.thumbs_folder / f"{key}.webp").exists()
            if cached is None and not on_disk and budget is not None and made >= budget:
                thumbs[task.id] = None
                missing += 1
                continue
            try:
                thumbs[task.id] = thumbnail_bytes(path, self.thumbs_folder)
                made += 0 if cached is not None or on_disk else 1
            except OSError as exc:
                log.warning("no thumbnail for %s: %s", task.id, exc)
                thumbs[task.id] = None
        items = [self._item(task, thumbs) for task in self.tasks]
        marks = gallerylibrary.marks_json(self.store.library, self.tasks)
        with self.gallery.hold_sync():
            if marks != self.gallery.marks:
                self.gallery.marks = marks
            if items != self.gallery.items:
                self.gallery.items = items
            self.gallery.total = len(items)
        return missing

    def _fill_thumbs(self, generation: int) -> None:
        """Make the missing thumbnails (without holding the lock), then send them."""
        try:
            with self._lock:
                tasks = list(self.tasks)
            for task in tasks:
                if generation != self._generation or self._closed:
                    return  # the filters changed: a newer refresh takes over
                path = self._image_path(task)
                if path is not None:
                    try:
                        thumbnail_bytes(path, self.thumbs_folder)
                    except OSError as exc:
                        log.warning("no thumbnail for %s: %s", task.id, exc)
            with self._lock:
                if generation == self._generation and not self._closed:
                    self._push_items(budget=None)
        except Exception:  # a background job must never die silently
            log.exception("making thumbnails failed")

    def _mark(self, content: dict[str, Any]) -> None:
        """A ♥, stars or a tag from the page: kept in the history file, then shown. Only the
        marks are sent again, unless a library filter is on (the shown tasks may change)."""
        gallery = self.gallery
        gallery.message = gallerylibrary.apply_mark(self.store.library, content)
        gallery.error = ""
        if any(gallerylibrary.filters_of(gallery).values()):
            self.refresh()
            return
        with self._lock:
            gallery.marks = gallerylibrary.marks_json(self.store.library, self.tasks)
            if content.get("type") in ("tag", "untag"):
                gallery.facets = self.store.library.facets(
                    None if self.all_servers else self.tracker.base_url
                )

    def _send_zip(self, task_ids: list[str]) -> None:
        """The ticked tasks as a zip, sent to the page as one message's bytes (a zip too big
        for a message is kept under the history folder and named instead)."""
        gallery = self.gallery
        try:
            tasks = [self._find(task_id) for task_id in task_ids]
            gallery.message = f"preparing a zip of {len(tasks)} image(s)…"
            name, made = gallerylibrary.selection_zip(tasks, self.store, self.cache)
        except Exception as exc:  # the page waits for an answer: always send one
            if not isinstance(exc, MJError):
                log.exception("the zip of the ticked images failed")
            gallery.error = f"no zip: {exc}"
            gallery.message = ""
            gallery.send({"type": "zip", "error": str(exc)})
            return
        if isinstance(made, Path):
            gallery.message = f"the zip is too big to download from the page: it is at {made}"
            gallery.send({"type": "zip", "path": str(made)})
            return
        gallery.message = f"{name}: {len(tasks)} image(s), {len(made) / 1e6:.1f} MB"
        gallery.send({"type": "zip", "filename": name}, [made])

    # ------------------------------------------------------------------ events
    def _update_actions(self) -> None:
        gallery = self.gallery
        actions = sorted({t.action for t in self.store.history(limit=500) if t.action})
        if gallery.action and gallery.action not in actions:
            actions.append(gallery.action)
        gallery.actions = actions

    def _on_filter(self, _change: dict) -> None:
        if not self._quiet:
            self.refresh(options=False)  # typing in the search box: just the query

    def _on_task_change(self, task: Task) -> None:
        """A tracked task changed: refresh (debounced) when one appears or changes status."""
        if self._closed:
            return
        status = task.status_raw or task.status.value
        if self._statuses_seen.get(task.id) == status:
            return
        self._statuses_seen[task.id] = status
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(0.6, self._refresh_quietly)
        self._timer.daemon = True
        self._timer.start()

    def _refresh_quietly(self) -> None:
        if self._closed:
            return
        try:
            # a task that just finished: give the cache a moment to keep its image
            self.cache.drain(timeout=5)
            self.refresh()
        except Exception:
            log.exception("refreshing the history failed")

    def _on_message(self, _widget, content: dict, _buffers) -> None:
        kind = content.get("type")
        try:
            if kind == "select":
                self.show(str(content.get("task_id", "")))
            elif kind == "reuse":
                self.reuse(str(content.get("task_id") or "") or None)
            elif kind == "compare":
                self.compare()
            elif kind in INPUT_MESSAGES:
                self.inputs.on_message(content)
            elif kind == "refresh":
                self.refresh()
            elif kind in gallerylibrary.MARK_MESSAGES:
                self._mark(content)
            elif kind == "download":
                SUBMITTER.submit(self._send_zip, list(self.gallery.selected))
            elif kind == "recipe":
                found = self._find(str(content.get("task_id") or ""))
                IMAGER.submit(lambda: self.gallery.send(recipe_message(found, self.store)))
        except MJError as exc:
            self.gallery.error = str(exc)
        except Exception as exc:  # never let a click kill the kernel's message loop
            log.exception("history action %s failed", kind)
            self.gallery.error = f"{type(exc).__name__}: {exc}"
