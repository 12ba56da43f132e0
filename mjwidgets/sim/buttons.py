"""Midjourney button sets as the proxies copy them from Discord (reference §4).

The simulator emits the same customId formats a real proxy returns for each MJ version, with a fresh
job hash per task, so a client that hard-codes nothing keeps working against it. This module is the
simulator's own reading of the formats; it shares no code with the client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERSION_RE = re.compile(r"(?:--|—)(v|version|niji)(?:\s+([0-9]+(?:\.[0-9]+)?))?(?=\s|$)")


@dataclass(frozen=True)
class MJVersion:
    """The model a prompt asks for: `niji` or not, and the version number as text."""

    number: str
    niji: bool = False

    @property
    def major(self) -> float:
        try:
            return float(self.number)
        except ValueError:
            return float(DEFAULT_MJ_VERSION)

    def __str__(self) -> str:
        return f"niji {self.number}" if self.niji else f"v {self.number}"


# Midjourney's defaults since 2026-04-30 (V8.1) and 2026-01 (niji 7), as trueai names them
# (Utils/MjPromptParser.cs:61-66 DEFALUT_MJ_VERSION, DEFALUT_NIJI_VERSION).
DEFAULT_MJ_VERSION = "8.1"
DEFAULT_NIJI_VERSION = "7"


def parse_version(prompt: str, bot_type: str = "MID_JOURNEY") -> MJVersion:
    """The MJ version a prompt selects; no version means V8.1 (niji 7 on the niji bot)."""
    found = None
    for match in _VERSION_RE.finditer(prompt or ""):
        found = match
    if found is None:
        if bot_type == "NIJI_JOURNEY":
            return MJVersion(DEFAULT_NIJI_VERSION, niji=True)
        return MJVersion(DEFAULT_MJ_VERSION)
    flag, number = found.group(1), found.group(2)
    if flag == "niji":
        return MJVersion(number or DEFAULT_NIJI_VERSION, niji=True)
    return MJVersion(number or DEFAULT_MJ_VERSION)


def _button(custom_id: str, label: str = "", emoji: str | None = None, style: int = 2) -> dict:
    return {"customId": custom_id, "emoji": emoji or "", "label": label, "type": 2, "style": style}


def grid_buttons(job_hash: str) -> list[dict]:
    """U1–U4 and 🔄 on the first row, V1–V4 on the second: every grid, every version."""
    row1 = [_button(f"MJ::JOB::upsample::{i}::{job_hash}", f"U{i}") for i in range(1, 5)]
    row1.append(_button(f"MJ::JOB::reroll::0::{job_hash}::SOLO", "", "🔄"))
    row2 = [_button(f"MJ::JOB::variation::{i}::{job_hash}", f"V{i}") for i in range(1, 5)]
    return row1 + row2


def _upscale_hd_buttons(version: MJVersion, job_hash: str) -> list[dict]:
    if version.major < 6:
        return [
            _button(f"MJ::JOB::upsample_v5_2x::1::{job_hash}::SOLO", "Upscale (2x)", "upscale_1"),
            _button(f"MJ::JOB::upsample_v5_4x::1::{job_hash}::SOLO", "Upscale (4x)", "upscale_1"),
        ]
    if version.number.startswith("6.1") or version.number == "6.1":
        tag = "v6r1"
    elif version.major < 7:
        tag = "v6"
    else:
        tag = "v7"
    return [
        _button(
            f"MJ::JOB::upsample_{tag}_2x_subtle::1::{job_hash}::SOLO",
            "Upscale (Subtle)",
            "upscale_1",
        ),
        _button(
            f"MJ::JOB::upsample_{tag}_2x_creative::1::{job_hash}::SOLO",
            "Upscale (Creative)",
            "upscale_1",
        ),
    ]


def upscaled_buttons(
    version: MJVersion, job_hash: str, *, hd_done: bool = False, square: bool = True
) -> list[dict]:
    """The rows under an upscaled image, by MJ version (reference §4.2)."""
    if version.major < 5:
        return [_button(f"MJ::BOOKMARK::{job_hash}", "", "❤️")]
    buttons: list[dict] = []
    if not hd_done and version.major < 8:
        buttons += _upscale_hd_buttons(version, job_hash)
    buttons += [
        _button(f"MJ::JOB::low_variation::1::{job_hash}::SOLO", "Vary (Subtle)", "🪄"),
        _button(f"MJ::JOB::high_variation::1::{job_hash}::SOLO", "Vary (Strong)", "🪄"),
        _button(f"MJ::Inpaint::1::{job_hash}::SOLO", "Vary (Region)", "🖌️"),
    ]
    if version.major < 8:
        buttons += [
            _button(f"MJ::Outpaint::50::1::{job_hash}::SOLO", "Zoom Out 2x", "🔍"),
            _button(f"MJ::Outpaint::75::1::{job_hash}::SOLO", "Zoom Out 1.5x", "🔍"),
            _button(f"MJ::CustomZoom::{job_hash}", "Custom Zoom", "🔍"),
        ]
        if version.major < 6 and not square:
            buttons.append(_button(f"MJ::Outpaint::100::1::{job_hash}::SOLO", "Make Square", "↔️"))
        buttons += [
            _button(f"MJ::JOB::pan_{d}::1::{job_hash}::SOLO", "", e)
            for d, e in (("left", "⬅️"), ("right", "➡️"), ("up", "⬆️"), ("down", "⬇️"))
        ]
    if version.major >= 7:  # trueai adds Animate after Upscale (2x) too (TaskInfo.cs:1097)
        buttons += [
            _button(f"MJ::JOB::animate_high::1::{job_hash}::SOLO", "Animate (High motion)", "🎞️"),
            _button(f"MJ::JOB::animate_low::1::{job_hash}::SOLO", "Animate (Low motion)", "🎞️"),
        ]
    buttons.append(_button(f"MJ::BOOKMARK::{job_hash}", "", "❤️"))
    return buttons


def video_buttons(job_hash: str) -> list[dict]:
    """An animated result can be extended with high or low motion."""
    return [
        _button(f"MJ::JOB::animate_high_extend::1::{job_hash}", "Extend (High motion)", "🎞️"),
        _button(f"MJ::JOB::animate_low_extend::1::{job_hash}", "Extend (Low motion)", "🎞️"),
    ]


def describe_buttons() -> list[dict]:
    """Describe offers four prompts to imagine (each needs a modal) and a retry."""
    picks = [_button(f"MJ::Job::PicReader::{i}", "", e) for i, e in enumerate(_DIGITS[:4], 1)]
    return picks + [_button("MJ::Picread::Retry", "", "🔄")]


def shorten_buttons(message_id: str, count: int) -> list[dict]:
    """Shorten offers its numbered prompts (each needs a modal) and Show Details."""
    picks = [
        _button(f"MJ::Job::PromptAnalyzer::{message_id}::{i}", "", _DIGITS[i - 1])
        for i in range(1, count + 1)
    ]
    return picks + [_button(f"MJ::Job::PromptAnalyzer::{message_id}::details", "Show Details", "")]


_DIGITS = ["1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣"]


@dataclass(frozen=True)
class Press:
    """What pressing a customId asks the simulator to do."""

    kind: str  # upsample, variation, reroll, low_variation, high_variation, upscale_hd, inpaint,
    # outpaint, custom_zoom, pan, animate, bookmark, describe_pick, describe_retry, shorten_pick,
    # shorten_details, unknown
    index: int = 0
    direction: str = ""
    zoom: float = 0.0
    factor: int = 2
    variant: str = "plain"
    motion: str = ""


_JOB_RE = re.compile(r"^MJ::JOB::([a-z0-9_]+)::(\d+)::")


def parse_press(custom_id: str) -> Press:
    """Decode a customId into the operation the simulator performs."""
    job = _JOB_RE.match(custom_id)
    if job:
        name, number = job.group(1), int(job.group(2))
        if name == "video_virtual_upscale":  # U1..U4 under a video grid
            return Press("video_upsample", index=number)
        if name.startswith("animate_") and name.endswith("_extend"):
            return Press("video_extend", motion="high" if "high" in name else "low")
        if name == "upsample":
            return Press("upsample", index=number)
        if name in ("variation", "reroll", "low_variation", "high_variation"):
            return Press(name, index=number)
        if name.startswith("pan_"):
            return Press("pan", direction=name[4:])
        if name.startswith("animate_"):
            return Press("animate", motion="high" if "high" in name else "low")
        if name.startswith("upsample_"):
            factor = 4 if "4x" in name else 2
            variant = next((v for v in ("creative", "subtle") if v in name), "plain")
            return Press("upscale_hd", factor=factor, variant=variant)
        return Press("unknown")
    if custom_id.startswith("MJ::Inpaint::"):
        return Press("inpaint")
    if custom_id.startswith("MJ::Outpaint::"):
        parts = custom_id.split("::")
        percent = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 50
        return Press("outpaint", zoom=100.0 / percent if percent else 2.0)
    if custom_id.startswith("MJ::CustomZoom::"):
        return Press("custom_zoom")
    if custom_id.startswith("MJ::BOOKMARK::"):
        return Press("bookmark")
    if custom_id.startswith("MJ::Job::PicReader::"):
        tail = custom_id.rsplit("::", 1)[-1]
        return Press("describe_pick", index=int(tail) if tail.isdigit() else 1)
    if custom_id == "MJ::Picread::Retry":
        return Press("describe_retry")
    if custom_id.startswith("MJ::Job::PromptAnalyzer::"):
        tail = custom_id.rsplit("::", 1)[-1]
        if tail.isdigit():
            return Press("shorten_pick", index=int(tail))
        return Press("shorten_details")
    return Press("unknown")
