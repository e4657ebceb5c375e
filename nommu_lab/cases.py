"""The document's eight cases, and four more contrasts, as ready-made programs.

Each is a :class:`Case`: a program for :func:`nommu_lab.compare` plus what
the document says the MMU and the no-MMU kernel do, and (``code``) what
Linux 6.12's ``mm/nommu.c`` does where that differs from the document or
adds to it (every difference is listed in ``docs/linux-vs-document.md``).

>>> import nommu_lab as nl
>>> print(nl.compare(nl.cases.CASE_1))     # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .kernel.constants import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    MAP_SHARED,
    MAP_UNINITIALIZED,
    MREMAP_MAYMOVE,
    O_CREAT,
    O_RDONLY,
    O_RDWR,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
)

PAGE = 4096
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS


@dataclass(frozen=True)
class Case:
    """A program and the document's statement it illustrates."""

    key: str
    title: str
    mmu: str
    nommu: str
    program: Callable[[Any], None]
    code: str = ""

    @property
    def summary(self) -> str:
        """The document's two sentences (and the code's correction), for the report."""
        text = f"MMU: {self.mmu}\nno-MMU: {self.nommu}"
        if self.code:
            text += f"\nthe code: {self.code}"
        return text

    def __call__(self, p: Any) -> None:
        self.program(p)


# ---------------------------------------------------------------------------
def _case1(p: Any) -> None:
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    p.poke(a, b"parent")
    p.poke(a + 2 * PAGE, b"x")
    c = p.fork()
    c.poke(a, b"child!")
    p.peek(a, 6)
    c.peek(a, 6)


CASE_1 = Case(
    "1", "case 1: anonymous mapping, MAP_PRIVATE",
    "VM regions backed by arbitrary pages; copy-on-write across fork.",
    "VM regions backed by arbitrary contiguous runs of pages.",
    _case1)


def _case2(p: Any) -> None:
    a = p.mmap(0, PAGE, RW, MAP_SHARED | MAP_ANONYMOUS)
    p.poke(a, b"hello")
    c = p.fork()
    c.poke(a, b"HOWDY")
    p.peek(a, 5)


CASE_2 = Case(
    "2", "case 2: anonymous mapping, MAP_SHARED",
    "like private mappings, except that they are shared across fork() or clone() without "
    "CLONE_VM.",
    "no-MMU does not support sharing these: identical to MAP_PRIVATE.",
    _case2,
    "the mapping is rw-p and resizable by mremap, like a private one; fork() itself fails "
    "(ENOSYS on RISC-V).")


def _case3(p: Any) -> None:
    fd = p.open("/tmp/data", O_RDWR | O_CREAT, 0o644)
    p.write(fd, b"version 1 " * 820)
    a = p.mmap(0, 8200, PROT_READ, MAP_PRIVATE, fd, 0)
    p.peek(a, 9)
    p.pwrite(fd, b"VERSION 2", 0)
    p.peek(a, 9)
    # the reuse is shown from a second process: the same range mapped twice in one
    # process runs into Linux 6.12's duplicate-VMA bug (the report would flag it)
    q = p.kernel.spawn("reader")
    fq = q.open("/tmp/data", O_RDONLY)
    b = q.mmap(0, 8200, PROT_READ, MAP_PRIVATE, fq, 0)
    q.peek(b, 9)
    q.poke(b, b"oops")
    p.peek(a, 9)
    rom = p.open("/rom/data/pattern.bin", O_RDONLY)
    p.mmap(0, 10000, PROT_READ | PROT_EXEC, MAP_PRIVATE, rom, 0)


CASE_3 = Case(
    "3", "case 3: file, MAP_PRIVATE, PROT_READ / PROT_EXEC (no PROT_WRITE)",
    "VM regions backed by pages read from file; changes to the underlying file are reflected "
    "in the mapping; copied across fork.",
    "an existing mapping of the same file range is reused (even another process's); the file "
    "is mapped directly where the device allows (XIP from flash, not page aligned); otherwise "
    "a copy is read into contiguous memory; writes to the file do not affect the mapping.",
    _case3,
    "another process's mapping gets the same, now stale, copy; a store through a read-only "
    "mapping succeeds (nothing enforces PROT_READ) and every process sharing the copy sees "
    "it; direct mappings (XIP flash, contiguous ramfs pages) are the file itself, so they do "
    "follow writes to it.")


def _case4(p: Any) -> None:
    fd = p.open("/tmp/data", O_RDWR | O_CREAT, 0o644)
    p.write(fd, b"A" * (2 * PAGE))
    a = p.mmap(0, 2 * PAGE, RW, MAP_PRIVATE, fd, 0)
    p.poke(a, b"mine")
    p.pwrite(fd, b"file", 0)
    p.pwrite(fd, b"FILE", PAGE)
    p.peek(a, 4)
    p.peek(a + PAGE, 4)
    p.pread(fd, 4, 0)
    b = p.mmap(0, 2 * PAGE, RW, MAP_PRIVATE, fd, 0)
    p.peek(b, 4)


