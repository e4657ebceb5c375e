"""The scenario language: small text files a lecturer can read.

A ``.scn`` file holds one or more scenarios; all scenarios of one file run in
one boot of the real kernel (a *group*).  Example::

    # Anonymous private mappings take a power-of-two block from the buddy
    # allocator and give back the pages they do not need.
    scenario anon_trim_default
      doc:  A 3-page anonymous mapping takes an order-2 block (4 pages) and,
      doc:  with vm.nr_trim_pages = 1, frees the fourth page again.
      rule: do_mmap_private, nr_trim_pages (mm/nommu.c)
      case: 1
      m0 = meminfo
      a  = mmap 0 3p PROT_READ|PROT_WRITE MAP_PRIVATE|MAP_ANONYMOUS
      m1 = meminfo
      maps
      munmap a 3p
    end

Lines
    ``[label [label2] =] [process:] operation argument...  [!bug N] [!model] [!reuse]``

    * A label names the result of the step (an address, a file descriptor, a
      segment id, a process).  ``r w = pipe`` names both ends of a pipe.
    * ``process:`` says who makes the call; the default is ``p``, the process
      every scenario starts with.  ``q = spawn`` starts another process with
      its own mm; ``c = p: vfork`` and ``t = p: clone CLONE_VM`` make children.
    * ``!bug N`` marks a step where Linux 6.12 shows known kernel bug N
      (numbered in docs/linux-vs-document.md): the model follows the
      intended behaviour and a difference there is reported as that bug,
      not as a failure.  ``!reuse`` asks the comparison to check that the
      address is the one of an earlier, already unmapped mapping.
    * ``!model`` marks a step where the model knowingly answers otherwise
      than Linux 6.12, a simplification its trace names at that call (the
      scenario's doc says which); a difference there is reported as such,
      not as a failure.
    * ``!sleeps`` marks a ``futex ADDR FUTEX_WAIT VAL`` that sleeps until a
      later ``FUTEX_WAKE`` step of another process wakes it; until then the
      sleeping process makes no call.  An unmarked wait gives up after 50 ms
      on the real side: give a timeout (``futex a FUTEX_WAIT 0 1000000``,
      in ns) when the wait is meant to time out.

Numbers
    ``4096``, ``0x1000``, ``4k``, ``3p`` (pages of 4096 bytes), ``1m``,
    labels (``a``), and sums (``a+1p``, ``a-16``, ``2p+5``).

Flags
    Linux names joined with ``|``: ``PROT_READ|PROT_EXEC``,
    ``MAP_PRIVATE|MAP_ANONYMOUS``, ``O_RDWR|O_CREAT``, ``IPC_CREAT|0600``.

Data
    ``"text\\n"`` (Python escapes), ``hex:00ff10``, ``pattern(N)``
    (``bytes(i % 251 for i in range(N))``, the board's pattern.bin),
    ``pattern(N, START)`` (the same bytes from position START on),
    ``fill(N, 0x41)``.

Filling RAM
    ``fill FD CHUNK`` writes CHUNK bytes again and again until a write is
    refused (or its process killed): a ramfs file then fills RAM on any board.
    ``hog LEN`` maps LEN-byte anonymous private copies until one is refused
    (or its process killed): the refusal is the answer, not how many fitted.

Processes as arguments
    ``ptrace_attach q``, ``ptrace_peek q ADDR``, ``ptrace_poke q ADDR DATA``
    (PEEKDATA/POKEDATA: one 8-byte word).

Operations (arguments in the order of the system call)
    see :data:`OPS`.  ``maps`` prints the process's ``/proc/PID/maps``,
    ``procmaps`` the system-wide ``/proc/maps``, ``meminfo`` reads
    ``MmapCopy`` (kB), ``buddyinfo`` reads ``/proc/buddyinfo`` (compared by
    its shape: zone names, number of orders, format; not the counts), ``sysctl vm.nr_trim_pages = 0`` writes a sysctl and
    ``t = sysctl vm.nr_trim_pages`` reads it.
"""

