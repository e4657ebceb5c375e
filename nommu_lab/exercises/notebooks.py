"""Notebooks as nbgrader sees them: cell metadata, releasing, and merging a submission.

The cell metadata is nbgrader's (schema version 3): ``metadata.nbgrader`` with
``grade``, ``solution``, ``locked``, ``grade_id``, ``points`` (grade cells)
and ``schema_version``. Three kinds of cell matter here:

* **solution** cells (``solution: true``) hold the learner's answer between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION``;
* **check** cells (``grade: true``, not a solution) are autograded tests:
  read-only, worth ``points``, their ``grade_id`` is the exercise part's id;
* **locked** cells (``locked: true``) are read-only set-up and text.

:func:`release` turns a solution notebook into the student's version exactly
as nbgrader's ``generate_assignment`` does (LockCells, ClearSolutions,
ClearOutput, ComputeChecksums), so an nbgrader course can use either folder.
:func:`merge` builds what the grader runs from a submission and its master.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BEGIN = "BEGIN SOLUTION"
END = "END SOLUTION"
#: what nbgrader's ClearSolutions puts in place of a code solution (Python)
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"
GRADE_ID = re.compile(r"^[a-zA-Z0-9_\-]+$")
SCHEMA_VERSION = 3
#: the keys nbgrader's v3 schema allows in ``metadata.nbgrader``
NBGRADER_KEYS = {"schema_version", "grade", "locked", "solution", "task", "grade_id", "points",
                 "checksum", "cell_type"}


class NotebookError(ValueError):
    """A notebook that cannot be read, or whose nbgrader metadata is wrong."""


def source(cell: dict[str, Any]) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else str(s)


def nbgrader(cell: dict[str, Any]) -> dict[str, Any]:
    meta = cell.get("metadata")
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    return nbg if isinstance(nbg, dict) else {}


def is_solution(cell: dict[str, Any]) -> bool:
    return bool(nbgrader(cell).get("solution", False))


def is_grade(cell: dict[str, Any]) -> bool:
    return bool(nbgrader(cell).get("grade", False))


def is_locked(cell: dict[str, Any]) -> bool:
    """nbgrader's rule: solution cells never, grade cells always, else the flag."""
    if not nbgrader(cell) or is_solution(cell):
        return False
    return is_grade(cell) or bool(nbgrader(cell).get("locked", False))


def is_check(cell: dict[str, Any]) -> bool:
    """An autograded test: a code grade cell that is not a solution."""
    return cell.get("cell_type") == "code" and is_grade(cell) and not is_solution(cell)


def grade_id(cell: dict[str, Any]) -> str | None:
    nbg = nbgrader(cell)
    if nbg.get("grade") or nbg.get("solution") or nbg.get("locked"):
        gid = nbg.get("grade_id")
        return gid if isinstance(gid, str) and gid else None
    return None


def checksum(cell: dict[str, Any]) -> str:
    """nbgrader's ``compute_checksum``: MD5 of source, type, flags, id and points."""
    m = hashlib.md5()
    for part in (source(cell), cell["cell_type"], str(is_grade(cell)), str(is_solution(cell)),
                 str(is_locked(cell)), nbgrader(cell)["grade_id"]):
        m.update(part.encode("utf-8"))
    if is_grade(cell):
        m.update(str(float(nbgrader(cell)["points"])).encode("utf-8"))
    return m.hexdigest()


def read(path: Path) -> dict[str, Any]:
    """A notebook as JSON (``NotebookError`` if it is not one)."""
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise NotebookError(f"not a readable notebook: {type(e).__name__}: {e}") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise NotebookError("not a notebook: no list of cells")
    if not all(isinstance(c, dict) for c in nb["cells"]):
        raise NotebookError("not a notebook: a cell is not an object")
    return nb


def write(nb: dict[str, Any], path: Path) -> None:
    """Write as Jupyter does (nbformat: sorted keys, one-space indent, lines as a list)."""
    import nbformat

    nbformat.write(nbformat.from_dict(nb), str(path))


