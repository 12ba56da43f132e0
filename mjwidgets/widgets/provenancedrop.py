"""A picture dropped into the Studio that carries its story (``provenance``) offers to go on
from it: "Continue from it" tracks the task again so its buttons can be pressed (its server
still knows it), "Make it again here" replays its lineage on the Studio's server (with the
estimate shown first, budgets applied).

Only files carrying an mjwidgets record are taken: the page looks for the record's mark before
sending anything, and the kernel reads the record with ``provenance``. Other files are left to
whoever else handles drops (a reference slot); a file nobody took is named in a short note.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import traitlets

from .. import budget as budgets
from .. import wording
from ..errors import MJError, NotFoundError
from ..provenance import provenance
from ..replay import continue_from
from .plumbing import SUBMITTER, FrontEndWidget, front_end

if TYPE_CHECKING:
    from .studio import Studio

__all__ = ["ProvenanceDrop", "MAX_DROP_BYTES"]

log = logging.getLogger("mjwidgets.widgets")

#: The largest dropped file read (a few clips' worth; a picture is far smaller).
MAX_DROP_BYTES = 200 * 1024 * 1024


class _DropOffer(FrontEndWidget):
    """The front-end half (js/provenancedrop.js): listens for drops on its Studio."""

    _esm = front_end("common.js", "provenancedrop.js", styles=("provenancedrop.css",))

    offer = traitlets.Dict().tag(sync=True)  # what the dropped file says; {} when none
    note = traitlets.Unicode("").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    max_bytes = traitlets.Int(MAX_DROP_BYTES).tag(sync=True)


class ProvenanceDrop:
    """The Studio's drop offer: ``widget`` is shown under the prompt box."""

    def __init__(self, studio: Studio) -> None:
        self.studio = studio
        self.widget = _DropOffer()
        self.record: dict[str, Any] | None = None
        self.widget.on_msg(self._on_message)

    def offer(self, path: str | Path, name: str = "") -> dict[str, Any]:
        """Read a file's record and offer to go on from it (what a drop does); returns it.
        ``name``: the file's name as the person knows it (a drop is read from a copy)."""
        record = provenance(path)
        self.record = record
        same = str(record.get("server") or "") == self.studio.tracker.base_url
        client = self.studio.client
        try:
            cost = str(budgets.estimate(record, mode=client.mode if client else None))
        except MJError as exc:
            cost = f"cannot be made again: {wording.error_words(exc)}"
        self.widget.error = ""
        self.widget.note = ""
        self.widget.offer = {
            "file": name or Path(path).name,
            "id": str(record.get("id") or ""),
            "action": str(record.get("action") or ""),
            "prompt": str(record.get("prompt") or ""),
            "same_server": same,
            "estimate": cost,
        }
        return record

    def continue_from(self) -> Any:
        """Track the offered task again and show its card (its server must still know it)."""
        if self.record is None:
            raise NotFoundError("no picture was dropped", advice="drop a saved picture first")
        task = continue_from(self.record, tracker=self.studio.tracker)
        view = self.studio.add(task)
        self.widget.offer = {}
        self.widget.note = f"continuing from #{task.id}: its card is first in the Studio"
        return view

    def replay(self) -> Any:
        """Make the offered picture's lineage again on the Studio's server."""
        if self.record is None:
            raise NotFoundError("no picture was dropped", advice="drop a saved picture first")
        run = self.studio.replay(self.record)
        self.widget.offer = {}
        return run

    def _read(self, name: str, data: bytes) -> None:
        suffix = Path(name).suffix.lower()[:8] or ".bin"
        with tempfile.TemporaryDirectory(prefix="mjw-drop-") as folder:
            path = Path(folder) / f"dropped{suffix}"
            path.write_bytes(data)
            try:
                self.offer(path, name)  # one offer, with the name: never the copy's
            except MJError as exc:
                self.widget.offer = {}
                self.widget.note = f"{name}: {wording.error_words(exc)}"

    def _on_message(self, _widget: Any, content: dict, buffers: list) -> None:
        kind = content.get("type")
        try:
            if kind == "file" and buffers:
                data = bytes(buffers[0])[: MAX_DROP_BYTES + 1]
                SUBMITTER.submit(self._guarded, self._read, str(content.get("name") or ""), data)
            elif kind == "continue":
                SUBMITTER.submit(self._guarded, self.continue_from)
            elif kind == "replay":
                SUBMITTER.submit(self._guarded, self.replay)
            elif kind == "dismiss":
                self.widget.offer = {}
        except Exception as exc:  # never let a drop kill the kernel's message loop
            log.exception("drop message %r failed", kind)
            self.widget.error = wording.error_words(exc)

    def _guarded(self, job: Any, *args: Any) -> None:
        try:
            job(*args)
        except Exception as exc:  # a worker's failure is said in the offer, never lost
            if not isinstance(exc, MJError):
                log.exception("drop action failed")
            self.widget.error = wording.error_words(exc)
