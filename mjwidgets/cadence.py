"""The tracker's timing model: when a server's next update is due, learned from what was seen.

Pure (no I/O, no threads, no clock of its own: every method takes ``now``), so each rule is
unit-tested on its own (``tests/test_cadence.py``). The tracker asks each pending task for its
poll window and polls at the earliest deadline among them.

Why adaptive: Midjourney reports progress only every few seconds and resellers refresh every 15 s,
so polling on a fixed clock either wastes requests or shows results late. Every change is known
only to lie between the last look that showed the old state and the first look that showed the
new one; intersecting those brackets over every pair of steps pins the step interval down even
from coarse looks. The lag we accept is small for the result and larger for mid-way steps.

Like the stepped schedule a maintainer would write (fast at the start, slow in between, fast
when results are due), but with its times learnt, not told: the first looks probe, the looks
mid-way come once a step, and the fast looks for a result start no sooner than the shortest job
of its kind has taken from its submit (``ServerRhythm.shortest_length``).
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .models import Status, Task
from .refreshgrid import (
    GRID_EXPECTED_SLACK,
    GRID_PERIOD_SLACK,
    GRID_TICK_MARGIN_S,
    MIN_GRID_PERIOD_S,
    Change,
    RefreshGrid,
    find_grid,
)
from .relayphase import RelayCycle, RelayPhase, cycle_of, follow_relay

__all__ = [
    "ServerRhythm",
    "TaskRhythm",
    "next_poll",
    "results_from",
    "FINAL_STEP_PROGRESS",
    "OVERDUE_STEPS",
    "QUEUED_STEPS",
    "lag_budget",
    "watched_since",
]

FINAL_STEP_PROGRESS = 93  # Midjourney's last progress step; the next change is the result
_NEAR_END_PROGRESS = 78
# When a task may be stuck (reference §7.3 #1: the top complaint): silent for this many of its
# server's steps while running, or this many while queued (a queue moves as other jobs end).
OVERDUE_STEPS = 6
QUEUED_STEPS = 40
# With no rhythm learnt yet: the proxies' own task timeout (5 min, OSS timeout-minutes) while
# running, twice that while queued.
_OVERDUE_UNKNOWN_RUNNING_S = 300.0
_OVERDUE_UNKNOWN_QUEUED_S = 600.0
_OVERDUE_FLOOR_S = 1.0  # never sooner: a look or two may simply have been late
# A queue moves when other people's jobs end, not at this job's rhythm: half a minute of waiting
# in line is ordinary on every server, so a queued job is never called stuck before that.
_OVERDUE_QUEUED_FLOOR_S = 30.0
_LENGTHS_KEPT = 64  # job lengths remembered per kind
_ADVANCES_KEPT = 256  # progress moves remembered: a batch of 100 moves 3–6 times each
_INTERVAL_VOTERS = 128  # tasks whose step intervals are remembered: a batch of 100 and more
# Where the looks for a result start in its predicted window, while no job length is known. A
# first batch's windows are wide (its steps were seen by looks ~9 s apart) and its results come
# in their later half: in the model of a first batch of 100 (``benchmarks/cadence_model.py``, 15
# seeds, results looked for every 5 % of a step), starting at the window's middle rather than
# its first fifth saved 3–4 of ~41 looks and lowered lag × requests from 9.9 to 8.5 at speed 7;
# on the real clock, where a look costs less lag, it rose from 7.5 to 8.2 (both well below the
# stepped schedule's 11.3 and 10.5). The few results that come early wait for the first look
# (benchmarks/README.md, "Runs of one part since").
_RESULT_WINDOW_SKIP = 0.5
# While no job of its kind has ended (a first batch), a task's step interval is taken to lie
# within this share of its server's, or 1.5 times the server's measured spread if wider (a
# uniform spread's whole range is twice its interquartile range): jobs of one kind step at one
# pace within ±10 % on the simulator, while the coarse looks mid-way bracket a task's own
# interval only within ±33 %, which made its result window 15 s wide and the fast looks for a
# first batch's results start five looks early (benchmarks/README.md, "Issue 18").
_FIRST_BATCH_INTERVAL_SHARE = 0.15
# A job's length (submit → result) is learnt only from a result seen within this share of a
# step (or half a second: fast servers step not much slower than a round trip) after the last
# look that did not show it, for the length learnt is "at least" that look. A batch's first
# result follows the slow looks mid-way (~3 s apart on the real clock): "at least 44.8 s" for
# a job that took 47.7 made the next batch look fast for its results three seconds early,
# eight looks spent on nothing (the model's second batch on the real clock: 43 → 35 looks).
_LENGTH_BRACKET_SHARE = 0.2
_LENGTH_BRACKET_FLOOR_S = 0.5
# A submit's time (when its request left, on the wall clock) read on this monotonic clock. It
# was "the answer's time less 5 % of the period": 0.75 s on a 15 s grid, which let the refresh
# just before a warm batch's submits seem to lie after them, and its first look went to that
# refresh twice (model, 32 seeds, real clock: 1.5 → 1.25 requests per refresh, third batch).
_SUBMIT_CLOCK_SLACK_S = 0.02
# A refresh whose rows a look saw only in part: up to this many looks for the rest, each this
# share of the period after the last (new-api writes a row in a few ms: 100 rows ~0.2 s of a
# 15 s period); the margin learnt from them is at most this share of the period.
_RELOOKS = 3
_RELOOK_SHARE = 0.01
_MARGIN_SHARE = 0.05
# A new kernel at a relay whose cycle an earlier kernel learnt: looks this share of the cycle
# apart until they see its first refresh, which then is followed (a bracket this wide is halved
# by the looks at the next refreshes). In the model of a new kernel's first batch of 100 after
# two batches (benchmarks/cadence_model.py --new-kernel, 24 seeds), 5, 10, 15, 20 and 30 % took
# 25, 16, 13, 12.5 and 12.5 requests on the real clock (vis-lag p50 0.12–0.20 s), 19, 15, 13.5,
# 14 and 15.5 at speed 7 (0.24–0.29 s × 7). Without the cycle (looks every second until four
# refreshes gave a grid: the whole batch), 60.5 and 30.5 requests.
_KNOWN_CYCLE_DISCOVERY_SHARE = 0.15
# No refresh seen in this many of those cycles: not the relay's cycle any more (learnt at another
# speed of a simulator, say); the grid is then found as in a first kernel
_CYCLE_MISSED = 1.5


def _median(values: Iterable[float]) -> float | None:
    items = list(values)
    return statistics.median(items) if items else None


class _Votes:
    """The latest value from each of the most recent voters (``size`` of them), in the order
    they last voted. One task learns its step interval again at every step, each time more
    precisely; keeping every value would let the tasks that step last — a batch's slowest —
    outvote the rest, and learn the server slower than it is."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._values: dict[object, float] = {}
        self.cast = 0  # votes cast, a voter's repeated ones included

    def vote(self, voter: object, value: float) -> None:
        self.cast += 1
        if voter is None:  # one vote of its own (a value remembered from an earlier session)
            voter = ("anonymous", self.cast)
        self._values.pop(voter, None)
        self._values[voter] = value
        if len(self._values) > self._size:
            del self._values[next(iter(self._values))]

    def values(self) -> list[float]:
        return list(self._values.values())

    def __len__(self) -> int:
        return len(self._values)


