"""Exercise "anonymous-mappings" (cases 1 and 2 of the document; note 2).

Kinds: explain a rule as a function the check tries on many inputs; write the
calls that reach a goal; judge statements against the model.

* ``anon-charge``: ``pages_held(length, nr_trim_pages)``, the pages an
  anonymous mapping really takes from the page allocator (``MmapCopy``):
  ``do_mmap_private`` allocates one ``2^get_order(len)`` block and gives the
  tail back only if ``vm.nr_trim_pages`` is not 0 and the tail is at least
  that many pages. The check measures each answer on the model.
* ``anon-aligned``: a buffer aligned to a large power of two without
  ``MAP_FIXED``, for as little memory as possible: the address of a copy is
  aligned to its whole block (the buddy allocator's blocks are naturally
  aligned), and trimming gives back what is not needed. The check runs the
  learner's code on boards whose daemon holds different amounts of memory,
  so an address aligned by luck does not pass, and finds the cheapest
  possible charge by measuring every length on the model.
* ``anon-shared``: statements about ``MAP_SHARED | MAP_ANONYMOUS`` on both
  kernels (``determine_vm_flags`` makes it private without an MMU), each
  judged by an experiment on the model.
"""

from __future__ import annotations

import random
from typing import Any

from ..boards import default
from ..kernel.constants import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    MAP_SHARED,
    PROT_READ,
    PROT_WRITE,
    VM_SHARED,
)
from . import statements
from .common import PS, hexa, is_int, mmap_copy_pages, outcome, vma_at
from .framework import Exercise, Marker, Stop, part

RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
REVISIT_CHARGE = ("the tutorial's notebook 02-anonymous-mappings (and 05-further-notes, note 2): "
                  "do_mmap_private takes a 2^order block and trims the tail only when "
                  "vm.nr_trim_pages is not 0 and the tail is at least that long")
REVISIT_ALIGN = ("notebook 02-anonymous-mappings: a copy's address is aligned to its whole "
                 "2^order block (the buddy allocator), and trimming gives back the tail")
REVISIT_SHARED = ("notebook 02-anonymous-mappings, case 2: determine_vm_flags gives anonymous "
                  "MAP_SHARED the flags of MAP_PRIVATE without an MMU; compare with "
                  "nl.boards.default(mmu=True)")
#: page counts the charge question draws from: powers of two, one more, odd sizes
PAGE_POOL = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 19, 20, 23, 24, 25, 28,
             31, 32, 33, 40, 47, 48, 60, 63, 64, 65)


# ---------------------------------------------------------------------------
# the model's answers, measured
# ---------------------------------------------------------------------------
def held_pages(ram_mib: int, nr_trim_pages: int, lengths: list[int]) -> list[int]:
    """What each anonymous request of ``lengths`` takes from the allocator (``MmapCopy``)."""
    k = default(ram_size=ram_mib << 20, nr_trim_pages=nr_trim_pages, exam=True)
    p = k.spawn("probe")
    out = []
    for n in lengths:
        before = mmap_copy_pages(k)
        a = p.mmap(0, n, RW, ANON, -1, 0)
        out.append(mmap_copy_pages(k) - before)
        p.munmap(a, n)
    return out


def _board(params: dict[str, Any], mmu: bool = False) -> Any:
    return default(mmu, ram_size=params["ram_mib"] << 20, exam=True)


def _map_shared(k: Any, pages: int, flags: int = MAP_SHARED | MAP_ANONYMOUS) -> tuple[Any, int]:
    p = k.spawn("app")
    return p, p.mmap(0, pages * PS, RW, flags, -1, 0)


def _vm_shared(params: dict[str, Any], mmu: bool) -> bool:
    """Does the mapping carry VM_SHARED (what /proc/<pid>/maps prints as 's' or 'S')?"""
    p, a = _map_shared(_board(params, mmu), params["shared_pages"])
    return bool(vma_at(p, a).flags & VM_SHARED)


def _second_same_address(params: dict[str, Any]) -> bool:
    k = _board(params)
    (_, a), (_, b) = _map_shared(k, params["shared_pages"]), _map_shared(k, params["shared_pages"])
    return a == b


def _one_region(params: dict[str, Any]) -> bool:
    k = _board(params)
    (p, a), (q, b) = _map_shared(k, params["shared_pages"]), _map_shared(k, params["shared_pages"])
    return vma_at(p, a).region.id == vma_at(q, b).region.id


def _shrinks(params: dict[str, Any]) -> bool:
    p, a = _map_shared(_board(params), params["shared_pages"])
    return is_int(outcome(lambda: p.mremap(a, params["shared_pages"] * PS, PS, 0)))


def _charge_as_private(params: dict[str, Any]) -> bool:
    charges = []
    for flags in (MAP_SHARED | MAP_ANONYMOUS, ANON):
        k = _board(params)
        before = mmap_copy_pages(k)
        _map_shared(k, params["shared_pages"], flags)
        charges.append(mmap_copy_pages(k) - before)
    return charges[0] == charges[1]


