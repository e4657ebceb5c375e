"""How long each notebook takes to run from a fresh kernel, and the whole tutorial.

Runs every ``notebooks/*.ipynb`` the way nbval and ``scripts/execute-notebooks``
do (a fresh ``python3`` kernel, every cell in order) and prints, per notebook:
the wall time, the time spent in its cells, and the slowest cell; then the
total. The difference between wall time and cell time is the kernel's start
and shutdown. Target: the whole tutorial in under 2 minutes on the 2-core
machine. Printed, never asserted: ``python benchmarks/bench_notebooks.py``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def _seconds(cell: nbformat.NotebookNode) -> float:
    """Time between the cell's start and its reply, from nbclient's timing metadata."""
    timing = cell.metadata.get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    parse = datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


def run(path: Path) -> tuple[float, float, float, str]:
    """(wall s, cells s, slowest cell s, its first line) for one fresh run of ``path``."""
    nb = nbformat.read(path, as_version=4)
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", record_timing=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    wall = time.perf_counter() - t0
    code = [c for c in nb.cells if c.cell_type == "code"]
    times = [_seconds(c) for c in code]
    slowest = max(range(len(code)), key=times.__getitem__) if code else 0
    first_line = code[slowest].source.splitlines()[0] if code else ""
    return wall, sum(times), times[slowest] if code else 0.0, first_line


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
            os.environ[var] = str(Path(tmp) / var.lower())
        paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
        print(f"{'notebook':34} {'wall s':>7} {'cells s':>8} {'slowest cell':>13}")
        total = 0.0
        for path in paths:
            wall, cells, slow, line = run(path)
            total += wall
            print(f"{path.name:34} {wall:7.1f} {cells:8.1f} {slow:8.2f}  {line[:40]}", flush=True)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"{'all ' + str(len(paths)) + ' notebooks':34} {total:7.1f}   "
              f"(target: under 120 s; load average {load:.1f} on {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
