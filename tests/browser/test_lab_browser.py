"""The live lab in a real, offline browser: JupyterLab, Notebook 7 and Voila in headless Chromium.

Each test opens a notebook the way a learner or a lecturer would, at 1280x800
and at 1920x1080, and asserts with numbers:

- nothing is wider than its container (a box may scroll its own content, never
  push it out) and nothing scrolls the page or the notebook sideways;
- in the presenter view every piece of text is at least 18 px, the deck, the
  RAM map, the last call and the run button are above the fold at 1920x1080;
- a deck plays forward through every stop and back to the start, each stop
  showing what the model says it should;
- clicks repaint the RAM map (the time is printed);
- zero console errors, and zero requests leave 127.0.0.1 (the browser runs
  offline: only 127.0.0.1 resolves).

Screenshots of every view go to ``test-artifacts/`` (ignored by git); timings
are printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import nommu_lab as nl
import nommu_lab.decks as D
from nommu_lab.widgets import Lab

from .conftest import VIEWPORTS, Server, Tracked, wait_http

pytestmark = pytest.mark.browser

RAM_IMAGE = ".nl-rammap-figure image"
REGION_ROWS = ".nl-regions-table select option"
LOAD_TIMEOUT_MS = 90_000
CLICK_TIMEOUT_MS = 15_000
MIN_PRESENTER_PX = 18
DECK = "05-flash"  # the longest story: the crash and both fixes

# every box inside ``root`` that sticks out of its parent (unless the parent scrolls it)
OVERFLOW_JS = """(rootSel) => {
  const SCROLLERS = 'select, textarea, input, .nl-devices-body, pre.nl-header, .lm-TabBar-content, ' +
                    '.nl-compare-box *';
  const name = el => el.tagName.toLowerCase() + (typeof el.className === 'string' && el.className.trim()
      ? '.' + el.className.trim().split(/\\s+/).slice(0, 3).join('.') : '');
  const out = [];
  for (const root of document.querySelectorAll(rootSel)) {
    for (const el of [root, ...root.querySelectorAll('*')]) {
      if (el.closest('svg') && el.tagName.toLowerCase() !== 'svg') continue;  // marks of a plot
      const r = el.getBoundingClientRect();
      if (r.width < 1 || r.height < 1) continue;
      const es = getComputedStyle(el);
      if (es.position === 'absolute' || es.position === 'fixed') continue;
      const p = el.parentElement;
      if (!p) continue;
      const ps = getComputedStyle(p);
      if (ps.overflowX === 'auto' || ps.overflowX === 'scroll') continue;  // scrolls in its own box
      const pr = p.getBoundingClientRect();
      const over = Math.max(r.right - pr.right, pr.left - r.left);
      if (over > 1.5) out.push(`${name(el)} ${Math.round(r.width)}px sticks out of ` +
                               `${name(p)} ${Math.round(pr.width)}px by ${Math.round(over)}px`);
      // a box that scrolls sideways by accident (only these are meant to scroll their content)
      if ((es.overflowX === 'auto' || es.overflowX === 'scroll') && el.scrollWidth > el.clientWidth + 1
          && !el.matches(SCROLLERS)) out.push(`${name(el)} scrolls sideways: ` +
                                              `${el.scrollWidth} > ${el.clientWidth}`);
    }
  }
  return out;
}"""

# anything that scrolls sideways: the page, and every ancestor of the lab
SIDEWAYS_JS = """(rootSel) => {
  const out = [];
  const se = document.scrollingElement;
  if (se.scrollWidth > se.clientWidth + 1) out.push(`page ${se.scrollWidth} > ${se.clientWidth}`);
  for (const root of document.querySelectorAll(rootSel)) {
    for (let el = root; el && el !== document.body; el = el.parentElement) {
      const s = getComputedStyle(el);
      if (el.scrollWidth > el.clientWidth + 1 && s.overflowX !== 'hidden' && s.overflowX !== 'visible')
        out.push(`${el.tagName.toLowerCase()}.${String(el.className).split(' ')[0]} ` +
                 `${el.scrollWidth} > ${el.clientWidth}`);
    }
  }
  return out;
}"""

# every visible element that shows text, and its computed font size
FONTS_JS = """() => {
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    const field = ['INPUT', 'SELECT', 'TEXTAREA', 'BUTTON'].includes(el.tagName);
    if (!own && !field) continue;
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    if (r.width < 1 || r.height < 1 || s.visibility === 'hidden') continue;
    const text = (el.value || el.textContent || '').trim().slice(0, 40);
    out.push([parseFloat(s.fontSize), el.tagName.toLowerCase(), String(el.className).slice(0, 40),
              text, !!el.closest('.nl-rammap svg')]);
  }
  return out;
}"""


# ---------------------------------------------------------------- helpers
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


def _tab(page: Any, title: str) -> None:
    """Open one tab of the controls."""
    page.locator(".nl-tabs .lm-TabBar-tab", has_text=title).first.click()


def _status(page: Any) -> str:
    return page.locator(".nl-status").first.inner_text()


def _check_layout(page: Any, root: str, where: str) -> None:
    over = page.evaluate(OVERFLOW_JS, root)
    assert over == [], f"{where}: {len(over)} box(es) wider than their container: {over[:8]}"
    sideways = page.evaluate(SIDEWAYS_JS, root)
    assert sideways == [], f"{where}: sideways scrolling: {sideways}"


def _shoot(page: Any, artifacts: Path, name: str) -> None:
    """What the screen shows, and the whole lab on a screen tall enough to hold it."""
    page.screenshot(path=str(artifacts / f"{name}.png"))
    vp = page.viewport_size
    height = page.evaluate("() => document.querySelector('.nl-lab').getBoundingClientRect().height")
    page.set_viewport_size({"width": vp["width"], "height": min(int(height) + 300, 8000)})
    page.wait_for_timeout(300)
    page.locator(".nl-lab").first.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(artifacts / f"{name}-whole.png"))
    page.set_viewport_size(vp)
    page.wait_for_timeout(300)


def _assert_clean(t: Tracked, where: str, baseline: frozenset[str] = frozenset()) -> None:
    """No console error (beyond those the front end makes without nommu-lab), nothing external."""
    ours = [e for e in t.errors if e not in baseline]
    assert ours == [], f"{where}: console errors {ours}"
    assert t.external == [], f"{where}: requests left the machine: {t.external}"


def _run_start_notebook(t: Tracked, url: str) -> dict[str, float]:
    """Open 00-start-here, wait for a ready kernel, run every cell, wait for the lab."""
    page = t.page
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    page.goto(url, timeout=LOAD_TIMEOUT_MS)
    page.wait_for_selector(".jp-Notebook", timeout=LOAD_TIMEOUT_MS)
    timings["page_to_notebook_s"] = time.monotonic() - t0
    page.wait_for_function(
        """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                   const k = w && w.sessionContext && w.sessionContext.session
                             && w.sessionContext.session.kernel;
                   return k && k.status === 'idle'; }""", timeout=LOAD_TIMEOUT_MS)
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
    return timings


def _image_pixels(page: Any) -> tuple[int, int]:
    """Natural size of the RAM map image as the browser decoded it."""
    return tuple(page.evaluate(
        """async (sel) => { const el = document.querySelector(sel);
             const img = new Image(); img.src = el.getAttribute('href'); await img.decode();
             return [img.naturalWidth, img.naturalHeight]; }""", RAM_IMAGE))


def _click_mmap_and_check(page: Any, timings: dict[str, float]) -> None:
    """Click mmap; the map must repaint, a region row appear, the call be worded in full."""
    _tab(page, "mmap")
    before_rows = _rows(page)
    old = _image_href(page)
    t = time.monotonic()
    page.locator("button.nl-mmap").first.click()
    _wait_new_image(page, old)
    timings["click_to_repaint_s"] = time.monotonic() - t
    page.wait_for_function(f"n => document.querySelectorAll('{REGION_ROWS}').length > n",
                           arg=before_rows, timeout=CLICK_TIMEOUT_MS)
    status = _status(page)
    assert "mmap(0, 0x3000, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x" in status


def _learner_view(t: Tracked, url: str, artifacts: Path, name: str,
                  baseline: frozenset[str] = frozenset()) -> dict[str, float]:
    """The start notebook at both sizes: layout, a click, a refusal, a negative length."""
    page = t.page
    timings = _run_start_notebook(t, url)
    for w, h in VIEWPORTS:
        page.set_viewport_size({"width": w, "height": h})
        page.wait_for_timeout(400)  # let the notebook lay itself out again
        page.locator(".nl-lab").first.evaluate("el => el.scrollIntoView({block: 'start'})")
        _check_layout(page, ".nl-lab", f"{name} {w}x{h}")
        _shoot(page, artifacts, f"{name}-{w}x{h}")
    _click_mmap_and_check(page, timings)
    # a negative length is a number the kernel answers (ENOMEM), not a form error
    page.locator(".nl-mmap-length input").first.fill("-4096")
    page.locator("button.nl-mmap").first.click()
    page.wait_for_function("() => /ENOMEM/.test(document.querySelector('.nl-status').innerText)",
                           timeout=CLICK_TIMEOUT_MS)
    assert "not a number" not in _status(page)
    # a refused call shows the kernel's sentence in the page, not a traceback
    page.locator(".nl-mmap-length input").first.fill("3 pages")
    page.locator(".nl-map-fixed input").first.check()
    page.locator("button.nl-mmap").first.click()
    page.wait_for_function(
        "() => /MAP_FIXED is refused/.test(document.querySelector('.nl-status').innerText)",
        timeout=CLICK_TIMEOUT_MS)
    assert "Traceback" not in _status(page)
    for tab in ("unmap", "files", "memory", "devices", "process"):
        _tab(page, tab)
        page.wait_for_timeout(150)
        _check_layout(page, ".nl-lab", f"{name} 1920x1080, tab {tab}")
    _shoot(page, artifacts, f"{name}-after-clicks")
    _assert_clean(t, name, baseline)
    return timings


# ------------------------------------------------------------------ tests
def test_jupyterlab_learner_view_fits_and_responds(jupyterlab: Server, open_page: Any,
                                                   artifacts: Path) -> None:
    t = open_page(*VIEWPORTS[0])
    url = f"{jupyterlab.url}/lab/tree/00-start-here.ipynb?token={jupyterlab.token}&reset"
    timings = _learner_view(t, url, artifacts, "jupyterlab")
    print("\nJupyterLab timings:", {k: round(v, 2) for k, v in {**jupyterlab.timings, **timings}.items()})


def test_notebook7_learner_view_fits_and_responds(notebook7: Server, open_page: Any,
                                                  artifacts: Path) -> None:
    # Notebook 7.6 reports a page error of its own while it loads its settings, with any
    # notebook: measured on a blank one, and allowed (only that) on the lab's page
    blank = open_page(*VIEWPORTS[0])
    blank.page.goto(f"{notebook7.url}/notebooks/blank.ipynb?token={notebook7.token}",
                    timeout=LOAD_TIMEOUT_MS)
    blank.page.wait_for_selector(".jp-Notebook", timeout=LOAD_TIMEOUT_MS)
    blank.page.wait_for_timeout(2000)
    baseline = frozenset(blank.errors)
    blank.page.close()
    print("\nNotebook 7 on a blank notebook:", sorted(baseline))
    t = open_page(*VIEWPORTS[0])
    url = f"{notebook7.url}/notebooks/00-start-here.ipynb?token={notebook7.token}"
    timings = _learner_view(t, url, artifacts, "notebook7", baseline)
    print("\nNotebook 7 timings:", {k: round(v, 2) for k, v in {**notebook7.timings, **timings}.items()})


def _expected_cards(key: str) -> list[str]:
    """The heading of every stop of a deck, as the model's own deck player words it."""
    lab = Lab(nl.boards.default(), presenter=True)
    lab.decks.choose(key)
    heads = [lab.decks.card_text()[0]]
    while lab.decks.playback.can_forward:
        lab.decks.forward()
        heads.append(lab.decks.card_text()[0])
    return heads


