"""Character and block devices of the board, with their real mmap answers.

* :class:`NorFlash` is a NOR chip with a mode: in read-array mode reads return
  data; while a program or erase runs they return the status register, for
  *every* reader, including a process executing in place from it.
* :class:`Mtd` is the MTD device over the chip (``mtd_mmap_capabilities``,
  ``mtd_get_unmapped_area`` via ``mtd_point``); :class:`MtdCharOps` is
  ``/dev/mtdN`` (``mtdchar``).
* :class:`FramebufferOps` is fbdev on no-MMU (``get_fb_unmapped_area``).
* :class:`BlockDevOps` is a block device with the default capability (COPY):
  the brd ramdisk and the disk.
* :class:`ContiguousRamdiskOps` is the driver the document *suggests* for a
  memory-backed block device (case 7): its memory is one contiguous array
  taken at boot, so it can offer direct shared mappings. Stock brd cannot.
"""

from __future__ import annotations

import errno as E
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np

from .constants import (
    NOMMU_MAP_COPY,
    NOMMU_MAP_DIRECT,
    NOMMU_MAP_EXEC,
    NOMMU_MAP_READ,
    NOMMU_MAP_WRITE,
    VM_DONTDUMP,
    VM_DONTEXPAND,
    VM_IO,
    VM_PFNMAP,
    VM_SHARED,
)
from .trace import plural
from .vfs import FMODE_WRITE, File, FileOperations, Inode, NoMmapOps

if TYPE_CHECKING:
    from .mm import VmArea


class FlashMode(StrEnum):
    """What a NOR flash chip answers to a read."""

    READ_ARRAY = "read-array"
    PROGRAM = "program"
    ERASE = "erase"


STATUS_BUSY = 0x00  # status register while the write state machine runs (bit 7 clear)
STATUS_READY = 0x80


@dataclass(eq=False)
class NorFlash:
    """A memory-mapped NOR flash chip at ``base`` (reads go straight to the bus)."""

    name: str
    base: int
    size: int
    erase_size: int = 64 * 1024
    mode: FlashMode = FlashMode.READ_ARRAY
    array: np.ndarray = field(init=False, repr=False)
    pending: tuple[int, bytes] | None = None
    version: int = 0  # bumped whenever the array's bytes change (state_digest caches by it)

    def __post_init__(self) -> None:
        self.array = np.full(self.size, 0xFF, dtype=np.uint8)  # erased NOR reads 0xFF

    def contains(self, addr: int, n: int = 1) -> bool:
        return self.base <= addr and addr + n <= self.base + self.size

    def bus_read(self, offset: int, n: int) -> bytes:
        """What a CPU load sees: data in read-array mode, status bytes otherwise."""
        if self.mode is FlashMode.READ_ARRAY:
            return self.array[offset:offset + n].tobytes()
        return bytes([STATUS_BUSY]) * n

    def load_image(self, image: bytes, offset: int = 0) -> None:
        """Factory programming (before boot)."""
        self.array[offset:offset + len(image)] = np.frombuffer(image, dtype=np.uint8)
        self.version += 1


class MtdType(StrEnum):
    """``mtd->type`` values that decide mmap capabilities."""

    RAM = "ram"
    ROM = "rom"
    NORFLASH = "nor"


@dataclass(eq=False)
class Mtd:
    """An MTD device over a chip (``struct mtd_info``)."""

    index: int
    flash: NorFlash
    type: MtdType = MtdType.ROM
    point_supported: bool = True

    @property
    def size(self) -> int:
        return self.flash.size

    def mmap_capabilities(self) -> int:
        """``mtd_mmap_capabilities``: RAM and ROM types may be mapped directly."""
        if self.type is MtdType.RAM:
            return NOMMU_MAP_COPY | NOMMU_MAP_DIRECT | NOMMU_MAP_EXEC | NOMMU_MAP_READ | NOMMU_MAP_WRITE
        if self.type is MtdType.ROM:
            return NOMMU_MAP_COPY | NOMMU_MAP_DIRECT | NOMMU_MAP_EXEC | NOMMU_MAP_READ
        return NOMMU_MAP_COPY

    def get_unmapped_area(self, length: int, offset: int, flags: int) -> int:
        """``mtd_get_unmapped_area``: point at the range, or -EOPNOTSUPP/-ENOSYS."""
        if not self.point_supported:
            return -E.EOPNOTSUPP
        retlen = min(length, self.size - offset)
        if retlen != length:
            return -E.ENOSYS
        return self.flash.base + offset

    def read(self, offset: int, n: int) -> bytes:
        """``mtd_read``: the chip's bytes (through the chip driver, so always data)."""
        return self.flash.array[offset:offset + n].tobytes()

    @property
    def writeable(self) -> bool:
        return self.type is MtdType.RAM


