"""The simulator against answers real servers and resellers published (tests/fixtures/servers/).

Each fixture is a recorded JSON answer with its source under `_source`; the simulator, in the
same situation and flavour, must answer with the same shape: the recorded field names, JSON types
(null standing for "absent value" of a nullable field), codes, statuses and fixed texts. Values
that are the server's own data (ids, times, URLs, prompts, hashes) are compared by form only.
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
from pathlib import Path

import pytest
from PIL import Image
from simhelpers import Api, HookReceiver

from mjwidgets import sim

FIXTURES = Path(__file__).parent / "fixtures" / "servers"
SPEED = 400.0


def recorded(name: str) -> dict:
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    assert data["_source"]["url"].startswith("https://"), name
    return data


def kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    return {int: "number", float: "number", str: "string", list: "array", dict: "object"}[
        type(value)
    ]


def assert_shape(recorded_value, answer, path: str = "$", *, extras=()) -> None:
    """Every recorded key is answered, with a compatible JSON type, recursively."""
    if isinstance(recorded_value, dict):
        assert isinstance(answer, dict), f"{path}: expected an object, got {answer!r}"
        for key, value in recorded_value.items():
            if key.startswith("_") or key in extras:
                continue
            assert key in answer, f"{path}.{key} is missing from {sorted(answer)}"
            assert_shape(value, answer[key], f"{path}.{key}")
        return
    if isinstance(recorded_value, list):
        assert isinstance(answer, list), f"{path}: expected an array, got {answer!r}"
        if recorded_value and answer:
            assert_shape(recorded_value[0], answer[0], f"{path}[0]")
        return
    ours, theirs = kind(answer), kind(recorded_value)
    assert "null" in (ours, theirs) or ours == theirs, f"{path}: {theirs} recorded, {ours} answered"


def same_buttons(recorded_buttons: list, answered: list) -> None:
    """Same labels, emoji, type and style, and the same customId with the job hash swapped."""
    assert len(answered) >= len(recorded_buttons)
    for theirs, ours in zip(recorded_buttons, answered, strict=False):
        assert {k: theirs[k] for k in ("emoji", "label", "type", "style")} == {
            k: ours[k] for k in ("emoji", "label", "type", "style")
        }
        pattern = re.sub(r"[0-9a-f-]{36}|example", "HASH", theirs["customId"])
        assert re.sub(r"[0-9a-f-]{36}", "HASH", ours["customId"]) == pattern


def wait(api: Api, task_id: str, until=("SUCCESS", "FAILURE")) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        task = api.fetch(task_id)
        if task["status"] in until:
            return task
        time.sleep(0.01)
    raise AssertionError(f"{task_id} never reached {until}")


def png(colour) -> str:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


# ------------------------------------------------------------------------------------ new-api
@pytest.mark.parametrize(
    "name",
    [
        "newapi__fetch_success_imagine.json",
        "newapi__deerapi_fetch_success.json",
        "newapi__quickrouter_fetch_success.json",
        "newapi__cometapi_fetch_doc_example.json",
    ],
)
def test_newapi_finished_grid_has_the_recorded_shape(name):
    record = recorded(name)
    with sim.start(speed=SPEED, flavor="newapi") as s:
        api = Api(s.url)
        task = wait(api, api.imagine("a beautiful girl --v 7"))
    assert_shape(record, task, extras=record["_source"].get("reseller_extras", ()))
    for key in ("status", "progress", "customId", "botType", "state", "failReason"):
        if key in record:
            assert task[key] == record[key], key
    if record.get("action"):
        assert task["action"] == record["action"]
    if not record["_source"].get("placeholder_values"):
        same_buttons(record["buttons"], task["buttons"])
    if "/mj/image/" in record["imageUrl"]:  # new-api's own image URL (MjForwardUrlEnabled)
        assert task["imageUrl"].endswith(f"/mj/image/{task['id']}")
    if record["_source"]["url"].endswith("/issues/144"):  # the row keeps the submit's text
        assert task["description"] == record["description"]


def test_newapi_vary_region_keeps_code_21_like_the_recorded_answer():
    record = recorded("newapi__rixapi_action_21.json")
    with sim.start(speed=SPEED, flavor="newapi") as s:
        api = Api(s.url)
        grid = wait(api, api.imagine("a kite --v 7"))
        single = wait(api, api.press(grid, "U1")["result"])
        answer = api.press(single, "Vary (Region)")
    assert_shape(record, answer)
    assert (answer["code"], answer["description"]) == (record["code"], record["description"])


def test_newapi_submit_answer_has_the_recorded_shape():
    record = recorded("newapi__octopusx_submit_success.json")
    with sim.start(speed=SPEED, flavor="newapi") as s:
        answer = Api(s.url).submit("imagine", {"prompt": "a cat"})
    assert_shape(record, answer)
    assert answer["code"] == record["code"] and re.fullmatch(r"\d{16}", answer["result"])


# ------------------------------------------------------------------------------------- trueai
def test_trueai_running_task_in_a_list_has_the_recorded_shape():
    record = recorded("trueai__list_in_progress.json")["answer"]
    with sim.start(speed=20.0, flavor="trueai") as s:
        api = Api(s.url)
        task_id = api.imagine("dog in the car, rain day, cyberpunk", state="s")
        wait(api, task_id, until=("IN_PROGRESS",))
        listed = api.post("/task/list-by-condition", {"ids": [task_id]}).json()
    assert_shape(record, listed)
    ours, theirs = listed[0], record[0]
    for key in ("botType", "action", "status", "finishTime", "failReason", "buttons", "seed"):
        assert ours[key] == theirs[key], key
    assert re.fullmatch(r"\d+%", ours["progress"])
    assert ours["description"] == f"/imagine {ours['prompt']}"
    assert set(ours["displays"]) == set(theirs["displays"])


# ---------------------------------------------------------------------------------------- OSS
def test_oss_failed_task_has_the_recorded_shape():
    record = recorded("oss__fetch_failure.json")
    with sim.start(speed=SPEED, flavor="oss", faults={"fail_rate": 1.0, "fail_at": 15}) as s:
        api = Api(s.url)
        task = wait(api, api.imagine("Seascape, Coastal view"))
    assert_shape(record, task)
    assert "buttons" not in task, "OSS tasks have no buttons"
    for key in ("status", "progress", "state", "imageUrl"):
        assert task[key] == record[key], key


# --------------------------------------------------------------------------------------- Plus
def test_plus_submit_answers_have_the_documented_shapes():
    with sim.start(speed=2.0, flavor="plus", concurrency=1, queue_size=2) as s:
        api = Api(s.url)
        answers = [api.submit("imagine", {"prompt": f"cat {i}"}) for i in range(4)]
    first, queued, full = answers[0], answers[2], answers[3]
    for record, answer in (
        (recorded("plus__submit_code_1.json"), first),
        (recorded("plus__submit_code_22.json"), queued),
        (recorded("plus__submit_code_23.json"), full),
    ):
        assert_shape({k: v for k, v in record.items() if k != "result"}, answer)
        assert answer["code"] == record["code"]
        assert set(answer["properties"]) == set(record["properties"])
    assert first["description"] == "提交成功" and queued["description"] == "排队中，前面还有1个任务"
    assert full["description"] == "队列已满，请稍后尝试"
    with sim.start(speed=SPEED, flavor="plus", banned_words=["nude"]) as s:
        banned = Api(s.url).submit("imagine", {"prompt": "nude body"})
    record = recorded("plus__submit_code_24.json")
    assert_shape(record, banned)
    assert banned["properties"] == record["properties"]


def test_plus_modal_answer_and_image_seed_have_the_documented_shapes():
    with sim.start(speed=SPEED, flavor="plus") as s:
        api = Api(s.url)
        grid = wait(api, api.imagine("a cat --v 7"))
        single = wait(api, api.press(grid, "U1")["result"])
        modal = api.press(single, "Vary (Region)")
        seed = api.get(f"/task/{grid['id']}/image-seed").json()
    record = recorded("plus__action_code_21.json")
    assert_shape(record, modal)
    assert (modal["code"], modal["description"]) == (record["code"], record["description"])
    record = recorded("plus__image_seed.json")
    assert_shape(record, seed)
    assert (seed["code"], seed["description"]) == (record["code"], record["description"])


def test_plus_callback_has_the_documented_shape():
    record = recorded("plus__notify_success.json")
    hooks = HookReceiver()
    try:
        with sim.start(speed=SPEED, flavor="plus") as s:
            api = Api(s.url)
            task_id = api.imagine("猫猫 --v 7", notifyHook=hooks.url)
            wait(api, task_id)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                done = [p for p in hooks.for_task(task_id) if p["status"] == "SUCCESS"]
                if done:
                    break
                time.sleep(0.02)
    finally:
        hooks.close()
    assert_shape(record, done[0])
    assert done[0]["failReason"] is None and done[0]["progress"] == "100%"
    assert done[0]["properties"]["finalPrompt"] == "猫猫 --v 7"


def test_every_fixture_names_its_source():
    names = sorted(p.name for p in FIXTURES.glob("*.json"))
    assert len(names) >= 10
    for name in names:
        source = recorded(name)["_source"]
        assert source["url"] and source["what"] and source["retrieved"], name
