"""How long the RAM map takes to redraw, how many bytes a redraw sends, and click to repaint.

Python side: boards of 8 MiB (2,048 frames) and 256 MiB (65,536 frames)
with some mappings scattered over them; after one mmap, time the RAM map's
redraw alone (frame colours, the gridded image, PNG encoding, handing it
to bqplot, outlines and labels), in the learner and presenter sizes, for all
of RAM and zoomed to the new mapping. Wall time and the process's CPU time
are both printed: on a shared machine the wall time includes waiting for a
core. Bytes are counted at the comm, as the widget messages would leave the
kernel (JSON state plus binary buffers). Then the whole Lab's reaction to
one call.

Browser side (skipped with ``--no-browser`` or when Chromium is missing):
Voila, with the offline template ``nommu-lab present`` uses, serves a Lab on the 65,536-frame board, Debian's Chromium (through
Playwright) clicks the lab's mmap button, and the time from the click to the
RAM map showing its new image (the image replaced, then two animation frames
so it is painted) is measured in the page: once with the page settled before
each click (as a lecturer clicks), once clicked back to back (each click
waits behind the previous one's messages to the other views); likewise a click on a frame until
its description shows, and a zoom. Figures are printed, never asserted:
``python benchmarks/bench_widgets.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import comm
from comm import DummyComm

import nommu_lab as nl
from nommu_lab import offline
from nommu_lab.constants import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE
from nommu_lab.widgets import Lab, RamMap

PAGE = 4096
ANON = (PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
RAM_SIZES = (8 << 20, 256 << 20)
REPEATS = 40
CHROMIUM = Path(os.environ.get("NOMMU_LAB_CHROMIUM", "/usr/bin/chromium"))
BROWSER_CLICKS = 12
_MAP_IMAGE = ".nl-rammap-figure image"


class CountingComm(DummyComm):
    """A comm that counts what would be sent to the browser."""

    sent = 0

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None,
                    buffers: Any = None, **keys: Any) -> None:
        size = len(json.dumps(data, default=str).encode()) if data is not None else 0
        size += sum(len(memoryview(b).cast("B")) for b in buffers or ())
        CountingComm.sent += size


def _patch_comm() -> None:
    comm.create_comm = lambda *a, **kw: CountingComm(*a, **kw)  # type: ignore[assignment]


def board(ram_size: int) -> tuple[nl.Kernel, nl.Process]:
    """A board with a few dozen mappings spread over RAM."""
    k = nl.boards.default(ram_size=ram_size)
    p = k.spawn("bench")
    for i in range(40):
        p.mmap(0, (1 + i % 7) * 5 * PAGE, *ANON)
    return k, p


def _timed(fn: Callable[[], None]) -> tuple[float, float, int]:
    CountingComm.sent = 0
    c, t = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t, time.process_time() - c, CountingComm.sent


WINDOWS = ("opening", "zoomed", "all RAM")


def bench_redraw(ram_size: int, presenter: bool, window: str) -> dict[str, Any]:
    """Time from the end of an mmap to the RAM map redrawn (what a click costs in Python).

    ``window``: the view the map opens on, zoomed to the new mapping, or all
    of RAM (on the 256 MiB board a pixel a frame; the opening view there is
    its first 2,048 frames).
    """
    k, p = board(ram_size)
    ram = RamMap(k, presenter=presenter)
    if window == "all RAM":
        ram.zoom_all()
    k.unsubscribe(ram._on_kernel)  # time the redraw alone, not the syscall
    wall: list[float] = []
    cpu: list[float] = []
    sent: list[int] = []
    for i in range(REPEATS):
        n = (1 + i % 5) * PAGE
        a = p.mmap(0, n, *ANON)
        if window == "zoomed" and i == 0:
            ram.zoom(a, a + n)
        w, c, s = _timed(ram.refresh)
        wall.append(w)
        cpu.append(c)
        sent.append(s)
        p.munmap(a, n)
        ram.refresh()
    g = ram.grid
    return {"wall_ms": statistics.median(wall) * 1e3, "best_ms": min(wall) * 1e3,
            "cpu_ms": statistics.median(cpu) * 1e3, "sent": statistics.median(sent),
            "png": len(ram.png) + len(ram.overview_png), "image": f"{g.width}x{g.height}",
            "frame": f"{g.cell}+{g.gap}"}


def bench_lab_call(ram_size: int) -> dict[str, float]:
    """One mmap through the Lab: the syscall plus every view redrawn once."""
    k = nl.boards.default(ram_size=ram_size)
    lab = Lab(k)
    lab.call(None, "spawn", "bench")
    wall: list[float] = []
    sent: list[int] = []
    for i in range(10):
        w, _, s = _timed(lambda i=i: lab.call(1, "mmap", 0, (1 + i % 5) * PAGE, *ANON))
        wall.append(w)
        sent.append(s)
    return {"wall_ms": statistics.median(wall) * 1e3, "sent": statistics.median(sent)}


def python_figures() -> None:
    _patch_comm()
    print("RAM map redraw after one mmap (Python side: colours, gridded image, PNG, bqplot, "
          "outlines, labels)")
    print("  board     frames view       window    frame  image px   wall med (best)   cpu med"
          "   bytes sent  of which PNG")
    for size in RAM_SIZES:
        for presenter in (False, True):
            for window in WINDOWS:
                if window == "all RAM" and size < (256 << 20):
                    continue  # the small board opens on all of RAM
                r = bench_redraw(size, presenter, window)
                print(f"  {size >> 20:3} MiB  {size // PAGE:6}  "
                      f"{'presenter' if presenter else 'learner':9}  "
                      f"{window:8}  {r['frame']:>5}  {r['image']:>9}  "
                      f"{r['wall_ms']:6.2f} ({r['best_ms']:5.2f}) ms  {r['cpu_ms']:5.2f} ms  "
                      f"{r['sent']:9.0f}  {r['png']:8}")
    print("Lab: one mmap call with every view redrawn once")
    for size in RAM_SIZES:
        r = bench_lab_call(size)
        print(f"  {size >> 20:4} MiB board: median {r['wall_ms']:6.2f} ms, "
              f"{r['sent']:8.0f} bytes sent per call")


# ------------------------------------------------------------------ browser
_NOTEBOOK_CELL = """\
import nommu_lab as nl
from nommu_lab.constants import *

