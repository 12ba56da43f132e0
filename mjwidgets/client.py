"""Kernel-side HTTP client for the Midjourney-proxy ``/mj/...`` API.

Speaks to midjourney-proxy (OSS), its Plus/trueai forks and new-api resellers (DeerAPI …) — see
``shared/reference/mj-proxy-api.md``. Three promises shape this module:

* **No accidental double billing.** Queries are retried by urllib3 (``Retry`` on the Session);
  submits are resent only when the server cannot have seen them (connection refused) or refused
  them before processing (HTTP 429). A submit that may have arrived is never resent: the error says
  so (``maybe_submitted=True``) and carries the submit's ``state`` token to look it up.
* **The key stays secret.** It is attached only to requests for the API's own origin, never to
  image hosts or cross-origin redirects, and never appears in a repr, an error or a log line.
* **Every server dialect maps to one typed error** (``mjwidgets.errors``) that reads in one line.
"""

from __future__ import annotations

import copy
import email.utils
import io
import ipaddress
import json
import logging
import os
import re
import socket
import time
import uuid
import weakref
from collections.abc import Iterable
from typing import Any, Protocol
from urllib.parse import quote, urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    ResponseError,
)
from urllib3.util.retry import Retry

from . import media
from .errors import (
    AuthError,
    BannedPromptError,
    MJError,
    NotFoundError,
    QueueFullError,
    RateLimitError,
    ServerError,
    TaskFailed,
    TaskTimeout,
    TransportError,
    ValidationError,
)
from .models import Button, ButtonKind, Status, Task

__all__ = ["Client", "SubmitJournal", "AUTH_STYLES", "MODES"]

log = logging.getLogger("mjwidgets.client")

AUTH_STYLES = ("bearer", "mj-api-secret", "raw")
MODES = {"fast": "/mj-fast", "relax": "/mj-relax", "turbo": "/mj-turbo"}
_BOTS = {"mj": "MID_JOURNEY", "niji": "NIJI_JOURNEY"}
_BLEND_DIMENSIONS = {
    "PORTRAIT": "PORTRAIT",
    "2:3": "PORTRAIT",
    "SQUARE": "SQUARE",
    "1:1": "SQUARE",
    "LANDSCAPE": "LANDSCAPE",
    "3:2": "LANDSCAPE",
}
_ACCEPTED_CODES = (1, 21, 22)  # submitted, needs modal, queued
_QUERY_STATUSES = frozenset({429, 500, 502, 503, 504})
_RETRY_AFTER_MAX = 30  # seconds; a server asking for hours should surface as RateLimitError
MAX_PROMPT_CHARS = 6000  # a Discord slash-command option holds at most 6000 characters
_ZOOM = re.compile(r"--zoom\s+([0-9]*\.?[0-9]+)", re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# The key: held in a wrapper that never prints, and redacted from every log record


class _Secret:
    """The API key. Its repr is a placeholder, so no repr of anything holding it can leak it."""

    __slots__ = ("_value", "__weakref__")

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__


_LIVE_SECRETS: weakref.WeakSet[_Secret] = weakref.WeakSet()


def _redact(text: str) -> str:
    """Replace every live key in ``text`` (servers sometimes echo request headers back)."""
    for secret in list(_LIVE_SECRETS):
        value = secret.reveal()
        if len(value) >= 3 and value in text:
            text = text.replace(value, "***")
    return text


class _RedactingFilter(logging.Filter):
    """Last line of defence: no log record of mjwidgets.client may contain a key."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _LIVE_SECRETS:
            message = record.getMessage()
            cleaned = _redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, ()
        return True


if not any(isinstance(f, _RedactingFilter) for f in log.filters):
    log.addFilter(_RedactingFilter())


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


class _ApiKeyAuth(AuthBase):
    """Adds the key header only to requests whose origin (scheme, host, port) is the API's."""

    def __init__(self, secret: _Secret | None, style: str, api_origin: tuple) -> None:
        self._secret = secret
        self._style = style
        self._api_origin = api_origin

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self._secret is None or _origin(request.url or "") != self._api_origin:
            return request
        key = self._secret.reveal()
        if self._style == "mj-api-secret":
            request.headers["mj-api-secret"] = key
        elif self._style == "raw":
            request.headers["Authorization"] = key
        else:
            request.headers["Authorization"] = f"Bearer {key}"
        return request

    def __repr__(self) -> str:
        return f"<_ApiKeyAuth {self._style}>"


class _ApiSession(requests.Session):
    """A Session that drops both key headers whenever a redirect leaves the API's origin.

    requests itself strips only ``Authorization`` and only when the host changes.
    """

    def __init__(self, api_origin: tuple) -> None:
        super().__init__()
        self._api_origin = api_origin

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: Any) -> None:
        super().rebuild_auth(prepared_request, response)
        if _origin(prepared_request.url or "") != self._api_origin:
            prepared_request.headers.pop("mj-api-secret", None)
            prepared_request.headers.pop("Authorization", None)


# --------------------------------------------------------------------------------------------
# Retry policies (urllib3 Retry, mounted per path prefix; requests picks the longest prefix)


