"""The cadence on a noiseless clock: the Tracker's timing rules, the baselines and the lower bound
against a modelled server, with no HTTP, no threads and no other load.

Why: on a shared 2-core machine the HTTP benchmark's lags carry the machine's noise (a request
that waits 100 ms for a core adds 100 ms of lag), so a change to a timing rule is hard to judge
there. Here the same ``cadence`` objects the poller uses (``TaskRhythm``, ``ServerRhythm`` and
``next_poll``) decide when to look, a model of the simulator's timeline answers, and every figure
is exact and repeatable (seeded). ``polling.py`` then checks the result against the real thing.

The modelled server is the simulator's (``mjwidgets/sim/engine.py``): an imagine is admitted at
its submit, shows SUBMITTED 1 s·f later, progress steps 15 … 93 % at (9 + 7k) s·f and the result
at 53 s·f, with f uniform in [0.9, 1.1] per task; ``newapi`` shows each task only as of its last
refresh tick (shared by all tasks; status "" before the first one): the relay sleeps 15 s after
each cycle's work (the upstream's round trip, then a write per changed row), and a cycle with no
unfinished task has none, so refreshes drift while a batch runs and fall back to 15 s between
batches, as the simulator plays them.

    python -m benchmarks.cadence_model --n 100 --flavor plus
    python -m benchmarks.cadence_model --n 100 --flavor newapi --batches 3
"""

from __future__ import annotations

import argparse
import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from mjwidgets.cadence import ServerRhythm, TaskRhythm, next_poll, results_from, watched_since
from mjwidgets.models import Status, Task
from mjwidgets.poller import _rank
from mjwidgets.sim.flavors import FLAVORS

from .common import median, percentile
from .strategies import STEPPED_CLOSING_S, STEPPED_FAST_S, STEPPED_OPENING_S, STEPPED_SLOW_S

STEPS = (
    [(1.0, Status.SUBMITTED, 0)]
    + [(9.0 + 7.0 * i, Status.IN_PROGRESS, pct) for i, pct in enumerate((15, 31, 46, 62, 78, 93))]
    + [(53.0, Status.SUCCESS, 100)]
)
REFRESH_S = 15.0
LAG_TARGET_S = 0.3  # issue 18: lag p50 ≤ 0.3 s, p95 ≤ 1 s (real-world seconds)
LAG_P95_TARGET_S = 1.0


_RELAY = FLAVORS["newapi"]  # the relay's refresh loop, as the simulator plays it


