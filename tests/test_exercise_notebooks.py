"""solutions/ and exercises/: in sync, nbgrader-compatible, and run by nbval.

``exercises/`` is what nbgrader's ``generate_assignment`` makes of
``solutions/`` (LockCells, ClearSolutions, ClearOutput, ComputeChecksums);
the reference values below were computed with nbgrader 0.9.6 itself.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nommu_lab import cli
from nommu_lab.exercises import notebooks as nbs

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


def test_exercises_are_the_released_solutions(capsys: pytest.CaptureFixture[str]) -> None:
    assert SOLUTIONS
    assert nbs.release_folder(ROOT / "solutions", ROOT / "exercises", check=True) == []
    assert cli.main(["release", "--check"]) == 0
    assert "matches" in capsys.readouterr().out


def test_release_check_fails_when_out_of_sync(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sol, ex = tmp_path / "solutions", tmp_path / "exercises"
    sol.mkdir()
    (sol / "a.ipynb").write_text(SOLUTIONS[0].read_text())
    args = ["release", "--solutions", str(sol), "--exercises", str(ex)]
    assert cli.main([*args, "--check"]) == 1
    assert cli.main(args) == 0 and (ex / "a.ipynb").exists()
    assert cli.main([*args, "--check"]) == 0
    (ex / "stale.ipynb").write_text("{}")
    assert cli.main([*args, "--check"]) == 1
    assert "stale.ipynb has no solution notebook" in capsys.readouterr().out
    assert cli.main(args) == 0 and not (ex / "stale.ipynb").exists()


def _cell(source: str, **nbgrader: object) -> dict:
    meta = {"grade": False, "solution": False, "locked": False, "schema_version": 3, **nbgrader}
    return {"cell_type": "code", "source": source, "metadata": {"nbgrader": meta},
            "outputs": [], "execution_count": None}


def test_checksum_is_nbgraders() -> None:
    # nbgrader 0.9.6: utils.compute_checksum of this cell
    c = _cell('ex.check("a", f)', grade=True, grade_id="a", points=2)
    assert nbs.checksum(c) == "edbb4bdbe98e8f77e0a40c3df5515c5a"


def test_released_cells_follow_nbgrader() -> None:
    for path in SOLUTIONS:
        sol = nbs.read(path)
        ex = nbs.read(ROOT / "exercises" / path.name)
        assert len(sol["cells"]) == len(ex["cells"])
        for s, e in zip(sol["cells"], ex["cells"], strict=True):
            meta = e["metadata"]
            if nbs.is_solution(s):
                assert meta["deletable"] is False and "editable" not in meta
                assert "raise NotImplementedError()" in nbs.source(e)
                assert "BEGIN SOLUTION" not in nbs.source(e)
            elif nbs.is_locked(s):
                assert meta["deletable"] is False and meta["editable"] is False
                assert nbs.source(e) == nbs.source(s)
            if nbs.nbgrader(s):
                assert meta["nbgrader"]["checksum"] == nbs.checksum(e)
                assert meta["nbgrader"]["cell_type"] == e["cell_type"]
                assert set(meta["nbgrader"]) <= nbs.NBGRADER_KEYS
            if e["cell_type"] == "code":
                assert e["outputs"] == [] and e["execution_count"] is None


def test_strip_keeps_the_indent_and_the_rest() -> None:
    text = "def f(k):\n    x = 1\n    ### BEGIN SOLUTION\n    return 2\n    ### END SOLUTION\n# after"
    out, replaced = nbs.strip_solution(text, nbs.CODE_STUB)
    assert replaced
    assert out == "def f(k):\n    x = 1\n    # YOUR CODE HERE\n    raise NotImplementedError()\n# after"
    with pytest.raises(nbs.NotebookError, match="without END"):
        nbs.strip_solution("### BEGIN SOLUTION\nx", nbs.CODE_STUB)


def test_validate_finds_what_nbgrader_refuses() -> None:
    good = {"cells": [_cell("x", grade=True, grade_id="a", points=1)]}
    assert nbs.validate(good) == []
    cases = {
        "duplicate grade_id": [_cell("x", locked=True, grade_id="a"), _cell("y", locked=True, grade_id="a")],
        "needs points": [_cell("x", grade=True, grade_id="a")],
        "must match": [_cell("x", locked=True, grade_id="a b")],
        "not a solution cell": [_cell("### BEGIN SOLUTION\n### END SOLUTION", locked=True, grade_id="a")],
        "schema_version": [_cell("x", locked=True, grade_id="a", schema_version=2)],
        "does not know": [_cell("x", locked=True, grade_id="a", colour="red")],
    }
    for text, cells in cases.items():
        problems = nbs.validate({"cells": cells})
        assert any(text in p for p in problems), (text, problems)
    with pytest.raises(nbs.NotebookError, match="duplicate"):
        nbs.release({"metadata": {}, "cells": cases["duplicate grade_id"]})


def _master() -> dict:
    return {"metadata": {}, "cells": [
        _cell("STUDENT_ID = ''"),  # a plain cell: the learner's
        _cell("ex = setup()", locked=True, grade_id="setup"),
        _cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION", solution=True,
              grade_id="answer"),
        _cell('ex.check("p", f)', grade=True, grade_id="p", points=2),
        _cell("print('bye')", locked=True, grade_id="end"),
    ]}


def test_merge_takes_answers_from_the_student_and_checks_from_the_master() -> None:
    master = _master()
    sub = copy.deepcopy(master)
    sub["cells"][0]["source"] = "STUDENT_ID = 's1'"
    sub["cells"][2]["source"] = "def f():\n    return 2"
    sub["cells"][3]["source"] = "2.0  # full marks, surely"
    sub["cells"].insert(3, {"cell_type": "code", "source": "helper = 3", "metadata": {}})
    cells, notes = nbs.merge(master, sub)
    assert [(c.kind, c.grade_id, c.source) for c in cells] == [
        ("student", None, "STUDENT_ID = 's1'"),
        ("locked", "setup", "ex = setup()"),
        ("solution", "answer", "def f():\n    return 2"),
        ("student", None, "helper = 3"),
        ("check", "p", 'ex.check("p", f)'),
        ("locked", "end", "print('bye')"),
    ]
    assert cells[4].points == 2.0
    assert notes == ["check cell 'p' was edited: the master's was run instead"]


def test_merge_restores_deleted_and_reorders_moved_cells() -> None:
    master = _master()
    sub = copy.deepcopy(master)
    answer = sub["cells"].pop(2)
    del sub["cells"][2]  # the check cell
    sub["cells"].append(answer)  # moved to the end
    sub["cells"][1]["metadata"]["nbgrader"]["grade_id"] = "renamed"  # an unknown id: a plain cell
    cells, notes = nbs.merge(master, sub)
    assert [(c.kind, c.grade_id) for c in cells] == [
        ("student", None), ("student", None), ("locked", "setup"), ("solution", "answer"),
        ("check", "p"), ("locked", "end")]
    assert "check cell 'p' was deleted: restored from the master" in notes
    assert "locked cell 'setup' was deleted: restored from the master" in notes
    del sub["cells"][-1]
    cells, notes = nbs.merge(master, sub)
    assert cells[3].source == "def f():\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    assert "answer cell 'answer' was deleted: run as the blank stub" in notes


def test_read_refuses_what_is_not_a_notebook(tmp_path: Path) -> None:
    for text, msg in (("{oops", "JSONDecodeError"), ("[]", "no list of cells"),
                      ('{"cells": [1]}', "not an object")):
        p = tmp_path / "x.ipynb"
        p.write_text(text)
        with pytest.raises(nbs.NotebookError, match=msg):
            nbs.read(p)


def _nbval(paths: list[Path], tmp_path: Path, mode: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[var] = str(tmp_path / var.lower())
    env.pop("NOMMU_LAB_STUDENT", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", mode,
         "--nbval-current-env", "--rootdir", str(tmp_path), *map(str, paths)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def test_solutions_pass_their_checks_under_nbval(tmp_path: Path) -> None:
    """Strict nbval: every stored output, including each check's full-marks score, comes back."""
    r = _nbval(SOLUTIONS, tmp_path, "--nbval")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    for path in SOLUTIONS:
        nb = nbs.read(path)
        for c in nb["cells"]:
            if nbs.is_check(c):
                (result,) = [o for o in c["outputs"] if o["output_type"] == "execute_result"]
                points = float(nbs.nbgrader(c)["points"])
                text = "".join(result["data"]["text/plain"])
                assert float(text) == points  # what nbgrader reads as partial credit


def test_exercises_run_without_crashing_in_a_kernel(tmp_path: Path) -> None:
    exercises = sorted((ROOT / "exercises").glob("*.ipynb"))
    r = _nbval(exercises, tmp_path, "--nbval-lax")  # runs every cell; an error fails it
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert f"{sum(1 for p in exercises for c in nbs.read(p)['cells'] if c['cell_type'] == 'code')} passed" in r.stdout