def _retry_after_seconds(value: Any) -> float | None:
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


class _Retry(Retry):
    """urllib3's Retry with two changes for a notebook:

    * a Retry-After longer than ``_RETRY_AFTER_MAX`` ends the retries at once, so the reply
      surfaces as RateLimitError (with ``retry_after``) instead of the kernel sleeping;
    * an unreadable Retry-After falls back to the backoff; urllib3 would fail the request with
      InvalidHeader, which turned a refused (429) submit into a "maybe submitted" one.
    """

    def parse_retry_after(self, retry_after: str) -> float:
        seconds = _retry_after_seconds(retry_after)
        return 0.0 if seconds is None else min(seconds, _RETRY_AFTER_MAX)

    def increment(  # type: ignore[override]
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> Retry:
        if response is not None and self.respect_retry_after_header:
            wait = _retry_after_seconds(response.headers.get("Retry-After"))
            if wait is not None and wait > _RETRY_AFTER_MAX:
                raise MaxRetryError(_pool, url, ResponseError(f"Retry-After {wait:.0f} s"))
        return super().increment(method, url, response, error, _pool, _stacktrace)


def _query_retry(methods: Iterable[str]) -> Retry:
    """Queries are safe to repeat: retry connect/read failures, 429 and 5xx with jittered backoff.

    4 attempts in all; sleeps 0, ~0.6, ~1.2 s (+ up to 0.3 s jitter), capped at 8 s, or what
    ``Retry-After`` asks (≤ 30 s). ``raise_on_status=False`` hands the last reply to our parser.
    """
    return _Retry(
        total=3,
        connect=3,
        read=3,
        status=3,
        other=0,
        allowed_methods=frozenset(methods),
        status_forcelist=_QUERY_STATUSES,
        backoff_factor=0.3,
        backoff_jitter=0.3,
        backoff_max=8,
        raise_on_status=False,
        respect_retry_after_header=True,
    )


def _submit_retry() -> Retry:
    """Submits: resend only what the server cannot have processed.

    * ``connect=2``: connection refused / connect timeout — nothing was sent;
    * ``status=2`` on 429 only (Retry-After honoured): the server refused before processing;
    * ``read=0, other=0``: a read timeout or reset after sending is never resent;
    * ``total=None`` also disables urllib3's implicit Retry-After retry of a 503.
    """
    return _Retry(
        total=None,
        connect=2,
        read=0,
        other=0,
        status=2,
        allowed_methods=frozenset({"POST"}),
        status_forcelist=frozenset({429}),
        backoff_factor=0.3,
        backoff_jitter=0.3,
        backoff_max=8,
        raise_on_status=False,
        respect_retry_after_header=True,
    )


# --------------------------------------------------------------------------------------------
# The journal hook (implemented by the history store)


class SubmitJournal(Protocol):
    """Records every submit so a lost reply never turns into a silent duplicate.

    ``before_submit`` runs just before the POST (if it raises, nothing is sent);
    ``after_submit`` reports outcome "ok", "error" (definitely not created) or "unknown" (may have
    been created); its exceptions are logged and swallowed.
    """

    def before_submit(self, endpoint: str, body: dict, state: str) -> None: ...

    def after_submit(
        self, state: str, task_id: str | None, outcome: str, error: Exception | None
    ) -> None: ...


def _journal_body(body: dict[str, Any]) -> dict[str, Any]:
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


def _as_int(value: Any) -> int | None:
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


def _read_capped(response: requests.Response, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to exceed ``limit`` bytes (never read whole)."""
    declared = _as_int(response.headers.get("Content-Length"))
    if declared is not None and declared > limit:
        return None
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_content(chunk_size=65536):
        total += len(chunk)
        if total > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class _Reply:
    """A response read once: status, text, and the JSON value if the body parsed as JSON."""

    def __init__(self, response: requests.Response, content: bytes) -> None:
        self.status = response.status_code
        self.headers = response.headers
        self.text = _decode(content, response.headers.get("Content-Type")) if content else ""
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
            code = _as_int(self.json.get("code"))
            if code is None and isinstance(self.json.get("error"), dict):
                code = _as_int(self.json["error"].get("code"))
            return code
        return None


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    return _retry_after_seconds(value)


def _error_for_code(code: int, description: str, properties: dict, **context: Any) -> MJError:
    """Map a proxy envelope / new-api code to its typed error."""
    lowered = description.lower()
    if code == 3:
        return NotFoundError(description, code=code, **context)
    if code == 4:
        if any(word in lowered for word in ("not_found", "no_found", "not found", "不存在")):
            return NotFoundError(description, code=code, **context)
        return ValidationError(description, code=code, **context)
    if code == 23 or (code == 9 and ("队列已满" in description or "queue" in lowered)):
        return QueueFullError(description, code=code, **context)
    if code == 24:
        banned = properties.get("bannedWord") if isinstance(properties, dict) else None
        return BannedPromptError(description, code=code, banned_word=banned, **context)
    if code == 30:
        return RateLimitError(description, code=code, **context)
    return ServerError(description, code=code, **context)


# --------------------------------------------------------------------------------------------


def _normalise_base_url(url: str) -> tuple[str, str | None]:
    """``https://host[/sub][/mj-fast][/mj][/]`` → (``https://host[/sub]``, mode or None)."""
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValidationError(
            f"base URL {text!r} is not an http(s) URL",
            advice="set MJ_BASE_URL like https://api.example.com (with or without /mj)",
        )
    path = parts.path.rstrip("/")
    if path.lower().endswith("/mj"):
        path = path[: -len("/mj")]
    mode = None
    match = re.search(r"/mj-(fast|relax|turbo)$", path, re.IGNORECASE)
    if match:
        mode = match.group(1).lower()
        path = path[: match.start()]
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}", mode


def _new_state() -> str:
    return f"mjw-{uuid.uuid4().hex}"


def _require_prompt(prompt: Any, what: str = "prompt") -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValidationError(f"the {what} is blank", advice="write what Midjourney should draw")
    return _check_prompt_length(prompt.strip(), what)


def _check_prompt_length(text: str, what: str = "prompt") -> str:
    """Refuse what Discord would: the proxies type prompts into a Discord slash command, whose
    options hold at most 6000 characters. Sent anyway, such a job is refused late or never
    matched and stays IN_PROGRESS (reference §7.3, complaint 1)."""
    if len(text) > MAX_PROMPT_CHARS:
        raise ValidationError(
            f"the {what} has {len(text)} characters; Discord accepts at most {MAX_PROMPT_CHARS}",
            advice=f"shorten it to at most {MAX_PROMPT_CHARS} characters",
        )
    return text


def _ip_is_internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_unspecified
        or ip.is_multicast
    )