class ServerRhythm:
    """The update cadence of one server, learned from every task tracked on it.

    Step intervals are kept per action (upscales run faster than grids); the final gap (93 % →
    result) and the first gap (0 % → first step) are kept as ratios of the step interval.
    """

    def __init__(self) -> None:
        # each task's latest estimate of its own step interval, per action and for all
        self._by_action: dict[str, _Votes] = {}
        self._all = _Votes(_INTERVAL_VOTERS)
        self._rough: deque[float] = deque(maxlen=64)
        self._final_ratios: deque[float] = deque(maxlen=32)
        # how far progress moves in one step (Midjourney: ~15 %), from the smallest moves seen:
        # a task looked at every other step only ever shows double moves, and without this
        # would count each as one step and learn an interval twice too long
        self._advances: deque[int] = deque(maxlen=_ADVANCES_KEPT)
        # seconds from a job's submit to its result, per (action, relaxed): the earliest a job of
        # the kind can end, as the stepped schedule a maintainer would write knows it in advance;
        # each (submit time, order learnt, seconds), the most recently submitted kept
        self._lengths: dict[tuple[str, bool], list[tuple[float, int, float]]] = {}
        self._learnt = 0
        self._shortest: dict[tuple[str, bool], float | None] = {}  # shortest_length, kept
        # batched looks: those that saw tasks move (refreshgrid.Change) and those that saw none
        self._changes: deque[Change] = deque(maxlen=16)
        # stretches with no refresh: (after, by, how many quiet looks joined into it)
        self._quiet: deque[tuple[float, float, int]] = deque(maxlen=64)
        self._grid_memo: tuple[RefreshGrid | RelayPhase | None] | None = None
        self._grid: RefreshGrid | None = None  # the last one found: its period is tried first
        self._phase: RelayPhase | None = None  # a new-api relay's, followed from the grid
        # The gaps between a relay's refreshes, as an earlier kernel learnt them: its phase does
        # not hold across kernels, its cycle does (its sleep, its upstream's round trip). With
        # it, a new kernel follows the relay from the first refresh its looks see, not from the
        # grid, which takes four refreshes to find: ~the whole first batch, looked at every
        # second (benchmarks/README.md, "A new kernel at a relay").
        self._relay_cycle: RelayCycle | None = None
        self._cycle_confirmed = False  # this kernel saw two refreshes come as it has them
        self._looks_before_refresh = 0  # looks that saw no first refresh, the cycle followed
        self._followed: RelayCycle | None = None  # the gaps followed with last
        self._grid_expected = False
        # A relay writes a refresh's rows one after another (new-api: a database write per
        # changed row), so a look just after a refresh may see only some of them move. Of the
        # refresh the last look saw in part: (when the first look that saw it was sent, when
        # the last was sent and answered, how many tasks in progress have yet to move, how
        # many tasks of any state have not moved with it), and the looks for its rest; how long
        # after a refresh's latest start its rows were all written (the margin the next looks
        # keep), from the last few refreshes seen in part.
        self._partial: tuple[float, float, float, int, int] | None = None
        self._relooks = 0
        self._margins: deque[float] = deque(maxlen=8)

    def learn_interval(self, action: str, seconds: float, task_id: str | None = None) -> None:
        """Task ``task_id`` steps every ``seconds`` (its latest estimate replaces its earlier
        ones; None: a value of its own, as one remembered from an earlier session)."""
        self._by_action.setdefault(action, _Votes(_INTERVAL_VOTERS)).vote(task_id, seconds)
        self._all.vote(task_id, seconds)

    def learn_rough(self, seconds: float) -> None:
        """A coarse guess (the middle of a wide bracket): used only until precise ones exist.
        Many concurrent tasks seen at different phases make their median a fair first guess."""
        if seconds > 0:
            self._rough.append(seconds)

    def learn_advance(self, percent: int) -> None:
        """Progress moved by ``percent`` between two looks (one step or more)."""
        if percent > 0:
            self._advances.append(percent)

    def step_size(self) -> int | None:
        """Progress per step: the smallest move seen (any other is a few steps at once)."""
        return min(self._advances) if self._advances else None

    def learn_final_ratio(self, ratio: float) -> None:
        if 0.2 <= ratio <= 5.0:
            self._final_ratios.append(ratio)

    def learn_length(
        self, action: str, relaxed: bool, seconds: float, submitted_at: float | None = None
    ) -> None:
        """A job ended at least ``seconds`` after its submit (at ``submitted_at`` on this clock;
        None: earlier than any job seen here). The ``_LENGTHS_KEPT`` most recently *submitted*
        jobs are kept, not the latest results: a batch's results come shortest first, so keeping
        the latest results dropped a batch of 100's shortest third, and the next batch looked for
        its first results seconds late."""
        if seconds > 0:
            self._shortest.pop((action, relaxed), None)
            kept = self._lengths.setdefault((action, relaxed), [])
            self._learnt += 1
            when = float("-inf") if submitted_at is None else submitted_at
            kept.append((when, self._learnt, seconds))
            if len(kept) > _LENGTHS_KEPT:
                kept.remove(min(kept))

    def shortest_length(self, action: str, relaxed: bool) -> float | None:
        """The shortest of the recent jobs of this kind (from three on), less the gap to expect
        below the shortest of that many: no job is likely to end sooner, so looking fast for a
        result before then is wasted. A queue only adds to a job's length. Asked for every
        pending task at every wake of the poller, so kept until a job of the kind ends."""
        kind = (action, relaxed)
        if kind not in self._shortest:
            lengths = [seconds for _, _, seconds in self._lengths.get(kind, ())]
            shortest = min(lengths, default=0.0)
            self._shortest[kind] = (
                shortest - (max(lengths) - shortest) / (len(lengths) - 1)
                if len(lengths) >= 3
                else None
            )
        return self._shortest[kind]

    def interval(self, action: str) -> float | None:
        """Typical seconds between two progress steps of a task of this action."""
        own = self._by_action.get(action)
        if own and own.cast >= 2:  # one task's second look at its rhythm is enough
            return _median(own.values())
        if self._all.cast >= 2:
            return _median(self._all.values())
        return _median(self._rough) if len(self._rough) >= 3 else None

    def final_ratio_known(self) -> bool:
        return len(self._final_ratios) >= 3

    def spread(self) -> float:
        """Relative uncertainty of a predicted step time (interquartile range / median)."""
        if len(self._all) < 4:
            return 0.2
        quartiles = statistics.quantiles(self._all.values(), n=4)
        middle = statistics.median(self._all.values())
        return min(0.5, max(0.08, (quartiles[2] - quartiles[0]) / middle if middle else 0.2))

    def final_ratio(self) -> float:
        """Gap before the result as a multiple of the step interval (~8 s after 6–7 s steps)."""
        return _median(self._final_ratios) or 1.3

    def export(self) -> dict[str, Any]:
        """What was learnt that holds across sessions, as JSON-able data: step intervals (and
        rough guesses of them), the final gap, job lengths, a relay's gaps between refreshes
        (a refresh grid's phase does not hold: it is found again)."""
        if self._grid_expected:
            self.grid()  # (the phase followed up to now)
        cycle = self._followed or self._relay_cycle
        return {
            "intervals": {action: votes.values() for action, votes in self._by_action.items()},
            "rough": list(self._rough),
            "final_ratios": list(self._final_ratios),
            "step_size": self.step_size(),
            "lengths": [
                [a, r, [seconds for _, _, seconds in sorted(kept)]]
                for (a, r), kept in self._lengths.items()
            ],
            "relay_gaps": None if cycle is None else [cycle.gap_low, cycle.gap_high],
        }

    def restore(self, data: Any) -> None:
        """Take what an earlier session learnt (``export()``), so the first jobs of a session
        are timed as well as the later ones; anything malformed is ignored."""
        if not isinstance(data, dict):
            return
        for action, values in (data.get("intervals") or {}).items():
            for seconds in _seconds(values):
                self.learn_interval(str(action), seconds)
        for seconds in _seconds(data.get("rough")):
            self.learn_rough(seconds)
        for ratio in _seconds(data.get("final_ratios")):
            self.learn_final_ratio(ratio)
        for percent in _seconds([data.get("step_size")]):
            self.learn_advance(int(percent))
        for entry in data.get("lengths") or []:
            if isinstance(entry, list) and len(entry) == 3:
                for seconds in _seconds(entry[2]):
                    self.learn_length(str(entry[0]), bool(entry[1]), seconds)
        gaps = _seconds(data.get("relay_gaps"))
        if len(gaps) == 2 and MIN_GRID_PERIOD_S <= gaps[0] <= gaps[1] < 2 * gaps[0]:
            self._relay_cycle = RelayCycle(gaps[0], gaps[1])
            self._cycle_confirmed = False
            self._grid_memo = None

    def observe_poll(
        self,
        previous: tuple[float, float],
        look: tuple[float, float],
        changed: int,
        running: int,
        looked: int | None = None,
        running_moved: int | None = None,
        finished: tuple[float, float] | None = None,
    ) -> None:
        """Learn from one batched look at every pending task, ``look`` = (sent, answered), the
        look before it ``previous``: ``changed`` tasks moved in between (a refresh lies in
        (previous sent, answered]), or none of the ``running`` tasks in progress at the look
        before did (none lies in (previous answered, sent]: a task in progress moves at every
        refresh; a queued or just-submitted one may not). ``looked``: how many tasks the look
        asked about; ``running_moved``: how many of the tasks that moved were in progress
        (None: not counted); ``finished``: (earliest, latest) of the server's finish times, on
        this clock, of the results this look saw first. Feeds the grid detector."""
        partial, self._partial = self._partial, None
        if (
            partial is not None
            and partial[1] == previous[0]
            and 0 < changed <= partial[4]  # no task moved twice
            and look[1] - partial[0] < self._half_period()  # sooner than the next refresh
        ):
            # more of a refresh seen in part: its rows are still being written; once all are,
            # the next refreshes get their looks that much later. Queued tasks that started
            # with it move too, after every task in progress may have (a relay's first
            # refreshes of a batch): counted as a refresh of their own, that refresh was found
            # twice, 15 s apart, no grid fitted and a first batch of 100 made 99 looks, one
            # every 0.6 s, not ~50 (benchmarks/cadence_model.py, newapi, seed 0).
            left = max(0, partial[3] - changed)
            if left and self._relooks < _RELOOKS:
                self._partial = (partial[0], look[0], look[1], left, partial[4] - changed)
                self._relooks += 1
            else:
                if not left and self._changes:  # all of its rows seen: a relay's phase knows when
                    self._changes[-1] = self._changes[-1]._replace(rest_by=look[1])
                if self.grid() is not None:  # the looks for the rest came at once
                    # the rest appeared within this of the first look that saw the refresh
                    # in part (added to the margin in use, the margin grew with every such
                    # refresh: a warm new-api batch's looks came 0.4–0.7 s after its
                    # refreshes, benchmarks/cadence_model.py)
                    self._margins.append(GRID_TICK_MARGIN_S + look[0] - partial[0])
                self._relooks = 0
                self._grid_memo = None  # (that refresh is now seen whole, and the margin grew)
            return
        if self._grid_expected and changed and running and running_moved == 0:
            # only tasks not yet in progress moved: on a relay, the rows of a refresh the look
            # before saw in part (written after it), not a new refresh, which would have moved
            # the tasks in progress too (a live server's tasks move on their own times). Taken
            # for one, the first look at a new-api batch that read its first refresh mid-way
            # made the next look's bracket end 0.5 s before the second refresh: that look went
            # early, and two more followed (benchmarks/README.md)
            changed = 0
        if not changed and not self._changes and self._restored_cycle() is not None:
            self._looks_before_refresh += 1
            if self._looks_before_refresh * _KNOWN_CYCLE_DISCOVERY_SHARE > _CYCLE_MISSED:
                self._relay_cycle = self._followed = None  # not the relay's cycle
                self._grid_memo = None
        if changed:
            # every task in progress moved (or every task, none in progress): a whole refresh
            whole = 0 < running <= changed or (not running and 0 < (looked or 0) <= changed)
            self._changes.append(
                Change(
                    previous[0],
                    look[1],
                    changed,
                    previous[1],
                    whole,
                    fresh=not running,  # none in progress before: the relay may have idled
                    finished=finished,
                )
            )
            movable = running or looked or 0  # a just-submitted task moves at its first refresh
            self._relooks = 0
            unmoved = (looked or movable) - changed
            if self._grid_expected and unmoved > 0:
                # seen in part, perhaps: looks for the rest only while tasks in progress have
                # yet to move; queued ones that start with this refresh may move by the next
                self._partial = (look[0], look[0], look[1], max(0, movable - changed), unmoved)
        elif running and look[0] > previous[1]:
            quiet = (previous[1], look[0], 1)
            if self._quiet and self._quiet[-1][1] == previous[0]:
                # the look before was quiet too: no refresh before its read either, so the two
                # stretches join across its round trip (else a refresh "hidden" in that round
                # trip explains both, and the grid takes it for seen: on a relay whose refreshes
                # drift, a result a whole period late)
                after, _, looks = self._quiet.pop()
                quiet = (after, look[0], looks + 1)
            self._quiet.append(quiet)
        else:
            return
        self._grid_memo = None

    def observe_first_look(
        self,
        moved_submits: list[float | None],
        look: tuple[float, float],
        looked: int | None = None,
    ) -> None:
        """Learn from the first look at tasks submitted since the look before (``looked`` of
        them), on a server with a known refresh grid: ``moved_submits``, the submit times of the
        tasks that moved (None: not known on this clock). Each moved at a refresh after its
        submit, so one lies between the latest such submit and this look: that settles whether
        the refresh the look was aimed at has happened, and saves a second look at it. When all
        ``looked`` moved, the look saw that refresh whole, and what moves by the next look came
        with a later one. Moves only: the states a submit answered are no evidence that nothing
        was refreshed."""
        grid = self.grid()
        if grid is None and self._restored_cycle() is None:
            return  # (a relay followed from its first refresh: that refresh is this one)
        if not moved_submits or None in moved_submits:
            return
        # the server made each task after its submit was sent (the submit time), less a margin
        # for reading that wall-clock time on this clock
        after = max(s for s in moved_submits if s is not None) - _SUBMIT_CLOCK_SLACK_S
        whole = looked is not None and len(moved_submits) >= looked
        self._changes.append(Change(after, look[1], len(moved_submits), None, whole, fresh=True))
        self._grid_memo = None

    def quiet_until(self, last_look: float) -> float | None:
        """When the look sent at ``last_look`` was sent, if it saw nothing move (its quiet
        stretch ends there): a refresh while it was on its way came after it read the server,
        so it is still to be seen. None when it saw tasks move."""
        if self._quiet and self._quiet[-1][1] >= last_look:
            return self._quiet[-1][1]
        return None

    def _half_period(self) -> float:
        grid = self.grid()
        return grid.period / 2 if grid is not None else float("inf")

    def tick_margin(self) -> float:
        """How long after a refresh's latest start a look sees all its rows written."""
        grid = self.grid()
        cap = _MARGIN_SHARE * grid.period if grid is not None else GRID_TICK_MARGIN_S
        return min(cap, max([GRID_TICK_MARGIN_S, *self._margins]))

    def rest_due(self) -> float | None:
        """When to look for the rest of a refresh the last look saw only in part (None: it
        saw none or all of one)."""
        grid = self.grid()
        if self._partial is None or not self._partial[3] or grid is None:
            return None  # (or only queued tasks have yet to move: they may not, this time)
        return self._partial[2] + max(MIN_POLL_GAP_S, _RELOOK_SHARE * grid.period)

    def expect_refresh_grid(self, expected: bool = True) -> None:
        """The server is known to refresh on a shared grid (a new-api relay): look often enough
        to find it, and accept a grid from fewer refreshes."""
        if expected != self._grid_expected:
            self._grid_expected = expected
            self._grid_memo = None

    @property
    def grid_expected(self) -> bool:
        return self._grid_expected

    def discovery_gap(self) -> float:
        """While an expected grid is not found yet: looks this far apart give brackets narrow
        enough to find it (a quarter of the gap between the looks that saw tasks move); with a
        relay's cycle known from an earlier kernel, a share of that cycle."""
        cycle = self._restored_cycle()
        if cycle is not None:  # one refresh seen is enough: a bracket this wide is followed
            return max(MIN_POLL_GAP_S, _KNOWN_CYCLE_DISCOVERY_SHARE * cycle.period)
        middles = sorted((c.after + c.by) / 2 for c in self._changes)
        gaps = [b - a for a, b in zip(middles, middles[1:], strict=False)]
        gaps = [gap for gap in gaps if gap >= MIN_GRID_PERIOD_S]
        return min(5.0, max(0.2, 0.25 * min(gaps))) if gaps else 1.0

    def cycle_check_due(self, last_look: float) -> float | None:
        """While an earlier kernel's cycle is followed but not yet confirmed: one look half a
        cycle after the first refresh seen, which sees a refresh only if the relay now cycles
        faster (followed as it was, the look for its next refresh went a whole old cycle on,
        saw tasks moved and took them for that refresh). None when no check is due (or a look
        since ``last_look`` made it)."""
        cycle = self._cycle_on_probation()
        if cycle is None or not self._grid_expected or len(self._changes) != 1:
            return None
        due = self._changes[0].by + cycle.period / 2
        return due if last_look < due else None

    def _cycle_on_probation(self) -> RelayCycle | None:
        """An earlier kernel's cycle until two refreshes come as it has them (and none once
        a grid is found: the grid is followed then)."""
        if self._cycle_confirmed or self._grid is not None:
            return None
        return self._relay_cycle

    def _restored_cycle(self) -> RelayCycle | None:
        """A relay's gaps as an earlier kernel learnt them, while this one has neither followed
        its phase nor found its grid."""
        if not self._grid_expected or self._phase is not None or self._grid is not None:
            return None
        return self._relay_cycle

    def grid(self) -> RefreshGrid | RelayPhase | None:
        """The server's shared refresh grid (new-api relays), once the looks prove one; on a
        server known to be a new-api relay, the phase of its drifting refreshes
        (``relayphase``), followed from the grid once found."""
        if self._grid_memo is None:
            hint = self._grid.period if self._grid is not None else None
            slack = GRID_EXPECTED_SLACK if self._grid_expected else GRID_PERIOD_SLACK
            quiet = [(after, by) for after, by, _ in self._quiet]
            quiet_looks = sum(looks for _, _, looks in self._quiet)
            self._grid = find_grid(list(self._changes), quiet, hint, slack, quiet_looks)
            found: RefreshGrid | RelayPhase | None = self._grid
            # an earlier kernel's cycle is followed from until this kernel's looks confirm it
            probation = self._cycle_on_probation()
            checking = probation is not None
            start = probation or self._phase or self._grid or self._relay_cycle
            if self._grid_expected and start is not None:
                writing = min(
                    _MARGIN_SHARE * start.period, max([GRID_TICK_MARGIN_S, *self._margins])
                )
                self._phase = follow_relay(self._changes, quiet, start, writing, strict=checking)
                if (
                    checking
                    and self._phase is None
                    and follow_relay(self._changes, quiet, start, writing)
                ):
                    # a refresh came far from where the cycle has it, or none came when it
                    # had one: not the relay's cycle any more (its sleep changed, another
                    # answers at its address); the grid is found again as in a first kernel
                    self._relay_cycle = self._followed = None
                elif checking and len(self._changes) >= 2:
                    self._cycle_confirmed = True  # two refreshes came as it has them
                followed = self._phase or self._grid
                if followed is not None:
                    self._followed = cycle_of(followed, writing)
                found = self._phase or self._grid
            self._grid_memo = (found,)
        return self._grid_memo[0]


