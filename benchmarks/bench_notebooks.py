"""How long each tutorial notebook takes to run from a fresh kernel, and the whole tutorial.

Every ``notebooks/*.ipynb`` (or the notebooks named on the command line) runs
in name order, each in a new Python kernel from this interpreter's environment
and in its own folder, as ``scripts/execute-notebooks`` runs them, but nothing
is saved. For each notebook it prints the kernel start-up, the cells and their
sum, and the shut-down that follows (nbval waits for it too); then the total against the tutorial's budget (2 minutes for all of it on a
2-core machine, about 8 s a notebook). Jupyter's state goes to a throw-away
folder, never to ``$HOME``. Figures are printed, never asserted:
``python benchmarks/bench_notebooks.py [NOTEBOOK...]``.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
BUDGET_TOTAL_S = 120.0
BUDGET_EACH_S = 8.0
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the colours of an IPython traceback
JUPYTER_DIRS = ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR")


@dataclass
class Timing:
    """Seconds spent on one notebook; ``error`` says why it stopped, if it did."""

    name: str
    start_s: float
    cells_s: float
    stop_s: float
    error: str = ""

    @property
    def total_s(self) -> float:
        return self.start_s + self.cells_s + self.stop_s


def time_notebook(path: Path, timeout: int = 300) -> Timing:
    """Run one notebook from a fresh kernel; time start-up, cells and shut-down apart."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=False,
                            resources={"metadata": {"path": str(path.parent)}})
    t0 = time.perf_counter()
    error = ""
    with client.setup_kernel():
        t1 = time.perf_counter()
        try:
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
        except CellExecutionError as e:
            text = ANSI.sub("", str(e)).strip()
            error = text.splitlines()[-1] if text else type(e).__name__
        t2 = time.perf_counter()
    t3 = time.perf_counter()
    return Timing(path.name, t1 - t0, t2 - t1, t3 - t2, error)


HEADER = f"{'notebook':32} {'start':>7} {'cells':>7} {'stop':>7} {'total':>7}"


def row(t: Timing) -> str:
    """One notebook's line of the table."""
    flag = "  FAILED: " + t.error if t.error else ("  over budget" if t.total_s > BUDGET_EACH_S else "")
    return (f"{t.name:32} {t.start_s:6.1f}s {t.cells_s:6.1f}s {t.stop_s:6.1f}s "
            f"{t.total_s:6.1f}s{flag}")


def summary(timings: list[Timing]) -> str:
    """The closing line: the sums, against the budget."""
    return (f"{'all ' + str(len(timings)) + ' notebooks':32} "
            f"{sum(t.start_s for t in timings):6.1f}s {sum(t.cells_s for t in timings):6.1f}s "
            f"{sum(t.stop_s for t in timings):6.1f}s {sum(t.total_s for t in timings):6.1f}s  "
            f"(budget {BUDGET_TOTAL_S:.0f} s in all, about {BUDGET_EACH_S:.0f} s each; "
            f"{os.cpu_count()} CPUs here)")


def main(argv: list[str]) -> int:
    t0 = time.perf_counter()
    paths = [Path(a) for a in argv] or sorted(NOTEBOOKS.glob("*.ipynb"))
    with tempfile.TemporaryDirectory(prefix="bench-notebooks-") as tmp:
        for var in JUPYTER_DIRS:
            os.environ[var] = str(Path(tmp) / var.lower())
        print(HEADER, flush=True)
        timings = []
        for path in paths:
            timings.append(time_notebook(path.resolve()))
            print(row(timings[-1]), flush=True)
    print(summary(timings))
    print(f"{'wall clock, imports included':32} {time.perf_counter() - t0:30.1f}s")
    return 1 if any(t.error for t in timings) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
