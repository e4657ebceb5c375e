"""The eight mapping cases of the document and its further notes 1-7.

Each test names the case or note of the document (docs/coverage.md lists them,
with the two case headings the project's copy lost) and the kernel rule that
decides it. Where the document and the code disagree, the code (and what Linux
6.12 did under QEMU) is what the test expects (docs/linux-vs-document.md).
"""

from __future__ import annotations

from errno import *

import pytest
from _nommu import ANON, FLASH_BASE, PS, RW, RX, make_shm_file, refused, region_of

from nommu_lab.constants import *
from nommu_lab.kernel.devices import SimpleDriver


# --- case 1: anonymous MAP_PRIVATE ---------------------------------------------
def test_case1_anonymous_private_is_contiguous_zeroed_copy(k):
    """Case 1: backed by a contiguous run of pages; do_mmap_shared_file/do_mmap_private: aligned to the buddy block."""
    p = k.spawn()
    a = p.mmap(0, 5 * PS, RW, ANON)
    assert a % (8 * PS) == 0  # order-3 block alignment
    r = region_of(k, a)
    assert r.copy and r.start == a and r.end == a + 5 * PS and r.usage == 1
    assert p.peek(a, 5 * PS) == bytes(5 * PS)
    assert k.meminfo()["MmapCopy"] == 5 * 4
    assert p.maps() == f"{a:08x}-{a + 5 * PS:08x} rw-p 00000000 00:00 0 \n"
    k.check()


def test_case1_two_processes_get_different_memory(k):
    """Case 1: anonymous memory is never shared (no search for anonymous mappings, do_mmap's shareable-region search)."""
    p, q = k.spawn(), k.spawn()
    a = p.mmap(0, PS, RW, ANON)
    b = q.mmap(0, PS, RW, ANON)
    assert a != b
    assert [r.usage for r in k.regions()] == [1, 1]


# --- case 2: anonymous MAP_SHARED ----------------------------------------------
def test_case2_anonymous_shared_is_identical_to_private(k):
    """Case 2 / determine_vm_flags (seen on Linux 6.12): anonymous MAP_SHARED is private (rw-p), resizable by mremap."""
    p = k.spawn()
    a = p.mmap(0, 2 * PS, RW, MAP_SHARED | MAP_ANONYMOUS)
    b = p.mmap(0, 2 * PS, RW, MAP_SHARED | MAP_ANONYMOUS)
    assert a != b
    line = p.maps().splitlines()[0]
    assert line.split()[1] == "rw-p"
    flags = p.vmas()[0].flags
    assert not flags & (VM_SHARED | VM_MAYSHARE)
    assert p.mremap(a, 2 * PS, PS, 0) == a


def test_case2_vfork_child_sees_the_same_anonymous_mapping(k):
    """Case 2: vfork shares the mm; the mapping is the same memory, not a copy."""
    p = k.spawn()
    a = p.mmap(0, PS, RW, MAP_SHARED | MAP_ANONYMOUS)
    c = p.vfork()
    c.poke(a, b"child")
    assert p.peek(a, 5) == b"child"
    assert c.vmas() == p.vmas()


# --- case 3: file MAP_PRIVATE, no PROT_WRITE ---------------------------------
def test_case3_reuses_existing_mapping_of_another_process(k):
    """Case 3 bullet 1 / do_mmap's shareable-region search: an existing mapping of the same file range is re-used."""
    p, q = k.spawn(), k.spawn()
    a = p.mmap(0, 3 * PS, PROT_READ, MAP_PRIVATE, p.open("/mnt/disk/pattern.bin"), 0)
    before = k.meminfo()["MmapCopy"]
    b = q.mmap(0, 3 * PS, RX, MAP_PRIVATE, q.open("/mnt/disk/pattern.bin"), 0)
    assert b == a
    assert region_of(k, a).usage == 2
    assert k.meminfo()["MmapCopy"] == before
    # a subset shares at base + offset
    c = q.mmap(0, PS, PROT_READ, MAP_PRIVATE, q.open("/mnt/disk/pattern.bin"), PS)
    assert c == a + PS and region_of(k, a).usage == 3
    k.check()


def test_case3_direct_on_romfs_is_xip_from_flash(k):
    """Case 3 bullet 2 / further note 1: romfs on MTD maps in place, not page aligned."""
    p = k.spawn()
    fd = p.open("/rom/data/pattern.bin")
    a = p.mmap(0, 10000, PROT_READ, MAP_PRIVATE, fd, 0)
    assert FLASH_BASE <= a < FLASH_BASE + (1 << 20)
    assert a % PS != 0 and a % 16 == 0
    assert k.meminfo()["MmapCopy"] == 0
    assert p.peek(a, 10000) == bytes(i % 251 for i in range(10000))
    r = region_of(k, a)
    assert not r.copy and r.top == r.end