@dataclass
class TaskRhythm:
    """One task's observed changes, and the window in which its next poll is useful.

    Every change is known only to lie between the last look that showed the old state and the
    first look that showed the new one. Intersecting those brackets over every pair of steps
    pins the step interval down even from coarse looks, as long as the steps are regular; when
    they are not, the intersection empties and the latest pair alone is kept.
    """

    action: str
    relaxed: bool
    observed_at: float  # monotonic time of the latest observation (poll or push)
    status: Status = Status.UNKNOWN
    progress: int = 0
    change_low: float = 0.0  # the latest change happened after this …
    change_high: float = 0.0  # … and no later than this
    status_since: float = 0.0
    interval_low: float | None = None  # the step interval lies in [interval_low, interval_high]
    interval_high: float | None = None
    poll_now: bool = False
    first_seen: float = 0.0  # when tracking (re)started
    # jobs of its kind had a known length before it was tracked (a later batch, or a rhythm
    # kept from an earlier kernel): its result's looks may be further apart (``lag_budget``)
    warm: bool = False
    submitted_at: float | None = None  # the job's submit on this clock, when known
    seed: float | None = None  # a first guess of the step interval: the wait for the first step
    # (step number, seen after, seen by) of each observed progress step, to anchor the next one
    steps: deque[tuple[int, float, float]] = field(default_factory=lambda: deque(maxlen=8))
    _memo: tuple[tuple, tuple[float, float] | None] | None = field(default=None, repr=False)

    @classmethod
    def start(
        cls,
        task: Task,
        now: float,
        relaxed: bool,
        poll_now: bool = False,
        submitted_ago: float | None = None,
        server: ServerRhythm | None = None,
    ) -> TaskRhythm:
        """``submitted_ago``: seconds since the job's submit, when known (its submit time);
        ``server``: its server's rhythm as learnt so far (whether the task starts warm)."""
        action = task.action.upper()
        return cls(
            action=action,
            relaxed=relaxed,
            observed_at=now,
            status=task.status,
            progress=task.progress,
            change_low=now,
            change_high=now,
            status_since=now,
            poll_now=poll_now,
            first_seen=now,
            submitted_at=None if submitted_ago is None else now - max(0.0, submitted_ago),
            warm=server is not None and server.shortest_length(action, relaxed) is not None,
        )

    @property
    def fresh_submit(self) -> float | None:
        """Its submit time, if tracking began right after it (then this process submitted it,
        and the time is on this clock, not a server's); else None."""
        submitted = self.submitted_at
        if submitted is None or self.first_seen - submitted > _FRESH_SUBMIT_S:
            return None
        return submitted

    @property
    def change_mid(self) -> float:
        return (self.change_low + self.change_high) / 2

    @property
    def change_width(self) -> float:
        return self.change_high - self.change_low

    def observe(
        self,
        task: Task,
        now: float,
        changed: bool,
        server: ServerRhythm,
        seen_unchanged_at: float | None = None,
    ) -> None:
        """Learn from one observation. A change happened after the last time the old state was
        seen (``seen_unchanged_at``, default the previous observation) and before ``now``."""
        self.poll_now = False
        if not changed:
            self.observed_at = now
            return
        low = self.observed_at if seen_unchanged_at is None else seen_unchanged_at
        if _is_running_status(self.status) or self.status is Status.NOT_START:
            advance = task.progress - self.progress
            if task.status is Status.IN_PROGRESS and advance > 0 and self.progress > 0:
                # a step missed between two looks shows as a double jump: count the steps
                server.learn_advance(advance)
                steps = max(1, round(advance / (server.step_size() or advance)))
                number = (self.steps[-1][0] if self.steps else 0) + steps
                self.steps.append((number, low, now))
                bracket = _step_bracket(self.steps)
                if bracket is not None:  # None: its first step seen (tracked from mid-way)
                    self.interval_low, self.interval_high = bracket
                interval = self._own_interval()
                if interval is not None:
                    server.learn_interval(self.action, interval, task.id)
                else:
                    rough_low = (low - self.change_high) / steps
                    rough_high = (now - self.change_low) / steps
                    middle = (rough_low + rough_high) / 2
                    if middle > 0 and rough_high - rough_low <= 1.2 * middle:
                        server.learn_rough(middle)
            elif task.status is Status.IN_PROGRESS and advance > 0:
                # the first step: the wait since the start seeds the step interval
                start = self.change_mid if self.status_since > self.first_seen else self.first_seen
                middle = (low + now) / 2 - start
                if middle > 0:
                    self.seed = middle
                    if now - low <= 1.2 * middle:
                        server.learn_rough(middle)
                self.steps.clear()
                self.steps.append((0, low, now))
            if task.status is Status.SUCCESS and self.submitted_at is not None:
                interval = self.interval(server)
                if server.grid_expected:
                    # at a relay a result shows at the first refresh after the job's end, up to
                    # a period later: the looks' times say little of its length (a first batch
                    # on the real clock learnt none), the server's own submit and finish times
                    # say it exactly
                    length = _server_length(task)
                    if length is not None:
                        server.learn_length(self.action, self.relaxed, length, self.submitted_at)
                elif interval is None or now - low <= max(
                    _LENGTH_BRACKET_SHARE * interval, _LENGTH_BRACKET_FLOOR_S
                ):
                    server.learn_length(
                        self.action, self.relaxed, low - self.submitted_at, self.submitted_at
                    )
            if task.is_done and self.progress >= FINAL_STEP_PROGRESS:
                interval = self.interval(server)
                gap_low, gap_high = low - self.change_high, now - self.change_low
                if interval and gap_high - gap_low <= 0.3 * interval:
                    server.learn_final_ratio((gap_low + gap_high) / 2 / interval)
        if task.status is not self.status:
            self.status_since = now
        self.status, self.progress = task.status, task.progress
        self.change_low, self.change_high = low, now
        self.observed_at = now

    def _own_interval(self, precision: float = 0.5) -> float | None:
        if self.interval_low is None or self.interval_high is None:
            return None
        middle = (self.interval_low + self.interval_high) / 2
        if middle <= 0 or self.interval_high - self.interval_low > precision * middle:
            return None
        return middle

    def interval(self, server: ServerRhythm) -> float | None:
        """Seconds between this task's progress steps: its own if known, else the server's."""
        return self._own_interval() or server.interval(self.action) or self.seed

    def expected_earliest(self, server: ServerRhythm) -> float | None:
        """The earliest time the next change can plausibly happen (None: no rhythm known)."""
        interval = self.interval(server)
        if interval is None or not _is_running_status(self.status):
            return None
        ratio = server.final_ratio() if self.progress >= FINAL_STEP_PROGRESS else 1.0
        spread = server.spread() * ratio * interval
        return self._not_before_end(
            self.change_mid + ratio * interval - spread - self.change_width / 2, server
        )

    def _length_known(self, server: ServerRhythm) -> bool:
        """Jobs of its kind have a known length from their submit, and its submit is known."""
        return (
            self.submitted_at is not None
            and server.shortest_length(self.action, self.relaxed) is not None
        )

    def _not_before_end(self, earliest: float, server: ServerRhythm) -> float:
        """When the next change is the result: not before the shortest job of its kind could
        end (coarse looks mid-way leave the last step's time, so the result's, vague)."""
        if self.progress < FINAL_STEP_PROGRESS:
            return earliest
        result = self.result_not_before(server)
        return earliest if result is None else max(earliest, result)

    def result_not_before(self, server: ServerRhythm) -> float | None:
        """The earliest its result can show: its submit plus the shortest job of its kind. None
        while its submit or the length of its kind is not known."""
        shortest = server.shortest_length(self.action, self.relaxed)
        if shortest is None or self.submitted_at is None:
            return None
        return self.submitted_at + shortest

    def predict(self, server: ServerRhythm) -> tuple[float, float] | None:
        """(earliest, latest) time of the next change, anchored on every observed step.

        Steps come one interval apart, so each step seen within [after, by] also pins the latest
        step's time; intersecting them over the plausible intervals narrows a bracket far below
        the gap between two looks. None while fewer facts are known.
        """
        if self.status is not Status.IN_PROGRESS or not self.steps:
            return None
        final = self.progress >= FINAL_STEP_PROGRESS
        key = (
            self.steps[-1],
            len(self.steps),
            server.interval(self.action),
            final,
            server.final_ratio() if final else 1.0,
            server.spread(),
            self._length_known(server),
        )
        if self._memo is not None and self._memo[0] == key:
            return self._memo[1]
        result = self._predict(server, final)
        self._memo = (key, result)
        return result

    def _predict(self, server: ServerRhythm, final: bool) -> tuple[float, float] | None:
        steps = list(self.steps)
        known = server.interval(self.action)
        if known is None:
            low, high = 0.05, 1e9
        elif self._length_known(server):
            low, high = known * 0.5, known * 1.6
        else:  # a first batch: about the server's pace
            share = max(_FIRST_BATCH_INTERVAL_SHARE, 1.5 * server.spread())
            low, high = known * (1 - share), known * (1 + share)
        if len(steps) == 1:
            if known is None:
                return None
            margin = max(0.1, server.spread())
            low, high = known * (1 - margin), known * (1 + margin)
        else:
            for attempt in range(2):
                bracket = _pairs_bracket(steps, low, high)
                if bracket is not None:
                    low, high = bracket
                    break
                steps = steps[-2:]  # irregular: keep only the latest pair
                if attempt or len(self.steps) == 2:
                    return None
        if high >= 1e9:
            return None
        ratio = server.final_ratio() if final else 1.0
        slack = (0.03 if server.final_ratio_known() else 0.06) if final else 0.0
        last = steps[-1][0]
        earliest, latest = float("inf"), float("-inf")
        for i in range(13):
            interval = low + (high - low) * i / 12
            at_low = max(after + (last - n) * interval for n, after, _ in steps)
            at_high = min(by + (last - n) * interval for n, _, by in steps)
            if at_low > at_high + 1e-6:
                continue
            earliest = min(earliest, at_low + (ratio - slack) * interval)
            latest = max(latest, at_high + (ratio + slack) * interval)
        if earliest > latest:
            return None
        return earliest, latest

    def quiet_limit(self, server: ServerRhythm) -> tuple[float, float]:
        """(seconds without a change after which this task is overdue, seconds its server
        usually takes between changes). Running: ``OVERDUE_STEPS`` steps (the final gap counts
        as its ratio of a step); queued, or no status yet: ``QUEUED_STEPS`` steps, and never
        under half a minute."""
        interval = self.interval(server)
        # SUBMITTED at 0 % is a job waiting for a slot (the proxies' queue), not yet stepping
        if _is_running_status(self.status) and (
            self.status is Status.IN_PROGRESS or self.progress > 0
        ):
            if interval is None:
                return _OVERDUE_UNKNOWN_RUNNING_S, _OVERDUE_UNKNOWN_RUNNING_S / OVERDUE_STEPS
            ratio = server.final_ratio() if self.progress >= FINAL_STEP_PROGRESS else 1.0
            expected = interval * max(1.0, ratio)
            return max(_OVERDUE_FLOOR_S, OVERDUE_STEPS * expected), expected
        if interval is None:
            return _OVERDUE_UNKNOWN_QUEUED_S, _OVERDUE_UNKNOWN_QUEUED_S / QUEUED_STEPS
        return max(_OVERDUE_QUEUED_FLOOR_S, QUEUED_STEPS * interval), interval

    def overdue(self, now: float, server: ServerRhythm) -> tuple[float, float] | None:
        """(seconds without a change, seconds usually between changes) when the task has been
        silent for much longer than its server's rhythm predicts; None while it is not (or is
        no longer pending)."""
        if self.status not in (Status.NOT_START, Status.SUBMITTED, Status.IN_PROGRESS) and (
            self.status is not Status.UNKNOWN
        ):
            return None
        quiet = now - self.change_mid
        limit, expected = self.quiet_limit(server)
        return (quiet, expected) if quiet > limit else None

    def window(self, now: float, server: ServerRhythm, pushed: bool) -> tuple[float, float]:
        """(earliest, latest) monotonic times for the next poll of this task.

        Polling before ``earliest`` is wasted on this task; after ``latest`` the lag we accept for
        its next change is exceeded. The planner polls at the earliest ``latest`` of all tasks.
        """
        last = self.observed_at
        if self.poll_now:
            return (now, now)
        interval = self.interval(server)
        if pushed:  # the server pushes to us: polling is only the safety net for a lost push
            safety = min(15.0, max(2.0, 3 * (interval or 2.0)))
            return (last + safety / 2, last + safety)
        waiting = not _is_running_status(self.status) or self.progress == 0
        if waiting and (interval is None or self.status is not Status.SUBMITTED):
            # queued, or started on a server whose rhythm is unknown: one early look, then slow
            cap = 10.0 if self.relaxed else 5.0
            age = max(last - self.first_seen, 0.25 * (now - self.first_seen))
            gap = min(cap, max(0.2, 2 * age))  # probes at 0.2, 0.6, 1.8, 5.4 … then 5 s
            if interval is not None:  # a fast server starts and ends jobs fast, too
                gap = min(gap, max(4 * interval, 0.1))
            return (last + gap / 2, last + gap)
        if waiting and interval is not None:  # started, rhythm known: a step away
            gap = max(lag_budget(0, interval), 0.1)
            return (last + gap / 2, last + gap)
        predicted = self.predict(server)
        if predicted is not None and interval is not None:
            length_known = self._length_known(server)
            step = lag_budget(self.progress, interval, length_known, self.warm)
            earliest, latest = predicted
            earliest = self._not_before_end(earliest, server)
            latest = max(latest, earliest)
            if self.progress >= FINAL_STEP_PROGRESS and not length_known:
                # a result seldom falls in its window's first fifth: its looks start there
                earliest += _RESULT_WINDOW_SKIP * (latest - earliest)
            if last < earliest:  # the next change cannot have happened yet: look just after it
                return (earliest, earliest + step)
            if now <= latest + step:
                return (last + step / 2, last + step)
            overdue = max(0.0, last - latest)  # from the last look, so the wake never recedes
            gap = min(max(step, 5.0), step * (1 + overdue / interval))
            return (last + gap / 2, last + gap)
        expected = self.expected_earliest(server)
        if interval is None or expected is None:  # rhythm unknown: a look every few seconds
            gap = min(5.0, max(2.5, 0.5 * (now - self.change_mid)))
            return (last + gap / 2, last + gap)
        step = lag_budget(self.progress, interval, self._length_known(server))
        if last < expected:  # the next change cannot have happened yet: look just after it
            return (expected, expected + step)
        overdue = max(0.0, last - expected)  # late (a stuck task?): back off slowly, up to 5 s
        gap = min(max(step, 5.0), step * (1 + overdue / interval))
        return (last + gap / 2, last + gap)


