"""Exercise "fix-the-mapping" (kind: find why a program fails and fix it).

Each student gets one of five broken programs, each refused by a different
rule of ``validate_mmap_request`` / ``do_mmap`` / the mmap entry point, with
their own file, sizes and data. The board is in exam mode: the refusal shows
its errno and rule id but not the sentence that explains it, so the learner
must connect the rule to the kernel's reason. The expected errno and rule
are not stored anywhere: the check runs the variant's program on a fresh
board and reads them from the refusal.

Part one asks for the errno, the rule and the cause (one letter among
:data:`CAUSES`, the same list for everybody); part two asks for a fixed
program, which the check runs on a fresh board and judges by the goal the
notebook states (bytes readable at the returned address, writes reaching
the file), read from the model's state.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..boards import default
from ..kernel.constants import O_CREAT, O_RDWR, VM_SHARED
from ..kernel.errors import KernelError
from .common import PS, compile_shown, mark_diagnosis, refusal_of
from .framework import Exercise, Marker, part

REVISIT = ("the tutorial's notebooks on the mapping cases (anonymous, private file, "
           "shared file mappings) and the rules of validate_mmap_request")

#: the causes a learner chooses from (the same list in every variant)
CAUSES: dict[str, str] = {
    "A": "Without an MMU the kernel cannot place memory at an address the caller "
         "insists on (MAP_FIXED).",
    "B": "The file cannot be mapped in place (its filesystem offers no direct mapping), "
         "and a shared mapping is never turned into a private copy.",
    "C": "A writable shared mapping needs a file descriptor opened for writing.",
    "D": "The file's pages were allocated one at a time by write(), so they are not "
         "physically contiguous and cannot be mapped in place.",
    "E": "The file offset is not a multiple of the page size.",
    "F": "The request is larger than the largest block the page allocator can hand out.",
}


@dataclass(frozen=True)
class Bug:
    """One broken program: its text, the cause, the goal and how to judge a fix."""

    cause: str
    program: str  # Python source of ``def program(p)``, formatted with the params
    goal: str  # what a fixed program must achieve, as the notebook states it
    setup: Callable[[Any, dict[str, Any]], None]


def _no_setup(k: Any, params: dict[str, Any]) -> None:
    pass


def file_data(params: dict[str, Any]) -> bytes:
    """The variant's file: ``file_size`` seeded random bytes."""
    return random.Random(params["data_seed"]).randbytes(params["file_size"])


def _disk_file(k: Any, params: dict[str, Any]) -> None:
    k.create_file(params["path"], file_data(params))


def _shm_file(k: Any, params: dict[str, Any]) -> None:
    """The object, sized by truncating from zero (so its pages are contiguous)."""
    p = k.spawn("setup")
    fd = p.open(params["path"], O_CREAT | O_RDWR, 0o600)
    p.ftruncate(fd, params["length"])
    p.exit(0)


BUGS: dict[str, Bug] = {
    "map_fixed": Bug("A", '''\
def program(p):
    a = p.mmap({addr:#x}, {length}, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)
    p.poke(a, {message!r})
    return a
''', "return the address of {length} bytes of private anonymous memory that hold "
     "{message!r} at their start", _no_setup),
    "shared_disk": Bug("B", '''\
def program(p):
    fd = p.open({path!r}, O_RDONLY)
    a = p.mmap(0, {length}, PROT_READ, MAP_SHARED, fd, 0)
    return a
''', "return an address where a mapping of {path} shows its first {length} bytes", _disk_file),
    "write_rdonly": Bug("C", '''\
def program(p):
    fd = p.open({path!r}, O_RDONLY)
    a = p.mmap(0, {length}, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    p.poke(a, {message!r})
    return a
''', "return the address of a MAP_SHARED mapping of {path} through which {message!r} was "
     "written at offset 0, so that the file holds it", _shm_file),
    "written_not_truncated": Bug("D", '''\
def program(p):
    fd = p.open({path!r}, O_CREAT | O_RDWR, 0o600)
    p.write(fd, bytes({length}))
    a = p.mmap(0, {length}, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    p.poke(a, {message!r})
    return a
''', "return the address of a MAP_SHARED mapping of a {length}-byte {path} through which "
     "{message!r} was written at offset 0, so that the file holds it", _no_setup),
    "unaligned_offset": Bug("E", '''\
def program(p):
    fd = p.open({path!r}, O_RDONLY)
    a = p.mmap(0, {length}, PROT_READ, MAP_PRIVATE, fd, {offset})
    return a
''', "return an address where the {length} bytes of {path} that start at byte {offset} "
     "can be read, through a mapping of the file", _disk_file),
}


