"""Geometry of the RAM map: where each page frame is drawn, and what is under a click.

Pure functions and a frozen dataclass, no widgets, so every number a student
sees on the map can be checked in a plain test. The map shows a *window* of
consecutive frames (all of RAM, or a zoomed part of it) as a grid read like a
page of text: frame ``first + i`` sits in row ``i // cols``, column
``i % cols``. Each frame is a ``cell`` x ``cell`` square of pixels; ``gap``
pixels of background separate two squares and surround the grid, so squares
can be counted. Pixel ``(x, y)`` is measured from the top-left corner of the
map image, ``y`` growing downwards (the map's scales are set so that a click
reports exactly these numbers).

Region outlines run along the middle of the gaps, so they never cover a
frame; labels go inside a region only when a whole text box fits in the
region's own squares, and otherwise into a lane beside the grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: the smallest window a zoom shows: a few rows of context around a small region
MIN_ZOOM_FRAMES = 256
#: the largest square pitch (cell + gap) in pixels, however few frames are shown
MAX_PITCH = 32
#: monospace glyph width as a fraction of the font size (DejaVu Sans Mono: 0.602)
CHAR_EM = 0.61


def grid_shape(nr_pages: int) -> tuple[int, int]:
    """``(rows, columns)`` for ``nr_pages`` frames: a power-of-two width about twice the height.

    A power of two keeps every row's first address round (the 8 MiB board:
    64 frames of 4 KiB, 256 KiB a row; 256 MiB: 512 frames, 2 MiB a row).
    """
    cols = max(16, 1 << math.ceil(math.log2(math.sqrt(2 * max(nr_pages, 1)))))
    return -(-nr_pages // cols), cols


def gap_for(pitch: int) -> int:
    """Pixels between two squares at a given pitch: none below 4 px, 2 from 13 px."""
    if pitch < 4:
        return 0
    return 1 if pitch < 13 else 2


@dataclass(frozen=True, slots=True)
class GridLayout:
    """Frames ``first`` to ``first + count - 1`` drawn as squares, ``cols`` to a row."""

    first: int
    count: int
    cols: int
    cell: int
    gap: int

    # ------------------------------------------------------------ sizes
    @property
    def pitch(self) -> int:
        """Distance in pixels from one square to the next."""
        return self.cell + self.gap

    @property
    def rows(self) -> int:
        """Rows of squares (the last one may be partly empty)."""
        return -(-self.count // self.cols)

    @property
    def width(self) -> int:
        """Image width in pixels: the squares with a gap around each."""
        return self.gap + self.cols * self.pitch

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return self.gap + self.rows * self.pitch

    @property
    def end(self) -> int:
        """One past the last frame shown."""
        return self.first + self.count

    def contains(self, pfn: int) -> bool:
        """Whether frame ``pfn`` is in the window."""
        return self.first <= pfn < self.end

    # ------------------------------------------------------ frame <-> pixels
    def cell_of(self, pfn: int) -> tuple[int, int]:
        """``(row, column)`` of a frame in the window."""
        return divmod(pfn - self.first, self.cols)

    def rect(self, pfn: int) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)``: the half-open pixel rectangle of a frame's square."""
        r, c = self.cell_of(pfn)
        x0 = self.gap + c * self.pitch
        y0 = self.gap + r * self.pitch
        return x0, y0, x0 + self.cell, y0 + self.cell

    def pfn_at(self, x: float, y: float) -> int | None:
        """The frame under pixel ``(x, y)``, or None outside the squares' area.

        A click on the gap right of or below a square counts as a click on
        that square (every pixel inside the grid answers; none is dead).
        """
        c = math.floor((x - self.gap) / self.pitch)
        r = math.floor((y - self.gap) / self.pitch)
        if not (0 <= c < self.cols and 0 <= r < self.rows):
            return None
        pfn = self.first + r * self.cols + c
        return pfn if pfn < self.end else None

    def row_first_pfn(self, row: int) -> int:
        """The frame at the start of a row."""
        return self.first + row * self.cols

    def edge_x(self, col: int) -> float:
        """x of the middle of the gap left of column ``col`` (``cols`` is the right edge)."""
        return col * self.pitch + self.gap / 2

    def edge_y(self, row: int) -> float:
        """y of the middle of the gap above row ``row``."""
        return row * self.pitch + self.gap / 2

    # ------------------------------------------------------------- runs
    def clip(self, a: int, b: int) -> tuple[int, int] | None:
        """``[a, b)`` cut to the window, or None if nothing of it is shown."""
        a, b = max(a, self.first), min(b, self.end)
        return (a, b) if a < b else None

    def run_rows(self, a: int, b: int) -> list[tuple[int, int, int]]:
        """The frames ``[a, b)`` as ``(row, first column, end column)`` pieces, one per row."""
        cut = self.clip(a, b)
        if cut is None:
            return []
        a, b = cut
        (r0, c0), (r1, c1) = self.cell_of(a), self.cell_of(b - 1)
        if r0 == r1:
            return [(r0, c0, c1 + 1)]
        return ([(r0, c0, self.cols)] + [(r, 0, self.cols) for r in range(r0 + 1, r1)]
                + [(r1, 0, c1 + 1)])

    def outline(self, a: int, b: int) -> list[list[tuple[float, float]]]:
        """Closed polylines around frames ``[a, b)``, along the middle of the gaps.

        A run that wraps onto the next row without overlapping columns is
        two separate boxes; otherwise one eight-cornered shape.
        """
        pieces = self.run_rows(a, b)
        if not pieces:
            return []
        ex, ey = self.edge_x, self.edge_y

        def box(r0: int, r1: int, c0: int, c1: int) -> list[tuple[float, float]]:
            return [(ex(c0), ey(r0)), (ex(c1), ey(r0)), (ex(c1), ey(r1)), (ex(c0), ey(r1)),
                    (ex(c0), ey(r0))]

        (r0, ca, _), (r1, _, cb) = pieces[0], pieces[-1]
        if r0 == r1:
            return [box(r0, r0 + 1, ca, cb)]
        if r1 == r0 + 1 and cb <= ca:
            return [box(r0, r0 + 1, ca, self.cols), box(r1, r1 + 1, 0, cb)]
        return [[(ex(ca), ey(r0)), (ex(self.cols), ey(r0)), (ex(self.cols), ey(r1)),
                 (ex(cb), ey(r1)), (ex(cb), ey(r1 + 1)), (ex(0), ey(r1 + 1)),
                 (ex(0), ey(r0 + 1)), (ex(ca), ey(r0 + 1)), (ex(ca), ey(r0))]]

    def inner_box(self, a: int, b: int) -> tuple[int, int, int, int] | None:
        """The largest rectangle of whole squares inside ``[a, b)``, in pixels.

        Candidates are the block of full rows, the first row's piece and the
        last row's piece; the widest-then-tallest one wins. Returns the pixel
        box ``(x0, y0, x1, y1)`` spanning those squares (gaps between them
        included, the outer gap not).
        """
        pieces = self.run_rows(a, b)
        if not pieces:
            return None
        cands: list[tuple[int, int, int, int]] = []  # (r0, r1, c0, c1), half-open
        full = [r for r, c0, c1 in pieces if c0 == 0 and c1 == self.cols]
        if full:
            cands.append((full[0], full[-1] + 1, 0, self.cols))
        for r, c0, c1 in (pieces[0], pieces[-1]):
            cands.append((r, r + 1, c0, c1))
        p, g = self.pitch, self.gap

        def px(c: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
            r0, r1, c0, c1 = c
            return g + c0 * p, g + r0 * p, c1 * p, r1 * p

        def area(c: tuple[int, int, int, int]) -> tuple[int, int]:
            x0, y0, x1, y1 = px(c)
            return (y1 - y0) * (x1 - x0), x1 - x0

        return px(max(cands, key=area))


def layout_for(first: int, count: int, cols: int, width_px: int) -> GridLayout:
    """The layout of a window in about ``width_px`` pixels: the largest pitch that fits."""
    pitch = max(1, min(MAX_PITCH, width_px // cols))
    gap = gap_for(pitch)
    return GridLayout(first, count, cols, pitch - gap, gap)


def overview_for(nr_pages: int, width_px: int, height_px: int) -> tuple[GridLayout, int]:
    """``(layout, per)``: all of RAM in at most ``width_px`` x ``height_px`` pixels, no gaps.

    Each square stands for ``per`` consecutive frames (a power of two, 1 if
    they fit): the 256 MiB board's 65,536 frames become 256 x 64 pixels of 4
    frames each. The squares are laid out like the map's own, by address.
    """
    per = 1
    while True:
        n = -(-nr_pages // per)
        rows, cols = grid_shape(n)
        pitch = min(width_px // cols, height_px // rows, 4)
        if pitch >= 1:
            return GridLayout(0, n, cols, pitch, 0), per
        per *= 2


def block_states(states: np.ndarray, per: int) -> np.ndarray:
    """The state shown for each block of ``per`` frames: the highest-numbered one in it.

    Every used state is numbered above FREE and TRIMMED, so a block shows as
    used if any of its frames is.
    """
    if per == 1:
        return states
    pad = (-len(states)) % per
    if pad:
        states = np.concatenate((states, np.zeros(pad, dtype=states.dtype)))
    return states.reshape(-1, per).max(axis=1)


def zoom_window(nr_pages: int, a: int, b: int) -> tuple[int, int, int]:
    """``(first, count, cols)``: a window over frames ``[a, b)`` with some context.

    The window holds at least :data:`MIN_ZOOM_FRAMES` frames and a power of
    two of them, its rows start at multiples of ``cols`` (round addresses),
    and near the end of RAM it slides back rather than show less.
    """
    a = max(0, min(a, nr_pages - 1))
    b = max(a + 1, min(b, nr_pages))
    want = max(MIN_ZOOM_FRAMES, 1 << (b - a - 1).bit_length())
    if want >= nr_pages:
        return 0, nr_pages, grid_shape(nr_pages)[1]
    rows, cols = grid_shape(want)
    first = a - a % cols
    rows = max(rows, -(-(b - first) // cols))
    if first + rows * cols > nr_pages:  # slide back so the window stays full
        first = max(0, nr_pages - rows * cols)
        first -= first % cols
    return first, min(rows * cols, nr_pages - first), cols


def text_width(text: str, font_px: float) -> float:
    """Estimated width of ``text`` in a monospace font of ``font_px`` pixels."""
    return len(text) * font_px * CHAR_EM


@dataclass(frozen=True, slots=True)
class LabelSpot:
    """Where one region label goes: inside its squares or in the lane beside the grid."""

    text: str
    x: float  # centre of the text inside a region; its left end in the lane
    y: float  # vertical centre of the text
    inside: bool
    anchor_y: float = 0.0  # lane labels: the row centre their leader line points at


def place_labels(layout: GridLayout, runs: list[tuple[str, int, int]], font_px: float,
                 lane_px: float, pad: float = 3.0) -> list[LabelSpot]:
    """Place one label per run ``(text, first pfn, end pfn)``, in priority order.

    A label goes inside its run when a box of ``font_px + 2`` by the text's
    width plus padding fits in :meth:`GridLayout.inner_box`; otherwise into
    the lane right of the grid, at its first row if free, else the nearest
    free line, with a leader back to that row. Lane labels never overlap
    each other; those that find no line are left out (the runs come in
    priority order, so the least important go first). Texts longer than the
    lane are cut with an ellipsis.
    """
    spots: list[LabelSpot] = []
    line_h = font_px + 3
    nlines = max(0, int(layout.height // line_h))
    taken: set[int] = set()
    max_chars = int((lane_px - 2 * pad - 14) // (font_px * CHAR_EM))
    for text, a, b in runs:
        box = layout.inner_box(a, b)
        if box is None:
            continue
        x0, y0, x1, y1 = box
        if (x1 - x0) >= text_width(text, font_px) + 2 * pad and (y1 - y0) >= font_px + 2:
            spots.append(LabelSpot(text, (x0 + x1) / 2, (y0 + y1) / 2, True))
            continue
        if max_chars < 3 or nlines == 0:
            continue
        shown = text if len(text) <= max_chars else text[:max_chars - 1] + "\u2026"
        row = layout.cell_of(max(a, layout.first))[0]
        anchor = layout.gap + row * layout.pitch + layout.cell / 2
        want = min(nlines - 1, int(anchor // line_h))
        line = next((i for d in range(nlines) for i in (want - d, want + d)
                     if 0 <= i < nlines and i not in taken), None)
        if line is None:
            continue
        taken.add(line)
        spots.append(LabelSpot(shown, layout.width + 14 + pad, line * line_h + line_h / 2, False,
                               anchor))
    return spots
