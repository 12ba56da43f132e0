"""Export: images, JSON/CSV manifests and a self-contained, escaped HTML contact sheet."""

from __future__ import annotations

import csv
import json

import pytest
from PIL import Image

from mjwidgets import sim
from mjwidgets.client import Client
from mjwidgets.errors import NotFoundError, TaskFailed
from mjwidgets.export import CSV_COLUMNS, export_lineage, export_sweep, export_tasks
from mjwidgets.models import Status, Task
from mjwidgets.provenance import provenance as mjw_provenance
from mjwidgets.store import HistoryStore
from mjwidgets.tracking import Tracker

pytestmark = pytest.mark.timeout(300)  # catches a hang; a loaded machine is slow, not hung

HOSTILE = '<script>window.__x=1</script> a "fox" & <img src=x onerror="alert(1)"> --ar 3:2'


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A grid, its U1, a hostile prompt and a failed task, tracked into one store."""
    home = tmp_path_factory.mktemp("home")
    store = HistoryStore(home / "history.sqlite3")
    with sim.start(speed=200) as server:
        client = Client(server.url)
        with Tracker(client, store) as tracker:
            grid = tracker.wait(
                tracker.imagine("a lighthouse on a basalt cliff --ar 3:2 --s 250"), timeout=20
            )
            single = tracker.wait(tracker.action(grid, "U1"), timeout=20)
            hostile = tracker.wait(tracker.imagine(HOSTILE), timeout=20)
            server.configure(fail_rate=1.0, fail_at=20, fail_reason="moderated <b>x</b>")
            failed = tracker.imagine("a doomed prompt")
            with pytest.raises(TaskFailed):
                tracker.wait(failed, timeout=20)
            assert tracker.cache.drain(timeout=20)
            yield {
                "store": store,
                "cache": tracker.cache,
                "grid": grid,
                "single": single,
                "hostile": hostile,
                "failed": failed,
            }
    store.close()


def test_manifest_lists_prompts_parameters_lineage_timings_and_images(made, tmp_path):
    tasks = [made["single"], made["grid"], made["failed"]]  # the child first: reordered
    out = export_tasks(tasks, tmp_path / "out", name="my export")
    assert out == tmp_path / "out"
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert manifest["name"] == "my export" and manifest["count"] == 3
    records = {r["id"]: r for r in manifest["tasks"]}
    assert [r["id"] for r in manifest["tasks"]][:2] == [made["grid"].id, made["single"].id]
    grid, single, failed = (records[made[k].id] for k in ("grid", "single", "failed"))
    assert grid["parameters"] == {"ar": "3:2", "stylize": "250"}
    assert grid["action"] == "IMAGINE" and grid["status"] == "SUCCESS" and grid["grid"] is True
    assert single["parent_id"] == made["grid"].id and single["button"] == "U1"
    assert single["depth"] == 1 and single["grid"] is False
    for record in (grid, single):
        assert record["submit_time"] and record["finish_time"]
        assert record["total_s"] > 0 and record["ran_s"] is not None
        image = out / record["image"]
        assert image.exists() and image.parent == out / "images"
        cached = made["cache"].path(made["grid" if record is grid else "single"])
        with Image.open(image) as exported, Image.open(cached) as original:
            assert exported.tobytes() == original.tobytes()  # the same pixels, not re-encoded
        assert mjw_provenance(image) == record  # and the file carries its own record
        assert (record["image_width"], record["image_height"]) != (None, None)
    assert failed["status"] == "FAILURE" and failed["image"] is None
    assert "FAILURE" in failed["image_error"] and "moderated" in failed["fail_reason"]


def test_csv_has_the_documented_columns_and_one_row_per_task(made, tmp_path):
    out = export_tasks([made["grid"], made["single"]], tmp_path)
    with (out / "manifest.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == CSV_COLUMNS
    assert [r["id"] for r in rows] == [made["grid"].id, made["single"].id]
    assert json.loads(rows[0]["parameters"]) == {"ar": "3:2", "stylize": "250"}
    assert rows[1]["button"] == "U1" and rows[1]["parent_id"] == made["grid"].id
    assert rows[0]["image"].startswith("images/mj-") and rows[0]["grid"] == "true"


def test_contact_sheet_is_self_contained_and_escapes_a_hostile_prompt(made, tmp_path):
    out = export_tasks([made["grid"], made["single"], made["hostile"], made["failed"]], tmp_path)
    sheet = (out / "contact-sheet.html").read_text("utf-8")
    assert "<script" not in sheet and "<img src=x" not in sheet and "<b>x</b>" not in sheet
    assert "&lt;script&gt;window.__x=1&lt;/script&gt;" in sheet
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in sheet
    assert "moderated &lt;b&gt;x&lt;/b&gt;" in sheet
    assert sheet.count('src="data:image/webp;base64,') == 3  # every image, none for the failure
    assert "http://" not in sheet and "https://" not in sheet  # nothing fetched from anywhere
    assert f'href="#task-{made["grid"].id}"' in sheet and "U1 of" in sheet  # the lineage link
    assert "Content-Security-Policy" in sheet


def test_a_prompt_is_never_a_spreadsheet_formula(made, tmp_path):
    formula = Task(id="f1", prompt='=HYPERLINK("http://evil")', status=Status.FAILURE)
    out = export_tasks([formula], tmp_path, store=made["store"], cache=made["cache"])
    with (out / "manifest.csv").open(encoding="utf-8", newline="") as handle:
        row = next(csv.DictReader(handle))
    assert row["prompt"].startswith("'=")
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert manifest["tasks"][0]["prompt"] == formula.prompt  # the JSON keeps it exact


def test_lineage_export_reads_the_whole_tree_from_the_store(made, tmp_path):
    # unbound, as after a restart: images are found through the stored server's URL
    out = export_lineage(made["single"].id, tmp_path, store=made["store"], cache=made["cache"])
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert manifest["root"] == made["grid"].id and manifest["focus"] == made["single"].id
    assert [(r["id"], r["button"], r["depth"]) for r in manifest["tasks"]] == [
        (made["grid"].id, None, 0),
        (made["single"].id, "U1", 1),
    ]
    assert all((out / r["image"]).exists() for r in manifest["tasks"])


def test_sweep_export_labels_rows_and_columns(made, tmp_path):
    labels = {
        made["grid"].id: {"ar": "3:2", "stylize": 250},
        made["hostile"].id: {"ar": "1:1", "stylize": 250},
    }
    out = export_sweep([made["grid"], made["hostile"]], tmp_path, labels=labels)
    with (out / "manifest.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["label_ar"], r["label_stylize"]) for r in rows] == [("3:2", "250"), ("1:1", "250")]
    sheet = (out / "contact-sheet.html").read_text("utf-8")
    assert '<table class="sweep">' in sheet and "--ar 3:2" in sheet and "--stylize 250" in sheet


def test_a_stored_task_reads_the_cache_but_downloads_nothing(made):
    task = made["store"].get(made["grid"].id)  # as a later kernel finds it: no live backend
    assert task.backend is None and task.server == made["grid"].server
    assert made["cache"].image(task).size == made["grid"].image().size
    ghost = Task(
        id="1732000000000999",
        status=Status.SUCCESS,
        image_url="http://127.0.0.1:9/x.png",
        server=task.server,
    )
    with pytest.raises(NotFoundError, match="never cached"):
        made["cache"].fetch(ghost)
