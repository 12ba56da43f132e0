"""Prompt parsing, composing, validation and diffs, as a notebook user meets them."""

from __future__ import annotations

import random

import pytest

from mjwidgets.prompt import Prompt, PromptError
from mjwidgets.promptdiff import diff_params, diff_prompts

VARIED_PROMPTS = [
    "a red fox in snow",
    "a red fox in snow --ar 3:2 --stylize 250",
    "a red fox in snow --s 250 --c 10 --w 500 --v 6.1",
    "  leading and trailing spaces   --ar 16:9   ",
    "tabs\tand\nnewlines --ar\t2:3\n--q .5",
    "renard roux dans la neige, lumière dorée —ar 4:5 —v 7",
    "雪の中の赤い狐 🦊 --niji 6 --style expressive",
    "still life --no fruit, flowers,  vases --seed 4294967295",
    "https://example.com/a.png a cat --iw 2",
    "<https://example.com/a.png> <https://example.com/b.jpg> blend --iw .5",
    "https://example.com/a.png  https://example.com/b.png",
    "hot::2 dog::-0.5 --v 5.2",
    "space:: ship --chaos 100",
    "pattern of leaves --tile --raw --fast",
    "portrait --cref https://example.com/me.png --cw 0 --sref 123456 --sw 1000",
    "a --foo bar baz --unknown --p",
    "a lighthouse --AR 1:1 --Stylize 50",
    "a -- b -x --- c—d — e",
    "{red, blue} bird --ar {1:1, 2:3}",
    "--ar 1:1",
    "",
    "   ",
    "a cat --ar",
    "a fox --zoom 1.5 --stop 50 --repeat 4 --relax --turbo",
]


@pytest.mark.parametrize("text", VARIED_PROMPTS)
def test_unchanged_prompts_print_back_exactly(text: str) -> None:
    prompt = Prompt.parse(text)
    assert str(prompt) == text
    assert prompt.text_out() == text
    assert str(prompt.with_params()) == text
    assert Prompt(prompt) == prompt


def test_random_prompts_round_trip_and_keep_their_meaning() -> None:
    """Prompts assembled from pieces with odd spacing parse back to the same pieces."""
    rng = random.Random(7)
    images = ["https://e.com/1.png", "<https://e.com/2.jpg>", "http://e.org/x?y=1&z=2"]
    words = ["fox", "snow", "lumière", "狐", "🦊", "a,", "hot::2", "dog::-0.5", "--", "—", "x--y"]
    params = [
        ("--ar", "16:9"),
        ("—s", "250"),
        ("--no", "cars, trees"),
        ("--tile", ""),
        ("--v", "6.1"),
        ("--sref", "https://e.com/s.png 12345"),
        ("--seed", "42"),
        ("--raw", ""),
    ]
    for _ in range(300):

        def space() -> str:
            return rng.choice([" ", "  ", "\t", " \n "])

        chosen_images = rng.sample(images, rng.randint(0, 2))
        chosen_words = [rng.choice(words) for _ in range(rng.randint(0, 5))]
        chosen_params = rng.sample(params, rng.randint(0, 4))
        pieces = chosen_images + chosen_words
        pieces += [name + (space() + value if value else "") for name, value in chosen_params]
        text = rng.choice(["", " "]) + space().join(pieces) + rng.choice(["", "  "])

        prompt = Prompt.parse(text)
        assert str(prompt) == text
        assert prompt.image_prompts == [url.strip("<>") for url in chosen_images]
        canonical = {"s": "stylize"}
        assert prompt.params == {
            canonical.get(name.lstrip("-—"), name.lstrip("-—")): value or True
            for name, value in chosen_params
        }
        assert prompt.text.split() == chosen_words


