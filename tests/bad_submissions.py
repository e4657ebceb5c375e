"""A class of submissions for the grader tests and the benchmark (not a test module).

Every notebook is made from a master solution notebook by editing cells by
their nbgrader grade id, the way a student's copy differs from it: answers
left blank, wrong, crashing, hanging, eating memory, check cells edited or
deleted, a file that is not JSON, answers copied from another student.
``expected`` says what the grader must give each one.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MASTER = ROOT / "solutions" / "read-the-maps.ipynb"
PARTS = {"maps-flash": 1.0, "maps-charge": 2.0, "maps-largest": 2.0}


def load(path: Path = MASTER) -> dict[str, Any]:
    return json.loads(path.read_text())


def cell(nb: dict[str, Any], gid: str) -> dict[str, Any]:
    return next(c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == gid)


def set_source(nb: dict[str, Any], gid: str, text: str) -> dict[str, Any]:
    cell(nb, gid)["source"] = text
    return nb


def set_student_id(nb: dict[str, Any], student: str) -> dict[str, Any]:
    for c in nb["cells"]:
        if c["cell_type"] == "code" and "".join(c["source"]).startswith("STUDENT_ID"):
            c["source"] = f'STUDENT_ID = "{student}"'
    return nb


def answers_for(student: str) -> tuple[int, int, int]:
    """The right answers of ``student``'s variant, computed from the model."""
    from nommu_lab.exercises import get

    ex = get("read-the-maps")(student)
    k, addr = ex.machine()
    region = next(r for r in k.regions() if r.start == addr)
    flash = next(r.start for r in k.regions() if r.start < 0x8000_0000)
    return flash, (region.top - region.start) // 4096, k.largest_free_block() // 4096


def hard_coded(nb: dict[str, Any], values: tuple[int, int, int]) -> dict[str, Any]:
    """Answers written as numbers (what a student copying a friend's answers submits)."""
    for gid, fn, v in zip(("flash", "charge", "largest"),
                          ("flash_mapping_start", "pages_held", "largest_mmap_pages"), values,
                          strict=True):
        set_source(nb, gid, f"def {fn}():\n    return {v}\n")
    return nb


@dataclass(frozen=True)
class Case:
    """One submission: how it is made and what the grader must say."""

    student: str
    make: Callable[[dict[str, Any]], dict[str, Any] | str]  # a notebook, or raw text
    scores: dict[str, float]  # expected score of every part
    reason: str  # a piece of text the CSV's reasons must contain ("" for none)


def _full() -> dict[str, float]:
    return dict(PARTS)


def _blank(nb: dict[str, Any]) -> dict[str, Any]:
    from nommu_lab.exercises.notebooks import release

    return release(nb)


def _wrong(nb: dict[str, Any]) -> dict[str, Any]:
    set_source(nb, "charge", "def pages_held():\n    return 0\n")
    return set_source(nb, "largest", "def largest_mmap_pages():\n"
                      "    counts = [int(x) for x in ex.buddyinfo.split()[4:]]\n"
                      "    return sum(n << order for order, n in enumerate(counts))\n")


def _raises(nb: dict[str, Any]) -> dict[str, Any]:
    set_source(nb, "flash", "def flash_mapping_start():\n    return 1 // 0\n")
    return set_source(nb, "charge", "raise ValueError('half-written cell')\n")


def _loops(nb: dict[str, Any]) -> dict[str, Any]:
    return set_source(nb, "largest", "def largest_mmap_pages():\n    while True:\n        pass\n")


def _loops_stubbornly(nb: dict[str, Any]) -> dict[str, Any]:
    # swallows the first time-out: the alarm comes back every second until the cell ends
    return set_source(nb, "charge", "while True:\n    try:\n        while True:\n            pass\n"
                      "    except BaseException:\n        pass\n")


def _hangs_in_c(nb: dict[str, Any]) -> dict[str, Any]:
    # a loop inside C that never looks at signals: the cell's alarm cannot stop it, only
    # the notebook's total time limit; the notebook is then run again without that cell
    return set_source(nb, "largest", "sum(range(10 ** 12))\n")


def _eats_memory(nb: dict[str, Any]) -> dict[str, Any]:
    return set_source(nb, "charge", "hoard = bytearray(64 * 2**30)\n")


def _edits_check(nb: dict[str, Any]) -> dict[str, Any]:
    set_source(nb, "largest", "def largest_mmap_pages():\n    return -1\n")
    return set_source(nb, "maps-largest", 'print("✓ maps-largest: 2/2")\n2.0\n')


def _deletes(nb: dict[str, Any]) -> dict[str, Any]:
    nb["cells"] = [c for c in nb["cells"]
                   if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") not in
                   ("largest", "maps-charge")]
    return nb


def _not_json(nb: dict[str, Any]) -> str:
    return json.dumps(nb)[: 5000]  # cut off mid-way, as a crashed upload would be


def _copies(nb: dict[str, Any]) -> dict[str, Any]:
    return set_student_id(hard_coded(nb, answers_for("bob")), "bob")


def _own_id_elsewhere(nb: dict[str, Any]) -> dict[str, Any]:
    # a generic solution works for any variant: graded on the path's student, full marks
    return set_student_id(nb, "somebody-else")


CASES: list[Case] = [
    Case("alice", lambda nb: nb, _full(), ""),
    Case("blank", _blank, {p: 0.0 for p in PARTS}, "is not written yet"),
    Case("wrong", _wrong, {"maps-flash": 1.0, "maps-charge": 0.0, "maps-largest": 0.0},
         "maps-largest 0/2: "),
    Case("raises", _raises, {"maps-flash": 0.0, "maps-charge": 0.0, "maps-largest": 2.0},
         "ValueError: half-written cell"),
    Case("loops", _loops, {"maps-flash": 1.0, "maps-charge": 2.0, "maps-largest": 0.0},
         "time limit"),
    Case("stubborn", _loops_stubbornly, {"maps-flash": 1.0, "maps-charge": 0.0, "maps-largest": 2.0},
         "run again without this cell"),
    Case("hangs", _hangs_in_c, {"maps-flash": 1.0, "maps-charge": 2.0, "maps-largest": 0.0},
         "run again without this cell"),
    Case("hoarder", _eats_memory, {"maps-flash": 1.0, "maps-charge": 0.0, "maps-largest": 2.0},
         "memory limit"),
    Case("cheater", _edits_check, {"maps-flash": 1.0, "maps-charge": 2.0, "maps-largest": 0.0},
         "'maps-largest' was edited"),
    Case("deleter", _deletes, {"maps-flash": 1.0, "maps-charge": 2.0, "maps-largest": 0.0},
         "'maps-charge' was deleted"),
    Case("garbled", _not_json, {p: 0.0 for p in PARTS}, "not a readable notebook"),
    Case("copier", _copies, {p: 0.0 for p in PARTS}, "STUDENT_ID is 'bob'"),
    Case("renamed", _own_id_elsewhere, _full(), "STUDENT_ID is 'somebody-else'"),
]


def write_class(folder: Path, cases: list[Case] = CASES, master: Path = MASTER) -> None:
    """One ``<student>.ipynb`` per case in ``folder`` (the flat layout)."""
    folder.mkdir(parents=True, exist_ok=True)
    for case in cases:
        made = case.make(copy.deepcopy(load(master)))
        text = made if isinstance(made, str) else json.dumps(made, indent=1)
        (folder / f"{case.student}.ipynb").write_text(text)
