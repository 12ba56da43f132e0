"""Bad input, from the user and from the server: each gets a typed error or safe handling.

Every row of ``CASES`` says what the input is, where it goes, and the expected outcome (an
exception class, or "handled: …"). After every row the process is alive (the test goes on), the
history store passes ``PRAGMA integrity_check`` and its earlier rows are still there, unchanged,
and the key appears in no error. ``python tests/test_bad_input.py`` prints the table.

Already covered elsewhere (not repeated here): every error shape of reference §1.4 and the
retry rules (test_client_recorded.py: test_error_shapes_map_to_typed_errors,
test_submit_is_not_resent_*), local refusals of masks/zoom/buttons
(test_client_recorded.py::test_local_refusals_send_nothing), hostile file names in the cache
(test_imagecache.py::test_file_names_never_come_from_server_strings).
"""

from __future__ import annotations

import contextlib
import io
import resource
import sqlite3
import struct
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
import requests
from PIL import Image, ImageFile
from replay import ReplayServer, js, raw
from werkzeug.wrappers import Response

from mjwidgets import Prompt, masks, sim
from mjwidgets.client import Client
from mjwidgets.errors import (
    AuthError,
    MJError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TaskFailed,
    ValidationError,
)
from mjwidgets.imagecache import ImageCache
from mjwidgets.models import Status, Task
from mjwidgets.prompt import MAX_PROMPT_CHARS, PromptError
from mjwidgets.store import HistoryStore
from mjwidgets.tracking import Tracker

pytestmark = pytest.mark.timeout(300)  # catches a hang; a loaded machine is slow, not hung

KEY = "sk-BAD-INPUT-0c9e51-SECRET"
TID = "1732000000000123"
H = "eb1167b3-67a9-4378-bc65-c1e582e2e662"
IMAGINE = ("POST", "/mj/submit/imagine")
FETCH = ("GET", f"/mj/task/{TID}/fetch")
LIST = ("POST", "/mj/task/list-by-condition")


# -- inputs ----------------------------------------------------------------------------------------