lab = nl.Lab(nl.boards.default(ram_size=256 << 20), presenter={presenter})
p = lab.call(None, "spawn", "bench")
for i in range(40):  # scattered mappings, so the image is not one flat colour
    lab.call(p.pid, "mmap", 0, (1 + i % 7) * 5 * 4096, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS)
lab
"""

# The RAM map alone, with a button that maps 3 pages: what the map itself costs.
_MAP_ONLY_CELL = """import ipywidgets as W
import nommu_lab as nl
from nommu_lab.constants import *
from nommu_lab.widgets import RamMap

k = nl.boards.default(ram_size=256 << 20)
p = k.spawn("bench")
for i in range(40):
    p.mmap(0, (1 + i % 7) * 5 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
ram = RamMap(k, presenter={presenter})
button = W.Button(description="mmap 3 pages")
button.add_class("bench-mmap")
button.on_click(lambda _b: p.mmap(0, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS))
W.VBox([button, ram])
"""

# Runs in the page: click, then wait for the RAM map's image to be replaced and
# two animation frames (the new image painted). Returns milliseconds.
_CLICK_TO_REPAINT = """async ([button, image]) => {
  const img = () => document.querySelector(image);
  const old = img().getAttribute('href');
  const frames = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const t0 = performance.now();
  document.querySelector(button).click();
  while (!img() || img().getAttribute('href') === old) {
    if (performance.now() - t0 > 10000) return NaN;
    await new Promise(r => setTimeout(r, 1));
  }
  await frames();
  return performance.now() - t0;
}"""

# Before the page loads: note when each kernel message arrives, so a click can wait for
# the page to settle (the previous click's messages all handled) before it starts.
_NOTE_MESSAGES = """
window.__nl_last_message = performance.now();
const NativeWebSocket = window.WebSocket;
window.WebSocket = function (...args) {
  const ws = new NativeWebSocket(...args);
  ws.addEventListener('message', () => { window.__nl_last_message = performance.now(); });
  return ws;
};
window.WebSocket.prototype = NativeWebSocket.prototype;
Object.assign(window.WebSocket, NativeWebSocket);
"""

# Wait until no message has arrived for 300 ms (at most 5 s).
_SETTLE = """async () => {
  const t0 = performance.now();
  while (performance.now() - window.__nl_last_message < 300 && performance.now() - t0 < 5000)
    await new Promise(r => setTimeout(r, 20));
}"""

_CLICK_FRAME = """async ([image, info, i]) => {
  const el = document.querySelector(image);
  const r = el.getBoundingClientRect();
  const old = document.querySelector(info).textContent;
  const t0 = performance.now();
  // a different frame each time: step across the image
  const at = {clientX: r.x + 4 + (i * 37) % (r.width - 8), clientY: r.y + 4 + (i * 13) % (r.height - 8),
              bubbles: true};
  el.dispatchEvent(new MouseEvent('mousedown', at));
  el.dispatchEvent(new MouseEvent('mouseup', at));
  el.dispatchEvent(new MouseEvent('click', at));
  while (document.querySelector(info).textContent === old) {
    if (performance.now() - t0 > 10000) return NaN;
    await new Promise(r => setTimeout(r, 1));
  }
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return performance.now() - t0;
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _voila(work: Path, env: dict[str, str]) -> Iterator[str]:
    port = _free_port()
    voila = Path(sys.executable).parent / "voila"
    with open(work / "voila.log", "wb") as log:
        # served as `nommu-lab present` serves it: the offline template, nothing from a CDN
        env = dict(env, JUPYTER_PATH=offline.jupyter_path_with_template(env.get("JUPYTER_PATH")))
        proc = subprocess.Popen([str(voila), "--no-browser", "--port", str(port),
                                 "--Voila.ip=127.0.0.1", "--ServerApp.port_retries=0",
                                 *offline.voila_options()],
                                cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/voila/static/voila.js", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("Voila did not start; see voila.log") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _summary(ms: list[float]) -> str:
    lost = sum(1 for m in ms if m != m)  # NaN: no repaint within 10 s
    ms = sorted(m for m in ms if m == m)
    if not ms:
        return "no repaint seen"
    p90 = ms[min(len(ms) - 1, round(0.9 * (len(ms) - 1)))]
    text = f"median {statistics.median(ms):6.1f} ms, p90 {p90:6.1f} ms, max {ms[-1]:6.1f} ms"
    return text + (f" ({lost} never repainted)" if lost else "")


def _measure(page: Any, url: str, button: str, title: str) -> None:
    """Click ``button`` until the map repaints, click frames, zoom in and out; print times."""
    page.goto(url, timeout=120_000)
    try:
        page.wait_for_selector(_MAP_IMAGE, state="attached", timeout=120_000)
    except Exception:
        print(f"  {title}: the page never showed a RAM map:\n{page.inner_text('body')[-800:]}")
        return
    page.wait_for_function(f"() => (document.querySelector('{_MAP_IMAGE}')"
                           ".getAttribute('href') || '').startsWith('blob:')", timeout=120_000)
    page.wait_for_timeout(1000)

    def settled_click() -> float:
        page.evaluate(_SETTLE)
        return float(page.evaluate(_CLICK_TO_REPAINT, [button, _MAP_IMAGE]))
    mmap = [settled_click() for _ in range(BROWSER_CLICKS)]
    burst = [page.evaluate(_CLICK_TO_REPAINT, [button, _MAP_IMAGE]) for _ in range(BROWSER_CLICKS)]
    info = [page.evaluate(_CLICK_FRAME, [_MAP_IMAGE, ".nl-frame-info", i])
            for i in range(1, BROWSER_CLICKS + 1)]
    page.fill(".nl-zoom-range input", "0x80100000-0x80140000")
    page.press(".nl-zoom-range input", "Enter")  # the typed range arrives: zoomed in
    page.wait_for_function("() => /Showing 0x80100000/.test(document.querySelector('.nl-rammap-title').textContent)")
    zoom = [page.evaluate(_CLICK_TO_REPAINT, [btn, _MAP_IMAGE])
            for _ in range(BROWSER_CLICKS // 2) for btn in ("button.nl-zoom-all", "button.nl-zoom-go")]
    print(f"  {title}")
    print(f"    mmap click -> map repainted:  {_summary(mmap)}")
    print(f"      clicked back to back:       {_summary(burst)}")
    print(f"    frame click -> description:   {_summary(info)}")
    print(f"    zoom out/in -> map repainted: {_summary(zoom)}")


def browser_figures() -> None:
    if not CHROMIUM.exists():
        print(f"Browser: skipped (no Chromium at {CHROMIUM}; apt-get install chromium)")
        return
    import nbformat
    from playwright.sync_api import sync_playwright

    print(f"Browser: Voila + Debian Chromium (headless, software rendering), 65,536-frame board, "
          f"{BROWSER_CLICKS} clicks each (target: click to repaint <= 150 ms)")
    base = Path(tempfile.mkdtemp(prefix="nommu-bench-"))
    try:
        env = dict(os.environ)
        for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
            (base / var).mkdir()
            env[var] = str(base / var)
        env["HOME"] = str(base)
        work = base / "work"
        work.mkdir()
        for mode in ("learner", "presenter"):
            for name, cell in (("lab", _NOTEBOOK_CELL), ("map", _MAP_ONLY_CELL)):
                nb = nbformat.v4.new_notebook()
                nb.cells = [nbformat.v4.new_code_cell(cell.format(presenter=mode == "presenter"))]
                nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                             "language": "python"}
                nbformat.write(nb, str(work / f"{name}-{mode}.ipynb"))
        with _voila(work, env) as url, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                         args=["--no-sandbox", "--disable-gpu",
                                               "--disable-dev-shm-usage"])
            for mode, (w, h) in (("learner", (1280, 800)), ("presenter", (1920, 1080))):
                for name, button in (("map", "button.bench-mmap"), ("lab", "button.nl-mmap")):
                    page = browser.new_page(viewport={"width": w, "height": h})
                    page.add_init_script(_NOTE_MESSAGES)
                    # the lab works offline: any request that leaves this machine is reported
                    away: list[str] = []
                    page.on("request", lambda r, away=away: None if r.url.startswith(
                        (url, "blob:", "data:")) else away.append(r.url))
                    _measure(page, f"{url}/voila/render/{name}-{mode}.ipynb", button,
                             f"{mode} {w}x{h}, {'Lab' if name == 'lab' else 'RAM map alone'}")
                    if away:
                        print(f"    requests that left localhost: {len(away)}, e.g. {away[0]}")
                    page.close()
            browser.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-browser", action="store_true", help="Python figures only")
    ap.add_argument("--browser-only", action="store_true", help="browser figures only")
    args = ap.parse_args()
    if not args.browser_only:
        python_figures()
    if not args.no_browser:
        browser_figures()


if __name__ == "__main__":
    main()
