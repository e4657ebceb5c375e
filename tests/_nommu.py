"""Shared helpers for the no-MMU model tests (not a test module).

``refused`` is the heart of the error tests: it runs a call that the real
kernel refuses, checks the errno (and the rule id when given), and proves
with ``Kernel.state_digest`` that the refusal changed nothing at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import nommu_lab as nl
from nommu_lab.constants import *

PS = 4096
RAM_BASE = 0x8000_0000
FLASH_BASE = 0x2000_0000
ANON = MAP_PRIVATE | MAP_ANONYMOUS
RW = PROT_READ | PROT_WRITE
RX = PROT_READ | PROT_EXEC


def board(**kw: Any) -> nl.Kernel:
    """The default board (nommu_lab.boards.default)."""
    return nl.boards.default(**kw)


def refused(k: nl.Kernel, fn: Callable[..., Any], *args: Any, errno: int,
            rule: str | None = None) -> nl.KernelError:
    """Call ``fn(*args)``; it must raise KernelError(errno) and change nothing."""
    before = k.state_digest()
    with pytest.raises(nl.KernelError) as ei:
        fn(*args)
    e = ei.value
    assert e.errno == errno, f"expected {errno_name(errno)}, got {e}"
    if rule is not None:
        assert e.rule == rule, f"expected rule {rule}, got {e.rule}"
    assert k.state_digest() == before, f"refused call changed the kernel: {e}"
    k.check()
    return e


def errno_name(n: int) -> str:
    import errno as E

    return E.errorcode.get(n, str(n))


def region_of(k: nl.Kernel, addr: int):
    """The RegionInfo whose [start, end) contains addr."""
    for r in k.regions():
        if r.start <= addr < max(r.end, r.top):
            return r
    raise AssertionError(f"no region at {addr:#x}")


def mmap_copy_kb(k: nl.Kernel) -> int:
    return k.meminfo()["MmapCopy"]


def make_shm_file(p: nl.Process, path: str, size: int) -> int:
    """open(O_CREAT|O_RDWR) + ftruncate from size 0: contiguous ramfs pages."""
    fd = p.open(path, O_CREAT | O_RDWR)
    p.ftruncate(fd, size)
    return fd


def make_written_file(p: nl.Process, path: str, data: bytes) -> int:
    """A ramfs file filled with write(): pages taken one at a time."""
    fd = p.open(path, O_CREAT | O_RDWR)
    p.write(fd, data)
    return fd
