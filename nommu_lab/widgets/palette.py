"""Colours of the RAM map: one per :class:`~nommu_lab.PageState`, two shades each.

The colour of a frame comes from the kernel's own record of what the frame
holds (``PhysicalMemory.state``); the view never decides it. Frames owned by
neighbouring regions alternate between two shades so a boundary shows even
between two regions of the same kind. While something is selected, every
frame outside the selection is drawn in a faded version of its colour.

Palette index of a frame: ``2 * state + shade`` (0-17), plus
:data:`DIM_OFFSET` when faded; :data:`NO_RAM` pads the last image row and
:data:`GAP` is the background between two frames' squares.
"""

from __future__ import annotations

import functools
import html

import numpy as np

from ..kernel import PageState

DIM_OFFSET = 32
GAP = 62
NO_RAM = 63
PALETTE_SIZE = 64
_FADE = 0.72  # how far a faded colour moves towards white

#: label and (shade 0, shade 1) colour of each frame state
STATE_STYLE: dict[PageState, tuple[str, str, str]] = {
    PageState.FREE: ("free", "#e3e3e3", "#e3e3e3"),
    PageState.TRIMMED: ("trimmed (freed again)", "#b7e4c7", "#b7e4c7"),
    PageState.KERNEL: ("kernel", "#37474f", "#37474f"),
    PageState.ANON: ("anonymous copy", "#1f6fb4", "#5fa8dc"),
    PageState.FILE_COPY: ("file copy", "#e67e00", "#f6b25c"),
    PageState.PAGECACHE: ("page cache (file data)", "#238b45", "#66c27a"),
    PageState.SLACK: ("untrimmed slack", "#cb181d", "#f08080"),
    PageState.DEVICE: ("device memory", "#6a51a3", "#a99bd0"),
    PageState.PROGRAM: ("program (loader copy)", "#8c564b", "#c49c94"),
}
_NO_RAM_COLOUR = "#ffffff"
_GAP_COLOUR = "#ffffff"


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _build_palette() -> np.ndarray:
    pal = np.zeros((PALETTE_SIZE, 3), dtype=np.uint8)
    pal[:] = _rgb(_NO_RAM_COLOUR)
    for state, (_, c0, c1) in STATE_STYLE.items():
        for shade, c in enumerate((c0, c1)):
            rgb = np.array(_rgb(c), dtype=float)
            pal[2 * state + shade] = rgb
            pal[DIM_OFFSET + 2 * state + shade] = np.round(rgb + (255 - rgb) * _FADE)
    pal[GAP] = _rgb(_GAP_COLOUR)
    return pal


PALETTE: np.ndarray = _build_palette()


def text_colour_on(rgb: np.ndarray | tuple[int, int, int]) -> str:
    """Black or white, whichever reads better on a background colour (WCAG luminance)."""
    lin = [(c / 255) / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4
           for c in (int(v) for v in rgb)]
    lum = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    return "#ffffff" if lum < 0.18 else "#111111"


@functools.cache
def label_colour(state: PageState) -> str:
    """Text colour for a label beside a run of ``state`` frames: its colour, darkened to read on white."""
    r, g, b = (round(v * 0.75) for v in _rgb(STATE_STYLE[state][1]))
    return f"#{r:02x}{g:02x}{b:02x}"


def palette_index(state: PageState, shade: int = 0, dimmed: bool = False) -> int:
    """The palette index the RAM map uses for a frame."""
    return 2 * int(state) + (shade & 1) + (DIM_OFFSET if dimmed else 0)


def state_of_index(index: int) -> PageState | None:
    """The frame state a palette index stands for (None for padding)."""
    if index == NO_RAM:
        return None
    return PageState((index % DIM_OFFSET) // 2)


def legend_html(counts: dict[PageState, int] | None = None) -> str:
    """Coloured swatches with the name of each state (and frame counts if given)."""
    items = []
    for state, (label, c0, _) in STATE_STYLE.items():
        n = f" {counts[state]}" if counts is not None else ""
        items.append(
            f'<span class="nl-legend-item nl-state-{state.name.lower()}">'
            f'<span class="nl-swatch" style="background:{c0}"></span>{html.escape(label)}'
            f'<span class="nl-count">{n}</span></span>')
    return '<div class="nl-legend">' + "".join(items) + "</div>"
