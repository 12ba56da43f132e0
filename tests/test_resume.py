"""A kernel SIGKILLed mid-tracking loses nothing: a new one resumes every task from the store."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from mjwidgets import sim
from mjwidgets.client import Client
from mjwidgets.models import Status
from mjwidgets.store import HistoryStore
from mjwidgets.tracking import Tracker

pytestmark = pytest.mark.timeout(240)

KERNEL = """
import sys, time
from mjwidgets.client import Client
from mjwidgets.tracking import Tracker
tracker = Tracker.for_client(Client(sys.argv[1]))
for i in range(20):
    tracker.imagine(f"resume fox {i}")
print("submitted", flush=True)
time.sleep(120)
"""


def _running_events(db_path) -> int:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as db:
        return db.execute("SELECT COUNT(*) FROM events WHERE status='IN_PROGRESS'").fetchone()[0]


@pytest.fixture
def sim_process():
    """A simulator in another process, as a real server would be."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mjwidgets",
            "sim",
            "--port",
            "0",
            "--speed",
            "10",
            "--concurrency",
            "20",
            "--queue-size",
            "100",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        match = re.search(r"at (http://\S+)", process.stdout.readline())
        assert match, "the simulator did not print its URL"
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_sigkilled_kernel_resumes_all_tasks_with_nothing_lost(sim_process, tmp_path):
    env = {**os.environ, "MJ_HOME": str(tmp_path)}
    kernel = subprocess.Popen(
        [sys.executable, "-c", KERNEL, sim_process], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert kernel.stdout.readline().strip() == "submitted"
        db_path = tmp_path / "history.sqlite3"
        deadline = time.monotonic() + 60  # bounds a hang; ends once 5 jobs are seen running
        while _running_events(db_path) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)  # until the kernel has seen the jobs move
        assert _running_events(db_path) >= 5
    finally:
        os.kill(kernel.pid, signal.SIGKILL)
        kernel.wait(timeout=10)

    store = HistoryStore(db_path)
    client = Client(sim_process)
    with Tracker(client, store) as tracker:
        resumed = tracker.pending
        assert len(resumed) == 20  # every task was in flight when the kernel died
        finished = [tracker.wait(task, timeout=60) for task in resumed]
        assert tracker.cache.drain(timeout=60)
        assert {task.status for task in finished} == {Status.SUCCESS}
        assert all(tracker.cache.path(task) for task in finished)
    assert store.unfinished(client.base_url) == [] and store.intents("unknown") == []
    assert store.missing_images(client.base_url) == []  # every result's image is on disk
    assert sorted(t.prompt for t in store.history("resume fox")) == sorted(
        f"resume fox {i}" for i in range(20)
    )
    submits = sim.fetch_stats(sim_process)["submits_by_state"]
    assert len(submits) == 20 and set(submits.values()) == {1}  # nothing was sent twice