CASE_4 = Case(
    "4", "case 4: file, MAP_PRIVATE, PROT_WRITE",
    "like the read-only case, except that a page is copied before the first write to it; "
    "from then on writes to the file no longer reach that page.",
    "works like the read-only case, except that a copy is always taken and never shared.",
    _case4)


def _case5(p: Any) -> None:
    fd = p.open("/mnt/disk/notes.txt", O_RDWR)
    a = p.mmap(0, PAGE, RW, MAP_SHARED, fd, 0)
    p.poke(a, b"DISK")
    p.pread(fd, 10, 0)
    p.pwrite(fd, b"disk", 0)
    p.peek(a, 4)
    c = p.fork()
    c.poke(a, b"kid!")
    p.pread(fd, 4, 0)
    bd = p.open("/dev/vda", O_RDWR)
    b = p.mmap(0, PAGE, RW, MAP_SHARED, bd, 0)
    p.poke(b, b"blk")
    p.pread(bd, 3, 0)


CASE_5 = Case(
    "5", "case 5: regular file / block device, MAP_SHARED",
    "pages read from the file; changes to pages written back to the file; writes to the file "
    "reflected into the mapping; shared across fork.",
    "not supported.",
    _case5,
    "ENODEV: disk filesystems and block devices declare no mmap capabilities, so "
    "validate_mmap_request gives them the default for their inode type, NOMMU_MAP_COPY "
    "alone, and a shared mapping needs NOMMU_MAP_DIRECT.")


def _case6(p: Any) -> None:
    fd = p.shm_open("/demo", O_CREAT | O_RDWR, 0o600)
    p.ftruncate(fd, 3 * PAGE)
    a = p.mmap(0, 3 * PAGE, RW, MAP_SHARED, fd, 0)
    p.poke(a, b"shared")
    p.pread(fd, 6, 0)
    log = p.open("/tmp/log", O_CREAT | O_RDWR, 0o644)
    p.write(log, b"x" * (2 * PAGE))
    b = p.mmap(0, 2 * PAGE, RW, MAP_SHARED, log, 0)
    p.poke(b, b"y")
    q = p.kernel.spawn("reader")
    q.mmap(0, PAGE, RW, ANON)
    fd2 = q.shm_open("/demo", O_RDWR, 0)
    c = q.mmap(0, 3 * PAGE, RW, MAP_SHARED, fd2, 0)
    q.peek(c, 6)


CASE_6 = Case(
    "6", "case 6: memory-backed regular file (ramfs, tmpfs), MAP_SHARED",
    "as for ordinary regular files.",
    "works if the filesystem can give a contiguous run of pages (ramfs does for an open, "
    "truncate, mmap sequence: POSIX shm), at the same address in every process; otherwise "
    "the mapping is denied.",
    _case6,
    "a file filled by write() gets its pages one at a time, not contiguous: ENODEV.")


def _case7(p: Any) -> None:
    fd = p.open("/dev/ram0", O_RDWR)
    a = p.mmap(0, 2 * PAGE, RW, MAP_SHARED, fd, 0)
    p.poke(a, b"ramdisk")
    p.pread(fd, 7, 0)
    b = p.mmap(0, 2 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0)
    p.peek(b, 7)


CASE_7 = Case(
    "7", "case 7: memory-backed block device (ramdisk), MAP_SHARED",
    "as for ordinary regular files.",
    "as for memory-backed files, but the block device must provide a contiguous run of pages "
    "without truncate; a ramdisk could, if it allocated its memory contiguously up front.",
    _case7,
    "the stock brd ramdisk does not: it declares no capabilities, gets the block-device "
    "default COPY, so MAP_SHARED is ENODEV and MAP_PRIVATE a copy.")


def _case8(p: Any) -> None:
    fd = p.open("/dev/fb0", O_RDWR)
    a = p.mmap(0, 2 * PAGE, RW, MAP_SHARED, fd, 0)
    p.poke(a, b"\xff\x80")
    p.pread(fd, 2, 0)
    p.mmap(0, PAGE, PROT_READ, MAP_PRIVATE, fd, 0)
    mtd = p.open("/dev/mtd0", O_RDONLY)
    p.mmap(0, PAGE, PROT_READ, MAP_SHARED, mtd, 0)
    tty = p.open("/dev/ttyS0", O_RDWR)
    p.mmap(0, PAGE, RW, MAP_SHARED, tty, 0)


CASE_8 = Case(
    "8", "case 8: memory-backed character device (frame buffer, flash), MAP_SHARED",
    "as for ordinary regular files.",
    "the driver may give direct access to the device's memory (frame buffers, flash); "
    "otherwise the mapping is denied.",
    _case8,
    "fbdev has no COPY capability, so MAP_PRIVATE is ENODEV without an MMU; with an MMU the "
    "mtdchar driver refuses every mmap (ENODEV).")


