"""The notebook widgets: each has a Python half here and a front-end half in js/."""

from .compare import Compare
from .historyview import HistoryView
from .maskeditor import MaskEditor
from .studio import Studio
from .taskview import TaskView

__all__ = ["Compare", "HistoryView", "MaskEditor", "Studio", "TaskView"]
