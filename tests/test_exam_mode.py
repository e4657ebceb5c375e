"""Exam mode (``nl.boards.default(exam=True)``): a refused call keeps its errno
and its rule id, but the sentence that says what to do is replaced by the C
library's text for the errno, in the exception, its traceback and the trace.
Nothing else about the machine changes: same addresses, same state, same events."""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from typing import Any

import pytest

import nommu_lab as nl
from nommu_lab.constants import *

PS = 4096
ANON = MAP_PRIVATE | MAP_ANONYMOUS


def _fixed(k: nl.Kernel) -> None:
    k.spawn("a").mmap(0x8040_0000, PS, PROT_READ, ANON | MAP_FIXED, -1, 0)


def _shared_disk(k: nl.Kernel) -> None:
    p = k.spawn("a")
    p.mmap(0, PS, PROT_READ, MAP_SHARED, p.open("/mnt/disk/bin/hello", O_RDONLY), 0)


def _write_rdonly(k: nl.Kernel) -> None:
    p = k.spawn("a")
    fd = p.open("/dev/shm/x", O_CREAT | O_RDWR)
    p.ftruncate(fd, PS)
    p.mmap(0, PS, PROT_READ | PROT_WRITE, MAP_SHARED, p.open("/dev/shm/x", O_RDONLY), 0)


def _sysctl(k: nl.Kernel) -> None:  # a kernel call, not a syscall
    k.sysctl("vm.nr_trim_pages", -1)


REFUSALS: dict[str, Callable[[nl.Kernel], None]] = {
    "map_fixed": _fixed, "shared_disk": _shared_disk, "write_rdonly": _write_rdonly,
    "sysctl": _sysctl,
}


def _refusal(k: nl.Kernel, call: Callable[[nl.Kernel], None]) -> nl.KernelError:
    with pytest.raises(nl.KernelError) as ei:
        call(k)
    return ei.value


# the MMU kernel accepts MAP_FIXED and shared disk mappings: nothing to refuse there
CASES = [(n, False) for n in sorted(REFUSALS)] + [("write_rdonly", True), ("sysctl", True)]


@pytest.mark.parametrize(("name", "mmu"), CASES)
def test_refusal_keeps_errno_and_rule_but_not_the_advice(name: str, mmu: bool) -> None:
    call = REFUSALS[name]
    full = _refusal(nl.boards.default(mmu=mmu), call)
    k = nl.boards.default(mmu=mmu, exam=True)
    assert k.exam is True
    exam = _refusal(k, call)
    assert (exam.errno, exam.rule, type(exam)) == (full.errno, full.rule, type(full))
    assert exam.sentence == os.strerror(full.errno) != full.sentence
    assert full.sentence not in str(exam) and str(exam) == f"{full.errno_name} [{full.rule}]: {exam.sentence}"
    assert exam.strerror == exam.sentence and exam.args == (full.errno, exam.sentence)
    # the traceback stops at the syscall entry: no model line (with the advice in it) is shown
    frames = traceback.extract_tb(exam.__traceback__)
    assert frames[-1].name == "wrapper"
    assert not any(full.sentence in (f.line or "") for f in frames)
    assert exam.__suppress_context__
    # the trace says what the call was and which rule refused it, without the advice
    refused = [e for e in k.trace if e.kind is nl.EventKind.REFUSED]
    assert refused and refused[-1].rule == full.rule
    assert full.sentence not in refused[-1].text and os.strerror(full.errno) in refused[-1].text


def _workload(k: nl.Kernel) -> list[Any]:
    """Calls that succeed and calls that fail; what each returned (or its errno and rule)."""
    out: list[Any] = []

    def do(fn: Callable[..., Any], *args: Any) -> None:
        try:
            r = fn(*args)
            out.append(("ok", r if isinstance(r, int | bytes | str) else None))
        except nl.KernelError as e:
            out.append(("refused", e.errno, e.rule))
        out.append(k.state_digest())

    a, b = k.spawn("a"), k.spawn("b")
    do(a.mmap, 0, 3 * PS, PROT_READ | PROT_WRITE, ANON, -1, 0)
    do(a.mmap, 0x8050_0000, PS, PROT_READ, ANON | MAP_FIXED, -1, 0)
    fd = a.open("/dev/shm/obj", O_CREAT | O_RDWR, 0o600)
    do(a.mmap, 0, PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)  # size 0: refused
    do(a.ftruncate, fd, 2 * PS)
    do(a.mmap, 0, 2 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    fd_b = b.open("/dev/shm/obj", O_RDWR)
    do(b.mmap, 0, 2 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd_b, 0)
    do(b.munmap, 0x1234, PS)
    do(k.sysctl, "vm.nr_trim_pages", 0)
    do(k.sysctl, "vm.nr_trim_pages", -5)
    do(b.mmap, 0, 5 * PS, PROT_READ, ANON, -1, 0)
    out.append(a.maps() + b.maps())
    out.append(k.meminfo())
    return out


@pytest.mark.parametrize("mmu", [False, True], ids=["nommu", "mmu"])
def test_nothing_else_changes(mmu: bool) -> None:
    k, x = nl.boards.default(mmu=mmu), nl.boards.default(mmu=mmu, exam=True)
    assert _workload(k) == _workload(x)
    assert [(e.kind, e.rule) for e in k.trace] == [(e.kind, e.rule) for e in x.trace]
    differ = [(a.text, b.text) for a, b in zip(k.trace, x.trace, strict=True) if a.text != b.text]
    assert differ and all(a.startswith(b.split(": ")[0]) for a, b in differ)
    # only refusals are worded differently
    assert len(differ) == sum(e.kind is nl.EventKind.REFUSED for e in x.trace)


def test_the_default_board_is_not_in_exam_mode() -> None:
    k = nl.boards.default()
    assert k.exam is False
    e = _refusal(k, _fixed)
    assert e.sentence != os.strerror(e.errno)
    assert any(f.name != "wrapper" for f in traceback.extract_tb(e.__traceback__)[-2:])


def test_exam_mode_survives_a_snapshot() -> None:
    k = nl.boards.default(exam=True)
    k2 = nl.Kernel.restore(k.snapshot())
    assert k2.exam is True
    assert _refusal(k2, _fixed).sentence == os.strerror(22)
