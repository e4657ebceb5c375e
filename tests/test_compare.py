"""nl.compare and the ready-made cases: each contrast of the document, on both kernels.

For each of the document's eight cases, and for fork, MAP_FIXED, mremap and
the cost of zeroing, the test runs the case's program on the no-MMU default
board and on the same board with an MMU, and asserts that the outcomes
differ exactly as nommu-mmap.txt says, or, where the document and
mm/nommu.c disagree, as the code says (docs/linux-vs-document.md).
"""

from __future__ import annotations

import pytest

import nommu_lab as nl
from nommu_lab import cases
from nommu_lab.compare import CompareResult, Failed, Outcome
from nommu_lab.constants import *

PS = 4096


@pytest.fixture(scope="module")
def results() -> dict[str, CompareResult]:
    return {c.key: nl.compare(c) for c in cases.ALL}


def both(r: CompareResult, n: int) -> tuple[Outcome, Outcome]:
    row = r.row(n)
    return row.nommu, row.mmu


def is_nommu_addr(v: int) -> bool:
    return 0x8000_0000 <= v < 0x8080_0000 or 0x2000_0000 <= v < 0x2010_0000


def is_mmu_addr(v: int) -> bool:
    return 0x1000 <= v < (1 << 38)


# ---------------------------------------------------------------------------
# case 1: anonymous MAP_PRIVATE
# ---------------------------------------------------------------------------
def test_case1_nommu_takes_a_contiguous_run_at_mmap_mmu_takes_frames_on_write(results):
    """Doc case 1: no-MMU 'contiguous runs of pages'; MMU 'arbitrary pages, copy-on-write'."""
    r = results["1"]
    a, b = both(r, 1)
    assert a.ok and b.ok
    assert a.frames == 4 and b.frames == 0  # 4 pages at mmap vs nothing until touched
    assert is_nommu_addr(a.value) and a.value % (4 * PS) == 0  # order-2 block, block aligned
    assert b.value == nl.mmu.MMAP_BASE - 4 * PS  # top-down below mmap_base
    assert [both(r, n)[1].frames for n in (2, 3)] == [1, 1]  # a frame per first store
    assert [both(r, n)[0].frames for n in (2, 3)] == [0, 0]


def test_case1_copy_on_write_across_fork(results):
    """Doc case 1, MMU: copy-on-write across fork; no-MMU has no fork (ENOSYS on RISC-V)."""
    r = results["1"]
    fork_n, fork_m = both(r, 4)
    assert fork_n.errno == "ENOSYS" and fork_n.rule == "fork.no_syscall"
    assert fork_m.ok and fork_m.frames == 0  # fork copies no data
    child_n, child_m = both(r, 5)
    assert child_n.skipped and child_m.ok and child_m.frames == 1  # the writer gets one frame
    assert "do_wp_page.copy" in [e.rule for e in child_m.events]
    assert both(r, 6)[0].value == both(r, 6)[1].value == b"parent"
    assert both(r, 7)[1].value == b"child!"
    assert r.mmu.frames == 3 and r.nommu.frames == 4
    # no-MMU: one contiguous run; MMU: frames page by page, the unwritten page still shared
    assert r.nommu.frames_of["p"] == [f"{both(r, 1)[0].value:08x}-{both(r, 1)[0].value + 4 * PS:08x}"
                                      " frames 264-267 (copy, contiguous)"]
    assert r.mmu.frames_of["p"][0].endswith(" frames 264 - 265 -")
    assert r.mmu.frames_of["c4"][0].endswith(" frames 266 - 265 -")


