"""The RAM map: every page frame of the board as a square a class can count.

Without an MMU a process's addresses *are* physical addresses, so this one
picture is the whole machine: where the kernel sits, which frames hold copies,
page cache, device memory or untrimmed slack, and what is free. The map is a
grid read like a page of text (low addresses top left), each frame a square
of ``cell`` pixels with a ``gap`` between squares (geometry in
:mod:`.ramgrid`). The squares are one palette PNG made with numpy and zlib,
drawn pixel for pixel by a bqplot ``Image`` mark; outlines, labels and the
address axis are a few SVG marks on top. Clicking a square says what the
frame holds, from the kernel's own records.

On a big board the squares of all of RAM get small; :meth:`RamMap.zoom`
shows part of RAM at full size, with all of RAM still drawn small above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import bqplot as bq
import ipywidgets as W
import numpy as np

from ..kernel import PageState
from ._png import encode_indexed_png
from .base import Selection, View, html_escape
from .palette import (
    DIM_OFFSET,
    GAP,
    NO_RAM,
    PALETTE,
    STATE_STYLE,
    label_colour,
    legend_html,
    text_colour_on,
)
from .ramgrid import (
    CHAR_EM,
    GridLayout,
    LabelSpot,
    block_states,
    grid_shape,
    layout_for,
    overview_for,
    place_labels,
    zoom_window,
)

if TYPE_CHECKING:
    from ..kernel import Kernel

__all__ = ["LEARNER", "PRESENTER", "MapStyle", "RamMap", "grid_shape"]

#: frames shown at first when all of RAM would be too small to count (the 8 MiB board's)
DEFAULT_WINDOW_FRAMES = 2048
_RESERVED_LABELS = {PageState.KERNEL: "kernel", PageState.DEVICE: "device memory"}
_OUTLINE = "#1a1a1a"
_AXIS = "#333333"
_POINTS = 9  # every outline is padded to this many points (bqplot wants equal lengths)
# Monospace labels (their width is known in advance); a halo in the opposite colour
# keeps a label readable over the gaps of the squares under it.
_CSS = """<style>
.nl-rammap svg text.label { font-family: 'DejaVu Sans Mono', monospace;
  paint-order: stroke; stroke-linejoin: round; }
.nl-rammap svg text.label[style*="rgb(255, 255, 255)"] { stroke: rgba(0, 0, 0, 0.6);
  stroke-width: 3px; }
.nl-rammap svg text.label[style*="rgb(17, 17, 17)"] { stroke: rgba(255, 255, 255, 0.85);
  stroke-width: 3px; }
