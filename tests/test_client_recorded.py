"""The client against recorded and odd server replies, served by a tiny scripted HTTP server.

Covers every error shape of reference §1.4, codes 21/22/23/24, the retry rules (a submit is never
resent once it may have arrived; queries are retried), key hygiene, auth styles, mode prefixes and
the local refusals that must not cost a request.
"""

from __future__ import annotations

import io
import logging
import socket
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image
from replay import ReplayServer, Reply, js, raw, reset, slow
from werkzeug.wrappers import Response

from mjwidgets import media
from mjwidgets.client import Client
from mjwidgets.errors import (
    AuthError,
    BannedPromptError,
    MJError,
    NotFoundError,
    QueueFullError,
    RateLimitError,
    ServerError,
    TaskFailed,
    TaskTimeout,
    TransportError,
    ValidationError,
)
from mjwidgets.models import Status

KEY = "sk-TEST-7f3a9c1d-SECRET"
TID = "1732000000000123"
H = "eb1167b3-67a9-4378-bc65-c1e582e2e662"


@pytest.fixture
def server():
    replay = ReplayServer()
    yield replay
    replay.stop()


@pytest.fixture
def client(server):
    return Client(server.url, KEY, timeout=(2, 2))


@pytest.fixture(autouse=True)
def _no_key_in_logs(caplog):
    """Every test runs with DEBUG logging captured; none may contain the key."""
    caplog.set_level(logging.DEBUG)
    yield
    assert KEY not in caplog.text


def expect(error: type[MJError], call: Callable, *args, **kwargs) -> MJError:
    """Run ``call``, require ``error``, and check the key is in none of its renderings."""
    with pytest.raises(error) as caught:
        call(*args, **kwargs)
    exc = caught.value
    for rendering in (str(exc), repr(exc), exc.description):
        assert KEY not in rendering
        assert "\n" not in str(exc)
    return exc


def task_json(task_id: str = TID, status: str = "SUCCESS", **extra) -> dict:
    data = {
        "id": task_id,
        "action": "IMAGINE",
        "status": status,
        "prompt": "a red fox",
        "progress": "100%" if status == "SUCCESS" else "0%",
        "imageUrl": None,
        "buttons": [],
        "properties": {},
    }
    grid = [
        {"customId": f"MJ::JOB::upsample::{i}::{H}", "label": f"U{i}", "style": 2, "type": 2}
        for i in range(1, 5)
    ]
    grid.append({"customId": f"MJ::JOB::reroll::0::{H}::SOLO", "emoji": "🔄", "label": ""})
    if status == "SUCCESS":
        data["buttons"] = grid
    data.update(extra)
    return data


UPSCALED = task_json(
    "1732000000000200",
    action="UPSCALE",
    imageWidth=64,
    imageHeight=64,
    buttons=[
        {"customId": f"MJ::Inpaint::1::{H}::SOLO", "label": "Vary (Region)", "emoji": "🖌️"},
        {"customId": f"MJ::CustomZoom::{H}", "label": "Custom Zoom", "emoji": "🔍"},
    ],
)


def ok(result: str = TID, code: int = 1, **properties) -> Reply:
    return js({"code": code, "description": "提交成功", "result": result, "properties": properties})


