"""Synthetic Midjourney artwork for the embedded simulator.

Every image the simulator serves is painted here. The pictures have two audiences: a person
looking at a notebook, who should see at a glance which prompt, tile and lineage an image came
from, and the test suite, which should be able to prove geometric facts (U2 is the second
quadrant, Vary (Region) only touched the masked pixels, Zoom Out keeps the parent in the
centre). So the art is smooth, seeded and deterministic, and each tile carries a caption block.

All functions are pure: randomness comes from ``random.Random`` / ``numpy.random.Generator``
instances seeded from the arguments (via a stable hash, never Python's salted ``hash``).
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import math
import random
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

__all__ = [
    "animate",
    "describe_prompts",
    "encode",
    "grid",
    "imagine_tile",
    "inpaint_tile",
    "pan_tile",
    "preview",
    "reroll_tile",
    "tile_of",
    "tile_size",
    "upscale",
    "vary_tile",
    "zoom_tile",
]

RGB = tuple[int, int, int]
_TILE_AREA = 1024 * 1024
_MAX_RATIO = 8.0  # beyond 8:1 the caption block no longer fits in a tile
_CAPTION_ALPHA = 175

# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------


def _mix(*parts: object) -> int:
    """Stable 64-bit seed from arbitrary parts; Python's ``hash`` is salted per process."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _rng(*parts: object) -> random.Random:
    return random.Random(_mix(*parts))