def test_case3_copy_when_no_direct_clears_beyond_eof(k):
    """Case 3 bullet 3 / do_mmap_private: a copy of the file; space beyond EOF is cleared."""
    p = k.spawn()
    fd = p.open("/mnt/disk/notes.txt")
    data = b"disk files can only be copied\n"
    a = p.mmap(0, 2 * PS, PROT_READ, MAP_PRIVATE, fd, 0)
    assert a % PS == 0 and k.mem.contains(a, 2 * PS)
    assert p.peek(a, len(data)) == data
    assert p.peek(a + len(data), 2 * PS - len(data)) == bytes(2 * PS - len(data))
    assert k.meminfo()["MmapCopy"] == 8


def test_case3_copy_does_not_follow_later_file_writes(k):
    """Case 3 bullet 4 (seen on Linux 6.12): copies are never refreshed; later mappers get the stale copy."""
    p = k.spawn()
    fd = p.open("/mnt/disk/notes.txt", O_RDWR)
    a = p.mmap(0, PS, PROT_READ, MAP_PRIVATE, fd, 0)
    p.pwrite(fd, b"CHANGED", 0)
    assert p.peek(a, 4) == b"disk"
    q = k.spawn()
    b = q.mmap(0, PS, PROT_READ, MAP_PRIVATE, q.open("/mnt/disk/notes.txt"), 0)
    assert b == a and q.peek(b, 4) == b"disk"  # stale


def test_case3_writes_to_the_mapping_are_seen_by_sharers(k):
    """Case 3 bullet 4: writes to the mapping are visible in other processes (no protection)."""
    p, q = k.spawn(), k.spawn()
    a = p.mmap(0, PS, PROT_READ, MAP_PRIVATE, p.open("/mnt/disk/notes.txt"), 0)
    b = q.mmap(0, PS, PROT_READ, MAP_PRIVATE, q.open("/mnt/disk/notes.txt"), 0)
    p.poke(a, b"XX")
    assert q.peek(b, 2) == b"XX"


def test_case3_ramfs_direct_private_shows_file_writes(k):
    """Seen on Linux 6.12 (docs/linux-vs-document.md row 5 DOC≠CODE): a direct ramfs read-only map *is* the file data."""
    p = k.spawn()
    fd = make_shm_file(p, "/tmp/d", 2 * PS)
    a = p.mmap(0, 2 * PS, PROT_READ, MAP_PRIVATE, fd, 0)
    assert k.meminfo()["MmapCopy"] == 0
    p.pwrite(fd, b"new", 10)
    assert p.peek(a + 10, 3) == b"new"
    p.poke(a, b"store")  # a store into the read-only mapping changes the file
    assert p.pread(fd, 5, 0) == b"store"


# --- case 4: file MAP_PRIVATE with PROT_WRITE ----------------------------------
def test_case4_private_writable_is_always_a_fresh_copy(k):
    """Case 4: a copy is always taken and never shared (even of the same range, same process)."""
    p, q = k.spawn(), k.spawn()
    fd = p.open("/rom/data/pattern.bin")
    a = p.mmap(0, PS, RW, MAP_PRIVATE, fd, 0)
    b = p.mmap(0, PS, RW, MAP_PRIVATE, fd, 0)
    c = q.mmap(0, PS, RW, MAP_PRIVATE, q.open("/rom/data/pattern.bin"), 0)
    assert len({a, b, c}) == 3
    assert all(x % PS == 0 and k.mem.contains(x, PS) for x in (a, b, c))
    assert all(r.usage == 1 and r.copy for r in k.regions())
    assert k.meminfo()["MmapCopy"] == 12
    p.poke(a, b"mine")
    assert p.peek(b, 4) == bytes(i % 251 for i in range(4))
    assert k.lookup("/rom/data/pattern.bin").size == 10000


def test_case4_writable_private_ramfs_copy_does_not_reach_the_file(k):
    """Case 4 (seen on Linux 6.12): MAP_PRIVATE PROT_WRITE of a ramfs file is a copy; the file is untouched."""
    p = k.spawn()
    fd = make_shm_file(p, "/tmp/c4", PS)
    a = p.mmap(0, PS, RW, MAP_PRIVATE, fd, 0)
    assert k.meminfo()["MmapCopy"] == 4
    p.poke(a, b"private")
    assert p.pread(fd, 7, 0) == bytes(7)


def test_case4_private_writable_is_rw_p_and_resizable(k):
    """do_mremap: a writable private file mapping is not shareable, so mremap may shrink it."""
    p = k.spawn()
    fd = p.open("/mnt/disk/pattern.bin")
    a = p.mmap(0, 3 * PS, RW, MAP_PRIVATE, fd, 0)
    assert p.maps().split()[1] == "rw-p"
    assert p.mremap(a, 3 * PS, PS) == a


