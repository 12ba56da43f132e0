"""TaskView: one live card per Midjourney task — progress, the image, and the API's own buttons.

The card's state lives in traits (so every view, and a saved notebook, shows it); clicks arrive as
messages and are submitted from a worker thread so the kernel stays responsive. Images travel as
display-sized bytes, never as URLs the browser would have to reach.

The card is honest about its server (``client.capabilities``): a button the server refuses is
shown disabled with the reason; a used upscale button opens its result instead of paying again;
Cancel appears where the server can cancel; a job silent for much longer than its server's rhythm
says it may be stuck and offers "Submit again" (a new, paid job, only on a click).
"""

from __future__ import annotations

import io
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import ipywidgets
from PIL import Image

from .. import renditions, wording
from ..client import Client
from ..errors import MJError, ValidationError
from ..models import Button, ButtonKind, Status, Task
from ..tracking import Tracker
from . import cardbuttons, lightbox, videocard
from .carddialogs import CardDialogs
from .cardinfo import expected_aspect, proposed_prompts, tile_buttons
from .cardmodel import CardModel
from .gallerylibrary import MARK_MESSAGES, marks_json, show_card_marks
from .plumbing import IMAGER, PREVIEWER, SUBMITTER, CoalescingJob, close_tree, tracker_for
from .recipecopy import recipe_message
from .snapshot import (
    CardPicture,
    ClipPicture,
    Snapshot,
    picture_jpeg,
    snapshot_html,
)
from .videocard import VideoCardModel, is_video_card

log = logging.getLogger("mjwidgets.widgets")
T = TypeVar("T")


def _seconds(later, earlier) -> float | None:
    if later is None or earlier is None:
        return None
    return max(0.0, (later - earlier).total_seconds())


