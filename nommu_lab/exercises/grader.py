"""``nommu-lab grade``: grade a class's submissions against the master notebooks.

Layouts of ``SUBMISSIONS``:

* nbgrader's: ``SUBMISSIONS/<student>/<assignment>/<notebook>.ipynb`` (the
  ``submitted/`` folder of an nbgrader course); each notebook is graded
  against the master of the same file name in ``--masters`` (``solutions/``);
* flat: ``SUBMISSIONS/<student>.ipynb``, one exercise, named by
  ``--exercise`` (a master's file name) or by the notebooks' own metadata.

Each submission is merged with its master (:func:`.notebooks.merge`: master
check and set-up cells replace the learner's, matched by grade id) and run
in its own process (:mod:`.runner`) with a time limit per cell, a time limit
for the whole notebook and a memory limit, several at once. The student id
is the one in the path, whatever the notebook says. Nothing stops the run:
a notebook that is not JSON, crashes, hangs or eats memory gets the points
its checks gave before that (often zero) and a reason. Writes
``OUT/grades.csv`` (one row per student: every part, the total, the reasons)
and ``OUT/feedback/<student>.html``; ``OUT/logs/`` keeps each run's events.
"""

from __future__ import annotations

import csv
import html
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import notebooks as nbs
from .framework import STUDENT_ENV


@dataclass(frozen=True)
class Limits:
    """What one submission may use."""

    cell_seconds: float = 30.0
    total_seconds: float = 120.0
    memory_mb: int = 1024


@dataclass(frozen=True)
class Master:
    """A master (solution) notebook: its exercise, parts and points."""

    path: Path
    nb: dict[str, Any]
    exercise: str
    parts: tuple[tuple[str, float], ...]  # (grade id, points) of each check cell, in order

    @property
    def key(self) -> str:
        return self.path.stem

    @property
    def points(self) -> float:
        return sum(p for _, p in self.parts)


@dataclass(frozen=True)
class Submission:
    student: str
    master: Master
    path: Path | None  # None: the student submitted nothing for this master


@dataclass
class Result:
    """One student's grade for one master notebook."""

    student: str
    master: Master
    scores: dict[str, float] = field(default_factory=dict)
    feedback: dict[str, dict[str, Any]] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    cells: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> float:
        return sum(self.scores.values())


def load_master(path: Path) -> Master:
    """A master notebook, checked: valid nbgrader metadata, one check cell per part."""
    nb = nbs.read(path)
    problems = nbs.validate(nb)
    name = nbs.exercise_name(nb)
    if name is None:
        problems.append("no metadata.nommu_lab.exercise")
    parts = tuple((nbs.grade_id(c) or "", float(nbs.nbgrader(c)["points"]))
                  for c in nb["cells"] if nbs.is_check(c))
    if problems:
        raise nbs.NotebookError(f"{path}: " + "; ".join(problems))
    return Master(path, nb, name or "", parts)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"


def discover(submissions: Path, masters: dict[str, Master],
             exercise: str | None = None) -> tuple[list[Submission], list[str]]:
    """Every (student, master) pair to grade, and warnings about files that were skipped."""
    warnings: list[str] = []
    subs: list[Submission] = []
    flat = sorted(submissions.glob("*.ipynb"))
    if flat:
        if exercise is None:
            names = {nbs.exercise_name(nbs.read(p)) for p in flat if _readable(p)} - {None}
            keys = [m.key for m in masters.values() if m.exercise in names]
            if len(keys) != 1:
                raise SystemExit("nommu-lab grade: flat submissions (<student>.ipynb): say which "
                                 f"exercise with --exercise (one of {', '.join(sorted(masters))})")
            exercise = keys[0]
        master = masters.get(Path(exercise).stem)
        if master is None:
            raise SystemExit(f"nommu-lab grade: no master notebook {exercise!r} "
                             f"(have {', '.join(sorted(masters))})")
        subs = [Submission(p.stem, master, p) for p in flat]
    else:
        students = sorted(d for d in submissions.iterdir() if d.is_dir())
        for d in students:
            found = {p.stem: p for p in d.glob("*/*.ipynb")} | {p.stem: p for p in d.glob("*.ipynb")}
            for key, p in sorted(found.items()):
                if key not in masters:
                    warnings.append(f"{p}: no master notebook {key}.ipynb: not graded")
            wanted = sorted({k for k in found if k in masters}) or sorted(masters)
            subs += [Submission(d.name, masters[k], found.get(k)) for k in wanted]
    return subs, warnings


