"""Exercise "shared-mappings" (cases 5 to 8 of the document).

Kinds: find why a program fails and say which rule decided; write the calls
that reach a goal.

Each variant has two objects and one colleague's program that maps an object
``MAP_SHARED``, readable and writable, the way one would with an MMU (open
it ``O_RDWR``, map it, at the offset of the data). On this board the program
fails for both.

* ``sm-diagnose``: one object can never be mapped shared and writable here (a
  disk file: case 5; the brd ramdisk: case 7; a serial port without mmap:
  case 8; a file on read-only romfs). The learner names the errno and the
  rule (read from the refusal at check time) and the cause.
* ``sm-share``: the other object can, with the right calls: a ramfs file
  whose pages came one at a time (filled by ``write()``, or grown after it
  was first sized) must be emptied and sized again from zero so that
  ``ramfs_nommu_expand_for_mapping`` gathers contiguous pages (case 6), its
  contents kept; the frame buffer maps only from offset 0 (fbdev's
  ``get_unmapped_area``), so the offset goes into the address instead (case 8).
  The check reads both VMAs, the region, the bytes in memory and in the
  object.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..boards import default
from ..kernel.constants import (
    MAP_SHARED,
    O_CREAT,
    O_RDONLY,
    O_RDWR,
    PROT_READ,
    PROT_WRITE,
    VM_SHARED,
    VM_WRITE,
)
from ..kernel.errors import KernelError
from .common import PS, hexa, mark_diagnosis, read, refusal_of, vma_at
from .framework import Exercise, Marker, Stop, part

REVISIT = ("notebook 04-shared-file-mappings (cases 5 to 8): validate_mmap_request needs "
           "NOMMU_MAP_DIRECT for MAP_SHARED, then the file's get_unmapped_area must place it")

#: why a shared writable mapping is refused (the same list for everybody)
CAUSES: dict[str, str] = {
    "A": "A regular file on a disk filesystem can only be copied (no NOMMU_MAP_DIRECT), and a "
         "shared mapping is never a copy.",
    "B": "The ramfs file's pages were allocated one at a time, so they are not physically "
         "contiguous and ramfs cannot map them in place.",
    "C": "The block device's driver offers no direct mapping (the default for a block device "
         "is COPY only): nothing provides one contiguous run of memory for it.",
    "D": "The character device's driver has no mmap method at all.",
    "E": "The filesystem is read-only: its files cannot be opened for writing, so they cannot "
         "be mapped shared and writable.",
    "F": "Without an MMU two processes can never share memory at one address.",
}


@dataclass(frozen=True)
class SharedObject:
    """One object of the exercise: where it is, how the board makes it, the cause if refused."""

    case: int  # the document's case
    cause: str  # the letter of CAUSES that explains the refusal of the colleague's program
    make: Callable[[Any, dict[str, Any]], None]  # puts it on the board (``params`` of the variant)


def object_data(params: dict[str, Any]) -> bytes:
    """The contents the possible object starts with (made from ``data_seed``)."""
    return random.Random(params["data_seed"]).randbytes(params["data_size"])


def _nothing(k: Any, params: dict[str, Any]) -> None:
    pass


def _written(k: Any, params: dict[str, Any]) -> None:
    """A logger fills the file with write(): ramfs takes its pages one at a time."""
    logger = k.spawn("logger")
    fd = logger.open(params["path"], O_CREAT | O_RDWR, 0o644)
    data = object_data(params)
    for at in range(0, len(data), 1000):
        logger.write(fd, data[at:at + 1000])
    logger.exit(0)


def _grown(k: Any, params: dict[str, Any]) -> None:
    """A daemon sized the object for its first record, then grew it (no new pages)."""
    daemon = k.spawn("daemon")
    fd = daemon.shm_open(params["path"][len("/dev/shm"):], O_CREAT | O_RDWR, 0o600)
    daemon.ftruncate(fd, params["data_size"])
    daemon.pwrite(fd, object_data(params), 0)
    daemon.ftruncate(fd, params["size"])
    daemon.exit(0)


def _picture(k: Any, params: dict[str, Any]) -> None:
    """Something on the screen already (the frame buffer's memory, written at boot)."""
    k.phys_write(k.fb.screen_base, object_data(params))


def _disk_file(k: Any, params: dict[str, Any]) -> None:
    k.create_file(params["other_path"], random.Random(params["data_seed"] + 1).randbytes(3 * PS))


POSSIBLE: dict[str, SharedObject] = {
    "ramfs_written": SharedObject(6, "B", _written),
    "ramfs_grown": SharedObject(6, "B", _grown),
    "framebuffer": SharedObject(8, "", _picture),
}
IMPOSSIBLE: dict[str, SharedObject] = {
    "disk_file": SharedObject(5, "A", _disk_file),
    "ramdisk": SharedObject(7, "C", _nothing),
    "romfs_file": SharedObject(6, "E", _nothing),
    "serial": SharedObject(8, "D", _nothing),
}


def colleague_program(p: Any, path: str, length: int, offset: int) -> int:
    """The colleague's way, as on an MMU: open for writing, map the pages that hold the data."""
    fd = p.open(path, O_RDWR)
    page = offset // PS * PS
    return p.mmap(0, length - page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, page) + offset - page


class SharedMappings(Exercise):
    name = "shared-mappings"
    title = "Shared writable mappings: when they are possible without an MMU, and how"

    def choose(self, rng: random.Random) -> dict[str, Any]:
        possible = rng.choice(sorted(POSSIBLE))
        impossible = rng.choice(sorted(IMPOSSIBLE))
        word = rng.choice(["frames", "status", "mixer", "ring", "queue", "ledger"])
        prm: dict[str, Any] = {"ram_mib": rng.choice([4, 8]), "object": possible}
        if possible == "framebuffer":
            width, height = 256, 128  # the board's 8-bit frame buffer
            prm.update(path="/dev/fb0", size=width * height, data_size=width * height,
                       x=rng.randrange(0, width - 32, 4), y=rng.randrange(16, height))
            prm["offset"] = prm["y"] * width + prm["x"]
        else:
            pages = rng.randint(2, 5)
            size = pages * PS - rng.choice([0, 300, 1500])
            path = f"/tmp/{word}.buf" if possible == "ramfs_written" else f"/dev/shm/{word}"
            data_size = size if possible == "ramfs_written" else rng.randint(200, PS - 200)
            prm.update(path=path, size=size, data_size=data_size,
                       offset=rng.randrange(PS, size - 64, 8))
        prm["message"] = f"{word} {rng.randrange(1000)} from the writer".encode()
        prm["data_seed"] = rng.randrange(1 << 32)
        prm["other"] = impossible
        prm["other_path"] = {"disk_file": f"/mnt/disk/{word}.db", "ramdisk": "/dev/ram0",
                             "romfs_file": rng.choice(["/rom/data/pattern.bin", "/rom/etc/motd"]),
                             "serial": "/dev/ttyS0"}[impossible]
        return prm

    def board(self) -> Any:
        prm = self.params
        k = default(ram_size=prm["ram_mib"] << 20, exam=self.exam)
        POSSIBLE[prm["object"]].make(k, prm)
        IMPOSSIBLE[prm["other"]].make(k, prm)
        return k

    @property
    def whole(self) -> bool:
        """Must each process map the whole object (a ramfs file both use all of)?"""
        return self.params["object"] != "framebuffer"

    @property
    def goal(self) -> str:
        """What ``share(k)`` must reach, as the notebook states it."""
        prm = self.params
        need = (f"all of {prm['path']} ({prm['size']} bytes, from its first byte)" if self.whole
                else f"the row of {prm['path']} that holds byte {prm['offset']}")
        return (f"a writer and a reader both map {need} MAP_SHARED, readable and writable, at one "
                f"address; the writer stores {prm['message']!r} at byte {prm['offset']} through "
                "its mapping; everything else the object holds stays as it was")

    def attempt(self, p: Any) -> int:
        """The colleague's program on the possible object: the whole file, or the row's pages."""
        prm = self.params
        return colleague_program(p, prm["path"], prm["size"], 0 if self.whole else prm["offset"])

    def refusal(self) -> KernelError:
        """The colleague's program on the impossible object, on a fresh board: the refusal."""
        other = self.params["other_path"]
        return refusal_of(lambda: colleague_program(self.board().spawn("app"), other, 2 * PS, 0),
                          f"mapping {other} shared")

    # -- part 1 --------------------------------------------------------------
    @part("sm-diagnose", 2, "Why the other object can never be mapped shared and writable", REVISIT)
    def check_diagnose(self, m: Marker, diagnosis: Any) -> None:
        other = self.params["other_path"]
        obj = IMPOSSIBLE[self.params["other"]]
        mark_diagnosis(m, diagnosis, self.refusal(), obj.cause,
                       errno_hint=f"the colleague's program gets for {other}: run it and catch "
                                  "nl.KernelError (.errno_name)",
                       cause_good=f"cause {obj.cause} (the document's case {obj.case}): "
                                  f"{CAUSES[obj.cause]}",
                       cause_bad=f"for {other}: what kind of file is it, and which capability "
                                 "does its driver or filesystem offer?")

    # -- part 2 --------------------------------------------------------------
    def _contents(self, k: Any) -> bytes | None:
        """What the object holds now: the file's bytes, or the frame buffer's memory."""
        prm = self.params
        if prm["object"] == "framebuffer":
            return k.phys_read(k.fb.screen_base, prm["size"])
        inode = k.lookup(prm["path"])
        if inode is None:
            return None
        probe = k.spawn("probe")
        return probe.pread(probe.open(prm["path"], O_RDONLY), inode.size + 1, 0)

    def expected_contents(self) -> bytes:
        """The object as the goal leaves it: its first contents, the message at the offset."""
        prm = self.params
        want = bytearray(object_data(prm).ljust(prm["size"], b"\0"))
        off, msg = prm["offset"], prm["message"]
        want[off:off + len(msg)] = msg
        return bytes(want)

    @part("sm-share", 3, "A shared writable mapping two processes see at one address", REVISIT)
    def check_share(self, m: Marker, share: Any) -> None:
        prm = self.params
        k = self.board()
        out = m.run(share, k, what="share(k)")
        if not (isinstance(out, tuple) and len(out) == 4):
            raise Stop("share(k) must return (writer, reader, writer_addr, reader_addr)")
        w, r, aw, ar = out
        if not all(hasattr(p, "vmas") for p in (w, r)) or w.pid == r.pid:
            raise Stop("the first two results must be two different processes (k.spawn(...))")
        path, off, msg = prm["path"], prm["offset"], prm["message"]
        good = []
        for who, p, a in (("writer", w, aw), ("reader", r, ar)):
            v = vma_at(p, a)
            ok = (v is not None and v.path == path and bool(v.flags & VM_SHARED)
                  and bool(v.flags & VM_WRITE) and v.pgoff * PS + (a - v.start) == off
                  and a + len(msg) <= v.end
                  and (not self.whole or (v.pgoff == 0 and v.end - v.start >= prm["size"])))
            good.append(v if ok else None)
            m.award(ok, 0.25, f"the {who} maps {path} MAP_SHARED and writable; byte {off} at {hexa(a)}",
                    f"the {who} has no MAP_SHARED, writable mapping of "
                    + (f"all of {path}" if self.whole else path)
                    + f" in which {hexa(a)} is byte {off} of the object")
        vw, vr = good
        m.award(vw is not None and vr is not None and aw == ar and vw.region.id == vr.region.id, 0.5,
                f"one address for both ({hexa(aw)}), one region",
                f"the two mappings are not one region at one address ({hexa(aw)}, {hexa(ar)})")
        seen = read(r, ar, len(msg)) if vr is not None else None
        now = self._contents(k)
        m.award(seen == msg and now is not None and now[off:off + len(msg)] == msg, 1,
                "the reader reads the writer's message through its mapping, and so does the object",
                f"the message {msg!r} is not at byte {off} both in the reader's mapping and in "
                f"{path} (the writer must store it through its own mapping)")
        m.award(now == self.expected_contents(), 1,
                f"{path} keeps its size and its other bytes",
                f"{path} lost some of what it held (or its size changed): read it before you "
                "empty it, and write it back once it is sized again")
