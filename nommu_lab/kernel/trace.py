"""The event log: every decision the kernel model takes, with its rule.

Events are cheap to record: the sentence is a template plus arguments and is
only formatted when somebody reads ``.text`` (where ``{:n page}`` words a plain
int argument with its noun: ``1 page``, ``3 pages``). The log is bounded (a ring of
``capacity`` events) so a long workload never grows memory without limit.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from string import Formatter
from typing import Any

from .callfmt import format_call


class EventKind(StrEnum):
    """What sort of decision an event records."""

    SYSCALL = "syscall"  # a call entered the kernel
    DECISION = "decision"  # a rule chose a path (copy vs direct, trim, ...)
    ALLOC = "alloc"  # pages taken from the buddy allocator
    FREE = "free"  # pages given back
    REGION = "region"  # a vm_region created, shared or released
    VMA = "vma"  # a VMA attached, split, shrunk or removed
    REFUSED = "refused"  # the call failed with an errno
    HAZARD = "hazard"  # something the real kernel gets wrong or warns about
    DEVICE = "device"  # a driver or device did something (flash mode, ...)
    PROCESS = "process"  # spawn, vfork, exec, exit


def plural(n: int, noun: str, nouns: str = "") -> str:
    """``1 page``, ``3 pages`` (``nouns``: an irregular plural, ``entries``)."""
    return f"{n} {noun}" if n == 1 else f"{n} {nouns or noun + 's'}"


class _CountingFormatter(Formatter):
    """``str.format`` plus one spec: ``{:n page}`` words a number with its noun
    (``1 page``, ``3 pages``; ``{:n entry|entries}`` for an irregular plural), so a
    template keeps plain ints as its arguments and nothing is made at emit time."""

    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec.startswith("n "):
            noun, _, nouns = format_spec[2:].partition("|")
            return plural(value, noun, nouns)
        return super().format_field(value, format_spec)


_COUNTING = _CountingFormatter()


_NOTHING: dict[str, Any] = {}  # shared by events that touched nothing: never mutate
#: args: (call name, positional arguments as passed, keyword arguments as passed)
SYSCALL_TEMPLATE = "{}({})"


@dataclass(slots=True)
class Event:
    """One decision. ``text`` is formatted lazily from ``template``/``args``.

    ``touched`` names what the decision touched: ``region`` (a region id),
    ``frames`` (a run ``(first pfn, count)``) or ``pfns`` (single frames).
    """

    seq: int
    kind: EventKind
    rule: str
    template: str
    args: tuple[Any, ...] = ()
    pid: int | None = None
    touched: dict[str, Any] = field(default_factory=dict)
    call: int = 0  # the number of the syscall this event belongs to

    @property
    def text(self) -> str:
        """The sentence explaining the decision."""
        if self.template is SYSCALL_TEMPLATE:
            return format_call(*self.args)
        if not self.args:
            return self.template
        if "{:n " in self.template:
            return _COUNTING.format(self.template, *self.args)
        return self.template.format(*self.args)

    def __repr__(self) -> str:
        return f"<{self.seq} {self.kind.value} {self.rule}: {self.text}>"


class Trace:
    """A bounded, append-only log of :class:`Event` s.

    ``trace.enabled = False`` stops recording altogether (benchmarks compare
    both); views read ``trace.since(seq)`` to get what is new.
    """

    def __init__(self, capacity: int = 20_000) -> None:
        self._events: deque[tuple[Any, ...]] = deque(maxlen=capacity)
        self._seq = 0
        self.call = 0
        self.pid: int | None = None
        self.enabled = True
        self._listeners: list[Callable[[Event], None]] = []

    def emit(self, kind: EventKind, rule: str, template: str, *args: Any, **touched: Any) -> None:
        """Record one decision. Only a tuple is stored; the :class:`Event` and
        its sentence are made when somebody reads them."""
        if not self.enabled:
            return
        self._seq += 1
        raw = (self._seq, kind, rule, template, args, self.pid, touched or _NOTHING, self.call)
        self._events.append(raw)
        if self._listeners:
            ev = Event(*raw)
            for fn in self._listeners:
                fn(ev)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_listeners"] = []  # views do not travel with a snapshot
        return state

    def subscribe(self, fn: Callable[[Event], None]) -> None:
        """Call ``fn(event)`` for every new event."""
        self._listeners.append(fn)

    def unsubscribe(self, fn: Callable[[Event], None]) -> None:
        """Stop calling ``fn``."""
        if fn in self._listeners:
            self._listeners.remove(fn)

    def __iter__(self) -> Iterator[Event]:
        return (Event(*raw) for raw in self._events)

    def __len__(self) -> int:
        return len(self._events)

    def __getitem__(self, i: int) -> Event:
        return Event(*self._events[i])

    @property
    def last_seq(self) -> int:
        """The sequence number of the newest event (0 if none yet)."""
        return self._seq

    def since(self, seq: int) -> list[Event]:
        """Events newer than ``seq``, oldest first."""
        out: list[Event] = []
        for raw in reversed(self._events):
            if raw[0] <= seq:
                break
            out.append(Event(*raw))
        out.reverse()
        return out

    def last_call(self) -> list[Event]:
        """Every event of the most recent syscall."""
        return [Event(*raw) for raw in self._events if raw[7] == self.call]

    def latest(self, rule: str, first_arg: Any) -> Event | None:
        """The newest event of ``rule`` whose first argument is ``first_arg`` (None if
        the log holds none); it reads the stored tuples, making no Event on the way."""
        for raw in reversed(self._events):
            if raw[2] == rule and raw[4] and raw[4][0] == first_arg:
                return Event(*raw)
        return None

    def rules(self, since: int = 0) -> list[str]:
        """Rule ids of events newer than ``since`` (handy in tests)."""
        return [e.rule for e in self.since(since)]

    def clear(self) -> None:
        """Forget every event (sequence numbers keep counting)."""
        self._events.clear()

    def format(self, events: list[Event] | None = None) -> str:
        """Plain text, one event a line."""
        evs = list(self) if events is None else events
        return "\n".join(f"{e.kind.value:8} {e.rule:40} {e.text}" for e in evs)