@dataclass
class ModelServer:
    """When each task changes, and what a client sees at a given moment."""

    submits: list[float]  # unscaled seconds
    factors: list[float]
    period: float = 0.0  # a relay's sleep between refresh cycles (0: live)
    epoch: float = 0.0  # when a relay's cycle starts, idle before this batch's submits (a
    # batch after another on the same relay: where the loop was after the one before)
    upstream: tuple[float, float] = (0.0, 0.0)  # a cycle's upstream round trip (real seconds)
    row_s: float = 0.0  # a row's write
    _cache: tuple[list[tuple[float, float]], dict[int, list[tuple[float, float]]], float] | None = (
        None
    )

    def timeline(self, i: int) -> list[tuple[float, Status, int]]:
        s, f = self.submits[i], self.factors[i]
        return [(s + offset * f, status, pct) for offset, status, pct in STEPS]

    def finished(self, i: int) -> float:
        return self.timeline(i)[-1][0]

    def _state(self, i: int, t: float) -> tuple[Status, int]:
        status, progress = Status.NOT_START, 0
        for when, step_status, pct in self.timeline(i):
            if when <= t:
                status, progress = step_status, pct
        return status, progress

    def cycles(self) -> list[tuple[float, float]]:
        """(start, upstream read) of the relay's busy refresh cycles around this batch."""
        return self._relay()[0]

    def rows(self) -> dict[int, list[tuple[float, float]]]:
        """Per task, (written, upstream read) of each refresh that changed its row: the rows a
        cycle changes are written one after another, in the order the tasks were submitted."""
        return self._relay()[1]

    def next_start(self) -> float:
        """When the relay's first cycle after this batch's last busy one starts (from it on,
        idle cycles a period apart): where the next batch on the same relay picks up."""
        return self._relay()[2]

    def _relay(
        self,
    ) -> tuple[list[tuple[float, float]], dict[int, list[tuple[float, float]]], float]:
        """The relay's loop, as the simulator plays it (``engine._run_refreshes``): a cycle
        with no unfinished row sleeps again at once (the next starts a period later); a busy
        one reads the upstream a round trip after its start, writes each changed row, and the
        next starts a period after its last write."""
        if self._cache is None and not self.period:
            self._cache = ([], {i: [] for i in range(len(self.submits))}, self.epoch)
        if self._cache is None:
            draws = random.Random(round(self.epoch * 1e6))
            start, end = self.epoch, self.submits[-1] + 12 * max(self.factors) * STEPS[-1][0]
            cycles: list[tuple[float, float]] = []
            rows: dict[int, list[tuple[float, float]]] = {i: [] for i in range(len(self.submits))}
            last: dict[int, tuple[Status, int]] = {}
            after_busy = start
            while start < end:
                pending = [
                    i
                    for i in range(len(self.submits))
                    if self.submits[i] <= start and last.get(i, (None, 0))[0] is not Status.SUCCESS
                ]
                if not pending:
                    start += self.period
                    continue
                read = start + draws.uniform(*self.upstream)
                cycles.append((start, read))
                written = 0
                for i in pending:
                    state = self._state(i, read)
                    if last.get(i) != state:
                        written += 1
                        last[i] = state
                        rows[i].append((read + written * self.row_s, read))
                start = after_busy = read + written * self.row_s + self.period
            self._cache = (cycles, rows, after_busy)
        return self._cache

    def shown_finished(self, i: int) -> float:
        """When clients can first see task ``i``'s result (a relay: when its row is written)."""
        if not self.period:
            return self.finished(i)
        return next(w for w, read in self.rows()[i] if read >= self.finished(i))

    def look(self, i: int, t: float) -> Task:
        """Task ``i`` as a client reading at ``t`` sees it."""
        seen_at = t
        if self.period:
            written = [read for w, read in self.rows()[i] if w <= t]
            if not written:
                return Task(id=str(i), action="IMAGINE", status=Status.UNKNOWN, status_raw="")
            seen_at = written[-1]
        status, progress = self._state(i, seen_at)
        finished = self.finished(i) if status is Status.SUCCESS else None
        return Task(
            id=str(i),
            action="IMAGINE",
            status=status,
            status_raw=status.value,
            progress=progress,
            # the server's own submit and finish times, as every flavour reports them
            submit_time=_on_wall_clock(self.submits[i]),
            finish_time=None if finished is None else _on_wall_clock(finished),
        )


