"""The video card in JupyterLab (Debian chromium): Animate on an upscale → four clips that play;
U2 → one clip → Extend → a longer clip; Animate on new-api through /submit/video, billed once;
and a saved notebook that keeps the posters (and the clips only when small), never the key.

"Plays" is read from the page's own video elements: ``readyState`` ≥ 3 (data to play on) and
``currentTime`` moving while the clip is not paused; a clip's length is the element's
``duration`` once its metadata is in.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import harness
import pytest
from harness import DEFAULT_TIMEOUT, open_notebook
from playwright.sync_api import expect

from mjwidgets.videocache import CARD_CLIP_BUDGET

JOB_MS = int(DEFAULT_TIMEOUT * 1000)

SETUP = """
import os
os.environ["MJ_SIM_SPEED"] = "40"
os.environ["MJ_HOME"] = __import__("tempfile").mkdtemp(prefix="mjw-")  # a history of its own
os.environ["MJ_SIM_FLAVOR"] = "{flavor}"
import mjwidgets as mjw
studio = mjw.Studio()
studio
"""
UPSCALE = """
grid = studio.imagine("a red kite over dunes --v 7")
grid.wait(120)
upscale = grid.press("U1")
upscale.wait(120)
"""


def _card(page, task_id: str):
    return page.locator(f".mjw-task[data-task-id='{task_id}']")


def _child_of(page, parent_id: str):
    """The card whose lineage link points at ``parent_id`` (the newest such card)."""
    card = page.locator(f".mjw-task:has(.mjw-lineage[title='Show task {parent_id}'])").last
    card.wait_for(timeout=JOB_MS)
    return card


def _posters_painted(page, task_id: str, count: int) -> None:
    page.wait_for_function(
        """([id, count]) => {
          const root = document.querySelector(`.mjw-task[data-task-id='${id}']`);
          if (!root || root.dataset.posters !== id) return false;
          const posters = [...root.querySelectorAll('.mjw-clip .mjw-clip-poster')];
          return posters.length === count && posters.every(p => p.naturalWidth > 0);
        }""",
        arg=[task_id, count],
        timeout=JOB_MS,
    )


# Every clip of the card: readyState ≥ 3, not paused, and currentTime moved since the first look.
_PLAYING = """([id, count]) => {
  const videos = [...document.querySelectorAll(
    `.mjw-task[data-task-id='${id}'] .mjw-clip video`)];
  if (videos.length !== count) return false;
  window.__mjwFirst = window.__mjwFirst || new Map();
  return videos.every(v => {
    if (v.readyState < 3 || v.paused) return false;
    if (!window.__mjwFirst.has(v)) { window.__mjwFirst.set(v, v.currentTime); return false; }
    return Math.abs(v.currentTime - window.__mjwFirst.get(v)) > 0.5;
  });
}"""


def _play_all(page, task_id: str, count: int) -> list[dict]:
    """Click every clip (a click keeps it playing), wait until all play; their facts."""
    card = _card(page, task_id)
    for index in range(count):
        cell = card.locator(f".mjw-clip[data-index='{index}']")
        cell.scroll_into_view_if_needed()
        cell.click(position={"x": 20, "y": 30})
    page.wait_for_function(_PLAYING, arg=[task_id, count], timeout=JOB_MS)
    return page.evaluate(
        """id => [...document.querySelectorAll(
             `.mjw-task[data-task-id='${id}'] .mjw-clip video`)].map(v => ({
               readyState: v.readyState, time: v.currentTime, duration: v.duration,
               width: v.videoWidth, height: v.videoHeight, muted: v.muted, loop: v.loop}))""",
        task_id,
    )


def test_animate_plays_four_clips_then_u2_and_extend_make_a_longer_clip(jupyter_lab, browser):
    nb = open_notebook(
        jupyter_lab, browser, "video_card", [SETUP.format(flavor="plus"), UPSCALE], timeout=240
    )
    page = nb.page
    upscale_id = nb.eval("upscale.task.id")
    up_card = _card(page, upscale_id)
    up_card.locator("button.mjw-button", has_text="Animate (High motion)").click()

    video_card = _child_of(page, upscale_id)
    video_id = video_card.get_attribute("data-task-id")
    _posters_painted(page, video_id, 4)
    assert video_card.locator(".mjw-clip").count() == 4
    assert video_card.locator("img.mjw-image").is_hidden(), "posters, not the image, are shown"
    played = _play_all(page, video_id, 4)
    assert all(p["muted"] and p["loop"] for p in played), played
    assert all(abs(p["duration"] - 5.0) < 0.2 for p in played), played
    assert nb.eval(f"studio.cards[{video_id!r}].task.action") == "VIDEO"

    page.mouse.move(5, 5)
    for width, theme in ((1400, "light"), (800, "light"), (800, "dark"), (1400, "dark")):
        page.set_viewport_size({"width": width, "height": 1000})
        nb.set_theme(theme)
        page.wait_for_timeout(800)  # only for the picture: let the theme's splash fade
        video_card.scroll_into_view_if_needed()
        nb.screenshot(
            f"video-card-{width}-{theme}",
            selector=f".mjw-task[data-task-id='{video_id}']",
            docs=True,
        )
    page.set_viewport_size({"width": 1400, "height": 1000})
    nb.set_theme("light")

    # the full-size player: the lightbox plays clip 2
    cell = video_card.locator(".mjw-clip[data-index='1']")
    cell.hover()
    cell.locator(".mjw-clip-full").click()
    page.wait_for_function(
        """() => {
          const o = document.querySelector('body > .mjw-lightbox');
          const v = o && o.querySelector('video.mjw-lb-video');
          return o && !o.hidden && o.dataset.state === 'full' && o.dataset.index === '2'
            && v && !v.hidden && v.readyState >= 2 && v.videoWidth > 0;
        }""",
        timeout=JOB_MS,
    )
    assert "Clip 2 of 4" in page.locator(".mjw-lb-title").inner_text()
    nb.screenshot("video-lightbox", docs=True)
    page.keyboard.press("Escape")

    video_card.locator("button.mjw-button", has_text="U2").click()
    single = _child_of(page, video_id)
    single_id = single.get_attribute("data-task-id")
    _posters_painted(page, single_id, 1)
    (first,) = _play_all(page, single_id, 1)
    assert abs(first["duration"] - 5.0) < 0.2, first

    single.locator("button.mjw-button", has_text="Extend (High motion)").click()
    longer = _child_of(page, single_id)
    longer_id = longer.get_attribute("data-task-id")
    count = nb.wait_until(f"len(studio.cards[{longer_id!r}].task.video_urls)", timeout=120)
    _posters_painted(page, longer_id, count)  # the simulator's Extend makes a grid, as Plus does
    extended = _play_all(page, longer_id, count)
    assert all(abs(e["duration"] - 9.0) < 0.3 for e in extended), extended  # 5 s + 4 s
    labels = longer.locator(".mjw-clip-duration").all_inner_texts()
    assert labels == ["9.0 s"] * count, labels

    # per-clip download: the mp4 as the server made it
    with page.expect_download(timeout=JOB_MS) as download:
        longer.locator(".mjw-clip").first.hover()
        longer.locator(".mjw-clip-download").first.click()
    saved = download.value.path()
    suffix = "-1" if count > 1 else ""
    assert download.value.suggested_filename == f"mj-{longer_id}{suffix}.mp4"
    assert open(saved, "rb").read()[4:8] == b"ftyp"
    assert not nb.page_errors(), nb.console


def test_animate_on_new_api_goes_through_submit_video_and_bills_once(jupyter_lab, browser):
    nb = open_notebook(
        jupyter_lab, browser, "video_newapi", [SETUP.format(flavor="newapi"), UPSCALE], timeout=240
    )
    page = nb.page
    upscale_id = nb.eval("upscale.task.id")
    before = nb.eval("mjw.sim.embedded().stats()['requests']")
    button = _card(page, upscale_id).locator("button.mjw-button", has_text="Animate (Low motion)")
    assert button.get_attribute("aria-disabled") is None, "shown as pressable"
    assert "/submit/video" in (button.get_attribute("title") or "")
    button.dblclick()  # a double click is still one job
    video_card = _child_of(page, upscale_id)
    video_id = video_card.get_attribute("data-task-id")
    _posters_painted(page, video_id, 4)
    _play_all(page, video_id, 4)
    after = nb.eval("mjw.sim.embedded().stats()['requests']")
    videos = after.get("POST /mj/submit/video", 0) - before.get("POST /mj/submit/video", 0)
    actions = after.get("POST /mj/submit/action", 0) - before.get("POST /mj/submit/action", 0)
    assert (videos, actions) == (1, 0), after
    assert nb.eval(f"studio.cards[{video_id!r}].task.parent_id") == upscale_id

    # no U for clips on this relay: each clip offers "+4 s" (Extend through /submit/video)
    cell = video_card.locator(".mjw-clip[data-index='1']")
    cell.hover()
    longer_button = cell.locator(".mjw-clip-extend")
    assert "/submit/video" in longer_button.get_attribute("title")
    nb.screenshot("video-card-newapi-extend", selector=f".mjw-task[data-task-id='{video_id}']")
    before = nb.eval("mjw.sim.embedded().stats()['requests']")
    longer_button.dblclick()  # one job; the button keeps the keyboard on the card meanwhile
    assert page.evaluate("document.activeElement.classList.contains('mjw-clip-extend')")
    longer = _child_of(page, video_id)
    longer_id = longer.get_attribute("data-task-id")
    after = nb.eval("mjw.sim.embedded().stats()['requests']")
    assert after.get("POST /mj/submit/video", 0) - before.get("POST /mj/submit/video", 0) == 1
    # its job is out: "+4 s" can be pressed again (another four seconds, another job)
    cell.hover()
    expect(longer_button).not_to_have_attribute("aria-disabled", "true", timeout=JOB_MS)
    assert page.evaluate("document.activeElement.classList.contains('mjw-clip-extend')")
    count = nb.wait_until(f"len(studio.cards[{longer_id!r}].task.video_urls)", timeout=120)
    _posters_painted(page, longer_id, count)
    extended = _play_all(page, longer_id, count)
    assert all(abs(e["duration"] - 9.0) < 0.3 for e in extended), extended  # clip 2 + 4 s
    assert not nb.page_errors(), nb.console


@pytest.fixture(scope="module")
def lab_defaults(tmp_path_factory, jupyter_extra_env) -> Iterator[harness.JupyterServer]:
    """A JupyterLab that saves notebooks as it does out of the box: without widget state."""
    server = harness.start_jupyter(
        "lab",
        tmp_path_factory.mktemp("jupyter-lab-video-defaults"),
        jupyter_extra_env,
        settings={"@jupyter-widgets/jupyterlab-manager:plugin": {"saveState": False}},
    )
    try:
        yield server
    finally:
        server.stop()


def test_a_saved_notebook_keeps_the_posters_and_small_clips_and_no_key(
    lab_defaults, browser, tmp_path
):
    key_file = tmp_path / "key.txt"  # the key reaches the kernel without being in a cell
    key_file.write_text("sk-video-secret-4242")
    cells = [
        f"""