# ---------------------------------------------------------------------------
# case 2: anonymous MAP_SHARED
# ---------------------------------------------------------------------------
def test_case2_shared_across_fork_only_with_an_mmu(results):
    """Doc case 2: MMU shares across fork; no-MMU: identical to MAP_PRIVATE."""
    r = results["2"]
    assert both(r, 3)[0].errno == "ENOSYS" and both(r, 3)[1].ok
    assert both(r, 5)[0].value == b"hello"
    assert both(r, 5)[1].value == b"HOWDY"  # the child's store is seen by the parent
    mmu_maps = r.mmu.maps["p"]
    assert " rw-s 00000000 00:01 " in mmu_maps and mmu_maps.rstrip().endswith("/dev/zero (deleted)")
    assert r.mmu.maps["c3"] == mmu_maps  # same object mapped in the child
    assert " rw-p " in r.nommu.maps["p"] and "/dev/zero" not in r.nommu.maps["p"]


# ---------------------------------------------------------------------------
# case 3: file MAP_PRIVATE read-only
# ---------------------------------------------------------------------------
def test_case3_file_changes_reach_the_mmu_mapping_not_the_nommu_copy(results):
    """Doc case 3: MMU 'changes to the underlying file are reflected'; no-MMU 'writes to
    the file do not affect the mapping' (a write()-filled ramfs file is copied)."""
    r = results["3"]
    a, b = both(r, 3)
    assert a.frames == 3 and b.frames == 0  # a copy (3 pages, trimmed) vs demand paging
    assert any(e.rule == "do_mmap.get_unmapped_area_enosys_copy" for e in a.events)
    assert both(r, 4)[0].value == both(r, 4)[1].value == b"version 1"
    assert both(r, 6)[0].value == b"version 1" and both(r, 6)[1].value == b"VERSION 2"


def test_case3_another_process_reuses_the_stale_copy_mmu_maps_the_page_cache(results):
    """Doc case 3, no-MMU: an existing mapping of the same range is re-used, 'even if this
    was created by another process'. The second mapping is made by a second process: one
    process mapping the range twice would run into Linux 6.12's duplicate-VMA bug."""
    r = results["3"]
    assert r.row(7).call == "k.spawn('reader')" and r.row(9).call.startswith("c7.mmap(")
    a, b = both(r, 9)
    assert a.value == both(r, 3)[0].value and a.frames == 0  # same region, same address
    assert any(e.rule == "do_mmap.share_region" for e in a.events)
    assert b.ok and b.frames == 0  # the MMU maps the page cache, on demand
    assert both(r, 10)[0].value == b"version 1"  # ... and the copy is stale
    assert both(r, 10)[1].value == b"VERSION 2"
    assert r.kernel_bugs() == []  # no known kernel bug on this program's path any more


def test_case3_store_through_a_read_only_mapping_is_seen_by_the_other_process(results):
    """Doc case 3: 'writes to the mapping are visible in other processes (no MMU
    protection), but should not happen'; with an MMU the store faults (SIGSEGV)."""
    r = results["3"]
    a, b = both(r, 11)
    assert a.ok and any(e.rule == "nommu.no_protection.readonly" for e in a.events)
    assert b.errno == "EFAULT" and b.rule == "do_page_fault.access_error"
    assert both(r, 12)[0].value == b"oopsion 1" and both(r, 12)[1].value == b"VERSION 2"


def test_case3_xip_from_flash_is_unaligned_without_mmu(results):
    """Doc note 1: a private file mapping may not be page aligned (XIP); with an MMU
    the same mapping is page aligned and goes through the page cache."""
    a, b = both(results["3"], 14)
    assert 0x2000_0000 <= a.value < 0x2010_0000 and a.value % PS == 0x60
    assert b.value % PS == 0 and is_mmu_addr(b.value)


# ---------------------------------------------------------------------------
# case 4: file MAP_PRIVATE writable
# ---------------------------------------------------------------------------
def test_case4_mmu_copies_a_page_at_its_first_write_nommu_copies_all_at_mmap(results):
    """Doc case 4: MMU copies the page before the write; no-MMU always takes a copy."""
    r = results["4"]
    assert both(r, 3)[0].frames == 2 and both(r, 3)[1].frames == 0
    poke_n, poke_m = both(r, 4)
    assert poke_n.frames == 0 and poke_m.frames == 1
    assert "do_cow_fault" in [e.rule for e in poke_m.events]
    assert both(r, 7)[0].value == both(r, 7)[1].value == b"mine"


