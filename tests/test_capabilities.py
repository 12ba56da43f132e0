"""What a server can do, per flavour, on the real simulator over HTTP: declared or learnt from
its answers (never from a probe), typed refusals that name the button, auth advice that names the
style to use, and what a new kernel remembers."""

from __future__ import annotations

import pytest
import requests

from mjwidgets import sim
from mjwidgets.capabilities import ROUTES, Capabilities, button_family
from mjwidgets.client import Client
from mjwidgets.errors import AuthError, UnsupportedError
from mjwidgets.models import Button, Status
from mjwidgets.replies import Reply, route_of
from mjwidgets.store import HistoryStore
from mjwidgets.tracking import Tracker

pytestmark = pytest.mark.timeout(300)  # catches a hang; a loaded machine is slow, not hung

KEY = "sk-caps-SECRET-4242"
FAST = 200.0
POLL = 0.02
# The header each simulated server reads (sim/flavors.py; mj-2026 §4 item 6).
RIGHT_AUTH = {"plus": "raw", "trueai": "raw", "newapi": "bearer", "oss": "mj-api-secret"}
# What each family lacks (mj-proxy-api §1.2, mj-2026 §2).
MISSING = {
    "plus": set(),
    "trueai": {"change"},
    "newapi": {"cancel", "retexture"},
    "oss": set(ROUTES) - {"imagine", "change", "blend", "describe", "fetch", "list-by-condition"},
}


def _requests(server) -> int:
    return sum(server.stats()["requests"].values())


def _submits(server, path: str = "POST /mj/submit/action") -> int:
    return server.stats()["requests"].get(path, 0)


@pytest.mark.parametrize("flavor", ["plus", "trueai", "newapi", "oss"])
def test_a_declared_flavour_is_known_before_any_request(flavor):
    with sim.start(speed=FAST, flavor=flavor, secret=KEY) as server:
        client = Client(server.url, KEY, auth=RIGHT_AUTH[flavor], flavor=flavor)
        caps = client.capabilities
        assert caps.flavor == flavor and "declared" in caps.flavor_source
        assert {route for route in ROUTES if not caps.can(route)} == MISSING[flavor]
        assert _requests(server) == 0  # knowing costs nothing


@pytest.mark.parametrize("secret", [KEY, None], ids=["with-secret", "open"])
@pytest.mark.parametrize("flavor", ["plus", "trueai", "newapi", "oss"])
def test_the_flavour_is_learnt_from_the_first_answers(flavor, secret):
    with sim.start(speed=FAST, flavor=flavor, secret=secret) as server:
        client = Client(server.url, secret, auth=RIGHT_AUTH[flavor])
        assert client.capabilities.flavor is None  # nothing declared, nothing asked yet
        grid = client.imagine("a red fox in snow").wait(interval=POLL)
        assert grid.status is Status.SUCCESS
        assert client.capabilities.flavor == flavor, client.capabilities
        missing = {route for route in ROUTES if not client.capabilities.can(route)}
        assert missing == MISSING[flavor]
        # no request beyond what the person asked for: one submit and the polls of its task
        assert set(server.stats()["requests"]) <= {
            "POST /mj/submit/imagine",
            "GET /mj/task/{id}/fetch",
        }


@pytest.mark.parametrize(
    ("flavor", "wrong_style", "says"),
    [
        ("trueai", "bearer", "this looks like a trueai server"),
        ("oss", "bearer", "MJ_AUTH=mj-api-secret"),
        ("oss", "raw", "MJ_AUTH=mj-api-secret"),
        ("plus", "bearer", "MJ_AUTH=mj-api-secret"),
    ],
)
def test_a_refused_auth_style_names_the_style_to_use(flavor, wrong_style, says):
    with sim.start(speed=FAST, flavor=flavor, secret=KEY) as server:
        with pytest.raises(AuthError) as caught:
            Client(server.url, KEY, auth=wrong_style).imagine("a red fox")
        message = str(caught.value)
        assert says in message and "MJ_AUTH=" in message, message
        assert caught.value.http_status == 401 and KEY not in message
        if flavor == "trueai":
            assert "MJ_AUTH=raw" in message
        # the style it names works
        style = message.split("MJ_AUTH=", 1)[1].split()[0].rstrip(",")
        assert Client(server.url, KEY, auth=style).imagine("a red fox").id


