"""Run every benchmark in this folder and print its figures (``make bench``).

Each ``bench_*.py`` runs in its own interpreter so one's memory does not
colour another's; ``bench_notebooks.py`` (every notebook of the tutorial from a
fresh kernel, about a minute) is one of them. Nothing is asserted: these are
figures to read and report.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    here = Path(__file__).parent
    status = 0
    for script in sorted(here.glob("bench_*.py")):
        print(f"== {script.name}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script)])
        print(f"   ({time.perf_counter() - t0:.1f} s)\n", flush=True)
        status = status or rc
    return status


if __name__ == "__main__":
    raise SystemExit(main())
