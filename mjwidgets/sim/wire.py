"""What each server family puts on the wire: its JSON dialect and its task object.

The engine keeps one task model; this module renders it the way OSS (Java/Jackson), Plus (its docs),
trueai (C#/System.Text.Json, `Models/TaskInfo.cs`) or new-api (Go, `dto/midjourney.go`, in front of
a Plus-style upstream) would. docs/simulator-fidelity.md cites the source of every choice.
"""

from __future__ import annotations

import json
import random
import re
import string
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .engine import Engine, SimTask

# --------------------------------------------------------------------------------- JSON dialects
_SEPARATORS = (",", ":")
_DOTNET_RE = re.compile(r"\\u([0-9a-f]{4})|\\(.)|([<>&'+`])")
_HEX_RE = re.compile(r"\\u([0-9a-f]{4})")
_HTML = tuple((c, f"\\u{ord(c):04X}") for c in "<>&'+`")


def _dotnet_escape(match: re.Match) -> str:
    hexa, escaped, html = match.groups()
    if hexa is not None:
        return "\\u" + hexa.upper()
    if escaped is not None:
        return "\\u0022" if escaped == '"' else match.group(0)
    return f"\\u{ord(html):04X}"


def _upper_hex(match: re.Match) -> str:
    return "\\u" + match.group(1).upper()


def dumps(data, style: str) -> bytes:
    """Serialise like the server family does: always compact.

    java: Jackson (OSS, Plus) writes UTF-8 as is. dotnet: System.Text.Json's default encoder
    (trueai) writes every non-ASCII and HTML-sensitive character as an upper-case \\uXXXX.
    go: encoding/json (new-api) writes UTF-8 but escapes <, > and & (and U+2028/9).
    """
    if style == "dotnet":
        text = json.dumps(data, ensure_ascii=True, separators=_SEPARATORS)
        if "\\\\" in text:  # an escaped backslash: tokenise, so no escape is misread
            return _DOTNET_RE.sub(_dotnet_escape, text).encode()
        if "\\u" in text:
            text = _HEX_RE.sub(_upper_hex, text)
        text = text.replace('\\"', "\\u0022")
        for char, escaped in _HTML:
            if char in text:
                text = text.replace(char, escaped)
        return text.encode()
    text = json.dumps(data, ensure_ascii=False, separators=_SEPARATORS)
    if style == "go":
        text = (
            text.replace("<", "\\u003c")
            .replace(">", "\\u003e")
            .replace("&", "\\u0026")
            .replace("\u2028", "\\u2028")
            .replace("\u2029", "\\u2029")
        )
    return text.encode()


# ----------------------------------------------------------------------------- shared pieces
INSTANCE_ID = "1200000000000000000"


def _progress(engine: Engine, task: SimTask, view: dict) -> str | None:
    status = view["status"]
    if status == "FAILURE":
        return engine.flavor.failure_progress
    if status in ("NOT_START", "MODAL"):
        return engine.flavor.progress_before_start
    return f"{view['progress']}%"


def _status(engine: Engine, view: dict) -> str:
    status = view["status"]
    if status == "MODAL" and not engine.flavor.has_modal_status:
        return "NOT_START"
    return status


def _properties(engine: Engine, task: SimTask, view: dict, status: str) -> dict:
    started = status in ("SUCCESS", "IN_PROGRESS")
    properties = {
        "finalPrompt": view["final_prompt"],
        "finalZhPrompt": "",
        "discordInstanceId": INSTANCE_ID,
        "discordChannelId": INSTANCE_ID,
        "messageId": task.message_id,
        "messageHash": task.job_hash if started else None,
        "nonce": task.nonce,
        "botType": task.bot_type,
        "progressMessageId": task.message_id,
        "flags": 0,
        "messageContent": f"**{view['prompt'] or ''}** - <@1> ({task.mode.lower()})",
    }
    if task.notify_hook:
        properties["notifyHook"] = task.notify_hook
    properties.update(task.extra_properties)
    return properties


