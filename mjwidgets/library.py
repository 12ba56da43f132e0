"""The library: favourites, 1–5 star ratings, tags and Compare choices on the history's tasks,
and the filters that find them again (by those marks, by model version, aspect ratio and kind).

A person keeps what they like; the gallery, a zip export and the preference statistics
(``picks``) read it back. Marks live beside the tasks in the history file (``schema``'s library
tables), keyed by (server, task id) like everything else there, so they survive restarts and are
shared by kernels. Every call is one short transaction, made from a widget's click in one line:
``store.library.rate(task, 4)``.

Version, aspect ratio and kind are not columns: they are read from what the server said (the
prompt, ``properties.finalPrompt``, trueai's ``version``, video fields) by SQL functions this
module installs on the store's connection, so old rows filter as well as new ones.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .errors import NotFoundError, ValidationError
from .models import Task
from .prompt import Prompt

if TYPE_CHECKING:
    from .store import HistoryStore

__all__ = ["Library", "Marks", "Choice", "KINDS", "install_functions", "filter_clauses"]

KINDS = ("image", "video")
_VIDEO_ACTIONS = frozenset({"VIDEO", "ANIMATE", "EXTEND"})


@dataclass(frozen=True)
class Marks:
    """What a person said about one task."""

    favourite: bool = False
    rating: int | None = None
    tags: tuple[str, ...] = ()
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "favourite": self.favourite,
            "rating": self.rating,
            "tags": list(self.tags),
            "note": self.note,
        }


@dataclass(frozen=True)
class Choice:
    """One Compare decision: ``chosen`` was preferred over ``rejected`` (task ids)."""

    server: str
    chosen: str
    rejected: tuple[str, ...]
    context: str
    at: datetime


# -- facets read from a stored row (SQL functions) ---------------------------------------------


def _raw(text: str | None) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _prompts(prompt: str | None, raw: dict[str, Any]) -> list[Prompt]:
    final = (raw.get("properties") or {}).get("finalPrompt") if raw else None
    return [Prompt(text) for text in (prompt, final) if isinstance(text, str) and text]


def normalize_version(value: str | None) -> str:
    """``"--v 6.1"``, ``"v 6.1"``, ``"6.1"`` → ``"6.1"``; ``"niji 6"``, ``"--niji 6"`` →
    ``"niji 6"``; blank → ``""`` (the account's default model)."""
    text = " ".join(str(value or "").replace("--", " ").split()).lower()
    if text.startswith("niji"):
        rest = text[4:].strip()
        return f"niji {rest}" if rest else "niji"
    if text.startswith(("v ", "version ")):
        text = text.split(" ", 1)[1]
    elif text.startswith("v") and text[1:2].isdigit():
        text = text[1:]
    return text.strip()


def version_of(prompt: str | None, raw_text: str | None) -> str:
    """The model version a stored task ran with ("" when only the account default says)."""
    raw = _raw(raw_text)
    for parsed in _prompts(prompt, raw):
        found = parsed.version
        if found is not None:
            family, number = found
            return normalize_version(f"{family} {number}")
    return normalize_version(str(raw.get("version") or ""))


def aspect_of(prompt: str | None, raw_text: str | None) -> str:
    """The task's ``--ar`` ("1:1" when none was given)."""
    for parsed in _prompts(prompt, _raw(raw_text)):
        value = parsed.params.get("ar")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return "1:1"


def kind_of(action: str | None, raw_text: str | None) -> str:
    """ "video" for Animate/Extend/video results (and a video grid's U), else "image"."""
    raw = _raw(raw_text)
    if str(action or "").upper() in _VIDEO_ACTIONS or raw.get("videoUrl") or raw.get("videoUrls"):
        return "video"
    if str(raw.get("contentType") or "").lower().startswith("video/"):
        return "video"
    return "image"


def install_functions(db: sqlite3.Connection) -> None:
    """Teach the store's connection ``mjw_version``, ``mjw_aspect`` and ``mjw_kind``."""
    db.create_function("mjw_version", 2, version_of, deterministic=True)
    db.create_function("mjw_aspect", 2, aspect_of, deterministic=True)
    db.create_function("mjw_kind", 2, kind_of, deterministic=True)


def filter_clauses(
    *,
    favourite: bool | None = None,
    min_rating: int | None = None,
    tag: str | Iterable[str] | None = None,
    version: str | None = None,
    aspect: str | None = None,
    kind: str | None = None,
) -> tuple[list[str], list[Any]]:
    """SQL conditions on ``tasks`` (aliased as the table itself) for the library's filters."""
    clauses: list[str] = []
    params: list[Any] = []
    mark = "(SELECT {col} FROM marks m WHERE m.server=tasks.server AND m.task_id=tasks.id)"
    if favourite is not None:
        clauses.append(f"COALESCE({mark.format(col='favourite')}, 0) = ?")
        params.append(1 if favourite else 0)
    if min_rating is not None:
        clauses.append(f"COALESCE({mark.format(col='rating')}, 0) >= ?")
        params.append(_stars(min_rating))
    for wanted in [tag] if isinstance(tag, str) else list(tag or []):
        clauses.append(
            "EXISTS (SELECT 1 FROM tags g WHERE g.server=tasks.server AND g.task_id=tasks.id"
            " AND g.tag=?)"
        )
        params.append(_tag(wanted))
    if version is not None:
        clauses.append("mjw_version(prompt, raw) = ?")
        params.append(normalize_version(version))
    if aspect is not None:
        clauses.append("mjw_aspect(prompt, raw) = ?")
        params.append(str(aspect).strip())
    if kind is not None:
        if kind not in KINDS:
            raise ValidationError(f"unknown kind {kind!r}", advice=f"use one of {KINDS}")
        clauses.append("mjw_kind(action, raw) = ?")
        params.append(kind)
    return clauses, params


def _stars(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise ValidationError(f"a rating is 1 to 5 stars, not {value!r}", advice="pass 1…5")
    return value


def _tag(value: Any) -> str:
    text = " ".join(str(value or "").split()).lower()
    if not text or len(text) > 60:
        raise ValidationError(
            f"a tag is 1 to 60 characters, not {str(value)[:70]!r}", advice="use a short word"
        )
    return text


class Library:
    """Marks, tags and choices on the tasks of one history store (``store.library``)."""

    def __init__(self, store: HistoryStore) -> None:
        self.store = store

    def __repr__(self) -> str:
        return f"<Library of {self.store.path}>"

    # -- whose task ------------------------------------------------------------------------------

    def _key(self, task: Task | str) -> tuple[str, str]:
        task_id = task.id if isinstance(task, Task) else str(task)
        server = task.server if isinstance(task, Task) and task.server else None
        server = server or self.store.server_of(task_id)
        if server is None:
            raise NotFoundError(
                f"task {task_id} is not in the history {self.store.path}", task_id=task_id
            )
        return server, task_id

    def _mark(self, task: Task | str, column: str, value: Any) -> None:
        server, task_id = self._key(task)
        self.store.write(
            f"INSERT INTO marks (server, task_id, {column}, updated_at) VALUES (?, ?, ?, ?)"
            f" ON CONFLICT (server, task_id) DO UPDATE SET {column}=excluded.{column},"
            " updated_at=excluded.updated_at",
            (server, task_id, value, time.time()),
        )

    # -- marks -----------------------------------------------------------------------------------

    def favourite(self, task: Task | str, on: bool = True) -> None:
        """Mark a task as a favourite (``on=False`` unmarks it)."""
        self._mark(task, "favourite", 1 if on else 0)

    def rate(self, task: Task | str, stars: int | None) -> None:
        """Give a task 1–5 stars (None clears the rating)."""
        self._mark(task, "rating", None if stars is None else _stars(stars))

    def note(self, task: Task | str, text: str) -> None:
        """A free-text note on a task."""
        self._mark(task, "note", str(text or "")[:2000])

    def tag(self, task: Task | str, *tags: str) -> None:
        """Add tags (lower-cased, whitespace collapsed) to a task."""
        server, task_id = self._key(task)
        now = time.time()
        for tag in tags:
            self.store.write(
                "INSERT OR IGNORE INTO tags (server, task_id, tag, added_at) VALUES (?, ?, ?, ?)",
                (server, task_id, _tag(tag), now),
            )

    def untag(self, task: Task | str, *tags: str) -> None:
        """Remove tags from a task (all of them when none are named)."""
        server, task_id = self._key(task)
        if not tags:
            self.store.write("DELETE FROM tags WHERE server=? AND task_id=?", (server, task_id))
        for tag in tags:
            self.store.write(
                "DELETE FROM tags WHERE server=? AND task_id=? AND tag=?",
                (server, task_id, _tag(tag)),
            )

    def marks(self, task: Task | str) -> Marks:
        """The task's favourite flag, rating, tags and note."""
        return self.marks_of([task]).get(self._key(task)[1], Marks())

    def marks_of(self, tasks: Iterable[Task | str]) -> dict[str, Marks]:
        """Marks of many tasks at once (task id → Marks; unmarked tasks are left out)."""
        keys = [self._key(task) for task in tasks]
        found: dict[str, Marks] = {}
        for server, task_id in keys:
            rows = self.store.read(
                "SELECT favourite, rating, note FROM marks WHERE server=? AND task_id=?",
                (server, task_id),
            )
            tags = tuple(
                row["tag"]
                for row in self.store.read(
                    "SELECT tag FROM tags WHERE server=? AND task_id=? ORDER BY tag",
                    (server, task_id),
                )
            )
            if rows or tags:
                row = rows[0] if rows else None
                found[task_id] = Marks(
                    favourite=bool(row and row["favourite"]),
                    rating=row["rating"] if row else None,
                    tags=tags,
                    note=row["note"] if row else "",
                )
        return found

    def tags(self, server: str | None = None) -> list[tuple[str, int]]:
        """Every tag in use with how many tasks carry it, most used first."""
        where, params = ("WHERE server=?", [server]) if server is not None else ("", [])
        rows = self.store.read(
            f"SELECT tag, COUNT(*) AS n FROM tags {where} GROUP BY tag ORDER BY n DESC, tag",
            params,
        )
        return [(row["tag"], int(row["n"])) for row in rows]

    def facets(self, server: str | None = None) -> dict[str, list[str]]:
        """The values the gallery's filters can offer: versions, aspect ratios, kinds, tags."""
        where, params = ("WHERE server=?", [server]) if server is not None else ("", [])
        rows = self.store.read(
            "SELECT DISTINCT mjw_version(prompt, raw) AS v, mjw_aspect(prompt, raw) AS a,"
            f" mjw_kind(action, raw) AS k FROM tasks {where}",
            params,
        )
        return {
            "versions": sorted({row["v"] for row in rows if row["v"]}),
            "aspects": sorted({row["a"] for row in rows}),
            "kinds": [kind for kind in KINDS if any(row["k"] == kind for row in rows)],
            "tags": [tag for tag, _ in self.tags(server)],
        }

    # -- Compare choices -------------------------------------------------------------------------

    def record_choice(
        self, chosen: Task | str, rejected: Iterable[Task | str], context: str = ""
    ) -> None:
        """Remember that a person preferred ``chosen`` over ``rejected`` (a Compare pick)."""
        server, chosen_id = self._key(chosen)
        others = [self._key(task)[1] for task in rejected]
        others = [task_id for task_id in others if task_id != chosen_id]
        if not others:
            raise ValidationError(
                "a choice needs at least one task that was not chosen",
                advice="pass the other tasks shown beside the chosen one",
            )
        self.store.write(
            "INSERT INTO choices (server, chosen, rejected, context, at) VALUES (?, ?, ?, ?, ?)",
            (server, chosen_id, json.dumps(others), str(context)[:200], time.time()),
        )

    def choices(self, server: str | None = None) -> list[Choice]:
        """Every recorded Compare choice, oldest first."""
        where, params = ("WHERE server=?", [server]) if server is not None else ("", [])
        rows = self.store.read(f"SELECT * FROM choices {where} ORDER BY at, id", params)
        return [
            Choice(
                server=row["server"],
                chosen=row["chosen"],
                rejected=tuple(json.loads(row["rejected"] or "[]")),
                context=row["context"],
                at=datetime.fromtimestamp(row["at"], tz=timezone.utc),
            )
            for row in rows
        ]
