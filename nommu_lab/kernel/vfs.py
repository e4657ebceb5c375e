"""Inodes, open files, filesystems and the file operations mmap consults.

What a file *can* be mapped as is decided by which methods its
``file_operations`` provide (``validate_mmap_request``): no ``mmap`` method
means ENODEV, no ``get_unmapped_area`` means no direct mapping, no read method
means no copy, and ``mmap_capabilities`` (or the inode-type default) says the
rest. The classes here say exactly which methods each real filesystem or
driver has, so the decision procedure in :mod:`.mmap` never special-cases a
file type.

Driver hooks return what the kernel's return: an address or ``-errno``.
"""

from __future__ import annotations

import errno as E
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .constants import (
    NOMMU_MAP_COPY,
    NOMMU_MAP_DIRECT,
    NOMMU_MAP_EXEC,
    NOMMU_MAP_READ,
    NOMMU_MAP_WRITE,
    S_IFBLK,
    S_IFCHR,
    S_IFDIR,
    S_IFIFO,
    S_IFMT,
    S_IFREG,
    S_IFSOCK,
)
from .errors import KernelError
from .region import is_nommu_shared_mapping
from .trace import EventKind

if TYPE_CHECKING:
    from .kernel import Kernel
    from .mm import VmArea

FMODE_READ = 0x1
FMODE_WRITE = 0x2
FMODE_CAN_READ = 0x20000

MAX_LFS_FILESIZE = (1 << 63) - 1  # the largest file offset on a 64-bit kernel (LLONG_MAX)


def page_align(x: int, page_size: int) -> int:
    """``PAGE_ALIGN`` with the wrap-around of unsigned arithmetic."""
    return (x + page_size - 1) & ~(page_size - 1) & ((1 << 64) - 1)


# ---------------------------------------------------------------------------
# the VFS checks every read and write passes (fs/read_write.c, mm/filemap.c)
# ---------------------------------------------------------------------------
def rw_verify_area(pos: int, count: int, what: str) -> None:
    """``rw_verify_area``: the count must fit a signed size, and ``pos + count`` must not
    pass the largest file offset (2**63 - 1): EINVAL. (Only /dev/mem-like files, with
    FMODE_UNSIGNED_OFFSET, are exempt; the board has none.)"""
    if count > MAX_LFS_FILESIZE:
        raise KernelError(E.EINVAL, "rw_verify_area.count",
                          f"a {what} of {count:#x} bytes is more than a signed size can say; "
                          "ask for less")
    if pos < 0:
        raise KernelError(E.EINVAL, "rw_verify_area.negative_pos",
                          f"the file position {pos} is negative: the {what} is refused")
    if pos + count > MAX_LFS_FILESIZE:
        raise KernelError(E.EINVAL, "rw_verify_area.overflow",
                          f"position {pos:#x} plus {count:#x} bytes runs past the largest file "
                          f"offset (2**63 - 1): the {what} is refused; use a smaller offset")


def generic_write_check_limits(file: File, pos: int, count: int) -> int:
    """``generic_write_check_limits``: a regular file never grows past its filesystem's
    ``s_maxbytes``: a write starting there is EFBIG, one crossing it is cut short.
    Returns how many bytes may be written."""
    max_size = file.inode.sb.s_maxbytes
    if pos >= max_size:
        raise KernelError(E.EFBIG, "generic_write_check_limits.s_maxbytes",
                          f"offset {pos:#x} is at or past the largest file this filesystem "
                          f"({file.inode.sb.fstype}) can hold, {max_size:#x} bytes; write "
                          "lower in the file")
    return min(count, max_size - pos)


def inode_newsize_ok(inode: Inode, size: int) -> None:
    """``inode_newsize_ok`` (from ``setattr_prepare``): no size past ``s_maxbytes`` (EFBIG)."""
    if size > inode.sb.s_maxbytes:
        raise KernelError(E.EFBIG, "inode_newsize_ok.s_maxbytes",
                          f"{size:#x} bytes is more than the largest file this filesystem "
                          f"({inode.sb.fstype}) can hold, {inode.sb.s_maxbytes:#x} bytes")


