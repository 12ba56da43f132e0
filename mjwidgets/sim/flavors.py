"""How the servers that speak `/mj/...` differ (reference §1.4, §2.3, §2.4, §6; mj-2026 §4).

One `Flavor` per family: the simulator's engine is the same, only what goes over the wire changes.
Every field names the behaviour of the real server it copies; docs/simulator-fidelity.md gives the
source file and line for each.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Result action of a button press, per flavour (reference §4.1 "Result action" column).
_PLUS_ACTIONS = {
    "upsample": "UPSCALE",
    "variation": "VARIATION",
    "reroll": "REROLL",
    "low_variation": "VARIATION",
    "high_variation": "VARIATION",
    "upscale_hd": "UPSCALE_HD",
    "inpaint": "INPAINT",
    "outpaint": "ZOOM",
    "custom_zoom": "ZOOM",
    "pan": "PAN",
    "animate": "VIDEO",
    "video_extend": "VIDEO",  # trueai SubmitController.cs:668-671 (MJ::JOB::animate_*)
    "video_upsample": "UPSCALE",  # trueai SubmitController.cs:540-555
    "describe_pick": "IMAGINE",
    "shorten_pick": "IMAGINE",
    "describe_retry": "DESCRIBE",
    "shorten_details": "SHORTEN",
}
_TRUEAI_ACTIONS = {**_PLUS_ACTIONS, "inpaint": "VARIATION"}
_NEWAPI_ACTIONS = {
    **_PLUS_ACTIONS,
    "low_variation": "LOW_VARIATION",
    "high_variation": "HIGH_VARIATION",
    "custom_zoom": "CUSTOM_ZOOM",
    "upscale_hd": "UPSCALE",
}

# trueai's /submit/action maps these customId prefixes and refuses every other one with code 4
# "未知的 Action 类型" (SubmitController.cs:520-688). "contains" entries use Contains(), not
# StartsWith().
TRUEAI_ACTION_PREFIXES = (
    "MJ::JOB::upsample::",
    "MJ::JOB::video_virtual_upscale",
    "MJ::JOB::variation::",
    "MJ::JOB::reroll::",
    "MJ::JOB::high_variation::",
    "MJ::JOB::low_variation::",
    "MJ::Outpaint::",
    "MJ::JOB::pan_",
    "MJ::JOB::upsample_",
    "MJ::CustomZoom::",
    "MJ::Inpaint::",
    "MJ::JOB::animate_",
    "MJ::Job::PicReader",
)
TRUEAI_ACTION_CONTAINS = ("MJ::Picread::Retry",)
# Parent actions trueai lets 🔄 re-run (SubmitController.cs:577-619); UPSCALE re-runs as IMAGINE.
TRUEAI_REROLLABLE = (
    "IMAGINE",
    "VARIATION",
    "DESCRIBE",
    "BLEND",
    "PAN",
    "ZOOM",
    "SHORTEN",
    "VIDEO",
    "EDIT",
    "UPSCALE_HD",
    "RETEXTURE",
    "UPSCALE",
)


def trueai_accepts(custom_id: str) -> bool:
    """Whether trueai's controller maps a customId to an action at all."""
    return custom_id.startswith(TRUEAI_ACTION_PREFIXES) or any(
        part in custom_id for part in TRUEAI_ACTION_CONTAINS
    )


def newapi_action(custom_id: str) -> str | None:
    """new-api's billing action for a customId, or None when it cannot map it
    (service/midjourney.go:71-128 CoverPlusActionToNormalAction)."""
    splits = custom_id.split("::")
    if len(splits) < 3:
        return None
    name = splits[2] if splits[1] == "JOB" else splits[1]
    if not name:
        return None
    if "upsample" in name:
        return "UPSCALE"
    if "variation" in name:
        return {"low_variation": "LOW_VARIATION", "high_variation": "HIGH_VARIATION"}.get(
            name, "VARIATION"
        )
    if "pan" in name:
        return "PAN"
    if "reroll" in name:
        return "REROLL"
    return {"Outpaint": "ZOOM", "CustomZoom": "CUSTOM_ZOOM", "Inpaint": "INPAINT"}.get(name)


