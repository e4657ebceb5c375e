"""Random and hostile syscall sequences against the whole kernel (issue 7).

A hypothesis ``RuleBasedStateMachine`` drives the public API (docs/design.md)
with several processes and every filesystem and device of the default board:
spawn, open/read/write/ftruncate/close/unlink, pipes and sockets, mmap
(anonymous and file, random and hostile arguments), munmap, mremap,
mprotect & co, brk, vfork/clone/fork/exit/execve, SysV and POSIX shm,
futexes, ptrace, raw peek/poke, the NOR flash, sysctl, and snapshot/restore.
Arguments are drawn both sensible and hostile: negative, zero, huge,
unaligned, wrong types, closed fds, foreign addresses, other processes'
addresses.

Checked after every step (``invariants``):

* ``k.check()`` (the model's own invariants);
* each page frame is free, reserved, in exactly one copy region (its owner),
  or in exactly one file's page cache; nothing else;
* region usage == number of VMAs referencing it, and no region is left with
  none;
* copy regions never overlap; direct regions in RAM lie on their file's own
  page-cache pages (or device memory), except where the trace has named the
  ``ramfs.truncate_under_direct_private`` hazard for that region;
* every VMA lies inside its region;
* free + used + reserved = total, and MemFree/MemTotal agree with the frames;
* /proc/maps has exactly one line per region (same start and end), each
  /proc/PID/maps one line per VMA;
* meminfo MmapCopy == pages held by copy regions;
* through the public views only (issue 10): no two regions share a start;
  copy regions are disjoint up to their ``top``; /proc/maps equals
  ``k.regions()`` field by field (range, perms, offset, path); and memory adds
  up: without an MMU MemFree + Cached + MmapCopy = MemTotal (every frame
  outside the boot reservations is free, page cache, or held by a copy region
  up to its top, slack included), with one MemFree + Cached + AnonPages =
  MemTotal;

and around every call: a refused call (``KernelError``) leaves
``state_digest()`` unchanged; nothing but ``KernelError`` escapes, except
``TypeError``/``ValueError`` when the test deliberately passed a non-integer
or out-of-register argument (and those change nothing either). At the end of
every example all processes exit and all files and segments are removed:
the board must be back at its boot state frame for frame (free mask, frame
states, owners, free blocks, MemFree), and every disk block is free or held
by a file still on the disk (``Kernel.check_disk_blocks``).
A call with an integer argument of 2**32 or more runs under tracemalloc:
whatever the number, the host memory it takes stays under ``HOST_BOUND``
(twice the board's RAM plus 4 MiB: a read may return at most RAM-size bytes).

Rules aimed at what an independent check found (issue 10): files shrunk
under direct mappings followed by allocations and head/hole munmaps of the
copies that land there (two regions at one start), huge offsets, sizes and
counts in both spellings of a register, memory pressure (RAM filled with a
ramfs file), a KernelBug followed by execve and snapshot/restore, and
mremap with MREMAP_FIXED onto other mappings. Snapshot/restore is exercised as a
rule: the restored kernel has the same digest, behaves identically for the
same next calls, and the run continues on it.

The kernel factory is a parameter: the no-MMU board and the MMU board
(``nl.boards.default(mmu=True)``). Invariants that only mean something
without an MMU (regions, /proc/maps, MmapCopy) are skipped on the MMU kernel.

Profiles (environment variable ``NOMMU_LAB_HYPOTHESIS_PROFILE``):

* ``ci`` (default): derandomized, a few thousand steps per kernel, about a
  minute in total;
* ``long``: random seeds, 400 examples of up to 120 steps per kernel, for a
  run by hand::

      NOMMU_LAB_HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest \\
          tests/test_state_machine.py -q -s

Figures (examples, steps, calls tried, calls refused, invariant checks,
seconds) are printed in the test summary and written to
``test-artifacts/state-machine-report.json``.
"""

from __future__ import annotations

import json
import os
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import nommu_lab as nl
from nommu_lab.constants import *
from nommu_lab.kernel.memory import FREE_STATES, PageState

PS = 4096
RW = PROT_READ | PROT_WRITE
MAX_PROCS = 6

_common = dict(deadline=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.filter_too_much])
PROFILES = {
    "ci": settings(max_examples=50, stateful_step_count=50, derandomize=True, database=None,
                   **_common),
    "long": settings(max_examples=400, stateful_step_count=120, **_common),
}
PROFILE = os.environ.get("NOMMU_LAB_HYPOTHESIS_PROFILE", "ci")
if PROFILE not in PROFILES:
    raise RuntimeError(f"NOMMU_LAB_HYPOTHESIS_PROFILE={PROFILE!r}: use one of {sorted(PROFILES)}")
RAM = {"ci": 4 << 20, "long": 8 << 20}[PROFILE]
#: host memory one call may take whatever numbers it is given: a read returns at most as
#: many bytes as the machine has RAM (and makes one copy of them), plus room for the model
HOST_BOUND = 2 * RAM + (4 << 20)
HUGE = 1 << 32  # an integer argument this large (either sign) is measured
EXT2_MAXBYTES = 17247252480


def nommu_factory() -> nl.Kernel:
    return nl.boards.default(ram_size=RAM)


def mmu_factory() -> nl.Kernel:
    return nl.boards.default(mmu=True, ram_size=RAM)


FACTORIES: dict[str, Callable[[], nl.Kernel]] = {"nommu": nommu_factory, "mmu": mmu_factory}

STATS: dict[str, dict[str, float]] = {}


def _stats(kind: str) -> dict[str, float]:
    return STATS.setdefault(kind, {"examples": 0, "steps": 0, "calls": 0, "refused": 0,
                                   "succeeded": 0, "abi_errors": 0, "invariant_checks": 0, "snapshots": 0,
                                   "kernel_bugs": 0, "huge_calls": 0, "max_huge_peak": 0,
                                   "oom_kills": 0, "seconds": 0.0})


# --------------------------------------------------------------------------- strategies
HOSTILE_INTS = [0, 1, -1, 7, PS - 1, PS, PS + 1, 2 * PS, 1 << 31, 1 << 32, (1 << 32) + PS,
                (1 << 63) - 1, -(1 << 63), (1 << 64) - 1, (1 << 64) - PS, 0x8000_0000,
                0x2000_0000]
BAD_TYPES = [None, "3", 1.5, b"\x01", [1], object()]
OUT_OF_REGISTER = [1 << 64, 1 << 70, -(1 << 63) - 1, -(1 << 80)]

