"""Where each card sits on screen: newest first, a button's result right after its parent.

The Studio shows its cards in a CSS grid ordered by each card's CSS ``order`` (an integer), so a
card can be shown anywhere while the widget list only grows. Keys are spaced ``GAP`` apart: a
new first card takes the first key minus ``GAP``, a result takes the midpoint between its
parent's key and the next one, and only when no integer is left between two neighbours is every
key renumbered (one layout message per card, rare). Pure: no widgets needed to test it.
"""

from __future__ import annotations

from collections.abc import Hashable

GAP = 1 << 16
_LIMIT = 1 << 30  # CSS order is a 32-bit integer: renumber well before it


class CardOrder:
    """The screen order of the Studio's items and the CSS ``order`` key of each.

    ``first`` and ``after`` return the keys that changed ({item: key}), to apply to the items.
    """

    def __init__(self) -> None:
        self._items: list[Hashable] = []  # screen order
        self._keys: dict[Hashable, int] = {}

    def __contains__(self, item: object) -> bool:
        return item in self._keys

    def __len__(self) -> int:
        return len(self._items)

    def key(self, item: Hashable) -> int:
        return self._keys[item]

    def in_screen_order(self) -> list[Hashable]:
        return list(self._items)

    def first(self, item: Hashable) -> dict[Hashable, int]:
        """Put a new ``item`` before every other one."""
        return self._insert(item, 0)

    def after(self, item: Hashable, anchor: Hashable | None) -> dict[Hashable, int]:
        """Put a new ``item`` right after ``anchor`` (first when the anchor is not placed)."""
        if anchor is None or anchor not in self._keys:
            return self.first(item)
        return self._insert(item, self._items.index(anchor) + 1)

    def rename(self, old: Hashable, new: Hashable) -> None:
        """Let ``new`` take ``old``'s place and key: a place kept for an item before it exists
        (a Studio's card opens in the page with its CSS order, not with an update after)."""
        self._items[self._items.index(old)] = new
        self._keys[new] = self._keys.pop(old)

    def forget(self, item: Hashable) -> None:
        """Give up a kept place (the item could not be made); its neighbours keep their keys."""
        if item in self._keys:
            self._items.remove(item)
            del self._keys[item]

    def _insert(self, item: Hashable, position: int) -> dict[Hashable, int]:
        if item in self._keys:
            return {}
        before = self._keys[self._items[position - 1]] if position > 0 else None
        following = self._keys[self._items[position]] if position < len(self._items) else None
        self._items.insert(position, item)
        if before is None and following is None:
            key: int | None = 0
        elif before is None:
            key = following - GAP if following is not None else 0
        elif following is None:
            key = before + GAP
        else:
            key = (before + following) // 2 if following - before >= 2 else None
        if key is None or abs(key) >= _LIMIT:
            return self._renumber()
        self._keys[item] = key
        return {item: key}

    def _renumber(self) -> dict[Hashable, int]:
        changed: dict[Hashable, int] = {}
        for index, item in enumerate(self._items):
            key = index * GAP
            if self._keys.get(item) != key:
                self._keys[item] = key
                changed[item] = key
        return changed
