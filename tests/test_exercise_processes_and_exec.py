"""processes-and-exec: the goal is judged from the machine, the diagnosis from the refusal.

The requirement of part 1 names no program: the check reads the children's
text region (usage, copy, in flash) and the file's format. Each wrong
answer below is a learner's mistake, and must lose the points of the
criterion it breaks, with feedback that says why.
"""

from __future__ import annotations

import os

import pytest

import nommu_lab as nl
from nommu_lab.exercises import get
from nommu_lab.exercises.processes_and_exec import CAUSES, LAUNCHERS, REQUIREMENTS

NAME = "processes-and-exec"
RIGHT = {"elf_shared": "/rom/bin/hello-fdpic", "no_ram_text": "/rom/bin/hello",
         "ram_text_shared": "/mnt/disk/bin/hello"}


def variant(cond=lambda ex: True):
    cls = get(NAME)
    return next(ex for ex in (cls(f"t{i}") for i in range(200)) if cond(ex))


def launcher(program, *, exec_last_in_shell=False, leave_last_pending=False):
    def launch(shell):
        kids = []
        n = launch.count
        for i in range(n):
            if i == n - 1 and exec_last_in_shell:
                shell.execve(program)   # the shell becomes an instance itself
                break
            child = shell.vfork()
            if i == n - 1 and leave_last_pending:
                kids.append(child)      # never exec'd: the shell stays suspended
                break
            child.execve(program)
            kids.append(child)
        return kids
    return launch


def test_every_requirement_is_met_by_its_program_and_only_by_programs_that_fit() -> None:
    for req, program in RIGHT.items():
        ex = variant(lambda ex, req=req: ex.params["requirement"] == req)
        launch = launcher(program)
        launch.count = ex.params["count"]
        assert ex.check("exec-launch", launch) == 3.0
        # a RAM bFLT meets none of them: every instance copies its own text
        launch = launcher("/rom/bin/hello-ram")
        launch.count = ex.params["count"]
        assert ex.check("exec-launch", launch) == 1.5
    # an ELF whose text is not shared (not FDPIC) fails "elf_shared" on both counts
    ex = variant(lambda ex: ex.params["requirement"] == "elf_shared")
    launch = launcher("/rom/bin/hello-pie")
    launch.count = ex.params["count"]
    assert ex.check("exec-launch", launch) == 1.5
    # the in-place program for "no RAM" also runs in place when RAM was asked for: wrong
    ex = variant(lambda ex: ex.params["requirement"] == "ram_text_shared")
    launch = launcher("/rom/bin/hello")
    launch.count = ex.params["count"]
    assert ex.check("exec-launch", launch) == 2.0  # shared, but in flash


def test_a_shell_left_suspended_or_exec_d_loses_its_points(capsys: pytest.CaptureFixture[str]) -> None:
    ex = variant()
    program = RIGHT[ex.params["requirement"]]
    launch = launcher(program, leave_last_pending=True)
    launch.count = ex.params["count"]
    score = ex.check("exec-launch", launch)
    out = capsys.readouterr().out
    assert "the shell is suspended, waiting for vfork child" in out
    assert "revisit: vfork in notebook 06-processes" in out
    assert score == 1.0  # only the requirement: the program is right
    launch = launcher(program, exec_last_in_shell=True)
    launch.count = ex.params["count"]
    assert ex.check("exec-launch", launch) == 1.0
    assert "the shell exec'd a program itself" in capsys.readouterr().out


def test_fork_is_refused_and_the_check_says_by_which_rule(capsys: pytest.CaptureFixture[str]) -> None:
    ex = variant()

    def launch_with_fork(shell):
        return [shell.fork() for _ in range(ex.params["count"])]

    assert ex.check("exec-launch", launch_with_fork) == 0.0
    e = get(NAME)("x", params={**ex.params, "launcher": "fork"}).refusal()
    assert f"launch(shell) was refused: {e.errno_name} [{e.rule}]" in capsys.readouterr().out


def test_diagnosis_of_every_launcher_with_the_right_and_a_wrong_cause(
        capsys: pytest.CaptureFixture[str]) -> None:
    for name, (cause, _) in LAUNCHERS.items():
        ex = variant(lambda ex, name=name: ex.params["launcher"] == name)
        e = ex.refusal()
        assert e.sentence == os.strerror(e.errno)  # exam mode: what and where, not why
        assert ex.check("exec-diagnose", lambda e=e, c=cause: (e.errno_name, e.rule, c)) == 2.0
        wrong = next(c for c in CAUSES if c != cause)
        assert ex.check("exec-diagnose", lambda e=e, w=wrong: (e.errno, e.rule, w)) == 1.0
        assert f"cause {wrong!r} does not explain {e.errno_name} from {e.rule}" in capsys.readouterr().out
    # one errno, two rules: EACCES for a missing x bit and for a noexec mount
    a = variant(lambda ex: ex.params["launcher"] == "no_x_bit").refusal()
    b = variant(lambda ex: ex.params["launcher"] == "noexec_mount").refusal()
    assert a.errno == b.errno and a.rule != b.rule


def test_heap_room_without_the_arguments_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    ex = variant(lambda ex: ex.params["heap_program"].endswith("/hello")
                 and ex.layout()[0] != ex.layout([ex.params["heap_program"]])[0])
    room, stack = ex.layout()
    assert ex.check("exec-heap", lambda: (room, stack)) == 2.0
    assert ex.check("exec-heap", lambda: (ex.layout([ex.params["heap_program"]])[0], stack)) == 0.5
    assert "the arguments are copied to the top of the same block" in capsys.readouterr().out
    fdpic = variant(lambda ex: ex.params["heap_program"].endswith("fdpic"))
    room, stack = fdpic.layout()
    assert room == 0 and stack == 16 * 1024  # PT_GNU_STACK of the board's FDPIC build
    assert fdpic.check("exec-heap", lambda: (4096, stack)) == 0.5
    assert "gets no heap at all" in capsys.readouterr().out
    # the brk gap taken for the stack: a bFLT's [stack] is its whole data block
    assert ex.check("exec-heap", lambda: (ex.layout()[0], 4096)) == 1.5
    assert "the whole block of data, bss, heap gap and stack" in capsys.readouterr().out


def test_the_heap_room_is_what_brk_allows() -> None:
    ex = variant(lambda ex: ex.layout()[0] > 0)
    _, p = ex.machine()
    start = p.brk(0)
    room = ex.layout()[0]
    assert p.brk(start + room) == start + room
    assert p.brk(start + room + 1) == start + room  # refused: the break stays


def test_requirements_and_boards() -> None:
    ex = variant()
    assert ex.requirement in REQUIREMENTS.values()
    k = ex.board()
    assert k.exam and k.lookup("/mnt/data").sb.noexec


def test_no_answer_breaks_a_check() -> None:
    ex = variant()
    for gid in ex.parts:
        for answer in (None, 42, lambda *a: None, lambda *a: 1 / 0, lambda *a: (1, 2, 3),
                       lambda *a: [nl], lambda *a: True):
            assert ex.check(gid, answer) == 0.0
