"""Reference images from code: client/tracker imagine(images=, sref=, oref=, cref=) against the
real simulator over HTTP, with a real history file."""

from __future__ import annotations

import io
import time
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
import requests
from PIL import Image

from mjwidgets import sim
from mjwidgets.client import Client
from mjwidgets.errors import InputTypeError, MJError, UnsupportedError, ValidationError
from mjwidgets.prompt import Prompt
from mjwidgets.references import Upload, link_expiry, planned_prompt, prepare_all
from mjwidgets.store import HistoryStore
from mjwidgets.tracking import Tracker

FAST = 200.0
UPLOAD = "POST /mj/submit/upload-discord-images"
IMAGINE = "POST /mj/submit/imagine"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'


def png(colour=(220, 30, 30), size=(200, 160)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def bomb() -> bytes:
    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, "PNG")  # 400 megapixels in a few kB
    return out.getvalue()


def requests_of(server, key: str) -> int:
    return int(server.stats()["requests"].get(key, 0))


@pytest.fixture
def plus():
    with sim.start(speed=FAST, flavor="plus") as server:
        yield server


@pytest.fixture
def oss():
    with sim.start(speed=FAST, flavor="oss") as server:
        yield server


def test_prompt_puts_reference_urls_where_midjourney_reads_them():
    prompt = Prompt("https://x/a.png a fox --sref 1234 --sw 300 --ar 3:2")
    out = prompt.with_references(
        image_prompts=["https://x/b.png"], sref=["https://x/s.png"], oref=["https://x/o.png"]
    )
    assert str(out) == (
        "https://x/a.png https://x/b.png a fox --sref 1234 https://x/s.png --sw 300 --ar 3:2 "
        "--oref https://x/o.png"
    )
    assert out.image_prompts == ["https://x/a.png", "https://x/b.png"] and out.text == "a fox"


def test_sref_from_bytes_is_uploaded_once_and_used(plus, tmp_path):
    client = Client(plus.url, flavor="plus")
    red = png()
    first = client.imagine("a fox in snow --sw 400", sref=red)
    url = Prompt(first.prompt).params["sref"]
    assert isinstance(url, str) and "/mj/attachments/" in url
    assert requests_of(plus, UPLOAD) == 1
    second = client.imagine("a cat", sref=red, images=[red])  # same bytes: no new upload
    assert requests_of(plus, UPLOAD) == 1
    assert Prompt(second.prompt).image_prompts == [url] and Prompt(second.prompt).params["sref"]
    done = client.wait(second, timeout=120)
    grid = np.asarray(client.image(done).convert("RGB"), dtype=float)
    red_share = (grid[..., 0] > grid[..., 1] + 60).mean()
    assert red_share > 0.5, f"the style reference's red should dominate, got {red_share:.2f}"


def test_uploads_are_remembered_in_the_history_across_kernels(plus, tmp_path):
    red = png()
    store = HistoryStore(tmp_path / "history.sqlite")
    tracker = Tracker(Client(plus.url, flavor="plus"), store=store, resume=False)
    tracker.imagine("a fox", cref=red)
    tracker.close()
    store.close()
    assert requests_of(plus, UPLOAD) == 1
    store = HistoryStore(tmp_path / "history.sqlite")  # a new kernel: a new client and tracker
    tracker = Tracker(Client(plus.url, flavor="plus"), store=store, resume=False)
    try:
        task = tracker.imagine("a fox, again", cref=red)
        assert requests_of(plus, UPLOAD) == 1, "the history knew the URL"
        assert "/mj/attachments/" in str(Prompt(task.prompt).params["cref"])
    finally:
        tracker.close()
        store.close()


def test_an_expired_link_is_uploaded_again(plus):
    client = Client(plus.url, flavor="plus")
    red = png()
    client.imagine("a fox", sref=red)
    digest = prepare_all(sref=red)[0].digest
    old = client.uploads.get_upload(client.base_url, digest)
    assert old is not None and old.fresh()
    client.uploads.put_upload(client.base_url, digest, Upload(old.url, time.time() - 60))
    client.imagine("a fox", sref=red)
    assert requests_of(plus, UPLOAD) == 2
    renewed = client.uploads.get_upload(client.base_url, digest)
    assert renewed is not None and renewed.fresh()


