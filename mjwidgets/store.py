"""The history store: every submit, status change and lineage link, in one SQLite file.

Every task is paid for, so the store is written *before* money can be spent: the submit journal
commits the intent (a client-made ``state`` token and the request body, images reduced to digests)
before the POST goes out, then the task id or the outcome "unknown" right after. A kernel killed
with SIGKILL therefore loses nothing: a new kernel finds the unfinished tasks here and tracks them
again, and a submit whose reply was lost stays visible as "outcome unknown" instead of being resent.

The file lives in ``$MJ_HOME`` if set, else ``$XDG_DATA_HOME/mjwidgets`` or
``~/.local/share/mjwidgets``. WAL mode lets several kernels share it. The API key is never written:
the client never hands it over, and notify-hook URLs (a capability of this kernel) are dropped.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import library as library_of
from . import lineage as lineage_of
from . import schema
from .journal import SubmitRecorder
from .library import Library
from .lineage import LineageNode
from .models import Button, Status, Task, TaskBackend

__all__ = [
    "HistoryStore",
    "Intent",
    "LineageNode",
    "default_home",
    "history",
    "library",
    "lineage",
]

log = logging.getLogger("mjwidgets.store")

_FILE_NAME = "history.sqlite3"
_TERMINAL = ("SUCCESS", "FAILURE", "CANCEL")
# A submit with no recorded answer after this long belongs to a process that died mid-request.
_IN_FLIGHT_LIMIT_S = 120.0


def default_home() -> Path:
    """Where mjwidgets keeps its data: $MJ_HOME, else the XDG data folder."""
    if os.environ.get("MJ_HOME"):
        return Path(os.environ["MJ_HOME"]).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "mjwidgets"


@dataclass(frozen=True)
class Intent:
    """One submit as journaled: what was sent, and what became of it.

    ``outcome`` is "ok" (task ``task_id`` exists), "error" (the server refused: nothing was
    created), "unknown" (the reply was lost: a task may exist, look it up by ``state`` before
    submitting again) or "in_flight" (the request is still out).
    """

    state: str
    server: str
    endpoint: str
    body: dict[str, Any]
    created_at: datetime
    outcome: str
    task_id: str | None
    error: str | None


def _epoch(value: datetime | float | int | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    return float(value)


def _safe_body(body: dict[str, Any]) -> dict[str, Any]:
    """The submit body as journaled: the client already replaced images by digests; the notify
    hook is this kernel's private receiver URL and is useless (and revealing) later."""
    cleaned = dict(body)
    if cleaned.get("notifyHook"):
        cleaned["notifyHook"] = "<local receiver>"
    return cleaned


