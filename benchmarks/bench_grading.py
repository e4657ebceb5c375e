"""Grading throughput: 40 generated submissions through ``nommu-lab grade``.

The class uses nbgrader's layout (``submitted/<student>/week1/<exercise>.ipynb``):
40 students, each submitting one of the exercises (all of them, in turn),
three in four solved and one in four blank. Every submission runs in its own process
(the grader's default limits) with as many at once as there are cores.
Prints the wall time and submissions per minute (the target on the 2-core
development machine is at least 30 a minute).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from nommu_lab.exercises.grader import grade

ROOT = Path(__file__).resolve().parents[1]
STUDENTS = 40
NAMES = sorted(p.stem for p in (ROOT / "solutions").glob("*.ipynb"))


def make_class(folder: Path) -> None:
    for i in range(STUDENTS):
        name = NAMES[i % len(NAMES)]
        source = ROOT / ("exercises" if i % 4 == 3 else "solutions") / f"{name}.ipynb"
        d = folder / f"student{i:02d}" / "week1"
        d.mkdir(parents=True)
        shutil.copy(source, d / f"{name}.ipynb")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sub, out = Path(tmp) / "submitted", Path(tmp) / "out"
        make_class(sub)
        jobs = os.cpu_count() or 1
        t0 = time.perf_counter()
        results = grade(sub, out, ROOT / "solutions", jobs=jobs)
        wall = time.perf_counter() - t0
        rows = (out / "grades.csv").read_text().splitlines()
    per = sorted(r.seconds for r in results)
    full = sum(r.total == r.master.points for r in results)
    print(f"{len(NAMES)} exercises, {STUDENTS} students")
    print(f"graded {len(results)} submissions ({full} full marks, {len(results) - full} not) "
          f"with {jobs} at once in {wall:.1f} s")
    print(f"  one submission: median {per[len(per) // 2]:.2f} s, slowest {per[-1]:.2f} s")
    print(f"  throughput: {len(results) / wall * 60:.0f} submissions per minute (target >= 30)")
    print(f"  grades.csv: {len(rows) - 1} rows")


if __name__ == "__main__":
    main()
