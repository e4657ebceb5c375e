"""``mmap``, ``munmap``, ``mremap`` and ``mprotect`` as an MMU kernel runs them.

Followed: ``do_mmap``/``mmap_region``/``__get_unmapped_area`` (``mm/mmap.c``),
``do_vmi_munmap`` (``mm/vma.c``), ``mremap`` (``mm/mremap.c``) and
``do_mprotect_pkey`` (``mm/mprotect.c``), Linux 6.x. Each refusal raises
:class:`KernelError` with MMU Linux's errno and a rule id
``<function>.<check>``.

Like the no-MMU model, a refused call changes nothing: every check runs
before the first change. Where Linux itself changes something before it
fails (MAP_FIXED unmaps first, ``mprotect`` works VMA by VMA, ``mremap`` with
MREMAP_FIXED clears the target first), the model checks the whole request
up front; the docstrings say where.
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING

from ..kernel.constants import (
    MAP_ANONYMOUS,
    MAP_DENYWRITE,
    MAP_EXECUTABLE,
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_GROWSDOWN,
    MAP_HUGETLB,
    MAP_LOCKED,
    MAP_NONBLOCK,
    MAP_NORESERVE,
    MAP_POPULATE,
    MAP_PRIVATE,
    MAP_SHARED,
    MAP_SHARED_VALIDATE,
    MAP_STACK,
    MAP_TYPE,
    MAP_UNINITIALIZED,
    MREMAP_DONTUNMAP,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    READ_IMPLIES_EXEC,
    S_IFBLK,
    S_IFREG,
    VM_DONTDUMP,
    VM_DONTEXPAND,
    VM_EXEC,
    VM_GROWSDOWN,
    VM_IO,
    VM_LOCKED,
    VM_MAYEXEC,
    VM_MAYREAD,
    VM_MAYSHARE,
    VM_MAYWRITE,
    VM_PFNMAP,
    VM_READ,
    VM_SHARED,
    VM_WRITE,
)
from ..kernel.devices import (
    BlockDevOps,
    ContiguousRamdiskOps,
    FramebufferOps,
    MtdCharOps,
    SimpleDriver,
    ZeroOps,
)
from ..kernel.errors import KernelError
from ..kernel.mmap import check_shared_file_modes, driver_answer, no_mmap_method_refusal
from ..kernel.trace import EventKind, plural
from ..kernel.vfs import (
    FMODE_READ,
    FMODE_WRITE,
    DiskFileOps,
    File,
    RamfsFileOps,
    RomfsFileOps,
    SocketOps,
    page_align,
)
from .fault import access_vm, file_size, frames_needed, set_pte, zap_pte_range
from .mm import (
    MMAP_MIN_ADDR,
    STACK_GUARD_GAP_PAGES,
    TASK_SIZE,
    MmuMm,
    MmuVma,
    is_cow_mapping,
)

if TYPE_CHECKING:
    from .kernel import MmuKernel
    from .process import MmuProcess

ULONG = (1 << 64) - 1
LEGACY_MAP_MASK = (MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_DENYWRITE
                   | MAP_EXECUTABLE | MAP_UNINITIALIZED | MAP_GROWSDOWN | MAP_LOCKED
                   | MAP_NORESERVE | MAP_POPULATE | MAP_NONBLOCK | MAP_STACK | MAP_HUGETLB)
VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_PFNMAP


def perms(flags: int) -> str:
    """The four permission characters of an MMU ``/proc/PID/maps`` line (lowercase ``s``)."""
    return (("r" if flags & VM_READ else "-") + ("w" if flags & VM_WRITE else "-")
            + ("x" if flags & VM_EXEC else "-") + ("s" if flags & VM_MAYSHARE else "p"))


# ---------------------------------------------------------------------------
# where a mapping goes
# ---------------------------------------------------------------------------
def _gap_start(v: MmuVma, ps: int) -> int:
    """``vm_start_gap``: a stack that grows down keeps a guard gap below it."""
    if v.vm_flags & VM_GROWSDOWN:
        return max(0, v.vm_start - STACK_GUARD_GAP_PAGES * ps)
    return v.vm_start


def range_is_free(k: MmuKernel, mm: MmuMm, start: int, end: int) -> bool:
    """No VMA (or stack guard gap) intersects ``[start, end)``."""
    ps = k.page_size
    for v in mm.vmas:
        if _gap_start(v, ps) < end and start < v.vm_end:
            return False
    return True


def vm_unmapped_area_topdown(k: MmuKernel, mm: MmuMm, length: int) -> int | None:
    """``vm_unmapped_area`` top-down: the highest gap below ``mmap_base`` that fits."""
    ps = k.page_size
    high = mm.mmap_base
    low = max(ps, MMAP_MIN_ADDR)
    ceiling = high
    for v in reversed(mm.vmas):
        if v.vm_end <= ceiling and ceiling - v.vm_end >= length:
            return ceiling - length
        ceiling = min(ceiling, _gap_start(v, ps))
        if ceiling < low:
            return None
    if ceiling - low >= length:
        return ceiling - length
    return None


def vm_unmapped_area_bottomup(k: MmuKernel, mm: MmuMm, length: int) -> int | None:
    """The fallback (``arch_get_unmapped_area``): the lowest gap above ``mmap_base``'s floor."""
    ps = k.page_size
    floor = max(ps, MMAP_MIN_ADDR)
    for v in mm.vmas:
        if _gap_start(v, ps) - floor >= length:
            return floor
        floor = max(floor, v.vm_end)
    if TASK_SIZE - floor >= length:
        return floor
    return None


