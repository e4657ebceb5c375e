"""ramfs / no-MMU "tmpfs" (fs/ramfs/file-nommu.c, mm/shmem.c,
as Linux 6.12 answered under QEMU).

Truncate from size 0 gathers contiguous pages (MAP_SHARED works at one
address for everybody); a file filled with write() gets its pages one at a
time, not contiguous (MAP_SHARED ENODEV, MAP_PRIVATE copy); shrinking under a
shared mapping is ETXTBSY; copies go stale.
"""

from __future__ import annotations

import itertools
from errno import *

from _nommu import PS, RW, make_shm_file, make_written_file, refused, region_of

from nommu_lab.constants import *
from nommu_lab.kernel.memory import PageState


def pages_of(k, path):
    """The file's page-cache frames in page order (holes left out)."""
    return [pfn for _, pfn in sorted(k.lookup(path).pages.items())]


def test_truncate_from_zero_gathers_contiguous_pages(k, p):
    """fs/ramfs/file-nommu.c: ramfs_nommu_expand_for_mapping: one block, excess freed, pages consecutive and zeroed."""
    free = k.meminfo()["MemFree"]
    make_shm_file(p, "/tmp/t", 3 * PS)
    pfns = pages_of(k, "/tmp/t")
    assert pfns == list(range(pfns[0], pfns[0] + 3))
    assert pfns[0] % 4 == 0  # from an order-2 block
    assert free - k.meminfo()["MemFree"] == 12  # the 4th page was freed again
    assert k.meminfo()["Cached"] == 12 and k.meminfo()["MmapCopy"] == 0
    assert all(k.mem.state[f] == PageState.PAGECACHE for f in pfns)
    assert k.mem.data[pfns[0] * PS:(pfns[0] + 3) * PS].sum() == 0


def test_write_takes_pages_one_at_a_time_not_contiguous(k, p):
    """fs/ramfs/file-nommu.c (seen on Linux 6.12): a file filled with write() gets non-consecutive pages."""
    make_written_file(p, "/tmp/w", b"a" * (3 * PS))
    pfns = pages_of(k, "/tmp/w")
    assert len(pfns) == 3
    assert any(b != a + 1 for a, b in itertools.pairwise(pfns))


def test_written_file_shared_is_enodev_private_is_copy(k, p):
    """Seen on Linux 6.12: non-contiguous → MAP_SHARED ENODEV, MAP_PRIVATE makes a copy."""
    fd = make_written_file(p, "/tmp/w", b"a" * (3 * PS))
    refused(k, p.mmap, 0, 3 * PS, RW, MAP_SHARED, fd, 0, errno=ENODEV,
            rule="do_mmap.get_unmapped_area_enosys")
    a = p.mmap(0, 3 * PS, PROT_READ, MAP_PRIVATE, fd, 0)
    assert region_of(k, a).copy and k.meminfo()["MmapCopy"] == 12
    assert p.peek(a, 3 * PS) == b"a" * (3 * PS)


def test_one_page_written_file_is_trivially_contiguous(k, p):
    """fs/ramfs/file-nommu.c: a 1-page file is trivially contiguous: a shared mapping works."""
    fd = make_written_file(p, "/tmp/one", b"hi")
    a = p.mmap(0, PS, RW, MAP_SHARED, fd, 0)
    assert a == k.mem.pfn_to_addr(pages_of(k, "/tmp/one")[0])
    assert p.peek(a, 2) == b"hi"


def test_growing_a_nonempty_file_adds_no_pages(k, p):
    """fs/ramfs/file-nommu.c: growing a non-empty file only changes the size (no pages)."""
    fd = make_shm_file(p, "/tmp/g", PS)
    free = k.meminfo()["MemFree"]
    p.ftruncate(fd, 3 * PS)
    assert k.lookup("/tmp/g").size == 3 * PS
    assert k.meminfo()["MemFree"] == free
    assert p.mmap(0, PS, RW, MAP_SHARED, fd, 0) % PS == 0  # the first page still works


