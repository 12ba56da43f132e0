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
from os import PathLike
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from .errors import ValidationError

__all__ = ["ImageInput", "to_data_url", "mask_data_url", "decode_image", "data_url_digest"]

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


def decode_image(data: bytes) -> Image.Image:
    """Decode bytes fully with Pillow; refuse non-images, truncated data and decompression bombs."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _refuse(
            f"refused a decompression bomb ({exc})",
            advice="use a smaller image (Midjourney works at about 1-2 megapixels)",
        ) from None
    except UnidentifiedImageError:
        raise _refuse(f"not an image ({len(data)} bytes Pillow cannot identify)") from None
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

        return _from_array(np.asarray(source)), None
    raise _refuse(
        f"unsupported image input of type {type(source).__name__}",
        advice="pass a path, bytes, a PIL image, a numpy array or a data URL",
    )


def to_data_url(image: ImageInput) -> str:
    """Return ``image`` as a data URL, after checking it decodes.

    PNG/JPEG/WebP/GIF bytes are sent unchanged (with the right media type); other formats Pillow
    reads, PIL images and arrays are encoded as PNG.
    """
    decoded, original = _load(image)
    fmt = (decoded.format or "").upper()
    if original is not None and fmt in _PASS_THROUGH:
        return _data_url(_PASS_THROUGH[fmt], original)
    return _data_url("image/png", _encode_png(decoded))


def mask_data_url(mask: ImageInput, size: tuple[int, int] | None = None) -> str:
    """Check a Vary (Region) mask and return it as a PNG data URL.

    White (255) marks the region to regenerate, black (0) what to keep. The mask must be strictly
    binary, not empty, and — when ``size`` (width, height) is given — exactly the image's size.
    """
    decoded, _ = _load(mask)
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
    if size is not None and tuple(grey.size) != tuple(size):
        raise _refuse(
            f"the mask is {grey.size[0]}×{grey.size[1]} but the image is {size[0]}×{size[1]}",
            advice="draw the mask at the upscaled image's full size",
        )
    return _data_url("image/png", _encode_png(grey))


def data_url_digest(url: str) -> str:
    """``sha256:<hex>:<nbytes>`` of a data URL's payload — a log-safe stand-in for the image."""
    match = _DATA_URL.match(url.strip())
    payload: bytes
    try:
        payload = base64.b64decode(re.sub(r"\s+", "", match.group("data"))) if match else b""
    except (binascii.Error, ValueError):
        payload = url.encode()
    if not match:
        payload = url.encode()
    return f"sha256:{hashlib.sha256(payload).hexdigest()}:{len(payload)}"
