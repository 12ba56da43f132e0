"""Reference images (issue 16): what one reference in a Studio slot costs the browser, the kernel
and the server, for a phone photo, a large PNG and a small one.

* **Browser → kernel**: the file, once (one binary message buffer, no base64).
* **Kernel → browser**: the slot's entry in the ``references`` trait — a thumbnail of at most
  ``THUMB_SIDE`` px as a JPEG data URL, its id and label (JSON) — never the image.
* **Kept in the kernel**: what the slot holds while the image sits there (the file's bytes;
  its data URL is made again at the Imagine).
* **Kernel → server**: the ``upload-discord-images`` body the first time, nothing the second
  time (the content hash names the URL it got), and the imagine body either way (the URL in the
  prompt), beside the ``base64Array`` body the open-source proxy needs instead.
* **Kernel time**: check (``media``) + thumbnail, median of 5.
"""

from __future__ import annotations

import io
import json
import statistics
import time
from typing import Any

from PIL import Image, ImageDraw

from benchmarks.common import Options, Row
from mjwidgets import references, sim
from mjwidgets.client import Client
from mjwidgets.widgets.refslots import ReferenceSlots


class _Bar:
    """The slots' model without a front end: the traits they set, and their messages."""

    def __init__(self) -> None:
        self.references: list[dict[str, Any]] = []
        self.planned_prompt = ""
        self.references_problem = ""
        self.error = ""

    def on_msg(self, _callback: Any) -> None:
        pass

    def send(self, _content: Any) -> None:
        pass


def _pictures() -> list[tuple[str, bytes]]:
    photo = Image.effect_noise((4032, 3024), 30).convert("RGB")
    ImageDraw.Draw(photo).ellipse((1000, 700, 3000, 2300), fill=(220, 60, 40))
    jpeg = io.BytesIO()
    photo.save(jpeg, "JPEG", quality=90)
    big = io.BytesIO()
    photo.resize((1600, 1200)).save(big, "PNG")
    small = io.BytesIO()
    Image.new("RGB", (512, 512), (30, 60, 200)).save(small, "PNG")
    return [
        ("phone photo 4032×3024 JPEG", jpeg.getvalue()),
        ("1600×1200 PNG", big.getvalue()),
        ("512² flat PNG", small.getvalue()),
    ]


def _kb(n: int) -> float:
    return round(n / 1000, 1)


def run(options: Options) -> list[Row]:
    rows: list[Row] = []
    with sim.start(speed=200.0, flavor="plus") as server:
        client = Client(server.url, flavor="plus")
        for label, data in _pictures():
            times = []
            entry: dict[str, Any] = {}
            for _ in range(3 if options.quick else 5):
                slots = ReferenceSlots(_Bar(), lambda: client)
                started = time.perf_counter()
                slots.add("sref", data, label="photo")
                times.append((time.perf_counter() - started) * 1000)
                entry = slots.model.references[0]
            kept = sum(
                len(value) + len(checked.data_url) for _slot, value, checked in slots.items.values()
            )
            to_browser = len(json.dumps(entry).encode())
            checked = references.prepare_all(sref=data)
            upload_body = len(json.dumps({"base64Array": [checked[0].data_url]}).encode())
            before = server.stats()["requests"].get("POST /mj/submit/upload-discord-images", 0)
            first = references.resolve(client, checked)
            second = references.resolve(client, references.prepare_all(sref=data))
            uploads = (
                server.stats()["requests"].get("POST /mj/submit/upload-discord-images", 0) - before
            )
            prompt = second.prompt("a lighthouse on a cliff --sw 400")
            imagine_body = len(json.dumps({"prompt": prompt, "botType": "MID_JOURNEY"}).encode())
            base64_body = len(
                json.dumps({"prompt": "a lighthouse", "base64Array": [checked[0].data_url]})
            )
            rows.append(
                Row(
                    "references",
                    {"image": label},
                    {
                        "file KB": _kb(len(data)),
                        "browser→kernel KB": _kb(len(data)),
                        "kernel→browser KB": _kb(to_browser),
                        "kernel keeps KB": _kb(kept),
                        "upload KB (1st)": _kb(upload_body) if first.uploaded else 0,
                        "upload KB (2nd)": _kb(upload_body) if second.uploaded else 0,
                        "uploads": uploads,
                        "imagine KB (URL)": _kb(imagine_body),
                        "imagine KB (base64Array)": _kb(base64_body),
                        "check+thumb ms": round(statistics.median(times), 1),
                    },
                )
            )
    return rows


COLUMNS = (
    "image",
    "file KB",
    "browser→kernel KB",
    "kernel→browser KB",
    "kernel keeps KB",
    "upload KB (1st)",
    "upload KB (2nd)",
    "uploads",
    "imagine KB (URL)",
    "imagine KB (base64Array)",
    "check+thumb ms",
)
