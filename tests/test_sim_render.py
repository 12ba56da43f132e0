"""Behaviour of the simulator's synthetic images (mjwidgets.sim.render)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mjwidgets.sim import render

PROMPT = "a lighthouse on a cliff at sunset, oil painting"
SIZE = (256, 256)  # small tiles keep the suite fast; geometry does not depend on size


def arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"), dtype=np.int16)


@pytest.fixture(scope="module")
def tiles() -> list[Image.Image]:
    return [render.imagine_tile(PROMPT, 42, i, SIZE, "imagine 1732000000001") for i in (1, 2, 3, 4)]


def test_tile_size_square_wide_and_invalid() -> None:
    assert render.tile_size(None) == render.tile_size("1:1") == (1024, 1024)
    for ar in ("3:2", "16:9", "2:3", "7:4"):
        w, h = render.tile_size(ar)
        assert w % 16 == 0 and h % 16 == 0
        assert abs(w * h / 1024**2 - 1) < 0.1
    w, h = render.tile_size("3:2")
    assert w > h and abs(w / h - 1.5) < 0.05
    for bad in ("abc", "0:1", "3:0", "3:2:1", "-1:2", "1.5:1", "1:100"):
        with pytest.raises(ValueError):
            render.tile_size(bad)


def test_imagine_is_deterministic_sized_and_tiles_differ(tiles: list[Image.Image]) -> None:
    again = render.imagine_tile(PROMPT, 42, 1, SIZE, "imagine 1732000000001")
    assert again.tobytes() == tiles[0].tobytes()
    assert all(t.size == SIZE and t.mode == "RGB" for t in tiles)
    for a in range(4):
        for b in range(a + 1, 4):
            assert np.abs(arr(tiles[a]) - arr(tiles[b])).mean() > 10
    other_seed = render.imagine_tile(PROMPT, 43, 1, SIZE, "imagine 1732000000001")
    assert other_seed.tobytes() != tiles[0].tobytes()
    reroll = render.reroll_tile(PROMPT, 42, 1, SIZE, "reroll")
    assert reroll.size == SIZE and np.abs(arr(reroll) - arr(tiles[0])).mean() > 10
    wide = render.imagine_tile(PROMPT, 1, 1, (320, 208), "x")
    assert wide.size == (320, 208)
    with pytest.raises(ValueError):
        render.imagine_tile(PROMPT, 1, 5, SIZE, "x")


def test_grid_quadrants_are_the_tiles(tiles: list[Image.Image]) -> None:
    g = render.grid(tiles)
    assert g.size == (2 * SIZE[0], 2 * SIZE[1])
    for i in (1, 2, 3, 4):
        assert np.array_equal(arr(render.tile_of(g, i)), arr(tiles[i - 1]))
    with pytest.raises(ValueError):
        render.grid(tiles[:3])
    with pytest.raises(ValueError):
        render.grid([*tiles[:3], tiles[3].resize((128, 128))])


def _rect_mask() -> Image.Image:
    m = Image.new("L", SIZE, 0)
    ImageDraw.Draw(m).rectangle((40, 60, 150, 200), fill=255)
    return m


def _poly_mask() -> Image.Image:
    m = Image.new("L", SIZE, 0)
    ImageDraw.Draw(m).polygon([(20, 20), (230, 50), (180, 240), (60, 150)], fill=255)
    return m


@pytest.mark.parametrize("make_mask", [_rect_mask, _poly_mask])
def test_inpaint_changes_exactly_the_mask(tiles: list[Image.Image], make_mask) -> None:
    parent, mask = tiles[1], make_mask()
    out = render.inpaint_tile(parent, mask, 7, 2, "a red dragon")
    assert out.size == parent.size and out.mode == "RGB"
    m = np.asarray(mask) == 255
    a, b = arr(parent), arr(out)
    assert np.array_equal(a[~m], b[~m])  # kept pixels bit-exact
    assert (np.abs(a[m] - b[m]).max(axis=1) > 0).all()  # every repainted pixel changed
    assert np.abs(a[m] - b[m]).mean() > 30  # ...visibly
    # survives a PNG round trip, as the simulator serves it
    png = Image.open(io.BytesIO(render.encode(out, "PNG")))
    assert np.array_equal(arr(png), b)
    with pytest.raises(ValueError):
        render.inpaint_tile(parent, mask.resize((128, 128)), 7, 2, "x")


def test_vary_stays_close_but_differs(tiles: list[Image.Image]) -> None:
    parent = tiles[0]
    diffs = []
    for strength in (0.25, 0.5, 0.8):
        out = render.vary_tile(parent, 3, 1, strength, "V1 of 1732")
        assert out.size == parent.size and out.mode == "RGB"
        diffs.append(np.abs(arr(out) - arr(parent)).mean())
    assert all(d > 1 for d in diffs)
    assert diffs[0] < 60  # subtle is still recognisably the parent
    assert diffs[0] < diffs[2]  # strong drifts further than subtle


@pytest.mark.parametrize("factor", [2.0, 1.5])
def test_zoom_keeps_shrunk_parent_in_centre(tiles: list[Image.Image], factor: float) -> None:
    parent = tiles[2]
    out = render.zoom_tile(parent, factor, 5, 1, "zoom of 1732")
    assert out.size == parent.size
    w, h = parent.size
    iw, ih = round(w / factor), round(h / factor)
    x0, y0 = (w - iw) // 2, (h - ih) // 2
    small = arr(parent.resize((iw, ih), Image.Resampling.LANCZOS))
    centre = arr(out)[y0 : y0 + ih, x0 : x0 + iw]
    top = ih // 2  # the parent's own caption (bottom) is replaced, compare the upper half
    assert np.abs(centre[:top] - small[:top]).mean() < 4
    assert np.abs(arr(out) - arr(parent)).mean() > 10
    with pytest.raises(ValueError):
        render.zoom_tile(parent, 2.5, 5, 1, "x")


@pytest.mark.parametrize("direction", ["left", "right", "up", "down"])
def test_pan_shifts_content_away_and_paints_new_strip(
    tiles: list[Image.Image], direction: str
) -> None:
    parent = tiles[3]
    out = render.pan_tile(parent, direction, 9, 1, f"pan {direction} of 1732")
    assert out.size == parent.size
    a, b = arr(parent), arr(out)
    w, h = parent.size
    dx, dy = w // 4, h // 4
    rows = slice(0, h // 2)  # stay clear of the (replaced) caption block at the bottom
    if direction == "left":
        moved, orig = b[rows, dx:], a[rows, : w - dx]
    elif direction == "right":
        moved, orig = b[rows, : w - dx], a[rows, dx:]
    elif direction == "up":
        moved, orig = b[dy : dy + h // 2 - dy], a[: h // 2 - dy]
    else:
        moved, orig = b[: h // 2], a[dy : dy + h // 2]
    assert np.array_equal(moved, orig)
    assert np.abs(b - a).mean() > 5
    with pytest.raises(ValueError):
        render.pan_tile(parent, "diagonal", 9, 1, "x")


def test_upscale_preview_animate_encode(tiles: list[Image.Image]) -> None:
    t = tiles[0]
    assert render.upscale(t, 2, "subtle", 1).size == (512, 512)
    assert render.upscale(t, 4, "plain", 1).size == (1024, 1024)
    plain, creative = render.upscale(t, 2, "plain", 1), render.upscale(t, 2, "creative", 1)
    assert np.abs(arr(plain) - arr(creative)).mean() > 2  # creative adds visible detail

    big = Image.new("RGB", (2048, 1366), (200, 80, 40))
    for p in (0, 50, 93, 100):
        assert max(render.preview(big, p).size) <= 512
    g = render.grid(tiles)
    early, late = render.preview(g, 10), render.preview(g, 93)
    sharp = arr(g.resize(early.size))
    assert np.abs(arr(early) - sharp).mean() > np.abs(arr(late) - sharp).mean()

    for motion in ("low", "high"):
        anim = Image.open(io.BytesIO(render.animate(t, 1, motion)))
        assert anim.n_frames > 1 and max(anim.size) <= 512

    png = render.encode(t, "PNG")
    assert png.startswith(b"\x89PNG")
    assert np.array_equal(arr(Image.open(io.BytesIO(png))), arr(t))
    assert Image.open(io.BytesIO(render.encode(t, "WEBP"))).format == "WEBP"
    assert Image.open(io.BytesIO(render.encode(t, "JPEG"))).format == "JPEG"
    with pytest.raises(ValueError):
        render.encode(t, "BMP")


def test_describe_prompts_mention_aspect(tiles: list[Image.Image]) -> None:
    prompts = render.describe_prompts(tiles[0], 1)
    assert len(prompts) == 4 and len(set(prompts)) == 4
    assert all(p.endswith("--ar 1:1") for p in prompts)
    wide = render.describe_prompts(Image.new("RGB", (1456, 816), (20, 40, 160)), 2)
    assert all(p.endswith("--ar 16:9") for p in wide)
    assert render.describe_prompts(tiles[0], 1) == prompts  # deterministic
