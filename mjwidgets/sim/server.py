"""The simulator's HTTP layer: routing, auth, envelopes, faults and stats, on werkzeug.

Keeps the wire format of each flavour (reference §1.4; mj-2026 §4) and nothing else; the behaviour
lives in `engine.Engine`, the JSON dialects and task objects in `wire`.
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

from . import refs, wire
from .engine import Engine, GatewayError, LogicError, RelayError, SimError
from .faults import FaultDice
from .flavors import newapi_action

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
AUTH_RULES = ("flavor", "any")

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
        Rule("/cdn/<job>/<name>", endpoint="tile", methods=["GET"]),
        Rule("/sim/stats", endpoint="sim_stats", methods=["GET"]),
        Rule("/sim/tasks", endpoint="sim_tasks", methods=["GET"]),
        Rule("/sim/config", endpoint="sim_config", methods=["GET", "POST"]),
    ]
)
_MEDIA = ("image", "attachment", "tile", "video_file")  # what a CDN / image host serves
_UNAUTHENTICATED = (*_MEDIA, "sim_stats", "sim_tasks", "sim_config")
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
        self,
        engine: Engine,
        dice: FaultDice,
        secret: str | None,
        image_only: bool = False,
        auth: str = "flavor",
    ) -> None:
        if auth not in AUTH_RULES:
            raise ValueError(f"auth must be one of {AUTH_RULES}, got {auth!r}")
        self.engine = engine
        self.dice = dice
        self.secret = secret
        self.image_only = image_only
        self.auth = auth
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
        except NotFound:
            response = self._not_found(request.path)
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
        if self.image_only and endpoint not in _MEDIA:
            raise NotFound()
        if endpoint in _MEDIA and self._has_auth(request):
            with self._lock:
                self.image_host_auth_seen += 1
        if not endpoint.startswith("sim_") and self.dice.applies_to(path):
            if endpoint not in _MEDIA:
                early = self._fault_before(request, endpoint)
                if early is not None:
                    return early
        absent = self._media_route_absent(request, endpoint)
        if absent is not None:
            return absent
        if endpoint not in _UNAUTHENTICATED and not self._authorized(request):
            return self._unauthorized(request)
        if not self._routed(endpoint):
            raise NotFound()
        handler = getattr(self, f"do_{endpoint}")
        if endpoint in _SUBMITS:
            body = self._json_body(request)
            if isinstance(body, Response):
                return body
            state = body.get("state")
            if state is not None:
                with self._lock:
                    self.submits_by_state[str(state)] += 1
            return self._submit(request, endpoint, handler, body, mode, path)
        response = handler(request, mode=mode, **args)
        return self._fault_after_query(request, endpoint, response, path)

    def _routed(self, endpoint: str) -> bool:
        """Whether this flavour's server has the route at all (reference §1.2)."""
        flavor = self.engine.flavor
        return {
            "action": flavor.has_action_modal,
            "modal": flavor.has_action_modal,
            "shorten": flavor.has_shorten,
            "cancel": flavor.has_cancel,
            "list_by_ids": flavor.has_list_by_ids,
            "list_all": flavor.has_list_all,
            "image_seed": flavor.has_image_seed,
            "change": flavor.has_change,
            "simple_change": flavor.has_change,
        }.get(endpoint, True)

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
        secret_header = request.headers.get("mj-api-secret")
        authorization = request.headers.get("Authorization")
        if self.auth == "any":
            accepted = {self.secret, f"Bearer {self.secret}"}
            return secret_header in accepted or authorization in accepted
        rule = self.engine.flavor.auth
        if rule == "mj-api-secret":  # OSS ApiAuthorizeInterceptor.java:21-29
            return secret_header == self.secret
        if rule == "raw":  # trueai WorkContext.cs:46-48: Authorization wins when it is sent
            token = authorization if authorization is not None else (secret_header or "")
            return token == self.secret
        return _newapi_key(authorization, secret_header) == _newapi_key(self.secret, None)

    def _unauthorized(self, request: Request) -> Response:
        flavor = self.engine.flavor.name
        if flavor == "trueai":  # SimpleAuthMiddleware.cs:116-120
            return Response("Authorization header missing.", 401)
        if flavor == "newapi":  # middleware/auth.go:199-208, model/token.go:73-115
            key = _newapi_key(
                request.headers.get("Authorization"), request.headers.get("mj-api-secret")
            )
            message = "未提供令牌" if not key else "无效的令牌"
            return self._json(wire.newapi_openai_error(message), 401, style="go")
        return Response(b"", 401)  # OSS ApiAuthorizeInterceptor.java:26-28

    def _not_found(self, path: str) -> Response:
        flavor = self.engine.flavor.name
        if flavor == "newapi":  # gin's default 404
            return Response("404 page not found", 404, mimetype="text/plain")
        if flavor == "trueai":  # ASP.NET Core: no body
            return Response(b"", 404)
        return self._json(
            {"timestamp": _iso_now(), "status": 404, "error": "Not Found", "path": path}, 404
        )

    def _json(
        self, data, status: int = 200, headers: dict | None = None, style: str | None = None
    ) -> Response:
        body = wire.dumps(data, style or self.engine.flavor.json_style)
        return Response(body, status, headers=headers, mimetype="application/json")

    def _json_body(self, request: Request):
        raw = request.get_data(cache=True)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self._json(
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
            return self._json({"code": 9, "description": "提交失败，系统异常"}, 504)
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
        return self._json(
            {"timestamp": _iso_now(), "status": 500, "error": "Internal Server Error", "path": "/"},
            500,
        )

    def _rate_limited(self) -> Response:
        retry = self.dice.config.retry_after
        headers = {"Retry-After": f"{retry:g}"}
        self.dice.count("rate_limit_429")
        if self.engine.flavor.name == "newapi":
            body = wire.newapi_relay_error(
                30, "", "当前分组负载已饱和，请稍后再试，或升级账户以提升服务质量。"
            )
            return self._json(body, 429, headers, style="go")
        return Response(b"", 429, headers=headers)

    def _fault_after_query(
        self, request: Request, endpoint: str, response: Response, path: str
    ) -> Response:
        if endpoint.startswith("sim_") or not self.dice.applies_to(path):
            return response
        if endpoint in _MEDIA:
            return response
        if self.dice.roll(self._submit_fault_rate()):
            return self._random_fault(request)
        return response

    # ------------------------------------------------------------------ submits
    def _submit(self, request, endpoint, handler, body, mode, path) -> Response:
        try:
            code, description, result, properties = handler(body, mode)
            response = self._envelope(code, description, result, properties)
            if self.engine.flavor.rewrite_codes:
                response = self._newapi_rewrite(response, code, body, endpoint)
        except SimError as exc:
            response = self._error_response(exc)
        if request.environ.get("mjsim.fault_after_commit"):
            return self._random_fault(request)
        return response

    @staticmethod
    def _newapi_rewrite(response: Response, code: int, body: dict, endpoint: str) -> Response:
        """new-api edits the upstream's bytes: `"code":21` → `"code":1` unless the press is
        Vary (Region) or Custom Zoom, `"code":22` → `"code":1` (relay-mj.go:564-603). Nothing
        else in the body changes."""
        if code == 21 and endpoint == "action":
            if newapi_action(str(body.get("customId") or "")) in ("INPAINT", "CUSTOM_ZOOM"):
                return response
            response.set_data(response.get_data().replace(b'"code":21', b'"code":1'))
        elif code == 22:
            response.set_data(response.get_data().replace(b'"code":22', b'"code":1'))
        return response

    def _envelope(self, code: int, description: str, result, properties: dict) -> Response:
        """SubmitResultVO: OSS/Plus name the account as discordInstanceId, trueai (and the
        upstream behind new-api) also as discordChannelId (SubmitResultVO.cs:74-85)."""
        props = dict(properties)
        if code in (1, 22) and isinstance(result, str) and "remix" not in props:
            props["discordInstanceId"] = wire.INSTANCE_ID
            if self.engine.flavor.name != "oss" and self.engine.flavor.name != "plus":
                props["discordChannelId"] = wire.INSTANCE_ID
        data = {"code": code, "description": description, "result": result, "properties": props}
        # new-api passes the upstream's body through untouched: a Jackson-style Plus upstream
        style = "java" if self.engine.flavor.name == "newapi" else None
        return self._json(data, style=style)

    def _error_response(self, exc: SimError) -> Response:
        if isinstance(exc, LogicError):  # trueai Models/Result.cs: Timestamp = DateTime ticks
            ticks = str(int(time.time() * 10_000_000) + 621_355_968_000_000_000)
            body = {"success": False, "code": -1, "message": exc.description, "timestamp": ticks}
            return self._json(body)
        if isinstance(exc, RelayError):
            return self._json(
                wire.newapi_relay_error(exc.code, exc.description), exc.http_status, style="go"
            )
        if isinstance(exc, GatewayError):
            return self._json(
                wire.newapi_openai_error(exc.description), exc.http_status, style="go"
            )
        style = "java" if self.engine.flavor.name == "newapi" else None
        return self._json(
            {
                "code": exc.code,
                "description": exc.description,
                "result": None,
                "properties": exc.properties,
            },
            exc.http_status,
            style=style,
        )

    def do_imagine(self, body, mode):
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
        return 1, "提交成功", self.engine.upload(body), {}

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
        if self.engine.flavor.name == "newapi" and op == "R":
            change["index"] = 1  # the simple-change branch checks no index (relay-mj.go:404-413)
        return self.engine.change({**body, **change}, mode)

    # ------------------------------------------------------------------ queries
    def do_fetch(self, request: Request, mode=None, task_id: str = "") -> Response:
        task = self.engine.get(task_id)
        if task is None:
            unknown = self.engine.flavor.unknown_fetch
            if unknown == "204":  # trueai TaskController.cs:75-79: null → 204
                return Response(b"", 204)
            if unknown == "400json":  # new-api relay-mj.go:296-304
                return self._error_response(RelayError("task_no_found"))
            return Response(b"", 200, mimetype="application/json")  # OSS: null → empty 200
        return self._json(self.engine.status_read(task))

    def do_list(self, request: Request, mode=None) -> Response:
        body = self._json_body(request)
        if isinstance(body, Response):
            return body
        ids = body.get("ids") or []
        flavor = self.engine.flavor.name
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            if flavor == "newapi":  # c.BindJSON into []string fails (relay-mj.go:313-323)
                return self._error_response(RelayError("do_request_failed"))
            if flavor == "trueai":  # model binding fails → Result.Fail (Program.cs:229-236)
                return self._error_response(
                    LogicError(
                        "The JSON value could not be converted to "
                        "System.Collections.Generic.List`1[System.String]. Path: $.ids[0]"
                    )
                )
            ids = [str(i) for i in ids] if isinstance(ids, list) else []  # Jackson coerces
        found = []
        for task_id in dict.fromkeys(ids):
            task = self.engine.get(str(task_id).strip())
            if task is not None:
                found.append(self.engine.status_read(task))
        return self._json(found)

    def do_list_by_ids(self, request: Request, mode=None) -> Response:
        return self.do_list(request, mode)

    def do_list_all(self, request: Request, mode=None) -> Response:
        tasks = sorted(self.engine.tasks.values(), key=lambda t: t.submit_time, reverse=True)
        return self._json([self.engine.task_json(t) for t in tasks[:100]])

    def do_image_seed(self, request: Request, mode=None, task_id: str = "") -> Response:
        try:
            seed = self.engine.image_seed(task_id)
        except SimError as exc:
            return self._error_response(exc)
        if self.engine.flavor.name == "newapi":  # re-marshalled: dto.MidjourneyResponse order
            body = {"code": 1, "description": "成功", "properties": {}, "result": seed}
            return self._json(body, style="go")
        return self._json({"code": 1, "description": "成功", "result": seed, "properties": {}})

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
                return self._unauthorized(request)
            body = {"timestamp": _iso_now(), "status": 404, "error": "Not Found"}
            return self._json({**body, "path": request.path}, 404)
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
        if found is None or refs.link_expired(request.url):
            raise NotFound()
        return Response(found[0], 200, mimetype=found[1])

    def do_tile(self, request: Request, mode=None, job: str = "", name: str = "") -> Response:
        found = self.engine.tile_image(job, name)
        if found is None:
            raise NotFound()
        return Response(
            found[0], 200, mimetype=found[1], headers={"Cache-Control": "public, max-age=86400"}
        )

    # ------------------------------------------------------------------ introspection
    def do_sim_stats(self, request: Request, mode=None) -> Response:
        data = self.stats()
        if self.image_app is not None:
            data["image_host_auth_seen"] += self.image_app.image_host_auth_seen
        return _plain_json(data)

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
        return _plain_json(self.engine.timings())

    def do_sim_config(self, request: Request, mode=None) -> Response:
        if request.method == "POST":
            body = self._json_body(request)
            if isinstance(body, Response):
                return body
            try:
                self.configure(body)
            except (ValueError, TypeError) as exc:
                return _plain_json({"error": str(exc)}, 400)
        return _plain_json(self.config())

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
            "strict",
            "image_urls",
        }
        if "account" in values:  # media: "official" | "youchuan" | "discord"
            self.engine.media.set_account(values.pop("account"))
        if "auth" in values:
            auth = values.pop("auth")
            if auth not in AUTH_RULES:
                raise ValueError(f"auth must be one of {AUTH_RULES}, got {auth!r}")
            self.auth = auth
        for key in engine_keys & set(values):
            value = values.pop(key)
            if key == "speed" and float(value) <= 0:
                raise ValueError("speed must be > 0")
            if key == "banned_words":
                value = tuple(str(w).lower() for w in value)
            if key in ("strict", "image_urls", "remix"):
                value = bool(value)
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
            "strict": e.strict,
            "image_urls": e.image_urls,
            "auth": self.auth,
            "faults": self.dice.config.as_dict(),
        }


def _newapi_key(authorization: str | None, secret_header: str | None) -> str:
    """The token key new-api looks up (middleware/auth.go:185-198): `Bearer ` stripped, the
    mj-api-secret header when Authorization is empty or "midjourney-proxy", then `sk-` stripped
    and anything after a "-" (a channel id for admins) dropped."""
    key = (authorization or "").removeprefix("Bearer ")
    if key in ("", "midjourney-proxy"):
        key = (secret_header or "").removeprefix("Bearer ")
    return key.removeprefix("sk-").split("-")[0]


_NEWAPI_INDEX = (
    '<!doctype html><html lang="zh"><head><meta charset="utf-8" />'
    '<title>New API</title></head><body><div id="root"></div></body></html>'
)


def _plain_json(data, status: int = 200) -> Response:
    """The simulator's own endpoints (/sim/...), not a server's wire format."""
    return Response(json.dumps(data, ensure_ascii=False), status, mimetype="application/json")


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
