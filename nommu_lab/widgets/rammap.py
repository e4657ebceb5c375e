"""The RAM map: every page frame of the board as one pixel of a palette image.

Without an MMU a process's addresses *are* physical addresses, so this one
picture is the whole machine: where the kernel sits, which frames hold copies,
page cache, device memory or untrimmed slack, and what is free. Frame ``pfn``
is the pixel at row ``pfn // columns``, column ``pfn % columns`` (low
addresses top left, reading order). The image is a palette PNG made with numpy
and zlib and drawn by a bqplot ``Image`` mark; region boundaries and labels
are a handful of SVG marks on top. Clicking a frame describes it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import bqplot as bq
import ipywidgets as W
import numpy as np

from ..kernel import PageState
from ._png import encode_indexed_png
from .base import Selection, View, html_escape
from .palette import DIM_OFFSET, NO_RAM, PALETTE, STATE_STYLE, legend_html

if TYPE_CHECKING:
    from ..kernel import Kernel

MAX_LABELS = 24  # region labels drawn on the map (boundaries are always drawn)
MIN_LABEL_PAGES = 2  # a region narrower than this gets a boundary but no label
LABEL_GAP = 9  # frames between two labels on one row, so they do not overlap
MARGIN = {"top": 6, "bottom": 6, "left": 86, "right": 6}


def grid_shape(nr_pages: int) -> tuple[int, int]:
    """``(rows, columns)`` of the map: a power-of-two width about twice the height."""
    cols = max(16, 1 << math.ceil(math.log2(math.sqrt(2 * nr_pages))))
    return -(-nr_pages // cols), cols


def _human(nbytes: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= size and nbytes % size == 0:
            return f"{nbytes // size} {unit}"
    return f"{nbytes} B"


class RamMap(View):
    """Physical RAM, one pixel per page frame, coloured by the frame's state.

    ``png`` is the last image sent; ``frame_indices()`` the palette index of
    every frame (what the image shows, before padding); ``frame_info(pfn)``
    the sentence shown when a frame is clicked.
    """

    def __init__(self, kernel: Kernel, selection: Selection | None = None, *,
                 height: str = "340px", show_labels: bool = True) -> None:
        super().__init__(kernel, selection)
        self.add_class("nl-rammap")
        self.show_labels = show_labels
        self._sx = bq.LinearScale(min=0.0, max=1.0)
        self._sy = bq.LinearScale(min=0.0, max=1.0)
        self._image = W.Image(value=b"", format="png")
        self.mark = bq.Image(image=self._image, scales={"x": self._sx, "y": self._sy})
        self.mark.on_element_click(self._on_click)
        self._bounds = bq.Lines(x=[[0.0, 0.0]], y=[[0.0, 0.0]], scales={"x": self._sx, "y": self._sy},
                                colors=["#111111"], stroke_width=2, visible=False)
        self._labels = bq.Label(x=[0.0], y=[0.0], text=[""], scales={"x": self._sx, "y": self._sy},
                                colors=["#111111"], font_weight="bold", default_size=11,
                                align="start", visible=False)
        self._rowlabels = bq.Label(x=[0.0], y=[0.0], text=[""], scales={"x": self._sx, "y": self._sy},
                                   colors=["#555555"], default_size=10, align="end",
                                   apply_clip=False)
        self._height_px = int(str(height).removesuffix("px"))
        self.figure = bq.Figure(marks=[self.mark, self._bounds, self._labels, self._rowlabels],
                                fig_margin=dict(MARGIN), padding_x=0, padding_y=0,
                                min_aspect_ratio=0.01, max_aspect_ratio=100,
                                layout=W.Layout(width="100%", height=height))
        self.figure.add_class("nl-rammap-figure")
        self.title = W.HTML()
        self.title.add_class("nl-rammap-title")
        self.legend = W.HTML()
        self.info = W.HTML("Click a frame to see what it holds.")
        self.info.add_class("nl-frame-info")
        self.children = (self.title, self.figure, self.legend, self.info)
        self.png = b""
        self.bytes_sent = 0
        self._last_key: tuple[Any, ...] | None = None
        self._grid = (0, 0)
        self.selection.observe(self._on_selection, names=["ranges", "label", "note"])
        self.refresh()

    # ------------------------------------------------------------ drawing
    def frame_indices(self) -> np.ndarray:
        """The palette index of every frame (state, region shade, selection fade)."""
        mem = self.kernel.mem
        state = mem.state
        owner = mem.owner
        # neighbouring owners alternate between two shades: rank of the owner id
        _, rank = np.unique(owner, return_inverse=True)
        idx = (state.astype(np.uint8) << 1) | (rank.astype(np.uint8) & 1)
        if self.selection.ranges:
            keep = np.zeros(mem.nr_pages, dtype=bool)
            for a, n in self.selection.ranges:
                keep[a:a + n] = True
            idx[~keep] += DIM_OFFSET
        return idx

    def image_indices(self) -> np.ndarray:
        """``frame_indices()`` laid out as the image's rows and columns."""
        idx = self.frame_indices()
        rows, cols = grid_shape(len(idx))
        grid = np.full(rows * cols, NO_RAM, dtype=np.uint8)
        grid[:len(idx)] = idx
        return grid.reshape(rows, cols)

    def refresh(self) -> None:
        """Redraw the image if frames or the selection changed; always the overlays."""
        k = self.kernel
        mem = k.mem
        key = (id(k), mem.version, tuple(self.selection.ranges))
        regions = [r for r in k.region_tree
                   if mem.contains(r.vm_start) and max(r.vm_top, r.vm_end) > r.vm_start]
        if key != self._last_key:
            self._last_key = key
            grid = self.image_indices()
            rows, cols = grid.shape
            if (rows, cols) != self._grid:
                self._grid = (rows, cols)
                with self.figure.hold_sync():
                    self._sx.min, self._sx.max = 0.0, float(cols)
                    self._sy.min, self._sy.max = 0.0, float(rows)
                    self.mark.x = [0.0, float(cols)]
                    self.mark.y = [0.0, float(rows)]
                    # square frames: the plot area keeps the grid's shape
                    h = self._height_px
                    side = (h - MARGIN["top"] - MARGIN["bottom"]) / rows
                    ratio = (cols * side + MARGIN["left"] + MARGIN["right"]) / h
                    self.figure.max_aspect_ratio = max(ratio, self.figure.min_aspect_ratio)
                    self.figure.min_aspect_ratio = ratio
                    self.figure.max_aspect_ratio = ratio
                self._draw_row_labels(rows, cols)
            self.png = encode_indexed_png(grid, PALETTE)
            old = self._image
            # a bqplot Image mark repaints only when it gets a new Image widget
            self._image = W.Image(value=self.png, format="png")
            self.mark.image = self._image
            old.close()
            self.bytes_sent = len(self.png)
            self.redraws += 1
        self._draw_regions(regions)
        counts = mem.counts()
        self.legend.value = legend_html(counts)
        mi = k.meminfo()
        self.title.value = (f"<b>Physical RAM</b> {_human(mem.ram_size)} at {mem.ram_base:#x}: "
                            f"{mem.nr_pages} frames of {_human(mem.page_size)}, "
                            f"one square each; MemFree {mi['MemFree']} kB")
        self._show_selection()

    def _draw_row_labels(self, rows: int, cols: int) -> None:
        mem = self.kernel.mem
        step = max(1, rows // 8)
        rs = list(range(0, rows, step))
        with self._rowlabels.hold_sync():
            self._rowlabels.x = [-0.5] * len(rs)
            self._rowlabels.y = [rows - r - 0.8 for r in rs]
            self._rowlabels.text = [f"{mem.pfn_to_addr(r * cols):#x}" for r in rs]

    def _xy(self, pfn: int) -> tuple[float, float]:
        """Data coordinates of the top-left corner of a frame's square."""
        rows, cols = self._grid
        r, c = divmod(pfn, cols)
        return float(c), float(rows - r)

    def _draw_regions(self, regions: list[Any]) -> None:
        mem = self.kernel.mem
        xs: list[list[float]] = []
        ys: list[list[float]] = []
        lx: list[float] = []
        ly: list[float] = []
        lt: list[str] = []
        last: tuple[int, int] = (-1, -LABEL_GAP)
        cols = self._grid[1]
        for r in regions:
            top = min(max(r.vm_top, r.vm_end), mem.ram_base + mem.ram_size)
            first = mem.addr_to_pfn(r.vm_start)
            last_pfn = mem.addr_to_pfn(top + mem.page_size - 1) - 1  # the last frame it covers
            x, y = self._xy(first)  # left edge of its first frame
            xs.append([x, x])
            ys.append([y, y - 1.0])
            x, y = self._xy(last_pfn)  # right edge of its last frame
            xs.append([x + 1.0, x + 1.0])
            ys.append([y, y - 1.0])
            npages = -(-(max(r.vm_top, r.vm_end) - r.vm_start) // mem.page_size)
            row, col = divmod(mem.addr_to_pfn(r.vm_start), cols)
            crowded = row == last[0] and col - last[1] < LABEL_GAP
            if self.show_labels and npages >= MIN_LABEL_PAGES and len(lt) < MAX_LABELS and not crowded:
                last = (row, col)
                x, y = self._xy(mem.addr_to_pfn(r.vm_start))
                lx.append(x + 0.2)
                ly.append(y - 0.75)
                lt.append(f"R{r.id} {(r.path or 'anon').rsplit('/', 1)[-1]}")
        with self._bounds.hold_sync():
            if xs:
                self._bounds.x = xs
                self._bounds.y = ys
            self._bounds.visible = bool(xs)
        with self._labels.hold_sync():
            if lt:
                self._labels.x, self._labels.y, self._labels.text = lx, ly, lt
            self._labels.visible = bool(lt)

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
    def pfn_at(self, x: float, y: float) -> int | None:
        """The frame under data coordinates ``(x, y)`` of the figure, or None."""
        rows, cols = self._grid
        c, r = math.floor(x), rows - 1 - math.floor(y)
        if not (0 <= c < cols and 0 <= r < rows):
            return None
        pfn = r * cols + c
        return pfn if pfn < self.kernel.mem.nr_pages else None

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
        if self.selection.label:
            lines.append(f"selected: {self.selection.label} ({self.selection.npages} frames)")
        return "\n".join(lines)
