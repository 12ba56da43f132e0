"""Pictures that carry their story: a task's record inside the PNG, JPEG or MP4 file itself.

Links expire and sidecar files get lost; the file a person keeps should say what made it. Every
image mjwidgets saves or exports carries its record (``records.task_record``: prompt, parameters,
lineage, times, server; plus the lineage's ``steps`` by meaning, masks by digest, the seed when
known) in standard metadata that other tools read:

========  ==========================================  ===========================================
format    where                                       who reads it
========  ==========================================  ===========================================
PNG       iTXt ``mjwidgets`` (the JSON record),       Pillow ``Image.open(p).info["mjwidgets"]``;
          iTXt ``Description`` (the prompt), tEXt     exiftool (``PNG:Mjwidgets``,
          ``Software``, iTXt ``XML:com.adobe.xmp``     ``PNG:Description``, ``XMP-dc:Description``,
          (XMP: dc:description, xmp:CreatorTool,      ``XMP-iptcExt:DigitalSourceType``), any XMP
          IPTC DigitalSourceType, the record)         reader (Lightroom, digiKam, Bridge)
JPEG      APP1 XMP packet (as for PNG) and a COM      Pillow ``info["xmp"]``, ``info["comment"]``;
          segment holding the JSON record             exiftool ``XMP-*``, ``File:Comment``
MP4       ``comment`` (©cmt, the JSON record),        PyAV/ffprobe ``format.tags``; exiftool
          ``description`` (desc, the prompt),         ``QuickTime:Comment``/``Description``/
          ``title`` (©nam) — iTunes-style tags that   ``Title``; players' "info" panes
          survive ``-movflags +faststart``
========  ==========================================  ===========================================

Embedding never re-encodes: chunks and segments are inserted into the file as it came (PNG,
JPEG), and an MP4 is remuxed (stream copy). The record never holds the API key: it is built from
task fields (URLs without their query strings), and ``embed`` refuses a record that carries a
key the process knows (``MJ_API_KEY``).

``provenance(path)`` reads any of them back (the JSON record as a dict).
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from .errors import NotFoundError, ValidationError

__all__ = ["embed", "provenance", "KEYWORD", "kind_of"]

KEYWORD = "mjwidgets"
_PNG = b"\x89PNG\r\n\x1a\n"
_XMP_KEYWORD = "XML:com.adobe.xmp"
_XMP_APP1 = b"http://ns.adobe.com/xap/1.0/\x00"
_AI_SOURCE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
_JPEG_SEGMENT_MAX = 65533  # bytes of payload a JPEG marker segment can hold


def kind_of(data: bytes) -> str:
    """ "png", "jpeg", "mp4" or "" for what the bytes are."""
    if data.startswith(_PNG):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[4:8] == b"ftyp":
        return "mp4"
    return ""


def _check_no_key(text: str) -> None:
    key = os.environ.get("MJ_API_KEY") or ""
    if len(key) >= 8 and key in text:
        raise ValidationError(
            "refused to write a record that contains the API key",
            advice="this is a bug in mjwidgets: please report it (the key was not written)",
        )


def _xmp(record: dict[str, Any], text: str) -> str:
    prompt = escape(str(record.get("prompt") or ""))
    tool = escape(str(record.get("generator") or KEYWORD))
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
        'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        'xmlns:mjw="https://github.com/mjwidgets/ns/1.0/" '
        f'xmp:CreatorTool="{tool}" '
        f'Iptc4xmpExt:DigitalSourceType="{_AI_SOURCE}">'
        f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{prompt}</rdf:li></rdf:Alt>'
        f"</dc:description><mjw:record>{escape(text)}</mjw:record>"
        '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    )


# -- PNG -----------------------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _itxt(keyword: str, text: str) -> bytes:
    return _chunk(b"iTXt", keyword.encode("latin-1") + b"\x00\x00\x00\x00\x00" + text.encode())


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes, int, int]]:
    """(type, data, start, end) of every chunk."""
    found, at = [], len(_PNG)
    while at + 8 <= len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        end = at + 12 + length
        if end > len(data):
            raise ValidationError("the PNG is truncated", advice="save the image again")
        found.append((kind, data[at + 8 : at + 8 + length], at, end))
        at = end
        if kind == b"IEND":
            break
    return found


def _text_keyword(kind: bytes, body: bytes) -> str:
    return body.split(b"\x00", 1)[0].decode("latin-1") if kind in (b"tEXt", b"iTXt") else ""


def _ours(keyword: str) -> bool:
    return keyword in (KEYWORD, "Description", "Software", _XMP_KEYWORD)


def _embed_png(data: bytes, record: dict[str, Any], text: str) -> bytes:
    chunks = _png_chunks(data)
    if not chunks or chunks[0][0] != b"IHDR":
        raise ValidationError("not a PNG with a header", advice="save the image again")
    kept = [data[start:end] for kind, body, start, end in chunks[1:]
            if not _ours(_text_keyword(kind, body))]  # fmt: skip
    software = f"{record.get('generator') or KEYWORD} (Midjourney)"
    ours = [
        _itxt(KEYWORD, text),
        _itxt("Description", str(record.get("prompt") or "")),
        _chunk(b"tEXt", b"Software\x00" + software.encode("latin-1", "replace")),
        _itxt(_XMP_KEYWORD, _xmp(record, text)),
    ]
    header = data[: chunks[0][3]]
    return header + b"".join(ours) + b"".join(kept)


def _read_png(data: bytes) -> str | None:
    for kind, body, _, _ in _png_chunks(data):
        if _text_keyword(kind, body) != KEYWORD:
            continue
        rest = body.split(b"\x00", 1)[1]
        if kind == b"tEXt":
            return rest.decode("latin-1")
        compressed, _method = rest[0], rest[1]
        text = rest[2:].split(b"\x00", 2)[2]  # language tag, translated keyword
        return (zlib.decompress(text) if compressed else text).decode()
    return None


# -- JPEG ----------------------------------------------------------------------------------------


def _segment(marker: int, payload: bytes) -> bytes:
    if len(payload) > _JPEG_SEGMENT_MAX:
        raise ValidationError(
            f"the record is {len(payload)} bytes, more than a JPEG segment holds",
            advice="save as PNG for lineages this long",
        )
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of the segments before the image data."""
    found, at = [], 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if marker == 0xDA:  # start of scan: image data follows
            break
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        found.append((marker, at, at + 2 + length))
        at += 2 + length
    return found


