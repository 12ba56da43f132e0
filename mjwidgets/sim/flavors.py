"""How the servers that speak `/mj/...` differ (reference §1.4, §2.3, §2.4, §6).

One `Flavor` per family: the simulator's engine is the same, only what goes over the wire changes.
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


@dataclass(frozen=True)
class Flavor:
    """The observable behaviour of one server family."""

    name: str
    actions: dict = field(default_factory=dict)
    has_action_modal: bool = True  # /submit/action and /submit/modal exist
    has_shorten: bool = True
    has_cancel: bool = True
    has_list_by_ids: bool = True
    has_modal_status: bool = True
    unknown_fetch: str = "empty200"  # "empty200" | "204" | "400json"
    rewrite_codes: bool = False  # new-api: 22→1, 21→1 except Vary (Region) and Custom Zoom
    refresh_period: float = 0.0  # seconds (unscaled) between status refreshes; 0 = live
    banned_at_submit: bool = True  # code 24 at submit; else a later FAILURE
    queue_full_code: int = 23
    cancel_status: str = "CANCEL"
    properties_whitelist: tuple[str, ...] | None = None
    failure_progress: str = ""
    submit_description: str = "提交成功"
    missing_parent_http: int = 200
    buttons: bool = True


FLAVORS: dict[str, Flavor] = {
    "plus": Flavor("plus", actions=_PLUS_ACTIONS),
    "trueai": Flavor(
        "trueai",
        actions=_TRUEAI_ACTIONS,
        unknown_fetch="204",
        banned_at_submit=False,
        queue_full_code=9,
        cancel_status="FAILURE",
        submit_description="Submit success",
        missing_parent_http=404,
    ),
    "newapi": Flavor(
        "newapi",
        actions=_NEWAPI_ACTIONS,
        has_cancel=False,
        has_list_by_ids=False,
        unknown_fetch="400json",
        rewrite_codes=True,
        refresh_period=15.0,
        properties_whitelist=("finalPrompt", "finalZhPrompt"),
        failure_progress="100%",
    ),
    "oss": Flavor(
        "oss",
        actions=_PLUS_ACTIONS,
        has_action_modal=False,
        has_shorten=False,
        has_cancel=False,
        has_list_by_ids=False,
        has_modal_status=False,
        buttons=False,
    ),
}


def get_flavor(name: str) -> Flavor:
    try:
        return FLAVORS[name]
    except KeyError:
        raise ValueError(f"unknown flavor {name!r}; choose one of {sorted(FLAVORS)}") from None
