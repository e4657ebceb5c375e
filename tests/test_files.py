"""File sizes, offsets and space: numbers a caller passes never become host memory.

Issue 10 A2/A9/B3. Page-cache indexes (ramfs) and disk blocks (ext2) are
sparse, so a write far into a file takes one page or one block, as on Linux;
a file cannot grow past its filesystem's ``s_maxbytes`` (EFBIG,
``generic_write_check_limits`` and ``inode_newsize_ok``); ext2 is bounded by
its disk (ENOSPC, counting data and indirect blocks); ``rw_verify_area``
refuses a position plus length past 2**63 - 1 (EINVAL); ``state_digest``
hashes file contents without copying them. Each test measures the host
memory the call took (tracemalloc) against a bound far below the numbers
passed.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from errno import *
from typing import Any

import pytest
from _nommu import PS, board, refused

import nommu_lab as nl
from nommu_lab.constants import *
from nommu_lab.kernel.vfs import EXT2_BLOCK_SIZE, MAX_LFS_FILESIZE, SuperBlock, ext2_fill_super

LLONG_MAX = (1 << 63) - 1
EXT2_MAXBYTES = 17247252480  # ext2_max_size(10): 1 KiB blocks, triple indirect, in bytes
HOST_BOUND = 2 << 20  # bytes of host memory a call with a huge number may take at most


def peak_of(fn: Callable[..., Any], *args: Any) -> tuple[Any, int]:
    """Run ``fn(*args)`` under tracemalloc: (result or KernelError, peak bytes)."""
    tracemalloc.start()
    try:
        try:
            out = fn(*args)
        except nl.KernelError as e:
            out = e
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def disk_free(k: nl.Kernel) -> int:
    return k.mounts["/mnt/disk"].sb.free_blocks


# --- ramfs: a sparse page index ------------------------------------------------------
@pytest.mark.parametrize("mmu", [False, True])
def test_simple_write_begin_sparse_page_index_far_into_a_ramfs_file(mmu):
    """ramfs keeps pages in the page cache by index (an xarray): a write at 1 TiB takes one
    page and no host memory in proportion to the offset; the hole before reads as zeros."""
    k = board(mmu=mmu)
    p = k.spawn()
    fd = p.open("/tmp/far", O_CREAT | O_RDWR)
    cached = k.meminfo()["Cached"]
    n, peak = peak_of(p.pwrite, fd, b"x", 1 << 40)
    assert n == 1 and peak < HOST_BOUND
    assert p.fstat(fd).st_size == (1 << 40) + 1
    assert k.meminfo()["Cached"] - cached == PS // 1024
    assert p.pread(fd, 2, 1 << 40) == b"x"
    assert p.pread(fd, 3, (1 << 40) - 2) == b"\0\0x"
    data, peak = peak_of(p.pread, fd, 64, 1 << 39)
    assert data == bytes(64) and peak < HOST_BOUND
    p.ftruncate(fd, PS)  # cut back: the far page goes
    assert k.meminfo()["Cached"] == cached
    k.check()


def test_ramfs_mmap_of_a_huge_sparse_file_is_a_bounded_copy(k, p):
    """ramfs_nommu_get_unmapped_area on a sparse file: holes are ENOSYS, so a private map
    is a copy of the pages asked for, whatever the file's size."""
    fd = p.open("/tmp/far", O_CREAT | O_RDWR)
    p.pwrite(fd, b"y", (1 << 40) + 5)
    a, peak = peak_of(p.mmap, 0, 2 * PS, PROT_READ, MAP_PRIVATE, fd, (1 << 40) - PS)
    assert p.peek(a + PS, 6) == b"\0" * 5 + b"y" and peak < HOST_BOUND
    assert k.regions()[0].copy and "ramfs_nommu_get_unmapped_area.hole" in k.trace.rules()


# --- s_maxbytes: generic_write_check_limits and inode_newsize_ok ----------------------
def test_ext2_fill_super_geometry_matches_mke2fs():
    """ext2_fill_super: 1 KiB blocks; s_maxbytes = ext2_max_size(10); a fresh 1 MiB
    `mke2fs -t ext2 -b 1024` disk has 970 free blocks (dumpe2fs, e2fsprogs 1.47)."""
    sb = SuperBlock("ext2", (254, 0))
    ext2_fill_super(sb, 1 << 20)
    assert (sb.s_blocksize, sb.s_maxbytes, sb.blocks_count, sb.free_blocks) == (
        EXT2_BLOCK_SIZE, EXT2_MAXBYTES, 1024, 970)
    assert SuperBlock("ramfs", (0, 1)).s_maxbytes == MAX_LFS_FILESIZE == LLONG_MAX


