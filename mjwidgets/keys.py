"""The API key: held so it never prints, sent only to the API's own origin, redacted from every
text a server sends back and from every log line of the package.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase

__all__ = ["ApiKeyAuth", "ApiSession", "Secret", "origin_of", "redact", "redacting_logger"]


# --------------------------------------------------------------------------------------------
# The key: held in a wrapper that never prints, and redacted from every log record


class Secret:
    """The API key. Its repr is a placeholder, so no repr of anything holding it can leak it."""

    __slots__ = ("_value", "__weakref__")

    def __init__(self, value: str) -> None:
        self._value = value
        _LIVE_SECRETS.add(self)  # redact() hides it from every text while it lives

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__


_LIVE_SECRETS: weakref.WeakSet[Secret] = weakref.WeakSet()


def redact(text: str) -> str:
    """Replace every live key in ``text`` (servers sometimes echo request headers back)."""
    for secret in list(_LIVE_SECRETS):
        value = secret.reveal()
        if len(value) >= 3 and value in text:
            text = text.replace(value, "***")
    return text


class _RedactingFilter(logging.Filter):
    """Last line of defence: no log record of an mjwidgets logger may contain a key."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _LIVE_SECRETS:
            message = record.getMessage()
            cleaned = redact(message)
            if cleaned != message:
                record.msg, record.args = cleaned, ()
        return True


def redacting_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with the key-redacting filter installed (once). Every module
    of the package that may log server text takes its logger from here."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, _RedactingFilter) for f in logger.filters):
        logger.addFilter(_RedactingFilter())
    return logger


def origin_of(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


class ApiKeyAuth(AuthBase):
    """Adds the key header only to requests whose origin (scheme, host, port) is the API's."""

    def __init__(self, secret: Secret | None, style: str, api_origin: tuple) -> None:
        self._secret = secret
        self._style = style
        self._api_origin = api_origin

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self._secret is None or origin_of(request.url or "") != self._api_origin:
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
        return f"<ApiKeyAuth {self._style}>"


class ApiSession(requests.Session):
    """A Session that drops both key headers whenever a redirect leaves the API's origin.

    requests itself strips only ``Authorization`` and only when the host changes.
    """

    def __init__(self, api_origin: tuple) -> None:
        super().__init__()
        self._api_origin = api_origin

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: Any) -> None:
        super().rebuild_auth(prepared_request, response)
        if origin_of(prepared_request.url or "") != self._api_origin:
            prepared_request.headers.pop("mj-api-secret", None)
            prepared_request.headers.pop("Authorization", None)
