"""What the client's call groups (``ImageCalls``, ``VideoCalls``) take from ``Client``: its one
journaled submit path. Declared once here for the type checker; ``Client`` provides it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .models import Task


class SubmitBase:
    """A base of the client's call groups: ``_submit`` (journal, send, typed errors, never
    resend), ``_new_task`` (a task from a submit answer) and ``_submitted``."""

    if TYPE_CHECKING:  # provided by Client

        def _submit(
            self,
            name: str,
            body: dict[str, Any],
            *,
            state: str | None,
            make_task: Callable[[int, Any, dict[str, Any], str], Task] | None,
        ) -> tuple[Any, Task | None]: ...

        def _new_task(
            self,
            code: int,
            result: Any,
            properties: dict[str, Any],
            description: str,
            *,
            name: str,
            action: str,
            prompt: str = "",
            state: str | None,
        ) -> Task: ...

        @staticmethod
        def _submitted(answer: tuple[Any, Task | None]) -> Task: ...
