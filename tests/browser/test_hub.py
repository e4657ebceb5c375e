"""The class set-up: JupyterHub from deploy/jupyterhub_config.py, two students.

The hub runs on 127.0.0.1 in "shared" mode (one password, every server as
this Unix user: no accounts to create, so no root needed) with
configurable-http-proxy from npm (``scripts/ensure-system-packages``
installs it in .venv/chp). Two students log in through the login page in
Chromium; each lands in their own JupyterLab at the start notebook (their
own copy under the hub's state folder), runs every cell, and sees the
model's output without an error. The pam mode differs only in the
authenticator and spawner classes, which JupyterHub itself tests.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT, VENV_BIN, _stop, free_port, wait_for_idle_kernel, wait_http

pytestmark = pytest.mark.browser

CHP = ROOT / ".venv" / "chp" / "node_modules" / ".bin" / "configurable-http-proxy"
TIMEOUT_MS = 45_000


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, chromium: Path) -> Any:
    if not (VENV_BIN / "jupyterhub").exists():
        pytest.fail("JupyterHub is not installed: pip install -e '.[test]'", pytrace=False)
    chp = os.environ.get("NOMMU_LAB_CHP") or str(CHP)
    if not Path(chp).exists():
        pytest.fail(f"configurable-http-proxy is not at {chp}: run scripts/ensure-system-packages "
                    "(npm install into .venv/chp)", pytrace=False)
    base = tmp_path_factory.mktemp("hub")
    port, password = free_port(), secrets.token_hex(8)
    env = dict(os.environ)
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[var] = str(base / var.lower())
    env.update(NOMMU_LAB_HUB_AUTH="shared", NOMMU_LAB_HUB_PASSWORD=password,
               NOMMU_LAB_HUB_IP="127.0.0.1", NOMMU_LAB_HUB_PORT=str(port),
               NOMMU_LAB_HUB_INTERNAL_PORTS=f"{free_port()},{free_port()}",
               NOMMU_LAB_HUB_STATE=str(base / "state"), NOMMU_LAB_CHP=chp, HOME=str(base))
    env.pop("NOMMU_LAB_STUDENT", None)
    log = base / "hub.log"
    t0 = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(VENV_BIN / "jupyterhub"), "-f", str(ROOT / "deploy" / "jupyterhub_config.py")],
                                cwd=base, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/hub/api", timeout=90, proc=proc)
        yield url, password, base, time.monotonic() - t0
    finally:
        _stop(proc)
        print("\n--- hub log (tail) ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))


def _student_runs_the_start_notebook(browser: Any, url: str, user: str, password: str,
                                     artifacts: Path) -> dict[str, float]:
    times: dict[str, float] = {}
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    try:
        t0 = time.monotonic()
        page.goto(f"{url}/hub/login", timeout=TIMEOUT_MS)
        page.fill("#username_input", user)
        page.fill("#password_input", password)
        page.click("#login_submit")
        # spawn, then JupyterLab opens the start notebook (Spawner.default_url)
        page.wait_for_url(f"**/user/{user}/lab/tree/nommu-lab/notebooks/00-start-here.ipynb*",
                          timeout=TIMEOUT_MS)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=TIMEOUT_MS)
        wait_for_idle_kernel(page, TIMEOUT_MS)
        times["login_to_kernel_idle_s"] = time.monotonic() - t0
        t1 = time.monotonic()
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        n = page.locator(".jp-CodeCell").count()
        page.wait_for_function(
            """(n) => { const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                          .map(e => e.textContent);
                        return p.length === n && p.every(t => /\\[\\d+\\]/.test(t)); }""",
            arg=n, timeout=TIMEOUT_MS)
        times["run_all_s"] = time.monotonic() - t1
        text = page.locator(".jp-Notebook").inner_text()
        assert "0x80108000" in text  # the notebook's mmap, printed by the model
        errors = page.locator("[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
        assert not [e for e in errors if "Error" in e or "Traceback" in e], errors
        page.screenshot(path=str(artifacts / f"hub-{user}.png"))
        return times
    finally:
        ctx.close()


def test_two_students_each_open_and_run_the_start_notebook(hub: Any, browser: Any,
                                                            artifacts: Path) -> None:
    url, password, base, ready = hub
    timings = {"hub_ready_s": ready}
    t0 = time.monotonic()
    for user in ("alice", "bob"):
        for k, v in _student_runs_the_start_notebook(browser, url, user, password, artifacts).items():
            timings[f"{user}_{k}"] = v
    timings["both_students_s"] = time.monotonic() - t0
    for user in ("alice", "bob"):  # each has their own copy of the course
        home = base / "state" / "home" / user / "nommu-lab"
        assert (home / "notebooks" / "00-start-here.ipynb").exists()
        assert (home / "exercises" / "shm-one-address.ipynb").exists()
    # the wrong password does not get in
    import urllib.error
    import urllib.parse
    import urllib.request

    req = urllib.request.Request(f"{url}/hub/api/users", headers={"Authorization": "token nope"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 403
    print("\nJupyterHub timings:", {k: round(v, 1) for k, v in timings.items()})
