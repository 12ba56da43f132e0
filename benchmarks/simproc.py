"""A fresh simulator per measurement, in a child process (default) or in this process.

Why a child process by default: the simulator then has its own interpreter (and GIL) on the other
core, as a real proxy would, and this process's CPU clock measures the client alone.

Both kinds answer the same questions: ``url``, ``stats()``, ``tasks()`` and ``visible_at(t)`` —
when a change made at wall time ``t`` becomes visible to clients (new-api flavour: only at the
next refresh tick; live flavours: at once).

Run as a script, this file is the child: it prints one JSON line (url, tick epoch, refresh period)
and serves until its stdin is closed.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any


class SimHandle:
    """The parts of a running simulator a benchmark needs."""

    url: str
    period: float  # seconds between refresh ticks (0: live)
    tick_epoch: float  # wall time of tick 0

    def stats(self) -> dict[str, Any]:
        raise NotImplementedError

    def tasks(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def visible_at(self, wall: float) -> float:
        """When clients can first see a change the server made at wall time ``wall``."""
        if not self.period:
            return wall
        ticks = math.ceil((wall - self.tick_epoch) / self.period)
        return self.tick_epoch + ticks * self.period

    def __enter__(self) -> SimHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


class ChildSim(SimHandle):
    """A simulator in a child Python process, driven over its /sim/... endpoints."""

    def __init__(self, **options: Any) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), json.dumps(options)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait(timeout=5)
            raise RuntimeError(f"the simulator process exited ({self._proc.returncode})")
        info = json.loads(line)
        self.url = info["url"]
        self.period = info["period"]
        self.tick_epoch = info["tick_epoch"]

    def stats(self) -> dict[str, Any]:
        return _get_json(f"{self.url}/sim/stats")

    def tasks(self) -> list[dict[str, Any]]:
        return _get_json(f"{self.url}/sim/tasks")

    def close(self) -> None:
        if self._proc.poll() is not None:
            return
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)


class LocalSim(SimHandle):
    """A simulator in this process (``mjwidgets.sim.start``): what a notebook's kernel runs."""

    def __init__(self, **options: Any) -> None:
        from mjwidgets import sim

        self._server = sim.start(**options)
        self.url = self._server.url
        self.period, self.tick_epoch = _ticks(self._server)

    def stats(self) -> dict[str, Any]:
        return self._server.stats()

    def tasks(self) -> list[dict[str, Any]]:
        return self._server.tasks()

    def close(self) -> None:
        self._server.stop()


def _ticks(server: Any) -> tuple[float, float]:
    engine = server.engine
    period = engine.flavor.refresh_period / engine.speed
    tick_epoch = time.time() - (time.monotonic() - engine.started_monotonic)
    return period, tick_epoch


def start(mode: str = "subprocess", **options: Any) -> SimHandle:
    """A fresh simulator: ``mode`` "subprocess" (default) or "inprocess"."""
    if mode == "inprocess":
        return LocalSim(**options)
    if mode == "subprocess":
        return ChildSim(**options)
    raise ValueError(f"unknown simulator mode {mode!r}")


def _child(argv: list[str]) -> None:
    from mjwidgets import sim

    server = sim.start(**json.loads(argv[1]))
    period, tick_epoch = _ticks(server)
    print(json.dumps({"url": server.url, "period": period, "tick_epoch": tick_epoch}), flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin (or dies)
    finally:
        server.stop()


if __name__ == "__main__":
    _child(sys.argv)