def get_unmapped_area(k: MmuKernel, mm: MmuMm, addr: int, length: int, flags: int,
                      notes: list[tuple[str, str, tuple[int, ...]]] | None = None) -> int:
    """``__get_unmapped_area`` → ``arch_get_unmapped_area_topdown``.

    MAP_FIXED takes ``addr`` as it is (it must be page aligned); a hint is
    honoured when the range is free; otherwise the highest free gap below
    ``mmap_base`` is used, as every MMU Linux does without randomisation.
    """
    ps = k.page_size

    def note(rule: str, template: str, *args: int) -> None:
        if notes is None:
            k.trace.emit(EventKind.DECISION, rule, template, *args)
        else:
            notes.append((rule, template, args))

    if length > TASK_SIZE - MMAP_MIN_ADDR:
        raise KernelError(E.ENOMEM, "get_unmapped_area.too_long",
                          f"{length:#x} bytes is more than the whole address space ({TASK_SIZE:#x})")
    if flags & MAP_FIXED:
        if addr > TASK_SIZE - length:
            raise KernelError(E.ENOMEM, "get_unmapped_area.fixed_beyond_task_size",
                              f"{addr:#x}+{length:#x} runs past the top of the user address "
                              f"space ({TASK_SIZE:#x})")
        if addr % ps:
            raise KernelError(E.EINVAL, "get_unmapped_area.fixed_unaligned",
                              f"MAP_FIXED address {addr:#x} is not page aligned")
        if addr < MMAP_MIN_ADDR:
            raise KernelError(E.EPERM, "security_mmap_addr.below_mmap_min_addr",
                              f"{addr:#x} is below vm.mmap_min_addr ({MMAP_MIN_ADDR:#x}): the lowest "
                              "page stays unmapped so NULL pointers always fault")
        note("get_unmapped_area.fixed", "MAP_FIXED: the mapping goes exactly at {:#x}, as asked",
             addr)
        return addr
    if addr:
        addr = page_align(addr, ps)
        if TASK_SIZE - length >= addr and range_is_free(k, mm, addr, addr + length):
            note("get_unmapped_area.hint", "the hint {:#x} is free: the mapping goes there", addr)
            return addr
    got = vm_unmapped_area_topdown(k, mm, length)
    if got is None:
        got = vm_unmapped_area_bottomup(k, mm, length)
    if got is None:
        raise KernelError(E.ENOMEM, "get_unmapped_area.no_space",
                          f"no gap of {length:#x} bytes is left in the address space")
    if addr:
        note("get_unmapped_area.hint_taken",
             "the hint {:#x} is not free: placed top-down at {:#x} instead", addr, got)
    else:
        note("get_unmapped_area.topdown",
             "placed top-down: the highest free gap below mmap_base {:#x} starts at {:#x}",
             mm.mmap_base, got)
    return got


# ---------------------------------------------------------------------------
# VMAs: split, remove, merge
# ---------------------------------------------------------------------------
def split_vma(k: MmuKernel, mm: MmuMm, vma: MmuVma, addr: int) -> MmuVma:
    """``__split_vma``: cut ``vma`` at ``addr``; returns the upper part (a new VMA)."""
    ps = k.page_size
    shift = k.mem.page_shift
    assert vma.vm_start < addr < vma.vm_end and addr % ps == 0
    delta = (addr - vma.vm_start) >> shift
    upper = MmuVma(k.next_id(), addr, vma.vm_end, vma.vm_flags, vma.vm_pgoff + delta,
                   vma.vm_file, vma.anon_vma,
                   None if vma.pfn_base is None else vma.pfn_base + delta, vma.name, vma.kind)
    if vma.vm_file is not None:
        k.fget(vma.vm_file)
    mm.rekey(vma, vma.vm_start, addr)
    mm.add(upper)
    return upper


def carve(k: MmuKernel, mm: MmuMm, start: int, end: int) -> list[MmuVma]:
    """Split VMAs at ``start`` and ``end``; return those now lying inside ``[start, end)``."""
    for v in mm.overlapping(start, end):
        if v.vm_start < start < v.vm_end:
            split_vma(k, mm, v, start)
    for v in mm.overlapping(start, end):
        if v.vm_start < end < v.vm_end:
            split_vma(k, mm, v, end)
    return mm.overlapping(start, end)


def remove_vma(k: MmuKernel, mm: MmuMm, vma: MmuVma) -> tuple[int, int]:
    """``unmap_region`` + ``remove_vma``: clear its page-table entries, drop the file."""
    cleared, freed = zap_pte_range(k, mm, vma.vm_start, vma.vm_end)
    mm.remove(vma)
    mm.total_vm -= (vma.vm_end - vma.vm_start) // k.page_size
    if vma.vm_file is not None:
        k.fput(vma.vm_file)
    return cleared, freed


def can_merge(a: MmuVma, b: MmuVma, shift: int) -> bool:
    """``is_mergeable_vma`` + ``is_mergeable_anon_vma``: may ``a`` and ``b`` (a below b) be one VMA?"""
    if a.vm_end != b.vm_start or a.vm_flags != b.vm_flags or a.vm_flags & VM_SPECIAL:
        return False
    if a.kind != b.kind or a.vm_file is not b.vm_file or a.name != b.name:
        return False
    if a.vm_pgoff + ((a.vm_end - a.vm_start) >> shift) != b.vm_pgoff:
        return False
    return not a.anon_vma or not b.anon_vma or a.anon_vma == b.anon_vma


def vma_merge(k: MmuKernel, mm: MmuMm, vma: MmuVma) -> MmuVma:
    """``vma_merge``: fold ``vma`` into compatible neighbours (one line in /proc/PID/maps)."""
    shift = k.mem.page_shift
    prev, nxt = mm.neighbours(vma)
    if nxt is not None and can_merge(vma, nxt, shift):
        _absorb(k, mm, vma, nxt, "vma_merge.next", "above")
    if prev is not None and can_merge(prev, vma, shift):
        _absorb(k, mm, prev, vma, "vma_merge.prev", "below")
        return prev
    return vma


