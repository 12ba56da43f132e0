"""A new-api relay's refresh cycles, followed look by look: when its next refresh writes our rows.

Pure (no clock, no I/O), like ``refreshgrid``, which finds the refresh grid first. A new-api
relay sleeps 15 s, reads its unfinished tasks from the upstream, writes each changed row one
after another, and sleeps again; with nothing unfinished it sleeps again at once
(controller/midjourney.go, UpdateMidjourneyTaskBulk). So its refreshes are not on a fixed
clock: from the last row one cycle writes to the first the next one writes (the *gap*) is the
sleep and an upstream round trip, and the cycles vary by that round trip. A period fitted to
every refresh seen is their mean: carried forward, it put a relay's next refresh where it was
not (a later batch on the model's real clock: predicted at 45.53–45.76 s, it came at 45.78),
and once a look sent there saw nothing, no grid fitted and the looks went every 2 s for a
whole period. So here each refresh is predicted from the one before.

A refresh is known by when it wrote the first of our rows, and the last. Each look at every
pending task brackets one: a look that saw tasks move (all those in progress: all its rows
were written by the answer; some: it read the server while they were being written, and what
moves by the next look is their rest — a new refresh moves every task in progress); a look
that saw none move (no refresh yet). The server's own finish times of the results a look saw
first pin the refresh that showed them: it read the upstream after they finished, and the
refresh before it before the earliest of them did.

Where to look (``RelayPhase.look_for``): for a refresh that can bring no result, one look — in
the middle of its bracket when the refresh before was seen whole (seen or not, it halves the
bracket the next refresh is predicted from), else once it certainly came (so that what moves
by the look after comes with the next one); after one that saw nothing, the next refresh's
look, once that one certainly came (or this one's, when the next may bring results). For a
refresh that may bring results, looks sweep its bracket from its earliest time, a step apart.
A look never sees two refreshes' rows at once where one may hold results: every task would
move, the later refresh be taken for all written, and the rest of its rows wait a cycle.

The gaps hold from one kernel to the next (``RelayCycle``, kept with the server's facts): a new
kernel follows the relay from the first refresh its looks see (``cadence.ServerRhythm``), not
from a grid, which takes four refreshes to find.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, replace

from .refreshgrid import Change, RefreshGrid

__all__ = ["RelayCycle", "RelayPhase", "cycle_of", "follow_relay", "RELAY_SLEEP_S"]

# new-api's loop sleeps this long after each cycle's work (time.Sleep(15 s)). A relay whose gaps
# are shorter (a simulated one, run faster) sleeps less, by an amount not known here.
RELAY_SLEEP_S = 15.0
_IDLE_CYCLE_EXTRA_S = 0.01  # an idle cycle: the sleep and one database query
WRITING_SHARE = 0.02  # our rows take at most this share of a cycle to write (100 at 2 ms: 0.2 s)
GAP_FLOOR_SHARE = 0.015  # the gaps' range: at least this share of a cycle wide
# Where in its bracket a refresh that can bring no result is looked at; and how far apart (a
# share of a cycle) the looks sweeping one that may bring results go. In the model of a third
# batch of 100 (benchmarks/cadence_model.py, 32 seeds, real clock), steps of 2, 3, 4 and 5 %
# took 1.81, 1.52, 1.42 and 1.39 requests a refresh (mean) for results seen 0.11, 0.24, 0.31
# and 0.44 s after their rows (p50), within 0.3 s in 28, 22, 15 and 11 of the 32 batches; at
# speed 7 within 0.3 s × 7 in 23, 22, 10 and 12 (benchmarks/README.md, "A relay's refreshes
# followed one by one").
PROGRESS_LOOK_AT = 0.5
RESULT_STEP_SHARE = 0.03
_PRECISE_SHARE = 0.1  # a gap bracketed this precisely (of a cycle) teaches the range
_LOST_SHARE = 0.1  # a refresh this share of a cycle later than its latest time: phase lost
_KNOWN_SHARE = 0.25  # the latest refresh bracketed more roughly than this: not followed
_CLOCK_SLACK_S = 0.02  # a server's finish time, read on this clock
_MIN_LEAD_S = 0.03


@dataclass(frozen=True)
class RelayCycle:
    """A relay's gaps between refreshes (from a refresh's last row to the next one's first): its
    sleep and its upstream's round trip. They hold from one kernel to the next, and are kept;
    where its refreshes are (the phase) does not."""

    gap_low: float
    gap_high: float

    @property
    def period(self) -> float:
        return (self.gap_low + self.gap_high) / 2


@dataclass(frozen=True)
class RelayPhase:
    """Where a relay's refreshes are: the latest one seen wrote our first row in
    [``first_low``, ``first_high``] and all of them by ``last_high``; ``whole``: a look saw all
    of them (what moves next comes with a later refresh); ``not_before``: looks saw no later
    refresh until then. From a refresh's last row to the next one's first: ``gap_low`` to
    ``gap_high``; an idle cycle (nothing unfinished) lasts ``sleep_low`` to ``sleep_high``; our
    rows' writing takes up to ``writing``."""

    first_low: float
    first_high: float
    last_high: float
    whole: bool
    gap_low: float
    gap_high: float
    sleep_low: float
    sleep_high: float
    writing: float
    not_before: float | None = None

    @property
    def period(self) -> float:
        """A busy cycle's typical length (first row to first row)."""
        return (self.gap_low + self.gap_high) / 2 + self.writing / 2

    def first(self, m: int, idle: bool = False) -> tuple[float, float]:
        """(earliest, latest) first row of the ``m``-th refresh after the latest seen. ``idle``:
        the relay may have had nothing to do since (new tasks after a pause): the cycles before
        that refresh's may have been its sleep alone."""
        low = self.first_low + self.gap_low
        high = self.last_high + self.gap_high
        if idle:
            return low + (m - 1) * self.sleep_low, high + (m - 1) * self.sleep_high
        if self.not_before is not None and self.not_before > low:
            late = max(0.0, self.not_before - high)  # past its range: searched for, ever wider
            low = self.not_before
            high = max(high, low + self.gap_high - self.gap_low + late)
        return low + (m - 1) * self.gap_low, high + (m - 1) * (self.gap_high + self.writing)

    def look_for(
        self,
        last_look: float,
        margin: float,
        results_from: float | None = None,
        fresh: bool = False,
    ) -> float:
        """When to look next (the module's docstring says why). ``last_look``: since when every
        pending task has been watched; ``margin``: how long after a refresh's first row a look
        sees all its rows; ``results_from``: the earliest a pending result can show (None: not
        known); ``fresh``: every pending task was submitted since the last look (the relay may
        have idled: they are read by the first cycle that wakes after them)."""

        def at_least(t: float) -> float:  # never two looks closer than _MIN_LEAD_S
            if t <= last_look:
                # a look went there and proved nothing (no task in progress: a queued one
                # need not move at a refresh): the next a sweep's step on, not at once again
                return last_look + RESULT_STEP_SHARE * self.period
            return max(last_look + _MIN_LEAD_S, t)

        if fresh:
            # the first refresh that certainly read them (its cycle woke after them), after its
            # latest time: it is then the latest refresh that look saw
            m = 1
            while self.first(m, True)[0] - (self.gap_high - self.sleep_low) < last_look:
                m += 1
            return at_least(self.first(m, True)[1] + margin)
        low, high = self.first(1)
        may_bring = results_from is None or high + margin >= results_from
        if not may_bring and self.not_before is not None:
            # a look went for it and saw nothing: the next one's, once it certainly came; or,
            # when that one may bring results, this one's, once it certainly came (a look
            # sweeping the next would see every task moved by this one's rows, the next one's
            # taken for all written, and its rest — results too — waited a whole cycle)
            next_high = self.first(2)[1]
            if results_from is not None and next_high + margin < results_from:
                return at_least(next_high + self.writing + margin)
            return at_least(high + self.writing + margin)
        if not may_bring:
            if self.whole:
                return at_least(low + PROGRESS_LOOK_AT * (high - low))
            return at_least(high + self.writing + margin)
        # it may bring results: looks sweep its bracket from its earliest time, a step apart (a
        # result is seen within a step of its row's writing), and after its latest time
        step = RESULT_STEP_SHARE * self.period
        return at_least(min(max(low, last_look) + step, high + margin))


