"""Smaller copies of images for people to look at: the card's display JPEG, gallery and
contact-sheet thumbnails, and a grid cut into its four tiles.

One downscaler for the package: integer ``reduce`` first (cheap, and it averages, so no
aliasing), then a resampling filter for the last step. Pure Pillow; the originals are untouched.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image

__all__ = [
    "DISPLAY_MAX",
    "POSTER_MAX",
    "display_jpeg",
    "poster_jpeg",
    "thumbnail_webp",
    "shrink",
    "split_grid",
]

DISPLAY_MAX = 1024  # px on the long side of what the browser gets for a card
# px on the long side of a clip's poster in a card: the size of the CDN's own video thumbnails
# (``…/0_{i}_640_N.webp``); an SD clip (832×464) is shown a little smaller, an HD one shrunk.
POSTER_MAX = 640


def shrink(
    image: Image.Image,
    side: int,
    *,
    resample: Image.Resampling = Image.Resampling.LANCZOS,
) -> Image.Image:
    """An RGB copy whose long side is at most ``side``: integer reduce, then ``resample``."""
    shown = image if image.mode == "RGB" else image.convert("RGB")
    factor = max(shown.size) // side
    if factor > 1:
        shown = shown.reduce(factor)
    if max(shown.size) > side:
        shown = shown.copy() if shown is image else shown
        shown.thumbnail((side, side), resample)
    return shown


def display_jpeg(image: Image.Image, *, max_side: int = DISPLAY_MAX, quality: int = 85) -> bytes:
    """A display-sized JPEG of ``image`` (~80 KB for a 2048² grid), for a card.

    Integer ``reduce`` then bilinear and JPEG: a few milliseconds, where LANCZOS + WebP took
    ~100 ms per grid (benchmarks/delivery.py measures both); the full image stays available.
    """
    out = io.BytesIO()
    shrink(image, max_side, resample=Image.Resampling.BILINEAR).save(out, "JPEG", quality=quality)
    return out.getvalue()


def poster_jpeg(
    frame: Image.Image, *, max_side: int | None = POSTER_MAX, quality: int = 82
) -> bytes:
    """A clip's poster: its first frame as a JPEG, at most ``max_side`` px on the long side
    (None: full size, for files people keep). A 4-clip card's posters are ~4 × 20-40 KB."""
    out = io.BytesIO()
    shown = frame.convert("RGB") if max_side is None else shrink(frame, max_side)
    shown.save(out, "JPEG", quality=quality)
    return out.getvalue()


def thumbnail_webp(source: Image.Image | str | os.PathLike[str], side: int, quality: int) -> bytes:
    """A small WebP (a few KB) of an image or an image file already in the cache."""
    if isinstance(source, Image.Image):
        image = shrink(source, side)
    else:
        with Image.open(Path(source)) as opened:
            opened.draft("RGB", (side, side))  # JPEG: decode at a reduced scale
            image = shrink(opened.convert("RGB"), side)
    out = io.BytesIO()
    image.save(out, "WEBP", quality=quality, method=4)
    return out.getvalue()


def split_grid(image: Image.Image) -> list[Image.Image]:
    """The four candidates of a 2×2 grid: top-left, top-right, bottom-left, bottom-right."""
    width, height = image.size
    half_w, half_h = width // 2, height // 2
    corners = [(0, 0), (half_w, 0), (0, half_h), (half_w, half_h)]
    return [image.crop((x, y, x + half_w, y + half_h)) for x, y in corners]