def png(size: tuple[int, int] = (64, 64), color: int = 128) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (color, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


# -- error shapes --------------------------------------------------------------------------------

IMAGINE = ("POST", "/mj/submit/imagine")
FETCH = ("GET", f"/mj/task/{TID}/fetch")


@pytest.mark.parametrize(
    ("route", "reply", "error", "code", "http_status", "words"),
    [
        (IMAGINE, raw("", 401), AuthError, None, 401, "MJ_API_KEY"),
        (IMAGINE, raw("Authorization header missing.", 401), AuthError, None, 401, "missing"),
        (IMAGINE, raw("账号不可用", 403), AuthError, None, 403, "账号不可用"),
        (
            IMAGINE,
            js({"error": {"message": "无效的令牌", "type": "new_api_error"}}, 401),
            AuthError,
            None,
            401,
            "无效的令牌",
        ),
        (
            IMAGINE,
            js({"description": "quota_not_enough", "type": "upstream_error", "code": 4}, 400),
            ValidationError,
            4,
            400,
            "quota_not_enough",
        ),
        (
            IMAGINE,
            js(
                {"description": "当前分组负载已饱和", "type": "upstream_error", "code": 30},
                429,
                {"Retry-After": "0"},
            ),
            RateLimitError,
            30,
            429,
            "wait",
        ),
        (
            IMAGINE,
            js({"success": False, "code": -1, "message": "并发数已达上限"}),
            ServerError,
            -1,
            200,
            "并发数已达上限",
        ),
        (
            IMAGINE,
            js({"code": 4, "description": "prompt不能为空"}),
            ValidationError,
            4,
            200,
            "prompt",
        ),
        (
            IMAGINE,
            js({"code": 3, "description": "无可用的账号实例"}),
            NotFoundError,
            3,
            200,
            "账号",
        ),
        (
            IMAGINE,
            js({"code": 9, "description": "提交失败，队列已满，请稍后重试"}),
            QueueFullError,
            9,
            200,
            "queue",
        ),
        (
            IMAGINE,
            js({"code": 23, "description": "队列已满，请稍后尝试"}),
            QueueFullError,
            23,
            200,
            "submit again",
        ),
        (
            IMAGINE,
            js({"code": 9, "description": "提交失败，系统异常"}),
            ServerError,
            9,
            200,
            "系统异常",
        ),
        (IMAGINE, js({"code": 77, "description": "something new"}), ServerError, 77, 200, "new"),
        (
            FETCH,
            js({"description": "task_no_found ", "type": "upstream_error", "code": 4}, 400),
            NotFoundError,
            4,
            400,
            "task_no_found",
        ),
        (FETCH, raw("", 200), NotFoundError, None, 200, TID),
        (FETCH, raw("null", 200, "application/json"), NotFoundError, None, 200, TID),
        (FETCH, raw("", 204), NotFoundError, None, 204, TID),
        (FETCH, raw('{"id": "17', 200, "application/json"), ServerError, None, 200, "malformed"),
        (
            FETCH,
            raw("<html><head><title>Welcome</title></head></html>", 200, "text/html"),
            ServerError,
            None,
            200,
            "MJ_BASE_URL",
        ),
        (
            ("POST", "/mj/task/list-by-condition"),
            raw("<html><title>404</title></html>", 404),
            NotFoundError,
            None,
            404,
            "does not support",
        ),
    ],
)
def test_error_shapes_map_to_typed_errors(
    server, client, route, reply, error, code, http_status, words
):
    server.on(*route, reply)
    call = {
        IMAGINE: lambda: client.imagine("a red fox"),
        FETCH: lambda: client.fetch(TID),
    }.get(route, lambda: client.fetch_many([TID]))
    exc = expect(error, call)
    assert (exc.code, exc.http_status) == (code, http_status)
    assert words.lower() in str(exc).lower()


def test_banned_prompt_names_the_word(server, client):
    server.on(
        *IMAGINE,
        js(
            {
                "code": 24,
                "description": "可能包含敏感词",
                "properties": {"promptEn": "blood moon", "bannedWord": "blood"},
            }
        ),
    )
    exc = expect(BannedPromptError, client.imagine, "blood moon")
    assert exc.banned_word == "blood" and "'blood'" in str(exc)


def test_html_502_on_fetch_is_a_server_error_after_retries(server, client):
    page = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    server.on(*FETCH, raw(page, 502, "text/html"))
    exc = expect(ServerError, client.fetch, TID)
    assert exc.http_status == 502 and "502 Bad Gateway" in str(exc) and "<" not in str(exc)
    assert server.count(*FETCH) == 4  # first try + 3 retries


def test_unsupported_action_on_oss_server(server, client):
    server.on(*FETCH, js(task_json()))
    exc = expect(NotFoundError, client.action, client.fetch(TID), "U1")
    assert "does not support /mj/submit/action" in str(exc)


def test_key_echoed_by_the_server_is_redacted(server, client):
    server.on(*IMAGINE, raw(f"invalid token: Bearer {KEY}", 401))
    exc = expect(AuthError, client.imagine, "a red fox")
    assert "***" in str(exc)


# -- codes 21/22 and the re-read after a submit --------------------------------------------------


def test_code_21_is_a_modal_task_and_22_a_queued_one(server, client):
    server.on(*FETCH, js(task_json()))
    server.on("POST", "/mj/submit/action", ok("1732000000000300", code=21))
    server.on(
        "GET",
        "/mj/task/1732000000000300/fetch",
        js(task_json("1732000000000300", "MODAL", action="INPAINT")),
    )
    modal = client.action(client.fetch(TID), "U1")
    assert modal.status is Status.MODAL and modal.needs_modal
    assert modal.parent_id == TID and modal.origin_button.label == "U1"

    server.on(*IMAGINE, ok(code=22, numberOfQueues=3))
    server.on(*FETCH, js(task_json(status="NOT_START")))
    assert client.imagine("a red fox").status is Status.NOT_START


def test_new_api_rewrite_of_21_to_1_still_yields_modal(server, client):
    """new-api rewrites only the digits of a 21 (relay/relay-mj.go): the text still says so."""
    server.on(*FETCH, js(task_json()))
    rewritten = {
        "code": 1,
        "description": "Waiting for window confirm",
        "result": "1732000000000300",
    }
    server.on("POST", "/mj/submit/action", js(rewritten))
    assert client.action(client.fetch(TID), "U1").status is Status.MODAL
    assert server.count("GET", "/mj/task/1732000000000300/fetch") == 0  # the answer sufficed


def test_failed_reread_falls_back_to_the_status_the_code_implies(server, client):
    server.on(*IMAGINE, js({"code": 22, "description": "排队中", "result": 1732000000000123}))
    server.on(*FETCH, raw("", 500))
    task = client.imagine("a red fox")
    assert task.id == TID and task.status is Status.NOT_START and task.state.startswith("mjw-")


# -- retries -------------------------------------------------------------------------------------


def test_submit_is_not_resent_after_a_read_timeout(server):
    server.on(*IMAGINE, slow(1.0, ok()))
    client = Client(server.url, KEY, timeout=(2, 0.3))
    exc = expect(TransportError, client.imagine, "a red fox", state="mjw-look-me-up")
    assert exc.maybe_submitted and "NOT resent" in str(exc) and "mjw-look-me-up" in str(exc)
    assert server.count(*IMAGINE) == 1


@pytest.mark.parametrize("reply", [raw("", 500), raw("<html>bad gateway</html>", 502), reset])
def test_submit_is_not_resent_after_5xx_or_reset(server, client, reply):
    server.on(*IMAGINE, reply, ok())
    exc = expect((ServerError, TransportError), client.imagine, "a red fox")
    assert exc.maybe_submitted and "NOT resent" in str(exc)
    assert server.count(*IMAGINE) == 1


def test_submit_is_resent_after_429_which_the_server_refused(server, client):
    server.on(*IMAGINE, raw("", 429), ok())
    server.on(*FETCH, js(task_json(status="SUBMITTED")))
    assert client.imagine("a red fox").id == TID
    assert server.count(*IMAGINE) == 2


def test_refused_connection_is_not_maybe_submitted():
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = Client(f"http://127.0.0.1:{port}", KEY, timeout=(0.5, 1))
    exc = expect(TransportError, client.imagine, "a red fox")
    assert not exc.maybe_submitted and "could not connect" in str(exc)


@pytest.mark.parametrize("failure", [raw("busy", 503), reset, raw("", 429)])
def test_fetch_is_retried_and_succeeds(server, client, failure):
    server.on(*FETCH, failure, js(task_json()))
    assert client.fetch(TID).status is Status.SUCCESS
    assert server.count(*FETCH) == 2


def test_list_by_condition_is_retried_and_keeps_order(server, client):
    found = [task_json("2", "IN_PROGRESS"), task_json("1")]
    server.on("POST", "/mj/task/list-by-condition", raw("", 502), js(found))
    tasks = client.fetch_many(["1", "missing", "2"])
    assert [t.id for t in tasks] == ["1", "2"]
    assert server.count("POST", "/mj/task/list-by-condition") == 2
    assert server.hits[-1].body == {"ids": ["1", "missing", "2"]}


# -- the journal ---------------------------------------------------------------------------------


class RecordingJournal:
    def __init__(self, fail_before: bool = False, fail_after: bool = False) -> None:
        self.calls: list[tuple] = []
        self.fail_before, self.fail_after = fail_before, fail_after

    def before_submit(self, endpoint, body, state):
        self.calls.append(("before", endpoint, body, state))
        if self.fail_before:
            raise OSError("disk full")

    def after_submit(self, state, task_id, outcome, error):
        self.calls.append(("after", state, task_id, outcome, type(error).__name__))
        if self.fail_after:
            raise OSError("disk full")


def test_journal_sees_every_submit_with_outcome(server):
    journal = RecordingJournal(fail_after=True)
    # a read timeout generous for the prompt replies (a loaded machine), the slow one far past it
    client = Client(server.url, KEY, timeout=(2, 2), journal=journal)
    server.on(*IMAGINE, ok(), slow(4.0, ok()), js({"code": 23, "description": "队列已满"}))
    server.on(*FETCH, js(task_json(status="SUBMITTED")))
    client.imagine("a red fox", images=[png()], state="s1")  # after_submit's error is swallowed
    expect(TransportError, client.imagine, "a red fox", state="s2")
    expect(QueueFullError, client.imagine, "a red fox", state="s3")
    before = journal.calls[0]
    assert before[1] == "/mj/submit/imagine" and before[3] == "s1"
    assert before[2]["base64Array"][0].startswith("sha256:") and "prompt" in before[2]
    outcomes = [call[1:4] for call in journal.calls if call[0] == "after"]
    assert outcomes == [("s1", TID, "ok"), ("s2", None, "unknown"), ("s3", None, "error")]


def test_journal_failure_before_submit_sends_nothing(server):
    client = Client(server.url, KEY, journal=RecordingJournal(fail_before=True))
    with pytest.raises(OSError):
        client.imagine("a red fox")
    assert server.hits == []


# -- keys, auth styles, modes --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("style", "header", "value"),
    [
        ("bearer", "Authorization", f"Bearer {KEY}"),
        ("mj-api-secret", "Mj-Api-Secret", KEY),
        ("raw", "Authorization", KEY),
    ],
)
def test_auth_styles_send_the_right_header(server, style, header, value):
    server.on(*FETCH, js(task_json()))
    Client(server.url, KEY, auth=style).fetch(TID)
    sent = server.hits[0].headers
    assert sent.get(header) == value
    other = "Mj-Api-Secret" if header == "Authorization" else "Authorization"
    assert other not in sent


