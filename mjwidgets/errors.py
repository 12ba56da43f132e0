"""Typed errors of the Midjourney-proxy client.

Every error renders as ONE line saying what happened and what to do about it, so a notebook user can
act on the last line of a traceback. Errors never carry the API key: the client redacts any text a
server sends back before it reaches an error.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "MJError",
    "AuthError",
    "ValidationError",
    "InputTypeError",
    "NotFoundError",
    "UnsupportedError",
    "QueueFullError",
    "BannedPromptError",
    "RateLimitError",
    "ServerError",
    "TransportError",
    "StoreError",
    "BudgetExceeded",
    "TaskFailed",
    "TaskTimeout",
]

_MAX_DESCRIPTION = 240


def one_line(text: Any, limit: int = _MAX_DESCRIPTION) -> str:
    """Collapse whitespace and cut long server text so a message stays on one readable line."""
    flat = re.sub(r"\s+", " ", str(text)).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class MJError(Exception):
    """Base of every mjwidgets error.

    Attributes: ``code`` (the proxy's envelope code, or None), ``description`` (the server's or
    our own explanation), ``http_status`` (None when no HTTP reply was read), ``task_id`` (when
    the error concerns one task), ``endpoint`` (API path), ``state`` (the submit's correlation
    token) and ``maybe_submitted`` (True when a submit may have created a task although we got no
    answer).
    """

    #: What the user can do about it; subclasses refine this.
    advice: str = ""

    def __init__(
        self,
        description: str = "",
        *,
        code: int | None = None,
        http_status: int | None = None,
        task_id: str | None = None,
        endpoint: str | None = None,
        state: str | None = None,
        maybe_submitted: bool = False,
        advice: str | None = None,
    ) -> None:
        self.description = one_line(description) if description else ""
        self.code = code
        self.http_status = http_status
        self.task_id = task_id
        self.endpoint = endpoint
        self.state = state
        self.maybe_submitted = maybe_submitted
        if advice is not None:
            self.advice = advice
        super().__init__(self._message())

    def _what(self) -> str:
        parts: list[str] = []
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        if self.endpoint:
            parts.append(f"from {self.endpoint}" if parts else f"{self.endpoint}")
        if self.code is not None:
            parts.append(f"(code {self.code})")
        head = " ".join(parts)
        if self.description and self.description not in head:
            head = f"{head}: {self.description}" if head else self.description
        if self.task_id and self.task_id not in head:
            head = f"task {self.task_id}: {head}" if head else f"task {self.task_id}"
        return head or type(self).__name__

    def _message(self) -> str:
        advice = self.advice
        if self.maybe_submitted:
            token = f" (state={self.state})" if self.state else ""
            advice = (
                "the request may have reached the server and was NOT resent; check the task "
                f"list/history for it{token} before resubmitting, or you may pay twice"
            )
        return f"{self._what()} — {advice}" if advice else self._what()

    def __str__(self) -> str:
        return self._message()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._message()!r})"


class AuthError(MJError):
    """HTTP 401/403: the server refused the key."""

    advice = (
        "the server refused the API key; "
        "check MJ_API_KEY and MJ_AUTH (bearer | mj-api-secret | raw)"
    )


class ValidationError(MJError, ValueError):
    """Code 4, or input refused locally before any request was sent (also a ValueError)."""

    advice = "fix the input and try again"


class InputTypeError(ValidationError, TypeError):
    """An argument of the wrong kind (a number where an image belongs); also a TypeError."""

    advice = "pass a value of the kind the function documents"


class NotFoundError(MJError):
    """Code 3, HTTP 404, or a task id the server does not know."""

    advice = "check the task id (tasks expire on some servers) and the base URL"


class UnsupportedError(NotFoundError):
    """The server does not offer this: a route it lacks (HTTP 404/405), or a button it refuses
    (new-api's HTTP 400 ``unknown_action``, trueai's code 4 "未知的 Action 类型").

    A NotFoundError too (what was asked for does not exist at this server). ``feature`` names
    what was refused for people ("Animate (High motion)", "cancel"), ``instead`` what the server
    offers in its place (also the advice), ``server_text`` the server's own words, kept for
    reference. The client also remembers the refusal (``client.capabilities``), so the next
    card shows the button disabled instead of paying a round trip for the same answer.
    """

    advice = "this server does not offer it; client.capabilities says what it does offer"

    def __init__(
        self,
        description: str = "",
        *,
        feature: str | None = None,
        instead: str | None = None,
        server_text: str = "",
        **kw: Any,
    ) -> None:
        self.feature = feature
        self.instead = instead
        self.server_text = server_text
        if instead and kw.get("advice") is None:
            kw["advice"] = instead
        super().__init__(description, **kw)


class QueueFullError(MJError):
    """Code 23 (trueai: code 9 "队列已满"): the account's queue is full; the task was discarded."""

    advice = "nothing was queued; wait for running jobs to finish and submit again"


