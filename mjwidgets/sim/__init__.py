"""An embedded Midjourney-proxy simulator: the `/mj/...` API on a local HTTP server.

    from mjwidgets import sim
    with sim.start(speed=200) as server:
        print(server.url)   # http://127.0.0.1:PORT — point any client at it

It speaks the wire format of the real proxies (flavours "plus", "trueai", "newapi", "oss"), moves
tasks through their real lifecycle on a scaled clock, renders images with Pillow that show the
prompt, tile and lineage, and can inject the faults real servers produce. It shares nothing with
mjwidgets' client but the wire format.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.request

from .engine import Engine
from .faults import FaultConfig, FaultDice
from .flavors import FLAVORS, get_flavor
from .server import SimApp, serve

__all__ = ["SimServer", "start", "embedded", "FLAVORS", "DEMO_SPEED"]

log = logging.getLogger("mjwidgets.sim")

DEMO_SPEED = 12.0  # a ~55 s fast job takes ~4.5 s: every progress step stays visible


class SimServer:
    """A running simulator: `.url`, `.stop()`, and a context manager."""

    def __init__(self, app: SimApp, server, image_server=None) -> None:
        self.app = app
        self.engine: Engine = app.engine
        self._server = server
        self._image_server = image_server
        host, port = server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self.image_url = self.url
        if image_server is not None:
            ihost, iport = image_server.server_address[:2]
            self.image_url = f"http://{ihost}:{iport}"
        self.engine.image_base = self.image_url
        self._threads: list[threading.Thread] = []

    def serve_in_background(self) -> SimServer:
        for srv in filter(None, (self._server, self._image_server)):
            thread = threading.Thread(
                target=srv.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="mjsim-http",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        return self

    def serve_forever(self) -> None:
        if self._image_server is not None:
            threading.Thread(target=self._image_server.serve_forever, daemon=True).start()
        self._server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop serving and the scheduler; safe to call twice."""
        for srv in filter(None, (self._server, self._image_server)):
            srv.shutdown()
            srv.server_close()
        self.engine.stop()
        for thread in self._threads:
            thread.join(timeout=2)

    def stats(self) -> dict:
        """Requests per endpoint, tasks per action/status, submits per `state`, auth seen by
        the image host, server-side updates, and `faults_injected` by kind (http_500/502/503,
        rate_limit_429, hang, reset, malformed, submit_fault_after_commit, image_expired)."""
        data = self.app.stats()
        if self._image_server is not None:
            data["image_host_auth_seen"] += self._image_server.app.image_host_auth_seen
            for key, count in self._image_server.app.requests.items():
                data["requests"][f"image-host {key}"] = count
        return data

    def tasks(self) -> list[dict]:
        """Server-side timings per task (`finished_at` is wall-clock time)."""
        return self.engine.timings()

    def configure(self, **values) -> None:
        """Change faults or settings at run time (same keys as POST /sim/config)."""
        self.app.configure(values)

    def __enter__(self) -> SimServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        engine = self.engine
        return f"<SimServer {self.url} flavor={engine.flavor.name} speed={engine.speed:g}>"


def create(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    speed: float = DEMO_SPEED,
    flavor: str = "plus",
    secret: str | None = None,
    remix: bool = False,
    concurrency: int = 3,
    queue_size: int = 10,
    banned_words: tuple[str, ...] | list[str] = ("blood", "gore"),
    faults: dict | None = None,
    image_host: bool = False,
    seed: int | None = None,
    task_timeout: float | None = 300.0,
    account: str = "official",
    strict: bool = False,
    image_urls: bool = False,
    auth: str = "flavor",
    prerender: bool = True,
) -> SimServer:
    """Build a simulator bound to its port(s) without serving yet (the CLI serves it itself)."""
    config = FaultConfig()
    config.update(faults or {})
    # Fault draws stay repeatable (seed 0 unless given); ids and job hashes are fresh every
    # process unless a seed is given, like a real server's.
    dice = FaultDice(config, 0 if seed is None else seed)
    engine = Engine(
        flavor=get_flavor(flavor),
        speed=speed,
        concurrency=concurrency,
        queue_size=queue_size,
        banned_words=tuple(banned_words),
        remix=remix,
        dice=dice,
        seed=seed,
        task_timeout=task_timeout,
        strict=strict,
        image_urls=image_urls,
        prerender=prerender,
    )
    engine.media.set_account(account)
    app = SimApp(engine, dice, secret, auth=auth)
    server = serve(app, host, port)
    image_server = None
    if image_host:
        image_server = serve(SimApp(engine, dice, None, image_only=True), host, 0)
        app.image_app = image_server.app
    return SimServer(app, server, image_server)


def start(**options) -> SimServer:
    """Run a simulator in background threads of this process; port 0 picks a free port.

    Options: host, port, speed (time scale: 200 makes a ~55 s job take ~0.3 s), flavor
    ("plus", "trueai", "newapi", "oss"), secret (required API key), remix, concurrency,
    queue_size, banned_words, faults (see FaultConfig), image_host (serve images from a second
    port, to check that no key is sent there), seed (fixes task ids and job hashes; fault draws
    use it too), task_timeout (unscaled seconds), strict (checks no real server makes: mask
    size and format, /submit/modal only for MODAL tasks, --zoom range, customIds that are not
    buttons of the task), image_urls (trueai's per-tile `imageUrls`, like its
    EnableFillOfficialCdn), auth ("flavor": each server's own header rule; "any": every style),
    account ("official", the default, so edits and retexture run; "youchuan"; or "discord",
    which refuses them and needs remix on for /submit/video), prerender (True, the default: each
    final image is drawn at its job's last progress step, ready when the job ends; False: at its
    first GET).
    """
    return create(**options).serve_in_background()


_embedded: SimServer | None = None
_embedded_lock = threading.Lock()


def embedded() -> SimServer:
    """The process-wide simulator mjwidgets uses when no MJ_BASE_URL is set (started once)."""
    global _embedded
    with _embedded_lock:
        if _embedded is None:
            speed = float(os.environ.get("MJ_SIM_SPEED", DEMO_SPEED))
            _embedded = start(speed=speed, flavor=os.environ.get("MJ_SIM_FLAVOR", "plus"))
            log.info("embedded simulator running at %s", _embedded.url)
        return _embedded


def fetch_stats(url: str) -> dict:
    """GET /sim/stats of a simulator at `url` (for one running in another process)."""
    with urllib.request.urlopen(f"{url.rstrip('/')}/sim/stats", timeout=5) as response:
        return json.loads(response.read())
