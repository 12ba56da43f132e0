"""The gallery's library: marks on thumbnails (favourite, 1–5 stars, tags), the library's
filters, and the ticked thumbnails as one zip download.

The marks live in the history file (``store.library``), so a new gallery — in this kernel or
the next — shows them again; the gallery only draws them and sends clicks here. The zip is
``export.export_zip``'s (images carrying their records, the manifests, the contact sheet): it
reaches the browser as the bytes of one widget message, which the page saves as a download.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import MJError, ValidationError
from ..export import export_zip
from ..imagecache import ImageCache
from ..library import KINDS, Library
from ..models import Task
from ..store import HistoryStore

__all__ = [
    "FILTERS",
    "MARK_MESSAGES",
    "ZIP_LIMIT",
    "apply_mark",
    "filters_of",
    "marks_json",
    "selection_zip",
    "show_card_marks",
]

#: The gallery's library filter traits (their values go to ``store.history``).
FILTERS = ("favourite", "min_rating", "tag", "version", "aspect", "kind")
#: The front end's messages that change a mark.
MARK_MESSAGES = frozenset({"favourite", "rate", "tag", "untag"})
_CARD_MARKS = threading.Lock()
#: A selection whose zip is bigger than this is kept on disk and named, not sent to the page.
ZIP_LIMIT = 200 * 1024 * 1024


def filters_of(gallery: Any) -> dict[str, Any]:
    """``store.history``'s library arguments from the gallery's filter traits (unset → None)."""
    kind = str(gallery.kind or "")
    return {
        "favourite": True if gallery.favourite else None,
        "min_rating": int(gallery.min_rating) if gallery.min_rating else None,
        "tag": str(gallery.tag) or None,
        "version": str(gallery.version) or None,
        "aspect": str(gallery.aspect) or None,
        "kind": kind if kind in KINDS else None,
    }


def marks_json(library: Library, tasks: Iterable[Task]) -> dict[str, dict[str, Any]]:
    """Task id → its marks as the gallery draws them (every task, marked or not)."""
    listed = list(tasks)
    found = library.marks_of(listed) if listed else {}
    result: dict[str, dict[str, Any]] = {}
    for task in listed:
        marks = found.get(task.id)
        result[task.id] = {
            "favourite": bool(marks and marks.favourite),
            "rating": (marks.rating or 0) if marks else 0,
            "tags": list(marks.tags) if marks else [],
        }
    return result


def _ids(content: Mapping[str, Any]) -> list[str]:
    many = content.get("task_ids")
    ids = [str(i) for i in many] if isinstance(many, list) else [str(content.get("task_id") or "")]
    ids = [i for i in ids if i]
    if not ids:
        raise ValidationError("no task to mark", advice="click a thumbnail first")
    return ids


def apply_mark(library: Library, content: Mapping[str, Any]) -> str:
    """Apply one mark message from the gallery; returns what was done, in words."""
    kind = content.get("type")
    ids = _ids(content)
    which = f"#{ids[0]}" if len(ids) == 1 else f"{len(ids)} images"
    if kind == "favourite":
        on = bool(content.get("on"))
        for task_id in ids:
            library.favourite(task_id, on)
        return f"{which}: {'a favourite' if on else 'no longer a favourite'}"
    if kind == "rate":
        stars = content.get("stars")
        value = None if stars in (None, 0, "0", "") else stars
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        for task_id in ids:
            library.rate(task_id, value)
        return f"{which}: " + (f"{value} star{'s' if value != 1 else ''}" if value else "unrated")
    tag = str(content.get("tag") or "")
    if kind == "tag":
        for task_id in ids:
            library.tag(task_id, tag)
        return f"{which}: tagged “{' '.join(tag.split()).lower()}”"
    if kind == "untag":
        for task_id in ids:
            library.untag(task_id, tag)
        return f"{which}: tag “{tag}” removed"
    raise ValidationError(f"unknown mark {kind!r}", advice="reload the page")


def show_card_marks(view: Any, content: Mapping[str, Any] | None = None) -> None:
    """A card's ♥ and stars: apply a click (``content``) to its task, then show its marks
    (the card's ``marks`` trait). A task the history does not hold yet shows none."""
    library = view.tracker.store.library
    try:
        with _CARD_MARKS:  # two quick clicks on worker threads: the later one shows both
            if content is not None:
                apply_mark(library, {**content, "task_id": view.task.id})
            view.card.marks = marks_json(library, [view.task])[view.task.id]
    except MJError as exc:
        if content is not None:  # a click gets its answer; a first look stays quiet
            view.card.error = str(exc)


def selection_zip(
    tasks: list[Task], store: HistoryStore, cache: ImageCache | None = None
) -> tuple[str, bytes | Path]:
    """The ticked tasks as one zip: (its file name, its bytes) — or, above ``ZIP_LIMIT``, the
    path of the zip kept under the history's ``exports/`` folder."""
    if not tasks:
        raise ValidationError("no image is ticked", advice="tick the boxes on the thumbnails")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name = f"mjwidgets-{len(tasks)}-images-{stamp}"
    with tempfile.TemporaryDirectory(prefix="mjw-selection-") as scratch:
        made = export_zip(tasks, Path(scratch) / f"{name}.zip", name=name, store=store,
                          cache=cache)  # fmt: skip
        if made.stat().st_size <= ZIP_LIMIT:
            return made.name, made.read_bytes()
        kept = store.folder / "exports" / made.name
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(made), kept)
        return made.name, kept
