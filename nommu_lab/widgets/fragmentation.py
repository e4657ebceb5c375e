"""Fragmentation: free memory by block size, and why plenty of it may not be enough.

Without an MMU a mapping of ``n`` pages needs one physically contiguous
free block of order ``get_order(n)`` or more from the buddy allocator
(``alloc_pages_exact`` under ``do_mmap_private`` in mm/nommu.c). So what
matters is not only MemFree but the free blocks of each order, which is what
``/proc/buddyinfo`` prints (``frag_show_print`` in mm/vmstat.c). This view
shows the kernel's own numbers: the ``/proc/buddyinfo`` text, the largest
free block, and MemFree next to the largest free block after each call, so a
class can watch them drift apart as memory fragments.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, NamedTuple

import bqplot as bq
import ipywidgets as W

from .base import Selection, View, html_escape

if TYPE_CHECKING:
    from ..kernel import Kernel

#: points kept on the chart (the oldest drop off)
HISTORY = 200
#: up to this many points each gets a dot (one point alone is otherwise invisible)
MARKED_POINTS = 60
_COLOURS = ("#1f6fb4", "#e67e00")  # MemFree, largest free block
_PREFIX = len("Node 0, zone ") + 8 + 1  # buddyinfo's columns start after the zone name


class Sample(NamedTuple):
    """The machine after one syscall: MemFree and the largest free block, in kB."""

    call: int  # k.syscalls: how many syscalls the machine had made
    mem_free_kb: int
    largest_kb: int


def _size(nbytes: int) -> str:
    for unit, size in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if nbytes >= size and nbytes % size == 0:
            return f"{nbytes // size}{unit}"
    return f"{nbytes}"


def buddyinfo_header(page_size: int, orders: int) -> str:
    """Two lines above ``/proc/buddyinfo``: each column's order and block size."""
    order = "order".ljust(_PREFIX) + "".join(f"{o:6d} " for o in range(orders))
    block = "block".ljust(_PREFIX) + "".join(f"{_size(page_size << o):>6} " for o in range(orders))
    return f"{order.rstrip()}\n{block.rstrip()}\n"