def test_case4_written_page_stops_following_the_file_untouched_page_still_does(results):
    """Doc case 4, MMU: 'from that point on writes to the file underneath that page no
    longer get reflected'; the page never written still follows the file."""
    r = results["4"]
    assert both(r, 8)[1].value == b"FILE" and both(r, 8)[0].value == b"AAAA"
    assert both(r, 9)[0].value == both(r, 9)[1].value == b"file"  # the file kept its bytes
    a, b = both(r, 10)
    assert a.frames == 2 and a.value != both(r, 3)[0].value  # a new copy, never shared
    assert b.frames == 0


# ---------------------------------------------------------------------------
# case 5: regular file / block device MAP_SHARED
# ---------------------------------------------------------------------------
def test_case5_shared_disk_file_unsupported_without_mmu(results):
    """Doc case 5, no-MMU: not supported (ENODEV: only COPY is advertised)."""
    r = results["5"]
    a, b = both(r, 2)
    assert a.errno == "ENODEV" and a.rule == "validate_mmap_request.shared_needs_direct"
    assert b.ok and is_mmu_addr(b.value)
    assert both(r, 11)[0].errno == "ENODEV" and both(r, 11)[1].ok  # /dev/vda too


def test_case5_mmu_writes_back_and_reflects_file_writes_and_shares_across_fork(results):
    """Doc case 5, MMU: changes written back; writes to the file reflected; shared across fork."""
    r = results["5"]
    assert both(r, 4)[1].value == b"DISK files" and both(r, 4)[0].value == b"disk files"
    assert both(r, 6)[1].value == b"disk"  # pwrite reflected into the mapping
    assert both(r, 8)[1].ok and both(r, 9)[1].value == b"kid!"  # child's store reaches the file
    assert both(r, 13)[1].value == b"blk" and both(r, 13)[0].value == b"\0\0\0"


# ---------------------------------------------------------------------------
# case 6: memory-backed file MAP_SHARED
# ---------------------------------------------------------------------------
def test_case6_posix_shm_works_on_both_pages_gathered_at_truncate_without_mmu(results):
    """Doc case 6: ramfs honours open, truncate, mmap with contiguous pages (no-MMU);
    with an MMU truncate takes nothing and pages come on first touch."""
    r = results["6"]
    t_n, t_m = both(r, 2)
    assert t_n.frames == 3 and t_m.frames == 0
    m_n, m_m = both(r, 3)
    assert m_n.ok and m_m.ok and m_n.frames == m_m.frames == 0
    assert both(r, 4)[1].frames == 1
    assert both(r, 5)[0].value == both(r, 5)[1].value == b"shared"
    assert " rw-S " in r.nommu.maps["p"] and " rw-s " in r.mmu.maps["p"]


def test_case6_second_process_same_address_only_without_mmu(results):
    """No-MMU: every process maps the shm file at the one physical address; with an MMU the
    second process (which mapped something else first) sees the same frames elsewhere."""
    r = results["6"]
    first_n, first_m = both(r, 3)
    c_n, c_m = both(r, 13)
    assert c_n.value == first_n.value and c_m.value != first_m.value
    assert r.row(14).call == "c10.peek(#13, 6)"
    assert both(r, 14)[0].value == both(r, 14)[1].value == b"shared"
    assert c_m.frames == 0 and c_n.frames == 0


def test_case6_write_filled_file_denied_without_mmu(results):
    """Doc case 6: 'if the filesystem does not provide any such support, then the mapping
    request will be denied' (pages filled by write() are not contiguous)."""
    a, b = both(results["6"], 8)
    assert a.errno == "ENODEV" and a.rule == "do_mmap.get_unmapped_area_enosys"
    assert b.ok


