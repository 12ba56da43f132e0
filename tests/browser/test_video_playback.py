"""Debian's chromium plays the H.264 mp4s mjwidgets keeps: from the CDN URL (byte ranges), from
files the export wrote (a local server with ranges) and from bytes turned into a Blob (what a
card does with the clip bytes it carries). For each: the video element reaches readyState ≥ 2,
``currentTime`` advances while it plays, and (where the browser lets a page read pixels back:
same origin, Blob) the frame it paints at 0 s is the poster we made.

The codec answers (``canPlayType``) are written to ``test-artifacts/video-codecs.json``."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path

import numpy as np
import pytest
from harness import ARTIFACTS_DIR, CHROMIUM
from PIL import Image, ImageDraw
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from mjwidgets import sim
from mjwidgets.client import Client
from mjwidgets.store import HistoryStore
from mjwidgets.tracking import Tracker

_PROBE = """() => {
  const v = document.createElement('video');
  const types = {
    'video/mp4; codecs="avc1.42E01E"': v.canPlayType('video/mp4; codecs="avc1.42E01E"'),
    'video/mp4; codecs="avc1.64001F"': v.canPlayType('video/mp4; codecs="avc1.64001F"'),
    'video/webm; codecs="vp9"': v.canPlayType('video/webm; codecs="vp9"'),
    'video/mp4; codecs="av01.0.05M.08"': v.canPlayType('video/mp4; codecs="av01.0.05M.08"'),
  };
  return {types, userAgent: navigator.userAgent};
}"""

# Play a source, then report what the element saw; the frame at 0 s is drawn on a canvas.
_PLAY = """async ([src, mime, base64]) => {
  let url = src;
  if (base64) {
    const bytes = Uint8Array.from(atob(base64), c => c.charCodeAt(0));
    url = URL.createObjectURL(new Blob([bytes], {type: mime}));
  }
  const v = document.createElement('video');
  v.muted = true; v.playsInline = true; v.preload = 'auto'; v.src = url;
  document.body.appendChild(v);
  const ready = await new Promise(resolve => {
    v.addEventListener('loadeddata', () => resolve(null), {once: true});
    v.addEventListener('error', () => resolve('error ' + (v.error && v.error.code)), {once: true});
    setTimeout(() => resolve('no data after 30 s'), 30000);
  });
  if (ready) return {error: ready, readyState: v.readyState};
  // 'loadeddata' says the frame at 0 s is decoded, not that it can be drawn yet: on a loaded
  // machine chromium hands drawImage a black frame for a while. Seek to 0 s (which decodes and
  // presents that frame) and read it back until it is not blank, within the same 30 s.
  await new Promise(resolve => {
    v.addEventListener('seeked', resolve, {once: true});
    v.currentTime = 0;
    setTimeout(resolve, 30000);
  });
  const first = document.createElement('canvas');
  first.width = v.videoWidth; first.height = v.videoHeight;
  const context = first.getContext('2d', {willReadFrequently: true});
  let pixels = null;  // a cross-origin clip (the CDN sends no CORS headers) cannot be read back
  const drawBy = performance.now() + 30000;
  for (;;) {
    context.drawImage(v, 0, 0);
    try {
      pixels = Array.from(context.getImageData(0, 0, first.width, first.height).data);
    } catch (e) { pixels = null; break; }
    if (pixels.some((value, i) => i % 4 !== 3 && value !== 0)) break;
    if (performance.now() > drawBy) break;
    await new Promise(r => setTimeout(r, 100));
  }
  const readyState = v.readyState;
  await v.play();
  const started = v.currentTime;
  const deadline = performance.now() + 30000;
  while (v.currentTime < started + 1.0 && performance.now() < deadline) {
    await new Promise(r => setTimeout(r, 50));
  }
  const later = v.currentTime;
  v.pause();
  return {readyState, started, later, width: v.videoWidth, height: v.videoHeight,
          duration: v.duration, pixels};
}"""


def _serve_folder(folder: Path, ranges: list[str]):
    """A tiny file server with byte ranges (as a CDN or JupyterLab's file server answers);
    the Range headers it gets go to ``ranges``."""

    @Request.application
    def app(request: Request) -> Response:
        if request.headers.get("Range"):
            ranges.append(request.headers["Range"])
        path = (folder / request.path.lstrip("/")).resolve()
        if folder.resolve() not in path.parents or not path.is_file():
            return Response("not found", 404)
        mime = "video/mp4" if path.suffix == ".mp4" else "text/html"
        response = Response(path.read_bytes(), 200, mimetype=mime)
        return response.make_conditional(request, accept_ranges=True)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _frame(result: dict) -> np.ndarray:
    rgba = np.array(result["pixels"], dtype=np.uint8).reshape(result["height"], result["width"], 4)
    return rgba[:, :, :3].astype(int)


def test_debian_chromium_plays_the_h264_clips(browser, tmp_path):
    start = Image.new("RGB", (640, 360), (30, 160, 70))
    ImageDraw.Draw(start).rectangle((260, 120, 380, 240), fill=(250, 250, 250))
    with sim.start(speed=400, flavor="trueai", image_host=True) as server:
        client = Client(server.url, "k", auth="raw")
        tracker = Tracker(client, store=HistoryStore(tmp_path / "h.sqlite3"))
        try:
            video = tracker.video("a meadow in wind", image=start, batch_size=1).wait(timeout=120)
            saved = video.save(tmp_path / "saved")
            (card,) = tracker.cache.videos.card_media(video)
            poster = np.asarray(tracker.cache.videos.poster_image(video)).astype(int)
            ranges_seen: list[str] = []
            files, files_url = _serve_folder(saved.parent, ranges_seen)
            page = browser.new_page()
            try:
                page.goto(f"{files_url}/index.html")  # a page of its own origin (404 is fine)
                probe = page.evaluate(_PROBE)
                sources = {
                    "CDN URL": [video.video_urls[0].url, "video/mp4", None],
                    "exported file": [f"{files_url}/{saved.name}", "video/mp4", None],
                    "Blob of the card's bytes": [
                        "",
                        card.mime,
                        base64.b64encode(card.data or b"").decode("ascii"),
                    ],
                }
                results = {name: page.evaluate(_PLAY, args) for name, args in sources.items()}
            finally:
                page.close()
                files.shutdown()
        finally:
            tracker.close()
        ranges = server.stats()["requests"]
    report = {
        "chromium": CHROMIUM,
        "user_agent": probe["userAgent"],
        "canPlayType": probe["types"],
        "played": {
            name: {k: v for k, v in r.items() if k != "pixels"} for name, r in results.items()
        },
        "cdn_requests": {k: v for k, v in ranges.items() if "/video/" in k},
        "ranges_asked_of_the_file_server": ranges_seen,
    }
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS_DIR / "video-codecs.json").write_text(json.dumps(report, indent=2), "utf-8")
    assert probe["types"]['video/mp4; codecs="avc1.42E01E"'] == "probably", report
    assert ranges_seen, "chromium streams an mp4 with Range requests"
    for name, result in results.items():
        assert "error" not in result, (name, result)
        assert result["readyState"] >= 2, (name, result)  # HAVE_CURRENT_DATA or better
        assert result["later"] >= result["started"] + 1.0, (name, result)  # it plays
        assert (result["width"], result["height"]) == (384, 216), (name, result)
        assert result["duration"] == pytest.approx(5.0, abs=0.1), (name, result)
        if name != "CDN URL":  # same-origin and Blob frames can be read back
            painted = _frame(result)
            assert np.abs(painted - poster).mean() < 6, name  # the frame of our poster
