"""The card of a video task: its clips as posters that play, and Animate on every server.

A TaskView whose task is a video (a video grid, a video U, an extend, or one still running) uses
``VideoCardModel``: the image card's traits and front end (js/taskview.js: status, progress,
buttons, lineage) plus a grid of up to four clips (js/videocard.js). What the browser gets before
anything plays is small on purpose: one display-sized poster per clip (``VideoCache.card_media``)
and each clip's size, length and weight. A clip's bytes travel only when a person hovers or clicks
it (or downloads it) — one message buffer, never a trait — so a Studio of video cards costs the
connection, and a saved notebook's widget state, the posters and nothing more. The saved
notebook's static snapshot (``snapshot.py``) keeps the posters always and the clips themselves
only when a card's clips fit ``videocache.CARD_CLIP_BUDGET`` (docs/video.md says why).

Animate everywhere: trueai and Plus press the server's own Animate button; new-api refuses it
(``unknown_action``), so a card there makes the same video through ``POST /mj/submit/video`` with
the image as its start frame (``tracker.video``), and an Extend through ``tracker.extend`` —
registered with ``cardbuttons.register_equivalent``, so the button is shown enabled, says what it
will do, and one click submits once.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import Any

import traitlets
from PIL import Image

from .. import renditions, wording
from ..errors import MJError
from ..models import Button, ButtonKind, Status, Task
from ..prompt import Prompt
from ..tracking import Tracker
from ..videocache import CARD_CLIP_BUDGET, CardClip
from . import cardbuttons
from .cardmodel import CardModel
from .plumbing import front_end
from .snapshot import SNAPSHOT_QUALITY, SNAPSHOT_SIDE, ClipPicture

log = logging.getLogger("mjwidgets.widgets")

__all__ = [
    "VideoCardModel",
    "animate_elsewhere",
    "clip_entries",
    "clip_payload",
    "clip_pictures",
    "extend_offer",
    "is_video_card",
    "send_clip",
    "show_finished",
]


class VideoCardModel(CardModel):
    """A TaskView's front end for a video task (js/taskview.js, then js/videocard.js).

    ``clips``: ``[{index, poster (JPEG bytes), poster_size, size, duration, nbytes, mime}]``,
    one per clip, set once the job succeeded and its clips are cached; empty before."""

    _esm = front_end(
        "common.js",
        "lightbox.js",
        "copycode.js",
        "gallerylibrary.js",
        "taskview.js",
        "videocard.js",
        styles=("mjwidgets.css", "lightbox.css", "videocard.css"),
    )

    clips = traitlets.List[Any]().tag(sync=True)
    # "" or the tooltip of each clip's "+4 s": Extend offered clip by clip where the server
    # refuses the grid's U buttons (new-api), so a clip can still be extended from the card
    extend_offer = traitlets.Unicode("").tag(sync=True)


def is_video_card(task: Task) -> bool:
    """Whether ``task``'s card shows clips: a video job, finished or on its way."""
    return task.is_video


def clip_entries(tracker: Tracker, task: Task) -> list[dict[str, Any]]:
    """The ``clips`` trait of a finished video: posters and facts, never the clip bytes."""
    if task.status is not Status.SUCCESS or not task.video_urls:
        return []
    media = tracker.cache.videos.card_media(task, budget=-1)  # posters only: clips on demand
    return [_entry(clip) for clip in media]


def _entry(clip: CardClip) -> dict[str, Any]:
    return {
        "index": clip.index,
        "poster": clip.poster,
        "poster_size": list(clip.poster_size),
        "size": list(clip.size),
        "duration": clip.duration,
        "nbytes": clip.nbytes,
        "mime": clip.mime,
    }


def show_finished(
    card: VideoCardModel,
    tracker: Tracker,
    task: Task,
    keep_pictures: Callable[[tuple[ClipPicture, ...]], None],
) -> bool:
    """Put a finished video's posters on ``card`` (the clips come when played), after handing
    what the saved snapshot keeps of them to ``keep_pictures`` (first: the change wakes the
    snapshot, which must find them). False when the clips cannot be had yet (the card says why
    in its ``retrying`` line and the next update tries again)."""
    try:
        entries = clip_entries(tracker, task)
        pictures = clip_pictures(tracker, task)
    except MJError as exc:
        card.retrying = f"clips not available yet: {exc.description or exc}"
        return False
    keep_pictures(pictures)
    with card.hold_sync():
        card.clips = entries
        card.extend_offer = extend_offer(tracker, task)
        card.is_preview = False
        card.retrying = ""
    return True


MAX_SECONDS = 21.0  # 5 s and four extends of 4 s: Midjourney extends no further