def test_parse_splits_images_text_weights_and_params() -> None:
    prompt = Prompt.parse(
        "<https://e.com/a.png> https://e.com/b.png hot::2 dog::-0.5 --no a,  b —v 6.1 --tile"
    )
    assert prompt.image_prompts == ["https://e.com/a.png", "https://e.com/b.png"]
    assert prompt.text == "hot::2 dog::-0.5"
    assert prompt.parts == [("hot", 2.0), ("dog", -0.5)]
    assert prompt.params == {"no": "a,  b", "v": "6.1", "tile": True}
    assert Prompt("space:: ship").parts == [("space", None), ("ship", None)]
    assert Prompt("a plain prompt").parts == [("a plain prompt", None)]


def test_aliases_map_to_canonical_names() -> None:
    prompt = Prompt.parse(
        "x --aspect 2:3 --version 7 --s 50 --c 5 --w 9 --q 2 --r 3 --STYLIZE 60 --personalize"
    )
    assert list(prompt.params) == ["ar", "v", "stylize", "chaos", "weird", "quality", "repeat", "p"]
    assert prompt.params["stylize"] == "60"  # a repeated parameter shows its last value


def test_version_detection() -> None:
    assert Prompt("a --v 7").version == ("v", "7")
    assert Prompt("a --version 6.1").version == ("v", "6.1")
    assert Prompt("a —niji 6").version == ("niji", "6")
    assert Prompt("a --niji").version == ("niji", "")
    assert Prompt("a --ar 1:1").version is None


def test_with_params_replaces_in_place_and_keeps_the_rest_exact() -> None:
    prompt = Prompt("  a  red fox —s 250   --ar 3:2\t--tile ")
    assert str(prompt.with_params(stylize=750)) == "  a  red fox —s 750   --ar 3:2\t--tile "
    assert str(prompt.with_params(s=None)) == "  a  red fox --ar 3:2\t--tile "
    assert str(prompt.with_params(ar=None, tile=False)) == "  a  red fox —s 250 "
    assert str(prompt.with_params(aspect="16:9")) == "  a  red fox —s 250   --ar 16:9\t--tile "
    assert str(prompt) == "  a  red fox —s 250   --ar 3:2\t--tile "  # the original is untouched


def test_with_params_appends_new_params_in_canonical_form() -> None:
    assert str(Prompt("a fox").with_params(s=50, version=6.0, c=10, raw=True)) == (
        "a fox --stylize 50 --v 6 --chaos 10 --raw"
    )
    assert str(Prompt("a fox --ar 1:1").with_params(no=["cars", "trees"], q=0.5)) == (
        "a fox --ar 1:1 --no cars, trees --quality 0.5"
    )
    assert str(Prompt("--ar 1:1 --v 6").with_params(ar=None)) == "--v 6"
    assert str(Prompt("a --s 1 --s 2").with_params(s=3)) == "a --s 3"  # duplicates collapse
    with pytest.raises(PromptError, match="--no needs a value"):
        Prompt("a").with_params(no="")
    with pytest.raises(PromptError, match="contains another parameter"):
        Prompt("a").with_params(no="cars --ar 2:1")


