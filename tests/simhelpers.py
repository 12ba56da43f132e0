"""Raw-HTTP helpers for driving the simulator in tests (deliberately not mjwidgets' client)."""

from __future__ import annotations

import io
import json
import threading
import time

import requests
from PIL import Image
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


class Api:
    """A thin requests wrapper: the simulator's wire format, nothing more."""

    def __init__(self, url: str, headers: dict | None = None, prefix: str = "/mj") -> None:
        self.url = url
        self.prefix = prefix
        self.http = requests.Session()
        self.http.headers.update(headers or {})

    def post(self, path: str, body: dict | None = None, **kw) -> requests.Response:
        return self.http.post(f"{self.url}{self.prefix}{path}", json=body or {}, timeout=10, **kw)

    def get(self, path: str, **kw) -> requests.Response:
        return self.http.get(f"{self.url}{self.prefix}{path}", timeout=10, **kw)

    def submit(self, endpoint: str, body: dict) -> dict:
        response = self.post(f"/submit/{endpoint}", body)
        assert response.status_code == 200, response.text
        return response.json()

    def imagine(self, prompt: str, **extra) -> str:
        envelope = self.submit("imagine", {"prompt": prompt, **extra})
        assert envelope["code"] in (1, 22), envelope
        return envelope["result"]

    def fetch(self, task_id: str) -> dict:
        response = self.get(f"/task/{task_id}/fetch")
        assert response.status_code == 200, response.text
        return response.json()

    def wait(
        self, task_id: str, timeout: float = 60.0, until=("SUCCESS", "FAILURE", "CANCEL", "MODAL")
    ) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            task = self.fetch(task_id)
            if task["status"] in until:
                return task
            time.sleep(0.02)
        raise AssertionError(f"task {task_id} did not finish: {task}")

    def press(self, task: dict, label: str) -> dict:
        button = next(b for b in task["buttons"] if label in (b["label"], b["emoji"]))
        return self.submit("action", {"taskId": task["id"], "customId": button["customId"]})

    def image(self, url: str) -> Image.Image:
        response = self.http.get(url, timeout=30)
        assert response.status_code == 200, (url, response.status_code)
        img = Image.open(io.BytesIO(response.content))
        img.load()
        return img


class HookReceiver:
    """A local HTTP endpoint that records every notifyHook POST."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @Request.application
    def _app(self, request: Request) -> Response:
        with self._lock:
            self.posts.append(json.loads(request.get_data()))
        return Response("ok")

    def for_task(self, task_id: str) -> list[dict]:
        with self._lock:
            return [p for p in self.posts if p["id"] == task_id]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