_TRANSPORT_CAUSES = (NewConnectionError, ConnectTimeoutError, ReadTimeoutError, ProtocolError)


def _transport_cause(exc: BaseException) -> BaseException | None:
    """The urllib3 error that classifies a requests exception (through MaxRetryError.reason)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _TRANSPORT_CAUSES):
            return current
        if isinstance(current, MaxRetryError) and current.reason is not None:
            current = current.reason
            continue
        inner = next((a for a in current.args if isinstance(a, BaseException)), None)
        current = inner or current.__cause__ or current.__context__
    return None


def _nothing_was_sent(exc: requests.RequestException) -> bool:
    """True only when the failure happened before the request could reach the server."""
    if isinstance(exc, (requests.ConnectTimeout, requests.exceptions.InvalidURL)):
        return True
    cause = _transport_cause(exc)
    if isinstance(cause, (NewConnectionError, ConnectTimeoutError)):
        return True
    if cause is not None:  # read timeout, reset or broken reply: it may have arrived
        return False
    return isinstance(exc, requests.exceptions.SSLError)


class Client:
    """Client of one Midjourney-proxy server.

    ``base_url``/``api_key``/``auth`` default to ``MJ_BASE_URL``/``MJ_API_KEY``/``MJ_AUTH``; with no
    base URL at all an embedded simulator is started. ``auth`` is "bearer" (new-api resellers,
    default), "mj-api-secret" (OSS/Plus) or "raw" (trueai ``Authorization: <key>``). ``mode`` picks
    the ``/mj-fast|/mj-relax|/mj-turbo`` prefix. ``timeout`` is seconds or (connect, read).
    API replies larger than ``max_reply_bytes`` are refused unread (ServerError).
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        auth: str | None = None,
        mode: str | None = None,
        timeout: float | tuple[float, float] = (5, 30),
        journal: SubmitJournal | None = None,
        allow_private_image_hosts: bool = False,
        max_reply_bytes: int = 20_000_000,
    ) -> None:
        style = (auth or os.environ.get("MJ_AUTH") or "bearer").strip().lower()
        if style not in AUTH_STYLES:
            raise ValidationError(
                f"unknown auth style {style!r}", advice=f"use one of {', '.join(AUTH_STYLES)}"
            )
        if mode is not None and mode not in MODES:
            raise ValidationError(
                f"unknown mode {mode!r}", advice=f"use one of {', '.join(MODES)} or None"
            )
        self.is_simulator = False
        self._simulator: Any = None
        base_url = base_url or os.environ.get("MJ_BASE_URL") or None
        if api_key is None and base_url:  # never send an env key to the local simulator
            api_key = os.environ.get("MJ_API_KEY") or None
        if not base_url:
            base_url = self._start_embedded_simulator()
        root, url_mode = _normalise_base_url(base_url)
        self.base_url = root
        self.mode = mode or url_mode
        self.auth_style = style
        self.timeout = timeout
        self.journal = journal
        # Set by the tracker: where Task.image()/tiles()/save() get images (a local cache).
        self.image_provider: Any = None
        self.allow_private_image_hosts = allow_private_image_hosts
        self.max_reply_bytes = max_reply_bytes
        self._api = f"{MODES[self.mode]}/mj" if self.mode else "/mj"
        self._secret = _Secret(api_key) if api_key else None
        if self._secret is not None:
            _LIVE_SECRETS.add(self._secret)
        self._origin = _origin(root)
        self._image_sizes: dict[str, tuple[int, int]] = {}
        self._session = self._build_session()

    # -- set-up ------------------------------------------------------------------------------

    def _start_embedded_simulator(self) -> str:
        from mjwidgets import sim  # the only place the client touches the simulator

        self._simulator = sim.embedded()
        self.is_simulator = True
        url = self._simulator.url
        log.info("no MJ_BASE_URL set; using the embedded simulator at %s", url)
        print(
            f"mjwidgets: no MJ_BASE_URL set — using the embedded simulator at {url} "
            "(set MJ_BASE_URL and MJ_API_KEY for a real service)",
        )
        return url

    def _build_session(self) -> requests.Session:
        session = _ApiSession(self._origin)
        session.auth = _ApiKeyAuth(self._secret, self.auth_style, self._origin)
        session.headers["User-Agent"] = "mjwidgets"
        anywhere = HTTPAdapter(max_retries=_query_retry({"GET"}))
        session.mount("http://", anywhere)  # image downloads
        session.mount("https://", anywhere)
        # Other API paths (fetch, image-seed, cancel): GETs retried; POSTs only on connect errors.
        session.mount(f"{self.base_url}/", HTTPAdapter(max_retries=_query_retry({"GET"})))
        session.mount(
            f"{self.base_url}{self._api}/task/list-by-condition",
            HTTPAdapter(max_retries=_query_retry({"GET", "POST"})),
        )
        session.mount(
            f"{self.base_url}{self._api}/submit/", HTTPAdapter(max_retries=_submit_retry())
        )
        return session

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        parts = urlsplit(self.base_url)
        shown = f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}"
        return (
            f"<Client {shown}{parts.path} auth={self.auth_style} mode={self.mode} "
            f"key={'set' if self._secret else 'unset'}>"
        )

    # -- HTTP --------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: dict | None = None,
        submit: bool = False,
        state: str | None = None,
    ) -> _Reply:
        try:
            response = self._session.request(
                method, self.base_url + path, json=body, timeout=self.timeout, stream=True
            )
        except requests.RequestException as exc:
            raise self._transport_error(exc, method, path, submit=submit, state=state) from exc
        with response:  # closing an unread body drops the connection instead of draining it
            log.debug("%s %s -> %s", method, path, response.status_code)
            try:
                content = _read_capped(response, self.max_reply_bytes)
            except requests.RequestException as exc:  # reset or timeout while reading the body
                raise self._transport_error(exc, method, path, submit=submit, state=state) from exc
            if content is None:
                raise ServerError(
                    f"the reply is larger than {self.max_reply_bytes} bytes; not read",
                    http_status=response.status_code,
                    endpoint=path,
                    state=state,
                    maybe_submitted=submit,
                    advice="check MJ_BASE_URL (an API reply is a few kB), or raise "
                    "Client(max_reply_bytes=…)",
                )
            return _Reply(response, content)

    def _transport_error(
        self,
        exc: requests.RequestException,
        method: str,
        path: str,
        *,
        submit: bool,
        state: str | None,
    ) -> TransportError:
        cause = _transport_cause(exc)
        if isinstance(cause, ReadTimeoutError) or isinstance(exc, requests.ReadTimeout):
            what = "no reply before the read timeout"
        elif isinstance(cause, (NewConnectionError, ConnectTimeoutError)):
            what = "could not connect"
        elif isinstance(cause, ProtocolError):
            what = "the connection was reset"
        else:
            what = type(cause or exc).__name__
        log.debug("%s %s -> %s", method, path, what)
        return TransportError(
            _redact(f"{what} ({method})"),
            endpoint=path,
            state=state,
            maybe_submitted=submit and not _nothing_was_sent(exc),
        )

    def _error(
        self,
        reply: _Reply,
        path: str,
        *,
        submit: bool,
        state: str | None = None,
        unknown_task: str | None = None,
    ) -> MJError:
        """The typed error for a reply that is not what the endpoint promises."""
        description = _redact(reply.description())
        context: dict[str, Any] = {
            "http_status": reply.status,
            "endpoint": path,
            "state": state,
            "task_id": unknown_task,
        }
        code = reply.code()
        if reply.status in (401, 403):
            return AuthError(description, code=code, **context)
        if reply.status == 429:
            return RateLimitError(
                description, code=code, retry_after=_retry_after(reply.headers), **context
            )
        if reply.status >= 500:
            return ServerError(description, code=code, maybe_submitted=submit, **context)
        data = reply.json if isinstance(reply.json, dict) else {}
        if data.get("success") is False and code == -1:  # trueai business-rule exception
            if "队列" in description or "queue" in description.lower():
                return QueueFullError(description, code=code, **context)
            return ServerError(description, code=code, **context)
        if code is not None and code not in _ACCEPTED_CODES:
            return _error_for_code(code, description, data.get("properties") or {}, **context)
        if reply.status in (404, 405):
            if unknown_task:
                return NotFoundError("the server does not know this task", **context)
            return NotFoundError(
                f"the server does not support {path}",
                advice="this server does not offer it (the open-source midjourney-proxy lacks "
                "action, modal, shorten, image-seed and cancel; new-api resellers lack cancel); "
                "check MJ_BASE_URL",
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
                f"malformed JSON: {_redact(reply.text)[:80]!r}", maybe_submitted=submit, **context
            )
        return ServerError(
            f"unexpected reply {_redact(reply.text)[:80]!r}", maybe_submitted=submit, **context
        )

    def _envelope(
        self, reply: _Reply, path: str, *, submit: bool = False, state: str | None = None
    ) -> tuple[int, Any, dict]:
        """(code, result, properties) of an accepted envelope, else the typed error."""
        data = reply.json
        if 200 <= reply.status < 300 and isinstance(data, dict) and "code" in data:
            code = _as_int(data.get("code"))
            if code in _ACCEPTED_CODES:
                properties = data.get("properties")
                return code, data.get("result"), properties if isinstance(properties, dict) else {}
        raise self._error(reply, path, submit=submit, state=state)

    # -- submits -----------------------------------------------------------------------------

    def _submit(
        self, name: str, body: dict[str, Any], *, state: str | None, journal: bool = True
    ) -> tuple[int, Any, dict]:
        path = f"{self._api}/submit/{name}"
        body = {key: value for key, value in body.items() if value is not None}
        if state is not None:
            if len(state) > 255:
                raise ValidationError(
                    "state is longer than 255 characters", advice="use a shorter correlation token"
                )
            body["state"] = state
        if journal and self.journal is not None:
            self.journal.before_submit(path, _journal_body(body), state or "")
        try:
            code, result, properties = self._envelope(
                self._send("POST", path, body=body, submit=True, state=state),
                path,
                submit=True,
                state=state,
            )
        except BaseException as exc:  # an interrupt mid-request may also have submitted
            maybe = exc.maybe_submitted if isinstance(exc, MJError) else True
            if journal:
                self._after_submit(state, None, "unknown" if maybe else "error", exc)
            raise
        if journal:
            task_id = None if isinstance(result, list) or result is None else str(result)
            self._after_submit(state, task_id, "ok", None)
        return code, result, properties

    def _after_submit(
        self, state: str | None, task_id: str | None, outcome: str, error: BaseException | None
    ) -> None:
        if self.journal is None:
            return
        try:
            self.journal.after_submit(state or "", task_id, outcome, error)  # type: ignore[arg-type]
        except Exception as exc:  # the submit itself already happened; don't hide its result
            log.warning("journal.after_submit failed: %s", _redact(repr(exc)))

    def _task_after_submit(
        self, code: int, result: Any, name: str, *, state: str | None, properties: dict
    ) -> Task:
        """Re-read the new task once: new-api rewrites 21/22 to 1, so only its status is truth."""
        if result is None or isinstance(result, (list, dict)) or not str(result).strip():
            raise ServerError(
                f"no task id in the reply (code {code})",
                endpoint=f"{self._api}/submit/{name}",
                state=state,
                maybe_submitted=True,
            )
        if isinstance(result, float) and result.is_integer():  # a reseller's numeric id
            result = int(result)
        task_id = str(result).strip()
        implied = {21: Status.MODAL, 22: Status.NOT_START}.get(code, Status.SUBMITTED)
        try:
            task = self.fetch(task_id)
        except MJError as exc:
            log.warning(
                "fetch after submit of %s failed (%s); assuming %s",
                task_id,
                type(exc).__name__,
                implied.value,
            )
            task = Task(
                id=task_id,
                status=implied,
                status_raw=implied.value,
                state=state or "",
                properties=dict(properties),
            )
        if task.status is Status.UNKNOWN and not task.status_raw:
            task.status, task.status_raw = implied, implied.value
        return task._bind(self)

    # -- public API: submits -----------------------------------------------------------------

    def imagine(
        self,
        prompt: str,
        *,
        images: Iterable[media.ImageInput] | None = None,
        bot: str = "mj",
        state: str | None = None,
        notify_hook: str | None = None,
    ) -> Task:
        """Start an /imagine job; reference ``images`` are prepended to the prompt by the server."""
        text = _require_prompt(prompt)
        bot_type = _BOTS.get(bot.lower()) if isinstance(bot, str) else None
        if bot_type is None and isinstance(bot, str) and bot.upper() in _BOTS.values():
            bot_type = bot.upper()
        if bot_type is None:
            raise ValidationError(f"unknown bot {bot!r}", advice="use bot='mj' or bot='niji'")
        data_urls = [media.to_data_url(image) for image in _as_list(images)]
        state = state or _new_state()
        body = {
            "prompt": text,
            "base64Array": data_urls or None,
            "botType": bot_type,
            "notifyHook": notify_hook,
        }
        code, result, props = self._submit("imagine", body, state=state)
        return self._task_after_submit(code, result, "imagine", state=state, properties=props)

    def action(
        self,
        task: Task | str,
        button: Button | str,
        *,
        state: str | None = None,
        notify_hook: str | None = None,
    ) -> Task:
        """Press a button of a SUCCESS task ("U2", "Vary (Region)", "🔄", a customId or a Button).

        A Vary (Region) / Custom Zoom press returns a MODAL task: finish it with ``modal()``.
        """
        parent = task if isinstance(task, Task) else self.fetch(str(task))
        if parent.status is not Status.SUCCESS:
            raise ValidationError(
                f"task {parent.id} is {parent.status_raw or parent.status.value}, not SUCCESS",
                task_id=parent.id,
                advice="buttons can be pressed only on a finished task; wait for it first",
            )
        chosen = parent.button(button)
        state = state or _new_state()
        body = {"taskId": parent.id, "customId": chosen.custom_id, "notifyHook": notify_hook}
        code, result, props = self._submit("action", body, state=state)
        if str(result) == parent.id:  # e.g. ❤️ bookmark: no new task
            return self.fetch(parent.id)
        child = self._task_after_submit(code, result, "action", state=state, properties=props)
        child.parent_id = parent.id
        child.origin_button = chosen
        child.parent_image_size = parent.image_size or self._image_sizes.get(parent.image_url or "")
        return child

    def modal(
        self,
        task: Task | str,
        *,
        prompt: str | None = None,
        mask: media.ImageInput = None,
        notify_hook: str | None = None,
    ) -> Task:
        """Finish a MODAL task: a mask (+ prompt) for Vary (Region), ``--zoom`` for Custom Zoom."""
        pending = task if isinstance(task, Task) else self.fetch(str(task))
        if pending.status is not Status.MODAL:
            raise ValidationError(
                f"task {pending.id} is {pending.status_raw or pending.status.value}, not MODAL",
                task_id=pending.id,
                advice="pass the MODAL task that client.action(…) returned for Vary (Region), "
                "Custom Zoom or a describe/shorten pick",
            )
        kind = _modal_kind(pending)
        body: dict[str, Any] = {
            "taskId": pending.id,
            "prompt": _check_prompt_length((prompt or "").strip()),
        }
        if notify_hook:
            body["notifyHook"] = notify_hook
        if kind is ButtonKind.CUSTOM_ZOOM:
            check_zoom_prompt(body["prompt"])
        if kind is ButtonKind.INPAINT and mask is None:
            raise ValidationError(
                "Vary (Region) needs a mask",
                task_id=pending.id,
                advice="pass mask= (white = regenerate, black = keep) at the upscaled image's size",
            )
        if mask is not None:
            if kind not in (ButtonKind.INPAINT, None):
                raise ValidationError(
                    f"a mask applies only to Vary (Region), not to {kind.value}",
                    task_id=pending.id,
                    advice="drop the mask argument",
                )
            body["maskBase64"] = media.mask_data_url(mask, size=pending.parent_image_size)
        state = _new_state()
        code, result, props = self._submit("modal", body, state=state)
        done = self._task_after_submit(
            code, result or pending.id, "modal", state=state, properties=props
        )
        done.parent_id = done.parent_id or pending.parent_id
        done.origin_button = done.origin_button or pending.origin_button
        done.parent_image_size = done.parent_image_size or pending.parent_image_size
        done.modal_submitted = pending.modal_submitted = True
        done._settle_modal()
        pending._settle_modal()
        return done

    def blend(
        self,
        images: Iterable[media.ImageInput],
        *,
        dimensions: str = "SQUARE",
        state: str | None = None,
    ) -> Task:
        """Blend 2–5 images; ``dimensions`` PORTRAIT (2:3), SQUARE (1:1) or LANDSCAPE (3:2)."""
        items = _as_list(images)
        if not 2 <= len(items) <= 5:
            raise ValidationError(
                f"blend takes 2 to 5 images, got {len(items)}", advice="pass between 2 and 5 images"
            )
        shape = _BLEND_DIMENSIONS.get(str(dimensions).upper())
        if shape is None:
            raise ValidationError(
                f"unknown dimensions {dimensions!r}", advice="use PORTRAIT, SQUARE or LANDSCAPE"
            )
        state = state or _new_state()
        body = {"base64Array": [media.to_data_url(i) for i in items], "dimensions": shape}
        code, result, props = self._submit("blend", body, state=state)
        return self._task_after_submit(code, result, "blend", state=state, properties=props)

    def describe(self, image: media.ImageInput, *, state: str | None = None) -> Task:
        """Ask Midjourney for four prompts describing ``image`` (in ``properties.finalPrompt``)."""
        data_url = media.to_data_url(image)
        state = state or _new_state()
        code, result, props = self._submit("describe", {"base64": data_url}, state=state)
        return self._task_after_submit(code, result, "describe", state=state, properties=props)

    def shorten(self, prompt: str, *, state: str | None = None) -> Task:
        """Analyse a prompt and propose shorter ones (Plus/trueai)."""
        text = _require_prompt(prompt)
        state = state or _new_state()
        code, result, props = self._submit("shorten", {"prompt": text}, state=state)
        return self._task_after_submit(code, result, "shorten", state=state, properties=props)

    def upload(self, images: Iterable[media.ImageInput] | media.ImageInput) -> list[str]:
        """Upload images to the server's Discord channel; returns their URLs (not journaled)."""
        items = _as_list(images)
        if not items:
            raise ValidationError("no images to upload", advice="pass at least one image")
        body = {"base64Array": [media.to_data_url(i) for i in items]}
        _, result, _ = self._submit("upload-discord-images", body, state=None, journal=False)
        urls = result if isinstance(result, list) else [result] if result else []
        return [str(url) for url in urls]

    # -- public API: queries -----------------------------------------------------------------

    def _task_path(self, task_id: Any, suffix: str) -> tuple[str, str]:
        text = str(task_id.id if isinstance(task_id, Task) else task_id or "").strip()
        if not text:
            raise ValidationError("the task id is blank", advice="pass a task or its id")
        if not text.strip("."):  # "." or "..": a dot segment that URLs resolve away
            raise ValidationError(
                f"refused the task id {text!r}: it would address another URL",
                advice="check the id; the server's task ids are numbers or UUIDs",
            )
        return text, f"{self._api}/task/{quote(text, safe='')}/{suffix}"

    def fetch(self, task_id: str | Task) -> Task:
        """The task's current state (GET /task/{id}/fetch, retried on transient failures)."""
        text, path = self._task_path(task_id, "fetch")
        reply = self._send("GET", path)
        data = reply.json
        if (
            reply.status == 200
            and isinstance(data, dict)
            and (data.get("id") or "code" not in data)
        ):
            task = Task.from_json(data)
            task.id = task.id or text
            return task._bind(self)
        raise self._error(reply, path, submit=False, unknown_task=text)

    def fetch_many(self, ids: Iterable[str | Task]) -> list[Task]:
        """Several tasks in one request (POST /task/list-by-condition); unknown ids are omitted."""
        wanted: list[str] = []
        for item in ids:
            text = str(item.id if isinstance(item, Task) else item).strip()
            if text and text not in wanted:
                wanted.append(text)
        if not wanted:
            return []
        path = f"{self._api}/task/list-by-condition"
        reply = self._send("POST", path, body={"ids": wanted})
        if reply.status != 200 or not isinstance(reply.json, list):
            raise self._error(reply, path, submit=False)
        found = {}
        for item in reply.json:
            if isinstance(item, dict):
                task = Task.from_json(item)._bind(self)
                found[task.id] = task
        return [found[task_id] for task_id in wanted if task_id in found]

    def image_seed(self, task_id: str | Task) -> str:
        """The Midjourney seed of a finished task (GET /task/{id}/image-seed)."""
        text, path = self._task_path(task_id, "image-seed")
        reply = self._send("GET", path)
        if reply.status == 404 and not (isinstance(reply.json, dict) and "code" in reply.json):
            raise self._error(reply, path, submit=False)
        _, result, _ = self._envelope(reply, path)
        if result is None or str(result).strip() == "":
            raise ServerError("no seed in the reply", endpoint=path, task_id=text)
        return str(result)

    def cancel(self, task_id: str | Task) -> Task:
        """Ask the server to cancel a queued or running task; returns the task re-read after."""
        text, path = self._task_path(task_id, "cancel")
        reply = self._send("POST", path, body={})
        failed = reply.status >= 300 or (
            isinstance(reply.json, dict)
            and "code" in reply.json
            and _as_int(reply.json.get("code")) not in _ACCEPTED_CODES
        )
        if failed:
            raise self._error(reply, path, submit=False)
        return self.fetch(text)

    # -- waiting -----------------------------------------------------------------------------

    def wait(
        self, task: Task | str, *, timeout: float = 900, interval: float | None = None
    ) -> Task:
        """Poll until the task is terminal or MODAL; updates a Task argument in place.

        A plain blocking loop (no asyncio, so it works inside a running kernel). Without
        ``interval`` the cadence adapts: a first probe after 0.5 s, 1 s while IN_PROGRESS, slowing
        from 1 s towards 5 s while queued. Transient errors while polling are logged and polling
        continues until the deadline. Raises TaskFailed on FAILURE and TaskTimeout at the deadline.
        """
        current = task if isinstance(task, Task) else self.fetch(str(task))
        if current._client is None:
            current._bind(self)
        deadline = time.monotonic() + timeout
        polls = 0
        queued_polls = 0
        while True:
            if current.status is Status.FAILURE:
                raise TaskFailed(current, _redact(current.fail_reason))
            if current.is_done or current.needs_modal:
                return current
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TaskTimeout(current, timeout)
            if interval is not None:
                delay = interval
            elif polls == 0:
                delay = 0.5
            elif current.status is Status.IN_PROGRESS:
                delay = 1.0
            else:
                delay = min(5.0, 1.5**queued_polls)
                queued_polls += 1
            time.sleep(max(0.0, min(delay, remaining)))
            polls += 1
            try:
                current.update_from(self.fetch(current.id))
            except (TransportError, ServerError, RateLimitError) as exc:
                log.warning("polling %s failed, will retry: %s", current.id, type(exc).__name__)

    # -- images ------------------------------------------------------------------------------

    def _check_image_host(self, url: str) -> None:
        if not isinstance(url, str):
            raise ValidationError(
                f"refused to download a {type(url).__name__}: not a URL",
                advice="pass the task's image_url",
            )
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValidationError(
                f"refused to download {url[:80]!r}: not an http(s) URL",
                advice="pass the task's image_url",
            )
        host = parts.hostname.lower()
        if host == self._origin[1] or self.allow_private_image_hosts:
            return
        try:
            infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
        except socket.gaierror as exc:
            raise TransportError(
                f"cannot resolve image host {host}: {exc.strerror}", endpoint=host
            ) from exc
        internal = [info[4][0] for info in infos if _ip_is_internal(info[4][0])]
        if internal:
            raise ValidationError(
                f"refused to download from {host}: it resolves to the internal address "
                f"{internal[0]}",
                advice="pass Client(allow_private_image_hosts=True) if you trust that host",
            )

    def download(self, url: str, *, max_bytes: int = 50_000_000) -> bytes:
        """Fetch an image. The key goes only to the API's own origin; the size is capped."""
        current = url
        for _ in range(6):
            self._check_image_host(current)
            parts = urlsplit(current)
            shown = f"{parts.scheme}://{parts.netloc}{parts.path}"  # no signed query params
            try:
                response = self._session.get(
                    current, stream=True, timeout=self.timeout, allow_redirects=False
                )
            except requests.RequestException as exc:
                raise self._transport_error(exc, "GET", shown, submit=False, state=None) from exc
            with response:
                log.debug("GET %s -> %s", shown, response.status_code)
                if response.is_redirect and response.headers.get("Location"):
                    current = urljoin(current, response.headers["Location"])
                    continue
                if response.status_code >= 400:
                    raise _download_error(response.status_code, shown)
                declared = _as_int(response.headers.get("Content-Length"))
                if declared is not None and declared > max_bytes:
                    raise _too_big(shown, max_bytes)
                chunks: list[bytes] = []
                total = 0
                try:
                    for chunk in response.iter_content(chunk_size=65536):
                        total += len(chunk)
                        if total > max_bytes:
                            raise _too_big(shown, max_bytes)
                        chunks.append(chunk)
                except requests.RequestException as exc:
                    raise self._transport_error(
                        exc, "GET", shown, submit=False, state=None
                    ) from exc
            data = b"".join(chunks)
            self._remember_image_size(url, data)
            return data
        raise ServerError("too many redirects", endpoint=url[:80])

    def _remember_image_size(self, url: str, data: bytes) -> None:
        """Keep the pixel size of downloaded images: a Vary (Region) mask must match it."""
        from PIL import Image

        try:
            with Image.open(io.BytesIO(data)) as image:  # reads the header only
                size = image.size
        except Exception:  # noqa: BLE001 - not an image we can measure; no size check then
            return
        if len(self._image_sizes) > 512:
            self._image_sizes.clear()
        self._image_sizes[url] = size


