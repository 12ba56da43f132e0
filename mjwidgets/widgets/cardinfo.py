"""What a card derives from its task to show it: the shape of the image before it exists, the
prompts a /describe or /shorten proposes, and each candidate's own U and V buttons.

Pure: the TaskView sets these as traits; tests can call them on plain Tasks.
"""

from __future__ import annotations

from collections.abc import Callable

from ..models import Button, ButtonKind, Status, Task
from ..prompt import Prompt, numbered_prompts

__all__ = ["expected_aspect", "proposed_prompts", "tile_buttons"]


# How a button's result is shaped compared with its parent's image (None: as the prompt says).
_SAME_SHAPE = frozenset(
    {
        ButtonKind.UPSAMPLE,
        ButtonKind.UPSCALE_HD,
        ButtonKind.VARIATION,
        ButtonKind.REROLL,
        ButtonKind.LOW_VARIATION,
        ButtonKind.HIGH_VARIATION,
        ButtonKind.INPAINT,
        ButtonKind.OUTPAINT,
        ButtonKind.ANIMATE,
    }
)


def expected_aspect(task: Task) -> tuple[int, int]:
    """The (width, height) ratio the task's image will have, before it has one: the server's
    size, else the parent's shape (U, V, 🔄, zoom keep it; a pan widens or heightens it by half),
    else the prompt's ``--ar``, else square. A placeholder of this shape keeps the page still."""
    size = task.image_size
    if size:
        return size
    parent, button = task.parent_image_size, task.origin_button
    if parent and button is not None and button.kind is not ButtonKind.CUSTOM_ZOOM:
        if button.kind in _SAME_SHAPE:
            return parent
        if button.kind is ButtonKind.PAN:
            w, h = parent
            return (w * 3, h * 2) if button.direction in ("left", "right") else (w * 2, h * 3)
    ar = Prompt(task.prompt or "").params.get("ar")
    if isinstance(ar, str):
        width, _, height = ar.strip().partition(":")
        if width.isdigit() and height.isdigit() and int(width) and int(height):
            return (int(width), int(height))
    return parent or (1, 1)


def tile_buttons(task: Task) -> list[dict]:
    """The U and V buttons of each candidate of a grid, for the lightbox's image actions."""
    return [
        {"index": b.index, "custom_id": b.custom_id, "kind": b.kind.value, "label": b.display}
        for b in task.buttons
        if b.index and b.kind in (ButtonKind.UPSAMPLE, ButtonKind.VARIATION)
    ]


def proposed_prompts(task: Task, pressable: Callable[[Button], bool]) -> list[dict]:
    """The prompts a DESCRIBE or SHORTEN task proposes, each with its pick button (if any)."""
    if task.action.upper() not in ("DESCRIBE", "SHORTEN") or task.status is not Status.SUCCESS:
        return []
    sources = (
        str((task.properties or {}).get("finalPrompt") or ""),
        task.prompt_en,
        task.prompt,
        task.description,
    )
    texts = next((found for found in map(numbered_prompts, sources) if found), [])
    picks = {
        b.index: b
        for b in task.buttons
        if b.kind in (ButtonKind.DESCRIBE_PICK, ButtonKind.SHORTEN_PICK) and b.index
    }
    proposals = []
    for number, text in enumerate(texts, 1):
        pick = picks.get(number)
        proposals.append(
            {
                "index": number,
                "text": text,
                "pick": pick.custom_id if pick else "",
                "pick_enabled": pick is not None and pressable(pick),
            }
        )
    return proposals