hostile_int = st.one_of(st.sampled_from(HOSTILE_INTS), st.integers(-(1 << 63), (1 << 64) - 1))
pages = st.integers(1, 9).map(lambda n: n * PS)
length = st.one_of(pages, pages, st.integers(1, 9 * PS), hostile_int)
hostile_off = st.one_of(  # off_t is signed
    st.sampled_from([0, -1, -PS, 7, PS - 1, 1 << 40, (1 << 63) - 1, -(1 << 63), (1 << 63) - PS]),
    st.integers(-(1 << 63), (1 << 63) - 1))
offset = st.one_of(st.integers(0, 4).map(lambda n: n * PS), st.integers(0, 4).map(lambda n: n * PS),
                   hostile_off)
prot = st.one_of(st.sampled_from([PROT_READ, PROT_READ | PROT_WRITE, PROT_READ | PROT_EXEC,
                                  PROT_READ | PROT_WRITE | PROT_EXEC, PROT_NONE, PROT_WRITE,
                                  PROT_EXEC]), st.integers(0, (1 << 64) - 1))
_types = st.sampled_from([MAP_PRIVATE, MAP_PRIVATE, MAP_SHARED, MAP_SHARED, 0,
                          MAP_SHARED_VALIDATE, MAP_DROPPABLE])
_extra = st.sets(st.sampled_from([MAP_FIXED, MAP_UNINITIALIZED, MAP_GROWSDOWN,
                                  MAP_FIXED_NOREPLACE, MAP_HUGETLB, MAP_LOCKED, MAP_POPULATE,
                                  MAP_NORESERVE, 0x8000_0000]), max_size=2)
map_flags = st.one_of(st.builds(lambda t, x: t | sum(x), _types, _extra),
                      st.builds(lambda t, x: t | sum(x), _types, st.just(set())),
                      st.integers(0, (1 << 64) - 1))

PATHS = ["/tmp/a", "/tmp/b", "/tmp/c", "/dev/shm/s1", "/dev/shm/s2", "/f", "/mnt/disk/new",
         "/mnt/disk/notes.txt", "/mnt/disk/pattern.bin", "/mnt/disk/bin/hello",
         "/rom/etc/motd", "/rom/data/pattern.bin", "/rom/data/page.bin", "/rom/bin/hello",
         "/rom/bin/hello-fdpic", "/dev/fb0", "/dev/mtd0", "/dev/ram0", "/dev/zero",
         "/dev/null", "/dev/ttyS0", "/proc/maps", "/proc/meminfo", "/tmp", "/", "/dev/shm",
         "/nonexistent/x", "relative", "/rom/new", "/dev/vda"]
WRITABLE_PATHS = ["/tmp/a", "/tmp/b", "/tmp/c", "/dev/shm/s1", "/dev/shm/s2", "/f",
                  "/mnt/disk/new"]
PROGRAMS = ["/rom/bin/hello", "/rom/bin/hello-ram", "/rom/bin/hello-fdpic", "/rom/bin/hello-pie",
            "/mnt/disk/bin/hello", "/tmp/a", "/dev/fb0", "/nope", "/rom/etc/motd"]
open_flags = st.builds(lambda acc, x: acc | sum(x), st.sampled_from([O_RDONLY, O_WRONLY, O_RDWR,
                                                                       O_RDWR, 3]),
                       st.sets(st.sampled_from([O_CREAT, O_CREAT, O_TRUNC, O_EXCL, O_APPEND,
                                                O_CLOEXEC]), max_size=2))
sizes = st.one_of(st.sampled_from([0, 1, PS - 1, PS, PS + 1, 2 * PS, 3 * PS, 5 * PS, 9 * PS]),
                  st.integers(0, 12 * PS), st.sampled_from([-1, 1 << 32, 5 << 20, 1 << 62]))
huge_off = st.sampled_from([1 << 40, (1 << 63) - 1, 1 << 62, 1 << 63, (1 << 64) - PS,
                            0x7FFF_FFFF_FFFF_F000, EXT2_MAXBYTES, EXT2_MAXBYTES - 1, -PS,
                            (1 << 64) - 1, 1 << 32])
huge_len = st.sampled_from([1 << 32, 1 << 36, 1 << 40, 1 << 62, (1 << 63) - 1, 1 << 63,
                            (1 << 64) - 1, (1 << 64) - PS])


def k_size(p: Any, fd: int) -> int:
    """A file's size, read without making a step of it (fstat changes nothing)."""
    f = p.fds.get(fd)
    return f.inode.size if f is not None else 0


