"""The simulator's media routes: video, edits, retexture, references — the engine's one hook.

`Engine` owns one `MediaStore` (`engine.media`) and calls it at a few delimited points (task
creation for button presses, rendering, buttons, task JSON, image serving); `SimApp` routes
`/mj/submit/video`, `/mj/submit/edits` (`/edit`), `/mj/submit/retexture` and the CDN paths
`/video/{job}/0_{i}.mp4` / `0_{i}_640_N.webp` here. Per-flavour presence of those routes and
new-api's refusal of the media buttons live here too, so the rest of the simulator stays as it
was.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict

from PIL import Image

from . import edits, refs, video, videojobs
from .buttons import Press
from .videojobs import GRID_OPS, VIDEO_OPS, VideoJob

__all__ = ["MediaStore", "VIDEO_OPS"]

ACCOUNTS = ("official", "youchuan", "discord")
_MOTION_RE = re.compile(r"(?:--|—)motion\s+(low|high)", re.IGNORECASE)
_FILE_RE = re.compile(r"^0_(\d+)(_640_N\.webp|\.mp4)$")
_MEDIA_CUSTOM_IDS = ("MJ::JOB::animate_", "MJ::JOB::video_virtual_upscale::")


class MediaStore:
    """Per-task media state (video jobs, edit jobs) and the encoded clips and posters."""

    def __init__(self, engine, account: str = "official") -> None:
        self.engine = engine
        self.account = account
        self.videos: dict[str, VideoJob] = {}
        self.edits: dict[str, edits.EditJob] = {}
        self.by_job: dict[str, str] = {}  # job hash -> VIDEO grid task id
        self._bytes: OrderedDict[tuple, tuple[bytes, str]] = OrderedDict()
        self._locks: dict[tuple, threading.Lock] = {}
        self._lock = threading.Lock()
        self.encode_seconds: list[float] = []

    def set_account(self, account: str) -> None:
        """The kind of Midjourney account behind the proxy: "official" (midjourney.com) and
        "youchuan" run edits and retexture, "discord" refuses them (trueai TaskService.cs)."""
        if account not in ACCOUNTS:
            raise ValueError(f"account must be one of {ACCOUNTS}, got {account!r}")
        self.account = account

    # ------------------------------------------------------------------ submit endpoints
    def submit_video(self, body: dict, mode: str | None) -> tuple[int, str, str, dict]:
        from .engine import RelayError, SimError

        engine, flavor = self.engine, self.engine.flavor
        prompt = str(body.get("prompt") or "").strip()
        action = str(body.get("action") or "")
        parent_id = str(body.get("taskId") or "")
        with engine._lock:
            target = None
            if parent_id and flavor.name == "newapi":  # new-api looks in its own records first
                target = engine.tasks.get(parent_id)
                if target is None:
                    raise RelayError("task_not_found")
                if target.status != "SUCCESS":
                    raise RelayError("task_status_not_success")
            if not prompt:
                raise SimError(4, "Prompt 不能为空")
            urls = {key: self._frame_url(body.get(key)) for key in ("image", "endImage")}
            if parent_id:
                if action != "extend":
                    raise SimError(4, "任务类型错误")
                target = engine.tasks.get(parent_id)
                if target is None:
                    raise SimError(3, "关联任务不存在或已失效", flavor.missing_parent_http)
                if target.status != "SUCCESS":
                    raise SimError(4, "关联任务状态错误")
            extend = action.lower() == "extend"
            if extend and target is None:
                raise SimError(3, "目标任务不存在")
            if self.account == "discord" and not engine.remix:
                raise SimError(9, "未开启 REMIX，无法使用视频扩展功能")
            final = videojobs.compose_prompt(prompt, urls["image"], urls["endImage"], body)
            motion = _MOTION_RE.findall(final)
            job = VideoJob(
                motion=motion[-1].lower() if motion else "low",
                batch=videojobs.batch_size(final),
                loop="--end loop" in final.lower(),
                video_type=str(body.get("videoType") or "vid_1.1_i2v_480"),
                start_url=urls["image"] or None,
                end_url=urls["endImage"] or None,
            )
            press = Press("video_extend", motion=job.motion) if extend else None
            task = engine._make_task(
                op="video_extend" if extend else "video",
                prompt=final,
                description=f"/video {final}",
                body=body,
                bot_type="MID_JOURNEY",
                mode=mode,
                parent=target if extend else None,
                press=press,
            )
            failure = None
            if extend:
                clip = self._clip_to_extend(target, body.get("index"))
                if clip is None:
                    failure = videojobs.NOT_A_VIDEO
                    task.size = video.frame_size((1024, 1024))
                else:
                    job.extends = clip
                    task.size = engine.tasks[clip[0]].size
            else:
                if not job.start_url:
                    failure = videojobs.NO_START_FRAME
                task.size = video.frame_size(videojobs.start_size(engine, job), job.video_type)
            if failure:
                task.fail_at = 0
                task.fail_reason_planned = failure
            self._register(task, job)
            code, desc, props = engine._admit(task)
            # new-api's own row, written at submit (relay-mj.go:529-547): its action is VIDEO
            task.newapi = {"action": "VIDEO", "prompt": str(body.get("prompt") or ""),
                           "description": desc}  # fmt: skip
            return code, desc, task.id, props

    def _frame_url(self, value) -> str:
        """A start/end frame as the URL Midjourney gets: links as given, base64 uploaded."""
        from .engine import SimError, decode_base64_image

        if not value or not str(value).strip():
            return ""
        value = str(value).strip()
        if value.lower().startswith("http"):
            return value
        try:
            raw = decode_base64_image(value)
            name = self.engine._store_attachment(raw)
        except SimError:
            raise SimError(4, "base64格式错误") from None
        return self.engine._attachment_url(name)

    def _clip_to_extend(self, target, index) -> tuple[str, int] | None:
        job = self.videos.get(target.id)
        if job is None:
            return None
        if job.clip_of is not None:
            return job.clip_of
        try:
            number = int(index or 0)
        except (TypeError, ValueError):
            number = 0
        return (target.id, min(max(number, 0), job.batch - 1))

    def submit_edit(self, body: dict, mode: str | None, kind: str):
        return edits.submit(self.engine, body, mode, kind)

    # ------------------------------------------------------------------ engine hooks
    def setup_child(self, task, parent, press) -> None:
        """A button press made `task`: Animate, a video U, Extend, or 🔄 on a video grid."""
        kind = press.kind
        parent_job = self.videos.get(parent.id)
        if kind == "animate":
            job = VideoJob(motion=press.motion or "low", start_task=parent.id)
            task.size = video.frame_size(parent.size, job.video_type)
        elif kind == "video_extend" and parent_job is not None:
            clip = parent_job.clip_of or (parent.id, 0)
            job = VideoJob(
                motion=press.motion or "low", batch=self.videos[clip[0]].batch, extends=clip
            )
            task.size = self.engine.tasks[clip[0]].size
        elif kind == "video_upsample" and parent_job is not None:
            index = min(max(press.index, 1), parent_job.batch) - 1
            job = VideoJob(motion=parent_job.motion, batch=1, clip_of=(parent.id, index))
            task.size = parent.size
            task.description = f"/up {parent.id} U{press.index}"
        elif kind == "reroll" and parent.op in GRID_OPS and parent_job is not None:
            task.op = parent.op
            job = VideoJob(**vars(parent_job))
            task.size = parent.size
        elif kind in ("video_extend", "video_upsample"):
            # a video's customId on an image's job: accepted, then failed as Midjourney fails it
            job = VideoJob(motion=press.motion or "low", batch=1)
            task.op = "video_extend"
            task.size = video.frame_size(parent.size)
            self.engine._plan_failure(task, videojobs.NOT_A_VIDEO)
        else:
            return
        self._register(task, job)

    def _register(self, task, job: VideoJob) -> None:
        self.videos[task.id] = job
        if task.op in GRID_OPS:
            self.by_job[task.job_hash] = task.id

    def render(self, task) -> Image.Image | None:
        """The still image of a media task (None: the engine draws it as usual)."""
        if task.op in VIDEO_OPS:
            return videojobs.poster_image(self.engine, task)
        if task.op in edits.OPS:
            return edits.render_grid(self.engine, task)
        if task.op in ("imagine", "reroll") and refs.parse(task.prompt).any:
            from .engine import _caption

            parent = self.engine.tasks.get(task.parent_id) if task.parent_id else None
            size = (task.size[0] // 2, task.size[1] // 2)
            tiles = refs.imagine_tiles(self.engine, task, size, _caption(task, parent))
            if tiles is not None:  # None only for a prompt without references
                from .render import grid

                return grid(tiles)
        return None

    def buttons_for(self, task) -> list[dict] | None:
        if task.op in GRID_OPS:
            return videojobs.grid_buttons(task.job_hash, self.videos[task.id].batch)
        if task.op == "video_upsample":
            grid = self.engine.tasks[self._clip_ref(task)[0]]  # the clip's VIDEO grid
            return videojobs.extend_buttons(grid.job_hash)
        if task.op == "upsample" and task.parent_id:
            parent = self.engine.tasks.get(task.parent_id)
            if parent is not None and parent.op in edits.OPS:
                return []  # trueai TaskService.cs:1581-1586: no buttons under EDIT/RETEXTURE
        return None

    def image_url(self, task) -> str:
        """`imageUrl` of a finished VIDEO task: its (first) clip; new-api forwards it."""
        if self.engine.flavor.name == "newapi":
            return f"{self.engine.image_base}/mj/image/{task.id}"
        grid_id, index = self._clip_ref(task)
        grid = self.engine.tasks[grid_id]
        return f"{self.engine.image_base}/video/{grid.job_hash}/0_{index}.mp4"

    def _clip_ref(self, task) -> tuple[str, int]:
        job = self.videos[task.id]
        return job.clip_of if job.clip_of is not None else (task.id, 0)

    def update_task_json(self, task, data: dict, status: str) -> None:
        """Media fields of a task, as each flavour's fetch shows them."""
        flavor = self.engine.flavor.name
        if task.op in edits.OPS and flavor == "trueai":
            data["baseImageUrl"] = self.edits[task.id].image_url
        if task.op not in VIDEO_OPS:
            return
        job = self.videos[task.id]
        done = status == "SUCCESS"
        grid_id, index = self._clip_ref(task)
        grid = self.engine.tasks[grid_id]
        urls = videojobs.clip_urls(
            self.engine.image_base, grid.job_hash, self.videos[grid_id].batch
        )
        own = urls[index]["url"] if done and job.clip_of is None else None
        if flavor == "newapi":  # dto.MidjourneyDto: videoUrl, videoUrls[{url}]
            data["videoUrl"] = own or ""
            data["videoUrls"] = [{"url": u["url"]} for u in urls] if done else []
            return
        duration = self.duration(task.id)
        data["videoUrl"] = own
        data["videoUrls"] = urls if done else None
        data["videoDuration"] = duration if done else None
        data["contentType"] = "video/mp4" if done else None
        if flavor == "trueai":
            data["imageUrls"] = urls if done else None
            data["frameCount"] = duration * video.FPS if done else None
            data["videoType"] = job.video_type
            origin = self.videos[grid_id]
            data["videoGenOriginImageUrl"] = origin.start_url or (
                f"{self.engine.image_base}/mj/image/{origin.start_task}"
                if origin.start_task
                else None
            )

    def duration(self, task_id: str) -> int:
        job = self.videos[task_id]
        if job.clip_of is not None:
            return self.duration(job.clip_of[0])
        if job.extends is not None:
            return self.duration(job.extends[0]) + video.EXTEND_SECONDS
        return video.CLIP_SECONDS

    # ------------------------------------------------------------------ clips and posters
    def clip_bytes(self, task_id: str, index: int) -> tuple[bytes, str]:
        """The encoded mp4 of clip `index` of a VIDEO task (encoded once, then cached)."""
        job = self.videos[task_id]
        if job.clip_of is not None:
            task_id, index = job.clip_of
        return self._cached(("mp4", task_id, index), lambda: self._encode(task_id, index))

    def poster_bytes(self, task_id: str, index: int) -> tuple[bytes, str]:
        recipe = videojobs.clip_recipe(self.engine, task_id, index)
        return self._cached(
            ("poster", task_id, index), lambda: (video.poster(recipe), "image/webp")
        )

    def _encode(self, task_id: str, index: int) -> tuple[bytes, str]:
        recipe = videojobs.clip_recipe(self.engine, task_id, index)
        started = time.perf_counter()
        data = video.encode_mp4(video.clip_frames(recipe), recipe.size)
        self.encode_seconds.append(time.perf_counter() - started)
        return data, "video/mp4"

    def _cached(self, key: tuple, make) -> tuple[bytes, str]:
        with self._lock:
            if key in self._bytes:
                self._bytes.move_to_end(key)
                return self._bytes[key]
            key_lock = self._locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._bytes:
                    return self._bytes[key]
            result = make()
            with self._lock:
                self._bytes[key] = result
                while sum(len(v[0]) for v in self._bytes.values()) > 300_000_000:
                    self._bytes.popitem(last=False)
        return result

    def prerender(self, task) -> None:
        """Encode every clip and poster of a VIDEO task before it finishes (like images)."""
        if task.op not in GRID_OPS:
            return
        for i in range(self.videos[task.id].batch):
            self.poster_bytes(task.id, i)
            self.clip_bytes(task.id, i)

    def video_file(self, job_hash: str, name: str) -> tuple[bytes, str] | None:
        """`/video/{job}/0_{i}.mp4` and `…/0_{i}_640_N.webp` of a finished VIDEO task."""
        task_id = self.by_job.get(job_hash)
        found = _FILE_RE.match(name)
        if not task_id or found is None:
            return None
        task = self.engine.tasks.get(task_id)
        if task is None or task.status != "SUCCESS":
            return None
        index = int(found.group(1))
        if index >= self.videos[task_id].batch:
            return None
        ttl = self.engine.dice.config.image_ttl
        if ttl is not None and task.finished_at and time.time() - task.finished_at > ttl:
            self.engine.dice.count("image_expired")
            return None
        if found.group(2) == ".mp4":
            return self.clip_bytes(task_id, index)
        return self.poster_bytes(task_id, index)

    def video_still(self, job_hash: str, index: int) -> Image.Image | None:
        task_id = self.by_job.get(job_hash)
        if task_id is None or index >= self.videos[task_id].batch:
            return None
        return video.first_frame(videojobs.clip_recipe(self.engine, task_id, index))
