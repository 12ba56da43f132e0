"""What a card's lightbox asks for, answered on demand: one candidate of a grid at full size,
and the job's seed.

Full-size bytes travel as one message buffer when asked for and are never kept in a trait (a
saved notebook carries every trait). A candidate is the server's own file of it when the task
lists one (trueai's ``imageUrls``), else the exact quadrant of the grid. To look at, it goes as
a high-quality JPEG; to download, lossless: the server's own file, or the quadrant as a PNG.
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from .. import renditions
from ..errors import MJError
from ..models import Task
from ..tracking import Tracker

VIEW_QUALITY = 92  # JPEG quality of a candidate sent to look at (the download is lossless)


def candidate_count(task: Task) -> int:
    """How many candidates the card's image holds: four for a grid, else one."""
    return 4 if task.is_grid else 1


def tile_payload(tracker: Tracker, task: Task, index: int, mode: str) -> tuple[dict, bytes]:
    """Candidate ``index`` (1-based) of ``task``'s image as (message content, bytes).

    ``mode`` "view" gives a JPEG to show, "download" the lossless file with its name.
    Raises MJError when the image cannot be had (never cached, server gone)."""
    count = candidate_count(task)
    if not 1 <= index <= count:
        raise MJError(f"image {index} does not exist: this card has {count}")
    own = tracker.cache.tile_file(task, index) if count > 1 else None
    if own is not None:
        with Image.open(own) as opened:
            opened.load()
            image = opened.copy()
        original = own.read_bytes()
    elif count > 1:
        image = renditions.split_grid(tracker.cache.image(task))[index - 1]
        original = b""
    else:
        path = tracker.cache.fetch(task)
        original = path.read_bytes()
        image = Image.open(io.BytesIO(original))
        image.load()
    suffix = f"-{index}" if count > 1 else ""
    content: dict[str, Any] = {
        "type": "tile",
        "mode": mode,
        "index": index,
        "width": image.width,
        "height": image.height,
        "source": "server" if own is not None else ("quadrant" if count > 1 else "image"),
    }
    if mode == "download":
        if original:
            fmt = (Image.open(io.BytesIO(original)).format or "PNG").upper()
            data = original
        else:
            out = io.BytesIO()
            image.save(out, "PNG")
            fmt, data = "PNG", out.getvalue()
        mime = Image.MIME.get(fmt, "image/png")
        extension = "jpg" if fmt == "JPEG" else fmt.lower()
        content.update(mime=mime, filename=f"mj-{task.id}{suffix}.{extension}")
        return content, data
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=VIEW_QUALITY)
    content.update(mime="image/jpeg")
    return content, out.getvalue()


def seed_payload(tracker: Tracker, task: Task) -> dict:
    """The job's seed as the server reports it (GET /task/{id}/image-seed), or why not."""
    client = tracker.client
    if client is None:
        return {"type": "seed", "error": "no client: the seed cannot be asked for"}
    try:
        return {"type": "seed", "seed": client.image_seed(task)}
    except MJError as exc:
        return {"type": "seed", "error": f"this server gives no seed: {exc}"}