def test_compose_and_with_text() -> None:
    prompt = Prompt.compose("a fox", image_prompts=["https://e.com/a.png"], ar="3:2", seed=1)
    assert str(prompt) == "https://e.com/a.png a fox --ar 3:2 --seed 1"
    assert str(prompt.with_text("a wolf")) == "https://e.com/a.png a wolf --ar 3:2 --seed 1"
    assert str(Prompt("--ar 1:1").with_text("a cat")) == "a cat --ar 1:1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a --stylize 2000", "--stylize 2000 is out of range: use 0–1000"),
        ("a --s -1", "--s -1 is out of range: use 0–1000"),
        ("a --chaos 101", "--chaos 101 is out of range: use 0–100"),
        ("a --weird 3001", "--weird 3001 is out of range: use 0–3000"),
        ("a --seed 4294967296", "--seed 4294967296 is out of range: use 0–4294967295"),
        ("a --seed 1.5", "--seed 1.5 must be a whole number: use 0–4294967295"),
        ("a --c lots", "--c lots is not a number: use 0–100"),
        ("a --q 3", "--q 3 is not a quality setting: use .25, .5, 1, 2 or 4"),
        ("a --v 9", "--v 9 is not a Midjourney version: use 1, 2, 3, 4, 5, 5.1, 5.2, 6, 6.1,"),
        ("a --niji 3", "--niji 3 is not a Niji version: use 4, 5, 6 or 7"),
        ("a --zoom 2.5", "--zoom 2.5 is out of range: use 1–2"),
        ("a --iw 4", "--iw 4 is out of range: use 0–3"),
        ("a --stop 5", "--stop 5 is out of range: use 10–100"),
        ("a --repeat 41", "--repeat 41 is out of range: use 1–40"),
        ("a --ar 1.5:1", "--ar 1.5:1 is not an aspect ratio: use width:height in whole numbers"),
        ("a --ar 0:1", "--ar 0:1 is not an aspect ratio"),
        ("a --ar", "--ar needs a value, e.g. --ar 16:9"),
        ("a --tile please", "--tile takes no value (found 'please')"),
        ("a --ar16:9", "--ar16:9 is not a parameter name: put a space between"),
        ("--ar 1:1", "the prompt is empty"),
        ("", "the prompt is empty"),
        ("https://e.com/a.png --iw 2", "an image prompt needs text or a second image"),
        ("a::-1 b::0", "the :: weights add up to -1: Midjourney needs a positive total"),
        ("a --v 6 --niji 6", "--v and --niji cannot be used together"),
        ("a --fast --relax", "--fast and --relax cannot be used together"),
        ("a --s 100 --stylize 200", "--stylize is given twice"),
    ],
)
def test_each_validation_problem_names_parameter_value_and_range(text: str, message: str) -> None:
    prompt = Prompt.parse(text)
    assert any(problem.startswith(message) for problem in prompt.validate()), prompt.validate()
    with pytest.raises(PromptError) as raised:
        Prompt.parse(text, strict=True)
    assert message in str(raised.value)
    assert isinstance(raised.value, ValueError)
    with pytest.raises(PromptError):
        prompt.check()


@pytest.mark.parametrize(
    "text",
    [
        "a fox --ar 21:9 --s 0 --c 100 --w 3000 --seed 0 --q .25 --v 5.0 --iw 0 --zoom 2",
        "a fox --q 0.25 --v 8.1 --stop 10 --r 40 --sw 1000 --cw 100 --exp 100",
        "a fox --niji 7 --style raw --no text, watermark --tile --raw --turbo --p --foo bar",
        "https://e.com/a.png https://e.com/b.png",
        "{red, blue} bird --ar {1:1, 2:3}",
        "hot::2 dog::-0.5",
    ],
)
def test_valid_prompts_have_no_problems(text: str) -> None:
    assert Prompt.parse(text, strict=True).validate() == []


def test_diff_prompts_marks_words_and_whole_param_units() -> None:
    ops = diff_prompts("a red fox --s 250 --ar 3:2", "a blue fox in snow --ar 3:2 --s 750 --tile")
    assert ops == [
        ("same", "a"),
        ("removed", "red"),
        ("added", "blue"),
        ("same", "fox"),
        ("added", "in"),
        ("added", "snow"),
        ("removed", "--s 250"),
        ("added", "--s 750"),
        ("same", "--ar 3:2"),
        ("added", "--tile"),
    ]
    # Same meaning written differently is not a difference.
    assert {op for op, _ in diff_prompts("fox --s 250 --ar 1:1", "fox —ar 1:1 --stylize  250")} == {
        "same"
    }
    assert diff_prompts("fox --no cars", "fox") == [("same", "fox"), ("removed", "--no cars")]


def test_diff_params_labels_the_varying_parameters() -> None:
    sweep = [
        "a fox --ar 1:1 --s 50 --v 7",
        "a fox --ar 3:2 --stylize 250 --v 7",
        "a fox --ar 3:2 --v 7 --tile",
    ]
    assert diff_params(sweep) == {
        "ar": ["1:1", "3:2", "3:2"],
        "stylize": ["50", "250", None],
        "tile": [None, None, True],
    }
    assert diff_params(["a --s 50", Prompt("b --stylize 50")]) == {}
