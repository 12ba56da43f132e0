"""What a job costs, in Fast GPU minutes: one table with its sources, and the estimator.

Midjourney bills Fast time by the GPU minute, not by the job, and publishes only a few figures:
an average job is about one minute, Relax costs none, Turbo costs twice Fast, low ``--q`` costs
proportionally less, a video job about eight image jobs. Everything else in :data:`COST_TABLE` is
our estimate, marked ``basis="estimate"`` with the reasoning beside it. Where the docs give only a
direction ("variations take less time"), the table counts a full job: a budget must never stop
late because we guessed low.

The budget (``budget``), the estimates people see before a sweep or a replay (``estimate``) and
the ledger of what was spent (``ledger``) all price jobs here, so they agree with each other and
with the table. Resellers (new-api, DeerAPI …) bill per call instead: ``Budget(jobs=…)`` counts
submits for them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .models import Button, ButtonKind
from .prompt import Prompt

__all__ = [
    "COST_TABLE",
    "MODE_FACTORS",
    "CostRow",
    "Estimate",
    "EstimateLine",
    "SOURCES",
    "job_cost",
    "line",
    "imagine_cost",
    "press_cost",
    "modal_cost",
    "video_cost",
    "mode_of",
    "row_for",
]

#: Where each figure comes from (read 2026-12; the pages say "GPU time" for Fast minutes).
SOURCES = {
    "fast-relax": "https://docs.midjourney.com/docs/en/fast-relax",
    "gpu-time": "https://help.midjourney.com/en/articles/9651713-what-is-gpu-time",
    "quality": "https://limi.gitbook.io/mj-doc/yong-hu-zhi-nan/can-shu/quality-zhi-liang",
    "video": "https://docs.midjourney.com/docs/video",
    "video-launch": "https://metavives.com/midjourney-launches-an-ai-video-generator",
    "video-hd": "https://techjacksolutions.com/ai-tools/midjourney/how-to-make-videos-in-midjourney/",
    "grid-crop": "https://docs.apimart.ai/en/api-reference/images/midjourney/upscale",
    "v7-params": "https://docs.evolink.ai/en/api-manual/image-series/midjourney/midjourney-v7-prompt-guide",
}


@dataclass(frozen=True)
class CostRow:
    """One kind of job: its Fast GPU minutes at ``--q 1`` in Fast mode, and why we think so."""

    job: str
    gpu_minutes: float
    basis: str  # "stated" (a published figure) or "estimate" (ours; see note)
    source: str  # a key of SOURCES
    note: str


#: The one cost table. Keys are job names; ``row_for`` maps a press or a submit to one.
COST_TABLE: dict[str, CostRow] = {
    row.job: row
    for row in (
        CostRow("imagine", 1.0, "stated", "fast-relax",
                "the average job takes about one minute of GPU time (a 2×2 grid)"),
        CostRow("reroll", 1.0, "estimate", "fast-relax", "🔄 runs the prompt again: one grid"),
        CostRow("variation", 1.0, "estimate", "fast-relax",
                "V1–V4, Vary (Subtle/Strong): the docs say variations take less time than "
                "/imagine and give no figure; counted as a full grid so a budget never stops late"),
        CostRow("inpaint", 1.0, "estimate", "fast-relax", "Vary (Region): one new grid"),
        CostRow("outpaint", 1.0, "estimate", "fast-relax",
                "Zoom Out / Custom Zoom: one new grid (a wider canvas may take more)"),
        CostRow("pan", 1.0, "estimate", "fast-relax", "⬅️➡️⬆️⬇️: one new grid"),
        CostRow("blend", 1.0, "estimate", "fast-relax", "/blend makes one grid"),
        CostRow("upsample", 0.0, "estimate", "grid-crop",
                "U1–U4 (V5 and later) cut the chosen image out of the finished grid; a video "
                "grid's U picks one clip. Still a paid call at resellers: Budget(jobs=…)"),
        CostRow("upscale_2x", 2.0, "estimate", "fast-relax",
                "Upscale (Subtle/Creative/2x): the docs list upscales as costlier than "
                "/imagine and give no figure"),
        CostRow("upscale_4x", 6.0, "estimate", "fast-relax",
                "Upscale (4x) of V5: more pixels than 2x again; no published figure"),
        CostRow("video", 8.0, "stated", "video-launch",
                "Animate or /submit/video, SD 480p, --bs 4: 'about 8x more for a video job than "
                "an image job'; fewer clips (--bs 1/2) cost less (docs: Batch Size)"),
        CostRow("video_extend", 8.0, "estimate", "video",
                "Extend (+4 s): a new video job of the same batch size"),
        CostRow("describe", 0.0, "estimate", "gpu-time",
                "/describe and /shorten write text; no published figure"),
        CostRow("other", 1.0, "estimate", "gpu-time", "a button we do not know: one average job"),
    )
}  # fmt: skip

#: Fast GPU minutes per minute of work in each speed mode.
MODE_FACTORS: dict[str, float] = {"fast": 1.0, "turbo": 2.0, "relax": 0.0}
MODE_NOTES = {
    "turbo": "Turbo costs twice the Fast minutes (fast-relax)",
    "relax": "Relax costs no Fast minutes (fast-relax; video in Relax: SD only, Pro/Mega)",
}
#: ``--q`` → factor on the first grid (quality page: .25 = ¼ of the minutes, .5 = ½; 2 and 4
#: as their numbers say, V7 documents them as costlier, evolink "affects cost").
QUALITY_FACTORS = {".25": 0.25, "0.25": 0.25, ".5": 0.5, "0.5": 0.5, "1": 1.0, "2": 2.0, "4": 4.0}
HD_VIDEO_FACTOR = 3.2  # 720p vs 480p: "a single HD video batch costs roughly 26 minutes" (video-hd)
DRAFT_FACTOR = 0.5  # V7 --draft: "half cost" (v7-params)
OREF_FACTOR = 2.0  # V7 --oref: "doubles cost" (v7-params)
_GRID_JOBS = frozenset({"imagine", "reroll"})  # where --q, --draft, --oref apply


@dataclass(frozen=True)
class EstimateLine:
    """One kind of job in an estimate: how many, and their Fast minutes together."""

    job: str
    jobs: int
    gpu_minutes: float
    note: str = ""


@dataclass
class Estimate:
    """What some jobs will cost: Fast GPU minutes and paid calls, line by line.

    ``str(estimate)`` is the one line a Studio shows before a sweep or a replay runs."""

    lines: list[EstimateLine] = field(default_factory=list)

    @property
    def gpu_minutes(self) -> float:
        return round(sum(line.gpu_minutes for line in self.lines), 4)

    @property
    def jobs(self) -> int:
        return sum(line.jobs for line in self.lines)

    def by_job(self) -> dict[str, tuple[int, float]]:
        """Job name → (count, Fast minutes)."""
        totals: dict[str, tuple[int, float]] = {}
        for line in self.lines:
            count, minutes = totals.get(line.job, (0, 0.0))
            totals[line.job] = (count + line.jobs, round(minutes + line.gpu_minutes, 4))
        return totals

    def __add__(self, other: Estimate) -> Estimate:
        return Estimate(self.lines + other.lines)

    def __str__(self) -> str:
        parts = ", ".join(f"{count} × {job}" for job, (count, _) in self.by_job().items() if count)
        return (
            f"≈ {self.gpu_minutes:.1f} Fast GPU minutes for {self.jobs} "
            f"job{'s' if self.jobs != 1 else ''}{f' ({parts})' if parts else ''}"
        )

    def __repr__(self) -> str:
        return f"<Estimate {self}>"

    def _repr_markdown_(self) -> str:
        rows = "\n".join(
            f"| {job} | {count} | {minutes:.2f} |"
            for job, (count, minutes) in self.by_job().items()
        )
        return (
            f"**{self}**\n\n| job | count | Fast GPU min |\n|---|---|---|\n{rows}\n\n"
            "(figures and sources: `mjwidgets.costs.COST_TABLE`)"
        )


def mode_of(prompt: str | Prompt | None, client_mode: str | None = None) -> str:
    """The speed mode a job runs in: a ``--relax``/``--fast``/``--turbo`` flag in the prompt
    wins over the client's path prefix (``Client(mode=…)``); Fast when neither says."""
    params = Prompt(prompt or "").params
    for mode in ("relax", "turbo", "fast"):
        if params.get(mode) is True:
            return mode
    return client_mode if client_mode in MODE_FACTORS else "fast"


