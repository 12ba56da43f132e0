"""The Studio and the library: a sweep's and a replay's estimate in the status bar before they
run, a Studio's own budget and its refusal in the status bar when a submit is stopped; a dropped
picture that carries its record offers to continue from it."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from mjwidgets import sim
from mjwidgets.budget import Budget, set_kernel_budget
from mjwidgets.client import Client
from mjwidgets.errors import BudgetExceeded
from mjwidgets.models import Status
from mjwidgets.store import HistoryStore
from mjwidgets.tracking import Tracker
from mjwidgets.widgets.studio import Studio

pytestmark = pytest.mark.timeout(180)
IMAGINE = "POST /mj/submit/imagine"


def _until(predicate, timeout=90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


@pytest.fixture
def setup(tmp_path):
    set_kernel_budget(None)
    with sim.start(speed=200) as server:
        store = HistoryStore(tmp_path / "history.sqlite3")
        with Tracker(Client(server.url), store, prefetch="none") as tracker:
            yield server, tracker
        store.close()
    set_kernel_budget(None)


def test_a_sweep_shows_its_estimate_and_stops_at_the_studios_budget(setup):
    server, tracker = setup
    budget = Budget(jobs=2, name="studio budget")
    studio = Studio(tracker=tracker, budget=budget)
    try:
        shown: list[str] = []
        studio.bar.observe(lambda change: shown.append(change["new"]), names="status_text")
        sweep = studio.sweep("a red fox", stylize=[50, 250, 750])
        # the estimate first, before anything is sent
        assert shown[0].startswith("sweep of 3 prompts: ≈ 3.0 Fast GPU minutes for 3 jobs")
        assert "the studio budget has 2 job(s) left: submits stop there" in shown[0]
        sweep.wait(timeout=120)
        assert server.stats()["requests"].get(IMAGINE) == 2
        _until(lambda: studio.bar.status_text.startswith("Budget: studio budget reached"))
        assert "raise the studio budget's limit_jobs (now 2)" in studio.bar.status_text
        assert all(t.status is Status.SUCCESS for t in sweep.tasks)  # what ran finished

        with pytest.raises(BudgetExceeded):  # the prompt box's path: said in the status bar
            studio.imagine("one fox too many")
        assert studio.bar.status_text.startswith("Budget: studio budget reached")
        assert "this /imagine not sent" in studio.bar.status_text
        assert server.stats()["requests"].get(IMAGINE) == 2
    finally:
        studio.close()


def test_the_estimate_warns_when_the_budget_cannot_pay_for_all_of_it(setup):
    _, tracker = setup
    studio = Studio(tracker=tracker, budget=Budget(minutes=1.5, name="studio budget"))
    try:
        lines: list[str] = []
        studio.bar.observe(lambda change: lines.append(change["new"]), names="status_text")
        studio.sweep("a grey wolf", ar=["1:1", "3:2"]).wait(timeout=120)
        estimate = next(line for line in lines if line.startswith("sweep of 2 prompts"))
        assert "≈ 2.0 Fast GPU minutes for 2 jobs" in estimate
        assert "the studio budget has 1.5 Fast GPU min left: submits stop there" in estimate
    finally:
        studio.close()


def test_a_replay_shows_its_estimate_and_its_cards(setup):
    _, tracker = setup
    grid = tracker.imagine("a lighthouse --v 6.1").wait(timeout=60)
    single = tracker.action(grid, "U1").wait(timeout=60)
    studio = Studio(tracker=tracker)
    try:
        lines: list[str] = []
        studio.bar.observe(lambda change: lines.append(change["new"]), names="status_text")
        run = studio.replay(single, version="7").wait(timeout=120)
        assert run.ok
        assert lines[0].startswith("replay: ≈ 1.0 Fast GPU minutes for 2 jobs"), lines
        _until(lambda: len(studio.cards) == 2)
        new_grid, new_single = (new for _old, new in run.pairs)
        assert set(studio.cards) == {new_grid.id, new_single.id}
        assert "--v 7" in new_grid.prompt
        _until(lambda: studio.bar.status_text.startswith("replay: 2 of 2 steps made"))
    finally:
        studio.close()


def test_a_dropped_picture_offers_to_continue_from_it(setup, tmp_path):
    _, tracker = setup
    grid = tracker.imagine("a teal kite over dunes --ar 3:2").wait(timeout=60)
    single = tracker.action(grid, "U4").wait(timeout=60)
    saved = single.save(tmp_path / "saved")
    picture = next(p for p in saved.parent.iterdir() if p.suffix in (".png", ".jpg", ".jpeg"))
    studio = Studio(tracker=tracker)
    try:
        drop = studio.drop
        shown_files: list[str] = []  # every offer the page is sent names the file dropped
        drop.widget.observe(lambda c: shown_files.append(c["new"].get("file", "")), "offer")
        drop._on_message(drop.widget, {"type": "file", "name": "kite.png"},
                         [picture.read_bytes()])  # fmt: skip
        _until(lambda: drop.widget.offer.get("id") == single.id)
        offer = drop.widget.offer
        assert offer["file"] == "kite.png" and offer["same_server"] is True
        assert shown_files == ["kite.png"], "never the name of the kernel's copy"
        assert offer["prompt"] == "a teal kite over dunes --ar 3:2"
        assert offer["estimate"].startswith("≈ 1.0 Fast GPU minutes for 2 jobs")
        drop._on_message(drop.widget, {"type": "continue"}, [])
        _until(lambda: single.id in studio.cards)
        assert drop.widget.offer == {} and single.id in drop.widget.note
        assert studio.cards[single.id].task.buttons  # its buttons can be pressed again

        # "Make it again here": the lineage replayed on the Studio's server, each step a card
        drop._on_message(drop.widget, {"type": "file", "name": "kite.png"},
                         [picture.read_bytes()])  # fmt: skip
        _until(lambda: drop.widget.offer.get("id") == single.id)
        drop._on_message(drop.widget, {"type": "replay"}, [])
        _until(lambda: len(studio.cards) == 3 and studio.bar.status_text.startswith("replay: 2 of"))
        assert drop.widget.offer == {}
        remade = [view.task for key, view in studio.cards.items() if key != single.id]
        assert sorted(t.action for t in remade) == ["IMAGINE", "UPSCALE"]

        plain = io.BytesIO()
        Image.new("RGB", (8, 8), "white").save(plain, "PNG")
        drop._on_message(drop.widget, {"type": "file", "name": "plain.png"}, [plain.getvalue()])
        _until(lambda: drop.widget.note.startswith("plain.png:"))
        assert "carries no mjwidgets record" in drop.widget.note
        assert drop.widget.offer == {}
    finally:
        studio.close()
