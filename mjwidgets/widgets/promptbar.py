"""PromptBar: the Studio's prompt box — checks as you type, recalls earlier prompts, and
parameter controls that write the prompt's ``--ar``/``--v``/``--stylize``… and read them back.

Every rule lives in :mod:`mjwidgets.prompt`: the box sends its text to Python on each pause in
typing (and on each control change) and shows what ``Prompt.validate()`` says and the parameters
``Prompt.params`` reads; a control's change comes back as ``Prompt.with_params`` wrote it. No
rule is mirrored in JavaScript, so the box, a script and a sweep refuse the same prompts.

Speed (fast/relax/turbo) is written into the prompt as ``--fast``/``--relax``/``--turbo``: the
prompt is what every server passes on (OSS has no ``/mj-relax`` routes), it is kept in the
history and recalled with the prompt, and trueai reads it when the request has no speed path
prefix. A Client made with ``mode=`` sends that prefix, which trueai prefers over the prompt:
the bar then says so next to the control.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import traitlets

from .. import wording
from ..errors import MJError
from ..prompt import Prompt, PromptError, checked_text
from .plumbing import FrontEndWidget, front_end

log = logging.getLogger("mjwidgets.widgets")

RECALL_LIMIT = 200  # earlier prompts the arrow keys step through (this session's first)

# What the controls may write: canonical parameter names (``Prompt.with_params`` takes them).
_CONTROLLED = frozenset(
    {"ar", "v", "niji", "stylize", "chaos", "weird", "style", "fast", "relax", "turbo"}
)

Submit = Callable[[str], Any]


def describe_prompt(text: str) -> dict[str, Any]:
    """What the box shows for ``text``: every problem, and the parameters as the controls read
    them (canonical names; flags as True)."""
    prompt = Prompt(text)
    return {
        "problems": prompt.validate() if text.strip() else [],
        "params": prompt.params,
    }


class _PromptBarModel(FrontEndWidget):
    """The front-end half of the prompt bar (js/studio.js)."""

    _esm = front_end(
        "common.js",
        "refslots.js",
        "studio.js",
        styles=("mjwidgets.css", "studio.css", "refslots.css"),
    )

    simulator = traitlets.Bool(False).tag(sync=True)
    backend_label = traitlets.Unicode("").tag(sync=True)
    # The backend badge: {ok: true | false | null, label, reason} — green when the server
    # answered, red with the reason when the key is refused or the server is down or failing.
    backend_state = traitlets.Dict().tag(sync=True)
    client_mode = traitlets.Unicode("").tag(sync=True)
    status_text = traitlets.Unicode("").tag(sync=True)
    sweep_text = traitlets.Unicode("").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    busy = traitlets.Bool(False).tag(sync=True)
    counts = traitlets.Dict().tag(sync=True)
    uid = traitlets.Unicode("").tag(sync=True)
    # The reference slots (refslots.py): [{id, slot, label, thumb}] — thumbnails, never images;
    # the prompt the server will receive with them, and why this server cannot take them.
    references = traitlets.List(traitlets.Dict()).tag(sync=True)
    planned_prompt = traitlets.Unicode("").tag(sync=True)
    references_problem = traitlets.Unicode("").tag(sync=True)


class PromptBar:
    """The prompt box of a Studio: ``model`` is the widget shown; ``on_submit`` receives a prompt
    that passed every check (a refused one stays in the box with its reasons)."""

    def __init__(self, model: _PromptBarModel, on_submit: Submit, history: Callable[[], list]):
        self.model = model
        self._on_submit = on_submit
        self._history = history
        self.session_prompts: list[str] = []  # newest last
        model.on_msg(self._on_message)

    # ------------------------------------------------------------------ checks
    @staticmethod
    def check(text: str) -> None:
        """Raise PromptError with every problem ``Prompt.validate()`` finds in ``text`` (and
        the client's own checks: blank, too long) — before anything is sent."""
        Prompt(checked_text(text)).check()

    def remember(self, text: str) -> None:
        text = text.strip()
        if text:
            if text in self.session_prompts:
                self.session_prompts.remove(text)
            self.session_prompts.append(text)

    def recall_list(self) -> list[str]:
        """Earlier prompts, newest first: this session's, then the history's (no repeats)."""
        seen: dict[str, None] = dict.fromkeys(reversed(self.session_prompts))
        try:
            for prompt in self._history():
                if len(seen) >= RECALL_LIMIT:
                    break
                if prompt and prompt.strip():
                    seen.setdefault(prompt.strip(), None)
        except MJError as exc:  # the history is a convenience: never block the box on it
            log.warning("history unavailable for recall: %s", exc)
        return list(seen)[:RECALL_LIMIT]

    # ------------------------------------------------------------------ messages
    def _reply(self, content: dict[str, Any]) -> None:
        self.model.send(content)

    def _on_message(self, _widget: Any, content: dict, _buffers: Any) -> None:
        kind = content.get("type")
        seq = content.get("seq")
        try:
            if kind == "draft":
                text = str(content.get("prompt", ""))
                self._reply({"type": "draft", "seq": seq, "prompt": text, **describe_prompt(text)})
            elif kind == "set_params":
                self._set_params(seq, str(content.get("prompt", "")), content.get("changes") or {})
            elif kind == "recall":
                self._reply({"type": "recall", "seq": seq, "prompts": self.recall_list()})
            elif kind == "imagine":
                self._imagine(seq, str(content.get("prompt", "")))
        except Exception as exc:  # the kernel's message loop must survive anything
            log.exception("prompt bar message %r failed", kind)
            self.model.error = wording.error_words(exc)
            self.model.status_text = ""
            self._reply({"type": "failed", "seq": seq})

    def _set_params(self, seq: Any, text: str, changes: dict[str, Any]) -> None:
        wanted = {k: v for k, v in changes.items() if k in _CONTROLLED}
        try:
            rewritten = str(Prompt(text).with_params(**wanted))
        except MJError as exc:
            self._reply({"type": "draft", "seq": seq, "prompt": text, **describe_prompt(text)})
            self.model.error = wording.error_words(exc)
            return
        self._reply(
            {"type": "rewritten", "seq": seq, "prompt": rewritten, **describe_prompt(rewritten)}
        )

    def _imagine(self, seq: Any, text: str) -> None:
        try:
            self._on_submit(text)  # checks first; a refusal is shown in the bar and raised
        except MJError as exc:  # the text stays in the box, with the reasons under it
            problems: list[str] = []
            if isinstance(exc, PromptError):
                problems = exc.problems
                self.model.error = ""  # listed under the box instead
            self._reply({"type": "refused", "seq": seq, "prompt": text, "problems": problems})
            return
        self.remember(text)
        self._reply({"type": "sent", "seq": seq, "prompt": text})


def new_bar(**traits: Any) -> _PromptBarModel:
    return _PromptBarModel(uid=uuid.uuid4().hex, **traits)
