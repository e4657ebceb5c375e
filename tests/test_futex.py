"""Futexes on no-MMU (kernel/futex/, as Linux 6.12 answered
under QEMU).

Since 4.5 every no-MMU futex is private and no VMA is looked up; since 6.7 the
key is the address alone, so processes meet on genuinely shared memory.
Errors left: unaligned → EINVAL; value mismatch → EAGAIN. (DOC≠CODE: the
document's EFAULT/EPERM rules are from 2.6.)
"""

from __future__ import annotations

from errno import *

import pytest
from _nommu import ANON, PS, RAM_BASE, RW, make_shm_file, refused

from nommu_lab.constants import *


@pytest.mark.parametrize("op", [FUTEX_WAIT, FUTEX_WAKE, FUTEX_WAIT | FUTEX_PRIVATE_FLAG])
def test_unaligned_is_einval(k, op):
    """kernel/futex: address not 4-byte aligned → EINVAL."""
    p = k.spawn()
    a = p.mmap(0, PS, RW, ANON)
    refused(k, p.futex, a + 2, op, 0, errno=EINVAL, rule="get_futex_key.unaligned")


def test_no_vma_check_outside_mappings(k):
    """kernel/futex (seen on Linux 6.12): an address outside every mapping (kernel text) is not an error."""
    p = k.spawn()
    assert p.futex(RAM_BASE, FUTEX_WAKE, 1) == 0
    refused(k, p.futex, RAM_BASE, FUTEX_WAIT, 12345, errno=EAGAIN)
    refused(k, p.futex, RAM_BASE, FUTEX_WAIT, 0, 10, errno=ETIMEDOUT)
    assert any(e.rule == "get_futex_key.no_vma_check" for e in k.trace)


def test_io_mapping_is_not_an_error(k):
    """kernel/futex (DOC≠CODE): a futex in an I/O chardev mapping (fb0) is not refused."""
    p = k.spawn()
    a = p.mmap(0, PS, RW, MAP_SHARED, p.open("/dev/fb0", O_RDWR), 0)
    refused(k, p.futex, a, FUTEX_WAIT, 7, errno=EAGAIN)


def test_value_mismatch_is_eagain(k):
    """futex_wait: the word differs from val → EAGAIN at once."""
    p = k.spawn()
    a = p.mmap(0, PS, RW, ANON)
    p.poke(a, (5).to_bytes(4, "little"))
    refused(k, p.futex, a, FUTEX_WAIT, 4, errno=EAGAIN, rule="futex_wait.value_changed")


def test_cross_process_wake_through_shared_memory(k):
    """kernel/futex (6.7+): the key is the address alone: another process wakes the waiter."""
    p, q = k.spawn(), k.spawn()
    fd = make_shm_file(p, "/dev/shm/f", PS)
    a = p.mmap(0, PS, RW, MAP_SHARED, fd, 0)
    b = q.mmap(0, PS, RW, MAP_SHARED, q.open("/dev/shm/f", O_RDWR), 0)
    assert a == b
    assert p.futex(a, FUTEX_WAIT, 0) == 0
    refused(k, p.mmap, 0, PS, RW, ANON, errno=EAGAIN, rule="futex.blocked")
    assert q.futex(b, FUTEX_WAKE, 1) == 1
    assert p.mmap(0, PS, RW, ANON)  # runs again
    assert q.futex(b, FUTEX_WAKE, 1) == 0


def test_wake_counts(k):
    """futex_wake wakes at most val waiters, in order."""
    ps = [k.spawn() for _ in range(3)]
    w = k.spawn()
    addr = w.mmap(0, PS, RW, ANON)
    for p in ps:
        p.futex(addr, FUTEX_WAIT, 0)
    assert w.futex(addr, FUTEX_WAKE, 2) == 2
    assert w.futex(addr, FUTEX_WAKE, 5) == 1


def test_wake_zero_still_wakes_one(k):
    """kernel/futex/waitwake.c futex_wake: `if (++ret >= nr_wake) break` after the first wake."""
    p, w = k.spawn(), k.spawn()
    addr = w.mmap(0, PS, RW, ANON)
    p.futex(addr, FUTEX_WAIT, 0)
    assert w.futex(addr, FUTEX_WAKE, 0) == 1


def test_futex_on_nothing_is_efault_and_named(k):
    """Kernel bug 5: a futex on an address with nothing behind it oopses 6.12; the model
    refuses with EFAULT and names the hazard."""
    p = k.spawn()
    refused(k, p.futex, 0x10, FUTEX_WAIT, 0, errno=EFAULT)
    assert any(e.rule == "kernel_bug.5.futex_on_nothing" for e in k.trace)


def test_unknown_op_is_enosys(k):
    """do_futex: an op the model does not handle → ENOSYS."""
    p = k.spawn()
    refused(k, p.futex, RAM_BASE, 99, 0, errno=ENOSYS)


@pytest.mark.parametrize("mmu", [False, True])
@pytest.mark.parametrize("nr_wake", [0, -1, -(1 << 31)])
def test_futex_wake_nr_wake_zero_wakes_one(mmu, nr_wake):
    """kernel/futex/waitwake.c futex_wake: the count is compared only after a waiter is
    woken (`if (++ret >= nr_wake) break`), so nr_wake <= 0 wakes one, on both kernels;
    a second waiter stays asleep until the next wake."""
    from _nommu import board

    k = board(mmu=mmu)
    w = k.spawn("w")
    fd = make_shm_file(w, "/dev/shm/f", PS)
    addr = w.mmap(0, PS, RW, MAP_SHARED, fd, 0)
    sleepers = []
    for name in ("a", "b"):
        s = k.spawn(name)
        sfd = s.open("/dev/shm/f", O_RDWR)
        sa = s.mmap(0, PS, RW, MAP_SHARED, sfd, 0)
        s.futex(sa, FUTEX_WAIT, 0)
        sleepers.append(s)
    assert w.futex(addr, FUTEX_WAKE, nr_wake) == 1
    assert [s.futex_wait is None for s in sleepers] == [True, False]
    assert w.futex(addr, FUTEX_WAKE, nr_wake) == 1
    assert all(s.futex_wait is None for s in sleepers)
    assert w.futex(addr, FUTEX_WAKE, nr_wake) == 0
    k.check()
