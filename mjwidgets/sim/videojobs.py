"""VIDEO tasks: `/submit/video`, the Animate / video U / Extend buttons, and their mp4s.

What the servers do (trueai `ed32197`, new-api; sources in docs/simulator-fidelity.md):

* `POST /mj/submit/video` takes `prompt`, `motion` (low|high, default low), `image` (start frame,
  URL or base64), `endImage`, `loop`, `videoType` (`vid_1.1_i2v_480` SD | `_720` HD),
  `batchSize` (1|2; anything else means the default 4), or `action: "extend"` with `taskId` and
  `index` (0-based). trueai builds the Midjourney prompt `<start url> <prompt> --video 1
  [--end loop | --end <url>] --motion <m> [--bs n]` (`TaskService.SubmitVideo`).
* The result is a grid of clips: `videoUrl`, `videoUrls[{url, thumbnail}]`
  (`…/video/{job}/0_{i}.mp4`, thumbnails `…_640_N.webp`), buttons `video_virtual_upscale::{i}`
  U1..Ubs and 🔄 (`TaskInfo.SetVideoUpscaleButtons`). A video U (action UPSCALE) carries
  `contentType` video/mp4, the grid's `videoUrls`, its clip as `imageUrl`, and Extend (High/Low
  motion) buttons (`TaskService.cs:1588-1599`, `TaskInfo.SetVideoExtendButtons`).
* Clips last 5 s; each extend adds 4 s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from PIL import Image

from . import refs, video
from .render import _mix

GRID_OPS = ("animate", "video", "video_extend")
VIDEO_OPS = (*GRID_OPS, "video_upsample")
NO_START_FRAME = "invalid_request, No start frame provided"
NOT_A_VIDEO = "invalid_request, the job to extend is not a video"
_BS_RE = re.compile(r"(?:--|—)bs\s+(\d+)", re.IGNORECASE)
_URLS_RE = re.compile(r"<?https?://\S+>?")
_VIDEO_TYPES = ("vid_1.1_i2v_480", "vid_1.1_i2v_720")


@dataclass
class VideoJob:
    """What a VIDEO task was asked for (the prompt itself stays on the task: a modal may
    still change it)."""

    motion: str = "low"
    batch: int = 4
    loop: bool = False
    video_type: str = "vid_1.1_i2v_480"
    start_url: str | None = None  # /submit/video start frame
    start_task: str | None = None  # Animate: the upscale the button was pressed on
    end_url: str | None = None
    extends: tuple[str, int] | None = None  # (task id, clip index) this job continues
    clip_of: tuple[str, int] | None = None  # a video U: (grid task id, clip index)


def batch_size(prompt: str) -> int:
    """`--bs n` (1..4) in the prompt, else 4 (trueai `TaskInfo.GetVideoBatchSize`)."""
    found = _BS_RE.search(prompt or "")
    if found and 1 <= int(found.group(1)) <= 4:
        return int(found.group(1))
    return 4


def compose_prompt(prompt: str, start_url: str, end_url: str, body: dict) -> str:
    """The Midjourney prompt trueai sends for /submit/video (`TaskService.SubmitVideo`)."""
    text = prompt
    if start_url and start_url.lower() not in text.lower():
        text = f"{start_url} {text}"
    if "--video" not in text.lower().replace("—", "--"):
        text += " --video 1"
    if body.get("loop") and "--end" not in text.lower():
        text += " --end loop"
    if end_url and "--end" not in text.lower():
        text += f" --end {end_url}"
    motion = str(body.get("motion") or "low")
    if motion and "--motion" not in text.lower():
        text += f" --motion {motion}"
    try:
        bs = int(body.get("batchSize") or 4)
    except (TypeError, ValueError):
        bs = 4
    if bs in (1, 2) and "--bs" not in text.lower():
        text += f" --bs {bs}"
    return text


def display_prompt(prompt: str) -> str:
    """The prompt as the frames show it: URLs shortened to <img>."""
    return " ".join(_URLS_RE.sub("<img>", prompt or "").split())


def clip_urls(base: str, job_hash: str, count: int) -> list[dict]:
    return [
        {
            "url": f"{base}/video/{job_hash}/0_{i}.mp4",
            "thumbnail": f"{base}/video/{job_hash}/0_{i}_640_N.webp",
        }
        for i in range(count)
    ]


def clip_recipe(engine, task_id: str, index: int) -> video.Clip:
    """The recipe of clip `index` of a VIDEO task (a video U's clip is its grid's)."""
    media = engine.media
    task = engine.tasks[task_id]
    job = media.videos[task_id]
    if job.clip_of is not None:
        return clip_recipe(engine, *job.clip_of)
    seed = _mix("clip", task.seed, index) % 2**32
    prompt = display_prompt(task.prompt)
    if job.extends is not None:
        base = clip_recipe(engine, *job.extends)
        caption = (
            f"Extend ({job.motion}) +{video.EXTEND_SECONDS}s of {job.extends[0]} "
            f"clip {job.extends[1] + 1} · {index + 1}/{job.batch}"
        )
        return video.Clip(
            prompt, job.motion, video.EXTEND_SECONDS, seed, caption, base.size, base=base
        )
    if job.start_task is not None:
        start = engine._final_image(engine.tasks[job.start_task])
        origin = f"Animate ({job.motion}) of {job.start_task}"
    elif job.start_url:
        start = refs.load_or_placeholder(engine, job.start_url)
        origin = "video of an upload"
    else:
        start = video.placeholder("no start frame")
        origin = "video"
    end = refs.load_or_placeholder(engine, job.end_url) if job.end_url else None
    caption = f"{origin} · clip {index + 1}/{job.batch} · job {task.job_hash[:8]}"
    return video.Clip(
        prompt, job.motion, video.CLIP_SECONDS, seed, caption, task.size, start, end, job.loop
    )


def start_size(engine, job: VideoJob) -> tuple[int, int]:
    if job.start_task is not None:
        return engine.tasks[job.start_task].size
    if job.start_url:
        img = refs.load(engine, job.start_url)
        if img is not None:
            return img.size
    return (1024, 1024)


def grid_buttons(job_hash: str, count: int) -> list[dict]:
    """U1..Ucount (`video_virtual_upscale`) and 🔄 (trueai `TaskInfo.SetVideoUpscaleButtons`)."""
    buttons = [
        {
            "customId": f"MJ::JOB::video_virtual_upscale::{i}::{job_hash}",
            "emoji": "",
            "label": f"U{i}",
            "type": 2,
            "style": 2,
        }
        for i in range(1, count + 1)
    ]
    buttons.append(
        {
            "customId": f"MJ::JOB::reroll::0::{job_hash}::SOLO",
            "emoji": "🔄",
            "label": "",
            "type": 2,
            "style": 2,
        }
    )
    return buttons


def extend_buttons(job_hash: str) -> list[dict]:
    """Extend (High/Low motion) on one video (trueai `TaskInfo.SetVideoExtendButtons`)."""
    return [
        {
            "customId": f"MJ::JOB::animate_{m}_extend::1::{job_hash}",
            "emoji": "🎞️",
            "label": f"Extend ({m.capitalize()} motion)",
            "type": 2,
            "style": 2,
        }
        for m in ("high", "low")
    ]


def poster_image(engine, task) -> Image.Image:
    """The still a VIDEO task's previews are made of: its clips' first frames."""
    media = engine.media
    job = media.videos[task.id]
    count = 1 if job.clip_of is not None else job.batch
    stills = [video.first_frame(clip_recipe(engine, task.id, i)) for i in range(count)]
    return video.poster_grid(stills)