@dataclass(frozen=True)
class Flavor:
    """The observable behaviour of one server family."""

    name: str
    actions: dict = field(default_factory=dict)
    has_action_modal: bool = True  # /submit/action and /submit/modal exist
    has_shorten: bool = True
    has_cancel: bool = True
    has_list_by_ids: bool = True
    has_list_all: bool = True
    has_change: bool = True  # legacy /submit/change and /submit/simple-change
    has_image_seed: bool = True
    has_modal_status: bool = True
    unknown_fetch: str = "empty200"  # "empty200" | "204" | "400json"
    rewrite_codes: bool = False  # new-api: 22→1, 21→1 except Vary (Region) and Custom Zoom
    refresh_period: float = 0.0  # seconds (unscaled) between status refreshes; 0 = live
    # A refresh cycle's work (unscaled seconds), after which the relay sleeps refresh_period:
    # the upstream's list-by-condition round trip (drawn uniformly in this range per cycle), then
    # one database write per changed row, each visible as soon as it is written
    refresh_upstream_s: tuple[float, float] = (0.0, 0.0)
    refresh_row_s: float = 0.0
    banned_at_submit: bool = True  # code 24 at submit; else a later FAILURE
    queue_full_code: int = 23
    cancel_status: str = "CANCEL"
    failure_progress: str = ""
    submit_description: str = "提交成功"
    modal_description: str = "Waiting for window confirm"
    missing_parent_http: int = 200
    buttons: bool = True
    # How the server reads the API key: "mj-api-secret" (that header only), "raw" (the
    # Authorization value verbatim, else mj-api-secret), "newapi" (Bearer/sk- stripped,
    # mj-api-secret as a fallback).
    auth: str = "raw"
    # How it writes JSON: "java" (Jackson: compact, UTF-8), "dotnet" (System.Text.Json: compact,
    # non-ASCII and HTML-sensitive characters as \uXXXX), "go" (encoding/json: compact, UTF-8,
    # <>& escaped).
    json_style: str = "java"
    raw_base64: bool = True  # accepts base64 without a data: prefix
    progress_before_start: str | None = "0%"  # progress of NOT_START and MODAL tasks
    describe_in_prompt: bool = True  # a finished DESCRIBE also fills `prompt`
    delivers_hooks: bool = True


FLAVORS: dict[str, Flavor] = {
    # The closed midjourney-proxy-plus, known from its docs; what they leave open follows trueai.
    "plus": Flavor("plus", actions=_PLUS_ACTIONS, modal_description="窗口等待"),
    "trueai": Flavor(
        "trueai",
        actions=_TRUEAI_ACTIONS,
        has_change=False,
        unknown_fetch="204",
        banned_at_submit=False,
        queue_full_code=9,
        cancel_status="FAILURE",
        missing_parent_http=404,
        json_style="dotnet",
        progress_before_start=None,
        describe_in_prompt=False,
    ),
    "newapi": Flavor(
        "newapi",
        actions=_NEWAPI_ACTIONS,
        has_cancel=False,
        has_list_by_ids=False,
        has_list_all=False,
        unknown_fetch="400json",
        rewrite_codes=True,
        refresh_period=15.0,
        # new-api's loop (controller/midjourney.go, UpdateMidjourneyTaskBulk): time.Sleep(15 s),
        # GetAllUnFinishTasks, POST list-by-condition to the upstream, then
        # task.UpdateWithStatus for each row that changed; then the sleep again. So refreshes
        # come 15 s plus each cycle's work apart, and drift. The work's size is a deployment's
        # (upstream distance, database): here 50–300 ms a round trip and 2 ms a row.
        refresh_upstream_s=(0.05, 0.3),
        refresh_row_s=0.002,
        failure_progress="100%",
        auth="newapi",
        json_style="go",
        describe_in_prompt=False,
        delivers_hooks=False,
    ),
    "oss": Flavor(
        "oss",
        actions=_PLUS_ACTIONS,
        has_action_modal=False,
        has_shorten=False,
        has_cancel=False,
        has_list_by_ids=False,
        has_image_seed=False,
        has_modal_status=False,
        buttons=False,
        auth="mj-api-secret",
        raw_base64=False,
        progress_before_start=None,
    ),
}


def get_flavor(name: str) -> Flavor:
    try:
        return FLAVORS[name]
    except KeyError:
        raise ValueError(f"unknown flavor {name!r}; choose one of {sorted(FLAVORS)}") from None
