"""nbgrader itself, run on the course: the instructor guide says either tool can be used.

``nbgrader generate_assignment`` on ``solutions/`` must make exactly the
notebooks in ``exercises/`` (what ``nommu-lab release`` writes), and
``nbgrader autograde`` must score the bad-submission class as ``nommu-lab
grade`` does, part by part. The one place they differ is a deleted check
cell: nbgrader leaves that part ungraded (for a person to grade), where
``nommu-lab grade`` puts the master's cell back and grades it.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import bad_submissions as bad
from nbgrader.api import Gradebook

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # nbgrader, and the alembic it calls, live beside python
ASSIGNMENT = "week1"


def _course(tmp: Path, notebooks: list[Path]) -> Path:
    """An nbgrader course folder with the given master notebooks as one assignment."""
    source = tmp / "source" / ASSIGNMENT
    source.mkdir(parents=True)
    for nb in notebooks:
        (source / nb.name).write_bytes(nb.read_bytes())
    (tmp / "nbgrader_config.py").write_text('c = get_config()\nc.CourseDirectory.course_id = "nommu"\n')
    return tmp


def _nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
               JUPYTER_CONFIG_DIR=str(course / ".jupyter"), JUPYTER_DATA_DIR=str(course / ".data"))
    done = subprocess.run([str(BIN / "nbgrader"), *args], cwd=course, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _cells(nb: dict) -> list[dict]:
    return [{k: c.get(k) for k in ("cell_type", "source", "metadata", "outputs")} for c in nb["cells"]]


def test_generate_assignment_makes_the_released_exercises(tmp_path):
    masters = sorted((ROOT / "solutions").glob("*.ipynb"))
    assert len(masters) == 13
    course = _course(tmp_path, masters)
    _nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    for master in masters:
        made = json.loads((course / "release" / ASSIGNMENT / master.name).read_text())
        ours = json.loads((ROOT / "exercises" / master.name).read_text())
        assert made["metadata"] == ours["metadata"], master.name
        assert _cells(made) == _cells(ours), master.name


def test_autograde_scores_the_bad_class_as_nommu_lab_grade_does(tmp_path):
    course = _course(tmp_path, [bad.MASTER])
    # the cases nbgrader can take: no hangs or memory hogs (its own limits differ), and
    # a file that is not JSON stops nbgrader's collection rather than scoring zero
    taken = {"alice", "blank", "wrong", "raises", "cheater", "deleter", "copier", "renamed"}
    cases = [c for c in bad.CASES if c.student in taken]
    assert {c.student for c in cases} == taken
    for case in cases:
        folder = course / "submitted" / case.student / ASSIGNMENT
        folder.mkdir(parents=True)
        made = case.make(copy.deepcopy(bad.load()))
        (folder / bad.MASTER.name).write_text(json.dumps(made, indent=1))
    _nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    _nbgrader(course, "autograde", ASSIGNMENT, "--create")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for case in cases:
            sub = gb.find_submission_notebook(bad.MASTER.stem, ASSIGNMENT, case.student)
            got = {g.name: g.auto_score for g in sub.grades}
            want = dict(case.scores)
            if case.student == "deleter":
                want["maps-charge"] = None  # nbgrader: ungraded, a person must look
            assert got == want, case.student
