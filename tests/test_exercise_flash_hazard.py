"""flash-hazard: who dies is found by running the programs; a fix is judged by its constraint.

The wrong answers below are the usual ones: the [stack] instead of the text,
every service instead of the ones in place, the guard when the update must
go through now, RAM copies when no program may change, no fix at all, and
an update that never runs (which must not pass as "everyone survived").
"""

from __future__ import annotations

import pytest

import nommu_lab as nl
from nommu_lab.boards import FLASH_BASE, FLASH_SIZE
from nommu_lab.exercises import get
from nommu_lab.exercises.flash_hazard import IN_PLACE

NAME = "flash-hazard"


def variant(cond=lambda ex: True):
    cls = get(NAME)
    return next(ex for ex in (cls(f"t{i}") for i in range(200)) if cond(ex))


def starter(ex, *, ram_copies):
    def start(k):
        services = {}
        for name, program in ex.params["services"]:
            if ram_copies and program in IN_PLACE:
                program = "/mnt/disk/bin/hello"
            services[name] = p = k.spawn(name)
            p.execve(program)
        return services
    return start


def updater(ex, *, guard, run=True):
    def update(k):
        if run:
            k.mtd_program(ex.params["offset"], ex.params["data"], guard=guard)
    return update


def test_the_services_in_place_die_and_only_they() -> None:
    for i in range(10):
        ex = get(NAME)(f"t{i}")
        dead = ex.deaths()
        assert set(dead) == {n for n, p in ex.params["services"] if p in IN_PLACE}
        for path, addr in dead.values():
            assert path in IN_PLACE and FLASH_BASE <= addr < FLASH_BASE + FLASH_SIZE


def test_diagnosis_half_right(capsys: pytest.CaptureFixture[str]) -> None:
    ex = variant()
    dead = ex.deaths()
    assert ex.check("flash-diagnosis", lambda: dict(dead)) == 2.0
    # the right services, but the address of their data and stack block
    k, services, _ = ex.machine()
    stack = {n: ("[stack]", services[n].vmas()[-1].start) for n in dead}
    k.mtd_complete()
    assert ex.check("flash-diagnosis", lambda: stack) == 1.0
    assert "give the path and start address of the mapping the process executes from" in \
        capsys.readouterr().out
    everyone = {n: dead.get(n, next(iter(dead.values()))) for n, _ in ex.params["services"]}
    assert ex.check("flash-diagnosis", lambda: everyone) == 0.0
    assert "the services that die are not" in capsys.readouterr().out


def test_fixes_under_update_now(capsys: pytest.CaptureFixture[str]) -> None:
    ex = variant(lambda ex: ex.params["constraint"] == "update_now")
    fix = (starter(ex, ram_copies=True), updater(ex, guard=False))
    assert ex.check("flash-fix", fix) == 3.0
    # the guard keeps everybody alive, but the update does not go through
    assert ex.check("flash-fix", (starter(ex, ram_copies=False), updater(ex, guard=True))) == 0.5
    assert "this constraint needs it written now" in capsys.readouterr().out
    # no fix at all: the update is written, the services in place die
    assert ex.check("flash-fix", ex.system()) == 1.5
    assert "died while the chip was busy" in capsys.readouterr().out
    # an update that never runs tests nothing, whatever the services run
    assert ex.check("flash-fix", (starter(ex, ram_copies=True), updater(ex, guard=False, run=False))) == 0.5
    assert "so nothing was tested" in capsys.readouterr().out


def test_fixes_under_keep_programs(capsys: pytest.CaptureFixture[str]) -> None:
    ex = variant(lambda ex: ex.params["constraint"] == "keep_programs")
    assert ex.check("flash-fix", (starter(ex, ram_copies=False), updater(ex, guard=True))) == 3.0
    out = capsys.readouterr().out
    assert "was refused" not in out.split("\n", 1)[1]  # the refusal is the fix, not a failure
    # RAM copies survive, but they change the programs and the update is not refused
    assert ex.check("flash-fix", (starter(ex, ram_copies=True), updater(ex, guard=False))) == 1.5
    out = capsys.readouterr().out
    assert "changed program: the constraint forbids it" in out
    assert "the driver must refuse to program the chip while anything runs from it" in out
    assert ex.check("flash-fix", ex.system()) == 0.5
    assert ex.check("flash-fix", (starter(ex, ram_copies=False), updater(ex, guard=False, run=False))) == 0.5


def test_the_guard_refusal_is_the_model_s(capsys: pytest.CaptureFixture[str]) -> None:
    ex = variant(lambda ex: ex.params["constraint"] == "keep_programs")
    k, _, _ = ex.machine()  # the unguarded update is running on this machine
    k.mtd_complete()
    try:
        k.mtd_program(ex.params["offset"], ex.params["data"], guard=True)
    except nl.KernelError as e:
        refusal = e
    assert f"[{refusal.rule}]" in str(refusal)
    ex.check("flash-fix", (starter(ex, ram_copies=False), updater(ex, guard=True)))
    assert f"({refusal.errno_name} [{refusal.rule}])" in capsys.readouterr().out

    def update_refused_by_hand(k):  # refusing by raising something else is not the driver's refusal
        raise PermissionError("not now")

    assert ex.check("flash-fix", (starter(ex, ram_copies=False), update_refused_by_hand)) == 0.5


def test_a_refusal_by_another_rule_is_not_the_guard(capsys: pytest.CaptureFixture[str]) -> None:
    ex = variant(lambda ex: ex.params["constraint"] == "keep_programs")

    def update_off_the_chip(k):  # refused, but for being outside the chip, not by the guard
        k.mtd_program(FLASH_SIZE + ex.params["offset"], ex.params["data"], guard=True)

    assert ex.check("flash-fix", (starter(ex, ram_copies=False), update_off_the_chip)) == 0.5
    assert "the driver must refuse while the chip is mapped directly" in capsys.readouterr().out

def test_no_answer_breaks_a_check() -> None:
    ex = variant()
    for gid in ex.parts:
        for answer in (None, 42, lambda *a: None, lambda *a: 1 / 0, (None, None),
                       (lambda k: {}, None), (lambda k: 1 / 0, lambda k: None), lambda *a: {"x": 1}):
            assert ex.check(gid, answer) == 0.0