def _deck_head(page: Any) -> str:
    return page.locator(".nl-deck-head").first.inner_text().replace("\xa0", " ").strip()


def test_voila_presenter_is_big_fits_and_plays_a_deck_offline(voila: Server, open_page: Any,
                                                              artifacts: Path) -> None:
    timings = dict(voila.timings)
    t = open_page(1920, 1080)
    page = t.page
    wait_http(f"{voila.url}/voila/static/voila.js")
    t0 = time.monotonic()
    page.goto(voila.url + "/", timeout=LOAD_TIMEOUT_MS)
    page.wait_for_selector(RAM_IMAGE, state="attached", timeout=LOAD_TIMEOUT_MS)
    _wait_new_image(page, "")
    timings["page_to_map_s"] = time.monotonic() - t0
    assert page.locator(".nl-presenter").count() == 1
    body = page.locator("body").inner_text()
    assert "import nommu_lab" not in body and "presenter=True" not in body  # no code shown

    # large type everywhere (the RAM map's own SVG labels are reported, not asserted here)
    fonts = page.evaluate(FONTS_JS)
    small = [f for f in fonts if f[0] < MIN_PRESENTER_PX and not f[4]]
    assert fonts and small == [], f"{len(small)} text element(s) under {MIN_PRESENTER_PX}px: {small[:10]}"
    svg = sorted({f[0] for f in fonts if f[4]})
    print(f"\npresenter text: {len(fonts)} elements, smallest {min(f[0] for f in fonts if not f[4])}px; "
          f"RAM map SVG labels: {svg} px")

    # choose the deck: the most useful views are above the fold at 1920x1080
    title = D.load(DECK).title
    page.select_option(".nl-deck-choose select", label=title)
    page.wait_for_function(f"() => document.querySelector('.nl-deck-head').innerText.includes({title[:20]!r})",
                           timeout=CLICK_TIMEOUT_MS)
    for sel in (".nl-deck-card", ".nl-rammap-figure", ".nl-lastcall", "button.nl-run",
                "button.nl-deck-next"):
        box = page.locator(sel).first.bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 1080, (sel, box)
    for w, h in VIEWPORTS:
        page.set_viewport_size({"width": w, "height": h})
        page.wait_for_timeout(300)
        _check_layout(page, ".nl-lab", f"voila {w}x{h}")
        _shoot(page, artifacts, f"voila-presenter-{w}x{h}")

    # the deck forward through every stop and back to the start
    expected = _expected_cards(DECK)
    n = len(expected)
    steps: list[float] = []

    def go(button: str, index: int) -> None:
        t1 = time.monotonic()
        page.locator(f"button.{button}").first.click()
        page.wait_for_function(
            "s => document.querySelector('.nl-deck-where').innerText.trim() === s",
            arg=f"stop {index + 1} of {n}", timeout=CLICK_TIMEOUT_MS)
        steps.append(time.monotonic() - t1)
        assert _deck_head(page) == expected[index], index

    assert _deck_head(page) == expected[0]
    for i in range(1, n):
        go("nl-deck-next", i)
        head = expected[i]
        if head.endswith("· predict"):
            assert page.locator(".nl-deck-answer").first.inner_text().startswith("next call:")
            if i < 8:
                _shoot(page, artifacts, "voila-deck-question")
        elif "run(8) = 0" in head:  # the crash: the last-call panel names the illegal instruction
            # the last-call panel is a view of its own: it may repaint a moment after the card
            page.wait_for_function(
                "() => document.querySelector('.nl-lastcall').innerText"
                ".includes('cpu.illegal_instruction')", timeout=CLICK_TIMEOUT_MS)
            _shoot(page, artifacts, "voila-deck-crash")
    _check_layout(page, ".nl-lab", "voila 1920x1080 at the deck's end")
    for i in range(n - 2, -1, -1):
        go("nl-deck-back", i)
    assert page.locator("button.nl-deck-back").first.is_disabled()
    timings["deck_stop_median_s"] = sorted(steps)[len(steps) // 2]
    timings["deck_stop_max_s"] = max(steps)

    # the MMU side-by-side view, one click away
    page.locator("button.nl-compare").first.click()
    page.wait_for_selector(".nl-compare-box table", timeout=LOAD_TIMEOUT_MS)
    assert "MMU" in page.locator(".nl-compare-box").first.inner_text()
    _check_layout(page, ".nl-lab", "voila with the comparison open")
    page.locator(".nl-compare-box").first.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "voila-compare.png"))
    page.locator("button.nl-compare-close").first.click()

    # the run button from the presenter screen, and the click-to-repaint time
    def click_until(button: str, pattern: str) -> None:
        page.locator(f"button.{button}").first.click()
        page.wait_for_function("p => new RegExp(p).test(document.querySelector('.nl-status').innerText)",
                               arg=pattern, timeout=CLICK_TIMEOUT_MS)

    click_until("nl-spawn", "spawn")
    _click_mmap_and_check(page, timings)
    _tab(page, "process")
    click_until("nl-exec", "execve")
    click_until("nl-run", r"run\(8\) = 8")
    _shoot(page, artifacts, "voila-presenter-after-clicks")
    print("Voila timings:", {k: round(v, 3) for k, v in timings.items()})
    _assert_clean(t, "voila")
