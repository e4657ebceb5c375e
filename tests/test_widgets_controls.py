"""The lab's controls, deck bar, last-call panel and layout, driven headless (no browser).

Every call a lesson needs is made by clicking, lands in the session recording
with its parameters, and replays to the same machine; every outcome is worded
with named flags; numbers of any sign reach the kernel; a cleared selection
leaves nothing looking selected; exam mode hides what would answer the
questions; a deck steps question -> call -> answer and back.
"""

from __future__ import annotations

import pytest

import nommu_lab as nl
from nommu_lab.constants import *
from nommu_lab.session import Recording
from nommu_lab.widgets import Lab

PS = 4096
ANON_TEXT = "MAP_PRIVATE|MAP_ANONYMOUS"


@pytest.fixture
def lab() -> Lab:
    return Lab(nl.boards.default(), board="nommu_lab.boards:default")


def names(lab: Lab) -> list[str]:
    return [c.name for c in lab.session.calls]


def test_every_lesson_call_is_made_from_the_controls_and_recorded(lab: Lab):
    c = lab.controls
    c.b_spawn.click()
    c.b_exec.click()  # /rom/bin/hello, executing in place
    c.instructions.value = "4"
    c.b_run.click()
    assert c.last_message == "pid 1: run(4) = 4"
    c.b_spawn.click()  # pid 2 acts from now on
    c.path.value = "/demo"
    c.b_shm_open.click()
    c.file_size.value = "2 pages"
    c.b_ftruncate.click()
    c.file_data.value = "hello"
    c.b_write.click()
    assert c.file.value == "fd:3"  # the descriptor just opened is ready to map
    c.map_type.value = MAP_SHARED
    c.length.value = "2 pages"
    c.b_mmap.click()
    shm = lab.kernel.process(2).vmas()[0].start
    c.mem_addr.value = hex(shm + 16)
    c.mem_data.value = "poked"
    c.b_poke.click()
    c.mem_count.value = "5"
    c.b_peek.click()
    assert c.last_message == f"pid 2: peek({shm + 16:#x}, 5) = b'poked'"
    c.futex_op.value = FUTEX_WAKE
    c.futex_val.value = "1"
    c.b_futex.click()
    assert c.last_message == f"pid 2: futex({shm + 16:#x}, FUTEX_WAKE, 1) = 0"
    c.target.value = 1
    c.b_attach.click()
    c.mem_addr.value = "0x20000120"
    c.b_ppeek.click()
    assert c.last_ok, c.last_message
    c.map_type.value = MAP_PRIVATE
    c.file.value = "(anonymous)"
    c.length.value = "3 pages"
    c.b_mmap.click()
    c.new_length.value = "1 page"
    c.b_mremap.click()  # without MREMAP_MAYMOVE
    c.new_length.value = "3 pages"
    c.maymove.value = True
    c.b_mremap.click()  # with it
    c.drv_caps["COPY"].value = True
    c.drv_pages.value = "2"
    c.b_register.click()
    c.b_program.click()
    c.b_complete.click()
    assert names(lab) == ["spawn", "execve", "run", "spawn", "shm_open", "ftruncate", "write",
                          "mmap", "poke", "peek", "futex", "ptrace_attach", "ptrace_peek", "mmap",
                          "mremap", "mremap", "register_driver", "mtd_program", "mtd_complete"]
    mremaps = [call for call in lab.session.calls if call.name == "mremap"]
    assert [call.args[3] for call in mremaps] == [0, MREMAP_MAYMOVE]
    drv = next(call for call in lab.session.calls if call.name == "register_driver").args[1]
    assert (drv.name, drv.capabilities, drv.memory_pages, drv.unmapped_area) == (
        "mydev", NOMMU_MAP_COPY | NOMMU_MAP_DIRECT | NOMMU_MAP_READ | NOMMU_MAP_WRITE, 2, "address")
    # the recording holds all of it and rebuilds the same machine
    rec = Recording.from_json(lab.session.to_json())
    assert rec.calls == lab.session.calls
    assert rec.replay().state_digest() == lab.kernel.state_digest()


