"""Export tasks, a lineage or a sweep to a folder: the images (a video's mp4s in ``videos/`` and
their first frames in ``images/``), a JSON and a CSV manifest (prompts, parameters, lineage,
timings) and a self-contained HTML contact sheet.

Images come from the image cache (they outlive their URLs). Every server string (prompt, id,
fail reason, button label) is written into the contact sheet escaped, as text; file names come
from task ids reduced to ``[0-9A-Za-z_-]``. The sheet embeds its thumbnails as data URLs, so it
can be mailed on its own; each thumbnail links to the full image in ``images/``.

Tasks of a server this kernel no longer talks to (e.g. the embedded simulator of a kernel that
has since restarted) keep their server in ``task.server``: the cache finds their images by it.
Every row of the manifests is ``records.task_record``, the format of ``task.save()``'s sidecar.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import logging
import os
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from PIL import Image

from . import provenance, records, renditions, steps
from .errors import InputTypeError, MJError, NotFoundError
from .imagecache import FINAL, Downloader, ImageCache
from .models import Status, Task
from .store import HistoryStore, LineageNode
from .tracking import Tracker

__all__ = ["export_lineage", "export_sweep", "export_tasks", "export_zip"]

log = logging.getLogger("mjwidgets.export")

SHEET_THUMB = 360  # px, long side of the contact sheet's embedded thumbnails
CSV_COLUMNS = [
    "id",
    "action",
    "status",
    "prompt",
    "parameters",
    "parent_id",
    "button",
    "depth",
    "submit_time",
    "start_time",
    "finish_time",
    "queued_s",
    "ran_s",
    "total_s",
    "image",
    "image_width",
    "image_height",
    "grid",
    "fail_reason",
    "image_error",
    "video",
    "video_duration",
]


# -- collecting --------------------------------------------------------------------------------


@dataclass
class _Entry:
    task: Task
    depth: int = 0
    via: str | None = None
    labels: dict[str, Any] = field(default_factory=dict)
    image: str | None = None
    image_path: Path | None = None
    image_size: tuple[int, int] | None = None
    image_error: str | None = None
    sha256: str | None = None
    thumb: str | None = None  # data URL
    video: list[str] | None = None  # relative mp4 paths
    video_sha256: list[str] | None = None
    posters: list[str] | None = None
    video_duration: float | None = None


def _cache_of(task: Task, fallback: ImageCache | None) -> ImageCache | None:
    """The cache of the tracker that tracks the task, if any (else ``fallback``)."""
    return task.backend.cache if isinstance(task.backend, Tracker) else fallback


def _defaults(
    tasks: Sequence[Task], store: HistoryStore | None, cache: ImageCache | None
) -> tuple[HistoryStore, ImageCache]:
    if cache is None:
        cache = next((c for c in (_cache_of(t, None) for t in tasks) if c is not None), None)
    if store is None:
        store = cache.store if cache is not None else HistoryStore()
    if cache is None:
        cache = ImageCache(store=store)
    return store, cache


def _with_server(task: Task, store: HistoryStore) -> Task:
    """A task built by hand knows no server: the history says which one made it."""
    if not task.server:
        task.server = store.server_of(task.id) or ""
    return task


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat()


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 3) if start and end else None


def _thumb_data_url(path: Path) -> str:
    data = renditions.thumbnail_webp(path, SHEET_THUMB, quality=78)
    return "data:image/webp;base64," + base64.b64encode(data).decode("ascii")


def _order(entries: list[_Entry]) -> list[_Entry]:
    """Parents before their children (depth first, children in the given order); depths from
    the parent links among the exported tasks."""
    by_id = {e.task.id: e for e in entries}
    children: dict[str, list[_Entry]] = {}
    roots: list[_Entry] = []
    for entry in entries:
        parent = entry.task.parent_id
        if parent and parent in by_id and parent != entry.task.id:
            children.setdefault(parent, []).append(entry)
        else:
            roots.append(entry)
    ordered: list[_Entry] = []
    seen: set[str] = set()

    def visit(entry: _Entry, depth: int) -> None:
        if entry.task.id in seen:
            return
        seen.add(entry.task.id)
        entry.depth = depth
        ordered.append(entry)
        for child in children.get(entry.task.id, []):
            visit(child, depth + 1)

    for root in roots:
        visit(root, 0)
    for entry in entries:  # cycles (never in practice): keep them anyway
        visit(entry, 0)
    return ordered


# -- writing -----------------------------------------------------------------------------------


def _copy_image(
    entry: _Entry, cache: ImageCache, images: Path, live: Downloader | None = None
) -> None:
    task = entry.task
    if task.status is not Status.SUCCESS:
        entry.image_error = f"no image: the task is {task.status.value}"
        return
    if task.is_video and task.video_urls:
        _copy_clips(entry, cache, images, live)
        return
    try:
        source = cache.fetch(task, FINAL, client=live)
    except MJError as exc:
        entry.image_error = str(exc)
        return
    target = images / f"{records.file_stem(task.id)}{source.suffix}"
    target.write_bytes(source.read_bytes())
    entry.image = f"images/{target.name}"
    entry.sha256 = source.stem
    entry.image_path = target
    try:
        with Image.open(target) as opened:
            entry.image_size = opened.size
        entry.thumb = _thumb_data_url(target)
    except OSError as exc:
        entry.image_error = f"unreadable image: {exc}"


def _copy_clips(
    entry: _Entry, cache: ImageCache, images: Path, live: Downloader | None = None
) -> None:
    """A video: its clips to ``videos/``, their first frames to ``images/`` (the first poster is
    the entry's image, so the sheet and the manifest show it like any other)."""
    try:
        copied = cache.videos.copy_files(entry.task, images.parent, client=live)
    except MJError as exc:
        entry.image_error = str(exc)
        return
    entry.video, entry.posters, entry.video_sha256 = copied.videos, copied.posters, copied.sha256
    entry.image, entry.image_path = copied.posters[0], images.parent / copied.posters[0]
    entry.sha256 = copied.poster_sha256[0]
    entry.video_duration, entry.image_size = copied.duration, copied.size
    entry.thumb = _thumb_data_url(entry.image_path)


def _record(entry: _Entry, store: HistoryStore) -> dict[str, Any]:
    """The task's record; its exported image gets the record embedded (``provenance``)."""
    task = entry.task
    lineage, masks = steps.story(store, task) if task.server else ([], {})
    record = records.task_record(
        task,
        ancestors=store.ancestors(task.id, task.server) if task.server else [],
        image=entry.image,
        image_size=entry.image_size,
        image_sha256=entry.sha256,
        image_error=entry.image_error,
        button=entry.via,
        depth=entry.depth,
        labels=entry.labels,
        steps=lineage,
        inputs=masks,
        video=entry.video,
        video_sha256=entry.video_sha256,
        video_duration=entry.video_duration,
        posters=entry.posters,
    )
    if entry.image_path is not None:
        entry.image_path.write_bytes(provenance.embed(entry.image_path.read_bytes(), record))
        root = entry.image_path.parent.parent  # a video's other files: its clips, its posters
        for relative in (entry.video or []) + (entry.posters or [])[1:]:
            (root / relative).write_bytes(provenance.embed((root / relative).read_bytes(), record))
    return record


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value[:1] in ("=", "+", "@", "\t", "\r"):
        return "'" + value  # a spreadsheet must not run a prompt as a formula
    return value


def _write_csv(path: Path, records: list[dict[str, Any]], label_names: list[str]) -> None:
    columns = CSV_COLUMNS + [f"label_{name}" for name in label_names]
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(columns)
        for record in records:
            labels = record.get("labels") or {}
            row = [record.get(column) for column in CSV_COLUMNS]
            row += [labels.get(name) for name in label_names]
            writer.writerow([_csv_cell(value) for value in row])


_SHEET_CSS = """
:root { color-scheme: light dark; --fg: #1d1d1f; --bg: #fff; --muted: #666; --line: #d0d0d0;
  --card: #f7f7f8; --add: #1b7f3b; --accent: #1565c0; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e6e6; --bg: #16171a; --muted: #a0a0a0;
  --line: #3a3b40; --card: #202126; --accent: #64b5f6; } }
body { font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg);
  margin: 24px; }
h1 { font-size: 20px; margin: 0 0 4px; }
.meta { color: var(--muted); font-size: 12px; }
.sheet { list-style: none; padding: 0; margin: 16px 0; display: flex; flex-direction: column;
  gap: 10px; }
.card { display: flex; gap: 12px; align-items: flex-start; padding: 10px; border-radius: 8px;
  border: 1px solid var(--line); background: var(--card); max-width: 980px;
  box-sizing: border-box; }
.card img { width: 240px; height: auto; border-radius: 4px; display: block; }
.noimg { width: 240px; height: 120px; display: flex; align-items: center;
  justify-content: center; color: var(--muted); border: 1px dashed var(--line);
  border-radius: 4px; }
.body { flex: 1; min-width: 0; }
.prompt { white-space: pre-wrap; word-break: break-word; margin: 4px 0; }
.via { color: var(--accent); font-weight: 600; }
.via a { color: inherit; }
.params code { background: rgba(127,127,127,.15); padding: 0 4px; border-radius: 3px;
  margin-right: 4px; }
.meta a { color: var(--accent); }
.fail { color: #d32f2f; }
table.sweep { border-collapse: collapse; margin: 16px 0; }
table.sweep th { font: 12px monospace; padding: 6px; text-align: left; color: var(--muted); }
table.sweep td { vertical-align: top; padding: 4px; }
table.sweep .card { flex-direction: column; max-width: 280px; }
"""


def _card_html(entry: _Entry, ids: set[str], tag: str = "li") -> str:
    task = entry.task
    e = html.escape
    anchor = f"task-{records.safe_id(task.id)}"
    indent = f' style="margin-left:{entry.depth * 28}px"' if tag == "li" else ""
    parts = [f'<{tag} class="card" id="{e(anchor)}"{indent}>']
    if entry.thumb and entry.video:
        parts.append(
            f'<a href="{e(entry.video[0])}"><img src="{entry.thumb}" '
            f'alt="{e("first frame of the video of task " + task.id)}"></a>'
        )
    elif entry.thumb:
        parts.append(
            f'<a href="{e(entry.image or "")}"><img src="{entry.thumb}" '
            f'alt="{e("image of task " + task.id)}"></a>'
        )
    else:
        parts.append(f'<div class="noimg">{e(entry.image_error or "no image")}</div>')
    parts.append('<div class="body">')
    if task.parent_id:
        label = entry.via or task.action or "from"
        parent = e(task.parent_id)
        target = (
            f'<a href="#task-{e(records.safe_id(task.parent_id))}">#{parent}</a>'
            if task.parent_id in ids
            else f"#{parent}"
        )
        parts.append(f'<div class="via">↳ {e(label)} of {target}</div>')
    parts.append(f'<div class="prompt">{e(task.prompt or task.prompt_en or "")}</div>')
    params = records.parameters(task)
    if params:
        chips = "".join(
            f"<code>--{e(str(k))}{'' if v is True else ' ' + e(str(v))}</code>"
            for k, v in params.items()
        )
        parts.append(f'<div class="params">{chips}</div>')
    if entry.labels:
        chips = "".join(f"<code>--{e(str(k))} {e(str(v))}</code>" for k, v in entry.labels.items())
        parts.append(f'<div class="params">sweep: {chips}</div>')
    total = _seconds(task.submit_time, task.finish_time)
    meta = [f"#{task.id}", task.action or "", task.status_raw or task.status.value]
    if total is not None:
        meta.append(f"{total:.1f} s")
    if entry.image_size:
        meta.append(f"{entry.image_size[0]}×{entry.image_size[1]}")
    parts.append(f'<div class="meta">{e(" · ".join(m for m in meta if m))}</div>')
    if entry.video:
        seconds = f" · {entry.video_duration:g} s" if entry.video_duration else ""
        links = " ".join(
            f'<a href="{e(path)}">▶ clip {number}</a>' for number, path in enumerate(entry.video, 1)
        )
        parts.append(f'<div class="meta">video{e(seconds)} · {links}</div>')
    if task.fail_reason:
        parts.append(f'<div class="fail">{e(task.fail_reason)}</div>')
    parts.append(f"</div></{tag}>")
    return "".join(parts)


def _sweep_table(entries: list[_Entry], ids: set[str]) -> tuple[str, list[_Entry]]:
    """A table: rows = the first label's values, columns = the other labels' combinations."""
    labelled = [e for e in entries if e.labels]
    if not labelled:
        return "", entries
    names = list(dict.fromkeys(k for e in labelled for k in e.labels))
    row_name, column_names = names[0], names[1:]
    rows = list(dict.fromkeys(str(e.labels.get(row_name)) for e in labelled))
    columns = list(
        dict.fromkeys(tuple(str(e.labels.get(n)) for n in column_names) for e in labelled)
    )
    esc = html.escape
    head = "".join(
        "<th>"
        + esc(", ".join(f"--{n} {v}" for n, v in zip(column_names, col, strict=True)))
        + "</th>"
        for col in columns
    )
    body = []
    for row in rows:
        cells = []
        for col in columns:
            found = [
                e
                for e in labelled
                if str(e.labels.get(row_name)) == row
                and tuple(str(e.labels.get(n)) for n in column_names) == col
            ]
            inner = "".join(_card_html(e, ids, "div") for e in found)
            cells.append(f"<td>{inner}</td>")
        body.append(f"<tr><th>--{esc(row_name)} {esc(row)}</th>{''.join(cells)}</tr>")
    table = (
        f'<table class="sweep"><thead><tr><th>--{esc(row_name)} ↓</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )
    return table, [e for e in entries if not e.labels]


def _write_sheet(path: Path, name: str, entries: list[_Entry], exported_at: str) -> None:
    ids = {e.task.id for e in entries}
    table, rest = _sweep_table(entries, ids)
    cards = "".join(_card_html(e, ids) for e in rest)
    esc = html.escape
    document = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(name)}</title><style>{_SHEET_CSS}</style></head><body>"
        f"<h1>{esc(name)}</h1>"
        f'<div class="meta">{len(entries)} task{"s" if len(entries) != 1 else ""} · exported '
        f"{esc(exported_at)} by mjwidgets · manifest.json, manifest.csv, images/"
        f"{', videos/' if any(e.video for e in entries) else ''}</div>"
        f"{table}"
        f'<ol class="sheet">{cards}</ol></body></html>\n'
    )
    path.write_text(document, encoding="utf-8")


