"""A tiny scripted HTTP server that answers with recorded (or hostile) replies, for tests."""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

Reply = Callable[[Request], Response]


def js(data, status: int = 200, headers: dict | None = None) -> Reply:
    return lambda request: Response(
        json.dumps(data, ensure_ascii=False), status, headers=headers, mimetype="application/json"
    )


def raw(body: str | bytes, status: int = 200, mimetype: str = "text/plain") -> Reply:
    return lambda request: Response(body, status, mimetype=mimetype)


def slow(seconds: float, then: Reply) -> Reply:
    def reply(request: Request) -> Response:
        time.sleep(seconds)
        return then(request)

    return reply


def reset(request: Request) -> Response:
    """Drop the connection with a TCP RST after the request arrived."""
    sock = request.environ["werkzeug.socket"]
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    os.close(sock.detach())  # close the descriptor itself: the handler's files still hold it
    raise ConnectionResetError("scripted reset")


@dataclass
class Hit:
    method: str
    path: str  # decoded, as the server routes it
    headers: dict
    body: dict | None
    raw_uri: str = ""  # as sent on the wire (percent-encoding intact)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args) -> None:
        return

    def log_error(self, *args) -> None:
        return

    def log(self, *args) -> None:
        return

    def connection_dropped(self, error, environ=None) -> None:
        self.close_connection = True


class ReplayServer:
    """Answers (method, path) with scripted replies in order (the last one repeats)."""

    def __init__(self) -> None:
        self.script: dict[tuple[str, str], list[Reply]] = {}
        self.hits: list[Hit] = []
        self._server = make_server(
            "127.0.0.1", 0, self._app, threaded=True, request_handler=_QuietHandler
        )
        self._server.handle_error = lambda request, address: None  # scripted resets are normal
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def on(self, method: str, path: str, *replies: Reply) -> None:
        self.script[(method, path)] = list(replies)

    def count(self, method: str, path: str) -> int:
        return sum(1 for hit in self.hits if (hit.method, hit.path) == (method, path))

    @Request.application
    def _app(self, request: Request) -> Response:
        body = request.get_json(silent=True) if request.data else None
        raw_uri = request.environ.get("REQUEST_URI") or request.environ.get("RAW_URI") or ""
        self.hits.append(Hit(request.method, request.path, dict(request.headers), body, raw_uri))
        replies = self.script.get((request.method, request.path))
        if not replies:
            return Response("unscripted", 404)
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        return reply(request)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
