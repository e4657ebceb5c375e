"""The RAM map, headless: the grid geometry, the image it sends, clicks, zoom and labels.

The grid is checked as numbers (frame -> pixel rectangle -> frame, outlines
along the gaps, zoom windows), the image by decoding the PNG the widget sent
(each frame's square must be one colour, the kernel's state, with background
gaps around it), and clicks by feeding the widget what bqplot sends for a
click in the image's pixel coordinates.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from _rammap import decoded_frames
from hypothesis import given, settings
from hypothesis import strategies as st

import nommu_lab as nl
from nommu_lab.constants import *
from nommu_lab.kernel import PageState
from nommu_lab.widgets import Lab, RamMap, grid_shape, palette_index
from nommu_lab.widgets._png import decode_indexed_png, encode_indexed_png
from nommu_lab.widgets.base import Selection
from nommu_lab.widgets.palette import DIM_OFFSET, GAP, NO_RAM, PALETTE, state_of_index
from nommu_lab.widgets.ramgrid import (
    CHAR_EM,
    MIN_ZOOM_FRAMES,
    GridLayout,
    block_states,
    gap_for,
    layout_for,
    overview_for,
    place_labels,
    text_width,
    zoom_window,
)
from nommu_lab.widgets.rammap import LEARNER, PRESENTER, grid_pixels

PS = 4096
RAM = 0x8000_0000
FIRST_FREE = 264  # default board: 256 kernel frames, then 8 frame-buffer frames
ANON = PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS


def click(ram: RamMap, x: float, y: float) -> None:
    """What bqplot sends for a click on the map image at pixel ``(x, y)``."""
    ram._on_click(ram.mark, {"event": "element_click", "data": {"click_x": x, "click_y": y}})


def centre(rect: tuple[int, int, int, int]) -> tuple[float, float]:
    x0, y0, x1, y1 = rect
    return (x0 + x1) / 2, (y0 + y1) / 2


# --------------------------------------------------------------------- PNG
def test_png_roundtrip_keeps_every_index():
    rng = np.random.default_rng(7)
    idx = rng.integers(0, 64, size=(13, 37), dtype=np.uint8)
    png = encode_indexed_png(idx, PALETTE)
    back, pal = decode_indexed_png(png)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (back == idx).all() and (pal == PALETTE).all()


# ---------------------------------------------------------------- geometry
def test_grid_shape_is_a_power_of_two_wide():
    assert grid_shape(2048) == (32, 64)  # default board: 8 MiB, a row is 256 KiB
    assert grid_shape(65536) == (128, 512)  # 256 MiB, a row is 2 MiB
    assert grid_shape(100) == (7, 16)


def test_the_8_mib_board_is_64_frames_a_row_of_countable_squares():
    learner = layout_for(0, 2048, 64, LEARNER.grid_px)
    presenter = layout_for(0, 2048, 64, PRESENTER.grid_px)
    assert (learner.cell, learner.gap, learner.rows) == (8, 1, 32)
    assert (presenter.cell, presenter.gap) == (12, 2)
    assert (learner.width, learner.height) == (1 + 64 * 9, 1 + 32 * 9)
    assert (presenter.width, presenter.height) == (2 + 64 * 14, 2 + 32 * 14)
    # the 256 MiB board in full: one pixel a frame, no room for a gap
    big = layout_for(0, 65536, 512, LEARNER.grid_px)
    assert (big.cell, big.gap, big.width, big.height) == (1, 0, 512, 128)
    assert [gap_for(p) for p in (1, 3, 4, 12, 13, 32)] == [0, 0, 1, 1, 2, 2]


@pytest.mark.parametrize("style", [LEARNER, PRESENTER], ids=["learner", "presenter"])
def test_every_frame_maps_to_its_square_and_back(style):
    g = layout_for(0, 2048, 64, style.grid_px)
    for pfn in range(2048):
        x0, y0, x1, y1 = g.rect(pfn)
        assert (x1 - x0, y1 - y0) == (g.cell, g.cell)
        # every pixel of the square, and the gap right of and below it, is this frame
        for x in (x0, x1 - 1, x1 + g.gap - 1):
            for y in (y0, y1 - 1, y1 + g.gap - 1):
                assert g.pfn_at(x + 0.5, y + 0.5) == pfn
    assert g.rect(0)[:2] == (g.gap, g.gap)
    assert g.rect(65) == (g.gap + g.pitch, g.gap + g.pitch, g.gap + g.pitch + g.cell,
                          g.gap + g.pitch + g.cell)
    # the outer border and everything beyond the grid are no frame
    assert g.pfn_at(g.gap - 0.5, 10) is None and g.pfn_at(10, -1) is None
    assert g.pfn_at(g.width + 1, 10) is None and g.pfn_at(10, g.height + 1) is None


@settings(max_examples=300, deadline=None)
@given(first=st.integers(0, 4096), count=st.integers(1, 5000),
       cols=st.sampled_from([16, 32, 64, 128, 512]), cell=st.integers(1, 20),
       gap=st.integers(0, 3), data=st.data())
def test_pfn_at_inverts_rect(first, count, cols, cell, gap, data):
    g = GridLayout(first, count, cols, cell, gap)
    pfn = data.draw(st.integers(first, first + count - 1))
    x0, y0, x1, y1 = g.rect(pfn)
    x = data.draw(st.floats(x0, x1 + gap, exclude_max=True))
    y = data.draw(st.floats(y0, y1 + gap, exclude_max=True))
    assert g.pfn_at(x, y) == pfn
    assert g.pfn_at(*centre(g.rect(pfn))) == pfn


def _inside(poly: list[tuple[float, float]], x: float, y: float) -> bool:
    """Even-odd point-in-polygon test."""
    n, hit = len(poly), False
    for i in range(n - 1):
        (ax, ay), (bx, by) = poly[i], poly[i + 1]
        if (ay > y) != (by > y) and x < ax + (y - ay) * (bx - ax) / (by - ay):
            hit = not hit
    return hit


@settings(max_examples=200, deadline=None)
@given(cols=st.sampled_from([16, 64]), a=st.integers(0, 400), n=st.integers(1, 200))
def test_an_outline_encloses_its_frames_and_no_other(cols, a, n):
    g = GridLayout(0, 512, cols, 8, 1)
    b = min(a + n, 512)
    polys = g.outline(a, b)
    for pfn in range(512):
        cx, cy = centre(g.rect(pfn))
        assert any(_inside(p, cx, cy) for p in polys) == (a <= pfn < b), pfn
    for poly in polys:  # closed, on gap centres only
        assert poly[0] == poly[-1]
        for x, y in poly:
            assert (x - g.gap / 2) % g.pitch == 0 and (y - g.gap / 2) % g.pitch == 0


def test_outline_shapes():
    g = GridLayout(0, 256, 16, 8, 1)
    assert len(g.outline(3, 6)) == 1 and len(g.outline(3, 6)[0]) == 5  # a box
    assert len(g.outline(14, 18)) == 2  # wraps without overlapping columns: two boxes
    assert len(g.outline(10, 40)[0]) == 9  # one eight-cornered shape
    assert g.outline(300, 400) == []  # not in the window


@settings(max_examples=300, deadline=None)
@given(nr=st.sampled_from([100, 2048, 65536]), a=st.integers(0, 70000), n=st.integers(1, 5000))
def test_a_zoom_window_holds_the_range_on_round_rows(nr, a, n):
    a = min(a, nr - 1)
    b = min(a + n, nr)
    first, count, cols = zoom_window(nr, a, b)
    assert first <= a and b <= first + count <= nr
    assert first % cols == 0
    assert count >= min(nr, MIN_ZOOM_FRAMES)


def test_zoom_windows_of_the_two_boards():
    assert zoom_window(2048, 264, 267) == (256, 256, 32)  # 8 rows of 32 around 3 frames
    assert zoom_window(2048, 0, 2048) == (0, 2048, 64)
    assert zoom_window(65536, 65530, 65536) == (65280, 256, 32)  # slides back at the end
    first, count, cols = zoom_window(65536, 1000, 3000)
    assert (first, cols) == (960, 64) and count == 2048


def test_the_overview_fits_all_of_ram_in_a_small_box():
    layout, per = overview_for(65536, 256, 64)
    assert (per, layout.cols, layout.rows, layout.cell, layout.gap) == (4, 256, 64, 1, 0)
    layout, per = overview_for(2048, 256, 64)
    assert (per, layout.width, layout.height) == (1, 128, 64)  # 2 px a frame
    states = np.array([0, 0, 1, 0, 3, 0, 0, 0, 2], dtype=np.uint8)
    assert block_states(states, 4).tolist() == [1, 3, 2]  # any used frame shows


def test_labels_fit_inside_or_go_to_the_lane_without_overlapping():
    g = layout_for(0, 2048, 64, LEARNER.grid_px)
    runs = [("kernel", 0, 256), ("device memory", 256, 264)]
    runs += [(f"R{i} anon", 264 + 3 * i, 267 + 3 * i) for i in range(40)]
    spots = place_labels(g, runs, 12, LEARNER.lane_px)
    inside = [s for s in spots if s.inside]
    lane = [s for s in spots if not s.inside]
    assert [s.text for s in inside] == ["kernel"]
    k = inside[0]
    assert k.x == g.width / 2  # centred in its 4 full rows
    assert k.x - text_width("kernel", 12) / 2 >= g.gap
    assert 0 <= k.y - 6 and k.y + 6 <= 4 * g.pitch  # within the 4 kernel rows
    assert lane and all(s.x >= g.width for s in lane)
    ys = sorted(s.y for s in lane)
    assert all(b - a >= 12 for a, b in itertools.pairwise(ys))  # lines never overlap
    assert ys[0] - 6 >= 0 and ys[-1] + 6 <= g.height
    # more labels than lines: the first ones (priority order) keep theirs
    assert len(lane) == int(g.height // 15)
    assert lane[0].text == "device memory"
    # a region one row tall: wide enough for its text, but 8 px squares are shorter than
    # 12 px letters, so the label goes beside; 16 px squares hold it
    (flat,) = place_labels(g, [("R9 anon", 264, 296)], 12, LEARNER.lane_px)
    assert not flat.inside
    (big,) = place_labels(GridLayout(0, 2048, 64, 16, 2), [("R9 anon", 264, 296)], 12, 132)
    assert big.inside
    # a long name is cut to the lane
    (cut,) = place_labels(g, [("R7 a_very_long_file_name.txt", 300, 301)], 12, LEARNER.lane_px)
    assert cut.text.endswith("\u2026")
    assert g.width + 14 + text_width(cut.text, 12) <= g.width + LEARNER.lane_px


# ------------------------------------------------------------- the image
def test_every_pixel_of_a_small_board_is_its_frame_or_a_gap():
    k = nl.Kernel(ram_size=100 * PS)
    p = k.spawn("app")
    p.mmap(0, 5 * PS, *ANON)
    ram = RamMap(k)
    img, _ = decode_indexed_png(ram.png)
    g = ram.grid
    assert (g.cols, g.rows, g.cell, g.gap) == (16, 7, 30, 2)  # pitch capped at 32
    want = np.full((g.height, g.width), GAP, dtype=np.uint8)
    frames = ram.frame_indices()
    for pfn in range(g.rows * g.cols):
        x0, y0, x1, y1 = g.rect(pfn)
        want[y0:y1, x0:x1] = frames[pfn] if pfn < 100 else NO_RAM
    assert img.shape == want.shape and (img == want).all()


def test_grid_pixels_without_gaps_is_one_block_per_frame():
    g = GridLayout(0, 6, 4, 2, 0)
    img = grid_pixels(g, np.arange(6, dtype=np.uint8))
    assert img.tolist() == [[0, 0, 1, 1, 2, 2, 3, 3], [0, 0, 1, 1, 2, 2, 3, 3],
                            [4, 4, 5, 5, 63, 63, 63, 63], [4, 4, 5, 5, 63, 63, 63, 63]]


def test_fresh_board_map_shows_kernel_framebuffer_and_free():
    k = nl.boards.default()
    ram = RamMap(k)
    f = decoded_frames(ram)
    assert (f[:256] == palette_index(PageState.KERNEL)).all()
    assert {state_of_index(i) for i in f[256:264]} == {PageState.DEVICE}
    assert {state_of_index(i) for i in f[264:]} == {PageState.FREE}
    idx, _ = decode_indexed_png(ram.png)
    assert idx.shape == (289, 577)
    assert (idx[0] == GAP).all() and (idx[:, 9] == GAP).all()  # the gaps between squares


def test_anonymous_mmap_colours_exactly_its_frames_and_the_trimmed_one():
    """3 pages of anonymous memory: an order-2 block, 3 frames ANON, 1 trimmed (nr_trim_pages=1)."""
    k = nl.boards.default()
    ram = RamMap(k)
    before = decoded_frames(ram).copy()
    p = k.spawn("app")
    a = p.mmap(0, 3 * PS, *ANON)
    assert a == RAM + FIRST_FREE * PS
    after = decoded_frames(ram)
    changed = np.flatnonzero(after != before).tolist()
    assert changed == [264, 265, 266, 267]
    assert [state_of_index(i) for i in after[264:267]] == [PageState.ANON] * 3
    assert state_of_index(after[267]) == PageState.TRIMMED


def test_untrimmed_slack_shows_when_trimming_is_off():
    k = nl.boards.default(nr_trim_pages=0)
    ram = RamMap(k)
    p = k.spawn("app")
    p.mmap(0, 5 * PS, *ANON)
    f = decoded_frames(ram)
    assert [state_of_index(i) for i in f[264:272]] == [PageState.ANON] * 5 + [PageState.SLACK] * 3
    assert state_of_index(f[272]) == PageState.FREE


def test_neighbouring_regions_get_different_shades():
    k = nl.boards.default()
    ram = RamMap(k)
    p = k.spawn("app")
    p.mmap(0, 2 * PS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)
    p.mmap(0, 2 * PS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)
    f = decoded_frames(ram)
    assert state_of_index(f[264]) == state_of_index(f[266]) == PageState.ANON
    assert f[264] != f[266]  # same state, two regions: two shades
    assert f[264] == f[265] and f[266] == f[267]


def test_a_call_repaints_only_the_frames_it_changed():
    """Shades stay with their region: unmapping one region leaves the others' colours alone."""
    k = nl.boards.default()
    ram = RamMap(k)
    p = k.spawn("app")
    addrs = [p.mmap(0, 2 * PS, *ANON) for _ in range(4)]
    before = decoded_frames(ram).copy()
    p.munmap(addrs[0], 2 * PS)
    changed = np.flatnonzero(decoded_frames(ram) != before).tolist()
    assert changed == [264, 265]


