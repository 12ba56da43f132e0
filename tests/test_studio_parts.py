"""The Studio's pure parts: where cards sit, the shape of an image to come, what a describe
proposes, the prompt box's answers, and the saved snapshot's HTML (hostile text stays text)."""

from __future__ import annotations

import time

from mjwidgets.models import Button, Task
from mjwidgets.prompt import numbered_prompts
from mjwidgets.widgets.cardinfo import expected_aspect, proposed_prompts, tile_buttons
from mjwidgets.widgets.placement import GAP, CardOrder
from mjwidgets.widgets.promptbar import describe_prompt
from mjwidgets.widgets.snapshot import CardPicture, Snapshot, snapshot_html


def test_newest_first_and_a_result_right_after_its_parent():
    order = CardOrder()
    assert order.first("a") == {"a": 0}
    assert order.first("b") == {"b": -GAP}
    assert order.after("b1", "b") == {"b1": -GAP // 2}, "between b and a: one key, no renumbering"
    assert order.after("a1", "a") == {"a1": GAP}
    assert order.in_screen_order() == ["b", "b1", "a", "a1"]
    keys = [order.key(item) for item in order.in_screen_order()]
    assert keys == sorted(keys)
    assert order.after("x", "not placed") == {"x": -2 * GAP}, "an unknown parent: first"


def test_keys_run_out_only_after_many_results_then_everything_is_renumbered():
    order = CardOrder()
    order.first("parent")
    order.after("next", "parent")
    changed: dict = {}
    for n in range(20):  # each new result squeezes in right after the parent
        changed = order.after(f"r{n}", "parent")
        if len(changed) > 1:
            break
    assert len(changed) > 1, "the gap never ran out"
    assert n >= 15, f"renumbered after only {n} results"
    shown = order.in_screen_order()
    assert shown[0] == "parent" and shown[-1] == "next"
    keys = [order.key(item) for item in shown]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)


