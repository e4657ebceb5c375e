"""One argument-conversion layer for both kernels (kernel/abi.py, issue 10 A4).

A call with an argument no C register could hold is refused before the
kernel is entered, the same way on the no-MMU and the MMU kernel: an
``ArgumentTypeError`` (rule ``abi.type``) for a wrong type, an
``ArgumentRangeError`` (``abi.range``) for an integer too wide. Both are
``KernelError`` s (EINVAL) and ``TypeError``/``ValueError``, and change nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from errno import EINVAL, ENOENT
from typing import Any

import pytest
from _nommu import board

import nommu_lab as nl
from nommu_lab.constants import *
from nommu_lab.kernel.abi import as_argv, cint, slong, ulong

KERNELS = ["nommu", "mmu"]


def make(kind: str) -> tuple[nl.Kernel, Any]:
    k = board(mmu=kind == "mmu")
    return k, k.spawn("p")


HOSTILE: list[tuple[str, str, Callable[[nl.Kernel, Any], Any]]] = [
    # (id, the abi rule, the call)
    ("execve_argv_int", "abi.type", lambda k, p: p.execve("/rom/bin/hello", 5)),
    ("execve_argv_str", "abi.type", lambda k, p: p.execve("/rom/bin/hello", "hello")),
    ("execve_argv_item", "abi.type", lambda k, p: p.execve("/rom/bin/hello", ["a", 7])),
    ("execve_argv_nul", "abi.range", lambda k, p: p.execve("/rom/bin/hello", ["a\0b"])),
    ("execve_path_int", "abi.type", lambda k, p: p.execve(3)),
    ("sysctl_name_int", "abi.type", lambda k, p: k.sysctl(5)),
    ("sysctl_value_str", "abi.type", lambda k, p: k.sysctl(next(iter(k.SYSCTLS)), "x")),
    ("sysctl_value_float", "abi.type", lambda k, p: k.sysctl(next(iter(k.SYSCTLS)), 1.5)),
    ("peek_too_much", "abi.range", lambda k, p: p.peek(0x8000_0000, 1 << 25)),
    ("peek_addr_str", "abi.type", lambda k, p: p.peek("0x80000000", 1)),
    ("peek_wider_than_a_register", "abi.range", lambda k, p: p.peek(1 << 64, 1)),
    ("spawn_name_int", "abi.type", lambda k, p: k.spawn(3)),
    ("poke_str", "abi.type", lambda k, p: p.poke(0x8000_0000, "x")),
    ("futex_op_wide", "abi.range", lambda k, p: p.futex(0x8000_0000, 1 << 40)),
    ("mtd_program_str", "abi.type", lambda k, p: k.mtd_program("0", b"\0")),
]


@pytest.mark.parametrize("kind", KERNELS)
@pytest.mark.parametrize("name,rule,call", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_abi_conversion_is_the_same_on_both_kernels(kind: str, name: str, rule: str,
                                                    call: Callable[..., Any]) -> None:
    """abi.py: the same wrong argument gets the same KernelError on both kernels, and a
    refused conversion changes nothing."""
    k, p = make(kind)
    before = k.state_digest()
    with pytest.raises(nl.KernelError) as ei:
        call(k, p)
    e = ei.value
    assert (e.errno, e.rule) == (EINVAL, rule), f"{name} on {kind}: {e!r}"
    assert isinstance(e, TypeError if rule == "abi.type" else ValueError)
    assert k.state_digest() == before


@pytest.mark.parametrize("kind,name,value", [
    ("nommu", "/proc/sys/vm/nr_trim_pages", 1),
    ("nommu", "proc/sys/vm/nr_trim_pages", 1),
    ("mmu", "/proc/sys/vm/max_map_count", 65530),
    ("mmu", "/proc/sys/vm/overcommit_memory", 0),
    ("mmu", "vm/overcommit_ratio", 50),
])
def test_sysctl_accepts_the_proc_sys_path(kind: str, name: str, value: int) -> None:
    """kernel/sysctl.c: a sysctl is a file under /proc/sys; both spellings name it."""
    k, _ = make(kind)
    assert k.sysctl(name) == value
    key = name.replace("/", ".").lstrip(".").removeprefix("proc.sys.")
    assert k.sysctl(key) == value


@pytest.mark.parametrize("kind,name,bad", [
    ("nommu", "vm.nr_trim_pages", -1),
    ("nommu", "vm.nr_trim_pages", 1 << 31),
    ("mmu", "vm.overcommit_memory", 3),
    ("mmu", "vm.max_map_count", -1),
])
def test_sysctl_proc_dointvec_minmax_range_is_einval(kind: str, name: str, bad: int) -> None:
    """proc_dointvec_minmax: a value outside [extra1, extra2] (or no C int) is EINVAL."""
    k, _ = make(kind)
    before = k.state_digest()
    with pytest.raises(nl.KernelError) as ei:
        k.sysctl(name, bad)
    assert ei.value.errno == EINVAL and ei.value.rule.endswith("_range")
    assert not isinstance(ei.value, TypeError | ValueError)
    assert k.state_digest() == before


def test_sysctl_of_the_other_kernel_is_enoent_with_the_reason() -> None:
    """vm.nr_trim_pages exists only without an MMU; vm.overcommit_memory only with one here."""
    k, _ = make("mmu")
    with pytest.raises(nl.KernelError) as ei:
        k.sysctl("/proc/sys/vm/nr_trim_pages")
    assert ei.value.errno == ENOENT and "only without an MMU" in ei.value.sentence
    k, _ = make("nommu")
    with pytest.raises(nl.KernelError) as ei:
        k.sysctl("vm.overcommit_memory", 1)
    assert ei.value.errno == ENOENT and ei.value.rule == "sysctl.unknown"


def test_register_conversions() -> None:
    """abi.py: unsigned long wraps, C int keeps the low 32 bits signed, argv defaults to [path]."""
    assert ulong(-1, "x") == (1 << 64) - 1
    assert ulong(True, "x") == 1
    assert cint((1 << 32) - 1, "x") == -1
    assert slong(-4096, "x") == slong((1 << 64) - 4096, "x") == -4096  # either spelling
    assert slong(1 << 63, "x") == -(1 << 63)
    with pytest.raises(ValueError):
        slong(1 << 64, "x")
    assert as_argv(None, "/rom/bin/hello") == ["/rom/bin/hello"]
    assert as_argv(["a", ""], "/p") == ["a", ""]
