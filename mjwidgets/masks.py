"""Region masks for Vary (Region): vector operations in image pixels -> an exact binary PNG.

A mask is a Pillow ``"L"`` image the exact size of the image being edited, holding only the values
0 and 255. It is built from a list of operations (:class:`Rect`, :class:`Polygon`, :class:`Stroke`,
:class:`Invert`, :class:`Clear`) recorded in the image's native pixel coordinates, so it never
depends on the size at which the image was shown on screen.

Polarity
    The Midjourney proxy wants **white (255) = the region to repaint, black (0) = keep**
    (``polarity="white-repaint"``, the default everywhere here). Some other tools use the opposite
    convention; ``polarity="black-repaint"`` produces (or, in :func:`load_mask`, reads) that one.
    Operations always speak of "selected" (to repaint) and "kept" pixels; polarity only decides
    which of 0/255 means "selected" in the output.

Threshold
    :func:`load_mask` turns any user-supplied mask into exactly 0/255: the image is converted to
    8-bit grey (transparent pixels count as black) and every pixel ``>= threshold`` (default 128)
    becomes 255, every other pixel 0.

Coordinates
    ``x`` grows to the right, ``y`` downwards, in pixels of the native image.
    :class:`Rect` uses pixel *edges* and is half-open, like NumPy slicing: ``Rect(x0, y0, x1, y1)``
    selects exactly ``mask[y0:y1, x0:x1]``, so ``Rect(0, 0, w, h)`` is the whole image.
    :class:`Polygon` and :class:`Stroke` points are pixel *indices*, as in Pillow's ``ImageDraw``:
    a polygon fills exactly what ``ImageDraw.polygon`` fills (boundary pixels included); a stroke of
    width ``w`` covers exactly ``w`` pixels across a horizontal or vertical segment (for even ``w``
    the extra pixel is on the right/bottom) and has round caps and joins of the same width.
    All coordinates are rounded to integers when an operation is made.
"""

from __future__ import annotations

import base64
import io
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from PIL import Image, ImageChops, ImageDraw

from . import media
from .errors import InputTypeError, ValidationError

__all__ = [
    "POLARITIES",
    "Clear",
    "EmptyMaskError",
    "Invert",
    "MaskSizeError",
    "Polygon",
    "Rect",
    "Stroke",
    "apply_ops",
    "is_empty",
    "load_mask",
    "op_from_dict",
    "open_image",
    "rasterize",
    "to_data_url",
    "to_png_bytes",
]

POLARITIES = ("white-repaint", "black-repaint")
PNG_DATA_URL_PREFIX = "data:image/png;base64,"


class MaskSizeError(ValidationError):
    """The mask is not the size of the image it is for."""

    advice = ""  # the message names both sizes


class EmptyMaskError(ValidationError):
    """The mask selects no pixel at all."""

    advice = ""  # the message says what to do


Point = tuple[int, int]


def _points(points: Iterable[Sequence[float]]) -> tuple[Point, ...]:
    return tuple((round(p[0]), round(p[1])) for p in points)


@dataclass(frozen=True)
class Rect:
    """Select ``mask[y0:y1, x0:x1]`` (half-open; corners may be given in any order)."""

    x0: float  # rounded to whole pixels on creation
    y0: float
    x1: float
    y1: float
    type: ClassVar[str] = "rect"

    def __post_init__(self) -> None:
        x0, x1 = sorted((round(self.x0), round(self.x1)))
        y0, y1 = sorted((round(self.y0), round(self.y1)))
        for name, value in (("x0", x0), ("y0", y0), ("x1", x1), ("y1", y1)):
            object.__setattr__(self, name, value)

    def scaled(self, sx: float, sy: float) -> Rect:
        return Rect(self.x0 * sx, self.y0 * sy, self.x1 * sx, self.y1 * sy)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "x0": self.x0, "y0": self.y0, "x1": self.x1, "y1": self.y1}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rect:
        _check_type(cls, data)
        return cls(data["x0"], data["y0"], data["x1"], data["y1"])


@dataclass(frozen=True)
class Polygon:
    """Select the inside of a closed polygon (the lasso), filled as ``ImageDraw.polygon`` fills."""

    points: tuple[Point, ...]
    type: ClassVar[str] = "polygon"

    def __post_init__(self) -> None:
        points = _points(self.points)
        if len(points) < 3:
            raise ValidationError(f"a polygon needs at least 3 points, got {len(points)}")
        object.__setattr__(self, "points", points)

    def scaled(self, sx: float, sy: float) -> Polygon:
        return Polygon(_points((x * sx, y * sy) for x, y in self.points))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "points": [list(p) for p in self.points]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Polygon:
        _check_type(cls, data)
        return cls(data["points"])


