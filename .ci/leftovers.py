"""Fail when a test run left processes behind (servers, kernels, browsers, simulators).

    python .ci/leftovers.py NAME=VALUE [--ignore PID ...]

.ci/run exports a variable unique to the run before the tests start; every process they start
inherits it. After the tests, anything still carrying it (other than the ``--ignore`` pids and
this script) is a leftover: listed, then killed, and the exit status is 1. Processes get a
generous grace period to finish shutting down first. Reads /proc; standard library only.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

GRACE_SECONDS = 30.0


def marked(needle: bytes, ignore: set[int]) -> list[tuple[int, str]]:
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) in ignore:
            continue
        try:
            if needle not in Path(entry.path, "environ").read_bytes().split(b"\0"):
                continue
            cmdline = Path(entry.path, "cmdline").read_bytes()
        except OSError:
            continue
        found.append((int(entry.name), cmdline.replace(b"\0", b" ").decode(errors="replace")))
    return found


def main(argv: list[str]) -> int:
    if len(argv) < 2 or "=" not in argv[1]:
        print(__doc__, file=sys.stderr)
        return 2
    needle = argv[1].encode()
    ignore = {os.getpid(), os.getppid()}
    if "--ignore" in argv:
        ignore |= {int(p) for p in argv[argv.index("--ignore") + 1 :]}
    deadline = time.monotonic() + GRACE_SECONDS
    while (left := marked(needle, ignore)) and time.monotonic() < deadline:
        time.sleep(0.5)
    if not left:
        print("leftovers: no process of the test run is still running")
        return 0
    print(f"leftovers: {len(left)} process(es) of the test run still running:", file=sys.stderr)
    for pid, cmd in left:
        print(f"  {pid}: {cmd[:300]}", file=sys.stderr)
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
