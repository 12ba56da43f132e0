"""The timing model, rule by rule: each row is one rule of mjwidgets.cadence and what it decides.

Pure functions of what was seen and when (``now`` is passed in), so no clock and no server.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

import pytest

from mjwidgets.cadence import (
    ServerRhythm,
    TaskRhythm,
    lag_budget,
    next_poll,
    results_from,
    watched_since,
)
from mjwidgets.models import Status, Task
from mjwidgets.refreshgrid import RefreshGrid, find_grid
from mjwidgets.relayphase import RelayPhase


def _server(intervals=(), action="IMAGINE", rough=(), final=()) -> ServerRhythm:
    server = ServerRhythm()
    for seconds in intervals:
        server.learn_interval(action, seconds)
    for seconds in rough:
        server.learn_rough(seconds)
    for ratio in final:
        server.learn_final_ratio(ratio)
    return server


# -- the server's rhythm -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "server", "action", "expected"),
    [
        ("nothing learnt: no interval", _server(), "IMAGINE", None),
        ("one sample is not a rhythm", _server([7.0]), "IMAGINE", None),
        ("the action's own median", _server([6.0, 7.0, 8.0]), "IMAGINE", 7.0),
        ("another action borrows the server's median", _server([6.0, 8.0]), "UPSCALE", 7.0),
        ("rough guesses count only from three on", _server(rough=[5.0, 6.0]), "IMAGINE", None),
        ("three rough guesses: their median", _server(rough=[5.0, 6.0, 9.0]), "IMAGINE", 6.0),
        ("precise samples beat rough ones", _server([7.0, 7.0], rough=[3, 3, 3]), "X", 7.0),
    ],
)
def test_server_interval(rule, server, action, expected):
    assert server.interval(action) == expected, rule


@pytest.mark.parametrize(
    ("rule", "server", "expected"),
    [
        ("fewer than four samples: 20 %", _server([7.0, 7.0, 7.0]), 0.2),
        ("perfectly regular steps: at least 8 %", _server([7.0] * 8), 0.08),
        ("wild steps: at most 50 %", _server([1.0, 10.0, 1.0, 10.0, 20.0]), 0.5),
    ],
)
def test_server_spread(rule, server, expected):
    assert server.spread() == pytest.approx(expected), rule


@pytest.mark.parametrize(
    ("rule", "ratios", "expected", "known"),
    [
        ("no sample: the result comes ~1.3 steps after 93 %", [], 1.3, False),
        ("absurd ratios are ignored", [0.1, 9.0, 50.0], 1.3, False),
        ("three samples: their median, and known", [1.0, 1.2, 1.4], 1.2, True),
    ],
)
def test_final_ratio(rule, ratios, expected, known):
    server = _server(final=ratios)
    assert (server.final_ratio(), server.final_ratio_known()) == (expected, known), rule


# -- how late a change may be seen ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "progress", "interval", "length_known", "expected"),
    [
        ("the result: 5.5 % of a step", 93, 7.0, False, 0.385),
        ("the result: never more than 0.5 s", 93, 20.0, False, 0.5),
        ("the result: never less than 30 ms", 93, 0.1, False, 0.03),
        ("the result: the same with a known job length", 93, 7.0, True, 0.385),
        ("the last step (78 %) anchors the result: 70 %", 78, 5.0, False, 3.5),
        ("the last step: at most 4 s", 78, 60.0, False, 4.0),
        ("mid-way steps may show a step late", 31, 7.0, False, 7.0),
        ("mid-way steps: at most 8 s", 31, 30.0, False, 8.0),
        ("mid-way steps: at least 0.1 s", 0, 0.01, False, 0.1),
        ("a known job length anchors the result: mid-way two steps late", 31, 7.0, True, 14.0),
        ("… at most 16 s", 31, 30.0, True, 16.0),
    ],
)  # fmt: skip
def test_lag_budget(rule, progress, interval, length_known, expected):
    assert lag_budget(progress, interval, length_known) == pytest.approx(expected), rule


@pytest.mark.parametrize(
    ("rule", "progress", "interval", "expected"),
    [
        ("a warm batch's result: 7.5 % of a step", 93, 6.0, 0.45),
        ("… never more than 0.5 s", 93, 7.0, 0.5),
        ("… mid-way steps as for any task of a known length", 31, 7.0, 14.0),
    ],
)  # fmt: skip
def test_lag_budget_of_a_task_tracked_warm(rule, progress, interval, expected):
    assert lag_budget(progress, interval, True, warm=True) == pytest.approx(expected), rule


def test_a_task_starts_warm_when_jobs_of_its_kind_had_a_known_length_before_it():
    server = ServerRhythm()
    cold = TaskRhythm.start(Task(id="1", action="IMAGINE"), 0.0, False, server=server)
    for seconds in (47.5, 50.0, 52.5):  # from three jobs on
        server.learn_length("IMAGINE", False, seconds)
    warm = TaskRhythm.start(Task(id="2", action="IMAGINE"), 60.0, False, server=server)
    other = TaskRhythm.start(Task(id="3", action="UPSCALE"), 60.0, False, server=server)
    assert (cold.warm, warm.warm, other.warm) == (False, True, False)


def test_a_task_of_a_kind_whose_length_is_known_is_looked_at_less_mid_way():
    task = Task(id="1", action="IMAGINE", status=Status.IN_PROGRESS, progress=31)
    cold, warm = _server([7.0] * 5), _server([7.0] * 5)
    for seconds in (52.0, 54.0, 56.0):
        warm.learn_length("IMAGINE", False, seconds)
    gaps = []
    for server in (cold, warm):
        rhythm = TaskRhythm.start(task, 20.0, False, submitted_ago=20.0)
        rhythm.observe(task, 20.0, True, server)
        earliest, latest = rhythm.window(21.0, server, False)
        gaps.append(latest - 20.0)
    assert gaps[1] > gaps[0], "with the length known the next look waits longer"


# -- when the next poll is useful ----------------------------------------------------------------


def _rhythm(status=Status.SUBMITTED, progress=0, at=0.0, relaxed=False) -> TaskRhythm:
    task = Task(id="1", action="IMAGINE", status=status, progress=progress)
    return TaskRhythm.start(task, at, relaxed=relaxed)


@pytest.mark.parametrize(
    ("rule", "rhythm", "now", "server", "pushed", "expected"),
    [
        ("asked to look now", TaskRhythm.start(Task(id="1"), 0, False, True), 3.0, _server(),
         False, (3.0, 3.0)),
        ("pushed: polling is a safety net, 3 steps", _rhythm(), 1.0, _server([4.0, 4.0]),
         True, (6.0, 12.0)),
        ("pushed, rhythm unknown: 3 assumed 2 s steps", _rhythm(), 1.0, _server(), True,
         (3.0, 6.0)),
        ("pushed: never slower than 15 s", _rhythm(), 1.0, _server([60.0, 60.0]), True,
         (7.5, 15.0)),
        ("queued, unknown server: first probe soon", _rhythm(Status.NOT_START), 0.0, _server(),
         False, (0.1, 0.2)),
        ("queued for a minute: a look every 5 s", _rhythm(Status.NOT_START), 60.0, _server(),
         False, (2.5, 5.0)),
        ("relax mode: every 10 s", _rhythm(Status.NOT_START, relaxed=True), 60.0, _server(),
         False, (5.0, 10.0)),
        ("queued on a fast server: 4 steps at most", _rhythm(Status.NOT_START), 60.0,
         _server([0.5, 0.5]), False, (1.0, 2.0)),
        ("started, rhythm known: about one step away", _rhythm(), 0.0, _server([3.0, 3.0]),
         False, (1.5, 3.0)),
    ],
)  # fmt: skip
def test_window(rule, rhythm, now, server, pushed, expected):
    assert rhythm.window(now, server, pushed) == pytest.approx(expected), rule


# -- the shortest job of a kind: no fast looks for a result before it could come -----------------


def _lengths(*seconds: float, action="IMAGINE", relaxed=False) -> ServerRhythm:
    server = _server([7.0, 7.0], final=[1.3, 1.3, 1.3])
    for value in seconds:
        server.learn_length(action, relaxed, value)
    return server


@pytest.mark.parametrize(
    ("rule", "server", "action", "relaxed", "expected"),
    [
        ("two jobs are not yet a shortest", _lengths(50.0, 52.0), "IMAGINE", False, None),
        ("the shortest, less the gap expected below it", _lengths(50.0, 52.0, 54.0), "IMAGINE",
         False, 48.0),
        ("another action learns its own", _lengths(50.0, 52.0, 54.0), "UPSCALE", False, None),
        ("relax mode learns its own", _lengths(50.0, 52.0, 54.0), "IMAGINE", True, None),
    ],
)  # fmt: skip
def test_shortest_length(rule, server, action, relaxed, expected):
    assert server.shortest_length(action, relaxed) == expected, rule


def _at_final_step(seen_at: float, submit_known: bool = True) -> TaskRhythm:
    """Submitted at 0 s, tracked from 5 s on; its 93 % step seen at ``seen_at``, the look
    before 8 s earlier."""
    task = Task(id="1", action="IMAGINE", status=Status.SUBMITTED)
    rhythm = TaskRhythm.start(task, 5.0, False, submitted_ago=5.0 if submit_known else None)
    rhythm.status, rhythm.progress = Status.IN_PROGRESS, 93
    rhythm.change_low, rhythm.change_high = seen_at - 8.0, seen_at
    rhythm.observed_at = seen_at
    return rhythm


@pytest.mark.parametrize(
    ("rule", "rhythm", "server", "first_look"),
    [
        ("nothing learnt of the kind: fast looks right after the vague 93 %",
         _at_final_step(41.0), _lengths(), 41.21),
        ("jobs of the kind took 50-54 s: the first look at 48 s", _at_final_step(41.0),
         _lengths(50.0, 52.0, 54.0), 48.0),
        ("93 % seen after the shortest job's end: the step rules", _at_final_step(60.0),
         _lengths(50.0, 52.0, 54.0), 60.21),
        ("its submit time unknown: no anchor", _at_final_step(41.0, False),
         _lengths(50.0, 52.0, 54.0), 41.21),
    ],
)  # fmt: skip
def test_the_result_is_not_looked_for_before_the_shortest_job_could_end(
    rule, rhythm, server, first_look
):
    earliest, _latest = rhythm.window(rhythm.observed_at, server, pushed=False)
    assert earliest == pytest.approx(first_look, abs=0.01), rule


def test_each_finished_job_teaches_its_length_from_its_submit():
    server = _server([7.0, 7.0])
    for n, submitted_ago in enumerate((0.0, 3.0, 10.0)):  # tracked at 10 s, however submitted
        task = Task(id=str(n), action="IMAGINE", status=Status.SUBMITTED)
        rhythm = TaskRhythm.start(task, 10.0, False, submitted_ago=submitted_ago)
        rhythm.status, rhythm.progress, rhythm.observed_at = Status.IN_PROGRESS, 93, 45.0
        rhythm.observe(Task(id=str(n), status=Status.SUCCESS, progress=100), 53.5, True, server,
                       seen_unchanged_at=53.0)  # fmt: skip
    unknown = TaskRhythm.start(Task(id="9", action="IMAGINE", status=Status.SUBMITTED), 0, False)
    unknown.observe(Task(id="9", status=Status.SUCCESS, progress=100), 20.0, True, server)
    # 43, 46 and 53 s: from each job's submit to the last look before its result, no sooner;
    # the job whose submit time is unknown teaches nothing
    assert server.shortest_length("IMAGINE", False) == pytest.approx(43.0 - 10.0 / 2)


def test_a_result_seen_long_after_the_last_look_teaches_no_job_length():
    """The first result of a batch follows the slow looks mid-way: "at least 45 s" from a result
    seen 3 s after the last look would make the next batch look fast for its results too soon."""
    server = _server([7.0, 7.0])
    for n, (last_look, seen) in enumerate(((45.0, 48.0), (47.5, 47.8), (48.0, 48.3), (49.0, 49.3))):
        task = Task(id=str(n), action="IMAGINE", status=Status.SUBMITTED)
        rhythm = TaskRhythm.start(task, 0.0, False, submitted_ago=0.0)
        rhythm.status, rhythm.progress, rhythm.observed_at = Status.IN_PROGRESS, 93, 44.0
        rhythm.observe(Task(id=str(n), status=Status.SUCCESS, progress=100), seen, True, server,
                       seen_unchanged_at=last_look)  # fmt: skip
    # 47.5, 48 and 49 s are learnt (seen within 0.3 s, under a fifth of the 7 s step); the result
    # seen 3 s after its last look is not
    assert server.shortest_length("IMAGINE", False) == pytest.approx(47.5 - 1.5 / 2)


# -- what a look teaches ---------------------------------------------------------------------------


def test_a_look_that_shows_nothing_new_moves_only_the_last_look():
    rhythm, server = _rhythm(), _server()
    rhythm.observe(Task(id="1", status=Status.SUBMITTED), 2.0, False, server)
    assert (rhythm.observed_at, rhythm.change_low, rhythm.change_high) == (2.0, 0.0, 0.0)


def test_the_first_step_seeds_the_interval_from_the_wait_since_the_start():
    rhythm, server = _rhythm(), _server()
    rhythm.observe(Task(id="1", status=Status.IN_PROGRESS, progress=15), 6.0, True, server,
                   seen_unchanged_at=4.0)  # fmt: skip
    assert rhythm.seed == pytest.approx(5.0)  # between 4 and 6 s after the start
    assert rhythm.change_low == 4.0 and rhythm.change_high == 6.0


def test_a_double_jump_counts_as_two_steps():
    rhythm, server = _rhythm(Status.IN_PROGRESS, 15), _server()
    server.learn_advance(16)  # another task was seen moving one step
    rhythm.steps.append((0, 0.0, 0.0))
    task = Task(id="1", status=Status.IN_PROGRESS, progress=46)  # 15 → 46 skips 31
    rhythm.observe(task, 14.0, True, server, seen_unchanged_at=14.0)
    assert rhythm.steps[-1][0] == 2
    assert rhythm.interval_low == pytest.approx(7.0) and rhythm.interval_high == pytest.approx(7.0)


def _seen_every_other_step(server: ServerRhythm, task_id: str = "1") -> TaskRhythm:
    """A task stepping every 7 s from 9 s (15, 31, 46, 62, 78 %), looked at every 14 s from
    2 s: it only ever shows double moves."""
    task = Task(id=task_id, action="IMAGINE", status=Status.SUBMITTED)
    rhythm = TaskRhythm.start(task, 0.0, relaxed=False)
    for now, progress in ((2.0, 0), (16.0, 31), (30.0, 62), (44.0, 93)):
        changed = progress != task.progress
        task.status = Status.IN_PROGRESS if progress else Status.SUBMITTED
        task.progress = progress
        rhythm.observe(task, now, changed, server)
    return rhythm


def test_a_task_seen_only_at_double_moves_counts_them_from_the_servers_step_size():
    server = _server()
    server.learn_advance(15)  # a task of the server's was seen moving a single step
    rhythm = _seen_every_other_step(server)
    assert [number for number, _, _ in rhythm.steps] == [0, 2, 4]
    assert rhythm.interval_low <= 7.0 <= rhythm.interval_high
    # without the server's step size the double moves pass for single steps: 7–21 s, 14 s
    alone = _seen_every_other_step(_server())
    assert (alone.interval_low, alone.interval_high) == pytest.approx((7.0, 21.0))


def test_the_step_size_is_remembered_across_sessions():
    server = _server()
    server.learn_advance(31)
    server.learn_advance(15)
    later = ServerRhythm()
    later.restore(server.export())
    assert later.step_size() == 15


def test_every_pair_of_steps_narrows_the_interval_not_only_consecutive_ones():
    rhythm, server = _rhythm(Status.IN_PROGRESS, 15), _server()
    server.learn_advance(15)
    # steps every 7 s at 1, 8, 15, 22 s; each seen within a 6 s bracket
    rhythm.steps.append((0, 0.0, 6.0))
    rhythm.change_low, rhythm.change_high = 0.0, 6.0
    for progress, after, by in ((31, 6.0, 12.0), (46, 12.0, 18.0), (62, 18.0, 24.0)):
        task = Task(id="1", status=Status.IN_PROGRESS, progress=progress)
        rhythm.observe(task, by, True, server, seen_unchanged_at=after)
    # consecutive pairs allow 0–12 s; steps 0 and 3 allow (18 − 6) / 3 … (24 − 0) / 3 = 4–8 s
    assert (rhythm.interval_low, rhythm.interval_high) == pytest.approx((4.0, 8.0))


def test_each_task_counts_once_in_the_servers_interval():
    server = ServerRhythm()
    server.learn_interval("IMAGINE", 7.0, "fast")
    server.learn_interval("IMAGINE", 7.2, "middle")
    for estimate in (9.5, 9.2, 9.0, 9.0):  # a slow task learns again at every step
        server.learn_interval("IMAGINE", estimate, "slow")
    assert server.interval("IMAGINE") == 7.2  # its latest estimate is one vote of three


def test_what_a_batch_teaches_of_job_lengths_does_not_depend_on_the_order_of_its_results():
    # 100 jobs submitted 10 ms apart, 48–58 s long in a scrambled order; results come shortest
    # first, and the shortest must not be forgotten by the time the last result comes
    jobs = [(index * 0.01, 48.0 + (index * 37 % 100) / 10) for index in range(100)]
    by_result = sorted(jobs, key=lambda job: job[0] + job[1])
    by_submit = _server()
    in_result_order = _server()
    for submitted, seconds in jobs:
        by_submit.learn_length("IMAGINE", False, seconds, submitted)
    for submitted, seconds in by_result:
        in_result_order.learn_length("IMAGINE", False, seconds, submitted)
    learnt = in_result_order.shortest_length("IMAGINE", False)
    assert learnt == by_submit.shortest_length("IMAGINE", False)
    kept = [seconds for _, seconds in jobs[-64:]]  # the 64 most recently submitted
    assert learnt == pytest.approx(min(kept) - (max(kept) - min(kept)) / 63)


def _at_result_step(server: ServerRhythm, submitted_ago: float | None) -> TaskRhythm:
    """Steps every 7 s seen within 1 s (at 9, 16, 23, 30, 37 and 44 s after its submit)."""
    task = Task(id="1", action="IMAGINE", status=Status.IN_PROGRESS, progress=93)
    rhythm = TaskRhythm.start(task, 44.5, False, submitted_ago=submitted_ago)
    for number, at in enumerate((9.0, 16.0, 23.0, 30.0, 37.0, 44.0)):
        rhythm.steps.append((number, at - 0.5, at + 0.5))
    rhythm.change_low, rhythm.change_high = 43.5, 44.5
    return rhythm


def test_with_no_job_length_known_the_looks_for_a_result_start_half_way_through_its_window():
    server = _server([7.0] * 8, final=[9 / 7] * 3)
    rhythm = _at_result_step(server, submitted_ago=None)
    predicted_earliest, predicted_latest = rhythm.predict(server)
    earliest, _ = rhythm.window(44.5, server, pushed=False)
    assert earliest == pytest.approx(
        predicted_earliest + 0.5 * (predicted_latest - predicted_earliest)
    )
    # once jobs of its kind have a known length, that anchors the window instead
    for seconds in (53.0, 53.5, 54.0):
        server.learn_length("IMAGINE", False, seconds)
    anchored = _at_result_step(server, submitted_ago=44.5)
    assert anchored.window(44.5, server, pushed=False)[0] == pytest.approx(
        max(anchored.predict(server)[0], server.shortest_length("IMAGINE", False))
    )


def _seen_by_coarse_looks(submitted_ago: float | None) -> TaskRhythm:
    """A first batch's task at 93 %, its steps seen by looks ~9 s apart (traced in the model at
    speed 7, scaled): its own steps bracket its interval only within 4.45–6.93 s."""
    task = Task(id="1", action="IMAGINE", status=Status.IN_PROGRESS, progress=93)
    rhythm = TaskRhythm.start(task, 41.91, False, submitted_ago=submitted_ago)
    seen = (
        (0, 7.24, 16.1),
        (2, 16.1, 24.99),
        (3, 24.99, 33.88),
        (4, 33.88, 37.9),
        (5, 37.9, 41.91),
    )
    rhythm.steps.extend(seen)
    rhythm.change_low, rhythm.change_high = 37.9, 41.91
    return rhythm


def test_in_a_first_batch_a_task_steps_at_about_its_servers_pace():
    # the server's tasks step every 6.6–7.4 s: this one's interval is taken within 15 % of 7 s
    # (5.95 s at least), not its own bracket's 4.45 s. Its 78 % step came after 33.88 s, so
    # its 93 % one an interval I later and its result 1.24 I after that: looked for from
    # 33.88 + 2.24 × 5.95 = 47.2 s, not from 33.88 + 2.24 × 4.45 = 43.8 s
    server = _server([6.6, 6.8, 7.0, 7.2, 7.4])
    first_batch = _seen_by_coarse_looks(submitted_ago=None)
    earliest, _latest = first_batch.predict(server)
    assert earliest == pytest.approx(33.88 + 2.24 * 5.95, abs=0.01)
    # once jobs of its kind have a known length, the submit anchors the result: its own steps
    for seconds in (50.0, 52.0, 54.0):
        server.learn_length("IMAGINE", False, seconds)
    later = _seen_by_coarse_looks(submitted_ago=41.91)
    assert later.predict(server)[0] == pytest.approx(33.88 + 2.24 * 4.45, abs=0.02)


def test_no_prediction_before_the_task_runs():
    assert _rhythm(Status.SUBMITTED).predict(_server([7.0, 7.0])) is None


# -- the shared refresh grid (new-api relays) ------------------------------------------------------


def _looks(refreshes, looks, movers=5):
    """What batched looks at ``looks`` see on a server refreshed at ``refreshes``: (after, by,
    how many moved) where a refresh fell between two looks, (after, by) where none did."""
    changes, quiet = [], []
    for after, by in zip(looks, looks[1:], strict=False):
        if any(after < refresh <= by for refresh in refreshes):
            changes.append((after, by, movers))
        else:
            quiet.append((after, by))
    return changes, quiet


def _every(start, step, stop):
    return [start + i * step for i in range(int((stop - start) / step) + 1)]


_GRID_15 = _every(4.0, 15.0, 200.0)  # new-api: every 15 s, phase 4 s
_GRID_2 = _every(0.3, 2.14, 200.0)  # the same at speed 7


def _watched_on_the_15_s_grid(
    server: ServerRhythm, first: float = 0.5, last: float = 90.0
) -> ServerRhythm:
    """``server`` after batched looks every 0.5 s from ``first`` to ``last`` at 5 tasks in
    progress, which move at each refresh of ``_GRID_15``."""
    looks = _every(first, 0.5, last)
    for before, at in zip(looks, looks[1:], strict=False):
        moved = 5 if any(before < r <= at for r in _GRID_15) else 0
        server.observe_poll((before, before), (at, at), moved, running=5)
    return server


@pytest.mark.parametrize(
    ("rule", "refreshes", "looks", "movers", "period", "refresh"),
    [
        ("looks every 2 s find the 15 s grid", _GRID_15, _every(0.5, 2.0, 90.0), 5, 15.0, 79.0),
        ("looks every 0.5 s pin it down", _GRID_15, _every(0.5, 0.5, 90.0), 5, 15.0, 79.0),
        ("a 2.14 s grid (speed 7)", _GRID_2, _every(0.5, 0.5, 60.0), 5, 2.14, 58.08),
        ("irregular looks", _GRID_15, [0.5, 3.1, 4.2, 11.0, 18.9, 19.4, 27.0, 34.3, 40.0, 45.5,
                                       49.1, 55.0, 63.9, 64.2, 71.0, 79.5, 80.0], 5, 15.0, 79.0),
        ("looks once a minute: too coarse", _GRID_15, _every(0.5, 60.0, 400.0), 5, None, None),
        ("three refreshes are not yet a grid", _GRID_15, _every(0.5, 2.0, 40.0), 5, None, None),
        ("a live server: moves at scattered times", [1.3, 2.9, 3.4, 7.7, 8.1, 12.0, 13.3, 17.1,
         21.8, 22.2, 26.9, 30.4, 33.3, 38.8, 41.0, 44.5], _every(0.5, 0.5, 45.0), 5, None, None),
        ("one task's regular steps on a live server", _every(9.0, 7.0, 50.0),
         _every(0.5, 1.0, 60.0), 1, None, None),
    ],
)  # fmt: skip
def test_find_grid(rule, refreshes, looks, movers, period, refresh):
    changes, quiet = _looks(refreshes, looks, movers)
    grid = find_grid(changes, quiet)
    if period is None:
        assert grid is None, rule
        return
    assert grid is not None, rule
    assert grid.period_low <= period <= grid.period_high, rule
    assert grid.anchor_low <= refresh <= grid.anchor_high, rule  # the latest refresh seen


def test_a_grid_expected_is_accepted_from_a_single_task_and_a_rougher_period():
    changes, quiet = _looks(_GRID_15, _every(0.5, 3.0, 70.0), movers=1)
    assert find_grid(changes, quiet) is None
    grid = find_grid(changes, quiet, slack=0.2)
    assert grid is not None and grid.period_low <= 15.0 <= grid.period_high


@pytest.mark.parametrize(
    ("rule", "grid", "last_look", "expected"),
    [
        ("a refresh known to 20 ms: look just after it",
         RefreshGrid(15.0, 15.0, 64.0, 64.02), 64.5, 79.04),
        ("the refresh after an idle spell",
         RefreshGrid(15.0, 15.0, 64.0, 64.02), 90.0, 94.04),
        ("a refresh known to a second: probe the middle of its bracket",
         RefreshGrid(15.0, 15.0, 64.0, 65.0), 65.5, 79.5),
        ("already inside the bracket: just after its end",
         RefreshGrid(15.0, 15.0, 64.0, 65.0), 79.6, 80.02),
        ("an uncertain period widens the brackets further on: a probe",
         RefreshGrid(14.9, 15.1, 64.0, 64.02), 100.0, 109.01),
    ],
)  # fmt: skip
def test_look_for(rule, grid, last_look, expected):
    assert grid.look_for(last_look) == pytest.approx(expected), rule


def test_the_poller_looks_on_the_grid_once_the_looks_prove_one():
    server = _watched_on_the_15_s_grid(ServerRhythm())
    assert server.grid() is not None
    # the windows want a look at 91 s, but nothing shows before the refresh at 94 s
    assert next_poll([(90.5, 91.0)], server, 90.0, 90.0) == pytest.approx(94.01, abs=0.3)
    # the windows want none before 120 s: the refreshes in between get their looks
    assert next_poll([(110.0, 120.0)], server, 95.0, 95.0) == pytest.approx(109.01, abs=0.3)


def test_on_a_new_api_relay_the_grid_found_is_followed_refresh_by_refresh():
    # a relay's refreshes drift with each cycle's work: once its grid is found, each refresh
    # is predicted from the one before (mjwidgets.relayphase), not from one period for all
    server = ServerRhythm()
    server.expect_refresh_grid()
    _watched_on_the_15_s_grid(server)
    phase = server.grid()
    assert isinstance(phase, RelayPhase)
    assert phase.first_low <= 79.0 <= phase.first_high  # the latest refresh seen: 79 s
    assert phase.first(1)[0] <= 94.0 <= phase.first(1)[1]


def test_a_refresh_seen_in_part_is_seen_whole_once_its_rest_is():
    # a relay followed refresh by refresh; the look at 94.05 s reads its refresh at 94 s
    # mid-way (2 of 5 rows written), the look at 94.2 s sees the other 3. That refresh is then
    # known whole, its last row written by 94.2 s: the next refresh, which can bring no result,
    # gets one look that halves its bracket, not one once it surely came. (Before, the phase
    # was kept as it was before the rest was seen, and every such refresh made the next look
    # go late: in the model, later batches on the real clock, 48 seeds, lag p50 0.20 → 0.17 s
    # in the third and 0.19 → 0.12 s in the fourth, at the same requests.)
    server = ServerRhythm()
    server.expect_refresh_grid()
    _watched_on_the_15_s_grid(server)
    server.observe_poll((90.0, 90.0), (94.05, 94.06), 2, running=5, looked=5, running_moved=2)
    server.observe_poll((94.05, 94.06), (94.2, 94.21), 3, running=5, looked=5, running_moved=3)
    phase = server.grid()
    assert isinstance(phase, RelayPhase)
    assert phase.whole
    assert phase.last_high <= 94.21
    low, high = phase.first(1)
    assert low < 109.0 < high
    assert next_poll([(100.0, 200.0)], server, 94.2, 94.2, results_from=200.0) < high


def test_a_job_length_at_a_relay_is_the_servers_own_submit_to_finish():
    # a relay shows a result at its first refresh after the job's end, up to a period later:
    # the length learnt is the server's finishTime − submitTime, not the look's time
    server = ServerRhythm()
    server.expect_refresh_grid()
    submit = datetime(2026, 12, 3, tzinfo=timezone.utc)
    for i, seconds in enumerate((50.0, 51.0, 52.0)):
        queued = Task(id=f"t{i}", action="IMAGINE", status=Status.SUBMITTED)
        task = TaskRhythm.start(queued, 100.0, False, submitted_ago=0.0, server=server)
        done = Task(
            id=f"t{i}",
            action="IMAGINE",
            status=Status.SUCCESS,
            progress=100,
            submit_time=submit,
            finish_time=submit + timedelta(seconds=seconds),
        )
        task.observe(done, 100.0 + seconds + 12.0, True, server)  # seen 12 s after the finish
    assert server.shortest_length("IMAGINE", False) == pytest.approx(49.0)
    fresh = TaskRhythm.start(Task(id="n", action="IMAGINE"), 200.0, False, submitted_ago=0.0)
    assert fresh.result_not_before(server) == pytest.approx(249.0)
    assert results_from([fresh], server) == pytest.approx(249.0)
    unknown = TaskRhythm.start(Task(id="u", action="IMAGINE"), 200.0, False)  # submit unknown
    assert unknown.result_not_before(server) is None
    assert results_from([fresh, unknown], server) is None, "one unknown: any refresh may bring it"


def _grid_known_from_looks_every_half_second():
    # each refresh (4 + 15k s) in the middle of a bracket
    server = _watched_on_the_15_s_grid(ServerRhythm(), first=0.25)
    assert server.grid() is not None
    return server


def test_the_first_look_at_a_new_batch_settles_the_refresh_it_saw():
    # a batch submitted at 100–100.5 s; its first look, at 109.1 s, saw the refresh at 109 s
    # move its tasks — whether that refresh had happened was not yet known (108.75–109.25 s)
    windows = [(109.2, 140.0)]
    unsure = _grid_known_from_looks_every_half_second()
    assert next_poll(windows, unsure, 109.1, 109.1) < 110.0, "a second look at the same refresh"
    told = _grid_known_from_looks_every_half_second()
    told.observe_first_look([100.0, 100.5], (109.1, 109.1))
    assert next_poll(windows, told, 109.1, 109.1) == pytest.approx(124.0, abs=0.3), (
        "the moves after their submits settle it: the next look is at the next refresh"
    )
    # a task whose submit time is not this process's (None) says nothing
    foreign = _grid_known_from_looks_every_half_second()
    foreign.observe_first_look([100.0, None], (109.1, 109.1))
    assert next_poll(windows, foreign, 109.1, 109.1) < 110.0


def _a_relay_followed_by_an_earlier_kernel() -> dict:
    """What a kernel that followed a relay on the 15 s grid keeps for the next one, through
    JSON, as the history store keeps it."""
    earlier = ServerRhythm()
    earlier.expect_refresh_grid()
    _watched_on_the_15_s_grid(earlier)
    assert isinstance(earlier.grid(), RelayPhase)
    return json.loads(json.dumps(earlier.export()))


def _a_new_kernel(kept: dict | None) -> ServerRhythm:
    kernel = ServerRhythm()
    kernel.restore(kept)
    kernel.expect_refresh_grid()
    return kernel


def test_a_relays_cycle_is_kept_for_the_next_kernel_and_its_phase_is_not():
    kept = _a_relay_followed_by_an_earlier_kernel()
    low, high = kept["relay_gaps"]  # from a refresh's last row to the next one's first
    assert 14.0 < low <= 15.0 <= high < 16.0
    kernel = _a_new_kernel(kept)
    assert kernel.grid() is None, "where the refreshes are is found again"
    assert kernel.export()["relay_gaps"] == [low, high], "kept until this kernel learns its own"
    # hand-edited or older files: ignored
    for bad in ([15.0], [15.0, "x"], [15.0, 14.0], [0.1, 0.2], "15"):
        assert _a_new_kernel({"relay_gaps": bad}).export()["relay_gaps"] is None, bad


def test_a_new_kernel_follows_a_relay_from_the_first_refresh_it_sees():
    # a new kernel's first batch, submitted at 300 s, on the relay refreshing at 4 + 15k s.
    # Without the cycle, looks a second apart until four refreshes give the grid: a batch of
    # 100 made ~60 requests (model, benchmarks/README.md), against 14 with it
    kernel = _a_new_kernel(_a_relay_followed_by_an_earlier_kernel())
    first = _a_new_kernel(None)
    assert first.discovery_gap() == pytest.approx(1.0)
    assert 2.0 < kernel.discovery_gap() < 2.5, "15 % of the cycle apart"
    for rhythm in (kernel, first):  # looks at 301.9 and 304.2 s: the second sees the refresh
        rhythm.observe_first_look([], (301.9, 301.91), looked=5)
        rhythm.observe_poll((301.9, 301.91), (304.2, 304.21), 5, running=0, looked=5)
    assert first.grid() is None
    phase = kernel.grid()
    assert isinstance(phase, RelayPhase)
    low, high = phase.first(1)
    assert low < 319.0 < high < 320.0
    # one look half a cycle on checks that the relay still cycles so; then the next refresh
    windows = [(330.0, 400.0)]
    check = next_poll(windows, kernel, 304.21, 304.2)
    assert check == pytest.approx(311.7, abs=0.5)
    kernel.observe_poll((304.2, 304.21), (check, check + 0.01), 0, running=5, looked=5)
    assert low <= next_poll(windows, kernel, check + 0.01, check) <= high + 0.1
    assert next_poll(windows, first, 304.21, 304.2) == pytest.approx(305.2, abs=0.05)


@pytest.mark.parametrize(
    ("rule", "looks"),
    [
        ("the relay now refreshes every 2 s: the look half a cycle on sees tasks move",
         [(307.8, 5)]),
        ("it now refreshes every minute: no refresh in one and a half cycles of looks",
         [(302.0 + 2.25 * k, 0) for k in range(11)]),
    ],
)  # fmt: skip
def test_a_kept_cycle_the_relay_no_longer_keeps_is_found_again(rule, looks):
    kernel = _a_new_kernel(_a_relay_followed_by_an_earlier_kernel())
    kernel.observe_first_look([], (301.9, 301.91), looked=5)
    previous = (301.9, 301.91)
    if looks[0][1]:  # the first refresh seen at 304 s
        kernel.observe_poll(previous, (304.2, 304.21), 5, running=0, looked=5)
        previous = (304.2, 304.21)
    for at, moved in looks:
        kernel.observe_poll(previous, (at, at + 0.01), moved, running=5, looked=5)
        previous = (at, at + 0.01)
    assert kernel.grid() is None, rule
    assert kernel.export()["relay_gaps"] is None, rule
    assert kernel.discovery_gap() <= 1.0, "looks as in a first kernel"


def test_the_rest_of_a_refresh_seen_in_part_is_no_refresh_of_its_own():
    # a batch of 100 submitted at 100–100.5 s; its first look, at 109.1 s, read the refresh at
    # 109 s mid-way: 55 rows written, 45 not yet. The look at 123.5 s sees those 45 move and
    # none of the 55 in progress: the rest of the refresh at 109 s, not one before 123.5 s —
    # the refresh at 124 s is still to come, and gets the next look
    server = _grid_known_from_looks_every_half_second()
    server.expect_refresh_grid()
    server.observe_first_look([100.0] * 55, (109.1, 109.1), looked=100)
    server.observe_poll((109.1, 109.1), (123.5, 123.5), 45, running=55, looked=100, running_moved=0)
    assert server.grid() is not None
    assert next_poll([(124.0, 140.0)], server, 123.5, 123.5) == pytest.approx(124.0, abs=0.3)


def test_a_batch_submitted_just_after_a_refresh_was_not_shown_that_refresh():
    # the refresh at 94 s is known within half a second (93.75–94.25 s); a batch was submitted
    # at 94.3–94.5 s (when its requests left), so its first look, at 109.1 s, saw every task
    # move with the refresh at 109 s, not the one at 94 s: the next look goes to 124 s
    server = _grid_known_from_looks_every_half_second()
    server.observe_first_look([94.3, 94.5], (109.1, 109.1), looked=2)
    assert next_poll([(109.2, 140.0)], server, 109.1, 109.1) == pytest.approx(124.0, abs=0.3)


@pytest.mark.parametrize(
    ("rule", "moved_at_109", "next_look"),
    [
        ("a look that saw every task move saw the refresh whole: the next moves are the next "
         "refresh's, and the look after goes to the one after that", 5, 138.7),
        ("one that saw some move may have read the server mid-refresh: the next moves may be "
         "its rest, so the refresh at 124 s gets a look once surely past", 4, 124.01),
    ],
)  # fmt: skip
def test_moves_seen_after_a_whole_refresh_come_with_the_next_one(rule, moved_at_109, next_look):
    # refreshes at 4 + 15k s, known within half a second from looks until 100 s
    server = _watched_on_the_15_s_grid(ServerRhythm(), first=0.25, last=100.0)
    server.observe_poll((99.75, 99.75), (108.5, 108.5), 0, running=5)
    server.observe_poll((108.5, 108.5), (108.95, 108.96), moved_at_109, running=5)
    # the next look went out at 123.9 s, before the latest the refresh at 124 s could come
    server.observe_poll((108.95, 108.96), (123.9, 123.91), 5, running=5)
    assert next_poll([(124.0, 200.0)], server, 123.91, 123.9, 123.91) == pytest.approx(
        next_look, abs=0.1
    ), rule


def _watch_a_relay(
    gaps: list[float], row_s: float = 0.0, starts: tuple[int, ...] = (0,) * 5
) -> tuple[float, int]:
    """(how late, at worst, batched looks planned by ``next_poll`` see the whole of a refresh,
    how many looks they make) on a relay whose refreshes come ``gaps`` apart and write the
    rows of its tasks ``row_s`` apart (each look answered 10 ms after it is sent, reading the
    server mid-way). Task i is queued until refresh ``starts[i]`` and moves at every refresh
    from it on. The first four refreshes find the grid."""
    refreshes = [4.0]
    for gap in gaps:
        refreshes.append(refreshes[-1] + gap)
    server = ServerRhythm()
    server.expect_refresh_grid()
    now, previous = 0.0, (0.0, 0.0)
    shown = [0] * len(starts)  # per task: the refreshes its row has shown
    seen_whole = 0
    seen_at: dict[int, float] = {}
    looks = 0
    while now < refreshes[-1]:
        looks += 1
        sent = max(now, next_poll([(now + 60, now + 120)], server, now, previous[0], previous[1]))
        answered, read = sent + 0.01, sent + 0.005
        rows = [
            sum(1 for k, t in enumerate(refreshes) if k >= start and t + (i + 1) * row_s <= read)
            for i, start in enumerate(starts)
        ]
        moved = sum(1 for old, new in zip(shown, rows, strict=True) if new > old)
        running = sum(1 for count in shown if count)  # in progress at the look before
        # refreshes seen whole (each task's rows, and those before it started)
        whole = min(row + start for row, start in zip(rows, starts, strict=True))
        for k in range(seen_whole, whole):
            seen_at[k] = answered
        shown, seen_whole = rows, whole
        server.observe_poll(previous, (sent, answered), moved, running, looked=len(starts))
        previous, now = (sent, answered), answered
    return max(seen_at[k] - refreshes[k] for k in range(4, len(refreshes) - 1)), looks


@pytest.mark.parametrize("seed", [4, 7, 8, 12])
def test_a_relay_that_sleeps_after_each_refresh_never_shows_a_result_a_period_late(seed):
    # new-api sleeps 15 s after each refresh cycle's work (controller/midjourney.go,
    # UpdateMidjourneyTaskBulk), so its refreshes drift by that work: here 0.1–0.6 s a cycle.
    # A look sent where the grid said a refresh had been, which saw nothing move, did not see
    # it: the refresh is still to come. (Taken for seen, the next look went a whole period
    # later, and every look after it saw the refresh before the one it was aimed at.)
    draws = random.Random(seed)
    gaps = [15.0 + draws.uniform(0.1, 0.6) for _ in range(20)]
    assert _watch_a_relay(gaps)[0] < 7.5


def test_a_refresh_whose_rows_a_look_saw_in_part_gets_a_look_for_the_rest():
    # new-api writes a refresh's rows one after another (a database write each); here 5 rows
    # 60 ms apart, on a 15 s grid. A look that saw only some of them move is followed by one
    # for the rest, and the next refreshes get their looks once all rows are written. (Taken
    # for seen whole, the rest of every refresh waited for the next one: 15 s.) The margin
    # the next looks keep is how long the rest took to appear, not that added to the margin
    # before (grown at every refresh seen in part, it made the looks 0.95 s late at worst).
    assert _watch_a_relay([15.0] * 20, row_s=0.06)[0] < 0.75


def test_a_refresh_seen_in_part_whose_rest_starts_queued_tasks_too_is_one_refresh():
    # a first batch on a relay: 3 of 8 tasks start at the first refresh, the rest at the
    # second, whose rows (60 ms apart) a look sees in part. What moves by the next look is the
    # rest of that refresh, queued tasks that started with it included — not a refresh of its
    # own 15 s early, which no grid fits (a first batch of 100 made 99 looks, one every
    # 0.6 s, instead of ~50, and showed its results late: benchmarks/cadence_model.py).
    _, all_started = _watch_a_relay([15.0] * 20, row_s=0.06, starts=(0,) * 8)
    late, looks = _watch_a_relay([15.0] * 20, row_s=0.06, starts=(0, 0, 0, 1, 1, 1, 1, 1))
    assert late < 2.0
    assert looks < all_started + 10


def test_tasks_still_queued_get_no_look_for_the_rest_of_a_refresh():
    # 5 of 8 tasks wait in the upstream's queue for 9 refreshes: at each refresh every task in
    # progress moves and the queued ones do not. That is all of the refresh, not a part whose
    # rest a second look should fetch (one more look per refresh while they wait).
    _, all_started = _watch_a_relay([15.0] * 20, row_s=0.06, starts=(0,) * 8)
    _, looks = _watch_a_relay([15.0] * 20, row_s=0.06, starts=(0, 0, 0, 9, 9, 9, 9, 9))
    assert looks <= all_started + 3


def test_a_task_submitted_between_two_refreshes_does_not_hide_one_from_the_tasks_pending():
    # the grid refreshes at 4 + 15k s; the last look was answered at 90 s; one task pending
    # since long before, a second one submitted at 99 s — after the refresh at 94 s, which
    # the first task has not been shown yet (its result may be in it)
    server = _grid_known_from_looks_every_half_second()
    since = watched_since(90.0, [10.0, 99.0])
    assert since == 90.0
    assert next_poll([(95.0, 120.0)], server, 99.0, 90.0, since) == pytest.approx(94.01, abs=0.3)
    # a batch of new tasks only: the refreshes before the first of them show nothing of theirs
    assert watched_since(90.0, [99.0, 99.5]) == 99.0
    assert watched_since(90.0, []) == 90.0


def test_no_grid_on_a_live_server_whose_tasks_move_at_every_look():
    server = ServerRhythm()
    looks = _every(0.5, 0.5, 60.0)
    for before, at in zip(looks, looks[1:], strict=False):
        server.observe_poll((before, before), (at, at), 3, running=100)
    assert server.grid() is None
    assert next_poll([(30.0, 31.0)], server, 30.0, 30.0) == 31.0


# -- when a job may be stuck ---------------------------------------------------------------------


def _seen(status: Status, progress: int = 0) -> TaskRhythm:
    task = Task.from_json(
        {"id": "1", "action": "IMAGINE", "status": status.value, "progress": f"{progress}%"}
    )
    rhythm = TaskRhythm.start(task, now=0.0, relaxed=False)
    rhythm.status, rhythm.progress = status, progress
    return rhythm


@pytest.mark.parametrize(
    ("rule", "status", "intervals", "quiet_s", "stuck"),
    [
        (
            "running, silent for 6 steps of 7 s: may be stuck",
            Status.IN_PROGRESS,
            [7.0] * 3,
            43,
            True,
        ),
        ("submitted at 0 %: waiting in line", Status.SUBMITTED, [0.1] * 3, 20, False),
        ("running, silent for 5 steps: not yet", Status.IN_PROGRESS, [7.0] * 3, 35, False),
        (
            "queued on a fast server: a queue is not stuck in 5 s",
            Status.SUBMITTED,
            [0.1] * 3,
            5,
            False,
        ),
        (
            "queued on a fast server: 31 s in line may be stuck",
            Status.SUBMITTED,
            [0.1] * 3,
            31,
            True,
        ),
        ("queued, 40 steps of 7 s: not before 280 s", Status.SUBMITTED, [7.0] * 3, 200, False),
        (
            "no rhythm learnt, running: the proxies' 5 min timeout",
            Status.IN_PROGRESS,
            [],
            299,
            False,
        ),
        ("done: never stuck", Status.SUCCESS, [7.0] * 3, 10_000, False),
    ],
)
def test_may_be_stuck(rule, status, intervals, quiet_s, stuck):
    rhythm = _seen(status)
    overdue = rhythm.overdue(rhythm.change_mid + quiet_s, _server(intervals))
    assert (overdue is not None) is stuck, rule


def test_a_task_tracked_from_mid_way_learns_no_interval_from_its_first_step():
    # resumed at 46 %: when it reached 46 % is unknown, so its first step seen teaches nothing
    rhythm, server = _rhythm(Status.IN_PROGRESS, 46, at=100.0), _server()
    server.learn_advance(15)
    rhythm.observe(Task(id="1", status=Status.IN_PROGRESS, progress=62), 104.0, True, server)
    assert rhythm.interval(server) is None and server.interval("IMAGINE") is None
    earliest, latest = rhythm.window(104.0, server, pushed=False)
    assert latest < 104.0 + 10  # still looked at every few seconds
