"""A process's address space on no-MMU: its VMAs (``struct mm_struct``).

Each VMA covers a sub-range of exactly one region. The model keeps the VMAs
of one mm as a sorted multiset, as kernels up to 6.0 did: two VMAs may have
identical ranges when a process maps the same shareable thing twice. (From
6.1 the maple tree overwrites the first one; the model records that as a
hazard instead of reproducing the leak.)
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .region import RegionInfo, VmRegion, perm_string

if TYPE_CHECKING:
    from .vfs import File


@dataclass(eq=False, slots=True)
class VmArea:
    """``struct vm_area_struct`` on no-MMU."""

    id: int
    vm_start: int
    vm_end: int
    vm_flags: int
    vm_pgoff: int
    vm_file: File | None
    vm_region: VmRegion
    vm_ops: Any = None  # the driver's vm_operations (its close() hook)

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.vm_start, self.vm_end, self.id)

    def __repr__(self) -> str:
        name = self.vm_file.path if self.vm_file else "anon"
        return f"VmArea({self.vm_start:#x}-{self.vm_end:#x} {perm_string(self.vm_flags)} {name})"


@dataclass(frozen=True, slots=True)
class VmaInfo:
    """A read-only snapshot of a VMA, as ``Process.vmas()`` returns it."""

    start: int
    end: int
    flags: int
    pgoff: int
    path: str | None
    region: RegionInfo | None  # None on the MMU kernel: it has no regions

    @property
    def perms(self) -> str:
        """Permission characters as /proc/PID/maps prints them."""
        return perm_string(self.flags)

    @property
    def length(self) -> int:
        """``end - start`` in bytes."""
        return self.end - self.start


@dataclass(eq=False)
class MmStruct:
    """``struct mm_struct``: the VMAs of one address space and the loader's marks."""

    id: int
    vmas: list[VmArea] = field(default_factory=list)
    _keys: list[tuple[int, int, int]] = field(default_factory=list)
    users: int = 1  # tasks using this mm (vfork / CLONE_VM children share it)
    total_vm: int = 0  # pages; grows on new regions only, cosmetic on no-MMU
    start_stack: int = 0
    start_brk: int = 0
    brk: int = 0
    end_brk: int = 0
    exe: str | None = None
    start_code: int = 0
    end_code: int = 0
    entry: int = 0

    @property
    def map_count(self) -> int:
        """``mm->map_count``: VMAs attached to this mm."""
        return len(self.vmas)

    def add(self, vma: VmArea) -> None:
        """``add_vma_to_mm``."""
        key = (vma.vm_start, vma.vm_end, vma.id)
        i = bisect.bisect_left(self._keys, key)
        self._keys.insert(i, key)
        self.vmas.insert(i, vma)

    def remove(self, vma: VmArea) -> None:
        """``delete_vma_from_mm``."""
        i = bisect.bisect_left(self._keys, (vma.vm_start, vma.vm_end, vma.id))
        assert self.vmas[i] is vma
        del self._keys[i]
        del self.vmas[i]

    def rekey(self, vma: VmArea, start: int, end: int) -> None:
        """Change a VMA's range and keep the order."""
        self.remove(vma)
        vma.vm_start, vma.vm_end = start, end
        self.add(vma)

    def find_vma(self, addr: int) -> VmArea | None:
        """``find_vma`` on no-MMU: the VMA that *contains* addr, or None."""
        i = bisect.bisect_right(self._keys, (addr, 1 << 70, 1 << 70))
        # VMAs of one mm only overlap when a process maps a shareable range
        # twice, so the nearest VMA below addr is almost always the answer.
        while i > 0:
            i -= 1
            v = self.vmas[i]
            if addr < v.vm_end:
                return v
        return None

    def find_vma_exact(self, addr: int, length: int) -> VmArea | None:
        """``find_vma_exact``: the VMA that starts at addr and is length long."""
        i = bisect.bisect_left(self._keys, (addr, addr + length, -1))
        if i < len(self.vmas):
            v = self.vmas[i]
            if v.vm_start == addr and v.vm_end == addr + length:
                return v
        return None

    def overlapping(self, start: int, end: int) -> list[VmArea]:
        """Every VMA overlapping ``[start, end)``, in address order."""
        return [v for v in self.vmas if v.vm_start < end and start < v.vm_end]
