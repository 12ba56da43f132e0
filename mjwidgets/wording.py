"""Words for people: what a button is called and does, how a status reads, what went wrong.

The one home of the words mjwidgets shows (card buttons and their tooltips, lineage labels, the
status line, errors, the backend badge) and of the words its errors use to name a button, so a
card, a refusal and a script say the same thing. Pure functions over models and errors; the
server's own text is kept beside ours "for reference", never replaced.
"""

from __future__ import annotations

from typing import Any

from .errors import (
    AuthError,
    BannedPromptError,
    MJError,
    QueueFullError,
    RateLimitError,
    ServerError,
    TransportError,
    UnsupportedError,
)
from .models import Button, ButtonKind, Status, Task
from .prompt import Prompt

__all__ = [
    "GROUPS",
    "backend_state",
    "button_group",
    "button_instead",
    "button_name",
    "button_title",
    "control_words",
    "error_words",
    "fail_words",
    "lineage_label",
    "route_instead",
    "short_prompt",
    "status_words",
]

# The rows of a card, in order: what a person looks for first comes first.
GROUPS = ("upscale", "vary", "refine", "zoom", "pan", "video", "more")
_GROUP_OF: dict[ButtonKind, str] = {
    ButtonKind.UPSAMPLE: "upscale",
    ButtonKind.VARIATION: "vary",
    ButtonKind.REROLL: "vary",
    ButtonKind.UPSCALE_HD: "refine",
    ButtonKind.LOW_VARIATION: "refine",
    ButtonKind.HIGH_VARIATION: "refine",
    ButtonKind.INPAINT: "refine",
    ButtonKind.OUTPAINT: "zoom",
    ButtonKind.CUSTOM_ZOOM: "zoom",
    ButtonKind.PAN: "pan",
    ButtonKind.ANIMATE: "video",
}
_ZOOM_NAMES = {2.0: "Zoom Out 2x", 1.5: "Zoom Out 1.5x", 1.0: "Make Square"}


def _is_video_button(button: Button) -> bool:
    return "video_virtual_upscale" in button.custom_id


def _is_extend(button: Button) -> bool:
    return "_extend" in button.custom_id


def button_name(button: Button) -> str:
    """What people call the button: its label when the server sent one, else a name for what it
    does ("🔄 Reroll", "Pan left", "❤️ Favourite"). Never the customId."""
    kind, label, index = button.kind, button.label.strip(), button.index
    if label:
        return label
    if kind is ButtonKind.UPSAMPLE and index:
        return f"U{index}"
    if kind is ButtonKind.VARIATION and index:
        return f"V{index}"
    if kind is ButtonKind.REROLL:
        return "🔄 Describe again" if "picread" in button.custom_id.lower() else "🔄 Reroll"
    if kind is ButtonKind.PAN and button.direction:
        return f"Pan {button.direction}"
    if kind is ButtonKind.OUTPAINT:
        return _ZOOM_NAMES.get(button.zoom or 0.0, "Zoom Out")
    if kind is ButtonKind.BOOKMARK:
        return "❤️ Favourite"
    if kind is ButtonKind.DESCRIBE_PICK:
        return f"{button.emoji} Imagine prompt {index}".strip() if index else "Imagine all"
    if kind is ButtonKind.SHORTEN_PICK:
        return f"Imagine shortened prompt {index}"
    fallback = {
        ButtonKind.CUSTOM_ZOOM: "Custom Zoom",
        ButtonKind.INPAINT: "Vary (Region)",
        ButtonKind.LOW_VARIATION: "Vary (Subtle)",
        ButtonKind.HIGH_VARIATION: "Vary (Strong)",
        ButtonKind.ANIMATE: "Animate",
    }.get(kind)
    return fallback or button.emoji or "this button"


def button_title(button: Button) -> str:
    """A one-line tooltip saying what pressing the button does."""
    kind, name, index = button.kind, button_name(button), button.index
    if kind is ButtonKind.UPSAMPLE:
        if _is_video_button(button):
            return f"Upscale video {index}: keep this clip on its own"
        return f"Upscale tile {index}: this image on its own, at full size"
    if kind is ButtonKind.VARIATION:
        return f"Vary tile {index}: four new images like this one"
    if kind is ButtonKind.REROLL:
        if "picread" in button.custom_id.lower():
            return "Describe again: four new prompts for the image"
        return "Reroll: four new images from the same prompt"
    if kind is ButtonKind.LOW_VARIATION:
        return "Vary (Subtle): four images with small changes"
    if kind is ButtonKind.HIGH_VARIATION:
        return "Vary (Strong): four images with bold changes"
    if kind is ButtonKind.INPAINT:
        return "Vary (Region): repaint a part you select"
    if kind is ButtonKind.UPSCALE_HD:
        detail = {
            "subtle": "keeping it close to this image",
            "creative": "adding new detail",
        }.get(button.variant or "", "")
        size = "twice" if (button.factor or 2) == 2 else f"{button.factor}×"
        return f"{name}: {size} the size{', ' + detail if detail else ''}"
    if kind is ButtonKind.OUTPAINT:
        if button.zoom == 1.0:
            return "Make Square: extend the image to a square"
        return f"{name}: widen the view around this image"
    if kind is ButtonKind.CUSTOM_ZOOM:
        return "Custom Zoom: widen the view by a factor you choose (opens a prompt)"
    if kind is ButtonKind.PAN:
        return f"Pan {button.direction or ''}: extend the image to the {button.direction or 'side'}"
    if kind is ButtonKind.ANIMATE:
        if _is_extend(button):
            return f"{name}: four more seconds of this video"
        return f"{name}: a 5-second video that starts from this image"
    if kind is ButtonKind.BOOKMARK:
        return "Favourite: bookmark this image on Midjourney"
    if kind is ButtonKind.DESCRIBE_PICK:
        return f"Imagine prompt {index} of the description (opens a prompt)"
    if kind is ButtonKind.SHORTEN_PICK:
        return f"Imagine shortened prompt {index} (opens a prompt)"
    return f"Press {name}"


