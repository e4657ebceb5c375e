"""futex-handshake: the checks read who sleeps where and what the word holds.

Each wrong answer below is a learner's mistake (a private mapping, no wait,
a wake without the store, a store without the wake, the document's 2.6
rules as predictions) and must lose the points of the criterion it breaks.
"""

from __future__ import annotations

import pytest

from nommu_lab.constants import (
    FUTEX_WAIT,
    FUTEX_WAKE,
    MAP_PRIVATE,
    MAP_SHARED,
    O_CREAT,
    O_RDWR,
    PROT_READ,
    PROT_WRITE,
)
from nommu_lab.exercises import get

NAME = "futex-handshake"


def variant(cond=lambda ex: True):
    cls = get(NAME)
    return next(ex for ex in (cls(f"t{i}") for i in range(200)) if cond(ex))


def sleeper(ex, *, flags=MAP_SHARED, wait=True):
    """A part-1 answer; ``flags`` and ``wait`` make the usual mistakes."""
    def sleep(k):
        prm = ex.params
        waiter, waker = k.spawn("waiter"), k.spawn("waker")
        fd = waiter.shm_open(prm["name"], O_CREAT | O_RDWR, 0o600)
        waiter.ftruncate(fd, prm["size"])
        aw = waiter.mmap(0, prm["size"], PROT_READ | PROT_WRITE, flags, fd, 0)
        ak = waker.mmap(0, prm["size"], PROT_READ | PROT_WRITE, flags,
                        waker.shm_open(prm["name"], O_RDWR, 0), 0)
        waiter.poke(aw + prm["offset"], prm["busy"].to_bytes(4, "little"))
        if wait:
            waiter.futex(aw + prm["offset"], FUTEX_WAIT, prm["busy"])
        return waiter, waker, aw, ak
    return sleep


def test_sleep_right_and_wrong(capsys: pytest.CaptureFixture[str]) -> None:
    ex = variant()
    assert ex.check("futex-sleep", sleeper(ex)) == 2.0
    assert ex.check("futex-sleep", sleeper(ex, wait=False)) == 1.0
    assert "the waiter is not asleep" in capsys.readouterr().out
    # MAP_PRIVATE: each process gets its own copy, the word never reaches the object
    assert ex.check("futex-sleep", sleeper(ex, flags=MAP_PRIVATE)) == 1.0
    out = capsys.readouterr().out
    assert "must both map" in out and f"holds 0, not {ex.params['busy']}" in out


def test_a_wait_for_the_wrong_value_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    ex = variant()

    def sleep_wrong_value(k):
        waiter, waker, aw, ak = sleeper(ex, wait=False)(k)
        waiter.futex(aw + ex.params["offset"], FUTEX_WAIT, ex.params["busy"] + 1)
        return waiter, waker, aw, ak

    assert ex.check("futex-sleep", sleep_wrong_value) == 0.0
    assert "sleep(k) was refused: EAGAIN" in capsys.readouterr().out


def test_wake_needs_the_store_and_the_wake_up(capsys: pytest.CaptureFixture[str]) -> None:
    ex = variant()
    off, ready = ex.params["offset"], ex.params["ready"]

    def wake(waker, addr):
        waker.poke(addr + off, ready.to_bytes(4, "little"))
        return waker.futex(addr + off, FUTEX_WAKE, 1)

    def wake_only(waker, addr):
        return waker.futex(addr + off, FUTEX_WAKE, 1)

    def store_only(waker, addr):
        waker.poke(addr + off, ready.to_bytes(4, "little"))
        return 0

    def wake_wrong_word(waker, addr):  # forgets the offset
        waker.poke(addr + off, ready.to_bytes(4, "little"))
        return waker.futex(addr, FUTEX_WAKE, 1)

    assert ex.check("futex-wake", wake) == 2.0
    assert ex.check("futex-wake", wake_only) == 1.5
    assert "a wake-up alone does not change the word" in capsys.readouterr().out
    assert ex.check("futex-wake", store_only) == 1.0  # the word, and 0 is what was woken
    assert "changing the word does not wake anybody" in capsys.readouterr().out
    if off:
        assert ex.check("futex-wake", wake_wrong_word) == 1.0
        assert "FUTEX_WAKE on the word's address" in capsys.readouterr().out


def test_predictions_of_the_2_6_rules_score_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    ex = variant(lambda ex: ex.params["stale_wait"] != ex.params["stale"])
    want = ex.outcomes()
    assert ex.check("futex-rules", lambda: dict(want)) == 3.0
    # the document's rules: nr_wake 0 wakes nobody, outside a mapping is EFAULT
    doc = {"nr_wake": 0, "outsider": "EFAULT", "stale_wait": "EFAULT"}
    assert ex.check("futex-rules", lambda: doc) == 0.0
    out = capsys.readouterr().out
    assert "counts a waiter as woken before it compares" in out
    assert "revisit: get_futex_key in kernel/futex/core.c" in out
    assert ex.check("futex-rules", lambda: {**doc, "nr_wake": want["nr_wake"]}) == 1.0
    assert ex.check("futex-rules", lambda: {**want, "stale_wait": 11}) == 3.0  # EAGAIN by number
    assert ex.check("futex-rules", lambda: {**want, "stale_wait": 14}) == 2.0  # EFAULT
    assert ex.check("futex-rules", lambda: {**want, "stale_wait": "eagain"}) == 3.0


def test_the_outcomes_follow_the_variant() -> None:
    sleeping = variant(lambda ex: ex.params["stale_wait"] == ex.params["stale"])
    assert sleeping.outcomes()["stale_wait"] == 0   # the freed page still holds the value
    for ex in (get(NAME)(f"t{i}") for i in range(20)):
        out = ex.outcomes()
        assert out["outsider"] == min(ex.params["sleepers"], ex.params["outsider_nr_wake"])
        assert out["nr_wake"] == 1


def test_both_must_map_the_whole_object(capsys: pytest.CaptureFixture[str]) -> None:
    ex = variant(lambda ex: ex.params["size"] > 4096 and ex.params["offset"] < 4096)

    def sleep_one_page(k):  # maps only the first page of the object
        prm = ex.params
        waiter, waker = k.spawn("waiter"), k.spawn("waker")
        fd = waiter.shm_open(prm["name"], O_CREAT | O_RDWR, 0o600)
        waiter.ftruncate(fd, prm["size"])
        aw = waiter.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        ak = waker.mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
                        waker.shm_open(prm["name"], O_RDWR, 0), 0)
        waiter.poke(aw + prm["offset"], prm["busy"].to_bytes(4, "little"))
        waiter.futex(aw + prm["offset"], FUTEX_WAIT, prm["busy"])
        return waiter, waker, aw, ak

    assert ex.check("futex-sleep", sleep_one_page) == 1.5
    assert f"({ex.params['size']} bytes) MAP_SHARED" in capsys.readouterr().out

def test_no_answer_breaks_a_check() -> None:
    ex = variant()
    for gid in ex.parts:
        for answer in (None, 42, lambda *a: None, lambda *a: 1 / 0, lambda *a: (1, 2, 3, 4),
                       lambda *a: {"nr_wake": True}, lambda *a: (None, None, None, None)):
            assert ex.check(gid, answer) == 0.0
