"""The task model parses every server's payloads and every customId format of reference §4.1."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from mjwidgets.errors import ValidationError
from mjwidgets.models import Button, ButtonKind, Status, Task

H = "eb1167b3-67a9-4378-bc65-c1e582e2e662"


@pytest.mark.parametrize(
    ("custom_id", "kind", "index", "direction", "zoom", "needs_modal"),
    [
        (f"MJ::JOB::upsample::2::{H}", "upsample", 2, None, None, False),
        (f"MJ::JOB::variation::4::{H}", "variation", 4, None, None, False),
        (f"MJ::JOB::reroll::0::{H}::SOLO", "reroll", None, None, None, False),
        (f"MJ::JOB::low_variation::1::{H}::SOLO", "low_variation", None, None, None, False),
        (f"MJ::JOB::high_variation::1::{H}::SOLO", "high_variation", None, None, None, False),
        (f"MJ::Inpaint::1::{H}::SOLO", "inpaint", None, None, None, True),
        (f"MJ::Inpaint::{H}", "inpaint", None, None, None, True),
        (f"MJ::Outpaint::50::1::{H}::SOLO", "outpaint", None, None, 2.0, False),
        (f"MJ::Outpaint::75::1::{H}::SOLO", "outpaint", None, None, 1.5, False),
        (f"MJ::Outpaint::100::1::{H}::SOLO", "outpaint", None, None, 1.0, False),
        (f"MJ::CustomZoom::{H}", "custom_zoom", None, None, None, True),
        ("MJ::CustomZoom::1::1732000000000123", "custom_zoom", None, None, None, True),
        (f"MJ::JOB::pan_left::1::{H}::SOLO", "pan", None, "left", None, False),
        (f"MJ::JOB::pan_down::1::{H}::SOLO", "pan", None, "down", None, False),
        (f"MJ::JOB::upsample_v5_2x::1::{H}::SOLO", "upscale_hd", None, None, None, False),
        (f"MJ::JOB::animate_high::1::{H}::SOLO", "animate", None, None, None, False),
        ("MJ::JOB::animate_low_extend::1::1732000000000123", "animate", None, None, None, False),
        ("MJ::JOB::video_virtual_upscale::3::1732000000000123", "upsample", 3, None, None, False),
        (f"MJ::BOOKMARK::{H}", "bookmark", None, None, None, False),
        ("MJ::Job::PicReader::2", "describe_pick", 2, None, None, True),
        ("MJ::Job::PicReader::all", "describe_pick", None, None, None, True),
        ("MJ::Picread::Retry", "reroll", None, None, None, False),
        (f"MJ::Job::PromptAnalyzer::{H}::3", "shorten_pick", 3, None, None, True),
        ("MJ::Prompts::Appeal::token", "other", None, None, None, False),
        (f"MJ::JOB::remaster::1::{H}", "reroll", None, None, None, False),
        (f"MJ::Sparkle::9::{H}::SOLO", "other", None, None, None, False),
    ],
)
def test_every_custom_id_format_parses(custom_id, kind, index, direction, zoom, needs_modal):
    button = Button(custom_id=custom_id)
    assert button.kind == ButtonKind(kind)
    assert (button.index, button.direction, button.zoom) == (index, direction, zoom)
    assert button.needs_modal is needs_modal


@pytest.mark.parametrize(
    ("name", "factor", "variant"),
    [
        ("upsample_v5_2x", 2, None),
        ("upsample_v5_4x", 4, None),
        ("upsample_v6_2x_subtle", 2, "subtle"),
        ("upsample_v6_2x_creative", 2, "creative"),
        ("upsample_v6r1_2x_creative", 2, "creative"),
        ("upsample_v7_2x_subtle", 2, "subtle"),
    ],
)
def test_hd_upscale_buttons_carry_factor_and_variant(name, factor, variant):
    button = Button(custom_id=f"MJ::JOB::{name}::1::{H}::SOLO", label="Upscale")
    assert (button.kind, button.factor, button.variant) == (ButtonKind.UPSCALE_HD, factor, variant)


def test_unknown_future_button_is_other_but_kept_clickable():
    task = Task.from_json(
        {
            "id": "1",
            "status": "SUCCESS",
            "buttons": [{"customId": "MJ::Retexture::1::abc::SOLO", "label": "Retexture"}],
        }
    )
    assert task.button("retexture").kind is ButtonKind.OTHER
    assert task.button("Retexture").custom_id == "MJ::Retexture::1::abc::SOLO"


FULL = {
    "id": "1732000000000123",
    "action": "IMAGINE",
    "status": "SUCCESS",
    "prompt": "a red fox --v 6",
    "promptEn": "a red fox --v 6",
    "description": "/imagine a red fox",
    "state": "mjw-abc",
    "submitTime": 1732000000000,
    "startTime": 1732000013000,
    "finishTime": 1732000060000,
    "imageUrl": "https://cdn.discordapp.com/a/grid_0.png",
    "progress": "100%",
    "failReason": None,
    "properties": {"finalPrompt": "a red fox --v 6.0"},
    "buttons": [
        {
            "customId": f"MJ::JOB::upsample::{i}::{H}",
            "label": f"U{i}",
            "emoji": "",
            "style": 2,
            "type": 2,
        }
        for i in range(1, 5)
    ]
    + [
        {"customId": f"MJ::JOB::reroll::0::{H}::SOLO", "label": "", "emoji": "🔄", "style": 2},
        {"customId": f"MJ::Inpaint::1::{H}::SOLO", "label": "Vary (Region)", "emoji": "🖌️"},
        {"label": "Web", "style": 5, "url": "https://www.midjourney.com/app/jobs/x/"},
        {"customId": "", "label": "broken"},
    ],
    "imageWidth": 1024,
    "imageHeight": 1024,
}


def test_full_payload():
    task = Task.from_json(FULL)
    assert task.id == "1732000000000123" and task.status is Status.SUCCESS
    assert task.progress == 100 and task.is_done and not task.is_pending
    assert task.submit_time == datetime(2024, 11, 19, 7, 6, 40, tzinfo=timezone.utc)
    assert task.finish_time.tzinfo is not None
    assert [b.display for b in task.buttons] == ["U1", "U2", "U3", "U4", "🔄", "Vary (Region)"]
    assert task.properties["finalPrompt"] == "a red fox --v 6.0"
    assert task.image_size == (1024, 1024)
    assert task.raw is not None and task.raw["action"] == "IMAGINE"


def test_numeric_id_minimal_and_null_payloads_do_not_fail():
    numeric = Task.from_json({"id": 1732000000000123, "status": "IN_PROGRESS", "progress": "45%"})
    assert numeric.id == "1732000000000123" and numeric.progress == 45 and numeric.is_pending

    nulls = Task.from_json(
        {
            key: None
            for key in (
                "id",
                "action",
                "status",
                "prompt",
                "progress",
                "imageUrl",
                "buttons",
                "properties",
                "submitTime",
                "failReason",
            )
        }
    )
    assert (nulls.id, nulls.prompt, nulls.buttons, nulls.properties) == ("", "", [], {})
    assert nulls.submit_time is None and nulls.image_url is None and nulls.progress == 0

    minimal = Task.from_json({"id": "7"})
    assert minimal.status is Status.UNKNOWN and minimal.is_pending  # no status yet: keep waiting
    assert Task.from_json({"id": "8", "submitTime": 0}).submit_time is None


def test_unknown_status_is_kept_and_terminal():
    task = Task.from_json({"id": "1", "status": "EXPIRED"})
    assert task.status is Status.UNKNOWN and task.status_raw == "EXPIRED"
    assert task.is_done and not task.is_pending
    assert "EXPIRED" in repr(task)
    assert Task.from_json({"id": "2", "status": "MODAL"}).needs_modal
    modal = Task.from_json({"id": "2", "status": "MODAL"})
    assert not modal.is_done and not modal.is_pending


@pytest.mark.parametrize(
    ("status", "queued"),
    [
        ("NOT_START", True),
        ("SUBMITTED", True),
        ("", True),
        ("QUEUED", True),
        ("IN_PROGRESS", False),
        ("MODAL", False),
        ("SUCCESS", False),
        ("FAILURE", False),
        ("EXPIRED", False),
    ],
)
def test_a_job_not_started_yet_is_queued_whatever_the_server_calls_it(status, queued):
    """NOT_START (the proxy's queue), SUBMITTED (Midjourney has not started it), new-api's ""."""
    assert Task.from_json({"id": "1", "status": status}).is_queued is queued


@pytest.mark.parametrize(
    ("status", "progress", "expected"),
    [
        ("IN_PROGRESS", "45%", 45),
        ("SUBMITTED", "0%", 0),
        ("FAILURE", "", 0),
        ("FAILURE", "100%", 100),  # new-api resellers
        ("SUCCESS", None, 100),
        ("IN_PROGRESS", 62, 62),
        ("IN_PROGRESS", "150%", 100),
        ("IN_PROGRESS", "soon", 0),
    ],
)
def test_progress_parsing(status, progress, expected):
    assert Task.from_json({"id": "1", "status": status, "progress": progress}).progress == expected


def test_button_lookup_by_custom_id_label_emoji_and_errors_list_buttons():
    task = Task.from_json(FULL)
    assert task.button("u2").index == 2
    assert task.button(f"MJ::JOB::upsample::3::{H}").index == 3
    assert task.button("🔄").kind is ButtonKind.REROLL
    assert task.button("vary (region)").kind is ButtonKind.INPAINT
    with pytest.raises(ValidationError) as caught:
        task.button("U5")
    message = str(caught.value)
    assert "U5" in message and "U1, U2, U3, U4, 🔄, Vary (Region)" in message


def test_repr_is_short_and_lineage_survives_update():
    task = Task.from_json(
        {
            "id": 1732,
            "action": "IMAGINE",
            "status": "IN_PROGRESS",
            "progress": "46%",
            "prompt": "a red fox running through the snow at dawn, cinematic",
        }
    )
    text = repr(task)
    assert text.startswith("<Task 1732 IMAGINE IN_PROGRESS 46% 'a red fox") and text.endswith("…'>")
    task.parent_id, task.origin_button = "99", Button(custom_id=f"MJ::JOB::upsample::1::{H}")
    task.update_from(Task.from_json({"id": 1732, "status": "SUCCESS"}))
    assert task.status is Status.SUCCESS and task.parent_id == "99"
    assert task.origin_button.index == 1


def test_unbound_task_reload_says_how_to_fix():
    with pytest.raises(Exception, match="not bound to a client"):
        Task.from_json({"id": "1"}).reload()
