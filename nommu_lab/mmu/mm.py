"""An address space with an MMU: VMAs, a page table, and the fixed layout.

With an MMU every process has its own *virtual* addresses. A VMA
(``struct vm_area_struct``) says what a range of virtual addresses may hold
and who backs it; the page table says which physical frame each virtual
page is mapped to *right now*. The two are separate on purpose: ``mmap``
only creates a VMA, and frames arrive one page at a time when the process
first touches a page (``handle_mm_fault`` in ``mm/memory.c``).

The page table is a dict ``vpn -> Pte`` (virtual page number to frame and
hardware bits), which is what a three-level Sv39 table amounts to once the
levels are flattened. Page-table pages themselves are not charged to RAM.

Layout: RISC-V Sv39 (39-bit virtual addresses, user half 256 GiB), no
address-space randomisation, 8 MiB stack rlimit. That makes every address
deterministic and close to what ``setarch -R`` shows on a real riscv64 board:
``mmap_base`` is ``TASK_SIZE - 128 MiB`` (``mmap_base()`` in ``mm/util.c``
clamps the gap below the stack to ``MIN_GAP``), mappings are placed
top-down below it, PIE programs load at ``ELF_ET_DYN_BASE`` (2/3 of the
address space) and the stack ends at ``STACK_TOP = TASK_SIZE``.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from ..kernel.constants import (
    VM_GROWSDOWN,
    VM_MAYSHARE,
    VM_MAYWRITE,
    VM_PFNMAP,
    VM_READ,
    VM_SHARED,
    VM_WRITE,
)
from ..kernel.vfs import File

MiB = 1 << 20
TASK_SIZE = 1 << 38  # Sv39: user addresses are [0, 256 GiB)
STACK_TOP = TASK_SIZE
MIN_GAP = 128 * MiB  # mm/util.c: the smallest gap left below the stack for it to grow
MMAP_BASE = TASK_SIZE - MIN_GAP  # 0x3ff8000000 without randomisation
ELF_ET_DYN_BASE = (TASK_SIZE // 3) * 2  # arch/riscv: where a PIE program is loaded
MMAP_MIN_ADDR = 4096  # CONFIG_DEFAULT_MMAP_MIN_ADDR: page 0 can never be mapped
STACK_GUARD_GAP_PAGES = 256  # mm/mmap.c stack_guard_gap (1 MiB with 4 KiB pages)
STACK_EXPAND = 128 * 1024  # fs/exec.c setup_arg_pages: the initial stack VMA size


@dataclass(slots=True)
class Pte:
    """One page-table entry: the frame, and whether the hardware allows stores.

    ``special`` frames are not reference counted (``vm_normal_page`` returns
    NULL for them): the global zero page and device memory mapped with
    ``remap_pfn_range`` (the frame buffer).
    """

    pfn: int
    write: bool
    special: bool = False


def is_cow_mapping(vm_flags: int) -> bool:
    """``is_cow_mapping``: may become writable (VM_MAYWRITE) but is not shared (VM_SHARED).

    A MAP_PRIVATE mapping always is; a MAP_SHARED one of a file opened read-only is
    not (``do_mmap`` clears both VM_SHARED and VM_MAYWRITE there).
    """
    return vm_flags & (VM_SHARED | VM_MAYWRITE) == VM_MAYWRITE


@dataclass(eq=False, slots=True)
class MmuVma:
    """``struct vm_area_struct`` with an MMU: a range of virtual addresses.

    ``anon_vma`` is 0 until the VMA gets its first anonymous page
    (``anon_vma_prepare``); after that it names the ``anon_vma`` the VMA's
    private pages belong to. Only VMAs with one are copied page by page on
    fork (``copy_page_range`` skips the others: faults refill them).
    ``pfn_base`` is set for ``VM_PFNMAP`` device mappings.
    """

    id: int
    vm_start: int
    vm_end: int
    vm_flags: int
    vm_pgoff: int
    vm_file: File | None = None
    anon_vma: int = 0
    pfn_base: int | None = None
    name: str | None = None  # a tag such as "[stack]" for anonymous VMAs
    kind: str = "anon"  # "anon", "file" (page cache), "shmem" (shared anonymous), "pfn" (device)

    @property
    def shared(self) -> bool:
        """``VM_MAYSHARE``: stores reach the backing object, not a private copy."""
        return bool(self.vm_flags & VM_MAYSHARE)

    @property
    def anonymous(self) -> bool:
        """``vma_is_anonymous``: no file at all (private anonymous memory)."""
        return self.kind == "anon"

    @property
    def pfnmap(self) -> bool:
        return self.kind == "pfn" or bool(self.vm_flags & VM_PFNMAP)

    @property
    def readable(self) -> bool:
        # RISC-V has no write-only pages: PROT_WRITE implies read access
        return bool(self.vm_flags & (VM_READ | VM_WRITE))

    @property
    def growsdown(self) -> bool:
        return bool(self.vm_flags & VM_GROWSDOWN)

    def file_index(self, vaddr: int, page_shift: int) -> int:
        """The page of the file (``linear_page_index``) behind a virtual address."""
        return self.vm_pgoff + ((vaddr - self.vm_start) >> page_shift)

    def __repr__(self) -> str:
        what = self.vm_file.path if self.vm_file else (self.name or "anon")
        return f"MmuVma({self.vm_start:#x}-{self.vm_end:#x} flags={self.vm_flags:#x} {what})"


@dataclass(eq=False)
class MmuMm:
    """``struct mm_struct`` with an MMU: sorted, non-overlapping VMAs and a page table."""

    id: int
    vmas: list[MmuVma] = field(default_factory=list)
    pte: dict[int, Pte] = field(default_factory=dict)
    users: int = 1
    total_vm: int = 0
    mmap_base: int = MMAP_BASE
    start_stack: int = 0
    start_brk: int = 0
    brk: int = 0
    end_brk: int = 0
    exe: str | None = None
    start_code: int = 0
    end_code: int = 0
    entry: int = 0
    _starts: list[int] = field(default_factory=list)

    @property
    def map_count(self) -> int:
        """``mm->map_count``."""
        return len(self.vmas)

    def add(self, vma: MmuVma) -> None:
        """``vma_link``: insert keeping address order (the caller made room)."""
        i = bisect.bisect_left(self._starts, vma.vm_start)
        self._starts.insert(i, vma.vm_start)
        self.vmas.insert(i, vma)

    def remove(self, vma: MmuVma) -> None:
        """Unlink a VMA from the mm."""
        i = bisect.bisect_left(self._starts, vma.vm_start)
        assert self.vmas[i] is vma, (vma, self.vmas[i])
        del self._starts[i]
        del self.vmas[i]

    def rekey(self, vma: MmuVma, start: int, end: int) -> None:
        """Change a VMA's range and keep the order."""
        self.remove(vma)
        vma.vm_start, vma.vm_end = start, end
        self.add(vma)

    def vma_lookup(self, addr: int) -> MmuVma | None:
        """``vma_lookup``: the VMA containing ``addr``, or None."""
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and addr < self.vmas[i].vm_end:
            return self.vmas[i]
        return None

    def find_vma(self, addr: int) -> MmuVma | None:
        """``find_vma`` with an MMU: the first VMA that *ends* above ``addr``."""
        i = bisect.bisect_right(self._starts, addr) - 1
        if i >= 0 and addr < self.vmas[i].vm_end:
            return self.vmas[i]
        return self.vmas[i + 1] if i + 1 < len(self.vmas) else None

    def overlapping(self, start: int, end: int) -> list[MmuVma]:
        """Every VMA overlapping ``[start, end)``, in address order."""
        i = max(0, bisect.bisect_right(self._starts, start) - 1)
        out = []
        for v in self.vmas[i:]:
            if v.vm_start >= end:
                break
            if v.vm_end > start:
                out.append(v)
        return out

    def neighbours(self, vma: MmuVma) -> tuple[MmuVma | None, MmuVma | None]:
        """The VMAs just below and just above ``vma``."""
        i = bisect.bisect_left(self._starts, vma.vm_start)
        prev = self.vmas[i - 1] if i > 0 else None
        nxt = self.vmas[i + 1] if i + 1 < len(self.vmas) else None
        return prev, nxt

    def ptes_in(self, start_vpn: int, end_vpn: int) -> list[int]:
        """The mapped virtual page numbers in ``[start_vpn, end_vpn)``, ascending."""
        if end_vpn - start_vpn <= 4 * len(self.pte) or end_vpn - start_vpn < 4096:
            return [v for v in range(start_vpn, end_vpn) if v in self.pte]
        return sorted(v for v in self.pte if start_vpn <= v < end_vpn)