from __future__ import annotations

import ast
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from nommu_lab.fidelity.linux import PAGE_SIZE, SYMBOLS

SCENARIO_DIR = Path(__file__).with_name("scenarios")
MAX_PROCS = 8
MAX_STEPS = 4000


class ScenarioError(ValueError):
    """A mistake in a scenario file, with the file name and line number."""

    def __init__(self, where: str, line: int, message: str) -> None:
        super().__init__(f"{where}:{line}: {message}")
        self.where = where
        self.line = line
        self.message = message


# Argument kinds: "num" an integer expression, "flags" names joined by |,
# "data" bytes, "path" a string, "proc" a process of the scenario.
# op -> (argument kinds, number of required arguments, result kind)
#   result kinds: "addr" an address, "fd", "fds" (two), "id", "proc", "count"
#   (a number worth comparing), "none" (success or errno only), "bytes",
#   "maps", "meminfo", "buddyinfo" (/proc/buddyinfo: compared by shape), "value".
OPS: dict[str, tuple[tuple[str, ...], int, str]] = {
    "spawn": ((), 0, "proc"),
    "open": (("path", "flags", "flags"), 2, "fd"),
    "shm_open": (("path", "flags", "flags"), 2, "fd"),
    "close": (("num",), 1, "none"),
    "ftruncate": (("num", "num"), 2, "none"),
    "write": (("num", "data"), 2, "count"),
    "pwrite": (("num", "data", "num"), 3, "count"),
    "fill": (("num", "num"), 2, "count"),
    "hog": (("num",), 1, "none"),
    "read": (("num", "num"), 2, "bytes"),
    "pread": (("num", "num", "num"), 3, "bytes"),
    "fstat": (("num",), 1, "count"),
    "pipe": ((), 0, "fds"),
    "mmap": (("num", "num", "flags", "flags", "num", "num"), 4, "addr"),
    "munmap": (("num", "num"), 2, "none"),
    "mremap": (("num", "num", "num", "flags", "num"), 4, "addr"),
    "mprotect": (("num", "num", "flags"), 3, "none"),
    "shmget": (("num", "num", "flags"), 3, "id"),
    "shmat": (("num", "num", "flags"), 3, "addr"),
    "shmdt": (("num",), 1, "none"),
    "futex": (("num", "flags", "num", "num"), 3, "count"),
    "peek": (("num", "num"), 2, "bytes"),
    "poke": (("num", "data"), 2, "none"),
    "ptrace_attach": (("proc",), 1, "none"),
    "ptrace_peek": (("proc", "num"), 2, "bytes"),
    "ptrace_poke": (("proc", "num", "data"), 3, "none"),
    "fork": ((), 0, "none"),
    "vfork": ((), 0, "proc"),
    "clone": (("flags",), 1, "proc"),
    "exec": (("path",), 1, "none"),
    "exit": (("num",), 0, "none"),
    "maps": ((), 0, "maps"),
    "procmaps": ((), 0, "maps"),
    "meminfo": ((), 0, "meminfo"),
    "buddyinfo": ((), 0, "buddyinfo"),
    "sysctl": ((), 0, "value"),  # parsed specially
}

DEFAULTS: dict[str, tuple[int, ...]] = {
    "mmap": (0, 0, 0, 0, -1, 0),
    "mremap": (0, 0, 0, 0, 0),
    "open": (0, 0, 0),
    "shm_open": (0, 0, 0o600),
    "exit": (0,),
    "futex": (0, 0, 0, -1),  # timeout in ns; -1: none given
}

SYSCTLS = {"vm.nr_trim_pages"}

# operations no process of the scenario makes (on the real side the director
# answers them): they run whatever state the scenario's processes are in
_MACHINE_OPS = ("spawn", "procmaps", "meminfo", "buddyinfo", "sysctl")


@dataclass(frozen=True)
class Proc:
    """A process of the scenario named as an argument (its pid on each side)."""

    name: str