# ---------------------------------------------------------------------------
# case 7: memory-backed block device MAP_SHARED
# ---------------------------------------------------------------------------
def test_case7_stock_ramdisk_cannot_be_shared_without_mmu(results):
    """Doc case 7 (and validate_mmap_request): brd declares no capabilities, so the
    block-device default COPY applies: MAP_SHARED ENODEV, MAP_PRIVATE a copy."""
    r = results["7"]
    a, b = both(r, 2)
    assert a.errno == "ENODEV" and b.ok
    assert both(r, 4)[1].value == b"ramdisk" and both(r, 4)[0].value == bytes(7)
    c, d = both(r, 5)
    assert c.frames == 2 and d.frames == 0
    assert both(r, 6)[1].value == b"ramdisk"


# ---------------------------------------------------------------------------
# case 8: memory-backed character device MAP_SHARED
# ---------------------------------------------------------------------------
def test_case8_framebuffer_shared_on_both_physical_vs_virtual_address(results):
    """Doc case 8: the driver gives direct access to device memory (no-MMU: the frame
    buffer's physical address; MMU: the same frames at a virtual address)."""
    r = results["8"]
    a, b = both(r, 2)
    fb = nl.boards.default().fb
    assert a.value == fb.screen_base and is_mmu_addr(b.value) and b.value != fb.screen_base
    assert a.frames == b.frames == 0
    assert both(r, 4)[0].value == both(r, 4)[1].value == b"\xff\x80"


def test_case8_private_fb_and_mtd_and_tty(results):
    """no-MMU: fbdev has no COPY (MAP_PRIVATE ENODEV) and mtdchar maps flash directly;
    MMU: a private fb map works (copy-on-write), mtdchar refuses every mmap; ttys never map."""
    r = results["8"]
    assert both(r, 5)[0].errno == "ENODEV" and both(r, 5)[1].ok
    a, b = both(r, 7)
    assert a.value == 0x2000_0000 and b.errno == "ENODEV" and b.rule == "mtdchar_mmap.mmu"
    assert both(r, 9)[0].errno == both(r, 9)[1].errno == "ENODEV"


# ---------------------------------------------------------------------------
# fork, MAP_FIXED, mremap, zeroing
# ---------------------------------------------------------------------------
def test_fork_copy_on_write_vs_no_fork_and_vfork_on_both(results):
    """fork: ENOSYS without an MMU (RISC-V); copy-on-write with one. vfork shares on both."""
    r = results["fork"]
    assert both(r, 4)[0].errno == "ENOSYS" and both(r, 4)[1].ok
    assert both(r, 5)[1].value == b"parent"
    assert both(r, 6)[1].frames == 1  # the child's store copies one frame
    assert both(r, 7)[0].value == both(r, 7)[1].value == b"parent"
    assert both(r, 8)[1].frames == -1  # the child's exit frees its copy
    assert both(r, 9)[0].ok and both(r, 9)[1].ok
    assert both(r, 12)[0].value == both(r, 12)[1].value == b"vfork!"


def test_clone_without_clone_vm_is_not_refused_and_shares_memory_without_mmu(results):
    """Intro: 'clone() must be supplied the CLONE_VM flag'; Linux 6.12 does not enforce it:
    the child has an empty mm yet stores into the parent's memory (its munmap is EINVAL).
    With an MMU clone(0) is a fork: the child's store is its own copy."""
    r = results["fork"]
    assert both(r, 13)[0].ok and both(r, 13)[1].ok
    assert "clone.no_vm" in [e.rule for e in both(r, 13)[0].events]
    assert both(r, 15)[0].value == b"clone!" and both(r, 15)[1].value == b"vfork!"
    a, b = both(r, 16)
    assert a.errno == "EINVAL" and a.rule == "do_munmap.not_mapped" and b.ok
    assert "the child gets an empty mm" in cases.FORK.code


