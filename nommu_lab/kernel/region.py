"""``struct vm_region`` and the one global, address-ordered region tree.

A region describes one piece of memory handed out by mmap anywhere on the
machine. Several VMAs, in one process or many, may point at the same region;
``vm_usage`` counts them (``mm/nommu.c``: ``nommu_region_tree``,
``add_nommu_region``, ``__put_nommu_region``).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .constants import VM_MAPPED_COPY, VM_MAYOVERLAY, VM_MAYSHARE, VM_SHARED
from .errors import KernelBug

if TYPE_CHECKING:
    from .vfs import File


def is_nommu_shared_mapping(flags: int) -> bool:
    """``is_nommu_shared_mapping`` (6.3+): may this mapping be shared with others?"""
    return bool(flags & (VM_MAYSHARE | VM_MAYOVERLAY))


def perm_string(flags: int) -> str:
    """The four permission characters of a /proc maps line (no-MMU: capital S)."""
    share = "p"
    if flags & VM_MAYSHARE:
        share = "S" if flags & VM_SHARED else "s"
    return (
        ("r" if flags & 0x1 else "-")
        + ("w" if flags & 0x2 else "-")
        + ("x" if flags & 0x4 else "-")
        + share
    )


def region_repr(kind: str, start: int, end: int, top: int, flags: int, copy: bool, usage: int,
                path: str | None) -> str:
    """One line for a region: range (and allocated top), perms, copy or direct, users, path."""
    top_s = f" top={top:#x}" if top != end else ""
    return (f"<{kind} {start:#x}-{end:#x}{top_s} {perm_string(flags)} "
            f"{'copy' if copy else 'direct'} usage={usage} {path or 'anonymous'}>")


@dataclass(eq=False, slots=True)
class VmRegion:
    """``struct vm_region``: one distinct piece of mapped memory.

    ``vm_end`` is the end of the part the creator asked for; ``vm_top`` the end
    of what was allocated (``vm_top > vm_end`` means untrimmed slack).
    Direct regions (flash, page cache, frame buffer) own no pages.
    """

    id: int
    vm_start: int
    vm_end: int
    vm_top: int
    vm_flags: int
    vm_pgoff: int
    vm_file: File | None
    vm_usage: int = 1
    vm_icache_flushed: bool = False
    uninitialized: bool = False  # MAP_UNINITIALIZED was honoured

    @property
    def is_copy(self) -> bool:
        """``VM_MAPPED_COPY``: the kernel owns this memory."""
        return bool(self.vm_flags & VM_MAPPED_COPY)

    @property
    def path(self) -> str | None:
        """The file's path, or None for anonymous memory."""
        return self.vm_file.path if self.vm_file is not None else None

    def __repr__(self) -> str:
        return region_repr("VmRegion", self.vm_start, self.vm_end, self.vm_top, self.vm_flags,
                           self.is_copy, self.vm_usage, self.path)


@dataclass(frozen=True, slots=True)
class RegionInfo:
    """A read-only snapshot of a region, as ``Kernel.regions()`` returns it."""

    id: int
    start: int
    end: int
    top: int
    usage: int
    flags: int
    pgoff: int
    path: str | None
    copy: bool

    def __repr__(self) -> str:
        return region_repr("region", self.start, self.end, self.top, self.flags, self.copy,
                           self.usage, self.path)

    @property
    def perms(self) -> str:
        """Permission characters as /proc/maps prints them."""
        return perm_string(self.flags)

    @property
    def slack(self) -> int:
        """Bytes allocated beyond the requested end (``vm_top - vm_end``)."""
        return self.top - self.end

    @classmethod
    def of(cls, r: VmRegion) -> RegionInfo:
        """Snapshot a live region."""
        return cls(r.id, r.vm_start, r.vm_end, r.vm_top, r.vm_usage, r.vm_flags,
                   r.vm_pgoff, r.path, r.is_copy)


class RegionTree:
    """``nommu_region_tree``: regions ordered by ``vm_start``.

    Kept as a sorted key list plus a dict; the real tree is a red-black tree
    (same order, same lookups).
    """

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._by_start: dict[int, VmRegion] = {}

    def __len__(self) -> int:
        return len(self._starts)

    def __iter__(self):
        by = self._by_start
        return (by[s] for s in self._starts)

    def __contains__(self, start: int) -> bool:
        return start in self._by_start

    def get(self, start: int) -> VmRegion | None:
        """The region starting exactly at ``start``, if any."""
        return self._by_start.get(start)

    def add(self, region: VmRegion) -> None:
        """``add_nommu_region``: insert a region; a start that is taken is a kernel BUG.

        Callers check first (:func:`~nommu_lab.kernel.mmap.check_region_start`),
        so that a refused call changes nothing; the tree refuses anyway and
        never overwrites, so no future path can put two regions at one start.
        """
        other = self._by_start.get(region.vm_start)
        if other is region:
            return  # already in the tree (add_nommu_region returns too)
        if other is not None:
            raise KernelBug("add_nommu_region.duplicate_start",
                            f"a region already starts at {region.vm_start:#x}; the real kernel "
                            "calls BUG() here. The model refused to add a second one")
        bisect.insort(self._starts, region.vm_start)
        self._by_start[region.vm_start] = region

    def remove(self, region: VmRegion) -> None:
        """``delete_nommu_region``."""
        i = bisect.bisect_left(self._starts, region.vm_start)
        del self._starts[i]
        del self._by_start[region.vm_start]
