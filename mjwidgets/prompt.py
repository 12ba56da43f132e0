"""Midjourney prompts as data: parse, compose and validate them (``promptdiff`` compares them).

A prompt is ``[image URLs] descriptive text [--parameters]``. Notebook users vary prompts
systematically (sweeps) and compare them, so this module turns the text into parts that can be
changed one at a time, while ``str(prompt)`` gives back the exact text typed (spacing, aliases,
em dashes and all) until something is changed: a history entry and a re-parsed prompt stay equal.

Every prompt rule of the package lives here: the client's checks before sending (blank, length,
Custom Zoom's ``--zoom``), the parameters a sweep or an export reads, and the full validation the
prompt box shows. Pure: the widgets, the sweep runner, the client and the exports all share it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from .errors import InputTypeError, ValidationError

__all__ = [
    "MAX_PROMPT_CHARS",
    "Prompt",
    "PromptError",
    "checked_text",
    "ParamValue",
    "PARAM_ALIASES",
    "FLAG_PARAMS",
    "canonical_param_name",
    "numbered_prompts",
    "ParamUnit",
]

#: A parameter's value as written (surrounding whitespace removed), or True when it has none.
ParamValue = str | bool


MAX_PROMPT_CHARS = 6000  # a Discord slash-command option holds at most 6000 characters


class PromptError(ValidationError):
    """A prompt Midjourney would reject; ``problems`` lists every reason, one sentence each."""

    advice = "fix the prompt and submit again"

    def __init__(self, problems: Iterable[str] | str, **context: Any) -> None:
        self.problems: list[str] = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems), **context)


def checked_text(prompt: Any, what: str = "prompt", *, blank_ok: bool = False) -> str:
    """The prompt, stripped, as the client may send it: not blank (unless ``blank_ok``) and at
    most :data:`MAX_PROMPT_CHARS` characters. The proxies type prompts into a Discord slash
    command, whose options hold at most 6000 characters; sent anyway, such a job is refused late
    or never matched and stays IN_PROGRESS (reference §7.3, complaint 1)."""
    if prompt is None and blank_ok:
        return ""
    if not isinstance(prompt, str):
        raise PromptError(f"the {what} is not text but {type(prompt).__name__}")
    text = prompt.strip()
    if not text and not blank_ok:
        raise PromptError(f"the {what} is blank", advice="write what Midjourney should draw")
    if len(text) > MAX_PROMPT_CHARS:
        raise PromptError(
            f"the {what} has {len(text)} characters; Discord accepts at most {MAX_PROMPT_CHARS}",
            advice=f"shorten it to at most {MAX_PROMPT_CHARS} characters",
        )
    return text


#: Alias → canonical name. Midjourney accepts both; canonical names are what we write.
PARAM_ALIASES: dict[str, str] = {
    "aspect": "ar",
    "version": "v",
    "s": "stylize",
    "c": "chaos",
    "w": "weird",
    "q": "quality",
    "r": "repeat",
    "sameseed": "seed",
    "personalize": "p",
}

#: Parameters that take no value (``--tile``), so a bare one is complete.
FLAG_PARAMS: frozenset[str] = frozenset(
    {"tile", "fast", "relax", "turbo", "raw", "draft", "video", "hd"}
)

# Bare ``--niji`` means "the current Niji model", bare ``--p`` "my default profile".
_OPTIONAL_VALUE_PARAMS = frozenset({"niji", "p"})

# Example shown when a parameter is missing its value.
_EXAMPLES: dict[str, str] = {
    "ar": "16:9",
    "v": "7",
    "style": "raw",
    "stylize": "250",
    "chaos": "20",
    "weird": "250",
    "seed": "1234",
    "no": "text, watermark",
    "quality": "1",
    "zoom": "1.5",
    "iw": "1.5",
    "sref": "https://example.com/style.png",
    "cref": "https://example.com/person.png",
    "oref": "https://example.com/object.png",
    "sw": "100",
    "cw": "100",
    "ow": "100",
    "repeat": "4",
    "stop": "80",
    "exp": "25",
}

_VERSIONS = ("1", "2", "3", "4", "5", "5.1", "5.2", "6", "6.1", "7", "8", "8.1")
_NIJI_VERSIONS = ("4", "5", "6", "7")
_QUALITIES = (".25", ".5", "1", "2", "4")

_CONFLICTS: tuple[tuple[str, ...], ...] = (("v", "niji"), ("fast", "relax", "turbo"))

# A parameter starts with "--" (or the em dash phones type for it) and a letter, after whitespace.
_PARAM_TOKEN = re.compile(r"(--|—)([A-Za-z]\S*)")
_IMAGE_TOKEN = re.compile(r"<?(https?://[^\s<>]+)>?", re.IGNORECASE)
_WEIGHT = re.compile(r"::(-?(?:\d+(?:\.\d*)?|\.\d+))?")
_PARAM_NAME = re.compile(r"[a-z][a-z0-9_]*")
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")


def canonical_param_name(name: str) -> str:
    """``"--S"``, ``"s"`` or ``"stylize"`` → ``"stylize"``: one key however it was typed."""
    bare = name.strip().lstrip("-—").lower()
    return PARAM_ALIASES.get(bare, bare)


@dataclass(frozen=True)
class _Param:
    """One ``--name value`` unit exactly as typed, so unchanged units print back unchanged."""

    lead: str  # whitespace before the marker
    marker: str  # "--" or "—"
    written_name: str  # as typed: "s", "AR", "stylize"
    gap: str  # whitespace between name and value ("" when bare)
    raw_value: str  # as typed, internal spacing kept ("" when bare)

    @property
    def name(self) -> str:
        return canonical_param_name(self.written_name)

    @property
    def value(self) -> ParamValue:
        return self.raw_value if self.raw_value else True

    @property
    def label(self) -> str:
        """``--s 250`` as the user wrote it, spacing collapsed: how messages and diffs show it."""
        head = f"--{self.written_name}"
        return f"{head} {' '.join(self.raw_value.split())}" if self.raw_value else head

    @property
    def key(self) -> tuple[str, str]:
        """What the unit means: ``--s 250`` and ``—stylize  250`` compare equal."""
        return self.name, " ".join(self.raw_value.split())

    def text(self) -> str:
        return f"{self.lead}{self.marker}{self.written_name}{self.gap}{self.raw_value}"


ParamUnit = _Param  # the public name of one parameter unit (``Prompt.units``)


class Prompt:
    """A parsed Midjourney prompt that prints back exactly as written until it is changed.

    ``Prompt("a fox --s 250")`` and ``Prompt.parse(...)`` parse; ``Prompt.compose(text, **params)``
    builds one; ``with_params`` / ``with_text`` return changed copies (prompts are immutable, so
    a sweep can derive many from one). Parsing never fails unless ``strict=True``: use
    ``validate()`` for the list of problems or ``check()`` to raise them.
    """

    __slots__ = ("_head", "_params", "_tail")

    def __init__(self, text: str | Prompt = "") -> None:
        if isinstance(text, Prompt):
            text = text.text_out()
        if not isinstance(text, str):
            raise InputTypeError(f"a prompt is text, not {type(text).__name__}")
        self._head, self._params, self._tail = _split(text)

    # ---- construction ---------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str | Prompt, *, strict: bool = False) -> Prompt:
        """Parse ``text``; with ``strict=True`` raise PromptError if Midjourney would reject it."""
        prompt = cls(text)
        return prompt.check() if strict else prompt

    @classmethod
    def compose(cls, text: str = "", *, image_prompts: Iterable[str] = (), **params: Any) -> Prompt:
        """Build ``urls text --name value ...`` from pieces (values as in ``with_params``)."""
        pieces = [url.strip() for url in image_prompts if url.strip()] + [text.strip()]
        return cls(" ".join(piece for piece in pieces if piece)).with_params(**params)

    @classmethod
    def _from_parts(cls, head: str, params: list[_Param], tail: str) -> Prompt:
        prompt = cls.__new__(cls)
        prompt._head, prompt._params, prompt._tail = head, params, tail
        return prompt

    # ---- reading --------------------------------------------------------------------------

    def text_out(self) -> str:
        """The prompt as text: the original, byte for byte, when nothing was changed."""
        return self._head + "".join(param.text() for param in self._params) + self._tail

    def __str__(self) -> str:
        return self.text_out()

    def __repr__(self) -> str:
        return f"Prompt({self.text_out()!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Prompt):
            return self.text_out() == other.text_out()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.text_out())

    @property
    def image_prompts(self) -> list[str]:
        """Leading image URLs (angle brackets removed), in order."""
        return [url for url, _ in _image_tokens(self._head)[0]]

    @property
    def text(self) -> str:
        """The descriptive part as written, without image URLs and parameters."""
        return self._head[_image_tokens(self._head)[1] :].strip()

    @property
    def parts(self) -> list[tuple[str, float | None]]:
        """The text split at ``::`` into (part, weight); weight None where none was written."""
        return _multi_prompt_parts(self.text)

    @property
    def units(self) -> tuple[ParamUnit, ...]:
        """Each ``--name value`` as typed, in prompt order (a comparison matches them by meaning:
        ``unit.key``; shows them as ``unit.label``)."""
        return tuple(self._params)

    @property
    def params(self) -> dict[str, ParamValue]:
        """Canonical name → value as written (True for bare flags), in prompt order.

        A copy: change parameters with ``with_params``. A repeated parameter shows its last value.
        """
        values: dict[str, ParamValue] = {}
        for param in self._params:
            values[param.name] = param.value
        return values

    @property
    def version(self) -> tuple[str, str] | None:
        """``("niji", "6")`` or ``("v", "7")``; None when the account's default model applies.

        The number is as written; it is ``""`` for a bare ``--niji`` (the current Niji model).
        """
        params = self.params
        for family in ("niji", "v"):
            if family in params:
                value = params[family]
                return family, value if isinstance(value, str) else ""
        return None

    # ---- changing -------------------------------------------------------------------------

    def with_params(self, **changes: Any) -> Prompt:
        """A copy with parameters set, replaced in place, or removed (None or False removes).

        Names may be aliases (``s=750`` sets ``--stylize``). A replaced parameter keeps its
        position and the name the user typed; new ones are appended as ``--name value``.
        Values: str/int/float, True for a flag, a list for several values (``no=["a", "b"]``
        → ``--no a, b``; ``sref=[url1, url2]`` → ``--sref url1 url2``).
        """
        wanted: dict[str, str | None] = {}
        for raw_name, value in changes.items():
            name = canonical_param_name(raw_name)
            if not _PARAM_NAME.fullmatch(name):
                raise PromptError(f"{raw_name!r} is not a parameter name")
            wanted[name] = _format_value(name, value)

        done: set[str] = set()
        kept: list[_Param] = []
        for param in self._params:
            if param.name not in wanted:
                kept.append(param)
                continue
            new_value = wanted[param.name]
            if new_value is None or param.name in done:
                continue  # removed, or a later duplicate of a parameter we just set
            gap = (param.gap or " ") if new_value else ""
            kept.append(replace(param, gap=gap, raw_value=new_value))
            done.add(param.name)

        for name, new_value in wanted.items():
            if new_value is not None and name not in done:
                kept.append(_Param(" ", "--", name, " " if new_value else "", new_value))

        if kept:  # whatever comes first sits where the original first parameter sat
            first_lead = self._params[0].lead if self._params else (" " if self._head else "")
            kept[0] = replace(kept[0], lead=first_lead)
        return Prompt._from_parts(self._head, kept, self._tail)

    def with_text(self, text: str) -> Prompt:
        """A copy with new descriptive text; image prompts and parameters stay as written."""
        images = self._head[: _image_tokens(self._head)[1]].strip()
        head = " ".join(piece for piece in (images, text.strip()) if piece)
        params = list(self._params)
        if params:  # keep exactly one separator between the text and the first parameter
            lead = "" if not head else (params[0].lead or " ")
            params[0] = replace(params[0], lead=lead)
        return Prompt._from_parts(head, params, self._tail)

    def with_references(
        self,
        *,
        image_prompts: Iterable[str] = (),
        sref: Iterable[str] = (),
        oref: Iterable[str] = (),
        cref: Iterable[str] = (),
    ) -> Prompt:
        """A copy with reference URLs where Midjourney reads them: image prompts lead the prompt
        (after those already written), ``--sref``/``--oref``/``--cref`` URLs follow the values
        already written (a style code stays); ``--sw``/``--ow``/``--cw`` are left as typed."""
        extra = " ".join(url.strip() for url in image_prompts if url.strip())
        prompt: Prompt = self
        if extra:
            images = self._head[: _image_tokens(self._head)[1]].strip()
            head = " ".join(piece for piece in (images, extra) if piece)
            prompt = Prompt._from_parts(head, list(self._params), self._tail).with_text(self.text)
        changes: dict[str, list[str]] = {}
        for name, urls in (("sref", sref), ("oref", oref), ("cref", cref)):
            added = [url.strip() for url in urls if url.strip()]
            if added:
                written = self.params.get(name)
                changes[name] = ([written] if isinstance(written, str) else []) + added
        return prompt.with_params(**changes) if changes else prompt

    # ---- validation -----------------------------------------------------------------------

    def validate(self) -> list[str]:
        """Every reason Midjourney would reject this prompt, as sentences saying how to fix it."""
        problems: list[str] = []
        images, text = self.image_prompts, self.text
        if not images and not text:
            problems.append("the prompt is empty: describe the image before the parameters")
        elif len(images) == 1 and not text:
            problems.append("an image prompt needs text or a second image")
        parts = self.parts
        if any(weight is not None for _, weight in parts):
            total = sum(1.0 if weight is None else weight for _, weight in parts)
            if total <= 0:
                problems.append(
                    f"the :: weights add up to {_number_text(total)}: "
                    "Midjourney needs a positive total"
                )

        seen: dict[str, _Param] = {}
        for param in self._params:
            if param.name in seen:
                problems.append(f"--{param.written_name} is given twice: keep one")
            seen[param.name] = param
            problem = _param_problem(param)
            if problem:
                problems.append(problem)
        for group in _CONFLICTS:
            present = [seen[name] for name in group if name in seen]
            if len(present) > 1:
                names = " and ".join(f"--{param.written_name}" for param in present)
                problems.append(f"{names} cannot be used together: keep one")
        return problems

    def check(self) -> Prompt:
        """Raise PromptError listing every problem; return the prompt itself when valid."""
        problems = self.validate()
        if problems:
            raise PromptError(problems)
        return self

    def check_zoom(self) -> Prompt:
        """Custom Zoom's rule: the prompt must carry ``--zoom`` between 1 and 2 (however it was
        typed: ``--zoom``, ``—zoom``); raises PromptError before anything is sent."""
        example = "e.g. 'a red fox in snow --zoom 1.5'"
        zoom = next((param for param in self._params if param.name == "zoom"), None)
        if zoom is None or not zoom.raw_value:
            raise PromptError(
                "Custom Zoom needs --zoom in the prompt",
                advice=f"end the prompt with --zoom <1..2>, {example}",
            )
        problem = _param_problem(zoom)
        if problem:
            raise PromptError(
                f"--zoom {zoom.raw_value} is outside 1..2"
                if _NUMBER.fullmatch(zoom.raw_value)
                else problem,
                advice=f"use a zoom between 1 and 2, {example}",
            )
        return self


# ---- parsing helpers ---------------------------------------------------------------------------


def _split(raw: str) -> tuple[str, list[_Param], str]:
    """Cut text into head (images + text), parameter units and trailing whitespace."""
    tokens = list(re.finditer(r"\S+", raw))
    starts = [i for i, token in enumerate(tokens) if _PARAM_TOKEN.fullmatch(token.group())]
    if not starts:
        head_end = tokens[-1].end() if tokens else 0
        return raw[:head_end], [], raw[head_end:]

    head_end = tokens[starts[0] - 1].end() if starts[0] > 0 else 0
    params: list[_Param] = []
    position = head_end
    for index, start in enumerate(starts):
        stop = starts[index + 1] if index + 1 < len(starts) else len(tokens)
        name_token = tokens[start]
        marker, written_name = name_token.group()[:2], name_token.group()[2:]
        if marker != "--":  # an em dash is one character
            marker, written_name = "—", name_token.group()[1:]
        if stop > start + 1:
            value_start, value_end = tokens[start + 1].start(), tokens[stop - 1].end()
        else:
            value_start = value_end = name_token.end()
        params.append(
            _Param(
                lead=raw[position : name_token.start()],
                marker=marker,
                written_name=written_name,
                gap=raw[name_token.end() : value_start],
                raw_value=raw[value_start:value_end],
            )
        )
        position = value_end
    return raw[:head_end], params, raw[position:]


def _image_tokens(head: str) -> tuple[list[tuple[str, str]], int]:
    """Leading image URLs as (url, token as written), and where the descriptive text starts."""
    images: list[tuple[str, str]] = []
    end = 0
    for token in re.finditer(r"\S+", head):
        match = _IMAGE_TOKEN.fullmatch(token.group())
        if not match or token.group().startswith("<") != token.group().endswith(">"):
            break
        images.append((match.group(1), token.group()))
        end = token.end()
    return images, end


def _multi_prompt_parts(text: str) -> list[tuple[str, float | None]]:
    parts: list[tuple[str, float | None]] = []
    position = 0
    for match in _WEIGHT.finditer(text):
        piece = text[position : match.start()].strip()
        if piece:
            parts.append((piece, float(match.group(1)) if match.group(1) else None))
        position = match.end()
    rest = text[position:].strip()
    if rest:
        parts.append((rest, None))
    return parts


def _format_value(name: str, value: Any) -> str | None:
    """A Python value → the text written after ``--name``; None removes, "" writes a bare flag."""
    if value is None or value is False:
        return None
    if value is True:
        return ""
    if isinstance(value, (list, tuple)):
        items = [_format_value(name, item) for item in value]
        return (", " if name == "no" else " ").join(item for item in items if item)
    if isinstance(value, float):
        text = str(int(value)) if value.is_integer() else repr(value)
    else:
        text = " ".join(str(value).split())
    if not text:
        raise PromptError(f"--{name} needs a value: pass None to remove it")
    if any(_PARAM_TOKEN.fullmatch(word) for word in text.split()):
        raise PromptError(f"the value for --{name} ({text!r}) contains another parameter")
    return text


# ---- validation helpers ------------------------------------------------------------------------


def _number_text(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


def _range_check(low: float, high: float, whole: bool) -> Callable[[_Param], str | None]:
    allowed = f"use {_number_text(low)}–{_number_text(high)}"

    def check(param: _Param) -> str | None:
        value = param.raw_value
        if not _NUMBER.fullmatch(value):
            return f"{param.label} is not a number: {allowed}"
        if whole and not float(value).is_integer():
            return f"{param.label} must be a whole number: {allowed}"
        if not low <= float(value) <= high:
            return f"{param.label} is out of range: {allowed}"
        return None

    return check


def _choice_check(choices: tuple[str, ...], what: str) -> Callable[[_Param], str | None]:
    allowed = "use " + ", ".join(choices[:-1]) + f" or {choices[-1]}"
    numbers = {float(choice) for choice in choices}

    def check(param: _Param) -> str | None:
        value = param.raw_value
        if _NUMBER.fullmatch(value) and float(value) in numbers:
            return None
        return f"{param.label} is not {what}: {allowed}"

    return check


def _aspect_check(param: _Param) -> str | None:
    match = re.fullmatch(r"(\d+):(\d+)", param.raw_value)
    if match and int(match.group(1)) > 0 and int(match.group(2)) > 0:
        return None
    return (
        f"{param.label} is not an aspect ratio: use width:height in whole numbers, "
        "e.g. 16:9 (13:10, not 1.3:1)"
    )


_VALUE_CHECKS: dict[str, Callable[[_Param], str | None]] = {
    "ar": _aspect_check,
    "v": _choice_check(_VERSIONS, "a Midjourney version"),
    "niji": _choice_check(_NIJI_VERSIONS, "a Niji version"),
    "quality": _choice_check(_QUALITIES, "a quality setting"),
    "stylize": _range_check(0, 1000, whole=True),
    "chaos": _range_check(0, 100, whole=True),
    "weird": _range_check(0, 3000, whole=True),
    "seed": _range_check(0, 4294967295, whole=True),
    "zoom": _range_check(1, 2, whole=False),
    "iw": _range_check(0, 3, whole=False),
    "stop": _range_check(10, 100, whole=True),
    "repeat": _range_check(1, 40, whole=True),
    "sw": _range_check(0, 1000, whole=True),
    "cw": _range_check(0, 100, whole=True),
    "ow": _range_check(1, 1000, whole=True),
    "exp": _range_check(0, 100, whole=True),
}

_NEEDS_VALUE = frozenset(_VALUE_CHECKS) | {"style", "no", "sref", "cref", "oref"}


def _param_problem(param: _Param) -> str | None:
    """What is wrong with one ``--name value`` unit, or None; unknown parameters pass through."""
    name = param.name
    if not _PARAM_NAME.fullmatch(name):
        return (
            f"--{param.written_name} is not a parameter name: "
            "put a space between a parameter and its value"
        )
    if name in FLAG_PARAMS:
        if param.raw_value:
            return (
                f"--{param.written_name} takes no value (found {param.raw_value!r}): "
                "put descriptive text before the parameters"
            )
        return None
    if not param.raw_value:
        if name in _NEEDS_VALUE and name not in _OPTIONAL_VALUE_PARAMS:
            example = _EXAMPLES.get(name, "")
            return f"--{param.written_name} needs a value, e.g. --{param.written_name} {example}"
        return None
    if "{" in param.raw_value:  # a permutation ({a, b}) expands before Midjourney checks it
        return None
    check = _VALUE_CHECKS.get(name)
    return check(param) if check else None


# ---- answers that carry prompts ----------------------------------------------------------------

# "1️⃣ a fox …", "2⃣ …" (keycap without the variation selector), "**1.** …", "1. …", "1) …"
_NUMBERED_LINE = re.compile(r"^\s*(?:\*\*)?([1-9])(?:\ufe0f?\u20e3|[.)])(?:\*\*)?\s+(\S.*)$")


def numbered_prompts(text: str) -> list[str]:
    """The prompts a /describe or /shorten answer lists, in order, their numbers removed.

    The servers put them in ``prompt``/``promptEn``/``properties.finalPrompt`` (describe) or
    the ``finalPrompt``/``description`` (shorten, after its "## Shortened prompts" heading) as
    lines starting with 1️⃣ 2️⃣ …; headings and token lists are skipped.
    """
    prompts: list[str] = []
    for line in (text or "").splitlines():
        match = _NUMBERED_LINE.match(line)
        if match:
            prompts.append(match.group(2).strip())
    return prompts
