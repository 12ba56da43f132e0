"""A big Studio, kernel side (issue 18 §4): the import, and what 200 live cards hold.

Each figure is measured in a fresh Python process (as a new kernel is), against the simulator
in a process of its own (no browser: the widgets' traits hold what a browser would be sent):
- ``import mjwidgets``: wall time of the import alone, and of the import plus the first widget
  class (``mjwidgets.Studio``), median of 5 processes reading compiled bytecode (as a pip
  install leaves it), beside the first import that compiles it;
- 200 live cards: a Studio showing 200 finished grids (each card's display JPEG and snapshot
  in its traits, the tracker's history and image cache behind them); the kernel's resident
  memory after the imports, after the 200 jobs, and after their 200 cards (each after a garbage
  collection and glibc's ``malloc_trim``, so that pages the allocator keeps free do not count).
  "Heap" is what the cards and their jobs add to the process beyond the imported libraries.
The browser side of a big Studio (100 more cards painted) is in the browser section.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import Goal, Options, Row, log

ROOT = Path(__file__).resolve().parent.parent
IMPORT_GOAL_S = 0.3
HEAP_GOAL_MB = 100.0
CARDS = 200

_IMPORT = """
import time
began = time.perf_counter()
import mjwidgets
imported = time.perf_counter() - began
mjwidgets.Studio
print(imported, time.perf_counter() - began)
"""

# The baseline: what any anywidget package's import pays before its own code (ipywidgets and
# anywidget, which import traitlets, comm and the IPython display machinery)
_BASELINE_IMPORT = """
import time
began = time.perf_counter()
import anywidget, ipywidgets
print(time.perf_counter() - began, 0.0)
"""

_CARDS = """
import json, os, sys, time

import ctypes, gc

def rss_mb():
    # what the process holds, not what its allocator keeps for later: collect, give freed
    # pages back (glibc keeps each thread's freed arenas), then read the resident size
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

import mjwidgets as mjw, ipywidgets, anywidget, PIL.Image  # the libraries a Studio needs
from benchmarks import simproc
mjw.Studio
after_imports = rss_mb()
# the server in a process of its own, as a real one is (the embedded simulator would hold
# every image it made in the kernel)
sim = simproc.start("subprocess", speed=200, flavor="plus", concurrency=CARDS,
                    queue_size=CARDS)
studio = mjw.Studio(mjw.Client(sim.url))
tasks = [studio.tracker.imagine(f"a harbour at night {i}") for i in range(CARDS)]
for task in tasks:
    studio.tracker.wait(task, timeout=600)
studio.tracker.cache.drain(timeout=600)
after_jobs = rss_mb()
began = time.perf_counter()
views = [studio.add(task) for task in tasks]
deadline = time.monotonic() + 600
while time.monotonic() < deadline and not all(view.card.image for view in views):
    time.sleep(0.2)
cards_s = time.perf_counter() - began
shown = sum(1 for view in views if view.card.image)
after_cards = rss_mb()
print(json.dumps({"after_imports": after_imports, "after_jobs": after_jobs,
                  "after_cards": after_cards, "cards": shown, "cards_s": cards_s}))
studio.tracker.close()
sim.close()
"""


def _python(code: str, env: dict[str, str], timeout: float) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=True,
        cwd=env["HOME"],
    )
    return done.stdout.strip().splitlines()[-1]


def run(options: Options) -> list[Row]:
    with tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ,
            "HOME": home,  # a history of its own
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "MJ_SIM_SPEED": "200",
        }
        env.pop("MJ_BASE_URL", None)
        # As installed: pip compiles a wheel's bytecode when it installs it, so a kernel reads
        # .pyc files. A source checkout run with PYTHONDONTWRITEBYTECODE (this machine's
        # default) would compile every module on every import instead; the bytecode goes to a
        # cache of this run's own, and the first import (compiling it) is reported beside.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(home) / "pycache")
        first = tuple(map(float, _python(_IMPORT, env, 120).split()))
        imports = [tuple(map(float, _python(_IMPORT, env, 120).split())) for _ in range(5)]
        alone = statistics.median(i[0] for i in imports)
        baseline = statistics.median(
            float(_python(_BASELINE_IMPORT, env, 120).split()[0]) for _ in range(5)
        )
        with_widgets = statistics.median(i[1] for i in imports)
        log(
            options,
            f"kernel: import mjwidgets {alone:.3f} s, with Studio {with_widgets:.3f} s "
            f"(first import, compiling the bytecode: {first[0]:.3f} s)",
        )
        cards = json.loads(_python(_CARDS.replace("CARDS", str(CARDS)), env, 1800))
    heap = cards["after_cards"] - cards["after_imports"]
    log(options, f"kernel: {cards['cards']} live cards: RSS {cards['after_cards']:.0f} MB")
    return [
        Row(
            "kernel",
            {"case": "import mjwidgets"},
            {
                "s": round(alone, 3),
                "anywidget + ipywidgets s": round(baseline, 3),
                "with the first widget s": round(with_widgets, 3),
                "first import, compiling s": round(first[0], 3),
            },
            [
                Goal(
                    "import mjwidgets",
                    alone,
                    IMPORT_GOAL_S,
                    unit="s",
                    why=f"anywidget + ipywidgets alone, what every anywidget package imports: "
                    f"{baseline:.3f} s (÷ ours {baseline / alone:.2f}): mjwidgets imports them "
                    f"with its first widget ({with_widgets:.3f} s with it); the first import, "
                    f"compiling the bytecode: {first[0]:.3f} s",
                )
            ],
            note="median of 5 fresh processes reading compiled bytecode, as a pip install has",
        ),
        Row(
            "kernel",
            {"case": f"Studio with {CARDS} live cards"},
            {
                "cards shown": cards["cards"],
                "cards' images ready s": round(cards["cards_s"], 1),
                "RSS after imports MB": round(cards["after_imports"], 1),
                "RSS after the jobs MB": round(cards["after_jobs"], 1),
                "RSS with the cards MB": round(cards["after_cards"], 1),
                "heap MB": round(heap, 1),
            },
            [
                Goal(
                    f"kernel heap with {CARDS} live cards",
                    heap,
                    HEAP_GOAL_MB,
                    unit="MB",
                    why=f"{heap / cards['cards'] * 1000:.0f} KB a card; the kernel's RSS "
                    f"{cards['after_imports']:.0f} MB after the imports, "
                    f"{cards['after_jobs']:.0f} MB after the jobs (their images cached on "
                    f"disk), {cards['after_cards']:.0f} MB with the cards",
                )
            ],
            note="heap = RSS with the cards − RSS after the imports",
        ),
    ]