def test_the_run_button_shows_the_flash_crash(lab: Lab):
    c = lab.controls
    c.b_spawn.click()
    c.b_exec.click()
    c.flash_data.value = "hex:00"
    c.b_program.click()
    assert "flash mode is now program" in c.last_message
    c.b_run.click()
    assert not c.last_ok
    assert c.last_message == "pid 1: run(8) = 0 (process 1 died: see the event log)"
    assert any(e.rule == "cpu.illegal_instruction" for e in lab.events.events())
    assert 1 not in lab.kernel.processes
    # the call returned, but into a crash: the last-call panel says it in red
    assert "nl-lastcall-head nl-error" in lab.lastcall.html.value
    assert "cpu.illegal_instruction" in lab.lastcall.describe()


@pytest.mark.parametrize("text, value", [("-4096", -4096), ("-5 pages", -5 * PS),
                                         ("0xffffffffffffffff", (1 << 64) - 1),
                                         ("-0x1000", -4096), ("+3p", 3 * PS)])
def test_negative_and_huge_numbers_are_numbers_the_kernel_answers(lab: Lab, text: str, value: int):
    c = lab.controls
    c.b_spawn.click()
    c.length.value = text
    before = lab.kernel.state_digest()
    c.b_mmap.click()
    call = lab.session.calls[-1]
    assert call.name == "mmap" and call.args[1] == value  # it reached the kernel as typed
    if value > 0 and value < 1 << 20:
        assert c.last_ok
    else:
        assert not c.last_ok and "not a number" not in c.last_message
        assert "= -1 ENOMEM (validate_mmap_request.length_too_big)" in c.last_message
        assert lab.kernel.state_digest() == before


def test_a_number_too_big_for_any_register_is_the_abis_refusal(lab: Lab):
    c = lab.controls
    c.b_spawn.click()
    c.length.value = "9" * 30
    c.b_mmap.click()
    assert not c.last_ok and "does not fit in a 64-bit register" in c.last_message
    assert "not a number" not in c.last_message


def test_partial_munmap_and_its_slack(lab: Lab):
    """The unmap form starts from the picked mapping; editing it unmaps a tail."""
    c = lab.controls
    lab.call(None, "sysctl", "vm.nr_trim_pages", 0)
    c.b_spawn.click()
    c.length.value = "5 pages"
    c.b_mmap.click()
    a = lab.kernel.process(1).vmas()[0].start
    assert (c.unmap_addr.value, c.unmap_length.value) == (hex(a), "0x5000")
    free = lab.kernel.meminfo()["MemFree"]
    c.unmap_addr.value = hex(a + 3 * PS)
    c.unmap_length.value = "2 pages"
    c.b_munmap.click()
    assert c.last_message == f"pid 1: munmap({a + 3 * PS:#x}, 0x2000) = 0"
    assert lab.kernel.meminfo()["MemFree"] - free == 5 * 4  # 2 pages and the 3 slack pages


