"""Run one merged submission in this process, under limits; report as JSON lines.

The grader starts ``python -m nommu_lab.exercises.runner JOB.json`` once per
submission. This process first limits itself (address space ``RLIMIT_AS``,
CPU seconds, file size, no core dumps), then runs the cells one by one as
plain Python in one namespace, each under a wall-clock alarm. After every
cell it appends one JSON line to the job's result file (flushed at once), so
whatever kills the process later, every part already marked is kept:

* ``{"event": "begin", "index"}`` before a cell runs, so a cell that kills
  the process is known (the grader runs the notebook again without it);
* ``{"event": "cell", "index", "kind", "grade_id", "status", "error", "seconds"}``
  with status ``ok``, ``error``, ``timeout``, ``memory`` or ``skipped``;
* ``{"event": "part", ...}``: the :class:`~.framework.PartResult` a master
  check cell recorded while it ran (results recorded at any other time,
  for example by the learner's own cells, are ignored);
* ``{"event": "done"}`` at the end.

Cells run as plain Python, not in a Jupyter kernel: IPython magics are not
available to graded notebooks.
"""

from __future__ import annotations

import io
import json
import os
import resource
import signal
import sys
import time
import traceback
from contextlib import redirect_stderr, redirect_stdout
from typing import Any, TextIO

#: text kept from a cell's output or error (a runaway print must not fill memory)
KEEP_CHARS = 2000


class CellTimeout(BaseException):
    """The cell ran past its time limit (a BaseException: ``except Exception`` cannot hide it)."""


class _Capped(io.TextIOBase):
    """A text sink that keeps only the first ``KEEP_CHARS`` characters."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def write(self, s: str) -> int:
        if self.size < KEEP_CHARS:
            self.parts.append(s[: KEEP_CHARS - self.size])
            self.size += len(self.parts[-1])
        return len(s)

    def getvalue(self) -> str:
        return "".join(self.parts)


def limit_self(memory_mb: int, cpu_seconds: int, file_mb: int = 64) -> None:
    """Address space, CPU time, file size and core dumps, for this process and its children."""
    if memory_mb > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
    if cpu_seconds > 0:  # SIGXCPU at the soft limit, SIGKILL at the hard one
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_mb << 20, file_mb << 20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _on_alarm(signum: int, frame: Any) -> None:
    raise CellTimeout()


def _error_text(e: BaseException) -> str:
    """The learner's error, with the frames of their own cells only."""
    tb = traceback.extract_tb(e.__traceback__)
    mine = [f for f in tb if f.filename.startswith("<cell")]
    where = f" (in {mine[-1].filename} line {mine[-1].lineno})" if mine else ""
    return f"{type(e).__name__}: {e}{where}"[:KEEP_CHARS]


def run_cells(job: dict[str, Any], out: TextIO) -> None:
    """Run the job's cells, writing one JSON line per cell and per recorded part."""
    from . import framework

    def emit(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    ns: dict[str, Any] = {"__name__": "__main__", "STUDENT_ID": job["student"]}
    signal.signal(signal.SIGALRM, _on_alarm)
    emit({"event": "start", "pid": os.getpid()})
    for index, cell in enumerate(job["cells"]):
        kind, gid = cell["kind"], cell.get("grade_id")
        skipped = job.get("skip", {}).get(str(index))
        if skipped is not None:  # it killed an earlier run of this notebook
            emit({"event": "cell", "index": index, "kind": kind, "grade_id": gid,
                  "status": "skipped", "error": skipped, "seconds": 0.0, "output": ""})
            continue
        emit({"event": "begin", "index": index})
        before = len(framework.RESULTS)
        status, error = "ok", ""
        sink = _Capped()
        t0 = time.perf_counter()
        try:
            code = compile(cell["source"], f"<cell {gid or index}>", "exec")
            # the alarm repeats every second: a cell that swallows the first one gets more
            signal.setitimer(signal.ITIMER_REAL, job["cell_timeout"], 1.0)
            try:
                with redirect_stdout(sink), redirect_stderr(sink):
                    exec(code, ns)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except CellTimeout:
            status, error = "timeout", f"time limit: the cell ran over {job['cell_timeout']:g} s"
        except MemoryError:
            status, error = "memory", f"memory limit: MemoryError (the limit is {job['memory_mb']} MB)"
        except SystemExit as e:
            status, error = "error", f"the cell called exit({e.code!r})"
        except BaseException as e:  # whatever the learner's code does, the next cell runs
            status, error = "error", _error_text(e)
        emit({"event": "cell", "index": index, "kind": kind, "grade_id": gid, "status": status,
              "error": error, "seconds": round(time.perf_counter() - t0, 3),
              "output": sink.getvalue() if status != "ok" else ""})
        if kind == "check":
            for r in framework.RESULTS[before:]:
                if (isinstance(r, framework.PartResult) and r.part == gid
                        and r.student == job["student"]):
                    emit({"event": "part", **r.as_dict()})
                    break
    emit({"event": "done"})


def main(argv: list[str]) -> int:
    with open(argv[0], encoding="utf-8") as f:
        job = json.load(f)
    limit_self(job["memory_mb"], job["cpu_seconds"])
    with open(job["result"], "a", encoding="utf-8") as out:
        try:
            run_cells(job, out)
        except MemoryError:  # between cells: report it, the parent keeps what was written
            out.write(json.dumps({"event": "fatal", "error": "memory limit (MemoryError)"}) + "\n")
            return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