def test_the_servers_own_link_expiry_decides_when_to_upload_again(plus):
    client = Client(plus.url, flavor="plus")
    red = png()
    plus.configure(attachment_ttl=2 * 24 * 3600.0)  # Discord-style ex= two days ahead
    first = client.imagine("a fox", sref=red)
    client.imagine("a fox", sref=red)
    assert "?ex=" in first.prompt and requests_of(plus, UPLOAD) == 1, "a fresh link is reused"
    live = str(Prompt(first.prompt).params["sref"])
    assert requests.get(live, timeout=10).status_code == 200, "a live link serves the picture"
    plus.configure(attachment_ttl=1.0)  # links that die in a second
    blue = png((20, 20, 220))
    short = client.imagine("a fox", sref=blue)
    link = str(Prompt(short.prompt).params["sref"])
    # (not fetched while live: issued at a whole second, it may be dead before any look)
    signed = parse_qs(urlsplit(link).query)
    assert int(signed["ex"][0], 16) - int(signed["is"][0], 16) == 1, "it says: one second"
    deadline = time.monotonic() + 30
    while requests.get(link, timeout=10).status_code != 404:  # the link expires
        assert time.monotonic() < deadline, "the link never expired"
        time.sleep(0.2)
    renewed = client.imagine("a fox", sref=blue)
    assert requests_of(plus, UPLOAD) == 3, "an expired link is uploaded again"
    assert Prompt(renewed.prompt).params["sref"] != link


def test_discord_link_expiry_is_read_from_the_link():
    url = "https://cdn.discordapp.com/attachments/1/2/a.png?ex=6a1b2c3d&is=6a19dabd&hm=ff"
    assert link_expiry(url, uploaded_at=0.0) == float(0x6A1B2C3D)
    assert link_expiry("https://host/a.png", uploaded_at=100.0) > 100.0 + 3600


def test_urls_and_tasks_are_used_as_they_are(plus):
    client = Client(plus.url, flavor="plus")
    source = client.wait(client.imagine("a lighthouse"), timeout=120)
    task = client.imagine("a boat", sref=source, oref="https://example.com/boat.png")
    params = Prompt(task.prompt).params
    assert params["sref"] == source.image_url and params["oref"] == "https://example.com/boat.png"
    assert requests_of(plus, UPLOAD) == 0


def test_oss_sends_image_prompts_as_base64_and_refuses_a_file_sref_before_sending(oss):
    client = Client(oss.url, flavor="oss")
    task = client.imagine("a fox", images=[png(), png((20, 20, 220))])
    assert requests_of(oss, UPLOAD) == 0
    assert "base64" not in task.prompt and "data:" not in task.prompt
    seen = client.fetch(task.id).prompt  # the proxy put its own uploads' URLs first
    assert len(Prompt(seen).image_prompts) == 2, seen
    before = requests_of(oss, IMAGINE)
    with pytest.raises(UnsupportedError) as caught:
        client.imagine("a fox", sref=png())
    assert "style reference" in str(caught.value) and "upload" in str(caught.value)
    assert "URL" in (caught.value.advice or "")
    assert requests_of(oss, IMAGINE) == before and requests_of(oss, UPLOAD) == 0
    ok = client.imagine("a fox", sref="https://example.com/style.png")  # a URL needs no upload
    assert Prompt(ok.prompt).params["sref"] == "https://example.com/style.png"


@pytest.mark.parametrize(
    ("value", "error", "words"),
    [
        (b"hello world", ValidationError, "not an image"),
        (SVG, ValidationError, "SVG"),
        (bomb(), ValidationError, "decompression bomb"),
        (12345, InputTypeError, "unsupported image input"),
        ("/no/such/file.png", ValidationError, "no such file"),
    ],
    ids=["text", "svg", "bomb", "wrong-type", "missing-file"],
)
def test_bad_references_are_refused_with_typed_errors_before_sending(plus, value, error, words):
    client = Client(plus.url, flavor="plus")
    for slot in ("images", "sref", "oref", "cref"):
        with pytest.raises(error) as caught:
            client.imagine("a fox", **{slot: value})
        assert isinstance(caught.value, MJError) and words in str(caught.value)
    assert requests_of(plus, UPLOAD) == 0 and requests_of(plus, IMAGINE) == 0


def test_oref_takes_one_image_and_an_unfinished_task_is_refused(plus):
    client = Client(plus.url, flavor="plus")
    with pytest.raises(ValidationError, match="--oref takes one image"):
        client.imagine("a fox", oref=[png(), png((0, 0, 255))])
    running = client.imagine("a lighthouse")
    with pytest.raises(ValidationError, match="no finished image"):
        client.imagine("a fox", sref=running)
    assert requests_of(plus, UPLOAD) == 0 and requests_of(plus, IMAGINE) == 1


def test_the_planned_prompt_shows_what_the_server_will_receive(plus, oss):
    client = Client(plus.url, flavor="plus")
    refs = prepare_all(images=[png()], sref=png((0, 0, 200)))
    shown = planned_prompt(client, "a fox --sw 200", refs)
    assert shown.startswith("https://(upload)/image-") and "--sref https://(upload)/" in shown
    task = client.imagine("a fox --sw 200", images=[png()], sref=png((0, 0, 200)))
    assert planned_prompt(client, "a fox --sw 200", refs) == task.prompt  # now it is known
    on_oss = planned_prompt(Client(oss.url, flavor="oss"), "a fox", prepare_all(images=[png()]))
    assert on_oss.startswith("https://(attached)/image-")