class BannedPromptError(MJError):
    """Code 24: the prompt contains a word the server bans."""

    advice = "remove or rephrase the banned word and submit again"

    def __init__(self, description: str = "", *, banned_word: str | None = None, **kw: Any):
        self.banned_word = banned_word
        super().__init__(description, **kw)

    def _what(self) -> str:
        head = super()._what()
        if self.banned_word and self.banned_word not in head:
            head = f"{head} [banned word: {self.banned_word!r}]"
        return head


class RateLimitError(MJError):
    """HTTP 429 or new-api code 30: too many requests, even after the client's own retries."""

    advice = "the server is rate limiting; wait and try again"

    def __init__(self, description: str = "", *, retry_after: float | None = None, **kw: Any):
        self.retry_after = retry_after
        if retry_after is not None and "advice" not in kw:
            kw["advice"] = f"the server is rate limiting; wait {retry_after:g} s and try again"
        super().__init__(description, **kw)


class ServerError(MJError):
    """5xx, an HTML error page, malformed JSON or an unexpected code."""

    advice = "the server failed; try again later or check the server's logs"


class TransportError(MJError):
    """No usable HTTP reply: connection refused, reset, or timed out."""

    advice = "could not reach the server; check MJ_BASE_URL and your network, then try again"


class StoreError(MJError):
    """The history file cannot be used (written by a newer mjwidgets, damaged, locked)."""

    advice = "check MJ_HOME and the history file's version"


class BudgetExceeded(MJError):
    """A new submit would spend more than a budget allows; nothing was sent, and nothing already
    running was stopped. ``budget`` is the Budget that refused, ``cost`` the refused job's
    estimate (GPU minutes)."""

    advice = "raise the limit (budget.limit_minutes = …) or start a new Budget to go on"

    def __init__(self, description: str = "", *, budget: Any = None, cost: float = 0.0, **kw: Any):
        self.budget = budget
        self.cost = cost
        super().__init__(description, **kw)


class TaskFailed(MJError):
    """The task ended in FAILURE; ``task`` holds the final Task and the message its fail reason."""

    advice = "the server gave up on this task; adjust the prompt or input and submit a new one"

    def __init__(self, task: Any, description: str = "", **kw: Any) -> None:
        self.task = task
        reason = description or getattr(task, "fail_reason", "") or "no reason given"
        action = getattr(task, "action", "") or "task"
        kw.setdefault("task_id", getattr(task, "id", None))
        super().__init__(f"{action} failed: {reason}", **kw)


class TaskTimeout(MJError):
    """The client stopped waiting at its deadline; the task may still finish on the server."""

    advice = "it may still finish: call task.wait() again or client.fetch(task_id) later"

    def __init__(self, task: Any, timeout: float, **kw: Any) -> None:
        self.task = task
        self.timeout = timeout
        status = getattr(getattr(task, "status", None), "value", "UNKNOWN")
        progress = getattr(task, "progress", 0)
        kw.setdefault("task_id", getattr(task, "id", None))
        super().__init__(f"still {status} {progress}% after {timeout:g} s", **kw)
