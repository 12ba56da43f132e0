"""The shared refresh grid of a new-api relay: found from batched looks, and where to look on it.

Pure (no clock, no I/O), like ``cadence``, which uses it. A new-api relay shows every task only
as of its last refresh: every 15 s it reads its unfinished tasks from the upstream and writes
each changed row, one after another, then sleeps 15 s again (controller/midjourney.go,
UpdateMidjourneyTaskBulk), so its refreshes come 15 s plus that work apart. Between two
refreshes nothing can change, so a look is useful only just after one (and after its rows are
written): one request per refresh, and each result seen at once. Each look that saw tasks move
brackets a refresh; each look that saw none move (while tasks were in progress) says none lay
since the look before. The longest period that threads every bracket and leaves the quiet
stretches empty is the grid (its period a range: the refreshes drift within it); each refresh
is then pinned down further by the looks around it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["Change", "RefreshGrid", "find_grid", "MIN_GRID_PERIOD_S"]

MIN_GRID_PERIOD_S = 1.0  # a grid finer than this is not worth finding
# Look this long after the latest time a refresh can have happened. 10 ms was enough while every
# look went out ~3 ms late (p50; 7 ms p90: the poller planned again on waking); sent on time, one
# warm new-api batch in the 17:39 benchmark run had its look reach the server just before the
# refresh and saw its results a whole period late (benchmarks/README.md, "Issue 18").
GRID_TICK_MARGIN_S = 0.02
GRID_PRECISION_S = 0.04  # a refresh's bracket wider than this (or 1.5 % of the period) …
_GRID_PRECISION_SHARE = 0.015  # … is halved by a probe
GRID_PERIOD_SLACK = 0.05  # the period must be known to 5 % …
GRID_EXPECTED_SLACK = 0.2  # … or 20 % on a server known to refresh on a grid
_MIN_LEAD_S = 0.03  # a probe no closer than this to the last look
_GRID_MIN_TICKS = 4  # refreshes seen (spanning at least three periods)
_EPSILON = 1e-6  # seconds: a refresh on the very edge of a look is not a contradiction


class Change(NamedTuple):
    """A look that saw ``moved`` tasks move since the look before: a refresh lies in
    (``after``, ``by``], ``after`` being when the look before was sent (it may have read the
    server any time until its answer, ``opened_by``; None: not a look, as a submit).

    ``whole``: every task in progress moved, so the look saw the whole of one refresh, and what
    the next look sees move came with a later one. Without that, a bracket opened by a look
    sent just before a refresh's latest time was taken to perhaps hold that refresh, and the
    next look went to it again: a request wasted per refresh (a warm new-api batch on the real
    clock, benchmarks/README.md).

    For a relay's phase (``relayphase``): ``fresh``, none of
    the tasks was in progress at the look before (just submitted: the relay may have idled
    since its refresh before); ``finished``, (earliest, latest) of the server's own finish
    times, on this clock, of the results this look saw first; ``rest_by``, when a look after
    this one saw the rest of the refresh it saw in part."""

    after: float
    by: float
    moved: int
    opened_by: float | None = None
    whole: bool = False
    fresh: bool = False
    finished: tuple[float, float] | None = None
    rest_by: float | None = None


@dataclass(frozen=True)
class RefreshGrid:
    """A server that shows every task only as of its last refresh, refreshed for all tasks at
    once every ``period`` seconds (new-api relays: 15 s). One refresh happened in
    [``anchor_low``, ``anchor_high``]; the others lie whole periods before and after it.

    Why: between two refreshes nothing can change, so a look is useful only just after one;
    looking there costs one request per refresh and shows each result at once."""

    period_low: float
    period_high: float
    anchor_low: float
    anchor_high: float

    @property
    def period(self) -> float:
        return (self.period_low + self.period_high) / 2

    def tick(self, k: int) -> tuple[float, float]:
        """(earliest, latest) time of the ``k``-th refresh after the anchor (negative: before)."""
        if k >= 0:
            return self.anchor_low + k * self.period_low, self.anchor_high + k * self.period_high
        return self.anchor_low + k * self.period_high, self.anchor_high + k * self.period_low

    def next_index(self, after: float) -> int:
        """The first refresh a look at ``after`` may not have seen yet."""
        k = math.floor((after - self.anchor_high) / self.period)
        while self.tick(k - 1)[1] > after:
            k -= 1
        while self.tick(k)[1] <= after:
            k += 1
        return k

    def look_for(
        self,
        last_look: float,
        margin: float = GRID_TICK_MARGIN_S,
        results_from: float | None = None,
        fresh: bool = False,
    ) -> float:
        """When to look next: just after the first refresh a look at ``last_look`` may not have
        seen (every refresh gets its look while tasks are pending: one request per refresh,
        and no result waits for a second one). A refresh known only roughly gets probes in the
        middle of its bracket first: seen or not, each halves the bracket. ``margin``: how long
        after a refresh's latest start its rows are all written (``ServerRhythm.tick_margin``).
        (``results_from`` and ``fresh`` serve a relay's phase, ``RelayPhase.look_for``.)"""
        low, high = self.tick(self.next_index(last_look))
        middle = (low + high) / 2
        precision = max(GRID_PRECISION_S, _GRID_PRECISION_SHARE * self.period)
        if high - low > precision and middle > last_look + _MIN_LEAD_S:
            return middle
        return high + margin


def find_grid(
    changes: Iterable[Change | tuple[float, float, int]],
    quiet: list[tuple[float, float]],
    hint: float | None = None,
    slack: float = GRID_PERIOD_SLACK,
    quiet_looks: int | None = None,
) -> RefreshGrid | None:
    """The refresh grid that explains every batched look, or None when there is none (a live
    server) or too little evidence. ``hint``: the period found before, tried first.

    ``changes``: (after, by, count) of each look that saw ``count`` tasks move since the look
    before (a refresh lies in that bracket); ``quiet``: (after, by) of stretches in which looks
    saw nothing move although tasks were pending (no refresh lies there). A live server moves
    its tasks at scattered times: brackets that no single period threads, or no quiet. Of the
    periods that fit, the longest wins (a third of the true period fits every bracket too, but
    puts refreshes where looks saw nothing). ``slack``: how uncertain the period may be.
    ``quiet_looks``: how many quiet looks made ``quiet`` (consecutive ones make one stretch)."""
    movers = 1 if slack > GRID_PERIOD_SLACK else 2  # one task moving alone is a grid only
    looks = sorted((Change(*c) for c in changes), key=lambda c: c.by)
    if len(looks) < _GRID_MIN_TICKS or sum(1 for c in looks if c.moved >= movers) < 2:
        return None  # on a server known to have one: a live one's steps are periodic too
    quiet_count = len(quiet) if quiet_looks is None else quiet_looks
    if quiet_count < len(looks):  # a live server's tasks, many at once, move at most looks
        return None
    if hint is not None:
        grid = _fit_grid(looks, quiet, hint, slack)
        if grid is not None:
            return grid
    # the narrow brackets lie whole numbers of periods apart: from the first to the last, at
    # least one period per gap between them, at most a third of the shortest gap each
    widths = sorted(c.by - c.after for c in looks)
    narrow = [(c.after + c.by) / 2 for c in looks if c.by - c.after <= 2 * widths[len(widths) // 2]]
    gaps = [b - a for a, b in zip(narrow, narrow[1:], strict=False)]
    if not gaps or min(gaps) < MIN_GRID_PERIOD_S:
        return None
    span = narrow[-1] - narrow[0]
    most = min(len(gaps) + 60, round(3 * span / min(gaps)))
    for count in range(len(gaps), most + 1):  # the longest period that fits wins
        if span / count < MIN_GRID_PERIOD_S:
            break
        grid = _fit_grid(looks, quiet, span / count, slack)
        if grid is not None:
            return grid
    return None


def _fit_grid(
    changes: list[Change],
    quiet: list[tuple[float, float]],
    guess: float,
    slack: float,
) -> RefreshGrid | None:
    """Number the brackets by ``guess`` (those wider than half a period say too little) and fit
    a grid; then let every look narrow the refresh it bears on (a bracket holding only one
    refresh; a quiet stretch beside one) and fit again, until nothing narrows. None when a
    look contradicts the grid (a refresh where looks saw nothing move, a bracket with none)."""
    useful = [c for c in changes if c.by - c.after <= 0.5 * guess]
    if len(useful) < _GRID_MIN_TICKS:
        return None
    reference = min(useful, key=lambda c: c.by - c.after)
    middle = (reference.after + reference.by) / 2
    numbers = [round(((c.after + c.by) / 2 - middle) / guess) for c in useful]
    if any(later <= earlier for earlier, later in zip(numbers, numbers[1:], strict=False)):
        return None  # two brackets on one refresh: not this period
    if numbers[-1] - numbers[0] < _GRID_MIN_TICKS - 1:
        return None
    ticks = {number: (c.after, c.by) for c, number in zip(useful, numbers, strict=True)}
    grid = _grid_from_ticks(ticks, slack)
    for _ in range(4):
        if grid is None:
            return None
        narrowed = _narrow_ticks(grid, changes, quiet)
        if narrowed is None:
            return None
        if narrowed == ticks:
            break
        ticks = narrowed
        grid = _grid_from_ticks(ticks, slack)
    if grid is None or grid.anchor_high - grid.anchor_low > 0.5 * grid.period:
        return None
    return grid


def _narrow_ticks(
    grid: RefreshGrid, changes: list[Change], quiet: list[tuple[float, float]]
) -> dict[int, tuple[float, float]] | None:
    """Each refresh's (earliest, latest) once every look has narrowed the one it bears on: a
    bracket that can hold only one refresh, a quiet stretch beside one. None when a look
    contradicts the grid."""
    narrowed: dict[int, tuple[float, float]] = {}

    def narrow(k: int, low: float, high: float) -> None:
        old_low, old_high = narrowed.get(k, grid.tick(k))
        narrowed[k] = (max(low, old_low), min(high, old_high))

    shown: dict[float, int] = {}  # a look's answer → the one refresh it showed whole
    for a, b, _, opened_by, whole, *_ in changes:
        k = grid.next_index(a)
        if opened_by in shown:  # the look before showed that refresh: this is a later one
            k = max(k, shown[opened_by] + 1)
        if grid.tick(k)[0] > b + _EPSILON:
            return None  # no refresh where this look saw tasks move
        if grid.tick(k + 1)[0] > b:  # only refresh k can lie in (a, b]
            narrow(k, a, b)
            if whole:
                shown[b] = k
    for a, b in quiet:
        k = grid.next_index(a)
        low, high = grid.tick(k)
        while low <= b:
            if low > a + _EPSILON and high <= b - _EPSILON:
                return None  # a refresh would lie where looks saw nothing move
            if low > a:  # only (b, high] is left: a refresh at b itself was not seen either
                narrow(k, b + 2 * _EPSILON, high)
            elif high <= b:  # only [low, a] is left
                narrow(k, low, a)
            k += 1
            low, high = grid.tick(k)
    if any(low > high + _EPSILON for low, high in narrowed.values()):
        return None
    return {k: (low, max(low, high)) for k, (low, high) in narrowed.items()}


def _grid_from_ticks(ticks: dict[int, tuple[float, float]], slack: float) -> RefreshGrid | None:
    """The grid through refreshes numbered k, each within its (earliest, latest), anchored on
    the latest of them (so that the next refreshes are predicted from the nearest)."""
    if len(ticks) < 2:
        return None
    numbers = sorted(ticks)
    p_low, p_high = MIN_GRID_PERIOD_S, float("inf")
    for i, k_i in enumerate(numbers):
        low_i, high_i = ticks[k_i]
        for k_j in numbers[i + 1 :]:
            low_j, high_j = ticks[k_j]
            p_low = max(p_low, (low_j - high_i) / (k_j - k_i))
            p_high = min(p_high, (high_j - low_i) / (k_j - k_i))
    period = (p_low + p_high) / 2
    if p_low > p_high + _EPSILON or p_high - p_low > slack * period:
        return None
    p_high = max(p_low, p_high)
    last = numbers[-1]
    a_low = max(ticks[k][0] + (last - k) * p_low for k in numbers)
    a_high = min(ticks[k][1] + (last - k) * p_high for k in numbers)
    if a_low > a_high + _EPSILON:
        return None
    return RefreshGrid(p_low, p_high, a_low, max(a_low, a_high))
