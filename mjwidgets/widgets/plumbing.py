"""What every widget shares: where the front end's files are, how a widget's module reaches
the page (once per kernel, `front_end` and `FrontEndWidget`), and the worker threads.

Clicks are submitted on ``SUBMITTER`` (a submit may take seconds; the kernel's message loop must
not wait for it) and images are fetched and encoded on ``IMAGER``, never on the tracker's thread:
twenty results arriving together must not hold up polling or each other's cards. Running jobs'
previews have threads of their own (``PREVIEWER``): ten jobs streaming previews must not keep a
finished one's image waiting for a thread.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

import anywidget
import ipywidgets
import traitlets

from ..client import Client
from ..models import Task
from ..tracking import Tracker

__all__ = [
    "IMAGER",
    "PREVIEWER",
    "PREVIEW_THREADS",
    "STATIC",
    "SUBMITTER",
    "BurstSync",
    "BurstWork",
    "CoalescingJob",
    "FrontEndWidget",
    "close_tree",
    "front_end",
    "module_source",
    "shared_widget",
    "tracker_for",
]

log = logging.getLogger("mjwidgets.widgets")
W = TypeVar("W", bound=ipywidgets.Widget)

_PACKAGE = Path(__file__).resolve().parent.parent
# The front end's sources live in js/; a wheel carries them as mjwidgets/static (pyproject's
# force-include), a source checkout (editable install) reads js/ directly. No build step, no copy.
STATIC = _PACKAGE / "static" if (_PACKAGE / "static").is_dir() else _PACKAGE.parent / "js"


def front_end(*names: str, styles: tuple[str, ...] = ()) -> str:
    """A widget's module for a `FrontEndWidget`'s ``_esm``, made of files of ``js/`` joined in
    order without a bundler. Only the last part may ``export``; the others define plain
    functions it uses (``common.js``: ``el``, copying, the connection watch). A widget's module
    may build on another's: an earlier part's ``export default`` line is left out (the video
    card is ``taskview.js``'s card, then ``videocard.js``, which exports).

    ``styles``: the widget's ``.css`` files, carried in the module and put on the page by
    ``adoptStyles`` (common.js), one ``<style>`` per file, written only when its text changed.
    Not anywidget's ``_css``: that rewrites its sheet for every new widget, and each rewrite
    restyles the whole page (a card added to a 200-card Studio cost ~0.1 s of style work).

    What this returns is a loader of a few hundred bytes, not the module: anywidget sends a
    widget's ``_esm`` with every instance and the page imports it once per instance (a new
    ``Blob`` URL each time). A card's module is ~58 kB: a hundred cards added in one cell were
    ~6 MB through the Jupyter server and a hundred compilations in the page, and the burst of
    large messages can outrun the server, whose queue on the kernel's side then drops messages
    (ZeroMQ's high-water mark; read so, not proved, when a Studio of 200 cards once showed 149:
    benchmarks/README). The module travels once per kernel in a `ModuleSource` model; the
    loader of every instance imports it once per page. Comments and indentation are left out
    all the same (a saved notebook carries it)."""
    parts = [_read(name) for name in names]
    for number in range(len(parts) - 1):
        parts[number] = _EXPORT_DEFAULT.sub("", parts[number])
    if styles:
        sheets = [[f"mjw-css-{Path(name).stem}", _read(name)] for name in styles]
        parts.insert(0, f"adoptStyles({json.dumps(sheets, ensure_ascii=False)});")
    source = "\n".join(parts)
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:20]
    loader = _read("moduleloader.js").replace("DIGEST", digest)
    _SOURCES[loader] = source
    return loader


def module_source(loader: str) -> str:
    """The module a `front_end` loader stands for."""
    return _SOURCES[loader]


_SOURCES: dict[str, str] = {}  # loader → the module it loads


class ModuleSource(ipywidgets.Widget):
    """One front-end module's text, for the page to import once (see `front_end`). Never
    shown: ipywidgets' base model, no view."""

    source = traitlets.Unicode("").tag(sync=True)


_SHARED: dict[Any, ipywidgets.Widget] = {}  # key → the one open widget the kernel shares
_SHARED_LOCK = threading.Lock()


def shared_widget(key: Any, make: Callable[[], W]) -> W:
    """One open widget per ``key`` for the whole kernel (a module's source, the card models'
    Layout), made by ``make`` on first use and again once closed (``Widget.close_all``)."""
    with _SHARED_LOCK:
        widget = _SHARED.get(key)
        if widget is None or widget.comm is None:
            widget = _SHARED[key] = make()
        return cast(W, widget)


def _holder(loader: str) -> ModuleSource:
    """The open model carrying ``loader``'s module."""
    return shared_widget(("module", loader), lambda: ModuleSource(source=_SOURCES[loader]))


