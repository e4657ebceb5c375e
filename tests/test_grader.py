"""``nommu-lab grade``: a class of good and bad submissions grades correctly.

The class (tests/bad_submissions.py) has a right answer, blank answers, wrong
answers (partial credit), exceptions, loops that time out (one that swallows
the time-out, one stuck inside C), a huge allocation, an edited check cell,
deleted cells, a file that is not JSON, another student's answers and a
notebook that names another student. Each gets the expected score for every
part and a reason; every student has a row and a feedback page.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import bad_submissions as bad
import pytest

from nommu_lab import cli
from nommu_lab.exercises import grader

ROOT = Path(__file__).resolve().parents[1]
LIMITS = grader.Limits(cell_seconds=2.0, total_seconds=8.0, memory_mb=1024)


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, str]]]:
    base = tmp_path_factory.mktemp("class")
    bad.write_class(base / "submitted")
    out = base / "out"
    lines: list[str] = []
    grader.grade(base / "submitted", out, ROOT / "solutions", exercise="read-the-maps", jobs=2,
                 limits=LIMITS, progress=lines.append)
    assert len([x for x in lines if x.startswith("[")]) == len(bad.CASES)  # progress, one a line
    with open(out / "grades.csv", newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    return out, rows


def test_the_copied_answers_are_wrong_for_the_copier() -> None:
    # the premise of the "copier" case: bob's answers differ from the copier's in every part
    mine, bobs = bad.answers_for("copier"), bad.answers_for("bob")
    assert all(a != b for a, b in zip(mine, bobs, strict=True))


@pytest.mark.parametrize("case", bad.CASES, ids=lambda c: c.student)
def test_each_submission_gets_its_score_and_a_reason(
        case: bad.Case, graded: tuple[Path, dict[str, dict[str, str]]]) -> None:
    _, rows = graded
    row = rows[case.student]
    assert {p: float(row[p]) for p in bad.PARTS} == case.scores
    assert float(row["total"]) == sum(case.scores.values())
    assert float(row["max"]) == 5.0
    if case.reason:
        assert case.reason in row["reasons"], row["reasons"]
    else:
        assert row["reasons"] == ""


def test_every_student_has_a_row_and_feedback(graded: tuple[Path, dict[str, dict[str, str]]]) -> None:
    out, rows = graded
    assert sorted(rows) == sorted(c.student for c in bad.CASES)
    header = (out / "grades.csv").read_text().splitlines()[0].split(",")
    assert header == ["student", "maps-flash", "maps-charge", "maps-largest", "total", "max", "reasons"]
    for c in bad.CASES:
        page = (out / "feedback" / f"{c.student}.html").read_text()
        assert f"Feedback for {c.student}" in page and "<script" not in page
        assert f"{sum(c.scores.values()):g} / 5" in page
    wrong = (out / "feedback" / "wrong.html").read_text()
    assert "is all the free memory; a mapping needs it in one block" in wrong
    assert "revisit:" in wrong


def test_a_killed_run_is_logged_and_rerun_without_the_cell(
        graded: tuple[Path, dict[str, dict[str, str]]]) -> None:
    out, _ = graded
    first = [json.loads(x) for x in (out / "logs" / "hangs--read-the-maps.jsonl").read_text().splitlines()]
    second = [json.loads(x) for x in
              (out / "logs" / "hangs--read-the-maps.run2.jsonl").read_text().splitlines()]
    assert not any(e["event"] == "done" for e in first)  # killed at the total time limit
    assert second[-1]["event"] == "done"
    assert [e["status"] for e in second if e["event"] == "cell" and e["grade_id"] == "largest"] == ["skipped"]


def test_nbgrader_layout_with_a_missing_notebook(tmp_path: Path) -> None:
    """submitted/<student>/<assignment>/<nb>.ipynb; a student without a notebook still has a row."""
    sub = tmp_path / "submitted"
    for student, names in (("ann", ["shm-one-address", "read-the-maps"]), ("ben", ["read-the-maps"])):
        for name in names:
            d = sub / student / "week3"
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{name}.ipynb").write_text((ROOT / "solutions" / f"{name}.ipynb").read_text())
    masters = tmp_path / "masters"
    masters.mkdir()
    for name in ("shm-one-address", "read-the-maps"):
        (masters / f"{name}.ipynb").write_text((ROOT / "solutions" / f"{name}.ipynb").read_text())
    assert cli.main(["grade", str(sub), "--out", str(tmp_path / "out"), "--masters", str(masters),
                     "--jobs", "2"]) == 0
    with open(tmp_path / "out" / "grades.csv", newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert rows["ann"]["total"] == "9" and rows["ann"]["max"] == "9"
    assert rows["ben"]["read-the-maps:maps-largest"] == "2"
    assert rows["ben"]["shm-one-address:shm-message"] == "0" and rows["ben"]["total"] == "5"
    assert "shm-one-address: no submission" in rows["ben"]["reasons"]


def test_flat_submissions_name_their_exercise_by_metadata(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "zoe.ipynb").write_text((ROOT / "exercises" / "fix-the-mapping.ipynb").read_text())
    results = grader.grade(sub, tmp_path / "out", ROOT / "solutions", jobs=1)
    assert [(r.student, r.master.key, r.total) for r in results] == [("zoe", "fix-the-mapping", 0.0)]
    assert "diagnosis() is not written yet" in " ".join(results[0].reasons)


def test_the_cli_refuses_what_it_cannot_grade(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["grade", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    (tmp_path / "a.ipynb").write_text("{}")
    with pytest.raises(SystemExit, match="--exercise"):
        cli.main(["grade", str(tmp_path), "--out", str(tmp_path / "o")])