# --------------------------------------------------------------------------- OSS and Plus
def oss_task(engine: Engine, task: SimTask, view: dict) -> dict:
    """OSS `support/Task.java` (+ DomainObject id/properties), as Jackson writes it."""
    status = _status(engine, view)
    properties = _properties(engine, task, view, status)
    for key in ("discordChannelId", "botType", "messageContent", "finalZhPrompt"):
        properties.pop(key, None)
    return {
        "id": task.id,
        "properties": properties,
        "action": view["action"],
        "status": status,
        "prompt": view["prompt"],
        "promptEn": view["prompt_en"],
        "description": view["description"],
        "state": view["state"],
        "submitTime": task.submit_time,
        "startTime": view["start_time"],
        "finishTime": view["finish_time"],
        "imageUrl": engine.image_url(task, view),
        "progress": _progress(engine, task, view),
        "failReason": view["fail_reason"],
    }


def plus_task(engine: Engine, task: SimTask, view: dict) -> dict:
    """The fields Plus documents for a task (docs/api.md §1), `state`, and the image size."""
    status = _status(engine, view)
    properties = _properties(engine, task, view, status)
    properties.pop("discordChannelId", None)  # trueai's duplicate of discordInstanceId
    data = {
        "id": task.id,
        "action": view["action"],
        "status": status,
        "prompt": view["prompt"],
        "promptEn": view["prompt_en"],
        "description": view["description"],
        "state": view["state"],
        "submitTime": task.submit_time,
        "startTime": view["start_time"],
        "finishTime": view["finish_time"],
        "progress": _progress(engine, task, view),
        "imageUrl": engine.image_url(task, view),
        "failReason": view["fail_reason"],
        "properties": properties,
        "buttons": view["buttons"],
    }
    if status == "SUCCESS" and task.size[0]:
        # Not in Plus's docs table (a supplement to its own /mj API docs), but answered by the
        # resellers in front of it (F newapi__deerapi_fetch_success.json) and by trueai
        data["imageWidth"], data["imageHeight"] = task.size
    if task.op == "animate" and status == "SUCCESS":
        data["videoUrl"] = data["imageUrl"]
    return data


# ------------------------------------------------------------------------------------ trueai
def _ms_text(stamp: int | None) -> str | None:
    if stamp is None:
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp / 1000))


def trueai_task(engine: Engine, task: SimTask, view: dict) -> dict:
    """trueai `Models/TaskInfo.cs`: every public property, in declaration order, then the
    DomainObject's `id` and `properties` (System.Text.Json, camelCase, enums as strings)."""
    status = _status(engine, view)
    done = status in ("SUCCESS", "FAILURE", "CANCEL")
    success = status == "SUCCESS"
    image_url = engine.image_url(task, view)
    width, height = view["size"]
    start, finish = view["start_time"], view["finish_time"]
    use_time = f"{(finish - start) / 1000.0:.2f} s" if start and finish else "-"
    properties = _properties(engine, task, view, status)
    properties.pop("finalZhPrompt", None)
    return {
        "parentId": task.parent_id,
        "botType": task.bot_type,
        "realBotType": None,
        "userId": None,
        "isWhite": False,
        "nonce": task.nonce,
        "interactionMetadataId": None,
        "messageId": task.message_id if start else None,
        "remixModalMessageId": None,
        "remixAutoSubmit": task.modal_submitted,
        "remixModaling": False,
        "instanceId": INSTANCE_ID,
        "subInstanceId": None,
        "messageIds": [task.message_id] if start else [],
        "action": view["action"],
        "status": status,
        "isCompleted": done,
        "prompt": view["prompt"],
        "promptEn": view["prompt_en"],
        "promptFull": view["prompt"] if start else None,
        "description": view["description"],
        "language": None,
        "state": view["state"],
        "submitTime": task.submit_time,
        "startTime": start,
        "finishTime": finish,
        "imageUrl": image_url,
        "baseImageUrl": None,
        "imageUrls": engine.tile_urls(task) if success else None,
        "thumbnailUrl": None,
        "progress": _progress(engine, task, view),
        "failReason": view["fail_reason"],
        "hasAIReviewRetried": False,
        "isThirdParty": False,
        "isPartner": False,
        "isPartnerRelax": False,
        "partnerTaskId": None,
        "partnerTaskInfo": None,
        "isOfficial": False,
        "officialTaskId": None,
        "officialTaskInfo": None,
        "isDiscord": True,
        "buttons": view["buttons"],
        "displays": {
            "status": status,
            "submitTime": _ms_text(task.submit_time),
            "startTime": _ms_text(start),
            "finishTime": _ms_text(finish),
            "action": view["action"],
            "discordInstanceId": INSTANCE_ID,
        },
        "seed": view["seed"],
        "seedError": None,
        "seedMessageId": None,
        "clientIp": "127.0.0.1",
        "jobId": task.job_hash if success else None,
        "isReplicate": False,
        "replicateSource": None,
        "replicateTarget": None,
        "mode": task.mode,
        "requestMode": task.requested_mode,
        "accountFilter": {
            "instanceId": None,
            "modes": [task.requested_mode] if task.requested_mode else [],
            "remix": None,
            "nijiRemix": None,
            "remixAutoConsidered": None,
            "remark": None,
        },
        "url": image_url if success else None,
        "proxyUrl": image_url if success else None,
        "height": height,
        "width": width,
        "size": None,
        "contentType": ("image/webp" if task.op == "animate" else "image/png") if width else None,
        "imageHeight": height,
        "imageWidth": width,
        "videoGenOriginImageUrl": None,
        "videoDuration": None,
        "frameCount": None,
        "videoUrl": image_url if task.op == "animate" and success else None,
        "videoUrls": None,
        "useTime": use_time,
        "version": view["version"],
        "storageOption": None,
        "videoType": None,
        "isHdVideo": False,
        "id": task.id,
        "properties": properties,
    }