def test_map_fixed_hint_and_munmap_of_nothing(results):
    """Doc note 6 says MAP_FIXED *or a particular address* is an error; the code refuses only
    MAP_FIXED and ignores a hint. With an MMU both are honoured; unmapping nothing is 0."""
    r = results["map_fixed"]
    a, b = both(r, 3)
    assert a.errno == "EINVAL" and a.rule == "validate_mmap_request.map_fixed"
    assert b.value == both(r, 1)[1].value + PS and b.frames == -1  # the old page went
    assert both(r, 4)[0].value == b"old" and both(r, 4)[1].value == b"\0\0\0"
    c, d = both(r, 5)
    assert c.ok and c.value != 0x1000_0000 and d.value == 0x1000_0000
    assert both(r, 6)[0].ok and both(r, 6)[1].ok  # a hole: both allow it
    e, f = both(r, 7)
    assert e.errno == "EINVAL" and e.rule == "do_munmap.not_mapped" and f.ok and f.value == 0


def test_mremap_moves_with_an_mmu_never_without(results):
    """mremap: the code never moves and never grows past the original length (the text says
    it may move, its footnote that moving is not supported); with an MMU it moves page-table
    entries (same data, no frames)."""
    assert '"Not currently supported."' in cases.MREMAP.nommu
    assert "never moves" in cases.MREMAP.code and "may move with" not in cases.MREMAP.nommu
    r = results["mremap"]
    a, b = both(r, 4)
    assert a.errno == b.errno == "ENOMEM"
    assert a.rule == "do_mremap.beyond_region" and b.rule == "mremap.no_room"
    c, d = both(r, 5)
    assert c.errno == "ENOMEM" and d.ok and d.value != both(r, 2)[1].value and d.frames == 0
    assert "move_vma" in [e.rule for e in d.events]
    assert both(r, 6)[1].value == b"keep me"
    assert both(r, 7)[0].ok and both(r, 7)[1].ok and both(r, 8)[0].ok and both(r, 8)[1].ok


def test_zeroing_cost_whole_mapping_at_mmap_vs_page_at_first_write(results):
    """Doc note 3: no-MMU clears the entire map at allocation; MMU maps the zero page and
    clears a frame only when a page is first written."""
    r = results["zeroing"]
    assert r.nommu.zeroed == 64 * PS  # the first mapping, all of it
    assert r.mmu.zeroed == 2 * PS  # two pages were written
    a, b = both(r, 1)
    assert a.frames == 64 and b.frames == 0
    assert both(r, 4)[1].frames == 0  # a read takes no frame: the zero page
    assert "do_anonymous_page.zero_page" in [e.rule for e in both(r, 4)[1].events]


def test_map_uninitialized_hands_the_next_process_the_old_secret_on_the_default_board(results):
    """Doc note 3: MAP_UNINITIALIZED skips the clearing when the kernel is built with
    CONFIG_MMAP_ALLOW_UNINITIALIZED (the default board is): the next process's mapping gets
    the block just freed, contents and all. An MMU kernel ignores the flag."""
    r = results["zeroing"]
    assert r.row(6).call == "k.spawn('next')"
    u, v = both(r, 7)
    assert u.value == both(r, 1)[0].value and u.frames == 64 and v.frames == 0
    assert any(e.rule == "do_mmap.map_uninitialized" for e in u.events)
    assert any(e.rule == "do_mmap.map_uninitialized_ignored" for e in v.events)
    assert both(r, 8)[0].value == b"password=hunter2" and both(r, 8)[1].value == bytes(16)
    assert "allow_uninitialized=False" in cases.ZEROING.code


def test_map_uninitialized_is_ignored_on_a_board_built_without_the_option():
    r = nl.compare(cases.ZEROING,
                   board=lambda mmu: nl.boards.default(mmu=mmu, allow_uninitialized=False))
    u, _ = both(r, 7)
    assert [e.rule for e in u.events if "uninitialized" in e.rule] == [
        "do_mmap.map_uninitialized_ignored"]
    assert both(r, 8)[0].value == both(r, 8)[1].value == bytes(16)
    assert r.nommu.zeroed == 2 * 64 * PS  # both mappings cleared in full


