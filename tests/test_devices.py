"""Devices of the default board and their real mmap answers (each driver's
mmap_capabilities, get_unmapped_area and mmap; mm/nommu.c validate_mmap_request).

fb0 (fbdev: default chardev capabilities), mtd0 (mtdchar, ROM type), ram0
(brd: default COPY), ttyS0 and pipes (no mmap: ENODEV), sockets (EINVAL),
/dev/zero, romfs on the MTD (XIP, not page aligned), the ext2 disk (copies,
sharing violation), the NOR flash status hazard.
"""

from __future__ import annotations

import functools
from errno import *

import pytest
from _nommu import FLASH_BASE, PS, RW, RX, refused, region_of

import nommu_lab as nl
from nommu_lab.constants import *
from nommu_lab.kernel.devices import FlashMode, SimpleDriver


# --- fb0 -------------------------------------------------------------------------
def test_fb0_shared_maps_screen_memory(k, p):
    """the drivers' mmap_capabilities fbdev: default DIRECT|READ|WRITE; MAP_SHARED RW → screen_base."""
    fd = p.open("/dev/fb0", O_RDWR)
    a = p.mmap(0, 8 * PS, RW, MAP_SHARED, fd, 0)
    assert a == k.fb.screen_base and a % PS == 0
    p.poke(a, b"\x01\x02")
    assert p.pread(fd, 2, 0) == b"\x01\x02"
    assert region_of(k, a).perms == "rw-S" and k.meminfo()["MmapCopy"] == 0


def test_fb0_vma_marked_io_region_keeps_creator_flags(k, p):
    """device mmap: the driver's remap marks the VMA VM_IO|VM_PFNMAP; the region keeps its flags."""
    a = p.mmap(0, PS, RW, MAP_SHARED, p.open("/dev/fb0", O_RDWR), 0)
    assert p.vmas()[0].flags & (VM_IO | VM_PFNMAP) == VM_IO | VM_PFNMAP
    assert not region_of(k, a).flags & VM_IO


def test_fb0_private_exec_and_range(k, p):
    """the drivers' mmap_capabilities: private → ENODEV; PROT_EXEC shared → EINVAL; too long → EINVAL from the driver."""
    fd = p.open("/dev/fb0", O_RDWR)
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_PRIVATE, fd, 0, errno=ENODEV)
    refused(k, p.mmap, 0, PS, RW | PROT_EXEC, MAP_SHARED, fd, 0, errno=EINVAL)
    refused(k, p.mmap, 0, 9 * PS, RW, MAP_SHARED, fd, 0, errno=EINVAL,
            rule="do_mmap.get_unmapped_area_failed")


def test_fb0_nonzero_offset_is_refused(k, p):
    """the drivers' mmap_capabilities / device mmap: get_fb_unmapped_area adds the page number as bytes; the remap check fails."""
    fd = p.open("/dev/fb0", O_RDWR)
    refused(k, p.mmap, 0, PS, RW, MAP_SHARED, fd, PS, errno=EINVAL)


# --- mtd0 ------------------------------------------------------------------------
def test_mtd0_shared_readonly_maps_flash(k, p):
    """the drivers' mmap_capabilities mtdchar ROM: COPY|DIRECT|EXEC|READ; MAP_SHARED RO → flash + offset."""
    fd = p.open("/dev/mtd0")
    assert p.mmap(0, PS, PROT_READ, MAP_SHARED, fd, 0) == FLASH_BASE
    assert p.mmap(0, PS, RX, MAP_SHARED, fd, 2 * PS) == FLASH_BASE + 2 * PS
    assert k.meminfo()["MmapCopy"] == 0


def test_mtd0_private_readonly_is_eacces(k, p):
    """the drivers' mmap_capabilities (seen on Linux 6.12): mtdchar's mmap accepts only VM_SHARED VMAs: private RO → EACCES."""
    fd = p.open("/dev/mtd0")
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_PRIVATE, fd, 0, errno=EACCES)


