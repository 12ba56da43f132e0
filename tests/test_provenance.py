"""Pictures that carry their story: saved and exported files embed the record (prompt,
parameters, lineage by meaning, masks by digest, server, times) in metadata that Pillow, PyAV and
exiftool read; mjw.provenance(path) reads it back; the API key is never written."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile

import av
import numpy as np
import pytest
from PIL import Image

import mjwidgets as mjw
from mjwidgets import ButtonKind, sim
from mjwidgets.client import Client
from mjwidgets.errors import NotFoundError, ValidationError
from mjwidgets.provenance import embed
from mjwidgets.store import HistoryStore
from mjwidgets.tracking import Tracker

pytestmark = pytest.mark.timeout(180)
KEY = "sk-provenance-0123456789abcdef"


@pytest.fixture
def studio(tmp_path):
    with sim.start(speed=200, secret=KEY) as server:
        store = HistoryStore(tmp_path / "home" / "history.sqlite3")
        client = Client(server.url, KEY, auth="mj-api-secret")
        with Tracker(client, store, prefetch="final") as tracker:
            yield server, tracker, store
        store.close()


def _varied(tracker: Tracker):
    grid = tracker.imagine("a red fox in snow --v 6.1 --ar 3:2 --seed 42").wait(timeout=60)
    single = tracker.action(grid, grid.button_for(ButtonKind.UPSAMPLE, index=2)).wait(timeout=60)
    dialog = tracker.action(single, single.button_for(ButtonKind.INPAINT)).wait(timeout=60)
    width, height = dialog.parent_image_size
    mask = np.zeros((height, width), np.uint8)
    mask[: height // 4, : width // 3] = 255
    return tracker.modal(dialog, prompt="a dragon", mask=mask).wait(timeout=60)


def test_an_exported_png_carries_its_lineage_and_pillow_reads_it(studio, tmp_path):
    _, tracker, _ = studio
    varied = _varied(tracker)
    out = mjw.export_tasks([varied], tmp_path / "out")
    path = out / "images" / f"mj-{varied.id}.png"
    record = mjw.provenance(path)
    assert record["id"] == varied.id and record["prompt"] == "a dragon"
    assert [step["submit"] for step in record["steps"]] == ["imagine", "press", "press"]
    assert record["steps"][0]["prompt"] == "a red fox in snow --v 6.1 --ar 3:2 --seed 42"
    assert record["steps"][1]["button"] == {"kind": "upsample", "index": 2}
    vary = record["steps"][2]
    assert vary["button"] == {"kind": "inpaint"} and vary["dialog"] is True
    assert vary["mask"] in record["images"]  # the mask travels inside the picture
    assert record["server"] == tracker.base_url and record["finish_time"]
    with Image.open(path) as opened:  # a common tool reads it: Pillow's info
        assert json.loads(opened.info["mjwidgets"]) == record
        assert opened.info["Description"] == "a dragon"
        assert b"trainedAlgorithmicMedia" in opened.info["xmp"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tasks"][0]["steps"] == record["steps"]  # one record format
    saved = varied.save(tmp_path / "saved")  # task.save() embeds the same story
    assert mjw.provenance(saved)["steps"] == record["steps"]


def test_a_recipe_from_a_dropped_picture_is_the_recipe_of_its_task(studio, tmp_path):
    _, tracker, _ = studio
    varied = _varied(tracker)
    picture = varied.save(tmp_path / "saved")
    from_task = mjw.recipe(varied).split("tracker = ", 1)[1]
    from_file = mjw.recipe(picture).split("tracker = ", 1)[1]
    assert from_file == from_task  # same steps, same buttons, the same mask inline


def test_a_dropped_picture_continues_from_its_task_where_the_server_still_knows_it(
    studio, tmp_path
):
    _, tracker, store = studio
    varied = _varied(tracker)
    picture = varied.save(tmp_path / "saved")
    again = mjw.continue_from(picture, tracker=tracker)
    assert again is tracker.get(varied.id) and again.button_for(ButtonKind.UPSAMPLE, index=1)
    with sim.start(speed=200) as elsewhere, Tracker(Client(elsewhere.url), store) as there:
        with pytest.raises(NotFoundError, match=r"mjw.replay\(path, client=…\)"):
            mjw.continue_from(picture, tracker=there)


def test_jpeg_and_mp4_carry_the_record_without_being_reencoded(studio, tmp_path):
    _, tracker, _ = studio
    grid = tracker.imagine("a lighthouse at dusk --v 7").wait(timeout=60)
    single = tracker.action(grid, "U1").wait(timeout=60)
    video = tracker.action(single, "Animate (Low motion)").wait(timeout=120)
    record = mjw.provenance(single.save(tmp_path / "s"))
    buffer = io.BytesIO()
    single.image().convert("RGB").save(buffer, "JPEG", quality=90)
    jpeg = tmp_path / "single.jpg"
    jpeg.write_bytes(embed(buffer.getvalue(), record))
    assert mjw.provenance(jpeg) == record
    with Image.open(jpeg) as opened, Image.open(buffer) as plain:
        assert json.loads(opened.info["comment"]) == record
        assert b"<dc:description>" in opened.info["xmp"]
        assert np.array_equal(np.asarray(opened), np.asarray(plain))  # the same pixels
    clip_url = video.raw["videoUrls"][0]["url"]
    clip = tracker.client.download(clip_url)
    mp4 = tmp_path / "clip.mp4"
    mp4.write_bytes(embed(clip, record))
    assert mjw.provenance(mp4) == record
    data = mp4.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # still +faststart
    with av.open(str(mp4)) as container, av.open(io.BytesIO(clip)) as original:
        assert container.metadata["description"] == record["prompt"]
        frames = sum(1 for _ in container.decode(video=0))
        assert frames == sum(1 for _ in original.decode(video=0))


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="Debian's exiftool not installed")
def test_exiftool_reads_png_jpeg_and_mp4_records(tmp_path):
    record = {"generator": "mjwidgets test", "id": "1", "prompt": "a fox & <owl>", "steps": []}
    image = Image.new("RGB", (32, 24), (200, 30, 30))
    files = {}
    for fmt in ("PNG", "JPEG"):
        buffer = io.BytesIO()
        image.save(buffer, fmt)
        files[fmt] = tmp_path / f"x.{fmt.lower()}"
        files[fmt].write_bytes(embed(buffer.getvalue(), record))
    out = subprocess.run(
        ["exiftool", "-j", "-G1", *map(str, files.values())], capture_output=True, text=True
    )
    png, jpeg = json.loads(out.stdout)
    assert json.loads(png["PNG:Mjwidgets"]) == record
    assert png["XMP-dc:Description"] == jpeg["XMP-dc:Description"] == "a fox & <owl>"
    assert json.loads(jpeg["File:Comment"]) == record
    assert jpeg["XMP-iptcExt:DigitalSourceType"].endswith("trainedAlgorithmicMedia")


def test_the_api_key_is_never_embedded(studio, tmp_path, monkeypatch):
    _, tracker, store = studio
    varied = _varied(tracker)
    varied.save(tmp_path / "saved")
    mjw.export_zip([varied.id], tmp_path / "selection.zip", store=store)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    with zipfile.ZipFile(tmp_path / "selection.zip") as archive:
        for name in archive.namelist():
            assert KEY.encode() not in archive.read(name), name
    monkeypatch.setenv("MJ_API_KEY", KEY)  # the last line of defence: a record with the key
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PNG")
    with pytest.raises(ValidationError, match="contains the API key"):
        embed(buffer.getvalue(), {"prompt": f"leaked {KEY}", "generator": "x"})


def test_a_file_without_a_record_says_so(tmp_path):
    path = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(path)
    with pytest.raises(NotFoundError, match="carries no mjwidgets record"):
        mjw.provenance(path)


def test_a_lineage_too_long_for_a_jpeg_segment_leaves_its_masks_out(tmp_path):
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "JPEG")
    record = {"generator": "g", "prompt": "p", "images": {"sha256:x": "A" * 70_000}, "steps": []}
    path = tmp_path / "long.jpg"
    path.write_bytes(embed(buffer.getvalue(), record))  # a JPEG segment holds 64 KB
    assert mjw.provenance(path) == {"generator": "g", "prompt": "p", "steps": []}
