"""The Studio's image tools beside the reference slots: Describe, Blend, Shorten and the editor.

Each is one client call whose task the Studio shows as a card (the describe and shorten cards
offer their prompts with "Imagine this"): **Describe** an image dropped or picked on it,
**Blend** the 2–5 images in the image-prompt slot (shape: square, portrait or landscape),
**Shorten** the prompt in the box, and **Edit** — the editor (``ImageEditor``) opened on an image
dropped or picked on it. A route this server is known to lack is refused before anything is
sent, in the bar's own words.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .. import wording
from ..errors import MJError, UnsupportedError, ValidationError
from ..models import Task
from ..tracking import Tracker
from .refslots import MAX_DROP_BYTES, ReferenceSlots

log = logging.getLogger("mjwidgets.widgets")

_SHAPES = ("SQUARE", "PORTRAIT", "LANDSCAPE")


class StudioTools:
    """Describe / Blend / Shorten / Edit for one Studio bar (``model``); ``show(task)`` puts a
    task's card in the Studio, ``open_editor(image)`` the editor."""

    def __init__(
        self,
        model: Any,
        tracker: Tracker,
        slots: ReferenceSlots,
        show: Callable[[Task], Any],
        open_editor: Callable[[Any], Any],
        budgets: Callable[[], list[Any]] | None = None,
    ) -> None:
        self.model = model
        self._budgets = budgets or list  # the Studio's own budgets, asked at each submit
        self.tracker = tracker
        self.slots = slots
        self._show = show
        self._open_editor = open_editor
        model.on_msg(self._on_message)

    # ------------------------------------------------------------------ the calls
    def _client(self) -> Any:
        client = self.tracker.client
        if client is None:
            raise MJError("the Studio's client is closed", advice="create a new Studio")
        return client

    def _check(self, route: str) -> None:
        self._client().capabilities.check_route(route)

    def describe(self, image: Any) -> Task:
        self._check("describe")
        return self.tracker.describe(image)

    def blend(self, images: list[Any] | None = None, dimensions: str = "SQUARE") -> Task:
        """Blend ``images`` (default: the image-prompt slot's) within the Studio's budgets."""
        chosen = images if images is not None else self.slots.options().get("images", [])
        self._check("blend")
        wanted = self._budgets() or None
        return self.tracker.blend(chosen, dimensions=dimensions, budget=wanted)

    def shorten(self, prompt: str) -> Task:
        self._check("shorten")
        return self.tracker.shorten(prompt)

    # ------------------------------------------------------------------ messages
    def _on_message(self, _widget: Any, content: dict, buffers: Any) -> None:
        kind = str(content.get("type", ""))
        if not kind.startswith("tool_"):
            return
        try:
            self.model.error = ""
            if kind == "tool_describe":
                task = self.describe(self._dropped(buffers))
            elif kind == "tool_blend":
                shape = str(content.get("dimensions", "SQUARE")).upper()
                task = self.blend(dimensions=shape if shape in _SHAPES else "SQUARE")
            elif kind == "tool_shorten":
                task = self.shorten(str(content.get("prompt", "")))
            elif kind == "tool_edit":
                self._open_editor(self._dropped(buffers))
                self.model.send({"type": "tool_done", "tool": kind})
                return
            else:
                return
            self._show(task)
            self.model.status_text = f"submitted {task.action.lower()} {task.id}"
        except MJError as exc:
            what = "Not sent" if not isinstance(exc, UnsupportedError) else "Not available here"
            self.model.error = f"{what}: {wording.error_words(exc)}"
        except Exception as exc:  # the kernel's message loop must survive anything
            log.exception("studio tool %s failed", kind)
            self.model.error = wording.error_words(exc)
        self.model.send({"type": "tool_done", "tool": kind})

    @staticmethod
    def _dropped(buffers: Any) -> bytes:
        if not buffers:
            raise ValidationError("no image arrived", advice="drop or pick the file again")
        data = bytes(buffers[0])
        if len(data) > MAX_DROP_BYTES:
            raise ValidationError(
                f"the file is {len(data) / 1e6:.0f} MB, over {MAX_DROP_BYTES / 1e6:.0f} MB",
                advice="use a smaller image (Midjourney works at about 1-2 megapixels)",
            )
        return data
