"""A card's one open dialog: Custom Zoom, Remix, "Imagine this prompt" or the Vary (Region) mask
editor — from the press that asked for input to the job its Send starts.

One dialog at a time per card: opening a new one closes the open one, so a Custom Zoom can never be
sent through a mask editor left open. Closing a dialog without sending leaves no job behind (the
MODAL task was never sent). The card (``TaskView``) owns one ``CardDialogs`` and adopts the job
its Send makes as a child card.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Protocol

from .. import wording
from ..errors import MJError, ValidationError
from ..models import Button, ButtonKind, Status, Task
from ..prompt import Prompt
from ..tracking import Tracker
from .maskeditor import MaskEditor
from .plumbing import SUBMITTER


class DialogCard(Protocol):
    """What a dialog needs of its card (``TaskView`` is one): its task and tracker, its traits
    (``card``), its children (the editor goes beside the card) and a way to adopt the result."""

    tracker: Tracker
    card: Any
    task: Task
    children: Any
    layout: Any
    _closed: bool

    def add_class(self, name: str) -> Any: ...

    def remove_class(self, name: str) -> Any: ...

    def _adopt(
        self, child: Task, button: Button, *, waited_from: datetime | None = None
    ) -> Any: ...


class CardDialogs:
    """The open dialog of one card: its MODAL task and, for Vary (Region), its mask editor."""

    def __init__(self, view: DialogCard) -> None:
        self.view = view
        self.task: Task | None = None  # the MODAL task the open dialog finishes
        self.editor: MaskEditor | None = None

    def open_when_asked(self, child: Task, button: Button) -> None:
        """A relay may answer a press that needs input with a plain "submitted" and show MODAL
        only on a later poll: the dialog then opens here, as if the answer had said so."""
        view = self.view

        def watch(task: Task) -> None:
            if task.status is Status.MODAL and not task.modal_submitted:
                unsubscribe()
                if self.task is None and not view._closed:
                    SUBMITTER.submit(self.open, task, button)
            elif task.is_done:
                unsubscribe()

        unsubscribe = view.tracker.subscribe(child, watch)

    def open(self, modal_task: Task, button: Button) -> None:
        view = self.view
        self.close()  # one dialog at a time: a new one replaces the open one
        self.task = modal_task
        if button.kind is ButtonKind.INPAINT:
            self._open_mask_editor(modal_task, button)
            return
        prompt = view.task.prompt or ""
        if button.kind is ButtonKind.CUSTOM_ZOOM:
            view.card.modal = {
                "kind": "custom_zoom",
                "task_id": modal_task.id,
                "title": "Custom Zoom",
                "prompt": str(Prompt.parse(prompt).with_params(zoom=1.5)),
                "hint": "Keep --zoom between 1 and 2 (e.g. --zoom 1.5)",
            }
            return
        final = (modal_task.properties or {}).get("finalPrompt") or prompt
        title = (
            "Remix"
            if button.kind not in (ButtonKind.DESCRIBE_PICK, ButtonKind.SHORTEN_PICK)
            else "Imagine this prompt"
        )
        view.card.modal = {
            "kind": "remix",
            "task_id": modal_task.id,
            "title": title,
            "prompt": final,
            "hint": "Edit the prompt, then Send",
        }

    def send(self, prompt: str) -> Any:
        """The dialog's Send: Custom Zoom's prompt checked by the prompt's own rule first."""
        view = self.view
        modal_task = self.task
        if modal_task is None:
            return None
        state = dict(view.card.modal)
        if state.get("kind") == "custom_zoom":
            try:  # the prompt's own rule, so the card and a script refuse the same prompts
                Prompt(prompt).check_zoom()
            except ValidationError as exc:
                view.card.modal = {**state, "invalid": True, "prompt": prompt, "hint": str(exc)}
                return None
        view.card.modal = {**state, "sending": True, "prompt": prompt}
        return self.submit(modal_task, prompt=prompt)

    def submit(self, modal_task: Task, *, prompt: str, mask=None) -> Any:
        view = self.view
        sent_at = datetime.now(timezone.utc)
        try:
            child = view.tracker.modal(modal_task, prompt=prompt, mask=mask)
        except MJError as exc:
            if self.editor is not None:  # the editor stays open with the reason
                self.editor.show_error(wording.error_words(exc))
            else:
                view.card.modal = {
                    **view.card.modal,
                    "sending": False,
                    "invalid": True,
                    "hint": wording.error_words(exc),
                }
            view.card.error = wording.error_words(exc)
            return None
        button = modal_task.origin_button or Button(custom_id="", label="Modal")
        self.close()
        return view._adopt(child, button, waited_from=sent_at)

    def close(self) -> None:
        view = self.view
        self.task = None
        view.card.modal = {}
        if self.editor is not None:
            view.children = tuple(c for c in view.children if c is not self.editor)
            self.editor.close()
            self.editor = None
            view.remove_class("mjw-editing")
            view.layout.grid_area = None

    def _open_mask_editor(self, modal_task: Task, button: Button) -> None:
        view = self.view
        image = view.tracker.cache.image(view.task)
        editor = MaskEditor(image, prompt=view.task.prompt or "")
        editor.on_submit(
            lambda ed: SUBMITTER.submit(self.submit, modal_task, prompt=ed.prompt, mask=ed.mask)
        )
        editor.on_cancel(lambda _ed: self.close())
        self.editor = editor
        view.add_class("mjw-editing")  # the card and, beside it, the editor: one grid row
        view.layout.grid_area = "auto / 1 / auto / -1"  # the whole row of a Studio's grid
        view.children = (view.children[0], editor, *view.children[1:])
