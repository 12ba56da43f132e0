"""Shared pieces: result rows and goals, percentiles, CPU clocks and the machine."""

from __future__ import annotations

import hashlib
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

Value = float | int | str | bool | None

_COMPARE = {
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
}


@dataclass
class Goal:
    """One goal judged on one figure: ``value <op> target`` (``op``: "<=", "<", ">=", ">")."""

    label: str
    value: float | None
    target: float
    op: str = "<="
    unit: str = ""
    why: str = ""  # the figures that explain the verdict (what it was measured against)

    @property
    def met(self) -> bool | None:
        if self.value is None or (isinstance(self.value, float) and math.isnan(self.value)):
            return None
        return _COMPARE[self.op](self.value, self.target)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met}


@dataclass
class Row:
    """One measured case of one benchmark: what was run (``case``) and what came out."""

    bench: str
    case: dict[str, Value]
    metrics: dict[str, Value]
    goals: list[Goal] = field(default_factory=list)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "bench": self.bench,
            "case": self.case,
            "metrics": self.metrics,
            "goals": [goal.to_dict() for goal in self.goals],
            "note": self.note,
        }


@dataclass
class Options:
    """What ``benchmarks.run`` passes to every benchmark."""

    speed: float = 7.0
    ns: tuple[int, ...] = (1, 10, 100)
    flavors: tuple[str, ...] = ("plus", "newapi")
    strategies: tuple[str, ...] | None = None  # None: all of them
    sim_mode: str = "subprocess"  # or "inprocess"
    realtime_check: bool = True  # the tracker once more at speed 1 (N = 100, plus)
    quick: bool = False
    verbose: bool = True
    # the browser's big Studio (issue 18 §4): cards held, cards added at once, buttons clicked
    studio_cards: int = 200
    added_cards: int = 100
    clicks: int = 12
    repeats: int = 3  # runs of each strategy the product goal compares (polling.REPEATED)
    paired_seeds: int = 15  # paired batches: the Tracker's first batch and the best baseline


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    if math.isnan(numerator) or math.isnan(denominator):
        return None
    return numerator / denominator


def cpu_seconds() -> float:
    """CPU time of this whole process (user + system), all threads."""
    return time.process_time()


def machine() -> dict[str, Any]:
    """Date, host, cores, CPU model and Python: the header of every report."""
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu": model,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "loadavg_at_start": load,
    }


def code_version(root: str) -> dict[str, Any]:
    """Which code was measured: the commit, whether the tree was dirty, and a digest of the
    Tracker (it changes often and is not committed yet)."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.strip()

    tracking = os.path.join(root, "mjwidgets", "tracking.py")
    try:
        with open(tracking, "rb") as source:
            digest = hashlib.sha256(source.read()).hexdigest()[:12]
    except OSError:
        digest = None
    return {
        "commit": git("rev-parse", "--short", "HEAD") or None,
        "dirty": bool(git("status", "--porcelain", "--", "mjwidgets")),
        "tracking_py_sha256": digest,
    }


def log(options: Options, message: str) -> None:
    if options.verbose:
        print(message, file=sys.stderr, flush=True)