class MtdCharOps(FileOperations):
    """``/dev/mtdN`` (``drivers/mtd/mtdchar.c``)."""

    name = "mtdchar"
    kernel_read_refused = True  # mtdchar_read is a plain read method (no read_iter)
    mmap_refusals = {  # noqa: RUF012
        E.EACCES: "without an MMU mtdchar's mmap accepts only shared mappings (VM_SHARED); "
                  "map it MAP_SHARED to read the flash in place, or read() it (a private "
                  "copy needs a kernel read of the device, which Linux 6.12 refuses: kernel bug 7)",
    }

    def __init__(self, mtd: Mtd) -> None:
        self.mtd = mtd

    def mmap_capabilities(self, file: File) -> int:  # type: ignore[override]
        return self.mtd.mmap_capabilities()

    peek_mmap_capabilities = mmap_capabilities  # no side effects: a view may ask too

    def get_unmapped_area(self, file: File, addr: int, length: int, pgoff: int, flags: int) -> int:  # type: ignore[override]
        """``mtdchar_get_unmapped_area``: range checks, then point; 'not supported' → ENODEV."""
        ps = self.kernel.page_size
        if addr != 0:
            return -E.EINVAL
        if length > self.mtd.size or pgoff >= self.mtd.size // ps:
            return -E.EINVAL
        offset = pgoff * ps
        if offset > self.mtd.size - length:
            return -E.EINVAL
        ret = self.mtd.get_unmapped_area(length, offset, flags)
        return -E.ENODEV if ret == -E.EOPNOTSUPP else ret

    def mmap(self, file: File, vma: VmArea) -> int:
        """``mtdchar_mmap`` on no-MMU: only VM_SHARED VMAs, EACCES otherwise."""
        return 0 if vma.vm_flags & VM_SHARED else -E.EACCES

    def open(self, inode: Inode, fmode: int) -> int:
        """``mtdchar_open``: a read-only MTD cannot be opened for writing."""
        if fmode & FMODE_WRITE and not self.mtd.writeable:
            return -E.EACCES
        return 0

    def read(self, file: File, n: int, pos: int) -> bytes:
        n = max(0, min(n, self.mtd.size - pos))
        return self.mtd.read(pos, n)

    def describe(self) -> str:
        return f"mtd{self.mtd.index} ({self.mtd.type.value}, {self.mtd.size // 1024} KiB)"


@dataclass(eq=False)
class Framebuffer:
    """A frame buffer whose memory was set aside in RAM at boot."""

    name: str
    screen_base: int
    size: int
    width: int
    height: int


class FramebufferOps(FileOperations):
    """fbdev on no-MMU: default chardev capabilities (DIRECT|READ|WRITE).

    There is no ``mmap_capabilities`` method, so the character-device default
    applies: no COPY (private mappings: ENODEV) and no EXEC.
    """

    name = "fbdev"

    def __init__(self, fb: Framebuffer) -> None:
        self.fb = fb

    def get_unmapped_area(self, file: File, addr: int, length: int, pgoff: int, flags: int) -> int:  # type: ignore[override]
        """``get_fb_unmapped_area``: ``screen_base + pgoff`` if the range fits.

        The kernel compares a page offset with a byte size and adds the page
        number as a byte offset; only offset 0 is meaningful. The model keeps
        that arithmetic.
        """
        fb_size = self.fb.size
        if pgoff > fb_size or length > fb_size - pgoff:
            return -E.EINVAL
        return self.fb.screen_base + pgoff

    def mmap(self, file: File, vma: VmArea) -> int:
        """``fb_mmap`` → ``vm_iomap_memory`` → no-MMU ``remap_pfn_range``.

        The no-MMU remap can only check that the VMA already starts at the
        frame it should map (``addr == pfn << PAGE_SHIFT``); since
        ``get_fb_unmapped_area`` added the page offset as *bytes*, any offset
        but 0 fails here with EINVAL. On success the VMA becomes I/O memory.
        """
        ps = self.kernel.page_size
        if vma.vm_start != self.fb.screen_base + vma.vm_pgoff * ps:
            return -E.EINVAL
        if (vma.vm_end - vma.vm_start) > self.fb.size - vma.vm_pgoff * ps:
            return -E.EINVAL
        vma.vm_flags |= VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP
        return 0

    def read(self, file: File, n: int, pos: int) -> bytes:
        """``fb_io_read``: at or past the end is end of file."""
        n = max(0, min(n, self.fb.size - pos))
        return self.kernel.phys_read(self.fb.screen_base + pos, n) if n else b""

    def write(self, file: File, data: bytes, pos: int) -> int:
        """``fb_io_write``: past the end EFBIG; running off the end writes what fits
        (ENOSPC when nothing does)."""
        total = self.fb.size
        if pos > total:
            return -E.EFBIG
        count = min(len(data), total - pos)
        if count == 0:
            return -E.EFBIG if len(data) > total else -E.ENOSPC
        self.kernel.phys_write(self.fb.screen_base + pos, data[:count])
        return count

    def describe(self) -> str:
        return f"{self.fb.name} {self.fb.width}x{self.fb.height} at {self.fb.screen_base:#x}"


