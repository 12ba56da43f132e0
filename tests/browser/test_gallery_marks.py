"""The gallery's library in a real browser.

(a) Stars, a favourite and tags set on thumbnails, the shown task and the ticked ones; the filters
find the task; a new HistoryView on the same history file shows the marks and filters the same;
pictures at 1,400 and 800 px, light and dark.
(b) Two ticked thumbnails download as one zip (a real download): both images inside, each
carrying its record (``mjw.provenance`` on the extracted files), and the manifest.
(c) "Copy as code" on a card and on a history item puts the recipe on the clipboard; without a
clipboard the recipe is shown selected in a box. The card's ♥ and stars reach the history file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from harness import VIEWPORT, WAIT_TIMEOUT_MS, open_notebook

import mjwidgets as mjw

ROOT = Path(__file__).resolve().parents[2]
SETUP = """
import os
os.environ["MJ_SIM_SPEED"] = "20"
os.environ["MJ_HOME"] = __import__("tempfile").mkdtemp(prefix="mjw-")  # a history of its own
import mjwidgets as mjw
tracker = mjw.Tracker.for_client(mjw.Client())
wide = tracker.wait(tracker.imagine("a lighthouse on a basalt cliff at dawn --ar 3:2 --v 7"), 60)
single = tracker.wait(tracker.action(wide, "U2"), 60)
boat = tracker.wait(tracker.imagine('a paper <b>boat</b> on a quiet pond'), 60)
fox = tracker.wait(tracker.imagine("a red fox in deep snow --ar 2:3"), 60)
assert tracker.cache.drain(30)
h = mjw.HistoryView(tracker=tracker)
h
"""

# JupyterLab: append a code cell with `source` to the notebook at `path` and run it.
_ADD_AND_RUN_JS = """
async ([path, source]) => {
  const app = window.jupyterapp;
  let panel = null;
  for (const w of app.shell.widgets('main')) {
    if (w && w.context && w.context.path === path && w.content) panel = w;
  }
  if (!panel) throw new Error('notebook panel not found: ' + path);
  app.shell.activateById(panel.id);
  const notebook = panel.content;
  notebook.activeCellIndex = notebook.widgets.length - 1;
  await app.commands.execute('notebook:insert-cell-below');
  notebook.activeCell.model.sharedModel.setSource(source);
  await app.commands.execute('notebook:run-cell');
  return notebook.widgets.length;
}
"""


def _gallery(page, index=0):
    return page.locator(".mjw-history").nth(index)


def _thumb(gallery, task_id):
    return gallery.locator(f".mjw-thumb[data-task-id='{task_id}']")


def _shown_ids(page, index=0):
    return page.evaluate(
        "i => [...document.querySelectorAll('.mjw-history')[i].querySelectorAll('.mjw-thumb')]"
        ".map(t => t.dataset.taskId)",
        index,
    )


def _wait_shown(page, ids, index=0):
    page.wait_for_function(
        """([i, ids]) => {
          const g = document.querySelectorAll('.mjw-history')[i];
          const shown = g ? [...g.querySelectorAll('.mjw-thumb')].map(t => t.dataset.taskId) : [];
          return JSON.stringify(shown) === JSON.stringify(ids);
        }""",
        arg=[index, ids],
        timeout=WAIT_TIMEOUT_MS,
    )


def _wait_option(select, value):
    select.locator(f"option[value='{value}']").wait_for(state="attached")


def _pictures(nb, name):
    page = nb.page
    page.wait_for_function(
        "() => [...document.querySelectorAll('.mjw-history img.mjw-thumb-img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")  # the notebook's width
    for width in (1400, 800):
        page.set_viewport_size({"width": width, "height": VIEWPORT["height"]})
        for theme in ("light", "dark"):
            nb.set_theme(theme)
            page.wait_for_timeout(800)  # only for the picture: let the theme transition settle
            _gallery(page).evaluate("el => el.scrollIntoView({block: 'start'})")
            nb.screenshot(f"{name}-{width}-{theme}", selector=".mjw-history", docs=True)
    page.set_viewport_size(VIEWPORT)
    nb.set_theme("light")


def test_rate_tag_filter_and_a_fresh_gallery(jupyter_lab, browser):
    nb = open_notebook(jupyter_lab, browser, "library_marks", [SETUP])
    page = nb.page
    ids = nb.eval("{'wide': wide.id, 'single': single.id, 'boat': boat.id, 'fox': fox.id}")
    gallery = _gallery(page)
    for task_id in ids.values():
        _thumb(gallery, task_id).wait_for()

    # four stars on a thumbnail; a heart on another
    _thumb(gallery, ids["single"]).locator(".mjw-star[data-stars='4']").click()
    gallery.locator(f".mjw-thumb[data-task-id='{ids['single']}'][data-rating='4']").wait_for()
    _thumb(gallery, ids["fox"]).locator("button.mjw-fav").click()
    gallery.locator(f".mjw-thumb-favourite[data-task-id='{ids['fox']}']").wait_for()
    # the star click did not open the card: only a click on the tile does
    assert nb.eval("h.gallery.current") == ""

    # a tag typed on the shown task (a hostile one stays text)
    _thumb(gallery, ids["single"]).locator(".mjw-thumb-caption").click()
    editor = gallery.locator(f".mjw-marks-editor[data-task-id='{ids['single']}']")
    editor.wait_for()
    field = editor.locator("input.mjw-tag-input")
    field.fill("Keeper")
    field.press("Enter")
    field.fill("<img src=x onerror=window.__xss=1>")
    field.press("Enter")
    chip = _thumb(gallery, ids["single"]).locator(".mjw-tag[data-tag='keeper']")
    chip.wait_for()
    assert chip.inner_text() == "#keeper"
    editor.locator(".mjw-tag[data-tag='<img src=x onerror=window.__xss=1>']").wait_for()
    assert page.evaluate("() => window.__xss") is None
    editor.locator(".mjw-tag[data-tag='<img src=x onerror=window.__xss=1>'] button").click()
    editor.locator(".mjw-tag[data-tag^='<img']").wait_for(state="detached")
    assert nb.eval(f"list(h.store.library.marks({ids['single']!r}).tags)") == ["keeper"]

    # the filters find it
    tag_filter = gallery.locator("select.mjw-filter-tag")
    _wait_option(tag_filter, "keeper")
    tag_filter.select_option("keeper")
    _wait_shown(page, [ids["single"]])
    tag_filter.select_option("")
    _wait_shown(page, [ids["fox"], ids["boat"], ids["single"], ids["wide"]])
    gallery.locator("select.mjw-filter-rating").select_option("4")
    _wait_shown(page, [ids["single"]])
    gallery.locator("select.mjw-filter-rating").select_option("0")
    gallery.locator("button.mjw-filter-favourite").click()
    _wait_shown(page, [ids["fox"]])
    gallery.locator("button.mjw-filter-favourite").click()
    aspect = gallery.locator("select.mjw-filter-aspect")
    _wait_option(aspect, "3:2")
    aspect.select_option("3:2")
    _wait_shown(page, [ids["single"], ids["wide"]])
    version = gallery.locator("select.mjw-filter-version")
    _wait_option(version, "7")
    aspect.select_option("")
    version.select_option("7")
    _wait_shown(page, [ids["single"], ids["wide"]])
    version.select_option("")
    gallery.locator("select.mjw-filter-kind").select_option("video")
    gallery.locator(".mjw-history-empty:not([hidden])").wait_for()
    gallery.locator("select.mjw-filter-kind").select_option("")
    _wait_shown(page, [ids["fox"], ids["boat"], ids["single"], ids["wide"]])

    # pictures: ratings, tags, a favourite, a ticked pair
    for key in ("single", "fox"):
        _thumb(gallery, ids[key]).locator("input.mjw-thumb-check").check()
    nb.wait_until(f"h.selected == [{ids['single']!r}, {ids['fox']!r}]")
    ticked_tag = gallery.locator("input.mjw-history-tag-ticked")
    ticked_tag.fill("pair")
    ticked_tag.press("Enter")
    for key in ("single", "fox"):
        _thumb(gallery, ids[key]).locator(".mjw-tag[data-tag='pair']").wait_for()
    assert _thumb(gallery, ids["boat"]).locator(".mjw-tag").count() == 0
    _thumb(gallery, ids["boat"]).locator(".mjw-star[data-stars='2']").click()
    gallery.locator(f".mjw-thumb[data-task-id='{ids['boat']}'][data-rating='2']").wait_for()
    _pictures(nb, "gallery-library")

    # a new gallery reading the same history file
    page.evaluate(_ADD_AND_RUN_JS, [nb.rel_path, "h2 = mjw.HistoryView(tracker=tracker)\nh2"])
    fresh = _gallery(page, 1)
    _thumb(fresh, ids["single"]).wait_for()
    assert _thumb(fresh, ids["single"]).get_attribute("data-rating") == "4"
    fresh_tags = fresh.locator("select.mjw-filter-tag")
    _wait_option(fresh_tags, "keeper")
    fresh_tags.select_option("keeper")
    _wait_shown(page, [ids["single"]], index=1)
    assert _thumb(fresh, ids["single"]).locator(".mjw-tag").all_inner_texts() == [
        "#keeper",
        "#pair",
    ]
    assert nb.eval("[t.id for t in h2.tasks]") == [ids["single"]]
    assert not nb.page_errors(), nb.console


ZIP_SETUP = """
import os
os.environ["MJ_SIM_SPEED"] = "20"
os.environ["MJ_HOME"] = __import__("tempfile").mkdtemp(prefix="mjw-")  # a history of its own
import mjwidgets as mjw
tracker = mjw.Tracker.for_client(mjw.Client())
grid = tracker.wait(tracker.imagine("a glass teapot on a wooden table --ar 4:3"), 60)
pick = tracker.wait(tracker.action(grid, "U3"), 60)
other = tracker.wait(tracker.imagine("an origami crane on a windowsill"), 60)
assert tracker.cache.drain(30)
h = mjw.HistoryView(tracker=tracker)
h
"""


def test_two_ticked_images_download_as_a_zip(jupyter_lab, browser, tmp_path):
    nb = open_notebook(jupyter_lab, browser, "library_zip", [ZIP_SETUP])
    page = nb.page
    ids = nb.eval("{'pick': pick.id, 'other': other.id, 'grid': grid.id}")
    gallery = _gallery(page)
    zip_button = gallery.locator("button.mjw-history-zip")
    for key in ("pick", "other"):
        _thumb(gallery, ids[key]).locator("input.mjw-thumb-check").check()
    nb.wait_until(f"h.selected == [{ids['pick']!r}, {ids['other']!r}]")
    page.wait_for_function(
        "() => document.querySelector('button.mjw-history-zip')?.textContent"
        " === 'Download 2 as zip'"
    )
    with page.expect_download(timeout=WAIT_TIMEOUT_MS) as info:
        zip_button.click()
    download = info.value
    assert download.suggested_filename.endswith(".zip")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)

    with zipfile.ZipFile(saved) as archive:
        names = archive.namelist()
        images = sorted(n for n in names if "/images/" in n)
        assert len(images) == 2, names
        archive.extractall(tmp_path / "out")
        manifest = json.loads(archive.read(next(n for n in names if n.endswith("manifest.json"))))
    assert {t["id"] for t in manifest["tasks"]} == {ids["pick"], ids["other"]}
    records = {}
    for name in images:
        record = mjw.provenance(tmp_path / "out" / name)
        records[record["id"]] = record
    assert set(records) == {ids["pick"], ids["other"]}
    assert records[ids["pick"]]["prompt"] == "a glass teapot on a wooden table --ar 4:3"
    # the upscale's story: made by U3 from the grid
    assert [step.get("task_id") for step in records[ids["pick"]]["steps"]] == [
        ids["grid"],
        ids["pick"],
    ]
    # the button comes back once the zip is sent, and the gallery says what it made
    page.wait_for_function("() => !document.querySelector('button.mjw-history-zip')?.disabled")
    assert download.suggested_filename in nb.eval("h.gallery.message")
    assert not nb.page_errors(), nb.console


COPY_SETUP = [
    """
