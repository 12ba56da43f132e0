"""Buttons: what pressing one does, read from its customId (reference §4.1), and how to find
the same button by meaning on another task, server or model version.

A customId names one job ("MJ::JOB::upsample::2::<hash>") and is stale everywhere else; its
*meaning* (``{"kind": "upsample", "index": 2}``) is not. Parsing never fails: a customId nobody
knows is OTHER and stays clickable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any

__all__ = [
    "ButtonKind",
    "Button",
    "RESULT_ACTIONS",
    "MEANING_FIELDS",
    "MODAL_KINDS",
    "parse_custom_id",
    "int_field",
]


class ButtonKind(str, Enum):
    """What pressing a button does, derived from its customId (reference §4.1)."""

    UPSAMPLE = "upsample"
    VARIATION = "variation"
    REROLL = "reroll"
    LOW_VARIATION = "low_variation"
    HIGH_VARIATION = "high_variation"
    UPSCALE_HD = "upscale_hd"
    INPAINT = "inpaint"
    OUTPAINT = "outpaint"
    CUSTOM_ZOOM = "custom_zoom"
    PAN = "pan"
    ANIMATE = "animate"
    BOOKMARK = "bookmark"
    DESCRIBE_PICK = "describe_pick"
    SHORTEN_PICK = "shorten_pick"
    OTHER = "other"


# What the proxies call the task a press makes (Plus/trueai names): a provisional action until
# the server's own copy of the task arrives.
RESULT_ACTIONS: dict[ButtonKind, str] = {
    ButtonKind.UPSAMPLE: "UPSCALE",
    ButtonKind.VARIATION: "VARIATION",
    ButtonKind.REROLL: "REROLL",
    ButtonKind.LOW_VARIATION: "VARIATION",
    ButtonKind.HIGH_VARIATION: "VARIATION",
    ButtonKind.UPSCALE_HD: "UPSCALE_HD",
    ButtonKind.INPAINT: "INPAINT",
    ButtonKind.OUTPAINT: "ZOOM",
    ButtonKind.CUSTOM_ZOOM: "ZOOM",
    ButtonKind.PAN: "PAN",
    ButtonKind.ANIMATE: "VIDEO",
    ButtonKind.DESCRIBE_PICK: "IMAGINE",
    ButtonKind.SHORTEN_PICK: "IMAGINE",
}

MODAL_KINDS = frozenset(
    {ButtonKind.INPAINT, ButtonKind.CUSTOM_ZOOM, ButtonKind.DESCRIBE_PICK, ButtonKind.SHORTEN_PICK}
)
# Outpaint percentages in "MJ::Outpaint::<pct>::1::<hash>::SOLO" → zoom-out factor.
_OUTPAINT_ZOOM = {50: 2.0, 75: 1.5, 100: 1.0}
# The parts of a customId that say what a press does (the rest is the job's hash).
MEANING_FIELDS = ("index", "direction", "zoom", "factor", "variant", "motion", "extends")
_HD_UPSCALE = re.compile(r"^upsample_v[0-9a-z]+?_(\d)x(?:_(subtle|creative))?$")


@dataclass(frozen=True)
class _ParsedId:
    kind: ButtonKind
    index: int | None = None
    direction: str | None = None
    zoom: float | None = None
    factor: int | None = None
    variant: str | None = None
    motion: str | None = None
    extends: bool = False


def _int_or_none(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _parse_job(parts: list[str]) -> _ParsedId:
    """Parse "MJ::JOB::<name>::<n>::<hash>[::SOLO]" (parts after "MJ", "JOB")."""
    name = parts[0].lower() if parts else ""
    number = _int_or_none(parts[1]) if len(parts) > 1 else None
    if name == "upsample" or name == "video_virtual_upscale":
        return _ParsedId(ButtonKind.UPSAMPLE, index=number)
    if name == "variation":
        return _ParsedId(ButtonKind.VARIATION, index=number)
    if name == "reroll" or "remaster" in name:
        return _ParsedId(ButtonKind.REROLL)
    if name == "low_variation":
        return _ParsedId(ButtonKind.LOW_VARIATION)
    if name == "high_variation":
        return _ParsedId(ButtonKind.HIGH_VARIATION)
    if name.startswith("pan_"):
        return _ParsedId(ButtonKind.PAN, direction=name[len("pan_") :])
    if name.startswith("animate_"):  # animate_high, animate_low_extend (trueai)
        words = name.split("_")
        return _ParsedId(
            ButtonKind.ANIMATE,
            motion=words[1] if len(words) > 1 and words[1] in ("high", "low") else None,
            extends=words[-1] == "extend",
        )
    hd = _HD_UPSCALE.match(name)
    if hd:
        return _ParsedId(ButtonKind.UPSCALE_HD, factor=int(hd.group(1)), variant=hd.group(2))
    if name == "promptanalyzer":  # "MJ::Job::PromptAnalyzer::…::<n>": shorten picks
        last = _int_or_none(parts[-1]) if len(parts) > 1 else None
        kind = ButtonKind.SHORTEN_PICK if last else ButtonKind.OTHER
        return _ParsedId(kind, index=last)
    if name == "picreader":  # "MJ::Job::PicReader::<1..4|all>": describe picks
        return _ParsedId(ButtonKind.DESCRIBE_PICK, index=number)
    return _ParsedId(ButtonKind.OTHER)


@lru_cache(maxsize=4096)
def parse_custom_id(custom_id: str) -> _ParsedId:
    """Classify a customId; anything unrecognised is OTHER (still clickable). Kept for the
    latest few thousand: a card's buttons are asked their kind ~14 times each as it is built
    (12,500 parses for 100 cards added to a Studio, a fifth of the kernel's time)."""
    parts = custom_id.split("::")
    if len(parts) < 2 or parts[0].upper() != "MJ":
        return _ParsedId(ButtonKind.REROLL if "remaster" in custom_id.lower() else ButtonKind.OTHER)
    family = parts[1].lower()
    rest = parts[2:]
    if family == "job":
        return _parse_job(rest)
    if family == "inpaint":
        return _ParsedId(ButtonKind.INPAINT)
    if family == "outpaint":
        pct = _int_or_none(rest[0]) if rest else None
        return _ParsedId(ButtonKind.OUTPAINT, zoom=_OUTPAINT_ZOOM.get(pct or -1))
    if family == "customzoom":
        return _ParsedId(ButtonKind.CUSTOM_ZOOM)
    if family == "bookmark":
        return _ParsedId(ButtonKind.BOOKMARK)
    if family == "picread" and rest and rest[0].lower() == "retry":
        return _ParsedId(ButtonKind.REROLL)
    return _ParsedId(ButtonKind.OTHER)


def _emoji_text(value: Any) -> str:
    """Emoji arrive as a character, a custom emoji name, or a raw Discord {"name": …} object."""
    if isinstance(value, dict):
        return str(value.get("name") or "")
    return "" if value is None else str(value)


def int_field(value: Any, default: int = 0) -> int:
    """An integer field as servers send it (a number or digits), else ``default``."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@dataclass(frozen=True)
class Button:
    """One clickable component of a finished task, as the server copied it from Discord."""

    custom_id: str
    label: str = ""
    emoji: str = ""
    style: int = 2
    type: int = 2

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Button:
        return cls(
            custom_id=str(data.get("customId") or data.get("custom_id") or ""),
            label=str(data.get("label") or ""),
            emoji=_emoji_text(data.get("emoji")),
            style=int_field(data.get("style"), 2),
            type=int_field(data.get("type"), 2),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "customId": self.custom_id,
            "label": self.label,
            "emoji": self.emoji,
            "style": self.style,
            "type": self.type,
        }

    @property
    def _parsed(self) -> _ParsedId:
        return parse_custom_id(self.custom_id)

    @property
    def kind(self) -> ButtonKind:
        return self._parsed.kind

    @property
    def index(self) -> int | None:
        """Image number for U/V buttons and describe/shorten picks."""
        return self._parsed.index

    @property
    def direction(self) -> str | None:
        """ "left" | "right" | "up" | "down" for pan buttons."""
        return self._parsed.direction

    @property
    def zoom(self) -> float | None:
        """Zoom-out factor of Outpaint buttons (Custom Zoom: None, the prompt decides)."""
        return self._parsed.zoom

    @property
    def factor(self) -> int | None:
        """2 or 4 for HD upscales."""
        return self._parsed.factor

    @property
    def variant(self) -> str | None:
        """ "subtle" | "creative" for v6+ HD upscales."""
        return self._parsed.variant

    @property
    def motion(self) -> str | None:
        """ "high" | "low" for Animate and Extend buttons."""
        return self._parsed.motion

    @property
    def extends(self) -> bool:
        """True for a video's Extend buttons (``animate_*_extend``), False for Animate."""
        return self._parsed.extends

    @property
    def meaning(self) -> dict[str, Any]:
        """What pressing it does, without the job hash that makes its customId stale:
        ``{"kind": "upsample", "index": 2}``. The same meaning finds the same button on another
        task, server or model version (``task.button_for(**meaning)``)."""
        parsed = self._parsed
        found: dict[str, Any] = {"kind": parsed.kind.value}
        for name in MEANING_FIELDS:
            value = getattr(parsed, name)
            if value not in (None, False):
                found[name] = value
        if parsed.kind is ButtonKind.OTHER:  # nothing else tells it apart
            found["label"] = self.display
        return found

    @property
    def needs_modal(self) -> bool:
        """True when pressing it always yields a MODAL task that needs /submit/modal."""
        return self.kind in MODAL_KINDS

    @property
    def display(self) -> str:
        return self.label or self.emoji or self.custom_id
