"""Every client method end to end over real HTTP against the simulator, in each server flavour."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mjwidgets import sim
from mjwidgets.client import Client
from mjwidgets.errors import (
    AuthError,
    BannedPromptError,
    MJError,
    NotFoundError,
    QueueFullError,
    ServerError,
    TaskFailed,
    TransportError,
    UnsupportedError,
    ValidationError,
)
from mjwidgets.models import Button, ButtonKind, Status

KEY = "sk-SIM-4e1b77-SECRET"
FAST = 200.0
POLL = 0.02


def png(color: tuple[int, int, int], size: tuple[int, int] = (96, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def plus():
    with sim.start(speed=FAST, flavor="plus", secret=KEY, image_host=True) as server:
        yield server


@pytest.fixture
def client(plus):
    return Client(plus.url, KEY, auth="mj-api-secret", timeout=(2, 5))


def no_duplicate_submits(server) -> None:
    counts = server.stats()["submits_by_state"]
    assert counts and max(counts.values()) == 1, counts


def test_imagine_upscale_vary_region_with_a_mask(plus, client):
    grid = client.imagine("a red fox in the snow").wait(interval=POLL)
    assert grid.status is Status.SUCCESS and grid.image_url
    assert [b.display for b in grid.buttons][:4] == ["U1", "U2", "U3", "U4"]

    upscale = client.action(grid, "U2").wait(interval=POLL)
    assert upscale.action == "UPSCALE" and upscale.parent_id == grid.id
    assert upscale.origin_button.kind is ButtonKind.UPSAMPLE and upscale.origin_button.index == 2
    width, height = Image.open(io.BytesIO(client.download(upscale.image_url))).size

    pending = client.action(upscale, "Vary (Region)")
    assert pending.status is Status.MODAL and pending.needs_modal
    mask = np.zeros((height, width), np.uint8)
    mask[height // 4 : height // 2, width // 4 : width // 2] = 255
    result = client.modal(pending, prompt="a blue fox", mask=mask).wait(interval=POLL)
    assert result.status is Status.SUCCESS and result.id == pending.id
    assert result.parent_id == upscale.id and result.origin_button.kind is ButtonKind.INPAINT
    assert result.reload().parent_id == upscale.id  # lineage survives a reload

    stats = plus.stats()
    assert stats["image_host_auth_seen"] == 0  # images live on another port: no key sent there
    assert stats["requests"]["POST /mj/submit/modal"] >= 1
    no_duplicate_submits(plus)


def test_custom_zoom_refuses_3_and_accepts_1_5(plus, client):
    # V8.1, the default, has no zoom buttons ("they belong in the editor"): V7 has Custom Zoom
    grid = client.imagine("a lighthouse at dusk --v 7").wait(interval=POLL)
    upscale = client.action(grid, "U1").wait(interval=POLL)
    pending = client.action(upscale, "Custom Zoom")
    assert pending.status is Status.MODAL
    modals_before = plus.stats()["requests"].get("POST /mj/submit/modal", 0)
    with pytest.raises(ValidationError, match="outside 1..2"):
        client.modal(pending, prompt="a lighthouse --zoom 3")
    assert plus.stats()["requests"].get("POST /mj/submit/modal", 0) == modals_before
    zoomed = client.modal(pending, prompt="a lighthouse --zoom 1.5").wait(interval=POLL)
    assert zoomed.status is Status.SUCCESS and "--zoom 1.5" in zoomed.prompt


def test_blend_describe_shorten_upload_and_queries(plus, client):
    blend = client.blend([png((255, 0, 0)), png((0, 0, 255))], dimensions="LANDSCAPE")
    described = client.describe(png((0, 128, 0)))
    shortened = client.shorten("a very very detailed photograph of a small red fox, 8k, hdr")
    for task in (blend, described, shortened):
        task.wait(interval=POLL)
        assert task.status is Status.SUCCESS, task
    assert described.properties.get("finalPrompt")
    assert {b.kind for b in described.buttons} >= {ButtonKind.DESCRIBE_PICK}
    urls = client.upload([png((1, 2, 3)), png((4, 5, 6))])
    assert len(urls) == 2 and all(u.startswith("http") for u in urls)

    many = client.fetch_many([blend.id, "1111111111111111", described.id])
    assert [t.id for t in many] == [blend.id, described.id]
    assert client.image_seed(blend.id).isdigit()
    with pytest.raises(NotFoundError):
        client.fetch("1111111111111111")


@pytest.mark.parametrize(
    ("flavor", "cancelled", "refuses_finished"),
    [("plus", "CANCEL", True), ("trueai", "FAILURE", False)],
)
def test_cancel_a_running_task(flavor, cancelled, refuses_finished):
    with sim.start(speed=1.0, flavor=flavor) as server:
        client = Client(server.url)
        task = client.imagine("a slow painting")
        assert task.cancel().status_raw == cancelled
        if refuses_finished:
            with pytest.raises(MJError):  # the server refuses to cancel a finished task
                client.cancel(task.id)
        else:  # trueai answers 200 to any id (TaskController.cs:86-125) and changes nothing
            assert client.cancel(task.id).status_raw == cancelled


@pytest.mark.parametrize(
    ("flavor", "auth", "wrong_key_words"),
    [
        ("plus", "mj-api-secret", "MJ_API_KEY"),
        ("trueai", "raw", "Authorization header missing"),
        ("newapi", "bearer", "无效的令牌"),
        ("oss", "mj-api-secret", "MJ_API_KEY"),
    ],
)
def test_each_flavour(flavor, auth, wrong_key_words):
    with sim.start(speed=FAST, flavor=flavor, secret=KEY, remix=True) as server:
        client = Client(server.url, KEY, auth=auth, mode="fast")
        grid = client.imagine("a red fox").wait(interval=POLL)
        assert grid.status is Status.SUCCESS and isinstance(grid.id, str)
        with pytest.raises(AuthError, match=wrong_key_words) as caught:
            Client(server.url, "wrong-key", auth=auth).imagine("a red fox")
        assert caught.value.http_status == 401 and KEY not in str(caught.value)
        if flavor == "oss":  # no buttons, and no /submit/action even if a client had some
            with pytest.raises(ValidationError, match="reports no buttons"):
                client.action(grid, "U1")
            grid.buttons = [Button(custom_id=f"MJ::JOB::upsample::1::{grid.id}", label="U1")]
            with pytest.raises(UnsupportedError, match="has no action route"):  # nothing sent
                client.action(grid, "U1")
            return
        variation = client.action(grid, "V1")  # remix on: needs a modal (new-api sends code 1)
        assert variation.status is Status.MODAL
        done = client.modal(variation, prompt="a red fox, watercolour").wait(interval=POLL)
        assert done.status is Status.SUCCESS
        no_duplicate_submits(server)


def test_banned_word_plus_refuses_and_trueai_fails_later():
    with sim.start(speed=FAST, flavor="plus", banned_words=("blood",)) as server:
        with pytest.raises(BannedPromptError) as caught:
            Client(server.url).imagine("a blood moon")
        assert caught.value.banned_word == "blood" and caught.value.code == 24
    with sim.start(speed=FAST, flavor="trueai", banned_words=("blood",)) as server:
        task = Client(server.url).imagine("a blood moon")
        with pytest.raises(TaskFailed, match="敏感词"):
            task.wait(interval=POLL)
        assert task.status is Status.FAILURE


@pytest.mark.parametrize(("flavor", "code"), [("plus", 23), ("trueai", 9)])
def test_queue_full(flavor, code):
    with sim.start(speed=0.5, flavor=flavor, concurrency=1, queue_size=1) as server:
        client = Client(server.url)
        assert client.imagine("one").status is not Status.FAILURE
        # the first one waiting gets code 1 (22 only with others ahead of it): the server's copy
        # says it is queued, and the tracker's first poll shows it
        assert client.imagine("two").reload().status is Status.NOT_START
        with pytest.raises(QueueFullError) as caught:
            client.imagine("three")
        assert caught.value.code == code and not caught.value.maybe_submitted


def test_flaky_server_never_gets_a_duplicate_submit():
    faults = {
        "error_rate": 0.2,
        "reset_rate": 0.1,
        "hang_rate": 0.1,
        "hang_seconds": 0.6,
        "malformed_rate": 0.1,
    }
    with sim.start(speed=FAST, flavor="plus", faults=faults) as server:
        client = Client(server.url, timeout=(1, 0.4))
        created, uncertain = [], 0
        for i in range(12):
            try:
                created.append(client.imagine(f"fox number {i}"))
            except (ServerError, TransportError) as exc:
                uncertain += exc.maybe_submitted
        server.configure(error_rate=0.0, reset_rate=0.0, hang_rate=0.0, malformed_rate=0.0)
        no_duplicate_submits(server)
        assert created and uncertain  # both outcomes happened at these rates (seeded dice)
        assert all(client.wait(t, interval=POLL).status is Status.SUCCESS for t in created)


def test_fetch_survives_transient_faults():
    faults = {"error_rate": 0.3, "reset_rate": 0.2, "paths": ["/fetch"]}
    with sim.start(speed=FAST, flavor="plus", faults=faults) as server:
        client = Client(server.url)
        task = client.imagine("a calm lake")
        assert client.wait(task, interval=POLL).status is Status.SUCCESS
        assert server.stats()["requests"]["GET /mj/task/{id}/fetch"] > 1


def test_embedded_simulator_is_used_without_a_base_url(monkeypatch, capsys, caplog):
    monkeypatch.delenv("MJ_BASE_URL", raising=False)
    monkeypatch.setenv("MJ_API_KEY", KEY)  # an env key is never sent to the local simulator
    monkeypatch.setenv("MJ_SIM_SPEED", str(FAST))
    with caplog.at_level("INFO", logger="mjwidgets.client"):
        client = Client()
    assert client.is_simulator and "key=unset" in repr(client) and "simulator" in repr(client)
    assert capsys.readouterr().out == ""  # a library does not print; the Studio's badge says it
    assert "using the embedded simulator at http" in caplog.text
    assert client.imagine("a red fox").id
