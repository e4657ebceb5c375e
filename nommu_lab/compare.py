"""Run one program on the no-MMU board and on the same board with an MMU.

>>> import nommu_lab as nl
>>> r = nl.compare(nl.cases.CASE_1)      # doctest: +SKIP
>>> print(r)                             # doctest: +SKIP

A *program* is a function taking a process and making calls on it. It runs
twice: once on ``board(mmu=False)`` and once on ``board(mmu=True)`` (the
default board is :func:`nommu_lab.boards.default`). Every call it makes
through the process it was given (and through the children ``fork``,
``vfork`` and ``clone`` return) is recorded with its outcome: the value, or
the errno and rule of the :class:`KernelError` it raised. A refused call is
not fatal: it returns a :class:`Failed` placeholder, and any later call that
uses it (its address, the child it should have made) is recorded as skipped.

The result has a deterministic plain-text form (``str(result)``,
``result.describe()``) for reading and for nbval, an HTML form for Jupyter
(``_repr_html_``) and an ipywidgets form (``result.widget()``; ipywidgets is
imported only there).
"""

from __future__ import annotations

import html
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import cases  # noqa: F401  (makes nl.cases available once nl.compare was used)
from .kernel.callfmt import arg_namer
from .kernel.errors import KernelError
from .kernel.kernel import Kernel
from .kernel.process import Process
from .kernel.trace import Event, EventKind

SIDES = ("no-MMU", "MMU")
ADDRESS_CALLS = ("mmap", "mremap", "shmat")
DECISIVE = (EventKind.DECISION, EventKind.ALLOC, EventKind.FREE, EventKind.REGION, EventKind.REFUSED,
            EventKind.HAZARD)
READ_CALLS = ("peek", "read", "pread", "ptrace_peek")
KERNEL_BUG_PREFIX = "kernel_bug."  # the rule of a hazard event naming a known Linux bug
BUG_ERRNO = "BUG"  # KernelError.errno_name of a KernelBug: Linux would crash, not return


# ---------------------------------------------------------------------------
# formatting arguments the way a C programmer wrote them
# ---------------------------------------------------------------------------
def _short_bytes(b: bytes, limit: int = 16) -> str:
    if len(b) >= 4 and not any(b):
        return f"{len(b)} zero bytes"
    if len(b) > limit:
        return repr(b[:limit]) + f"...({len(b)} bytes)"
    return repr(b)


