"""Record the calls made on a kernel, step back and forth through them, replay them.

A *recording* is the list of calls a lecturer (or a learner) made, each a
``(pid, call, args)`` triple: ``pid`` is the process that made the syscall, or
``None`` for a call on the kernel itself (``spawn``, ``sysctl``, flash
operations, ``register_driver``). It is plain JSON, so a lecturer can hand it
out and learners can replay it. A driver registered with
``register_driver(path, nl.SimpleDriver(...))`` is recorded by its parameters
(:class:`DriverSpec`), and each replay builds a fresh driver from them, so two
machines never share one driver object.

Replaying works because the model is deterministic: the same calls on the same
starting machine give the same pids, addresses and pages. :class:`Session`
keeps the starting machine (a factory or a snapshot), so going to call *n*
means "start again and make the first *n* calls". No widget is imported here:
a grader or a script can use it as it is.

>>> import nommu_lab as nl
>>> s = Session(nl.boards.default())
>>> p = s.call(None, "spawn", "app")
>>> a = s.call(p.pid, "mmap", 0, 4096, 3, 0x22)
>>> _ = s.back(); len(s.kernel.processes[p.pid].vmas())
0
"""

from __future__ import annotations

import importlib
import json
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .kernel import Kernel, KernelError
from .kernel.callfmt import format_call
from .kernel.devices import SimpleDriver
from .kernel.vfs import FileOperations, capability_names

FORMAT_VERSION = 1
ADDRESS_CALLS = frozenset({"mmap", "mremap", "shmat"})  # calls whose result is an address
COMPRESS_ABOVE = 32 << 20  # starting snapshots larger than this are kept zlib-compressed

#: Calls on the kernel itself (pid ``None``) that a session may record.
KERNEL_CALLS = frozenset({"spawn", "sysctl", "mtd_program", "mtd_erase", "mtd_complete",
                          "register_driver"})

#: Process calls a session may record: the syscall surface of :class:`nommu_lab.Process`.
PROCESS_CALLS = frozenset({
    "open", "close", "dup", "read", "write", "pread", "pwrite", "ftruncate", "fstat",
    "unlink", "pipe", "socket", "mmap", "munmap", "mremap", "mprotect", "msync", "madvise",
    "mlock", "brk", "fork", "vfork", "clone", "exit", "execve", "shmget", "shmat", "shmdt",
    "shmctl", "shm_open", "shm_unlink", "futex", "ptrace_attach", "ptrace_peek",
    "ptrace_poke", "poke", "peek", "run",
})


# ---------------------------------------------------------------------------
# a learner's driver, as parameters
# ---------------------------------------------------------------------------
_CAP_NAMES = {"COPY": "NOMMU_MAP_COPY", "DIRECT": "NOMMU_MAP_DIRECT", "READ": "NOMMU_MAP_READ",
              "WRITE": "NOMMU_MAP_WRITE", "EXEC": "NOMMU_MAP_EXEC"}


