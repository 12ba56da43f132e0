"""Studio: a prompt box and the session's task cards, newest first, linked by lineage."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import anywidget
import ipywidgets
import traitlets

from .. import wording
from ..client import Client
from ..errors import MJError
from ..models import Task
from ..sweep import Sweep
from ..tracking import Tracker
from .plumbing import STATIC, tracker_for
from .sweepview import SweepView
from .taskview import TaskView

log = logging.getLogger("mjwidgets.widgets")


class _StudioBar(anywidget.AnyWidget):
    """The front-end half of the Studio's prompt bar (js/studio.js)."""

    _esm = STATIC / "studio.js"
    _css = STATIC / "mjwidgets.css"

    simulator = traitlets.Bool(False).tag(sync=True)
    backend_label = traitlets.Unicode("").tag(sync=True)
    # The backend badge: {ok: true | false | null, label, reason} — green when the server
    # answered, red with the reason when the key is refused or the server is down or failing.
    backend_state = traitlets.Dict().tag(sync=True)
    status_text = traitlets.Unicode("").tag(sync=True)
    sweep_text = traitlets.Unicode("").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)


class Studio(ipywidgets.VBox):
    """Type a prompt, watch the grid appear, click its buttons; every card stays in the session.

    With no MJ_BASE_URL set it runs on the embedded simulator and says so in a badge.
    """

    def __init__(self, client: Client | None = None, *, tracker: Tracker | None = None) -> None:
        if tracker is None:
            tracker = tracker_for(client)
        self.tracker = tracker
        self.client = tracker.client
        self.bar = _StudioBar(
            simulator=bool(self.client is not None and self.client.is_simulator),
            backend_label=urlsplit(tracker.base_url).netloc,
        )
        # Newest first on screen, but appended in the model: ipywidgets re-creates the view of
        # every child after the first changed position, so inserting at the front would re-render
        # every card (and re-send its image) on each new task.
        self.cards_box = ipywidgets.VBox(layout=ipywidgets.Layout(flex_flow="column-reverse"))
        self.cards_box.add_class("mjw-cards")
        super().__init__([self.bar, self.cards_box])
        self.add_class("mjw-studio")
        self.cards: dict[str, TaskView] = {}
        self.sweeps: list[SweepView] = []
        self.bar.on_msg(self._on_message)
        self._show_health()
        self._unhealth = tracker.on_health(self._show_health)

    def _show_health(self) -> None:
        self.bar.backend_state = self.tracker.health()

    def close(self) -> None:
        self._unhealth()
        super().close()

    # ------------------------------------------------------------------ public
    def imagine(self, prompt: str, **options: Any) -> TaskView:
        """Submit a prompt exactly as typing it and pressing Enter would; returns its card.

        A refusal (a blank prompt, a server error) shows in the Studio's bar and is raised, as
        ``sweep`` does: code learns what a person sees.
        """
        bar = self.bar
        bar.error = ""
        bar.busy = True
        try:
            task = self.tracker.imagine(prompt, **options)
        except MJError as exc:
            bar.error = wording.error_words(exc)
            bar.status_text = ""  # no earlier task's words next to this error
            raise
        finally:
            bar.busy = False
        bar.send({"type": "clear_prompt"})
        view = self.add(task)
        bar.status_text = f"submitted “{wording.short_prompt(task.prompt)}”"
        return view

    def add(self, task: Task) -> TaskView:
        """Show a task (e.g. from the history) as a card at the top of the Studio."""
        if task.id in self.cards:
            return self.cards[task.id]
        view = TaskView(task, tracker=self.tracker)
        view.on_child(self._on_child)
        self.cards[task.id] = view
        self.cards_box.children = (*self.cards_box.children, view)
        return view

    def sweep(self, prompt: str, *, max_in_flight: int = 3, **params) -> Sweep:
        """Submit the product of parameter values, e.g. ``ar=["1:1", "3:2"], stylize=[50, 750]``,
        a few at a time (the account's queue, not a flood of code 23), shown as a labelled grid.
        Returns the running `Sweep` (``.wait()``, ``.tasks``, ``.labels``)."""
        try:
            sweep = Sweep(prompt, dict(params), self.tracker, max_in_flight=max_in_flight)
        except MJError as exc:
            self.bar.error = f"sweep refused: {wording.error_words(exc)}"
            self.bar.status_text = ""
            raise
        view = SweepView(sweep, on_child=self._on_child)
        self.sweeps.append(view)
        self.cards_box.children = (*self.cards_box.children, view)
        sweep.on_change(lambda s: setattr(self.bar, "sweep_text", s.summary()))
        return sweep.start()

    def set_prompt(self, prompt: str) -> None:
        """Put a prompt into the box (e.g. "reuse prompt" from the history)."""
        self.bar.send({"type": "set_prompt", "prompt": prompt})

    # ------------------------------------------------------------------ events
    def _on_message(self, _widget: Any, content: dict, _buffers: Any) -> None:
        if content.get("type") == "imagine":
            try:
                self.imagine(str(content.get("prompt", "")))
            except MJError:
                pass  # already shown in the bar
            except Exception as exc:  # the kernel's message loop must survive anything
                log.exception("imagine failed")
                self.bar.error = wording.error_words(exc)
                self.bar.status_text = ""

    def _on_child(self, _parent: TaskView, child: TaskView) -> None:
        child.on_child(self._on_child)
        self.cards[child.task.id] = child
        self.cards_box.children = (*self.cards_box.children, child)
