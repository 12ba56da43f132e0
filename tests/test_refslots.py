"""The Studio's reference slots in the kernel: a dropped file arrives as bytes, is checked, kept,
shown as a small thumbnail, planned into the prompt, and sent with the next Imagine — against
the real simulator and a real history file."""

from __future__ import annotations

import base64
import io
from contextlib import contextmanager

from PIL import Image

from mjwidgets import sim
from mjwidgets.client import Client
from mjwidgets.prompt import Prompt
from mjwidgets.store import HistoryStore
from mjwidgets.tracking import Tracker
from mjwidgets.widgets.refslots import MAX_DROP_BYTES, THUMB_SIDE
from mjwidgets.widgets.studio import Studio

UPLOAD = "POST /mj/submit/upload-discord-images"


def photo_bytes(size=(1600, 1200)) -> bytes:
    image = Image.effect_noise(size, 60).convert("RGB")  # noise: a big file, as photos are
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@contextmanager
def studio_on(flavor, tmp_path):
    with sim.start(speed=200.0, flavor=flavor) as server:
        client = Client(server.url, flavor=flavor)
        tracker = Tracker(client, store=HistoryStore(tmp_path / "history.sqlite3"))
        try:
            yield server, Studio(client, tracker=tracker)
        finally:
            tracker.close()


def drop(studio: Studio, slot: str, data: bytes, name: str = "photo.png") -> None:
    """What the browser sends when a file is dropped on a slot (one binary buffer)."""
    studio.slots._on_message(None, {"type": "ref_add", "slot": slot, "name": name}, [data])


def test_a_dropped_file_becomes_a_small_thumbnail_and_goes_with_the_next_imagine(tmp_path):
    with studio_on("plus", tmp_path) as (server, studio):
        data = photo_bytes()
        drop(studio, "sref", data)
        (entry,) = studio.bar.references
        assert entry["slot"] == "sref" and entry["label"] == "photo.png"
        thumb = base64.b64decode(entry["thumb"].split(",", 1)[1])
        assert max(Image.open(io.BytesIO(thumb)).size) <= THUMB_SIDE
        assert len(thumb) * 50 < len(data), "the browser gets a thumbnail, not the image"
        studio.slots.set_text("a fox --sw 300")
        assert studio.bar.planned_prompt.startswith("a fox --sw 300 --sref https://(upload)/")
        assert server.stats()["requests"].get(UPLOAD, 0) == 0, "nothing sent before Imagine"
        studio.prompt_bar._on_message(None, {"type": "imagine", "seq": 1, "prompt": "a fox"}, [])
        (view,) = studio.cards.values()
        assert "/mj/attachments/" in str(Prompt(view.task.prompt).params["sref"])
        assert studio.bar.references, "the slot keeps its image for the next prompt"
        key = entry["id"]
        studio.slots._on_message(None, {"type": "ref_remove", "id": key}, [])
        assert studio.bar.references == [] and studio.slots.options() == {}


def test_a_bad_file_is_refused_in_the_bar_and_nothing_is_kept(tmp_path):
    with studio_on("plus", tmp_path) as (_server, studio):
        drop(studio, "images", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "logo.svg")
        assert "SVG" in studio.bar.error and studio.bar.error.startswith("Not added")
        drop(studio, "sref", b"\x89PNG" + bytes(MAX_DROP_BYTES), "huge.png")
        assert "over 30 MB" in studio.bar.error, studio.bar.error
        assert studio.bar.references == [] and studio.slots.options() == {}


def test_a_server_without_uploads_says_so_before_sending(tmp_path):
    with studio_on("oss", tmp_path) as (server, studio):
        drop(studio, "cref", photo_bytes((300, 200)))
        assert "character reference" in studio.bar.references_problem
        assert "upload" in studio.bar.references_problem
        drop(studio, "images", photo_bytes((300, 200)))
        studio.slots.set_text("a fox")
        assert "https://(attached)/" in studio.bar.planned_prompt
        studio.prompt_bar._on_message(None, {"type": "imagine", "seq": 1, "prompt": "a fox"}, [])
        assert studio.cards == {} and "Not sent" in studio.bar.error
        assert server.stats()["requests"].get("POST /mj/submit/imagine", 0) == 0
