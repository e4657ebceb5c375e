"""Exercise "processes-and-exec" (kinds: reach a goal; find why a program fails; read the machine).

Without an MMU there is no ``fork`` (on RISC-V not even the system call:
ENOSYS), so a program is started with ``vfork`` + ``execve``, and the parent
is suspended until the child calls one of ``execve`` or ``exit``. Whether
instances of a program share their text depends on the loader and the file:
``load_flat_file`` maps a ROM bFLT's text from the file (in place from XIP
flash, a shared copy from a disk), a RAM bFLT gets one private block;
``load_elf_fdpic_binary`` maps an FDPIC program's segments one by one (the
read-only text shareable) but puts any other ELF in one private block. The
heap (``brk``) can only grow inside the gap the bFLT loader leaves between
bss and stack; an ELF-FDPIC program has none.

Part one states a goal by its properties (the program is not named): the
check reads the children's memory maps, their text region and its usage,
the file's format and where the text lives. Part two gives a broken
launcher and reads the errno and rule from its refusal at check time. Part
three asks how far ``brk`` can move for the variant's program and
arguments, and reads the loader's layout from the model.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..boards import default, program_files
from ..kernel.constants import O_RDONLY
from ..kernel.errors import KernelError
from .common import compile_shown, mark_diagnosis, refusal_of
from .framework import Exercise, Marker, Stop, part

REVISIT = ("the tutorial's notebook 06-processes: vfork then execve, the bFLT and "
           "ELF-FDPIC loaders, and which text regions are shared")

#: every program the board ships (the learner chooses among them)
PROGRAMS: tuple[str, ...] = tuple(sorted(program_files()))

#: requirement -> what part one asks of the program's text (the program is not named)
REQUIREMENTS: dict[str, str] = {
    "elf_shared": "an ELF program, whose text all the instances share (one copy)",
    "no_ram_text": "a program whose text takes no RAM at all",
    "ram_text_shared": "a program whose text is in RAM, where a flash update cannot disturb it, "
                       "with one copy shared by all the instances",
}

#: the causes a learner chooses from in part two (the same list for everybody)
CAUSES: dict[str, str] = {
    "A": "Without an MMU a child cannot get its own copy of the parent's memory: there is no "
         "fork (on RISC-V not even the system call).",
    "B": "After vfork the parent is suspended until the child calls execve() or exit(), and the "
         "parent made a call before that.",
    "C": "The file has no execute permission.",
    "D": "The file lies on a filesystem mounted noexec.",
    "E": "The file is neither a bFLT nor an ELF program.",
    "F": "No free block of contiguous memory is large enough for the program's data and stack.",
}

#: the broken launchers: (cause, source of ``def launch(shell)``, formatted with the params)
LAUNCHERS: dict[str, tuple[str, str]] = {
    "fork": ("A", '''\
def launch(shell):
    child = shell.fork()
    child.execve({program!r}, {argv!r})
    return child
'''),
    "parent_first": ("B", '''\
def launch(shell):
    log = shell.open({log!r}, O_CREAT | O_WRONLY | O_APPEND, 0o644)
    child = shell.vfork()
    shell.write(log, b"starting {name}\\n")
    child.execve({program!r}, {argv!r})
    return child
'''),
    "no_x_bit": ("C", '''\
def launch(shell):
    image = shell.read(shell.open({program!r}, O_RDONLY), 1 << 20)
    copy = shell.open({copy!r}, O_CREAT | O_WRONLY, 0o644)
    shell.write(copy, image)
    shell.close(copy)
    child = shell.vfork()
    child.execve({copy!r}, {argv!r})
    return child
'''),
    "noexec_mount": ("D", '''\
def launch(shell):
    image = shell.read(shell.open({program!r}, O_RDONLY), 1 << 20)
    copy = shell.open({data_copy!r}, O_CREAT | O_WRONLY, 0o755)
    shell.write(copy, image)
    shell.close(copy)
    child = shell.vfork()
    child.execve({data_copy!r}, {argv!r})
    return child
'''),
}

#: a data partition (tmpfs), mounted noexec as careful systems mount what holds no programs
DATA = "/mnt/data"


@dataclass(frozen=True)
class Text:
    """Where a process's program text lives, read from the model."""

    region: int | None  # the id of the region holding mm.start_code
    usage: int
    copy: bool  # a copy in RAM (not in place)
    in_flash: bool


def text_of(k: Any, p: Any) -> Text:
    """The region that holds ``p``'s first instruction (``mm->start_code``)."""
    for v in p.vmas():
        if v.start <= p.mm.start_code < v.end and v.region is not None:
            r = v.region
            return Text(r.id, r.usage, r.copy, k.flash is not None and k.flash.contains(r.start))
    return Text(None, 0, False, False)