def exercise_name(nb: dict[str, Any]) -> str | None:
    """The exercise a notebook belongs to (``metadata.nommu_lab.exercise``)."""
    meta = nb.get("metadata", {}).get("nommu_lab", {})
    name = meta.get("exercise") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else None


# ---------------------------------------------------------------------------
# checking a master notebook
# ---------------------------------------------------------------------------
def validate(nb: dict[str, Any]) -> list[str]:
    """What is wrong with a notebook's nbgrader metadata (nbgrader's v3 rules); [] if nothing."""
    problems, ids = [], set()
    for i, cell in enumerate(nb["cells"]):
        nbg = nbgrader(cell)
        where = f"cell {i}"
        if not nbg:
            if BEGIN in source(cell):
                problems.append(f"{where}: a solution region in a cell that is not a solution cell")
            continue
        extra = set(nbg) - NBGRADER_KEYS
        if extra:
            problems.append(f"{where}: keys nbgrader does not know: {sorted(extra)}")
        if nbg.get("schema_version") != SCHEMA_VERSION:
            problems.append(f"{where}: schema_version must be {SCHEMA_VERSION}")
        for key in ("grade", "solution", "locked"):
            if not isinstance(nbg.get(key), bool):
                problems.append(f"{where}: '{key}' must be true or false")
        gid = nbg.get("grade_id")
        if nbg.get("grade") or nbg.get("solution") or nbg.get("locked"):
            if not isinstance(gid, str) or not GRADE_ID.match(gid):
                problems.append(f"{where}: grade_id {gid!r} must match [a-zA-Z0-9_-]+")
            elif gid in ids:
                problems.append(f"{where}: duplicate grade_id {gid!r}")
            else:
                ids.add(gid)
        if nbg.get("grade"):
            pts = nbg.get("points")
            if not isinstance(pts, int | float) or isinstance(pts, bool) or pts < 0:
                problems.append(f"{where}: a grade cell needs points >= 0")
        if cell.get("cell_type") == "markdown" and bool(nbg.get("grade")) != bool(nbg.get("solution")):
            problems.append(f"{where}: a markdown cell must be both grade and solution, or neither")
        if BEGIN in source(cell) and not nbg.get("solution"):
            problems.append(f"{where}: a solution region in a cell that is not a solution cell")
    return problems


# ---------------------------------------------------------------------------
# releasing: solutions/ -> exercises/
# ---------------------------------------------------------------------------
def strip_solution(text: str, stub: str) -> tuple[str, bool]:
    """nbgrader's ClearSolutions on one cell: each region becomes the stub, indented like it."""
    out: list[str] = []
    inside = replaced = False
    for line in text.split("\n"):
        if BEGIN in line:
            if inside:
                raise NotebookError("nested BEGIN SOLUTION")
            inside = replaced = True
            indent = re.match(r"\s*", line).group(0)  # type: ignore[union-attr]
            out.extend(indent + s for s in stub.split("\n"))
        elif END in line:
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise NotebookError("BEGIN SOLUTION without END SOLUTION")
    return "\n".join(out), replaced


def release(solution_nb: dict[str, Any]) -> dict[str, Any]:
    """The student version of a solution notebook, as ``nbgrader generate_assignment`` makes it."""
    problems = validate(solution_nb)
    if problems:
        raise NotebookError("; ".join(problems))
    nb = copy.deepcopy(solution_nb)
    nb["metadata"].pop("celltoolbar", None)
    for cell in nb["cells"]:
        meta = cell.setdefault("metadata", {})
        # LockCells: solution cells cannot be deleted; grade and locked cells cannot be edited either
        if is_solution(cell):
            meta["deletable"] = False
        elif is_grade(cell) or is_locked(cell):
            meta["deletable"] = False
            meta["editable"] = False
        # ClearSolutions
        stub = CODE_STUB if cell.get("cell_type") == "code" else TEXT_STUB
        text, replaced = strip_solution(source(cell), stub)
        if is_solution(cell) and not replaced:
            text = stub
        cell["source"] = text
        # ClearOutput
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
            meta.pop("collapsed", None)
            meta.pop("scrolled", None)
        # ComputeChecksums
        if is_grade(cell) or is_solution(cell) or is_locked(cell):
            meta["nbgrader"]["checksum"] = checksum(cell)
            meta["nbgrader"]["cell_type"] = cell["cell_type"]
    return nb


