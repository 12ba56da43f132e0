"""Prompt sweeps: submit the product of parameter values without flooding the account's queue.

An account runs ~3 jobs and queues ~10 more; a sweep of 24 prompts submitted at once would get
code 23 (queue full) for most of them. A `Sweep` keeps at most `max_in_flight` jobs pending,
submits the next one as each finishes, and waits for a slot when the server still says the queue
is full (a code-23 submit was discarded by the server, so trying it again later is not a
duplicate).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import costs
from .budget import Budget
from .errors import BudgetExceeded, MJError, QueueFullError, RateLimitError, ValidationError
from .models import Status, Task
from .prompt import Prompt, PromptError
from .tracking import Tracker

log = logging.getLogger("mjwidgets.sweep")


@dataclass
class SweepItem:
    """One prompt of a sweep: its parameter values, and its task once submitted."""

    values: dict[str, Any]
    prompt: str
    task: Task | None = None
    error: str = ""

    @property
    def done(self) -> bool:
        return bool(self.error) or (self.task is not None and self.task.is_done)


@dataclass
class Sweep:
    """The product of `params` over `base`, submitted through `tracker` a few at a time.

    ``budget`` (a Budget, or several) limits this sweep: the first prompt that would go over
    is not sent, nor any after it (``stopped`` says why); prompts already running finish.
    ``estimate()`` prices the whole sweep before it starts."""

    base: str
    params: dict[str, list]
    tracker: Tracker
    max_in_flight: int = 3
    items: list[SweepItem] = field(default_factory=list)
    budget: Budget | list[Budget] | None = None
    stopped: str = ""

    def __post_init__(self) -> None:
        if not self.params:
            raise ValidationError(
                "a sweep needs at least one parameter with values",
                advice="pass lists of values, e.g. studio.sweep(prompt, ar=['1:1', '3:2'])",
            )
        for name, values in self.params.items():
            if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
                raise ValidationError(
                    f"{name}= must be a list of values", advice=f"e.g. {name}=[…, …]"
                )
            self.params[name] = list(values)
            if not self.params[name]:
                raise ValidationError(f"{name}= has no values", advice="give it at least one")
        base = Prompt.parse(self.base)
        names = list(self.params)
        for combo in itertools.product(*(self.params[n] for n in names)):
            chosen = dict(zip(names, combo, strict=True))
            prompt = base.with_params(**chosen)
            problems = prompt.validate()
            if problems:
                raise PromptError(problems, advice=f"fix the sweep's prompt {str(prompt)!r}")
            self.items.append(SweepItem(values=chosen, prompt=str(prompt)))
        self._cond = threading.Condition()
        self._listeners: list[Callable[[Sweep], None]] = []
        self._thread: threading.Thread | None = None

    def estimate(self) -> costs.Estimate:
        """What every prompt of the sweep costs (``costs``' table), before anything is sent."""
        client = self.tracker.client
        mode = client.mode if client is not None else None
        total = costs.Estimate()
        for item in self.items:
            total += costs.imagine_cost(item.prompt, mode)
        return total

    # ------------------------------------------------------------------ running
    def start(self) -> Sweep:
        """Submit in the background; returns at once."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="mjw-sweep", daemon=True)
            self._thread.start()
        return self

    def on_change(self, callback: Callable[[Sweep], None]) -> None:
        """Call `callback(sweep)` whenever an item is submitted or finishes."""
        self._listeners.append(callback)

    def wait(self, timeout: float | None = None) -> list[SweepItem]:
        """Block until every item finished (or failed to submit)."""
        with self._cond:
            finished = self._cond.wait_for(lambda: all(i.done for i in self.items), timeout)
        if not finished:
            raise TimeoutError(f"sweep not finished after {timeout} s: {self.summary()}")
        return self.items

    def summary(self) -> str:
        """`4/6 done · 2 running · 0 waiting · 0 failed` — for the progress line."""
        done = sum(
            1
            for i in self.items
            if i.task is not None and i.task.is_done and i.task.status is Status.SUCCESS
        )
        unsent = sum(1 for i in self.items if i.error.startswith("not sent"))
        failed = sum(
            1
            for i in self.items
            if (i.error and not i.error.startswith("not sent"))
            or (i.task is not None and i.task.is_done and i.task.status is not Status.SUCCESS)
        )
        running = sum(1 for i in self.items if i.task is not None and not i.task.is_done)
        waiting = len(self.items) - done - failed - running - unsent
        line = f"sweep {done}/{len(self.items)} done · {running} running · {waiting} waiting" + (
            f" · {failed} failed" if failed else ""
        )
        return line + (f" · {unsent} not sent: budget reached" if self.stopped else "")

    @property
    def tasks(self) -> list[Task]:
        return [i.task for i in self.items if i.task is not None]

    @property
    def labels(self) -> dict[str, dict[str, Any]]:
        """The varying parameter values of each submitted task, by task id."""
        return {i.task.id: i.values for i in self.items if i.task is not None}

    def _notify(self) -> None:
        with self._cond:
            self._cond.notify_all()
        for callback in list(self._listeners):
            try:
                callback(self)
            except Exception:  # a broken view must not stop the sweep
                log.exception("sweep listener failed")

    def _in_flight(self) -> int:
        return sum(1 for i in self.items if i.task is not None and not i.task.is_done)

    def _run(self) -> None:
        for item in self.items:
            with self._cond:
                self._cond.wait_for(lambda: self._in_flight() < self.max_in_flight)
            if not self.stopped:
                self._submit(item)
            if self.stopped and item.task is None and not item.error:
                item.error = f"not sent: {self.stopped}"
        self._notify()

    def _submit(self, item: SweepItem) -> None:
        delay = 1.0
        while True:
            try:
                task = self.tracker.imagine(item.prompt, budget=self.budget)
            except BudgetExceeded as exc:  # nothing was sent; what runs goes on
                self.stopped = str(exc)
                item.error = f"not sent: {exc}"
                self._notify()
                return
            except (QueueFullError, RateLimitError) as exc:
                # refused before anything was created: wait for a slot, then try again
                with self._cond:
                    in_flight = self._in_flight()

                    def slot_free(before: int = in_flight) -> bool:
                        return self._in_flight() < before

                    self._cond.wait_for(
                        slot_free, timeout=getattr(exc, "retry_after", None) or delay
                    )
                delay = min(delay * 2, 30.0)
                continue
            except MJError as exc:
                item.error = str(exc)
                self._notify()
                return
            item.task = task
            self.tracker.subscribe(task, lambda _t: self._notify())
            self._notify()
            return
