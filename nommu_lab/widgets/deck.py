"""The presenter's deck bar: choose a lecture deck, step through it, open the MMU comparison.

A deck (:mod:`nommu_lab.decks`) is played on the lab's own session, so every
view (RAM map, regions, the last call) follows it, and the lecturer can make
calls of their own with the controls at any stop. ``next`` first shows a
step's question with its call not yet made; the following ``next`` makes the
call and reveals the caption and the answer. ``back`` steps over the same
stops in reverse (the machine is rebuilt by replay, as time travel does).

The comparison with an MMU kernel (``nl.compare``) of the deck's programs is
one click away; the learner's lab offers the same button for every program.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

import ipywidgets as W

from .. import decks as D
from ..cases import CASES
from .base import View, html_escape
from .controls import _button, _dropdown, _row

if TYPE_CHECKING:
    from ..session import Session

NO_DECK = ""


def _compare_options(keys: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """Programs to compare: the deck's own first, then every other one."""
    order = list(keys) + [k for k in (*CASES, *D.EXTRA_CASES) if k not in keys]
    return [(D.compare_program(k).title, k) for k in order]


class DeckPlayer(View):
    """Deck chooser, back/next, the current caption or question, and the MMU side-by-side view."""

    def __init__(self, session: Session, hold: Callable[[], AbstractContextManager[Any]] | None = None,
                 presenter: bool = True) -> None:
        super().__init__(session.kernel)
        self.session = session
        self._hold = hold or nullcontext
        self.playback = D.Playback(session)
        self.add_class("nl-deck")
        self.decks = {d.key: d for d in D.all_decks()}
        self.chooser = _dropdown([("choose a lecture deck...", NO_DECK)]
                                 + [(d.title, d.key) for d in self.decks.values()],
                                 "nl-deck-choose", "deck", "34em", NO_DECK)
        self.chooser.observe(self._on_choose, names="value")
        self.b_back = _button("◀ back", "nl-deck-back", "", "the previous stop of the deck")
        self.b_next = _button("next ▶", "nl-deck-next", "primary",
                              "a question first, then the call and its answer")
        self.where = W.HTML()
        self.where.add_class("nl-deck-where")
        self.compare_pick = _dropdown(_compare_options(), "nl-compare-pick", "", "26em")
        self.b_compare = _button("compare with an MMU", "nl-compare", "info",
                                 "run the program on the no-MMU and the MMU kernel, side by side")
        self.b_close_compare = _button("close comparison", "nl-compare-close", "",
                                       "hide the side-by-side view")
        self.b_close_compare.layout.display = "none"
        self.card = W.HTML()
        self.card.add_class("nl-deck-card")
        self.compare_box = W.Box(layout=W.Layout(width="auto"))
        self.compare_box.add_class("nl-compare-box")
        self.message = W.HTML()
        self.message.add_class("nl-deck-message")
        self.b_back.on_click(self._guarded(self.back))
        self.b_next.on_click(self._guarded(self.forward))
        self.b_compare.on_click(self._guarded(self.show_compare))
        self.b_close_compare.on_click(self._guarded(self.close_compare))
        bar = _row(self.chooser, self.b_back, self.b_next, self.where)
        bar.add_class("nl-deck-bar")
        cmp_row = _row(self.compare_pick, self.b_compare, self.b_close_compare)
        self.children = (bar, self.card, cmp_row, self.message, self.compare_box)
        if not presenter:
            self.add_class("nl-deck-compact")
        self.refresh()

    # ------------------------------------------------------------ actions
    def _guarded(self, fn: Callable[[], Any]) -> Callable[[Any], None]:
        def handler(_b: Any = None) -> None:
            try:
                with self._hold():
                    fn()
            except (ValueError, TypeError, KeyError) as e:
                self.message.value = f"<span class='nl-error'>{html_escape(str(e))}</span>"
            except Exception as e:  # a bug in the lab: say so, keep the lab alive
                self.message.value = (f"<span class='nl-error'>Unexpected error in nommu-lab "
                                      f"({type(e).__name__}): {html_escape(str(e))}</span>")
        return handler

    def _on_choose(self, change: dict[str, Any]) -> None:
        if change["new"] != NO_DECK:
            self._guarded(lambda: self.choose(change["new"]))()

    def choose(self, key: str) -> None:
        """Start presenting deck ``key`` from its introduction (on the deck's own board)."""
        deck = self.decks[key]
        self.playback.load(deck)
        if self.chooser.value != key:
            self.chooser.value = key
        self.compare_pick.options = _compare_options(deck.compare)
        self.compare_pick.value = deck.compare[0] if deck.compare else self.compare_pick.options[0][1]
        self.close_compare()
        self.message.value = ""
        self.refresh()

    def forward(self) -> None:
        """The next stop: a question (call not yet made), or a call made and explained."""
        self.message.value = ("the deck goes on from its own calls (yours were set aside)"
                              if self.playback.diverged else "")
        self.playback.forward()
        self.refresh()

    def back(self) -> None:
        """The previous stop."""
        self.playback.back()
        self.message.value = ""
        self.refresh()

    def show_compare(self) -> None:
        """Run the chosen program on both kernels and show them side by side."""
        from ..compare import compare

        case = D.compare_program(str(self.compare_pick.value))
        result = compare(case)
        old = list(self.compare_box.children)
        self.compare_box.children = (result.widget(),)
        for w in old:
            w.close()
        self.b_close_compare.layout.display = None
        self.compare_shown = case.key

    compare_shown: str | None = None

    def close_compare(self) -> None:
        """Hide the side-by-side view."""
        old = list(self.compare_box.children)
        self.compare_box.children = ()
        for w in old:
            w.close()
        self.b_close_compare.layout.display = "none"
        self.compare_shown = None

    # ------------------------------------------------------------ drawing
    def card_text(self) -> tuple[str, str, str]:
        """``(heading, body, answer)`` for the current stop, as plain text."""
        pb = self.playback
        stop, deck = pb.stop, pb.deck
        if stop is None or deck is None:
            return ("Lecture decks", "Choose a deck: each plays one part of the document step by "
                    "step. A question stops the deck before its call; next makes the call and "
                    "shows the answer.", "")
        if stop.phase == "intro":
            return (deck.title, deck.summary, "")
        step = deck.steps[stop.step - 1]
        n = len(deck.steps)
        if stop.phase == "question":
            assert step.predict is not None
            call = pb.resolved.recording.calls[stop.step - 1]  # type: ignore[union-attr]
            return (f"Step {stop.step} of {n} · predict", step.predict.question,
                    f"next call: {call.describe()}")
        out = pb.outcome(stop.step)
        body = step.caption
        answer = f"Answer: {step.predict.answer}" if step.predict is not None else ""
        return (f"Step {stop.step} of {n} · {out.call.describe()} {out.result_text()}", body,
                answer)

    def refresh(self) -> None:
        """Redraw the card and the buttons from the playback's stop."""
        pb = self.playback
        head, body, answer = self.card_text()
        stop = pb.stop
        phase = stop.phase if stop is not None else "none"
        parts = [f"<div class='nl-deck-head nl-deck-{phase}'>{html_escape(head)}</div>",
                 f"<div class='nl-deck-body'>{html_escape(body)}</div>"]
        if answer:
            parts.append(f"<div class='nl-deck-answer nl-deck-{phase}-extra'>{html_escape(answer)}</div>")
        self.card.value = "".join(parts)
        self.b_back.disabled = not pb.can_back
        self.b_next.disabled = not pb.can_forward
        self.where.value = (f"<span class='nl-deck-where-text'>stop {pb.index + 1} of {len(pb.stops)}"
                            "</span>" if pb.stops else "")
        self.redraws += 1

    def describe(self) -> str:
        """The current stop as text."""
        head, body, answer = self.card_text()
        return "\n".join(x for x in (head, body, answer) if x)