def follow_relay(
    changes: Iterable[Change],
    quiet: Iterable[tuple[float, float]],
    start: RefreshGrid | RelayPhase | RelayCycle,
    writing: float,
    sleep: float | None = RELAY_SLEEP_S,
    strict: bool = False,
) -> RelayPhase | None:
    """The relay's phase, from its looks in order: ``changes`` (looks that saw tasks move),
    ``quiet`` (stretches in which looks saw none move while tasks were in progress).
    ``start``: the grid found before, the phase followed before or an earlier kernel's cycle
    (their gaps, ``cycle_of``); ``writing``: how long our rows were seen to take to write;
    ``sleep``: the relay's sleep, if known. The gaps' range is then learnt from the refreshes
    followed (``_gap_range``), and the looks followed again with it. None when no look saw a
    refresh, or the latest is not known well enough (or came so late that the phase is lost):
    the grid serves then. ``strict``: the gaps are not yet known to hold (an earlier kernel's):
    None also when a refresh came far outside them, or none came long after they had one."""
    looks = sorted(changes, key=lambda c: c.by)
    writing = max(writing, WRITING_SHARE * start.period)  # an upper bound, unless seen longer
    stretches = sorted(quiet)
    first_guess = cycle_of(start, writing)
    gap = (first_guess.gap_low, first_guess.gap_high)
    phase: RelayPhase | None = None
    for _ in range(3):
        followed = _follow(looks, stretches, gap, writing, sleep, strict)
        if followed is None:
            break  # (the phase followed with the range before stands)
        phase, seen = followed
        learnt = _gap_range(seen, gap)
        if learnt is None or learnt == gap or learnt[1] < gap[0] or learnt[0] > gap[1]:
            break  # (a range apart from the one it was learnt with: a refresh numbered wrong)
        gap = learnt
    return phase


