"""The simulator's state machine: tasks, the account's slots and queue, lifecycles and buttons.

Time is scaled by `speed`: a ~55 s fast job takes 55/speed seconds. A scheduler thread moves every
task through NOT_START → SUBMITTED "0%" → IN_PROGRESS 15…93% → SUCCESS "100%" (or FAILURE) and posts
each change to the task's notifyHook. Images are rendered lazily, when first asked for, and cached.

What differs between server families (codes, refusals, descriptions, checks) is decided here from
the `Flavor`; how a task looks on the wire is `wire.py`'s business.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import io
import logging
import math
import random
import re
import threading
import time
import urllib.request
import uuid
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from PIL import Image

from . import render, wire
from .buttons import (
    MJVersion,
    Press,
    describe_buttons,
    grid_buttons,
    parse_press,
    parse_version,
    shorten_buttons,
    upscaled_buttons,
)
from .faults import FaultDice
from .flavors import TRUEAI_REROLLABLE, Flavor, newapi_action, trueai_accepts
from .media import VIDEO_OPS, MediaStore

log = logging.getLogger("mjwidgets.sim")

PENDING = ("NOT_START", "SUBMITTED", "IN_PROGRESS")
TERMINAL = ("SUCCESS", "FAILURE", "CANCEL")

# Unscaled seconds after a job starts: Discord's progress steps for a ~55 s fast job.
_STEPS = (
    [(1.0, "SUBMITTED", 0)]
    + [(9.0 + 7.0 * i, "IN_PROGRESS", pct) for i, pct in enumerate((15, 31, 46, 62, 78, 93))]
    + [(53.0, "SUCCESS", 100)]
)
_QUICK_STEPS = [(1.0, "SUBMITTED", 0), (6.0, "SUCCESS", 100)]
_MODE_FACTOR = {"FAST": 1.0, "TURBO": 0.3, "RELAX": 3.0}
_ACTION_FACTOR = {"upsample": 0.3, "upscale_hd": 0.6, "animate": 1.5}
_ACTION_FACTOR.update(video=1.5, video_extend=1.5, video_upsample=0.3)  # media jobs
# Midjourney reads "—" (an autocorrected "--") as "--" in every parameter; so does the simulator
_ZOOM_RE = re.compile(r"(?:--|—)zoom\s+([0-9]*\.?[0-9]+)")
_AR_RE = re.compile(r"(?:--|—)(?:ar|aspect)\s+(\S+)")
_BS_RE = re.compile(r"(?:--|—)bs\s+(\d+)", re.IGNORECASE)
_DIMENSIONS = {"PORTRAIT": "2:3", "SQUARE": "1:1", "LANDSCAPE": "3:2"}
_MODAL_ALWAYS = ("inpaint", "custom_zoom", "describe_pick", "shorten_pick")
_MODAL_WITH_REMIX = (
    "variation",
    "reroll",
    "low_variation",
    "high_variation",
    "pan",
    "animate",
    "video_extend",
)
_GRID_OPS = (
    "imagine",
    "variation",
    "reroll",
    "low_variation",
    "high_variation",
    "outpaint",
    "custom_zoom",
    "pan",
    "inpaint",
    "blend",
    "edit",  # media: EDIT / RETEXTURE results are grids too
    "retexture",
)
_STRENGTH = {"variation": 0.5, "low_variation": 0.25, "high_variation": 0.8}
# ops drawn from the parent's image and the press that made them (Engine._render_from_parent)
_DRAWN_FROM_PARENT = (
    "upsample",
    "upscale_hd",
    "variation",
    "low_variation",
    "high_variation",
    "outpaint",
    "custom_zoom",
    "pan",
    "inpaint",
)
_TILE_INDEXES = range(1, 5)  # a grid's tiles, as render numbers them
_TRUEAI_STATE_TOO_LONG = "State参数过长，最大255字符"
_TRUEAI_HOOK_TOO_LONG = "NotifyHook参数过长，最大2000字符"
# The simulator's own wording where the real server's text is unknown (Midjourney answers these
# cases on Discord; the proxies only copy the message). Marked as such in the docs.
_FAIL_BAD_MASK = "[Invalid mask] the Vary (Region) mask could not be read"
_FAIL_BAD_ZOOM = "[Invalid parameter] --zoom must be between 1 and 2"
_FAIL_NOT_A_BUTTON = "[Interaction failed] the customId is not a component of the parent message"


class SimError(Exception):
    """A business error the server answers with an envelope (code + description)."""

    def __init__(
        self, code: int, description: str, http_status: int = 200, properties: dict | None = None
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.http_status = http_status
        self.properties = properties or {}


class LogicError(SimError):
    """trueai's business-rule exceptions raised outside a controller's try/catch, answered by
    its exception filter as `{"success":false,"code":-1,...}` (CustomLogicExceptionFilterAttribute
    .cs:39-51, Models/Result.cs:71-74)."""

    def __init__(self, message: str) -> None:
        super().__init__(-1, message)


class RelayError(SimError):
    """new-api's own relay errors: HTTP 400 `{"code","description","type":"upstream_error"}`
    with a space after the description (controller/relay.go:313-323)."""

    def __init__(self, description: str, code: int = 4) -> None:
        super().__init__(code, description, 400)


class GatewayError(SimError):
    """new-api's middleware refusals: HTTP 400 `{"error":{"message","type":"new_api_error"}}`
    (middleware/distributor.go:36-40, middleware/utils.go:9-19)."""

    def __init__(self, message: str, http_status: int = 400) -> None:
        super().__init__(0, message, http_status)


@dataclass
class SimTask:
    """One task as the server keeps it; the wire JSON is rendered from it per flavour."""

    id: str
    op: str  # imagine, upsample, variation, …, describe, shorten, blend
    action: str
    prompt: str | None
    description: str | None
    state: str | None
    notify_hook: str | None
    bot_type: str
    mode: str
    requested_mode: str | None
    submit_time: int
    job_hash: str
    message_id: str
    nonce: str
    version: MJVersion
    size: tuple[int, int] = (0, 0)
    status: str = "NOT_START"
    progress: int = 0
    start_time: int | None = None
    finish_time: int | None = None
    fail_reason: str | None = None
    buttons: list = field(default_factory=list)
    parent_id: str | None = None
    press: Press | None = None
    modal_kind: str | None = None  # while MODAL: the press that needs input
    modal_submitted: bool = False
    run: int = 0  # bumped when a finished task runs again, so stale steps are ignored
    prompt_en: str | None = None
    final_prompt: str = ""
    result_text: str = ""  # what a DESCRIBE or SHORTEN answers, shown when it finishes
    seed_shown: str | None = None  # trueai shows a seed once /image-seed asked for it
    extra_properties: dict = field(default_factory=dict)
    newapi: dict = field(default_factory=dict)  # new-api's own row: action, prompt, description
    mask_png: bytes | None = None
    image_inputs: list[str] = field(default_factory=list)  # attachment names
    seed: int = 0
    stuck: bool = False
    fail_at: int | None = None
    fail_reason_planned: str | None = None
    finished_at: float | None = None  # wall clock, for detection-lag measurements
    # wall clock: the first status read (fetch or list) whose answer showed it finished — a
    # client's detection lag is the wait for that read plus the answer's way back to it
    first_read_finished: float | None = None
    updates: int = 0
    hook_post: object = None  # the Future of the task's last notifyHook post
    history: list = field(default_factory=list)  # (monotonic, view) for lagging flavours
    shown: list = field(default_factory=list)  # (monotonic, view): new-api's row, as written
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def view(self) -> dict:
        """The fields that change over a task's life, frozen for history and rendering."""
        success = self.status == "SUCCESS"
        return {
            "status": self.status,
            "progress": self.progress,
            "start_time": self.start_time,
            "finish_time": self.finish_time,
            "fail_reason": self.fail_reason,
            "buttons": [dict(b) for b in self.buttons],
            "action": self.action,
            "prompt": self.prompt,
            "prompt_en": self.prompt_en,
            "description": self.description,
            "state": self.state,
            "final_prompt": self.final_prompt,
            "seed": self.seed_shown,
            "size": self.size if success and self.size[0] else (None, None),
            "version": str(self.version) if success else None,
        }