def test_mtd0_private_writable_is_a_copy(k, p):
    """validate_mmap_request: PROT_WRITE private drops DIRECT: a copy of the flash bytes in RAM."""
    fd = p.open("/dev/mtd0")
    a = p.mmap(0, PS, RW, MAP_PRIVATE, fd, 0)
    assert k.mem.contains(a, PS) and p.peek(a, 8) == b"-rom1fs-"
    assert k.meminfo()["MmapCopy"] == 4


def test_mtd0_rom_cannot_be_opened_for_writing(k, p):
    """mtdchar_open: a read-only MTD refuses O_RDWR/O_WRONLY (EACCES)."""
    refused(k, p.open, "/dev/mtd0", O_RDWR, errno=EACCES)


def test_mtd0_range_checks(k, p):
    """the drivers' mmap_capabilities mtdchar get_unmapped_area: length > device or offset out of range → EINVAL."""
    fd = p.open("/dev/mtd0")
    refused(k, p.mmap, 0, (1 << 20) + PS, PROT_READ, MAP_SHARED, fd, 0, errno=EINVAL)
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_SHARED, fd, 1 << 20, errno=EINVAL)
    refused(k, p.mmap, 0, 2 * PS, PROT_READ, MAP_SHARED, fd, (1 << 20) - PS, errno=EINVAL)


# --- ram0, tty, pipes, sockets, /dev/zero ----------------------------------------
def test_ram0_private_copy_shared_enodev(k, p):
    """the drivers' mmap_capabilities (seen on Linux 6.12): a block device maps private as a copy and refuses MAP_SHARED."""
    fd = p.open("/dev/ram0", O_RDWR)
    p.pwrite(fd, b"blk", PS)
    a = p.mmap(0, PS, PROT_READ, MAP_PRIVATE, fd, PS)
    assert p.peek(a, 3) == b"blk" and region_of(k, a).copy
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_SHARED, fd, 0, errno=ENODEV)


@pytest.mark.parametrize("flags", [MAP_PRIVATE, MAP_SHARED])
def test_tty_and_pipes_enodev(k, p, flags):
    """Seen on Linux 6.12: pipes, FIFOs, ttys, /dev/null → ENODEV (no mmap method)."""
    for fd in (p.open("/dev/ttyS0", O_RDWR), *p.pipe(), p.open("/dev/null", O_RDWR)):
        refused(k, p.mmap, 0, PS, PROT_READ, flags, fd, 0, errno=ENODEV)


def test_sockets_einval(k, p):
    """validate_mmap_request / docs/linux-vs-document.md row 13: a socket → EINVAL (inode type has no default capabilities)."""
    s = p.socket()
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_PRIVATE, s, 0, errno=EINVAL)
    refused(k, p.mmap, 0, PS, RW, MAP_SHARED, s, 0, errno=EINVAL)


def test_dev_zero_private_is_zero_copy_shared_enodev(k, p):
    """the drivers' mmap_capabilities: /dev/zero COPY only: private = zero-filled copy; shared → ENODEV.
    (Linux 6.12 gives EINVAL, kernel bug 7; the model shows the intended behaviour
    and names the bug in the trace.)"""
    fd = p.open("/dev/zero", O_RDWR)
    a = p.mmap(0, 2 * PS, RW, MAP_PRIVATE, fd, 0)
    assert p.peek(a, 2 * PS) == bytes(2 * PS) and region_of(k, a).copy
    assert any(e.rule == "kernel_bug.7.kernel_read_unsupported" for e in k.trace)
    refused(k, p.mmap, 0, PS, RW, MAP_SHARED, fd, 0, errno=ENODEV)


def test_kernel_read_unsupported_only_when_a_copy_is_filled(k, p):
    """Kernel bug 7 is __kernel_read's: a user read() of /dev/zero or /dev/mtd0 works on
    Linux 6.12 and names no bug; a private copy of either is where Linux fails (EINVAL),
    as the fidelity suite recorded for /dev/mtd0."""
    seq = k.trace.last_seq
    assert p.read(p.open("/dev/zero", O_RDONLY), 8) == bytes(8)
    assert len(p.read(p.open("/dev/mtd0", O_RDONLY), 8)) == 8
    assert not [e for e in k.trace.since(seq) if e.rule.startswith("kernel_bug.7")]
    p.mmap(0, PS, RW, MAP_PRIVATE, p.open("/dev/mtd0", O_RDONLY), 0)
    (ev,) = [e for e in k.trace.since(seq) if e.rule.startswith("kernel_bug.7")]
    assert ev.rule == "kernel_bug.7.kernel_read_unsupported" and "/dev/mtd0" in ev.text


