"""Small helpers the exercises share: finding a VMA, measuring a charge, catching a refusal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..kernel.errors import KernelError

PS = 4096


def vma_at(p: Any, addr: Any) -> Any:
    """The VMA of process ``p`` that contains ``addr`` (``p.vmas()``), or None."""
    if not isinstance(addr, int) or isinstance(addr, bool):
        return None
    return next((v for v in p.vmas() if v.start <= addr < v.end), None)


def mmap_copy_pages(k: Any) -> int:
    """Pages the kernel holds for copies and anonymous memory (``MmapCopy`` of /proc/meminfo)."""
    return k.meminfo()["MmapCopy"] * 1024 // k.page_size


def outcome(call: Callable[[], Any]) -> Any:
    """What a call gives: its value, or the :class:`KernelError` that refused it."""
    try:
        return call()
    except KernelError as e:
        return e


def read(p: Any, addr: int, n: int) -> bytes | None:
    """``p.peek(addr, n)``, or None if nothing answers there."""
    try:
        return p.peek(addr, n)
    except KernelError:
        return None


def is_int(v: Any) -> bool:
    """An int that is not a bool (``True`` is not an address)."""
    return isinstance(v, int) and not isinstance(v, bool)


def hexa(v: Any) -> str:
    """An address as hex, or whatever the learner gave, shown as it is."""
    return f"{v:#x}" if is_int(v) else repr(v)
