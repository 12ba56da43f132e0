"""Budgets, estimates and the ledger: one cost table priced three ways that agree; a sweep over
its budget is stopped before the first over-budget submit and nothing in flight is lost."""

from __future__ import annotations

import pytest

import mjwidgets as mjw
from mjwidgets import costs, sim
from mjwidgets.budget import Budget, set_kernel_budget
from mjwidgets.client import Client
from mjwidgets.errors import BannedPromptError, BudgetExceeded
from mjwidgets.models import Button, Status
from mjwidgets.store import HistoryStore
from mjwidgets.sweep import Sweep
from mjwidgets.tracking import Tracker

pytestmark = pytest.mark.timeout(180)
IMAGINE = "POST /mj/submit/imagine"


@pytest.fixture
def studio(tmp_path):
    with sim.start(speed=200) as server:
        store = HistoryStore(tmp_path / "history.sqlite3")
        with Tracker(Client(server.url), store, prefetch="none") as tracker:
            yield server, tracker, store
        store.close()


@pytest.fixture(autouse=True)
def no_kernel_budget():
    set_kernel_budget(None)
    yield
    set_kernel_budget(None)


def test_a_sweep_over_its_budget_stops_before_the_first_over_budget_submit(studio):
    server, tracker, _ = studio
    budget = Budget(minutes=2.5, name="sweep budget")
    sweep = Sweep("a red fox", {"stylize": [50, 250, 750, 1000]}, tracker, budget=budget)
    assert str(sweep.estimate()).startswith("≈ 4.0 Fast GPU minutes for 4 jobs")
    sweep.start().wait(timeout=120)
    assert server.stats()["requests"].get(IMAGINE) == 2  # the third would be 3 of 2.5
    sent, refused = sweep.items[:2], sweep.items[2:]
    assert all(item.task.status is Status.SUCCESS for item in sent)  # in flight: finished
    assert all(item.task is None and item.error.startswith("not sent") for item in refused)
    assert "sweep budget reached" in sweep.stopped and "spent so far 2" in sweep.stopped
    assert "raise the sweep budget's limit_minutes (now 2.5)" in sweep.stopped
    assert "2 not sent: budget reached" in sweep.summary()
    assert budget.spent_minutes == 2.0 and budget.spent_jobs == 2
    budget.limit_minutes = 10  # raising the limit lets the next submit through
    assert tracker.imagine("a red fox --s 750", budget=budget).wait(timeout=60)


def test_the_estimate_and_the_ledger_agree_with_the_table(studio):
    server, tracker, store = studio
    prompts = ["a fox --q .5", "a fox --q 1", "a fox --q 2", "an owl --v 7 --turbo"]
    table = costs.COST_TABLE["imagine"].gpu_minutes
    by_hand = table * 0.5 + table * 1 + table * 2 + table * costs.MODE_FACTORS["turbo"]
    estimate = mjw.estimate(prompts)
    assert estimate.gpu_minutes == by_hand == 5.5 and estimate.jobs == 4
    grid = None
    for prompt in prompts:
        grid = tracker.imagine(prompt).wait(timeout=60)
    single = tracker.action(grid, "U1").wait(timeout=60)
    upscaled = tracker.action(single, "Upscale (Subtle)").wait(timeout=60)
    ledger = mjw.ledger(store)
    hd = costs.COST_TABLE["upscale_2x"].gpu_minutes * costs.MODE_FACTORS["turbo"]
    assert ledger.gpu_minutes == by_hand + hd  # U1 costs 0; the upscale inherits --turbo
    assert ledger.cost(upscaled).gpu_minutes == hd == mjw.estimate(upscaled).by_job()[
        "upscale_2x"
    ][1]  # fmt: skip
    families = {line.key: line for line in ledger.per_family()}
    assert families["a fox"].jobs == 3 and families["a fox"].gpu_minutes == 3.5
    assert families["an owl"].kept == 2  # U1 and its upscale were kept
    assert [line.gpu_minutes for line in ledger.per_day()] == [by_hand + hd]
    kept = {line.key: line.gpu_minutes for line in ledger.per_kept_image()}
    assert kept[upscaled.id] == 2.0 + hd  # the owl's imagine (turbo), U1, the upscale


def test_every_submit_path_is_checked_and_a_refused_submit_is_given_back(studio):
    server, tracker, _ = studio
    kernel = set_kernel_budget(jobs=2)
    grid = tracker.imagine("a red fox").wait(timeout=60)
    with pytest.raises(BannedPromptError):
        tracker.imagine("a photo of blood")  # refused by the server: costs nothing
    assert kernel.spent_jobs == 1
    single = tracker.action(grid, "U2").wait(timeout=60)
    before = server.stats()["requests"].get("POST /mj/submit/action", 0)
    with pytest.raises(BudgetExceeded, match="kernel budget reached: pressing Vary"):
        tracker.action(single, "Vary (Strong)")
    assert server.stats()["requests"].get("POST /mj/submit/action", 0) == before  # not sent
    assert tracker.get(single.id).status is Status.SUCCESS  # nothing else changed


def test_failed_jobs_stop_counting(studio):
    server, tracker, _ = studio
    budget = Budget(minutes=1)
    server.configure(fail_rate=1.0, fail_at=20, fail_reason="internal error")
    task = tracker.imagine("a doomed fox", budget=budget)
    with pytest.raises(mjw.TaskFailed):
        task.wait(timeout=60)
    server.configure(fail_rate=0.0)
    assert budget.spent_minutes == 0  # Midjourney does not charge failed jobs
    assert tracker.imagine("a lucky fox", budget=budget).wait(timeout=60)


def test_a_replay_stops_at_its_budget(studio):
    _, tracker, _ = studio
    grid = tracker.imagine("a lighthouse --v 6.1").wait(timeout=60)
    single = tracker.action(grid, "U1").wait(timeout=60)
    varied = tracker.action(single, "Vary (Strong)").wait(timeout=60)
    budget = Budget(minutes=1.5, name="replay budget")
    done = mjw.replay(varied, tracker=tracker, budget=budget)
    assert done.stopped_at == 2 and "replay budget reached" in done.reason
    assert budget.spent_minutes == 1.0  # the imagine; U1 is free; the variation was refused


def test_the_table_names_its_sources_and_prices_modes_quality_and_video():
    for row in costs.COST_TABLE.values():
        assert row.source in costs.SOURCES and row.basis in ("stated", "estimate") and row.note
    assert costs.imagine_cost("a fox --relax").gpu_minutes == 0
    assert costs.imagine_cost("a fox", "turbo").gpu_minutes == 2.0
    assert costs.imagine_cost("a fox --q .25").gpu_minutes == 0.25
    assert costs.imagine_cost("a fox --r 3").jobs == 3
    animate = Button("MJ::JOB::animate_high::1::h::SOLO")
    assert costs.job_cost(animate).gpu_minutes == 8.0  # about eight image jobs
    assert costs.video_cost(hd=True, batch_size=2).gpu_minutes == pytest.approx(12.8)
    assert costs.press_cost(Button("MJ::Inpaint::1::h::SOLO")).gpu_minutes == 0  # paid at modal
