"""Budgets: stop new submits at a spending limit, with a clear message, and lose nothing.

A ``Budget`` has a limit in Fast GPU minutes (priced by ``costs``) and/or in paid calls (what a
reseller bills), and remembers what it let through. The tracker's submit methods — the one path
every Studio, sweep and replay submits through — ask every budget that applies *before* anything
is sent: the kernel's (``set_kernel_budget``), the tracker's own (``tracker.budgets``) and the
caller's (``budget=``: a Studio's, a sweep's). A submit that would go over raises
``BudgetExceeded``; jobs already running are not touched and keep being tracked.

A job that fails or is cancelled costs nothing at Midjourney ("jobs that error don't cost any GPU
time"), so it stops counting once its tracked task says so. A submit refused by the server is
given back at once; one whose answer was lost stays counted (it may have run).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .costs import Estimate
from .errors import BudgetExceeded, ValidationError
from .models import Status

if TYPE_CHECKING:
    from .models import Task

__all__ = [
    "Budget",
    "Reservation",
    "estimate",
    "set_kernel_budget",
    "kernel_budget",
    "reserve",
]

_FREE = frozenset({Status.FAILURE, Status.CANCEL})


@dataclass
class _Entry:
    what: str
    minutes: float
    calls: int
    task: Task | None = None

    @property
    def counts(self) -> bool:
        return self.task is None or self.task.status not in _FREE


class Budget:
    """A limit on new submits: ``minutes`` (Fast GPU minutes, ``costs``' table) and/or ``jobs``
    (paid calls: every imagine, press, dialog and video submit). ``name`` appears in messages
    ("sweep budget"). Change ``limit_minutes``/``limit_jobs`` at any time to go on."""

    def __init__(
        self, minutes: float | None = None, *, jobs: int | None = None, name: str = "budget"
    ) -> None:
        for value, what in ((minutes, "minutes"), (jobs, "jobs")):
            if value is not None and (isinstance(value, bool) or not value >= 0):
                raise ValidationError(
                    f"a budget's {what} must be a number ≥ 0, not {value!r}",
                    advice="e.g. Budget(minutes=30) or Budget(jobs=20)",
                )
        self.limit_minutes: float | None = None if minutes is None else float(minutes)
        self.limit_jobs: int | None = None if jobs is None else int(jobs)
        self.name = name
        self._entries: list[_Entry] = []
        self._lock = threading.Lock()

    # -- what was spent ------------------------------------------------------------------------

    @property
    def spent_minutes(self) -> float:
        """Fast GPU minutes of the submits let through (failed and cancelled ones excluded)."""
        with self._lock:
            return round(sum(e.minutes for e in self._entries if e.counts), 4)

    @property
    def spent_jobs(self) -> int:
        """Paid calls let through (failed and cancelled ones excluded)."""
        with self._lock:
            return sum(e.calls for e in self._entries if e.counts)

    @property
    def remaining_minutes(self) -> float | None:
        limit = self.limit_minutes
        return None if limit is None else round(max(0.0, limit - self.spent_minutes), 4)

    @property
    def remaining_jobs(self) -> int | None:
        limit = self.limit_jobs
        return None if limit is None else max(0, limit - self.spent_jobs)

    @property
    def tasks(self) -> list[Task]:
        """The tasks this budget paid for, in submit order."""
        with self._lock:
            return [e.task for e in self._entries if e.task is not None]

    def summary(self) -> str:
        """``sweep budget: 9.0 of 10 Fast GPU min, 9 jobs`` — one line for a status bar."""
        minutes = f"{self.spent_minutes:.1f}"
        if self.limit_minutes is not None:
            minutes += f" of {self.limit_minutes:g}"
        jobs = f"{self.spent_jobs}"
        if self.limit_jobs is not None:
            jobs += f" of {self.limit_jobs}"
        return f"{self.name}: {minutes} Fast GPU min, {jobs} jobs"

    def __repr__(self) -> str:
        return f"<Budget {self.summary()}>"

    # -- the check -----------------------------------------------------------------------------

    def _refusal(self, cost: Estimate, what: str) -> str | None:
        minutes, calls = self.spent_minutes, self.spent_jobs
        limit_m, limit_j = self.limit_minutes, self.limit_jobs
        over: list[str] = []
        if limit_m is not None and minutes + cost.gpu_minutes > limit_m + 1e-9:
            over.append(
                f"≈{cost.gpu_minutes:g} Fast GPU min would bring it to "
                f"{minutes + cost.gpu_minutes:g} of {limit_m:g}"
            )
        if limit_j is not None and calls + cost.jobs > limit_j:
            over.append(f"{cost.jobs} more job(s) would make {calls + cost.jobs} of {limit_j}")
        if not over:
            return None
        return (
            f"{self.name} reached: {what} not sent ({'; '.join(over)}; spent so far "
            f"{minutes:g} Fast GPU min on {calls} job(s)); nothing running was stopped"
        )

    def check(self, cost: Estimate, what: str = "this job") -> None:
        """Raise BudgetExceeded if ``cost`` does not fit (records nothing)."""
        refusal = self._refusal(cost, what)
        if refusal:
            raise self._exceeded(refusal, cost)

    def _exceeded(self, refusal: str, cost: Estimate) -> BudgetExceeded:
        limits = []
        if self.limit_minutes is not None:
            limits.append(f"limit_minutes (now {self.limit_minutes:g})")
        if self.limit_jobs is not None:
            limits.append(f"limit_jobs (now {self.limit_jobs})")
        return BudgetExceeded(
            refusal,
            budget=self,
            cost=cost.gpu_minutes,
            advice=f"to go on, raise the {self.name}'s {' or '.join(limits)} and submit again",
        )

    def record(self, cost: Estimate, what: str, task: Task | None = None) -> _Entry:
        """Count ``cost`` as spent (no check): work done outside the tracker's path."""
        entry = _Entry(what, cost.gpu_minutes, cost.jobs, task)
        with self._lock:
            self._entries.append(entry)
        return entry

    def _forget(self, entry: _Entry) -> None:
        with self._lock:
            if entry in self._entries:
                self._entries.remove(entry)


_kernel: Budget | None = None
_reserve_lock = threading.Lock()


def set_kernel_budget(minutes: float | None = None, *, jobs: int | None = None) -> Budget | None:
    """Limit every submit of this kernel (all trackers, Studios, sweeps, replays); no limits
    at all removes the kernel's budget. Returns the new budget."""
    global _kernel
    _kernel = None if minutes is None and jobs is None else (
        Budget(minutes, jobs=jobs, name="kernel budget")
    )  # fmt: skip
    return _kernel


def kernel_budget() -> Budget | None:
    """The kernel's budget (``set_kernel_budget``), or None."""
    return _kernel


@dataclass
class Reservation:
    """Budgets' claims on one submit: ``bind(task)`` once it was accepted, ``release()`` when
    the server refused it (nothing was created)."""

    entries: list[tuple[Budget, _Entry]]

    def bind(self, task: Task) -> None:
        for _, entry in self.entries:
            entry.task = task

    def release(self) -> None:
        for budget, entry in self.entries:
            budget._forget(entry)


def reserve(budgets: Iterable[Budget | None], cost: Estimate, what: str) -> Reservation:
    """Check ``cost`` against every budget and, if all agree, count it in each — atomically, so
    two threads (a sweep and a click) cannot both take the last minute. Raises BudgetExceeded
    (naming the first budget that refuses) and then counts nothing."""
    unique: list[Budget] = []
    for budget in budgets:
        if budget is not None and all(budget is not seen for seen in unique):
            unique.append(budget)
    with _reserve_lock:
        for budget in unique:
            refusal = budget._refusal(cost, what)
            if refusal:
                raise budget._exceeded(refusal, cost)
        return Reservation([(b, b.record(cost, what)) for b in unique])


def as_budgets(value: Any) -> list[Budget]:
    """``budget=`` as given: None, one Budget, or several."""
    if value is None:
        return []
    if isinstance(value, Budget):
        return [value]
    budgets = list(value)
    for item in budgets:
        if not isinstance(item, Budget):
            raise ValidationError(
                f"budget= takes Budget objects, not {type(item).__name__}",
                advice="e.g. budget=mjw.Budget(minutes=30)",
            )
    return budgets


def estimate(what: Any, *, mode: str | None = None) -> Estimate:
    """What ``what`` would cost before it runs (``costs``' table): a prompt, a list of prompts,
    a Sweep (every prompt), or a lineage to replay — a Task, a task id, a saved file or its
    record. ``mode`` is the client's speed prefix ("relax", "fast", "turbo")."""
    from . import costs, recipes, steps  # recipes and steps reach up to the store

    if hasattr(what, "estimate") and callable(what.estimate):  # a Sweep, a Replay
        return what.estimate()
    if isinstance(what, str) and not _is_stored(what):
        return costs.imagine_cost(what, mode)
    if isinstance(what, (list, tuple)) and all(isinstance(item, str) for item in what):
        total = Estimate()
        for prompt in what:
            total += costs.imagine_cost(prompt, mode)
        return total
    found, _ = recipes.load_steps(what)
    return steps.cost_of(found, mode)


def _is_stored(text: str) -> bool:
    """A task id (digits, a UUID) or a saved file, to price its lineage, rather than a prompt."""
    return os.path.isfile(text) or bool(_TASK_ID.fullmatch(text.strip()))


_TASK_ID = re.compile(r"[0-9]{6,}|[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
