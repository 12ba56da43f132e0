"""Image inputs as data URLs, checked before they cost a request.

The proxies take images as ``data:image/…;base64,…`` strings. A broken file, a grey mask or a mask
of the wrong size would only fail minutes later inside Midjourney, so every input is decoded with
Pillow here and refused with a ValidationError that says what was wrong.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import warnings
from collections.abc import Iterable
from os import PathLike
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops, UnidentifiedImageError

from .errors import InputTypeError, ValidationError

__all__ = [
    "ImageInput",
    "as_list",
    "load_image",
    "file_extension",
    "to_data_url",
    "load_as_data_url",
    "mask_data_url",
    "erased_data_url",
    "decode_image",
    "check_pixels",
    "data_url_digest",
    "data_url_payload",
    "describe_bytes",
]

#: Anything mjwidgets accepts as an image.
ImageInput = Any  # str | PathLike | bytes | PIL.Image.Image | numpy.ndarray | data URL

# Formats the proxies forward to Discord/Midjourney unchanged; anything else Pillow reads is
# re-encoded as PNG.
_PASS_THROUGH = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
_DATA_URL = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[^,;]*)*?),(?P<data>.*)$", re.DOTALL
)


def _refuse(what: str, advice: str = "pass a PNG, JPEG or WebP image") -> ValidationError:
    return ValidationError(what, advice=advice)


# The raster formats decoded at all (JPEG includes phones' multi-picture MPO). Pillow's other
# plugins include ones that hand the data to external programs (EPS → Ghostscript) or rarely
# used parsers; nobody needs them here.
DECODABLE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
_BOMB_ADVICE = "use a smaller image (Midjourney works at about 1-2 megapixels)"

# What a refused file most likely is, from its first bytes (for a message that says so).
_SIGNATURES = (
    (b"%PDF", "a PDF document"),
    (b"%!PS", "a PostScript/EPS file"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip file"),
)


def describe_bytes(data: bytes) -> str:
    """What a refused file most likely is, from its first bytes (for an error message)."""
    head = data[:512].lstrip()
    for magic, name in _SIGNATURES:
        if head.startswith(magic):
            return name
    lowered = head.lower()
    if b"<svg" in lowered:
        return "an SVG (vector) image"
    if lowered.startswith((b"<!doctype html", b"<html")) or b"<body" in lowered:
        return "an HTML page"
    if lowered.startswith((b"{", b"[")):
        return "JSON text"
    return f"{len(data)} bytes Pillow cannot identify"


def check_pixels(size: tuple[int, int]) -> None:
    """Refuse images above Pillow's ``Image.MAX_IMAGE_PIXELS`` (about 89 megapixels), checked
    from the header before any pixel is decoded (thread-safe, unlike Pillow's warning)."""
    width, height = size
    limit = Image.MAX_IMAGE_PIXELS
    if limit and width * height > limit:
        raise _refuse(
            f"refused a decompression bomb or oversized image: {width}×{height} is "
            f"{width * height / 1e6:.0f} megapixels, over the {limit / 1e6:.0f} MP limit",
            advice=_BOMB_ADVICE,
        )


def decode_image(data: bytes) -> Image.Image:
    """Decode bytes fully with Pillow; refuse non-images, unsupported formats, truncated data and
    decompression bombs (by the header's pixel count, before decoding)."""
    Image.init()  # registers every plugin once (open(formats=…) needs WEBP, TIFF, … loaded)
    try:
        with warnings.catch_warnings():  # check_pixels says it better than Pillow's warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=DECODABLE_FORMATS)
        check_pixels(image.size)
        image.load()
    except Image.DecompressionBombError as exc:  # over twice the limit: Pillow refuses at open
        raise _refuse(f"refused a decompression bomb ({exc})", advice=_BOMB_ADVICE) from None
    except UnidentifiedImageError:
        what = describe_bytes(data)
        raise _refuse(
            f"not an image: {what}",
            advice="unsupported format: pass a PNG, JPEG, WebP, GIF, BMP or TIFF image",
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise _refuse(f"the image is damaged or truncated ({exc})") from None
    return image


def _encode_png(image: Image.Image) -> bytes:
    if image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    buffer = io.BytesIO()
    try:
        image.save(buffer, format="PNG")
    except (OSError, ValueError) as exc:
        raise _refuse(
            f"unsupported format: cannot encode a {image.mode} image as PNG ({exc})"
        ) from None
    return buffer.getvalue()


def _data_url(mime: str, payload: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def _from_array(array: Any) -> Image.Image:
    import numpy as np

    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    if array.dtype != np.uint8:
        raise _refuse(
            f"unsupported array dtype {array.dtype}; expected uint8 (0-255) or bool",
            advice="convert with array.astype('uint8') after scaling to 0-255",
        )
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4)):
        return Image.fromarray(np.ascontiguousarray(array))  # uint8 → L, RGB or RGBA
    raise _refuse(
        f"unsupported array shape {tuple(array.shape)}; expected HxW, HxWx3 or HxWx4",
        advice="pass a greyscale, RGB or RGBA uint8 array",
    )


def _decode_data_url(url: str) -> tuple[str, bytes]:
    match = _DATA_URL.match(url.strip())
    if not match:
        raise _refuse("malformed data URL (expected data:image/png;base64,…)")
    mime = (match.group("mime") or "").lower()
    if ";base64" not in match.group("params").lower():
        raise _refuse("unsupported data URL: only base64-encoded data URLs are accepted")
    if not mime.startswith("image/"):
        raise _refuse(f"unsupported format: the data URL says {mime or 'no media type'!r}")
    try:
        payload = base64.b64decode(re.sub(r"\s+", "", match.group("data")), validate=True)
    except (binascii.Error, ValueError):
        raise _refuse("malformed data URL: the base64 payload does not decode") from None
    return mime, payload


def _load(source: ImageInput) -> tuple[Image.Image, bytes | None]:
    """Decode any accepted input; also return the original encoded bytes when there are some."""
    if isinstance(source, Image.Image):
        check_pixels(source.size)
        return source, None
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        return decode_image(data), data
    if isinstance(source, str) and source.lstrip().startswith("data:"):
        _, payload = _decode_data_url(source)
        return decode_image(payload), payload
    if isinstance(source, str) and re.match(r"^https?://", source.strip(), re.IGNORECASE):
        raise _refuse(
            "an http(s) URL is not an image file",
            advice="put the URL at the start of the prompt, or download it and pass the bytes",
        )
    if isinstance(source, (str, PathLike)):
        path = Path(source).expanduser()
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise _refuse(f"no such file: {path}", advice="check the path") from None
        except OSError as exc:
            raise _refuse(f"cannot read {path}: {exc.strerror}", advice="check the path") from None
        return decode_image(data), data
    if hasattr(source, "__array_interface__") or type(source).__module__.startswith("numpy"):
        import numpy as np

        array = np.asarray(source)
        if array.ndim >= 2:
            check_pixels((array.shape[1], array.shape[0]))
        return _from_array(array), None
    raise InputTypeError(
        f"unsupported image input of type {type(source).__name__}",
        advice="pass a path, bytes, a PIL image, a numpy array or a data URL",
    )


def load_image(source: ImageInput) -> Image.Image:
    """Any image input mjwidgets accepts (path, bytes, data URL, PIL image, uint8/bool array),
    decoded and checked: the package's one loader of images people bring."""
    return _load(source)[0]


_EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "MPO": "jpg", "WEBP": "webp", "GIF": "gif"}