def test_environment_configures_the_client(server, monkeypatch):
    monkeypatch.setenv("MJ_BASE_URL", server.url + "/mj/")
    monkeypatch.setenv("MJ_API_KEY", KEY)
    monkeypatch.setenv("MJ_AUTH", "mj-api-secret")
    server.on(*FETCH, js(task_json()))
    client = Client()
    client.fetch(TID)
    assert server.hits[0].headers.get("Mj-Api-Secret") == KEY and not client.is_simulator
    expect(ValidationError, Client, server.url, KEY, auth="basic")


@pytest.mark.parametrize(
    ("base", "mode", "path"),
    [
        ("", "fast", "/mj-fast/mj/submit/imagine"),
        ("/mj", "turbo", "/mj-turbo/mj/submit/imagine"),
        ("/mj-relax/mj/", None, "/mj-relax/mj/submit/imagine"),
        ("/mj/", None, "/mj/submit/imagine"),
    ],
)
def test_mode_prefixes_hit_the_right_paths(server, base, mode, path):
    server.on("POST", path, ok())
    server.on(*FETCH, js(task_json(status="SUBMITTED")))
    server.on("GET", path.replace("submit/imagine", f"task/{TID}/fetch"), js(task_json()))
    Client(server.url + base, KEY, mode=mode).imagine("a red fox")
    assert server.hits[0].path == path


