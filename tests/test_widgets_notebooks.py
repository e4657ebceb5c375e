"""The lab's notebooks, every one of them: saved clean, and re-run from a fresh
kernel to the very text they show.

Every ``notebooks/*.ipynb`` is found by the glob (a new notebook is tested the
moment it exists). nbval (strict ``--nbval``) starts a fresh kernel per
notebook, runs every cell in order and compares each output with the stored
one; only cells tagged ``nbval-ignore-output`` (the live widgets) are exempt.
So a notebook passes only if a fresh run prints identical text.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
IGNORE = "nbval-ignore-output"


def test_the_glob_finds_the_tutorial():
    names = {p.name for p in NOTEBOOKS}
    assert {"00-start-here.ipynb", "presenter.ipynb", "01-welcome.ipynb",
            "06-processes.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_saved_clean(path: Path):
    """No widget state, no error, outputs saved by one fresh run in order
    (``scripts/execute-notebooks``), widget cells tagged to be skipped."""
    nb = json.loads(path.read_text())
    assert "widgets" not in nb["metadata"]  # no application/vnd.jupyter.widget-state+json
    code = [cell for cell in nb["cells"] if cell["cell_type"] == "code"]
    assert [cell["execution_count"] for cell in code] == list(range(1, len(code) + 1)), (
        "save notebooks with scripts/execute-notebooks (one fresh run, every cell in order)")
    for cell in code:
        outputs = cell.get("outputs", [])
        assert not [o for o in outputs if o["output_type"] == "error"], cell["source"]
        assert "execution" not in cell["metadata"]  # no timestamps
        kinds = {k for out in outputs for k in out.get("data", {})}
        if "application/vnd.jupyter.widget-view+json" in kinds:
            assert IGNORE in cell["metadata"].get("tags", []), cell["source"]


def test_notebooks_run_and_match_their_outputs(tmp_path: Path):
    env = dict(os.environ)
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[var] = str(tmp_path / var.lower())
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
         "--nbval-current-env", "--rootdir", str(tmp_path), *map(str, NOTEBOOKS)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    # every notebook was collected: nbval reports one test per cell
    assert " passed" in r.stdout and " failed" not in r.stdout
