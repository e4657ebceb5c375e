"""munmap on no-MMU (mm/nommu.c do_munmap, as Linux 6.12
answered under QEMU).

Anonymous mappings allow any page-aligned sub-range of one VMA (head, tail,
hole); file mappings only whole; an unmapped range, a range spanning two
VMAs, an unaligned start or len 0 give EINVAL.
"""

from __future__ import annotations

from errno import *

from _nommu import ANON, PS, RW, refused, region_of

from nommu_lab.constants import *
from nommu_lab.kernel.devices import SimpleDriver
from nommu_lab.kernel.memory import PageState

R = "do_munmap."


def test_zero_length_is_einval(k, p):
    """do_munmap: PAGE_ALIGN(len) == 0 → EINVAL (also a length that wraps)."""
    a = p.mmap(0, PS, RW, ANON)
    refused(k, p.munmap, a, 0, errno=EINVAL, rule=R + "zero_length")
    refused(k, p.munmap, a, -1, errno=EINVAL, rule=R + "zero_length")


def test_length_is_rounded_up_to_pages(k, p):
    """do_munmap: len = PAGE_ALIGN(len): one byte unmaps the whole one-page mapping."""
    a = p.mmap(0, PS, RW, ANON)
    p.munmap(a, 1)
    assert p.vmas() == [] and k.regions() == []


def test_unmapping_a_hole_is_an_error(k, p):
    """do_munmap: nothing mapped there → EINVAL (MMU Linux would return 0)."""
    refused(k, p.munmap, 0x8070_0000, PS, errno=EINVAL, rule=R + "not_mapped")
    a = p.mmap(0, PS, RW, ANON)
    refused(k, p.munmap, a + PS, PS, errno=EINVAL, rule=R + "not_mapped")


def test_other_process_address_is_not_mapped(k, p):
    """the no-MMU vm_area_struct: VMAs are per process: another process's mapping is a hole for this one."""
    q = k.spawn()
    a = q.mmap(0, PS, RW, ANON)
    refused(k, p.munmap, a, PS, errno=EINVAL, rule=R + "not_mapped")


def test_anonymous_whole(k, p):
    """do_munmap: exact match removes the VMA and frees its pages."""
    free0 = k.meminfo()["MemFree"]
    a = p.mmap(0, 3 * PS, RW, ANON)
    p.munmap(a, 3 * PS)
    assert k.meminfo()["MemFree"] == free0 and k.meminfo()["MmapCopy"] == 0
    k.check()


def test_anonymous_head_cut(k, p):
    """do_munmap shrink_vma: cutting the head moves VMA and region start, frees [start, to)."""
    a = p.mmap(0, 4 * PS, RW, ANON)
    p.munmap(a, PS)
    v = p.vmas()[0]
    assert (v.start, v.end) == (a + PS, a + 4 * PS)
    r = k.regions()[0]
    assert (r.start, r.end, r.top) == (a + PS, a + 4 * PS, a + 4 * PS)
    assert k.meminfo()["MmapCopy"] == 12
    assert k.mem.state[k.mem.addr_to_pfn(a)] in (PageState.FREE, PageState.TRIMMED)
    k.check()


def test_anonymous_tail_cut(k, p):
    """do_munmap shrink_vma: cutting the tail sets region end = top = from."""
    a = p.mmap(0, 4 * PS, RW, ANON)
    p.munmap(a + 2 * PS, 2 * PS)
    r = k.regions()[0]
    assert (r.start, r.end, r.top) == (a, a + 2 * PS, a + 2 * PS)
    assert k.meminfo()["MmapCopy"] == 8


