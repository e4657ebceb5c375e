"""``access_process_vm`` on no-MMU: how a debugger reads and writes a process.

The VMA must *contain* the address (one VMA per call, the length clamped to
its end), and the access needs the mapping's ``VM_MAYREAD``/``VM_MAYWRITE``,
not ``VM_READ``/``VM_WRITE``. A private mapping of a direct-capable file
takes its ``VM_MAY*`` bits from the capability word (``determine_vm_flags``),
so direct ROM mappings (XIP text) lack ``VM_MAYWRITE`` and breakpoints cannot
be planted in them; so does a RAM copy made of such a file, whose bits were
decided before the copy was. And because a read-only private file mapping may
be shared with other processes, a task traced *before* it maps one gets an
unshared copy instead.
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING

from .constants import VM_MAPPED_COPY, VM_MAYREAD, VM_MAYWRITE
from .errors import KernelError
from .trace import EventKind

if TYPE_CHECKING:
    from .kernel import Kernel
    from .process import Process


def access_process_vm(k: Kernel, target: Process, addr: int, n: int, data: bytes | None) -> bytes:
    """``__access_remote_vm``: read n bytes, or write ``data``; EIO when nothing moves."""
    vma = target.mm.find_vma(addr)
    write = data is not None
    need = VM_MAYWRITE if write else VM_MAYREAD
    if vma is None:
        raise KernelError(E.EIO, "access_remote_vm.no_vma",
                          f"{addr:#x} is not inside any mapping of process {target.pid}")
    if not vma.vm_flags & need:
        bit = "WRITE" if write else "READ"
        what = vma.vm_file.path if vma.vm_file is not None else "its backing device"
        how = (f"a copy in RAM, but its VM_MAY bits came from the capability word of {what}, "
               f"which lacks NOMMU_MAP_{bit}" if vma.vm_flags & VM_MAPPED_COPY else
               f"{what} mapped in place, and its capability word lacks NOMMU_MAP_{bit}")
        raise KernelError(E.EIO, "access_remote_vm.may_flags",
                          f"the mapping at {vma.vm_start:#x} lacks VM_MAY{bit}: it is {how}, so "
                          f"a debugger cannot {'write to' if write else 'read'} it (no breakpoint "
                          "can be planted there)" if write else
                          f"the mapping at {vma.vm_start:#x} lacks VM_MAY{bit}: it is {how}, so "
                          "a debugger cannot read it")
    if vma.vm_end - addr < n:
        # generic_ptrace_peekdata/pokedata: anything short of a whole word is EIO
        raise KernelError(E.EIO, "generic_ptrace_peekdata.short",
                          f"only {vma.vm_end - addr} of {n} bytes lie inside the mapping at "
                          f"{vma.vm_start:#x}: one access never crosses a VMA's end")
    if write:
        assert data is not None
        k.phys_write(addr, data[:n])
        if vma.vm_region.vm_usage > 1:
            k.trace.emit(EventKind.HAZARD, "access_remote_vm.shared_region",
                         "this region is used by {} mappings: the poke changes it for all of them",
                         vma.vm_region.vm_usage)
        return b""
    return k.phys_read(addr, n)