.nl-rammap .nl-rammap-sub, .nl-rammap .nl-rammap-overview-caption { color: #555; }
.nl-rammap .nl-legend { display: flex; flex-wrap: wrap; gap: 4px 14px; }
.nl-rammap .nl-swatch { display: inline-block; width: 12px; height: 12px; margin-right: 4px;
  vertical-align: middle; border: 1px solid #999; }
.nl-rammap .nl-count { color: #666; margin-left: 3px; }
.nl-rammap-presenter .nl-swatch { width: 18px; height: 18px; }
.nl-rammap-presenter .nl-rammap-title, .nl-rammap-presenter .nl-frame-info,
.nl-rammap-presenter .nl-legend, .nl-rammap-presenter .nl-zoom-bar input,
.nl-rammap-presenter .nl-zoom-bar button { font-size: 18px; line-height: 1.4; }
.nl-rammap-presenter .nl-zoom-bar input, .nl-rammap-presenter .nl-zoom-bar button { height: 40px; }
</style>"""


@dataclass(frozen=True, slots=True)
class MapStyle:
    """Sizes of the map in pixels: the learner's notebook or the lecture hall."""

    grid_px: int  # width the squares of a row may take
    font_px: int  # axis and label text
    lane_px: int  # label lane right of the grid
    overview_px: int  # most width of the small all-RAM map shown while zoomed
    overview_h: int  # most height of it

    @property
    def margin_left(self) -> int:
        """Room for a row's address (``0x80000000``) left of the grid."""
        return int(10 * self.font_px * CHAR_EM) + 12

    @property
    def margin_top(self) -> int:
        """Room for the column offsets above the grid."""
        return self.font_px + 8


#: a notebook cell: a frame of the 8 MiB board is 8 px with a 1 px gap
LEARNER = MapStyle(grid_px=576, font_px=12, lane_px=132, overview_px=256, overview_h=64)
#: a projector: 12 px frames with a 2 px gap, 16 px text
PRESENTER = MapStyle(grid_px=896, font_px=16, lane_px=184, overview_px=384, overview_h=96)


def _human(nbytes: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= size and nbytes % size == 0:
            return f"{nbytes // size} {unit}"
    return f"{nbytes} B"


def grid_pixels(layout: GridLayout, frame_idx: np.ndarray, major_every: int = 0) -> np.ndarray:
    """The map image: each frame's palette index as its square, :data:`GAP` between.

    ``frame_idx`` holds the window's frames in order. Built with two
    ``np.repeat`` calls over a grid with a gap row and column between
    frames, so the cost is one pass over the output pixels.
    """
    rows, cols = layout.rows, layout.cols
    grid = np.full(rows * cols, NO_RAM, dtype=np.uint8)
    grid[:len(frame_idx)] = frame_idx
    grid = grid.reshape(rows, cols)
    if layout.gap == 0:
        return np.repeat(np.repeat(grid, layout.cell, axis=0), layout.cell, axis=1)
    ext = np.full((2 * rows + 1, 2 * cols + 1), GAP, dtype=np.uint8)
    ext[1::2, 1::2] = grid
    rcount = np.full(2 * rows + 1, layout.gap)
    rcount[1::2] = layout.cell
    ccount = np.full(2 * cols + 1, layout.gap)
    ccount[1::2] = layout.cell
    return np.repeat(np.repeat(ext, rcount, axis=0), ccount, axis=1)


def default_window(nr_pages: int, grid_px: int) -> tuple[int, int, int] | None:
    """What the map shows first: all of RAM, or its start if all of it would be too small to count.

    On a big board (65,536 frames: one pixel each, no gaps) the map opens on
    the first :data:`DEFAULT_WINDOW_FRAMES` frames, where the kernel and the
    first mappings are, with all of RAM drawn small above.
    """
    if layout_for(0, nr_pages, grid_shape(nr_pages)[1], grid_px).gap:
        return None
    return zoom_window(nr_pages, 0, DEFAULT_WINDOW_FRAMES)


def _polylines(polys: list[list[tuple[float, float]]]) -> tuple[np.ndarray, np.ndarray]:
    """x and y lists for a bqplot ``Lines`` mark, every line padded to :data:`_POINTS` points."""
    pts = np.array([poly + [poly[-1]] * (_POINTS - len(poly)) for poly in polys],
                   dtype=np.float32).reshape(-1, _POINTS, 2)
    return pts[:, :, 0], pts[:, :, 1]  # float32: half the bytes, still exact for pixel halves


class RamMap(View):
    """Physical RAM as a grid of squares, one per page frame, coloured by the frame's state.

    ``presenter=True`` draws for a projector (bigger squares, gaps and text).
    ``png`` is the last main image sent and ``layout`` its geometry;
    ``frame_indices()`` gives the palette index of every frame;
    ``frame_info(pfn)`` the sentence shown when a frame is clicked.
    """

    def __init__(self, kernel: Kernel, selection: Selection | None = None, *,
                 presenter: bool = False, show_labels: bool = True) -> None:
        super().__init__(kernel, selection)
        self.add_class("nl-rammap")
        if presenter:
            self.add_class("nl-rammap-presenter")
        self.presenter = presenter
        self.style = PRESENTER if presenter else LEARNER
        self.show_labels = show_labels
        st = self.style
        self._sx = bq.LinearScale(min=0.0, max=1.0, allow_padding=False)
        self._sy = bq.LinearScale(min=0.0, max=1.0, reverse=True, allow_padding=False)
        sc = {"x": self._sx, "y": self._sy}
        self._image_layout = W.Layout()
        self.mark = bq.Image(image=W.Image(value=b"", format="png", layout=self._image_layout),
                             scales=sc)
        self.mark.on_element_click(self._on_click)
        self._outlines = bq.Lines(x=[[0.0, 0.0]], y=[[0.0, 0.0]], scales=sc, colors=[_OUTLINE],
                                  stroke_width=1, visible=False)
        self._leaders = bq.Lines(x=[[0.0, 0.0]], y=[[0.0, 0.0]], scales=sc, colors=["#777777"],
                                 stroke_width=1, visible=False, apply_clip=False)
        self._labels = bq.Label(x=[0.0], y=[0.0], text=[""], scales=sc, colors=["#111111"],
                                font_weight="bold", default_size=st.font_px, align="middle",
                                visible=False)
        self._lane = bq.Label(x=[0.0], y=[0.0], text=[""], scales=sc, colors=["#111111"],
                              font_weight="bold", default_size=st.font_px, align="start",
                              visible=False, apply_clip=False)
        self._rowlabels = bq.Label(x=[0.0], y=[0.0], text=[""], scales=sc, colors=[_AXIS],
                                   font_weight="normal", default_size=st.font_px, align="end",
                                   apply_clip=False)
        self._collabels = bq.Label(x=[0.0], y=[0.0], text=[""], scales=sc, colors=[_AXIS],
                                   font_weight="normal", default_size=st.font_px, align="start",
                                   apply_clip=False)
        self.figure = bq.Figure(
            marks=[self.mark, self._outlines, self._labels, self._leaders, self._lane,
                   self._rowlabels, self._collabels],
            fig_margin={"top": st.margin_top, "bottom": 2, "left": st.margin_left,
                        "right": st.lane_px},
            padding_x=0, padding_y=0, min_aspect_ratio=0.001, max_aspect_ratio=1000,
            animation_duration=0, background_style={"fill": "white"},
            display_toolbar=False)  # its pan and zoom would undo the pixel-for-pixel scales
        self.figure.add_class("nl-rammap-figure")
        # the small all-RAM map shown while zoomed; a click on it moves the window
        self._osx = bq.LinearScale(min=0.0, max=1.0, allow_padding=False)
        self._osy = bq.LinearScale(min=0.0, max=1.0, reverse=True, allow_padding=False)
        osc = {"x": self._osx, "y": self._osy}
        self._ov_mark = bq.Image(image=W.Image(value=b"", format="png", layout=self._image_layout),
                                 scales=osc)
        self._ov_mark.on_element_click(self._on_overview_click)
        self._ov_box = bq.Lines(x=[[0.0, 0.0]], y=[[0.0, 0.0]], scales=osc, colors=["#d50000"],
                                stroke_width=2, apply_clip=False)
        self.overview = bq.Figure(marks=[self._ov_mark, self._ov_box],
                                  fig_margin={"top": 3, "bottom": 3, "left": 3, "right": 3},
                                  padding_x=0, padding_y=0, min_aspect_ratio=0.001,
                                  max_aspect_ratio=1000, animation_duration=0,
                                  display_toolbar=False)
        self.overview.add_class("nl-rammap-overview")
        self.overview_caption = W.HTML(layout=W.Layout(margin="0 0 0 12px"))
        self.overview_caption.add_class("nl-rammap-overview-caption")
        # holds the overview only while zoomed (a hidden bqplot figure would draw at size 0)
        self.overview_box = W.HBox([], layout=W.Layout(align_items="center"))

        self.title = W.HTML()
        self.title.add_class("nl-rammap-title")
        self.b_zoom_selection = self._button("Zoom to selection", "nl-zoom-selection",
                                             lambda _b: self.zoom_selection())
        # continuous_update off: the value arrives on Enter (or leaving the box), then zoom
        self.zoom_range = W.Text(placeholder="0x80100000-0x80140000", continuous_update=False,
                                 layout=W.Layout(width="300px" if presenter else "210px"))
        self.zoom_range.add_class("nl-zoom-range")
        self.zoom_range.observe(lambda _c: self._zoom_text(), names="value")
        self.b_zoom = self._button("Zoom", "nl-zoom-go", lambda _b: self._zoom_text())
        self.b_zoom_all = self._button("All RAM", "nl-zoom-all", lambda _b: self.zoom_all())
        self.zoom_bar = W.HBox([self.b_zoom_selection, self.zoom_range, self.b_zoom,
                                self.b_zoom_all], layout=W.Layout(flex_flow="row wrap"))
        self.zoom_bar.add_class("nl-zoom-bar")
        self.legend = W.HTML()
        self.info = W.HTML("Click a frame to see what it holds.")
        self.info.add_class("nl-frame-info")
        self.children = (W.HTML(_CSS), self.title, self.zoom_bar, self.overview_box, self.figure,
                         self.legend, self.info)
        # never wider than the box it is given: scroll rather than shrink (a shrunk
        # image would blur the gaps that make frames countable)
        self.layout.overflow = "auto hidden"

        self.png = b""
        self.overview_png = b""
        self.bytes_sent = 0
        # (first pfn, count, cols) of the frames shown; None: all of RAM
        self.window: tuple[int, int, int] | None = default_window(kernel.mem.nr_pages, st.grid_px)
        self.grid: GridLayout = self._layout()  # where each frame of the window is drawn
        self._shades: dict[int, int] = {}
        self._runs_cache: tuple[tuple[int, int, int], list[tuple[str, int, int, PageState]]] | None = None
        self._last_key: tuple[Any, ...] | None = None
        self._marks_key: tuple[Any, ...] | None = None
        self._size_key: GridLayout | None = None
        self.label_spots: list[LabelSpot] = []
        self.selection.observe(self._on_selection, names=["ranges", "label", "note"])
        self.refresh()

    @staticmethod
    def _button(text: str, cls: str, fn: Any) -> W.Button:
        b = W.Button(description=text, layout=W.Layout(width="auto"))
        b.add_class(cls)
        b.add_class("nl-button")
        b.on_click(fn)
        return b

    # ------------------------------------------------------------ geometry
    def _layout(self) -> GridLayout:
        nr = self.kernel.mem.nr_pages
        if self.window is not None and self.window[0] + self.window[1] > nr:
            self.window = default_window(nr, self.style.grid_px)  # bound to a smaller board
        first, count, cols = self.window or (0, nr, grid_shape(nr)[1])
        return layout_for(first, count, cols, self.style.grid_px)

    def overview_layout(self) -> tuple[GridLayout, int]:
        """All of RAM, small, shown above the map while only part of it is: ``(layout, per)``.

        Each of its squares stands for ``per`` frames (see :func:`overview_for`).
        """
        return overview_for(self.kernel.mem.nr_pages, self.style.overview_px, self.style.overview_h)

    def frame_rect(self, pfn: int) -> tuple[int, int, int, int] | None:
        """Pixel rectangle ``(x0, y0, x1, y1)`` of a frame's square, or None if not shown."""
        lay = self.grid
        return lay.rect(pfn) if lay.contains(pfn) else None

    def pfn_at(self, x: float, y: float) -> int | None:
        """The frame under pixel ``(x, y)`` of the map image (what a click reports)."""
        pfn = self.grid.pfn_at(x, y)
        return pfn if pfn is not None and pfn < self.kernel.mem.nr_pages else None

    # ------------------------------------------------------------ drawing
    def _region_shades(self, owner: np.ndarray) -> np.ndarray:
        """Shade (0 or 1) of every frame: neighbouring owners alternate, and keep theirs.

        A new owner gets the shade its left neighbour does not have, and keeps
        it while it lives, so a call repaints only the frames it changed.
        """
        starts = np.concatenate(([0], np.flatnonzero(owner[1:] != owner[:-1]) + 1))
        owners = owner[starts].tolist()
        shades = self._shades
        live: dict[int, int] = {}
        prev = -1
        run_shade = []
        for o in owners:
            if o < 0:
                s = 0
            elif o in live:
                s = live[o]
            else:
                s = shades.get(o, -1)
                if s < 0:
                    s = 1 - live.get(prev, 1) if prev >= 0 else 0
                live[o] = s
            run_shade.append(s)
            prev = o
        self._shades = live
        lengths = np.diff(np.concatenate((starts, [len(owner)])))
        return np.repeat(np.array(run_shade, dtype=np.uint8), lengths)

    def frame_indices(self) -> np.ndarray:
        """The palette index of every frame (state, region shade, selection fade)."""
        mem = self.kernel.mem
        idx = (mem.state.astype(np.uint8) << 1) | self._region_shades(mem.owner)
        if self.selection.ranges:
            keep = np.zeros(mem.nr_pages, dtype=bool)
            for a, n in self.selection.ranges:
                keep[a:a + n] = True
            idx[~keep] += DIM_OFFSET
        return idx

    def refresh(self) -> None:
        """Redraw what changed: the images, the outlines and labels, the text."""
        k = self.kernel
        mem = k.mem
        lay = self._layout()
        self.grid = lay
        key = (id(k), mem.version, tuple(self.selection.ranges), lay)
        if key != self._last_key:
            self._last_key = key
            idx = self.frame_indices()
            self._draw_images(lay, idx)
            self.redraws += 1
        self._draw_marks(lay)
        self.legend.value = legend_html(mem.counts())
        mi = k.meminfo()
        row = _human(lay.cols * mem.page_size)
        text = (f"<b>Physical RAM</b> {_human(mem.ram_size)} at {mem.ram_base:#x} &middot; "
                f"{mem.nr_pages} frames of {_human(mem.page_size)} &middot; "
                f"MemFree {mi['MemFree']} kB")
        if self.window is None:
            sub = f"All of RAM, {lay.cols} frames ({row}) a row. Click a frame to see what it holds."
        else:
            a, b = mem.pfn_to_addr(lay.first), mem.pfn_to_addr(lay.end)
            sub = (f"Showing {a:#x}-{b:#x}: {lay.count} of {mem.nr_pages} frames, {lay.cols} "
                   f"({row}) a row; the red box marks them in all of RAM above.")
        self.title.value = f'{text}<br><span class="nl-rammap-sub">{sub}</span>'
        self._show_selection()

    def _new_image(self, mark: bq.Image, png: bytes) -> None:
        old = mark.image
        # a bqplot Image mark repaints only when it gets a new Image widget; they all
        # share one Layout (each new Layout would be one more widget opened and never closed)
        mark.image = W.Image(value=png, format="png", layout=self._image_layout)
        old.close()

    def _draw_images(self, lay: GridLayout, idx: np.ndarray) -> None:
        if lay != self._size_key:
            self._size_key = lay
            self._draw_axes(lay)
        # an image whose bytes did not change is not sent again: each one sent is a new
        # widget for the browser to open, decode and paint (the overview, a pixel for
        # many frames, is often unchanged by a small mmap)
        self.bytes_sent = 0
        png = encode_indexed_png(grid_pixels(lay, idx[lay.first:lay.end]), PALETTE)
        if png != self.png:
            self.png = png
            self._new_image(self.mark, png)
            self.bytes_sent += len(png)
        if self.window is not None:
            ov, per = self.overview_layout()
            blocks = block_states(self.kernel.mem.state, per).astype(np.uint8) << 1
            png = encode_indexed_png(grid_pixels(ov, blocks), PALETTE)
            if png != self.overview_png:
                self.overview_png = png
                self._new_image(self._ov_mark, png)
                self.bytes_sent += len(png)

    def _draw_axes(self, lay: GridLayout) -> None:
        """Scales in image pixels, the figure sized to show them 1:1, hex addresses."""
        st = self.style
        mem = self.kernel.mem
        with self.figure.hold_sync():
            self._sx.min, self._sx.max = 0.0, float(lay.width)
            self._sy.min, self._sy.max = 0.0, float(lay.height)
            self.mark.x = [0.0, float(lay.width)]
            self.mark.y = [float(lay.height), 0.0]
            m = self.figure.fig_margin
            w = m["left"] + lay.width + m["right"]
            h = m["top"] + lay.height + m["bottom"]
            self.figure.layout.width = f"{w}px"
            self.figure.layout.height = f"{h}px"
            self.figure.layout.min_width = f"{w}px"
        # a row address every few rows: rows far enough apart for the text
        step = 1
        while step * lay.pitch < 2.5 * st.font_px:
            step *= 2
        rows = list(range(0, lay.rows, step))
        with self._rowlabels.hold_sync():
            self._rowlabels.x = [-6.0] * len(rows)
            self._rowlabels.y = [lay.gap + r * lay.pitch + lay.cell / 2 for r in rows]
            self._rowlabels.text = [f"{mem.pfn_to_addr(lay.row_first_pfn(r)):#x}" for r in rows]
        # byte offsets within a row above the columns
        cstep = 1
        while cstep * lay.pitch < 2 * 9 * st.font_px * CHAR_EM:  # a label, then as much space
            cstep *= 2
        cols = list(range(0, lay.cols, cstep))
        with self._collabels.hold_sync():
            self._collabels.x = [float(lay.rect(lay.first + c)[0]) if c < lay.count
                                 else float(lay.gap + c * lay.pitch) for c in cols]
            self._collabels.y = [-(st.font_px / 2 + 4)] * len(cols)
            self._collabels.text = [f"+{c * mem.page_size:#x}" for c in cols]
        if self.window is not None:
            ov, per = self.overview_layout()
            with self.overview.hold_sync():
                self._osx.min, self._osx.max = 0.0, float(ov.width)
                self._osy.min, self._osy.max = 0.0, float(ov.height)
                self._ov_mark.x = [0.0, float(ov.width)]
                self._ov_mark.y = [float(ov.height), 0.0]
                self.overview.layout.width = f"{ov.width + 6}px"
                self.overview.layout.height = f"{ov.height + 6}px"
            mem = self.kernel.mem
            self.overview_caption.value = (
                f"<b>All of RAM</b><br>{_human(mem.ram_size)}, {per} frame(s) a pixel"
                f"<br><span style='color:#d50000'>red box</span>: shown below"
                "<br>click to move it")
            self.overview_box.children = (self.overview, self.overview_caption)
            xs, ys = _polylines(ov.outline(lay.first // per, -(-lay.end // per)))
            with self._ov_box.hold_sync():
                self._ov_box.x, self._ov_box.y = xs, ys
        else:
            self.overview_box.children = ()

    def runs(self) -> list[tuple[str, int, int, PageState]]:
        """What the map outlines and labels: ``(label, first pfn, end pfn, state)``.

        Every region of the region tree (``vm_start`` to ``vm_top``, slack
        included), newest first, then the runs of frames reserved at boot
        (kernel image, device memory), as the kernel's frame table shows them.
        """
        k = self.kernel
        mem = k.mem
        # every change of a region's frames bumps mem.version: reuse the runs until then
        key = (id(k), mem.version, len(k.region_tree))
        if self._runs_cache is not None and self._runs_cache[0] == key:
            return self._runs_cache[1]
        out: list[tuple[str, int, int, PageState]] = []
        for r in sorted(k.region_tree, key=lambda r: -r.id):
            top = min(max(r.vm_top, r.vm_end), mem.ram_base + mem.ram_size)
            if not mem.contains(r.vm_start) or top <= r.vm_start:
                continue
            a = mem.addr_to_pfn(r.vm_start)
            b = mem.addr_to_pfn(top + mem.page_size - 1)
            name = (r.path or "anon").rsplit("/", 1)[-1]
            out.append((f"R{r.id} {name}", a, b, PageState(int(mem.state[a]))))
        st, ow = mem.state, mem.owner
        # boot reservations: runs of one reserved state with no owner
        code = np.where(np.isin(st, list(_RESERVED_LABELS)) & (ow < 0), st.astype(np.int16), -1)
        edges = np.flatnonzero(np.diff(code)) + 1
        starts = np.concatenate(([0], edges))
        ends = np.concatenate((edges, [len(code)]))
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            if code[a] >= 0:
                state = PageState(int(code[a]))
                out.append((_RESERVED_LABELS[state], a, b, state))
        self._runs_cache = (key, out)
        return out

    def _draw_marks(self, lay: GridLayout) -> None:
        """Outlines and labels, redrawn only when the regions or the window changed."""
        runs = [r for r in self.runs() if lay.clip(r[1], r[2]) is not None]
        key = (lay, tuple(runs), self.show_labels)
        if key == self._marks_key:
            return
        self._marks_key = key
        polys = [p for _, a, b, _ in runs for p in lay.outline(a, b)] if lay.gap else []
        xs, ys = _polylines(polys)
        with self._outlines.hold_sync():
            if polys:
                self._outlines.x, self._outlines.y = xs, ys
                self._outlines.stroke_width = lay.gap
            self._outlines.visible = bool(polys)
        spots: list[LabelSpot] = []
        colour: dict[str, str] = {}
        lane_colour = {t: label_colour(s) for t, _, _, s in runs}
        if self.show_labels and lay.gap:
            spots = place_labels(lay, [(t, a, b) for t, a, b, _ in runs], self.style.font_px,
                                 self.style.lane_px)
            mem = self.kernel.mem
            colour = {t: text_colour_on(PALETTE[2 * s + self._shades.get(int(mem.owner[a]), 0)])
                      for t, a, _, s in runs}
        self.label_spots = spots
        inside = [s for s in spots if s.inside]
        lane = [s for s in spots if not s.inside]
        with self._labels.hold_sync():
            if inside:
                self._labels.x = [s.x for s in inside]
                self._labels.y = [s.y for s in inside]
                self._labels.text = [s.text for s in inside]
                self._labels.colors = [colour.get(s.text, "#111111") for s in inside]
            self._labels.visible = bool(inside)
        with self._lane.hold_sync():
            if lane:
                self._lane.x = [s.x for s in lane]
                self._lane.y = [s.y for s in lane]
                self._lane.text = [s.text for s in lane]
                # a label beside the grid takes its region's colour: the eye pairs them
                self._lane.colors = [lane_colour.get(s.text, "#111111") for s in lane]
            self._lane.visible = bool(lane)
        with self._leaders.hold_sync():
            if lane:
                self._leaders.x = [[float(lay.width) + 1, float(lay.width) + 12] for _ in lane]
                self._leaders.y = [[s.anchor_y, s.y] for s in lane]
            self._leaders.visible = bool(lane)

    # ------------------------------------------------------------ zoom
    def zoom_frames(self, first: int, end: int) -> None:
        """Show frames ``[first, end)`` at full size (with some context around them)."""
        nr = self.kernel.mem.nr_pages
        win = zoom_window(nr, first, end)
        self.window = None if win[1] >= nr else win
        self.refresh()

    def zoom(self, start: int, end: int) -> None:
        """Show the frames under addresses ``[start, end)`` at full size."""
        mem = self.kernel.mem
        lo = max(start, mem.ram_base)
        hi = min(end, mem.ram_base + mem.ram_size)
        if hi <= lo:
            raise ValueError(f"{start:#x}-{end:#x} is not in RAM "
                             f"({mem.ram_base:#x}-{mem.ram_base + mem.ram_size:#x})")
        self.zoom_frames(mem.addr_to_pfn(lo), mem.addr_to_pfn(hi - 1) + 1)

    def zoom_selection(self) -> None:
        """Zoom to the selected frames (a region picked in a table, say)."""
        ranges = self.selection.ranges
        if not ranges:
            self.info.value = "Select something first (a region, a VMA or an event)."
            return
        self.zoom_frames(min(a for a, _ in ranges), max(a + n for a, n in ranges))

    def zoom_all(self) -> None:
        """Show all of RAM again."""
        self.window = None
        self.refresh()

    def _zoom_text(self) -> None:
        text = self.zoom_range.value.strip().replace(" ", "")
        if not text:
            return
        try:
            if "+" in text:
                a, n = text.split("+", 1)
                start, end = int(a, 0), int(a, 0) + int(n, 0)
            else:
                a, b = text.split("-", 1)
                start, end = int(a, 0), int(b, 0)
            self.zoom(start, end)
        except ValueError as e:
            msg = str(e) if "not in RAM" in str(e) else (
                "Type an address range as START-END or START+LENGTH, "
                "for example 0x80100000-0x80140000")
            self.info.value = "<b>Zoom:</b> " + html_escape(msg)

    def _on_overview_click(self, _mark: Any, content: dict[str, Any]) -> None:
        data = content.get("data", content)
        try:
            ov, per = self.overview_layout()
            block = ov.pfn_at(float(data["click_x"]), float(data["click_y"]))
        except (KeyError, TypeError, ValueError):
            return
        if block is None or self.window is None:
            return
        pfn = block * per
        _, count, cols = self.window
        first = max(0, min(pfn - count // 2, self.kernel.mem.nr_pages - count))
        first -= first % cols
        self.window = (first, count, cols)
        self.refresh()

    # ------------------------------------------------------------ selection
    def _on_selection(self, _change: Any) -> None:
        self.refresh()

    def _show_selection(self) -> None:
        sel = self.selection
        if sel.label:
            where = ", ".join(f"pfn {a}-{a + n - 1}" if n > 1 else f"pfn {a}"
                              for a, n in sel.ranges[:4])
            more = " ..." if len(sel.ranges) > 4 else ""
            text = f"<b>Selected:</b> {html_escape(sel.label)}"
            text += f" ({sel.npages} frame(s): {where}{more})" if sel.ranges else " (no RAM frames)"
            if sel.note:
                text += f"<br>{html_escape(sel.note)}"
            self.info.value = text
        elif self.info.value.startswith("<b>Selected:</b>"):  # cleared (time travel): say so
            self.info.value = "Click a frame to see what it holds."

    # --------------------------------------------------------------- clicks
    def _on_click(self, _mark: Any, content: dict[str, Any]) -> None:
        data = content.get("data", content)
        try:
            pfn = self.pfn_at(float(data["click_x"]), float(data["click_y"]))
        except (KeyError, TypeError, ValueError):
            return
        if pfn is not None:
            self.click_frame(pfn)

    def click_frame(self, pfn: int) -> str:
        """Show (and return) what frame ``pfn`` holds, as a click on it would."""
        text = self.frame_info(pfn)
        self.info.value = "<b>Frame:</b> " + html_escape(text)
        return text

    def frame_info(self, pfn: int) -> str:
        """Address, pfn, state, region and the processes using the frame."""
        k = self.kernel
        f = k.mem.frame(pfn)
        label = STATE_STYLE[f.state][0]
        parts = [f"pfn {pfn} at {f.address:#x}: {label}"]
        r = k.region_at(f.address)
        if r is not None:
            from ..kernel.region import perm_string

            kind = "copy" if r.is_copy else "direct"
            parts.append(f"region R{r.id} {r.vm_start:#x}-{r.vm_end:#x} {perm_string(r.vm_flags)} "
                         f"{r.path or 'anonymous'} ({kind}, usage {r.vm_usage})")
            if r.vm_end <= f.address < r.vm_top:
                parts.append("beyond vm_end: allocated but not mapped (slack)")
            users = sorted({f"{p.pid} ({p.name})" for p in k.processes.values()
                            for v in p.mm.vmas if v.vm_region is r and v.vm_start <= f.address < v.vm_end})
            parts.append("used by pid " + ", ".join(users) if users else "mapped by no process")
        elif f.state == PageState.PAGECACHE:
            parts.append("file data in the page cache (no mapping)")
        return "; ".join(parts)

    # ----------------------------------------------------------------- text
    def describe(self) -> str:
        """One line per run of equal frames: ``pfn range  address  state  region``."""
        k = self.kernel
        mem = k.mem
        st, ow = mem.state, mem.owner
        change = np.flatnonzero((st[1:] != st[:-1]) | (ow[1:] != ow[:-1])) + 1
        starts = np.concatenate(([0], change))
        ends = np.concatenate((change, [mem.nr_pages]))
        lines = [f"RAM {_human(mem.ram_size)} at {mem.ram_base:#x}, {mem.nr_pages} frames "
                 f"of {_human(mem.page_size)}"]
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            state = PageState(int(st[a]))
            owner = int(ow[a])
            who = ""
            if owner >= 0:
                r = k.region_at(mem.pfn_to_addr(a))
                who = f" R{r.id} {r.path or 'anon'}" if r is not None else f" owner {owner}"
            lines.append(f"  pfn {a:>6}-{b - 1:<6} {mem.pfn_to_addr(a):#x} {b - a:>6} "
                         f"{STATE_STYLE[state][0]}{who}")
        if self.window is not None:
            lay = self.grid
            lines.append(f"showing: pfn {lay.first}-{lay.end - 1} "
                         f"({mem.pfn_to_addr(lay.first):#x}-{mem.pfn_to_addr(lay.end):#x})")
        if self.selection.label:
            lines.append(f"selected: {self.selection.label} ({self.selection.npages} frames)")
        return "\n".join(lines)