@dataclass(frozen=True)
class Ref:
    """A reference to an earlier result: ``label`` (+ ``offset`` bytes)."""

    step: int
    which: int  # 0, or 1 for the second label of ``r w = pipe``
    label: str
    offset: int = 0


Arg = int | bytes | str | Ref | Proc


@dataclass
class Step:
    """One call of a scenario."""

    index: int
    line: int
    proc: str  # the process making the call (or the one read, for maps)
    op: str
    args: list[Arg]
    labels: list[str] = field(default_factory=list)
    bugs: list[int] = field(default_factory=list)
    check_reuse: bool = False
    sleeps: bool = False  # a FUTEX_WAIT expected to sleep until another step wakes it
    simplified: bool = False  # !model: the model knowingly differs from Linux here
    new_proc: str | None = None  # the process a spawn/vfork/clone creates
    text: str = ""  # the source line, for reports

    @property
    def result_kind(self) -> str:
        return OPS[self.op][2]


@dataclass
class Scenario:
    """A named sequence of steps with its documentation."""

    name: str
    group: str
    line: int
    doc: str = ""
    rule: str = ""
    case: str = ""
    bugs: list[int] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    procs: list[str] = field(default_factory=lambda: ["p"])
    source: str = ""

    @property
    def id(self) -> str:
        return f"{self.group}/{self.name}"

    @property
    def digest(self) -> str:
        """Hash of the scenario's text: a recorded transcript is stale when it differs."""
        return hashlib.sha256(self.source.encode()).hexdigest()[:16]

    def step_bugs(self, step: Step) -> list[int]:
        """The known kernel bugs a difference at ``step`` is attributed to."""
        if step.bugs:
            return step.bugs
        if self.bugs and not any(s.bugs for s in self.steps):
            return self.bugs
        return []


_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_NUM = re.compile(r"(0x[0-9a-fA-F]+|\d+)([kKmMpP]?)\Z")
_UNITS = {"": 1, "k": 1024, "m": 1 << 20, "p": PAGE_SIZE}