def is_elf(k: Any, path: str) -> bool:
    """The file starts with the ELF magic (read through a probe process, then gone)."""
    probe = k.spawn("probe")
    try:
        return probe.pread(probe.open(path, O_RDONLY), 4, 0) == b"\x7fELF"
    finally:
        probe.exit(0)


class ProcessesAndExec(Exercise):
    name = "processes-and-exec"
    title = "Processes and programs without an MMU: vfork, execve, shared text, brk"

    def choose(self, rng: random.Random) -> dict[str, Any]:
        service = rng.choice(["sensord", "logger", "netd", "ui", "updater", "watchdog"])
        heap_program = rng.choice(PROGRAMS)
        words = ["-v", "--once", f"--config=/etc/{service}.conf",
                 f"--port={rng.randrange(1024, 9999)}", f"--name=node-{rng.randrange(100)}",
                 "-" + "q" * rng.randint(1, 30)]
        return {
            "ram_mib": rng.choice([4, 8]),
            "count": rng.randint(2, 4),
            "requirement": rng.choice(sorted(REQUIREMENTS)),
            "launcher": rng.choice(sorted(LAUNCHERS)),
            "name": service,
            "program": rng.choice(["/rom/bin/hello", "/rom/bin/hello-fdpic", "/mnt/disk/bin/hello"]),
            "argv": [service, *rng.sample(words, rng.randint(1, 4))],
            "log": f"/tmp/{service}.log",
            "copy": f"/tmp/{service}",
            "data_copy": f"{DATA}/{service}",
            "heap_program": heap_program,
            "heap_argv": [heap_program.rsplit("/", 1)[1],
                          *["x" * rng.randint(1, 60) for _ in range(rng.randint(0, 6))]],
        }

    def board(self) -> Any:
        """The board, with a data partition mounted noexec at /mnt/data."""
        k = default(ram_size=self.params["ram_mib"] << 20, exam=self.exam)
        k.mkdir(DATA)
        k.mount_ramfs(DATA, "tmpfs", noexec=True)
        k.trace.clear()
        return k

    def machine(self) -> tuple[Any, Any]:
        """The variant's machine: the broken launcher refused, then the heap program started
        with its arguments (the process is returned)."""
        k = self.board()
        try:
            self.launcher()(k.spawn("shell"))
        except KernelError:
            pass  # a refusal changes nothing
        child = k.spawn("shell").vfork()
        child.execve(self.params["heap_program"], self.params["heap_argv"])
        return k, child

    @property
    def requirement(self) -> str:
        """What part one asks of the program, in words."""
        return REQUIREMENTS[self.params["requirement"]]

    # -- part 1: three (or two, or four) instances --------------------------------
    @part("exec-launch", 3, "Start the instances: one shared text, the parent still running", REVISIT)
    def check_launch(self, m: Marker, launch: Any) -> None:
        k = self.board()
        shell = k.spawn("shell")
        got = m.run(launch, shell, what="launch(shell)")
        if not (isinstance(got, (list, tuple)) and all(hasattr(c, "vmas") for c in got)):
            raise Stop("launch(shell) must return the list of the child processes it started")
        n = self.params["count"]
        kids = [c for c in got if c is not shell]
        running = [c for c in kids if c.alive and c.parent is shell and c.mm.exe]
        exes = {c.mm.exe for c in running}
        ok = len(kids) == len(got) == len(running) == n and len({c.pid for c in kids}) == n
        m.award(ok and len(exes) == 1, 1, f"{n} children of the shell run {next(iter(exes), '')}",
                f"the shell must have {n} living children, all running one program "
                f"(found {len(running)} running {sorted(exes) or 'nothing'} among the "
                f"{len(got)} returned)")
        self._judge_shell(m, shell)
        if not running or len(exes) != 1:
            return
        exe = next(iter(exes))
        texts = [text_of(k, c) for c in running]
        one = len({t.region for t in texts}) == 1 and texts[0].region is not None
        m.award(one and texts[0].usage == n and len(running) == n, 0.5,
                f"their text is one region, used by {n} mappings",
                f"their text is {len({t.region for t in texts})} region(s) (usage "
                f"{sorted({t.usage for t in texts})}): {exe} is loaded so that each instance "
                "gets its own text", "the flat loader's RAM flag, and ELF-FDPIC against "
                "other ELF programs, in notebook 06-processes")
        self._judge_requirement(m, k, exe, texts[0], one)

    def _judge_shell(self, m: Marker, shell: Any) -> None:
        runnable = shell.alive and shell.vfork_child is None and not shell.mm.exe
        why = ("the shell exec'd a program itself: start the instances in children"
               if shell.mm.exe else
               f"the shell is suspended, waiting for vfork child {shell.vfork_child.pid}: "
               "that child must call execve() (or exit()) before the parent runs again"
               if shell.vfork_child is not None else "the shell has exited")
        m.award(runnable, 0.5, "the shell is still the shell, and runs (no vfork child pending)",
                why, "vfork in notebook 06-processes: the parent sleeps until its child "
                "calls execve() or exit()")

    def _judge_requirement(self, m: Marker, k: Any, exe: str, text: Text, one: bool) -> None:
        req = self.params["requirement"]
        elf = is_elf(k, exe)
        where = ("in flash, in place" if text.in_flash and not text.copy
                 else "in a copy in RAM" if text.copy else "in place")
        facts = f"{exe} is {'an ELF' if elf else 'a bFLT'} program whose text is {where}"
        if req == "elf_shared":
            ok, bad = elf and one, "it must be an ELF program whose instances share their text"
        elif req == "no_ram_text":
            ok = text.region is not None and not text.copy
            bad = "its text must not be copied to RAM: it must run in place"
        else:
            ok, bad = text.copy and one, "its text must be one copy in RAM, shared"
        m.award(ok, 1, f"{facts}: {self.requirement}", f"{facts}; {bad}",
                "where the loaders put the text: load_flat_file (ROM or RAM bFLT) and "
                "load_elf_fdpic_binary, in notebook 06-processes; XIP in 09-flash-hazard")

    # -- part 2: a broken launcher ------------------------------------------------
    @property
    def launcher_source(self) -> str:
        """The broken launcher, as the notebook shows it."""
        return LAUNCHERS[self.params["launcher"]][1].format(**self.params)

    def launcher(self) -> Callable[[Any], Any]:
        """The broken launcher as a function (compiled from :attr:`launcher_source`)."""
        return compile_shown(self.launcher_source, f"{self.name} launcher")["launch"]

    def refusal(self) -> KernelError:
        """Run the broken launcher on a fresh board: the refusal the learner must explain."""
        k = self.board()
        return refusal_of(lambda: self.launcher()(k.spawn("shell")),
                          f"the {self.params['launcher']} launcher")

    @part("exec-diagnose", 2, "Why does this launcher fail?", REVISIT)
    def check_diagnose(self, m: Marker, diagnosis: Any) -> None:
        right = LAUNCHERS[self.params["launcher"]][0]
        mark_diagnosis(m, diagnosis, self.refusal(), right,
                       errno_hint="the launcher fails with: run it on ex.board() and catch "
                                  "nl.KernelError",
                       cause_good=f"cause {right}: {CAUSES[right]}",
                       cause_bad="the rule names the kernel function and the check that "
                                 "refused the call")

    # -- part 3: brk and the stack ------------------------------------------------
    def layout(self, argv: list[str] | None = None) -> tuple[int, int]:
        """The heap program run with ``argv`` (the variant's by default): how far ``brk``
        can move its break, and the length of the mapping its maps label ``[stack]``."""
        k = self.board()
        child = k.spawn("shell").vfork()
        child.execve(self.params["heap_program"], self.params["heap_argv"] if argv is None else argv)
        mm = child.mm
        stack = next(v for v in child.vmas() if v.path is None and v.start <= mm.start_stack <= v.end)
        return mm.end_brk - mm.brk, stack.length

    @part("exec-heap", 2, "How much can brk() grow the heap, and how big is the [stack]?",
          "brk in notebook 06-processes: load_flat_file leaves a gap between bss and the "
          "stack, in the same block as the arguments; ELF-FDPIC gives brk no room at all")
    def check_heap(self, m: Marker, heap_and_stack: Any) -> None:
        got = m.answer(heap_and_stack, what="heap_and_stack()")
        if not (isinstance(got, tuple) and len(got) == 2
                and all(isinstance(x, int) and not isinstance(x, bool) for x in got)):
            raise Stop("heap_and_stack() must return two numbers of bytes: (brk room, [stack] length)")
        room, stack = got
        want, want_stack = self.layout()
        prog = self.params["heap_program"]
        bare, _ = self.layout([prog])
        if room == want:
            why = ""
        elif want == 0:
            why = (f"{room} bytes, but {prog} gets no heap at all: its loader sets start_brk = "
                   "brk = end_brk, so every brk() above the break is refused")
        elif room == 0:
            why = f"{prog} does have room for a heap: a bFLT loader leaves a gap below the stack"
        elif room == bare:
            why = (f"{room} bytes is the room when {prog} runs with no arguments; the arguments "
                   "are copied to the top of the same block, below the stack, so they take room")
        else:
            why = f"{room} bytes is not how far brk() can move the break of {prog}"
        m.award(room == want, 1.5, f"{want} bytes: how far the break of {prog} can move", why)
        m.award(stack == want_stack, 0.5, f"its [stack] mapping is {want_stack} bytes long",
                f"{stack} bytes is not the length of the line /proc/PID/maps labels [stack]: "
                "for a bFLT program that is the whole block of data, bss, heap gap and stack; "
                "an ELF-FDPIC program gets a stack mapping of its own, sized by PT_GNU_STACK",
                "load_flat_file and load_elf_fdpic_binary in notebook 06-processes")
