"""The ``nommu-lab`` command: every command the README shows exists and does what it says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nommu_lab import cli, offline

ROOT = Path(__file__).resolve().parent.parent


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("lab", "present", "grade", "release", "fidelity"):
        assert f"    {cmd} " in out


def test_lab_runs_jupyterlab_from_this_python_at_the_start_notebook(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert cli.main(["lab", "--dry-run", "--port", "9123", "--no-browser",
                     "--ServerApp.token=abc"]) == 0
    argv = capsys.readouterr().out.split()
    assert argv[:4] == [sys.executable, "-m", "jupyter", "lab"]
    assert "notebooks/00-start-here.ipynb" in argv
    assert f"--notebook-dir={ROOT}" in argv
    # our options are translated, unknown ones reach Jupyter untouched
    assert {"--port=9123", "--no-browser", "--ServerApp.token=abc"} <= set(argv)
    assert ("--allow-root" in argv) == (os.getuid() == 0)


def test_present_runs_voila_on_the_presenter_notebook(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("JUPYTER_PATH", raising=False)
    assert cli.main(["present", "--dry-run", "--port", "8899"]) == 0
    out = capsys.readouterr().out.split()
    env, argv = out[:out.index(sys.executable)], out[out.index(sys.executable):]
    assert argv[:3] == [sys.executable, "-m", "voila"]
    assert argv[3] == str(ROOT / "notebooks" / "presenter.ipynb")
    assert "--port=8899" in argv
    # the offline template, found in the package's own Jupyter data folder
    assert "--template=nommu-lab" in argv
    assert "--VoilaConfiguration.extension_denylist=@jupyter-notebook/lab-extension" in argv
    assert env == [f"JUPYTER_PATH={offline.SHARE}"]
    assert (offline.SHARE / "voila" / "templates" / "nommu-lab" / "index.html.j2").is_file()


def test_fidelity_is_the_fidelity_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["fidelity", "list"]) == 0
    out = capsys.readouterr().out
    assert "[anon]" in out and "private_rw:" in out


def test_fidelity_show_of_a_group_not_yet_recorded_says_how_to_record_it(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "fresh.scn").write_text("scenario one\n  doc: d\n  rule: r\n"
                                        "  a = mmap 0 1p PROT_READ MAP_PRIVATE|MAP_ANONYMOUS\nend\n")
    real = tmp_path / "transcripts"
    real.mkdir()
    assert cli.main(["fidelity", "--scenarios", str(tmp_path), "show", "fresh/one", "--model",
                     "--real", str(real)]) == 0
    out = capsys.readouterr().out
    assert "no Linux transcript for fresh yet: record it with bash oracle/run.sh -g fresh" in out
    assert "linux None" in out and "model {'result': 'ok'" in out


def test_unknown_command_and_option_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        cli.main(["bogus"])
    assert e.value.code == 2
    assert "invalid choice: 'bogus'" in capsys.readouterr().err


def test_installed_console_script_runs() -> None:
    exe = Path(sys.executable).parent / "nommu-lab"
    r = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "present" in r.stdout