class FixTheMapping(Exercise):
    name = "fix-the-mapping"
    title = "Find why a program's mmap is refused, and fix it"

    def choose(self, rng: random.Random) -> dict[str, Any]:
        bug = rng.choice(sorted(BUGS))
        pages = rng.randint(2, 5)
        word = rng.choice(["calibration", "settings", "samples", "journal", "firmware"])
        fs = "/dev/shm" if bug in ("write_rdonly", "written_not_truncated") else "/mnt/disk"
        params: dict[str, Any] = {
            "ram_mib": rng.choice([4, 8]),
            "bug": bug,
            "path": f"{fs}/{word}-{rng.randrange(10, 99)}.bin",
            "length": pages * PS - rng.choice([0, 100, 700]),
            "message": f"{word} v{rng.randint(1, 9)}.{rng.randint(0, 9)}".encode(),
        }
        if bug == "map_fixed":
            params["addr"] = 0x8040_0000 + rng.randrange(64) * PS
        if bug == "unaligned_offset":
            params["offset"] = rng.randint(1, 3) * PS + rng.randrange(16, PS - 16, 16)
        if bug in ("shared_disk", "unaligned_offset"):
            params["file_size"] = params.get("offset", 0) + params["length"] + rng.randrange(PS)
            params["data_seed"] = rng.randrange(1 << 32)  # the file's bytes (see file_data)
        return params

    @property
    def file_data(self) -> bytes:
        """The contents of the variant's disk file (made from ``data_seed``)."""
        return file_data(self.params)

    @property
    def bug(self) -> Bug:
        return BUGS[self.params["bug"]]

    @property
    def program_source(self) -> str:
        """The broken program, as the notebook shows it."""
        return self.bug.program.format(**self.params)

    @property
    def goal(self) -> str:
        return self.bug.goal.format(**self.params)

    def board(self) -> Any:
        k = default(ram_size=self.params["ram_mib"] << 20, exam=self.exam)
        self.bug.setup(k, self.params)
        return k

    def program(self) -> Callable[[Any], int]:
        """The broken program as a function (compiled from :attr:`program_source`)."""
        return compile_shown(self.program_source, f"{self.name} program")["program"]

    def refusal(self) -> KernelError:
        """Run the broken program on a fresh board: the refusal the learner must explain."""
        k = self.board()
        return refusal_of(lambda: self.program()(k.spawn("app")),
                          f"the {self.params['bug']} program")

    @part("fix-diagnosis", 2, "Which errno, which rule, and why", REVISIT)
    def check_diagnosis(self, m: Marker, diagnosis: Any) -> None:
        right = self.bug.cause
        mark_diagnosis(m, diagnosis, self.refusal(), right,
                       errno_hint="the call fails with: run program(p) and catch nl.KernelError "
                                  "(its .errno)",
                       cause_good=f"cause {right}: {CAUSES[right]}",
                       cause_bad="find the check with that name in mm/nommu.c and what it tests")

    @part("fix-program", 3, "A fixed program that reaches the goal", REVISIT)
    def check_program(self, m: Marker, fixed_program: Any) -> None:
        k = self.board()
        p = k.spawn("app")
        a = m.run(fixed_program, p, what="fixed_program(p)")
        if not m.award(isinstance(a, int) and not isinstance(a, bool), 1,
                       "it runs without a refusal and returns an address",
                       f"it must return the address, not {type(a).__name__}"):
            return
        getattr(self, f"_goal_{self.params['bug']}")(m, k, p, a)

    # -- the goals, read from the model's state ------------------------------
    def _vma(self, p: Any, a: int) -> Any:
        return next((v for v in p.vmas() if v.start <= a < v.end), None)

    def _read(self, p: Any, a: int, n: int) -> bytes | None:
        try:
            return p.peek(a, n)
        except KernelError:
            return None

    def _goal_map_fixed(self, m: Marker, k: Any, p: Any, a: int) -> None:
        v, msg, n = self._vma(p, a), self.params["message"], self.params["length"]
        m.award(v is not None and v.path is None and v.start == a and v.end - v.start >= n, 1,
                f"{n} bytes of anonymous memory at {a:#x}",
                f"no anonymous mapping of {n} bytes starts at {a:#x}")
        m.award(self._read(p, a, len(msg)) == msg, 1, f"it holds {msg!r}",
                f"{msg!r} is not at {a:#x}: keep the poke, at the address mmap returned")

    def _goal_file_bytes(self, m: Marker, k: Any, p: Any, a: int, start: int) -> None:
        path, n = self.params["path"], self.params["length"]
        want = self.file_data[start:start + n]
        v = self._vma(p, a)
        m.award(v is not None and v.path == path, 1, f"{a:#x} is inside a mapping of {path}",
                f"{a:#x} is not inside a mapping of {path} (reading the file into memory "
                "does not count)")
        m.award(self._read(p, a, n) == want, 1, f"the {n} bytes there are the file's",
                f"the {n} bytes at {a:#x} are not those of {path} from byte {start}")

    def _goal_shared_disk(self, m: Marker, k: Any, p: Any, a: int) -> None:
        self._goal_file_bytes(m, k, p, a, 0)

    def _goal_unaligned_offset(self, m: Marker, k: Any, p: Any, a: int) -> None:
        self._goal_file_bytes(m, k, p, a, self.params["offset"])

    def _goal_shared_write(self, m: Marker, k: Any, p: Any, a: int) -> None:
        path, msg, n = self.params["path"], self.params["message"], self.params["length"]
        v = self._vma(p, a)
        m.award(v is not None and v.path == path and v.start == a and bool(v.flags & VM_SHARED), 1,
                f"a MAP_SHARED mapping of {path} at {a:#x}",
                f"there is no MAP_SHARED mapping of {path} starting at {a:#x}")
        inode = k.lookup(path)
        data = k.pagecache_read(inode, 0, len(msg)) if inode is not None else b""
        m.award(data == msg and inode.size == n, 1, f"the {n}-byte file holds {msg!r}",
                f"{path} does not hold {msg!r} at offset 0 with size {n}")

    _goal_write_rdonly = _goal_shared_write
    _goal_written_not_truncated = _goal_shared_write