# --- case 5: regular file / blockdev MAP_SHARED ------------------------------
@pytest.mark.parametrize("path,mode", [("/mnt/disk/pattern.bin", O_RDWR), ("/dev/ram0", O_RDWR)])
def test_case5_disk_file_or_blockdev_shared_is_not_supported(k, path, mode):
    """Case 5: not supported → ENODEV (default COPY capability, the drivers' mmap_capabilities)."""
    p = k.spawn()
    fd = p.open(path, mode)
    for prot in (PROT_READ, RW, RX):
        refused(k, p.mmap, 0, PS, prot, MAP_SHARED, fd, 0, errno=ENODEV,
                rule="validate_mmap_request.shared_needs_direct")


def test_case5_blockdev_private_is_a_copy(k):
    """Seen on Linux 6.12: a block device maps MAP_PRIVATE as a copy."""
    p = k.spawn()
    fd = p.open("/dev/ram0", O_RDWR)
    p.write(fd, b"ramdisk!")
    a = p.mmap(0, PS, PROT_READ, MAP_PRIVATE, fd, 0)
    assert p.peek(a, 8) == b"ramdisk!" and region_of(k, a).copy


# --- case 6: memory-backed regular file MAP_SHARED -----------------------------
def test_case6_ramfs_open_truncate_mmap_shares_one_address(k):
    """Case 6: open, truncate, mmap gives contiguous pages; shared-writable works like MMU."""
    p, q = k.spawn(), k.spawn()
    fd = make_shm_file(p, "/tmp/shared", 3 * PS)
    a = p.mmap(0, 3 * PS, RW, MAP_SHARED, fd, 0)
    b = q.mmap(0, 3 * PS, RW, MAP_SHARED, q.open("/tmp/shared", O_RDWR), 0)
    assert a == b
    assert k.meminfo()["MmapCopy"] == 0
    p.poke(a + 100, b"hello")
    assert q.peek(b + 100, 5) == b"hello"
    assert q.pread(q.open("/tmp/shared"), 5, 100) == b"hello"
    r = region_of(k, a)
    assert r.usage == 2 and not r.copy and r.perms == "rw-S"


def test_case6_ramfs_without_truncate_support_is_denied(k):
    """Case 6: a ramfs file filled by write() is not contiguous → MAP_SHARED ENODEV (seen on Linux 6.12)."""
    p = k.spawn()
    fd = p.open("/tmp/w", O_CREAT | O_RDWR)
    p.write(fd, b"x" * (3 * PS))
    refused(k, p.mmap, 0, 3 * PS, RW, MAP_SHARED, fd, 0, errno=ENODEV)


# --- case 7: memory-backed blockdev MAP_SHARED ---------------------------------
def test_case7_stock_ramdisk_cannot_share(k):
    """Case 7 / memory-backed block devices: brd gives no contiguous memory → MAP_SHARED ENODEV."""
    p = k.spawn()
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_SHARED, p.open("/dev/ram0", O_RDWR), 0,
            errno=ENODEV)


def test_case7_blockdev_with_contiguous_memory_maps_directly(k):
    """Case 7: a blockdev that allocated its memory contiguously up front can share it."""
    drv = k.register_driver("/dev/cram", SimpleDriver(
        capabilities=NOMMU_MAP_DIRECT | NOMMU_MAP_COPY | NOMMU_MAP_READ | NOMMU_MAP_WRITE,
        memory_pages=4), kind="blk")
    p, q = k.spawn(), k.spawn()
    a = p.mmap(0, 2 * PS, RW, MAP_SHARED, p.open("/dev/cram", O_RDWR), 0)
    b = q.mmap(0, 2 * PS, RW, MAP_SHARED, q.open("/dev/cram", O_RDWR), 0)
    assert a == b == drv.base
    assert k.meminfo()["MmapCopy"] == 0


# --- case 8: memory-backed chardev MAP_SHARED ----------------------------------
def test_case8_framebuffer_maps_directly(k):
    """Case 8: fb0 provides direct access at its screen memory."""
    p, q = k.spawn(), k.spawn()
    a = p.mmap(0, 8 * PS, RW, MAP_SHARED, p.open("/dev/fb0", O_RDWR), 0)
    b = q.mmap(0, 8 * PS, RW, MAP_SHARED, q.open("/dev/fb0", O_RDWR), 0)
    assert a == b == k.fb.screen_base
    assert region_of(k, a).usage == 2
    assert k.meminfo()["MmapCopy"] == 0


