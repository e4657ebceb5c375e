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
from .region import is_nommu_shared_mapping
from .trace import EventKind

if TYPE_CHECKING:
    from .kernel import Kernel
    from .mm import VmArea

FMODE_READ = 0x1
FMODE_WRITE = 0x2
FMODE_CAN_READ = 0x20000


def page_align(x: int, page_size: int) -> int:
    """``PAGE_ALIGN`` with the wrap-around of unsigned arithmetic."""
    return (x + page_size - 1) & ~(page_size - 1) & ((1 << 64) - 1)


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

    # absent unless a subclass provides them
    mmap_capabilities: Any = None
    get_unmapped_area: Any = None

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
    pages: list[int | None] = field(default_factory=list)  # ramfs page cache pfns
    blob: bytearray = field(default_factory=bytearray)  # disk-fs file data
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
    """

    name = "ramfs"

    def mmap_capabilities(self, file: File) -> int:
        """``ramfs_mmap_capabilities``."""
        return NOMMU_MAP_DIRECT | NOMMU_MAP_COPY | NOMMU_MAP_READ | NOMMU_MAP_WRITE | NOMMU_MAP_EXEC

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
                         "ramfs: pages {}..{} are not all inside the file ({} pages): ENOSYS",
                         pgoff, pgoff + lpages - 1, maxpages)
            return -E.ENOSYS
        pfns = inode.pages[pgoff:pgoff + lpages]
        if len(pfns) < lpages or any(p is None for p in pfns):
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
        return self.kernel.pagecache_write(file.inode, pos, data)

    def truncate(self, inode: Inode, size: int) -> int:
        """``ramfs_nommu_setattr`` → ``ramfs_nommu_resize``."""
        return self.kernel.ramfs_resize(inode, size)


# ---------------------------------------------------------------------------
# a disk filesystem (ext2-like) on a block device: copies only
# ---------------------------------------------------------------------------
class DiskFileOps(FileOperations):
    """A disk filesystem's regular files (ext2 on no-MMU).

    The ``mmap`` method is ``generic_file_mmap``, which on no-MMU returns
    ENOSYS; there is no ``get_unmapped_area`` and no ``mmap_capabilities``, so
    the regular-file default ``COPY`` applies: private mappings are copies,
    shared ones fail with ENODEV.
    """

    name = "ext2"

    def mmap(self, file: File, vma: VmArea) -> int:
        """``generic_file_mmap`` on no-MMU."""
        return -E.ENOSYS

    def read(self, file: File, n: int, pos: int) -> bytes:
        return bytes(file.inode.blob[pos:pos + n])

    def write(self, file: File, data: bytes, pos: int) -> int:
        blob = file.inode.blob
        if pos > len(blob):
            blob.extend(bytes(pos - len(blob)))
        blob[pos:pos + len(data)] = data
        file.inode.size = len(blob)
        return len(data)

    def truncate(self, inode: Inode, size: int) -> int:
        if size < len(inode.blob):
            del inode.blob[size:]
        else:
            inode.blob.extend(bytes(size - len(inode.blob)))
        inode.size = size
        return 0


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