def _tokens(where: str, lineno: int, text: str) -> list[str]:
    """Split on blanks, keeping quoted strings and parenthesised calls whole."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        j = i
        depth = 0
        while j < n and (depth or not text[j].isspace()):
            ch = text[j]
            if ch == '"':
                k = j + 1
                while k < n and text[k] != '"':
                    k += 2 if text[k] == "\\" else 1
                if k >= n:
                    raise ScenarioError(where, lineno, "unterminated string")
                j = k + 1
                continue
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            j += 1
        out.append(text[i:j])
        i = j
    return out


class _Parser:
    def __init__(self, where: str, group: str) -> None:
        self.where = where
        self.group = group

    def err(self, line: int, msg: str) -> ScenarioError:
        return ScenarioError(self.where, line, msg)

    # ----------------------------------------------------------- values
    def number(self, sc: _State, line: int, tok: str) -> int | Ref:
        parts = re.split(r"([+-])", tok)
        if parts and parts[0] == "":
            parts = ["0", *parts[1:]]
        total = 0
        ref: Ref | None = None
        sign = 1
        for part in parts:
            if part == "+":
                sign = 1
                continue
            if part == "-":
                sign = -1
                continue
            m = _NUM.match(part)
            if m:
                total += sign * int(m.group(1), 0) * _UNITS[m.group(2).lower()]
            elif part in SYMBOLS:
                total += sign * SYMBOLS[part]
            elif _LABEL.match(part):
                if part not in sc.labels:
                    raise self.err(line, f"unknown label {part!r} (define it with '{part} = ...' first)")
                if ref is not None or sign < 0:
                    raise self.err(line, f"{tok!r}: only one label, added, per number")
                step, which = sc.labels[part]
                ref = Ref(step, which, part)
            else:
                raise self.err(line, f"cannot read {part!r} as a number")
        if ref is not None:
            return Ref(ref.step, ref.which, ref.label, total)
        return total

    def flags(self, line: int, tok: str) -> int:
        value = 0
        for part in tok.split("|"):
            if part in SYMBOLS:
                value |= SYMBOLS[part]
                continue
            try:
                value |= int(part, 8) if re.fullmatch(r"0[0-7]+", part) else int(part, 0)
            except ValueError:
                raise self.err(line, f"unknown flag {part!r}") from None
        return value

    def data(self, line: int, tok: str) -> bytes:
        if tok.startswith('"'):
            try:
                val = ast.literal_eval(tok)
            except (ValueError, SyntaxError):
                raise self.err(line, f"bad string {tok}") from None
            if not isinstance(val, str):
                raise self.err(line, f"bad string {tok}")
            try:
                return val.encode("latin-1")
            except UnicodeEncodeError:
                raise self.err(line, f"{tok}: only characters up to \\xff (use hex: for bytes)") from None
        if tok.startswith("hex:"):
            try:
                return bytes.fromhex(tok[4:])
            except ValueError:
                raise self.err(line, f"bad hex data {tok!r}") from None
        m = re.fullmatch(r"pattern\((\w+)(?:,\s*(\w+))?\)", tok)
        if m:
            n = self.plain(line, m.group(1))
            start = self.plain(line, m.group(2)) if m.group(2) else 0
            return bytes((start + i) % 251 for i in range(n))
        m = re.fullmatch(r"fill\((\w+),\s*(\w+)\)", tok)
        if m:
            n = self.plain(line, m.group(1))
            return bytes([self.plain(line, m.group(2)) & 0xFF]) * n
        raise self.err(line, f"cannot read {tok!r} as data (\"text\", hex:.., pattern(N), fill(N, B))")

    def plain(self, line: int, tok: str) -> int:
        m = _NUM.match(tok)
        if not m:
            raise self.err(line, f"{tok!r} is not a number")
        return int(m.group(1), 0) * _UNITS[m.group(2).lower()]

    def path(self, line: int, tok: str) -> str:
        if tok.startswith('"'):
            return self.data(line, tok).decode("latin-1")
        if not tok.startswith("/"):
            raise self.err(line, f"a path starts with '/': {tok!r}")
        return tok

    def sysctl(self, sc: _State, line: int, step: Step, rest: list[str]) -> None:
        toks = " ".join(rest).replace("=", " = ").split()
        if not toks or toks[0] not in SYSCTLS:
            raise self.err(line, f"sysctl NAME [= VALUE], NAME one of {sorted(SYSCTLS)}")
        step.args.append(toks[0])
        if len(toks) == 3 and toks[1] == "=":
            step.args.append(self.plain(line, toks[2]))
        elif len(toks) != 1:
            raise self.err(line, "write: sysctl vm.nr_trim_pages = 2")

    # ------------------------------------------------------------ parse
    def parse(self, text: str) -> list[Scenario]:
        scenarios: list[Scenario] = []
        sc: _State | None = None
        names: set[str] = set()
        lines = text.splitlines()
        for lineno, raw in enumerate(lines, 1):
            body = raw.split("#", 1)[0] if '"' not in raw else _strip_comment(raw)
            body = body.strip()
            if not body:
                if sc is not None:
                    sc.source.append(raw)
                continue
            if body.startswith("scenario"):
                if sc is not None:
                    raise self.err(lineno, f"scenario {sc.s.name!r} has no 'end'")
                parts = body.split()
                if len(parts) != 2 or not _LABEL.match(parts[1]):
                    raise self.err(lineno, "write: scenario NAME (letters, digits, _)")
                if parts[1] in names:
                    raise self.err(lineno, f"scenario {parts[1]!r} is defined twice")
                names.add(parts[1])
                sc = _State(Scenario(parts[1], self.group, lineno))
                sc.source.append(raw)
                continue
            if sc is None:
                raise self.err(lineno, "a step outside 'scenario NAME' ... 'end'")
            sc.source.append(raw)
            if body == "end":
                sc.finish(self, lineno)
                scenarios.append(sc.s)
                sc = None
                continue
            header = re.match(r"(doc|rule|case|bug):\s*(.*)\Z", body)
            if header:
                key, value = header.groups()
                if len(sc.s.steps) > 1:
                    raise self.err(lineno, f"'{key}:' belongs before the first step")
                if key == "doc":
                    sc.s.doc = f"{sc.s.doc} {value}".strip()
                elif key == "rule":
                    sc.s.rule = f"{sc.s.rule} {value}".strip()
                elif key == "case":
                    sc.s.case = value
                else:
                    try:
                        sc.s.bugs = [int(b) for b in re.split(r"[,\s]+", value) if b]
                    except ValueError:
                        raise self.err(lineno, "write: bug: 1, 4") from None
                continue
            self.step(sc, lineno, body)
        if sc is not None:
            raise self.err(len(lines), f"scenario {sc.s.name!r} has no 'end'")
        if not scenarios:
            raise self.err(1, "no scenario in this file")
        return scenarios

    def step(self, sc: _State, line: int, body: str) -> None:
        bugs: list[int] = []
        reuse = False
        sleeps = False
        simplified = False
        while True:
            m = re.search(r"\s!(bug\s+\d+|reuse|sleeps|model)\s*\Z", " " + body)
            if not m:
                break
            if m.group(1) == "reuse":
                reuse = True
            elif m.group(1) == "model":
                simplified = True
            elif m.group(1) == "sleeps":
                sleeps = True
            else:
                bugs.append(int(m.group(1).split()[1]))
            body = (" " + body)[: m.start()].strip()
        labels: list[str] = []
        if "=" in body.split('"', 1)[0] and not body.startswith("sysctl"):
            left, body = body.split("=", 1)
            labels = left.split()
            body = body.strip()
            for lab in labels:
                if not _LABEL.match(lab) or lab in SYMBOLS:
                    raise self.err(line, f"{lab!r} cannot be a label")
                if lab in sc.labels or lab in sc.s.procs:
                    raise self.err(line, f"label {lab!r} is already used in this scenario")
        proc = "p"
        m = re.match(r"([A-Za-z_]\w*):\s*(.*)\Z", body)
        if m:
            proc, body = m.group(1), m.group(2)
            if proc not in sc.s.procs:
                raise self.err(line, f"no process {proc!r} (known: {', '.join(sc.s.procs)})")
        toks = _tokens(self.where, line, body)
        if not toks:
            raise self.err(line, "an empty step")
        op, rest = toks[0], toks[1:]
        if op not in OPS:
            raise self.err(line, f"unknown operation {op!r}; known: {', '.join(sorted(OPS))}")
        kinds, required, result = OPS[op]
        step = Step(len(sc.s.steps), line, proc, op, [], labels, bugs, reuse, sleeps,
                    simplified=simplified, text=body)
        if op == "sysctl":
            self.sysctl(sc, line, step, rest)
        else:
            if len(rest) < required or len(rest) > len(kinds):
                want = f"{required}" if required == len(kinds) else f"{required} to {len(kinds)}"
                raise self.err(line, f"{op} takes {want} arguments, got {len(rest)}")
            for kind, tok in zip(kinds, rest, strict=False):
                if kind == "num":
                    step.args.append(self.number(sc, line, tok))
                elif kind == "flags":
                    step.args.append(self.flags(line, tok))
                elif kind == "data":
                    step.args.append(self.data(line, tok))
                elif kind == "proc":
                    if tok not in sc.s.procs:
                        raise self.err(line, f"no process {tok!r} (known: {', '.join(sc.s.procs)})")
                    step.args.append(Proc(tok))
                else:
                    step.args.append(self.path(line, tok))
            defaults = DEFAULTS.get(op, ())
            while len(step.args) < len(kinds):
                step.args.append(defaults[len(step.args)] if defaults else 0)
        want_labels = {"fds": 2, "proc": 1}.get(result, 1)
        if labels and len(labels) != want_labels:
            raise self.err(line, f"{op} gives {want_labels} result(s), {len(labels)} label(s) given")
        if result == "proc" and not labels:
            raise self.err(line, f"name the new process: c = {proc}: {op} ...")
        sc.add(self, step)


def _strip_comment(raw: str) -> str:
    out, quoted = [], False
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == "\\" and quoted:
            out.append(raw[i : i + 2])
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        if c == "#" and not quoted:
            break
        out.append(c)
        i += 1
    return "".join(out)


class _State:
    """What the parser knows while reading one scenario."""

    def __init__(self, s: Scenario) -> None:
        self.s = s
        self.labels: dict[str, tuple[int, int]] = {}
        self.source: list[str] = []
        self.alive = {"p"}
        self.suspended: dict[str, str] = {}  # vfork parent -> child
        self.asleep: set[str] = set()  # processes in a !sleeps futex wait
        # every scenario starts with process p (step 0)
        self.s.steps.append(Step(0, s.line, "p", "spawn", [], ["p"], new_proc="p", text="p = spawn"))

    def add(self, parser: _Parser, step: Step) -> None:
        line = step.line
        if len(self.s.steps) >= MAX_STEPS:
            raise parser.err(line, f"more than {MAX_STEPS} steps")
        if step.op not in _MACHINE_OPS:
            if step.proc not in self.alive:
                raise parser.err(line, f"process {step.proc!r} has exited")
            if step.proc in self.suspended and step.op != "maps":
                child = self.suspended[step.proc]
                raise parser.err(
                    line,
                    f"{step.proc!r} is suspended in vfork() until {child!r} calls exec or exit; "
                    "only its maps can be read",
                )
        if step.proc in self.asleep and step.op not in (*_MACHINE_OPS, "maps"):
            raise parser.err(line, f"{step.proc!r} sleeps in a futex wait until another process wakes it")
        if step.sleeps:
            if step.op != "futex" or not isinstance(step.args[1], int) or step.args[1] & 127 != 0:
                raise parser.err(line, "only a futex FUTEX_WAIT step can be marked !sleeps")
            self.asleep.add(step.proc)
        elif step.op == "futex" and isinstance(step.args[1], int) and step.args[1] & 127 == 1:
            self.asleep.clear()  # a wake: the sleepers answer before their next step
        if step.result_kind == "proc":
            name = step.labels[0]
            if len(self.s.procs) >= MAX_PROCS:
                raise parser.err(line, f"at most {MAX_PROCS} processes")
            self.s.procs.append(name)
            self.alive.add(name)
            step.new_proc = name
            if step.op == "vfork":
                self.suspended[step.proc] = name
        else:
            for which, lab in enumerate(step.labels):
                self.labels[lab] = (step.index, which)
        if step.op in ("exec", "exit"):
            for parent, child in list(self.suspended.items()):
                if child == step.proc:
                    del self.suspended[parent]
            if step.op == "exit":
                self.alive.discard(step.proc)
        self.s.steps.append(step)

    def finish(self, parser: _Parser, line: int) -> None:
        if self.asleep:
            raise parser.err(line, f"{', '.join(sorted(self.asleep))} still asleep in a futex wait: wake it first")
        if len(self.s.steps) < 2:
            raise parser.err(line, f"scenario {self.s.name!r} has no steps")
        if not self.s.doc:
            raise parser.err(self.s.line, f"scenario {self.s.name!r} needs a 'doc:' line saying what it checks")
        self.s.source = "\n".join(self.source)


def parse(text: str, where: str = "<text>", group: str | None = None) -> list[Scenario]:
    """Parse scenario text; ``group`` defaults to the file name's stem."""
    grp = group if group is not None else Path(where).stem
    return _Parser(where, grp).parse(text)


def load(path: Path) -> list[Scenario]:
    """Parse one ``.scn`` file."""
    return parse(path.read_text(), str(path), path.stem)


def load_all(directory: Path = SCENARIO_DIR) -> dict[str, list[Scenario]]:
    """Every group in ``directory``: group name -> its scenarios, in file order."""
    return {p.stem: load(p) for p in sorted(directory.glob("*.scn"))}
