"""Fixtures for real-browser widget tests (JupyterLab / Notebook 7 + Debian chromium).

Fixtures: ``browser`` (playwright Browser), ``jupyter_lab`` and ``jupyter_notebook7``
(``harness.JupyterServer``), ``jupyter_extra_env`` (override it to pass variables to kernels).
Open notebooks with ``harness.open_notebook``. Every test under tests/browser is marked
``browser`` (deselect with ``-m "not browser"``). On failure, screenshots, page HTML and console
logs of the test's notebook sessions go to ``test-artifacts/failures/<test-name>/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import harness
import pytest

_HERE = Path(__file__).resolve().parent
SESSIONS = pytest.StashKey[list]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: real-browser test (JupyterLab/Notebook 7 in chromium via playwright)"
    )


# Per-test bound for browser tests (pytest-timeout; the project default of 120 s is for unit
# tests). It includes starting the session's servers and ends a hang; CI runs the suite with one
# core kept busy, where a real browser, a Jupyter server and a kernel share what is left.
BROWSER_TEST_TIMEOUT = 300


@pytest.hookimpl(tryfirst=True)  # before -m deselection sees the items
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(BROWSER_TEST_TIMEOUT))


# -- browser -------------------------------------------------------------------------------------


def _unavailable(message: str) -> None:
    if harness._ci():
        pytest.fail(f"{message} (CI=true: browser tests must run)", pytrace=False)
    pytest.skip(message)


def _require_browser() -> None:
    """Skip (locally) or fail (CI=true) when chromium or playwright is missing."""
    if not (os.path.isfile(harness.CHROMIUM) and os.access(harness.CHROMIUM, os.X_OK)):
        _unavailable(harness.chromium_missing_message())
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("playwright is not installed: pip install -e '.[test]'")


def pytest_runtest_setup(item: pytest.Item) -> None:
    # Decide before any fixture starts a Jupyter server for nothing.
    if "browser" in getattr(item, "fixturenames", ()):
        _require_browser()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """A headless Debian chromium (``playwright.sync_api.Browser``) shared by the session."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(
            executable_path=harness.CHROMIUM, headless=True, args=harness.CHROMIUM_ARGS
        )
    except Exception:
        pw.stop()
        raise
    try:
        yield b
    finally:
        try:
            b.close()
        finally:
            pw.stop()


# -- servers -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def jupyter_extra_env() -> dict[str, str | None]:
    """Extra environment for the test servers, hence their kernels (None removes a variable).

    Defaults: nothing extra. The harness already isolates MJ_HOME (a temp dir per server) and
    removes MJ_BASE_URL / MJ_API_KEY / MJ_AUTH so notebooks use the embedded simulator. Override
    this fixture in a conftest (session scope) to add e.g. ``{"MJ_SIM_SPEED": "20"}``.
    """
    return {}


def _server(kind: str, tmp_path_factory, extra_env) -> Iterator[harness.JupyterServer]:
    server = harness.start_jupyter(kind, tmp_path_factory.mktemp(f"jupyter-{kind}"), extra_env)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def jupyter_lab(tmp_path_factory, jupyter_extra_env) -> Iterator[harness.JupyterServer]:
    """A JupyterLab server for the whole session (``.url``, ``.token``, ``.root``, ...)."""
    yield from _server("lab", tmp_path_factory, jupyter_extra_env)


@pytest.fixture(scope="session")
def jupyter_notebook7(tmp_path_factory, jupyter_extra_env) -> Iterator[harness.JupyterServer]:
    """A Notebook 7 server for the whole session (notebook URLs ``<url>notebooks/<name>``)."""
    yield from _server("notebook7", tmp_path_factory, jupyter_extra_env)


# -- per-test session tracking and failure artifacts ---------------------------------------------


@pytest.fixture(autouse=True)
def _notebook_sessions(request: pytest.FixtureRequest) -> Iterator[list]:
    """Collect the test's NotebookSessions (for failure artifacts) and close them afterwards."""
    sessions: list[harness.NotebookSession] = []
    request.node.stash[SESSIONS] = sessions
    harness.set_session_sink(sessions.append)
    try:
        yield sessions
    finally:
        harness.set_session_sink(None)
        for sess in reversed(sessions):
            sess.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if not report.failed or report.when not in ("setup", "call"):
        return
    sessions = item.stash.get(SESSIONS, [])
    if not sessions:
        return
    try:
        out = harness.save_failure_artifacts(item.name, sessions, report.longreprtext)
        report.sections.append(("browser artifacts", f"saved to {out}"))
    except Exception as exc:  # noqa: BLE001 - never mask the test's own failure
        report.sections.append(("browser artifacts", f"could not save: {exc!r}"))
