"""In the browser (issue 8 §3 and §4): JupyterLab + Debian chromium through the test harness.

- paint latency: the simulator finished a task → the card's final image painted (a
  `performance.mark` the card sets on the image's load event), over 20 tasks;
- the mask editor: a brush move dispatched on the canvas → the stroke's pixels visible;
- a big Studio (issue 18 §4, in bigstudio.py): 100 cards added to 200 painted ones, a click →
  its new card visible, scrolling through the 300 cards; each beside a baseline of the same run.
Peer reference for paint latency: a client that polls every 5 s (Dooy) shows a result 2.5 s late
on average before any rendering; the goal here is ≤ 0.5 s end to end.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from benchmarks import bigstudio
from benchmarks.common import Goal, Options, Row, log, percentile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "browser"))

# Two cells: a box for the small Studios (paint latency, the mask editor, the baselines) above
# the big Studio (see bigstudio.py)
SETUP = [
    """
import os, time
os.environ["MJ_SIM_SPEED"] = "12"
import ipywidgets
import mjwidgets as mjw
server = mjw.sim.embedded()
server.configure(concurrency=400, queue_size=1000)


def discard(widget):
    # a Box's close() closes the box alone (a Studio's closes its cards)
    if isinstance(widget, ipywidgets.Box):
        for child in widget.children:
            discard(child)
    widget.close()


paint = mjw.Studio()
side = ipywidgets.VBox([paint])
side.add_class("mjw-bench-side")
side
""",
    """
