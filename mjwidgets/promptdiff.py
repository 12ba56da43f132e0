"""Comparing prompts: word-level differences for Compare, and the parameters a sweep varies.

Parameters are compared by meaning (``--s 250`` equals ``—stylize  250``), as ``Prompt`` reads
them; this module only lines the two readings up.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from .prompt import ParamValue, Prompt

__all__ = ["DiffOp", "diff_params", "diff_prompts"]

DiffOp = tuple[str, str]


def _as_prompt(prompt: str | Prompt) -> Prompt:
    return prompt if isinstance(prompt, Prompt) else Prompt(prompt)


def diff_prompts(a: str | Prompt, b: str | Prompt) -> list[DiffOp]:
    """Word-level differences from ``a`` to ``b`` for the compare view.

    Returns (op, token) with op "same", "removed" or "added". Image URLs and words are diffed in
    order; each parameter is one ``--name value`` unit matched by meaning (``--s 250`` equals
    ``--stylize 250``, order does not matter) and a changed value shows as the old unit removed
    right before the new one added.
    """
    first, second = _as_prompt(a), _as_prompt(b)
    ops: list[DiffOp] = []

    def words(prompt: Prompt) -> list[str]:
        return prompt.image_prompts + prompt.text.split()

    old_words, new_words = words(first), words(second)
    matcher = difflib.SequenceMatcher(a=old_words, b=new_words, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            ops.extend(("same", word) for word in old_words[i1:i2])
            continue
        ops.extend(("removed", word) for word in old_words[i1:i2])
        ops.extend(("added", word) for word in new_words[j1:j2])

    unmatched = list(second.units)
    for param in first.units:
        same = next((other for other in unmatched if other.key == param.key), None)
        if same is not None:
            unmatched.remove(same)
            ops.append(("same", param.label))
            continue
        ops.append(("removed", param.label))
        changed = next((other for other in unmatched if other.name == param.name), None)
        if changed is not None:
            unmatched.remove(changed)
            ops.append(("added", changed.label))
    ops.extend(("added", param.label) for param in unmatched)
    return ops


def diff_params(prompts: Iterable[str | Prompt]) -> dict[str, list[ParamValue | None]]:
    """For each parameter whose value differs across ``prompts``: its value in each, None if absent.

    Canonical names, in order of first appearance: the labels of a sweep's rows and columns.
    """
    all_params: list[Mapping[str, ParamValue]] = [_as_prompt(p).params for p in prompts]
    names: dict[str, None] = {}
    for params in all_params:
        names.update(dict.fromkeys(params))

    def meaning(value: ParamValue | None) -> object:
        return " ".join(value.split()) if isinstance(value, str) else value

    differing: dict[str, list[ParamValue | None]] = {}
    for name in names:
        values = [params.get(name) for params in all_params]
        if len({meaning(value) for value in values}) > 1:
            differing[name] = values
    return differing
