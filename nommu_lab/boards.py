"""Ready-made machines. ``default()`` is the board every notebook starts from.

The default board is a RISC-V machine without an MMU, like QEMU's ``virt``
running a ``nommu_virt_defconfig`` kernel: 8 MiB of RAM in 4 KiB pages at
0x80000000; ramfs as root, ``/tmp`` and ``/dev/shm`` ("tmpfs" is ramfs
without an MMU); a romfs image on memory-mapped NOR flash (``/dev/mtd0``,
XIP capable) mounted at ``/rom``; a frame buffer ``/dev/fb0``; the brd
ramdisk ``/dev/ram0``; an ext2-like disk at ``/mnt/disk`` whose files can
only be copied; a serial port ``/dev/ttyS0``.
"""

from __future__ import annotations

from .board_files import FILES
from .kernel.binfmt import build_elf, build_flat
from .kernel.constants import S_IFBLK, S_IFCHR, S_IFDIR, S_IFREG
from .kernel.devices import (
    BlockDevOps,
    BlockStore,
    Framebuffer,
    FramebufferOps,
    Mtd,
    MtdCharOps,
    MtdType,
    NorFlash,
    TtyOps,
)
from .kernel.kernel import Kernel, MiB
from .kernel.memory import PageState
from .kernel.romfs import build_romfs
from .kernel.vfs import DiskFileOps, RomfsFileOps, ext2_fill_super
from .mmu import MmuKernel

FLASH_BASE = 0x2000_0000
FLASH_SIZE = 1 * MiB
FB_WIDTH, FB_HEIGHT = 256, 128  # 8 bits per pixel: 32 KiB, 8 pages
RAMDISK_SIZE = 256 * 1024
DISK_SIZE = 1 * MiB

# A tiny "program": its text is RISC-V-looking words, its data a greeting.
_TEXT = b"".join((0x00000013 + (i << 7)).to_bytes(4, "little") for i in range(700))  # addi nops
_DATA = b"Hello from nommu-lab!\n" + bytes(490)


def program_files() -> dict[str, bytes]:
    """The programs the board ships, by path."""
    flat = build_flat(_TEXT, _DATA, bss=1024, stack=4096, relocs=4)
    return {
        "/rom/bin/hello": flat,
        "/rom/bin/hello-ram": build_flat(_TEXT, _DATA, bss=1024, stack=4096, relocs=4, ram=True),
        "/rom/bin/hello-fdpic": build_elf(_TEXT, _DATA, bss=2048, stack=16 * 1024, fdpic=True),
        "/rom/bin/hello-pie": build_elf(_TEXT, _DATA, bss=2048, stack=None, fdpic=False),
        "/mnt/disk/bin/hello": flat,
    }


def default(mmu: bool = False, *, ram_size: int = 8 * MiB, nr_trim_pages: int = 1,
            allow_uninitialized: bool = True, exam: bool = False) -> Kernel:
    """The default board (described above); ``mmu=True`` is the same board with an MMU.

    ``allow_uninitialized`` is ``CONFIG_MMAP_ALLOW_UNINITIALIZED``: on (as on
    the QEMU oracle's kernel) so MAP_UNINITIALIZED and the FDPIC stack show
    their effect; pass False to see the flag ignored.

    ``exam=True`` is exam mode (``k.exam``): a refused call keeps its errno
    and rule id but not the sentence that says what to do, in the exception
    and in the trace, and the lab hides its event log; nothing else changes.
    """
    cls = MmuKernel if mmu else Kernel
    k = cls(ram_size, nr_trim_pages=nr_trim_pages, allow_uninitialized=allow_uninitialized)
    populate(k)
    k.board_name = "default"
    k.exam = exam
    return k


def populate(k: Kernel) -> None:
    """Give a bare kernel the default board's devices and filesystems."""
    ps = k.page_size
    files = dict(FILES)
    files.update(program_files())

    # NOR flash with a romfs image, registered as a ROM-type MTD (physmap "mtd-rom")
    flash = NorFlash("nor0", FLASH_BASE, FLASH_SIZE)
    rom_files = {p[len("/rom"):]: (d, 0o755 if "/bin/" in p else 0o644)
                 for p, d in files.items() if p.startswith("/rom/")}
    image, entries = build_romfs(rom_files)
    flash.load_image(image)
    k.bus.append(flash)
    mtd = Mtd(0, flash, MtdType.ROM)
    k.flash = flash
    k.mtd = mtd
    k.mknod("/dev/mtd0", S_IFCHR, (90, 0), MtdCharOps(mtd))
    k.mkdir("/rom")
    sb = k._new_sb("romfs", dev=(31, 0), readonly=True, source="/dev/mtd0")
    romops = k.register_ops(RomfsFileOps(mtd))
    root = k._new_inode(sb, S_IFDIR | 0o555, k._dir_ops, ino=32)
    k.mount("/rom", sb, root)
    for e in sorted(entries, key=lambda e: e.path.count("/")):
        parent_path, name = e.path.rsplit("/", 1)
        parent = k.lookup("/rom" + parent_path) if parent_path else root
        assert parent is not None
        if e.is_dir:
            node = k._new_inode(sb, S_IFDIR | 0o555, k._dir_ops, ino=e.ino)
        else:
            node = k._new_inode(sb, S_IFREG | (e.mode & 0o777), romops, ino=e.ino)
            node.size = e.size
            node.data_offset = e.data_offset
        parent.children[name] = node

    # frame buffer memory set aside in RAM at boot, right after the kernel image
    fb_pages = FB_WIDTH * FB_HEIGHT // ps
    fb_pfn = k.boot_pages["kernel image"]
    k.mem.reserve(fb_pfn, fb_pages, PageState.DEVICE)
    k.boot_pages["frame buffer"] = fb_pages
    fb = Framebuffer("fb0", k.mem.pfn_to_addr(fb_pfn), fb_pages * ps, FB_WIDTH, FB_HEIGHT)
    k.fb = fb
    k.mknod("/dev/fb0", S_IFCHR, (29, 0), FramebufferOps(fb))

    # block devices: brd ramdisk and the disk behind /mnt/disk
    k.mknod("/dev/ram0", S_IFBLK, (1, 0), BlockDevOps(BlockStore("ram0", RAMDISK_SIZE)))
    k.mknod("/dev/vda", S_IFBLK, (254, 0), BlockDevOps(BlockStore("vda", DISK_SIZE)))
    k.mknod("/dev/ttyS0", S_IFCHR, (4, 64), TtyOps())
    k.console = "/dev/ttyS0"

    k.mkdir("/mnt/disk")
    disk_sb = k._new_sb("ext2", dev=(254, 0), source="/dev/vda")
    ext2_fill_super(disk_sb, DISK_SIZE)
    disk_ops = k.register_ops(DiskFileOps())
    disk_sb.file_ops = disk_ops
    disk_sb.next_ino = 11
    droot = k._new_inode(disk_sb, S_IFDIR | 0o755, k._dir_ops, ino=2)
    k.mount("/mnt/disk", disk_sb, droot)
    for p, d in sorted(files.items()):
        if p.startswith("/mnt/disk/"):
            parts = p[len("/mnt/disk/"):].split("/")
            cur = "/mnt/disk"
            for sub in parts[:-1]:
                cur += "/" + sub
                k.mkdir(cur)
            node = k.create_file(p, d, mode=0o755 if "/bin/" in p else 0o644)
            assert node.fops is disk_ops
    k.trace.clear()
