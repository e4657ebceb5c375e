"""The live lab in a real browser: JupyterLab and Voila in headless Chromium.

Each test opens a notebook, lets it run, checks that the RAM map image and the
tables are drawn, clicks the lab's own buttons (found by the CSS classes the
widgets add), waits for the RAM map to be repainted with a new image, and
requires zero errors in the browser console. Screenshots go to
``test-artifacts/``. Timings are printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import Server, wait_http

pytestmark = pytest.mark.browser

RAM_IMAGE = ".nl-rammap-figure image"
REGION_ROWS = ".nl-regions-table select option"
LOAD_TIMEOUT_MS = 90_000
CLICK_TIMEOUT_MS = 15_000


def _watch_console(page: Any) -> list[str]:
    """Collect console errors and uncaught page errors."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    return errors


def _image_href(page: Any) -> str:
    return page.eval_on_selector(RAM_IMAGE, "el => el.getAttribute('href') || ''")


def _wait_new_image(page: Any, old: str) -> float:
    """Wait until the RAM map shows a different image; seconds it took."""
    t = time.monotonic()
    page.wait_for_function(
        """([sel, old]) => { const el = document.querySelector(sel);
             const h = el && el.getAttribute('href');
             return h && h.startsWith('blob:') && h !== old; }""",
        arg=[RAM_IMAGE, old], timeout=CLICK_TIMEOUT_MS)
    return time.monotonic() - t


def _rows(page: Any) -> int:
    return page.eval_on_selector_all(REGION_ROWS, "els => els.length")


def _image_pixels(page: Any) -> tuple[int, int]:
    """Natural size of the RAM map image as the browser decoded it."""
    return tuple(page.evaluate(
        """async (sel) => { const el = document.querySelector(sel);
             const img = new Image(); img.src = el.getAttribute('href'); await img.decode();
             return [img.naturalWidth, img.naturalHeight]; }""", RAM_IMAGE))


def _click_mmap_and_check(page: Any, artifacts: Path, name: str, timings: dict[str, float]) -> None:
    """Click mmap; the map must repaint and a region row appear."""
    before_rows = _rows(page)
    old = _image_href(page)
    shot_before = page.locator(".nl-rammap-figure").first.screenshot()
    t = time.monotonic()
    page.locator("button.nl-mmap").first.click()
    _wait_new_image(page, old)
    timings["click_to_repaint_s"] = time.monotonic() - t
    page.wait_for_function(f"n => document.querySelectorAll('{REGION_ROWS}').length > n",
                           arg=before_rows, timeout=CLICK_TIMEOUT_MS)
    status = page.locator(".nl-status").first.inner_text()
    assert "mmap(anonymous" in status and "->" in status, status
    page.wait_for_timeout(300)  # let the canvas settle before the second screenshot
    shot_after = page.locator(".nl-rammap-figure").first.screenshot()
    assert shot_after != shot_before, "the RAM map looks the same after an mmap"
    (artifacts / f"{name}-rammap-before.png").write_bytes(shot_before)
    (artifacts / f"{name}-rammap-after.png").write_bytes(shot_after)


