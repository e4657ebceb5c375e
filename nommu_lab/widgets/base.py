"""What every view shares: watching a kernel, a shared selection, a text form.

A view is an ipywidgets box that *observes* one kernel: it subscribes with
``Kernel.subscribe`` and redraws from the kernel's state after every syscall.
It keeps no kernel state of its own, so several views can watch one kernel
and any of them can be thrown away. Each view has :meth:`View.describe`, a
deterministic plain-text form, which is also its ``repr`` (what a notebook
shows where widgets do not render, and what nbval compares).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import ipywidgets as W
import traitlets as T

if TYPE_CHECKING:
    from ..kernel import Kernel


class Selection(T.HasTraits):
    """What the learner has picked: page-frame ranges to highlight, and why.

    ``ranges`` is a list of ``(first_pfn, count)`` pairs inside RAM; ``label``
    says what was selected (shown under the RAM map); ``note`` adds what does
    not show on the RAM map (a direct mapping of flash, say).
    """

    ranges = T.List()
    label = T.Unicode("")
    note = T.Unicode("")

    def set(self, ranges: list[tuple[int, int]], label: str, note: str = "") -> None:
        """Select some frames (one change notification)."""
        with self.hold_trait_notifications():
            self.ranges = [(int(a), int(n)) for a, n in ranges if n > 0]
            self.label = label
            self.note = note

    def clear(self) -> None:
        """Select nothing."""
        self.set([], "", "")

    @property
    def npages(self) -> int:
        """How many frames are selected."""
        return sum(n for _, n in self.ranges)


def address_ranges_to_frames(k: Kernel, start: int, end: int) -> list[tuple[int, int]]:
    """The RAM frames under ``[start, end)`` as ``(pfn, count)`` (empty outside RAM)."""
    mem = k.mem
    lo = max(start, mem.ram_base)
    hi = min(end, mem.ram_base + mem.ram_size)
    if hi <= lo:
        return []
    first = mem.addr_to_pfn(lo)
    last = mem.addr_to_pfn(hi - 1)
    return [(first, last - first + 1)]


def touched_frames(k: Kernel, touched: dict[str, Any]) -> list[tuple[int, int]]:
    """The frames an event says it touched.

    ``touched["frames"]`` is a run ``(pfn, n)``, ``touched["pfns"]`` single
    frames; a region id in ``touched["region"]`` stands for the region's
    frames, if it is still there.
    """
    out: list[tuple[int, int]] = []
    nr = k.mem.nr_pages
    run = touched.get("frames")
    if run is not None:
        pfn, n = (int(x) for x in run)
        if 0 <= pfn < nr:
            out.append((pfn, min(n, nr - pfn)))
    out.extend((int(p), 1) for p in touched.get("pfns", ()) if 0 <= int(p) < nr)
    rid = touched.get("region")
    if rid is not None and not out:
        for r in k.region_tree:
            if r.id == rid:
                out.extend(address_ranges_to_frames(k, r.vm_start, max(r.vm_top, r.vm_end)))
                break
    return out


class View(W.VBox):
    """Base class: a box of widgets that redraws itself from one kernel.

    Subclasses implement :meth:`refresh` (redraw from ``self.kernel``) and
    :meth:`describe` (the same content as text).
    """

    def __init__(self, kernel: Kernel, selection: Selection | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("layout", W.Layout(width="auto"))  # stretched by its box; no margin overflow
        super().__init__(**kwargs)
        self.kernel: Kernel = kernel
        self.selection = selection if selection is not None else Selection()
        self._held = 0
        self._dirty = False
        self.redraws = 0
        kernel.subscribe(self._on_kernel)

    # ------------------------------------------------------------ observing
    def _on_kernel(self, _k: Kernel) -> None:
        if self._held:
            self._dirty = True
            return
        self.refresh()

    def bind(self, kernel: Kernel) -> None:
        """Watch another kernel (time travel swaps the machine under the views)."""
        if kernel is self.kernel:
            return
        self.kernel.unsubscribe(self._on_kernel)
        self.kernel = kernel
        kernel.subscribe(self._on_kernel)
        self._on_kernel(kernel)

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Redraw once at the end instead of after each syscall inside the block."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
            if not self._held and self._dirty:
                self._dirty = False
                self.refresh()

    def close(self) -> None:
        """Stop watching the kernel and close the widgets."""
        self.kernel.unsubscribe(self._on_kernel)
        super().close()

    # -------------------------------------------------------------- content
    def refresh(self) -> None:
        """Redraw from the kernel's current state."""
        raise NotImplementedError

    def describe(self) -> str:
        """The view as deterministic plain text."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.describe()


def html_escape(s: str) -> str:
    """Escape text for an HTML widget."""
    import html

    return html.escape(s, quote=True)