def file_extension(image: Image.Image) -> str:
    """The file extension for an image's own format (PNG for anything else)."""
    return _EXTENSIONS.get((image.format or "").upper(), "png")


def to_data_url(image: ImageInput) -> str:
    """Return ``image`` as a data URL, after checking it decodes.

    PNG/JPEG/WebP/GIF bytes are sent unchanged (with the right media type); other formats Pillow
    reads, PIL images and arrays are encoded as PNG.
    """
    return load_as_data_url(image)[1]


def load_as_data_url(image: ImageInput) -> tuple[Image.Image, str]:
    """The decoded image and its data URL (``to_data_url``) from one decode: for a caller that
    also shows the image (a thumbnail)."""
    decoded, original = _load(image)
    fmt = (decoded.format or "").upper()
    if original is not None and fmt in _PASS_THROUGH:
        return decoded, _data_url(_PASS_THROUGH[fmt], original)
    return decoded, _data_url("image/png", _encode_png(decoded))


def mask_data_url(mask: ImageInput, size: tuple[int, int] | None = None) -> str:
    """Check a Vary (Region) mask and return it as a PNG data URL.

    White (255) marks the region to regenerate, black (0) what to keep. The mask must be strictly
    binary, not empty, and — when ``size`` (width, height) is given — exactly the image's size.
    """
    decoded, _ = _load(mask)
    if size is not None and tuple(decoded.size) != tuple(size):  # cheap: before any pixel work
        raise _refuse(
            f"the mask is {decoded.size[0]}×{decoded.size[1]} but the image is {size[0]}×{size[1]}",
            advice="draw the mask at the upscaled image's full size",
        )
    grey = decoded.convert("L")
    histogram = grey.histogram()
    grey_pixels = sum(histogram[1:255])
    if grey_pixels:
        raise _refuse(
            f"the mask is not binary: {grey_pixels} pixels are neither black (0) nor white (255)",
            advice="threshold it to pure black/white first, e.g. with mjwidgets.masks",
        )
    if histogram[255] == 0:
        raise _refuse(
            "the mask is empty (all black), so nothing would change",
            advice="paint the region to regenerate in white",
        )
    return _data_url("image/png", _encode_png(grey))


