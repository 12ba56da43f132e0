"""Real-browser test harness: JupyterLab / Notebook 7 servers and notebook sessions in chromium.

The fixtures live in ``conftest.py``; this module holds the plain helpers so tests can also use
them directly (e.g. ``start_jupyter`` for a server with a custom environment).

Recipe: ``../shared/reference/jupyter-notes.md`` ("Testing widgets in a real browser"). Debian's
``/usr/bin/chromium`` driven by Python playwright (never ``playwright install``). Every wait here
is bounded (``DEFAULT_TIMEOUT`` seconds unless a caller passes less). The bounds are generous on
purpose: CI runs the suite with one core kept busy, and a bound is there to end a hang, not to
time anything. Waits are for the exact state a user would see, never a fixed sleep.

Typical use in a test::

    from harness import open_notebook

    def test_card(jupyter_lab, browser):
        nb = open_notebook(jupyter_lab, browser, "test_card", ["import mjwidgets", "s = ..."])
        nb.page.locator(".mjw-task").first.wait_for()
        assert nb.execute("s.count") == "3"
        nb.screenshot("card")
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = Path(os.environ.get("MJW_TEST_ARTIFACTS") or REPO_ROOT / "test-artifacts")
# MJW_UPDATE_DOCS=1: screenshots taken with docs=True also replace the README's pictures
DOCS_SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("MJW_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEFAULT_TIMEOUT = 120.0  # seconds: the upper bound of every wait in this module
WAIT_TIMEOUT = 120.0  # seconds: default bound of one wait for a condition (a hang catcher)
WAIT_TIMEOUT_MS = int(WAIT_TIMEOUT * 1000)  # the same for playwright calls
VIEWPORT = {"width": 1400, "height": 1000}
# Inherited variables removed from the server's (and so the kernels') environment, so notebooks
# run on the embedded simulator and never see a real key. A test may set them again via extra_env.
REMOVED_ENV = ("MJ_BASE_URL", "MJ_API_KEY", "MJ_AUTH")
LIGHT_THEME = "JupyterLab Light"
DARK_THEME = "JupyterLab Dark"
THEMES_SETTINGS = "@jupyterlab/apputils-extension:themes"

# User settings written before the server starts ({plugin id: settings}).
DEFAULT_SETTINGS: dict[str, dict[str, Any]] = {
    # The "official Jupyter news?" toast covers the bottom-right corner and takes clicks.
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
    # Render every cell into the DOM (no virtual scrolling) so widgets in any cell can be found.
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
    # Save widget state into the notebook on save (needed to prove what a saved notebook holds).
    "@jupyter-widgets/jupyterlab-manager:plugin": {"saveState": True},
}

# Uncaught page errors of the Jupyter front ends themselves, not of our widgets. Notebook 7.6.5
# throws this from its shortcuts settings plugin on every page load, with or without our settings.
KNOWN_PAGE_ERRORS = ("Cannot read properties of undefined (reading 'schema')",)

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def _settings_file(settings_dir: Path, plugin_id: str) -> Path:
    package, _, plugin = plugin_id.rpartition(":")
    return settings_dir / package / f"{plugin}.jupyterlab-settings"


# ---------------------------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------------------------


@dataclass
class JupyterServer:
    """A running ``jupyter lab`` or ``jupyter notebook`` (7) server on 127.0.0.1."""

    kind: str  # "lab" or "notebook7"
    url: str  # base URL with trailing slash, e.g. "http://127.0.0.1:41234/"
    token: str = field(repr=False)
    root: Path  # the server's root_dir: notebooks are written here
    runtime_dir: Path  # JUPYTER_RUNTIME_DIR (kernel-<id>.json connection files)
    settings_dir: Path  # JUPYTERLAB_SETTINGS_DIR
    env: dict[str, str] = field(repr=False)  # the server's environment (kernels inherit it)
    base_dir: Path  # temp folder holding everything above
    log_path: Path  # server stdout+stderr
    startup_seconds: float
    proc: subprocess.Popen = field(repr=False)

    def notebook_url(self, rel_path: str) -> str:
        quoted = urllib.parse.quote(rel_path)
        if self.kind == "lab":
            return f"{self.url}lab/tree/{quoted}?token={self.token}&reset"
        return f"{self.url}notebooks/{quoted}?token={self.token}"

    def api(self, method: str, path: str, body: Any = None, timeout: float = 30.0) -> Any:
        """Call the server's REST API (``path`` relative to the base URL, e.g. "api/sessions")."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def sessions(self) -> list[dict[str, Any]]:
        return self.api("GET", "api/sessions")

    def session_for(self, rel_path: str) -> dict[str, Any] | None:
        for sess in self.sessions():
            if sess.get("path") == rel_path and sess.get("kernel"):
                return sess
        return None

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM the server (it shuts its kernels down), then SIGKILL if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        log = getattr(self.proc, "_mjw_log", None)
        if log is not None:
            log.close()