def test_anonymous_hole_splits_into_two_regions(k, p):
    """do_munmap split_vma (seen on Linux 6.12): a hole gives two VMAs and two regions (and a WARNING)."""
    a = p.mmap(0, 4 * PS, RW, ANON)
    p.munmap(a + PS, PS)
    assert [(v.start, v.end) for v in p.vmas()] == [(a, a + PS), (a + 2 * PS, a + 4 * PS)]
    regs = k.regions()
    assert [(r.start, r.end, r.top) for r in regs] == [(a, a + PS, a + PS),
                                                       (a + 2 * PS, a + 4 * PS, a + 4 * PS)]
    # the upper region keeps its pgoff advanced by the split (1 page), not by the cut
    assert regs[1].pgoff == 1
    assert k.proc_maps().splitlines()[1].split()[2] == "00001000"
    assert p.maps().splitlines()[1].split()[2] == "00000000"  # anon VMAs print 0
    assert k.meminfo()["MmapCopy"] == 12
    assert any(e.rule == "kernel_bug.6.hole_warning" for e in k.trace)
    k.check()
    # the two halves are independent now
    p.munmap(a, PS)
    p.munmap(a + 2 * PS, 2 * PS)
    assert k.regions() == [] and k.meminfo()["MmapCopy"] == 0


def test_anonymous_unaligned_start_inside_is_einval(k, p):
    """do_munmap / LTP munmap03: an unaligned start inside an anonymous mapping → EINVAL."""
    a = p.mmap(0, 4 * PS, RW, ANON)
    refused(k, p.munmap, a + 100, PS, errno=EINVAL, rule=R + "unaligned_start")


def test_anonymous_range_spanning_two_vmas_is_einval(k, p):
    """do_munmap: an unmap may not span two VMAs."""
    a = p.mmap(0, 2 * PS, RW, ANON)
    b = p.mmap(0, 2 * PS, RW, ANON)
    assert b == a + 2 * PS
    refused(k, p.munmap, a, 4 * PS, errno=EINVAL, rule=R + "spans_vmas")
    refused(k, p.munmap, a + PS, 2 * PS, errno=EINVAL, rule=R + "spans_vmas")


def test_anonymous_range_past_the_end_is_einval(k, p):
    """do_munmap: range not inside the VMA → EINVAL."""
    a = p.mmap(0, 2 * PS, RW, ANON)
    refused(k, p.munmap, a + PS, 2 * PS, errno=EINVAL, rule=R + "spans_vmas")


def test_file_mapping_only_whole(k, p):
    """do_munmap / LTP munmap02: a file mapping cannot be partially unmapped (EINVAL)."""
    fd = p.open("/mnt/disk/pattern.bin")
    a = p.mmap(0, 3 * PS, PROT_READ, MAP_PRIVATE, fd, 0)
    refused(k, p.munmap, a, PS, errno=EINVAL, rule=R + "file_partial")
    refused(k, p.munmap, a + PS, 2 * PS, errno=EINVAL, rule=R + "file_partial")
    refused(k, p.munmap, a + PS, PS, errno=EINVAL, rule=R + "file_partial")
    p.munmap(a, 3 * PS - 5)  # rounds up to the whole mapping (LTP munmap01)
    assert p.vmas() == [] and k.meminfo()["MmapCopy"] == 0


def test_xip_mapping_unmapped_whole_by_its_unaligned_start(k, p):
    """do_munmap: an unaligned direct mapping is unmapped from its own start."""
    fd = p.open("/rom/etc/motd")
    a = p.mmap(0, 21, PROT_READ, MAP_PRIVATE, fd, 0)
    assert a % PS
    p.munmap(a, 21)
    assert p.vmas() == [] and k.regions() == []


def test_file_loop_removes_a_later_vma_whose_end_matches(k, p):
    """do_munmap [CODE]: the file loop goes on to the next VMA and removes one whose end == end."""
    a = p.mmap(0, PS, PROT_READ, MAP_PRIVATE, p.open("/mnt/disk/notes.txt"), 0)
    b = p.mmap(0, PS, PROT_READ, MAP_PRIVATE, p.open("/mnt/disk/pattern.bin"), 0)
    assert b == a + PS
    p.munmap(a, 2 * PS)
    assert [v.start for v in p.vmas()] == [a]


def test_file_first_overlapping_vma_from_below(k, p):
    """do_munmap (≥6.1 maple tree): the first VMA *overlapping* the range is found, so a file
    mapping is removed by a range that starts in the hole below it and ends at its end."""
    a = p.mmap(0, 2 * PS, PROT_READ, MAP_PRIVATE, p.open("/mnt/disk/pattern.bin"), 0)
    below = a - PS
    assert k.region_at(below) is None
    p.munmap(below, 3 * PS)
    assert p.vmas() == []


