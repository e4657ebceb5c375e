"""Parts that ask "which of these statements are true?", each statement judged by the model.

An "explain the rule" question can be put as statements about what the
kernel does. Each :class:`Statement` carries a *probe*: a small experiment on
freshly built boards that returns whether the statement holds, so the truth
of every statement is computed from the model when the check runs, never
stored. A variant draws a few statements from a pool (:func:`draw`) and
letters them A, B, C... in its own order, so two students answer different
lists. :func:`mark` gives each statement an equal share of the part's points.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .framework import Marker, Stop


@dataclass(frozen=True)
class Statement:
    """One statement: its text (formatted with the variant's params), its probe, and why."""

    text: str
    probe: Callable[[dict[str, Any]], bool]  # the model's verdict, from the params alone
    why: str  # the kernel rule that decides it (said with the verdict), with the function to read

    def say(self, params: Mapping[str, Any]) -> str:
        return self.text.format(**params)


def draw(rng: random.Random, pool: Mapping[str, Statement], n: int) -> list[str]:
    """``n`` statement keys from ``pool``, in a random order (letter A is the first)."""
    return rng.sample(sorted(pool), n)


def lettered(params: Mapping[str, Any], pool: Mapping[str, Statement], keys: Sequence[str]) -> list[tuple[str, str]]:
    """``[(letter, text)]`` of the variant's statements, as the notebook prints them."""
    return [(string.ascii_uppercase[i], pool[key].say(params)) for i, key in enumerate(keys)]


def letters_of(answer: Any) -> set[str]:
    """The letters a learner gave: a string ``"AC"``, or a set, list or tuple of letters."""
    if isinstance(answer, str):
        items: Any = [c for c in answer if not c.isspace() and c not in ",;"]
    elif isinstance(answer, set | frozenset | list | tuple):
        items = answer
    else:
        raise Stop(f"return the letters of the true statements, e.g. {{'A', 'C'}}, "
                   f"not {type(answer).__name__}")
    if not all(isinstance(x, str) for x in items):
        raise Stop("each letter must be a string, such as 'A'")
    return {x.strip().upper() for x in items}


def mark(m: Marker, answer: Any, params: Mapping[str, Any], pool: Mapping[str, Statement],
         keys: Sequence[str], points: float) -> None:
    """Mark a set of letters: each statement, judged by its probe, is worth an equal share."""
    chosen = letters_of(answer)
    letters = string.ascii_uppercase[:len(keys)]
    unknown = sorted(chosen - set(letters))
    if unknown:
        m.note(f"there is no statement {', '.join(unknown)} (the statements are "
               f"{letters[0]} to {letters[-1]})")
    share = points / len(keys)
    for letter, key in zip(letters, keys, strict=True):
        st = pool[key]
        truth = bool(st.probe(dict(params)))
        said = "true" if letter in chosen else "false"
        m.award((letter in chosen) == truth, share,
                f"{letter} is {'true' if truth else 'false'}: {st.why}",
                f"{letter}: you judged it {said}; try it on the board (the check does). {st.why}")