@dataclass(frozen=True, slots=True)
class DriverSpec:
    """The parameters of a :class:`~nommu_lab.SimpleDriver`: what a recording keeps of it.

    A driver object holds state once registered (its device memory, the
    calls the kernel made on it), so a recording stores how to build it and
    :meth:`build` makes a fresh one for every replay.
    """

    name: str = "mydev"
    capabilities: int | None = None
    memory_pages: int = 4
    unmapped_area: str | int | None = "address"
    mmap_result: int = 0
    readable: bool = True

    @classmethod
    def of(cls, drv: SimpleDriver) -> DriverSpec:
        """The parameters ``drv`` was made with (only SimpleDriver itself can be recorded)."""
        if type(drv) is not SimpleDriver:
            raise TypeError(f"a recording can hold a SimpleDriver, not a {type(drv).__name__}: "
                            "a driver class of your own cannot be rebuilt on replay (register it "
                            "on the kernel directly; time travel will not have it)")
        return cls(drv.name, drv.capabilities, drv.memory_pages, drv.unmapped_area,
                   drv.mmap_result, drv.can_read)

    def build(self) -> SimpleDriver:
        """A new driver with these parameters."""
        return SimpleDriver(self.name, capabilities=self.capabilities,
                            memory_pages=self.memory_pages, unmapped_area=self.unmapped_area,
                            mmap_result=self.mmap_result, readable=self.readable)

    def to_json(self) -> dict[str, Any]:
        """``{"driver": "SimpleDriver", "name": ..., ...}``."""
        return {"driver": "SimpleDriver", "name": self.name, "capabilities": self.capabilities,
                "memory_pages": self.memory_pages, "unmapped_area": self.unmapped_area,
                "mmap_result": self.mmap_result, "readable": self.readable}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DriverSpec:
        """The inverse of :meth:`to_json` (ValueError on anything else)."""
        if d.get("driver") != "SimpleDriver":
            raise ValueError(f"unknown driver {d.get('driver')!r} (a recording holds SimpleDriver)")
        keys = set(d) - {"driver"}
        known = {"name", "capabilities", "memory_pages", "unmapped_area", "mmap_result", "readable"}
        if keys - known:
            raise ValueError(f"unknown SimpleDriver parameter(s): {', '.join(sorted(keys - known))}")
        return cls(**{k: d[k] for k in keys})

    def __repr__(self) -> str:
        caps = ("None" if self.capabilities is None else
                "|".join(_CAP_NAMES[c] for c in capability_names(self.capabilities)) or "0")
        parts = [repr(self.name), f"capabilities={caps}", f"memory_pages={self.memory_pages}"]
        if self.unmapped_area != "address":
            parts.append(f"unmapped_area={self.unmapped_area!r}")
        if self.mmap_result:
            parts.append(f"mmap_result={self.mmap_result}")
        if not self.readable:
            parts.append("readable=False")
        return f"SimpleDriver({', '.join(parts)})"


# ---------------------------------------------------------------------------
# JSON encoding of call arguments
# ---------------------------------------------------------------------------
def _record(v: Any) -> Any:
    """An argument as a recording keeps it: drivers become their parameters."""
    if isinstance(v, SimpleDriver):
        return DriverSpec.of(v)
    if isinstance(v, FileOperations):
        DriverSpec.of(v)  # type: ignore[arg-type]  # raises the sentence about drivers of one's own
    return v


def _encode(v: Any) -> Any:
    """Arguments to JSON: bytes become ``{"hex": ...}``, drivers their parameters,
    tuples become lists."""
    if isinstance(v, bytes | bytearray | memoryview):
        return {"hex": bytes(v).hex()}
    if isinstance(v, DriverSpec):
        return v.to_json()
    if isinstance(v, list | tuple):
        return [_encode(x) for x in v]
    if v is None or isinstance(v, bool | int | str | float):
        return v
    raise TypeError(f"a recorded argument must be an int, str, bytes, list, SimpleDriver or "
                    f"None, not {type(v).__name__}")


def _decode(v: Any) -> Any:
    if isinstance(v, dict):
        if "driver" in v:
            return DriverSpec.from_json(v)
        if set(v) != {"hex"}:
            raise ValueError(f"unknown encoded argument {v!r}")
        return bytes.fromhex(v["hex"])
    if isinstance(v, list):
        return [_decode(x) for x in v]
    return v


def _live(v: Any) -> Any:
    """An argument as the kernel takes it: a driver's parameters become a new driver."""
    return v.build() if isinstance(v, DriverSpec) else v


