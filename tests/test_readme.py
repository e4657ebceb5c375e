"""Every command the README shows works as written after its two set-up commands.

A new user copies commands from the README into a shell in the project
folder, after ``make lab`` or ``make test`` made ``.venv``.  Nothing is
activated, so a bare ``python``, ``voila`` or ``nommu-lab`` is "command not
found" for them.  The commands are taken from the README itself (shell
blocks, and inline code that starts with a command word), so a command added
later is checked too:

* ``make TARGET [VAR=...]``: the Makefile defines the target and
  ``make -n`` accepts the line; the recipe lines it prints that run
  ``nommu-lab`` or a ``bash`` script are checked in turn (so ``LAB_ARGS``
  reaches a command that accepts it);
* ``.venv/bin/nommu-lab ...``: pyproject.toml installs that command, and the
  arguments parse (servers with ``--dry-run``; ``list`` and ``show`` run;
  ``compare`` and ``record`` only parse, the fidelity tests run them);
* ``.venv/bin/python -m pytest ...``: collects, with the environment given;
* ``bash SCRIPT``: the script exists and ``bash -n`` reads it;
* every repository path shown exists, and the Python example runs.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from nommu_lab import cli
from nommu_lab.fidelity import get_scenario, load_all
from nommu_lab.fidelity.__main__ import build_parser as fidelity_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()

#: how a command may start after the set-up: nothing else is on a new user's PATH
RUNNERS = ("make", "bash", ".venv/bin/")
#: first words that make inline code a shell command (allowed or not)
COMMAND_WORDS = {"make", "bash", "sh", "python", "python3", "pip", "voila", "jupyter",
                 "nommu-lab", "pytest", "ruff", "sudo", "apt-get"}
#: top folders of the Linux tree: `mm/nommu.c` names a kernel file, not ours
KERNEL_DIRS = {"mm", "fs", "arch", "ipc", "include", "drivers", "kernel", "Documentation"}
_ENV = re.compile(r"[A-Z_][A-Z0-9_]*=")
#: a file by its extension, or a folder by its final slash
_FILE = re.compile(r"(?:[\w.-]+/)*[\w.-]+\.(?:md|ipynb|py|toml|scn|json|sh|txt)|(?:[\w.-]+/)+")
#: inline code naming a path: a file, a folder, or words joined by slashes
_PATH = re.compile(r"(?:[\w.-]+/)+[\w.-]*|[\w-]+\.(?:md|ipynb|py|toml|scn|json|sh|txt)")


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """``(language, body)`` of every fenced code block."""
    return re.findall(r"^```(\w*)\n(.*?)^```", text, re.M | re.S)


def inline_code(text: str) -> list[str]:
    """Inline code spans outside the fenced blocks."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    return re.findall(r"`([^`\n]+)`", prose)


def split_env(words: list[str]) -> tuple[dict[str, str], list[str]]:
    """Leading ``VAR=value`` words, and the command after them."""
    env: dict[str, str] = {}
    while words and _ENV.match(words[0]):
        name, _, value = words[0].partition("=")
        env[name] = value
        words = words[1:]
    return env, words


def is_command(code: str) -> bool:
    """Inline code that is a command line (a lone word, "the `make` targets", is a mention)."""
    try:
        env, words = split_env(shlex.split(code))
    except ValueError:
        return False
    if len(env) + len(words) < 2:
        return False
    return bool(words) and (words[0] in COMMAND_WORDS or words[0].startswith(".venv/bin/"))


def shell_commands(text: str) -> list[str]:
    """Every shell command shown: lines of sh blocks, and command-like inline code."""
    out = []
    for lang, body in fenced_blocks(text):
        if lang in ("sh", "bash", "shell", "console"):
            for line in body.splitlines():
                line = " ".join(shlex.split(line, comments=True))
                if line:
                    out.append(line)
    out += [c for c in inline_code(text) if is_command(c)]
    return list(dict.fromkeys(out))


def repo_paths(text: str) -> list[str]:
    """Inline code that names a file or folder of this repository."""
    out = []
    for code in inline_code(text):
        if not _PATH.fullmatch(code) or code.startswith(".venv/"):
            continue
        if code.split("/")[0] in KERNEL_DIRS:
            continue
        out.append(code)
    return list(dict.fromkeys(out))


COMMANDS = shell_commands(README)


# ------------------------------------------------------------ checkers

def check_paths(words: list[str]) -> None:
    """Files and folders a command names exist (``.venv/`` ones come with the set-up)."""
    for w in words[1:]:
        if _FILE.fullmatch(w) and not w.startswith(".venv/"):
            assert (ROOT / w).exists(), f"{w} does not exist"


def check_make(words: list[str], env: dict[str, str]) -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = [w for w in words[1:] if "=" not in w]
    assert targets, "make without a target"
    for t in targets:
        assert re.search(rf"^{re.escape(t)}:", makefile, re.M), f"the Makefile has no target {t!r}"
    done = subprocess.run(["make", "-n", *words[1:]], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    for line in done.stdout.splitlines():
        recipe = shlex.split(line)
        check_paths(recipe)
        if recipe and recipe[0] in (".venv/bin/nommu-lab", "bash"):
            check(recipe, {})


def check_nommu_lab(args: list[str]) -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts.get("nommu-lab") == "nommu_lab.cli:console_main"
    if "--help" in args or "-h" in args:
        with pytest.raises(SystemExit) as e:
            cli.main(args)
        assert e.value.code == 0
        return
    if args[:1] in (["lab"], ["present"]):
        assert cli.main([*args, "--dry-run"]) == 0
        return
    if args[:1] == ["release"]:
        assert cli.main([*args, "--check"]) == 0  # exercises/ is what solutions/ releases
        return
    assert args[:1] == ["fidelity"], f"unknown nommu-lab command {args}"
    parsed = fidelity_parser("nommu-lab fidelity").parse_args(args[1:])
    if parsed.cmd == "show":
        get_scenario(parsed.id)  # KeyError if the README names a scenario that is not there
    if parsed.cmd in ("list", "show"):
        assert cli.main(args) == 0


def check_python(args: list[str], env: dict[str, str]) -> None:
    assert args[:2] == ["-m", "pytest"], f"the README runs .venv/bin/python {args}: not checked here"
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                           "-p", "no:cacheprovider", *args[2:]], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def check(words: list[str], env: dict[str, str]) -> None:
    """One command, split into words, run as the README shows it."""
    assert words[0].startswith(RUNNERS), (
        f"{words[0]!r} is not on a new user's PATH after the set-up: "
        "show a make target or .venv/bin/...")
    check_paths(words)
    if words[0] == "make":
        check_make(words, env)
    elif words[0] == "bash":
        script = ROOT / words[1]
        assert script.is_file(), f"{words[1]} does not exist"
        assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    elif words[0] == ".venv/bin/nommu-lab":
        check_nommu_lab(words[1:])
    elif words[0] == ".venv/bin/python":
        check_python(words[1:], env)
    else:
        raise AssertionError(f"no check for {words[0]!r}: teach tests/test_readme.py")


# --------------------------------------------------------------- tests

def test_the_readme_shows_commands_to_check() -> None:
    """The extraction finds what a reader sees (else the tests below check nothing)."""
    setup = [s for lang, body in fenced_blocks(README) if lang == "sh"
             for s in [" ".join(shlex.split(x, comments=True)) for x in body.splitlines()] if s]
    assert setup[:2] == ["make lab", "make test"]  # the two set-up commands stay
    assert len(COMMANDS) >= 10, COMMANDS
    kinds = {c.split()[0] for c in COMMANDS}
    assert {"make", ".venv/bin/nommu-lab"} <= kinds
    # choosing the port and running without a browser is shown, for lab and present
    for target in ("lab", "present"):
        assert any(c.startswith(f"make {target} LAB_ARGS=") and "--port" in c and "--no-browser" in c
                   for c in COMMANDS), target


@pytest.mark.parametrize("command", COMMANDS)
def test_command_works_as_written(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    env, words = split_env(shlex.split(command))
    check(words, env)


@pytest.mark.parametrize("path", repo_paths(README))
def test_path_exists(path: str) -> None:
    assert (ROOT / path).exists(), f"the README names {path}, which is not in the repository"


def test_python_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = [body for lang, body in fenced_blocks(README) if lang == "python"]
    assert blocks
    for body in blocks:
        exec(compile(body, "README.md", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out.strip()


def test_scenario_count_is_current() -> None:
    counts = {int(n) for n in re.findall(r"(\d+) scenarios", README)}
    total = sum(len(s) for s in load_all().values())
    assert counts == {total}, f"the README says {counts} scenarios; there are {total}"


# ------------------------------------------- the checker itself has teeth

@pytest.mark.parametrize(("command", "why"), [
    ("voila notebooks/presenter.ipynb", "not on a new user's PATH"),
    ("python -m nommu_lab.fidelity compare", "not on a new user's PATH"),
    ("make no-such-target", "has no target"),
    ("make lab LAB_ARGS='--port nine'", "exit 2"),  # nommu-lab lab refuses the port
    (".venv/bin/nommu-lab fidelity frobnicate", "exit 2"),
    (".venv/bin/nommu-lab fidelity show anon/no_such_scenario", "anon/no_such_scenario"),
    (".venv/bin/nommu-lab lab --port notanumber", "exit 2"),
    ("bash oracle/no-such-script.sh", "does not exist"),
    ("make lab LAB_ARGS='--notebook notebooks/missing.ipynb'", "does not exist"),
    ("NOMMU_LAB_HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/test_no_such.py",
     "does not exist"),
])
def test_broken_commands_are_caught(command: str, why: str, capsys: pytest.CaptureFixture[str]) -> None:
    env, words = split_env(shlex.split(command))
    with pytest.raises((AssertionError, SystemExit, KeyError)) as e:
        check(words, env)
    said = f"exit {e.value.code}" if isinstance(e.value, SystemExit) else str(e.value)
    assert why in said
