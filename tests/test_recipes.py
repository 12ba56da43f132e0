"""Recipes and replays: a card's lineage as a cell that runs in a fresh kernel on a fresh
simulator and makes the same chain (same actions, same buttons by meaning, the same mask), and a
replay on another server or model version that says which step it cannot make."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mjwidgets as mjw
from mjwidgets import ButtonKind, sim
from mjwidgets.client import Client
from mjwidgets.models import Button, Status
from mjwidgets.store import HistoryStore
from mjwidgets.tracking import Tracker

pytestmark = pytest.mark.timeout(240)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def studio(tmp_path):
    """A simulator, a history file and a tracker, as a Studio has them."""
    with sim.start(speed=200) as server:
        store = HistoryStore(tmp_path / "home" / "history.sqlite3")
        with Tracker(Client(server.url), store, prefetch="final") as tracker:
            yield server, tracker, store
        store.close()


def _mask(size: tuple[int, int]) -> np.ndarray:
    width, height = size
    mask = np.zeros((height, width), np.uint8)
    mask[height // 8 : height // 3, width // 5 : width // 2] = 255
    return mask


def _chain(tracker: Tracker, prompt: str = "a red fox in snow --v 7"):
    """imagine → U2 → Vary (Region) with a mask → U1 → Animate (High) → video U1 → Extend."""
    grid = tracker.imagine(prompt).wait(timeout=60)
    single = tracker.action(grid, grid.button_for(ButtonKind.UPSAMPLE, index=2)).wait(timeout=60)
    dialog = tracker.action(single, single.button_for(ButtonKind.INPAINT)).wait(timeout=60)
    assert dialog.status is Status.MODAL
    varied = tracker.modal(dialog, prompt="a dragon", mask=_mask(dialog.parent_image_size))
    varied = varied.wait(timeout=60)
    kept = tracker.action(varied, varied.button_for(ButtonKind.UPSAMPLE, index=1)).wait(timeout=60)
    animate = kept.button_for(ButtonKind.ANIMATE, motion="high")
    video = tracker.action(kept, animate).wait(timeout=120)
    clip = tracker.action(video, video.button_for(ButtonKind.UPSAMPLE, index=1)).wait(timeout=120)
    extend = clip.button_for(ButtonKind.ANIMATE, motion="high", extends=True)
    return tracker.action(clip, extend).wait(timeout=120)


def _submits(path: Path) -> list[tuple]:
    """What the journal says was sent, by meaning: (endpoint, button meaning, prompt, mask)."""
    store = HistoryStore(path)
    try:
        rows = store.read(
            "SELECT endpoint, body FROM intents WHERE outcome='ok' ORDER BY created_at"
        )
        sent = []
        for row in rows:
            body = json.loads(row["body"])
            name = row["endpoint"].rsplit("/", 1)[-1]
            meaning = Button(body["customId"]).meaning if "customId" in body else None
            sent.append((name, meaning, body.get("prompt"), body.get("maskBase64")))
        return sent
    finally:
        store.close()


def test_a_recipe_from_a_card_remakes_the_chain_in_a_fresh_kernel_on_a_fresh_simulator(
    studio, tmp_path
):
    _, tracker, store = studio
    last = _chain(tracker)
    code = mjw.recipe(last)  # what "Copy as code" puts on the clipboard
    assert "customId" not in code and "MJ::" not in code  # buttons by meaning only
    assert "button_for(ButtonKind.INPAINT)" in code and "mask=MASK_1" in code
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "recipe.py").write_text(code)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("MJ_BASE_URL", "MJ_API_KEY", "MJ_AUTH")
    }
    env.update(MJ_HOME=str(fresh / "home"), MJ_SIM_SPEED="200", PYTHONPATH=str(ROOT))
    run = subprocess.run(
        [sys.executable, "recipe.py"], cwd=fresh, env=env, capture_output=True, text=True,
        timeout=200,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    original = _submits(store.path)
    remade = _submits(fresh / "home" / "history.sqlite3")
    assert [s[0] for s in remade] == [
        "imagine", "action", "action", "modal", "action", "action", "action", "action",
    ]  # fmt: skip
    assert remade == original  # same actions, same buttons by meaning, same prompts and mask
    digest = next(s[3] for s in remade if s[3])
    hexdigest = digest.split(":")[1]
    kept_here = next((store.folder / "inputs").glob(f"{hexdigest}.*")).read_bytes()
    kept_there = next((fresh / "home" / "inputs").glob(f"{hexdigest}.*")).read_bytes()
    assert kept_there == kept_here  # the very mask bytes were sent again


def test_a_hostile_prompt_stays_data_in_the_recipe(studio):
    _, tracker, _ = studio
    prompt = "a fox'''\"\"\" \\n\nimport os; os.system('echo pwned') # --ar 3:2"
    grid = tracker.imagine(prompt).wait(timeout=60)
    code = mjw.recipe(grid)
    tree = ast.parse(code)  # valid Python
    calls = {
        node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
    }
    assert calls == {"default", "imagine", "wait"}  # no os.system: the prompt is a literal
    literals = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
    assert grid.prompt in literals


def test_replay_on_another_flavour_goes_as_far_as_it_can_and_names_the_step(studio):
    _, tracker, store = studio
    grid = tracker.imagine("a lighthouse at dusk --v 6.1").wait(timeout=60)
    single = tracker.action(grid, "U3").wait(timeout=60)
    zoomed = tracker.action(single, single.button_for(ButtonKind.OUTPAINT, zoom=2.0))
    zoomed = zoomed.wait(timeout=60)
    with sim.start(speed=200, flavor="trueai") as other:  # Plus-like: can press everything
        with Tracker(Client(other.url), store) as there:
            done = mjw.replay(zoomed, tracker=there)
            assert done.ok, done.reason
            assert [old.id for old, _ in done.pairs] == [grid.id, single.id, zoomed.id]
            assert done.pairs[-1][1].origin_button.meaning == {"kind": "outpaint", "zoom": 2.0}
            assert done.pairs[-1][1].server == other.url  # made there, kept in the same history
    with sim.start(speed=200, flavor="oss") as oss:  # no buttons, no /submit/action
        with Tracker(Client(oss.url), store) as there:
            partial = mjw.replay(zoomed, tracker=there)
    assert not partial.ok and partial.stopped_at == 1
    assert len(partial.pairs) == 1 and partial.pairs[0][1].status is Status.SUCCESS
    assert partial.reason.startswith("step 2 (press U3)") and "reports no buttons" in partial.reason


def test_replay_on_another_model_version_stops_where_that_version_has_no_such_button(studio):
    _, tracker, _ = studio
    grid = tracker.imagine("a red fox in snow --v 7").wait(timeout=60)
    single = tracker.action(grid, "U2").wait(timeout=60)
    zoomed = tracker.action(single, "Zoom Out 2x").wait(timeout=60)
    estimate = mjw.estimate(zoomed)
    assert (estimate.jobs, estimate.gpu_minutes) == (3, 2.0)  # imagine 1 + U 0 + zoom 1
    done = mjw.replay(zoomed, tracker=tracker, version="8")
    assert done.items[0].new.prompt.endswith("--v 8")
    assert done.stopped_at == 2 and len(done.pairs) == 2
    assert "outpaint" in done.reason and "Vary (Region)" in done.reason  # what V8 offers
    view = done.compare(all_steps=True)  # old and new side by side
    assert len(view.items) == 4 and view.items[0]["task_id"] == grid.id


def test_button_for_finds_the_same_meaning_on_other_versions():
    def task(*ids):
        return mjw.Task.from_json(
            {"id": "1", "status": "SUCCESS", "buttons": [{"customId": i} for i in ids]}
        )

    v6 = task("MJ::JOB::upsample_v6_2x_subtle::1::a::SOLO", "MJ::JOB::animate_low::1::a::SOLO")
    v7 = task("MJ::JOB::upsample_v7_2x_subtle::1::b::SOLO", "MJ::JOB::animate_low::1::b::SOLO")
    meaning = v6.buttons[0].meaning
    assert meaning == {"kind": "upscale_hd", "factor": 2, "variant": "subtle"}
    assert v7.button_for(**meaning).custom_id.startswith("MJ::JOB::upsample_v7_2x_subtle")
    assert v7.button_for(**v6.buttons[1].meaning).motion == "low"
    v5 = task("MJ::JOB::upsample_v5_2x::1::c::SOLO")
    with pytest.raises(mjw.ValidationError, match=r"no upscale_hd \(factor=2, variant='subtle'\)"):
        v5.button_for(**meaning)
