"""What each server could do, remembered in the history file across kernels.

``client.capabilities`` learns a server's family, its missing routes and the buttons it refuses
from its answers; a new kernel would otherwise pay a refusal (or show a button that cannot work)
to learn them again. The Tracker saves what was learnt here and restores it on start. Facts older
than ``FORGET_AFTER_S`` are not restored: servers get upgraded.

Its own connection to the history file (WAL lets several share it); the table is created by the
history file's migrations (``schema``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from .keys import redacting_logger

__all__ = ["ServerFacts", "FORGET_AFTER_S"]

log = redacting_logger("mjwidgets.serverfacts")

FORGET_AFTER_S = 30 * 24 * 3600.0


class ServerFacts:
    """The ``server_facts`` table of a history file: one JSON object per server."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = sqlite3.connect(
                self.path, timeout=10.0, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA busy_timeout=10000")
        return self._db

    def get(self, server: str) -> dict[str, Any] | None:
        """What was learnt about ``server`` (None when nothing, or only stale facts, are known)."""
        try:
            with self._lock:
                row = (
                    self._connection()
                    .execute("SELECT facts, updated_at FROM server_facts WHERE server=?", (server,))
                    .fetchone()
                )
        except sqlite3.Error as exc:  # an older file without the table: nothing remembered
            log.warning("could not read what %s can do: %s", server, exc)
            return None
        if row is None or time.time() - float(row[1]) > FORGET_AFTER_S:
            return None
        try:
            facts = json.loads(row[0])
        except ValueError:
            return None
        return facts if isinstance(facts, dict) else None

    def put(self, server: str, facts: dict[str, Any]) -> None:
        """Remember ``facts`` for ``server`` (replacing what was there)."""
        try:
            with self._lock:
                self._connection().execute(
                    "INSERT OR REPLACE INTO server_facts (server, facts, updated_at)"
                    " VALUES (?, ?, ?)",
                    (server, json.dumps(facts, ensure_ascii=False), time.time()),
                )
        except sqlite3.Error as exc:  # remembering is a convenience; never fail a request
            log.warning("could not remember what %s can do: %s", server, exc)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
