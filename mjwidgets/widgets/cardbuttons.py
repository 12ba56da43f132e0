"""What a card offers to press, and whether its server can: the ``buttons`` and ``controls``
traits of a TaskView.

The front end (``js/taskview.js``) renders these as they are; everything it shows about a
button is decided here, from the server's capabilities (``client.capabilities``) and the
history (a used upscale's result). The contract:

``buttons``: a list of ``{custom_id, label, emoji, kind, title, group, enabled, reason,
existing_task_id}`` in row order — ``label``/``emoji`` as the server sent them, ``kind`` a
``ButtonKind`` value, ``title`` a tooltip for people ("Upscale tile 1: …"), ``group`` the row
(``wording.GROUPS``: upscale, vary, refine, zoom, pan, video, more), ``enabled`` False when the
server cannot press it with ``reason`` one line saying why and what to do instead, and
``existing_task_id`` the result of a used upscale button ("" otherwise): pressing it opens that
task, it never submits a second paid upscale.

``buttons_note``: '' or one line saying why a finished image shows no buttons at all (a server
without ``/submit/action``, such as the open-source proxy): what it cannot do, shown with why.

``controls``: a list of ``{id, label, title, enabled, reason}``, the card's own controls —
``id`` "cancel" (queued or running job, where the server can cancel; shown disabled with the
reason on a stuck job where it cannot) or "resubmit" ("Submit again", only on a stuck job). A
click sends ``{"type": "control", "id": …}``; a button click ``{"type": "click", custom_id}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import wording
from ..capabilities import Capabilities
from ..errors import UnsupportedError, ValidationError
from ..models import Button, ButtonKind, Status, Task
from ..tracking import Tracker

__all__ = [
    "Equivalent",
    "button_entries",
    "buttons_note",
    "controls",
    "equivalent_for",
    "parent_of",
    "press",
    "register_equivalent",
    "resubmit",
    "resubmit_blocker",
]

# A press that works where the button itself is refused: kind → (tooltip, press). The hook for
# "Animate → /submit/video" at relays that do not relay Animate: ``register_equivalent(
# ButtonKind.ANIMATE, "Animate: a 5-second video through /submit/video", lambda tracker, task,
# button: tracker.video(...))`` — cards then show Animate enabled and pressing it runs ``press``.
Equivalent = Callable[[Tracker, Task, Button], Task]
Title = str | Callable[[Button], str]
_EQUIVALENTS: dict[ButtonKind, tuple[Title, Equivalent]] = {}


def register_equivalent(kind: ButtonKind, title: Title, press: Equivalent) -> None:
    """Let cards run ``press(tracker, task, button)`` for a ``kind`` of button their server
    refuses; its tooltip becomes ``title`` (or ``title(button)``). ``press`` returns the new
    (submitted) task."""
    _EQUIVALENTS[kind] = (title, press)


def _equivalent_title(button: Button) -> str:
    title = _EQUIVALENTS[button.kind][0]
    return title(button) if callable(title) else title


def _capabilities(tracker: Tracker) -> Capabilities | None:
    client = tracker.client
    return client.capabilities if client is not None else None


def equivalent_for(tracker: Tracker, button: Button) -> Equivalent | None:
    """The registered equivalent press of a button the server refuses (None: press it)."""
    capabilities = _capabilities(tracker)
    if capabilities is None or button.kind not in _EQUIVALENTS:
        return None
    return None if capabilities.accepts(button).ok else _EQUIVALENTS[button.kind][1]


def press(tracker: Tracker, task: Task, button: Button) -> Task:
    """Press ``button`` on ``task`` for a card: its registered equivalent where the server is
    known to refuse it, else the button itself — and, when the server refuses it only now
    (a first press teaches the card which server it is), the equivalent right after. The
    refused press made nothing (a typed refusal, never "maybe submitted"), so one click still
    pays once."""
    equivalent = equivalent_for(tracker, button)
    if equivalent is not None:
        return equivalent(tracker, task, button)
    try:
        return tracker.action(task, button)
    except UnsupportedError as exc:
        equivalent = None if exc.maybe_submitted else equivalent_for(tracker, button)
        if equivalent is None:
            raise
    return equivalent(tracker, task, button)


def parent_of(tracker: Tracker, task: Task) -> Task | None:
    """The task ``task`` was made from: the tracked one, else the history's (bound)."""
    if not task.parent_id:
        return None
    found = tracker.get(task.parent_id)
    if found is None:
        found = tracker.store.get(task.parent_id, tracker.base_url)
        if found is not None:
            found.bind(tracker)
    return found


