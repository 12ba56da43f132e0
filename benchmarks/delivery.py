"""Image delivery (issue 8 §2): bytes a card sends to the browser and kernel time to make them.

Strategies, measured on the same cached images in the same run:
- mjwidgets: a display-sized JPEG (long side ≤ 1024) in a Bytes trait (`renditions.display_jpeg`),
  made from the cached file (decoded again), or kept beside it when it was cached
  (`ImageCache.display`: made from the copy decoded to check the download, read by the card);
- WebP (LANCZOS + WebP, what the first version sent: smaller, much slower);
- full PNG: the original file's bytes sent as they are (what a naive widget would sync);
- base64 data URL: the PNG as a data URL in a Unicode trait (what HTML-output clients embed).
"Kernel time" runs from "the tracker saw SUCCESS, the image is cached" to "bytes ready to send".
"""

from __future__ import annotations

import base64
import io
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image

from benchmarks.common import Goal, Options, Row, log
from mjwidgets import Client, sim
from mjwidgets.imagecache import ImageCache
from mjwidgets.renditions import display_jpeg as display_bytes
from mjwidgets.store import HistoryStore
from mjwidgets.tracking import Tracker

REPEAT = 9


def _time(fn) -> tuple[float, bytes | str]:
    times, result = [], b""
    for _ in range(REPEAT):
        began = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def _strategies(path: Path) -> dict[str, tuple[float, int]]:
    def ours() -> bytes:
        with Image.open(path) as image:
            return display_bytes(image)

    def webp() -> bytes:
        with Image.open(path) as image:
            shown = image.convert("RGB")
            shown.thumbnail((1024, 1024), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            shown.save(out, "WEBP", quality=80, method=4)
            return out.getvalue()

    def full_png() -> bytes:
        return path.read_bytes()

    def data_url() -> str:
        return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()

    out = {}
    for name, fn in (
        ("mjwidgets JPEG", ours),
        ("LANCZOS + WebP", webp),
        ("full PNG bytes", full_png),
        ("PNG data URL", data_url),
    ):
        seconds, payload = _time(fn)
        out[name] = (seconds, len(payload))
    return out


def _kept_rows(cache: ImageCache, task, kind: str, path: Path, decoded_again_s: float) -> list[Row]:
    """The display JPEG kept beside the cached image: made once on the download thread from
    the copy decoded to check the download, then only read by each card."""
    with Image.open(path) as opened:
        opened.load()
        decoded = opened.copy()  # what ImageCache._keep holds when it makes the rendition
    making_s, made = _time(lambda: display_bytes(decoded))
    reading_s, shown = _time(lambda: cache.display(task).jpeg)
    total_ms = (making_s + reading_s) * 1000
    goals = []
    if kind.startswith("grid"):
        goals = [
            Goal(
                "detection → display bytes (kept rendition)",
                total_ms,
                50,
                unit="ms",
                why=f"a card that decodes the cached PNG again instead: "
                f"{decoded_again_s * 1000:.1f} ms "
                f"(÷ ours {decoded_again_s * 1000 / total_ms:.1f}); "
                f"of ours the making {making_s * 1000:.1f} ms, once, on the download thread",
            )
        ]
    return [
        Row(
            "image_delivery",
            {"image": kind, "strategy": "mjwidgets kept rendition"},
            {
                "KB sent": round(len(shown) / 1000, 1),
                "kernel ms": round(total_ms, 1),
                "of it making ms": round(making_s * 1000, 1),
                "of it the card's read ms": round(reading_s * 1000, 2),
            },
            goals,
            note="made while caching (the image is decoded there anyway), read by the card",
        )
    ]


def run(options: Options) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp, sim.start(speed=200) as server:
        store = HistoryStore(Path(tmp) / "h.sqlite3")
        client = Client(server.url)
        tracker = Tracker(client, store=store, cache=ImageCache(Path(tmp) / "img", store=store))
        grid = tracker.wait(tracker.imagine("a red fox in snow, golden hour"), timeout=60)
        single = tracker.wait(tracker.action(grid, "U2"), timeout=60)
        for kind, task in (("grid 2048²", grid), ("upscale 1024²", single)):
            path = tracker.cache.fetch(task)
            log(options, f"image delivery: {kind} {path.stat().st_size} B on disk")
            results = _strategies(path)
            ours_s, ours_b = results["mjwidgets JPEG"]
            peers = {name: got for name, got in results.items() if name != "mjwidgets JPEG"}
            smallest = min(peers, key=lambda name: peers[name][1])
            for name, (seconds, nbytes) in results.items():
                goals = []
                if name == "mjwidgets JPEG" and kind.startswith("grid"):
                    goals = [
                        Goal(
                            "bytes per grid card",
                            nbytes / 1000,
                            250,
                            unit="KB",
                            why=f"the fewest bytes of the other ways to send it: {smallest} "
                            f"{peers[smallest][1] / 1000:.1f} KB (÷ ours "
                            f"{peers[smallest][1] / ours_b:.2f}) in "
                            f"{peers[smallest][0] / ours_s:.1f} × our time; the cached PNG "
                            f"{results['full PNG bytes'][1] / 1000:.0f} KB",
                        ),
                        Goal(
                            "cached file → bytes, decoded again",
                            seconds * 1000,
                            50,
                            unit="ms",
                            why=f"decoding the {kind} PNG again, as a card does when no display "
                            "copy was kept (an image cached by an older version); with the "
                            "copy: detection → display bytes",
                        ),
                    ]
                rows.append(
                    Row(
                        "image_delivery",
                        {"image": kind, "strategy": name},
                        {
                            "KB sent": round(nbytes / 1000, 1),
                            "kernel ms": round(seconds * 1000, 1),
                            "bytes ÷ ours": round(nbytes / ours_b, 1),
                            "time ÷ ours": round(seconds / ours_s, 2) if ours_s else None,
                        },
                        goals,
                    )
                )
            rows += _kept_rows(tracker.cache, task, kind, path, ours_s)
        tracker.close()
    return rows


def _mask_rows(options: Options) -> list[Row]:
    from mjwidgets.masks import Polygon, Rect, Stroke, rasterize, to_png_bytes
    from mjwidgets.widgets.maskeditor import MaskEditor

    rows: list[Row] = []
    for side in (1024, 2048):
        ops = [
            Rect(side // 8, side // 8, side // 2, side // 3),
            Polygon([(side // 2, side // 2), (side - 10, side // 2 + 40), (side // 2, side - 9)]),
            Stroke(
                [(10, side - 40), (side // 3, side - 200), (side // 2, side - 60)], width=side // 20
            ),
        ]

        def build(ops=ops, side=side) -> bytes:
            return to_png_bytes(rasterize(ops, (side, side)))

        seconds, data = _time(build)
        rows.append(
            Row(
                "mask_editor",
                {"case": f"mask build + PNG {side}²"},
                {"ms": round(seconds * 1000, 1), "KB": round(len(data) / 1000, 1)},
                [
                    Goal(
                        f"build+encode {side}²",
                        seconds * 1000,
                        100,
                        unit="ms",
                        why=f"{len(ops)} operations rasterized and encoded: a "
                        f"{len(data) / 1000:.1f} KB PNG mask",
                    )
                ],
            )
        )
    editor = MaskEditor(Image.new("RGB", (2048, 2048), (90, 120, 160)))
    editor.tool = "brush"
    moves = 2000
    editor._on_mouse_down(100.0, 100.0)
    began = time.perf_counter()
    for i in range(moves):
        editor._on_mouse_move(100.0 + (i % 500) * 1.1, 100.0 + (i // 500) * 40.0)
    per_move = (time.perf_counter() - began) / moves
    editor._on_mouse_up(200.0, 200.0)
    stats = editor.stats
    rows.append(
        Row(
            "mask_editor",
            {"case": "Python handler per mouse-move (brush, 2048²)"},
            {
                "µs per move": round(per_move * 1e6, 1),
                "moves used": f"{stats.get('moves_used')}/{stats.get('moves_received')}",
            },
            [
                Goal(
                    "kernel time per move (handler)",
                    per_move * 1000,
                    2,
                    unit="ms",
                    why=f"{moves} brush moves on a 2048² image; the comm message that carries a "
                    "move costs ipykernel ~0.5 ms on top",
                )
            ],
            note="handler only; a real comm message adds ipykernel's ~0.5 ms",
        )
    )
    return rows


def run_mask(options: Options) -> list[Row]:
    return _mask_rows(options)
