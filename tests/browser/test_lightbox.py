"""The lightbox in a real browser: a grid's tile at full size, previous/next, the tile's own
download (compared pixel for pixel with the grid's quadrant), copy prompt, the seed, Escape."""

from __future__ import annotations

import numpy as np
from harness import open_notebook
from PIL import Image

CELLS = [
    """
import os
os.environ["MJ_SIM_SPEED"] = "40"
import mjwidgets as mjw
studio = mjw.Studio()
studio
""",
    """
second = studio.imagine("a lighthouse at dusk --ar 3:2")
first = studio.imagine("a red fox in snow, golden hour")
first.wait(120); second.wait(120)
""",
]

LIGHTBOX = "body > .mjw-lightbox"


def _painted(page, task_id: str) -> None:
    page.wait_for_function(
        "id => document.querySelector(`.mjw-task[data-task-id='${id}']`)?.dataset.painted === id",
        arg=task_id,
        timeout=120_000,
    )


def _showing(page, task_id: str, index: int) -> None:
    """Until the lightbox shows the full-size image ``index`` of ``task_id``."""
    page.wait_for_function(
        """([id, index]) => { const o = document.querySelector('body > .mjw-lightbox');
             return o && !o.hidden && o.dataset.taskId === id && o.dataset.index === index
                    && o.dataset.state === 'full'; }""",
        arg=[task_id, str(index)],
        timeout=120_000,
    )


def test_lightbox_shows_and_downloads_the_real_tile(jupyter_lab, browser):
    nb = open_notebook(jupyter_lab, browser, "lightbox", CELLS, timeout=180)
    page = nb.page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=jupyter_lab.url)
    first, second = nb.eval("[first.task.id, second.task.id]")
    _painted(page, first)
    _painted(page, second)
    card = page.locator(f".mjw-task[data-task-id='{first}']")
    card.locator(".mjw-tile-hit[data-index='2']").click()
    _showing(page, first, 2)
    overlay = page.locator(LIGHTBOX)
    size = overlay.evaluate("o => [o.dataset.naturalWidth, o.dataset.naturalHeight]")
    assert size == ["1024", "1024"], f"not the full-size tile of a 2048² grid: {size}"
    nb.screenshot("lightbox", docs=True)

    with page.expect_download(timeout=120_000) as download:
        overlay.locator(".mjw-lb-download").click()
    tile = np.asarray(Image.open(download.value.path()).convert("RGB"))
    nb.execute(
        "import numpy as np\n"
        f"grid = np.asarray(studio.cards[{first!r}].task.image().convert('RGB'))\n"
        "h, w = grid.shape[0] // 2, grid.shape[1] // 2\n"
        "np.save('quadrant2.npy', grid[:h, w:])"
    )
    quadrant = np.load(jupyter_lab.root / "quadrant2.npy")
    assert tile.shape == quadrant.shape and np.array_equal(tile, quadrant), "not tile 2's pixels"
    assert download.value.suggested_filename == f"mj-{first}-2.png"

    overlay.locator(".mjw-lb-copy-prompt").click()
    page.wait_for_function(
        "text => navigator.clipboard.readText().then(t => t === text)",
        arg="a red fox in snow, golden hour",
        timeout=30_000,
    )
    overlay.locator(".mjw-lb-seed-button").click()
    seed = nb.eval(f"studio.client.image_seed({first!r})")
    overlay.locator(".mjw-lb-seed-value", has_text=seed).wait_for(timeout=30_000)

    overlay.focus()
    page.keyboard.press("ArrowRight")
    _showing(page, first, 3)
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    _showing(page, first, 1)
    overlay.locator(".mjw-lb-next").click()
    overlay.locator(".mjw-lb-next").click()
    overlay.locator(".mjw-lb-next").click()
    overlay.locator(".mjw-lb-next").click()  # past the last tile: the next card's first image
    _showing(page, second, 1)
    page.keyboard.press("Escape")
    overlay.wait_for(state="hidden", timeout=30_000)
    assert not nb.page_errors(), nb.console


def test_a_tile_from_the_servers_own_image_urls(jupyter_lab, browser):
    """trueai can list each tile's own full-size file (imageUrls): the lightbox uses that one."""
    cells = [
        """
import mjwidgets as mjw
server = mjw.sim.start(speed=40, flavor="trueai", image_urls=True)  # its official-CDN option
studio = mjw.Studio(mjw.Client(server.url))
studio
""",
        "card = studio.imagine('a kite over dunes')\ncard.wait(120)",
    ]
    nb = open_notebook(jupyter_lab, browser, "lightbox_image_urls", cells, timeout=180)
    page = nb.page
    task_id = nb.eval("card.task.id")
    assert nb.eval("len(card.task.raw.get('imageUrls') or [])") == 4
    _painted(page, task_id)
    page.locator(f".mjw-task[data-task-id='{task_id}'] .mjw-tile-hit[data-index='3']").click()
    _showing(page, task_id, 3)
    assert page.locator(LIGHTBOX).get_attribute("data-source") == "server"
    with page.expect_download(timeout=120_000) as download:
        page.locator(f"{LIGHTBOX} .mjw-lb-download").click()
    got = np.asarray(Image.open(download.value.path()).convert("RGB"))
    nb.execute(
        "import numpy as np, io\nfrom PIL import Image\n"
        "own = card.task.raw['imageUrls'][2]['url']\n"
        "data = studio.client.download(own)\n"
        "np.save('own3.npy', np.asarray(Image.open(io.BytesIO(data)).convert('RGB')))"
    )
    expected = np.load(jupyter_lab.root / "own3.npy")
    assert np.array_equal(got, expected), "not the server's own file of tile 3"
    assert download.value.suggested_filename == f"mj-{task_id}-3.png"
    assert not nb.page_errors(), nb.console
