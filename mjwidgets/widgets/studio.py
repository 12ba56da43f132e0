"""Studio: a prompt box and the session's task cards in a grid that uses the width.

Cards sit in a CSS grid (as many columns as fit, one in a narrow pane); new prompts' cards come
first, and a button's result is placed right after the card whose button made it, so it appears
next to where the person is looking and nothing before that card moves. The screen order is
each card's CSS ``order``: the widget list itself only ever grows, because ipywidgets re-creates
the view of every child after the first changed position (inserting at the front would
re-render every card and re-send its image).

Money: ``budget=`` (a Budget, or several) limits what the Studio submits; before a sweep or a
replay runs the status bar shows its estimate, and a submit a budget stops says so there
(``studiobudget``). A picture dropped on the Studio that carries its record offers to continue
from it or to make it again (``provenancedrop``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import urlsplit

import ipywidgets

from .. import budget as budgets
from .. import wording
from ..client import Client
from ..errors import BudgetExceeded, MJError
from ..models import Status, Task
from ..replay import Replay
from ..replay import replay as run_replay
from ..sweep import Sweep
from ..tracking import Tracker
from .imageeditor import ImageEditor
from .imagetools import StudioTools
from .placement import CardOrder
from .plumbing import BurstSync, BurstWork, close_tree, tracker_for
from .promptbar import PromptBar, new_bar
from .provenancedrop import ProvenanceDrop
from .refslots import ReferenceSlots
from .snapshot import Snapshot, snapshot_html
from .studiobudget import budgets_that_apply, estimate_text, refusal_text
from .sweepview import SweepView
from .taskview import TaskView

log = logging.getLogger("mjwidgets.widgets")

# Columns of at least this width; one column when the pane is narrower.
GRID_COLUMNS = "repeat(auto-fill, minmax(min(100%, 300px), 1fr))"
# Span every column. (grid-area, not grid-column: ipywidgets applies the layout's traits in
# order and clearing the unset grid-area shorthand afterwards would erase a grid-column.)
FULL_ROW = "auto / 1 / auto / -1"


class Studio(ipywidgets.VBox):
    """Type a prompt, watch the grid appear, click its buttons; every card stays in the session.

    With no MJ_BASE_URL set it runs on the embedded simulator and says so in a badge.
    ``budget`` (``mjw.Budget(minutes=…, jobs=…)``, or several) limits the Studio's submits.
    """

    def __init__(
        self, client: Client | None = None, *, tracker: Tracker | None = None, budget: Any = None
    ) -> None:
        if tracker is None:
            tracker = tracker_for(client)
        self.tracker = tracker
        self.budgets = budgets.as_budgets(budget)
        self.client = tracker.client
        self.bar = new_bar(
            simulator=bool(self.client is not None and self.client.is_simulator),
            backend_label=urlsplit(tracker.base_url).netloc,
            client_mode=(self.client.mode or "") if self.client is not None else "",
        )
        self.prompt_bar = PromptBar(self.bar, self._submit_from_box, self._history_prompts)
        #: the image prompt / --sref / --oref / --cref slots under the box
        self.slots = ReferenceSlots(self.bar, lambda: self.client, tracker.image)
        #: Describe, Blend, Shorten and the editor beside the slots
        self.tools = StudioTools(
            self.bar, tracker, self.slots, self.add, self.edit, lambda: list(self.budgets)
        )
        self.cards_box = ipywidgets.GridBox(
            layout=ipywidgets.Layout(
                grid_template_columns=GRID_COLUMNS, grid_gap="12px", align_items="flex-start"
            )
        )
        self.cards_box.add_class("mjw-cards")
        self._cards_sync = BurstSync(self.cards_box)  # a cell adding 100 cards: a few messages
        self._counting = BurstWork(self._changed)  # … and the bar's counts of them as well
        self.drop = ProvenanceDrop(self)  # a dropped picture that carries its story
        super().__init__([self.bar, self.drop.widget, self.cards_box])
        self.add_class("mjw-studio")
        self.cards: dict[str, TaskView] = {}
        self.sweeps: list[SweepView] = []
        self.order = CardOrder()
        self._lock = threading.Lock()
        uid = self.bar.uid
        self._snapshot = Snapshot(
            lambda: snapshot_html(uid, "mjwidgets Studio", self._pictures()),
            label="mjwidgets Studio",
        )
        self._show_health()
        self._unhealth = tracker.on_health(self._show_health)

    def _show_health(self) -> None:
        self.bar.backend_state = self.tracker.health()

    # ------------------------------------------------------------------ public
    def imagine(self, prompt: str, **options: Any) -> TaskView:
        """Submit a prompt exactly as typing it and pressing Enter would; returns its card.
        ``images=``, ``sref=``, ``oref=``, ``cref=`` take reference images as
        ``client.imagine`` does (the box passes what its slots hold).

        The prompt is checked first (every rule of ``Prompt.validate()``: a blank prompt, a
        prompt of parameters only, ``--v 9``, ``--niji 7 --v 7`` …) and a refusal — or a
        server's — shows in the Studio's bar and is raised, as ``sweep`` does: code learns what
        a person sees.
        """
        bar = self.bar
        bar.error = ""
        bar.busy = True
        wanted = self._budgets(options.pop("budget", None))
        try:
            self.prompt_bar.check(prompt)
            task = self.tracker.imagine(prompt, budget=wanted or None, **options)
        except BudgetExceeded as exc:  # the status bar says which budget and how to go on
            bar.status_text = refusal_text(exc)
            raise
        except MJError as exc:
            bar.error = f"Not sent: {wording.error_words(exc)}"
            bar.status_text = ""  # no earlier task's words next to this error
            raise
        finally:
            bar.busy = False
        view = self.add(task)
        bar.status_text = f"submitted “{wording.short_prompt(task.prompt)}”"
        return view

    def add(self, task: Task) -> TaskView:
        """Show a task (e.g. from the history) as a card at the top of the Studio."""
        if task.id in self.cards:
            return self.cards[task.id]
        with self._lock:  # the card's place known before it exists: its Layout opens with it
            slot = object()
            keys = self.order.first(slot)
            layout = ipywidgets.Layout(order=str(keys.pop(slot)))
            try:
                view = TaskView(
                    task, tracker=self.tracker, layout=layout, on_use_prompt=self.set_prompt
                )
            except BaseException:
                self.order.forget(slot)
                layout.close()
                raise
            self.order.rename(slot, view)
            self._place(view, keys)
        return view

    def sweep(
        self, prompt: str, *, max_in_flight: int = 3, budget: Any = None, **params: Any
    ) -> Sweep:
        """Submit the product of parameter values, e.g. ``ar=["1:1", "3:2"], stylize=[50, 750]``,
        a few at a time (the account's queue, not a flood of code 23), shown as a labelled grid.
        The status bar shows its estimate first; ``budget`` adds a limit for this sweep alone.
        Returns the running `Sweep` (``.wait()``, ``.tasks``, ``.labels``)."""
        wanted = self._budgets(budget)
        try:
            sweep = Sweep(
                prompt, dict(params), self.tracker, max_in_flight=max_in_flight,
                budget=wanted or None,
            )  # fmt: skip
        except MJError as exc:
            self.bar.error = f"sweep refused: {wording.error_words(exc)}"
            self.bar.status_text = ""
            raise
        view = SweepView(sweep, on_child=self._on_child, on_card=self._watch)
        view.layout.grid_area = FULL_ROW  # a sweep's own grid spans the Studio's width
        self.sweeps.append(view)
        with self._lock:
            self._show(view, self.order.first(view))
        self.bar.error = ""
        self.bar.status_text = estimate_text(
            f"sweep of {len(sweep.items)} prompts",
            sweep.estimate(),
            budgets_that_apply(wanted, self.tracker.budgets),
        )
        sweep.on_change(lambda s: setattr(self.bar, "sweep_text", s.summary()))
        sweep.on_change(lambda _s: self._changed())
        sweep.on_change(self._sweep_stopped)
        return sweep.start()

    def add_reference(self, slot: str, image: Any) -> str:
        """Put an image (path, bytes, PIL image, URL or finished task) into a slot under the
        box — "images", "sref", "oref" or "cref"; the next Imagine from the box uses it."""
        return self.slots.add(slot, image)

    def describe(self, image: Any) -> TaskView:
        """Four prompts for an image, as a card with "Imagine this" on each."""
        return self.add(self.tools.describe(image))

    def blend(self, images: Any = None, *, dimensions: str = "SQUARE") -> TaskView:
        """Blend 2–5 images (default: the image-prompt slot's) into one grid card."""
        return self.add(self.tools.blend(images, dimensions))

    def shorten(self, prompt: str) -> TaskView:
        """Shorter versions of a prompt, as a card with "Imagine this" on each."""
        return self.add(self.tools.shorten(prompt))

    def edit(self, image: Any, *, tile: int | None = None, prompt: str = "") -> ImageEditor:
        """Open the editor (repaint a region, or retexture) on any image: a path, bytes, a PIL
        image, or a finished task (``tile`` 1–4 picks one candidate of a grid)."""
        if isinstance(image, Task):
            prompt = prompt or image.prompt
            image = self.tracker.tiles(image)[tile - 1] if tile else self.tracker.image(image)
        editor = ImageEditor(image, self.tracker, prompt=prompt, on_task=self.add)
        editor.layout.grid_area = FULL_ROW
        with self._lock:
            self._show(editor, self.order.first(editor))
        return editor

    def replay(self, source: Any, *, version: str | None = None, budget: Any = None) -> Replay:
        """Make ``source``'s lineage again on this Studio's server (a Task, a task id, a file
        carrying provenance): the status bar shows the estimate first, each new task appears as
        a card, and the bar says how it ended. Returns the running `Replay` (``.wait()``,
        ``.compare()``); ``mjw.replay`` replays on another client."""
        wanted = self._budgets(budget)
        bar = self.bar
        try:
            cost = budgets.estimate(source, mode=self.client.mode if self.client else None)
        except MJError as exc:
            bar.error = f"replay refused: {wording.error_words(exc)}"
            bar.status_text = ""
            raise
        bar.error = ""
        bar.status_text = estimate_text(
            "replay", cost, budgets_that_apply(wanted, self.tracker.budgets)
        )
        run = run_replay(
            source, tracker=self.tracker, version=version, budget=wanted or None, background=True
        )
        run.on_change(self._replay_changed)
        self._replay_changed(run)  # steps made before the listener was added
        return run

    def _budgets(self, extra: Any) -> list[budgets.Budget]:
        return [*self.budgets, *budgets.as_budgets(extra)]

    def _sweep_stopped(self, sweep: Sweep) -> None:
        line = refusal_text(sweep.stopped) if sweep.stopped else ""
        if line and self.bar.status_text != line:
            self.bar.status_text = line

    def _replay_changed(self, run: Replay) -> None:
        for _old, new in run.pairs:
            if new.id not in self.cards:
                self.add(new)
        if run.stopped_at is not None:  # a step the server cannot make, or a budget
            stopped_by_budget = "budget" in run.reason and "reached" in run.reason
            self.bar.status_text = refusal_text(run.summary()) if stopped_by_budget else (
                run.summary()
            )  # fmt: skip
        elif run.ok:
            self.bar.status_text = run.summary()

    def set_prompt(self, prompt: str) -> None:
        """Put a prompt into the box (e.g. "reuse prompt" from the history)."""
        self.bar.send({"type": "set_prompt", "prompt": prompt})

    def _ipython_display_(self) -> None:
        """The live Studio, then its static snapshot for readers without a kernel."""
        from IPython.display import display

        bundle = self._repr_mimebundle_()
        bundle["text/plain"] = "mjwidgets Studio (live while its kernel runs)"
        display(bundle, raw=True)
        self._snapshot.display()

    def close(self) -> None:
        """Close the Studio with everything in it: its cards stop following their tasks."""
        snapshot = getattr(self, "_snapshot", None)  # absent when __init__ failed
        if snapshot is not None:
            snapshot.close()
            self._unhealth()
        for child in self.children:  # the bar, the drop zone, the grid of cards and sweeps
            close_tree(child)
        super().close()

    # ------------------------------------------------------------------ placing cards
    def _watch(self, view: TaskView) -> None:
        """Count the card and keep the snapshot current as it changes: its status and its final
        image or a video's posters (a preview changes nothing the snapshot shows)."""
        card = view.card

        def final_image(_change: Any) -> None:
            if not card.is_preview:
                self._changed()

        card.observe(lambda _change: self._changed(), names="status")
        # a final image replaces a preview: the image changes first, then is_preview (in one
        # message to the page), and the status may have changed before either
        card.observe(final_image, names=["image", "is_preview"])
        if card.has_trait("clips"):  # a video card: its posters are its final picture
            card.observe(lambda _change: self._changed(), names="clips")

    def _place(self, view: TaskView, keys: dict[Any, int]) -> None:
        """Show a new card (the Studio's lock held) and give the moved widgets their keys."""
        view.on_child(self._on_child)
        view.on_use_prompt(self.set_prompt)
        self._watch(view)
        self.cards[view.task.id] = view
        self._show(view, keys)
        self._counting.ask()

    def _show(self, widget: ipywidgets.Widget, keys: dict[Any, int]) -> None:
        """Append ``widget`` to the grid and give the moved widgets their new screen order."""
        for moved, key in keys.items():
            moved.layout.order = str(key)
        with self._cards_sync.change():
            self.cards_box.children = (*self.cards_box.children, widget)

    def _on_child(self, parent: TaskView, child: TaskView) -> None:
        anchor: Any = parent
        if parent not in self.order:  # a sweep's card: its results go right after the sweep
            anchor = next((s for s in self.sweeps if parent in s.views.values()), None)
        with self._lock:  # made by the parent's button: its place is known only now
            self._place(child, self.order.after(child, anchor))

    # ------------------------------------------------------------------ the saved snapshot
    def _pictures(self) -> list:
        views: list[TaskView] = []
        for widget in self.order.in_screen_order():
            if isinstance(widget, SweepView):
                views.extend(widget.views.values())
            elif isinstance(widget, TaskView):
                views.append(widget)
        return [view.picture() for view in views]

    def _changed(self) -> None:
        tasks = [view.task for view in list(self.cards.values())]
        for sweep in self.sweeps:
            tasks += [view.task for view in list(sweep.views.values())]
        self.bar.counts = {  # in the cards' words: "queued" until the server starts a job
            "cards": len(tasks),
            "running": sum(task.status is Status.IN_PROGRESS for task in tasks),
            "queued": sum(task.is_queued for task in tasks),
            "failed": sum(task.status is Status.FAILURE for task in tasks),
        }
        self._snapshot.touch()

    # ------------------------------------------------------------------ the box
    def _submit_from_box(self, prompt: str) -> None:
        self.imagine(prompt, **self.slots.options())

    def _history_prompts(self) -> list[str]:
        store = self.tracker.store
        return [task.prompt for task in store.history(action="IMAGINE", limit=400) if task.prompt]

    def _on_message(self, widget: Any, content: dict, buffers: Any) -> None:
        """The bar's messages (Enter, drafts, controls, recall): see PromptBar."""
        self.prompt_bar._on_message(widget, content, buffers)
