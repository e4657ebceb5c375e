"""write-a-driver: every requirement is judged by mapping the learner's driver.

Each wrong driver below breaks one requirement (a missing capability bit, a
copy that is not filled, a get_unmapped_area that never refuses, memory
that is not the device's) and must lose exactly that requirement's points.
Part 2's answers are read from a SimpleDriver's call log at check time.
"""

from __future__ import annotations

import errno

import pytest

import nommu_lab as nl
from nommu_lab.constants import (
    NOMMU_MAP_COPY,
    NOMMU_MAP_DIRECT,
    NOMMU_MAP_EXEC,
    NOMMU_MAP_READ,
    NOMMU_MAP_WRITE,
)
from nommu_lab.exercises import get

NAME = "write-a-driver"
PAGE = 4096


def variant(cond=lambda ex: True):
    cls = get(NAME)
    return next(ex for ex in (cls(f"t{i}") for i in range(200)) if cond(ex))


def caps_for(prm, drop=0):
    caps = NOMMU_MAP_DIRECT | NOMMU_MAP_READ
    caps |= NOMMU_MAP_WRITE if prm["shared_write"] else 0
    caps |= NOMMU_MAP_EXEC if prm["exec"] else 0
    caps |= NOMMU_MAP_COPY if prm["private"] == "copy" else 0
    return caps & ~drop


class Device(nl.FileOperations):
    """A hand-written driver; ``careless`` leaves out the end-of-device check."""

    name = "hand"

    def __init__(self, pages, caps, *, careless=False, readable=True):
        self.pages, self.caps, self.careless, self.readable = pages, caps, careless, readable
        self.base = 0

    def attach(self, kernel):
        self.base = kernel.reserve_device_memory(self.pages)

    def mmap_capabilities(self, file):
        return self.caps

    def get_unmapped_area(self, file, addr, length, pgoff, flags):
        if not self.careless and (pgoff >= self.pages or length > (self.pages - pgoff) * PAGE):
            return -errno.EINVAL
        return self.base + pgoff * PAGE

    def mmap(self, file, vma):
        return 0

    def read(self, file, n, pos):
        if not self.readable:
            return bytes(n)  # a read() that returns zeroes, not the device's bytes
        n = max(0, min(n, self.pages * PAGE - pos))
        return self.kernel.phys_read(self.base + pos, n)


def test_the_right_driver_in_both_forms() -> None:
    for i in range(8):
        ex = get(NAME)(f"t{i}")
        prm = ex.params
        assert ex.check("driver-caps", lambda prm=prm: nl.SimpleDriver(
            "d", capabilities=caps_for(prm), memory_pages=prm["pages"])) == 3.0
        assert ex.check("driver-caps", lambda prm=prm: Device(prm["pages"], caps_for(prm))) == 3.0


def test_each_missing_or_extra_bit_costs_its_requirement(capsys: pytest.CaptureFixture[str]) -> None:
    ex = variant(lambda ex: ex.params["private"] == "copy" and ex.params["exec"])
    prm = ex.params
    no_copy = lambda: nl.SimpleDriver("d", capabilities=caps_for(prm, NOMMU_MAP_COPY),  # noqa: E731
                                      memory_pages=prm["pages"])
    assert ex.check("driver-caps", no_copy) == 2.5
    assert "it must be a copy: the driver must allow COPY and be readable" in capsys.readouterr().out
    no_exec = lambda: Device(prm["pages"], caps_for(prm, NOMMU_MAP_EXEC))  # noqa: E731
    assert ex.check("driver-caps", no_exec) == 2.5
    assert "MAP_SHARED read/exec was refused" in capsys.readouterr().out
    # the character-device default (no mmap_capabilities): DIRECT|READ|WRITE, no COPY, no EXEC
    default = lambda: nl.SimpleDriver("d", memory_pages=prm["pages"])  # noqa: E731
    expected = 3.0 - 0.5 - 0.5 - (0 if prm["shared_write"] else 0.5)
    assert ex.check("driver-caps", default) == expected


