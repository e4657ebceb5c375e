"""The ``nommu-lab`` command: every way in, under one name.

``nommu-lab --help`` lists the commands; ``nommu-lab CMD --help`` explains one.
Commands that start a server (``lab``, ``present``) run Jupyter from the same
Python environment as this command, so they work from a virtual environment
without activating it.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

#: where the tutorial notebooks live when running from a clone of the project
PROJECT = Path(__file__).resolve().parent.parent


def _project_dir() -> Path:
    """The folder holding ``notebooks/``: the current one if it has them, else the clone."""
    here = Path.cwd()
    if (here / "notebooks").is_dir():
        return here
    if (PROJECT / "notebooks").is_dir():
        return PROJECT
    raise SystemExit("nommu-lab: no notebooks/ folder here or next to the package; "
                     "run this from a clone of the project")


def _server_args(args: argparse.Namespace) -> list[str]:
    out = []
    if args.port is not None:
        out.append(f"--port={args.port}")
    if args.no_browser:
        out.append("--no-browser")
    if args.ip is not None:
        out.append(f"--ip={args.ip}")
    return out


def _run(argv: list[str], dry_run: bool, env: dict[str, str] | None = None) -> int:
    if dry_run:
        extra = {k: v for k, v in (env or {}).items() if os.environ.get(k) != v}
        print(" ".join([*(f"{k}={shlex.quote(v)}" for k, v in sorted(extra.items())),
                        shlex.join(argv)]))
        return 0
    sys.stdout.flush()
    # Jupyter takes over this process: Ctrl-C reaches it
    os.execve(argv[0], argv, env if env is not None else dict(os.environ))
    return 0  # pragma: no cover


def cmd_lab(args: argparse.Namespace) -> int:
    """JupyterLab on the tutorial, opened at the start notebook (the default board)."""
    root = _project_dir()
    nb = Path(args.notebook) if args.notebook else Path("notebooks/00-start-here.ipynb")
    argv = [sys.executable, "-m", "jupyter", "lab", str(nb), f"--notebook-dir={root}"]
    if hasattr(os, "getuid") and os.getuid() == 0:
        argv.append("--allow-root")  # containers and lab machines often run as root
    argv += _server_args(args) + list(args.extra)
    return _run(argv, args.dry_run)


def cmd_present(args: argparse.Namespace) -> int:
    """The presenter view in Voila: no code, big type, the lecture decks (served offline)."""
    from .offline import jupyter_path_with_template, voila_options

    root = _project_dir()
    nb = Path(args.notebook) if args.notebook else root / "notebooks" / "presenter.ipynb"
    argv = [sys.executable, "-m", "voila", str(nb), *voila_options()]
    if args.port is not None:
        argv.append(f"--port={args.port}")
    if args.no_browser:
        argv.append("--no-browser")
    if args.ip is not None:
        argv.append(f"--Voila.ip={args.ip}")
    argv += list(args.extra)
    env = dict(os.environ, JUPYTER_PATH=jupyter_path_with_template(os.environ.get("JUPYTER_PATH")))
    return _run(argv, args.dry_run, env)


def _project_folder(name: str) -> Path:
    """``solutions/`` or ``exercises/`` of the project (the current folder's if it has one)."""
    here = Path.cwd() / name
    return here if here.is_dir() or not (PROJECT / name).is_dir() else PROJECT / name


def cmd_release(args: argparse.Namespace) -> int:
    """Make exercises/ from solutions/: solution blocks become stubs, nbgrader metadata kept."""
    from .exercises.notebooks import NotebookError, release_folder

    solutions = Path(args.solutions) if args.solutions else _project_folder("solutions")
    exercises = Path(args.exercises) if args.exercises else _project_folder("exercises")
    try:
        changes = release_folder(solutions, exercises, check=args.check)
    except NotebookError as e:
        print(f"nommu-lab release: {e}", file=sys.stderr)
        return 2
    for line in changes:
        print(line)
    if args.check:
        if changes:
            print("exercises/ is out of date: run 'nommu-lab release'", file=sys.stderr)
            return 1
        print(f"{exercises} matches {solutions}")
    elif not changes:
        print(f"{exercises} is up to date")
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    """Grade every submission against the master notebooks (see nommu_lab/exercises/grader.py)."""
    from .exercises.grader import Limits, grade

    submissions = Path(args.submissions)
    if not submissions.is_dir():
        print(f"nommu-lab grade: {submissions} is not a folder", file=sys.stderr)
        return 2
    limits = Limits(cell_seconds=args.cell_timeout, total_seconds=args.timeout,
                    memory_mb=args.memory)
    masters = Path(args.masters) if args.masters else _project_folder("solutions")
    grade(submissions, Path(args.out), masters, exercise=args.exercise, jobs=args.jobs,
          limits=limits, progress=lambda line: print(line, file=sys.stderr, flush=True))
    return 0


def _add_server(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, help="port to serve on (default: Jupyter's, 8888 / 8866)")
    p.add_argument("--ip", help="address to listen on (default: localhost)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--notebook", help="open this notebook instead")
    p.add_argument("--dry-run", action="store_true", help="print the command instead of running it")
    p.epilog = "Any other option (e.g. --ServerApp.token=...) is passed on to Jupyter as it is."


def build_parser() -> argparse.ArgumentParser:
    """The command line: one sub-command per task."""
    ap = argparse.ArgumentParser(
        prog="nommu-lab", description="Learn Linux memory mapping without an MMU (mm/nommu.c).",
        epilog="Run 'nommu-lab CMD --help' for the options of one command.")
    sub = ap.add_subparsers(dest="cmd", metavar="CMD", required=True)
    p = sub.add_parser("lab", help="JupyterLab on the tutorial, at the start notebook",
                       description=cmd_lab.__doc__)
    _add_server(p)
    p.set_defaults(fn=cmd_lab)
    p = sub.add_parser("present", help="the presenter view in Voila (lecture decks, no code)",
                       description=cmd_present.__doc__)
    _add_server(p)
    p.set_defaults(fn=cmd_present)
    p = sub.add_parser("grade", help="grade submitted exercise notebooks: grades.csv and feedback",
                       description=cmd_grade.__doc__)
    p.add_argument("submissions", metavar="SUBMISSIONS",
                   help="nbgrader's submitted/ folder (<student>/<assignment>/<nb>.ipynb) "
                        "or a folder of <student>.ipynb")
    p.add_argument("--out", required=True, help="where grades.csv, feedback/ and logs/ go")
    p.add_argument("--masters", help="the solution notebooks (default: solutions/)")
    p.add_argument("--exercise", help="the master notebook of flat <student>.ipynb submissions")
    p.add_argument("--jobs", type=int, help="submissions graded at once (default: CPU count)")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="seconds one notebook may run (default 120)")
    p.add_argument("--cell-timeout", type=float, default=30.0,
                   help="seconds one cell may run (default 30)")
    p.add_argument("--memory", type=int, default=1024,
                   help="MB of address space per notebook (RLIMIT_AS; default 1024)")
    p.set_defaults(fn=cmd_grade)
    p = sub.add_parser("release", help="make exercises/ from solutions/ (strip the solutions)",
                       description=cmd_release.__doc__)
    p.add_argument("--check", action="store_true",
                   help="change nothing; fail if exercises/ is out of date")
    p.add_argument("--solutions", help="default: solutions/")
    p.add_argument("--exercises", help="default: exercises/")
    p.set_defaults(fn=cmd_release)
    # its own parser reads everything after the word "fidelity" (see main)
    sub.add_parser("fidelity", help="check the model against recorded Linux 6.12 answers "
                   "(compare, record, list, show)", add_help=False)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nommu-lab`` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["fidelity"]:
        from .fidelity.__main__ import main as fidelity_main

        return fidelity_main(argv[1:], prog="nommu-lab fidelity")
    ap = build_parser()
    args, extra = ap.parse_known_args(argv)
    if extra and args.cmd not in ("lab", "present"):
        ap.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    return int(args.fn(args))


def console_main() -> None:
    """``nommu-lab`` as installed: a closed pipe (``| head``) ends it quietly."""
    try:
        code = main()
    except BrokenPipeError:
        sys.stderr.close()
        code = 0
    sys.exit(code)


if __name__ == "__main__":
    console_main()
