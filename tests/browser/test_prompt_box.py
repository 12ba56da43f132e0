"""The Studio's prompt box in a real browser: it checks before it sends (and keeps the text),
ArrowUp/ArrowDown recall earlier prompts, and its controls write and read the parameters."""

from __future__ import annotations

from harness import open_notebook

SETUP = """
import os
os.environ["MJ_SIM_SPEED"] = "40"
import mjwidgets as mjw
studio = mjw.Studio()
older = studio.tracker.imagine("an older prompt from the history")  # in the history, not shown
studio
"""

BOX = "textarea.mjw-prompt"


def _problems(page) -> list[str]:
    return page.locator(".mjw-prompt-problems li").all_inner_texts()


def _wait_problem(page, text: str) -> None:
    page.wait_for_function(
        """t => [...document.querySelectorAll('.mjw-prompt-problems li')]
                  .some(li => li.textContent.includes(t))""",
        arg=text,
        timeout=30_000,
    )


def _wait_value(page, value: str) -> None:
    page.wait_for_function(
        "v => document.querySelector('textarea.mjw-prompt').value === v", arg=value, timeout=30_000
    )


def test_bad_prompts_are_refused_in_place_and_keep_their_text(jupyter_lab, browser):
    nb = open_notebook(jupyter_lab, browser, "prompt_checks", [SETUP])
    page = nb.page
    box = page.locator(BOX)
    box.wait_for(timeout=30_000)

    box.click()
    box.fill("tea in a glass --v 9")  # shown as you type, before Enter
    _wait_problem(page, "--v 9 is not a Midjourney version")
    box.press("Enter")
    page.locator(".mjw-prompt-problems.mjw-refused").wait_for(timeout=30_000)
    assert box.input_value() == "tea in a glass --v 9", "the refused text stays in the box"

    box.fill("--ar 3:2")
    box.press("Enter")
    _wait_problem(page, "the prompt is empty")
    assert box.input_value() == "--ar 3:2"

    box.fill("a fox --niji 7 --v 7")
    box.press("Enter")
    _wait_problem(page, "cannot be used together")
    assert box.input_value() == "a fox --niji 7 --v 7"
    nb.screenshot("prompt-refused", docs=True)

    assert page.locator(".mjw-task").count() == 0, "nothing was sent"
    assert nb.eval("len(mjw.sim.embedded().tasks())") == 1, "only the history's own task"
    assert not nb.page_errors(), nb.console


def test_controls_write_the_parameters_and_read_them_back(jupyter_lab, browser):
    nb = open_notebook(jupyter_lab, browser, "prompt_controls", [SETUP])
    page = nb.page
    box = page.locator(BOX)
    box.wait_for(timeout=30_000)
    box.click()
    box.fill("a red fox in snow")
    page.locator(".mjw-settings-toggle").click()

    page.locator(".mjw-aspect[data-ar='3:2']").click()
    _wait_value(page, "a red fox in snow --ar 3:2")
    page.locator(".mjw-aspect[data-ar='3:2'].mjw-on").wait_for(timeout=30_000)

    page.locator(".mjw-seg[data-version='niji 7']").click()
    _wait_value(page, "a red fox in snow --ar 3:2 --niji 7")
    page.locator(".mjw-seg[data-speed='relax']").click()
    _wait_value(page, "a red fox in snow --ar 3:2 --niji 7 --relax")
    stylize = page.locator(".mjw-slider input[data-param='stylize']")
    stylize.evaluate(
        "el => { el.value = '250'; el.dispatchEvent(new Event('input'));"
        " el.dispatchEvent(new Event('change')); }"
    )
    _wait_value(page, "a red fox in snow --ar 3:2 --niji 7 --relax --stylize 250")
    page.locator(".mjw-seg[data-version='8.1']").click()  # the version replaces niji
    _wait_value(page, "a red fox in snow --ar 3:2 --relax --stylize 250 --v 8.1")

    # typed by hand (aliases too): the controls read it back
    box.fill("a red fox in snow --ar 16:9 --s 600 --style raw --turbo")
    page.locator(".mjw-aspect[data-ar='16:9'].mjw-on").wait_for(timeout=30_000)
    page.wait_for_function(
        """() => document.querySelector(".mjw-slider input[data-param='stylize']").value === '600'
              && document.querySelector('.mjw-raw input').checked
              && document.querySelector(".mjw-seg[data-speed='turbo']")
                   .classList.contains('mjw-on')""",
        timeout=30_000,
    )
    assert page.locator(".mjw-aspect[data-ar='3:2'].mjw-on").count() == 0
    page.locator(".mjw-aspect[data-ar='1:1']").click()  # square is the default: no --ar
    _wait_value(page, "a red fox in snow --s 600 --style raw --turbo")
    nb.screenshot("prompt-settings", docs=True)
    assert not nb.page_errors(), nb.console


def test_arrow_keys_recall_this_session_and_the_history(jupyter_lab, browser):
    nb = open_notebook(jupyter_lab, browser, "prompt_recall", [SETUP])
    page = nb.page
    box = page.locator(BOX)
    box.wait_for(timeout=30_000)
    box.click()
    box.fill("a lighthouse at dusk --ar 3:2")
    box.press("Enter")
    page.locator(".mjw-task").first.wait_for(timeout=30_000)
    _wait_value(page, "")  # sent: the box is ready for the next prompt

    box.fill("a draft not sent yet")
    box.press("ArrowUp")
    _wait_value(page, "a lighthouse at dusk --ar 3:2")
    box.press("ArrowUp")
    _wait_value(page, "an older prompt from the history")
    box.press("ArrowDown")
    _wait_value(page, "a lighthouse at dusk --ar 3:2")
    box.press("ArrowDown")
    _wait_value(page, "a draft not sent yet")  # back to what was being written
    assert not nb.page_errors(), nb.console