def test_key_absent_from_reprs(server, client):
    server.on(*FETCH, js(task_json()))
    task = client.fetch(TID)
    assert repr(client) == f"<Client {server.url} auth=bearer mode=None key=set>"
    for text in (repr(client), str(client), repr(task), repr(vars(client)), repr(task.buttons)):
        assert KEY not in text
    logging.getLogger("mjwidgets.client").warning("echo %s", KEY)  # redacted by the filter


def test_image_on_another_host_gets_no_key(server):
    image_host = ReplayServer()
    try:
        image_host.on("GET", "/a.png", raw(png(), 200, "image/png"))
        server.on(
            "GET",
            "/redirect.png",
            lambda r: Response("", 302, {"Location": f"{image_host.url}/a.png"}),
        )
        server.on(*FETCH, js(task_json(imageUrl=f"{image_host.url}/a.png")))
        for style in ("bearer", "mj-api-secret"):
            client = Client(server.url, KEY, auth=style)
            task = client.fetch(TID)
            assert Image.open(io.BytesIO(client.download(task.image_url))).size == (64, 64)
            client.download(f"{server.url}/redirect.png")  # API origin → redirect → image host
        assert any("Authorization" in h.headers for h in server.hits)
        assert any("Mj-Api-Secret" in h.headers for h in server.hits)
        assert image_host.count("GET", "/a.png") == 4
        for hit in image_host.hits:
            assert "Authorization" not in hit.headers and "Mj-Api-Secret" not in hit.headers
    finally:
        image_host.stop()