def _is_ours(data: bytes, marker: int, start: int, end: int) -> bool:
    payload = data[start + 4 : end]
    if marker == 0xE1:
        return payload.startswith(_XMP_APP1)
    return marker == 0xFE and payload.startswith(b"{") and b'"generator"' in payload


def _embed_jpeg(data: bytes, record: dict[str, Any], text: str) -> bytes:
    segments = _jpeg_segments(data)
    lead = 0  # JFIF (APP0) and Exif (APP1) stay first, as readers expect
    while lead < len(segments) and (
        segments[lead][0] == 0xE0
        or (segments[lead][0] == 0xE1 and data[segments[lead][1] + 4 :].startswith(b"Exif\x00"))
    ):
        lead += 1
    first = b"".join(data[start:end] for _, start, end in segments[:lead])
    rest = b"".join(
        data[start:end]
        for marker, start, end in segments[lead:]
        if not _is_ours(data, marker, start, end)
    )
    body = segments[-1][2] if segments else 2
    xmp = _segment(0xE1, _XMP_APP1 + _xmp(record, text).encode())
    comment = _segment(0xFE, text.encode())
    return data[:2] + first + xmp + comment + rest + data[body:]


def _read_jpeg(data: bytes) -> str | None:
    for marker, start, end in _jpeg_segments(data):
        if marker == 0xFE and _is_ours(data, marker, start, end):
            return data[start + 4 : end].decode()
    return None


# -- MP4 -----------------------------------------------------------------------------------------


def _embed_mp4(data: bytes, record: dict[str, Any], text: str) -> bytes:
    import av  # PyAV: stream copy, no re-encoding

    with tempfile.TemporaryDirectory(prefix="mjw-prov-") as folder:
        source, target = Path(folder) / "in.mp4", Path(folder) / "out.mp4"
        source.write_bytes(data)
        with (
            av.open(str(source)) as src,
            av.open(str(target), "w", format="mp4", options={"movflags": "+faststart"}) as dst,
        ):
            mapping = {}
            for stream in src.streams:
                if stream.type in ("video", "audio"):
                    mapping[stream.index] = dst.add_stream_from_template(stream)
            dst.metadata.update(
                {
                    "comment": text,
                    "description": str(record.get("prompt") or ""),
                    "title": f"Midjourney {record.get('action') or ''} {record.get('id') or ''}",
                }
            )
            for packet in src.demux(*[s for s in src.streams if s.index in mapping]):
                if packet.dts is None:
                    continue
                packet.stream = mapping[packet.stream.index]
                dst.mux(packet)
        return target.read_bytes()


def _read_mp4(path: Path) -> str | None:
    import av

    with av.open(str(path)) as container:
        text = container.metadata.get("comment")
    return text if text and text.lstrip().startswith("{") else None


# -- public --------------------------------------------------------------------------------------


def embed(data: bytes, record: dict[str, Any]) -> bytes:
    """``data`` (a PNG, JPEG or MP4 file's bytes) with ``record`` embedded; other formats (WebP,
    GIF) come back unchanged (their record stays in the JSON sidecar)."""
    kind = kind_of(data)
    if not kind:
        return data
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
    _check_no_key(text)
    if kind == "png":
        return _embed_png(data, record, text)
    if kind == "jpeg":  # a segment holds 64 KB: a very long lineage drops its inline masks
        for drop in ((), ("images",), ("images", "steps", "lineage", "buttons")):
            smaller = {key: value for key, value in record.items() if key not in drop}
            text = json.dumps(smaller, ensure_ascii=False, separators=(",", ":"), default=str)
            if len(_xmp(smaller, text).encode()) + len(_XMP_APP1) <= _JPEG_SEGMENT_MAX:
                return _embed_jpeg(data, smaller, text)
        return data
    return _embed_mp4(data, record, text)


def provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The record mjwidgets embedded in a PNG, JPEG or MP4 file (NotFoundError when it has
    none): prompt, parameters, lineage ``steps`` (buttons by meaning, masks by digest), server,
    times — enough for ``mjw.recipe(path)`` and ``mjw.replay(path, …)``."""
    file = Path(path).expanduser()
    try:
        with file.open("rb") as stream:
            head = stream.read(16)
    except OSError as exc:
        raise NotFoundError(
            f"cannot read {file}: {exc.strerror}", advice="check the path"
        ) from None
    kind = kind_of(head)
    text = None
    if kind == "png":
        text = _read_png(file.read_bytes())
    elif kind == "jpeg":
        text = _read_jpeg(file.read_bytes())
    elif kind == "mp4":
        text = _read_mp4(file)
    if text is None:
        raise NotFoundError(
            f"{file.name} carries no mjwidgets record",
            advice="only PNG, JPEG and MP4 files saved or exported by mjwidgets carry one",
        )
    try:
        record = json.loads(text)
    except ValueError:
        raise ValidationError(
            f"the record in {file.name} is damaged", advice="save the image again"
        ) from None
    if not isinstance(record, dict):
        raise ValidationError(f"the record in {file.name} is damaged", advice="save it again")
    return record
