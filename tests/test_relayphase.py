"""A new-api relay's refreshes, followed one by one (``mjwidgets.relayphase``).

Pure functions of what the looks saw and when: no clock and no server. The relay here is
new-api's loop as its source has it (controller/midjourney.go, UpdateMidjourneyTaskBulk):
sleep 15 s, read the upstream (a round trip), write each changed row (2 ms apart), sleep again.
"""

from __future__ import annotations

import random

import pytest

from mjwidgets.refreshgrid import Change, RefreshGrid
from mjwidgets.relayphase import RELAY_SLEEP_S, RelayPhase, follow_relay

ROW_S = 0.002


def _phase(**overrides: float | bool | None) -> RelayPhase:
    """The latest refresh wrote our first row at 100.0–100.2 s and all of them by 100.4."""
    fields: dict = dict(
        first_low=100.0,
        first_high=100.2,
        last_high=100.4,
        whole=True,
        gap_low=15.05,
        gap_high=15.30,
        sleep_low=RELAY_SLEEP_S,
        sleep_high=RELAY_SLEEP_S + 0.01,
        writing=0.3,
    )
    fields.update(overrides)
    return RelayPhase(**fields)


def test_the_next_refresh_comes_one_gap_after_the_last_row_of_the_one_before():
    assert _phase().first(1) == pytest.approx((115.05, 115.70))
    # the one after: another gap, and the rows between written
    assert _phase().first(2) == pytest.approx((130.10, 131.30))


def test_after_a_pause_the_cycles_before_a_new_batch_are_the_relays_sleep_alone():
    # with nothing unfinished the relay sleeps again at once: 15 s a cycle, not a busy one's
    assert _phase().first(3, idle=True) == pytest.approx((145.05, 145.72))


def test_a_look_that_saw_nothing_puts_the_next_refresh_after_it():
    assert _phase(not_before=115.5).first(1) == pytest.approx((115.5, 115.75))
    # past its latest time: searched for in ever wider steps
    late = _phase(not_before=116.2).first(1)
    assert late[0] == pytest.approx(116.2)
    assert late[1] - late[0] > 0.5


def test_a_refresh_that_can_bring_no_result_gets_one_look_in_the_middle_of_its_bracket():
    low, high = _phase().first(1)
    assert _phase().look_for(100.5, 0.02, results_from=200.0) == pytest.approx((low + high) / 2)


def test_after_a_look_that_saw_nothing_the_next_refresh_is_looked_at_once_it_certainly_came():
    phase = _phase(not_before=115.3)
    _, high = phase.first(2)
    assert phase.look_for(115.31, 0.02, results_from=200.0) == pytest.approx(high + 0.3 + 0.02)


def test_when_the_next_refresh_may_bring_results_the_one_that_saw_nothing_is_seen_first():
    # a look at the next refresh's results would see every task move by this one's rows too,
    # take the next one's rows for all written, and leave the rest of them a whole cycle
    phase = _phase(not_before=115.3)
    _, high = phase.first(1)
    assert phase.look_for(115.31, 0.02, results_from=129.0) == pytest.approx(high + 0.3 + 0.02)


def test_a_refresh_that_may_bring_results_is_swept_from_its_earliest_time():
    phase = _phase(first_high=100.8, last_high=101.0)  # the next refresh in 115.05–116.30
    low, _ = phase.first(1)
    step = 0.03 * phase.period
    first = phase.look_for(100.5, 0.02, results_from=110.0)
    assert first == pytest.approx(low + step)
    # a look that saw nothing: the next a step later, never past its latest time
    swept = _phase(first_high=100.8, last_high=101.0, not_before=first)
    assert swept.look_for(first, 0.02, results_from=110.0) == pytest.approx(first + step)
    high = swept.first(1)[1]
    assert swept.look_for(high - 0.2, 0.02, results_from=110.0) == pytest.approx(high + 0.02)


def test_the_first_look_at_a_new_batch_goes_to_the_refresh_that_certainly_read_it():
    # the last refresh wrote its rows by 100.4 s; idle cycles wake every 15 s after that, a
    # round trip before their first row. Tasks submitted at 158.0 s are read by the cycle that
    # wakes at 160.0–160.4 (the 4th), and one look after its latest time sees them moved.
    phase = _phase()
    at = phase.look_for(158.0, 0.02, fresh=True)
    assert phase.first(4, idle=True)[1] < at < phase.first(5, idle=True)[0]
    # submitted at 160.0, they may have come just after that cycle woke: the 5th reads them
    assert phase.first(5, idle=True)[1] < phase.look_for(160.0, 0.02, fresh=True)


