"""The API key stays secret: absent from every repr, log line, error, widget trait, store byte and
cached file, and sent to the API host only (never to the image host on another port).

A full workflow runs in the Studio with DEBUG logging: imagine, U1, Vary (Region) with a mask,
downloads, the cache, save() with its sidecar, and errors of every kind (a wrong key, a local
refusal, a reply lost after the submit, a server that echoes the key in a fail reason).
Elsewhere: the key absent from a notebook saved in the browser
(tests/browser/test_studio.py::test_saved_notebook_holds_images_but_not_the_key), the key never
sent to the embedded simulator from MJ_API_KEY
(tests/test_client_sim.py::test_embedded_simulator_is_used_without_a_base_url), redirects that
leave the API origin drop the key (tests/test_client_recorded.py::
test_api_redirect_to_another_origin_drops_the_key).
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from pathlib import Path

import numpy as np
import pytest
from ipywidgets.widgets.widget import _instances as live_widgets

from mjwidgets import Studio, sim
from mjwidgets.client import Client
from mjwidgets.errors import AuthError, TaskFailed, TransportError, ValidationError
from mjwidgets.imagecache import ImageCache
from mjwidgets.models import Status
from mjwidgets.store import HistoryStore
from mjwidgets.tracking import Tracker

pytestmark = pytest.mark.timeout(300)  # catches a hang; a loaded machine is slow, not hung

KEY = "sk-live-SECRETS-9f8e7d6c5b4a3921"


def _until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def _renderings(exc: BaseException) -> list[str]:
    """Every way an error reaches a user: str, repr, args, its causes and the traceback."""
    texts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args)]
        texts += [str(getattr(current, "description", ""))]
        current = current.__cause__ or current.__context__
    return texts


def _widget_states(before: set[str]) -> str:
    """The synced state of every widget made since ``before``, bytes included (as latin-1)."""
    parts = []
    for model_id, widget in list(live_widgets.items()):
        if model_id in before or widget.comm is None:
            continue
        for name, value in widget.get_state().items():
            if isinstance(value, (bytes, bytearray, memoryview)):
                parts.append(bytes(value).decode("latin-1"))
            else:
                parts.append(f"{name}={json.dumps(value, default=repr)}")
    return "\n".join(parts)


def _files_bytes(*folders: Path, pattern: str = "*") -> bytes:
    return b"".join(p.read_bytes() for f in folders for p in f.glob(pattern) if p.is_file())


def test_the_key_goes_to_the_api_host_only_and_is_never_written_or_shown(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, urllib3's included
    errors: list[BaseException] = []

    def expect(error: type[BaseException], call, *args, **kwargs) -> BaseException:
        with pytest.raises(error) as caught:
            call(*args, **kwargs)
        errors.append(caught.value)
        return caught.value

    widgets_before = set(live_widgets)
    store = HistoryStore(tmp_path / "history.sqlite3")
    with sim.start(speed=100.0, secret=KEY, image_host=True) as server:
        client = Client(server.url, KEY, auth="mj-api-secret")
        cache = ImageCache(tmp_path / "img", store=store)
        tracker = Tracker(client, store, cache, prefetch="all")
        studio = Studio(client, tracker=tracker)

        grid_view = studio.imagine("a red fox in the snow")
        grid = tracker.wait(grid_view.task, timeout=30)
        upscale_view = grid_view.press("U1")
        upscale = tracker.wait(upscale_view.task, timeout=30)
        width, height = cache.image(upscale).size
        pending = tracker.action(upscale, "Vary (Region)")
        mask = np.zeros((height, width), np.uint8)
        mask[: height // 2, : width // 2] = 255
        varied = tracker.wait(tracker.modal(pending, prompt="a blue fox", mask=mask), timeout=30)
        assert varied.status is Status.SUCCESS and varied.parent_id == upscale.id
        assert client.download(grid.image_url)[:4] == b"\x89PNG"
        assert len(grid.tiles()) == 4 and upscale.image().size == (width, height)
        cache.save(varied, tmp_path / "out")
        studio.add(varied)
        assert cache.drain(timeout=30)
        _until(lambda: all(v.card.image for v in studio.cards.values()))

        # errors of every kind
        expect(AuthError, Client(server.url, "wrong-" + KEY[:8], auth="mj-api-secret").fetch, "1")
        expect(ValidationError, client.imagine, "x" * 7000)
        expect(ValidationError, tracker.action, grid, "U9")
        server.configure(reset_rate=1.0, error_after_commit=1.0, paths=["/mj/submit/"])
        lost = expect(TransportError, tracker.imagine, "a lost reply")
        assert lost.maybe_submitted
        server.configure(reset_rate=0.0, paths=["/mj/"])
        with pytest.raises(ValidationError):
            studio.imagine("   ")
        assert studio.bar.error  # shown in the Studio

        # a server that echoes the key back (in a fail reason) is redacted in every error; its
        # task goes to a store of its own: the history keeps a server's text verbatim
        echo_client = Client(server.url, KEY, auth="mj-api-secret")
        echo_store = HistoryStore(tmp_path / "echo" / "history.sqlite3")
        echo_tracker = Tracker(echo_client, echo_store, ImageCache(tmp_path / "echo" / "img"))
        server.configure(fail_rate=1.0, fail_at=10, fail_reason=f"token {KEY} rejected")
        echoed = echo_tracker.imagine("an echoing server")
        failed = expect(TaskFailed, echo_tracker.wait, echoed, timeout=30)
        assert "token *** rejected" in str(failed)
        expect(TaskFailed, echo_client.wait, echoed.id, interval=0.05)
        server.configure(fail_rate=0.0)
        echo_tracker.close()
        echo_store.close()
        logging.getLogger("mjwidgets.client").warning("a careless line with %s", KEY)

        states = _widget_states(widgets_before)
        assert f"IPY_MODEL_{studio.bar.model_id}" in states  # the Studio itself was scanned
        reprs = [
            repr(client),
            repr(vars(client)),
            repr(vars(client._transport)),
            repr(vars(client._transport._session)),
            repr(tracker),
            repr(store),
            repr(cache),
            repr(studio),
            repr(client.journal),
            repr(store.intents(None)),
            repr(tracker.stats()),
            *(repr(t) for t in (grid, upscale, pending, varied, echoed)),
            *(repr(t.buttons) for t in (grid, upscale)),
            *(repr(v) for v in studio.cards.values()),
        ]
        stats = server.stats()
        tracker.close()

    # sent to the API host only: it accepted the key; the image host never saw one
    assert stats["image_host_auth_seen"] == 0
    image_host_gets = sum(n for k, n in stats["requests"].items() if k.startswith("image-host"))
    assert image_host_gets >= 4  # grid, upscale, region result, previews: all downloaded there
    assert stats["requests"]["POST /mj/task/list-by-condition"] > 0  # authorised API calls

    for text in reprs:
        assert KEY not in text
    for exc in errors:
        for text in _renderings(exc):
            assert KEY not in text
    assert KEY not in states and "wrong-" not in states
    assert KEY not in caplog.text and "DEBUG" in {r.levelname for r in caplog.records}

    # nothing on disk: the store (database, WAL and shared memory, while open and after), the
    # image cache and the saved files with their JSON sidecars
    while_open = _files_bytes(tmp_path, pattern="history.sqlite3*")
    assert len(while_open) > 10_000 and KEY.encode() not in while_open
    images = _files_bytes(tmp_path / "img", tmp_path / "out", pattern="**/*")
    assert len(images) > 100_000 and KEY.encode() not in images
    sidecar = json.loads((tmp_path / "out" / f"mj-{varied.id}.json").read_text("utf-8"))
    assert KEY not in json.dumps(sidecar)
    rows = store.history(limit=1000)
    assert len(rows) == 3 and all(KEY not in json.dumps(row.raw) for row in rows)
    store.close()
    assert KEY.encode() not in b"".join(p.read_bytes() for p in tmp_path.glob("history.sqlite3*"))