def cycle_of(start: RefreshGrid | RelayPhase | RelayCycle, writing: float) -> RelayCycle:
    """The gaps' range a relay is followed with: a phase's (or a cycle's) own; a grid's
    period less the rows' ``writing`` (or 10 %, if less) to its period."""
    if isinstance(start, RelayCycle):
        return start
    if isinstance(start, RelayPhase):
        return RelayCycle(start.gap_low, start.gap_high)
    return RelayCycle(max(start.period_low - writing, start.period_low * 0.9), start.period_high)


def _sleep_range(gap: tuple[float, float], sleep: float | None) -> tuple[float, float]:
    """An idle cycle's length: the relay's sleep when known (and its gaps not shorter); else
    no longer than the shortest gap, and shorter by at most the gaps' spread."""
    if sleep is not None and gap[1] >= sleep:
        return sleep, sleep + _IDLE_CYCLE_EXTRA_S
    return gap[0] - (gap[1] - gap[0]), gap[0]


def _follow(
    looks: list[Change],
    quiet: list[tuple[float, float]],
    gap: tuple[float, float],
    writing: float,
    sleep: float | None,
    strict: bool = False,
) -> tuple[RelayPhase, list[list[float]]] | None:
    """Follow the looks in order: the phase after the last, and each refresh seen as [its number
    in cycles from the first, earliest and latest first row, latest last row]."""
    sleep_low, sleep_high = _sleep_range(gap, sleep)
    if sleep is not None and sleep_low == sleep:
        gap = (max(gap[0], sleep), gap[1])  # no gap is shorter than the sleep
    events: list[tuple[float, int, Change | None, float, float]] = [
        (b, 0, None, a, b) for a, b in quiet
    ]
    events += [(c.by, 1, c, c.after, c.by) for c in looks]
    phase: RelayPhase | None = None
    number = 0
    seen: list[list[float]] = []
    for _, _, change, a, b in sorted(events, key=lambda e: e[:2]):
        if change is None:  # no refresh between a and b
            if phase is None or b <= phase.last_high:
                continue
            if phase.not_before is None or b > phase.not_before:
                late = b > phase.first(1)[1] + _LOST_SHARE * phase.period
                if late and (phase.whole or strict):
                    return None  # so late that the cycles are not what was learnt
                phase = replace(phase, not_before=b)
            continue
        low, high = a, b
        if change.finished is not None:
            # the refresh that showed these results read the upstream after they finished
            low = max(low, change.finished[1] - _CLOCK_SLACK_S)
        last = b if change.whole else change.rest_by
        if phase is None:
            phase = RelayPhase(
                low, max(low, high), last or high + writing,
                change.whole or change.rest_by is not None,
                gap[0], gap[1], sleep_low, sleep_high, writing,
            )  # fmt: skip
            seen.append([number, phase.first_low, phase.first_high, phase.last_high])
            continue
        idle = change.fresh
        if change.finished is not None and not idle:
            # ... and the refresh before it read the upstream before the earliest of them
            earliest = change.finished[0] + _CLOCK_SLACK_S
            if phase.first_low <= earliest < phase.first_high:
                phase = replace(phase, first_high=earliest)
        if not phase.whole and not idle and (not change.whole or phase.first(1)[0] > b):
            # the rest of the latest refresh's rows, not a new refresh (which moves every task
            # in progress, and cannot have come yet)
            phase = replace(phase, last_high=min(phase.last_high, b), whole=True)
            continue
        # the refreshes it may have seen came after the look before (or the submits, or the
        # results it showed finished) and by its answer: the latest of them if it more likely
        # came by then than not, else the one before it (one of them came: tasks moved)
        earliest = 1
        while phase.first(earliest, idle)[1] <= low:
            earliest += 1
        m = earliest
        while phase.first(m + 1, idle)[0] <= b:
            m += 1
        latest_low, latest_high = phase.first(m, idle)
        if m > earliest and b - latest_low < 0.5 * (latest_high + writing - latest_low):
            m -= 1  # more likely not to have come yet than to have come
        predicted_low, predicted_high = phase.first(m, idle)
        if m > 1 or idle or phase.whole:  # (else what moved since a may be the rest of one)
            predicted_low = max(predicted_low, a)
        new_low, new_high = max(predicted_low, low), min(predicted_high, high)
        if new_low > new_high:  # the cycles did not hold it: its own looks say where it was
            off = max(predicted_low - high, low - predicted_high)
            if strict and off > _LOST_SHARE * phase.period:
                return None  # not the cycles these gaps come from
            new_low, new_high = low, max(low, high)
        number += m
        phase = RelayPhase(
            new_low, new_high, max(new_high, min(last or new_high + writing, new_high + writing)),
            change.whole or change.rest_by is not None,
            phase.gap_low, phase.gap_high, phase.sleep_low, phase.sleep_high, writing,
        )  # fmt: skip
        seen.append([number, phase.first_low, phase.first_high, phase.last_high])
    if phase is None or phase.first_high - phase.first_low > _KNOWN_SHARE * phase.period:
        return None
    return phase, seen


def _gap_range(seen: list[list[float]], prior: tuple[float, float]) -> tuple[float, float] | None:
    """The narrowest range of gaps that holds every gap between two refreshes seen one after
    the other (from the last row of one to the first row of the next), at least
    ``GAP_FLOOR_SHARE`` of a cycle wide around the middle of those seen precisely; as wide as
    first guessed (``prior``) while none was. None when no two were seen one cycle apart."""
    period = sum(prior) / 2
    below: list[float] = []
    above: list[float] = []
    precise: list[float] = []
    for (i, first_low_i, _, last_high_i), (j, first_low_j, first_high_j, _) in zip(
        seen, seen[1:], strict=False
    ):
        low, high = first_low_j - last_high_i, first_high_j - first_low_i
        if j - i != 1 or high < 0.7 * period or low > 1.3 * period:
            continue  # not one after the other (or numbered a cycle off)
        below.append(low)
        above.append(high)
        if high - low <= _PRECISE_SHARE * period:
            precise.append((low + high) / 2)
    if not below:
        return None
    if not precise:
        return min(prior[0], min(above)), max(prior[1], max(below))
    middle = statistics.median(precise)
    half = GAP_FLOOR_SHARE * period / 2
    return min(min(above), middle - half), max(max(below), middle + half)
