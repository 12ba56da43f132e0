"""The video API: what ``client.video`` / ``client.extend`` send (``POST /mj/submit/video``),
checked before it costs anything, and the calls themselves (``VideoCalls``, a base of ``Client``).

The body is trueai's ``SubmitVideoDTO`` (``src/Midjourney.Base/Dto/SubmitVideoDTO.cs``), which
new-api relays unchanged: ``prompt``, ``motion`` low|high, ``image`` (the start frame: a URL or
base64), ``endImage``, ``loop``, ``videoType`` (``vid_1.1_i2v_480`` SD | ``vid_1.1_i2v_720`` HD),
``batchSize`` 1|2|4, or ``action: "extend"`` with ``taskId`` and a 0-based ``index``.

Midjourney's own rules (docs.midjourney.com "Video"; reference mj-2026 §1) are checked here so a
mistake fails in the notebook instead of minutes later on the server: 5 s clips extended 4 s at a
time up to 21 s; ``--end`` is either an end frame or ``loop``, never both; HD only in Fast mode
(Relax makes SD only); a new video needs a start frame. Parameters written into the prompt
(``--motion``, ``--bs``, ``--end``, ``--loop``) win on the server (trueai appends its own only when
the prompt has none), so a prompt that says otherwise than the arguments is refused.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from . import clips, media, records
from .errors import UnsupportedError, ValidationError
from .journal import new_state
from .models import Status, Task
from .prompt import Prompt, checked_text
from .submitbase import SubmitBase
from .wording import route_instead

if TYPE_CHECKING:
    from .capabilities import Capabilities

__all__ = [
    "MOTIONS",
    "VIDEO_TYPES",
    "BATCH_SIZES",
    "CLIP_SECONDS",
    "EXTEND_SECONDS",
    "MAX_SECONDS",
    "video_body",
    "extend_body",
    "no_video",
    "VideoCalls",
]

MOTIONS = ("low", "high")
VIDEO_TYPES = {False: "vid_1.1_i2v_480", True: "vid_1.1_i2v_720"}  # hd → videoType
BATCH_SIZES = (1, 2, 4)  # SubmitVideoDTO.BatchSize "1 | 2 | 4", default 4
CLIP_SECONDS = 5
EXTEND_SECONDS = 4
MAX_SECONDS = 21  # 5 s + four extends of 4 s
_URL = re.compile(r"^https?://\S+$", re.IGNORECASE)
_VIDEO_PARAMS = ("video", "motion", "bs", "end", "loop")
_FRAME_ADVICE = (
    "pass a file path, bytes, a PIL image, a numpy array, a data URL, an http(s) URL, or a "
    "finished single-image Task (an upscale)"
)


def _motion(motion: str | None) -> str | None:
    if motion is None:
        return None
    text = str(motion).strip().lower() if isinstance(motion, str) else None
    if text not in MOTIONS:
        raise ValidationError(
            f"unknown motion {motion!r}",
            advice="use motion='low' (still scenes, the default) or motion='high'",
        )
    return text


def _batch(batch_size: int | None) -> int | None:
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise ValidationError(
            f"batch_size must be a whole number, not {type(batch_size).__name__}",
            advice="use batch_size=1, 2 or 4",
        )
    if batch_size not in BATCH_SIZES:
        raise ValidationError(
            f"batch_size {batch_size} is not one Midjourney makes",
            advice="Midjourney makes 1, 2 or 4 clips per video job (--bs); use 1, 2 or 4",
        )
    return batch_size


def _frame(value: Any, what: str) -> str:
    """A start or end frame as the server takes it: a URL as given, anything else as a checked
    data URL (``media``: the one loader of images people bring)."""
    if isinstance(value, Task):
        return _task_frame(value, what)
    if isinstance(value, str) and _URL.match(value.strip()):
        return value.strip()
    try:
        return media.to_data_url(value)
    except ValidationError as exc:
        raise ValidationError(
            f"the {what}: {exc.description}", advice=exc.advice or _FRAME_ADVICE
        ) from None


def _task_frame(task: Task, what: str) -> str:
    if task.is_video:
        raise ValidationError(
            f"task {task.id} is a video, not an image for the {what}",
            task_id=task.id,
            advice="to continue a video use client.extend(task); to animate, pass an image",
        )
    if task.status is not Status.SUCCESS:
        raise ValidationError(
            f"task {task.id} is {task.status_raw or task.status.value}, not finished",
            task_id=task.id,
            advice=f"wait for it (task.wait()), then pass it as the {what} again",
        )
    if task.is_grid:
        raise ValidationError(
            f"task {task.id} is a grid of four images; the {what} must be one image",
            task_id=task.id,
            advice="upscale the one you want (U1–U4) and pass that task",
        )
    if not task.image_url:
        raise ValidationError(
            f"task {task.id} has no image URL for the {what}",
            task_id=task.id,
            advice="fetch the task again (client.fetch(task.id)), or pass the image itself",
        )
    return task.image_url


def _prompt_params(text: str) -> dict[str, Any]:
    return {k: v for k, v in Prompt(text).params.items() if k in _VIDEO_PARAMS}


def _conflict(name: str, written: Any, given: Any) -> ValidationError:
    return ValidationError(
        f"the prompt says --{name} {written} but the arguments say {given}",
        advice=f"say it once: drop --{name} from the prompt or the argument",
    )


def video_body(
    prompt: str,
    *,
    image: Any,
    end_image: Any = None,
    motion: str | None = None,
    loop: bool = False,
    hd: bool = False,
    batch_size: int | None = None,
    mode: str | None = None,
) -> dict[str, Any]:
    """The body of a new video job, every local rule checked (see the module's docstring).
    ``mode`` is the client's speed mode ("relax" makes SD only)."""
    text = checked_text(prompt)
    chosen_motion = _motion(motion)
    bs = _batch(batch_size)
    if not isinstance(loop, bool) or not isinstance(hd, bool):
        raise ValidationError("loop and hd are True or False", advice="pass loop=True / hd=True")
    if image is None:
        raise ValidationError(
            "a new video needs a start frame (image=)",
            advice=f"{_FRAME_ADVICE}; to continue a video use client.extend(task)",
        )
    if loop and end_image is not None:
        raise ValidationError(
            "loop=True and end_image both set the last frame (--end loop | --end <image>)",
            advice="pass one: loop=True returns to the start frame, end_image= ends elsewhere",
        )
    if hd and mode == "relax":
        raise ValidationError(
            "HD video is made in Fast mode only; Relax makes SD (480p)",
            advice="use hd=False in relax mode, or a Client(mode='fast') for HD",
        )
    written = _prompt_params(text)
    said_motion = str(written.get("motion", "")).lower()
    if said_motion and chosen_motion and said_motion != chosen_motion:
        raise _conflict("motion", said_motion, f"motion={chosen_motion!r}")
    said_bs = str(written.get("bs", ""))
    if said_bs and bs is not None and said_bs != str(bs):
        raise _conflict("bs", said_bs, f"batch_size={bs}")
    if "end" in written and (loop or end_image is not None):
        raise _conflict("end", written["end"], "loop=True" if loop else "end_image=…")
    if "loop" in written and end_image is not None:
        raise _conflict("loop", "(back to the start frame)", "end_image=…")
    return {
        "prompt": text,
        "image": _frame(image, "start frame"),
        "endImage": None if end_image is None else _frame(end_image, "end frame"),
        "motion": chosen_motion,
        "loop": True if loop else None,
        "videoType": VIDEO_TYPES[hd],
        "batchSize": bs,
    }


def extend_body(
    task: Task,
    *,
    index: int | None = None,
    motion: str | None = None,
    prompt: str | None = None,
    batch_size: int | None = None,
) -> dict[str, Any]:
    """The body of an Extend: four more seconds after clip ``index`` (0-based, as in
    ``task.video_urls``) of a finished video task. Without ``prompt`` the task's own words are
    sent again (its start-frame URL and video parameters removed: the server adds them)."""
    if task.status is not Status.SUCCESS:
        raise ValidationError(
            f"task {task.id} is {task.status_raw or task.status.value}, not SUCCESS",
            task_id=task.id,
            advice="a video can be extended once it has finished; wait for it first",
        )
    if not task.is_video:
        raise ValidationError(
            f"task {task.id} ({task.action or 'a task'}) is not a video",
            task_id=task.id,
            advice="extend a video task; to animate an image use client.video(prompt, image=…)",
        )
    count = len(task.video_urls)
    chosen = 0 if index is None else index
    if isinstance(chosen, bool) or not isinstance(chosen, int):
        raise ValidationError(
            f"index must be a whole number, not {type(index).__name__}",
            advice="pass the clip's position in task.video_urls (0 for the first)",
        )
    if chosen < 0 or (count and chosen >= count):
        raise ValidationError(
            f"task {task.id} has {count or 'no'} clip(s); no index {chosen}",
            task_id=task.id,
            advice=f"use an index from 0 to {max(count - 1, 0)} (0-based, as task.video_urls)",
        )
    if task.video_duration is not None and task.video_duration + EXTEND_SECONDS > MAX_SECONDS:
        raise ValidationError(
            f"task {task.id} is already {task.video_duration:g} s long",
            task_id=task.id,
            advice=f"Midjourney extends a video 4 s at a time up to {MAX_SECONDS} s",
        )
    text = checked_text(prompt, blank_ok=True) if prompt is not None else ""
    if not text:  # the words only: the server adds the start frame and video parameters
        text = Prompt(task.prompt or task.prompt_en).text
    if not text.strip():
        raise ValidationError(
            f"task {task.id} has no prompt words to extend with",
            task_id=task.id,
            advice="pass prompt= (what should happen in the next four seconds)",
        )
    return {
        "action": "extend",
        "taskId": task.id,
        "index": chosen,
        "prompt": text.strip(),
        "motion": _motion(motion),
        "batchSize": _batch(batch_size),
    }


def no_video(exc: UnsupportedError) -> UnsupportedError:
    """A server without ``/submit/video`` (the open-source midjourney-proxy answers Spring's 404)
    said so after the request: the same refusal, in words about video. (When the client's
    capabilities already know, the transport refuses before sending, in the same words.)"""
    return UnsupportedError(
        "this server makes no videos (it has no POST /mj/submit/video)",
        feature="video",
        instead=route_instead("video"),
        server_text=exc.server_text,
        http_status=exc.http_status,
        endpoint=exc.endpoint,
        state=exc.state,
    )


class VideoCalls(SubmitBase):
    """``Client.video`` and ``Client.extend``: the video API, one submit each through the
    client's journaled ``_submit`` (the same typed errors and never-resend rules as every other
    submit)."""

    if TYPE_CHECKING:  # provided by Client
        capabilities: Capabilities

        @property
        def mode(self) -> str | None: ...

        @property
        def base_url(self) -> str: ...

        def fetch(self, task_id: str | Task) -> Task: ...

        def download(self, url: str, *, max_bytes: int = ...) -> bytes: ...

    def video(
        self,
        prompt: str,
        *,
        image: media.ImageInput | Task = None,
        end_image: media.ImageInput | Task = None,
        motion: str | None = None,
        loop: bool = False,
        hd: bool = False,
        batch_size: int | None = None,
        state: str | None = None,
        notify_hook: str | None = None,
    ) -> Task:
        """Start a video job (POST /submit/video): 5 s clips that begin at ``image``.

        ``image``/``end_image``: any image ``media`` accepts, an http(s) URL, or a finished
        upscale Task (its image URL; the video then descends from it in the history).
        ``motion`` "low" (Midjourney's default) or "high"; ``loop`` ends on the start frame;
        ``hd`` 720p instead of 480p (Fast mode only); ``batch_size`` 1, 2 or 4 clips (default 4).
        Checked before sending (``videorequest``); a server without video (the open-source
        proxy) raises NotFoundError "this server has no video".
        """
        body = video_body(
            prompt, image=image, end_image=end_image, motion=motion, loop=loop, hd=hd,
            batch_size=batch_size, mode=self.mode,
        )  # fmt: skip
        source = image if isinstance(image, Task) and image.server in ("", self.base_url) else None
        return self._video_submit(body, state=state, notify_hook=notify_hook, parent=source)

    def extend(
        self,
        task: Task | str,
        *,
        index: int | None = None,
        motion: str | None = None,
        prompt: str | None = None,
        batch_size: int | None = None,
        state: str | None = None,
        notify_hook: str | None = None,
    ) -> Task:
        """Extend clip ``index`` (0-based, as ``task.video_urls``; default 0) of a finished video
        by 4 s (POST /submit/video, ``action: "extend"``: every server with video relays it,
        new-api included, where the Extend buttons are refused). ``prompt`` defaults to the
        task's own words; ``batch_size`` clips of the longer video (server default 4)."""
        parent = task if isinstance(task, Task) else self.fetch(str(task))
        body = extend_body(parent, index=index, motion=motion, prompt=prompt, batch_size=batch_size)
        return self._video_submit(body, state=state, notify_hook=notify_hook, parent=parent)

    def _video_submit(
        self,
        body: dict[str, Any],
        *,
        state: str | None,
        notify_hook: str | None,
        parent: Task | None,
    ) -> Task:
        self.capabilities.check_route("video", feature="video")  # known: no journal, no request
        state = state or new_state()
        body = {**body, "notifyHook": notify_hook}

        def make(code: int, result: Any, props: dict[str, Any], description: str) -> Task:
            task = self._new_task(
                code, result, props, description, name="video", action="VIDEO",
                prompt=body["prompt"], state=state,
            )  # fmt: skip
            if parent is not None:
                task.parent_id = parent.id
            return task

        try:
            return self._submitted(self._submit("video", body, state=state, make_task=make))
        except UnsupportedError as exc:
            if exc.http_status in (404, 405):
                raise no_video(exc) from exc
            raise

    # -- a video's files, straight from the server (a Tracker keeps a cache instead) ---------

    def clip(self, task: Task, index: int = 0) -> bytes:
        """Clip ``index`` of a video task, downloaded now: size-capped (``clips.MAX_CLIP_BYTES``),
        the key never sent to the CDN (``transport.download``), checked with PyAV."""
        data = self.download(clips.clip_url(task, index), max_bytes=clips.MAX_CLIP_BYTES)
        clips.probe(data)
        return data

    def _posters(self, task: Task, count: int | None = None) -> list[Image.Image]:
        indexes = range(len(task.video_urls) if count is None else count)
        return [clips.probe(self.clip(task, i)).first_frame for i in indexes]

    def _save_video(self, task: Task, folder: str | os.PathLike[str]) -> Path:
        files = [self.clip(task, i) for i in range(len(task.video_urls))]
        return records.save_video(task, [(data, clips.probe(data)) for data in files], folder)
