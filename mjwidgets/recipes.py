"""Recipes: a task's whole lineage as one runnable notebook cell.

``mjw.recipe(task)`` writes the code that makes the chain again — imagine → U2 → Vary (Region)
with the same mask → Animate … — through the tracker's submit methods (so budgets and the journal
apply), pressing each button by its meaning (``task.button_for(ButtonKind.UPSAMPLE, index=2)``),
never by the customId it had (customIds name one job and are stale everywhere else). Masks and
image inputs travel inside the cell as base64, named by their digest and checked against it, so
the cell runs in a fresh kernel, on another machine, on another server. A recipe can also be
read from a picture's embedded provenance (``mjw.recipe("mj-123.png")``).

Every string from a server (prompts, labels) enters the code through ``repr``: a prompt with
quotes, newlines or backslashes is data, never code.
"""

from __future__ import annotations

import base64
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import inputs, steps
from .errors import InputTypeError, ValidationError
from .models import ButtonKind, Task
from .records import without_query
from .steps import Step
from .store import HistoryStore, default_home

__all__ = ["recipe", "image", "load_steps", "INLINE_LIMIT"]

#: Images up to this size travel inside the cell; bigger ones are named by digest only and
#: must be found in the history's ``inputs/`` where the recipe runs.
INLINE_LIMIT = 512_000
_WRAP = 96


def image(digest: str, data: str | bytes | None = None) -> bytes:
    """An image a recipe names by digest: from ``data`` (the base64 the recipe carries) or from
    the default history's kept inputs; checked against the digest (used by recipe cells)."""
    return inputs.load(digest, data, folders=[default_home() / inputs.FOLDER_NAME])


def _store_of(task: Task | None, store: HistoryStore | None) -> HistoryStore:
    if store is not None:
        return store
    backend_store = getattr(getattr(task, "backend", None), "store", None)
    return backend_store if isinstance(backend_store, HistoryStore) else HistoryStore()


def load_steps(
    source: Task | str | os.PathLike[str] | dict[str, Any], store: HistoryStore | None = None
) -> tuple[list[Step], dict[str, Any]]:
    """The steps behind ``source`` — a Task, a task id, a file carrying provenance, or a
    provenance record — and what is known about where they came from (``server``, ``id``)."""
    if isinstance(source, dict):
        record = source
    elif isinstance(source, Task):
        history = _store_of(source, store)
        server = source.server or history.server_of(source.id) or ""
        found = steps.steps_for(history, source, server)
        return found, {"id": source.id, "server": server, "store": history}
    elif isinstance(source, (str, os.PathLike)) and Path(source).is_file():
        from .provenance import provenance  # the reader of files, only when a file is given

        record = provenance(source)
    elif isinstance(source, str):
        history = _store_of(None, store)
        server = history.server_of(source) or ""
        return steps.steps_for(history, source, server), {
            "id": source,
            "server": server,
            "store": history,
        }
    else:
        raise InputTypeError(
            f"a recipe is made from a Task, a task id, a file or a record, not "
            f"{type(source).__name__}",
            advice="pass a task, e.g. mjw.recipe(card.task)",
        )
    found = steps.steps_from_json(record.get("steps"))
    if not found:
        raise ValidationError(
            "the record carries no steps", advice="save the picture again with mjwidgets"
        )
    return found, {"id": record.get("id"), "server": record.get("server"), "store": store}


def _literal_image(
    digest: str, store: HistoryStore | None, record_images: dict[str, str]
) -> tuple[str, str]:
    """(the expression that yields the image in the cell, a comment about it)."""
    data = record_images.get(digest)
    if data is None and store is not None:
        path = inputs.find(store.folder / inputs.FOLDER_NAME, digest)
        if path is not None and path.stat().st_size <= INLINE_LIMIT:
            data = base64.b64encode(path.read_bytes()).decode("ascii")
    if data is None:
        return f"mjw.recipes.image({digest!r})", "kept in the history's inputs/ where it was made"
    chunks = [data[i : i + _WRAP] for i in range(0, len(data), _WRAP)]
    body = "\n".join(f"    {chunk!r}" for chunk in chunks)
    return f"mjw.recipes.image(\n    {digest!r},\n{body},\n)", f"{len(data) * 3 // 4} bytes inline"


def _meaning_args(meaning: dict[str, Any]) -> str:
    kind = ButtonKind(meaning["kind"])
    extra = "".join(f", {name}={value!r}" for name, value in meaning.items() if name != "kind")
    return f"ButtonKind.{kind.name}{extra}"


def recipe(
    source: Task | str | os.PathLike[str] | dict[str, Any], *, store: HistoryStore | None = None
) -> str:
    """A runnable cell that makes ``source``'s lineage again (see the module's docstring).
    ``source``: a Task (a card's ``task``), a task id in the history, a file mjwidgets saved or
    exported (its embedded provenance), or such a record."""
    found, origin = load_steps(source, store)
    history: HistoryStore | None = origin.get("store")
    record_images = dict(source.get("images") or {}) if isinstance(source, dict) else {}
    return _code(found, origin, history, record_images)


