"""Simulator video over raw HTTP: /submit/video, Animate, video U, Extend, mp4s, flavours."""

from __future__ import annotations

import base64
import io
import time

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw
from simhelpers import Api, HookReceiver

from mjwidgets import sim

FAST = 200.0


def data_url(img: Image.Image, fmt: str = "PNG") -> str:
    out = io.BytesIO()
    img.save(out, fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(out.getvalue()).decode()


def start_frame(colour=(30, 160, 70)) -> Image.Image:
    img = Image.new("RGB", (640, 360), colour)
    ImageDraw.Draw(img).rectangle((260, 120, 380, 240), fill=(250, 250, 250))
    return img


def decode(content: bytes) -> tuple[av.container.InputContainer, list[np.ndarray]]:
    container = av.open(io.BytesIO(content))
    frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return container, frames


def mp4(api: Api, url: str) -> bytes:
    response = api.http.get(url, timeout=60)
    assert response.status_code == 200, (url, response.status_code)
    assert response.headers["Content-Type"] == "video/mp4"
    return response.content


def video_job(api: Api, **body) -> dict:
    envelope = api.submit("video", {"prompt": "a meadow in wind", **body})
    assert envelope["code"] == 1, envelope
    return api.wait(envelope["result"], timeout=60)


@pytest.fixture
def trueai():
    with sim.start(speed=FAST, flavor="trueai") as server:
        yield server


def test_submit_video_makes_h264_clips_with_posters(trueai):
    api, hooks = Api(trueai.url), HookReceiver()
    try:
        sent = api.submit(
            "video",
            {
                "prompt": "a meadow in wind",
                "image": data_url(start_frame()),
                "motion": "high",
                "batchSize": 1,
                "notifyHook": hooks.url,
            },
        )
        assert (
            sent["code"] == 1 and sent["description"] == "提交成功"
        )  # trueai DiscordService.cs:1657
        task = api.wait(sent["result"], timeout=60)
        deadline = time.monotonic() + 20
        while len(hooks.for_task(task["id"])) < 9 and time.monotonic() < deadline:
            time.sleep(0.02)
        steps = {(p["status"], p["progress"]) for p in hooks.for_task(task["id"])}
    finally:
        hooks.close()
    expected = [("IN_PROGRESS", f"{p}%") for p in (15, 31, 46, 62, 78, 93)]
    assert steps >= {*expected, ("SUCCESS", "100%")}, "a video reports Discord's progress steps"
    assert task["status"] == "SUCCESS" and task["action"] == "VIDEO"
    assert task["prompt"].startswith("http") and "/mj/attachments/" in task["prompt"].split()[0]
    assert task["prompt"].endswith("a meadow in wind --video 1 --motion high --bs 1")
    assert task["description"] == f"/video {task['prompt']}"
    job = task["buttons"][0]["customId"].rsplit("::", 1)[-1]
    assert [b["customId"] for b in task["buttons"]] == [
        f"MJ::JOB::video_virtual_upscale::1::{job}",
        f"MJ::JOB::reroll::0::{job}::SOLO",
    ]
    assert task["videoUrls"] == [
        {
            "url": f"{trueai.url}/video/{job}/0_0.mp4",
            "thumbnail": f"{trueai.url}/video/{job}/0_0_640_N.webp",
        }
    ]
    assert task["videoUrl"] == task["imageUrl"] == task["videoUrls"][0]["url"]
    assert (task["videoDuration"], task["contentType"], task["frameCount"]) == (5, "video/mp4", 120)
    assert task["imageUrls"] == task["videoUrls"] and task["videoType"] == "vid_1.1_i2v_480"

    container, frames = decode(mp4(api, task["videoUrl"]))
    stream = container.streams.video[0]
    assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
    assert len(frames) == 120 and abs(container.duration / 1e6 - 5.0) < 0.05
    assert (stream.width, stream.height) == (384, 216), "start frame's aspect, SD long side"
    assert stream.average_rate == 24
    poster = api.image(task["videoUrls"][0]["thumbnail"])
    assert poster.format == "WEBP" and poster.size == (384, 216)
    diff = np.abs(np.asarray(poster.convert("RGB"), float) - frames[0].astype(float))
    assert diff.mean() < 12, "the thumbnail is the first frame"
    middle = frames[0][80:150, 40:120].reshape(-1, 3)  # green field left of the white square
    assert np.median(middle[:, 1]) > 120 > np.median(middle[:, 0]), "the start frame is in it"
    assert np.abs(frames[60].astype(float) - frames[0]).mean() > 3, "the picture moves"
    previews = [p["imageUrl"] for p in hooks.for_task(task["id"]) if p["status"] == "IN_PROGRESS"]
    assert all("progress=" in url for url in previews) and api.image(previews[0]).size


def test_clips_support_range_requests_and_only_exist_when_done(trueai):
    api = Api(trueai.url)
    task = video_job(api, image=data_url(start_frame()), batchSize=2)
    url = task["videoUrls"][1]["url"]
    whole = mp4(api, url)
    part = api.http.get(url, headers={"Range": "bytes=100-1099"}, timeout=30)
    assert part.status_code == 206 and part.content == whole[100:1100]
    assert part.headers["Content-Range"] == f"bytes 100-1099/{len(whole)}"
    assert api.http.get(url, timeout=30).headers["Accept-Ranges"] == "bytes"
    assert api.http.head(url, timeout=30).headers["Content-Length"] == str(len(whole))
    assert whole.find(b"moov") < whole.find(b"mdat"), "progressive: moov first"
    job = url.split("/")[-2]
    assert api.http.get(f"{trueai.url}/video/{job}/0_2.mp4").status_code == 404, "bs 2: 2 clips"
    pending = api.submit("video", {"prompt": "slow", "image": data_url(start_frame())})["result"]
    early = api.fetch(pending)
    assert early["videoUrl"] is None and early["videoUrls"] is None


def test_animate_then_video_u_then_extend(trueai):
    api = Api(trueai.url)
    grid = api.wait(api.imagine("a paper boat --v 7"))
    single = api.wait(api.press(grid, "U1")["result"])
    animated = api.wait(api.press(single, "Animate (High motion)")["result"], timeout=60)
    assert animated["action"] == "VIDEO" and animated["parentId"] == single["id"]
    assert [b["label"] or b["emoji"] for b in animated["buttons"]] == [
        "U1",
        "U2",
        "U3",
        "U4",
        "🔄",
    ]
    assert len(animated["videoUrls"]) == 4 and animated["videoDuration"] == 5
    assert animated["videoGenOriginImageUrl"].endswith(f"/mj/image/{single['id']}")
    clip = decode(mp4(api, animated["videoUrls"][2]["url"]))[1]
    still = np.asarray(api.image(single["imageUrl"]).convert("RGB").resize((384, 384)), float)
    assert np.abs(clip[0][60:330].astype(float) - still[60:330]).mean() < 40, "starts from U1"

    chosen = api.wait(api.press(animated, "U3")["result"])
    assert chosen["action"] == "UPSCALE" and chosen["contentType"] == "video/mp4"
    assert chosen["imageUrl"] == animated["videoUrls"][2]["url"]
    assert chosen["videoUrls"] == animated["videoUrls"] and chosen["videoUrl"] is None
    job = animated["buttons"][0]["customId"].rsplit("::", 1)[-1]
    assert [b["customId"] for b in chosen["buttons"]] == [
        f"MJ::JOB::animate_high_extend::1::{job}",
        f"MJ::JOB::animate_low_extend::1::{job}",
    ]
    rerolled = api.wait(api.press(animated, "🔄")["result"], timeout=60)
    assert rerolled["action"] == "VIDEO" and len(rerolled["videoUrls"]) == 4


def test_extend_adds_four_seconds_after_the_parent_clip(trueai):
    api = Api(trueai.url)
    first = video_job(api, image=data_url(start_frame()), batchSize=1, motion="low")
    single = api.wait(api.press(first, "U1")["result"])
    extended = api.wait(api.press(single, "Extend (High motion)")["result"], timeout=60)
    assert extended["action"] == "VIDEO" and extended["videoDuration"] == 9
    assert len(extended["videoUrls"]) == 1, "as many clips as the grid it came from"
    container, frames = decode(mp4(api, extended["videoUrl"]))
    assert len(frames) == 216 and abs(container.duration / 1e6 - 9.0) < 0.05
    original = decode(mp4(api, first["videoUrl"]))[1]
    for k in (0, 60, 119):  # the first five seconds are the parent clip
        assert np.abs(frames[k].astype(float) - original[k]).mean() < 6, k
    assert np.abs(frames[120].astype(float) - frames[119]).mean() < 40, "it continues"
    again = api.wait(api.press(extended, "U1")["result"])
    longer = api.wait(api.press(again, "Extend (Low motion)")["result"], timeout=60)
    assert longer["videoDuration"] == 13


def test_extend_through_submit_video_and_its_refusals(trueai):
    api = Api(trueai.url)
    first = video_job(api, image=data_url(start_frame()), batchSize=2)
    body = {"prompt": "keep going", "action": "extend", "taskId": first["id"], "index": 1}
    extended = api.wait(api.submit("video", {**body, "batchSize": 1})["result"], timeout=60)
    assert extended["status"] == "SUCCESS" and extended["parentId"] == first["id"]
    assert extended["videoDuration"] == 9 and len(extended["videoUrls"]) == 1
    head = decode(mp4(api, extended["videoUrl"]))[1][10]
    second = decode(mp4(api, first["videoUrls"][1]["url"]))[1][10]
    assert np.abs(head.astype(float) - second).mean() < 6, "index 1 extends the second clip"

    assert api.submit("video", {"prompt": " "}) == {
        "code": 4,
        "description": "Prompt 不能为空",
        "result": None,
        "properties": {},
    }
    bad = api.submit("video", {"prompt": "x", "image": "data:image/png;base64,@@@"})
    assert (bad["code"], bad["description"]) == (4, "base64格式错误")
    typed = api.submit("video", {"prompt": "x", "taskId": first["id"]})
    assert (typed["code"], typed["description"]) == (4, "任务类型错误")
    missing = api.post("/submit/video", {**body, "taskId": "1234567890123456"})
    assert missing.status_code == 404 and missing.json()["code"] == 3
    orphan = api.submit("video", {"prompt": "x", "action": "extend"})
    assert (orphan["code"], orphan["description"]) == (3, "目标任务不存在")
    busy = api.submit("video", {"prompt": "x", "image": data_url(start_frame())})["result"]
    pending = api.submit("video", {**body, "taskId": busy})
    assert (pending["code"], pending["description"]) == (4, "关联任务状态错误")
    no_frame = api.wait(api.submit("video", {"prompt": "no picture"})["result"])
    assert no_frame["status"] == "FAILURE"
    assert no_frame["failReason"] == "invalid_request, No start frame provided"


def test_end_frame_loop_and_hd(trueai):
    api = Api(trueai.url)
    end = Image.new("RGB", (640, 360), (200, 40, 160))
    ended = video_job(api, image=data_url(start_frame()), endImage=data_url(end), batchSize=1)
    assert " --end http" in ended["prompt"]
    last = decode(mp4(api, ended["videoUrl"]))[1][-1]
    assert (
        np.abs(np.median(last[60:180, 20:100].reshape(-1, 3), axis=0) - (200, 40, 160)).max() < 30
    )
    looped = video_job(api, image=data_url(start_frame()), loop=True, batchSize=1)
    assert "--end loop" in looped["prompt"]
    frames = decode(mp4(api, looped["videoUrl"]))[1]
    assert np.abs(frames[-1].astype(float) - frames[0]).mean() < 8, "a loop ends where it began"
    hd = video_job(api, image=data_url(start_frame()), videoType="vid_1.1_i2v_720", batchSize=1)
    stream = decode(mp4(api, hd["videoUrl"]))[0].streams.video[0]
    assert (stream.width, stream.height) == (576, 324) and hd["videoType"].endswith("720")


def test_plus_serves_video_without_trueai_fields():
    with sim.start(speed=FAST) as server:
        api = Api(server.url)
        task = video_job(api, image=data_url(start_frame()), batchSize=1)
        assert task["videoDuration"] == 5 and task["contentType"] == "video/mp4"
        assert "frameCount" not in task and "imageUrls" not in task
        assert decode(mp4(api, task["videoUrl"]))[0].streams.video[0].codec_context.name == "h264"


def test_newapi_refuses_media_buttons_but_relays_submit_video():
    with sim.start(speed=FAST, flavor="newapi", secret="sk-1") as server:
        api = Api(server.url, {"Authorization": "Bearer sk-1"})
        grid = api.wait(api.imagine("a kite --v 7"), timeout=60)
        single = api.wait(api.press(grid, "U1")["result"], timeout=60)
        button = next(b for b in single["buttons"] if b["label"] == "Animate (High motion)")
        refused = api.post(
            "/submit/action", {"taskId": single["id"], "customId": button["customId"]}
        )
        assert refused.status_code == 400
        error = refused.json()["error"]
        assert error["type"] == "new_api_error" and error["code"] == ""
        assert error["message"].startswith(f"Invalid request: unknown_action:{button['customId']}")
        assert "(request id: " in error["message"]
        for custom_id in (
            "MJ::JOB::video_virtual_upscale::1::abc",
            "MJ::JOB::animate_low_extend::1::abc",
        ):
            answer = api.post("/submit/action", {"taskId": single["id"], "customId": custom_id})
            assert answer.status_code == 400 and "unknown_action" in answer.text

        sent = api.submit(
            "video", {"prompt": "wind", "image": data_url(start_frame()), "batchSize": 1}
        )
        assert sent["code"] == 1
        task = api.wait(sent["result"], timeout=60)
        assert task["action"] == "VIDEO" and task["videoUrls"] == [{"url": task["videoUrl"]}]
        assert "videoDuration" not in task and task["imageUrl"].endswith(f"/mj/image/{task['id']}")
        forwarded = api.http.get(task["imageUrl"], headers={"Range": "bytes=0-9"}, timeout=60)
        assert forwarded.status_code == 200 and forwarded.headers["Content-Type"] == "video/mp4"
        assert decode(forwarded.content)[0].streams.video[0].codec_context.name == "h264"
        more = {"prompt": "on", "action": "extend", "taskId": task["id"], "batchSize": 1}
        extended = api.wait(api.submit("video", more)["result"], timeout=60)
        assert extended["status"] == "SUCCESS" and extended["action"] == "VIDEO"
        blank = api.submit("video", {"prompt": ""})  # the upstream's answer, relayed
        assert (blank["code"], blank["description"]) == (4, "Prompt 不能为空")
        lost = api.post("/submit/video", {"prompt": "x", "action": "extend", "taskId": "123"})
        assert lost.status_code == 400 and lost.json()["type"] == "upstream_error"
        assert "task_not_found" in lost.json()["description"]


def test_oss_has_no_video_route():
    with sim.start(speed=FAST, flavor="oss", secret="s3") as server:
        api = Api(server.url, {"mj-api-secret": "s3"})
        answer = api.post("/submit/video", {"prompt": "x"})
        assert answer.status_code == 404
        body = answer.json()
        assert (body["status"], body["error"], body["path"]) == (
            404,
            "Not Found",
            "/mj/submit/video",
        )
        assert Api(server.url).post("/submit/video", {"prompt": "x"}).status_code == 401


def test_discord_account_needs_remix_for_video():
    with sim.start(speed=FAST, flavor="trueai", account="discord") as server:
        api = Api(server.url)
        refused = api.submit("video", {"prompt": "x", "image": data_url(start_frame())})
        assert (refused["code"], refused["description"]) == (
            9,
            "未开启 REMIX，无法使用视频扩展功能",
        )
        server.configure(remix=True)
        assert api.submit("video", {"prompt": "x", "image": data_url(start_frame())})["code"] == 1