def _on_wall_clock(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def make_server(
    n: int,
    flavor: str,
    speed: float,
    seed: int,
    start: float = 0.0,
    submit_gap: float = 0.01,
    epoch: float | None = None,
) -> ModelServer:
    """``n`` imagines submitted ``submit_gap`` real seconds apart from ``start`` (real seconds),
    at simulator ``speed``: all times are real seconds, the job ``53/speed`` s long."""
    rng = random.Random(seed)
    period = REFRESH_S / speed if flavor == "newapi" else 0.0
    relay = flavor == "newapi"
    return ModelServer(
        submits=[start + i * submit_gap for i in range(n)],
        factors=[(0.9 + 0.2 * rng.random()) / speed for _ in range(n)],
        period=period,
        epoch=(rng.random() * period if epoch is None else epoch),
        upstream=(
            (_RELAY.refresh_upstream_s[0] / speed, _RELAY.refresh_upstream_s[1] / speed)
            if relay
            else (0.0, 0.0)
        ),
        row_s=_RELAY.refresh_row_s / speed if relay else 0.0,
    )


@dataclass
class Outcome:
    """What one strategy cost on one batch."""

    name: str
    requests: int
    lags: list[float]  # seen − finished (real seconds)
    visible_lags: list[float]  # seen − the tick that showed it
    polls: list[float] = field(default_factory=list)
    refreshes: int = 0  # refresh ticks while tracking (grid servers)
    # per look: tasks it saw move, tasks in progress before it, whether it showed a result
    saw: list[tuple[int, int, bool]] = field(default_factory=list)

    def figures(self, speed: float) -> dict[str, float | int | None]:
        p50, p95 = median(self.lags), percentile(self.lags, 95)
        v50, v95 = median(self.visible_lags), percentile(self.visible_lags, 95)
        return {
            "requests": self.requests,
            "lag p50 ×speed": round(p50 * speed, 3),
            "lag p95 ×speed": round(p95 * speed, 3),
            "vis-lag p50 ×speed": round(v50 * speed, 3),
            "vis-lag p95 ×speed": round(v95 * speed, 3),
            "lag×req": round(p50 * speed * self.requests, 2),
            "req/refresh": round(self.requests / self.refreshes, 2) if self.refreshes else None,
        }


def _no_jitter() -> float:
    return 0.0


def _lags(server: ModelServer, seen: dict[int, float]) -> tuple[list[float], list[float]]:
    lags = [seen[i] - server.finished(i) for i in sorted(seen)]
    vis = [seen[i] - server.shown_finished(i) for i in sorted(seen)]
    return lags, vis


def _refreshes(server: ModelServer, began: float, ended: float) -> int:
    if not server.period:
        return 0
    return max(1, sum(1 for _, read in server.cycles() if began < read <= ended))


def run_schedule(
    server: ModelServer,
    name: str,
    gap: Callable[[float], float],
    began: float,
    latency: float = 0.0,
    jitter: Callable[[], float] = _no_jitter,
) -> Outcome:
    """A batched poll whose next look is ``gap(elapsed)`` after the last answer; each look
    reads the server half its round trip after it is sent and is answered a round trip after
    (``latency`` plus a draw of ``jitter``)."""
    n = len(server.submits)
    seen: dict[int, float] = {}
    polls: list[float] = []
    t = began
    while len(seen) < n and t < began + 10 * server.finished(n - 1) + 100:
        t += gap(t - began)
        polls.append(t)
        took = latency + jitter()
        for i in range(n):
            if i not in seen and server.look(i, t + took / 2).is_done:
                seen[i] = t + took
        t += took
    lags, vis = _lags(server, seen)
    return Outcome(name, len(polls), lags, vis, polls, _refreshes(server, began, t))


class ModelTracker:
    """The Tracker's timing, exactly as the poller runs it, on the model's clock: one batched
    look at ``next_poll`` of every pending task's window. Kept across batches (``rhythm``), as
    a Tracker is across a notebook session."""

    def __init__(
        self,
        expect_grid: bool = False,
        latency: float = 0.0,
        jitter: Callable[[], float] = _no_jitter,
    ) -> None:
        # a look reads the server half its round trip (latency + a draw of jitter) after it
        # is sent
        self.latency, self.jitter = latency, jitter
        self.rhythm = ServerRhythm()
        self.rhythm.expect_refresh_grid(expect_grid)
        self.last_poll = 0.0

    def run(self, server: ModelServer, began: float, name: str = "mjwidgets") -> Outcome:
        n = len(server.submits)
        tasks = {i: server.look(i, server.submits[i]) for i in range(n)}
        for task in tasks.values():  # what a submit answers (code 1): SUBMITTED
            task.status, task.status_raw, task.progress = Status.SUBMITTED, "SUBMITTED", 0
        rhythms = {  # tracked once every submit is answered; each knows its own submit time
            i: TaskRhythm.start(
                tasks[i], began, False, submitted_ago=began - server.submits[i], server=self.rhythm
            )
            for i in range(n)
        }
        seen: dict[int, float] = {}
        polls: list[float] = []
        saw: list[tuple[int, int, bool]] = []
        now = began
        previous = (self.last_poll, self.last_poll)
        while len(seen) < n and now < began + 10 * server.finished(n - 1) + 100:
            windows = [rhythms[i].window(now, self.rhythm, False) for i in rhythms]
            since = watched_since(previous[1], [began])  # as the poller
            wake = next_poll(
                windows,
                self.rhythm,
                now,
                self.last_poll,
                since,
                results_from(rhythms.values(), self.rhythm),
                fresh=previous[1] <= began,
            )
            sent = now = max(now, wake)
            polls.append(now)
            took = self.latency + self.jitter()
            read, now = sent + took / 2, sent + took  # as the poller: answered
            changed = running = running_moved = 0
            moved_submits: list[float | None] = []  # of the tasks this look saw move
            finishes: list[float] = []  # the server's finish times of the results it saw first
            looked = len(rhythms)
            for i in list(rhythms):
                fresh = server.look(i, read)
                old = tasks[i]
                if _rank(fresh) < _rank(old):  # as the poller: never back to an older state
                    fresh = old
                moved = (fresh.status, fresh.status_raw, fresh.progress) != (
                    old.status,
                    old.status_raw,
                    old.progress,
                )
                if old.status is Status.IN_PROGRESS:
                    running += 1
                tasks[i] = fresh
                rhythms[i].observe(fresh, now, moved, self.rhythm)
                if moved:
                    changed += 1
                    running_moved += old.status is Status.IN_PROGRESS
                    moved_submits.append(server.submits[i])
                    if fresh.finish_time is not None:
                        finishes.append(fresh.finish_time.timestamp())
                if fresh.is_done:
                    seen[i] = now
                    del rhythms[i]
            if previous[0] > began:  # as the poller: only looks whose tasks the last look saw
                self.rhythm.observe_poll(
                    previous,
                    (sent, now),
                    changed,
                    running,
                    looked,
                    running_moved,
                    (min(finishes), max(finishes)) if finishes else None,
                )
            else:  # as the poller: the first look at a batch, against its submits' answers
                self.rhythm.observe_first_look(moved_submits, (sent, now), looked)
            previous = (sent, now)
            self.last_poll = sent
            saw.append((changed, running, bool(finishes)))
        lags, vis = _lags(server, seen)
        refreshes = _refreshes(server, began, now)
        return Outcome(name, len(polls), lags, vis, polls, refreshes, saw)


def looks_by_refresh(outcome: Outcome) -> Counter[str]:
    """What a relay batch's looks saw, by the refresh they went for: ``first`` (the look at a
    batch's first refresh), ``progress …`` / ``results …`` (a refresh that brought no result /
    some): ``whole`` (every task in progress moved), ``part`` and ``rest`` (a look that landed
    while the rows were written, and the one after it), ``nothing`` (a look before the refresh:
    counted with the next refresh a look saw)."""
    counts: Counter[str] = Counter({"cycles while tracked": outcome.refreshes})
    waiting = 0  # looks that saw nothing since the last refresh seen
    in_part = False
    for number, (moved, running, results) in enumerate(outcome.saw):
        if number == 0:
            counts["first"] += 1
            continue
        if not moved:
            waiting += 1
            continue
        kind = "results" if results else "progress"
        counts[f"{kind} nothing"] += waiting
        waiting = 0
        if in_part:
            counts[f"{kind} rest"] += 1
            in_part = False
            continue
        in_part = 0 < moved < running
        counts[f"{kind} {'part' if in_part else 'whole'}"] += 1
        counts[f"{kind} refreshes seen"] += 1
    return counts


def _stepped_gap(elapsed: float) -> float:
    """The stepped baseline's next wait (unscaled), as ``strategies.SteppedPolling`` waits: fast
    in the opening and from the closing on, slow in between but never past the closing."""
    if STEPPED_OPENING_S <= elapsed < STEPPED_CLOSING_S:
        return min(STEPPED_SLOW_S, STEPPED_CLOSING_S - elapsed)
    return STEPPED_FAST_S


def lower_bound(server: ModelServer, lag: float = LAG_TARGET_S / 1.0) -> float:
    """Fewest batched requests for lag p50 ≤ ``lag`` when each finish time is known only to lie
    in the batch's spread: a look catches within ``lag`` only the results of the ``lag`` before
    it, i.e. a share lag / spread of them, so half the results take spread / (2·lag) looks
    (benchmarks/README.md, "A lower bound"). Plus one look to learn that the batch runs."""
    finishes = [server.finished(i) for i in range(len(server.submits))]
    spread = max(finishes) - min(finishes)
    return spread / (2 * lag) + 1


def fewest_looks(
    finishes: list[float],
    after_read: float = 0.0,
    lag: float = LAG_TARGET_S,
    lag_p95: float = LAG_P95_TARGET_S,
) -> int:
    """Fewest batched looks for lag p50 ≤ ``lag`` and p95 ≤ ``lag_p95`` by a client that knew
    every finish time in advance (an oracle: no client does better). A look that reads the
    server at r shows every result finished by r, each ``after_read`` later than r; placed at
    a result's finish, it catches the results since the look before. So the looks split the
    sorted finishes into runs, and an exact search over the runs finds the fewest that put
    enough lags under each goal (``common.percentile``'s interpolation: 51 and 96 of 100)."""
    times = sorted(finishes)
    n = len(times)

    def needed(q: float) -> int:  # lags within the goal that make the q-th percentile so
        pos = (n - 1) * q / 100
        return math.floor(pos) + 1 + (1 if pos > math.floor(pos) else 0)

    want50, want95 = needed(50), needed(95)
    within: dict[tuple[int, int], tuple[int, int]] = {}  # run [i, j): lags ≤ lag, ≤ lag_p95
    for j in range(1, n + 1):
        for i in range(j):
            lags = [times[j - 1] + after_read - t for t in times[i:j]]
            within[i, j] = (sum(x <= lag for x in lags), sum(x <= lag_p95 for x in lags))
    # best[j][m]: the most lags ≤ lag_p95 among the first j results split into this many
    # runs, with m (capped at want50) lags ≤ lag; -1: not reachable
    best = [[0] + [-1] * want50] + [[-1] * (want50 + 1) for _ in range(n)]
    for looks in range(1, n + 1):
        step = [[-1] * (want50 + 1) for _ in range(n + 1)]
        for j in range(1, n + 1):
            row = step[j]
            for i in range(j):
                under, under95 = within[i, j]
                for m, got in enumerate(best[i]):
                    if got >= 0:
                        k = min(want50, m + under)
                        row[k] = max(row[k], got + under95)
        best = step
        if best[n][want50] >= want95:
            return looks
    return n


def _jitter(mean: float, seed: int) -> Callable[[], float]:
    """Seeded exponential draws of ``mean`` seconds (0: none)."""
    draws = random.Random(seed)
    return (lambda: draws.expovariate(1 / mean)) if mean > 0 else _no_jitter


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--flavor", choices=("plus", "newapi"), default="plus")
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--batches", type=int, default=1, help="batches per tracker (warm-up)")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="real seconds from a look to its answer"
    )
    parser.add_argument(
        "--jitter",
        type=float,
        default=0.0,
        help="mean real seconds a round trip takes beyond --latency (exponential draws): a "
        "loaded machine's; it blurs what each look shows",
    )
    parser.add_argument(
        "--submit-gap", type=float, default=0.01, help="real seconds between two submits"
    )
    parser.add_argument(
        "--new-kernel",
        action="store_true",
        help="then a new kernel's first batch: a tracker whose rhythm is restored from the "
        "last one's (as a Tracker restores it from the history store), after a 10-minute pause",
    )
    parser.add_argument("--trace", action="store_true")
    parser.add_argument(
        "--looks",
        action="store_true",
        help="newapi: what the looks of every batch after the first saw, per batch",
    )
    args = parser.parse_args(argv)
    speed = args.speed
    rows: dict[str, list[dict]] = {}
    bounds: list[float] = []
    oracles: list[int] = []
    looks: Counter[str] = Counter()
    later_batches = 0
    for seed in range(args.seeds):
        tracker = ModelTracker(args.flavor == "newapi", args.latency, _jitter(args.jitter, seed))
        start = 0.0
        before: ModelServer | None = None
        for batch in range(args.batches):
            server = make_server(
                args.n, args.flavor, speed, seed * 100 + batch, start, args.submit_gap
            )
            if before is not None:  # the same relay: its loop goes on from the batch before
                server.epoch = before.next_start()
            before = server
            began = server.submits[-1] + 0.01
            outcome = tracker.run(server, began)
            label = "mjwidgets" if batch == args.batches - 1 else f"mjwidgets (batch {batch + 1})"
            rows.setdefault(label, []).append(outcome.figures(speed))
            if batch > 0:
                looks += looks_by_refresh(outcome)
                later_batches += 1
            if args.trace and batch == args.batches - 1 and seed == 0:
                print(" ".join(f"{(p - start) * speed:.2f}" for p in outcome.polls))
            start = max(outcome.polls) + 30 / speed
        if args.new_kernel:
            jitter = _jitter(args.jitter, ~seed)
            kernel = ModelTracker(args.flavor == "newapi", args.latency, jitter)
            kernel.rhythm.restore(tracker.rhythm.export())
            later = start + 600 / speed
            relay = make_server(args.n, args.flavor, speed, seed * 100 + 99, later, args.submit_gap)
            assert before is not None  # the same relay, idle meanwhile
            relay.epoch = before.next_start()
            outcome = kernel.run(relay, relay.submits[-1] + 0.01)
            rows.setdefault("mjwidgets (new kernel)", []).append(outcome.figures(speed))
            if args.trace and seed == 0:
                polls = " ".join(f"{(p - later) * speed:.2f}" for p in outcome.polls)
                print(f"new kernel: {polls}")
        bounds.append(lower_bound(server, LAG_TARGET_S / speed))
        if args.flavor == "plus":  # in seconds × speed, the round trip's second half after the read
            finishes = [server.finished(i) * speed for i in range(len(server.submits))]
            oracles.append(fewest_looks(finishes, (args.latency + args.jitter) / 2 * speed))
        for name, gap in (
            ("trueai-2s", lambda _e: 2.0 / speed),
            ("batched-1s", lambda _e: 1.0 / speed),
            ("batched-0.5s", lambda _e: 0.5 / speed),
            ("stepped", lambda e: _stepped_gap(e * speed) / speed),
        ):
            draws = _jitter(args.jitter, seed)  # each strategy its own draws
            outcome = run_schedule(server, name, gap, began, args.latency, draws)
            rows.setdefault(name, []).append(outcome.figures(speed))
    print(f"lower bound (requests, lag p50 ≤ 0.3 s): {median(bounds):.1f}")
    if oracles:
        print(f"fewest looks knowing every finish (p50 ≤ 0.3 s, p95 ≤ 1 s): {median(oracles):g}")
    if args.looks and later_batches:
        print(f"looks per batch after the first ({later_batches} batches):")
        for kind, count in sorted(looks.items()):
            print(f"  {kind:22} {count / later_batches:5.2f}")
    for name, figures in rows.items():
        keys = figures[0].keys()
        summary = {
            k: median([f[k] for f in figures if f[k] is not None])
            if any(f[k] is not None for f in figures)
            else None
            for k in keys
        }
        print(f"{name:28} " + "  ".join(f"{k}={v:g}" for k, v in summary.items() if v is not None))


if __name__ == "__main__":
    main()
