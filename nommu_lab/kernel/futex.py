"""Futexes on no-MMU (``kernel/futex``).

Since Linux 4.5 every futex on no-MMU is private and ``get_futex_key`` looks
at no VMA at all; since 6.7 the key is the address alone (no mm), so two
processes using the same physical address meet. The only errors left are an
unaligned address (EINVAL) and the usual value mismatch (EAGAIN). The
document's rules (EFAULT outside a mapping, EPERM on an I/O mapping) are from
2.6-era kernels.
"""

from __future__ import annotations

import errno as E
import struct
from typing import TYPE_CHECKING

from .constants import FUTEX_CMD_MASK, FUTEX_WAIT, FUTEX_WAKE
from .errors import KernelError
from .trace import EventKind

if TYPE_CHECKING:
    from .kernel import Kernel
    from .process import Process


def do_futex(k: Kernel, task: Process, addr: int, op: int, val: int, timeout: int | None) -> int:
    """``do_futex`` for WAIT and WAKE."""
    cmd = op & FUTEX_CMD_MASK
    if cmd not in (FUTEX_WAIT, FUTEX_WAKE):
        raise KernelError(E.ENOSYS, "do_futex.op", f"futex op {op} is not modelled (WAIT and WAKE are)")
    if addr % 4:
        raise KernelError(E.EINVAL, "get_futex_key.unaligned",
                          f"{addr:#x} is not 4-byte aligned; a futex is a 32-bit word")
    if task.mm.find_vma(addr) is None:
        k.trace.emit(EventKind.DECISION, "get_futex_key.no_vma_check",
                     "{:#x} is not inside any mapping of this process; since Linux 4.5 no-MMU "
                     "futexes are all private and no VMA is looked up, so this is not an error "
                     "(the document's EFAULT rule is from 2.6)", addr)
    if cmd == FUTEX_WAKE:
        waiters = k.futex_waiters.get(addr, [])
        n = max(1, val)  # futex_wake wakes one before it compares with nr_wake
        woken = waiters[:n]
        del waiters[:n]
        if not waiters:
            k.futex_waiters.pop(addr, None)
        for w in woken:
            w.futex_wait = None
        k.trace.emit(EventKind.DECISION, "futex_wake",
                     "woke {:n waiter} on {:#x} (key: the address alone, since 6.7)", len(woken),
                     addr)
        return len(woken)
    if not k.addressable(addr, 4):
        k.trace.emit(EventKind.HAZARD, "kernel_bug.5.futex_on_nothing",
                     "nothing answers at {:#x}: Linux 6.12 oopses here; the model returns EFAULT", addr)
        raise KernelError(E.EFAULT, "futex_wait.fault", f"nothing can be read at {addr:#x}")
    (cur,) = struct.unpack("<i", k.phys_read(addr, 4))
    if cur != val:
        raise KernelError(E.EAGAIN, "futex_wait.value_changed",
                          f"the word at {addr:#x} is {cur}, not {val}: the wait returns at once")
    if timeout is not None:
        raise KernelError(E.ETIMEDOUT, "futex_wait.timeout",
                          "nobody woke the waiter before the timeout")
    task.futex_wait = addr
    k.futex_waiters.setdefault(addr, []).append(task)
    k.trace.emit(EventKind.DECISION, "futex_wait", "process {} sleeps on {:#x}", task.pid, addr)
    return 0
