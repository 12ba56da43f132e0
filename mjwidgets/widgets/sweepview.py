"""SweepView: a sweep's cards in a grid, its varying parameters as row and column labels."""

from __future__ import annotations

import html
import threading

import ipywidgets

from ..models import Task
from ..sweep import Sweep, SweepItem
from .taskview import TaskView

CELL_WIDTH = 250  # px: compact cards, so a 3-column sweep fits a notebook


def _label(text: str, cls: str) -> ipywidgets.HTML:
    widget = ipywidgets.HTML(f"<b>{html.escape(text)}</b>")
    widget.add_class(cls)
    return widget


def _format(values: dict) -> str:
    return ", ".join(f"--{k} {v}" for k, v in values.items()) or "—"


class SweepView(ipywidgets.VBox):
    """Rows: the first parameter's values; columns: the other parameters' combinations."""

    def __init__(self, sweep: Sweep, *, on_child=None, on_card=None) -> None:
        self.sweep = sweep
        self._on_child = on_child
        self._on_card = on_card  # called with each card as it is made (the Studio counts them)
        self._lock = threading.Lock()
        names = list(sweep.params)
        self.row_param, self.column_params = names[0], names[1:]
        rows = sweep.params[self.row_param]
        columns = sorted(
            {self._column_key(i) for i in sweep.items}, key=lambda key: self._column_order(key)
        )
        self._columns = columns
        self._rows = rows
        self.progress = ipywidgets.HTML()
        self.progress.add_class("mjw-sweep-progress")
        self.title = _label(f"Sweep: {sweep.base}", "mjw-sweep-title")
        self.cells: dict[int, ipywidgets.Widget] = {}
        corner = _label(f"--{self.row_param} ↓", "mjw-sweep-corner")
        grid_children: list[ipywidgets.Widget] = [corner]
        grid_children += [_label(_format(dict(c)) if c else "", "mjw-sweep-col") for c in columns]
        for row in rows:
            grid_children.append(_label(str(row), "mjw-sweep-row"))
            for column in columns:
                index = self._index(row, column)
                cell = (
                    self._placeholder(sweep.items[index])
                    if index is not None
                    else ipywidgets.HTML("")
                )
                self.cells[index if index is not None else -1] = cell
                grid_children.append(cell)
        self.grid = ipywidgets.GridBox(
            grid_children,
            layout=ipywidgets.Layout(
                grid_template_columns=f"90px repeat({len(columns)}, {CELL_WIDTH}px)",
                grid_gap="6px",
                align_items="flex-start",
                overflow="auto",
            ),
        )
        self.grid.add_class("mjw-sweep-grid")
        super().__init__([self.title, self.progress, self.grid])
        self.add_class("mjw-sweep")
        self.views: dict[str, TaskView] = {}
        self._claimed: set[str] = set()  # tasks whose card is made or being made
        sweep.on_change(self._refresh)
        self._refresh(sweep)

    def _column_key(self, item: SweepItem) -> tuple:
        return tuple((k, item.values[k]) for k in self.column_params)

    def _column_order(self, key: tuple) -> tuple:
        return tuple(self.sweep.params[k].index(v) for k, v in key)

    def _index(self, row, column: tuple) -> int | None:
        for index, item in enumerate(self.sweep.items):
            if item.values[self.row_param] == row and self._column_key(item) == column:
                return index
        return None

    @staticmethod
    def _placeholder(item: SweepItem) -> ipywidgets.HTML:
        cell = ipywidgets.HTML(
            f"<div class='mjw-sweep-wait'>waiting: {html.escape(item.prompt)}</div>"
        )
        cell.layout.width = f"{CELL_WIDTH}px"
        return cell

    def _refresh(self, sweep: Sweep) -> None:
        """Show the sweep's progress, its refusals, and a card for each task it submitted.

        Runs on the sweep's thread and on the tracker's (a task changed). A new card subscribes
        to the tracker, which waits for the tracker's callbacks to finish, and one of those may
        be this very method waiting for the lock: so cards are made outside the lock (each
        task claimed first, so two threads never make one twice)."""
        with self._lock:
            self.progress.value = html.escape(sweep.summary())
            fresh: list[tuple[int, Task]] = []
            for index, item in enumerate(sweep.items):
                if item.task is None and item.error:
                    cell = self.cells[index]
                    if isinstance(cell, ipywidgets.HTML) and "mjw-sweep-error" not in cell.value:
                        cell.value = f"<div class='mjw-sweep-error'>{html.escape(item.error)}</div>"
                elif item.task is not None and item.task.id not in self._claimed:
                    self._claimed.add(item.task.id)
                    fresh.append((index, item.task))
        made = [(index, self._card(task, sweep)) for index, task in fresh]
        if not made:
            return
        with self._lock:
            children = list(self.grid.children)
            for index, view in made:
                self.views[view.task.id] = view
                children[children.index(self.cells[index])] = view
                self.cells[index] = view
            self.grid.children = tuple(children)

    def _card(self, task: Task, sweep: Sweep) -> TaskView:
        view = TaskView(task, tracker=sweep.tracker)
        view.card.compact = True
        if self._on_child is not None:
            view.on_child(self._on_child)
        if self._on_card is not None:
            self._on_card(view)
        return view