def button_entries(tracker: Tracker, task: Task, *, foreign: bool) -> list[dict[str, Any]]:
    """The ``buttons`` trait for ``task`` (see the module docstring)."""
    if not task.buttons:
        return []
    results: dict[str, Task] = {}
    lost: set[str] = set()
    if not foreign and task.status is Status.SUCCESS:
        results = tracker.upscale_results(task)
        lost = tracker.lost_presses(task)
    rows = {group: number for number, group in enumerate(wording.GROUPS)}
    ordered = sorted(task.buttons, key=lambda b: rows[wording.button_group(b)])
    capabilities = None if foreign else _capabilities(tracker)
    return [
        _entry(b, capabilities, results.get(b.custom_id), b.custom_id in lost, task, foreign)
        for b in ordered
    ]


def buttons_note(tracker: Tracker, task: Task, *, foreign: bool) -> str:
    """The ``buttons_note`` trait: why a finished image has no buttons ('' when it has some,
    or when nothing says the server lacks them)."""
    if foreign or task.buttons or task.status is not Status.SUCCESS:
        return ""
    if task.action.upper() in ("DESCRIBE", "SHORTEN"):
        return ""  # their prompts are offered as text, imagined without a button
    capabilities = _capabilities(tracker)
    missing = capabilities.why_not("action") if capabilities is not None else ""
    if not missing:
        return ""
    return (
        f"Upscale, Vary, Zoom and Animate are unavailable: {missing} — "
        f"{wording.route_instead('action')}"
    )


def _entry(
    button: Button,
    capabilities: Capabilities | None,
    result: Task | None,
    lost: bool,
    task: Task,
    foreign: bool,
) -> dict[str, Any]:
    title = wording.button_title(button)
    enabled, reason = True, ""
    if foreign:
        enabled = False
        reason = f"this task lives on {task.server}: open it with a Client of that server"
    elif capabilities is not None:
        enabled, reason = capabilities.accepts(button)
        if not enabled and button.kind in _EQUIVALENTS:
            title, enabled, reason = _equivalent_title(button), True, ""
    if result is not None:
        title = wording.existing_result_title(button)
    elif lost and enabled and button.kind is ButtonKind.UPSAMPLE:
        enabled, reason = False, wording.LOST_PRESS_REASON
    return {
        "custom_id": button.custom_id,
        "label": button.label or "",
        "emoji": button.emoji or "",
        "kind": button.kind.value,
        "title": title,
        "group": wording.button_group(button),
        "enabled": enabled,
        "reason": reason,
        "existing_task_id": result.id if result is not None else "",
    }


def resubmit_blocker(tracker: Tracker, task: Task) -> str:
    """'' when "Submit again" can repeat ``task`` as it was submitted, else why not."""
    button = task.origin_button
    if task.parent_id and button is not None and button.custom_id:
        if button.needs_modal:
            return f"press {wording.button_name(button)} again on the card it came from"
        if parent_of(tracker, task) is None:
            return "the task it came from is not in this history"
        return ""
    if task.action.upper() == "IMAGINE" and task.prompt:
        return ""
    return "only an imagine or a button press can be submitted again from its card"


def resubmit(tracker: Tracker, task: Task) -> Task:
    """Submit ``task`` again as a NEW, paid job (a new state token): the same prompt, or the
    same button on the same parent. Only ever called on a person's click."""
    why = resubmit_blocker(tracker, task)
    if why:
        raise ValidationError(why, task_id=task.id, advice="submit it again by hand")
    parent = parent_of(tracker, task)
    if parent is not None and task.origin_button is not None:
        return tracker.action(parent, task.origin_button, again=True)
    return tracker.imagine(task.prompt)


def controls(
    tracker: Tracker, task: Task, *, stuck: str, busy: set[str], foreign: bool
) -> list[dict[str, Any]]:
    """The ``controls`` trait for ``task`` (see the module docstring)."""
    if foreign or not task.is_pending:
        return []
    capabilities = _capabilities(tracker)
    why = capabilities.why_not("cancel") if capabilities is not None else ""
    if capabilities is not None and capabilities.flavor is None and not stuck:
        return []  # until the first answer tells which server this is, promise no Cancel
    found = []
    if not why or stuck:
        label, title = wording.control_words("cancel")
        reason = f"{why} — {wording.route_instead('cancel')}" if why else ""
        found.append(_control("cancel", label, title, not why and "cancel" not in busy, reason))
    if stuck:
        label, title = wording.control_words("resubmit")
        blocker = resubmit_blocker(tracker, task)
        enabled = not blocker and "resubmit" not in busy
        found.append(_control("resubmit", label, title, enabled, blocker))
    return found


def _control(key: str, label: str, title: str, enabled: bool, reason: str) -> dict[str, Any]:
    return {"id": key, "label": label, "title": title, "enabled": enabled, "reason": reason}
