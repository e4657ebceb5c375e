"""The fragmentation view shows the kernel's own numbers: buddyinfo, largest block, MemFree.

What the view draws is read back from its widgets (the ``<pre>`` text, the
chart's data) and compared with ``k.buddyinfo()``, ``k.proc_buddyinfo()``,
``k.largest_free_block()`` and ``k.meminfo()``: the view re-derives nothing.
"""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nommu_lab as nl
from nommu_lab.constants import *
from nommu_lab.widgets import FragmentationView, Lab
from nommu_lab.widgets.fragmentation import HISTORY, buddyinfo_header

PS = 4096
ANON = PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS


def shown_table(view: FragmentationView) -> list[str]:
    """The three lines of the buddyinfo table as the view shows them."""
    m = re.fullmatch(r"<pre>(.*)</pre>", view.buddyinfo.value, re.S)
    assert m is not None
    return html.unescape(m.group(1)).splitlines()


def shown_counts(view: FragmentationView) -> list[int]:
    return [int(n) for n in shown_table(view)[2].split()[4:]]


def fragment(k: nl.Kernel) -> nl.Process:
    """Map 40 single pages, then unmap every other one: many small holes."""
    p = k.spawn("frag")
    addrs = [p.mmap(0, PS, *ANON) for _ in range(40)]
    for a in addrs[::2]:
        p.munmap(a, PS)
    return p


def test_the_table_is_proc_buddyinfo_under_a_header_of_orders_and_sizes():
    k = nl.boards.default()
    view = FragmentationView(k)
    fragment(k)
    order, block, info = shown_table(view)
    assert info + "\n" == k.proc_buddyinfo()  # the kernel's exact text
    assert shown_counts(view) == k.buddyinfo()
    assert order.split()[1:] == [str(o) for o in range(11)]
    assert block.split()[1:] == ["4K", "8K", "16K", "32K", "64K", "128K", "256K", "512K", "1M",
                                 "2M", "4M"]
    # every count sits under its order: the right ends of the columns line up
    ends = [m.end() for m in re.finditer(r"\S+", info)][4:]
    assert [m.end() for m in re.finditer(r"\S+", order)][1:] == ends
    assert [m.end() for m in re.finditer(r"\S+", block)][1:] == ends


def test_fragmenting_memory_shows_in_the_small_orders():
    k = nl.boards.default()
    view = FragmentationView(k)
    before = shown_counts(view)
    fragment(k)
    after = shown_counts(view)
    assert after == k.buddyinfo() and after != before
    assert after[0] >= 10  # the holes left by every other single page
    assert f"{k.largest_free_block() // 1024} kB" in view.largest.value
    assert f"of MemFree {k.meminfo()['MemFree']} kB" in view.largest.value


def test_largest_block_says_order_and_pages():
    k = nl.boards.default()
    view = FragmentationView(k)
    assert k.largest_free_block() == 4 << 20
    assert view.largest_text().startswith("Largest free block: order 10, 1024 page(s) = 4096 kB")


def test_memfree_over_time_grows_one_point_per_syscall_and_stays_bounded():
    k = nl.boards.default()
    view = FragmentationView(k)
    p = k.spawn("app")
    for i in range(HISTORY + 30):
        a = p.mmap(0, (1 + i % 3) * PS, *ANON)
        if i % 2:
            p.munmap(a, (1 + i % 3) * PS)
    assert len(view.history) == HISTORY
    last = view.history[-1]
    assert last.call == k.syscalls
    assert last.mem_free_kb == k.meminfo()["MemFree"]
    assert last.largest_kb == k.largest_free_block() // 1024
    calls = [h.call for h in view.history]
    assert calls == list(range(k.syscalls - HISTORY + 1, k.syscalls + 1))
    xs = view.lines.x.tolist()
    ys = view.lines.y.tolist()
    assert xs[0] == xs[1] == [float(c) for c in calls]
    assert ys[0] == [float(h.mem_free_kb) for h in view.history]
    assert ys[1] == [float(h.largest_kb) for h in view.history]


def test_a_refused_call_adds_a_point_and_changes_no_number():
    k = nl.boards.default()
    view = FragmentationView(k)
    p = k.spawn("app")
    p.mmap(0, PS, *ANON)
    with pytest.raises(nl.KernelError):
        p.mmap(0x80100000, PS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    a, b = view.history[-2], view.history[-1]
    assert b.call == a.call + 1 and b[1:] == a[1:]


def test_stepping_back_in_time_drops_the_future_from_the_chart():
    lab = Lab(nl.boards.default())
    assert isinstance(lab.fragmentation, FragmentationView) and lab.fragmentation in lab.views
    lab.call(None, "spawn", "app")
    for n in (3, 17, 5):
        lab.call(1, "mmap", 0, n * PS, *ANON)
    frag = lab.fragmentation
    full = list(frag.history)
    assert [h.call for h in full][-3:] == [1, 2, 3]
    redraws = frag.redraws
    lab.back()
    assert frag.kernel is lab.kernel and frag.redraws == redraws + 1  # once, for the rebuilt machine
    assert list(frag.history) == full[:-1]  # the same machine then, so the same numbers
    assert shown_counts(frag) == lab.kernel.buddyinfo()
    lab.forward()
    assert list(frag.history) == full


def test_the_mmu_kernel_has_a_buddy_allocator_too():
    k = nl.boards.default(mmu=True)
    view = FragmentationView(k)
    p = k.spawn("app")
    p.mmap(0, 5 * PS, *ANON)
    assert shown_table(view)[2] + "\n" == k.proc_buddyinfo()
    assert view.history[-1].mem_free_kb == k.meminfo()["MemFree"]


def test_describe_is_the_same_text_for_the_same_calls():
    def run() -> str:
        k = nl.boards.default()
        view = FragmentationView(k)
        fragment(k)
        return view.describe()

    a = run()
    assert a == run()
    lines = a.splitlines()
    assert lines[2].startswith("Node 0, zone    DMA32")
    assert lines[3].startswith("Largest free block: order")
    assert lines[4].startswith("MemFree / largest free block by syscall: ")
    assert buddyinfo_header(PS, 11).splitlines()[0] == lines[0]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 40), st.booleans()), min_size=1, max_size=30))
def test_the_view_always_agrees_with_the_kernel(ops):
    k = nl.boards.default()
    view = FragmentationView(k)
    p = k.spawn("app")
    live: list[tuple[int, int]] = []
    for pages, unmap in ops:
        try:
            live.append((p.mmap(0, pages * PS, *ANON), pages))
        except nl.KernelError:
            pass
        if unmap and live:
            a, n = live.pop(0)
            p.munmap(a, n * PS)
        counts = shown_counts(view)
        assert counts == k.buddyinfo()
        # every free page is in exactly one free block: buddyinfo adds up to MemFree
        assert sum(c << o for o, c in enumerate(counts)) * PS // 1024 == k.meminfo()["MemFree"]
        assert view.history[-1].largest_kb == k.largest_free_block() // 1024