def test_a_copy_must_hold_the_device_bytes(capsys: pytest.CaptureFixture[str]) -> None:
    ex = variant(lambda ex: ex.params["private"] == "copy")
    prm = ex.params
    assert ex.check("driver-caps", lambda: Device(prm["pages"], caps_for(prm), readable=False)) == 2.5
    assert "does not hold the device's bytes" in capsys.readouterr().out


def test_past_the_end_and_memory_of_its_own(capsys: pytest.CaptureFixture[str]) -> None:
    ex = variant()
    prm = ex.params
    assert ex.check("driver-caps", lambda: Device(prm["pages"], caps_for(prm), careless=True)) == 2.5
    assert "must refuse a range past the device's memory" in capsys.readouterr().out
    # too little memory: the requirement and everything that needs it stop the part
    assert ex.check("driver-caps", lambda: nl.SimpleDriver(
        "d", capabilities=caps_for(prm), memory_pages=0)) == 0.0
    assert "is not the start of" in capsys.readouterr().out

    class NoBase(nl.FileOperations):
        name = "nobase"

    assert ex.check("driver-caps", NoBase) == 0.0
    assert ex.check("driver-caps", lambda: "a driver") == 0.0
    assert "must return a driver" in capsys.readouterr().out


def test_reuse_predictions_from_the_document_are_wrong(capsys: pytest.CaptureFixture[str]) -> None:
    # "An existing mapping will be shared [...] without notifying the driver", and
    # "vm_ops->close() [...] when the last mapping [...] is removed": both older than 6.12
    ex = variant(lambda ex: ex.params["reuse_kind"] == "shared" and ex.params["second"][0] >= ex.params["first"][0]
                 and sum(ex.params["second"]) <= sum(ex.params["first"]))
    assert ex.reuse_outcome() == (["mmap"], "shared", 2)
    assert ex.check("driver-reuse", lambda: (["mmap"], "shared", 2)) == 2.0
    assert ex.check("driver-reuse", lambda: ([], "shared", 1)) == 0.5
    out = capsys.readouterr().out
    assert "is not what the kernel calls on the driver" in out
    assert "is not how many times vm_ops->close runs" in out


def test_reuse_outcomes_cover_share_new_and_refusal() -> None:
    seen = {}
    for i in range(60):
        ex = get(NAME)(f"t{i}")
        seen[ex.params["reuse_kind"], ex.reuse_outcome()[1]] = ex.reuse_outcome()
    assert seen[("shared", "shared")] == (["mmap"], "shared", 2)
    assert seen[("shared", "new")] == (["get_unmapped_area", "mmap"], "new", 2)
    assert seen[("private", "shared")] == ([], "shared", 0)
    assert seen[("private", "EINVAL")] == ([], "EINVAL", 0)


def test_a_driver_that_checks_the_length_but_not_the_offset(capsys: pytest.CaptureFixture[str]) -> None:
    class HalfCareful(Device):
        def get_unmapped_area(self, file, addr, length, pgoff, flags):
            if length > self.pages * PAGE:  # the offset is forgotten
                return -errno.EINVAL
            return self.base + pgoff * PAGE

    ex = variant()
    prm = ex.params
    assert ex.check("driver-caps", lambda: HalfCareful(prm["pages"], caps_for(prm))) == 2.5
    out = capsys.readouterr().out
    assert f"2 page(s) at page {prm['pages'] - 1} was mapped" in out
    assert f"1 page(s) at page {prm['pages']} was mapped" in out

def test_no_answer_breaks_a_check() -> None:
    ex = variant()
    for gid in ex.parts:
        for answer in (None, 42, lambda *a: None, lambda *a: 1 / 0, lambda *a: (1, 2, 3),
                       lambda *a: nl.FileOperations(), lambda *a: ("x", "y", "z")):
            assert ex.check(gid, answer) == 0.0