import os
os.environ["MJ_SIM_SPEED"] = "40"
os.environ["MJ_HOME"] = __import__("tempfile").mkdtemp(prefix="mjw-")  # a history of its own
os.environ["MJ_API_KEY"] = open({str(key_file)!r}).read()
import mjwidgets as mjw
studio = mjw.Studio()
studio
""",
        UPSCALE
        + """
video = upscale.press("Animate (Low motion)")
video.wait(120)
import time
deadline = time.monotonic() + 120
while not studio.cards[video.task.id].card.clips and time.monotonic() < deadline:
    time.sleep(0.2)
carried = sum(len(c.data or b"") for c in video.snapshot_clips)
""",
    ]
    nb = open_notebook(lab_defaults, browser, "video_saved", cells, timeout=240)
    page = nb.page
    video_id = nb.eval("video.task.id")
    _posters_painted(page, video_id, 4)
    carried = nb.eval("carried")
    page.wait_for_function(  # the (hidden) snapshot has the four posters
        """id => document.querySelectorAll(
             `.mjw-snapshot-card[data-task-id='${id}'] .mjw-snapshot-poster img`).length === 4""",
        arg=video_id,
        timeout=JOB_MS,
    )
    path = nb.save()
    text = path.read_text()
    assert "sk-video-secret-4242" not in text
    saved = json.loads(text)
    html = "".join(
        "".join(out["data"]["text/html"])
        for cell in saved["cells"]
        for out in cell.get("outputs", [])
        if "text/html" in out.get("data", {})
    )
    assert f'data-task-id="{video_id}"' in html
    posters = html.count('class="mjw-snapshot-poster"')
    assert posters == 4, posters
    clips = html.count('src="data:video/mp4;base64,')
    assert clips == (4 if 0 < carried <= CARD_CLIP_BUDGET else 0), (clips, carried)
    assert carried <= CARD_CLIP_BUDGET
    # the video card's part of the snapshot: four small posters and the clips it may carry
    start = html.index(f'<figure class="mjw-snapshot-card" data-task-id="{video_id}"')
    figure = html[start : html.index("</figure>", start)]
    assert len(figure) <= 4 * 20_000 + CARD_CLIP_BUDGET * 4 // 3 + 4_000, len(figure)

    converted = subprocess.run(
        [sys.executable, "-m", "nbconvert", "--to", "html", "--stdout", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert converted.count('class="mjw-snapshot-poster"') == 4
    assert "sk-video-secret-4242" not in converted

    nb.close()  # the kernel too: the reopened notebook starts a new, empty one
    again = open_notebook(lab_defaults, browser, "video_saved", None, run=False, timeout=120)
    page = again.page
    page.wait_for_function(  # the reopened notebook shows the video card's four posters
        """id => [...document.querySelectorAll(
              `.mjw-snapshot-card[data-task-id='${id}'] .mjw-snapshot-poster img`)]
            .filter(i => i.naturalWidth > 0 && i.getBoundingClientRect().height > 30)
            .length === 4""",
        arg=video_id,
        timeout=JOB_MS,
    )
    if clips:  # the carried clips play there, with no kernel
        page.wait_for_function(
            """id => [...document.querySelectorAll(
                  `.mjw-snapshot-card[data-task-id='${id}'] video.mjw-snapshot-clip`)]
                .filter(v => v.readyState >= 1 && Math.abs(v.duration - 5) < 0.2).length === 4""",
            arg=video_id,
            timeout=JOB_MS,
        )
    page.locator(f".mjw-snapshot-card[data-task-id='{video_id}']").scroll_into_view_if_needed()
    again.screenshot("video-notebook-reopened", docs=True)
    assert not again.page_errors(), again.console


def test_compare_plays_two_clips_side_by_side_and_the_history_marks_the_video(jupyter_lab, browser):
    cells = [
        SETUP.format(flavor="plus"),
        UPSCALE
        + """