def test_map_follows_the_kernel_not_a_copy_of_its_own():
    """Two maps on one kernel agree after every call (views observe)."""
    k = nl.boards.default()
    m1, m2 = RamMap(k), RamMap(k)
    p = k.spawn("app")
    a = p.mmap(0, 4 * PS, *ANON)
    assert m1.png == m2.png
    p.munmap(a, 4 * PS)
    assert m1.png == m2.png
    assert {state_of_index(i) for i in decoded_frames(m1)[264:268]} <= {PageState.FREE, PageState.TRIMMED}


def test_redraw_only_when_something_changed():
    k = nl.boards.default()
    ram = RamMap(k)
    n = ram.redraws
    p = k.spawn("app")  # no frame changes
    assert ram.redraws == n
    p.mmap(0, PS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)
    assert ram.redraws == n + 1


def test_selection_fades_everything_else():
    k = nl.boards.default()
    sel = Selection()
    ram = RamMap(k, sel)
    p = k.spawn("app")
    p.mmap(0, 3 * PS, *ANON)
    sel.set([(264, 3)], "the anonymous region")
    f = decoded_frames(ram)
    assert (f[264:267] < DIM_OFFSET).all()
    assert (f[:264] >= DIM_OFFSET).all() and (f[267:] >= DIM_OFFSET).all()
    assert "the anonymous region" in ram.info.value and "3 frame(s)" in ram.info.value
    sel.clear()
    assert (decoded_frames(ram) < DIM_OFFSET).all()


