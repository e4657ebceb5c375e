"""The exercise framework: variants, student ids, checks, and the exemplars' solutions.

Every solution notebook must give full marks on *every* variant (checked here
for many student ids, by running the solution cells as the grader does), and
every released exercise must score zero without an error.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import nommu_lab as nl
from nommu_lab.exercises import EXERCISES, RESULTS, STUDENT_ENV, framework, get, notebooks, seed_for

ROOT = Path(__file__).resolve().parents[1]
NAMES = sorted(p.stem for p in (ROOT / "solutions").glob("*.ipynb"))  # the catalogue, checked below
IDS = [f"s{i:03d}" for i in range(24)]


def test_every_exercise_has_its_notebooks() -> None:
    get(NAMES[0])  # loads the catalogue
    assert sorted(EXERCISES) == NAMES
    for name in NAMES:
        for folder in ("solutions", "exercises"):
            nb = notebooks.read(ROOT / folder / f"{name}.ipynb")
            assert notebooks.exercise_name(nb) == name
            checks = {notebooks.grade_id(c): notebooks.nbgrader(c)["points"]
                      for c in nb["cells"] if notebooks.is_check(c)}
            # one check cell per part, worth the part's points, calling that part
            assert checks == {p.id: p.points for p in get(name).parts.values()}
            for c in nb["cells"]:
                if notebooks.is_check(c):
                    assert notebooks.source(c).startswith(f'ex.check("{notebooks.grade_id(c)}", ')


def test_the_seed_is_a_stable_hash_of_exercise_and_student() -> None:
    # pinned: changing the derivation would change every student's variant mid-course
    assert seed_for("shm-one-address", "alice") == 0x68D19F926F82DE8A
    code = ("from nommu_lab.exercises import get; "
            "print([get(n)('alice').params for n in ('shm-one-address', 'fix-the-mapping')])")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": h}).stdout for h in ("1", "2")}
    assert len(outs) == 1  # the same variant whatever Python's own hash seed


@pytest.mark.parametrize("name", NAMES)
def test_two_students_get_different_scenarios_and_one_the_same(name: str) -> None:
    cls = get(name)
    assert cls("alice").params == cls("alice").params
    assert cls("alice").params != cls("bob").params
    assert len({json.dumps(cls(s).params, default=repr, sort_keys=True) for s in IDS}) >= len(IDS) - 2
    # the scenario is a function of the printed parameters alone
    a, again = cls("alice"), cls("someone", params=cls("alice").params)
    ka, kb = _machine(a), _machine(again)
    assert ka.state_digest() == kb.state_digest()
    assert _machine(cls("bob")).state_digest() != ka.state_digest()


def _machine(ex: framework.Exercise) -> nl.Kernel:
    return ex.machine()[0] if hasattr(ex, "machine") else ex.board()


def test_the_boards_are_in_exam_mode() -> None:
    for name in NAMES:
        ex = get(name)("alice")
        assert _machine(ex).exam is True
    e = get("fix-the-mapping")("alice").refusal()
    assert e.sentence == os.strerror(e.errno)


def test_student_id_comes_from_the_grader_then_nbgrader_then_the_notebook(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(STUDENT_ENV, raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert framework.resolve_student("") == ("practice", "practice")
    assert framework.resolve_student("  s42 ") == ("s42", "STUDENT_ID")
    d = tmp_path / "autograded" / "s99" / "week3"
    d.mkdir(parents=True)
    monkeypatch.chdir(d)
    assert framework.resolve_student("s42") == ("s42", "STUDENT_ID")  # not under nbgrader
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert framework.resolve_student("s42") == ("s99", "nbgrader")
    monkeypatch.setenv(STUDENT_ENV, "s7")
    assert framework.resolve_student("s42") == ("s7", "the grader")


def test_start_prints_every_parameter(capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STUDENT_ENV, raising=False)
    ex = nl.exercises.start("shm-one-address", "alice")
    out = capsys.readouterr().out
    assert "student 'alice' (from STUDENT_ID)" in out
    for key, value in ex.params.items():
        assert f"{key} " in out and (repr(value) in out or f"{value} (" in out)


def _code_cells(path: Path) -> list[tuple[str | None, bool, str]]:
    nb = notebooks.read(path)
    return [(notebooks.grade_id(c), notebooks.is_check(c), notebooks.source(c))
            for c in nb["cells"] if c["cell_type"] == "code"]


def _run_notebook(path: Path, student: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    """Run a notebook's code as the grader's runner does; the score of every check."""
    monkeypatch.setenv(STUDENT_ENV, student)
    scores: dict[str, float] = {}
    ns: dict[str, object] = {"__name__": "__main__"}
    for gid, is_check, src in _code_cells(path):
        before = len(RESULTS)
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(src, f"<cell {gid}>", "exec"), ns)  # an error here fails the test
        if is_check:
            (r,) = RESULTS[before:]
            assert (r.part, r.student) == (gid, student)
            scores[gid] = r.score / r.points
    return scores


@pytest.mark.parametrize("name", NAMES)
def test_the_solution_gives_full_marks_on_every_variant(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = set()
    for student in IDS:
        scores = _run_notebook(ROOT / "solutions" / f"{name}.ipynb", student, monkeypatch)
        assert scores and set(scores.values()) == {1.0}, (student, scores)
        if name == "fix-the-mapping":
            seen.add(get(name)(student).params["bug"])
    if name == "fix-the-mapping":
        assert seen == set(nl.exercises.fix_the_mapping.BUGS)  # every broken program was tried


@pytest.mark.parametrize("name", NAMES)
def test_the_unsolved_exercise_runs_and_scores_zero(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    scores = _run_notebook(ROOT / "exercises" / f"{name}.ipynb", "alice", monkeypatch)
    assert scores and set(scores.values()) == {0.0}


def test_a_check_gives_partial_credit_and_says_what_to_revisit(
        capsys: pytest.CaptureFixture[str]) -> None:
    from nommu_lab.constants import MAP_SHARED, O_CREAT, O_RDWR, PROT_READ, PROT_WRITE

    ex = get("shm-one-address")("alice")

    def share_written_not_truncated(k):  # the classic mistake: fill with write(), not ftruncate
        w, r = k.spawn("w"), k.spawn("r")
        fd = w.shm_open(ex.params["name"], O_CREAT | O_RDWR, 0o600)
        w.write(fd, bytes(ex.params["size"]))
        a = w.mmap(0, ex.params["size"], PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        return w, r, a, a

    assert ex.check("shm-object", share_written_not_truncated) == 1.0
    score = ex.check("shm-same-address", share_written_not_truncated)
    assert score == 0.0 and repr(score) == "0.0"
    out = capsys.readouterr().out
    assert "✗ shm-same-address: 0/2" in out
    assert "share(k) was refused: ENODEV [do_mmap.get_unmapped_area_enosys]" in out
    assert "revisit: the kernel rule do_mmap.get_unmapped_area_enosys" in out

    def share_private(k):  # maps, but MAP_PRIVATE: a copy in each process
        from nommu_lab.constants import MAP_PRIVATE

        w, r = k.spawn("w"), k.spawn("r")
        fd = w.shm_open(ex.params["name"], O_CREAT | O_RDWR, 0o600)
        w.ftruncate(fd, ex.params["size"])
        a = w.mmap(0, ex.params["size"], PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)
        b = r.mmap(0, ex.params["size"], PROT_READ | PROT_WRITE, MAP_PRIVATE,
                   r.shm_open(ex.params["name"], O_RDWR, 0), 0)
        return w, r, a, b

    assert ex.check("shm-same-address", share_private) == 0.5  # two processes, nothing shared
    assert "has no MAP_SHARED mapping" in capsys.readouterr().out


def test_a_check_survives_any_answer(capsys: pytest.CaptureFixture[str]) -> None:
    ex = get("fix-the-mapping")("alice")
    for answer in (None, 42, lambda: None, lambda: ("EINVAL",), lambda: (1, 2, 3), lambda: 1 / 0):
        assert ex.check("fix-diagnosis", answer) == 0.0
    assert ex.check("fix-program", lambda p: p.mmap(0, 0, 0, 0, -1, 0)) == 0.0
    assert "fixed_program(p) was refused: EBADF [ksys_mmap_pgoff.bad_fd]" in capsys.readouterr().out
    with pytest.raises(KeyError, match="no part"):
        ex.check("nope", None)
