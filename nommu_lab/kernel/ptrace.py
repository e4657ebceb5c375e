"""``access_process_vm`` on no-MMU: how a debugger reads and writes a process.

The VMA must *contain* the address (one VMA per call, the length clamped to
its end), and the access needs the mapping's ``VM_MAYREAD``/``VM_MAYWRITE``,
not ``VM_READ``/``VM_WRITE``. Direct ROM mappings (XIP text) lack
``VM_MAYWRITE``, so breakpoints cannot be planted in them; and because a
read-only private file mapping may be shared with other processes, a task
traced *before* it maps one gets an unshared copy instead.
"""

from __future__ import annotations

import errno as E
from typing import TYPE_CHECKING

from .constants import VM_MAYREAD, VM_MAYWRITE
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
        raise KernelError(E.EIO, "access_remote_vm.may_flags",
                          f"the mapping at {vma.vm_start:#x} lacks VM_MAY{'WRITE' if write else 'READ'}: "
                          + ("it is mapped directly from ROM, which a debugger cannot patch"
                             if write else "it cannot be read"))
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
