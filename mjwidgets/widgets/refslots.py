"""The Studio's reference slots: image prompt, ``--sref``, ``--oref``, ``--cref`` under the box.

A file dropped, pasted or picked in the browser arrives here as bytes (one message buffer) and is
checked by the package's one loader before it is kept; the browser gets back only a thumbnail of
at most ``THUMB_SIDE`` px (a few kB), never the image. The kernel keeps the bytes and passes
them to ``imagine`` as ``images=``/``sref=``/``oref=``/``cref=``, where ``references`` uploads
each once per server. Under the slots the box shows the prompt the server will receive
(``references.planned_prompt``) and, before anything is sent, why this server cannot take a
slot's image (a style reference from a file where there is no upload route).
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import logging
from collections.abc import Callable
from typing import Any

from PIL import Image

from .. import references, renditions, wording
from ..client import Client
from ..errors import ValidationError
from ..models import Task

log = logging.getLogger("mjwidgets.widgets")

THUMB_SIDE = 96  # px on the long side of a slot's thumbnail
MAX_DROP_BYTES = 30_000_000  # a dropped file larger than this is refused unread


class ReferenceSlots:
    """The slots of one Studio bar: ``items`` (id → slot, value); ``options()`` for imagine."""

    def __init__(
        self,
        model: Any,
        client: Callable[[], Client | None],
        image_of: Callable[[Task], Image.Image] | None = None,
    ) -> None:
        self.model = model
        self._client = client
        self._image_of = image_of  # a task's image, for its thumbnail (the tracker's cache)
        # id → (slot, the value given, its checked Reference), in the order added
        self.items: dict[str, tuple[str, Any, references.Reference]] = {}
        self._text = ""
        self._ids = itertools.count(1)
        model.on_msg(self._on_message)

    # ------------------------------------------------------------------ public
    def add(self, slot: str, value: Any, label: str = "") -> str:
        """Put an image (anything ``imagine`` takes: path, bytes, PIL image, URL, task) into a
        slot; checked now, so a bad file is refused before it sits in the bar. Returns its id."""
        checked = references.prepare(slot, value, keep_image=True)
        if isinstance(value, Task) and self._image_of is not None:
            checked.image = self._image_of(value)  # a history item: its own picture
        thumb = self._thumbnail(checked)
        # the plan needs only the digest: the data URL (4/3 of the file) is made again at Imagine
        checked = dataclasses.replace(checked, data_url="", image=None)
        if slot == "oref":  # one omni reference: a new one replaces the old
            for key in [k for k, (s, _v, _r) in self.items.items() if s == "oref"]:
                del self.items[key]
        key = f"r{next(self._ids)}"
        self.items[key] = (slot, value, checked)
        entry = {
            "id": key,
            "slot": slot,
            "label": label or checked.label,
            "thumb": thumb,
        }
        shown = [e for e in self.model.references if e["id"] in self.items]
        self.model.references = [*shown, entry]
        self._plan()
        return key

    def remove(self, key: str) -> None:
        self.items.pop(key, None)
        self.model.references = [e for e in self.model.references if e["id"] != key]
        self._plan()

    def clear(self) -> None:
        self.items.clear()
        self.model.references = []
        self._plan()

    def options(self) -> dict[str, list[Any]]:
        """``imagine`` keyword arguments for what the slots hold (empty slots left out)."""
        found: dict[str, list[Any]] = {}
        for slot, value, _checked in self.items.values():
            found.setdefault(slot, []).append(value)
        return found

    def set_text(self, text: str) -> None:
        """The box's current text (the planned prompt is shown for it)."""
        self._text = text
        self._plan()

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _thumbnail(checked: references.Reference) -> str:
        if checked.image is None:
            return ""  # a URL: the browser shows its label (no image fetched here)
        jpeg = renditions.poster_jpeg(checked.image, max_side=THUMB_SIDE, quality=80)
        return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")

    def _checked(self) -> list[references.Reference]:
        return [checked for _slot, _value, checked in self.items.values()]

    def _plan(self) -> None:
        client = self._client()
        if client is None or not self.items:
            self.model.planned_prompt = ""
            self.model.references_problem = ""
            return
        refs = self._checked()
        self.model.references_problem = references.refusal(refs, client.capabilities)
        text = self._text.strip() or "…"
        try:
            self.model.planned_prompt = references.planned_prompt(client, text, refs)
        except Exception as exc:  # a prompt being typed may not parse yet; show nothing
            log.debug("no planned prompt for %r: %s", text, exc)
            self.model.planned_prompt = ""

    def _on_message(self, _widget: Any, content: dict, buffers: Any) -> None:
        kind = content.get("type")
        try:
            if kind == "ref_add":
                self._add_dropped(content, buffers)
            elif kind == "ref_remove":
                self.remove(str(content.get("id", "")))
                self.model.send({"type": "ref_removed", "seq": content.get("seq")})
            elif kind in ("draft", "set_params", "imagine"):
                self.set_text(str(content.get("prompt", "")))
        except Exception as exc:  # the kernel's message loop must survive anything
            self.model.error = f"Not added: {wording.error_words(exc)}"
            self.model.send({"type": "ref_refused", "seq": content.get("seq")})

    def _add_dropped(self, content: dict, buffers: Any) -> None:
        slot = str(content.get("slot", "images"))
        name = str(content.get("name", ""))[:120]
        if not buffers:
            raise ValidationError(
                "the dropped file arrived empty", advice="drop or pick the file again"
            )
        data = bytes(buffers[0])
        if len(data) > MAX_DROP_BYTES:
            raise ValidationError(
                f"the file is {len(data) / 1e6:.0f} MB, over {MAX_DROP_BYTES / 1e6:.0f} MB",
                advice="use a smaller image (Midjourney works at about 1-2 megapixels)",
            )
        self.model.error = ""
        self.add(slot, data, label=name)
        self.model.send({"type": "ref_added", "seq": content.get("seq")})