_Step = tuple[int, float, float]  # (step number, seen after, seen by)


def _pairs_bracket(
    steps: Sequence[_Step], low: float = 0.0, high: float = float("inf")
) -> tuple[float, float] | None:
    """The step intervals that every pair of observed steps allows, within [low, high]: steps
    ``count`` apart, seen within [after, by] each, are between (after₂ − by₁) / count and
    (by₂ − after₁) / count apart. None when no interval fits them all (irregular steps)."""
    steps = list(steps)  # a deque does not slice
    for a, first in enumerate(steps):
        for second in steps[a + 1 :]:
            count = second[0] - first[0]
            low = max(low, (second[1] - first[2]) / count)
            high = min(high, (second[2] - first[1]) / count)
    return (low, high) if low <= high else None


def _step_bracket(steps: Sequence[_Step]) -> tuple[float, float] | None:
    """A task's step interval from its observed steps: what every pair of them allows, or
    when the steps were irregular, what the latest two allow. None from a single step."""
    if len(steps) < 2:
        return None
    bracket = _pairs_bracket(steps) or _pairs_bracket(list(steps)[-2:])
    assert bracket is not None  # one pair always fits: after ≤ by
    return bracket


def _seconds(values: Any) -> list[float]:
    """The positive numbers of a remembered list (a hand-edited or older file may hold more)."""
    if not isinstance(values, list):
        return []
    return [float(v) for v in values if isinstance(v, (int, float)) and 0 < v < 86_400]


