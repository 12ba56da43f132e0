"""The submit journal: what a client tells before and after every paid submit.

A lost reply must never turn into a silent duplicate, so the client reports every submit to its
journal (the history store, once a tracker is attached) twice: the intent before the POST leaves
(if recording it fails, nothing is sent), and the outcome after. Images in the journaled body are
reduced to digests; the key is never in a body.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any, Protocol

from . import media
from .models import Task

__all__ = ["SubmitJournal", "journal_body", "new_state", "tell_accepted"]


class SubmitJournal(Protocol):
    """Records every submit so a lost reply never turns into a silent duplicate.

    ``before_submit`` runs just before the POST (if it raises, nothing is sent);
    ``after_submit`` reports outcome "ok", "error" (definitely not created) or "unknown" (may have
    been created); its exceptions are logged and swallowed. A journal that also has
    ``submitted(state, task)`` gets the accepted task itself instead of ``after_submit(…, "ok")``
    (the history store writes the task's row in the same transaction).
    """

    def before_submit(self, endpoint: str, body: dict, state: str) -> None: ...

    def after_submit(
        self, state: str, task_id: str | None, outcome: str, error: BaseException | None
    ) -> None: ...


def new_state() -> str:
    """A fresh ``state``: the token that ties a journaled intent to the task the server made."""
    return f"mjw-{uuid.uuid4().hex}"


def journal_body(body: dict[str, Any]) -> dict[str, Any]:
    """The submit body with each image data URL replaced by ``sha256:<hex>:<nbytes>``."""

    def scrub(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("data:"):
            return media.data_url_digest(value)
        if isinstance(value, list):
            return [scrub(item) for item in value]
        if isinstance(value, dict):
            return {key: scrub(item) for key, item in value.items()}
        return value

    return scrub(copy.deepcopy(body))


def tell_accepted(journal: SubmitJournal, state: str, task: Task) -> None:
    """Report an accepted submit: the task itself to a journal that takes it (``submitted``),
    else the plain outcome."""
    submitted = getattr(journal, "submitted", None)
    if callable(submitted):
        submitted(state, task)
    else:
        journal.after_submit(state, task.id, "ok", None)
