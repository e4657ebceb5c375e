"""Lecture decks: prepared, captioned sequences of calls for the presenter view.

A deck is a JSON file in this folder: the session recording format
(:mod:`nommu_lab.session`) with a caption per call and, where a lecturer wants
the room to think first, a *predict* question whose answer is revealed after
the call is made. The presenter view plays a deck step by step, forward and
back; a question stops the deck *before* its call, so the class predicts,
then the next click makes the call and shows the answer.

A deck step is written for a person to read and check::

    {"call": [{"ref": 1}, "mmap", [0, {"pages": 3}, {"c": "PROT_READ|PROT_WRITE"},
                                   {"c": "MAP_PRIVATE|MAP_ANONYMOUS"}, -1, 0]],
     "caption": "...", "predict": {"question": "...", "answer": "..."},
     "expect": "ok", "rule": "do_mmap_private.trim"}

Arguments may name constants (``{"c": "O_CREAT|O_RDWR|0o600"}``), count pages
(``{"pages": 3}``), give bytes as text or hex (``{"text": "hi"}``,
``{"text": "ab", "repeat": 3}``, ``{"hex": "c0ffee"}``), describe a learner's
driver (``{"driver": "SimpleDriver", ...}``) or use what an earlier step
returned (``{"ref": 2}``, ``{"ref": 2, "plus": 4096}``, ``{"ref": 5, "index":
0}`` for the first of pipe()'s two fds; a process stands for its pid). ``expect`` is
``"ok"`` or the errno name the call must fail with; ``rule``, when given, is a
trace rule the call must fire. :meth:`Deck.resolve` plays the deck once on
its board and turns it into an ordinary :class:`~nommu_lab.session.Recording`
with every reference filled in, which is what the presenter steps through
(the model is deterministic, so every replay gives the same machine).

>>> import nommu_lab.decks as decks
>>> [d.key for d in decks.all_decks()][:2]
['01-anonymous', '02-private-file']
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from ..cases import CASES, Case
from ..kernel import Kernel, KernelError
from ..kernel import constants as C
from ..session import Call, DriverSpec, Recording, Session, apply_call, format_result

FORMAT = "nommu-lab-deck"
VERSION = 1


# ---------------------------------------------------------------------------
# what a deck says
# ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Predict:
    """A question put to the room before a call, and its answer."""

    question: str
    answer: str


@dataclass(frozen=True, slots=True)
class Step:
    """One call of a deck, as written (arguments may still refer to earlier steps)."""

    pid: Any
    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    caption: str
    predict: Predict | None = None
    expect: str = "ok"
    rule: str | None = None

    @classmethod
    def from_json(cls, item: Any, number: int) -> Step:
        """Parse one step (ValueError naming the step if it is malformed)."""
        where = f"step {number}"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: a step is an object with a call and a caption")
        unknown = set(item) - {"call", "caption", "predict", "expect", "rule"}
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        call = item.get("call")
        if not isinstance(call, list) or len(call) not in (3, 4) or not isinstance(call[1], str) \
                or not isinstance(call[2], list):
            raise ValueError(f"{where}: call is [pid, name, [args], {{kwargs}}], not {call!r}")
        kwargs = call[3] if len(call) == 4 else {}
        if not isinstance(kwargs, dict):
            raise ValueError(f"{where}: keyword arguments must be an object")
        caption = item.get("caption")
        if not isinstance(caption, str) or not caption.strip():
            raise ValueError(f"{where}: every step needs a caption")
        predict = item.get("predict")
        if predict is not None:
            if not isinstance(predict, dict) or set(predict) != {"question", "answer"}:
                raise ValueError(f"{where}: predict is {{\"question\": ..., \"answer\": ...}}")
            predict = Predict(str(predict["question"]), str(predict["answer"]))
        expect = item.get("expect", "ok")
        if expect != "ok" and not (isinstance(expect, str) and expect.startswith("E")):
            raise ValueError(f"{where}: expect is \"ok\" or an errno name such as \"EINVAL\"")
        return cls(call[0], call[1], tuple(call[2]), kwargs, caption.strip(), predict, expect,
                   item.get("rule"))


@dataclass(frozen=True, slots=True)
class Deck:
    """A lecture: a title, a board, what to compare with an MMU, and the steps."""

    key: str
    title: str
    summary: str
    steps: tuple[Step, ...]
    board: str = "nommu_lab.boards:default"
    board_kwargs: dict[str, Any] = field(default_factory=dict)
    compare: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, text: str, key: str = "deck") -> Deck:
        """Parse a deck (ValueError with a readable message if it is not one)."""
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{key}: not JSON: {e.msg} at line {e.lineno}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"{key}: not a lecture deck (no \"format\": \"{FORMAT}\")")
        if doc.get("version") != VERSION:
            raise ValueError(f"{key}: deck version {doc.get('version')!r}; this lab reads {VERSION}")
        steps = doc.get("steps")
        if not isinstance(steps, list) or not steps:
            raise ValueError(f"{key}: a deck needs a list of steps")
        compare = doc.get("compare", [])
        if not isinstance(compare, list) or not all(isinstance(c, str) for c in compare):
            raise ValueError(f"{key}: compare is a list of program names")
        return cls(key, str(doc.get("title", key)), str(doc.get("summary", "")),
                   tuple(Step.from_json(s, i) for i, s in enumerate(steps, 1)),
                   doc.get("board") or "nommu_lab.boards:default",
                   dict(doc.get("board_kwargs") or {}), tuple(compare))

    def factory(self) -> Callable[[], Kernel]:
        """What builds the deck's starting machine."""
        return Recording([], self.board, self.board_kwargs).factory()

    def resolve(self, factory: Callable[[], Kernel] | None = None) -> ResolvedDeck:
        """Play the deck once on a fresh board: every reference filled in, every outcome kept."""
        k = (factory or self.factory())()
        results: list[Any] = []
        calls: list[Call] = []
        outcomes: list[StepOutcome] = []
        for i, step in enumerate(self.steps, 1):
            env = _Env(k, results, i)
            try:
                call = Call(env.pid(step.pid), step.name,
                            tuple(env.value(a) for a in step.args),
                            tuple(sorted((n, env.value(v)) for n, v in step.kwargs.items())))
            except (TypeError, ValueError) as e:
                raise ValueError(f"{self.key} step {i}: {e}") from None
            seq = k.trace.last_seq
            try:
                result = apply_call(k, call)
                error = None
            except KernelError as e:
                result, error = None, e
            except (TypeError, ValueError) as e:  # the deck asks for something impossible
                raise ValueError(f"{self.key} step {i}: {call.describe()}: {e}") from None
            rules = tuple(ev.rule for ev in k.trace.since(seq))
            results.append(result)
            calls.append(call)
            outcomes.append(StepOutcome(call, result, error, rules))
        return ResolvedDeck(self, Recording(calls, self.board, dict(self.board_kwargs)),
                            tuple(outcomes))


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What one step's call did when the deck was resolved."""

    call: Call
    result: Any
    error: KernelError | None
    rules: tuple[str, ...]  # every trace rule the call fired, in order

    @property
    def ok(self) -> bool:
        """True when the call succeeded."""
        return self.error is None

    @property
    def errno_name(self) -> str:
        """``"ok"``, or the errno name of the refusal (``EINVAL``)."""
        return "ok" if self.error is None else self.error.errno_name

    def result_text(self) -> str:
        """The outcome as one line: ``= 0x80108000``, ``= -1 EINVAL``."""
        return format_result(self.call.name, self.result, self.error)