def test_a_wrong_key_at_a_relay_is_not_blamed_on_the_style():
    with sim.start(speed=FAST, flavor="newapi", secret=KEY) as server:
        for style in ("bearer", "raw", "mj-api-secret"):  # new-api reads every style …
            assert Client(server.url, KEY, auth=style).imagine("a red fox").id
        with pytest.raises(AuthError) as caught:  # … so a refusal is about the key
            Client(server.url, "sk-wrong", auth="bearer").imagine("a red fox")
        assert "check MJ_API_KEY" in str(caught.value) and "MJ_AUTH=" not in str(caught.value)
        assert "无效的令牌" in str(caught.value)  # the relay's own words, for reference
        with pytest.raises(AuthError, match="no API key was sent"):
            Client(server.url, None).imagine("a red fox")


def _upscale(client: Client, prompt: str = "a red fox in snow --v 7"):
    grid = client.imagine(prompt).wait(interval=POLL)
    return client.action(grid, "U1").wait(interval=POLL)


def test_newapi_refuses_animate_by_name_and_the_next_press_costs_nothing():
    with sim.start(speed=FAST, flavor="newapi", secret=KEY) as server:
        # a client told the wrong family presses Animate and learns from the refusal
        client = Client(server.url, KEY, flavor="plus")
        single = _upscale(client)
        animate = single.button("Animate (High motion)")
        assert client.capabilities.accepts(animate).ok  # nothing says otherwise yet
        before = _submits(server)
        with pytest.raises(UnsupportedError) as caught:
            client.action(single, animate)
        error = caught.value
        assert _submits(server) == before + 1
        assert error.feature == "Animate (High motion)" and error.http_status == 400
        assert "Animate (High motion) is not available" in str(error)
        assert "/mj/submit/video" in str(error)  # what the relay offers instead
        assert "unknown_action" in error.server_text  # the relay's words, kept
        assert animate.custom_id not in str(error).split(" — ")[0]  # named, not by customId
        verdict = client.capabilities.accepts(animate)
        assert verdict == (False, verdict.reason) and "unknown_action" in verdict.reason
        with pytest.raises(UnsupportedError, match="Animate"):
            client.action(single, animate)  # refused here: no second round trip
        assert _submits(server) == before + 1


def test_trueai_refuses_favourites_and_shorten_picks_by_name():
    with sim.start(speed=FAST, flavor="trueai", secret=KEY) as server:
        client = Client(server.url, KEY, auth="raw", flavor="plus")  # a wrong declaration
        single = _upscale(client)
        with pytest.raises(UnsupportedError) as caught:
            client.action(single, "❤️")
        assert caught.value.feature == "❤️ Favourite" and caught.value.code == 4
        assert "未知的 Action 类型" in caught.value.server_text
        short = client.shorten("a very long prompt about a red fox in the deep snow").wait(
            interval=POLL
        )
        pick = next(b for b in short.buttons if b.index == 1)
        with pytest.raises(UnsupportedError, match="Imagine shortened prompt 1"):
            client.action(short, pick)
        # learnt without a declaration, a client refuses them before sending
        learnt = Client(server.url, KEY, auth="raw")
        learnt.fetch(single.id)
        assert learnt.capabilities.flavor == "trueai"
        before = _submits(server)
        for parent, button in ((single, single.button("❤️")), (short, pick)):
            ok, reason = learnt.capabilities.accepts(button)
            assert not ok and "trueai" in reason
            with pytest.raises(UnsupportedError):
                learnt.action(parent, button)
        assert _submits(server) == before


@pytest.mark.parametrize(
    ("flavor", "call", "feature"),
    [
        ("newapi", lambda client, task: client.cancel(task), "cancel"),
        ("oss", lambda client, task: client.cancel(task), "cancel"),
        ("oss", lambda client, task: client.image_seed(task), "image-seed"),
        ("oss", lambda client, task: client.shorten("a fox"), "shorten"),
    ],
)
def test_a_missing_route_is_typed_learnt_and_then_refused_before_sending(flavor, call, feature):
    with sim.start(speed=FAST, flavor=flavor, secret=KEY) as server:
        client = Client(server.url, KEY, auth=RIGHT_AUTH[flavor], flavor="plus")  # told wrong
        task = client.imagine("a red fox").wait(interval=POLL)
        with pytest.raises(UnsupportedError) as caught:
            call(client, task)
        assert caught.value.feature == feature and caught.value.http_status in (404, 405)
        assert not client.capabilities.can(feature)
        assert "HTTP 40" in client.capabilities.why_not(feature)
        count = _requests(server)
        with pytest.raises(UnsupportedError):
            call(client, task)
        assert _requests(server) == count  # known now: nothing sent


