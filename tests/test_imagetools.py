"""The Studio's image tools in the kernel — Describe, Blend, Shorten and the editor on any image —
against the real simulator (each flavour where it differs) and a real history file."""

from __future__ import annotations

import io
import time
from contextlib import contextmanager

import numpy as np
from PIL import Image

from mjwidgets import sim
from mjwidgets.client import Client
from mjwidgets.masks import Rect
from mjwidgets.store import HistoryStore
from mjwidgets.tracking import Tracker
from mjwidgets.widgets.studio import Studio


def picture(colour, size=(320, 240)) -> bytes:
    image = Image.effect_noise(size, 40).convert("RGB")
    image = Image.blend(image, Image.new("RGB", size, colour), 0.8)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@contextmanager
def studio_on(flavor, tmp_path, **options):
    with sim.start(speed=200.0, flavor=flavor, **options) as server:
        client = Client(server.url, flavor=flavor)
        tracker = Tracker(client, store=HistoryStore(tmp_path / "history.sqlite3"))
        try:
            yield server, Studio(client, tracker=tracker)
        finally:
            tracker.close()


def until(condition, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached")


def tool(studio: Studio, content: dict, data: bytes | None = None) -> None:
    """What the browser sends when a tool is used."""
    studio.tools._on_message(None, content, [data] if data is not None else [])


def test_describe_blend_and_shorten_from_the_bar_make_cards(tmp_path):
    with studio_on("plus", tmp_path) as (_server, studio):
        tool(studio, {"type": "tool_describe", "name": "a.png"}, picture((30, 60, 200)))
        assert studio.bar.error == ""
        (described,) = studio.cards.values()
        assert described.task.action == "DESCRIBE"
        done = studio.tracker.wait(described.task, timeout=60)
        assert len(done.properties["finalPrompt"].split("\n\n")) == 4

        tool(studio, {"type": "tool_blend", "dimensions": "LANDSCAPE"})
        assert "2 to 5 images" in studio.bar.error, "an empty slot is refused before sending"
        red, blue = picture((220, 20, 20)), picture((20, 20, 220))
        studio.add_reference("images", red)
        studio.add_reference("images", blue)
        tool(studio, {"type": "tool_blend", "dimensions": "LANDSCAPE"})
        blended = next(v for v in studio.cards.values() if v.task.action == "BLEND")
        grid = np.asarray(studio.tracker.image(studio.tracker.wait(blended.task, timeout=60)))
        tile = grid[: grid.shape[0] // 2, : grid.shape[1] // 2].astype(int)
        left, right = tile[:, : tile.shape[1] // 2], tile[:, tile.shape[1] // 2 :]
        assert left[..., 0].mean() > left[..., 2].mean() + 60, "the first image's half"
        assert right[..., 2].mean() > right[..., 0].mean() + 60, "the second image's half"
        assert tile.shape[1] > tile.shape[0], "landscape"

        history = [studio.tracker.wait(studio.tracker.imagine(p), timeout=60)
                   for p in ("a red fox", "a blue whale")]  # fmt: skip
        studio.add_reference("sref", history[0])
        thumbs = [r["thumb"] for r in studio.bar.references if r["slot"] == "sref"]
        assert thumbs[0].startswith("data:image/jpeg"), "a history item shows its picture"
        from_history = studio.blend(history, dimensions="PORTRAIT")
        done = studio.tracker.wait(from_history.task, timeout=60)
        assert done.status.value == "SUCCESS" and done.is_grid, "two history items blended"

        tool(studio, {"type": "tool_shorten", "prompt": "a very detailed painting of a fox"})
        shortened = next(v for v in studio.cards.values() if v.task.action == "SHORTEN")
        assert shortened.task.prompt == "a very detailed painting of a fox"


def test_the_editor_on_a_dropped_image_repaints_inside_the_mask_only(tmp_path):
    with studio_on("trueai", tmp_path) as (_server, studio):
        upload = picture((40, 160, 60))
        tool(studio, {"type": "tool_edit", "name": "garden.png"}, upload)
        editor = until(lambda: studio.tools and _editor(studio), "the editor")
        assert editor.note.value == "" and not editor.retexture_button.disabled
        editor.mask_editor.add_op(Rect(100, 60, 220, 180))
        editor.mask_editor.prompt = "a red balloon"
        assert editor.mask_editor.submit()
        view = until(lambda: next(iter(studio.cards.values()), None), "the edit's card")
        done = studio.tracker.wait(view.task, timeout=60)
        assert done.action == "EDIT"
        tile = np.asarray(studio.tracker.tiles(done)[0].convert("RGB")).astype(int)
        source = np.asarray(Image.open(io.BytesIO(upload)).convert("RGB")).astype(int)
        inside = np.zeros(source.shape[:2], bool)
        inside[60:180, 100:220] = True
        assert (tile[~inside] == source[~inside]).all(), "outside the mask: the upload, exactly"
        assert (np.abs(tile[inside] - source[inside]).sum(axis=1) > 0).mean() > 0.9


def test_a_double_click_on_retexture_is_one_job(tmp_path):
    with studio_on("trueai", tmp_path) as (server, studio):
        editor = studio.edit(picture((90, 90, 90)))
        editor.mask_editor.prompt = "marble"
        editor.retexture_button.click()
        editor.retexture_button.click()  # the second click of a double click
        view = until(lambda: next(iter(studio.cards.values()), None), "the retexture's card")
        assert studio.tracker.wait(view.task, timeout=60).action == "RETEXTURE"
        assert server.stats()["requests"].get("POST /mj/submit/retexture", 0) == 1
        assert len(studio.cards) == 1


def test_the_editor_says_what_the_server_cannot_before_sending(tmp_path):
    with studio_on("newapi", tmp_path) as (server, studio):
        editor = studio.edit(picture((90, 90, 90)))
        assert "Retexture" in editor.note.value and editor.retexture_button.disabled
        editor.mask_editor.prompt = "marble"
        editor._start("retexture")
        assert "retexture" in editor.mask_editor.error
        assert server.stats()["requests"].get("POST /mj/submit/retexture", 0) == 0
    with studio_on("trueai", tmp_path / "discord", account="discord") as (server, studio):
        editor = studio.edit(picture((90, 90, 90)))
        editor.mask_editor.add_op(Rect(10, 10, 100, 100))
        editor.mask_editor.prompt = "a boat"
        editor.mask_editor.submit()
        until(lambda: "YouChuan accounts" in editor.mask_editor.error, "the refusal")
        assert "Retexture" in editor.note.value, "learnt: the other job is refused too"
        again = studio.edit(picture((10, 90, 90)))
        assert "Edit" in again.note.value, "a new editor knows it at once"
        again.mask_editor.add_op(Rect(10, 10, 100, 100))
        again.mask_editor.prompt = "a boat"
        again.mask_editor.submit()
        assert server.stats()["requests"].get("POST /mj/submit/edits", 0) == 1


def _editor(studio: Studio):
    from mjwidgets.widgets.imageeditor import ImageEditor

    found = [w for w in studio.cards_box.children if isinstance(w, ImageEditor)]
    return found[-1] if found else None


def test_edits_go_through_the_budgets_like_every_paid_submit(tmp_path):
    from mjwidgets import Budget
    from mjwidgets.errors import BudgetExceeded

    with studio_on("trueai", tmp_path) as (server, studio):
        budget = Budget(minutes=1.5, name="editing budget")
        first = studio.tracker.edit(picture((40, 160, 60)), "a red balloon", budget=budget)
        assert first.action == "EDIT"
        try:
            studio.tracker.retexture(picture((40, 160, 60)), "marble", budget=budget)
        except BudgetExceeded as exc:
            assert "editing budget" in str(exc)
        else:
            raise AssertionError("a second grid's price is over the budget")
        assert server.stats()["requests"].get("POST /mj/submit/retexture", 0) == 0
