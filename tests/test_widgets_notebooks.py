"""Every notebook in notebooks/ (the tutorial and the lab's): it runs, its stored
text output still matches (strict nbval), and it carries no saved widget state
(JupyterLab shows the text form instead)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_saved_clean(path: Path):
    nb = json.loads(path.read_text())
    assert "widgets" not in nb["metadata"]  # no application/vnd.jupyter.widget-state+json
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        kinds = {k for out in cell.get("outputs", []) for k in out.get("data", {})}
        if "application/vnd.jupyter.widget-view+json" in kinds:
            assert "nbval-ignore-output" in cell["metadata"].get("tags", []), cell["source"]


def test_notebooks_run_and_match_their_outputs(tmp_path: Path):
    env = dict(os.environ)
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[var] = str(tmp_path / var.lower())
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
         "--nbval-current-env", "--rootdir", str(tmp_path), *map(str, NOTEBOOKS)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
