"""mjwidgets: Midjourney inside Jupyter.

Widgets (`Studio`, `TaskView`, `MaskEditor`) over a client of the Midjourney-proxy `/mj/...` API,
with a tracker that polls every task in one request, a SQLite history, an image cache, and an
embedded simulator (`mjwidgets.sim`) used whenever no MJ_BASE_URL is set.
"""

from . import sim
from .client import Client, SubmitJournal
from .errors import (
    AuthError,
    BannedPromptError,
    MJError,
    NotFoundError,
    QueueFullError,
    RateLimitError,
    ServerError,
    TaskFailed,
    TaskTimeout,
    TransportError,
    ValidationError,
)
from .export import export_lineage, export_sweep, export_tasks
from .imagecache import ImageCache
from .media import decode_image, mask_data_url, to_data_url
from .models import Button, ButtonKind, Status, Task
from .prompt import Prompt, PromptError, diff_params, diff_prompts
from .store import HistoryStore, history, lineage
from .tracking import Tracker
from .widgets import Compare, HistoryView, MaskEditor, Studio, TaskView

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "BannedPromptError",
    "Button",
    "ButtonKind",
    "Client",
    "Compare",
    "HistoryStore",
    "HistoryView",
    "ImageCache",
    "MaskEditor",
    "Studio",
    "TaskView",
    "Tracker",
    "history",
    "lineage",
    "sim",
    "MJError",
    "NotFoundError",
    "Prompt",
    "PromptError",
    "QueueFullError",
    "RateLimitError",
    "ServerError",
    "Status",
    "SubmitJournal",
    "Task",
    "TaskFailed",
    "TaskTimeout",
    "TransportError",
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
