"""The images a person sent — Vary (Region) masks, image prompts, blend inputs — kept by content.

The submit journal writes a digest (``sha256:<hex>:<bytes>``) where a request carried an image,
so the history never swells with data URLs and never shows one in a log. A recipe, a replay or a
picture's provenance names such an image by that digest; this module keeps the bytes behind it in
``<history folder>/inputs/<hex>.<ext>``, so the digest can be sent again. Files are named by
their own hash and checked against it when read back: a damaged or swapped file is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import tempfile
from pathlib import Path

from .errors import NotFoundError, ValidationError

__all__ = ["FOLDER_NAME", "digest_of", "keep", "find", "load", "parse_digest"]

FOLDER_NAME = "inputs"
_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})(?::(\d+))?$")
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpg"), (b"GIF8", "gif"))


def digest_of(payload: bytes) -> str:
    """``sha256:<hex>:<nbytes>``: the journal's name for an image it did not keep inline."""
    return f"sha256:{hashlib.sha256(payload).hexdigest()}:{len(payload)}"


def parse_digest(digest: str) -> str:
    """The hex of a ``sha256:<hex>[:<n>]`` digest (ValidationError for anything else)."""
    match = _DIGEST.match(str(digest).strip())
    if not match:
        raise ValidationError(
            f"{str(digest)[:80]!r} is not an image digest",
            advice="digests look like sha256:<64 hex digits>:<size>",
        )
    return match.group(1)


def _extension(payload: bytes) -> str:
    for magic, ext in _MAGIC:
        if payload.startswith(magic):
            return ext
    if payload[:4] == b"RIFF" and payload[8:12] == b"WEBP":
        return "webp"
    return "bin"


def keep(folder: str | os.PathLike[str], payload: bytes) -> Path:
    """Write ``payload`` as ``folder/<sha256>.<ext>`` (atomically, once); returns the file."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{hashlib.sha256(payload).hexdigest()}.{_extension(payload)}"
    if target.exists():
        return target
    handle, temporary = tempfile.mkstemp(dir=out, prefix=".part-")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def find(folder: str | os.PathLike[str], digest: str) -> Path | None:
    """The kept file of ``digest`` in ``folder``, or None."""
    hexdigest = parse_digest(digest)
    return next(iter(sorted(Path(folder).glob(f"{hexdigest}.*"))), None)


def load(
    digest: str, data: str | bytes | None = None, *, folders: list[Path] | None = None
) -> bytes:
    """The bytes of ``digest``: from ``data`` (base64 text or bytes, as a recipe embeds them) or
    from a kept file in ``folders``; either way checked against the digest."""
    hexdigest = parse_digest(digest)
    payload: bytes | None = None
    if data is not None:
        try:
            payload = data if isinstance(data, bytes) else base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError(
                "the embedded image data is not base64", advice="copy the recipe again"
            ) from None
    else:
        for folder in folders or []:
            path = find(folder, digest)
            if path is not None:
                payload = path.read_bytes()
                break
    if payload is None:
        where = ", ".join(str(f) for f in folders or []) or "no folder"
        raise NotFoundError(
            f"the image {digest[:23]}… is not kept here (looked in {where})",
            advice="run the recipe where it was made, or copy it again with its images inline",
        )
    if hashlib.sha256(payload).hexdigest() != hexdigest:
        raise ValidationError(
            f"the image data does not match {digest[:23]}…",
            advice="the recipe or the kept file was changed; copy the recipe again",
        )
    return payload