# ---------------------------------------------------------------------------
# merging a submission with its master (what the grader runs)
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class RunCell:
    """A code cell the grader runs: ``kind`` is "locked", "check", "solution" or "student"."""

    kind: str
    grade_id: str | None
    source: str
    points: float = 0.0


def merge(master: dict[str, Any], submission: dict[str, Any]) -> tuple[list[RunCell], list[str]]:
    """The code cells to run, and notes on what was replaced or restored.

    Cells are matched by nbgrader grade id and run in the master's order:
    locked and check cells always come from the master (an edited check cell
    is replaced, a deleted one restored); a solution cell comes from the
    submission, or is the master's stub if the learner deleted it (worth 0).
    Cells the learner added (no grade id of the master) run where they were,
    after the graded cell that precedes them.
    """
    masters = {grade_id(c): c for c in master["cells"] if grade_id(c)}
    seen: dict[str, dict[str, Any]] = {}
    extra: dict[str | None, list[str]] = {}
    anchor: str | None = None
    for cell in submission["cells"]:
        gid = grade_id(cell)
        if gid in masters and gid not in seen:
            seen[gid] = cell
            anchor = gid
        elif cell.get("cell_type") == "code" and source(cell).strip():
            extra.setdefault(anchor, []).append(source(cell))
    cells = [RunCell("student", None, s) for s in extra.get(None, [])]
    notes: list[str] = []
    for mcell in master["cells"]:
        gid = grade_id(mcell)
        if gid is None:
            continue
        sub = seen.get(gid)
        if mcell.get("cell_type") == "code":
            if is_solution(mcell):
                if sub is None:
                    notes.append(f"answer cell '{gid}' was deleted: run as the blank stub")
                    text, _ = strip_solution(source(mcell), CODE_STUB)
                else:
                    text = source(sub)
                cells.append(RunCell("solution", gid, text))
            else:
                kind = "check" if is_check(mcell) else "locked"
                if sub is None:
                    notes.append(f"{kind} cell '{gid}' was deleted: restored from the master")
                elif source(sub) != source(mcell):
                    notes.append(f"{kind} cell '{gid}' was edited: the master's was run instead")
                pts = float(nbgrader(mcell).get("points", 0)) if kind == "check" else 0.0
                cells.append(RunCell(kind, gid, source(mcell), pts))
        cells += [RunCell("student", None, s) for s in extra.get(gid, [])]
    return cells, notes


def release_folder(solutions: Path, exercises: Path, check: bool = False) -> list[str]:
    """Regenerate ``exercises/`` from ``solutions/``; with ``check``, only list what differs."""
    out: list[str] = []
    wanted = {p.name for p in sorted(solutions.glob("*.ipynb"))}
    for path in sorted(solutions.glob("*.ipynb")):
        nb = release(read(path))
        target = exercises / path.name
        import nbformat

        text = nbformat.writes(nbformat.from_dict(nb)) + "\n"
        old = target.read_text(encoding="utf-8") if target.exists() else None
        if old != text:
            out.append(f"{target} is out of date" if check else f"wrote {target}")
            if not check:
                exercises.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
    for stale in sorted(exercises.glob("*.ipynb")) if exercises.is_dir() else []:
        if stale.name not in wanted:
            out.append(f"{stale} has no solution notebook" if check else f"removed {stale}")
            if not check:
                stale.unlink()
    return out