def test_case8_chardev_without_support_is_denied(k):
    """Case 8: a driver without any such support → the request is denied (tty: ENODEV)."""
    p = k.spawn()
    refused(k, p.mmap, 0, PS, RW, MAP_SHARED, p.open("/dev/ttyS0", O_RDWR), 0, errno=ENODEV)


def test_case8_mtd_shared_maps_flash(k):
    """Case 8: flash chardev (mtd0, ROM type) read-only shared map is the flash itself."""
    p = k.spawn()
    a = p.mmap(0, PS, PROT_READ, MAP_SHARED, p.open("/dev/mtd0"), 0)
    assert a == FLASH_BASE
    assert p.peek(a, 8) == b"-rom1fs-"


# --- further notes -------------------------------------------------------------
def test_note1_private_file_mapping_may_be_unaligned_but_copies_are_aligned(k):
    """Note 1 / docs/linux-vs-document.md row 9: only direct (XIP) mappings are unaligned; copies are page aligned."""
    p = k.spawn()
    fd = p.open("/rom/etc/motd")
    xip = p.mmap(0, 21, PROT_READ, MAP_PRIVATE, fd, 0)
    copy = p.mmap(0, 21, RW, MAP_PRIVATE, fd, 0)
    assert xip % PS and copy % PS == 0
    assert p.peek(xip, 21) == p.peek(copy, 21) == b"Welcome to nommu-lab\n"


@pytest.mark.parametrize("n,block", [(1, 1), (2, 2), (3, 4), (4, 4), (5, 8), (16, 16), (17, 32)])
def test_note2_anonymous_is_page_and_block_aligned(k, n, block):
    """Note 2 / do_mmap_private: page aligned, and aligned to the power-of-two block."""
    p = k.spawn()
    p.mmap(0, PS, RW, ANON)  # disturb the allocator a little
    a = p.mmap(0, n * PS - 7, RW, ANON)
    assert a % (block * PS) == 0


def test_note3_anonymous_memory_is_cleared(k):
    """Note 3: the whole anonymous map is cleared at allocation time."""
    p = k.spawn()
    a = p.mmap(0, 2 * PS, RW, ANON)
    p.poke(a, b"\xff" * (2 * PS))
    p.munmap(a, 2 * PS)
    b = p.mmap(0, 2 * PS, RW, ANON)
    assert b == a and p.peek(b, 2 * PS) == bytes(2 * PS)


def test_note4_proc_maps_lists_every_region_not_just_copies(k):
    """Note 4 (DOC≠CODE docs/linux-vs-document.md row 10): /proc/maps lists all regions, direct ones included."""
    p = k.spawn()
    a = p.mmap(0, PS, RW, ANON)
    b = p.mmap(0, PS, PROT_READ, MAP_PRIVATE, p.open("/rom/etc/motd"), 0)
    c = p.mmap(0, PS, RW, MAP_SHARED, p.open("/dev/fb0", O_RDWR), 0)
    starts = [int(line.split("-")[0], 16) for line in k.proc_maps().splitlines()]
    assert starts == sorted([a, b, c])


def test_note5_proc_pid_maps_lists_process_mappings(k):
    """Note 5: /proc/<pid>/maps lists the mappings of that process only."""
    p, q = k.spawn(), k.spawn()
    a = p.mmap(0, PS, RW, ANON)
    q.mmap(0, PS, RW, ANON)
    assert [int(x.split("-")[0], 16) for x in p.maps().splitlines()] == [a]


def test_note6_map_fixed_error_but_hint_ignored(k):
    """Note 6 (DOC≠CODE docs/linux-vs-document.md row 12): MAP_FIXED → EINVAL; a plain address hint is ignored."""
    p = k.spawn()
    refused(k, p.mmap, 0x8040_0000, PS, RW, ANON | MAP_FIXED, errno=EINVAL)
    assert p.mmap(0x8040_0000, PS, RW, ANON) % PS == 0


def test_note7_no_read_method_means_no_private_copy(k):
    """Note 7 / docs/linux-vs-document.md row 13: pipes/FIFOs/ttys ENODEV, sockets EINVAL, chardev without COPY ENODEV."""
    p = k.spawn()
    r, _w = p.pipe()
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_PRIVATE, r, 0, errno=ENODEV)
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_PRIVATE, p.socket(), 0, errno=EINVAL)
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_PRIVATE, p.open("/dev/fb0", O_RDWR), 0,
            errno=ENODEV)
    k.register_driver("/dev/unreadable", SimpleDriver(
        capabilities=NOMMU_MAP_COPY | NOMMU_MAP_READ, readable=False, unmapped_area=None))
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_PRIVATE, p.open("/dev/unreadable"), 0,
            errno=ENODEV, rule="validate_mmap_request.private_needs_copy")
