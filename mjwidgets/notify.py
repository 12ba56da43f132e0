"""A tiny local HTTP endpoint a server can POST task JSON to (``notifyHook`` pushes).

The path carries a random token, so only a server we gave the URL to can push; bodies are
size-capped and must be a task object. It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import threading
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

__all__ = ["PushReceiver"]

log = logging.getLogger("mjwidgets.notify")


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        return


class PushReceiver:
    """A tiny local HTTP endpoint the server can POST task JSON to (``notifyHook``).

    The path carries a random token, so only a server we gave the URL to can push; bodies are
    size-capped and must be a task object. It listens on 127.0.0.1 only.
    """

    _MAX_BODY = 2_000_000

    def __init__(self, on_push: Callable[[dict[str, Any]], None]) -> None:
        self._on_push = on_push
        self._path = f"/mjw-notify/{secrets.token_urlsafe(18)}"
        self._server = make_server(
            "127.0.0.1", 0, self._app, threaded=True, request_handler=_QuietHandler
        )
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{self._path}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.5},
            name="mjw-notify",
            daemon=True,
        )
        self._thread.start()

    def _app(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        if request.method != "POST" or not hmac.compare_digest(request.path, self._path):
            response = Response("not found", 404)
        elif (request.content_length or 0) > self._MAX_BODY:
            response = Response("too large", 413)
        else:
            response = self._accept(request.get_data(cache=False)[: self._MAX_BODY + 1])
        return response(environ, start_response)

    def _accept(self, body: bytes) -> Response:
        try:
            data = json.loads(body)
        except ValueError:
            return Response("bad json", 400)
        if not isinstance(data, dict) or not data.get("id"):
            return Response("not a task", 400)
        try:
            self._on_push(data)
        except Exception:  # the server only logs failures; we must log ours
            log.exception("applying a pushed task update failed")
            return Response("error", 500)
        return Response("ok", 200)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