@dataclass(frozen=True, slots=True)
class Call:
    """One recorded call: who made it, which call, with what arguments."""

    pid: int | None
    name: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()  # keyword arguments, sorted by name

    def __post_init__(self) -> None:
        allowed = KERNEL_CALLS if self.pid is None else PROCESS_CALLS
        if self.name not in allowed:
            who = "the kernel" if self.pid is None else "a process"
            raise ValueError(f"{self.name!r} is not a call {who} can make in a recording")
        _encode(list(self.args))  # fail early on an argument JSON cannot hold
        _encode([v for _, v in self.kwargs])

    @property
    def text(self) -> str:
        """The call as a C programmer writes it, flags named (``kernel.callfmt.format_call``)."""
        return format_call(self.name, self.args, dict(self.kwargs))

    def describe(self) -> str:
        """``pid 1: mmap(0, 0x3000, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)``."""
        who = "kernel" if self.pid is None else f"pid {self.pid}"
        return f"{who}: {self.text}"

    def to_json(self) -> list[Any]:
        """``[pid, name, [args...]]``, plus ``{kwargs}`` when there are any."""
        out = [self.pid, self.name, _encode(list(self.args))]
        if self.kwargs:
            out.append({k: _encode(v) for k, v in self.kwargs})
        return out

    @classmethod
    def from_json(cls, item: Any) -> Call:
        """The inverse of :meth:`to_json` (raises ValueError on a malformed item)."""
        if not isinstance(item, list) or len(item) not in (3, 4):
            raise ValueError(f"a recorded call is [pid, name, args], not {item!r}")
        pid, name, args = item[:3]
        kwargs = item[3] if len(item) == 4 else {}
        if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
            raise ValueError(f"keyword arguments must be an object, not {kwargs!r}")
        if pid is not None and (not isinstance(pid, int) or isinstance(pid, bool)):
            raise ValueError(f"pid must be an int or null, not {pid!r}")
        if not isinstance(name, str) or not isinstance(args, list):
            raise ValueError(f"a recorded call is [pid, name, args], not {item!r}")
        return cls(pid, name, tuple(_decode(a) for a in args),
                   tuple(sorted((k, _decode(v)) for k, v in kwargs.items())))


def apply_call(k: Kernel, call: Call) -> Any:
    """Make one recorded call on a kernel; returns what the call returns.

    Raises whatever the call raises (a refused syscall raises
    :class:`~nommu_lab.KernelError`, exactly as it did when recorded).
    A recorded driver (:class:`DriverSpec`) is built afresh for this kernel.
    """
    return _apply(k, call.pid, call.name, tuple(_live(a) for a in call.args),
                  {n: _live(v) for n, v in call.kwargs})


def _apply(k: Kernel, pid: int | None, name: str, args: tuple[Any, ...],
           kwargs: dict[str, Any]) -> Any:
    if pid is None:
        fn = getattr(k, name, None)
        if fn is None:
            raise KernelError(None, "session.no_such_call",
                              f"this kernel has no {name}() (the model is older than the recording)")
        return fn(*args, **kwargs)
    return getattr(k.process(pid), name)(*args, **kwargs)