def test_jupyterlab_runs_the_start_notebook_and_the_lab_responds(
        jupyterlab: Server, browser: Any, artifacts: Path) -> None:
    timings = dict(jupyterlab.timings)
    page = browser.new_page(viewport={"width": 1600, "height": 1200})
    errors = _watch_console(page)
    t0 = time.monotonic()
    page.goto(f"{jupyterlab.url}/lab/tree/00-start-here.ipynb?token={jupyterlab.token}&reset",
              timeout=LOAD_TIMEOUT_MS)
    page.wait_for_selector(".jp-Notebook", timeout=LOAD_TIMEOUT_MS)
    timings["page_to_notebook_s"] = time.monotonic() - t0
    # "Idle" next to a kernel name: the kernel exists and is ready
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-StatusBar-TextItem, .jp-StatusBar-Item')]"
        ".some(e => /Python 3.*Idle/.test(e.textContent))", timeout=LOAD_TIMEOUT_MS)
    timings["kernel_idle_s"] = time.monotonic() - t0
    t1 = time.monotonic()
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_selector(RAM_IMAGE, state="attached", timeout=LOAD_TIMEOUT_MS)
    _wait_new_image(page, "")
    # the notebook's second code cell maps 3 pages: one region row plus "(none)"
    page.wait_for_function(f"() => document.querySelectorAll('{REGION_ROWS}').length >= 2",
                           timeout=LOAD_TIMEOUT_MS)
    timings["run_all_to_map_s"] = time.monotonic() - t1
    assert _image_pixels(page) == (577, 289)  # 64 x 32 frames: 8 px squares, 1 px gaps
    row = page.locator(REGION_ROWS).nth(1).inner_text().replace("\xa0", " ")
    assert row.startswith("80108000-8010b000 rw-p"), row
    assert page.locator(".nl-events-table select option").count() > 3
    assert "Physical RAM" in page.locator(".nl-rammap-title").first.inner_text()
    page.screenshot(path=str(artifacts / "jupyterlab-lab.png"), full_page=True)

    _click_mmap_and_check(page, artifacts, "jupyterlab", timings)

    # a refused call shows the kernel's sentence in the page, not a traceback
    page.locator(".nl-map-fixed input").first.check()
    page.locator("button.nl-mmap").first.click()
    page.wait_for_selector(".nl-status .nl-error", timeout=CLICK_TIMEOUT_MS)
    status = page.locator(".nl-status").first.inner_text()
    assert "MAP_FIXED is refused without an MMU" in status and "Traceback" not in status
    page.screenshot(path=str(artifacts / "jupyterlab-after-clicks.png"), full_page=True)
    print("\nJupyterLab timings:", {k: round(v, 2) for k, v in timings.items()})
    assert errors == [], errors


def test_voila_presenter_renders_and_the_buttons_work(voila: Server, browser: Any,
                                                       artifacts: Path) -> None:
    timings = dict(voila.timings)
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    errors = _watch_console(page)
    # the template asks a CDN for Font Awesome; offline that would be console errors
    page.route("**/cdn.jsdelivr.net/**", lambda route: route.fulfill(
        status=200, content_type="text/css", body="/* font awesome stubbed by the test */"))
    wait_http(f"{voila.url}/voila/static/voila.js")
    t0 = time.monotonic()
    page.goto(voila.url + "/", timeout=LOAD_TIMEOUT_MS)
    page.wait_for_selector(RAM_IMAGE, state="attached", timeout=LOAD_TIMEOUT_MS)
    _wait_new_image(page, "")
    timings["page_to_map_s"] = time.monotonic() - t0
    assert page.locator(".nl-presenter").count() == 1
    body = page.locator("body").inner_text()
    assert "import nommu_lab" not in body and "presenter=True" not in body  # no code shown
    assert page.locator(".nl-dev-table").count() == 3  # mounts, devices, device memory
    assert "/dev/mtd0" in page.locator(".nl-devices").first.inner_text()
    page.screenshot(path=str(artifacts / "voila-presenter.png"), full_page=True)

    page.locator("button.nl-spawn").first.click()
    page.wait_for_function("() => /pid 1/.test(document.querySelector('.nl-status').innerText)",
                           timeout=CLICK_TIMEOUT_MS)
    _click_mmap_and_check(page, artifacts, "voila", timings)
    old = _image_href(page)
    page.locator("button.nl-back").first.click()
    _wait_new_image(page, old)
    page.wait_for_function("() => /call 1 of 2/.test(document.querySelector('.nl-position').innerText)",
                           timeout=CLICK_TIMEOUT_MS)
    legend = page.locator(".nl-legend-item.nl-state-anon").first.inner_text()
    assert legend.split()[-1] == "0", legend  # stepped back before the mmap
    page.screenshot(path=str(artifacts / "voila-after-back.png"), full_page=True)
    print("\nVoila timings:", {k: round(v, 2) for k, v in timings.items()})
    assert errors == [], errors