# ---------------------------------------------------------------------------
# the result object
# ---------------------------------------------------------------------------
def test_text_is_deterministic_and_names_the_differences(results):
    again = nl.compare(cases.CASE_1)
    assert str(again) == str(results["1"]) == repr(again)
    text = again.describe()
    assert text.startswith("compare: case 1: anonymous mapping, MAP_PRIVATE\n")
    assert "*  4  p.fork()" in text and "ENOSYS [fork.no_syscall]" in text
    assert "where the kernels decided differently (6 of 7 calls)" in text
    assert "do_wp_page.copy: copy-on-write at" in text
    assert [r.index for r in again.differences()] == [1, 2, 3, 4, 5, 7]
    table = again.calls_text(frames=True).splitlines()
    assert table[0].endswith("frames: no-MMU  MMU")
    assert table[1].endswith("+4   +0") and table[2].endswith("+0   +1")
    assert table[5].endswith(".   +1")  # skipped on no-MMU: it took nothing
    assert "frames:" not in again.calls_text()


def test_row_describe_names_the_region_decision(results):
    """A reused region is the decision that explains a reuse: it is among the ones shown."""
    text = results["3"].row(9).describe()
    assert text.startswith("#9 c7.mmap(0, 0x2008, PROT_READ, MAP_PRIVATE, 3, 0)\n  no-MMU: 0x807f8000")
    assert "do_mmap.share_region: reusing region 0x807f8000-0x807fb000 of /tmp/data" in text


def test_compare_stays_callable_after_the_module_is_imported():
    import nommu_lab.compare as mod

    r1 = nl.compare(cases.ZEROING)
    r2 = nl.compare(cases.ZEROING)
    assert callable(mod) and str(r1) == str(r2)
    assert nl.cases is cases