def test_a_place_kept_before_its_card_exists_is_the_cards_or_no_ones():
    order = CardOrder()
    order.first("a")
    slot = object()
    assert order.first(slot) == {slot: -GAP}, "the key the card's Layout opens with"
    order.rename(slot, "b")
    assert order.in_screen_order() == ["b", "a"] and order.key("b") == -GAP
    assert order.after("b1", "b") == {"b1": -GAP // 2}
    kept = object()
    order.first(kept)
    order.forget(kept)  # the card could not be made: nothing holds its place
    assert order.in_screen_order() == ["b", "b1", "a"] and kept not in order


def test_the_shape_of_an_image_to_come():
    assert expected_aspect(Task(id="1", prompt="a fox --ar 3:2")) == (3, 2)
    assert expected_aspect(Task(id="2", prompt="a fox --aspect 9:16 --s 50")) == (9, 16)
    assert expected_aspect(Task(id="3", prompt="a fox")) == (1, 1)
    upscale = Task(id="4", prompt="a fox --ar 3:2", parent_image_size=(2912, 1632))
    upscale.origin_button = Button(custom_id="MJ::JOB::upsample::2::abc")
    assert expected_aspect(upscale) == (2912, 1632), "the parent's shape, not the prompt's"
    pan = Task(id="5", parent_image_size=(1024, 1024))
    pan.origin_button = Button(custom_id="MJ::JOB::pan_left::1::abc::SOLO")
    assert expected_aspect(pan) == (3072, 2048)
    sized = Task.from_json({"id": "6", "prompt": "x --ar 3:2", "width": 800, "height": 600})
    assert expected_aspect(sized) == (800, 600), "the server's own size wins"


def test_a_describe_proposes_its_four_prompts_with_their_pick_buttons():
    answer = "1️⃣ a fox --ar 3:2\n\n2️⃣ a wolf\n\n3️⃣ a <b>hare</b>\n\n4️⃣ an owl"
    task = Task.from_json(
        {
            "id": "7",
            "action": "DESCRIBE",
            "status": "SUCCESS",
            "properties": {"finalPrompt": answer},
            "buttons": [
                {"customId": f"MJ::Job::PicReader::{i}", "emoji": e}
                for i, e in ((1, "1️⃣"), (2, "2️⃣"), (4, "4️⃣"))
            ],
        }
    )
    proposals = proposed_prompts(task, lambda b: b.index != 4)
    assert [p["text"] for p in proposals] == numbered_prompts(answer)
    assert [p["text"] for p in proposals][2] == "a <b>hare</b>"
    assert [(p["pick"], p["pick_enabled"]) for p in proposals] == [
        ("MJ::Job::PicReader::1", True),
        ("MJ::Job::PicReader::2", True),
        ("", False),
        ("MJ::Job::PicReader::4", False),
    ]
    running = Task.from_json({"id": "8", "action": "DESCRIBE", "status": "IN_PROGRESS"})
    assert proposed_prompts(running, lambda b: True) == []


def test_each_candidates_u_and_v_buttons():
    task = Task.from_json(
        {
            "id": "9",
            "status": "SUCCESS",
            "buttons": [
                {"customId": "MJ::JOB::upsample::2::h", "label": "U2"},
                {"customId": "MJ::JOB::variation::2::h", "label": "V2"},
                {"customId": "MJ::JOB::reroll::0::h::SOLO", "emoji": "🔄"},
            ],
        }
    )
    assert [(b["index"], b["label"]) for b in tile_buttons(task)] == [(2, "U2"), (2, "V2")]


def test_the_prompt_box_hears_every_problem_and_the_parameters():
    answer = describe_prompt("a fox --v 9 --s 250 --relax")
    assert answer["problems"] == [
        "--v 9 is not a Midjourney version: use 1, 2, 3, 4, 5, 5.1, 5.2, 6, 6.1, 7, 8 or 8.1"
    ]
    assert answer["params"] == {"v": "9", "stylize": "250", "relax": True}
    assert describe_prompt("   ")["problems"] == [], "nothing to say while the box is empty"


def test_the_snapshot_escapes_every_text_and_names_its_widget():
    hostile = '<img src=x onerror="alert(1)"> a cat'
    html = snapshot_html(
        "abc123",
        "mjwidgets Studio",
        [
            CardPicture("11", "SUCCESS", hostile, jpeg=b"\xff\xd8jpeg"),
            CardPicture("12", "FAILURE", "a dog", fail_reason="<script>x</script>"),
        ],
    )
    assert '<img src=x onerror="alert(1)">' not in html and "<script>x" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; a cat" in html
    assert html.count("data:image/jpeg;base64,") == 1
    assert 'data-mjw-of="abc123"' in html and 'data-task-id="12"' in html
    assert "run the cell again" in html and "2 cards" in html


def test_the_snapshot_waits_for_a_quiet_moment_then_shows_the_last_change():
    """A burst of changes (a cell adding cards one by one) is not interrupted by a snapshot:
    it is built once the burst has been quiet for ``settle`` s, and shows its last change."""
    state = {"n": 0}
    built: list[int] = []

    def build() -> str:
        built.append(state["n"])
        return f"<p>{state['n']}</p>"

    snapshot = Snapshot(build, label="test", min_interval=0.1, settle=2.0)
    snapshot.display()
    built.clear()
    try:
        burst_began = time.monotonic()
        while time.monotonic() - burst_began < 4.0:  # longer than settle: a change every 0.1 s
            state["n"] += 1
            snapshot.touch()
            time.sleep(0.1)
        assert built == [], "a snapshot was built while the changes kept coming"
        deadline = time.monotonic() + 60
        while not built and time.monotonic() < deadline:
            time.sleep(0.05)
        assert built == [state["n"]], "one snapshot, of the last change"
    finally:
        snapshot.close()