# --- romfs on the MTD --------------------------------------------------------------
def test_romfs_xip_not_page_aligned(k, p):
    """Seen on Linux 6.12: romfs-on-MTD RO maps are direct at an address 16-byte aligned, not page aligned."""
    for path in ("/rom/etc/motd", "/rom/data/pattern.bin", "/rom/data/page.bin"):
        fd = p.open(path)
        a = p.mmap(0, PS, PROT_READ, MAP_PRIVATE, fd, 0)
        ino = k.lookup(path)
        assert a == FLASH_BASE + ino.data_offset
        assert a % 16 == 0
        assert p.peek(a, 16) == p.pread(fd, 16, 0)
    assert k.meminfo()["MmapCopy"] == 0
    assert any(r.start % PS for r in k.regions())


def test_romfs_shared_readonly_shares_the_xip_region(k, p):
    """Seen on Linux 6.12: MAP_SHARED read-only also maps the flash directly (same region)."""
    a = p.mmap(0, PS, PROT_READ, MAP_PRIVATE, p.open("/rom/etc/motd"), 0)
    q = k.spawn()
    b = q.mmap(0, PS, PROT_READ, MAP_SHARED, q.open("/rom/etc/motd"), 0)
    assert b == a and region_of(k, a).usage == 2


def test_romfs_writable_private_is_page_aligned_copy(k, p):
    """Seen on Linux 6.12: PROT_WRITE private makes a page-aligned copy."""
    a = p.mmap(0, PS, RW, MAP_PRIVATE, p.open("/rom/etc/motd"), 0)
    assert a % PS == 0 and k.mem.contains(a, PS)
    assert p.peek(a, 21) == b"Welcome to nommu-lab\n" and p.peek(a + 21, 4) == bytes(4)


def test_romfs_open_for_writing_is_erofs(k, p):
    """Seen on Linux 6.12: opening a romfs file for writing gives EROFS."""
    refused(k, p.open, "/rom/etc/motd", O_RDWR, errno=EROFS)
    refused(k, p.open, "/rom/new", O_CREAT | O_WRONLY, errno=EROFS)


def test_romfs_past_eof_is_einval_no_copy_fallback(k, p):
    """the drivers' mmap_capabilities romfs: mapping past EOF (page granular) → EINVAL, returned as is (do_mmap's get_unmapped_area step)."""
    fd = p.open("/rom/data/pattern.bin")  # 10000 bytes: 3 pages
    refused(k, p.mmap, 0, 4 * PS, PROT_READ, MAP_PRIVATE, fd, 0, errno=EINVAL,
            rule="do_mmap.get_unmapped_area_failed")
    a = p.mmap(0, 4 * PS, RW, MAP_PRIVATE, fd, 0)  # writable: a copy, zero after EOF
    assert p.peek(a + 10000, 4 * PS - 10000) == bytes(4 * PS - 10000)


# --- ext2 on a block device ---------------------------------------------------------
def test_ext2_copies_are_shared(k, p):
    """Seen on Linux 6.12: ext2 MAP_PRIVATE makes a page-aligned copy that later requests share."""
    a = p.mmap(0, 3 * PS, PROT_READ, MAP_PRIVATE, p.open("/mnt/disk/pattern.bin"), 0)
    q = k.spawn()
    b = q.mmap(0, PS, RX, MAP_PRIVATE, q.open("/mnt/disk/pattern.bin"), 2 * PS)
    assert a % PS == 0 and b == a + 2 * PS and region_of(k, a).usage == 2