def test_failed_calls_are_recorded_and_dependent_calls_skipped():
    def program(p):
        a = p.mmap(0, PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
        p.poke(a + 8, b"x")
        c = p.fork()
        c.exit(0)
        p.getpid_is_not_a_call = 1

    r = nl.compare(program)
    a, b = both(r, 1)
    assert a.errno == "EINVAL" and b.errno == "EPERM"  # address 0 is below mmap_min_addr
    assert both(r, 2)[0].skipped and both(r, 2)[1].skipped
    assert r.row(2).call == "p.poke(<failed: call #1>, b'x')"
    assert both(r, 4)[0].skipped and both(r, 4)[1].ok
    assert isinstance(Failed.__new__(Failed), Failed)


def test_read_outcomes_compare_bytes_and_board_parameter():
    def program(p):
        a = p.mmap(0, PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        p.poke(a, b"same")
        p.peek(a, 4)

    small = nl.compare(program, board=lambda mmu: nl.boards.default(mmu=mmu, ram_size=4 << 20))
    assert small.nommu.before["MemTotal"] == small.mmu.before["MemTotal"] == 4096 - 1024 - 32
    assert not small.row(3).differs and small.row(3).mmu.value == b"same"
    assert small.row(1).differs  # a frame at mmap vs none


def test_html_and_widget_forms(results):
    html = results["2"]._repr_html_()
    assert "<table>" in html and "HOWDY" in html and "/dev/zero (deleted)" in html
    w = results["2"].widget()
    assert type(w).__name__ == "Tab" and len(w.children) == 2


def test_kernel_calls_are_recorded_and_two_processes_share_posix_shm():
    """p.kernel is recorded as k; POSIX shm is one set of frames for both processes on both
    kernels (no-MMU: at one physical address; MMU: each process's own virtual address)."""
    def program(p):
        q = p.kernel.spawn("second")
        fd = p.shm_open("/s", O_CREAT | O_RDWR, 0o600)
        p.ftruncate(fd, PS)
        a = p.mmap(0, PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        f2 = q.shm_open("/s", O_RDWR, 0)
        q.mmap(0, PS, PROT_READ | PROT_WRITE, MAP_SHARED, f2, 0)
        p.poke(a, b"hi")
        q.peek(a, 2)
        p.kernel.sysctl("vm.nr_trim_pages", 0)

    r = nl.compare(program)
    assert r.row(1).call == "k.spawn('second')" and r.row(1).mmu.value_text == "c1 (pid 2)"
    assert both(r, 8)[0].value == both(r, 8)[1].value == b"hi"
    assert both(r, 4)[0].value == both(r, 6)[0].value  # one physical address for both
    a, b = both(r, 9)
    assert a.ok and a.value == 0 and b.errno == "ENOENT" and b.rule == "sysctl.unknown"
    assert "vm.nr_trim_pages exists only without an MMU" in b.sentence


def test_a_program_that_stops_on_one_kernel_leaves_calls_not_called():
    def program(p):
        p.kernel.proc_maps()  # fine without an MMU; ENOENT outside the recorder is fatal there
        p.mmap(0, PS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)

    r = nl.compare(program)
    assert both(r, 1)[0].ok and both(r, 1)[1].errno == "ENOENT"
    assert both(r, 2)[0].ok and both(r, 2)[1].ok  # recorded calls do not stop the program
    raw = nl.compare(lambda p: (p.kernel._mount_root, p._proc.kernel.proc_maps(),
                                p.mmap(0, PS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)))
    assert raw.mmu.stopped is not None and raw.mmu.stopped.rule == "proc_maps.mmu"
    assert raw.row(1).mmu.not_called and raw.row(1).mmu.summary == "(not called)"
    assert raw.nommu.stopped is None and raw.row(1).nommu.ok


# ---------------------------------------------------------------------------
# what the report says about itself: kernel bugs, notation, frame lists
# ---------------------------------------------------------------------------
def _map_twice(p):
    fd = p.open("/tmp/f", O_RDWR | O_CREAT, 0o644)
    p.write(fd, b"x" * 100)
    p.mmap(0, PS, PROT_READ, MAP_PRIVATE, fd, 0)
    p.mmap(0, PS, PROT_READ, MAP_PRIVATE, fd, 0)


def test_a_row_where_a_named_kernel_bug_fired_is_flagged_in_every_form():
    """One file range mapped twice in one process is Linux 6.12's bug 1: the row is marked
    '!' even though both kernels answered alike, in text, HTML and the widget."""
    r = nl.compare(_map_twice)
    row = r.row(4)
    assert not row.differs and row.kernel_bugs == [("no-MMU", "kernel_bug.1.duplicate_vma")]
    assert row.mark == " !" and [x.index for x in r.kernel_bugs()] == [4]
    text = str(r)
    assert " ! 4  p.mmap(0, 0x1000, PROT_READ, MAP_PRIVATE, 3, 0)" in text
    assert '! = a known Linux 6.12 bug fired on this call' in text
    bugs = r.kernel_bugs_text()
    assert bugs in text and bugs.startswith("known Linux 6.12 bugs on this program's path (1 of 4")
    assert "no-MMU: kernel_bug.1.duplicate_vma: this process already maps" in bugs
    html = r._repr_html_()
    assert "kernel_bug.1.duplicate_vma" in html and "#f8d7da" in html
    w = r.widget()
    assert w.get_title(1) == "known bugs and differences"
    assert "kernel_bug.1.duplicate_vma" in w.children[1].value


def test_a_kernel_bug_refusal_is_flagged_too():
    """Two direct regions starting at one address crash Linux (BUG()); the model refuses
    with KernelBug (errno None, shown as BUG) and the row says so."""
    def program(p):
        fd = p.open("/dev/fb0", O_RDWR)
        p.mmap(0, PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        p.mmap(0, 2 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)

    r = nl.compare(program)
    a, b = both(r, 3)
    assert a.errno == "BUG" and not a.ok and a.kernel_bugs == ["add_nommu_region.duplicate_start"]
    assert b.ok and r.row(3).mark == "*!"
    assert "BUG [add_nommu_region.duplicate_start]" in r.calls_text()
    assert "no-MMU: add_nommu_region.duplicate_start: the direct region of /dev/fb0 already starts at" in str(r)


def test_reports_without_a_kernel_bug_say_nothing_about_bugs(results):
    text = str(results["1"])
    assert "kernel_bug" not in text and "known Linux 6.12 bugs" not in text and "! =" not in text
    assert all(r.mark[1] == " " for r in results["1"].rows)


def test_the_ready_made_cases_flag_exactly_the_bugs_on_their_path(results):
    """mremap's shrink (bug 2) and MAP_FIXED's hole (bug 6) are real Linux 6.12 bugs on
    those paths; no other case runs into one."""
    flagged = {key: [(row.index, row.kernel_bugs) for row in r.kernel_bugs()]
               for key, r in results.items() if r.kernel_bugs()}
    assert flagged == {
        "mremap": [(7, [("no-MMU", "kernel_bug.2.mremap_stale_range")])],
        "map_fixed": [(6, [("no-MMU", "kernel_bug.6.hole_warning")])],
    }


def test_the_legend_explains_each_notation_the_table_uses(results):
    """cN (the process call N made), <#n> (a failed call's stand-in), 'a | b' (the call
    as written on each kernel) are explained exactly when the table uses them."""
    legend = "\n".join(results["fork"].legend())
    assert "cN = the process call N created" in legend
    assert "<#n> = what call n would have returned, had it not failed" in legend
    assert "a | b = the call as written on no-MMU | on the MMU" in legend
    assert results["fork"].row(5).worded_differently
    plain = results["4"].legend()
    assert plain == ["* = the kernels answered differently; #n = the address call n returned "
                     "(#n+0x10: 16 bytes further)"]
    assert not any(r.worded_differently for r in results["4"].rows)


def test_mmu_frame_lists_have_a_legend_and_runs(results):
    maps = results["1"].maps_text()
    assert maps.count("MMU frame lists go page by page") == 1
    assert "'-' a page with no frame yet (never touched)" in maps
    assert "'z' the shared zero page (read, never written)" in maps
    zero = results["zeroing"].mmu.frames_of["c6"]
    assert zero == ["3ff7fc0000-3ff8000000 frames z -×63"]  # read page 0 only: 64 pages, 2 pieces


def test_frame_lists_never_hide_a_frame():
    from nommu_lab.compare import _page_list

    assert _page_list(["264", "-", "265", "-"]) == "264 - 265 -"
    assert _page_list(["z"] + ["-"] * 63 + ["320"] + ["-"] * 9 + ["321"]) == "z -×63 320 -×9 321"
    assert _page_list([str(n) for n in range(300, 364)]) == "300-363"
    scattered = [str(n) if n % 2 else "-" for n in range(100)]
    text = _page_list(scattered)
    assert "more pages, with frames" in text
    head, tail = text.split(" ... ")
    listed = head.split() + tail.split("with frames ")[1].split()
    shown = {int(t) for t in listed if t.isdigit()}
    assert shown == {n for n in range(100) if n % 2}  # every frame is named


def test_compare_words_flags_as_the_trace_does():
    """One formatter (kernel/callfmt.py) names flags for the trace and for compare."""
    def program(p):
        fd = p.open("/tmp/f", O_RDWR | O_CREAT, 0o644)
        a = p.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
        p.futex(a, FUTEX_WAKE, 1)
        p.close(fd)

    text = nl.compare(program).calls_text()
    assert "p.open('/tmp/f', O_RDWR|O_CREAT, 0o644)" in text
    assert "p.mmap(0, 0x1000, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS)" in text
    assert "p.futex(#2, FUTEX_WAKE, 1)" in text
