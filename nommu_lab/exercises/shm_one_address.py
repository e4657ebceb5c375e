"""Exercise "shm-one-address" (kind: write the calls that reach a goal).

Two processes must see one POSIX shared memory object at one address. On a
no-MMU kernel that works only the way ``shm_open`` + ``ftruncate`` +
``mmap(MAP_SHARED)`` does it: truncating a ramfs file from size zero gathers
physically contiguous pages (``ramfs_nommu_expand_for_mapping``), its
``get_unmapped_area`` then returns the address of the first page, and every
mapping of the same range shares one ``vm_region`` (``do_mmap``'s search
for a shareable region), so both processes get the same address.

The learner writes ``share(k)``; each check builds a fresh board from the
variant and runs it, then reads the model's state (the file, both VMAs, the
region and the bytes) to mark it.
"""

from __future__ import annotations

import random
from typing import Any

from ..boards import default
from ..kernel.constants import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    O_RDONLY,
    PROT_READ,
    PROT_WRITE,
    VM_SHARED,
)
from ..kernel.errors import KernelError
from .common import PS
from .framework import Exercise, Marker, Stop, part

REVISIT = ("the tutorial's shared-memory notebook: POSIX shm is a file on /dev/shm; "
           "ftruncate from size 0 gathers contiguous pages, then MAP_SHARED maps them in place")


class ShmOneAddress(Exercise):
    name = "shm-one-address"
    title = "Two processes, one POSIX shared memory object, one address"

    def choose(self, rng: random.Random) -> dict[str, Any]:
        pages = rng.randint(2, 6)
        size = pages * PS - rng.choice([0, 512, 1500])
        word = rng.choice(["frame", "sample", "packet", "reading", "block", "tick"])
        message = f"{word} {rng.randrange(1000)} ready".encode()
        return {
            "ram_mib": rng.choice([4, 8, 16]),
            "busy_pages": rng.randint(1, 40),  # what a daemon holds before we start
            "name": f"/{rng.choice(['cam', 'audio', 'sensor', 'radio', 'log'])}-{rng.randrange(100):02d}",
            "size": size,
            "offset": rng.randrange(0, size - len(message)) // 16 * 16,
            "message": message,
        }

    def board(self) -> Any:
        """The board as the learner finds it: a daemon already holds some memory."""
        k = default(ram_size=self.params["ram_mib"] << 20, exam=self.exam)
        daemon = k.spawn("daemon")
        daemon.mmap(0, self.params["busy_pages"] * PS, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        return k

    @property
    def path(self) -> str:
        return "/dev/shm" + self.params["name"]

    def _run(self, m: Marker, share: Any) -> tuple[Any, Any, Any, int, int]:
        """A fresh board, the learner's ``share(k)`` run on it, its four results."""
        k = self.board()
        out = m.run(share, k, what="share(k)")
        if not (isinstance(out, tuple) and len(out) == 4):
            raise Stop(f"share(k) must return (writer, reader, writer_addr, reader_addr); "
                       f"it returned {type(out).__name__}")
        w, r, aw, ar = out
        if not all(hasattr(p, "vmas") for p in (w, r)):
            raise Stop("the first two results must be the processes (k.spawn(...))")
        if not all(isinstance(a, int) for a in (aw, ar)):
            raise Stop("the last two results must be the addresses mmap returned")
        return k, w, r, aw, ar

    def _vma(self, p: Any, addr: int) -> Any:
        return next((v for v in p.vmas() if v.start <= addr < v.end), None)

    @part("shm-object", 1, "The shared memory object exists, with the right size", REVISIT)
    def check_object(self, m: Marker, share: Any) -> None:
        k = self.board()
        m.attempt(share, k, what="share(k)")  # even a failed run may have made the object
        inode = k.lookup(self.path)
        if not m.award(inode is not None, 0.5, f"{self.path} exists",
                       f"there is no {self.path}: shm_open({self.params['name']!r}, "
                       "O_CREAT | O_RDWR, 0o600) creates it"):
            return
        m.award(inode.size == self.params["size"], 0.5,
                f"its size is {self.params['size']} bytes",
                f"its size is {inode.size} bytes, not {self.params['size']}: set it with ftruncate "
                "while it is still empty")

    @part("shm-same-address", 2, "Both processes map it MAP_SHARED, at one address", REVISIT)
    def check_same_address(self, m: Marker, share: Any) -> None:
        _k, w, r, aw, ar = self._run(m, share)
        if not m.award(w.pid != r.pid, 0.5, "two different processes",
                       "writer and reader are the same process: spawn a second one"):
            return
        size = self.params["size"]
        good = 0
        for who, p, a in (("writer", w, aw), ("reader", r, ar)):
            v = self._vma(p, a)
            ok = (v is not None and v.path == self.path and v.start == a and v.end - v.start >= size
                  and bool(v.flags & VM_SHARED))
            good += ok
            m.award(ok, 0.25, f"the {who} maps {self.path} MAP_SHARED at {a:#x}",
                    f"the {who} has no MAP_SHARED mapping of {self.path} ({size} bytes) "
                    f"starting at {a:#x}")
        if good < 2:
            return
        same = aw == ar and self._vma(w, aw).region.id == self._vma(r, ar).region.id
        m.award(same, 1, f"one region, one address for both ({aw:#x})",
                f"the addresses differ ({aw:#x} and {ar:#x}): both must map the same range "
                "of the object, so that the second mapping reuses the first one's region")

    @part("shm-message", 1, "The writer's message is seen by the reader and in the file", REVISIT)
    def check_message(self, m: Marker, share: Any) -> None:
        k, _w, r, _aw, ar = self._run(m, share)
        msg, off = self.params["message"], self.params["offset"]
        try:
            seen = r.peek(ar + off, len(msg))
        except KernelError as e:
            raise Stop(f"the reader cannot read at {ar + off:#x}: {e.errno_name} [{e.rule}]") from None
        m.award(seen == msg, 0.5, f"the reader sees {msg!r} at offset {off}",
                f"at offset {off} the reader sees {seen!r}, not {msg!r}: the writer must poke "
                f"the message at writer_addr + {off}")
        probe = k.spawn("probe")
        fd = probe.open(self.path, O_RDONLY)
        m.award(probe.pread(fd, len(msg), off) == msg, 0.5, "the file holds the message too",
                "the file does not hold the message: the memory the writer wrote is not the "
                "file's page cache (a private copy?)")