# ---------------------------------------------------------------------------
# file operations: the methods a file has decide what mmap may do
# ---------------------------------------------------------------------------
class FileOperations:
    """``struct file_operations``, reduced to what mmap and the model need.

    A method set to ``None`` is *absent*, which is what the kernel tests.
    Subclasses override the hooks they really have. ``kernel`` is set when the
    driver is registered, so hooks can reach memory and the trace.
    """

    name = "generic"
    kernel: Kernel
    #: why the driver's ``-errno`` refused a read, write or truncate: errno -> (rule, sentence)
    refusals: dict[int, tuple[str, str]] = {}  # noqa: RUF012 (read-only per class)
    #: why its ``mmap`` answers ``-errno`` (what a student can do about it), by errno
    mmap_refusals: dict[int, str] = {}  # noqa: RUF012 (read-only per class)
    #: Linux 6.12's ``__kernel_read`` refuses the file (its driver has a plain ``read``
    #: method, with or without ``read_iter``): kernel bug 7 when a private copy is filled
    kernel_read_refused = False

    # absent unless a subclass provides them
    mmap_capabilities: Any = None
    get_unmapped_area: Any = None

    def peek_mmap_capabilities(self, file: File | None) -> int | None:
        """What ``mmap_capabilities`` would answer, for a view that must not call into
        the driver: None when only asking it could tell (a learner's driver may log or
        count its calls). The model's drivers answer from their state, without side effects.
        """
        return None

    def mmap(self, file: File, vma: VmArea) -> int:
        """``f_op->mmap``: 0 to accept the VMA, or ``-errno``."""
        return -E.ENOSYS

    def read(self, file: File, n: int, pos: int) -> bytes | int:
        """Read up to ``n`` bytes at ``pos`` (``-errno`` on failure)."""
        return b""

    def write(self, file: File, data: bytes, pos: int) -> int:
        """Write ``data`` at ``pos``; bytes written or ``-errno``."""
        return -E.EINVAL

    def truncate(self, inode: Inode, size: int) -> int:
        """Change a file's size (``setattr``); 0 or ``-errno``."""
        return -E.EINVAL

    can_read = True  # FMODE_CAN_READ: the file has a read method

    def open(self, inode: Inode, fmode: int) -> int:
        """Called on open; 0 or ``-errno``."""
        return 0

    def vm_close(self, vma: VmArea) -> None:
        """``vm_ops->close``: called once for every VMA removed."""

    def evict_inode(self, inode: Inode) -> None:
        """``evict_inode``: the last link and the last user are gone; free what it holds."""

    def describe(self) -> str:
        """One line for the devices view."""
        return self.name


class NoMmapOps(FileOperations):
    """A file whose operations have no ``mmap`` at all (pipes, ttys, /proc, dirs)."""

    name = "no-mmap"
    mmap = None  # type: ignore[assignment]


def capability_names(caps: int) -> list[str]:
    """The NOMMU_MAP_* names set in a capability word."""
    out = []
    for bit, name in (
        (NOMMU_MAP_COPY, "COPY"),
        (NOMMU_MAP_DIRECT, "DIRECT"),
        (NOMMU_MAP_READ, "READ"),
        (NOMMU_MAP_WRITE, "WRITE"),
        (NOMMU_MAP_EXEC, "EXEC"),
    ):
        if caps & bit:
            out.append(name)
    return out


# ---------------------------------------------------------------------------
# inodes, superblocks, open files
# ---------------------------------------------------------------------------
@dataclass(eq=False)
class SuperBlock:
    """A mounted filesystem: its type, device number and mount flags."""

    fstype: str
    dev: tuple[int, int]
    readonly: bool = False
    noexec: bool = False
    source: str = "none"
    next_ino: int = 1
    file_ops: Any = None  # file operations of regular files created here
    s_maxbytes: int = MAX_LFS_FILESIZE  # the largest file size (EFBIG past it)
    s_blocksize: int = 0  # a block filesystem's block size (0: not counted in blocks)
    blocks_count: int = 0  # blocks on the device
    free_blocks: int = 0  # s_free_blocks_count
    meta_blocks: int = 0  # blocks mkfs used for itself (boot block, tables, root, lost+found)

    def new_ino(self) -> int:
        ino = self.next_ino
        self.next_ino += 1
        return ino


