"""Physical memory: the buddy allocator, alloc_pages_exact and LIFO reuse.

Rules checked come from mm/page_alloc.c (the buddy allocator, alloc_pages_exact)
and mm/nommu.c (trimming, the largest block, MAP_UNINITIALIZED), as Linux 6.12
answered under QEMU.
"""

from __future__ import annotations

from errno import *

import numpy as np
import pytest
from _nommu import ANON, PS, RAM_BASE, RW, board, refused

import nommu_lab as nl
from nommu_lab.constants import *
from nommu_lab.kernel.memory import PageState, PhysicalMemory, get_order


@pytest.mark.parametrize("npages,order", [(1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (8, 3),
                                          (9, 4), (1024, 10), (1025, 11)])
def test_get_order(npages, order):
    """the page allocator: get_order(len) = ceil(log2(ceil(len/PAGE)))."""
    assert get_order(npages) == order


def test_boot_memory_accounting():
    """Default board: 8 MiB at 0x80000000, kernel image and frame buffer reserved at boot."""
    k = board()
    mem = k.mem
    assert mem.ram_base == RAM_BASE and mem.nr_pages == 2048
    counts = mem.counts()
    assert counts[PageState.KERNEL] == 256  # 1 MiB kernel image
    assert counts[PageState.DEVICE] == 8  # 256x128 8-bit frame buffer
    assert (mem.state[:256] == PageState.KERNEL).all()
    mi = k.meminfo()
    assert mi["MemTotal"] == (2048 - 264) * 4
    assert mi["MemFree"] == mi["MemTotal"]
    assert mi["MmapCopy"] == 0
    # free + used + reserved = total
    used = int(((mem.state != PageState.FREE) & (mem.state != PageState.TRIMMED)).sum())
    assert used + mem.nr_free == mem.nr_pages
    k.check()


def test_buddy_blocks_are_naturally_aligned():
    """the page allocator: blocks are naturally aligned 2^order pages."""
    mem = PhysicalMemory(0, 64 * PS, PS, max_order=4)
    got = []
    for order in (0, 2, 1, 3, 0, 2):
        pfn = mem.alloc(order)
        assert pfn is not None and pfn % (1 << order) == 0
        got.append((pfn, order))
        mem.mark(pfn, 1 << order, PageState.ANON)
    # no two blocks overlap
    used = np.zeros(64, dtype=int)
    for pfn, order in got:
        used[pfn:pfn + (1 << order)] += 1
    assert used.max() == 1
    mem.check()


def test_buddy_split_hands_out_lower_half_and_coalesces_on_free():
    """the page allocator's expand(): the lower half is used; freeing merges buddies back."""
    mem = PhysicalMemory(0, 16 * PS, PS, max_order=4)
    assert mem.free_blocks() == [(0, 4)]
    a = mem.alloc(0)
    assert a == 0
    assert mem.free_blocks() == [(1, 0), (2, 1), (4, 2), (8, 3)]
    mem.free_page(a)
    assert mem.free_blocks() == [(0, 4)]
    assert mem.largest_free_order() == 4
    mem.check()


def test_alloc_pages_exact_frees_tail_page_by_page():
    """the page allocator: alloc_pages_exact takes a 2^order block and frees the tail one page at a time."""
    mem = PhysicalMemory(0, 16 * PS, PS, max_order=4)
    base = mem.alloc_pages_exact(5)
    assert base == 0  # keeps the block alignment
    assert mem.nr_free == 16 - 5
    # tail pages 5,6,7 coalesce: 5 alone, 6-7 as an order-1 block; 8-15 untouched
    assert mem.free_blocks() == [(5, 0), (6, 1), (8, 3)]


def test_max_order_exceeded_returns_none():
    """do_mmap_private: an order above the allocator's maximum fails."""
    mem = PhysicalMemory(0, 64 * PS, PS, max_order=3)
    assert mem.alloc(4) is None
    assert mem.alloc_pages_exact(9) is None
    assert not mem.can_alloc(4)


def test_lifo_reuse_block_just_freed_comes_back_first():
    """Issue 2: a block just freed comes back first (munmap then mmap: same address)."""
    k = board()
    p = k.spawn()
    a = p.mmap(0, 4 * PS, RW, ANON)
    b = p.mmap(0, 4 * PS, RW, ANON)
    assert a != b
    p.munmap(a, 4 * PS)
    c = p.mmap(0, 4 * PS, RW, ANON)
    assert c == a
    p.munmap(b, 4 * PS)
    d = p.mmap(0, 4 * PS, RW, ANON)
    assert d == b
    k.check()


def test_free_list_is_lifo_with_two_blocks_that_cannot_coalesce():
    """The buddy free lists are last-in-first-out (``__free_one_page`` puts a freed block at
    the head of its list; ``__rmqueue_smallest`` takes the head).

    Two order-0 blocks on one free list whose buddies are both still in use:
    the one freed last is handed out first, then the other.
    """
    mem = PhysicalMemory(0, 16 * PS, PS, max_order=4)
    pfns = [mem.alloc(0) for _ in range(4)]
    assert pfns == [0, 1, 2, 3]
    mem.free_range(0, 1)  # buddy 1 still in use: no coalescing
    mem.free_range(2, 1)  # buddy 3 still in use: no coalescing
    assert list(mem.free_area[0]) == [0, 2]  # both on the order-0 list
    assert mem.alloc(0) == 2  # the block freed last
    assert mem.alloc(0) == 0


def test_lifo_reuse_is_the_address_a_learner_sees():
    """Map a, b, c, d (one page each), unmap a then c: the next page mapped is c's.

    The MAP_UNINITIALIZED lesson rests on it: the bytes c left behind come back
    in the next uninitialised mapping; a first-in-first-out list would hand out a.
    """
    k = board()  # CONFIG_MMAP_ALLOW_UNINITIALIZED is on for the default board
    p = k.spawn()
    a, b, c, d = (p.mmap(0, PS, RW, ANON) for _ in range(4))
    assert [b - a, c - b, d - c] == [PS, PS, PS]
    p.poke(a, b"old a")
    p.poke(c, b"secret of c")
    p.munmap(a, PS)
    p.munmap(c, PS)
    e = p.mmap(0, PS, RW, ANON | MAP_UNINITIALIZED)
    assert e == c
    assert p.peek(e, 11) == b"secret of c"
    f = p.mmap(0, PS, RW, ANON)
    assert f == a and p.peek(f, 5) == bytes(5)  # zeroed without the flag
    k.check()


def test_fresh_board_hands_out_low_addresses_first():
    """The first anonymous page follows the kernel image and frame buffer."""
    k = board()
    p = k.spawn()
    a = p.mmap(0, PS, RW, ANON)
    assert a == RAM_BASE + 264 * PS


def test_largest_mapping_is_one_max_order_block():
    """do_mmap_private: with max order 10, the largest single mapping is 4 MiB however much is free."""
    k = nl.Kernel(16 << 20)
    p = k.spawn()
    a = p.mmap(0, 1024 * PS, RW, ANON)
    assert a % (1024 * PS) == 0
    refused(k, p.mmap, 0, 1024 * PS + 1, RW, ANON, errno=ENOMEM,
            rule="do_mmap_private.alloc_failed")


def test_fragmentation_free_memory_is_not_a_contiguous_block():
    """LTP nommu-notes: plenty free may still leave no block big enough (ENOMEM)."""
    k = nl.Kernel(1 << 20, kernel_size=0, max_order=8)  # 256 pages
    p = k.spawn()
    addrs = [p.mmap(0, PS, RW, ANON) for _ in range(256)]
    for a in addrs[::2]:
        p.munmap(a, PS)
    mi = k.meminfo()
    assert mi["MemFree"] == 128 * 4
    assert k.mem.largest_free_order() == 0
    refused(k, p.mmap, 0, 2 * PS, RW, ANON, errno=ENOMEM)
    assert p.mmap(0, PS, RW, ANON) in addrs[::2]
    k.check()


def _oom_notes(k: nl.Kernel) -> list[str]:
    return [e.text for e in k.trace if e.rule == "do_mmap_private.linux_would_oom"]


def test_a_small_copy_with_no_block_says_linux_would_call_the_oom_killer():
    """__alloc_pages_may_oom: Linux never fails a block of order <= PAGE_ALLOC_COSTLY_ORDER
    (3); it kills a process instead. The model refuses (ENOMEM, state unchanged) and the
    trace names the process Linux would kill: the newest, as every one scores 0."""
    k = nl.Kernel(1 << 20, kernel_size=0, max_order=8)
    p = k.spawn("filler")
    addrs = [p.mmap(0, PS, RW, ANON) for _ in range(256)]
    for a in addrs[::2]:
        p.munmap(a, PS)
    refused(k, p.mmap, 0, 2 * PS, RW, ANON, errno=ENOMEM, rule="do_mmap_private.alloc_failed")
    (note,) = _oom_notes(k)
    assert "finding no order-1 block, calls the OOM killer" in note
    assert "kill process 1 (filler), the newest" in note and "the caller itself" in note
    q = k.spawn("bystander")  # newer than the caller: Linux would kill it and retry
    refused(k, p.mmap, 0, 8 * PS, RW, ANON, errno=ENOMEM, rule="do_mmap_private.alloc_failed")
    assert f"kill process {q.pid} (bystander), the newest" in _oom_notes(k)[-1]
    assert "then try again with the memory freed" in _oom_notes(k)[-1]
    # above PAGE_ALLOC_COSTLY_ORDER the page allocator does give up: ENOMEM on Linux too
    refused(k, p.mmap, 0, 9 * PS, RW, ANON, errno=ENOMEM, rule="do_mmap_private.alloc_failed")
    assert len(_oom_notes(k)) == 2
    # ramfs gathering a file's block for a shared mapping allocates the same way
    fd = p.open("/tmp/shared", O_RDWR | O_CREAT)
    refused(k, p.ftruncate, fd, 2 * PS, errno=ENOMEM, rule="ramfs_nommu_expand_for_mapping.no_memory")
    (note,) = [e.text for e in k.trace if e.rule == "ramfs_nommu_expand_for_mapping.linux_would_oom"]
    assert "finding no order-1 block, calls the OOM killer" in note and f"process {q.pid}" in note


def test_meminfo_back_to_boot_after_unmapping_everything():
    """struct vm_region: copy pages are freed when the region's usage reaches 0."""
    k = board()
    boot_free = k.meminfo()["MemFree"]
    boot_state = k.mem.state.copy()
    p = k.spawn()
    addrs = [(p.mmap(0, n * PS, RW, ANON), n) for n in (1, 3, 5, 8, 17)]
    assert k.meminfo()["MmapCopy"] == (1 + 3 + 5 + 8 + 17) * 4
    for a, n in addrs:
        p.munmap(a, n * PS)
    assert k.meminfo()["MemFree"] == boot_free
    assert k.meminfo()["MmapCopy"] == 0
    assert np.isin(k.mem.state[boot_state == PageState.FREE],
                   (PageState.FREE, PageState.TRIMMED)).all()
    assert k.mem.free_blocks() == nl.boards.default().mem.free_blocks()
    k.check()


def test_map_uninitialized_returns_old_bytes_when_board_allows():
    """do_mmap_private's zeroing (seen on Linux 6.12): the same address comes back with the old bytes intact."""
    k = board(allow_uninitialized=True)
    p = k.spawn()
    a = p.mmap(0, PS, RW, ANON)
    p.poke(a, b"secret!!")
    p.munmap(a, PS)
    b = p.mmap(0, PS, RW, ANON | MAP_UNINITIALIZED)
    assert b == a
    assert p.peek(b, 8) == b"secret!!"
    p.munmap(b, PS)
    c = p.mmap(0, PS, RW, ANON)  # without the flag: zeroed
    assert c == a and p.peek(c, 8) == bytes(8)


def test_map_uninitialized_ignored_without_config():
    """do_mmap_private's zeroing: without CONFIG_MMAP_ALLOW_UNINITIALIZED the flag is ignored (memory cleared)."""
    k = board(allow_uninitialized=False)
    p = k.spawn()
    a = p.mmap(0, PS, RW, ANON)
    p.poke(a, b"secret!!")
    p.munmap(a, PS)
    b = p.mmap(0, PS, RW, ANON | MAP_UNINITIALIZED)
    assert b == a and p.peek(b, 8) == bytes(8)


def test_map_uninitialized_ignored_for_file_copies():
    """do_mmap_private's zeroing: file copies are file data plus zeroes after EOF, never 'uninitialised'."""
    k = board(allow_uninitialized=True)
    p = k.spawn()
    a = p.mmap(0, PS, RW, ANON)
    p.poke(a, b"\xaa" * PS)
    p.munmap(a, PS)
    fd = p.open("/mnt/disk/notes.txt")
    b = p.mmap(0, PS, PROT_READ, MAP_PRIVATE | MAP_UNINITIALIZED, fd, 0)
    assert b == a
    data = b"disk files can only be copied\n"
    assert p.peek(b, len(data)) == data
    assert p.peek(b + len(data), PS - len(data)) == bytes(PS - len(data))


def test_anonymous_zeroing_covers_requested_length_only():
    """do_mmap_private's zeroing: zeroing covers [start, end) (not the untrimmed slack up to vm_top)."""
    k = board(allow_uninitialized=True)
    k.sysctl("vm.nr_trim_pages", 0)
    p = k.spawn()
    a = p.mmap(0, 4 * PS, RW, ANON)
    p.poke(a + 3 * PS, b"slack-data")
    p.munmap(a, 4 * PS)
    b = p.mmap(0, 3 * PS, RW, ANON)  # order-2 block, 1 page of slack kept
    assert b == a
    assert p.peek(b, 3 * PS) == bytes(3 * PS)
    assert p.peek(b + 3 * PS, 10) == b"slack-data"
