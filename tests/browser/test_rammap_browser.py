"""The RAM map as a class sees it: frames counted in real pixels, in JupyterLab and Voila.

Headless Chromium (Debian's, through Playwright) renders a lab on the 8 MiB
board after ``mmap`` of 3 anonymous pages, in the learner and the presenter
view, at 1280x800 and 1920x1080. Every check is a number read from the page:
the size of a frame's square measured on a screenshot, the anonymous frames
counted as runs of their colour separated by gap pixels, the frame a click
lands on, and where each label's text box lies. Screenshots go to
``test-artifacts/``. Repaint times are measured by ``benchmarks/bench_widgets.py``,
never asserted here.
"""

from __future__ import annotations

import base64
import itertools
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest

from nommu_lab.kernel import PageState
from nommu_lab.widgets.palette import PALETTE, palette_index
from nommu_lab.widgets.ramgrid import layout_for
from nommu_lab.widgets.rammap import LEARNER, PRESENTER

from .conftest import VENV_BIN, Server, _serve, wait_for_idle_kernel

pytestmark = pytest.mark.browser

MAP = ".nl-rammap-figure"
MAP_IMAGE = ".nl-rammap-figure image"
LOAD_TIMEOUT_MS = 90_000
CLICK_TIMEOUT_MS = 15_000
VIEWPORTS = {"1280x800": (1280, 800), "1920x1080": (1920, 1080)}
#: the smallest frame a student can count from the back of a room, per view
MIN_FRAME_PX = {"learner": 8, "presenter": 12}
#: the 3 anonymous frames: the first region's shade of the ANON colour
ANON_RGB = tuple(int(v) for v in PALETTE[palette_index(PageState.ANON, 0)])
FIRST_ANON_PFN = 264  # default board: 256 kernel frames, 8 frame-buffer frames

_CELL = """\
import nommu_lab as nl
from nommu_lab.constants import *

k = nl.boards.default()
lab = nl.Lab(k, presenter={presenter})
p = lab.call(None, "spawn", "app")
lab.call(p.pid, "mmap", 0, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
lab
"""