@dataclass(eq=False)
class Inode:
    """``struct inode``: a file's type, size and where its data lives."""

    ino: int
    mode: int
    sb: SuperBlock
    fops: FileOperations
    size: int = 0
    nlink: int = 1
    append_only: bool = False
    children: dict[str, Inode] = field(default_factory=dict)  # directories
    pages: dict[int, int] = field(default_factory=dict)  # page cache: page index -> pfn
    blocks: dict[int, bytearray] = field(default_factory=dict)  # disk fs: block index -> data
    data_offset: int = 0  # romfs: byte offset of the data in the image
    rdev: tuple[int, int] = (0, 0)  # device nodes
    opened: int = 0  # open File objects still referring to this inode
    target: Any = None  # what the inode stands for (device, shm segment, ...)
    key: int = 0  # machine-wide id (frame owner of its page-cache pages)
    mounted: Any = None  # the Mount covering this directory, if any

    @property
    def kind(self) -> int:
        return self.mode & S_IFMT

    @property
    def is_dir(self) -> bool:
        return self.kind == S_IFDIR

    @property
    def is_reg(self) -> bool:
        return self.kind == S_IFREG


@dataclass(eq=False)
class File:
    """``struct file``: an open file description (shared by dup'd fds)."""

    inode: Inode
    path: str
    f_mode: int
    flags: int
    pos: int = 0
    refs: int = 1  # fds + VMAs + regions holding this open file

    @property
    def fops(self) -> FileOperations:
        return self.inode.fops

    @property
    def readable(self) -> bool:
        return bool(self.f_mode & FMODE_READ)

    @property
    def writable(self) -> bool:
        return bool(self.f_mode & FMODE_WRITE)


# ---------------------------------------------------------------------------
# ramfs (and no-MMU "tmpfs"): fs/ramfs/file-nommu.c
# ---------------------------------------------------------------------------
class RamfsFileOps(FileOperations):
    """ramfs's no-MMU file operations: data lives in page-cache frames.

    Capabilities are ``DIRECT|COPY|READ|WRITE|EXEC``. A mapping can be direct
    only where the file's pages are present and physically consecutive, which
    truncating an *empty* file to a size guarantees
    (``ramfs_nommu_expand_for_mapping``) and writing usually does not.
    A write is never refused for want of memory: its pages come one at a time,
    and when RAM has none the OOM killer makes room (see ``kernel/oom.py``).
    """

    name = "ramfs"

    def mmap_capabilities(self, file: File) -> int:
        """``ramfs_mmap_capabilities``."""
        return NOMMU_MAP_DIRECT | NOMMU_MAP_COPY | NOMMU_MAP_READ | NOMMU_MAP_WRITE | NOMMU_MAP_EXEC

    peek_mmap_capabilities = mmap_capabilities  # no side effects: a view may ask too

    def get_unmapped_area(self, file: File, addr: int, length: int, pgoff: int, flags: int) -> int:
        """``ramfs_nommu_get_unmapped_area``: the page-cache address, or -ENOSYS.

        Every failure (beyond EOF, a missing page, pages not consecutive) is
        ENOSYS in current kernels: a private mapping then falls back to a copy
        and a shared one fails with ENODEV.
        """
        k = self.kernel
        inode = file.inode
        ps = k.page_size
        lpages = (length + ps - 1) // ps
        maxpages = (inode.size + ps - 1) // ps
        if pgoff >= maxpages or maxpages - pgoff < lpages:
            k.trace.emit(EventKind.DECISION, "ramfs_nommu_get_unmapped_area.beyond_eof",
                         "ramfs: {} not all inside the file ({:n page}): ENOSYS",
                         f"page {pgoff} is" if lpages == 1 else f"pages {pgoff}..{pgoff + lpages - 1} are",
                         maxpages)
            return -E.ENOSYS
        pages = inode.pages
        # more pages wanted than the file has at all: a hole, without looking at each index
        pfns = [pages.get(i) for i in range(pgoff, pgoff + lpages)] if lpages <= len(pages) else [None]
        if None in pfns:
            k.trace.emit(EventKind.DECISION, "ramfs_nommu_get_unmapped_area.hole",
                         "ramfs: a page of the range has never been allocated: ENOSYS")
            return -E.ENOSYS
        first = pfns[0]
        assert first is not None
        for i, p in enumerate(pfns):
            if p != first + i:
                k.trace.emit(EventKind.DECISION, "ramfs_nommu_get_unmapped_area.not_contiguous",
                             "ramfs: file pages {} and {} are not physically consecutive "
                             "(filled by write(), one page at a time): ENOSYS",
                             pgoff + i - 1, pgoff + i)
                return -E.ENOSYS
        return k.mem.pfn_to_addr(first)

    def mmap(self, file: File, vma: VmArea) -> int:
        """``ramfs_nommu_mmap``: accept shareable VMAs, ENOSYS for the rest."""
        return 0 if is_nommu_shared_mapping(vma.vm_flags) else -E.ENOSYS

    def read(self, file: File, n: int, pos: int) -> bytes:
        return self.kernel.pagecache_read(file.inode, pos, n)

    def write(self, file: File, data: bytes, pos: int) -> int:
        return self.kernel.pagecache_write(file.inode, pos, data, file.path)

    def truncate(self, inode: Inode, size: int) -> int:
        """``ramfs_nommu_setattr`` → ``ramfs_nommu_resize``."""
        return self.kernel.ramfs_resize(inode, size)