def _absorb(k: MmuKernel, mm: MmuMm, lower: MmuVma, upper: MmuVma, rule: str, where: str) -> None:
    """``lower`` grows over ``upper``, which goes (its file reference with it)."""
    mm.remove(upper)
    mm.rekey(lower, lower.vm_start, upper.vm_end)
    lower.anon_vma = lower.anon_vma or upper.anon_vma
    if upper.vm_file is not None:
        k.fput(upper.vm_file)
    k.trace.emit(EventKind.VMA, rule, "merged with the VMA {}: one VMA {:#x}-{:#x}",
                 where, lower.vm_start, lower.vm_end)


# ---------------------------------------------------------------------------
# what a driver does when asked to mmap (the MMU side of f_op->mmap)
# ---------------------------------------------------------------------------
def mmu_file_mmap(k: MmuKernel, file: File, vm_flags: int, pgoff: int, length: int,
                  addr: int) -> tuple[str, int, int | None]:
    """The MMU ``f_op->mmap`` of each driver: returns (kind, extra vm_flags, first pfn).

    kind is ``"file"`` (page cache: ``generic_file_mmap``), ``"pfn"`` (device
    memory: ``remap_pfn_range``, the first frame given), ``"anon"``
    (``/dev/zero`` private) or ``"shmem"`` (``/dev/zero`` shared:
    ``shmem_zero_setup``). Raises the driver's refusal.
    """
    ops = file.fops
    ps = k.page_size
    pfn_flags = VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP
    if isinstance(ops, RomfsFileOps):
        if vm_flags & VM_SHARED and vm_flags & VM_MAYWRITE:
            raise KernelError(E.EINVAL, "generic_file_readonly_mmap.shared_writable",
                              f"{file.path} is on a read-only filesystem: no shared writable mapping")
        return "file", 0, None
    if isinstance(ops, RamfsFileOps | DiskFileOps | BlockDevOps | ContiguousRamdiskOps):
        return "file", 0, None
    if isinstance(ops, FramebufferOps):
        fb = ops.fb
        off = pgoff * ps
        if off >= fb.size or length > fb.size - off:
            raise KernelError(E.EINVAL, "fb_mmap.range",
                              f"{file.path} has {fb.size} bytes of video memory; offset {off:#x} "
                              f"plus length {length:#x} does not fit")
        return "pfn", pfn_flags, k.mem.addr_to_pfn(fb.screen_base) + pgoff
    if isinstance(ops, MtdCharOps):
        raise KernelError(E.ENODEV, "mtdchar_mmap.mmu",
                          f"{file.path}: with an MMU the mtdchar driver refuses every mmap "
                          "(its map-based path is disabled); read() the device instead")
    if isinstance(ops, ZeroOps):
        return ("shmem" if vm_flags & VM_SHARED else "anon"), 0, None
    if isinstance(ops, SocketOps):
        raise KernelError(E.ENODEV, "sock_no_mmap", f"{file.path} is a socket that cannot be mapped")
    if isinstance(ops, SimpleDriver):
        # a driver with device memory maps it with remap_pfn_range; its own answer decides
        probe = MmuVma(0, addr, addr + length, vm_flags, pgoff, file)
        ret = ops.mmap(file, probe)  # type: ignore[arg-type]
        k.trace.emit(EventKind.DEVICE, "mmap_region.call_mmap",
                     "mmap_region called {}'s mmap for the VMA {:#x}-{:#x}: it answered {}",
                     ops.name, addr, addr + length, driver_answer(ret))
        if ret < 0:
            raise KernelError(-ret, "call_mmap.driver_refused",
                              f"the driver of {file.path} refused the mapping "
                              f"({E.errorcode.get(-ret, -ret)})")
        off = pgoff * ps
        if not ops.base or off >= ops.size or length > ops.size - off:
            raise KernelError(E.EINVAL, "remap_pfn_range.range",
                              f"{file.path} has {ops.size} bytes of device memory; offset {off:#x} "
                              f"plus length {length:#x} does not fit")
        return "pfn", pfn_flags, k.mem.addr_to_pfn(ops.base) + pgoff
    if file.inode.kind in (S_IFREG, S_IFBLK):
        return "file", 0, None  # any other filesystem or block driver: generic_file_mmap
    raise KernelError(E.ENODEV, "do_mmap.driver_refused",
                      f"the driver of {file.path} has no way to map it")


# ---------------------------------------------------------------------------
# overcommit
# ---------------------------------------------------------------------------
def accountable(vm_flags: int, flags: int, overcommit: int) -> bool:
    """``accountable_mapping``: private writable memory is charged against the commit limit."""
    if flags & MAP_NORESERVE and overcommit != 2:
        return False
    return (vm_flags & (VM_SHARED | VM_WRITE)) == VM_WRITE


def vm_enough_memory(k: MmuKernel, pages: int, why: str) -> None:
    """``__vm_enough_memory``: the overcommit policy (``vm.overcommit_memory``)."""
    mode = k.overcommit_memory
    total = k.mem.nr_pages - k.mem.nr_reserved
    if mode == 1:
        return
    if mode == 0:
        if pages > total:
            raise KernelError(E.ENOMEM, "__vm_enough_memory.guess",
                              f"{why} needs {plural(pages, 'page')}, more than all of RAM ({total} "
                              "pages, no swap): even the overcommit heuristic refuses that")
        return
    limit = total * k.overcommit_ratio // 100
    committed = k.committed_pages()
    if committed + pages > limit:
        raise KernelError(E.ENOMEM, "__vm_enough_memory.strict",
                          f"vm.overcommit_memory=2: {plural(committed, 'page')} committed + "
                          f"{pages} would pass CommitLimit ({plural(limit, 'page')} = "
                          f"{k.overcommit_ratio}% of RAM)")


