"""Calls are worded as a person writes them: every argument, flags by name."""

from __future__ import annotations

from _nommu import ANON, PS, RW, board

from nommu_lab.constants import *
from nommu_lab.kernel.callfmt import (
    clone_flag_names,
    format_call,
    futex_op_name,
    ipc_flag_names,
    map_flag_names,
    open_flag_names,
    prot_names,
)


def test_mmap_gets_every_argument_and_named_flags():
    assert format_call("mmap", (0, 0x3000, 3, 34)) == (
        "mmap(0, 0x3000, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)")
    assert format_call("mmap", (0, 4096, PROT_READ, MAP_SHARED, 3), {"offset": 8192}) == (
        "mmap(0, 0x1000, PROT_READ, MAP_SHARED, 3, 0x2000)")


def test_flag_words():
    assert prot_names(0) == "PROT_NONE"
    assert prot_names(PROT_READ | PROT_EXEC | 0x10) == "PROT_READ|PROT_EXEC|0x10"
    assert map_flag_names(MAP_PRIVATE | MAP_ANONYMOUS | MAP_UNINITIALIZED) == (
        "MAP_PRIVATE|MAP_ANONYMOUS|MAP_UNINITIALIZED")
    assert map_flag_names(MAP_ANONYMOUS) == "MAP_ANONYMOUS"  # no type: visibly missing
    assert map_flag_names(MAP_SHARED_VALIDATE | MAP_FIXED) == "MAP_SHARED_VALIDATE|MAP_FIXED"
    assert open_flag_names(O_RDONLY) == "O_RDONLY"
    assert open_flag_names(O_RDWR | O_CREAT | O_TRUNC) == "O_RDWR|O_CREAT|O_TRUNC"
    assert clone_flag_names(CLONE_VM | CLONE_VFORK | SIGCHLD) == "CLONE_VM|CLONE_VFORK|SIGCHLD"
    assert clone_flag_names(0) == "0"
    assert ipc_flag_names(IPC_CREAT | 0o600) == "IPC_CREAT|0o600"
    assert futex_op_name(FUTEX_WAKE | FUTEX_PRIVATE_FLAG) == "FUTEX_WAKE|FUTEX_PRIVATE_FLAG"


def test_negative_and_odd_arguments_are_shown_as_passed():
    assert format_call("munmap", (-4096, -1)) == "munmap(-4096, -1)"
    assert format_call("mmap", ("x", 1, 2)) == "mmap('x', 0x1, PROT_WRITE)"
    # a call that does not fit its signature is shown exactly as made
    assert format_call("munmap", (1, 2, 3)) == "munmap(1, 2, 3)"
    assert format_call("fork", ()) == "fork()"


def test_the_trace_words_syscalls_the_same_way():
    k = board()
    p = k.spawn()
    a = p.mmap(0, 3 * PS, RW, ANON)
    p.mremap(a, 3 * PS, PS, flags=MREMAP_MAYMOVE)
    calls = [e.text for e in k.trace if e.kind == "syscall"]
    assert calls == ["mmap(0, 0x3000, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)",
                     f"mremap({a:#x}, 0x3000, 0x1000, MREMAP_MAYMOVE, 0)"]
