"""One server's HTTP: the key, auth styles, retries, capped reads, and replies turned into errors.

Three promises shape this module:

* **No accidental double billing.** Queries are retried by urllib3 (``Retry`` mounted on the
  Session per path prefix); submits are resent only when the server cannot have seen them
  (connection refused) or refused them before processing (HTTP 429). A submit that may have
  arrived is never resent: the error says so (``maybe_submitted=True``).
* **The key stays secret.** It is attached only to requests for the API's own origin, never to
  image hosts or cross-origin redirects, and is redacted from every reply, error and log line.
* **Every server dialect maps to one typed error** (``mjwidgets.errors``), through one table of
  HTTP statuses and envelope codes (:func:`error_for_reply`).

The API's calls themselves (imagine, action, …) live in ``client``; this module knows nothing of
tasks or buttons.
"""

from __future__ import annotations

import io
import ipaddress
import re
import socket
from collections.abc import Iterable
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    ResponseError,
)
from urllib3.util.retry import Retry

from .errors import (
    MJError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
    ValidationError,
)
from .keys import ApiKeyAuth, ApiSession, Secret, origin_of, redact, redacting_logger
from .replies import (
    ACCEPTED_CODES,
    Reply,
    as_int,
    auth_error,
    error_for_reply,
    retry_after_seconds,
)

__all__ = [
    "AUTH_STYLES",
    "MODES",
    "ACCEPTED_CODES",
    "Reply",
    "error_for_reply",
    "Transport",
    "redact",
    "redacting_logger",
]

AUTH_STYLES = ("bearer", "mj-api-secret", "raw")
MODES = {"fast": "/mj-fast", "relax": "/mj-relax", "turbo": "/mj-turbo"}
_QUERY_STATUSES = frozenset({429, 500, 502, 503, 504})
_RETRY_AFTER_MAX = 30  # seconds; a server asking for hours should surface as RateLimitError

log = redacting_logger("mjwidgets.transport")

# --------------------------------------------------------------------------------------------
# Retry policies (urllib3 Retry, mounted per path prefix; requests picks the longest prefix)


class _Retry(Retry):
    """urllib3's Retry with two changes for a notebook:

    * a Retry-After longer than ``_RETRY_AFTER_MAX`` ends the retries at once, so the reply
      surfaces as RateLimitError (with ``retry_after``) instead of the kernel sleeping;
    * an unreadable Retry-After falls back to the backoff; urllib3 would fail the request with
      InvalidHeader, which turned a refused (429) submit into a "maybe submitted" one.
    """

    def parse_retry_after(self, retry_after: str) -> float:
        seconds = retry_after_seconds(retry_after)
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
            wait = retry_after_seconds(response.headers.get("Retry-After"))
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


def _read_capped(response: requests.Response, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to exceed ``limit`` bytes (never read whole)."""
    declared = as_int(response.headers.get("Content-Length"))
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


class RequestWatcher(Protocol):
    """Sees every API request: may refuse one before it is sent (a route known to be missing),
    and learns from every reply before anyone reads it (``capabilities.Capabilities``)."""

    def check_request(self, method: str, path: str) -> None: ...

    def observe_reply(self, method: str, path: str, reply: Reply) -> None: ...


class Transport:
    """HTTP to one Midjourney-proxy server: ``request`` for the API, ``download`` for images.

    ``base_url`` is the server root (``_normalise_base_url`` strips a trailing ``/mj`` and a
    speed-mode prefix); ``mode`` picks ``/mj-fast|/mj-relax|/mj-turbo``; ``auth`` is "bearer",
    "mj-api-secret" or "raw". Replies larger than ``max_reply_bytes`` are refused unread.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        auth: str,
        mode: str | None,
        timeout: float | tuple[float, float],
        allow_private_image_hosts: bool,
        max_reply_bytes: int,
    ) -> None:
        root, url_mode = _normalise_base_url(base_url)
        self.base_url = root
        self.mode = mode or url_mode
        self.auth_style = auth
        self.timeout = timeout
        self.allow_private_image_hosts = allow_private_image_hosts
        self.max_reply_bytes = max_reply_bytes
        self.api = f"{MODES[self.mode]}/mj" if self.mode else "/mj"
        self._secret = Secret(api_key) if api_key else None
        self._origin = origin_of(root)
        self._image_sizes: dict[str, tuple[int, int]] = {}
        self._session = self._build_session()
        self.watcher: RequestWatcher | None = None

    @property
    def has_key(self) -> bool:
        return self._secret is not None

    def _build_session(self) -> requests.Session:
        session = ApiSession(self._origin)
        session.auth = ApiKeyAuth(self._secret, self.auth_style, self._origin)
        session.headers["User-Agent"] = "mjwidgets"
        anywhere = HTTPAdapter(max_retries=_query_retry({"GET"}))
        session.mount("http://", anywhere)  # image downloads
        session.mount("https://", anywhere)
        # Other API paths (fetch, image-seed, cancel): GETs retried; POSTs only on connect errors.
        session.mount(f"{self.base_url}/", HTTPAdapter(max_retries=_query_retry({"GET"})))
        session.mount(
            f"{self.base_url}{self.api}/task/list-by-condition",
            HTTPAdapter(max_retries=_query_retry({"GET", "POST"})),
        )
        session.mount(
            f"{self.base_url}{self.api}/submit/", HTTPAdapter(max_retries=_submit_retry())
        )
        return session

    def close(self) -> None:
        self._session.close()

    def __repr__(self) -> str:
        parts = urlsplit(self.base_url)
        shown = f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}"
        return (
            f"<Transport {shown}{parts.path} auth={self.auth_style} mode={self.mode} "
            f"key={'set' if self._secret else 'unset'}>"
        )

    def image_size(self, url: str | None) -> tuple[int, int] | None:
        """The pixel size of an image downloaded from ``url`` in this session, if any."""
        return self._image_sizes.get(url or "")

    def request(
        self,
        method: str,
        path: str,
        *,
        body: dict | None = None,
        submit: bool = False,
        state: str | None = None,
    ) -> Reply:
        if self.watcher is not None:
            self.watcher.check_request(method, path)  # raises before anything is sent
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
            reply = Reply(response, content)
        if self.watcher is not None:
            try:
                self.watcher.observe_reply(method, path, reply)
            except Exception:  # learning from a reply must never break the request
                log.exception("a reply watcher failed")
        if reply.status in (401, 403):  # never a valid answer: say which auth style to use
            raise auth_error(reply, path, style=self.auth_style, has_key=self.has_key, state=state)
        return reply

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
            redact(f"{what} ({method})"),
            endpoint=path,
            state=state,
            maybe_submitted=submit and not _nothing_was_sent(exc),
        )

    def envelope(
        self, reply: Reply, path: str, *, submit: bool = False, state: str | None = None
    ) -> tuple[int, Any, dict[str, Any], str]:
        """(code, result, properties, description) of an accepted envelope, else the typed
        error."""
        data = reply.json
        if 200 <= reply.status < 300 and isinstance(data, dict) and "code" in data:
            code = as_int(data.get("code"))
            if code is not None and code in ACCEPTED_CODES:
                properties = data.get("properties")
                return (
                    code,
                    data.get("result"),
                    properties if isinstance(properties, dict) else {},
                    str(data.get("description") or ""),
                )
        raise error_for_reply(reply, path, submit=submit, state=state)

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
        addresses = [str(info[4][0]) for info in infos]
        internal = [address for address in addresses if _ip_is_internal(address)]
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
                declared = as_int(response.headers.get("Content-Length"))
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