def test_ext2_sharing_violation(k, p):
    """do_mmap's shareable-region search (seen on Linux 6.12): an inexact overlap with a copy of a COPY-only file → EINVAL."""
    fd = p.open("/mnt/disk/pattern.bin")
    p.mmap(0, 2 * PS, PROT_READ, MAP_PRIVATE, fd, 0)
    refused(k, p.mmap, 0, 2 * PS, PROT_READ, MAP_PRIVATE, fd, PS, errno=EINVAL,
            rule="do_mmap.sharing_violation")
    # a superset also violates
    refused(k, p.mmap, 0, 3 * PS, PROT_READ, MAP_PRIVATE, fd, 0, errno=EINVAL,
            rule="do_mmap.sharing_violation")
    # a writable private request never searches, so it is fine
    assert p.mmap(0, 3 * PS, RW, MAP_PRIVATE, fd, 0) % PS == 0


def test_ext2_shared_enodev(k, p):
    """Seen on Linux 6.12: ext2 MAP_SHARED → ENODEV."""
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_SHARED, p.open("/mnt/disk/notes.txt"), 0,
            errno=ENODEV)


# --- a notebook's own driver ---------------------------------------------------------
def test_driver_get_unmapped_area_enosys_falls_back_to_copy(k, p):
    """do_mmap's get_unmapped_area step: get_unmapped_area ENOSYS → copy for MAP_PRIVATE (COPY present), ENODEV for shared."""
    drv = k.register_driver("/dev/d", SimpleDriver(
        capabilities=NOMMU_MAP_DIRECT | NOMMU_MAP_COPY | NOMMU_MAP_READ, unmapped_area="enosys"))
    fd = p.open("/dev/d")
    a = p.mmap(0, PS, PROT_READ, MAP_PRIVATE, fd, 0)
    assert region_of(k, a).copy
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_SHARED, fd, PS, errno=ENODEV,
            rule="do_mmap.get_unmapped_area_enosys")
    assert any(c.startswith("get_unmapped_area") for c in drv.calls)


def test_driver_get_unmapped_area_error_returned_unchanged(k, p):
    """do_mmap's get_unmapped_area step: any other error from get_unmapped_area is returned (no copy fallback)."""
    k.register_driver("/dev/e", SimpleDriver(
        capabilities=NOMMU_MAP_DIRECT | NOMMU_MAP_COPY | NOMMU_MAP_READ, unmapped_area=EBUSY))
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_PRIVATE, p.open("/dev/e"), 0, errno=EBUSY)


def test_driver_mmap_enosys_private_copy_shared_enodev(k, p):
    """do_mmap_shared_file/do_mmap_private: the driver's mmap ENOSYS → copy (private) / ENODEV (shared)."""
    k.register_driver("/dev/m", SimpleDriver(
        capabilities=NOMMU_MAP_DIRECT | NOMMU_MAP_COPY | NOMMU_MAP_READ | NOMMU_MAP_WRITE,
        mmap_result=-ENOSYS))
    fd = p.open("/dev/m", O_RDWR)
    a = p.mmap(0, PS, PROT_READ, MAP_PRIVATE, fd, 0)
    assert region_of(k, a).copy
    refused(k, p.mmap, 0, PS, RW, MAP_SHARED, fd, PS, errno=ENODEV,
            rule="do_mmap_shared_file.enosys")


def test_duplicate_direct_region_start_is_refused_as_kernel_bug(k, p):
    """device mmap: two MAP_SHARED maps at one offset with different lengths would BUG();
    the model refuses with KernelBug and changes nothing."""
    from nommu_lab import KernelBug

    fd = p.open("/dev/fb0", O_RDWR)
    p.mmap(0, PS, RW, MAP_SHARED, fd, 0)
    d = k.state_digest()
    with pytest.raises(KernelBug) as ei:
        p.mmap(0, 2 * PS, RW, MAP_SHARED, fd, 0)
    assert ei.value.errno is None and ei.value.rule == "add_nommu_region.duplicate_start"
    assert k.state_digest() == d


# --- NOR flash hazard ------------------------------------------------------------------
def test_flash_status_hazard_xip_reads_status_copies_unaffected(k, p):
    """Document 'flash-status hazard': direct (XIP) mappings read status bytes while the
    chip programs; copies are unaffected; read-array mode restores the data."""
    fd = p.open("/rom/etc/motd")
    xip = p.mmap(0, 21, PROT_READ, MAP_PRIVATE, fd, 0)
    copy = p.mmap(0, 21, RW, MAP_PRIVATE, fd, 0)
    k.mtd_program(0xF0000, b"\x00")
    assert k.flash.mode is FlashMode.PROGRAM
    assert p.peek(xip, 4) == bytes(4)  # status register, not data
    assert p.peek(copy, 4) == b"Welc"
    assert any(e.rule == "flash_status_hazard" for e in k.trace)
    k.mtd_complete()
    assert p.peek(xip, 4) == b"Welc"