@dataclass(eq=False)
class BlockStore:
    """The bytes behind a block device that keeps its data outside RAM."""

    name: str
    size: int
    data: bytearray = field(init=False, repr=False)
    version: int = 0  # bumped whenever the bytes change (state_digest caches by it)

    def __post_init__(self) -> None:
        self.data = bytearray(self.size)


class BlockDevOps(FileOperations):
    """``def_blk_fops``: ``blkdev_mmap`` (ENOSYS on no-MMU), no get_unmapped_area.

    With no ``mmap_capabilities`` a block device gets the default ``COPY``:
    private mappings are copies of the device's bytes, shared ones ENODEV.
    """

    name = "blockdev"

    def __init__(self, store: BlockStore) -> None:
        self.store = store

    def mmap(self, file: File, vma: VmArea) -> int:
        return -E.ENOSYS

    def read(self, file: File, n: int, pos: int) -> bytes:
        return bytes(self.store.data[pos:pos + n])

    def write(self, file: File, data: bytes, pos: int) -> int:
        data = data[: max(0, self.store.size - pos)]
        self.store.data[pos:pos + len(data)] = data
        self.store.version += 1
        return len(data)

    def describe(self) -> str:
        return f"{self.store.name} ({self.store.size // 1024} KiB)"


class ContiguousRamdiskOps(FileOperations):
    """A ramdisk that took one contiguous run of RAM at boot (document, case 7).

    Because its memory is contiguous and never moves, it can tell mmap where a
    shared mapping lives (``get_unmapped_area``) and accept it (``mmap``):
    ``DIRECT|COPY|READ|WRITE|EXEC``. The stock brd driver does none of this.
    """

    name = "contiguous-ramdisk"

    def __init__(self, base: int, size: int) -> None:
        self.base = base
        self.size = size

    def mmap_capabilities(self, file: File) -> int:  # type: ignore[override]
        return NOMMU_MAP_DIRECT | NOMMU_MAP_COPY | NOMMU_MAP_READ | NOMMU_MAP_WRITE | NOMMU_MAP_EXEC

    peek_mmap_capabilities = mmap_capabilities  # no side effects: a view may ask too

    def get_unmapped_area(self, file: File, addr: int, length: int, pgoff: int, flags: int) -> int:  # type: ignore[override]
        off = pgoff * self.kernel.page_size
        if off >= self.size or length > self.size - off:
            return -E.EINVAL
        return self.base + off

    def mmap(self, file: File, vma: VmArea) -> int:
        from .region import is_nommu_shared_mapping

        return 0 if is_nommu_shared_mapping(vma.vm_flags) else -E.ENOSYS

    def read(self, file: File, n: int, pos: int) -> bytes:
        n = max(0, min(n, self.size - pos))
        return self.kernel.phys_read(self.base + pos, n)

    def write(self, file: File, data: bytes, pos: int) -> int:
        data = data[: max(0, self.size - pos)]
        self.kernel.phys_write(self.base + pos, data)
        return len(data)

    def describe(self) -> str:
        return f"contiguous ramdisk at {self.base:#x} ({self.size // 1024} KiB)"


class TtyOps(NoMmapOps):
    """A serial tty: readable and writable, but no mmap method (ENODEV)."""

    name = "tty"

    def __init__(self) -> None:
        self.output = bytearray()

    def write(self, file: File, data: bytes, pos: int) -> int:
        self.output.extend(data)
        return len(data)


class NullOps(NoMmapOps):
    """``/dev/null``: no mmap method."""

    name = "null"

    def write(self, file: File, data: bytes, pos: int) -> int:
        return len(data)


