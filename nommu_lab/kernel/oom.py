"""The OOM killer (``mm/oom_kill.c``): what an allocation that may not fail does.

A ramfs write takes its page-cache pages one at a time (``simple_write_begin``,
order 0, ``GFP_HIGHUSER``), and nothing can reclaim them. When RAM has none
left, the page allocator does not fail such a small allocation: after reclaim
finds nothing, ``__alloc_pages_may_oom`` calls ``out_of_memory``, which kills a
process and lets the allocation try again with what the victim freed. So a
write that runs RAM out is never refused with ENOMEM or ENOSPC: somebody dies.

Who dies is ``select_bad_process``: the highest ``oom_badness``, and among
equals the one found last, that is the newest process. ``oom_badness`` counts
a process's resident pages (``get_mm_rss``); without an MMU nothing ever
counts them (``mm/nommu.c`` never calls ``add_mm_counter``), so every process
scores 0 and the newest one is killed first, whatever it holds. A vfork child
that has not exec'd is passed over (``in_vfork``), but it dies with its
parent, since the kill reaches every process sharing the victim's mm.

The victim that is making the call (the writer) is only marked: its write
stops before the next page (``generic_perform_write`` checks
``fatal_signal_pending``) and it dies on its way back to user space. Any other
victim dies at once; the model has no zombies, so (as under a shell that
reaps at once) the next OOM can choose again straight away.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .constants import SIGKILL
from .trace import EventKind, plural

if TYPE_CHECKING:
    from .kernel import Kernel
    from .process import Process


def in_vfork(p: Process) -> bool:
    """``in_vfork``: a vfork child still running on its parent's mm."""
    parent = p.vfork_parent
    return parent is not None and parent.mm is p.mm


def select_bad_process(k: Kernel) -> Process | None:
    """``select_bad_process``: the highest badness, ties to the newest; None if nobody."""
    chosen: Process | None = None
    best = -1
    for p in k.processes.values():  # creation order, as for_each_process walks them
        if not p.alive or p.fatal_signal or in_vfork(p):
            continue
        points = k.oom_badness(p)
        if points >= best:
            chosen, best = p, points
    return chosen


def out_of_memory(k: Kernel, current: Process, need: str) -> bool:
    """``out_of_memory``: kill the worst process (and all sharing its mm) for ``need``.

    Returns False when nobody could be killed (Linux then panics: "System is
    deadlocked on memory"); a process making the call is always a candidate,
    so that never happens to a system call.
    """
    victim = select_bad_process(k)
    if victim is None:
        return False
    points = k.oom_badness(victim)
    why = (f"its rss is {plural(points, 'page')}, the most" if k.counts_rss else
           "without an MMU no process has any rss, so every process scores 0 and the "
           "newest is chosen")
    for p in [victim, *(o for o in k.processes.values() if o is not victim and o.mm is victim.mm)]:
        k.trace.emit(EventKind.HAZARD, "oom_kill_process",
                     "Out of memory: {} and RAM has no free page (nothing can be reclaimed), so the "
                     "page allocator called the OOM killer instead of failing; it killed process "
                     "{} ({}){}: {}. Free memory (truncate or unlink ramfs files) before RAM runs out",
                     need, p.pid, p.name, "" if p is victim else f", which shares the mm of {victim.pid}",
                     why)
        if p is current:
            p.fatal_signal = SIGKILL  # delivered when the call returns
        else:
            p._die_of_signal(SIGKILL)
    return True


#: include/linux/mmzone.h: the page allocator may fail a request above this order;
#: one of this order or below it retries, and calls the OOM killer, until it succeeds
PAGE_ALLOC_COSTLY_ORDER = 3


def note_linux_would_oom(k: Kernel, order: int, rule: str) -> None:
    """Say what Linux 6.12 does where the model refuses a small block with ENOMEM.

    A private copy (``do_mmap_private``) and a ramfs file gathered for a shared
    mapping (``ramfs_nommu_expand_for_mapping``) take one block with GFP_KERNEL.
    For an order of at most ``PAGE_ALLOC_COSTLY_ORDER`` the page allocator does
    not give up: with nothing to reclaim (and no compaction without an MMU)
    ``__alloc_pages_may_oom`` calls :func:`out_of_memory`, which kills a process,
    and the allocation tries again; if the victim is the caller, its call fails
    and it dies. The page allocator also keeps a reserve (the zone watermarks),
    so this happens before RAM is quite empty. The model keeps neither the
    reserve nor an OOM kill for these blocks: it refuses, so that the shortage
    stays visible, and this event (before the refusal) names the process Linux
    would have killed. Larger orders fail with ENOMEM on Linux too: no event.
    """
    if order > PAGE_ALLOC_COSTLY_ORDER:
        return
    task = k.current
    victim = select_bad_process(k)
    if victim is None:
        who = "nobody it could kill (Linux would then panic)"
    else:
        why = ("the newest (without an MMU every process scores 0)" if not k.counts_rss
               else "the one with the most resident pages")
        who = f"process {victim.pid} ({victim.name}), {why}"
        who += (": the caller itself, so its call would fail with ENOMEM and it would die"
                if victim is task else ", then try again with the memory freed")
    k.trace.emit(EventKind.DECISION, rule,
                 "Linux 6.12 would not simply refuse: the page allocator never gives up on a "
                 "block of {:n page} or fewer. It keeps a reserve and, finding no order-{} "
                 "block, calls the OOM killer (__alloc_pages_may_oom), which would kill {}. "
                 "The model has neither the reserve nor an OOM kill here: it refuses with "
                 "ENOMEM so the shortage stays visible",
                 1 << PAGE_ALLOC_COSTLY_ORDER, order, who)