def test_flash_guard_refuses_while_mapped(k, p):
    """A careful driver refuses to leave read-array mode while the chip is mapped (EBUSY)."""
    a = p.mmap(0, PS, PROT_READ, MAP_PRIVATE, p.open("/rom/etc/motd"), 0)
    e = refused(k, functools.partial(k.mtd_program, guard=True), 0xF0000, b"\x00", errno=EBUSY,
                rule="mtd.guard.direct_mappings")
    assert "/rom/etc/motd" in str(e)
    p.munmap(a, PS)
    k.mtd_program(0xF0000, b"\x00", guard=True)
    k.mtd_complete()


def test_xip_program_dies_with_sigill_while_flash_busy(k):
    """The flash hazard: a program executing in place fetches status bytes and dies."""
    p = k.spawn()
    p.execve("/rom/bin/hello")
    assert p.run(4) == 4
    k.mtd_erase(0xF0000)
    seq = k.trace.last_seq
    assert p.run(4) == 0 and not p.alive and p.killed_by == SIGILL
    (ev,) = [e for e in k.trace.since(seq) if e.rule == "cpu.illegal_instruction"]
    assert "executed in place from flash" in ev.text
    k.mtd_complete()
    k.check()


@pytest.mark.parametrize("program", ["/rom/bin/hello", "/rom/bin/hello-fdpic"])
def test_mtd_program_kills_a_program_executing_in_place(k, program):
    """The flash hazard holds for every XIP program, now that ELF-FDPIC programs start at
    their entry in the flash text too (bFLT ROM text, FDPIC read-only text segment);
    the RAM builds survive."""
    p, ram = k.spawn(), k.spawn()
    p.execve(program)
    ram.execve("/rom/bin/hello-ram")
    assert FLASH_BASE <= p.mm.entry < FLASH_BASE + 0x100000
    assert p.run(8) == 8
    k.mtd_program(0xF0000, b"config")
    assert p.run(8) == 0 and p.killed_by == SIGILL
    assert ram.run(8) == 8 and ram.alive
    k.mtd_complete()
    k.check()


def test_fb0_read_past_end_is_eof(k, p):
    """drivers/video/fbdev/core/fb_io_fops.c fb_io_read: p >= total_size → return 0."""
    fd = p.open("/dev/fb0", O_RDWR)
    assert p.pread(fd, 4, 8 * PS) == b""
    assert p.pread(fd, 4, 1 << 40) == b""


def test_fb0_write_past_end_is_efbig(k, p):
    """fb_io_write: p > total_size → -EFBIG."""
    fd = p.open("/dev/fb0", O_RDWR)
    refused(k, p.pwrite, fd, b"x", 1 << 40, errno=EFBIG)


def test_driver_mmap_error_is_returned_for_a_direct_private_map(k, p):
    """do_mmap_shared_file: a direct private map whose driver mmap fails with anything but ENOSYS → that error."""
    k.register_driver("/dev/eio", SimpleDriver(
        capabilities=NOMMU_MAP_DIRECT | NOMMU_MAP_COPY | NOMMU_MAP_READ, mmap_result=-EIO))
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_PRIVATE, p.open("/dev/eio"), 0, errno=EIO)


def test_nor_programming_clears_bits_erase_sets_them(k, p):
    """NOR flash: programming can only clear bits; an erase sets the block back to 0xFF.
    A direct (XIP) mapping shows the new contents once the chip is back in read-array mode."""
    a = p.mmap(0, PS, PROT_READ, MAP_SHARED, p.open("/dev/mtd0"), 0xF0000)
    assert p.peek(a, 2) == b"\xff\xff"
    k.mtd_program(0xF0000, b"\x0f\xf0")
    assert p.peek(a, 2) == b"\x00\x00"  # status while busy
    k.mtd_complete()
    assert p.peek(a, 2) == b"\x0f\xf0"
    k.mtd_program(0xF0000, b"\xf0\x0f")
    k.mtd_complete()
    assert p.peek(a, 2) == b"\x00\x00"  # 0x0f & 0xf0
    k.mtd_erase(0xF0001)
    k.mtd_complete()
    assert p.peek(a, 2) == b"\xff\xff"


