"""The submit journal: what a client tells before and after every paid submit.

A lost reply must never turn into a silent duplicate, so the client reports every submit to its
journal (the history store, once a tracker is attached) twice: the intent before the POST leaves
(if recording it fails, nothing is sent), and the outcome after. Images in the journaled body are
reduced to digests; the key is never in a body.
"""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from . import inputs, media
from .models import Task

if TYPE_CHECKING:
    from .store import HistoryStore

__all__ = [
    "JournalTee",
    "SubmitJournal",
    "SubmitRecorder",
    "journal_body",
    "new_state",
    "tell_accepted",
]

log = logging.getLogger("mjwidgets.journal")


class SubmitJournal(Protocol):
    """Records every submit so a lost reply never turns into a silent duplicate.

    ``before_submit`` runs just before the POST (if it raises, nothing is sent);
    ``after_submit`` reports outcome "ok", "error" (definitely not created) or "unknown" (may have
    been created); its exceptions are logged and swallowed. A journal that also has
    ``submitted(state, task)`` gets the accepted task itself instead of ``after_submit(…, "ok")``
    (the history store writes the task's row in the same transaction); one with
    ``keep_input(payload)`` keeps the images a submit carries (masks, references) by content.
    """

    def before_submit(self, endpoint: str, body: dict, state: str) -> None: ...

    def after_submit(
        self, state: str, task_id: str | None, outcome: str, error: BaseException | None
    ) -> None: ...


def new_state() -> str:
    """A fresh ``state``: the token that ties a journaled intent to the task the server made."""
    return f"mjw-{uuid.uuid4().hex}"


def journal_body(
    body: dict[str, Any], keep: Callable[[bytes], Any] | None = None
) -> dict[str, Any]:
    """The submit body with each image data URL replaced by ``sha256:<hex>:<nbytes>``.

    ``keep(payload)`` (the history store's ``keep_input``) receives each image's bytes first, so
    a recipe can send the same mask again; a keeper that fails is logged, never fatal: the
    person's submit matters more than its recipe."""

    def scrub(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("data:"):
            if keep is not None:
                try:
                    keep(media.data_url_payload(value))
                except Exception as exc:
                    log.warning("could not keep a submitted image for recipes: %s", exc)
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


class SubmitRecorder:
    """The journal a tracker installs on its client: the history store, told which server the
    client talks to (``store.journal_for(base_url)``)."""

    def __init__(self, store: HistoryStore, base_url: str) -> None:
        self.store = store
        self.base_url = base_url

    def before_submit(self, endpoint: str, body: dict, state: str) -> None:
        self.store.before_submit(endpoint, body, state, server=self.base_url)

    def after_submit(
        self, state: str, task_id: str | None, outcome: str, error: BaseException | None
    ) -> None:
        self.store.after_submit(state, task_id, outcome, error, server=self.base_url)

    def submitted(self, state: str, task: Task) -> None:
        self.store.submitted(state, task, server=self.base_url)

    def keep_input(self, payload: bytes) -> None:
        """Keep an image the submit carries (a mask, a reference) for recipes, by content."""
        inputs.keep(self.store.folder / inputs.FOLDER_NAME, payload)

    def __repr__(self) -> str:
        return f"<SubmitRecorder {self.store.path}>"


class JournalTee:
    """Several journals as one: a journal the user had installed keeps working next to the
    history store's (one failing after a submit does not hide the others)."""

    def __init__(self, *journals: Any) -> None:
        self.journals = journals

    def before_submit(self, endpoint: str, body: dict, state: str) -> None:
        for journal in self.journals:
            journal.before_submit(endpoint, body, state)

    def after_submit(
        self, state: str, task_id: str | None, outcome: str, error: BaseException | None
    ) -> None:
        for journal in self.journals:
            try:
                journal.after_submit(state, task_id, outcome, error)
            except Exception:  # one journal's failure must not hide the others
                log.exception("journal %r failed after a submit", journal)

    def keep_input(self, payload: bytes) -> None:
        for journal in self.journals:
            keeper = getattr(journal, "keep_input", None)
            if callable(keeper):
                keeper(payload)

    def submitted(self, state: str, task: Task) -> None:
        for journal in self.journals:
            try:
                tell_accepted(journal, state, task)
            except Exception:  # one journal's failure must not hide the others
                log.exception("journal %r failed after a submit", journal)
