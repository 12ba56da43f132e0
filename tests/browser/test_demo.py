"""The README's demo command: JupyterLab opens on the quick start, which renders a grid; stopping
the demo (SIGTERM, as a service manager or `kill` does) leaves no server or kernel behind."""

from __future__ import annotations

import contextlib
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time

import harness

MARKER = "MJW_DEMO_TEST_RUN"  # an environment variable every process of this demo inherits


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _save_artifacts(page, log_path) -> None:
    """What the harness saves for notebook sessions: screenshot, page HTML, and the demo's log."""
    out = harness.ARTIFACTS_DIR / "failures" / "test_demo_command"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        shutil.copy(log_path, out / "demo.log")
    if page is not None:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(out / "screenshot.png"), timeout=30_000)
        with contextlib.suppress(Exception):
            (out / "page.html").write_text(page.content())


def test_demo_command_opens_the_quickstart_and_reaches_a_grid(browser, tmp_path):
    marker = secrets.token_hex(8)
    env = harness.server_env(tmp_path, {MARKER: marker})
    harness.write_settings(tmp_path / "lab-settings", harness.DEFAULT_SETTINGS)
    port = _free_port()
    log_path = tmp_path / "demo.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mjwidgets",
                "demo",
                "--no-browser",
                "--port",
                str(port),
                "--dir",
                str(tmp_path / "nb"),
                "--LabApp.expose_app_in_browser=True",
            ],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    page = None
    try:
        token = None
        deadline = time.monotonic() + harness.DEFAULT_TIMEOUT
        while token is None:  # the token line, and the server's address once it listens
            text = log_path.read_text(errors="replace")
            found = re.search(r"token ([0-9a-f]{32})", text)
            if found and f":{port}/" in text:
                token = found.group(1)
                break
            assert proc.poll() is None, text
            assert time.monotonic() < deadline, f"the demo did not start:\n{text}"
            time.sleep(0.1)
        assert (tmp_path / "nb" / "quickstart.ipynb").exists()
        page = browser.new_page(viewport=harness.VIEWPORT)
        page.set_default_timeout(harness.WAIT_TIMEOUT_MS)
        page.set_default_navigation_timeout(harness.DEFAULT_TIMEOUT * 1000)
        page.goto(f"http://127.0.0.1:{port}/lab/tree/quickstart.ipynb?token={token}")
        page.locator("#jp-main-statusbar").get_by_text(re.compile(r"\|\s*Idle")).first.wait_for(
            timeout=harness.DEFAULT_TIMEOUT * 1000
        )
        page.wait_for_function("() => window.jupyterapp !== undefined")
        # not awaited: the command's promise resolves only when the whole notebook has run
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        grid = page.locator(".mjw-task[data-status='SUCCESS'][data-painted]").first
        grid.wait_for(timeout=harness.DEFAULT_TIMEOUT * 1000)
        assert grid.locator("button.mjw-button", has_text="U2").count() == 1
        assert page.locator(".mjw-badge").first.inner_text() == "simulator"
        screens = harness.ARTIFACTS_DIR / "screens"
        screens.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screens / "demo-quickstart.png"))
        kernels = [p for p in harness.processes_with_env(MARKER, marker) if p[0] != proc.pid]
        assert any("ipykernel" in cmd for _, cmd in kernels), f"no kernel running: {kernels}"
    except BaseException:
        _save_artifacts(page, log_path)
        raise
    finally:
        if page is not None:
            with contextlib.suppress(Exception):
                page.close()
        proc.send_signal(signal.SIGTERM)  # how a service manager (or `kill`) stops the demo
        try:
            proc.wait(timeout=harness.DEFAULT_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        left = harness.wait_for_no_processes(MARKER, marker, timeout=30)
        harness.kill_processes(left)  # never leave them running, even when the test fails
    assert left == [], f"still running after the demo was stopped: {left}"
