"""Simulator edits, retexture, uploads and references over raw HTTP, on every flavour."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter
from simhelpers import Api

from mjwidgets import sim
from mjwidgets.sim import render

FAST = 200.0


def data_url(img: Image.Image, fmt: str = "PNG") -> str:
    out = io.BytesIO()
    img.save(out, fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(out.getvalue()).decode()


def photo(size=(320, 240)) -> Image.Image:
    """An upload with structure: stripes, a disc and a square on a gradient."""
    w, h = size
    img = Image.linear_gradient("L").resize(size).convert("RGB")
    d = ImageDraw.Draw(img)
    for x in range(0, w, 40):
        d.rectangle((x, 0, x + 12, h // 3), fill=(20, 60, 200))
    d.ellipse((40, 100, 140, 200), fill=(230, 200, 30))
    d.rectangle((190, 110, 290, 210), fill=(200, 30, 40))
    return img


def tiles(img: Image.Image) -> list[np.ndarray]:
    arr = np.asarray(img.convert("RGB"))
    h, w = arr.shape[0] // 2, arr.shape[1] // 2
    return [arr[(i // 2) * h : (i // 2 + 1) * h, (i % 2) * w : (i % 2 + 1) * w] for i in range(4)]


@pytest.fixture
def trueai():
    with sim.start(speed=FAST, flavor="trueai") as server:
        yield server


def test_edit_repaints_exactly_the_erased_region(trueai):
    api = Api(trueai.url)
    upload = photo().convert("RGBA")
    erased = Image.new("L", upload.size, 0)
    ImageDraw.Draw(erased).rectangle((60, 40, 200, 150), fill=255)
    upload.putalpha(Image.eval(erased, lambda v: 255 - v))  # erased = transparent
    sent = api.submit("edits", {"prompt": "a red balloon", "image": data_url(upload)})
    assert sent["code"] == 1 and sent["description"] == "提交成功"  # trueai DiscordService.cs:1657
    task = api.wait(sent["result"])
    assert task["status"] == "SUCCESS" and task["action"] == "EDIT"
    assert task["description"] == "/edit a red balloon" and task["prompt"] == "a red balloon"
    assert api.image(task["baseImageUrl"]).size == (320, 240), "the upload is served"
    result = api.image(task["imageUrl"])
    assert result.size == (640, 480) and (task["imageWidth"], task["imageHeight"]) == (640, 480)
    inside = np.asarray(erased) == 255
    original = np.asarray(photo())
    for tile in tiles(result):
        assert np.array_equal(tile[~inside], original[~inside]), "kept pixels changed"
        assert (tile[inside] != original[inside]).any(axis=1).all(), "erased pixels kept"
    single = api.wait(api.press(task, "U2")["result"])
    assert single["buttons"] == [], "no buttons under an EDIT tile (trueai TaskService.cs:1582)"
    assert np.array_equal(
        np.asarray(api.image(single["imageUrl"]).convert("RGB")), tiles(result)[1]
    )


def test_edit_takes_a_url_and_a_mask_and_the_edit_alias(trueai):
    api = Api(trueai.url)
    uploaded = api.submit("upload-discord-images", {"base64Array": [data_url(photo())]})
    url = uploaded["result"][0]
    mask = Image.new("L", (320, 240), 0)
    ImageDraw.Draw(mask).ellipse((150, 60, 310, 230), fill=255)
    raw_mask = data_url(mask).split(",", 1)[1]
    sent = api.submit("edit", {"prompt": "a moon", "image": url, "maskBase64": raw_mask})
    task = api.wait(sent["result"])
    assert task["status"] == "SUCCESS" and task["baseImageUrl"] == url
    inside = np.asarray(mask) == 255
    original = np.asarray(photo())
    for tile in tiles(api.image(task["imageUrl"])):
        assert np.array_equal(tile[~inside], original[~inside])
        assert (tile[inside] != original[inside]).any(axis=1).all()
    wrong = api.submit(
        "edits", {"prompt": "x", "image": url, "maskBase64": data_url(mask.resize((10, 10)))}
    )
    assert wrong["code"] == 4 and "320x240" in wrong["description"]
    whole = api.wait(api.submit("edits", {"prompt": "all new", "image": url})["result"])
    first = tiles(api.image(whole["imageUrl"]))[0]
    assert (first != original).any(axis=2).mean() > 0.95, "no mask: the whole image is redone"


def test_retexture_keeps_the_structure_with_a_new_look(trueai):
    api = Api(trueai.url)
    sent = api.submit("retexture", {"prompt": "made of moss", "image": data_url(photo())})
    task = api.wait(sent["result"])
    assert task["status"] == "SUCCESS" and task["action"] == "RETEXTURE"
    assert task["description"] == "/retexture made of moss"
    assert task["prompt"] == f"made of moss --dref {task['baseImageUrl']}"

    def edges(arr: np.ndarray) -> np.ndarray:
        grey = Image.fromarray(arr).convert("L").filter(ImageFilter.FIND_EDGES)
        return np.asarray(grey, float).ravel()

    original = np.asarray(photo())
    other = np.asarray(photo().transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    for tile in tiles(api.image(task["imageUrl"])):
        same = np.corrcoef(edges(tile), edges(original))[0, 1]
        assert same > 0.5 and same > np.corrcoef(edges(tile), edges(other))[0, 1] + 0.3
        assert np.abs(tile.astype(float) - original).mean() > 30, "it looks different"


def test_edit_refusals_and_the_account_kind():
    with sim.start(speed=FAST, flavor="trueai", account="discord") as server:
        api = Api(server.url)
        for route in ("edits", "retexture"):
            refused = api.submit(route, {"prompt": "x", "image": data_url(photo())})
            assert (refused["code"], refused["description"]) == (9, "当前账号不支持编辑/重绘任务")
        assert api.submit("edits", {"prompt": "x"})["description"] == "image或prompt不能为空"
        assert api.submit("retexture", {"image": "abc"})["code"] == 4
        bad = api.submit("edits", {"prompt": "x", "image": "%%%"})
        assert (bad["code"], bad["description"]) == (4, "base64格式错误")
        server.configure(account="youchuan")
        assert api.submit("edits", {"prompt": "x", "image": data_url(photo())})["code"] == 1
        with pytest.raises(ValueError):
            server.configure(account="midjourney")


def test_plus_runs_edits_and_retexture_without_trueai_fields():
    with sim.start(speed=FAST) as server:
        api = Api(server.url)
        for route, action in (("edits", "EDIT"), ("edit", "EDIT"), ("retexture", "RETEXTURE")):
            sent = api.submit(route, {"prompt": "glass", "image": data_url(photo())})
            task = api.wait(sent["result"])
            assert (task["status"], task["action"]) == ("SUCCESS", action)
            assert "baseImageUrl" not in task and api.image(task["imageUrl"]).size == (640, 480)


def test_newapi_relays_edits_and_has_no_retexture():
    with sim.start(speed=FAST, flavor="newapi") as server:
        api = Api(server.url)
        task = api.wait(api.submit("edits", {"prompt": "x", "image": data_url(photo())})["result"])
        assert task["status"] == "SUCCESS" and task["action"] == "EDITS"
        assert "baseImageUrl" not in task
        for route in ("/submit/retexture", "/submit/edit"):
            page = api.post(route, {"prompt": "x", "image": data_url(photo())})
            assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")


def test_oss_has_no_edit_routes():
    with sim.start(speed=FAST, flavor="oss") as server:
        api = Api(server.url)
        for route in ("/submit/edits", "/submit/edit", "/submit/retexture"):
            answer = api.post(route, {"prompt": "x", "image": data_url(photo())})
            assert answer.status_code == 404 and answer.json()["path"] == f"/mj{route}"


# ---------------------------------------------------------------------------- uploads, references
@pytest.fixture
def plus():
    with sim.start(speed=FAST, image_host=True) as server:
        yield server


def solid(colour, size=(256, 256)) -> Image.Image:
    return Image.new("RGB", size, colour)


def art(tile: np.ndarray) -> np.ndarray:
    """A tile without its caption block (the bottom fifth)."""
    return tile[: int(tile.shape[0] * 0.8)].reshape(-1, 3).astype(float)


def test_uploads_are_served_stable_and_usable(plus):
    api = Api(plus.url)
    picture = data_url(photo())
    first = api.submit("upload-discord-images", {"base64Array": [picture, data_url(solid("red"))]})
    again = api.submit("upload-discord-images", {"base64Array": [picture]})
    assert first["code"] == 1 and again["result"][0] == first["result"][0], "same bytes, same URL"
    assert first["result"][0].startswith(plus.image_url), "served by the image host"
    fetched = api.http.get(first["result"][0], timeout=10)
    assert fetched.headers["Content-Type"] == "image/png"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(fetched.content))), np.asarray(photo()))
    described = api.wait(api.submit("describe", {"link": first["result"][1]})["result"])
    assert described["status"] == "SUCCESS"


def test_image_prompts_appear_in_the_tiles(plus):
    api = Api(plus.url)
    green = solid((20, 200, 60))
    plain = tiles(api.image(api.wait(api.imagine("a quiet harbour"))["imageUrl"]))
    by_array = api.wait(api.imagine("a quiet harbour", base64Array=[data_url(green)]))
    url = api.submit("upload-discord-images", {"base64Array": [data_url(green)]})["result"][0]
    by_url = api.wait(api.imagine(f"{url} a quiet harbour"))
    assert by_array["prompt"] == by_url["prompt"] == f"{url} a quiet harbour"
    for task in (by_array, by_url):
        for tile, before in zip(tiles(api.image(task["imageUrl"])), plain, strict=True):
            mean = art(tile).mean(axis=0)
            assert mean[1] > mean[0] + 60 and mean[1] > mean[2] + 40, mean
            assert (
                np.abs(mean - (20, 200, 60)).sum()
                < np.abs(art(before).mean(0) - (20, 200, 60)).sum()
            )
    foreign = api.wait(api.imagine("https://example.invalid/cat.png a cat"))
    assert foreign["status"] == "SUCCESS", "an unreachable reference becomes a placeholder card"


def test_style_reference_palette_dominates(plus):
    api = Api(plus.url)
    red = solid((210, 40, 30))
    url = api.submit("upload-discord-images", {"base64Array": [data_url(red)]})["result"][0]
    plain = tiles(api.image(api.wait(api.imagine("a forest path"))["imageUrl"]))
    styled = api.wait(api.imagine(f"a forest path --sref {url}"))
    for tile, before in zip(tiles(api.image(styled["imageUrl"])), plain, strict=True):
        mean, old = art(tile).mean(axis=0), art(before).mean(axis=0)
        assert np.abs(mean - (210, 40, 30)).max() < 45, mean
        assert np.abs(mean - (210, 40, 30)).sum() < np.abs(old - (210, 40, 30)).sum() / 2
    weak = api.wait(api.imagine(f"a forest path --sref {url} --sw 0"))
    mean = art(tiles(api.image(weak["imageUrl"]))[0]).mean(axis=0)
    assert np.abs(mean - (210, 40, 30)).sum() > 60, "--sw 0 barely recolours"


@pytest.mark.parametrize("flag", ["--oref", "--cref"])
def test_omni_and_character_references_put_the_image_in(plus, flag):
    api = Api(plus.url)
    face = solid((250, 120, 200))
    url = api.submit("upload-discord-images", {"base64Array": [data_url(face)]})["result"][0]
    task = api.wait(api.imagine(f"a knight in a hall {flag} {url}"))
    for tile in tiles(api.image(task["imageUrl"])):
        x0, y0, x1, y1 = render.subject_box((tile.shape[1], tile.shape[0]))
        core = tile[
            y0 + (y1 - y0) // 4 : y1 - (y1 - y0) // 4, x0 + (x1 - x0) // 4 : x1 - (x1 - x0) // 4
        ]
        assert np.abs(core.reshape(-1, 3).mean(axis=0) - (250, 120, 200)).max() < 6


def test_blend_shows_the_halves_and_quadrants(plus):
    api = Api(plus.url)
    red, blue = data_url(solid((220, 30, 30))), data_url(solid((30, 40, 220)))
    halves = api.wait(api.submit("blend", {"base64Array": [red, blue]})["result"])
    for tile in tiles(api.image(halves["imageUrl"])):
        h, w = tile.shape[:2]
        left, right = tile[: h * 3 // 4, : w // 4].reshape(-1, 3), tile[: h * 3 // 4, -w // 4 :]
        assert left.mean(axis=0)[0] > left.mean(axis=0)[2] + 80
        right = right.reshape(-1, 3).mean(axis=0)
        assert right[2] > right[0] + 80
    colours = [(220, 30, 30), (30, 40, 220), (30, 200, 40), (230, 220, 30)]
    four = api.submit("blend", {"base64Array": [data_url(solid(c)) for c in colours]})
    grid = tiles(api.image(api.wait(four["result"])["imageUrl"]))[0]
    h, w = grid.shape[:2]
    for k, colour in enumerate(colours[:2]):  # top quadrants, clear of the caption
        quad = grid[h // 8 : h * 3 // 8, (k * w // 2) + w // 8 : (k * w // 2) + w * 3 // 8]
        mean = quad.reshape(-1, 3).mean(axis=0)
        # The variation drifts the hue a little (its seed picks how far): each quadrant still
        # reads as its own input, the nearest of the four colours.
        nearest = min(colours, key=lambda c: float(np.abs(mean - c).max()))
        assert nearest == colour, (k, colour, mean)


def test_describe_names_the_dominant_colour(plus):
    api = Api(plus.url)
    red = solid((200, 30, 30), (600, 400))
    task = api.wait(api.submit("describe", {"base64": data_url(red)})["result"])
    prompts = [p for p in task["properties"]["finalPrompt"].split("\n\n") if p.strip()]
    assert len(prompts) == 4
    assert all("crimson" in p and p.endswith("--ar 3:2") for p in prompts), prompts


def test_plain_prompts_keep_their_look(plus):
    api = Api(plus.url)
    task = api.wait(api.imagine("a lighthouse at dusk"))
    got = np.asarray(api.image(task["imageUrl"]).convert("RGB"))
    seed = plus.engine.tasks[task["id"]].seed
    expected = render.grid(
        [
            render.imagine_tile(
                "a lighthouse at dusk", seed, j, (1024, 1024), f"imagine {task['id']}"
            )
            for j in range(1, 5)
        ]
    )
    assert np.array_equal(got, np.asarray(expected))