def row_for(
    button: Button | None = None,
    *,
    job: str | None = None,
    kind: ButtonKind | str | None = None,
    factor: int | None = None,
    extends: bool = False,
) -> CostRow:
    """The table row of a job named ``job``, of the job ``button`` makes, or of a button's
    meaning (``kind``, ``factor``, ``extends``: see ``Button.meaning``)."""
    if button is not None:
        kind, factor, extends = button.kind, button.factor, button.extends
    if kind is not None:
        kind = ButtonKind(kind)
        job = _BUTTON_JOBS.get(kind, "other")
        if kind is ButtonKind.UPSCALE_HD:
            job = "upscale_4x" if (factor or 2) >= 4 else "upscale_2x"
        elif kind is ButtonKind.ANIMATE:
            job = "video_extend" if extends else "video"
    return COST_TABLE.get(job or "other", COST_TABLE["other"])


_BUTTON_JOBS = {
    ButtonKind.UPSAMPLE: "upsample",
    ButtonKind.VARIATION: "variation",
    ButtonKind.LOW_VARIATION: "variation",
    ButtonKind.HIGH_VARIATION: "variation",
    ButtonKind.REROLL: "reroll",
    ButtonKind.INPAINT: "inpaint",
    ButtonKind.OUTPAINT: "outpaint",
    ButtonKind.CUSTOM_ZOOM: "outpaint",
    ButtonKind.PAN: "pan",
    ButtonKind.DESCRIBE_PICK: "imagine",
    ButtonKind.SHORTEN_PICK: "imagine",
    ButtonKind.BOOKMARK: "describe",  # ❤️ makes no job
}
# Presses whose job starts only when the dialog is sent (client.modal): they cost nothing at the
# press and the whole job at the modal, so an abandoned dialog costs nothing.
DIALOG_KINDS = frozenset(
    {ButtonKind.INPAINT, ButtonKind.CUSTOM_ZOOM, ButtonKind.DESCRIBE_PICK, ButtonKind.SHORTEN_PICK}
)