def button_group(button: Button) -> str:
    """The row the button belongs in (one of GROUPS)."""
    return _GROUP_OF.get(button.kind, "more")


def button_instead(button: Button, flavor: str | None) -> str:
    """What a server that refuses ``button`` offers in its place (one line)."""
    kind = button.kind
    if kind is ButtonKind.ANIMATE:
        call = "client.extend(task)" if _is_extend(button) else "client.video(prompt, image=task)"
        if flavor == "newapi":
            return f"this relay makes videos through POST /mj/submit/video only: use {call}"
        return f"make it through POST /mj/submit/video instead: {call}"
    if kind is ButtonKind.UPSAMPLE and _is_video_button(button):
        return (
            "every clip is already in task.video_urls (task.clip(i)); "
            "extend one with client.extend(task, index=i)"
        )
    if kind is ButtonKind.BOOKMARK:
        return "favourites live on midjourney.com; nothing is lost by not pressing it here"
    if kind in (ButtonKind.DESCRIBE_PICK, ButtonKind.SHORTEN_PICK):
        return "copy the prompt from the result into a new imagine instead"
    if kind is ButtonKind.REROLL and "picread" in button.custom_id.lower():
        return "describe the image again instead (client.describe)"
    return "this server does not relay this button; press another one"


_ROUTE_INSTEAD = {
    "cancel": "this server has no cancel: the job runs to its end (or its timeout)",
    "action": "this server has no buttons (no /submit/action); use a Plus or trueai server, "
    "or a relay in front of one",
    "modal": "this server has no dialogs (no /submit/modal)",
    "shorten": "this server cannot shorten prompts; shorten it by hand",
    "image-seed": "this server does not report seeds; add --seed to the prompt to fix one",
    "video": "this server makes no videos; a Plus or trueai server, or a new-api reseller, does",
    "edits": "this server has no editor; use Vary (Region) on an upscale instead",
    "retexture": "this server cannot retexture; use Vary (Region) or a new imagine instead",
    "upload-discord-images": "this server takes no uploads; pass images to imagine() instead",
    "list-by-condition": "tasks are fetched one by one instead",
    "change": "press the buttons instead (/submit/action)",
}


def route_instead(route: str) -> str:
    """What to do when a server lacks ``route`` (one line)."""
    return _ROUTE_INSTEAD.get(route, f"this server does not offer {route}")


# -- lineage and status ----------------------------------------------------------------------


def short_prompt(prompt: str, limit: int = 32) -> str:
    """The descriptive words of a prompt, cut to ``limit`` characters ("a red fox in snow")."""
    text = Prompt.parse(prompt or "").text or (prompt or "").strip()
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def lineage_label(button: Button | None, action: str, prompt: str, parent_id: str = "") -> str:
    """'U2 of “a red fox in snow”': the button pressed and the prompt of the task it came from."""
    name = button_name(button) if button is not None and button.custom_id else ""
    name = name or (action or "made").capitalize()
    short = short_prompt(prompt)
    if short:
        return f"{name} of “{short}”"
    return f"{name} of task {parent_id}" if parent_id else name


# What servers write in a task's failReason, in words for people (the original is kept).
_FAIL_WORDS = (
    ("取消任务", "cancelled"),
    ("任务超时", "timed out on the server"),
    ("执行超时", "timed out on the server"),
    ("上游任务超时", "the relay gave up after an hour"),
    ("任务提交超时", "waited too long in the queue"),
    ("可能包含敏感词", "the prompt may contain a banned word"),
    ("banned", "the prompt contains a banned word"),
)


def fail_words(reason: str) -> str:
    """A fail reason in words for people, the server's own text kept after it."""
    text = " ".join((reason or "").split())
    if not text:
        return "no reason given"
    for needle, words in _FAIL_WORDS:
        if needle.lower() in text.lower():
            return f"{words} (server: “{text}”)"
    return text