def _readable(p: Path) -> bool:
    try:
        nbs.read(p)
        return True
    except nbs.NotebookError:
        return False


def grade_one(sub: Submission, limits: Limits, logs: Path | None = None) -> Result:
    """Grade one submission in its own process. Never raises: problems become reasons."""
    res = Result(sub.student, sub.master, {pid: 0.0 for pid, _ in sub.master.parts})
    t0 = time.perf_counter()
    try:
        _grade_into(res, sub, limits, logs)
    except Exception as e:  # the grader's own failure still gives the student a row
        res.reasons.append(f"grader error: {type(e).__name__}: {e}")
    res.seconds = time.perf_counter() - t0
    return res


def _grade_into(res: Result, sub: Submission, limits: Limits, logs: Path | None) -> None:
    if sub.path is None:
        res.reasons.append(f"no submission for {sub.master.key}")
        return
    try:
        nb = nbs.read(sub.path)
    except nbs.NotebookError as e:
        res.reasons.append(f"{sub.path.name}: {e}")
        return
    cells, notes = nbs.merge(sub.master.nb, nb)
    res.reasons += notes
    written = _written_id(nb)
    if written and written != sub.student:
        res.reasons.append(f"the notebook's STUDENT_ID is {written!r}: graded as {sub.student!r}, "
                           "on that student's variant")
    skip: dict[str, str] = {}
    for run in range(1, MAX_RUNS + 1):
        events, ended = _run(sub, cells, skip, limits, logs, run)
        begun = [ev["index"] for ev in events if ev.get("event") == "begin"]
        done = {ev["index"] for ev in events if ev.get("event") == "cell"}
        killer = next((i for i in reversed(begun) if i not in done), None)
        if ended is None or killer is None or run == MAX_RUNS:
            break
        # a cell took the whole process down: run the notebook again without it, so
        # the parts after it are still marked
        skip[str(killer)] = f"{ended}; the notebook was run again without this cell"
    _collect(res, events, ended)


#: runs of one notebook at most (each run skips a cell that killed the one before)
MAX_RUNS = 3


def _run(sub: Submission, cells: list[nbs.RunCell], skip: dict[str, str], limits: Limits,
         logs: Path | None, run: int) -> tuple[list[dict[str, Any]], str | None]:
    """One run of the runner process: its events, and why it ended early (None if it did not)."""
    with tempfile.TemporaryDirectory(prefix="nommu-grade-") as tmp:
        job_path, result_path = Path(tmp) / "job.json", Path(tmp) / "result.jsonl"
        job = {"student": sub.student, "exercise": sub.master.exercise,
               "cells": [c.__dict__ for c in cells], "skip": skip,
               "cell_timeout": limits.cell_seconds, "cpu_seconds": int(limits.total_seconds) + 5,
               "memory_mb": limits.memory_mb, "result": str(result_path)}
        job_path.write_text(json.dumps(job))
        result_path.touch()
        env = dict(os.environ)
        env[STUDENT_ENV] = sub.student
        env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MPLBACKEND="Agg")
        env.pop("NBGRADER_EXECUTION", None)
        proc = subprocess.Popen([sys.executable, "-m", "nommu_lab.exercises.runner", str(job_path)],
                                cwd=tmp, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True)
        try:
            _, err = proc.communicate(timeout=limits.total_seconds)
            ended = None if proc.returncode == 0 else _exit_reason(proc.returncode, err)
        except subprocess.TimeoutExpired:
            _kill(proc)
            ended = f"time limit: the notebook ran over {limits.total_seconds:g} s and was stopped"
        text = result_path.read_text()
        if logs is not None:
            logs.mkdir(parents=True, exist_ok=True)
            suffix = "" if run == 1 else f".run{run}"
            (logs / f"{_safe(sub.student)}--{sub.master.key}{suffix}.jsonl").write_text(text)
    events = []
    for line in text.splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short when the process was killed
            continue
    return events, ended