def _comment(text: str, limit: int = 96) -> str:
    """Text safe inside a ``#`` comment: one line, no control characters, at most ``limit``."""
    flat = "".join(ch if ch.isprintable() else " " for ch in str(text))
    flat = " ".join(flat.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _code(
    found: list[Step],
    origin: dict[str, Any],
    history: HistoryStore | None,
    record_images: dict[str, str],
) -> str:
    server = without_query(str(origin.get("server") or "")) or "an unknown server"
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = [
        f"# mjwidgets recipe: the {len(found)} step(s) that made task "
        f"{_comment(str(origin.get('id')), 40)}",
        f"# {_comment(' → '.join(step.describe() for step in found))}",
        f"# From the history of {_comment(server, 60)}, {made}.",
        "# Runs on MJ_BASE_URL (or the embedded simulator) through the tracker: budgets apply.",
        f"# Estimated: {steps.cost_of(found)}.",
        "import mjwidgets as mjw",
        "from mjwidgets import ButtonKind",
        "",
    ]
    constants: list[str] = []
    names: dict[str, str] = {}

    def name_of(digest: str, what: str) -> str:
        if digest not in names:
            names[digest] = f"{what}_{sum(n.startswith(what) for n in names.values()) + 1}"
            expression, note = _literal_image(digest, history, record_images)
            constants.append(f"{names[digest]} = {expression}  # {_comment(note)}")
        return names[digest]

    modes = {step.mode for step in found if step.mode}
    mode = next(iter(modes)) if len(modes) == 1 else None
    body = [
        f"tracker = mjw.Tracker.for_client(mjw.Client(mode={mode!r}))"
        if mode
        else "tracker = mjw.Tracker.default()"
    ]
    previous = ""
    for number, step in enumerate(found, 1):
        var = f"step{number}"
        body.append(f"# {number}. {_comment(step.describe())}")
        body.extend(_step_code(step, var, previous, name_of))
        previous = var
    body.append(previous)
    return "\n".join(head + constants + ([""] if constants else []) + body) + "\n"


def _step_code(step: Step, var: str, previous: str, name_of: Any) -> list[str]:
    if step.submit == "imagine":
        images = [name_of(digest, "IMAGE") for digest in step.images]
        extra = f", images=[{', '.join(images)}]" if images else ""
        extra += f", bot={step.bot!r}" if step.bot != "mj" else ""
        return [f"{var} = tracker.imagine({step.prompt!r}{extra}).wait()"]
    if step.submit == "blend":
        inputs_list = ", ".join(name_of(digest, "IMAGE") for digest in step.images)
        dims = step.dimensions or "SQUARE"
        return [f"{var} = tracker.blend([{inputs_list}], dimensions={dims!r}).wait()"]
    if step.submit == "press" and step.button and previous:
        press = f"tracker.action({previous}, {previous}.button_for({_meaning_args(step.button)}))"
        if not step.dialog:
            return [f"{var} = {press}.wait()"]
        lines = [f"{var}_dialog = {press}.wait()  # a MODAL task: the dialog to send"]
        mask = f", mask={name_of(step.mask, 'MASK')}" if step.mask else ""
        lines.append(
            f"{var} = tracker.modal({var}_dialog, prompt={step.dialog_prompt!r}{mask}).wait()"
        )
        return lines
    if step.submit == "video" and step.video is not None:
        return [f"{var} = {_video_call(step, previous, name_of)}.wait()"]
    if step.submit in ("describe", "shorten") and (step.images or step.prompt):
        what = (
            f"tracker.client.describe({name_of(step.images[0], 'IMAGE')})"
            if step.submit == "describe"
            else f"tracker.client.shorten({step.prompt!r})"
        )
        return [f"{var} = tracker.track({what}).wait()"]
    # made outside this history (or a kind recipes cannot make yet): start from the original
    return [
        f"# task {_comment(step.task_id, 40)} ({_comment(step.action or step.submit, 20)}) "
        "cannot be made again from here:",
        "# this starts from the original (it must still exist on the server)",
        f"{var} = tracker.track(tracker.client.fetch({step.task_id!r})).wait()",
    ]


def _video_call(step: Step, previous: str, name_of: Any) -> str:
    """``tracker.video(…)`` or ``tracker.extend(…)`` with the fields the job was sent with."""
    body = step.video or {}
    args: list[str] = []
    for key, name in (("motion", "motion"), ("batchSize", "batch_size")):
        if body.get(key) is not None:
            args.append(f"{name}={body[key]!r}")
    if str(body.get("action") or "").lower() == "extend" and previous:
        if body.get("index") not in (None, 0):
            args.insert(0, f"index={body['index']!r}")
        return (
            f"tracker.extend({previous}, prompt={step.prompt!r}{''.join(', ' + a for a in args)})"
        )
    frames = []
    for key, name in (("image", "image"), ("endImage", "end_image")):
        value = body.get(key)
        if isinstance(value, str) and value.startswith("sha256:"):
            frames.append(f"{name}={name_of(value, 'IMAGE')}")
        elif key == "image" and previous:  # the start frame was the previous step's image
            frames.append(f"image={previous}")
        elif isinstance(value, str) and value:
            frames.append(f"{name}={value!r}")
    if body.get("loop"):
        args.append("loop=True")
    if str(body.get("videoType") or "").endswith("720"):
        args.append("hd=True")
    return f"tracker.video({step.prompt!r}{''.join(', ' + a for a in frames + args)})"
