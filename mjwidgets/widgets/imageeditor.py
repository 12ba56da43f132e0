"""ImageEditor: Midjourney's editor on any image — a dropped file, a tile, a history item.

The MaskEditor (its tools, its exact native-size mask) over the image, plus what the web editor
offers: **Edit** repaints the drawn region after the prompt (``client.edit``: the image goes with
that region erased), **Retexture** keeps the shapes and gives the whole image the prompt's look
(``client.retexture``). Where the server or its account cannot run one of them (the open-source
proxy; new-api has no retexture; trueai with a Discord account), the editor says so when it
opens and refuses before anything is sent.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from typing import Any

import ipywidgets as W

from .. import masks, wording
from ..errors import MJError
from ..models import Task
from ..tracking import Tracker
from .maskeditor import MaskEditor
from .plumbing import SUBMITTER

log = logging.getLogger("mjwidgets.widgets")

OnTask = Callable[[Task], Any]


class ImageEditor(W.VBox):
    """Draw a region and Edit, or Retexture the whole image; each job's task goes to
    ``on_task`` (the Studio shows it as a card). ``image``: anything the package loads."""

    def __init__(
        self, image: Any, tracker: Tracker, *, prompt: str = "", on_task: OnTask | None = None
    ) -> None:
        self.image = masks.open_image(image).copy()
        self.tracker = tracker
        self._on_task = on_task
        self.mask_editor = MaskEditor(self.image, prompt=prompt, title="Edit")
        self.mask_editor.on_submit(lambda _ed: self._start("edits"))
        self.mask_editor.on_cancel(lambda _ed: self.close())
        w, h = self.image.size
        self.title = W.HTML(f"<b>Editor</b> · {w}×{h} image")
        self.note = W.HTML("")
        self.note.add_class("mjw-editor-note")
        self.retexture_button = W.Button(
            description="Retexture",
            tooltip="Keep the image's shapes and give it the prompt's look (no mask needed)",
        )
        self.retexture_button.add_class("mjw-retexture")
        self.retexture_button.on_click(self._retexture_clicked)
        head = W.HBox([self.title, self.retexture_button])
        head.add_class("mjw-editor-head")
        super().__init__([head, self.note, self.mask_editor])
        self.add_class("mjw-image-editor")
        self.refresh()

    def why_not(self, route: str) -> str:
        """'' when this server (and its account, as far as known) can run ``route``."""
        client = self.tracker.client
        if client is None:
            return "the Studio's client is closed"
        why = client.capabilities.why_not(route)
        return f"{why} — {wording.route_instead(route)}" if why else ""

    def refresh(self) -> None:
        """Say, before anything is sent, what this server cannot do here."""
        problems = [f"Edit: {w}" for w in [self.why_not("edits")] if w]
        problems += [f"Retexture: {w}" for w in [self.why_not("retexture")] if w]
        self.retexture_button.disabled = bool(self.why_not("retexture"))
        self.note.value = "<br>".join(html.escape(p) for p in problems)

    def _retexture_clicked(self, _button: W.Button) -> None:
        if self.mask_editor.bar.state == "sending":
            return  # a job is on its way (a double click, or Submit's): one click, one job
        self._start("retexture")

    def _start(self, route: str) -> None:
        why = self.why_not(route)
        prompt = self.mask_editor.prompt.strip()
        if why or not prompt:
            self.mask_editor.show_error(why or "write what the new image should show")
            return
        self.mask_editor.bar.state = "sending"
        SUBMITTER.submit(self._submit, route, prompt)

    def _submit(self, route: str, prompt: str) -> Task | None:
        try:
            if route == "edits":
                tracked = self.tracker.edit(self.image, prompt, mask=self.mask_editor.mask)
            else:
                tracked = self.tracker.retexture(self.image, prompt)
        except MJError as exc:
            self.mask_editor.show_error(f"Not sent: {wording.error_words(exc)}")
            self.refresh()  # a refusal learnt now is shown for the other job too
            return None
        except Exception as exc:  # a worker must report, not die silently
            log.exception("editor submit failed")
            self.mask_editor.show_error(f"submit failed: {exc!r}")
            return None
        self.mask_editor.bar.state = ""
        if self._on_task is not None:
            self._on_task(tracked)
        return tracked

    def close(self) -> None:
        self.layout.display = "none"  # hidden where it sits: the Studio's list only grows
        self.mask_editor.close()
        super().close()