def _write_notebook(path: Path, source: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


_BIG_CELL = """\
import nommu_lab as nl
from nommu_lab.constants import *
from nommu_lab.widgets import RamMap

k = nl.boards.default(ram_size=256 << 20)
ram = RamMap(k)
p = k.spawn("app")
p.mmap(0, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
ram
"""


_MAP_CELL = """\
import nommu_lab as nl
from nommu_lab.constants import *
from nommu_lab.widgets import RamMap

k = nl.boards.default()
ram = RamMap(k, presenter={presenter})
p = k.spawn("app")
p.mmap(0, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
ram
"""


_FRAG_CELL = """\
import nommu_lab as nl
from nommu_lab.constants import *
from nommu_lab.widgets import FragmentationView

k = nl.boards.default()
view = FragmentationView(k, presenter={presenter})
p = k.spawn("frag")
addrs = [p.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS) for _ in range(40)]
for a in addrs[::2]:
    p.munmap(a, 4096)
p.mmap(0, 1000 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
view
"""


def _fragmented_kernel() -> Any:
    """The machine of the fragmentation notebook, made here too, to know its numbers."""
    import nommu_lab as nl
    from nommu_lab.constants import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE

    k = nl.boards.default()
    p = k.spawn("frag")
    addrs = [p.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS) for _ in range(40)]
    for a in addrs[::2]:
        p.munmap(a, 4096)
    p.mmap(0, 1000 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    return k


@pytest.fixture(scope="session")
def rammap_notebooks(jupyter_home: tuple[Path, dict[str, str]]) -> dict[str, str]:
    """Labs after mmap of 3 anonymous pages (learner, presenter), and a 256 MiB RAM map."""
    base, _ = jupyter_home
    names = {}
    for mode in ("learner", "presenter"):
        name = f"rammap-{mode}.ipynb"
        _write_notebook(base / "work" / name, _CELL.format(presenter=mode == "presenter"))
        names[mode] = name
        _write_notebook(base / "work" / f"rammap-map-{mode}.ipynb",
                        _MAP_CELL.format(presenter=mode == "presenter"))
        names[f"map-{mode}"] = f"rammap-map-{mode}.ipynb"
        _write_notebook(base / "work" / f"fragmentation-{mode}.ipynb",
                        _FRAG_CELL.format(presenter=mode == "presenter"))
        names[f"frag-{mode}"] = f"fragmentation-{mode}.ipynb"
    _write_notebook(base / "work" / "rammap-256mib.ipynb", _BIG_CELL)
    names["256mib"] = "rammap-256mib.ipynb"
    return names


@pytest.fixture(scope="session")
def voila_tree(jupyter_home: tuple[Path, dict[str, str]],
               rammap_notebooks: dict[str, str]) -> Iterator[Server]:
    """Voila serving the whole work folder (``/voila/render/<notebook>``)."""
    base, env = jupyter_home
    argv = [str(VENV_BIN / "voila"), "--no-browser", "--port", "{port}", "--Voila.ip=127.0.0.1",
            "--ServerApp.port_retries=0"]
    with _serve(base, env, "voila-tree", argv, "/voila/static/voila.js") as server:
        yield server


# ------------------------------------------------------------------ pages
def _watch_console(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    return errors


def _wait_map(page: Any, labelled: bool = True) -> None:
    page.wait_for_selector(MAP_IMAGE, state="attached", timeout=LOAD_TIMEOUT_MS)
    page.wait_for_function(
        """(sel) => { const el = document.querySelector(sel);
             const h = el && el.getAttribute('href'); return h && h.startsWith('blob:'); }""",
        arg=MAP_IMAGE, timeout=LOAD_TIMEOUT_MS)
    if not labelled:  # squares too small for labels: wait for the mapping's frames in the title
        page.wait_for_function("() => /MemFree 261076 kB/.test("
                               "document.querySelector('.nl-rammap-title').textContent)",
                               timeout=LOAD_TIMEOUT_MS)
        page.wait_for_timeout(300)
        return
    # the region label of the mapping is drawn: the lab has caught up with both calls
    page.wait_for_function(
        "() => [...document.querySelectorAll('.nl-rammap-figure text')].some(t => /anon/.test(t.textContent))",
        timeout=LOAD_TIMEOUT_MS)
    page.wait_for_timeout(300)


def _open(page: Any, where: str, jupyterlab: Server | None, voila: Server | None,
          notebook: str, labelled: bool = True) -> None:
    if where == "jupyterlab":
        assert jupyterlab is not None
        page.goto(f"{jupyterlab.url}/lab/tree/{notebook}?token={jupyterlab.token}&reset",
                  timeout=LOAD_TIMEOUT_MS)
        page.wait_for_selector(".jp-Notebook", timeout=LOAD_TIMEOUT_MS)
        wait_for_idle_kernel(page, LOAD_TIMEOUT_MS)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    else:
        assert voila is not None
        page.route("**/cdn.jsdelivr.net/**", lambda route: route.fulfill(
            status=200, content_type="text/css", body="/* stubbed: no network in a classroom */"))
        page.goto(f"{voila.url}/voila/render/{notebook}", timeout=LOAD_TIMEOUT_MS)
    _wait_map(page, labelled)


def _image_box(page: Any) -> dict[str, float]:
    """Where the map image is on the page (CSS px) and its size in image pixels."""
    return page.evaluate(
        """async (sel) => { const el = document.querySelector(sel);
             const r = el.getBoundingClientRect();
             const img = new Image(); img.src = el.getAttribute('href'); await img.decode();
             return {x: r.x, y: r.y, width: r.width, height: r.height,
                     natural_width: img.naturalWidth, natural_height: img.naturalHeight,
                     dpr: window.devicePixelRatio}; }""", MAP_IMAGE)


def _pixels(page: Any, clip: dict[str, float]) -> np.ndarray:
    """An RGB screenshot of ``clip`` as an array (decoded by the browser's own PNG decoder)."""
    png = page.screenshot(clip=clip)
    raw = page.evaluate(
        """async (b64) => { const img = new Image(); img.src = 'data:image/png;base64,' + b64;
             await img.decode(); const c = document.createElement('canvas');
             c.width = img.naturalWidth; c.height = img.naturalHeight;
             const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
             const d = ctx.getImageData(0, 0, c.width, c.height).data; let s = '';
             for (let i = 0; i < d.length; i += 0x8000) s += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));
             return [c.width, c.height, btoa(s)]; }""", base64.b64encode(png).decode())
    w, h, data = raw
    return np.frombuffer(base64.b64decode(data), dtype=np.uint8).reshape(h, w, 4)[:, :, :3]


def save_rgb_png(path: Path, rgb: np.ndarray, scale: int = 1) -> None:
    """Write an RGB array as a PNG, each pixel ``scale`` x ``scale`` (to look at gaps closely)."""
    big = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1).astype(np.uint8)
    h, w, _ = big.shape
    raw = np.concatenate([np.zeros((h, 1), dtype=np.uint8), big.reshape(h, w * 3)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + chunk(b"IEND", b""))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, length)`` of every run of True in a 1-D mask."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return [(int(a), int(b - a)) for a, b in zip(edges[0::2], edges[1::2], strict=True)]


def count_frames(rgb: np.ndarray, colour: tuple[int, int, int], tol: int = 6) -> dict[str, Any]:
    """Count squares of ``colour`` in a screenshot crop, as a student would.

    Takes the pixel row crossing the most pixels of that colour and counts the
    runs of it along that row: frames separated by gap pixels are separate
    runs, frames drawn without a gap merge into one. Returns the runs, their
    widths, the gaps between them and the height of the squares.
    """
    match = (np.abs(rgb.astype(int) - np.array(colour)) <= tol).all(axis=2)
    if not match.any():
        return {"runs": [], "widths": [], "gaps": [], "height": 0}
    y = int(np.argmax(match.sum(axis=1)))
    runs = _runs(match[y])
    gaps = [b[0] - (a[0] + a[1]) for a, b in itertools.pairwise(runs)]
    x = runs[0][0] + runs[0][1] // 2
    heights = [n for s, n in _runs(match[:, x]) if s <= y < s + n]
    return {"runs": runs, "widths": [n for _, n in runs], "gaps": gaps, "row": y,
            "height": heights[0] if heights else 0}


# ------------------------------------------------------------------ tests
@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
@pytest.mark.parametrize(("where", "mode"), [("jupyterlab", "learner"), ("voila", "learner"),
                                             ("voila", "presenter")])
def test_three_anonymous_frames_can_be_counted(
        where: str, mode: str, viewport: str, request: pytest.FixtureRequest, browser: Any,
        rammap_notebooks: dict[str, str], artifacts: Path) -> None:
    jl = request.getfixturevalue("jupyterlab") if where == "jupyterlab" else None
    vo = request.getfixturevalue("voila_tree") if where == "voila" else None
    w, h = VIEWPORTS[viewport]
    page = browser.new_page(viewport={"width": w, "height": h})
    errors = _watch_console(page)
    _open(page, where, jl, vo, rammap_notebooks[mode])
    name = f"rammap-{where}-{mode}-{viewport}"
    page.screenshot(path=str(artifacts / f"{name}-page.png"))
    page.locator(MAP).first.screenshot(path=str(artifacts / f"{name}-map.png"))
    box = _image_box(page)
    # the map image is drawn pixel for pixel: no scaling that would blur the gaps
    assert box["width"] == pytest.approx(box["natural_width"], abs=0.5), box
    assert box["height"] == pytest.approx(box["natural_height"], abs=0.5), box
    rgb = _pixels(page, {"x": box["x"], "y": box["y"], "width": box["width"], "height": box["height"]})
    found = count_frames(rgb, ANON_RGB)
    print(f"\n{name}: anonymous runs {found['runs']} gaps {found['gaps']} "
          f"square {found['widths']}x{found['height']} px")
    assert len(found["runs"]) == 3, found  # three frames, each its own run of colour
    assert min(found["widths"]) >= MIN_FRAME_PX[mode], found
    assert found["height"] >= MIN_FRAME_PX[mode], found
    assert min(found["gaps"]) >= 1, found
    # the gap is background, not a shade of the frame colour
    y, (x0, n0) = found["row"], found["runs"][0]
    gap_px = rgb[y, x0 + n0:x0 + n0 + found["gaps"][0]].astype(int)
    assert (np.abs(gap_px - np.array(ANON_RGB)).sum(axis=1) > 150).all(), gap_px
    x0, x1 = max(0, found["runs"][0][0] - 40), found["runs"][-1][0] + found["runs"][-1][1] + 40
    save_rgb_png(artifacts / f"{name}-anon-x4.png", rgb[max(0, y - 30):y + 30, x0:x1], 4)
    assert errors == [], errors
    page.close()


def _boxes(page: Any, selector: str) -> list[dict[str, Any]]:
    return page.eval_on_selector_all(
        selector, """els => els.filter(e => e.textContent && getComputedStyle(e).display !== 'none'
                                       && e.closest('g').style.visibility !== 'hidden')
                         .map(e => { const r = e.getBoundingClientRect();
                           return {text: e.textContent, x0: r.left, y0: r.top, x1: r.right,
                                   y1: r.bottom, size: parseFloat(getComputedStyle(e).fontSize)}; })""")


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
@pytest.mark.parametrize("mode", ["learner", "presenter"])
def test_clicks_labels_and_axes_where_the_model_says(mode: str, viewport: str, browser: Any,
                                                     voila_tree: Server,
                                                     rammap_notebooks: dict[str, str],
                                                     artifacts: Path) -> None:
    """The RAM map alone (its own natural width), as the model's geometry places everything."""
    w, h = VIEWPORTS[viewport]
    page = browser.new_page(viewport={"width": w, "height": h})
    errors = _watch_console(page)
    _open(page, "voila", None, voila_tree, rammap_notebooks[f"map-{mode}"])
    box = _image_box(page)
    style = PRESENTER if mode == "presenter" else LEARNER
    g = layout_for(0, 2048, 64, style.grid_px)
    assert (box["natural_width"], box["natural_height"]) == (g.width, g.height)
    # a click on the middle of frame 265's square describes frame 265
    x0, y0, x1, y1 = g.rect(265)
    page.mouse.click(box["x"] + (x0 + x1) / 2, box["y"] + (y0 + y1) / 2)
    page.wait_for_function("() => /pfn 265 at 0x80109000: anonymous copy/.test("
                           "document.querySelector('.nl-frame-info').textContent)",
                           timeout=CLICK_TIMEOUT_MS)
    # and one just inside the next square, the next frame
    page.mouse.click(box["x"] + x1 + g.gap + 1, box["y"] + y0 + 1)
    page.wait_for_function("() => /pfn 266 at/.test(document.querySelector('.nl-frame-info').textContent)",
                           timeout=CLICK_TIMEOUT_MS)
    texts = _boxes(page, ".nl-rammap-figure text.label")
    by_text = {t["text"]: t for t in texts}
    left, top = box["x"], box["y"]
    right = left + box["width"]
    # what the reader can see: the map's own box (it scrolls rather than spill)
    seen = page.eval_on_selector(".nl-rammap", "e => { const r = e.getBoundingClientRect();"
                                 " return [r.left, r.right]; }")
    # the kernel's label lies within the kernel's 4 rows of squares
    k = by_text["kernel"]
    assert left + g.gap <= k["x0"] and k["x1"] <= right - g.gap, k
    assert top <= k["y0"] and k["y1"] <= top + 4 * g.pitch, k
    # labels of small regions sit beside the grid, in view, and never overlap
    beside = [t for t in texts if t["text"].startswith("R") or t["text"] == "device memory"]
    assert len(beside) == 2
    for t in beside:
        assert t["x0"] >= right + 4 and t["x1"] <= seen[1], (t, right, seen)
        assert t["size"] >= style.font_px
    for a, b in itertools.combinations([k, *beside], 2):
        assert a["x1"] <= b["x0"] or b["x1"] <= a["x0"] or a["y1"] <= b["y0"] or b["y1"] <= a["y0"], (a, b)
    # hex addresses every 4 rows left of the grid, offsets above it, readable sizes
    rows = [t for t in texts if t["text"].startswith("0x")]
    assert [t["text"] for t in rows] == [f"{0x80000000 + i * (1 << 20):#x}" for i in range(8)]
    assert all(t["x1"] <= left and t["x0"] >= seen[0] and t["size"] >= style.font_px for t in rows), rows
    cols = [t for t in texts if t["text"].startswith("+0x")]
    assert len(cols) == 4 and all(t["y1"] <= top and t["size"] >= style.font_px for t in cols), cols
    name = f"rammap-alone-{mode}-{viewport}"
    page.screenshot(path=str(artifacts / f"{name}-page.png"))
    page.locator(".nl-rammap").first.screenshot(path=str(artifacts / f"{name}.png"))
    assert errors == [], errors
    page.close()


def _map_pixels(page: Any) -> tuple[dict[str, float], np.ndarray]:
    # a new image and the figure's new size arrive as separate updates: wait (bounded)
    # until the figure has taken the image's size, then insist it is drawn 1:1
    deadline = time.monotonic() + CLICK_TIMEOUT_MS / 1000
    box = _image_box(page)
    while abs(box["width"] - box["natural_width"]) > 0.5 and time.monotonic() < deadline:
        page.wait_for_timeout(100)
        box = _image_box(page)
    assert box["width"] == pytest.approx(box["natural_width"], abs=0.5), box  # drawn 1:1
    rgb = _pixels(page, {"x": box["x"], "y": box["y"], "width": box["width"], "height": box["height"]})
    return box, rgb


def _click_and_wait_repaint(page: Any, action: Any) -> None:
    old = page.eval_on_selector(MAP_IMAGE, "e => e.getAttribute('href')")
    action()
    page.wait_for_function("old => document.querySelector('.nl-rammap-figure image').getAttribute('href') !== old",
                           arg=old, timeout=CLICK_TIMEOUT_MS)
    page.wait_for_timeout(300)


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_the_256_mib_board_opens_countable_and_zooms(viewport: str, browser: Any, voila_tree: Server,
                                                      rammap_notebooks: dict[str, str],
                                                      artifacts: Path) -> None:
    w, h = VIEWPORTS[viewport]
    page = browser.new_page(viewport={"width": w, "height": h})
    errors = _watch_console(page)
    _open(page, "voila", None, voila_tree, rammap_notebooks["256mib"], labelled=False)
    name = f"rammap-256mib-{viewport}"
    # it opens on the first 2,048 frames as squares, all of RAM small above
    box, rgb = _map_pixels(page)
    found = count_frames(rgb, ANON_RGB)
    assert len(found["runs"]) == 3 and min(found["widths"]) >= 8 and min(found["gaps"]) >= 1, found
    ov = page.eval_on_selector(".nl-rammap-overview image", "e => { const r = e.getBoundingClientRect();"
                               " return [r.width, r.height, r.bottom]; }")
    assert ov[:2] == [256, 64] and ov[2] <= box["y"], ov  # 4 frames a pixel
    page.screenshot(path=str(artifacts / f"{name}-opening.png"))
    # all of RAM at once: a pixel a frame, no gaps, the 3 frames one smudge
    _click_and_wait_repaint(page, lambda: page.locator("button.nl-zoom-all").click())
    box, rgb = _map_pixels(page)
    assert (box["natural_width"], box["natural_height"]) == (512, 128)
    assert len(count_frames(rgb, ANON_RGB)["runs"]) == 1
    assert page.locator(".nl-rammap-overview").count() == 0
    page.screenshot(path=str(artifacts / f"{name}-all.png"))
    # zoom to the mapping's addresses: big squares again
    def zoom() -> None:
        page.fill(".nl-zoom-range input", "0x80108000+0x3000")
        page.press(".nl-zoom-range input", "Enter")
    _click_and_wait_repaint(page, zoom)
    box, rgb = _map_pixels(page)
    found = count_frames(rgb, ANON_RGB)
    print(f"\n{name} zoomed: anonymous runs {found['runs']} square {found['widths']}x{found['height']} px")
    assert len(found["runs"]) == 3 and min(found["widths"]) >= 16 and min(found["gaps"]) >= 1, found
    assert "Showing 0x80100000-0x80200000" in page.locator(".nl-rammap-title").inner_text()
    page.screenshot(path=str(artifacts / f"{name}-zoomed.png"))
    assert errors == [], errors
    page.close()


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
@pytest.mark.parametrize("mode", ["learner", "presenter"])
def test_the_fragmentation_view_shows_the_kernels_numbers(mode: str, viewport: str, browser: Any,
                                                          voila_tree: Server,
                                                          rammap_notebooks: dict[str, str],
                                                          artifacts: Path) -> None:
    from nommu_lab.widgets.fragmentation import buddyinfo_header

    k = _fragmented_kernel()
    w, h = VIEWPORTS[viewport]
    page = browser.new_page(viewport={"width": w, "height": h})
    errors = _watch_console(page)
    page.route("**/cdn.jsdelivr.net/**", lambda route: route.fulfill(
        status=200, content_type="text/css", body="/* stubbed: no network in a classroom */"))
    page.goto(f"{voila_tree.url}/voila/render/{rammap_notebooks[f'frag-{mode}']}",
              timeout=LOAD_TIMEOUT_MS)
    page.wait_for_selector(".nl-buddyinfo pre", timeout=LOAD_TIMEOUT_MS)
    # both lines drawn through every call's point (a path of 42 points has 41 "L" steps)
    page.wait_for_function("() => [...document.querySelectorAll('.nl-memfree-chart g.curve path.line')]"
                           ".filter(p => (p.getAttribute('d') || '').split('L').length >= 42).length == 2",
                           timeout=LOAD_TIMEOUT_MS)
    page.wait_for_timeout(300)
    page.screenshot(path=str(artifacts / f"fragmentation-{mode}-{viewport}-page.png"))
    page.locator(".nl-fragmentation").first.screenshot(
        path=str(artifacts / f"fragmentation-{mode}-{viewport}.png"))
    shown = page.locator(".nl-buddyinfo pre").inner_text()
    assert shown.rstrip("\n") == (buddyinfo_header(4096, 11) + k.proc_buddyinfo()).rstrip("\n")
    largest = page.locator(".nl-largest-block").inner_text()
    assert f"{k.largest_free_block() // 1024} kB, of MemFree {k.meminfo()['MemFree']} kB" in largest
    # the table fits its box (a narrow window scrolls the pre, the page does not)
    wide = page.eval_on_selector_all(
        ".nl-fragmentation, .nl-fragmentation *",
        "els => els.filter(e => e instanceof HTMLElement && e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX "
        "!== 'auto' && getComputedStyle(e).overflowX !== 'scroll')"
        ".map(e => e.tagName + '.' + e.className + ' ' + e.scrollWidth + '>' + e.clientWidth)")
    assert wide == []
    size = page.eval_on_selector(".nl-buddyinfo pre", "e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= (16 if mode == "presenter" else 12)
    assert errors == [], errors
    page.close()
