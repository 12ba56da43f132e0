"""Suite-wide setup: the tests never read or write the user's own history.

Code that opens the default history store (``HistoryStore()``, an ``ImageCache`` without a store,
``Tracker.for_client``) uses ``$MJ_HOME`` (default ``~/.local/share/mjwidgets``). A history left
there by another mjwidgets (a newer schema, someone else's tasks) made a test fail on a shared
machine, so the whole session, and every process it starts, gets an empty one of its own.
Tests that need another location still set ``MJ_HOME`` themselves (monkeypatch).
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_HOME_KEY = pytest.StashKey[tuple[str, str | None]]()


def pytest_configure(config: pytest.Config) -> None:
    home = tempfile.mkdtemp(prefix="mjw-test-home-")
    config.stash[_HOME_KEY] = (home, os.environ.get("MJ_HOME"))
    os.environ["MJ_HOME"] = home


def pytest_unconfigure(config: pytest.Config) -> None:
    home, before = config.stash.get(_HOME_KEY, (None, None))
    if home is None:
        return
    if before is None:
        os.environ.pop("MJ_HOME", None)
    else:
        os.environ["MJ_HOME"] = before
    shutil.rmtree(home, ignore_errors=True)
