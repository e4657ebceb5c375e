"""The region tree (mm/nommu.c ``add_nommu_region``): one region per start, always.

``add_nommu_region`` calls ``BUG()`` when a second region arrives at a
``vm_start`` that is taken. It happens on Linux 6.12 when a file shrinks
under a direct read-only private mapping (its page is freed; rule
``ramfs.truncate_under_direct_private``) and the next allocation, or a
munmap that moves a copy region's start, lands on that page. Every path
that adds or moves a region refuses with ``KernelBug`` and changes nothing;
the tree itself refuses a taken start (issue 10 A1).
"""

from __future__ import annotations

import pytest
from _nommu import ANON, PS, RAM_BASE, RW

import nommu_lab as nl
from nommu_lab.constants import *
from nommu_lab.kernel.region import RegionTree, VmRegion

RULE = "add_nommu_region.duplicate_start"


def orphan(k: nl.Kernel, p: nl.Process, pages: int, at_page: int) -> int:
    """A read-only private direct mapping of page ``at_page`` of a ``pages``-page ramfs file,
    whose pages are then freed under it by truncating the file to 0. Returns its address."""
    fd = p.open("/tmp/f", O_RDWR | O_CREAT)
    p.ftruncate(fd, pages * PS)
    a = p.mmap(0, PS, PROT_READ, MAP_PRIVATE, fd, at_page * PS)
    assert not k.region_at(a).is_copy
    p.ftruncate(fd, 0)
    assert "ramfs.truncate_under_direct_private" in k.trace.rules()
    return a


def bug(k: nl.Kernel, fn, *args) -> nl.KernelBug:
    """``fn(*args)`` must be refused as a would-be BUG() and change nothing."""
    before = k.state_digest()
    regions = k.regions()
    with pytest.raises(nl.KernelBug) as ei:
        fn(*args)
    assert ei.value.errno is None and ei.value.rule == RULE
    assert k.state_digest() == before and k.regions() == regions
    k.check()
    return ei.value


def starts_are_unique(k: nl.Kernel) -> None:
    starts = [r.start for r in k.regions()]
    assert len(starts) == len(set(starts)) == len(k.proc_maps().splitlines())


def test_add_nommu_region_duplicate_start_anonymous_copy_on_an_orphaned_page(k, p):
    """Issue 10 A1 reproduction: the freed page comes back first (LIFO free lists); a new
    anonymous copy would start where the orphaned direct region starts."""
    a = orphan(k, p, 1, 0)
    assert k.mem.pfn_to_addr(k.mem.next_block(0)) == a
    e = bug(k, p.mmap, 0, PS, RW, ANON)
    assert f"{a:#x}" in e.sentence and "freed" in e.sentence
    starts_are_unique(k)
    p.munmap(a, PS)  # the orphan can still be unmapped, and the page then maps normally
    assert p.mmap(0, PS, RW, ANON) == a
    starts_are_unique(k)
    k.check()


def test_add_nommu_region_duplicate_start_private_writable_file_copy(k, p):
    """The same through a private writable file copy (do_mmap_private reads the file into
    the page the orphan starts on)."""
    orphan(k, p, 1, 0)
    fd = p.open("/mnt/disk/pattern.bin")
    bug(k, p.mmap, 0, PS, RW, MAP_PRIVATE, fd, 0)
    starts_are_unique(k)


@pytest.mark.parametrize("frm,to", [(0, 2), (1, 2), (2, 3)], ids=["head", "hole", "hole_at_orphan"])
def test_add_nommu_region_duplicate_start_shrink_and_split_vma(k, p, frm, to):
    """shrink_vma (munmap of a copy's head) and split_vma (a hole) move a copy region's start;
    onto the orphan's start that is a duplicate: refused before anything is cut."""
    a = orphan(k, p, 4, 2)
    c = p.mmap(0, 4 * PS, RW, ANON)
    assert a == c + 2 * PS, "the copy must take the block the orphan lies in"
    bug(k, p.munmap, c + frm * PS, (to - frm) * PS)
    starts_are_unique(k)


def test_add_nommu_region_duplicate_start_tail_cut_is_fine(k, p):
    """A tail munmap keeps the copy's start: nothing collides."""
    a = orphan(k, p, 4, 2)
    c = p.mmap(0, 4 * PS, RW, ANON)
    p.munmap(c + 2 * PS, 2 * PS)
    assert sorted(r.start for r in k.regions()) == [c, a]
    k.check()


def test_add_nommu_region_duplicate_start_region_tree_refuses_a_taken_start():
    """RegionTree.add never overwrites: a second region at a taken start raises KernelBug and
    the tree is unchanged; adding the same region again is a no-op (as add_nommu_region)."""
    tree = RegionTree()
    r1 = VmRegion(1, RAM_BASE, RAM_BASE + PS, RAM_BASE + PS, 0, 0, None)
    r2 = VmRegion(2, RAM_BASE, RAM_BASE + 2 * PS, RAM_BASE + 2 * PS, 0, 0, None)
    tree.add(r1)
    tree.add(r1)
    with pytest.raises(nl.KernelBug) as ei:
        tree.add(r2)
    assert ei.value.rule == RULE
    assert list(tree) == [r1] and len(tree) == 1
    tree.remove(r1)
    assert list(tree) == [] and RAM_BASE not in tree


def test_add_nommu_region_duplicate_start_regions_list_stays_usable(k, p):
    """After the refusal k.regions(), /proc/maps and munmap keep working (no KeyError)."""
    a = orphan(k, p, 1, 0)
    with pytest.raises(nl.KernelBug):
        p.mmap(0, PS, RW, ANON)
    assert [r.start for r in k.regions()] == [a]
    p.munmap(a, PS)
    assert k.regions() == [] and k.proc_maps() == ""
