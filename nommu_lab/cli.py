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