def test_padding_squares_are_not_ram():
    k = nl.Kernel(ram_size=100 * PS)
    ram = RamMap(k)
    idx, _ = decode_indexed_png(ram.png)
    g = ram.grid
    assert (g.rows, g.cols) == (7, 16)
    for pfn in range(100, 112):
        x0, y0, x1, y1 = g.rect(pfn)
        assert (idx[y0:y1, x0:x1] == NO_RAM).all()


# ------------------------------------------------------------------ clicks
@pytest.mark.parametrize("presenter", [False, True], ids=["learner", "presenter"])
def test_click_a_frame_names_address_state_region_and_users(presenter):
    k = nl.boards.default()
    ram = RamMap(k, presenter=presenter)
    assert ram.grid.cell >= (12 if presenter else 8)
    p = k.spawn("app")
    a = p.mmap(0, 3 * PS, *ANON)
    click(ram, *centre(ram.frame_rect(265)))
    text = ram.info.value
    assert f"pfn 265 at {a + PS:#x}: anonymous copy" in text
    assert "used by pid 1 (app)" in text and "anonymous (copy, usage 1)" in text
    # the gap right of a square belongs to that square; the next square is the next frame
    _, y0, x1, _ = ram.frame_rect(265)
    click(ram, x1 + ram.grid.gap / 2, y0 + 1)
    assert "pfn 265 " in ram.info.value
    click(ram, x1 + ram.grid.gap + 0.5, y0 + 1)
    assert "pfn 266 " in ram.info.value
    click(ram, -3, y0)  # outside the grid: nothing changes
    assert "pfn 266 " in ram.info.value
    assert ram.frame_info(0).startswith("pfn 0 at 0x80000000: kernel")
    assert ram.frame_info(2000) == f"pfn 2000 at {RAM + 2000 * PS:#x}: free"