@pytest.mark.parametrize("mmu", [False, True])
def test_generic_write_check_limits_efbig(mmu):
    """mm/filemap.c generic_write_check_limits: a write at or past s_maxbytes is EFBIG and
    changes nothing; one that crosses it is cut short at s_maxbytes."""
    k = board(mmu=mmu)
    p = k.spawn()
    fd = p.open("/mnt/disk/big", O_CREAT | O_RDWR)
    refused(k, p.pwrite, fd, b"x", EXT2_MAXBYTES, errno=EFBIG,
            rule="generic_write_check_limits.s_maxbytes")
    refused(k, p.pwrite, fd, b"x", 1 << 40, errno=EFBIG)
    free = disk_free(k)
    n, peak = peak_of(p.pwrite, fd, b"ab", EXT2_MAXBYTES - 1)
    assert n == 1 and peak < HOST_BOUND
    assert p.fstat(fd).st_size == EXT2_MAXBYTES
    assert free - disk_free(k) == 4  # one data block + triple, double, single indirect
    assert p.pwrite(fd, b"", EXT2_MAXBYTES) == 0  # nothing to write: no check at all
    k.check()


@pytest.mark.parametrize("mmu", [False, True])
def test_inode_newsize_ok_efbig(mmu):
    """fs/attr.c inode_newsize_ok (from setattr_prepare): ftruncate past s_maxbytes is EFBIG;
    below it an ext2 file grows sparse: no block and no host memory is taken."""
    k = board(mmu=mmu)
    p = k.spawn()
    fd = p.open("/mnt/disk/big", O_CREAT | O_RDWR)
    refused(k, p.ftruncate, fd, EXT2_MAXBYTES + 1, errno=EFBIG, rule="inode_newsize_ok.s_maxbytes")
    free = disk_free(k)
    r, peak = peak_of(p.ftruncate, fd, 1 << 32)
    assert r == 0 and peak < HOST_BOUND and disk_free(k) == free
    assert p.fstat(fd).st_size == 1 << 32
    assert p.pread(fd, 4, (1 << 32) - 2) == b"\0\0"
    n, peak = peak_of(p.pwrite, fd, b"z", 1 << 32)
    assert n == 1 and peak < HOST_BOUND
    k.check()


def test_ramfs_nommu_resize_from_zero_past_4gib_is_efbig_but_growing_is_not(k, p):
    """fs/ramfs/file-nommu.c: from size 0 a new size of 4 GiB or more is EFBIG (the pages
    would be gathered); a non-empty file only changes its size (s_maxbytes is 2**63-1)."""
    fd = p.open("/tmp/g", O_CREAT | O_RDWR)
    refused(k, p.ftruncate, fd, 1 << 32, errno=EFBIG)
    p.write(fd, b"a")
    r, peak = peak_of(p.ftruncate, fd, 1 << 62)
    assert r == 0 and peak < HOST_BOUND and p.fstat(fd).st_size == 1 << 62
    k.check()


# --- ext2 is bounded by its disk ---------------------------------------------------------
def test_ext2_new_blocks_enospc_short_write_then_enospc(k, p):
    """fs/ext2/balloc.c ext2_new_blocks: the disk holds 954 free blocks after the board's files
    (970 - 15 data blocks - 1 for /mnt/disk/bin). A 3 MiB write stops at the last page whose
    blocks (data + indirect) fit: 948 KiB, a short write as generic_perform_write returns it;
    the next page-sized write finds no room (ENOSPC) and changes nothing; unlink gives the
    blocks back."""
    assert disk_free(k) == 954
    fd = p.open("/mnt/disk/new", O_CREAT | O_RDWR)
    n, peak = peak_of(p.write, fd, b"d" * (3 << 20))
    assert n == 948 * 1024 and peak < HOST_BOUND  # the blocks the disk holds, no more
    assert disk_free(k) == 1  # 948 data + 1 indirect + 1 double indirect + 3 indirect
    assert p.fstat(fd).st_size == n
    refused(k, p.write, fd, b"e" * PS, errno=ENOSPC, rule="ext2_new_blocks.enospc")
    assert p.write(fd, b"f") == 1  # one more block fits
    assert disk_free(k) == 0
    assert p.write(fd, b"g") == 1  # inside that block: no new block needed
    refused(k, p.pwrite, fd, b"h", 949 * 1024, errno=ENOSPC)
    p.close(fd)
    p.unlink("/mnt/disk/new")
    assert disk_free(k) == 954
    k.check()


def test_ext2_truncate_gives_blocks_back(k, p):
    """ext2_truncate_blocks: cutting a file frees its data blocks past the new end, and the
    indirect blocks that no longer point at anything."""
    free = disk_free(k)
    fd = p.open("/mnt/disk/t", O_CREAT | O_RDWR)
    p.write(fd, b"t" * (20 * 1024))
    assert free - disk_free(k) == 21  # 20 data + 1 indirect (blocks 12..19)
    p.ftruncate(fd, 12 * 1024 - 1)
    assert free - disk_free(k) == 12
    assert p.pread(fd, 2, 12 * 1024 - 3) == b"tt"
    p.ftruncate(fd, 30 * 1024)  # growing takes no block
    assert free - disk_free(k) == 12
    assert p.pread(fd, 4, 12 * 1024 - 2) == b"t\0\0\0"
    k.check()


