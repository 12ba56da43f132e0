"""Video clips a server sends: checked with PyAV before they are kept, and their first frame.

A clip is untrusted bytes from a CDN. Before FFmpeg parses it, the container is recognised from
its first bytes (an ISO-BMFF ``ftyp`` box: mp4/mov; an EBML header: WebM/Matroska) and the
matching demuxer is forced, so FFmpeg never guesses a format — some of its demuxers (HLS, concat)
would open further files or URLs. The picture size is checked against the same pixel limit as
images before any frame is decoded, only the video codecs browsers play are accepted, and a clip
whose container promises more frames than arrived (a cut-off download) is refused.

Pure: no HTTP, no cache (``videocache`` keeps the files, ``renditions`` makes posters small).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from .errors import NotFoundError, ValidationError
from .media import check_pixels, describe_bytes
from .models import Task

__all__ = ["ClipInfo", "probe", "clip_url", "container_format", "MIME_TYPES", "CODECS"]

# The most one clip may weigh. Midjourney's longest clip is 21 s of HD (720p); even at a generous
# 10 Mbit/s that is ~26 MB, and a 5 s SD clip is ~1-3 MB. 100 MB leaves room for a higher-bitrate
# model while a broken or hostile host still cannot make the kernel hold more (downloads are
# streamed and refused past the cap; a kept clip is read whole to check it).
MAX_CLIP_BYTES = 100_000_000
MIME_TYPES = {"mp4": "video/mp4", "webm": "video/webm"}
# The video codecs a clip may use (what Midjourney serves is H.264; browsers play all four).
CODECS = ("h264", "hevc", "vp8", "vp9", "av1")
_DEMUXERS = {"mp4": "mp4", "webm": "matroska"}
_EBML = b"\x1a\x45\xdf\xa3"


@dataclass(frozen=True)
class ClipInfo:
    """What a clip holds: container ``format`` ("mp4" | "webm"), video ``codec``, ``size``
    (width, height), ``duration`` in seconds (None when the container does not say), ``fps`` and
    the decoded ``first_frame`` (RGB), which is the clip's poster."""

    format: str
    codec: str
    size: tuple[int, int]
    duration: float | None
    fps: float | None
    first_frame: Image.Image = field(repr=False, compare=False)

    @property
    def mime(self) -> str:
        return MIME_TYPES[self.format]


def clip_url(task: Task, index: int = 0) -> str:
    """The URL of clip ``index`` (0-based, as ``task.video_urls``) of a finished video task."""
    if not task.video_urls:
        raise NotFoundError(
            f"task {task.id} has no clips ({task.status.value} {task.progress}%)",
            task_id=task.id,
            advice="wait for the video to finish (task.wait()); only video tasks have clips",
        )
    if (
        isinstance(index, bool)
        or not isinstance(index, int)
        or not (0 <= index < len(task.video_urls))
    ):
        raise ValidationError(
            f"task {task.id} has {len(task.video_urls)} clip(s); no index {index!r}",
            task_id=task.id,
            advice=f"use 0 to {len(task.video_urls) - 1} (positions in task.video_urls)",
        )
    return task.video_urls[index].url


def container_format(data: bytes) -> str | None:
    """ "mp4" or "webm" from a file's first bytes, else None."""
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return "mp4"
    if data.startswith(_EBML):
        return "webm"
    return None


def _refuse(what: str) -> ValidationError:
    return ValidationError(what, advice="the server sent something that is not a playable clip")


def probe(source: bytes | str | os.PathLike[str]) -> ClipInfo:
    """Check a clip (bytes or a file) and read its format, codec, size, duration and first
    frame; a ValidationError says what is wrong with anything else."""
    import av  # FFmpeg is loaded only when a clip is looked at

    if isinstance(source, bytes):
        head = source[:512]
    else:
        with Path(source).open("rb") as handle:
            head = handle.read(512)
    fmt = container_format(head)
    if fmt is None:
        raise _refuse(f"not a video clip: {describe_bytes(head)}")
    opened: Any = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    try:
        with av.open(opened, format=_DEMUXERS[fmt]) as container:
            if not container.streams.video:
                raise _refuse(f"the {fmt} file has no video stream")
            stream = container.streams.video[0]
            codec = stream.codec_context.name
            if codec not in CODECS:
                raise _refuse(f"the clip's codec {codec!r} is not one browsers play")
            size = (int(stream.codec_context.width), int(stream.codec_context.height))
            check_pixels(size)
            frame, packets = _first_frame_and_packets(stream, container)
            if frame is None:
                raise _refuse("the clip has no frames")
            expected = int(stream.frames or 0)  # mp4 says how many; WebM often does not
            if expected and packets < expected:
                raise _refuse(f"the clip is truncated: {packets} of its {expected} frames arrived")
            first = frame.to_image().convert("RGB")
            duration = _duration(container, stream)
            rate = stream.average_rate or stream.guessed_rate
            fps = float(rate) if rate else None
    except ValidationError:
        raise
    except (av.FFmpegError, StopIteration, ValueError, OSError) as exc:
        raise _refuse(f"the {fmt} clip is damaged or truncated ({exc})") from None
    return ClipInfo(fmt, codec, size, duration, fps, first)


def _first_frame_and_packets(stream: Any, container: Any) -> tuple[Any, int]:
    """Read every packet (cheap: no decoding), decoding only until the first frame appears."""
    frame = None
    packets = 0
    for packet in container.demux(stream):
        if not packet.size:  # the demuxer's final flush packet
            continue
        packets += 1
        if frame is None:
            frame = next(iter(packet.decode()), None)
    if frame is None:  # a decoder that holds frames back gives them up when flushed
        frame = next(iter(stream.codec_context.decode(None)), None)
    return frame, packets


def _duration(container: Any, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return round(float(stream.duration * stream.time_base), 3)
    if container.duration is not None:
        return round(container.duration / 1_000_000, 3)  # av.time_base: microseconds
    return None
