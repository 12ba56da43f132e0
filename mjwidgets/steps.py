"""A lineage as steps by meaning: what was sent to make each task of a chain, so it can be sent
again — as code (``recipes``), on another server or model version (``replay``), or inside the
picture itself (``provenance``).

A step names its button by meaning (``{"kind": "upsample", "index": 2}``), never by customId
(customIds name one job and are stale everywhere else), its images by digest (the history keeps
their bytes: ``inputs``), and its dialog's prompt and mask when one was sent. Everything comes
from the history store: the journal's record of what each submit carried, and the lineage
links. A task the history never saw submitted is an "unknown" step: it can be started from, not
made again.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from . import costs, inputs
from .models import Button, ButtonKind, Task
from .transport import MODES

if TYPE_CHECKING:
    from .store import HistoryStore

__all__ = ["Step", "step_of", "steps_for", "steps_from_json", "story", "cost_of", "SUBMITS"]

#: What a step does: the submit that made its task.
SUBMITS = ("imagine", "press", "blend", "describe", "shorten", "video", "unknown")
_BOTS = {"MID_JOURNEY": "mj", "NIJI_JOURNEY": "niji"}


@dataclass
class Step:
    """One task of a lineage and the submit(s) that made it.

    ``submit`` is "imagine", "press" (a button on the previous step's task, ``button`` its
    meaning and ``label`` how people saw it), "blend", "describe", "shorten", "video" or
    "unknown". A press that opened a dialog (Vary (Region), Custom Zoom, remix) has ``dialog``
    True with the ``dialog_prompt`` and ``mask`` (a digest) that were sent. ``images`` are the
    digests of image inputs (references, blend inputs); ``mode`` the speed prefix used, if any.
    """

    task_id: str
    submit: str
    action: str = ""
    status: str = ""
    prompt: str = ""
    button: dict[str, Any] | None = None
    label: str = ""
    dialog: bool = False
    dialog_prompt: str | None = None
    mask: str | None = None
    images: list[str] = field(default_factory=list)
    bot: str = "mj"
    dimensions: str | None = None
    mode: str | None = None
    video: dict[str, Any] | None = None

    @property
    def kind(self) -> ButtonKind | None:
        """The pressed button's kind (None for steps that press nothing)."""
        return ButtonKind(self.button["kind"]) if self.button else None

    def describe(self) -> str:
        """``imagine "a red fox"``, ``press U2``, ``press Vary (Region) + dialog (mask …)``."""
        if self.submit == "press":
            what = f"press {self.label or self.button}"
            if self.dialog:
                what += " + dialog" + (f" (mask {self.mask[7:19]}…)" if self.mask else "")
            return what
        if self.submit == "video" and str((self.video or {}).get("action")).lower() == "extend":
            return f"extend {self.prompt!r}"
        if self.submit in ("imagine", "shorten", "video"):
            return f"{self.submit} {self.prompt!r}"
        return self.submit

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value not in (None, [], "")}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Step:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        step = cls(**known)
        step.images = list(step.images or [])
        return step


def steps_from_json(items: Any) -> list[Step]:
    """Steps as a record carries them (``provenance``'s ``steps``)."""
    return [Step.from_json(item) for item in items or [] if isinstance(item, dict)]


def _mode(endpoint: str) -> str | None:
    for mode, prefix in MODES.items():
        if endpoint.startswith(prefix + "/"):
            return mode
    return None


def _intents(store: HistoryStore, server: str, task_id: str) -> list[tuple[str, dict[str, Any]]]:
    rows = store.read(
        "SELECT endpoint, body FROM intents WHERE server=? AND task_id=? AND outcome='ok'"
        " ORDER BY created_at",
        (server, task_id),
    )
    found = []
    for row in rows:
        try:
            body = json.loads(row["body"] or "{}")
        except ValueError:
            body = {}
        found.append((row["endpoint"], body if isinstance(body, dict) else {}))
    return found


def _press(step: Step, task: Task, custom_id: str) -> None:
    label = ""
    if task.origin_button is not None and task.origin_button.custom_id == custom_id:
        label = task.origin_button.display
    button = Button(custom_id=custom_id, label=label)
    step.submit, step.button, step.label = "press", button.meaning, label or button.display