def _download_error(status: int, shown: str) -> MJError:
    if status in (401, 403, 404, 410):
        return NotFoundError(
            f"the image is not available at {shown}",
            http_status=status,
            endpoint=shown,
            advice="image links expire (Discord: ~24 h); fetch the task again for a fresh URL",
        )
    if status == 429:
        return RateLimitError(f"image host rate limit for {shown}", http_status=status)
    return ServerError(f"could not download {shown}", http_status=status, endpoint=shown)


def _too_big(shown: str, max_bytes: int) -> ValidationError:
    return ValidationError(
        f"refused {shown}: larger than {max_bytes} bytes",
        advice="raise max_bytes if you trust this image",
    )


def _as_list(images: Any) -> list[Any]:
    if images is None:
        return []
    if (
        isinstance(images, (str, bytes, bytearray, memoryview, os.PathLike))
        or hasattr(images, "__array_interface__")
        or not isinstance(images, Iterable)
    ):
        return [images]
    try:
        from PIL import Image

        if isinstance(images, Image.Image):
            return [images]
    except ImportError:  # pragma: no cover - Pillow is a dependency
        pass
    return list(images)


def _modal_kind(task: Task) -> ButtonKind | None:
    """Which button made this MODAL task: from our lineage, new-api's action, or trueai props."""
    if task.origin_button is not None:
        return task.origin_button.kind
    action = task.action.upper()
    if action == "INPAINT":
        return ButtonKind.INPAINT
    if action == "CUSTOM_ZOOM":
        return ButtonKind.CUSTOM_ZOOM
    for source in (task.properties, task.raw):
        for key in ("custom_id", "customId", "remix_custom_id"):
            value = source.get(key)
            if isinstance(value, str) and value:
                kind = Button(custom_id=value).kind
                if kind is not ButtonKind.OTHER:
                    return kind
    return None


def check_zoom_prompt(prompt: str) -> None:
    """Refuse a Custom Zoom prompt without ``--zoom`` between 1 and 2 (no request is made)."""
    match = _ZOOM.search(prompt)
    example = "e.g. 'a red fox in snow --zoom 1.5'"
    if not match:
        raise ValidationError(
            "Custom Zoom needs --zoom in the prompt",
            advice=f"end the prompt with --zoom <1..2>, {example}",
        )
    value = float(match.group(1))
    if not 1.0 <= value <= 2.0:
        raise ValidationError(
            f"--zoom {match.group(1)} is outside 1..2",
            advice=f"use a zoom between 1 and 2, {example}",
        )