def _export(
    entries: list[_Entry],
    folder: str | os.PathLike[str],
    name: str,
    store: HistoryStore,
    cache: ImageCache,
    extra: Mapping[str, Any] | None = None,
    live: Downloader | None = None,
) -> Path:
    out = Path(folder).expanduser()
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    for entry in entries:
        _copy_image(entry, _cache_of(entry.task, cache) or cache, images, live)
    rows = [_record(entry, store) for entry in entries]
    exported_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    label_names = list(dict.fromkeys(k for e in entries for k in e.labels))
    manifest = {
        "name": name,
        "exported_at": exported_at,
        "generator": "mjwidgets",
        "count": len(rows),
        **(dict(extra) if extra else {}),
        "tasks": rows,
    }
    (out / "manifest.json").write_text(
        json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    _write_csv(out / "manifest.csv", rows, label_names)
    _write_sheet(out / "contact-sheet.html", name, entries, exported_at)
    return out


def _as_tasks(
    tasks: Task | str | Iterable[Task | str], store: HistoryStore | None = None
) -> list[Task]:
    """Tasks, TaskViews or (with a store) task ids, as Tasks."""
    if isinstance(tasks, (Task, str)):
        tasks = [tasks]
    result = []
    for item in tasks:
        task = getattr(item, "task", item)  # a TaskView
        if isinstance(task, str) and store is not None:
            found = store.get(task)
            if found is None:
                raise NotFoundError(f"task {task} is not in the history {store.path}", task_id=task)
            task = found
        if not isinstance(task, Task):
            raise InputTypeError(
                f"expected a Task, got {type(item).__name__}",
                advice="pass Tasks, TaskViews (e.g. studio.cards.values()) or stored task ids",
            )
        result.append(task)
    return result


# -- public ------------------------------------------------------------------------------------


def export_tasks(
    tasks: Task | str | Iterable[Task | str],
    folder: str | os.PathLike[str],
    *,
    name: str = "export",
    labels: Mapping[str, Mapping[str, Any]] | None = None,
    store: HistoryStore | None = None,
    cache: ImageCache | None = None,
) -> Path:
    """Write the tasks' images to ``folder/images/``, ``manifest.json``, ``manifest.csv`` and
    ``contact-sheet.html`` (titled ``name``); returns ``folder``.

    The manifest lists per task: id, action, status, prompt, parsed parameters, parent id,
    button, submit/start/finish times, durations and the image file. Tasks whose image is not
    available (failed, never cached) are listed with ``image_error``. ``labels`` (task id →
    {parameter: value}) adds sweep labels. Unbound tasks are looked up in ``store`` (default:
    the history under ``$MJ_HOME``) to find their cached images.
    """
    given = [tasks] if isinstance(tasks, (Task, str)) else list(tasks)
    store, cache = _defaults([t for t in given if isinstance(t, Task)], store, cache)
    task_list = _as_tasks(given, store)
    entries = []
    for task in task_list:
        task = _with_server(task, store)
        via = task.origin_button.display if task.origin_button else None
        entries.append(_Entry(task, via=via, labels=dict((labels or {}).get(task.id, {}))))
    return _export(_order(entries), folder, name, store, cache)


def export_lineage(
    task_or_id: Task | str,
    folder: str | os.PathLike[str],
    *,
    name: str | None = None,
    store: HistoryStore | None = None,
    cache: ImageCache | None = None,
) -> Path:
    """Export the whole lineage tree of a task (its oldest ancestor and everything made from
    it) from the history store; returns ``folder``."""
    task = task_or_id if isinstance(task_or_id, Task) else None
    task_id = task.id if task is not None else str(task_or_id)
    store, cache = _defaults([task] if task is not None else [], store, cache)
    tree = store.lineage(task_id)
    if tree is None:
        raise NotFoundError(f"task {task_id} is not in the history {store.path}", task_id=task_id)
    server = store.server_of(task_id) or ""
    backend = task.backend if task is not None else None
    # the live side of the focus task downloads images never cached (its own server only)
    live = backend if backend is not None and backend.base_url == server else None
    entries = []

    def visit(node: LineageNode, depth: int) -> None:
        stored = node.task
        stored.server = stored.server or server
        via = node.via.display if node.via is not None else None
        entries.append(_Entry(stored, depth=depth, via=via))
        for child in node.children:
            visit(child, depth + 1)

    visit(tree, 0)
    return _export(
        _order(entries),
        folder,
        name or f"lineage of {tree.task.id}",
        store,
        cache,
        {"root": tree.task.id, "focus": task_id},
        live,
    )


def export_sweep(
    sweep: Any,
    folder: str | os.PathLike[str],
    *,
    labels: Mapping[str, Mapping[str, Any]] | None = None,
    name: str | None = None,
    store: HistoryStore | None = None,
    cache: ImageCache | None = None,
) -> Path:
    """Export a sweep: a ``Sweep`` (its ``tasks`` and ``labels``), or a list of tasks with
    ``labels`` (task id → {parameter: value}); the contact sheet lays them out as a table
    (rows: the first parameter, columns: the others). Returns ``folder``."""
    if hasattr(sweep, "tasks") and not isinstance(sweep, (list, tuple)):
        tasks = list(sweep.tasks)
        labels = labels if labels is not None else getattr(sweep, "labels", None)
        name = name or f"sweep: {getattr(sweep, 'base', '')}".rstrip(": ")
    else:
        tasks = _as_tasks(sweep)
    return export_tasks(
        tasks, folder, name=name or "sweep", labels=labels or {}, store=store, cache=cache
    )


_STORED = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".mp4")  # already compressed


