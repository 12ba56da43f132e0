"""Simulator throughput (issue 8 §5): fetch requests per second on loopback, keep-alive.

The polling figures should measure the client, not the simulator, so the simulator must serve
well above what any strategy asks of it (goal ≥ 500 fetches/s). Measured with a minimal
``http.client`` loop (1 and 4 threads, one keep-alive connection each) against the simulator in
its own process, as the polling benchmark runs it; once more against a simulator in this process
(what a notebook's embedded simulator shares with the kernel), with mjwidgets' own
``Client.fetch`` (what one fetch costs the client), with a 100-id ``list-by-condition`` (one tick
of a batched poller at N = 100), and with ``wrk`` when it is installed.

    python -m benchmarks.simulator
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from mjwidgets import Client

from . import simproc
from .common import Goal, Options, Row, log, median, percentile

GOAL_FETCHES_PER_S = 500.0
DURATION_S = 2.0
SPEED = 7.0


def _connection(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)


def _raw_loop(url: str, method: str, path: str, body: bytes | None) -> Callable[[], None]:
    """One request on this thread's keep-alive connection per call."""
    local = threading.local()
    headers = {"Content-Type": "application/json"} if body is not None else {}

    def one() -> None:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = _connection(url)
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: HTTP {response.status}")

    return one


def _hammer(one: Callable[[], None], threads: int, duration: float) -> tuple[float, list[float]]:
    """Requests/s over ``duration`` with ``threads`` threads, and every request's latency."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    deadline = time.perf_counter() + duration

    def worker(out: list[float]) -> None:
        while (start := time.perf_counter()) < deadline:
            one()
            out.append(time.perf_counter() - start)

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(out,)) for out in latencies]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    flat = [value for out in latencies for value in out]
    return len(flat) / elapsed, flat


def _row(
    case: str,
    threads: int,
    sim_mode: str,
    rate: float,
    lats: list[float],
    goal: bool = False,
    note: str = "",
) -> Row:
    metrics = {
        "req/s": round(rate, 1),
        "latency p50 ms": round(1000 * median(lats), 2),
        "latency p95 ms": round(1000 * percentile(lats, 95), 2),
        "requests": len(lats),
    }
    row = Row(
        "simulator", {"case": case, "threads": threads, "simulator": sim_mode}, metrics, note=note
    )
    if goal:
        row.goals.append(
            Goal(
                "simulator fetches/s on loopback ≥ 500 (4 keep-alive threads)",
                round(rate, 1),
                GOAL_FETCHES_PER_S,
                op=">=",
                why=f"latency p50 {metrics['latency p50 ms']} ms, p95 "
                f"{metrics['latency p95 ms']} ms; the polling benchmark's busiest peer "
                "(replicate-0.5s at N = 100, speed 7) asks for ~1,400 a second",
            )
        )
    return row


def _seed_tasks(url: str, n: int) -> list[str]:
    client = Client(url)
    try:
        return [client.imagine(f"throughput probe {i}").id for i in range(n)]
    finally:
        client.close()


def _wrk(url: str, path: str) -> Row | None:
    binary = shutil.which("wrk")
    if binary is None:
        return None
    out = subprocess.run(
        [binary, "-t2", "-c4", f"-d{int(DURATION_S) + 1}s", url + path],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    found = re.search(r"Requests/sec:\s*([\d.]+)", out)
    if not found:
        return None
    metrics = {
        "req/s": float(found.group(1)),
        "latency p50 ms": None,
        "latency p95 ms": None,
        "requests": None,
    }
    return Row(
        "simulator",
        {"case": "GET fetch (wrk -t2 -c4)", "threads": 2, "simulator": "subprocess"},
        metrics,
    )


def _client_costs(url: str, ids: list[str], duration: float) -> list[Row]:
    """What one fetch and one 100-id batch cost through mjwidgets' Client, and the raw batch."""
    client = Client(url)
    try:
        rate, lats = _hammer(lambda: client.fetch(ids[0]), 1, duration)
        rows = [
            _row(
                "GET fetch (mjwidgets Client.fetch)",
                1,
                "subprocess",
                rate,
                lats,
                note="requests + Task parsing: the client's cost per fetch",
            )
        ]
        body = json.dumps({"ids": ids}).encode()
        batch = _raw_loop(url, "POST", "/mj/task/list-by-condition", body)
        rate, lats = _hammer(batch, 1, duration)
        rows.append(
            _row(
                "POST list-by-condition, 100 ids (http.client)",
                1,
                "subprocess",
                rate,
                lats,
                note="one tick of a batched poller at N = 100",
            )
        )
        rate, lats = _hammer(lambda: client.fetch_many(ids), 1, duration)
        rows.append(
            _row(
                "POST list-by-condition, 100 ids (Client.fetch_many)",
                1,
                "subprocess",
                rate,
                lats,
                note="server + client cost of one N = 100 tick",
            )
        )
        return rows
    finally:
        client.close()


SUBMITS = 40  # each way: 200 jobs at most in flight (100 seeded), the simulator's 100 + 100


def _submit_costs(url: str) -> list[Row]:
    """What one submit costs through the Client bare and with a Tracker's journal (an intent
    and an outcome written to the history, each fsync'd, before and after the request): the
    price of never losing or resending a paid submit, and why the polling benchmark submits
    every strategy's batch with a bare client of its own (``polling.measure``)."""
    from tempfile import TemporaryDirectory

    from mjwidgets.store import HistoryStore

    rows = []
    with TemporaryDirectory(prefix="mjw-bench-") as home:
        store = HistoryStore(f"{home}/history.sqlite3")
        try:
            for case, journal in (
                ("POST imagine (Client, no journal)", None),
                ("POST imagine (Client + a Tracker's journal)", store.journal_for(url)),
            ):
                client = Client(url, journal=journal)
                try:
                    lats = []
                    for index in range(SUBMITS):
                        start = time.perf_counter()
                        client.imagine(f"submit cost probe {index}")
                        lats.append(time.perf_counter() - start)
                finally:
                    client.close()
                note = "one submit each, in turn; the journal's two writes a submit fsync'd"
                rows.append(_row(case, 1, "subprocess", len(lats) / sum(lats), lats, note=note))
        finally:
            store.close()
    return rows


def run(options: Options) -> list[Row]:
    duration = DURATION_S / 2 if options.quick else DURATION_S
    rows: list[Row] = []
    sim_options = {"speed": SPEED, "flavor": "plus", "concurrency": 100, "queue_size": 100}
    for mode in ("subprocess", "inprocess"):
        with simproc.start(mode, **sim_options) as sim:
            ids = _seed_tasks(sim.url, 100)
            fetch = _raw_loop(sim.url, "GET", f"/mj/task/{ids[0]}/fetch", None)
            for threads in (1, 4) if mode == "subprocess" else (1,):
                rate, lats = _hammer(fetch, threads, duration)
                rows.append(
                    _row(
                        "GET fetch (http.client)",
                        threads,
                        mode,
                        rate,
                        lats,
                        goal=mode == "subprocess" and threads == 4,
                    )
                )
                log(options, f"  simulator {mode:10} fetch × {threads} threads: {rate:.0f}/s")
            if mode == "inprocess":
                continue
            rows += _client_costs(sim.url, ids, duration)
            rows += _submit_costs(sim.url)
            wrk = _wrk(sim.url, f"/mj/task/{ids[0]}/fetch")
            if wrk is not None:
                rows.append(wrk)
    return rows


def main() -> None:
    for row in run(Options()):
        print(json.dumps(row.to_dict(), ensure_ascii=False))


if __name__ == "__main__":
    main()
