"""The ledger: what was spent, read from the history — per day, per prompt family, per kept
image.

Each finished task is priced by the same rule as the estimates and the budgets (``steps.cost_of``
of the step that made it, ``costs``' table), so "what the sweep will cost", "what the budget
let through" and "what the ledger says" are one number. Only SUCCESS tasks count: Midjourney does
not charge jobs that fail, and a dialog never sent made no job.

A *prompt family* is the prompt's descriptive text — without image URLs and ``--parameters``,
lower-cased, whitespace collapsed: ``"A red fox --ar 3:2"`` and ``"a red  fox --s 750"`` are one
family. A *kept image* is one a person picked: made by U1–U4 or an Upscale button, or marked as a
favourite; what it took to get there is its lineage's cost.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import steps
from .costs import Estimate
from .models import ButtonKind, Status, Task
from .prompt import Prompt
from .store import HistoryStore

__all__ = ["Ledger", "SpendLine", "family_of", "ledger"]

_KEEPING = frozenset({ButtonKind.UPSAMPLE, ButtonKind.UPSCALE_HD})


def family_of(prompt: str) -> str:
    """The prompt family: the descriptive text, lower-cased, whitespace collapsed."""
    return " ".join(Prompt(prompt or "").text.lower().split())


@dataclass(frozen=True)
class SpendLine:
    """One row of the ledger: ``key`` (a day, a family, a task id), the finished jobs it holds
    and their Fast GPU minutes; ``kept`` images among them."""

    key: str
    jobs: int
    gpu_minutes: float
    kept: int = 0


class Ledger:
    """The spending in one history store (``server``, ``since`` and ``until`` narrow it)."""

    def __init__(
        self,
        store: HistoryStore | None = None,
        *,
        server: str | None = None,
        since: datetime | float | None = None,
        until: datetime | float | None = None,
        limit: int = 100_000,
    ) -> None:
        self.store = store if store is not None else HistoryStore()
        tasks = self.store.history(since=since, until=until, limit=limit, server=server)
        self.tasks = [task for task in tasks if task.status is Status.SUCCESS]
        self._costs = {
            (task.server, task.id): steps.cost_of([steps.step_of(self.store, task.server, task)])
            for task in self.tasks
        }
        favourites = self.store.library.marks_of(self.tasks)
        self._kept = {
            task.id
            for task in self.tasks
            if (task.origin_button is not None and task.origin_button.kind in _KEEPING)
            or (task.id in favourites and favourites[task.id].favourite)
        }

    def cost(self, task: Task) -> Estimate:
        """The Fast minutes and calls of one finished task of the ledger."""
        return self._costs.get((task.server, task.id), Estimate())

    @property
    def gpu_minutes(self) -> float:
        return round(sum(cost.gpu_minutes for cost in self._costs.values()), 4)

    @property
    def jobs(self) -> int:
        return len(self.tasks)

    @property
    def kept(self) -> list[Task]:
        """The kept images (U/Upscale results and favourites), newest first."""
        return [task for task in self.tasks if task.id in self._kept]

    def _group(self, key_of: Any) -> list[SpendLine]:
        groups: dict[str, list[Task]] = defaultdict(list)
        for task in self.tasks:
            groups[key_of(task)].append(task)
        return [
            SpendLine(
                key,
                len(members),
                round(sum(self.cost(task).gpu_minutes for task in members), 4),
                sum(task.id in self._kept for task in members),
            )
            for key, members in groups.items()
        ]

    def per_day(self) -> list[SpendLine]:
        """Spend per local calendar day of the submit, oldest first."""

        def day(task: Task) -> str:
            when = task.submit_time or task.finish_time
            return when.astimezone().date().isoformat() if when else "unknown"

        return sorted(self._group(day), key=lambda line: line.key)

    def per_family(self) -> list[SpendLine]:
        """Spend per prompt family, the costliest first."""
        lines = self._group(lambda task: family_of(task.prompt or task.prompt_en))
        return sorted(lines, key=lambda line: (-line.gpu_minutes, line.key))

    def per_kept_image(self) -> list[SpendLine]:
        """Each kept image and what its whole lineage cost (the imagine, the presses …)."""
        lines = []
        for task in self.kept:
            chain = steps.steps_for(self.store, task, task.server)
            lines.append(SpendLine(task.id, len(chain), steps.cost_of(chain).gpu_minutes, 1))
        return lines

    @property
    def minutes_per_kept_image(self) -> float | None:
        """All the spend divided by the images kept (None before the first keep)."""
        kept = len(self._kept)
        return round(self.gpu_minutes / kept, 3) if kept else None

    def summary(self) -> str:
        per_kept = self.minutes_per_kept_image
        return (
            f"{self.gpu_minutes:.1f} Fast GPU min on {self.jobs} finished job(s), "
            f"{len(self._kept)} image(s) kept"
            + (f", {per_kept:.1f} min per kept image" if per_kept is not None else "")
        )

    def __repr__(self) -> str:
        return f"<Ledger {self.summary()}>"

    def _repr_markdown_(self) -> str:
        def table(title: str, lines: list[SpendLine]) -> str:
            rows = "\n".join(
                f"| {line.key or '(no text)'} | {line.jobs} | {line.gpu_minutes:.1f} | "
                f"{line.kept} |"
                for line in lines[:20]
            )
            return f"| {title} | jobs | Fast GPU min | kept |\n|---|---|---|---|\n{rows}"

        return (
            f"**{self.summary()}**\n\n{table('day', self.per_day())}\n\n"
            f"{table('prompt family', self.per_family())}"
        )


def ledger(store: HistoryStore | None = None, **narrowing: Any) -> Ledger:
    """The spending in the history (default: ``$MJ_HOME``): ``server``, ``since``, ``until``."""
    return Ledger(store, **narrowing)