@dataclass(frozen=True)
class Stroke:
    """A brush (or, with ``erase=True``, eraser) stroke: round caps and joins, ``width`` pixels."""

    points: tuple[Point, ...]
    width: int
    erase: bool = False
    type: ClassVar[str] = "stroke"

    def __post_init__(self) -> None:
        points = _points(self.points)
        if not points:
            raise ValidationError("a stroke needs at least 1 point")
        width = round(self.width)
        if width < 1:
            raise ValidationError(f"a stroke's width must be at least 1 pixel, got {self.width}")
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "width", width)
        object.__setattr__(self, "erase", bool(self.erase))

    def scaled(self, sx: float, sy: float) -> Stroke:
        points = _points((x * sx, y * sy) for x, y in self.points)
        return Stroke(points, max(1, round(self.width * (sx + sy) / 2)), self.erase)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "points": [list(p) for p in self.points],
            "width": self.width,
            "erase": self.erase,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stroke:
        _check_type(cls, data)
        return cls(data["points"], data["width"], data.get("erase", False))


@dataclass(frozen=True)
class Invert:
    """Swap selected and kept pixels."""

    type: ClassVar[str] = "invert"

    def scaled(self, sx: float, sy: float) -> Invert:
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Invert:
        _check_type(cls, data)
        return cls()


@dataclass(frozen=True)
class Clear:
    """Select nothing (everything before it no longer counts)."""

    type: ClassVar[str] = "clear"

    def scaled(self, sx: float, sy: float) -> Clear:
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Clear:
        _check_type(cls, data)
        return cls()


Op = Rect | Polygon | Stroke | Invert | Clear
_OP_TYPES: dict[str, Any] = {c.type: c for c in (Rect, Polygon, Stroke, Invert, Clear)}


def _check_type(cls: Any, data: dict[str, Any]) -> None:
    if data.get("type", cls.type) != cls.type:
        found = data.get("type")
        raise ValidationError(f"expected an operation of type {cls.type!r}, got {found!r}")


def op_from_dict(data: dict[str, Any]) -> Op:
    """Rebuild any operation from its ``to_dict()`` form."""
    kind = data.get("type")
    if kind not in _OP_TYPES:
        known = sorted(_OP_TYPES)
        raise ValidationError(f"unknown mask operation {kind!r}; expected one of {known}")
    return _OP_TYPES[kind].from_dict(data)


def _check_polarity(polarity: str) -> None:
    if polarity not in POLARITIES:
        raise ValidationError(f"unknown polarity {polarity!r}; expected one of {POLARITIES}")


def _draw_stroke(draw: ImageDraw.ImageDraw, op: Stroke, fill: int) -> None:
    w, pts = op.width, op.points
    if w == 1:
        if len(pts) > 1:
            draw.line(pts, fill=fill)
        draw.point(pts, fill=fill)
        return
    if len(pts) > 1:
        draw.line(pts, fill=fill, width=w)
    lo = (w - 1) // 2  # a disc exactly w pixels across, aligned with Pillow's wide lines
    for x, y in pts:
        draw.ellipse((x - lo, y - lo, x - lo + w - 1, y - lo + w - 1), fill=fill)


def apply_ops(mask: Image.Image, ops: Iterable[Op]) -> Image.Image:
    """Apply ``ops`` in order on top of an existing white-repaint "L" mask and return the result.

    Drawing happens in place; :class:`Invert` makes a new image, so always use the return value.
    """
    draw = ImageDraw.Draw(mask)
    for op in ops:
        if isinstance(op, Rect):
            if op.x1 > op.x0 and op.y1 > op.y0:
                draw.rectangle((op.x0, op.y0, op.x1 - 1, op.y1 - 1), fill=255)
        elif isinstance(op, Polygon):
            draw.polygon(op.points, fill=255)
        elif isinstance(op, Stroke):
            _draw_stroke(draw, op, 0 if op.erase else 255)
        elif isinstance(op, Invert):
            mask = ImageChops.invert(mask)
            draw = ImageDraw.Draw(mask)
        elif isinstance(op, Clear):
            draw.rectangle((0, 0, mask.width, mask.height), fill=0)
        else:
            raise InputTypeError(f"not a mask operation: {op!r}")
    return mask


