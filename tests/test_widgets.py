"""Headless tests of the live lab: widgets driven with no kernel and no browser.

ipywidgets falls back to a dummy comm outside a Jupyter kernel, so widgets
can be built, clicked (``button.click()`` runs the handlers) and read back.
The RAM map is checked by decoding the PNG it sent: the palette index of each
frame must say what the kernel's frame table says (the RAM map's own tests,
grid geometry, zoom and labels, are in test_rammap.py).
"""

from __future__ import annotations

import pytest
from _rammap import decoded_frames

import nommu_lab as nl
from nommu_lab.constants import *
from nommu_lab.kernel import PageState
from nommu_lab.widgets import Lab, RamMap, parse_size
from nommu_lab.widgets.base import Selection, touched_frames
from nommu_lab.widgets.palette import DIM_OFFSET, state_of_index
from nommu_lab.widgets.tables import NONE, DevicesView, EventLog, RegionsView, VmaView

PS = 4096
RAM = 0x8000_0000
FIRST_FREE = 264  # default board: 256 kernel frames, then 8 frame-buffer frames


@pytest.fixture
def lab() -> Lab:
    return Lab(nl.boards.default())


# ------------------------------------------------------------------ tables
def test_regions_table_rows_and_selection_highlight():
    k = nl.boards.default()
    sel = Selection()
    ram, regions = RamMap(k, sel), RegionsView(k, sel)
    p = k.spawn("app")
    a = p.mmap(0, 3 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    fd = p.open("/rom/bin/hello", O_RDONLY)
    b = p.mmap(0, PS, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0)
    assert regions.rows() == [
        f"{b:08x}-{b + PS:08x} r-xp 00000000     1 direct     0 /rom/bin/hello",
        f"{a:08x}-{a + 3 * PS:08x} rw-p 00000000     1 copy       0 [anon]",
    ]
    labels = [lbl for lbl, _ in regions.table.options]
    assert labels[0] == "(none)" and labels[1:] == regions.rows()
    anon_id = regions.table.options[2][1]
    regions.select_region(anon_id)
    assert sel.ranges == [(264, 3)]
    assert {state_of_index(i) for i in decoded_frames(ram)[264:267]} == {PageState.ANON}
    assert (decoded_frames(ram)[264:267] < DIM_OFFSET).all()
    # the XIP region lives in flash: nothing in RAM, and the view says so
    regions.select_region(regions.table.options[1][1])
    assert sel.ranges == [] and "NOR flash" in sel.note
    assert "no RAM frames" in ram.info.value


def test_vma_view_lists_each_process_and_highlights_a_vma():
    k = nl.boards.default()
    sel = Selection()
    vmas = VmaView(k, sel)
    p = k.spawn("app")
    a = p.mmap(0, 2 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    q = k.spawn("other")
    q.mmap(0, PS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)
    assert vmas.pid.value == p.pid  # the chosen process stays chosen
    vmas.pid.value = q.pid
    vmas.pid.value = p.pid
    rid = p.vmas()[0].region.id
    assert vmas.rows(p.pid) == [f"{a:08x}-{a + 2 * PS:08x} rw-p 00000000 R{rid:<5} [anon]"]
    vmas.table.value = 0
    assert sel.ranges == [(264, 2)]
    text = vmas.describe()
    assert text.splitlines()[0] == "pid 1 (app):" and "pid 2 (other):" in text


def test_devices_view_badges_flash_mode_and_direct_regions():
    k = nl.boards.default()
    dev = DevicesView(k)
    p = k.spawn("app")
    fd = p.open("/rom/bin/hello", O_RDONLY)
    b = p.mmap(0, PS, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0)
    text = dev.describe()
    assert "/rom       romfs ro  /dev/mtd0  COPY|DIRECT|READ|EXEC" in text
    assert "/mnt/disk  ext2      /dev/vda   COPY (the default for a regular file)" in text
    assert "/dev/ttyS0" in text and "NO MMAP" in text
    assert "nor0 NOR flash 0x20000000-0x20100000: mode read-array; direct: R" in text
    assert f"{b:#x}-{b + PS:#x} /rom/bin/hello (usage 1)" in text
    html = dev.html.value
    assert 'nl-badge-direct on' in html and 'nl-badge-write off' in html
    if hasattr(k, "mtd_program"):
        k.mtd_program(0x80000, b"\x00")
        assert "mode program" in dev.describe()
        assert "nl-flash-busy" in dev.html.value
        k.mtd_complete()
        assert "mode read-array" in dev.describe()


class _CountingSensor(nl.FileOperations):
    """A learner's driver: its mmap_capabilities counts every call made on it."""

    name = "sensor"

    def __init__(self):
        self.asked = 0

    def attach(self, kernel):
        self.base = kernel.reserve_device_memory(1)

    def mmap_capabilities(self, file):
        self.asked += 1
        return NOMMU_MAP_DIRECT | NOMMU_MAP_READ

    def get_unmapped_area(self, file, addr, length, pgoff, flags):
        return self.base

    def mmap(self, file, vma):
        return 0


def test_devices_view_never_calls_mmap_capabilities():
    """Views only observe: validate_mmap_request calls f_op->mmap_capabilities once per
    mmap, and the devices table, redrawn after every call, adds none. A SimpleDriver's
    word is read without a logged call (peek_mmap_capabilities); a learner's driver shows
    what it answered the kernel at the last mmap, or says it was not asked yet."""
    k = nl.boards.default()
    lab = Lab(k)
    simple = k.register_driver("/dev/simple", nl.SimpleDriver(
        "simple", capabilities=NOMMU_MAP_DIRECT | NOMMU_MAP_READ | NOMMU_MAP_WRITE))
    sensor = k.register_driver("/dev/sensor", _CountingSensor())
    dev = DevicesView(k)
    for _ in range(3):
        dev.refresh()
        k.notify()  # the lab redraws every view, its own devices table included
        lab.describe()
    text = dev.describe()
    assert "/dev/simple" in text and "DIRECT|READ|WRITE (simple's mmap_capabilities)" in text
    assert "sensor's own mmap_capabilities, asked when a file is mapped; not asked yet" in text
    assert simple.calls == [] and sensor.asked == 0
    p = k.spawn()
    p.mmap(0, PS, PROT_READ, MAP_SHARED, p.open("/dev/sensor", O_RDONLY), 0)
    p.mmap(0, PS, PROT_READ, MAP_SHARED, p.open("/dev/simple", O_RDONLY), 0)
    dev.refresh()
    assert sensor.asked == 1 and simple.calls.count("mmap_capabilities") == 1  # the kernel's
    assert "/dev/sensor" in dev.describe()
    assert "DIRECT|READ (sensor's mmap_capabilities, as answered at the last mmap)" in dev.describe()
    assert "page cache" not in dev.describe()  # a driver's own memory is not /dev's page cache
    assert "/dev/sensor driver memory: RAM set aside for the driver; direct: R" in dev.describe()


def test_event_log_newest_first_and_selecting_highlights_touched_frames():
    k = nl.boards.default()
    sel = Selection()
    log = EventLog(k, sel)
    p = k.spawn("app")
    p.mmap(0, 3 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    evs = log.events()
    assert [e.seq for e in evs] == sorted((e.seq for e in evs), reverse=True)
    assert log.table.options[1][0].startswith(f" #{evs[0].seq}")
    alloc = next(e for e in evs if e.rule == "do_mmap_private.alloc")
    log.table.value = alloc.seq
    assert sel.ranges == [(264, 3)]
    assert sel.label == f"event #{alloc.seq} do_mmap_private.alloc"
    text = log.describe()
    assert "do_mmap_private.alloc: 3 pages wanted" in text


def test_refused_call_is_marked_in_the_log():
    k = nl.boards.default()
    log = EventLog(k)
    p = k.spawn("app")
    with pytest.raises(nl.KernelError):
        p.mmap(0, PS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    first = log.table.options[1][0]
    assert first.startswith("!") and "validate_mmap_request.map_fixed" in first


def test_touched_frames_reads_both_forms():
    k = nl.boards.default()
    assert touched_frames(k, {"frames": (264, 3)}) == [(264, 3)]
    assert touched_frames(k, {"pfns": (2047, 2046, 2045)}) == [(2047, 1), (2046, 1), (2045, 1)]
    assert touched_frames(k, {"pfns": (2047, 2046)}) == [(2047, 1), (2046, 1)]  # no guessing
    assert touched_frames(k, {}) == []


# ---------------------------------------------------------------- controls
def test_controls_spawn_mmap_munmap_call_the_kernel(lab: Lab):
    c = lab.controls
    c.b_spawn.click()
    assert list(lab.kernel.processes) == [1] and c.pid == 1
    c.length.value = "3 pages"
    c.b_mmap.click()
    assert c.last_ok, c.last_message
    assert c.last_message == ("pid 1: mmap(0, 0x3000, PROT_READ|PROT_WRITE, "
                              "MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x80108000")
    assert [(v.start, v.end) for v in lab.kernel.process(1).vmas()] == [(0x80108000, 0x8010B000)]
    assert {state_of_index(i) for i in decoded_frames(lab.ram)[264:267]} == {PageState.ANON}
    assert lab.regions.rows()[0].startswith("80108000-8010b000 rw-p")
    c.vma.value = 0
    c.b_munmap.click()
    assert c.last_ok and lab.kernel.process(1).vmas() == []
    assert {state_of_index(i) for i in decoded_frames(lab.ram)[264:268]} <= {PageState.FREE,
                                                                             PageState.TRIMMED}


def test_controls_file_mapping_opens_maps_and_closes(lab: Lab):
    c = lab.controls
    c.b_spawn.click()
    c.file.value = "/rom/bin/hello"
    c.prot_w.value, c.prot_x.value = False, True
    c.length.value = "4096"
    c.b_mmap.click()
    assert c.last_ok, c.last_message
    p = lab.kernel.process(1)
    assert [v.path for v in p.vmas()] == ["/rom/bin/hello"]
    assert sorted(p.fds) == [0, 1, 2]  # the form closed the fd it opened
    assert [call.name for call in lab.session.calls] == ["spawn", "open", "mmap", "close"]


def test_refused_call_shows_the_sentence_not_a_traceback(lab: Lab):
    c = lab.controls
    c.b_spawn.click()
    c.fixed.value = True
    before = lab.kernel.state_digest()
    c.b_mmap.click()
    assert not c.last_ok
    assert c.last_message.startswith(
        "Refused: pid 1: mmap(0, 0x3000, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS, "
        "-1, 0) = -1 EINVAL (validate_mmap_request.map_fixed): MAP_FIXED")
    assert "Traceback" not in c.status.value and "nl-error" in c.status.value
    assert lab.kernel.state_digest() == before


def test_shared_mapping_of_a_copy_only_file_is_refused_with_enodev(lab: Lab):
    c = lab.controls
    c.b_spawn.click()
    c.file.value = "/mnt/disk/bin/hello"
    c.map_type.value = MAP_SHARED
    c.prot_w.value = False
    c.b_mmap.click()
    assert not c.last_ok and c.last_message.startswith("Refused: ENODEV")
    assert sorted(lab.kernel.process(1).fds) == [0, 1, 2]  # the fd is closed even so


@pytest.mark.parametrize("text", ["abc", "", "0x", "12Q", "3*", "1e3", "- ", "--5"])
def test_invalid_form_input_shows_a_message(lab: Lab, text: str):
    c = lab.controls
    c.b_spawn.click()
    n_calls = len(lab.session.calls)
    c.length.value = text
    c.b_mmap.click()
    assert not c.last_ok
    assert c.last_message.startswith("length:"), c.last_message
    assert len(lab.session.calls) == n_calls  # nothing reached the kernel


def test_buttons_without_a_process_ask_for_one(lab: Lab):
    c = lab.controls
    for b in (c.b_mmap, c.b_vfork, c.b_exec, c.b_exit, c.b_munmap, c.b_mremap):
        b.click()
        assert c.last_message == "pick a process first (or spawn one)"


def test_rapid_repeated_clicks_never_raise(lab: Lab):
    c = lab.controls
    for _ in range(5):
        c.b_spawn.click()
    c.length.value = "1M"
    for _ in range(12):  # runs out of memory eventually: refusals, not exceptions
        c.b_mmap.click()
    for _ in range(20):
        c.b_munmap.click()
        c.b_mremap.click()
        c.b_vfork.click()
        c.b_exec.click()
        c.b_exit.click()
    for _ in range(10):
        lab.timetravel.b_back.click()
        lab.timetravel.b_forward.click()
    lab.kernel.check()
    assert lab.session.position == len(lab.session.calls)


def test_vma_view_follows_the_process_picked_in_the_controls(lab: Lab):
    c = lab.controls
    c.b_spawn.click()
    c.b_spawn.click()
    assert c.pid == 2 and lab.vmas.pid.value == 2
    c.proc.value = 1
    assert lab.vmas.pid.value == 1


def test_vfork_exec_exit_and_the_suspended_parent(lab: Lab):
    c = lab.controls
    c.b_spawn.click()
    c.b_vfork.click()
    assert c.pid == 2 and "waits" in c.last_message
    c.proc.value = 1
    c.b_mmap.click()
    assert not c.last_ok and "vfork.parent_suspended" in c.last_message
    c.proc.value = 2
    c.exec_path.value = "/rom/bin/hello"
    c.b_exec.click()
    assert c.last_ok, c.last_message
    assert lab.kernel.process(2).vmas()  # the loader mapped text, data, stack
    c.b_exit.click()
    assert 2 not in lab.kernel.processes
    assert c.pid == 1


def test_mremap_shrinks_in_place(lab: Lab):
    c = lab.controls
    c.b_spawn.click()
    c.length.value = "4 pages"
    c.b_mmap.click()
    c.vma.value = 0
    c.new_length.value = "2 pages"
    c.b_mremap.click()
    assert c.last_ok, c.last_message
    v = lab.kernel.process(1).vmas()[0]
    assert v.length == 2 * PS


def test_trim_slider_sets_the_sysctl(lab: Lab):
    c = lab.controls
    c.trim.value = 0
    assert lab.kernel.sysctl("vm.nr_trim_pages") == 0
    assert lab.session.calls[-1].name == "sysctl"
    c.b_spawn.click()
    c.length.value = "5 pages"
    c.b_mmap.click()
    f = decoded_frames(lab.ram)
    assert [state_of_index(i) for i in f[264:272]] == [PageState.ANON] * 5 + [PageState.SLACK] * 3


def test_flash_program_and_complete(lab: Lab):
    if not hasattr(lab.kernel, "mtd_program"):
        pytest.skip("the kernel model has no flash operations yet")
    c = lab.controls
    assert not c.b_program.disabled
    c.flash_offset.value = "0x80000"
    c.flash_data.value = "hex:00ff"
    c.b_program.click()
    assert c.last_ok, c.last_message
    assert lab.kernel.flash.mode.value == "program"
    c.b_program.click()  # the chip is busy: a refusal, shown as a sentence
    assert not c.last_ok and "EBUSY" in c.last_message
    c.b_complete.click()
    assert lab.kernel.flash.mode.value == "read-array"
    c.flash_data.value = "hex:zz"
    c.b_program.click()
    assert c.last_message.startswith("data:")


def test_flash_guard_refuses_while_xip_mapped(lab: Lab):
    if not hasattr(lab.kernel, "mtd_program"):
        pytest.skip("the kernel model has no flash operations yet")
    c = lab.controls
    c.b_spawn.click()
    c.file.value = "/rom/bin/hello"
    c.prot_w.value = False
    c.length.value = "4096"
    c.b_mmap.click()
    c.flash_guard.value = True
    c.b_erase.click()
    assert not c.last_ok and "EBUSY" in c.last_message
    c.flash_guard.value = False
    c.b_erase.click()
    assert c.last_ok
    assert any(e.rule == "flash_status_hazard" for e in lab.events.events())


def test_parse_size_forms():
    assert parse_size("4096", "x") == 4096
    assert parse_size("0x1000", "x") == 4096
    assert parse_size("12K", "x") == 12288
    assert parse_size("3 pages", "x") == 3 * PS
    assert parse_size("3*4096", "x") == 3 * PS
    assert parse_size("1M", "x") == 1 << 20
    with pytest.raises(ValueError, match="length: 'x' is not a number"):
        parse_size("x", "length")


# ------------------------------------------------------------- time travel
def test_back_and_forward_rebuild_the_same_machine(lab: Lab):
    c = lab.controls
    c.b_spawn.click()
    c.b_mmap.click()
    after = lab.kernel.state_digest()
    png_after = lab.ram.png
    lab.timetravel.b_back.click()
    assert lab.session.position == 1
    assert lab.kernel.process(1).vmas() == []
    assert {state_of_index(i) for i in decoded_frames(lab.ram)[264:268]} == {PageState.FREE}
    assert lab.regions.rows() == []
    lab.timetravel.b_forward.click()
    assert lab.kernel.state_digest() == after
    assert lab.ram.png == png_after
    assert "call 2 of 2" in lab.timetravel.position.value


def test_a_new_call_after_stepping_back_drops_the_future(lab: Lab):
    c = lab.controls
    c.b_spawn.click()
    c.b_mmap.click()
    c.b_mmap.click()
    lab.back()
    lab.back()
    c.length.value = "1 page"
    c.b_mmap.click()
    assert [x.name for x in lab.session.calls] == ["spawn", "mmap"]
    assert not lab.session.can_forward


def test_views_follow_the_rebuilt_kernel(lab: Lab):
    c = lab.controls
    c.b_spawn.click()
    old = lab.kernel
    lab.back()
    assert lab.kernel is not old
    for v in lab.views:
        assert v.kernel is lab.kernel
    assert lab.kernel._listeners and not [f for f in old._listeners
                                          if getattr(f, "__self__", None) in lab.views]


def test_recording_replays_in_another_lab(lab: Lab):
    c = lab.controls
    c.b_spawn.click()
    c.b_mmap.click()
    c.file.value = "/rom/bin/hello"
    c.prot_w.value = False
    c.b_mmap.click()
    lab.timetravel.b_show.click()
    text = lab.timetravel.text.value
    other = Lab(nl.boards.default())
    other.timetravel.text.value = text
    other.timetravel.b_replay.click()
    assert other.session.position == len(lab.session.calls) == 5
    assert other.kernel.state_digest() == lab.kernel.state_digest()
    assert other.ram.png == lab.ram.png
    assert other.regions.rows() == lab.regions.rows()


def test_replay_of_garbage_shows_a_message(lab: Lab):
    lab.timetravel.text.value = "{not json"
    lab.timetravel.b_replay.click()
    assert "not JSON" in lab.timetravel.message.value
    lab.timetravel.text.value = '{"format": "something else"}'
    lab.timetravel.b_replay.click()
    assert "not a nommu-lab session recording" in lab.timetravel.message.value
    lab.timetravel.text.value = ""
    lab.timetravel.b_replay.click()
    assert "paste a recording" in lab.timetravel.message.value


# --------------------------------------------------------------------- lab
def test_lab_text_form_is_deterministic():
    def build() -> str:
        lab = Lab(nl.boards.default())
        lab.call(None, "spawn", "app")
        lab.call(1, "mmap", 0, 3 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        return lab.describe()

    a, b = build(), build()
    assert a == b
    assert "Regions (1)" in a and "session: call 2 of 2" in a
    assert "80108000-8010b000 rw-p 00000000     1 copy       0 [anon]" in a


def test_lab_repr_and_presenter_layout():
    k = nl.boards.default()
    lab = Lab(k, presenter=True)
    assert repr(lab) == "<nommu-lab presenter: 8 MiB RAM, 0 process(es), 0 region(s), call 0 of 0>"
    assert "nl-presenter" in lab._dom_classes
    bundle = lab._repr_mimebundle_()
    assert bundle["text/plain"].startswith("<nommu-lab presenter")


def test_nl_lab_is_the_widget_lab():
    assert nl.Lab is Lab


def test_lab_calls_are_redrawn_once_per_call():
    lab = Lab(nl.boards.default())
    lab.call(None, "spawn", "app")
    n = lab.ram.redraws
    lab.call(1, "mmap", 0, PS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)
    assert lab.ram.redraws == n + 1


def test_closing_a_view_stops_it_watching():
    k = nl.boards.default()
    ram = RamMap(k)
    ram.close()
    p = k.spawn("app")
    p.mmap(0, PS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)  # must not touch a closed widget
    assert ram._on_kernel not in k._listeners


def test_vma_view_without_processes():
    k = nl.boards.default()
    v = VmaView(k)
    assert v.describe() == "no processes"
    assert v.pid.value == NONE


def test_lab_also_watches_the_mmu_kernel():
    lab = Lab(nl.boards.default(mmu=True))
    c = lab.controls
    c.b_spawn.click()
    c.b_mmap.click()
    assert c.last_ok, c.last_message
    rows = lab.vmas.rows(1)
    assert len(rows) == 1 and " -      [anon]" in rows[0]  # MMU VMAs belong to no region
    lab.vmas.table.value = 0
    assert "region -" in lab.selection.label
    lab.back()
    assert lab.vmas.rows(1) == []


def test_refused_kernel_level_calls_appear_in_the_event_log():
    k = nl.boards.default()
    log = EventLog(k)
    k.mtd_program(0x80000, b"\x00")
    with pytest.raises(nl.KernelError):
        k.mtd_program(0x80000, b"\x00")
    assert "mtd.chip_busy" in log.table.options[1][0]


def test_timeline_slider_jumps_to_a_call(lab: Lab):
    c = lab.controls
    c.b_spawn.click()
    c.b_mmap.click()
    c.b_mmap.click()
    tt = lab.timetravel
    assert (tt.timeline.max, tt.timeline.value) == (3, 3)
    tt.timeline.value = 1
    assert lab.session.position == 1 and lab.kernel.process(1).vmas() == []
    assert "call 1 of 3" in tt.position.value
    tt.timeline.value = 3
    assert len(lab.kernel.process(1).vmas()) == 2


def test_selecting_an_event_of_a_region_that_is_gone_says_so(lab: Lab):
    c = lab.controls
    c.b_spawn.click()
    c.b_mmap.click()
    c.vma.value = 0
    c.b_munmap.click()
    ev = next(e for e in lab.events.events() if e.rule == "do_mmap.new_region")
    lab.events.table.value = ev.seq
    assert lab.selection.ranges == []
    assert "no longer exists" in lab.selection.note


def test_stepping_back_over_unrecorded_code_calls_warns(lab: Lab):
    lab.controls.b_spawn.click()
    lab.kernel.process(1).mmap(0, PS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)  # in code
    lab.timetravel.b_back.click()
    assert "were not recorded" in lab.timetravel.message.value
    lab.timetravel.b_forward.click()
    lab.timetravel.b_back.click()
    assert lab.timetravel.message.value == ""