def extend_offer(tracker: Tracker, task: Task) -> str:
    """The tooltip of a per-clip Extend when the card should offer one, else "": a finished
    video whose server makes videos but refuses its U buttons (new-api relays the grid's clips
    and ``/submit/video``, not ``video_virtual_upscale``), so the API's own path (U, then
    Extend) is closed and ``client.extend(task, index=i)`` is the way."""
    client = tracker.client
    if client is None or task.status is not Status.SUCCESS or not task.video_urls:
        return ""
    if (task.video_duration or 0) >= MAX_SECONDS or client.capabilities.why_not("video"):
        return ""
    uppers = [b for b in task.buttons if b.kind is ButtonKind.UPSAMPLE]
    if not uppers or all(client.capabilities.accepts(b).ok for b in uppers):
        return ""
    return (
        "Extend this clip by four seconds (high motion) — this server has no U buttons for "
        "clips, so the card asks for it through POST /mj/submit/video (one job, billed once)"
    )


def send_clip(card: CardModel, tracker: Tracker, task: Task, index: int, mode: str) -> None:
    """Answer a card's ``{"type": "clip"}`` message: clip ``index`` as one message buffer, or
    the reason it cannot be had (run on a worker thread: it never raises)."""
    try:
        content, data = clip_payload(tracker, task, index, mode)
    except (MJError, OSError) as exc:
        card.send({"type": "clip", "index": index, "mode": mode, "error": str(exc)})
        return
    except Exception as exc:  # a worker must report, not die silently
        log.exception("clip %s of %s failed", index, task.id)
        card.send({"type": "clip", "index": index, "mode": mode, "error": repr(exc)})
        return
    card.send(content, [data])


def clip_payload(tracker: Tracker, task: Task, index: int, mode: str) -> tuple[dict, bytes]:
    """Clip ``index`` (0-based) as (message content, the clip's bytes): to play in the card or
    the full-size player (``mode`` "play"), or to save (``mode`` "download", with its file
    name). Raises MJError when the clip cannot be had."""
    count = len(task.video_urls)
    if not 0 <= index < count:
        raise MJError(f"clip {index + 1} does not exist: this card has {count}")
    path = tracker.cache.videos.clip(task, index)
    mime = "video/webm" if path.suffix == ".webm" else "video/mp4"
    suffix = f"-{index + 1}" if count > 1 else ""
    content = {
        "type": "clip",
        "index": index,
        "mode": "download" if mode == "download" else "play",
        "mime": mime,
        "filename": f"mj-{task.id}{suffix}{path.suffix}",
    }
    return content, path.read_bytes()


def clip_pictures(
    tracker: Tracker, task: Task, *, budget: int = CARD_CLIP_BUDGET
) -> tuple[ClipPicture, ...]:
    """What a saved notebook's snapshot keeps of a finished video's clips: a small poster each,
    and the clips themselves when together they weigh at most ``budget`` (all or none)."""
    if task.status is not Status.SUCCESS or not task.video_urls:
        return ()
    side = SNAPSHOT_SIDE if len(task.video_urls) == 1 else SNAPSHOT_SIDE // 2
    media = tracker.cache.videos.card_media(task, poster_side=side, budget=budget)
    return tuple(
        ClipPicture(poster=_small(clip.poster), mime=clip.mime, data=clip.data) for clip in media
    )


def _small(poster: bytes) -> bytes:
    """A poster re-encoded at the snapshot's JPEG quality (it is shown ≤ 300 px wide)."""
    with Image.open(io.BytesIO(poster)) as opened:
        opened.load()
        return renditions.poster_jpeg(opened, max_side=None, quality=SNAPSHOT_QUALITY)


# -- Animate where the server refuses the button ----------------------------------------------


def animate_elsewhere(tracker: Tracker, task: Task, button: Button) -> Task:
    """Animate or Extend as ``POST /mj/submit/video`` (tracked, journaled, budgeted like every
    paid submit): Animate makes a video that starts from ``task``'s image, with the button's
    motion and the image's words as its prompt; Extend adds four seconds to ``task``'s clip."""
    if button.extends:
        return tracker.extend(task, index=0, motion=button.motion)
    words = Prompt.parse(task.prompt or "").text.strip() or "animate this image"
    return tracker.video(words, image=task, motion=button.motion)


def _elsewhere_title(button: Button) -> str:
    what = "four more seconds of this video" if button.extends else "a 5-second video from it"
    return (
        f"{wording.button_name(button)}: {what} — this server does not relay the button, so "
        "the card asks for it through POST /mj/submit/video (one job, billed once)"
    )


cardbuttons.register_equivalent(ButtonKind.ANIMATE, _elsewhere_title, animate_elsewhere)