def erased_data_url(image: ImageInput, mask: ImageInput) -> str:
    """``image`` as a PNG data URL with the mask's white pixels erased (transparent): how
    Midjourney's editor says which part to repaint (trueai's /submit/edits has no mask field).
    The mask is checked as for Vary (Region): binary, not empty, the image's exact size."""
    decoded, _ = _load(image)
    grey = _load(mask_data_url(mask, size=decoded.size))[0].convert("L")
    keep = grey.point(lambda v: 0 if v >= 128 else 255)
    rgba = decoded.convert("RGBA")
    if "A" in decoded.getbands():  # already-erased pixels stay erased
        keep = ImageChops.darker(keep, rgba.getchannel("A"))
    rgba.putalpha(keep)
    return _data_url("image/png", _encode_png(rgba))


def data_url_payload(url: str) -> bytes:
    """The bytes a data URL carries (its text itself when it is not a base64 data URL)."""
    match = _DATA_URL.match(url.strip())
    if not match:
        return url.encode()
    try:
        return base64.b64decode(re.sub(r"\s+", "", match.group("data")))
    except (binascii.Error, ValueError):
        return url.encode()


def data_url_digest(url: str) -> str:
    """``sha256:<hex>:<nbytes>`` of a data URL's payload — a log-safe stand-in for the image."""
    payload = data_url_payload(url)
    return f"sha256:{hashlib.sha256(payload).hexdigest()}:{len(payload)}"


def as_list(images: Any) -> list[Any]:
    """One image input or several, as a list (a path, bytes, an array or a PIL image is one)."""
    if images is None:
        return []
    if (
        isinstance(images, (str, bytes, bytearray, memoryview, PathLike))
        or hasattr(images, "__array_interface__")
        or not isinstance(images, Iterable)
    ):
        return [images]
    try:
        from PIL import Image

        if isinstance(images, Image.Image):
            return [images]
    except ImportError:  # pragma: no cover - Pillow is a dependency
        pass
    return list(images)