def server_env(base_dir: Path, extra_env: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The isolated environment of a test server (and so of its kernels).

    Jupyter/IPython/JupyterLab user dirs point into ``base_dir``; ``MJ_HOME`` is
    ``base_dir/mj_home`` (isolated history store); ``REMOVED_ENV`` are dropped. ``extra_env`` is
    applied last: a value of ``None`` removes the variable.
    """
    env = {k: v for k, v in os.environ.items() if k not in REMOVED_ENV}
    dirs = {
        "JUPYTER_CONFIG_DIR": "config",
        "JUPYTER_DATA_DIR": "data",
        "JUPYTER_RUNTIME_DIR": "runtime",
        "IPYTHONDIR": "ipython",
        "JUPYTERLAB_SETTINGS_DIR": "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
        "MJ_HOME": "mj_home",
    }
    for var, sub in dirs.items():
        path = base_dir / sub
        path.mkdir(parents=True, exist_ok=True)
        env[var] = str(path)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("JUPYTER_PATH", None)
    for key, value in (extra_env or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env


def write_settings(settings_dir: Path, settings: Mapping[str, Mapping[str, Any]]) -> None:
    for plugin_id, values in settings.items():
        path = _settings_file(settings_dir, plugin_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=2))


def start_jupyter(
    kind: str,
    base_dir: Path,
    extra_env: Mapping[str, str | None] | None = None,
    *,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    extra_args: Iterable[str] = (),
    timeout: float = DEFAULT_TIMEOUT,
) -> JupyterServer:
    """Start ``python -m jupyterlab`` (kind "lab") or ``python -m notebook`` ("notebook7").

    Port 0 on 127.0.0.1, token auth, isolated dirs under ``base_dir``, news/update checks off,
    ``expose_app_in_browser`` on. ``settings`` ({plugin id: values}) are merged over
    ``DEFAULT_SETTINGS`` per plugin. Returns once ``api/status`` answers; call ``.stop()``.
    """
    if kind not in ("lab", "notebook7"):
        raise ValueError(f"kind must be 'lab' or 'notebook7', not {kind!r}")
    base_dir = Path(base_dir)
    base_dir.mkdir(parents=True, exist_ok=True)
    root = base_dir / "notebooks"
    root.mkdir(exist_ok=True)
    env = server_env(base_dir, extra_env)
    runtime_dir = Path(env["JUPYTER_RUNTIME_DIR"])
    settings_dir = Path(env["JUPYTERLAB_SETTINGS_DIR"])
    merged = {k: dict(v) for k, v in DEFAULT_SETTINGS.items()}
    for plugin_id, values in (settings or {}).items():
        merged.setdefault(plugin_id, {}).update(values)
    write_settings(settings_dir, merged)

    token = secrets.token_hex(24)
    app = "LabApp" if kind == "lab" else "JupyterNotebookApp"
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab" if kind == "lab" else "notebook",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.allow_root=True",
        "--ServerApp.terminals_enabled=False",
        "--LabApp.extension_manager=readonly",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--{app}.expose_app_in_browser=True",
        *extra_args,
    ]
    log_path = base_dir / "server.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed in JupyterServer.stop
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    proc._mjw_log = log  # type: ignore[attr-defined]
    # While the server boots: pay the one-time imports open_notebook needs (nbformat pulls in
    # jsonschema, ~1-2 s) so the first test does not.
    with contextlib.suppress(ImportError):
        import jupyter_client  # noqa: F401
        import nbformat  # noqa: F401
    server = JupyterServer(
        kind=kind,
        url="",
        token=token,
        root=root,
        runtime_dir=runtime_dir,
        settings_dir=settings_dir,
        env=env,
        base_dir=base_dir,
        log_path=log_path,
        startup_seconds=0.0,
        proc=proc,
    )
    try:
        info_file = runtime_dir / f"jpserver-{proc.pid}.json"
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter {kind} exited with {proc.returncode}")
            if info_file.exists():
                try:
                    server.url = json.loads(info_file.read_text())["url"]
                    break
                except (ValueError, KeyError):
                    pass  # partially written
            if time.monotonic() > deadline:
                raise TimeoutError(f"jupyter {kind}: no {info_file.name} after {timeout:.0f} s")
            time.sleep(0.1)
        if not server.url.endswith("/"):
            server.url += "/"
        while True:
            try:
                server.api("GET", "api/status", timeout=5)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if proc.poll() is not None:
                    raise RuntimeError(f"jupyter {kind} exited with {proc.returncode}") from None
                if time.monotonic() > deadline:
                    raise TimeoutError(f"jupyter {kind}: api/status not answering") from None
                time.sleep(0.1)
    except BaseException as exc:
        server.stop()
        raise RuntimeError(f"{exc}\n--- server log ---\n{server.log_tail()}") from exc
    server.startup_seconds = time.monotonic() - t0
    return server


# ---------------------------------------------------------------------------------------------
# Notebook sessions
# ---------------------------------------------------------------------------------------------

# JS prelude: find the notebook panel showing `path` (JupyterLab and Notebook 7 shells).
_FIND_PANEL = """
const findPanel = (path) => {
  const app = window.jupyterapp;
  if (!app || !app.shell || !app.shell.widgets) return null;
  for (const w of app.shell.widgets('main')) {
    if (w && w.context && w.context.path === path && w.content && w.sessionContext) return w;
  }
  return null;
};
"""

_KERNEL_STATE_JS = (
    "(path) => {"
    + _FIND_PANEL
    + """
  const panel = findPanel(path);
  if (!panel) return 'no-panel';
  const ctx = panel.sessionContext;
  const kernel = ctx.session && ctx.session.kernel;
  if (!ctx.isReady || !kernel) return 'no-kernel';
  return kernel.connectionStatus + '|' + kernel.status + '|' + ctx.kernelDisplayName;
}"""
)

_WAIT_IDLE_JS = (
    "(path) => {"
    + _FIND_PANEL
    + """
  const panel = findPanel(path);
  if (!panel) return false;
  const ctx = panel.sessionContext;
  const kernel = ctx.session && ctx.session.kernel;
  return !!(ctx.isReady && kernel && kernel.connectionStatus === 'connected'
            && kernel.status === 'idle');
}"""
)


# Record the kernel statuses the page sees from now on (to follow a restart to its end).
_RECORD_STATUS_JS = (
    "(path) => {"
    + _FIND_PANEL
    + """
  const panel = findPanel(path);
  if (!panel) throw new Error('notebook panel not found: ' + path);
  const seen = [];
  window.__mjwStatuses = seen;
  panel.sessionContext.statusChanged.connect((_, status) => { seen.push(status); });
  return true;
}"""
)

_RUN_ALL_JS = (
    "async ([path, ms]) => {"
    + _FIND_PANEL
    + """
  const app = window.jupyterapp;
  const panel = findPanel(path);
  if (!panel) throw new Error('notebook panel not found: ' + path);
  app.shell.activateById(panel.id);
  const timer = new Promise((_, reject) =>
    setTimeout(() => reject(new Error('run-all-cells timed out after ' + ms + ' ms')), ms));
  const ok = await Promise.race([app.commands.execute('notebook:run-all-cells'), timer]);
  return ok !== false;
}"""
)

_CELL_ERRORS_JS = (
    "(path) => {"
    + _FIND_PANEL
    + """
  const panel = findPanel(path);
  if (!panel) return [];
  const cells = panel.content.model.cells;
  const errors = [];
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type !== 'code') continue;
    for (const out of cell.outputs.toJSON()) {
      if (out.output_type === 'error') {
        const tb = (out.traceback || []).join('\\n');
        errors.push(`cell ${i}: ${out.ename}: ${out.evalue}\\n` + tb);
      }
    }
  }
  return errors;
}"""
)

_COMMAND_JS = (
    "async ([path, command, args, ms]) => {"
    + _FIND_PANEL
    + """
  const app = window.jupyterapp;
  const panel = findPanel(path);
  if (panel) app.shell.activateById(panel.id);
  const timer = new Promise((_, reject) =>
    setTimeout(() => reject(new Error(command + ' timed out after ' + ms + ' ms')), ms));
  const result = await Promise.race([app.commands.execute(command, args || {}), timer]);
  try {
    return result === undefined ? null : JSON.parse(JSON.stringify(result) ?? 'null');
  } catch (e) {
    return null;  // not JSON-able (e.g. a widget): the command still ran
  }
}"""
)

# Where open_notebook reports new sessions (the conftest points it at the current test's stash).
_session_sink: Callable[[NotebookSession], None] | None = None


def set_session_sink(sink: Callable[[NotebookSession], None] | None) -> None:
    global _session_sink
    _session_sink = sink


class KernelError(RuntimeError):
    """Code run through ``NotebookSession.execute`` raised; the message holds the traceback."""


class NotebookSession:
    """One notebook open in one chromium page, plus a kernel client on its kernel."""

    def __init__(self, server: JupyterServer, rel_path: str, page: Any, owns_context: bool):
        self.server = server
        self.rel_path = rel_path  # path relative to server.root, e.g. "test_x.ipynb"
        self.path = server.root / rel_path  # the file on disk
        self.name = rel_path[: -len(".ipynb")]
        self.page = page
        self.console: list[str] = []  # "[type] text" of console messages and page errors
        self.theme: str | None = None
        self.timings: dict[str, float] = {}  # seconds per open_notebook phase
        self._owns_context = owns_context
        self._kc: Any = None
        self._closed = False
        page.on("console", self._on_console)
        page.on("pageerror", self._on_page_error)

    def _on_console(self, msg: Any) -> None:
        try:
            self.console.append(f"[{msg.type}] {msg.text}")
        except Exception as exc:  # noqa: BLE001 - never break the page over a log line
            self.console.append(f"[console-unreadable] {exc!r}")

    def _on_page_error(self, err: Any) -> None:
        stack = getattr(err, "stack", None) or ""
        self.console.append(f"[pageerror] {err}" + (f"\n{stack}" if stack else ""))

    def page_errors(self, include_known: bool = False) -> list[str]:
        """Uncaught page errors seen so far, without ``KNOWN_PAGE_ERRORS`` unless asked."""
        return [
            line
            for line in self.console
            if line.startswith("[pageerror]")
            and (include_known or not any(k in line for k in KNOWN_PAGE_ERRORS))
        ]

    # -- browser side ------------------------------------------------------------------------

    def kernel_state(self) -> str:
        return self.page.evaluate(_KERNEL_STATE_JS, self.rel_path)

    def wait_idle(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until the notebook's kernel is connected and idle, as the page sees it.

        In JupyterLab the status bar must also read "Python 3 (ipykernel) | Idle" (the toolbar
        indicator says idle before a kernel exists). Note: right after a click, the kernel may
        not have received the message yet; to wait for a Python-side effect use ``wait_until``.
        """
        ms = timeout * 1000
        try:
            self.page.wait_for_function(
                _WAIT_IDLE_JS,
                arg=self.rel_path,
                timeout=ms,
                polling=100,
            )
            if self.server.kind == "lab":
                self.page.locator("#jp-main-statusbar").get_by_text(
                    re.compile(r"\|\s*Idle")
                ).first.wait_for(timeout=ms)
        except Exception as exc:
            raise TimeoutError(
                f"{self.rel_path}: kernel not idle within {timeout:.0f} s "
                f"(state {self._safe_state()})"
            ) from exc

    def _safe_state(self) -> str:
        try:
            return self.kernel_state()
        except Exception as exc:  # noqa: BLE001
            return f"unknown: {exc!r}"

    def command(self, command: str, args: dict | None = None, timeout: float = WAIT_TIMEOUT) -> Any:
        """Run a JupyterLab command (``window.jupyterapp.commands``) with this notebook active."""
        return self.page.evaluate(_COMMAND_JS, [self.rel_path, command, args, timeout * 1000])

    def run_all(self, timeout: float = DEFAULT_TIMEOUT, check: bool = True) -> bool:
        """Run all cells (``notebook:run-all-cells``), wait for them and for the kernel to be idle.

        Returns False if a cell raised (later cells then did not run); with ``check`` (default)
        raises ``KernelError`` listing the cells' tracebacks instead.
        """
        t0 = time.monotonic()
        ok = self.page.evaluate(_RUN_ALL_JS, [self.rel_path, timeout * 1000])
        self.wait_idle(max(5.0, timeout - (time.monotonic() - t0)))
        errors = self.cell_errors()
        if check and (errors or not ok):
            raise KernelError(f"{self.rel_path}: run all cells failed:\n" + "\n".join(errors))
        return bool(ok) and not errors

    def cell_errors(self) -> list[str]:
        """Error outputs currently shown in the notebook, ANSI colours stripped."""
        return [strip_ansi(e) for e in self.page.evaluate(_CELL_ERRORS_JS, self.rel_path)]

    def restart_kernel(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Kernel → Restart… → Restart, as a user does it, and wait until the new kernel is idle.

        Waits for the page to have seen the kernel restart (status "restarting") before waiting
        for idle: right after the click the old kernel still reads idle.
        """
        if self._kc is not None:  # the kernel client would follow the old kernel's channels
            with contextlib.suppress(Exception):
                self._kc.stop_channels()
            self._kc = None
        self.page.evaluate(_RECORD_STATUS_JS, self.rel_path)
        # not awaited: the command's promise waits for the dialog
        self.page.evaluate(
            "() => { window.jupyterapp.commands.execute('notebook:restart-kernel'); }"
        )
        self.page.locator(".jp-Dialog button.jp-mod-accept").click(timeout=timeout * 1000)
        self.page.locator(".jp-Dialog").wait_for(state="detached", timeout=timeout * 1000)
        self.page.wait_for_function(
            "() => (window.__mjwStatuses || []).includes('restarting')",
            timeout=timeout * 1000,
            polling=100,
        )
        self.wait_idle(timeout)

    def set_theme(self, theme: str, timeout: float = WAIT_TIMEOUT) -> None:
        """Switch theme: "dark"/"light" or a full name such as "JupyterLab Dark"."""
        name = {"dark": DARK_THEME, "light": LIGHT_THEME}.get(theme.lower(), theme)
        self.command("apputils:change-theme", {"theme": name}, timeout=timeout)
        self.page.wait_for_function(
            "(name) => document.body.dataset.jpThemeName === name",
            arg=name,
            timeout=timeout * 1000,
        )
        self.theme = name

    def save(self, timeout: float = WAIT_TIMEOUT) -> Path:
        """Save from the browser (``docmanager:save``) and wait until the file on disk changed."""
        before = self.path.stat().st_mtime_ns if self.path.exists() else None
        try:
            self.command("docmanager:save", timeout=timeout)
        except Exception:  # noqa: BLE001 - fall back to the keyboard shortcut
            self.page.keyboard.press("Control+s")
        deadline = time.monotonic() + timeout
        while True:
            if self.path.exists() and self.path.stat().st_mtime_ns != before:
                try:
                    json.loads(self.path.read_text())
                    return self.path
                except ValueError:
                    pass  # mid-write
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.path} did not change within {timeout:.0f} s of saving")
            time.sleep(0.1)

    def screenshot(
        self, name: str, *, selector: str | None = None, full_page: bool = False, docs: bool = False
    ) -> Path:
        """Save ``test-artifacts/screens/<name>.png`` (the page, or one element) and return it.

        ``docs=True`` marks a picture the README shows: with ``MJW_UPDATE_DOCS=1`` it is also
        copied to ``docs/screenshots/<name>.png``."""
        path = ARTIFACTS_DIR / "screens" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        if selector:
            self.page.locator(selector).first.screenshot(path=str(path), timeout=WAIT_TIMEOUT_MS)
        else:
            self.page.screenshot(path=str(path), full_page=full_page, timeout=WAIT_TIMEOUT_MS)
        if docs and os.environ.get("MJW_UPDATE_DOCS", "").strip() in ("1", "true"):
            DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOCS_SCREENSHOTS / path.name)
        return path

    # -- kernel side -------------------------------------------------------------------------

    def start_kernel(self) -> str:
        """Create the server session (and kernel) for this notebook via the REST API.

        The page then attaches to it instead of starting one itself, so the kernel boots while
        the front end loads. Returns the kernel id.
        """
        sess = self.server.session_for(self.rel_path)
        if sess is None:
            sess = self.server.api(
                "POST",
                "api/sessions",
                {
                    "path": self.rel_path,
                    "name": self.rel_path,
                    "type": "notebook",
                    "kernel": {"name": "python3"},
                },
            )
        return sess["kernel"]["id"]

    def kernel_id(self, timeout: float = WAIT_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while True:
            sess = self.server.session_for(self.rel_path)
            if sess:
                return sess["kernel"]["id"]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no kernel session for {self.rel_path} in api/sessions")
            time.sleep(0.2)

    def kernel_client(self, timeout: float = WAIT_TIMEOUT) -> Any:
        """A started ``jupyter_client.BlockingKernelClient`` on this notebook's kernel."""
        if self._kc is None:
            from jupyter_client import BlockingKernelClient

            conn = self.server.runtime_dir / f"kernel-{self.kernel_id(timeout)}.json"
            kc = BlockingKernelClient()
            kc.load_connection_file(str(conn))
            kc.start_channels()
            try:
                kc.wait_for_ready(timeout=timeout)
            except Exception:
                kc.stop_channels()
                raise
            self._kc = kc
        return self._kc

    def execute(self, code: str, timeout: float = WAIT_TIMEOUT) -> str:
        """Run ``code`` in this notebook's kernel (its globals: the notebook's variables).

        Returns stdout followed by the ``text/plain`` result of a last expression, with one
        trailing newline removed: ``execute("w.count") == "3"``. Raises ``KernelError`` with
        the traceback if the code raises, ``TimeoutError`` if it does not finish in time.
        """
        from queue import Empty

        kc = self.kernel_client()
        msg_id = kc.execute(code, silent=False, store_history=False, allow_stdin=False)
        deadline = time.monotonic() + timeout
        stdout: list[str] = []
        stderr: list[str] = []
        result = ""
        error: str | None = None
        idle = False
        while not idle:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"kernel did not finish {code!r} within {timeout:.0f} s")
            try:
                msg = kc.get_iopub_msg(timeout=min(remaining, 1.0))
            except Empty:
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                (stdout if content.get("name") == "stdout" else stderr).append(content["text"])
            elif kind == "execute_result":
                result = content.get("data", {}).get("text/plain", "")
            elif kind == "error":
                error = strip_ansi("\n".join(content.get("traceback") or []))
                error = error or f"{content.get('ename')}: {content.get('evalue')}"
            elif kind == "status" and content.get("execution_state") == "idle":
                idle = True
        # Drain the matching shell reply so it does not pile up.
        with contextlib.suppress(Empty):
            while time.monotonic() < deadline:
                reply = kc.get_shell_msg(timeout=max(0.1, min(5.0, deadline - time.monotonic())))
                if reply.get("parent_header", {}).get("msg_id") == msg_id:
                    if reply["content"].get("status") == "error" and error is None:
                        c = reply["content"]
                        error = f"{c.get('ename')}: {c.get('evalue')}"
                    break
        if error is not None:
            raise KernelError(f"{code!r} raised in {self.rel_path}:\n{error}\n{''.join(stderr)}")
        out = "".join(stdout) + result
        return out[:-1] if out.endswith("\n") else out

    def eval(self, expr: str, timeout: float = WAIT_TIMEOUT) -> Any:
        """Evaluate ``expr`` in the kernel and return it as a Python value (through JSON)."""
        text = self.execute(f"import json as _mjw_json; print(_mjw_json.dumps({expr}))", timeout)
        return json.loads(text)

    def wait_until(self, expr: str, timeout: float = WAIT_TIMEOUT, interval: float = 0.2) -> Any:
        """Poll ``expr`` in the kernel until it is truthy; return its (JSON) value.

        It returns at the first truthy value: make ``expr`` the whole final state you expect
        (``h.selected == [a, b]``, not ``h.selected``, which is truthy once the first id is in).
        """
        deadline = time.monotonic() + timeout
        value: Any = None
        while True:
            value = self.eval(expr, timeout=max(1.0, deadline - time.monotonic()))
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expr!r} still {value!r} after {timeout:.0f} s")
            time.sleep(interval)

    # -- teardown ----------------------------------------------------------------------------

    def close(self, shutdown_kernel: bool = True) -> None:
        """Close the page (and its context if we made it), the kernel client and the kernel."""
        if self._closed:
            return
        self._closed = True
        if self._kc is not None:
            with contextlib.suppress(Exception):
                self._kc.stop_channels()
            self._kc = None
        with contextlib.suppress(Exception):
            if self._owns_context:
                self.page.context.close()
            else:
                self.page.close()
        if self.theme is not None:  # do not leak a theme into later tests on this server
            with contextlib.suppress(OSError):
                _settings_file(self.server.settings_dir, THEMES_SETTINGS).unlink()
        if shutdown_kernel:
            with contextlib.suppress(Exception):
                sess = self.server.session_for(self.rel_path)
                if sess:
                    self.server.api("DELETE", f"api/sessions/{sess['id']}")


