"""Physical RAM: page frames with contents, per-frame state, and a buddy allocator.

On a no-MMU machine every address a program sees is a physical address, so the
model's RAM *is* the address space: frame ``pfn`` holds the bytes at
``ram_base + pfn * page_size``. Contents live in one numpy byte array; what a
frame is used for lives in ``state`` and ``owner`` arrays, so a view can colour
65,536 frames with a single vectorised lookup.

The allocator follows ``mm/page_alloc.c`` where a lesson depends on it:

* blocks are naturally aligned ``2**order`` pages, split in halves on demand
  (``expand``: the lower half is handed out, the upper halves go back to the
  free lists) and coalesced with their buddy when freed (``__free_one_page``);
* a freed block goes to the head of its free list and allocation takes from
  the head, so a block just freed comes back first (munmap then the same mmap
  returns the same address, which is how MAP_UNINITIALIZED shows old data);
* ``alloc_pages_exact`` takes a whole block, then frees the unused tail pages
  one by one, so they coalesce again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

DEFAULT_MAX_ORDER = 10  # MAX_PAGE_ORDER: the largest block is 2**10 pages


class PageState(IntEnum):
    """What a page frame is used for (the colour of a frame in the RAM map)."""

    FREE = 0
    TRIMMED = 1  # free again: given back by nr_trim_pages trimming or a tail unmap
    KERNEL = 2  # reserved at boot for the kernel image and its data
    ANON = 3  # an anonymous copy region (VM_MAPPED_COPY, no file)
    FILE_COPY = 4  # a private copy of file data (VM_MAPPED_COPY with a file)
    PAGECACHE = 5  # ramfs/tmpfs page cache: the file data itself
    SLACK = 6  # allocated to a copy region beyond vm_end (untrimmed tail)
    DEVICE = 7  # RAM set aside for a device at boot (frame buffer, ramdisk)
    PROGRAM = 8  # a copy made by a binfmt loader (text, data, stack)


FREE_STATES = (PageState.FREE, PageState.TRIMMED)


def get_order(npages: int) -> int:
    """``get_order``: the smallest order whose block holds ``npages`` pages."""
    if npages <= 1:
        return 0
    return (npages - 1).bit_length()


@dataclass(frozen=True, slots=True)
class FrameInfo:
    """What one frame is, for a view's tooltip or a notebook's question."""

    pfn: int
    address: int
    state: PageState
    owner: int


class PhysicalMemory:
    """Page frames, their contents and the buddy allocator that hands them out."""

    def __init__(
        self,
        ram_base: int,
        ram_size: int,
        page_size: int = 4096,
        max_order: int = DEFAULT_MAX_ORDER,
    ) -> None:
        if page_size <= 0 or page_size & (page_size - 1):
            raise ValueError("page_size must be a power of two")
        if ram_size <= 0 or ram_size % page_size:
            raise ValueError("ram_size must be a positive multiple of page_size")
        self.ram_base = ram_base
        self.ram_size = ram_size
        self.page_size = page_size
        self.page_shift = page_size.bit_length() - 1
        self.max_order = max_order
        self.nr_pages = ram_size // page_size
        self.data = np.zeros(ram_size, dtype=np.uint8)
        self.state = np.full(self.nr_pages, PageState.FREE, dtype=np.uint8)
        self.owner = np.full(self.nr_pages, -1, dtype=np.int32)
        # free_area[order] is an insertion-ordered set of block head pfns;
        # the *last* key is the head of the list (most recently freed).
        self.free_area: list[dict[int, None]] = [{} for _ in range(max_order + 1)]
        self._head_order: list[int] = [-1] * self.nr_pages  # order of a free block head, else -1
        self.nr_free = 0
        self.nr_reserved = 0
        self.version = 0  # bumped on every change of state/owner (views poll it)
        self._seed_free_lists(0, self.nr_pages)

    # ------------------------------------------------------------------ setup
    def _seed_free_lists(self, lo: int, hi: int) -> None:
        """Put frames ``[lo, hi)`` on the free lists as the largest aligned blocks.

        Each list is then reversed so that the lowest block is at its head:
        a fresh board hands out low addresses first.
        """
        self._free_run(lo, hi - lo)
        for area in self.free_area:
            for pfn in reversed(list(area)):
                area[pfn] = area.pop(pfn)

    def reserve(self, pfn: int, npages: int, state: PageState, owner: int = -1) -> None:
        """Take frames out of the allocator at boot (``memblock_reserve``)."""
        for p in range(pfn, pfn + npages):
            self._take_single(p)
        self.nr_reserved += npages
        self._mark(pfn, npages, state, owner)

    def _take_single(self, target: int) -> None:
        """Remove one specific free frame from the free lists (boot only)."""
        for order in range(self.max_order + 1):
            head = target & ~((1 << order) - 1)
            if self._head_order[head] == order:
                self._pop(head, order)
                # give back everything of the block except the target frame
                while order:
                    order -= 1
                    half = 1 << order
                    if target >= head + half:
                        self._push(head, order)
                        head += half
                    else:
                        self._push(head + half, order)
                self.nr_free -= 1
                return
        raise ValueError(f"frame {target} is not free")

    # --------------------------------------------------------------- free lists
    def _push(self, pfn: int, order: int) -> None:
        self.free_area[order][pfn] = None
        self._head_order[pfn] = order

    def _pop(self, pfn: int, order: int) -> None:
        del self.free_area[order][pfn]
        self._head_order[pfn] = -1

    # ------------------------------------------------------------------ queries
    def pfn_to_addr(self, pfn: int) -> int:
        """The physical (= user) address of a frame."""
        return self.ram_base + (pfn << self.page_shift)

    def addr_to_pfn(self, addr: int) -> int:
        """The frame holding an address (no range check)."""
        return (addr - self.ram_base) >> self.page_shift

    def contains(self, addr: int, length: int = 1) -> bool:
        """Whether ``[addr, addr+length)`` lies inside RAM."""
        return self.ram_base <= addr and addr + length <= self.ram_base + self.ram_size

    def can_alloc(self, order: int) -> bool:
        """Whether a block of ``order`` could be allocated right now."""
        if order > self.max_order:
            return False
        return any(self.free_area[o] for o in range(order, self.max_order + 1))

    def largest_free_order(self) -> int:
        """The order of the biggest free block, or -1 when RAM is full."""
        for o in range(self.max_order, -1, -1):
            if self.free_area[o]:
                return o
        return -1

    def frame(self, pfn: int) -> FrameInfo:
        """What one frame holds."""
        return FrameInfo(pfn, self.pfn_to_addr(pfn), PageState(int(self.state[pfn])),
                         int(self.owner[pfn]))

    def nr_free_per_order(self) -> list[int]:
        """``free_area[order].nr_free`` for every order: free blocks of each size."""
        return [len(area) for area in self.free_area]

    def free_blocks(self) -> list[tuple[int, int]]:
        """Every free block as ``(pfn, order)``, in address order."""
        return sorted((pfn, o) for o, d in enumerate(self.free_area) for pfn in d)

    # --------------------------------------------------------------- allocation
    def alloc(self, order: int) -> int | None:
        """``__rmqueue_smallest``: a block of ``2**order`` frames, or None."""
        if order > self.max_order:
            return None
        areas = self.free_area
        head = self._head_order
        for o in range(order, self.max_order + 1):
            area = areas[o]
            if area:
                pfn, _ = area.popitem()  # the head: the block freed most recently
                head[pfn] = -1
                while o > order:  # expand(): keep the lower half, free the upper
                    o -= 1
                    buddy = pfn + (1 << o)
                    areas[o][buddy] = None
                    head[buddy] = o
                self.nr_free -= 1 << order
                return pfn
        return None

    def next_block(self, order: int) -> int | None:
        """The block :meth:`alloc` would hand out for ``order`` right now (nothing is taken).

        Callers that must check the address before they commit (the region
        tree refuses a start that is taken) ask here first.
        """
        if order > self.max_order:
            return None
        for o in range(order, self.max_order + 1):
            area = self.free_area[o]
            if area:
                return next(reversed(area))  # the head: the block freed most recently
        return None

    def alloc_pages_exact(self, npages: int) -> int | None:
        """``alloc_pages_exact``: a block of ``get_order(npages)``, tail freed page by page."""
        order = (npages - 1).bit_length() if npages > 1 else 0  # get_order
        pfn = self.alloc(order)
        if pfn is None:
            return None
        if npages < 1 << order:
            self._free_run(pfn + npages, (1 << order) - npages)
        return pfn

    def alloc_page_high(self) -> int | None:
        """One frame from the top of free memory (the model's page-cache allocator).

        The real kernel takes page-cache pages one at a time, between other
        allocations of its own, so pages of a file filled by ``write()`` are not
        physically consecutive. The model makes that deterministic by taking
        each such page from the highest free block: successive pages go *down*
        in memory, never up, so ``ramfs`` can never map them in file order.
        """
        best: tuple[int, int] | None = None
        for o, area in enumerate(self.free_area):
            if area:
                top = max(area)
                if best is None or top + (1 << o) > best[0] + (1 << best[1]):
                    best = (top, o)
        if best is None:
            return None
        pfn, o = best
        self._pop(pfn, o)
        while o:  # keep the upper half each time, free the lower
            o -= 1
            self._push(pfn, o)
            pfn += 1 << o
        self.nr_free -= 1
        return pfn

    def free_page(self, pfn: int) -> None:
        """``__free_one_page`` for a single frame: coalesce with free buddies."""
        self.free_block(pfn, 0)

    def free_block(self, pfn: int, order: int) -> None:
        """Free a ``2**order`` block, merging with its buddy while it is free."""
        self.nr_free += 1 << order
        head = self._head_order
        areas = self.free_area
        while order < self.max_order:
            buddy = pfn ^ (1 << order)
            if buddy >= self.nr_pages or head[buddy] != order:
                break
            del areas[order][buddy]
            head[buddy] = -1
            if buddy < pfn:
                pfn = buddy
            order += 1
        areas[order][pfn] = None
        head[pfn] = order

    def _free_run(self, pfn: int, npages: int) -> None:
        """Free a run of frames, lowest first.

        The kernel frees such a run page by page and each page coalesces with
        its buddies; freeing the run's largest aligned blocks one by one ends
        in the same free blocks, with far fewer steps.
        """
        hi = pfn + npages
        top = self.max_order
        free_block = self.free_block
        while pfn < hi:  # the largest naturally aligned block that starts here and fits
            order = (pfn & -pfn).bit_length() - 1 if pfn else top
            if order > top:
                order = top
            while (1 << order) > hi - pfn:
                order -= 1
            free_block(pfn, order)
            pfn += 1 << order

    def free_range(self, pfn: int, npages: int, state: PageState = PageState.FREE) -> None:
        """``free_page_series``: give back frames ``[pfn, pfn+npages)``."""
        self._free_run(pfn, npages)
        self.state[pfn:pfn + npages] = state
        self.owner[pfn:pfn + npages] = -1
        self.version += 1

    # ------------------------------------------------------------------ marking
    def _mark(self, pfn: int, npages: int, state: PageState, owner: int) -> None:
        self.state[pfn:pfn + npages] = state
        self.owner[pfn:pfn + npages] = owner
        self.version += 1

    def mark(self, pfn: int, npages: int, state: PageState, owner: int = -1) -> None:
        """Record what frames ``[pfn, pfn+npages)`` are now used for."""
        self._mark(pfn, npages, state, owner)

    # ----------------------------------------------------------------- contents
    def zero(self, addr: int, length: int) -> None:
        """Clear bytes (the memset an anonymous mapping pays for)."""
        off = addr - self.ram_base
        self.data[off:off + length] = 0

    def counts(self) -> dict[PageState, int]:
        """How many frames are in each state."""
        c = np.bincount(self.state, minlength=len(PageState))
        return {s: int(c[s]) for s in PageState}

    def check(self) -> None:
        """Assert the allocator's own invariants (used by tests)."""
        free = np.zeros(self.nr_pages, dtype=bool)
        total = 0
        for o, area in enumerate(self.free_area):
            for pfn in area:
                assert pfn % (1 << o) == 0, f"block {pfn} of order {o} misaligned"
                assert not free[pfn:pfn + (1 << o)].any(), f"block {pfn} overlaps another"
                free[pfn:pfn + (1 << o)] = True
                total += 1 << o
        assert total == self.nr_free, f"nr_free {self.nr_free} != {total} on free lists"
        in_free_state = np.isin(self.state, FREE_STATES)
        assert (free == in_free_state).all(), "free lists disagree with frame states"
