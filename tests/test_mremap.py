"""mremap on no-MMU (mm/nommu.c do_mremap, as Linux 6.12
answered under QEMU).

Shrink, or grow back up to the original length; never beyond (ENOMEM, even
into untrimmed slack); never moves; partial or wrong old length → EINVAL;
MREMAP_FIXED only in place; shareable mappings → EPERM.
"""

from __future__ import annotations

from errno import *

import pytest
from _nommu import ANON, PS, RW, board, make_shm_file, refused

from nommu_lab.constants import *

R = "do_mremap."


def test_zero_lengths(k, p):
    """do_mremap: old or new length 0 (after PAGE_ALIGN) → EINVAL, checked first."""
    a = p.mmap(0, 2 * PS, RW, ANON)
    refused(k, p.mremap, a, 0, PS, errno=EINVAL, rule=R + "zero_length")
    refused(k, p.mremap, a, 2 * PS, 0, errno=EINVAL, rule=R + "zero_length")
    refused(k, p.mremap, a + 1, 0, PS, errno=EINVAL, rule=R + "zero_length")


def test_unaligned_address(k, p):
    """do_mremap / LTP mremap02: an unaligned address → EINVAL (before MREMAP_FIXED)."""
    a = p.mmap(0, 2 * PS, RW, ANON)
    refused(k, p.mremap, a + 8, PS, PS, MREMAP_FIXED, 0, errno=EINVAL, rule=R + "unaligned")


def test_fixed_elsewhere_is_einval_in_place_is_fine(k, p):
    """do_mremap: MREMAP_FIXED with new_addr != addr → EINVAL; == addr works even without MAYMOVE."""
    a = p.mmap(0, 2 * PS, RW, ANON)
    refused(k, p.mremap, a, 2 * PS, PS, MREMAP_FIXED | MREMAP_MAYMOVE, a + 8 * PS,
            errno=EINVAL, rule=R + "fixed_moves")
    assert p.mremap(a, 2 * PS, PS, MREMAP_FIXED, a) == a


def test_dontunmap_and_unknown_flags_ignored(k, p):
    """do_mremap (seen on Linux 6.12): MREMAP_DONTUNMAP and other bits are ignored (no unknown-flag check)."""
    a = p.mmap(0, 2 * PS, RW, ANON)
    assert p.mremap(a, 2 * PS, PS, MREMAP_DONTUNMAP | 0x100) == a


@pytest.mark.parametrize("delta_addr,old", [(0, PS), (PS, PS), (0, 3 * PS), (4 * PS, PS)])
def test_exact_match_required(k, p, delta_addr, old):
    """do_mremap / LTP mremap03: no VMA exactly [addr, addr+old_len) → EINVAL (MMU: EFAULT)."""
    a = p.mmap(0, 2 * PS, RW, ANON)
    refused(k, p.mremap, a + delta_addr, old, PS, errno=EINVAL, rule=R + "no_exact_vma")


def test_shareable_is_eperm_even_for_a_resize(k, p):
    """do_mremap (seen on Linux 6.12): shared, read-only private file and direct mappings → EPERM."""
    fd = make_shm_file(p, "/tmp/s", 2 * PS)
    s = p.mmap(0, 2 * PS, RW, MAP_SHARED, fd, 0)
    ro = p.mmap(0, 2 * PS, PROT_READ, MAP_PRIVATE, p.open("/mnt/disk/pattern.bin"), 0)
    mtd = p.mmap(0, 2 * PS, PROT_READ, MAP_SHARED, p.open("/dev/mtd0"), 0)
    assert mtd % PS == 0
    for a in (s, ro, mtd):
        refused(k, p.mremap, a, 2 * PS, PS, errno=EPERM, rule=R + "shareable")


def test_unaligned_xip_is_einval_before_eperm(k, p):
    """do_mremap, alignment checked before resizing: an XIP mapping at an unaligned flash address fails the alignment check."""
    a = p.mmap(0, PS, PROT_READ, MAP_PRIVATE, p.open("/rom/etc/motd"), 0)
    assert a % PS
    refused(k, p.mremap, a, PS, PS, errno=EINVAL, rule=R + "unaligned")


