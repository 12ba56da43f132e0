"""What a notebook keeps of a Studio or a card where no kernel runs: a static HTML picture.

A widget's live view needs its kernel (or the widget state JupyterLab saves only when asked to).
Notebooks saved with JupyterLab's defaults keep no widget state; JupyterLab then shows "Error
displaying widget: model not found", and GitHub, nbviewer and ``jupyter nbconvert --to html``
render nothing of the widget (nbconvert skips a widget view without saved state and falls back
to the output's next representation). So a Studio or a card is displayed as two outputs: the
widget, then this snapshot — a ``text/html`` output (each card's picture, prompt and status)
published with a display id and replaced as the tasks change. The live view hides it
(``hideSnapshotOf`` in js/common.js); where no live view exists it is what people see, and when
the notebook is trusted its style also hides the "model not found" line above it.

The pictures are small JPEGs (``SNAPSHOT_SIDE`` px on the long side) so a notebook of a hundred
cards stays a few MB; updates are coalesced to one every ``min_interval`` seconds, or longer for
a big snapshot (``SECONDS_PER_MB``), and only status changes and final images cause one.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from .. import renditions

log = logging.getLogger("mjwidgets.widgets")

SNAPSHOT_SIDE = 400  # px: the long side of a card's picture in the snapshot (shown ≤ 300 px)
SNAPSHOT_QUALITY = 70
# A big snapshot is refreshed less often: about 3 s per MB (a hundred cards: one every ~10 s),
# so keeping it current never costs more than a small share of the connection and the browser.
SECONDS_PER_MB = 3.0
# A change is painted by the live view first: the snapshot waits until the widget has been quiet
# this long (while changes keep coming, at most the longer of its interval and 4 s). The page
# receives every snapshot (hidden, but parsed whole by JupyterLab's HTML renderer and again by
# its table of contents: ~0.2 s for a 300-card Studio), and sent at once it would land while the
# change's own card is being drawn. Counted from the first change, a cell adding 100 cards to a
# 200-card Studio had its 6 MB snapshot built and parsed while the cards were being drawn:
# 2.3–2.7 s until all were painted, 1.85 s without it (benchmarks/README.md, "Issue 18").
SETTLE_S = 1.0

_CARD_STYLE = (
    "box-sizing:border-box;width:min(100%,300px);margin:0;padding:8px;border:1px solid #8884;"
    "border-radius:8px;font:12px/1.4 system-ui,sans-serif;overflow:hidden"
)
_GRID_STYLE = "display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start"


def picture_jpeg(display: bytes) -> bytes:
    """A card's picture in the snapshot, from the display JPEG the card shows: decoded at a
    fraction of its size (JPEG's own scaling), a few milliseconds, never the full image."""
    with Image.open(io.BytesIO(display)) as shown:
        shown.draft("RGB", (SNAPSHOT_SIDE, SNAPSHOT_SIDE))
        return renditions.display_jpeg(shown, max_side=SNAPSHOT_SIDE, quality=SNAPSHOT_QUALITY)


@dataclass(frozen=True)
class ClipPicture:
    """One clip of a video card as the snapshot keeps it: its poster (a small JPEG) always, the
    clip itself (``data``, ``mime``) only when the card's clips fit the saved-notebook budget."""

    poster: bytes
    mime: str = "video/mp4"
    data: bytes | None = None


@dataclass(frozen=True)
class CardPicture:
    """One card as the snapshot shows it."""

    task_id: str
    status: str
    prompt: str
    action: str = ""
    lineage: str = ""
    progress: int = 0
    fail_reason: str = ""
    jpeg: bytes = b""  # the final image, small; empty while there is none
    clips: tuple[ClipPicture, ...] = ()  # a video's clips (shown instead of ``jpeg``)


def _status_text(card: CardPicture) -> str:
    status = card.status.replace("_", " ").lower() or "unknown"
    if card.status == "IN_PROGRESS":
        status += f" {card.progress}%"
    return status


def card_html(card: CardPicture) -> str:
    """A card as static HTML (every text escaped; the picture inline as a data URL)."""
    parts = [
        f'<figure class="mjw-snapshot-card" data-task-id="{html.escape(card.task_id)}" '
        f'style="{_CARD_STYLE}">'
    ]
    if card.clips:
        parts.append(_clips_html(card))
    elif card.jpeg:
        data = base64.b64encode(card.jpeg).decode("ascii")
        parts.append(
            f'<img src="data:image/jpeg;base64,{data}" alt="{html.escape(card.prompt)}" '
            'style="display:block;width:100%;height:auto;border-radius:6px">'
        )
    head = [_status_text(card), card.action.lower(), card.lineage, f"#{card.task_id}"]
    parts.append('<figcaption style="margin-top:6px">')
    parts.append(
        '<div style="opacity:.75;font-size:11px">'
        + html.escape(" · ".join(piece for piece in head if piece))
        + "</div>"
    )
    if card.prompt:
        parts.append(
            f'<div style="white-space:pre-wrap;word-break:break-word">{html.escape(card.prompt)}'
            "</div>"
        )
    if card.fail_reason:
        parts.append(f'<div style="color:#d32f2f">Failed: {html.escape(card.fail_reason)}</div>')
    parts.append("</figcaption></figure>")
    return "".join(parts)


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _clips_html(card: CardPicture) -> str:
    """A video's clips: each poster as an image (every renderer shows it, a sanitizer keeps it)
    and, over it, the clip itself when the notebook carries it — a player where the renderer
    allows one, invisible where it strips the clip (the poster below still shows)."""
    columns = 2 if len(card.clips) > 1 else 1
    cells = []
    for number, clip in enumerate(card.clips, 1):
        poster = (
            f'<img src="{_data_url("image/jpeg", clip.poster)}" alt="clip {number}: '
            f'{html.escape(card.prompt)}" style="display:block;width:100%;height:auto">'
        )
        player = ""
        if clip.data:
            player = (
                f'<video class="mjw-snapshot-clip" src="{_data_url(clip.mime, clip.data)}" '
                'controls muted loop playsinline preload="metadata" '
                'style="position:absolute;inset:0;width:100%;height:100%"></video>'
            )
        cells.append(
            f'<div class="mjw-snapshot-poster" data-clip="{number}" '
            f'style="position:relative;border-radius:6px;overflow:hidden">{poster}{player}</div>'
        )
    return (
        f'<div class="mjw-snapshot-clips" style="display:grid;gap:4px;'
        f'grid-template-columns:repeat({columns},1fr)">{"".join(cells)}</div>'
    )


def snapshot_html(uid: str, title: str, cards: list[CardPicture], note: str = "") -> str:
    """The whole snapshot: a heading that says what it is, then the cards in screen order."""
    escaped_uid = html.escape(uid)
    # Trusted notebooks only (JupyterLab renders the style of trusted HTML): hide the "model not
    # found" / "Loading widget..." line the widget output above shows when its model is gone.
    # Child combinators only (as js/common.js's hideSnapshotOf): a :has() over every descendant
    # is re-checked at each style change inside the live widget beside it.
    style = (
        "<style>.jp-OutputArea-child:has(+ .jp-OutputArea-child > .jp-OutputArea-output > "
        f'[data-mjw-of="{escaped_uid}"]) > .jp-OutputArea-output:not(:has(> *))'
        "{display:none}</style>"
    )
    count = f"{len(cards)} card{'s' if len(cards) != 1 else ''}"
    heading = (
        f'<div style="font:600 13px system-ui,sans-serif;margin-bottom:2px">{html.escape(title)}'
        f' <span style="font-weight:400;opacity:.75">· snapshot · {count}</span></div>'
        '<div style="font:12px system-ui,sans-serif;opacity:.75;margin-bottom:8px">'
        "A picture saved with the notebook: run the cell again to bring it back to life."
        f"{(' ' + html.escape(note)) if note else ''}</div>"
    )
    body = "".join(card_html(card) for card in cards)
    return (
        f'{style}<div class="mjw-snapshot" data-mjw-of="{escaped_uid}">{heading}'
        f'<div style="{_GRID_STYLE}">{body}</div></div>'
    )


class Snapshot:
    """A widget's static picture, displayed once and replaced (coalesced) as it changes.

    ``build()`` returns the snapshot's HTML; it runs on a timer thread, so it must only read.
    """

    def __init__(
        self,
        build: Callable[[], str],
        *,
        label: str,
        min_interval: float = 2.0,
        settle: float = SETTLE_S,
    ) -> None:
        self._build = build
        self._label = label
        self.min_interval = min_interval
        self.settle = settle
        self.display_id = f"mjw-snapshot-{uuid.uuid4().hex}"
        self._shown = False
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._last = 0.0
        self._changed_at = 0.0  # the latest change
        self._waiting_since = 0.0  # the first change the next refresh shows
        self._interval = min_interval  # grows with the snapshot: sending it is not free
        self._closed = False
        # one build-and-send at a time: a slow older picture must never land after a newer one
        self._sending = threading.Lock()

    def _bundle(self) -> dict[str, str]:
        return {
            "text/html": self._build(),
            "text/plain": f"{self._label} (a snapshot: run the cell again to bring it to life)",
        }

    def display(self) -> None:
        """Publish the snapshot as an output of the running cell."""
        from IPython.display import display

        display(self._bundle(), raw=True, display_id=self.display_id)
        with self._lock:
            self._shown = True
            self._last = time.monotonic()

    def touch(self) -> None:
        """Something shown changed: refresh the snapshot soon — once the widget has been quiet
        for ``settle`` s (its live view has drawn the changes), at most every min_interval s,
        and while changes keep coming at least once per interval (or four ``settle``s)."""
        with self._lock:
            if not self._shown or self._closed:
                return
            now = time.monotonic()
            self._changed_at = now
            if self._timer is not None:
                return
            self._waiting_since = now
            self._start_timer(max(self.settle, self._last + self._interval - now))

    def _start_timer(self, delay: float) -> None:
        self._timer = threading.Timer(delay, self._refresh)
        self._timer.daemon = True
        self._timer.start()

    def _refresh(self) -> None:
        from IPython.display import update_display

        with self._sending:
            with self._lock:
                self._timer = None
                if self._closed:
                    return
                now = time.monotonic()
                quiet_at = self._changed_at + self.settle
                longest = max(self._interval, 4 * self.settle)  # while changes keep coming
                if now < quiet_at and now - self._waiting_since < longest:
                    self._start_timer(quiet_at - now)  # still changing: wait for a quiet moment
                    return
                self._last = now
            try:
                bundle = self._bundle()
                megabytes = len(bundle["text/html"]) / 1e6
                self._interval = max(self.min_interval, SECONDS_PER_MB * megabytes)
                update_display(bundle, raw=True, display_id=self.display_id)
            except Exception:  # a snapshot must never break the live widget
                log.exception("updating the snapshot %s failed", self.display_id)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
