"""Reference images in prompts: image prompts, --sref, --oref, --cref, and where images live.

Midjourney reads image prompts from the URLs a prompt starts with (the proxies put uploaded
`base64Array` images there), style references from `--sref <url> [<url> …]` (weight `--sw`),
omni references from `--oref <url>` (`--ow`) and character references from `--cref <url> …`
(`--cw`). The simulator can load the images it serves itself — uploads, task images, video
posters — whatever host or port the URL names; any other URL becomes a visible placeholder
card, so a test still sees that the reference arrived.
"""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass, field

from PIL import Image

_URL_RE = re.compile(r"^<?(https?://[^\s<>]+)>?$")
_PARAM_RE = re.compile(r"^(?:--|—)([a-z]+)$")
_WEIGHTS = {"iw": 1.0, "sw": 100.0, "ow": 100.0, "cw": 100.0}
_ATTACHMENT_RE = re.compile(r"/mj/attachments/([^/?#]+)")
_TASK_IMAGE_RE = re.compile(r"/mj/image/(\d+)")
_EXPIRY_RE = re.compile(r"[?&]ex=([0-9a-fA-F]{1,12})(?:&|$)")
_VIDEO_FILE_RE = re.compile(r"/video/([0-9a-fA-F-]+)/0_(\d+)(?:_640_N)?\.(?:webp|mp4)")


@dataclass
class Refs:
    """The references of one prompt and the text that remains without them."""

    text: str = ""
    image_prompts: list[str] = field(default_factory=list)
    sref: list[str] = field(default_factory=list)
    sref_codes: list[str] = field(default_factory=list)
    oref: list[str] = field(default_factory=list)
    cref: list[str] = field(default_factory=list)
    weights: dict = field(default_factory=lambda: dict(_WEIGHTS))

    @property
    def any(self) -> bool:
        return bool(self.image_prompts or self.sref or self.oref or self.cref)


def parse(prompt: str) -> Refs:
    """Split a prompt into its references, their weights and the remaining text."""
    tokens = (prompt or "").split()
    refs = Refs()
    i = 0
    while i < len(tokens) and (url := _URL_RE.match(tokens[i])):  # image prompts come first
        refs.image_prompts.append(url.group(1))
        i += 1
    kept: list[str] = []
    while i < len(tokens):
        token = tokens[i]
        param = _PARAM_RE.match(token)
        if param and param.group(1) in ("sref", "oref", "cref"):
            name = param.group(1)
            i += 1
            while i < len(tokens) and not tokens[i].startswith("--"):
                url = _URL_RE.match(tokens[i])
                if url:
                    getattr(refs, name).append(url.group(1))
                elif name == "sref":
                    refs.sref_codes.append(tokens[i])
                i += 1
            continue
        if param and param.group(1) in _WEIGHTS and i + 1 < len(tokens):
            try:
                refs.weights[param.group(1)] = float(tokens[i + 1])
                i += 2
                continue
            except ValueError:
                pass
        kept.append(token)
        i += 1
    refs.text = " ".join(kept)
    return refs


def link_expired(url: str) -> bool:
    """A Discord-style signed link (``?ex=<hex epoch seconds>``) past its expiry."""
    found = _EXPIRY_RE.search(url)
    return found is not None and int(found.group(1), 16) <= time.time()


def load(engine, url: str) -> Image.Image | None:
    """The image behind one of the simulator's own URLs (an upload, a task's image, a video
    poster or clip), or None for a URL the simulator does not serve (or an expired link)."""
    if link_expired(url):
        return None
    found = _ATTACHMENT_RE.search(url)
    if found and found.group(1) in engine.attachments:
        return _open(engine.attachments[found.group(1)][0])
    found = _TASK_IMAGE_RE.search(url)
    if found:
        task = engine.tasks.get(found.group(1))
        if task is not None and task.status == "SUCCESS" and task.op != "shorten":
            return engine._final_image(task)
    found = _VIDEO_FILE_RE.search(url)
    if found:
        return engine.media.video_still(found.group(1), int(found.group(2)))
    return None


def load_or_placeholder(engine, url: str) -> Image.Image:
    from .video import placeholder

    return load(engine, url) or placeholder(url)


def _open(raw: bytes) -> Image.Image | None:
    try:
        img = Image.open(io.BytesIO(raw))
        img.load()
    except Exception:
        return None
    return img


def imagine_tiles(engine, task, size: tuple[int, int], caption: str) -> list[Image.Image] | None:
    """Four tiles for an imagine (or its reroll) whose prompt carries references; None when
    it has none, so a plain prompt keeps its usual look."""
    from . import render

    refs = parse(task.prompt)
    if not refs.any:
        return None
    images = [load_or_placeholder(engine, u) for u in refs.image_prompts]
    styles = [load_or_placeholder(engine, u) for u in refs.sref]
    subjects = [(load_or_placeholder(engine, u), "oref") for u in refs.oref[:1]]
    subjects += [(load_or_placeholder(engine, u), "cref") for u in refs.cref[:1]]
    seed = task.seed if task.op != "reroll" else render._mix("reroll", task.seed) % 2**32
    weight = refs.weights["ow"] if refs.oref else refs.weights["cw"]
    return [
        render.reference_tile(
            refs.text,
            seed,
            j,
            size,
            caption,
            image_prompts=images,
            styles=styles,
            subjects=subjects,
            image_weight=refs.weights["iw"],
            style_weight=refs.weights["sw"],
            subject_weight=weight,
        )
        for j in range(1, 5)
    ]
