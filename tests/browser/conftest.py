"""Servers and a browser for the real-browser tests of the live lab.

JupyterLab, Notebook 7 and Voila are started once per test session on
127.0.0.1 on free ports with tokens, and with every Jupyter folder in a
throw-away directory (nothing is written under $HOME, and the notebooks are
copies, so autosave never touches the repository). Voila is started the way a
lecturer starts it, ``voila presenter.ipynb`` in the notebooks' folder, so it
reads the ``voila.py`` there (the offline template).

The browser is Debian's Chromium at /usr/bin/chromium driven by Playwright;
Playwright's own browser download is never used. It runs *offline*: its host
resolver answers every name but 127.0.0.1 with "not found", so a page that
needs the network breaks here as it would in an offline classroom, and every
request a page makes is recorded (``Tracked.requests``) for the tests to
check. A missing Chromium is a failure with a message saying how to install
it, not a skip.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path(os.environ.get("NOMMU_LAB_CHROMIUM", "/usr/bin/chromium"))
VENV_BIN = Path(sys.executable).parent
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
    # offline: no name resolves except the test servers' address
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
]
VIEWPORTS = ((1280, 800), (1920, 1080))
READY_TIMEOUT = 60.0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = READY_TIMEOUT, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll ``url`` until it answers 200 (fail early if the server died)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except Exception as e:  # not up yet
            last = e
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout} s: {last}")


@dataclass
class Server:
    """A running Jupyter server: its base URL, token and process."""

    url: str
    token: str
    proc: subprocess.Popen[bytes]
    log: Path
    timings: dict[str, float] = field(default_factory=dict)


def wait_for_idle_kernel(page: Any, timeout_ms: float) -> None:
    """Wait until JupyterLab's status bar says the notebook's Python kernel is idle."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-StatusBar-TextItem, .jp-StatusBar-Item')]"
        ".some(e => /Python 3.*Idle/.test(e.textContent))", timeout=timeout_ms)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, or a failure that says how to get it."""
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: the browser tests need Debian's "
                    "package. Install it with `apt-get install -y chromium` (as root) or run "
                    "`make test`, which does. (Never `playwright install`: it downloads a browser.)",
                    pytrace=False)
    return CHROMIUM


@pytest.fixture(scope="session")
def jupyter_home(tmp_path_factory: pytest.TempPathFactory,
                 chromium: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A throw-away Jupyter world: config/data/runtime folders, settings, notebook copies.

    Asks for ``chromium`` first, so a missing browser fails before any server starts.
    """
    base = tmp_path_factory.mktemp("jupyter")
    env = dict(os.environ)
    for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                     ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython"),
                     ("MPLCONFIGDIR", "mpl")):
        (base / sub).mkdir()
        env[var] = str(base / sub)
    env["HOME"] = str(base)
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    settings = base / "settings"
    settings.mkdir()
    (settings / "overrides.json").write_text(json.dumps({
        "@jupyterlab/apputils-extension:notification": {"checkForUpdates": False, "fetchNews": "false"},
    }))
    work = base / "work"
    work.mkdir()
    for nb in ("00-start-here.ipynb", "presenter.ipynb", "voila.py"):
        shutil.copy(ROOT / "notebooks" / nb, work / nb)
    # a notebook without nommu-lab: what the front end does on its own
    (work / "blank.ipynb").write_text(json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "id": "blank", "metadata": {},
                   "outputs": [], "source": ["1 + 1"]}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5}))
    yield base, env


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextlib.contextmanager
def _serve(base: Path, env: dict[str, str], name: str, argv: list[str], ready: str,
           token: str = "") -> Iterator[Server]:
    """Start a server (``{port}`` in ``argv`` is filled in), wait for ``ready``, stop it after."""
    port = free_port()
    log = base / f"{name}.log"
    t0 = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen([a.format(port=port) for a in argv], cwd=base / "work", env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + ready, proc=proc)
        yield Server(url, token, proc, log, {"server_ready_s": time.monotonic() - t0})
    finally:
        _stop(proc)


def _jupyter(base: Path, app: str, token: str, extra: list[str]) -> list[str]:
    """A Jupyter server app on 127.0.0.1 serving copies of the notebooks."""
    return [str(VENV_BIN / "jupyter"), app, "--no-browser", "--ip", "127.0.0.1",
            "--port", "{port}", f"--ServerApp.token={token}", "--allow-root",
            f"--ServerApp.root_dir={base / 'work'}", "--ServerApp.port_retries=0", *extra]


@pytest.fixture(scope="session")
def jupyterlab(jupyter_home: tuple[Path, dict[str, str]]) -> Iterator[Server]:
    """JupyterLab on 127.0.0.1 serving copies of the notebooks."""
    base, env = jupyter_home
    token = secrets.token_hex(16)
    argv = _jupyter(base, "lab", token, [
        "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly", "--LabApp.expose_app_in_browser=True",
        f"--LabApp.app_settings_dir={base / 'settings'}"])
    with _serve(base, env, "jupyterlab", argv, f"/api/status?token={token}", token) as server:
        yield server


@pytest.fixture(scope="session")
def notebook7(jupyter_home: tuple[Path, dict[str, str]]) -> Iterator[Server]:
    """Notebook 7 (the ``notebook`` package) on 127.0.0.1 serving copies of the notebooks."""
    base, env = jupyter_home
    token = secrets.token_hex(16)
    # (no app_settings_dir: Notebook 7 fails on JupyterLab's overrides with a page error)
    argv = _jupyter(base, "notebook", token, ["--JupyterNotebookApp.expose_app_in_browser=True"])
    with _serve(base, env, "notebook7", argv, f"/api/status?token={token}", token) as server:
        yield server


@pytest.fixture(scope="session")
def voila(jupyter_home: tuple[Path, dict[str, str]]) -> Iterator[Server]:
    """Voila serving the presenter notebook on 127.0.0.1."""
    base, env = jupyter_home
    argv = [str(VENV_BIN / "voila"), "presenter.ipynb", "--no-browser", "--port", "{port}",
            "--Voila.ip=127.0.0.1", "--ServerApp.port_retries=0"]
    # GET / would start a kernel and run the notebook: probe a static file instead
    with _serve(base, env, "voila", argv, "/voila/static/favicon.ico") as server:
        yield server


@pytest.fixture(scope="session")
def browser(chromium: Path) -> Iterator[Any]:
    """A headless Chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            with contextlib.suppress(Exception):
                b.close()


@pytest.fixture
def artifacts() -> Path:
    """Where screenshots go (ignored by git)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def _is_local(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname
    return url.startswith(("data:", "blob:", "about:")) or host in ("127.0.0.1", "localhost")


@dataclass
class Tracked:
    """A page with its console errors and every request it made."""

    page: Any
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    @property
    def external(self) -> list[str]:
        """Requests that would have left the machine."""
        return [u for u in self.requests if not _is_local(u)]


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[[int, int], Tracked]]:
    """``open_page(width, height)``: a fresh page in its own context, watched."""
    contexts: list[Any] = []

    def make(width: int, height: int) -> Tracked:
        ctx = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(ctx)
        t = Tracked(ctx.new_page())
        t.page.on("console", lambda m: t.errors.append(f"console.{m.type}: {m.text}")
                  if m.type == "error" else None)
        t.page.on("pageerror", lambda e: t.errors.append(f"pageerror: {e}"))
        t.page.on("request", lambda r: t.requests.append(r.url))
        return t

    yield make
    for ctx in contexts:
        with contextlib.suppress(Exception):
            ctx.close()