class FrontEndWidget(anywidget.AnyWidget):
    """An anywidget whose ``_esm`` is a `front_end` loader: the module reaches the page once
    per kernel, however many instances are shown."""

    _source_model = traitlets.Unicode("").tag(sync=True)  # the ModuleSource's model id

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("_source_model", _holder(str(type(self)._esm)).model_id)
        super().__init__(*args, **kwargs)

    def add_traits(self, **traits: Any) -> None:
        """As ``Widget.add_traits``, with one class per set of traits added, not one per call.

        Why: anywidget adds its traits (``_esm``, its id) to every instance, and traitlets
        makes a new class for each call: every card had a class of its own, set up from
        scratch (~1 ms of the kernel per card added, and the class kept as long as the card)."""
        added = tuple((name, repr(trait.default_value)) for name, trait in sorted(traits.items()))
        key = (type(self), added)
        derived = _DERIVED_CLASSES.get(key)
        if derived is None:
            super().add_traits(**traits)
            _DERIVED_CLASSES[key] = type(self)
            return
        self.__class__ = derived
        for name in traits:  # what HasTraits.add_traits and Widget.add_traits do after the class
            shared = getattr(derived, name)
            shared.instance_init(self)
            if "sync" in shared.metadata:
                self.keys.append(name)
                self.send_state(name)


# (class, the traits added to its instances) → the class made for them (FrontEndWidget.add_traits)
_DERIVED_CLASSES: dict[tuple[type, tuple[tuple[str, str], ...]], type] = {}


class BurstSync:
    """One message to the page for a burst of changes to one widget's traits: the first change
    goes at once, the changes made in the next ``window`` seconds go together when it ends (one
    message per window while the burst lasts). The traits themselves change at once.

    Why: the page handles each message on its own (a Studio's ``children`` message makes it
    re-read every card's model), so a cell adding 100 cards to a 200-card Studio sent 100
    messages naming 201 … 300 cards; the first change is not held back, so a click's card is
    not late either.
    """

    def __init__(self, widget: ipywidgets.Widget, window: float = 0.05) -> None:
        self.widget = widget
        self.window = window
        self._lock = threading.RLock()
        self._held: ExitStack | None = None  # the widget's hold_sync while a window is open
        self._pending = False

    @contextmanager
    def change(self) -> Iterator[None]:
        """Change the widget's traits inside this block."""
        with self._lock:
            if self._held is None:  # the burst's first change: sent as the block ends
                yield
                self._open()
            else:
                yield
                self._pending = True

    def _open(self) -> None:
        held = self._held = ExitStack()
        held.enter_context(self.widget.hold_sync())
        timer = threading.Timer(self.window, self._close)
        timer.daemon = True
        timer.start()

    def _close(self) -> None:
        with self._lock:
            held, self._held = self._held, None
            pending, self._pending = self._pending, False
            if held is not None:
                try:
                    held.close()  # sends what changed in the window, if anything
                except Exception:  # on a timer thread: say it, and the next change sends again
                    log.exception("sending %s's held changes failed", type(self.widget).__name__)
            if pending:  # the burst goes on: hold the next window's changes too
                self._open()


class BurstWork:
    """``work()`` for a burst of asks: the first ask runs it at once (in the asking thread),
    the asks of the next ``window`` seconds make one run when it ends (one run per window while
    the burst lasts).

    Why: a Studio's bar counts its cards, and a cell adding 100 cards sent the page 100
    messages of counts. Not `BurstSync` on the bar: holding the bar's whole sync would let a
    change another thread makes to the bar (its status line) fall between a window's send and
    its end, and never reach the page.
    """

    def __init__(self, work: Callable[[], None], window: float = 0.05) -> None:
        self.work = work
        self.window = window
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None  # the open window
        self._pending = False

    def ask(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._pending = True
                return
            self._start()
        self.work()

    def _start(self) -> None:
        timer = self._timer = threading.Timer(self.window, self._close)
        timer.daemon = True
        timer.start()

    def _close(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, False
            if not pending:
                self._timer = None
                return
            self._start()  # the burst goes on: the next window's asks wait for its end
        try:
            self.work()
        except Exception:  # on a timer thread: say it, and the next ask runs it again
            log.exception("a burst's work failed")


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
# two: a preview is worth less than a result, and every preview is soon replaced by the next
PREVIEW_THREADS = 2
PREVIEWER = ThreadPoolExecutor(max_workers=PREVIEW_THREADS, thread_name_prefix="mjw-previews")


class CoalescingJob:
    """``work`` run on ``pool`` when asked; asks that come while it runs make one more run
    after it, not one each (a card's image: only the latest state is worth showing).
    ``stopped`` is checked before every run after the first (a closed card)."""

    def __init__(
        self,
        pool: ThreadPoolExecutor,
        work: Callable[[], None],
        stopped: Callable[[], bool] = lambda: False,
    ) -> None:
        self._pool = pool
        self._work = work
        self._stopped = stopped
        self._lock = threading.Lock()
        self._running = False
        self._asked_again = False

    def ask(self) -> None:
        with self._lock:
            if self._running:
                self._asked_again = True
                return
            self._running = True
        self._pool.submit(self._run)

    def _run(self) -> None:
        while True:
            with self._lock:
                self._asked_again = False
            try:
                self._work()
            except Exception:  # the work reports its own errors; a thread must not die silently
                log.exception("a background job failed")
            with self._lock:
                if not self._asked_again or self._stopped():
                    self._running = False
                    return


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
