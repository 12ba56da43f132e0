"""Video through the client, end to end on the simulator: client.video / client.extend, the
Animate / video U / Extend buttons, what each flavour refuses, local checks, never-resend."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

from mjwidgets import sim
from mjwidgets.client import Client
from mjwidgets.errors import NotFoundError, TransportError, UnsupportedError, ValidationError
from mjwidgets.models import Status, Task, VideoClip
from mjwidgets.store import HistoryStore
from mjwidgets.tracking import Tracker

KEY = "sk-VIDEO-91ab-SECRET"
FAST = 400.0


def start_frame(colour=(30, 160, 70)) -> Image.Image:
    img = Image.new("RGB", (640, 360), colour)
    ImageDraw.Draw(img).rectangle((260, 120, 380, 240), fill=(250, 250, 250))
    return img


def frames_of(data: bytes) -> tuple[str, list[np.ndarray]]:
    with av.open(io.BytesIO(data)) as container:
        codec = container.streams.video[0].codec_context.name
        return codec, [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.fixture
def tracked(request, tmp_path):
    """A tracker (history store in tmp) on a simulator of the flavour given as param."""
    flavor = request.param
    with sim.start(speed=FAST, flavor=flavor, secret=KEY, image_host=True) as server:
        client = Client(server.url, KEY, auth="mj-api-secret", timeout=(5, 30))
        tracker = Tracker(client, store=HistoryStore(tmp_path / "h.sqlite3"))
        try:
            yield server, client, tracker
        finally:
            tracker.close()


@pytest.mark.parametrize("tracked", ["trueai", "plus", "newapi"], indirect=True)
def test_video_then_extend_makes_real_clips(tracked):
    server, client, tracker = tracked
    video = tracker.video("a meadow in wind", image=start_frame(), motion="high", batch_size=2)
    assert video.is_video and video.action == "VIDEO"  # known before the server finished
    video.wait(timeout=120)
    assert video.status is Status.SUCCESS and not video.is_grid
    assert len(video.video_urls) == 2 and all(c.url.endswith(".mp4") for c in video.video_urls)
    if server.engine.flavor.name == "newapi":  # new-api's DTO: videoUrl, videoUrls[{url}] only
        assert video.video_duration is None and video.video_urls[0].thumbnail is None
    else:
        assert video.video_duration == 5 and video.content_type == "video/mp4"
    codec, frames = frames_of(video.clip(1))
    assert codec == "h264" and len(frames) == 5 * 24

    longer = tracker.extend(video, index=1, motion="low", batch_size=1).wait(timeout=120)
    assert longer.is_video and longer.parent_id == video.id
    assert longer.prompt.startswith("a meadow in wind")  # the task's own words were sent
    _, extended = frames_of(longer.clip(0))
    assert len(extended) == 9 * 24  # 5 s of clip 2, then 4 s more
    assert np.abs(extended[0].astype(int) - frames[0].astype(int)).mean() < 6
    sent = tracker.store.intents(None, server=client.base_url)
    assert [i.outcome for i in sent] == ["ok", "ok"]  # both journaled before they left
    assert sent[0].body["action"] == "extend" and sent[0].body["index"] == 1
    assert server.stats()["image_host_auth_seen"] == 0


@pytest.mark.parametrize("tracked", ["trueai", "plus"], indirect=True)
def test_animate_video_u_and_extend_buttons(tracked):
    _, client, tracker = tracked
    grid = tracker.imagine("a lighthouse --v 7").wait(timeout=60)
    upscale = tracker.action(grid, "U2").wait(timeout=60)
    animated = tracker.action(upscale, "Animate (High motion)")
    assert animated.is_video  # made by Animate: a video from the start
    animated.wait(timeout=120)
    assert [b.display for b in animated.buttons][:4] == ["U1", "U2", "U3", "U4"]
    assert not animated.is_grid and len(animated.video_urls) == 4
    one = tracker.action(animated, "U3").wait(timeout=60)
    assert one.is_video and one.action == "UPSCALE"
    assert one.video_urls == [animated.video_urls[2]]  # the clip it picked, not the grid's four
    extended = tracker.action(one, "Extend (Low motion)").wait(timeout=120)
    assert extended.is_video and extended.video_duration == 9
    # a video is animated from an upscale Task too: the start frame is its image URL
    again = tracker.video("the same light", image=upscale, batch_size=1).wait(timeout=120)
    assert again.parent_id == upscale.id
    assert tracker.store.lineage(grid.id) is not None


@pytest.mark.parametrize("tracked", ["newapi"], indirect=True)
def test_newapi_refuses_the_animate_button_with_a_way_out(tracked):
    server, client, tracker = tracked
    grid = tracker.imagine("a kite --v 7").wait(timeout=60)
    upscale = tracker.action(grid, "U1").wait(timeout=60)
    animate = upscale.button("Animate (High motion)")
    if client.capabilities.accepts(animate).ok:  # not known yet: the server says it
        with pytest.raises(UnsupportedError) as caught:
            client.action(upscale, animate)
        error = caught.value
        assert error.http_status == 400 and "unknown_action" in error.server_text
        assert not error.maybe_submitted
        assert tracker.store.intents("error", server=client.base_url)  # journaled, not unknown
    sent = server.stats()["requests"].get("POST /mj/submit/action", 0)
    with pytest.raises(UnsupportedError) as again:  # now known: refused before sending
        client.action(upscale, "Animate (Low motion)")
    assert "client.video(prompt, image=task)" in str(again.value)
    assert server.stats()["requests"].get("POST /mj/submit/action", 0) == sent
    video = tracker.video("wind over the kite", image=upscale, batch_size=1).wait(timeout=120)
    assert video.status is Status.SUCCESS and len(video.video_urls) == 1


def test_oss_says_it_has_no_video_and_nothing_is_left_unknown(tmp_path):
    with sim.start(speed=FAST, flavor="oss", secret=KEY) as server:
        client = Client(server.url, KEY, auth="mj-api-secret")
        store = HistoryStore(tmp_path / "h.sqlite3")
        client.journal = store.journal_for(client.base_url)
        with pytest.raises(UnsupportedError) as caught:
            client.video("a meadow", image=start_frame())
        assert "makes no videos" in str(caught.value) and not caught.value.maybe_submitted
        assert isinstance(caught.value, NotFoundError) and caught.value.http_status == 404
        assert store.intents("unknown") == [] and len(store.intents("error")) == 1
        with pytest.raises(UnsupportedError, match="makes no videos"):  # learnt: not sent again
            client.video("a meadow", image=start_frame())
        assert server.stats()["requests"].get("POST /mj/submit/video") == 1
        declared = Client(server.url, KEY, auth="mj-api-secret", flavor="oss")
        with pytest.raises(UnsupportedError, match="makes no videos"):  # known before sending
            declared.video("a meadow", image=start_frame())
        assert server.stats()["requests"].get("POST /mj/submit/video") == 1
        assert len(store.intents(None)) == 1  # the refusals before sending cost no journal row


def test_a_read_timeout_on_submit_video_is_never_resent(tmp_path):
    with sim.start(speed=FAST, flavor="trueai") as server:
        client = Client(server.url, "k", auth="raw", timeout=(5, 0.5))
        store = HistoryStore(tmp_path / "h.sqlite3")
        client.journal = store.journal_for(client.base_url)
        # the server takes the job, then answers only after the client stopped listening
        server.configure(
            hang_rate=1.0, hang_seconds=1.5, error_after_commit=1.0, paths=["/mj/submit/video"]
        )
        with pytest.raises(TransportError) as caught:
            client.video("a meadow", image=start_frame(), state="mjw-video-once")
        assert caught.value.maybe_submitted and "NOT resent" in str(caught.value)
        server.configure(hang_rate=0.0)
        assert server.stats()["submits_by_state"] == {"mjw-video-once": 1}
        (intent,) = store.intents("unknown")
        assert intent.state == "mjw-video-once" and intent.endpoint == "/mj/submit/video"
        assert intent.body["image"].startswith("sha256:")  # the frame as a digest, not bytes
        made = [t for t in server.tasks() if t.get("state") == "mjw-video-once"]
        assert len(made) == 1  # it did reach the server: resending would have paid twice


def test_hd_loop_and_an_end_frame_reach_the_server(tmp_path):
    with sim.start(speed=FAST, flavor="trueai") as server:
        client = Client(server.url, "k", auth="raw")
        client.journal = HistoryStore(tmp_path / "h.sqlite3").journal_for(client.base_url)
        hd = client.video("a meadow", image=start_frame(), hd=True, loop=True, batch_size=1)
        ended = client.video("a meadow", image=start_frame(), end_image=start_frame((200, 0, 0)))
        hd, ended = hd.wait(timeout=120), ended.wait(timeout=120)
        assert hd.raw["videoType"] == "vid_1.1_i2v_720" and "--end loop" in hd.prompt
        _, frames = frames_of(client.clip(hd))
        assert frames[0].shape == (324, 576, 3)  # HD: 576 px on the long side in the simulator
        assert "--bs 1" in hd.prompt and "--bs" not in ended.prompt and len(ended.video_urls) == 4
        assert "--end http" in ended.prompt  # the end frame was uploaded and linked
        _, last = frames_of(client.clip(ended, 3))
        assert last[-1][:, :, 0].mean() > 2 * last[0][:, :, 0].mean()  # it ends on the red frame


def test_a_video_over_budget_is_never_sent(tmp_path):
    from mjwidgets import costs
    from mjwidgets.budget import Budget
    from mjwidgets.errors import BudgetExceeded

    with sim.start(speed=FAST, flavor="trueai") as server:
        with Tracker(Client(server.url, "k", auth="raw"), HistoryStore(tmp_path / "h")) as tracker:
            four = costs.video_cost(batch_size=4).gpu_minutes
            budget = Budget(minutes=four * 1.5, name="clips")
            first = tracker.video("a meadow", image=start_frame(), budget=budget).wait(timeout=120)
            with pytest.raises(BudgetExceeded):  # a second 4-clip job would pass the limit
                tracker.video("a meadow again", image=start_frame(), budget=budget)
            with pytest.raises(BudgetExceeded):
                tracker.extend(first, budget=budget)
            assert server.stats()["requests"].get("POST /mj/submit/video") == 1
            assert budget.spent_jobs == 1


def _finished(**fields) -> Task:
    return Task.from_json({"id": "1", "status": "SUCCESS", "progress": "100%", **fields})


def test_bad_video_requests_fail_before_any_request(tmp_path):
    with sim.start(speed=FAST, flavor="trueai") as server:
        client = Client(server.url, "k", auth="raw")
        grid = _finished(action="IMAGINE", imageUrl="http://x/g.png")
        clip = {"url": "http://x/0_0.mp4"}
        video = _finished(action="VIDEO", videoUrls=[clip], videoDuration=5, prompt="a w")
        longest = _finished(action="VIDEO", videoUrls=[clip], videoDuration=21, prompt="a w")
        bad = [
            (lambda: client.video("x", image=start_frame(), motion="medium"), "unknown motion"),
            (lambda: client.video("x", image=start_frame(), batch_size=3), "1, 2 or 4"),
            (lambda: client.video("x"), "needs a start frame"),
            (lambda: client.video("   ", image=start_frame()), "blank"),
            (
                lambda: client.video("x", image=start_frame(), loop=True, end_image=start_frame()),
                "both set the last frame",
            ),
            (
                lambda: client.video("x --motion high", image=start_frame(), motion="low"),
                "--motion",
            ),
            (lambda: client.video("x", image=grid), "grid of four"),
            (lambda: client.video("x", image=video), "is a video"),
            (lambda: client.video("x", image=b"<html>no</html>"), "HTML page"),
            (lambda: client.extend(grid), "not a video"),
            (lambda: client.extend(video, index=1), "no index 1"),
            (lambda: client.extend(longest), "already 21 s"),
        ]
        for call, words in bad:
            with pytest.raises(ValidationError) as caught:
                call()
            assert words in str(caught.value), (words, str(caught.value))
        relax = Client(server.url, "k", auth="raw", mode="relax")
        with pytest.raises(ValidationError, match="Fast mode only"):
            relax.video("x", image=start_frame(), hd=True)
        assert not any("submit" in key for key in server.stats()["requests"])


def test_video_fields_are_read_defensively():
    newapi = Task.from_json(
        {
            "id": 7,
            "action": "VIDEO",
            "status": "SUCCESS",
            "videoUrl": "http://c/0_0.mp4",
            "videoUrls": [{"url": "http://c/0_0.mp4"}, {"url": "http://c/0_1.mp4"}],
            "imageUrl": "http://api/mj/image/7",
        }  # fmt: skip
    )
    assert newapi.is_video and [c.url for c in newapi.video_urls][1] == "http://c/0_1.mp4"
    video_u = Task.from_json(
        {"id": "8", "action": "UPSCALE", "status": "SUCCESS", "contentType": "video/mp4",
         "imageUrl": "http://c/0_2.mp4", "videoUrl": None, "videoDuration": "5",
         "videoUrls": [{"url": f"http://c/0_{i}.mp4", "thumbnail": "t"} for i in range(4)],
         "buttons": [{"customId": "MJ::JOB::animate_high_extend::1::h", "label": "Extend"}]}
    )  # fmt: skip
    assert video_u.video_urls == [VideoClip("http://c/0_2.mp4", "t")]
    assert video_u.video_duration == 5.0 and not video_u.is_grid
    odd = Task.from_json(
        {
            "id": "9",
            "status": "SUCCESS",
            "videoUrls": ["http://c/a.mp4", 3, None, {"x": 1}],
            "videoDuration": "soon",
            "contentType": None,
        }  # fmt: skip
    )
    assert odd.video_urls == [VideoClip("http://c/a.mp4")] and odd.video_duration is None
    image = Task.from_json({"id": "10", "status": "SUCCESS", "imageUrl": "http://c/a.png"})
    assert not image.is_video and image.video_urls == [] and image.is_grid


def test_refused_clip_downloads_are_typed(tmp_path):
    with sim.start(speed=FAST, flavor="trueai") as server:
        client = Client(server.url, "k", auth="raw")
        done = client.video("a meadow", image=start_frame(), batch_size=1).wait(timeout=120)
        with pytest.raises(ValidationError, match="no index 3"):
            client.clip(done, 3)
        still = done.prompt.split()[0]  # the uploaded start frame, a PNG the server serves
        assert still.startswith(server.url)
        fake = _finished(action="VIDEO", videoUrls=[{"url": still}])
        fake.bind(client)
        with pytest.raises(ValidationError, match="not a video clip"):  # refused, typed
            client.clip(fake)
