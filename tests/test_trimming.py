"""Page trimming: vm.nr_trim_pages 0, 1, 2 and 4 (mm/nommu.c
do_mmap_private, sysctl_nr_trim_pages).

Rule: an n-page copy takes a 2^order block and keeps n pages iff
``nr_trim_pages != 0 and 2^order - n >= nr_trim_pages``; MmapCopy counts the
pages kept (slack included); trimmed pages go back to the allocator; /proc
maps show the requested length either way (as on Linux 6.12 under QEMU).
"""

from __future__ import annotations

from errno import *

import pytest
from _nommu import ANON, PS, RW, board, refused

from nommu_lab.constants import *
from nommu_lab.kernel.memory import PageState, get_order


def kept(n: int, trim: int) -> int:
    total = 1 << get_order(n)
    return n if trim and total - n >= trim else total


@pytest.mark.parametrize("trim", [0, 1, 2, 4])
@pytest.mark.parametrize("n", [1, 2, 3, 5, 6, 7, 9, 12, 13, 16])
def test_trim_rule_mmapcopy_and_slack(trim, n):
    """do_mmap_private: keep n pages iff trim and excess >= trim; MmapCopy is the pages kept."""
    k = board(nr_trim_pages=trim)
    p = k.spawn()
    a = p.mmap(0, n * PS, RW, ANON)
    want = kept(n, trim)
    assert k.meminfo()["MmapCopy"] == want * 4
    r = k.regions()[0]
    assert r.start == a and r.end == a + n * PS and r.top == a + want * PS
    assert r.slack == (want - n) * PS
    # frames: n pages of data, slack pages owned by the region, the rest trimmed/free
    pfn = k.mem.addr_to_pfn(a)
    block = 1 << get_order(n)
    assert (k.mem.state[pfn:pfn + n] == PageState.ANON).all()
    assert (k.mem.state[pfn + n:pfn + want] == PageState.SLACK).all()
    assert (k.mem.owner[pfn:pfn + want] == r.id).all()
    assert all(k.mem.state[f] in (PageState.TRIMMED, PageState.FREE)
               for f in range(pfn + want, pfn + block))
    # /proc/maps and /proc/PID/maps show the requested length either way
    assert k.proc_maps().startswith(f"{a:08x}-{a + n * PS:08x} ")
    assert p.maps().startswith(f"{a:08x}-{a + n * PS:08x} ")
    k.check()


def test_default_trim_is_one():
    """the page allocator: vm.nr_trim_pages defaults to 1 (CONFIG_NOMMU_INITIAL_TRIM_EXCESS)."""
    k = board()
    assert k.sysctl("vm.nr_trim_pages") == 1


def test_sysctl_accepts_the_proc_sys_path():
    """the page allocator: the sysctl lives at /proc/sys/vm/nr_trim_pages; both spellings name it."""
    k = board()
    assert k.sysctl("/proc/sys/vm/nr_trim_pages") == 1


def test_sysctl_changes_later_mappings_only():
    """the page allocator: the sysctl is consulted at mmap time; existing regions keep their slack."""
    k = board()
    p = k.spawn()
    a = p.mmap(0, 3 * PS, RW, ANON)
    assert k.sysctl("vm.nr_trim_pages", 0) == 0
    b = p.mmap(0, 3 * PS, RW, ANON)
    tops = {r.start: r.top - r.start for r in k.regions()}
    assert tops == {a: 3 * PS, b: 4 * PS}
    assert k.meminfo()["MmapCopy"] == 7 * 4


def test_sysctl_rejects_bad_values():
    """A negative vm.nr_trim_pages is refused (EINVAL) and changes nothing."""
    k = board()
    refused(k, k.spawn().mmap, 0, 0, RW, ANON, errno=EINVAL)
    d = k.state_digest()
    with pytest.raises(Exception) as ei:
        k.sysctl("vm.nr_trim_pages", -1)
    assert getattr(ei.value, "errno", None) == EINVAL
    assert k.state_digest() == d and k.sysctl("vm.nr_trim_pages") == 1


def test_trimmed_pages_are_reused_first():
    """the page allocator: trimmed tail pages go back to the allocator and are handed out again."""
    k = board()
    p = k.spawn()
    a = p.mmap(0, 5 * PS, RW, ANON)  # block of 8, pages 5..7 trimmed
    b = p.mmap(0, PS, RW, ANON)
    c = p.mmap(0, 2 * PS, RW, ANON)
    assert {b, c} == {a + 5 * PS, a + 6 * PS}
    k.check()


def test_tail_munmap_frees_the_untrimmed_slack_too():
    """Seen on Linux 6.12: a tail munmap frees the untrimmed slack too."""
    k = board(nr_trim_pages=0)
    p = k.spawn()
    a = p.mmap(0, 5 * PS, RW, ANON)  # 8 pages kept
    assert k.meminfo()["MmapCopy"] == 32
    p.munmap(a + 3 * PS, 2 * PS)
    assert k.meminfo()["MmapCopy"] == 12
    r = k.regions()[0]
    assert r.end == r.top == a + 3 * PS
    k.check()


def test_whole_munmap_frees_slack():
    """struct vm_region: region release frees [vm_start, vm_top), slack included."""
    k = board(nr_trim_pages=4)
    p = k.spawn()
    free0 = k.meminfo()["MemFree"]
    a = p.mmap(0, 6 * PS, RW, ANON)  # excess 2 < 4: 8 kept
    assert free0 - k.meminfo()["MemFree"] == 32
    p.munmap(a, 6 * PS)
    assert k.meminfo()["MemFree"] == free0 and k.meminfo()["MmapCopy"] == 0


def test_file_copies_are_trimmed_too():
    """do_mmap_private: the rule is the same for file copies."""
    k = board(nr_trim_pages=2)
    p = k.spawn()
    fd = p.open("/mnt/disk/pattern.bin")
    p.mmap(0, 3 * PS, PROT_READ, MAP_PRIVATE, fd, 0)  # excess 1 < 2: 4 kept
    assert k.meminfo()["MmapCopy"] == 16
    p.mmap(0, 5 * PS, RW, MAP_PRIVATE, fd, 0)  # excess 3 >= 2: 5 kept
    assert k.meminfo()["MmapCopy"] == 36


def test_trace_explains_the_allocation():
    """The trace explains: each decision is an event with a rule id and a sentence."""
    k = board()
    p = k.spawn()
    p.mmap(0, 5 * PS, RW, ANON)
    ev = [e for e in k.trace if e.rule == "do_mmap_private.alloc"][-1]
    assert "order-3 block of 8 pages" in ev.text and "3 excess pages trimmed" in ev.text
    k.sysctl("vm.nr_trim_pages", 4)
    p.mmap(0, 5 * PS, RW, ANON)
    ev = [e for e in k.trace if e.rule == "do_mmap_private.alloc"][-1]
    assert "3 pages of slack kept" in ev.text