def _server_length(task: Task) -> float | None:
    """Seconds from the job's submit to its finish on the server's own clock (None: not told)."""
    if task.submit_time is None or task.finish_time is None:
        return None
    seconds = (task.finish_time - task.submit_time).total_seconds()
    return seconds if seconds > 0 else None


def _is_running_status(status: Status) -> bool:
    return status in (Status.SUBMITTED, Status.IN_PROGRESS)


def lag_budget(
    progress: int, interval: float, length_known: bool = False, warm: bool = False
) -> float:
    """How late we may see the next change: little for the result, more for mid-way steps —
    and more still once jobs of its kind have a known length (the result's window is then
    anchored on the submit, not on how precisely the steps before it were seen). ``warm``: the
    length was known before the task was tracked."""
    if progress >= FINAL_STEP_PROGRESS and warm:
        # A warm batch spends ~6 looks before its results, not ~14: each look for a result is
        # worth more, and lag × requests is least with them further apart — (g/2 + c)(n₀ + S/g)
        # is least at g = √(2cS/n₀), 0.47 s at speed 7 for a batch's S = 10.6 s of results. In
        # the model of a batch of 100 (12 seeds, third batch, 10 ms of jitter), 7.5 % against
        # 5.5 %: real clock 28 looks at lag p50 0.28 s against 34 at 0.22 s (trueai-2s: 29 at
        # 0.97 s); speed 7 lag × requests 10.8 against 10.9 (stepped 13.1; with no jitter
        # 9.6 against 8.9, stepped 12.1). Measured on the real clock (3 warm batches): 27–28
        # looks at 0.23–0.27 s; trueai-2s 29 at 1.05 s. A first batch keeps 5.5 %: with its
        # ~14 looks mid-way, wider gaps cost more lag than they saved looks (speed 7: lag ×
        # requests 11.4 against 10.5) (benchmarks/README.md, "Issue 18")
        return min(0.5, max(0.03, 0.075 * interval))
    if progress >= FINAL_STEP_PROGRESS:  # the result: what the goals are about
        # 5.5 % of a step (0.39 s of Midjourney's 7 s): looks that far apart see half the
        # results within about half of it, plus a round trip (the goal: 0.3 s). In the model of
        # a batch of 100 (15 seeds), 5 % → 5.5 % took 39 → 36 looks for lag p50 0.22 → 0.25 s
        # at speed 7 and 37 → 35 for 0.21 → 0.22 s on the real clock; at 6.5 % lag reached
        # 0.28 s and the first batch's lag × requests lost more than the looks saved
        # (benchmarks/README.md, "Issue 18")
        return min(0.5, max(0.03, 0.055 * interval))
    if progress >= _NEAR_END_PROGRESS:  # the last step anchors the result's window
        # 0.7 of a step (4 s at most): in the model of a batch of 100 (20 seeds each; 7 ms
        # round trips with 3 ms of jitter, and 10 ms with 10), 0.45 → 0.7 lowered a first
        # batch's lag × requests 11.8 → 10.9 and 13.3 → 12.9 at speed 7, 8.8 → 7.7 and
        # 8.2 → 8.0 on the real clock, a later batch's 12.1 → 11.1 and 13.2 → 12.7 at speed 7
        # (7.1 → 7.3 and 7.3 → 7.4 on the real clock): the result's window is set by where the
        # last step was seen, and a look more before it bought less than it cost
        return min(4.0, max(0.1, 0.7 * interval))
    if length_known:  # progress may show a step late
        return min(16.0, max(0.1, 2.0 * interval))
    return min(8.0, max(0.1, 1.0 * interval))  # progress may show a few seconds late


