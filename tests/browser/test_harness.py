"""Smoke tests of the browser harness: an inline anywidget clicked in JupyterLab and Notebook 7."""

from __future__ import annotations

from harness import JupyterServer, open_notebook

SMOKE_CELLS = [
    '''
import anywidget
import traitlets


class Smoke(anywidget.AnyWidget):
    _esm = """
    function render({ model, el, signal }) {
      const button = document.createElement("button");
      button.className = "mjw-smoke";
      const update = () => { button.textContent = `count is ${model.get("count")}`; };
      button.addEventListener("click", () => {
        model.set("count", model.get("count") + 1);
        model.save_changes();
      }, { signal });
      model.on("change:count", update);
      update();
      el.appendChild(button);
    }
    export default { render };
    """
    count = traitlets.Int(0).tag(sync=True)
''',
    "w = Smoke()\nw",
    "import os\nprint('MJ_HOME', os.environ.get('MJ_HOME'), 'MJ_BASE_URL', "
    "os.environ.get('MJ_BASE_URL'))",
]


def _click_three_times(server: JupyterServer, browser, name: str) -> None:
    nb = open_notebook(server, browser, name, SMOKE_CELLS)
    button = nb.page.locator("button.mjw-smoke")
    button.wait_for(state="visible")
    assert button.inner_text() == "count is 0"
    for _ in range(3):
        button.click()
    nb.page.locator("button.mjw-smoke", has_text="count is 3").wait_for()
    nb.wait_until("w.count == 3")
    assert nb.execute("w.count") == "3"
    # The kernel runs with the isolated MJ_HOME and without MJ_BASE_URL (embedded simulator).
    env = nb.eval("[os.environ.get('MJ_HOME'), os.environ.get('MJ_BASE_URL')]")
    assert env == [server.env["MJ_HOME"], None]
    assert not nb.page_errors(), nb.console
    nb.screenshot(name)


def test_anywidget_clicks_in_jupyterlab(jupyter_lab, browser):
    _click_three_times(jupyter_lab, browser, "test_smoke_lab")


def test_anywidget_clicks_in_notebook7(jupyter_notebook7, browser):
    _click_three_times(jupyter_notebook7, browser, "test_smoke_nb7")