def png(size: tuple[int, int] = (64, 64), color: int = 128) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (color, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def zero_png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of width×height black pixels, built without ever holding the pixels:
    a few kB that decode to ``width*height`` bytes in Pillow (a decompression bomb when big)."""
    row = b"\x00" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


BOMB = zero_png(20_000, 20_000)  # 400 megapixels in ~50 kB
MASK_100MP = zero_png(10_000, 10_000)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
    b'<rect width="64" height="64" fill="red"/></svg>'
)
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\nnewpath 0 0 moveto showpage\n%%EOF\n"


def task_json(task_id: str = TID, status: str = "SUCCESS", **extra: Any) -> dict:
    data = {
        "id": task_id,
        "action": "IMAGINE",
        "status": status,
        "prompt": "a red fox",
        "progress": "100%" if status == "SUCCESS" else "10%",
        "imageUrl": None,
        "buttons": [],
        "properties": {},
    }
    if status == "SUCCESS":
        data["buttons"] = [
            {"customId": f"MJ::JOB::upsample::{i}::{H}", "label": f"U{i}"} for i in range(1, 5)
        ]
    data.update(extra)
    return data


def ok(result: Any = TID, code: int = 1) -> Callable:
    return js({"code": code, "description": "提交成功", "result": result, "properties": {}})


# -- the context each row runs in ----------------------------------------------------------------


@dataclass
class Ctx:
    server: ReplayServer
    client: Client
    store: HistoryStore
    tmp: Path
    simulator: Any
    extra: dict = field(default_factory=dict)

    def task(self, data: dict) -> Task:
        return Task.from_json(data).bind(self.client)

    def tracker(self, **options: Any) -> Tracker:
        cache = ImageCache(self.tmp / "img", store=self.store)
        tracker = Tracker(self.client, self.store, cache, resume=False, **options)
        self.extra.setdefault("trackers", []).append(tracker)
        return tracker

    def modal_task(self, kind: str = "Vary (Region)") -> Task:
        """A MODAL task made by pressing Vary (Region)/Custom Zoom on a 64×64 upscale."""
        parent = self.task(
            task_json(
                "1732000000000200",
                action="UPSCALE",
                imageWidth=64,
                imageHeight=64,
                buttons=[
                    {"customId": f"MJ::Inpaint::1::{H}::SOLO", "label": "Vary (Region)"},
                    {"customId": f"MJ::CustomZoom::{H}", "label": "Custom Zoom"},
                ],
            )
        )
        modal = self.task(task_json("1732000000000300", "MODAL"))
        modal.parent_id, modal.origin_button = parent.id, parent.button(kind)
        modal.parent_image_size = parent.image_size
        return modal


@dataclass
class Case:
    name: str
    input: str
    where: str
    expected: type[BaseException] | str  # an exception class, or "handled: …"
    run: Callable[[Ctx], Any]
    words: str = ""  # must appear in the error message
    sends: bool = True  # False: refused locally, not a single request


CASES: list[Case] = []


def case(name: str, input: str, where: str, expected: Any, **kw: Any):
    def register(run: Callable[[Ctx], Any]) -> Callable[[Ctx], Any]:
        CASES.append(Case(name, input, where, expected, run, **kw))
        return run

    return register


# -- prompts ---------------------------------------------------------------------------------------


@case("empty-prompt", '""', "client.imagine", ValidationError, words="blank", sends=False)
def _(ctx: Ctx) -> None:
    ctx.client.imagine("")


@case("blank-prompt", '"  \\n\\t "', "client.imagine", ValidationError, words="blank", sends=False)
def _(ctx: Ctx) -> None:
    ctx.client.imagine("  \n\t ")


@case("none-prompt", "None", "client.imagine", ValidationError, sends=False)
def _(ctx: Ctx) -> None:
    ctx.client.imagine(None)  # type: ignore[arg-type]


@case(
    "10000-char-prompt",
    "10 000 characters",
    "client.imagine",
    ValidationError,
    words="at most 6000",
    sends=False,
)
def _(ctx: Ctx) -> None:
    ctx.client.imagine("a fox " * 1667)


@case("6000-char-prompt", "exactly 6000 characters", "client.imagine", "handled: sent as is")
def _(ctx: Ctx) -> None:
    ctx.server.on(*IMAGINE, ok())
    ctx.server.on(*FETCH, js(task_json(status="SUBMITTED")))
    text = ("a fox " * 1000)[:MAX_PROMPT_CHARS]
    assert len(text) == MAX_PROMPT_CHARS
    assert ctx.client.imagine(text + "   ").id == TID
    assert ctx.server.hits[0].body["prompt"] == text.strip()


@case(
    "10000-char-modal-prompt",
    "10 000 characters",
    "client.modal (Custom Zoom)",
    ValidationError,
    words="at most 6000",
    sends=False,
)
def _(ctx: Ctx) -> None:
    ctx.client.modal(ctx.modal_task("Custom Zoom"), prompt="x" * 10_000 + " --zoom 1.5")


@case(
    "malformed-parameter",
    '"a red fox --ar banana"',
    "simulator → task; Prompt.check",
    TaskFailed,
    words="[Invalid parameter]",
)
def _(ctx: Ctx) -> None:
    with pytest.raises(PromptError, match="--ar banana is not an aspect ratio"):
        Prompt("a red fox --ar banana").check()  # refused before sending, if asked
    client = Client(ctx.simulator.url, journal=ctx.store.journal_for(ctx.simulator.url))
    task = client.imagine("a red fox --ar banana")  # the server accepts it, then fails the job
    try:
        task.wait(timeout=20, interval=0.02)
    finally:
        assert task.status is Status.FAILURE
        ctx.store.record(task)  # the failure is kept in the history like any other task


# -- buttons, actions, modals ---------------------------------------------------------------------


@case(
    "unknown-custom-id",
    "customId MJ::JOB::upsample::9::…",
    "client.action",
    ValidationError,
    words="has no button",
    sends=False,
)
def _(ctx: Ctx) -> None:
    ctx.client.action(ctx.task(task_json()), f"MJ::JOB::upsample::9::{H}")


@case(
    "unknown-label",
    '"U5" on a grid',
    "client.action",
    ValidationError,
    words="available: U1, U2, U3, U4",
    sends=False,
)
def _(ctx: Ctx) -> None:
    ctx.client.action(ctx.task(task_json()), "U5")


@case(
    "action-on-running-task",
    "U1 on an IN_PROGRESS task",
    "client.action",
    ValidationError,
    words="not SUCCESS",
    sends=False,
)
def _(ctx: Ctx) -> None:
    ctx.client.action(ctx.task(task_json(status="IN_PROGRESS")), "U1")


@case(
    "action-on-failed-task",
    "U1 on a FAILURE task",
    "client.action",
    ValidationError,
    words="not SUCCESS",
    sends=False,
)
def _(ctx: Ctx) -> None:
    ctx.client.action(ctx.task(task_json(status="FAILURE", failReason="banned")), "U1")


@case(
    "modal-on-success-task",
    "modal() on a SUCCESS task",
    "client.modal",
    ValidationError,
    words="not MODAL",
    sends=False,
)
def _(ctx: Ctx) -> None:
    ctx.client.modal(ctx.task(task_json()), prompt="a cat")


# -- masks -------------------------------------------------------------------------------------


def _binary(size: tuple[int, int] = (64, 64)) -> np.ndarray:
    mask = np.zeros((size[1], size[0]), np.uint8)
    mask[: size[1] // 2, : size[0] // 2] = 255
    return mask


@case(
    "mask-wrong-size",
    "100×64 mask for a 64×64 image",
    "client.modal (Vary Region)",
    ValidationError,
    words="100×64 but the image is 64×64",
    sends=False,
)
def _(ctx: Ctx) -> None:
    ctx.client.modal(ctx.modal_task(), prompt="a cat", mask=_binary((100, 64)))


@case(
    "mask-empty",
    "all-black mask",
    "client.modal (Vary Region)",
    ValidationError,
    words="empty",
    sends=False,
)
def _(ctx: Ctx) -> None:
    ctx.client.modal(ctx.modal_task(), prompt="a cat", mask=np.zeros((64, 64), np.uint8))


@case(
    "mask-not-binary",
    "grey (128) mask",
    "client.modal (Vary Region)",
    ValidationError,
    words="not binary",
    sends=False,
)
def _(ctx: Ctx) -> None:
    ctx.client.modal(ctx.modal_task(), prompt="a cat", mask=np.full((64, 64), 128, np.uint8))


@case(
    "mask-not-an-image",
    "b'garbage'",
    "client.modal (Vary Region)",
    ValidationError,
    words="not an image",
    sends=False,
)
def _(ctx: Ctx) -> None:
    ctx.client.modal(ctx.modal_task(), prompt="a cat", mask=b"garbage")


def _fast_and_small(call: Callable[[], Any], error: type[BaseException]) -> BaseException:
    """Run a refusal: it decodes no image (Pillow's ``load`` never runs), allocates no big array
    (NumPy's allocations, seen by tracemalloc, peak < 50 MB) and does not raise the process' peak
    RSS by 50 MB. (No clock: on a loaded machine a refusal is slow, not wrong.)"""
    decoded: list[tuple[int, int]] = []
    real_load = ImageFile.ImageFile.load

    def load(image: ImageFile.ImageFile) -> Any:
        decoded.append(image.size)
        return real_load(image)

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    try:
        with mock.patch.object(ImageFile.ImageFile, "load", load):
            with pytest.raises(error) as caught:
                call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert decoded == [], f"decoded {decoded} before refusing"
    assert peak < 50 * 2**20, f"allocated {peak / 2**20:.0f} MB before refusing"
    assert grown_mb < 50, f"peak RSS grew by {grown_mb:.0f} MB"
    return caught.value


@case(
    "mask-100-megapixels-png",
    "10 000×10 000 PNG (12 kB)",
    "client.modal (Vary Region)",
    ValidationError,
    words="100 megapixels",
    sends=False,
)
def _(ctx: Ctx) -> None:
    error = _fast_and_small(
        lambda: ctx.client.modal(ctx.modal_task(), prompt="a cat", mask=MASK_100MP),
        ValidationError,
    )
    raise error


@case(
    "mask-100-megapixels-array",
    "10 000×10 000 array (a view, 0 bytes)",
    "client.modal (Vary Region)",
    ValidationError,
    words="over the",
    sends=False,
)
def _(ctx: Ctx) -> None:
    huge = np.broadcast_to(np.uint8(255), (10_000, 10_000))
    raise _fast_and_small(
        lambda: ctx.client.modal(ctx.modal_task(), prompt="a cat", mask=huge), ValidationError
    )


@case(
    "mask-100-megapixels-editor",
    "10 000×10 000 PNG",
    "masks.load_mask (mask editor)",
    ValueError,
    words="megapixels",
    sends=False,
)
def _(ctx: Ctx) -> None:
    raise _fast_and_small(lambda: masks.load_mask(MASK_100MP, size=(64, 64)), ValueError)


# -- images ------------------------------------------------------------------------------------


@case(
    "image-not-an-image",
    "b'hello world'",
    "client.imagine(images=…)",
    ValidationError,
    words="not an image",
    sends=False,
)
def _(ctx: Ctx) -> None:
    ctx.client.imagine("a fox", images=[b"hello world"])


@case(
    "image-decompression-bomb",
    "20 000×20 000 PNG (50 kB)",
    "client.describe",
    ValidationError,
    words="decompression bomb",
    sends=False,
)
def _(ctx: Ctx) -> None:
    raise _fast_and_small(lambda: ctx.client.describe(BOMB), ValidationError)


@case(
    "image-pdf",
    "a PDF document",
    "client.blend",
    ValidationError,
    words="not an image: a PDF document",
    sends=False,
)
def _(ctx: Ctx) -> None:
    ctx.client.blend([png(), PDF])


@case(
    "image-svg",
    "an SVG file",
    "client.imagine(images=…)",
    ValidationError,
    words="SVG",
    sends=False,
)
def _(ctx: Ctx) -> None:
    ctx.client.imagine("a fox", images=[SVG])


@case(
    "image-eps",
    "an EPS file (Pillow would run Ghostscript)",
    "client.describe",
    ValidationError,
    words="PostScript",
    sends=False,
)
def _(ctx: Ctx) -> None:
    ctx.client.describe(EPS)


@case(
    "oref-two-images",
    "two images as --oref (it takes one)",
    "client.imagine(oref=…)",
    ValidationError,
    words="--oref takes one image",
    sends=False,
)
def _(ctx: Ctx) -> None:
    ctx.client.imagine("a fox", oref=[png(), png()])


def _cache_refuses(ctx: Ctx, url: Any, data: bytes | None = None) -> None:
    """Serve ``data`` at ``url`` (if given) and let the image cache fetch it for a task."""
    if data is not None:
        ctx.server.on("GET", "/img.png", raw(data, 200, "application/octet-stream"))
    cache = ImageCache(ctx.tmp / "img", store=ctx.store)
    before = sorted(p.name for p in cache.folder.iterdir())
    task = ctx.task(task_json(f"17320000009{len(before):05d}", imageUrl=url))
    try:
        cache.fetch(task)
    finally:
        assert sorted(p.name for p in cache.folder.iterdir()) == before, "nothing is kept"
        assert cache.path(task) is None


@case(
    "served-decompression-bomb",
    "the image host serves a 400 MP PNG",
    "ImageCache.fetch",
    ValidationError,
    words="decompression bomb",
)
def _(ctx: Ctx) -> None:
    _cache_refuses(ctx, f"{ctx.server.url}/img.png", BOMB)


@case(
    "served-html",
    "the image host serves an HTML page",
    "ImageCache.fetch",
    ValidationError,
    words="not an image: an HTML page",
)
def _(ctx: Ctx) -> None:
    _cache_refuses(ctx, f"{ctx.server.url}/img.png", b"<!DOCTYPE html><html><body>login")


def _streaming_server(ctx: Ctx, total: int, length: bool) -> dict:
    sent: dict[str, Any] = {"bytes": 0, "over": threading.Event()}
    block = b"\x00" * 65536

    def body():
        try:
            while sent["bytes"] < total:
                sent["bytes"] += len(block)
                yield block
        finally:  # the whole body went out, or the server closed it (the client hung up)
            sent["over"].set()

    headers = {"Content-Length": str(total)} if length else {}
    ctx.server.on(
        "GET", "/huge.png", lambda r: Response(body(), 200, headers=headers, mimetype="image/png")
    )
    return sent


@case(
    "download-200mb-streamed",
    "a 200 MB body without Content-Length",
    "client.download",
    ValidationError,
    words="larger than 50000000 bytes",
)
def _(ctx: Ctx) -> None:
    sent = _streaming_server(ctx, 200_000_000, length=False)
    try:
        ctx.client.download(f"{ctx.server.url}/huge.png")
    finally:
        assert sent["over"].wait(60), "the server is still sending"
        assert sent["bytes"] < 80_000_000, f"the server sent {sent['bytes']} bytes"


@case(
    "download-200mb-declared",
    "Content-Length: 200 000 000",
    "client.download",
    ValidationError,
    words="larger than",
)
def _(ctx: Ctx) -> None:
    sent = _streaming_server(ctx, 200_000_000, length=True)
    try:
        ctx.client.download(f"{ctx.server.url}/huge.png")
    finally:
        assert sent["over"].wait(60), "the server is still sending"
        assert sent["bytes"] < 20_000_000, f"the server sent {sent['bytes']} bytes"


@case(
    "image-url-file-scheme",
    "imageUrl file:///etc/passwd",
    "ImageCache.fetch → download",
    ValidationError,
    words="not an http(s) URL",
    sends=False,
)
def _(ctx: Ctx) -> None:
    _cache_refuses(ctx, "file:///etc/passwd")


@case(
    "image-url-private-address",
    "imageUrl http://169.254.169.254/latest/meta-data",
    "ImageCache.fetch → download",
    ValidationError,
    words="internal address",
    sends=False,
)
def _(ctx: Ctx) -> None:
    _cache_refuses(ctx, "http://169.254.169.254/latest/meta-data")


@case(
    "image-url-javascript",
    "imageUrl javascript:alert(1)",
    "ImageCache.fetch → download",
    ValidationError,
    words="not an http(s) URL",
    sends=False,
)
def _(ctx: Ctx) -> None:
    _cache_refuses(ctx, "javascript:alert(1)")


# -- from the server ---------------------------------------------------------------------------


@case(
    "unknown-status",
    'status "PAUSED" while tracked',
    "Tracker → store",
    "handled: terminal UNKNOWN, raw status kept in the store",
)
def _(ctx: Ctx) -> None:
    ctx.server.on(*LIST, js([task_json(status="PAUSED")]))
    tracker = ctx.tracker(prefetch="none")
    tracker.track(ctx.task(task_json(status="IN_PROGRESS")))
    done = tracker.wait(TID, timeout=10)
    assert done.status is Status.UNKNOWN and done.status_raw == "PAUSED" and done.is_done
    assert ctx.store.get(TID, ctx.client.base_url).status_raw == "PAUSED"


@case(
    "pending-looking-status",
    'status "QUEUED", then SUCCESS',
    "Tracker → store",
    "handled: kept pending until SUCCESS",
)
def _(ctx: Ctx) -> None:
    ctx.server.on(*LIST, js([task_json(status="QUEUED")]), js([task_json()]))
    tracker = ctx.tracker(prefetch="none")
    tracker.track(ctx.task(task_json(status="QUEUED")), poll_now=True)
    assert tracker.wait(TID, timeout=10).status is Status.SUCCESS


@case(
    "numeric-id",
    '{"id": 1732000000000123} and result 1.732e15',
    "client.imagine / fetch",
    "handled: ids become strings",
)
def _(ctx: Ctx) -> None:
    ctx.server.on(*IMAGINE, ok(result=float(TID)))
    ctx.server.on(*FETCH, js(task_json(int(TID), status="SUBMITTED")))
    task = ctx.client.imagine("a fox")
    assert task.id == TID and isinstance(task.id, str) and task.status is Status.SUBMITTED
    ctx.store.record(task)


@case("missing-fields", '{"id": …} only, then {}', "client.fetch", "handled: a pending Task")
def _(ctx: Ctx) -> None:
    ctx.server.on(*FETCH, js({"id": TID}), js({}))
    bare = ctx.client.fetch(TID)
    assert bare.id == TID and bare.status is Status.UNKNOWN and bare.is_pending
    assert bare.buttons == [] and bare.image_url is None and bare.progress == 0
    empty = ctx.client.fetch(TID)
    assert empty.id == TID and empty.is_pending
    ctx.store.record(bare)


@case(
    "wrong-field-types",
    "status 5, progress {}, buttons 'U1', imageUrl 42, properties []",
    "client.fetch → Tracker → store",
    "handled: parsed, no crash",
)
def _(ctx: Ctx) -> None:
    odd = {
        "id": TID,
        "status": "SUCCESS",
        "progress": {"a": 1},
        "buttons": "U1",
        "imageUrl": 42,
        "properties": [],
        "prompt": ["a", "fox"],
        "failReason": {"x": 1},
        "submitTime": "yesterday",
    }
    ctx.server.on(*FETCH, js(odd))
    ctx.server.on(*LIST, js([odd]))
    task = ctx.client.fetch(TID)
    assert task.image_url is None and task.buttons == [] and task.properties == {}
    tracker = ctx.tracker(prefetch="final")
    tracker.track(task)
    assert tracker.wait(TID, timeout=5).status is Status.SUCCESS
    assert tracker.cache.drain(timeout=5)
    with pytest.raises(ValidationError, match="not a URL"):
        ctx.client.download(42)  # type: ignore[arg-type]


@case(
    "id-with-dot-dot-slash",
    'task id "../../etc/passwd"',
    "request paths, image cache, save()",
    "handled: encoded in URLs, never a file path",
)
def _(ctx: Ctx) -> None:
    hostile = "../../etc/passwd"
    ctx.server.on(*IMAGINE, ok(result=hostile))
    ctx.server.on("GET", "/a.png", raw(png(), 200, "image/png"))
    done = task_json(hostile, imageUrl=f"{ctx.server.url}/a.png")
    ctx.server.on("GET", f"/mj/task/{hostile}/fetch", js(done))
    task = ctx.client.imagine("a fox").reload()
    assert task.id == hostile and task.status is Status.SUCCESS
    assert ctx.server.hits[-1].raw_uri == "/mj/task/..%2F..%2Fetc%2Fpasswd/fetch"
    cache = ImageCache(ctx.tmp / "img", store=ctx.store)
    cached = cache.fetch(task)
    assert cached.parent == ctx.tmp / "img" and len(cached.stem) == 64  # the bytes' sha256
    saved = cache.save(task, ctx.tmp / "out")
    assert saved == ctx.tmp / "out" / "mj-etcpasswd.png"
    assert sorted(p.name for p in (ctx.tmp / "out").iterdir()) == [
        "mj-etcpasswd.json",
        "mj-etcpasswd.png",
    ]
    assert not (ctx.tmp.parent / "etc").exists()


@case(
    "id-dot-dot",
    'task id ".." (a URL dot segment)',
    "client.fetch",
    ValidationError,
    words="would address another URL",
    sends=False,
)
def _(ctx: Ctx) -> None:
    ctx.client.fetch("..")


@case(
    "html-page-200",
    "200 text/html (a login page) for fetch",
    "client.fetch",
    ServerError,
    words="HTML page",
)
def _(ctx: Ctx) -> None:
    page = "<!DOCTYPE html><html><head><title>Sign in</title></head><body>…</body></html>"
    ctx.server.on(*FETCH, raw(page, 200, "text/html"))
    ctx.client.fetch(TID)


@case(
    "html-502-on-submit",
    "502 nginx HTML page for imagine",
    "client.imagine (journaled)",
    ServerError,
    words="NOT resent",
)
def _(ctx: Ctx) -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    ctx.server.on(*IMAGINE, raw(page, 502, "text/html"))
    ctx.client.imagine("a fox", state="mjw-bad-502")


@case("http-401", "401 empty body", "client.imagine", AuthError, words="MJ_API_KEY")
def _(ctx: Ctx) -> None:
    ctx.server.on(*IMAGINE, raw("", 401))
    ctx.client.imagine("a fox")


@case("http-403", "403 text/plain", "client.fetch", AuthError, words="账号不可用")
def _(ctx: Ctx) -> None:
    ctx.server.on(*FETCH, raw("账号不可用", 403))
    ctx.client.fetch(TID)


@case(
    "empty-200-on-submit",
    "200 with an empty body for imagine",
    "client.imagine (journaled)",
    ServerError,
    words="empty reply",
)
def _(ctx: Ctx) -> None:
    ctx.server.on(*IMAGINE, raw("", 200, "application/json"))
    ctx.client.imagine("a fox", state="mjw-bad-empty")


@case(
    "http-204-on-fetch",
    "204 No Content for fetch",
    "client.fetch",
    NotFoundError,
    words="does not know this task",
)
def _(ctx: Ctx) -> None:
    ctx.server.on(*FETCH, raw("", 204))
    ctx.client.fetch(TID)


@case(
    "json-array-for-object",
    "[] where a task object is expected",
    "client.fetch",
    ServerError,
    words="unexpected reply",
)
def _(ctx: Ctx) -> None:
    ctx.server.on(*FETCH, js([]))
    ctx.client.fetch(TID)


@contextlib.contextmanager
def _body_bytes_read() -> Iterator[dict]:
    """Count the response body bytes requests hands to the client meanwhile."""
    read = {"bytes": 0}
    real = requests.Response.iter_content

    def counting(self: requests.Response, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        for chunk in real(self, *args, **kwargs):
            read["bytes"] += len(chunk)
            yield chunk

    with mock.patch.object(requests.Response, "iter_content", counting):
        yield read


@contextlib.contextmanager
def _sleeps_asked() -> Iterator[list[float]]:
    """Record the time.sleep() calls of this thread meanwhile (each really sleeps ≤ 0.05 s)."""
    asked: list[float] = []
    real, me = time.sleep, threading.get_ident()

    def sleep(seconds: float) -> None:
        if threading.get_ident() != me:
            return real(seconds)
        asked.append(seconds)
        real(min(seconds, 0.05))

    with mock.patch("time.sleep", sleep):
        yield asked


def _fifty_mb(request: Any) -> Response:
    body = b'{"id": "1732000000000123", "prompt": "' + b"a" * 50_000_000 + b'"}'
    return Response(body, 200, mimetype="application/json")


@case(
    "50mb-json-fetch",
    "a 50 MB JSON task",
    "client.fetch",
    ServerError,
    words="larger than 20000000 bytes",
)
def _(ctx: Ctx) -> None:
    ctx.server.on(*FETCH, _fifty_mb)
    with _body_bytes_read() as read:
        try:
            ctx.client.fetch(TID)
        finally:  # refused as soon as it is known to be too big, not read whole
            assert read["bytes"] <= 20_000_000, f"read {read['bytes']} bytes of a 50 MB reply"


@case(
    "50mb-json-submit",
    "a 50 MB JSON envelope for imagine",
    "client.imagine (journaled)",
    ServerError,
    words="NOT resent",
)
def _(ctx: Ctx) -> None:
    ctx.server.on(*IMAGINE, _fifty_mb)
    ctx.client.imagine("a fox", state="mjw-bad-50mb")


@case(
    "50mb-json-streamed",
    "50 MB of JSON, chunked (no Content-Length)",
    "client.fetch_many",
    ServerError,
    words="larger than",
)
def _(ctx: Ctx) -> None:
    def chunks():
        yield b"["
        for _ in range(800):
            yield b'{"id": "1", "prompt": "' + b"a" * 65_000 + b'"},'
        yield b"{}]"

    ctx.server.on(*LIST, lambda r: Response(chunks(), 200, mimetype="application/json"))
    ctx.client.fetch_many([TID])


@case(
    "retry-after-a-day",
    "429 with Retry-After: 86400 for imagine",
    "client.imagine",
    RateLimitError,
    words="wait 86400 s",
)
def _(ctx: Ctx) -> None:
    ctx.server.on(*IMAGINE, lambda r: Response("", 429, headers={"Retry-After": "86400"}))
    with _sleeps_asked() as asked:
        try:
            ctx.client.imagine("a fox", state="mjw-bad-429")
        finally:
            assert sum(asked) < 10, f"slept {asked} s instead of telling the user"
            assert ctx.server.count(*IMAGINE) == 1


@case(
    "retry-after-garbage",
    "429 with Retry-After: soon-ish for imagine",
    "client.imagine",
    RateLimitError,
    words="rate limiting",
)
def _(ctx: Ctx) -> None:
    ctx.server.on(*IMAGINE, lambda r: Response("", 429, headers={"Retry-After": "soon-ish"}))
    try:
        ctx.client.imagine("a fox", state="mjw-bad-429-garbage")
    except RateLimitError as exc:
        assert not exc.maybe_submitted  # a 429 was refused: nothing to look up later
        raise


# -- the test ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("bad-input") / "history.sqlite3"
    with HistoryStore(path) as opened:
        opened.record_many(
            [Task.from_json(task_json(f"17000000000000{i:02d}")) for i in range(5)],
            server="http://earlier",
        )
        yield opened


@pytest.fixture(scope="module")
def simulator():
    with sim.start(speed=200.0) as server:
        yield server


def _rows(store: HistoryStore) -> list[tuple]:
    with sqlite3.connect(store.path) as db:
        return db.execute(
            "SELECT id, status, raw FROM tasks WHERE server='http://earlier' ORDER BY id"
        ).fetchall()


@pytest.fixture(scope="module")
def earlier_rows(store):
    return _rows(store)


@pytest.mark.parametrize("row", CASES, ids=[c.name for c in CASES])
def test_bad_input(row: Case, store, simulator, earlier_rows, tmp_path, caplog):
    server = ReplayServer()
    # generous: a 50 MB reply is built and sent slowly on a loaded machine (no case waits on it)
    client = Client(server.url, KEY, timeout=(10, 60), journal=store.journal_for(server.url))
    ctx = Ctx(server, client, store, tmp_path, simulator)
    try:
        if isinstance(row.expected, str):
            row.run(ctx)
        else:
            with pytest.raises(row.expected) as caught:
                row.run(ctx)
            message = str(caught.value)
            assert row.words in message, message
            assert "\n" not in message and KEY not in message and KEY not in repr(caught.value)
            if isinstance(caught.value, MJError) and caught.value.maybe_submitted:
                unknown = {i.state for i in store.intents("unknown", server=server.url)}
                assert caught.value.state in unknown  # journaled as "look it up", not resent
        if not row.sends:
            assert server.hits == [], [h.path for h in server.hits]
    finally:
        for tracker in ctx.extra.get("trackers", []):
            tracker.close()
        server.stop()
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert _rows(store) == earlier_rows  # nothing lost or rewritten
    assert KEY not in caplog.text


def test_the_table_has_at_least_30_rows():
    assert len(CASES) >= 30 and len({c.name for c in CASES}) == len(CASES)


def table() -> str:
    lines = ["| # | input | where it goes | expected |", "|---|---|---|---|"]
    for number, row in enumerate(CASES, 1):
        expected = row.expected if isinstance(row.expected, str) else row.expected.__name__
        if row.words:
            expected += f' ("{row.words}")'
        if not row.sends:
            expected += ", no request sent"
        lines.append(f"| {number} | {row.input} | {row.where} | {expected} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
