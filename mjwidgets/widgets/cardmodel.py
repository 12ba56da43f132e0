"""The traits a TaskView's front end shows (js/taskview.js): the card's state, kept apart from
TaskView's behaviour so a card of another kind (``videocard.VideoCardModel``) can add to it.

State lives in traits (every view, and a saved notebook, shows it); events travel as messages.
"""

from __future__ import annotations

from typing import Any

import ipywidgets
import traitlets

from .plumbing import FrontEndWidget, front_end, shared_widget

__all__ = ["CARD_PARTS", "CardModel"]

# The card's front end, joined in this order (plumbing.front_end); a video card adds its own part.
CARD_PARTS = ("common.js", "lightbox.js", "copycode.js", "gallerylibrary.js", "taskview.js")


class CardModel(FrontEndWidget):
    """The front-end half of a TaskView (js/taskview.js, with its lightbox)."""

    _esm = front_end(
        *CARD_PARTS,
        styles=("mjwidgets.css", "lightbox.css"),
    )

    task_id = traitlets.Unicode("").tag(sync=True)
    marks = traitlets.Dict().tag(sync=True)  # the library's ♥ and stars (gallerylibrary)
    status = traitlets.Unicode("").tag(sync=True)
    status_text = traitlets.Unicode("").tag(sync=True)  # the status in words for people
    stuck = traitlets.Unicode("").tag(sync=True)  # "" or why the job may be stuck
    controls = traitlets.List[Any]().tag(sync=True)  # the card's own: Cancel, Submit again
    action = traitlets.Unicode("").tag(sync=True)
    progress = traitlets.Int(0).tag(sync=True)
    prompt = traitlets.Unicode("").tag(sync=True)
    fail_reason = traitlets.Unicode("").tag(sync=True)
    timings = traitlets.Dict().tag(sync=True)
    buttons = traitlets.List[Any]().tag(sync=True)
    buttons_note = traitlets.Unicode("").tag(sync=True)  # why an image has no buttons at all
    pending_buttons = traitlets.List[Any]().tag(sync=True)
    used_buttons = traitlets.List[Any]().tag(sync=True)
    image = traitlets.Bytes(b"").tag(sync=True)
    image_format = traitlets.Unicode("webp").tag(sync=True)
    image_size = traitlets.List[Any]().tag(sync=True)
    is_preview = traitlets.Bool(False).tag(sync=True)
    lineage = traitlets.Unicode("").tag(sync=True)
    parent_id = traitlets.Unicode("").tag(sync=True)
    children = traitlets.List[Any]().tag(sync=True)
    modal = traitlets.Dict().tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    retrying = traitlets.Unicode("").tag(sync=True)
    compact = traitlets.Bool(False).tag(sync=True)
    aspect = traitlets.List[Any]([1, 1]).tag(sync=True)  # the image's shape, known before it
    grid = traitlets.Bool(False).tag(sync=True)  # the image is a 2×2 grid of candidates
    tile_buttons = traitlets.List[Any]().tag(
        sync=True
    )  # U/V buttons by candidate, for the lightbox
    prompts = traitlets.List[Any]().tag(sync=True)  # a describe's or shorten's proposed prompts
    can_use_prompt = traitlets.Bool(False).tag(sync=True)  # a prompt box can take a prompt
    notice = traitlets.Unicode("").tag(sync=True)  # a short confirmation ("❤️ done")
    uid = traitlets.Unicode("").tag(sync=True)  # names this card's saved snapshot

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("layout", _shared_layout())
        super().__init__(**kwargs)


def _shared_layout() -> ipywidgets.Layout:
    """One Layout for every card model. Why: ipywidgets gives each widget a Layout model of its
    own, and a card's model never sets one (its TaskView's Layout places the card), so each card
    cost the page one more model to open and keep."""
    return shared_widget("card layout", ipywidgets.Layout)
