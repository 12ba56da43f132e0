"""A fresh simulator per measurement, in a child process (default) or in this process.

Why a child process by default: the simulator then has its own interpreter (and GIL) on the other
core, as a real proxy would, and this process's CPU clock measures the client alone.

Both kinds answer the same questions: ``url``, ``stats()`` (a relay's refresh cycles among them)
and ``tasks()`` (each task's finish and, on a relay, when its row first showed it).

Run as a script, this file is the child: it prints one JSON line (url, refresh period) and serves
until its stdin is closed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any


class SimHandle:
    """The parts of a running simulator a benchmark needs."""

    url: str
    period: float  # seconds a relay sleeps between refresh cycles (0: live)

    def stats(self) -> dict[str, Any]:
        raise NotImplementedError

    def tasks(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

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
        self.period = _period(self._server)

    def stats(self) -> dict[str, Any]:
        return self._server.stats()

    def tasks(self) -> list[dict[str, Any]]:
        return self._server.tasks()

    def close(self) -> None:
        self._server.stop()


def _period(server: Any) -> float:
    engine = server.engine
    return float(engine.flavor.refresh_period / engine.speed)


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
    print(json.dumps({"url": server.url, "period": _period(server)}), flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin (or dies)
    finally:
        server.stop()


if __name__ == "__main__":
    _child(sys.argv)
