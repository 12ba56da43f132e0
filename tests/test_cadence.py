"""The timing model, rule by rule: each row is one rule of mjwidgets.cadence and what it decides.

Pure functions of what was seen and when (``now`` is passed in), so no clock and no server.
"""

from __future__ import annotations

import pytest

from mjwidgets.cadence import ServerRhythm, TaskRhythm, lag_budget
from mjwidgets.models import Status, Task


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
    ("rule", "progress", "interval", "expected"),
    [
        ("the result: 7 % of a step", 93, 7.0, 0.49),
        ("the result: never more than 0.5 s", 93, 20.0, 0.5),
        ("the result: never less than 30 ms", 93, 0.1, 0.03),
        ("the last step (78 %) anchors the result: 60 %", 78, 5.0, 3.0),
        ("the last step: at most 4 s", 78, 60.0, 4.0),
        ("mid-way steps may show a step late", 31, 7.0, 7.0),
        ("mid-way steps: at most 8 s", 31, 30.0, 8.0),
        ("mid-way steps: at least 0.1 s", 0, 0.01, 0.1),
    ],
)
def test_lag_budget(rule, progress, interval, expected):
    assert lag_budget(progress, interval) == pytest.approx(expected), rule


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
    rhythm.steps.append((0, 0.0, 0.0))
    rhythm.progress_steps.extend([16, 15])
    task = Task(id="1", status=Status.IN_PROGRESS, progress=46)  # 15 → 46 skips 31
    rhythm.observe(task, 14.0, True, server, seen_unchanged_at=14.0)
    assert rhythm.steps[-1][0] == 2
    assert rhythm.interval_low == pytest.approx(7.0) and rhythm.interval_high == pytest.approx(7.0)


def test_no_prediction_before_the_task_runs():
    assert _rhythm(Status.SUBMITTED).predict(_server([7.0, 7.0])) is None


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