class TaskView(ipywidgets.VBox):
    """A live card for `task`: updates from the client's tracker, buttons submit actions.

    Vary (Region) opens the mask editor below the card; Custom Zoom and Remix open an inline
    prompt. Children (the tasks its buttons made) appear below it, or in the Studio that owns it.
    """

    def __init__(
        self,
        task: Task | str,
        client: Client | None = None,
        *,
        tracker: Tracker | None = None,
        layout: ipywidgets.Layout | None = None,
        on_use_prompt: Callable[[str], None] | None = None,
    ) -> None:
        """``layout`` and ``on_use_prompt`` (see `on_use_prompt`) given here reach the page
        with the card itself: a container that places the card (a Studio's CSS ``order``) or
        takes its prompts sends no update after it."""
        if tracker is None:
            tracker = tracker_for(client, task if isinstance(task, Task) else None)
        if isinstance(task, str):
            task = tracker.reload(Task(id=task))
        # a video's card shows its clips (widgets/videocard.py); every other card an image
        self._video = is_video_card(task)
        self.tracker = tracker
        self.client = tracker.client
        self.task = task
        self._child_handlers: list[Callable[[TaskView, TaskView], None]] = []
        self._prompt_handlers: list[Callable[[str], None]] = []
        if on_use_prompt is not None:
            self._prompt_handlers.append(on_use_prompt)
        self._waited_from: datetime | None = None  # when a dialog's prompt was sent
        self._final_display = b""  # the final image's display JPEG, for the saved snapshot …
        self._snapshot_memo = (b"", b"")  # … and the small picture made of it when first asked
        self.snapshot_clips: tuple[ClipPicture, ...] = ()  # a video's, for the same snapshot
        self._snapshot: Snapshot | None = None
        self._child_views: dict[str, TaskView] = {}
        self._lock = threading.Lock()
        self._shown_image: tuple[str | None, bool] = (None, False)
        self.dialogs = CardDialogs(self)  # the one open dialog (Custom Zoom, Remix, mask editor)
        self._pressing: set[str] = set()  # customIds (and controls) being submitted right now
        self._closed = False
        # the result's image on its own job: never behind this card's (or others') previews
        self._final_job = CoalescingJob(IMAGER, self._show_final, lambda: self._closed)
        self._preview_job = CoalescingJob(PREVIEWER, self._show_preview, lambda: self._closed)
        # a task of another server (an earlier kernel's, from the history) is shown as stored
        self.foreign = bool(task.server) and task.server != tracker.base_url
        if not self.foreign:  # a card takes the tracked task; it tracks only one it is given
            task = tracker.get(task) or tracker.track(task, record=task.is_pending)
        self.task = task
        self._unsubscribe: Callable[[], None] = lambda: None
        self._marks_shown = False  # in the card's first state (else from a thread, below)
        # The card's model is made by the first _apply, with the task's state (and its image
        # when cached, and its marks): the page gets the card in one message, not an empty
        # card and then an update for each (a card added to a Studio: ~9 messages → 3)
        if self.foreign:
            self._apply(task)
        else:  # the first look in order with the changes: none lost, none read half-applied
            self._unsubscribe = tracker.subscribe(task, self._on_update, replay=True)
        if not self._has_card():  # the first look failed: an empty card, which says why
            self._show_state({})
        # the class with the first state: a separate update is one more message per card
        boxed: dict[str, Any] = {"layout": layout} if layout is not None else {}
        super().__init__([self.card], _dom_classes=("mjw-taskview",), **boxed)
        self.card.on_msg(self._on_message)
        self._untrouble = tracker.on_trouble(self._on_trouble)
        self._uncapabilities: Callable[[], None] = lambda: None
        if tracker.client is not None:  # something learnt (a refusal, the flavour): re-show
            self._uncapabilities = tracker.client.capabilities.on_change(self._on_capabilities)
        if not self._marks_shown:
            IMAGER.submit(show_card_marks, self)  # ♥ and stars given earlier (the history's)

    # ------------------------------------------------------------------ public
    def on_child(self, callback: Callable[[TaskView, TaskView], None]) -> None:
        """Call `callback(parent_view, child_view)` when a button creates a task."""
        self._child_handlers.append(callback)

    def on_use_prompt(self, callback: Callable[[str], None]) -> None:
        """Call `callback(prompt)` when the person asks to edit one of the card's prompts
        (a describe's or shorten's proposals, or the card's own) in a prompt box."""
        if callback not in self._prompt_handlers:  # given to the constructor already
            self._prompt_handlers.append(callback)
        self.card.can_use_prompt = True

    def picture(self) -> CardPicture:
        """The card as a saved notebook's snapshot shows it."""
        card = self.card
        return CardPicture(
            task_id=card.task_id,
            status=card.status,
            prompt=card.prompt,
            action=card.action,
            lineage=card.lineage,
            progress=card.progress,
            fail_reason=card.fail_reason,
            jpeg=self._snapshot_jpeg(),
            clips=self.snapshot_clips,
        )

    def _snapshot_jpeg(self) -> bytes:
        """The final image, small, as the saved snapshot shows it: made when the snapshot is
        built (on its own thread, a few times a minute at most), off the way to the screen."""
        display = self._final_display
        if not display:
            return b""
        source, picture = self._snapshot_memo
        if source is not display:
            picture = picture_jpeg(display)
            self._snapshot_memo = (display, picture)
        return picture

    def _ipython_display_(self) -> None:
        """The live card, then its static snapshot for readers without a kernel."""
        from IPython.display import display

        bundle = self._repr_mimebundle_()
        bundle["text/plain"] = f"mjwidgets card {self.task.id} (live while its kernel runs)"
        display(bundle, raw=True)
        snapshot = self._snapshot
        if snapshot is None:
            # only a card shown on its own has a snapshot (a Studio keeps one for all its cards)
            uid = self.card.uid = uuid.uuid4().hex
            snapshot = self._snapshot = Snapshot(
                lambda: snapshot_html(uid, "mjwidgets card", [self.picture()]),
                label=f"mjwidgets card {self.task.id}",
            )
            self.card.observe(lambda _change: snapshot.touch(), names=["status", "image", "clips"])
        snapshot.display()

    def press(self, button: Button | str) -> TaskView | None:
        """Press a button from code, as a click would; returns the child card (None for modals).
        A used upscale button returns the card of its result (nothing is submitted)."""
        return self._press(self.task.button(button))

    def cancel(self) -> Task | None:
        """Ask the server to cancel this job (the card's Cancel); returns the task after."""
        if not self._claim("cancel"):
            return None
        try:
            return self.tracker.cancel(self.task)
        except Exception as exc:  # shown on the card; a click never kills the message loop
            self.card.error = wording.error_words(exc)
            return None
        finally:
            self._release("cancel")

    def submit_again(self) -> TaskView | None:
        """Submit this job again as a NEW, paid job (new state token) — the card's "Submit
        again", for a job that seems stuck; never called on its own. Returns the new card."""
        if not self._claim("resubmit"):
            return None
        try:
            fresh = cardbuttons.resubmit(self.tracker, self.task)
        except Exception as exc:
            self.card.error = wording.error_words(exc)
            return None
        finally:
            self._release("resubmit")
        label = wording.control_words("resubmit")[0]
        return self._adopt(fresh, Button(custom_id="", label=label))

    def extend_clip(self, index: int, motion: str = "high") -> TaskView | None:
        """Extend clip ``index`` (0-based) of this video by four seconds: the card's "+4 s",
        offered where the server refuses the clips' U buttons. Returns the new card."""
        key = f"extend-{index}"  # the clip's "+4 s" shows pending while this key is listed
        if not self._claim(key):
            return None  # a double click: this one is already being submitted
        self.card.error = ""
        try:
            with self._pending(key):
                child = self.tracker.extend(self.task, index=index, motion=motion)
        except MJError as exc:
            self.card.error = wording.error_words(exc)
            return None
        finally:
            self._release(key)
        return self._adopt(child, Button(custom_id="", label=f"Extend clip {index + 1}"))

    def _claim(self, key: str) -> bool:
        """One submit per button at a time: a double click must not pay twice."""
        with self._lock:
            if key in self._pressing:
                return False
            self._pressing.add(key)
        self._show_controls()
        return True

    def _release(self, key: str) -> None:
        with self._lock:
            self._pressing.discard(key)
        self._show_controls()

    @contextmanager
    def _pending(self, key: str) -> Iterator[None]:
        """The card shows button ``key`` as on its way (``pending_buttons``) while its submit
        runs, whatever the submit's end."""
        card = self.card
        card.pending_buttons = [*card.pending_buttons, key]
        try:
            yield
        finally:
            card.pending_buttons = [c for c in card.pending_buttons if c != key]

    def wait(self, timeout: float | None = 900) -> Task:
        """Block until the task is finished or MODAL (raises TaskFailed/TaskTimeout)."""
        return self.tracker.wait(self.task, timeout=timeout)

    @property
    def editor(self):
        """The open Vary (Region) mask editor, or None."""
        return self.dialogs.editor

    def send_modal(self, prompt: str | None = None, *, mask=None) -> TaskView | None:
        """Finish the open modal from code (Custom Zoom, Remix, or Vary (Region) with `mask`);
        returns the result's card. Without a mask, an open mask editor's mask is used."""
        dialogs = self.dialogs
        modal_task = dialogs.task
        if modal_task is None:
            raise ValidationError(
                "no modal is open on this card",
                advice="press Vary (Region), Custom Zoom or a Remix button first",
            )
        if dialogs.editor is not None:
            mask = mask if mask is not None else dialogs.editor.mask
            prompt = dialogs.editor.prompt if prompt is None else prompt
            return dialogs.submit(modal_task, prompt=prompt or "", mask=mask)
        if prompt is None:
            prompt = self.card.modal.get("prompt", "")
        return dialogs.send(prompt)

    def close(self) -> None:
        self._closed = True
        self._unsubscribe()
        self._untrouble()
        if self._snapshot is not None:
            self._snapshot.close()
        self._uncapabilities()
        for child in self.children:  # the card's model, an open editor
            close_tree(child)
        super().close()

    def _on_trouble(self, message: str) -> None:
        """The tracker cannot reach the server right now (or can again)."""
        if not self._closed and (self.task.is_pending or not message):
            self.card.retrying = message and f"{message} — retrying by itself"

    # ------------------------------------------------------------------ task → traits
    def _on_capabilities(self, _facts: dict[str, Any]) -> None:
        """Something was learnt about the server (a refusal, its flavour): re-show the buttons.
        Through the tracker, in order with the task's changes (this runs on another thread)."""
        if self.foreign:
            self._on_update(self.task)
        else:
            self.tracker.replay(self.task, self._on_update)

    def _on_update(self, task: Task) -> None:
        if self._closed:
            return
        try:
            self.task = task
            self._apply(task)
        except Exception as exc:  # observers swallow errors silently: show them instead
            log.exception("updating card %s failed", task.id)
            self._show_state({"error": f"{type(exc).__name__}: {exc}"})

    def _has_card(self) -> bool:
        return "card" in self.__dict__

    def _show_state(self, state: dict[str, Any]) -> None:
        """Set the card's traits to ``state``, in its order, in one message to the page; the
        first state makes the card's model, which opens with it."""
        if not self._has_card():
            model = VideoCardModel if self._video else CardModel
            self.card: CardModel = model(**state)
            return
        card = self.card
        with card.hold_sync():
            for name, value in state.items():
                setattr(card, name, value)

    def _apply(self, task: Task) -> None:
        first = not self._has_card()
        card = None if first else self.card
        overdue = None if self.foreign else self.tracker.overdue(task)
        stuck = wording.stuck_words(*overdue) if overdue is not None else ""
        failed = task.status is Status.FAILURE
        submitted = task.submit_time
        if self._waited_from is not None and (submitted is None or submitted < self._waited_from):
            submitted = self._waited_from  # a dialog's typing time is not queueing
        buttons = cardbuttons.button_entries(self.tracker, task, foreign=self.foreign)
        state: dict[str, Any] = {
            "task_id": task.id,
            "stuck": stuck if task.is_pending else "",
            "action": task.action or "",
            "progress": int(task.progress or 0),
            "prompt": task.prompt or task.prompt_en or "",
            "fail_reason": wording.fail_words(task.fail_reason) if failed else "",
            "timings": {
                "queued": _seconds(task.start_time, submitted),
                "running": _seconds(task.finish_time, task.start_time),
                "total": _seconds(task.finish_time, submitted),
            },
            "buttons": buttons,
            "buttons_note": cardbuttons.buttons_note(self.tracker, task, foreign=self.foreign),
            "controls": self._controls(task, stuck),
            "tile_buttons": tile_buttons(task),
            "grid": task.is_grid,
        }
        if card is None or not card.image_size:
            state["aspect"] = list(expected_aspect(task))
        state["prompts"] = proposed_prompts(task, lambda b: _pressable_in(buttons, b))
        if task.parent_id and (card is None or not card.lineage):
            parent = cardbuttons.parent_of(self.tracker, task)
            prompt = parent.prompt if parent is not None and parent.prompt else task.prompt
            state["lineage"] = wording.lineage_label(
                task.origin_button, task.action, prompt, task.parent_id
            )
            state["parent_id"] = task.parent_id
        if first:
            state.update(self._first_extras(task))
        # the status last: whoever sees it change (code, a test) sees the rest already set
        state["status_text"] = wording.status_words(task, stuck=bool(stuck))
        # new-api shows status "" before its first refresh: the job is queued
        unknown_pending = task.status is Status.UNKNOWN and task.is_pending
        state["status"] = "NOT_START" if unknown_pending else task.status_raw or task.status.value
        if task.ended_without_result:
            self._drop_preview(state)
        self._show_state(state)
        shown = (task.image_url, task.status is Status.SUCCESS)
        if task.image_url and not task.ended_without_result and shown != self._shown_image:
            self._request_image()

    def _drop_preview(self, state: dict[str, Any]) -> None:
        """A job that failed or was cancelled shows no picture, as the web app shows none: the
        preview it drew on the way (a moderator may stop a job at 30 %) is not a result, and
        under its one-line reason it looked like one. Under the lock, so that a preview on its
        way now is not shown after it (`_show_picture`)."""
        with self._lock:
            if self._shown_image[0] is not None and not self._shown_image[1]:
                state.update(image=b"", is_preview=False)
                self._shown_image = (None, False)

    def _first_extras(self, task: Task) -> dict[str, Any]:
        """What a new card can show at once besides the task: whether a prompt box takes its
        prompts, its marks, and a finished image already cached (read, never downloaded: a
        download stays on the image threads)."""
        extras: dict[str, Any] = {"can_use_prompt": bool(self._prompt_handlers)}
        try:
            extras["marks"] = marks_json(self.tracker.store.library, [task])[task.id]
            self._marks_shown = True
        except MJError:  # the history cannot say now: the marks' own thread tries again
            pass
        if self._video or task.status is not Status.SUCCESS or not task.image_url:
            return extras
        try:
            shown = self.tracker.cache.cached_display(task)
        except (MJError, OSError):  # the image thread fetches it and says why, if it must
            shown = None
        if shown is not None:
            data, size = shown
            if not all(size):
                with Image.open(io.BytesIO(data)) as opened:
                    size = opened.size
            extras.update(
                image=data, image_format="jpeg", image_size=list(size), aspect=list(size),
                is_preview=False,
            )  # fmt: skip
            self._final_display = data
            self._shown_image = (task.image_url, True)
        return extras

    def _controls(self, task: Task, stuck: str) -> list[dict[str, Any]]:
        with self._lock:
            busy = set(self._pressing)
        return cardbuttons.controls(
            self.tracker, task, stuck=stuck, busy=busy, foreign=self.foreign
        )

    def _show_controls(self) -> None:
        self.card.controls = self._controls(self.task, self.card.stuck)

    def _refresh_buttons(self) -> None:
        self.card.buttons = cardbuttons.button_entries(
            self.tracker, self.task, foreign=self.foreign
        )

    def _request_image(self) -> None:
        """Show the task's current image in the background (the result's, else the latest
        preview); updates that arrive meanwhile coalesce."""
        if self.task.status is Status.SUCCESS:
            self._final_job.ask()
        else:
            self._preview_job.ask()

    def _show_final(self) -> None:
        task = self.task
        key = (task.image_url, True)
        if task.status is not Status.SUCCESS or not task.image_url or key == self._shown_image:
            return
        if isinstance(self.card, VideoCardModel):  # posters, no image beside them
            if self._fetched(
                lambda: videocard.show_finished(self.card, self.tracker, task, self._keep_clips)
            ):
                with self._lock:
                    self._shown_image = key
                # a preview shown while it ran (a loaded machine can fetch one) gives way
                self.card.image = b""
            return
        # the display JPEG the cache made beside the image: read, not re-encoded
        shown = self._fetched(lambda: self.tracker.cache.display(task))
        if shown:
            self._final_display = shown[0]
            self._show_picture(key, *shown)

    def _show_preview(self) -> None:
        task = self.task
        key = (task.image_url, False)
        over = task.status is Status.SUCCESS or task.ended_without_result  # no preview to show
        if over or not task.image_url or key == self._shown_image:
            return

        def picture() -> tuple[bytes, tuple[int, int]]:
            image = self.tracker.cache.image(task)  # shown once: made here, not kept on disk
            return renditions.display_jpeg(image), image.size

        shown = self._fetched(picture)
        if shown:
            self._show_picture(key, *shown)

    def _fetched(self, fetch: Callable[[], T]) -> T | None:
        """``fetch()``, or None with the reason on the card."""
        try:
            return fetch()
        except MJError as exc:  # a running video's "preview" may be its clip: no error line
            if not isinstance(self.card, VideoCardModel):
                self.card.retrying = f"image not available yet: {exc.description or exc}"
        except Exception as exc:  # show it: a silent card is worse than an error line
            log.exception("image for card %s failed", self.task.id)
            self.card.error = f"image: {type(exc).__name__}: {exc}"
        return None

    def _show_picture(
        self, key: tuple[str | None, bool], data: bytes, size: tuple[int, int]
    ) -> None:
        """Put a picture on the card, unless the result is there already: a preview that took
        longer than the result's image must not cover it, nor show after the job failed."""
        if not all(size):  # no record of the image's own size: the picture's
            with Image.open(io.BytesIO(data)) as shown:
                size = shown.size
        with self._lock:
            if not key[1] and (self._shown_image[1] or self.task.ended_without_result):
                return
            with self.card.hold_sync():
                self.card.image = data
                self.card.image_format = "jpeg"
                self.card.image_size = list(size)
                self.card.aspect = list(size)
                self.card.is_preview = not key[1]
                self.card.retrying = ""
            self._shown_image = key

    def _keep_clips(self, pictures: tuple[ClipPicture, ...]) -> None:
        self.snapshot_clips = pictures

    # ------------------------------------------------------------------ clicks and modals
    def _on_message(self, _widget, content: dict, _buffers) -> None:
        kind = content.get("type")
        if kind == "click":
            try:
                button = self.task.button(str(content.get("custom_id", "")))
            except MJError as exc:
                self.card.error = wording.error_words(exc)
                return
            SUBMITTER.submit(self._press, button)
        elif kind == "control" and content.get("id") == "cancel":
            SUBMITTER.submit(self.cancel)
        elif kind == "control" and content.get("id") == "resubmit":
            SUBMITTER.submit(self.submit_again)
        elif kind == "modal_send":
            SUBMITTER.submit(self.dialogs.send, str(content.get("prompt", "")))
        elif kind == "modal_cancel":
            self.dialogs.close()
        elif kind == "full_image":
            self._send_full_image(content.get("mode", "open"))
        elif kind == "tile":
            IMAGER.submit(self._send_tile, _int(content.get("index"), 1), content.get("mode"))
        elif kind == "clip":
            index, mode = _int(content.get("index"), 0), str(content.get("mode", "play"))
            IMAGER.submit(videocard.send_clip, self.card, self.tracker, self.task, index, mode)
        elif kind == "extend":  # a clip's "+4 s" (videocard.extend_offer)
            SUBMITTER.submit(self.extend_clip, _int(content.get("index"), 0))
        elif kind == "seed":
            SUBMITTER.submit(self._send_seed)
        elif kind in MARK_MESSAGES:
            SUBMITTER.submit(show_card_marks, self, content)
        elif kind == "recipe":  # "Copy as code"
            IMAGER.submit(lambda: self.card.send(recipe_message(self.task)))
        elif kind == "imagine_prompt":
            SUBMITTER.submit(self._imagine_proposal, _int(content.get("index"), 0))
        elif kind == "use_prompt":
            text = str(content.get("prompt", ""))
            for handler in self._prompt_handlers:
                handler(text)

    def _press(self, button: Button) -> TaskView | None:
        if not self._claim(button.custom_id):
            return None  # a double click: this press is already being submitted
        try:
            return self._press_once(button)
        finally:
            self._release(button.custom_id)

    def _press_once(self, button: Button) -> TaskView | None:
        card = self.card
        card.error = ""
        existing = self.tracker.existing_result(self.task, button)
        if existing is not None:  # a used upscale: its result, not a second paid job
            return self._adopt(existing, button)
        # Pending until what the press made is placed, and this card marked used after it: in
        # a big Studio each message that changes a card costs the page a layout of the whole
        # grid, and this card's own changes sent before the new card delayed it (300 cards:
        # ~150 → ~100 ms from the click to the new card, alternating in one page)
        with self._pending(button.custom_id):
            try:
                # the button, or its equivalent where refused (Animate → /submit/video on new-api)
                child = cardbuttons.press(self.tracker, self.task, button)
            except MJError as exc:
                card.error = wording.error_words(exc)
                self._refresh_buttons()  # a refusal was learnt: the button now says why
                return None
            except Exception as exc:  # never let a click kill the kernel's message loop
                log.exception("action %s failed", button.custom_id)
                card.error = wording.error_words(exc)
                return None
            try:
                return self._place_pressed(child, button)
            finally:  # submitted: used, whatever placing it did
                card.used_buttons = sorted({*card.used_buttons, button.custom_id})

    def _place_pressed(self, child: Task, button: Button) -> TaskView | None:
        """Show what pressing ``button`` made: a new card, a dialog (MODAL), or a notice."""
        if child.id == self.task.id:  # ❤️ and friends: no new task, so say it worked
            self.card.notice = f"{button.display} — done"
            return None
        if child.status is Status.MODAL:
            self.dialogs.open(child, button)
            return None
        view = self._adopt(child, button)
        if button.kind is ButtonKind.UPSAMPLE:
            self._refresh_buttons()  # the used U now opens its result
        if not child.is_done:
            self.dialogs.open_when_asked(child, button)
        return view

    def _adopt(
        self, child: Task, button: Button, *, waited_from: datetime | None = None
    ) -> TaskView:
        known = self._child_views.get(child.id)
        if known is not None:  # a late MODAL's card already shows this task
            if waited_from is not None:
                known._waited_from = waited_from
                known._apply(known.task)
            return known
        view = TaskView(child, tracker=self.tracker)  # the tracker's submit already tracks it
        if waited_from is not None:
            view._waited_from = waited_from
            view._apply(view.task)
        self._child_views[child.id] = view
        if self._child_handlers:
            for handler in self._child_handlers:
                handler(self, view)
        else:
            self.children = (*self.children, view)  # type: ignore[has-type]
        self.card.children = [  # the link to it, once it is placed (_press_once: why after)
            *self.card.children,
            {"task_id": child.id, "label": wording.button_name(button)},
        ]
        return view

    def _send_full_image(self, mode: str) -> None:
        try:
            data = self.tracker.cache.fetch(self.task).read_bytes()
        except (MJError, OSError) as exc:
            self.card.error = f"full image unavailable: {exc}"
            return
        mime = Image.MIME.get(Image.open(io.BytesIO(data)).format or "PNG", "image/png")
        self.card.send(
            {
                "type": "full_image",
                "mode": mode,
                "mime": mime,
                "filename": f"mj-{self.task.id}.{mime.split('/')[-1]}",
            },
            [data],
        )

    # ------------------------------------------------------------------ the lightbox
    def _send_tile(self, index: int, mode: Any) -> None:
        """Candidate ``index`` at full size, to look at or to download (one message buffer)."""
        mode = "download" if mode == "download" else "view"
        try:
            content, data = lightbox.tile_payload(self.tracker, self.task, index, mode)
        except (MJError, OSError) as exc:
            self.card.send({"type": "tile", "index": index, "mode": mode, "error": str(exc)})
            return
        except Exception as exc:  # a worker must report, not die silently
            log.exception("tile %s of %s failed", index, self.task.id)
            self.card.send({"type": "tile", "index": index, "mode": mode, "error": repr(exc)})
            return
        self.card.send(content, [data])

    def _send_seed(self) -> None:
        self.card.send(lightbox.seed_payload(self.tracker, self.task))

    # ------------------------------------------------------------------ describe and shorten
    def _imagine_proposal(self, index: int) -> TaskView | None:
        """Imagine proposal ``index`` of a describe or shorten: through the server's own pick
        button (1️⃣–4️⃣) when it has one that can be pressed, else as a plain imagine."""
        key = f"proposal-{index}"
        if not self._claim(key):
            return None  # a double click: this one is already being submitted
        try:
            return self._imagine_proposal_once(index)
        finally:
            self._release(key)

    def _imagine_proposal_once(self, index: int) -> TaskView | None:
        proposal = next((p for p in self.card.prompts if p.get("index") == index), None)
        if proposal is None:
            self.card.error = f"no prompt number {index} on this card"
            return None
        text = str(proposal["text"])
        card = self.card
        card.error = ""
        pick = next((b for b in self.task.buttons if b.custom_id == proposal.get("pick")), None)
        try:
            if pick is not None and proposal.get("pick_enabled", True):
                child = self.tracker.action(self.task, pick)
                card.used_buttons = sorted({*card.used_buttons, pick.custom_id})
                if child.status is Status.MODAL:  # the picks open a prompt dialog: send it as is
                    child = self.tracker.modal(child, prompt=text)
                return self._adopt(child, pick)
            child = self.tracker.imagine(text)
        except MJError as exc:
            card.error = wording.error_words(exc)
            return None
        label = Button(custom_id="", label=f"Imagine {index}")
        return self._adopt(child, label)


def _pressable_in(entries: list[dict[str, Any]], button: Button) -> bool:
    """Whether ``entries`` (a card's honest buttons) say the server can press ``button``."""
    entry = next((b for b in entries if b.get("custom_id") == button.custom_id), None)
    return entry is None or entry.get("enabled", True) is not False


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