studio = mjw.Studio()
studio.add_class("mjw-bench-big")
studio
""",
]

# What the report's table shows (the JSON has every figure)
COLUMNS = (
    "case",
    "tasks",
    "cards",
    "speed",
    "submitted",
    "s",
    "of it the cell s",
    "p50 s",
    "p95 s",
    "vs polling every 5 s (mean 2.5 s)",
    "p50 ms",
    "p95 ms",
    "of it the page busy p50 ms",
    "long frames %",
    "seen",
    "baseline",
    "baseline s",
    "baseline cell s",
    "baseline p50 ms",
    "baseline p95 ms",
    "baseline page busy p50 ms",
    "÷ baseline",
    "other cards re-rendered",
    "submits",
    "saved notebook MB",
    "of it the snapshot MB",
    "MB per 100 cards",
)

# Dispatch brush moves on the editor's canvas and time until the pixel under the new point changes.
_STROKE_JS = """
async ([selector, moves]) => {
  const canvas = document.querySelector(selector);
  const box = canvas.getBoundingClientRect();
  const ctx = canvas.getContext("2d");
  const fire = (type, x, y) => canvas.dispatchEvent(new MouseEvent(type, {
      clientX: box.left + x, clientY: box.top + y, bubbles: true, buttons: 1}));
  const pixel = (x, y) => Array.from(ctx.getImageData(x * canvas.width / box.width,
      y * canvas.height / box.height, 1, 1).data).join(",");
  const latencies = [];
  let x = 40, y = 60;
  fire("mousedown", x, y);
  for (let i = 0; i < moves; i++) {
    const nx = x + 14, ny = y + (i % 2 ? 9 : -9);
    const before = pixel(nx, ny);
    const t0 = performance.now();
    fire("mousemove", nx, ny);
    let changed = false;
    while (performance.now() - t0 < 2000) {
      await new Promise(r => requestAnimationFrame(r));
      if (pixel(nx, ny) !== before) { changed = true; break; }
    }
    latencies.push(changed ? performance.now() - t0 : null);
    x = nx; y = ny;
    await new Promise(r => setTimeout(r, 30));
  }
  fire("mouseup", x, y);
  return latencies;
}
"""


def _paint_rows(nb, options: Options) -> list[Row]:
    page = nb.page
    # Warm-up, not measured: the tracker learns a server's rhythm from its first jobs (its
    # probes are in real seconds, so at speed 12 a first job is over before it knows the pace)
    nb.execute(
        "warm = [paint.imagine(f'warm-up {i}') for i in range(3)]\n[w.wait(60) for w in warm]",
        timeout=90,
    )
    # Submitted 0.5 s apart, as a person (or a sweep) does; a burst of 20 results finishing in
    # the same half second is CPU-bound here (three 2048² decodes/encodes each on 2 shared cores)
    nb.execute(
        "views = []\nfor i in range(20):\n"
        "    views.append(paint.imagine(f'a lighthouse, variant {i}'))\n"
        "    time.sleep(0.5)",
        timeout=60,
    )
    nb.wait_until("all(v.card.status == 'SUCCESS' for v in views)", timeout=120)
    page.wait_for_function(
        "() => document.querySelectorAll('.mjw-task[data-painted]').length >= 20", timeout=120_000
    )
    page.wait_for_function(
        "() => document.querySelectorAll('.mjw-task[data-painted]').length >= 23", timeout=120_000
    )
    painted = page.evaluate("""() => Object.fromEntries(performance.getEntriesByType('mark')
        .filter(m => m.name.startsWith('mjw-painted-')).reverse()  // the first paint wins
        .map(m => [m.name.slice(12), (performance.timeOrigin + m.startTime) / 1000]))""")
    finished = nb.eval("{t['id']: t['finished_at'] for t in server.tasks()}")
    measured = set(nb.eval("[v.task.id for v in views]"))
    lags = [painted[i] - finished[i] for i in painted if finished.get(i) and i in measured]
    p50, p95 = percentile(lags, 50), percentile(lags, 95)
    log(options, f"paint latency over {len(lags)} tasks: p50 {p50:.3f} s, p95 {p95:.3f} s")
    return [
        Row(
            "paint_latency",
            {
                "case": "server finished → final image painted",
                "tasks": len(lags),
                "speed": 12,
                "submitted": "0.5 s apart",
            },
            {
                "p50 s": round(p50, 3),
                "p95 s": round(p95, 3),
                "vs polling every 5 s (mean 2.5 s)": round(2.5 / p50, 1) if p50 else None,
            },
            [
                Goal(
                    "finish → painted p50",
                    p50,
                    0.5,
                    unit="s",
                    # measured in real seconds on a shared 2-core machine: it moves with the
                    # load the earlier benchmarks leave (0.26 s alone, 0.69 s at a run's end)
                    why=f"p95 {p95:.2f} s over {len(lags)} results; a poll every 5 s waits "
                    f"2.5 s on average (÷ ours {2.5 / p50:.1f}); the machine's load average "
                    f"{os.getloadavg()[0]:.1f} when measured",
                ),
            ],
        )
    ]


def _stroke_rows(nb, options: Options) -> list[Row]:
    page = nb.page
    nb.execute(
        "from PIL import Image\neditor = mjw.MaskEditor(Image.new('RGB', (2048, 2048), "
        "(40, 60, 80)))\neditor.tool = 'brush'\n"
        "editor.layout.grid_area = 'auto / 1 / auto / -1'\n"  # a row of its own, as when editing
        "paint.cards_box.children = (*paint.cards_box.children, editor)"
    )
    selector = ".mjw-mask-editor canvas"
    page.locator(selector).last.wait_for(timeout=30_000)
    page.locator(selector).last.scroll_into_view_if_needed()
    page.wait_for_timeout(800)
    latencies = page.evaluate(_STROKE_JS, [f"{selector}:last-of-type", 25])
    measured = [v / 1000 for v in latencies if v is not None]
    p50 = percentile(measured, 50) if measured else None
    log(options, f"mask stroke visible p50 {p50} s over {len(measured)}/{len(latencies)} moves")
    return [
        Row(
            "mask_editor",
            {"case": "browser: brush move → stroke visible"},
            {
                "p50 ms": round(p50 * 1000, 1) if p50 else None,
                "seen": f"{len(measured)}/{len(latencies)}",
            },
            [
                Goal(
                    "move → stroke visible p50",
                    p50 * 1000 if p50 else None,
                    100,
                    unit="ms",
                    why=f"{len(measured)} of {len(latencies)} brush moves seen painted: from "
                    "the mouse event to the first frame whose canvas shows the stroke",
                )
            ],
        )
    ]


def run(options: Options) -> list[Row]:
    import harness
    from playwright.sync_api import sync_playwright

    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=list(harness.CHROMIUM_ARGS)
        )
        server = harness.start_jupyter("lab", Path(tmp) / "lab")
        try:
            nb = harness.open_notebook(server, browser, "bench_paint", SETUP)
            rows += _paint_rows(nb, options)
            rows += _stroke_rows(nb, options)
            nb.execute("side.children = ()\ndiscard(editor)\ndiscard(paint)")
            rows += bigstudio.rows(nb, options)
            nb.close()
        finally:
            server.stop()
            browser.close()
    return rows


def run_paint(options: Options) -> list[Row]:
    return [r for r in run(options)]