# --- state_digest ------------------------------------------------------------------------
def test_state_digest_hashes_huge_sparse_files_without_copying(k, p):
    """state_digest: file contents are hashed page by page and block by block, never copied
    or repr'd whole, so a 1 TiB sparse file costs what its pages cost."""
    for path in ("/tmp/far", "/mnt/disk/far"):
        fd = p.open(path, O_CREAT | O_RDWR)
        p.pwrite(fd, b"q", 1 << 33)
    d, peak = peak_of(k.state_digest)
    assert isinstance(d, str) and len(d) == 64 and peak < HOST_BOUND
    fd = p.open("/mnt/disk/far", O_RDWR)
    p.pwrite(fd, b"r", 1 << 33)
    assert k.state_digest() != d


# --- issue 10 B3: rw_verify_area -----------------------------------------------------------
@pytest.mark.parametrize("mmu", [False, True])
def test_rw_verify_area_pos_plus_count_past_llong_max_is_einval(mmu):
    """fs/read_write.c rw_verify_area: pos + count must stay within loff_t; past 2**63 - 1 a
    pread or pwrite is EINVAL (not EFBIG), before any filesystem is asked."""
    k = board(mmu=mmu)
    p = k.spawn()
    fd = p.open("/tmp/f", O_CREAT | O_RDWR)
    refused(k, p.pwrite, fd, b"x", LLONG_MAX, errno=EINVAL, rule="rw_verify_area.overflow")
    refused(k, p.pwrite, fd, b"xy", LLONG_MAX - 1, errno=EINVAL, rule="rw_verify_area.overflow")
    refused(k, p.pread, fd, 1, LLONG_MAX, errno=EINVAL, rule="rw_verify_area.overflow")
    assert p.pread(fd, 0, LLONG_MAX) == b""  # nothing to read: pos + 0 is fine
    assert p.pwrite(fd, b"", LLONG_MAX) == 0
    refused(k, p.pwrite, fd, b"x", (1 << 64) - 1, errno=EINVAL, rule="vfs.negative_offset")
    # a count no ssize_t holds: EINVAL without an MMU, EFAULT (access_ok) with one
    e = refused(k, p.pread, fd, -1, 0, errno=EFAULT if mmu else EINVAL)
    assert e.rule == ("access_ok.range" if mmu else "rw_verify_area.count")
    k.check()


@pytest.mark.parametrize("offset", [0x7FFF_FFFF_FFFF_F000, 1 << 63])
def test_rw_verify_area_private_copy_kernel_read_is_einval(k, p, offset):
    """do_mmap_private fills a private copy with kernel_read(file, base, len, &fpos), and
    kernel_read starts with rw_verify_area: at offset 0x7ffffffffffff000 fpos + one page
    passes 2**63 - 1, at 1 << 63 fpos is negative: EINVAL (Linux 6.12), no copy made."""
    for path in ("/mnt/disk/pattern.bin", "/tmp/r"):
        fd = p.open(path, O_CREAT | O_RDWR)
        e = refused(k, p.mmap, 0, PS, PROT_READ, MAP_PRIVATE, fd, offset, errno=EINVAL)
        assert e.rule.startswith("rw_verify_area.") and "private copy" in e.sentence
    assert k.regions() == []


def test_vfs_read_returns_at_most_ram_size_bytes(k, p):
    """The model's MAX_RW_COUNT is the machine's RAM: no process could hold a larger buffer,
    so a read of 1 TiB from a huge sparse file returns RAM-size bytes (a short read)."""
    fd = p.open("/tmp/far", O_CREAT | O_RDWR)
    p.ftruncate(fd, 1)
    p.ftruncate(fd, 1 << 40)
    data, peak = peak_of(p.pread, fd, 1 << 40, 0)
    assert len(data) == k.mem.ram_size and not any(data[:4096])
    assert peak < 2 * k.mem.ram_size + (1 << 20)


def test_check_disk_blocks_counts_every_block(k, p):
    """Kernel.check_disk_blocks: free + mkfs's + directories' + files' blocks = the disk; a
    board file truncated with O_TRUNC gives its blocks back and the sum still holds."""
    sb = k.mounts["/mnt/disk"].sb
    free = sb.free_blocks
    fd = p.open("/mnt/disk/pattern.bin", O_RDWR | O_TRUNC)
    assert sb.free_blocks == free + 10
    k.check()
    sb.free_blocks -= 1  # a leak the check must see
    with pytest.raises(AssertionError):
        k.check()
    sb.free_blocks += 1
    p.close(fd)
    k.check()
