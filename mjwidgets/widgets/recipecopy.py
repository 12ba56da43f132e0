"""“Copy as code”: the answer a card or the gallery sends when a person asks for a task's recipe.

The recipe is ``recipes.recipe``'s runnable cell (the whole lineage, buttons by meaning, masks
inline); the front end (js/copycode.js) puts it on the clipboard, or shows it selected in a box
where the clipboard is out of reach. Made on a worker thread: a lineage with masks reads files.
"""

from __future__ import annotations

import logging
from typing import Any

from .. import wording
from ..errors import MJError
from ..models import Task
from ..recipes import recipe
from ..store import HistoryStore

__all__ = ["recipe_message"]

log = logging.getLogger("mjwidgets.widgets")


def recipe_message(task: Task | str, store: HistoryStore | None = None) -> dict[str, Any]:
    """``{"type": "recipe", "task_id", "code"}``, or ``"error"`` in words when there is none."""
    task_id = task.id if isinstance(task, Task) else str(task)
    try:
        return {"type": "recipe", "task_id": task_id, "code": recipe(task, store=store)}
    except Exception as exc:  # a click's answer: always one, in words
        if not isinstance(exc, MJError):
            log.exception("the recipe of %s failed", task_id)
        return {"type": "recipe", "task_id": task_id, "error": wording.error_words(exc)}