def test_a_new_kernel_remembers_what_the_server_refused(tmp_path):
    path = tmp_path / "history.sqlite3"
    with sim.start(speed=FAST, flavor="newapi", secret=KEY) as server:
        first = Client(server.url, KEY, flavor="plus")
        with Tracker(first, HistoryStore(path), prefetch="none") as tracker:
            single = tracker.wait(
                tracker.action(tracker.wait(tracker.imagine("a fox --v 7")), "U1")
            )
            with pytest.raises(UnsupportedError):
                tracker.action(single, "Animate (Low motion)")
        count = _requests(server)
        second = Client(server.url, KEY)  # a new kernel: nothing declared
        with Tracker(second, HistoryStore(path), prefetch="none"):
            caps = second.capabilities
            assert caps.flavor == "newapi" and "remembered" in caps.flavor_source
            refused = caps.accepts(single.button("Animate (Low motion)"))
            assert not refused.ok and "unknown_action" in refused.reason
            assert not caps.can("cancel")
        assert _requests(server) == count


def test_routes_and_button_families_are_read_from_text():
    assert route_of("/mj-fast/mj/task/123/cancel") == "cancel"
    assert route_of("/mj/submit/edit") == "edits"
    assert route_of("/mj/task/list-by-condition") == "list-by-condition"
    assert route_of("/mj/image/123") is None
    assert button_family("MJ::JOB::animate_high::1::abc::SOLO") == "MJ::JOB::animate_high"
    assert button_family("MJ::BOOKMARK::abc") == "MJ::BOOKMARK"
    assert button_family("MJ::Picread::Retry") == "MJ::Picread::Retry"
    caps = Capabilities("http://x", "new-api")
    assert caps.flavor == "newapi"
    assert caps.accepts(Button("MJ::JOB::upsample::1::h", "U1")).ok
    assert not caps.accepts(Button("MJ::Job::PicReader::1", "", "1️⃣")).ok


def _reply(status: int, body: str, headers: dict | None = None) -> Reply:
    response = requests.Response()
    response.status_code = status
    response.headers.update({"Content-Type": "application/json", **(headers or {})})
    return Reply(response, body.encode())


def test_a_relay_passing_its_upstreams_body_through_is_still_a_relay():
    caps = Capabilities("http://relay.example")
    # new-api relays a trueai upstream's submit answer as it is: trueai's escapes …
    submit = '{"code":1,"description":"\\u63D0\\u4EA4\\u6210\\u529F","result":"17"}'
    caps.observe_reply("POST", "/mj/submit/imagine", _reply(200, submit))
    assert caps.flavor == "trueai"  # a first, weak guess
    # … but its own task objects are new-api's
    task = '{"id":"17","status":"","maskBase64":"","buttons":null}'
    caps.observe_reply("GET", "/mj/task/17/fetch", _reply(200, task))
    assert caps.flavor == "newapi" and "maskBase64" in caps.flavor_source
    caps.observe_reply("POST", "/mj/submit/imagine", _reply(200, submit))
    assert caps.flavor == "newapi"  # weak evidence never overrides strong
    # a prompt that contains a backslash-u is no dialect
    plain = Capabilities("http://plus.example")
    escaped = '{"code":1,"description":"ok","result":"1","prompt":"a \\\\u00E9 b"}'
    plain.observe_reply("POST", "/mj/submit/imagine", _reply(200, escaped))
    assert plain.flavor is None
    # the relay's own refusal of a key is strong evidence, and names no auth style
    gate = Capabilities("http://gate.example")
    refused = '{"error":{"message":"无效的令牌","type":"new_api_error"}}'
    gate.observe_reply("POST", "/mj/submit/imagine", _reply(401, refused))
    assert gate.flavor == "newapi"


def test_a_404_on_imagine_is_a_wrong_url_not_a_missing_feature():
    caps = Capabilities("http://wrong.example")
    caps.observe_reply(
        "POST", "/mj/submit/imagine", _reply(404, "", {"Content-Type": "text/plain"})
    )
    caps.observe_reply(
        "POST", "/mj/submit/shorten", _reply(404, "", {"Content-Type": "text/plain"})
    )
    assert caps.can("imagine") and not caps.can("shorten")