video = upscale.press("Animate (High motion)").wait(120)
""",
        "mjw.Compare([(video, 0), (video, 2)])",
        "history = mjw.HistoryView(studio=studio)\nhistory.show(video.id)\nhistory",
    ]
    nb = open_notebook(jupyter_lab, browser, "video_compare", cells, timeout=240)
    page = nb.page
    video_id = nb.eval("video.id")
    compare = page.locator(".mjw-compare-view").first
    compare.wait_for(timeout=JOB_MS)
    assert compare.locator(".mjw-compare-clip").count() == 2
    compare.locator(".mjw-compare-play").click()
    page.wait_for_function(
        """() => {
          const videos = [...document.querySelectorAll('.mjw-compare-view video')];
          window.__mjwCmp = window.__mjwCmp || new Map();
          return videos.length === 2 && videos.every(v => {
            if (v.readyState < 3 || v.paused) return false;
            if (!window.__mjwCmp.has(v)) { window.__mjwCmp.set(v, v.currentTime); return false; }
            return Math.abs(v.currentTime - window.__mjwCmp.get(v)) > 0.5;
          });
        }""",
        timeout=JOB_MS,
    )
    compare.scroll_into_view_if_needed()
    nb.screenshot("video-compare", selector=".mjw-compare-view", docs=True)

    tile = page.locator(f".mjw-history .mjw-thumb[data-task-id='{video_id}']")
    tile.wait_for(timeout=JOB_MS)
    assert tile.locator(".mjw-thumb-video").inner_text() == "▶ 4 clips · 5 s"
    assert tile.locator("img.mjw-thumb-img").evaluate("i => i.naturalWidth") > 0
    node = page.locator(f".mjw-lineage-node[data-task-id='{video_id}']")
    assert node.locator(".mjw-lineage-video").inner_text() == "▶ 4 clips · 5 s"
    _posters_painted(page, video_id, 4)
    page.locator(".mjw-history").first.scroll_into_view_if_needed()
    nb.screenshot("video-history", docs=True)
    assert not nb.page_errors(), nb.console