class HistoryStore:
    """SQLite history of submits, tasks, status changes, lineage and cached images.

    Thread-safe (one connection behind a lock; WAL lets other kernels read and write the same
    file). Implements the client's submit-journal protocol directly (server unknown) and, bound
    to a server, through :meth:`journal_for`.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path).expanduser() if path else default_home() / _FILE_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.folder = self.path.parent
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            self.path, timeout=10.0, isolation_level=None, check_same_thread=False
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before the submit leaves, even if the machine dies, not only
        # the kernel. Status changes are batched per poll, so this costs a few fsyncs a second.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute("PRAGMA foreign_keys=ON")
        library_of.install_functions(self._db)
        self._migrate()
        self.library = Library(self)
        """Favourites, ratings, tags and Compare choices on this history's tasks."""

    # -- plumbing ------------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self._lock:
            schema.migrate(self._db, self.path)

    def _write(self, sql: str, params: Iterable[Any] = ()) -> None:
        with self._lock:
            self._db.execute(sql, tuple(params))

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, tuple(params)).fetchall()

    # for the store's companions (library, ledger, steps): same connection, same lock
    write = _write
    read = _rows

    @property
    def schema_version(self) -> int:
        return int(self._rows("PRAGMA user_version")[0][0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<HistoryStore {self.path}>"

    # -- the submit journal (client protocol) --------------------------------------------------

    def journal_for(self, base_url: str) -> SubmitRecorder:
        """The journal to install as ``client.journal`` for a client of ``base_url``."""
        return SubmitRecorder(self, base_url)

    def before_submit(self, endpoint: str, body: dict, state: str, server: str = "") -> None:
        """Commit the intent before the request leaves (autocommit: the INSERT is durable)."""
        self._write(
            "INSERT OR REPLACE INTO intents (state, server, endpoint, body, created_at, outcome)"
            " VALUES (?, ?, ?, ?, ?, 'in_flight')",
            (state, server, endpoint, json.dumps(_safe_body(body)), time.time()),
        )

    def after_submit(
        self,
        state: str,
        task_id: str | None,
        outcome: str,
        error: BaseException | None,
        server: str = "",
    ) -> None:
        """Record the outcome; an accepted submit also creates the task row, so a crash right
        after the reply still leaves the task to resume."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "UPDATE intents SET outcome=?, task_id=?, error=?, answered_at=? WHERE state=?",
                    (outcome, task_id, None if error is None else str(error)[:500], now, state),
                )
                if outcome == "ok" and task_id:
                    self._task_from_intent(state, task_id, server, now)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def submitted(self, state: str, task: Task, server: str = "") -> None:
        """An accepted submit, in one transaction: the intent's outcome and the task's row (with
        its lineage and the status the answer implied)."""
        now = time.time()
        server = server or task.server
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "UPDATE intents SET outcome='ok', task_id=?, error=NULL, answered_at=?"
                    " WHERE state=?",
                    (task.id, now, state),
                )
                self._upsert(task, server, now)
                self._db.execute(
                    "UPDATE tasks SET timed_out_at=NULL WHERE server=? AND id=?", (server, task.id)
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _task_from_intent(self, state: str, task_id: str, server: str, now: float) -> None:
        row = self._db.execute(
            "SELECT endpoint, body FROM intents WHERE state=?", (state,)
        ).fetchone()
        body = json.loads(row["body"]) if row else {}
        endpoint = row["endpoint"] if row else ""
        action = endpoint.rsplit("/", 1)[-1].upper()
        parent = body.get("taskId") if action == "ACTION" else None
        self._db.execute(
            "INSERT INTO tasks (server, id, action, prompt, state, parent_id, button_custom_id,"
            " first_seen, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (server, id) DO UPDATE SET timed_out_at=NULL,"
            " updated_at=excluded.updated_at",
            (
                server,
                task_id,
                action,
                str(body.get("prompt") or ""),
                state,
                parent,
                body.get("customId") if parent else None,
                now,
                now,
            ),
        )

    def intents(
        self, outcome: str | None = "unknown", *, server: str | None = None
    ) -> list[Intent]:
        """Journaled submits, newest first. ``outcome="unknown"`` also lists submits that never got
        an answer because their process died mid-request; ``None`` lists all."""
        clauses: list[str] = []
        params: list[Any] = []
        if outcome == "unknown":
            clauses.append("(outcome='unknown' OR (outcome='in_flight' AND created_at < ?))")
            params.append(time.time() - _IN_FLIGHT_LIMIT_S)
        elif outcome is not None:
            clauses.append("outcome=?")
            params.append(outcome)
        if server is not None:
            clauses.append("server=?")
            params.append(server)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._rows(f"SELECT * FROM intents {where} ORDER BY created_at DESC", params)
        stale = time.time() - _IN_FLIGHT_LIMIT_S
        return [
            Intent(
                state=row["state"],
                server=row["server"],
                endpoint=row["endpoint"],
                body=json.loads(row["body"]),
                created_at=datetime.fromtimestamp(row["created_at"], tz=timezone.utc),
                outcome="unknown"
                if row["outcome"] == "in_flight" and row["created_at"] < stale
                else row["outcome"],
                task_id=row["task_id"],
                error=row["error"],
            )
            for row in rows
        ]

    # -- tasks ---------------------------------------------------------------------------------

    def record(self, task: Task, server: str | None = None) -> None:
        """Record the task's current state (one event per status/progress/image change)."""
        self.record_many([task], server)

    def record_many(self, tasks: Iterable[Task], server: str | None = None) -> None:
        """Record several tasks in one transaction, without waiting for the disk: a status is
        the server's to tell again, so losing the last ones to a power cut (not to a crash of
        the kernel: WAL keeps them) costs nothing, while an fsync per poll sits between a look's
        answer and the cards it updates (~0.1 ms on this project's CI disk; far more on a slow or
        network disk). The submit journal's writes keep theirs."""
        now = time.time()
        with self._lock:
            self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    for task in tasks:
                        self._upsert(task, server if server is not None else task.server, now)
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            finally:
                self._db.execute("PRAGMA synchronous=FULL")

    def _upsert(self, task: Task, server: str, now: float) -> None:
        previous = self._db.execute(
            "SELECT status, progress, image_url, raw FROM tasks WHERE server=? AND id=?",
            (server, task.id),
        ).fetchone()
        status = task.status_raw or task.status.value
        button = task.origin_button
        size = json.dumps(list(task.parent_image_size)) if task.parent_image_size else None
        raw = json.dumps(task.raw or {}, ensure_ascii=False)
        self._db.execute(
            "INSERT INTO tasks (server, id, action, status, progress, prompt, state, parent_id,"
            " button_label, button_custom_id, parent_image_size, image_url, fail_reason,"
            " submit_time, start_time, finish_time, first_seen, updated_at, raw)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (server, id) DO UPDATE SET"
            " action=COALESCE(NULLIF(excluded.action, ''), action),"
            " status=excluded.status, progress=excluded.progress,"
            " prompt=COALESCE(NULLIF(excluded.prompt, ''), prompt),"
            " state=COALESCE(NULLIF(excluded.state, ''), state),"
            " parent_id=COALESCE(excluded.parent_id, parent_id),"
            " button_label=COALESCE(excluded.button_label, button_label),"
            " button_custom_id=COALESCE(excluded.button_custom_id, button_custom_id),"
            " parent_image_size=COALESCE(excluded.parent_image_size, parent_image_size),"
            " image_url=excluded.image_url, fail_reason=excluded.fail_reason,"
            " submit_time=COALESCE(excluded.submit_time, submit_time),"
            " start_time=COALESCE(excluded.start_time, start_time),"
            " finish_time=COALESCE(excluded.finish_time, finish_time),"
            " updated_at=excluded.updated_at,"
            " raw=CASE WHEN excluded.raw='{}' THEN raw ELSE excluded.raw END",
            (
                server,
                task.id,
                task.action,
                status,
                task.progress,
                task.prompt or task.prompt_en,
                task.state,
                task.parent_id,
                button.label if button else None,
                button.custom_id if button else None,
                size,
                task.image_url,
                task.fail_reason,
                _epoch(task.submit_time),
                _epoch(task.start_time),
                _epoch(task.finish_time),
                now,
                now,
                raw,
            ),
        )
        changed = previous is None or (
            previous["status"],
            previous["progress"],
            previous["image_url"],
        ) != (status, task.progress, task.image_url)
        if changed:
            self._db.execute(
                "INSERT INTO events (server, task_id, at, status, progress, image_url)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (server, task.id, now, status, task.progress, task.image_url),
            )

    def mark_timed_out(self, task: Task, server: str | None = None, note: str = "") -> None:
        """The client stopped waiting (TaskTimeout): keep the task, note why, stop resuming it."""
        server = server if server is not None else task.server
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._upsert(task, server, now)
                self._db.execute(
                    "UPDATE tasks SET timed_out_at=? WHERE server=? AND id=?",
                    (now, server, task.id),
                )
                self._db.execute(
                    "INSERT INTO events (server, task_id, at, status, progress, image_url, note)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        server,
                        task.id,
                        now,
                        task.status_raw or task.status.value,
                        task.progress,
                        task.image_url,
                        note or "TaskTimeout",
                    ),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _task(self, row: sqlite3.Row, client: TaskBackend | None = None) -> Task:
        raw = json.loads(row["raw"] or "{}")
        if raw:
            task = Task.from_json(raw)
        else:  # journaled but never fetched: what the intent told us
            status = row["status"] or Status.SUBMITTED.value
            task = Task(
                id=row["id"],
                action=row["action"],
                status=Status.parse(status),
                status_raw=status,
                prompt=row["prompt"],
                state=row["state"],
            )
        task.id = task.id or row["id"]
        task.parent_id = row["parent_id"] or task.parent_id
        if row["button_custom_id"] or row["button_label"]:
            task.origin_button = Button(
                custom_id=row["button_custom_id"] or "", label=row["button_label"] or ""
            )
        if row["parent_image_size"]:
            width, height = json.loads(row["parent_image_size"])
            task.parent_image_size = (int(width), int(height))
        task.server = row["server"]
        if client is not None and client.base_url == task.server:
            task.bind(client)
        return task

    def get(self, task_id: str, server: str | None = None, client: TaskBackend | None = None):
        """The stored task (newest if several servers share the id), or None."""
        server = server if server is not None else (client.base_url if client else None)
        if server is None:
            rows = self._rows(
                "SELECT * FROM tasks WHERE id=? ORDER BY updated_at DESC LIMIT 1", (task_id,)
            )
        else:
            rows = self._rows("SELECT * FROM tasks WHERE server=? AND id=?", (server, task_id))
        return self._task(rows[0], client) if rows else None

    def server_of(self, task_id: str) -> str | None:
        rows = self._rows(
            "SELECT server FROM tasks WHERE id=? ORDER BY updated_at DESC LIMIT 1", (task_id,)
        )
        return rows[0]["server"] if rows else None

    def is_timed_out(self, task_id: str, server: str) -> bool:
        rows = self._rows(
            "SELECT timed_out_at FROM tasks WHERE server=? AND id=?", (server, task_id)
        )
        return bool(rows and rows[0]["timed_out_at"])

    def history(
        self,
        text: str | None = None,
        status: str | Status | None = None,
        action: str | None = None,
        since: datetime | float | None = None,
        until: datetime | float | None = None,
        limit: int = 100,
        *,
        server: str | None = None,
        client: TaskBackend | None = None,
        bind: TaskBackend | None = None,
        favourite: bool | None = None,
        min_rating: int | None = None,
        tag: str | Iterable[str] | None = None,
        version: str | None = None,
        aspect: str | None = None,
        kind: str | None = None,
        dialogs: bool = False,
    ) -> list[Task]:
        """Tasks newest first, filtered by prompt text (case-insensitive), status, action and
        submit time (``since``/``until``: datetimes or epoch seconds), and by the library's
        ``favourite``, ``min_rating``, ``tag``, ``version``, ``aspect`` and ``kind`` ("image" or
        "video"). With ``client`` the tasks are bound to it (and filtered to its server), so
        ``task.image()`` and buttons work; ``bind`` binds the tasks of its server without
        filtering the others out. A dialog opened by Vary (Region) or Custom Zoom and never sent
        (status MODAL) is no job: listed only with ``dialogs=True`` or ``status="MODAL"``."""
        clauses, params = library_of.filter_clauses(
            favourite=favourite, min_rating=min_rating, tag=tag, version=version,
            aspect=aspect, kind=kind,
        )  # fmt: skip
        if not dialogs and status is None:
            clauses.append("status != 'MODAL'")
        if text:
            # the prompt's words only (as typed, as the bot echoed it, in English), never the
            # stored JSON: it holds field names, URLs and "MID_JOURNEY" that every task matches
            fields = ("prompt", "json_extract(raw, '$.properties.finalPrompt')",
                      "json_extract(raw, '$.promptEn')")  # fmt: skip
            clauses.append("(" + " OR ".join(f"{f} LIKE ? ESCAPE '\\'" for f in fields) + ")")
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params += [pattern + "%"] * len(fields)
        when = "COALESCE(submit_time, first_seen)"
        for condition, value in (
            ("status=?", (status.value if isinstance(status, Status) else status or "").upper()),
            ("action=?", str(action or "").upper()),
            (f"{when} >= ?", _epoch(since)),
            (f"{when} <= ?", _epoch(until)),
            ("server=?", server if server is not None or client is None else client.base_url),
        ):
            if value is not None and value != "":
                clauses.append(condition)
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._rows(
            f"SELECT * FROM tasks {where} ORDER BY {when} DESC, id DESC LIMIT ?",
            params + [int(limit)],
        )
        return [self._task(row, client or bind) for row in rows]

    def unfinished(self, base_url: str, client: TaskBackend | None = None) -> list[Task]:
        """Tasks of ``base_url`` still queued or running as last seen (not timed out, not
        waiting for a modal): what a new kernel should track again."""
        placeholders = ", ".join("?" for _ in _TERMINAL)
        rows = self._rows(
            f"SELECT * FROM tasks WHERE server=? AND timed_out_at IS NULL"
            f" AND status NOT IN ({placeholders}, 'MODAL') ORDER BY first_seen",
            (base_url, *_TERMINAL),
        )
        tasks = [self._task(row, client) for row in rows]
        return [task for task in tasks if not task.is_done and not task.needs_modal]

    def events(self, task_id: str, server: str | None = None) -> list[dict[str, Any]]:
        """Every recorded change of a task, oldest first (status, progress, image_url, at)."""
        server = server if server is not None else self.server_of(task_id) or ""
        rows = self._rows(
            "SELECT at, status, progress, image_url, note FROM events"
            " WHERE server=? AND task_id=? ORDER BY at, rowid",
            (server, task_id),
        )
        return [dict(row) for row in rows]

    # -- lineage (the tree itself is built in lineage.py) --------------------------------------

    def children(self, task: Task, server: str) -> list[Task]:
        """The tasks made by pressing a button of ``task``, oldest first."""
        rows = self._rows(
            "SELECT * FROM tasks WHERE server=? AND parent_id=? ORDER BY first_seen",
            (server, task.id),
        )
        return [self._task(row) for row in rows]

    def ancestors(self, task_id: str, server: str | None = None) -> list[Task]:
        """The chain of parents, the oldest first (the task itself excluded)."""
        return lineage_of.ancestors(self, task_id, server)

    def lineage(self, task_id: str, server: str | None = None) -> LineageNode | None:
        """A tree rooted at the oldest ancestor: the path down to ``task_id``, then every task
        made from it (buttons pressed on it, on their results, …)."""
        return lineage_of.tree(self, task_id, server)

    # -- cached images (the ImageCache's index) ------------------------------------------------

    def image_record(self, server: str, task_id: str, kind: str) -> dict[str, Any] | None:
        rows = self._rows(
            "SELECT * FROM images WHERE server=? AND task_id=? AND kind=?", (server, task_id, kind)
        )
        return dict(rows[0]) if rows else None

    def put_image_record(
        self,
        server: str,
        task_id: str,
        kind: str,
        *,
        sha256: str,
        fmt: str,
        size: tuple[int, int],
        nbytes: int,
        source: str,
    ) -> None:
        self._write(
            "INSERT OR REPLACE INTO images (server, task_id, kind, sha256, format, width, height,"
            " nbytes, source, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (server, task_id, kind, sha256, fmt, size[0], size[1], nbytes, source, time.time()),
        )

    def missing_images(self, base_url: str, limit: int = 500) -> list[Task]:
        """Finished tasks whose final image was never cached (e.g. the kernel died first)."""
        rows = self._rows(
            "SELECT t.* FROM tasks t LEFT JOIN images i ON i.server=t.server AND i.task_id=t.id"
            " AND i.kind='final' WHERE t.server=? AND t.status='SUCCESS' AND i.sha256 IS NULL"
            " AND t.image_url IS NOT NULL ORDER BY t.updated_at DESC LIMIT ?",
            (base_url, limit),
        )
        return [self._task(row) for row in rows]


_default_store: HistoryStore | None = None
_default_lock = threading.Lock()


def _default() -> HistoryStore:
    global _default_store
    with _default_lock:
        wanted = default_home() / _FILE_NAME
        if _default_store is None or _default_store.path != wanted:
            _default_store = HistoryStore(wanted)
        return _default_store


def history(*args: Any, client: TaskBackend | None = None, **filters: Any) -> list[Task]:
    """Search the default history (``$MJ_HOME/history.sqlite3``): the arguments of
    HistoryStore.history (text, status, action, since, until, limit and the library's filters)."""
    return _default().history(*args, client=client, **filters)


def library() -> Library:
    """The default history's library (favourites, ratings, tags, Compare choices)."""
    return _default().library


def lineage(task_id: str) -> LineageNode | None:
    """The lineage tree of a task in the default history: see HistoryStore.lineage."""
    return _default().lineage(task_id)