# ---------------------------------------------------------------------------
def _fork(p: Any) -> None:
    a = p.mmap(0, 2 * PAGE, RW, ANON)
    p.poke(a, b"parent")
    p.poke(a + PAGE, b"second page")
    c = p.fork()
    c.peek(a, 6)
    c.poke(a, b"child!")
    p.peek(a, 6)
    c.exit(0)
    v = p.vfork()
    v.poke(a, b"vfork!")
    v.exit(0)
    p.peek(a, 6)
    cl = p.clone(0)
    cl.poke(a, b"clone!")
    p.peek(a, 6)
    cl.munmap(a, 2 * PAGE)


FORK = Case(
    "fork", "fork, vfork, clone",
    "fork() gives the child a copy-on-write copy: frames are shared until one side writes; "
    "clone() without CLONE_VM is a fork.",
    "there is no fork(); clone() must be given CLONE_VM; vfork() shares the parent's memory.",
    _fork,
    "RISC-V has no fork syscall (ENOSYS; architectures that have one return EINVAL); "
    "clone() without CLONE_VM is not refused: the child gets an empty mm (no VMAs) yet "
    "runs on its parent's memory, so its stores land there and its munmap is EINVAL.")


def _map_fixed(p: Any) -> None:
    a = p.mmap(0, 4 * PAGE, RW, ANON)
    p.poke(a + PAGE, b"old")
    p.mmap(a + PAGE, PAGE, RW, ANON | MAP_FIXED)
    p.peek(a + PAGE, 3)
    p.mmap(0x10000000, PAGE, RW, ANON)
    p.munmap(a + 2 * PAGE, PAGE)
    p.munmap(0x30000000, PAGE)


MAP_FIXED_CASE = Case(
    "map_fixed", "MAP_FIXED, address hints, munmap of holes",
    "MAP_FIXED maps exactly where asked (replacing what was there); a free hint is honoured; "
    "unmapping nothing is not an error.",
    "supplying MAP_FIXED or requesting a particular mapping address will result in an error.",
    _map_fixed,
    "only MAP_FIXED is refused (EINVAL); a hint is silently ignored; unmapping an unmapped "
    "range is EINVAL.")


def _mremap(p: Any) -> None:
    a = p.mmap(0, 2 * PAGE, RW, ANON)
    b = p.mmap(0, PAGE, RW, ANON)
    p.poke(b, b"keep me")
    p.mremap(b, PAGE, 4 * PAGE, 0)
    c = p.mremap(b, PAGE, 4 * PAGE, MREMAP_MAYMOVE)
    p.peek(c, 7)
    p.mremap(a, 2 * PAGE, PAGE, 0)
    p.mremap(a, PAGE, 2 * PAGE, 0)


MREMAP = Case(
    "mremap", "mremap: grow, move, shrink",
    "a mapping grows in place when the space above is free, and moves (MREMAP_MAYMOVE) when "
    "it is not; moving moves page-table entries, never data.",
    "mremap \"may change the size of a mapping, and may move it [1] if MREMAP_MAYMOVE is "
    "specified\" and the new size exceeds the slab object; footnote [1]: \"Not currently "
    "supported.\"",
    _mremap,
    "do_mremap never moves a mapping (MREMAP_MAYMOVE changes nothing): it can shrink one, "
    "and grow it back up to the length it was first mapped with, never further (ENOMEM, even "
    "into untrimmed slack); shareable mappings cannot even be resized (EPERM).")


def _zeroing(p: Any) -> None:
    a = p.mmap(0, 64 * PAGE, RW, ANON)
    p.poke(a, b"password=hunter2")
    p.poke(a + 10 * PAGE, b"y")
    p.peek(a + 20 * PAGE, 8)
    p.munmap(a, 64 * PAGE)
    q = p.kernel.spawn("next")
    u = q.mmap(0, 64 * PAGE, RW, ANON | MAP_UNINITIALIZED)
    q.peek(u, 16)


ZEROING = Case(
    "zeroing", "zeroing cost of anonymous memory, and MAP_UNINITIALIZED",
    "pages are cleared only when first written; until then reads see the global zero page. "
    "MAP_UNINITIALIZED is ignored.",
    "the entire mapping is cleared at mmap time, unless MAP_UNINITIALIZED is given and the "
    "kernel was built with CONFIG_MMAP_ALLOW_UNINITIALIZED.",
    _zeroing,
    "the default board is built with that option (nl.boards.default(allow_uninitialized=True), "
    "as the QEMU kernel it is checked against): the next process's MAP_UNINITIALIZED mapping "
    "gets the block just freed, and reads the first process's password. Pass "
    "allow_uninitialized=False to see the flag ignored and the block cleared.")

CASES: dict[str, Case] = {c.key: c for c in (CASE_1, CASE_2, CASE_3, CASE_4, CASE_5, CASE_6,
                                               CASE_7, CASE_8, FORK, MAP_FIXED_CASE, MREMAP,
                                               ZEROING)}
ALL = tuple(CASES.values())

__all__ = ["ALL", "CASES", "CASE_1", "CASE_2", "CASE_3", "CASE_4", "CASE_5", "CASE_6", "CASE_7",
           "CASE_8", "FORK", "MAP_FIXED_CASE", "MREMAP", "ZEROING", "Case"]
