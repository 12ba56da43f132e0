"""Images: cached at success, served after the URL expires, split, saved with a sidecar; lineage."""

from __future__ import annotations

import hashlib
import io
import json
import time

import pytest
from PIL import Image, ImageDraw

from mjwidgets import sim
from mjwidgets.client import Client
from mjwidgets.errors import NotFoundError, ValidationError
from mjwidgets.imagecache import ImageCache
from mjwidgets.models import Status, Task
from mjwidgets.store import HistoryStore
from mjwidgets.tracking import Tracker

pytestmark = pytest.mark.timeout(300)  # catches a hang; a loaded machine is slow, not hung


@pytest.fixture
def store(tmp_path):
    with HistoryStore(tmp_path / "history.sqlite3") as opened:
        yield opened


def test_images_are_cached_at_success_and_served_after_the_url_expires(store, tmp_path):
    with sim.start(speed=40.0) as server:
        client = Client(server.url)
        with Tracker(client, store) as tracker:
            grid = tracker.wait(tracker.imagine("a red fox in snow --ar 3:2"), timeout=20)
            single = tracker.wait(tracker.action(grid, "U2"), timeout=20)
            assert tracker.cache.drain(timeout=20)
            cache = tracker.cache
            for task in (grid, single):  # downloaded without anyone asking
                path = cache.path(task)
                assert path.parent == tmp_path / "images"
                assert path.stem == hashlib.sha256(path.read_bytes()).hexdigest()
            server.configure(image_ttl=0.05)
            time.sleep(0.1)
            with pytest.raises(NotFoundError):
                client.download(grid.image_url)  # the link is dead now …
            image = cache.image(grid)  # … the cached copy is not
    assert image.size == (grid.image_size or image.size)
    tiles = cache.tiles(grid)
    assert len(tiles) == 4 and tiles[0].size == (image.width // 2, image.height // 2)
    assert [t.size for t in cache.tiles(single)] == [cache.image(single).size]
    saved = cache.save(grid, tmp_path / "out")
    sidecar = json.loads(saved.with_suffix(".json").read_text("utf-8"))
    assert saved.exists() and saved.name == f"mj-{grid.id}.png"
    assert sidecar["prompt"].endswith("a red fox in snow --ar 3:2")
    assert sidecar["parameters"] == {"ar": "3:2"}
    # one record format for sidecars and manifests (mjwidgets.records)
    assert sidecar["total_s"] > 0 and sidecar["grid"] is True
    child = json.loads(cache.save(single, tmp_path / "out").with_suffix(".json").read_text())
    assert [step["button"] for step in child["lineage"]] == [None, "U2"]


class _FakeClient:
    """Serves fixed bytes for any URL (to feed the cache hostile content)."""

    base_url = "http://mj.example"

    def __init__(self, data: bytes) -> None:
        self.data = data

    def download(self, url: str, *, max_bytes: int) -> bytes:
        return self.data


def _png(size=(64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "orange").save(buffer, "PNG")
    return buffer.getvalue()


def test_file_names_never_come_from_server_strings(store, tmp_path):
    task = Task.from_json(
        {
            "id": "../../etc/passwd",
            "status": "SUCCESS",
            "imageUrl": "http://mj.example/../../evil.sh",
        }
    )
    task.bind(_FakeClient(_png()))
    cache = ImageCache(store=store)
    path = cache.fetch(task)
    assert path.parent == tmp_path / "images" and path.suffix == ".png"
    saved = cache.save(task, tmp_path / "out")
    assert saved.parent == tmp_path / "out" and saved.name == "mj-etcpasswd.png"


def test_a_display_rendition_is_kept_beside_each_image_for_the_cards(store, tmp_path):
    task = Task.from_json(
        {"id": "7", "status": "SUCCESS", "imageUrl": "http://mj.example/7.png"}
    ).bind(_FakeClient(_png((2048, 1024))))
    cache = ImageCache(store=store)
    original = cache.fetch(task)
    kept = tmp_path / "images" / "display" / f"{original.stem}.jpg"
    assert kept.exists()  # made while caching, before any card asks
    shown = cache.display(task)
    assert shown.jpeg == kept.read_bytes() and shown.size == (2048, 1024)
    with Image.open(io.BytesIO(shown.jpeg)) as picture:
        assert picture.format == "JPEG" and picture.size == (1024, 512)
    kept.unlink()  # an image cached before renditions were kept: made again on demand
    assert cache.display(task).jpeg[:2] == b"\xff\xd8" and kept.exists()


def test_decompression_bombs_and_non_images_are_refused(store, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    cache = ImageCache(store=store)
    bomb = Task.from_json({"id": "1", "status": "SUCCESS", "imageUrl": "http://mj.example/1.png"})
    with pytest.raises(ValidationError, match="decompression bomb"):
        cache.fetch(bomb.bind(_FakeClient(_png((100, 100)))))
    text = Task.from_json({"id": "2", "status": "SUCCESS", "imageUrl": "http://mj.example/2.png"})
    with pytest.raises(ValidationError, match="not an image"):
        cache.fetch(text.bind(_FakeClient(b"<html>surprise</html>")))
    assert not list(cache.folder.glob("*.*"))


def test_lineage_of_imagine_u2_vary_region_u1(store):
    with sim.start(speed=40.0) as server:
        client = Client(server.url)
        with Tracker(client, store, prefetch="none") as tracker:
            grid = tracker.wait(tracker.imagine("a red fox in snow"), timeout=20)
            upscaled = tracker.wait(tracker.action(grid, "U2"), timeout=20)
            modal = tracker.action(upscaled, "Vary (Region)")
            assert modal.status is Status.MODAL
            mask = Image.new("L", upscaled.image_size, 0)
            width, height = upscaled.image_size
            ImageDraw.Draw(mask).rectangle(
                (width // 4, height // 4, width // 2, height // 2), fill=255
            )
            varied = tracker.wait(tracker.modal(modal, prompt="a snowy owl", mask=mask), timeout=20)
            assert varied.id == modal.id and modal.status is Status.SUCCESS  # updated in place
            final = tracker.wait(tracker.action(varied, "U1"), timeout=20)
    tree = store.lineage(final.id)
    chain = [(node.via.display if node.via else None, node.task.id) for node in tree.walk()]
    assert chain == [
        (None, grid.id),
        ("U2", upscaled.id),
        ("Vary (Region)", varied.id),
        ("U1", final.id),
    ]
    assert [n.task.id for n in store.lineage(grid.id).walk()] == [t for _, t in chain]
    assert store.get(varied.id).prompt == "a snowy owl"
    assert store.intents(outcome="ok")[0].endpoint == "/mj/submit/action"
    modal_intent = next(i for i in store.intents(outcome="ok") if i.endpoint.endswith("modal"))
    assert modal_intent.body["maskBase64"].startswith("sha256:")  # the mask is a digest only