def test_click_on_a_file_copy_names_its_path():
    k = nl.boards.default()
    ram = RamMap(k)
    p = k.spawn("app")
    fd = p.open("/rom/bin/hello", O_RDONLY)
    a = p.mmap(0, PS, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)
    pfn = k.mem.addr_to_pfn(a)
    click(ram, *centre(ram.frame_rect(pfn)))
    assert "/rom/bin/hello" in ram.info.value and "file copy" in ram.info.value


def test_describe_lists_runs_of_frames():
    k = nl.boards.default()
    ram = RamMap(k)
    p = k.spawn("app")
    p.mmap(0, 3 * PS, *ANON)
    lines = ram.describe().splitlines()
    assert lines[0] == "RAM 8 MiB at 0x80000000, 2048 frames of 4 KiB"
    assert any("264-266" in ln and "anonymous copy" in ln and "anon" in ln for ln in lines)
    assert any("267-267" in ln and "trimmed" in ln for ln in lines)
    assert repr(ram) == ram.describe()


# ------------------------------------------------------- outlines, labels
def _outlines(ram: RamMap) -> list[list[tuple[float, float]]]:
    xs, ys = np.atleast_2d(ram._outlines.x).tolist(), np.atleast_2d(ram._outlines.y).tolist()
    return [list(dict.fromkeys(zip(x, y, strict=True))) for x, y in zip(xs, ys, strict=True)]