@pytest.mark.parametrize("flags", [0, MREMAP_MAYMOVE])
def test_cannot_grow_beyond_original_length(k, p, flags):
    """do_mremap (seen on Linux 6.12): growth beyond the region's length → ENOMEM, with or without MAYMOVE."""
    a = p.mmap(0, 2 * PS, RW, ANON)
    refused(k, p.mremap, a, 2 * PS, 3 * PS, flags, errno=ENOMEM, rule=R + "beyond_region")


def test_cannot_grow_into_untrimmed_slack():
    """do_mremap: slack left by nr_trim_pages (vm_top) can never be reached."""
    k = board(nr_trim_pages=0)
    p = k.spawn()
    a = p.mmap(0, 3 * PS, RW, ANON)
    assert k.regions()[0].top == a + 4 * PS
    refused(k, p.mremap, a, 3 * PS, 4 * PS, MREMAP_MAYMOVE, errno=ENOMEM,
            rule=R + "beyond_region")


def test_shrink_then_grow_back(k, p):
    """do_mremap (seen on Linux 6.12): shrink frees nothing; /proc/maps keeps the region, PID maps the VMA."""
    a = p.mmap(0, 4 * PS, RW, ANON)
    copy = k.meminfo()["MmapCopy"]
    assert p.mremap(a, 4 * PS, PS) == a
    assert k.meminfo()["MmapCopy"] == copy
    assert k.proc_maps().startswith(f"{a:08x}-{a + 4 * PS:08x} ")
    assert p.maps().startswith(f"{a:08x}-{a + PS:08x} ")
    # the old length no longer matches
    refused(k, p.mremap, a, 4 * PS, 2 * PS, errno=EINVAL, rule=R + "no_exact_vma")
    assert p.mremap(a, PS, 3 * PS) == a
    assert p.mremap(a, 3 * PS, 4 * PS, MREMAP_MAYMOVE) == a
    refused(k, p.mremap, a, 4 * PS, 5 * PS, MREMAP_MAYMOVE, errno=ENOMEM)
    k.check()


def test_unmap_after_shrink_frees_everything(k, p):
    """do_munmap: after an mremap shrink, unmapping the VMA frees the whole region."""
    a = p.mmap(0, 4 * PS, RW, ANON)
    p.mremap(a, 4 * PS, 2 * PS)
    p.munmap(a, 2 * PS)
    assert k.meminfo()["MmapCopy"] == 0 and k.regions() == []
    k.check()


def test_tail_unmap_after_shrink_frees_shrunk_tail(k, p):
    """do_munmap: a tail cut frees [from, region top), including an mremap-shrunk tail."""
    a = p.mmap(0, 4 * PS, RW, ANON)
    p.mremap(a, 4 * PS, 3 * PS)
    p.munmap(a + 2 * PS, PS)
    assert k.meminfo()["MmapCopy"] == 8
    r = k.regions()[0]
    assert r.end == r.top == a + 2 * PS
    k.check()


def test_writable_private_file_copy_can_be_resized(k, p):
    """do_mremap: a writable private file copy is not shareable: mremap works."""
    a = p.mmap(0, 2 * PS, RW, MAP_PRIVATE, p.open("/mnt/disk/pattern.bin"), 0)
    assert p.mremap(a, 2 * PS, PS) == a


def test_traced_task_readonly_file_copy_can_be_resized(k, p):
    """do_mremap / determine_vm_flags: a read-only private file mapping made by a traced task is not shareable."""
    k.spawn().ptrace_attach(p.pid)
    a = p.mmap(0, 2 * PS, PROT_READ, MAP_PRIVATE, p.open("/mnt/disk/pattern.bin"), 0)
    assert p.mremap(a, 2 * PS, PS) == a
