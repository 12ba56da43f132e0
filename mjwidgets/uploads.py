"""The images each server already has: content hash → uploaded URL, in the history file.

``references`` uploads a file once per server and reuses its URL while the link lasts; this
keeps those URLs in the history file, so a new kernel (or the next day's notebook) does not
upload the same reference again, and renews a link that has expired. Its own connection to the
history file (WAL lets several share it); the table is created by the migrations (``schema``).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from .keys import redacting_logger
from .references import Upload

__all__ = ["StoredUploads"]

log = redacting_logger("mjwidgets.uploads")


class StoredUploads:
    """The ``uploads`` table of a history file (``references.UploadMemory``)."""

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

    def get_upload(self, server: str, digest: str) -> Upload | None:
        try:
            with self._lock:
                row = (
                    self._connection()
                    .execute(
                        "SELECT url, expires_at FROM uploads WHERE server=? AND sha256=?",
                        (server, digest),
                    )
                    .fetchone()
                )
        except sqlite3.Error as exc:  # an older file without the table: upload again
            log.warning("could not read the uploads of %s: %s", server, exc)
            return None
        return Upload(str(row[0]), float(row[1])) if row else None

    def put_upload(self, server: str, digest: str, upload: Upload) -> None:
        try:
            with self._lock:
                self._connection().execute(
                    "INSERT OR REPLACE INTO uploads (server, sha256, url, expires_at, uploaded_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (server, digest, upload.url, upload.expires_at, time.time()),
                )
        except sqlite3.Error as exc:  # remembering is a convenience; the upload happened
            log.warning("could not remember an upload to %s: %s", server, exc)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