@dataclass(frozen=True, slots=True)
class ResolvedDeck:
    """A deck played once: the concrete recording and what each step did."""

    deck: Deck
    recording: Recording
    outcomes: tuple[StepOutcome, ...]

    def mismatches(self) -> list[str]:
        """Steps whose outcome is not what the deck says (empty when the deck is right)."""
        out = []
        for i, (step, o) in enumerate(zip(self.deck.steps, self.outcomes, strict=True), 1):
            if o.errno_name != step.expect:
                why = f": {o.error}" if o.error is not None else ""
                out.append(f"{self.deck.key} step {i} {o.call.describe()}: expected {step.expect}, "
                           f"got {o.errno_name}{why}")
            if step.rule is not None and step.rule not in o.rules:
                out.append(f"{self.deck.key} step {i} {o.call.describe()}: expected rule "
                           f"{step.rule}, fired {', '.join(o.rules) or 'none'}")
        return out


class _Env:
    """Fills in a step's references from the results of the steps before it."""

    def __init__(self, k: Kernel, results: list[Any], step: int) -> None:
        self.k, self.results, self.step = k, results, step

    def ref(self, n: Any) -> Any:
        if not isinstance(n, int) or not 1 <= n < self.step:
            raise ValueError(f"ref {n!r} must name an earlier step (1..{self.step - 1})")
        r = self.results[n - 1]
        if r is None:
            raise ValueError(f"ref {n}: step {n} returned nothing (was it refused?)")
        pid = getattr(r, "pid", None)
        return pid if isinstance(pid, int) else r

    def pid(self, v: Any) -> int | None:
        if v is None or (isinstance(v, int) and not isinstance(v, bool)):
            return v
        if isinstance(v, dict) and set(v) == {"ref"}:
            return int(self.ref(v["ref"]))
        raise ValueError(f"pid is null, a number or {{\"ref\": n}}, not {v!r}")

    def value(self, v: Any) -> Any:
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if not isinstance(v, dict):
            return v
        keys = set(v)
        if keys == {"c"}:
            return constant(v["c"])
        if keys == {"pages"}:
            return int(v["pages"]) * self.k.page_size
        if keys <= {"text", "repeat"} and "text" in keys:
            return str(v["text"]).encode() * int(v.get("repeat", 1))
        if keys == {"hex"}:
            return bytes.fromhex(v["hex"])
        if keys <= {"ref", "plus", "index"} and "ref" in keys:
            base = self.ref(v["ref"])
            if "index" in keys:  # one of several results (pipe() returns two fds)
                base = base[int(v["index"])]
            return base + self.value(v.get("plus", 0))
        if "driver" in keys:
            return DriverSpec.from_json({k: self.value(x) for k, x in v.items()})
        raise ValueError(f"unknown argument form {v!r}")