def _fork_sees(params: dict[str, Any], mmu: bool, flags: int) -> bool:
    """Parent maps, forks, then writes: does the child read the parent's write?"""
    p, a = _map_shared(_board(params, mmu), params["shared_pages"], flags)
    child = outcome(p.fork)
    if not hasattr(child, "peek"):
        return False  # no fork at all: nothing is shared with a child
    p.poke(a, b"after the fork")
    return child.peek(a, 14) == b"after the fork"


SHARED_STATEMENTS: dict[str, statements.Statement] = {
    "nommu_perms": statements.Statement(
        "On the no-MMU board, a {shared_pages}-page MAP_SHARED|MAP_ANONYMOUS mapping is private: "
        "no VM_SHARED flag, 'p' in /proc/<pid>/maps.",
        lambda prm: not _vm_shared(prm, False),
        "determine_vm_flags gives anonymous memory no VM_SHARED/VM_MAYSHARE without an MMU"),
    "mmu_perms": statements.Statement(
        "On the MMU board, the same request makes a shared mapping (VM_SHARED, 's' in "
        "/proc/<pid>/maps).",
        lambda prm: _vm_shared(prm, True),
        "with an MMU anonymous MAP_SHARED is shmem-backed shared memory (VM_SHARED)"),
    "same_address": statements.Statement(
        "On the no-MMU board, a second process making the same {shared_pages}-page "
        "MAP_SHARED|MAP_ANONYMOUS request gets the first one's address.",
        _second_same_address,
        "anonymous mappings never search for a shareable region (do_mmap): each request "
        "gets its own block"),
    "one_region": statements.Statement(
        "On the no-MMU board, two processes that each map {shared_pages} pages "
        "MAP_SHARED|MAP_ANONYMOUS end up using one vm_region (usage 2).",
        _one_region,
        "only file mappings with VM_MAYSHARE or VM_MAYOVERLAY can share a region"),
    "mremap_shrink": statements.Statement(
        "On the no-MMU board, mremap can shrink such a mapping to one page.",
        _shrinks,
        "do_mremap refuses shareable mappings (EPERM), and anonymous MAP_SHARED is not shareable "
        "without an MMU"),
    "charge": statements.Statement(
        "On the no-MMU board, it takes exactly as many pages (MmapCopy) as the same request "
        "with MAP_PRIVATE.",
        _charge_as_private,
        "both go through do_mmap_private: one block, trimmed the same way"),
    "mmu_fork": statements.Statement(
        "On the MMU board, a child made by fork() reads what its parent writes into the "
        "mapping after the fork.",
        lambda prm: _fork_sees(prm, True, MAP_SHARED | MAP_ANONYMOUS),
        "with an MMU, shared anonymous pages stay shared across fork (case 2)"),
    "mmu_fork_private": statements.Statement(
        "On the MMU board, a child made by fork() reads what its parent writes after the fork "
        "into a MAP_PRIVATE|MAP_ANONYMOUS mapping.",
        lambda prm: _fork_sees(prm, True, ANON),
        "a private mapping is copied on write across fork (case 1 with an MMU)"),
    "nommu_fork": statements.Statement(
        "On the no-MMU board, fork() makes a child that shares the mapping with its parent.",
        lambda prm: _fork_sees(prm, False, MAP_SHARED | MAP_ANONYMOUS),
        "there is no fork without an MMU (RISC-V has no fork syscall at all: ENOSYS); "
        "vfork/clone(CLONE_VM) share the whole mm instead"),
}