def write_notebook(path: Path, cells: Iterable[Any]) -> Path:
    """Write an nbformat v4 notebook (python3 kernelspec) of code cells (str) or nbformat cells."""
    import nbformat
    from nbformat import v4

    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [v4.new_code_cell(c) if isinstance(c, str) else c for c in cells]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def new_page(browser_or_page: Any) -> tuple[Any, bool]:
    """A fresh page (own context, ``VIEWPORT``) from a Browser, or the given Page as is."""
    if hasattr(browser_or_page, "new_context"):
        context = browser_or_page.new_context(viewport=VIEWPORT)
        return context.new_page(), True
    browser_or_page.set_viewport_size(VIEWPORT)
    return browser_or_page, False


def open_notebook(
    server: JupyterServer,
    browser_or_page: Any,
    name: str,
    cells: list[Any] | None,
    *,
    theme: str | None = None,
    run: bool = True,
    start_kernel: bool = True,
    check: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> NotebookSession:
    """Write ``<server.root>/<name>.ipynb``, open it in a fresh page and run all its cells.

    ``cells``: code strings (or nbformat cells); ``None`` opens the existing file unchanged
    (e.g. to reload a notebook saved earlier in the test; pass ``run=False`` to not re-run it).
    Waits for the kernel to be idle first; ``theme`` ("dark", "light" or a theme name) is set
    before running. With ``check`` (default), a cell that raises makes this raise
    ``KernelError`` with its traceback. ``start_kernel`` starts the kernel via the REST API
    while the page loads (faster). One name per test: the server keeps one kernel per path and
    a live one is reused (``close()`` shuts it down; the conftest closes the test's sessions).
    """
    rel_path = name if name.endswith(".ipynb") else f"{name}.ipynb"
    t0 = time.monotonic()
    if theme is None:  # start from the default (light) theme whatever an earlier test did
        with contextlib.suppress(OSError):
            _settings_file(server.settings_dir, THEMES_SETTINGS).unlink()
    if cells is not None:
        write_notebook(server.root / rel_path, cells)
    elif not (server.root / rel_path).exists():
        raise FileNotFoundError(server.root / rel_path)
    page, owns = new_page(browser_or_page)
    page.set_default_timeout(WAIT_TIMEOUT_MS)
    page.set_default_navigation_timeout(timeout * 1000)
    session = NotebookSession(server, rel_path, page, owns)
    if _session_sink is not None:
        _session_sink(session)  # registered before anything can fail: artifacts on failure

    def lap(phase: str) -> None:
        nonlocal t0
        now = time.monotonic()
        session.timings[phase] = round(now - t0, 3)
        t0 = now

    lap("new_page")
    try:
        if start_kernel:
            session.start_kernel()
            lap("start_kernel")
        page.goto(server.notebook_url(rel_path), wait_until="domcontentloaded")
        lap("goto")
        session.wait_idle(timeout)
        lap("kernel_idle")
        if theme is not None:
            session.set_theme(theme)
            lap("theme")
        if run:
            session.run_all(timeout=timeout, check=check)
            lap("run_all")
    except BaseException:
        if _session_sink is None:
            session.close()
        raise
    return session


# ---------------------------------------------------------------------------------------------
# Processes (no psutil: /proc)
# ---------------------------------------------------------------------------------------------


def processes_with_env(name: str, value: str) -> list[tuple[int, str]]:
    """``(pid, command line)`` of every live process whose environment holds ``name=value``.

    Children inherit the environment, so a marker variable given to a server finds the server,
    its kernels and anything they started. Reads /proc (Linux); zombies (already exited, not yet
    reaped) have an empty environment and are not listed.
    """
    needle = f"{name}={value}".encode()
    found: list[tuple[int, str]] = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = Path(entry.path, "environ").read_bytes().split(b"\0")
            if needle not in environ:
                continue
            cmdline = Path(entry.path, "cmdline").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        found.append((int(entry.name), cmdline.replace(b"\0", b" ").decode(errors="replace")))
    return found


def wait_for_no_processes(
    name: str, value: str, timeout: float = DEFAULT_TIMEOUT
) -> list[tuple[int, str]]:
    """Wait until no process carries ``name=value``; return those still there at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        left = processes_with_env(name, value)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def kill_processes(processes: Iterable[tuple[int, str]]) -> None:
    """SIGKILL the given ``(pid, ...)`` (cleanup after a test found leftovers)."""
    for pid, _ in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------------------------------------
# Failure artifacts
# ---------------------------------------------------------------------------------------------


def save_failure_artifacts(
    test_name: str, sessions: list[NotebookSession], report_text: str = ""
) -> Path:
    """Save screenshot, page HTML, console log, notebook and server log tail of each session."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name).strip("_")[:150] or "test"
    out = ARTIFACTS_DIR / "failures" / safe
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    if report_text:
        (out / "failure.txt").write_text(strip_ansi(report_text))
    for i, sess in enumerate(sessions):
        prefix = "" if len(sessions) == 1 else f"{i}-{sess.name}-"
        problems: list[str] = []
        try:
            sess.page.screenshot(path=str(out / f"{prefix}screenshot.png"), timeout=30_000)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"screenshot: {exc!r}")
        try:
            (out / f"{prefix}page.html").write_text(sess.page.content())
        except Exception as exc:  # noqa: BLE001
            problems.append(f"page.content: {exc!r}")
        (out / f"{prefix}console.log").write_text("\n".join(sess.console) + "\n")
        with contextlib.suppress(OSError):
            shutil.copy(sess.path, out / f"{prefix}{sess.path.name}")
        tail = sess.server.log_tail(200)
        (out / f"{prefix}server.log").write_text(tail + "\n")
        if problems:
            (out / f"{prefix}artifact-problems.txt").write_text("\n".join(problems) + "\n")
    return out


def chromium_missing_message() -> str:
    return (
        f"chromium not found at {CHROMIUM}: install Debian's package "
        "(`apt-get update && apt-get install -y chromium`; never `playwright install`), "
        "or set MJW_CHROMIUM to a chromium binary; or deselect with -m 'not browser'"
    )
