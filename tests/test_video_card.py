"""The video card on the kernel side (no browser): posters first and no clip bytes in its
traits, a clip on demand, Animate on new-api through /submit/video billed once, and what a
saved notebook's snapshot keeps (posters always, the clips only within the budget, no key).
The browser half is tests/browser/test_video_clips_play.py."""

from __future__ import annotations

import time

import pytest

from mjwidgets import Client, TaskView, Tracker, sim
from mjwidgets.errors import ValidationError
from mjwidgets.store import HistoryStore
from mjwidgets.videocache import CARD_CLIP_BUDGET
from mjwidgets.widgets.plumbing import front_end, module_source
from mjwidgets.widgets.snapshot import CardPicture, card_html
from mjwidgets.widgets.videocard import VideoCardModel, clip_payload, clip_pictures

KEY = "sk-video-card-SECRET-31"


def _until(predicate, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


@pytest.fixture
def upscaled(request, tmp_path):
    """(server, tracker, the card of a finished v7 upscale) on the flavour asked for."""
    flavor = getattr(request, "param", "plus")
    with sim.start(speed=400, flavor=flavor, secret=KEY, image_host=True) as server:
        auth = "mj-api-secret" if flavor == "plus" else "bearer"
        client = Client(server.url, api_key=KEY, auth=auth)
        tracker = Tracker(client, store=HistoryStore(tmp_path / "history.sqlite3"))
        grid = tracker.imagine("a red kite over dunes --v 7").wait(timeout=120)
        upscale = tracker.action(grid, "U1").wait(timeout=120)
        yield server, tracker, TaskView(upscale, tracker=tracker)
        tracker.close()


def _submits(server) -> dict[str, int]:
    return {k: v for k, v in server.stats()["requests"].items() if "/submit/" in k}


def test_a_video_card_shows_posters_first_and_sends_a_clip_only_when_asked(upscaled):
    server, tracker, view = upscaled
    animate = next(b for b in view.card.buttons if b["label"] == "Animate (High motion)")
    assert animate["enabled"] and animate["group"] == "video"
    child = view.press(animate["custom_id"])
    assert isinstance(child.card, VideoCardModel), "a video's card shows clips"
    _until(lambda: len(child.card.clips) == 4)
    clips = child.card.clips
    assert [c["index"] for c in clips] == [0, 1, 2, 3]
    for clip in clips:
        assert clip["poster"][:3] == b"\xff\xd8\xff", "the poster is a JPEG"
        assert max(clip["poster_size"]) <= 640 and clip["duration"] == 5.0
        assert clip["mime"] == "video/mp4" and clip["nbytes"] > 10_000
        assert "data" not in clip, "no clip bytes before anyone plays it"
    assert child.card.image == b"", "no display image beside the posters"
    state = child.card.get_state()
    assert sum(len(c["poster"]) for c in state["clips"]) < 4 * 40_000
    assert KEY not in repr(state)
    content, data = clip_payload(tracker, child.task, 2, "download")
    assert data == child.task.clip(2) and data[4:8] == b"ftyp"
    assert content["filename"] == f"mj-{child.task.id}-3.mp4" and content["mode"] == "download"
    assert [b["label"] or b["emoji"] for b in child.card.buttons] == ["U1", "U2", "U3", "U4", "🔄"]


@pytest.mark.parametrize("upscaled", ["newapi"], indirect=True)
def test_animate_on_new_api_is_made_through_submit_video_and_bills_once(
    upscaled,
):
    server, tracker, view = upscaled
    animate = next(b for b in view.card.buttons if b["label"] == "Animate (Low motion)")
    assert animate["enabled"], animate["reason"]
    assert "/submit/video" in animate["title"]
    before = _submits(server)
    made = [view.press(animate["custom_id"])]
    after = _submits(server)
    assert after.get("POST /mj/submit/video", 0) - before.get("POST /mj/submit/video", 0) == 1
    assert after.get("POST /mj/submit/action", 0) == before.get("POST /mj/submit/action", 0)
    video = made[0].task
    assert video.parent_id == view.task.id and video.is_video
    assert made[0].card.lineage == "Video of “a red kite over dunes”"
    _until(lambda: len(made[0].card.clips) == 4)


def test_what_wakes_the_saved_snapshot_finds_the_posters_already_there(upscaled):
    """The posters reaching the card wake the notebook's saved snapshot (on another thread):
    the snapshot's picture of the card must already have them, or it is saved without."""
    _server, _tracker, view = upscaled
    seen_by_snapshot: list[int] = []

    def watch(_parent, child) -> None:
        child.card.observe(
            lambda _change: seen_by_snapshot.append(len(child.picture().clips)), names="clips"
        )

    view.on_child(watch)
    child = view.press("Animate (Low motion)")
    _until(lambda: len(child.card.clips) == 4)
    assert seen_by_snapshot and seen_by_snapshot[-1] == 4, seen_by_snapshot


def test_the_snapshot_keeps_posters_always_and_clips_only_within_the_budget(upscaled):
    _server, tracker, view = upscaled
    child = view.press("Animate (Low motion)")
    video = child.wait()
    tracker.cache.videos.fetch_all(video)
    total = sum(tracker.cache.videos.clip_path(video, i).stat().st_size for i in range(4))
    assert total <= CARD_CLIP_BUDGET, "a low-motion SD card of the simulator is carried"
    carried = clip_pictures(tracker, video)
    assert [len(c.data or b"") for c in carried] == [
        tracker.cache.videos.clip_path(video, i).stat().st_size for i in range(4)
    ]
    posters_only = clip_pictures(tracker, video, budget=total - 1)
    assert all(c.data is None for c in posters_only), "all or none"
    for pictures, players in ((carried, 4), (posters_only, 0)):
        html = card_html(
            CardPicture(task_id=video.id, status="SUCCESS", prompt="p", clips=pictures)
        )
        assert html.count('class="mjw-snapshot-poster"') == 4
        assert html.count("<img ") == 4, "a poster as an image whatever the renderer keeps"
        assert html.count("<video ") == players
        assert KEY not in html
    assert all(max(len(c.poster), 1) < 20_000 for c in carried), "small posters"


def test_the_video_cards_module_builds_on_the_cards_and_exports_once():
    loader = front_end(
        "common.js",
        "lightbox.js",
        "copycode.js",
        "gallerylibrary.js",
        "taskview.js",
        "videocard.js",
        styles=("mjwidgets.css", "lightbox.css", "videocard.css"),
    )
    module = module_source(loader)
    assert module.count("export default") == 1
    assert module.rstrip().endswith("export default { render: renderVideoCard };")
    assert VideoCardModel._esm == loader


@pytest.mark.parametrize("upscaled", ["newapi"], indirect=True)
def test_a_card_that_learns_only_from_the_refusal_still_makes_the_video_on_that_click(
    upscaled, tmp_path
):
    server, tracker, view = upscaled
    fresh = Client(server.url, api_key=KEY, auth="bearer")  # knows nothing of new-api yet
    card = TaskView(view.task, tracker=Tracker(fresh, store=HistoryStore(tmp_path / "h2.sqlite3")))
    assert fresh.capabilities.flavor is None
    animate = next(b for b in card.card.buttons if b["label"] == "Animate (High motion)")
    assert "/submit/video" not in animate["title"], "not known yet: the button itself"
    before = _submits(server)
    child = card.press(animate["custom_id"])
    after = _submits(server)
    assert child is not None and child.task.is_video and card.card.error == ""
    # the refused press made nothing (HTTP 400 unknown_action); the video was made once
    assert after["POST /mj/submit/action"] - before.get("POST /mj/submit/action", 0) == 1
    assert after["POST /mj/submit/video"] - before.get("POST /mj/submit/video", 0) == 1
    entry = next(b for b in card.card.buttons if b["label"] == "Animate (High motion)")
    assert entry["enabled"] and "/submit/video" in entry["title"], "learnt: says what it does"
    card.tracker.close()


def test_the_history_marks_videos_and_compare_puts_two_clips_side_by_side(upscaled):
    from mjwidgets.widgets.compare import Compare
    from mjwidgets.widgets.historyview import HistoryView

    _server, tracker, view = upscaled
    video = view.press("Animate (High motion)").wait()
    tracker.cache.videos.fetch_all(video)
    history = HistoryView(tracker=tracker)
    history.refresh(wait=True)
    item = next(i for i in history.gallery.items if i["task_id"] == video.id)
    assert item["video"] == {"clips": 4, "duration": 5.0}
    assert item["thumb"], "the gallery shows the video's first poster"
    shown = history.show(video.id)
    assert isinstance(shown.card, VideoCardModel), "its card plays the clips"
    tree = history.gallery.lineage
    node = tree
    while node["task_id"] != video.id:
        node = node["children"][0]
    assert node["video"]["clips"] == 4 and node["via"] == "Animate (High motion)"

    side_by_side = Compare([(video, 0), (video, 2)], tracker=tracker)
    first, third = side_by_side.items
    assert first["clip"] == {"index": 0, "duration": 5.0} and third["clip"]["index"] == 2
    assert third["label"].endswith("clip 3")
    poster = tracker.cache.videos.poster_image(video, 2)
    assert third["size"] == list(poster.size) and third["image"][:3] == b"\xff\xd8\xff"
    assert first["image"] != third["image"], "each clip shows its own first frame"
    with pytest.raises(ValidationError):
        Compare([(video, 0), (video, 4)], tracker=tracker)
    history.close()


@pytest.mark.parametrize("upscaled", ["newapi"], indirect=True)
def test_where_the_clips_have_no_u_buttons_each_clip_offers_extend(upscaled):
    server, tracker, view = upscaled
    grid = view.press("Animate (Low motion)")
    _until(lambda: len(grid.card.clips) == 4)
    assert "/submit/video" in grid.card.extend_offer
    u2 = next(b for b in grid.card.buttons if b["label"] == "U2")
    assert not u2["enabled"], "new-api refuses the clips' U buttons"
    before = _submits(server)
    longer = grid.extend_clip(1)
    assert longer is not None and longer.card.parent_id == grid.task.id
    assert _submits(server)["POST /mj/submit/video"] == before["POST /mj/submit/video"] + 1
    video = longer.wait()
    assert video.parent_id == grid.task.id
    _until(lambda: len(longer.card.clips) >= 1)
    assert longer.card.clips[0]["duration"] == pytest.approx(9.0, abs=0.2)  # clip 2 + 4 s


def test_where_the_api_has_u_buttons_the_clips_offer_no_extend_of_their_own(upscaled):
    _server, _tracker, view = upscaled
    grid = view.press("Animate (Low motion)")
    _until(lambda: len(grid.card.clips) == 4)
    assert grid.card.extend_offer == "", "U2 then Extend, as the API offers them"