class AnonymousMappings(Exercise):
    name = "anonymous-mappings"
    title = "Anonymous mappings: what they cost, where they land, and MAP_SHARED"

    def choose(self, rng: random.Random) -> dict[str, Any]:
        lengths: list[int] = []
        while len(lengths) < 6:
            pages = rng.choice(PAGE_POOL)
            n = pages * PS - rng.choice([0, 0, 1, 100, 2048, 4000])
            if n > 0 and n not in lengths:
                lengths.append(n)
        align_pages = rng.choice([8, 16, 32, 64])
        dma_bytes = rng.randint(1, align_pages // 4) * PS - rng.choice([0, 256, 1000])
        return {
            "ram_mib": rng.choice([4, 8]),
            "lengths": lengths,
            "nr_trim_pages": rng.choice([2, 3, 4, 8]),
            "busy_pages": rng.randint(1, 30),
            "dma_bytes": dma_bytes,
            "dma_align": align_pages * PS,
            "shared_pages": rng.randint(2, 9),
            "statements": statements.draw(rng, SHARED_STATEMENTS, 5),
        }

    def board(self, busy_pages: int | None = None) -> Any:
        """The variant's board: ``vm.nr_trim_pages`` set, a daemon already holding memory."""
        prm = self.params
        k = default(ram_size=prm["ram_mib"] << 20, nr_trim_pages=prm["nr_trim_pages"], exam=self.exam)
        daemon = k.spawn("daemon")
        daemon.mmap(0, (prm["busy_pages"] if busy_pages is None else busy_pages) * PS, RW, ANON, -1, 0)
        return k

    def listed_statements(self) -> list[tuple[str, str]]:
        """Part 3's statements, lettered, as the notebook prints them."""
        return statements.lettered(self.params, SHARED_STATEMENTS, self.params["statements"])

    # -- part 1 --------------------------------------------------------------
    @part("anon-charge", 3, "pages_held(length, nr_trim_pages): what a request really takes",
          REVISIT_CHARGE)
    def check_charge(self, m: Marker, pages_held: Any) -> None:
        if not callable(pages_held):
            raise Stop(f"pages_held must be a function, not {type(pages_held).__name__}")
        prm = self.params
        lengths = prm["lengths"]
        blocks = held_pages(prm["ram_mib"], 0, lengths)  # trimming off: the whole block
        for trim in (0, 1, prm["nr_trim_pages"]):
            want = held_pages(prm["ram_mib"], trim, lengths)
            wrong = []
            for n, w, block in zip(lengths, want, blocks, strict=True):
                got = m.run(pages_held, n, trim, what=f"pages_held({n}, {trim})")
                if got != w:
                    wrong.append((n, got, w, block))
            if not wrong:
                m.award(True, 1, f"right for all {len(lengths)} lengths with vm.nr_trim_pages = {trim}",
                        "")
                continue
            n, got, w, block = wrong[0]
            asked = -(-n // PS)
            if got == asked and w != asked:
                hint = (f"that is the length asked for, in pages; the kernel takes a block of "
                        f"{block} pages (2^get_order) and keeps {w} of them")
            elif got == block and w != block:
                hint = (f"that is the whole block; with vm.nr_trim_pages = {trim} its tail of "
                        f"{block - asked} pages is given back")
            else:
                hint = f"the kernel keeps {w} pages ({asked} asked for, a block of {block} taken)"
            m.award(False, 1, "",
                    f"vm.nr_trim_pages = {trim}: pages_held({n}, {trim}) returned {got!r}: {hint}"
                    + (f" (and {len(wrong) - 1} more wrong)" if len(wrong) > 1 else ""))

    # -- part 2 --------------------------------------------------------------
    def cheapest(self) -> int:
        """The fewest pages any single anonymous request that is aligned for sure can hold.

        Measured: for every page count from the buffer's up to the alignment,
        the block the kernel takes (trimming off) must be at least the
        alignment, and the charge is read with the variant's trim setting.
        """
        prm = self.params
        need = -(-prm["dma_bytes"] // PS)
        counts = list(range(need, prm["dma_align"] // PS + 1))
        lengths = [c * PS for c in counts]
        blocks = held_pages(prm["ram_mib"], 0, lengths)
        charges = held_pages(prm["ram_mib"], prm["nr_trim_pages"], lengths)
        return min(c for c, b in zip(charges, blocks, strict=True) if b * PS >= prm["dma_align"])

    @part("anon-aligned", 3, "An aligned buffer without MAP_FIXED, for as little memory as possible",
          REVISIT_ALIGN)
    def check_aligned(self, m: Marker, dma_buffer: Any) -> None:
        prm = self.params
        size, align = prm["dma_bytes"], prm["dma_align"]
        k = self.board()
        p = k.spawn("driver")
        before = mmap_copy_pages(k)
        a = m.run(dma_buffer, p, what="dma_buffer(p)")
        held = mmap_copy_pages(k) - before
        v = vma_at(p, a)
        if not m.award(v is not None and v.path is None and a + size <= v.end, 1,
                       f"{size} bytes of anonymous memory at {a:#x}" if is_int(a) else "",
                       f"dma_buffer(p) must return the address of {size} bytes of anonymous memory "
                       f"that p mapped; it returned {a!r}"):
            return
        misaligned = []
        for busy in sorted({prm["busy_pages"], 1, 2, 3, 5, 17, 33}):
            kb = self.board(busy)
            addr = m.run(dma_buffer, kb.spawn("driver"), what="dma_buffer(p)")
            if not is_int(addr) or addr % align:
                misaligned.append((busy, addr))
        busy, addr = misaligned[0] if misaligned else (0, 0)
        shown = hexa(addr)
        if not m.award(not misaligned, 1, f"aligned to {align:#x} whatever the daemon holds",
                       f"not aligned for sure: when the daemon holds {busy} page(s), dma_buffer(p) "
                       f"returns {shown}; only the size of the block the kernel takes guarantees "
                       f"alignment to {align:#x}"):
            return
        best = self.cheapest()
        m.award(held == best, 1, f"it holds {held} pages, the fewest possible",
                f"it holds {held} pages; {best} would do: any request whose block is "
                f"{align // PS} pages is aligned to {align:#x}, and vm.nr_trim_pages = "
                f"{prm['nr_trim_pages']} decides how much of that block is kept")

    # -- part 3 --------------------------------------------------------------
    @part("anon-shared", 2, "MAP_SHARED|MAP_ANONYMOUS with and without an MMU: which statements hold?",
          REVISIT_SHARED)
    def check_shared(self, m: Marker, true_statements: Any) -> None:
        got = m.answer(true_statements, what="true_statements()")
        statements.mark(m, got, self.params, SHARED_STATEMENTS, self.params["statements"], 2)
