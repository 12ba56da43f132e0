"""Measure the tracker's CPU use with 100 tasks that sit in the queue (not a test: run it).

    python benchmarks/poller_cpu.py [seconds]

A simulator with one slot at real-time speed keeps 99 tasks queued and one running; the poller
thread's CPU time (from /proc, so only that thread) is read over the window.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from mjwidgets import sim
from mjwidgets.client import Client
from mjwidgets.store import HistoryStore
from mjwidgets.tracking import Tracker


def thread_cpu_seconds(native_id: int) -> float:
    with open(f"/proc/self/task/{native_id}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def main(window: float = 10.0) -> None:
    with (
        sim.start(speed=1.0, concurrency=1, queue_size=1000) as server,
        tempfile.TemporaryDirectory() as home,
    ):
        tracker = Tracker(Client(server.url), HistoryStore(f"{home}/history.sqlite3"))
        for i in range(100):
            tracker.imagine(f"a queued fox {i}")
        time.sleep(2.0)  # let the first looks settle
        thread = tracker._thread
        ticks_before = tracker.stats()["ticks"]
        cpu_before, wall_before = thread_cpu_seconds(thread.native_id), time.monotonic()
        time.sleep(window)
        cpu = thread_cpu_seconds(thread.native_id) - cpu_before
        wall = time.monotonic() - wall_before
        ticks = tracker.stats()["ticks"] - ticks_before
        waiting = server.stats()["waiting"]
        tracker.close()
    print(
        f"poller thread: {cpu:.3f} s CPU over {wall:.1f} s = {100 * cpu / wall:.2f} % of one core;"
        f" {ticks} batched polls of 100 tasks ({ticks / wall:.2f}/s); {waiting} tasks queued"
    )


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 10.0)
