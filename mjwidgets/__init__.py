"""mjwidgets: Midjourney inside Jupyter.

Widgets (`Studio`, `TaskView`, `MaskEditor`) over a client of the Midjourney-proxy `/mj/...` API,
with a tracker that polls every task in one request, a SQLite history, an image cache, and an
embedded simulator (`mjwidgets.sim`) used whenever no MJ_BASE_URL is set.
"""

from typing import TYPE_CHECKING, Any

from . import recipes
from .budget import Budget, estimate, kernel_budget, set_kernel_budget
from .client import Client
from .errors import (
    AuthError,
    BannedPromptError,
    BudgetExceeded,
    InputTypeError,
    MJError,
    NotFoundError,
    QueueFullError,
    RateLimitError,
    ServerError,
    StoreError,
    TaskFailed,
    TaskTimeout,
    TransportError,
    UnsupportedError,
    ValidationError,
)
from .export import export_lineage, export_sweep, export_tasks, export_zip
from .imagecache import ImageCache
from .journal import SubmitJournal
from .ledger import Ledger, ledger
from .media import decode_image, mask_data_url, to_data_url
from .models import Button, ButtonKind, Status, Task, TaskBackend, VideoClip
from .picks import preferences
from .prompt import Prompt, PromptError
from .promptdiff import diff_params, diff_prompts
from .provenance import provenance
from .recipes import recipe
from .replay import Replay, continue_from, replay
from .store import HistoryStore, history, library, lineage
from .tracking import Tracker

if TYPE_CHECKING:
    from . import sim
    from .widgets import Compare, HistoryView, MaskEditor, Studio, TaskView

_WIDGETS = ("Compare", "HistoryView", "MaskEditor", "Studio", "TaskView")

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """The simulator and the widgets are imported on first use: a script needs neither, and
    they (werkzeug and Pillow drawing; anywidget, ipywidgets, IPython) are most of the import
    time. ``mjwidgets.Studio`` and ``from mjwidgets import Studio`` work as usual."""
    import importlib

    if name == "sim":
        return importlib.import_module(".sim", __name__)
    if name in _WIDGETS:
        return getattr(importlib.import_module(".widgets", __name__), name)
    raise AttributeError(f"module 'mjwidgets' has no attribute {name!r}")


__all__ = [
    "AuthError",
    "BannedPromptError",
    "Budget",
    "BudgetExceeded",
    "Button",
    "ButtonKind",
    "Client",
    "Compare",
    "HistoryStore",
    "HistoryView",
    "Ledger",
    "Replay",
    "ImageCache",
    "InputTypeError",
    "MaskEditor",
    "Studio",
    "TaskView",
    "Tracker",
    "VideoClip",
    "continue_from",
    "estimate",
    "export_zip",
    "history",
    "kernel_budget",
    "ledger",
    "library",
    "lineage",
    "preferences",
    "provenance",
    "recipe",
    "recipes",
    "replay",
    "set_kernel_budget",
    "sim",
    "MJError",
    "NotFoundError",
    "Prompt",
    "PromptError",
    "QueueFullError",
    "RateLimitError",
    "ServerError",
    "Status",
    "StoreError",
    "SubmitJournal",
    "Task",
    "TaskBackend",
    "TaskFailed",
    "TaskTimeout",
    "TransportError",
    "UnsupportedError",
    "ValidationError",
    "decode_image",
    "diff_params",
    "diff_prompts",
    "export_lineage",
    "export_sweep",
    "export_tasks",
    "mask_data_url",
    "to_data_url",
]
