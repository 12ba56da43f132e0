"""A closed Studio lets go of its cards in the page: re-running a Studio's cell (or closing it)
must not leave every card's nodes and decoded picture behind for the page's lifetime. anywidget
keeps a closed view's element reachable, so every view empties it when it goes (the module
loader, widgets/plumbing.py)."""

from __future__ import annotations

from harness import DEFAULT_TIMEOUT, open_notebook

CARDS = 12
CELLS = [
    f"""
import os
os.environ["MJ_SIM_SPEED"] = "40"
import ipywidgets
import mjwidgets as mjw
studio = mjw.Studio()
tasks = [studio.tracker.imagine(f"a lighthouse in fog {{i}}") for i in range({CARDS})]
side = ipywidgets.VBox()
side
""",
]


def _dom_nodes(page, cdp) -> int:
    """Nodes alive in the page (attached or not) after a full garbage collection."""
    cdp.send("HeapProfiler.collectGarbage")
    return cdp.send("Memory.getDOMCounters")["nodes"]


def test_a_closed_studio_frees_its_cards_nodes(jupyter_lab, browser):
    nb = open_notebook(jupyter_lab, browser, "studio_memory", CELLS)
    page = nb.page
    nb.wait_until("all(t.is_done for t in tasks)", timeout=DEFAULT_TIMEOUT)
    nb.wait_until("studio.tracker.cache.drain(timeout=5)", timeout=DEFAULT_TIMEOUT)
    cdp = page.context.new_cdp_session(page)
    before = _dom_nodes(page, cdp)

    nb.execute("for t in tasks: studio.add(t)\nside.children = (studio,)")
    page.wait_for_function(
        "n => document.querySelectorAll('.mjw-task[data-painted]').length === n",
        arg=CARDS,
        timeout=int(DEFAULT_TIMEOUT * 1000),
    )
    shown = _dom_nodes(page, cdp)
    assert shown - before > 50 * CARDS, "each card's nodes are counted"

    nb.execute("side.children = ()\nstudio.close()")
    page.wait_for_function("() => !document.querySelector('.mjw-task')")
    # each view goes when its close message arrives: wait for that, not for a time. Before the
    # views emptied themselves, these 12 cards and their Studio left 1,557 nodes; the wrappers
    # ipywidgets keeps of the closed views remain, a few a card (77 in all)
    left = _dom_nodes(page, cdp) - before
    for _ in range(120):
        if left < 20 * CARDS:
            break
        page.wait_for_timeout(500)
        left = _dom_nodes(page, cdp) - before
    assert left < 20 * CARDS, f"{left} nodes left by {CARDS} closed cards"
    assert not nb.page_errors(), nb.console
