"""A sweep of six prompts in the browser: a labelled grid of cards, in light and dark theme."""

from __future__ import annotations

from harness import DEFAULT_TIMEOUT, open_notebook

CELLS = [
    """
import os
os.environ["MJ_SIM_SPEED"] = "20"
import mjwidgets as mjw
studio = mjw.Studio()
studio
""",
    """sweep = studio.sweep("a red fox in snow", ar=["1:1", "3:2"], stylize=[50, 250, 750])""",
]


def test_sweep_of_six_prompts_in_light_and_dark(jupyter_lab, browser):
    nb = open_notebook(jupyter_lab, browser, "sweep_grid", CELLS)
    page = nb.page
    nb.wait_until("all(i.done for i in sweep.items)", timeout=2 * DEFAULT_TIMEOUT)
    cards = page.locator(".mjw-sweep .mjw-task[data-status='SUCCESS'][data-painted]")
    page.wait_for_function(
        '() => document.querySelectorAll(".mjw-sweep .mjw-task[data-painted]").length === 6',
        timeout=DEFAULT_TIMEOUT * 1000,
    )
    assert cards.count() == 6
    assert page.locator(".mjw-sweep-col").all_inner_texts() == [
        "--stylize 50",
        "--stylize 250",
        "--stylize 750",
    ]
    assert page.locator(".mjw-sweep-row").all_inner_texts() == ["1:1", "3:2"]
    page.locator(".mjw-sweep-progress", has_text="sweep 6/6 done").first.wait_for()
    assert nb.eval("max(mjw.sim.embedded().stats()['submits_by_state'].values())") == 1
    prompts = sorted(nb.eval("[t.prompt for t in sweep.tasks]"))
    assert prompts[0] == "a red fox in snow --ar 1:1 --stylize 250"
    page.locator(".mjw-sweep").first.scroll_into_view_if_needed()
    nb.screenshot("sweep-light", selector=".mjw-sweep")
    nb.set_theme("dark")
    page.wait_for_timeout(1500)  # let the theme transition finish before the picture
    nb.screenshot("sweep-dark", selector=".mjw-sweep")
    page.locator(".mjw-studio-bar").scroll_into_view_if_needed()
    nb.screenshot("studio-dark")
    assert not nb.page_errors(), nb.console