def _kill(proc: subprocess.Popen[bytes]) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the runner and anything it started
    except ProcessLookupError:
        pass
    proc.wait()


def _exit_reason(code: int, err: bytes) -> str:
    import signal

    if code < 0:
        name = signal.Signals(-code).name
        why = {"SIGXCPU": "CPU time limit", "SIGKILL": "killed (CPU or memory limit)",
               "SIGSEGV": "crashed"}.get(name, "killed")
        return f"the notebook's process ended by {name}: {why}"
    tail = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
    return f"the notebook's process exited with status {code}: {tail[0][:300]}"


def _collect(res: Result, events: list[dict[str, Any]], ended: str | None) -> None:
    parts = dict(res.master.parts)
    checked: set[str] = set()
    for ev in events:
        if ev.get("event") == "cell":
            res.cells.append(ev)
            gid = ev.get("grade_id")
            if ev["status"] == "skipped":
                res.reasons.append(f"cell {gid or ev['index']}: {ev['error']}")
            elif ev["status"] != "ok":
                what = {"check": "check", "solution": "answer", "locked": "set-up",
                        "student": "added"}.get(ev["kind"], ev["kind"])
                res.reasons.append(f"{what} cell {gid or ev['index']}: {ev['error']}")
            if ev["kind"] == "check":
                checked.add(gid)
        elif ev.get("event") == "part" and ev.get("part") in parts:
            pid = ev["part"]
            res.scores[pid] = min(max(float(ev["score"]), 0.0), parts[pid])
            res.feedback[pid] = ev
        elif ev.get("event") == "fatal":
            res.reasons.append(ev["error"])
    for pid, pts in parts.items():  # why each part lost points, in the check's own words
        fb = res.feedback.get(pid)
        if fb is not None and res.scores[pid] < pts:
            why = next((f["text"] for f in fb["findings"] if not f["ok"]), "")
            res.reasons.append(f"{pid} {res.scores[pid]:g}/{pts:g}: {why}")
    if ended:
        res.reasons.append(ended)
    missing = [pid for pid in parts if pid not in checked]
    if missing:
        res.reasons.append(f"not reached: {', '.join(missing)} (scored 0)")
    if not any(ev.get("event") == "done" for ev in events) and not ended and events:
        res.reasons.append("the notebook's process stopped before the end")


def _written_id(nb: dict[str, Any]) -> str | None:
    """The STUDENT_ID the learner wrote in the notebook, if a cell sets it to a string."""
    for cell in nb["cells"]:
        if cell.get("cell_type") == "code":
            m = re.search(r"^STUDENT_ID\s*=\s*([\"'])(.*?)\1", nbs.source(cell), re.M)
            if m:
                return m.group(2).strip() or None
    return None


# ---------------------------------------------------------------------------
# the whole class
# ---------------------------------------------------------------------------
def grade(submissions: Path, out: Path, masters_dir: Path, *, exercise: str | None = None,
          jobs: int | None = None, limits: Limits = Limits(),
          progress: Callable[[str], None] | None = None) -> list[Result]:
    """Grade every submission; write ``grades.csv``, ``feedback/`` and ``logs/`` under ``out``."""
    masters = {}
    for p in sorted(masters_dir.glob("*.ipynb")):
        m = load_master(p)
        masters[m.key] = m
    if not masters:
        raise SystemExit(f"nommu-lab grade: no master notebooks in {masters_dir}")
    subs, warnings = discover(submissions, masters, exercise)
    say = progress or (lambda s: None)
    for w in warnings:
        say(f"warning: {w}")
    jobs = jobs or os.cpu_count() or 1
    results: list[Result] = []
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(grade_one, s, limits, out / "logs") for s in subs]
        for i, f in enumerate(as_completed(futures), 1):
            r = f.result()
            results.append(r)
            flag = "" if not r.reasons else f"  ({r.reasons[0][:70]}{'...' if len(r.reasons) > 1 else ''})"
            say(f"[{i}/{len(subs)}] {r.student} {r.master.key}: "
                f"{r.total:g}/{r.master.points:g} in {r.seconds:.1f} s{flag}")
    results.sort(key=lambda r: (r.student, r.master.key))
    write_csv(results, sorted(masters.values(), key=lambda m: m.key), out / "grades.csv")
    write_feedback(results, out / "feedback")
    say(f"graded {len(subs)} submissions of {len({r.student for r in results})} students "
        f"in {time.perf_counter() - t0:.1f} s: {out / 'grades.csv'}")
    return results


