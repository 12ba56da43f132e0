"""The history file's tables, and the migrations that bring an older file up to date.

``PRAGMA user_version`` holds the schema version; migration *i* upgrades version *i* to *i + 1*
in one transaction, so a file is never left half-upgraded. Version 0 is an empty file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .errors import StoreError

__all__ = ["SCHEMA_VERSION", "migrate"]

_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS intents (
    state       TEXT PRIMARY KEY,
    server      TEXT NOT NULL DEFAULT '',
    endpoint    TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  REAL NOT NULL,
    outcome     TEXT NOT NULL DEFAULT 'in_flight',
    task_id     TEXT,
    error       TEXT,
    answered_at REAL
);
CREATE TABLE IF NOT EXISTS tasks (
    server            TEXT NOT NULL,
    id                TEXT NOT NULL,
    action            TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL DEFAULT '',
    progress          INTEGER NOT NULL DEFAULT 0,
    prompt            TEXT NOT NULL DEFAULT '',
    state             TEXT NOT NULL DEFAULT '',
    parent_id         TEXT,
    button_label      TEXT,
    button_custom_id  TEXT,
    parent_image_size TEXT,
    image_url         TEXT,
    fail_reason       TEXT NOT NULL DEFAULT '',
    submit_time       REAL,
    start_time        REAL,
    finish_time       REAL,
    first_seen        REAL NOT NULL,
    updated_at        REAL NOT NULL,
    timed_out_at      REAL,
    raw               TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (server, id)
);
CREATE INDEX IF NOT EXISTS tasks_parent ON tasks (server, parent_id);
CREATE INDEX IF NOT EXISTS tasks_when ON tasks (first_seen);
CREATE TABLE IF NOT EXISTS events (
    server    TEXT NOT NULL,
    task_id   TEXT NOT NULL,
    at        REAL NOT NULL,
    status    TEXT NOT NULL,
    progress  INTEGER NOT NULL,
    image_url TEXT,
    note      TEXT
);
CREATE INDEX IF NOT EXISTS events_task ON events (server, task_id, at);
CREATE TABLE IF NOT EXISTS images (
    server     TEXT NOT NULL,
    task_id    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    format     TEXT NOT NULL,
    width      INTEGER NOT NULL,
    height     INTEGER NOT NULL,
    nbytes     INTEGER NOT NULL,
    source     TEXT NOT NULL DEFAULT '',
    fetched_at REAL NOT NULL,
    PRIMARY KEY (server, task_id, kind)
);
"""
# The library: what a person thinks of their results. Marks (favourite, 1–5 stars, a note) and
# tags per task; Compare choices (which of several tasks a person picked) for learning from picks.
_LIBRARY = """
CREATE TABLE IF NOT EXISTS marks (
    server     TEXT NOT NULL,
    task_id    TEXT NOT NULL,
    favourite  INTEGER NOT NULL DEFAULT 0,
    rating     INTEGER CHECK (rating IS NULL OR rating BETWEEN 1 AND 5),
    note       TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL,
    PRIMARY KEY (server, task_id)
);
CREATE TABLE IF NOT EXISTS tags (
    server   TEXT NOT NULL,
    task_id  TEXT NOT NULL,
    tag      TEXT NOT NULL,
    added_at REAL NOT NULL,
    PRIMARY KEY (server, task_id, tag)
);
CREATE INDEX IF NOT EXISTS tags_by_tag ON tags (tag);
CREATE TABLE IF NOT EXISTS choices (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    server   TEXT NOT NULL,
    chosen   TEXT NOT NULL,
    rejected TEXT NOT NULL,
    context  TEXT NOT NULL DEFAULT '',
    at       REAL NOT NULL
);
"""
# What each server can do (``capabilities.Capabilities.export()``), so a new kernel knows which
# buttons its server refuses without a refusal of its own (``serverfacts``).
_SERVER_FACTS = """
CREATE TABLE IF NOT EXISTS server_facts (
    server     TEXT PRIMARY KEY,
    facts      TEXT NOT NULL,
    updated_at REAL NOT NULL
);
"""
# The reference images each server already has (``uploads``): an image is uploaded once per
# server, and again only when its link has expired.
_UPLOADS = """
CREATE TABLE IF NOT EXISTS uploads (
    server      TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    url         TEXT NOT NULL,
    expires_at  REAL NOT NULL,
    uploaded_at REAL NOT NULL,
    PRIMARY KEY (server, sha256)
);
"""
# The submits whose outcome is unknown, found without reading every submit ever journaled: a
# card asks for its own lost presses as it is made (``lineage.lost_presses``), and a history of
# 2,800 submits was read whole for each (0.27 ms a card; 5 µs with this index).
_INTENT_OUTCOMES = """
CREATE INDEX IF NOT EXISTS intents_outcome ON intents (outcome, created_at);
"""
# Migrations: index i upgrades user_version i → i+1. Version 0 is an empty file.
_MIGRATIONS: list[str] = [_SCHEMA_V1, _LIBRARY, _SERVER_FACTS, _UPLOADS, _INTENT_OUTCOMES]
SCHEMA_VERSION = len(_MIGRATIONS)


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the database to :data:`SCHEMA_VERSION`; refuse a file from a newer mjwidgets."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(_MIGRATIONS):
        raise StoreError(
            f"{path} was written by a newer mjwidgets (schema {version})",
            advice="upgrade mjwidgets to read it",
        )
    for target in range(version, len(_MIGRATIONS)):
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _MIGRATIONS[target].split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version={target + 1}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