class FragmentationView(View):
    """Free blocks per order (``/proc/buddyinfo``), the largest free block, MemFree over time.

    ``history`` holds one :class:`Sample` per syscall seen (at most
    :data:`HISTORY`). After time travel the view watches a rebuilt machine;
    samples from calls after the one it is at are dropped, since that
    future no longer happened.
    """

    def __init__(self, kernel: Kernel, selection: Selection | None = None, *,
                 presenter: bool = False) -> None:
        super().__init__(kernel, selection)
        self.add_class("nl-fragmentation")
        font = 18 if presenter else 12  # presenter: nothing under 18 px, as in the rest of the lab
        self.title = W.HTML(
            "<b>Fragmentation</b>: a mapping needs <i>one</i> free block big enough "
            "(no MMU to join scattered pages), so MemFree alone does not say what fits.")
        self.buddyinfo = W.HTML()
        self.buddyinfo.add_class("nl-buddyinfo")
        self.largest = W.HTML()
        self.largest.add_class("nl-largest-block")
        self._sx = bq.LinearScale()
        self._sy = bq.LinearScale(min=0.0)
        self.lines = bq.Lines(x=[[0.0], [0.0]], y=[[0.0], [0.0]],
                              scales={"x": self._sx, "y": self._sy},
                              colors=list(_COLOURS), stroke_width=3, marker="circle",
                              marker_size=24)
        key = "".join(f'<span style="color:{c}">&#9632; {html_escape(n)}</span>&emsp;'
                      for n, c in zip(("MemFree", "largest free block"), _COLOURS, strict=True))
        self.key = W.HTML(f"{key}after each syscall, in kB")
        tick = {"font-size": f"{font}px"}
        self.chart = bq.Figure(
            marks=[self.lines],
            axes=[bq.Axis(scale=self._sx, label="syscall", tick_format="d", tick_style=tick,
                          label_offset="32px"),
                  bq.Axis(scale=self._sy, side="left", tick_format="d", tick_style=tick)],
            fig_margin={"top": 10, "bottom": 46, "left": 70, "right": 16},
            animation_duration=0, display_toolbar=False,
            layout=W.Layout(width="100%", height="300px" if presenter else "220px"))
        self.chart.add_class("nl-memfree-chart")
        for w in (self.title, self.largest, self.key):
            w.add_class("nl-frag-text")
        self.children = (
            W.HTML(f"<style>.nl-fragmentation pre {{ font-size: {font}px; margin: 2px 0; "
                   "font-family: 'DejaVu Sans Mono', monospace; line-height: 1.3; "
                   "overflow-x: auto; }"
                   # on the widget's own content box too, where Jupyter sets its font size
                   f".nl-fragmentation .nl-frag-text, .nl-fragmentation .nl-frag-text "
                   f".widget-html-content {{ font-size: {font + 1}px; }}"
                   # the axis label is drawn by bqplot at its own size
                   ".nl-presenter .nl-memfree-chart text { font-size: 18px !important; }</style>"),
            self.title, self.buddyinfo, self.largest, self.key, self.chart)
        self.history: deque[Sample] = deque(maxlen=HISTORY)
        self._last_key: tuple[int, int, int] | None = None
        self.refresh()

    # ------------------------------------------------------------ drawing
    def sample(self) -> Sample:
        """The kernel's numbers now."""
        k = self.kernel
        return Sample(k.syscalls, k.meminfo()["MemFree"], k.largest_free_block() // 1024)

    def _record(self, s: Sample) -> None:
        """Add a sample, dropping any from calls that did not happen on this machine."""
        while self.history and self.history[-1].call > s.call:
            self.history.pop()
        if self.history and self.history[-1].call == s.call:
            self.history[-1] = s  # a kernel-level change (spawn...) between two syscalls
        else:
            self.history.append(s)

    def refresh(self) -> None:
        """Redraw from the kernel's state (once per change of its frames)."""
        k = self.kernel
        key = (id(k), k.mem.version, k.syscalls)
        if key == self._last_key:
            return
        self._last_key = key
        s = self.sample()
        self._record(s)
        self.redraws += 1
        counts = k.buddyinfo()
        self.buddyinfo.value = ("<pre>" + html_escape(buddyinfo_header(k.page_size, len(counts))
                                                      + k.proc_buddyinfo()) + "</pre>")
        self.largest.value = html_escape(self.largest_text()).replace(
            "Largest free block", "<b>Largest free block</b>", 1)
        xs = [float(h.call) for h in self.history]
        with self.lines.hold_sync():
            self.lines.marker = "circle" if len(xs) <= MARKED_POINTS else None
            self.lines.x = [xs, xs]
            self.lines.y = [[float(h.mem_free_kb) for h in self.history],
                            [float(h.largest_kb) for h in self.history]]

    def largest_text(self) -> str:
        """The largest free block, and what it means for the next mmap."""
        k = self.kernel
        size = k.largest_free_block()
        free_kb = k.meminfo()["MemFree"]
        if size == 0:
            return f"Largest free block: none (MemFree {free_kb} kB): every mmap needing RAM fails"
        pages = size // k.page_size
        order = pages.bit_length() - 1
        return (f"Largest free block: order {order}, {pages} page(s) = {size // 1024} kB, "
                f"of MemFree {free_kb} kB: the largest mapping that needs a RAM copy "
                f"and can succeed now")

    # ----------------------------------------------------------------- text
    def describe(self) -> str:
        """The buddyinfo table, the largest block and the last samples, as text."""
        k = self.kernel
        lines = [buddyinfo_header(k.page_size, len(k.buddyinfo())) + k.proc_buddyinfo().rstrip("\n"),
                 self.largest_text()]
        recent = list(self.history)[-5:]
        lines.append("MemFree / largest free block by syscall: " + ", ".join(
            f"{h.call}: {h.mem_free_kb}/{h.largest_kb} kB" for h in recent))
        return "\n".join(lines)