def test_vm_close_is_called_for_every_vma(k, p):
    """do_munmap / docs/linux-vs-document.md row 21: vm_ops->close() runs for every VMA removed, not only the last."""
    drv = k.register_driver("/dev/cdev", SimpleDriver(
        capabilities=NOMMU_MAP_DIRECT | NOMMU_MAP_READ | NOMMU_MAP_WRITE))
    q = k.spawn()
    a = p.mmap(0, PS, RW, MAP_SHARED, p.open("/dev/cdev", O_RDWR), 0)
    b = q.mmap(0, PS, RW, MAP_SHARED, q.open("/dev/cdev", O_RDWR), 0)
    assert a == b == drv.base
    # do_mmap's shareable-region search / docs/linux-vs-document.md row 20: the driver's mmap was called for the sharer too
    assert sum(c.startswith("mmap(") for c in drv.calls) == 2
    p.munmap(a, PS)
    assert drv.closes == 1
    q.munmap(b, PS)
    assert drv.closes == 2


def test_direct_memory_is_never_freed_by_unmapping(k, p):
    """struct vm_region: direct memory (page cache, device) is not freed when the region goes."""
    fd = p.open("/tmp/f", O_CREAT | O_RDWR)
    p.ftruncate(fd, 2 * PS)
    free = k.meminfo()["MemFree"]
    a = p.mmap(0, 2 * PS, RW, MAP_SHARED, fd, 0)
    p.poke(a, b"keep")
    p.munmap(a, 2 * PS)
    assert k.meminfo()["MemFree"] == free
    assert p.pread(fd, 4, 0) == b"keep"


def test_vfork_child_unmaps_in_the_shared_mm(k, p):
    """kernel/fork.c: a vfork child shares the parent's mm: its munmap removes the parent's VMA."""
    a = p.mmap(0, PS, RW, ANON)
    c = p.vfork()
    c.munmap(a, PS)
    assert p.vmas() == []
    c.exit(0)
    refused(k, p.munmap, a, PS, errno=EINVAL)


def test_clone_without_vm_child_cannot_unmap_inherited(k, p):
    """kernel/fork.c: clone without CLONE_VM gives an empty mm: munmap of inherited addresses → EINVAL."""
    a = p.mmap(0, PS, RW, ANON)
    c = p.clone(0)
    refused(k, c.munmap, a, PS, errno=EINVAL, rule=R + "not_mapped")
    assert c.maps() == ""


def test_same_range_twice_in_one_mm_intended_behaviour(k, p):
    """Kernel bug 1 (6.12): mapping one file range twice in one mm. The model keeps both
    VMAs (the intended ≤6.0 behaviour), names the 6.1+ maple-tree hazard in the trace, and
    each munmap removes one of them; nothing leaks."""
    fd = p.open("/mnt/disk/pattern.bin")
    a = p.mmap(0, 2 * PS, PROT_READ, MAP_PRIVATE, fd, 0)
    b = p.mmap(0, 2 * PS, PROT_READ, MAP_PRIVATE, fd, 0)
    assert a == b and region_of(k, a).usage == 2 and len(p.vmas()) == 2
    assert any(e.rule == "kernel_bug.1.duplicate_vma" for e in k.trace)
    assert len(p.maps().splitlines()) == 2
    p.munmap(a, 2 * PS)
    assert region_of(k, a).usage == 1
    p.munmap(a, 2 * PS)
    assert k.regions() == [] and k.meminfo()["MmapCopy"] == 0
    k.check()


def test_mremap_shrink_then_munmap_leaves_no_stale_vma(k, p):
    """Kernel bug 2 (6.12): the model treats the VMA end as authoritative, so after an mremap
    shrink and munmap nothing freed is still listed."""
    a = p.mmap(0, 4 * PS, RW, ANON)
    p.mremap(a, 4 * PS, 2 * PS)
    p.munmap(a, 2 * PS)
    assert p.maps() == "" and k.proc_maps() == ""
    k.check()