def _from_intents(step: Step, store: HistoryStore, server: str, task: Task) -> bool:
    """Fill ``step`` from the journal; False when the history has no submit for the task."""
    intents = _intents(store, server, task.id)
    for endpoint, body in intents:
        name = endpoint.rsplit("/", 1)[-1]
        step.mode = _mode(endpoint) or step.mode
        if name == "imagine":
            step.submit, step.prompt = "imagine", str(body.get("prompt") or "")
            step.images = [str(d) for d in body.get("base64Array") or []]
            step.bot = _BOTS.get(str(body.get("botType") or ""), "mj")
        elif name == "action":
            _press(step, task, str(body.get("customId") or ""))
        elif name == "modal":
            opened_by = str(body.get("taskId") or "")
            if step.submit != "press" and opened_by and opened_by != task.id:
                for other_endpoint, other in _intents(store, server, opened_by):
                    if other_endpoint.endswith("/action"):
                        _press(step, task, str(other.get("customId") or ""))
            step.dialog = True
            step.dialog_prompt = str(body.get("prompt") or "")
            mask = body.get("maskBase64")
            step.mask = str(mask) if isinstance(mask, str) and mask.startswith("sha256:") else None
        elif name == "blend":
            step.submit, step.images = "blend", [str(d) for d in body.get("base64Array") or []]
            step.dimensions = str(body.get("dimensions") or "SQUARE")
        elif name in ("describe", "shorten"):
            step.submit, step.prompt = name, str(body.get("prompt") or "")
            image = body.get("base64")
            step.images = [str(image)] if isinstance(image, str) else []
        elif name == "video":  # /submit/video: the fields it was sent with, images by digest
            step.submit = "video"
            step.prompt = str(body.get("prompt") or "")
            step.video = {k: v for k, v in body.items() if k not in ("state", "notifyHook")}
    return bool(intents)


def _from_task(step: Step, task: Task) -> None:
    """A task the journal never saw submitted: what its own fields say."""
    if task.origin_button is not None:
        _press(step, task, task.origin_button.custom_id)
    elif task.action.upper() in ("IMAGINE", "") and task.prompt:
        step.submit = "imagine"
    elif task.action.upper() == "BLEND":
        step.submit = "blend"


def step_of(store: HistoryStore, server: str, task: Task) -> Step:
    """The step that made one stored task: from the journal, else from the task's own fields."""
    step = Step(
        task_id=task.id,
        submit="unknown",
        action=task.action,
        status=task.status_raw or task.status.value,
        prompt=task.prompt or task.prompt_en,
    )
    if not _from_intents(step, store, server, task):
        _from_task(step, task)
    return step


def steps_for(store: HistoryStore, task: Task | str, server: str | None = None) -> list[Step]:
    """The steps that made ``task``, oldest first: its ancestors' submits, then its own."""
    task_id = task.id if isinstance(task, Task) else str(task)
    if server is None:
        server = task.server if isinstance(task, Task) and task.server else None
    server = server or store.server_of(task_id) or ""
    focus = store.get(task_id, server) or (task if isinstance(task, Task) else Task(id=task_id))
    return [step_of(store, server, item) for item in [*store.ancestors(task_id, server), focus]]


#: Bytes of masks a picture carries inline (a JPEG segment holds 64 KB, base64 grows by 4/3).
STORY_MASK_BYTES = 24_000


def story(store: HistoryStore, task: Task) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """What a saved picture carries: its lineage's steps (as JSON) and the masks they send
    (digest → base64) while they are small enough to travel inside the file."""
    found = steps_for(store, task)
    masks: dict[str, str] = {}
    room = STORY_MASK_BYTES
    for step in found:
        path = inputs.find(store.folder / inputs.FOLDER_NAME, step.mask) if step.mask else None
        if step.mask and path is not None and path.stat().st_size <= room:
            room -= path.stat().st_size
            masks[step.mask] = base64.b64encode(path.read_bytes()).decode("ascii")
    return [step.to_json() for step in found], masks


def cost_of(steps: list[Step], mode: str | None = None) -> costs.Estimate:
    """What making ``steps`` again costs (``costs``' table): an "unknown" step is started from,
    not made, and costs nothing; a dialog is one more call. ``mode`` is the client's prefix
    (each step's own ``mode`` wins)."""
    total = costs.Estimate()
    for step in steps:
        how = step.mode or mode
        if step.submit == "imagine":
            total += costs.imagine_cost(step.prompt, how)
        elif step.submit == "blend":
            total += costs.imagine_cost("", how, job="blend")
        elif step.submit in ("describe", "shorten"):
            total += costs.line(costs.COST_TABLE["describe"], costs.mode_of(None, how))
        elif step.submit == "video":
            video = step.video or {}
            total += costs.video_cost(
                batch_size=int(video.get("batchSize") or 4),
                hd=str(video.get("videoType") or "").endswith("720"),
                extend=str(video.get("action") or "").lower() == "extend",
                mode=how,
                prompt=step.prompt,
            )
        elif step.submit == "press" and step.button:
            total += costs.job_cost(step.button, step.prompt, how)
            if step.dialog:
                total += costs.Estimate([costs.EstimateLine("dialog", 1, 0.0, "the dialog")])
    return total