def test_the_rest_of_a_refresh_seen_in_part_is_not_a_new_refresh():
    # a look at 115.2 saw 35 of 100 tasks move (the rows were being written); the next look,
    # 15 s later, saw the other 65 move: the rest of that refresh (a new one moves all 100)
    start = RefreshGrid(15.3, 15.4, 99.9, 100.2)
    changes = [
        Change(99.0, 100.3, 100, 98.9, True),
        Change(100.29, 115.25, 35, 100.3, False),
        Change(115.2, 130.25, 65, 115.25, False),
    ]
    phase = follow_relay(changes, [], start, 0.02)
    assert phase is not None
    assert 100.29 < phase.first_low <= phase.first_high <= 115.25
    assert phase.whole


def test_a_results_finish_times_pin_the_refresh_that_showed_them():
    start = RefreshGrid(15.3, 15.4, 99.9, 100.2)
    followed = follow_relay([Change(99.0, 100.3, 100, 98.9, True)], [], start, 0.02)
    assert followed is not None
    # a look at 115.95 saw results that finished at 110.2 … 115.6: shown by a refresh after
    # 115.6, although the gaps allowed one from 115.05 on
    look = Change(100.29, 115.96, 100, 100.3, True, finished=(110.2, 115.6))
    phase = follow_relay([Change(99.0, 100.3, 100, 98.9, True), look], [], start, 0.02)
    assert phase is not None
    assert phase.first_low >= 115.6 - 0.02


def _relay(seed: int, cycles: int = 12) -> list[float]:
    """When each refresh of a busy relay writes our first row (100 rows, 50–300 ms round trips)."""
    draws = random.Random(seed)
    firsts, t = [], 0.0
    for _ in range(cycles):
        t += RELAY_SLEEP_S + draws.uniform(0.05, 0.3) + ROW_S
        firsts.append(t)
        t += 99 * ROW_S
    return firsts


def _follow(seed: int, results_at: int) -> tuple[int, list[float]]:
    """Follow a relay from its first refresh (seen whole half a second after it) with each
    look where ``RelayPhase.look_for`` says, and one for the rest of a refresh a look saw in
    part while it may bring results (``ServerRhythm.rest_due``); results come with refresh
    ``results_at`` and the one after. Returns the looks until both were seen, and how long
    after its row each of their results was seen."""
    firsts = _relay(seed)
    start = RefreshGrid(15.1, 15.5, firsts[0] - 0.3, firsts[0] + 0.1)
    previous = (firsts[0] + 0.5, firsts[0] + 0.51)
    changes = [Change(firsts[0] - 1.0, previous[1], 100, firsts[0] - 0.99, True)]
    quiet: list[tuple[float, float]] = []
    phase = follow_relay(changes, quiet, start, 0.02)
    shown = [0] * 100  # per task: the latest refresh whose row for it a look saw
    looks, lags = 0, []
    results_from = firsts[results_at] - 1.0
    while min(shown) <= results_at + 1:
        assert phase is not None
        sent = phase.look_for(previous[0], 0.02, results_from)
        if 0 < len(set(shown)) - 1 and previous[1] >= results_from:  # a refresh seen in part
            sent = min(sent, previous[1] + 0.15)
        read, answered = sent + 0.005, sent + 0.01
        looks += 1
        rows = [
            max(k for k, first in enumerate(firsts) if first + i * ROW_S <= read)
            for i in range(100)
        ]
        moved = sum(1 for old, new in zip(shown, rows, strict=True) if new > old)
        for i, (old, new) in enumerate(zip(shown, rows, strict=True)):
            lags += [answered - (firsts[k] + i * ROW_S) for k in (results_at, results_at + 1)
                     if old < k <= new]  # fmt: skip
        if moved:
            whole = moved == 100
            changes.append(Change(previous[0], answered, moved, previous[1], whole))
        else:
            quiet.append((previous[1], sent))
        shown, previous = rows, (sent, answered)
        phase = follow_relay(changes, quiet, phase, 0.02)
    return looks, lags


@pytest.mark.parametrize("seed", range(8))
def test_a_relay_followed_gets_about_one_look_a_refresh_and_shows_results_within_a_step(seed):
    # results come with the 7th and 8th refreshes after the first: the six before bring
    # progress only and get one look each (two when the first saw nothing); the results are
    # seen within about the sweep's step (0.45 s) of their rows, none a cycle late
    looks, lags = _follow(seed, results_at=7)
    assert looks < 2 * 8
    assert max(lags) < 0.5