# --------------------------------------------------------------------------- the machine
class KernelMachine(RuleBasedStateMachine):
    """The whole public API, with invariants after every step."""

    factory: Callable[[], nl.Kernel] = staticmethod(nommu_factory)
    kind = "nommu"

    def __init__(self) -> None:
        super().__init__()
        self.st = _stats(self.kind)
        self.st["examples"] += 1
        self.k = type(self).factory()
        k = self.k
        self.nommu = not k.mmu
        self.boot = self._frame_state()
        self.boot_paths = set(self._all_files())
        self.procs: list[Any] = [k.spawn("init"), k.spawn("p2")]
        self.stale_regions: set[int] = set()
        self.trace_seq = self._last_seq()

    # ----------------------------------------------------------------- plumbing
    def _last_seq(self) -> int:
        evs = self.k.trace.since(-1)
        return evs[-1].seq if evs else 0

    def _frame_state(self) -> dict[str, Any]:
        m = self.k.mem
        free = np.isin(m.state, FREE_STATES)
        return {"free": free, "state": np.where(free, 0, m.state), "owner": m.owner.copy(),
                "blocks": m.free_blocks(), "meminfo": dict(self.k.meminfo())}

    def _all_files(self) -> list[str]:
        out = []
        stack = [("", self.k.root)]
        while stack:
            path, node = stack.pop()
            node = self.k._mount_root(node)
            for name, child in node.children.items():
                p = f"{path}/{name}"
                c = self.k._mount_root(child)
                if c.is_dir:
                    if not p.startswith("/proc"):
                        stack.append((p, child))
                elif c.is_reg:
                    out.append(p)
        return out

    def call(self, fn: Callable[..., Any], *args: Any, abi: bool = False, **kw: Any) -> Any:
        """Run one call; a refusal must change nothing; only the allowed exceptions escape."""
        self.st["calls"] += 1
        before = self.k.state_digest()
        huge = any(type(a) is int and abs(a) >= HUGE for a in (*args, *kw.values()))
        if huge:
            tracemalloc.start()
        try:
            result = fn(*args, **kw)
        except nl.KernelError as e:
            self._host_memory(huge, fn)
            if isinstance(e, TypeError | ValueError):
                if not abi:
                    raise AssertionError(f"ABI error for well-formed arguments: {e!r}") from e
                self.st["abi_errors"] += 1
            else:
                self.st["refused"] += 1
                if e.errno is None:
                    self.st["kernel_bugs"] += 1
            after = self.k.state_digest()
            assert after == before, f"refused call changed the kernel: {e}"
            return e
        except (TypeError, ValueError) as e:
            self._host_memory(huge, fn)
            if not abi:
                raise
            self.st["abi_errors"] += 1
            assert self.k.state_digest() == before, f"{e!r} changed the kernel"
            return e
        except BaseException:
            self._host_memory(huge, fn)
            raise
        self._host_memory(huge, fn)
        self.st["succeeded"] += 1
        return result

    def _host_memory(self, huge: bool, fn: Callable[..., Any]) -> None:
        """After a call with a huge integer argument: the host memory it took is bounded."""
        if not huge:
            return
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        self.st["huge_calls"] += 1
        self.st["max_huge_peak"] = max(self.st["max_huge_peak"], peak)
        assert peak < HOST_BOUND, (
            f"{getattr(fn, '__name__', fn)} took {peak} bytes of host memory (bound {HOST_BOUND})")

    def alive(self) -> list[Any]:
        return [p for p in self.procs if p.alive]

    def runnable(self) -> list[Any]:
        return [p for p in self.procs if p.alive and p.vfork_child is None
                and p.futex_wait is None]

    def pick(self, data: Any, pool: list[Any], label: str) -> Any:
        return pool[data.draw(st.integers(0, len(pool) - 1), label=label)]

    def proc(self, data: Any) -> Any:
        """Mostly a runnable process; sometimes a blocked or dead one (hostile)."""
        pool = self.runnable() if data.draw(st.integers(0, 9), label="which") else self.procs
        if not pool:
            pool = self.procs
        return self.pick(data, pool, "proc")

    def fd(self, data: Any, p: Any) -> tuple[Any, bool]:
        """An fd of p (mostly), or a hostile one; the flag says 'not an integer'."""
        kind = data.draw(st.integers(0, 9), label="fdkind")
        if kind < 7 and p.fds:
            return self.pick(data, sorted(p.fds), "fd"), False
        if kind == 9:
            return data.draw(st.sampled_from(BAD_TYPES + OUT_OF_REGISTER), label="badfd"), True
        return data.draw(st.sampled_from([-1, 3, 9, 100, 1 << 20, -(1 << 31)]), label="fdnum"), False

    def addr(self, data: Any) -> int:
        """An address: inside some VMA of any process (own or foreign), or hostile."""
        vmas = [v for q in self.procs if q.alive for v in q.mm.vmas]
        kind = data.draw(st.integers(0, 9), label="addrkind")
        if vmas and kind < 7:
            v = self.pick(data, vmas, "vma")
            off = data.draw(st.sampled_from([0, 0, 0, PS, 2 * PS, -PS, 8, v.vm_end - v.vm_start,
                                             v.vm_end - v.vm_start - PS]), label="off")
            return v.vm_start + off
        return data.draw(hostile_int, label="addr")

    def maybe_bad(self, data: Any, value: Any) -> tuple[Any, bool]:
        """Replace a value by a wrong type or an out-of-register integer now and then."""
        if data.draw(st.integers(0, 24), label="bad?") == 0:
            return data.draw(st.sampled_from(BAD_TYPES + OUT_OF_REGISTER), label="bad"), True
        return value, False

    # ----------------------------------------------------------------- processes
    @precondition(lambda self: len(self.alive()) < MAX_PROCS)
    @rule()
    def spawn(self) -> None:
        self.st["steps"] += 1
        p = self.call(self.k.spawn, "worker")
        if isinstance(p, nl.Process) or hasattr(p, "pid"):
            self.procs.append(p)

    @rule(data=st.data())
    def vfork_or_clone(self, data: Any) -> None:
        self.st["steps"] += 1
        if len(self.alive()) >= MAX_PROCS:
            return
        p = self.proc(data)
        how = data.draw(st.sampled_from(["vfork", "clone_vm", "clone0", "clone_vfork", "fork"]))
        if how == "vfork":
            c = self.call(p.vfork)
        elif how == "fork":
            c = self.call(p.fork)
        else:
            flags = {"clone_vm": CLONE_VM, "clone0": SIGCHLD,
                     "clone_vfork": CLONE_VM | CLONE_VFORK}[how]
            c = self.call(p.clone, flags)
        if hasattr(c, "pid") and not isinstance(c, BaseException):
            self.procs.append(c)

    @rule(data=st.data())
    def exit(self, data: Any) -> None:
        self.st["steps"] += 1
        p = self.proc(data)
        code, bad = self.maybe_bad(data, data.draw(st.integers(-5, 300)))
        self.call(p.exit, code, abi=bad)

    @rule(data=st.data())
    def execve(self, data: Any) -> None:
        self.st["steps"] += 1
        p = self.proc(data)
        path = data.draw(st.sampled_from(PROGRAMS))
        self.call(p.execve, path)

    @rule(data=st.data())
    def brk(self, data: Any) -> None:
        self.st["steps"] += 1
        p = self.proc(data)
        mm = p.mm
        target = data.draw(st.one_of(
            st.sampled_from([0, getattr(mm, "start_brk", 0), getattr(mm, "end_brk", 0),
                             getattr(mm, "brk", 0) + 8, getattr(mm, "end_brk", 0) + 1]),
            hostile_int))
        target, bad = self.maybe_bad(data, target)
        self.call(p.brk, target, abi=bad)

    # ----------------------------------------------------------------- files
    @rule(data=st.data())
    def open(self, data: Any) -> None:
        self.st["steps"] += 1
        p = self.proc(data)
        path = data.draw(st.sampled_from(PATHS))
        flags = data.draw(open_flags)
        self.call(p.open, path, flags, 0o755 if data.draw(st.booleans()) else 0o644)

    @rule(data=st.data())
    def shm_open(self, data: Any) -> None:
        self.st["steps"] += 1
        p = self.proc(data)
        name = data.draw(st.sampled_from(["/s1", "/s2", "/s3", "bad", "/a/b", "/"]))
        self.call(p.shm_open, name, data.draw(open_flags))

    @rule(data=st.data())
    def close_or_dup(self, data: Any) -> None:
        self.st["steps"] += 1
        p = self.proc(data)
        fd, bad = self.fd(data, p)
        if data.draw(st.booleans()):
            self.call(p.close, fd, abi=bad)
        else:
            self.call(p.dup, fd, abi=bad)

    @rule(data=st.data())
    def write(self, data: Any) -> None:
        self.st["steps"] += 1
        p = self.proc(data)
        fd, bad = self.fd(data, p)
        n = data.draw(st.sampled_from([0, 1, 100, PS, PS + 3, 3 * PS]))
        payload: Any = bytes([data.draw(st.integers(0, 255))]) * n
        if data.draw(st.integers(0, 19)) == 0:
            payload, bad = "not bytes", True
        if data.draw(st.booleans()):
            self.call(p.write, fd, payload, abi=bad)
        else:
            self.call(p.pwrite, fd, payload, data.draw(st.sampled_from([0, 5, PS, 3 * PS, -1])),
                      abi=bad)

    @rule(data=st.data())
    def read(self, data: Any) -> None:
        self.st["steps"] += 1
        p = self.proc(data)
        fd, bad = self.fd(data, p)
        n = data.draw(st.sampled_from([0, 1, 64, PS, 3 * PS, -1]))
        if data.draw(st.booleans()):
            self.call(p.read, fd, n, abi=bad)
        else:
            self.call(p.pread, fd, n, data.draw(st.sampled_from([0, 7, PS, -1, 1 << 40])),
                      abi=bad)

    @rule(data=st.data())
    def ftruncate(self, data: Any) -> None:
        self.st["steps"] += 1
        p = self.proc(data)
        fd, bad = self.fd(data, p)
        size, bad2 = self.maybe_bad(data, data.draw(sizes))
        self.call(p.ftruncate, fd, size, abi=bad or bad2)

    @rule(data=st.data())
    def unlink(self, data: Any) -> None:
        self.st["steps"] += 1
        p = self.proc(data)
        path = data.draw(st.sampled_from([*WRITABLE_PATHS, "/rom/etc/motd", "/tmp", "/none"]))
        if data.draw(st.booleans()) and path.startswith("/dev/shm/"):
            self.call(p.shm_unlink, "/" + path.rsplit("/", 1)[1])
        else:
            self.call(p.unlink, path)

    @rule(data=st.data())
    def pipe_or_socket(self, data: Any) -> None:
        self.st["steps"] += 1
        p = self.proc(data)
        self.call(p.pipe if data.draw(st.booleans()) else p.socket)

    # ----------------------------------------------------------------- memory
    @rule(data=st.data())
    def mmap_anon(self, data: Any) -> None:
        self.st["steps"] += 1
        p = self.proc(data)
        flags = data.draw(map_flags) | MAP_ANONYMOUS
        hint = data.draw(st.one_of(st.just(0), hostile_int))
        args = [hint, data.draw(length), data.draw(prot), flags, -1, data.draw(offset)]
        i = data.draw(st.integers(0, 5))
        args[i], bad = self.maybe_bad(data, args[i])
        self.call(p.mmap, *args, abi=bad)

    @rule(data=st.data())
    def mmap_file(self, data: Any) -> None:
        self.st["steps"] += 1
        p = self.proc(data)
        fd, bad = self.fd(data, p)
        flags = data.draw(map_flags) & ~MAP_ANONYMOUS
        args = [0, data.draw(length), data.draw(prot), flags, fd, data.draw(offset)]
        i = data.draw(st.integers(0, 5))
        args[i], bad2 = self.maybe_bad(data, args[i])
        self.call(p.mmap, *args, abi=bad or bad2)

    @rule(data=st.data())
    def munmap(self, data: Any) -> None:
        self.st["steps"] += 1
        p = self.proc(data)
        a = self.addr(data)
        n = data.draw(st.one_of(pages, st.sampled_from([0, 1, -1, 1 << 40]), hostile_int))
        a, bad = self.maybe_bad(data, a)
        self.call(p.munmap, a, n, abi=bad)

    @rule(data=st.data())
    def mremap(self, data: Any) -> None:
        self.st["steps"] += 1
        p = self.proc(data)
        own = [v for v in p.mm.vmas] if p.alive else []
        if own and data.draw(st.integers(0, 3)):
            v = self.pick(data, own, "vma")
            a, old = v.vm_start, v.vm_end - v.vm_start
            if data.draw(st.integers(0, 4)) == 0:
                old = data.draw(length)
        else:
            a, old = self.addr(data), data.draw(length)
        new = data.draw(st.one_of(pages, length))
        flags = data.draw(st.one_of(st.sampled_from([0, MREMAP_MAYMOVE, MREMAP_FIXED,
                                                     MREMAP_FIXED | MREMAP_MAYMOVE,
                                                     MREMAP_DONTUNMAP]), hostile_int))
        new_addr = a if data.draw(st.booleans()) else data.draw(hostile_int)
        new, bad = self.maybe_bad(data, new)
        self.call(p.mremap, a, old, new, flags, new_addr, abi=bad)

    @rule(data=st.data())
    def mmu_only_calls(self, data: Any) -> None:
        self.st["steps"] += 1
        p = self.proc(data)
        fn = data.draw(st.sampled_from([p.mprotect, p.msync, p.madvise]))
        a = self.addr(data)
        self.call(fn, a, data.draw(length), data.draw(st.sampled_from([0, 1, 3, 7])))

    @rule(data=st.data())
    def poke_peek(self, data: Any) -> None:
        self.st["steps"] += 1
        p = self.proc(data)
        a = self.addr(data)
        if data.draw(st.booleans()):
            self.call(p.poke, a, bytes([data.draw(st.integers(0, 255))]) * data.draw(
                st.sampled_from([1, 4, 8, 100])))
        else:
            self.call(p.peek, a, data.draw(st.sampled_from([1, 8, PS])))

    # ----------------------------------------------------------------- IPC, futex, ptrace
    @rule(data=st.data())
    def sysv_shm(self, data: Any) -> None:
        self.st["steps"] += 1
        p = self.proc(data)
        op = data.draw(st.sampled_from(["get", "get", "at", "dt", "rmid"]))
        ids = sorted(self.k.shm_segments) or [1]
        sid = data.draw(st.one_of(st.sampled_from(ids), st.sampled_from([-1, 0, 99999])))
        if op == "get":
            self.call(p.shmget, data.draw(st.sampled_from([IPC_PRIVATE, 11, 12])),
                      data.draw(sizes), data.draw(st.sampled_from(
                          [IPC_CREAT | 0o600, 0, IPC_CREAT | IPC_EXCL | 0o600])))
        elif op == "at":
            self.call(p.shmat, sid, data.draw(st.sampled_from([0, 0, 0x8040_0000, 123])),
                      data.draw(st.sampled_from([0, SHM_RDONLY, SHM_RND, SHM_REMAP, SHM_EXEC])))
        elif op == "dt":
            self.call(p.shmdt, self.addr(data))
        else:
            self.call(p.shmctl, sid, data.draw(st.sampled_from([IPC_RMID, IPC_RMID, IPC_STAT])))

    @rule(data=st.data())
    def futex(self, data: Any) -> None:
        self.st["steps"] += 1
        p = self.proc(data)
        waiting = sorted(a for a in self.k.futex_waiters if isinstance(a, int))
        if waiting and data.draw(st.booleans()):
            a = self.pick(data, waiting, "waiter")
            self.call(p.futex, a, FUTEX_WAKE, data.draw(st.integers(-1, 3)))
            return
        a = self.addr(data)
        op = data.draw(st.sampled_from([FUTEX_WAIT, FUTEX_WAKE, FUTEX_WAIT | FUTEX_PRIVATE_FLAG,
                                        FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 5, -1]))
        val = data.draw(st.sampled_from([0, 1, -1, 2**31 - 1]))
        timeout = data.draw(st.sampled_from([None, None, 10]))
        self.call(p.futex, a, op, val, timeout)

    @rule(data=st.data())
    def ptrace(self, data: Any) -> None:
        self.st["steps"] += 1
        d = self.proc(data)
        t = self.pick(data, self.procs, "target")
        pid = t.pid if data.draw(st.integers(0, 5)) else data.draw(st.sampled_from([0, -1, 999]))
        op = data.draw(st.sampled_from(["attach", "peek", "poke"]))
        if op == "attach":
            self.call(d.ptrace_attach, pid)
        elif op == "peek":
            self.call(d.ptrace_peek, pid, self.addr(data))
        else:
            self.call(d.ptrace_poke, pid, self.addr(data), b"\x13\x00\x00\x00")

    # ----------------------------------------------------------------- machine-wide
    @rule(data=st.data())
    def sysctl(self, data: Any) -> None:
        self.st["steps"] += 1
        name = data.draw(st.sampled_from(["vm.nr_trim_pages", "vm.nr_trim_pages",
                                          "vm.overcommit_memory", "vm.bogus"]))
        value = data.draw(st.one_of(st.integers(0, 6), st.sampled_from([-1, 1 << 40, None])))
        value, bad = self.maybe_bad(data, value)
        self.call(self.k.sysctl, name, value, abi=bad)

    @rule(data=st.data())
    def flash(self, data: Any) -> None:
        self.st["steps"] += 1
        if self.k.flash is None:
            return
        op = data.draw(st.sampled_from(["program", "erase", "complete", "complete", "run"]))
        guard = data.draw(st.booleans())
        if op == "program":
            self.call(self.k.mtd_program, data.draw(st.sampled_from([0xF0000, 0x100, 1 << 21])),
                      b"\x00\x0f", guard=guard)
        elif op == "erase":
            self.call(self.k.mtd_erase, data.draw(st.sampled_from([0xF0000, 0])), guard=guard)
        elif op == "complete":
            self.call(self.k.mtd_complete)
        else:
            p = self.proc(data)
            self.call(p.run, data.draw(st.sampled_from([0, 4])))

    @rule(data=st.data())
    def snapshot_roundtrip(self, data: Any) -> None:
        """Snapshot/restore: same digest, same answers to the same next calls; go on with it."""
        self.st["steps"] += 1
        self._roundtrip(data)

    def _roundtrip(self, data: Any) -> None:
        self.st["snapshots"] += 1
        k = self.k
        blob = k.snapshot()
        k2 = nl.Kernel.restore(blob)
        assert k2.state_digest() == k.state_digest()
        if self.nommu:
            assert k2.proc_maps() == k.proc_maps()
        assert k2.meminfo() == k.meminfo()
        n = data.draw(st.integers(1, 9), label="pages")
        results = []
        for kern in (k, k2):
            out = []
            q = kern.spawn("twin")
            for fn, args in ((q.mmap, (0, n * PS, 3, MAP_PRIVATE | MAP_ANONYMOUS)),
                             (q.open, ("/mnt/disk/pattern.bin",)),
                             (q.mmap, (0, PS, PROT_READ, MAP_PRIVATE, 3, 0)),
                             (q.mmap, (0, 2 * PS, 3, MAP_PRIVATE | MAP_ANONYMOUS)),
                             (q.munmap, (None, n * PS))):
                if args and args[0] is None:
                    args = (out[0], *args[1:])
                try:
                    out.append(fn(*args))
                except nl.KernelError as e:
                    out.append((e.errno, e.rule))
            out.append(q.maps())
            results.append((out, kern.state_digest()))
        assert results[0] == results[1], "the restored kernel behaves differently"
        # continue the run on the restored kernel
        by_pid = {p.pid: p for p in k2.processes.values()}
        self.procs = [by_pid.get(p.pid, p) for p in self.procs]
        self.procs.append(by_pid[max(by_pid)])  # the twin
        self.k = k2
        self.trace_seq = self._last_seq()


    # ----------------------------------------------------------------- issue 10 drivers
    @rule(data=st.data())
    def shrink_under_direct_mapping(self, data: Any) -> None:
        """A ramfs file mapped in place read-only, then shrunk (its pages freed under the
        mapping), then allocations and head/hole munmaps of copies that may land there."""
        self.st["steps"] += 1
        p = self.proc(data)
        n = data.draw(st.integers(1, 4), label="file pages")
        j = data.draw(st.integers(0, n - 1), label="mapped page")
        fd = self.call(p.open, "/tmp/d", O_CREAT | O_RDWR)
        if not isinstance(fd, int):
            return
        if k_size(p, fd):
            self.call(p.ftruncate, fd, 0)  # truncate from 0 gathers contiguous pages
        self.call(p.ftruncate, fd, n * PS)
        self.call(p.mmap, 0, PS, PROT_READ, MAP_PRIVATE, fd, j * PS)
        self.call(p.ftruncate, fd, data.draw(st.integers(0, j), label="cut to") * PS)
        npg = data.draw(st.integers(1, 4), label="copy pages")
        if data.draw(st.booleans(), label="file copy"):
            c = self.call(p.mmap, 0, npg * PS, RW, MAP_PRIVATE, fd, 0)
        else:
            c = self.call(p.mmap, 0, npg * PS, RW, MAP_PRIVATE | MAP_ANONYMOUS)
        if isinstance(c, int) and npg > 1:
            lo = data.draw(st.integers(0, npg - 1), label="unmap from")
            hi = data.draw(st.integers(lo + 1, npg), label="unmap to")
            self.call(p.munmap, c + lo * PS, (hi - lo) * PS)

    @rule(data=st.data())
    def huge_numbers(self, data: Any) -> None:
        """Offsets, sizes and counts far beyond the machine, in both spellings of a register:
        answered with the kernel's errno (or done sparsely), never with host memory."""
        self.st["steps"] += 1
        p = self.proc(data)
        path = data.draw(st.sampled_from(["/tmp/h", "/mnt/disk/h", "/dev/shm/h"]), label="file")
        fd = self.call(p.open, path, O_CREAT | O_RDWR)
        if not isinstance(fd, int):
            return
        op = data.draw(st.sampled_from(["pwrite", "pread", "read", "ftruncate", "mmap_file",
                                        "mmap_anon", "mmap_len", "mremap", "munmap", "peek"]))
        off, n = data.draw(huge_off, label="off"), data.draw(huge_len, label="len")
        if op == "pwrite":
            self.call(p.pwrite, fd, b"x" * data.draw(st.sampled_from([0, 1, 2, PS])), off)
        elif op == "pread":
            self.call(p.pread, fd, data.draw(st.sampled_from([1, PS, n])), off)
        elif op == "read":
            self.call(p.read, fd, n)
        elif op == "ftruncate":
            self.call(p.ftruncate, fd, data.draw(st.sampled_from([off, n])))
        elif op == "mmap_file":
            self.call(p.mmap, 0, PS, data.draw(prot), data.draw(st.sampled_from(
                [MAP_PRIVATE, MAP_SHARED, MAP_PRIVATE | MAP_HUGETLB])), fd, off)
        elif op == "mmap_anon":
            self.call(p.mmap, 0, PS, RW, MAP_PRIVATE | MAP_ANONYMOUS | data.draw(
                st.sampled_from([0, MAP_HUGETLB, MAP_POPULATE])), -1, off)
        elif op == "mmap_len":
            self.call(p.mmap, 0, n, data.draw(st.sampled_from([PROT_READ, RW])),
                      MAP_PRIVATE | MAP_ANONYMOUS | data.draw(st.sampled_from(
                          [0, MAP_POPULATE])), -1, 0)
        elif op == "mremap":
            own = list(p.mm.vmas) if p.alive else []
            a = own[0].vm_start if own else 0x8000_0000
            self.call(p.mremap, a, data.draw(st.sampled_from([PS, n])), n,
                      data.draw(st.sampled_from([0, MREMAP_MAYMOVE])))
        elif op == "munmap":
            self.call(p.munmap, self.addr(data), n)
        else:
            self.call(p.peek, self.addr(data), n, abi=True)

    @rule(data=st.data())
    def memory_pressure(self, data: Any) -> None:
        """Fill RAM with a ramfs file to a few free pages, or past the last one (the OOM
        killer then kills processes: the machine goes on with the survivors), or let it go
        again; then map."""
        self.st["steps"] += 1
        p = self.proc(data)
        fd = self.call(p.open, "/tmp/fill", O_CREAT | O_RDWR)
        if not isinstance(fd, int):
            return
        if data.draw(st.integers(0, 3), label="release") == 0:
            self.call(p.ftruncate, fd, 0)
            return
        left = data.draw(st.integers(-3, 10), label="pages left")
        want = self.k.mem.nr_free - left
        if want > 0:
            alive = self.alive()
            self.call(p.pwrite, fd, b"m" * (want * PS), data.draw(
                st.sampled_from([0, 64 * PS, 1 << 30]), label="at"))
            self.st["oom_kills"] += sum(1 for q in alive if q.killed_by == SIGKILL)
        self.call(p.mmap, 0, data.draw(st.integers(1, 12), label="pages") * PS, RW,
                  MAP_PRIVATE | MAP_ANONYMOUS)

    @rule(data=st.data())
    def kernel_bug_then_exec_and_snapshot(self, data: Any) -> None:
        """A call Linux would BUG() on (the frame buffer shared 1 page, then 2 pages at
        offset 0), then execve and snapshot/restore: the KernelBug travels with the machine."""
        self.st["steps"] += 1
        p = self.proc(data)
        fd = self.call(p.open, "/dev/fb0", O_RDWR)
        if not isinstance(fd, int):
            return
        self.call(p.mmap, 0, PS, RW, MAP_SHARED, fd, 0)
        bug = self.call(p.mmap, 0, 2 * PS, RW, MAP_SHARED, fd, 0)
        if not isinstance(bug, nl.KernelBug):
            return  # the MMU kernel maps it twice; no BUG() to carry along
        # the trace keeps the KernelBug, so every later execve and snapshot step tests it
        # too; here one of them follows at once
        then = data.draw(st.sampled_from(["execve", "snapshot"]), label="then")
        if then == "execve":
            self.call(p.execve, data.draw(st.sampled_from(PROGRAMS[:4])))
        else:
            self._roundtrip(data)

    @rule(data=st.data())
    def mremap_fixed(self, data: Any) -> None:
        """mremap(MREMAP_MAYMOVE | MREMAP_FIXED) onto another of the process's mappings, with
        old lengths that are exact, too long, or -PAGE_SIZE."""
        self.st["steps"] += 1
        p = self.proc(data)
        own = list(p.mm.vmas) if p.alive else []
        if not own:
            return
        v = self.pick(data, own, "source")
        t = self.pick(data, own, "target")
        old = data.draw(st.sampled_from([v.vm_end - v.vm_start, -PS, 4 * PS, PS]), label="old")
        new = data.draw(st.sampled_from([PS, 2 * PS, v.vm_end - v.vm_start]), label="new")
        flags = MREMAP_MAYMOVE | data.draw(st.sampled_from(
            [MREMAP_FIXED, MREMAP_FIXED, MREMAP_DONTUNMAP, MREMAP_FIXED | MREMAP_DONTUNMAP]))
        target = data.draw(st.sampled_from([t.vm_start, t.vm_start + PS, t.vm_end]), label="at")
        self.call(p.mremap, v.vm_start, old, new, flags, target)

    # ----------------------------------------------------------------- invariants
    @invariant()
    def invariants(self) -> None:
        st_ = self.st
        k = self.k
        k.check()
        st_["invariant_checks"] += 1
        mem = k.mem
        ps = k.page_size
        # free + used + reserved = total; meminfo agrees with the frames
        free_mask = np.isin(mem.state, FREE_STATES)
        assert int(free_mask.sum()) == mem.nr_free
        mi = k.meminfo()
        assert mi["MemFree"] == mem.nr_free * ps // 1024
        assert mi["MemTotal"] == (mem.nr_pages - mem.nr_reserved) * ps // 1024
        st_["invariant_checks"] += 2
        for p in self.procs:
            if p.alive:
                assert len(p.maps().splitlines()) == len(p.mm.vmas)
        st_["invariant_checks"] += 1
        self._public_views(k, mi)
        if not self.nommu:
            return
        # hazards named by the trace since the last step
        for ev in k.trace.since(self.trace_seq):
            if ev.rule == "ramfs.truncate_under_direct_private" and "region" in ev.touched:
                self.stale_regions.add(ev.touched["region"])
        self.trace_seq = self._last_seq()
        regions = list(k.region_tree)
        usage: dict[int, int] = {}
        for mm in k.all_mms():
            for v in mm.vmas:
                r = v.vm_region
                usage[r.id] = usage.get(r.id, 0) + 1
                if r.id not in self.stale_regions:  # a truncate may cut a region under a VMA
                    assert r.vm_start <= v.vm_start < v.vm_end <= r.vm_end, (v, r)
        st_["invariant_checks"] += 1
        owner_of = np.full(mem.nr_pages, -1, dtype=np.int64)  # who holds each frame
        copy_pages = 0
        for r in regions:
            assert usage.get(r.id, 0) == r.vm_usage >= 1, f"{r}: usage {r.vm_usage}"
            if r.is_copy:
                lo, n = mem.addr_to_pfn(r.vm_start), (r.vm_top - r.vm_start) // ps
                assert (owner_of[lo:lo + n] == -1).all(), f"copy region {r} overlaps another"
                owner_of[lo:lo + n] = r.id
                assert (mem.owner[lo:lo + n] == r.id).all()
                assert not free_mask[lo:lo + n].any(), f"{r} holds free frames"
                copy_pages += n
        st_["invariant_checks"] += 2
        assert mi["MmapCopy"] == copy_pages * ps // 1024 == k.mmap_pages_allocated * ps // 1024
        st_["invariant_checks"] += 1
        # page-cache frames: each in exactly one inode, never in a copy region
        inodes = k.live_inodes()
        cache = np.zeros(mem.nr_pages, dtype=bool)
        for ino in inodes:
            for i, pfn in ino.pages.items():
                assert not cache[pfn], f"frame {pfn} in two page caches"
                assert owner_of[pfn] == -1, f"page-cache frame {pfn} inside a copy region"
                assert mem.state[pfn] == PageState.PAGECACHE and mem.owner[pfn] == ino.key, (
                    f"frame {pfn} (page {i} of inode {ino.ino}) is {PageState(mem.state[pfn])!r}")
                cache[pfn] = True
        assert not ((mem.state == PageState.PAGECACHE) & ~cache).any(), "page-cache frame leaked"
        held = (owner_of >= 0) | cache
        loose = ~held & ~free_mask & ~np.isin(mem.state, (PageState.KERNEL, PageState.DEVICE))
        assert not loose.any(), f"frames neither free nor held: {np.nonzero(loose)[0][:8]}"
        st_["invariant_checks"] += 3
        # direct regions in RAM sit on their file's own page-cache pages (or device memory)
        for r in regions:
            if r.is_copy or not mem.contains(r.vm_start) or r.id in self.stale_regions:
                continue
            ino = r.vm_file.inode if r.vm_file is not None else None
            first = mem.addr_to_pfn(r.vm_start)
            npg = -(-(r.vm_end - r.vm_start) // ps)
            for j in range(npg):
                pfn = first + j
                if mem.state[pfn] == PageState.DEVICE:
                    continue
                idx = r.vm_pgoff + j
                assert ino is not None and ino.pages.get(idx) == pfn, (
                    f"direct region {r} maps frame {pfn} which is not page {idx} of its file")
        st_["invariant_checks"] += 1
        # /proc/maps: one line per region, same range
        lines = k.proc_maps().splitlines()
        assert len(lines) == len(regions)
        for line, r in zip(lines, regions, strict=True):
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            assert (lo, hi) == (r.vm_start, r.vm_end)
        st_["invariant_checks"] += 1

    def _public_views(self, k: nl.Kernel, mi: dict[str, int]) -> None:
        """Issue 10: what a learner can see must agree with itself."""
        if not self.nommu:
            # every frame outside the reservations is free, page cache or anonymous
            assert mi["MemFree"] + mi["Cached"] + mi["AnonPages"] == mi["MemTotal"], mi
            assert k.regions() == []
            self.st["invariant_checks"] += 1
            return
        # every frame outside the boot reservations is free, page cache, or in a copy region
        assert mi["MemFree"] + mi["Cached"] + mi["MmapCopy"] == mi["MemTotal"], mi
        regions = k.regions()
        starts = [r.start for r in regions]
        assert starts == sorted(set(starts)), f"two regions share a start: {regions}"
        top = 0
        for r in regions:
            if r.copy:
                assert r.start >= top, f"copy region {r} overlaps the one before (top {top:#x})"
                top = r.top
        copy_kb = sum((r.top - r.start) // 1024 for r in regions if r.copy)
        assert copy_kb == mi["MmapCopy"], (copy_kb, mi)
        lines = k.proc_maps().splitlines()
        assert len(lines) == len(regions)
        for line, r in zip(lines, regions, strict=True):
            f = line.split()
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            assert (lo, hi, f[1], int(f[2], 16)) == (
                r.start, r.end, r.perms, (r.pgoff * k.page_size) & ((1 << 64) - 1)), (line, r)
            assert (f[5] if len(f) > 5 else None) == r.path, (line, r)
        self.st["invariant_checks"] += 5

    # ----------------------------------------------------------------- teardown
    def teardown(self) -> None:
        """Every process exits, every file and segment goes: the board is back at boot."""
        k = self.k
        if k.flash is not None:
            k.mtd_complete()
        reaper = k.spawn("reaper")
        for addr in list(k.futex_waiters):
            try:
                reaper.futex(addr, FUTEX_WAKE, 1 << 20)  # shared keys (no-MMU: every key)
            except nl.KernelError:
                pass  # MMU: nothing mapped there in the reaper's mm; handled just below
        for p in list(k.processes.values()):
            if p.futex_wait is not None:
                # a private futex of another mm (MMU kernel) cannot be woken from here; the
                # API has no kill(): stand in for SIGKILL by taking it off the wait queue
                q = k.futex_waiters.get(p.futex_wait, [])
                if p in q:
                    q.remove(p)
                if not q:
                    k.futex_waiters.pop(p.futex_wait, None)
                getattr(k, "futex_keys", {}).pop(p.pid, None)
                p.futex_wait = None
        for sid in list(k.shm_segments):
            reaper.shmctl(sid, IPC_RMID)
        for _ in range(4 * MAX_PROCS + 10):
            live = [p for p in k.processes.values() if p is not reaper]
            if not live:
                break
            for p in live:
                if p.alive and p.vfork_child is None and p.futex_wait is None:
                    p.exit(0)
        assert set(k.processes) == {reaper.pid}, f"processes left: {k.processes}"
        for path in sorted(set(self._all_files()) - self.boot_paths):
            reaper.unlink(path)
        reaper.exit(0)
        assert k.processes == {}
        if self.nommu:
            assert k.regions() == [] and k.proc_maps() == ""
        now = self._frame_state()
        b = self.boot
        check_blocks = True
        if not self.nommu:
            # With an MMU the clean page cache of the board's own files (romfs, ext2) stays
            # after the last close, as on Linux until memory pressure or drop_caches. Those
            # frames are not a leak: count them as free for the comparison.
            cached = np.zeros(k.mem.nr_pages, dtype=bool)
            for ino in getattr(k, "cache_inodes", {}).values():
                if ino.nlink > 0:
                    for pfn in ino.pages.values():
                        cached[pfn] = True
            kept = cached & (k.mem.state == PageState.PAGECACHE)
            n = int(kept.sum())
            now["free"] = now["free"] | kept
            now["state"] = np.where(kept, 0, now["state"])
            now["meminfo"]["MemFree"] += n * k.page_size // 1024
            now["meminfo"]["Cached"] -= n * k.page_size // 1024
            check_blocks = n == 0
        assert (now["free"] == b["free"]).all(), (
            f"frames not back to free: {np.nonzero(now['free'] != b['free'])[0][:8]}")
        assert (now["state"] == b["state"]).all()
        held = ~now["free"]
        assert (k.mem.owner[held] == b["owner"][held]).all()
        if check_blocks:
            assert now["blocks"] == b["blocks"]
        assert now["meminfo"] == b["meminfo"], (now["meminfo"], b["meminfo"])
        k.check()  # the disk's blocks add up (check_disk_blocks): none leaked
        self.st["invariant_checks"] += 1


def make_machine(kind: str) -> type[KernelMachine]:
    return type(f"{kind.title()}KernelMachine", (KernelMachine,),
                {"factory": staticmethod(FACTORIES[kind]), "kind": kind})


# --------------------------------------------------------------------------- report
class _Report:
    """Prints the figures at the end of the session (pytest_terminal_summary)."""

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not STATS:
            return
        tr = terminalreporter
        tr.section(f"nommu-lab state machine (profile {PROFILE})")
        for kind, s in STATS.items():
            tr.write_line(
                f"{kind}: {int(s['examples'])} examples, {int(s['steps'])} steps, "
                f"{int(s['calls'])} calls tried ({int(s['succeeded'])} succeeded, "
                f"{int(s['refused'])} refused with KernelError, "
                f"{int(s['abi_errors'])} TypeError/ValueError, {int(s['kernel_bugs'])} KernelBug, "
                f"{int(s['oom_kills'])} processes killed by the OOM killer), "
                f"{int(s['invariant_checks'])} invariant checks, {int(s['snapshots'])} snapshot "
                f"round trips, {int(s['huge_calls'])} calls with huge numbers (host memory peak "
                f"{s['max_huge_peak'] / 1024:.0f} KiB, bound {HOST_BOUND >> 10} KiB), "
                f"{s['seconds']:.1f} s")


@pytest.fixture(scope="module", autouse=True)
def _report(request: pytest.FixtureRequest):
    pm = request.config.pluginmanager
    if not pm.has_plugin("nommu-lab-state-machine-report"):
        pm.register(_Report(), "nommu-lab-state-machine-report")
    yield
    out = Path(request.config.rootpath) / "test-artifacts"
    out.mkdir(exist_ok=True)
    (out / "state-machine-report.json").write_text(
        json.dumps({"profile": PROFILE, "ram_bytes": RAM, "kernels": STATS}, indent=2) + "\n")


@pytest.mark.parametrize("kind", ["nommu", "mmu"])
def test_state_machine(kind: str) -> None:
    """Issue 7: random and hostile syscall sequences keep every invariant."""
    try:
        FACTORIES[kind]()
    except NotImplementedError:
        pytest.skip(f"TODO({kind}): the {kind} kernel is not built yet; the machine runs on it "
                    "as soon as nl.boards.default(mmu=True) boots")
    s = _stats(kind)
    t0 = time.perf_counter()
    try:
        run_state_machine_as_test(make_machine(kind), settings=PROFILES[PROFILE])
    finally:
        s["seconds"] += time.perf_counter() - t0


def test_snapshot_restore_round_trip_is_exact() -> None:
    """Issue 7: snapshot/restore of a busy machine (mappings of every kind, a suspended vfork
    parent, a futex sleeper, a busy flash chip, SysV/POSIX shm, a driver of one's own) gives
    the same digest, and both kernels answer the same next calls identically."""
    from nommu_lab.kernel.devices import SimpleDriver

    def busy() -> tuple[nl.Kernel, dict[str, Any]]:
        k = nl.boards.default()
        p, q = k.spawn("p"), k.spawn("q")
        k.register_driver("/dev/my", SimpleDriver(
            capabilities=NOMMU_MAP_DIRECT | NOMMU_MAP_READ | NOMMU_MAP_WRITE))
        a = p.mmap(0, 5 * PS, 3, MAP_PRIVATE | MAP_ANONYMOUS)
        fd = p.open("/dev/shm/x", O_CREAT | O_RDWR)
        p.ftruncate(fd, 2 * PS)
        s = p.mmap(0, 2 * PS, 3, MAP_SHARED, fd, 0)
        q.mmap(0, PS, 3, MAP_SHARED, q.open("/dev/my", O_RDWR), 0)
        q.execve("/rom/bin/hello-fdpic")
        w = k.spawn("waiter")
        w.mmap(0, PS, 3, MAP_SHARED, w.open("/dev/shm/x", O_RDWR), 0)
        w.futex(s, FUTEX_WAIT, 0)
        p.shmget(IPC_PRIVATE, PS, IPC_CREAT | 0o600)
        c = p.vfork()
        k.mtd_program(0xF0000, b"\x00")
        return k, {"p": p.pid, "c": c.pid, "a": a, "s": s, "w": w.pid}

    k, h = busy()
    k2 = nl.Kernel.restore(k.snapshot())
    assert k2 is not k and k2.state_digest() == k.state_digest()
    assert k2.proc_maps() == k.proc_maps() and k2.meminfo() == k.meminfo()
    answers = []
    for kern in (k, k2):
        pr = kern.processes
        out: list[Any] = []
        for fn, args in ((pr[h["p"]].mmap, (0, PS, 3, MAP_PRIVATE | MAP_ANONYMOUS)),
                         (pr[h["c"]].munmap, (h["a"] + PS, PS)),
                         (pr[h["c"]].futex, (h["s"], FUTEX_WAKE, 1)),
                         (pr[h["c"]].exit, (0,)),
                         (pr[h["p"]].mmap, (0, 3 * PS, 3, MAP_PRIVATE | MAP_ANONYMOUS)),
                         (pr[h["w"]].munmap, (h["s"], 2 * PS)),
                         (kern.mtd_complete, ())):
            try:
                out.append(fn(*args))
            except nl.KernelError as e:
                out.append((e.errno, e.rule))
        out.append(kern.proc_maps())
        answers.append((out, kern.state_digest(), kern.meminfo()))
        kern.check()
    assert answers[0] == answers[1]