def status_words(task: Task, *, stuck: bool = False) -> str:
    """The status of a card in words: "queued", "running 46 %", "waiting for your input",
    "failed: …" (the reason in words, the server's kept), "… · may be stuck". Not started yet
    is "queued", whatever the server calls it (`Task.is_queued`)."""
    status = task.status
    if task.is_queued:
        words = "queued"
    elif status is Status.IN_PROGRESS:
        words = f"running {task.progress} %"
    elif status is Status.MODAL:
        words = "sent" if task.modal_submitted else "waiting for your input"
    elif status is Status.SUCCESS:
        words = "done"
    elif status is Status.FAILURE:
        words = f"failed: {fail_words(task.fail_reason)}"
    elif status is Status.CANCEL:
        words = "cancelled"
    else:
        words = f"status “{task.status_raw}”"
    return f"{words} · may be stuck" if stuck and task.is_pending else words


def _seconds_words(seconds: float) -> str:
    if seconds < 9.95:  # "every 0 s" reads as a bug: a fast simulator moves every 0.3 s
        return f"{seconds:.1f}".removesuffix(".0") + " s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def stuck_words(quiet_s: float, expected_s: float) -> str:
    """'no change for 3 min (this server usually moves every 7 s): it may be stuck'."""
    return (
        f"no change for {_seconds_words(quiet_s)} (this server usually moves every "
        f"{_seconds_words(expected_s)}): it may be stuck"
    )


# -- the card's own controls -------------------------------------------------------------------

_CONTROLS = {
    "cancel": ("Cancel", "Ask the server to stop this job"),
    "resubmit": (
        "Submit again",
        "Submit the same job again as a new, paid job; this one is left as it is",
    ),
}


def control_words(control: str) -> tuple[str, str]:
    """(label, tooltip) of a card control ("cancel", "resubmit")."""
    return _CONTROLS[control]


def existing_result_title(button: Button) -> str:
    """The tooltip of a used upscale button: pressing it opens the result, for free."""
    return f"{button_name(button)} was already upscaled: open its result (no new job)"


LOST_PRESS_REASON = (
    "an earlier press may have reached the server (its answer was lost): look for the result "
    "in the server's task list before pressing again"
)


# -- errors and the backend badge ------------------------------------------------------------


def _server_said(exc: MJError) -> str:
    """What the server answered, kept for reference: its HTTP status, code and words."""
    text = getattr(exc, "server_text", "") or exc.description
    parts = [f"HTTP {exc.http_status}"] if exc.http_status is not None else []
    if exc.code is not None:
        parts.append(f"code {exc.code}")
    if text:
        parts.append(f"“{text}”")
    return f" (server: {', '.join(parts)})" if parts else ""


def error_words(exc: BaseException) -> str:
    """An error in words for people, with the server's own text kept for reference. Never a
    task id on its own: the card it belongs to already says which task."""
    if not isinstance(exc, MJError):
        return f"unexpected error: {type(exc).__name__}: {exc}"
    if isinstance(exc, UnsupportedError):
        what = exc.feature or "this"
        return f"{what} is not available at this server — {exc.advice}{_server_said(exc)}"
    if isinstance(exc, AuthError):
        return f"the server refused the key — {exc.advice}{_server_said(exc)}"
    if isinstance(exc, TransportError):
        return f"cannot reach the server — {exc.advice}"
    if isinstance(exc, RateLimitError):
        return f"the server is busy — {exc.advice}"
    if isinstance(exc, QueueFullError):
        return f"the account's queue is full — {exc.advice}{_server_said(exc)}"
    if isinstance(exc, BannedPromptError):
        word = f" ({exc.banned_word!r})" if exc.banned_word else ""
        return f"the prompt contains a banned word{word} — {exc.advice}"
    if isinstance(exc, ServerError):
        return f"the server failed — {exc.advice}{_server_said(exc)}"
    return str(exc)


def backend_state(
    error: MJError | None, answered_ago: float | None, server: str = ""
) -> dict[str, Any]:
    """The backend badge: ``{ok, label, reason}``. ``ok`` is True when the server answered
    recently, False with the reason when the key is refused or the server is down or failing,
    None before anything was asked."""
    where = f" at {server}" if server else ""
    if isinstance(error, AuthError):
        return {"ok": False, "label": "key refused", "reason": error_words(error)}
    if isinstance(error, TransportError):
        return {"ok": False, "label": "server unreachable", "reason": error_words(error)}
    if isinstance(error, (ServerError, RateLimitError)):
        return {"ok": False, "label": "server trouble", "reason": error_words(error)}
    if answered_ago is not None:
        return {
            "ok": True,
            "label": "connected",
            "reason": f"the server{where} answered {_seconds_words(answered_ago)} ago",
        }
    return {"ok": None, "label": "not contacted yet", "reason": f"nothing asked{where} yet"}
