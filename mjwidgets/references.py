"""Reference images of an imagine — image prompts, ``--sref``, ``--oref``, ``--cref`` — turned
into what the server takes: URLs in the prompt, or ``base64Array``.

Midjourney reads references only as URLs: image prompts lead the prompt, style / omni /
character references follow ``--sref``/``--oref``/``--cref``. A file, bytes or a PIL image
therefore has to become a URL first, through ``/submit/upload-discord-images`` where the server
has that route. Where it has not (the open-source proxy), image prompts still travel as
``base64Array`` (the proxy uploads them itself and puts their URLs first), but a style, omni or
character reference cannot, and is refused before anything is sent.

Every image is checked by ``media`` (the one loader) before anything is sent, and an image
already uploaded to this server is not uploaded again: its content hash names the URL it got
(``client.uploads``; the Tracker keeps them in the history file, so a new kernel knows them too)
until that link expires — Discord attachment links carry their expiry in ``ex=`` (hex seconds),
and are otherwise taken to last ``LINK_LIFETIME_S``.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, urlsplit

from PIL import Image

from . import media
from .errors import UnsupportedError, ValidationError
from .models import Status, Task
from .prompt import Prompt

if TYPE_CHECKING:
    from .capabilities import Capabilities

__all__ = [
    "SLOTS",
    "SLOT_NAMES",
    "LINK_LIFETIME_S",
    "Upload",
    "UploadMemory",
    "RememberedUploads",
    "Reference",
    "Resolved",
    "prepare",
    "resolve",
    "planned_prompt",
    "link_expiry",
]

#: The reference slots of an imagine, in the order they appear in a prompt.
SLOTS = ("images", "sref", "oref", "cref")
#: What each slot is called for people (the Studio's slots, error messages).
SLOT_NAMES = {
    "images": "image prompt",
    "sref": "style reference (--sref)",
    "oref": "omni reference (--oref)",
    "cref": "character reference (--cref)",
}
# Discord's signed attachment links last 24 h; a link of unknown age is renewed a little sooner.
LINK_LIFETIME_S = 20 * 3600.0
# Refresh a link this long before it expires: the job reads it minutes after the submit.
_MARGIN_S = 30 * 60.0
_UPLOAD_ROUTE = "upload-discord-images"


@dataclass(frozen=True)
class Upload:
    """The URL an image got at a server, and until when it can be used."""

    url: str
    expires_at: float

    def fresh(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) < self.expires_at - _MARGIN_S


class UploadMemory(Protocol):
    """Where ``content hash → URL`` is remembered, per server."""

    def get_upload(self, server: str, digest: str) -> Upload | None: ...

    def put_upload(self, server: str, digest: str, upload: Upload) -> None: ...


class RememberedUploads:
    """The in-process memory of a Client without a Tracker (the Tracker's is the history)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[tuple[str, str], Upload] = {}

    def get_upload(self, server: str, digest: str) -> Upload | None:
        with self._lock:
            return self._known.get((server, digest))

    def put_upload(self, server: str, digest: str, upload: Upload) -> None:
        with self._lock:
            self._known[(server, digest)] = upload


def link_expiry(url: str, uploaded_at: float) -> float:
    """When an uploaded image's link stops working: Discord's ``ex=`` (hex epoch seconds)
    where the link has one, else ``LINK_LIFETIME_S`` after the upload."""
    values = parse_qs(urlsplit(url).query).get("ex") or []
    if values and re.fullmatch(r"[0-9a-fA-F]{1,12}", values[0]):
        return float(int(values[0], 16))
    return uploaded_at + LINK_LIFETIME_S


@dataclass
class Reference:
    """One reference checked locally: a URL to use as is, or an image (its data URL and the
    SHA-256 of the bytes sent, which names it in the upload memory)."""

    slot: str
    url: str = ""
    data_url: str = ""
    digest: str = ""
    label: str = ""
    #: the decoded image, kept only when asked (``prepare(keep_image=True)``: a thumbnail)
    image: Image.Image | None = field(default=None, repr=False, compare=False)

    @property
    def is_url(self) -> bool:
        return bool(self.url) and not self.data_url


def _http_url(value: Any) -> str | None:
    if isinstance(value, str) and re.match(r"^\s*https?://\S+\s*$", value, re.IGNORECASE):
        return value.strip()
    return None


def prepare(slot: str, value: Any, *, keep_image: bool = False) -> Reference:
    """Check one reference locally (no request): an http(s) URL, a finished task (its image's
    URL), or anything ``media`` loads — refused with ``media``'s typed errors otherwise."""
    if slot not in SLOTS:
        raise ValidationError(f"unknown reference slot {slot!r}", advice=f"use one of {SLOTS}")
    url = _http_url(value)
    if url is not None:
        return Reference(slot, url=url, label=url)
    if isinstance(value, Task):
        if value.status is not Status.SUCCESS or not value.image_url or value.is_video:
            raise ValidationError(
                f"task {value.id} has no finished image to use as a {SLOT_NAMES[slot]}",
                task_id=value.id,
                advice="wait for the task to finish (task.wait()), or pass an image",
            )
        return Reference(slot, url=value.image_url, label=f"task {value.id}")
    image, data_url = media.load_as_data_url(value)  # the one loader: typed errors
    digest = hashlib.sha256(media.data_url_payload(data_url)).hexdigest()
    return Reference(
        slot, data_url=data_url, digest=digest, label=f"image {digest[:8]}",
        image=image if keep_image else None,
    )  # fmt: skip


def prepare_all(**slots: Any) -> list[Reference]:
    """Every reference of an imagine, checked; ``oref`` takes one image (Midjourney's rule)."""
    found: list[Reference] = []
    for slot in SLOTS:
        values = media.as_list(slots.get(slot))
        if slot == "oref" and len(values) > 1:
            raise ValidationError(
                f"--oref takes one image, got {len(values)}",
                advice="pass a single omni reference (use --sref or image prompts for more)",
            )
        found.extend(prepare(slot, value) for value in values)
    return found


@dataclass
class Resolved:
    """What goes to the server: URLs per slot, image prompts as ``base64Array`` where the
    server takes no uploads, and what was uploaded now or reused."""

    urls: dict[str, list[str]] = field(default_factory=lambda: {slot: [] for slot in SLOTS})
    base64: list[str] = field(default_factory=list)
    uploaded: int = 0
    reused: int = 0

    def prompt(self, text: str) -> str:
        """``text`` with the references' URLs where Midjourney reads them (``prompt.py``)."""
        urls = self.urls
        return str(
            Prompt(text).with_references(
                image_prompts=urls["images"], sref=urls["sref"], oref=urls["oref"],
                cref=urls["cref"],
            )
        )  # fmt: skip


class _Uploader(Protocol):
    capabilities: Capabilities
    uploads: UploadMemory

    @property
    def base_url(self) -> str: ...

    def upload(self, images: Any) -> list[str]: ...


def refusal(references: Iterable[Reference], capabilities: Capabilities) -> str:
    """Why these references cannot be sent to this server ('' when they can): a style, omni or
    character reference from a file needs the upload route."""
    needing = [ref for ref in references if ref.slot != "images" and not ref.is_url]
    why = capabilities.why_not(_UPLOAD_ROUTE) if needing else ""
    if not why:
        return ""
    names = sorted({SLOT_NAMES[ref.slot] for ref in needing})
    return f"a {' and a '.join(names)} must be a URL, and {why}"


def resolve(client: _Uploader, references: list[Reference]) -> Resolved:
    """Turn checked references into URLs (uploading what this server has not got yet) and
    ``base64Array`` items. Refusals are raised before any request."""
    capabilities = client.capabilities
    why = refusal(references, capabilities)
    if why:
        raise UnsupportedError(
            why,
            feature="references from files",
            instead="pass the reference as an http(s) URL of the image, or use a server with "
            "/submit/upload-discord-images (Plus, trueai, new-api)",
        )
    upload_all = capabilities.known_to_have(_UPLOAD_ROUTE)
    server, memory = client.base_url, client.uploads
    resolved = Resolved()
    now = time.time()
    wanted: dict[str, str] = {}  # digest → data URL still to upload, in order
    urls_of: dict[str, str] = {}
    for ref in references:
        if ref.is_url or (ref.slot == "images" and not upload_all):
            continue
        known = memory.get_upload(server, ref.digest)
        if known is not None and known.fresh(now):
            if ref.digest not in urls_of:
                resolved.reused += 1
            urls_of[ref.digest] = known.url
        else:
            wanted.setdefault(ref.digest, ref.data_url)
    if wanted:
        got = client.upload(list(wanted.values()))
        if len(got) != len(wanted):
            raise ValidationError(
                f"the server answered {len(got)} URLs for {len(wanted)} uploaded images",
                advice="try again; pass the references as URLs if it keeps happening",
            )
        uploaded_at = time.time()
        for digest, url in zip(wanted, got, strict=True):
            memory.put_upload(server, digest, Upload(url, link_expiry(url, uploaded_at)))
            urls_of[digest] = url
        resolved.uploaded = len(wanted)
    for ref in references:
        if ref.is_url:
            resolved.urls[ref.slot].append(ref.url)
        elif ref.digest in urls_of:
            resolved.urls[ref.slot].append(urls_of[ref.digest])
        else:
            resolved.base64.append(ref.data_url)
    return resolved


def planned_prompt(client: _Uploader, text: str, references: list[Reference]) -> str:
    """The prompt the server will receive, before anything is sent: known URLs where this
    server already has the image, ``https://(upload)/image-…`` where it will get one,
    ``https://(attached)/image-…`` where the proxy puts a ``base64Array`` image itself."""
    upload_all = client.capabilities.known_to_have(_UPLOAD_ROUTE)
    shown = Resolved()
    for ref in references:
        if ref.is_url:
            shown.urls[ref.slot].append(ref.url)
            continue
        known = client.uploads.get_upload(client.base_url, ref.digest)
        if known is not None and known.fresh():
            shown.urls[ref.slot].append(known.url)
        elif ref.slot == "images" and not upload_all:
            shown.urls[ref.slot].append(f"https://(attached)/{ref.label.replace(' ', '-')}")
        else:
            shown.urls[ref.slot].append(f"https://(upload)/{ref.label.replace(' ', '-')}")
    return shown.prompt(text)