def rasterize(
    ops: Iterable[Op], size: tuple[int, int], *, polarity: str = "white-repaint"
) -> Image.Image:
    """Apply ``ops`` in order to an empty mask of ``size`` = (width, height); return an "L" image.

    The result holds only 0 and 255. With the default polarity, 255 = repaint.
    """
    _check_polarity(polarity)
    ops = list(ops)
    for i in range(len(ops) - 1, -1, -1):  # nothing before the last Clear matters
        if isinstance(ops[i], Clear):
            ops = ops[i + 1 :]
            break
    mask = apply_ops(Image.new("L", (int(size[0]), int(size[1])), 0), ops)
    if polarity == "black-repaint":
        mask = ImageChops.invert(mask)
    return mask


def is_empty(mask: Image.Image, *, polarity: str = "white-repaint") -> bool:
    """True if the mask selects no pixel."""
    _check_polarity(polarity)
    if polarity == "black-repaint":
        mask = ImageChops.invert(mask.convert("L"))
    return mask.getbbox() is None


def to_png_bytes(mask: Image.Image) -> bytes:
    """Encode a mask as an 8-bit greyscale PNG.

    Fast zlib level 1 with the run-length strategy: masks are long runs of 0 and 255, so this is
    as small as level 9 (about 11 kB for a 2048x2048 mask of a few shapes) and as fast as level 1.
    """
    if mask.mode != "L":
        mask = mask.convert("L")
    out = io.BytesIO()
    mask.save(out, format="PNG", compress_level=1, compress_type=zlib.Z_RLE)
    return out.getvalue()


def to_data_url(mask: Image.Image) -> str:
    """``data:image/png;base64,…`` of :func:`to_png_bytes` (the proxy's ``maskBase64``)."""
    return PNG_DATA_URL_PREFIX + base64.b64encode(to_png_bytes(mask)).decode("ascii")


def _from_array(array: np.ndarray) -> Image.Image:
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    elif array.dtype != np.uint8:
        array = np.asarray(array, dtype=np.float64)
        if array.size and np.nanmax(array) <= 1.0:  # 0..1 floats
            array = array * 255.0
        array = np.clip(np.nan_to_num(array), 0, 255).round().astype(np.uint8)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        shape = array.shape
        raise ValidationError(f"an image array must be HxW, HxWx3 or HxWx4, got shape {shape}")
    return Image.fromarray(np.ascontiguousarray(array))


def open_image(source: Any) -> Image.Image:
    """A PIL image from a PIL image, NumPy array, path, bytes or ``data:`` URL (loaded eagerly).

    Files, bytes and data URLs go through the package's one image loader (``media``: safe
    formats only, decompression bombs refused from the header); arrays may also be bool or
    0..1 floats, as masks made with NumPy often are.
    """
    if isinstance(source, np.ndarray):
        if source.ndim >= 2:
            media.check_pixels((source.shape[1], source.shape[0]))
        return _from_array(source)
    return media.load_image(source)


def _to_grey(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, rgba).convert("L")  # transparent counts as black
    return image.convert("L")


def load_mask(
    source: Any,
    size: tuple[int, int] | None = None,
    *,
    threshold: int = 128,
    polarity: str = "white-repaint",
) -> Image.Image:
    """Read a user's own mask and return it as an exact 0/255 "L" mask in white-repaint polarity.

    ``source``: PIL image, NumPy array (bool, uint8 0..255, or floats 0..1), path, bytes, or a
    ``data:`` URL. Pixels ``>= threshold`` become 255 and the rest 0 (transparent pixels count as
    black). ``polarity`` says how ``source`` is drawn; ``"black-repaint"`` masks are inverted so
    the result is always white = repaint. ``size`` = (width, height) of the image the mask is for:
    any other size raises :class:`MaskSizeError`. A mask selecting nothing raises
    :class:`EmptyMaskError`.
    """
    _check_polarity(polarity)
    if not 1 <= threshold <= 255:
        raise ValidationError(f"threshold must be between 1 and 255, got {threshold}")
    image = open_image(source)
    if size is not None and tuple(image.size) != (int(size[0]), int(size[1])):
        w, h = image.size  # checked before any conversion: a wrong size costs nothing
        raise MaskSizeError(f"mask is {w}x{h} but the image is {int(size[0])}x{int(size[1])}")
    grey = _to_grey(image)
    mask = grey.point([0] * threshold + [255] * (256 - threshold))
    if polarity == "black-repaint":
        mask = ImageChops.invert(mask)
    if mask.getbbox() is None:
        raise EmptyMaskError("the mask selects nothing: draw the region to repaint")
    return mask
