"""The Midjourney-proxy ``/mj/...`` API as Python calls: imagine, press a button, finish a modal.

Speaks to midjourney-proxy (OSS), its Plus/trueai forks and new-api resellers (DeerAPI …) — see
``shared/reference/mj-proxy-api.md``. HTTP, the key, retries and the reply → error table live in
``transport``; prompt rules in ``prompt``; image inputs in ``media``. What this module adds:

* **Journaling before every paid submit.** The journal (the history store, when a tracker is
  attached) commits the intent before the POST leaves and the task right after the answer, so a
  lost reply never turns into a silent duplicate.
* **One request per submit.** The submit's answer is the task: its id, and its status from the
  code (21 → MODAL, 22 → queued) or from the description new-api keeps when it rewrites codes to 1
  ("Waiting for window confirm"). No re-read: the tracker's next poll brings the rest.
* **Tasks that know their server**: every Task comes back bound to this client (``task.server``,
  ``task.backend``), so ``task.wait()``, ``task.image()`` and ``task.save()`` work in a script.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from . import media, records, references, renditions
from .capabilities import Capabilities
from .errors import (
    MJError,
    RateLimitError,
    ServerError,
    TaskFailed,
    TaskTimeout,
    TransportError,
    UnsupportedError,
    ValidationError,
)
from .imagecalls import ImageCalls
from .journal import SubmitJournal, journal_body, new_state, tell_accepted
from .keys import redact, redacting_logger
from .models import RESULT_ACTIONS, Button, ButtonKind, Status, Task
from .prompt import Prompt, checked_text
from .replies import error_for_reply
from .transport import AUTH_STYLES, MODES, Transport
from .videorequest import VideoCalls

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["Client", "SubmitJournal", "AUTH_STYLES", "MODES"]

log = redacting_logger("mjwidgets.client")

_BOTS = {"mj": "MID_JOURNEY", "niji": "NIJI_JOURNEY"}
# What a submit's description says when the task waits for a modal: new-api rewrites code 21 to
# 1 but keeps the text (relay/relay-mj.go), trueai and Plus use it with code 21.
_MODAL_WORDS = ("waiting for window confirm", "窗口等待")


class Client(ImageCalls, VideoCalls):
    """Client of one Midjourney-proxy server.

    ``base_url``/``api_key``/``auth`` default to ``MJ_BASE_URL``/``MJ_API_KEY``/``MJ_AUTH``; with no
    base URL at all an embedded simulator is started. ``auth`` is "bearer" (new-api resellers,
    default), "mj-api-secret" (OSS/Plus) or "raw" (trueai ``Authorization: <key>``). ``mode`` picks
    the ``/mj-fast|/mj-relax|/mj-turbo`` prefix. ``timeout`` is seconds or (connect, read).
    API replies larger than ``max_reply_bytes`` are refused unread (ServerError). ``flavor``
    (default ``MJ_FLAVOR``) says which server family it is — "plus", "trueai", "newapi" or
    "oss"; without it ``client.capabilities`` learns it from the server's answers.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        auth: str | None = None,
        mode: str | None = None,
        timeout: float | tuple[float, float] = (5, 30),
        journal: SubmitJournal | None = None,
        allow_private_image_hosts: bool = False,
        max_reply_bytes: int = 20_000_000,
        flavor: str | None = None,
    ) -> None:
        style = (auth or os.environ.get("MJ_AUTH") or "bearer").strip().lower()
        if style not in AUTH_STYLES:
            raise ValidationError(
                f"unknown auth style {style!r}", advice=f"use one of {', '.join(AUTH_STYLES)}"
            )
        if mode is not None and mode not in MODES:
            raise ValidationError(
                f"unknown mode {mode!r}", advice=f"use one of {', '.join(MODES)} or None"
            )
        self.is_simulator = False
        self._simulator: Any = None
        base_url = base_url or os.environ.get("MJ_BASE_URL") or None
        if api_key is None and base_url:  # never send an env key to the local simulator
            api_key = os.environ.get("MJ_API_KEY") or None
        if flavor is None and base_url:
            flavor = os.environ.get("MJ_FLAVOR") or None
        if not base_url:
            base_url, sim_flavor = self._start_embedded_simulator()
            flavor = flavor or sim_flavor  # the simulator says what it is
        self._transport = Transport(
            base_url,
            api_key,
            auth=style,
            mode=mode,
            timeout=timeout,
            allow_private_image_hosts=allow_private_image_hosts,
            max_reply_bytes=max_reply_bytes,
        )
        self.journal = journal
        #: content hash → URL of the images this server already has (the Tracker's: the history)
        self.uploads: references.UploadMemory = references.RememberedUploads()
        #: What this server can do: declared (``flavor``), else learnt from its answers.
        self.capabilities = Capabilities(self._transport.base_url, flavor)
        self._transport.watcher = self.capabilities

    # -- set-up ------------------------------------------------------------------------------

    def _start_embedded_simulator(self) -> tuple[str, str]:
        from mjwidgets import sim  # the only place the client touches the simulator

        self._simulator = sim.embedded()
        self.is_simulator = True
        url = str(self._simulator.url)
        log.info("no MJ_BASE_URL set; using the embedded simulator at %s", url)
        return url, str(self._simulator.engine.flavor.name)

    @property
    def base_url(self) -> str:
        """The server root (without ``/mj`` or a speed prefix)."""
        return self._transport.base_url

    @property
    def mode(self) -> str | None:
        return self._transport.mode

    @property
    def auth_style(self) -> str:
        return self._transport.auth_style

    @property
    def timeout(self) -> float | tuple[float, float]:
        return self._transport.timeout

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        parts = urlsplit(self.base_url)
        shown = f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}"
        kind = " simulator" if self.is_simulator else ""
        return (
            f"<Client{kind} {shown}{parts.path} auth={self.auth_style} mode={self.mode} "
            f"key={'set' if self._transport.has_key else 'unset'}>"
        )

    @property
    def _api(self) -> str:
        return self._transport.api

    # -- submits -----------------------------------------------------------------------------

    def _submit(
        self,
        name: str,
        body: dict[str, Any],
        *,
        state: str | None,
        make_task: Callable[[int, Any, dict[str, Any], str], Task] | None,
    ) -> tuple[Any, Task | None]:
        """POST one submit, journaled around it: returns (result, the task ``make_task`` built).

        ``make_task(code, result, properties, description)`` runs inside the journal's bracket,
        so an answer without a usable task id is journaled "unknown", never lost.
        """
        path = f"{self._api}/submit/{name}"
        body = {key: value for key, value in body.items() if value is not None}
        if state is not None:
            if len(state) > 255:
                raise ValidationError(
                    "state is longer than 255 characters", advice="use a shorter correlation token"
                )
            body["state"] = state
        journal = self.journal if make_task is not None else None
        if journal is not None:
            keeper = getattr(journal, "keep_input", None)  # masks and references, by content
            journal.before_submit(path, journal_body(body, keeper), state or "")
        transport = self._transport
        task: Task | None = None
        # when the request left: the server cannot have made the task sooner (a refresh grid's
        # first look at a batch counts on that: ServerRhythm.observe_first_look)
        sent = datetime.now(timezone.utc)
        try:
            reply = transport.request("POST", path, body=body, submit=True, state=state)
            code, result, properties, description = transport.envelope(
                reply, path, submit=True, state=state
            )
            if make_task is not None:
                task = make_task(code, result, properties, description)
                task.submit_time = sent
        except BaseException as exc:  # an interrupt mid-request may also have submitted
            if journal is not None:
                maybe = exc.maybe_submitted if isinstance(exc, MJError) else True
                self._journal_outcome(journal, state, None, "unknown" if maybe else "error", exc)
            raise
        if journal is not None and task is not None:
            self._journal_outcome(journal, state, task, "ok", None)
        return result, task

    def _journal_outcome(
        self,
        journal: SubmitJournal,
        state: str | None,
        task: Task | None,
        outcome: str,
        error: BaseException | None,
    ) -> None:
        try:
            if task is not None:
                tell_accepted(journal, state or "", task)
            else:
                journal.after_submit(state or "", None, outcome, error)
        except Exception as exc:  # the submit itself already happened; don't hide its result
            log.warning("the submit journal failed after a submit: %s", redact(repr(exc)))

    def _new_task(
        self,
        code: int,
        result: Any,
        properties: dict[str, Any],
        description: str,
        *,
        name: str,
        action: str,
        prompt: str = "",
        state: str | None,
    ) -> Task:
        """The task a submit's answer describes (no re-read: the next poll brings the rest)."""
        if result is None or isinstance(result, (list, dict)) or not str(result).strip():
            raise ServerError(
                f"no task id in the reply (code {code})",
                endpoint=f"{self._api}/submit/{name}",
                state=state,
                maybe_submitted=True,
            )
        if isinstance(result, float) and result.is_integer():  # a reseller's numeric id
            result = int(result)
        lowered = description.lower()
        if code == 21 or any(word in lowered for word in _MODAL_WORDS):
            status = Status.MODAL
        elif code == 22:
            status = Status.NOT_START
        else:
            status = Status.SUBMITTED
        task = Task(
            id=str(result).strip(),
            action=action,
            status=status,
            status_raw=status.value,
            prompt=prompt,
            description=description,
            state=state or "",
            properties=dict(properties),
        )  # its submit_time: set by _submit, when the request left
        return task.bind(self)

    # -- public API: submits -----------------------------------------------------------------

    def imagine(
        self,
        prompt: str,
        *,
        images: Iterable[media.ImageInput] | media.ImageInput | None = None,
        sref: Any = None,
        oref: Any = None,
        cref: Any = None,
        bot: str = "mj",
        state: str | None = None,
        notify_hook: str | None = None,
    ) -> Task:
        """Start an /imagine job.

        ``images`` (image prompts), ``sref`` (style), ``oref`` (omni, one image) and ``cref``
        (character) each take one or several paths, bytes, PIL images, arrays, http(s) URLs or
        finished tasks; ``--sw``/``--ow``/``--cw`` go in the prompt. Every image is checked
        before anything is sent; files are uploaded once per server (``references``) and their
        URLs put where Midjourney reads them, or sent as ``base64Array`` where the server takes
        no uploads (image prompts only: a style, omni or character reference needs a URL).
        """
        text = checked_text(prompt)
        bot_type = _BOTS.get(bot.lower()) if isinstance(bot, str) else None
        if bot_type is None and isinstance(bot, str) and bot.upper() in _BOTS.values():
            bot_type = bot.upper()
        if bot_type is None:
            raise ValidationError(f"unknown bot {bot!r}", advice="use bot='mj' or bot='niji'")
        checked = references.prepare_all(images=images, sref=sref, oref=oref, cref=cref)
        sent = references.resolve(self, checked)  # refusals first; then uploads, once each
        text = checked_text(sent.prompt(text))
        state = state or new_state()
        body = {
            "prompt": text,
            "base64Array": sent.base64 or None,
            "botType": bot_type,
            "notifyHook": notify_hook,
        }

        def make(code: int, result: Any, props: dict[str, Any], description: str) -> Task:
            return self._new_task(
                code, result, props, description, name="imagine", action="IMAGINE",
                prompt=text, state=state,
            )  # fmt: skip

        return self._submitted(self._submit("imagine", body, state=state, make_task=make))

    def action(
        self,
        task: Task | str,
        button: Button | str,
        *,
        state: str | None = None,
        notify_hook: str | None = None,
    ) -> Task:
        """Press a button of a SUCCESS task ("U2", "Vary (Region)", "🔄", a customId or a Button).

        A Vary (Region) / Custom Zoom press returns a MODAL task: finish it with ``modal()``.
        """
        parent = task if isinstance(task, Task) else self.fetch(str(task))
        if parent.status is not Status.SUCCESS:
            raise ValidationError(
                f"task {parent.id} is {parent.status_raw or parent.status.value}, not SUCCESS",
                task_id=parent.id,
                advice="buttons can be pressed only on a finished task; wait for it first",
            )
        chosen = parent.button(button)
        self.capabilities.check_button(chosen)  # a known refusal costs no round trip
        state = state or new_state()
        body = {"taskId": parent.id, "customId": chosen.custom_id, "notifyHook": notify_hook}

        def make(code: int, result: Any, props: dict[str, Any], description: str) -> Task:
            if str(result) == parent.id:  # e.g. ❤️ bookmark: no new task
                return parent
            child = self._new_task(
                code, result, props, description, name="action",
                action=RESULT_ACTIONS.get(chosen.kind, ""), prompt=parent.prompt, state=state,
            )  # fmt: skip
            child.parent_id = parent.id
            child.origin_button = chosen
            child.parent_image_size = parent.image_size or self._transport.image_size(
                parent.image_url
            )
            return child

        try:
            return self._submitted(self._submit("action", body, state=state, make_task=make))
        except UnsupportedError as exc:  # learnt: the next card shows the button disabled
            raise self.capabilities.refusal(exc, chosen) from exc

    def modal(
        self,
        task: Task | str,
        *,
        prompt: str | None = None,
        mask: media.ImageInput = None,
        notify_hook: str | None = None,
    ) -> Task:
        """Finish a MODAL task: a mask (+ prompt) for Vary (Region), ``--zoom`` for Custom Zoom."""
        pending = task if isinstance(task, Task) else self.fetch(str(task))
        if pending.status is not Status.MODAL:
            raise ValidationError(
                f"task {pending.id} is {pending.status_raw or pending.status.value}, not MODAL",
                task_id=pending.id,
                advice="pass the MODAL task that client.action(…) returned for Vary (Region), "
                "Custom Zoom or a describe/shorten pick",
            )
        kind = pending.modal_kind
        text = checked_text(prompt, blank_ok=True)
        if kind is ButtonKind.CUSTOM_ZOOM:
            Prompt(text).check_zoom()
        if kind is ButtonKind.INPAINT and mask is None:
            raise ValidationError(
                "Vary (Region) needs a mask",
                task_id=pending.id,
                advice="pass mask= (white = regenerate, black = keep) at the upscaled image's size",
            )
        body: dict[str, Any] = {"taskId": pending.id, "prompt": text, "notifyHook": notify_hook}
        if mask is not None:
            if kind not in (ButtonKind.INPAINT, None):
                raise ValidationError(
                    f"a mask applies only to Vary (Region), not to {kind.value}",
                    task_id=pending.id,
                    advice="drop the mask argument",
                )
            body["maskBase64"] = media.mask_data_url(mask, size=pending.parent_image_size)
        state = new_state()

        def make(code: int, result: Any, props: dict[str, Any], description: str) -> Task:
            done = self._new_task(
                code, result or pending.id, props, description, name="modal",
                action=pending.action, prompt=text or pending.prompt, state=state,
            )  # fmt: skip
            if done.status is Status.MODAL:  # "Waiting for window confirm" is the modal's own
                done.status, done.status_raw = Status.SUBMITTED, Status.SUBMITTED.value
            done.parent_id = pending.parent_id
            done.origin_button = pending.origin_button
            done.parent_image_size = pending.parent_image_size
            done.modal_submitted = pending.modal_submitted = True
            pending._settle_modal()
            return done

        return self._submitted(self._submit("modal", body, state=state, make_task=make))

    @staticmethod
    def _submitted(answer: tuple[Any, Task | None]) -> Task:
        task = answer[1]
        assert task is not None  # make_task always builds one or raises
        return task

    # -- public API: queries -----------------------------------------------------------------

    def _task_path(self, task_id: Any, suffix: str) -> tuple[str, str]:
        text = str(task_id.id if isinstance(task_id, Task) else task_id or "").strip()
        if not text:
            raise ValidationError("the task id is blank", advice="pass a task or its id")
        if not text.strip("."):  # "." or "..": a dot segment that URLs resolve away
            raise ValidationError(
                f"refused the task id {text!r}: it would address another URL",
                advice="check the id; the server's task ids are numbers or UUIDs",
            )
        return text, f"{self._api}/task/{quote(text, safe='')}/{suffix}"

    def fetch(self, task_id: str | Task) -> Task:
        """The task's current state (GET /task/{id}/fetch, retried on transient failures)."""
        text, path = self._task_path(task_id, "fetch")
        reply = self._transport.request("GET", path)
        data = reply.json
        if (
            reply.status == 200
            and isinstance(data, dict)
            and (data.get("id") or "code" not in data)
        ):
            task = Task.from_json(data)
            task.id = task.id or text
            return task.bind(self)
        raise error_for_reply(reply, path, submit=False, unknown_task=text)

    def fetch_many(self, ids: Iterable[str | Task]) -> list[Task]:
        """Several tasks in one request (POST /task/list-by-condition); unknown ids are omitted."""
        wanted: list[str] = []
        for item in ids:
            text = str(item.id if isinstance(item, Task) else item).strip()
            if text and text not in wanted:
                wanted.append(text)
        if not wanted:
            return []
        path = f"{self._api}/task/list-by-condition"
        reply = self._transport.request("POST", path, body={"ids": wanted})
        if reply.status != 200 or not isinstance(reply.json, list):
            raise error_for_reply(reply, path, submit=False)
        found = {}
        for item in reply.json:
            if isinstance(item, dict):
                task = Task.from_json(item).bind(self)
                found[task.id] = task
        return [found[task_id] for task_id in wanted if task_id in found]

    def image_seed(self, task_id: str | Task) -> str:
        """The Midjourney seed of a finished task (GET /task/{id}/image-seed)."""
        text, path = self._task_path(task_id, "image-seed")
        reply = self._transport.request("GET", path)
        if reply.status == 404 and not (isinstance(reply.json, dict) and "code" in reply.json):
            raise error_for_reply(reply, path, submit=False)
        _, result, _, _ = self._transport.envelope(reply, path)
        if result is None or str(result).strip() == "":
            raise ServerError("no seed in the reply", endpoint=path, task_id=text)
        return str(result)

    def cancel(self, task: str | Task) -> Task:
        """Ask the server to cancel a queued or running task; returns the task re-read after
        (Plus: CANCEL, trueai: FAILURE "取消任务"; no cancel at new-api and OSS)."""
        text, path = self._task_path(task, "cancel")
        reply = self._transport.request("POST", path, body={})
        failed = reply.status >= 300 or (
            isinstance(reply.json, dict)
            and "code" in reply.json
            and reply.code() not in (1, 21, 22)
        )
        if failed:
            raise error_for_reply(reply, path, submit=False)
        return self.fetch(text)

    def reload(self, task: Task) -> Task:
        """The task's current state from the server (``task.reload()`` of a client's task)."""
        return self.fetch(task.id)

    # -- waiting -----------------------------------------------------------------------------

    def wait(
        self, task: Task | str, *, timeout: float | None = 900, interval: float | None = None
    ) -> Task:
        """Poll until the task is terminal or MODAL; updates a Task argument in place.

        A plain blocking loop (no asyncio, so it works inside a running kernel). Without
        ``interval`` the cadence adapts: a first probe after 0.5 s, 1 s while IN_PROGRESS, slowing
        from 1 s towards 5 s while queued. Transient errors while polling are logged and polling
        continues until the deadline. Raises TaskFailed on FAILURE and TaskTimeout at the deadline.
        A tracked task is better waited for with ``tracker.wait`` (or ``task.wait()``): no extra
        requests.
        """
        current = task if isinstance(task, Task) else self.fetch(str(task))
        if current.backend is None:
            current.bind(self)
        limit = 900.0 if timeout is None else timeout
        deadline = time.monotonic() + limit
        polls = 0
        queued_polls = 0
        while True:
            if current.status is Status.FAILURE:
                raise TaskFailed(current, redact(current.fail_reason))
            if current.is_done or current.needs_modal:
                return current
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TaskTimeout(current, limit)
            if interval is not None:
                delay = interval
            elif polls == 0:
                delay = 0.5
            elif current.status is Status.IN_PROGRESS:
                delay = 1.0
            else:
                delay = min(5.0, 1.5**queued_polls)
                queued_polls += 1
            time.sleep(max(0.0, min(delay, remaining)))
            polls += 1
            try:
                current.update_from(self.fetch(current.id))
            except (TransportError, ServerError, RateLimitError) as exc:
                log.warning("polling %s failed, will retry: %s", current.id, type(exc).__name__)

    # -- images ------------------------------------------------------------------------------

    def download(self, url: str, *, max_bytes: int = 50_000_000) -> bytes:
        """Fetch an image. The key goes only to the API's own origin; the size is capped."""
        return self._transport.download(url, max_bytes=max_bytes)

    def image(self, task: Task) -> Image.Image:
        """The task's image, downloaded now (a Tracker keeps a cache instead); a video's is the
        first frame of its first clip."""
        if task.is_video and task.video_urls:
            return self._posters(task, 1)[0]
        if not task.image_url:
            raise ValidationError(
                f"task {task.id} has no image yet ({task.status.value} {task.progress}%)",
                task_id=task.id,
                advice="wait for the task to finish (task.wait())",
            )
        return media.decode_image(self.download(task.image_url))

    def tiles(self, task: Task) -> list[Image.Image]:
        """The four candidates of a grid, or ``[image]`` for a single image."""
        if task.is_video and task.video_urls:  # one poster per clip
            return self._posters(task)
        return renditions.split_grid(self.image(task)) if task.is_grid else [self.image(task)]

    def save(self, task: Task, folder: str | os.PathLike[str]) -> Path:
        """Write the task's image (a video's mp4s and posters) and its JSON record to
        ``folder``; returns the image's (the first clip's) path."""
        records.require_saveable(task)
        if task.is_video and task.video_urls:
            return self._save_video(task, folder)
        if not task.image_url:
            raise ValidationError(f"task {task.id} has no image", task_id=task.id)
        data = self.download(task.image_url)
        image = media.decode_image(data)
        return records.save(task, data, image, folder)
