"""Check the lower-bounds constraints against pyproject.toml, or against what is installed.

    python .ci/floors.py check       # every runtime dependency has a ">=" floor, pinned "==" in
                                     # .ci/lower-bounds.txt at exactly that version
    python .ci/floors.py installed   # the running interpreter has exactly those versions

Standard library only (runs before anything is installed, on Python 3.10 too).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
CONSTRAINTS = ROOT / ".ci" / "lower-bounds.txt"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _release(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in re.findall(r"\d+", version)[:3]]
    return tuple(parts + [0] * (3 - len(parts)))


def declared_floors() -> dict[str, str]:
    """{name: floor} from [project].dependencies; every entry must carry a ">=" floor."""
    text = PYPROJECT.read_text()
    block = re.search(r"(?ms)^dependencies\s*=\s*\[(.*?)^\]", text)
    if block is None:
        raise SystemExit("pyproject.toml: no [project] dependencies list found")
    floors: dict[str, str] = {}
    for spec in re.findall(r'"([^"]+)"', block.group(1)):
        found = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(?:\[[^\]]*\])?\s*(.*)", spec)
        name, rest = found.group(1), found.group(2)
        floor = re.search(r">=\s*([0-9][^,;\s]*)", rest)
        if floor is None:
            raise SystemExit(f"pyproject.toml: {spec!r} declares no '>=' floor")
        floors[_norm(name)] = floor.group(1)
    return floors


def pinned() -> dict[str, str]:
    """{name: version} from the "name==version" lines of .ci/lower-bounds.txt."""
    pins: dict[str, str] = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        found = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*==\s*([0-9][^\s;]*)", line)
        if found is None:
            raise SystemExit(f"{CONSTRAINTS.name}: not a 'name==version' pin: {line!r}")
        pins[_norm(found.group(1))] = found.group(2)
    return pins


def check() -> list[str]:
    floors, pins = declared_floors(), pinned()
    problems = [
        f"{n}: floor {v} in pyproject.toml, not pinned" for n, v in floors.items() if n not in pins
    ]
    problems += [
        f"{n}: pinned {v}, not a runtime dependency" for n, v in pins.items() if n not in floors
    ]
    problems += [
        f"{n}: pyproject.toml says >={floors[n]}, {CONSTRAINTS.name} pins {pins[n]}"
        for n in floors.keys() & pins.keys()
        if _release(floors[n]) != _release(pins[n])
    ]
    return problems


def installed() -> list[str]:
    from importlib import metadata

    problems = []
    for name, version in pinned().items():
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name}: not installed")
            continue
        if _release(have) != _release(version):
            problems.append(f"{name}: {have} installed, {version} pinned")
        else:
            print(f"  {name}=={have}")
    return problems


def main(argv: list[str]) -> int:
    mode = argv[1] if len(argv) > 1 else "check"
    if mode not in ("check", "installed"):
        print(__doc__, file=sys.stderr)
        return 2
    problems = check() if mode == "check" else installed()
    for problem in problems:
        print(f"lower bounds: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