def export_zip(
    tasks: Task | str | Iterable[Task | str],
    path: str | os.PathLike[str],
    *,
    name: str = "selection",
    store: HistoryStore | None = None,
    cache: ImageCache | None = None,
) -> Path:
    """The chosen tasks (Tasks, TaskViews or stored task ids: a gallery's selection) as one zip
    at ``path``: what ``export_tasks`` writes — images carrying their records, manifest.json,
    manifest.csv, contact-sheet.html — under one folder named after ``name``. Returns the zip's
    path (a folder, or a path without a suffix, gets ``<name>.zip`` inside it)."""
    target = Path(path).expanduser()
    folder_name = records.safe_id(name.replace(" ", "-")) or "selection"
    if target.is_dir() or not target.suffix:
        target = target / f"{folder_name}.zip"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mjw-zip-") as scratch:
        export_tasks(tasks, scratch, name=name, store=store, cache=cache)
        partial = target.with_name(f".{target.name}.part")
        with zipfile.ZipFile(partial, "w") as archive:
            for file in sorted(Path(scratch).rglob("*")):
                if file.is_file():
                    packed = zipfile.ZIP_STORED if file.suffix.lower() in _STORED else (
                        zipfile.ZIP_DEFLATED
                    )  # fmt: skip
                    relative = file.relative_to(scratch).as_posix()
                    archive.write(file, f"{folder_name}/{relative}", compress_type=packed)
        os.replace(partial, target)
    return target