# ---------------------------------------------------------------------------
# do_mmap
# ---------------------------------------------------------------------------
def do_mmap(k: MmuKernel, task: MmuProcess, file: File | None, addr: int, length: int,
            prot: int, flags: int, pgoff: int) -> int:
    """``do_mmap`` + ``mmap_region`` with an MMU: create a VMA; frames come later."""
    mm = task.mm
    ps = k.page_size
    if length == 0:
        raise KernelError(E.EINVAL, "do_mmap.zero_length",
                          "a mapping of length 0 is refused; ask for at least one byte")
    if prot & PROT_READ and task.personality & READ_IMPLIES_EXEC:
        if not (file is not None and file.inode.sb.noexec):
            prot |= PROT_EXEC
    if flags & MAP_FIXED_NOREPLACE:
        flags |= MAP_FIXED
    if not flags & MAP_FIXED and addr and addr < MMAP_MIN_ADDR:
        addr = page_align(MMAP_MIN_ADDR, ps)  # round_hint_to_min
    length = page_align(length, ps)
    if length == 0:
        raise KernelError(E.ENOMEM, "do_mmap.length_too_big",
                          "the length wraps around when rounded up to pages; ask for less")
    if pgoff + (length >> k.mem.page_shift) > ULONG:
        raise KernelError(E.EOVERFLOW, "do_mmap.pgoff_overflow",
                          "offset plus length runs past the largest file offset")
    if mm.map_count > k.max_map_count:
        raise KernelError(E.ENOMEM, "do_mmap.max_map_count",
                          f"this process already has {mm.map_count} mappings (vm.max_map_count)")
    mtype = flags & MAP_TYPE
    notes: list[tuple[str, str, tuple[int, ...]]] = []
    addr = get_unmapped_area(k, mm, addr, length, flags, notes)
    if flags & MAP_FIXED_NOREPLACE and mm.overlapping(addr, addr + length):
        raise KernelError(E.EEXIST, "do_mmap.fixed_noreplace",
                          f"MAP_FIXED_NOREPLACE: something is already mapped in {addr:#x}-"
                          f"{addr + length:#x}")
    vm_flags = VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC
    vm_flags |= (VM_READ if prot & PROT_READ else 0) | (VM_WRITE if prot & PROT_WRITE else 0) | (
        VM_EXEC if prot & PROT_EXEC else 0)
    if flags & MAP_GROWSDOWN:
        vm_flags |= VM_GROWSDOWN
    if flags & MAP_LOCKED:
        vm_flags |= VM_LOCKED
    kind = "anon"
    pfn_base = None
    if file is not None:
        if mtype == MAP_SHARED or mtype == MAP_SHARED_VALIDATE:
            if mtype == MAP_SHARED_VALIDATE and flags & ~(LEGACY_MAP_MASK | MAP_FIXED_NOREPLACE):
                raise KernelError(E.EOPNOTSUPP, "do_mmap.shared_validate_unknown_flags",
                                  "MAP_SHARED_VALIDATE: a flag this file cannot honour was passed")
            check_shared_file_modes(file, prot, "do_mmap")
            vm_flags |= VM_SHARED | VM_MAYSHARE
            if not file.f_mode & FMODE_WRITE:
                vm_flags &= ~(VM_MAYWRITE | VM_SHARED)
        elif mtype != MAP_PRIVATE:
            raise KernelError(E.EINVAL, "do_mmap.map_type",
                              f"the mapping type in flags is {mtype:#x}; it must be MAP_PRIVATE, "
                              "MAP_SHARED or MAP_SHARED_VALIDATE")
        if not file.f_mode & FMODE_READ:
            raise KernelError(E.EACCES, "do_mmap.not_open_for_read",
                              f"{file.path} was opened without read access; every mapping needs "
                              "it, open it O_RDONLY or O_RDWR")
        if file.inode.sb.noexec:
            if vm_flags & VM_EXEC:
                raise KernelError(E.EPERM, "do_mmap.noexec_mount",
                                  f"{file.path} lies on a filesystem mounted noexec; drop PROT_EXEC")
            vm_flags &= ~VM_MAYEXEC
        if file.fops.mmap is None:
            raise KernelError(E.ENODEV, "do_mmap.no_mmap_method", no_mmap_method_refusal(file))
        if vm_flags & VM_GROWSDOWN:
            raise KernelError(E.EINVAL, "do_mmap.growsdown_file",
                              "MAP_GROWSDOWN is for anonymous stacks, not files")
        kind, extra, pfn_base = mmu_file_mmap(k, file, vm_flags, pgoff, length, addr)
        vm_flags |= extra
    else:
        if mtype == MAP_SHARED or mtype == MAP_SHARED_VALIDATE:
            if vm_flags & VM_GROWSDOWN:
                raise KernelError(E.EINVAL, "do_mmap.growsdown_shared",
                                  "MAP_GROWSDOWN cannot be shared")
            pgoff = 0
            vm_flags |= VM_SHARED | VM_MAYSHARE
            kind = "shmem"
        elif mtype == MAP_PRIVATE:
            pgoff = addr >> k.mem.page_shift
        else:
            raise KernelError(E.EINVAL, "do_mmap.map_type",
                              f"the mapping type in flags is {mtype:#x}; it must be MAP_PRIVATE, "
                              "MAP_SHARED or MAP_SHARED_VALIDATE")
    if kind == "shmem":
        vm_flags |= VM_SHARED | VM_MAYSHARE
    if accountable(vm_flags, flags, k.overcommit_memory):
        replaced = 0
        if flags & MAP_FIXED:
            for v in mm.overlapping(addr, addr + length):
                if accountable(v.vm_flags, 0, k.overcommit_memory):
                    replaced += (min(v.vm_end, addr + length) - max(v.vm_start, addr)) // ps
        vm_enough_memory(k, length // ps - replaced, f"a private writable mapping of {length} bytes")
    populate = bool(flags & MAP_POPULATE) and not flags & MAP_NONBLOCK

    # ---- nothing can fail from here on ----
    for rule, template, args in notes:
        k.trace.emit(EventKind.DECISION, rule, template, *args)
    if flags & MAP_UNINITIALIZED:
        k.trace.emit(EventKind.DECISION, "do_mmap.map_uninitialized_ignored",
                     "MAP_UNINITIALIZED means nothing with an MMU (it needs CONFIG_MMU=n): "
                     "untouched pages read as zeroes and each frame is cleared on first write")
    if flags & MAP_FIXED:
        old = carve(k, mm, addr, addr + length)
        if old:
            pages = freed = 0
            for v in old:
                c, f = remove_vma(k, mm, v)
                pages += c
                freed += f
            k.trace.emit(EventKind.DECISION, "mmap_region.map_fixed_unmap",
                         "MAP_FIXED replaces what was mapped there: {:n VMA} unmapped first "
                         "({:n page was|pages were} present, {:n frame} freed)", len(old),
                         pages, freed)
    vma = MmuVma(k.next_id(), addr, addr + length, vm_flags, pgoff, None, kind=kind)
    if kind == "shmem":
        vma.vm_file = k.shmem_zero_setup(length)
        vma.vm_pgoff = 0
        k.fget(vma.vm_file)
    elif file is not None:
        vma.vm_file = file
        k.fget(file)
    if kind == "pfn":
        assert pfn_base is not None
        vma.pfn_base = pfn_base
        if is_cow_mapping(vm_flags):
            # remap_pfn_range marks a COW mapping's original frames by vm_pgoff = pfn,
            # so /proc/PID/maps shows the device's physical address as the offset
            vma.vm_pgoff = k.mem.pfn_to_addr(pfn_base) >> k.mem.page_shift
    mm.add(vma)
    mm.total_vm += length // ps
    what = _describe(vma)
    k.trace.emit(EventKind.VMA, "mmap_region",
                 "VMA {:#x}-{:#x} {} for {}: {}", addr, addr + length, perms(vm_flags), what,
                 "device memory, every page mapped now" if kind == "pfn" else
                 "no frame is taken yet; pages arrive on first touch (demand paging)")
    if kind == "pfn":
        remap_pfn_range(k, mm, vma)
    vma = vma_merge(k, mm, vma)
    if populate:
        mm_populate(k, task, addr, length)
    return addr


def _describe(vma: MmuVma) -> str:
    if vma.kind == "shmem":
        return "shared anonymous memory (a shmem object: it survives fork as one copy)"
    if vma.kind == "anon":
        return "private anonymous memory"
    assert vma.vm_file is not None
    return vma.vm_file.path + (" (shared)" if vma.shared else " (private)")


def remap_pfn_range(k: MmuKernel, mm: MmuMm, vma: MmuVma) -> None:
    """``remap_pfn_range``: every page of a device mapping gets its entry now."""
    assert vma.pfn_base is not None
    shift = k.mem.page_shift
    write = bool(vma.vm_flags & VM_WRITE) and vma.shared
    for i, vpn in enumerate(range(vma.vm_start >> shift, vma.vm_end >> shift)):
        set_pte(k, mm, vpn, vma.pfn_base + i, write, special=True)
    k.trace.emit(EventKind.DECISION, "remap_pfn_range",
                 "{:n device page} at physical {:#x} mapped at {:#x}: the frames belong to the "
                 "device, the process sees them at a virtual address",
                 (vma.vm_end - vma.vm_start) >> shift, k.mem.pfn_to_addr(vma.pfn_base), vma.vm_start)


def mm_populate(k: MmuKernel, task: MmuProcess, addr: int, length: int) -> None:
    """``__mm_populate`` (MAP_POPULATE, mlock): fault every page in now; writable private
    pages with a write fault, so copy-on-write is broken up front. Stops quietly when RAM
    runs out.

    A read fault on anonymous memory maps the zero page and takes no frame, but Linux
    needs page-table pages for every entry, which the model does not charge. So one
    populate makes at most as many entries as the machine has frames: past that a real
    machine this size would be out of memory for page tables (the trace says so).
    """
    from .fault import handle_mm_fault

    mm = task.mm
    ps = k.page_size
    done = 0
    if length // ps > k.mem.nr_pages:
        k.trace.emit(EventKind.DECISION, "mm_populate.page_table_limit",
                     "{} pages asked for: the model populates at most {} (as many as the "
                     "machine has frames); Linux would need page-table pages for the rest and "
                     "run out of memory", length // ps, k.mem.nr_pages)
        length = k.mem.nr_pages * ps
    for va in range(addr, addr + length, ps):
        vma = mm.vma_lookup(va)
        if vma is None or vma.pfnmap:
            continue
        write = (vma.vm_flags & (VM_WRITE | VM_SHARED)) == VM_WRITE
        if not write and not vma.readable:
            continue
        if vma.vm_file is not None and not vma.anonymous:
            size = file_size(vma.vm_file.inode)
            if vma.file_index(va, k.mem.page_shift) >= (size + ps - 1) // ps:
                break
        if frames_needed(k, mm, vma, va, write) > k.mem.nr_free:
            break
        handle_mm_fault(k, mm, vma, va, write)
        done += 1
    k.trace.emit(EventKind.DECISION, "mm_populate",
                 "MAP_POPULATE: {:n page} faulted in at mmap time instead of on first touch", done)


# ---------------------------------------------------------------------------
# munmap
# ---------------------------------------------------------------------------
def munmap_check(k: MmuKernel, mm: MmuMm, start: int, length: int) -> tuple[int, list[MmuVma]]:
    """The checks of ``do_vmi_munmap``, changing nothing: returns (end, VMAs in the range).

    ``mremap_to`` asks here before it unmaps anything, so that a refusal found
    late changes nothing.
    """
    ps = k.page_size
    if start % ps or start > TASK_SIZE or length > TASK_SIZE - start:
        raise KernelError(E.EINVAL, "do_vmi_munmap.bad_range",
                          f"munmap({start:#x}, {length:#x}): the start must be page aligned and "
                          "the range inside the user address space")
    length = page_align(length, ps)
    if length == 0:
        raise KernelError(E.EINVAL, "do_vmi_munmap.zero_length", "munmap of length 0 is refused")
    end = start + length
    found = mm.overlapping(start, end)
    if (len(found) == 1 and found[0].vm_start < start and end < found[0].vm_end
            and mm.map_count >= k.max_map_count):
        raise KernelError(E.ENOMEM, "do_vmi_align_munmap.max_map_count",
                          "punching a hole needs one more VMA than vm.max_map_count allows")
    return end, found


def do_munmap(k: MmuKernel, task: MmuProcess, start: int, length: int) -> None:
    """``__vm_munmap`` → ``do_vmi_munmap``: any page range; unmapping nothing is fine."""
    mm = task.mm
    end, found = munmap_check(k, mm, start, length)
    if not found:
        k.trace.emit(EventKind.DECISION, "do_vmi_munmap.nothing_mapped",
                     "nothing is mapped in {:#x}-{:#x}: with an MMU that is not an error", start, end)
        return
    pages = freed = 0
    victims = carve(k, mm, start, end)
    for v in victims:
        c, f = remove_vma(k, mm, v)
        pages += c
        freed += f
    k.trace.emit(EventKind.FREE, "do_vmi_munmap",
                 "unmapped {:#x}-{:#x} ({:n VMA piece}): {:n page-table entry|page-table entries} cleared, {:n frame} freed", start, end,
                 len(victims),
                 pages, freed)


# ---------------------------------------------------------------------------
# mprotect
# ---------------------------------------------------------------------------
def do_mprotect(k: MmuKernel, task: MmuProcess, start: int, length: int, prot: int) -> None:
    """``do_mprotect_pkey``: change the protection of whole pages, splitting VMAs.

    Linux changes VMA after VMA and can stop half way on an error; the model
    checks every VMA first, so a refused call changes nothing.
    """
    mm = task.mm
    ps = k.page_size
    if start % ps:
        raise KernelError(E.EINVAL, "do_mprotect_pkey.unaligned",
                          f"{start:#x} is not page aligned")
    if prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | 0x8 | 0x01000000 | 0x02000000):
        raise KernelError(E.EINVAL, "do_mprotect_pkey.bad_prot", f"prot {prot:#x} has unknown bits")
    length = page_align(length, ps)
    end = start + length
    if end < start:
        raise KernelError(E.ENOMEM, "do_mprotect_pkey.wraps", "the range wraps around")
    if length == 0:
        return
    if prot & PROT_READ and task.personality & READ_IMPLIES_EXEC:
        prot |= PROT_EXEC
    want = (VM_READ if prot & PROT_READ else 0) | (VM_WRITE if prot & PROT_WRITE else 0) | (
        VM_EXEC if prot & PROT_EXEC else 0)
    found = mm.overlapping(start, end)
    cursor = start
    for v in found:
        if v.vm_start > cursor:
            break
        cursor = v.vm_end
    if not found or found[0].vm_start > start or cursor < end:
        hole = start if not found or found[0].vm_start > start else cursor
        raise KernelError(E.ENOMEM, "do_mprotect_pkey.unmapped",
                          f"{hole:#x} is not mapped: mprotect covers only mapped pages, with no holes")
    for v in found:
        newflags = (v.vm_flags & ~(VM_READ | VM_WRITE | VM_EXEC)) | want
        if (newflags & ~(newflags >> 4)) & (VM_READ | VM_WRITE | VM_EXEC):
            raise KernelError(E.EACCES, "do_mprotect_pkey.may_flags",
                              f"the mapping {v.vm_start:#x}-{v.vm_end:#x} may never be "
                              f"{perms(newflags)[:3]}: a shared mapping of a file opened read-only "
                              "cannot become writable (VM_MAYWRITE is clear)")
        if (newflags & VM_WRITE and not v.vm_flags & VM_WRITE
                and accountable(newflags, 0, k.overcommit_memory)):
            vm_enough_memory(k, (min(v.vm_end, end) - max(v.vm_start, start)) // ps,
                             "making a private mapping writable")
    # ---- commit ----
    shift = k.mem.page_shift
    changed = 0
    for v in carve(k, mm, start, end):
        v.vm_flags = (v.vm_flags & ~(VM_READ | VM_WRITE | VM_EXEC)) | want
        for vpn in mm.ptes_in(v.vm_start >> shift, v.vm_end >> shift):
            pte = mm.pte[vpn]
            if not want & VM_WRITE:
                pte.write = False
            elif v.shared and not pte.special:
                pte.write = True
        changed += 1
        vma_merge(k, mm, v)
    k.trace.emit(EventKind.DECISION, "mprotect_fixup",
                 "{:#x}-{:#x} is now {}: the page-table entries say so, and the MMU will enforce "
                 "it on every access ({:n VMA} changed)", start, end, perms(want)[:3], changed)


# ---------------------------------------------------------------------------
# mremap
# ---------------------------------------------------------------------------
def vma_to_resize(k: MmuKernel, mm: MmuMm, addr: int, old_len: int, new_len: int,
                  flags: int) -> MmuVma:
    """``vma_to_resize``: the VMA holding ``[addr, addr+old_len)``, if it may change size."""
    vma = mm.vma_lookup(addr)
    if vma is None:
        raise KernelError(E.EFAULT, "vma_to_resize.no_vma",
                          f"nothing is mapped at {addr:#x}")
    if flags & MREMAP_DONTUNMAP and vma.vm_flags & (VM_DONTEXPAND | VM_PFNMAP):
        raise KernelError(E.EINVAL, "vma_to_resize.dontunmap_special",
                          "MREMAP_DONTUNMAP cannot be used on device memory")
    if old_len > vma.vm_end - addr:
        raise KernelError(E.EFAULT, "vma_to_resize.beyond_vma",
                          f"{addr:#x}+{old_len:#x} runs past the end of the mapping at "
                          f"{vma.vm_start:#x}-{vma.vm_end:#x}")
    if new_len == old_len:
        return vma
    if new_len > old_len and vma.vm_flags & (VM_DONTEXPAND | VM_PFNMAP):
        raise KernelError(E.EFAULT, "vma_to_resize.dontexpand",
                          "device memory mappings (VM_DONTEXPAND) cannot grow")
    return vma


def do_mremap(k: MmuKernel, task: MmuProcess, addr: int, old_len: int, new_len: int, flags: int,
              new_addr: int) -> int:
    """``mremap``: shrink in place, grow in place when the space above is free, else move.

    Moving (MREMAP_MAYMOVE) moves page-table entries, never data: the frames
    stay where they are and appear at the new virtual address.
    """
    mm = task.mm
    ps = k.page_size
    if flags & ~(MREMAP_FIXED | MREMAP_MAYMOVE | MREMAP_DONTUNMAP):
        raise KernelError(E.EINVAL, "mremap.unknown_flags", f"unknown mremap flags {flags:#x}")
    if flags & MREMAP_FIXED and not flags & MREMAP_MAYMOVE:
        raise KernelError(E.EINVAL, "mremap.fixed_needs_maymove",
                          "MREMAP_FIXED needs MREMAP_MAYMOVE too")
    if flags & MREMAP_DONTUNMAP and (not flags & MREMAP_MAYMOVE or old_len != new_len):
        raise KernelError(E.EINVAL, "mremap.dontunmap",
                          "MREMAP_DONTUNMAP needs MREMAP_MAYMOVE and an unchanged length")
    if addr % ps:
        raise KernelError(E.EINVAL, "mremap.unaligned", f"{addr:#x} is not page aligned")
    old_len = page_align(old_len, ps)
    new_len = page_align(new_len, ps)
    if new_len == 0 or old_len == 0:
        raise KernelError(E.EINVAL, "mremap.zero_length",
                          "mremap needs non-zero lengths (the model does not duplicate shared "
                          "mappings with old_len 0)")
    if mm.vma_lookup(addr) is None:
        raise KernelError(E.EFAULT, "vma_to_resize.no_vma", f"nothing is mapped at {addr:#x}")
    if flags & (MREMAP_FIXED | MREMAP_DONTUNMAP):
        return _mremap_to(k, task, addr, old_len, new_len, flags, new_addr)
    if old_len >= new_len:
        if old_len > new_len:
            do_munmap(k, task, addr + new_len, old_len - new_len)
        k.trace.emit(EventKind.VMA, "mremap.shrink",
                     "shrunk in place: {:#x} now maps {:#x} bytes; the tail's frames are freed",
                     addr, new_len)
        return addr
    vma = vma_to_resize(k, mm, addr, old_len, new_len, flags)
    delta = new_len - old_len
    if accountable(vma.vm_flags, 0, k.overcommit_memory):
        vm_enough_memory(k, delta // ps, "growing a private writable mapping")
    if old_len == vma.vm_end - addr and addr + new_len <= TASK_SIZE and range_is_free(
            k, mm, vma.vm_end, vma.vm_end + delta):
        old_end = vma.vm_end
        mm.rekey(vma, vma.vm_start, vma.vm_end + delta)
        mm.total_vm += delta // ps
        k.trace.emit(EventKind.VMA, "mremap.expand_in_place",
                     "the {:#x} bytes above {:#x} are free: the mapping grows in place to "
                     "{:#x}-{:#x}", delta, old_end, vma.vm_start, vma.vm_end)
        vma_merge(k, mm, vma)
        return addr
    if not flags & MREMAP_MAYMOVE:
        raise KernelError(E.ENOMEM, "mremap.no_room",
                          f"something is mapped just above {vma.vm_end:#x}, so the mapping cannot "
                          "grow in place; pass MREMAP_MAYMOVE to let the kernel move it")
    if mm.map_count >= k.max_map_count - 3:
        raise KernelError(E.ENOMEM, "move_vma.max_map_count", "too many mappings to move one")
    target = get_unmapped_area(k, mm, 0, new_len, 0, [])
    return move_vma(k, mm, vma, addr, old_len, new_len, target, dontunmap=False)


def _mremap_to(k: MmuKernel, task: MmuProcess, addr: int, old_len: int, new_len: int,
               flags: int, new_addr: int) -> int:
    """``mremap_to``: MREMAP_FIXED (move to ``new_addr``) or MREMAP_DONTUNMAP.

    Linux unmaps the target range, then cuts the old tail, and only then asks
    ``vma_to_resize`` whether the move is possible: a late refusal leaves the
    target (and the tail) unmapped. The model makes every check first, in
    Linux's order, and changes nothing when one fails; the trace says what
    Linux would have left behind.
    """
    mm = task.mm
    ps = k.page_size
    if flags & MREMAP_FIXED:
        if new_addr % ps:
            raise KernelError(E.EINVAL, "mremap_to.unaligned", f"{new_addr:#x} is not page aligned")
        if new_len > TASK_SIZE or new_addr > TASK_SIZE - new_len:
            raise KernelError(E.EINVAL, "mremap_to.beyond_task_size",
                              "the new range runs past the user address space")
        # unsigned long arithmetic: addr + old_len may wrap (old_len = -PAGE_SIZE, say)
        if (addr + old_len) & ULONG > new_addr and new_addr + new_len > addr:
            raise KernelError(E.EINVAL, "mremap_to.overlap",
                              "the old and new ranges overlap")
    if mm.map_count + 2 >= k.max_map_count - 3:
        raise KernelError(E.ENOMEM, "mremap_to.max_map_count",
                          "moving could split two mappings: too close to vm.max_map_count")
    # what Linux would have unmapped by the time each later check runs
    undone: list[str] = []

    def refuse(e: KernelError) -> KernelError:
        if undone:
            k.trace.emit(EventKind.HAZARD, "mremap_to.linux_partial_effect",
                         "Linux 6.12 had already unmapped {} when it found this error, and does "
                         "not map them back; the model checks first and changes nothing",
                         " and ".join(undone))
        return e

    if flags & MREMAP_FIXED:
        _end, hit = munmap_check(k, mm, new_addr, new_len)
        if hit:
            undone.append(f"the target {new_addr:#x}-{new_addr + new_len:#x}")
    if old_len > new_len:
        try:
            _end, hit = munmap_check(k, mm, addr + new_len, old_len - new_len)
        except KernelError as e:
            raise refuse(e) from None
        if hit:
            undone.append(f"the old tail {addr + new_len:#x}-{addr + old_len:#x}")
    length = min(old_len, new_len)
    try:
        vma_to_resize(k, mm, addr, length, new_len, flags)
    except KernelError as e:
        raise refuse(e) from None
    # ---- nothing can fail from here on ----
    if flags & MREMAP_FIXED:
        target = new_addr
        if mm.overlapping(new_addr, new_addr + new_len):
            for v in carve(k, mm, new_addr, new_addr + new_len):
                remove_vma(k, mm, v)
            k.trace.emit(EventKind.DECISION, "mremap_to.unmap_target",
                         "MREMAP_FIXED: whatever was mapped at {:#x}-{:#x} is unmapped first",
                         new_addr, new_addr + new_len)
    else:
        target = get_unmapped_area(k, mm, 0, new_len, 0, [])
    if old_len > new_len:
        do_munmap(k, task, addr + new_len, old_len - new_len)
    vma = mm.vma_lookup(addr)
    assert vma is not None
    return move_vma(k, mm, vma, addr, length, new_len, target,
                    dontunmap=bool(flags & MREMAP_DONTUNMAP))


def move_vma(k: MmuKernel, mm: MmuMm, vma: MmuVma, old_addr: int, old_len: int, new_len: int,
             new_addr: int, dontunmap: bool) -> int:
    """``move_vma`` + ``move_page_tables``: the entries move, the frames stay put."""
    shift = k.mem.page_shift
    # isolate [old_addr, old_addr + old_len) as its own VMA
    piece = carve(k, mm, old_addr, old_addr + old_len)
    assert len(piece) == 1, piece
    src = piece[0]
    dst = MmuVma(k.next_id(), new_addr, new_addr + new_len, src.vm_flags, src.vm_pgoff,
                 src.vm_file, src.anon_vma, src.pfn_base, src.name, src.kind)
    if src.vm_file is not None:
        k.fget(src.vm_file)
    moved = 0
    delta = (new_addr - old_addr) >> shift
    for vpn in mm.ptes_in(old_addr >> shift, (old_addr + old_len) >> shift):
        mm.pte[vpn + delta] = mm.pte.pop(vpn)
        moved += 1
    mm.add(dst)
    mm.total_vm += new_len >> shift
    if dontunmap:
        src.anon_vma = 0
    else:
        remove_vma(k, mm, src)
    k.trace.emit(EventKind.VMA, "move_vma",
                 "the mapping moves from {:#x} to {:#x}: {:n page-table entry|page-table entries} moved, no byte of "
                 "data copied{}", old_addr, new_addr,
                 moved,
                 "; the old range stays mapped, empty (MREMAP_DONTUNMAP)" if dontunmap else "")
    vma_merge(k, mm, dst)
    return new_addr


# ---------------------------------------------------------------------------
# fork
# ---------------------------------------------------------------------------
def dup_mmap(k: MmuKernel, parent: MmuMm, child: MmuMm) -> tuple[int, int]:
    """``dup_mmap`` + ``copy_page_range``: same VMAs; private pages shared copy-on-write.

    Entries are copied only for VMAs that have private (anonymous) pages or
    device memory; shared and untouched file mappings are refilled by faults.
    Every copied private entry is write-protected in *both* processes, so the
    first store by either one goes through ``do_wp_page``. Returns
    (entries copied, frames now shared copy-on-write).
    """
    copied = cow = 0
    child.mmap_base = parent.mmap_base
    for name in ("start_stack", "start_brk", "brk", "end_brk", "exe", "start_code", "end_code",
                 "entry", "total_vm"):
        setattr(child, name, getattr(parent, name))
    shift = k.mem.page_shift
    for v in parent.vmas:
        anon = 0
        if v.anon_vma:
            k.next_anon_vma += 1
            anon = k.next_anon_vma
        nv = MmuVma(k.next_id(), v.vm_start, v.vm_end, v.vm_flags, v.vm_pgoff, v.vm_file, anon,
                    v.pfn_base, v.name, v.kind)
        if v.vm_file is not None:
            k.fget(v.vm_file)
        child.add(nv)
        if not v.anon_vma and not v.pfnmap:
            continue
        for vpn in parent.ptes_in(v.vm_start >> shift, v.vm_end >> shift):
            pte = parent.pte[vpn]
            if not v.shared and pte.write:
                pte.write = False
            if not pte.special:
                cow += 1
            set_pte(k, child, vpn, pte.pfn, pte.write, pte.special)
            copied += 1
    return copied, cow


def access_remote(k: MmuKernel, target: MmuProcess, addr: int, n: int, data: bytes | None) -> bytes:
    """``access_remote_vm`` with ``FOLL_FORCE`` (ptrace): a debugger may write into a
    read-only private mapping; the kernel then breaks copy-on-write for it."""
    try:
        return access_vm(k, target.mm, addr, n, data, True, target.pid)
    except KernelError as e:
        if e.errno == E.ENOMEM:
            raise
        raise KernelError(E.EIO, "access_remote_vm." + e.rule.split(".")[-1], e.sentence) from None