def write_csv(results: list[Result], masters: list[Master], path: Path) -> None:
    """One row per student: every part of every graded master, the total, max and reasons."""
    used = [m for m in masters if any(r.master is m for r in results)]
    cols = [(m, pid) for m in used for pid, _ in m.parts]
    multi = len(used) > 1
    header = ["student"] + [f"{m.key}:{pid}" if multi else pid for m, pid in cols]
    header += ["total", "max", "reasons"]
    by_student: dict[str, dict[str, Result]] = {}
    for r in results:
        by_student.setdefault(r.student, {})[r.master.key] = r
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        for student in sorted(by_student):
            rs = by_student[student]
            row: list[Any] = [student]
            reasons: list[str] = []
            for m, pid in cols:
                r = rs.get(m.key)
                row.append(f"{r.scores.get(pid, 0.0):g}" if r else "0")
            for m in used:
                r = rs.get(m.key)
                if r is None:
                    reasons.append(f"{m.key}: no submission")
                else:
                    reasons += [f"{m.key}: {x}" if multi else x for x in r.reasons]
            total = sum(r.total for r in rs.values())
            row += [f"{total:g}", f"{sum(m.points for m in used):g}", " | ".join(reasons)]
            w.writerow(row)


def write_feedback(results: list[Result], folder: Path) -> None:
    """``feedback/<student>.html``: each part's score and findings, and what went wrong."""
    folder.mkdir(parents=True, exist_ok=True)
    by_student: dict[str, list[Result]] = {}
    for r in results:
        by_student.setdefault(r.student, []).append(r)
    for student, rs in by_student.items():
        (folder / f"{_safe(student)}.html").write_text(feedback_html(student, rs), encoding="utf-8")


def feedback_html(student: str, results: list[Result]) -> str:
    """A self-contained page (no script, no external style) a student can open anywhere."""
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>Feedback for {e(student)}</title>",
           "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
           "table{border-collapse:collapse}td,th{border:1px solid #999;padding:.3em .6em;"
           "vertical-align:top}.ok{color:#1a7f37}.no{color:#b3261e}code{background:#f3f3f3}"
           "</style></head><body>", f"<h1>Feedback for {e(student)}</h1>"]
    for r in results:
        out.append(f"<h2>{e(r.master.key)} ({e(r.master.exercise)}): "
                   f"{r.total:g} / {r.master.points:g}</h2>")
        out.append("<table><tr><th>part</th><th>score</th><th>what the checks found</th></tr>")
        for pid, pts in r.master.parts:
            fb = r.feedback.get(pid)
            items = []
            for f in (fb or {}).get("findings", []):
                cls = "ok" if f["ok"] else "no"
                rev = f"<br><small>revisit: {e(f['revisit'])}</small>" if f.get("revisit") and not f["ok"] else ""
                items.append(f'<li class="{cls}">{"✓" if f["ok"] else "✗"} {e(f["text"])}{rev}</li>')
            body = f"<ul>{''.join(items)}</ul>" if items else "<em>not checked (see below)</em>"
            title = f"<strong>{e(fb['title'])}</strong>" if fb else ""
            out.append(f"<tr><td><code>{e(pid)}</code></td><td>{r.scores.get(pid, 0):g} / {pts:g}"
                       f"</td><td>{title}{body}</td></tr>")
        out.append("</table>")
        if r.reasons:
            out.append("<h3>Notes from the grader</h3><ul>")
            out += [f"<li>{e(x)}</li>" for x in r.reasons]
            out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