def line(
    row: CostRow, mode: str, factor: float = 1.0, jobs: int = 1, notes: Iterable[str] = ()
) -> Estimate:
    """``jobs`` jobs of ``row``'s kind in ``mode``, their minutes scaled by ``factor``."""
    minutes = row.gpu_minutes * factor * MODE_FACTORS.get(mode, 1.0) * jobs
    said = [n for n in notes if n] + ([MODE_NOTES[mode]] if mode in MODE_NOTES else [])
    return Estimate([EstimateLine(row.job, jobs, round(minutes, 4), "; ".join(said))])


def _grid_factor(params: Mapping[str, Any]) -> tuple[float, list[str]]:
    factor, notes = 1.0, []
    quality = params.get("quality")
    if isinstance(quality, str) and quality.strip() in QUALITY_FACTORS:
        factor *= QUALITY_FACTORS[quality.strip()]
        notes.append(f"--q {quality.strip()}")
    if params.get("draft") is True:
        factor *= DRAFT_FACTOR
        notes.append("--draft")
    if params.get("oref"):
        factor *= OREF_FACTOR
        notes.append("--oref")
    return factor, notes


def _repeats(params: Mapping[str, Any]) -> int:
    value = params.get("repeat")
    text = value.strip() if isinstance(value, str) else ""
    return max(1, min(40, int(text))) if text.isdigit() else 1