# ---------------------------------------------------------------------------
# a disk filesystem (ext2) on a block device: copies only
# ---------------------------------------------------------------------------
EXT2_BLOCK_SIZE = 1024  # mke2fs -b 1024 (the default for disks this small)
EXT2_NDIR_BLOCKS = 12  # direct block pointers in an inode
EXT2_INODE_RATIO = 8192  # mke2fs.conf "floppy" (under 3 MiB): one inode per 8 KiB
EXT2_INODE_SIZE = 256


def ext2_max_size(bits: int) -> int:
    """``ext2_max_size``: the largest file the block tree addresses (``s_maxbytes``).

    12 direct blocks, then single, double and triple indirect blocks of
    ``2**(bits-2)`` pointers each, as long as data and indirect blocks together
    stay under 2**32 - 1 sectors (``i_blocks``); capped at MAX_LFS_FILESIZE.
    """
    ppb = 1 << (bits - 2)
    res = EXT2_NDIR_BLOCKS + ppb + ppb * ppb + ppb ** 3
    meta = 1 + (1 + ppb) + (1 + ppb + ppb * ppb)
    upper = ((1 << 32) - 1) >> (bits - 9)
    if res + meta > upper:
        res = upper
        upper -= EXT2_NDIR_BLOCKS + ppb
        meta = 1
        if upper < ppb * ppb:
            meta += 1 + -(-upper // ppb)
        else:
            meta += 1 + ppb
            upper -= ppb * ppb
            meta += 1 + -(-upper // ppb) + -(-upper // (ppb * ppb))
        res -= meta
    return min(res << bits, MAX_LFS_FILESIZE)


def ext2_fill_super(sb: SuperBlock, device_bytes: int) -> None:
    """``ext2_fill_super`` on a disk made by ``mke2fs -t ext2 -b 1024``: block size,
    ``s_maxbytes`` and the free blocks a fresh filesystem of one block group has.

    mke2fs spends, besides boot block 0: the superblock, the group descriptors, 3
    reserved descriptor blocks (resize_inode), two bitmaps, the inode table, the root
    directory, lost+found (12 blocks) and the resize inode's block. A 1 MiB disk: 1024
    blocks, 128 inodes, 970 free (checked with dumpe2fs). Root may use the 5 %
    reserved for it, and the model's processes are root.
    """
    bs = EXT2_BLOCK_SIZE
    nblocks = device_bytes // bs
    inode_table = (device_bytes // EXT2_INODE_RATIO) * EXT2_INODE_SIZE // bs
    overhead = 1 + 1 + 3 + 2 + inode_table + 1 + 12 + 1
    sb.s_blocksize = bs
    sb.s_maxbytes = ext2_max_size(bs.bit_length() - 1)
    sb.blocks_count = nblocks
    sb.meta_blocks = 1 + overhead
    sb.free_blocks = nblocks - sb.meta_blocks


def ext2_indirect_blocks(indexes: Any) -> set[tuple[int, ...]]:
    """The indirect blocks (``ext2_get_branch``) that data blocks ``indexes`` hang from."""
    ppb = EXT2_BLOCK_SIZE // 4
    out: set[tuple[int, ...]] = set()
    for b in indexes:
        b -= EXT2_NDIR_BLOCKS
        if b < 0:
            continue
        if b < ppb:
            out.add((1,))
            continue
        b -= ppb
        if b < ppb * ppb:
            out.update(((2,), (2, b // ppb)))
            continue
        b -= ppb * ppb
        out.update(((3,), (3, b // (ppb * ppb)), (3, b // ppb)))
    return out


def ext2_blocks_used(inode: Inode) -> int:
    """Blocks a file holds on its disk: data blocks and the indirect blocks above them."""
    return len(inode.blocks) + len(ext2_indirect_blocks(inode.blocks))


class DiskFileOps(FileOperations):
    """A disk filesystem's regular files (ext2 on no-MMU).

    The ``mmap`` method is ``generic_file_mmap``, which on no-MMU returns
    ENOSYS; there is no ``get_unmapped_area`` and no ``mmap_capabilities``, so
    the regular-file default ``COPY`` applies: private mappings are copies,
    shared ones fail with ENODEV.

    Data lives in 1 KiB blocks, kept only where written (a hole reads as
    zeros and takes no block). Every data block and every indirect block a
    file needs is counted against the superblock's free blocks: a write takes
    whole pages while they fit (``generic_perform_write``), then stops short;
    if not even its first page fits it is ENOSPC. Directories and inodes are
    not counted beyond one block per directory.
    """

    name = "ext2"
    refusals = {  # noqa: RUF012
        E.ENOSPC: ("ext2_new_blocks.enospc",
                   "the disk has no free blocks left for this write; truncate or unlink a "
                   "file on it first, or write less"),
    }

    def mmap(self, file: File, vma: VmArea) -> int:
        """``generic_file_mmap`` on no-MMU."""
        return -E.ENOSYS

    def read(self, file: File, n: int, pos: int) -> bytes:
        inode = file.inode
        n = max(0, min(n, inode.size - pos))
        if not n:
            return b""
        bs = EXT2_BLOCK_SIZE
        out = bytearray(n)
        for idx in range(pos // bs, (pos + n - 1) // bs + 1):
            blk = inode.blocks.get(idx)
            if blk is not None:
                lo, hi = max(pos, idx * bs), min(pos + n, (idx + 1) * bs)
                out[lo - pos:hi - pos] = blk[lo - idx * bs:hi - idx * bs]
        return bytes(out)

    def write(self, file: File, data: bytes, pos: int) -> int:
        """``generic_perform_write`` through ``ext2_write_begin``: page by page, blocks
        allocated as they are touched; a page whose blocks do not fit ends the write."""
        if not data:
            return 0
        inode = file.inode
        sb = inode.sb
        ps, bs = self.kernel.page_size, EXT2_BLOCK_SIZE
        blocks = inode.blocks
        indirect = ext2_indirect_blocks(blocks)
        done = 0
        view = memoryview(data)
        while done < len(data):
            at = pos + done
            chunk = min(ps - at % ps, len(data) - done)
            new = [i for i in range(at // bs, (at + chunk - 1) // bs + 1) if i not in blocks]
            new_indirect = ext2_indirect_blocks(new) - indirect
            if len(new) + len(new_indirect) > sb.free_blocks:
                break
            sb.free_blocks -= len(new) + len(new_indirect)
            indirect |= new_indirect
            for i in new:
                blocks[i] = bytearray(bs)
            for idx in range(at // bs, (at + chunk - 1) // bs + 1):
                lo, hi = max(at, idx * bs), min(at + chunk, (idx + 1) * bs)
                blocks[idx][lo - idx * bs:hi - idx * bs] = view[done + lo - at:done + hi - at]
            done += chunk
        if not done:
            return -E.ENOSPC
        if done < len(data):
            self.kernel.trace.emit(EventKind.DECISION, "generic_perform_write.short",
                                   "the disk filled up: {} of {} bytes written (a short write)",
                                   done, len(data))
        inode.size = max(inode.size, pos + done)
        return done

    def truncate(self, inode: Inode, size: int) -> int:
        """``ext2_setsize``: cutting frees the blocks past the end (and indirect blocks that
        point at nothing any more) and clears the rest of the last block; growing takes none."""
        bs = EXT2_BLOCK_SIZE
        if size < inode.size:
            blocks = inode.blocks
            keep = -(-size // bs)
            before = ext2_blocks_used(inode)
            for i in [i for i in blocks if i >= keep]:
                del blocks[i]
            last = blocks.get(keep - 1)
            if size % bs and last is not None:
                last[size % bs:] = bytes(bs - size % bs)
            inode.sb.free_blocks += before - ext2_blocks_used(inode)
        inode.size = size
        return 0

    def evict_inode(self, inode: Inode) -> None:
        """``ext2_evict_inode``: every block of a deleted file goes back to the disk."""
        self.truncate(inode, 0)


# ---------------------------------------------------------------------------
# romfs: fs/romfs/mmap-nommu.c
# ---------------------------------------------------------------------------
class RomfsFileOps(FileOperations):
    """romfs regular files on an MTD: data read straight from flash.

    Capabilities come from the MTD (``romfs_mmap_capabilities`` →
    ``mtd_mmap_capabilities``). ``get_unmapped_area`` asks the MTD to point at
    ``data offset + pgoff*PAGE``; file data starts 16-byte aligned after its
    header, so a direct (XIP) mapping is usually not page aligned.
    """

    name = "romfs"

    def __init__(self, mtd: Any | None) -> None:
        self.mtd = mtd

    def mmap_capabilities(self, file: File) -> int:  # type: ignore[override]
        """``romfs_mmap_capabilities``: whatever the MTD allows (COPY on a block device)."""
        return self.mtd.mmap_capabilities() if self.mtd is not None else NOMMU_MAP_COPY

    peek_mmap_capabilities = mmap_capabilities  # no side effects: a view may ask too

    def get_unmapped_area(self, file: File, addr: int, length: int, pgoff: int, flags: int) -> int:  # type: ignore[override]
        """``romfs_get_unmapped_area``: no MTD (a block device) means ENOSYS: copy."""
        if self.mtd is None:
            return -E.ENOSYS
        ps = self.kernel.page_size
        inode = file.inode
        lpages = (length + ps - 1) // ps
        maxpages = (inode.size + ps - 1) // ps
        if pgoff >= maxpages or maxpages - pgoff < lpages:
            return -E.EINVAL
        if addr != 0:
            return -E.EINVAL
        if length > self.mtd.size or pgoff >= self.mtd.size // ps:
            return -E.EINVAL
        offset = pgoff * ps + inode.data_offset
        if offset >= self.mtd.size:
            return -E.EINVAL
        if offset + length > self.mtd.size:
            length = self.mtd.size - offset
        ret = self.mtd.get_unmapped_area(length, offset, flags)
        return -E.ENOSYS if ret == -E.EOPNOTSUPP else ret

    def mmap(self, file: File, vma: VmArea) -> int:
        """``romfs_mmap``: shareable VMAs map the flash, others get ENOSYS (copy)."""
        return 0 if is_nommu_shared_mapping(vma.vm_flags) else -E.ENOSYS

    def read(self, file: File, n: int, pos: int) -> bytes:
        inode = file.inode
        n = max(0, min(n, inode.size - pos))
        return self.mtd.read(inode.data_offset + pos, n) if n else b""

    def write(self, file: File, data: bytes, pos: int) -> int:
        return -E.EROFS


# ---------------------------------------------------------------------------
# everything else that is not a regular file
# ---------------------------------------------------------------------------
class DirOps(NoMmapOps):
    """Directories: no mmap method (ENODEV), read gives EISDIR."""

    name = "dir"

    def read(self, file: File, n: int, pos: int) -> bytes | int:
        return -E.EISDIR


class PipeOps(NoMmapOps):
    """``pipefifo_fops``: no mmap method, so any mapping is ENODEV."""

    name = "pipe"

    def read(self, file: File, n: int, pos: int) -> bytes:
        buf: bytearray = file.inode.target
        out = bytes(buf[:n])
        del buf[:n]
        return out

    def write(self, file: File, data: bytes, pos: int) -> int:
        buf: bytearray = file.inode.target
        buf.extend(data)
        return len(data)


class SocketOps(FileOperations):
    """``socket_file_ops``: it *has* an mmap method (``sock_mmap``), no capabilities.

    The inode is neither a regular file, a block nor a character device, so
    ``validate_mmap_request`` has no default capability for it: EINVAL.
    """

    name = "socket"

    def mmap(self, file: File, vma: VmArea) -> int:
        return -E.ENODEV  # sock_no_mmap, never reached on no-MMU


class ProcFileOps(NoMmapOps):
    """A /proc text file: readable, no mmap method (ENODEV)."""

    name = "procfs"

    def read(self, file: File, n: int, pos: int) -> bytes:
        text = file.inode.target(self.kernel).encode()
        return text[pos:pos + n]


def file_type_name(mode: int) -> str:
    """A word for an inode type (for messages)."""
    return {
        S_IFREG: "regular file",
        S_IFDIR: "directory",
        S_IFCHR: "character device",
        S_IFBLK: "block device",
        S_IFIFO: "pipe",
        S_IFSOCK: "socket",
    }.get(mode & S_IFMT, "file")