def constant(expr: str) -> int:
    """``"PROT_READ|PROT_WRITE"`` or ``"IPC_CREAT|0o600"``: names from the kernel's constants."""
    total = 0
    for tok in str(expr).split("|"):
        tok = tok.strip()
        try:
            total |= int(tok, 0)
            continue
        except ValueError:
            pass
        val = getattr(C, tok, None)
        if not tok.isupper() or not isinstance(val, int):
            raise ValueError(f"{tok!r} is not a constant this lab knows")
        total |= val
    return total


# ---------------------------------------------------------------------------
# programs for the MMU side-by-side view (nl.compare) that nl.cases lacks
# ---------------------------------------------------------------------------
def _trim(p: Any) -> None:
    a = p.mmap(0, 5 * 4096, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS)
    p.poke(a, b"x")
    b = p.mmap(0, 3 * 4096, C.PROT_READ | C.PROT_WRITE, C.MAP_PRIVATE | C.MAP_ANONYMOUS)
    p.poke(b, b"y")
    p.mremap(a, 5 * 4096, 6 * 4096, C.MREMAP_MAYMOVE)


def _flash(p: Any) -> None:
    fd = p.open("/rom/bin/hello", C.O_RDONLY)
    a = p.mmap(0, 4096, C.PROT_READ | C.PROT_EXEC, C.MAP_PRIVATE, fd, 0)
    p.peek(a + 64, 8)
    p.kernel.mtd_program(0x80000, b"\x00")
    p.peek(a + 64, 8)
    p.kernel.mtd_complete()
    p.peek(a + 64, 8)


EXTRA_CASES: dict[str, Case] = {c.key: c for c in (
    Case("trim", "page trimming: whole blocks, slack, no growth",
         "anonymous memory takes frames one page at a time, when first touched; a mapping grows "
         "or moves with mremap.",
         "a copy takes a power-of-two block at mmap time, trimmed to the pages needed when "
         "vm.nr_trim_pages allows; it never grows beyond its original length.",
         _trim),
    Case("flash", "reading program text while the flash chip is programming",
         "the text is read into page-cache frames on the first fault; programming the chip "
         "later does not change what the program sees.",
         "the text is mapped in place from the chip (XIP): while it programs or erases, the "
         "program reads status bytes where its code should be.",
         _flash),
)}


def compare_program(key: str) -> Case:
    """A program for ``nl.compare`` by key: one of ``nl.cases.CASES`` or :data:`EXTRA_CASES`."""
    found = CASES.get(key) or EXTRA_CASES.get(key)
    if found is None:
        raise KeyError(f"no program {key!r} to compare (known: "
                       f"{', '.join([*CASES, *EXTRA_CASES])})")
    return found


