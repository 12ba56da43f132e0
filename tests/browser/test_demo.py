"""The README's demo command: JupyterLab opens on the quick start, which renders a grid."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time

import harness


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_demo_command_opens_the_quickstart_and_reaches_a_grid(browser, tmp_path):
    env = harness.server_env(tmp_path)
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
    try:
        token = None
        for _ in range(300):
            found = re.search(r"token ([0-9a-f]{32})", log_path.read_text(errors="replace"))
            if found and f":{port}/" in log_path.read_text(errors="replace"):
                token = found.group(1)
                break
            assert proc.poll() is None, log_path.read_text()
            time.sleep(0.1)
        assert token, log_path.read_text()
        assert (tmp_path / "nb" / "quickstart.ipynb").exists()
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/lab/tree/quickstart.ipynb?token={token}")
        page.locator("#jp-main-statusbar", has_text="Idle").wait_for(timeout=60_000)
        page.wait_for_function("() => window.jupyterapp !== undefined", timeout=30_000)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        grid = page.locator(".mjw-task[data-status='SUCCESS'][data-painted]").first
        grid.wait_for(timeout=90_000)
        assert grid.locator("button.mjw-button", has_text="U2").count() == 1
        assert page.locator(".mjw-badge").first.inner_text() == "simulator"
        screens = harness.ARTIFACTS_DIR / "screens"
        screens.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screens / "demo-quickstart.png"))
        page.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