def imagine_cost(
    prompt: str | Prompt, mode: str | None = None, *, job: str = "imagine"
) -> Estimate:
    """An /imagine (or 🔄, or /blend with ``job="blend"``): the grid's minutes with ``--q``,
    ``--draft``, ``--oref`` and ``--repeat`` (N jobs) applied, in the prompt's mode."""
    params = Prompt(prompt).params
    factor, notes = _grid_factor(params) if job in _GRID_JOBS else (1.0, [])
    return line(COST_TABLE[job], mode_of(prompt, mode), factor, _repeats(params), notes)


def video_cost(
    *,
    batch_size: int | None = None,
    hd: bool = False,
    extend: bool = False,
    mode: str | None = None,
    prompt: str | Prompt | None = None,
) -> Estimate:
    """A video job (Animate, /submit/video, Extend): ``batch_size`` clips (1–4, else the
    prompt's ``--bs``, else 4: the table's figure is for 4), 480p or ``hd`` 720p."""
    written = Prompt(prompt or "").params.get("bs")
    if batch_size is None and isinstance(written, str) and written.strip().isdigit():
        batch_size = int(written)  # --bs in the prompt
    size = max(1, min(4, int(batch_size or 4)))
    factor = size / 4 * (HD_VIDEO_FACTOR if hd else 1.0)
    notes = [f"--bs {size}" if size != 4 else "", "HD 720p" if hd else ""]
    row = COST_TABLE["video_extend" if extend else "video"]
    return line(row, mode_of(prompt, mode), factor, 1, notes)


def job_cost(
    button: Button | dict[str, Any],
    parent_prompt: str | Prompt = "",
    mode: str | None = None,
    **video: Any,
) -> Estimate:
    """The job ``button`` (a Button or its meaning) makes, whenever it is paid for: the ledger's
    price of a task. ``video`` takes ``batch_size``/``hd`` for Animate and Extend."""
    if isinstance(button, Button):
        row = row_for(button)
    else:
        row = row_for(
            kind=button.get("kind", "other"),
            factor=button.get("factor"),
            extends=bool(button.get("extends")),
        )
    if row.job in ("video", "video_extend"):
        return video_cost(
            extend=row.job == "video_extend", mode=mode, prompt=parent_prompt, **video
        )
    if row.job == "reroll":
        return imagine_cost(parent_prompt, mode, job="reroll")
    if row.job == "imagine":  # a describe/shorten pick starts an /imagine of that prompt
        return imagine_cost(parent_prompt, mode)
    return line(row, mode_of(parent_prompt, mode))


def press_cost(
    button: Button, parent_prompt: str | Prompt = "", mode: str | None = None
) -> Estimate:
    """What pressing ``button`` spends at the press itself: the job it makes, except for
    buttons that open a dialog (Vary (Region), Custom Zoom, picks), whose job is paid at the
    modal (``modal_cost``). Always one call."""
    if button.kind in DIALOG_KINDS:
        return Estimate([EstimateLine(row_for(button).job, 1, 0.0, "paid when the dialog is sent")])
    return job_cost(button, parent_prompt, mode)


def modal_cost(
    kind: ButtonKind | None, prompt: str | Prompt = "", mode: str | None = None
) -> Estimate:
    """What sending a dialog (``client.modal``) spends: the dialog's whole job for Vary
    (Region), Custom Zoom and picks; nothing more for a remix dialog of a press already paid.
    Always one call."""
    if kind is not None and kind in DIALOG_KINDS:
        return job_cost(_PROTOTYPES[kind], prompt, mode)
    return Estimate([EstimateLine("remix", 1, 0.0, "paid at the press")])


_PROTOTYPES = {
    ButtonKind.INPAINT: Button("MJ::Inpaint::1::x::SOLO"),
    ButtonKind.CUSTOM_ZOOM: Button("MJ::CustomZoom::x"),
    ButtonKind.DESCRIBE_PICK: Button("MJ::Job::PicReader::1"),
    ButtonKind.SHORTEN_PICK: Button("MJ::Job::PromptAnalyzer::x::1"),
}