# ---------------------------------------------------------------------------
# the decks shipped with the package
# ---------------------------------------------------------------------------
def deck_names() -> list[str]:
    """The keys of the shipped decks, in teaching order (their file names)."""
    folder = resources.files(__name__)
    return sorted(p.name.removesuffix(".json") for p in folder.iterdir()
                  if p.name.endswith(".json"))


def load(key: str) -> Deck:
    """One shipped deck by key (``"05-flash"``)."""
    if key not in deck_names():
        raise KeyError(f"no deck {key!r}; the decks are {', '.join(deck_names())}")
    return Deck.from_json(resources.files(__name__).joinpath(f"{key}.json").read_text("utf-8"), key)


def all_decks() -> list[Deck]:
    """Every shipped deck, in order."""
    return [load(k) for k in deck_names()]


# ---------------------------------------------------------------------------
# playing: stops forward and back
# ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Stop:
    """Where the presenter is: after ``position`` calls, showing a step's question or caption.

    ``phase`` is ``"intro"`` (the deck's title and summary, no call made),
    ``"question"`` (step ``step``'s question; its call not made yet) or
    ``"reveal"`` (step ``step`` made: caption, outcome, the answer).
    """

    position: int
    step: int
    phase: str


def stops(deck: Deck) -> list[Stop]:
    """Every stop of a deck in order: the intro, then per step its question (if any) and reveal."""
    out = [Stop(0, 0, "intro")]
    for i, s in enumerate(deck.steps, 1):
        if s.predict is not None:
            out.append(Stop(i - 1, i, "question"))
        out.append(Stop(i, i, "reveal"))
    return out


class Playback:
    """A deck being presented on a :class:`~nommu_lab.session.Session`: stops, forward, back.

    ``load`` starts the session over on the deck's board with the deck's
    resolved calls, positioned before the first call; :meth:`forward` and
    :meth:`back` move one stop and put the session at that stop's call
    position (going back rebuilds the machine by replay, as time travel does).
    No widget here: the presenter view drives this, and so do the tests.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.resolved: ResolvedDeck | None = None
        self.stops: list[Stop] = []
        self.index = 0

    def load(self, deck: Deck) -> None:
        """Start presenting ``deck`` from its intro."""
        resolved = deck.resolve()
        self.session.restart(deck.factory(), deck.board, deck.board_kwargs)
        self.session.load(resolved.recording, replay_to_end=False)
        self.resolved = resolved
        self.stops = stops(deck)
        self.index = 0

    @property
    def deck(self) -> Deck | None:
        """The deck being presented, if any."""
        return self.resolved.deck if self.resolved is not None else None

    @property
    def stop(self) -> Stop | None:
        """The current stop (None before a deck is loaded)."""
        return self.stops[self.index] if self.stops else None

    @property
    def can_forward(self) -> bool:
        """Whether there is a stop after this one."""
        return self.index + 1 < len(self.stops)

    @property
    def can_back(self) -> bool:
        """Whether there is a stop before this one."""
        return self.index > 0

    def goto(self, index: int) -> Stop:
        """Go to stop ``index`` (clamped); the session follows to its call position."""
        if not self.stops:
            raise ValueError("choose a deck first")
        assert self.resolved is not None
        self.index = max(0, min(int(index), len(self.stops) - 1))
        stop = self.stops[self.index]
        if self.diverged:
            # the presenter made calls of their own in between: the deck goes on
            # from its own calls (the detour is set aside, as an undo would)
            self.session.load(self.resolved.recording, replay_to_end=False)
        self.session.goto(stop.position)
        return stop

    @property
    def diverged(self) -> bool:
        """True when the session's calls are no longer the deck's (a detour was made)."""
        if self.resolved is None:
            return False
        return self.session.calls != self.resolved.recording.calls

    def forward(self) -> Stop:
        """The next stop: a question (no call yet), or the next call made and revealed."""
        return self.goto(self.index + 1)

    def back(self) -> Stop:
        """The stop before."""
        return self.goto(self.index - 1)

    def outcome(self, step: int) -> StepOutcome:
        """What step ``step`` (1-based) did."""
        assert self.resolved is not None
        return self.resolved.outcomes[step - 1]


__all__ = ["EXTRA_CASES", "Deck", "Playback", "Predict", "ResolvedDeck", "Step", "StepOutcome", "Stop", "all_decks",
           "compare_program", "constant", "deck_names", "load", "stops"]