def test_api_redirect_to_another_origin_drops_the_key(server):
    other = ReplayServer()
    try:
        other.on(*FETCH, js(task_json()))
        server.on(*FETCH, lambda r: Response("", 307, {"Location": f"{other.url}{r.path}"}))
        for style in ("bearer", "mj-api-secret", "raw"):
            assert Client(server.url, KEY, auth=style).fetch(TID).id == TID
        assert all(
            "Authorization" not in h.headers and "Mj-Api-Secret" not in h.headers
            for h in other.hits
        )
    finally:
        other.stop()


def test_download_refuses_private_hosts_and_oversized_images(server):
    port = server.url.rsplit(":", 1)[1]
    server.on("GET", "/a.png", raw(png(), 200, "image/png"))
    client = Client(server.url, KEY)
    exc = expect(ValidationError, client.download, f"http://localhost:{port}/a.png")
    assert "allow_private_image_hosts" in str(exc)
    expect(ValidationError, client.download, "file:///etc/passwd")
    expect(ValidationError, client.download, f"{server.url}/a.png", max_bytes=100)
    trusting = Client(server.url, KEY, allow_private_image_hosts=True)
    assert trusting.download(f"http://localhost:{port}/a.png") == png()
    assert "Authorization" not in server.hits[-1].headers  # localhost is another origin
    server.on("GET", "/gone.png", raw("This content is no longer available.", 404))
    assert "expire" in str(expect(NotFoundError, client.download, f"{server.url}/gone.png"))


# -- local refusals cost no request ----------------------------------------------------------------


def test_local_refusals_send_nothing(server, client, tmp_path):
    success = client_task(client, task_json())
    running = client_task(client, task_json(status="IN_PROGRESS"))
    upscaled = client_task(client, UPSCALED)
    server.hits.clear()
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("hello")
    refusals = [
        (client.imagine, ("   ",), {}),
        (client.imagine, ("a fox",), {"images": [b"not an image"]}),
        (client.imagine, ("a fox",), {"images": [not_an_image]}),
        (client.imagine, ("a fox",), {"images": [tmp_path / "missing.png"]}),
        (client.imagine, ("a fox",), {"bot": "dalle"}),
        (client.shorten, ("",), {}),
        (client.blend, ([png()],), {}),
        (client.describe, ("data:text/plain;base64,aGVsbG8=",), {}),
        (client.action, (success, "U5"), {}),
        (client.action, (running, "U1"), {}),
        (client.modal, (success,), {"prompt": "x"}),
        (client.fetch, ("  ",), {}),
    ]
    for call, args, kwargs in refusals:
        expect(ValidationError, call, *args, **kwargs)
    inpaint = modal_task(client, upscaled, "Vary (Region)")
    zoom = modal_task(client, upscaled, "Custom Zoom")
    grey = np.full((64, 64), 128, np.uint8)
    binary = np.zeros((64, 64), np.uint8)
    binary[:8, :8] = 255
    for mask, words in [
        (None, "needs a mask"),
        (grey, "not binary"),
        (np.zeros((64, 64), np.uint8), "empty"),
        (np.pad(binary, ((0, 0), (0, 36))), "100×64 but the image is 64×64"),
        (b"garbage", "not an image"),
    ]:
        exc = expect(ValidationError, client.modal, inpaint, prompt="a cat", mask=mask)
        assert words in str(exc)
    for prompt in ("a fox", "a fox --zoom 3", "a fox --zoom 0.5"):
        expect(ValidationError, client.modal, zoom, prompt=prompt)
    expect(ValidationError, client.modal, zoom, prompt="a fox --zoom 1.5", mask=binary)
    assert server.hits == []


def client_task(client, data):
    from mjwidgets.models import Task

    return Task.from_json(data).bind(client)


def modal_task(client, parent, label):
    from mjwidgets.models import Task

    task = Task.from_json(task_json("1732000000000300", "MODAL")).bind(client)
    task.parent_id, task.origin_button = parent.id, parent.button(label)
    task.parent_image_size = parent.image_size
    return task