import os
os.environ["MJ_SIM_SPEED"] = "20"
os.environ["MJ_HOME"] = __import__("tempfile").mkdtemp(prefix="mjw-")  # a history of its own
import mjwidgets as mjw
tracker = mjw.Tracker.for_client(mjw.Client())
grid = tracker.wait(tracker.imagine("a brass compass on an old 'sea' chart --ar 3:2"), 60)
single = tracker.wait(tracker.action(grid, "U2"), 60)
assert tracker.cache.drain(30)
card = mjw.TaskView(single, tracker=tracker)
card
""",
    """
h = mjw.HistoryView(tracker=tracker)
h
""",
]


def _timeless(code):
    """A recipe without its "# From the history of …, <minute>" line."""
    return [line for line in code.splitlines() if not line.startswith("# From the history")]


def test_copy_as_code_puts_the_recipe_on_the_clipboard(jupyter_lab, browser, tmp_path):
    context = browser.new_context(
        viewport=VIEWPORT, permissions=["clipboard-read", "clipboard-write"]
    )
    page = context.new_page()
    try:
        nb = open_notebook(jupyter_lab, page, "library_copy", COPY_SETUP)
        expected = _timeless(nb.eval("mjw.recipe(single)"))
        assert any("ButtonKind.UPSAMPLE, index=2" in line for line in expected)

        card = page.locator(f".mjw-task[data-task-id='{nb.eval('single.id')}']").first
        card.locator("button.mjw-copy-code").click()
        card.locator(".mjw-note", has_text="Recipe copied").wait_for()
        copied = page.evaluate("() => navigator.clipboard.readText()")
        assert _timeless(copied) == expected
        # the copied cell makes the chain again in a fresh process on a fresh simulator
        (tmp_path / "recipe.py").write_text(
            copied + "\nprint('MADE', step1.action, step2.action, step2.origin_button.display)\n"
        )
        env = {k: v for k, v in os.environ.items() if k not in ("MJ_BASE_URL", "MJ_API_KEY")}
        env.update(MJ_HOME=str(tmp_path / "home"), MJ_SIM_SPEED="200", PYTHONPATH=str(ROOT))
        run = subprocess.run(
            [sys.executable, "recipe.py"], cwd=tmp_path, env=env, capture_output=True,
            text=True, timeout=200,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-2000:]
        assert "MADE IMAGINE UPSCALE U2" in run.stdout, run.stdout

        page.evaluate("() => navigator.clipboard.writeText('')")
        gallery = _gallery(page)
        _thumb(gallery, nb.eval("single.id")).locator(".mjw-thumb-caption").click()
        gallery.locator(".mjw-history-detail:not([hidden]) button.mjw-copy-code").click()
        gallery.locator(".mjw-note", has_text="Recipe copied").wait_for()
        assert _timeless(page.evaluate("() => navigator.clipboard.readText()")) == expected

        # the card rates and hearts its task too (the same history file as the gallery)
        card.locator(".mjw-card-marks .mjw-star[data-stars='5']").click()
        card.locator(".mjw-card-marks .mjw-stars[data-rating='5']").wait_for()
        card.locator(".mjw-card-marks button.mjw-fav").click()
        card.locator(".mjw-card-marks button.mjw-fav.mjw-on").wait_for()
        marks = nb.eval("h.store.library.marks(single.id).to_json()")
        assert marks["rating"] == 5 and marks["favourite"] is True

        # no clipboard (a plain http page, a denied permission): the recipe, selected, in a box
        page.evaluate("() => Object.defineProperty(navigator, 'clipboard', {value: undefined})")
        card.locator("button.mjw-copy-code").click()
        box = card.locator(".mjw-code-box textarea.mjw-code-text")
        box.wait_for()
        assert _timeless(box.input_value()) == expected
        assert page.evaluate(
            "() => { const a = document.activeElement;"
            " return a.classList.contains('mjw-code-text')"
            " && a.selectionEnd - a.selectionStart === a.value.length; }"
        )
        nb.screenshot("copy-as-code-fallback", selector=".mjw-task")
        assert not nb.page_errors(), nb.console
    finally:
        context.close()
