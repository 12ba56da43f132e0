"""Midjourney video clips for the simulator: recipes, frames, H.264 mp4 encoding and posters.

A clip is drawn from a recipe: a start frame (an upload, or the upscale an Animate button was
pressed on), the motion ("low" moves a little, "high" a lot), optional loop and end frame, the
prompt, and its lineage. An extended clip is its parent clip followed by four more seconds that
continue from the parent's last frame. Every frame shows the prompt, the motion, the clip's
lineage and a running time code, so a person watching (and a test decoding) can tell what the
server was asked for. Clips are small (long side 384 px SD, 576 px HD, 24 fps) and encoded
with PyAV's bundled libx264 into a progressive mp4 (yuv420p, moov atom first), as the
Midjourney CDN serves them.

This module is pure: it knows nothing about tasks or HTTP (see `videojobs`).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

from PIL import Image, ImageDraw

from . import render
from .render import _fit, _font, _hsv, _mix, _rng, _text

__all__ = ["Clip", "FPS", "clip_frames", "encode_mp4", "frame_size", "poster"]

FPS = 24
CLIP_SECONDS = 5  # a new video (Midjourney video V1)
EXTEND_SECONDS = 4  # each Extend adds four seconds
_LONG_SIDE = {"vid_1.1_i2v_480": 384, "vid_1.1_i2v_720": 576}
_ZOOM_STEP = 0.008  # camera zoom is quantised to pre-scaled canvases
_MOTION = {  # camera zoom amplitude, drift (fraction of the frame), orbits per 5 s, moving orbs
    "low": (0.04, 0.02, 1.0, 1),
    "high": (0.16, 0.07, 3.0, 3),
}


@dataclass(frozen=True)
class Clip:
    """The recipe of one mp4: `base` is the clip this one extends (None for a new video).

    `start` and `end` are the start and end frames (only for a new video), `caption` the
    lineage line, `seed` makes the moving content of sibling clips differ.
    """

    prompt: str
    motion: str
    seconds: int
    seed: int
    caption: str
    size: tuple[int, int]
    start: Image.Image | None = None
    end: Image.Image | None = None
    loop: bool = False
    base: Clip | None = None

    @property
    def duration(self) -> int:
        return self.seconds + (self.base.duration if self.base is not None else 0)

    @property
    def frame_count(self) -> int:
        return self.duration * FPS


def frame_size(image_size: tuple[int, int], video_type: str = "vid_1.1_i2v_480") -> tuple[int, int]:
    """Clip size for a start frame of `image_size`: its aspect, long side by resolution, even."""
    long_side = _LONG_SIDE.get(video_type, _LONG_SIDE["vid_1.1_i2v_480"])
    w, h = image_size
    scale = long_side / max(w, h, 1)
    return max(16, round(w * scale / 2) * 2), max(16, round(h * scale / 2) * 2)


def _overlay(clip: Clip, segment: int, segments: int) -> Image.Image:
    """The static text of a segment: prompt and motion on top, lineage at the bottom (RGBA)."""
    w, h = clip.size
    fs = max(10, round(min(w, h) / 24))
    pad = max(3, fs // 3)
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    main, small = _font(fs), _font(max(9, round(fs * 0.85)))
    top_h = pad * 3 + round(fs * 1.2) + round(fs * 1.05)
    d.rectangle((0, 0, w, top_h), fill=(10, 10, 16, 165))
    _text(
        d, (pad, pad), _fit(main, clip.prompt or "(no prompt)", w - 2 * pad), main, (255, 255, 255)
    )
    part = f" · part {segment}/{segments}" if segments > 1 else ""
    line2 = f"motion {clip.motion}{' · loop' if clip.loop else ''}{part}"
    _text(d, (pad, pad * 2 + round(fs * 1.2)), line2, small, (255, 214, 102))
    bottom_h = pad * 2 + round(fs * 1.05)
    d.rectangle((0, h - bottom_h, w, h), fill=(10, 10, 16, 165))
    cap_w = w - 2 * pad - round(small.getlength("00.00s")) - pad
    _text(d, (pad, h - bottom_h + pad), _fit(small, clip.caption, cap_w), small, (190, 205, 230))
    return layer


def _segments(clip: Clip) -> list[Clip]:
    chain = []
    node: Clip | None = clip
    while node is not None:
        chain.append(node)
        node = node.base
    return chain[::-1]


def _scenes(clip: Clip, source: Image.Image) -> Iterator[Image.Image]:
    """The moving picture of one segment, without text: camera over `source` plus orbs."""
    w, h = clip.size
    zoom_amp, drift, orbits, orbs = _MOTION.get(clip.motion, _MOTION["low"])
    canvas = render.cover(source, (round(w * 1.3 / 2) * 2, round(h * 1.3 / 2) * 2))
    end = render.cover(clip.end, (w, h)) if clip.end is not None else None
    cw, ch = canvas.size
    rng = _rng("video", clip.seed, clip.motion, clip.prompt)
    phase = rng.uniform(0, math.tau)
    hue = _mix("video-hue", clip.prompt, clip.seed) % 1000 / 1000
    colours = [_hsv(hue + k * 0.17, 0.75, 1.0) for k in range(orbs)]
    n = clip.seconds * FPS
    r = max(3, round(min(w, h) * (0.035 if clip.motion == "low" else 0.05)))
    zoomed: dict[int, Image.Image] = {}
    for k in range(n):
        t = k / n  # 0..1 over the segment; loop clips return to their first frame
        wave = 0.5 - 0.5 * math.cos(math.tau * t)
        z = 1 + zoom_amp * wave
        vw, vh = w / z, h / z
        cx = cw / 2 + drift * w * math.sin(math.tau * t + phase)
        cy = ch / 2 + drift * h * 0.6 * math.sin(math.tau * t + phase * 1.7)
        cx, cy = min(max(cx, vw / 2), cw - vw / 2), min(max(cy, vh / 2), ch - vh / 2)
        level = round((z - 1) / _ZOOM_STEP)  # pre-scaled canvases: a frame is then a crop
        if level not in zoomed:
            zs = 1 + level * _ZOOM_STEP
            zoomed[level] = canvas.resize(
                (round(cw * zs), round(ch * zs)), Image.Resampling.BILINEAR
            )
        zs = 1 + level * _ZOOM_STEP
        x0, y0 = round((cx - vw / 2) * zs), round((cy - vh / 2) * zs)
        big = zoomed[level]
        x0, y0 = min(max(x0, 0), big.width - w), min(max(y0, 0), big.height - h)
        frame = big.crop((x0, y0, x0 + w, y0 + h))
        if end is not None and t > 0.6:  # cross-fade into the end frame over the last 40 %
            frame = Image.blend(frame, end, min(1.0, (t - 0.6) / 0.35))
        d = ImageDraw.Draw(frame)
        for j, colour in enumerate(colours):
            angle = math.tau * (orbits * (1 + 0.3 * j) * t) + phase + j * math.tau / max(orbs, 1)
            ox = w / 2 + math.cos(angle) * w * (0.28 + 0.05 * j)
            oy = h * 0.55 + math.sin(angle) * h * (0.18 + 0.04 * j)
            d.ellipse((ox - r, oy - r, ox + r, oy + r), fill=colour, outline=(255, 255, 255))
        yield frame


def clip_frames(clip: Clip) -> Iterator[Image.Image]:
    """Every frame of `clip` (its parents' seconds first), with its text, as RGB images."""
    segments = _segments(clip)
    if segments[0].start is None:
        raise ValueError("the first segment of a clip needs a start frame")
    source = segments[0].start
    elapsed = 0
    small = _font(max(9, round(min(clip.size) / 24 * 0.85)))
    w, h = clip.size
    pad = max(3, max(10, round(min(w, h) / 24)) // 3)
    for number, segment in enumerate(segments, 1):
        overlay = _overlay(segment, number, len(segments))
        mask, ink = overlay.getchannel("A"), overlay.convert("RGB")
        last = None
        for frame in _scenes(segment, source):
            last = frame
            shown = frame.copy()
            shown.paste(ink, (0, 0), mask)
            stamp = f"{elapsed / FPS:05.2f}s"
            d = ImageDraw.Draw(shown)
            _text(d, (w - pad, h - pad), stamp, small, (255, 255, 255), "rd")
            elapsed += 1
            yield shown
        source = last if last is not None else source


def encode_mp4(frames: Iterator[Image.Image], size: tuple[int, int], fps: int = FPS) -> bytes:
    """H.264 (libx264, yuv420p) in an mp4 container with the moov atom up front."""
    import av  # imported here: only video jobs need FFmpeg

    fd, path = tempfile.mkstemp(suffix=".mp4", prefix="mjsim-")
    os.close(fd)
    try:
        with av.open(path, "w", format="mp4", options={"movflags": "+faststart"}) as out:
            stream = out.add_stream("libx264", rate=Fraction(fps, 1))
            stream.width, stream.height = size
            stream.pix_fmt = "yuv420p"
            stream.options = {"preset": "ultrafast", "crf": "26", "threads": "1"}
            for frame in frames:
                picture = av.VideoFrame.from_image(frame)
                for packet in stream.encode(picture):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
        with open(path, "rb") as handle:
            return handle.read()
    finally:
        os.unlink(path)


def poster(clip: Clip, fmt: str = "WEBP") -> bytes:
    """The clip's first frame, encoded as the CDN's thumbnail (WebP by default)."""
    first = next(clip_frames(clip))
    return render.encode(first, fmt)


def poster_grid(posters: list[Image.Image]) -> Image.Image:
    """One still for a whole video job (1, 2 or 4 clips): what the progress previews show."""
    if len(posters) == 1:
        return posters[0]
    w, h = posters[0].size
    cols = 2
    rows = math.ceil(len(posters) / cols)
    out = Image.new("RGB", (cols * w, rows * h), (12, 12, 18))
    for i, p in enumerate(posters):
        out.paste(p, ((i % cols) * w, (i // cols) * h))
    return out


def first_frame(clip: Clip) -> Image.Image:
    return next(clip_frames(clip))


def placeholder(text: str, size: tuple[int, int] = (512, 512)) -> Image.Image:
    """A card for an image the simulator could not load (a URL outside the simulator)."""
    img = Image.new("RGB", size, (48, 52, 64))
    d = ImageDraw.Draw(img)
    font = _font(max(10, size[0] // 28))
    d.rectangle((4, 4, size[0] - 5, size[1] - 5), outline=(200, 200, 210), width=2)
    _text(d, (size[0] / 2, size[1] / 2 - 14), "image not reachable", font, (255, 214, 102), "mm")
    _text(
        d,
        (size[0] / 2, size[1] / 2 + 14),
        _fit(font, text, size[0] - 20),
        font,
        (230, 230, 240),
        "mm",
    )
    return img