def test_growing_a_nonempty_file_does_not_make_it_shareable(k, p):
    """Seen on Linux 6.12: growing a non-empty file does not make it mappable shared (ENODEV)."""
    fd = make_shm_file(p, "/tmp/g", PS)
    p.ftruncate(fd, 3 * PS)
    refused(k, p.mmap, 0, 3 * PS, RW, MAP_SHARED, fd, 0, errno=ENODEV)


def test_shared_past_eof_is_enodev(k, p):
    """fs/ramfs/file-nommu.c (seen on Linux 6.12): MAP_SHARED past EOF: ENODEV."""
    fd = make_shm_file(p, "/tmp/e", 2 * PS)
    refused(k, p.mmap, 0, 3 * PS, RW, MAP_SHARED, fd, 0, errno=ENODEV)
    refused(k, p.mmap, 0, PS, RW, MAP_SHARED, fd, 2 * PS, errno=ENODEV)


def test_shared_at_page_offset_is_base_plus_offset(k, p):
    """do_mmap's get_unmapped_area step: the address is that of the first page of the range."""
    fd = make_shm_file(p, "/tmp/o", 4 * PS)
    base = k.mem.pfn_to_addr(pages_of(k, "/tmp/o")[0])
    assert p.mmap(0, PS, RW, MAP_SHARED, fd, 2 * PS) == base + 2 * PS


def test_shrink_under_shared_mapping_is_etxtbsy(k, p):
    """fs/ramfs/file-nommu.c (seen on Linux 6.12) / LTP mmap09: shrinking under a MAP_SHARED mapping → ETXTBSY."""
    fd = make_shm_file(p, "/tmp/s", 4 * PS)
    p.mmap(0, 2 * PS, RW, MAP_SHARED, fd, 0)
    refused(k, p.ftruncate, fd, 2 * PS - 1, errno=ETXTBSY,
            rule="nommu_shrink_inode_mappings.shared_mapping")
    refused(k, p.ftruncate, fd, 0, errno=ETXTBSY)
    # cutting only pages beyond the mapping is fine (dead zone [2, 4] vs VMA pages [0, 1])
    p.ftruncate(fd, 2 * PS)
    assert k.lookup("/tmp/s").size == 2 * PS and len(pages_of(k, "/tmp/s")) == 2
    k.check()


def test_shrink_with_otrunc_is_etxtbsy(k, p):
    """fs/ramfs/file-nommu.c: open(O_TRUNC) truncates to 0: ETXTBSY under a shared mapping, nothing changes."""
    fd = make_shm_file(p, "/tmp/ot", PS)
    p.mmap(0, PS, RW, MAP_SHARED, fd, 0)
    refused(k, p.open, "/tmp/ot", O_RDWR | O_TRUNC, errno=ETXTBSY)


def test_private_mappings_do_not_block_a_shrink(k, p):
    """fs/ramfs/file-nommu.c: only VM_SHARED VMAs make a shrink ETXTBSY; the direct private one sees it (hazard)."""
    fd = make_shm_file(p, "/tmp/pv", 2 * PS)
    a = p.mmap(0, 2 * PS, PROT_READ, MAP_PRIVATE, fd, 0)
    assert not region_of(k, a).copy
    p.ftruncate(fd, PS)
    assert any(e.rule == "ramfs.truncate_under_direct_private" for e in k.trace)


