"""Rendering results: Markdown tables, the goals table, latest.json/latest.md and the README."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import Goal, Row

README_START = "<!-- latest-results:start -->"
README_END = "<!-- latest-results:end -->"


@dataclass
class Section:
    """One benchmark's part of the report."""

    name: str
    title: str
    rows: list[Row]
    columns: Sequence[str] | None = None  # case and metric keys to show; None: all
    intro: str = ""
    missing: str = ""  # why there are no rows (a hook not filled in yet, an error)


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value == int(value) and abs(value) >= 100:
            return f"{value:.0f}"
        return f"{value:g}"
    return str(value).replace("|", "\\|")


def table(headers: Sequence[str], body: Sequence[Sequence[Any]]) -> str:
    """A Markdown table with padded columns (readable as plain text too)."""
    cells = [[_cell(v) for v in line] for line in body]
    widths = [max([len(h)] + [len(line[i]) for line in cells]) for i, h in enumerate(headers)]

    def fmt(items: Sequence[str]) -> str:
        return (
            "| "
            + " | ".join(item.ljust(width) for item, width in zip(items, widths, strict=True))
            + " |"
        )

    lines = [fmt(list(headers)), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [fmt(line) for line in cells]
    return "\n".join(lines)


def rows_table(rows: Sequence[Row], columns: Sequence[str] | None) -> str:
    if columns is None:
        keys: list[str] = []
        for row in rows:
            for key in [*row.case, *row.metrics]:
                if key not in keys:
                    keys.append(key)
        columns = keys
    present = [c for c in columns if any(c in r.case or c in r.metrics for r in rows)]
    body = [[row.case.get(c, row.metrics.get(c)) for c in present] for row in rows]
    return table(present, body)


def goals_of(sections: Sequence[Section]) -> list[Goal]:
    return [goal for section in sections for row in section.rows for goal in row.goals]


def goals_table(goals: Sequence[Goal]) -> str:
    mark = {True: "✅ met", False: "❌ missed", None: "– not measured"}
    body = [[g.label, g.value, f"{g.op} {_cell(g.target)}", mark[g.met], g.why] for g in goals]
    return table(["goal", "value", "target", "met", "why: measured against"], body)


def markdown(machine: dict[str, Any], header: Sequence[str], sections: Sequence[Section]) -> str:
    parts = [
        f"Run {machine['date']} on {machine['nproc']} CPUs ({machine['cpu']}), "
        f"Python {machine['python']}, {machine['platform']}; "
        f"load average at start {machine['loadavg_at_start']}. Code: commit "
        f"{machine.get('commit')}{' + uncommitted changes' if machine.get('dirty') else ''}, "
        f"tracking.py sha256 {machine.get('tracking_py_sha256')}.",
        "",
        *header,
        "",
        "### Goals",
        "",
        goals_table(goals_of(sections)),
    ]
    for section in sections:
        parts += ["", f"### {section.title}", ""]
        if section.intro:
            parts += [section.intro, ""]
        if section.rows:
            parts.append(rows_table(section.rows, section.columns))
            notes = {
                r.case.get("strategy") or r.case.get("case"): r.note for r in section.rows if r.note
            }
            if notes and section.name == "polling":
                parts += [""] + [f"- `{key}`: {note}" for key, note in notes.items()]
        else:
            parts.append(f"_Not measured: {section.missing}_")
    return "\n".join(parts) + "\n"


def write(folder: Path, document: dict[str, Any], text: str) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    json_path, md_path = folder / "latest.json", folder / "latest.md"
    json_path.write_text(
        json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    md_path.write_text("# Latest benchmark results\n\n" + text, encoding="utf-8")
    return json_path, md_path


def update_readme(readme: Path, text: str) -> bool:
    """Replace the results between the README's markers; False when the markers are missing."""
    if not readme.exists():
        return False
    content = readme.read_text(encoding="utf-8")
    if README_START not in content or README_END not in content:
        return False
    head, rest = content.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_START}\n{text}{README_END}{tail}", encoding="utf-8")
    return True