def test_regions_and_boot_reservations_are_outlined_along_the_gaps():
    k = nl.boards.default()
    ram = RamMap(k)
    p = k.spawn("app")
    p.mmap(0, 3 * PS, *ANON)
    g = ram.grid
    rid = p.vmas()[0].region.id
    assert [(t, a, b) for t, a, b, _ in ram.runs()] == [
        (f"R{rid} anon", 264, 267), ("kernel", 0, 256), ("device memory", 256, 264)]
    got = _outlines(ram)
    want = [list(dict.fromkeys(poly)) for run in ((264, 267), (0, 256), (256, 264))
            for poly in g.outline(*run)]
    assert got == want
    assert ram._outlines.stroke_width == g.gap  # an outline fills the gap, never a square
    x0, y0, _, _ = g.rect(264)
    assert got[0][0] == (x0 - g.gap / 2, y0 - g.gap / 2)


@pytest.mark.parametrize("presenter", [False, True], ids=["learner", "presenter"])
def test_labels_stay_inside_their_region_or_sit_beside_the_grid(presenter):
    k = nl.boards.default()
    ram = RamMap(k, presenter=presenter)
    p = k.spawn("app")
    p.mmap(0, 3 * PS, *ANON)
    fd = p.open("/rom/bin/hello", O_RDONLY)
    p.mmap(0, 130 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0)  # more than 2 rows
    g, font = ram.grid, ram.style.font_px
    runs = {t: (a, b) for t, a, b, _ in ram.runs()}
    spots = {s.text: s for s in ram.label_spots}
    assert set(spots) == set(runs)
    for text, s in spots.items():
        a, b = runs[text]
        if s.inside:
            # every frame under the text box belongs to the region
            half = len(text) * font * CHAR_EM / 2
            x0, x1 = s.x - half, s.x + half
            y0, y1 = s.y - font / 2, s.y + font / 2
            for x in np.linspace(x0, x1, 20):
                for y in (y0, s.y, y1):
                    pfn = g.pfn_at(x, y)
                    assert pfn is not None and a <= pfn < b, (text, x, y, pfn)
        else:
            assert s.x >= g.width + 10 and s.x + len(s.text) * font * CHAR_EM <= g.width + ram.style.lane_px
    inside = {t for t, s in spots.items() if s.inside}
    assert "kernel" in inside and any(t.endswith("hello") for t in inside)
    assert list(ram._labels.text) == [t for t in spots if spots[t].inside]
    assert len(ram._leaders.x) == len(ram._lane.text) == len(spots) - len(inside)