def test_stale_copy_and_later_mappers_get_it(k, p):
    """Seen on Linux 6.12: copies are shared by later compatible requests and never refreshed."""
    fd = make_written_file(p, "/tmp/st", b"old!" * (PS // 2))  # 2 pages, not contiguous
    a = p.mmap(0, 2 * PS, PROT_READ, MAP_PRIVATE, fd, 0)
    p.pwrite(fd, b"new!", 0)
    q = k.spawn()
    b = q.mmap(0, 2 * PS, PROT_READ | PROT_EXEC, MAP_PRIVATE, q.open("/tmp/st"), 0)
    assert b == a and q.peek(b, 4) == b"old!"
    assert region_of(k, a).usage == 2


def test_shared_request_matching_a_readonly_copy_gets_the_copy(k, p):
    """Seen on Linux 6.12: MAP_SHARED matching a read-only private copy is given that copy;
    its writes never reach the file but show in everyone's read-only mapping."""
    fd = make_written_file(p, "/tmp/cp", b"x" * (2 * PS))
    a = p.mmap(0, 2 * PS, PROT_READ, MAP_PRIVATE, fd, 0)
    q = k.spawn()
    b = q.mmap(0, 2 * PS, RW, MAP_SHARED, q.open("/tmp/cp", O_RDWR), 0)
    assert b == a and region_of(k, a).copy and region_of(k, a).usage == 2
    q.poke(b, b"SHARED")
    assert p.peek(a, 6) == b"SHARED"
    assert p.pread(fd, 6, 0) == b"xxxxxx"


def test_ramfs_inexact_overlap_makes_a_new_copy(k, p):
    """do_mmap's shareable-region search (seen on Linux 6.12): on ramfs (DIRECT capable) an inexact overlap is skipped: new copy."""
    fd = make_written_file(p, "/tmp/ov", b"z" * (3 * PS))
    a = p.mmap(0, 2 * PS, PROT_READ, MAP_PRIVATE, fd, 0)
    b = p.mmap(0, 2 * PS, PROT_READ, MAP_PRIVATE, fd, PS)
    assert b != a + PS
    assert len(k.regions()) == 2 and k.meminfo()["MmapCopy"] == 16


def test_expand_too_big_is_efbig(k, p):
    """fs/ramfs/file-nommu.c: order above the allocator maximum or size ≥ 4 GiB → EFBIG."""
    fd = p.open("/tmp/big", O_CREAT | O_RDWR)
    refused(k, p.ftruncate, fd, 5 << 20, errno=EFBIG)
    refused(k, p.ftruncate, fd, 1 << 32, errno=EFBIG)


def test_expand_without_contiguous_block_is_enomem(k, p):
    """fs/ramfs/file-nommu.c: no free block of that order → ENOMEM (the model keeps the size unchanged)."""
    fd = p.open("/tmp/a", O_CREAT | O_RDWR)
    p.ftruncate(fd, 4 << 20)
    fd2 = p.open("/tmp/b", O_CREAT | O_RDWR)
    refused(k, p.ftruncate, fd2, 4 << 20, errno=ENOMEM)
    assert k.lookup("/tmp/b").size == 0


def test_unlinked_file_pages_freed_after_last_user(k, p):
    """POSIX shm: unmapping never frees page-cache pages; they go when the file is removed."""
    free = k.meminfo()["MemFree"]
    fd = make_shm_file(p, "/dev/shm/x", 2 * PS)
    a = p.mmap(0, 2 * PS, RW, MAP_SHARED, fd, 0)
    p.unlink("/dev/shm/x")
    p.close(fd)
    assert free - k.meminfo()["MemFree"] == 8  # still mapped
    p.munmap(a, 2 * PS)
    assert k.meminfo()["MemFree"] == free
    k.check()


def test_read_only_private_of_contiguous_file_is_direct(k, p):
    """Seen on Linux 6.12: MAP_PRIVATE PROT_READ of a contiguous ramfs file maps the page cache (MmapCopy +0)."""
    fd = make_shm_file(p, "/tmp/ro", 2 * PS)
    a = p.mmap(0, 2 * PS, PROT_READ, MAP_PRIVATE, fd, 0)
    assert a == k.mem.pfn_to_addr(pages_of(k, "/tmp/ro")[0])
    assert k.meminfo()["MmapCopy"] == 0
    # a later MAP_SHARED of the same range shares that direct region
    b = p.mmap(0, 2 * PS, RW, MAP_SHARED, p.open("/tmp/ro", O_RDWR), 0)
    assert b == a and region_of(k, a).usage == 2


def test_shrink_cuts_region_under_private_vma(k, p):
    """fs/ramfs/file-nommu.c nommu_shrink_inode_mappings: regions of VM_SHARED VMAs are cut to the new size;
    a private VMA on the same region keeps its old end (stale, as on Linux)."""
    fd = make_shm_file(p, "/tmp/cut", 4 * PS)
    a = p.mmap(0, 4 * PS, PROT_READ, MAP_PRIVATE, fd, 0)
    q = k.spawn()
    b = q.mmap(0, PS, PROT_READ, MAP_SHARED, q.open("/tmp/cut"), 0)
    assert a == b
    p.ftruncate(fd, PS)
    r = region_of(k, a)
    assert (r.end, r.top, r.usage) == (a + PS, a + PS, 2)
    assert p.maps().startswith(f"{a:08x}-{a + 4 * PS:08x} r--p ")
    assert any(e.rule == "ramfs.truncate_under_direct_private" for e in k.trace)
    k.check()


def test_shrink_never_cuts_a_copy_region(k, p):
    """struct vm_region: copy pages belong to their region until its usage drops to 0; fs/ramfs/file-nommu.c's region cut
    is about page-cache (direct) regions."""
    free = k.meminfo()["MemFree"]
    fd = make_written_file(p, "/tmp/cc", b"x" * (3 * PS))
    a = p.mmap(0, 3 * PS, PROT_READ, MAP_PRIVATE, fd, 0)
    q = k.spawn()
    qfd = q.open("/tmp/cc", O_RDWR)
    b = q.mmap(0, PS, RW, MAP_SHARED, qfd, 0)
    assert b == a and region_of(k, a).copy
    p.ftruncate(fd, PS)
    assert any(e.rule == "kernel_bug.8.shrink_cuts_copy" for e in k.trace)
    r = region_of(k, a)
    assert (r.end, r.top) == (a + 3 * PS, a + 3 * PS)
    assert k.meminfo()["MmapCopy"] == 12
    k.check()
    p.munmap(a, 3 * PS)
    q.munmap(b, PS)
    p.unlink("/tmp/cc")
    p.close(fd)
    q.close(qfd)  # the last open file: the page cache goes with it
    assert k.meminfo()["MmapCopy"] == 0 and k.meminfo()["MemFree"] == free
    k.check()


# --- issue 10 A9, corrected by Linux 6.12 (fidelity scenario ramfs_full) ----------------
import pytest  # noqa: E402


def _fill_ram_but(k, p, pages):
    """Write a ramfs file until exactly ``pages`` frames are free."""
    fill = p.open("/tmp/fill", O_CREAT | O_RDWR)
    p.write(fill, b"f" * ((k.mem.nr_free - pages) * PS))
    assert k.mem.nr_free == pages


def test_simple_write_begin_oom_kills_the_newest_process():
    """A write whose page-cache pages do not fit is not refused (no ENOSPC, no ENOMEM):
    each order-0 allocation that finds RAM empty calls the OOM killer. Without an MMU
    every process scores 0, so the newest dies first (its 4-page copy freed), then the
    writer itself: its write stops short with the pages it got, and they stay in the file."""
    from _nommu import board

    k = board()
    old = k.spawn("old")
    _fill_ram_but(k, old, 8)
    writer = k.spawn("writer")
    fd = writer.open("/tmp/new", O_CREAT | O_RDWR)
    newest = k.spawn("newest")
    newest.mmap(0, 4 * PS, RW, MAP_PRIVATE | MAP_ANONYMOUS)  # an order-2 block: 4 pages
    assert k.mem.nr_free == 4
    seq = k.trace.last_seq
    got = writer.write(fd, b"n" * (16 * PS))
    assert got == 8 * PS  # the 4 free pages, then the 4 the newest process freed
    assert (newest.alive, newest.killed_by, writer.alive, writer.killed_by) == (False, SIGKILL, False, SIGKILL)
    assert old.alive and old.fatal_signal == 0
    kills = [e for e in k.trace.since(seq) if e.rule == "oom_kill_process"]
    assert [e.args[1] for e in kills] == [newest.pid, writer.pid]
    assert "newest" in kills[0].text and "/tmp/new" in kills[0].text
    new = k.lookup("/tmp/new")
    assert new.size == 8 * PS and len(new.pages) == 8 and k.mem.nr_free == 0
    assert old.pread(old.open("/tmp/new", O_RDONLY), 8 * PS, 0) == b"n" * (8 * PS)
    k.check()
    old.ftruncate(old.open("/tmp/fill", O_RDWR), 0)  # truncating gives the memory back
    assert old.write(old.open("/tmp/new", O_RDWR), b"again") == 5
    k.check()


def test_simple_write_begin_whole_write_when_a_victim_frees_enough():
    """A bystander's death can be enough: the write completes and the writer lives."""
    from _nommu import board

    k = board()
    writer = k.spawn("writer")
    victim = k.spawn("victim")
    victim.mmap(0, 4 * PS, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    _fill_ram_but(k, writer, 0)
    fd = writer.open("/tmp/new", O_CREAT | O_RDWR)
    assert writer.write(fd, b"w" * (3 * PS)) == 3 * PS
    assert writer.alive and not victim.alive and victim.killed_by == SIGKILL
    assert "killed by SIGKILL" in repr(victim)
    k.check()


def test_oom_badness_passes_over_a_vfork_child_but_kills_it_with_its_parent():
    """in_vfork: a vfork child is never chosen itself; the kill reaches every process
    that shares the victim's mm, so it dies with its (newest) parent."""
    from _nommu import board

    k = board()
    writer = k.spawn("writer")
    _fill_ram_but(k, writer, 0)
    fd = writer.open("/tmp/new", O_CREAT | O_RDWR)
    parent = k.spawn("parent")
    child = parent.vfork()
    seq = k.trace.last_seq
    assert writer.write(fd, b"x" * PS) == 0  # nothing freed anywhere: the writer goes too
    assert [p.killed_by for p in (child, parent, writer)] == [SIGKILL] * 3
    kills = [e for e in k.trace.since(seq) if e.rule == "oom_kill_process"]
    assert [e.args[1] for e in kills] == [parent.pid, child.pid, writer.pid]
    assert f"which shares the mm of {parent.pid}" in kills[1].text
    k.check()


def test_simple_write_begin_oom_with_an_mmu_kills_the_largest_rss():
    """With an MMU oom_badness counts resident pages: the process holding the most dies,
    although it is the oldest."""
    from _nommu import board

    k = board(mmu=True)
    big = k.spawn("big")
    a = big.mmap(0, 64 * PS, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE)
    writer = k.spawn("writer")
    small = k.spawn("small")
    small.mmap(0, 2 * PS, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE)
    assert (k.oom_badness(big), k.oom_badness(small)) == (64, 2)
    _fill_ram_but(k, writer, 0)
    fd = writer.open("/tmp/new", O_CREAT | O_RDWR)
    assert writer.write(fd, b"y" * (8 * PS)) == 8 * PS
    assert not big.alive and small.alive and writer.alive
    assert a  # big's pages paid for the write
    k.check()


@pytest.mark.parametrize("mmu", [False, True])
def test_vfs_write_refusal_changes_nothing_when_ram_is_full(mmu):
    """What A9 meant, still true: a write that is refused (here: a file opened read-only,
    a range past the largest offset) changes nothing, even with RAM full; only a write
    that starts copying can call the OOM killer."""
    from _nommu import board

    k = board(mmu=mmu)
    p = k.spawn()
    _fill_ram_but(k, p, 0)
    ro = p.open("/tmp/fill", O_RDONLY)
    refused(k, p.write, ro, b"n" * (16 * PS), errno=EBADF, rule="vfs_write.not_open_for_write")
    rw = p.open("/tmp/fill", O_RDWR)
    refused(k, p.pwrite, rw, b"n" * (16 * PS), (1 << 63) - PS, errno=EINVAL, rule="rw_verify_area.overflow")
    assert p.alive