def watched_since(last_answer: float, tracking_starts: Iterable[float]) -> float:
    """Since when every pending task has been watched: the last batched look's answer (a
    refresh while it was on its way counts as seen), or, for a task tracked after it, its start
    of tracking — the earliest of those, so that a task submitted meanwhile does not hide a
    refresh that the tasks already pending have not been shown yet (on a refresh grid, their
    results would wait a whole period more)."""
    return max(last_answer, min(tracking_starts, default=last_answer))


MIN_POLL_GAP_S = 0.03  # never two looks closer than this
_FRESH_SUBMIT_S = 5.0  # tracked this soon after its submit: the submit time is ours


def results_from(tasks: Iterable[TaskRhythm], server: ServerRhythm) -> float | None:
    """The earliest any of ``tasks``' results can show (``TaskRhythm.result_not_before``; None
    when that is not known for every one of them)."""
    earliest: float | None = None
    for task in tasks:
        at = task.result_not_before(server)
        if at is None:
            return None
        earliest = at if earliest is None else min(earliest, at)
    return earliest


def next_poll(
    windows: Iterable[tuple[float, float]],
    server: ServerRhythm,
    now: float,
    last_poll: float,
    seen_since: float | None = None,
    results_from: float | None = None,
    fresh: bool = False,
) -> float:
    """When the poller looks next: the earliest ``latest`` among the pending tasks' windows;
    on a server with a refresh grid, just after each refresh instead (nothing changes between
    refreshes; every refresh may bring results).
    ``seen_since``: since when every pending task has been watched (the last look, or a later
    start of tracking: a refresh before it shows the new tasks nothing). ``results_from``: the
    earliest any pending task's result can show (``TaskRhythm.result_not_before``; None: not
    known for every one); ``fresh``: every pending task was tracked after the last look's
    answer (a new batch)."""
    wake = min((latest for _, latest in windows), default=now + 5.0)
    since = max(last_poll, seen_since or last_poll)
    grid = server.grid()
    if grid is not None:
        quiet = server.quiet_until(last_poll)
        if quiet is not None:  # the last look saw nothing move
            since = min(since, quiet)
        wake = grid.look_for(since, server.tick_margin(), results_from, fresh)
        check = server.cycle_check_due(since)
        if check is not None:  # an earlier kernel's cycle, not yet seen to hold
            wake = min(wake, check)
        rest = server.rest_due()
        if rest is not None:  # the last look saw a refresh's rows only in part
            # (looked for even when only progress can be in them: left for the next refresh,
            # what moved by its look was that rest and the next refresh's rows, taken for all
            # of the next one, and the rest of that one waited a whole cycle, results too)
            wake = min(wake, rest)
    elif server.grid_expected:
        wake = min(wake, since + server.discovery_gap())
    return max(wake, last_poll + MIN_POLL_GAP_S)