def test_no_labels_or_outlines_where_frames_have_no_gap():
    k = nl.boards.default(ram_size=256 << 20)
    ram = RamMap(k)
    ram.zoom_all()
    assert ram.grid.gap == 0
    assert not ram._outlines.visible and not ram._labels.visible and ram.label_spots == []


def test_row_addresses_and_column_offsets_are_hex():
    ram = RamMap(nl.boards.default())
    assert list(ram._rowlabels.text) == [f"{RAM + i * (1 << 20):#x}" for i in range(8)]  # 1 MiB
    assert list(ram._collabels.text) == ["+0x0", "+0x10000", "+0x20000", "+0x30000"]
    g = ram.grid
    assert list(ram._rowlabels.y) == [g.gap + 4 * i * g.pitch + g.cell / 2 for i in range(8)]


# -------------------------------------------------------------------- zoom
def test_zoom_to_a_region_shows_its_frames_bigger_with_all_ram_above():
    k = nl.boards.default(ram_size=256 << 20)
    sel = Selection()
    ram = RamMap(k, sel)
    ram.zoom_all()
    assert ram.overview_box.children == ()
    p = k.spawn("app")
    a = p.mmap(0, 3 * PS, *ANON)
    pfn = k.mem.addr_to_pfn(a)
    ram.zoom(a, a + 3 * PS)
    g = ram.grid
    assert g.contains(pfn) and g.contains(pfn + 2) and g.cell >= 8 and g.gap >= 1
    assert g.count == MIN_ZOOM_FRAMES and g.first % g.cols == 0
    f = decoded_frames(ram)
    assert [state_of_index(i) for i in f[pfn - g.first:pfn - g.first + 3]] == [PageState.ANON] * 3
    assert (f == ram.frame_indices()[g.first:g.end]).all()
    # all of RAM stays on screen, small, with a box where the zoomed frames are
    assert ram.overview_box.children == (ram.overview, ram.overview_caption)
    ov, _ = decode_indexed_png(ram.overview_png)
    layout, per = ram.overview_layout()
    assert ov.shape == (64, 256) and per == 4  # a pixel for every 4 frames
    want = (k.mem.state.reshape(-1, 4).max(axis=1) * 2).reshape(64, 256)
    assert (ov == want).all()
    (box,) = layout.outline(g.first // 4, g.end // 4)
    assert np.atleast_2d(ram._ov_box.x)[0][:5].tolist() == [pt[0] for pt in box]
    # clicks land on the zoomed frames; the text says where we are
    click(ram, *centre(ram.frame_rect(pfn + 1)))
    assert f"pfn {pfn + 1} at {a + PS:#x}: anonymous copy" in ram.info.value
    assert f"Showing {k.mem.pfn_to_addr(g.first):#x}-" in ram.title.value
    assert ram.describe().splitlines()[-1].startswith(f"showing: pfn {g.first}-{g.end - 1}")
    ram.zoom_all()
    assert ram.grid.count == 65536 and ram.overview_box.children == ()


def test_zoom_follows_the_kernel_and_the_selection():
    k = nl.boards.default()
    sel = Selection()
    ram = RamMap(k, sel)
    ram.zoom_selection()
    assert "Select something first" in ram.info.value and ram.window is None
    p = k.spawn("app")
    p.mmap(0, 3 * PS, *ANON)
    sel.set([(264, 3)], "the anonymous region")
    ram.zoom_selection()
    assert (ram.grid.first, ram.grid.cols, ram.grid.cell, ram.grid.gap) == (256, 32, 16, 2)
    n = ram.redraws
    b = p.mmap(0, PS, *ANON)  # the zoomed map redraws after a call, like the full one
    assert ram.redraws == n + 1
    assert state_of_index(decoded_frames(ram)[k.mem.addr_to_pfn(b) - 256]) == PageState.ANON


def test_zoom_typed_as_text_and_its_mistakes():
    k = nl.boards.default()
    ram = RamMap(k)
    ram.zoom_range.value = "0x80100000-0x80140000"
    assert ram.grid.first == 256 and ram.grid.count == 256
    ram.zoom_range.value = "0x80400000+0x1000"
    assert ram.grid.first == 1024
    ram.zoom_range.value = "0x10000-0x20000"
    assert "is not in RAM" in ram.info.value and ram.grid.first == 1024
    ram.zoom_range.value = "banana"
    assert "START-END" in ram.info.value
    ram.b_zoom_all.click()
    assert ram.window is None


def test_a_click_on_the_overview_moves_the_zoomed_window():
    k = nl.boards.default(ram_size=256 << 20)
    ram = RamMap(k)
    ram.zoom_frames(0, 10)
    assert ram.window == (0, MIN_ZOOM_FRAMES, 32)
    ov, per = ram.overview_layout()
    x, y = centre(ov.rect(40000 // per))
    ram._on_overview_click(ram._ov_mark, {"event": "element_click",
                                          "data": {"click_x": x, "click_y": y}})
    g = ram.grid
    assert g.contains(40000) and g.count == MIN_ZOOM_FRAMES and g.first % g.cols == 0


# ------------------------------------------------------------------- sizes
def test_the_lab_gives_the_presenter_map_bigger_squares():
    assert Lab(nl.boards.default()).ram.grid.cell == 8
    lab = Lab(nl.boards.default(), presenter=True)
    assert (lab.ram.grid.cell, lab.ram.grid.gap) == (12, 2)
    assert "nl-rammap-presenter" in lab.ram._dom_classes


def test_the_figure_is_sized_to_draw_the_image_pixel_for_pixel():
    ram = RamMap(nl.boards.default())
    m = ram.figure.fig_margin
    g = ram.grid
    assert ram.figure.layout.width == f"{m['left'] + g.width + m['right']}px"
    assert ram.figure.layout.height == f"{m['top'] + g.height + m['bottom']}px"
    assert (ram._sx.min, ram._sx.max, ram._sy.min, ram._sy.max) == (0, g.width, 0, g.height)
    assert ram._sy.reverse and list(ram.mark.y) == [g.height, 0]


def test_a_256_mib_board_opens_on_its_first_frames_as_squares():
    k = nl.boards.default(ram_size=256 << 20)
    ram = RamMap(k)
    g = ram.grid
    assert (g.first, g.count, g.cols, g.cell, g.gap) == (0, 2048, 64, 8, 1)
    assert ram.overview_box.children[0] is ram.overview  # all of RAM, small, above
    assert "4 frame(s) a pixel" in ram.overview_caption.value
    assert "Showing 0x80000000-0x80800000: 2048 of 65536 frames" in ram.title.value
    assert "kernel" in [s.text for s in ram.label_spots]
    # a small board opens on all of RAM
    assert RamMap(nl.boards.default()).window is None


def test_all_of_a_256_mib_board_is_one_pixel_per_frame():
    k = nl.boards.default(ram_size=256 << 20)
    ram = RamMap(k)
    ram.zoom_all()
    p = k.spawn("app")
    a = p.mmap(0, 5 * PS, *ANON)
    idx, _ = decode_indexed_png(ram.png)
    assert idx.shape == (128, 512)
    f = idx.reshape(-1)
    first = k.mem.addr_to_pfn(a)
    assert [state_of_index(i) for i in f[first:first + 5]] == [PageState.ANON] * 5
    assert {state_of_index(i) for i in f[first + 5:first + 8]} == {PageState.TRIMMED}
    assert int((f < DIM_OFFSET).sum()) == 65536


def test_an_unchanged_image_is_not_sent_again():
    """Each image sent is a new widget the browser opens and decodes: send only changed ones."""
    k = nl.boards.default(ram_size=256 << 20)
    sel = Selection()
    ram = RamMap(k, sel)  # opens on the first 2,048 frames, with all of RAM small above
    p = k.spawn("app")
    a = p.mmap(0, 64 * PS, *ANON)
    pfn = k.mem.addr_to_pfn(a)
    assert ram.grid.contains(pfn) and ram.overview_box.children
    shown, overview = ram.mark.image, ram._ov_mark.image
    # a selection dims the other frames of the map; the overview (kernel state only) stays
    sel.set([(pfn, 3)], "three frames")
    assert ram.mark.image is not shown and ram._ov_mark.image is overview
    assert ram.bytes_sent == len(ram.png) > 0
    # new frames in use change both: the map, and the overview's pixels that hold them
    shown = ram.mark.image
    b = p.mmap(0, 64 * PS, *ANON)
    assert ram.grid.contains(k.mem.addr_to_pfn(b))
    assert ram.mark.image is not shown and ram._ov_mark.image is not overview
    assert ram.bytes_sent == len(ram.png) + len(ram.overview_png)
    assert decoded_frames(ram)[k.mem.addr_to_pfn(b) - ram.grid.first] == ram.frame_indices()[k.mem.addr_to_pfn(b)]
