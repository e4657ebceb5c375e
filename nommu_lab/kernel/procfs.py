"""The text of ``/proc/maps``, ``/proc/<pid>/maps``, ``/proc/meminfo`` and ``/proc/buddyinfo``.

Formats follow ``fs/proc/nommu.c`` (``nommu_region_show``) and
``fs/proc/task_nommu.c`` (``nommu_vma_show``) byte for byte: lowercase hex of
at least 8 digits, ``S``/``s``/``p`` for sharing, and a path padded to column
``25 + 6 * sizeof(void *) - 1`` (72 on the 64-bit RISC-V board).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .region import perm_string

if TYPE_CHECKING:
    from .kernel import Kernel
    from .mm import MmStruct, VmArea
    from .region import VmRegion
    from .vfs import File


def _line(start: int, end: int, flags: int, offset: int, file: File | None, tag: str | None,
          width: int) -> str:
    dev, ino = (0, 0), 0
    if file is not None:
        dev, ino = file.inode.sb.dev, file.inode.ino
    head = f"{start:08x}-{end:08x} {perm_string(flags)} {offset:08x} {dev[0]:02x}:{dev[1]:02x} {ino} "
    name = file.path if file is not None else tag
    if name is None:
        return head
    return head.ljust(width) + " " + name


def _offset(pgoff: int, page_size: int) -> int:
    """``(loff_t)pgoff << PAGE_SHIFT`` as the 64 bits ``%llx`` prints (an offset of
    1 << 63 keeps pgoff 0xfff8000000000000 and prints 8000000000000000)."""
    return (pgoff * page_size) & ((1 << 64) - 1)


def region_line(r: VmRegion, page_size: int, width: int) -> str:
    """One line of /proc/maps: a region, with the region's own flags."""
    return _line(r.vm_start, r.vm_end, r.vm_flags, _offset(r.vm_pgoff, page_size), r.vm_file,
                 None, width)


def vma_line(v: VmArea, mm: MmStruct, page_size: int, width: int) -> str:
    """One line of /proc/<pid>/maps: offsets only for files, ``[stack]`` tag."""
    offset = _offset(v.vm_pgoff, page_size) if v.vm_file is not None else 0
    tag = None
    if v.vm_file is None and mm.start_stack and v.vm_start <= mm.start_stack <= v.vm_end:
        tag = "[stack]"
    return _line(v.vm_start, v.vm_end, v.vm_flags, offset, v.vm_file, tag, width)


def proc_maps(k: Kernel) -> str:
    """``/proc/maps``: every region on the machine, in address order."""
    return "".join(region_line(r, k.page_size, k.maps_width) + "\n" for r in k.region_tree)


def proc_pid_maps(k: Kernel, mm: MmStruct) -> str:
    """``/proc/<pid>/maps``: every VMA of one address space."""
    return "".join(vma_line(v, mm, k.page_size, k.maps_width) + "\n" for v in mm.vmas)


def meminfo_text(k: Kernel) -> str:
    """``/proc/meminfo`` (the lines the model keeps)."""
    return "".join(f"{name + ':':<16}{value:>8} kB\n" for name, value in k.meminfo().items())


def buddyinfo_text(k: Kernel) -> str:
    """``/proc/buddyinfo`` (``frag_show_print`` in mm/vmstat.c): free blocks per order.

    One line per populated zone: ``Node 0, zone`` and the zone name right
    aligned in 8 columns, then each order's count in 6 columns, each followed
    by a space. The board's RAM lies below 4 GiB, so all of it is in DMA32.
    """
    counts = "".join(f"{n:6d} " for n in k.buddyinfo())
    return f"Node 0, zone {k.ZONE_NAME:>8s} {counts}\n"
