"""Fault injection: what real proxies and the networks in front of them do to clients.

Set at start (`start(faults={...})`) or at run time (`POST /sim/config`). Rates are probabilities in
[0, 1], drawn from the simulator's seeded random generator so a run can be repeated.
"""

from __future__ import annotations

import dataclasses
import random
import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class FaultConfig:
    """Every fault the simulator can inject; all off by default."""

    error_rate: float = 0.0  # answer 500/502/503 (502 as an nginx HTML page)
    error_after_commit: float = 0.5  # share of submit faults that strike after the task was created
    rate_limit_rate: float = 0.0  # answer 429 with Retry-After
    retry_after: float = 1.0  # seconds, sent in Retry-After
    latency: float = 0.0  # seconds added to every matching request
    hang_rate: float = 0.0  # sleep hang_seconds before answering (a client read timeout)
    hang_seconds: float = 1.0
    reset_rate: float = 0.0  # reset the TCP connection instead of answering
    malformed_rate: float = 0.0  # answer 200 with truncated JSON
    stuck_rate: float = 0.0  # tasks that stop moving while IN_PROGRESS
    fail_rate: float = 0.0  # tasks that fail when they reach `fail_at` percent
    fail_at: int = 46
    fail_reason: str = "[Job failed] simulated failure at {pct}%"  # {pct} → fail_at
    image_ttl: float | None = None  # seconds after finishing until the image URL answers 404
    # seconds an upload's link lasts: its URL carries Discord's ex=/is= (hex epoch seconds) and
    # answers 404 after ex; None: links without expiry
    attachment_ttl: float | None = None
    paths: list[str] = field(default_factory=lambda: ["/mj/"])  # faults hit paths containing one

    def update(self, values: dict) -> None:
        """Apply a partial update, refusing unknown keys and out-of-range rates."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown fault setting(s) {unknown}; known: {sorted(names)}")
        for key, value in values.items():
            if key.endswith("_rate") or key == "error_after_commit":
                value = float(value)
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"{key} must be between 0 and 1, got {value}")
            if key == "paths" and isinstance(value, str):
                value = [value]
            setattr(self, key, value)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class FaultDice:
    """Thread-safe seeded draws against a FaultConfig."""

    def __init__(self, config: FaultConfig, seed: int) -> None:
        self.config = config
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.injected: Counter[str] = Counter()  # faults actually injected, by kind

    def count(self, kind: str) -> None:
        with self._lock:
            self.injected[kind] += 1

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.injected)

    def roll(self, rate: float) -> bool:
        if rate <= 0.0:
            return False
        with self._lock:
            return self._random.random() < rate

    def uniform(self) -> float:
        with self._lock:
            return self._random.random()

    def choice(self, options: list):
        with self._lock:
            return self._random.choice(options)

    def applies_to(self, path: str) -> bool:
        return any(fragment in path for fragment in self.config.paths)
