"""Clips kept like images: content-addressed, capped, checked, posters from the first frame,
served after the URL expired (and in a new process), saved and exported as playable mp4s, and
what a card may carry into a saved notebook."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

from mjwidgets import sim
from mjwidgets.client import Client
from mjwidgets.errors import NotFoundError, ValidationError
from mjwidgets.export import export_lineage, export_tasks
from mjwidgets.imagecache import ImageCache
from mjwidgets.models import Task
from mjwidgets.provenance import provenance
from mjwidgets.store import HistoryStore
from mjwidgets.tracking import Tracker
from mjwidgets.videocache import CARD_CLIP_BUDGET, VideoCache

KEY = "sk-VIDEO-CACHE-77-SECRET"
FAST = 400.0


def start_frame() -> Image.Image:
    img = Image.new("RGB", (640, 360), (200, 80, 40))
    ImageDraw.Draw(img).ellipse((240, 100, 400, 260), fill=(20, 20, 200))
    return img


def decoded(data: bytes) -> tuple[str, list[np.ndarray]]:
    with av.open(io.BytesIO(data)) as container:
        codec = container.streams.video[0].codec_context.name
        return codec, [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.fixture
def setup(tmp_path):
    """trueai simulator with a separate CDN host; a tracker whose store and cache live in tmp."""
    with sim.start(speed=FAST, flavor="trueai", secret=KEY, image_host=True) as server:
        client = Client(server.url, KEY, auth="raw")
        store = HistoryStore(tmp_path / "history.sqlite3")
        tracker = Tracker(client, store=store, prefetch="final")
        try:
            yield server, client, tracker
        finally:
            tracker.close()


def _video(tracker: Tracker, **options) -> Task:
    options.setdefault("batch_size", 2)
    return tracker.video("a red kite over dunes", image=start_frame(), **options).wait(timeout=120)


def test_clips_are_kept_by_content_with_first_frame_posters_after_the_url_expires(setup, tmp_path):
    server, client, tracker = setup
    video = _video(tracker)
    cache = tracker.cache
    assert cache.drain(60)  # prefetched the moment it succeeded
    for index in range(2):
        clip = cache.videos.clip_path(video, index)
        poster = cache.videos.poster_path(video, index)
        assert clip is not None and poster is not None
        assert clip.parent == cache.folder and clip.suffix == ".mp4"
        assert clip.stem == hashlib.sha256(clip.read_bytes()).hexdigest()
        assert (
            poster.suffix == ".jpg"
            and poster.stem == hashlib.sha256(poster.read_bytes()).hexdigest()
        )
        codec, frames = decoded(clip.read_bytes())
        assert codec == "h264"
        still = np.asarray(Image.open(poster).convert("RGB")).astype(int)
        assert still.shape == frames[0].shape
        assert np.abs(still - frames[0]).mean() < 3  # the first frame (JPEG q92 of it)
        assert np.abs(still - frames[-1]).mean() > np.abs(still - frames[0]).mean()
    assert cache.path(video) == cache.videos.poster_path(video, 0)  # the task's final image
    downloads = server.stats()["requests"]
    assert sum(v for k, v in downloads.items() if k.startswith("image-host GET /video/")) == 2

    server.configure(image_ttl=0.0)  # every CDN link is dead now
    with pytest.raises(NotFoundError):
        client.download(video.video_urls[0].url)
    assert video.clip(1) == cache.videos.clip_path(video, 1).read_bytes()
    assert [t.size for t in video.tiles()] == [(384, 216), (384, 216)]
    assert video.image().size == (384, 216)

    # a new kernel: no client, only the history file and the files beside it
    later = HistoryStore(tmp_path / "history.sqlite3")
    stored = later.get(video.id)
    assert stored is not None and stored.backend is None and stored.is_video
    fresh = ImageCache(store=later, folder=cache.folder)
    assert fresh.videos.clip(stored, 1).read_bytes() == video.clip(1)
    assert fresh.image(stored).size == (384, 216)
    assert server.stats()["image_host_auth_seen"] == 0  # the key never went to the CDN host


class _Serves:
    """A downloader that answers every URL with fixed bytes (a broken or hostile CDN)."""

    base_url = "http://mj.example"

    def __init__(self, data: bytes) -> None:
        self.data = data

    def download(self, url: str, *, max_bytes: int) -> bytes:
        if len(self.data) > max_bytes:
            raise ValidationError(f"refused {url}: larger than {max_bytes} bytes")
        return self.data


def _clip_task() -> Task:
    return Task.from_json(
        {"id": "v1", "action": "VIDEO", "status": "SUCCESS",
         "videoUrls": [{"url": "http://cdn.example/video/j/0_0.mp4"}]}
    )  # fmt: skip


def test_oversized_and_non_video_clips_are_refused_and_not_kept(setup, tmp_path):
    server, client, tracker = setup
    real = client.clip(_video(tracker, batch_size=1))
    store = HistoryStore(tmp_path / "other.sqlite3")
    capped = VideoCache(ImageCache(tmp_path / "files", store=store), max_bytes=len(real) - 1)
    with pytest.raises(ValidationError, match="larger than"):
        capped.clip(_clip_task(), 0, client=_Serves(real))
    videos = ImageCache(tmp_path / "files", store=store).videos
    png = io.BytesIO()
    start_frame().save(png, "PNG")
    hostile = [b"<html><body>login</body></html>", png.getvalue(), real[: len(real) // 3]]
    for data in hostile:
        with pytest.raises(ValidationError):
            videos.clip(_clip_task(), 0, client=_Serves(data))
    assert list((tmp_path / "files").iterdir()) == []  # nothing was kept
    assert store.image_record("", "v1", "video:0") is None
    kept = videos.clip(_clip_task(), 0, client=_Serves(real))
    assert kept.read_bytes() == real


def test_save_and_export_write_playable_mp4s_with_one_record_format(setup, tmp_path):
    _, client, tracker = setup
    video = _video(tracker)
    saved = video.save(tmp_path / "saved")
    names = sorted(p.name for p in saved.parent.iterdir())
    stem = f"mj-{video.id}"
    assert names == [f"{stem}-1.jpg", f"{stem}-1.mp4", f"{stem}-2.jpg", f"{stem}-2.mp4",
                     f"{stem}.json"]  # fmt: skip
    assert saved.name == f"{stem}-1.mp4"
    record = json.loads((saved.parent / f"{stem}.json").read_text("utf-8"))
    assert record["video"] == [f"{stem}-1.mp4", f"{stem}-2.mp4"]
    assert (
        record["posters"] == [f"{stem}-1.jpg", f"{stem}-2.jpg"]
        and record["image"] == f"{stem}-1.jpg"
    )
    assert record["video_duration"] == 5 and record["grid"] is False
    for index, name in enumerate(record["video"]):
        served = video.clip(index)  # the clip as the CDN sent it (the cache's copy)
        assert record["video_sha256"][index] == hashlib.sha256(served).hexdigest()
        data = (saved.parent / name).read_bytes()
        codec, frames = decoded(data)
        assert codec == "h264" and len(frames) == 120 and frames[0].shape == (216, 384, 3)
        assert all(np.array_equal(a, b) for a, b in zip(frames, decoded(served)[1], strict=True))
        assert provenance(saved.parent / name)["id"] == video.id  # remuxed with its record
    assert provenance(saved.parent / f"{stem}-2.jpg")["video"] == record["video"]

    grid = tracker.imagine("a plain image task").wait(timeout=60)
    out = export_tasks([grid, video], tmp_path / "export", name="mixed")
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    rows = {r["id"]: r for r in manifest["tasks"]}
    assert rows[grid.id]["video"] is None and rows[grid.id]["image"].startswith("images/")
    row = rows[video.id]
    assert row["video"] == [f"videos/{stem}-1.mp4", f"videos/{stem}-2.mp4"]
    assert row["posters"] == [f"images/{stem}-1.jpg", f"images/{stem}-2.jpg"]
    assert row["image_sha256"] == tracker.cache.videos.poster_path(video, 0).stem
    assert row["video_sha256"] == [tracker.cache.videos.clip_path(video, i).stem for i in (0, 1)]
    for path in row["video"]:
        assert decoded((out / path).read_bytes())[0] == "h264"
        assert provenance(out / path)["video"] == row["video"]
    with (out / "manifest.csv").open(encoding="utf-8", newline="") as handle:
        by_id = {r["id"]: r for r in csv.DictReader(handle)}
    assert json.loads(by_id[video.id]["video"]) == row["video"]
    assert by_id[video.id]["video_duration"] == "5.0" and by_id[grid.id]["video"] == ""
    sheet = (out / "contact-sheet.html").read_text("utf-8")
    assert f'href="videos/{stem}-2.mp4">▶ clip 2</a>' in sheet and "videos/</div>" in sheet


def test_a_lineage_export_carries_the_video_made_from_an_upscale(setup, tmp_path):
    _, client, tracker = setup
    grid = tracker.imagine("a lighthouse --v 7").wait(timeout=60)
    upscale = tracker.action(grid, "U1").wait(timeout=60)
    video = tracker.video("waves", image=upscale, batch_size=1).wait(timeout=120)
    out = export_lineage(video, tmp_path / "lineage")
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert [(r["id"], r["depth"]) for r in manifest["tasks"]] == [
        (grid.id, 0),
        (upscale.id, 1),
        (video.id, 2),
    ]
    assert (out / manifest["tasks"][2]["video"][0]).stat().st_size > 1000


def test_card_media_carries_posters_always_and_small_clips(setup):
    _, client, tracker = setup
    video = _video(tracker)
    media = tracker.cache.videos.card_media(video)
    assert [m.index for m in media] == [0, 1]
    for item in media:
        poster = Image.open(io.BytesIO(item.poster))
        assert poster.format == "JPEG" and poster.size == item.poster_size == (384, 216)
        assert item.size == (384, 216) and item.duration == 5 and item.mime == "video/mp4"
        assert item.data == video.clip(item.index) and item.nbytes == len(item.data)
    assert sum(m.nbytes for m in media) <= CARD_CLIP_BUDGET
    lean = tracker.cache.videos.card_media(video, budget=media[0].nbytes, poster_side=200)
    assert [m.data for m in lean] == [None, None]  # all of a card's clips, or none
    assert all(max(Image.open(io.BytesIO(m.poster)).size) == 200 for m in lean)