def test_state_digest_sees_block_device_and_flash_writes(k, p):
    """state_digest hashes a block device's and the flash chip's bytes through a sub-digest
    cached by version: every write and every completed program still changes the digest,
    and a restored snapshot (which carries no cache) hashes to the same value."""
    d0 = k.state_digest()
    fd = p.open("/dev/ram0", O_RDWR)
    d1 = k.state_digest()
    assert d1 != d0  # the open file counts
    p.pwrite(fd, b"\x01", 5)
    d2 = k.state_digest()
    assert d2 != d1
    p.pwrite(fd, b"\x02", 5)
    assert k.state_digest() != d2
    k.mtd_program(0xF0000, b"\x00")
    d3 = k.state_digest()
    k.mtd_complete()
    assert k.state_digest() != d3
    k2 = nl.Kernel.restore(k.snapshot())
    assert k2.state_digest() == k.state_digest()


# --- the driver calls, named in the trace (polish item 1) --------------------------
def _driver_events(k, seq):
    return [e for e in k.trace.since(seq) if e.kind == nl.EventKind.DEVICE]


def test_do_mmap_driver_get_unmapped_area_and_call_mmap_are_traced(k, p):
    """A new direct shared mapping: do_mmap asks get_unmapped_area, do_mmap_shared_file
    calls f_op->mmap; each call is one DEVICE event naming the driver and its answer, one
    for each call the driver itself logged."""
    drv = k.register_driver("/dev/plain", SimpleDriver("plain", memory_pages=4))
    fd = p.open("/dev/plain", O_RDWR)
    seq = k.trace.last_seq
    a = p.mmap(0, 2 * PS, RW, MAP_SHARED, fd, 0)
    ev = _driver_events(k, seq)
    assert [e.rule for e in ev] == ["do_mmap.driver_get_unmapped_area", "do_mmap_shared_file.call_mmap"]
    assert f"get_unmapped_area(len=0x2000, pgoff=0): it answered {a:#x}" in ev[0].text
    assert "plain's mmap for the VMA" in ev[1].text and "answered 0 (accepted)" in ev[1].text
    assert len(ev) == len(drv.calls)
    seq = k.trace.last_seq
    refused(k, p.mmap, 0, 8 * PS, PROT_READ, MAP_SHARED, fd, 0, errno=EINVAL)
    (gua,) = _driver_events(k, seq)
    assert "answered -EINVAL (a refusal)" in gua.text


def test_do_mmap_shared_file_call_mmap_on_reuse(k, p):
    """The share path: no get_unmapped_area, but the driver's mmap is called again for
    the new VMA (Linux 6.12; the document says sharing does not notify the driver)."""
    drv = k.register_driver("/dev/plain", SimpleDriver("plain", memory_pages=4))
    a = p.mmap(0, 2 * PS, RW, MAP_SHARED, p.open("/dev/plain", O_RDWR), 0)
    q = k.spawn()
    calls = len(drv.calls)
    seq = k.trace.last_seq
    b = q.mmap(0, PS, RW, MAP_SHARED, q.open("/dev/plain", O_RDWR), PS)
    (ev,) = _driver_events(k, seq)
    assert b == a + PS and drv.calls[calls:] == [f"mmap(vma={b:#x}-{b + PS:#x})"]
    assert ev.rule == "do_mmap_shared_file.call_mmap"
    assert f"on the region it reuses ({a:#x}-{a + 2 * PS:#x}" in ev.text
    assert "without notifying" not in ev.text and "does not notify it" in ev.text
    assert ev.touched == {"region": region_of(k, a).id}


