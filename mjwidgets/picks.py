"""Learning from picks: which results of a sweep a person kept, rated and chose, and which
parameter values they preferred ("you kept 7 of 9 at --stylize 250").

Plain counting, no model: the signals are the person's own actions, read from the history —
*kept* (an image was taken out of the grid with U1–U4 or upscaled, or marked a favourite),
*ratings* (1–5 stars on the grid or on what was kept from it) and *Compare choices* (one result
preferred over others, ``store.library.record_choice``). Each result gets a score from them; each
parameter value a keep rate smoothed towards one half (Laplace: (kept + 1) / (results + 2)), so
one lucky keep does not outrank a value kept 6 times in 8.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .models import ButtonKind, Status, Task
from .promptdiff import diff_params
from .store import HistoryStore

__all__ = ["Pick", "ValueStat", "Preferences", "preferences"]

_KEEPING = frozenset({ButtonKind.UPSAMPLE, ButtonKind.UPSCALE_HD})


@dataclass
class Pick:
    """One result of a sweep and what the person did with it."""

    task: Task
    values: dict[str, Any]
    images_kept: int = 0
    favourite: bool = False
    ratings: list[int] = field(default_factory=list)
    wins: int = 0
    losses: int = 0

    @property
    def kept(self) -> bool:
        return self.images_kept > 0 or self.favourite

    @property
    def rating(self) -> float | None:
        return round(sum(self.ratings) / len(self.ratings), 2) if self.ratings else None

    @property
    def score(self) -> float:
        """Images kept + stars above or below 3 + 1.5 for a favourite + Compare wins − losses."""
        stars = (self.rating - 3) if self.rating is not None else 0.0
        return round(self.images_kept + stars + 1.5 * self.favourite + self.wins - self.losses, 3)


@dataclass
class ValueStat:
    """How one parameter value fared across the sweep."""

    param: str
    value: Any
    results: int = 0
    kept: int = 0
    images_kept: int = 0
    ratings: list[int] = field(default_factory=list)
    wins: int = 0
    losses: int = 0

    @property
    def keep_rate(self) -> float:
        """(kept + 1) / (results + 2): a keep rate that one lucky keep cannot dominate."""
        return (self.kept + 1) / (self.results + 2)

    @property
    def rating(self) -> float | None:
        return round(sum(self.ratings) / len(self.ratings), 2) if self.ratings else None

    @property
    def label(self) -> str:
        return f"--{self.param}" if self.value is True else f"--{self.param} {self.value}"

    def sentence(self) -> str:
        return f"you kept {self.kept} of {self.results} at {self.label}"


@dataclass
class Preferences:
    """The sweep's results ranked by the person's own picks, and what they say per parameter."""

    picks: list[Pick]
    values: dict[str, list[ValueStat]]

    def best(self, param: str) -> Any:
        """The preferred value of ``param`` (None when nothing was kept, rated or chosen)."""
        stats = self.values.get(param) or []
        if not stats or not any(s.kept or s.ratings or s.wins for s in stats):
            return None
        return stats[0].value

    def sentences(self) -> list[str]:
        """``you kept 7 of 9 at --stylize 250 (2 of 9 at --stylize 50)`` — one per parameter
        with a preference, then ratings and Compare choices where they say something."""
        said = []
        for param, stats in self.values.items():
            if not any(s.kept for s in stats):
                continue
            top, others = stats[0], stats[1:]
            rest = ", ".join(f"{s.kept} of {s.results} at {s.label}" for s in others)
            if others and others[0].keep_rate == top.keep_rate:
                every = ", ".join(f"{s.kept} of {s.results} at {s.label}" for s in stats)
                said.append(f"no preference for --{param} yet: you kept {every}")
                continue
            said.append(top.sentence() + (f" ({rest})" if rest else ""))
        for stats in self.values.values():
            rated = [s for s in stats if s.ratings]
            if len(rated) > 1:
                best = max(rated, key=lambda s: s.rating or 0)
                said.append(
                    f"you rated {best.label} highest ({best.rating:g} ★ on average over "
                    f"{len(best.ratings)} rating(s))"
                )
            chosen = [s for s in stats if s.wins or s.losses]
            if chosen:
                best = max(chosen, key=lambda s: (s.wins - s.losses, s.wins))
                total = best.wins + best.losses
                said.append(f"in Compare you chose {best.label} {best.wins} time(s) out of {total}")
        return said or ["no picks yet: press U1–U4, rate or compare some results first"]

    def __str__(self) -> str:
        return "\n".join(self.sentences())

    def __repr__(self) -> str:
        return f"<Preferences of {len(self.picks)} results: {'; '.join(self.sentences())}>"

    def _repr_markdown_(self) -> str:
        rows = "\n".join(
            f"| {i} | {p.task.id} | "
            f"{' '.join(f'--{k} {v}' for k, v in p.values.items())} | {p.images_kept} | "
            f"{p.rating if p.rating is not None else ''} | {p.wins}/{p.wins + p.losses} | "
            f"{p.score:g} |"
            for i, p in enumerate(self.picks[:30], 1)
        )
        lines = "\n".join(f"- {sentence}" for sentence in self.sentences())
        return (
            f"{lines}\n\n| rank | task | values | kept | ★ | chosen | score |\n"
            f"|---|---|---|---|---|---|---|\n{rows}"
        )


def _store_of(tasks: list[Task], store: HistoryStore | None) -> HistoryStore:
    if store is not None:
        return store
    for task in tasks:
        found = getattr(task.backend, "store", None)
        if isinstance(found, HistoryStore):
            return found
    return HistoryStore()


def _labels(source: Any, tasks: list[Task], labels: Mapping[str, Mapping[str, Any]] | None):
    if labels is not None:
        return {task_id: dict(values) for task_id, values in labels.items()}
    if hasattr(source, "labels") and not isinstance(source, (list, tuple)):
        return dict(source.labels)  # a Sweep knows what it varied
    differing = diff_params([task.prompt or task.prompt_en for task in tasks])
    return {
        task.id: {name: values[i] for name, values in differing.items() if values[i] is not None}
        for i, task in enumerate(tasks)
    }


def preferences(
    source: Any,
    *,
    store: HistoryStore | None = None,
    labels: Mapping[str, Mapping[str, Any]] | None = None,
) -> Preferences:
    """Rank ``source``'s results by the person's picks: a Sweep (its tasks and labels), or
    tasks whose prompts differ in some parameters (``labels``, task id → {param: value},
    overrides what the prompts say)."""
    tasks = list(source.tasks) if hasattr(source, "tasks") else list(_iter_tasks(source))
    history = _store_of(tasks, store)
    by_task = _labels(source, tasks, labels)
    picks = {task.id: Pick(task, by_task.get(task.id, {})) for task in tasks}
    owner: dict[str, str] = {}  # any task of a result's lineage → the sweep task it came from
    for task in tasks:
        owner[task.id] = task.id
        server = task.server or history.server_of(task.id) or ""
        tree = history.lineage(task.id, server)
        node = tree.find(task.id) if tree is not None else None
        for descendant in list(node.walk())[1:] if node is not None else []:
            owner[descendant.task.id] = task.id
            made = descendant.task
            if (
                made.origin_button is not None
                and made.origin_button.kind in _KEEPING
                and made.status is not Status.FAILURE
                and descendant.via is not None
            ):
                picks[task.id].images_kept += 1
    marks = history.library.marks_of(owner)
    for task_id, mark in marks.items():
        pick = picks[owner[task_id]]
        pick.favourite = pick.favourite or mark.favourite
        if mark.rating is not None:
            pick.ratings.append(mark.rating)
    duels: list[tuple[Pick, Pick]] = []  # (chosen, rejected) between two of these results
    for choice in history.library.choices():
        winner = picks.get(owner.get(choice.chosen, ""))
        for rejected in choice.rejected:
            loser = picks.get(owner.get(rejected, ""))
            if winner is not None and loser is not None and winner is not loser:
                winner.wins += 1
                loser.losses += 1
                duels.append((winner, loser))
    ranked = sorted(picks.values(), key=lambda p: (-p.score, -p.images_kept, p.task.id))
    return Preferences(ranked, _value_stats(ranked, duels))


def _iter_tasks(source: Any) -> Iterable[Task]:
    items = [source] if isinstance(source, Task) else list(source)
    for item in items:
        task = getattr(item, "task", item)
        if isinstance(task, Task):
            yield task


def _value_stats(picks: list[Pick], duels: list[tuple[Pick, Pick]]) -> dict[str, list[ValueStat]]:
    stats: dict[str, dict[str, ValueStat]] = defaultdict(dict)
    for pick in picks:
        if pick.task.status is not Status.SUCCESS:
            continue
        for param, value in pick.values.items():
            stat = stats[param].setdefault(str(value), ValueStat(param, value))
            stat.results += 1
            stat.kept += pick.kept
            stat.images_kept += pick.images_kept
            stat.ratings += pick.ratings
    for winner, loser in duels:  # a choice speaks for a value only against another value
        for param, value in winner.values.items():
            other = loser.values.get(param)
            if other is not None and str(other) != str(value) and param in stats:
                if str(value) in stats[param] and str(other) in stats[param]:
                    stats[param][str(value)].wins += 1
                    stats[param][str(other)].losses += 1
    return {
        param: sorted(
            values.values(),
            key=lambda s: (
                -s.keep_rate,
                -(s.wins - s.losses),
                -((s.rating - 3) if s.rating is not None else 0.0),  # unrated is neutral
                str(s.value),
            ),
        )
        for param, values in stats.items()
    }