def _now_ms() -> int:
    return int(time.time() * 1000)


def _wall(stamp: float) -> float:
    """A monotonic time on the wall clock."""
    return time.time() - (time.monotonic() - stamp)


def _shown_finished(task: SimTask) -> float | None:
    """When a relay's row of the task first showed it finished (wall clock), if it has."""
    for stamp, view in task.shown:
        if view["status"] in ("SUCCESS", "FAILURE"):
            return _wall(stamp)
    return None


def decode_base64_image(data: str, *, data_url_only: bool = False) -> bytes:
    """Bytes of a data URL or raw base64 string; SimError(4) when it is neither.

    `data_url_only`: refuse raw base64, as OSS's DataUrlSerializer does."""
    if not isinstance(data, str) or not data.strip():
        raise SimError(4, "base64格式错误")
    if data.startswith("data:"):
        payload = data.split(",", 1)[1] if "," in data else ""
    elif data_url_only:
        raise SimError(4, "base64格式错误")
    else:
        payload = data
    try:
        return base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError):
        raise SimError(4, "base64格式错误") from None


def _open_image(raw: bytes) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(raw))
        img.load()
    except Exception:
        raise SimError(4, "base64格式错误: not an image") from None
    return img


class Engine:
    """Thread-safe task store and scheduler behind the HTTP layer."""

    def __init__(
        self,
        *,
        flavor: Flavor,
        speed: float,
        concurrency: int,
        queue_size: int,
        banned_words: tuple[str, ...],
        remix: bool,
        dice: FaultDice,
        seed: int | None,
        task_timeout: float | None,
        image_base: str = "",
        strict: bool = False,
        image_urls: bool = False,
        prerender: bool = True,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.flavor = flavor
        self.speed = float(speed)
        self.concurrency = concurrency
        self.queue_size = queue_size
        self.banned_words = tuple(w.lower() for w in banned_words)
        self.remix = remix
        self.dice = dice
        self.task_timeout = task_timeout
        self.image_base = image_base
        self.strict = strict
        self.image_urls = image_urls
        # draw each final image at its job's last progress step, as a CDN holds it when the job
        # ends (False: at its first GET — for a benchmark that fetches no image, where drawing
        # would only load the cores the client runs on, at the moments results are due)
        self.prerender = prerender
        self.images_drawn = 0  # final images drawn (each once while cached)
        self.tasks: dict[str, SimTask] = {}
        self.by_job: dict[str, str] = {}  # job hash → task id, for the CDN-style tile URLs
        self.running: set[str] = set()
        self.waiting: deque[str] = deque()
        self.attachments: dict[str, tuple[bytes, str]] = {}
        self.created_by_action: dict[str, int] = {}
        self.total_updates = 0
        self.started_monotonic = time.monotonic()
        # Ids and job hashes: fresh every process (seeded from the OS) unless a seed is asked for.
        self._random = random.Random(seed)
        # a relay's refresh cycles (flavor.refresh_period): the next one's start and upstream read
        self._refresh_random = random.Random(seed)
        self.refresh_reads: deque[float] = deque(maxlen=10_000)  # monotonic, the cycles' reads
        self._cycle_start = self._cycle_read = 0.0
        if self.flavor.refresh_period:
            self._schedule_cycle(self.started_monotonic + self.flavor.refresh_period / self.speed)
        self._lock = threading.RLock()
        self._heap: list = []
        self._seq = 0
        self._wake = threading.Condition(self._lock)
        self._stopping = False
        self._images: OrderedDict[str, Image.Image] = OrderedDict()
        self._encoded: OrderedDict[tuple, tuple[bytes, str]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._notifier = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mjsim-notify")
        self._renderer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mjsim-render")
        self.media = MediaStore(self)  # video, edits, retexture, references
        self._thread = threading.Thread(target=self._run, name="mjsim-scheduler", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ lifecycle plumbing
    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._wake.notify_all()
        self._thread.join(timeout=2)
        self._notifier.shutdown(wait=False, cancel_futures=True)
        self._renderer.shutdown(wait=False, cancel_futures=True)

    def _schedule(self, delay: float, task_id: str, fn) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (time.monotonic() + delay, self._seq, task_id, fn))
        self._wake.notify()

    def _run(self) -> None:
        with self._lock:
            while not self._stopping:
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    _, _, task_id, fn = heapq.heappop(self._heap)
                    task = self.tasks.get(task_id)
                    if task is None:
                        continue
                    try:
                        fn(task)
                    except Exception:  # a bug in one task must not stop the others
                        log.exception("simulator step failed for task %s", task_id)
                timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                self._wake.wait(timeout=None if timeout is None else max(timeout, 0.0))

    def _new_id(self) -> str:
        while True:
            candidate = f"{_now_ms()}{self._random.randint(0, 999):03d}"
            if candidate not in self.tasks:
                return candidate

    def _new_hash(self) -> str:
        return str(uuid.UUID(int=self._random.getrandbits(128), version=4))

    def _changed(self, task: SimTask) -> None:
        """Record a change: history for lagging flavours, counters, and the notifyHook post."""
        task.updates += 1
        self.total_updates += 1
        task.history.append((time.monotonic(), task.view()))
        if task.notify_hook and self.flavor.delivers_hooks:
            payload = wire.dumps(self.task_json(task, live=True), self.flavor.json_style)
            task.hook_post = self._notifier.submit(
                self._post_hook, task.notify_hook, payload, task.hook_post
            )

    @staticmethod
    def _post_hook(url: str, payload: bytes, previous=None) -> None:
        """POST one change, after the task's previous change (the servers never let a
        callback go back in time: OSS NotifyServiceImpl.java:37-70, trueai NotifyService.cs)."""
        if previous is not None:
            try:
                previous.result(timeout=10)
            except Exception:  # a failed or slow earlier post does not hold this one back
                pass
        request = urllib.request.Request(
            url, data=payload, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=3) as response:
                response.read()
        except Exception as exc:  # proxies only log failed callbacks, they never retry
            log.info("notifyHook %s failed: %s", url, exc)

    # ------------------------------------------------------------------ creating tasks
    def _make_task(
        self,
        *,
        op: str,
        prompt: str | None,
        description: str | None,
        body: dict,
        bot_type: str,
        mode: str | None,
        parent: SimTask | None = None,
        press: Press | None = None,
    ) -> SimTask:
        task_id = self._new_id()
        job_hash = self._new_hash()
        version = parent.version if parent else parse_version(prompt or "", bot_type)
        requested = mode
        if mode is None:
            mode = next(
                (m.upper() for m in ("relax", "turbo", "fast") if f"--{m}" in (prompt or "")),
                "FAST",
            )
        action = "IMAGINE" if op == "imagine" else op.upper()
        if press is not None:
            action = self.flavor.actions.get(press.kind, "ACTION")
            if press.kind == "reroll" and self.flavor.name == "trueai" and parent is not None:
                action = "IMAGINE" if parent.action == "UPSCALE" else parent.action
        task = SimTask(
            id=task_id,
            op=op,
            action=action,
            prompt=prompt,
            description=description,
            state=body.get("state"),
            notify_hook=body.get("notifyHook") or None,
            bot_type=bot_type,
            mode=mode,
            requested_mode=requested,
            submit_time=_now_ms(),
            job_hash=job_hash,
            message_id=str(1_100_000_000_000_000_000 + self._random.getrandbits(56)),
            nonce=str(1_300_000_000_000_000_000 + self._random.getrandbits(56)),
            version=version,
            parent_id=parent.id if parent else None,
            press=press,
            prompt_en=prompt,
            final_prompt=prompt or "",
        )
        if self.flavor.name == "newapi":
            # new-api never forwards notifyHook unless MjNotifyEnabled (service/midjourney.go:174)
            task.notify_hook = None
        task.seed = int(hashlib.sha256(job_hash.encode()).hexdigest()[:8], 16)
        if self.dice.roll(self.dice.config.stuck_rate):
            task.stuck = True
        if self.dice.roll(self.dice.config.fail_rate):
            task.fail_at = int(self.dice.config.fail_at)
            reason = str(self.dice.config.fail_reason)
            task.fail_reason_planned = reason.replace("{pct}", str(task.fail_at))
        self.tasks[task_id] = task
        self.by_job[job_hash] = task_id
        self.created_by_action[action] = self.created_by_action.get(action, 0) + 1
        return task

    def _plan_failure(self, task: SimTask, reason: str) -> None:
        task.fail_at = 0
        task.fail_reason_planned = reason

    def _check_banned(self, prompt: str, task: SimTask | None = None) -> None:
        lowered = (prompt or "").lower()
        for word in self.banned_words:
            if re.search(rf"\b{re.escape(word)}\b", lowered):
                if self.flavor.banned_at_submit:
                    raise SimError(
                        24, "可能包含敏感词", properties={"promptEn": prompt, "bannedWord": word}
                    )
                if task is not None:
                    self._plan_failure(task, "可能包含敏感词")
                return

    def _check_base(self, body: dict, *, in_imagine: bool) -> None:
        """trueai's NewTask limits (SubmitController.cs:1039-1048): inside imagine's try/catch
        they become a code-4 envelope, elsewhere its exception filter answers them."""
        if self.flavor.name != "trueai":
            return
        state, hook = body.get("state"), body.get("notifyHook")
        for value, limit, message in (
            (state, 255, _TRUEAI_STATE_TOO_LONG),
            (hook, 2000, _TRUEAI_HOOK_TOO_LONG),
        ):
            if value is not None and len(str(value)) > limit:
                if in_imagine:
                    raise SimError(4, message)
                raise LogicError(message)

    def _decode(self, data: str) -> bytes:
        return decode_base64_image(data, data_url_only=not self.flavor.raw_base64)

    def _admit(self, task: SimTask) -> tuple[int, str, dict]:
        """Put a task in a slot or in the queue; the envelope code says which.

        Like OSS (DiscordInstanceImpl.java:110-134) and trueai (DiscordService.cs:1626-1665) the
        code is 22 only when other tasks already wait: the first task that waits gets code 1."""
        props: dict = {}
        if len(self.running) < self.concurrency:
            self._start(task)
            code, desc = 1, self.flavor.submit_description
        elif len(self.waiting) < self.queue_size:
            ahead = len(self.waiting)
            self.waiting.append(task.id)
            if ahead:
                code, desc = 22, f"排队中，前面还有{ahead}个任务"
                props = {"numberOfQueues": ahead}
            else:
                code, desc = 1, self.flavor.submit_description
        else:
            del self.tasks[task.id]
            self.created_by_action[task.action] -= 1
            code = self.flavor.queue_full_code
            desc = "提交失败，队列已满，请稍后重试" if code == 9 else "队列已满，请稍后尝试"
            # both name the account (DiscordInstanceImpl.java:118-121, DiscordService.cs:1628)
            props = {"discordInstanceId": wire.INSTANCE_ID}
            if self.flavor.name in ("trueai", "newapi"):
                props["discordChannelId"] = wire.INSTANCE_ID
            raise SimError(code, desc, properties=props)
        self._changed(task)
        return code, desc, props

    def _start(self, task: SimTask) -> None:
        """Occupy a slot and schedule the task's whole lifecycle."""
        self.running.add(task.id)
        quick = task.op in ("describe", "shorten")
        steps = _QUICK_STEPS if quick else _STEPS
        jitter = 0.9 + 0.2 * random.Random(task.seed).random()
        factor = (
            _MODE_FACTOR.get(task.mode, 1.0)
            * _ACTION_FACTOR.get(task.op, 1.0)
            * jitter
            / self.speed
        )
        run = task.run
        for offset, status, pct in steps:
            self._schedule(
                offset * factor, task.id, lambda t, s=status, p=pct: self._step(t, s, p, run)
            )
        if self.task_timeout is not None:
            self._schedule(self.task_timeout / self.speed, task.id, lambda t: self._timeout(t, run))

    def _release(self, task: SimTask) -> None:
        self.running.discard(task.id)
        if task.id in self.waiting:
            self.waiting.remove(task.id)
        while self.waiting and len(self.running) < self.concurrency:
            nxt = self.tasks.get(self.waiting.popleft())
            if nxt is not None and nxt.status == "NOT_START":
                self._start(nxt)

    def _step(self, task: SimTask, status: str, pct: int, run: int) -> None:
        if run != task.run or task.status in TERMINAL:
            return
        if task.stuck and task.status == "IN_PROGRESS":
            return
        if task.fail_at is not None and pct >= task.fail_at and status != "SUBMITTED":
            self._finish(task, "FAILURE", task.fail_reason_planned)
            return
        if status == "SUBMITTED":
            task.start_time = _now_ms()
        task.status, task.progress = status, pct
        if status == "SUCCESS":
            self._finish(task, "SUCCESS")
            return
        if pct == 93 and self.prerender and task.op not in ("describe", "shorten"):
            self._renderer.submit(self._prerender, task)
        self._changed(task)

    def _timeout(self, task: SimTask, run: int) -> None:
        if run == task.run and task.status in PENDING:
            self._finish(task, "FAILURE", "任务超时")

    def _finish(self, task: SimTask, status: str, reason: str | None = None) -> None:
        # Fetches read tasks without the engine's lock: the status changes last, so no answer
        # shows SUCCESS without its buttons (a client stops polling at SUCCESS).
        task.finish_time = _now_ms()
        task.finished_at = time.time()
        flavor = self.flavor
        if status == "SUCCESS":
            task.progress = 100
            task.buttons = self._buttons_for(task) if flavor.buttons else []
            if task.op in ("describe", "shorten"):
                task.final_prompt = task.result_text
                task.prompt_en = task.result_text
                if task.op == "describe" and flavor.describe_in_prompt:
                    task.prompt = task.result_text
            if flavor.name == "trueai":
                # FinishTask (DiscordWebSocketService.cs:2558-2571) and HandleShorten (:2705-2714)
                if task.op == "shorten":
                    task.description = task.result_text
                task.description = task.description or "Submit success"
                task.fail_reason = task.fail_reason or ""
                task.state = task.state or ""
        else:
            task.fail_reason = reason
        task.status = status
        self._release(task)
        self._changed(task)

    def _buttons_for(self, task: SimTask) -> list[dict]:
        media_buttons = self.media.buttons_for(task)
        if media_buttons is not None:
            return media_buttons
        if task.op in _GRID_OPS:
            return grid_buttons(task.job_hash)
        if task.op == "upsample":
            w, h = task.size
            return upscaled_buttons(task.version, task.job_hash, square=w == h)
        if task.op == "upscale_hd":
            return upscaled_buttons(task.version, task.job_hash, hd_done=True)
        if task.op == "describe":
            return describe_buttons()
        if task.op == "shorten":
            return shorten_buttons(task.message_id, 5)
        return []

    # ------------------------------------------------------------------ submit endpoints
    def imagine(self, body: dict, mode: str | None) -> tuple[int, str, str, dict]:
        prompt = str(body.get("prompt") or "").strip()
        if not prompt:
            if self.flavor.name == "newapi":
                raise RelayError("prompt_is_required")  # relay-mj.go:379-382
            raise SimError(4, "prompt不能为空")
        self._check_base(body, in_imagine=True)
        images = list(body.get("base64Array") or [])
        if body.get("base64"):
            images.append(body["base64"])
        bot = _bot_type(body.get("botType"))
        with self._lock:
            names = [self._store_attachment(self._decode(img)) for img in images]
            urls = [self._attachment_url(n) for n in names]
            full_prompt = " ".join(urls + [prompt])
            self._check_banned(prompt)
            task = self._make_task(
                op="imagine",
                prompt=full_prompt,
                description=f"/imagine {full_prompt}",
                body=body,
                bot_type=bot,
                mode=mode,
            )
            task.image_inputs = names
            task.size = self._grid_size(task, prompt)
            self._check_banned(prompt, task)
            code, desc, props = self._admit(task)
            task.newapi = {"action": "IMAGINE", "prompt": prompt, "description": desc}
            return code, desc, task.id, props

    def _grid_size(self, task: SimTask, prompt: str) -> tuple[int, int]:
        ratios = _AR_RE.findall(prompt)
        try:
            w, h = render.tile_size(ratios[-1] if ratios else None)
        except ValueError as exc:
            self._plan_failure(task, f"[Invalid parameter] {exc}")
            w, h = render.tile_size(None)
        return (2 * w, 2 * h)

    def _parent_for_action(self, task_id: str) -> SimTask:
        """The pressed task, with each flavour's answer when it is missing or not finished."""
        parent = self.tasks.get(task_id)
        if self.flavor.name == "newapi":
            # relay-mj.go:422-430: new-api looks in its own table, and at its own (lagging) status
            if parent is None or not parent.newapi:
                raise RelayError("task_not_found")
            seen = self.visible_view(parent)
            if seen is None or seen["status"] != "SUCCESS":
                raise RelayError("task_status_not_success")
            return parent
        if parent is None:
            raise SimError(3, "关联任务不存在或已失效", self.flavor.missing_parent_http)
        if parent.status != "SUCCESS":
            raise SimError(4, "关联任务状态错误")
        return parent

    def action(self, body: dict, mode: str | None) -> tuple[int, str, str, dict]:
        task_id = str(body.get("taskId") or "")
        custom_id = str(body.get("customId") or "")
        flavor = self.flavor
        newapi_name = None
        if flavor.name == "newapi":  # the distributor maps the customId before anything else
            if not custom_id:
                raise GatewayError("Invalid request: custom_id_is_required")
            newapi_name = newapi_action(custom_id)
            if newapi_name is None:
                raise GatewayError(f"Invalid request: unknown_action:{custom_id}")
        if not task_id or not custom_id:
            if flavor.name == "trueai":
                raise SimError(4, "参数错误")
            raise SimError(4, "taskId不能为空" if not task_id else "customId不能为空")
        with self._lock:
            parent = self._parent_for_action(task_id)
            if flavor.name == "trueai" and not trueai_accepts(custom_id):
                raise SimError(4, "未知的 Action 类型")
            self._check_base(body, in_imagine=False)
            press = parse_press(custom_id)
            if press.kind == "unknown":
                raise SimError(4, "未知的 Action 类型")
            if (
                flavor.name == "trueai"
                and press.kind == "reroll"
                and parent.action not in TRUEAI_REROLLABLE
            ):
                raise SimError(4, "该任务不支持重新生成")
            is_button = custom_id in {b["customId"] for b in parent.buttons}
            if not is_button and self.strict:
                raise SimError(
                    4,
                    f"未知的 Action 类型: customId {custom_id!r} is not a button "
                    f"of task {parent.id}",
                )
            if press.kind == "bookmark":
                return 1, "成功", parent.id, {}
            needs_modal = press.kind in _MODAL_ALWAYS or (
                press.kind in _MODAL_WITH_REMIX and (self.remix or body.get("enableRemix"))
            )
            task = self._child(parent, press, body, mode)
            if not is_button:
                self._plan_failure(task, _FAIL_NOT_A_BUTTON)
            if press.kind == "upsample" and is_button:
                for b in parent.buttons:
                    if b["customId"] == custom_id:
                        b["style"] = 1  # Discord marks a used U button
            newapi_row = {
                "action": newapi_name or task.action,
                "prompt": parent.newapi.get("prompt", ""),
            }
            if needs_modal:
                task.status = "MODAL"
                task.modal_kind = press.kind
                prompt = "" if press.kind == "inpaint" else (task.prompt or "")
                if press.kind == "inpaint":
                    task.prompt = task.prompt_en = ""
                task.final_prompt = prompt
                if flavor.name == "trueai" and press.kind == "custom_zoom":
                    task.description = flavor.modal_description  # SubmitController.cs:654-658
                self._changed(task)
                task.newapi = {**newapi_row, "description": flavor.modal_description}
                props = {"finalPrompt": prompt, "remix": True}
                return 21, flavor.modal_description, task.id, props
            code, desc, props = self._admit(task)
            task.newapi = {**newapi_row, "description": desc}
            return code, desc, task.id, props

    def _child(self, parent: SimTask, press: Press, body: dict, mode: str | None) -> SimTask:
        op = {
            "describe_pick": "imagine",
            "shorten_pick": "imagine",
            "describe_retry": "describe",
            "shorten_details": "shorten",
        }.get(press.kind, press.kind)
        prompt = parent.prompt or ""
        if press.kind == "describe_pick":
            picks = _numbered(parent.result_text)
            prompt = (picks[press.index - 1 : press.index] or [prompt])[0]
        elif press.kind == "shorten_pick":
            picks = _numbered(parent.result_text.split("## Shortened prompts", 1)[-1])
            prompt = (picks[press.index - 1 : press.index] or [prompt])[0]
        label = _press_label(press)
        # trueai leaves an action's description empty until it finishes ("Submit success")
        description = None if self.flavor.name == "trueai" else f"/up {parent.id} {label}"
        task = self._make_task(
            op=op,
            prompt=prompt,
            description=description,
            body=body,
            bot_type=parent.bot_type,
            mode=mode or parent.mode,
            parent=parent,
            press=press,
        )
        task.image_inputs = list(parent.image_inputs)
        task.size = _child_size(parent, press, op)
        if op == "shorten":
            task.result_text = _shorten_text(prompt, details=True)
        if op == "describe":
            task.result_text = parent.result_text
            task.final_prompt = ""
        self.media.setup_child(task, parent, press)
        return task

    def modal(self, body: dict) -> tuple[int, str, str, dict]:
        task_id = str(body.get("taskId") or "")
        flavor = self.flavor
        if not task_id:
            raise SimError(4, "参数错误" if flavor.name == "trueai" else "taskId不能为空")
        with self._lock:
            task = self.tasks.get(task_id)
            if flavor.name == "newapi" and (task is None or not task.newapi):
                raise RelayError("task_not_found")  # relay-mj.go:414-424
            if task is None:
                raise SimError(3, "关联任务不存在或已失效", flavor.missing_parent_http)
            if task.status != "MODAL":
                if self.strict:
                    raise SimError(4, f"任务状态错误: task {task_id} is {task.status}, not MODAL")
                if task.status in PENDING:  # already queued or running: nothing to resubmit
                    return 1, flavor.submit_description, task.id, {}
            parent = self.tasks.get(task.parent_id) if task.parent_id else None
            kind = task.modal_kind or (task.press.kind if task.press else None)
            prompt = str(body.get("prompt") or "").strip() or (
                (parent.prompt or parent.final_prompt)
                if parent and kind not in _MODAL_ALWAYS[2:]
                else (task.prompt or "")
            )
            if not prompt and flavor.name == "trueai":
                raise SimError(4, "prompt不能为空")  # SubmitController.cs:734-737
            self._check_banned(prompt)
            if task.status != "MODAL":
                self._reset_for_rerun(task)
            if kind == "inpaint":
                task.mask_png = self._mask(body.get("maskBase64"), parent, task)
            elif kind == "custom_zoom":
                zoom = _zoom_of(prompt)
                if zoom is None or not 1.0 <= zoom <= 2.0:
                    if self.strict:
                        raise SimError(
                            4,
                            "Custom Zoom needs --zoom between 1 and 2 in the prompt, "
                            "e.g. 'a cat --zoom 1.5'",
                        )
                    self._plan_failure(task, _FAIL_BAD_ZOOM)
                    zoom = 2.0
                task.press = Press("custom_zoom", zoom=zoom)
            task.prompt = task.prompt_en = prompt
            task.final_prompt = prompt
            if flavor.name != "trueai":
                task.description = f"{task.description} (modal)"
            task.status = "NOT_START"
            task.modal_kind = None
            task.modal_submitted = True
            if body.get("state"):
                task.state = body.get("state")
            code, desc, props = self._admit(task)
            if flavor.name == "newapi":
                task.newapi = {**task.newapi, "action": "MODAL", "description": desc}
            return code, desc, task.id, props

    def _reset_for_rerun(self, task: SimTask) -> None:
        """A finished task sent to /submit/modal again runs again (trueai's SubmitModal
        enqueues whatever task it is given: TaskService.cs:2052-2090)."""
        self.by_job.pop(task.job_hash, None)
        task.job_hash = self._new_hash()
        task.seed = int(hashlib.sha256(task.job_hash.encode()).hexdigest()[:8], 16)
        self.by_job[task.job_hash] = task.id
        task.run += 1
        task.progress = 0
        task.start_time = task.finish_time = task.finished_at = None
        task.first_read_finished = None
        task.fail_reason = None
        task.buttons = []
        with self._cache_lock:
            self._images.pop(task.id, None)
            for key in [k for k in self._encoded if k[0] == task.id]:
                del self._encoded[key]

    def _mask(self, mask_b64, parent: SimTask | None, task: SimTask) -> bytes | None:
        if self.strict:
            return self._checked_mask(mask_b64, parent)
        # trueai does not parse maskBase64 at all (SubmitController.cs:751-756): whatever the
        # client sends goes to Midjourney, which repaints what it can read.
        try:
            mask = _open_image(decode_base64_image(str(mask_b64 or "")))
        except SimError:
            self._plan_failure(task, _FAIL_BAD_MASK)
            return None
        mask = mask.convert("L")
        if parent is not None and parent.size[0] and mask.size != parent.size:
            mask = mask.resize(parent.size, Image.Resampling.NEAREST)
        out = io.BytesIO()
        mask.point(lambda v: 255 if v >= 128 else 0).save(out, "PNG")
        return out.getvalue()

    def _checked_mask(self, mask_b64, parent: SimTask | None) -> bytes:
        if not mask_b64:
            raise SimError(4, "maskBase64不能为空: Vary (Region) needs a mask")
        raw = decode_base64_image(str(mask_b64))
        if not raw.startswith(b"\x89PNG\r\n\x1a\n"):
            raise SimError(4, "maskBase64 must be a PNG image (data:image/png;base64,…)")
        mask = _open_image(raw)
        if parent is not None and mask.size != parent.size:
            raise SimError(
                4,
                f"mask is {mask.size[0]}x{mask.size[1]} but the image is "
                f"{parent.size[0]}x{parent.size[1]}: the mask must have the image's exact size",
            )
        binary = mask.convert("L").point(lambda v: 255 if v >= 128 else 0)
        if binary.getbbox() is None:
            raise SimError(4, "mask selects nothing: paint the region to vary in white")
        out = io.BytesIO()
        binary.save(out, "PNG")
        return out.getvalue()

    def blend(self, body: dict, mode: str | None) -> tuple[int, str, str, dict]:
        images = list(body.get("base64Array") or [])
        if not 2 <= len(images) <= 5:
            if self.flavor.name == "trueai":
                raise SimError(4, "图片参数错误，2~5张图片")  # SubmitController.cs:386-390
            raise SimError(4, "base64List参数错误")
        dimensions = str(body.get("dimensions") or "SQUARE").upper()
        if dimensions not in _DIMENSIONS:
            raise SimError(4, "dimensions参数错误")
        self._check_base(body, in_imagine=False)
        with self._lock:
            names = [self._store_attachment(self._decode(img)) for img in images]
            task = self._make_task(
                op="blend",
                prompt="",
                description="",
                body=body,
                bot_type=_bot_type(body.get("botType")),
                mode=mode,
            )
            task.description = f"/blend {task.id} {len(names)}"
            task.prompt = task.prompt_en = " ".join(self._attachment_url(n) for n in names)
            task.final_prompt = task.prompt
            task.image_inputs = names
            w, h = render.tile_size(_DIMENSIONS[dimensions])
            task.size = (2 * w, 2 * h)
            code, desc, props = self._admit(task)
            task.newapi = {"action": "BLEND", "prompt": "", "description": desc}
            return code, desc, task.id, props

    def describe(self, body: dict, mode: str | None) -> tuple[int, str, str, dict]:
        flavor = self.flavor
        if body.get("base64"):
            raw = self._decode(body["base64"])
        elif body.get("link") and flavor.name != "oss":
            link = str(body["link"])
            if flavor.name == "trueai" and not re.match(r"^https?://.+", link):
                raise SimError(4, "链接格式错误")
            raw = self._attachment_from_url(link)
        elif flavor.name == "trueai":
            raise SimError(4, "base64或link不能为空")
        else:
            raise SimError(4, "base64不能为空")
        self._check_base(body, in_imagine=False)
        with self._lock:
            name = self._store_attachment(raw)
            image = _open_image(raw)
            task = self._make_task(
                op="describe",
                prompt=None,
                description="/describe",
                body=body,
                bot_type=_bot_type(body.get("botType")),
                mode=mode,
            )
            if flavor.name != "trueai":  # OSS SubmitController.java:167-168
                task.description = f"/describe {task.id}.{name.rsplit('.', 1)[-1]}"
            task.prompt_en = None
            task.final_prompt = ""
            task.image_inputs = [name]
            task.size = image.size
            prompts = render.describe_prompts(image.convert("RGB"), task.seed)
            digits = ["1️⃣", "2️⃣", "3️⃣", "4️⃣"]
            task.result_text = "\n\n".join(
                f"{d} {p}" for d, p in zip(digits, prompts, strict=False)
            )
            code, desc, props = self._admit(task)
            task.newapi = {"action": "DESCRIBE", "prompt": "", "description": desc}
            return code, desc, task.id, props

    def shorten(self, body: dict, mode: str | None) -> tuple[int, str, str, dict]:
        prompt = str(body.get("prompt") or "").strip()
        if not prompt:
            raise SimError(4, "prompt不能为空")
        self._check_base(body, in_imagine=False)
        with self._lock:
            task = self._make_task(
                op="shorten",
                prompt=prompt,
                description=f"/shorten {prompt}",
                body=body,
                bot_type=_bot_type(body.get("botType")),
                mode=mode,
            )
            task.result_text = _shorten_text(prompt)
            code, desc, props = self._admit(task)
            task.newapi = {"action": "SHORTEN", "prompt": prompt, "description": desc}
            return code, desc, task.id, props

    def upload(self, body: dict) -> list[str]:
        images = list(body.get("base64Array") or [])
        if not images:
            raise SimError(
                4, "base64 参数错误" if self.flavor.name == "trueai" else "base64Array不能为空"
            )
        with self._lock:
            raws = [self._decode(img) for img in images]
            for raw in raws:
                _open_image(raw)
            return [self._attachment_url(self._store_attachment(raw)) for raw in raws]

    def change(self, body: dict, mode: str | None) -> tuple[int, str, str, dict]:
        """Legacy `/submit/change`: U/V/R by index, mapped onto the parent's buttons."""
        action = str(body.get("action") or "").upper()
        try:
            index = int(body.get("index") or 0)
        except (TypeError, ValueError):
            index = 0
        task_id = str(body.get("taskId") or "")
        if self.flavor.name == "newapi" and task_id:  # relay-mj.go:392-401
            if not action:
                raise RelayError("action_is_required")
            if index == 0:
                raise RelayError("index_is_required")
        with self._lock:
            if self.flavor.name == "newapi" and task_id:
                parent = self._parent_for_action(task_id)
            else:
                found = self.tasks.get(task_id)
                if not task_id:
                    raise SimError(4, "taskId不能为空")
                if found is None:
                    raise SimError(3, "关联任务不存在或已失效")
                if found.status != "SUCCESS":
                    raise SimError(4, "关联任务状态错误")
                parent = found
            if parent.op not in ("imagine", "variation", "reroll", "blend"):
                raise SimError(4, "关联任务不允许执行变化")
            kinds = {"UPSCALE": "upsample", "VARIATION": "variation", "REROLL": "reroll"}
            if action not in kinds or (action != "REROLL" and not 1 <= index <= 4):
                raise SimError(4, "action参数错误")
            press = Press(kinds[action], index=index)
            task = self._child(parent, press, body, mode)
            task.description = f"/up {parent.id} {_press_label(press)}"
            code, desc, props = self._admit(task)
            task.newapi = {
                "action": action,
                "prompt": parent.newapi.get("prompt", ""),
                "description": desc,
            }
            return code, desc, task.id, props

    # ------------------------------------------------------------------ queries
    def cancel(self, task_id: str) -> None:
        with self._lock:
            task = self.tasks.get(task_id)
            if self.flavor.name == "trueai":
                # TaskController.cs:86-125: 200 whatever the id; only a running task changes
                if task is not None and task.status not in TERMINAL:
                    self._finish(task, "FAILURE", "取消任务")
                return
            if task is None:
                raise SimError(3, "任务不存在", 404)
            if task.status in TERMINAL:
                raise SimError(4, f"任务已结束: task {task_id} is {task.status}", 400)
            self._finish(task, self.flavor.cancel_status, "取消任务")

    def image_seed(self, task_id: str) -> str:
        with self._lock:
            task = self.tasks.get(task_id)
            flavor = self.flavor.name
            if flavor == "newapi" and (task is None or not task.newapi):
                raise RelayError("task_no_found")  # relay-mj.go:255-261
            if task is None:
                if flavor == "trueai":  # TaskController.cs:132-160
                    raise SimError(3, "关联任务不存在或已失效", 404)
                raise SimError(3, "任务不存在", 404)
            if task.status != "SUCCESS":
                if flavor == "trueai":
                    raise SimError(4, "关联任务状态错误", 400)
                raise SimError(4, "任务没有消息 hash", 400)
            seed = str(task.seed % 4_294_967_295)
            if task.seed_shown != seed:
                task.seed_shown = seed  # trueai stores it on the task (TaskService.cs:2097-2150)
                task.history.append((time.monotonic(), task.view()))
            return seed

    def get(self, task_id: str) -> SimTask | None:
        task = self.tasks.get(task_id)
        if task is not None and self.flavor.name == "newapi" and not task.newapi:
            return None  # a task new-api never recorded (its submit failed)
        return task

    def visible_view(self, task: SimTask) -> dict | None:
        """What a client can see now: live, or as of the last refresh for lagging gateways
        (None: not refreshed yet)."""
        if not self.flavor.refresh_period:
            return task.view()
        now = time.monotonic()
        self._run_refreshes(now)
        visible = None
        for stamp, view in task.shown:
            if stamp <= now:
                visible = view
            else:
                break
        return visible

    def _schedule_cycle(self, start: float) -> None:
        low, high = self.flavor.refresh_upstream_s
        self._cycle_start = start
        self._cycle_read = start + self._refresh_random.uniform(low, high) / self.speed

    def _run_refreshes(self, now: float) -> None:
        """The relay's refresh cycles whose upstream read is due by ``now``: each reads the
        unfinished rows (GetAllUnFinishTasks), asks the upstream for them, writes each changed
        one (checkMjTaskNeedUpdate, UpdateWithStatus) a row's write after the other, and the
        loop sleeps the period from the end of that work (controller/midjourney.go,
        UpdateMidjourneyTaskBulk)."""
        period = self.flavor.refresh_period / self.speed
        row_s = self.flavor.refresh_row_s / self.speed
        with self._lock:
            while self._cycle_read <= now:
                start, read = self._cycle_start, self._cycle_read
                rows = [
                    t
                    for t in self.tasks.values()
                    if t.newapi
                    and t.history
                    and t.history[0][0] <= start
                    and not (t.shown and t.shown[-1][1]["status"] in ("SUCCESS", "FAILURE"))
                ]
                if not rows:  # nothing unfinished: the loop goes back to sleep at once
                    if not any(t.history and t.history[0][0] > start for t in self.tasks.values()):
                        idle = max(1, math.floor((now - start) / period))  # none until now
                        self._schedule_cycle(start + idle * period)
                    else:
                        self._schedule_cycle(start + period)
                    continue
                self.refresh_reads.append(read)
                written = 0
                for task in rows:
                    upstream = None
                    for stamp, view in task.history:
                        if stamp > read:
                            break
                        upstream = view
                    if upstream is None or (task.shown and task.shown[-1][1] == upstream):
                        continue
                    written += 1
                    task.shown.append((read + written * row_s, upstream))
                self._schedule_cycle(read + written * row_s + period)

    def task_json(self, task: SimTask, *, live: bool = False) -> dict:
        """The task as this flavour's fetch answers it."""
        if self.flavor.name == "newapi":
            view = task.view() if live else self.visible_view(task)
            data = wire.newapi_task(self, task, view)
        else:
            data = wire.BUILDERS[self.flavor.name](self, task, task.view())
        self.media.update_task_json(task, data, str(data.get("status") or ""))
        return data

    def status_read(self, task: SimTask) -> dict:
        """The task as a fetch or a list answers it, noting the first answer that showed it
        finished (benchmarks measure what part of a client's lag was the wait for its look)."""
        data = self.task_json(task)
        if task.first_read_finished is None and data.get("status") in TERMINAL:
            task.first_read_finished = time.time()
        return data

    def image_url(self, task: SimTask, view: dict) -> str | None:
        status = view["status"]
        if task.op == "shorten":
            return None
        if task.op == "describe":
            return self._attachment_url(task.image_inputs[0]) if task.image_inputs else None
        if status == "SUCCESS" and task.op in VIDEO_OPS:
            return self.media.image_url(task)
        if status == "SUCCESS":
            return f"{self.image_base}/mj/image/{task.id}"
        if status == "IN_PROGRESS" and view["progress"] > 0:
            return f"{self.image_base}/mj/image/{task.id}?progress={view['progress']}"
        return None

    def tile_urls(self, task: SimTask) -> list[dict] | None:
        """trueai's `imageUrls` with EnableFillOfficialCdn (TaskInfo.cs:748-777): one full-size
        PNG and one 640-wide WebP thumbnail per tile of a finished grid."""
        if not self.image_urls or task.op not in _GRID_OPS:
            return None
        found = _BS_RE.search(task.prompt or "")
        count = int(found.group(1)) if found and 1 <= int(found.group(1)) <= 4 else 4
        base = f"{self.image_base}/cdn/{task.job_hash}"
        return [
            {"url": f"{base}/0_{i}.png", "thumbnail": f"{base}/0_{i}_640_N.webp"}
            for i in range(count)
        ]

    def stats(self) -> dict:
        with self._lock:
            statuses: dict[str, int] = {}
            for task in self.tasks.values():
                statuses[task.status] = statuses.get(task.status, 0) + 1
            return {
                "tasks": len(self.tasks),
                "tasks_by_action": dict(self.created_by_action),
                "tasks_by_status": statuses,
                "running": len(self.running),
                "waiting": len(self.waiting),
                "updates": self.total_updates,
                "images_drawn": self.images_drawn,
                # a relay's refresh cycles so far: when each read the upstream (wall clock)
                "refresh_reads": [_wall(read) for read in self.refresh_reads],
            }

    def timings(self) -> list[dict]:
        """Server-side facts per task, so a benchmark can measure a client's detection lag
        (``shown_at``: when a relay's row first showed it finished, wall clock)."""
        with self._lock:
            if self.flavor.refresh_period:
                self._run_refreshes(time.monotonic())
            return [
                {
                    "id": t.id,
                    "action": t.action,
                    "status": t.status,
                    "state": t.state,
                    "submitted_at": t.submit_time / 1000,
                    "finished_at": t.finished_at,
                    "first_read_finished": t.first_read_finished,
                    "shown_at": _shown_finished(t) if self.flavor.refresh_period else None,
                    "updates": t.updates,
                    "parent_id": t.parent_id,
                }
                for t in self.tasks.values()
            ]

    # ------------------------------------------------------------------ attachments and images
    def _store_attachment(self, raw: bytes) -> str:
        img = _open_image(raw)
        ext = (img.format or "PNG").lower().replace("jpeg", "jpg")
        name = f"{hashlib.sha1(raw).hexdigest()[:20]}.{ext}"
        self.attachments[name] = (raw, Image.MIME.get(img.format or "PNG", "image/png"))
        return name

    def _attachment_url(self, name: str) -> str:
        url = f"{self.image_base}/mj/attachments/{name}"
        ttl = self.dice.config.attachment_ttl
        if ttl is None:
            return url
        now = int(time.time())  # Discord's signed CDN links: ex= expiry, is= issue, hex seconds
        signature = hashlib.sha1(f"{name}{now}".encode()).hexdigest()[:16]
        return f"{url}?ex={now + int(ttl):x}&is={now:x}&hm={signature}"

    def _attachment_from_url(self, url: str) -> bytes:
        name = url.rsplit("/", 1)[-1].split("?", 1)[0]
        if "/mj/attachments/" in url and name in self.attachments:
            return self.attachments[name][0]
        raise SimError(4, "link参数错误: the simulator can only describe its own uploads")

    def attachment(self, name: str) -> tuple[bytes, str] | None:
        return self.attachments.get(name)

    def image_bytes(self, task_id: str, progress: int | None) -> tuple[bytes, str] | None:
        """Encoded image for /mj/image/{id}: the final image, or the preview at a progress."""
        task = self.tasks.get(task_id)
        if task is None or task.op in ("shorten",):
            return None
        ttl = self.dice.config.image_ttl
        finished = task.finished_at
        if ttl is not None and finished is not None and time.time() - finished > ttl:
            self.dice.count("image_expired")
            return None
        if progress is None and task.status != "SUCCESS":
            if self.flavor.name != "newapi":
                return None
            # new-api's /mj/image/{id} streams whatever image the row holds now, the preview
            # included (relay-mj.go:26-64)
            seen = self.visible_view(task)
            if seen is None or seen["status"] != "IN_PROGRESS" or not seen["progress"]:
                return None
            progress = seen["progress"]
        return self._encoded_image(task, progress)

    def tile_image(self, job: str, name: str) -> tuple[bytes, str] | None:
        """A CDN-style tile of a finished grid: `0_{i}.png` full size, `0_{i}_640_N.webp` a
        640-pixel-wide thumbnail (the names trueai writes into `imageUrls`)."""
        found = re.fullmatch(r"0_([0-3])(_640_N\.webp|\.png)", name)
        task = self.tasks.get(self.by_job.get(job, ""))
        if found is None or task is None or task.status != "SUCCESS" or task.op not in _GRID_OPS:
            return None
        index, thumb = int(found.group(1)), found.group(2) != ".png"
        key = (task.id, "thumb" if thumb else "tile", index)
        cached = self._cached_encoding(key)
        if cached is not None:
            return cached
        tile = render.tile_of(self._final_image(task), index + 1)
        if thumb:
            w, h = tile.size
            tile = tile.resize((640, max(1, round(h * 640 / w))), Image.Resampling.LANCZOS)
            result = (render.encode(tile, "WEBP"), "image/webp")
        else:
            result = (render.encode(tile, "PNG"), "image/png")
        with self._cache_lock:
            self._encoded[key] = result
        return result

    def _cached_encoding(self, key: tuple) -> tuple[bytes, str] | None:
        with self._cache_lock:
            if key in self._encoded:
                self._encoded.move_to_end(key)
                return self._encoded[key]
        return None

    def _prerender(self, task: SimTask) -> None:
        """Draw and encode a final image before the job finishes, as a CDN would already hold
        it: clients then measure their own latency, not the simulator's drawing."""
        try:
            self.media.prerender(task)
            self._encoded_image(task, None)
        except Exception:  # a failed prerender only means the first GET draws it
            log.exception("prerendering %s failed", task.id)

    def _encoded_image(self, task: SimTask, progress: int | None) -> tuple[bytes, str]:
        key = (task.id, progress)
        found = self._cached_encoding(key)
        if found is not None:
            return found
        with task.lock:
            found = self._cached_encoding(key)  # drawn while we waited for the lock
            if found is not None:
                return found
            if task.op in VIDEO_OPS and progress is None:
                result = self.media.clip_bytes(task.id, 0)
            elif progress is None:
                result = (render.encode(self._final_image(task), "PNG"), "image/png")
            else:
                source = self._final_image(task)
                result = (render.encode(render.preview(source, progress), "WEBP"), "image/webp")
            with self._cache_lock:
                self._encoded[key] = result
                while sum(len(v[0]) for v in self._encoded.values()) > 400_000_000:
                    self._encoded.popitem(last=False)
        return result

    def _final_image(self, task: SimTask) -> Image.Image:
        with self._cache_lock:
            if task.id in self._images:
                self._images.move_to_end(task.id)
                return self._images[task.id]
        image = self._render(task)
        with self._cache_lock:
            self.images_drawn += 1
            self._images[task.id] = image
            while len(self._images) > 24:
                self._images.popitem(last=False)
        return image

    def _render(self, task: SimTask) -> Image.Image:
        """Draw a task's final image from its recipe (and its parent's image)."""
        op, seed = task.op, task.seed
        parent = self.tasks.get(task.parent_id) if task.parent_id else None
        media_image = self.media.render(task)
        if media_image is not None:
            return media_image
        parent_img = self._final_image(parent) if parent is not None and op != "imagine" else None
        caption = _caption(task, parent)
        if op in _DRAWN_FROM_PARENT:
            if parent_img is None or task.press is None:
                raise RuntimeError(
                    f"cannot draw {op} task {task.id}: it needs its parent's image and the "
                    "button press that made it"
                )
            return self._render_from_parent(task, parent_img, _is_grid(parent), task.press, caption)
        if op == "describe":
            return _open_image(self.attachments[task.image_inputs[0]][0]).convert("RGB")
        size = (task.size[0] // 2, task.size[1] // 2)
        prompt = task.prompt or ""  # only a /describe task has no prompt
        if op == "imagine" and task.image_inputs:
            base = self._attachment_image(task.image_inputs[0], size)
            tiles = [render.vary_tile(base, seed, j, 0.6, caption) for j in _TILE_INDEXES]
        elif op == "reroll":
            tiles = [render.reroll_tile(prompt, seed, j, size, caption) for j in _TILE_INDEXES]
        elif op == "blend":
            base = self._blend_base(task, size)
            tiles = [render.vary_tile(base, seed, j, 0.4, caption) for j in _TILE_INDEXES]
        else:  # imagine, and any other task drawn fresh from its prompt
            tiles = [render.imagine_tile(prompt, seed, j, size, caption) for j in _TILE_INDEXES]
        return render.grid(tiles)

    def _render_from_parent(
        self,
        task: SimTask,
        parent_img: Image.Image,
        parent_is_grid: bool,
        press: Press,
        caption: str,
    ) -> Image.Image:
        """Draw a task a button press made, from its parent's image."""
        op, seed = task.op, task.seed
        if op == "upsample":
            return render.tile_of(parent_img, press.index)
        if op == "upscale_hd":
            return render.upscale(parent_img, press.factor, press.variant, seed)
        if op == "variation":
            base = render.tile_of(parent_img, press.index) if parent_is_grid else parent_img
            tiles = [render.vary_tile(base, seed, j, _STRENGTH[op], caption) for j in _TILE_INDEXES]
        elif op in ("low_variation", "high_variation"):
            tiles = [
                render.vary_tile(parent_img, seed, j, _STRENGTH[op], caption) for j in _TILE_INDEXES
            ]
        elif op in ("outpaint", "custom_zoom"):
            zoom = press.zoom or 2.0
            tiles = [render.zoom_tile(parent_img, zoom, seed, j, caption) for j in _TILE_INDEXES]
        elif op == "pan":
            tiles = [
                render.pan_tile(parent_img, press.direction, seed, j, caption)
                for j in _TILE_INDEXES
            ]
        else:  # inpaint
            if task.mask_png is None:
                raise RuntimeError(
                    f"cannot draw Vary (Region) task {task.id}: it has no mask (a task whose "
                    "mask could not be read fails before it is drawn)"
                )
            mask = Image.open(io.BytesIO(task.mask_png)).convert("L")
            prompt = task.prompt or ""
            tiles = [render.inpaint_tile(parent_img, mask, seed, j, prompt) for j in _TILE_INDEXES]
        return render.grid(tiles)

    def _attachment_image(self, name: str, size: tuple[int, int]) -> Image.Image:
        img = _open_image(self.attachments[name][0]).convert("RGB")
        return img.resize(size, Image.Resampling.LANCZOS)

    def _blend_base(self, task: SimTask, size: tuple[int, int]) -> Image.Image:
        images = [_open_image(self.attachments[n][0]) for n in task.image_inputs]
        return render.blend_layout(images, size)  # halves / quadrants of the inputs


# ---------------------------------------------------------------------- helpers
def _bot_type(value) -> str:
    text = str(value or "").upper()
    return "NIJI_JOURNEY" if text in ("NIJI_JOURNEY", "NIJI") else "MID_JOURNEY"


def _is_grid(task: SimTask | None) -> bool:
    return task is not None and task.op in _GRID_OPS


def _child_size(parent: SimTask, press: Press, op: str) -> tuple[int, int]:
    w, h = parent.size
    if op == "upsample":
        return (w // 2, h // 2) if _is_grid(parent) else (w, h)
    if op == "upscale_hd":
        return (w * press.factor, h * press.factor)
    if op == "variation":
        return (w, h) if _is_grid(parent) else (2 * w, 2 * h)
    if op in ("reroll",):
        return (w, h) if _is_grid(parent) else (2 * w, 2 * h)
    if op in ("low_variation", "high_variation", "outpaint", "custom_zoom", "pan", "inpaint"):
        return (2 * w, 2 * h)
    if op == "animate":
        scale = 512 / max(w, h)
        return (max(1, int(w * scale)), max(1, int(h * scale)))
    if op == "imagine":
        return render.tile_size(None)[0] * 2, render.tile_size(None)[1] * 2
    return (w, h)


def _press_label(press: Press) -> str:
    return {
        "upsample": f"U{press.index}",
        "variation": f"V{press.index}",
        "reroll": "R",
        "low_variation": "Vary (Subtle)",
        "high_variation": "Vary (Strong)",
        "upscale_hd": f"Upscale ({press.variant if press.variant != 'plain' else press.factor})",
        "inpaint": "Vary (Region)",
        "outpaint": f"Zoom Out {press.zoom:g}x",
        "custom_zoom": "Custom Zoom",
        "pan": f"Pan {press.direction}",
        "animate": f"Animate ({press.motion} motion)",
    }.get(press.kind, press.kind)


def _caption(task: SimTask, parent: SimTask | None) -> str:
    if parent is None or task.press is None:
        return f"{task.op} {task.id}"
    return f"{_press_label(task.press)} of {parent.id}"


def _zoom_of(prompt: str) -> float | None:
    found = _ZOOM_RE.findall(prompt or "")
    return float(found[-1]) if found else None


def _numbered(text: str) -> list[str]:
    """The prompts of a describe/shorten answer, without their number emoji."""
    items = []
    for line in (text or "").splitlines():
        line = line.strip()
        for digit in ("1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣"):
            if line.startswith(digit):
                items.append(line[len(digit) :].strip())
    return items


def _shorten_text(prompt: str, details: bool = False) -> str:
    """A Plus-style shorten answer: important tokens, then five shorter prompts."""
    core, _, params = prompt.partition(" --")
    params = f" --{params}" if params else ""
    words = [w.strip(",.") for w in core.split() if len(w.strip(",.")) > 2]
    tokens = ", ".join(words[:6]) or core
    lines = ["## Important tokens", tokens, "", "## Shortened prompts"]
    digits = ["1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣"]
    for i, digit in enumerate(digits):
        keep = max(1, len(words) - i)
        lines.append(f"{digit} {' '.join(words[:keep]) or core}{params}")
    if details:
        lines += ["", "## Details"] + [f"{w}: {1.0 / (n + 1):.2f}" for n, w in enumerate(words)]
    return "\n".join(lines)
