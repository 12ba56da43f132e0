"""The simulator's HTTP layer: routing, auth, envelopes, faults and stats, on werkzeug.

Keeps the wire format of each flavour (reference §1.4) and nothing else; the behaviour lives in
`engine.Engine`.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from collections import Counter

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from .engine import Engine, SimError
from .faults import FaultDice
from .media import newapi_refusal

_PREFIX_RE = re.compile(r"^/(mj-fast|mj-relax|mj-turbo|fast|relax|turbo)(?=/mj/)")
_ID_RE = re.compile(r"/\d{6,}(?=/|$)")
_MODES = {
    "mj-fast": "FAST",
    "fast": "FAST",
    "mj-relax": "RELAX",
    "relax": "RELAX",
    "mj-turbo": "TURBO",
    "turbo": "TURBO",
}

_RULES = Map(
    [
        Rule("/mj/submit/imagine", endpoint="imagine", methods=["POST"]),
        Rule("/mj/submit/action", endpoint="action", methods=["POST"]),
        Rule("/mj/submit/modal", endpoint="modal", methods=["POST"]),
        Rule("/mj/submit/blend", endpoint="blend", methods=["POST"]),
        Rule("/mj/submit/describe", endpoint="describe", methods=["POST"]),
        Rule("/mj/submit/shorten", endpoint="shorten", methods=["POST"]),
        Rule("/mj/submit/upload-discord-images", endpoint="upload", methods=["POST"]),
        Rule("/mj/submit/change", endpoint="change", methods=["POST"]),
        Rule("/mj/submit/simple-change", endpoint="simple_change", methods=["POST"]),
        Rule("/mj/task/<task_id>/fetch", endpoint="fetch", methods=["GET"]),
        Rule("/mj/task/list-by-condition", endpoint="list", methods=["POST"]),
        Rule("/mj/task/list-by-ids", endpoint="list_by_ids", methods=["POST"]),
        Rule("/mj/task/list", endpoint="list_all", methods=["GET"]),
        Rule("/mj/task/<task_id>/image-seed", endpoint="image_seed", methods=["GET"]),
        Rule("/mj/task/<task_id>/cancel", endpoint="cancel", methods=["POST"]),
        Rule("/mj/image/<task_id>", endpoint="image", methods=["GET"]),
        Rule("/mj/attachments/<name>", endpoint="attachment", methods=["GET"]),
        # media routes (video, edits, retexture) and the video CDN paths
        Rule("/mj/submit/video", endpoint="video", methods=["POST"]),
        Rule("/mj/submit/edits", endpoint="edits", methods=["POST"]),
        Rule("/mj/submit/edit", endpoint="edit", methods=["POST"]),
        Rule("/mj/submit/retexture", endpoint="retexture", methods=["POST"]),
        Rule("/video/<job>/<name>", endpoint="video_file", methods=["GET", "HEAD"]),
        Rule("/sim/stats", endpoint="sim_stats", methods=["GET"]),
        Rule("/sim/tasks", endpoint="sim_tasks", methods=["GET"]),
        Rule("/sim/config", endpoint="sim_config", methods=["GET", "POST"]),
    ]
)
_UNAUTHENTICATED = ("image", "attachment", "sim_stats", "sim_tasks", "sim_config", "video_file")
_FILES = ("image", "attachment", "video_file")  # what a CDN / image host serves
_SUBMITS = (
    "imagine",
    "action",
    "modal",
    "blend",
    "describe",
    "shorten",
    "upload",
    "change",
    "simple_change",
    "video",
    "edits",
    "edit",
    "retexture",
)


class _KeepAliveHandler(WSGIRequestHandler):
    """HTTP/1.1 so clients can reuse connections; quiet unless something breaks."""

    protocol_version = "HTTP/1.1"

    def log_request(self, code="-", size="-") -> None:  # noqa: D102 - werkzeug hook
        return

    def connection_dropped(self, error, environ=None) -> None:
        """A dropped (or deliberately reset) connection must not wait for another request."""
        self.close_connection = True


class SimApp:
    """The WSGI application: one per simulator, over one engine."""

    def __init__(
        self, engine: Engine, dice: FaultDice, secret: str | None, image_only: bool = False
    ) -> None:
        self.engine = engine
        self.dice = dice
        self.secret = secret
        self.image_only = image_only
        self.requests: Counter[str] = Counter()
        self.submits_by_state: Counter[str] = Counter()
        self.image_host_auth_seen = 0
        self.image_app: SimApp | None = None  # the separate image host, when there is one
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ WSGI entry
    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except HTTPException as exc:
            response = exc.get_response(environ)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        path = request.path
        mode = None
        prefix = _PREFIX_RE.match(path)
        if prefix:
            mode = _MODES[prefix.group(1)]
            path = path[prefix.end() :]
        adapter = _RULES.bind("sim", path_info=path)
        endpoint, args = adapter.match(path, method=request.method)
        self._count(request.method, path)
        if self.image_only and endpoint not in _FILES:
            raise NotFound()
        if endpoint in _FILES and self._has_auth(request):
            with self._lock:
                self.image_host_auth_seen += 1
        if not endpoint.startswith("sim_") and self.dice.applies_to(path):
            if endpoint not in _FILES:
                early = self._fault_before(request, endpoint)
                if early is not None:
                    return early
        absent = self._media_route_absent(request, endpoint)
        if absent is not None:
            return absent
        if endpoint not in _UNAUTHENTICATED and not self._authorized(request):
            return self._unauthorized()
        flavor = self.engine.flavor
        if endpoint in ("action", "modal") and not flavor.has_action_modal:
            raise NotFound()
        if endpoint == "shorten" and not flavor.has_shorten:
            raise NotFound()
        if endpoint == "cancel" and not flavor.has_cancel:
            raise NotFound()
        if endpoint == "list_by_ids" and not flavor.has_list_by_ids:
            raise NotFound()
        if endpoint == "image_seed" and flavor.name == "oss":
            raise NotFound()
        if endpoint in ("change", "simple_change") and flavor.name == "trueai":
            raise NotFound()
        handler = getattr(self, f"do_{endpoint}")
        if endpoint in _SUBMITS:
            body = self._json_body(request)
            if isinstance(body, Response):
                return body
            if endpoint == "action" and self.engine.flavor.name == "newapi":
                refusal = newapi_refusal(str(body.get("customId") or ""))
                if refusal is not None:  # new-api's distributor, before any relaying
                    error = {"message": refusal, "type": "new_api_error", "code": ""}
                    return _json({"error": error}, 400)
            state = body.get("state")
            if state is not None:
                with self._lock:
                    self.submits_by_state[str(state)] += 1
            return self._submit(request, endpoint, handler, body, mode, path)
        response = handler(request, mode=mode, **args)
        return self._fault_after_query(request, endpoint, response, path)

    # ------------------------------------------------------------------ bookkeeping
    def _count(self, method: str, path: str) -> None:
        key = f"{method} {_ID_RE.sub('/{id}', path)}"
        with self._lock:
            self.requests[key] += 1

    @staticmethod
    def _has_auth(request: Request) -> bool:
        return bool(request.headers.get("Authorization") or request.headers.get("mj-api-secret"))

    def _authorized(self, request: Request) -> bool:
        if not self.secret:
            return True
        secret_header = request.headers.get("mj-api-secret", "")
        authorization = request.headers.get("Authorization", "")
        accepted = {self.secret, f"Bearer {self.secret}"}
        return secret_header in accepted or authorization in accepted

    def _unauthorized(self) -> Response:
        flavor = self.engine.flavor.name
        if flavor == "trueai":
            return Response("Authorization header missing.", 401, mimetype="text/plain")
        if flavor == "newapi":
            body = {"error": {"message": "无效的令牌", "type": "new_api_error"}}
            return _json(body, 401)
        return Response(b"", 401)

    def _json_body(self, request: Request):
        raw = request.get_data(cache=True)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return _json(
                {
                    "timestamp": _iso_now(),
                    "status": 400,
                    "error": "Bad Request",
                    "path": request.path,
                },
                400,
            )
        if not isinstance(body, dict):
            return _json(
                {
                    "timestamp": _iso_now(),
                    "status": 400,
                    "error": "Bad Request",
                    "path": request.path,
                },
                400,
            )
        return body

    # ------------------------------------------------------------------ faults
    def _fault_before(self, request: Request, endpoint: str) -> Response | None:
        """Faults that strike before the server did anything (and the latency ones)."""
        config = self.dice.config
        if config.latency > 0:
            time.sleep(config.latency)
        if self.dice.roll(config.rate_limit_rate):
            return self._rate_limited()
        if endpoint in _SUBMITS and self.dice.roll(self._submit_fault_rate()):
            if not self.dice.roll(config.error_after_commit):
                return self._random_fault(request)
            request.environ["mjsim.fault_after_commit"] = True
            self.dice.count("submit_fault_after_commit")
        return None

    def _submit_fault_rate(self) -> float:
        c = self.dice.config
        return min(1.0, c.error_rate + c.hang_rate + c.reset_rate + c.malformed_rate)

    def _random_fault(self, request: Request) -> Response:
        """One of the transport/server faults, weighted by their rates."""
        c = self.dice.config
        weights = [
            ("error", c.error_rate),
            ("hang", c.hang_rate),
            ("reset", c.reset_rate),
            ("malformed", c.malformed_rate),
        ]
        total = sum(w for _, w in weights) or 1.0
        pick = None
        draw = self.dice.uniform() * total
        for name, weight in weights:
            if draw < weight:
                pick = name
                break
            draw -= weight
        pick = pick or "error"
        if pick != "error":
            self.dice.count(pick)
        if pick == "hang":
            time.sleep(c.hang_seconds)
            return _json({"code": 9, "description": "提交失败，系统异常"}, 504)
        if pick == "reset":
            _reset_connection(request)
        if pick == "malformed":
            return Response(
                b'{"code": 1, "description": "\xe6\x8f', 200, mimetype="application/json"
            )
        return self._server_error()

    def _server_error(self) -> Response:
        status = self.dice.choice([500, 502, 503])
        self.dice.count(f"http_{status}")
        if status == 502:
            html = (
                "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
                "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
                "</body>\r\n</html>\r\n"
            )
            return Response(html, 502, mimetype="text/html")
        if status == 503:
            return Response("Service Unavailable", 503, mimetype="text/plain")
        return _json(
            {"timestamp": _iso_now(), "status": 500, "error": "Internal Server Error", "path": "/"},
            500,
        )

    def _rate_limited(self) -> Response:
        retry = self.dice.config.retry_after
        headers = {"Retry-After": f"{retry:g}"}
        self.dice.count("rate_limit_429")
        if self.engine.flavor.name == "newapi":
            body = {
                "description": "当前分组负载已饱和，请稍后再试",
                "type": "upstream_error",
                "code": 30,
            }
            return _json(body, 429, headers)
        return Response(b"", 429, headers=headers)

    def _fault_after_query(
        self, request: Request, endpoint: str, response: Response, path: str
    ) -> Response:
        if endpoint.startswith("sim_") or not self.dice.applies_to(path):
            return response
        if endpoint in _FILES:
            return response
        if self.dice.roll(self._submit_fault_rate()):
            return self._random_fault(request)
        return response

    # ------------------------------------------------------------------ submits
    def _submit(self, request, endpoint, handler, body, mode, path) -> Response:
        try:
            code, description, result, properties = handler(body, mode)
            response = self._envelope(code, description, result, properties)
        except SimError as exc:
            response = self._error_response(exc)
        if request.environ.get("mjsim.fault_after_commit"):
            return self._random_fault(request)
        return response

    def _envelope(self, code: int, description: str, result, properties: dict) -> Response:
        props = {
            "discordInstanceId": "1200000000000000000",
            "discordChannelId": "1200000000000000000",
            **properties,
        }
        if self.engine.flavor.name == "newapi":
            props = {k: v for k, v in props.items() if k in ("finalPrompt", "numberOfQueues")}
        return _json(
            {"code": code, "description": description, "result": result, "properties": props}
        )

    def _error_response(self, exc: SimError) -> Response:
        if isinstance(exc, _TrueaiLogicError):
            return _json(
                {
                    "success": False,
                    "code": -1,
                    "message": exc.description,
                    "timestamp": str(int(time.time() * 1000)),
                }
            )
        if self.engine.flavor.name == "newapi" and exc.code in (3, 4) and exc.http_status != 200:
            return _json(
                {"description": exc.description, "type": "upstream_error", "code": exc.code}, 400
            )
        return _json(
            {
                "code": exc.code,
                "description": exc.description,
                "result": None,
                "properties": exc.properties,
            },
            exc.http_status,
        )

    def do_imagine(self, body, mode):
        state = body.get("state")
        if state is not None and len(str(state)) > 255:
            if self.engine.flavor.name == "trueai":
                raise _TrueaiLogicError("state 长度不能超过 255")
            raise SimError(4, "state too long (max 255 characters)")
        return self.engine.imagine(body, mode)

    def do_action(self, body, mode):
        return self.engine.action(body, mode)

    def do_modal(self, body, mode):
        return self.engine.modal(body)

    def do_blend(self, body, mode):
        return self.engine.blend(body, mode)

    def do_describe(self, body, mode):
        return self.engine.describe(body, mode)

    def do_shorten(self, body, mode):
        return self.engine.shorten(body, mode)

    def do_upload(self, body, mode):
        return 1, self.engine.flavor.submit_description, self.engine.upload(body), {}

    def do_change(self, body, mode):
        return self.engine.change(body, mode)

    def do_simple_change(self, body, mode):
        content = str(body.get("content") or "").split()
        if len(content) != 2:
            raise SimError(4, "content参数错误")
        task_id, op = content
        op = op.upper()
        if op == "R":
            change = {"taskId": task_id, "action": "REROLL"}
        elif len(op) == 2 and op[0] in "UV" and op[1] in "1234":
            change = {
                "taskId": task_id,
                "action": "UPSCALE" if op[0] == "U" else "VARIATION",
                "index": int(op[1]),
            }
        else:
            raise SimError(4, "content参数错误")
        return self.engine.change({**body, **change}, mode)

    # ------------------------------------------------------------------ queries
    def do_fetch(self, request: Request, mode=None, task_id: str = "") -> Response:
        task = self.engine.get(task_id)
        if task is None:
            unknown = self.engine.flavor.unknown_fetch
            if unknown == "204":
                return Response(b"", 204)
            if unknown == "400json":
                return _json(
                    {"description": "task_no_found", "type": "upstream_error", "code": 4}, 400
                )
            return Response(b"", 200, mimetype="application/json")
        return _json(self.engine.task_json(task))

    def do_list(self, request: Request, mode=None) -> Response:
        body = self._json_body(request)
        if isinstance(body, Response):
            return body
        ids = body.get("ids") or []
        found = []
        for task_id in ids:
            task = self.engine.get(str(task_id))
            if task is not None:
                found.append(self.engine.task_json(task))
        return _json(found)

    def do_list_by_ids(self, request: Request, mode=None) -> Response:
        return self.do_list(request, mode)

    def do_list_all(self, request: Request, mode=None) -> Response:
        tasks = sorted(self.engine.tasks.values(), key=lambda t: t.submit_time, reverse=True)
        return _json([self.engine.task_json(t) for t in tasks[:100]])

    def do_image_seed(self, request: Request, mode=None, task_id: str = "") -> Response:
        try:
            seed = self.engine.image_seed(task_id)
        except SimError as exc:
            return self._error_response(exc)
        return self._envelope(1, "成功", seed, {})

    def do_cancel(self, request: Request, mode=None, task_id: str = "") -> Response:
        try:
            self.engine.cancel(task_id)
        except SimError as exc:
            return self._error_response(exc)
        return Response(b"", 200)

    def do_image(self, request: Request, mode=None, task_id: str = "") -> Response:
        progress = request.args.get("progress", type=int)
        found = self.engine.image_bytes(task_id, progress)
        if found is None:
            raise NotFound()
        data, mimetype = found
        return Response(
            data, 200, mimetype=mimetype, headers={"Cache-Control": "public, max-age=86400"}
        )

    # ------------------------------------------------------------------ media routes
    def _media_route_absent(self, request: Request, endpoint: str) -> Response | None:
        """The media submit routes where a flavour has none: OSS (Spring: 401 from the secret
        interceptor on /submit/**, else its JSON 404) and new-api, which routes only
        /submit/edits and /submit/video (router/relay-router.go) and answers any other path
        with its dashboard page (router/web-router.go NoRoute)."""
        flavor = self.engine.flavor.name
        if endpoint not in ("video", "edits", "edit", "retexture"):
            return None
        if flavor == "oss":
            if not self._authorized(request):
                return self._unauthorized()
            body = {"timestamp": _iso_now(), "status": 404, "error": "Not Found"}
            return _json({**body, "path": request.path}, 404)
        if flavor == "newapi" and endpoint in ("edit", "retexture"):
            return Response(_NEWAPI_INDEX, 200, mimetype="text/html")
        return None

    def do_video(self, body, mode):
        return self.engine.media.submit_video(body, mode)

    def do_edits(self, body, mode):
        return self.engine.media.submit_edit(body, mode, "edit")

    def do_edit(self, body, mode):
        return self.engine.media.submit_edit(body, mode, "edit")

    def do_retexture(self, body, mode):
        return self.engine.media.submit_edit(body, mode, "retexture")

    def do_video_file(self, request: Request, mode=None, job: str = "", name: str = "") -> Response:
        """A clip or poster as the CDN serves it, with byte ranges for <video> seeking."""
        found = self.engine.media.video_file(job, name)
        if found is None:
            raise NotFound()
        data, mimetype = found
        headers = {"Cache-Control": "public, max-age=86400"}
        response = Response(data, 200, mimetype=mimetype, headers=headers)
        return response.make_conditional(request, accept_ranges=True, complete_length=len(data))

    def do_attachment(self, request: Request, mode=None, name: str = "") -> Response:
        found = self.engine.attachment(name)
        if found is None:
            raise NotFound()
        return Response(found[0], 200, mimetype=found[1])

    # ------------------------------------------------------------------ introspection
    def do_sim_stats(self, request: Request, mode=None) -> Response:
        data = self.stats()
        if self.image_app is not None:
            data["image_host_auth_seen"] += self.image_app.image_host_auth_seen
        return _json(data)

    def stats(self) -> dict:
        with self._lock:
            data = {
                "requests": dict(self.requests),
                "submits_by_state": dict(self.submits_by_state),
                "image_host_auth_seen": self.image_host_auth_seen,
            }
        data["faults_injected"] = self.dice.counts()
        data.update(self.engine.stats())
        return data

    def do_sim_tasks(self, request: Request, mode=None) -> Response:
        return _json(self.engine.timings())

    def do_sim_config(self, request: Request, mode=None) -> Response:
        if request.method == "POST":
            body = self._json_body(request)
            if isinstance(body, Response):
                return body
            try:
                self.configure(body)
            except (ValueError, TypeError) as exc:
                return _json({"error": str(exc)}, 400)
        return _json(self.config())

    def configure(self, values: dict) -> None:
        """Change faults and engine settings at run time."""
        values = dict(values)
        engine_keys = {
            "speed",
            "remix",
            "concurrency",
            "queue_size",
            "banned_words",
            "task_timeout",
        }
        if "account" in values:  # media: "official" | "youchuan" | "discord"
            self.engine.media.set_account(values.pop("account"))
        for key in engine_keys & set(values):
            value = values.pop(key)
            if key == "speed" and float(value) <= 0:
                raise ValueError("speed must be > 0")
            if key == "banned_words":
                value = tuple(str(w).lower() for w in value)
            setattr(self.engine, key, value)
        self.dice.config.update(values)

    def config(self) -> dict:
        e = self.engine
        return {
            "flavor": e.flavor.name,
            "speed": e.speed,
            "remix": e.remix,
            "concurrency": e.concurrency,
            "queue_size": e.queue_size,
            "banned_words": list(e.banned_words),
            "task_timeout": e.task_timeout,
            "account": e.media.account,
            "faults": self.dice.config.as_dict(),
        }


class _TrueaiLogicError(SimError):
    """trueai answers business-rule errors outside imagine's try/catch in its own shape."""

    def __init__(self, message: str) -> None:
        super().__init__(-1, message)
        self.message = message


_NEWAPI_INDEX = (
    '<!doctype html><html lang="zh"><head><meta charset="utf-8" />'
    '<title>New API</title></head><body><div id="root"></div></body></html>'
)


def _json(data, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        json.dumps(data, ensure_ascii=False), status, headers=headers, mimetype="application/json"
    )


def _iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+00:00", time.gmtime())


def _reset_connection(request: Request) -> None:
    """Abort with a TCP RST, the way a crashing proxy or a load balancer drops a client."""
    sock = request.environ.get("werkzeug.socket")
    if sock is not None:
        try:  # linger 0: closing the socket sends RST instead of a graceful close
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    raise ConnectionResetError("simulated connection reset")


def serve(app: SimApp, host: str, port: int):
    """A threaded werkzeug server for `app` (not yet serving)."""
    return make_server(host, port, app, threaded=True, request_handler=_KeepAliveHandler)