class Failed:
    """What a refused call returns inside a program (and anything computed from it).

    Calls that take it as an argument, or are made on it (a child that was
    never created), are recorded as skipped instead of being made.
    """

    def __init__(self, recorder: _Recorder, index: int, attr: str | None = None) -> None:
        self._recorder = recorder
        self._index = index
        self._attr = attr

    def __repr__(self) -> str:
        return f"<failed: call #{self._index}>"

    def __bool__(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Failed:
        # c.pid or c.poke on a child that was never made: itself a Failed; calling it
        # records a skipped call
        if name.startswith("_"):
            raise AttributeError(name)
        return Failed(self._recorder, self._index, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Failed:
        return self._recorder.skip(f"<#{self._index}>", self._attr or "call", args)

    def _same(self, *_: Any) -> Failed:
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __and__ = __rand__ = __or__ = __ror__ = _same
    __mul__ = __rmul__ = __floordiv__ = __mod__ = _same


def _has_failed(args: Any) -> Failed | None:
    for a in args:
        if isinstance(a, Failed):
            return a
        if isinstance(a, tuple | list):
            f = _has_failed(a)
            if f is not None:
                return f
    return None


# ---------------------------------------------------------------------------
# what one side recorded
# ---------------------------------------------------------------------------
@dataclass
class Outcome:
    """One call on one kernel: its value or its refusal, and what it cost."""

    call: str
    value: Any = None
    value_text: str = ""
    errno: str | None = None
    rule: str | None = None
    sentence: str = ""
    skipped: bool = False
    not_called: bool = False  # the program took another path (or stopped) on this kernel
    frames: int = 0  # frames taken from the allocator by the call (negative: freed)
    events: list[Event] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """The call ran and succeeded."""
        return self.errno is None and not self.skipped

    @property
    def status(self) -> str:
        """A short, comparable word: ``ok``, an errno name, ``skipped`` or ``not called``."""
        if self.not_called:
            return "not called"
        if self.skipped:
            return "skipped"
        return self.errno or "ok"

    @property
    def summary(self) -> str:
        """What the call returned, as a table cell."""
        if self.not_called:
            return "(not called)"
        if self.skipped:
            return "(skipped: depends on a failed call)"
        if self.errno:
            return f"{self.errno} [{self.rule}]"
        return self.value_text

    def decisive(self) -> list[Event]:
        """The events that explain the outcome (decisions, allocations, refusals, hazards)."""
        return [e for e in self.events if e.kind in DECISIVE]

    @property
    def kernel_bugs(self) -> list[str]:
        """Rules of the known Linux 6.12 bugs this call ran into.

        The model names a bug in two ways: a hazard event whose rule starts
        with ``kernel_bug.`` (it did the intended thing instead), or a
        :class:`~nommu_lab.KernelBug` (it refused what crashes Linux).
        """
        found = [e.rule for e in self.events if e.rule.startswith(KERNEL_BUG_PREFIX)]
        if self.errno == BUG_ERRNO and self.rule:
            found.append(self.rule)
        return found


class _Proxy:
    """Stands for a process (or the kernel) inside a program: every method call is recorded.

    ``p.kernel`` is a recording stand-in too, so ``p.kernel.sysctl(...)`` and
    ``p.kernel.spawn(...)`` appear in the report as calls of ``k``.
    """

    def __init__(self, proc: Any, recorder: _Recorder, label: str) -> None:
        self._proc = proc
        self._recorder = recorder
        self._label = label

    def __repr__(self) -> str:
        return f"<{self._label}: pid {getattr(self._proc, 'pid', '-')}>"

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._proc, name)
        if name == "kernel" and isinstance(attr, Kernel):
            return self._recorder.kernel_proxy
        if name.startswith("_") or not callable(attr):
            return attr
        rec = self._recorder

        def call(*args: Any, **kwargs: Any) -> Any:
            return rec.call(self, name, attr, args, kwargs)

        return call


class _Recorder:
    """Runs a program on one kernel and records each call."""

    def __init__(self, kernel: Kernel) -> None:
        self.k = kernel
        self.calls: list[Outcome] = []
        self.procs: dict[str, Process] = {}
        self.addrs: list[tuple[int, int, int, str]] = []  # (call number, address, length, who)
        self.stopped: KernelError | None = None
        self.kernel_proxy = _Proxy(kernel, self, "k")

    def proxy(self, proc: Process, label: str) -> _Proxy:
        self.procs[label] = proc
        return _Proxy(proc, self, label)

    def sym(self, v: int, who: str = "") -> str:
        """An address as ``#n`` or ``#n+0x..`` (relative to what call n returned).

        Addresses the same process got are preferred: with an MMU two processes
        may use one number for different things.
        """
        for mine in (True, False):
            for n, a, length, by in self.addrs:
                if (by == who) == mine and a <= v < a + max(length, 1):
                    return f"#{n}" if v == a else f"#{n}+{v - a:#x}"
        for n, a, length, _ in self.addrs:
            if v == a + length:
                return f"#{n}+{v - a:#x}"
        return hex(v)

    def fmt_args(self, name: str, args: tuple[Any, ...], who: str = "") -> str:
        out = []
        for i, a in enumerate(args):
            namer = arg_namer(name, i)
            if isinstance(a, Failed):
                out.append(repr(a))
            elif isinstance(a, bool):
                out.append(repr(a))
            elif isinstance(a, int) and namer is not None:
                out.append(namer(a))  # flags by name, as the trace words them
            elif isinstance(a, int):
                out.append(self.sym(a, who) if a >= 0x10000 else (hex(a) if a >= 4096 else str(a)))
            elif isinstance(a, bytes | bytearray):
                out.append(_short_bytes(bytes(a)))
            elif isinstance(a, _Proxy):
                out.append(a._label)
            else:
                out.append(repr(a))
        return ", ".join(out)

    def fmt_value(self, name: str, v: Any) -> str:
        if isinstance(v, _Proxy):
            return f"{v._label} (pid {v._proc.pid})"
        if isinstance(v, bytes):
            return _short_bytes(v)
        if isinstance(v, bool) or v is None:
            return repr(v)
        if isinstance(v, int):
            return hex(v) if name in ADDRESS_CALLS or v >= 0x10000 else str(v)
        if isinstance(v, str):
            lines = v.splitlines()
            return (lines[0] + (f" ...(+{len(lines) - 1} lines)" if len(lines) > 1 else "")
                    if lines else "''")
        if isinstance(v, tuple):
            return "(" + ", ".join(self.fmt_value(name, x) for x in v) + ")"
        text = repr(v)
        return text if len(text) < 60 else text[:57] + "..."

    def skip(self, who: str, name: str, args: tuple[Any, ...]) -> Failed:
        n = len(self.calls) + 1
        self.calls.append(Outcome(f"{who}.{name}({self.fmt_args(name, args)})", skipped=True))
        return Failed(self, n)

    def call(self, proxy: _Proxy, name: str, fn: Callable[..., Any], args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> Any:
        if _has_failed(args) is not None or _has_failed(tuple(kwargs.values())) is not None:
            return self.skip(proxy._label, name, args)
        n = len(self.calls) + 1
        text = f"{proxy._label}.{name}({self.fmt_args(name, args, proxy._label)})"
        real = tuple(a._proc if isinstance(a, _Proxy) else a for a in args)
        k = self.k
        seq, free = k.trace.last_seq, k.mem.nr_free
        out = Outcome(text)
        try:
            value = fn(*real, **kwargs)
        except KernelError as e:
            out.errno, out.rule, out.sentence = e.errno_name, e.rule, e.sentence
            value = Failed(self, n)
        else:
            if isinstance(value, Process):
                value = self.proxy(value, f"c{n}")  # named after the call that made it
            if name in ADDRESS_CALLS and isinstance(value, int):
                size = {"mmap": 1, "mremap": 2}.get(name)
                length = real[size] if size is not None and len(real) > size else 1
                self.addrs.append((n, value, length if isinstance(length, int) else 1,
                                   proxy._label))
            out.value, out.value_text = value, self.fmt_value(name, value)
        out.frames = free - k.mem.nr_free
        out.events = k.trace.since(seq)
        self.calls.append(out)
        return value


@dataclass
class Side:
    """Everything one kernel did with the program."""

    name: str
    kernel: Kernel
    calls: list[Outcome]
    maps: dict[str, str]
    before: dict[str, int]
    after: dict[str, int]
    zeroed: int
    stopped: KernelError | None = None
    frames_of: dict[str, list[str]] = field(default_factory=dict)

    @property
    def used_kb(self) -> int:
        """MemFree before minus MemFree after: memory the program still holds."""
        return self.before["MemFree"] - self.after["MemFree"]

    @property
    def taken_kb(self) -> int:
        """kB the calls took from the allocator, adding up only what each call took."""
        return sum(max(0, o.frames) for o in self.calls) * self.kernel.page_size // 1024

    @property
    def frames(self) -> int:
        """Frames the program holds at the end."""
        return self.used_kb * 1024 // self.kernel.page_size


#: How an MMU frame list is written (printed under the maps, once per report).
FRAME_LEGEND = ("MMU frame lists go page by page in address order: 264-267 is a run of "
                "frames, '-' a page with no frame yet (never touched), 'z' the shared zero "
                "page (read, never written), '-×9' nine such pages in a row")


def _page_list(items: list[str], limit: int = 16) -> str:
    """One VMA's pages as text: ``264-267`` for a run of frames, ``z`` for the zero page,
    ``-`` for a page with no frame, ``-×9`` for nine of them in a row.

    Runs keep the text short whatever the mapping's size. Past ``limit`` pieces the
    rest is summarised, but never the frames: those are listed (sorted) in the summary.
    """
    pieces: list[tuple[str, int]] = []  # (text, pages it stands for)
    i = 0
    while i < len(items):
        j = i + 1
        if items[i].isdigit():
            while j < len(items) and items[j].isdigit() and int(items[j]) == int(items[j - 1]) + 1:
                j += 1
            pieces.append((items[i] if j == i + 1 else f"{items[i]}-{items[j - 1]}", j - i))
        else:
            while j < len(items) and items[j] == items[i]:
                j += 1
            pieces.append((items[i] if j == i + 1 else f"{items[i]}×{j - i}", j - i))
        i = j
    text = " ".join(t for t, _ in pieces[:limit])
    if len(pieces) <= limit:
        return text
    covered = sum(n for _, n in pieces[:limit])
    text += f" ... {len(items) - covered} more pages"
    rest = sorted(int(x) for x in items[covered:] if x.isdigit())
    if rest:
        text += ", with frames " + _page_list([str(x) for x in rest], limit=len(rest))
    return text


def frames_text(k: Kernel, proc: Process) -> list[str]:
    """Where each mapping of a process lives in RAM, one line per VMA.

    Without an MMU a mapping *is* a physical range (a run of frames, or device
    memory); with one it is whatever frames the page table points at, page by page.
    """
    ps = k.page_size
    lines = []
    if k.mmu:
        mm: Any = proc.mm
        zero = getattr(k, "zero_pfn", -1)
        for v in mm.vmas:
            items = []
            for vpn in range(v.vm_start // ps, v.vm_end // ps):
                pte = mm.pte.get(vpn)
                items.append("-" if pte is None else "z" if pte.pfn == zero and pte.special
                             else str(pte.pfn))
            lines.append(f"{v.vm_start:08x}-{v.vm_end:08x} frames {_page_list(items)}")
        return lines
    for v in proc.mm.vmas:
        if k.mem.contains(v.vm_start, v.vm_end - v.vm_start):
            first = k.mem.addr_to_pfn(v.vm_start)
            last = k.mem.addr_to_pfn(v.vm_end - 1)
            where = f"frames {first}-{last}" if last > first else f"frame {first}"
            what = "copy" if v.vm_region.is_copy else "in place"
            lines.append(f"{v.vm_start:08x}-{v.vm_end:08x} {where} ({what}, contiguous)")
        else:
            lines.append(f"{v.vm_start:08x}-{v.vm_end:08x} device memory (flash), no frames")
    return lines


def _bytes_zeroed(k: Kernel, events: list[Event]) -> int:
    """Bytes of memory the kernel cleared for the program's mappings."""
    if k.mmu:
        return 0  # counted from the kernel's own counter (see compare)
    total = 0
    for e in events:
        if e.rule == "do_mmap.zero_anonymous":
            total += int(e.args[0])
        elif e.rule == "ramfs_nommu_expand_for_mapping":
            total += int(e.args[0]) * k.page_size
    return total


def _run(program: Callable[[Any], Any], board: Callable[..., Kernel], mmu: bool) -> Side:
    k = board(mmu=mmu)
    rec = _Recorder(k)
    p = k.spawn("app")
    before = k.meminfo()
    seq = k.trace.last_seq
    zero0 = getattr(k, "bytes_zeroed", 0)
    try:
        program(rec.proxy(p, "p"))
    except KernelError as e:  # a kernel call made behind the recorder's back
        rec.stopped = e
    after = k.meminfo()
    maps = {}
    frames = {}
    for label, proc in rec.procs.items():
        maps[label] = proc.maps() if proc.alive else "(exited)\n"
        frames[label] = frames_text(k, proc) if proc.alive else []
    zeroed = getattr(k, "bytes_zeroed", 0) - zero0 if k.mmu else _bytes_zeroed(k, k.trace.since(seq))
    return Side(SIDES[mmu], k, rec.calls, maps, before, after, zeroed, rec.stopped, frames)


# ---------------------------------------------------------------------------
# the result
# ---------------------------------------------------------------------------
@dataclass
class Row:
    """One call, on both kernels."""

    index: int
    call: str
    nommu: Outcome
    mmu: Outcome
    worded_differently: bool = False  # ``call`` reads "no-MMU wording | MMU wording"

    @property
    def outcomes(self) -> tuple[tuple[str, Outcome], tuple[str, Outcome]]:
        return (SIDES[0], self.nommu), (SIDES[1], self.mmu)

    @property
    def differs(self) -> bool:
        """The kernels answered differently: outcome, memory taken, or bytes read."""
        a, b = self.nommu, self.mmu
        if a.status != b.status or a.frames != b.frames:
            return True
        name = self.call.split(".", 1)[-1].split("(", 1)[0]
        return a.ok and name in READ_CALLS and a.value != b.value

    @property
    def kernel_bugs(self) -> list[tuple[str, str]]:
        """``(side, rule)`` for each known Linux 6.12 bug the call ran into on either kernel."""
        return [(side, rule) for side, o in self.outcomes for rule in o.kernel_bugs]

    @property
    def mark(self) -> str:
        """Two characters: ``*`` if the kernels differ, ``!`` if a known kernel bug fired."""
        return ("*" if self.differs else " ") + ("!" if self.kernel_bugs else " ")

    def describe(self, max_events: int = 6) -> str:
        """The call on each kernel: what it returned and the decisions that explain it.

        At most ``max_events`` decisions per kernel, but a known kernel bug is never left out.
        """
        lines = [f"#{self.index} {self.call}"]
        for side, o in self.outcomes:
            head = f"  {side + ':':<8}"
            if o.not_called:
                lines.append(head + "not called (the program stopped or took another path)")
                continue
            if o.skipped:
                lines.append(head + "skipped (an earlier call it depends on failed)")
                continue
            what = f"{o.errno}: {o.sentence}" if o.errno else f"{o.summary}, {o.frames:+d} frame(s)"
            lines.append(head + what)
            events = [e for e in o.decisive() if e.kind is not EventKind.REFUSED]
            shown = events[:max_events] + [e for e in events[max_events:]
                                            if e.rule.startswith(KERNEL_BUG_PREFIX)]
            lines += [f"           {e.rule}: {e.text}" for e in shown]
            if len(shown) < len(events):
                lines.append(f"           (and {len(events) - len(shown)} more decision(s))")
        return "\n".join(lines)


def _frames(o: Outcome) -> str:
    """Frames a call took (``+4``), gave back (``-2``), or ``.`` if it did not run."""
    return "." if o.skipped or o.not_called else f"{o.frames:+d}"


@dataclass
class CompareResult:
    """A program run on both kernels: calls side by side, maps, memory, differences.

    ``str(result)`` is the whole report; its parts are :meth:`calls_text`,
    :meth:`memory_text`, :meth:`maps_text`, :meth:`kernel_bugs_text` and
    :meth:`differences_text`, and ``result.row(n).describe()`` explains one call.
    """

    title: str
    doc: str
    nommu: Side
    mmu: Side
    rows: list[Row]

    @property
    def sides(self) -> tuple[Side, Side]:
        return self.nommu, self.mmu

    def row(self, index: int) -> Row:
        """Call number ``index`` (1-based, as printed)."""
        return self.rows[index - 1]

    def differences(self) -> list[Row]:
        """The calls where the two kernels decided differently."""
        return [r for r in self.rows if r.differs]

    def kernel_bugs(self) -> list[Row]:
        """The calls where a known Linux 6.12 bug fired on either kernel."""
        return [r for r in self.rows if r.kernel_bugs]

    # ------------------------------------------------------------ plain text
    def legend(self) -> list[str]:
        """What the marks and names of the call table mean (only those it uses)."""
        out = ["* = the kernels answered differently; #n = the address call n returned "
               "(#n+0x10: 16 bytes further)"]
        if self.kernel_bugs():
            out.append("! = a known Linux 6.12 bug fired on this call: see \"known Linux 6.12 "
                       "bugs\" below")
        labels = {label for side in self.sides for label in side.maps if label != "p"}
        failed = any(r.nommu.skipped or r.mmu.skipped for r in self.rows)
        if labels or failed:
            parts = []
            if labels:
                parts.append("cN = the process call N created (k.spawn, fork, vfork or clone)")
            if failed:
                parts.append("<#n> = what call n would have returned, had it not failed")
            out.append("; ".join(parts))
        if any(r.worded_differently for r in self.rows):
            out.append("a | b = the call as written on no-MMU | on the MMU: the same program "
                       "line, naming different addresses or processes")
        return out

    def calls_text(self, frames: bool = False) -> str:
        """The call table: each call's result on both kernels, with its legend.

        ``frames=True`` adds what each call took from the page allocator on each
        kernel (``+4``: four frames taken, ``-2``: two given back).
        """
        w = max([len(r.call) for r in self.rows] + [4])
        c1 = max([len(r.nommu.summary) for r in self.rows] + [6])
        c2 = max([len(r.mmu.summary) for r in self.rows] + [3])
        head = f"   #  {'call':<{w}}  {'no-MMU':<{c1}}  {'MMU':<{c2}}"
        out = [(head + "  frames: no-MMU  MMU" if frames else head).rstrip()]
        for r in self.rows:
            line = f"{r.mark}{r.index:>2}  {r.call:<{w}}  {r.nommu.summary:<{c1}}  {r.mmu.summary:<{c2}}"
            if frames:
                line += f"  {_frames(r.nommu):>14}  {_frames(r.mmu):>3}"
            out.append(line.rstrip())
        out += ["  " + line for line in self.legend()]
        return "\n".join(out)

    def memory_text(self) -> str:
        """MemFree, what the program holds and took, MmapCopy, bytes the kernel cleared."""
        out = ["memory (kB)            no-MMU      MMU"]
        for label, a, b in (
            ("MemFree before", self.nommu.before["MemFree"], self.mmu.before["MemFree"]),
            ("MemFree after", self.nommu.after["MemFree"], self.mmu.after["MemFree"]),
            ("held by the program", self.nommu.used_kb, self.mmu.used_kb),
            ("taken by calls", self.nommu.taken_kb, self.mmu.taken_kb),
            ("MmapCopy after", self.nommu.after["MmapCopy"], self.mmu.after["MmapCopy"]),
            ("zeroed by the kernel", self.nommu.zeroed // 1024, self.mmu.zeroed // 1024),
        ):
            out.append(f"  {label:<20} {a:>8} {b:>8}")
        out.append("  (MMU kernels have no MmapCopy line in /proc/meminfo: shown as 0)")
        return "\n".join(out)

    def maps_text(self) -> str:
        """Each process's /proc/<pid>/maps on both kernels, and where each mapping is in RAM."""
        out: list[str] = []
        for side in self.sides:
            if out:
                out.append("")
            out.append(f"{side.name} maps")
            for label, text in side.maps.items():
                out.append(f"  {label}:")
                body = text.rstrip("\n").splitlines() or ["(no mappings)"]
                out += ["    " + line.rstrip() for line in body]
                if side.frames_of.get(label):
                    out.append("    in RAM:")
                    out += ["      " + line for line in side.frames_of[label]]
            if side.kernel.mmu and any(side.frames_of.values()):
                out.append(f"  ({FRAME_LEGEND})")
            if side.stopped is not None:
                out.append(f"  the program stopped: {side.stopped}")
        return "\n".join(out)

    def kernel_bugs_text(self) -> str:
        """The calls that ran into a known Linux 6.12 bug, and what the model did instead
        (empty if none did)."""
        rows = self.kernel_bugs()
        if not rows:
            return ""
        out = [f"known Linux 6.12 bugs on this program's path ({len(rows)} of {len(self.rows)} "
               "calls): Linux misbehaves here; the model does what the code intends (where Linux "
               "would crash, it refuses the call) and says so"]
        for r in rows:
            out.append(f"  #{r.index} {r.call}")
            for side, o in r.outcomes:
                for rule in o.kernel_bugs:
                    text = o.sentence if o.errno == BUG_ERRNO and rule == o.rule else next(
                        e.text for e in o.events if e.rule == rule)
                    out.append(f"    {side + ':':<8}{rule}: {text}")
        return "\n".join(out)

    def differences_text(self) -> str:
        """Every call where the kernels decided differently, with the decisions behind it."""
        diffs = self.differences()
        out = [f"where the kernels decided differently ({len(diffs)} of {len(self.rows)} calls)"]
        out += ["  " + line for r in diffs for line in r.describe().splitlines()]
        return "\n".join(out)

    def describe(self) -> str:
        """The deterministic plain-text report."""
        out = [f"compare: {self.title}"]
        if self.doc:
            out += ["  " + line for line in self.doc.strip().splitlines()]
        parts = [self.calls_text(), self.memory_text(), self.maps_text(),
                 self.kernel_bugs_text(), self.differences_text()]
        return "\n".join(out) + "\n\n" + "\n\n".join(p for p in parts if p)

    def __str__(self) -> str:
        return self.describe()

    def __repr__(self) -> str:
        return self.describe()

    # ------------------------------------------------------------ rich forms
    def _repr_html_(self) -> str:
        e = html.escape
        rows = []
        for r in self.rows:
            bugs = r.kernel_bugs
            style = (' style="background:#f8d7da"' if bugs
                     else ' style="background:#fff3cd"' if r.differs else "")
            bug_cell = "<br>".join(f"{e(side)}: <code>{e(rule)}</code>" for side, rule in bugs)
            rows.append(f"<tr{style}><td>{e(r.mark.strip())}{r.index}</td><td><code>{e(r.call)}</code></td>"
                        f"<td>{e(r.nommu.summary)}</td><td>{e(r.mmu.summary)}</td>"
                        f"<td>{r.nommu.frames:+d}</td><td>{r.mmu.frames:+d}</td>"
                        f"<td>{bug_cell}</td></tr>")
        maps = "".join(
            f"<td style='vertical-align:top'><b>{e(side.name)}</b>"
            + "".join(f"<div>{e(label)}</div><pre>{e(text)}</pre>" for label, text in side.maps.items())
            + "</td>" for side in self.sides)
        legend = "".join(f"<div><small>{e(line)}</small></div>" for line in self.legend())
        bugs = self.kernel_bugs_text()
        bug_block = f"<pre style='background:#f8d7da'>{e(bugs)}</pre>" if bugs else ""
        return (f"<div><h4>{e(self.title)}</h4><p>{e(self.doc)}</p>"
                "<table><tr><th>#</th><th>call</th><th>no-MMU</th><th>MMU</th>"
                "<th>frames no-MMU</th><th>frames MMU</th><th>known kernel bug</th></tr>"
                + "".join(rows) + "</table>" + legend + bug_block +
                f"<p>held by the program: no-MMU {self.nommu.used_kb} kB, MMU {self.mmu.used_kb} kB; "
                f"zeroed: no-MMU {self.nommu.zeroed // 1024} kB, MMU {self.mmu.zeroed // 1024} kB</p>"
                f"<table><tr>{maps}</tr></table></div>")

    def widget(self) -> Any:
        """An ipywidgets view: the call table, the maps of both kernels, the differences
        (and the known kernel bugs the program ran into, if any)."""
        import ipywidgets as w

        table = w.HTML(self._repr_html_())
        text = "\n\n".join(p for p in (self.kernel_bugs_text(), self.differences_text()) if p)
        diffs = w.HTML("<pre>" + html.escape(text) + "</pre>")
        tabs = w.Tab(children=[table, diffs])
        tabs.set_title(0, "side by side")
        tabs.set_title(1, "known bugs and differences" if self.kernel_bugs() else "where they differ")
        return tabs


def compare(program: Callable[[Any], Any], board: Callable[..., Kernel] | None = None) -> CompareResult:
    """Run ``program`` on ``board(mmu=False)`` and ``board(mmu=True)``; see the module doc.

    ``program`` receives a process (a recording stand-in for it) and makes
    calls; a refused call is recorded, not fatal. ``board`` defaults to
    :func:`nommu_lab.boards.default`.
    """
    if board is None:
        from .boards import default as board
    if not callable(program):
        raise TypeError("program must be a function taking a process")
    left = _run(program, board, mmu=False)
    right = _run(program, board, mmu=True)
    rows = []
    for i in range(max(len(left.calls), len(right.calls))):
        a = left.calls[i] if i < len(left.calls) else Outcome("(not called)", not_called=True)
        b = right.calls[i] if i < len(right.calls) else Outcome("(not called)", not_called=True)
        same = a.call == b.call or b.call == "(not called)"
        rows.append(Row(i + 1, a.call if same else f"{a.call} | {b.call}", a, b, not same))
    title = getattr(program, "title", None) or getattr(program, "__name__", "program")
    doc = getattr(program, "summary", None) or (program.__doc__ or "").strip()
    return CompareResult(title, doc, left, right, rows)


class _CallableModule(types.ModuleType):
    """``nl.compare(...)`` keeps working after ``nommu_lab.compare`` (this module) is imported.

    Importing a submodule binds it as an attribute of its package, which
    would shadow the lazily exported function of the same name; calling the
    module calls the function.
    """

    def __call__(self, program: Callable[[Any], Any],
                 board: Callable[..., Kernel] | None = None) -> CompareResult:
        return compare(program, board)


sys.modules[__name__].__class__ = _CallableModule