def test_do_mmap_private_call_mmap_named_for_a_direct_private_map(k, p):
    """A read-only private map of an XIP romfs file is direct: do_mmap_private calls the
    driver's mmap; a private map of /dev/mtd0 is refused by mtdchar's mmap (-EACCES)."""
    seq = k.trace.last_seq
    p.mmap(0, PS, PROT_READ, MAP_PRIVATE, p.open("/rom/bin/hello", O_RDONLY), 0)
    assert [e.rule for e in _driver_events(k, seq)] == ["do_mmap.driver_get_unmapped_area",
                                                         "do_mmap_private.call_mmap"]
    seq = k.trace.last_seq
    refused(k, p.mmap, 0, PS, PROT_READ, MAP_PRIVATE, p.open("/dev/mtd0", O_RDONLY), 0, errno=EACCES)
    ev = _driver_events(k, seq)
    assert ev[-1].rule == "do_mmap_private.call_mmap" and "mtdchar's mmap" in ev[-1].text
    assert "answered -EACCES (a refusal)" in ev[-1].text


def test_mmap_region_call_mmap_named_with_an_mmu():
    """The MMU kernel names the driver's mmap too (mmap_region → call_mmap)."""
    k = nl.boards.default(mmu=True)
    drv = k.register_driver("/dev/plain", SimpleDriver("plain", memory_pages=4))
    p = k.spawn()
    seq = k.trace.last_seq
    p.mmap(0, PS, RW, MAP_SHARED, p.open("/dev/plain", O_RDWR), 0)
    (ev,) = _driver_events(k, seq)
    assert ev.rule == "mmap_region.call_mmap" and "answered 0" in ev.text and len(drv.calls) == 1


# --- sentences that fit the case (polish item 2) -----------------------------------
def test_do_mmap_private_driver_refused_mtdchar_says_shared_only(k, p):
    """mtdchar_mmap accepts only VM_SHARED VMAs without an MMU: EACCES for a private
    read-only map, and the sentence says what does work."""
    e = refused(k, p.mmap, 0, PS, PROT_READ, MAP_PRIVATE, p.open("/dev/mtd0", O_RDONLY), 0,
                errno=EACCES, rule="do_mmap_private.driver_refused")
    assert "accepts only shared mappings" in e.sentence and "MAP_SHARED" in e.sentence


def test_do_mmap_get_unmapped_area_enosys_advice_fits_the_file(k, p):
    """ENOSYS from get_unmapped_area with no COPY: ramfs advice (ftruncate an empty file)
    only for a ramfs file; a character device is told that only its driver can help."""
    k.register_driver("/dev/gua", SimpleDriver("gua", unmapped_area="enosys"))
    e = refused(k, p.mmap, 0, PS, RW, MAP_SHARED, p.open("/dev/gua", O_RDWR), 0,
                errno=ENODEV, rule="do_mmap.get_unmapped_area_enosys")
    assert "ftruncate" not in e.sentence and "ramfs" not in e.sentence
    assert "only the driver can place it" in e.sentence
    e = refused(k, p.mmap, 0, PS, PROT_READ, MAP_PRIVATE, p.open("/dev/gua", O_RDWR), 0,
                errno=ENODEV)
    assert "ftruncate" not in e.sentence
    fd = p.open("/tmp/w", O_CREAT | O_RDWR)
    p.pwrite(fd, b"x", 2 * PS)  # pages 0 and 1 are a hole
    e = refused(k, p.mmap, 0, 3 * PS, RW, MAP_SHARED, fd, 0, errno=ENODEV,
                rule="do_mmap.get_unmapped_area_enosys")
    assert "ftruncate on an empty file" in e.sentence


def test_validate_mmap_request_no_mmap_method_of_a_directory(k, p):
    """A directory has no mmap method (ENODEV); reading it is EISDIR, so the advice is
    not 'read() it instead' (which stays for a tty)."""
    e = refused(k, p.mmap, 0, PS, PROT_READ, MAP_PRIVATE, p.open("/tmp", O_RDONLY), 0,
                errno=ENODEV, rule="validate_mmap_request.no_mmap_method")
    assert "read() it instead" not in e.sentence and "EISDIR" in e.sentence
    e = refused(k, p.mmap, 0, PS, PROT_READ, MAP_SHARED, p.open("/dev/ttyS0", O_RDWR), 0,
                errno=ENODEV, rule="validate_mmap_request.no_mmap_method")
    assert "read() it instead" in e.sentence