def test_modal_sends_mask_of_the_parent_size_and_zoom_prompt(server, client):
    upscaled = client_task(client, UPSCALED)
    server.on("POST", "/mj/submit/modal", ok("1732000000000300"))
    server.on(
        "GET", "/mj/task/1732000000000300/fetch", js(task_json("1732000000000300", "SUBMITTED"))
    )
    mask = np.zeros((64, 64), bool)
    mask[10:20, 10:20] = True
    done = client.modal(modal_task(client, upscaled, "Vary (Region)"), prompt="a cat", mask=mask)
    assert done.status is Status.SUBMITTED and done.parent_id == upscaled.id
    body = server.hits[0].body
    assert body["taskId"] == "1732000000000300" and body["prompt"] == "a cat"
    sent = media.decode_image(media._decode_data_url(body["maskBase64"])[1])
    assert sent.size == (64, 64) and set(np.unique(np.asarray(sent))) == {0, 255}
    client.modal(modal_task(client, upscaled, "Custom Zoom"), prompt="a fox --zoom 1.5")
    assert server.hits[-1].body["prompt"] == "a fox --zoom 1.5"  # one request per submit


# -- waiting ---------------------------------------------------------------------------------------


def test_wait_returns_success_and_raises_on_failure_and_timeout(server, client):
    server.on(
        *FETCH,
        js(task_json(status="SUBMITTED")),
        js(task_json(status="IN_PROGRESS")),
        js(task_json()),
    )
    task = client_task(client, task_json(status="NOT_START"))
    assert task.wait(timeout=10, interval=0.01) is task and task.status is Status.SUCCESS

    server.on(*FETCH, raw("", 503), js(task_json(status="FAILURE", failReason="[Invalid] bad")))
    exc = expect(TaskFailed, client.wait, TID, interval=0.01)
    assert "[Invalid] bad" in str(exc) and exc.task.status is Status.FAILURE

    server.on(*FETCH, js(task_json(status="IN_PROGRESS", progress="46%")))
    exc = expect(TaskTimeout, client.wait, TID, timeout=0.2, interval=0.05)
    assert "IN_PROGRESS 46%" in str(exc) and exc.task.id == TID

    server.on(*FETCH, js(task_json(status="MODAL")))
    assert client.wait(TID, interval=0.01).needs_modal


def test_cancel_image_seed_and_upload(server, client):
    server.on("POST", f"/mj/task/{TID}/cancel", raw("", 200))
    server.on(*FETCH, js(task_json(status="CANCEL")))
    assert client.cancel(TID).status is Status.CANCEL
    server.on("GET", f"/mj/task/{TID}/image-seed", js({"code": 1, "result": "636646138"}))
    assert client.image_seed(TID) == "636646138"
    server.on(
        "POST",
        "/mj/submit/upload-discord-images",
        js({"code": 1, "description": "ok", "result": ["https://cdn/x.png"]}),
    )
    assert client.upload([png(), Image.new("L", (8, 8))]) == ["https://cdn/x.png"]
    assert len(server.hits[-1].body["base64Array"]) == 2


# -- media ---------------------------------------------------------------------------------------


def test_images_of_every_kind_become_checked_data_urls(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(png())
    url = media.to_data_url(path)
    assert url.startswith("data:image/png;base64,")
    assert media.to_data_url(url) == url and media.to_data_url(png()) == url
    assert media.to_data_url(str(path)) == url
    for value in (Image.new("RGBA", (4, 3)), np.zeros((3, 4, 3), np.uint8), np.ones((3, 4), bool)):
        payload = media._decode_data_url(media.to_data_url(value))[1]
        assert media.decode_image(payload).size == (4, 3)
    assert "dtype" in str(expect(ValidationError, media.to_data_url, np.zeros((4, 4))))
    assert "shape" in str(expect(ValidationError, media.to_data_url, np.zeros((4, 4, 2), "u1")))
    bmp = io.BytesIO()
    Image.new("RGB", (4, 4)).save(bmp, format="BMP")
    assert media.to_data_url(bmp.getvalue()).startswith("data:image/png;")
    assert "truncated" in str(expect(ValidationError, media.to_data_url, png()[:60]))


def test_decompression_bombs_are_refused(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    exc = expect(ValidationError, media.to_data_url, png((64, 64)))
    assert "decompression bomb" in str(exc)
