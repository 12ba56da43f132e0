"""A server's reply, read once, and the one table that turns a reply into a typed error.

Servers answer in several dialects: the proxies' envelope ``{code, description, result}``,
new-api's ``{"error": {"message"}}`` and HTTP 400s, trueai's ``{"success": false, "code": -1}``,
HTML error pages, empty bodies. :func:`error_for_reply` maps each to one ``MJError`` subclass
(openai-python's status → class table is the model); the text is redacted of the key before
anything reads it.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from typing import Any

import requests

from .errors import (
    AuthError,
    BannedPromptError,
    MJError,
    NotFoundError,
    QueueFullError,
    RateLimitError,
    ServerError,
    UnsupportedError,
    ValidationError,
)
from .keys import redact
from .wording import route_instead

__all__ = [
    "ACCEPTED_CODES",
    "Reply",
    "as_int",
    "auth_error",
    "error_for_reply",
    "retry_after_seconds",
    "route_of",
    "server_family",
]

ACCEPTED_CODES = (1, 21, 22)  # submitted, needs modal, queued
# The API's routes, by the names people and ``client.capabilities`` use.
ROUTES = (
    "imagine",
    "action",
    "modal",
    "blend",
    "describe",
    "shorten",
    "upload-discord-images",
    "video",
    "edits",
    "retexture",
    "change",
    "fetch",
    "list-by-condition",
    "image-seed",
    "cancel",
)
_ROUTE_NAMES = frozenset(ROUTES)


def route_of(path: str) -> str | None:
    """The route a request path addresses ("/mj-fast/mj/task/12/cancel" → "cancel")."""
    tail = path.split("/mj/", 1)[-1] if "/mj/" in path else path.lstrip("/")
    parts = [part for part in tail.split("/") if part]
    if len(parts) >= 2 and parts[0] == "submit":
        name = "edits" if parts[1] == "edit" else parts[1]
        return name if name in _ROUTE_NAMES else None
    if len(parts) == 2 and parts[0] == "task" and parts[1] == "list-by-condition":
        return "list-by-condition"
    if len(parts) == 3 and parts[0] == "task" and parts[2] in _ROUTE_NAMES:
        return parts[2]
    return None


def retry_after_seconds(value: Any) -> float | None:
    """A Retry-After header (seconds or an HTTP date) in seconds from now; None if unreadable."""
    if value is None:
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(text)
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - time.time())


# --------------------------------------------------------------------------------------------
# Turning replies into Tasks or typed errors


def _html_title(text: str) -> str:
    match = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if match:
        return match.group(1).strip()
    stripped = re.sub(r"<[^>]+>", " ", text)
    return stripped.strip()


def _looks_like_html(text: str) -> bool:
    head = text.lstrip()[:200].lower()
    return head.startswith("<!doctype html") or head.startswith("<html") or "<body" in head


def as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


_CHARSET = re.compile(r"charset=[\"']?([\w.:-]+)", re.IGNORECASE)


def _decode(content: bytes, content_type: str | None) -> str:
    """Body bytes as text: the declared charset, else UTF-8 (JSON's own encoding)."""
    match = _CHARSET.search(content_type or "")
    if match:
        try:
            return content.decode(match.group(1), errors="replace")
        except LookupError:
            pass
    return content.decode("utf-8", errors="replace")


class Reply:
    """A response read once: status, text, and the JSON value if the body parsed as JSON."""

    def __init__(self, response: requests.Response, content: bytes) -> None:
        self.status = response.status_code
        self.headers = response.headers
        # a server may echo the key back (in a fail reason, an error page): it never gets further
        text = _decode(content, response.headers.get("Content-Type")) if content else ""
        self.text = redact(text)
        self.json: Any = None
        self.is_json = False
        if self.text.strip():
            try:
                self.json = json.loads(self.text)
                self.is_json = True
            except ValueError:
                pass

    @property
    def blank(self) -> bool:
        return not self.text.strip() or (self.is_json and self.json is None)

    def description(self) -> str:
        """The server's own explanation, from whichever error shape it used."""
        data = self.json
        if isinstance(data, dict):
            error = data.get("error")
            if isinstance(error, dict) and error.get("message"):
                return str(error["message"])  # new-api token errors
            for key in ("description", "message", "msg", "detail", "failReason"):
                if data.get(key):
                    return str(data[key])
            return ""
        if self.is_json:
            return str(data)
        if _looks_like_html(self.text):
            return _html_title(self.text)
        return self.text.strip()

    def code(self) -> int | None:
        if isinstance(self.json, dict):
            code = as_int(self.json.get("code"))
            if code is None and isinstance(self.json.get("error"), dict):
                code = as_int(self.json["error"].get("code"))
            return code
        return None


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    return retry_after_seconds(value)


# The reply → error table. An HTTP status that decides the class by itself comes first; then
# the envelope code (proxies) or new-api's code; a few codes are refined by what they say.
_STATUS_ERRORS: dict[int, type[MJError]] = {
    401: AuthError,
    403: AuthError,
    429: RateLimitError,
}
_CODE_ERRORS: dict[int, type[MJError]] = {
    3: NotFoundError,  # no usable account, or the parent task is gone
    4: ValidationError,  # a parameter the server refused
    9: ServerError,  # trueai: "system error" (or its queue-full message)
    23: QueueFullError,  # the account's queue is full; nothing was queued
    24: BannedPromptError,  # a banned word
    30: RateLimitError,  # new-api: the group is saturated
    -1: ServerError,  # trueai: a business-rule exception ({"success": false, "code": -1})
}
_NOT_FOUND_WORDS = ("not_found", "no_found", "not found", "不存在")
_QUEUE_WORDS = ("队列", "queue")
# A button the server does not relay: new-api's distributor (HTTP 400, middleware/distributor.go:
# 39) and trueai's action controller (code 4, SubmitController.cs:520-688).
_UNSUPPORTED_WORDS = ("unknown_action", "未知的 action 类型")
# trueai: a Discord account cannot run the web editor's jobs (TaskService.cs:226-229, :331-334).
_ACCOUNT_CANNOT_EDIT = ("当前账号不支持编辑",)


def _error_class(status: int, code: int | None, description: str) -> type[MJError] | None:
    """The class the table gives a reply (None: not an error the table knows)."""
    if status in _STATUS_ERRORS:
        return _STATUS_ERRORS[status]
    if status >= 500:
        return ServerError
    if (status == 400 or code == 4) and any(
        word in description.lower() for word in _UNSUPPORTED_WORDS
    ):
        return UnsupportedError
    if code == 9 and any(word in description for word in _ACCOUNT_CANNOT_EDIT):
        return UnsupportedError
    if code is None or code in ACCEPTED_CODES:
        return None
    lowered = description.lower()
    if code == 4 and any(word in lowered for word in _NOT_FOUND_WORDS):
        return NotFoundError
    if code in (9, -1) and any(word in lowered for word in _QUEUE_WORDS):
        return QueueFullError
    return _CODE_ERRORS.get(code, ServerError)


def error_for_reply(
    reply: Reply,
    path: str,
    *,
    submit: bool,
    state: str | None = None,
    unknown_task: str | None = None,
) -> MJError:
    """The typed error for a reply that is not what the endpoint promises (one line, no key)."""
    description = reply.description()
    context: dict[str, Any] = {
        "http_status": reply.status,
        "endpoint": path,
        "state": state,
        "task_id": unknown_task,
    }
    code = reply.code()
    cls = _error_class(reply.status, code, description)
    if cls is not None:
        if cls is RateLimitError:
            return RateLimitError(
                description, code=code, retry_after=_retry_after(reply.headers), **context
            )
        if cls is BannedPromptError:
            properties = reply.json.get("properties") if isinstance(reply.json, dict) else None
            banned = properties.get("bannedWord") if isinstance(properties, dict) else None
            return BannedPromptError(description, code=code, banned_word=banned, **context)
        if cls is UnsupportedError and any(w in description for w in _ACCOUNT_CANNOT_EDIT):
            return UnsupportedError(
                "this server's Midjourney account cannot run editor jobs (edits, retexture)",
                code=code, server_text=description, feature="the editor",
                instead="only midjourney.com or YouChuan accounts edit; use Vary (Region) on an "
                "upscale instead", **context,
            )  # fmt: skip
        if cls is UnsupportedError:
            return UnsupportedError(
                "the server does not relay this button", code=code, server_text=description,
                **context,
            )  # fmt: skip
        # a 5xx may have been processed before it failed: a submit is "maybe submitted"
        maybe = submit and reply.status >= 500
        return cls(description, code=code, maybe_submitted=maybe, **context)
    if reply.status in (404, 405):
        if unknown_task:
            return NotFoundError("the server does not know this task", **context)
        route = route_of(path)
        return UnsupportedError(
            f"the server does not support {path}",
            feature=route,
            instead=route_instead(route) + " (or check MJ_BASE_URL)" if route else None,
            advice="this server does not offer it; check MJ_BASE_URL",
            server_text=description if reply.is_json else "",
            **context,
        )
    if reply.status >= 400:
        return ValidationError(description or f"HTTP {reply.status}", **context)
    if reply.blank or reply.status == 204:
        if unknown_task:
            return NotFoundError("the server does not know this task", **context)
        return ServerError("empty reply", maybe_submitted=submit, **context)
    if not reply.is_json:
        if _looks_like_html(reply.text):
            return ServerError(
                f"an HTML page ({description!r}) instead of JSON",
                advice="check MJ_BASE_URL: it should be the API root, not a web page",
                maybe_submitted=submit,
                **context,
            )
        return ServerError(
            f"malformed JSON: {reply.text[:80]!r}", maybe_submitted=submit, **context
        )
    return ServerError(f"unexpected reply {reply.text[:80]!r}", maybe_submitted=submit, **context)


# --------------------------------------------------------------------------------------------
# Which server family wrote a reply, and what a refused key means there


# A \\uXXXX escape with an upper-case hex letter: System.Text.Json writes them (trueai); Go writes
# lower-case ones for <>& only, Jackson none at all.
_DOTNET_ESCAPE = re.compile(r"(?<!\\)\\u(?=[0-9A-F]{4})[0-9]{0,3}[A-F]")


def server_family(reply: Reply) -> str | None:
    """The server family whose dialect a reply is written in, when the reply says so:
    "trueai" (its auth middleware's plain-text 401, SimpleAuthMiddleware.cs:115-120, or
    System.Text.Json's upper-case \\uXXXX escapes of non-ASCII text, Program.cs:219-223),
    "newapi" (its ``new_api_error``/``upstream_error`` bodies, controller/relay.go:313-323,
    middleware/utils.go:9-19, or its X-Oneapi-Request-Id header, middleware/request-id.go),
    "spring" (OSS or Plus: Spring's JSON error page, or an empty 401 from
    ApiAuthorizeInterceptor.java:24-28), None when nothing tells."""
    if reply.headers is not None and reply.headers.get("X-Oneapi-Request-Id"):
        return "newapi"
    data = reply.json
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("type") == "new_api_error":
            return "newapi"
        if data.get("type") == "upstream_error":
            return "newapi"
        if {"timestamp", "status", "error", "path"} <= data.keys():
            return "spring"
        if data.get("success") is False and data.get("code") == -1:
            return "trueai"  # its exception filter's Result (Models/Result.cs)
    if reply.status == 401:
        if "authorization header missing" in reply.text.lower():
            return "trueai"
        if reply.blank:
            return "spring"
    # (the plain test first: the pattern's look-behind costs ~6 ms on a 100-task reply)
    if reply.is_json and "\\u" in reply.text and _DOTNET_ESCAPE.search(reply.text):
        return "trueai"
    return None


_AUTH_FIX = {
    # family → (the header style it reads, why another style fails)
    "trueai": (
        "raw",
        "this looks like a trueai server: it compares the Authorization header verbatim, so "
        "'Bearer <key>' never matches",
    ),
    "spring": (
        "mj-api-secret",
        "this looks like midjourney-proxy (an empty 401): it reads only the mj-api-secret header",
    ),
}


def auth_error(
    reply: Reply, path: str, *, style: str, has_key: bool, state: str | None = None
) -> AuthError:
    """HTTP 401/403, with advice that names the auth style the server reads when the reply
    shows which server it is (trueai answering 401 to ``Bearer …`` → set MJ_AUTH=raw)."""
    description = reply.description()
    family = server_family(reply)
    if not has_key:
        advice = "no API key was sent: set MJ_API_KEY (and MJ_AUTH) before creating the Client"
    elif family in _AUTH_FIX and _AUTH_FIX[family][0] != style:
        wanted, why = _AUTH_FIX[family]
        advice = f"{why}: set MJ_AUTH={wanted} (now {style}), then check MJ_API_KEY"
    elif family == "newapi":
        advice = (
            "the relay does not know this key (it reads every auth style): check MJ_API_KEY "
            "in the relay's token page"
        )
    else:
        advice = (
            "the server refused the API key; check MJ_API_KEY and MJ_AUTH "
            "(bearer | mj-api-secret | raw)"
        )
    return AuthError(
        description, http_status=reply.status, endpoint=path, state=state, advice=advice
    )