@dataclass
class Recording:
    """A board description plus the calls made on it, as JSON.

    ``board`` names the factory that builds the starting machine
    (``"nommu_lab.boards:default"``) and ``board_kwargs`` its keywords, so a
    recording can be replayed anywhere.
    """

    calls: list[Call] = field(default_factory=list)
    board: str | None = "nommu_lab.boards:default"
    board_kwargs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """The recording as a JSON document (stable key order, one call a line)."""
        head = {"format": "nommu-lab-session", "version": FORMAT_VERSION,
                "board": self.board, "board_kwargs": self.board_kwargs}
        body = ",\n  ".join(json.dumps(c.to_json()) for c in self.calls)
        text = json.dumps(head, sort_keys=True)[:-1]
        return f'{text}, "calls": [\n  {body}\n]}}\n' if self.calls else f'{text}, "calls": []}}\n'

    @classmethod
    def from_json(cls, text: str) -> Recording:
        """Parse a recording; ValueError with a readable message if it is not one."""
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"not JSON: {e.msg} at line {e.lineno}") from None
        if not isinstance(doc, dict) or doc.get("format") != "nommu-lab-session":
            raise ValueError("not a nommu-lab session recording (no \"format\": \"nommu-lab-session\")")
        if doc.get("version") != FORMAT_VERSION:
            raise ValueError(f"recording version {doc.get('version')!r}; this lab reads {FORMAT_VERSION}")
        calls = doc.get("calls")
        if not isinstance(calls, list):
            raise ValueError("the recording has no list of calls")
        kwargs = doc.get("board_kwargs") or {}
        if not isinstance(kwargs, dict):
            raise ValueError("board_kwargs must be an object")
        return cls([Call.from_json(c) for c in calls], doc.get("board"), kwargs)

    def factory(self) -> Callable[[], Kernel]:
        """The function that builds this recording's starting machine."""
        if not self.board:
            raise ValueError("the recording names no board to start from")
        mod_name, _, attr = self.board.partition(":")
        if not mod_name.startswith("nommu_lab"):
            raise ValueError(f"board factory {self.board!r} is not part of nommu_lab")
        fn = getattr(importlib.import_module(mod_name), attr)
        kwargs = dict(self.board_kwargs)
        return lambda: fn(**kwargs)

    def replay(self, factory: Callable[[], Kernel] | None = None) -> Kernel:
        """Build the starting machine and make every call; refusals are replayed too."""
        k = (factory or self.factory())()
        for c in self.calls:
            try:
                apply_call(k, c)
            except KernelError:
                pass
        return k


# ---------------------------------------------------------------------------
# a live session with time travel
# ---------------------------------------------------------------------------
def format_result(name: str, result: Any, error: KernelError | None = None) -> str:
    """What a call returned, as C would print it: ``= 0x80108000``, ``= -1 EINVAL (rule)``."""
    if error is not None:
        return f"= -1 {error.errno_name} ({error.rule})"
    pid = getattr(result, "pid", None)
    if isinstance(pid, int):
        return f"= pid {pid}"
    if result is None:
        return "= 0"
    if isinstance(result, bytes | bytearray):
        b = bytes(result)
        return "= " + (repr(b[:24]) + f"...({len(b)} bytes)" if len(b) > 24 else repr(b))
    if isinstance(result, bool):
        return f"= {int(result)}"
    if isinstance(result, int):
        return f"= {result:#x}" if name in ADDRESS_CALLS else f"= {result}"
    if isinstance(result, tuple):
        return "= " + ", ".join(str(x) for x in result)
    return f"= {getattr(result, 'name', type(result).__name__)}"  # a driver, a stat


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one call through a session did: its result or its refusal."""

    call: Call
    result: Any = None
    error: KernelError | None = None

    @property
    def ok(self) -> bool:
        """True when the call succeeded."""
        return self.error is None

    def describe(self) -> str:
        """``pid 1: mmap(...) = 0x80108000``, or the refusal with the kernel's sentence."""
        text = f"{self.call.describe()} {format_result(self.call.name, self.result, self.error)}"
        if self.error is not None:
            text += f": {self.error.sentence}"
        return text


