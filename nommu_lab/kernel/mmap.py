"""``do_mmap``, ``do_munmap`` and ``do_mremap`` as ``mm/nommu.c`` runs them.

One function per kernel step, in the kernel's order, each named after the
kernel function it models. Every refusal raises :class:`KernelError` with the
errno the kernel returns and a rule id ``<function>.<check>``.

The model keeps one promise the kernel does not need to: a refused call
changes nothing. So every check runs before the first change, and the one
resource that can run out (pages) is checked with ``can_alloc`` before any
page is taken.
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING

from .abi import slong
from .constants import (
    MAP_FIXED,
    MAP_GROWSDOWN,
    MAP_LOCKED,
    MAP_PRIVATE,
    MAP_SHARED,
    MAP_TYPE,
    MAP_UNINITIALIZED,
    MREMAP_FIXED,
    NOMMU_MAP_COPY,
    NOMMU_MAP_DIRECT,
    NOMMU_MAP_EXEC,
    NOMMU_MAP_READ,
    NOMMU_MAP_WRITE,
    NOMMU_VMFLAGS,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    READ_IMPLIES_EXEC,
    S_IFBLK,
    S_IFCHR,
    S_IFREG,
    VM_EXEC,
    VM_GROWSDOWN,
    VM_LOCKED,
    VM_MAPPED_COPY,
    VM_MAYEXEC,
    VM_MAYOVERLAY,
    VM_MAYREAD,
    VM_MAYSHARE,
    VM_MAYWRITE,
    VM_READ,
    VM_SHARED,
    VM_WRITE,
)
from .errors import KernelBug, KernelError
from .memory import PageState, get_order
from .mm import MmStruct, VmArea
from .oom import note_linux_would_oom
from .region import VmRegion, is_nommu_shared_mapping
from .trace import EventKind, plural
from .vfs import (
    FMODE_READ,
    FMODE_WRITE,
    File,
    FileOperations,
    RamfsFileOps,
    capability_names,
    file_type_name,
    page_align,
    rw_verify_area,
)

if TYPE_CHECKING:
    from .kernel import Kernel
    from .process import Process

ULONG = (1 << 64) - 1
TASK_SIZE = 0xFFFFFFFF  # RISC-V without an MMU

# enum members bound once: a class attribute lookup on an Enum costs ~60 ns
_DECISION, _ALLOC, _FREE, _REGION = (EventKind.DECISION, EventKind.ALLOC, EventKind.FREE,
                                     EventKind.REGION)
_VMA, _HAZARD, _DEVICE = EventKind.VMA, EventKind.HAZARD, EventKind.DEVICE
_ANON, _FILE_COPY, _PROGRAM = PageState.ANON, PageState.FILE_COPY, PageState.PROGRAM
_SLACK, _TRIMMED = PageState.SLACK, PageState.TRIMMED


def _caps(c: int) -> str:
    return "|".join(capability_names(c)) or "none"


class _TrimNote:
    """What ``nr_trim_pages`` did to an allocation, worded when the trace is read."""

    __slots__ = ("order", "point", "total", "trim")

    def __init__(self, point: int, order: int, total: int, trim: int) -> None:
        self.point, self.order, self.total, self.trim = point, order, total, trim

    def __format__(self, spec: str) -> str:
        block = 1 << self.order
        if block == self.point:
            return "no excess"
        if self.total == self.point:
            return f"{plural(block - self.total, 'excess page')} trimmed (nr_trim_pages={self.trim})"
        slack = plural(self.total - self.point, "page")
        if self.trim:
            return (f"{slack} of slack kept (excess {self.total - self.point} < "
                    f"nr_trim_pages={self.trim})")
        return f"{slack} of slack kept (nr_trim_pages=0: never trim)"


class _Caps:
    """A capability word that becomes names only when the trace is read."""

    __slots__ = ("c",)

    def __init__(self, c: int) -> None:
        self.c = c

    def __format__(self, spec: str) -> str:
        return _caps(self.c)


# ---------------------------------------------------------------------------
# validate_mmap_request
# ---------------------------------------------------------------------------
#: ``mmap_capabilities_of(..., observe=True)``: only calling the driver could tell
CAPS_NOT_ASKED = -2


def mmap_capabilities_of(fops: FileOperations, kind: int, file: File | None = None, *,
                         observe: bool = False) -> tuple[int | None, str]:
    """The capability word ``validate_mmap_request`` starts from, and its source.

    ``(None, ...)``: the file has no mmap method (ENODEV). ``(-1, ...)``: no
    ``mmap_capabilities`` and no default for this inode type (EINVAL).
    Otherwise the driver's own word, or the default by inode type: regular
    files and block devices COPY, character devices DIRECT|READ|WRITE.
    Views use this too, so the table lives in one place; they pass
    ``observe=True``, which never calls into the driver (``peek_mmap_capabilities``)
    and answers ``CAPS_NOT_ASKED`` where only the driver's method could tell.
    """
    if fops.mmap is None:
        return None, "no mmap method"
    if fops.mmap_capabilities is not None:
        if observe:
            word = fops.peek_mmap_capabilities(file)
            if word is None:
                return CAPS_NOT_ASKED, f"{fops.name}'s own mmap_capabilities, asked when a file is mapped"
            return word, f"{fops.name}'s mmap_capabilities"
        return fops.mmap_capabilities(file), f"{fops.name}'s mmap_capabilities"
    if kind in (S_IFREG, S_IFBLK):
        return NOMMU_MAP_COPY, f"the default for a {file_type_name(kind)}"
    if kind == S_IFCHR:
        return NOMMU_MAP_DIRECT | NOMMU_MAP_READ | NOMMU_MAP_WRITE, "the default for a character device"
    return -1, f"no default for a {file_type_name(kind)}"

def capabilities_last_answered(k: Kernel, path: str) -> int | None:
    """The word the driver of ``path`` gave ``validate_mmap_request`` the last time
    it was asked (read from the trace), or None if the trace does not hold one."""
    ev = k.trace.latest("validate_mmap_request.capabilities", path)
    return None if ev is None else ev.args[1].c


def no_mmap_method_refusal(file: File) -> str:
    """Why a file without an mmap method cannot be mapped, and what to do instead."""
    return (f"{file.path} is a {file_type_name(file.inode.mode)} whose driver has no mmap "
            "method, so it cannot be mapped at all; "
            + ("a directory holds no data to map (read() on it is EISDIR too)"
               if file.inode.is_dir else "read() it instead"))


def validate_mmap_request(
    k: Kernel, task: Process, file: File | None, addr: int, length: int,
    prot: int, flags: int, pgoff: int,
) -> int:
    """``validate_mmap_request``: every check in the kernel's order; returns capabilities."""
    ps = k.page_size
    if flags & MAP_FIXED:
        raise KernelError(E.EINVAL, "validate_mmap_request.map_fixed",
                          "MAP_FIXED is refused without an MMU: a process cannot choose "
                          "where memory lives; drop MAP_FIXED and use the address mmap returns")
    mtype = flags & MAP_TYPE
    if mtype not in (MAP_PRIVATE, MAP_SHARED):
        raise KernelError(E.EINVAL, "validate_mmap_request.map_type",
                          f"the mapping type in flags is {mtype:#x}; it must be exactly "
                          "MAP_PRIVATE or MAP_SHARED")
    if length == 0:
        raise KernelError(E.EINVAL, "validate_mmap_request.zero_length",
                          "a mapping of length 0 is refused; ask for at least one byte")
    rlen = page_align(length, ps)
    if rlen == 0 or rlen > TASK_SIZE:
        raise KernelError(E.ENOMEM, "validate_mmap_request.length_too_big",
                          f"a length of {length:#x} bytes is larger than the address space "
                          f"({TASK_SIZE + 1:#x}); ask for less")
    if pgoff + (rlen // ps) > ULONG:
        raise KernelError(E.EOVERFLOW, "validate_mmap_request.pgoff_overflow",
                          "offset plus length runs past the largest file offset; use a smaller offset")

    if file is None:
        caps = NOMMU_MAP_COPY
        if prot & PROT_READ and task.personality & READ_IMPLIES_EXEC:
            k.trace.emit(_DECISION, "validate_mmap_request.read_implies_exec",
                         "READ_IMPLIES_EXEC adds PROT_EXEC to a local copy of prot only: "
                         "the mapping's flags do not change")
        return caps

    fops = file.fops
    path = file.path
    caps, source = mmap_capabilities_of(fops, file.inode.kind, file)
    if caps is None:
        raise KernelError(E.ENODEV, "validate_mmap_request.no_mmap_method", no_mmap_method_refusal(file))
    if caps < 0:
        raise KernelError(E.EINVAL, "validate_mmap_request.no_default_capabilities",
                          f"{path} is a {file_type_name(file.inode.mode)}: it declares no "
                          "mapping capabilities and its type has no default, so mmap is refused")
    k.trace.emit(_DECISION, "validate_mmap_request.capabilities",
                 "{} may be mapped {} ({})", path, _Caps(caps), source)
    if fops.get_unmapped_area is None and caps & NOMMU_MAP_DIRECT:
        caps &= ~NOMMU_MAP_DIRECT
        k.trace.emit(_DECISION, "validate_mmap_request.no_get_unmapped_area",
                     "no get_unmapped_area method: DIRECT dropped")
    copy_dropped_unreadable = False
    if not fops.can_read and caps & NOMMU_MAP_COPY:
        caps &= ~NOMMU_MAP_COPY
        copy_dropped_unreadable = True
        k.trace.emit(_DECISION, "validate_mmap_request.cannot_read",
                     "the file cannot be read, so no copy can be made: COPY dropped")
    if not file.f_mode & FMODE_READ:
        raise KernelError(E.EACCES, "validate_mmap_request.not_open_for_read",
                          f"{path} was opened without read access; every mapping needs it, "
                          "open it O_RDONLY or O_RDWR")
    if flags & MAP_SHARED:
        check_shared_file_modes(file, prot, "validate_mmap_request")
        if not caps & NOMMU_MAP_DIRECT:
            if file.inode.is_reg:
                instead = ("use MAP_PRIVATE for a copy, or put the file on ramfs/tmpfs, "
                           "which can map it in place")
            elif caps & NOMMU_MAP_COPY:
                instead = "use MAP_PRIVATE for a copy of what it holds now"
            else:
                instead = "use read() and write() instead"
            raise KernelError(E.ENODEV, "validate_mmap_request.shared_needs_direct",
                              f"{path} cannot be mapped in place (capabilities "
                              f"{_caps(caps)}), and a shared mapping is never turned into a "
                              f"private copy; {instead}")
        caps &= ~NOMMU_MAP_COPY
    else:
        if not caps & NOMMU_MAP_COPY:
            if copy_dropped_unreadable:
                why = (f"{path}'s driver advertises NOMMU_MAP_COPY, but the file cannot be read "
                       "(its driver has no read method), so no copy can be made and COPY was "
                       "dropped; give the driver a read method, or use MAP_SHARED")
            else:
                why = (f"{path} allows no private copy (capabilities {_caps(caps)}); the driver "
                       "must advertise NOMMU_MAP_COPY for MAP_PRIVATE, use MAP_SHARED")
            raise KernelError(E.ENODEV, "validate_mmap_request.private_needs_copy", why)
        if prot & PROT_WRITE and caps & NOMMU_MAP_DIRECT:
            caps &= ~NOMMU_MAP_DIRECT
            k.trace.emit(_DECISION, "validate_mmap_request.private_write_copies",
                         "a writable private mapping must never write to the backing store: "
                         "DIRECT dropped, it will be a copy")
    if caps & NOMMU_MAP_DIRECT:
        missing = [
            name for bit, cap, name in (
                (PROT_READ, NOMMU_MAP_READ, "READ"),
                (PROT_WRITE, NOMMU_MAP_WRITE, "WRITE"),
                (PROT_EXEC, NOMMU_MAP_EXEC, "EXEC"),
            ) if prot & bit and not caps & cap
        ]
        if missing:
            caps &= ~NOMMU_MAP_DIRECT
            if flags & MAP_SHARED:
                raise KernelError(E.EINVAL, "validate_mmap_request.shared_prot_unsupported",
                                  f"{path} cannot be mapped directly with "
                                  f"PROT_{'|PROT_'.join(missing)} (capabilities {_caps(caps | NOMMU_MAP_DIRECT)}); "
                                  "drop that protection bit")
            k.trace.emit(_DECISION, "validate_mmap_request.prot_not_direct",
                         "the backing store cannot be mapped in place with PROT_{}: DIRECT dropped",
                         "|PROT_".join(missing))
    if file.inode.sb.noexec:
        if prot & PROT_EXEC:
            raise KernelError(E.EPERM, "validate_mmap_request.noexec_mount",
                              f"{path} lies on a filesystem mounted noexec; drop PROT_EXEC")
    elif prot & PROT_READ and not prot & PROT_EXEC:
        if task.personality & READ_IMPLIES_EXEC and caps & NOMMU_MAP_EXEC:
            k.trace.emit(_DECISION, "validate_mmap_request.read_implies_exec",
                         "READ_IMPLIES_EXEC adds PROT_EXEC to a local copy of prot only: "
                         "the mapping's flags do not change")
    elif prot & PROT_READ and prot & PROT_EXEC and not caps & NOMMU_MAP_EXEC:
        caps &= ~NOMMU_MAP_DIRECT
    return caps


def check_shared_file_modes(file: File, prot: int, where: str) -> None:
    """The open-mode checks every kernel makes on a shared file mapping.

    PROT_WRITE needs the file open for writing; an append-only file may not be
    shared-mapped while open for writing. ``where`` names the kernel function
    making the check (``validate_mmap_request`` without an MMU, ``do_mmap`` with one).
    """
    if prot & PROT_WRITE and not file.f_mode & FMODE_WRITE:
        raise KernelError(E.EACCES, f"{where}.shared_write_needs_fmode_write",
                          "a shared writable mapping needs the file open for writing; "
                          "open it O_RDWR or drop PROT_WRITE")
    if file.inode.append_only and file.f_mode & FMODE_WRITE:
        raise KernelError(E.EACCES, f"{where}.append_only",
                          "an append-only file cannot be shared-mapped while open for writing")


# ---------------------------------------------------------------------------
# determine_vm_flags
# ---------------------------------------------------------------------------
def determine_vm_flags(file: File | None, prot: int, flags: int, caps: int, ptraced: bool) -> int:
    """``determine_vm_flags`` (6.3+, the ``VM_MAYOVERLAY`` era)."""
    vm = 0
    if prot & PROT_READ:
        vm |= VM_READ
    if prot & PROT_WRITE:
        vm |= VM_WRITE
    if prot & PROT_EXEC:
        vm |= VM_EXEC
    if flags & MAP_GROWSDOWN:
        vm |= VM_GROWSDOWN
    if flags & MAP_LOCKED:
        vm |= VM_LOCKED
    if file is None:
        # anonymous MAP_SHARED is the same as MAP_PRIVATE without an MMU
        vm |= VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC
    elif flags & MAP_PRIVATE:
        if caps & NOMMU_MAP_DIRECT:
            vm |= caps & NOMMU_VMFLAGS
        else:
            vm |= VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC
        if not prot & PROT_WRITE and not ptraced:
            vm |= VM_MAYOVERLAY
    else:
        vm |= VM_SHARED | VM_MAYSHARE | (caps & NOMMU_VMFLAGS)
    return vm


# ---------------------------------------------------------------------------
# do_mmap
# ---------------------------------------------------------------------------
def do_mmap(
    k: Kernel, task: Process, file: File | None, addr: int, length: int,
    prot: int, flags: int, pgoff: int,
) -> int:
    """``do_mmap`` (no-MMU): validate, share an existing region or make a new one."""
    mm = task.mm
    caps = validate_mmap_request(k, task, file, addr, length, prot, flags, pgoff)
    if addr:
        k.trace.emit(_DECISION, "do_mmap.hint_ignored",
                     "the address hint {:#x} is ignored: without an MMU the kernel decides", addr)
    ps = k.page_size
    length = (length + ps - 1) & -ps  # PAGE_ALIGN; validate ruled out the wrap to 0
    vm_flags = determine_vm_flags(file, prot, flags, caps, task.ptraced)
    # ids are taken once nothing can fail any more (take_ids): a refusal takes none
    region = VmRegion(0, 0, 0, 0, vm_flags, pgoff, file)
    vma = VmArea(0, 0, 0, vm_flags, pgoff, file, region)

    if is_nommu_shared_mapping(vm_flags):
        assert file is not None
        shared = _find_shareable_region(k, file, length, pgoff, caps)
        if shared is not None:
            return _share_region(k, task, shared, vma, length, pgoff)
        if caps & NOMMU_MAP_DIRECT:
            got = driver_get_unmapped_area(k, file, length, pgoff, flags)
            if got < 0:
                if got != -E.ENOSYS:
                    raise KernelError(-got, "do_mmap.get_unmapped_area_failed",
                                      f"the driver of {file.path} refused to place the mapping "
                                      f"({E.errorcode.get(-got, -got)}): check the offset and length "
                                      f"against the {'file' if file.inode.is_reg else 'device'}'s size")
                if not caps & NOMMU_MAP_COPY:
                    raise KernelError(E.ENODEV, "do_mmap.get_unmapped_area_enosys",
                                      _enosys_refusal(file, flags))
                caps &= ~NOMMU_MAP_DIRECT
                k.trace.emit(_DECISION, "do_mmap.get_unmapped_area_enosys_copy",
                             "the driver declined to map {} in place (ENOSYS): a copy will be made",
                             file.path)
            else:
                check_region_start(k, got, "two mappings of one device or file with different "
                                   "lengths at the same offset each want a region of their own")
                vma.vm_start = region.vm_start = got
                vma.vm_end = region.vm_end = got + length
                k.trace.emit(_DECISION, "do_mmap.get_unmapped_area",
                             "{} will be mapped in place at {:#x}", file.path, got)

    if file is not None and vm_flags & VM_SHARED:
        do_mmap_shared_file(k, vma)
        take_ids(k, region, vma)
    else:
        do_mmap_private(k, task, vma, region, length, caps)

    # ---- from here on nothing can fail: commit ----
    k.region_tree.add(region)
    if file is None:
        if k.allow_uninitialized and flags & MAP_UNINITIALIZED:
            region.uninitialized = True
            k.trace.emit(_HAZARD, "do_mmap.map_uninitialized",
                         "MAP_UNINITIALIZED honoured (CONFIG_MMAP_ALLOW_UNINITIALIZED): "
                         "{} bytes at {:#x} keep whatever they held before",
                         region.vm_end - region.vm_start, region.vm_start)
        else:
            k.mem.zero(region.vm_start, region.vm_end - region.vm_start)
            if flags & MAP_UNINITIALIZED:
                k.trace.emit(_DECISION, "do_mmap.map_uninitialized_ignored",
                             "MAP_UNINITIALIZED ignored: the board was built without "
                             "CONFIG_MMAP_ALLOW_UNINITIALIZED, so the memory is cleared")
            k.trace.emit(_DECISION, "do_mmap.zero_anonymous",
                         "cleared {} bytes of anonymous memory at {:#x} (no MMU: all of it, now)",
                         region.vm_end - region.vm_start, region.vm_start, region=region.id)
    if file is not None:
        k.fget(file)  # the region's reference
        k.fget(file)  # the VMA's reference
    mm.total_vm += length // ps
    _attach_vma(k, mm, vma, new_region=True)
    return vma.vm_start


def _enosys_refusal(file: File, flags: int) -> str:
    """Why a mapping ``get_unmapped_area`` declined (ENOSYS) cannot be made, and what helps."""
    why = (f"{file.path} cannot be mapped in place here (its driver's get_unmapped_area "
           "answered ENOSYS) and ")
    if isinstance(file.fops, RamfsFileOps):
        return (why + "a shared mapping is never a copy: its pages are missing or not "
                "physically consecutive. Create the file with ftruncate on an empty file "
                "(that gathers contiguous pages), then map it")
    if flags & MAP_SHARED:
        return (why + "a shared mapping is never a copy: only the driver can place it (by "
                "answering with the address of its memory); use read() and write() instead")
    return (why + "the driver allows no copy (no NOMMU_MAP_COPY) for a private mapping; "
            "use read() instead")


def take_ids(k: Kernel, region: VmRegion, vma: VmArea) -> None:
    """Number a new mapping: its region's id, then its VMA's (after the last check).

    A mapping that reuses an existing region takes two ids as well (the first
    unused), so numbering does not depend on which requests were shared.
    """
    region.id = k.next_id()
    vma.id = k.next_id()


def _find_shareable_region(k: Kernel, file: File, length: int, pgoff: int, caps: int) -> VmRegion | None:
    """The shareable-region search of ``do_mmap``: exact or subset match on the same inode."""
    ps = k.page_size
    pglen = (length + ps - 1) // ps
    pgend = pgoff + pglen
    for r in k.region_tree:
        if not is_nommu_shared_mapping(r.vm_flags):
            continue
        if r.vm_file is None or r.vm_file.inode is not file.inode:
            continue
        if r.vm_pgoff >= pgend:
            continue
        rpglen = (r.vm_end - r.vm_start + ps - 1) // ps
        rpgend = r.vm_pgoff + rpglen
        if pgoff >= rpgend:
            continue
        exact = r.vm_pgoff == pgoff and rpglen == pglen
        subset = pgoff >= r.vm_pgoff and pgend <= rpgend
        if not exact and not subset:
            if not caps & NOMMU_MAP_DIRECT:
                raise KernelError(E.EINVAL, "do_mmap.sharing_violation",
                                  f"pages {pgoff}..{pgend - 1} of {file.path} overlap an existing "
                                  f"shared copy of pages {r.vm_pgoff}..{rpgend - 1} without being "
                                  "inside it ('Attempt to share mismatched mappings'); map the "
                                  "same range, or a range inside it")
            k.trace.emit(_DECISION, "do_mmap.inexact_overlap_skipped",
                         "region {:#x} overlaps inexactly; the file can be mapped in place, "
                         "so it is skipped", r.vm_start)
            continue
        return r
    return None


def _share_region(k: Kernel, task: Process, r: VmRegion, vma: VmArea, length: int, pgoff: int) -> int:
    """Attach a new VMA to an existing region (``do_mmap``'s share path)."""
    start = r.vm_start + (pgoff - r.vm_pgoff) * k.page_size
    vma.vm_region = r
    vma.vm_start, vma.vm_end = start, start + length
    if r.vm_flags & VM_MAPPED_COPY:
        vma.vm_flags |= VM_MAPPED_COPY
    else:
        # Linux 6.12 tells the driver about every new VMA on a direct region
        do_mmap_shared_file(k, vma, reusing=r)
    k.next_id()  # the region id a new mapping would have had (take_ids)
    vma.id = k.next_id()
    r.vm_usage += 1
    assert vma.vm_file is not None
    k.fget(vma.vm_file)
    k.trace.emit(_REGION, "do_mmap.share_region",
                 "reusing region {:#x}-{:#x} of {} (now used by {} mappings){}",
                 r.vm_start, r.vm_end, r.path, r.vm_usage,
                 ": a copy made earlier, used as it is" if r.is_copy else "", region=r.id)
    for other in task.mm.vmas:
        if other.vm_region is r and other.vm_start < vma.vm_end and vma.vm_start < other.vm_end:
            k.trace.emit(_HAZARD, "kernel_bug.1.duplicate_vma",
                         "this process already maps part of this range: on Linux 6.1+ the "
                         "second VMA overwrites the first in the maple tree, so the first can "
                         "never be unmapped and its region leaks until reboot")
            break
    _attach_vma(k, task.mm, vma)
    return start


def _attach_vma(k: Kernel, mm: MmStruct, vma: VmArea, new_region: bool = False) -> None:
    """``add_nommu_region`` (for a new region), then insert the VMA in the
    process (``map_count++``) and flush the icache once."""
    mm.add(vma)
    r = vma.vm_region
    if vma.vm_flags & VM_EXEC and not r.vm_icache_flushed:
        r.vm_icache_flushed = True
        k.trace.emit(_DECISION, "do_mmap.flush_icache",
                     "first executable mapping of region {:#x}: instruction cache flushed once",
                     r.vm_start)
    if new_region:
        k.trace.emit(_REGION, "do_mmap.new_region",
                     "new {} region {:#x}-{:#x}; VMA attached (map_count {})",
                     "copy" if r.vm_flags & VM_MAPPED_COPY else "direct", r.vm_start, r.vm_end,
                     len(mm.vmas), region=r.id)
    else:
        k.trace.emit(_VMA, "do_mmap.attach_vma", "VMA {:#x}-{:#x} attached (map_count {})",
                     vma.vm_start, vma.vm_end, mm.map_count, region=r.id)


def vm_ops_of(file: File) -> FileOperations | None:
    """The VMA operations a driver installs: only drivers with a close hook have any."""
    fops = file.fops
    return fops if type(fops).vm_close is not FileOperations.vm_close else None


def driver_answer(ret: int) -> str:
    """A driver's answer as its C code would spell it: an address, 0 or -ENAME."""
    if ret < 0:
        return f"-{E.errorcode.get(-ret, str(-ret))}"
    return f"{ret:#x}" if ret else "0"


def driver_get_unmapped_area(k: Kernel, file: File, length: int, pgoff: int, flags: int) -> int:
    """``file->f_op->get_unmapped_area`` as ``do_mmap`` calls it, named in the trace."""
    got = file.fops.get_unmapped_area(file, 0, length, pgoff, flags)
    k.trace.emit(_DEVICE, "do_mmap.driver_get_unmapped_area",
                 "do_mmap called {}'s get_unmapped_area(len={:#x}, pgoff={}): it answered {}{}",
                 file.fops.name, length, pgoff, driver_answer(got),
                 " (where the mapping lives)" if got >= 0 else
                 " (ENOSYS: it will not say)" if got == -E.ENOSYS else " (a refusal)")
    return got


def call_mmap(k: Kernel, file: File, vma: VmArea, caller: str, reusing: VmRegion | None = None) -> int:
    """``call_mmap``: the driver's ``f_op->mmap`` for a new VMA, named in the trace.

    ``reusing`` is the region a new VMA shares: Linux 6.12 asks the driver
    again for it, where the document says an existing mapping is shared
    "without notifying the driver".
    """
    ret = file.fops.mmap(file, vma)
    touched = {} if reusing is None else {"region": reusing.id}
    k.trace.emit(_DEVICE, f"{caller}.call_mmap",
                 "{} called {}'s mmap for {}{}: it answered {}{}",
                 caller, file.fops.name,
                 f"the VMA {vma.vm_start:#x}-{vma.vm_end:#x}" if vma.vm_end else
                 "a VMA not placed yet (a mapping that cannot be shared never asks "
                 "get_unmapped_area where to go)",
                 "" if reusing is None else
                 f" on the region it reuses ({reusing.vm_start:#x}-{reusing.vm_end:#x}; Linux 6.12 asks "
                 "the driver about every new VMA, where the document says sharing does not notify it)",
                 driver_answer(ret),
                 " (accepted)" if ret == 0 else " (ENOSYS: map a copy instead)" if ret == -E.ENOSYS
                 else " (a refusal)", **touched)
    return ret


def _driver_refusal(file: File, ret: int, what: str) -> str:
    """The sentence for a driver's mmap refusal: its own reason when it has one."""
    why = file.fops.mmap_refusals.get(-ret)
    return (f"the driver of {file.path} refused {what} ({E.errorcode.get(-ret, -ret)})"
            + (f": {why}" if why else ""))


def do_mmap_shared_file(k: Kernel, vma: VmArea, reusing: VmRegion | None = None) -> None:
    """``do_mmap_shared_file``: let the driver accept the VMA; ENOSYS becomes ENODEV."""
    file = vma.vm_file
    assert file is not None
    ret = call_mmap(k, file, vma, "do_mmap_shared_file", reusing)
    if ret == 0:
        vma.vm_region.vm_top = vma.vm_region.vm_end
        vma.vm_ops = vm_ops_of(file)
        return
    if ret != -E.ENOSYS:
        raise KernelError(-ret, "do_mmap_shared_file.driver_refused",
                          _driver_refusal(file, ret, "the shared mapping"))
    raise KernelError(E.ENODEV, "do_mmap_shared_file.enosys",
                      f"the driver of {file.path} cannot share this mapping (ENOSYS); "
                      "a shared mapping cannot fall back to a copy")


def do_mmap_private(k: Kernel, task: Process, vma: VmArea, region: VmRegion, length: int, caps: int) -> None:
    """``do_mmap_private``: a direct private mapping, or a power-of-two copy (trimmed)."""
    file = vma.vm_file
    ps = k.page_size
    if caps & NOMMU_MAP_DIRECT:
        assert file is not None
        ret = call_mmap(k, file, vma, "do_mmap_private")
        if not is_nommu_shared_mapping(vma.vm_flags):
            k.trace.emit(_HAZARD, "do_mmap_private.warn_not_shareable",
                         "WARNING (once per boot on 6.3+): a direct-capable private mapping by a "
                         "traced task is not shareable; it becomes a copy")
            ret = -E.ENOSYS
        if ret == 0:
            region.vm_top = region.vm_end
            vma.vm_ops = vm_ops_of(file)
            take_ids(k, region, vma)
            k.trace.emit(_DECISION, "do_mmap_private.direct",
                         "{} is mapped in place at {:#x}: no copy, no pages allocated{}",
                         file.path, region.vm_start,
                         " (not page aligned: XIP data is 16-byte aligned in romfs)"
                         if region.vm_start % ps else "")
            return
        if ret != -E.ENOSYS:
            raise KernelError(-ret, "do_mmap_private.driver_refused",
                              _driver_refusal(file, ret, "the private mapping"))
        k.trace.emit(_DECISION, "do_mmap_private.direct_enosys",
                     "the driver's mmap said ENOSYS: a private copy will be made instead")

    point = length // ps
    order = get_order(point)
    total = 1 << order
    trim = k.nr_trim_pages
    if trim and total - point >= trim:
        total = point
    pfn = k.mem.next_block(order)  # where the copy will go; nothing is taken yet
    if pfn is None:
        note_linux_would_oom(k, order, "do_mmap_private.linux_would_oom")
        largest = k.mem.largest_free_order()
        want = "page" if order == 0 else f"block of 2^{order} = {1 << order} contiguous pages"
        have = (f"the largest free block is {plural(1 << largest, 'page')}" if largest >= 0
                else "no page is free at all")
        raise KernelError(E.ENOMEM, "do_mmap_private.alloc_failed",
                          f"no free {want} ({have}; the largest possible is "
                          f"{1 << k.mem.max_order} pages); without an MMU a mapping needs "
                          "physically contiguous memory: ask for less, or free memory first")
    base = k.mem.pfn_to_addr(pfn)
    if file is not None:
        # kernel_read(file, base, len, &fpos) begins with rw_verify_area; fpos is a loff_t
        fpos = slong((vma.vm_pgoff << k.mem.page_shift) & ULONG, "fpos")
        rw_verify_area(fpos, length, "read that fills the private copy (kernel_read)")
    check_region_start(k, base, "the new copy's first page is that region's start")
    # ---- the last check is behind us: number the mapping and take the pages ----
    take_ids(k, region, vma)
    got = k.mem.alloc_pages_exact(total)
    assert got == pfn
    k.mmap_pages_allocated += total
    vma.vm_flags |= VM_MAPPED_COPY
    region.vm_flags = vma.vm_flags
    region.vm_start = base
    region.vm_end = base + length
    region.vm_top = base + total * ps
    vma.vm_start, vma.vm_end = base, base + length
    state = _ANON if file is None else _FILE_COPY
    if task.loader_mapping:
        state = _PROGRAM
    mem = k.mem
    mem.state[pfn:pfn + point] = state
    mem.owner[pfn:pfn + total] = region.id
    if total > point:
        mem.state[pfn + point:pfn + total] = _SLACK
    if total < (1 << order):  # the trimmed tail is free again (its owner was -1 already)
        mem.state[pfn + total:pfn + (1 << order)] = _TRIMMED
    mem.version += 1
    k.trace.emit(_ALLOC, "do_mmap_private.alloc",
                 "{:n page} wanted: order-{} block of {:n page} at {:#x}; {}",
                 point, order, 1 << order, base, _TrimNote(point, order, total, trim),
                 region=region.id, frames=(pfn, total))
    if file is not None:
        pos = vma.vm_pgoff * ps
        if file.fops.kernel_read_refused:
            k.trace.emit(_HAZARD, "kernel_bug.7.kernel_read_unsupported",
                         "Linux 6.12 cannot fill this copy: __kernel_read refuses {}, whose driver "
                         "has a plain read method ('kernel read not supported'), so there this "
                         "mmap fails with EINVAL; the model makes the copy the document describes",
                         file.path, region=region.id)
        data = file.fops.read(file, length, pos)
        assert isinstance(data, bytes)
        k.phys_write(base, data)
        if len(data) < length:
            k.mem.zero(base + len(data), length - len(data))
        k.trace.emit(_DECISION, "do_mmap_private.read_file",
                     "copied {:n byte} of {} from offset {:#x}{}", len(data), file.path, pos,
                     f"; {plural(length - len(data), 'byte')} after EOF cleared"
                     if len(data) < length else "")


# ---------------------------------------------------------------------------
# munmap
# ---------------------------------------------------------------------------
def do_munmap(k: Kernel, task: Process, start: int, length: int) -> None:
    """``do_munmap`` (no-MMU): whole file VMAs only; anonymous ones may be cut."""
    mm = task.mm
    ps = k.page_size
    length = page_align(length, ps)
    if length == 0:
        raise KernelError(E.EINVAL, "do_munmap.zero_length",
                          "munmap of length 0 (after rounding up to pages) is refused")
    end = (start + length) & ULONG
    found = mm.overlapping(start, end) if end > start else []
    if not found:
        raise KernelError(E.EINVAL, "do_munmap.not_mapped",
                          f"nothing is mapped in {start:#x}-{end:#x} by this process; without an "
                          "MMU unmapping a hole is an error (MMU Linux would return 0)")
    vma = found[0]
    if vma.vm_file is not None:
        for v in found:
            if start > v.vm_start:
                raise KernelError(E.EINVAL, "do_munmap.file_partial",
                                  f"{start:#x} is inside the file mapping {v.vm_start:#x}-"
                                  f"{v.vm_end:#x}: a file mapping can only be unmapped whole, "
                                  "from its start")
            if end == v.vm_end:
                mm.remove(v)
                delete_vma(k, v)
                return
        raise KernelError(E.EINVAL, "do_munmap.file_partial",
                          f"the range does not end where the file mapping at {vma.vm_start:#x} "
                          f"ends ({vma.vm_end:#x}); unmap it whole with its full length")
    if start == vma.vm_start and end == vma.vm_end:
        mm.remove(vma)
        delete_vma(k, vma)
        return
    if start < vma.vm_start or end > vma.vm_end:
        raise KernelError(E.EINVAL, "do_munmap.spans_vmas",
                          f"{start:#x}-{end:#x} is not inside the one mapping "
                          f"{vma.vm_start:#x}-{vma.vm_end:#x}; an unmap may not span mappings")
    if start % ps:
        raise KernelError(E.EINVAL, "do_munmap.unaligned_start",
                          f"{start:#x} is not page aligned; part of a mapping can only be "
                          "unmapped from a page boundary")
    if end != vma.vm_end and end % ps:
        raise KernelError(E.EINVAL, "do_munmap.unaligned_end",
                          f"{end:#x} is not page aligned")
    # split_vma re-adds the upper part at `start`, shrink_vma a head-cut region at `end`
    hole = start != vma.vm_start and end != vma.vm_end
    if hole:
        if mm.map_count >= k.max_map_count:
            raise KernelError(E.ENOMEM, "split_vma.max_map_count",
                              "this process has max_map_count mappings already; a hole would need one more")
        check_region_start(k, start, "unmapping this hole would split the mapping there")
    if hole or start == vma.vm_start:
        check_region_start(k, end, "unmapping this part moves the mapping's start there")
    if hole:
        k.trace.emit(_HAZARD, "kernel_bug.6.hole_warning",
                     "punching a hole works, but Linux 6.12 logs a WARNING while doing it")
        split_vma(k, mm, vma, start)
    shrink_vma(k, mm, vma, start, end)


def check_region_start(k: Kernel, start: int, why: str) -> None:
    """``add_nommu_region``'s ``BUG()`` as a check made before anything changes.

    Two regions may never start at one address. Every path that adds a region
    or moves a region's start asks here first, so the refusal (``KernelBug``)
    leaves the machine as it was; Linux 6.12 stops with a kernel BUG.
    """
    other = k.region_tree.get(start)
    if other is None:
        return
    what = f"the {'copy' if other.is_copy else 'direct'} region of {other.path or 'anonymous memory'}"
    freed = (not other.is_copy and k.mem.contains(start)
             and k.mem.state[k.mem.addr_to_pfn(start)] in (PageState.FREE, PageState.TRIMMED))
    raise KernelBug("add_nommu_region.duplicate_start",
                    f"{what} already starts at {start:#x}"
                    + (" (its page was freed under it when its file shrank, and the allocator "
                       "hands that page out again)" if freed else "")
                    + f", and {why}: two regions would share one start, which is a kernel BUG() "
                    "in add_nommu_region on Linux 6.12 (the machine stops). The model refused "
                    "the call and changed nothing; unmap that mapping first")


def split_vma(k: Kernel, mm: MmStruct, vma: VmArea, addr: int) -> VmArea:
    """``split_vma(new_below=1)``: the part below ``addr`` gets a region of its own."""
    ps = k.page_size
    old = vma.vm_region
    npages = (addr - vma.vm_start) // ps
    low_region = VmRegion(k.next_id(), old.vm_start, addr, addr, old.vm_flags, old.vm_pgoff,
                          old.vm_file, old.vm_usage, old.vm_icache_flushed)
    low = VmArea(k.next_id(), vma.vm_start, addr, vma.vm_flags, vma.vm_pgoff, vma.vm_file,
                 low_region, vma.vm_ops)
    k.region_tree.remove(old)
    old.vm_start = addr
    old.vm_pgoff += npages
    mm.rekey(vma, addr, vma.vm_end)
    vma.vm_pgoff += npages
    k.region_tree.add(old)
    k.region_tree.add(low_region)
    mm.add(low)
    pfn = k.mem.addr_to_pfn(low_region.vm_start)
    k.mem.mark(pfn, npages, PageState(int(k.mem.state[pfn])), low_region.id)
    k.trace.emit(_VMA, "split_vma", "mapping split at {:#x}: two VMAs, two regions",
                 addr, region=old.id)
    return low


def shrink_vma(k: Kernel, mm: MmStruct, vma: VmArea, frm: int, to: int) -> None:
    """``vmi_shrink_vma``: cut the head or the tail, freeing the pages (and slack)."""
    region = vma.vm_region
    assert region.vm_usage == 1
    if frm > vma.vm_start:
        mm.rekey(vma, vma.vm_start, frm)
    else:
        mm.rekey(vma, to, vma.vm_end)
    k.region_tree.remove(region)
    if frm > region.vm_start:
        to = region.vm_top
        region.vm_top = region.vm_end = frm
    else:
        region.vm_start = to
    k.region_tree.add(region)
    free_page_series(k, frm, to, PageState.TRIMMED)
    k.trace.emit(_FREE, "shrink_vma",
                 "unmapped {:#x}-{:#x}: {:n page} freed{}", frm, to, (to - frm) // k.page_size,
                 " (the untrimmed slack went with the tail)" if to > vma.vm_end and frm >= vma.vm_end else "",
                 region=region.id)


def free_page_series(k: Kernel, frm: int, to: int, state: PageState = PageState.FREE) -> None:
    """``free_page_series``: give pages back one by one; MmapCopy drops with each."""
    n = (to - frm) // k.page_size
    if n <= 0:
        return
    k.mem.free_range(k.mem.addr_to_pfn(frm), n, state)
    k.mmap_pages_allocated -= n


def delete_vma(k: Kernel, vma: VmArea) -> None:
    """``delete_vma``: the driver's close hook, drop the file, put the region."""
    if vma.vm_ops is not None:
        vma.vm_ops.vm_close(vma)
        k.trace.emit(_DEVICE, "delete_vma.vm_close",
                     "{}: vm_ops->close() called for this VMA (once per VMA, not only for the last)",
                     vma.vm_file.path if vma.vm_file else "?")
    if vma.vm_file is not None:
        k.fput(vma.vm_file)
    put_nommu_region(k, vma.vm_region)


def put_nommu_region(k: Kernel, region: VmRegion) -> None:
    """``__put_nommu_region``: at usage 0 the region goes, and a copy's pages with it."""
    region.vm_usage -= 1
    if region.vm_usage:
        k.trace.emit(_REGION, "put_nommu_region.still_used",
                     "VMA removed; region {:#x} still used by {:n mapping}", region.vm_start,
                     region.vm_usage, region=region.id)
        return
    if region.vm_top > region.vm_start:
        k.region_tree.remove(region)
    if region.vm_file is not None:
        k.fput(region.vm_file)
    if region.is_copy:
        free_page_series(k, region.vm_start, region.vm_top)
        k.trace.emit(_FREE, "put_nommu_region.free_copy",
                     "VMA removed; region {:#x}-{:#x} released: {:n page} back to the allocator",
                     region.vm_start, region.vm_top, (region.vm_top - region.vm_start) // k.page_size,
                     region=region.id)
    else:
        k.trace.emit(_REGION, "put_nommu_region.direct",
                     "VMA removed; region {:#x} released: its memory belongs to the device or "
                     "page cache and is not freed", region.vm_start, region=region.id)


# ---------------------------------------------------------------------------
# mremap
# ---------------------------------------------------------------------------
def do_mremap(k: Kernel, task: Process, addr: int, old_len: int, new_len: int, flags: int,
              new_addr: int) -> int:
    """``do_mremap`` (no-MMU): resize in place within the region; never move."""
    ps = k.page_size
    old_len = page_align(old_len, ps)
    new_len = page_align(new_len, ps)
    if old_len == 0 or new_len == 0:
        raise KernelError(E.EINVAL, "do_mremap.zero_length",
                          "mremap needs non-zero old and new lengths")
    if addr % ps:
        raise KernelError(E.EINVAL, "do_mremap.unaligned", f"{addr:#x} is not page aligned")
    if flags & MREMAP_FIXED and new_addr != addr:
        raise KernelError(E.EINVAL, "do_mremap.fixed_moves",
                          "MREMAP_FIXED to another address would move the mapping, which is "
                          "impossible without an MMU")
    vma = task.mm.find_vma_exact(addr, old_len)
    if vma is None:
        raise KernelError(E.EINVAL, "do_mremap.no_exact_vma",
                          f"no mapping starts at {addr:#x} and is exactly {old_len:#x} bytes long; "
                          "mremap must act on a whole mapping")
    if is_nommu_shared_mapping(vma.vm_flags):
        raise KernelError(E.EPERM, "do_mremap.shareable",
                          "this mapping is shareable (a shared or read-only private file mapping): "
                          "it may not be resized, even if nobody else uses it")
    region = vma.vm_region
    if new_len > region.vm_end - region.vm_start:
        raise KernelError(E.ENOMEM, "do_mremap.beyond_region",
                          f"{new_len:#x} bytes is more than the region's "
                          f"{region.vm_end - region.vm_start:#x}: a mapping can shrink and grow back, "
                          "never beyond what was first mapped (not even into trimming slack)")
    old_end = vma.vm_end
    task.mm.rekey(vma, vma.vm_start, vma.vm_start + new_len)
    if vma.vm_end < old_end:
        k.trace.emit(_HAZARD, "kernel_bug.2.mremap_stale_range",
                     "Linux 6.1+ changes the VMA's end without updating the maple tree: after a "
                     "later munmap, /proc/self/maps can still list this mapping", region=region.id)
    k.trace.emit(_VMA, "do_mremap.resize",
                 "mapping at {:#x} now ends at {:#x} (was {:#x}); the region and its pages are "
                 "unchanged", addr, vma.vm_end, old_end, region=region.id)
    return vma.vm_start

