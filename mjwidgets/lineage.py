"""Lineage: which task came from which, by which button — as a tree from the oldest ancestor.

Built from the history store's parent links, so it survives restarts and spans kernels.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .models import Button, Task

if TYPE_CHECKING:
    from .store import HistoryStore

__all__ = ["LineageNode", "ancestors", "tree"]


@dataclass
class LineageNode:
    """A task in a lineage tree: the button pressed on the parent to make it, and its children."""

    task: Task
    via: Button | None = None
    children: list[LineageNode] = field(default_factory=list)

    def walk(self) -> Iterator[LineageNode]:
        """This node and every descendant, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()

    def find(self, task_id: str) -> LineageNode | None:
        return next((node for node in self.walk() if node.task.id == task_id), None)

    def render(self, indent: str = "") -> str:
        """The tree as text, one task per line: ``U2 → 1732… UPSCALE SUCCESS``."""
        via = f"{self.via.display} → " if self.via is not None else ""
        line = f"{indent}{via}{self.task.id} {self.task.action} {self.task.status.value}"
        return "\n".join([line] + [child.render(indent + "  ") for child in self.children])

    def __str__(self) -> str:
        return self.render()


def ancestors(store: HistoryStore, task_id: str, server: str | None = None) -> list[Task]:
    """The chain of parents of a stored task, the oldest first (the task itself excluded)."""
    server = server if server is not None else store.server_of(task_id) or ""
    chain: list[Task] = []
    seen = {task_id}
    current = store.get(task_id, server)
    while current is not None and current.parent_id and current.parent_id not in seen:
        seen.add(current.parent_id)
        parent = store.get(current.parent_id, server)
        if parent is None:
            chain.append(Task(id=current.parent_id))  # a parent made before the store existed
            break
        chain.append(parent)
        current = parent
    return list(reversed(chain))


def tree(store: HistoryStore, task_id: str, server: str | None = None) -> LineageNode | None:
    """A tree rooted at the oldest ancestor: the path down to ``task_id``, then every task made
    from it (buttons pressed on it, on their results, …). None for a task not in the store."""
    server = server if server is not None else store.server_of(task_id)
    if server is None:
        return None
    focus = store.get(task_id, server)
    if focus is None:
        return None
    node = _descendants(store, focus, server, {focus.id})
    for ancestor in reversed(ancestors(store, task_id, server)):
        node = LineageNode(ancestor, ancestor.origin_button, [node])
    return node


def _descendants(store: HistoryStore, task: Task, server: str, seen: set[str]) -> LineageNode:
    children = []
    for child in store.children(task, server):
        if child.id in seen:
            continue
        seen.add(child.id)
        children.append(_descendants(store, child, server, seen))
    return LineageNode(task, task.origin_button, children)


def lost_presses(store: HistoryStore, parent: Task, server: str) -> set[str]:
    """customIds pressed on ``parent`` whose submit's answer was lost (journaled "outcome
    unknown"): their result may exist on the server, so pressing again could pay twice."""
    return {
        str(intent.body.get("customId"))
        for intent in store.intents("unknown", server=server)
        if intent.body.get("taskId") == parent.id
    }