class Session:
    """A kernel, the calls made on it, and a position in that history.

    ``kernel`` is the machine as it is after ``position`` calls. Making a
    call while stepped back drops the calls after the position (as an editor's
    undo does). Going back rebuilds the machine: from ``factory()`` when one
    is given, otherwise from a snapshot of the kernel taken when the session
    started. Observers registered with :meth:`on_kernel_change` hear about
    every new kernel object, so views can watch the right machine. (A snapshot
    of a big board is kept compressed: its RAM is mostly zeros.)

    Invariant: ``kernel`` is always the state reached by replaying
    ``calls[:position]`` on the starting machine.
    """

    def __init__(self, kernel: Kernel | None = None, factory: Callable[[], Kernel] | None = None,
                 board: str | None = None, board_kwargs: dict[str, Any] | None = None) -> None:
        if kernel is None and factory is None:
            raise ValueError("give a kernel, a factory, or both")
        self._factory = factory
        self.kernel: Kernel = kernel if kernel is not None else factory()  # type: ignore[misc]
        self._base: bytes | None = None
        self._base_packed = False
        if factory is None:
            blob = self.kernel.snapshot()
            if len(blob) > COMPRESS_ABOVE:  # mostly-empty RAM of a big board: keep it small
                blob, self._base_packed = zlib.compress(blob, 1), True
            self._base = blob
        self.calls: list[Call] = []
        self.position = 0
        # per call made on the current kernel object: the trace position before it
        # and its outcome (len == position), so a view can show what call n did
        self._applied: list[tuple[int, Outcome]] = []
        self.board = board  # informational: which factory built the starting machine
        self.board_kwargs = dict(board_kwargs or {})
        self._kernel_listeners: list[Callable[[Kernel], None]] = []
        self.last: Outcome | None = None
        self._mark = self._fingerprint()

    # ----------------------------------------------------------- observers
    def on_kernel_change(self, fn: Callable[[Kernel], None]) -> None:
        """Call ``fn(new_kernel)`` whenever time travel replaces the kernel object."""
        self._kernel_listeners.append(fn)

    def _fingerprint(self) -> tuple[int, int, int, int]:
        """Cheap signs of change: syscalls, trace events, frame changes, processes."""
        k = self.kernel
        return (k.syscalls, k.trace.last_seq, k.mem.version, len(k.processes))

    @property
    def outside_changes(self) -> bool:
        """True if the kernel changed by calls this session did not make (they are not recorded)."""
        return self._fingerprint() != self._mark

    def _set_kernel(self, k: Kernel) -> None:
        self.kernel = k
        self._mark = self._fingerprint()
        for fn in list(self._kernel_listeners):
            fn(k)

    # ---------------------------------------------------------------- calls
    def call(self, pid: int | None, name: str, *args: Any, **kwargs: Any) -> Any:
        """Make a call and record it; returns its result, raises a KernelError if refused.

        A refused call is recorded too: it is part of what happened, and
        replaying it refuses it again without changing anything.
        """
        c = Call(pid, name, tuple(_record(a) for a in args),
                 tuple(sorted((n, _record(v)) for n, v in kwargs.items())))
        del self.calls[self.position:]
        self.calls.append(c)
        self.position += 1
        seq = self.kernel.trace.last_seq
        try:
            # the live call gets the caller's own objects (a learner's driver keeps
            # its log of calls); replays build them again from the recording
            result = _apply(self.kernel, pid, name, tuple(args), dict(kwargs))
        except KernelError as e:
            self._done(seq, Outcome(c, error=e))
            raise
        except Exception:
            # not a refusal but a programming error (TypeError, ValueError):
            # nothing happened in the kernel, so it is not part of the history
            self.calls.pop()
            self.position -= 1
            raise
        self._done(seq, Outcome(c, result=result))
        return result

    def _done(self, seq: int, outcome: Outcome) -> None:
        self.last = outcome
        del self._applied[self.position - 1:]
        self._applied.append((seq, outcome))
        self._mark = self._fingerprint()

    def try_call(self, pid: int | None, name: str, *args: Any, **kwargs: Any) -> Outcome:
        """Like :meth:`call` but returns an :class:`Outcome` instead of raising a refusal."""
        try:
            self.call(pid, name, *args, **kwargs)
        except KernelError:
            pass
        assert self.last is not None
        return self.last

    def restart(self, factory: Callable[[], Kernel], board: str | None = None,
                board_kwargs: dict[str, Any] | None = None) -> Kernel:
        """Start over on another machine: no calls, position 0 (a lecture deck
        brings its own board)."""
        self._factory = factory
        self._base, self._base_packed = None, False
        self.calls = []
        self.position = 0
        self._applied = []
        self.board = board
        self.board_kwargs = dict(board_kwargs or {})
        self.last = None
        self._set_kernel(factory())
        return self.kernel

    # ----------------------------------------------------------- time travel
    def _start(self) -> Kernel:
        if self._factory is not None:
            return self._factory()
        assert self._base is not None
        return Kernel.restore(zlib.decompress(self._base) if self._base_packed else self._base)

    def goto(self, position: int) -> Kernel:
        """Show the machine after the first ``position`` calls (clamped to the history)."""
        position = max(0, min(int(position), len(self.calls)))
        if position == self.position:
            return self.kernel
        if position > self.position and len(self._applied) == self.position:
            k = self.kernel
            start = self.position
        else:
            k = self._start()
            start = 0
            self._applied = []
        for c in self.calls[start:position]:
            seq = k.trace.last_seq
            try:
                out = Outcome(c, result=apply_call(k, c))
            except KernelError as e:
                out = Outcome(c, error=e)
            self._applied.append((seq, out))
        self.position = position
        self.last = self._applied[-1][1] if self._applied else None
        self._set_kernel(k)
        return k

    def outcome(self, n: int | None = None) -> Outcome | None:
        """What call ``n`` (1-based; default: the last one made) did on the current machine."""
        n = self.position if n is None else n
        return self._applied[n - 1][1] if 1 <= n <= len(self._applied) else None

    def events_of(self, n: int | None = None) -> list[Any]:
        """The trace events of call ``n`` (1-based; default: the last one made), oldest first."""
        n = self.position if n is None else n
        if not 1 <= n <= len(self._applied):
            return []
        start = self._applied[n - 1][0]
        end = self._applied[n][0] if n < len(self._applied) else self.kernel.trace.last_seq
        return [e for e in self.kernel.trace.since(start) if e.seq <= end]

    def back(self) -> Kernel:
        """One call back."""
        return self.goto(self.position - 1)

    def forward(self) -> Kernel:
        """One call forward (after stepping back)."""
        return self.goto(self.position + 1)

    @property
    def can_back(self) -> bool:
        """Whether there is a call to step back over."""
        return self.position > 0

    @property
    def can_forward(self) -> bool:
        """Whether there is a call to step forward to."""
        return self.position < len(self.calls)

    # ------------------------------------------------------------ recordings
    def recording(self) -> Recording:
        """Every call made so far (including any after the current position)."""
        return Recording(list(self.calls), self.board, dict(self.board_kwargs))

    def to_json(self) -> str:
        """The recording as JSON."""
        return self.recording().to_json()

    def save(self, path: str) -> None:
        """Write the recording to a JSON file."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_json())

    def load_file(self, path: str, replay_to_end: bool = True) -> Kernel:
        """Replay a recording saved with :meth:`save`."""
        with open(path, encoding="utf-8") as f:
            return self.load(f.read(), replay_to_end)

    def load(self, recording: Recording | str, replay_to_end: bool = True) -> Kernel:
        """Start over from this session's starting machine with a recording's calls.

        Builds the starting machine, then goes to the end of the recording
        (or stays at call 0 with ``replay_to_end=False``, ready to step).
        """
        rec = Recording.from_json(recording) if isinstance(recording, str) else recording
        self.calls = list(rec.calls)
        self.position = 0
        self._applied = []
        self.last = None
        self._set_kernel(self._start())
        if replay_to_end:
            self.goto(len(self.calls))
        return self.kernel

    def describe(self) -> str:
        """The history as text, with a marker at the current position."""
        lines = [f"session: call {self.position} of {len(self.calls)}"]
        for i, c in enumerate(self.calls, 1):
            mark = ">" if i == self.position else " "
            lines.append(f"{mark}{i:3} {c.describe()}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Session call {self.position} of {len(self.calls)}>"


def record_of(calls: Sequence[tuple[int | None, str, Sequence[Any]]]) -> Recording:
    """A recording from plain ``(pid, call, args)`` triples."""
    return Recording([Call(pid, name, tuple(args)) for pid, name, args in calls])