# ----------------------------------------------------------------------------------- new-api
def newapi_task(engine: Engine, task: SimTask, view: dict | None) -> dict:
    """new-api's `dto.MidjourneyDto` built from its own database row (relay-mj.go:106-143):
    the row was written at submit (relay-mj.go:529-547) and refreshed from the upstream's
    list-by-condition every 15 s (controller/midjourney.go:119-148); `view` is the upstream's task
    at the last refresh, None before the first one."""
    record = task.newapi
    data = {
        "id": task.id,
        "action": record["action"],
        "customId": "",
        "botType": "",
        "prompt": record["prompt"],
        "promptEn": "",
        "description": record["description"],
        "state": "",
        "submitTime": task.submit_time,
        "startTime": 0,
        "finishTime": 0,
        "imageUrl": "",
        "videoUrl": "",
        "videoUrls": None,
        "status": "",
        "progress": "0%",
        "failReason": "",
        "buttons": None,
        "maskBase64": "",
        "properties": None,
    }
    if view is None:
        return data
    status = _status(engine, view)
    upstream_image = engine.image_url(task, view)
    progress = _progress(engine, task, view) or ""
    fail_reason = view["fail_reason"] or ""
    if (progress != "100%" and fail_reason) or status == "FAILURE":
        progress = "100%"  # controller/midjourney.go:150-153
    image_url = ""
    if upstream_image:  # MjForwardUrlEnabled (default on): relay-mj.go:114-119
        image_url = f"{engine.image_base}/mj/image/{task.id}"
        if status != "SUCCESS":
            image_url += f"?rand={time.time_ns()}"
    data.update(
        {
            "promptEn": view["prompt_en"] or "",
            "state": view["state"] or "",
            "startTime": view["start_time"] or 0,
            "finishTime": view["finish_time"] or 0,
            "imageUrl": image_url,
            "status": status,
            "progress": progress,
            "failReason": fail_reason,
            "buttons": view["buttons"],
            "properties": {"finalPrompt": view["final_prompt"] or "", "finalZhPrompt": ""},
        }
    )
    if task.op == "animate" and status == "SUCCESS":
        data["videoUrl"] = image_url
    return data


BUILDERS = {"oss": oss_task, "plus": plus_task, "trueai": trueai_task}


# ------------------------------------------------------------------------------ error bodies
def newapi_relay_error(code: int, description: str, result: str = "") -> dict:
    """controller/relay.go:313-323: new-api's own relay errors, keys sorted as gin.H writes them."""
    return {"code": code, "description": f"{description} {result}", "type": "upstream_error"}


def newapi_request_id() -> str:
    """middleware/request-id.go: GetTimeString() + GetRandomString(8) (common/utils.go:195)."""
    now = time.time_ns()
    stamp = time.strftime("%Y%m%d%H%M%S", time.localtime(now / 1e9))
    tail = "".join(random.choices(string.ascii_letters + string.digits, k=8))
    return f"{stamp}{now % 1_000_000_000}{tail}"


def newapi_openai_error(message: str) -> dict:
    """middleware/utils.go abortWithOpenAiMessage (QuantumNous: message with its request id,
    an empty ``code``)."""
    return {
        "error": {
            "message": f"{message} (request id: {newapi_request_id()})",
            "type": "new_api_error",
            "code": "",
        }
    }