def _hsv(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return round(r * 255), round(g * 255), round(b * 255)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font: no font files needed, scalable on Pillow >= 10.1."""
    try:
        return ImageFont.load_default(size=max(8, size))
    except (TypeError, ValueError, OSError):  # old Pillow or built without FreeType
        return ImageFont.load_default()


def _text(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    fill: tuple[int, ...],
    anchor: str = "la",
    outline: tuple[int, ...] | None = None,
) -> None:
    """Draw ``text`` anchored like Pillow's ``anchor``; emulated for the bitmap fallback font."""
    if isinstance(font, ImageFont.FreeTypeFont):
        stroke_width, stroke_fill = (2, outline) if outline else (0, None)  # 0: Pillow's default
        draw.text(
            xy,
            text,
            font=font,
            fill=fill,
            anchor=anchor,
            stroke_width=stroke_width,
            stroke_fill=stroke_fill,
        )
        return
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    fx = {"l": 0.0, "m": 0.5, "r": 1.0}.get(anchor[0], 0.0)
    fy = {"a": 0.0, "t": 0.0, "m": 0.5, "s": 1.0, "b": 1.0, "d": 1.0}.get(anchor[1], 0.0)
    x = xy[0] - left - fx * (right - left)
    y = xy[1] - top - fy * (bottom - top)
    draw.text((x, y), text, font=font, fill=fill)


def _text_width(font: ImageFont.FreeTypeFont | ImageFont.ImageFont, text: str) -> float:
    return float(font.getlength(text))


def _fit(font: ImageFont.FreeTypeFont | ImageFont.ImageFont, text: str, width: float) -> str:
    """Truncate ``text`` with an ellipsis so it fits in ``width`` pixels."""
    if _text_width(font, text) <= width:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # binary search the longest prefix that fits with the ellipsis
        mid = (lo + hi + 1) // 2
        if _text_width(font, text[:mid].rstrip() + "…") <= width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + "…"


def _wrap(
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont, text: str, width: float, max_lines: int
) -> list[str]:
    """Greedy word wrap into at most ``max_lines`` lines, the last one ellipsised if needed."""
    words = " ".join(text.split()).split(" ") if text.strip() else [""]
    lines: list[str] = []
    current = ""
    for i, word in enumerate(words):
        trial = f"{current} {word}" if current else word
        if _text_width(font, trial) <= width or not current:
            current = trial
            continue
        lines.append(current)
        current = word
        if len(lines) == max_lines - 1:
            current = " ".join(words[i:])
            break
    lines.append(current)
    return [_fit(font, line, width) for line in lines[:max_lines]]


def _check_index(index: int) -> None:
    if index not in (1, 2, 3, 4):
        raise ValueError(f"tile index must be 1..4, got {index!r}")


def _rgb(img: Image.Image) -> Image.Image:
    return img if img.mode == "RGB" else img.convert("RGB")


# --------------------------------------------------------------------------------------------
# caption block: fixed geometry per image size, so derived images can erase the parent's one
# --------------------------------------------------------------------------------------------


def _caption_geometry(size: tuple[int, int]) -> tuple[int, int, int, tuple[int, int, int, int]]:
    """(font size, margin, padding, box) - depends only on the image size, never on the text."""
    w, h = size
    fs = max(10, round(min(w, h) / 38))
    margin = max(4, round(min(w, h) * 0.02))
    pad = max(4, round(fs * 0.55))
    box_h = pad * 2 + round(fs * 1.25) * 2 + round(fs * 0.85 * 1.3)
    box = (margin, h - margin - box_h, w - margin, h - margin)
    return fs, margin, pad, box


def _draw_caption(img: Image.Image, index: int | None, title: str, caption: str) -> Image.Image:
    """Readable caption block (dark translucent box) at the bottom of ``img``, in place.

    Shows a large "#index", up to two lines of ``title`` (the prompt) and one line of ``caption``
    (the lineage). Without a title the lineage gets the two large lines instead.
    """
    fs, _margin, pad, box = _caption_geometry(img.size)
    band = img.crop(box).convert("RGBA")
    over = Image.new("RGBA", band.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(over)
    d.rounded_rectangle(
        (0, 0, band.width - 1, band.height - 1),
        radius=pad,
        fill=(12, 12, 18, _CAPTION_ALPHA),
        outline=(255, 255, 255, 70),
    )
    text_x = pad
    if index is not None:
        big = _font(round(fs * 2.2))
        label = f"#{index}"
        _text(d, (pad, band.height / 2), label, big, (255, 214, 102, 255), "lm")
        text_x = pad * 2 + round(_text_width(big, label))
    avail = band.width - text_x - pad
    main, small = _font(fs), _font(round(fs * 0.85))
    line_h, small_h = round(fs * 1.25), round(fs * 0.85 * 1.3)
    # (text, font, colour, height) rows, then centred vertically in the box
    rows: list[tuple[str, ImageFont.FreeTypeFont | ImageFont.ImageFont, tuple, int]] = []
    if title.strip():
        rows += [(t, main, (250, 250, 250, 255), line_h) for t in _wrap(main, title, avail, 2)]
        if caption.strip():
            rows.append((_fit(small, caption, avail), small, (190, 205, 230, 255), small_h))
    else:
        rows += [(t, main, (225, 232, 250, 255), line_h) for t in _wrap(main, caption, avail, 2)]
    y = (band.height - sum(r[3] for r in rows)) / 2
    for text, font, colour, height in rows:
        _text(d, (text_x, y + height / 2), text, font, colour, "lm")
        y += height
    img.paste(Image.alpha_composite(band, over).convert(img.mode), box[:2])
    return img


def _erase_caption(img: Image.Image) -> Image.Image:
    """Copy of ``img`` whose bottom caption band is replaced by a soft reflection of the rows
    above it.

    Derived images (vary, zoom, pan) get their own caption; without this the parent's text
    would show through, warped, under the new one. A darkened, blurred mirror image reads as
    water or ground rather than as a patch.
    """
    w, h = img.size
    y0 = _caption_geometry(img.size)[3][1]
    top = max(1, y0 - 6)
    band = h - top
    out = _rgb(img).copy()
    if top >= band:
        src = out.crop((0, top - band, w, top)).transpose(Image.Transpose.FLIP_TOP_BOTTOM)
        small = src.resize((max(1, w // 4), max(1, band // 4)), Image.Resampling.BOX)
        fill = small.resize((w, band), Image.Resampling.BICUBIC).point(lambda v: v * 3 // 4)
    else:  # tiny or extreme images: a horizontal colour gradient is all there is room for
        strip = out.crop((0, 0, w, top)).resize((3, 1), Image.Resampling.BOX)
        fill = strip.resize((w, band), Image.Resampling.BICUBIC)
    out.paste(fill, (0, top))
    return out


# --------------------------------------------------------------------------------------------
# painting primitives
# --------------------------------------------------------------------------------------------


def _gradient(size: tuple[int, int], colours: Sequence[Sequence[RGB]]) -> Image.Image:
    """Smooth colour field: a tiny grid of control colours upsampled bicubically (very fast)."""
    rows, cols = len(colours), len(colours[0])
    small = Image.fromarray(np.asarray(colours, dtype=np.uint8).reshape(rows, cols, 3), "RGB")
    return small.resize(size, Image.Resampling.BICUBIC)


def _ridge(rng: random.Random, w: int, base: float, amp: float, n: int = 14) -> list[float]:
    """Smoothed random walk used as a mountain / dune outline (y values per x sample)."""
    pts = [rng.uniform(-1, 1) for _ in range(n + 3)]
    smooth = [(pts[i] + 2 * pts[i + 1] + pts[i + 2]) / 4 for i in range(n + 1)]
    return [base + amp * v for v in smooth]


def _glow(size: tuple[int, int], spots: list[tuple[float, float, float, RGB, int]]) -> Image.Image:
    """Soft glows (x, y, r, colour, alpha) painted at 1/8 scale, blurred and upsampled."""
    w, h = size
    sw, sh = max(1, w // 8), max(1, h // 8)
    layer = Image.new("RGBA", (sw, sh), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    for x, y, r, col, a in spots:
        cx, cy, rr = x / 8, y / 8, max(1.0, r / 8)
        d.ellipse((cx - rr, cy - rr, cx + rr, cy + rr), fill=(*col, a))
    layer = layer.filter(ImageFilter.GaussianBlur(max(1.0, min(sw, sh) / 14)))
    return layer.resize(size, Image.Resampling.BICUBIC)


def _palette(rng: random.Random, hue: float) -> list[RGB]:
    """Five harmonious colours around ``hue`` (analogous + one complementary accent)."""
    offs = [0.0, 0.06, -0.07, 0.5 + rng.uniform(-0.05, 0.05), 0.12]
    return [_hsv(hue + o, rng.uniform(0.45, 0.85), rng.uniform(0.45, 0.95)) for o in offs]


def _shade(c: RGB, f: float) -> RGB:
    if f < 1:
        return (round(c[0] * f), round(c[1] * f), round(c[2] * f))
    return (
        round(c[0] + (255 - c[0]) * (f - 1)),
        round(c[1] + (255 - c[1]) * (f - 1)),
        round(c[2] + (255 - c[2]) * (f - 1)),
    )


def _compose(kind: int, size: tuple[int, int], rng: random.Random, hue: float) -> Image.Image:
    """One of four composition families; index selects a family so grid tiles clearly differ."""
    w, h = size
    pal = _palette(rng, hue)
    dark, light = _shade(pal[0], 0.25), _shade(pal[1], 1.45)
    over = Image.new("RGBA", size, (0, 0, 0, 0))
    d = ImageDraw.Draw(over)
    if kind == 0:  # landscape: sky, sun, layered ridges
        bg = _gradient(size, [[light, _shade(pal[4], 1.3)], [pal[1], pal[3]], [pal[0], dark]])
        sx, sy, sr = rng.uniform(0.2, 0.8) * w, rng.uniform(0.15, 0.4) * h, min(w, h) * 0.09
        glow = _glow(size, [(sx, sy, sr * 3.2, _shade(pal[3], 1.5), 170)])
        bg = Image.alpha_composite(bg.convert("RGBA"), glow)
        d.ellipse((sx - sr, sy - sr, sx + sr, sy + sr), fill=(*_shade(pal[3], 1.6), 240))
        for layer in range(4):
            ys = _ridge(rng, w, h * (0.45 + 0.13 * layer), h * (0.12 - 0.02 * layer))
            step = w / (len(ys) - 1)
            pts = [(i * step, y) for i, y in enumerate(ys)] + [(w, h), (0, h)]
            col = _shade(pal[(layer + 2) % 5], 0.85 - 0.18 * layer)
            d.polygon(pts, fill=(*col, 235))
    elif kind == 1:  # bokeh orbs on a radial-ish field
        bg = _gradient(
            size,
            [[dark, pal[2], dark], [pal[0], _shade(pal[1], 1.2), pal[3]], [dark, pal[4], dark]],
        )
        spots = [
            (rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.1, 0.3) * w, pal[3], 120)
            for _ in range(3)
        ]
        bg = Image.alpha_composite(bg.convert("RGBA"), _glow(size, spots))
        for _ in range(26):
            r = rng.uniform(0.015, 0.11) * min(w, h)
            x, y = rng.uniform(-r, w + r), rng.uniform(-r, h + r)
            col = _shade(rng.choice(pal), rng.uniform(0.9, 1.6))
            d.ellipse((x - r, y - r, x + r, y + r), fill=(*col, rng.randint(60, 150)))
            d.ellipse((x - r, y - r, x + r, y + r), outline=(*_shade(col, 1.5), 120), width=2)
    elif kind == 2:  # waves / dunes
        bg = _gradient(size, [[pal[1], light], [pal[0], pal[4]], [dark, pal[3]]])
        n = 7
        for k in range(n):
            base = h * (0.3 + 0.75 * k / n)
            amp, freq, ph = h * rng.uniform(0.02, 0.06), rng.uniform(1.0, 2.6), rng.uniform(0, 6.3)
            xs = np.linspace(0, w, 48)
            wave = base + amp * np.sin(xs / w * freq * 2 * math.pi + ph)
            pts = list(zip(xs.tolist(), wave.tolist(), strict=True)) + [(w, h), (0, h)]
            col = _shade(pal[k % 5], 1.25 - 0.12 * k)
            d.polygon(pts, fill=(*col, 200))
            d.line(
                list(zip(xs.tolist(), wave.tolist(), strict=True)),
                fill=(*_shade(col, 1.6), 160),
                width=max(1, w // 400),
            )
    else:  # geometric, Bauhaus-like
        bg = _gradient(size, [[light, pal[4]], [pal[2], dark]])
        for _ in range(11):
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            r = rng.uniform(0.06, 0.22) * min(w, h)
            rgba = (*rng.choice(pal), rng.randint(120, 210))
            shape = rng.randrange(3)
            if shape == 0:
                d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=rgba)
            elif shape == 1:
                d.regular_polygon((cx, cy, r), 3, rotation=rng.uniform(0, 360), fill=rgba)
            else:
                d.regular_polygon((cx, cy, r), 4, rotation=rng.uniform(0, 90), fill=rgba)
        for _ in range(4):
            y = rng.uniform(0, h)
            d.line(
                (0, y, w, y + rng.uniform(-0.3, 0.3) * h),
                fill=(*light, 150),
                width=max(1, w // 300),
            )
    out = Image.alpha_composite(bg.convert("RGBA"), over)
    return out.convert("RGB")


def _scatter(
    img: Image.Image,
    rng: random.Random,
    pal: Sequence[RGB],
    count: int,
    *,
    box: tuple[float, float, float, float] | None = None,
    alpha: tuple[int, int] = (70, 160),
    radius: tuple[float, float] = (0.08, 0.35),
) -> Image.Image:
    """Add ``count`` translucent orbs/polygons inside ``box`` (new "details" for edits)."""
    w, h = img.size
    x0, y0, x1, y1 = box if box is not None else (0, 0, w, h)
    over = Image.new("RGBA", img.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(over)
    span = max(1.0, min(x1 - x0, y1 - y0))
    for _ in range(count):
        cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
        r = rng.uniform(*radius) * span
        col = (*_shade(rng.choice(pal), rng.uniform(0.8, 1.5)), rng.randint(*alpha))
        if rng.random() < 0.6:
            d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=col)
        else:
            d.regular_polygon(
                (cx, cy, r), rng.randint(3, 6), rotation=rng.uniform(0, 360), fill=col
            )
    return Image.alpha_composite(img.convert("RGBA"), over).convert("RGB")


def _palette_of(img: Image.Image, rng: random.Random, hue_shift: float = 0.0) -> list[RGB]:
    """A few vivid colours sampled from ``img`` (optionally hue-rotated) for continuing it."""
    px = np.asarray(_rgb(img).resize((8, 8), Image.Resampling.BOX)).reshape(-1, 3)
    out: list[RGB] = []
    for _ in range(5):
        r, g, b = (int(v) / 255 for v in px[rng.randrange(len(px))])
        hh, ss, vv = colorsys.rgb_to_hsv(r, g, b)
        out.append(_hsv(hh + hue_shift, max(ss, 0.35), max(vv, 0.45)))
    return out


def _hue_shift(img: Image.Image, shift: float, sat: float = 1.0) -> Image.Image:
    """Rotate hue by ``shift`` turns and scale saturation with one RGB colour matrix.

    The matrix (the CSS ``hue-rotate``/``saturate`` filters combined) runs in C via
    ``Image.convert``, several times faster than a round trip through HSV.
    """
    lum = np.array([0.213, 0.715, 0.072])
    grey = np.tile(lum, (3, 1))
    c, s = math.cos(shift * math.tau), math.sin(shift * math.tau)
    rot = (
        grey
        + c * (np.eye(3) - grey)
        + s * np.array([[-0.213, -0.715, 0.928], [0.143, 0.140, -0.283], [-0.787, 0.715, 0.072]])
    )
    satm = grey + sat * (np.eye(3) - grey)
    m = satm @ rot
    matrix = tuple(float(v) for row in m for v in (*row, 0.0))
    return _rgb(img).convert("RGB", matrix)


def _mesh_warp(img: Image.Image, rng: random.Random, amount: float, cells: int = 4) -> Image.Image:
    """Smooth-ish warp: jitter interior mesh vertices by ``amount`` of a cell and remap."""
    w, h = img.size
    cw, ch = w / cells, h / cells
    src = {}
    for j in range(cells + 1):
        for i in range(cells + 1):
            x, y = i * cw, j * ch
            if 0 < i < cells:
                x += rng.uniform(-1, 1) * amount * cw
            if 0 < j < cells:
                y += rng.uniform(-1, 1) * amount * ch
            src[i, j] = (x, y)
    mesh = []
    for j in range(cells):
        for i in range(cells):
            box = (round(i * cw), round(j * ch), round((i + 1) * cw), round((j + 1) * ch))
            quad = (*src[i, j], *src[i, j + 1], *src[i + 1, j + 1], *src[i + 1, j])
            mesh.append((box, quad))
    return img.transform(img.size, Image.Transform.MESH, mesh, Image.Resampling.BILINEAR)


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def tile_size(ar: str | None) -> tuple[int, int]:
    """Tile size for an ``--ar`` value: about 1024*1024 pixels, both sides multiples of 16.

    Keeping the area constant mirrors Midjourney (a wide image is not bigger, just wider) and
    multiples of 16 keep grids and upscales integral.
    """
    if ar is None or not str(ar).strip():
        return 1024, 1024
    text = str(ar).strip()
    parts = text.split(":")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"malformed aspect ratio {ar!r}: expected 'W:H' with integers, e.g. '3:2'")
    aw, ah = int(parts[0]), int(parts[1])
    if aw <= 0 or ah <= 0:
        raise ValueError(f"malformed aspect ratio {ar!r}: both sides must be positive")
    ratio = aw / ah
    if not 1 / _MAX_RATIO <= ratio <= _MAX_RATIO:
        raise ValueError(f"aspect ratio {ar!r} is too extreme (limit {_MAX_RATIO:g}:1)")
    width = math.sqrt(_TILE_AREA * ratio)
    height = width / ratio
    return max(16, round(width / 16) * 16), max(16, round(height / 16) * 16)


def imagine_tile(
    prompt: str, seed: int, index: int, size: tuple[int, int], caption: str
) -> Image.Image:
    """Fresh synthetic artwork for tile ``index`` (1..4) of a new grid, with its caption block.

    The base hue comes from the prompt (so a grid reads as one theme); the composition family
    and hue offset come from the index (so the four tiles are easy to tell apart).
    """
    _check_index(index)
    w, h = int(size[0]), int(size[1])
    theme = _rng("theme", prompt, seed)
    base_hue = _mix("hue", prompt) % 1000 / 1000
    start = theme.randrange(4)
    rng = _rng("imagine", prompt, seed, index)
    hue = base_hue + (index - 1) * 0.11 + rng.uniform(-0.03, 0.03)
    img = _compose((start + index) % 4, (w, h), rng, hue)
    return _draw_caption(img, index, prompt, caption)


def reroll_tile(
    prompt: str, seed: int, index: int, size: tuple[int, int], caption: str
) -> Image.Image:
    """Re-roll: a brand-new tile for the same prompt; the seed is remixed so it never repeats."""
    return imagine_tile(prompt, _mix("reroll", seed) % 2**32, index, size, caption)


def vary_tile(
    parent: Image.Image, seed: int, index: int, strength: float, caption: str
) -> Image.Image:
    """Variation of ``parent``: hue drift, mesh warp and added shapes scaled by ``strength``.

    ``strength`` in 0..1 (Vary Subtle ~0.25, V1-V4 ~0.5, Vary Strong ~0.8) so subtle variations
    stay recognisably the parent while strong ones wander off.
    """
    strength = min(max(float(strength), 0.0), 1.0)
    rng = _rng("vary", seed, index, round(strength, 4))
    base = _erase_caption(parent)
    shift = rng.choice((-1, 1)) * strength * rng.uniform(0.05, 0.16)
    img = _hue_shift(base, shift, 1.0 + rng.uniform(-0.2, 0.3) * strength)
    img = _mesh_warp(img, rng, 0.12 + 0.3 * strength)
    pal = _palette_of(base, rng, shift * 2)
    img = _scatter(
        img,
        rng,
        pal,
        1 + round(strength * 7),
        alpha=(40, 60 + round(100 * strength)),
        radius=(0.04, 0.16),
    )
    return _draw_caption(img, index, "", caption)


def zoom_tile(
    parent: Image.Image, factor: float, seed: int, index: int, caption: str
) -> Image.Image:
    """Zoom Out: the parent shrunk by ``1/factor`` and centred in newly painted surroundings.

    The centre is the parent pixel-for-pixel (resized), so tests can find it again.
    """
    factor = float(factor)
    if not 1.0 <= factor <= 2.0:
        raise ValueError(f"zoom factor must be within [1, 2], got {factor}")
    base = _erase_caption(parent)
    w, h = base.size
    iw, ih = max(1, round(w / factor)), max(1, round(h / factor))
    inner = base.resize((iw, ih), Image.Resampling.LANCZOS, reducing_gap=2.0)
    rng = _rng("zoom", seed, index, factor)
    # surroundings: the parent itself, enlarged, blurred and tinted, plus fresh shapes
    small = base.resize((max(1, w // 8), max(1, h // 8)), Image.Resampling.BOX)
    small = small.filter(ImageFilter.GaussianBlur(max(1.0, min(w, h) / 160)))
    bg = _hue_shift(small, rng.uniform(-0.05, 0.05), 1.15).resize((w, h), Image.Resampling.BICUBIC)
    bg = _scatter(bg, rng, _palette_of(base, rng, 0.04), 12, alpha=(50, 130), radius=(0.03, 0.12))
    ox, oy = (w - iw) // 2, (h - ih) // 2
    bg.paste(inner, (ox, oy))
    return _draw_caption(bg, index, "", caption)


def pan_tile(
    parent: Image.Image, direction: str, seed: int, index: int, caption: str
) -> Image.Image:
    """Pan: content moves 25% away from ``direction`` and a new strip is painted on that side.

    ``pan_tile(img, "left", ...)`` reveals new scenery on the left, as in Midjourney.
    """
    direction = direction.lower()
    if direction not in ("left", "right", "up", "down"):
        raise ValueError(f"pan direction must be left/right/up/down, got {direction!r}")
    base = _erase_caption(parent)
    w, h = base.size
    horizontal = direction in ("left", "right")
    d = max(1, w // 4) if horizontal else max(1, h // 4)
    rng = _rng("pan", seed, index, direction)
    out = Image.new("RGB", (w, h))
    # the strip continues the parent's edge: its mirror image, blurred and tinted, plus shapes
    if direction == "left":
        out.paste(base.crop((0, 0, w - d, h)), (d, 0))
        edge = base.crop((0, 0, d, h)).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        at = (0, 0)
    elif direction == "right":
        out.paste(base.crop((d, 0, w, h)), (0, 0))
        edge = base.crop((w - d, 0, w, h)).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        at = (w - d, 0)
    elif direction == "up":
        out.paste(base.crop((0, 0, w, h - d)), (0, d))
        edge = base.crop((0, 0, w, d)).transpose(Image.Transpose.FLIP_TOP_BOTTOM)
        at = (0, 0)
    else:
        out.paste(base.crop((0, d, w, h)), (0, 0))
        edge = base.crop((0, h - d, w, h)).transpose(Image.Transpose.FLIP_TOP_BOTTOM)
        at = (0, h - d)
    ew, eh = edge.size
    blurred = edge.resize((max(1, ew // 4), max(1, eh // 4)), Image.Resampling.BOX)
    blurred = blurred.filter(ImageFilter.GaussianBlur(2)).resize((ew, eh), Image.Resampling.BICUBIC)
    soft = _hue_shift(blurred, rng.uniform(-0.06, 0.06), 1.1)
    soft = _scatter(
        soft, rng, _palette_of(edge, rng, 0.03), 6, alpha=(70, 160), radius=(0.06, 0.25)
    )
    # ramp: 0 (mirror, continuous with the shifted content) at the seam -> 255 (new) outside
    ramp = Image.linear_gradient("L").resize((ew, eh) if not horizontal else (eh, ew))
    if horizontal:
        ramp = ramp.transpose(Image.Transpose.ROTATE_90)  # now dark on the right
        if direction == "right":
            ramp = ramp.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    elif direction == "up":
        ramp = ramp.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    out.paste(Image.composite(soft, edge, ramp), at)
    return _draw_caption(out, index, "", caption)


def inpaint_tile(
    parent: Image.Image, mask: Image.Image, seed: int, index: int, prompt: str
) -> Image.Image:
    """Vary (Region): repaint where ``mask`` >= 128, keep everything else bit-exact.

    Every repainted pixel is guaranteed to differ from the parent (by >= 48 in at least one
    channel), so a test can assert the edit touched exactly the masked region. Intermediate
    mask values below 128 count as "keep".
    """
    if mask.size != parent.size:
        raise ValueError(f"mask size {mask.size} does not match image size {parent.size}")
    base = _rgb(parent)
    m = np.asarray(mask if mask.mode == "L" else mask.convert("L")) >= 128
    out = np.array(base)
    if not m.any():
        return Image.fromarray(out, "RGB")
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    sub = m[y0:y1, x0:x1]
    region = out[y0:y1, x0:x1]
    # new content in the complementary hue of what is being replaced, so it stands out
    step = max(1, round(math.sqrt(sub.size / 4096)))  # a sparse sample is plenty for a mean
    sample = region[::step, ::step][sub[::step, ::step]]
    mean = (sample if len(sample) else region[sub]).mean(axis=0) / 255
    hue = colorsys.rgb_to_hsv(*mean)[0] + 0.5
    rng = _rng("inpaint", seed, index, prompt)
    art = _compose(rng.randrange(4), (x1 - x0, y1 - y0), rng, hue)
    # label near the mask's centre of mass (clipped to the mask like everything else)
    fs = max(10, round(min(base.size) / 40))
    font = _font(fs)
    label = _fit(font, f"#{index} {prompt}".strip(), max(10, (x1 - x0) - fs))
    sy, sx = np.nonzero(sub[::step, ::step])
    centre = (float(sx.mean()) * step, float(sy.mean()) * step) if len(sx) else (0.0, 0.0)
    _text(ImageDraw.Draw(art), centre, label, font, (255, 255, 255), "mm", outline=(10, 10, 16))
    new = np.asarray(art)  # uint8 arithmetic below is overflow-safe by construction
    # a light "selection" rim along the inside of the mask edge (cheap cross-shaped erosion)
    k = max(1, min(base.size) // 256) * 2
    inner = np.zeros_like(sub)
    if sub.shape[0] > 2 * k and sub.shape[1] > 2 * k:
        core = sub[k:-k, k:-k].copy()
        core &= sub[: -2 * k, k:-k] & sub[2 * k :, k:-k] & sub[k:-k, : -2 * k] & sub[k:-k, 2 * k :]
        inner[k:-k, k:-k] = core
    rim = (sub & ~inner)[..., None]
    new = np.where(rim, new // 2 + 128, new)
    # guarantee a visible difference: where the art is close to the parent, push it away
    # (up by 96 over dark parent channels, down by 96 over light ones: >= 48 apart after)
    diff = np.maximum(new, region) - np.minimum(new, region)
    close = (np.maximum(np.maximum(diff[..., 0], diff[..., 1]), diff[..., 2]) < 48)[..., None]
    pushed = np.where(region < 128, np.minimum(new, 159) + 96, np.maximum(new, 96) - 96)
    new = np.where(close, pushed, new)
    out[y0:y1, x0:x1] = np.where(sub[..., None], new, region)
    return Image.fromarray(out, "RGB")


def upscale(img: Image.Image, factor: int, style: str, seed: int) -> Image.Image:
    """Upscale by an integer ``factor`` (LANCZOS) with a corner badge like "2x subtle".

    "subtle" lightly sharpens; "creative" adds visible fresh detail (sparkles, fine strokes),
    so the two upscaler buttons produce distinguishable results.
    """
    style = style.lower()
    if style not in ("plain", "subtle", "creative"):
        raise ValueError(f"upscale style must be plain/subtle/creative, got {style!r}")
    factor = int(factor)
    if factor < 1:
        raise ValueError(f"upscale factor must be >= 1, got {factor}")
    src = _rgb(img)
    w, h = src.width * factor, src.height * factor
    out = src.resize((w, h), Image.Resampling.LANCZOS) if factor > 1 else src.copy()
    if style == "subtle":
        out = out.filter(ImageFilter.UnsharpMask(radius=2, percent=60, threshold=2))
    elif style == "creative":
        rng = _rng("creative", seed, w, h)
        out = out.filter(ImageFilter.UnsharpMask(radius=3, percent=140, threshold=1))
        pal = _palette_of(src, rng, 0.08)
        over = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        d = ImageDraw.Draw(over)
        unit = min(w, h)
        for _ in range(260):
            x, y = rng.uniform(0, w), rng.uniform(0, h)
            r = rng.uniform(0.002, 0.009) * unit
            col = _shade(rng.choice(pal), 1.6)
            d.ellipse((x - r, y - r, x + r, y + r), fill=(*col, rng.randint(110, 220)))
        for _ in range(70):
            x, y = rng.uniform(0, w), rng.uniform(0, h)
            ang, ln = rng.uniform(0, math.tau), rng.uniform(0.02, 0.07) * unit
            d.line(
                (x, y, x + ln * math.cos(ang), y + ln * math.sin(ang)),
                fill=(*_shade(rng.choice(pal), 1.4), 130),
                width=max(1, unit // 700),
            )
        out = Image.alpha_composite(out.convert("RGBA"), over).convert("RGB")
    label = f"{factor}x {style}"
    fs = max(10, round(min(w, h) / 45))
    font = _font(fs)
    pad = max(3, fs // 2)
    tw = round(_text_width(font, label))
    bx1, by0 = w - pad, pad
    bx0, by1 = bx1 - tw - 2 * pad, by0 + round(fs * 1.3) + pad
    badge = out.crop((bx0, by0, bx1, by1)).convert("RGBA")
    layer = Image.new("RGBA", badge.size, (0, 0, 0, 0))
    bd = ImageDraw.Draw(layer)
    bd.rounded_rectangle(
        (0, 0, badge.width - 1, badge.height - 1), radius=pad, fill=(12, 12, 18, 190)
    )
    _text(bd, (badge.width / 2, badge.height / 2), label, font, (255, 214, 102, 255), "mm")
    out.paste(Image.alpha_composite(badge, layer).convert("RGB"), (bx0, by0))
    return out


def grid(tiles: list[Image.Image]) -> Image.Image:
    """2x2 grid (1 2 / 3 4) exactly as Midjourney lays out a job's four images."""
    if len(tiles) != 4:
        raise ValueError(f"a grid needs exactly 4 tiles, got {len(tiles)}")
    w, h = tiles[0].size
    if any(t.size != (w, h) for t in tiles):
        raise ValueError(f"all tiles must have the same size: {[t.size for t in tiles]}")
    out = Image.new("RGB", (2 * w, 2 * h))
    for i, t in enumerate(tiles):
        out.paste(_rgb(t), ((i % 2) * w, (i // 2) * h))
    return out


def tile_of(grid_img: Image.Image, index: int) -> Image.Image:
    """Quadrant ``index`` (1..4) of a grid: what U1-U4 hand back."""
    _check_index(index)
    w, h = grid_img.width // 2, grid_img.height // 2
    x, y = ((index - 1) % 2) * w, ((index - 1) // 2) * h
    return grid_img.crop((x, y, x + w, y + h))


def preview(final: Image.Image, progress: int) -> Image.Image:
    """Blurry in-progress preview: small (long side <= 512), blur and grain fading with progress.

    Downscaling happens first, so the blur costs almost nothing.
    """
    p = min(max(int(progress), 0), 100)
    src = _rgb(final)
    scale = min(1.0, 512 / max(src.size))
    size = (max(1, round(src.width * scale)), max(1, round(src.height * scale)))
    small = src.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0) if scale < 1 else src
    if p >= 100:
        return small.copy()
    left = max(0.0, (93 - p) / 93)
    radius = 1.2 + 16 * left**1.3
    out = small.filter(ImageFilter.GaussianBlur(radius * max(size) / 512))
    if left > 0.05:
        gen = np.random.default_rng(_mix("preview", p, size))
        noise = gen.normal(0, 20 * left, (size[1], size[0], 1)).astype(np.float32)
        arr = np.clip(np.asarray(out, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
        out = Image.fromarray(arr, "RGB")
    return out


def animate(img: Image.Image, seed: int, motion: str, frames: int = 8) -> bytes:
    """Looping animation of ``img`` (slow zoom + drift; "high" moves a lot more).

    Animated WebP where this Pillow can write it, otherwise GIF; long side <= 512.
    """
    motion = motion.lower()
    if motion not in ("low", "high"):
        raise ValueError(f"motion must be 'low' or 'high', got {motion!r}")
    frames = max(2, int(frames))
    src = _rgb(img)
    scale = min(1.0, 512 / max(src.size))
    size = (max(1, round(src.width * scale)), max(1, round(src.height * scale)))
    small = src.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0) if scale < 1 else src
    rng = _rng("animate", seed, motion)
    zoom_amp, drift = (0.05, 0.02) if motion == "low" else (0.22, 0.08)
    phase = rng.uniform(0, math.tau)
    w, h = size
    seq = []
    for k in range(frames):
        t = math.tau * k / frames
        z = 1 + zoom_amp * (0.5 - 0.5 * math.cos(t))  # 1 at both loop ends
        # zoom about a drifting centre; keep the view inside the image (no black borders)
        vw, vh = w / (z + 2 * drift), h / (z + 2 * drift)
        cx = w / 2 + drift * w * math.sin(t + phase)
        cy = h / 2 + drift * h * math.sin(t + phase) * 0.6
        cx, cy = min(max(cx, vw / 2), w - vw / 2), min(max(cy, vh / 2), h - vh / 2)
        box = (cx - vw / 2, cy - vh / 2, cx + vw / 2, cy + vh / 2)
        seq.append(small.resize(size, Image.Resampling.BILINEAR, box=box))
    duration = 120 if motion == "low" else 90
    buf = io.BytesIO()
    try:
        seq[0].save(
            buf,
            "WEBP",
            save_all=True,
            append_images=seq[1:],
            duration=duration,
            loop=0,
            quality=80,
            method=0,
        )
    except (OSError, KeyError, ValueError):
        buf = io.BytesIO()
        seq[0].save(buf, "GIF", save_all=True, append_images=seq[1:], duration=duration, loop=0)
    return buf.getvalue()


_COLOUR_NAMES = [
    (0.0, "crimson"),
    (0.04, "vermilion"),
    (0.08, "amber"),
    (0.13, "golden"),
    (0.18, "lime"),
    (0.30, "emerald"),
    (0.45, "teal"),
    (0.52, "cyan"),
    (0.60, "azure"),
    (0.67, "cobalt"),
    (0.74, "violet"),
    (0.82, "magenta"),
    (0.92, "rose"),
    (1.0, "crimson"),
]
_COMMON_AR = "1:1 4:3 3:4 3:2 2:3 16:9 9:16 2:1 1:2 4:5 5:4 7:4 4:7 21:9 9:21".split()


def _colour_name(c: Sequence[int]) -> str:
    hh, ss, vv = colorsys.rgb_to_hsv(*(x / 255 for x in c[:3]))
    if vv < 0.18:
        return "inky black"
    if ss < 0.15:
        return "silver grey" if vv < 0.8 else "pearl white"
    name = min(_COLOUR_NAMES, key=lambda p: abs(p[0] - hh))[1]
    if vv < 0.45:
        return f"deep {name}"
    return f"pale {name}" if ss < 0.4 else name


def _aspect(w: int, h: int) -> str:
    """Nearest familiar --ar string for a pixel size (exact ratios are often ugly: 1023:767)."""
    r = w / h

    def distance(ar: str) -> float:
        aw, ah = map(int, ar.split(":"))
        return abs(math.log(r * ah / aw))

    best = min(_COMMON_AR, key=distance)
    if distance(best) < 0.03:
        return best
    f = Fraction(w, h).limit_denominator(20)
    return f"{f.numerator}:{f.denominator}"


def describe_prompts(image: Image.Image, seed: int) -> list[str]:
    """Four /describe-style prompts derived from the image's colours, brightness and aspect."""
    src = _rgb(image)
    ar = _aspect(*src.size)
    thumb = src.resize((48, 48), Image.Resampling.BOX)
    q = thumb.quantize(colors=4, method=Image.Quantize.MEDIANCUT)
    pal = q.getpalette() or []
    # (pixel count, palette index) of each colour used, commonest first; the histogram of a
    # P image counts per palette index (getcolors does too, but its stub types the index loosely)
    counts = sorted(((n, idx) for idx, n in enumerate(q.histogram()) if n), reverse=True)
    names: list[str] = []
    for _count, idx in counts:
        name = _colour_name(pal[idx * 3 : idx * 3 + 3])
        if name not in names:
            names.append(name)
    names = names or ["muted"]
    while len(names) < 3:
        names.append(names[-1])
    lum = float(np.asarray(thumb.convert("L")).mean())
    mood = "moody low-key" if lum < 85 else "soft balanced" if lum < 170 else "bright airy"
    shape = (
        "panoramic"
        if src.width > 1.4 * src.height
        else ("tall portrait" if src.height > 1.4 * src.width else "square-ish")
    )
    rng = _rng("describe", seed, ar, tuple(names), round(lum))
    subjects = [
        "mountain valley at dusk",
        "abstract fluid sculpture",
        "quiet harbour town",
        "floating islands",
        "desert dunes",
        "bioluminescent forest",
        "retro-futurist city",
        "still life with glass orbs",
    ]
    styles = [
        "in the style of a matte painting",
        "cinematic lighting, 35mm film grain",
        "watercolour and ink",
        "bauhaus poster",
        "digital art, octane render",
        "impressionist oil on canvas",
        "minimalist vector illustration",
    ]
    subj = rng.sample(subjects, 4)
    sty = rng.sample(styles, 4)
    a, b, c = names[0], names[1], names[2]
    return [
        f"{subj[0]} bathed in {a} and {b} light, {mood}, {sty[0]} --ar {ar}",
        f"a {shape} composition of {subj[1]}, {a} palette with {c} accents, {sty[1]} --ar {ar}",
        f"{mood} {subj[2]}, gradients of {b} fading into {a}, {sty[2]} --ar {ar}",
        f"dreamlike {subj[3]}, {c}, {a} and {b} tones, {sty[3]}, highly detailed --ar {ar}",
    ]


def encode(img: Image.Image, fmt: str) -> bytes:
    """Encode for serving: PNG lossless (masks are checked pixel by pixel), WEBP/JPEG q80."""
    f = fmt.upper()
    if f == "JPG":
        f = "JPEG"
    buf = io.BytesIO()
    if f == "PNG":
        img.save(buf, "PNG", compress_level=1)
    elif f == "WEBP":
        img.save(buf, "WEBP", quality=80, method=0)
    elif f == "JPEG":
        _rgb(img).save(buf, "JPEG", quality=80)
    else:
        raise ValueError(f"unsupported image format {fmt!r}: use PNG, WEBP or JPEG")
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# references, blends, edits and retextures (images that visibly use their inputs)
# --------------------------------------------------------------------------------------------


def cover(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``img`` scaled to cover ``size`` and centre-cropped (how a reference fills a frame)."""
    src = _rgb(img)
    w, h = int(size[0]), int(size[1])
    scale = max(w / src.width, h / src.height)
    sw, sh = max(w, round(src.width * scale)), max(h, round(src.height * scale))
    scaled = src.resize((sw, sh), Image.Resampling.LANCZOS, reducing_gap=2.0)
    x, y = (sw - w) // 2, (sh - h) // 2
    return scaled.crop((x, y, x + w, y + h))


def style_transfer(img: Image.Image, styles: Sequence[Image.Image], strength: float) -> Image.Image:
    """Recolour ``img`` with the palette of ``styles`` (--sref): per-channel mean and spread
    matched to the pooled style images, mixed in by ``strength`` (0..1)."""
    strength = min(max(float(strength), 0.0), 1.0)
    if not styles or strength <= 0:
        return _rgb(img)
    pooled = np.concatenate(
        [
            np.asarray(_rgb(s).resize((64, 64), Image.Resampling.BOX), dtype=np.float32).reshape(
                -1, 3
            )
            for s in styles
        ]
    )
    src = np.asarray(_rgb(img), dtype=np.float32)
    mu, sd = src.reshape(-1, 3).mean(axis=0), src.reshape(-1, 3).std(axis=0) + 1.0
    smu, ssd = pooled.mean(axis=0), pooled.std(axis=0)
    matched = (src - mu) / sd * np.maximum(ssd, 12.0) + smu
    out = src * (1 - strength) + matched * strength
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")


def subject_box(size: tuple[int, int], weight: float = 100.0) -> tuple[int, int, int, int]:
    """Where --oref / --cref put the reference in a tile (a box around its centre)."""
    w, h = size
    side = round(min(w, h) * (0.30 + 0.15 * min(max(float(weight), 0.0), 400.0) / 400.0))
    cx, cy = w // 2, round(h * 0.42)
    return cx - side // 2, cy - side // 2, cx - side // 2 + side, cy - side // 2 + side


def place_subject(
    img: Image.Image, subject: Image.Image, weight: float = 100.0, label: str = ""
) -> Image.Image:
    """Put ``subject`` (--oref / --cref) into ``img`` as an oval portrait with a light rim;
    the weight (--ow / --cw, 0..400+) sizes it. The oval's centre is the reference's."""
    out = _rgb(img).copy()
    x0, y0, x1, y1 = subject_box(out.size, weight)
    side = x1 - x0
    face = cover(subject, (side, side))
    mask = Image.new("L", (side, side), 0)
    ImageDraw.Draw(mask).ellipse((0, 0, side - 1, side - 1), fill=255)
    rim = Image.new("L", (side + 8, side + 8), 0)
    ImageDraw.Draw(rim).ellipse((0, 0, side + 7, side + 7), fill=255)
    out.paste((245, 245, 250), (x0 - 4, y0 - 4), rim)
    out.paste(face, (x0, y0), mask)
    if label:
        fs = max(10, side // 9)
        font = _font(fs)
        d = ImageDraw.Draw(out)
        _text(d, (x0 + side / 2, y1 + fs), label, font, (255, 255, 255), "mm", outline=(10, 10, 16))
    return out


def reference_tile(
    prompt: str,
    seed: int,
    index: int,
    size: tuple[int, int],
    caption: str,
    *,
    image_prompts: Sequence[Image.Image] = (),
    styles: Sequence[Image.Image] = (),
    subjects: Sequence[tuple[Image.Image, str]] = (),
    image_weight: float = 1.0,
    style_weight: float = 100.0,
    subject_weight: float = 100.0,
) -> Image.Image:
    """A grid tile for a prompt with references, each visibly used:

    image prompts (leading URLs, ``base64Array``) are blended over the artwork (more with a
    higher --iw), --sref images lend the tile their palette (--sw 0..1000), --oref / --cref
    images appear as a portrait near the centre (--ow / --cw). Without references this is
    :func:`imagine_tile`.
    """
    _check_index(index)
    if not (image_prompts or styles or subjects):
        return imagine_tile(prompt, seed, index, size, caption)
    w, h = int(size[0]), int(size[1])
    theme = _rng("theme", prompt, seed)
    base_hue = _mix("hue", prompt) % 1000 / 1000
    start = theme.randrange(4)
    rng = _rng("imagine", prompt, seed, index)
    hue = base_hue + (index - 1) * 0.11 + rng.uniform(-0.03, 0.03)
    art = _compose((start + index) % 4, (w, h), rng, hue)
    if image_prompts:
        ref = cover(image_prompts[(index - 1) % len(image_prompts)], (w, h))
        ref = _hue_shift(ref, rng.uniform(-0.02, 0.02))
        alpha = min(0.9, max(0.35, 0.35 + 0.3 * float(image_weight)))
        art = Image.blend(art, ref, alpha)
    if styles:
        art = style_transfer(art, styles, min(0.95, 0.45 + 0.4 * float(style_weight) / 100.0))
    for subject, label in subjects:
        art = place_subject(art, subject, subject_weight, label)
    return _draw_caption(art, index, prompt, caption)


def blend_layout(images: Sequence[Image.Image], size: tuple[int, int]) -> Image.Image:
    """/blend's composition: 2 images side by side (left | right), 3-4 in quadrants
    (1 2 / 3 4, a missing fourth is the mix of the others), a fifth as a centre oval."""
    if not 2 <= len(images) <= 5:
        raise ValueError(f"blend takes 2 to 5 images, got {len(images)}")
    w, h = int(size[0]), int(size[1])
    out = Image.new("RGB", (w, h))
    if len(images) == 2:
        half = w // 2
        out.paste(cover(images[0], (half, h)), (0, 0))
        out.paste(cover(images[1], (w - half, h)), (half, 0))
    else:
        quads = list(images[:4])
        if len(quads) == 3:
            mix = cover(quads[0], (w // 2, h // 2))
            for n, other in enumerate(quads[1:], start=2):
                mix = Image.blend(mix, cover(other, mix.size), 1.0 / n)
            quads.append(mix)
        hw, hh = w // 2, h // 2
        for i, img in enumerate(quads):
            box = ((i % 2) * hw, (i // 2) * hh)
            out.paste(cover(img, (w - hw if i % 2 else hw, h - hh if i // 2 else hh)), box)
        if len(images) == 5:
            side = min(w, h) // 3
            mask = Image.new("L", (side, side), 0)
            ImageDraw.Draw(mask).ellipse((0, 0, side - 1, side - 1), fill=255)
            out.paste(cover(images[4], (side, side)), ((w - side) // 2, (h - side) // 2), mask)
    return out


def retexture_tile(img: Image.Image, prompt: str, seed: int, index: int) -> Image.Image:
    """Retexture: keep the structure of ``img`` (its light and dark, and its edges) and give it
    the look of ``prompt`` (a colour ramp from the prompt's palette, plus fresh grain)."""
    _check_index(index)
    src = _rgb(img)
    rng = _rng("retexture", prompt, seed, index)
    hue = _mix("hue", prompt) % 1000 / 1000 + (index - 1) * 0.09 + rng.uniform(-0.02, 0.02)
    pal = _palette(rng, hue)
    dark, light = _shade(pal[0], 0.25), _shade(pal[1], 1.5)
    stops = np.array([dark, pal[0], pal[3], pal[1], light], dtype=np.float32)
    lum = np.asarray(src.convert("L"), dtype=np.float32) / 255.0
    pos = lum * (len(stops) - 1)
    lo = np.clip(np.floor(pos).astype(int), 0, len(stops) - 2)
    frac = (pos - lo)[..., None]
    ramp = stops[lo] * (1 - frac) + stops[lo + 1] * frac
    edges = np.asarray(src.convert("L").filter(ImageFilter.FIND_EDGES), dtype=np.float32)
    edges = np.clip(edges * 2.0, 0, 255)[..., None] / 255.0
    out = ramp * (1 - 0.6 * edges) + 0.6 * edges * np.array(_shade(pal[3], 1.7), np.float32)
    gen = np.random.default_rng(_mix("retexture-grain", seed, index))
    out = out + gen.normal(0, 6, (src.height, src.width, 1))
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")
