"""Per-flavour fidelity of the simulator: each test pins one behaviour read from a real server's
source (docs/simulator-fidelity.md names the file and line for every one).

Raw HTTP only (tests/simhelpers.py): the simulator shares nothing with mjwidgets' client.
"""

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
from simhelpers import Api

from mjwidgets import sim

FLAVORS = ("plus", "trueai", "newapi", "oss")
WITH_ACTIONS = ("plus", "trueai", "newapi")
SPEED = 400.0  # a ~55 s job in ~0.14 s; new-api's 15 s refresh every ~0.04 s
KEY = "sk-s3cret"


def start(flavor: str, **options) -> sim.SimServer:
    options.setdefault("speed", SPEED)
    return sim.start(flavor=flavor, **options)


def png_bytes(img: Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    img.save(out, fmt)
    return out.getvalue()


def data_url(img: Image.Image, fmt: str = "PNG") -> str:
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(png_bytes(img, fmt)).decode()


def raw_b64(img: Image.Image) -> str:
    return base64.b64encode(png_bytes(img)).decode()


PICTURE = Image.new("RGB", (300, 200), (200, 60, 40))


def wait(api: Api, task_id: str, until=("SUCCESS", "FAILURE", "CANCEL"), timeout=20.0) -> dict:
    """Poll until a status in `until` (new-api shows "" until its first refresh)."""
    deadline = time.monotonic() + timeout
    task: dict = {}
    while time.monotonic() < deadline:
        task = api.fetch(task_id)
        if task["status"] in until:
            return task
        time.sleep(0.01)
    raise AssertionError(f"task {task_id} never reached {until}: {task}")


def grid_of(api: Api, prompt: str = "a lighthouse at dusk --v 7") -> dict:
    return wait(api, api.imagine(prompt))


def upscale_of(api: Api, prompt: str = "a lighthouse at dusk --v 7", tile: str = "U2") -> dict:
    grid = grid_of(api, prompt)
    return wait(api, api.press(grid, tile)["result"])


def button(task: dict, label: str) -> str:
    return next(b["customId"] for b in task["buttons"] if label in (b["label"], b["emoji"]))


def job_hash(task: dict) -> str:
    return button(task, "U1").rsplit("::", 1)[-1]


# ------------------------------------------------------------------------- §4.1 DESCRIBE prompts
@pytest.mark.parametrize("flavor", FLAVORS)
def test_describe_puts_the_prompts_where_each_server_does(flavor):
    with start(flavor) as s:
        api = Api(s.url)
        task = wait(api, api.submit("describe", {"base64": data_url(PICTURE)})["result"])
        text = task["properties"]["finalPrompt"]
        assert all(digit in text for digit in ("1️⃣", "2️⃣", "3️⃣", "4️⃣"))
        assert task["promptEn"] == text
        if flavor in ("plus", "oss"):  # OSS DescribeSuccessHandler sets prompt and promptEn
            assert task["prompt"] == text
        elif flavor == "trueai":  # HandleDescribe sets PromptEn only; Prompt was never set
            assert task["prompt"] is None
        else:  # new-api keeps the request's prompt (none) and copies promptEn
            assert task["prompt"] == ""


# ------------------------------------------------------------------- §4.2 new-api 21/22 rewrite
def test_newapi_rewrites_only_the_digits_of_21_and_22():
    with start("newapi", speed=2.0, concurrency=1, remix=True) as s:
        api = Api(s.url)
        answers = [api.post("/submit/imagine", {"prompt": f"job {i}"}) for i in range(3)]
        third = answers[2]
        assert third.content.startswith(b'{"code":1,"description":"')
        body = third.json()
        assert body["description"] == "排队中，前面还有1个任务", body
        assert body["properties"]["numberOfQueues"] == 1
    with start("newapi", remix=True) as s:
        api = Api(s.url)
        grid = grid_of(api)
        answer = api.post("/submit/action", {"taskId": grid["id"], "customId": button(grid, "V1")})
        body = answer.json()
        assert answer.content.startswith(b'{"code":1,')
        assert body["description"] == "Waiting for window confirm"
        assert body["properties"]["remix"] is True and "finalPrompt" in body["properties"]


# --------------------------------------------------------- §4.3 new-api refuses unmapped customIds
UNMAPPED = (
    "MJ::JOB::animate_high::1::{h}::SOLO",
    "MJ::JOB::animate_low_extend::1::{h}",
    "MJ::JOB::video_virtual_upscale::1::{h}",
    "MJ::Job::PicReader::1",
    "MJ::Picread::Retry",
    "MJ::Job::PromptAnalyzer::1180000000000000000::1",
    "MJ::BOOKMARK::{h}",
)


def test_newapi_refuses_the_custom_ids_it_cannot_map():
    with start("newapi") as s:
        api = Api(s.url)
        grid = grid_of(api)
        for template in UNMAPPED:
            custom_id = template.format(h=job_hash(grid))
            answer = api.post("/submit/action", {"taskId": grid["id"], "customId": custom_id})
            assert answer.status_code == 400, custom_id
            body = answer.json()
            assert set(body) == {"error"} and body["error"]["type"] == "new_api_error"
            assert body["error"]["message"].startswith(
                f"Invalid request: unknown_action:{custom_id}"
            ), body


# -------------------------------------------------------------------- §4.4 new-api error shapes
def test_newapi_error_shapes():
    with start("newapi", speed=2.0) as s:
        api = Api(s.url)
        pending = api.imagine("a slow kite --v 7")
        missing = api.post(
            "/submit/action",
            {"taskId": "1234567890123456", "customId": "MJ::JOB::upsample::1::abc"},
        )
        assert missing.status_code == 400
        assert (
            missing.content == b'{"code":4,"description":"task_not_found ","type":"upstream_error"}'
        )
        not_done = api.post(
            "/submit/action", {"taskId": pending, "customId": "MJ::JOB::upsample::1::abc"}
        )
        assert not_done.status_code == 400
        assert not_done.json() == {
            "code": 4,
            "description": "task_status_not_success ",
            "type": "upstream_error",
        }
        no_index = api.post("/submit/change", {"taskId": pending, "action": "UPSCALE"})
        assert no_index.status_code == 400
        assert no_index.json()["description"] == "index_is_required "
        numeric = api.post("/task/list-by-condition", {"ids": [1234567890123456]})
        assert numeric.status_code == 400
        assert numeric.json() == {
            "code": 4,
            "description": "do_request_failed ",
            "type": "upstream_error",
        }
        unknown = api.get("/task/1234567890123456/fetch")
        assert unknown.status_code == 400
        assert (
            unknown.content == b'{"code":4,"description":"task_no_found ","type":"upstream_error"}'
        )
        blank = api.post("/submit/imagine", {"prompt": ""})
        assert blank.status_code == 400 and blank.json()["description"] == "prompt_is_required "


# --------------------------------------------------------- §4.5 new-api before its first refresh
def test_newapi_shows_empty_strings_until_its_first_refresh():
    with start("newapi", speed=1.0) as s:  # the first 15 s refresh is 15 s away
        api = Api(s.url)
        task_id = api.imagine("a quiet pond")
        task = api.fetch(task_id)
        assert task["status"] == "" and task["progress"] == "0%"
        for key in ("state", "failReason", "imageUrl"):
            assert task[key] == "", key
        for key in ("startTime", "finishTime"):
            assert task[key] == 0, key
        assert task["description"] == "提交成功" and task["prompt"] == "a quiet pond"


def test_newapi_refreshes_drift_by_each_cycles_work():
    # new-api's loop sleeps 15 s after each cycle's work — the upstream's list-by-condition and
    # one write per changed row (controller/midjourney.go:23-31, :80) — so its refreshes come
    # more than 15 s apart, by a different amount each time, not on a fixed clock
    speed = 50.0  # 15 s → 0.3 s
    with start("newapi", speed=speed) as s:
        api = Api(s.url)
        ids = [api.imagine(f"a quiet pond {i}") for i in range(3)]
        for task_id in ids:
            wait(api, task_id)
        reads = s.stats()["refresh_reads"]
    gaps = [b - a for a, b in zip(reads, reads[1:], strict=False)]
    assert len(gaps) >= 3
    assert all(gap > 15.0 / speed for gap in gaps), gaps
    assert max(gaps) - min(gaps) > 0.001 / speed, "the same gap every time: a fixed clock"


# ------------------------------------------------------------------------ §4.6 auth per server
AUTH_CASES = [
    # OSS: only mj-api-secret (ApiAuthorizeInterceptor.java:24)
    ("oss", {"mj-api-secret": KEY}, 200),
    ("oss", {"Authorization": KEY}, 401),
    ("oss", {"Authorization": f"Bearer {KEY}"}, 401),
    # trueai: the raw Authorization value, else Mj-Api-Secret (WorkContext.cs:46-48)
    ("trueai", {"Authorization": KEY}, 200),
    ("trueai", {"mj-api-secret": KEY}, 200),
    ("trueai", {"Authorization": f"Bearer {KEY}"}, 401),
    ("trueai", {"Authorization": f"Bearer {KEY}", "mj-api-secret": KEY}, 401),
    # plus: trueai's rule (its docs name only mj-api-secret)
    ("plus", {"mj-api-secret": KEY}, 200),
    ("plus", {"Authorization": KEY}, 200),
    ("plus", {"Authorization": f"Bearer {KEY}"}, 401),
    # new-api: strips Bearer and sk-, falls back to mj-api-secret (middleware/auth.go:185-198)
    ("newapi", {"Authorization": f"Bearer {KEY}"}, 200),
    ("newapi", {"Authorization": KEY}, 200),
    ("newapi", {"mj-api-secret": KEY}, 200),
    ("newapi", {"mj-api-secret": f"Bearer {KEY}"}, 200),
    ("newapi", {"Authorization": "Bearer sk-wrong"}, 401),
]


@pytest.mark.parametrize(("flavor", "headers", "status"), AUTH_CASES)
def test_each_server_reads_its_own_auth_header(flavor, headers, status):
    with start(flavor, secret=KEY) as s:
        answer = Api(s.url, headers).post("/submit/imagine", {"prompt": "a key"})
        assert answer.status_code == status, answer.text


def test_auth_any_accepts_every_style_when_asked():
    with start("oss", secret=KEY, auth="any") as s:
        for headers in ({"Authorization": f"Bearer {KEY}"}, {"Authorization": KEY}):
            assert Api(s.url, headers).post("/submit/imagine", {"prompt": "x"}).status_code == 200


# ------------------------------------------------------- §4.7 trueai refuses ❤️ and shorten picks
def test_trueai_refuses_bookmark_and_prompt_analyzer_presses():
    with start("trueai") as s:
        api = Api(s.url)
        single = upscale_of(api)
        heart = api.post(
            "/submit/action", {"taskId": single["id"], "customId": button(single, "❤️")}
        )
        assert heart.status_code == 200
        assert heart.json() == {
            "code": 4,
            "description": "未知的 Action 类型",
            "result": None,
            "properties": {},
        }
        short = wait(api, api.submit("shorten", {"prompt": "a very detailed castle"})["result"])
        for b in short["buttons"]:
            refused = api.submit("action", {"taskId": short["id"], "customId": b["customId"]})
            assert (refused["code"], refused["description"]) == (4, "未知的 Action 类型")


# ------------------------------------------------------ §4.8 trueai: 提交成功 then Submit success
def test_trueai_submit_and_finished_action_descriptions():
    with start("trueai") as s:
        api = Api(s.url)
        answer = api.submit("imagine", {"prompt": "a paper boat --v 7"})
        assert answer["description"] == "提交成功"
        grid = wait(api, answer["result"])
        assert grid["description"] == "/imagine a paper boat --v 7"
        pressed = api.submit("action", {"taskId": grid["id"], "customId": button(grid, "U1")})
        assert pressed["description"] == "提交成功"
        assert wait(api, pressed["result"])["description"] == "Submit success"


# ------------------------------------------------------------- §4.9 OSS refuses raw base64
def test_oss_accepts_only_data_urls_and_trueai_accepts_raw_base64():
    small = Image.new("RGB", (64, 64), "blue")
    with start("oss") as s:
        api = Api(s.url)
        bodies = {
            "imagine": {"prompt": "a cat", "base64Array": [raw_b64(small)]},
            "describe": {"base64": raw_b64(small)},
            "blend": {"base64Array": [raw_b64(small), raw_b64(small)]},
        }
        for endpoint, body in bodies.items():
            answer = api.submit(endpoint, body)
            assert (answer["code"], answer["description"]) == (4, "base64格式错误"), endpoint
        assert api.submit("describe", {"base64": data_url(small)})["code"] == 1
    with start("trueai") as s:
        assert Api(s.url).submit("describe", {"base64": raw_b64(small)})["code"] == 1


# ------------------------------------------------------------------ §4.10 compact JSON per server
@pytest.mark.parametrize("flavor", FLAVORS)
def test_json_is_compact_and_trueai_escapes_non_ascii(flavor):
    with start(flavor) as s:
        api = Api(s.url)
        answer = api.post("/submit/imagine", {"prompt": "一只猫 a cat"})
        assert answer.content.startswith(b'{"code":1,"description":"'), answer.content
        task = wait(api, answer.json()["result"])
        raw = api.get(f"/task/{task['id']}/fetch").content
        assert b'", "' not in raw and b'": ' not in raw
        if flavor == "trueai":
            assert b"\\u63D0\\u4EA4\\u6210\\u529F" in answer.content  # 提交成功
            assert b"\\u4E00\\u53EA\\u732B" in raw and "一只猫".encode() not in raw
        else:
            assert "提交成功".encode() in answer.content
            assert "一只猫".encode() in raw


# --------------------------------------------------------------------- §4.11 trueai details
def test_trueai_cancel_answers_200_for_any_id():
    with start("trueai") as s:
        api = Api(s.url)
        assert api.post("/task/1234567890123456/cancel").status_code == 200
        grid = grid_of(api)
        assert api.post(f"/task/{grid['id']}/cancel").status_code == 200
        assert api.fetch(grid["id"])["status"] == "SUCCESS"


def test_trueai_image_seed_errors():
    with start("trueai", speed=2.0) as s:
        api = Api(s.url)
        unknown = api.get("/task/1234567890123456/image-seed")
        assert unknown.status_code == 404
        assert unknown.json() == {
            "code": 3,
            "description": "关联任务不存在或已失效",
            "result": None,
            "properties": {},
        }
        pending = api.get(f"/task/{api.imagine('a slow boat')}/image-seed")
        assert pending.status_code == 400
        assert (pending.json()["code"], pending.json()["description"]) == (4, "关联任务状态错误")


def test_trueai_long_state_is_a_code_4_envelope():
    with start("trueai") as s:
        answer = Api(s.url).post("/submit/imagine", {"prompt": "x", "state": "s" * 256})
        assert answer.status_code == 200
        body = answer.json()
        assert body["code"] == 4 and body["result"] is None and "255" in body["description"]


def test_trueai_tasks_carry_width_and_height():
    with start("trueai") as s:
        api = Api(s.url)
        grid = grid_of(api, "a wide valley --ar 16:9 --v 7")
        w, h = api.image(grid["imageUrl"]).size
        assert (grid["width"], grid["height"]) == (w, h) and w > h


def test_trueai_finished_shorten_describes_with_the_shortened_text():
    with start("trueai") as s:
        api = Api(s.url)
        short = wait(api, api.submit("shorten", {"prompt": "a very detailed castle"})["result"])
        assert "Shortened prompts" in short["description"]
        assert short["description"] == short["properties"]["finalPrompt"]


# ---------------------------------------------------- §4.12 strictness only when asked for
def _vary_region(api: Api) -> tuple[dict, str]:
    single = upscale_of(api)
    answer = api.press(single, "Vary (Region)")
    assert answer["code"] == 21, answer
    return single, answer["result"]


@pytest.mark.parametrize("flavor", WITH_ACTIONS)
def test_masks_and_modals_are_not_checked_by_default(flavor):
    with start(flavor) as s:
        api = Api(s.url)
        single, modal_id = _vary_region(api)
        mask = Image.new("L", (100, 100), 0)  # not the image's size, and JPEG
        ImageDraw.Draw(mask).rectangle((10, 10, 60, 60), fill=255)
        sent = api.submit("modal", {"taskId": modal_id, "maskBase64": data_url(mask, "JPEG")})
        assert sent["code"] == 1, sent
        assert wait(api, modal_id)["status"] == "SUCCESS"
        again = api.submit("modal", {"taskId": single["id"], "prompt": "not a modal task"})
        assert again["code"] == 1, again


def test_strict_mode_checks_masks_and_modal_status():
    with start("trueai", strict=True) as s:
        api = Api(s.url)
        single, modal_id = _vary_region(api)
        small = Image.new("L", (100, 100), 255)
        wrong = api.submit("modal", {"taskId": modal_id, "maskBase64": data_url(small)})
        assert wrong["code"] == 4 and "100x100" in wrong["description"]
        assert api.submit("modal", {"taskId": single["id"], "prompt": "x"})["code"] == 4


# ---------------------------------------------------------------- §4.13 job hashes per process
def test_job_hashes_differ_between_simulators_unless_seeded():
    hashes = []
    for _ in range(2):
        with start("plus") as s:
            hashes.append(job_hash(grid_of(Api(s.url))))
    assert hashes[0] != hashes[1]
    seeded = []
    for _ in range(2):
        with start("plus", seed=7) as s:
            seeded.append(job_hash(grid_of(Api(s.url))))
    assert seeded[0] == seeded[1]


# ------------------------------------------------------- §4.14 progress null until SUBMITTED
@pytest.mark.parametrize("flavor", ("oss", "trueai"))
def test_progress_is_null_until_submitted(flavor):
    with start(flavor, speed=1.0, concurrency=1) as s:
        api = Api(s.url)
        api.imagine("runs")
        waiting = api.fetch(api.imagine("waits"))
        assert waiting["status"] == "NOT_START" and waiting["progress"] is None


# ------------------------------------------------------------------------ today's servers
def test_v8_1_is_the_default_version_and_its_upscale_has_only_vary_buttons():
    with start("trueai") as s:
        api = Api(s.url)
        grid = grid_of(api, "a quiet street")
        assert grid["version"] == "v 8.1"
        single = wait(api, api.press(grid, "U1")["result"])
        labels = {b["label"] or b["emoji"] for b in single["buttons"]}
        assert {"Vary (Subtle)", "Vary (Strong)", "Vary (Region)"} <= labels
        for gone in ("Upscale (Subtle)", "Upscale (Creative)", "Zoom Out 2x", "Custom Zoom", "⬅️"):
            assert gone not in labels
        niji = grid_of(api, "a fox --niji")
        assert niji["version"] == "niji 7"
        bot = wait(
            api, api.submit("imagine", {"prompt": "a fox", "botType": "NIJI_JOURNEY"})["result"]
        )
        assert bot["version"] == "niji 7" and bot["botType"] == "NIJI_JOURNEY"


def test_task_fields_follow_each_servers_model():
    with start("trueai") as s:
        api = Api(s.url)
        grid = grid_of(api)
        for key in ("version", "seed", "width", "height", "botType", "mode", "imageUrls"):
            assert key in grid, key
        assert (grid["botType"], grid["mode"], grid["imageUrls"]) == ("MID_JOURNEY", "FAST", None)
        assert grid["seed"] is None  # trueai learns the seed only from /image-seed
        seed = api.get(f"/task/{grid['id']}/image-seed").json()["result"]
        assert api.fetch(grid["id"])["seed"] == seed
    with start("newapi") as s:
        grid = grid_of(Api(s.url))
        for key in ("width", "height", "parentId", "version", "seed", "mode", "imageWidth"):
            assert key not in grid, key
        assert grid["botType"] == "" and grid["customId"] == ""
    with start("plus") as s:
        grid = grid_of(Api(s.url))
        for key in ("width", "version", "seed"):
            assert key not in grid, key
        assert grid["imageWidth"] == grid["imageHeight"] == 2048
    with start("oss") as s:  # Task.java has no size fields
        grid = grid_of(Api(s.url))
        for key in ("width", "version", "seed", "imageWidth"):
            assert key not in grid, key


def test_trueai_image_urls_option_serves_every_tile_and_thumbnail():
    with start("trueai") as s:
        assert grid_of(Api(s.url))["imageUrls"] is None
    with start("trueai", image_urls=True) as s:
        api = Api(s.url)
        grid = grid_of(api)
        assert len(grid["imageUrls"]) == 4
        whole = np.asarray(api.image(grid["imageUrl"]).convert("RGB"))
        for i, entry in enumerate(grid["imageUrls"]):
            assert entry["url"].endswith(f"/0_{i}.png") and entry["thumbnail"].endswith(
                f"/0_{i}_640_N.webp"
            )
            tile = api.image(entry["url"])
            y, x = divmod(i, 2)
            h, w = whole.shape[0] // 2, whole.shape[1] // 2
            quadrant = whole[y * h : (y + 1) * h, x * w : (x + 1) * w]
            assert tile.format == "PNG" and np.array_equal(
                np.asarray(tile.convert("RGB")), quadrant
            )
            thumb = api.image(entry["thumbnail"])
            assert thumb.format == "WEBP" and thumb.size[0] == 640
        single = wait(api, api.press(grid, "U1")["result"])
        assert single["imageUrls"] is None  # upscales have no upsample buttons


# ---------------------------------------------------------------------------- options plumbing
def test_new_options_through_sim_config():
    with start("trueai") as s:
        url = f"{s.url}/sim/config"
        config = requests.post(url, json={"strict": True, "image_urls": True}, timeout=5).json()
        assert config["strict"] is True and config["image_urls"] is True
        assert requests.get(url, timeout=5).json()["auth"] == "flavor"


def test_dotnet_json_escapes_like_system_text_json():
    from mjwidgets.sim import wire

    data = {"a": "<b>&'+`\"é😀", "b": "back\\slash \\u00e9", "n": None}
    assert wire.dumps(data, "dotnet") == (
        b'{"a":"\\u003Cb\\u003E\\u0026\\u0027\\u002B\\u0060\\u0022\\u00E9\\uD83D\\uDE00",'
        b'"b":"back\\\\slash \\\\u00e9","n":null}'
    )
    assert wire.dumps({"a": "<&>é"}, "go") == '{"a":"\\u003c\\u0026\\u003eé"}'.encode()
    assert wire.dumps({"a": "<&>é"}, "java") == '{"a":"<&>é"}'.encode()


def test_command_line_flags_for_the_new_options():
    proc = subprocess.Popen(
        [sys.executable, "-m", "mjwidgets", "sim", "--port", "0", "--flavor", "trueai"]
        + ["--strict", "--image-urls", "--seed", "3", "--auth", "any", "--secret", KEY],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+", proc.stdout.readline()).group(0)
        config = requests.get(f"{url}/sim/config", timeout=5).json()
        assert (config["strict"], config["image_urls"], config["auth"]) == (True, True, "any")
        headers = {"Authorization": f"Bearer {KEY}"}
        assert (
            requests.post(
                f"{url}/mj/submit/imagine", json={"prompt": "x"}, headers=headers, timeout=5
            ).json()["code"]
            == 1
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ------------------------------------------------------------------- more per-server details
def test_trueai_modal_answers_and_missing_parents():
    with start("trueai") as s:
        api = Api(s.url)
        single = upscale_of(api)
        region = api.press(single, "Vary (Region)")
        assert region == {
            "code": 21,
            "description": "Waiting for window confirm",
            "result": region["result"],
            "properties": {"finalPrompt": "", "remix": True},
        }
        zoom = api.press(single, "Custom Zoom")
        assert api.fetch(zoom["result"])["description"] == "Waiting for window confirm"
        missing = api.post(
            "/submit/action",
            {"taskId": "1234567890123456", "customId": button(single, "Vary (Subtle)")},
        )
        assert missing.status_code == 404 and missing.json()["code"] == 3


def test_routes_each_server_has():
    with start("newapi") as s:
        api = Api(s.url)
        for path in ("/task/1234567890123456/cancel", "/task/list-by-ids"):
            gone = api.post(path, {})
            assert (gone.status_code, gone.text) == (404, "404 page not found"), path
        assert api.get("/task/list").status_code == 404
    with start("trueai") as s:
        gone = Api(s.url).post("/submit/change", {"taskId": "1", "action": "UPSCALE", "index": 1})
        assert (gone.status_code, gone.content) == (404, b"")
    with start("oss") as s:
        gone = Api(s.url).get("/task/1234567890123456/image-seed")
        assert gone.status_code == 404 and gone.json()["error"] == "Not Found"


def test_newapi_forwards_no_notify_hook_and_answers_its_own_seed_errors():
    from simhelpers import HookReceiver

    hooks = HookReceiver()
    try:
        with start("newapi") as s:
            api = Api(s.url)
            grid = wait(api, api.imagine("a cat --v 7", notifyHook=hooks.url))
            time.sleep(0.2)
            assert hooks.for_task(grid["id"]) == []
            unknown = api.get("/task/1234567890123456/image-seed")
            assert unknown.status_code == 400
            assert unknown.json()["description"] == "task_no_found "
            seed = api.get(f"/task/{grid['id']}/image-seed")
            assert seed.content.startswith(b'{"code":1,"description":"')
            assert list(seed.json()) == ["code", "description", "properties", "result"]
    finally:
        hooks.close()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_describe_description_per_server(flavor):
    with start(flavor) as s:
        api = Api(s.url)
        task = wait(api, api.submit("describe", {"base64": data_url(PICTURE)})["result"])
        expected = {
            "oss": f"/describe {task['id']}.png",  # OSS SubmitController.java:167-168
            "plus": f"/describe {task['id']}.png",  # Plus docs/api.md:146
            "trueai": "/describe",  # trueai SubmitController.cs:332
            "newapi": "提交成功",  # new-api keeps the submit answer's text
        }[flavor]
        assert task["description"] == expected


def test_trueai_finished_tasks_have_empty_state_and_fail_reason():
    with start("trueai") as s:
        api = Api(s.url)
        running = api.fetch(api.imagine("a lamp --v 7"))
        assert running["state"] is None and running["failReason"] is None
        done = wait(api, running["id"])
        assert done["state"] == "" and done["failReason"] == ""


def test_trueai_action_names():
    with start("trueai") as s:
        api = Api(s.url)
        single = upscale_of(api)
        expected = {"Upscale (Subtle)": "UPSCALE_HD", "Zoom Out 2x": "ZOOM"}
        for label, action in expected.items():
            child = api.fetch(api.press(single, label)["result"])
            assert child["action"] == action, label
        upscale_hash = button(single, "Vary (Subtle)").split("::")[-2]
        reroll = f"MJ::JOB::reroll::0::{upscale_hash}::SOLO"  # on trueai's own upscale sets
        again = api.submit("action", {"taskId": single["id"], "customId": reroll})
        assert api.fetch(again["result"])["action"] == "IMAGINE"  # 🔄 of an UPSCALE re-imagines
        region = api.fetch(api.press(single, "Vary (Region)")["result"])
        assert region["action"] == "VARIATION" and region["status"] == "MODAL"


def test_newapi_rate_limit_is_code_30_with_429():
    with start("newapi", faults={"rate_limit_rate": 1.0}) as s:
        limited = Api(s.url).post("/submit/imagine", {"prompt": "x"})
        assert limited.status_code == 429
        assert limited.json()["code"] == 30 and limited.json()["type"] == "upstream_error"