def test_every_call_is_worded_with_named_flags_everywhere(lab: Lab):
    lab.call(None, "spawn", "app")
    lab.call(1, "mmap", 0, 3 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    worded = f"mmap(0, 0x3000, PROT_READ|PROT_WRITE, {ANON_TEXT}, -1, 0)"
    assert worded in lab.timetravel.history.value
    assert any(worded in lab.events.row(e) for e in lab.events.events())
    assert lab.lastcall.describe().startswith(f"call 2 of 2: pid 1: {worded} = 0x80108000")
    assert "do_mmap_private.alloc" in lab.lastcall.describe()


def test_the_last_call_panel_follows_time_travel(lab: Lab):
    lab.call(None, "spawn", "app")
    with pytest.raises(nl.KernelError):
        lab.call(1, "mmap", 0, PS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    assert lab.lastcall.describe().startswith("call 2 of 2: pid 1: mmap(") and \
        "= -1 EINVAL (validate_mmap_request.map_fixed): MAP_FIXED" in lab.lastcall.describe()
    lab.timetravel.b_back.click()
    assert lab.lastcall.describe().startswith("call 1 of 2: kernel: spawn('app') = pid 1")
    lab.timetravel.b_back.click()
    assert lab.lastcall.describe().startswith("No call yet")


def test_going_back_leaves_nothing_looking_selected(lab: Lab):
    lab.call(None, "spawn", "app")
    lab.call(1, "mmap", 0, 3 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    lab.call(1, "mmap", 0, PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    rid = lab.kernel.regions()[0].id
    lab.regions.select_region(rid)
    assert lab.ram.info.value.startswith("<b>Selected:</b> region R")
    lab.timetravel.b_back.click()
    assert lab.selection.label == "" and lab.selection.ranges == []
    assert "Selected" not in lab.ram.info.value
    assert lab.regions.table.value == -1  # the row is not left highlighted either


def test_exam_mode_hides_the_event_log_and_the_last_call():
    k = nl.boards.default()
    k.exam = True  # what nl.boards.default(exam=True) sets
    lab = Lab(k)
    assert lab.exam
    assert lab.events.layout.display == "none" and lab.lastcall.layout.display == "none"
    lab.call(None, "spawn", "app")
    text = lab.describe()
    assert "Events (newest first" not in text and "call 1 of 1" not in text.split("session:")[0]
    lab.back()  # the rebuilt machine is still an exam machine
    assert lab.exam and lab.events.layout.display == "none"
    plain = Lab(nl.boards.default())
    assert not plain.exam and plain.events.layout.display is None
    assert "Events (newest first" in plain.describe()


def test_a_deck_stops_on_the_question_before_its_call_then_reveals(lab: Lab):
    d = lab.decks
    d.chooser.value = "01-anonymous"
    assert lab.session.position == 0 and len(lab.session.calls) == 10
    assert d.card_text()[0].startswith("1. Anonymous mappings")
    assert d.b_back.disabled and not d.b_next.disabled
    d.b_next.click()  # step 1 has no question: spawn is made
    assert lab.session.position == 1 and list(lab.kernel.processes) == [1]
    d.b_next.click()  # step 2's question: its mmap is not made yet
    head, body, extra = d.card_text()
    assert head == "Step 2 of 10 · predict" and "How many frames" in body
    assert extra.startswith("next call: pid 1: mmap(0, 0x3000, PROT_READ|PROT_WRITE")
    assert lab.session.position == 1 and lab.kernel.process(1).vmas() == []
    assert "Answer" not in d.card.value
    d.b_next.click()  # the call and the answer
    head, body, extra = d.card_text()
    assert lab.session.position == 2 and len(lab.kernel.process(1).vmas()) == 1
    assert head.endswith("= 0x80108000") and extra.startswith("Answer: 3.")
    assert "do_mmap_private.alloc" in lab.lastcall.describe()
    d.b_back.click()
    assert d.card_text()[0] == "Step 2 of 10 · predict" and lab.session.position == 1
    assert lab.kernel.process(1).vmas() == []
    while not d.b_next.disabled:
        d.b_next.click()
    assert lab.session.position == 10 and "ENOMEM" in d.card_text()[0]
    while not d.b_back.disabled:
        d.b_back.click()
    assert lab.session.position == 0 and lab.kernel.processes == {}


def test_choosing_a_deck_starts_its_own_board_and_offers_its_comparison(lab: Lab):
    lab.call(None, "spawn", "before")
    d = lab.decks
    d.choose("05-flash")
    assert lab.kernel.processes == {} and lab.session.calls[0].args == ("xip",)
    assert d.compare_pick.value == "flash"
    d.b_compare.click()
    assert d.compare_shown == "flash" and len(d.compare_box.children) == 1
    shown = d.compare_box.children[0]
    assert "MMU" in shown.children[0].value  # the side-by-side table
    d.b_close_compare.click()
    assert d.compare_box.children == () and d.compare_shown is None


def test_the_comparison_is_reachable_from_the_learners_lab_without_a_deck(lab: Lab):
    d = lab.decks
    assert lab.children[-1] is d  # at the foot of the learner's layout
    d.compare_pick.value = "1"
    d.b_compare.click()
    assert d.compare_shown == "1" and "MAP_PRIVATE" in d.compare_box.children[0].children[0].value


def test_presenter_layout_puts_the_deck_bar_first_and_the_big_views_next():
    lab = Lab(nl.boards.default(), presenter=True)
    assert "nl-presenter" in lab._dom_classes
    assert lab.children[1] is lab.decks
    cols = lab.children[2]
    left, right = cols.children
    assert left.children[0] is lab.ram and right.children[0] is lab.lastcall
    assert lab.controls in right.children


def test_the_run_button_and_every_tab_exist_in_presenter_mode():
    lab = Lab(nl.boards.default(), presenter=True)
    c = lab.controls
    assert len(c.tabs.children) == 6
    titles = [c.tabs.get_title(i) for i in range(6)]
    assert titles == ["process", "mmap", "unmap", "files", "memory", "devices"]
    assert "nl-run" in c.b_run._dom_classes
