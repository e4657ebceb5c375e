"""Property-based invariants of the MMU kernel (hypothesis).

Random programs of mmap (anonymous private and shared, ramfs files private
and shared, a disk file shared), loads and stores, fork, vfork, exit,
munmap, mprotect, mremap and ftruncate run on a small MMU board. After every
step:

* ``k.check()``: no frame owned twice (one page cache at most, or anonymous
  and mapped), ``mapcount`` equals the page-table entries mapping each
  frame, a writable private entry maps a frame nobody else maps (copy-on-write
  intact), free + used + reserved = total, the zero page stays zero;
* a refused call leaves ``state_digest()`` unchanged;
* what a process reads is what the model of its memory says it should be
  (a shadow copy per process, forked with it).

At the end every process exits and the files go: MemFree and every frame's
state are back at their boot values, and no frame is mapped.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import nommu_lab as nl
from nommu_lab.constants import *
from nommu_lab.kernel.memory import PageState

PS = 4096
RW = PROT_READ | PROT_WRITE
PAGES = st.integers(1, 6)


class MmuMachine(RuleBasedStateMachine):
    """Several processes, each with a shadow of what its private memory must hold."""

    def __init__(self) -> None:
        super().__init__()
        self.k = nl.boards.default(mmu=True, ram_size=2 << 20)
        self.boot_free = self.k.meminfo()["MemFree"]
        self.boot_state = self.k.mem.state.copy()
        self.procs: list[Any] = []
        self.maps: dict[int, list[tuple[int, int, str]]] = {}  # pid -> (addr, len, kind)
        self.files = 0
        self.refusals = 0
        self.pages_checked = 0
        self.shadow: dict[int, dict[int, bytearray]] = {}  # mm id -> page -> expected bytes
        self.spawn()

    # ------------------------------------------------------------ helpers
    def spawn(self) -> Any:
        p = self.k.spawn("t")
        self.procs.append(p)
        self.maps[p.pid] = []
        self.shadow[p.mm.id] = {}
        return p

    def anon_private(self, p: Any, page: int) -> bool:
        v = p.mm.vma_lookup(page)
        return v is not None and v.kind == "anon" and not v.shared

    def remember(self, p: Any, addr: int, data: bytes) -> None:
        """Record a store into private anonymous pages in the process's shadow."""
        sh = self.shadow[p.mm.id]
        for i in range(len(data)):
            page = (addr + i) & ~(PS - 1)
            if self.anon_private(p, page):
                sh.setdefault(page, bytearray(PS))[(addr + i) % PS] = data[i]

    def forget(self, p: Any, start: int, end: int) -> None:
        sh = self.shadow[p.mm.id]
        for page in [q for q in sh if start <= q < end]:
            del sh[page]

    def expect(self, p: Any, addr: int, got: bytes) -> None:
        """Bytes read from private anonymous pages are what this process last stored there."""
        sh = self.shadow[p.mm.id]
        for i, b in enumerate(got):
            page = (addr + i) & ~(PS - 1)
            if self.anon_private(p, page):
                want = sh[page][(addr + i) % PS] if page in sh else 0
                assert b == want, f"pid {p.pid} reads {b} at {addr + i:#x}, stored {want}"

    def runnable(self) -> list[Any]:
        return [p for p in self.procs
                if p.alive and p.vfork_child is None and p.futex_wait is None]

    def attempt(self, fn: Any, *args: Any) -> Any:
        before = self.k.state_digest()
        try:
            return fn(*args)
        except nl.KernelError:
            self.refusals += 1
            assert self.k.state_digest() == before, "a refused call changed the kernel"
            return None

    # -------------------------------------------------------------- rules
    @rule(data=st.data(), pages=PAGES, shared=st.booleans(), prot=st.sampled_from([RW, RW, PROT_READ]))
    def mmap_anon(self, data: Any, pages: int, shared: bool, prot: int) -> None:
        p = data.draw(st.sampled_from(self.runnable()))
        flags = (MAP_SHARED if shared else MAP_PRIVATE) | MAP_ANONYMOUS
        a = self.attempt(p.mmap, 0, pages * PS, prot, flags)
        if a is not None:
            self.maps[p.pid].append((a, pages * PS, "anon"))

    @rule(data=st.data(), pages=PAGES, shared=st.booleans(), where=st.sampled_from(["/tmp", "/mnt/disk"]))
    def mmap_file(self, data: Any, pages: int, shared: bool, where: str) -> None:
        p = data.draw(st.sampled_from(self.runnable()))
        self.files += 1
        path = f"{where}/f{self.files}"
        fd = self.attempt(p.open, path, O_RDWR | O_CREAT, 0o644)
        if fd is None:
            return
        self.attempt(p.write, fd, bytes([self.files % 251]) * (pages * PS - 100))
        a = self.attempt(p.mmap, 0, pages * PS, RW, MAP_SHARED if shared else MAP_PRIVATE, fd, 0)
        self.attempt(p.close, fd)
        if a is not None:
            self.maps[p.pid].append((a, pages * PS, path))

    @rule(data=st.data(), n=st.integers(1, 2 * PS), write=st.booleans())
    def access(self, data: Any, n: int, write: bool) -> None:
        p = data.draw(st.sampled_from(self.runnable()))
        mine = self.maps[p.pid]
        base, length = data.draw(st.sampled_from(mine))[:2] if mine else (0x5000_0000, PS)
        off = data.draw(st.integers(0, length))
        if write:
            payload = bytes([(off + n) % 256]) * n
            if self.attempt(p.poke, base + off, payload) is not None:
                self.remember(p, base + off, payload)
        else:
            before = self.k.state_digest()
            try:
                got = p.peek(base + off, n)
            except nl.KernelError:
                assert self.k.state_digest() == before
            else:
                self.expect(p, base + off, got)

    @rule(data=st.data(), pages=PAGES, off=st.integers(-2, 6))
    def mmap_fixed(self, data: Any, pages: int, off: int) -> None:
        """MAP_FIXED over (part of) an existing mapping replaces what was there."""
        p = data.draw(st.sampled_from(self.runnable()))
        mine = self.maps[p.pid]
        base = data.draw(st.sampled_from(mine))[0] if mine else 0x4000_0000
        addr = base + off * PS
        a = self.attempt(p.mmap, addr, pages * PS, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
        if a is not None:
            assert a == addr
            self.forget(p, addr, addr + pages * PS)
            mine.append((a, pages * PS, "anon"))

    @rule(data=st.data(), pages=PAGES)
    def sysv_shm(self, data: Any, pages: int) -> None:
        p = data.draw(st.sampled_from(self.runnable()))
        sid = self.attempt(p.shmget, 0, pages * PS, IPC_CREAT | 0o600)
        if sid is None:
            return
        a = self.attempt(p.shmat, sid, 0, 0)
        self.attempt(p.shmctl, sid, IPC_RMID)  # goes when the last attachment does
        if a is not None:
            self.maps[p.pid].append((a, pages * PS, "sysv"))

    def _store(self, data: Any) -> None:
        p = data.draw(st.sampled_from(self.runnable()))
        mine = self.maps[p.pid]
        if not mine:
            return
        base, length = data.draw(st.sampled_from(mine))[:2]
        off = data.draw(st.integers(0, max(0, length // PS - 1))) * PS + data.draw(st.integers(0, 64))
        payload = bytes([data.draw(st.integers(1, 255))]) * data.draw(st.integers(1, 64))
        if self.attempt(p.poke, base + off, payload) is not None:
            self.remember(p, base + off, payload)

    @rule(data=st.data())
    def store(self, data: Any) -> None:
        """Weighted in: stores into existing mappings are what copy-on-write is about."""
        self._store(data)

    @rule(data=st.data())
    def store_again(self, data: Any) -> None:
        self._store(data)

    @precondition(lambda self: len(self.procs) < 6)
    @rule(data=st.data(), how=st.sampled_from(["fork", "vfork", "clone"]))
    def fork(self, data: Any, how: str) -> None:
        p = data.draw(st.sampled_from(self.runnable()))
        c = getattr(p, how)() if how != "clone" else p.clone(0)
        self.procs.append(c)
        self.maps[c.pid] = list(self.maps[p.pid])
        if c.mm is not p.mm:
            self.shadow[c.mm.id] = {q: bytearray(b) for q, b in self.shadow[p.mm.id].items()}

    @rule(data=st.data())
    def exit(self, data: Any) -> None:
        p = data.draw(st.sampled_from(self.runnable()))
        p.exit(0)
        if not self.runnable():
            self.spawn()

    @rule(data=st.data(), off=st.integers(-PS, 6 * PS), pages=st.integers(0, 4))
    def munmap(self, data: Any, off: int, pages: int) -> None:
        p = data.draw(st.sampled_from(self.runnable()))
        mine = self.maps[p.pid]
        base = data.draw(st.sampled_from(mine))[0] if mine else 0x5000_0000
        if self.attempt(p.munmap, base + off, pages * PS) is not None:
            self.forget(p, base + off, base + off + pages * PS)

    @rule(data=st.data(), off=st.integers(0, 4), pages=st.integers(0, 4),
          prot=st.sampled_from([PROT_NONE, PROT_READ, RW]))
    def mprotect(self, data: Any, off: int, pages: int, prot: int) -> None:
        p = data.draw(st.sampled_from(self.runnable()))
        mine = self.maps[p.pid]
        if mine:
            base = data.draw(st.sampled_from(mine))[0]
            self.attempt(p.mprotect, base + off * PS, pages * PS, prot)

    @rule(data=st.data(), old=st.integers(1, 4), new=st.integers(1, 8),
          flags=st.sampled_from([0, MREMAP_MAYMOVE]))
    def mremap(self, data: Any, old: int, new: int, flags: int) -> None:
        p = data.draw(st.sampled_from(self.runnable()))
        mine = self.maps[p.pid]
        if mine:
            i = data.draw(st.integers(0, len(mine) - 1))
            src = mine[i][0]
            anon = {q: self.anon_private(p, q) for q in range(src, src + old * PS, PS)}
            a = self.attempt(p.mremap, src, old * PS, new * PS, flags)
            if a is not None:
                mine.append((a, new * PS, mine[i][2]))
                sh = self.shadow[p.mm.id]
                keep = min(old, new) * PS
                moved = {q - src: sh.pop(q) for q in list(sh) if src <= q < src + old * PS}
                for delta, page in moved.items():
                    if delta < keep and anon.get(src + delta):
                        sh[a + delta] = page

    @rule(data=st.data(), size=st.integers(0, 6 * PS))
    def truncate(self, data: Any, size: int) -> None:
        p = data.draw(st.sampled_from(self.runnable()))
        files = [path for _, _, path in self.maps[p.pid] if path != "anon"]
        if files:
            fd = self.attempt(p.open, data.draw(st.sampled_from(files)), O_RDWR)
            if fd is not None:
                self.attempt(p.ftruncate, fd, size)
                p.close(fd)

    # --------------------------------------------------------- invariants
    @invariant()
    def kernel_invariants(self) -> None:
        self.k.check()
        counts = self.k.mem.counts()
        used = counts[PageState.ANON] + counts[PageState.FILE_COPY] + counts[PageState.PAGECACHE]
        assert self.k.meminfo()["MemFree"] == self.boot_free - used * 4

    @invariant()
    def private_memory_is_private(self) -> None:
        """Copy-on-write: every process sees exactly the bytes it stored in its private
        anonymous pages, whatever its fork relatives stored since (read through the page
        table, without faulting)."""
        k = self.k
        mem = k.mem.data
        for p in self.procs:
            if not p.alive:
                continue
            for page, want in self.shadow[p.mm.id].items():
                if not self.anon_private(p, page):
                    continue
                pte = p.mm.pte.get(page // PS)
                got = bytes(PS) if pte is None else mem[pte.pfn * PS:(pte.pfn + 1) * PS].tobytes()
                assert got == bytes(want), f"pid {p.pid}: page {page:#x} changed behind its back"
                self.pages_checked += 1

    def teardown(self) -> None:
        k = self.k
        for p in list(k.processes.values()):
            if p.futex_wait is not None:
                k.futex_waiters.clear()
                p.futex_wait = None
        for _ in range(20):
            for p in [q for q in k.processes.values() if q.vfork_child is None]:
                p.exit(0)
            if not k.processes:
                break
        reaper = k.spawn("reaper")
        for i in range(1, self.files + 1):
            for where in ("/tmp", "/mnt/disk"):
                if k.lookup(f"{where}/f{i}") is not None:
                    reaper.unlink(f"{where}/f{i}")
        reaper.exit(0)
        assert k.processes == {}
        k.check()
        assert k.meminfo()["MemFree"] == self.boot_free, "frames leaked after every exit"
        assert (k.mem.state == self.boot_state).all() or (
            np.isin(k.mem.state[k.mem.state != self.boot_state],
                    (PageState.FREE, PageState.TRIMMED)).all()), "frame states not back to boot"
        assert not k.mapcount.any()


MmuMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
test_mmu_state_machine = MmuMachine.TestCase
