"""Every numbered tutorial notebook keeps the tutorial's shape.

Goal, predict, run, explain, summary and a link onward: each notebook asks the
learner to predict before it reveals, checks what it shows with ``assert``s on
the model, keeps a few outputs that nbval compares (not tagged to skip), and
ends by pointing at a notebook that exists. Running them is
``test_widgets_notebooks.py``'s job; this reads them.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# 00-start-here is the lab's front door, not a lesson: numbered lessons start at 01
TUTORIAL = sorted(p for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb") if p.name[:2] != "00")
LINK = re.compile(r"\]\(([^)#\s]+\.ipynb)\)")


def cells(path: Path, kind: str) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == kind]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def compared_text_outputs(cell: dict) -> list[str]:
    """Stored outputs nbval compares in strict mode (the cell is not tagged to skip)."""
    if "nbval-ignore-output" in cell["metadata"].get("tags", []):
        return []
    out = []
    for o in cell.get("outputs", []):
        if o["output_type"] == "stream":
            out.append("".join(o["text"]))
        elif "text/plain" in o.get("data", {}):
            out.append("".join(o["data"]["text/plain"]))
    return [t for t in out if t.strip()]


@pytest.mark.parametrize("path", TUTORIAL, ids=lambda p: p.name)
def test_notebook_has_the_tutorial_shape(path: Path):
    md = [source(c) for c in cells(path, "markdown")]
    code = cells(path, "code")
    assert md and md[0].startswith("# "), "starts with a title"
    if not path.name.startswith("12-"):  # the short closing notebook predicts once
        assert sum("**Predict" in m for m in md) >= 2, "asks the learner to predict"
    else:
        assert any("**Predict" in m for m in md)
    assert any("assert " in source(c) for c in code), "checks what it shows"
    compared = [c for c in code if compared_text_outputs(c)]
    assert len(compared) >= 1 if path.name.startswith("12-") else len(compared) >= 3, (
        "keeps outputs that nbval compares")
    for c in code:
        assert all(o["output_type"] != "error" for o in c.get("outputs", [])), source(c)[:80]


@pytest.mark.parametrize("path", TUTORIAL, ids=lambda p: p.name)
def test_notebook_ends_with_a_link_onward(path: Path):
    last = source(cells(path, "markdown")[-1])
    targets = LINK.findall(last)
    assert targets, "the last cell links to the next notebook"
    for target in targets:
        assert (path.parent / target).is_file(), f"{path.name} links to missing {target}"


def test_numbered_notebooks_link_in_order():
    """The link onward of notebook N names notebook N+1 (the last one leads back to 00)."""
    for here, there in itertools.pairwise(TUTORIAL):
        if int(there.name[:2]) != int(here.name[:2]) + 1:
            continue  # a gap (a notebook still being written): nothing to check across it
        last = source(cells(here, "markdown")[-1])
        assert there.name in LINK.findall(last), f"{here.name} should lead on to {there.name}"