class ZeroOps(FileOperations):
    """``/dev/zero``: capability COPY only, its mmap is ENOSYS on no-MMU.

    A private mapping is a zero-filled copy. (Linux 6.12 actually fails it
    with EINVAL because ``__kernel_read`` refuses a file that has both ``read``
    and ``read_iter``; the model follows the intended behaviour and the trace
    names the bug when the copy is filled, ``kernel_read_refused``.)
    """

    name = "zero"

    def mmap_capabilities(self, file: File) -> int:  # type: ignore[override]
        return NOMMU_MAP_COPY

    peek_mmap_capabilities = mmap_capabilities  # no side effects: a view may ask too

    def get_unmapped_area(self, file: File, addr: int, length: int, pgoff: int, flags: int) -> int:  # type: ignore[override]
        return -E.ENOSYS

    def mmap(self, file: File, vma: VmArea) -> int:
        return -E.ENOSYS

    kernel_read_refused = True  # read_zero and read_iter_zero: both wired up

    def read(self, file: File, n: int, pos: int) -> bytes:
        return bytes(n)

    def write(self, file: File, data: bytes, pos: int) -> int:
        return len(data)


class SimpleDriver(FileOperations):
    """A small character driver a notebook can configure, to watch mmap ask it.

    ``capabilities`` is the word ``mmap_capabilities`` returns (None: the
    method is absent and the character-device default applies);
    ``memory_pages`` of contiguous RAM are set aside when it is registered;
    ``unmapped_area`` says what ``get_unmapped_area`` does: "address" (the
    device memory plus the offset), "enosys", an errno number to refuse with,
    or None for no such method; ``mmap_result`` is what its ``mmap`` returns
    (0 to accept, or a negative errno). Every call the kernel makes on it is
    appended to ``calls``; ``closes`` counts ``vm_ops->close``.
    """

    def __init__(self, name: str = "mydev", *, capabilities: int | None = None,
                 memory_pages: int = 4, unmapped_area: str | int | None = "address",
                 mmap_result: int = 0, readable: bool = True) -> None:
        self.name = name
        self.capabilities = capabilities
        self.memory_pages = memory_pages
        self.unmapped_area = unmapped_area
        self.mmap_result = mmap_result
        self.can_read = readable
        self.base = 0
        self.calls: list[str] = []
        self.closes = 0
        if capabilities is not None:
            self.mmap_capabilities = self._caps  # type: ignore[method-assign]
        if unmapped_area is not None:
            self.get_unmapped_area = self._gua  # type: ignore[method-assign]

    def attach(self, kernel: object) -> None:
        """Called by ``Kernel.register_driver``: take the device's memory."""
        if self.memory_pages:
            self.base = self.kernel.reserve_device_memory(self.memory_pages)

    @property
    def size(self) -> int:
        return self.memory_pages * self.kernel.page_size

    def _caps(self, file: File) -> int:
        self.calls.append("mmap_capabilities")
        return int(self.capabilities or 0)

    def peek_mmap_capabilities(self, file: File | None) -> int | None:
        """The configured word, for views: no call is logged, since the kernel made none."""
        return None if self.capabilities is None else int(self.capabilities)

    def _gua(self, file: File, addr: int, length: int, pgoff: int, flags: int) -> int:
        self.calls.append(f"get_unmapped_area(len={length:#x}, pgoff={pgoff})")
        if self.unmapped_area == "enosys":
            return -E.ENOSYS
        if isinstance(self.unmapped_area, int):
            return -abs(self.unmapped_area)
        off = pgoff * self.kernel.page_size
        if off >= self.size or length > self.size - off:
            return -E.EINVAL
        return self.base + off

    def mmap(self, file: File, vma: VmArea) -> int:
        self.calls.append(f"mmap(vma={vma.vm_start:#x}-{vma.vm_end:#x})")
        return self.mmap_result

    def vm_close(self, vma: VmArea) -> None:
        self.calls.append(f"close(vma={vma.vm_start:#x})")
        self.closes += 1

    def read(self, file: File, n: int, pos: int) -> bytes:
        n = max(0, min(n, self.size - pos))
        return self.kernel.phys_read(self.base + pos, n) if n else b""

    def write(self, file: File, data: bytes, pos: int) -> int:
        data = data[: max(0, self.size - pos)]
        if data:
            self.kernel.phys_write(self.base + pos, data)
        return len(data)

    def describe(self) -> str:
        return f"{self.name} ({plural(self.memory_pages, 'page')} at {self.base:#x})"
