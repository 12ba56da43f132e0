"""What every widget shares: where the front end's files are, and the worker threads.

Clicks are submitted on ``SUBMITTER`` (a submit may take seconds; the kernel's message loop must
not wait for it) and images are fetched and encoded on ``IMAGER``, never on the tracker's thread:
twenty results arriving together must not hold up polling or each other's cards.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ipywidgets

from ..client import Client
from ..models import Task
from ..tracking import Tracker

__all__ = ["STATIC", "SUBMITTER", "IMAGER", "close_tree", "front_end", "tracker_for"]

_PACKAGE = Path(__file__).resolve().parent.parent
# The front end's sources live in js/; a wheel carries them as mjwidgets/static (pyproject's
# force-include), a source checkout (editable install) reads js/ directly. No build step, no copy.
STATIC = _PACKAGE / "static" if (_PACKAGE / "static").is_dir() else _PACKAGE.parent / "js"


def front_end(*names: str, styles: tuple[str, ...] = ()) -> str:
    """Files of ``js/`` joined in order: one widget's module built from shared parts without a
    bundler. Only the last part of a module may ``export``; the others define plain functions
    it uses (``common.js``: ``el``, copying, the connection watch). A widget's module may build
    on another's: an earlier part's ``export default`` line is left out (the video card is
    ``taskview.js``'s card, then ``videocard.js``, which exports).

    ``styles``: the widget's ``.css`` files, carried in the module and put on the page by
    ``adoptStyles`` (common.js), one ``<style>`` per file, written only when its text changed.
    Not anywidget's ``_css``: that rewrites its sheet for every new widget, and each rewrite
    restyles the whole page (a card added to a 200-card Studio cost ~0.1 s of style work).

    Comments and indentation are left out: every widget's state carries its module, so a
    saved notebook holds it once per card."""
    parts = [_read(name) for name in names]
    for number in range(len(parts) - 1):
        parts[number] = _EXPORT_DEFAULT.sub("", parts[number])
    if styles:
        sheets = [[f"mjw-css-{Path(name).stem}", _read(name)] for name in styles]
        parts.insert(0, f"adoptStyles({json.dumps(sheets, ensure_ascii=False)});")
    return "\n".join(parts)


def _read(name: str) -> str:
    """One file of ``js/``, compacted."""
    return _compact((STATIC / name).read_text(encoding="utf-8"))


_EXPORT_DEFAULT = re.compile(r"^export default .*$", flags=re.MULTILINE)


def _compact(source: str) -> str:
    """Source without comment lines, block comments and indentation (our files never break a
    string or a template literal across lines, so no line's meaning changes)."""
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.DOTALL)
    lines = (line.strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//"))


SUBMITTER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mjw-submit")
IMAGER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mjw-images")


def tracker_for(client: Client | None = None, task: Task | None = None) -> Tracker:
    """The tracker a widget uses: the one tracking ``task``, else ``client``'s, else the
    process-wide default (so widgets made without arguments share one poller)."""
    if task is not None and isinstance(task.backend, Tracker):
        return task.backend
    if client is None and task is not None and isinstance(task.backend, Client):
        client = task.backend
    return Tracker.for_client(client) if client is not None else Tracker.default()


def close_tree(widget: ipywidgets.Widget) -> None:
    """Close a widget and every widget shown inside it. ipywidgets' ``Box.close`` closes the
    box alone: its children's models would stay in the page's (and a saved notebook's) state,
    and each card would stay subscribed to its tracker."""
    if isinstance(widget, ipywidgets.Box):
        for child in widget.children:
            close_tree(child)
    widget.close()
