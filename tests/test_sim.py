"""The simulator over real HTTP: endpoints, lifecycle, buttons, modals, flavours and faults."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
import time

import numpy as np
import pytest
import requests
from PIL import Image, ImageDraw
from simhelpers import Api, HookReceiver

from mjwidgets import sim

FAST = 200.0  # a ~55 s job in ~0.3 s


@pytest.fixture
def server():
    with sim.start(speed=FAST) as s:
        yield s


@pytest.fixture
def api(server):
    return Api(server.url)


@pytest.fixture
def hooks():
    receiver = HookReceiver()
    yield receiver
    receiver.close()


def png_data_url(img: Image.Image, fmt: str = "PNG") -> str:
    out = io.BytesIO()
    img.save(out, fmt)
    mime = "png" if fmt == "PNG" else fmt.lower()
    return f"data:image/{mime};base64," + base64.b64encode(out.getvalue()).decode()


def upscaled(api: Api, prompt: str = "a lighthouse at dusk", tile: str = "U2") -> dict:
    grid = api.wait(api.imagine(prompt))
    return api.wait(api.press(grid, tile)["result"])


# ---------------------------------------------------------------------------- lifecycle
def test_imagine_walks_the_discord_lifecycle_and_posts_every_change(api, hooks):
    task_id = api.imagine("a red fox in snow", notifyHook=hooks.url, state="s-1")
    assert re.fullmatch(r"\d{16}", task_id)
    task = api.wait(task_id)
    deadline = time.monotonic() + 60  # bounds a hang; ends once all 9 have arrived
    while len(hooks.for_task(task_id)) < 9 and time.monotonic() < deadline:
        time.sleep(0.02)
    seen = [(p["status"], p["progress"]) for p in hooks.for_task(task_id)]
    lifecycle = (
        [("NOT_START", "0%"), ("SUBMITTED", "0%")]
        + [("IN_PROGRESS", f"{p}%") for p in (15, 31, 46, 62, 78, 93)]
        + [("SUCCESS", "100%")]
    )
    # every change, once; posted from a pool of threads (as the proxies do), so a loaded machine
    # may deliver two close posts in either order: the order of arrival is not asserted
    assert sorted(seen) == sorted(lifecycle), seen
    previews = [p["imageUrl"] for p in hooks.for_task(task_id) if p["status"] == "IN_PROGRESS"]
    assert all(url and "progress=" in url for url in previews)
    preview = api.image(previews[0])
    assert max(preview.size) <= 512
    assert task["state"] == "s-1" and task["submitTime"] <= task["startTime"] <= task["finishTime"]
    assert task["properties"]["finalPrompt"] == "a red fox in snow"
    assert task["description"] == "/imagine a red fox in snow"
    assert {
        "id",
        "action",
        "status",
        "prompt",
        "promptEn",
        "imageUrl",
        "progress",
        "failReason",
        "properties",
        "buttons",
    } <= set(task)
    final = api.image(task["imageUrl"])
    assert final.format == "PNG" and final.size == (2048, 2048)


def test_aspect_ratio_shapes_the_grid(api):
    task = api.wait(api.imagine("a wide valley --ar 16:9"))
    w, h = api.image(task["imageUrl"]).size
    assert w > h and (task["imageWidth"], task["imageHeight"]) == (w, h)


def test_bad_aspect_ratio_fails_the_job_like_midjourney(api):
    task = api.wait(api.imagine("a cat --ar banana"))
    assert task["status"] == "FAILURE" and "Invalid parameter" in task["failReason"]


def test_blank_prompt_is_code_4(api):
    assert api.submit("imagine", {"prompt": "  "})["code"] == 4


# ---------------------------------------------------------------------------- buttons
UPSCALED = {
    "--v 5.2": ["upsample_v5_2x", "upsample_v5_4x"],
    "--v 6": ["upsample_v6_2x_subtle", "upsample_v6_2x_creative"],
    "--v 6.1": ["upsample_v6r1_2x_subtle", "upsample_v6r1_2x_creative"],
    "--v 7": ["upsample_v7_2x_subtle", "upsample_v7_2x_creative", "animate_high", "animate_low"],
    "--niji 6": ["upsample_v6_2x_subtle"],
    "--niji 7": ["upsample_v7_2x_subtle"],
}  # no version: V8.1, whose upscales have no Upscale/Zoom/Pan (test_sim_fidelity)


@pytest.mark.parametrize("version", list(UPSCALED))
def test_buttons_follow_the_mj_version(api, version):
    grid = api.wait(api.imagine(f"a harbour {version}".strip()))
    job = grid["buttons"][0]["customId"].rsplit("::", 1)[-1]
    assert [b["customId"] for b in grid["buttons"]] == (
        [f"MJ::JOB::upsample::{i}::{job}" for i in range(1, 5)]
        + [f"MJ::JOB::reroll::0::{job}::SOLO"]
        + [f"MJ::JOB::variation::{i}::{job}" for i in range(1, 5)]
    )
    assert [b["label"] or b["emoji"] for b in grid["buttons"]] == [
        "U1",
        "U2",
        "U3",
        "U4",
        "🔄",
        "V1",
        "V2",
        "V3",
        "V4",
    ]
    single = api.wait(api.press(grid, "U1")["result"])
    ids = [b["customId"] for b in single["buttons"]]
    hash_ = ids[0].split("::")[-2]
    assert hash_ != job, "every task has a fresh job hash"
    for fragment in UPSCALED[version]:
        assert any(f"MJ::JOB::{fragment}::1::{hash_}::SOLO" == i for i in ids), fragment
    for expected in (
        f"MJ::Inpaint::1::{hash_}::SOLO",
        f"MJ::CustomZoom::{hash_}",
        f"MJ::Outpaint::50::1::{hash_}::SOLO",
        f"MJ::Outpaint::75::1::{hash_}::SOLO",
        f"MJ::JOB::pan_left::1::{hash_}::SOLO",
        f"MJ::BOOKMARK::{hash_}",
    ):
        assert expected in ids
    labels = {b["label"] for b in single["buttons"]}
    assert {
        "Vary (Subtle)",
        "Vary (Strong)",
        "Vary (Region)",
        "Zoom Out 2x",
        "Custom Zoom",
    } <= labels
    used = next(b for b in api.fetch(grid["id"])["buttons"] if b["label"] == "U1")
    assert used["style"] == 1, "a used U button turns primary, as on Discord"


def test_v8_has_no_zoom_or_pan(api):
    single = upscaled(api, "a quiet street --v 8")
    labels = {b["label"] or b["emoji"] for b in single["buttons"]}
    assert "Zoom Out 2x" not in labels and "⬅️" not in labels and "Vary (Region)" in labels


def test_every_button_does_what_it_says(api):
    grid = api.wait(api.imagine("a paper boat --v 7"))
    grid_img = api.image(grid["imageUrl"]).convert("RGB")
    for i in range(1, 5):
        tile = api.image(api.wait(api.press(grid, f"U{i}")["result"])["imageUrl"])
        x, y = (i - 1) % 2 * 1024, (i - 1) // 2 * 1024
        assert np.array_equal(
            np.asarray(tile.convert("RGB")), np.asarray(grid_img.crop((x, y, x + 1024, y + 1024)))
        )
    for label, action in (("V2", "VARIATION"), ("🔄", "REROLL")):
        child = api.wait(api.press(grid, label)["result"])
        assert child["action"] == action and child["status"] == "SUCCESS"
        img = api.image(child["imageUrl"]).convert("RGB")
        assert img.size == (2048, 2048)
        assert not np.array_equal(np.asarray(img), np.asarray(grid_img))
    single = api.wait(api.press(grid, "U3")["result"])
    parent = api.image(single["imageUrl"]).convert("RGB")
    expected = {
        "Upscale (Subtle)": ("UPSCALE_HD", (2048, 2048)),
        "Upscale (Creative)": ("UPSCALE_HD", (2048, 2048)),
        "Vary (Subtle)": ("VARIATION", (2048, 2048)),
        "Vary (Strong)": ("VARIATION", (2048, 2048)),
        "Zoom Out 2x": ("ZOOM", (2048, 2048)),
        "Zoom Out 1.5x": ("ZOOM", (2048, 2048)),
        "⬅️": ("PAN", (2048, 2048)),
        "⬆️": ("PAN", (2048, 2048)),
    }
    for label, (action, size) in expected.items():
        child = api.wait(api.press(single, label)["result"])
        assert child["action"] == action, label
        img = api.image(child["imageUrl"]).convert("RGB")
        assert img.size == size, label
        first = (
            img.crop((0, 0, 1024, 1024))
            if size == (2048, 2048) and action != "UPSCALE_HD"
            else img.resize(parent.size)
        )
        assert not np.array_equal(np.asarray(first), np.asarray(parent)), label
    video = api.wait(api.press(single, "Animate (Low motion)")["result"], timeout=60)
    assert video["action"] == "VIDEO" and video["videoUrl"] == video["imageUrl"]
    clip = api.http.get(video["videoUrl"], timeout=60)  # an mp4 now (tests/test_sim_video.py)
    assert clip.headers["Content-Type"] == "video/mp4" and clip.content[4:8] == b"ftyp"
    heart = api.press(single, "❤️")
    assert heart["code"] == 1 and heart["result"] == single["id"], "❤️ creates no task"


def test_zoom_out_keeps_the_parent_in_the_middle(api):
    single = upscaled(api, "a lighthouse at dusk --v 7")
    parent = api.image(single["imageUrl"]).convert("RGB")
    zoomed = api.image(api.wait(api.press(single, "Zoom Out 2x")["result"])["imageUrl"])
    tile = np.asarray(zoomed.convert("RGB").crop((0, 0, 1024, 1024))).astype(int)
    small = np.asarray(parent.resize((512, 512))).astype(int)
    centre = tile[256:768, 256:768]
    assert np.abs(centre - small).mean() < 25


def test_v5_upscale_4x_quadruples(api):
    single = upscaled(api, "an old map --v 5.2")
    child = api.wait(api.press(single, "Upscale (4x)")["result"])
    assert (child["imageWidth"], child["imageHeight"]) == (4096, 4096)


def test_action_refusals(api):
    grid = api.wait(api.imagine("a kite"))
    with sim.start(speed=FAST, strict=True) as strict:  # no real server checks the customId
        picky = Api(strict.url)
        strict_grid = picky.wait(picky.imagine("a kite"))
        bad = picky.submit(
            "action", {"taskId": strict_grid["id"], "customId": "MJ::JOB::upsample::1::nope"}
        )
        assert bad["code"] == 4
    foreign = api.submit("action", {"taskId": grid["id"], "customId": "MJ::JOB::upsample::1::no"})
    assert foreign["code"] == 1, "by default a foreign customId fails later, like on Discord"
    assert api.wait(foreign["result"])["status"] == "FAILURE"
    assert api.submit("action", {"taskId": "1234567890123456", "customId": "x"})["code"] == 3
    pending = api.imagine("another kite")
    refused = api.submit("action", {"taskId": pending, "customId": grid["buttons"][0]["customId"]})
    assert refused["code"] == 4 and "状态" in refused["description"]


# ---------------------------------------------------------------------------- modals
@pytest.fixture
def strict_api():
    with sim.start(speed=FAST, strict=True) as s:  # checks no real server makes
        yield Api(s.url)


def test_vary_region_repaints_exactly_the_white_region(strict_api):
    api = strict_api
    single = upscaled(api)
    parent = np.asarray(api.image(single["imageUrl"]).convert("RGB"))
    answer = api.press(single, "Vary (Region)")
    assert answer["code"] == 21 and answer["description"] == "窗口等待"  # Plus docs/api.md
    assert answer["properties"]["finalPrompt"] == ""
    modal_task = api.fetch(answer["result"])
    assert modal_task["status"] == "MODAL"

    mask = Image.new("L", (1024, 1024), 0)
    ImageDraw.Draw(mask).rectangle((100, 200, 500, 600), fill=255)
    ImageDraw.Draw(mask).polygon([(600, 600), (900, 650), (800, 950)], fill=255)
    wrong = api.submit(
        "modal", {"taskId": answer["result"], "maskBase64": png_data_url(mask.resize((512, 512)))}
    )
    assert (
        wrong["code"] == 4
        and "512x512" in wrong["description"]
        and "1024x1024" in wrong["description"]
    )
    jpeg = api.submit(
        "modal",
        {"taskId": answer["result"], "maskBase64": png_data_url(mask.convert("RGB"), "JPEG")},
    )
    assert jpeg["code"] == 4 and "PNG" in jpeg["description"]
    empty = api.submit(
        "modal",
        {"taskId": answer["result"], "maskBase64": png_data_url(Image.new("L", (1024, 1024)))},
    )
    assert empty["code"] == 4
    raw_b64 = png_data_url(mask).split(",", 1)[1]
    sent = api.submit(
        "modal", {"taskId": answer["result"], "prompt": "a dragon", "maskBase64": raw_b64}
    )
    assert sent["code"] == 1 and sent["result"] == answer["result"]
    result = api.wait(sent["result"])
    assert result["status"] == "SUCCESS" and result["action"] == "INPAINT"
    grid = np.asarray(api.image(result["imageUrl"]).convert("RGB"))
    inside = np.asarray(mask) == 255
    for i in range(4):
        y, x = divmod(i, 2)
        tile = grid[y * 1024 : (y + 1) * 1024, x * 1024 : (x + 1) * 1024]
        assert np.array_equal(tile[~inside], parent[~inside]), "kept pixels changed"
        assert (tile[inside] != parent[inside]).any(axis=1).all(), "masked pixels not repainted"


def test_custom_zoom_needs_a_zoom_between_1_and_2(strict_api):
    api = strict_api
    single = upscaled(api, "a desert road --v 7")
    answer = api.press(single, "Custom Zoom")
    assert answer["code"] == 21
    for prompt in ("a desert road", "a desert road --zoom 3", "a desert road --zoom 0.5"):
        refused = api.submit("modal", {"taskId": answer["result"], "prompt": prompt})
        assert refused["code"] == 4 and "--zoom" in refused["description"]
    sent = api.submit(
        "modal", {"taskId": answer["result"], "prompt": "a desert road --v 7 --zoom 1.5"}
    )
    result = api.wait(sent["result"])
    assert result["status"] == "SUCCESS" and result["prompt"].endswith("--zoom 1.5")


def test_modal_refuses_a_task_that_is_not_modal(strict_api):
    api = strict_api
    grid = api.wait(api.imagine("a pond"))
    assert api.submit("modal", {"taskId": grid["id"], "prompt": "x"})["code"] == 4


def test_remix_makes_variations_ask_for_a_prompt():
    with sim.start(speed=FAST, remix=True) as s:
        api = Api(s.url)
        grid = api.wait(api.imagine("a teapot"))
        answer = api.press(grid, "V1")
        assert answer["code"] == 21 and answer["properties"]["finalPrompt"] == "a teapot"
        sent = api.submit("modal", {"taskId": answer["result"], "prompt": "a teapot, gold"})
        assert api.wait(sent["result"])["prompt"] == "a teapot, gold"
        assert api.press(grid, "U1")["code"] == 1, "upscales never need a modal"


# ---------------------------------------------------------------------------- other endpoints
def test_describe_shorten_blend_upload_seed_list_and_cancel(api):
    picture = Image.new("RGB", (300, 200), (200, 60, 40))
    uploaded = api.submit("upload-discord-images", {"base64Array": [png_data_url(picture)]})
    assert uploaded["code"] == 1 and api.image(uploaded["result"][0]).size == (300, 200)

    described = api.wait(api.submit("describe", {"base64": png_data_url(picture)})["result"])
    assert described["action"] == "DESCRIBE"
    assert described["properties"]["finalPrompt"].count("--ar") == 4
    pick = api.press(described, "2️⃣")
    assert pick["code"] == 21
    imagined = api.wait(api.submit("modal", {"taskId": pick["result"]})["result"])
    assert imagined["action"] == "IMAGINE" and imagined["status"] == "SUCCESS"
    by_link = api.submit("describe", {"link": uploaded["result"][0]})
    assert by_link["code"] == 1

    short = api.wait(
        api.submit("shorten", {"prompt": "a very detailed castle on a hill"})["result"]
    )
    assert "Shortened prompts" in short["properties"]["finalPrompt"]
    assert api.press(short, "1️⃣")["code"] == 21

    images = [png_data_url(Image.new("RGB", (64, 64), c)) for c in ("red", "blue")]
    assert api.submit("blend", {"base64Array": images[:1]})["code"] == 4
    blend = api.wait(
        api.submit("blend", {"base64Array": images, "dimensions": "LANDSCAPE"})["result"]
    )
    assert blend["action"] == "BLEND" and blend["imageWidth"] > blend["imageHeight"]

    seed = api.get(f"/task/{blend['id']}/image-seed").json()
    assert seed["code"] == 1 and seed["result"].isdigit()
    listed = api.post("/task/list-by-condition", {"ids": [blend["id"], short["id"], "404"]})
    assert sorted(t["id"] for t in listed.json()) == sorted([blend["id"], short["id"]])
    assert api.post("/task/list-by-ids", {"ids": [blend["id"]]}).json()[0]["id"] == blend["id"]
    assert api.post("/task/list-by-condition", {}).json() == []

    running = api.imagine("to be cancelled")
    assert api.post(f"/task/{running}/cancel").status_code == 200
    assert api.fetch(running)["status"] == "CANCEL"


def test_speed_prefixes_set_the_mode():
    with sim.start(speed=FAST, flavor="trueai") as s:
        for prefix, mode in (
            ("/mj-relax/mj", "RELAX"),
            ("/mj-turbo/mj", "TURBO"),
            ("/mj-fast/mj", "FAST"),
        ):
            api = Api(s.url, prefix=prefix)
            task = api.fetch(api.imagine("a bird"))
            assert task["mode"] == mode


def test_concurrency_and_queue():
    with sim.start(speed=5.0, concurrency=2, queue_size=2) as s:
        api = Api(s.url)
        codes = [api.submit("imagine", {"prompt": f"job {i}"}) for i in range(5)]
        # the first task that waits has nobody ahead of it: code 1, like OSS and trueai
        assert [c["code"] for c in codes] == [1, 1, 1, 22, 23]
        assert codes[3]["properties"]["numberOfQueues"] == 1
        assert api.fetch(codes[2]["result"])["status"] == "NOT_START"


def test_banned_words_plus_code_24():
    with sim.start(speed=FAST, banned_words=["blood"]) as s:
        answer = Api(s.url).submit("imagine", {"prompt": "blood moon"})
        assert answer["code"] == 24 and answer["properties"]["bannedWord"] == "blood"


# ---------------------------------------------------------------------------- auth
def test_auth_accepts_three_styles_and_refuses_others():
    # auth="any": every style; each flavour's own rule is in test_sim_fidelity
    with sim.start(speed=FAST, secret="s3cret", auth="any") as s:
        for headers in (
            {"mj-api-secret": "s3cret"},
            {"Authorization": "Bearer s3cret"},
            {"Authorization": "s3cret"},
        ):
            assert Api(s.url, headers).submit("imagine", {"prompt": "ok"})["code"] == 1
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            refused = Api(s.url, headers).post("/submit/imagine", {"prompt": "no"})
            assert refused.status_code == 401 and refused.content == b""
        assert Api(s.url).get("/task/1/fetch").status_code == 401


def test_separate_image_host_records_auth_headers():
    with sim.start(speed=FAST, image_host=True) as s:
        api = Api(s.url)
        task = api.wait(api.imagine("a cloud"))
        assert task["imageUrl"].startswith(s.image_url) and s.image_url != s.url
        requests.get(task["imageUrl"], timeout=10)
        assert s.stats()["image_host_auth_seen"] == 0
        requests.get(task["imageUrl"], headers={"Authorization": "Bearer x"}, timeout=10)
        assert s.stats()["image_host_auth_seen"] == 1


# ---------------------------------------------------------------------------- flavours
def test_newapi_rewrites_codes_lags_and_strips():
    with sim.start(speed=10.0, flavor="newapi", remix=True) as s:
        api = Api(s.url)
        unknown = api.get("/task/1234567890123456/fetch")
        assert unknown.status_code == 400 and unknown.json() == {
            "description": "task_no_found ",
            "type": "upstream_error",
            "code": 4,
        }
        task_id = api.imagine("a fern")
        seen = []
        while True:
            task = api.fetch(task_id)
            if not seen or seen[-1] != (task["status"], task["progress"]):
                seen.append((task["status"], task["progress"]))
            if task["status"] == "SUCCESS":
                break
            time.sleep(0.03)
        assert len(seen) < 9, "a reseller refreshes every 15 s: some steps are never seen"
        assert set(task["properties"]) == {"finalPrompt", "finalZhPrompt"}
        s.configure(speed=400.0)
        answer = api.press(task, "V1")
        assert answer["code"] == 1, "new-api rewrites 21 to 1 for remix modals"
        assert api.wait(answer["result"])["status"] == "MODAL"  # after new-api's next refresh


def test_newapi_vary_region_keeps_21_and_failure_progress_is_100():
    with sim.start(speed=400.0, flavor="newapi", faults={"fail_rate": 1.0, "fail_at": 31}) as s:
        api = Api(s.url)
        failed = api.wait(api.imagine("a bridge"), timeout=30)
        assert failed["status"] == "FAILURE" and failed["progress"] == "100%"
        s.configure(fail_rate=0.0)
        single = upscaled(api, "a lighthouse at dusk --v 7")
        assert single["action"] == "UPSCALE"
        assert api.press(single, "Vary (Region)")["code"] == 21
        assert api.press(single, "Upscale (Subtle)")["code"] == 1
        hd = api.wait(api.press(single, "Vary (Strong)")["result"], timeout=30)
        assert hd["action"] == "HIGH_VARIATION"


def test_oss_has_no_action_modal_or_shorten():
    with sim.start(speed=FAST, flavor="oss") as s:
        api = Api(s.url)
        grid = api.wait(api.imagine("a mill"))
        assert "buttons" not in grid
        for path in ("/submit/action", "/submit/modal", "/submit/shorten"):
            assert api.post(path, {"taskId": grid["id"]}).status_code == 404
        unknown = api.get("/task/1234567890123456/fetch")
        assert unknown.status_code == 200 and unknown.content == b""
        up = api.submit("change", {"taskId": grid["id"], "action": "UPSCALE", "index": 2})
        assert api.wait(up["result"])["action"] == "UPSCALE"
        simple = api.submit("simple-change", {"content": f"{grid['id']} V3"})
        assert api.wait(simple["result"])["action"] == "VARIATION"


def test_trueai_quirks():
    with sim.start(
        speed=FAST, flavor="trueai", banned_words=["gore"], concurrency=1, queue_size=0, secret="k"
    ) as s:
        api = Api(s.url, {"Authorization": "k"})
        assert api.get("/task/1234567890123456/fetch").status_code == 204
        banned = api.imagine("gore everywhere")
        failed = api.wait(banned)
        assert failed["status"] == "FAILURE" and failed["failReason"] == "可能包含敏感词"
        first = api.imagine("fills the only slot")
        assert api.submit("imagine", {"prompt": "no room"})["code"] == 9
        assert api.post(f"/task/{first}/cancel").status_code == 200
        cancelled = api.fetch(first)
        assert (cancelled["status"], cancelled["failReason"]) == ("FAILURE", "取消任务")
        long_state = api.submit("imagine", {"prompt": "x", "state": "s" * 300})
        assert long_state["code"] == 4 and "255" in long_state["description"]
        long_elsewhere = api.submit("shorten", {"prompt": "x", "state": "s" * 300})
        assert long_elsewhere["success"] is False and long_elsewhere["code"] == -1
        refused = Api(s.url).post("/submit/imagine", {"prompt": "x"})
        assert refused.status_code == 401 and "Authorization" in refused.text


# ---------------------------------------------------------------------------- faults
def test_server_errors_rate_limits_and_malformed_json(server, api):
    task_id = api.imagine("a clock")
    server.configure(error_rate=1.0)
    statuses = {api.get(f"/task/{task_id}/fetch").status_code for _ in range(12)}
    assert statuses <= {500, 502, 503} and len(statuses) >= 2
    server.configure(error_rate=0.0, rate_limit_rate=1.0, retry_after=2)
    limited = api.get(f"/task/{task_id}/fetch")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
    server.configure(rate_limit_rate=0.0, malformed_rate=1.0)
    broken = api.get(f"/task/{task_id}/fetch")
    assert broken.status_code == 200
    with pytest.raises(ValueError):
        broken.json()
    server.configure(malformed_rate=0.0)
    assert api.fetch(task_id)["id"] == task_id


def test_resets_hangs_and_latency(server, api):
    task_id = api.imagine("a bell")
    server.configure(reset_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        api.get(f"/task/{task_id}/fetch")
    server.configure(reset_rate=0.0, hang_rate=1.0, hang_seconds=0.5)
    with pytest.raises(requests.Timeout):
        api.http.get(f"{server.url}/mj/task/{task_id}/fetch", timeout=0.2)
    server.configure(hang_rate=0.0, latency=0.2)
    began = time.monotonic()
    api.fetch(task_id)
    assert time.monotonic() - began >= 0.2
    server.configure(latency=0.0, paths=["/submit/"], error_rate=1.0)
    assert api.get(f"/task/{task_id}/fetch").status_code == 200, "paths limits the faults"


def test_submit_faults_after_commit_create_the_task(server, api):
    server.configure(error_rate=1.0, error_after_commit=1.0)
    answer = api.post("/submit/imagine", {"prompt": "a lamp", "state": "once"})
    assert answer.status_code >= 500
    stats = server.stats()
    assert stats["tasks"] == 1 and stats["submits_by_state"] == {"once": 1}
    server.configure(error_after_commit=0.0)
    api.post("/submit/imagine", {"prompt": "a lamp", "state": "twice"})
    assert server.stats()["tasks"] == 1


def test_stuck_failing_and_expiring_tasks():
    with sim.start(speed=FAST, faults={"stuck_rate": 1.0}, task_timeout=None) as s:
        api = Api(s.url)
        task_id = api.imagine("stuck")
        api.wait(task_id, until=("IN_PROGRESS",))
        time.sleep(55 / FAST * 3)
        assert api.fetch(task_id)["status"] == "IN_PROGRESS"
    with sim.start(speed=FAST, faults={"stuck_rate": 1.0}, task_timeout=60) as s:
        api = Api(s.url)
        timed_out = api.wait(api.imagine("stuck then timed out"))
        assert (timed_out["status"], timed_out["failReason"]) == ("FAILURE", "任务超时")
    with sim.start(speed=FAST, faults={"fail_rate": 1.0, "fail_at": 62}) as s:
        failed = Api(s.url).wait(Api(s.url).imagine("fails"))
        assert failed["status"] == "FAILURE" and "62%" in failed["failReason"]
        assert failed["progress"] == ""
    with sim.start(speed=FAST, faults={"image_ttl": 0.05}) as s:
        api = Api(s.url)
        done = api.wait(api.imagine("expires"))
        time.sleep(0.1)
        assert requests.get(done["imageUrl"], timeout=5).status_code == 404


def test_runtime_config_endpoint(server):
    url = f"{server.url}/sim/config"
    assert (
        requests.post(url, json={"error_rate": 0.3}, timeout=5).json()["faults"]["error_rate"]
        == 0.3
    )
    bad = requests.post(url, json={"eror_rate": 1}, timeout=5)
    assert bad.status_code == 400 and "unknown" in bad.json()["error"]
    assert requests.post(url, json={"error_rate": 2}, timeout=5).status_code == 400


def test_introspection_reports_finish_times_and_requests(server, api):
    task = api.wait(api.imagine("a stat", state="st"))
    stats = requests.get(f"{server.url}/sim/stats", timeout=5).json()
    assert stats["requests"]["POST /mj/submit/imagine"] == 1
    assert stats["requests"]["GET /mj/task/{id}/fetch"] >= 1
    assert stats["tasks_by_action"] == {"IMAGINE": 1} and stats["submits_by_state"] == {"st": 1}
    timings = requests.get(f"{server.url}/sim/tasks", timeout=5).json()
    assert (
        timings[0]["id"] == task["id"] and timings[0]["finished_at"] >= timings[0]["submitted_at"]
    )
    assert timings[0]["updates"] == 9


def test_introspection_tells_when_a_result_was_first_answered():
    """What a benchmark splits a client's detection lag by: the wait for the look that first
    showed the result (server side) and that answer's way back. Reads before the finish do not
    count, and neither does a later read."""
    with sim.start(speed=20.0) as server:  # a job of ~2.7 s
        api = Api(server.url)
        task_id = api.imagine("a lamp in the fog")
        while True:
            before = time.time()
            shown = api.fetch(task_id)
            if shown["status"] == "SUCCESS":
                break
            time.sleep(0.05)
        answered_by = time.time()
        api.fetch(task_id)  # a second look at the finished task
        (timing,) = requests.get(f"{server.url}/sim/tasks", timeout=5).json()
    assert timing["finished_at"] <= timing["first_read_finished"]
    assert before <= timing["first_read_finished"] <= answered_by


def test_without_prerender_an_image_is_drawn_only_when_it_is_fetched():
    """For a benchmark that fetches no image (the polling one): the simulator draws nothing on
    the cores its client shares, and an image asked for is still there."""
    with sim.start(speed=FAST, prerender=False) as server:
        api = Api(server.url)
        task = api.wait(api.imagine("a heron in the reeds"))
        assert requests.get(f"{server.url}/sim/stats", timeout=5).json()["images_drawn"] == 0
        assert api.image(task["imageUrl"]).size == (2048, 2048)
        assert requests.get(f"{server.url}/sim/stats", timeout=5).json()["images_drawn"] == 1


# ---------------------------------------------------------------------------- command line
def test_command_line_runs_a_simulator_for_other_clients():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mjwidgets",
            "sim",
            "--port",
            "0",
            "--speed",
            "300",
            "--flavor",
            "trueai",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        api = Api(url)
        task = api.wait(api.imagine("from another process"))
        assert task["status"] == "SUCCESS" and task["version"] == "v 8.1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
